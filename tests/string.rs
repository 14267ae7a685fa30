//! The string family through the real binary with 1, 2 and 4 shards:
//! replies and errors byte for byte as Redis 7.0 writes them, multi-key
//! commands with keys on different shards, binary-safe keys and values, and
//! Redis's long double formatting for INCRBYFLOAT.

mod common;
mod strings_support;

use common::{for_each_shard_count, Raw, Server};
use std::time::Duration;
use strings_support::{array, bulk, err, int, spread_keys, words, NULL, OK};

fn call(raw: &mut Raw, command: &str) -> Vec<u8> {
    let args = words(command);
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    raw.call(&refs)
}

/// Runs (command, expected reply) pairs, naming the failing step.
fn expect_all(raw: &mut Raw, shards: usize, steps: &[(&str, Vec<u8>)]) {
    for (command, expected) in steps {
        let got = call(raw, command);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "`{command}` with {shards} shards"
        );
    }
}

#[test]
fn set_options_and_errors_match_redis() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let invalid = |cmd: &str| err(&format!("ERR invalid expire time in '{cmd}' command"));
        expect_all(
            &mut raw,
            server.shards,
            &[
                ("SET k v", OK.to_vec()),
                // Repeating the same option is allowed, mixing conflicting ones is not.
                ("SET k v EX 10 EX 20", OK.to_vec()),
                ("SET k v NX NX GET GET", bulk(b"v")),
                ("SET k v EX 10 PX 20", err("ERR syntax error")),
                ("SET k v NX XX", err("ERR syntax error")),
                ("SET k v KEEPTTL EX 1", err("ERR syntax error")),
                ("SET k v EX", err("ERR syntax error")),
                ("SET k v PERSIST", err("ERR syntax error")),
                // Syntax is checked before the expire value.
                ("SET k v EX abc NX XX", err("ERR syntax error")),
                ("SET k v EX abc", err("ERR value is not an integer or out of range")),
                ("SET k v EX 0", invalid("set")),
                ("SET k v PX -1", invalid("set")),
                ("SET k v EX 9223372036854775807", invalid("set")),
                ("SET k v PX 9223372036854775807", invalid("set")),
                ("SET k w XX GET", bulk(b"v")),
                ("GET k", bulk(b"w")),
                ("SET k x NX GET", bulk(b"w")),
                ("GET k", bulk(b"w")),
                ("SET k x NX", NULL.to_vec()),
                ("SET missing x XX", NULL.to_vec()),
                ("SET missing x XX GET", NULL.to_vec()),
                ("GET missing", NULL.to_vec()),
                ("SETNX k y", int(0)),
                ("SETNX k2 y", int(1)),
                ("SETEX k 0 v", invalid("setex")),
                ("SETEX k abc v", err("ERR value is not an integer or out of range")),
                ("PSETEX k 0 v", invalid("psetex")),
                ("SETEX k 100 v2", OK.to_vec()),
                ("GET k", bulk(b"v2")),
                ("GETSET k v3", bulk(b"v2")),
                ("GETSET newkey v", NULL.to_vec()),
                ("GETDEL k", bulk(b"v3")),
                ("GETDEL k", NULL.to_vec()),
                ("EXISTS k", int(0)),
                ("SET k v", OK.to_vec()),
                ("GETEX k", bulk(b"v")),
                ("GETEX k PERSIST", bulk(b"v")),
                ("GETEX k EX 0", invalid("getex")),
                // A missing key answers nil before the expire is validated.
                ("GETEX missing EX 0", NULL.to_vec()),
                ("GETEX k EX 10 PX 10", err("ERR syntax error")),
                ("GETEX k PERSIST EX 1", err("ERR syntax error")),
                ("GETEX k NX", err("ERR syntax error")),
                ("GETEX k KEEPTTL", err("ERR syntax error")),
                // An absolute time in the past deletes the key.
                ("GETEX k PXAT 1", bulk(b"v")),
                ("EXISTS k", int(0)),
                ("SET k v EXAT 1", OK.to_vec()),
                ("GET k", NULL.to_vec()),
                ("SET", err("ERR wrong number of arguments for 'set' command")),
            ],
        );
    });
}

#[test]
fn expiry_options_expire_and_persist() {
    let server = Server::start(2, &[]);
    let mut raw = server.raw();
    assert_eq!(call(&mut raw, "SET a v PX 150"), OK);
    assert_eq!(call(&mut raw, "SETEX b 100 v"), OK);
    assert_eq!(call(&mut raw, "PSETEX c 150 v"), OK);
    assert_eq!(call(&mut raw, "SET d v PX 150"), OK);
    assert_eq!(call(&mut raw, "GETEX d PERSIST"), bulk(b"v"));
    assert_eq!(call(&mut raw, "SET e v"), OK);
    assert_eq!(call(&mut raw, "GETEX e PX 150"), bulk(b"v"));
    assert_eq!(call(&mut raw, "SET f v PX 150"), OK);
    assert_eq!(call(&mut raw, "SET f w KEEPTTL"), OK);
    assert_eq!(call(&mut raw, "SET g v PX 150"), OK);
    assert_eq!(call(&mut raw, "SET g w"), OK);
    assert_eq!(call(&mut raw, "SET h 5 PX 150"), OK);
    assert_eq!(call(&mut raw, "INCR h"), int(6));
    std::thread::sleep(Duration::from_millis(400));
    for (key, reply) in [
        ("a", NULL.to_vec()),
        ("b", bulk(b"v")),
        ("c", NULL.to_vec()),
        ("d", bulk(b"v")),
        ("e", NULL.to_vec()),
        ("f", NULL.to_vec()),
        ("g", bulk(b"w")),
        // INCR overwrites the value but keeps the TTL.
        ("h", NULL.to_vec()),
    ] {
        assert_eq!(call(&mut raw, &format!("GET {key}")), reply, "key {key}");
    }
}

#[test]
fn multi_key_commands_across_shards() {
    for_each_shard_count(&[], |server| {
        let keys = spread_keys("mk", 4, server.shards);
        let (a, b, c, d) = (&keys[0], &keys[1], &keys[2], &keys[3]);
        let mut raw = server.raw();
        expect_all(
            &mut raw,
            server.shards,
            &[
                (&format!("MSET {a} 1 {b} 2 {c} 3"), OK.to_vec()),
                (
                    &format!("MGET {c} {d} {a} {b} {a}"),
                    array(&[bulk(b"3"), NULL.to_vec(), bulk(b"1"), bulk(b"2"), bulk(b"1")]),
                ),
                // An incomplete pair is an arity error and sets nothing.
                (
                    &format!("MSET {a} x {b} y {d}"),
                    err("ERR wrong number of arguments for 'mset' command"),
                ),
                (
                    &format!("MGET {a} {b} {d}"),
                    array(&[bulk(b"1"), bulk(b"2"), NULL.to_vec()]),
                ),
                // MSETNX is all or nothing across shards.
                (&format!("MSETNX {d} 4 {a} 9"), int(0)),
                (&format!("EXISTS {d}"), int(0)),
                (&format!("GET {a}"), bulk(b"1")),
                (
                    &format!("MSETNX {d} 4 {c}"),
                    err("ERR wrong number of arguments for 'msetnx' command"),
                ),
                (&format!("DEL {a} {b} {c}"), int(3)),
                (&format!("MSETNX {a} x {b} y {c} z {d} w"), int(1)),
                (
                    &format!("MGET {a} {b} {c} {d}"),
                    array(&[bulk(b"x"), bulk(b"y"), bulk(b"z"), bulk(b"w")]),
                ),
                // The same key twice: the last value wins.
                (&format!("DEL {a}"), int(1)),
                (&format!("MSETNX {a} 1 {a} 2"), int(1)),
                (&format!("GET {a}"), bulk(b"2")),
            ],
        );
    });
}

#[test]
fn binary_safe_keys_and_values() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let key: &[u8] = b"bin\0key\r\n";
        let other: &[u8] = b"\r\n\0other";
        let value: &[u8] = b"a\0b\r\nc";
        assert_eq!(raw.call(&[b"SET", key, value]), OK);
        assert_eq!(raw.call(&[b"GET", key]), bulk(value));
        assert_eq!(raw.call(&[b"APPEND", key, b"\0\r\n"]), int(9));
        assert_eq!(raw.call(&[b"GET", key]), bulk(b"a\0b\r\nc\0\r\n"));
        assert_eq!(raw.call(&[b"STRLEN", key]), int(9));
        assert_eq!(raw.call(&[b"GETRANGE", key, b"1", b"4"]), bulk(b"\0b\r\n"));
        assert_eq!(raw.call(&[b"SETRANGE", key, b"2", b"\n\0"]), int(9));
        assert_eq!(raw.call(&[b"GET", key]), bulk(b"a\0\n\0\nc\0\r\n"));
        assert_eq!(raw.call(&[b"MSET", other, b"\0", key, b"\r\n"]), OK);
        assert_eq!(
            raw.call(&[b"MGET", key, other, b"nokey\0"]),
            array(&[bulk(b"\r\n"), bulk(b"\0"), NULL.to_vec()])
        );
        assert_eq!(raw.call(&[b"GETDEL", other]), bulk(b"\0"));
        assert_eq!(raw.call(&[b"EXISTS", other]), int(0));
    });
}

#[test]
fn append_strlen_getrange_setrange() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        expect_all(
            &mut raw,
            server.shards,
            &[
                ("APPEND s hello", int(5)),
                ("APPEND s _world", int(11)),
                ("GET s", bulk(b"hello_world")),
                ("STRLEN s", int(11)),
                ("STRLEN nokey", int(0)),
                ("SET n -555", OK.to_vec()),
                ("STRLEN n", int(4)),
                ("APPEND n 1", int(5)),
                ("GET n", bulk(b"-5551")),
                ("GETRANGE s 0 3", bulk(b"hell")),
                ("GETRANGE s -5 -1", bulk(b"world")),
                ("GETRANGE s 5 3", bulk(b"")),
                ("GETRANGE s -1 -5", bulk(b"")),
                ("GETRANGE s 6 5000", bulk(b"world")),
                ("GETRANGE s -5000 10000", bulk(b"hello_world")),
                ("GETRANGE s 0 9223372036854775807", bulk(b"hello_world")),
                ("GETRANGE nokey 0 -1", bulk(b"")),
                ("GETRANGE s x 1", err("ERR value is not an integer or out of range")),
                ("SUBSTR s 1 3", bulk(b"ell")),
                ("SET i 1234", OK.to_vec()),
                ("GETRANGE i 1 2", bulk(b"23")),
                ("SETRANGE i 0 2", int(4)),
                ("GET i", bulk(b"2234")),
                ("SETRANGE i 6 x", int(7)),
                ("GET i", bulk(b"2234\0\0x")),
                ("SETRANGE i -1 x", err("ERR offset is out of range")),
                ("SETRANGE i x y", err("ERR value is not an integer or out of range")),
                ("SETRANGE fresh 2 ab", int(4)),
                ("GET fresh", bulk(b"\0\0ab")),
                (
                    "SETRANGE fresh 536870911 xy",
                    err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
                ),
                (
                    "SETRANGE absent 536870911 xy",
                    err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
                ),
                ("EXISTS absent", int(0)),
            ],
        );
        // An empty value sets nothing: a missing key stays missing, an
        // existing one keeps its length.
        assert_eq!(raw.call(&[b"SETRANGE", b"new", b"0", b""]), int(0));
        assert_eq!(call(&mut raw, "EXISTS new"), int(0));
        assert_eq!(raw.call(&[b"SETRANGE", b"i", b"100", b""]), int(7));
    });
}

#[test]
fn proto_max_bulk_len_limits_growth() {
    let server = Server::start(2, &["--proto-max-bulk-len", "1mb"]);
    let mut raw = server.raw();
    let too_long = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    assert_eq!(call(&mut raw, "SETRANGE k 1048575 x"), int(1048576));
    assert_eq!(call(&mut raw, "APPEND k y"), too_long);
    assert_eq!(call(&mut raw, "SETRANGE k 1048576 x"), too_long);
    assert_eq!(call(&mut raw, "STRLEN k"), int(1048576));
    assert_eq!(call(&mut raw, "SETBIT b 8388607 1"), int(0));
    assert_eq!(
        call(&mut raw, "SETBIT b 8388608 1"),
        err("ERR bit offset is not an integer or out of range")
    );
}

#[test]
fn incr_decr_family() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let not_int = err("ERR value is not an integer or out of range");
        expect_all(
            &mut raw,
            server.shards,
            &[
                ("INCR c", int(1)),
                ("INCR c", int(2)),
                ("DECR c", int(1)),
                ("INCRBY c 17179869184", int(17179869185)),
                ("DECRBY c 17179869185", int(0)),
                ("DECRBY c -5", int(5)),
                ("DECRBY c -9223372036854775808", err("ERR decrement would overflow")),
                (
                    "INCRBY c 9223372036854775807",
                    err("ERR increment or decrement would overflow"),
                ),
                ("INCRBY c abc", not_int.clone()),
                ("INCRBY c 1.5", not_int.clone()),
                ("SET m -9223372036854775808", OK.to_vec()),
                ("DECR m", err("ERR increment or decrement would overflow")),
                ("SET s \"\"", OK.to_vec()),
                ("INCR s", not_int.clone()),
                ("SET s 007", OK.to_vec()),
                ("INCR s", not_int.clone()),
                ("SET s 1.5", OK.to_vec()),
                ("INCR s", not_int.clone()),
                ("GET s", bulk(b"1.5")),
                ("SET s 9223372036854775807", OK.to_vec()),
                ("INCR s", err("ERR increment or decrement would overflow")),
                ("GET s", bulk(b"9223372036854775807")),
            ],
        );
        assert_eq!(raw.call(&[b"SET", b"sp", b" 11"]), OK);
        assert_eq!(raw.call(&[b"INCR", b"sp"]), not_int);
        assert_eq!(raw.call(&[b"SET", b"sp", b"11 "]), OK);
        assert_eq!(raw.call(&[b"INCR", b"sp"]), not_int);
    });
}

#[test]
fn incrbyfloat_formats_like_redis_long_double() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        // Long double arithmetic: ten 0.1 steps reach exactly "1".
        let expected = ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"];
        for want in expected {
            assert_eq!(call(&mut raw, "INCRBYFLOAT f 0.1"), bulk(want.as_bytes()));
        }
        let not_float = err("ERR value is not a valid float");
        let nan_inf = err("ERR increment would produce NaN or Infinity");
        expect_all(
            &mut raw,
            server.shards,
            &[
                ("INCRBYFLOAT g 5.0e3", bulk(b"5000")),
                ("INCRBYFLOAT g -5000", bulk(b"0")),
                ("INCRBYFLOAT g 1.1", bulk(b"1.1")),
                ("INCRBYFLOAT g -1.1", bulk(b"0")),
                ("INCRBYFLOAT g 10.5", bulk(b"10.5")),
                ("INCRBYFLOAT g 0x10", bulk(b"26.5")),
                ("SET h 17179869184", OK.to_vec()),
                ("INCRBYFLOAT h 1.5", bulk(b"17179869185.5")),
                ("SET h 1", OK.to_vec()),
                ("INCRBYFLOAT h -1.1", bulk(b"-0.1")),
                ("INCRBYFLOAT h +inf", nan_inf.clone()),
                ("INCRBYFLOAT h inf", nan_inf.clone()),
                ("INCRBYFLOAT h 1.2e4932", not_float.clone()),
                ("INCRBYFLOAT h nan", not_float.clone()),
                ("INCRBYFLOAT h abc", not_float.clone()),
                ("INCRBYFLOAT h 1e", not_float.clone()),
                ("SET h 1.5abc", OK.to_vec()),
                ("INCRBYFLOAT h 1", not_float.clone()),
                ("SET r 0.30000000000000004", OK.to_vec()),
                ("INCRBYFLOAT r 0.1", bulk(b"0.40000000000000004")),
                ("SET r 12345678901234567", OK.to_vec()),
                ("INCRBYFLOAT r 1", bulk(b"12345678901234568")),
                ("INCR r", int(12345678901234569)),
            ],
        );
        assert_eq!(raw.call(&[b"INCRBYFLOAT", b"h", b" 1"]), not_float);
        assert_eq!(raw.call(&[b"SET", b"z", b"1\x002"]), OK);
        assert_eq!(raw.call(&[b"INCRBYFLOAT", b"z", b"1"]), not_float);
        let big = call(&mut raw, "INCRBYFLOAT big 1e300");
        assert!(
            big == bulk(b"1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144"),
            "{}",
            String::from_utf8_lossy(&big)
        );
        // Negative zero prints as 0 (Redis's "No negative zero" test).
        let x = format!("{:.17}", 1.0f64 / 41.0);
        assert_eq!(
            call(&mut raw, &format!("INCRBYFLOAT nz {x}")),
            bulk(x.trim_end_matches('0').as_bytes())
        );
        assert_eq!(call(&mut raw, &format!("INCRBYFLOAT nz -{x}")), bulk(b"0"));
    });
}

#[test]
fn lcs_with_keys_on_different_shards() {
    for_each_shard_count(&[], |server| {
        let keys = spread_keys("lcs", 2, server.shards);
        let (a, b) = (&keys[0], &keys[1]);
        let mut raw = server.raw();
        let m = |a0: i64, a1: i64, b0: i64, b1: i64, len: Option<i64>| {
            let mut parts = vec![array(&[int(a0), int(a1)]), array(&[int(b0), int(b1)])];
            if let Some(len) = len {
                parts.push(int(len));
            }
            array(&parts)
        };
        expect_all(
            &mut raw,
            server.shards,
            &[
                (&format!("MSET {a} ohmytext {b} mynewtext"), OK.to_vec()),
                (&format!("LCS {a} {b}"), bulk(b"mytext")),
                (&format!("LCS {a} {b} LEN"), int(6)),
                (
                    &format!("LCS {a} {b} IDX"),
                    array(&[
                        bulk(b"matches"),
                        array(&[m(4, 7, 5, 8, None), m(2, 3, 0, 1, None)]),
                        bulk(b"len"),
                        int(6),
                    ]),
                ),
                (
                    &format!("LCS {a} {b} IDX MINMATCHLEN 4 WITHMATCHLEN"),
                    array(&[bulk(b"matches"), array(&[m(4, 7, 5, 8, Some(4))]), bulk(b"len"), int(6)]),
                ),
                (
                    &format!("LCS {a} {b} IDX LEN"),
                    err("ERR If you want both the length and indexes, please just use IDX."),
                ),
                (&format!("LCS {a} {b} MINMATCHLEN"), err("ERR syntax error")),
                (
                    &format!("LCS {a} {b} MINMATCHLEN x"),
                    err("ERR value is not an integer or out of range"),
                ),
                (&format!("LCS {a} nokey"), bulk(b"")),
                (
                    "LCS nokey nokey2 IDX",
                    array(&[bulk(b"matches"), array(&[]), bulk(b"len"), int(0)]),
                ),
            ],
        );
    });
}
