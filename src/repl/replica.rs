//! Redis replication, replica side: REPLICAOF (SLAVEOF) host port makes this
//! server a replica. A link task connects to the master, does Redis's
//! handshake (PING, AUTH with masterauth, REPLCONF listening-port and capa,
//! PSYNC), loads the snapshot it receives into every shard (all shards
//! locked, the old data dropped), then applies the master's stream as a
//! client that may write, answering REPLCONF GETACK and acknowledging its
//! offset every second. A lost link is retried every second with a full
//! synchronization. While a replica, clients' writes get READONLY (unless
//! replica-read-only is off), and with replica-serve-stale-data off most
//! commands get MASTERDOWN while the link is down.

use crate::client::ClientInfo;
use crate::command::{asynchronous, CommandDef, LocalFuture};
use crate::errors;
use crate::resp::{parse_command, Argv, ParseLimits, Parsed};
use crate::session::Session;
use crate::shard::ShardState;
use crate::OwnedArgv;
use cores::net::Stream;
use cores::Shard;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub static COMMANDS: &[CommandDef] = &[
    asynchronous("replicaof", replicaof_command),
    asynchronous("slaveof", replicaof_command),
];

/// This server is a replica (REPLICAOF host port in force).
static REPLICA: AtomicBool = AtomicBool::new(false);
/// The link to the master is up (synchronized and streaming).
static LINK_UP: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct Link {
    master: Option<(String, u16)>,
    /// Bumped by every REPLICAOF: a link task of an older generation stops.
    generation: u64,
    /// Offset in the master's stream applied so far, and the master's id.
    offset: u64,
    master_replid: String,
    last_io_ms: u64,
    sync_in_progress: bool,
}

static LINK: Mutex<Link> = Mutex::new(Link {
    master: None,
    generation: 0,
    offset: 0,
    master_replid: String::new(),
    last_io_ms: 0,
    sync_in_progress: false,
});

fn link() -> std::sync::MutexGuard<'static, Link> {
    LINK.lock().unwrap_or_else(|p| p.into_inner())
}

#[inline]
pub fn is_replica() -> bool {
    REPLICA.load(Ordering::Relaxed)
}

pub fn link_up() -> bool {
    LINK_UP.load(Ordering::Relaxed)
}

/// The error a client's command gets on a replica, if any: READONLY for a
/// write, MASTERDOWN while the link is down and stale data is not served.
pub fn refusal(state: &ShardState, write: bool, stale_ok: bool) -> Option<&'static str> {
    if write && state.config.settings.replica_read_only {
        return Some(errors::READONLY);
    }
    if !stale_ok && !link_up() && !state.config.settings.replica_serve_stale_data {
        return Some(errors::MASTERDOWN);
    }
    None
}

/// INFO replication's replica fields.
pub struct Report {
    pub host: String,
    pub port: u16,
    pub up: bool,
    pub last_io_s: i64,
    pub sync_in_progress: bool,
    pub offset: u64,
    pub master_replid: String,
}

pub fn report() -> Option<Report> {
    let l = link();
    let (host, port) = l.master.clone()?;
    let now = crate::exec::now_ms();
    Some(Report {
        host,
        port,
        up: link_up(),
        last_io_s: if l.last_io_ms == 0 {
            -1
        } else {
            (now.saturating_sub(l.last_io_ms) / 1000) as i64
        },
        sync_in_progress: l.sync_in_progress,
        offset: l.offset,
        master_replid: l.master_replid.clone(),
    })
}

fn replicaof_command(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let who = session.info.borrow().line(crate::exec::now_ms());
        if argv.get(1).eq_ignore_ascii_case(b"no") && argv.get(2).eq_ignore_ascii_case(b"one") {
            let was = {
                let mut l = link();
                l.generation += 1;
                l.master.take()
            };
            if was.is_some() {
                REPLICA.store(false, Ordering::SeqCst);
                LINK_UP.store(false, Ordering::SeqCst);
                crate::notice!("MASTER MODE enabled (user request from '{who}')");
            }
            return session.out.ok();
        }
        let port = match std::str::from_utf8(argv.get(2))
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(port) if (0..=65535).contains(&port) => port as u16,
            _ => return session.out.error("ERR Invalid master port"),
        };
        let host = String::from_utf8_lossy(argv.get(1)).into_owned();
        let generation = {
            let mut l = link();
            if l.master.as_ref() == Some(&(host.clone(), port)) {
                crate::notice!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
                return session.out.simple("OK Already connected to specified master");
            }
            l.generation += 1;
            l.master = Some((host.clone(), port));
            l.offset = 0;
            l.last_io_ms = 0;
            l.generation
        };
        REPLICA.store(true, Ordering::SeqCst);
        LINK_UP.store(false, Ordering::SeqCst);
        // Replicas of this server lose their master's stream, as in Redis.
        crate::repl::feed::disconnect_all();
        crate::notice!("Connecting to MASTER {host}:{port}");
        crate::notice!("REPLICAOF {host}:{port} enabled (user request from '{who}')");
        start_link(session.shard.clone(), host, port, generation);
        session.out.ok();
    })
}

/// Starts following `host:port` (REPLICAOF, or `replicaof` in the
/// configuration at start).
pub fn start_link(shard: Rc<Shard<ShardState>>, host: String, port: u16, generation: u64) {
    cores::spawn(async move { run_link(shard, host, port, generation).await });
}

/// Makes this server a replica of the configured `replicaof` at start.
pub fn start_from_config(shard: Rc<Shard<ShardState>>) {
    let value = shard.state().config.get("replicaof").unwrap_or("").to_string();
    let mut words = value.split(' ');
    let (Some(host), Some(Ok(port))) = (words.next(), words.next().map(str::parse::<u16>)) else {
        return;
    };
    let generation = {
        let mut l = link();
        l.generation += 1;
        l.master = Some((host.to_string(), port));
        l.generation
    };
    REPLICA.store(true, Ordering::SeqCst);
    start_link(shard, host.to_string(), port, generation);
}

fn current(generation: u64) -> bool {
    link().generation == generation
}

async fn run_link(shard: Rc<Shard<ShardState>>, host: String, port: u16, generation: u64) {
    while current(generation) {
        match follow(&shard, &host, port, generation).await {
            Ok(()) => {}
            Err(error) => {
                if current(generation) {
                    crate::warning!("Replication with MASTER {host}:{port}: {error}");
                }
            }
        }
        if current(generation) {
            LINK_UP.store(false, Ordering::SeqCst);
            link().sync_in_progress = false;
        }
        cores::sleep(Duration::from_secs(1)).await;
    }
}

/// A connection read through a buffer, line by line or by length.
struct Reader {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
}

impl Reader {
    async fn fill(&mut self) -> Result<(), String> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection lost".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        link().last_io_ms = crate::exec::now_ms();
        Ok(())
    }

    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = self.buf[self.start..].iter().position(|&b| b == b'\n') {
                let line = &self.buf[self.start..self.start + end];
                let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
                self.start += end + 1;
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    async fn exact(&mut self, len: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() - self.start < len {
            self.fill().await?;
        }
        let out = self.buf[self.start..self.start + len].to_vec();
        self.start += len;
        Ok(out)
    }

    async fn command(&mut self, argv: &[&[u8]]) -> Result<String, String> {
        let resp = crate::repl::feed::encode(argv);
        self.stream.write_all(&resp).await.map_err(|e| e.to_string())?;
        self.line().await
    }
}

/// One synchronization and the stream after it, until the link drops or a
/// newer REPLICAOF replaces it.
async fn follow(shard: &Rc<Shard<ShardState>>, host: &str, port: u16, generation: u64) -> Result<(), String> {
    let stream = Stream::connect(&format!("{host}:{port}"), Duration::from_secs(5))
        .await
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    crate::notice!("MASTER <-> REPLICA sync started");
    let mut reader = Reader {
        stream,
        buf: Vec::new(),
        start: 0,
    };
    let reply = reader.command(&[b"PING"]).await?;
    crate::notice!("Master replied to PING, replication can continue...");
    let masterauth = shard.state().config.get("masterauth").unwrap_or("").to_string();
    if !masterauth.is_empty() {
        let reply = reader.command(&[b"AUTH", masterauth.as_bytes()]).await?;
        if reply.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    } else if reply.starts_with("-NOAUTH") {
        return Err(format!("Master replied to PING: {reply}"));
    }
    let my_port = shard.state().config.settings.port.to_string();
    reader
        .command(&[b"REPLCONF", b"listening-port", my_port.as_bytes()])
        .await?;
    reader.command(&[b"REPLCONF", b"capa", b"psync2"]).await?;
    link().sync_in_progress = true;
    let reply = reader.command(&[b"PSYNC", b"?", b"-1"]).await?;
    let Some(rest) = reply.strip_prefix("+FULLRESYNC ") else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    };
    let mut words = rest.split(' ');
    let replid = words.next().unwrap_or("").to_string();
    let offset: u64 = words.next().and_then(|o| o.parse().ok()).unwrap_or(0);
    crate::notice!("Full resync from master: {replid}:{offset}");
    // The snapshot's length line; bare newlines before it are keep-alives.
    let header = loop {
        let line = reader.line().await?;
        if !line.is_empty() {
            break line;
        }
    };
    let len: usize = header
        .strip_prefix('$')
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| format!("Bad protocol from MASTER, the first byte is not '$': {header}"))?;
    let image = std::sync::Arc::new(reader.exact(len).await?);
    crate::notice!("MASTER <-> REPLICA sync: receiving {len} bytes from master to disk");
    if !current(generation) {
        return Ok(());
    }
    let mut session = master_session(shard);
    load_snapshot(&mut session, image).await?;
    {
        let mut l = link();
        l.offset = offset;
        l.master_replid = replid;
        l.sync_in_progress = false;
    }
    LINK_UP.store(true, Ordering::SeqCst);
    crate::notice!("MASTER <-> REPLICA sync: Finished with success");
    stream_commands(&mut session, &mut reader, generation).await
}

/// The client the master's commands run as: it may write on a replica.
fn master_session(shard: &Rc<Shard<ShardState>>) -> Session {
    let id = crate::client::next_client_id();
    let mut info = ClientInfo::new(id, String::new(), String::new(), -1, crate::exec::now_ms());
    info.flags = "M".into();
    let mut session = Session::new(shard.clone(), Rc::new(RefCell::new(info)), true);
    session.from_master = true;
    session
}

/// Replaces the dataset with the master's snapshot, every shard locked.
async fn load_snapshot(session: &mut Session, image: std::sync::Arc<Vec<u8>>) -> Result<(), String> {
    crate::persist::check_image(&image)
        .map_err(|e| format!("Failed trying to load the MASTER synchronization DB: {e}"))?;
    crate::notice!("MASTER <-> REPLICA sync: Flushing old data");
    let all = session.all_shards();
    let results = session
        .locked(&all, async |s: &mut Session| {
            s.call_all(move |state: &mut ShardState| {
                let now = crate::exec::now_ms();
                for db in state.dbs.iter_mut() {
                    db.flush(now);
                }
                crate::persist::load_shard(state, &image, now, false).map_err(|e| e.to_string())
            })
            .await
        })
        .await;
    crate::notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    for result in results {
        result.map_err(|e| format!("Failed trying to load the MASTER synchronization DB: {e}"))?;
    }
    Ok(())
}

/// Applies the master's stream; acknowledges the offset every second and
/// when asked (REPLCONF GETACK).
async fn stream_commands(session: &mut Session, reader: &mut Reader, generation: u64) -> Result<(), String> {
    let limits = ParseLimits {
        proto_max_bulk_len: i64::MAX,
        authenticated: true,
    };
    let mut ranges = Vec::new();
    let mut last_ack = std::time::Instant::now();
    loop {
        if !current(generation) {
            return Ok(());
        }
        // Apply every complete command buffered.
        loop {
            let mut resume = 0;
            let window = &reader.buf[reader.start..];
            match parse_command(window, limits, &mut ranges, &mut resume) {
                Parsed::Command { consumed } => {
                    let owned = OwnedArgv::from_argv(&Argv::new(window, &ranges));
                    let argv = owned.argv();
                    if argv.len() >= 2
                        && argv.get(0).eq_ignore_ascii_case(b"replconf")
                        && argv.get(1).eq_ignore_ascii_case(b"getack")
                    {
                        send_ack(reader).await?;
                        last_ack = std::time::Instant::now();
                    } else {
                        crate::exec::execute(session, &argv).await;
                        session.out.bytes.clear();
                        session.out.effects.clear();
                    }
                    reader.start += consumed;
                    link().offset += consumed as u64;
                }
                Parsed::Empty { consumed } => {
                    reader.start += consumed;
                    link().offset += consumed as u64;
                }
                Parsed::Incomplete => break,
                Parsed::Error(message) => return Err(format!("Protocol error from MASTER: {message}")),
            }
        }
        if last_ack.elapsed() >= Duration::from_secs(1) {
            send_ack(reader).await?;
            last_ack = std::time::Instant::now();
        }
        let timeout = async {
            cores::sleep(Duration::from_secs(1)).await;
            Ok(())
        };
        futures_lite::future::or(reader.fill(), timeout).await?;
    }
}

async fn send_ack(reader: &mut Reader) -> Result<(), String> {
    let offset = link().offset.to_string();
    let ack = crate::repl::feed::encode(&[b"REPLCONF", b"ACK", offset.as_bytes()]);
    reader.stream.write_all(&ack).await.map_err(|e| e.to_string())
}
