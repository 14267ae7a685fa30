//! One database's partition on one shard: entries, expiry times, WATCH
//! registrations, and the counters INFO reports.

use super::table::{Keyed, Table};
use super::{CompactBytes, Value};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A key and its value.
pub struct Entry {
    pub key: CompactBytes,
    pub value: Value,
    /// Last access, in seconds of the LRU clock (for OBJECT IDLETIME).
    pub lru: u32,
    /// Whether the key has an expiry in `Db::expires`.
    pub has_expire: bool,
}

impl Keyed for Entry {
    fn key(&self) -> &[u8] {
        &self.key
    }
}

/// A key's absolute expiry time.
pub struct ExpireEntry {
    pub key: CompactBytes,
    pub at_ms: u64,
}

impl Keyed for ExpireEntry {
    fn key(&self) -> &[u8] {
        &self.key
    }
}

/// Set when a watched key is modified; shared with the watching connection,
/// which may live on another shard.
pub type WatchFlag = Arc<AtomicBool>;

/// One connection's WATCH on a key.
struct Watcher {
    flag: WatchFlag,
    /// The key was expired but not yet deleted when watched (or has since
    /// been replaced by such a key): its deletion is no logical change.
    stale: bool,
}

/// The LRU clock: seconds, wrapping at 2^32.
pub fn lru_clock(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

#[derive(Default)]
pub struct DbStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    /// Writes since the last save (rdb_changes_since_last_save).
    pub dirty: u64,
}

#[derive(Default)]
pub struct Db {
    pub entries: Table<Entry>,
    pub expires: Table<ExpireEntry>,
    watched: HashMap<Vec<u8>, Vec<Watcher>>,
    pub stats: DbStats,
    /// Where the active expiry cycle resumes in `expires`.
    pub expire_cursor: u64,
    /// Keys modified since `start_recording` (scratch databases only).
    recorded: Option<Vec<Vec<u8>>>,
    /// Keys some client is blocked on (BLPOP and friends), and those among
    /// them written since the shard last served its blocked clients.
    pub blocked: std::collections::HashSet<Vec<u8>>,
    pub ready: Vec<Vec<u8>>,
    /// This database's index, and the shard's write-ahead journal when
    /// `appendonly` is on: every change is noted there for the next group
    /// commit.
    pub index: usize,
    pub journal: Option<Rc<RefCell<Journal>>>,
    /// This is a shard's own database (false in the scratch databases of
    /// gathered commands, whose keys live on other shards): expired keys
    /// are propagated to replicas as DEL, and changes invalidate what
    /// tracking clients cached.
    pub owns_keys: bool,
}

/// What changed on a shard since its last WAL group: structural operations
/// in order, and per database the keys whose final state must be logged.
#[derive(Default)]
pub struct Journal {
    pub ops: Vec<JournalOp>,
    pub keys: Vec<HashSet<Vec<u8>>>,
}

/// Changes replayed in order before key states: whole-database operations,
/// and deterministic single-key commands logged as themselves (so a push
/// onto a large list costs its own size in the log, not the list's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalOp {
    Flush(usize),
    Swap(usize, usize),
    Command {
        db: usize,
        time_ms: u64,
        argv: Vec<Vec<u8>>,
    },
}

impl Journal {
    pub fn new(databases: usize) -> Journal {
        Journal {
            ops: Vec::new(),
            keys: (0..databases).map(|_| HashSet::new()).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.keys.iter().all(|k| k.is_empty())
    }
}

impl Db {
    /// An empty database that knows its index (for the WAL journal).
    pub fn with_index(index: usize) -> Db {
        Db {
            index,
            owns_keys: true,
            ..Db::default()
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// The expiry of `key`, if it has one (expired or not).
    pub fn expire_at(&self, key: &[u8]) -> Option<u64> {
        self.expires.get(key).map(|e| e.at_ms)
    }

    fn is_expired(&self, key: &[u8], now_ms: u64) -> bool {
        matches!(self.expire_at(key), Some(at) if at <= now_ms)
    }

    /// Deletes `key` if it has expired (lazy expiry). Returns true if it did.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.live_index(key, now_ms).is_err()
    }

    /// Finds a key with one probe of the table, expiring it lazily: Ok(slot)
    /// when live, Err(true) when it was expired (and is now deleted),
    /// Err(false) when absent.
    fn live_index(&mut self, key: &[u8], now_ms: u64) -> Result<usize, bool> {
        let index = self.entries.find(key).ok_or(false)?;
        if self.entries.at(index).has_expire && self.is_expired(key, now_ms) {
            self.expire_now(key);
            return Err(true);
        }
        Ok(index)
    }

    /// Deletes an expired key: counted as expired, not as a change by the
    /// command that met it, and propagated to replicas as DEL at once (so
    /// it stays outside any MULTI/EXEC block the command's effects form).
    fn expire_now(&mut self, key: &[u8]) {
        self.remove_by(key, false);
        self.stats.dirty -= 1;
        self.stats.expired_keys += 1;
        if self.owns_keys {
            crate::repl::feed::propagate(self.index, &[b"DEL", key]);
        }
    }

    /// Looks a key up for reading: lazy expiry, hit/miss counters, LRU touch.
    pub fn read(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        match self.live_index(key, now_ms) {
            Ok(index) => {
                self.stats.keyspace_hits += 1;
                let entry = self.entries.at_mut(index);
                entry.lru = lru_clock(now_ms);
                Some(entry)
            }
            Err(_) => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// Looks a key up without touching counters or the LRU clock (but still
    /// expiring it lazily).
    pub fn peek(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        let index = self.live_index(key, now_ms).ok()?;
        Some(self.entries.at_mut(index))
    }

    /// Looks a key up for writing: lazy expiry and LRU touch. The caller must
    /// call `modified` if it changes the value.
    pub fn write(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        let index = self.live_index(key, now_ms).ok()?;
        let entry = self.entries.at_mut(index);
        entry.lru = lru_clock(now_ms);
        Some(entry)
    }

    pub fn exists(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.expire_if_needed(key, now_ms);
        self.entries.contains(key)
    }

    /// Signals that `key` changed: WATCH flags, the dirty counter, and
    /// client-side caching.
    pub fn modified(&mut self, key: &[u8]) {
        self.changed(key, true);
    }

    /// `modified`, where `by_caller` is false when no client caused the
    /// change (expiry).
    fn changed(&mut self, key: &[u8], by_caller: bool) {
        self.stats.dirty += 1;
        if self.owns_keys {
            crate::tracking::key_modified(key, by_caller);
        }
        if let Some(journal) = &self.journal {
            let mut journal = journal.borrow_mut();
            let keys = &mut journal.keys[self.index];
            if !keys.contains(key) {
                keys.insert(key.to_vec());
            }
        }
        self.touch_watched(key);
        self.signal_ready(key);
        if let Some(recorded) = self.recorded.as_mut() {
            if !recorded.iter().any(|k| k == key) {
                recorded.push(key.to_vec());
            }
        }
    }

    /// Marks a key clients are blocked on as ready to serve.
    pub fn signal_ready(&mut self, key: &[u8]) {
        if !self.blocked.is_empty() && self.blocked.contains(key) && !self.ready.iter().any(|k| k == key) {
            self.ready.push(key.to_vec());
        }
    }

    /// Starts recording which keys are modified (for gathered execution).
    pub fn start_recording(&mut self) {
        self.recorded = Some(Vec::new());
    }

    /// The keys modified since `start_recording`.
    pub fn take_recorded(&mut self) -> Vec<Vec<u8>> {
        self.recorded.take().unwrap_or_default()
    }

    /// Marks the watchers of `key` dirty after a change, as Redis's
    /// touchWatchedKey: a watcher that saw the key already expired is not
    /// dirtied by its deletion (no logical change), only by a new value.
    fn touch_watched(&mut self, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        let present = self.entries.contains(key);
        if let Some(watchers) = self.watched.get_mut(key) {
            watchers.retain_mut(|w| {
                if w.stale && !present {
                    w.stale = false;
                    return true;
                }
                w.flag.store(true, Ordering::Release);
                false
            });
            if watchers.is_empty() {
                self.watched.remove(key);
            }
        }
    }

    /// Stores `value` under `key`, replacing any value. The expiry is dropped
    /// unless `keep_ttl`.
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool, now_ms: u64) {
        match self.entries.get_mut(key) {
            Some(entry) => {
                entry.value = value;
                entry.lru = lru_clock(now_ms);
                if entry.has_expire && !keep_ttl {
                    entry.has_expire = false;
                    self.expires.remove(key);
                }
            }
            None => {
                self.entries.insert_new(Entry {
                    key: CompactBytes::new(key),
                    value,
                    lru: lru_clock(now_ms),
                    has_expire: false,
                });
            }
        }
        self.modified(key);
    }

    /// Inserts a key known to be absent, with an optional expiry.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at_ms: Option<u64>, now_ms: u64) {
        self.set(key, value, false, now_ms);
        if let Some(at) = expire_at_ms {
            self.set_expire(key, at);
        }
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.remove_by(key, true)
    }

    fn remove_by(&mut self, key: &[u8], by_caller: bool) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        if entry.has_expire {
            self.expires.remove(key);
        }
        self.changed(key, by_caller);
        Some(entry)
    }

    /// Deletes `key` (not yet expired). Returns whether it existed.
    pub fn delete(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.expire_if_needed(key, now_ms);
        self.remove(key).is_some()
    }

    /// Removes and returns the entry with its expiry (RENAME, MOVE, GETDEL).
    pub fn take(&mut self, key: &[u8], now_ms: u64) -> Option<(Value, Option<u64>)> {
        self.expire_if_needed(key, now_ms);
        let at = self.expire_at(key);
        self.remove(key).map(|entry| (entry.value, at))
    }

    /// Sets an absolute expiry on an existing key.
    pub fn set_expire(&mut self, key: &[u8], at_ms: u64) {
        let entry = self.entries.get_mut(key).expect("set_expire on a missing key");
        entry.has_expire = true;
        match self.expires.get_mut(key) {
            Some(e) => e.at_ms = at_ms,
            None => {
                self.expires.insert_new(ExpireEntry {
                    key: CompactBytes::new(key),
                    at_ms,
                });
            }
        }
        self.modified(key);
    }

    /// Removes a key's expiry; returns whether it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        if !entry.has_expire {
            return false;
        }
        entry.has_expire = false;
        self.expires.remove(key);
        self.modified(key);
        true
    }

    /// Registers a WATCH on `key`, remembering whether the key had already
    /// expired (without being deleted yet).
    pub fn watch(&mut self, key: &[u8], flag: WatchFlag, now_ms: u64) {
        let stale = self.entries.contains(key) && self.is_expired(key, now_ms);
        self.watched
            .entry(key.to_vec())
            .or_default()
            .push(Watcher { flag, stale });
    }

    /// Drops a connection's WATCH registration on `key`.
    pub fn unwatch(&mut self, key: &[u8], flag: &WatchFlag) {
        if let Some(watchers) = self.watched.get_mut(key) {
            watchers.retain(|w| !Arc::ptr_eq(&w.flag, flag));
            if watchers.is_empty() {
                self.watched.remove(key);
            }
        }
    }

    /// Whether `key`, watched with `flag` while live, has expired since (EXEC
    /// then fails, as Redis's isWatchedKeyExpired).
    pub fn watched_key_expired(&self, key: &[u8], flag: &WatchFlag, now_ms: u64) -> bool {
        let live_when_watched = self
            .watched
            .get(key)
            .and_then(|watchers| watchers.iter().find(|w| Arc::ptr_eq(&w.flag, flag)))
            .is_some_and(|w| !w.stale);
        live_when_watched && self.entries.contains(key) && self.is_expired(key, now_ms)
    }

    /// FLUSHDB and SWAPDB: marks dirty the watchers of keys present here or,
    /// for SWAPDB, in the database replacing this one, following Redis 7.0's
    /// touchAllWatchedKeysInDb (expired keys not yet deleted included).
    pub fn touch_all_watched(&mut self, replaced_with: Option<&Db>, now_ms: u64) {
        if self.watched.is_empty() {
            return;
        }
        let entries = &self.entries;
        self.watched.retain(|key, watchers| {
            let exists_here = entries.contains(key);
            let in_replacement = replaced_with.is_some_and(|other| other.entries.contains(key));
            if !exists_here && !in_replacement {
                return true;
            }
            let replacement_expired = replaced_with.is_some_and(|other| other.is_expired(key, now_ms));
            watchers.retain_mut(|w| {
                if w.stale {
                    if !in_replacement {
                        // The expired key is gone: no logical change.
                        w.stale = false;
                        return true;
                    }
                    if replacement_expired {
                        return true;
                    }
                } else if !exists_here && replacement_expired {
                    // A missing key replaced by an expired one: still missing.
                    w.stale = true;
                    return true;
                }
                w.flag.store(true, Ordering::Release);
                false
            });
            !watchers.is_empty()
        });
    }

    /// Removes every key (FLUSHDB); watchers of live keys are touched.
    pub fn flush(&mut self, now_ms: u64) -> usize {
        self.touch_all_watched(None, now_ms);
        let removed = self.entries.len();
        self.stats.dirty += removed as u64;
        if let Some(journal) = &self.journal {
            let mut journal = journal.borrow_mut();
            journal.keys[self.index].clear();
            journal.ops.push(JournalOp::Flush(self.index));
        }
        self.entries.clear();
        self.expires.clear();
        self.expire_cursor = 0;
        removed
    }

    /// Swaps the data (not the watchers) with another database (SWAPDB).
    pub fn swap_data(&mut self, other: &mut Db) {
        std::mem::swap(&mut self.entries, &mut other.entries);
        std::mem::swap(&mut self.expires, &mut other.expires);
        std::mem::swap(&mut self.expire_cursor, &mut other.expire_cursor);
        if let Some(journal) = &self.journal {
            let mut journal = journal.borrow_mut();
            journal.keys.swap(self.index, other.index);
            journal.ops.push(JournalOp::Swap(self.index, other.index));
        }
        // Blocked clients stay with their database index: its new contents
        // may serve them.
        for db in [self, other] {
            let blocked: Vec<Vec<u8>> = db.blocked.iter().cloned().collect();
            for key in blocked {
                db.signal_ready(&key);
            }
        }
    }

    /// One pass of active expiry: samples up to `sample` keys with a TTL from
    /// the rolling cursor and deletes the expired ones. Returns (sampled,
    /// expired) so the caller can repeat while many were expired (Redis's
    /// adaptive loop).
    pub fn active_expire_step(&mut self, now_ms: u64, sample: usize) -> (usize, usize) {
        let mut sampled = 0;
        let mut expired_keys: Vec<CompactBytes> = Vec::new();
        let mut cursor = self.expire_cursor;
        // Visit home buckets until enough keys were sampled or the table was
        // covered once.
        let mut buckets = 0;
        let bucket_limit = self.expires.capacity().max(1);
        while sampled < sample && buckets < bucket_limit && !self.expires.is_empty() {
            cursor = self.expires.scan_step(cursor, |e| {
                sampled += 1;
                if e.at_ms <= now_ms {
                    expired_keys.push(e.key.clone());
                }
            });
            buckets += 1;
            if cursor == 0 {
                break;
            }
        }
        self.expire_cursor = cursor;
        let expired = expired_keys.len();
        for key in expired_keys {
            self.expire_now(&key);
        }
        (sampled, expired)
    }

    /// A random key that has not expired (lazily expiring those met).
    pub fn random_key(&mut self, now_ms: u64, mut next_random: impl FnMut() -> u64) -> Option<CompactBytes> {
        // As Redis: give up expiring after many tries when every key sampled
        // is expired, and return one anyway.
        for _ in 0..100 {
            let key = self.entries.random(next_random())?.key.clone();
            if !self.expire_if_needed(&key, now_ms) {
                return Some(key);
            }
        }
        self.entries.random(next_random()).map(|e| e.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_expiry_and_watch() {
        let mut db = Db::default();
        db.set(b"k", Value::from_bytes(b"v"), false, 1000);
        db.set_expire(b"k", 2000);
        assert!(db.read(b"k", 1999).is_some());
        let flag: WatchFlag = Arc::new(AtomicBool::new(false));
        db.watch(b"k", flag.clone(), 1999);
        assert!(db.read(b"k", 2000).is_none());
        assert!(flag.load(Ordering::Acquire), "expiry must touch watchers");
        assert_eq!(db.stats.expired_keys, 1);
        assert_eq!(db.expires_len(), 0);
    }

    #[test]
    fn set_drops_ttl_unless_kept() {
        let mut db = Db::default();
        db.set(b"k", Value::from_bytes(b"v"), false, 0);
        db.set_expire(b"k", 10_000);
        db.set(b"k", Value::from_bytes(b"w"), true, 0);
        assert_eq!(db.expire_at(b"k"), Some(10_000));
        db.set(b"k", Value::from_bytes(b"x"), false, 0);
        assert_eq!(db.expire_at(b"k"), None);
        assert!(!db.entries.get(b"k").unwrap().has_expire);
    }

    #[test]
    fn active_expiry_removes_expired_keys() {
        let mut db = Db::default();
        for i in 0..100 {
            let key = format!("k{i}");
            db.set(key.as_bytes(), Value::Int(i), false, 0);
            db.set_expire(key.as_bytes(), if i < 50 { 10 } else { 1_000_000 });
        }
        let mut total = 0;
        for _ in 0..100 {
            total += db.active_expire_step(100, 20).1;
        }
        assert_eq!(total, 50);
        assert_eq!(db.len(), 50);
    }
}
