//! The durability crash test: clients write (pipelined and not, strings,
//! counters, lists, hashes, sets, sorted sets) to a server running
//! `appendonly yes` with `appendfsync always`; the server is killed with
//! SIGKILL at a random moment; it restarts on the same files; every write
//! whose reply a client received must be there, and what is there must be a
//! prefix of what each client sent (nothing invented, nothing reordered).
//! One more client runs MULTI/EXEC transactions that increment counters on
//! several shards: after every restart the counters must be equal (a
//! transaction is all there or not at all) and count at least the
//! acknowledged transactions.
//!
//! `TESSERA_CRASH_ROUNDS` sets the rounds per shard count (default 20 for
//! 2 shards and 4 for 1 and 4 shards); `TESSERA_SEED` replays a seed.

mod common;

use common::{shard_of, Server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use redis::{Connection, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: usize = 4;
/// Commands per pipeline for the pipelining clients.
const PIPELINE: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    Counter,
    List,
    Hash,
    Set,
    ZSet,
}

const KINDS: [Kind; 6] = [Kind::Str, Kind::Counter, Kind::List, Kind::Hash, Kind::Set, Kind::ZSet];

/// One key's history: the operations sent, in order, and how many of them
/// were acknowledged.
#[derive(Clone, Debug)]
struct KeyLog {
    key: String,
    kind: Kind,
    sent: Vec<u64>,
    acked: usize,
}

impl KeyLog {
    fn command(&self, seq: u64) -> redis::Cmd {
        let mut cmd;
        match self.kind {
            Kind::Str => {
                cmd = redis::cmd("SET");
                cmd.arg(&self.key).arg(seq);
            }
            Kind::Counter => {
                cmd = redis::cmd("INCR");
                cmd.arg(&self.key);
            }
            Kind::List => {
                cmd = redis::cmd("RPUSH");
                cmd.arg(&self.key).arg(seq);
            }
            Kind::Hash => {
                cmd = redis::cmd("HSET");
                cmd.arg(&self.key).arg(format!("f{seq}")).arg(seq);
            }
            Kind::Set => {
                cmd = redis::cmd("SADD");
                cmd.arg(&self.key).arg(format!("m{seq}"));
            }
            Kind::ZSet => {
                cmd = redis::cmd("ZADD");
                cmd.arg(&self.key).arg(seq).arg(format!("m{seq}"));
            }
        }
        cmd
    }

    /// How many of the sent operations the server's state reflects, checked
    /// to be a prefix of what was sent.
    fn observed(&self, con: &mut Connection) -> Result<usize, String> {
        let prefix_len = |items: Vec<String>, render: &dyn Fn(u64) -> String, ordered: bool| {
            let n = items.len();
            if n > self.sent.len() {
                return Err(format!(
                    "{} holds {n} items, only {} were sent",
                    self.key,
                    self.sent.len()
                ));
            }
            let expected: Vec<String> = self.sent[..n].iter().map(|&s| render(s)).collect();
            let same = if ordered {
                items == expected
            } else {
                items.iter().collect::<HashSet<_>>() == expected.iter().collect::<HashSet<_>>()
            };
            if !same {
                return Err(format!(
                    "{} is not a prefix of what was sent: {items:?} vs {expected:?}",
                    self.key
                ));
            }
            Ok(n)
        };
        let query = |cmd: &mut redis::Cmd, con: &mut Connection| -> Result<Value, String> {
            cmd.query::<Value>(con).map_err(|e| e.to_string())
        };
        match self.kind {
            Kind::Str => match query(redis::cmd("GET").arg(&self.key), con)? {
                Value::Nil => Ok(0),
                value => {
                    let v: u64 = redis::from_redis_value::<String>(&value)
                        .map_err(|e| e.to_string())?
                        .parse()
                        .map_err(|_| format!("{} holds a non-number", self.key))?;
                    self.sent
                        .iter()
                        .position(|&s| s == v)
                        .map(|i| i + 1)
                        .ok_or(format!("{} holds {v}, which was never sent", self.key))
                }
            },
            Kind::Counter => match query(redis::cmd("GET").arg(&self.key), con)? {
                Value::Nil => Ok(0),
                value => {
                    let n: usize = redis::from_redis_value::<String>(&value)
                        .map_err(|e| e.to_string())?
                        .parse()
                        .map_err(|_| format!("{} holds a non-number", self.key))?;
                    if n > self.sent.len() {
                        return Err(format!(
                            "{} counts {n}, only {} INCRs were sent",
                            self.key,
                            self.sent.len()
                        ));
                    }
                    Ok(n)
                }
            },
            Kind::List | Kind::Hash | Kind::Set | Kind::ZSet => {
                // How to read the collection, how each sent seq appears in
                // it, and whether its order is the order of sending.
                let (command, range, render, ordered): (&str, bool, fn(u64) -> String, bool) = match self.kind {
                    Kind::List => ("LRANGE", true, |s| s.to_string(), true),
                    Kind::Hash => ("HKEYS", false, |s| format!("f{s}"), false),
                    Kind::Set => ("SMEMBERS", false, |s| format!("m{s}"), false),
                    _ => ("ZRANGE", true, |s| format!("m{s}"), true),
                };
                let mut cmd = redis::cmd(command);
                cmd.arg(&self.key);
                if range {
                    cmd.arg(0).arg(-1);
                }
                let items: Vec<String> = cmd.query(con).map_err(|e| e.to_string())?;
                prefix_len(items, &render, ordered)
            }
        }
    }
}

/// Writes until the connection breaks; records sends and acknowledgements.
fn client_loop(port: u16, logs: Arc<Mutex<Vec<KeyLog>>>, pipelined: bool, seed: u64, stop: Arc<AtomicBool>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return;
    };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
        return;
    };
    let _ = con.set_read_timeout(Some(Duration::from_secs(5)));
    let mut seq = {
        let logs = logs.lock().unwrap();
        logs.iter().flat_map(|l| l.sent.iter().copied()).max().unwrap_or(0) + 1
    };
    while !stop.load(Ordering::Relaxed) {
        let batch = if pipelined { PIPELINE } else { 1 };
        let mut pipe = redis::pipe();
        let mut touched = Vec::with_capacity(batch);
        {
            let mut logs = logs.lock().unwrap();
            for _ in 0..batch {
                let i = rng.gen_range(0..logs.len());
                pipe.add_command(logs[i].command(seq));
                logs[i].sent.push(seq);
                touched.push((i, logs[i].sent.len()));
                seq += 1;
            }
        }
        match pipe.query::<Vec<Value>>(&mut con) {
            Ok(replies) => {
                assert_eq!(replies.len(), batch);
                let mut logs = logs.lock().unwrap();
                for (i, len) in touched {
                    logs[i].acked = logs[i].acked.max(len);
                }
            }
            Err(_) => return,
        }
    }
}

/// Counters a transaction increments together: names that land on
/// different shards with 2 and with 4 shards.
fn transaction_keys() -> Vec<String> {
    let names: Vec<String> = (0..1000).map(|i| format!("Tx:{i}")).collect();
    let first = names[0].clone();
    let other = |shards: usize| {
        names
            .iter()
            .find(|n| shard_of(n.as_bytes(), shards) != shard_of(first.as_bytes(), shards))
            .expect("a key on another shard")
            .clone()
    };
    vec![first.clone(), other(2), other(4)]
}

/// Transactions sent and acknowledged.
#[derive(Default)]
struct TransactionLog {
    sent: usize,
    acked: usize,
}

/// Runs MULTI, one INCR per counter, EXEC until the connection breaks.
fn transaction_loop(port: u16, log: Arc<Mutex<TransactionLog>>, stop: Arc<AtomicBool>) {
    let keys = transaction_keys();
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return;
    };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
        return;
    };
    let _ = con.set_read_timeout(Some(Duration::from_secs(5)));
    while !stop.load(Ordering::Relaxed) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in &keys {
            pipe.cmd("INCR").arg(key);
        }
        log.lock().unwrap().sent += 1;
        match pipe.query::<Vec<i64>>(&mut con) {
            Ok(values) => {
                assert_eq!(values.len(), keys.len());
                log.lock().unwrap().acked += 1;
            }
            Err(_) => return,
        }
    }
}

/// The counters are equal, and count between the acknowledged and the sent
/// transactions; returns their value.
fn check_transactions(con: &mut Connection, log: &TransactionLog) -> Result<usize, String> {
    let mut values = Vec::new();
    for key in transaction_keys() {
        let value: Option<usize> = redis::cmd("GET").arg(&key).query(con).map_err(|e| e.to_string())?;
        values.push(value.unwrap_or(0));
    }
    if values.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("a transaction is there in part: counters {values:?}"));
    }
    let n = values[0];
    if n < log.acked || n > log.sent {
        return Err(format!(
            "{n} transactions present, {} acknowledged, {} sent",
            log.acked, log.sent
        ));
    }
    Ok(n)
}

fn run_rounds(shards: usize, rounds: usize, seed: u64) {
    let dir = std::env::temp_dir().join(format!("tessera-crash-{}-{shards}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut rng = SmallRng::seed_from_u64(seed);
    // Per client, its keys (names spread over shards by their hash).
    let all_logs: Vec<Arc<Mutex<Vec<KeyLog>>>> = (0..CLIENTS)
        .map(|c| {
            let logs = KINDS
                .iter()
                .flat_map(|&kind| {
                    (0..2).map(move |j| KeyLog {
                        key: format!("{kind:?}:{c}:{j}"),
                        kind,
                        sent: Vec::new(),
                        acked: 0,
                    })
                })
                .collect();
            Arc::new(Mutex::new(logs))
        })
        .collect();
    let transactions = Arc::new(Mutex::new(TransactionLog::default()));
    let args = ["--appendonly", "yes", "--appendfsync", "always", "--save", ""];
    for round in 0..rounds {
        let mut server = Server::start_in(&dir, shards, &args);
        // Verify what survived the previous crash, then continue from it.
        let mut con = server.client();
        {
            let mut log = transactions.lock().unwrap();
            let n = check_transactions(&mut con, &log)
                .unwrap_or_else(|e| panic!("seed {seed}, shards {shards}, round {round}: {e}"));
            log.sent = n;
            log.acked = n;
        }
        for logs in &all_logs {
            let mut logs = logs.lock().unwrap();
            for log in logs.iter_mut() {
                let n = log
                    .observed(&mut con)
                    .unwrap_or_else(|e| panic!("seed {seed}, shards {shards}, round {round}: {e}"));
                assert!(
                    n >= log.acked,
                    "seed {seed}, shards {shards}, round {round}: {} lost acknowledged writes: {} acknowledged, {n} present",
                    log.key,
                    log.acked
                );
                log.sent.truncate(n);
                log.acked = n;
            }
        }
        drop(con);
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = all_logs
            .iter()
            .enumerate()
            .map(|(c, logs)| {
                let (logs, stop, port) = (logs.clone(), stop.clone(), server.port);
                let client_seed = seed ^ ((round as u64) << 16) ^ c as u64;
                std::thread::spawn(move || client_loop(port, logs, c % 2 == 1, client_seed, stop))
            })
            .collect();
        let transaction_handle = {
            let (log, stop, port) = (transactions.clone(), stop.clone(), server.port);
            std::thread::spawn(move || transaction_loop(port, log, stop))
        };
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..250)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for handle in handles {
            handle.join().expect("client thread");
        }
        transaction_handle.join().expect("transaction thread");
        // Occasionally compact the log so recovery also runs snapshot + WAL.
        if round % 5 == 4 {
            let server = Server::start_in(&dir, shards, &args);
            let mut con = server.client();
            let _: () = redis::cmd("BGREWRITEAOF").query(&mut con).map(|_: Value| ()).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
                if info.contains("rdb_bgsave_in_progress:0") {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "BGREWRITEAOF did not finish");
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(server);
        }
    }
    // Final check after the last crash.
    let server = Server::start_in(&dir, shards, &args);
    let mut con = server.client();
    check_transactions(&mut con, &transactions.lock().unwrap())
        .unwrap_or_else(|e| panic!("seed {seed}, shards {shards}, final: {e}"));
    let mut total_acked = 0;
    for logs in &all_logs {
        for log in logs.lock().unwrap().iter() {
            let n = log
                .observed(&mut con)
                .unwrap_or_else(|e| panic!("seed {seed}, shards {shards}, final: {e}"));
            assert!(
                n >= log.acked,
                "seed {seed}, shards {shards}, final: {} lost acknowledged writes",
                log.key
            );
            total_acked += log.acked;
        }
    }
    assert!(total_acked > 0, "seed {seed}: no write was acknowledged at all");
    assert!(
        transactions.lock().unwrap().acked > 0,
        "seed {seed}: no transaction was acknowledged at all"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn seed() -> u64 {
    std::env::var("TESSERA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen())
}

fn rounds(default: usize) -> usize {
    std::env::var("TESSERA_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn acknowledged_writes_survive_kill_9_two_shards() {
    let seed = seed();
    eprintln!("crash test seed {seed} (TESSERA_SEED={seed} replays it)");
    run_rounds(2, rounds(20), seed);
}

#[test]
fn acknowledged_writes_survive_kill_9_one_and_four_shards() {
    let seed = seed();
    eprintln!("crash test seed {seed} (TESSERA_SEED={seed} replays it)");
    run_rounds(1, rounds(4), seed);
    run_rounds(4, rounds(4), seed);
}
