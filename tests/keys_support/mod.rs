//! Helpers shared by the keyspace and expiry tests: Tessera's key placement
//! (CRC16 slot, then the fixed slot -> shard table), to pick keys that land
//! on different shards.

#![allow(dead_code)]

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The shard owning `key` (keys without hash tags only).
pub fn shard_of(key: &str, shards: usize) -> usize {
    let slot = (crc16(key.as_bytes()) & 16383) as usize;
    slot * shards / 16384
}

/// `count` keys `<prefix>N`, the first one on shard 0 and each next one on
/// another shard than its predecessor (when there are several shards).
pub fn keys_on_alternating_shards(prefix: &str, count: usize, shards: usize) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut n = 0;
    while keys.len() < count {
        let key = format!("{prefix}{n}");
        n += 1;
        let ok = match keys.last() {
            None => shards == 1 || shard_of(&key, shards) == 0,
            Some(last) => shards == 1 || shard_of(&key, shards) != shard_of(last, shards),
        };
        if ok {
            keys.push(key);
        }
    }
    keys
}
