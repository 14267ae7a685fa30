//! The hash type: field -> value maps in Redis's two encodings.
//!
//! - `listpack`: fields and values alternate in one `Packed` buffer, while
//!   the hash has at most `hash-max-listpack-entries` fields and every field
//!   and value is at most `hash-max-listpack-value` bytes.
//! - `hashtable`: the keyspace's own table (`keyspace::table`: dense
//!   elements, an 8-byte probe array, SCAN-safe cursors, uniform random
//!   picks) of `Pair`s, each field and value in one allocation.
//!
//! A hash converts to `hashtable` once, when it outgrows the limits, and
//! never back, as in Redis.

use super::packed::Packed;
use crate::config::Encodings;
use crate::keyspace::table::{Keyed, Table};

/// A field and its value in one allocation: `[field length: u32 LE][field][value]`.
#[derive(Clone, PartialEq)]
pub struct Pair(Box<[u8]>);

impl Pair {
    pub fn new(field: &[u8], value: &[u8]) -> Pair {
        let mut bytes = Vec::with_capacity(4 + field.len() + value.len());
        bytes.extend_from_slice(&(field.len() as u32).to_le_bytes());
        bytes.extend_from_slice(field);
        bytes.extend_from_slice(value);
        Pair(bytes.into_boxed_slice())
    }

    fn field_len(&self) -> usize {
        u32::from_le_bytes(self.0[..4].try_into().expect("4 bytes")) as usize
    }

    pub fn field(&self) -> &[u8] {
        &self.0[4..4 + self.field_len()]
    }

    pub fn value(&self) -> &[u8] {
        &self.0[4 + self.field_len()..]
    }
}

impl Keyed for Pair {
    fn key(&self) -> &[u8] {
        self.field()
    }
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}={:?}",
            String::from_utf8_lossy(self.field()),
            String::from_utf8_lossy(self.value())
        )
    }
}

#[derive(Clone)]
pub enum Hash {
    Packed(Packed),
    Table(Table<Pair>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Packed(Packed::new())
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl Hash {
    #[cfg(test)]
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(p) => p.len() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Heap bytes held (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        use crate::memory::usable_size;
        match self {
            Hash::Packed(p) => p.heap_bytes(),
            Hash::Table(t) => {
                usable_size(t.capacity() * 8)
                    + usable_size(t.len() * std::mem::size_of::<Pair>())
                    + t.iter().map(|p| usable_size(p.0.len())).sum::<usize>()
            }
        }
    }

    /// Offset of `field`'s entry in a packed hash.
    fn packed_find(p: &Packed, field: &[u8]) -> Option<usize> {
        let mut it = p.iter();
        while let Some((offset, f)) = it.next() {
            it.next();
            if f == field {
                return Some(offset);
            }
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(p) => {
                let offset = Self::packed_find(p, field)?;
                let next = p.entry_at(offset).1;
                Some(p.entry_at(next).0)
            }
            Hash::Table(t) => t.get(field).map(Pair::value),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => Self::packed_find(p, field).is_some(),
            Hash::Table(t) => t.contains(field),
        }
    }

    /// Sets `field` to `value`; returns true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &Encodings) -> bool {
        if let Hash::Packed(p) = self {
            let max = limits.hash_max_listpack_value as usize;
            if field.len() > max || value.len() > max {
                self.convert();
            } else if let Some(offset) = Self::packed_find(p, field) {
                let value_at = p.entry_at(offset).1;
                p.replace_at(value_at, value);
                return false;
            } else if (p.len() / 2) < limits.hash_max_listpack_entries as usize {
                p.push(field);
                p.push(value);
                return true;
            } else {
                self.convert();
            }
        }
        let Hash::Table(t) = self else {
            unreachable!("converted")
        };
        match t.get_mut(field) {
            Some(pair) => {
                *pair = Pair::new(field, value);
                false
            }
            None => {
                t.insert_new(Pair::new(field, value));
                true
            }
        }
    }

    /// Removes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => match Self::packed_find(p, field) {
                Some(offset) => {
                    p.remove_at(offset, 2);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.remove(field).is_some(),
        }
    }

    /// Converts a packed hash to a table.
    fn convert(&mut self) {
        let Hash::Packed(p) = self else { return };
        let mut table = Table::new();
        let mut it = p.iter();
        while let (Some((_, f)), Some((_, v))) = (it.next(), it.next()) {
            table.insert_new(Pair::new(f, v));
        }
        *self = Hash::Table(table);
    }

    /// Fields and values, in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || {
                    let (_, f) = it.next()?;
                    let (_, v) = it.next()?;
                    Some((f, v))
                }))
            }
            Hash::Table(t) => Box::new(t.iter().map(|p| (p.field(), p.value()))),
        }
    }

    /// The field/value pair number `index` in iteration order (packed), or
    /// a uniformly random one (`random` picks it) in a table.
    pub fn random_pair(&self, random: u64) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(_) => {
                let n = self.len();
                if n == 0 {
                    return None;
                }
                self.iter().nth((random % n as u64) as usize)
            }
            Hash::Table(t) => t.random(random).map(|p| (p.field(), p.value())),
        }
    }

    /// The pair at position `index` of the iteration order: O(1) in a
    /// table (its elements are dense), a walk in a packed hash.
    pub fn nth(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(_) => self.iter().nth(index),
            Hash::Table(t) => (index < t.len()).then(|| {
                let pair = t.at(index);
                (pair.field(), pair.value())
            }),
        }
    }

    /// Redis's hashTypeTryConversion: a packed hash converts before a write
    /// when any of the written strings is longer than the packed limit.
    pub fn prepare_for<'a>(&mut self, mut items: impl Iterator<Item = &'a [u8]>, limits: &Encodings) {
        if matches!(self, Hash::Packed(_)) && items.any(|i| i.len() > limits.hash_max_listpack_value as usize) {
            self.convert();
        }
    }

    /// One HSCAN step: visits pairs and returns the next cursor (0 = done).
    /// A packed hash is returned whole, as Redis does.
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        match self {
            Hash::Packed(_) => {
                for (f, v) in self.iter() {
                    visit(f, v);
                }
                0
            }
            Hash::Table(t) => t.scan_step(cursor, |p| visit(p.field(), p.value())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_at_redis_limits_and_keeps_content() {
        let limits = Encodings {
            hash_max_listpack_entries: 4,
            hash_max_listpack_value: 8,
            ..Encodings::default()
        };
        let mut h = Hash::new();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", &limits));
        }
        assert_eq!(h.encoding_name(), "listpack");
        assert!(!h.set(b"f0", b"v2", &limits));
        assert_eq!(h.get(b"f0"), Some(&b"v2"[..]));
        assert!(h.set(b"f4", b"v", &limits));
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f0"), Some(&b"v2"[..]));
        let mut g = Hash::new();
        g.set(b"a", b"123456789", &limits);
        assert_eq!(g.encoding_name(), "hashtable");
        assert!(h.remove(b"f1") && !h.remove(b"f1"));
        assert_eq!(h.len(), 4);
        let mut small = Hash::new();
        small.set(b"x", b"1", &limits);
        small.set(b"y", b"2", &limits);
        assert!(small.remove(b"x"));
        assert_eq!(small.iter().collect::<Vec<_>>(), vec![(&b"y"[..], &b"2"[..])]);
    }
}
