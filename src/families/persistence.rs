//! Persistence commands: SAVE, BGSAVE, LASTSAVE, DUMP, RESTORE, and the
//! snapshot steps DEBUG RELOAD, FLUSHALL, SHUTDOWN and the `save` schedule
//! share. A snapshot is taken with every shard locked (one point in time);
//! BGSAVE then writes the file on a thread of its own while the shards
//! serve, instead of forking.

use crate::command::{asynchronous, keyed, CommandDef, Ctx, LocalFuture};
use crate::errors;
use crate::keyspace::db::lru_clock;
use crate::persist::{self, ShardPart};
use crate::resp::parse::parse_i64;
use crate::resp::Argv;
use crate::session::Session;
use crate::shard::ShardState;
use cores::{Shard, ShardId};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub static COMMANDS: &[CommandDef] = &[
    asynchronous("save", save_command),
    asynchronous("bgsave", bgsave_command),
    asynchronous("lastsave", lastsave_command),
    asynchronous("bgrewriteaof", bgrewriteaof_command),
    keyed("dump", dump),
    keyed("restore", restore),
];

/// How long a failed background save waits before the schedule retries
/// (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const BGSAVE_RETRY_DELAY_MS: u64 = 5_000;

/// A snapshot taken but not yet on disk.
pub struct Snapshot {
    pub image: Vec<u8>,
    dirty: Arc<Vec<Vec<u64>>>,
    wal_segment: u64,
}

/// Serializes every shard under one lock on all of them.
pub async fn take_snapshot(shard: &Shard<ShardState>) -> Snapshot {
    let all = all_shards(shard);
    let tx = shard.new_tx();
    shard.lock_all(&all, tx).await;
    let mut parts = Vec::with_capacity(all.len());
    for &target in &all {
        parts.push(
            shard
                .call(target, Some(tx), |state: &mut ShardState| {
                    persist::serialize_shard(state)
                })
                .await,
        );
    }
    shard.unlock_all(&all, tx);
    let (dir, _) = persist::wal::settings(&shard.state().config);
    build_snapshot(parts, &dir)
}

fn all_shards(shard: &Shard<ShardState>) -> Vec<ShardId> {
    (0..shard.count()).map(|i| ShardId(i as u16)).collect()
}

fn build_snapshot(parts: Vec<ShardPart>, wal_dir: &std::path::Path) -> Snapshot {
    // Without a WAL, the snapshot supersedes every segment left on disk.
    let wal_segment = match parts.iter().map(|p| p.wal_segment).min().unwrap_or(0) {
        0 => persist::wal::next_segment(wal_dir),
        segment => segment,
    };
    let image = persist::assemble(&parts, crate::exec::now_ms(), crate::memory::used_bytes(), wal_segment);
    let dirty = Arc::new(parts.into_iter().map(|p| p.dirty).collect());
    Snapshot {
        image,
        dirty,
        wal_segment,
    }
}

/// Once a snapshot is on disk: its changes are saved on every shard, and
/// the WAL segments it covers can go.
async fn settle(shard: &Shard<ShardState>, all: Vec<ShardId>, dirty: Arc<Vec<Vec<u64>>>, wal_segment: u64) {
    for target in all {
        let dirty = dirty.clone();
        shard
            .call(target, None, move |state: &mut ShardState| {
                persist::subtract_dirty(state, &dirty[state.id.0 as usize]);
                persist::wal::snapshot_written(state, wal_segment);
            })
            .await;
    }
}

/// SAVE's work: snapshot and write in the foreground. Logs and returns
/// whether the file was written.
pub async fn save_now(shard: &Shard<ShardState>) -> bool {
    let snapshot = take_snapshot(shard).await;
    let path = persist::snapshot_path(&shard.state());
    let ok = match persist::write_file(&path, &snapshot.image) {
        Ok(()) => {
            crate::notice!("DB saved on disk");
            true
        }
        Err(error) => {
            crate::warning!(
                "Failed saving the DB to {path} (in server root dir {}): {error}",
                current_dir()
            );
            false
        }
    };
    if ok {
        settle(shard, all_shards(shard), snapshot.dirty, snapshot.wal_segment).await;
    }
    persist::record_save(ok, crate::exec::now_ms(), None);
    ok
}

fn current_dir() -> String {
    std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

/// BGSAVE's work: snapshot now, write on a thread, settle when written.
/// False when a background save already runs.
pub async fn start_bgsave(shard: &Rc<Shard<ShardState>>) -> bool {
    let started = crate::exec::now_ms();
    if !persist::begin_bgsave(started) {
        return false;
    }
    let snapshot = take_snapshot(shard).await;
    let path = persist::snapshot_path(&shard.state());
    crate::notice!("Background saving started");
    spawn_writer(shard.clone(), all_shards(shard), snapshot, path, started);
    true
}

fn spawn_writer(shard: Rc<Shard<ShardState>>, all: Vec<ShardId>, snapshot: Snapshot, path: String, started: u64) {
    let (sender, receiver) = std::sync::mpsc::channel();
    let Snapshot {
        image,
        dirty,
        wal_segment,
    } = snapshot;
    let spawned = std::thread::Builder::new()
        .name("tessera-bgsave".into())
        .spawn(move || {
            let _ = sender.send(persist::write_file(&path, &image));
        });
    cores::spawn(async move {
        let result = match spawned {
            Err(error) => Err(error),
            Ok(_) => loop {
                match receiver.try_recv() {
                    Ok(result) => break result,
                    Err(std::sync::mpsc::TryRecvError::Empty) => cores::sleep(Duration::from_millis(5)).await,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        break Err(std::io::Error::other("background save thread ended without a result"))
                    }
                }
            },
        };
        let ok = match result {
            Ok(()) => {
                crate::notice!("Background saving terminated with success");
                settle(&shard, all, dirty, wal_segment).await;
                true
            }
            Err(error) => {
                crate::warning!("Background saving error: {error}");
                false
            }
        };
        persist::record_save(ok, crate::exec::now_ms(), Some(started));
    });
}

fn save_command(session: &mut Session, _argv: crate::OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if persist::facts().bgsave_in_progress {
            return session.out.error(errors::BGSAVE_IN_PROGRESS);
        }
        if save_now(&session.shard).await {
            session.out.ok();
        } else {
            session.out.error("ERR");
        }
    })
}

fn bgsave_command(session: &mut Session, argv: crate::OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let schedule = match argv.len() {
            1 => false,
            2 if argv.get(1).eq_ignore_ascii_case(b"schedule") => true,
            _ => return session.out.error(errors::SYNTAX),
        };
        if start_bgsave(&session.shard).await {
            session.out.simple("Background saving started");
        } else if schedule {
            // The running save already captures a point after this call's
            // writes' predecessors; Redis would schedule another one.
            session.out.simple("Background saving scheduled");
        } else {
            session.out.error(errors::BGSAVE_IN_PROGRESS);
        }
    })
}

fn lastsave_command(session: &mut Session, _argv: crate::OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        session.out.int(persist::facts().last_save_unix_s as i64);
    })
}

fn dump(ctx: &mut Ctx, argv: &Argv) {
    let compress = ctx.state.config.get("rdbcompression") != Some("no");
    match ctx.state.dbs[ctx.db].read(argv.get(1), ctx.now_ms) {
        None => ctx.out.null(),
        Some(entry) => {
            let payload = persist::value::dump(&entry.value, compress);
            ctx.out.bulk(&payload);
        }
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f].
fn restore(ctx: &mut Ctx, argv: &Argv) {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut i = 4;
    while i < argv.len() {
        let option = argv.get(i);
        let more = argv.len() - i - 1;
        if option.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if option.eq_ignore_ascii_case(b"idletime") && more >= 1 && freq.is_none() {
            let Some(n) = parse_i64(argv.get(i + 1)) else {
                return ctx.out.error(errors::NOT_INTEGER);
            };
            if n < 0 {
                return ctx.out.error("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(n);
            i += 1;
        } else if option.eq_ignore_ascii_case(b"freq") && more >= 1 && idle.is_none() {
            let Some(n) = parse_i64(argv.get(i + 1)) else {
                return ctx.out.error(errors::NOT_INTEGER);
            };
            if !(0..=255).contains(&n) {
                return ctx.out.error("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(n);
            i += 1;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        i += 1;
    }
    let _ = freq; // Tessera keeps no LFU counters; the value is validated only.
    let now = ctx.now_ms;
    let key = argv.get(1);
    if !replace && ctx.state.dbs[ctx.db].exists(key, now) {
        return ctx.out.error(errors::BUSYKEY);
    }
    let Some(ttl) = parse_i64(argv.get(2)) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    if ttl < 0 {
        return ctx.out.error("ERR Invalid TTL value, must be >= 0");
    }
    let payload = argv.get(3);
    if wal::rdb::verify_dump(payload).is_none() {
        return ctx.out.error("ERR DUMP payload version or checksum are wrong");
    }
    let limits = persist::load_limits_of(ctx.state);
    let Some(value) = persist::value::undump(payload, &limits) else {
        return ctx.out.error("ERR Bad data format");
    };
    let db = &mut ctx.state.dbs[ctx.db];
    if replace {
        db.delete(key, now);
    }
    let at = match ttl {
        0 => None,
        ttl if absttl => Some(ttl as u64),
        ttl => Some((ttl as u64).saturating_add(now)),
    };
    if at.is_some_and(|at| at <= now) {
        // Already expired: the key is gone (a replaced key was deleted, and
        // replicas delete it too).
        ctx.propagate_as(&[b"DEL", key]);
        return ctx.out.ok();
    }
    db.insert(key, value, at, now);
    if let (Some(idle), Some(entry)) = (idle, db.entries.get_mut(key)) {
        entry.lru = lru_clock(now).wrapping_sub(idle.min(u32::MAX as i64) as u32);
    }
    ctx.out.ok();
    if let (Some(at), false) = (at, absttl) {
        // Replicas get the absolute expiry: RESTORE key <unix ms> ... ABSTTL.
        let at = at.to_string();
        let mut args: Vec<&[u8]> = argv.iter().collect();
        args[2] = at.as_bytes();
        args.push(b"ABSTTL");
        ctx.propagate_as(&args);
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save (unless NOSAVE), empty the
/// dataset (unless NOFLUSH) and load the snapshot file again, every shard
/// locked throughout. Returns an error message on failure.
pub async fn debug_reload(session: &mut Session, merge: bool, flush: bool, save: bool) -> Result<(), &'static str> {
    let all = session.all_shards();
    let path = persist::snapshot_path(&session.shard.state());
    let result = session
        .locked(&all, async |s: &mut Session| {
            if save {
                let parts = s
                    .call_all(|state: &mut ShardState| persist::serialize_shard(state))
                    .await;
                let (dir, _) = persist::wal::settings(&s.shard.state().config);
                let snapshot = build_snapshot(parts, &dir);
                if let Err(error) = persist::write_file(&path, &snapshot.image) {
                    crate::warning!("Failed saving the DB for DEBUG RELOAD: {error}");
                    return Err("ERR Error trying to save the DB, check server logs.");
                }
                persist::record_save(true, crate::exec::now_ms(), None);
                let segment = snapshot.wal_segment;
                s.call_all(move |state: &mut ShardState| persist::wal::snapshot_written(state, segment))
                    .await;
            }
            let image = match std::fs::read(&path) {
                Ok(image) => Arc::new(image),
                Err(error) => {
                    crate::warning!("Failed reading {path} for DEBUG RELOAD: {error}");
                    return Err("ERR Error trying to load the RDB dump, check server logs.");
                }
            };
            if let Err(error) = persist::check_image(&image) {
                crate::warning!("Error loading {path}: {error}");
                return Err("ERR Error trying to load the RDB dump, check server logs.");
            }
            let results = s
                .call_all(move |state: &mut ShardState| {
                    let now = crate::exec::now_ms();
                    if flush {
                        for db in state.dbs.iter_mut() {
                            db.flush(now);
                        }
                    }
                    persist::load_shard(state, &image, now, merge).map_err(|e| e.to_string())
                })
                .await;
            for result in results {
                if let Err(error) = result {
                    crate::warning!("Error loading {path}: {error}");
                    return Err("ERR Error trying to load the RDB dump, check server logs.");
                }
            }
            Ok(())
        })
        .await;
    if result.is_ok() {
        crate::notice!(
            "DB reloaded by DEBUG RELOAD (MERGE={merge} NOFLUSH={} NOSAVE={})",
            !flush,
            !save
        );
    }
    result
}

/// Writes the empty snapshot FLUSHALL leaves when save points exist (Redis
/// saves right after flushing).
pub fn save_empty(state: &ShardState, wal_segment: u64) -> bool {
    let parts: Vec<ShardPart> = Vec::new();
    let wal_segment = match wal_segment {
        0 => persist::wal::next_segment(&persist::wal::settings(&state.config).0),
        segment => segment,
    };
    let image = persist::assemble(&parts, crate::exec::now_ms(), crate::memory::used_bytes(), wal_segment);
    let path = persist::snapshot_path(state);
    match persist::write_file(&path, &image) {
        Ok(()) => {
            crate::notice!("DB saved on disk");
            persist::record_save(true, crate::exec::now_ms(), None);
            true
        }
        Err(error) => {
            crate::warning!("Error saving the DB after FLUSHALL: {error}");
            persist::record_save(false, crate::exec::now_ms(), None);
            false
        }
    }
}

/// Loads the snapshot at start, on every shard, before connections are
/// accepted. Exits the process when the file exists but cannot be loaded.
pub fn load_at_start(state: &mut ShardState, image: &[u8]) -> persist::LoadStats {
    let now = crate::exec::now_ms();
    match persist::load_shard(state, image, now, false) {
        Ok(stats) => stats,
        Err(error) => {
            let path = persist::snapshot_path(state);
            crate::warning!("Fatal error loading the DB ({path}): {error}. Exiting.");
            std::process::exit(1);
        }
    }
}

/// The `save <seconds> <changes>` schedule, checked by shard 0's cron:
/// starts a background save when a save point is reached.
pub async fn scheduled_save(shard: &Rc<Shard<ShardState>>) {
    let (points, now) = {
        let state = shard.state();
        (state.config.settings.save.clone(), crate::exec::now_ms())
    };
    if points.is_empty() {
        return;
    }
    let facts = persist::facts();
    if facts.bgsave_in_progress {
        return;
    }
    if !facts.last_bgsave_ok && now.saturating_sub(facts.bgsave_started_ms) < BGSAVE_RETRY_DELAY_MS {
        return;
    }
    let mut dirty = 0u64;
    for target in all_shards(shard) {
        dirty += shard
            .call(target, None, |state: &mut ShardState| {
                state.dbs.iter().map(|d| d.stats.dirty).sum::<u64>()
            })
            .await;
    }
    let since_save_s = (now / 1000).saturating_sub(facts.last_save_unix_s) as i64;
    let due = points
        .iter()
        .find(|&&(seconds, changes)| dirty >= changes as u64 && since_save_s >= seconds);
    if let Some(&(seconds, changes)) = due {
        crate::notice!("{changes} changes in {seconds} seconds. Saving...");
        start_bgsave(shard).await;
    }
}

/// BGREWRITEAOF: the WAL's compaction is a snapshot (every shard moves to a
/// new segment at the snapshot's point, older segments are deleted once it
/// is written).
fn bgrewriteaof_command(session: &mut Session, _argv: crate::OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if persist::facts().bgsave_in_progress {
            // Redis schedules one after the running save; the running one
            // already compacts the log up to its own point.
            return session.out.simple("Background append only file rewriting scheduled");
        }
        if start_bgsave(&session.shard).await {
            persist::record_rewrite();
            session.out.simple("Background append only file rewriting started");
        } else {
            session
                .out
                .error("ERR Background append only file rewriting already in progress");
        }
    })
}

/// CONFIG SET appendonly yes at run time: under one lock on every shard,
/// start journaling and take the snapshot the log will follow (Redis starts
/// an AOF rewrite the same way); the snapshot is written in the background.
pub async fn turn_wal_on(shard: &Rc<Shard<ShardState>>) {
    let started = crate::exec::now_ms();
    let (dir, fsync) = persist::wal::settings(&shard.state().config);
    let segment = persist::wal::next_segment(&dir);
    let all = all_shards(shard);
    let tx = shard.new_tx();
    shard.lock_all(&all, tx).await;
    let mut parts = Vec::with_capacity(all.len());
    for &target in &all {
        let dir = dir.clone();
        parts.push(
            shard
                .call(target, Some(tx), move |state: &mut ShardState| {
                    if state.wal.is_none() {
                        persist::wal::enable(state, dir, fsync, segment);
                    }
                    persist::serialize_shard(state)
                })
                .await,
        );
    }
    shard.unlock_all(&all, tx);
    crate::notice!("Write-ahead log turned on (appendfsync {fsync:?}): writing its base snapshot");
    let snapshot = build_snapshot(parts, &dir);
    let path = persist::snapshot_path(&shard.state());
    if !persist::begin_bgsave(started) {
        // A save is running: write this base snapshot in the foreground.
        if let Err(error) = persist::write_file(&path, &snapshot.image) {
            crate::warning!("Writing the WAL's base snapshot failed: {error}");
        } else {
            settle(shard, all.clone(), snapshot.dirty, snapshot.wal_segment).await;
        }
        return;
    }
    persist::record_rewrite();
    spawn_writer(shard.clone(), all, snapshot, path, started);
}

/// CONFIG SET appendonly no: stop journaling; each commit task writes what
/// is pending and stops.
pub async fn turn_wal_off(session: &mut Session) {
    session
        .call_all(|state: &mut ShardState| persist::wal::disable(state))
        .await;
    crate::notice!("Write-ahead log turned off");
}

/// Waits until every shard has written (and synced) what it journaled.
pub async fn flush_wal(shard: &Rc<Shard<ShardState>>) {
    for target in all_shards(shard) {
        let _: bool = shard
            .call_deferred(target, |state: &mut ShardState, responder| {
                let epoch = state.wal.as_ref().map_or(0, |w| w.open_epoch);
                persist::wal::wait_durable(state, epoch, responder)
            })
            .await;
    }
}

/// DEBUG LOADAOF: write out the log, then empty the dataset and rebuild it
/// from the snapshot file and the log, every shard locked.
pub async fn debug_loadaof(session: &mut Session) -> Result<(), &'static str> {
    flush_wal(&session.shard).await;
    let all = session.all_shards();
    let path = persist::snapshot_path(&session.shard.state());
    let (dir, _) = persist::wal::settings(&session.shard.state().config);
    let image = match std::fs::read(&path) {
        Ok(image) => Some(Arc::new(image)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            crate::warning!("Failed reading {path} for DEBUG LOADAOF: {error}");
            return Err("ERR Error trying to load the AOF, check server logs.");
        }
    };
    let results = session
        .locked(&all, async |s: &mut Session| {
            s.call_all(move |state: &mut ShardState| {
                let now = crate::exec::now_ms();
                // The reload rebuilds what the files already hold: nothing to log.
                let journals: Vec<_> = state.dbs.iter_mut().map(|db| db.journal.take()).collect();
                for db in state.dbs.iter_mut() {
                    db.flush(now);
                }
                let mut result = Ok(());
                if let Some(image) = &image {
                    result = persist::load_shard(state, image, now, false)
                        .map(|_| ())
                        .map_err(|e| e.to_string());
                }
                if result.is_ok() {
                    let from = image.as_ref().map_or(0, |i| persist::wal_segment_of(i));
                    result = persist::wal::replay_all(state, &dir, false, from).map(|_| ());
                }
                for (db, journal) in state.dbs.iter_mut().zip(journals) {
                    db.journal = journal;
                    db.stats.dirty = 0;
                }
                result
            })
            .await
        })
        .await;
    for result in results {
        if let Err(error) = result {
            crate::warning!("DEBUG LOADAOF failed: {error}");
            return Err("ERR Error trying to load the AOF, check server logs.");
        }
    }
    crate::warning!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}
