//! Key placement: slot = CRC16(key or its {hash tag}) mod 16384, exactly as
//! Redis Cluster; slot -> shard by a fixed table (contiguous ranges).

use cores::ShardId;

pub const SLOTS: usize = 16384;

/// CRC16-CCITT (XModem), the polynomial Redis Cluster uses.
pub fn crc16(data: &[u8]) -> u16 {
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

/// The hash slot of a key, honouring `{hash tags}` as Redis Cluster does: the
/// first '{' followed by a non-empty run before the next '}'.
pub fn key_slot(key: &[u8]) -> u16 {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return crc16(&key[open + 1..open + 1 + len]) & (SLOTS as u16 - 1);
            }
        }
    }
    crc16(key) & (SLOTS as u16 - 1)
}

/// The fixed slot -> shard table: shard i owns a contiguous slot range.
pub fn slot_shard(slot: u16, shards: usize) -> ShardId {
    debug_assert!((slot as usize) < SLOTS);
    ShardId(((slot as usize * shards) / SLOTS) as u16)
}

/// The shard owning a key.
pub fn key_shard(key: &[u8], shards: usize) -> ShardId {
    if shards == 1 {
        return ShardId(0);
    }
    slot_shard(key_slot(key), shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_cluster_slots() {
        // Values from `CLUSTER KEYSLOT` on a real Redis.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") & 16383);
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn table_covers_every_shard() {
        for shards in [1usize, 2, 3, 4, 7] {
            let mut seen = vec![false; shards];
            for slot in 0..SLOTS as u16 {
                seen[slot_shard(slot, shards).0 as usize] = true;
            }
            assert!(seen.iter().all(|&s| s));
        }
    }
}
