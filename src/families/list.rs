//! Lists: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LINDEX LINSERT LSET
//! LRANGE LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP, over `types::List`.
//! LMOVE / RPOPLPUSH / LMPOP are declared `keyed` (gathered under shard
//! locks when their keys span shards), so they are atomic on any shard
//! count. The blocking forms live in `crate::blocking`.

use super::typed;
use crate::command::{asynchronous, keyed, CommandDef, Ctx};
use crate::errors;
use crate::keyspace::{Db, Value};
use crate::resp::parse::parse_i64;
use crate::resp::{Argv, ReplyBuf};
use crate::types::list::ListLimits;
use crate::types::List;

pub static COMMANDS: &[CommandDef] = &[
    keyed("lpush", lpush),
    keyed("rpush", rpush),
    keyed("lpushx", lpushx),
    keyed("rpushx", rpushx),
    keyed("lpop", lpop),
    keyed("rpop", rpop),
    keyed("llen", llen),
    keyed("lindex", lindex),
    keyed("linsert", linsert),
    keyed("lset", lset),
    keyed("lrange", lrange),
    keyed("lrem", lrem),
    keyed("ltrim", ltrim),
    keyed("lpos", lpos),
    keyed("lmove", lmove),
    keyed("rpoplpush", rpoplpush),
    keyed("lmpop", lmpop),
    asynchronous("blpop", crate::blocking::blpop),
    asynchronous("brpop", crate::blocking::brpop),
    asynchronous("blmpop", crate::blocking::blmpop),
    asynchronous("blmove", crate::blocking::blmove),
    asynchronous("brpoplpush", crate::blocking::brpoplpush),
];

const POSITIVE: &str = "ERR value is out of range, must be positive";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    pub fn parse(arg: &[u8]) -> Option<End> {
        if arg.eq_ignore_ascii_case(b"left") {
            Some(End::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Some(End::Right)
        } else {
            None
        }
    }
}

fn read<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a List>, &'static str> {
    typed::read(db, key, now, Value::as_list)
}

fn write<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut List>, &'static str> {
    typed::write(db, key, now, Value::as_list_mut)
}

fn delete_if_empty(db: &mut Db, key: &[u8], now: u64) {
    typed::delete_if_empty(db, key, now, |v| v.as_list().is_some_and(List::is_empty));
}

pub fn limits(ctx: &Ctx) -> ListLimits {
    ListLimits {
        fill: ctx.state.config.settings.encodings.list_max_listpack_size,
        packed_threshold: ctx.state.list_packed_threshold,
    }
}

pub fn push(list: &mut List, end: End, item: &[u8], limits: ListLimits) {
    match end {
        End::Left => list.push_front(item, limits),
        End::Right => list.push_back(item, limits),
    }
}

pub fn pop(list: &mut List, end: End) -> Option<Vec<u8>> {
    match end {
        End::Left => list.pop_front(),
        End::Right => list.pop_back(),
    }
}

fn push_command(ctx: &mut Ctx, argv: &Argv, end: End, only_existing: bool) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let list = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) if only_existing => return ctx.out.int(0),
        Ok(_) => typed::write_or_create(db, key, now, Value::as_list_mut, || Value::List(Box::default()))
            .expect("type checked"),
    };
    for item in argv.iter().skip(2) {
        push(list, end, item, limits);
    }
    let len = list.len();
    db.modified(key);
    ctx.out.int(len as i64);
}

fn lpush(ctx: &mut Ctx, argv: &Argv) {
    push_command(ctx, argv, End::Left, false);
}

fn rpush(ctx: &mut Ctx, argv: &Argv) {
    push_command(ctx, argv, End::Right, false);
}

fn lpushx(ctx: &mut Ctx, argv: &Argv) {
    push_command(ctx, argv, End::Left, true);
}

fn rpushx(ctx: &mut Ctx, argv: &Argv) {
    push_command(ctx, argv, End::Right, true);
}

/// Pops up to `count` elements from one end of the list at `key` and
/// replies with them as an array; deletes the list when it empties.
fn pop_range(db: &mut Db, key: &[u8], end: End, count: usize, now: u64, out: &mut ReplyBuf) {
    let list = write(db, key, now).ok().flatten().expect("caller checked");
    let n = count.min(list.len());
    out.array(n);
    for _ in 0..n {
        out.bulk(&pop(list, end).expect("within length"));
    }
    db.modified(key);
    delete_if_empty(db, key, now);
}

fn pop_command(ctx: &mut Ctx, argv: &Argv, end: End) {
    if argv.len() > 3 {
        let name = String::from_utf8_lossy(argv.get(0)).to_ascii_lowercase();
        return ctx.out.error(&errors::wrong_arity(&name));
    }
    let count = if argv.len() == 3 {
        match parse_i64(argv.get(2)) {
            None => return ctx.out.error(errors::NOT_INTEGER),
            Some(n) if n < 0 => return ctx.out.error(POSITIVE),
            Some(n) => Some(n as usize),
        }
    } else {
        None
    };
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = &mut ctx.state.dbs[ctx.db];
    let list = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) if count.is_some() => return ctx.out.null_array(),
        Ok(None) => return ctx.out.null(),
        Ok(Some(list)) => list,
    };
    match count {
        None => {
            let item = pop(list, end).expect("lists are never empty");
            db.modified(key);
            delete_if_empty(db, key, now);
            ctx.out.bulk(&item);
        }
        Some(0) => ctx.out.array(0),
        Some(n) => pop_range(db, key, end, n, now, ctx.out),
    }
}

fn lpop(ctx: &mut Ctx, argv: &Argv) {
    pop_command(ctx, argv, End::Left);
}

fn rpop(ctx: &mut Ctx, argv: &Argv) {
    pop_command(ctx, argv, End::Right);
}

fn llen(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(list) => ctx.out.int(list.map_or(0, List::len) as i64),
    }
}

fn lindex(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let list = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.null(),
        Ok(Some(list)) => list,
    };
    let Some(index) = parse_i64(argv.get(2)) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    match list.get(index) {
        Some(item) => ctx.out.bulk(item),
        None => ctx.out.null(),
    }
}

fn linsert(ctx: &mut Ctx, argv: &Argv) {
    let after = if argv.get(2).eq_ignore_ascii_case(b"after") {
        true
    } else if argv.get(2).eq_ignore_ascii_case(b"before") {
        false
    } else {
        return ctx.out.error(errors::SYNTAX);
    };
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let list = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(list)) => list,
    };
    if !list.insert(argv.get(3), argv.get(4), after, limits) {
        return ctx.out.int(-1);
    }
    let len = list.len();
    db.modified(key);
    ctx.out.int(len as i64);
}

fn lset(ctx: &mut Ctx, argv: &Argv) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let list = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.error(errors::NO_SUCH_KEY),
        Ok(Some(list)) => list,
    };
    let Some(index) = parse_i64(argv.get(2)) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    if !list.set(index, argv.get(3), limits) {
        return ctx.out.error("ERR index out of range");
    }
    db.modified(key);
    ctx.out.ok();
}

/// Redis's range normalisation (LRANGE, LTRIM): Some((start, len)) or None
/// for an empty range.
fn normalize_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

fn lrange(ctx: &mut Ctx, argv: &Argv) {
    let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let now = ctx.now_ms;
    let list = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(list)) => list,
    };
    match normalize_range(start, end, list.len()) {
        None => ctx.out.array(0),
        Some((start, n)) => {
            ctx.out.array(n);
            for item in list.iter().skip(start).take(n) {
                ctx.out.bulk(item);
            }
        }
    }
}

fn ltrim(ctx: &mut Ctx, argv: &Argv) {
    let (Some(start), Some(end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let list = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.ok(),
        Ok(Some(list)) => list,
    };
    let before = list.len();
    match normalize_range(start, end, before) {
        None => list.keep_range(before, 0),
        Some((start, n)) => list.keep_range(start, n),
    }
    if list.len() != before {
        db.modified(key);
    }
    delete_if_empty(db, key, now);
    ctx.out.ok();
}

fn lrem(ctx: &mut Ctx, argv: &Argv) {
    let Some(count) = parse_i64(argv.get(2)) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let list = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(list)) => list,
    };
    let removed = list.remove(argv.get(3), count.unsigned_abs() as usize, count < 0, limits);
    if removed > 0 {
        db.modified(key);
        delete_if_empty(db, key, now);
    }
    ctx.out.int(removed as i64);
}

fn lpos(ctx: &mut Ctx, argv: &Argv) {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    let mut i = 3;
    while i < argv.len() {
        let opt = argv.get(i);
        let more = i + 1 < argv.len();
        if opt.eq_ignore_ascii_case(b"rank") && more {
            match parse_i64(argv.get(i + 1)) {
                None => return ctx.out.error(errors::NOT_INTEGER),
                Some(0) => {
                    return ctx.out.error(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    )
                }
                Some(i64::MIN) => {
                    return ctx
                        .out
                        .error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
                }
                Some(n) => rank = n,
            }
        } else if opt.eq_ignore_ascii_case(b"count") && more {
            match parse_i64(argv.get(i + 1)) {
                Some(n) if n >= 0 => count = Some(n as usize),
                _ => return ctx.out.error("ERR COUNT can't be negative"),
            }
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more {
            match parse_i64(argv.get(i + 1)) {
                Some(n) if n >= 0 => maxlen = n as usize,
                _ => return ctx.out.error("ERR MAXLEN can't be negative"),
            }
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        i += 2;
    }
    let now = ctx.now_ms;
    let element = argv.get(2);
    let list = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) if count.is_some() => return ctx.out.array(0),
        Ok(None) => return ctx.out.null(),
        Ok(Some(list)) => list,
    };
    let len = list.len();
    let from_tail = rank < 0;
    let rank = rank.unsigned_abs() as usize;
    let items: Box<dyn Iterator<Item = &[u8]>> = if from_tail {
        Box::new(list.iter().rev())
    } else {
        Box::new(list.iter())
    };
    let mut matches = 0usize;
    let mut found: Vec<i64> = Vec::new();
    for (scanned, item) in items.enumerate() {
        if maxlen != 0 && scanned >= maxlen {
            break;
        }
        if item == element {
            matches += 1;
            if matches >= rank {
                found.push(if from_tail {
                    (len - 1 - scanned) as i64
                } else {
                    scanned as i64
                });
                match count {
                    None => break,
                    Some(c) if c != 0 && found.len() >= c => break,
                    _ => {}
                }
            }
        }
    }
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for i in found {
                ctx.out.int(i);
            }
        }
        None => match found.first() {
            Some(&i) => ctx.out.int(i),
            None => ctx.out.null(),
        },
    }
}

/// LMOVE / RPOPLPUSH: pops from `src`'s `from` end and pushes to `dst`'s
/// `to` end (the same list when the keys are equal).
fn move_element(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let db = ctx.db();
    match write(db, src, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.null(),
        Ok(Some(_)) => {}
    }
    if let Err(e) = write(db, dst, now) {
        return ctx.out.error(e);
    }
    let list = write(db, src, now).ok().flatten().expect("checked");
    let item = pop(list, from).expect("lists are never empty");
    let target =
        typed::write_or_create(db, dst, now, Value::as_list_mut, || Value::List(Box::default())).expect("checked");
    push(target, to, &item, limits);
    db.modified(dst);
    db.modified(src);
    delete_if_empty(db, src, now);
    ctx.out.bulk(&item);
}

fn lmove(ctx: &mut Ctx, argv: &Argv) {
    let (Some(from), Some(to)) = (End::parse(argv.get(3)), End::parse(argv.get(4))) else {
        return ctx.out.error(errors::SYNTAX);
    };
    move_element(ctx, argv.get(1), argv.get(2), from, to);
}

fn rpoplpush(ctx: &mut Ctx, argv: &Argv) {
    move_element(ctx, argv.get(1), argv.get(2), End::Right, End::Left);
}

fn lmpop(ctx: &mut Ctx, argv: &Argv) {
    let args = match typed::parse_mpop(argv, 1, End::parse) {
        Ok(args) => args,
        Err(e) => return ctx.out.error(e),
    };
    let now = ctx.now_ms;
    let db = &mut ctx.state.dbs[ctx.db];
    for key in &args.keys {
        match write(db, key, now) {
            Err(e) => return ctx.out.error(e),
            Ok(None) => continue,
            Ok(Some(list)) => {
                let popped = args.count.min(list.len()).to_string();
                ctx.out.array(2);
                ctx.out.bulk(key);
                pop_range(db, key, args.side, args.count, now, ctx.out);
                // Replicas get the plain pop with the count taken.
                let command: &[u8] = if args.side == End::Left { b"LPOP" } else { b"RPOP" };
                return ctx.propagate_as(&[command, key, popped.as_bytes()]);
            }
        }
    }
    ctx.out.null_array();
}
