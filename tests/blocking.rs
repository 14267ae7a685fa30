//! Blocking pops through the real binary on 1, 2 and 4 shards: a push from
//! another connection wakes the blocked client, a timeout answers nil, and
//! a client that disconnects while blocked leaves nothing behind (a later
//! push is not spent on it).

mod common;

use common::for_each_shard_count;
use std::time::{Duration, Instant};

#[test]
fn blocked_clients_are_woken_time_out_and_vanish_on_disconnect() {
    for_each_shard_count(&[], |server| {
        let mut pusher = server.raw();
        // Woken by a push from another connection.
        let mut waiter = server.raw();
        waiter.command(&[b"BLPOP", b"q1", b"q2", b"0"]);
        wait_blocked(&mut pusher, 1);
        pusher.call(&[b"RPUSH", b"q2", b"x"]);
        assert_eq!(waiter.reply(), b"*2\r\n$2\r\nq2\r\n$1\r\nx\r\n");
        // A timeout answers a null array.
        let start = Instant::now();
        assert_eq!(waiter.call(&[b"BRPOP", b"q1", b"0.2"]), b"*-1\r\n");
        assert!(start.elapsed() >= Duration::from_millis(190), "{:?}", start.elapsed());
        // A client gone while blocked does not take a later element.
        let mut gone = server.raw();
        gone.command(&[b"BLPOP", b"q3", b"0"]);
        wait_blocked(&mut pusher, 1);
        drop(gone);
        wait_blocked(&mut pusher, 0);
        pusher.call(&[b"RPUSH", b"q3", b"kept"]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pusher.call(&[b"LRANGE", b"q3", b"0", b"-1"]), b"*1\r\n$4\r\nkept\r\n");
        pusher.call(&[b"DEL", b"q3"]);
    });
}

/// Waits until INFO reports `n` blocked clients.
fn wait_blocked(raw: &mut common::Raw, n: usize) {
    let wanted = format!("blocked_clients:{n}\r\n");
    for _ in 0..200 {
        let info = String::from_utf8_lossy(&raw.call(&[b"INFO", b"clients"])).into_owned();
        if info.contains(&wanted) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never saw {wanted}");
}
