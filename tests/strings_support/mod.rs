//! Helpers shared by the string and bitmap integration tests: key placement
//! (so tests can pick keys that live on different shards) and RESP reply
//! builders.

#![allow(dead_code)]

use crate::common::shard_of;

/// `n` keys named `{prefix}{i}` that live on pairwise different shards when
/// there are at least `n` shards (otherwise spread as widely as possible).
pub fn spread_keys(prefix: &str, n: usize, shards: usize) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut used: Vec<usize> = Vec::new();
    let mut i = 0;
    while keys.len() < n {
        let key = format!("{prefix}{i}");
        let shard = shard_of(key.as_bytes(), shards);
        if !used.contains(&shard) || used.len() >= shards {
            if used.len() >= shards {
                used.clear();
            }
            used.push(shard);
            keys.push(key);
        }
        i += 1;
    }
    keys
}

pub fn bulk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

pub fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

pub fn err(message: &str) -> Vec<u8> {
    format!("-{message}\r\n").into_bytes()
}

pub const NULL: &[u8] = b"$-1\r\n";
pub const OK: &[u8] = b"+OK\r\n";

pub fn array(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

/// Splits a command written as space-separated words.
pub fn words(command: &str) -> Vec<Vec<u8>> {
    command.split(' ').map(|w| w.as_bytes().to_vec()).collect()
}
