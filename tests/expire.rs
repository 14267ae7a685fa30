//! Expiry through the real binary with 1, 2 and 4 shards: EXPIRE and friends
//! with NX/XX/GT/LT and Redis's exact errors, TTL family, PERSIST, lazy and
//! active expiry on every shard, and DEBUG SET-ACTIVE-EXPIRE / SLEEP / OBJECT.

mod common;
mod keys_support;

use common::{for_each_shard_count, Server};
use keys_support::keys_on_alternating_shards;
use redis::Connection;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEBUG_ON: &[&str] = &["--enable-debug-command", "yes"];

fn q<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn expire_options_and_errors() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let call = |raw: &mut common::Raw, args: &[&str]| -> Vec<u8> {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            raw.call(&args)
        };
        call(&mut raw, &["SET", "foo", "bar", "EX", "100"]);
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "200", "NX"]), b":0\r\n");
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "200", "XX"]), b":1\r\n");
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "100", "GT"]), b":0\r\n");
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "300", "GT"]), b":1\r\n");
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "400", "LT"]), b":0\r\n");
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "50", "LT", "XX"]), b":1\r\n");
        call(&mut raw, &["SET", "foo", "bar"]);
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "200", "GT"]), b":0\r\n");
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "200", "XX"]), b":0\r\n");
        assert_eq!(call(&mut raw, &["TTL", "foo"]), b":-1\r\n");
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "200", "LT"]), b":1\r\n");
        assert_eq!(
            call(&mut raw, &["EXPIRE", "foo", "200", "LT", "GT"]),
            b"-ERR GT and LT options at the same time are not compatible\r\n"
        );
        for pair in [["NX", "GT"], ["NX", "LT"], ["NX", "XX"]] {
            assert_eq!(
                call(&mut raw, &["EXPIRE", "foo", "200", pair[0], pair[1]]),
                b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
            );
        }
        assert_eq!(
            call(&mut raw, &["EXPIRE", "foo", "200", "AB"]),
            b"-ERR Unsupported option AB\r\n"
        );
        assert_eq!(
            call(&mut raw, &["EXPIRE", "foo", "200", "XX", "AB"]),
            b"-ERR Unsupported option AB\r\n"
        );
        assert_eq!(
            call(&mut raw, &["EXPIRE", "foo", ""]),
            b"-ERR value is not an integer or out of range\r\n"
        );
        call(&mut raw, &["SET", "foo", "bar"]);
        for big in [
            "9223370399119966",
            "9223372036854776",
            "10000000000000000",
            "-9223372036854776",
        ] {
            assert_eq!(
                call(&mut raw, &["EXPIRE", "foo", big]),
                b"-ERR invalid expire time in 'expire' command\r\n"
            );
        }
        assert_eq!(
            call(&mut raw, &["PEXPIRE", "foo", "9223372036854770000"]),
            b"-ERR invalid expire time in 'pexpire' command\r\n"
        );
        assert_eq!(call(&mut raw, &["TTL", "foo"]), b":-1\r\n");
        assert_eq!(call(&mut raw, &["PEXPIREAT", "foo", "9223372036854770000"]), b":1\r\n");
        assert_eq!(call(&mut raw, &["PEXPIRETIME", "foo"]), b":9223372036854770000\r\n");
        assert_eq!(call(&mut raw, &["PEXPIREAT", "foo", "-9223372036854770000"]), b":1\r\n");
        assert_eq!(call(&mut raw, &["TTL", "foo"]), b":-2\r\n");
        for command in ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"] {
            for option in ["NX", "XX", "GT", "LT"] {
                assert_eq!(call(&mut raw, &[command, "none", "100", option]), b":0\r\n");
            }
        }
        call(&mut raw, &["SET", "foo", "bar", "EX", "100"]);
        assert_eq!(call(&mut raw, &["EXPIRE", "foo", "-10", "LT"]), b":1\r\n");
        assert_eq!(call(&mut raw, &["EXISTS", "foo"]), b":0\r\n");
    });
}

#[test]
fn ttl_family_and_persist_on_every_shard() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        for key in keys_on_alternating_shards("ttl:", 4, server.shards) {
            let key = key.as_str();
            let _: () = q(&mut con, &["SET", key, "v"]);
            let none: Vec<i64> = (0..4)
                .map(|i| q(&mut con, &[["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"][i], key]))
                .collect();
            assert_eq!(none, vec![-1, -1, -1, -1]);
            let at = unix_ms() / 1000 + 100;
            assert_eq!(q::<i64>(&mut con, &["EXPIREAT", key, &at.to_string()]), 1);
            assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", key]), at);
            assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", key]), at * 1000);
            let ttl: i64 = q(&mut con, &["TTL", key]);
            assert!((98..=100).contains(&ttl), "{ttl}");
            let before = unix_ms();
            assert_eq!(q::<i64>(&mut con, &["PEXPIRE", key, "5000"]), 1);
            let after = unix_ms();
            let pttl: i64 = q(&mut con, &["PTTL", key]);
            assert!(pttl <= 5000 && pttl > 4000, "{pttl}");
            let at: i64 = q(&mut con, &["PEXPIRETIME", key]);
            assert!(at >= before + 5000 && at <= after + 5000);
            assert_eq!(q::<i64>(&mut con, &["PERSIST", key]), 1);
            assert_eq!(q::<i64>(&mut con, &["PERSIST", key]), 0);
            assert_eq!(q::<i64>(&mut con, &["TTL", key]), -1);
            let _: i64 = q(&mut con, &["DEL", key]);
            let missing: Vec<i64> = (0..4)
                .map(|i| q(&mut con, &[["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"][i], key]))
                .collect();
            assert_eq!(missing, vec![-2, -2, -2, -2]);
            assert_eq!(q::<i64>(&mut con, &["PERSIST", key]), 0);
        }
    });
}

#[test]
fn short_expiry_lazy_and_active_on_every_shard() {
    for_each_shard_count(DEBUG_ON, |server| {
        let mut con = server.client();
        let keys = keys_on_alternating_shards("short:", 8, server.shards);
        // Active expiry: nobody touches the keys, yet they go.
        for key in &keys {
            let _: () = q(&mut con, &["SET", key, "v", "PX", "100"]);
        }
        let value: Option<String> = q(&mut con, &["GET", &keys[0]]);
        assert_eq!(value.as_deref(), Some("v"));
        let deadline = Instant::now() + Duration::from_secs(3);
        while q::<i64>(&mut con, &["DBSIZE"]) != 0 {
            assert!(Instant::now() < deadline, "keys did not actively expire");
            std::thread::sleep(Duration::from_millis(50));
        }
        // With active expiry off, expired keys stay counted until touched.
        let _: () = q(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        for key in &keys {
            let _: () = q(&mut con, &["SET", key, "v"]);
            assert_eq!(q::<i64>(&mut con, &["PEXPIRE", key, "100"]), 1);
        }
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), keys.len() as i64);
        let listed: Vec<String> = q(&mut con, &["KEYS", "*"]);
        assert!(listed.is_empty(), "KEYS hides expired keys");
        // EXPIRE does not resurrect an expired key.
        assert_eq!(q::<i64>(&mut con, &["EXPIRE", &keys[0], "10"]), 0);
        assert_eq!(q::<i64>(&mut con, &["DEL", &keys[1]]), 0);
        let mut args = vec!["EXISTS"];
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(q::<i64>(&mut con, &args), 0);
        assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 0);
        let _: () = q(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
        // SCAN deletes the expired keys it meets.
        let _: () = q(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        for key in &keys {
            let _: () = q(&mut con, &["SET", key, "v", "PX", "50"]);
        }
        std::thread::sleep(Duration::from_millis(150));
        let (_, found): (String, Vec<String>) = q(&mut con, &["SCAN", "0", "COUNT", "1000"]);
        assert!(found.is_empty());
        let _: () = q(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    });
}

#[test]
fn debug_subcommands() {
    let server = Server::start(2, DEBUG_ON);
    let mut raw = server.raw();
    raw.call(&[b"SET", b"foo", b"20000"]);
    let line = raw.call(&[b"DEBUG", b"OBJECT", b"foo"]);
    let line = String::from_utf8(line).unwrap();
    let fields: Vec<&str> = line.trim_end().split(' ').collect();
    assert_eq!(fields[0], "+Value");
    assert!(fields[1].starts_with("at:0x"), "{line}");
    assert_eq!(fields[2], "refcount:1");
    assert_eq!(fields[3], "encoding:int");
    assert_eq!(fields[4], "serializedlength:3");
    assert!(fields[5].starts_with("lru:"));
    assert_eq!(fields[6], "lru_seconds_idle:0");
    assert_eq!(raw.call(&[b"DEBUG", b"OBJECT", b"nokey"]), b"-ERR no such key\r\n");
    assert_eq!(
        raw.call(&[b"DEBUG", b"FOO"]),
        b"-ERR unknown subcommand or wrong number of arguments for 'FOO'. Try DEBUG HELP.\r\n"
    );
    assert_eq!(raw.call(&[b"DEBUG", b"RELOAD"]), b"+OK\r\n");
    assert_eq!(
        raw.call(&[b"DEBUG", b"RELOAD", b"BOGUS"]),
        b"-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.\r\n"
    );
    let start = Instant::now();
    assert_eq!(raw.call(&[b"DEBUG", b"SLEEP", b"0.3"]), b"+OK\r\n");
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(raw.call(&[b"DEBUG", b"POPULATE", b"100"]), b"+OK\r\n");
    assert_eq!(raw.call(&[b"DBSIZE"]), b":101\r\n");
    assert_eq!(raw.call(&[b"GET", b"key:42"]), b"$8\r\nvalue:42\r\n");
    // Without enable-debug-command, DEBUG is refused as Redis refuses it.
    let locked = Server::start(1, &[]);
    let mut raw = locked.raw();
    let reply = raw.call(&[b"DEBUG", b"SLEEP", b"0"]);
    assert!(
        reply.starts_with(b"-ERR DEBUG command not allowed."),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
}
