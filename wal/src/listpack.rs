//! Listpack: Redis 7's compact sequence of string/integer entries, used by
//! small hashes, sorted sets, list nodes and streams.
//!
//! Layout: total bytes (u32 LE), entry count (u16 LE, 0xFFFF = unknown),
//! entries, then 0xFF. Each entry is an encoding byte (plus length or value
//! bytes), the payload, and a "backlen": the size of encoding+payload written
//! as a big-endian base-128 number whose continuation bits are set on every
//! byte except the first, so it can be read backwards from the next entry.

const HEADER: usize = 6;
const EOF: u8 = 0xFF;
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One listpack element, borrowing string bytes from the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpEntry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

/// Decodes and validates a listpack: the header size must equal the blob
/// length, every entry must be well formed with a correct backlen, the
/// terminator must be the last byte, and a known count must match.
pub fn listpack_decode(blob: &[u8]) -> Option<Vec<LpEntry<'_>>> {
    if blob.len() < HEADER + 1
        || u32::from_le_bytes(blob[0..4].try_into().ok()?) as usize != blob.len()
        || blob[blob.len() - 1] != EOF
    {
        return None;
    }
    let count = u16::from_le_bytes([blob[4], blob[5]]);
    let end = blob.len() - 1;
    // Every entry takes at least two bytes, which bounds the preallocation.
    let mut out = Vec::with_capacity((count as usize).min((end - HEADER) / 2));
    let mut pos = HEADER;
    while pos < end {
        let body = &blob[pos..end];
        let (entry, len) = decode_entry(body)?;
        let mut expect = [0u8; 5];
        let back = encode_backlen(&mut expect, len as u64);
        if body.get(len..len + back)? != &expect[..back] {
            return None;
        }
        out.push(entry);
        pos += len + back;
    }
    if count != COUNT_UNKNOWN && count as usize != out.len() {
        return None;
    }
    Some(out)
}

/// Reads one entry's encoding and payload; returns it with its size, backlen excluded.
fn decode_entry(b: &[u8]) -> Option<(LpEntry<'_>, usize)> {
    let b0 = *b.first()?;
    // Sign-extends the low `bits` of a little-endian integer field.
    let int = |n: usize, bits: u32| -> Option<(LpEntry<'_>, usize)> {
        let raw = b.get(1..1 + n)?;
        let u = raw.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64);
        let shift = 64 - bits;
        Some((LpEntry::Int(((u << shift) as i64) >> shift), 1 + n))
    };
    let string = |hdr: usize, len: usize| -> Option<(LpEntry<'_>, usize)> {
        let end = hdr.checked_add(len)?;
        Some((LpEntry::Str(b.get(hdr..end)?), end))
    };
    match b0 {
        0x00..=0x7F => Some((LpEntry::Int(b0 as i64), 1)),
        0x80..=0xBF => string(1, (b0 & 0x3F) as usize),
        0xC0..=0xDF => {
            let u = ((b0 as u64 & 0x1F) << 8) | *b.get(1)? as u64;
            Some((LpEntry::Int(((u << 51) as i64) >> 51), 2))
        }
        0xE0..=0xEF => string(2, ((b0 as usize & 0x0F) << 8) | *b.get(1)? as usize),
        0xF0 => string(5, u32::from_le_bytes(b.get(1..5)?.try_into().ok()?) as usize),
        0xF1 => int(2, 16),
        0xF2 => int(3, 24),
        0xF3 => int(4, 32),
        0xF4 => int(8, 64),
        _ => None,
    }
}

/// Writes the backlen for an entry of `len` bytes into `buf`, returning how
/// many bytes it takes. The thresholds copy Redis's, including its use of `<`
/// (so 16383 takes three bytes), because the bytes must match exactly.
fn encode_backlen(buf: &mut [u8; 5], len: u64) -> usize {
    let n = match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    for (i, slot) in buf[..n].iter_mut().enumerate() {
        let shift = 7 * (n - 1 - i);
        let cont = if i == 0 { 0 } else { 0x80 };
        *slot = ((len >> shift) & 0x7F) as u8 | cont;
    }
    n
}

/// Parses `s` as an integer only if Redis would store it as one: canonical
/// decimal (no sign other than a leading '-', no leading zeros, no "-0"),
/// at most 20 bytes, and within i64.
pub(crate) fn string_to_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Accumulate negatively so i64::MIN, whose magnitude exceeds i64::MAX, fits.
    let mut v: i64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_sub((d - b'0') as i64)?;
    }
    if neg {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// Builds a listpack entry by entry, choosing the same encodings Redis does,
/// so the output is byte-identical to what Redis would store.
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackWriter {
    pub fn new() -> Self {
        ListpackWriter {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// Appends a string, stored as an integer entry when it is a canonical integer.
    ///
    /// # Panics
    /// If `s` is longer than `u32::MAX` bytes, which the format cannot express.
    pub fn push_str(&mut self, s: &[u8]) {
        if let Some(v) = string_to_i64(s) {
            return self.push_int(v);
        }
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
        } else {
            let len = u32::try_from(len).expect("listpack string longer than 4 GiB");
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&len.to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.end_entry(start);
    }

    /// Appends an integer using the narrowest encoding that holds it.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let bytes = v.to_le_bytes();
        match v {
            0..=127 => self.buf.push(v as u8),
            -4096..=4095 => {
                let u = (v as u16) & 0x1FFF;
                self.buf.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
            }
            -32768..=32767 => self.push_fixed(0xF1, &bytes[..2]),
            -8_388_608..=8_388_607 => self.push_fixed(0xF2, &bytes[..3]),
            -2_147_483_648..=2_147_483_647 => self.push_fixed(0xF3, &bytes[..4]),
            _ => self.push_fixed(0xF4, &bytes),
        }
        self.end_entry(start);
    }

    /// Terminates the listpack and fills in the header.
    ///
    /// # Panics
    /// If the listpack exceeds `u32::MAX` bytes, which its header cannot express.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = u32::try_from(self.buf.len()).expect("listpack larger than 4 GiB");
        // Counts of 65535 and above are recorded as "unknown", as Redis does.
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }

    fn push_fixed(&mut self, tag: u8, le: &[u8]) {
        self.buf.push(tag);
        self.buf.extend_from_slice(le);
    }

    fn end_entry(&mut self, start: usize) {
        let mut back = [0u8; 5];
        let n = encode_backlen(&mut back, (self.buf.len() - start) as u64);
        self.buf.extend_from_slice(&back[..n]);
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{dump_body, fuzz, hex, rdb_len, rdb_string, Rng};

    /// The listpack of the single node of a quicklist-2 list DUMP (type 18).
    fn quicklist_node(dump: &[u8]) -> Vec<u8> {
        let (ty, mut cur) = dump_body(dump);
        assert_eq!(ty, 18);
        assert_eq!(rdb_len(&mut cur), (1, false)); // one node
        assert_eq!(rdb_len(&mut cur), (2, false)); // packed container
        let lp = rdb_string(&mut cur);
        assert!(cur.is_empty());
        lp
    }

    /// Decodes a Redis blob, checks it against the expected strings and
    /// checks that the writer reproduces the same bytes.
    fn check_fixture(blob: &[u8], items: &[&[u8]]) {
        let got = listpack_decode(blob).unwrap();
        assert_eq!(got.len(), items.len());
        for (e, s) in got.iter().zip(items) {
            match *e {
                LpEntry::Str(x) => assert_eq!(x, *s),
                LpEntry::Int(v) => assert_eq!(v.to_string().as_bytes(), *s),
            }
        }
        let mut w = ListpackWriter::new();
        items.iter().for_each(|s| w.push_str(s));
        assert_eq!(w.finish(), blob);
    }

    #[test]
    fn redis_list_fixture() {
        // `RPUSH l a 1 -2 300000 hello` then `DUMP l` on Redis 7.0.15.
        let dump = hex("1201021b1b00000005008161020101dffe02f2e09304048568656c6c6f06ff0a00eb4d1e7a98d35df8");
        check_fixture(&quicklist_node(&dump), &[b"a", b"1", b"-2", b"300000", b"hello"]);
    }

    #[test]
    fn redis_hash_and_zset_fixtures() {
        // `HSET h f v n 12` (type 16) and `ZADD z 1.5 a 2 b` (type 17): an RDB string holding the listpack.
        for (dump, ty, items) in [
            (
                "1012120000000400816602817602816e020c01ff0a0001369481d35b8974",
                16,
                &[&b"f"[..], b"v", b"n", b"12"],
            ),
            (
                "111414000000040081610283312e35048162020201ff0a00fa02b425af188763",
                17,
                &[&b"a"[..], b"1.5", b"b", b"2"],
            ),
        ] {
            let dump = hex(dump);
            let (t, mut cur) = dump_body(&dump);
            assert_eq!(t, ty);
            check_fixture(&rdb_string(&mut cur), items);
        }
    }

    /// A list exercising every encoding, stored LZF-compressed by Redis:
    /// RPUSH l2 -4096 4095 32767 -32768 8388607 -8388608 2147483647 -2147483648
    ///   i64::MAX i64::MIN 128 127 0 -1 007 +5 1.5 -0 9223372036854775808 ""
    ///   x*70 <200 letters> 4096 -4097 <5000 letters>
    const L2_DUMP: &str = "120102c340e9551e1f1e1500001900d00002cfff02f1ff7f03f1008003f2ffff7f04f200\
        008004f3ff200a0205f300200b0105f4200b4000027f09f4200f40001f8009c080027f010001dfff0283303037\
        04822b350383312e3504822d3003933917323233333732303336383534373735383038148001e04678e03c001c\
        48e0c861686f76636a7178656c737a676e7562697077646b7279666d74e0a5190e01caf1001003f1ffef03f088\
        130000e0a5bce1ad72e0ffb5e3a92ce1ffb9e1ffb9e5ff2de7bb08e3ffdbe3ffdbe3ffdbe3ffdbebb7e8e4ffdf\
        e4ffdfe4ffdfe4ffdfe4ffdff1b3cce5ffe3e5b9e302278dff0a00cea7586752e08bb1";

    fn letters(n: usize) -> Vec<u8> {
        (0..n).map(|i| b'a' + (i * 7 % 26) as u8).collect()
    }

    #[test]
    fn redis_all_encodings_fixture() {
        let lp = quicklist_node(&hex(L2_DUMP));
        let nums = "-4096 4095 32767 -32768 8388607 -8388608 2147483647 -2147483648 \
            9223372036854775807 -9223372036854775808 128 127 0 -1 007 +5 1.5 -0 9223372036854775808";
        let mut items: Vec<Vec<u8>> = nums.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        items.push(vec![]);
        items.push(vec![b'x'; 70]);
        items.push(letters(200));
        items.push(b"4096".to_vec());
        items.push(b"-4097".to_vec());
        items.push(letters(5000));
        let refs: Vec<&[u8]> = items.iter().map(|v| &v[..]).collect();
        check_fixture(&lp, &refs);
        let strs = listpack_decode(&lp).unwrap();
        assert_eq!(strs[14], LpEntry::Str(b"007"));
        assert_eq!(strs[17], LpEntry::Str(b"-0"));
        assert_eq!(strs[9], LpEntry::Int(i64::MIN));
    }

    #[test]
    fn canonical_integers() {
        for (s, v) in [("0", 0), ("-1", -1), ("9223372036854775807", i64::MAX)] {
            assert_eq!(string_to_i64(s.as_bytes()), Some(v));
        }
        assert_eq!(string_to_i64(b"-9223372036854775808"), Some(i64::MIN));
        let not_ints = "9223372036854775808 -9223372036854775809 00 01 -0 +1 - 1a 000000000000000000001";
        for s in not_ints.split(' ').chain(["", "1 "]) {
            assert_eq!(string_to_i64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn backlen_matches_reverse_varint() {
        let lens: [u64; 11] = [
            0, 1, 127, 128, 16382, 16383, 16384, 2097150, 2097151, 268435455, 4294967295,
        ];
        for len in lens {
            let mut buf = [0u8; 5];
            let n = encode_backlen(&mut buf, len);
            // Read it back from the last byte the way Redis walks backwards.
            let (mut v, mut shift) = (0u64, 0);
            for (i, &b) in buf[..n].iter().enumerate().rev() {
                v |= ((b & 0x7F) as u64) << shift;
                shift += 7;
                assert_eq!(b & 0x80 != 0, i != 0);
            }
            assert_eq!(v, len);
        }
    }

    #[test]
    fn round_trips() {
        let mut rng = Rng::new(0x11_57_ac_c0);
        for _ in 0..300 {
            let mut w = ListpackWriter::new();
            let mut want: Vec<(bool, Vec<u8>, i64)> = vec![];
            for _ in 0..rng.below(40) {
                match rng.below(4) {
                    0 => {
                        let v = (rng.next() as i64) >> rng.below(64);
                        w.push_int(v);
                        want.push((false, vec![], v));
                    }
                    1 => {
                        let v = (rng.next() as i64) >> rng.below(64);
                        w.push_str(v.to_string().as_bytes());
                        want.push((false, vec![], v));
                    }
                    _ => {
                        let len = [5, 70, 5000, 20000][rng.below(4) as usize];
                        let s: Vec<u8> = rng.some_bytes(len);
                        w.push_str(&s);
                        match string_to_i64(&s) {
                            Some(v) => want.push((false, vec![], v)),
                            None => want.push((true, s, 0)),
                        }
                    }
                }
            }
            let blob = w.finish();
            let got = listpack_decode(&blob).unwrap_or_else(|| panic!("seed {:#x}", rng.seed));
            assert_eq!(got.len(), want.len());
            for (g, (is_str, s, v)) in got.iter().zip(&want) {
                let expect = if *is_str { LpEntry::Str(s) } else { LpEntry::Int(*v) };
                assert_eq!(*g, expect, "seed {:#x}", rng.seed);
            }
        }
    }

    #[test]
    fn unknown_count() {
        let mut w = ListpackWriter::new();
        (0..70_000).for_each(|i| w.push_int(i % 100));
        let blob = w.finish();
        assert_eq!(&blob[4..6], &[0xFF, 0xFF]);
        assert_eq!(listpack_decode(&blob).map(|v| v.len()), Some(70_000));
        let empty = ListpackWriter::new().finish();
        assert_eq!(empty, [7, 0, 0, 0, 0, 0, 0xFF]);
        assert_eq!(listpack_decode(&empty), Some(vec![]));
    }

    #[test]
    fn malformed() {
        let good = hex("1b00000005008161020101dffe02f2e09304048568656c6c6f06ff");
        assert!(listpack_decode(&good).is_some());
        let mut bad = good.clone();
        bad[4] = 4; // wrong count
        assert_eq!(listpack_decode(&bad), None);
        let mut bad = good.clone();
        bad[8] = 3; // wrong backlen
        assert_eq!(listpack_decode(&bad), None);
        let mut bad = good.clone();
        bad[6] = 0xF5; // unknown encoding
        assert_eq!(listpack_decode(&bad), None);
        let mut bad = good.clone();
        bad.insert(26, 0); // trailing garbage before the terminator
        bad[0] += 1;
        assert_eq!(listpack_decode(&bad), None);
        assert_eq!(listpack_decode(&hex("0b000000ffff00f0ffffffff")), None);
        fuzz(&good, 0x1, |b| listpack_decode(b).is_some());
        fuzz(&quicklist_node(&hex(L2_DUMP)), 0x2, |b| listpack_decode(b).is_some());
    }
}
