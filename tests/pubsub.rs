//! Pub/Sub, MONITOR and the process title through the real binary, byte for
//! byte as Redis 7.0 answers, with publishers and subscribers on different
//! shards (connections are spread over the shards' listeners).

mod common;

use common::{bulk, for_each_shard_count, Raw, Server};

fn array(items: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend_from_slice(&bulk(item));
    }
    out
}

/// `[kind, name, count]` as a subscription confirmation.
fn confirm(kind: &[u8], name: &[u8], count: i64) -> Vec<u8> {
    let mut out = b"*3\r\n".to_vec();
    out.extend_from_slice(&bulk(kind));
    out.extend_from_slice(&bulk(name));
    out.extend_from_slice(format!(":{count}\r\n").as_bytes());
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn publish_reaches_channel_and_pattern_subscribers_on_every_shard() {
    for_each_shard_count(&[], |server| {
        // Several subscribers: with more than one shard they land on
        // different cores.
        let mut subs: Vec<Raw> = (0..4).map(|_| server.raw()).collect();
        for sub in subs.iter_mut() {
            sub.command(&[b"SUBSCRIBE", b"news", b"sport"]);
            assert_eq!(sub.reply(), confirm(b"subscribe", b"news", 1));
            assert_eq!(sub.reply(), confirm(b"subscribe", b"sport", 2));
        }
        let mut psub = server.raw();
        psub.command(&[b"PSUBSCRIBE", b"n*", b"x?z"]);
        assert_eq!(psub.reply(), confirm(b"psubscribe", b"n*", 1));
        assert_eq!(psub.reply(), confirm(b"psubscribe", b"x?z", 2));

        let mut publisher = server.raw();
        for i in 0..20 {
            let message = format!("m{i}");
            assert_eq!(
                publisher.call(&[b"PUBLISH", b"news", message.as_bytes()]),
                b":5\r\n",
                "4 channel subscribers and one pattern"
            );
        }
        assert_eq!(publisher.call(&[b"PUBLISH", b"nothing", b"x"]), b":1\r\n");
        assert_eq!(publisher.call(&[b"PUBLISH", b"zzz", b"x"]), b":0\r\n");
        // Every subscriber gets every message, in the order published.
        for sub in subs.iter_mut() {
            for i in 0..20 {
                let message = format!("m{i}");
                assert_eq!(sub.reply(), array(&[b"message", b"news", message.as_bytes()]));
            }
        }
        for i in 0..20 {
            let message = format!("m{i}");
            let mut expected = b"*4\r\n".to_vec();
            for part in [&b"pmessage"[..], b"n*", b"news", message.as_bytes()] {
                expected.extend_from_slice(&bulk(part));
            }
            assert_eq!(psub.reply(), expected);
        }
        let mut expected = b"*4\r\n".to_vec();
        for part in [&b"pmessage"[..], b"n*", b"nothing", b"x"] {
            expected.extend_from_slice(&bulk(part));
        }
        assert_eq!(psub.reply(), expected);

        // PUBSUB introspection.
        let mut channels = publisher.call(&[b"PUBSUB", b"CHANNELS", b"n*"]);
        assert_eq!(channels, array(&[b"news"]));
        channels = publisher.call(&[b"PUBSUB", b"NUMSUB", b"news", b"none"]);
        assert_eq!(channels, b"*4\r\n$4\r\nnews\r\n:4\r\n$4\r\nnone\r\n:0\r\n");
        assert_eq!(publisher.call(&[b"PUBSUB", b"NUMPAT"]), b":2\r\n");

        // Unsubscribing from everything, then the channel is gone.
        for sub in subs.iter_mut() {
            sub.command(&[b"UNSUBSCRIBE"]);
            // Remaining subscriptions, in name order.
            assert_eq!(sub.reply(), confirm(b"unsubscribe", b"news", 1));
            assert_eq!(sub.reply(), confirm(b"unsubscribe", b"sport", 0));
            // Out of Pub/Sub mode: any command works again.
            assert_eq!(sub.call(&[b"SET", b"k", b"v"]), b"+OK\r\n");
        }
        assert_eq!(publisher.call(&[b"PUBLISH", b"news", b"late"]), b":1\r\n");
        assert_eq!(
            publisher.call(&[b"PUBSUB", b"NUMSUB", b"news"]),
            b"*2\r\n$4\r\nnews\r\n:0\r\n"
        );
    });
}

#[test]
fn subscriber_mode_rules_and_reset() {
    for_each_shard_count(&[], |server| {
        let mut sub = server.raw();
        assert_eq!(
            sub.call(&[b"UNSUBSCRIBE"]),
            b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
            "no subscription: a null name"
        );
        sub.command(&[b"SUBSCRIBE", b"a", b"a"]);
        assert_eq!(sub.reply(), confirm(b"subscribe", b"a", 1));
        assert_eq!(
            sub.reply(),
            confirm(b"subscribe", b"a", 1),
            "subscribing twice counts once"
        );
        assert_eq!(
            sub.call(&[b"GET", b"x"]),
            b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
        );
        assert_eq!(sub.call(&[b"PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        assert_eq!(sub.call(&[b"PING", b"hi"]), b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
        let list = String::from_utf8(server.raw().call(&[b"CLIENT", b"LIST"])).unwrap();
        assert!(list.contains("flags=P db=0 sub=1 psub=0"), "{list}");
        assert_eq!(sub.call(&[b"RESET"]), b"+RESET\r\n");
        assert_eq!(sub.call(&[b"SET", b"key", b"val"]), b"+OK\r\n");
        let mut publisher = server.raw();
        assert_eq!(
            publisher.call(&[b"PUBLISH", b"a", b"x"]),
            b":0\r\n",
            "RESET unsubscribed"
        );
        // A closed subscriber is forgotten too.
        let mut gone = server.raw();
        gone.command(&[b"PSUBSCRIBE", b"*"]);
        assert_eq!(gone.reply(), confirm(b"psubscribe", b"*", 1));
        drop(gone);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while publisher.call(&[b"PUBSUB", b"NUMPAT"]) != b":0\r\n" {
            assert!(std::time::Instant::now() < deadline, "pattern of a closed client kept");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
}

#[test]
fn resp3_messages_are_pushes() {
    let server = Server::start(2, &[]);
    let mut sub = server.raw();
    sub.command(&[b"HELLO", b"3"]);
    sub.reply();
    sub.command(&[b"SUBSCRIBE", b"c"]);
    assert_eq!(sub.reply(), b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n");
    // RESP3 allows any command while subscribed.
    assert_eq!(sub.call(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(server.raw().call(&[b"PUBLISH", b"c", b"hi"]), b":1\r\n");
    assert_eq!(sub.reply(), b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n");
    // Its own PUBLISH: the message comes before the reply.
    sub.command(&[b"PUBLISH", b"c", b"me"]);
    assert_eq!(sub.reply(), b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nme\r\n");
    assert_eq!(sub.reply(), b":1\r\n");
}

#[test]
fn monitor_shows_commands_from_every_shard() {
    for_each_shard_count(&[], |server| {
        let mut monitor = server.raw();
        assert_eq!(monitor.call(&[b"MONITOR"]), b"+OK\r\n");
        let mut clients: Vec<Raw> = (0..3).map(|_| server.raw()).collect();
        for (i, client) in clients.iter_mut().enumerate() {
            let key = format!("key {i}");
            assert_eq!(client.call(&[b"SET", key.as_bytes(), b"a\"b\n"]), b"+OK\r\n");
            // Administrative commands are not shown.
            client.call(&[b"CONFIG", b"GET", b"port"]);
        }
        clients[0].call(&[b"SELECT", b"3"]);
        clients[0].call(&[b"GET", b"\x01"]);
        let mut lines = Vec::new();
        for _ in 0..5 {
            lines.push(text(&monitor.read_line_bytes()));
        }
        for line in &lines {
            // +<seconds>.<microseconds> [db addr] args
            let (stamp, rest) = line.split_once(' ').unwrap();
            assert!(stamp.starts_with('+') && stamp.len() == 1 + 10 + 1 + 6, "{line:?}");
            assert!(rest.starts_with('[') && rest.ends_with("\r\n"), "{line:?}");
        }
        for i in 0..3 {
            let wanted = format!("\"SET\" \"key {i}\" \"a\\\"b\\n\"\r\n");
            assert!(
                lines
                    .iter()
                    .any(|l| l.ends_with(&wanted) && l.contains("[0 127.0.0.1:")),
                "{lines:?}"
            );
        }
        assert!(lines
            .iter()
            .any(|l| l.contains("[3 127.0.0.1:") && l.ends_with("\"GET\" \"\\x01\"\r\n")));
        assert!(lines.iter().all(|l| !l.contains("CONFIG")), "{lines:?}");
        let list = String::from_utf8(clients[1].call(&[b"CLIENT", b"LIST"])).unwrap();
        assert!(list.contains("flags=O "), "{list}");
        // RESET ends MONITOR.
        assert_eq!(monitor.call(&[b"RESET"]), b"+RESET\r\n");
        let list = String::from_utf8(clients[1].call(&[b"CLIENT", b"LIST"])).unwrap();
        assert!(!list.contains("flags=O "), "{list}");
        clients[1].call(&[b"SET", b"after", b"reset"]);
        assert_eq!(monitor.call(&[b"PING"]), b"+PONG\r\n", "nothing more was fed");
    });
}

#[test]
fn process_title_follows_the_template() {
    let server = Server::start(1, &[]);
    let pid = server.pid();
    let cmdline = || text(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap());
    let port = server.port;
    // The title is set once every shard is ready (PING may answer first).
    let default = format!("{} 127.0.0.1:{port}\0", server.binary());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cmdline().starts_with(&default) {
        assert!(
            std::time::Instant::now() < deadline,
            "default template: {:?}",
            cmdline()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut raw = server.raw();
    assert_eq!(
        raw.call(&[
            b"CONFIG",
            b"SET",
            b"proc-title-template",
            b"TEST {title} {listen-addr} {port} {tls-port} {unixsocket} {config-file}"
        ]),
        b"+OK\r\n"
    );
    let title = cmdline();
    let expected = format!("TEST {} 127.0.0.1:{port} {port} 0  -\0", server.binary());
    assert!(title.starts_with(&expected), "{title:?} vs {expected:?}");
    assert_eq!(
        raw.call(&[b"CONFIG", b"SET", b"proc-title-template", b"{invalid-var}"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'proc-title-template') - template format is invalid or contains unknown variables\r\n"
    );
    assert!(cmdline().starts_with(&expected), "a refused template changes nothing");
}
