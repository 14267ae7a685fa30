//! Keyspace commands through the real binary with 1, 2 and 4 shards: RENAME,
//! COPY, MOVE and SWAPDB across shards and databases, SCAN's guarantee while
//! keys are added, KEYS, DBSIZE, RANDOMKEY, FLUSHDB/FLUSHALL, TYPE, OBJECT,
//! and exact error replies.

mod common;
mod keys_support;

use common::{for_each_shard_count, Server};
use keys_support::keys_on_alternating_shards;
use redis::Connection;
use std::collections::HashSet;

fn q<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn rename_across_shards_keeps_value_and_ttl() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        let keys = keys_on_alternating_shards("rn:", 6, server.shards);
        let shards = server.shards;
        for pair in keys.chunks(2) {
            let (src, dst) = (pair[0].as_str(), pair[1].as_str());
            let _: () = q(&mut con, &["SET", src, "hello"]);
            let _: i64 = q(&mut con, &["EXPIRE", src, "100"]);
            let _: () = q(&mut con, &["RENAME", src, dst]);
            let value: Option<String> = q(&mut con, &["GET", dst]);
            assert_eq!(value.as_deref(), Some("hello"), "shards {shards}");
            let ttl: i64 = q(&mut con, &["TTL", dst]);
            assert!((95..=100).contains(&ttl), "TTL moves with RENAME, got {ttl}");
            let exists: i64 = q(&mut con, &["EXISTS", src]);
            assert_eq!(exists, 0);
            // Renaming onto a volatile key drops the target's TTL.
            let _: () = q(&mut con, &["SET", src, "plain"]);
            let _: () = q(&mut con, &["RENAME", src, dst]);
            let ttl: i64 = q(&mut con, &["TTL", dst]);
            assert_eq!(ttl, -1);
            // RENAMENX refuses an existing target and leaves both keys.
            let _: () = q(&mut con, &["SET", src, "other"]);
            let renamed: i64 = q(&mut con, &["RENAMENX", src, dst]);
            assert_eq!(renamed, 0);
            let both: i64 = q(&mut con, &["EXISTS", src, dst]);
            assert_eq!(both, 2);
            let _: i64 = q(&mut con, &["DEL", dst]);
            let renamed: i64 = q(&mut con, &["RENAMENX", src, dst]);
            assert_eq!(renamed, 1);
            let value: Option<String> = q(&mut con, &["GET", dst]);
            assert_eq!(value.as_deref(), Some("other"));
        }
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"RENAME", b"nokey", b"nokey"]), b"-ERR no such key\r\n");
        assert_eq!(raw.call(&[b"SET", b"same", b"1"]), b"+OK\r\n");
        assert_eq!(raw.call(&[b"RENAME", b"same", b"same"]), b"+OK\r\n");
        assert_eq!(raw.call(&[b"RENAMENX", b"same", b"same"]), b":0\r\n");
    });
}

#[test]
fn copy_across_shards_and_databases() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        let mut db1 = server.client();
        let _: () = q(&mut db1, &["SELECT", "1"]);
        let keys = keys_on_alternating_shards("cp:", 4, server.shards);
        let (src, dst) = (keys[0].as_str(), keys[1].as_str());
        let _: () = q(&mut con, &["SET", src, "foobar", "EX", "100"]);
        let copied: i64 = q(&mut con, &["COPY", src, dst]);
        assert_eq!(copied, 1);
        let value: Option<String> = q(&mut con, &["GET", dst]);
        assert_eq!(value.as_deref(), Some("foobar"));
        let ttl: i64 = q(&mut con, &["TTL", dst]);
        assert!((95..=100).contains(&ttl), "COPY copies the TTL, got {ttl}");
        // Without REPLACE an existing destination stays.
        let _: () = q(&mut con, &["SET", src, "new"]);
        let copied: i64 = q(&mut con, &["COPY", src, dst]);
        assert_eq!(copied, 0);
        let value: Option<String> = q(&mut con, &["GET", dst]);
        assert_eq!(value.as_deref(), Some("foobar"));
        let copied: i64 = q(&mut con, &["COPY", src, dst, "REPLACE"]);
        assert_eq!(copied, 1);
        let value: Option<String> = q(&mut con, &["GET", dst]);
        assert_eq!(value.as_deref(), Some("new"));
        assert_eq!(
            q::<i64>(&mut con, &["TTL", dst]),
            -1,
            "no TTL copied when the source has none"
        );
        // Into another database, same or other shard.
        for target in [src, dst, keys[2].as_str()] {
            let copied: i64 = q(&mut con, &["COPY", src, target, "DB", "1"]);
            assert_eq!(copied, 1, "copy {src} to db 1 {target}");
            let value: Option<String> = q(&mut db1, &["GET", target]);
            assert_eq!(value.as_deref(), Some("new"));
        }
        let copied: i64 = q(&mut con, &["COPY", src, dst, "DB", "1"]);
        assert_eq!(copied, 0);
        // The copy is independent of the original.
        let _: () = q(&mut db1, &["SET", dst, "changed"]);
        let value: Option<String> = q(&mut con, &["GET", src]);
        assert_eq!(value.as_deref(), Some("new"));
        let dbsize: i64 = q(&mut db1, &["DBSIZE"]);
        assert_eq!(dbsize, 3);
        let missing: i64 = q(&mut con, &["COPY", "nokey", dst]);
        assert_eq!(missing, 0);
        let mut raw = server.raw();
        assert_eq!(
            raw.call(&[b"COPY", src.as_bytes(), src.as_bytes()]),
            b"-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(
            raw.call(&[b"COPY", src.as_bytes(), dst.as_bytes(), b"DB", b"notanumber"]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            raw.call(&[b"COPY", src.as_bytes(), dst.as_bytes(), b"DB", b"16"]),
            b"-ERR DB index is out of range\r\n"
        );
        assert_eq!(
            raw.call(&[b"COPY", src.as_bytes(), dst.as_bytes(), b"FOO"]),
            b"-ERR syntax error\r\n"
        );
    });
}

#[test]
fn move_between_databases() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        let mut db1 = server.client();
        let _: () = q(&mut db1, &["SELECT", "1"]);
        for key in keys_on_alternating_shards("mv:", 4, server.shards) {
            let _: () = q(&mut con, &["SET", &key, "foo", "EX", "100"]);
            let moved: i64 = q(&mut con, &["MOVE", &key, "1"]);
            assert_eq!(moved, 1);
            assert_eq!(q::<i64>(&mut con, &["TTL", &key]), -2);
            let ttl: i64 = q(&mut db1, &["TTL", &key]);
            assert!((95..=100).contains(&ttl), "MOVE keeps the TTL, got {ttl}");
            let _: () = q(&mut con, &["SET", &key, "again"]);
            let moved: i64 = q(&mut con, &["MOVE", &key, "1"]);
            assert_eq!(moved, 0, "target exists");
            let value: Option<String> = q(&mut db1, &["GET", &key]);
            assert_eq!(value.as_deref(), Some("foo"));
        }
        let mut raw = server.raw();
        assert_eq!(
            raw.call(&[b"MOVE", b"k", b"0"]),
            b"-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(
            raw.call(&[b"MOVE", b"k", b"x"]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(raw.call(&[b"MOVE", b"k", b"99"]), b"-ERR DB index is out of range\r\n");
        assert_eq!(raw.call(&[b"MOVE", b"nokey", b"1"]), b":0\r\n");
    });
}

#[test]
fn swapdb_swaps_every_shard_and_touches_watchers() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        let mut db1 = server.client();
        let _: () = q(&mut db1, &["SELECT", "1"]);
        let keys = keys_on_alternating_shards("sw:", 8, server.shards);
        for key in &keys[..5] {
            let _: () = q(&mut con, &["SET", key, "zero"]);
        }
        for key in &keys[5..] {
            let _: () = q(&mut db1, &["SET", key, "one"]);
        }
        // A watcher of a key that exists only in db 1 sees SWAPDB as a change.
        let mut watcher = server.client();
        let _: () = q(&mut watcher, &["WATCH", &keys[6]]);
        let _: () = q(&mut con, &["SWAPDB", "0", "1"]);
        let _: () = q(&mut watcher, &["MULTI"]);
        let _: String = q(&mut watcher, &["PING"]);
        let exec: redis::Value = q(&mut watcher, &["EXEC"]);
        assert_eq!(exec, redis::Value::Nil, "SWAPDB must fail the watcher's EXEC");
        assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 3);
        assert_eq!(q::<i64>(&mut db1, &["DBSIZE"]), 5);
        let value: Option<String> = q(&mut con, &["GET", &keys[6]]);
        assert_eq!(value.as_deref(), Some("one"), "sessions keep their db index");
        let value: Option<String> = q(&mut db1, &["GET", &keys[0]]);
        assert_eq!(value.as_deref(), Some("zero"));
        // A watcher of a key absent from both is not touched.
        let _: () = q(&mut watcher, &["WATCH", "absent-everywhere"]);
        let _: () = q(&mut con, &["SWAPDB", "1", "0"]);
        let _: () = q(&mut watcher, &["MULTI"]);
        let _: String = q(&mut watcher, &["PING"]);
        let exec: Vec<String> = q(&mut watcher, &["EXEC"]);
        assert_eq!(exec, vec!["PONG".to_string()]);
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"SWAPDB", b"x", b"1"]), b"-ERR invalid first DB index\r\n");
        assert_eq!(raw.call(&[b"SWAPDB", b"1", b"x"]), b"-ERR invalid second DB index\r\n");
        assert_eq!(
            raw.call(&[b"SWAPDB", b"1", b"16"]),
            b"-ERR DB index is out of range\r\n"
        );
        assert_eq!(raw.call(&[b"SWAPDB", b"3", b"3"]), b"+OK\r\n");
    });
}

fn scan_all(con: &mut Connection, extra: &[&str], mut between: impl FnMut(&mut Connection, usize)) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let (next, keys): (String, Vec<String>) = q(con, &args);
        assert!(next.parse::<u64>().is_ok(), "cursor {next} is a decimal u64");
        seen.extend(keys);
        calls += 1;
        between(con, calls);
        if next == "0" {
            return seen;
        }
        cursor = next;
    }
}

#[test]
fn scan_returns_every_key_while_keys_are_added() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        for i in 0..1000 {
            let _: () = q(&mut con, &["SET", &format!("scan:{i}"), "v"]);
        }
        let mut added = 0;
        let seen = scan_all(&mut con, &["COUNT", "20"], |con, _| {
            // Growing the tables mid-scan must not hide an original key.
            for _ in 0..25 {
                let _: () = q(con, &["SET", &format!("added:{added}"), "v"]);
                added += 1;
            }
        });
        let seen: HashSet<String> = seen.into_iter().collect();
        for i in 0..1000 {
            assert!(
                seen.contains(&format!("scan:{i}")),
                "shards {}: scan:{i} missing",
                server.shards
            );
        }
        // MATCH and TYPE filter; COUNT bounds one call's work.
        let matched = scan_all(&mut con, &["MATCH", "scan:1??", "COUNT", "100"], |_, _| {});
        let matched: HashSet<String> = matched.into_iter().collect();
        assert_eq!(matched.len(), 100);
        let strings = scan_all(&mut con, &["TYPE", "string", "COUNT", "1000"], |_, _| {});
        assert!(strings.len() >= 1000 + added);
        let none = scan_all(&mut con, &["TYPE", "list"], |_, _| {});
        assert!(none.is_empty());
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"SCAN", b"x"]), b"-ERR invalid cursor\r\n");
        assert_eq!(raw.call(&[b"SCAN", b" 1"]), b"-ERR invalid cursor\r\n");
        assert_eq!(
            raw.call(&[b"SCAN", b"18446744073709551616"]),
            b"-ERR invalid cursor\r\n"
        );
        assert_eq!(raw.call(&[b"SCAN", b"0", b"COUNT", b"0"]), b"-ERR syntax error\r\n");
        assert_eq!(
            raw.call(&[b"SCAN", b"0", b"COUNT", b"x"]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(raw.call(&[b"SCAN", b"0", b"MATCH"]), b"-ERR syntax error\r\n");
    });
}

#[test]
fn scan_of_a_small_keyspace_finishes_in_one_call() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        for key in ["a", "b", "c", "d", "e"] {
            let _: () = q(&mut con, &["SET", key, "v"]);
        }
        let (next, mut keys): (String, Vec<String>) = q(&mut con, &["SCAN", "0", "COUNT", "100"]);
        keys.sort();
        assert_eq!(next, "0", "shards {}", server.shards);
        assert_eq!(keys, vec!["a", "b", "c", "d", "e"]);
    });
}

#[test]
fn keys_dbsize_randomkey_flush() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        for key in ["key_x", "key_y", "key_z", "foo_a", "foo_b", "foo_c"] {
            let _: () = q(&mut con, &["SET", key, "hello"]);
        }
        let mut foo: Vec<String> = q(&mut con, &["KEYS", "foo*"]);
        foo.sort();
        assert_eq!(foo, vec!["foo_a", "foo_b", "foo_c"]);
        let all: Vec<String> = q(&mut con, &["KEYS", "*"]);
        assert_eq!(all.len(), 6);
        assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 6);
        let mut seen = HashSet::new();
        for _ in 0..300 {
            let key: String = q(&mut con, &["RANDOMKEY"]);
            seen.insert(key);
        }
        assert_eq!(seen.len(), 6, "RANDOMKEY reaches every key on every shard: {seen:?}");
        let long = "a".repeat(50000);
        let _: () = q(&mut con, &["SET", &long, "1"]);
        let none: Vec<String> = q(&mut con, &["KEYS", &"*?".repeat(50000)]);
        assert!(none.is_empty());
        let none: Vec<String> = q(&mut con, &["KEYS", &format!("{}b", "a*".repeat(20))]);
        assert!(none.is_empty());
        let _: () = q(&mut con, &["FLUSHDB"]);
        assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 0);
        let key: Option<String> = q(&mut con, &["RANDOMKEY"]);
        assert_eq!(key, None);
        // FLUSHALL empties every database and fails watchers of existing keys.
        let mut db2 = server.client();
        let _: () = q(&mut db2, &["SELECT", "2"]);
        for key in keys_on_alternating_shards("fl:", 4, server.shards) {
            let _: () = q(&mut db2, &["SET", &key, "v"]);
        }
        let mut watcher = server.client();
        let _: () = q(&mut watcher, &["SELECT", "2"]);
        let _: () = q(&mut watcher, &["WATCH", "fl:0"]);
        let _: () = q(&mut con, &["FLUSHALL", "ASYNC"]);
        assert_eq!(q::<i64>(&mut db2, &["DBSIZE"]), 0);
        let _: () = q(&mut watcher, &["MULTI"]);
        let _: String = q(&mut watcher, &["PING"]);
        let exec: redis::Value = q(&mut watcher, &["EXEC"]);
        assert_eq!(exec, redis::Value::Nil);
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"FLUSHALL", b"SYNC"]), b"+OK\r\n");
        assert_eq!(raw.call(&[b"FLUSHALL", b"FOO"]), b"-ERR syntax error\r\n");
        assert_eq!(raw.call(&[b"FLUSHDB", b"ASYNC", b"SYNC"]), b"-ERR syntax error\r\n");
    });
}

#[test]
fn del_unlink_exists_touch_type_across_shards() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        let keys = keys_on_alternating_shards("d:", 6, server.shards);
        for key in &keys {
            let _: () = q(&mut con, &["SET", key, "v"]);
        }
        let mut args = vec!["TOUCH"];
        args.extend(keys.iter().map(String::as_str));
        args.push("missing");
        assert_eq!(q::<i64>(&mut con, &args), 6);
        args[0] = "EXISTS";
        assert_eq!(q::<i64>(&mut con, &args), 6);
        args[0] = "UNLINK";
        assert_eq!(q::<i64>(&mut con, &args[..4]), 3);
        args[0] = "DEL";
        assert_eq!(q::<i64>(&mut con, &args), 3);
        let _: () = q(&mut con, &["SET", "t", "12"]);
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"TYPE", b"t"]), b"+string\r\n");
        assert_eq!(raw.call(&[b"TYPE", b"missing"]), b"+none\r\n");
    });
}

#[test]
fn object_subcommands_reply_as_redis() {
    let server = Server::start(2, &[]);
    let mut raw = server.raw();
    raw.call(&[b"SET", b"int", b"12345"]);
    raw.call(&[b"SET", b"small", b"5"]);
    raw.call(&[b"SET", b"emb", b"hello"]);
    raw.call(&[b"SET", b"raw", &[b'x'; 45]]);
    assert_eq!(raw.call(&[b"OBJECT", b"ENCODING", b"int"]), b"$3\r\nint\r\n");
    assert_eq!(raw.call(&[b"OBJECT", b"ENCODING", b"emb"]), b"$6\r\nembstr\r\n");
    assert_eq!(raw.call(&[b"OBJECT", b"ENCODING", b"raw"]), b"$3\r\nraw\r\n");
    assert_eq!(raw.call(&[b"OBJECT", b"ENCODING", b"none"]), b"$-1\r\n");
    assert_eq!(raw.call(&[b"OBJECT", b"REFCOUNT", b"small"]), b":2147483647\r\n");
    assert_eq!(raw.call(&[b"OBJECT", b"REFCOUNT", b"int"]), b":1\r\n");
    assert_eq!(raw.call(&[b"OBJECT", b"IDLETIME", b"emb"]), b":0\r\n");
    assert_eq!(
        raw.call(&[b"OBJECT", b"FREQ", b"emb"]),
        b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
    );
    assert_eq!(
        raw.call(&[b"OBJECT", b"FOO", b"emb"]),
        b"-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n"
    );
    assert_eq!(
        raw.call(&[b"OBJECT", b"ENCODING"]),
        b"-ERR wrong number of arguments for 'object|encoding' command\r\n"
    );
    let help = raw.call(&[b"OBJECT", b"HELP"]);
    assert!(help.starts_with(b"*15\r\n+OBJECT <subcommand>"));
}
