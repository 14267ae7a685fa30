//! Client-side caching (CLIENT TRACKING) through the real binary, byte for
//! byte as Redis 7.0 sends it, with readers, writers and tracked keys on
//! different shards.
//!
//! "Nothing more arrived" is checked with a PING: a message queued for a
//! connection before its next command is read goes out before that
//! command's reply, so PONG as the next reply proves no message waited.

mod common;

use common::{bulk, for_each_shard_count, Raw, Server};

/// `head` followed by the array of `keys`.
fn with_keys(head: &[u8], keys: &[&[u8]]) -> Vec<u8> {
    let mut out = head.to_vec();
    out.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
    for key in keys {
        out.extend_from_slice(&bulk(key));
    }
    out
}

/// `>2 invalidate [keys]`: a RESP3 invalidation push.
fn invalidate(keys: &[&[u8]]) -> Vec<u8> {
    with_keys(b">2\r\n$10\r\ninvalidate\r\n", keys)
}

/// A RESP2 Pub/Sub message on `__redis__:invalidate` carrying `keys`.
fn invalidate_message(keys: &[&[u8]]) -> Vec<u8> {
    with_keys(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n", keys)
}

fn resp3(server: &Server) -> Raw {
    let mut client = server.raw();
    client.command(&[b"HELLO", b"3"]);
    client.reply();
    client
}

/// Asserts that no message waits for `client`.
fn nothing_pending(client: &mut Raw) {
    assert_eq!(client.call(&[b"PING"]), b"+PONG\r\n", "a message was pending");
}

fn info_field(client: &mut Raw, field: &str) -> String {
    let reply = String::from_utf8(client.call(&[b"INFO", b"everything"])).unwrap();
    let prefix = format!("{field}:");
    reply
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .to_string()
}

#[test]
fn reads_are_remembered_and_each_change_invalidates_once() {
    for_each_shard_count(&[], |server| {
        let mut reader = resp3(server);
        let mut writer = server.raw();
        assert_eq!(reader.call(&[b"CLIENT", b"TRACKING", b"on"]), b"+OK\r\n");
        let keys: Vec<Vec<u8>> = (0..12).map(|i| format!("key:{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        for key in &refs[..4] {
            writer.call(&[b"SET", key, b"v"]);
            assert_eq!(reader.call(&[b"GET", key]), b"$1\r\nv\r\n");
        }
        // A multi-key read spanning shards, and a gathered one.
        let mut mget: Vec<&[u8]> = vec![b"MGET"];
        mget.extend_from_slice(&refs[4..8]);
        reader.call(&mget);
        let mut sunion: Vec<&[u8]> = vec![b"SUNION"];
        sunion.extend_from_slice(&refs[8..12]);
        assert_eq!(reader.call(&sunion), b"~0\r\n");
        assert_eq!(info_field(&mut reader, "tracking_total_keys"), "12");
        assert_eq!(info_field(&mut reader, "tracking_clients"), "1");
        nothing_pending(&mut reader);

        for key in &refs {
            writer.call(&[b"SET", key, b"w"]);
            assert_eq!(
                reader.reply(),
                invalidate(&[key]),
                "change of {}",
                String::from_utf8_lossy(key)
            );
        }
        // The keys are forgotten: a second change sends nothing.
        for key in &refs {
            writer.call(&[b"DEL", key]);
        }
        nothing_pending(&mut reader);
        assert_eq!(info_field(&mut reader, "tracking_total_keys"), "0");

        // The client's own write is reported after its reply.
        reader.call(&[b"GET", refs[0]]);
        reader.command(&[b"SET", refs[0], b"mine"]);
        assert_eq!(reader.reply(), b"+OK\r\n");
        assert_eq!(reader.reply(), invalidate(&[refs[0]]));
        // NOLOOP: its own writes are not reported, others' are.
        assert_eq!(reader.call(&[b"CLIENT", b"TRACKING", b"on", b"NOLOOP"]), b"+OK\r\n");
        reader.call(&[b"GET", refs[0]]);
        reader.call(&[b"GET", refs[1]]);
        reader.call(&[b"SET", refs[0], b"again"]);
        writer.call(&[b"SET", refs[1], b"theirs"]);
        assert_eq!(reader.reply(), invalidate(&[refs[1]]));
        nothing_pending(&mut reader);
        // Expiry is a change too.
        reader.call(&[b"GET", refs[2]]);
        writer.call(&[b"SET", refs[2], b"x", b"PX", b"200"]);
        assert_eq!(reader.reply(), invalidate(&[refs[2]]));
        assert_eq!(reader.call(&[b"GET", refs[2]]), b"$1\r\nx\r\n");
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(reader.reply(), invalidate(&[refs[2]]), "expired by the active cycle");
        nothing_pending(&mut reader);
    });
}

#[test]
fn redirection_to_a_resp2_subscriber_and_a_broken_redirection() {
    for_each_shard_count(&[], |server| {
        let mut target = server.raw();
        let target_id = String::from_utf8(target.call(&[b"CLIENT", b"ID"])).unwrap();
        let target_id = target_id.trim_start_matches(':').trim_end().to_string();
        target.call(&[b"SUBSCRIBE", b"__redis__:invalidate"]);
        let mut reader = resp3(server);
        let mut writer = server.raw();
        assert_eq!(
            reader.call(&[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", target_id.as_bytes()]),
            b"+OK\r\n"
        );
        assert_eq!(
            reader.call(&[b"CLIENT", b"GETREDIR"]),
            format!(":{target_id}\r\n").into_bytes()
        );
        for key in [&b"a"[..], b"b", b"c", b"d"] {
            reader.call(&[b"GET", key]);
        }
        for key in [&b"a"[..], b"b", b"c", b"d"] {
            writer.call(&[b"INCR", key]);
            assert_eq!(target.reply(), invalidate_message(&[key]));
        }
        nothing_pending(&mut reader);
        // FLUSHALL: every tracking client drops its whole cache (null).
        reader.call(&[b"GET", b"a"]);
        writer.call(&[b"FLUSHALL"]);
        assert_eq!(
            target.reply(),
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n_\r\n".to_vec(),
            "null in the tracking client's protocol (RESP3)"
        );
        assert_eq!(info_field(&mut writer, "tracking_total_keys"), "0");

        // The target goes away: the tracking client is told once a message is due.
        drop(target);
        reader.call(&[b"GET", b"a"]);
        std::thread::sleep(std::time::Duration::from_millis(100));
        writer.call(&[b"SET", b"a", b"1"]);
        let mut broken = b">2\r\n$21\r\ntracking-redir-broken\r\n".to_vec();
        broken.extend_from_slice(format!(":{target_id}\r\n").as_bytes());
        assert_eq!(reader.reply(), broken);
        let info = reader.call(&[b"CLIENT", b"TRACKINGINFO"]);
        let mut expected = b"%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$15\r\nbroken_redirect\r\n".to_vec();
        expected.extend_from_slice(format!("$8\r\nredirect\r\n:{target_id}\r\n$8\r\nprefixes\r\n*0\r\n").as_bytes());
        assert_eq!(info, expected);
        let me = String::from_utf8(reader.call(&[b"CLIENT", b"INFO"])).unwrap();
        assert!(me.contains(" flags=tR "), "{me}");
        assert!(me.contains(&format!(" redir={target_id} ")), "{me}");
        // RESET turns tracking off.
        reader.call(&[b"RESET"]);
        let me = String::from_utf8(reader.call(&[b"CLIENT", b"INFO"])).unwrap();
        assert!(me.contains(" flags=N ") && me.contains(" redir=-1 "), "{me}");
        assert_eq!(reader.call(&[b"CLIENT", b"GETREDIR"]), b":-1\r\n");
        assert_eq!(info_field(&mut writer, "tracking_clients"), "0");
    });
}

#[test]
fn bcast_sends_one_message_per_prefix_for_a_transaction() {
    for_each_shard_count(&[], |server| {
        let mut watcher = resp3(server);
        let mut writer = server.raw();
        assert_eq!(
            watcher.call(&[
                b"CLIENT",
                b"TRACKING",
                b"on",
                b"BCAST",
                b"PREFIX",
                b"a:",
                b"PREFIX",
                b"b:",
                b"NOLOOP"
            ]),
            b"+OK\r\n"
        );
        assert_eq!(info_field(&mut writer, "tracking_total_prefixes"), "2");
        writer.call(&[b"MULTI"]);
        for key in [&b"a:2{t}"[..], b"a:1{t}", b"b:1{t}", b"c:1{t}", b"a:1{t}"] {
            writer.call(&[b"INCR", key]);
        }
        assert_eq!(writer.call(&[b"EXEC"]), b"*5\r\n:1\r\n:1\r\n:1\r\n:1\r\n:2\r\n");
        // Keys in order, each once; c: is not watched.
        assert_eq!(watcher.reply(), invalidate(&[b"a:1{t}", b"a:2{t}"]));
        assert_eq!(watcher.reply(), invalidate(&[b"b:1{t}"]));
        nothing_pending(&mut watcher);
        // Single commands on every shard.
        for i in 0..8 {
            let key = format!("b:single{i}");
            writer.call(&[b"SET", key.as_bytes(), b"1"]);
            assert_eq!(watcher.reply(), invalidate(&[key.as_bytes()]));
        }
        // NOLOOP: its own change is not broadcast back to it.
        watcher.call(&[b"SET", b"a:mine", b"1"]);
        nothing_pending(&mut watcher);
        // Adding a prefix keeps the others; overlapping ones are refused.
        assert_eq!(
            watcher.call(&[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"PREFIX", b"a"]),
            b"-ERR Prefix 'a' overlaps with an existing prefix 'a:'. Prefixes for a single client must not overlap.\r\n"
        );
        assert_eq!(
            watcher.call(&[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"PREFIX", b"z"]),
            b"+OK\r\n"
        );
        let info = watcher.call(&[b"CLIENT", b"TRACKINGINFO"]);
        assert_eq!(
            info,
            b"%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$5\r\nbcast\r\n$8\r\nredirect\r\n:0\r\n\
              $8\r\nprefixes\r\n*3\r\n$2\r\na:\r\n$2\r\nb:\r\n$1\r\nz\r\n"
                .to_vec()
        );
        watcher.call(&[b"CLIENT", b"TRACKING", b"off"]);
        assert_eq!(info_field(&mut writer, "tracking_total_prefixes"), "0");
    });
}

#[test]
fn optin_optout_and_errors_as_redis() {
    let server = Server::start(2, &[]);
    let mut client = resp3(&server);
    let mut writer = server.raw();
    let cases: &[(&[&[u8]], &[u8])] = &[
        (
            &[b"CLIENT", b"CACHING", b"yes"],
            b"-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode \
              enabled\r\n",
        ),
        (
            &[b"CLIENT", b"TRACKING", b"on", b"PREFIX", b"x"],
            b"-ERR PREFIX option requires BCAST mode to be enabled\r\n",
        ),
        (
            &[b"CLIENT", b"TRACKING", b"on", b"OPTIN", b"OPTOUT"],
            b"-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n",
        ),
        (
            &[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"OPTIN"],
            b"-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n",
        ),
        (
            &[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", b"999999"],
            b"-ERR The client ID you want redirect to does not exist\r\n",
        ),
        (
            &[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", b"x"],
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (&[b"CLIENT", b"TRACKING", b"maybe"], b"-ERR syntax error\r\n"),
        (&[b"CLIENT", b"TRACKING", b"on", b"FOO"], b"-ERR syntax error\r\n"),
        (
            &[
                b"CLIENT",
                b"TRACKING",
                b"on",
                b"BCAST",
                b"PREFIX",
                b"FOOBAR",
                b"PREFIX",
                b"FOO",
            ],
            b"-ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'. Prefixes for a single client must not \
              overlap.\r\n",
        ),
        (&[b"CLIENT", b"TRACKING", b"on", b"OPTIN"], b"+OK\r\n"),
        (
            &[b"CLIENT", b"TRACKING", b"on", b"BCAST"],
            b"-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then \
              re-enabling it with a different mode.\r\n",
        ),
        (
            &[b"CLIENT", b"TRACKING", b"on", b"OPTOUT"],
            b"-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then \
              re-enabling it with a different mode.\r\n",
        ),
        (
            &[b"CLIENT", b"CACHING", b"no"],
            b"-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n",
        ),
    ];
    for (command, expected) in cases {
        assert_eq!(
            client.call(command),
            expected.to_vec(),
            "{:?}",
            command.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()
        );
    }
    // OPTIN: only the command after CLIENT CACHING yes is remembered.
    client.call(&[b"GET", b"k1"]);
    assert_eq!(client.call(&[b"CLIENT", b"CACHING", b"yes"]), b"+OK\r\n");
    client.call(&[b"GET", b"k2"]);
    client.call(&[b"GET", b"k3"]);
    for key in [&b"k1"[..], b"k2", b"k3"] {
        writer.call(&[b"SET", key, b"1"]);
    }
    assert_eq!(client.reply(), invalidate(&[b"k2"]));
    nothing_pending(&mut client);
    // OPTOUT: everything but the command after CLIENT CACHING no.
    client.call(&[b"CLIENT", b"TRACKING", b"off"]);
    assert_eq!(client.call(&[b"CLIENT", b"TRACKING", b"on", b"OPTOUT"]), b"+OK\r\n");
    client.call(&[b"CLIENT", b"CACHING", b"no"]);
    client.call(&[b"GET", b"k1"]);
    client.call(&[b"GET", b"k2"]);
    for key in [&b"k1"[..], b"k2"] {
        writer.call(&[b"SET", key, b"2"]);
    }
    assert_eq!(client.reply(), invalidate(&[b"k2"]));
    nothing_pending(&mut client);
}

#[test]
fn the_table_is_kept_to_tracking_table_max_keys() {
    for_each_shard_count(&[], |server| {
        let mut reader = resp3(server);
        let mut admin = server.raw();
        reader.call(&[b"CLIENT", b"TRACKING", b"on"]);
        let keys: Vec<Vec<u8>> = (0..40).map(|i| format!("limit:{i}").into_bytes()).collect();
        for key in &keys {
            reader.call(&[b"GET", key]);
        }
        assert_eq!(info_field(&mut admin, "tracking_total_keys"), "40");
        assert_eq!(
            admin.call(&[b"CONFIG", b"SET", b"tracking-table-max-keys", b"5"]),
            b"+OK\r\n"
        );
        // The next command brings the table back to the limit first: its
        // invalidations come before the reply.
        reader.command(&[b"PING"]);
        let mut forgotten = std::collections::BTreeSet::new();
        loop {
            let reply = reader.reply();
            if reply == b"+PONG\r\n" {
                break;
            }
            let key = keys
                .iter()
                .find(|k| reply == invalidate(&[k]))
                .unwrap_or_else(|| panic!("unexpected {:?}", String::from_utf8_lossy(&reply)));
            assert!(forgotten.insert(key.clone()), "a key invalidated twice");
        }
        assert_eq!(forgotten.len(), 35);
        assert_eq!(info_field(&mut admin, "tracking_total_keys"), "5");
        admin.call(&[b"CONFIG", b"SET", b"tracking-table-max-keys", b"1000000"]);
        // The keys still remembered are still reported.
        for key in keys.iter().filter(|k| !forgotten.contains(*k)) {
            admin.call(&[b"SET", key, b"1"]);
            assert_eq!(reader.reply(), invalidate(&[key]));
        }
        nothing_pending(&mut reader);
    });
}
