//! Sets: SADD SREM SMOVE SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER
//! SMEMBERS SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF
//! SDIFFSTORE SSCAN, over `types::Set`. The multi-key commands are declared
//! `keyed` (gathered under shard locks when their keys span shards), so
//! they are atomic on any shard count.

use super::hash::{random_picks, reply_scan};
use super::keys::{parse_cursor, parse_scan_options};
use super::typed;
use crate::command::{keyed, CommandDef, Ctx};
use crate::config::Encodings;
use crate::errors;
use crate::keyspace::{Db, Value};
use crate::resp::parse::parse_i64;
use crate::resp::Argv;
use crate::types::set::Elem;
use crate::types::Set;
use cores::seam::Rng;

pub static COMMANDS: &[CommandDef] = &[
    keyed("sadd", sadd),
    keyed("srem", srem),
    keyed("smove", smove),
    keyed("sismember", sismember),
    keyed("smismember", smismember),
    keyed("scard", scard),
    keyed("spop", spop),
    keyed("srandmember", srandmember),
    keyed("smembers", smembers),
    keyed("sinter", sinter),
    keyed("sintercard", sintercard),
    keyed("sinterstore", sinterstore),
    keyed("sunion", sunion),
    keyed("sunionstore", sunionstore),
    keyed("sdiff", sdiff),
    keyed("sdiffstore", sdiffstore),
    keyed("sscan", sscan),
];

const POSITIVE: &str = "ERR value is out of range, must be positive";

fn read<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a Set>, &'static str> {
    typed::read(db, key, now, Value::as_set)
}

fn write<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut Set>, &'static str> {
    typed::write(db, key, now, Value::as_set_mut)
}

fn delete_if_empty(db: &mut Db, key: &[u8], now: u64) {
    typed::delete_if_empty(db, key, now, |v| v.as_set().is_some_and(Set::is_empty));
}

fn limits(ctx: &Ctx) -> Encodings {
    ctx.state.config.settings.encodings
}

fn sadd(ctx: &mut Ctx, argv: &Argv) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let first = argv.get(2);
    let set = match typed::write_or_create(db, key, now, Value::as_set_mut, || {
        Value::Set(Box::new(Set::for_member(first)))
    }) {
        Ok(set) => set,
        Err(e) => return ctx.out.error(e),
    };
    let added = argv.iter().skip(2).filter(|m| set.add(m, &limits)).count();
    if added > 0 {
        db.modified(key);
    }
    ctx.out.int(added as i64);
}

fn srem(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let set = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(set)) => set,
    };
    let mut removed = 0;
    for member in argv.iter().skip(2) {
        if set.remove(member) {
            removed += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    if removed > 0 {
        db.modified(key);
        delete_if_empty(db, key, now);
    }
    ctx.out.int(removed);
}

fn smove(ctx: &mut Ctx, argv: &Argv) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let (src, dst, member) = (argv.get(1), argv.get(2), argv.get(3));
    let db = ctx.db();
    match write(db, src, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(_)) => {}
    }
    if let Err(e) = write(db, dst, now) {
        return ctx.out.error(e);
    }
    if src == dst {
        let member_of = read(db, src, now).ok().flatten().is_some_and(|s| s.contains(member));
        return ctx.out.int(member_of as i64);
    }
    let set = write(db, src, now).ok().flatten().expect("checked");
    if !set.remove(member) {
        return ctx.out.int(0);
    }
    db.modified(src);
    delete_if_empty(db, src, now);
    let target = typed::write_or_create(db, dst, now, Value::as_set_mut, || {
        Value::Set(Box::new(Set::for_member(member)))
    })
    .expect("type checked");
    if target.add(member, &limits) {
        db.modified(dst);
    }
    ctx.out.int(1);
}

fn sismember(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(set) => ctx.out.int(set.is_some_and(|s| s.contains(argv.get(2))) as i64),
    }
}

fn smismember(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let set = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(set) => set,
    };
    ctx.out.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        ctx.out.int(set.is_some_and(|s| s.contains(member)) as i64);
    }
}

fn scard(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(set) => ctx.out.int(set.map_or(0, Set::len) as i64),
    }
}

fn spop(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let key = argv.get(1);
    let count = match argv.len() {
        2 => None,
        3 => match parse_i64(argv.get(2)) {
            None => return ctx.out.error(errors::NOT_INTEGER),
            Some(n) if n < 0 => return ctx.out.error(POSITIVE),
            Some(n) => Some(n as usize),
        },
        _ => return ctx.out.error(errors::SYNTAX),
    };
    let state = &mut *ctx.state;
    let rng = &mut state.rng;
    let db = &mut state.dbs[ctx.db];
    let set = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) if count.is_none() => return ctx.out.null(),
        Ok(None) => return ctx.out.set(0),
        Ok(Some(set)) => set,
    };
    let Some(count) = count else {
        let index = (rng.next_u64() % set.len() as u64) as usize;
        let member = set.nth(index).expect("in range").to_vec();
        set.remove(&member);
        db.modified(key);
        delete_if_empty(db, key, now);
        ctx.out.bulk(&member);
        // Replicas remove the member this pop chose.
        return ctx.propagate_as(&[b"SREM", key, &member]);
    };
    if count == 0 {
        return ctx.out.set(0);
    }
    let size = set.len();
    let picks = random_picks(size, count.min(size) as i64, || rng.next_u64());
    let members: Vec<Vec<u8>> = picks
        .into_iter()
        .map(|i| set.nth(i).expect("in range").to_vec())
        .collect();
    for member in &members {
        set.remove(member);
    }
    db.modified(key);
    delete_if_empty(db, key, now);
    ctx.out.set(members.len());
    for member in &members {
        ctx.out.bulk(member);
    }
    // Replicas remove the members this pop chose (the whole set: DEL), in
    // SREMs of at most 1024 members as Redis sends them.
    if members.len() == size {
        ctx.propagate_as(&[b"DEL", key]);
    } else {
        for chunk in members.chunks(1024) {
            let mut args: Vec<&[u8]> = vec![b"SREM", key];
            args.extend(chunk.iter().map(|m| m.as_slice()));
            ctx.propagate_as(&args);
        }
    }
}

fn srandmember(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let count = match argv.len() {
        2 => None,
        3 => match parse_i64(argv.get(2)) {
            None => return ctx.out.error(errors::NOT_INTEGER),
            Some(i64::MIN) => {
                return ctx.out.error(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                )
            }
            Some(n) => Some(n),
        },
        _ => return ctx.out.error(errors::SYNTAX),
    };
    let state = &mut *ctx.state;
    let rng = &mut state.rng;
    let set = match read(&mut state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) if count.is_none() => return ctx.out.null(),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(set)) => set,
    };
    let Some(count) = count else {
        let index = (rng.next_u64() % set.len() as u64) as usize;
        return set.nth(index).expect("in range").reply(ctx.out);
    };
    let picks = random_picks(set.len(), count, || rng.next_u64());
    ctx.out.array(picks.len());
    for i in picks {
        set.nth(i).expect("in range").reply(ctx.out);
    }
}

fn smembers(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let set = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(set) => set,
    };
    ctx.out.set(set.map_or(0, Set::len));
    for member in set.into_iter().flat_map(|s| s.iter()) {
        member.reply(ctx.out);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The sets under `keys` (None for a missing key), or WRONGTYPE if any key
/// holds another type. Values are cloned only by reference: the result
/// borrows the database.
fn lookup_all<'a>(db: &'a mut Db, keys: &[&[u8]], now: u64) -> Result<Vec<Option<&'a Set>>, &'static str> {
    // Lazy expiry first (needs &mut), then shared borrows.
    for key in keys {
        read(db, key, now)?;
    }
    let db: &'a Db = db;
    Ok(keys
        .iter()
        .map(|key| db.entries.get(key).and_then(|e| e.value.as_set()))
        .collect())
}

/// SINTER / SUNION / SDIFF over `sets` into a list of members.
fn compute(op: Op, sets: &[Option<&Set>], limit: usize) -> Vec<Vec<u8>> {
    match op {
        Op::Inter => {
            if sets.iter().any(Option::is_none) {
                return Vec::new();
            }
            let mut sets: Vec<&Set> = sets.iter().map(|s| s.expect("checked")).collect();
            sets.sort_by_key(|s| s.len());
            let mut out = Vec::new();
            for member in sets[0].iter() {
                if member.with_bytes(|m| sets[1..].iter().all(|s| s.contains(m))) {
                    out.push(member.to_vec());
                    if limit > 0 && out.len() >= limit {
                        break;
                    }
                }
            }
            out
        }
        Op::Union => {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for set in sets.iter().flatten() {
                for member in set.iter() {
                    let m = member.to_vec();
                    if seen.insert(m.clone()) {
                        out.push(m);
                    }
                }
            }
            out
        }
        Op::Diff => {
            let Some(first) = sets[0] else {
                return Vec::new();
            };
            first
                .iter()
                .filter(|member| member.with_bytes(|m| !sets[1..].iter().flatten().any(|s| s.contains(m))))
                .map(Elem::to_vec)
                .collect()
        }
    }
}

fn set_op_reply(ctx: &mut Ctx, argv: &Argv, op: Op) {
    let now = ctx.now_ms;
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    let sets = match lookup_all(&mut ctx.state.dbs[ctx.db], &keys, now) {
        Ok(sets) => sets,
        Err(e) => return ctx.out.error(e),
    };
    let members = compute(op, &sets, 0);
    ctx.out.set(members.len());
    for member in &members {
        ctx.out.bulk(member);
    }
}

fn set_op_store(ctx: &mut Ctx, argv: &Argv, op: Op) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let dst = argv.get(1);
    let keys: Vec<&[u8]> = argv.iter().skip(2).collect();
    let db = ctx.db();
    let members = match lookup_all(db, &keys, now) {
        Ok(sets) => compute(op, &sets, 0),
        Err(e) => return ctx.out.error(e),
    };
    if members.is_empty() {
        db.delete(dst, now);
        return ctx.out.int(0);
    }
    let mut result = Set::default();
    for member in &members {
        result.add(member, &limits);
    }
    let len = result.len();
    db.set(dst, Value::Set(Box::new(result)), false, now);
    ctx.out.int(len as i64);
}

fn sinter(ctx: &mut Ctx, argv: &Argv) {
    set_op_reply(ctx, argv, Op::Inter);
}

fn sunion(ctx: &mut Ctx, argv: &Argv) {
    set_op_reply(ctx, argv, Op::Union);
}

fn sdiff(ctx: &mut Ctx, argv: &Argv) {
    set_op_reply(ctx, argv, Op::Diff);
}

fn sinterstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_store(ctx, argv, Op::Inter);
}

fn sunionstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_store(ctx, argv, Op::Union);
}

fn sdiffstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_store(ctx, argv, Op::Diff);
}

fn sintercard(ctx: &mut Ctx, argv: &Argv) {
    // With a message, Redis's getRangeLongFromObjectOrReply uses it for a
    // non-integer too.
    let numkeys = match parse_i64(argv.get(1)) {
        Some(n) if n >= 1 => n as usize,
        _ => return ctx.out.error("ERR numkeys should be greater than 0"),
    };
    if numkeys > argv.len() - 2 {
        return ctx.out.error("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < argv.len() {
        if argv.get(i).eq_ignore_ascii_case(b"limit") && i + 1 < argv.len() {
            match parse_i64(argv.get(i + 1)) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return ctx.out.error("ERR LIMIT can't be negative"),
            }
            i += 2;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
    }
    let now = ctx.now_ms;
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| argv.get(i)).collect();
    match lookup_all(&mut ctx.state.dbs[ctx.db], &keys, now) {
        Ok(sets) => ctx.out.int(compute(Op::Inter, &sets, limit).len() as i64),
        Err(e) => ctx.out.error(e),
    }
}

fn sscan(ctx: &mut Ctx, argv: &Argv) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        return ctx.out.error(errors::INVALID_CURSOR);
    };
    let options = match parse_scan_options(argv, 3, false) {
        Ok(options) => options,
        Err(e) => return ctx.out.error(e),
    };
    let now = ctx.now_ms;
    let set = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return reply_scan(ctx.out, 0, &[]),
        Ok(Some(set)) => set,
    };
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut next = cursor;
    let mut budget = options.count.saturating_mul(10).max(1);
    loop {
        next = set.scan(next, |m| found.push(m.to_vec()));
        budget -= 1;
        if next == 0 || budget == 0 || found.len() as u64 >= options.count {
            break;
        }
    }
    if let Some(pattern) = &options.pattern {
        found.retain(|m| crate::glob::matches(pattern, m, false));
    }
    let items: Vec<&[u8]> = found.iter().map(Vec::as_slice).collect();
    reply_scan(ctx.out, next, &items);
}
