//! Redis's replication protocol: the stream a SYNC client receives (each
//! change in its deterministic form, transactions wrapped, SELECT when the
//! database changes), a Tessera replica following a Tessera master across
//! shard counts, and both directions with a real redis-server.

mod common;

use common::dataset::{call_ok, digest, fill, have, start_redis};
use common::{Raw, Server, SHARD_COUNTS};
use std::time::{Duration, Instant};

const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];

/// Reads one command (an array of bulk strings) from a replication stream.
fn stream_command(raw: &mut Raw) -> Vec<String> {
    let header = raw.read_line_bytes();
    let header = String::from_utf8_lossy(&header).trim_end().to_string();
    let count: usize = header
        .strip_prefix('*')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected a command in the stream, got {header:?}"));
    (0..count)
        .map(|_| {
            let len_line = raw.read_line_bytes();
            let len: usize = String::from_utf8_lossy(&len_line[1..]).trim_end().parse().unwrap();
            let bytes = raw.read_exact(len + 2);
            String::from_utf8_lossy(&bytes[..len]).into_owned()
        })
        .collect()
}

/// Checks the next commands of the stream against patterns, where `#`
/// stands for a number.
fn expect_stream(raw: &mut Raw, expected: &[&[&str]]) {
    for want in expected {
        let got = stream_command(raw);
        let matches = got.len() == want.len()
            && got.iter().zip(want.iter()).all(|(g, w)| {
                if *w == "#" {
                    g.parse::<u64>().is_ok()
                } else {
                    g.eq_ignore_ascii_case(w)
                }
            });
        assert!(matches, "stream: expected {want:?}, got {got:?}");
    }
}

/// Attaches to the server's replication stream as Redis's test suite does:
/// SYNC, then the snapshot as `$len` and bytes.
fn attach(server: &Server) -> Raw {
    let mut raw = server.raw();
    raw.send(b"SYNC\r\n");
    let header = raw.read_line_bytes();
    let len: usize = String::from_utf8_lossy(&header[1..]).trim_end().parse().unwrap();
    let image = raw.read_exact(len);
    assert_eq!(&image[..9], b"REDIS0010", "the snapshot is an RDB file");
    raw
}

#[test]
fn sync_stream_carries_deterministic_effects_in_order() {
    for shards in SHARD_COUNTS {
        let server = Server::start(shards, &DEBUG);
        let mut c = server.raw();
        c.call(&[b"SADD", b"set", b"only"]);
        let mut stream = attach(&server);
        call_ok(&mut c, &[b"SET", b"foo", b"bar", b"EX", b"100"]);
        assert_eq!(c.call(&[b"EXPIRE", b"foo", b"50"]), b":1\r\n");
        assert_eq!(c.call(&[b"DEL", b"missing"]), b":0\r\n", "no change: nothing sent");
        call_ok(&mut c, &[b"MULTI"]);
        c.call(&[b"SET", b"a{t}", b"1"]);
        c.call(&[b"GET", b"a{t}"]);
        c.call(&[b"INCRBYFLOAT", b"f{t}", b"1.5"]);
        c.call(&[b"EXEC"]);
        // Keys on different shards: one command for the replicas.
        call_ok(&mut c, &[b"MSET", b"k1", b"v1", b"k2", b"v2", b"k3", b"v3"]);
        assert_eq!(c.call(&[b"COPY", b"a{t}", b"c{t}"]), b":1\r\n");
        assert_eq!(
            c.call(&[b"COPY", b"a{t}", b"c{t}"]),
            b":0\r\n",
            "not copied: nothing sent"
        );
        assert_eq!(c.call(&[b"SPOP", b"set"]), b"$4\r\nonly\r\n");
        c.call(&[b"RPUSH", b"list", b"x"]);
        assert_eq!(c.call(&[b"BLPOP", b"list", b"0"]), b"*2\r\n$4\r\nlist\r\n$1\r\nx\r\n");
        call_ok(&mut c, &[b"SELECT", b"2"]);
        call_ok(&mut c, &[b"SET", b"x", b"y"]);
        expect_stream(
            &mut stream,
            &[
                &["SELECT", "0"],
                &["SET", "foo", "bar", "PXAT", "#"],
                &["PEXPIREAT", "foo", "#"],
                &["MULTI"],
                &["SET", "a{t}", "1"],
                &["SET", "f{t}", "1.5", "KEEPTTL"],
                &["EXEC"],
                &["MSET", "k1", "v1", "k2", "v2", "k3", "v3"],
                &["COPY", "a{t}", "c{t}"],
                &["SREM", "set", "only"],
                &["RPUSH", "list", "x"],
                &["LPOP", "list"],
                &["SELECT", "2"],
                &["SET", "x", "y"],
            ],
        );
    }
}

/// Polls until `raw`'s INFO replication shows the link up.
fn wait_link_up(raw: &mut Raw) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = raw.call(&[b"INFO", b"replication"]);
        if String::from_utf8_lossy(&info).contains("master_link_status:up") {
            return;
        }
        assert!(Instant::now() < deadline, "replica never synchronized");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes after the synchronization, through the stream: the rewritten
/// commands, a transaction and whole-database operations.
fn stream_writes(raw: &mut Raw) {
    let commands: &[&[&[u8]]] = &[
        &[b"LPUSH", b"l:small", b"pushed"],
        &[b"INCRBYFLOAT", b"float", b"2.25"],
        &[b"EXPIRE", b"s:small", b"500"],
        &[b"SPOP", b"st:str"],
        &[b"SET", b"later", b"v", b"PX", b"900000"],
        &[b"MULTI"],
        &[b"HSET", b"h:small", b"tx", b"1"],
        &[b"ZADD", b"z:small", b"9", b"tx"],
        &[b"EXEC"],
        &[b"SELECT", b"3"],
        &[b"FLUSHDB"],
        &[b"SET", b"after-flush", b"1"],
        &[b"SELECT", b"0"],
    ];
    for command in commands {
        let reply = raw.call(command);
        assert_ne!(reply.first(), Some(&b'-'), "{}", String::from_utf8_lossy(&reply));
    }
}

#[test]
fn tessera_replica_follows_a_tessera_master_across_shard_counts() {
    for (master_shards, replica_shards) in [(1, 2), (2, 4), (4, 1)] {
        let master = Server::start(master_shards, &DEBUG);
        let replica = Server::start(replica_shards, &DEBUG);
        let mut m = master.raw();
        let mut r = replica.raw();
        fill(&mut m);
        call_ok(&mut r, &[b"SET", b"replaced", b"by the master's data"]);
        let port = master.port.to_string();
        call_ok(&mut r, &[b"REPLICAOF", b"127.0.0.1", port.as_bytes()]);
        wait_link_up(&mut r);
        stream_writes(&mut m);
        assert_eq!(m.call(&[b"WAIT", b"1", b"5000"]), b":1\r\n", "the replica acknowledged");
        assert_eq!(
            digest(&mut r),
            digest(&mut m),
            "{master_shards} -> {replica_shards} shards: the replica holds the master's data"
        );
        assert_eq!(
            r.call(&[b"SET", b"x", b"1"]),
            b"-READONLY You can't write against a read only replica.\r\n"
        );
        assert_eq!(r.call(&[b"PEXPIRETIME", b"later"]), m.call(&[b"PEXPIRETIME", b"later"]));
        call_ok(&mut r, &[b"REPLICAOF", b"NO", b"ONE"]);
        call_ok(&mut r, &[b"SET", b"x", b"1"]);
    }
}

#[test]
fn replication_both_ways_with_redis() {
    if !have("redis-server") {
        eprintln!("redis-server is not installed: skipping replication with Redis");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tessera-repl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Redis follows Tessera.
    let master = Server::start(2, &DEBUG);
    let mut m = master.raw();
    fill(&mut m);
    let (mut redis, redis_port) = start_redis(&dir);
    let mut r = Raw::from_stream(std::net::TcpStream::connect(("127.0.0.1", redis_port)).unwrap());
    let port = master.port.to_string();
    call_ok(&mut r, &[b"REPLICAOF", b"127.0.0.1", port.as_bytes()]);
    wait_link_up(&mut r);
    stream_writes(&mut m);
    assert_eq!(m.call(&[b"WAIT", b"1", b"5000"]), b":1\r\n", "Redis acknowledged");
    assert_eq!(digest(&mut r), digest(&mut m), "Redis replicated Tessera's data");
    // Tessera follows Redis.
    call_ok(&mut r, &[b"REPLICAOF", b"NO", b"ONE"]);
    assert_eq!(r.call(&[b"RPUSH", b"from-redis", b"x"]), b":1\r\n");
    let replica = Server::start(2, &DEBUG);
    let mut t = replica.raw();
    let redis_port = redis_port.to_string();
    call_ok(&mut t, &[b"REPLICAOF", b"127.0.0.1", redis_port.as_bytes()]);
    wait_link_up(&mut t);
    stream_writes(&mut r);
    assert_eq!(
        r.call(&[b"WAIT", b"1", b"5000"]),
        b":1\r\n",
        "Tessera acknowledged Redis"
    );
    assert_eq!(digest(&mut t), digest(&mut r), "Tessera replicated Redis's data");
    let _ = redis.kill();
    let _ = redis.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
