//! The request path after parsing: command lookup and the generic checks
//! (unknown command, arity, auth, MULTI queueing) done once from the spec,
//! then routing: inline on the owning core, one hop to a remote shard, or a
//! multi-shard execution under shard locks (split by shard, or gather the
//! keys to this core and write the changes back).

use crate::command::{self, CommandSpec, Cross, Ctx, Flags, Handler, KeyedFn, Merge};
use crate::errors;
use crate::keyspace::Value;
use crate::resp::{Argv, ReplyBuf};
use crate::session::{Queued, ReplyMode, Session};
use crate::shard::ShardState;
use crate::slot::key_shard;
use crate::tracking::Caller;
use crate::OwnedArgv;
use cores::seam::{Clock, SystemClock};
use cores::ShardId;
use std::collections::BTreeMap;
use std::time::Instant;

pub fn now_ms() -> u64 {
    SystemClock.unix_ms()
}

/// Commands that act on the MULTI state itself and are never queued.
fn is_transaction_control(spec: &CommandSpec) -> bool {
    matches!(
        spec.name.as_str(),
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// What a RESP2 connection in Pub/Sub mode may run.
fn allowed_in_pubsub(spec: &CommandSpec) -> bool {
    matches!(
        spec.name.as_str(),
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// Replies with a rejection (before the command runs) and counts it.
fn reject(session: &mut Session, spec: Option<&CommandSpec>, message: &str) {
    session.out.error(message);
    let mut state = session.shard.state();
    if let Some(spec) = spec {
        state.stats.commands[spec.index].rejected_calls += 1;
    }
    let prefix = message.split(' ').next().unwrap_or("ERR");
    state.stats.record_error(prefix.as_bytes());
    if session.multi.is_some() {
        session.multi_error = true;
    }
}

/// Runs one parsed command for the session.
pub async fn execute(session: &mut Session, argv: &Argv<'_>) {
    if crate::tracking::over_limit() {
        // As Redis before each command: the tracking table is brought back
        // to tracking-table-max-keys, and what that sends this client goes
        // before the reply.
        for target in session.all_shards() {
            session.call(target, |_| crate::tracking::enforce_limit()).await;
        }
        crate::pubsub::drain(session);
    }
    let reply_start = session.out.bytes.len();
    let Some(spec) = command::lookup(argv.get(0)) else {
        let args: Vec<&[u8]> = argv.iter().collect();
        reject(session, None, &errors::unknown_command(&args));
        return finish_reply(session, reply_start);
    };
    let spec = match command::resolve(spec, argv) {
        Ok(spec) => spec,
        Err(message) => {
            reject(session, Some(spec), &message);
            return finish_reply(session, reply_start);
        }
    };
    if !spec.arity_ok(argv.len()) {
        reject(session, Some(spec), &errors::wrong_arity(&spec.name));
        return finish_reply(session, reply_start);
    }
    if !session.authenticated && !spec.flags.contains(Flags::NO_AUTH) {
        let required = session.shard.state().config.settings.requirepass.is_some();
        if required {
            reject(session, Some(spec), errors::NOAUTH);
            return finish_reply(session, reply_start);
        }
        session.authenticated = true;
    }
    if crate::families::client::pause_pending(session) {
        crate::families::client::wait_if_paused(session, spec).await;
    }
    if spec.flags.contains(Flags::DENYOOM) && over_maxmemory(session) {
        reject(session, Some(spec), errors::OOM);
        return finish_reply(session, reply_start);
    }
    if spec.flags.contains(Flags::WRITE) || spec.name == "ping" {
        if let Some(error) = crate::persist::wal::write_error() {
            reject(
                session,
                Some(spec),
                &format!("MISCONF Errors writing to the AOF file: {error}"),
            );
            return finish_reply(session, reply_start);
        }
    }
    if let Some(message) = replication_refusal(session, spec) {
        if spec.name == "exec" && session.multi.is_some() {
            // EXEC of a transaction the server's state no longer allows.
            crate::families::transaction::abort(session).await;
            reject(
                session,
                Some(spec),
                &format!("EXECABORT Transaction discarded because of: {message}"),
            );
        } else {
            reject(session, Some(spec), message);
        }
        return finish_reply(session, reply_start);
    }
    if crate::pubsub::subscribed(session) && !session.out.resp3 && !allowed_in_pubsub(spec) {
        reject(
            session,
            Some(spec),
            &format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in \
                 this context",
                spec.name
            ),
        );
        return finish_reply(session, reply_start);
    }
    {
        let mut info = session.info.borrow_mut();
        info.last_command.clear();
        info.last_command.push_str(&spec.name);
    }
    if session.multi.is_some() && !is_transaction_control(spec) {
        if spec.flags.contains(Flags::NO_MULTI) {
            reject(session, Some(spec), "ERR Command not allowed inside a transaction");
            return finish_reply(session, reply_start);
        }
        let queue = session.multi.as_mut().expect("in multi");
        queue.push(Queued {
            spec,
            argv: OwnedArgv::from_argv(argv),
        });
        session.info.borrow_mut().multi = queue.len() as i64;
        session.out.simple("QUEUED");
        return finish_reply(session, reply_start);
    }
    if spec.flags.contains(Flags::WRITE) || is_transaction_control(spec) {
        session.batch_wrote = true;
    }
    dispatch(session, spec, argv).await;
    crate::tracking::command_done(session, &spec.name);
    if crate::repl::feed::active() && session.batch_wrote {
        session.woff = crate::repl::feed::offset();
    }
    finish_reply(session, reply_start);
}

/// The replication state's objection to running `spec` now, if any:
/// NOREPLICAS for a write when fewer good replicas than
/// min-replicas-to-write are connected; on a replica, READONLY for a
/// client's write and MASTERDOWN while the link is down (Redis's checks in
/// processCommand; EXEC is judged by the commands it queued).
fn replication_refusal(session: &Session, spec: &CommandSpec) -> Option<&'static str> {
    let replica = crate::repl::replica::is_replica() && !session.from_master;
    let min_replicas = session.shard.state().config.settings.min_replicas_to_write;
    if !replica && min_replicas == 0 {
        return None;
    }
    let (write, stale_ok) = match (&session.multi, spec.name.as_str()) {
        (Some(queue), "exec") => (
            queue.iter().any(|q| q.spec.flags.contains(Flags::WRITE)),
            queue.iter().all(|q| q.spec.flags.contains(Flags::STALE)),
        ),
        _ => (spec.flags.contains(Flags::WRITE), spec.flags.contains(Flags::STALE)),
    };
    let state = session.shard.state();
    if write && !crate::repl::replica::is_replica() && min_replicas > 0 {
        let good = crate::repl::feed::good_replicas(state.config.settings.min_replicas_max_lag);
        if (good as u64) < min_replicas {
            return Some(errors::NOREPLICAS);
        }
    }
    if replica {
        return crate::repl::replica::refusal(&state, write, stale_ok);
    }
    None
}

/// Whether used memory is past `maxmemory` (when set). Tessera does not evict,
/// so every policy behaves as noeviction: commands that may grow memory are
/// refused.
pub fn over_maxmemory(session: &Session) -> bool {
    let maxmemory = session.shard.state().config.settings.maxmemory;
    maxmemory > 0 && crate::memory::used_bytes() > maxmemory
}

/// Applies CLIENT REPLY OFF/SKIP by dropping what the command wrote.
fn finish_reply(session: &mut Session, reply_start: usize) {
    match session.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => session.out.bytes.truncate(reply_start),
        ReplyMode::SkipThis => {
            session.out.bytes.truncate(reply_start);
            session.reply_mode = ReplyMode::On;
        }
        // CLIENT REPLY SKIP itself answers nothing; the next command is skipped.
        ReplyMode::Skip => {
            session.out.bytes.truncate(reply_start);
            session.reply_mode = ReplyMode::SkipThis;
        }
    }
}

/// A command that may join a batch for one remote shard: a known keyed
/// command with the right arity, whose keys all live on one other shard, from
/// a client outside MULTI whose checks need no reply.
pub fn remote_batchable(session: &Session, argv: &Argv) -> Option<(ShardId, &'static CommandSpec, KeyedFn)> {
    if session.multi.is_some()
        || session.reply_mode != ReplyMode::On
        || !session.authenticated
        || session.tx.is_some()
        || crate::families::client::pause_pending(session)
        || crate::persist::wal::write_error().is_some()
        || crate::repl::replica::is_replica()
        || crate::pubsub::monitors_active()
        || crate::pubsub::subscribed(session)
        || session.tracking.on
        || session.shard.state().config.settings.min_replicas_to_write > 0
    {
        // These need execute()'s checks (replication state, MISCONF).
        return None;
    }
    let spec = command::lookup(argv.get(0))?;
    let Handler::Keyed { run, .. } = spec.handler else {
        return None;
    };
    if !spec.arity_ok(argv.len()) {
        return None;
    }
    match route(session, spec, argv) {
        Some(target) if target != session.shard_id() => Some((target, spec, *run)),
        _ => None,
    }
}

/// Runs consecutive pipelined commands for one remote shard in one hop and
/// appends their replies in order.
pub async fn execute_remote_batch(
    session: &mut Session,
    target: ShardId,
    batch: Vec<(&'static CommandSpec, KeyedFn, OwnedArgv)>,
) {
    if let Some((spec, _, _)) = batch.last() {
        let mut info = session.info.borrow_mut();
        info.last_command.clear();
        info.last_command.push_str(&spec.name);
    }
    if batch.iter().any(|(spec, _, _)| spec.flags.contains(Flags::WRITE)) {
        session.batch_wrote = true;
    }
    let (db, resp3, no_touch) = (session.db, session.out.resp3, session.no_touch);
    let caller = Caller::of(session);
    let reply = session
        .call(target, move |state| {
            let mut out = ReplyBuf::with_capacity(resp3, 64 * batch.len());
            for (spec, run, argv) in &batch {
                run_keyed(state, spec, *run, &argv.argv(), db, &mut out, no_touch, caller, true);
            }
            out
        })
        .await;
    session.out.append(&reply);
}

/// Runs a command that passed the generic checks.
pub async fn dispatch(session: &mut Session, spec: &'static CommandSpec, argv: &Argv<'_>) {
    match *spec.handler {
        Handler::Conn(run) => {
            let start = Instant::now();
            let errors_before = session.out.errors;
            run(session, argv);
            record(&mut session.shard.state(), spec, start, errors_before, &session.out);
        }
        Handler::Async(run) => {
            let start = Instant::now();
            let errors_before = session.out.errors;
            run(session, OwnedArgv::from_argv(argv)).await;
            record(&mut session.shard.state(), spec, start, errors_before, &session.out);
        }
        Handler::Keyed { run, cross } => match route(session, spec, argv) {
            Some(target) if target == session.shard_id() => {
                if session.shard.lock_holder().is_some() {
                    session.shard.wait_unlocked(session.tx).await;
                }
                run_keyed_here(session, spec, run, argv);
            }
            Some(target) => {
                let owned = OwnedArgv::from_argv(argv);
                let (db, resp3, no_touch) = (session.db, session.out.resp3, session.no_touch);
                let collect = session.out.collect_effects;
                let caller = Caller::of(session);
                let reply = session
                    .call(target, move |state| {
                        let mut out = ReplyBuf::new(resp3);
                        out.collect_effects = collect;
                        run_keyed(state, spec, run, &owned.argv(), db, &mut out, no_touch, caller, true);
                        out
                    })
                    .await;
                session.out.append(&reply);
            }
            None => match cross {
                Cross::Split(merge) => run_split(session, spec, run, merge, argv).await,
                Cross::Gather => run_gathered(session, spec, run, argv).await,
            },
        },
        Handler::Container { bare } => {
            let run = bare.expect("containers without a bare form resolve to a subcommand");
            let start = Instant::now();
            let errors_before = session.out.errors;
            run(session, argv);
            record(&mut session.shard.state(), spec, start, errors_before, &session.out);
        }
    }
    // Redis shows a command to MONITOR once it ran, except administrative
    // ones (and scripts' own, which Tessera does not have).
    if crate::pubsub::monitors_active() && !spec.flags.contains(Flags::ADMIN) {
        crate::pubsub::feed_monitors(session, argv);
    }
}

/// The single shard owning every key of the command, or None when the keys
/// span shards. Commands without keys (or with malformed key arguments, which
/// the handler reports) run locally.
pub fn route(session: &Session, spec: &CommandSpec, argv: &Argv) -> Option<ShardId> {
    let shards = session.shard_count();
    let local = session.shard_id();
    if shards == 1 {
        return Some(local);
    }
    let mut target: Option<ShardId> = None;
    let mut spans = false;
    let ok = spec.for_each_key(argv, |i| {
        let owner = key_shard(argv.get(i), shards);
        match target {
            None => target = Some(owner),
            Some(t) if t != owner => spans = true,
            Some(_) => {}
        }
    });
    if !ok {
        return Some(local);
    }
    if spans {
        None
    } else {
        Some(target.unwrap_or(local))
    }
}

fn record(state: &mut ShardState, spec: &CommandSpec, start: Instant, errors_before: u64, out: &ReplyBuf) {
    let stats = &mut state.stats.commands[spec.index];
    stats.calls += 1;
    stats.usec += start.elapsed().as_micros() as u64;
    if out.errors > errors_before {
        stats.failed_calls += 1;
        let prefix = out.last_error_prefix[..out.last_error_prefix_len as usize].to_vec();
        state.stats.record_error(&prefix);
    }
    state.stats.total_commands_processed += 1;
}

/// Runs a keyed handler on this connection's shard, inline.
fn run_keyed_here(session: &mut Session, spec: &CommandSpec, run: KeyedFn, argv: &Argv) {
    let caller = Caller::of(session);
    let mut state = session.shard.state();
    run_keyed(
        &mut state,
        spec,
        run,
        argv,
        session.db,
        &mut session.out,
        session.no_touch,
        caller,
        true,
    );
}

/// Runs a keyed handler on a shard's state (the shard owning its keys, or a
/// scratch state for gathered keys), counting it unless `count` is false.
/// A read-only command's keys are remembered here for a tracking caller,
/// in the same step as the read.
#[allow(clippy::too_many_arguments)]
pub fn run_keyed(
    state: &mut ShardState,
    spec: &CommandSpec,
    run: KeyedFn,
    argv: &Argv,
    db: usize,
    out: &mut ReplyBuf,
    no_touch: bool,
    caller: Caller,
    count: bool,
) {
    let start = Instant::now();
    let errors_before = out.errors;
    let now = now_ms();
    // With the WAL on, a deterministic single-key write is logged as the
    // command itself rather than as its key's new value.
    let logged_key = match state.wal.is_some() && crate::persist::wal::loggable_as_command(&spec.name) {
        true => match spec.key_indexes(argv)[..] {
            [key] if crate::persist::wal::command_mode_possible(state, db, argv.get(key)) => Some(key),
            _ => None,
        },
        false => None,
    };
    let feeding = crate::repl::feed::active() && spec.flags.contains(Flags::WRITE);
    let dirty_before = if feeding { total_dirty(state) } else { 0 };
    let remember = caller.remember && spec.flags.contains(Flags::READONLY) && state.dbs[db].owns_keys;
    let mut ctx = Ctx {
        state,
        db,
        out,
        now_ms: now,
        no_touch,
        effect: Default::default(),
    };
    crate::tracking::enter(caller);
    run(&mut ctx, argv);
    if remember {
        let keys = spec.key_indexes(argv);
        crate::tracking::remember(keys.iter().map(|&i| argv.get(i)), caller.client);
    }
    if feeding {
        let effect = std::mem::take(&mut ctx.effect);
        if total_dirty(state) != dirty_before {
            propagate_effect(out, db, effect, argv);
        }
    }
    if let Some(key) = logged_key {
        crate::persist::wal::log_command(state, db, argv.get(key), now, argv);
    }
    crate::tracking::exit();
    crate::blocking::notify_if_ready(state);
    crate::tracking::ended(caller);
    if count {
        record(state, spec, start, errors_before, out);
    } else if out.errors > errors_before {
        let prefix = out.last_error_prefix[..out.last_error_prefix_len as usize].to_vec();
        state.stats.record_error(&prefix);
    }
}

/// Changes applied on this shard so far (every database): a write command
/// that moved it changed something and is propagated.
fn total_dirty(state: &ShardState) -> u64 {
    state.dbs.iter().map(|db| db.stats.dirty).sum()
}

/// Sends a command's effect to the replication stream (or to the
/// coordinator collecting a transaction's).
fn propagate_effect(out: &mut ReplyBuf, db: usize, effect: crate::repl::feed::Effect, argv: &Argv) {
    use crate::repl::feed::{Effect, Op};
    let ops = match effect {
        Effect::Verbatim => {
            let args: Vec<&[u8]> = argv.iter().collect();
            vec![Op::new(db, &args)]
        }
        Effect::Rewritten(commands) => commands.into_iter().map(|resp| Op { db, resp }).collect(),
    };
    out.propagate(ops);
}

/// Runs a keyed command at a given time, for WAL replay: no statistics, no
/// logging (the journal is off while replaying).
pub fn run_keyed_at(state: &mut ShardState, run: KeyedFn, argv: &Argv, db: usize, out: &mut ReplyBuf, now_ms: u64) {
    let mut ctx = Ctx {
        state,
        db,
        out,
        now_ms,
        no_touch: false,
        effect: Default::default(),
    };
    run(&mut ctx, argv);
}

/// Splits a multi-key command by shard, runs each part under shard locks and
/// merges the replies.
async fn run_split(session: &mut Session, spec: &'static CommandSpec, run: KeyedFn, merge: Merge, argv: &Argv<'_>) {
    let shards = session.shard_count();
    let keys = spec.key_indexes(argv);
    let step = if keys.len() >= 2 { keys[1] - keys[0] } else { 1 };
    if keys
        .first()
        .is_some_and(|&first| !(argv.len() - first).is_multiple_of(step))
    {
        // An incomplete last group (MSET k v k2) is the handler's arity
        // error: run it whole, once, so that no part is applied.
        run_keyed_here(session, spec, run, argv);
        return;
    }
    // Parts in shard order; each remembers the original key positions.
    let mut parts: BTreeMap<ShardId, (Vec<usize>, Vec<&[u8]>)> = BTreeMap::new();
    for (position, &k) in keys.iter().enumerate() {
        let part = parts
            .entry(key_shard(argv.get(k), shards))
            .or_insert_with(|| (Vec::new(), vec![argv.get(0)]));
        part.0.push(position);
        for i in k..(k + step).min(argv.len()) {
            part.1.push(argv.get(i));
        }
    }
    let targets: Vec<ShardId> = parts.keys().copied().collect();
    let jobs: Vec<(ShardId, Vec<usize>, OwnedArgv)> = parts
        .into_iter()
        .map(|(shard, (positions, args))| (shard, positions, OwnedArgv::from_parts(args.iter().copied())))
        .collect();
    let (db, resp3, no_touch) = (session.db, session.out.resp3, session.no_touch);
    let start = Instant::now();
    let replies: Vec<(Vec<usize>, ReplyBuf)> = session
        .locked(&targets, async |s: &mut Session| {
            let caller = Caller::of(s);
            let mut replies = Vec::new();
            for (target, positions, part) in jobs {
                let reply = s
                    .call(target, move |state| {
                        let mut out = ReplyBuf::new(resp3);
                        out.collect_effects = true;
                        run_keyed(state, spec, run, &part.argv(), db, &mut out, no_touch, caller, false);
                        out
                    })
                    .await;
                replies.push((positions, reply));
            }
            // Replicas get the command whole, as received, if any part
            // changed something.
            if replies.iter().any(|(_, reply)| !reply.effects.is_empty()) {
                let args: Vec<&[u8]> = argv.iter().collect();
                s.out.propagate(vec![crate::repl::feed::Op::new(db, &args)]);
            }
            replies
        })
        .await;
    let errors_before = session.out.errors;
    merge_replies(&mut session.out, merge, keys.len(), &replies);
    record(&mut session.shard.state(), spec, start, errors_before, &session.out);
}

/// Splits one encoded reply into its top-level elements (after an array
/// header) — enough for the reply shapes split commands produce.
fn reply_elements(bytes: &[u8]) -> Vec<&[u8]> {
    fn line_end(bytes: &[u8], from: usize) -> usize {
        from + bytes[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("encoded reply line")
            + 2
    }
    fn element_end(bytes: &[u8], from: usize) -> usize {
        let end = line_end(bytes, from);
        match bytes[from] {
            b'$' => {
                let len: i64 = std::str::from_utf8(&bytes[from + 1..end - 2]).unwrap().parse().unwrap();
                if len < 0 {
                    end
                } else {
                    end + len as usize + 2
                }
            }
            b'*' => {
                let n: i64 = std::str::from_utf8(&bytes[from + 1..end - 2]).unwrap().parse().unwrap();
                (0..n.max(0)).fold(end, |at, _| element_end(bytes, at))
            }
            _ => end,
        }
    }
    let header = line_end(bytes, 0);
    let mut out = Vec::new();
    let mut at = header;
    while at < bytes.len() {
        let end = element_end(bytes, at);
        out.push(&bytes[at..end]);
        at = end;
    }
    out
}

fn merge_replies(out: &mut ReplyBuf, merge: Merge, keys: usize, replies: &[(Vec<usize>, ReplyBuf)]) {
    if let Some((_, error)) = replies.iter().find(|(_, r)| r.bytes.first() == Some(&b'-')) {
        out.append(error);
        return;
    }
    match merge {
        Merge::SumIntegers => {
            let total: i64 = replies
                .iter()
                .map(|(_, r)| {
                    std::str::from_utf8(&r.bytes[1..r.bytes.len() - 2])
                        .unwrap()
                        .parse::<i64>()
                        .unwrap()
                })
                .sum();
            out.int(total);
        }
        Merge::AllOk => out.ok(),
        Merge::ArrayByKey => {
            let mut slots: Vec<&[u8]> = vec![&[]; keys];
            for (positions, reply) in replies {
                for (position, element) in positions.iter().zip(reply_elements(&reply.bytes)) {
                    slots[*position] = element;
                }
            }
            out.array(keys);
            for element in slots {
                out.raw(element);
            }
        }
    }
}

/// A key and, if it exists, its value and expiry: what gathered execution
/// moves between shards.
type KeyState = (Vec<u8>, Option<(Value, Option<u64>)>);

/// Runs a multi-key command whose keys span shards: under shard locks, the
/// keys' values come to a scratch state on this core, the handler runs there,
/// and the keys it changed are written back to their owners.
async fn run_gathered(session: &mut Session, spec: &'static CommandSpec, run: KeyedFn, argv: &Argv<'_>) {
    let shards = session.shard_count();
    let mut by_shard: BTreeMap<ShardId, Vec<Vec<u8>>> = BTreeMap::new();
    for k in spec.key_indexes(argv) {
        let key = argv.get(k);
        let keys = by_shard.entry(key_shard(key, shards)).or_default();
        if !keys.iter().any(|existing| existing == key) {
            keys.push(key.to_vec());
        }
    }
    let targets: Vec<ShardId> = by_shard.keys().copied().collect();
    let db = session.db;
    let owned = OwnedArgv::from_argv(argv);
    let start = Instant::now();
    let errors_before = session.out.errors;
    session
        .locked(&targets, async |s: &mut Session| {
            let caller = Caller::of(s);
            let mut scratch = ShardState::scratch(&s.shard.state());
            for (&target, keys) in &by_shard {
                let keys = keys.clone();
                let fetched: Vec<KeyState> = s
                    .call(target, move |state| {
                        let now = now_ms();
                        let db = &mut state.dbs[db];
                        keys.into_iter()
                            .map(|key| {
                                let value = db.peek(&key, now).map(|e| e.value.clone());
                                let expire = db.expire_at(&key);
                                (key, value.map(|v| (v, expire)))
                            })
                            .collect()
                    })
                    .await;
                for (key, value) in fetched {
                    if let Some((value, expire)) = value {
                        scratch.dbs[db].insert(&key, value, expire, 0);
                    }
                }
            }
            scratch.dbs[db].start_recording();
            let mut out = ReplyBuf::new(s.out.resp3);
            out.collect_effects = s.out.collect_effects;
            run_keyed(
                &mut scratch,
                spec,
                run,
                &owned.argv(),
                db,
                &mut out,
                s.no_touch,
                caller,
                false,
            );
            s.out.append(&out);
            if caller.remember && spec.flags.contains(Flags::READONLY) {
                // The keys were read from their shards, still locked.
                for (&target, keys) in &by_shard {
                    let keys = keys.clone();
                    s.call(target, move |_| {
                        crate::tracking::remember(keys.iter().map(Vec::as_slice), caller.client)
                    })
                    .await;
                }
            }
            let changed = scratch.dbs[db].take_recorded();
            let mut writes: BTreeMap<ShardId, Vec<KeyState>> = BTreeMap::new();
            for key in changed {
                let value = scratch.dbs[db].peek(&key, 0).map(|e| e.value.clone());
                let expire = scratch.dbs[db].expire_at(&key);
                writes
                    .entry(key_shard(&key, shards))
                    .or_default()
                    .push((key, value.map(|v| (v, expire))));
            }
            for (target, writes) in writes {
                s.call(target, move |state| {
                    let now = now_ms();
                    crate::tracking::enter(caller);
                    let db = &mut state.dbs[db];
                    for (key, value) in writes {
                        match value {
                            Some((value, expire)) => {
                                db.set(&key, value, false, now);
                                if let Some(at) = expire {
                                    db.set_expire(&key, at);
                                }
                            }
                            None => {
                                db.delete(&key, now);
                            }
                        }
                    }
                    crate::tracking::exit();
                    crate::blocking::notify_if_ready(state);
                    crate::tracking::ended(caller);
                })
                .await;
            }
        })
        .await;
    record(&mut session.shard.state(), spec, start, errors_before, &session.out);
}
