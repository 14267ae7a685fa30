//! Zipmap decoding, read-only: the oldest small-hash encoding, still accepted in old RDB files.
//!
//! Layout: one count byte (254 = unknown), then per pair a key length, the
//! key, a value length, one "free" byte, the value and that many unused bytes,
//! and finally 0xFF. Lengths are one byte below 254, else 0xFE and a u32 LE.

const BIGLEN: u8 = 0xFE;
const END: u8 = 0xFF;

/// Decodes a zipmap into (field, value) pairs, validating as Redis's deep
/// integrity check does, and also requiring the terminator to be the last byte.
/// An empty zipmap is accepted here; Redis's RDB loader rejects it, so callers
/// loading RDB files should too.
pub fn zipmap_decode(blob: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let (&zmlen, body) = blob.split_first()?;
    if body.last() != Some(&END) {
        return None;
    }
    let end = body.len() - 1;
    // Each pair needs at least three bytes: two lengths and the free byte.
    let mut out = Vec::with_capacity((zmlen as usize).min(end / 3));
    let mut pos = 0;
    while body[pos] != END {
        let key = read_string(body, &mut pos, end)?;
        let val_len = read_len(body, &mut pos)?;
        let free = *body.get(pos)? as usize;
        let start = pos + 1;
        let val = body.get(start..start.checked_add(val_len)?)?;
        pos = start + val_len + free;
        if pos > end {
            return None;
        }
        out.push((key, val));
    }
    if pos != end || (zmlen != BIGLEN && zmlen as usize != out.len()) {
        return None;
    }
    Some(out)
}

/// Reads a length; lengths below 254 must use the one-byte form, as Redis checks.
fn read_len(body: &[u8], pos: &mut usize) -> Option<usize> {
    let b = *body.get(*pos)?;
    if b < BIGLEN {
        *pos += 1;
        return Some(b as usize);
    }
    if b != BIGLEN {
        return None;
    }
    let len = u32::from_le_bytes(body.get(*pos + 1..*pos + 5)?.try_into().ok()?) as usize;
    if len < BIGLEN as usize {
        return None;
    }
    *pos += 5;
    Some(len)
}

fn read_string<'a>(body: &'a [u8], pos: &mut usize, end: usize) -> Option<&'a [u8]> {
    let len = read_len(body, pos)?;
    let stop = pos.checked_add(len)?;
    if stop > end {
        return None;
    }
    let s = body.get(*pos..stop)?;
    *pos = stop;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{fuzz, hex, Rng};

    /// Test-only encoder; `free` unused bytes (filled with junk) follow each value.
    fn build(pairs: &[(Vec<u8>, Vec<u8>)], free: u8) -> Vec<u8> {
        let mut out = vec![if pairs.len() < 254 { pairs.len() as u8 } else { BIGLEN }];
        let len = |out: &mut Vec<u8>, l: usize| {
            if l < 254 {
                out.push(l as u8);
            } else {
                out.push(BIGLEN);
                out.extend_from_slice(&(l as u32).to_le_bytes());
            }
        };
        for (k, v) in pairs {
            len(&mut out, k.len());
            out.extend_from_slice(k);
            len(&mut out, v.len());
            out.push(free);
            out.extend_from_slice(v);
            out.extend(std::iter::repeat_n(0xAA, free as usize));
        }
        out.push(END);
        out
    }

    #[test]
    fn documented_example() {
        // The example spelled out in zipmap.c's layout comment.
        let blob = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        let want: Vec<(&[u8], &[u8])> = vec![(b"foo", b"bar"), (b"hello", b"world")];
        assert_eq!(zipmap_decode(blob), Some(want));
    }

    #[test]
    fn hand_built_free_and_big_lengths() {
        // "k" -> 300 x 'v' with 5-byte length, then "" -> "x" with 2 free bytes.
        let mut blob = hex("02016bfe2c01000000");
        blob.extend_from_slice(&[b'v'; 300]);
        blob.extend_from_slice(&hex("000102785a5aff"));
        let got = zipmap_decode(&blob).unwrap();
        assert_eq!(got, vec![(&b"k"[..], &[b'v'; 300][..]), (&b""[..], &b"x"[..])]);
    }

    #[test]
    fn round_trips() {
        let mut rng = Rng::new(0x21_9a_a9);
        for _ in 0..200 {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..rng.below(300))
                .map(|_| {
                    let k = rng.some_bytes(20);
                    let max = [10, 600][rng.below(2) as usize];
                    let v = rng.some_bytes(max);
                    (k, v)
                })
                .collect();
            let blob = build(&pairs, rng.below(5) as u8);
            let got = zipmap_decode(&blob).unwrap_or_else(|| panic!("seed {:#x}", rng.seed));
            let want: Vec<(&[u8], &[u8])> = pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
            assert_eq!(got, want, "seed {:#x}", rng.seed);
        }
    }

    #[test]
    fn malformed() {
        let good = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff".to_vec();
        for (i, v) in [(0, 3), (1, 0xFF), (5, 0x09), (6, 0x05), (10, 0x06)] {
            let mut bad = good.clone();
            bad[i] = v;
            assert_eq!(zipmap_decode(&bad), None, "byte {i} = {v:#x}");
        }
        // A short length written in the five-byte form is rejected.
        assert_eq!(zipmap_decode(&hex("01fe0100000061010062ff")), None);
        assert_eq!(zipmap_decode(&[]), None);
        assert_eq!(zipmap_decode(&[0, 0xFF]), Some(vec![]));
        fuzz(&good, 0x5, |b| zipmap_decode(b).is_some());
        fuzz(
            &build(&[(b"a".to_vec(), vec![1; 400]), (vec![], vec![])], 3),
            0x6,
            |b| zipmap_decode(b).is_some(),
        );
    }
}
