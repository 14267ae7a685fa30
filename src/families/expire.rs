//! Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX, GT,
//! LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME and PERSIST. Lazy expiry lives in
//! `keyspace::db`; the active cycle in `families::server`.

use crate::command::{keyed, CommandDef, Ctx};
use crate::errors;
use crate::keyspace::Db;
use crate::resp::parse::parse_i64;
use crate::resp::Argv;

pub static COMMANDS: &[CommandDef] = &[
    keyed("expire", expire),
    keyed("pexpire", pexpire),
    keyed("expireat", expireat),
    keyed("pexpireat", pexpireat),
    keyed("ttl", ttl),
    keyed("pttl", pttl),
    keyed("expiretime", expiretime),
    keyed("pexpiretime", pexpiretime),
    keyed("persist", persist),
];

/// The conditions EXPIRE's options put on the change.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ExpireFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// Parses NX | XX | GT | LT with Redis's checks and messages.
pub fn parse_expire_flags(options: &[&[u8]]) -> Result<ExpireFlags, String> {
    let mut flags = ExpireFlags::default();
    for option in options {
        if option.eq_ignore_ascii_case(b"nx") {
            flags.nx = true;
        } else if option.eq_ignore_ascii_case(b"xx") {
            flags.xx = true;
        } else if option.eq_ignore_ascii_case(b"gt") {
            flags.gt = true;
        } else if option.eq_ignore_ascii_case(b"lt") {
            flags.lt = true;
        } else {
            return Err(errors::unsupported_option(option));
        }
    }
    if flags.nx && (flags.xx || flags.gt || flags.lt) {
        return Err(errors::EXPIRE_NX_CONFLICT.into());
    }
    if flags.gt && flags.lt {
        return Err(errors::EXPIRE_GT_LT_CONFLICT.into());
    }
    Ok(flags)
}

/// Converts EXPIRE's argument to an absolute time in ms, with Redis's
/// overflow checks. `base_ms` is now for relative commands, 0 for *AT.
pub fn absolute_expire_ms(when: i64, unit_seconds: bool, base_ms: i64) -> Option<i64> {
    let when = if unit_seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return None;
        }
        when * 1000
    } else {
        when
    };
    if when > i64::MAX - base_ms {
        return None;
    }
    Some(when + base_ms)
}

/// The outcome of EXPIRE on a database: 1 if the expiry was set (or the key
/// deleted because the time is in the past), 0 if not.
pub fn op_expire(db: &mut Db, key: &[u8], when_ms: i64, flags: ExpireFlags, now_ms: u64) -> i64 {
    if db.write(key, now_ms).is_none() {
        return 0;
    }
    let current = db.expire_at(key).map(|at| at as i64);
    if flags.nx && current.is_some() {
        return 0;
    }
    if flags.xx && current.is_none() {
        return 0;
    }
    // No expiry counts as an infinite TTL: GT never passes it, LT always does.
    if flags.gt && current.is_none_or(|at| when_ms <= at) {
        return 0;
    }
    if flags.lt && current.is_some_and(|at| when_ms >= at) {
        return 0;
    }
    if when_ms <= now_ms as i64 {
        db.delete(key, now_ms);
    } else {
        db.set_expire(key, when_ms as u64);
    }
    1
}

fn expire_generic(ctx: &mut Ctx, argv: &Argv, name: &str, unit_seconds: bool, relative: bool) {
    let options: Vec<&[u8]> = argv.iter().skip(3).collect();
    let flags = match parse_expire_flags(&options) {
        Ok(flags) => flags,
        Err(message) => return ctx.out.error(&message),
    };
    let Some(when) = parse_i64(argv.get(2)) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let now = ctx.now_ms;
    let base = if relative { now as i64 } else { 0 };
    let Some(when_ms) = absolute_expire_ms(when, unit_seconds, base) else {
        return ctx.out.error(&errors::invalid_expire(name));
    };
    let reply = op_expire(ctx.db(), argv.get(1), when_ms, flags, now);
    ctx.out.int(reply);
    if reply == 1 {
        // Replicas get an absolute time (or the deletion), whatever form
        // the client used, so they expire the key when the master does.
        if when_ms <= now as i64 {
            ctx.propagate_as(&[b"DEL", argv.get(1)]);
        } else {
            let at = when_ms.to_string();
            let mut args: Vec<&[u8]> = vec![b"PEXPIREAT", argv.get(1), at.as_bytes()];
            args.extend(options.iter().copied());
            ctx.propagate_as(&args);
        }
    }
}

fn expire(ctx: &mut Ctx, argv: &Argv) {
    expire_generic(ctx, argv, "expire", true, true);
}

fn pexpire(ctx: &mut Ctx, argv: &Argv) {
    expire_generic(ctx, argv, "pexpire", false, true);
}

fn expireat(ctx: &mut Ctx, argv: &Argv) {
    expire_generic(ctx, argv, "expireat", true, false);
}

fn pexpireat(ctx: &mut Ctx, argv: &Argv) {
    expire_generic(ctx, argv, "pexpireat", false, false);
}

/// TTL and friends: -2 for a missing key, -1 without expiry, else the
/// remaining (or absolute) time, never negative, seconds rounded.
pub fn op_ttl(db: &mut Db, key: &[u8], in_ms: bool, absolute: bool, now_ms: u64) -> i64 {
    if db.peek(key, now_ms).is_none() {
        return -2;
    }
    let Some(at) = db.expire_at(key) else {
        return -1;
    };
    let at = at as i64;
    let ttl = if absolute { at } else { at - now_ms as i64 }.max(0);
    if in_ms {
        ttl
    } else {
        (ttl + 500) / 1000
    }
}

fn ttl_generic(ctx: &mut Ctx, argv: &Argv, in_ms: bool, absolute: bool) {
    let now = ctx.now_ms;
    let reply = op_ttl(ctx.db(), argv.get(1), in_ms, absolute, now);
    ctx.out.int(reply);
}

fn ttl(ctx: &mut Ctx, argv: &Argv) {
    ttl_generic(ctx, argv, false, false);
}

fn pttl(ctx: &mut Ctx, argv: &Argv) {
    ttl_generic(ctx, argv, true, false);
}

fn expiretime(ctx: &mut Ctx, argv: &Argv) {
    ttl_generic(ctx, argv, false, true);
}

fn pexpiretime(ctx: &mut Ctx, argv: &Argv) {
    ttl_generic(ctx, argv, true, true);
}

fn persist(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let db = ctx.db();
    let key = argv.get(1);
    let removed = db.write(key, now).is_some() && db.persist(key);
    ctx.out.int(removed as i64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;

    fn flags(options: &[&str]) -> Result<ExpireFlags, String> {
        let options: Vec<&[u8]> = options.iter().map(|o| o.as_bytes()).collect();
        parse_expire_flags(&options)
    }

    #[test]
    fn option_errors_match_redis() {
        assert_eq!(flags(&["LT", "GT"]).unwrap_err(), errors::EXPIRE_GT_LT_CONFLICT);
        assert_eq!(flags(&["NX", "XX"]).unwrap_err(), errors::EXPIRE_NX_CONFLICT);
        assert_eq!(flags(&["gt", "nx"]).unwrap_err(), errors::EXPIRE_NX_CONFLICT);
        assert_eq!(flags(&["XX", "AB"]).unwrap_err(), "ERR Unsupported option AB");
        assert_eq!(
            flags(&["xx", "lt"]).unwrap(),
            ExpireFlags {
                xx: true,
                lt: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn overflow_checks_match_redis() {
        let now = 1_700_000_000_000;
        assert_eq!(absolute_expire_ms(9223370399119966, true, now), None);
        assert_eq!(absolute_expire_ms(9223372036854776, true, now), None);
        assert_eq!(absolute_expire_ms(-9223372036854776, true, now), None);
        assert_eq!(absolute_expire_ms(9223372036854770000, false, now), None);
        assert_eq!(
            absolute_expire_ms(9223372036854770000, false, 0),
            Some(9223372036854770000)
        );
        assert_eq!(absolute_expire_ms(10, true, now), Some(now + 10_000));
    }

    #[test]
    fn conditions_and_past_times() {
        let mut db = Db::default();
        let none = ExpireFlags::default();
        let gt = ExpireFlags { gt: true, ..none };
        let lt = ExpireFlags { lt: true, ..none };
        assert_eq!(op_expire(&mut db, b"k", 5000, none, 0), 0, "missing key");
        db.set(b"k", Value::from_bytes(b"v"), false, 0);
        assert_eq!(op_expire(&mut db, b"k", 5000, gt, 0), 0, "GT against no expiry");
        assert_eq!(op_expire(&mut db, b"k", 5000, lt, 0), 1, "LT against no expiry");
        assert_eq!(op_expire(&mut db, b"k", 6000, lt, 0), 0);
        assert_eq!(op_expire(&mut db, b"k", 6000, gt, 0), 1);
        assert_eq!(op_ttl(&mut db, b"k", true, false, 1000), 5000);
        assert_eq!(op_ttl(&mut db, b"k", false, false, 1499), 5);
        assert_eq!(op_ttl(&mut db, b"k", false, true, 0), 6);
        assert_eq!(op_ttl(&mut db, b"k", true, true, 0), 6000);
        assert_eq!(op_expire(&mut db, b"k", -1, none, 1000), 1, "past time deletes");
        assert_eq!(op_ttl(&mut db, b"k", false, false, 1000), -2);
    }
}
