//! Connections: each shard accepts on its own listener and serves its
//! connections. A read fills the buffer, every complete command in it is
//! parsed and run in order, and the output is flushed once per batch.

use crate::client::{next_client_id, ClientInfo};
use crate::exec;
use crate::resp::parse::{decode_quoted, is_quoted, next_bulk_end};
use crate::resp::{parse_command, Argv, OwnedArgv, ParseLimits, Parsed};
use crate::session::Session;
use crate::shard::ShardState;
use cores::net::{Listener, Stream};
use cores::Shard;
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

/// A read buffer above this size is shrunk back once it empties.
const LARGE_BUFFER_BYTES: usize = 1 << 20;

/// Reply bytes an unauthenticated client may leave unread (Redis's 16 KiB
/// reply buffer plus 1024 bytes of reply list).
const UNAUTHENTICATED_PENDING_REPLY_MAX: usize = 16 * 1024 + 1024;

/// How long an unauthenticated client that does not read its replies may
/// hold the rest of them before it is disconnected.
const UNAUTHENTICATED_WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Commands of a pipelined batch whose keys are prefetched ahead.
const PREFETCH_MAX: usize = 32;

/// The most commands one cross-shard hop carries.
const REMOTE_BATCH_MAX: usize = 256;

/// Accepts connections on this shard's listener until it fails.
pub async fn accept_loop(shard: Rc<Shard<ShardState>>, listener: Listener, read_buffer_bytes: usize) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                cores::spawn(async move { serve(shard, stream, read_buffer_bytes).await });
            }
            Err(error) => {
                crate::warning!("Accepting client connection: {error}");
                cores::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves one connection until it closes.
pub async fn serve(shard: Rc<Shard<ShardState>>, mut stream: Stream, read_buffer_bytes: usize) {
    let now = exec::now_ms();
    let id = next_client_id();
    let info = Rc::new(RefCell::new(ClientInfo::new(
        id,
        stream.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
        stream.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        stream.raw_fd(),
        now,
    )));
    let authenticated = {
        let mut state = shard.state();
        state.clients.insert(id, info.clone());
        state.stats.total_connections_received += 1;
        state.config.settings.requirepass.is_none()
    };
    let mut session = Session::new(shard.clone(), info.clone(), authenticated);
    crate::pubsub::connected(id);
    let mut conn = Connection {
        buf: vec![0; read_buffer_bytes],
        initial_bytes: read_buffer_bytes,
        start: 0,
        end: 0,
        ranges: Vec::new(),
        resume: 0,
        inline_scratch: Vec::new(),
        prefetch_ranges: Vec::new(),
    };
    let _ = conn.run(&mut session, &mut stream).await;
    crate::pubsub::leave(&mut session);
    crate::tracking::disable(&mut session);
    crate::pubsub::disconnected(id);
    crate::families::transaction::unwatch_all(&mut session).await;
    shard.state().clients.remove(&id);
}

/// Moves pushed messages to the output; false (with a log line) when the
/// client let too many wait and must be closed.
fn drain_inbox(session: &mut Session) -> bool {
    if crate::pubsub::drain(session) {
        return true;
    }
    crate::warning!(
        "Client id={} closed for overcoming of output buffer limits (pubsub)",
        session.id
    );
    false
}

struct Connection {
    buf: Vec<u8>,
    initial_bytes: usize,
    /// Unparsed bytes are buf[start..end].
    start: usize,
    end: usize,
    ranges: Vec<Range<usize>>,
    /// Parser progress in the command at `start` (see `parse_command`).
    resume: usize,
    /// Decoded quoted inline arguments.
    inline_scratch: Vec<u8>,
    /// Argument positions of commands parsed ahead for prefetching.
    prefetch_ranges: Vec<Range<usize>>,
}

impl Connection {
    async fn run(&mut self, session: &mut Session, stream: &mut Stream) -> std::io::Result<()> {
        loop {
            self.make_room(session)?;
            let buf = &mut self.buf[self.end..];
            let read = match session.push.as_ref() {
                None => Some(stream.read(buf).await?),
                // A subscriber or monitor also wakes for messages.
                Some(push) => futures_lite::future::or(async { Some(stream.read(buf).await) }, async {
                    push.signal.wait().await;
                    None
                })
                .await
                .transpose()?,
            };
            let mut close = false;
            if let Some(n) = read {
                if n == 0 {
                    return Ok(());
                }
                self.end += n;
                session.shard.state().stats.net_input_bytes += n as u64;
                // Messages that arrived before these commands go out before
                // their replies (as in Redis, where they are already queued).
                if !drain_inbox(session) {
                    return Ok(());
                }
                close = self.process(session).await;
                if !session.wal_barrier().await {
                    // What these replies acknowledge is not on disk: never send them.
                    return Ok(());
                }
            }
            if !drain_inbox(session) {
                return Ok(());
            }
            if !session.out.bytes.is_empty() {
                if !session.authenticated {
                    // Redis closes a client that must still authenticate once
                    // more than 1024 bytes of replies wait beyond its 16 KiB
                    // reply buffer: such a client cannot make the server hold
                    // memory (or stall) by not reading.
                    let sent = stream.try_write(&session.out.bytes).unwrap_or(0);
                    let pending = session.out.bytes.len() - sent;
                    if pending > UNAUTHENTICATED_PENDING_REPLY_MAX {
                        return Ok(());
                    }
                    session.out.bytes.drain(..sent);
                    if !session.out.bytes.is_empty() {
                        // The socket is full and the client is not reading:
                        // waiting for it without reading would stall this
                        // connection forever, so the wait is bounded.
                        let write = stream.write_all(&session.out.bytes);
                        let timer = async {
                            cores::sleep(UNAUTHENTICATED_WRITE_WAIT).await;
                            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client not reading"))
                        };
                        futures_lite::future::or(write, timer).await?;
                        session.out.bytes.clear();
                    }
                }
                // A plain send first: the socket almost always takes the
                // whole batch, and this skips a ring submission and a
                // completion per reply; what it does not take is written
                // through glommio, which waits for room.
                let sent = stream.try_write(&session.out.bytes)?;
                if sent < session.out.bytes.len() {
                    stream.write_all(&session.out.bytes[sent..]).await?;
                }
                session.shard.state().stats.net_output_bytes += session.out.bytes.len() as u64;
                session.out.bytes.clear();
                // Do not keep a huge reply's buffer around.
                if session.out.bytes.capacity() > 1 << 20 {
                    session.out.bytes.shrink_to(16 * 1024);
                }
            }
            if let Some(start) = session.replica.take() {
                // SYNC/PSYNC: from now on this connection carries the
                // replication stream.
                let rest = self.buf[self.start..self.end].to_vec();
                crate::repl::master::serve(session, stream, start, rest).await;
                return Ok(());
            }
            if close || session.info.borrow().killed {
                return Ok(());
            }
        }
    }

    /// Ensures free space after `end`, compacting or growing the buffer, and
    /// enforces client-query-buffer-limit.
    fn make_room(&mut self, session: &Session) -> std::io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.resume = 0;
            // Give back the memory of a huge request once it is done.
            if self.buf.len() > LARGE_BUFFER_BYTES {
                self.buf.truncate(self.initial_bytes);
                self.buf.shrink_to_fit();
            }
        }
        if self.end < self.buf.len() {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end < self.buf.len() {
                return Ok(());
            }
        }
        let limit = session.shard.state().config.settings.client_query_buffer_limit as usize;
        if self.buf.len() >= limit {
            crate::warning!(
                "Closing client that reached max query buffer length: id={} (qbuf initial bytes: {:?})",
                session.id,
                String::from_utf8_lossy(&self.buf[..self.buf.len().min(64)])
            );
            return Err(std::io::Error::other("query buffer limit"));
        }
        // A large bulk whose length is known gets its room at once.
        let needed = next_bulk_end(&self.buf[..self.end], self.resume).unwrap_or(0);
        let grown = (self.buf.len() * 2).max(needed).min(limit.max(self.buf.len() + 1));
        // A fresh zeroed allocation gets untouched pages from the OS for large
        // sizes, so only the bytes already read are copied, not `grown` zeros
        // written (which would stall the shard for a 512 MB value).
        let mut fresh = vec![0u8; grown];
        fresh[..self.end].copy_from_slice(&self.buf[..self.end]);
        self.buf = fresh;
        Ok(())
    }

    /// Before a pipelined batch runs, starts loading the table memory its
    /// commands' first keys will touch, in two overlapped stages (buckets,
    /// then elements): with a large keyspace each lookup is otherwise a
    /// chain of cache misses paid one command after another. Harmless when
    /// an argument is not a key of this shard's current database.
    fn prefetch_batch(&mut self, session: &Session) {
        if self.resume != 0 || session.multi.is_some() {
            return;
        }
        let limits = ParseLimits {
            proto_max_bulk_len: i64::MAX,
            authenticated: true,
        };
        let mut keys: [Range<usize>; PREFETCH_MAX] = std::array::from_fn(|_| 0..0);
        let mut count = 0;
        let mut at = self.start;
        while count < PREFETCH_MAX && at < self.end && self.buf[at] == b'*' {
            let mut resume = 0;
            match parse_command(&self.buf[at..self.end], limits, &mut self.prefetch_ranges, &mut resume) {
                Parsed::Command { consumed } => {
                    if let Some(key) = self.prefetch_ranges.get(1) {
                        keys[count] = at + key.start..at + key.end;
                        count += 1;
                    }
                    at += consumed;
                }
                _ => break,
            }
        }
        if count < 2 {
            return;
        }
        let state = session.shard.state();
        let table = &state.dbs[session.db].entries;
        for key in &keys[..count] {
            table.prefetch_bucket(&self.buf[key.clone()]);
        }
        for key in &keys[..count] {
            table.prefetch_element(&self.buf[key.clone()]);
        }
    }

    /// Runs every complete command in the buffer. Returns true when the
    /// connection must close after flushing.
    async fn process(&mut self, session: &mut Session) -> bool {
        self.prefetch_batch(session);
        loop {
            if self.start == self.end {
                return session.close_after_reply;
            }
            let limits = {
                let state = session.shard.state();
                ParseLimits {
                    proto_max_bulk_len: state.config.settings.proto_max_bulk_len,
                    authenticated: session.authenticated,
                }
            };
            let window = &self.buf[self.start..self.end];
            let is_inline = window[0] != b'*';
            match parse_command(window, limits, &mut self.ranges, &mut self.resume) {
                Parsed::Incomplete => {
                    self.update_info(session);
                    return session.close_after_reply;
                }
                Parsed::Empty { consumed } => self.start += consumed,
                Parsed::Error(message) => {
                    let mut text = String::from("ERR ");
                    text.push_str(&message);
                    session.out.error(&text);
                    crate::verbose!("Protocol error ({message}) from client: id={}", session.id);
                    return true;
                }
                Parsed::Command { consumed } => {
                    let base = self.start;
                    for range in self.ranges.iter_mut() {
                        range.start += base;
                        range.end += base;
                    }
                    {
                        // CLIENT LIST shows the buffer as the command sees it.
                        let mut info = session.info.borrow_mut();
                        info.last_interaction_ms = exec::now_ms();
                        info.query_buffer_bytes = self.end - self.start;
                        info.query_buffer_free = self.buf.len() - self.end;
                    }
                    if is_inline && self.ranges.iter().any(|r| is_quoted(&self.buf[r.clone()])) {
                        self.inline_scratch.clear();
                        let mut decoded = Vec::with_capacity(self.ranges.len());
                        for range in &self.ranges {
                            let word = &self.buf[range.clone()];
                            let start = self.inline_scratch.len();
                            if is_quoted(word) {
                                self.inline_scratch.extend_from_slice(&decode_quoted(word));
                            } else {
                                self.inline_scratch.extend_from_slice(word);
                            }
                            decoded.push(start..self.inline_scratch.len());
                        }
                        let argv = Argv::new(&self.inline_scratch, &decoded);
                        exec::execute(session, &argv).await;
                    } else {
                        let argv = Argv::new(&self.buf, &self.ranges);
                        if let Some((target, spec, run)) = exec::remote_batchable(session, &argv) {
                            self.start += consumed;
                            let batch = self.collect_remote_batch(
                                session,
                                target,
                                (spec, run, OwnedArgv::from_argv(&argv)),
                                limits,
                            );
                            exec::execute_remote_batch(session, target, batch).await;
                            if session.info.borrow().killed {
                                return true;
                            }
                            continue;
                        }
                        exec::execute(session, &argv).await;
                    }
                    self.start += consumed;
                    if session.close_after_reply || session.info.borrow().killed {
                        return true;
                    }
                    if session.replica.is_some() {
                        return false;
                    }
                }
            }
        }
    }

    /// Takes the following complete commands that go to the same remote
    /// shard, so a pipeline crosses the mesh once per run of such commands.
    fn collect_remote_batch(
        &mut self,
        session: &Session,
        target: cores::ShardId,
        first: (&'static crate::command::CommandSpec, crate::command::KeyedFn, OwnedArgv),
        limits: ParseLimits,
    ) -> Vec<(&'static crate::command::CommandSpec, crate::command::KeyedFn, OwnedArgv)> {
        let mut batch = vec![first];
        while batch.len() < REMOTE_BATCH_MAX && self.start < self.end && self.buf[self.start] == b'*' {
            let Parsed::Command { consumed } = parse_command(
                &self.buf[self.start..self.end],
                limits,
                &mut self.ranges,
                &mut self.resume,
            ) else {
                break;
            };
            let base = self.start;
            for range in self.ranges.iter_mut() {
                range.start += base;
                range.end += base;
            }
            let argv = Argv::new(&self.buf, &self.ranges);
            match exec::remote_batchable(session, &argv) {
                Some((next, spec, run)) if next == target => {
                    batch.push((spec, run, OwnedArgv::from_argv(&argv)));
                    self.start += consumed;
                }
                _ => break,
            }
        }
        batch
    }

    fn update_info(&self, session: &Session) {
        let mut info = session.info.borrow_mut();
        info.query_buffer_bytes = self.end - self.start;
        info.query_buffer_free = self.buf.len() - self.end;
        info.db = session.db;
    }
}
