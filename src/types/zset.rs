//! The sorted set type. One structure serves both of Redis's encodings; the
//! encoding name follows Redis's rules (`listpack` while the set has at most
//! `zset-max-listpack-entries` members of at most `zset-max-listpack-value`
//! bytes, then `skiplist` for good, as Redis never converts back).
//!
//! - Order: elements `(score, member)` sorted ascending in chunks of at most
//!   `CHUNK` entries; a Fenwick tree over chunk lengths gives rank <->
//!   position in O(log n), so ZRANK, ZRANGE by rank and the range lookups
//!   are O(log n) plus the elements returned.
//! - Lookup: member -> score in the keyspace's own table (dense entries,
//!   8-byte probe array), so ZSCORE is O(1).
//!
//! Members up to 22 bytes are stored inline (`CompactBytes`), twice (once
//! per index), which still costs less than Redis's skiplist node + dict
//! entry + sds.

use crate::config::Encodings;
use crate::keyspace::table::{Keyed, Table};
use crate::keyspace::CompactBytes;
use std::cmp::Ordering;

const CHUNK: usize = 128;

#[derive(Clone)]
struct ScoreEntry {
    member: CompactBytes,
    score: f64,
}

impl Keyed for ScoreEntry {
    fn key(&self) -> &[u8] {
        &self.member
    }
}

type Elem = (f64, CompactBytes);

fn cmp_elem(a: &Elem, score: f64, member: &[u8]) -> Ordering {
    a.0.partial_cmp(&score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.as_slice().cmp(member))
}

#[derive(Clone, Default)]
pub struct ZSet {
    scores: Table<ScoreEntry>,
    chunks: Vec<Vec<Elem>>,
    /// Fenwick tree over `chunks[i].len()`.
    tree: Vec<usize>,
    big: bool,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len() && self.iter().all(|(m, s)| other.score(m) == Some(s))
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s)))
            .finish()
    }
}

impl ZSet {
    /// An empty sorted set, already `skiplist` if Redis would create it so
    /// for `size_hint` members of up to `max_member_len` bytes.
    pub fn with_hint(size_hint: usize, max_member_len: usize, limits: &Encodings) -> ZSet {
        let mut z = ZSet::default();
        if size_hint > limits.zset_max_listpack_entries as usize
            || max_member_len > limits.zset_max_listpack_value as usize
            || limits.zset_max_listpack_entries == 0
        {
            z.big = true;
        }
        z
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        if self.big {
            "skiplist"
        } else {
            "listpack"
        }
    }

    pub fn heap_bytes(&self) -> usize {
        use crate::memory::usable_size;
        let inline = |m: &CompactBytes| match m {
            CompactBytes::Inline { .. } => 0,
            CompactBytes::Heap(b) => usable_size(b.len()),
        };
        usable_size(self.scores.capacity() * 8)
            + usable_size(self.scores.len() * std::mem::size_of::<ScoreEntry>())
            + self
                .chunks
                .iter()
                .map(|c| usable_size(c.capacity() * std::mem::size_of::<Elem>()))
                .sum::<usize>()
            + 2 * self.scores.iter().map(|e| inline(&e.member)).sum::<usize>()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).map(|e| e.score)
    }

    fn rebuild_tree(&mut self) {
        let n = self.chunks.len();
        self.tree = vec![0; n];
        for i in 0..n {
            self.tree[i] += self.chunks[i].len();
            let parent = i | (i + 1);
            if parent < n {
                let v = self.tree[i];
                self.tree[parent] += v;
            }
        }
    }

    fn tree_add(&mut self, mut i: usize, delta: isize) {
        while i < self.tree.len() {
            self.tree[i] = (self.tree[i] as isize + delta) as usize;
            i |= i + 1;
        }
    }

    /// Elements in chunks `[0, i)`.
    fn prefix(&self, i: usize) -> usize {
        let mut sum = 0;
        let mut i = i;
        while i > 0 {
            sum += self.tree[i - 1];
            i &= i - 1;
        }
        sum
    }

    /// The chunk and offset of the element at `rank`.
    fn locate(&self, rank: usize) -> (usize, usize) {
        let n = self.tree.len();
        let mut pos = 0;
        let mut remaining = rank;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next - 1] <= remaining {
                pos = next;
                remaining -= self.tree[next - 1];
            }
            step >>= 1;
        }
        (pos, remaining)
    }

    /// The first position whose element is not `before` (which must be
    /// true for a prefix of the order and false after).
    pub fn partition_point(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let c = self.chunks.partition_point(|chunk| {
            let last = chunk.last().expect("chunks are never empty");
            before(last.0, &last.1)
        });
        if c == self.chunks.len() {
            return self.len();
        }
        self.prefix(c) + self.chunks[c].partition_point(|e| before(e.0, &e.1))
    }

    /// Inserts or updates; returns true when the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &Encodings) -> bool {
        debug_assert!(!score.is_nan());
        let new = match self.scores.get_mut(member) {
            Some(entry) => {
                let old = entry.score;
                if old == score && old.is_sign_negative() == score.is_sign_negative() {
                    return false;
                }
                entry.score = score;
                self.remove_from_order(old, member);
                false
            }
            None => {
                self.scores.insert_new(ScoreEntry {
                    member: CompactBytes::new(member),
                    score,
                });
                true
            }
        };
        self.insert_into_order(score, member);
        if !self.big
            && (self.len() > limits.zset_max_listpack_entries as usize
                || member.len() > limits.zset_max_listpack_value as usize)
        {
            self.big = true;
        }
        new
    }

    fn insert_into_order(&mut self, score: f64, member: &[u8]) {
        let elem = (score, CompactBytes::new(member));
        if self.chunks.is_empty() {
            self.chunks.push(vec![elem]);
            self.rebuild_tree();
            return;
        }
        let mut c = self
            .chunks
            .partition_point(|chunk| cmp_elem(chunk.last().expect("non-empty"), score, member) == Ordering::Less);
        if c == self.chunks.len() {
            c -= 1;
        }
        let chunk = &mut self.chunks[c];
        let at = chunk.partition_point(|e| cmp_elem(e, score, member) == Ordering::Less);
        chunk.insert(at, elem);
        if chunk.len() > CHUNK * 2 {
            let tail = chunk.split_off(CHUNK);
            self.chunks.insert(c + 1, tail);
            self.rebuild_tree();
        } else {
            self.tree_add(c, 1);
        }
    }

    fn remove_from_order(&mut self, score: f64, member: &[u8]) {
        let c = self
            .chunks
            .partition_point(|chunk| cmp_elem(chunk.last().expect("non-empty"), score, member) == Ordering::Less);
        let chunk = &mut self.chunks[c];
        let at = chunk.partition_point(|e| cmp_elem(e, score, member) == Ordering::Less);
        debug_assert!(chunk[at].1.as_slice() == member);
        chunk.remove(at);
        if chunk.is_empty() {
            self.chunks.remove(c);
            self.rebuild_tree();
        } else {
            self.tree_add(c, -1);
        }
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(entry) => {
                self.remove_from_order(entry.score, member);
                true
            }
            None => false,
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.partition_point(|s, m| {
            s.partial_cmp(&score)
                .unwrap_or(Ordering::Equal)
                .then_with(|| m.cmp(member))
                == Ordering::Less
        }))
    }

    /// The element at ascending `rank`.
    #[cfg(test)]
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len() {
            return None;
        }
        let (c, i) = self.locate(rank);
        let e = &self.chunks[c][i];
        Some((&e.1, e.0))
    }

    /// Elements from ascending rank `start` on.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let (c, i) = if start >= self.len() {
            (self.chunks.len(), 0)
        } else {
            self.locate(start)
        };
        self.chunks
            .iter()
            .skip(c)
            .enumerate()
            .flat_map(move |(k, chunk)| chunk[if k == 0 { i } else { 0 }..].iter())
            .map(|e| (e.1.as_slice(), e.0))
    }

    /// Elements from ascending rank `start` downwards (descending).
    pub fn iter_rev_from(&self, start: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let n = if self.is_empty() {
            0
        } else {
            start.min(self.len() - 1) + 1
        };
        let (c, i) = if n == 0 { (0, 0) } else { self.locate(n - 1) };
        let chunks = if n == 0 { &self.chunks[..0] } else { &self.chunks[..=c] };
        chunks
            .iter()
            .rev()
            .enumerate()
            .flat_map(move |(k, chunk)| {
                let end = if k == 0 { i + 1 } else { chunk.len() };
                chunk[..end].iter().rev()
            })
            .map(|e| (e.1.as_slice(), e.0))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.iter_from(0)
    }

    /// One ZSCAN step: a listpack-encoded set is returned whole with cursor
    /// 0; a big one walks its member table with Redis's cursor guarantees.
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a [u8], f64)) -> u64 {
        if !self.big {
            for (m, s) in self.iter() {
                visit(m, s);
            }
            return 0;
        }
        self.scores.scan_step(cursor, |e| visit(&e.member, e.score))
    }

    /// The member at dense index `i` of the member table (uniform random
    /// picks for ZRANDMEMBER).
    pub fn nth_member(&self, i: usize) -> Option<(&[u8], f64)> {
        (i < self.len()).then(|| {
            let e = self.scores.at(i);
            (e.member.as_slice(), e.score)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ranks_and_ranges_match_a_sorted_model() {
        let limits = Encodings::default();
        let mut z = ZSet::default();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        let mut rng = 11u64;
        for step in 0..6000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let member = format!("m{}", rng % 700).into_bytes();
            let score = ((rng >> 20) % 50) as f64 - 25.0;
            if rng.is_multiple_of(4) {
                assert_eq!(z.remove(&member), model.remove(&member).is_some(), "step {step}");
            } else {
                assert_eq!(z.insert(&member, score, &limits), model.insert(member, score).is_none());
            }
        }
        let mut sorted: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        sorted.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
        assert_eq!(z.len(), sorted.len());
        for (rank, (m, s)) in sorted.iter().enumerate() {
            assert_eq!(z.rank(m), Some(rank));
            assert_eq!(z.at(rank), Some((&m[..], *s)));
        }
        let all: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(all, sorted);
        let rev: Vec<(Vec<u8>, f64)> = z.iter_rev_from(z.len() - 1).map(|(m, s)| (m.to_vec(), s)).collect();
        let mut expected = sorted.clone();
        expected.reverse();
        assert_eq!(rev, expected);
        let first_ge_zero = z.partition_point(|s, _| s < 0.0);
        assert_eq!(first_ge_zero, sorted.iter().filter(|e| e.1 < 0.0).count());
        assert_eq!(z.encoding_name(), "skiplist");
    }
}
