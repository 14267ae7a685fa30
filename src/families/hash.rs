//! Hashes: HSET HSETNX HMSET HGET HMGET HGETALL HKEYS HVALS HLEN HEXISTS
//! HDEL HINCRBY HINCRBYFLOAT HSTRLEN HRANDFIELD HSCAN, over `types::Hash`.

use super::float80::F80;
use super::keys::{parse_cursor, parse_scan_options};
use super::typed;
use crate::command::{keyed, CommandDef, Ctx};
use crate::errors;
use crate::keyspace::{Db, Value};
use crate::resp::parse::parse_i64;
use crate::resp::{Argv, ReplyBuf};
use crate::types::Hash;
use cores::seam::Rng;

pub static COMMANDS: &[CommandDef] = &[
    keyed("hset", hset),
    keyed("hmset", hset),
    keyed("hsetnx", hsetnx),
    keyed("hget", hget),
    keyed("hmget", hmget),
    keyed("hgetall", hgetall),
    keyed("hkeys", hkeys),
    keyed("hvals", hvals),
    keyed("hlen", hlen),
    keyed("hexists", hexists),
    keyed("hdel", hdel),
    keyed("hincrby", hincrby),
    keyed("hincrbyfloat", hincrbyfloat),
    keyed("hstrlen", hstrlen),
    keyed("hrandfield", hrandfield),
    keyed("hscan", hscan),
];

fn read<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a Hash>, &'static str> {
    typed::read(db, key, now, Value::as_hash)
}

fn write<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut Hash>, &'static str> {
    typed::write(db, key, now, Value::as_hash_mut)
}

fn write_or_create<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<&'a mut Hash, &'static str> {
    typed::write_or_create(db, key, now, Value::as_hash_mut, || Value::Hash(Box::default()))
}

fn delete_if_empty(db: &mut Db, key: &[u8], now: u64) {
    typed::delete_if_empty(db, key, now, |v| v.as_hash().is_some_and(Hash::is_empty));
}

/// Redis's hashTypeTryConversion: any argument longer than
/// hash-max-listpack-value converts a packed hash before the write.
fn limits_for(ctx: &Ctx) -> crate::config::Encodings {
    ctx.state.config.settings.encodings
}

fn hset(ctx: &mut Ctx, argv: &Argv) {
    if argv.len() % 2 == 1 {
        let name = String::from_utf8_lossy(argv.get(0)).to_ascii_lowercase();
        return ctx.out.error(&errors::wrong_arity(&name));
    }
    let limits = limits_for(ctx);
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let hash = match write_or_create(db, key, now) {
        Ok(hash) => hash,
        Err(e) => return ctx.out.error(e),
    };
    hash.prepare_for(argv.iter().skip(2), &limits);
    let mut created = 0;
    for i in (2..argv.len()).step_by(2) {
        created += hash.set(argv.get(i), argv.get(i + 1), &limits) as i64;
    }
    db.modified(key);
    if argv.get(0).eq_ignore_ascii_case(b"hmset") {
        ctx.out.ok();
    } else {
        ctx.out.int(created);
    }
}

fn hsetnx(ctx: &mut Ctx, argv: &Argv) {
    let limits = limits_for(ctx);
    let now = ctx.now_ms;
    let (key, field, value) = (argv.get(1), argv.get(2), argv.get(3));
    let db = ctx.db();
    let hash = match write_or_create(db, key, now) {
        Ok(hash) => hash,
        Err(e) => return ctx.out.error(e),
    };
    hash.prepare_for(argv.iter().skip(2), &limits);
    if hash.contains(field) {
        return ctx.out.int(0);
    }
    hash.set(field, value, &limits);
    db.modified(key);
    ctx.out.int(1);
}

fn hget(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(hash) => match hash.and_then(|h| h.get(argv.get(2))) {
            Some(value) => ctx.out.bulk(value),
            None => ctx.out.null(),
        },
    }
}

fn hmget(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let hash = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(hash) => hash,
    };
    ctx.out.array(argv.len() - 2);
    for field in argv.iter().skip(2) {
        match hash.and_then(|h| h.get(field)) {
            Some(value) => ctx.out.bulk(value),
            None => ctx.out.null(),
        }
    }
}

/// HGETALL, HKEYS, HVALS.
fn reply_all(ctx: &mut Ctx, argv: &Argv, fields: bool, values: bool) {
    let now = ctx.now_ms;
    let hash = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(hash) => hash,
    };
    let len = hash.map_or(0, Hash::len);
    if fields && values {
        ctx.out.map(len);
    } else {
        ctx.out.array(len);
    }
    for (f, v) in hash.into_iter().flat_map(|h| h.iter()) {
        if fields {
            ctx.out.bulk(f);
        }
        if values {
            ctx.out.bulk(v);
        }
    }
}

fn hgetall(ctx: &mut Ctx, argv: &Argv) {
    reply_all(ctx, argv, true, true);
}

fn hkeys(ctx: &mut Ctx, argv: &Argv) {
    reply_all(ctx, argv, true, false);
}

fn hvals(ctx: &mut Ctx, argv: &Argv) {
    reply_all(ctx, argv, false, true);
}

fn hlen(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(hash) => ctx.out.int(hash.map_or(0, Hash::len) as i64),
    }
}

fn hexists(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(hash) => ctx.out.int(hash.is_some_and(|h| h.contains(argv.get(2))) as i64),
    }
}

fn hstrlen(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(hash) => ctx
            .out
            .int(hash.and_then(|h| h.get(argv.get(2))).map_or(0, |v| v.len()) as i64),
    }
}

fn hdel(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let hash = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(hash)) => hash,
    };
    let mut deleted = 0;
    for field in argv.iter().skip(2) {
        if hash.remove(field) {
            deleted += 1;
            if hash.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        db.modified(key);
        delete_if_empty(db, key, now);
    }
    ctx.out.int(deleted);
}

fn hincrby(ctx: &mut Ctx, argv: &Argv) {
    let Some(incr) = parse_i64(argv.get(3)) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let limits = limits_for(ctx);
    let now = ctx.now_ms;
    let (key, field) = (argv.get(1), argv.get(2));
    let db = ctx.db();
    let hash = match write_or_create(db, key, now) {
        Ok(hash) => hash,
        Err(e) => return ctx.out.error(e),
    };
    let current = match hash.get(field) {
        None => 0,
        Some(bytes) => match parse_i64(bytes) {
            Some(n) => n,
            None => {
                delete_if_empty(db, key, now);
                return ctx.out.error("ERR hash value is not an integer");
            }
        },
    };
    let Some(value) = current.checked_add(incr) else {
        delete_if_empty(db, key, now);
        return ctx.out.error(errors::INCR_OVERFLOW);
    };
    hash.set(field, crate::resp::reply::itoa_buf(value).as_bytes(), &limits);
    db.modified(key);
    ctx.out.int(value);
}

fn hincrbyfloat(ctx: &mut Ctx, argv: &Argv) {
    let Some(incr) = F80::parse(argv.get(3)) else {
        return ctx.out.error(errors::NOT_FLOAT);
    };
    if !incr.is_finite() {
        return ctx.out.error("ERR value is NaN or Infinity");
    }
    let limits = limits_for(ctx);
    let now = ctx.now_ms;
    let (key, field) = (argv.get(1), argv.get(2));
    let db = ctx.db();
    let hash = match write_or_create(db, key, now) {
        Ok(hash) => hash,
        Err(e) => return ctx.out.error(e),
    };
    let current = match hash.get(field) {
        None => F80::ZERO,
        Some(bytes) => match F80::parse(bytes) {
            Some(v) => v,
            None => {
                delete_if_empty(db, key, now);
                return ctx.out.error("ERR hash value is not a float");
            }
        },
    };
    let result = current.add(incr);
    if !result.is_finite() {
        delete_if_empty(db, key, now);
        return ctx.out.error(errors::INCR_NAN_OR_INF);
    }
    let text = result.to_human_string();
    hash.prepare_for(std::iter::once(text.as_bytes()), &limits);
    hash.set(field, text.as_bytes(), &limits);
    db.modified(key);
    ctx.out.bulk(text.as_bytes());
    // Replicas get the result, not the float arithmetic.
    ctx.propagate_as(&[b"HSET", key, field, text.as_bytes()]);
}

/// Above this many requested fields with WITHVALUES, Redis refuses the count.
const HRANDFIELD_WITHVALUES_LIMIT: i64 = i64::MAX / 2;
/// Redis's HRANDFIELD_SUB_STRATEGY_MUL: past count * 3 >= size, pick by
/// removing from a copy rather than by sampling.
const SUB_STRATEGY_MUL: usize = 3;

fn hrandfield(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    if argv.len() == 2 {
        let random = ctx.state.random();
        return match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
            Err(e) => ctx.out.error(e),
            Ok(None) => ctx.out.null(),
            Ok(Some(hash)) => {
                let (field, _) = hash.random_pair(random).expect("hashes are never empty");
                ctx.out.bulk(field)
            }
        };
    }
    let count = match parse_i64(argv.get(2)) {
        None => return ctx.out.error(errors::NOT_INTEGER),
        Some(i64::MIN) => {
            return ctx
                .out
                .error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        }
        Some(n) => n,
    };
    let with_values = match argv.len() {
        3 => false,
        4 if argv.get(3).eq_ignore_ascii_case(b"withvalues") => {
            if !(-HRANDFIELD_WITHVALUES_LIMIT..=HRANDFIELD_WITHVALUES_LIMIT).contains(&count) {
                return ctx.out.error("ERR value is out of range");
            }
            true
        }
        _ => return ctx.out.error(errors::SYNTAX),
    };
    let state = &mut *ctx.state;
    let rng = &mut state.rng;
    let hash = match read(&mut state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(hash)) => hash,
    };
    let picks = random_picks(hash.len(), count, || rng.next_u64());
    let resp3 = ctx.out.resp3;
    if with_values && !resp3 {
        ctx.out.array(picks.len() * 2);
    } else {
        ctx.out.array(picks.len());
    }
    for index in picks {
        let (field, value) = hash.nth(index).expect("index in range");
        reply_pair(ctx.out, field, value, with_values, resp3);
    }
}

fn reply_pair(out: &mut ReplyBuf, field: &[u8], value: &[u8], with_values: bool, resp3: bool) {
    if with_values && resp3 {
        out.array(2);
    }
    out.bulk(field);
    if with_values {
        out.bulk(value);
    }
}

/// The element indexes HRANDFIELD / SRANDMEMBER / ZRANDMEMBER return for
/// `count` out of `size`: a negative count samples with repetition; a
/// positive one returns distinct elements (all of them, in order, when
/// count >= size), as Redis's cases 1-4.
pub fn random_picks(size: usize, count: i64, mut next: impl FnMut() -> u64) -> Vec<usize> {
    if size == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        return (0..n).map(|_| (next() % size as u64) as usize).collect();
    }
    let count = count as usize;
    if count >= size {
        return (0..size).collect();
    }
    if count * SUB_STRATEGY_MUL > size {
        // Remove random elements from the full set until `count` remain.
        let mut keep: Vec<usize> = (0..size).collect();
        while keep.len() > count {
            let i = (next() % keep.len() as u64) as usize;
            keep.swap_remove(i);
        }
        return keep;
    }
    let mut seen = std::collections::HashSet::with_capacity(count);
    let mut picks = Vec::with_capacity(count);
    while picks.len() < count {
        let i = (next() % size as u64) as usize;
        if seen.insert(i) {
            picks.push(i);
        }
    }
    picks
}

fn hscan(ctx: &mut Ctx, argv: &Argv) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        return ctx.out.error(errors::INVALID_CURSOR);
    };
    let options = match parse_scan_options(argv, 3, false) {
        Ok(options) => options,
        Err(e) => return ctx.out.error(e),
    };
    let now = ctx.now_ms;
    let hash = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return reply_scan(ctx.out, 0, &[]),
        Ok(Some(hash)) => hash,
    };
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let mut next = cursor;
    let mut budget = options.count.saturating_mul(10).max(1);
    loop {
        next = hash.scan(next, |f, v| found.push((f, v)));
        budget -= 1;
        if next == 0 || budget == 0 || found.len() as u64 >= options.count {
            break;
        }
    }
    let mut items: Vec<&[u8]> = Vec::with_capacity(found.len() * 2);
    for (f, v) in found {
        if let Some(pattern) = &options.pattern {
            if !crate::glob::matches(pattern, f, false) {
                continue;
            }
        }
        items.push(f);
        items.push(v);
    }
    reply_scan(ctx.out, next, &items);
}

/// The two-element reply of the key-scan commands: cursor, then items.
pub fn reply_scan(out: &mut ReplyBuf, cursor: u64, items: &[&[u8]]) {
    out.array(2);
    out.bulk(cursor.to_string().as_bytes());
    out.array(items.len());
    for item in items {
        out.bulk(item);
    }
}
