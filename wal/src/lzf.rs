//! LZF compression in liblzf's stream format, which Redis uses for compressed RDB strings.
//!
//! The stream is a sequence of chunks, each opened by a control byte:
//! `000LLLLL` is followed by L+1 literal bytes; `LLLooooo oooooooo` copies
//! L+2 bytes from distance o+1 back in the output; when L is 7 an extra byte
//! between the two holds the length minus 9.

const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 7 + 255 + 2;
/// The best ratio a stream can reach: three input bytes expand to MAX_MATCH
/// output bytes. Preallocation is capped with it so a lying length cannot
/// make us reserve memory the input could never fill.
const MAX_RATIO: usize = MAX_MATCH / 3 + 1;
const HASH_BITS: u32 = 14;

/// Inflates `input`, which must expand to exactly `out_len` bytes.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len.min(input.len().saturating_mul(MAX_RATIO)));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < MAX_LIT {
            let lit = input.get(i..i + ctrl + 1)?;
            if out.len() + lit.len() > out_len {
                return None;
            }
            out.extend_from_slice(lit);
            i += lit.len();
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let len = len + 2;
            let dist = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            if dist > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - dist;
            if dist >= len {
                out.extend_from_within(start..start + len);
            } else {
                // The source overlaps the bytes being written (this is how LZF
                // encodes runs), so each byte must be copied after the previous one.
                for k in 0..len {
                    let b = out[start + k];
                    out.push(b);
                }
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// Compresses `input`; returns None when the result would not be smaller,
/// since Redis stores such strings uncompressed.
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(n);
    // Last position (plus one, so zero means empty) where each 3-byte hash was seen.
    let mut table = vec![0usize; 1 << HASH_BITS];
    let hash = |p: usize| {
        let v = (input[p] as u32) << 16 | (input[p + 1] as u32) << 8 | input[p + 2] as u32;
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    };
    let mut lit_start = 0;
    let mut i = 0;
    while i + MIN_MATCH <= n {
        let h = hash(i);
        let cand = table[h];
        table[h] = i + 1;
        if cand > 0 && i - cand < MAX_OFF && input[cand - 1..cand + 2] == input[i..i + 3] {
            let r = cand - 1;
            let max = MAX_MATCH.min(n - i);
            let mut m = MIN_MATCH;
            while m < max && input[r + m] == input[i + m] {
                m += 1;
            }
            flush_literals(&mut out, &input[lit_start..i]);
            let off = i - r - 1;
            let len = m - 2;
            if len < 7 {
                out.push(((len << 5) | (off >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (off >> 8)) as u8);
                out.push((len - 7) as u8);
            }
            out.push(off as u8);
            // Index the positions the match skipped so later data can refer to them.
            for p in i + 1..(i + m).min(n.saturating_sub(2)) {
                table[hash(p)] = p + 1;
            }
            i += m;
            lit_start = i;
        } else {
            i += 1;
        }
        if out.len() >= n {
            return None;
        }
    }
    flush_literals(&mut out, &input[lit_start..]);
    (out.len() < n).then_some(out)
}

fn flush_literals(out: &mut Vec<u8>, lits: &[u8]) {
    for chunk in lits.chunks(MAX_LIT) {
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{dump_body, fuzz, hex, rdb_string, Rng};

    fn round_trip(data: &[u8], seed: u64) {
        if let Some(c) = compress(data) {
            assert!(c.len() < data.len(), "seed {seed:#x}");
            assert_eq!(decompress(&c, data.len()).as_deref(), Some(data), "seed {seed:#x}");
            assert_eq!(decompress(&c, data.len() + 1), None);
            assert_eq!(decompress(&c, data.len() - 1), None);
        }
    }

    #[test]
    fn round_trips() {
        let mut rng = Rng::new(0x1f2f_3f4f);
        for _ in 0..300 {
            let len = rng.below(20_000) as usize;
            // Small alphabets and repeated slices give the matcher work to do.
            let alpha = 1 + rng.below(20) as u8;
            let mut data: Vec<u8> = (0..len).map(|_| b'a' + rng.below(alpha as u64) as u8).collect();
            if len > 300 && rng.below(2) == 0 {
                let at = rng.below(len as u64 - 300) as usize;
                let copy = data[at..at + 300].to_vec();
                data.extend_from_slice(&copy);
            }
            round_trip(&data, rng.seed);
        }
        round_trip(&vec![7u8; 100_000], 0);
        assert!(compress(&vec![7u8; 100_000]).unwrap().len() < 1300);
        assert_eq!(compress(b""), None);
        assert_eq!(compress(b"abc"), None);
        assert_eq!(compress(&Rng::new(9).bytes(1000)), None);
        assert_eq!(decompress(b"", 0), Some(vec![]));
    }

    #[test]
    fn decodes_redis_output() {
        // `DUMP str` where str = "abcdefghij" x10 + "hello world " x5:
        // type 0 (string), stored LZF-compressed by Redis 7.0.15.
        let dump = hex("00c32240a00a6162636465666768696a61e050090b68656c6c6f20776f726c6420\
             e0250b0164200a0022292b35872ef51f");
        let (ty, mut cur) = dump_body(&dump);
        assert_eq!(ty, 0);
        let mut want = b"abcdefghij".repeat(10);
        want.extend_from_slice(&b"hello world ".repeat(5));
        assert_eq!(rdb_string(&mut cur), want);
        assert!(cur.is_empty());
    }

    #[test]
    fn malformed_never_panics() {
        assert_eq!(decompress(&[0x20, 0x00], 3), None); // reference before start
        assert_eq!(decompress(&[0x05, b'a'], 6), None); // truncated literal
        assert_eq!(decompress(&[0x00, b'a', 0xe0], 20), None); // truncated long ref
        assert_eq!(decompress(&[0x00, b'a', 0x20, 0x00], usize::MAX), None);
        let data = b"the quick brown fox jumps over the lazy dog, the quick brown fox".repeat(4);
        let c = compress(&data).unwrap();
        fuzz(&c, 0xabcd, |b| decompress(b, data.len()).is_some());
    }
}
