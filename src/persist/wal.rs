//! The per-shard write-ahead log (`appendonly yes`). Every change a shard
//! makes is noted in its journal (`keyspace::db::Journal`); a commit task per
//! shard seals the journal into one group (whole-database operations in
//! order, then the final state of every changed key), appends it as one WAL
//! record and, under `appendfsync always`, syncs it before the replies that
//! depend on it leave (group commit: one write and one fdatasync for every
//! client of the group). While one group syncs (on the shard's sync helper
//! thread, `cores::disk::SyncFile`), the shard keeps serving and the next
//! group gathers: the disk and the CPU work at the same time. `everysec`
//! syncs once a second, `no` never. Segment files are allocated 16 MB
//! ahead (`wal::log::RESERVE_BYTES`), so a sync does not also record a new
//! file size.
//!
//! Files: `<appenddirname>/tessera.<segment>.<shard>-of-<shards>.wal`. A
//! snapshot seals every shard's journal under the snapshot lock and moves the
//! shards to a new segment; once the snapshot is on disk the older segments
//! are deleted. Recovery loads the snapshot, then replays every remaining
//! segment in order, each shard taking the keys it owns (so a restart with
//! another shard count still recovers everything).
//!
//! A change spanning shards (EXEC, MSET, FLUSHALL, ...) is logged as one
//! transaction: each shard's part is a group marked with the transaction's
//! id and shards (`commit_across`), and replay applies it only when every
//! part is in the logs, so a crash between the shards' writes never leaves
//! half of one.

use super::value::{self, LoadLimits};
use crate::keyspace::db::{Journal, JournalOp};
use crate::keyspace::Db;
use crate::shard::ShardState;
use crate::slot::key_shard;
use cores::disk::SyncFile;
use cores::sync::Notify;
use cores::{Responder, Shard, ShardId};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;
use wal::log::{LogWriter, Tail};
use wal::rdb::{RdbError, RdbReader, RdbWriter};

const OP_SET: u8 = 1;
const OP_DEL: u8 = 2;
const OP_FLUSH: u8 = 3;
const OP_SWAP: u8 = 4;
const OP_COMMAND: u8 = 5;
/// Opens a group holding one shard's part of a transaction that changed
/// several shards: the transaction's id and the shards it changed. Replay
/// applies the group only if every one of those shards logged its part.
const OP_TRANSACTION: u8 = 6;

/// Single-key writes whose effect depends only on the key's value, the
/// arguments and the time: the WAL logs them as commands (replayed with
/// their original time) instead of the key's whole new value. Not here:
/// commands with random results (SPOP), several keys, or that store values
/// computed from other keys.
const LOGGED_AS_COMMANDS: &[&str] = &[
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "lpop",
    "rpop",
    "linsert",
    "lset",
    "lrem",
    "ltrim",
    "hset",
    "hmset",
    "hsetnx",
    "hdel",
    "hincrby",
    "hincrbyfloat",
    "sadd",
    "srem",
    "zadd",
    "zincrby",
    "zrem",
    "zremrangebyscore",
    "zremrangebyrank",
    "zremrangebylex",
    "zpopmin",
    "zpopmax",
    "append",
    "setrange",
    "setbit",
];

/// Whether a keyed command may be logged as itself.
pub fn loggable_as_command(name: &str) -> bool {
    LOGGED_AS_COMMANDS.contains(&name)
}

/// Before a single-key command runs: whether it can be logged as itself,
/// i.e. the WAL is on and the key has no unlogged change earlier in this
/// group (its replay must start from the state the log already holds).
pub fn command_mode_possible(state: &ShardState, db: usize, key: &[u8]) -> bool {
    match &state.wal {
        Some(wal) => !wal.journal.borrow().keys[db].contains(key),
        None => false,
    }
}

/// After such a command ran: if it changed the key, log the command instead
/// of the key's state.
pub fn log_command(state: &ShardState, db: usize, key: &[u8], time_ms: u64, argv: &crate::resp::Argv) {
    let Some(wal) = &state.wal else {
        return;
    };
    let mut journal = wal.journal.borrow_mut();
    if journal.keys[db].remove(key) {
        journal.ops.push(JournalOp::Command {
            db,
            time_ms,
            argv: argv.iter().map(|a| a.to_vec()).collect(),
        });
    }
}

/// How often the commit task looks for changes nobody kicked it for (active
/// expiry, blocked clients served): the longest a change waits to be written
/// under `everysec` and `no`.
const COMMIT_POLL_MS: u64 = 10;
/// After a failed write or sync, how long before trying again.
const RETRY_MS: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    pub fn parse(value: &str) -> Fsync {
        match value {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// A sealed group waiting to be written.
struct Group {
    segment: u64,
    epoch: u64,
    time_ms: u64,
    payload: Vec<u8>,
    /// The transaction spanning shards this group is one part of.
    transaction: Option<u64>,
}

/// Transactions spanning shards whose parts are not all written and
/// synced yet: parts left to write, parts left to make durable.
static OPEN_TRANSACTIONS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<u64, (usize, usize)>>> =
    std::sync::LazyLock::new(Default::default);

/// How often a shard waiting for the other parts of a transaction looks.
const PARTS_POLL: Duration = Duration::from_micros(50);

fn open_transactions() -> std::sync::MutexGuard<'static, std::collections::HashMap<u64, (usize, usize)>> {
    OPEN_TRANSACTIONS.lock().expect("transaction parts lock")
}

/// One part of `transaction` is written; `durable` when also synced (or
/// when no sync is promised, or a snapshot holds it).
fn part_done(transaction: u64, written: bool, durable: bool) {
    let mut open = open_transactions();
    if let Some((unwritten, undurable)) = open.get_mut(&transaction) {
        *unwritten -= usize::from(written);
        *undurable -= usize::from(durable);
        if *undurable == 0 {
            open.remove(&transaction);
        }
    }
}

fn all_parts_written(transaction: u64) -> bool {
    open_transactions()
        .get(&transaction)
        .is_none_or(|(unwritten, _)| *unwritten == 0)
}

fn all_parts_durable(transaction: u64) -> bool {
    !open_transactions().contains_key(&transaction)
}

/// One shard's WAL state (no I/O: the commit task does the writing).
pub struct ShardWal {
    pub fsync: Fsync,
    pub dir: PathBuf,
    pub journal: Rc<RefCell<Journal>>,
    /// The segment new groups go to.
    pub segment: u64,
    /// Changes made now belong to this epoch; epochs up to `durable_epoch`
    /// are written (and synced under `always`), up to `written_epoch`
    /// written.
    pub open_epoch: u64,
    pub durable_epoch: u64,
    pub written_epoch: u64,
    queue: VecDeque<Group>,
    waiters: Vec<(u64, Responder<ShardState>)>,
    pub kick: Rc<Notify>,
    /// The last write or sync error, until a later one succeeds: writes are
    /// refused meanwhile (Redis's MISCONF for the AOF).
    pub error: Option<String>,
    /// Bytes written to the current segment (INFO aof_current_size).
    pub written_bytes: u64,
    /// Segments before this one are covered by a snapshot on disk: their
    /// groups need not be written and their files are deleted.
    pub drop_before: u64,
}

/// Whether the WAL is on for this shard and what a client must wait for:
/// the epoch holding changes not yet durable.
pub fn uncommitted_epoch(state: &ShardState) -> Option<u64> {
    let wal = state.wal.as_ref()?;
    if wal.fsync != Fsync::Always {
        return None;
    }
    let pending = !wal.journal.borrow().is_empty() || !wal.queue.is_empty();
    (pending || wal.durable_epoch + 1 < wal.open_epoch).then_some(wal.open_epoch)
}

/// Wakes the commit task if there is something to write.
pub fn kick(state: &ShardState) {
    if let Some(wal) = &state.wal {
        if !wal.journal.borrow().is_empty() {
            wal.kick.notify_all();
        }
    }
}

/// Registers `responder` to be answered (true when durable, false when the
/// write failed) once `epoch` is durable.
pub fn wait_durable(state: &mut ShardState, epoch: u64, responder: Responder<ShardState>) {
    let Some(wal) = state.wal.as_mut() else {
        return responder.reply(true);
    };
    if wal.durable_epoch >= epoch {
        return responder.reply(true);
    }
    wal.waiters.push((epoch, responder));
    wal.kick.notify_all();
}

fn segment_path(dir: &Path, segment: u64, shard: usize, shards: usize) -> PathBuf {
    dir.join(format!("tessera.{segment}.{shard}-of-{shards}.wal"))
}

/// A WAL file found on disk.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub segment: u64,
    pub shard: usize,
    pub shards: usize,
}

/// The WAL files in `dir`, by segment then shard.
pub fn list_segments(dir: &Path) -> Vec<SegmentFile> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("tessera.").and_then(|r| r.strip_suffix(".wal")) else {
            continue;
        };
        let mut parts = rest.splitn(2, '.');
        let (Some(segment), Some(owner)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some((shard, shards)) = owner.split_once("-of-") else {
            continue;
        };
        if let (Ok(segment), Ok(shard), Ok(shards)) = (segment.parse(), shard.parse(), shards.parse()) {
            found.push(SegmentFile {
                path: entry.path(),
                segment,
                shard,
                shards,
            });
        }
    }
    found.sort_by_key(|f| (f.segment, f.shard));
    found
}

/// Turns WAL tracking on for a shard: a journal shared by its databases,
/// writing to `segment`.
pub fn enable(state: &mut ShardState, dir: PathBuf, fsync: Fsync, segment: u64) {
    let journal = Rc::new(RefCell::new(Journal::new(state.dbs.len())));
    for db in state.dbs.iter_mut() {
        db.journal = Some(journal.clone());
    }
    state.wal = Some(ShardWal {
        fsync,
        dir,
        journal,
        segment,
        open_epoch: 1,
        durable_epoch: 0,
        written_epoch: 0,
        queue: VecDeque::new(),
        waiters: Vec::new(),
        kick: Rc::new(Notify::default()),
        error: None,
        written_bytes: 0,
        drop_before: 0,
    });
}

/// Turns WAL tracking off (CONFIG SET appendonly no): pending waiters are
/// answered once their groups are written by the commit task, which then
/// stops.
pub fn disable(state: &mut ShardState) {
    for db in state.dbs.iter_mut() {
        db.journal = None;
    }
    if let Some(wal) = state.wal.as_mut() {
        wal.kick.notify_all();
    }
}

/// Seals the journal into a group: whole-database operations in order,
/// then the final state of each changed key.
pub fn seal(state: &mut ShardState, now_ms: u64) {
    seal_group(state, now_ms, None);
}

/// Seals what the journal holds into a group, opened by a transaction
/// marker when given; returns the group's epoch (None when nothing changed).
fn seal_group(state: &mut ShardState, now_ms: u64, transaction: Option<(u64, &[u16])>) -> Option<u64> {
    let wal = state.wal.as_mut()?;
    if wal.journal.borrow().is_empty() && transaction.is_none() {
        return None;
    }
    let journal = std::mem::replace(&mut *wal.journal.borrow_mut(), Journal::new(state.dbs.len()));
    let mut w = RdbWriter::new(false);
    if let Some((id, shards)) = transaction {
        w.u8(OP_TRANSACTION);
        w.u64_le(id);
        w.length(shards.len() as u64);
        for &shard in shards {
            w.length(shard as u64);
        }
    }
    for op in &journal.ops {
        match op {
            JournalOp::Flush(db) => {
                w.u8(OP_FLUSH);
                w.length(*db as u64);
            }
            JournalOp::Swap(a, b) => {
                w.u8(OP_SWAP);
                w.length(*a as u64);
                w.length(*b as u64);
            }
            JournalOp::Command { db, time_ms, argv } => {
                w.u8(OP_COMMAND);
                w.length(*db as u64);
                w.u64_le(*time_ms);
                w.length(argv.len() as u64);
                for arg in argv {
                    w.length(arg.len() as u64);
                    w.buf.extend_from_slice(arg);
                }
            }
        }
    }
    for (index, keys) in journal.keys.iter().enumerate() {
        let db = &state.dbs[index];
        for key in keys {
            match db.entries.get(key) {
                Some(entry) => {
                    w.u8(OP_SET);
                    w.length(index as u64);
                    w.string(key);
                    let at = if entry.has_expire {
                        db.expire_at(key).unwrap_or(0)
                    } else {
                        0
                    };
                    w.u64_le(at);
                    value::write_value(&mut w, &entry.value);
                }
                None => {
                    w.u8(OP_DEL);
                    w.length(index as u64);
                    w.string(key);
                }
            }
        }
    }
    let wal = state.wal.as_mut().expect("wal checked above");
    let epoch = wal.open_epoch;
    wal.queue.push_back(Group {
        segment: wal.segment,
        epoch,
        time_ms: now_ms,
        payload: w.buf,
        transaction: transaction.map(|(id, _)| id),
    });
    wal.open_epoch += 1;
    Some(epoch)
}

/// A process-unique id for a logged transaction: high bits drawn at start
/// (ids of an earlier run, still in old segments, do not match) and a
/// counter.
fn next_transaction_id() -> u64 {
    use cores::seam::Rng;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static BASE: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let mut rng = cores::seam::XorShift64::from_entropy(std::process::id() as u64);
        rng.next_u64() & !0xffff_ffff
    });
    base | (NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff)
}

/// Whether the WAL is on for this shard.
pub fn enabled(state: &ShardState) -> bool {
    state.wal.is_some()
}

/// After a transaction spanning `targets`, before its locks are released:
/// each shard seals what its journal holds (the transaction's changes, and
/// others' changes from before the locks) into one group marked with the
/// transaction and its shards (a shard the transaction did not change
/// writes the marker alone). Replay drops a transaction one of whose parts
/// is missing. So that a dropped part never takes an acknowledged change
/// with it, and no later change on disk builds on a part that is not, each
/// shard's commit task, having written its part, writes nothing more until
/// every part is written, and under `always` acknowledges the group only
/// once every part is synced (`commit_loop`).
pub async fn commit_across(session: &crate::session::Session, targets: &[ShardId]) {
    let id = next_transaction_id();
    let shards: Vec<u16> = targets.iter().map(|s| s.0).collect();
    open_transactions().insert(id, (targets.len(), targets.len()));
    for &target in targets {
        let shards = shards.clone();
        let sealed = session
            .call(target, move |state: &mut ShardState| {
                let sealed = seal_group(state, crate::exec::now_ms(), Some((id, &shards))).is_some();
                if let Some(wal) = &state.wal {
                    // The other parts' shards wait for this one.
                    wal.kick.notify_all();
                }
                sealed
            })
            .await;
        if !sealed {
            // The WAL went off meanwhile: no part will come from there.
            part_done(id, true, true);
        }
    }
}

/// Under a snapshot's lock: seals what is pending into the current segment
/// and moves to the next one. Returns the new segment: older ones may be
/// deleted once the snapshot is on disk.
pub fn rotate_for_snapshot(state: &mut ShardState, now_ms: u64) -> u64 {
    seal(state, now_ms);
    match state.wal.as_mut() {
        Some(wal) => {
            wal.segment += 1;
            wal.segment
        }
        None => 0,
    }
}

/// After a snapshot reached the disk: segments before `segment` are no
/// longer needed. With a WAL, each shard's commit task deletes its own;
/// without one, every segment file left in the directory goes (the snapshot
/// holds everything they could).
pub fn snapshot_written(state: &mut ShardState, segment: u64) {
    match state.wal.as_mut() {
        Some(wal) => {
            wal.drop_before = wal.drop_before.max(segment);
            wal.kick.notify_all();
        }
        None => {
            if state.id.0 == 0 {
                let dir = PathBuf::from(state.config.get("appenddirname").unwrap_or("appendonlydir"));
                delete_segments(&dir, u64::MAX, |_| true);
            }
        }
    }
}

fn delete_segments(dir: &Path, before: u64, mine: impl Fn(&SegmentFile) -> bool) {
    for file in list_segments(dir) {
        if file.segment < before && mine(&file) {
            if let Err(error) = std::fs::remove_file(&file.path) {
                crate::warning!("Could not delete WAL segment {}: {error}", file.path.display());
            }
        }
    }
}

/// The commit task of one shard: writes sealed groups, syncs per policy,
/// answers durability waiters. Ends when the WAL is turned off and drained.
pub async fn commit_loop(shard: Rc<Shard<ShardState>>) {
    let Some(kick) = shard.state().wal.as_ref().map(|w| w.kick.clone()) else {
        return;
    };
    let (id, shards) = (shard.id().0 as usize, shard.count());
    let mut writer: Option<(u64, LogWriter<SyncFile>)> = None;
    let mut last_sync = std::time::Instant::now();
    let mut unsynced = false;
    // Parts of transactions written here and not yet synced.
    let mut unsynced_parts: Vec<u64> = Vec::new();
    let mut dropped_before = 0;
    loop {
        let (idle, fresh, queued) = {
            let state = shard.state();
            match &state.wal {
                None => return,
                Some(wal) => {
                    let fresh = !wal.journal.borrow().is_empty();
                    let queued = !wal.queue.is_empty();
                    (!fresh && !queued && wal.waiters.is_empty(), fresh, queued)
                }
            }
        };
        if idle {
            let poll = cores::sleep(Duration::from_millis(COMMIT_POLL_MS));
            futures_lite::future::or(kick.notified(), poll).await;
        }
        if idle || !fresh {
            // Let the other tasks of this tick add their changes to the group.
            cores::yield_now().await;
        }
        // Otherwise these changes arrived while the previous group was being
        // written and synced: they go at once, so that the disk is never idle
        // while a client waits (measured: 69k against 62k SETs/s at 50
        // clients under appendfsync always, one shard).
        // A transaction holding the lock is still changing the journal: it
        // is sealed once the transaction ends (which seals it itself when it
        // spans shards). Groups sealed before it are written meanwhile: a
        // transaction spanning shards waits for them.
        if !queued && shard.lock_holder().is_some() {
            // Until the transaction ends, or queues groups (and kicks).
            futures_lite::future::or(shard.wait_unlocked(None), kick.notified()).await;
            continue;
        }
        let (groups, fsync, dir, tracking, drop_before) = {
            let mut state = shard.state();
            let tracking = state.dbs.first().is_some_and(|db| db.journal.is_some());
            if shard.lock_holder().is_none() {
                seal(&mut state, crate::exec::now_ms());
            }
            let wal = state.wal.as_mut().expect("wal present");
            let drop_before = wal.drop_before;
            (
                std::mem::take(&mut wal.queue),
                wal.fsync,
                wal.dir.clone(),
                tracking,
                drop_before,
            )
        };
        if writer.as_ref().is_some_and(|(segment, _)| *segment < drop_before) {
            writer = None;
        }
        if drop_before > dropped_before {
            delete_segments(&dir, drop_before, |file| {
                (file.shard == id && file.shards == shards) || (id == 0 && file.shards != shards)
            });
            dropped_before = drop_before;
        }
        let mut failed = None;
        let mut last_epoch = None;
        let mut last_written = None;
        let mut remaining = groups;
        while let Some(group) = remaining.pop_front() {
            if group.segment < drop_before {
                // A snapshot on disk already holds this group's changes.
                last_written = Some(group.epoch);
                shard.state().wal.as_mut().expect("wal present").written_epoch = group.epoch;
                if let Some(transaction) = group.transaction {
                    part_done(transaction, true, true);
                }
                continue;
            }
            if writer.as_ref().is_none_or(|(segment, _)| *segment != group.segment) {
                if let Some((_, mut old)) = writer.take() {
                    // The previous segment's last records must be durable too.
                    if fsync != Fsync::No {
                        if let Err(error) = old.sync().await {
                            failed = Some(error.to_string());
                            remaining.push_front(group);
                            break;
                        }
                    }
                }
                match open_segment(&dir, group.segment, id, shards).await {
                    Ok(opened) => writer = Some((group.segment, opened)),
                    Err(error) => {
                        failed = Some(error.to_string());
                        remaining.push_front(group);
                        break;
                    }
                }
            }
            let (_, log) = writer.as_mut().expect("writer opened");
            // Every group is written, then one sync covers them all.
            match log.commit(&group.payload, group.time_ms, false).await {
                Ok(_) => {
                    last_written = Some(group.epoch);
                    unsynced = true;
                    {
                        let mut state = shard.state();
                        let wal = state.wal.as_mut().expect("wal present");
                        wal.written_bytes = log.offset();
                        wal.written_epoch = group.epoch;
                    }
                    if let Some(transaction) = group.transaction {
                        // Without a sync to wait for, written is durable.
                        part_done(transaction, true, fsync != Fsync::Always);
                        if fsync == Fsync::Always {
                            unsynced_parts.push(transaction);
                        }
                        // Nothing after this part until the other parts
                        // are written too; then this pass ends, so the
                        // part is synced before the next one is written
                        // (shards meet at each transaction in the same
                        // order, so no two wait for each other).
                        while !all_parts_written(transaction) && shard.state().wal.is_some() {
                            cores::sleep(PARTS_POLL).await;
                        }
                        break;
                    }
                }
                Err(error) => {
                    failed = Some(error.to_string());
                    remaining.push_front(group);
                    break;
                }
            }
        }
        if failed.is_none() && !remaining.is_empty() {
            // The pass ended at a transaction's part: the rest comes next.
            let mut state = shard.state();
            let wal = state.wal.as_mut().expect("wal present");
            while let Some(group) = remaining.pop_back() {
                wal.queue.push_front(group);
            }
        }
        if fsync != Fsync::Always || !unsynced {
            // Nothing to sync (or no sync wanted): written is as far as it goes.
            last_epoch = last_written;
        } else if failed.is_none() {
            if let Some((_, log)) = writer.as_mut() {
                match log.sync().await {
                    Ok(()) => {
                        unsynced = false;
                        // A group holding a part of a transaction is
                        // acknowledged once every part is durable.
                        let parts = std::mem::take(&mut unsynced_parts);
                        for &transaction in &parts {
                            part_done(transaction, false, true);
                        }
                        for transaction in parts {
                            while !all_parts_durable(transaction) && shard.state().wal.is_some() {
                                cores::sleep(PARTS_POLL).await;
                            }
                        }
                        last_epoch = Some(shard.state().wal.as_ref().expect("wal present").written_epoch);
                    }
                    Err(error) => failed = Some(error.to_string()),
                }
            }
        }
        if fsync == Fsync::EverySec && unsynced && last_sync.elapsed() >= Duration::from_secs(1) {
            if let Some((_, log)) = writer.as_mut() {
                match log.sync().await {
                    Ok(()) => unsynced = false,
                    Err(error) => failed = Some(error.to_string()),
                }
            }
            last_sync = std::time::Instant::now();
        }
        let finished = {
            let mut state = shard.state();
            let wal = state.wal.as_mut().expect("wal present");
            if let Some(epoch) = last_epoch {
                wal.durable_epoch = epoch;
            }
            match &failed {
                Some(error) => {
                    if wal.error.is_none() {
                        crate::warning!("Error writing to the WAL: {error}; refusing writes until it succeeds");
                    }
                    wal.error = Some(error.clone());
                    set_write_error(Some(error.clone()));
                    // Unwritten groups go back in front, in order.
                    while let Some(group) = remaining.pop_back() {
                        wal.queue.push_front(group);
                    }
                    // A client waiting on a failed group is never told OK.
                    let durable = wal.durable_epoch;
                    for (epoch, responder) in std::mem::take(&mut wal.waiters) {
                        responder.reply(epoch <= durable);
                    }
                }
                None => {
                    if wal.error.take().is_some() {
                        crate::notice!("WAL writes succeed again: accepting writes");
                        set_write_error(None);
                    }
                    let durable = wal.durable_epoch;
                    let waiters = std::mem::take(&mut wal.waiters);
                    for (epoch, responder) in waiters {
                        if epoch <= durable || (wal.queue.is_empty() && wal.journal.borrow().is_empty()) {
                            responder.reply(true);
                        } else {
                            wal.waiters.push((epoch, responder));
                        }
                    }
                }
            }
            !tracking && wal.queue.is_empty()
        };
        if finished {
            if let Some((_, mut log)) = writer.take() {
                let _ = log.sync().await;
            }
            let mut state = shard.state();
            if let Some(wal) = state.wal.take() {
                for (_, responder) in wal.waiters {
                    responder.reply(true);
                }
            }
            return;
        }
        if failed.is_some() {
            cores::sleep(Duration::from_millis(RETRY_MS)).await;
        }
    }
}

async fn open_segment(dir: &Path, segment: u64, shard: usize, shards: usize) -> std::io::Result<LogWriter<SyncFile>> {
    std::fs::create_dir_all(dir)?;
    let path = segment_path(dir, segment, shard, shards);
    let length = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let file = SyncFile::open(&path)?;
    // A segment reopened after a restart continues after its last valid
    // record (recovery cut any torn tail; the zeros of its reserved space
    // are overwritten); its sequence restarts at 1 in a fresh file only.
    let (offset, next_seq) = if length == 0 {
        (0, 1)
    } else {
        let data = std::fs::read(&path)?;
        let (records, _) = wal::log::scan(&data, None);
        let end: usize = records.iter().map(|r| wal::log::HEADER_BYTES + r.payload.len()).sum();
        (end as u64, records.last().map_or(1, |r| r.seq + 1))
    };
    Ok(LogWriter::new(file, offset, next_seq))
}

/// What replaying found.
#[derive(Default, Debug, Clone, Copy)]
pub struct ReplayStats {
    pub records: u64,
    pub keys_set: u64,
    pub keys_deleted: u64,
    pub torn_tails: u64,
    /// Groups of transactions that some shard did not log (not applied).
    pub incomplete_transactions: u64,
}

/// Which shard logs hold which transactions: (layout's shard count, shard,
/// transaction id), for the segments replayed. Built on first need.
type TransactionIndex = std::collections::HashSet<(usize, usize, u64)>;

fn transaction_index(dir: &Path, from_segment: u64) -> Result<TransactionIndex, String> {
    let mut index = TransactionIndex::new();
    for file in list_segments(dir) {
        if file.segment < from_segment {
            continue;
        }
        let data = std::fs::read(&file.path).map_err(|e| format!("{}: {e}", file.path.display()))?;
        let (records, _) = wal::log::scan(&data, None);
        for record in records {
            if let Some(id) = transaction_of(record.payload) {
                index.insert((file.shards, file.shard, id.0));
            }
        }
    }
    Ok(index)
}

/// The transaction marker opening a group: its id and shards.
fn transaction_of(payload: &[u8]) -> Option<(u64, Vec<usize>)> {
    if payload.first() != Some(&OP_TRANSACTION) {
        return None;
    }
    let mut r = RdbReader::new(&payload[1..]);
    let id = r.u64_le().ok()?;
    let count = r.count(1).ok()?;
    let mut shards = Vec::with_capacity(count);
    for _ in 0..count {
        shards.push(r.length().ok()? as usize);
    }
    Some((id, shards))
}

/// Replays the WAL segments in `dir` from `from_segment` on (the snapshot
/// holds the older ones) into this shard, taking the keys it owns. A torn last record is cut off (with a log line); a damaged record
/// elsewhere is an error naming file and offset.
pub fn replay_all(
    state: &mut ShardState,
    dir: &Path,
    truncate_torn: bool,
    from_segment: u64,
) -> Result<ReplayStats, String> {
    let mut stats = ReplayStats::default();
    let limits = super::load_limits_of(state);
    let mut index: Option<TransactionIndex> = None;
    for file in list_segments(dir) {
        if file.segment < from_segment {
            // Held by the snapshot already (a crash came before its deletion).
            continue;
        }
        if file.shards == state.shards && file.shard != state.id.0 as usize {
            // Same layout: another shard's log holds none of this shard's keys.
            continue;
        }
        let data = std::fs::read(&file.path).map_err(|e| format!("{}: {e}", file.path.display()))?;
        let (records, tail) = wal::log::scan(&data, None);
        match tail {
            Tail::Clean => {}
            Tail::Torn { offset } if state.config.get("aof-load-truncated") == Some("no") => {
                return Err(format!(
                    "WAL {} ends with an incomplete record at offset {offset}; set aof-load-truncated yes to start \
                     without it",
                    file.path.display()
                ));
            }
            Tail::Torn { offset } => {
                stats.torn_tails += 1;
                // Only the owning shard (same count) cuts the file; every
                // shard skips the torn bytes.
                if truncate_torn && file.shard == state.id.0 as usize && file.shards == state.shards {
                    crate::warning!(
                        "WAL {} ends with an incomplete record at offset {offset} ({} bytes): cut off",
                        file.path.display(),
                        data.len() - offset
                    );
                    let handle = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&file.path)
                        .map_err(|e| format!("{}: {e}", file.path.display()))?;
                    handle
                        .set_len(offset as u64)
                        .and_then(|_| handle.sync_all())
                        .map_err(|e| format!("{}: {e}", file.path.display()))?;
                }
            }
            Tail::Corrupt { offset, reason } => {
                return Err(format!(
                    "WAL {} is damaged at offset {offset}: {reason}",
                    file.path.display()
                ));
            }
        }
        for record in records {
            stats.records += 1;
            if let Some((id, shards)) = transaction_of(record.payload) {
                if index.is_none() {
                    index = Some(transaction_index(dir, from_segment)?);
                }
                let logged = index.as_ref().expect("built above");
                let missing: Vec<usize> = shards
                    .iter()
                    .copied()
                    .filter(|&shard| !logged.contains(&(file.shards, shard, id)))
                    .collect();
                if !missing.is_empty() {
                    // The crash came before every part was written: the
                    // transaction never happened (nobody was told it did).
                    let me = state.id.0 as usize;
                    if (file.shards == state.shards && file.shard == me) || (file.shards != state.shards && me == 0) {
                        crate::warning!(
                            "WAL {} record {}: transaction {id:#x} is missing on shard(s) {missing:?} of {}: not applied",
                            file.path.display(),
                            record.seq,
                            file.shards
                        );
                    }
                    stats.incomplete_transactions += 1;
                    continue;
                }
            }
            apply_group(state, record.payload, &file, &limits, &mut stats).map_err(|e| {
                format!(
                    "WAL {} record {} cannot be applied: {e}",
                    file.path.display(),
                    record.seq
                )
            })?;
        }
    }
    Ok(stats)
}

fn apply_group(
    state: &mut ShardState,
    payload: &[u8],
    file: &SegmentFile,
    limits: &LoadLimits,
    stats: &mut ReplayStats,
) -> Result<(), RdbError> {
    let me = state.id;
    let shards = state.shards;
    let same_layout = file.shards == shards;
    // Whole-database operations of another shard's log touch only the keys
    // that shard owned (none of ours when the layout is unchanged).
    let from_log = |key: &[u8]| key_shard(key, file.shards).0 as usize == file.shard;
    let now = crate::exec::now_ms();
    let mut r = RdbReader::new(payload);
    while r.remaining() > 0 {
        let op = r.u8()?;
        match op {
            OP_TRANSACTION => {
                // Checked before the group was applied.
                r.u64_le()?;
                let count = r.count(1)?;
                for _ in 0..count {
                    r.length()?;
                }
            }
            OP_SET | OP_DEL => {
                let db = r.length()? as usize;
                let key = r.string()?;
                let mine = key_shard(&key, shards) == me;
                if op == OP_DEL {
                    if mine && db < state.dbs.len() {
                        state.dbs[db].delete(&key, now);
                        stats.keys_deleted += 1;
                    }
                    continue;
                }
                let at = r.u64_le()?;
                if !mine || db >= state.dbs.len() {
                    let type_byte = r.u8()?;
                    value::skip_value(&mut r, type_byte)?;
                    continue;
                }
                let type_byte = r.u8()?;
                let v = value::read_value(&mut r, type_byte, limits)?;
                let target = &mut state.dbs[db];
                target.delete(&key, now);
                target.insert(&key, v, (at != 0).then_some(at), now);
                stats.keys_set += 1;
            }
            OP_FLUSH => {
                let db = r.length()? as usize;
                if db >= state.dbs.len() {
                    continue;
                }
                if same_layout {
                    if file.shard == me.0 as usize {
                        state.dbs[db].flush(now);
                    }
                } else {
                    let doomed: Vec<Vec<u8>> = state.dbs[db]
                        .entries
                        .iter()
                        .filter(|e| from_log(&e.key))
                        .map(|e| e.key.to_vec())
                        .collect();
                    for key in doomed {
                        state.dbs[db].delete(&key, now);
                    }
                }
            }
            OP_SWAP => {
                let (a, b) = (r.length()? as usize, r.length()? as usize);
                if a >= state.dbs.len() || b >= state.dbs.len() {
                    continue;
                }
                if same_layout {
                    if file.shard == me.0 as usize {
                        crate::families::keys::op_swapdb(&mut state.dbs, a, b, now);
                    }
                } else {
                    swap_filtered(&mut state.dbs, a, b, &from_log, now);
                }
            }
            OP_COMMAND => {
                let db = r.length()? as usize;
                let time_ms = r.u64_le()?;
                let argc = r.count(1)?;
                let mut args = Vec::with_capacity(argc);
                for _ in 0..argc {
                    let len = r.length()? as usize;
                    args.push(r.bytes(len)?);
                }
                replay_command(state, db, time_ms, &args).map_err(|what| r.error(what))?;
            }
            _ => return Err(r.error("unknown WAL operation")),
        }
    }
    Ok(())
}

/// Replays a logged command on this shard if it owns the command's key, with
/// the time it originally ran at.
fn replay_command(state: &mut ShardState, db: usize, time_ms: u64, args: &[&[u8]]) -> Result<(), &'static str> {
    let argv = crate::OwnedArgv::from_parts(args.iter().copied());
    let argv = argv.argv();
    let spec = crate::command::lookup(argv.get(0)).ok_or("unknown command in the WAL")?;
    let crate::command::Handler::Keyed { run, .. } = spec.handler else {
        return Err("not a keyed command in the WAL");
    };
    let keys = spec.key_indexes(&argv);
    let [key] = keys[..] else {
        return Err("a logged command must have one key");
    };
    if key_shard(argv.get(key), state.shards) != state.id || db >= state.dbs.len() {
        return Ok(());
    }
    let mut out = crate::resp::ReplyBuf::with_capacity(false, 64);
    crate::exec::run_keyed_at(state, *run, &argv, db, &mut out, time_ms);
    Ok(())
}

/// SWAPDB restricted to the keys another layout's shard owned.
fn swap_filtered(dbs: &mut [Db], a: usize, b: usize, owned: &dyn Fn(&[u8]) -> bool, now: u64) {
    let take = |db: &mut Db| {
        let keys: Vec<Vec<u8>> = db
            .entries
            .iter()
            .filter(|e| owned(&e.key))
            .map(|e| e.key.to_vec())
            .collect();
        keys.into_iter()
            .filter_map(|k| db.take(&k, now).map(|(v, at)| (k, v, at)))
            .collect::<Vec<_>>()
    };
    let from_a = take(&mut dbs[a]);
    let from_b = take(&mut dbs[b]);
    for (k, v, at) in from_a {
        dbs[b].insert(&k, v, at, now);
    }
    for (k, v, at) in from_b {
        dbs[a].insert(&k, v, at, now);
    }
}

/// Syncs every WAL file in `dir` (at shutdown, whatever the policy).
pub fn sync_files(dir: &Path) {
    for file in list_segments(dir) {
        if let Err(error) = std::fs::File::open(&file.path).and_then(|f| f.sync_all()) {
            crate::warning!("Could not sync {}: {error}", file.path.display());
        }
    }
}

/// The next segment number after what `dir` holds.
pub fn next_segment(dir: &Path) -> u64 {
    list_segments(dir).iter().map(|f| f.segment).max().map_or(1, |s| s + 1)
}

/// Waits until every change this session may have seen on `targets` is
/// durable. False when a write failed (the replies must not be sent).
pub async fn barrier(shard: &Rc<Shard<ShardState>>, targets: &[(ShardId, u64)]) -> bool {
    let mut ok = true;
    for &(target, epoch) in targets {
        let durable: bool = shard
            .call_deferred(target, move |state: &mut ShardState, responder| {
                wait_durable(state, epoch, responder)
            })
            .await;
        ok &= durable;
    }
    ok
}

/// Keeps a shard's commit task running while its WAL is on (it may be
/// turned on and off at runtime).
pub async fn supervise(shard: Rc<Shard<ShardState>>) {
    loop {
        let on = shard.state().wal.is_some();
        if on {
            commit_loop(shard.clone()).await;
        } else {
            cores::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The WAL directory and fsync policy a configuration names.
pub fn settings(config: &crate::config::Config) -> (PathBuf, Fsync) {
    (
        PathBuf::from(config.get("appenddirname").unwrap_or("appendonlydir")),
        Fsync::parse(config.get("appendfsync").unwrap_or("everysec")),
    )
}

/// The last WAL write error of any shard, while it lasts (writes are refused).
static WRITE_ERROR: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Fast check for the command path: whether `WRITE_ERROR` is set.
static WRITE_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn write_error() -> Option<String> {
    if !WRITE_FAILED.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    WRITE_ERROR.lock().expect("wal error lock").clone()
}

fn set_write_error(error: Option<String>) {
    let mut slot = WRITE_ERROR.lock().expect("wal error lock");
    WRITE_FAILED.store(error.is_some(), std::sync::atomic::Ordering::Relaxed);
    *slot = error;
}
