//! The request parser: RESP multibulk and inline commands, with Redis's exact
//! protocol errors. It never copies arguments: it records their offsets into
//! the connection's read buffer.

use std::ops::Range;

/// Longest line Redis accepts for an inline request or a `*`/`$` header.
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Bulk and multibulk limits that apply before a client authenticates.
pub const UNAUTHENTICATED_MULTIBULK_MAX: i64 = 10;
pub const UNAUTHENTICATED_BULK_MAX: i64 = 16384;

/// Limits the parser enforces, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    pub proto_max_bulk_len: i64,
    pub authenticated: bool,
}

/// The outcome of parsing at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete command: its argument ranges were pushed; `consumed` bytes.
    Command { consumed: usize },
    /// An empty request (`*0`, `*-1`, a blank inline line): skip `consumed`.
    Empty { consumed: usize },
    /// More bytes are needed.
    Incomplete,
    /// A protocol error: reply with it and close the connection.
    Error(String),
}

/// A command's arguments, borrowed from the read buffer.
#[derive(Clone, Copy)]
pub struct Argv<'a> {
    buf: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Argv<'a> {
    pub fn new(buf: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Argv { buf, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The i-th argument.
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.buf[self.ranges[i].clone()]
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(move |r| &self.buf[r.clone()])
    }
}

impl<'a> std::ops::Index<usize> for Argv<'a> {
    type Output = [u8];
    fn index(&self, i: usize) -> &[u8] {
        &self.buf[self.ranges[i].clone()]
    }
}

/// Arguments copied out of the read buffer into one allocation (for remote
/// shards and queued transactions).
#[derive(Clone, Debug, Default)]
pub struct OwnedArgv {
    buf: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl OwnedArgv {
    pub fn from_argv(argv: &Argv) -> Self {
        Self::from_parts(argv.iter())
    }

    pub fn from_parts<'a>(parts: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut owned = OwnedArgv::default();
        for part in parts {
            owned.push(part);
        }
        owned
    }

    pub fn push(&mut self, arg: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(arg);
        self.ranges.push(start..self.buf.len());
    }

    pub fn argv(&self) -> Argv<'_> {
        Argv::new(&self.buf, &self.ranges)
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(offset) = buf[i..].iter().position(|&b| b == b'\r') {
        let at = i + offset;
        if at + 1 >= buf.len() {
            return None;
        }
        if buf[at + 1] == b'\n' {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Parses a decimal i64 exactly as Redis's string2ll: no spaces, no '+', no
/// leading zeros (except "0"), within range.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    if negative {
        if value > i64::MAX as u64 + 1 {
            None
        } else {
            Some((value as i64).wrapping_neg())
        }
    } else if value > i64::MAX as u64 {
        None
    } else {
        Some(value as i64)
    }
}

/// Parses one command at the front of `buf`, pushing argument ranges onto
/// `args`.
///
/// `resume` carries progress across calls for a multibulk that arrives in
/// pieces (as Redis keeps its multibulk state): after `Incomplete` it holds
/// the offset past the last complete argument and `args` keeps those
/// arguments, so the next call with the same buffer front continues there
/// instead of re-parsing (a million-argument command stays linear). Pass 0
/// with a fresh buffer front.
pub fn parse_command(buf: &[u8], limits: ParseLimits, args: &mut Vec<Range<usize>>, resume: &mut usize) -> Parsed {
    if *resume == 0 {
        args.clear();
    }
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    let parsed = if buf[0] == b'*' {
        parse_multibulk(buf, limits, args, resume)
    } else {
        parse_inline(buf, args)
    };
    if !matches!(parsed, Parsed::Incomplete) {
        *resume = 0;
    }
    parsed
}

/// After `Incomplete` with progress `resume`, the window length that would
/// complete the next bulk argument, when its header has arrived: lets the
/// reader size its buffer once for a large value instead of doubling.
pub fn next_bulk_end(window: &[u8], resume: usize) -> Option<usize> {
    if resume == 0 || resume >= window.len() || window[resume] != b'$' {
        return None;
    }
    let end = find_crlf(window, resume + 1)?;
    let len = parse_i64(&window[resume + 1..end])?;
    usize::try_from(len).ok().map(|len| end + 2 + len + 2)
}

fn parse_multibulk(buf: &[u8], limits: ParseLimits, args: &mut Vec<Range<usize>>, resume: &mut usize) -> Parsed {
    let Some(end) = find_crlf(buf, 1) else {
        if buf.len() > PROTO_INLINE_MAX_SIZE {
            return Parsed::Error("Protocol error: too big mbulk count string".into());
        }
        return Parsed::Incomplete;
    };
    if end > PROTO_INLINE_MAX_SIZE {
        return Parsed::Error("Protocol error: too big mbulk count string".into());
    }
    let count = match parse_i64(&buf[1..end]) {
        Some(n) if n <= i32::MAX as i64 => n,
        _ => return Parsed::Error("Protocol error: invalid multibulk length".into()),
    };
    if count > UNAUTHENTICATED_MULTIBULK_MAX && !limits.authenticated {
        return Parsed::Error("Protocol error: unauthenticated multibulk length".into());
    }
    let mut pos = end + 2;
    if count <= 0 {
        return Parsed::Empty { consumed: pos };
    }
    if *resume > 0 {
        debug_assert!(args.len() < count as usize && *resume <= buf.len());
        pos = *resume;
    } else {
        // Reserve modestly: a hostile count must not allocate up front.
        args.reserve((count as usize).min(1024));
    }
    for _ in args.len()..count as usize {
        *resume = pos;
        if pos >= buf.len() {
            return Parsed::Incomplete;
        }
        let Some(end) = find_crlf(buf, pos) else {
            if buf.len() - pos > PROTO_INLINE_MAX_SIZE {
                return Parsed::Error("Protocol error: too big bulk count string".into());
            }
            if buf[pos] != b'$' {
                return Parsed::Error(format!("Protocol error: expected '$', got '{}'", buf[pos] as char));
            }
            return Parsed::Incomplete;
        };
        if end - pos > PROTO_INLINE_MAX_SIZE {
            return Parsed::Error("Protocol error: too big bulk count string".into());
        }
        if buf[pos] != b'$' {
            return Parsed::Error(format!("Protocol error: expected '$', got '{}'", buf[pos] as char));
        }
        let len = match parse_i64(&buf[pos + 1..end]) {
            Some(n) if n >= 0 && n <= limits.proto_max_bulk_len => n as usize,
            _ => return Parsed::Error("Protocol error: invalid bulk length".into()),
        };
        if len as i64 > UNAUTHENTICATED_BULK_MAX && !limits.authenticated {
            return Parsed::Error("Protocol error: unauthenticated bulk length".into());
        }
        let start = end + 2;
        if buf.len() < start + len + 2 {
            return Parsed::Incomplete;
        }
        args.push(start..start + len);
        // Redis does not check the bulk terminator; it skips two bytes.
        pos = start + len + 2;
    }
    Parsed::Command { consumed: pos }
}

fn parse_inline(buf: &[u8], args: &mut Vec<Range<usize>>) -> Parsed {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > PROTO_INLINE_MAX_SIZE {
            return Parsed::Error("Protocol error: too big inline request".into());
        }
        return Parsed::Incomplete;
    };
    if newline > PROTO_INLINE_MAX_SIZE {
        return Parsed::Error("Protocol error: too big inline request".into());
    }
    let mut line_end = newline;
    if line_end > 0 && buf[line_end - 1] == b'\r' {
        line_end -= 1;
    }
    match split_inline(&buf[..line_end], args) {
        Ok(()) if args.is_empty() => Parsed::Empty { consumed: newline + 1 },
        Ok(()) => Parsed::Command { consumed: newline + 1 },
        Err(()) => {
            args.clear();
            Parsed::Error("Protocol error: unbalanced quotes in request".into())
        }
    }
}

/// Splits an inline line into words. Quoted words may contain escapes; since
/// arguments are ranges into the buffer, a quoted word with escapes is kept as
/// its raw range and decoded by `decode_inline_word` (see `InlineWord`).
fn split_inline(line: &[u8], args: &mut Vec<Range<usize>>) -> Result<(), ()> {
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let start = i;
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    if i >= line.len() {
                        return Err(());
                    }
                    if line[i] == b'\\' && i + 1 < line.len() {
                        i += 2;
                    } else if line[i] == b'"' {
                        i += 1;
                        if i < line.len() && !line[i].is_ascii_whitespace() {
                            return Err(());
                        }
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    if i >= line.len() {
                        return Err(());
                    }
                    if line[i] == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                        i += 2;
                    } else if line[i] == b'\'' {
                        i += 1;
                        if i < line.len() && !line[i].is_ascii_whitespace() {
                            return Err(());
                        }
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
        }
        args.push(start..i);
    }
    Ok(())
}

/// Whether an inline argument range still carries its quotes and must be
/// decoded before use.
pub fn is_quoted(word: &[u8]) -> bool {
    word.len() >= 2 && (word[0] == b'"' || word[0] == b'\'')
}

/// Decodes a quoted inline word (`"a\x41\n"` or `'it\'s'`) as sdssplitargs does.
pub fn decode_quoted(word: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len());
    let inner = &word[1..word.len() - 1];
    if word[0] == b'\'' {
        let mut i = 0;
        while i < inner.len() {
            if inner[i] == b'\\' && i + 1 < inner.len() && inner[i + 1] == b'\'' {
                out.push(b'\'');
                i += 2;
            } else {
                out.push(inner[i]);
                i += 1;
            }
        }
        return out;
    }
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' && i + 1 < inner.len() {
            let next = inner[i + 1];
            let hex = |c: u8| (c as char).to_digit(16);
            if next == b'x' && i + 3 < inner.len() {
                if let (Some(h), Some(l)) = (hex(inner[i + 2]), hex(inner[i + 3])) {
                    out.push((h * 16 + l) as u8);
                    i += 4;
                    continue;
                }
            }
            out.push(match next {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 8,
                b'a' => 7,
                other => other,
            });
            i += 2;
        } else {
            out.push(inner[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTHED: ParseLimits = ParseLimits {
        proto_max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse(input: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let mut ranges = Vec::new();
        let parsed = parse_command(input, AUTHED, &mut ranges, &mut 0);
        let args = ranges.iter().map(|r| input[r.clone()].to_vec()).collect();
        (parsed, args)
    }

    #[test]
    fn multibulk_complete_and_partial() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let (parsed, args) = parse(input);
        assert_eq!(parsed, Parsed::Command { consumed: input.len() });
        assert_eq!(args, vec![b"GET".to_vec(), b"k".to_vec()]);
        for cut in 0..input.len() {
            assert_eq!(parse(&input[..cut]).0, Parsed::Incomplete, "cut at {cut}");
        }
    }

    #[test]
    fn resumes_a_multibulk_arriving_in_pieces() {
        let mut input = b"*1001\r\n$3\r\nDEL\r\n".to_vec();
        for i in 0..1000 {
            let key = format!("key{i}");
            input.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        }
        let mut ranges = Vec::new();
        let mut resume = 0;
        let mut seen = 0;
        for cut in (1..input.len()).step_by(97) {
            assert_eq!(
                parse_command(&input[..cut], AUTHED, &mut ranges, &mut resume),
                Parsed::Incomplete
            );
            assert!(ranges.len() >= seen, "progress is kept");
            seen = ranges.len();
        }
        assert!(seen > 900);
        assert_eq!(
            parse_command(&input, AUTHED, &mut ranges, &mut resume),
            Parsed::Command { consumed: input.len() }
        );
        assert_eq!(ranges.len(), 1001);
        assert_eq!(&input[ranges[1000].clone()], b"key999");
        assert_eq!(resume, 0);
    }

    #[test]
    fn binary_safe_bulk() {
        let input = b"*1\r\n$4\r\na\r\nb\r\n";
        let (parsed, args) = parse(input);
        assert_eq!(parsed, Parsed::Command { consumed: input.len() });
        assert_eq!(args[0], b"a\r\nb");
    }

    #[test]
    fn protocol_errors_match_redis() {
        assert_eq!(
            parse(b"*-x\r\n").0,
            Parsed::Error("Protocol error: invalid multibulk length".into())
        );
        assert_eq!(
            parse(b"*3000000000\r\n").0,
            Parsed::Error("Protocol error: invalid multibulk length".into())
        );
        assert_eq!(
            parse(b"*1\r\nfoo\r\n").0,
            Parsed::Error("Protocol error: expected '$', got 'f'".into())
        );
        assert_eq!(
            parse(b"*1\r\n$-1\r\n").0,
            Parsed::Error("Protocol error: invalid bulk length".into())
        );
        assert_eq!(
            parse(b"*1\r\n$999999999999\r\n").0,
            Parsed::Error("Protocol error: invalid bulk length".into())
        );
        assert_eq!(
            parse(b"\"foo\r\n").0,
            Parsed::Error("Protocol error: unbalanced quotes in request".into())
        );
        let big = vec![b'a'; PROTO_INLINE_MAX_SIZE + 10];
        assert_eq!(
            parse(&big).0,
            Parsed::Error("Protocol error: too big inline request".into())
        );
    }

    #[test]
    fn empty_requests_are_skipped() {
        assert_eq!(parse(b"*0\r\n").0, Parsed::Empty { consumed: 4 });
        assert_eq!(parse(b"*-1\r\n").0, Parsed::Empty { consumed: 5 });
        assert_eq!(parse(b"\r\n").0, Parsed::Empty { consumed: 2 });
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = ParseLimits {
            authenticated: false,
            ..AUTHED
        };
        let mut ranges = Vec::new();
        assert_eq!(
            parse_command(b"*11\r\n", limits, &mut ranges, &mut 0),
            Parsed::Error("Protocol error: unauthenticated multibulk length".into())
        );
        assert_eq!(
            parse_command(b"*1\r\n$16385\r\n", limits, &mut ranges, &mut 0),
            Parsed::Error("Protocol error: unauthenticated bulk length".into())
        );
    }

    #[test]
    fn inline_words_and_quotes() {
        let (parsed, args) = parse(b"set  k \"a b\"\r\n");
        assert_eq!(parsed, Parsed::Command { consumed: 14 });
        assert_eq!(args, vec![b"set".to_vec(), b"k".to_vec(), b"\"a b\"".to_vec()]);
        assert_eq!(decode_quoted(b"\"a\\x41\\n\""), b"aA\n");
        assert_eq!(decode_quoted(b"'it\\'s'"), b"it's");
        assert_eq!(parse(b"ping\n").1, vec![b"ping".to_vec()]);
    }

    #[test]
    fn parse_i64_is_strict() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b""), None);
    }
}
