//! Ziplist decoding, read-only: the pre-7.0 compact encoding that Redis 7 still loads from old RDB files.
//!
//! Layout: zlbytes (u32 LE), zltail (u32 LE, offset of the last entry),
//! zllen (u16 LE, 0xFFFF = unknown), entries, then 0xFF. Each entry starts
//! with the previous entry's size (one byte below 254, else 0xFE and a u32 LE),
//! then an encoding byte that holds either a string length or an integer type.

use crate::listpack::LpEntry;

const HEADER: usize = 10;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 0xFE;

/// Decodes and validates a ziplist the way Redis's deep integrity check does:
/// sizes must agree with the header, every prevlen must equal the previous
/// entry's size, zltail must point at the last entry and a known count must match.
pub fn ziplist_decode(blob: &[u8]) -> Option<Vec<LpEntry<'_>>> {
    let u32_at =
        |i: usize| -> Option<usize> { Some(u32::from_le_bytes(blob.get(i..i + 4)?.try_into().ok()?) as usize) };
    if blob.len() < HEADER + 1 || u32_at(0)? != blob.len() || blob[blob.len() - 1] != END {
        return None;
    }
    let tail = u32_at(4)?;
    let count = u16::from_le_bytes([blob[8], blob[9]]);
    let end = blob.len() - 1;
    if tail > end {
        return None;
    }
    // Entries take at least two bytes, which bounds the preallocation.
    let mut out = Vec::with_capacity((count as usize).min((end - HEADER) / 2));
    let mut pos = HEADER;
    let mut prev: Option<(usize, usize)> = None; // (offset, size) of the previous entry
    while blob[pos] != END {
        let e = &blob[pos..end];
        let (prevlen, p) = if e[0] < BIG_PREVLEN {
            (e[0] as usize, 1)
        } else {
            (u32::from_le_bytes(e.get(1..5)?.try_into().ok()?) as usize, 5)
        };
        if prevlen != prev.map_or(0, |(_, size)| size) {
            return None;
        }
        let (entry, size) = decode_entry(e, p)?;
        out.push(entry);
        prev = Some((pos, size));
        pos += size;
    }
    if pos != end || prev.is_some_and(|(off, _)| off != tail) || (count != u16::MAX && count as usize != out.len()) {
        return None;
    }
    Some(out)
}

/// Decodes the entry whose encoding byte sits at `e[p]`; returns it with the
/// entry's total size. Slicing through `get` keeps it inside `e`, which ends
/// before the terminator.
fn decode_entry(e: &[u8], p: usize) -> Option<(LpEntry<'_>, usize)> {
    let enc = *e.get(p)?;
    let string = |hdr: usize, len: usize| {
        let start = p + hdr;
        let stop = start.checked_add(len)?;
        Some((LpEntry::Str(e.get(start..stop)?), stop))
    };
    // Integers are little endian; `bits` is the width to sign-extend from.
    let int = |n: usize| {
        let raw = e.get(p + 1..p + 1 + n)?;
        let u = raw.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64);
        let shift = 64 - 8 * n as u32;
        Some((LpEntry::Int(((u << shift) as i64) >> shift), p + 1 + n))
    };
    match enc {
        0x00..=0x3F => string(1, (enc & 0x3F) as usize),
        0x40..=0x7F => string(2, ((enc as usize & 0x3F) << 8) | *e.get(p + 1)? as usize),
        // Redis ignores the low six bits of the 32-bit string marker, so we do too.
        0x80..=0xBF => string(5, u32::from_be_bytes(e.get(p + 1..p + 5)?.try_into().ok()?) as usize),
        0xC0 => int(2),
        0xD0 => int(4),
        0xE0 => int(8),
        0xF0 => int(3),
        0xFE => int(1),
        0xF1..=0xFD => Some((LpEntry::Int((enc & 0x0F) as i64 - 1), p + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{fuzz, hex, Rng};

    /// Test-only encoder following ziplist.c's choice of encodings.
    fn build(entries: &[LpEntry]) -> Vec<u8> {
        let mut out = vec![0u8; HEADER];
        let (mut prev, mut tail) = (0usize, HEADER);
        for e in entries {
            tail = out.len();
            if prev < 254 {
                out.push(prev as u8);
            } else {
                out.push(0xFE);
                out.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match *e {
                LpEntry::Int(v @ 0..=12) => out.push(0xF1 + v as u8),
                LpEntry::Int(v) => {
                    let (tag, n) = match v {
                        -128..=127 => (0xFE, 1),
                        -32768..=32767 => (0xC0, 2),
                        -8_388_608..=8_388_607 => (0xF0, 3),
                        -2_147_483_648..=2_147_483_647 => (0xD0, 4),
                        _ => (0xE0, 8),
                    };
                    out.push(tag);
                    out.extend_from_slice(&v.to_le_bytes()[..n]);
                }
                LpEntry::Str(s) => {
                    let l = s.len();
                    if l <= 0x3F {
                        out.push(l as u8);
                    } else if l <= 0x3FFF {
                        out.extend_from_slice(&[0x40 | (l >> 8) as u8, l as u8]);
                    } else {
                        out.push(0x80);
                        out.extend_from_slice(&(l as u32).to_be_bytes());
                    }
                    out.extend_from_slice(s);
                }
            }
            prev = out.len() - tail;
        }
        out.push(END);
        let total = out.len() as u32;
        out[0..4].copy_from_slice(&total.to_le_bytes());
        out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        let count = entries.len().min(0xFFFF) as u16;
        out[8..10].copy_from_slice(&count.to_le_bytes());
        out
    }

    /// Hand-assembled from ziplist.c's layout: "a", 12 (4-bit immediate),
    /// -2 (int8), 300000 (int24), "hello".
    const HAND: &str = "1f00000017000000050000016103fd02fefe03f0e09304050568656c6c6fff";

    #[test]
    fn hand_built_fixture() {
        use LpEntry::*;
        let want = vec![Str(b"a"), Int(12), Int(-2), Int(300000), Str(b"hello")];
        assert_eq!(ziplist_decode(&hex(HAND)), Some(want.clone()));
        assert_eq!(build(&want), hex(HAND));
        // Empty ziplist as ziplistNew makes it: tail points at the terminator.
        assert_eq!(ziplist_decode(&hex("0b0000000a0000000000ff")), Some(vec![]));
    }

    #[test]
    fn wide_fixture() {
        // int16/32/64 and a 300-byte string (14-bit length, so the next
        // entry needs a 5-byte prevlen), checked byte by byte.
        let long = [b'z'; 300];
        let entries = [
            LpEntry::Int(-300),
            LpEntry::Int(1 << 30),
            LpEntry::Str(&long),
            LpEntry::Int(i64::MIN),
        ];
        let blob = build(&entries);
        assert_eq!(&blob[10..14], &hex("00c0d4fe"));
        assert_eq!(&blob[14..20], &hex("04d000000040"));
        assert_eq!(&blob[20..23], &hex("06412c"));
        assert_eq!(&blob[323..329], &hex("fe2f010000e0"));
        assert_eq!(ziplist_decode(&blob).as_deref(), Some(&entries[..]));
    }

    #[test]
    fn round_trips() {
        let mut rng = Rng::new(0x2191);
        for _ in 0..300 {
            let strs: Vec<Vec<u8>> = (0..rng.below(30))
                .map(|_| {
                    let max = [10, 100, 300, 20000][rng.below(4) as usize];
                    rng.some_bytes(max)
                })
                .collect();
            let entries: Vec<LpEntry> = strs
                .iter()
                .map(|s| {
                    if rng.below(2) == 0 {
                        LpEntry::Str(s)
                    } else {
                        LpEntry::Int((rng.next() as i64) >> rng.below(64))
                    }
                })
                .collect();
            let blob = build(&entries);
            assert_eq!(ziplist_decode(&blob), Some(entries), "seed {:#x}", rng.seed);
        }
    }

    #[test]
    fn malformed() {
        let good = hex(HAND);
        for (i, v) in [
            (0, 0x20),
            (4, 0x12),
            (8, 4),
            (13, 4),
            (14, 0xF0),
            (14, 0xC1),
            (16, 0xFF),
        ] {
            let mut bad = good.clone();
            bad[i] = v;
            assert_eq!(ziplist_decode(&bad), None, "byte {i} = {v:#x}");
        }
        let mut unknown = good.clone();
        unknown[8..10].copy_from_slice(&[0xFF, 0xFF]);
        assert_eq!(ziplist_decode(&unknown).map(|v| v.len()), Some(5));
        fuzz(&good, 0x3, |b| ziplist_decode(b).is_some());
        let long = [b'q'; 400];
        fuzz(
            &build(&[LpEntry::Str(&long), LpEntry::Int(7), LpEntry::Int(-70000)]),
            0x4,
            |b| ziplist_decode(b).is_some(),
        );
    }
}
