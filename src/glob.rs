//! Glob-style matching as Redis's KEYS, SCAN MATCH and CONFIG GET use it:
//! `*`, `?`, `[abc]`, `[^a-z]`, and `\` escapes.

/// Whether `string` matches `pattern`.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_from(pattern, string, nocase, 0, &mut skip_longer)
}

/// Nesting bound for `*` backtracking, so a hostile pattern cannot recurse
/// without limit.
const MAX_NESTING: usize = 1000;

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// `skip_longer` is Redis's skipLongerMatches: once the rest of the pattern
/// after a `*` failed against every suffix down to the empty one, no outer
/// `*` can succeed by skipping more, so every level gives up at once. Without
/// it, patterns like `a*a*a*...b` take exponential time.
fn match_from(mut p: &[u8], mut s: &[u8], nocase: bool, nesting: usize, skip_longer: &mut bool) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while !p.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_from(&p[1..], s, nocase, nesting + 1, skip_longer) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                if s.is_empty() {
                    return false;
                }
                p = &p[1..];
                let negate = !p.is_empty() && p[0] == b'^';
                if negate {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if p[0] == s[0] {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut start, mut end) = (p[0], p[2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = if nocase { s[0].to_ascii_lowercase() } else { s[0] };
                        let (start, end) = if nocase {
                            (start.to_ascii_lowercase(), end.to_ascii_lowercase())
                        } else {
                            (start, end)
                        };
                        if c >= start && c <= end {
                            matched = true;
                        }
                        p = &p[2..];
                    } else if eq(p[0], s[0], nocase) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if p.is_empty() {
                    // Unterminated class: Redis treats the end as the close.
                    p = &p[0..0];
                }
                let matched = matched != negate;
                if !matched {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    continue;
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if s.is_empty() || !eq(p[0], s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if s.is_empty() || !eq(c, s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        if !p.is_empty() {
            p = &p[1..];
        }
        if s.is_empty() {
            while !p.is_empty() && p[0] == b'*' {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_cases() {
        assert!(matches(b"*", b"anything", false));
        assert!(matches(b"h?llo", b"hello", false));
        assert!(matches(b"h*llo", b"heeeello", false));
        assert!(matches(b"h[ae]llo", b"hallo", false));
        assert!(!matches(b"h[^e]llo", b"hello", false));
        assert!(matches(b"h[a-b]llo", b"hbllo", false));
        assert!(matches(b"h\\*llo", b"h*llo", false));
        assert!(!matches(b"h\\*llo", b"hello", false));
        assert!(matches(b"MAX*", b"maxmemory", true));
        assert!(!matches(b"foo", b"foobar", false));
        assert!(matches(b"foo*", b"foo", false));
        assert!(!matches(b"a*b", b"acd", false));
        assert!(matches(b"*a*b*c*", b"xaxbxcx", false));
        assert!(!matches(b"*a", b"", false));
        assert!(matches(b"a*", b"a", false));
    }

    #[test]
    fn hostile_patterns_finish_quickly() {
        let start = std::time::Instant::now();
        let pattern = "a*".repeat(20) + "b";
        assert!(!matches(pattern.as_bytes(), &[b'a'; 40], false));
        let long = "*?".repeat(50000);
        assert!(!matches(long.as_bytes(), &[b'a'; 50000], false));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
