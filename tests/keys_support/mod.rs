//! Helpers shared by the keyspace and expiry tests: Tessera's key placement
//! (CRC16 slot, then the fixed slot -> shard table), to pick keys that land
//! on different shards.

#![allow(dead_code)]

use crate::common::shard_of;

/// `count` keys `<prefix>N`, the first one on shard 0 and each next one on
/// another shard than its predecessor (when there are several shards).
pub fn keys_on_alternating_shards(prefix: &str, count: usize, shards: usize) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut n = 0;
    while keys.len() < count {
        let key = format!("{prefix}{n}");
        n += 1;
        let ok = match keys.last() {
            None => shards == 1 || shard_of(key.as_bytes(), shards) == 0,
            Some(last) => shards == 1 || shard_of(key.as_bytes(), shards) != shard_of(last.as_bytes(), shards),
        };
        if ok {
            keys.push(key);
        }
    }
    keys
}
