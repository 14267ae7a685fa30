//! The I/O seam: time and randomness as traits, with the production
//! implementations. A simulator substitutes seeded ones.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock and monotonic time.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn unix_ms(&self) -> u64;
    /// Microseconds since the Unix epoch.
    fn unix_us(&self) -> u64;
}

/// The operating system's clock.
#[derive(Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_ms(&self) -> u64 {
        self.unix_us() / 1000
    }

    fn unix_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }
}

/// A source of pseudo-random numbers.
pub trait Rng {
    fn next_u64(&mut self) -> u64;

    /// A number in 0..bound (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        // Multiply-shift: unbiased enough for sampling, and branch-free.
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }
}

/// xorshift64*: small, fast, seedable.
#[derive(Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    pub fn new(seed: u64) -> Self {
        XorShift64 { state: seed.max(1) }
    }

    /// Seeded from the clock and the shard id.
    pub fn from_entropy(salt: u64) -> Self {
        Self::new(SystemClock.unix_us() ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

impl Rng for XorShift64 {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_is_deterministic() {
        let mut a = XorShift64::new(42);
        let mut b = XorShift64::new(42);
        for _ in 0..1000 {
            let x = a.below(10);
            assert!(x < 10);
            assert_eq!(x, b.below(10));
        }
    }
}
