//! Intset: Redis's sorted array of distinct integers used for small all-integer sets.
//!
//! Layout: encoding (u32 LE: 2, 4 or 8 bytes per value), length (u32 LE),
//! then `length` little-endian signed values in strictly ascending order.

const HEADER: usize = 8;

/// Decodes an intset, rejecting bad encodings, a size that disagrees with the
/// header, and values that are not strictly ascending (as Redis's deep check does).
/// An empty intset is accepted here; Redis's RDB loader treats it as corrupt,
/// so callers loading RDB files should reject it themselves.
pub fn intset_decode(blob: &[u8]) -> Option<Vec<i64>> {
    let enc = u32::from_le_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(enc, 2 | 4 | 8) || count.checked_mul(enc)? != blob.len() - HEADER {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for chunk in blob[HEADER..].chunks_exact(enc) {
        let mut raw = [0u8; 8];
        raw[..enc].copy_from_slice(chunk);
        // Shift the value to the top and back to sign-extend from `enc` bytes.
        let shift = 64 - 8 * enc as u32;
        let v = (i64::from_le_bytes(raw) << shift) >> shift;
        if out.last().is_some_and(|&prev| prev >= v) {
            return None;
        }
        out.push(v);
    }
    Some(out)
}

/// Encodes values that the caller has already sorted and deduplicated, using
/// the narrowest width that holds every value, as Redis does.
pub fn intset_encode(sorted_values: &[i64]) -> Vec<u8> {
    let enc: usize = if sorted_values.iter().any(|&v| i32::try_from(v).is_err()) {
        8
    } else if sorted_values.iter().any(|&v| i16::try_from(v).is_err()) {
        4
    } else {
        2
    };
    let mut out = Vec::with_capacity(HEADER + enc * sorted_values.len());
    out.extend_from_slice(&(enc as u32).to_le_bytes());
    out.extend_from_slice(&(sorted_values.len() as u32).to_le_bytes());
    for v in sorted_values {
        out.extend_from_slice(&v.to_le_bytes()[..enc]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{dump_body, fuzz, hex, rdb_string, Rng};

    #[test]
    fn round_trips() {
        let mut rng = Rng::new(0x1257);
        for _ in 0..500 {
            let bits = [8, 16, 17, 32, 33, 64][rng.below(6) as usize];
            let mut vals: Vec<i64> = (0..rng.below(50)).map(|_| (rng.next() as i64) >> (64 - bits)).collect();
            vals.sort_unstable();
            vals.dedup();
            let blob = intset_encode(&vals);
            assert_eq!(intset_decode(&blob), Some(vals), "seed {:#x}", rng.seed);
        }
        for (v, enc) in [(i16::MIN as i64, 2), (32768, 4), (i32::MIN as i64, 4), (-2147483649, 8)] {
            assert_eq!(intset_encode(&[v])[0], enc);
        }
    }

    #[test]
    fn redis_fixtures() {
        // DUMP of `SADD s 1 2 3`, `SADD big 70000 1`, `SADD huge 5000000000 -3`
        // from Redis 7.0.15: type 11 (intset) followed by an RDB string.
        let cases: [(&str, &[i64]); 3] = [
            ("0b0e02000000030000000100020003000a00a5025ce26d6e4d1b", &[1, 2, 3]),
            ("0b10040000000200000001000000701101000a002735436efd6656c4", &[1, 70000]),
            (
                "0b180800000002000000fdffffffffffffff00f2052a010000000a00a372bd64a870e044",
                &[-3, 5_000_000_000],
            ),
        ];
        for (dump, want) in cases {
            let dump = hex(dump);
            let (ty, mut cur) = dump_body(&dump);
            assert_eq!(ty, 11);
            let blob = rdb_string(&mut cur);
            assert_eq!(intset_decode(&blob).as_deref(), Some(want));
            assert_eq!(intset_encode(want), blob);
        }
    }

    #[test]
    fn malformed() {
        assert_eq!(intset_decode(&[]), None);
        assert_eq!(intset_decode(&hex("0300000000000000")), None); // bad encoding
        assert_eq!(intset_decode(&hex("0200000001000000")), None); // short
        assert_eq!(intset_decode(&hex("02000000020000000200010000")), None); // unsorted
        assert_eq!(intset_decode(&hex("020000000200000001000100")), None); // duplicate
        assert_eq!(intset_decode(&hex("04000000ffffffff")), None); // huge count
        fuzz(&intset_encode(&[-5, 0, 9, 40000]), 0x15, |b| intset_decode(b).is_some());
    }
}
