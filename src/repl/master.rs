//! Serving replicas: SYNC and PSYNC hand the connection a snapshot taken at
//! one point of the stream (every shard locked while the partitions are
//! serialized and the replica is attached), then the stream from there;
//! REPLCONF records what the replica announces and acknowledges; WAIT
//! counts the replicas that acknowledged the caller's writes.

use super::feed::{self, Attached};
use crate::command::{asynchronous, conn, CommandDef, LocalFuture};
use crate::errors;
use crate::resp::{parse_command, Argv, ParseLimits, Parsed};
use crate::session::Session;
use crate::shard::ShardState;
use crate::OwnedArgv;
use cores::net::Stream;
use cores::signal::Signal;
use cores::ShardId;

pub static COMMANDS: &[CommandDef] = &[
    asynchronous("sync", sync_command),
    asynchronous("psync", psync_command),
    conn("replconf", replconf_command),
    asynchronous("wait", wait_command),
];

/// A connection that became a replica: where its stream starts and what
/// wakes its sender. Set by SYNC/PSYNC; the connection loop hands over to
/// `serve` once the reply (the snapshot) is flushed.
pub struct ReplicaStart {
    attached: Attached,
    signal: Signal,
}

/// Replication facts a client announced (REPLCONF) before SYNC/PSYNC.
#[derive(Default)]
pub struct Announced {
    pub listening_port: u16,
    pub ip: Option<String>,
}

fn sync_command(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move { start_sync(session, None).await })
}

fn psync_command(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let replid = String::from_utf8_lossy(argv.get(1)).into_owned();
        let offset = std::str::from_utf8(argv.get(2))
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(-1);
        start_sync(session, Some((replid, offset))).await
    })
}

/// SYNC (`psync` None) or PSYNC: continue from the backlog when possible,
/// else a full synchronization.
async fn start_sync(session: &mut Session, psync: Option<(String, i64)>) {
    if session.replica.is_some() || session.info.borrow().flags.contains('S') {
        // Already a replica: Redis ignores a second SYNC.
        return;
    }
    if crate::repl::replica::is_replica() {
        return match crate::repl::replica::link_up() {
            false => session
                .out
                .error("NOMASTERLINK Can't SYNC while not connected with my master"),
            // Chained replication would relay the master's stream.
            true => session
                .out
                .error("ERR this replica does not serve replicas of its own (chained replication is not supported)"),
        };
    }
    let (signal, raiser) = match Signal::new() {
        Ok(pair) => pair,
        Err(error) => return session.out.error(&format!("ERR cannot start replication: {error}")),
    };
    let ip = session
        .announced
        .ip
        .clone()
        .unwrap_or_else(|| peer_ip(&session.info.borrow().addr));
    let port = session.announced.listening_port;
    if let Some((replid, offset)) = &psync {
        if *offset >= 0 {
            if let Some(attached) = feed::attach_continuing(replid, *offset as u64, raiser.clone(), ip.clone(), port) {
                crate::notice!(
                    "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                    replica_name(&ip, port),
                    feed::offset() + 1 - *offset as u64,
                    offset
                );
                session.out.raw(format!("+CONTINUE {}\r\n", attached.replid).as_bytes());
                session.replica = Some(ReplicaStart { attached, signal });
                return;
            }
        }
    }
    crate::notice!("Replica {} asks for synchronization", replica_name(&ip, port));
    let (image, attached) = snapshot_and_attach(session, raiser, ip.clone(), port).await;
    crate::notice!(
        "Synchronization with replica {} started: {} bytes of snapshot at offset {}",
        replica_name(&ip, port),
        image.len(),
        attached.offset
    );
    if psync.is_some() {
        session
            .out
            .raw(format!("+FULLRESYNC {} {}\r\n", attached.replid, attached.offset).as_bytes());
    }
    // The snapshot as a bulk string without the trailing CRLF, as Redis
    // sends it to replicas.
    session.out.raw(format!("${}\r\n", image.len()).as_bytes());
    session.out.raw(&image);
    session.replica = Some(ReplicaStart { attached, signal });
}

fn peer_ip(addr: &str) -> String {
    addr.parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

fn replica_name(ip: &str, port: u16) -> String {
    format!("{ip}:{port}")
}

/// Serializes every shard's partition and attaches the replica to the
/// stream while every shard is locked: the snapshot holds exactly the
/// changes before the replica's offset.
async fn snapshot_and_attach(
    session: &Session,
    raiser: cores::signal::Raiser,
    ip: String,
    port: u16,
) -> (Vec<u8>, Attached) {
    let shard = &session.shard;
    let all: Vec<ShardId> = (0..shard.count()).map(|i| ShardId(i as u16)).collect();
    let tx = shard.new_tx();
    shard.lock_all(&all, tx).await;
    let attached = feed::attach_at_end(raiser, ip, port);
    let mut parts = Vec::with_capacity(all.len());
    for &target in &all {
        parts.push(
            shard
                .call(target, Some(tx), |state: &mut ShardState| {
                    crate::persist::serialize_partition(state)
                })
                .await,
        );
    }
    shard.unlock_all(&all, tx);
    let image = crate::persist::assemble(&parts, crate::exec::now_ms(), crate::memory::used_bytes(), 0);
    (image, attached)
}

/// Detaches a replica when its connection ends, however it ends.
struct Detach(u64);

impl Drop for Detach {
    fn drop(&mut self) {
        feed::detach(self.0);
    }
}

/// Feeds the stream to a replica connection until it closes or falls too
/// far behind; reads what the replica sends (REPLCONF ACK) meanwhile.
/// `input` holds bytes it sent after its SYNC/PSYNC.
pub async fn serve(session: &mut Session, stream: &mut Stream, start: ReplicaStart, mut input: Vec<u8>) {
    let ReplicaStart { attached, signal } = start;
    let id = attached.id;
    let _detach = Detach(id);
    session.info.borrow_mut().flags = "S".into();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    handle_input(&mut input, id);
    loop {
        out.clear();
        match feed::take_pending(id, &mut out) {
            Ok(()) => {}
            Err(feed::Stop::Lagging) => {
                crate::warning!(
                    "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                    session.id,
                    session.info.borrow().addr
                );
                return;
            }
            Err(feed::Stop::Detached) => {
                crate::notice!(
                    "Connection with replica {} closed: this server is now a replica",
                    session.info.borrow().addr
                );
                return;
            }
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                break;
            }
            session.shard.state().stats.net_output_bytes += out.len() as u64;
        }
        if session.info.borrow().killed {
            break;
        }
        let read = futures_lite::future::or(async { Some(stream.read(&mut buf).await) }, async {
            signal.wait().await;
            None
        })
        .await;
        match read {
            None => {}
            Some(Ok(0)) | Some(Err(_)) => break,
            Some(Ok(n)) => {
                input.extend_from_slice(&buf[..n]);
                handle_input(&mut input, id);
            }
        }
    }
    crate::notice!("Connection with replica {} lost.", session.info.borrow().addr);
}

/// Applies the complete commands a replica sent: REPLCONF ACK records its
/// offset; anything else is ignored (a replica sends nothing else).
fn handle_input(input: &mut Vec<u8>, id: u64) {
    let limits = ParseLimits {
        proto_max_bulk_len: 1 << 20,
        authenticated: true,
    };
    let mut ranges = Vec::new();
    let mut consumed_total = 0;
    loop {
        let mut resume = 0;
        match parse_command(&input[consumed_total..], limits, &mut ranges, &mut resume) {
            Parsed::Command { consumed } => {
                let argv = Argv::new(&input[consumed_total..], &ranges);
                if argv.len() >= 3
                    && argv.get(0).eq_ignore_ascii_case(b"replconf")
                    && argv.get(1).eq_ignore_ascii_case(b"ack")
                {
                    if let Some(offset) = std::str::from_utf8(argv.get(2)).ok().and_then(|s| s.parse().ok()) {
                        feed::ack(id, offset);
                    }
                }
                consumed_total += consumed;
            }
            Parsed::Empty { consumed } => consumed_total += consumed,
            Parsed::Incomplete => break,
            Parsed::Error(_) => {
                consumed_total = input.len();
                break;
            }
        }
    }
    input.drain(..consumed_total);
}

/// REPLCONF <option> <value> ...: what a replica announces before syncing.
fn replconf_command(session: &mut Session, argv: &Argv) {
    if argv.len().is_multiple_of(2) {
        return session.out.error(errors::SYNTAX);
    }
    let mut j = 1;
    while j < argv.len() {
        let option = argv.get(j).to_ascii_lowercase();
        let value = argv.get(j + 1);
        match option.as_slice() {
            b"listening-port" => match std::str::from_utf8(value).ok().and_then(|s| s.parse::<i64>().ok()) {
                Some(port) => session.announced.listening_port = port as u16,
                None => return session.out.error(errors::NOT_INTEGER),
            },
            b"ip-address" => session.announced.ip = Some(String::from_utf8_lossy(value).into_owned()),
            b"capa" | b"rdb-only" | b"rdb-filter-only" => {}
            // ACK and GETACK are only meaningful on a replication link, and
            // are never answered.
            b"ack" | b"getack" => return,
            _ => {
                return session.out.error(&format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(argv.get(j))
                ))
            }
        }
        j += 2;
    }
    session.out.ok();
}

/// WAIT numreplicas timeout: blocks until that many replicas acknowledged
/// the stream up to this client's last write, or the timeout (ms, 0 =
/// forever) passes; replies with the count.
fn wait_command(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if crate::repl::replica::is_replica() {
            return session.out.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
        }
        let argv = argv.argv();
        let parse = |arg: &[u8]| std::str::from_utf8(arg).ok().and_then(|s| s.parse::<i64>().ok());
        let Some(wanted) = parse(argv.get(1)) else {
            return session.out.error(errors::NOT_INTEGER);
        };
        let Some(timeout) = parse(argv.get(2)) else {
            return session.out.error("ERR timeout is not an integer or out of range");
        };
        if timeout < 0 {
            return session.out.error(errors::TIMEOUT_NEGATIVE);
        }
        let target = session.woff;
        let acked = feed::acked_at_least(target);
        if acked as i64 >= wanted || session.multi.is_some() || session.tx.is_some() {
            return session.out.int(acked as i64);
        }
        feed::request_acks();
        let deadline =
            (timeout > 0).then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout as u64));
        loop {
            cores::sleep(std::time::Duration::from_millis(10)).await;
            let acked = feed::acked_at_least(target);
            let expired = deadline.is_some_and(|d| std::time::Instant::now() >= d);
            if acked as i64 >= wanted || expired || session.info.borrow().killed {
                return session.out.int(acked as i64);
            }
        }
    })
}
