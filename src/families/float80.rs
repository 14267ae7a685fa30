//! x87 80-bit extended precision ("long double" on x86-64 Linux), emulated
//! in software so INCRBYFLOAT (and HINCRBYFLOAT) reply exactly as Redis
//! does: Redis parses with `strtold`, adds in long double and prints with
//! `%.17Lf` before trimming zeros. Doubles would differ in the last digits
//! (0.1 + 0.1 + 0.1 is "0.3" in Redis, not "0.30000000000000004").
//!
//! The value is `mant * 2^exp` with a 64-bit significand; parsing and
//! addition round exactly (to nearest, ties to even) through a small
//! big-integer helper, and printing expands the binary value exactly as
//! glibc's printf does.

use std::cmp::Ordering;

/// Smallest exponent of the significand's unit bit (denormals included).
const EXP_MIN: i64 = -16445;
/// Largest exponent of the significand's unit bit for a finite value.
const EXP_MAX: i64 = 16320;
/// Redis's MAX_LONG_DOUBLE_CHARS: longer strings are not numbers.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// An extended-precision value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum F80 {
    /// `mant * 2^exp`; `mant` is 0 for zero (with a sign), otherwise
    /// normalised (top bit set) unless `exp == EXP_MIN` (denormal).
    Finite {
        neg: bool,
        mant: u64,
        exp: i64,
    },
    Inf {
        neg: bool,
    },
    NaN,
}

impl F80 {
    pub const ZERO: F80 = F80::Finite {
        neg: false,
        mant: 0,
        exp: 0,
    };

    pub fn from_i64(n: i64) -> F80 {
        if n == 0 {
            return F80::ZERO;
        }
        let neg = n < 0;
        let magnitude = n.unsigned_abs();
        let shift = magnitude.leading_zeros();
        F80::Finite {
            neg,
            mant: magnitude << shift,
            exp: -(shift as i64),
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self, F80::Finite { .. })
    }

    /// Parses as Redis's `string2ld`: the whole string must be a number
    /// `strtold` accepts (decimal, hexadecimal or inf/infinity), with no
    /// leading space; NaN, overflow and underflow to zero are rejected.
    pub fn parse(s: &[u8]) -> Option<F80> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(F80::Inf { neg });
        }
        let value = if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            parse_hex(neg, &body[2..])?
        } else {
            parse_decimal(neg, body)?
        };
        match value {
            // Underflow to zero from a non-zero input sets ERANGE: rejected.
            F80::Inf { .. } | F80::NaN => None,
            v => Some(v),
        }
    }

    /// Exact sum, rounded to nearest even.
    pub fn add(self, other: F80) -> F80 {
        match (self, other) {
            (F80::NaN, _) | (_, F80::NaN) => F80::NaN,
            (F80::Inf { neg: a }, F80::Inf { neg: b }) => {
                if a == b {
                    F80::Inf { neg: a }
                } else {
                    F80::NaN
                }
            }
            (F80::Inf { neg }, _) | (_, F80::Inf { neg }) => F80::Inf { neg },
            (
                F80::Finite {
                    neg: na,
                    mant: ma,
                    exp: ea,
                },
                F80::Finite {
                    neg: nb,
                    mant: mb,
                    exp: eb,
                },
            ) => {
                if ma == 0 && mb == 0 {
                    return F80::Finite {
                        neg: na && nb,
                        mant: 0,
                        exp: 0,
                    };
                }
                if ma == 0 {
                    return other;
                }
                if mb == 0 {
                    return self;
                }
                let base = ea.min(eb);
                let a = Big::from_u64(ma).shl((ea - base) as u64);
                let b = Big::from_u64(mb).shl((eb - base) as u64);
                let (neg, sum) = if na == nb {
                    (na, a.add(&b))
                } else {
                    match a.cmp(&b) {
                        Ordering::Equal => return F80::ZERO,
                        Ordering::Greater => (na, a.sub(&b)),
                        Ordering::Less => (nb, b.sub(&a)),
                    }
                };
                round_to_f80(neg, sum, Big::from_u64(1), base)
            }
        }
    }

    /// Formats as Redis's `ld2string(.., LD_STR_HUMAN)`: `%.17Lf` with the
    /// trailing zeros (and a trailing dot) removed, and "-0" as "0".
    pub fn to_human_string(self) -> String {
        let (neg, mant, exp) = match self {
            F80::NaN => return "nan".into(),
            F80::Inf { neg } => return if neg { "-inf".into() } else { "inf".into() },
            F80::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        if exp >= 0 {
            out.push_str(&Big::from_u64(mant).shl(exp as u64).to_decimal());
        } else {
            // Round mant * 10^17 / 2^-exp to an integer, ties to even.
            let mut scaled = Big::from_u64(mant);
            for _ in 0..17 {
                scaled.mul_small(10);
            }
            let k = (-exp) as u64;
            let (mut q, rem) = scaled.split_at_bit(k);
            let half = Big::from_u64(1).shl(k - 1);
            let round_up = match rem.cmp(&half) {
                Ordering::Greater => true,
                Ordering::Equal => q.is_odd(),
                Ordering::Less => false,
            };
            if round_up {
                q.add_small(1);
            }
            let mut digits = q.to_decimal();
            if digits.len() < 18 {
                digits = format!("{}{digits}", "0".repeat(18 - digits.len()));
            }
            let (int_part, frac) = digits.split_at(digits.len() - 17);
            out.push_str(int_part);
            let frac = frac.trim_end_matches('0');
            if !frac.is_empty() {
                out.push('.');
                out.push_str(frac);
            }
        }
        if out == "-0" {
            out = "0".into();
        }
        out
    }
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<F80> {
    let mut i = 0;
    let mut digits: Vec<u8> = Vec::new();
    let mut frac_digits: i64 = 0;
    let mut any_digit = false;
    while i < s.len() && s[i].is_ascii_digit() {
        any_digit = true;
        if !(digits.is_empty() && s[i] == b'0') {
            digits.push(s[i] - b'0');
        }
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            any_digit = true;
            if !(digits.is_empty() && s[i] == b'0') {
                digits.push(s[i] - b'0');
            }
            frac_digits += 1;
            i += 1;
        }
    }
    if !any_digit {
        return None;
    }
    let mut exp10: i64 = 0;
    if i < s.len() && (s[i] | 0x20) == b'e' {
        i += 1;
        let exp_neg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            exp10 = (exp10 * 10 + (s[i] - b'0') as i64).min(1 << 40);
            i += 1;
        }
        if i == start {
            return None;
        }
        if exp_neg {
            exp10 = -exp10;
        }
    }
    if i != s.len() {
        return None;
    }
    // Trailing zeros of the digits only scale by ten.
    while digits.last() == Some(&0) {
        digits.pop();
        exp10 += 1;
    }
    if digits.is_empty() {
        return Some(F80::Finite { neg, mant: 0, exp: 0 });
    }
    let exp10 = exp10 - frac_digits;
    let magnitude = digits.len() as i64 + exp10;
    if magnitude > 4934 {
        return Some(F80::Inf { neg });
    }
    if magnitude < -4952 {
        return None;
    }
    let mut num = Big::from_u64(0);
    for chunk in digits.chunks(9) {
        let mut scale = 1u32;
        let mut value = 0u32;
        for &d in chunk {
            value = value * 10 + d as u32;
            scale *= 10;
        }
        num.mul_small(scale);
        num.add_small(value);
    }
    let (num, den) = if exp10 >= 0 {
        (num.mul(&Big::pow10(exp10 as u32)), Big::from_u64(1))
    } else {
        (num, Big::pow10((-exp10) as u32))
    };
    let value = round_to_f80(neg, num, den, 0);
    match value {
        F80::Finite { mant: 0, .. } => None,
        v => Some(v),
    }
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<F80> {
    let mut i = 0;
    let mut num = Big::from_u64(0);
    let mut any_digit = false;
    let mut bin_exp: i64 = 0;
    let mut nonzero = false;
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        any_digit = true;
        if d != 0 {
            nonzero = true;
        }
        // Keep at most ~1100 significant hex digits' worth; beyond that only
        // stickiness matters, which a set low bit preserves.
        if num.bits() < 8800 {
            num.mul_small(16);
            num.add_small(d);
            if seen_dot {
                bin_exp -= 4;
            }
        } else {
            if d != 0 {
                num.0[0] |= 1;
            }
            if !seen_dot {
                bin_exp += 4;
            }
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        i += 1;
        let exp_neg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i64 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            e = (e * 10 + (s[i] - b'0') as i64).min(1 << 40);
            i += 1;
        }
        if i == start {
            return None;
        }
        bin_exp += if exp_neg { -e } else { e };
    }
    if i != s.len() {
        return None;
    }
    if !nonzero {
        return Some(F80::Finite { neg, mant: 0, exp: 0 });
    }
    let magnitude = num.bits() as i64 + bin_exp;
    if magnitude > 16400 {
        return Some(F80::Inf { neg });
    }
    if magnitude < -16500 {
        return None;
    }
    match round_to_f80(neg, num, Big::from_u64(1), bin_exp) {
        F80::Finite { mant: 0, .. } => None,
        v => Some(v),
    }
}

/// Rounds `num / den * 2^base` (num > 0) to the nearest extended value.
fn round_to_f80(neg: bool, num: Big, den: Big, base: i64) -> F80 {
    let nb = num.bits() as i64;
    let db = den.bits() as i64;
    // q0 = floor(value / 2^s) lies in [2^65, 2^67).
    let mut s = nb - db + base - 66;
    let shift = base - s;
    let (n, d) = if shift >= 0 {
        (num.shl(shift as u64), den)
    } else {
        (num, den.shl((-shift) as u64))
    };
    let (mut q, rem_zero) = n.div_small_quotient(&d, 68);
    let mut sticky = !rem_zero;
    while q >= 1u128 << 65 {
        sticky |= q & 1 == 1;
        q >>= 1;
        s += 1;
    }
    // q in [2^64, 2^65): the significand plus one guard bit, unit 2^s.
    if s + 1 < EXP_MIN {
        let extra = (EXP_MIN - 1 - s) as u32;
        if extra >= 128 {
            sticky |= q != 0;
            q = 0;
        } else {
            sticky |= q & ((1u128 << extra) - 1) != 0;
            q >>= extra;
        }
        s = EXP_MIN - 1;
    }
    let mut exp = s + 1;
    let mut mant = q >> 1;
    let guard = q & 1 == 1;
    if guard && (sticky || mant & 1 == 1) {
        mant += 1;
    }
    if mant == 1u128 << 64 {
        mant = 1u128 << 63;
        exp += 1;
    }
    if exp > EXP_MAX {
        return F80::Inf { neg };
    }
    if mant == 0 {
        return F80::Finite { neg, mant: 0, exp: 0 };
    }
    F80::Finite {
        neg,
        mant: mant as u64,
        exp,
    }
}

/// A minimal unsigned big integer (little-endian 32-bit limbs).
#[derive(Clone, Debug)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn is_odd(&self) -> bool {
        self.0.first().is_some_and(|l| l & 1 == 1)
    }

    fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => (self.0.len() as u64 - 1) * 32 + (32 - top.leading_zeros() as u64),
        }
    }

    fn pow10(k: u32) -> Big {
        let mut b = Big::from_u64(1);
        let mut left = k;
        while left >= 9 {
            b.mul_small(1_000_000_000);
            left -= 9;
        }
        b.mul_small(10u32.pow(left));
        b
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in self.0.iter_mut() {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = a as u64;
        for limb in self.0.iter_mut() {
            if carry == 0 {
                break;
            }
            let v = *limb as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul(&self, other: &Big) -> Big {
        let mut out = vec![0u32; self.0.len() + other.0.len() + 1];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &b) in other.0.iter().enumerate() {
                let v = out[i + j] as u64 + a as u64 * b as u64 + carry;
                out[i + j] = v as u32;
                carry = v >> 32;
            }
            let mut k = i + other.0.len();
            while carry != 0 {
                let v = out[k] as u64 + carry;
                out[k] = v as u32;
                carry = v >> 32;
                k += 1;
            }
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn add(&self, other: &Big) -> Big {
        let len = self.0.len().max(other.0.len());
        let mut out = Vec::with_capacity(len + 1);
        let mut carry = 0u64;
        for i in 0..len {
            let v = *self.0.get(i).unwrap_or(&0) as u64 + *other.0.get(i).unwrap_or(&0) as u64 + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// self - other, requires self >= other.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v = self.0[i] as i64 - *other.0.get(i).unwrap_or(&0) as i64 - borrow;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            } else {
                borrow = 0;
            }
            out.push(v as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn sub_assign(&mut self, other: &Big) {
        *self = self.sub(other);
    }

    fn cmp(&self, other: &Big) -> Ordering {
        if self.0.len() != other.0.len() {
            return self.0.len().cmp(&other.0.len());
        }
        for i in (0..self.0.len()).rev() {
            match self.0[i].cmp(&other.0[i]) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        Ordering::Equal
    }

    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return self.clone();
        }
        let limbs = (n / 32) as usize;
        let bits = (n % 32) as u32;
        let mut out = vec![0u32; limbs];
        if bits == 0 {
            out.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &limb in &self.0 {
                out.push((limb << bits) | carry);
                carry = limb >> (32 - bits);
            }
            if carry != 0 {
                out.push(carry);
            }
        }
        Big(out)
    }

    /// (self >> k, self mod 2^k).
    fn split_at_bit(&self, k: u64) -> (Big, Big) {
        let limbs = (k / 32) as usize;
        let bits = (k % 32) as u32;
        let mut low: Vec<u32> = self.0.iter().take(limbs + 1).copied().collect();
        if low.len() > limbs {
            low[limbs] &= if bits == 0 { 0 } else { (1u32 << bits) - 1 };
        }
        let mut low = Big(low);
        low.trim();
        let mut high = Vec::new();
        for i in limbs..self.0.len() {
            let lo = self.0[i] as u64;
            let hi = *self.0.get(i + 1).unwrap_or(&0) as u64;
            high.push((((hi << 32) | lo) >> bits) as u32);
        }
        let mut high = Big(high);
        high.trim();
        (high, low)
    }

    /// floor(self / den) when it is below 2^bits, and whether the
    /// remainder is zero.
    fn div_small_quotient(&self, den: &Big, bits: u32) -> (u128, bool) {
        let mut rem = self.clone();
        let mut q = 0u128;
        for i in (0..bits).rev() {
            let shifted = den.shl(i as u64);
            if rem.cmp(&shifted) != Ordering::Less {
                rem.sub_assign(&shifted);
                q |= 1u128 << i;
            }
        }
        (q, rem.is_zero())
    }

    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 32) | *limb as u64;
            *limb = (v / d as u64) as u32;
            rem = v % d as u64;
        }
        self.trim();
        rem as u32
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".into();
        }
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_small(1_000_000_000));
        }
        let mut out = chunks.pop().expect("non-zero").to_string();
        for chunk in chunks.iter().rev() {
            out.push_str(&format!("{chunk:09}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(value: &str, by: &str) -> String {
        let a = F80::parse(value.as_bytes()).expect("value");
        let b = F80::parse(by.as_bytes()).expect("incr");
        a.add(b).to_human_string()
    }

    #[test]
    fn matches_glibc_long_double() {
        // Expected outputs from strtold + long double addition + "%.17Lf".
        assert_eq!(incr("0.1", "0.1"), "0.2");
        assert_eq!(incr("0.2", "0.1"), "0.3");
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("1", "-1.1"), "-0.1");
        assert_eq!(incr("17179869184", "1.5"), "17179869185.5");
        assert_eq!(incr("0", "5.0e3"), "5000");
        assert_eq!(incr("0", "3.0e3"), "3000");
        assert_eq!(incr("0", "1e300").len(), 301);
        assert_eq!(incr("0", "0.000003814697265625"), "0.00000381469726562");
        assert_eq!(incr("0", "0x10"), "16");
        assert_eq!(incr("0.0243902439024390252", "-0.0243902439024390252"), "0");
        assert_eq!(incr("-0", "0"), "0");
        assert_eq!(incr("0.30000000000000004", "0.1"), "0.40000000000000004");
        assert_eq!(incr("-5", "4.99999999999999999999"), "0");
        assert_eq!(incr("0x1p-3", "-1.1"), "-0.975");
        assert_eq!(incr("0x1p-3", "-674.3042112781677"), "-674.17921127816769999");
        assert_eq!(incr("0x1p-3", "-9.902825173065414419e+05"), "-990282.39230654144188293");
        assert!(incr("1e300", "1e300").starts_with("2000000000000000000017994648159118387741047888546581495876"));
        assert_eq!(incr("0x1p-16445", "0"), "0");
        assert!(F80::parse(b"0x1p-16446").is_none());
        assert!(F80::parse(b"1.18973149535723176502e+4932").is_some());
        assert!(F80::parse(b"1.2e4932").is_none());
    }

    #[test]
    fn parse_rejects_what_strtold_rejects() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", ".", "nan", "1e-99999", "1e99999", "0x", "--1", "1\0",
        ] {
            assert!(F80::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(matches!(F80::parse(b"+inf"), Some(F80::Inf { neg: false })));
        assert!(F80::parse(b"0e99999999").is_some());
        assert!(F80::parse(b".5").is_some());
        assert!(F80::parse(b"5.").is_some());
        assert!(!F80::parse(b"1").unwrap().add(F80::parse(b"inf").unwrap()).is_finite());
    }

    #[test]
    fn integers_are_exact() {
        for n in [0i64, 1, -1, i64::MAX, i64::MIN, 123456789] {
            assert_eq!(F80::from_i64(n).to_human_string(), n.to_string());
        }
    }
}
