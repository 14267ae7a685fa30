//! The set type in Redis 7.0's two encodings.
//!
//! - `intset`: a sorted vector of integers while every member is a
//!   canonical 64-bit integer and there are at most
//!   `set-max-intset-entries` of them.
//! - `hashtable`: the keyspace's own table (`keyspace::table`: dense
//!   elements, an 8-byte probe array, SCAN-safe cursors, uniform random
//!   picks) of members stored as `CompactBytes` (up to 22 bytes inline, so
//!   short members cost no allocation of their own).
//!
//! A set converts to `hashtable` once and never back, as in Redis.

use crate::config::Encodings;
use crate::keyspace::table::{Keyed, Table};
use crate::keyspace::CompactBytes;
use crate::resp::parse::parse_i64;
use crate::resp::reply::itoa_buf;
use crate::resp::ReplyBuf;

#[derive(Clone, PartialEq)]
pub struct Member(CompactBytes);

impl Keyed for Member {
    fn key(&self) -> &[u8] {
        &self.0
    }
}

/// One member as a set yields it: intsets hold integers, not strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Elem<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Int(n) => itoa_buf(n).as_bytes().to_vec(),
            Elem::Bytes(b) => b.to_vec(),
        }
    }

    /// Writes the member as a bulk string.
    pub fn reply(self, out: &mut ReplyBuf) {
        match self {
            Elem::Int(n) => out.bulk_int(n),
            Elem::Bytes(b) => out.bulk(b),
        }
    }

    /// Calls `f` with the member's bytes (integers rendered on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Int(n) => f(itoa_buf(n).as_bytes()),
            Elem::Bytes(b) => f(b),
        }
    }
}

#[derive(Clone)]
pub enum Set {
    Ints(Vec<i64>),
    Table(Table<Member>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.len() == other.len() && self.iter().all(|e| e.with_bytes(|b| other.contains(b)))
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|e| String::from_utf8_lossy(&e.to_vec()).into_owned()))
            .finish()
    }
}

impl Set {
    /// An empty set of the encoding Redis's setTypeCreate picks for a
    /// first member.
    pub fn for_member(member: &[u8]) -> Set {
        if parse_i64(member).is_some() {
            Set::Ints(Vec::new())
        } else {
            Set::Table(Table::new())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    /// Heap bytes held (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        use crate::memory::usable_size;
        match self {
            Set::Ints(v) => usable_size(v.capacity() * 8),
            Set::Table(t) => {
                usable_size(t.capacity() * 8)
                    + usable_size(t.len() * std::mem::size_of::<Member>())
                    + t.iter()
                        .map(|m| match &m.0 {
                            CompactBytes::Inline { .. } => 0,
                            CompactBytes::Heap(b) => usable_size(b.len()),
                        })
                        .sum::<usize>()
            }
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            Set::Table(t) => t.contains(member),
        }
    }

    /// Adds `member`; returns whether it is new.
    pub fn add(&mut self, member: &[u8], limits: &Encodings) -> bool {
        if let Set::Ints(v) = self {
            match parse_i64(member) {
                Some(n) => match v.binary_search(&n) {
                    Ok(_) => return false,
                    Err(at) => {
                        if v.len() < limits.set_max_intset_entries as usize {
                            v.insert(at, n);
                            return true;
                        }
                        self.convert();
                    }
                },
                None => self.convert(),
            }
        }
        let Set::Table(t) = self else { unreachable!("converted") };
        if t.contains(member) {
            return false;
        }
        t.insert_new(Member(CompactBytes::new(member)));
        true
    }

    /// Removes `member`; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Set::Table(t) => t.remove(member).is_some(),
        }
    }

    fn convert(&mut self) {
        let Set::Ints(v) = self else { return };
        let mut table = Table::new();
        for &n in v.iter() {
            table.insert_new(Member(CompactBytes::new(itoa_buf(n).as_bytes())));
        }
        *self = Set::Table(table);
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = Elem<'_>> + '_> {
        match self {
            Set::Ints(v) => Box::new(v.iter().map(|&n| Elem::Int(n))),
            Set::Table(t) => Box::new(t.iter().map(|m| Elem::Bytes(&m.0))),
        }
    }

    /// The member at position `index` of the iteration order (O(1)).
    pub fn nth(&self, index: usize) -> Option<Elem<'_>> {
        match self {
            Set::Ints(v) => v.get(index).map(|&n| Elem::Int(n)),
            Set::Table(t) => (index < t.len()).then(|| Elem::Bytes(&t.at(index).0)),
        }
    }

    /// One SSCAN step: visits members, returns the next cursor (0 = done).
    /// An intset is returned whole, as Redis does.
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(Elem<'a>)) -> u64 {
        match self {
            Set::Ints(v) => {
                for &n in v {
                    visit(Elem::Int(n));
                }
                0
            }
            Set::Table(t) => t.scan_step(cursor, |m| visit(Elem::Bytes(&m.0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_until_a_string_or_too_many() {
        let limits = Encodings {
            set_max_intset_entries: 3,
            ..Encodings::default()
        };
        let mut s = Set::for_member(b"3");
        assert!(s.add(b"3", &limits) && s.add(b"-1", &limits) && !s.add(b"3", &limits));
        assert_eq!(s.encoding_name(), "intset");
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Elem::Int(-1), Elem::Int(3)]);
        assert!(!s.contains(b"03") && s.contains(b"3"));
        assert!(s.add(b"7", &limits));
        assert!(s.add(b"8", &limits));
        assert_eq!(s.encoding_name(), "hashtable");
        assert_eq!(s.len(), 4);
        assert!(s.contains(b"-1") && s.remove(b"-1") && !s.contains(b"-1"));
        let mut t = Set::for_member(b"a");
        assert_eq!(t.encoding_name(), "hashtable");
        t.add(b"a", &limits);
        let mut u = Set::for_member(b"1");
        u.add(b"1", &limits);
        u.add(b"x", &limits);
        assert_eq!(u.encoding_name(), "hashtable");
        assert!(u.contains(b"1") && u.contains(b"x"));
    }
}
