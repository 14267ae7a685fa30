//! Sorted sets: ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK ZCOUNT
//! ZLEXCOUNT ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES) ZRANGESTORE
//! ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX
//! ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX ZPOPMIN ZPOPMAX ZMPOP
//! ZRANDMEMBER ZUNION ZINTER ZDIFF ZUNIONSTORE ZINTERSTORE ZDIFFSTORE
//! ZINTERCARD ZSCAN, over `types::ZSet`. Multi-key commands are `keyed`
//! (gathered under shard locks when their keys span shards).

use super::hash::{random_picks, reply_scan};
use super::keys::{parse_cursor, parse_scan_options};
use super::typed;
use crate::command::{asynchronous, keyed, CommandDef, Ctx};
use crate::config::Encodings;
use crate::errors;
use crate::keyspace::{Db, Value};
use crate::resp::parse::parse_i64;
use crate::resp::{Argv, ReplyBuf};
use crate::types::ZSet;
use cores::seam::Rng;

pub static COMMANDS: &[CommandDef] = &[
    keyed("zadd", zadd),
    keyed("zincrby", zincrby),
    keyed("zrem", zrem),
    keyed("zcard", zcard),
    keyed("zscore", zscore),
    keyed("zmscore", zmscore),
    keyed("zrank", zrank),
    keyed("zrevrank", zrevrank),
    keyed("zcount", zcount),
    keyed("zlexcount", zlexcount),
    keyed("zrange", zrange),
    keyed("zrangestore", zrangestore),
    keyed("zrevrange", zrevrange),
    keyed("zrangebyscore", zrangebyscore),
    keyed("zrevrangebyscore", zrevrangebyscore),
    keyed("zrangebylex", zrangebylex),
    keyed("zrevrangebylex", zrevrangebylex),
    keyed("zremrangebyrank", zremrangebyrank),
    keyed("zremrangebyscore", zremrangebyscore),
    keyed("zremrangebylex", zremrangebylex),
    keyed("zpopmin", zpopmin),
    keyed("zpopmax", zpopmax),
    keyed("zmpop", zmpop),
    keyed("zrandmember", zrandmember),
    keyed("zunion", zunion),
    keyed("zinter", zinter),
    keyed("zdiff", zdiff),
    keyed("zunionstore", zunionstore),
    keyed("zinterstore", zinterstore),
    keyed("zdiffstore", zdiffstore),
    keyed("zintercard", zintercard),
    keyed("zscan", zscan),
    asynchronous("bzpopmin", crate::blocking::bzpopmin),
    asynchronous("bzpopmax", crate::blocking::bzpopmax),
    asynchronous("bzmpop", crate::blocking::bzmpop),
];

const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";
const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";
const POSITIVE: &str = "ERR value is out of range, must be positive";

fn read<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a ZSet>, &'static str> {
    typed::read(db, key, now, Value::as_zset)
}

fn write<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut ZSet>, &'static str> {
    typed::write(db, key, now, Value::as_zset_mut)
}

fn delete_if_empty(db: &mut Db, key: &[u8], now: u64) {
    typed::delete_if_empty(db, key, now, |v| v.as_zset().is_some_and(ZSet::is_empty));
}

fn limits(ctx: &Ctx) -> Encodings {
    ctx.state.config.settings.encodings
}

/// Redis's getDoubleFromObject: the whole string is a float, not NaN.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty() || text.starts_with(char::is_whitespace) {
        return None;
    }
    let value: f64 = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse().ok()?,
    };
    (!value.is_nan()).then_some(value)
}

/// A score bound: value and whether it is exclusive.
#[derive(Clone, Copy)]
struct Bound {
    value: f64,
    exclusive: bool,
}

fn parse_bound(arg: &[u8]) -> Option<Bound> {
    match arg.first() {
        Some(b'(') => {
            let rest = &arg[1..];
            let value = if rest.is_empty() { 0.0 } else { parse_score(rest)? };
            Some(Bound { value, exclusive: true })
        }
        _ => Some(Bound {
            value: parse_score(arg)?,
            exclusive: false,
        }),
    }
}

#[derive(Clone, Copy)]
struct ScoreRange {
    min: Bound,
    max: Bound,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        Some(ScoreRange {
            min: parse_bound(min)?,
            max: parse_bound(max)?,
        })
    }

    fn above_min(&self, s: f64) -> bool {
        if self.min.exclusive {
            s > self.min.value
        } else {
            s >= self.min.value
        }
    }

    fn below_max(&self, s: f64) -> bool {
        if self.max.exclusive {
            s < self.max.value
        } else {
            s <= self.max.value
        }
    }

    /// Ascending rank range `[start, end)` of the elements in range.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let start = z.partition_point(|s, _| !self.above_min(s));
        let end = z.partition_point(|s, _| self.below_max(s) || !self.above_min(s));
        (start, end.max(start))
    }
}

#[derive(Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn parse_lex(arg: &[u8]) -> Option<LexBound> {
    match arg {
        b"-" => Some(LexBound::Min),
        b"+" => Some(LexBound::Max),
        [b'[', rest @ ..] => Some(LexBound::Incl(rest.to_vec())),
        [b'(', rest @ ..] => Some(LexBound::Excl(rest.to_vec())),
        _ => None,
    }
}

#[derive(Clone)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: parse_lex(min)?,
            max: parse_lex(max)?,
        })
    }

    fn above_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(v) => m >= v.as_slice(),
            LexBound::Excl(v) => m > v.as_slice(),
        }
    }

    fn below_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(v) => m <= v.as_slice(),
            LexBound::Excl(v) => m < v.as_slice(),
        }
    }

    /// Ascending rank range of the members in range (members compared as
    /// Redis does, assuming equal scores).
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let start = z.partition_point(|_, m| !self.above_min(m));
        let end = z.partition_point(|_, m| self.below_max(m) || !self.above_min(m));
        (start, end.max(start))
    }
}

/// Writes member (and score) pairs in the shape Redis uses: flat in RESP2,
/// `[member, score]` pairs in RESP3 when `with_scores`.
fn reply_elements(out: &mut ReplyBuf, items: &[(&[u8], f64)], with_scores: bool) {
    let nested = with_scores && out.resp3;
    out.array(if with_scores && !nested {
        items.len() * 2
    } else {
        items.len()
    });
    for (m, s) in items {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if with_scores {
            out.double(*s);
        }
    }
}

// ---------------------------------------------------------------- writes

struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd(ctx: &mut Ctx, argv: &Argv) {
    let mut flags = AddFlags {
        nx: false,
        xx: false,
        gt: false,
        lt: false,
        ch: false,
        incr: false,
    };
    let mut i = 2;
    while i < argv.len() {
        let opt = argv.get(i).to_ascii_lowercase();
        match opt.as_slice() {
            b"nx" => flags.nx = true,
            b"xx" => flags.xx = true,
            b"gt" => flags.gt = true,
            b"lt" => flags.lt = true,
            b"ch" => flags.ch = true,
            b"incr" => flags.incr = true,
            _ => break,
        }
        i += 1;
    }
    let elements = argv.len() - i;
    if elements == 0 || elements % 2 == 1 {
        return ctx.out.error(errors::SYNTAX);
    }
    if flags.nx && flags.xx {
        return ctx
            .out
            .error("ERR XX and NX options at the same time are not compatible");
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return ctx
            .out
            .error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if flags.incr && elements > 2 {
        return ctx
            .out
            .error("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for j in (i..argv.len()).step_by(2) {
        match parse_score(argv.get(j)) {
            Some(score) => pairs.push((score, argv.get(j + 1))),
            None => return ctx.out.error(errors::NOT_FLOAT),
        }
    }
    add_pairs(ctx, argv.get(1), &pairs, &flags);
}

fn add_pairs(ctx: &mut Ctx, key: &[u8], pairs: &[(f64, &[u8])], flags: &AddFlags) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let db = ctx.db();
    let exists = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(z) => z.is_some(),
    };
    if !exists {
        if flags.xx {
            return if flags.incr { ctx.out.null() } else { ctx.out.int(0) };
        }
        let first_len = pairs[0].1.len();
        db.set(
            key,
            Value::ZSet(Box::new(ZSet::with_hint(0, first_len, &limits))),
            false,
            now,
        );
    }
    let z = write(db, key, now).ok().flatten().expect("exists");
    let (mut added, mut updated, mut processed) = (0, 0, 0);
    let mut last_score = 0.0;
    let mut error = None;
    for &(score, member) in pairs {
        let current = z.score(member);
        let mut new_score = score;
        match current {
            Some(cur) => {
                if flags.nx {
                    continue;
                }
                if flags.incr {
                    new_score = cur + score;
                    if new_score.is_nan() {
                        error = Some(NAN_SCORE);
                        break;
                    }
                }
                if (flags.lt && new_score >= cur) || (flags.gt && new_score <= cur) {
                    continue;
                }
                processed += 1;
                last_score = new_score;
                if new_score != cur {
                    z.insert(member, new_score, &limits);
                    updated += 1;
                }
            }
            None => {
                if flags.xx {
                    continue;
                }
                z.insert(member, new_score, &limits);
                added += 1;
                processed += 1;
                last_score = new_score;
            }
        }
    }
    if added + updated > 0 {
        db.modified(key);
    }
    delete_if_empty(db, key, now);
    if let Some(e) = error {
        return ctx.out.error(e);
    }
    if flags.incr {
        if processed > 0 {
            ctx.out.double(last_score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if flags.ch { added + updated } else { added });
    }
}

fn zincrby(ctx: &mut Ctx, argv: &Argv) {
    let Some(by) = parse_score(argv.get(2)) else {
        return ctx.out.error(errors::NOT_FLOAT);
    };
    let flags = AddFlags {
        nx: false,
        xx: false,
        gt: false,
        lt: false,
        ch: false,
        incr: true,
    };
    add_pairs(ctx, argv.get(1), &[(by, argv.get(3))], &flags);
}

fn zrem(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let z = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(z)) => z,
    };
    let mut removed = 0;
    for member in argv.iter().skip(2) {
        if z.remove(member) {
            removed += 1;
            if z.is_empty() {
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

// ----------------------------------------------------------------- reads

fn zcard(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(z) => ctx.out.int(z.map_or(0, ZSet::len) as i64),
    }
}

fn zscore(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(z) => match z.and_then(|z| z.score(argv.get(2))) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        },
    }
}

fn zmscore(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let z = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(z) => z,
    };
    ctx.out.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        match z.and_then(|z| z.score(member)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
}

fn rank_command(ctx: &mut Ctx, argv: &Argv, reverse: bool) {
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(z) => match z.and_then(|z| z.rank(argv.get(2)).map(|r| (r, z.len()))) {
            Some((r, len)) => ctx.out.int(if reverse { len - 1 - r } else { r } as i64),
            None => ctx.out.null(),
        },
    }
}

fn zrank(ctx: &mut Ctx, argv: &Argv) {
    rank_command(ctx, argv, false);
}

fn zrevrank(ctx: &mut Ctx, argv: &Argv) {
    rank_command(ctx, argv, true);
}

fn zcount(ctx: &mut Ctx, argv: &Argv) {
    let Some(range) = ScoreRange::parse(argv.get(2), argv.get(3)) else {
        return ctx.out.error(NOT_FLOAT_RANGE);
    };
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(z) => ctx.out.int(z.map_or(0, |z| {
            let (a, b) = range.ranks(z);
            b - a
        }) as i64),
    }
}

fn zlexcount(ctx: &mut Ctx, argv: &Argv) {
    let Some(range) = LexRange::parse(argv.get(2), argv.get(3)) else {
        return ctx.out.error(NOT_LEX_RANGE);
    };
    let now = ctx.now_ms;
    match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => ctx.out.error(e),
        Ok(z) => ctx.out.int(z.map_or(0, |z| {
            let (a, b) = range.ranks(z);
            b - a
        }) as i64),
    }
}

// ---------------------------------------------------------------- ranges

#[derive(Clone, Copy, PartialEq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE-family request.
struct RangeRequest {
    kind: RangeKind,
    reverse: bool,
    with_scores: bool,
    offset: i64,
    limit: i64,
    min: Vec<u8>,
    max: Vec<u8>,
}

/// Parses ZRANGE's options from `argv[first_opt..]` (ZRANGESTORE when
/// `store`); `kind`/`reverse` preset for the legacy commands.
fn parse_range(
    argv: &Argv,
    key_at: usize,
    preset: Option<RangeKind>,
    preset_reverse: bool,
    store: bool,
) -> Result<RangeRequest, String> {
    let mut req = RangeRequest {
        kind: preset.unwrap_or(RangeKind::Rank),
        reverse: preset_reverse,
        with_scores: false,
        offset: 0,
        limit: -1,
        min: argv.get(key_at + 1).to_vec(),
        max: argv.get(key_at + 2).to_vec(),
    };
    let mut kind_set = preset.is_some();
    let mut reverse_set = preset.is_some();
    let mut j = key_at + 3;
    while j < argv.len() {
        let opt = argv.get(j);
        let left = argv.len() - j - 1;
        if !store && opt.eq_ignore_ascii_case(b"withscores") {
            req.with_scores = true;
        } else if opt.eq_ignore_ascii_case(b"limit") && left >= 2 {
            match (parse_i64(argv.get(j + 1)), parse_i64(argv.get(j + 2))) {
                (Some(o), Some(l)) => {
                    req.offset = o;
                    req.limit = l;
                }
                _ => return Err(errors::NOT_INTEGER.into()),
            }
            j += 2;
        } else if !reverse_set && opt.eq_ignore_ascii_case(b"rev") {
            req.reverse = true;
            reverse_set = true;
        } else if !kind_set && opt.eq_ignore_ascii_case(b"bylex") {
            req.kind = RangeKind::Lex;
            kind_set = true;
        } else if !kind_set && opt.eq_ignore_ascii_case(b"byscore") {
            req.kind = RangeKind::Score;
            kind_set = true;
        } else {
            return Err(errors::SYNTAX.into());
        }
        j += 1;
    }
    if req.limit != -1 && req.kind == RangeKind::Rank {
        return Err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX".into());
    }
    if req.with_scores && req.kind == RangeKind::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX".into());
    }
    if req.reverse && req.kind != RangeKind::Rank {
        std::mem::swap(&mut req.min, &mut req.max);
    }
    Ok(req)
}

/// The elements a range request selects, in reply order.
fn select<'a>(z: &'a ZSet, req: &RangeRequest) -> Result<Vec<(&'a [u8], f64)>, &'static str> {
    let len = z.len();
    let (start, end) = match req.kind {
        RangeKind::Rank => {
            let (Some(mut a), Some(mut b)) = (parse_i64(&req.min), parse_i64(&req.max)) else {
                return Err(errors::NOT_INTEGER);
            };
            let n = len as i64;
            if a < 0 {
                a += n;
            }
            if b < 0 {
                b += n;
            }
            if a < 0 {
                a = 0;
            }
            if a > b || a >= n {
                return Ok(Vec::new());
            }
            if b >= n {
                b = n - 1;
            }
            let (a, b) = (a as usize, b as usize);
            return Ok(if req.reverse {
                z.iter_rev_from(len - 1 - a).take(b - a + 1).collect()
            } else {
                z.iter_from(a).take(b - a + 1).collect()
            });
        }
        RangeKind::Score => ScoreRange::parse(&req.min, &req.max).ok_or(NOT_FLOAT_RANGE)?.ranks(z),
        RangeKind::Lex => LexRange::parse(&req.min, &req.max).ok_or(NOT_LEX_RANGE)?.ranks(z),
    };
    if req.offset < 0 || end <= start {
        return Ok(Vec::new());
    }
    let count = end - start;
    let skip = (req.offset as usize).min(count);
    let take = if req.limit < 0 {
        count
    } else {
        (req.limit as usize).min(count)
    };
    Ok(if req.reverse {
        z.iter_rev_from(end - 1)
            .skip(skip)
            .take(take.min(count - skip))
            .collect()
    } else {
        z.iter_from(start).skip(skip).take(take.min(count - skip)).collect()
    })
}

/// Validates the bounds before the key is looked up (Redis's order).
fn check_bounds(req: &RangeRequest) -> Result<(), &'static str> {
    match req.kind {
        RangeKind::Rank => {
            if parse_i64(&req.min).is_none() || parse_i64(&req.max).is_none() {
                return Err(errors::NOT_INTEGER);
            }
        }
        RangeKind::Score => {
            ScoreRange::parse(&req.min, &req.max).ok_or(NOT_FLOAT_RANGE)?;
        }
        RangeKind::Lex => {
            LexRange::parse(&req.min, &req.max).ok_or(NOT_LEX_RANGE)?;
        }
    }
    Ok(())
}

fn range_command(ctx: &mut Ctx, argv: &Argv, preset: Option<RangeKind>, reverse: bool) {
    let req = match parse_range(argv, 1, preset, reverse, false) {
        Ok(req) => req,
        Err(e) => return ctx.out.error(&e),
    };
    if let Err(e) = check_bounds(&req) {
        return ctx.out.error(e);
    }
    let now = ctx.now_ms;
    let z = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(z)) => z,
    };
    match select(z, &req) {
        Ok(items) => reply_elements(ctx.out, &items, req.with_scores),
        Err(e) => ctx.out.error(e),
    }
}

fn zrange(ctx: &mut Ctx, argv: &Argv) {
    range_command(ctx, argv, None, false);
}

fn zrevrange(ctx: &mut Ctx, argv: &Argv) {
    range_command(ctx, argv, Some(RangeKind::Rank), true);
}

fn zrangebyscore(ctx: &mut Ctx, argv: &Argv) {
    range_command(ctx, argv, Some(RangeKind::Score), false);
}

fn zrevrangebyscore(ctx: &mut Ctx, argv: &Argv) {
    range_command(ctx, argv, Some(RangeKind::Score), true);
}

fn zrangebylex(ctx: &mut Ctx, argv: &Argv) {
    range_command(ctx, argv, Some(RangeKind::Lex), false);
}

fn zrevrangebylex(ctx: &mut Ctx, argv: &Argv) {
    range_command(ctx, argv, Some(RangeKind::Lex), true);
}

/// Stores `items` as a new sorted set under `dst` (deleting it when empty)
/// and replies with the count.
fn store_result(ctx: &mut Ctx, dst: &[u8], items: &[(Vec<u8>, f64)]) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    let db = ctx.db();
    if items.is_empty() {
        db.delete(dst, now);
        return ctx.out.int(0);
    }
    let max_len = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(items.len(), max_len, &limits);
    for (m, s) in items {
        z.insert(m, *s, &limits);
    }
    let len = z.len();
    db.set(dst, Value::ZSet(Box::new(z)), false, now);
    ctx.out.int(len as i64);
}

fn zrangestore(ctx: &mut Ctx, argv: &Argv) {
    let req = match parse_range(argv, 2, None, false, true) {
        Ok(req) => req,
        Err(e) => return ctx.out.error(&e),
    };
    if let Err(e) = check_bounds(&req) {
        return ctx.out.error(e);
    }
    let now = ctx.now_ms;
    let items: Vec<(Vec<u8>, f64)> = match read(&mut ctx.state.dbs[ctx.db], argv.get(2), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => Vec::new(),
        Ok(Some(z)) => match select(z, &req) {
            Ok(items) => items.into_iter().map(|(m, s)| (m.to_vec(), s)).collect(),
            Err(e) => return ctx.out.error(e),
        },
    };
    store_result(ctx, argv.get(1), &items);
}

fn remrange(ctx: &mut Ctx, argv: &Argv, kind: RangeKind) {
    let req = RangeRequest {
        kind,
        reverse: false,
        with_scores: false,
        offset: 0,
        limit: -1,
        min: argv.get(2).to_vec(),
        max: argv.get(3).to_vec(),
    };
    if let Err(e) = check_bounds(&req) {
        return ctx.out.error(e);
    }
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = ctx.db();
    let z = match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(z)) => z,
    };
    let members: Vec<Vec<u8>> = match select(z, &req) {
        Ok(items) => items.into_iter().map(|(m, _)| m.to_vec()).collect(),
        Err(e) => return ctx.out.error(e),
    };
    for m in &members {
        z.remove(m);
    }
    if !members.is_empty() {
        db.modified(key);
        delete_if_empty(db, key, now);
    }
    ctx.out.int(members.len() as i64);
}

fn zremrangebyrank(ctx: &mut Ctx, argv: &Argv) {
    remrange(ctx, argv, RangeKind::Rank);
}

fn zremrangebyscore(ctx: &mut Ctx, argv: &Argv) {
    remrange(ctx, argv, RangeKind::Score);
}

fn zremrangebylex(ctx: &mut Ctx, argv: &Argv) {
    remrange(ctx, argv, RangeKind::Lex);
}

// ------------------------------------------------------------------ pops

/// Pops up to `count` members from the low (`max` false) or high end.
pub fn pop(z: &mut ZSet, max: bool, count: usize) -> Vec<(Vec<u8>, f64)> {
    let n = count.min(z.len());
    let items: Vec<(Vec<u8>, f64)> = if max {
        z.iter_rev_from(z.len().saturating_sub(1))
            .take(n)
            .map(|(m, s)| (m.to_vec(), s))
            .collect()
    } else {
        z.iter().take(n).map(|(m, s)| (m.to_vec(), s)).collect()
    };
    for (m, _) in &items {
        z.remove(m);
    }
    items
}

/// The reply shapes of the pops.
#[derive(Clone, Copy, PartialEq)]
pub enum PopShape {
    /// ZPOPMIN in RESP2, or without a count: member, score, member, ...
    Flat,
    /// ZPOPMIN with a count in RESP3: [[member, score], ...].
    Nested,
    /// ZMPOP / BZMPOP: [key, [[member, score], ...]].
    WithKey,
}

/// Pops from `key` and writes the reply in `shape`.
pub fn pop_reply(db: &mut Db, key: &[u8], max: bool, count: usize, now: u64, out: &mut ReplyBuf, shape: PopShape) {
    let z = write(db, key, now).ok().flatten().expect("caller checked");
    let items = pop(z, max, count);
    if !items.is_empty() {
        db.modified(key);
        delete_if_empty(db, key, now);
    }
    match shape {
        PopShape::WithKey => {
            out.array(2);
            out.bulk(key);
            out.array(items.len());
        }
        PopShape::Nested => out.array(items.len()),
        PopShape::Flat => out.array(items.len() * 2),
    }
    for (m, s) in &items {
        if shape != PopShape::Flat {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
}

fn pop_command(ctx: &mut Ctx, argv: &Argv, max: bool) {
    if argv.len() > 3 {
        return ctx.out.error(errors::SYNTAX);
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
    let nested = ctx.out.resp3 && count.is_some();
    let now = ctx.now_ms;
    let key = argv.get(1);
    let db = &mut ctx.state.dbs[ctx.db];
    match write(db, key, now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(_)) => {}
    }
    if count == Some(0) {
        return ctx.out.array(0);
    }
    let shape = if nested { PopShape::Nested } else { PopShape::Flat };
    pop_reply(db, key, max, count.unwrap_or(1), now, ctx.out, shape);
}

fn zpopmin(ctx: &mut Ctx, argv: &Argv) {
    pop_command(ctx, argv, false);
}

fn zpopmax(ctx: &mut Ctx, argv: &Argv) {
    pop_command(ctx, argv, true);
}

/// ZMPOP's MIN|MAX: true for MAX.
pub fn parse_side(arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"min") {
        Some(false)
    } else if arg.eq_ignore_ascii_case(b"max") {
        Some(true)
    } else {
        None
    }
}

fn zmpop(ctx: &mut Ctx, argv: &Argv) {
    let args = match typed::parse_mpop(argv, 1, parse_side) {
        Ok(args) => args,
        Err(e) => return ctx.out.error(e),
    };
    let now = ctx.now_ms;
    let db = &mut ctx.state.dbs[ctx.db];
    for key in &args.keys {
        match write(db, key, now) {
            Err(e) => return ctx.out.error(e),
            Ok(None) => continue,
            Ok(Some(zset)) => {
                let popped = args.count.min(zset.len()).to_string();
                pop_reply(db, key, args.side, args.count, now, ctx.out, PopShape::WithKey);
                // Replicas get the plain pop with the count taken.
                let command: &[u8] = if args.side { b"ZPOPMAX" } else { b"ZPOPMIN" };
                return ctx.propagate_as(&[command, key, popped.as_bytes()]);
            }
        }
    }
    ctx.out.null_array();
}

fn zrandmember(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let (count, with_scores) = match argv.len() {
        2 => (None, false),
        3 | 4 => {
            let count =
                match parse_i64(argv.get(2)) {
                    None => return ctx.out.error(errors::NOT_INTEGER),
                    Some(i64::MIN) => return ctx.out.error(
                        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                    ),
                    Some(n) => n,
                };
            let with_scores = argv.len() == 4;
            if with_scores {
                if !argv.get(3).eq_ignore_ascii_case(b"withscores") {
                    return ctx.out.error(errors::SYNTAX);
                }
                if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
                    return ctx.out.error("ERR value is out of range");
                }
            }
            (Some(count), with_scores)
        }
        _ => return ctx.out.error(errors::SYNTAX),
    };
    let state = &mut *ctx.state;
    let rng = &mut state.rng;
    let z = match read(&mut state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) if count.is_none() => return ctx.out.null(),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(z)) => z,
    };
    let Some(count) = count else {
        let i = (rng.next_u64() % z.len() as u64) as usize;
        return ctx.out.bulk(z.nth_member(i).expect("in range").0);
    };
    let picks = random_picks(z.len(), count, || rng.next_u64());
    let items: Vec<(&[u8], f64)> = picks.into_iter().map(|i| z.nth_member(i).expect("in range")).collect();
    reply_elements(ctx.out, &items, with_scores);
}

// ------------------------------------------------------------- set algebra

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(how: Aggregate, acc: f64, v: f64) -> f64 {
    match how {
        Aggregate::Sum => {
            let r = acc + v;
            if r.is_nan() {
                0.0
            } else {
                r
            }
        }
        Aggregate::Min => acc.min(v),
        Aggregate::Max => acc.max(v),
    }
}

/// One input of ZUNION & co.: a sorted set, a plain set (scores 1), or
/// nothing.
enum Input {
    ZSet(Vec<(Vec<u8>, f64)>, std::collections::HashMap<Vec<u8>, f64>),
    Missing,
}

impl Input {
    fn len(&self) -> usize {
        match self {
            Input::ZSet(v, _) => v.len(),
            Input::Missing => 0,
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Input::ZSet(_, map) => map.get(m).copied(),
            Input::Missing => None,
        }
    }
}

fn load_input(db: &mut Db, key: &[u8], now: u64) -> Result<Input, &'static str> {
    let Some(entry) = db.read(key, now) else {
        return Ok(Input::Missing);
    };
    let items: Vec<(Vec<u8>, f64)> = match &entry.value {
        Value::ZSet(z) => z.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
        Value::Set(s) => s.iter().map(|e| (e.to_vec(), 1.0)).collect(),
        _ => return Err(errors::WRONGTYPE),
    };
    let map = items.iter().cloned().collect();
    Ok(Input::ZSet(items, map))
}

/// What ZUNION & co. computed.
struct SetOpResult {
    /// Sorted by score, then member.
    items: Vec<(Vec<u8>, f64)>,
    with_scores: bool,
    /// ZINTERCARD's LIMIT (0 = none).
    limit: usize,
}

/// Parses and computes ZUNION/ZINTER/ZDIFF[STORE]/ZINTERCARD. Returns the
/// result sorted by score then member, and whether WITHSCORES was given.
fn set_op(
    ctx: &mut Ctx,
    argv: &Argv,
    numkeys_at: usize,
    op: SetOp,
    store: bool,
    card_only: bool,
) -> Result<SetOpResult, String> {
    let name = String::from_utf8_lossy(argv.get(0)).to_ascii_lowercase();
    let setnum = parse_i64(argv.get(numkeys_at)).ok_or(errors::NOT_INTEGER)?;
    if setnum < 1 {
        return Err(format!("ERR at least 1 input key is needed for '{name}' command"));
    }
    let setnum = setnum as usize;
    if setnum > argv.len() - (numkeys_at + 1) {
        return Err(errors::SYNTAX.into());
    }
    let now = ctx.now_ms;
    let mut inputs = Vec::with_capacity(setnum);
    for i in 0..setnum {
        inputs.push(load_input(ctx.db(), argv.get(numkeys_at + 1 + i), now)?);
    }
    let mut weights = vec![1.0f64; setnum];
    let mut how = Aggregate::Sum;
    let mut with_scores = false;
    let mut limit = 0usize;
    let mut j = numkeys_at + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let opt = argv.get(j);
        if op != SetOp::Diff && !card_only && remaining > setnum && opt.eq_ignore_ascii_case(b"weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = parse_score(argv.get(j + 1 + i)).ok_or("ERR weight value is not a float")?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && opt.eq_ignore_ascii_case(b"aggregate") {
            let a = argv.get(j + 1);
            how = if a.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if a.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if a.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(errors::SYNTAX.into());
            };
            j += 2;
        } else if !store && !card_only && opt.eq_ignore_ascii_case(b"withscores") {
            with_scores = true;
            j += 1;
        } else if card_only && remaining >= 2 && opt.eq_ignore_ascii_case(b"limit") {
            match parse_i64(argv.get(j + 1)) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return Err("ERR LIMIT can't be negative".into()),
            }
            j += 2;
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    let weighted = |score: f64, w: f64| {
        let v = score * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: std::collections::HashMap<Vec<u8>, f64> = std::collections::HashMap::new();
            let mut order: Vec<Vec<u8>> = Vec::new();
            for (input, &w) in inputs.iter().zip(&weights) {
                if let Input::ZSet(items, _) = input {
                    for (m, s) in items {
                        let v = weighted(*s, w);
                        match acc.get_mut(m) {
                            Some(a) => *a = aggregate(how, *a, v),
                            None => {
                                acc.insert(m.clone(), v);
                                order.push(m.clone());
                            }
                        }
                    }
                }
            }
            result = order
                .into_iter()
                .map(|m| {
                    let s = acc[&m];
                    (m, s)
                })
                .collect();
        }
        SetOp::Inter => {
            let mut idx: Vec<usize> = (0..setnum).collect();
            idx.sort_by_key(|&i| inputs[i].len());
            if let Input::ZSet(first, _) = &inputs[idx[0]] {
                'outer: for (m, s) in first {
                    let mut score = weighted(*s, weights[idx[0]]);
                    for &i in &idx[1..] {
                        match inputs[i].score(m) {
                            Some(o) => score = aggregate(how, score, weighted(o, weights[i])),
                            None => continue 'outer,
                        }
                    }
                    result.push((m.clone(), score));
                    if card_only && limit > 0 && result.len() >= limit {
                        break;
                    }
                }
            }
        }
        SetOp::Diff => {
            if let Input::ZSet(first, _) = &inputs[0] {
                for (m, s) in first {
                    if inputs[1..].iter().all(|i| i.score(m).is_none()) {
                        result.push((m.clone(), *s));
                    }
                }
            }
        }
    }
    result.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    Ok(SetOpResult {
        items: result,
        with_scores,
        limit,
    })
}

fn set_op_reply(ctx: &mut Ctx, argv: &Argv, op: SetOp) {
    match set_op(ctx, argv, 1, op, false, false) {
        Err(e) => ctx.out.error(&e),
        Ok(r) => {
            let refs: Vec<(&[u8], f64)> = r.items.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
            reply_elements(ctx.out, &refs, r.with_scores);
        }
    }
}

fn set_op_store(ctx: &mut Ctx, argv: &Argv, op: SetOp) {
    match set_op(ctx, argv, 2, op, true, false) {
        Err(e) => ctx.out.error(&e),
        Ok(r) => store_result(ctx, argv.get(1), &r.items),
    }
}

fn zunion(ctx: &mut Ctx, argv: &Argv) {
    set_op_reply(ctx, argv, SetOp::Union);
}

fn zinter(ctx: &mut Ctx, argv: &Argv) {
    set_op_reply(ctx, argv, SetOp::Inter);
}

fn zdiff(ctx: &mut Ctx, argv: &Argv) {
    set_op_reply(ctx, argv, SetOp::Diff);
}

fn zunionstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_store(ctx, argv, SetOp::Union);
}

fn zinterstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_store(ctx, argv, SetOp::Inter);
}

fn zdiffstore(ctx: &mut Ctx, argv: &Argv) {
    set_op_store(ctx, argv, SetOp::Diff);
}

fn zintercard(ctx: &mut Ctx, argv: &Argv) {
    match set_op(ctx, argv, 1, SetOp::Inter, false, true) {
        Err(e) => ctx.out.error(&e),
        Ok(r) => {
            let n = if r.limit > 0 {
                r.items.len().min(r.limit)
            } else {
                r.items.len()
            };
            ctx.out.int(n as i64)
        }
    }
}

fn zscan(ctx: &mut Ctx, argv: &Argv) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        return ctx.out.error(errors::INVALID_CURSOR);
    };
    let options = match parse_scan_options(argv, 3, false) {
        Ok(options) => options,
        Err(e) => return ctx.out.error(e),
    };
    let now = ctx.now_ms;
    let z = match read(&mut ctx.state.dbs[ctx.db], argv.get(1), now) {
        Err(e) => return ctx.out.error(e),
        Ok(None) => return reply_scan(ctx.out, 0, &[]),
        Ok(Some(z)) => z,
    };
    let mut found: Vec<(&[u8], f64)> = Vec::new();
    let mut next = cursor;
    let mut budget = options.count.saturating_mul(10).max(1);
    loop {
        next = z.scan(next, |m, s| found.push((m, s)));
        budget -= 1;
        if next == 0 || budget == 0 || found.len() as u64 >= options.count {
            break;
        }
    }
    let scores: Vec<Vec<u8>> = found
        .iter()
        .map(|(_, s)| crate::resp::reply::format_double(*s).into_bytes())
        .collect();
    let mut items: Vec<&[u8]> = Vec::new();
    for ((m, _), s) in found.iter().zip(&scores) {
        if let Some(pattern) = &options.pattern {
            if !crate::glob::matches(pattern, m, false) {
                continue;
            }
        }
        items.push(m);
        items.push(s);
    }
    reply_scan(ctx.out, next, &items);
}
