//! The replication stream, as a Redis master writes it: every change as a
//! command (its deterministic form: EXPIRE as PEXPIREAT, SPOP as SREM, ...),
//! SELECT before a command for another database than the previous one, and
//! MULTI/EXEC around a transaction's changes. The stream is one sequence for
//! the whole server (the backlog, with Redis's offsets), so a replica sees
//! the same order of changes to each key as the shards applied them.
//!
//! Nothing is recorded until the first replica attaches (SYNC or PSYNC);
//! from then on the backlog stays active, as Redis's does, so a replica that
//! reconnects can continue from its offset. Shards append under a mutex at
//! the moment a change is applied (or, for a transaction spanning shards,
//! while the coordinator still holds every shard's lock), which is what
//! makes the order right; with no replica ever attached the cost on the
//! write path is one relaxed atomic load.

use cores::signal::Raiser;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

/// Set once the first replica attaches; never cleared.
static ACTIVE: AtomicBool = AtomicBool::new(false);

static BACKLOG: LazyLock<Mutex<Backlog>> = LazyLock::new(|| Mutex::new(Backlog::new()));

/// Whether changes are being recorded.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// One change to propagate: its database and the command, RESP-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub db: usize,
    pub resp: Vec<u8>,
}

impl Op {
    pub fn new(db: usize, argv: &[&[u8]]) -> Op {
        Op { db, resp: encode(argv) }
    }
}

/// What a command's execution propagates: itself as received (the default),
/// or the commands it was rewritten into.
#[derive(Clone, Debug, Default)]
pub enum Effect {
    #[default]
    Verbatim,
    Rewritten(Vec<Vec<u8>>),
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(argv: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + argv.iter().map(|a| a.len() + 16).sum::<usize>());
    out.push(b'*');
    out.extend_from_slice(argv.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in argv {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A replica fed from the backlog.
struct Slot {
    id: u64,
    raiser: Raiser,
    /// Offset of the next byte to send it.
    sent: u64,
    /// What it last acknowledged (REPLCONF ACK), and when (unix ms).
    acked: u64,
    ack_ms: u64,
    /// Address and listening port it announced, for INFO.
    ip: String,
    port: u16,
}

struct Backlog {
    replid: String,
    /// Bytes from offset `start` to `start + buf.len()` (= the master offset).
    buf: Vec<u8>,
    start: u64,
    /// The database of the last command written (None: write SELECT next).
    seldb: Option<usize>,
    replicas: Vec<Slot>,
    next_id: u64,
}

/// Bytes of history kept for partial resynchronization at least (Redis's
/// repl-backlog-size default); more is kept while a replica still needs it.
pub const BACKLOG_KEEP: usize = 1 << 20;

/// A replica further behind than this is disconnected (Redis's
/// client-output-buffer-limit for replicas, hard limit 256 MB).
pub const LAG_LIMIT: u64 = 256 << 20;

fn random_replid() -> String {
    let mut rng = cores::seam::XorShift64::from_entropy(0x5e1d);
    use cores::seam::Rng;
    (0..40)
        .map(|_| char::from(b"0123456789abcdef"[(rng.next_u64() % 16) as usize]))
        .collect()
}

impl Backlog {
    fn new() -> Backlog {
        Backlog {
            replid: random_replid(),
            buf: Vec::new(),
            // Redis's offsets start at 1 for the first byte of the stream.
            start: 1,
            seldb: None,
            replicas: Vec::new(),
            next_id: 1,
        }
    }

    fn offset(&self) -> u64 {
        self.start + self.buf.len() as u64 - 1
    }

    fn append(&mut self, db: usize, resp: &[u8]) {
        if self.seldb != Some(db) {
            let index = db.to_string();
            self.buf.extend_from_slice(&encode(&[b"SELECT", index.as_bytes()]));
            self.seldb = Some(db);
        }
        self.buf.extend_from_slice(resp);
    }

    /// Appends a raw command outside any database (PING, REPLCONF GETACK).
    fn append_raw(&mut self, resp: &[u8]) {
        self.buf.extend_from_slice(resp);
    }

    fn raise_all(&self) {
        for slot in &self.replicas {
            slot.raiser.raise();
        }
    }

    /// Drops history no replica needs beyond the kept minimum.
    fn trim(&mut self) {
        let end = self.start + self.buf.len() as u64;
        let needed = self.replicas.iter().map(|s| s.sent).min().unwrap_or(end);
        let keep_from = needed.min(end.saturating_sub(BACKLOG_KEEP as u64)).max(self.start);
        let drop = (keep_from - self.start) as usize;
        // Drain in large steps only: the copy is amortized.
        if drop > BACKLOG_KEEP && drop * 2 > self.buf.len() {
            self.buf.drain(..drop);
            self.start = keep_from;
        }
    }
}

fn backlog() -> MutexGuard<'static, Backlog> {
    BACKLOG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Propagates one command for database `db`.
pub fn propagate(db: usize, argv: &[&[u8]]) {
    if !active() {
        return;
    }
    let resp = encode(argv);
    let mut b = backlog();
    b.append(db, &resp);
    b.raise_all();
}

/// Propagates the changes of one command or transaction: wrapped in
/// MULTI/EXEC when there is more than one (and `wrap` allows it), as
/// Redis's propagatePendingCommands does.
pub fn propagate_ops(ops: &[Op], wrap: bool) {
    if ops.is_empty() || !active() {
        return;
    }
    let transaction = wrap && ops.len() > 1;
    let mut b = backlog();
    if transaction {
        b.append(ops[0].db, &encode(&[b"MULTI"]));
    }
    for op in ops {
        b.append(op.db, &op.resp);
    }
    if transaction {
        let last = ops[ops.len() - 1].db;
        b.append(last, &encode(&[b"EXEC"]));
    }
    b.raise_all();
}

/// Sends REPLCONF GETACK * to the replicas (WAIT asks for fresh acks).
pub fn request_acks() {
    if !active() {
        return;
    }
    let mut b = backlog();
    if b.replicas.is_empty() {
        return;
    }
    b.append_raw(&encode(&[b"REPLCONF", b"GETACK", b"*"]));
    b.raise_all();
}

/// Sends a PING to the replicas when `period_ms` passed since the last one
/// (repl-ping-replica-period): replicas drop a silent master after
/// repl-timeout.
pub fn ping_if_due(period_ms: u64, now_ms: u64) {
    static LAST_PING_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if !active() {
        return;
    }
    // The first period starts when the stream does.
    let last = LAST_PING_MS.load(Ordering::Relaxed);
    if last == 0 {
        LAST_PING_MS.store(now_ms, Ordering::Relaxed);
        return;
    }
    if now_ms.saturating_sub(last) < period_ms.max(1) {
        return;
    }
    LAST_PING_MS.store(now_ms, Ordering::Relaxed);
    let mut b = backlog();
    if b.replicas.is_empty() {
        return;
    }
    b.append_raw(&encode(&[b"PING"]));
    b.raise_all();
}

/// The master offset (master_repl_offset): bytes written to the stream.
pub fn offset() -> u64 {
    if !active() {
        return 0;
    }
    backlog().offset()
}

/// A replica's place in the stream.
pub struct Attached {
    pub id: u64,
    pub replid: String,
    /// The offset the replica has (its data includes every change up to
    /// here); the stream it is sent starts after it.
    pub offset: u64,
}

/// Attaches a replica at the current end of the stream. Must run while no
/// shard can apply a change (every shard locked), so that the snapshot taken
/// at the same time holds exactly the changes before this offset.
pub fn attach_at_end(raiser: Raiser, ip: String, port: u16) -> Attached {
    ACTIVE.store(true, Ordering::SeqCst);
    let mut b = backlog();
    // The next command written starts with SELECT (the replica's database
    // is unknown after a full synchronization).
    b.seldb = None;
    let end = b.start + b.buf.len() as u64;
    attach(&mut b, raiser, end, ip, port)
}

/// Attaches a replica continuing from `offset` (PSYNC): None when the
/// history does not reach back that far or the id is not this stream's.
pub fn attach_continuing(replid: &str, offset: u64, raiser: Raiser, ip: String, port: u16) -> Option<Attached> {
    if !active() {
        return None;
    }
    let mut b = backlog();
    let end = b.start + b.buf.len() as u64;
    if replid != b.replid || offset < b.start || offset > end {
        return None;
    }
    Some(attach(&mut b, raiser, offset, ip, port))
}

fn attach(b: &mut Backlog, raiser: Raiser, from: u64, ip: String, port: u16) -> Attached {
    let id = b.next_id;
    b.next_id += 1;
    b.replicas.push(Slot {
        id,
        raiser,
        sent: from,
        acked: from - 1,
        ack_ms: crate::exec::now_ms(),
        ip,
        port,
    });
    Attached {
        id,
        replid: b.replid.clone(),
        offset: from - 1,
    }
}

/// Drops every replica (this server became a replica itself): their
/// senders find themselves detached and close the connections.
pub fn disconnect_all() {
    let mut b = backlog();
    for slot in &b.replicas {
        slot.raiser.raise();
    }
    b.replicas.clear();
}

/// Replicas whose last acknowledgement is at most `max_lag_s` old (Redis's
/// good replicas for min-replicas-to-write).
pub fn good_replicas(max_lag_s: u64) -> usize {
    if !active() {
        return 0;
    }
    let now = crate::exec::now_ms();
    backlog()
        .replicas
        .iter()
        .filter(|s| now.saturating_sub(s.ack_ms) / 1000 <= max_lag_s)
        .count()
}

pub fn detach(id: u64) {
    let mut b = backlog();
    b.replicas.retain(|s| s.id != id);
    b.trim();
}

/// Why a replica's sender must stop.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// It fell further behind than LAG_LIMIT.
    Lagging,
    /// It was detached (this server became a replica).
    Detached,
}

/// Moves the stream bytes replica `id` has not been sent into `out`.
pub fn take_pending(id: u64, out: &mut Vec<u8>) -> Result<(), Stop> {
    let mut b = backlog();
    let start = b.start;
    let end = start + b.buf.len() as u64;
    let Some(slot) = b.replicas.iter_mut().find(|s| s.id == id) else {
        return Err(Stop::Detached);
    };
    if end - slot.sent > LAG_LIMIT {
        return Err(Stop::Lagging);
    }
    let from = (slot.sent - start) as usize;
    slot.sent = end;
    out.extend_from_slice(&b.buf[from..]);
    b.trim();
    Ok(())
}

/// Records REPLCONF ACK from replica `id`.
pub fn ack(id: u64, offset: u64) {
    let mut b = backlog();
    if let Some(slot) = b.replicas.iter_mut().find(|s| s.id == id) {
        slot.acked = slot.acked.max(offset);
        slot.ack_ms = crate::exec::now_ms();
    }
}

/// Replicas that acknowledged at least `offset`.
pub fn acked_at_least(offset: u64) -> usize {
    if !active() {
        return 0;
    }
    backlog().replicas.iter().filter(|s| s.acked >= offset).count()
}

/// INFO replication's view of the backlog and replicas.
pub struct Report {
    pub replid: String,
    pub offset: u64,
    pub active: bool,
    pub first_byte: u64,
    pub histlen: u64,
    /// (ip, port, acked offset, seconds since the last ack)
    pub replicas: Vec<(String, u16, u64, u64)>,
}

pub fn report() -> Report {
    let b = backlog();
    let now = crate::exec::now_ms();
    let active = active();
    Report {
        replid: b.replid.clone(),
        offset: if active { b.offset() } else { 0 },
        active,
        first_byte: if active { b.start } else { 0 },
        histlen: if active { b.buf.len() as u64 } else { 0 },
        replicas: b
            .replicas
            .iter()
            .map(|s| (s.ip.clone(), s.port, s.acked, now.saturating_sub(s.ack_ms) / 1000))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_is_a_resp_array_of_bulks() {
        assert_eq!(
            encode(&[b"SET", b"k", b""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn backlog_writes_select_on_database_change_and_trims_only_unneeded_history() {
        let mut b = Backlog::new();
        b.append(0, b"x");
        b.append(0, b"y");
        b.append(3, b"z");
        let text = String::from_utf8(b.buf.clone()).unwrap();
        assert_eq!(
            text,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\nxy*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\nz"
        );
        assert_eq!(b.offset(), b.buf.len() as u64);
        // Nothing is dropped while it is within the kept minimum.
        b.trim();
        assert_eq!(b.start, 1);
        let big = vec![b'a'; 3 * BACKLOG_KEEP];
        b.append_raw(&big);
        b.trim();
        let end = b.start + b.buf.len() as u64;
        assert_eq!(end - b.start, BACKLOG_KEEP as u64, "keeps exactly the minimum history");
    }
}
