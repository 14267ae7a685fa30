//! RDB primitives as Redis 7.0 writes them (RDB version 10): lengths,
//! strings (integer-encoded, LZF-compressed or raw), doubles, type and opcode
//! bytes, and the DUMP payload trailer. Value layouts built from these live
//! with the types they serialize.

use crate::crc64::crc64;
use std::borrow::Cow;
use std::fmt;

/// The RDB version Redis 7.0 writes and the newest this reader accepts.
pub const RDB_VERSION: u16 = 10;

pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

pub const OPCODE_FUNCTION2: u8 = 245;
pub const OPCODE_FUNCTION: u8 = 246;
pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

/// Quicklist-2 node containers.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Whether `type_byte` names a value type Redis 7.0 can store.
pub fn is_object_type(type_byte: u8) -> bool {
    type_byte <= 7 || (9..=19).contains(&type_byte)
}

/// Appends RDB encodings to a byte buffer.
pub struct RdbWriter {
    pub buf: Vec<u8>,
    /// rdbcompression: strings longer than 20 bytes are LZF-compressed
    /// when that saves at least 4 bytes.
    pub compress: bool,
}

impl RdbWriter {
    pub fn new(compress: bool) -> RdbWriter {
        RdbWriter {
            buf: Vec::new(),
            compress,
        }
    }

    pub fn u8(&mut self, byte: u8) {
        self.buf.push(byte);
    }

    pub fn u32_le(&mut self, n: u32) {
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    pub fn u64_le(&mut self, n: u64) {
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    /// A length: 6 bits, 14 bits, or a marker byte and 32/64 bits big-endian.
    pub fn length(&mut self, len: u64) {
        if len < 1 << 6 {
            self.buf.push(len as u8);
        } else if len < 1 << 14 {
            self.buf.push(((len >> 8) as u8) | 0x40);
            self.buf.push(len as u8);
        } else if len <= u32::MAX as u64 {
            self.buf.push(0x80);
            self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        } else {
            self.buf.push(0x81);
            self.buf.extend_from_slice(&len.to_be_bytes());
        }
    }

    /// An integer as Redis's rdbSaveLongLongAsStringObject: 8/16/32-bit
    /// encodings when it fits, its decimal string otherwise.
    pub fn int_string(&mut self, n: i64) {
        if !self.try_int_encoding(n) {
            let text = itoa(n);
            self.length(text.len() as u64);
            self.buf.extend_from_slice(text.as_bytes());
        }
    }

    fn try_int_encoding(&mut self, n: i64) -> bool {
        if let Ok(n) = i8::try_from(n) {
            self.buf.push(0xC0 | ENC_INT8);
            self.buf.push(n as u8);
        } else if let Ok(n) = i16::try_from(n) {
            self.buf.push(0xC0 | ENC_INT16);
            self.buf.extend_from_slice(&n.to_le_bytes());
        } else if let Ok(n) = i32::try_from(n) {
            self.buf.push(0xC0 | ENC_INT32);
            self.buf.extend_from_slice(&n.to_le_bytes());
        } else {
            return false;
        }
        true
    }

    /// A string as rdbSaveRawString: integer-encoded when it is a canonical
    /// integer of at most 11 characters, compressed when long and
    /// compressible, raw otherwise.
    pub fn string(&mut self, bytes: &[u8]) {
        if bytes.len() <= 11 {
            if let Some(n) = parse_canonical_i64(bytes) {
                if self.try_int_encoding(n) {
                    return;
                }
            }
        }
        if self.compress && bytes.len() > 20 {
            if let Some(packed) = crate::lzf::compress(bytes) {
                if packed.len() + 4 <= bytes.len() {
                    self.buf.push(0xC0 | ENC_LZF);
                    self.length(packed.len() as u64);
                    self.length(bytes.len() as u64);
                    self.buf.extend_from_slice(&packed);
                    return;
                }
            }
        }
        self.length(bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    /// A double in binary64, little-endian (RDB >= 8).
    pub fn binary_double(&mut self, value: f64) {
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    /// Ends a DUMP payload: RDB version then CRC64 of everything before.
    pub fn finish_dump(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(0, &self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// Why a read failed, with the offset where it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.what, self.offset)
    }
}

impl std::error::Error for RdbError {}

pub type Result<T> = std::result::Result<T, RdbError>;

/// A length as read: a plain length, or the marker of a special string
/// encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    Plain(u64),
    Encoded(u8),
}

/// Reads RDB encodings from a byte slice. Never panics and never allocates
/// more than the input could hold.
pub struct RdbReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> RdbReader<'a> {
    pub fn new(data: &'a [u8]) -> RdbReader<'a> {
        RdbReader { data, pos: 0 }
    }

    pub fn offset(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn error(&self, what: &'static str) -> RdbError {
        RdbError { offset: self.pos, what }
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error("unexpected end of data"));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u32_le(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64_le(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn len_or_encoding(&mut self) -> Result<Len> {
        let first = self.u8()?;
        match first >> 6 {
            0 => Ok(Len::Plain((first & 0x3F) as u64)),
            1 => Ok(Len::Plain((((first & 0x3F) as u64) << 8) | self.u8()? as u64)),
            3 => Ok(Len::Encoded(first & 0x3F)),
            _ => match first {
                0x80 => {
                    let b = self.bytes(4)?;
                    Ok(Len::Plain(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64))
                }
                0x81 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(self.bytes(8)?);
                    Ok(Len::Plain(u64::from_be_bytes(a)))
                }
                _ => Err(self.error("unknown length encoding")),
            },
        }
    }

    /// A plain length (an element count, a database number).
    pub fn length(&mut self) -> Result<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(self.error("encoded value where a length was expected")),
        }
    }

    /// A count of elements that each take at least `min_bytes` of input:
    /// rejects counts the remaining input cannot hold, so callers may
    /// reserve capacity for it.
    pub fn count(&mut self, min_bytes: usize) -> Result<usize> {
        let n = self.length()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(self.error("element count larger than the data"));
        }
        Ok(n as usize)
    }

    /// A string in any of its encodings.
    pub fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| self.error("string length too large"))?;
                Ok(Cow::Borrowed(self.bytes(n)?))
            }
            Len::Encoded(ENC_INT8) => Ok(Cow::Owned(itoa(self.u8()? as i8 as i64).into_bytes())),
            Len::Encoded(ENC_INT16) => {
                let b = self.bytes(2)?;
                Ok(Cow::Owned(itoa(i16::from_le_bytes([b[0], b[1]]) as i64).into_bytes()))
            }
            Len::Encoded(ENC_INT32) => {
                let n = self.u32_le()? as i32;
                Ok(Cow::Owned(itoa(n as i64).into_bytes()))
            }
            Len::Encoded(ENC_LZF) => {
                let packed_len = self.length()?;
                let original_len = self.length()?;
                let packed_len = usize::try_from(packed_len).map_err(|_| self.error("bad LZF length"))?;
                let start = self.pos;
                let packed = self.bytes(packed_len)?;
                // LZF expands at most ~ 32x per byte pair; refuse claims the
                // input cannot back, before allocating.
                if original_len == 0 || original_len > (packed_len as u64).saturating_mul(4096) {
                    return Err(RdbError {
                        offset: start,
                        what: "bad LZF lengths",
                    });
                }
                crate::lzf::decompress(packed, original_len as usize)
                    .map(Cow::Owned)
                    .ok_or(RdbError {
                        offset: start,
                        what: "invalid LZF data",
                    })
            }
            Len::Encoded(_) => Err(self.error("unknown string encoding")),
        }
    }

    /// Skips a string without decoding it.
    pub fn skip_string(&mut self) -> Result<()> {
        match self.len_or_encoding()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| self.error("string length too large"))?;
                self.bytes(n)?;
            }
            Len::Encoded(ENC_INT8) => {
                self.bytes(1)?;
            }
            Len::Encoded(ENC_INT16) => {
                self.bytes(2)?;
            }
            Len::Encoded(ENC_INT32) => {
                self.bytes(4)?;
            }
            Len::Encoded(ENC_LZF) => {
                let packed_len = self.length()?;
                self.length()?;
                let n = usize::try_from(packed_len).map_err(|_| self.error("bad LZF length"))?;
                self.bytes(n)?;
            }
            Len::Encoded(_) => return Err(self.error("unknown string encoding")),
        }
        Ok(())
    }

    /// A binary64 double, little-endian.
    pub fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64_le()?))
    }

    /// A double in the old text form (RDB_TYPE_ZSET): a length byte with
    /// 253/254/255 meaning NaN/+inf/-inf.
    pub fn text_double(&mut self) -> Result<f64> {
        match self.u8()? {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => {
                let text = self.bytes(n as usize)?;
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .ok_or_else(|| self.error("invalid double"))
            }
        }
    }
}

/// Splits a DUMP payload into its value bytes, checking the RDB version
/// and the CRC64 as Redis's verifyDumpPayload does.
pub fn verify_dump(payload: &[u8]) -> Option<&[u8]> {
    if payload.len() < 10 {
        return None;
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return None;
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    let expected = u64::from_le_bytes(crc);
    let actual = crc64(0, &payload[..payload.len() - 8]);
    if expected != actual {
        return None;
    }
    Some(body)
}

/// Parses a canonical decimal i64 the way Redis's string2ll does: no sign
/// other than one leading '-', no leading zeros, no spaces.
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        n = if negative {
            n.checked_mul(10)?.checked_sub(d)?
        } else {
            n.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(n)
}

fn itoa(n: i64) -> String {
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_every_width() {
        for &n in &[
            0u64,
            1,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut w = RdbWriter::new(false);
            w.length(n);
            let mut r = RdbReader::new(&w.buf);
            assert_eq!(r.length().unwrap(), n);
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn strings_use_redis_encodings() {
        let mut w = RdbWriter::new(true);
        w.string(b"12");
        assert_eq!(w.buf, [0xC0, 12]);
        let mut w = RdbWriter::new(true);
        w.string(b"-300");
        assert_eq!(w.buf, [0xC1, 0xD4, 0xFE]);
        let mut w = RdbWriter::new(true);
        w.string(b"012");
        assert_eq!(w.buf, [3, b'0', b'1', b'2']);
        let long = vec![b'a'; 200];
        let mut w = RdbWriter::new(true);
        w.string(&long);
        assert_eq!(w.buf[0], 0xC3);
        for (input, compress) in [
            (&b"12"[..], true),
            (b"-300", true),
            (&long[..], true),
            (&long[..], false),
        ] {
            let mut w = RdbWriter::new(compress);
            w.string(input);
            let mut r = RdbReader::new(&w.buf);
            assert_eq!(&*r.string().unwrap(), input);
            let mut r = RdbReader::new(&w.buf);
            r.skip_string().unwrap();
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut w = RdbWriter::new(true);
        w.string(&vec![b'x'; 300]);
        w.string(b"hello");
        w.length(1 << 40);
        for cut in 0..w.buf.len() {
            let mut r = RdbReader::new(&w.buf[..cut]);
            let _ = r.string().and_then(|_| r.string()).and_then(|_| r.length());
        }
        let mut r = RdbReader::new(&[0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert!(r.count(1).is_err());
    }

    #[test]
    fn dump_trailer_is_checked() {
        let mut w = RdbWriter::new(false);
        w.u8(TYPE_STRING);
        w.string(b"hello");
        let payload = w.finish_dump();
        assert_eq!(verify_dump(&payload), Some(&[0u8, 5, b'h', b'e', b'l', b'l', b'o'][..]));
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert_eq!(verify_dump(&bad), None);
    }

    #[test]
    fn canonical_integers_only() {
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
        assert_eq!(parse_canonical_i64(b"-0"), None);
        assert_eq!(parse_canonical_i64(b"+1"), None);
        assert_eq!(parse_canonical_i64(b"01"), None);
    }
}
