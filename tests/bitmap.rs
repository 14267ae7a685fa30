//! Bitmap commands through the real binary with 1, 2 and 4 shards: replies
//! and errors byte for byte as Redis 7.0, BITOP with keys on different
//! shards, and BITFIELD's overflow behaviours.

mod common;
mod strings_support;

use common::{for_each_shard_count, Raw};
use strings_support::{array, bulk, err, int, spread_keys, words, NULL, OK};

fn call(raw: &mut Raw, command: &str) -> Vec<u8> {
    let args = words(command);
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    raw.call(&refs)
}

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

const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const NOT_INT: &str = "ERR value is not an integer or out of range";

#[test]
fn setbit_getbit() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        expect_all(
            &mut raw,
            server.shards,
            &[
                ("SETBIT b 1 1", int(0)),
                ("GET b", bulk(&[0b0100_0000])),
                ("SETBIT b 1 1", int(1)),
                ("SETBIT b 1 0", int(1)),
                ("SETBIT b 17 1", int(0)),
                ("GET b", bulk(&[0, 0, 0b0100_0000])),
                ("GETBIT b 17", int(1)),
                ("GETBIT b 16", int(0)),
                ("GETBIT b 100000", int(0)),
                ("GETBIT nokey 3", int(0)),
                // "1" is 0b00110001: bits of an int-encoded value.
                ("SET n 1", OK.to_vec()),
                ("GETBIT n 2", int(1)),
                ("GETBIT n 7", int(1)),
                ("SETBIT n 6 1", int(0)),
                ("GET n", bulk(b"3")),
                ("SETBIT b -1 1", err(BIT_OFFSET)),
                ("SETBIT b 4294967296 1", err(BIT_OFFSET)),
                ("SETBIT b x 1", err(BIT_OFFSET)),
                ("GETBIT b -1", err(BIT_OFFSET)),
                ("SETBIT b 0 2", err(BIT_VALUE)),
                ("SETBIT b 0 -1", err(BIT_VALUE)),
                ("SETBIT b 0 x", err(BIT_VALUE)),
                ("SETBIT", err("ERR wrong number of arguments for 'setbit' command")),
            ],
        );
    });
}

#[test]
fn bitcount_and_bitpos_ranges() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"SET", b"p", b"\xff\xf0\x00"]), OK);
        assert_eq!(raw.call(&[b"SET", b"ones", b"\xff\xff"]), OK);
        assert_eq!(raw.call(&[b"SET", b"zeros", b"\x00\x00"]), OK);
        expect_all(
            &mut raw,
            server.shards,
            &[
                ("SET s foobar", OK.to_vec()),
                ("BITCOUNT s", int(26)),
                ("BITCOUNT s 0 0", int(4)),
                ("BITCOUNT s 1 1", int(6)),
                ("BITCOUNT s 1 1 BYTE", int(6)),
                ("BITCOUNT s 5 30 BIT", int(17)),
                ("BITCOUNT s -30 -5 bit", int(14)),
                ("BITCOUNT s -1 -2", int(0)),
                ("BITCOUNT s 0 100", int(26)),
                ("BITCOUNT nokey 0", int(0)),
                ("BITCOUNT s 0", err("ERR syntax error")),
                ("BITCOUNT s 0 1 foo", err("ERR syntax error")),
                ("BITCOUNT s 0 1 bit x", err("ERR syntax error")),
                ("BITCOUNT s a b", err(NOT_INT)),
                ("SET i 12345", OK.to_vec()),
                ("BITCOUNT i", int(17)),
                ("BITPOS p 0", int(12)),
                ("BITPOS p 1", int(0)),
                ("BITPOS p 1 2", int(-1)),
                ("BITPOS p 0 0 -1", int(12)),
                ("BITPOS p 1 7 15 BIT", int(7)),
                ("BITPOS p 0 7 15 BIT", int(12)),
                ("BITPOS p 0 0 7 BIT", int(-1)),
                ("BITPOS p 1 -1 -1 BIT", int(-1)),
                ("BITPOS ones 0", int(16)),
                ("BITPOS ones 0 0 -1", int(-1)),
                ("BITPOS ones 0 1", int(16)),
                ("BITPOS ones 0 3 10 bit", int(-1)),
                ("BITPOS zeros 1", int(-1)),
                ("BITPOS zeros 0 1 -1 bit", int(1)),
                ("BITPOS nokey 1", int(-1)),
                ("BITPOS nokey 0", int(0)),
                ("BITPOS p 2", err("ERR The bit argument must be 1 or 0.")),
                ("BITPOS p x", err(NOT_INT)),
                ("BITPOS p 1 0 -1 foo", err("ERR syntax error")),
            ],
        );
    });
}

#[test]
fn bitop_with_keys_on_different_shards() {
    for_each_shard_count(&[], |server| {
        let keys = spread_keys("bitop", 4, server.shards);
        let (dest, a, b, c) = (&keys[0], &keys[1], &keys[2], &keys[3]);
        let mut raw = server.raw();
        assert_eq!(raw.call(&[b"SET", a.as_bytes(), b"\x0f\xff\x01"]), OK);
        assert_eq!(raw.call(&[b"SET", b.as_bytes(), b"\xf1\x0f"]), OK);
        expect_all(
            &mut raw,
            server.shards,
            &[
                (&format!("BITOP AND {dest} {a} {b}"), int(3)),
                (&format!("GET {dest}"), bulk(&[0x01, 0x0f, 0x00])),
                (&format!("BITOP OR {dest} {a} {b} {c}"), int(3)),
                (&format!("GET {dest}"), bulk(&[0xff, 0xff, 0x01])),
                (&format!("BITOP XOR {dest} {a} {b}"), int(3)),
                (&format!("GET {dest}"), bulk(&[0xfe, 0xf0, 0x01])),
                (&format!("BITOP NOT {dest} {b}"), int(2)),
                (&format!("GET {dest}"), bulk(&[0x0e, 0xf0])),
                // The destination may be a source.
                (&format!("BITOP NOT {a} {a}"), int(3)),
                (&format!("GET {a}"), bulk(&[0xf0, 0x00, 0xfe])),
                (
                    &format!("BITOP NOT {dest} {a} {b}"),
                    err("ERR BITOP NOT must be called with a single source key."),
                ),
                (&format!("BITOP NAND {dest} {a}"), err("ERR syntax error")),
                // Only empty sources: the destination is deleted.
                (&format!("BITOP AND {dest} {c} nokey"), int(0)),
                (&format!("EXISTS {dest}"), int(0)),
            ],
        );
    });
}

#[test]
fn bitfield_operations_and_overflow() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let type_error =
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
        expect_all(
            &mut raw,
            server.shards,
            &[
                ("BITFIELD f SET i8 0 100 GET i8 0", array(&[int(0), int(100)])),
                ("BITFIELD f INCRBY i8 0 100", array(&[int(-56)])),
                ("BITFIELD f OVERFLOW SAT INCRBY i8 0 -100", array(&[int(-128)])),
                ("BITFIELD f OVERFLOW FAIL INCRBY i8 0 -1", array(&[NULL.to_vec()])),
                ("BITFIELD f GET i8 0", array(&[int(-128)])),
                ("BITFIELD f OVERFLOW WRAP INCRBY u8 0 300", array(&[int(172)])),
                (
                    "BITFIELD f SET u8 #1 255 GET u8 #1 GET u4 8",
                    array(&[int(0), int(255), int(15)]),
                ),
                (
                    "BITFIELD f OVERFLOW SAT SET u8 0 -5 SET i4 0 100",
                    array(&[int(172), int(-1)]),
                ),
                ("BITFIELD f OVERFLOW FAIL SET u2 0 5", array(&[NULL.to_vec()])),
                (
                    "BITFIELD g SET i64 0 -1 GET u63 1 INCRBY i64 0 -9223372036854775808",
                    array(&[int(0), int(9223372036854775807), int(9223372036854775807)]),
                ),
                (
                    "BITFIELD h INCRBY u2 100 1 OVERFLOW SAT INCRBY u2 102 1 INCRBY u2 102 1 INCRBY u2 102 1",
                    array(&[int(1), int(1), int(2), int(3)]),
                ),
                ("STRLEN h", int(13)),
                ("BITFIELD nokey GET u8 0", array(&[int(0)])),
                ("BITFIELD nokey", array(&[])),
                ("EXISTS nokey", int(0)),
                ("BITFIELD_RO f GET u8 0", array(&[int(127)])),
                (
                    "BITFIELD_RO f SET u8 0 1",
                    err("ERR BITFIELD_RO only supports the GET subcommand"),
                ),
                ("BITFIELD f GET u64 0", err(type_error)),
                ("BITFIELD f GET i65 0", err(type_error)),
                ("BITFIELD f GET I8 0", err(type_error)),
                ("BITFIELD f GET u0 0", err(type_error)),
                ("BITFIELD f OVERFLOW foo", err("ERR Invalid OVERFLOW type specified")),
                ("BITFIELD f foo", err("ERR syntax error")),
                ("BITFIELD f GET u8", err("ERR syntax error")),
                ("BITFIELD f SET u8 0 x", err(NOT_INT)),
                ("BITFIELD f GET u8 -1", err(BIT_OFFSET)),
                ("BITFIELD f GET u8 #-1", err(BIT_OFFSET)),
                ("BITFIELD f GET u8 4294967296", err(BIT_OFFSET)),
            ],
        );
    });
}
