//! Connection commands through the real binary: HELLO's RESP3 map byte for
//! byte, AUTH with requirepass, RESET, CLIENT LIST/KILL/PAUSE/REPLY across
//! shards.

mod common;

use common::{for_each_shard_count, Raw, Server};
use std::time::{Duration, Instant};

fn client_id(raw: &mut Raw) -> i64 {
    let reply = raw.call(&[b"CLIENT", b"ID"]);
    std::str::from_utf8(&reply[1..reply.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn hello_switches_protocol_with_redis_map() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let id = client_id(&mut raw);
        let reply = raw.call(&[b"HELLO", b"3"]);
        let expected = format!(
            "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&reply), expected);
        // RESP3 stays on: a map reply of CONFIG GET uses '%'.
        assert_eq!(
            raw.call(&[b"CONFIG", b"GET", b"maxmemory"]),
            b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
        );
        let reply = raw.call(&[b"HELLO", b"2"]);
        assert!(reply.starts_with(b"*14\r\n"), "{}", String::from_utf8_lossy(&reply));
        assert_eq!(
            raw.call(&[b"HELLO", b"4"]),
            b"-NOPROTO unsupported protocol version\r\n"
        );
        assert_eq!(
            raw.call(&[b"HELLO", b"x"]),
            b"-ERR Protocol version is not an integer or out of range\r\n"
        );
        assert_eq!(
            raw.call(&[b"HELLO", b"3", b"FOO"]),
            b"-ERR Syntax error in HELLO option 'FOO'\r\n"
        );
        let _ = raw.call(&[b"HELLO", b"3", b"SETNAME", b"conn-a"]);
        assert_eq!(raw.call(&[b"CLIENT", b"GETNAME"]), b"$6\r\nconn-a\r\n");
    });
}

#[test]
fn auth_flow_with_requirepass() {
    // The harness waits for PONG, so requirepass is set once it is up; the
    // connection that set it stays authenticated, as in Redis.
    for_each_shard_count(&[], |server| {
        let mut admin = server.raw();
        assert_eq!(admin.call(&[b"CONFIG", b"SET", b"requirepass", b"s3cret"]), b"+OK\r\n");
        assert_eq!(admin.call(&[b"PING"]), b"+PONG\r\n");
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"SET", b"k", b"v"]), b"-NOAUTH Authentication required.\r\n");
        assert_eq!(
            raw.call(&[b"AUTH", b"wrong"]),
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(
            raw.call(&[b"AUTH", b"other", b"s3cret"]),
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(raw.call(&[b"AUTH", b"a", b"b", b"c"]), b"-ERR syntax error\r\n");
        assert!(raw.call(&[b"HELLO", b"3"]).starts_with(b"-NOAUTH HELLO must be called"));
        assert_eq!(raw.call(&[b"AUTH", b"s3cret"]), b"+OK\r\n");
        assert_eq!(raw.call(&[b"SET", b"k", b"v"]), b"+OK\r\n");
        // RESET drops the authentication again.
        assert_eq!(raw.call(&[b"RESET"]), b"+RESET\r\n");
        assert_eq!(raw.call(&[b"GET", b"k"]), b"-NOAUTH Authentication required.\r\n");
        let mut other = server.raw();
        assert!(other
            .call(&[b"HELLO", b"3", b"AUTH", b"default", b"s3cret"])
            .starts_with(b"%7\r\n"));
        assert_eq!(other.call(&[b"GET", b"k"]), b"$1\r\nv\r\n");
        // errorstats counted the failures.
        let info = other.call(&[b"INFO", b"errorstats"]);
        let text = String::from_utf8_lossy(&info);
        assert!(text.contains("errorstat_WRONGPASS:count=2"), "{text}");
        assert!(text.contains("errorstat_NOAUTH:count=3"), "{text}");
    });
    let server = Server::start(1, &[]);
    let mut raw = server.raw();
    assert_eq!(
        raw.call(&[b"AUTH", b"foo"]),
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".to_vec()
    );
    assert_eq!(raw.call(&[b"AUTH", b"default", b"anything"]), b"+OK\r\n");
}

#[test]
fn reset_restores_a_fresh_connection() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        raw.call(&[b"HELLO", b"3"]);
        raw.call(&[b"SELECT", b"5"]);
        raw.call(&[b"CLIENT", b"SETNAME", b"n1"]);
        raw.call(&[b"MULTI"]);
        assert_eq!(raw.call(&[b"RESET"]), b"+RESET\r\n");
        assert_eq!(raw.call(&[b"CLIENT", b"GETNAME"]), b"$-1\r\n");
        let info = String::from_utf8_lossy(&raw.call(&[b"CLIENT", b"INFO"])).into_owned();
        assert!(
            info.contains(" db=0 ") && info.contains(" multi=-1 ") && info.contains(" resp=2"),
            "{info}"
        );
        assert_eq!(raw.call(&[b"EXEC"]), b"-ERR EXEC without MULTI\r\n");
    });
}

#[test]
fn client_setname_list_and_kill_across_shards() {
    for_each_shard_count(&[], |server| {
        let mut me = server.raw();
        assert_eq!(
            me.call(&[b"CLIENT", b"SETNAME", b"foo bar"]),
            b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
        );
        // Enough connections that, with several shards, they land on
        // different ones.
        let mut others: Vec<(i64, Raw)> = (0..12)
            .map(|i| {
                let mut raw = server.raw();
                raw.call(&[b"CLIENT", b"SETNAME", format!("other{i}").as_bytes()]);
                (client_id(&mut raw), raw)
            })
            .collect();
        let list = String::from_utf8_lossy(&me.call(&[b"CLIENT", b"LIST"])).into_owned();
        for i in 0..12 {
            assert!(list.contains(&format!(" name=other{i} ")), "{list}");
        }
        let one = others[3].0.to_string();
        let listed = String::from_utf8_lossy(&me.call(&[b"CLIENT", b"LIST", b"ID", one.as_bytes()])).into_owned();
        assert_eq!(listed.matches("id=").count(), 1, "{listed}");
        assert!(listed.contains(&format!("id={one} ")));
        assert_eq!(me.call(&[b"CLIENT", b"KILL", b"ID", one.as_bytes()]), b":1\r\n");
        assert!(others[3].1.is_closed());
        // Old form by address.
        let list = String::from_utf8_lossy(&me.call(&[b"CLIENT", b"LIST"])).into_owned();
        let line = list.lines().find(|l| l.contains(" name=other5 ")).unwrap();
        let addr = line
            .split(' ')
            .find_map(|f| f.strip_prefix("addr="))
            .unwrap()
            .to_string();
        assert_eq!(me.call(&[b"CLIENT", b"KILL", addr.as_bytes()]), b"+OK\r\n");
        assert!(others[5].1.is_closed());
        assert_eq!(
            me.call(&[b"CLIENT", b"KILL", addr.as_bytes()]),
            b"-ERR No such client\r\n"
        );
        assert_eq!(
            me.call(&[b"CLIENT", b"KILL", b"ID", b"0"]),
            b"-ERR client-id should be greater than 0\r\n"
        );
        assert_eq!(
            me.call(&[b"CLIENT", b"KILL", b"TYPE", b"bad"]),
            b"-ERR Unknown client type 'bad'\r\n"
        );
        // SKIPME yes kills everyone else, on every shard.
        assert_eq!(me.call(&[b"CLIENT", b"KILL", b"SKIPME", b"yes"]), b":10\r\n");
        for (i, (_, raw)) in others.iter_mut().enumerate() {
            if i != 3 && i != 5 {
                assert!(raw.is_closed(), "client {i} still open");
            }
        }
        assert_eq!(me.call(&[b"PING"]), b"+PONG\r\n");
        // Killing itself: the reply arrives, then the connection closes.
        assert_eq!(me.call(&[b"CLIENT", b"KILL", b"SKIPME", b"no"]), b":1\r\n");
        assert!(me.is_closed());
    });
}

#[test]
fn client_reply_modes() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        raw.command(&[b"CLIENT", b"REPLY", b"OFF"]);
        raw.command(&[b"SET", b"k1", b"v"]);
        raw.command(&[b"CLIENT", b"REPLY", b"ON"]);
        assert_eq!(raw.reply(), b"+OK\r\n");
        raw.command(&[b"CLIENT", b"REPLY", b"SKIP"]);
        raw.command(&[b"PING", b"skipped"]);
        raw.command(&[b"PING", b"seen"]);
        assert_eq!(raw.reply(), b"$4\r\nseen\r\n");
        assert_eq!(raw.call(&[b"GET", b"k1"]), b"$1\r\nv\r\n");
    });
}

#[test]
fn client_pause_holds_writes_on_every_shard() {
    for_each_shard_count(&[], |server| {
        let mut admin = server.raw();
        let mut writers: Vec<Raw> = (0..6).map(|_| server.raw()).collect();
        assert_eq!(admin.call(&[b"CLIENT", b"PAUSE", b"400", b"WRITE"]), b"+OK\r\n");
        let start = Instant::now();
        // Reads go through during a WRITE pause.
        assert_eq!(writers[0].call(&[b"GET", b"x"]), b"$-1\r\n");
        assert!(start.elapsed() < Duration::from_millis(300));
        for w in writers.iter_mut() {
            w.command(&[b"SET", b"x", b"1"]);
        }
        for w in writers.iter_mut() {
            assert_eq!(w.reply(), b"+OK\r\n");
        }
        assert!(start.elapsed() >= Duration::from_millis(350), "{:?}", start.elapsed());
        // UNPAUSE releases at once.
        admin.call(&[b"CLIENT", b"PAUSE", b"100000", b"WRITE"]);
        writers[1].command(&[b"SET", b"y", b"2"]);
        std::thread::sleep(Duration::from_millis(100));
        let mut unpauser = server.raw();
        assert_eq!(unpauser.call(&[b"GET", b"y"]), b"$-1\r\n");
        assert_eq!(unpauser.call(&[b"CLIENT", b"UNPAUSE"]), b"+OK\r\n");
        assert_eq!(writers[1].reply(), b"+OK\r\n");
        // ALL holds reads too, until the deadline.
        admin.call(&[b"CLIENT", b"PAUSE", b"300", b"ALL"]);
        let start = Instant::now();
        assert_eq!(unpauser.call(&[b"GET", b"y"]), b"$1\r\n2\r\n");
        assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
        assert_eq!(
            admin.call(&[b"CLIENT", b"PAUSE", b"10", b"SOME"]),
            b"-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"
        );
    });
}
