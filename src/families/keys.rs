//! Generic key commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, RENAME, RENAMENX,
//! COPY, MOVE, OBJECT, and the commands over a whole database or all of them:
//! DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHDB, FLUSHALL, SWAPDB.
//!
//! Whole-database commands visit every shard. SCAN's cursor carries the shard
//! being scanned and that shard's table cursor: `cursor = table_cursor *
//! shards + shard`, so shards are scanned one after another, each with the
//! table's reverse-binary cursor, and every key present for the whole scan is
//! returned (Redis's guarantee), whatever the shard count. With one shard the
//! cursor is exactly Redis's.

use crate::command::{asynchronous, conn, container, keyed, split, CommandDef, Ctx, LocalFuture, Merge};
use crate::errors;
use crate::keyspace::db::lru_clock;
use crate::keyspace::{Db, Value};
use crate::resp::parse::parse_i64;
use crate::resp::Argv;
use crate::session::Session;
use crate::shard::ShardState;
use crate::slot::key_shard;
use crate::OwnedArgv;
use cores::ShardId;

pub static COMMANDS: &[CommandDef] = &[
    split("del", del, Merge::SumIntegers),
    split("unlink", del, Merge::SumIntegers),
    split("exists", exists, Merge::SumIntegers),
    split("touch", touch, Merge::SumIntegers),
    keyed("type", type_command),
    keyed("rename", rename),
    keyed("renamenx", renamenx),
    keyed("move", move_command),
    asynchronous("copy", copy),
    container("object"),
    keyed("object|encoding", object_encoding),
    keyed("object|refcount", object_refcount),
    keyed("object|idletime", object_idletime),
    keyed("object|freq", object_freq),
    conn("object|help", object_help),
    asynchronous("dbsize", dbsize),
    asynchronous("keys", keys),
    asynchronous("scan", scan),
    asynchronous("randomkey", randomkey),
    asynchronous("flushdb", flushdb),
    asynchronous("flushall", flushall),
    asynchronous("swapdb", swapdb),
];

/// SCAN's default COUNT, and how many buckets per requested key a SCAN call
/// may visit before returning (Redis's `maxiterations = count * 10`).
const SCAN_DEFAULT_COUNT: u64 = 10;
const SCAN_BUCKETS_PER_KEY: u64 = 10;
/// Redis shares the integers 0..9999 (OBJ_SHARED_INTEGERS); OBJECT REFCOUNT
/// reports such values with the shared refcount (OBJ_SHARED_REFCOUNT).
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn del(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let db = ctx.db();
    let deleted = argv.iter().skip(1).filter(|key| db.delete(key, now)).count();
    ctx.out.int(deleted as i64);
}

fn exists(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let db = ctx.db();
    let found = argv.iter().skip(1).filter(|key| db.exists(key, now)).count();
    ctx.out.int(found as i64);
}

fn touch(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let db = ctx.db();
    let touched = argv.iter().skip(1).filter(|key| db.read(key, now).is_some()).count();
    ctx.out.int(touched as i64);
}

fn type_command(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let name = match ctx.db().peek(argv.get(1), now) {
        Some(entry) => entry.value.value_type().name(),
        None => "none",
    };
    ctx.out.simple(name);
}

fn rename(ctx: &mut Ctx, argv: &Argv) {
    rename_generic(ctx, argv, false);
}

fn renamenx(ctx: &mut Ctx, argv: &Argv) {
    rename_generic(ctx, argv, true);
}

fn rename_generic(ctx: &mut Ctx, argv: &Argv, nx: bool) {
    let (source, destination) = (argv.get(1), argv.get(2));
    let now = ctx.now_ms;
    let db = ctx.db();
    if db.write(source, now).is_none() {
        return ctx.out.error(errors::NO_SUCH_KEY);
    }
    if source == destination {
        return if nx { ctx.out.int(0) } else { ctx.out.ok() };
    }
    if db.write(destination, now).is_some() {
        if nx {
            return ctx.out.int(0);
        }
        db.delete(destination, now);
    }
    let (value, expire_at) = db.take(source, now).expect("source checked above");
    db.insert(destination, value, expire_at, now);
    if nx {
        ctx.out.int(1)
    } else {
        ctx.out.ok()
    }
}

/// Parses a database index as Redis's getIntFromObjectOrReply does.
fn parse_db_index(arg: &[u8]) -> Option<i64> {
    parse_i64(arg).filter(|&i| i >= i32::MIN as i64 && i <= i32::MAX as i64)
}

fn move_command(ctx: &mut Ctx, argv: &Argv) {
    let Some(target) = parse_db_index(argv.get(2)) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    if target < 0 || target as usize >= ctx.state.dbs.len() {
        return ctx.out.error(errors::DB_INDEX_OUT_OF_RANGE);
    }
    let target = target as usize;
    if target == ctx.db {
        return ctx.out.error(errors::SAME_OBJECT);
    }
    let key = argv.get(1);
    let now = ctx.now_ms;
    if ctx.db().write(key, now).is_none() {
        return ctx.out.int(0);
    }
    if ctx.state.dbs[target].write(key, now).is_some() {
        return ctx.out.int(0);
    }
    let (value, expire_at) = ctx.db().take(key, now).expect("checked above");
    ctx.state.dbs[target].insert(key, value, expire_at, now);
    ctx.out.int(1);
}

/// COPY's parsed arguments.
struct CopyArgs {
    source: Vec<u8>,
    destination: Vec<u8>,
    destination_db: usize,
    replace: bool,
}

fn parse_copy(argv: &Argv, source_db: usize, databases: usize) -> Result<CopyArgs, String> {
    let mut args = CopyArgs {
        source: argv.get(1).to_vec(),
        destination: argv.get(2).to_vec(),
        destination_db: source_db,
        replace: false,
    };
    let mut i = 3;
    while i < argv.len() {
        let arg = argv.get(i);
        if arg.eq_ignore_ascii_case(b"replace") {
            args.replace = true;
        } else if arg.eq_ignore_ascii_case(b"db") && i + 1 < argv.len() {
            let index = parse_db_index(argv.get(i + 1)).ok_or(errors::NOT_INTEGER)?;
            if index < 0 || index as usize >= databases {
                return Err(errors::DB_INDEX_OUT_OF_RANGE.into());
            }
            args.destination_db = index as usize;
            i += 1;
        } else {
            return Err(errors::SYNTAX.into());
        }
        i += 1;
    }
    if args.destination_db == source_db && args.source == args.destination {
        return Err(errors::SAME_OBJECT.into());
    }
    Ok(args)
}

/// Reads COPY's source: a copy of the value and its expiry.
fn copy_read(db: &mut Db, key: &[u8], now_ms: u64) -> Option<(Value, Option<u64>)> {
    let value = db.read(key, now_ms)?.value.clone();
    Some((value, db.expire_at(key)))
}

/// Writes COPY's destination; returns COPY's reply (1 copied, 0 not).
fn copy_write(db: &mut Db, key: &[u8], copied: (Value, Option<u64>), replace: bool, now_ms: u64) -> i64 {
    if db.write(key, now_ms).is_some() {
        if !replace {
            return 0;
        }
        db.delete(key, now_ms);
    }
    db.insert(key, copied.0, copied.1, now_ms);
    1
}

/// COPY source destination [DB n] [REPLACE]. The destination may be in
/// another database and on another shard: both shards are locked, the value
/// is read on one and written on the other.
fn copy(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let databases = session.shard.state().dbs.len();
        let source_db = session.db;
        let args = match parse_copy(&argv.argv(), source_db, databases) {
            Ok(args) => args,
            Err(message) => return session.out.error(&message),
        };
        let shards = session.shard_count();
        let source_shard = key_shard(&args.source, shards);
        let destination_shard = key_shard(&args.destination, shards);
        let CopyArgs {
            source,
            destination,
            destination_db,
            replace,
        } = args;
        let copied = if source_shard == destination_shard {
            let collect = session.out.collect_effects;
            let command = crate::repl::feed::active()
                .then(|| crate::repl::feed::Op::new(source_db, &argv.argv().iter().collect::<Vec<_>>()));
            let (copied, effect) = session
                .call(source_shard, move |state| {
                    let now = crate::exec::now_ms();
                    let copied = match copy_read(&mut state.dbs[source_db], &source, now) {
                        Some(value) => copy_write(&mut state.dbs[destination_db], &destination, value, replace, now),
                        None => 0,
                    };
                    crate::blocking::notify_if_ready(state);
                    match (copied, command, collect) {
                        (0, _, _) | (_, None, _) => (copied, None),
                        // Propagated here, on the keys' shard, as applied.
                        (_, Some(command), false) => {
                            crate::repl::feed::propagate_ops(&[command], false);
                            (copied, None)
                        }
                        (_, command, true) => (copied, command),
                    }
                })
                .await;
            if let Some(op) = effect {
                session.out.propagate(vec![op]);
            }
            copied
        } else {
            let mut targets = vec![source_shard, destination_shard];
            targets.sort();
            session
                .locked(&targets, async |s: &mut Session| {
                    let value = s
                        .call(source_shard, move |state| {
                            copy_read(&mut state.dbs[source_db], &source, crate::exec::now_ms())
                        })
                        .await;
                    let Some(value) = value else {
                        return 0;
                    };
                    let copied = s
                        .call(destination_shard, move |state| {
                            let now = crate::exec::now_ms();
                            let copied = copy_write(&mut state.dbs[destination_db], &destination, value, replace, now);
                            crate::blocking::notify_if_ready(state);
                            copied
                        })
                        .await;
                    if copied == 1 {
                        s.propagate_command(&argv.argv());
                    }
                    copied
                })
                .await
        };
        session.out.int(copied);
    })
}

/// Whether the configured maxmemory-policy is an LFU one.
fn lfu_policy(state: &ShardState) -> bool {
    state.config.get("maxmemory-policy").is_some_and(|p| p.contains("lfu"))
}

/// Whether Redis would store small integers as shared objects: always unless
/// maxmemory is set with an LRU or LFU policy (which need per-key metadata).
pub fn shares_integers(state: &ShardState) -> bool {
    let maxmemory_set = state.config.get("maxmemory").is_some_and(|m| m != "0");
    let per_key_policy = state
        .config
        .get("maxmemory-policy")
        .is_some_and(|p| p.contains("lru") || p.contains("lfu"));
    !maxmemory_set || !per_key_policy
}

fn object_encoding(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    match ctx.db().peek(argv.get(2), now) {
        Some(entry) => {
            let name = entry.value.encoding_name();
            ctx.out.bulk(name.as_bytes());
        }
        None => ctx.out.null(),
    }
}

/// The refcount Redis would report for a value.
pub fn refcount(shares_integers: bool, value: &Value) -> i64 {
    match value {
        Value::Int(n) if (0..SHARED_INTEGERS).contains(n) && shares_integers => SHARED_REFCOUNT,
        _ => 1,
    }
}

fn object_refcount(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let shared = shares_integers(ctx.state);
    let count = ctx.state.dbs[ctx.db]
        .peek(argv.get(2), now)
        .map(|e| refcount(shared, &e.value));
    match count {
        Some(count) => ctx.out.int(count),
        None => ctx.out.null(),
    }
}

/// Seconds since the entry was last accessed, on the LRU clock.
pub fn idle_seconds(lru: u32, now_ms: u64) -> u64 {
    lru_clock(now_ms).wrapping_sub(lru) as u64
}

fn object_idletime(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let lfu = lfu_policy(ctx.state);
    let Some(lru) = ctx.db().peek(argv.get(2), now).map(|e| e.lru) else {
        return ctx.out.null();
    };
    if lfu {
        return ctx.out.error(errors::LFU_IDLETIME);
    }
    ctx.out.int(idle_seconds(lru, now) as i64);
}

fn object_freq(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let lfu = lfu_policy(ctx.state);
    if ctx.db().peek(argv.get(2), now).is_none() {
        return ctx.out.null();
    }
    if !lfu {
        return ctx.out.error(errors::LFU_FREQ);
    }
    // Tessera keeps no LFU counter yet: report Redis's initial value
    // (LFU_INIT_VAL) that a key gets on creation.
    ctx.out.int(5);
}

fn object_help(session: &mut Session, _argv: &Argv) {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    session.out.array(lines.len());
    for line in lines {
        session.out.simple(line);
    }
}

fn dbsize(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let db = session.db;
        let sizes = session
            .call_all(move |state: &mut ShardState| state.dbs[db].len())
            .await;
        session.out.int(sizes.iter().sum::<usize>() as i64);
    })
}

/// The keys of one shard's database matching `pattern` (None: all), skipping
/// expired keys without deleting them, as Redis's KEYS does.
fn op_keys(db: &Db, pattern: Option<&[u8]>, now_ms: u64) -> Vec<Vec<u8>> {
    db.entries
        .iter()
        .filter(|e| pattern.is_none_or(|p| crate::glob::matches(p, &e.key, false)))
        .filter(|e| !(e.has_expire && db.expire_at(&e.key).is_some_and(|at| at <= now_ms)))
        .map(|e| e.key.to_vec())
        .collect()
}

fn keys(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let pattern = argv.argv().get(1).to_vec();
        let pattern = if pattern == b"*" { None } else { Some(pattern) };
        let db = session.db;
        let found = session
            .call_all(move |state: &mut ShardState| op_keys(&state.dbs[db], pattern.as_deref(), crate::exec::now_ms()))
            .await;
        session.out.array(found.iter().map(Vec::len).sum());
        for key in found.iter().flatten() {
            session.out.bulk(key);
        }
    })
}

/// SCAN's options (also HSCAN, SSCAN and ZSCAN's, without TYPE).
#[derive(Clone)]
pub struct ScanOptions {
    pub count: u64,
    pub pattern: Option<Vec<u8>>,
    pub type_name: Option<Vec<u8>>,
}

/// Parses a SCAN cursor as Redis's strtoul-based check does: an optional
/// sign (a minus negates modulo 2^64, as strtoul does), then decimal digits
/// within 64 bits; nothing else, not even leading spaces.
pub fn parse_cursor(arg: &[u8]) -> Option<u64> {
    // strtoul converts nothing in an empty string and stops at its end: 0.
    if arg.is_empty() {
        return Some(0);
    }
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative { value.wrapping_neg() } else { value })
}

/// Parses the options after the cursor at `start`; TYPE only for SCAN.
pub fn parse_scan_options(argv: &Argv, start: usize, allow_type: bool) -> Result<ScanOptions, &'static str> {
    let mut options = ScanOptions {
        count: SCAN_DEFAULT_COUNT,
        pattern: None,
        type_name: None,
    };
    let mut i = start;
    while i < argv.len() {
        let arg = argv.get(i);
        let has_value = i + 1 < argv.len();
        if arg.eq_ignore_ascii_case(b"count") && has_value {
            let count = parse_i64(argv.get(i + 1)).ok_or(errors::NOT_INTEGER)?;
            if count < 1 {
                return Err(errors::SYNTAX);
            }
            options.count = count as u64;
        } else if arg.eq_ignore_ascii_case(b"match") && has_value {
            let pattern = argv.get(i + 1);
            // "*" matches everything: the same as no pattern.
            options.pattern = (pattern != b"*").then(|| pattern.to_vec());
        } else if arg.eq_ignore_ascii_case(b"type") && has_value && allow_type {
            options.type_name = Some(argv.get(i + 1).to_vec());
        } else {
            return Err(errors::SYNTAX);
        }
        i += 2;
    }
    Ok(options)
}

/// One SCAN step on one shard: visits buckets from `cursor` until `count`
/// keys were collected or the bucket budget is spent, then filters them
/// (pattern, type, expired: expired keys are deleted lazily). Returns the
/// next table cursor (0 when this shard is done) and the keys.
fn op_scan(db: &mut Db, cursor: u64, options: &ScanOptions, now_ms: u64) -> (u64, Vec<Vec<u8>>) {
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut cursor = cursor;
    let mut budget = options.count.saturating_mul(SCAN_BUCKETS_PER_KEY);
    loop {
        cursor = db.entries.scan_step(cursor, |e| found.push(e.key.to_vec()));
        budget = budget.saturating_sub(1);
        if cursor == 0 || budget == 0 || found.len() as u64 >= options.count {
            break;
        }
    }
    found.retain(|key| {
        if let Some(pattern) = &options.pattern {
            if !crate::glob::matches(pattern, key, false) {
                return false;
            }
        }
        if let Some(wanted) = &options.type_name {
            let name = db.entries.get(key).map_or("none", |e| e.value.value_type().name());
            if !wanted.eq_ignore_ascii_case(name.as_bytes()) {
                return false;
            }
        }
        !db.expire_if_needed(key, now_ms)
    });
    (cursor, found)
}

fn scan(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let Some(cursor) = parse_cursor(argv.get(1)) else {
            return session.out.error(errors::INVALID_CURSOR);
        };
        let options = match parse_scan_options(&argv, 2, true) {
            Ok(options) => options,
            Err(message) => return session.out.error(message),
        };
        let shards = session.shard_count() as u64;
        let mut shard = cursor % shards;
        let mut table_cursor = cursor / shards;
        let db = session.db;
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let next = loop {
            let step_options = ScanOptions {
                count: options.count.saturating_sub(keys.len() as u64).max(1),
                ..options.clone()
            };
            let (next_table_cursor, found) = session
                .call(ShardId(shard as u16), move |state: &mut ShardState| {
                    op_scan(&mut state.dbs[db], table_cursor, &step_options, crate::exec::now_ms())
                })
                .await;
            keys.extend(found);
            if next_table_cursor != 0 {
                break next_table_cursor.wrapping_mul(shards) + shard;
            }
            // This shard is done: the next one starts at table cursor 0, whose
            // encoding is its shard number (never 0).
            shard += 1;
            table_cursor = 0;
            if shard == shards {
                break 0;
            }
            if keys.len() as u64 >= options.count {
                break shard;
            }
        };
        session.out.array(2);
        session.out.bulk(next.to_string().as_bytes());
        session.out.array(keys.len());
        for key in &keys {
            session.out.bulk(key);
        }
    })
}

fn randomkey(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let db = session.db;
        // Pick a shard with probability proportional to its key count, then a
        // key there; retry when expiry emptied the chosen shard meanwhile.
        for _ in 0..8 {
            let sizes = session
                .call_all(move |state: &mut ShardState| state.dbs[db].len())
                .await;
            let total: usize = sizes.iter().sum();
            if total == 0 {
                break;
            }
            let mut pick = (session.shard.state().random() % total as u64) as usize;
            let shard = sizes
                .iter()
                .position(|&n| {
                    if pick < n {
                        true
                    } else {
                        pick -= n;
                        false
                    }
                })
                .expect("pick below total");
            let key = session
                .call(ShardId(shard as u16), move |state: &mut ShardState| {
                    let now = crate::exec::now_ms();
                    let ShardState { dbs, rng, .. } = state;
                    dbs[db]
                        .random_key(now, || cores::seam::Rng::next_u64(rng))
                        .map(|k| k.to_vec())
                })
                .await;
            if let Some(key) = key {
                return session.out.bulk(&key);
            }
        }
        session.out.null();
    })
}

/// Parses FLUSHDB / FLUSHALL's optional ASYNC | SYNC. Both flush at once.
fn flush_args_ok(argv: &Argv) -> bool {
    match argv.len() {
        1 => true,
        2 => argv.get(1).eq_ignore_ascii_case(b"async") || argv.get(1).eq_ignore_ascii_case(b"sync"),
        _ => false,
    }
}

fn flushdb(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if !flush_args_ok(&argv.argv()) {
            return session.out.error(errors::SYNTAX);
        }
        let db = session.db;
        let targets = session.all_shards();
        session
            .locked(&targets, async |s: &mut Session| {
                s.call_all(move |state: &mut ShardState| {
                    state.dbs[db].flush(crate::exec::now_ms());
                    crate::tracking::clear_table();
                })
                .await;
                // Always propagated, even when the database was empty.
                s.propagate_command(&argv.argv());
            })
            .await;
        // Tracking clients drop their whole cache, as Redis's FLUSHDB.
        crate::tracking::flushed();
        session.out.ok();
    })
}

fn flushall(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if !flush_args_ok(&argv.argv()) {
            return session.out.error(errors::SYNTAX);
        }
        let targets = session.all_shards();
        session
            .locked(&targets, async |s: &mut Session| {
                let segments = s
                    .call_all(|state: &mut ShardState| {
                        let now = crate::exec::now_ms();
                        let saving = !state.config.settings.save.is_empty();
                        crate::tracking::clear_table();
                        for db in state.dbs.iter_mut() {
                            db.flush(now);
                            if saving {
                                // The empty dataset is saved below: nothing is unsaved.
                                db.stats.dirty = 0;
                            }
                        }
                        saving.then(|| crate::persist::wal::rotate_for_snapshot(state, now))
                    })
                    .await;
                // Redis saves the emptied dataset right away when save
                // points exist, so a restart does not bring the keys back.
                let segment = segments.iter().flatten().copied().min().unwrap_or(0);
                let saved = segments[0].is_some() && super::persistence::save_empty(&s.shard.state(), segment);
                if saved {
                    s.call_all(move |state: &mut ShardState| crate::persist::wal::snapshot_written(state, segment))
                        .await;
                }
                // Always propagated, even when the dataset was empty.
                s.propagate_command(&argv.argv());
            })
            .await;
        crate::tracking::flushed();
        session.out.ok();
    })
}

/// Swaps two databases' data on one shard; watchers of keys present in
/// either are touched (Redis 7.0's touchAllWatchedKeysInDb both ways).
pub fn op_swapdb(dbs: &mut [Db], first: usize, second: usize, now_ms: u64) {
    if first == second {
        return;
    }
    let (low, high) = (first.min(second), first.max(second));
    let (head, tail) = dbs.split_at_mut(high);
    let (a, b) = (&mut head[low], &mut tail[0]);
    a.touch_all_watched(Some(b), now_ms);
    b.touch_all_watched(Some(a), now_ms);
    a.swap_data(b);
    a.stats.dirty += 1;
}

fn swapdb(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let Some(first) = parse_db_index(argv.get(1)) else {
            return session.out.error(errors::INVALID_FIRST_DB_INDEX);
        };
        let Some(second) = parse_db_index(argv.get(2)) else {
            return session.out.error(errors::INVALID_SECOND_DB_INDEX);
        };
        let databases = session.shard.state().dbs.len() as i64;
        if first < 0 || first >= databases || second < 0 || second >= databases {
            return session.out.error(errors::DB_INDEX_OUT_OF_RANGE);
        }
        let (first, second) = (first as usize, second as usize);
        let targets = session.all_shards();
        session
            .locked(&targets, async |s: &mut Session| {
                s.call_all(move |state: &mut ShardState| {
                    op_swapdb(&mut state.dbs, first, second, crate::exec::now_ms());
                    crate::tracking::clear_table();
                    // Clients blocked in either database may be served now.
                    crate::blocking::notify_if_ready(state);
                })
                .await;
                s.propagate_command(&argv);
            })
            .await;
        crate::tracking::flushed();
        session.out.ok();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with(keys: &[&str]) -> Db {
        let mut db = Db::default();
        for key in keys {
            db.set(key.as_bytes(), Value::from_bytes(b"v"), false, 0);
        }
        db
    }

    #[test]
    fn cursor_parsing_is_strict() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1a"), None);
        assert_eq!(parse_cursor(b""), Some(0));
    }

    #[test]
    fn scan_steps_cover_the_table_and_filter() {
        let names: Vec<String> = (0..500).map(|i| format!("key:{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut db = db_with(&refs);
        db.set_expire(b"key:7", 10);
        let options = ScanOptions {
            count: 7,
            pattern: Some(b"key:*7".to_vec()),
            type_name: Some(b"STRING".to_vec()),
        };
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = op_scan(&mut db, cursor, &options, 100);
            seen.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let expected: std::collections::HashSet<Vec<u8>> = names
            .iter()
            .filter(|n| n.ends_with('7') && n.as_str() != "key:7")
            .map(|n| n.as_bytes().to_vec())
            .collect();
        assert_eq!(seen, expected);
        assert!(!db.exists(b"key:7", 100), "expired key met by SCAN is deleted");
    }

    #[test]
    fn swapdb_swaps_data_and_keys_filter_expired() {
        let mut dbs = vec![db_with(&["a", "b"]), db_with(&["c"])];
        dbs[0].set_expire(b"b", 5);
        op_swapdb(&mut dbs, 1, 0, 0);
        assert_eq!(dbs[0].len(), 1);
        assert_eq!(dbs[1].len(), 2);
        let mut keys = op_keys(&dbs[1], None, 10);
        keys.sort();
        assert_eq!(keys, vec![b"a".to_vec()]);
        assert_eq!(op_keys(&dbs[1], Some(b"[ab]"), 0).len(), 2);
    }

    #[test]
    fn swapdb_and_flush_touch_watchers_of_live_keys_only() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let flag = || Arc::new(AtomicBool::new(false));
        let mut dbs = vec![db_with(&["live"]), db_with(&["stale", "mine"])];
        dbs[1].set_expire(b"stale", 5);
        let (live, stale, absent, mine) = (flag(), flag(), flag(), flag());
        dbs[1].watch(b"live", live.clone(), 10);
        dbs[1].watch(b"stale", stale.clone(), 10);
        dbs[1].watch(b"absent", absent.clone(), 10);
        dbs[0].watch(b"mine", mine.clone(), 10);
        op_swapdb(&mut dbs, 0, 1, 10);
        assert!(live.load(Ordering::Acquire), "absent replaced by live is a change");
        assert!(mine.load(Ordering::Acquire), "absent replaced by live is a change");
        assert!(!stale.load(Ordering::Acquire), "stale replaced by absent is no change");
        assert!(!absent.load(Ordering::Acquire));
        let (kept, gone) = (flag(), flag());
        dbs[0].watch(b"stale", kept.clone(), 10);
        dbs[0].watch(b"mine", gone.clone(), 10);
        dbs[0].flush(10);
        assert!(gone.load(Ordering::Acquire), "FLUSHDB touches watchers of live keys");
        assert!(!kept.load(Ordering::Acquire), "FLUSHDB leaves watchers of stale keys");
    }

    #[test]
    fn copy_respects_replace() {
        let mut db = db_with(&["src", "dst"]);
        db.set_expire(b"src", 1_000);
        let value = copy_read(&mut db, b"src", 0).unwrap();
        assert_eq!(copy_write(&mut db, b"dst", value.clone(), false, 0), 0);
        assert_eq!(copy_write(&mut db, b"dst", value, true, 0), 1);
        assert_eq!(db.expire_at(b"dst"), Some(1_000));
    }
}
