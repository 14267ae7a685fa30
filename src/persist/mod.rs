//! Snapshots in Redis's RDB format: each shard serializes its partition of
//! every database (under a lock on every shard, so the snapshot is one point
//! in time), the parts are assembled into one file named by `dir` and
//! `dbfilename`, and at start (or DEBUG RELOAD) every shard loads the keys it
//! owns from that file. The process-wide save facts INFO persistence reports
//! live here too.

pub mod value;
pub mod wal;

use crate::keyspace::db::lru_clock;
use crate::shard::ShardState;
use crate::slot::key_shard;
use ::wal::rdb::{self, RdbError, RdbReader, RdbWriter};
use std::io::Write;
use std::sync::Mutex;
use value::LoadLimits;

/// The version string written in the `redis-ver` aux field: the Redis
/// version whose format and semantics Tessera follows.
const REDIS_VERSION: &str = "7.0.15";

/// Facts about saves, for INFO persistence and LASTSAVE.
#[derive(Clone, Debug)]
pub struct SaveFacts {
    pub last_save_unix_s: u64,
    pub last_bgsave_ok: bool,
    pub bgsave_in_progress: bool,
    pub bgsave_started_ms: u64,
    pub last_bgsave_time_s: i64,
    pub saves: u64,
    pub rewrites: u64,
}

static FACTS: Mutex<SaveFacts> = Mutex::new(SaveFacts {
    last_save_unix_s: 0,
    last_bgsave_ok: true,
    bgsave_in_progress: false,
    bgsave_started_ms: 0,
    last_bgsave_time_s: -1,
    saves: 0,
    rewrites: 0,
});

/// Counts a WAL compaction (INFO aof_rewrites).
pub fn record_rewrite() {
    update(|f| f.rewrites += 1);
}

pub fn facts() -> SaveFacts {
    FACTS.lock().expect("save facts lock").clone()
}

fn update(f: impl FnOnce(&mut SaveFacts)) {
    f(&mut FACTS.lock().expect("save facts lock"))
}

/// Records the process start as the last save time (Redis does the same).
pub fn mark_started(now_ms: u64) {
    update(|f| f.last_save_unix_s = now_ms / 1000);
}

/// One database's part of one shard's snapshot.
pub struct DbPart {
    pub bytes: Vec<u8>,
    pub keys: u64,
    pub expires: u64,
}

/// One shard's serialized partition: a part per database, and the dirty
/// counters at that moment (subtracted once the save succeeds).
pub struct ShardPart {
    pub dbs: Vec<DbPart>,
    pub dirty: Vec<u64>,
    /// The WAL segment the shard moved to at this point: older segments are
    /// covered by this snapshot.
    pub wal_segment: u64,
}

/// Serializes every key of this shard, as RDB key records, and moves its WAL
/// to a new segment at this same point.
pub fn serialize_shard(state: &mut ShardState) -> ShardPart {
    let wal_segment = wal::rotate_for_snapshot(state, crate::exec::now_ms());
    ShardPart {
        wal_segment,
        ..serialize_partition(state)
    }
}

/// Serializes every key of this shard, as RDB key records (no WAL
/// rotation: a snapshot sent to a replica).
pub fn serialize_partition(state: &ShardState) -> ShardPart {
    let compress = state.config.get("rdbcompression") != Some("no");
    let mut dbs = Vec::with_capacity(state.dbs.len());
    let mut dirty = Vec::with_capacity(state.dbs.len());
    for db in &state.dbs {
        let mut w = RdbWriter::new(compress);
        let mut expires = 0;
        for entry in db.entries.iter() {
            if entry.has_expire {
                if let Some(at) = db.expires.get(&entry.key).map(|e| e.at_ms) {
                    w.u8(rdb::OPCODE_EXPIRETIME_MS);
                    w.u64_le(at);
                    expires += 1;
                }
            }
            value::write_entry(&mut w, &entry.key, &entry.value);
        }
        dbs.push(DbPart {
            bytes: w.buf,
            keys: db.entries.len() as u64,
            expires,
        });
        dirty.push(db.stats.dirty);
    }
    ShardPart {
        dbs,
        dirty,
        wal_segment: 0,
    }
}

/// The aux field naming the first WAL segment written after the snapshot:
/// recovery replays only segments from there on, so a segment whose changes
/// the snapshot already holds is never applied twice (logged commands are
/// not idempotent), even if a crash came before it was deleted.
const AUX_WAL_SEGMENT: &str = "tessera-wal-segment";

/// Assembles the shards' parts into one RDB file image.
pub fn assemble(parts: &[ShardPart], now_ms: u64, used_memory: u64, wal_segment: u64) -> Vec<u8> {
    let total: usize = parts.iter().flat_map(|p| p.dbs.iter()).map(|d| d.bytes.len()).sum();
    let mut w = RdbWriter::new(false);
    w.buf.reserve(total + 256);
    w.buf
        .extend_from_slice(format!("REDIS{:04}", rdb::RDB_VERSION).as_bytes());
    let aux = |w: &mut RdbWriter, key: &str, value: &str| {
        w.u8(rdb::OPCODE_AUX);
        w.string(key.as_bytes());
        w.string(value.as_bytes());
    };
    aux(&mut w, "redis-ver", REDIS_VERSION);
    aux(&mut w, "redis-bits", "64");
    aux(&mut w, "ctime", &(now_ms / 1000).to_string());
    aux(&mut w, "used-mem", &used_memory.to_string());
    aux(&mut w, "aof-base", "0");
    aux(&mut w, AUX_WAL_SEGMENT, &wal_segment.to_string());
    let databases = parts.first().map_or(0, |p| p.dbs.len());
    for db in 0..databases {
        let keys: u64 = parts.iter().map(|p| p.dbs[db].keys).sum();
        if keys == 0 {
            continue;
        }
        let expires: u64 = parts.iter().map(|p| p.dbs[db].expires).sum();
        w.u8(rdb::OPCODE_SELECTDB);
        w.length(db as u64);
        w.u8(rdb::OPCODE_RESIZEDB);
        w.length(keys);
        w.length(expires);
        for part in parts {
            w.buf.extend_from_slice(&part.dbs[db].bytes);
        }
    }
    w.u8(rdb::OPCODE_EOF);
    let crc = ::wal::crc64::crc64(0, &w.buf);
    w.u64_le(crc);
    w.buf
}

/// The snapshot's path: `dbfilename` in the working directory (`dir`).
pub fn snapshot_path(state: &ShardState) -> String {
    state.config.get("dbfilename").unwrap_or("dump.rdb").to_string()
}

/// Writes `image` to `path` through a temporary file, synced and renamed,
/// so a crash leaves either the old snapshot or the new one.
pub fn write_file(path: &str, image: &[u8]) -> std::io::Result<()> {
    let temp = format!("temp-{}.rdb", std::process::id());
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(image)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        // Make the rename itself durable.
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Records a finished save (foreground or background).
pub fn record_save(ok: bool, now_ms: u64, background_started_ms: Option<u64>) {
    update(|f| {
        if ok {
            f.last_save_unix_s = now_ms / 1000;
            f.saves += 1;
        }
        if let Some(start) = background_started_ms {
            f.bgsave_in_progress = false;
            f.last_bgsave_ok = ok;
            f.last_bgsave_time_s = (now_ms.saturating_sub(start) / 1000) as i64;
        } else if ok {
            f.last_bgsave_ok = true;
        }
    });
}

/// Marks a background save started; false when one already runs.
pub fn begin_bgsave(now_ms: u64) -> bool {
    let mut f = FACTS.lock().expect("save facts lock");
    if f.bgsave_in_progress {
        return false;
    }
    f.bgsave_in_progress = true;
    f.bgsave_started_ms = now_ms;
    true
}

/// After a successful save: the changes it captured are no longer unsaved.
pub fn subtract_dirty(state: &mut ShardState, dirty: &[u64]) {
    for (db, saved) in state.dbs.iter_mut().zip(dirty) {
        db.stats.dirty = db.stats.dirty.saturating_sub(*saved);
    }
}

/// The first WAL segment a snapshot image does not hold (its
/// `tessera-wal-segment` aux field; 0 for files written by Redis or before
/// the field existed, meaning every segment is replayed).
pub fn wal_segment_of(image: &[u8]) -> u64 {
    if check_image(image).is_err() {
        return 0;
    }
    let mut r = RdbReader::new(&image[9..]);
    while let Ok(rdb::OPCODE_AUX) = r.u8() {
        let (Ok(key), Ok(value)) = (r.string(), r.string()) else {
            return 0;
        };
        if &*key == AUX_WAL_SEGMENT.as_bytes() {
            return std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    0
}

/// Loading limits from a shard's configuration.
pub fn load_limits_of(state: &ShardState) -> LoadLimits {
    LoadLimits {
        encodings: state.config.settings.encodings,
        list: crate::types::list::ListLimits {
            fill: state.config.settings.encodings.list_max_listpack_size,
            packed_threshold: state.list_packed_threshold,
        },
    }
}

/// What loading found.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadStats {
    pub keys: u64,
    pub expired: u64,
    pub skipped: u64,
}

/// Logs loading progress (percent of the file, keys per second) about once a
/// second, from one shard (every shard reads the whole file).
struct Progress {
    enabled: bool,
    total: usize,
    start: std::time::Instant,
    last: std::time::Instant,
    checks: u32,
}

impl Progress {
    fn new(enabled: bool, total: usize) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            enabled,
            total,
            start: now,
            last: now,
            checks: 0,
        }
    }

    fn tick(&mut self, offset: usize, keys: u64) {
        self.checks = self.checks.wrapping_add(1);
        if !self.enabled || !self.checks.is_multiple_of(1024) || self.last.elapsed() < std::time::Duration::from_secs(1)
        {
            return;
        }
        self.last = std::time::Instant::now();
        let seconds = self.start.elapsed().as_secs_f64();
        crate::notice!(
            "Loading the snapshot: {:.0}% ({} keys read, {:.0} keys/s)",
            offset as f64 * 100.0 / self.total.max(1) as f64,
            keys,
            keys as f64 / seconds.max(0.001)
        );
    }
}

/// Checks a file image's header, version and trailing checksum. Returns the
/// RDB version.
pub fn check_image(image: &[u8]) -> Result<u16, RdbError> {
    if image.len() < 9 || &image[..5] != b"REDIS" {
        return Err(RdbError {
            offset: 0,
            what: "wrong signature trying to load DB from file",
        });
    }
    let version: u16 = std::str::from_utf8(&image[5..9])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(RdbError {
            offset: 5,
            what: "bad RDB version",
        })?;
    if version == 0 || version > rdb::RDB_VERSION {
        return Err(RdbError {
            offset: 5,
            what: "can't handle RDB format version",
        });
    }
    // Version 5 and later end with a CRC64 (zero when checksums were off).
    if version >= 5 {
        if image.len() < 17 {
            return Err(RdbError {
                offset: image.len(),
                what: "unexpected end of file",
            });
        }
        let (body, tail) = image.split_at(image.len() - 8);
        let mut crc = [0u8; 8];
        crc.copy_from_slice(tail);
        let expected = u64::from_le_bytes(crc);
        if expected != 0 && expected != ::wal::crc64::crc64(0, body) {
            return Err(RdbError {
                offset: body.len(),
                what: "wrong RDB checksum",
            });
        }
    }
    Ok(version)
}

/// Loads the keys this shard owns from a checked file image. Keys already
/// expired are dropped, as a primary does. With `merge`, a loaded key
/// replaces an existing one; otherwise a duplicate is an error.
pub fn load_shard(state: &mut ShardState, image: &[u8], now_ms: u64, merge: bool) -> Result<LoadStats, RdbError> {
    check_image(image)?;
    let mut r = RdbReader::new(&image[9..]);
    let base = 9;
    let at = |r: &RdbReader, what| RdbError {
        offset: base + r.offset(),
        what,
    };
    let limits = load_limits_of(state);
    let mut stats = LoadStats::default();
    let mut progress = Progress::new(state.id.0 == 0, image.len());
    let mut db = 0usize;
    let mut expire_at: Option<u64> = None;
    let mut idle_s: Option<u64> = None;
    loop {
        let type_byte = r.u8().map_err(|e| RdbError {
            offset: base + e.offset,
            ..e
        })?;
        let fail = |e: RdbError| RdbError {
            offset: base + e.offset,
            ..e
        };
        match type_byte {
            rdb::OPCODE_EOF => break,
            rdb::OPCODE_SELECTDB => {
                let n = r.length().map_err(fail)?;
                if n >= state.dbs.len() as u64 {
                    return Err(at(&r, "the file uses more databases than `databases` allows"));
                }
                db = n as usize;
            }
            rdb::OPCODE_RESIZEDB => {
                r.length().map_err(fail)?;
                r.length().map_err(fail)?;
            }
            rdb::OPCODE_EXPIRETIME_MS => expire_at = Some(r.u64_le().map_err(fail)?),
            rdb::OPCODE_EXPIRETIME => expire_at = Some(r.u32_le().map_err(fail)? as u64 * 1000),
            rdb::OPCODE_IDLE => idle_s = Some(r.length().map_err(fail)?),
            rdb::OPCODE_FREQ => {
                r.u8().map_err(fail)?;
            }
            rdb::OPCODE_AUX => {
                r.skip_string().map_err(fail)?;
                r.skip_string().map_err(fail)?;
            }
            rdb::OPCODE_MODULE_AUX => return Err(at(&r, "module data is not supported")),
            rdb::OPCODE_FUNCTION | rdb::OPCODE_FUNCTION2 => return Err(at(&r, "function libraries are not supported")),
            t if rdb::is_object_type(t) => {
                progress.tick(base + r.offset(), stats.keys + stats.skipped);
                let key = r.string().map_err(fail)?;
                let mine = key_shard(&key, state.shards) == state.id;
                let expire = expire_at.take();
                let idle = idle_s.take();
                if !mine {
                    value::skip_value(&mut r, t).map_err(fail)?;
                    stats.skipped += 1;
                    continue;
                }
                let value = value::read_value(&mut r, t, &limits).map_err(fail)?;
                if expire.is_some_and(|at| at <= now_ms) {
                    stats.expired += 1;
                    continue;
                }
                let target = &mut state.dbs[db];
                if target.entries.contains(&key) {
                    if !merge {
                        return Err(at(&r, "duplicate key found in the RDB file"));
                    }
                    target.delete(&key, now_ms);
                }
                target.insert(&key, value, expire, now_ms);
                if let (Some(idle), Some(entry)) = (idle, target.entries.get_mut(&key)) {
                    entry.lru = lru_clock(now_ms).wrapping_sub(idle as u32);
                }
                stats.keys += 1;
            }
            _ => return Err(at(&r, "unknown RDB opcode")),
        }
    }
    // Loading is not a change: the loaded data is what the file holds.
    for db in &mut state.dbs {
        db.stats.dirty = 0;
    }
    Ok(stats)
}
