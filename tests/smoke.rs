//! Smoke tests through the real binary: the basic request path with 1, 2 and
//! 4 shards, pipelining across shards, and protocol errors closing the
//! connection.

mod common;

use common::{for_each_shard_count, Server};

#[test]
fn set_get_del_across_shards() {
    for_each_shard_count(&[], |server| {
        let mut con = server.client();
        for i in 0..50 {
            let _: () = redis::cmd("SET")
                .arg(format!("key:{i}"))
                .arg(i)
                .query(&mut con)
                .unwrap();
        }
        for i in 0..50 {
            let value: i64 = redis::cmd("GET").arg(format!("key:{i}")).query(&mut con).unwrap();
            assert_eq!(value, i, "shards {}", server.shards);
        }
        let keys: Vec<String> = (0..50).map(|i| format!("key:{i}")).collect();
        let found: i64 = redis::cmd("EXISTS").arg(&keys).arg("missing").query(&mut con).unwrap();
        assert_eq!(found, 50);
        let deleted: i64 = redis::cmd("DEL").arg(&keys[..25]).query(&mut con).unwrap();
        assert_eq!(deleted, 25);
        let found: i64 = redis::cmd("EXISTS").arg(&keys).query(&mut con).unwrap();
        assert_eq!(found, 25);
    });
}

#[test]
fn pipeline_replies_keep_order() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let mut request = Vec::new();
        for i in 0..200 {
            let key = format!("p{i}");
            request.extend_from_slice(
                format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\n{}\r\n", key.len(), i % 10).as_bytes(),
            );
            request.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes());
        }
        raw.send(&request);
        for i in 0..200 {
            assert_eq!(raw.reply(), b"+OK\r\n");
            assert_eq!(
                raw.reply(),
                format!("$1\r\n{}\r\n", i % 10).into_bytes(),
                "shards {}",
                server.shards
            );
        }
    });
}

#[test]
fn protocol_error_replies_then_closes() {
    let server = Server::start(2, &[]);
    let mut raw = server.raw();
    raw.send(b"*1\r\nfoo\r\n");
    assert_eq!(raw.reply(), b"-ERR Protocol error: expected '$', got 'f'\r\n");
    assert!(raw.is_closed());
    // Other clients are unaffected.
    let mut other = server.raw();
    assert_eq!(other.call(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn unknown_command_and_arity_errors() {
    let server = Server::start(2, &[]);
    let mut raw = server.raw();
    assert_eq!(
        raw.call(&[b"foo", b"a", b"b"]),
        b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(
        raw.call(&[b"GET"]),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
}
