//! The list type: Redis 7.0's `quicklist`, a deque of nodes where each node
//! is either a `Packed` buffer of small elements, bounded by
//! `list-max-listpack-size` (positive: entries per node; -1..-5: 4..64 KiB
//! per node), or a `Plain` node holding one element at least the packed
//! threshold long (`DEBUG QUICKLIST-PACKED-THRESHOLD`, 1 GiB by default).
//! Pushes and pops at either end touch one node; positional edits (LSET,
//! LINSERT, LREM) re-chunk only the node they touch.

use super::packed::Packed;
use std::collections::VecDeque;

/// Redis's SIZE_SAFETY_LIMIT: a node bounded by entry count still stays
/// under this many bytes.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Default plain-node threshold (Redis's packed_threshold).
pub const DEFAULT_PACKED_THRESHOLD: usize = 1 << 30;

/// How nodes are filled: from list-max-listpack-size and the packed
/// threshold.
#[derive(Clone, Copy, Debug)]
pub struct ListLimits {
    pub fill: i64,
    pub packed_threshold: usize,
}

impl ListLimits {
    fn node_bytes(self) -> usize {
        match self.fill {
            f if f >= 0 => SIZE_SAFETY_LIMIT,
            -1 => 4096,
            -2 => 8192,
            -3 => 16384,
            -4 => 32768,
            _ => 65536,
        }
    }

    /// Whether a packed node of `count` entries and `bytes` bytes takes one
    /// more element of `len` bytes.
    fn fits(self, count: usize, bytes: usize, len: usize) -> bool {
        let new_bytes = bytes + len + 5;
        if self.fill >= 0 {
            count < self.fill.max(1) as usize && (new_bytes <= SIZE_SAFETY_LIMIT || count == 0)
        } else {
            new_bytes <= self.node_bytes() || count == 0
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Packed(Packed),
    Plain(Box<[u8]>),
}

impl Node {
    fn len(&self) -> usize {
        match self {
            Node::Packed(p) => p.len(),
            Node::Plain(_) => 1,
        }
    }

    fn items(&self) -> Box<dyn DoubleEndedIterator<Item = &[u8]> + '_> {
        match self {
            Node::Packed(p) => {
                let items: Vec<&[u8]> = p.iter().map(|(_, i)| i).collect();
                Box::new(items.into_iter())
            }
            Node::Plain(b) => Box::new(std::iter::once(&b[..])),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Redis 7.0 reports every list as a quicklist.
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_bytes(&self) -> usize {
        use crate::memory::usable_size;
        usable_size(self.nodes.capacity() * std::mem::size_of::<Node>())
            + self
                .nodes
                .iter()
                .map(|n| match n {
                    Node::Packed(p) => p.heap_bytes(),
                    Node::Plain(b) => usable_size(b.len()),
                })
                .sum::<usize>()
    }

    pub fn push_back(&mut self, item: &[u8], limits: ListLimits) {
        self.len += 1;
        if item.len() >= limits.packed_threshold {
            self.nodes.push_back(Node::Plain(item.into()));
            return;
        }
        if let Some(Node::Packed(p)) = self.nodes.back_mut() {
            if limits.fits(p.len(), p.byte_len(), item.len()) {
                p.push(item);
                return;
            }
        }
        let mut p = Packed::new();
        p.push(item);
        self.nodes.push_back(Node::Packed(p));
    }

    pub fn push_front(&mut self, item: &[u8], limits: ListLimits) {
        self.len += 1;
        if item.len() >= limits.packed_threshold {
            self.nodes.push_front(Node::Plain(item.into()));
            return;
        }
        if let Some(Node::Packed(p)) = self.nodes.front_mut() {
            if limits.fits(p.len(), p.byte_len(), item.len()) {
                p.insert_at(0, item);
                return;
            }
        }
        let mut p = Packed::new();
        p.push(item);
        self.nodes.push_front(Node::Packed(p));
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let node = self.nodes.front_mut()?;
        self.len -= 1;
        match node {
            Node::Plain(_) => match self.nodes.pop_front() {
                Some(Node::Plain(b)) => Some(b.into_vec()),
                _ => unreachable!("front was plain"),
            },
            Node::Packed(p) => {
                let item = p.entry_at(0).0.to_vec();
                p.remove_at(0, 1);
                if p.is_empty() {
                    self.nodes.pop_front();
                }
                Some(item)
            }
        }
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let node = self.nodes.back_mut()?;
        self.len -= 1;
        match node {
            Node::Plain(_) => match self.nodes.pop_back() {
                Some(Node::Plain(b)) => Some(b.into_vec()),
                _ => unreachable!("back was plain"),
            },
            Node::Packed(p) => {
                let offset = p.last_offset().expect("nodes are never empty");
                let item = p.entry_at(offset).0.to_vec();
                p.remove_at(offset, 1);
                if p.is_empty() {
                    self.nodes.pop_back();
                }
                Some(item)
            }
        }
    }

    /// The nodes from the head, for serialization: whether each is a plain
    /// node (one large element) and its elements.
    pub fn nodes(&self) -> impl Iterator<Item = (bool, Box<dyn DoubleEndedIterator<Item = &[u8]> + '_>)> + '_ {
        self.nodes.iter().map(|n| (matches!(n, Node::Plain(_)), n.items()))
    }

    /// Appends `item` as a plain node of its own, as Redis loads a plain
    /// quicklist node whatever the current threshold.
    pub fn push_back_plain(&mut self, item: &[u8]) {
        self.len += 1;
        self.nodes.push_back(Node::Plain(item.into()));
    }

    /// Elements from the head.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(|n| n.items())
    }

    /// Normalises a Redis index (negative from the tail).
    fn position(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The node holding element `at` and the element's index in it.
    fn locate(&self, mut at: usize) -> (usize, usize) {
        for (n, node) in self.nodes.iter().enumerate() {
            if at < node.len() {
                return (n, at);
            }
            at -= node.len();
        }
        unreachable!("position in range")
    }

    pub fn get(&self, index: i64) -> Option<&[u8]> {
        let at = self.position(index)?;
        let (n, i) = self.locate(at);
        self.nodes[n].items().nth(i)
    }

    /// Replaces node `n` with `items` re-chunked under `limits`.
    fn rechunk(&mut self, n: usize, items: Vec<Vec<u8>>, limits: ListLimits) {
        let mut chunk = List::new();
        for item in &items {
            chunk.push_back(item, limits);
        }
        let removed = self.nodes[n].len();
        self.len = self.len - removed + chunk.len;
        self.nodes.remove(n);
        for (k, node) in chunk.nodes.into_iter().enumerate() {
            self.nodes.insert(n + k, node);
        }
    }

    fn node_items(&self, n: usize) -> Vec<Vec<u8>> {
        self.nodes[n].items().map(<[u8]>::to_vec).collect()
    }

    /// LSET: false when the index is out of range.
    pub fn set(&mut self, index: i64, item: &[u8], limits: ListLimits) -> bool {
        let Some(at) = self.position(index) else {
            return false;
        };
        let (n, i) = self.locate(at);
        let mut items = self.node_items(n);
        items[i] = item.to_vec();
        self.rechunk(n, items, limits);
        true
    }

    /// LINSERT: inserts before or after the first `pivot`; false if absent.
    pub fn insert(&mut self, pivot: &[u8], item: &[u8], after: bool, limits: ListLimits) -> bool {
        let Some(at) = self.iter().position(|e| e == pivot) else {
            return false;
        };
        let (n, i) = self.locate(at);
        let mut items = self.node_items(n);
        items.insert(if after { i + 1 } else { i }, item.to_vec());
        self.rechunk(n, items, limits);
        true
    }

    /// LREM: removes up to `count` (0 = all) elements equal to `item`, from
    /// the head, or from the tail when `from_tail`. Returns how many.
    pub fn remove(&mut self, item: &[u8], count: usize, from_tail: bool, limits: ListLimits) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = if from_tail {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        let mut changed: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
        for n in order {
            if count > 0 && removed >= count {
                break;
            }
            if !self.nodes[n].items().any(|e| e == item) {
                continue;
            }
            let mut items = self.node_items(n);
            let positions: Vec<usize> = if from_tail {
                (0..items.len()).rev().collect()
            } else {
                (0..items.len()).collect()
            };
            let mut drop = vec![false; items.len()];
            for p in positions {
                if count > 0 && removed >= count {
                    break;
                }
                if items[p] == item {
                    drop[p] = true;
                    removed += 1;
                }
            }
            let mut k = 0;
            items.retain(|_| {
                k += 1;
                !drop[k - 1]
            });
            changed.push((n, items));
        }
        // Highest node first, so earlier indexes stay valid.
        changed.sort_by_key(|c| std::cmp::Reverse(c.0));
        for (n, items) in changed {
            self.rechunk(n, items, limits);
        }
        removed
    }

    /// Keeps elements `[start, start + n)`.
    pub fn keep_range(&mut self, start: usize, n: usize) {
        let n = n.min(self.len.saturating_sub(start));
        for _ in 0..start.min(self.len) {
            self.pop_front();
        }
        while self.len > n {
            self.pop_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(l: &List) -> Vec<String> {
        l.iter().map(|e| String::from_utf8_lossy(e).into_owned()).collect()
    }

    #[test]
    fn matches_a_deque_under_small_nodes_and_plain_elements() {
        let limits = ListLimits {
            fill: 3,
            packed_threshold: 6,
        };
        let mut l = List::new();
        let mut model: VecDeque<String> = VecDeque::new();
        let mut rng = 7u64;
        for step in 0..3000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let item = if rng.is_multiple_of(5) {
                format!("long-{step}")
            } else {
                format!("{}", rng % 7)
            };
            match rng % 9 {
                0 | 1 => {
                    l.push_back(item.as_bytes(), limits);
                    model.push_back(item);
                }
                2 | 3 => {
                    l.push_front(item.as_bytes(), limits);
                    model.push_front(item);
                }
                4 => assert_eq!(l.pop_front().map(|v| String::from_utf8(v).unwrap()), model.pop_front()),
                5 => assert_eq!(l.pop_back().map(|v| String::from_utf8(v).unwrap()), model.pop_back()),
                6 if !model.is_empty() => {
                    let i = (rng / 9) as usize % model.len();
                    assert!(l.set(i as i64, item.as_bytes(), limits));
                    model[i] = item;
                }
                7 => {
                    let pivot = format!("{}", (rng / 9) % 7);
                    let found = model.iter().position(|e| *e == pivot);
                    assert_eq!(
                        l.insert(pivot.as_bytes(), item.as_bytes(), rng.is_multiple_of(2), limits),
                        found.is_some()
                    );
                    if let Some(i) = found {
                        model.insert(if rng.is_multiple_of(2) { i + 1 } else { i }, item);
                    }
                }
                _ => {
                    let target = format!("{}", (rng / 9) % 7);
                    let count = (rng / 63) as usize % 3;
                    let from_tail = rng.is_multiple_of(2);
                    let n = l.remove(target.as_bytes(), count, from_tail, limits);
                    let mut removed = 0;
                    let idx: Vec<usize> = if from_tail {
                        (0..model.len()).rev().collect()
                    } else {
                        (0..model.len()).collect()
                    };
                    let mut drop = Vec::new();
                    for i in idx {
                        if (count == 0 || removed < count) && model[i] == target {
                            drop.push(i);
                            removed += 1;
                        }
                    }
                    drop.sort_unstable_by(|a, b| b.cmp(a));
                    for i in drop {
                        model.remove(i);
                    }
                    assert_eq!(n, removed, "step {step}");
                }
            }
            assert_eq!(l.len(), model.len(), "step {step}");
            assert!(l.nodes.iter().all(|n| n.len() > 0), "step {step}");
        }
        assert_eq!(contents(&l), model.iter().cloned().collect::<Vec<_>>());
        let len = model.len();
        l.keep_range(2, 5);
        let kept: Vec<String> = model
            .iter()
            .skip(2)
            .take(5.min(len.saturating_sub(2)))
            .cloned()
            .collect();
        assert_eq!(contents(&l), kept);
    }
}
