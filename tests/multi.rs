//! MULTI/EXEC/WATCH through the real binary: queueing, EXECABORT, WATCH
//! conflicts, and isolation of transactions spanning shards.

mod common;

use common::{for_each_shard_count, Server};

/// Keys that land on every shard of a 4-shard server (slots spread widely).
const KEYS: [&str; 6] = ["a", "b", "foo", "bar", "{x}1", "zz"];

#[test]
fn exec_runs_queue_in_order() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"MULTI"]), b"+OK\r\n");
        for key in KEYS {
            assert_eq!(raw.call(&[b"SET", key.as_bytes(), b"1"]), b"+QUEUED\r\n");
        }
        assert_eq!(raw.call(&[b"GET", b"foo"]), b"+QUEUED\r\n");
        let mut expected = b"*7\r\n".to_vec();
        for _ in KEYS {
            expected.extend_from_slice(b"+OK\r\n");
        }
        expected.extend_from_slice(b"$1\r\n1\r\n");
        assert_eq!(raw.call(&[b"EXEC"]), expected, "shards {}", server.shards);
    });
}

#[test]
fn queueing_errors_abort_exec() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"MULTI"]), b"+OK\r\n");
        assert_eq!(raw.call(&[b"SET", b"k", b"v"]), b"+QUEUED\r\n");
        assert_eq!(
            raw.call(&[b"GET"]),
            b"-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            raw.call(&[b"NOSUCH"]),
            b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
        );
        assert_eq!(
            raw.call(&[b"EXEC"]),
            b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        assert_eq!(raw.call(&[b"GET", b"k"]), b"$-1\r\n");
        assert_eq!(raw.call(&[b"EXEC"]), b"-ERR EXEC without MULTI\r\n");
        assert_eq!(raw.call(&[b"DISCARD"]), b"-ERR DISCARD without MULTI\r\n");
        assert_eq!(raw.call(&[b"MULTI"]), b"+OK\r\n");
        assert_eq!(raw.call(&[b"MULTI"]), b"-ERR MULTI calls can not be nested\r\n");
        assert_eq!(
            raw.call(&[b"WATCH", b"x"]),
            b"-ERR WATCH inside MULTI is not allowed\r\n"
        );
        assert_eq!(raw.call(&[b"DISCARD"]), b"+OK\r\n");
    });
}

#[test]
fn watch_detects_changes_from_other_clients_on_any_shard() {
    for_each_shard_count(&[], |server| {
        let mut a = server.raw();
        let mut b = server.raw();
        for key in KEYS {
            assert_eq!(a.call(&[b"WATCH", key.as_bytes()]), b"+OK\r\n");
            assert_eq!(b.call(&[b"SET", key.as_bytes(), b"changed"]), b"+OK\r\n");
            assert_eq!(a.call(&[b"MULTI"]), b"+OK\r\n");
            assert_eq!(a.call(&[b"SET", b"other", b"1"]), b"+QUEUED\r\n");
            assert_eq!(a.call(&[b"EXEC"]), b"*-1\r\n", "key {key}, shards {}", server.shards);
        }
        // Without a change the transaction runs, and UNWATCH forgets keys.
        assert_eq!(a.call(&[b"WATCH", b"foo"]), b"+OK\r\n");
        assert_eq!(a.call(&[b"MULTI"]), b"+OK\r\n");
        assert_eq!(a.call(&[b"GET", b"foo"]), b"+QUEUED\r\n");
        assert_eq!(a.call(&[b"EXEC"]), b"*1\r\n$7\r\nchanged\r\n");
        assert_eq!(a.call(&[b"WATCH", b"foo"]), b"+OK\r\n");
        assert_eq!(a.call(&[b"UNWATCH"]), b"+OK\r\n");
        assert_eq!(b.call(&[b"SET", b"foo", b"again"]), b"+OK\r\n");
        assert_eq!(a.call(&[b"MULTI"]), b"+OK\r\n");
        assert_eq!(a.call(&[b"GET", b"foo"]), b"+QUEUED\r\n");
        assert_eq!(a.call(&[b"EXEC"]), b"*1\r\n$5\r\nagain\r\n");
    });
}

/// A writer sets every key to the same counter in one transaction; readers
/// must never see two different values across shards.
#[test]
fn transactions_are_isolated_across_shards() {
    let server = Server::start(4, &[]);
    let port = server.port;
    let writer = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut con = client.get_connection().unwrap();
        for i in 0..300 {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for key in KEYS {
                pipe.cmd("SET").arg(key).arg(i).ignore();
            }
            let _: () = pipe.query(&mut con).unwrap();
        }
    });
    let mut reader = server.client();
    let mut reads = 0;
    while !writer.is_finished() || reads < 50 {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in KEYS {
            pipe.cmd("GET").arg(key);
        }
        let values: Vec<Option<i64>> = pipe.query(&mut reader).unwrap();
        assert!(
            values.windows(2).all(|w| w[0] == w[1]),
            "a reader saw part of a transaction: {values:?}"
        );
        reads += 1;
    }
    writer.join().unwrap();
}
