//! Snapshots, DUMP/RESTORE and the write-ahead log through the real binary:
//! a dataset of every type and encoding survives SAVE + restart, DEBUG
//! RELOAD, a WAL replay (also on another shard count), and moves between
//! Tessera and Redis 7.0.15 in both directions; torn and damaged logs are
//! handled as documented.

mod common;

use common::dataset::{call_ok, digest, fill, have, start_redis};
use common::{Raw, Server, SHARD_COUNTS};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];
/// The WAL on, every reply waiting for its sync.
const WAL: [&str; 6] = [
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--enable-debug-command",
    "yes",
];

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-persist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn save_restart_and_debug_reload_keep_every_type() {
    for shards in SHARD_COUNTS {
        let dir = scratch_dir(&format!("save-{shards}"));
        let mut server = Server::start_in(&dir, shards, &DEBUG);
        let mut raw = server.raw();
        fill(&mut raw);
        let before = digest(&mut raw);
        call_ok(&mut raw, &[b"DEBUG", b"RELOAD"]);
        assert_eq!(digest(&mut raw), before, "shards {shards}: DEBUG RELOAD");
        assert_eq!(
            raw.call(&[b"OBJECT", b"ENCODING", b"st:bigint"]),
            b"$9\r\nhashtable\r\n"
        );
        assert_eq!(raw.call(&[b"OBJECT", b"ENCODING", b"z:small"]), b"$8\r\nlistpack\r\n");
        call_ok(&mut raw, &[b"SAVE"]);
        assert!(raw
            .call(&[b"INFO", b"persistence"])
            .windows(29)
            .any(|w| w == b"rdb_changes_since_last_save:0"));
        server.kill();
        let server = Server::start_in(&dir, shards, &DEBUG);
        let mut raw = server.raw();
        assert_eq!(digest(&mut raw), before, "shards {shards}: restart");
        let ttl = String::from_utf8(raw.call(&[b"TTL", b"s:ttl"])).unwrap();
        let ttl: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
        assert!((990..=1000).contains(&ttl), "ttl {ttl}");
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn dump_and_restore_follow_redis() {
    common::for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        raw.call(&[b"RPUSH", b"src", b"a", b"b"]);
        // Redis 7.0.15's DUMP of this list, byte for byte.
        let payload = raw.call(&[b"DUMP", b"src"]);
        let expected: &[u8] =
            b"$27\r\n\x12\x01\x02\x0d\x0d\x00\x00\x00\x02\x00\x81a\x02\x81b\x02\xff\n\x00h\xeb\n\x89\x13A\xbb\xb1\r\n";
        assert_eq!(payload, expected);
        let body_start = payload.iter().position(|&b| b == b'\n').unwrap() + 1;
        let body = payload[body_start..payload.len() - 2].to_vec();
        // Keys chosen on different shards when there are several.
        for target in ["dst", "other{x}", "third{y}"] {
            call_ok(&mut raw, &[b"RESTORE", target.as_bytes(), b"0", &body]);
            assert_eq!(
                raw.call(&[b"LRANGE", target.as_bytes(), b"0", b"-1"]),
                b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
            );
        }
        assert_eq!(
            raw.call(&[b"RESTORE", b"dst", b"0", &body]),
            b"-BUSYKEY Target key name already exists.\r\n"
        );
        call_ok(&mut raw, &[b"RESTORE", b"dst", b"5000", &body, b"REPLACE"]);
        let pttl = String::from_utf8(raw.call(&[b"PTTL", b"dst"])).unwrap();
        let pttl: i64 = pttl.trim_start_matches(':').trim().parse().unwrap();
        assert!((4000..=5000).contains(&pttl), "pttl {pttl}");
        assert_eq!(
            raw.call(&[b"RESTORE", b"n", b"-1", &body]),
            b"-ERR Invalid TTL value, must be >= 0\r\n"
        );
        assert_eq!(
            raw.call(&[b"RESTORE", b"n", b"0", &body, b"FOO"]),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(
            raw.call(&[b"RESTORE", b"n", b"0", &body, b"IDLETIME", b"-1"]),
            b"-ERR Invalid IDLETIME value, must be >= 0\r\n"
        );
        let mut bad = body.clone();
        bad[4] ^= 1;
        assert_eq!(
            raw.call(&[b"RESTORE", b"n", b"0", &bad]),
            b"-ERR DUMP payload version or checksum are wrong\r\n"
        );
        // A valid checksum over a bad body: "Bad data format". The body is a
        // list claiming 3 nodes with 1 present.
        let mut forged = vec![0x12u8, 0x03, 0x02, 0x01, b'a'];
        forged.extend_from_slice(&[10, 0]);
        let crc = crc64(&forged);
        forged.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            raw.call(&[b"RESTORE", b"n", b"0", &forged]),
            b"-ERR Bad data format\r\n"
        );
        // An absolute TTL in the past: OK, and no key.
        call_ok(&mut raw, &[b"RESTORE", b"gone", b"1", &body, b"ABSTTL"]);
        assert_eq!(raw.call(&[b"EXISTS", b"gone"]), b":0\r\n");
        assert_eq!(raw.call(&[b"DUMP", b"nokey"]), b"$-1\r\n");
        call_ok(&mut raw, &[b"RESTORE", b"idle", b"0", &body, b"IDLETIME", b"1000"]);
        let idle = String::from_utf8(raw.call(&[b"OBJECT", b"IDLETIME", b"idle"])).unwrap();
        let idle: i64 = idle.trim_start_matches(':').trim().parse().unwrap();
        assert!((1000..=1002).contains(&idle), "idle {idle}");
    });
}

/// Redis's CRC64 (Jones polynomial, reflected), bit by bit: the test's own
/// copy, to forge payloads.
fn crc64(data: &[u8]) -> u64 {
    let mut crc: u64 = 0;
    for &byte in data {
        crc ^= byte as u64;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[test]
fn snapshots_move_between_redis_and_tessera() {
    if !have("redis-server") || !have("redis-check-rdb") {
        eprintln!("redis-server or redis-check-rdb is not installed: skipping the Redis round trip");
        return;
    }
    for shards in [1, 2, 4] {
        // Tessera -> Redis.
        let dir = scratch_dir(&format!("interop-{shards}"));
        let server = Server::start_in(&dir, shards, &DEBUG);
        let mut raw = server.raw();
        fill(&mut raw);
        let ours = digest(&mut raw);
        call_ok(&mut raw, &[b"SAVE"]);
        drop(server);
        let check = Command::new("redis-check-rdb")
            .arg(dir.join("dump.rdb"))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "redis-check-rdb: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let (mut redis, port) = start_redis(&dir);
        let mut r = Raw::from_stream(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        assert_eq!(
            digest(&mut r),
            ours,
            "shards {shards}: Redis loaded a different dataset"
        );
        // Redis -> Tessera: Redis rewrites the file with its own encodings.
        r.call(&[b"RPUSH", b"from-redis", b"x"]);
        let theirs = digest(&mut r);
        call_ok(&mut r, &[b"SAVE"]);
        let _ = redis.kill();
        let _ = redis.wait();
        let server = Server::start_in(&dir, shards, &DEBUG);
        let mut raw = server.raw();
        assert_eq!(
            digest(&mut raw),
            theirs,
            "shards {shards}: Tessera loaded a different dataset"
        );
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn wal_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("appendonlydir"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn wal_replays_on_any_shard_count_with_whole_database_operations() {
    let dir = scratch_dir("wal-layout");
    let mut server = Server::start_in(&dir, 2, &WAL);
    let mut raw = server.raw();
    fill(&mut raw);
    raw.call(&[b"SELECT", b"5"]);
    raw.call(&[b"SET", b"gone", b"1"]);
    call_ok(&mut raw, &[b"FLUSHDB"]);
    raw.call(&[b"SET", b"stays", b"1"]);
    call_ok(&mut raw, &[b"SWAPDB", b"5", b"6"]);
    raw.call(&[b"SELECT", b"0"]);
    // Logged as commands (replayed at their original time): pushes and
    // pops on large values, a push onto a key whose TTL has passed, and a
    // key first changed by a command logged as a state, then by a command.
    raw.call(&[b"LPUSH", b"l:big", b"head"]);
    raw.call(&[b"RPOP", b"l:big"]);
    raw.call(&[b"HINCRBYFLOAT", b"h:big", b"f1", b"1.5"]);
    raw.call(&[b"ZINCRBY", b"z:big", b"3", b"m7"]);
    raw.call(&[b"SREM", b"st:bigint", b"5"]);
    raw.call(&[b"SETRANGE", b"s:big", b"10", b"yyy"]);
    raw.call(&[b"RPUSH", b"short", b"a"]);
    raw.call(&[b"PEXPIRE", b"short", b"1"]);
    std::thread::sleep(Duration::from_millis(5));
    raw.call(&[b"RPUSH", b"short", b"b"]);
    raw.call(&[b"MULTI"]);
    raw.call(&[b"SET", b"mixed", b"1"]);
    raw.call(&[b"APPEND", b"mixed", b"2"]);
    raw.call(&[b"EXEC"]);
    raw.call(&[b"DEL", b"l:small"]);
    raw.call(&[b"INCR", b"s:int"]);
    raw.call(&[b"SPOP", b"st:big"]);
    let before = digest(&mut raw);
    server.kill();
    for shards in [2, 4, 1] {
        let mut server = Server::start_in(&dir, shards, &WAL);
        let mut raw = server.raw();
        assert_eq!(digest(&mut raw), before, "replayed on {shards} shards");
        raw.call(&[b"SELECT", b"6"]);
        assert_eq!(raw.call(&[b"GET", b"stays"]), b"$1\r\n1\r\n");
        server.kill();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts tessera (WAL on, one shard) in `dir`, expects the start to fail
/// and returns what it printed.
fn failed_start(dir: &Path, extra: &[&str]) -> String {
    let port = common::free_port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["--port", &port, "--appendonly", "yes", "--shards", "1"])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(!output.status.success(), "tessera started");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn wal_torn_tail_is_cut_and_damage_stops_the_start() {
    let dir = scratch_dir("wal-torn");
    let mut server = Server::start_in(&dir, 1, &WAL);
    let mut raw = server.raw();
    for i in 0..50 {
        raw.call(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    let before = digest(&mut raw);
    server.kill();
    let file = wal_files(&dir).pop().expect("a WAL file");
    let whole = std::fs::read(&file).unwrap();
    // A torn last record: a header promising more than follows.
    let mut torn = whole.clone();
    torn.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&file, &torn).unwrap();
    // aof-load-truncated no: a torn tail stops the start instead.
    let refused = failed_start(&dir, &["--aof-load-truncated", "no"]);
    assert!(refused.contains("incomplete record at offset"), "{refused}");
    let mut server = Server::start_in(&dir, 1, &WAL);
    let mut raw = server.raw();
    assert_eq!(digest(&mut raw), before);
    server.kill();
    let log = std::fs::read_to_string(dir.join("stdout.log")).unwrap();
    assert!(log.contains("incomplete record"), "{log}");
    // The torn tail is cut off: what stays is the records, without the
    // zeros of the space the WAL had allocated ahead.
    let cut = std::fs::read(&file).unwrap();
    assert!(!cut.is_empty() && cut.len() < torn.len(), "{} bytes left", cut.len());
    assert_eq!(cut[..], whole[..cut.len()], "the records are kept");
    assert!(whole[cut.len()..].iter().all(|&b| b == 0), "only the torn tail was cut");
    // Damage in the middle: the start stops with file and offset.
    let mut damaged = whole.clone();
    damaged[30] ^= 0xFF;
    std::fs::write(&file, &damaged).unwrap();
    let out = failed_start(&dir, &[]);
    assert!(out.contains("is damaged at offset") && out.contains(".wal"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wal_write_failure_refuses_writes_until_the_disk_recovers() {
    let dir = scratch_dir("wal-fail");
    // The log directory's path is taken by a file: every segment open fails.
    std::fs::write(dir.join("blocked"), b"not a directory").unwrap();
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--appenddirname",
        "blocked",
    ];
    let server = Server::start_in(&dir, 2, &args);
    let mut raw = server.raw();
    // The first write cannot be made durable: its reply never comes and the
    // connection closes.
    raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert!(raw.is_closed(), "an unstored write was acknowledged");
    let mut raw = server.raw();
    let refused = raw.call(&[b"SET", b"b", b"1"]);
    assert!(
        refused.starts_with(b"-MISCONF Errors writing to the AOF file"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    assert!(raw.call(&[b"GET", b"b"]).starts_with(b"$-1"), "reads still work");
    // The disk "recovers": writes are accepted again after a retry.
    std::fs::remove_file(dir.join("blocked")).unwrap();
    let mut accepted = false;
    for _ in 0..100 {
        if raw.call(&[b"SET", b"b", b"1"]) == b"+OK\r\n" {
            accepted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(accepted, "writes never resumed");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A transaction that changed two shards is logged as one part per shard,
/// each naming the other: if one part is missing after a crash, recovery
/// applies neither (the client was never told it committed), and the
/// groups around it stay.
#[test]
fn a_transaction_missing_on_one_shard_is_not_replayed_in_part() {
    let dir = scratch_dir("wal-transaction");
    // Two keys on different shards of two.
    let names: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    let first = names[0].clone();
    let second = names
        .iter()
        .find(|n| common::shard_of(n.as_bytes(), 2) != common::shard_of(first.as_bytes(), 2))
        .unwrap()
        .clone();
    let mut server = Server::start_in(&dir, 2, &WAL);
    let mut raw = server.raw();
    raw.call(&[b"SET", first.as_bytes(), b"before"]);
    raw.call(&[b"SET", second.as_bytes(), b"before"]);
    raw.call(&[b"MULTI"]);
    raw.call(&[b"SET", first.as_bytes(), b"in-transaction"]);
    raw.call(&[b"SET", second.as_bytes(), b"in-transaction"]);
    assert_eq!(raw.call(&[b"EXEC"]), b"*2\r\n+OK\r\n+OK\r\n");
    // Whole: both parts replay.
    server.kill();
    let mut server = Server::start_in(&dir, 2, &WAL);
    let mut raw = server.raw();
    for key in [&first, &second] {
        assert_eq!(raw.call(&[b"GET", key.as_bytes()]), b"$14\r\nin-transaction\r\n");
    }
    server.kill();
    // Blank the last record of the second key's shard: its part of the
    // transaction (zeros read as the log's clean end).
    let shard = common::shard_of(second.as_bytes(), 2);
    let file = wal_files(&dir)
        .into_iter()
        .rfind(|f| f.to_string_lossy().ends_with(&format!(".{shard}-of-2.wal")))
        .expect("the shard's WAL file");
    let mut data = std::fs::read(&file).unwrap();
    let (start, end) = {
        let (records, _) = wal::log::scan(&data, None);
        let last = records.last().expect("records");
        let start = last.payload.as_ptr() as usize - data.as_ptr() as usize - wal::log::HEADER_BYTES;
        (start, start + wal::log::HEADER_BYTES + last.payload.len())
    };
    data[start..end].fill(0);
    std::fs::write(&file, &data).unwrap();
    for shards in [2, 1] {
        let mut server = Server::start_in(&dir, shards, &WAL);
        let mut raw = server.raw();
        for key in [&first, &second] {
            assert_eq!(
                raw.call(&[b"GET", key.as_bytes()]),
                b"$6\r\nbefore\r\n",
                "{key} on {shards} shard(s): the transaction is left out whole"
            );
        }
        server.kill();
    }
    let log = std::fs::read_to_string(dir.join("stdout.log")).unwrap();
    assert!(
        log.contains(&format!("is missing on shard(s) [{shard}] of 2: not applied")),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
