//! Strings: GET, SET and the rest of the string family (SETNX, SETEX,
//! PSETEX, GETEX, GETDEL, GETSET, MGET, MSET, MSETNX, APPEND, STRLEN, the
//! INCR/DECR family, INCRBYFLOAT, GETRANGE, SETRANGE, SUBSTR, LCS).
//!
//! Encodings follow Redis: values written whole go through
//! `Value::from_bytes` (Redis's tryObjectEncoding: int, embstr or raw),
//! values modified in place (APPEND, SETRANGE) become `raw`, INCR results
//! are `int` and INCRBYFLOAT results are plain strings (embstr or raw).

use super::float80::F80;
use crate::command::{keyed, split, CommandDef, Ctx, Merge};
use crate::errors;
use crate::keyspace::{CompactBytes, Value};
use crate::resp::parse::parse_i64;
use crate::resp::{Argv, ReplyBuf};
use std::borrow::Cow;

pub static COMMANDS: &[CommandDef] = &[
    keyed("get", get),
    keyed("set", set),
    keyed("setnx", setnx),
    keyed("setex", setex),
    keyed("psetex", psetex),
    keyed("getex", getex),
    keyed("getdel", getdel),
    keyed("getset", getset),
    split("mget", mget, Merge::ArrayByKey),
    split("mset", mset, Merge::AllOk),
    keyed("msetnx", msetnx),
    keyed("append", append),
    keyed("strlen", strlen),
    keyed("incr", incr),
    keyed("decr", decr),
    keyed("incrby", incrby),
    keyed("decrby", decrby),
    keyed("incrbyfloat", incrbyfloat),
    keyed("getrange", getrange),
    keyed("substr", getrange),
    keyed("setrange", setrange),
    keyed("lcs", lcs),
];

/// Writes a string value as a bulk reply, or WRONGTYPE for other types.
/// Returns whether the value was a string.
#[inline]
pub fn reply_string(out: &mut ReplyBuf, value: &Value) -> bool {
    if !value.is_string() {
        out.error(errors::WRONGTYPE);
        return false;
    }
    if let Value::Int(n) = value {
        out.bulk_int(*n);
    } else {
        out.bulk(&value.string_bytes().expect("string value"));
    }
    true
}

/// Redis's checkStringLength: whether a string of `size + append` bytes is
/// allowed by proto-max-bulk-len.
pub fn string_length_ok(ctx: &Ctx, size: usize, append: usize) -> bool {
    let max = ctx.state.config.settings.proto_max_bulk_len;
    match (size as u64).checked_add(append as u64) {
        Some(total) => total <= max.max(0) as u64,
        None => false,
    }
}

fn get(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let no_touch = ctx.no_touch;
    let db = &mut ctx.state.dbs[ctx.db];
    let entry = if no_touch {
        db.peek(argv.get(1), now)
    } else {
        db.read(argv.get(1), now)
    };
    match entry {
        None => ctx.out.null(),
        Some(entry) => {
            reply_string(ctx.out, &entry.value);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// The options SET and GETEX share (Redis's
/// parseExtendedStringArgumentsOrReply).
#[derive(Default)]
struct ExtendedOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

fn parse_extended<'a>(argv: &Argv<'a>, set_command: bool) -> Result<ExtendedOptions<'a>, &'static str> {
    let mut o = ExtendedOptions::default();
    let mut i = if set_command { 3 } else { 2 };
    while i < argv.len() {
        let opt = argv.get(i);
        let next = (i + 1 < argv.len()).then(|| argv.get(i + 1));
        let kind = o.expire.map(|(k, _)| k);
        let expire_ok = |k: ExpireKind| !o.keep_ttl && !o.persist && (kind.is_none() || kind == Some(k));
        let expire_kind = if opt.eq_ignore_ascii_case(b"ex") {
            Some(ExpireKind::Ex)
        } else if opt.eq_ignore_ascii_case(b"px") {
            Some(ExpireKind::Px)
        } else if opt.eq_ignore_ascii_case(b"exat") {
            Some(ExpireKind::ExAt)
        } else if opt.eq_ignore_ascii_case(b"pxat") {
            Some(ExpireKind::PxAt)
        } else {
            None
        };
        if set_command && opt.eq_ignore_ascii_case(b"nx") && !o.xx {
            o.nx = true;
        } else if set_command && opt.eq_ignore_ascii_case(b"xx") && !o.nx {
            o.xx = true;
        } else if set_command && opt.eq_ignore_ascii_case(b"get") {
            o.get = true;
        } else if set_command && opt.eq_ignore_ascii_case(b"keepttl") && !o.persist && kind.is_none() {
            o.keep_ttl = true;
        } else if !set_command && opt.eq_ignore_ascii_case(b"persist") && kind.is_none() && !o.keep_ttl {
            o.persist = true;
        } else if let (Some(k), Some(value)) = (expire_kind, next) {
            if !expire_ok(k) {
                return Err(errors::SYNTAX);
            }
            o.expire = Some((k, value));
            i += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

/// Redis's getExpireMillisecondsOrReply: the absolute expiry in ms.
fn expire_at_ms(kind: ExpireKind, arg: &[u8], now_ms: u64, command: &str) -> Result<u64, String> {
    let value = parse_i64(arg).ok_or_else(|| errors::NOT_INTEGER.to_string())?;
    let seconds = matches!(kind, ExpireKind::Ex | ExpireKind::ExAt);
    if value <= 0 || (seconds && value > i64::MAX / 1000) {
        return Err(errors::invalid_expire(command));
    }
    let ms = if seconds { value * 1000 } else { value };
    let at = if matches!(kind, ExpireKind::Ex | ExpireKind::Px) {
        ms.checked_add(now_ms as i64)
            .ok_or_else(|| errors::invalid_expire(command))?
    } else {
        ms
    };
    Ok(at as u64)
}

/// Redis's setGenericCommand. `ok`/`abort` are the replies for a performed
/// and a skipped (NX/XX) set; None means +OK and the null bulk.
#[allow(clippy::too_many_arguments)]
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    value: &[u8],
    options: &ExtendedOptions,
    command: &str,
    ok: Option<i64>,
    abort: Option<i64>,
) {
    let now = ctx.now_ms;
    let expire_at = match options.expire {
        Some((kind, arg)) => match expire_at_ms(kind, arg, now, command) {
            Ok(at) => Some(at),
            Err(message) => return ctx.out.error(&message),
        },
        None => None,
    };
    let db = &mut ctx.state.dbs[ctx.db];
    if options.get {
        match db.read(key, now) {
            None => ctx.out.null(),
            Some(entry) => {
                if !reply_string(ctx.out, &entry.value) {
                    return;
                }
            }
        }
    }
    let exists = db.write(key, now).is_some();
    if (options.nx && exists) || (options.xx && !exists) {
        if !options.get {
            match abort {
                Some(n) => ctx.out.int(n),
                None => ctx.out.null(),
            }
        }
        return;
    }
    db.set(key, Value::from_bytes(value), options.keep_ttl, now);
    if let Some(at) = expire_at {
        if at <= now {
            // An expiry in the past deletes the key at once (Redis leaves it
            // to lazy expiry; nothing can observe the difference).
            db.delete(key, now);
        } else {
            db.set_expire(key, at);
        }
        // Replicas get the absolute time, whatever form the client used.
        let at = at.to_string();
        ctx.propagate_as(&[b"SET", key, value, b"PXAT", at.as_bytes()]);
    }
    if !options.get {
        match ok {
            Some(n) => ctx.out.int(n),
            None => ctx.out.ok(),
        }
    }
}

fn set(ctx: &mut Ctx, argv: &Argv) {
    let options = match parse_extended(argv, true) {
        Ok(options) => options,
        Err(message) => return ctx.out.error(message),
    };
    set_generic(ctx, argv.get(1), argv.get(2), &options, "set", None, None);
    if options.get && options.expire.is_none() {
        // Replicas get the command without its GET arguments.
        let args: Vec<&[u8]> = argv
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !a.eq_ignore_ascii_case(b"get"))
            .map(|(_, a)| a)
            .collect();
        ctx.propagate_as(&args);
    }
}

fn setnx(ctx: &mut Ctx, argv: &Argv) {
    let options = ExtendedOptions {
        nx: true,
        ..Default::default()
    };
    set_generic(ctx, argv.get(1), argv.get(2), &options, "setnx", Some(1), Some(0));
}

fn setex(ctx: &mut Ctx, argv: &Argv) {
    let options = ExtendedOptions {
        expire: Some((ExpireKind::Ex, argv.get(2))),
        ..Default::default()
    };
    set_generic(ctx, argv.get(1), argv.get(3), &options, "setex", None, None);
}

fn psetex(ctx: &mut Ctx, argv: &Argv) {
    let options = ExtendedOptions {
        expire: Some((ExpireKind::Px, argv.get(2))),
        ..Default::default()
    };
    set_generic(ctx, argv.get(1), argv.get(3), &options, "psetex", None, None);
}

fn getex(ctx: &mut Ctx, argv: &Argv) {
    let options = match parse_extended(argv, false) {
        Ok(options) => options,
        Err(message) => return ctx.out.error(message),
    };
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = &mut ctx.state.dbs[ctx.db];
    let Some(entry) = db.read(key, now) else {
        return ctx.out.null();
    };
    if !entry.value.is_string() {
        return ctx.out.error(errors::WRONGTYPE);
    }
    let expire_at = match options.expire {
        Some((kind, arg)) => match expire_at_ms(kind, arg, now, "getex") {
            Ok(at) => Some(at),
            Err(message) => return ctx.out.error(&message),
        },
        None => None,
    };
    reply_string(ctx.out, &entry.value);
    match expire_at {
        Some(at) if at <= now => {
            db.delete(key, now);
            ctx.propagate_as(&[b"DEL", key]);
        }
        Some(at) => {
            db.set_expire(key, at);
            let at = at.to_string();
            ctx.propagate_as(&[b"PEXPIREAT", key, at.as_bytes()]);
        }
        None if options.persist => {
            db.persist(key);
            ctx.propagate_as(&[b"PERSIST", key]);
        }
        None => {}
    }
}

fn getdel(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = &mut ctx.state.dbs[ctx.db];
    let Some(entry) = db.read(key, now) else {
        return ctx.out.null();
    };
    if reply_string(ctx.out, &entry.value) {
        db.delete(key, now);
        ctx.propagate_as(&[b"DEL", key]);
    }
}

fn getset(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = &mut ctx.state.dbs[ctx.db];
    match db.read(key, now) {
        None => ctx.out.null(),
        Some(entry) => {
            if !reply_string(ctx.out, &entry.value) {
                return;
            }
        }
    }
    db.set(key, Value::from_bytes(argv.get(2)), false, now);
    ctx.propagate_as(&[b"SET", key, argv.get(2)]);
}

fn mget(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let db = &mut ctx.state.dbs[ctx.db];
    ctx.out.array(argv.len() - 1);
    for key in argv.iter().skip(1) {
        match db.read(key, now) {
            Some(entry) if entry.value.is_string() => {
                reply_string(ctx.out, &entry.value);
            }
            _ => ctx.out.null(),
        }
    }
}

fn mset(ctx: &mut Ctx, argv: &Argv) {
    if argv.len().is_multiple_of(2) {
        return ctx.out.error(&errors::wrong_arity("mset"));
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    for pair in 0..(argv.len() - 1) / 2 {
        let i = 1 + pair * 2;
        db.set(argv.get(i), Value::from_bytes(argv.get(i + 1)), false, now);
    }
    ctx.out.ok();
}

/// MSETNX is gathered across shards, so the existence check and the writes
/// are one atomic step even when the keys live on several shards.
fn msetnx(ctx: &mut Ctx, argv: &Argv) {
    if argv.len().is_multiple_of(2) {
        return ctx.out.error(&errors::wrong_arity("msetnx"));
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    let pairs = (argv.len() - 1) / 2;
    if (0..pairs).any(|p| db.write(argv.get(1 + p * 2), now).is_some()) {
        return ctx.out.int(0);
    }
    for p in 0..pairs {
        let i = 1 + p * 2;
        db.set(argv.get(i), Value::from_bytes(argv.get(i + 1)), false, now);
    }
    ctx.out.int(1);
}

/// The length of the string at `key` before an in-place write (APPEND,
/// SETRANGE): None when absent, Err when the key holds another type.
fn string_len_for_write(ctx: &mut Ctx, key: &[u8], now_ms: u64) -> Result<Option<usize>, ()> {
    match ctx.db().write(key, now_ms) {
        None => Ok(None),
        Some(entry) if entry.value.is_string() => Ok(entry.value.string_len()),
        Some(_) => Err(()),
    }
}

fn append(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let key = argv.get(1);
    let suffix = argv.get(2);
    let Ok(current_len) = string_len_for_write(ctx, key, now) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    let total = match current_len {
        None => {
            ctx.db().set(key, Value::from_bytes(suffix), false, now);
            suffix.len()
        }
        Some(len) => {
            if !string_length_ok(ctx, len, suffix.len()) {
                return ctx.out.error(errors::STRING_TOO_LONG);
            }
            let db = ctx.db();
            let entry = db.write(key, now).expect("exists");
            let bytes = entry.value.make_raw().expect("string");
            bytes.extend_from_slice(suffix);
            let total = bytes.len();
            db.modified(key);
            total
        }
    };
    ctx.out.int(total as i64);
}

fn strlen(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match ctx.db().read(argv.get(1), now) {
        None => ctx.out.int(0),
        Some(entry) => match entry.value.string_len() {
            Some(len) if entry.value.is_string() => ctx.out.int(len as i64),
            _ => ctx.out.error(errors::WRONGTYPE),
        },
    }
}

/// The integer a string value holds (Redis's getLongLongFromObject).
fn value_as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => parse_i64(&other.string_bytes()?),
    }
}

fn incr_decr(ctx: &mut Ctx, key: &[u8], by: i64) {
    let now = ctx.now_ms;
    let db = ctx.db();
    match db.write(key, now) {
        None => {
            db.set(key, Value::Int(by), false, now);
            ctx.out.int(by);
        }
        Some(entry) => {
            if !entry.value.is_string() {
                return ctx.out.error(errors::WRONGTYPE);
            }
            let Some(current) = value_as_i64(&entry.value) else {
                return ctx.out.error(errors::NOT_INTEGER);
            };
            let Some(result) = current.checked_add(by) else {
                return ctx.out.error(errors::INCR_OVERFLOW);
            };
            // Overwriting keeps the TTL, as Redis's dbOverwrite does.
            entry.value = Value::Int(result);
            db.modified(key);
            ctx.out.int(result);
        }
    }
}

fn incr(ctx: &mut Ctx, argv: &Argv) {
    incr_decr(ctx, argv.get(1), 1);
}

fn decr(ctx: &mut Ctx, argv: &Argv) {
    incr_decr(ctx, argv.get(1), -1);
}

fn incrby(ctx: &mut Ctx, argv: &Argv) {
    match parse_i64(argv.get(2)) {
        Some(by) => incr_decr(ctx, argv.get(1), by),
        None => ctx.out.error(errors::NOT_INTEGER),
    }
}

fn decrby(ctx: &mut Ctx, argv: &Argv) {
    match parse_i64(argv.get(2)) {
        Some(i64::MIN) => ctx.out.error("ERR decrement would overflow"),
        Some(by) => incr_decr(ctx, argv.get(1), -by),
        None => ctx.out.error(errors::NOT_INTEGER),
    }
}

/// The long double a string value holds (Redis's getLongDoubleFromObject).
pub fn value_as_f80(value: &Value) -> Option<F80> {
    match value {
        Value::Int(n) => Some(F80::from_i64(*n)),
        other => F80::parse(&other.string_bytes()?),
    }
}

fn incrbyfloat(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let current = match db.write(key, now) {
        None => F80::ZERO,
        Some(entry) => {
            if !entry.value.is_string() {
                return ctx.out.error(errors::WRONGTYPE);
            }
            match value_as_f80(&entry.value) {
                Some(v) => v,
                None => return ctx.out.error(errors::NOT_FLOAT),
            }
        }
    };
    let Some(by) = F80::parse(argv.get(2)) else {
        return ctx.out.error(errors::NOT_FLOAT);
    };
    let result = current.add(by);
    if !result.is_finite() {
        return ctx.out.error(errors::INCR_NAN_OR_INF);
    }
    let text = result.to_human_string();
    // Redis stores the formatted string as is (embstr or raw, never int).
    let value = Value::Str(CompactBytes::new(text.as_bytes()));
    match db.write(key, now) {
        Some(entry) => {
            entry.value = value;
            db.modified(key);
        }
        None => db.set(key, value, false, now),
    }
    ctx.out.bulk(text.as_bytes());
    // Replicas get the result, not the float arithmetic.
    ctx.propagate_as(&[b"SET", key, text.as_bytes(), b"KEEPTTL"]);
}

fn getrange(ctx: &mut Ctx, argv: &Argv) {
    let (Some(mut start), Some(mut end)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let now = ctx.now_ms;
    let Some(entry) = ctx.state.dbs[ctx.db].read(argv.get(1), now) else {
        return ctx.out.bulk(b"");
    };
    if !entry.value.is_string() {
        return ctx.out.error(errors::WRONGTYPE);
    }
    let bytes: Cow<[u8]> = entry.value.string_bytes().expect("string");
    let len = bytes.len() as i64;
    if start < 0 && end < 0 && start > end {
        return ctx.out.bulk(b"");
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&bytes[start as usize..=end as usize]);
    }
}

fn setrange(ctx: &mut Ctx, argv: &Argv) {
    let Some(offset) = parse_i64(argv.get(2)) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    if offset < 0 {
        return ctx.out.error("ERR offset is out of range");
    }
    let offset = offset as usize;
    let value = argv.get(3);
    let now = ctx.now_ms;
    let key = argv.get(1);
    let Ok(current_len) = string_len_for_write(ctx, key, now) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    if value.is_empty() {
        return ctx.out.int(current_len.unwrap_or(0) as i64);
    }
    if !string_length_ok(ctx, offset, value.len()) {
        return ctx.out.error(errors::STRING_TOO_LONG);
    }
    let db = ctx.db();
    if current_len.is_none() {
        let mut bytes = vec![0; offset + value.len()];
        bytes[offset..].copy_from_slice(value);
        db.set(key, Value::Raw(bytes), false, now);
        return ctx.out.int((offset + value.len()) as i64);
    }
    let entry = db.write(key, now).expect("exists");
    let bytes = entry.value.make_raw().expect("string");
    if bytes.len() < offset + value.len() {
        bytes.resize(offset + value.len(), 0);
    }
    bytes[offset..offset + value.len()].copy_from_slice(value);
    let total = bytes.len();
    db.modified(key);
    ctx.out.int(total as i64);
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]. Gathered
/// across shards when the keys live apart.
fn lcs(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let db = ctx.db();
    let mut strings: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut wrong_type = false;
    for (slot, i) in strings.iter_mut().zip([1, 2]) {
        if let Some(entry) = db.read(argv.get(i), now) {
            if entry.value.is_string() {
                *slot = entry.value.string_bytes().expect("string").into_owned();
            } else {
                wrong_type = true;
            }
        }
    }
    if wrong_type {
        return ctx.out.error("ERR The specified keys must contain string values");
    }
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = argv.get(j);
        let more = argv.len() - 1 - j;
        if opt.eq_ignore_ascii_case(b"idx") {
            get_idx = true;
        } else if opt.eq_ignore_ascii_case(b"len") {
            get_len = true;
        } else if opt.eq_ignore_ascii_case(b"withmatchlen") {
            with_match_len = true;
        } else if opt.eq_ignore_ascii_case(b"minmatchlen") && more > 0 {
            match parse_i64(argv.get(j + 1)) {
                Some(n) => min_match_len = n.max(0),
                None => return ctx.out.error(errors::NOT_INTEGER),
            }
            j += 1;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    if get_len && get_idx {
        return ctx
            .out
            .error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let [a, b] = &strings;
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return ctx.out.error("ERR String too long for LCS");
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells * 4 > ctx.state.config.settings.proto_max_bulk_len.max(0) as u64 {
        return ctx
            .out
            .error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let result = op_lcs(a, b, get_idx || !get_len, min_match_len as u64);
    if get_idx {
        ctx.out.map(2);
        ctx.out.bulk(b"matches");
        ctx.out.array(result.matches.len());
        for m in &result.matches {
            ctx.out.array(if with_match_len { 3 } else { 2 });
            ctx.out.array(2);
            ctx.out.int(m.a.0 as i64);
            ctx.out.int(m.a.1 as i64);
            ctx.out.array(2);
            ctx.out.int(m.b.0 as i64);
            ctx.out.int(m.b.1 as i64);
            if with_match_len {
                ctx.out.int(m.len as i64);
            }
        }
        ctx.out.bulk(b"len");
        ctx.out.int(result.len as i64);
    } else if get_len {
        ctx.out.int(result.len as i64);
    } else {
        ctx.out.bulk(&result.string);
    }
}

/// One matching range of LCS IDX: inclusive ranges in each string.
#[derive(Debug, PartialEq)]
pub struct LcsMatch {
    pub a: (usize, usize),
    pub b: (usize, usize),
    pub len: usize,
}

#[derive(Debug, PartialEq)]
pub struct LcsResult {
    pub len: usize,
    pub string: Vec<u8>,
    /// Ranges from the end of the strings backwards, as Redis emits them.
    pub matches: Vec<LcsMatch>,
}

/// The longest common subsequence by Redis's dynamic programming, walking
/// the table back the same way so ties and ranges come out identically.
pub fn op_lcs(a: &[u8], b: &[u8], compute: bool, min_match_len: u64) -> LcsResult {
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let mut table = vec![0u32; (alen + 1) * width];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let len = table[alen * width + blen] as usize;
    let mut result = LcsResult {
        len,
        string: Vec::new(),
        matches: Vec::new(),
    };
    if !compute {
        return result;
    }
    let mut string = vec![0u8; len];
    let mut idx = len;
    // `a_start == alen` means no range is open.
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            string[idx - 1] = a[i - 1];
            if a_start == alen {
                a_start = i - 1;
                a_end = i - 1;
                b_start = j - 1;
                b_end = j - 1;
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        let match_len = a_end.wrapping_sub(a_start).wrapping_add(1);
        if emit {
            if min_match_len == 0 || match_len as u64 >= min_match_len {
                result.matches.push(LcsMatch {
                    a: (a_start, a_end),
                    b: (b_start, b_end),
                    len: match_len,
                });
            }
            a_start = alen;
        }
    }
    result.string = string;
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn lcs_matches_redis_examples() {
        let a = b"ohmytext";
        let b = b"mynewtext";
        let r = op_lcs(a, b, true, 0);
        assert_eq!(r.string, b"mytext");
        assert_eq!(r.len, 6);
        assert_eq!(
            r.matches,
            vec![
                LcsMatch {
                    a: (4, 7),
                    b: (5, 8),
                    len: 4
                },
                LcsMatch {
                    a: (2, 3),
                    b: (0, 1),
                    len: 2
                },
            ]
        );
        let r = op_lcs(a, b, true, 4);
        assert_eq!(r.matches.len(), 1);
        assert_eq!(op_lcs(b"", b"abc", true, 0).string, b"");
    }

    #[test]
    fn extended_options_follow_redis_rules() {
        let parse = |args: &[&str], set: bool| -> Result<(), &'static str> {
            let joined: String = args.concat();
            let mut ranges = Vec::new();
            let mut at = 0;
            for a in args {
                ranges.push(at..at + a.len());
                at += a.len();
            }
            let argv = Argv::new(joined.as_bytes(), &ranges);
            parse_extended(&argv, set).map(|_| ())
        };
        assert!(parse(&["set", "k", "v", "EX", "10", "EX", "20"], true).is_ok());
        assert!(parse(&["set", "k", "v", "NX", "NX", "GET", "GET"], true).is_ok());
        assert!(parse(&["set", "k", "v", "EX", "10", "PX", "20"], true).is_err());
        assert!(parse(&["set", "k", "v", "NX", "XX"], true).is_err());
        assert!(parse(&["set", "k", "v", "KEEPTTL", "EX", "1"], true).is_err());
        assert!(parse(&["set", "k", "v", "EX"], true).is_err());
        assert!(parse(&["set", "k", "v", "PERSIST"], true).is_err());
        assert!(parse(&["getex", "k", "PERSIST", "EX", "1"], false).is_err());
        assert!(parse(&["getex", "k", "NX"], false).is_err());
        assert!(parse(&["getex", "k", "PXAT", "1", "PXAT", "2"], false).is_ok());
    }

    /// Runs a keyed command on a fresh-or-given shard state; returns the reply.
    pub(crate) fn run(state: &mut crate::shard::ShardState, args: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for a in args {
            ranges.push(buf.len()..buf.len() + a.len());
            buf.extend_from_slice(a);
        }
        let argv = Argv::new(&buf, &ranges);
        let spec = crate::command::lookup(args[0]).expect("command");
        let crate::command::Handler::Keyed { run, .. } = spec.handler else {
            panic!("not keyed");
        };
        let mut out = ReplyBuf::new(false);
        let mut ctx = Ctx {
            state,
            db: 0,
            out: &mut out,
            now_ms: 1_000_000,
            no_touch: false,
            effect: Default::default(),
        };
        run(&mut ctx, &argv);
        out.bytes
    }

    pub(crate) fn new_state() -> crate::shard::ShardState {
        crate::shard::ShardState::new(cores::ShardId(0), 1, crate::config::Config::new())
    }

    pub(crate) fn encoding(state: &mut crate::shard::ShardState, key: &[u8]) -> &'static str {
        state.dbs[0].peek(key, 0).expect("key").value.encoding_name()
    }

    #[test]
    fn encodings_after_commands_follow_redis() {
        let mut s = new_state();
        let long = [b'x'; 45];
        let cases: &[(&[&[u8]], &str)] = &[
            (&[b"SET", b"k", b"123"], "int"),
            (&[b"SET", b"k", b"abc"], "embstr"),
            (&[b"SET", b"k", &long], "raw"),
            (&[b"SET", b"k", b"-0"], "embstr"),
            (&[b"SET", b"k", b"12"], "int"),
            // Setting nothing keeps the encoding.
            (&[b"SETRANGE", b"k", b"0", b""], "int"),
            (&[b"SETRANGE", b"k", b"0", b"3"], "raw"),
            (&[b"INCR", b"k"], "int"),
            (&[b"APPEND", b"k", b"0"], "raw"),
            (&[b"APPEND", b"new", b"77"], "int"),
            (&[b"APPEND", b"new2", b"abc"], "embstr"),
            (&[b"INCRBYFLOAT", b"k", b"1"], "embstr"),
            (&[b"INCRBYFLOAT", b"k", b"1e30"], "embstr"),
            (&[b"INCRBYFLOAT", b"k", b"1e50"], "raw"),
            (&[b"GETSET", b"k", b"5"], "int"),
            (&[b"MSET", b"k", b"x"], "embstr"),
            (&[b"SETNX", b"n1", b"9"], "int"),
            (&[b"SETEX", b"k", b"100", b"9"], "int"),
            (&[b"BITFIELD_RO", b"k", b"GET", b"u8", b"0"], "int"),
            (&[b"GETBIT", b"k", b"0"], "int"),
            (&[b"SETBIT", b"k", b"0", b"0"], "raw"),
            (&[b"SET", b"k", b"1"], "int"),
            (&[b"BITFIELD", b"k", b"SET", b"u8", b"0", b"49"], "raw"),
            (&[b"SETRANGE", b"fresh", b"1", b"a"], "raw"),
        ];
        for (args, want) in cases {
            run(&mut s, args);
            let key = args[1];
            assert_eq!(
                encoding(&mut s, key),
                *want,
                "after {:?}",
                String::from_utf8_lossy(&args.concat())
            );
        }
    }

    #[test]
    fn dirty_counts_one_per_change() {
        let mut s = new_state();
        let dirty = |s: &crate::shard::ShardState| s.dbs[0].stats.dirty;
        run(&mut s, &[b"SETRANGE", b"k", b"3", b"ab"]);
        assert_eq!(dirty(&s), 1);
        run(&mut s, &[b"SETRANGE", b"k", b"0", b"x"]);
        assert_eq!(dirty(&s), 2);
        run(&mut s, &[b"MSET", b"a", b"1", b"b", b"2"]);
        assert_eq!(dirty(&s), 4);
        run(&mut s, &[b"INCR", b"a"]);
        run(&mut s, &[b"APPEND", b"a", b"x"]);
        assert_eq!(dirty(&s), 6);
        run(&mut s, &[b"GETSET", b"a", b"x"]);
        run(&mut s, &[b"GETDEL", b"a"]);
        assert_eq!(dirty(&s), 8);
    }
}
