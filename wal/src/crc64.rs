//! CRC-64 with the Jones polynomial, the checksum Redis appends to RDB files and DUMP payloads.

/// The Jones polynomial 0xad93d23594c935a9 with its bits reversed, because
/// Redis runs the CRC in reflected (LSB-first) form with zero init and no final xor.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

/// Eight 256-entry tables for slice-by-8: table `k` advances a byte that sits
/// `k` positions before the end of an 8-byte block, so one block costs eight lookups.
static TABLES: [[u64; 256]; 8] = build_tables();

const fn build_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = t[0][(prev & 0xff) as usize] ^ (prev >> 8);
            i += 1;
        }
        k += 1;
    }
    t
}

/// Continues the CRC `crc` over `data`; start with 0, as Redis does.
pub fn crc64(crc: u64, data: &[u8]) -> u64 {
    let mut crc = crc;
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut word = [0u8; 8];
        word.copy_from_slice(block);
        let x = crc ^ u64::from_le_bytes(word);
        crc = TABLES[7][(x & 0xff) as usize]
            ^ TABLES[6][((x >> 8) & 0xff) as usize]
            ^ TABLES[5][((x >> 16) & 0xff) as usize]
            ^ TABLES[4][((x >> 24) & 0xff) as usize]
            ^ TABLES[3][((x >> 32) & 0xff) as usize]
            ^ TABLES[2][((x >> 40) & 0xff) as usize]
            ^ TABLES[1][((x >> 48) & 0xff) as usize]
            ^ TABLES[0][(x >> 56) as usize];
    }
    for &b in blocks.remainder() {
        crc = TABLES[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{hex, Rng};

    /// Bit-at-a-time reference, independent of the tables.
    fn crc64_slow(mut crc: u64, data: &[u8]) -> u64 {
        for &b in data {
            crc ^= b as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY_REFLECTED
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn check_value() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
        assert_eq!(crc64(0, b""), 0);
    }

    #[test]
    fn matches_bitwise_and_is_incremental() {
        let mut rng = Rng::new(0x05ee_dc64);
        for _ in 0..200 {
            let data = rng.some_bytes(100);
            let split = rng.below(data.len() as u64 + 1) as usize;
            let whole = crc64(0, &data);
            assert_eq!(whole, crc64_slow(0, &data), "seed {:#x}", rng.seed);
            assert_eq!(whole, crc64(crc64(0, &data[..split]), &data[split..]));
        }
    }

    #[test]
    fn redis_dump_payload_checksum() {
        // `DUMP s` from Redis 7.0.15 after `SADD s 1 2 3`; the last 8 bytes
        // are the little-endian CRC64 of everything before them.
        let dump = hex("0b0e02000000030000000100020003000a00a5025ce26d6e4d1b");
        let (body, tail) = dump.split_at(dump.len() - 8);
        assert_eq!(crc64(0, body).to_le_bytes(), tail);
    }
}
