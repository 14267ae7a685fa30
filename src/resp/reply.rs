//! The reply writer: RESP2 and RESP3 encodings of every reply shape Redis
//! uses, appended to a connection's (or a remote job's) output buffer.

/// An output buffer plus the protocol version it is written in.
pub struct ReplyBuf {
    pub bytes: Vec<u8>,
    pub resp3: bool,
    /// Error replies written so far (for failed_calls and errorstats).
    pub errors: u64,
    /// The most recent error's prefix ("ERR", "WRONGTYPE", ...).
    pub last_error_prefix: [u8; 32],
    pub last_error_prefix_len: u8,
    /// Changes to propagate to replicas, kept here instead of written to
    /// the stream at once while `collect_effects` is set (a transaction or
    /// multi-shard command under shard locks: its coordinator writes them
    /// as one block before unlocking).
    pub effects: Vec<crate::repl::feed::Op>,
    pub collect_effects: bool,
}

impl ReplyBuf {
    pub fn new(resp3: bool) -> Self {
        ReplyBuf {
            bytes: Vec::new(),
            resp3,
            errors: 0,
            last_error_prefix: [0; 32],
            last_error_prefix_len: 0,
            effects: Vec::new(),
            collect_effects: false,
        }
    }

    pub fn with_capacity(resp3: bool, capacity: usize) -> Self {
        let mut reply = Self::new(resp3);
        reply.bytes.reserve(capacity);
        reply
    }

    fn int_line(&mut self, prefix: u8, n: i64) {
        self.bytes.push(prefix);
        let buf = itoa_buf(n);
        self.bytes.extend_from_slice(buf.as_bytes());
        self.bytes.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.bytes.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.bytes.push(b'+');
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// An error reply. `msg` is the full text without the leading '-', e.g.
    /// "ERR syntax error"; newlines are replaced so the reply stays one line.
    pub fn error(&mut self, msg: &str) {
        self.errors += 1;
        let prefix = msg.split(' ').next().unwrap_or("ERR").as_bytes();
        let n = prefix.len().min(self.last_error_prefix.len());
        self.last_error_prefix[..n].copy_from_slice(&prefix[..n]);
        self.last_error_prefix_len = n as u8;
        self.bytes.push(b'-');
        for &b in msg.as_bytes() {
            self.bytes.push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.bytes.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.int_line(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.int_line(b'$', data.len() as i64);
        self.bytes.extend_from_slice(data);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// An integer as a bulk string (GET of an int-encoded value).
    pub fn bulk_int(&mut self, n: i64) {
        let buf = itoa_buf(n);
        self.bulk(buf.as_bytes());
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp3 {
            self.bytes.extend_from_slice(b"_\r\n");
        } else {
            self.bytes.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.bytes.extend_from_slice(b"_\r\n");
        } else {
            self.bytes.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, len: usize) {
        self.int_line(b'*', len as i64);
    }

    /// A map header: `%n` in RESP3, an array of 2n in RESP2.
    pub fn map(&mut self, pairs: usize) {
        if self.resp3 {
            self.int_line(b'%', pairs as i64);
        } else {
            self.int_line(b'*', 2 * pairs as i64);
        }
    }

    /// A set header: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) {
        if self.resp3 {
            self.int_line(b'~', len as i64);
        } else {
            self.int_line(b'*', len as i64);
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, 1/0 in RESP2.
    pub fn boolean(&mut self, value: bool) {
        if self.resp3 {
            self.bytes.extend_from_slice(if value { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(value as i64);
        }
    }

    /// A double: `,` in RESP3, a bulk string in RESP2, formatted as Redis
    /// formats doubles ("%.17g" style shortest round-trip, inf, -inf, nan).
    pub fn double(&mut self, value: f64) {
        let text = format_double(value);
        if self.resp3 {
            self.bytes.push(b',');
            self.bytes.extend_from_slice(text.as_bytes());
            self.bytes.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A push header (RESP3 `>`; RESP2 clients get an array).
    pub fn push(&mut self, len: usize) {
        if self.resp3 {
            self.int_line(b'>', len as i64);
        } else {
            self.int_line(b'*', len as i64);
        }
    }

    /// An attribute header (RESP3 `|`); callers emit none in RESP2.
    pub fn attribute(&mut self, pairs: usize) {
        debug_assert!(self.resp3);
        self.int_line(b'|', pairs as i64);
    }

    /// A big number: RESP3 `(`, a bulk string in RESP2.
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.resp3 {
            self.bytes.push(b'(');
            self.bytes.extend_from_slice(digits);
            self.bytes.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits);
        }
    }

    /// A verbatim string (RESP3 `=len\r\ntxt:...`), a bulk string in RESP2.
    pub fn verbatim(&mut self, data: &[u8], format: &str) {
        if self.resp3 {
            self.int_line(b'=', (data.len() + 4) as i64);
            self.bytes.extend_from_slice(format.as_bytes());
            self.bytes.push(b':');
            self.bytes.extend_from_slice(data);
            self.bytes.extend_from_slice(b"\r\n");
        } else {
            self.bulk(data);
        }
    }

    /// Appends bytes already encoded in this buffer's protocol.
    pub fn raw(&mut self, encoded: &[u8]) {
        self.bytes.extend_from_slice(encoded);
    }

    /// Appends another buffer's replies, counting its errors.
    pub fn append(&mut self, other: &ReplyBuf) {
        self.bytes.extend_from_slice(&other.bytes);
        self.errors += other.errors;
        self.effects.extend(other.effects.iter().cloned());
    }

    /// Sends changes to the replication stream now, or keeps them for the
    /// coordinator when collecting.
    pub fn propagate(&mut self, ops: Vec<crate::repl::feed::Op>) {
        if self.collect_effects {
            self.effects.extend(ops);
        } else {
            crate::repl::feed::propagate_ops(&ops, true);
        }
    }
}

/// A stack buffer holding an integer's decimal form.
pub struct ItoaBuf {
    data: [u8; 20],
    start: u8,
}

impl ItoaBuf {
    pub fn as_bytes(&self) -> &[u8] {
        &self.data[self.start as usize..]
    }
}

/// Formats `n` in decimal without allocating.
pub fn itoa_buf(n: i64) -> ItoaBuf {
    let mut data = [0u8; 20];
    let mut i = data.len();
    let negative = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        data[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        data[i] = b'-';
    }
    ItoaBuf { data, start: i as u8 }
}

/// Formats a double as Redis's replies do: integers without a fraction,
/// otherwise the shortest representation that round-trips ("%.17g" in
/// spirit), "inf"/"-inf" for infinities and "nan" for NaN.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format_g17(value)
}

/// Emulates C's "%.17g": 17 significant digits, trailing zeros removed,
/// exponent form when the exponent is < -4 or >= 17.
pub fn format_g17(value: f64) -> String {
    format_g(value, 17)
}

/// Emulates C's "%.Ng".
pub fn format_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let precision = precision.max(1);
    let sci = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = sci.split_once('e').expect("scientific format");
    let exponent: i32 = exponent.parse().expect("exponent");
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
        trim_fraction(&format!("{value:.decimals$}")).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_collections_per_protocol() {
        let mut r2 = ReplyBuf::new(false);
        r2.null();
        r2.null_array();
        r2.map(2);
        r2.boolean(true);
        assert_eq!(r2.bytes, b"$-1\r\n*-1\r\n*4\r\n:1\r\n");
        let mut r3 = ReplyBuf::new(true);
        r3.null();
        r3.map(2);
        r3.boolean(true);
        r3.double(1.5);
        assert_eq!(r3.bytes, b"_\r\n%2\r\n#t\r\n,1.5\r\n");
    }

    #[test]
    fn errors_are_counted_and_single_line() {
        let mut r = ReplyBuf::new(false);
        r.error("ERR bad\r\nthing");
        assert_eq!(r.bytes, b"-ERR bad  thing\r\n");
        assert_eq!(r.errors, 1);
        assert_eq!(&r.last_error_prefix[..r.last_error_prefix_len as usize], b"ERR");
    }

    #[test]
    fn itoa_extremes() {
        assert_eq!(itoa_buf(0).as_bytes(), b"0");
        assert_eq!(itoa_buf(i64::MIN).as_bytes(), b"-9223372036854775808");
        assert_eq!(itoa_buf(i64::MAX).as_bytes(), b"9223372036854775807");
    }

    #[test]
    fn doubles_format_like_printf_g17() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(10.5), "10.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(-1.5e-7), "-1.4999999999999999e-07");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }
}
