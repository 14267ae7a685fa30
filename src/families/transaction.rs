//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC locks every shard its queued commands touch (all shards when one of
//! them is a server-wide command), in ascending order, then checks WATCH and
//! runs the queue; no other client sees part of it.

use crate::command::{asynchronous, conn, CommandDef, Flags, Handler, LocalFuture};
use crate::errors;
use crate::exec;
use crate::resp::Argv;
use crate::session::{Session, WatchedKey};
use crate::slot::key_shard;
use crate::OwnedArgv;
use cores::ShardId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub static COMMANDS: &[CommandDef] = &[
    conn("multi", multi),
    asynchronous("exec", exec_command),
    asynchronous("discard", discard),
    asynchronous("watch", watch),
    asynchronous("unwatch", unwatch),
];

fn multi(session: &mut Session, _argv: &Argv) {
    if session.multi.is_some() {
        return session.out.error(errors::MULTI_NESTED);
    }
    session.multi = Some(Vec::new());
    session.multi_error = false;
    session.info.borrow_mut().multi = 0;
    session.out.ok();
}

fn end_multi(session: &mut Session) {
    session.multi = None;
    session.multi_error = false;
    session.info.borrow_mut().multi = -1;
}

/// Discards the queued transaction and its WATCHes (EXEC refused).
pub async fn abort(session: &mut Session) {
    end_multi(session);
    unwatch_all(session).await;
}

fn discard(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if session.multi.is_none() {
            return session.out.error(errors::DISCARD_WITHOUT_MULTI);
        }
        end_multi(session);
        unwatch_all(session).await;
        session.out.ok();
    })
}

/// The shards a queued transaction touches.
fn transaction_shards(session: &Session) -> Vec<ShardId> {
    let queue = session.multi.as_ref().expect("in multi");
    let mut targets = BTreeSet::new();
    for queued in queue {
        match queued.spec.handler {
            Handler::Keyed { .. } => {
                let argv = queued.argv.argv();
                let mut any = false;
                let ok = queued.spec.for_each_key(&argv, |i| {
                    any = true;
                    targets.insert(key_shard(argv.get(i), session.shard_count()));
                });
                if !ok || !any {
                    targets.insert(session.shard_id());
                }
            }
            Handler::Conn(_) => {}
            Handler::Async(_) | Handler::Container { .. } => return session.all_shards(),
        }
    }
    // The WATCH check at EXEC reads the watched keys' shards: they are locked
    // too, so every shard the transaction reads is held in ascending order.
    for watched in &session.watched {
        targets.insert(key_shard(&watched.key, session.shard_count()));
    }
    targets.into_iter().collect()
}

fn exec_command(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if session.multi.is_none() {
            return session.out.error(errors::EXEC_WITHOUT_MULTI);
        }
        if session.multi_error {
            end_multi(session);
            unwatch_all(session).await;
            return session.out.error(errors::EXECABORT);
        }
        let grows_memory = session
            .multi
            .as_ref()
            .is_some_and(|queue| queue.iter().any(|q| q.spec.flags.contains(Flags::DENYOOM)));
        if grows_memory && exec::over_maxmemory(session) {
            end_multi(session);
            unwatch_all(session).await;
            return session
                .out
                .error(&format!("EXECABORT Transaction discarded because of: {}", errors::OOM));
        }
        let targets = transaction_shards(session);
        let queue = session.multi.take().expect("in multi");
        end_multi(session);
        session
            .locked(&targets, async |s: &mut Session| {
                if watched_keys_changed(s).await {
                    s.out.null_array();
                    return;
                }
                s.out.array(queue.len());
                for queued in &queue {
                    exec::dispatch(s, queued.spec, &queued.argv.argv()).await;
                }
            })
            .await;
        unwatch_all(session).await;
    })
}

/// Whether EXEC must fail: a watched key was modified, or has expired since
/// it was watched (Redis 7.0 counts expiry as a change).
async fn watched_keys_changed(session: &mut Session) -> bool {
    if session.watched.is_empty() {
        return false;
    }
    if session.watch_flag.load(Ordering::Acquire) {
        return true;
    }
    let shards = session.shard_count();
    let mut by_shard: BTreeMap<ShardId, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
    for watched in &session.watched {
        by_shard
            .entry(key_shard(&watched.key, shards))
            .or_default()
            .push((watched.db, watched.key.clone()));
    }
    for (target, keys) in by_shard {
        let flag = session.watch_flag.clone();
        let expired = session
            .call(target, move |state| {
                let now = exec::now_ms();
                keys.iter()
                    .any(|(db, key)| state.dbs[*db].watched_key_expired(key, &flag, now))
            })
            .await;
        if expired {
            return true;
        }
    }
    session.watch_flag.load(Ordering::Acquire)
}

fn watch(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if session.multi.is_some() {
            return session.out.error(errors::WATCH_IN_MULTI);
        }
        let argv = argv.argv();
        let shards = session.shard_count();
        let db = session.db;
        for key in argv.iter().skip(1) {
            if session.watched.iter().any(|w| w.db == db && w.key == key) {
                continue;
            }
            let flag = session.watch_flag.clone();
            let owned = key.to_vec();
            session
                .call(key_shard(key, shards), move |state| {
                    state.dbs[db].watch(&owned, flag, exec::now_ms());
                })
                .await;
            session.watched.push(WatchedKey { db, key: key.to_vec() });
        }
        session.out.ok();
    })
}

fn unwatch(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        unwatch_all(session).await;
        session.out.ok();
    })
}

/// Drops every WATCH registration of the session and clears its flag.
pub async fn unwatch_all(session: &mut Session) {
    if session.watched.is_empty() {
        session.watch_flag.store(false, Ordering::Release);
        return;
    }
    let shards = session.shard_count();
    let mut by_shard: BTreeMap<ShardId, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
    for watched in session.watched.drain(..) {
        by_shard
            .entry(key_shard(&watched.key, shards))
            .or_default()
            .push((watched.db, watched.key));
    }
    let flag = std::mem::take(&mut session.watch_flag);
    for (target, keys) in by_shard {
        let flag = flag.clone();
        // Registrations are removed even while another transaction holds the
        // shard: pass no transaction, the job waits its turn.
        session
            .shard
            .call(target, None, move |state| {
                for (db, key) in keys {
                    state.dbs[db].unwatch(&key, &flag);
                }
            })
            .await;
    }
    session.watch_flag = Arc::default();
}
