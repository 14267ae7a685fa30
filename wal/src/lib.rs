//! Tessera's durability formats: Redis's RDB encodings (CRC64, LZF, intset,
//! listpack, ziplist, zipmap and the RDB primitives used by snapshots and
//! DUMP/RESTORE) and, with issue 6, the per-shard write-ahead log.

pub mod crc64;
pub mod intset;
pub mod listpack;
pub mod log;
pub mod lzf;
pub mod rdb;
pub mod ziplist;
pub mod zipmap;

/// Helpers shared by the unit tests: a seeded PRNG and a reader for DUMP payloads.
#[cfg(test)]
pub(crate) mod testutil {
    /// xorshift64*; the starting seed is kept so failures can report it.
    pub struct Rng {
        pub seed: u64,
        state: u64,
    }

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng { seed, state: seed | 1 }
        }
        pub fn next(&mut self) -> u64 {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub fn below(&mut self, n: u64) -> u64 {
            if n == 0 {
                0
            } else {
                self.next() % n
            }
        }
        pub fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
        /// Random bytes of a random length below `max`.
        pub fn some_bytes(&mut self, max: u64) -> Vec<u8> {
            let len = self.below(max) as usize;
            self.bytes(len)
        }
    }

    pub fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Checks the DUMP trailer (RDB version 10 and CRC64) and returns the
    /// type byte plus a cursor over the serialized value.
    pub fn dump_body(dump: &[u8]) -> (u8, &[u8]) {
        let (body, crc) = dump.split_at(dump.len() - 8);
        assert_eq!(crate::crc64::crc64(0, body).to_le_bytes(), crc);
        let (value, version) = body.split_at(body.len() - 2);
        assert_eq!(version, [10, 0]);
        (value[0], &value[1..])
    }

    /// Reads an RDB length; returns (value, is_special_encoding).
    pub fn rdb_len(cur: &mut &[u8]) -> (u64, bool) {
        let b = cur[0];
        *cur = &cur[1..];
        match b >> 6 {
            0 => ((b & 0x3f) as u64, false),
            1 => {
                let v = (((b & 0x3f) as u64) << 8) | cur[0] as u64;
                *cur = &cur[1..];
                (v, false)
            }
            2 => {
                let n = if b == 0x80 { 4 } else { 8 };
                let v = cur[..n].iter().fold(0u64, |a, &x| (a << 8) | x as u64);
                *cur = &cur[n..];
                (v, false)
            }
            _ => ((b & 0x3f) as u64, true),
        }
    }

    /// Reads an RDB string, inflating it if it was LZF-compressed.
    pub fn rdb_string(cur: &mut &[u8]) -> Vec<u8> {
        match rdb_len(cur) {
            (3, true) => {
                let clen = rdb_len(cur).0 as usize;
                let len = rdb_len(cur).0 as usize;
                let out = crate::lzf::decompress(&cur[..clen], len).expect("lzf");
                *cur = &cur[clen..];
                out
            }
            (n, false) => {
                let out = cur[..n as usize].to_vec();
                *cur = &cur[n as usize..];
                out
            }
            other => panic!("unexpected integer-encoded string {other:?}"),
        }
    }

    /// Feeds every prefix and many random corruptions of `blob` to `decode`;
    /// the test passes if nothing panics.
    pub fn fuzz(blob: &[u8], seed: u64, decode: impl Fn(&[u8]) -> bool) {
        for i in 0..blob.len() {
            let _ = decode(&blob[..i]);
        }
        let mut rng = Rng::new(seed);
        for _ in 0..2000 {
            let mut b = blob.to_vec();
            for _ in 0..=rng.below(3) {
                let i = rng.below(b.len() as u64) as usize;
                if let Some(x) = b.get_mut(i) {
                    *x = if rng.below(2) == 0 {
                        rng.next() as u8
                    } else {
                        *x ^ (1 << rng.below(8))
                    };
                }
            }
            let _ = decode(&b);
        }
    }
}
