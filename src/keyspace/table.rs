//! An open-addressing hash table (linear probing, backward-shift deletion,
//! power-of-two capacity) keyed by byte strings, with its elements stored
//! densely apart from the probe array.
//!
//! Layout: `entries` holds the elements contiguously (no empty slots);
//! `slots` is the probe array, 8 bytes per bucket: the low 32 bits of the
//! element's hash and its index in `entries` plus one (0 = empty). At the
//! 3/4 maximum load an element costs its own size plus ~11-21 bytes of
//! slots, instead of its size divided by the load factor, and a resize
//! moves only slots (re-homed from the stored hash bits, no key is touched
//! or rehashed), so growing a table of millions of keys is a short copy.
//! Comparing the stored hash bits first means a probe reads a key only when
//! it almost surely matches.
//!
//! Why not a library map: SCAN must keep Redis's guarantee (every element
//! present for the whole scan is returned at least once, across resizes) and
//! RANDOMKEY / active expiry need random sampling. Both need the table's
//! layout: an element's home bucket is `hash & mask`, all elements of a home
//! bucket sit in the probe run that starts there, and doubling or halving the
//! table moves a home bucket `b` only to `b` or `b + old_capacity`. So a
//! cursor over home buckets in reverse-binary order (as Redis's dictScan)
//! survives resizes.

use std::hash::BuildHasher;

/// An element that carries its own key.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

const MIN_CAPACITY: usize = 8;

/// Grow past 3/4 full; shrink below 1/10 full (Redis's minimum fill).
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;
const MIN_FILL_PERCENT: usize = 10;

/// Elements are addressed by a u32 in the slots.
const MAX_ELEMENTS: usize = u32::MAX as usize - 1;

#[derive(Clone)]
pub struct Table<E> {
    /// `(hash32 << 32) | (index + 1)`, or 0 when empty.
    slots: Vec<u64>,
    entries: Vec<E>,
    hasher: foldhash::fast::FixedState,
}

impl<E: Keyed> Default for Table<E> {
    fn default() -> Self {
        Self::new()
    }
}

fn slot_hash(slot: u64) -> u32 {
    (slot >> 32) as u32
}

fn slot_index(slot: u64) -> usize {
    (slot as u32) as usize - 1
}

/// A hint to load `value`'s cache line; no effect on correctness.
#[inline]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint that never faults and reads nothing
    // the program observes; the pointer comes from a live reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch(value as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

fn make_slot(hash: u32, index: usize) -> u64 {
    ((hash as u64) << 32) | (index as u64 + 1)
}

impl<E: Keyed> Table<E> {
    pub fn new() -> Self {
        Table {
            slots: Vec::new(),
            entries: Vec::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x7e55_e7a0),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Buckets allocated.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The 32 hash bits the table keeps: enough to home an element in up to
    /// 2^32 buckets.
    fn hash32(&self, key: &[u8]) -> u32 {
        self.hasher.hash_one(key) as u32
    }

    /// The probe position of `key`'s slot, if present.
    fn find_slot(&self, key: &[u8]) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let hash = self.hash32(key);
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot_hash(slot) == hash && self.entries[slot_index(slot)].key() == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Starts loading the cache line of `key`'s home bucket (first stage of
    /// a pipelined batch's prefetch: the misses of many keys overlap instead
    /// of stalling one command after another).
    pub fn prefetch_bucket(&self, key: &[u8]) {
        if self.slots.is_empty() {
            return;
        }
        let i = self.hash32(key) as usize & self.mask();
        prefetch(&self.slots[i]);
    }

    /// Starts loading the element in `key`'s home bucket (second stage: the
    /// bucket is cached by now). Only the home bucket is looked at.
    pub fn prefetch_element(&self, key: &[u8]) {
        if self.slots.is_empty() {
            return;
        }
        let slot = self.slots[self.hash32(key) as usize & self.mask()];
        if slot != 0 {
            prefetch(&self.entries[slot_index(slot)]);
        }
    }

    /// The element index of `key`, valid until the table next changes.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_slot(key).map(|i| slot_index(self.slots[i]))
    }

    /// The element at an index returned by `find`.
    pub fn at(&self, index: usize) -> &E {
        &self.entries[index]
    }

    /// The element at an index returned by `find`, mutably.
    pub fn at_mut(&mut self, index: usize) -> &mut E {
        &mut self.entries[index]
    }

    pub fn get(&self, key: &[u8]) -> Option<&E> {
        self.find(key).map(|i| &self.entries[i])
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut E> {
        self.find(key).map(move |i| &mut self.entries[i])
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.find_slot(key).is_some()
    }

    /// Inserts an element whose key is not present; returns it in place.
    pub fn insert_new(&mut self, element: E) -> &mut E {
        debug_assert!(!self.contains(element.key()), "insert_new of a present key");
        assert!(self.entries.len() < MAX_ELEMENTS, "table full");
        if (self.entries.len() + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            let capacity = (self.slots.len() * 2).max(MIN_CAPACITY);
            self.resize(capacity);
        }
        let hash = self.hash32(element.key());
        let index = self.entries.len();
        self.entries.push(element);
        self.place(make_slot(hash, index));
        &mut self.entries[index]
    }

    /// Inserts or replaces; returns the previous element with that key.
    #[cfg(test)]
    pub fn insert(&mut self, element: E) -> Option<E> {
        if let Some(i) = self.find(element.key()) {
            return Some(std::mem::replace(&mut self.entries[i], element));
        }
        self.insert_new(element);
        None
    }

    fn place(&mut self, slot: u64) {
        let mask = self.mask();
        let mut i = slot_hash(slot) as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn resize(&mut self, capacity: usize) {
        assert!(capacity.is_power_of_two() && capacity >= self.entries.len());
        let old = std::mem::replace(&mut self.slots, vec![0; capacity]);
        for slot in old.into_iter().filter(|&s| s != 0) {
            self.place(slot);
        }
    }

    /// Removes and returns the element with `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<E> {
        let mut hole = self.find_slot(key)?;
        let index = slot_index(self.slots[hole]);
        self.slots[hole] = 0;
        // Backward shift: pull later members of the run into the hole when
        // their home is not between the hole and their position.
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let slot = self.slots[j];
            if slot == 0 {
                break;
            }
            let home = slot_hash(slot) as usize & mask;
            let distance_to_home = j.wrapping_sub(home) & mask;
            let distance_to_hole = j.wrapping_sub(hole) & mask;
            if distance_to_home >= distance_to_hole {
                self.slots[hole] = slot;
                self.slots[j] = 0;
                hole = j;
            }
        }
        // Keep `entries` dense: the last element moves into the gap and its
        // slot is repointed.
        let last = self.entries.len() - 1;
        let removed = self.entries.swap_remove(index);
        if index != last {
            self.repoint(last, index);
        }
        self.maybe_shrink();
        Some(removed)
    }

    /// Repoints the slot of the element that moved from index `from` to
    /// `to` (it is already at `to`).
    fn repoint(&mut self, from: usize, to: usize) {
        let hash = self.hash32(self.entries[to].key());
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            assert!(slot != 0, "a stored element has a slot");
            if slot_index(slot) == from {
                self.slots[i] = make_slot(hash, to);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn maybe_shrink(&mut self) {
        let capacity = self.slots.len();
        let len = self.entries.len();
        if capacity > MIN_CAPACITY && len * 100 < capacity * MIN_FILL_PERCENT {
            let mut target = MIN_CAPACITY;
            while target * MAX_LOAD_NUM < (len + 1) * MAX_LOAD_DEN * 2 {
                target *= 2;
            }
            if target < capacity {
                self.resize(target);
                self.entries.shrink_to(target * MAX_LOAD_NUM / MAX_LOAD_DEN);
            }
        }
    }

    pub fn clear(&mut self) {
        self.slots = Vec::new();
        self.entries = Vec::new();
    }

    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.entries.iter()
    }

    /// Visits the elements whose home is the bucket `cursor` addresses and
    /// returns the next cursor (0 when the scan is complete). Redis's
    /// reverse-binary cursor increment keeps the guarantee across resizes.
    pub fn scan_step<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a E)) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let mask = self.mask();
        let bucket = (cursor as usize) & mask;
        let mut i = bucket;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            if slot_hash(slot) as usize & mask == bucket {
                visit(&self.entries[slot_index(slot)]);
            }
            i = (i + 1) & mask;
            if i == bucket {
                break;
            }
        }
        let mut v = cursor | !(mask as u64);
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// An element chosen uniformly (the elements are dense).
    pub fn random(&self, random: u64) -> Option<&E> {
        if self.entries.is_empty() {
            return None;
        }
        Some(&self.entries[(random % self.entries.len() as u64) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[derive(Debug, Clone, PartialEq)]
    struct Item(Vec<u8>, u32);

    impl Keyed for Item {
        fn key(&self) -> &[u8] {
            &self.0
        }
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn model_random_operations() {
        for seed in 1..=20u64 {
            let mut rng = seed;
            let mut table = Table::new();
            let mut model = HashMap::new();
            for step in 0..5000 {
                let key = format!("k{}", xorshift(&mut rng) % 300).into_bytes();
                match xorshift(&mut rng) % 3 {
                    0 | 1 => {
                        let v = step as u32;
                        assert_eq!(
                            table.insert(Item(key.clone(), v)).map(|i| i.1),
                            model.insert(key, v),
                            "seed {seed}"
                        );
                    }
                    _ => {
                        assert_eq!(table.remove(&key).map(|i| i.1), model.remove(&key), "seed {seed}");
                    }
                }
                assert_eq!(table.len(), model.len(), "seed {seed}");
                let probe = format!("k{}", xorshift(&mut rng) % 300).into_bytes();
                assert_eq!(
                    table.get(&probe).map(|i| i.1),
                    model.get(&probe).copied(),
                    "seed {seed} step {step}"
                );
            }
            assert_eq!(table.iter().count(), model.len(), "seed {seed}");
            for (k, v) in &model {
                assert_eq!(table.get(k).map(|i| i.1), Some(*v), "seed {seed}");
            }
        }
    }

    #[test]
    fn scan_returns_everything_even_across_resizes() {
        let mut table = Table::new();
        for i in 0..1000u32 {
            table.insert(Item(format!("key:{i}").into_bytes(), i));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut steps = 0;
        loop {
            cursor = table.scan_step(cursor, |e| {
                seen.insert(e.0.clone());
            });
            steps += 1;
            // Grow in the middle of the scan, then shrink.
            if steps == 100 {
                for i in 1000..5000u32 {
                    table.insert(Item(format!("key:{i}").into_bytes(), i));
                }
            }
            if steps == 2000 {
                for i in 1000..5000u32 {
                    table.remove(format!("key:{i}").as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000u32 {
            assert!(seen.contains(format!("key:{i}").as_bytes()), "missing key:{i}");
        }
    }

    #[test]
    fn random_finds_elements_and_shrink_happens() {
        let mut table = Table::new();
        assert!(table.random(5).is_none());
        for i in 0..10000u32 {
            table.insert(Item(i.to_le_bytes().to_vec(), i));
        }
        let big = table.capacity();
        for i in 0..9990u32 {
            table.remove(&i.to_le_bytes());
        }
        assert!(table.capacity() < big);
        for r in 0..100u64 {
            let e = table.random(r * 7919).expect("non-empty");
            assert!(e.1 >= 9990);
        }
    }
}
