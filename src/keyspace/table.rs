//! An open-addressing hash table (linear probing, backward-shift deletion,
//! power-of-two capacity) keyed by byte strings.
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

pub struct Table<E> {
    slots: Vec<Option<E>>,
    len: usize,
    hasher: foldhash::fast::FixedState,
}

impl<E: Keyed> Default for Table<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Keyed> Table<E> {
    pub fn new() -> Self {
        Table {
            slots: Vec::new(),
            len: 0,
            hasher: foldhash::fast::FixedState::with_seed(0x7e55_e7a0),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Buckets allocated.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn home(&self, key: &[u8]) -> usize {
        (self.hash(key) as usize) & self.mask()
    }

    /// The slot holding `key`, valid until the table next changes.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_index(key)
    }

    /// The element in a slot returned by `find`.
    pub fn at(&self, index: usize) -> &E {
        self.slots[index].as_ref().expect("find returned an occupied slot")
    }

    /// The element in a slot returned by `find`, mutably.
    pub fn at_mut(&mut self, index: usize) -> &mut E {
        self.slots[index].as_mut().expect("find returned an occupied slot")
    }

    fn find_index(&self, key: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            match &self.slots[i] {
                None => return None,
                Some(e) if e.key() == key => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&E> {
        self.find_index(key).and_then(|i| self.slots[i].as_ref())
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut E> {
        self.find_index(key).and_then(move |i| self.slots[i].as_mut())
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.find_index(key).is_some()
    }

    /// Inserts an element whose key is not present; returns it in place.
    pub fn insert_new(&mut self, element: E) -> &mut E {
        debug_assert!(!self.contains(element.key()), "insert_new of a present key");
        if (self.len + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            let capacity = (self.slots.len() * 2).max(MIN_CAPACITY);
            self.resize(capacity);
        }
        let i = self.place(element);
        self.len += 1;
        self.slots[i].as_mut().expect("just placed")
    }

    /// Inserts or replaces; returns the previous element with that key.
    #[cfg(test)]
    pub fn insert(&mut self, element: E) -> Option<E> {
        if let Some(i) = self.find_index(element.key()) {
            return self.slots[i].replace(element);
        }
        self.insert_new(element);
        None
    }

    fn place(&mut self, element: E) -> usize {
        let mask = self.mask();
        let mut i = self.home(element.key());
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some(element);
        i
    }

    fn resize(&mut self, capacity: usize) {
        assert!(capacity.is_power_of_two() && capacity >= self.len);
        let old = std::mem::replace(&mut self.slots, (0..capacity).map(|_| None).collect());
        for element in old.into_iter().flatten() {
            self.place(element);
        }
    }

    /// Removes and returns the element with `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<E> {
        let mut hole = self.find_index(key)?;
        let removed = self.slots[hole].take();
        self.len -= 1;
        // Backward shift: pull later members of the run into the hole when
        // their home is not between the hole and their position.
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let home = match &self.slots[j] {
                None => break,
                Some(e) => self.home(e.key()),
            };
            let distance_to_home = j.wrapping_sub(home) & mask;
            let distance_to_hole = j.wrapping_sub(hole) & mask;
            if distance_to_home >= distance_to_hole {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
        }
        self.maybe_shrink();
        removed
    }

    fn maybe_shrink(&mut self) {
        let capacity = self.slots.len();
        if capacity > MIN_CAPACITY && self.len * 100 < capacity * MIN_FILL_PERCENT {
            let mut target = MIN_CAPACITY;
            while target * MAX_LOAD_NUM < (self.len + 1) * MAX_LOAD_DEN * 2 {
                target *= 2;
            }
            if target < capacity {
                self.resize(target);
            }
        }
    }

    pub fn clear(&mut self) {
        self.slots = Vec::new();
        self.len = 0;
    }

    pub fn iter(&self) -> impl Iterator<Item = &E> {
        self.slots.iter().flatten()
    }

    /// Visits the elements whose home is the bucket `cursor` addresses and
    /// returns the next cursor (0 when the scan is complete). Redis's
    /// reverse-binary cursor increment keeps the guarantee across resizes.
    pub fn scan_step(&self, cursor: u64, mut visit: impl FnMut(&E)) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let mask = self.mask();
        let bucket = (cursor as usize) & mask;
        let mut i = bucket;
        while let Some(e) = &self.slots[i] {
            if self.home(e.key()) == bucket {
                visit(e);
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

    /// An element chosen near-uniformly: a random bucket, then the first
    /// element at or after it.
    pub fn random(&self, random: u64) -> Option<&E> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = (random as usize) & mask;
        loop {
            if let Some(e) = &self.slots[i] {
                return Some(e);
            }
            i = (i + 1) & mask;
        }
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
            }
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
