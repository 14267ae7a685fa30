//! Server commands through the real binary: INFO sections and statistics
//! summed across shards, TIME, SHUTDOWN options, COMMAND DOCS.

mod common;

use common::{for_each_shard_count, Server};

/// INFO's text without the bulk header.
fn info(raw: &mut common::Raw, section: &[u8]) -> String {
    body(raw.call(&[b"INFO", section]))
}

fn body(reply: Vec<u8>) -> String {
    let text = String::from_utf8_lossy(&reply).into_owned();
    let start = text.find("\r\n").map_or(0, |i| i + 2);
    text[start..].to_string()
}

#[test]
fn info_commandstats_sum_across_shards() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        // Keys that land on every shard: keyed commands are counted where
        // they run.
        for i in 0..40 {
            raw.call(&[b"SET", format!("key{i}").as_bytes(), b"v"]);
            raw.call(&[b"GET", format!("key{i}").as_bytes()]);
        }
        raw.call(&[b"GET", b"a", b"b"]);
        raw.call(&[b"CONFIG", b"GET", b"hz"]);
        let text = info(&mut raw, b"commandstats");
        assert!(text.starts_with("# Commandstats\r\n"), "{text}");
        assert!(text.contains("cmdstat_set:calls=40,"), "{text}");
        assert!(text.contains("cmdstat_get:calls=40,"), "{text}");
        assert!(text.contains("rejected_calls=1,failed_calls=0"), "{text}");
        assert!(text.contains("cmdstat_config|get:calls=1,"), "{text}");
        let text = info(&mut raw, b"errorstats");
        assert!(text.contains("errorstat_ERR:count=1"), "{text}");
        let stats = info(&mut raw, b"stats");
        assert!(stats.contains("total_error_replies:1\r\n"), "{stats}");
        let keyspace = info(&mut raw, b"keyspace");
        assert!(keyspace.contains("db0:keys=40,expires=0,avg_ttl=0"), "{keyspace}");
        raw.call(&[b"SET", b"ttl", b"v", b"EX", b"100"]);
        let keyspace = info(&mut raw, b"keyspace");
        let avg: u64 = keyspace.split("avg_ttl=").nth(1).unwrap().trim_end().parse().unwrap();
        assert!((95_000..=100_000).contains(&avg), "{keyspace}");
        assert_eq!(raw.call(&[b"CONFIG", b"RESETSTAT"]), b"+OK\r\n");
        let text = info(&mut raw, b"commandstats");
        assert!(!text.contains("cmdstat_set"), "{text}");
    });
}

#[test]
fn info_sections_and_selectors() {
    let server = Server::start(2, &[]);
    let mut raw = server.raw();
    let default = info(&mut raw, b"default");
    for header in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ] {
        assert!(default.contains(header), "{header}");
    }
    assert!(!default.contains("# Commandstats"));
    assert!(default.contains("shards:2\r\n"));
    assert!(default.contains("redis_version:7.0.15\r\n"));
    let everything = info(&mut raw, b"everything");
    assert!(everything.contains("# Commandstats") && everything.contains("rejected_calls"));
    let text = body(raw.call(&[b"INFO", b"cpu", b"SERVER"]));
    assert!(
        text.starts_with("# Server\r\n") && text.contains("# CPU\r\nused_cpu_sys:"),
        "{text}"
    );
    assert!(!text.contains("# Memory"));
    let memory = info(&mut raw, b"memory");
    let used: u64 = memory
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .parse()
        .unwrap();
    // A big value shows up in used_memory.
    raw.call(&[b"SET", b"big", &vec![b'x'; 8 << 20]]);
    let memory = info(&mut raw, b"memory");
    let after: u64 = memory
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(after >= used + (7 << 20), "{used} -> {after}");
    assert!(memory.contains("used_memory_rss:") && memory.contains("maxmemory_policy:noeviction"));
    let clients = info(&mut raw, b"clients");
    let _others: Vec<_> = (0..5).map(|_| server.raw()).collect();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let clients_after = info(&mut raw, b"clients");
    let count = |t: &str| -> u64 {
        t.lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(count(&clients_after), count(&clients) + 5);
}

#[test]
fn time_and_shutdown_options() {
    let mut server = Server::start(2, &[]);
    let mut raw = server.raw();
    let reply = String::from_utf8_lossy(&raw.call(&[b"TIME"])).into_owned();
    let parts: Vec<&str> = reply.split("\r\n").collect();
    let secs: u64 = parts[2].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2);
    assert!(parts[4].parse::<u32>().unwrap() < 1_000_000);
    assert_eq!(raw.call(&[b"SHUTDOWN", b"ABORT"]), b"-ERR No shutdown in progress.\r\n");
    assert_eq!(raw.call(&[b"SHUTDOWN", b"SAVE", b"NOSAVE"]), b"-ERR syntax error\r\n");
    assert_eq!(raw.call(&[b"SHUTDOWN", b"BOGUS"]), b"-ERR syntax error\r\n");
    // SHUTDOWN SAVE writes the snapshot, then exits; the next start loads it.
    raw.call(&[b"SET", b"kept", b"1"]);
    raw.command(&[b"SHUTDOWN", b"SAVE"]);
    assert!(raw.is_closed());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!server.is_running());
    assert!(server.dir.join("dump.rdb").exists());
    let dir = server.dir.clone();
    let again = Server::start_in(&dir, 2, &[]);
    let mut raw = again.raw();
    assert_eq!(raw.call(&[b"GET", b"kept"]), b"$1\r\n1\r\n");
    drop(again);
    drop(server);
    // A save that fails (the working directory is gone) stops SHUTDOWN
    // unless NOSAVE or FORCE is given.
    let mut server = Server::start(2, &[]);
    let mut raw = server.raw();
    std::fs::remove_dir_all(&server.dir).unwrap();
    assert_eq!(
        raw.call(&[b"SHUTDOWN", b"SAVE"]),
        b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert!(server.is_running());
    raw.command(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(raw.is_closed());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!server.is_running());
}

#[test]
fn command_docs_match_redis() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let docs = String::from_utf8_lossy(&raw.call(&[b"COMMAND", b"DOCS", b"echo"])).into_owned();
        assert_eq!(
            docs,
            "*2\r\n$4\r\necho\r\n*10\r\n$7\r\nsummary\r\n$21\r\nEcho the given string\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$10\r\nconnection\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n*4\r\n$4\r\nname\r\n$7\r\nmessage\r\n$4\r\ntype\r\n$6\r\nstring\r\n"
        );
    });
}

#[test]
fn memory_usage_and_allocator() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let int = |reply: Vec<u8>| -> i64 {
            let text = String::from_utf8(reply).unwrap();
            assert!(text.starts_with(':'), "{text}");
            text[1..].trim_end().parse().unwrap()
        };
        raw.call(&[b"SET", b"small", b"v"]);
        let small = int(raw.call(&[b"MEMORY", b"USAGE", b"small"]));
        let big_value = vec![b'A'; 33000];
        raw.call(&[b"SET", b"big", &big_value]);
        let big = int(raw.call(&[b"MEMORY", b"USAGE", b"big", b"SAMPLES", b"0"]));
        // The value's 33000 bytes are counted, rounded to jemalloc's class.
        assert!(big >= small + 33000 && big < 42000, "{small} {big}");
        raw.call(&[b"EXPIRE", b"small", b"100"]);
        assert!(int(raw.call(&[b"MEMORY", b"USAGE", b"small"])) > small);
        assert_eq!(raw.call(&[b"MEMORY", b"USAGE", b"nokey"]), b"$-1\r\n");
        assert_eq!(
            raw.call(&[b"MEMORY", b"USAGE", b"small", b"SAMPLES", b"-1"]),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(
            raw.call(&[b"MEMORY", b"USAGE", b"small", b"SAMPLES"]),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(
            raw.call(&[b"MEMORY", b"USAGE", b"small", b"SAMPLES", b"x"]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(raw.call(&[b"MEMORY", b"PURGE"]), b"+OK\r\n");
        let stats = body(raw.call(&[b"MEMORY", b"MALLOC-STATS"]));
        assert!(stats.contains("Begin jemalloc statistics"), "{stats}");
        let info = info(&mut raw, b"memory");
        assert!(info.contains("mem_allocator:jemalloc-5."), "{info}");
    });
}

/// DEBUG DIGEST / DIGEST-VALUE give the digests Redis 7.0.15 computes for
/// the same data (values recorded from a live redis-server), whatever the
/// shard count.
#[test]
fn debug_digests_match_redis() {
    for_each_shard_count(&["--enable-debug-command", "yes"], |server| {
        let mut raw = server.raw();
        let cmds: &[&[&[u8]]] = &[
            &[b"SET", b"s", b"hello"],
            &[b"SET", b"n", b"12345"],
            &[b"RPUSH", b"l", b"a", b"b", b"c", b"1"],
            &[b"SADD", b"st", b"x", b"y", b"3"],
            &[b"ZADD", b"z", b"1", b"a", b"2.5", b"b", b"-3", b"c"],
            &[b"HSET", b"h", b"f1", b"v1", b"f2", b"v2"],
            &[b"SET", b"e", b"v", b"EX", b"1000"],
            &[b"SELECT", b"3"],
            &[b"SET", b"k3", b"v"],
            &[b"SELECT", b"0"],
        ];
        for cmd in cmds {
            raw.call(cmd);
        }
        assert_eq!(
            raw.call(&[b"DEBUG", b"DIGEST"]),
            b"+940f91aa76338b49f3b193d87b37e801098e6719\r\n"
        );
        assert_eq!(
            raw.call(&[b"DEBUG", b"DIGEST-VALUE", b"z", b"l", b"nokey"]),
            b"*3\r\n+2dd2ef669bd842b340aed0cb20be587954151e2b\r\n+e093abdde6c4844ba87b7ed2172d25e2334a432b\r\n+0000000000000000000000000000000000000000\r\n"
        );
        raw.call(&[b"FLUSHALL"]);
        assert_eq!(
            raw.call(&[b"DEBUG", b"DIGEST"]),
            b"+0000000000000000000000000000000000000000\r\n"
        );
    });
}
