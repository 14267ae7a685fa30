//! What a shard knows about each connection it accepted: the fields CLIENT
//! LIST and CLIENT INFO print, and the kill switch CLIENT KILL uses.

use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique, increasing client id (CLIENT ID).
pub fn next_client_id() -> u64 {
    NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub name: Vec<u8>,
    pub created_ms: u64,
    pub last_interaction_ms: u64,
    pub db: usize,
    /// Commands queued in MULTI, or -1 outside MULTI.
    pub multi: i64,
    pub last_command: String,
    pub resp: u8,
    pub query_buffer_bytes: usize,
    pub query_buffer_free: usize,
    pub output_bytes: usize,
    /// Set by CLIENT KILL; the connection closes at its next step.
    pub killed: bool,
    pub flags: String,
    /// Channel and pattern subscriptions (CLIENT LIST sub, psub).
    pub sub: usize,
    pub psub: usize,
    /// CLIENT TRACKING's redirection (-1 when not tracking).
    pub redir: i64,
}

impl ClientInfo {
    /// A new client's record.
    pub fn new(id: u64, addr: String, laddr: String, fd: i32, now_ms: u64) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            name: Vec::new(),
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            db: 0,
            multi: -1,
            last_command: String::new(),
            resp: 2,
            query_buffer_bytes: 0,
            query_buffer_free: 0,
            output_bytes: 0,
            killed: false,
            flags: String::new(),
            sub: 0,
            psub: 0,
            redir: -1,
        }
    }

    /// CLIENT LIST TYPE's classes: a replica's connection (flag S), the
    /// link to this replica's master (M), or a normal client.
    pub fn client_type(&self) -> &'static str {
        if self.flags.contains('S') {
            "replica"
        } else if self.flags.contains('M') {
            "master"
        } else {
            "normal"
        }
    }

    /// The line CLIENT LIST and CLIENT INFO print, in Redis 7.0's field order.
    pub fn line(&self, now_ms: u64) -> String {
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user=default redir={} resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&self.name),
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_interaction_ms) / 1000,
            self.flags_text(),
            self.db,
            self.sub,
            self.psub,
            self.multi,
            self.query_buffer_bytes,
            self.query_buffer_free,
            self.query_buffer_bytes + self.query_buffer_free,
            self.query_buffer_bytes + self.query_buffer_free + self.output_bytes,
            if self.last_command.is_empty() { "NULL" } else { &self.last_command },
            self.redir,
            self.resp,
        )
    }

    /// The flags field: R (a tracking redirection that is gone) is known
    /// to the shards, the rest to the connection.
    fn flags_text(&self) -> String {
        let mut flags = self.flags.clone();
        if flags.contains('t') && crate::tracking::redirect_broken(self.id) {
            let at = flags.find('t').expect("has t") + 1;
            flags.insert(at, 'R');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }
}
