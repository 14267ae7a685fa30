//! MIGRATE: moves (or copies) keys to another server with DUMP payloads and
//! RESTORE, as Redis does: the keys' shards stay locked while the target
//! answers (Redis blocks its only thread the same way), acknowledged keys are
//! deleted here unless COPY, and connections to targets are cached per shard
//! for 10 seconds (INFO migrate_cached_sockets).

use crate::command::{asynchronous, CommandDef, LocalFuture};
use crate::errors;
use crate::persist;
use crate::resp::parse::parse_i64;
use crate::session::Session;
use crate::shard::ShardState;
use crate::slot::key_shard;
use cores::net::Stream;
use cores::ShardId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::time::Duration;

pub static COMMANDS: &[CommandDef] = &[asynchronous("migrate", migrate)];

/// Redis's MIGRATE_SOCKET_CACHE_ITEMS and MIGRATE_SOCKET_CACHE_TTL.
const CACHE_ITEMS_MAX: usize = 64;
const CACHE_TTL_MS: u64 = 10_000;
/// Commands are written in chunks of this size, as Redis does.
const WRITE_CHUNK_BYTES: usize = 64 * 1024;

/// A cached connection to a target, with the database last selected on it.
struct Cached {
    stream: Stream,
    last_db: Option<i64>,
    last_use_ms: u64,
    buffer: Vec<u8>,
}

thread_local! {
    /// This shard's cached target connections, by "host:port".
    static CACHE: RefCell<HashMap<String, Cached>> = RefCell::new(HashMap::new());
}

/// Cached connections on this shard (INFO migrate_cached_sockets).
pub fn cached_sockets() -> usize {
    CACHE.with(|c| c.borrow().len())
}

/// Closes connections unused for 10 seconds (called by the shard's cron).
pub fn close_idle(now_ms: u64) {
    CACHE.with(|c| {
        c.borrow_mut()
            .retain(|_, cached| now_ms.saturating_sub(cached.last_use_ms) <= CACHE_TTL_MS)
    });
}

async fn with_timeout<T>(timeout: Duration, work: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    let timer = async {
        cores::sleep(timeout).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, "timeout"))
    };
    futures_lite::future::or(work, timer).await
}

/// Reads one reply line (without CRLF) from the target.
async fn read_line(cached: &mut Cached, timeout: Duration) -> io::Result<Vec<u8>> {
    loop {
        if let Some(end) = cached.buffer.windows(2).position(|w| w == b"\r\n") {
            let line = cached.buffer[..end].to_vec();
            cached.buffer.drain(..end + 2);
            return Ok(line);
        }
        let mut chunk = [0u8; 1024];
        let n = with_timeout(timeout, cached.stream.read(&mut chunk)).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "target closed the connection",
            ));
        }
        cached.buffer.extend_from_slice(&chunk[..n]);
    }
}

fn bulk(out: &mut Vec<u8>, arg: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        bulk(out, arg);
    }
}

/// What the key's shard hands over: its DUMP payload and remaining TTL.
struct Exported {
    key: Vec<u8>,
    payload: Vec<u8>,
    ttl_ms: i64,
}

enum Outcome {
    Ok,
    /// An error reply from the target (already formatted for our client).
    Target(String),
    Io {
        writing: bool,
        timed_out: bool,
        before_first_reply: bool,
    },
}

fn migrate(session: &mut Session, argv: crate::OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let (mut copy, mut replace) = (false, false);
        let mut auth: Option<(Option<Vec<u8>>, Vec<u8>)> = None;
        let mut first_key = 3;
        let mut key_count = 1;
        let mut j = 6;
        while j < argv.len() {
            let more = argv.len() - j - 1;
            let option = argv.get(j);
            if option.eq_ignore_ascii_case(b"copy") {
                copy = true;
            } else if option.eq_ignore_ascii_case(b"replace") {
                replace = true;
            } else if option.eq_ignore_ascii_case(b"auth") {
                if more == 0 {
                    return session.out.error(errors::SYNTAX);
                }
                j += 1;
                auth = Some((None, argv.get(j).to_vec()));
            } else if option.eq_ignore_ascii_case(b"auth2") {
                if more < 2 {
                    return session.out.error(errors::SYNTAX);
                }
                auth = Some((Some(argv.get(j + 1).to_vec()), argv.get(j + 2).to_vec()));
                j += 2;
            } else if option.eq_ignore_ascii_case(b"keys") {
                if !argv.get(3).is_empty() {
                    return session
                        .out
                        .error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
                }
                first_key = j + 1;
                key_count = argv.len() - j - 1;
                break;
            } else {
                return session.out.error(errors::SYNTAX);
            }
            j += 1;
        }
        let (Some(timeout), Some(db)) = (parse_i64(argv.get(5)), parse_i64(argv.get(4))) else {
            return session.out.error(errors::NOT_INTEGER);
        };
        let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
        let keys: Vec<Vec<u8>> = (first_key..first_key + key_count)
            .map(|i| argv.get(i).to_vec())
            .collect();
        let target = format!(
            "{}:{}",
            String::from_utf8_lossy(argv.get(1)),
            String::from_utf8_lossy(argv.get(2))
        );
        let shards = session.shard_count();
        let mut owners: Vec<ShardId> = keys.iter().map(|k| key_shard(k, shards)).collect();
        owners.sort();
        owners.dedup();
        let reply = session
            .locked(&owners, async |s: &mut Session| {
                run(s, &target, db, timeout, &keys, copy, replace, auth.as_ref()).await
            })
            .await;
        match reply {
            Ok(simple) => session.out.simple(simple),
            Err(message) => session.out.error(&message),
        }
    })
}

#[allow(clippy::too_many_arguments)]
async fn run(
    session: &mut Session,
    target: &str,
    db: i64,
    timeout: Duration,
    keys: &[Vec<u8>],
    copy: bool,
    replace: bool,
    auth: Option<&(Option<Vec<u8>>, Vec<u8>)>,
) -> Result<&'static str, String> {
    let shards = session.shard_count();
    let source_db = session.db;
    let mut exported = Vec::with_capacity(keys.len());
    for key in keys {
        let owned = key.clone();
        let found = session
            .call(key_shard(key, shards), move |state: &mut ShardState| {
                let now = crate::exec::now_ms();
                let compress = state.config.get("rdbcompression") != Some("no");
                let db = &mut state.dbs[source_db];
                let entry = db.read(&owned, now)?;
                let payload = persist::value::dump(&entry.value, compress);
                let ttl_ms = match db.expire_at(&owned) {
                    None => 0,
                    Some(at) => (at as i64 - now as i64).max(1),
                };
                Some(Exported {
                    key: owned,
                    payload,
                    ttl_ms,
                })
            })
            .await;
        exported.extend(found);
    }
    if exported.is_empty() {
        return Ok("NOKEY");
    }
    let mut may_retry = true;
    loop {
        let (outcome, acked) = send(target, db, timeout, &exported, replace, auth).await;
        if !copy && !acked.is_empty() {
            delete(session, &exported, &acked).await;
        }
        match outcome {
            Outcome::Ok => return Ok("OK"),
            Outcome::Target(message) => return Err(message),
            Outcome::Io {
                writing,
                timed_out,
                before_first_reply,
            } => {
                // One retry on a fresh connection when a cached one turned
                // out dead before answering anything (not after a timeout).
                if may_retry && !timed_out && before_first_reply && acked.is_empty() {
                    may_retry = false;
                    continue;
                }
                return Err(format!(
                    "IOERR error or timeout {} to target instance",
                    if writing { "writing" } else { "reading" }
                ));
            }
        }
    }
}

async fn delete(session: &mut Session, exported: &[Exported], acked: &[usize]) {
    let shards = session.shard_count();
    let db = session.db;
    for &i in acked {
        let key = exported[i].key.clone();
        session
            .call(key_shard(&key, shards), move |state: &mut ShardState| {
                state.dbs[db].delete(&key, crate::exec::now_ms());
            })
            .await;
    }
}

/// Sends AUTH, SELECT and the RESTOREs; returns the outcome and which keys
/// the target acknowledged.
async fn send(
    target: &str,
    db: i64,
    timeout: Duration,
    exported: &[Exported],
    replace: bool,
    auth: Option<&(Option<Vec<u8>>, Vec<u8>)>,
) -> (Outcome, Vec<usize>) {
    let now = crate::exec::now_ms();
    let cached = CACHE.with(|c| c.borrow_mut().remove(target));
    let mut cached = match cached {
        Some(cached) => cached,
        None => {
            if CACHE.with(|c| c.borrow().len()) >= CACHE_ITEMS_MAX {
                // Make room: drop one cached connection, as Redis drops a random one.
                CACHE.with(|c| {
                    let mut cache = c.borrow_mut();
                    if let Some(k) = cache.keys().next().cloned() {
                        cache.remove(&k);
                    }
                });
            }
            match Stream::connect(target, timeout).await {
                Ok(stream) => Cached {
                    stream,
                    last_db: None,
                    last_use_ms: now,
                    buffer: Vec::new(),
                },
                Err(_) => {
                    return (
                        Outcome::Target("IOERR error or timeout connecting to the client".into()),
                        Vec::new(),
                    )
                }
            }
        }
    };
    let mut out = Vec::new();
    if let Some((user, password)) = auth {
        match user {
            Some(user) => command(&mut out, &[b"AUTH", user, password]),
            None => command(&mut out, &[b"AUTH", password]),
        }
    }
    let select = cached.last_db != Some(db);
    if select {
        command(&mut out, &[b"SELECT", db.to_string().as_bytes()]);
    }
    for e in exported {
        let ttl = e.ttl_ms.to_string();
        let mut args: Vec<&[u8]> = vec![b"RESTORE", &e.key, ttl.as_bytes(), &e.payload];
        if replace {
            args.push(b"REPLACE");
        }
        command(&mut out, &args);
    }
    let io_error = |writing: bool, error: &io::Error, before_first_reply: bool| Outcome::Io {
        writing,
        timed_out: error.kind() == io::ErrorKind::TimedOut,
        before_first_reply,
    };
    for chunk in out.chunks(WRITE_CHUNK_BYTES) {
        if let Err(error) = with_timeout(timeout, cached.stream.write_all(chunk)).await {
            return (io_error(true, &error, true), Vec::new());
        }
    }
    // An AUTH or SELECT error fails every key; a RESTORE error only its own.
    let mut header_error: Option<Vec<u8>> = None;
    let header_replies = auth.is_some() as usize + select as usize;
    for _ in 0..header_replies {
        match read_line(&mut cached, timeout).await {
            Ok(line) => {
                if line.first() == Some(&b'-') && header_error.is_none() {
                    header_error = Some(line);
                }
            }
            Err(error) => return (io_error(false, &error, true), Vec::new()),
        }
    }
    let mut first_error = header_error.clone();
    let mut acked = Vec::new();
    let mut outcome = None;
    for (i, _) in exported.iter().enumerate() {
        match read_line(&mut cached, timeout).await {
            Ok(line) => {
                if line.first() == Some(&b'-') {
                    first_error.get_or_insert(line);
                } else if header_error.is_none() {
                    acked.push(i);
                }
            }
            Err(error) => {
                outcome = Some(io_error(false, &error, i == 0));
                break;
            }
        }
    }
    if let Some(outcome) = outcome {
        // The connection is in an unknown state: not cached again.
        return (outcome, acked);
    }
    if let Some(line) = first_error {
        // Force a SELECT next time, as Redis does after a target error.
        cached.last_db = None;
        cached.last_use_ms = crate::exec::now_ms();
        CACHE.with(|c| c.borrow_mut().insert(target.to_string(), cached));
        let message = format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(&line[1..])
        );
        return (Outcome::Target(message), acked);
    }
    cached.last_db = Some(db);
    cached.last_use_ms = crate::exec::now_ms();
    CACHE.with(|c| c.borrow_mut().insert(target.to_string(), cached));
    (Outcome::Ok, acked)
}
