//! Strings: GET, SET and the rest of the string family.

use crate::command::{keyed, CommandDef, Ctx};
use crate::errors;
use crate::keyspace::Value;
use crate::resp::parse::parse_i64;
use crate::resp::Argv;

pub static COMMANDS: &[CommandDef] = &[keyed("get", get), keyed("set", set)];

fn get(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let no_touch = ctx.no_touch;
    let db = &mut ctx.state.dbs[ctx.db];
    let entry = if no_touch {
        db.peek(argv.get(1), now)
    } else {
        db.read(argv.get(1), now)
    };
    match entry.map(|e| &e.value) {
        None => ctx.out.null(),
        Some(Value::Int(n)) => ctx.out.bulk_int(*n),
        Some(Value::Str(bytes)) => ctx.out.bulk(bytes),
        Some(Value::Raw(bytes)) => ctx.out.bulk(bytes),
    }
}

/// SET's parsed options.
#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    /// Absolute expiry in ms.
    expire_at_ms: Option<u64>,
}

fn parse_set_options(argv: &Argv, now_ms: u64) -> Result<SetOptions, String> {
    let mut options = SetOptions::default();
    let mut expire_seen = false;
    let mut i = 3;
    while i < argv.len() {
        let arg = argv.get(i);
        let next = if i + 1 < argv.len() {
            Some(argv.get(i + 1))
        } else {
            None
        };
        if arg.eq_ignore_ascii_case(b"nx") && !options.xx {
            options.nx = true;
        } else if arg.eq_ignore_ascii_case(b"xx") && !options.nx {
            options.xx = true;
        } else if arg.eq_ignore_ascii_case(b"get") {
            options.get = true;
        } else if arg.eq_ignore_ascii_case(b"keepttl") && !expire_seen {
            options.keep_ttl = true;
            expire_seen = true;
        } else if (arg.eq_ignore_ascii_case(b"ex")
            || arg.eq_ignore_ascii_case(b"px")
            || arg.eq_ignore_ascii_case(b"exat")
            || arg.eq_ignore_ascii_case(b"pxat"))
            && !expire_seen
            && next.is_some()
        {
            expire_seen = true;
            let value = parse_i64(next.expect("checked")).ok_or_else(|| errors::NOT_INTEGER.to_string())?;
            let unit_ms = arg[0].eq_ignore_ascii_case(&b'e');
            let absolute = arg.len() == 4;
            if value <= 0 || (unit_ms && value > i64::MAX / 1000) {
                return Err(errors::invalid_expire("set"));
            }
            let ms = if unit_ms { value * 1000 } else { value };
            let at = if absolute {
                ms
            } else {
                ms.checked_add(now_ms as i64)
                    .ok_or_else(|| errors::invalid_expire("set"))?
            };
            options.expire_at_ms = Some(at as u64);
            i += 1;
        } else {
            return Err(errors::SYNTAX.into());
        }
        i += 1;
    }
    Ok(options)
}

fn set(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let options = match parse_set_options(argv, now) {
        Ok(options) => options,
        Err(message) => return ctx.out.error(&message),
    };
    let key = argv.get(1);
    let db = &mut ctx.state.dbs[ctx.db];
    let existing = db.write(key, now);
    if options.get {
        match existing.as_ref().map(|e| &e.value) {
            None => ctx.out.null(),
            Some(Value::Int(n)) => ctx.out.bulk_int(*n),
            Some(Value::Str(bytes)) => ctx.out.bulk(bytes),
            Some(Value::Raw(bytes)) => ctx.out.bulk(bytes),
        }
    }
    let exists = existing.is_some();
    if (options.nx && exists) || (options.xx && !exists) {
        if !options.get {
            ctx.out.null();
        }
        return;
    }
    db.set(key, Value::from_bytes(argv.get(2)), options.keep_ttl, now);
    if let Some(at) = options.expire_at_ms {
        if at <= now {
            // An expiry in the past deletes the key at once, as Redis does.
            db.delete(key, now);
        } else {
            db.set_expire(key, at);
        }
    }
    if !options.get {
        ctx.out.ok();
    }
}
