//! Values stored under keys, with Redis's encodings as compact as possible.
//! Strings come in three forms that map onto Redis's `int`, `embstr` and
//! `raw` encodings; collections are boxed types from `crate::types`.

use super::CompactBytes;
use crate::resp::parse::parse_i64;
use crate::resp::reply::itoa_buf;
use crate::types::{Hash, List, Set, ZSet};
use std::borrow::Cow;

/// Strings up to this length are `embstr` in Redis; longer ones are `raw`.
pub const EMBSTR_SIZE_LIMIT: usize = 44;
/// Redis tries the `int` encoding only for strings up to this length.
pub const INT_ENCODING_MAX_LEN: usize = 20;

#[derive(Clone, Debug, PartialEq)]
#[allow(dead_code)] // collections are constructed once their families land
pub enum Value {
    /// A string that parses as a strict 64-bit integer (`int`).
    Int(i64),
    /// A string written whole (`embstr` up to 44 bytes, else `raw`).
    Str(CompactBytes),
    /// A string modified in place (APPEND, SETRANGE, SETBIT): always `raw`,
    /// with spare capacity so repeated appends stay amortised O(1).
    Raw(Vec<u8>),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

/// The type names TYPE reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
        }
    }
}

impl Value {
    /// A string value, choosing the encoding Redis's tryObjectEncoding would.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= INT_ENCODING_MAX_LEN {
            if let Some(n) = parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::Str(CompactBytes::new(bytes))
    }

    pub fn from_vec(bytes: Vec<u8>) -> Value {
        if bytes.len() <= INT_ENCODING_MAX_LEN {
            if let Some(n) = parse_i64(&bytes) {
                return Value::Int(n);
            }
        }
        Value::Str(CompactBytes::from_vec(bytes))
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
        }
    }

    pub fn is_string(&self) -> bool {
        self.value_type() == ValueType::String
    }

    /// The string's bytes (an integer rendered in decimal).
    pub fn string_bytes(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Value::Int(n) => Some(Cow::Owned(itoa_buf(*n).as_bytes().to_vec())),
            Value::Str(bytes) => Some(Cow::Borrowed(bytes.as_slice())),
            Value::Raw(bytes) => Some(Cow::Borrowed(bytes.as_slice())),
            _ => None,
        }
    }

    /// The string's length without rendering integers.
    pub fn string_len(&self) -> Option<usize> {
        match self {
            Value::Int(n) => Some(itoa_buf(*n).as_bytes().len()),
            Value::Str(bytes) => Some(bytes.len()),
            Value::Raw(bytes) => Some(bytes.len()),
            _ => None,
        }
    }

    /// Turns a string value into the mutable `raw` form and returns its bytes.
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        let bytes = match self {
            Value::Raw(bytes) => return Some(bytes),
            Value::Int(n) => itoa_buf(*n).as_bytes().to_vec(),
            Value::Str(bytes) => bytes.to_vec(),
            _ => return None,
        };
        *self = Value::Raw(bytes);
        match self {
            Value::Raw(bytes) => Some(bytes),
            _ => unreachable!(),
        }
    }

    pub fn as_hash(&self) -> Option<&Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_hash_mut(&mut self) -> Option<&mut Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_list_mut(&mut self) -> Option<&mut List> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_zset(&self) -> Option<&ZSet> {
        match self {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn as_zset_mut(&mut self) -> Option<&mut ZSet> {
        match self {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn as_set(&self) -> Option<&Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_set_mut(&mut self) -> Option<&mut Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    /// Heap bytes the value holds beyond its own slot (MEMORY USAGE),
    /// in the allocator's size classes.
    pub fn heap_bytes(&self) -> usize {
        use crate::memory::usable_size;
        match self {
            Value::Int(_) => 0,
            Value::Str(CompactBytes::Inline { .. }) => 0,
            Value::Str(CompactBytes::Heap(bytes)) => usable_size(bytes.len()),
            Value::Raw(bytes) => usable_size(bytes.capacity()),
            Value::List(list) => usable_size(std::mem::size_of::<List>()) + list.heap_bytes(),
            Value::Hash(hash) => usable_size(std::mem::size_of::<Hash>()) + hash.heap_bytes(),
            Value::Set(set) => usable_size(std::mem::size_of::<Set>()) + set.heap_bytes(),
            Value::ZSet(zset) => usable_size(std::mem::size_of::<ZSet>()) + zset.heap_bytes(),
        }
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(bytes) if bytes.len() <= EMBSTR_SIZE_LIMIT => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
            Value::List(list) => list.encoding_name(),
            Value::Hash(hash) => hash.encoding_name(),
            Value::Set(set) => set.encoding_name(),
            Value::ZSet(zset) => zset.encoding_name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(Value::from_bytes(b"12345").encoding_name(), "int");
        assert_eq!(Value::from_bytes(b"012").encoding_name(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 44]).encoding_name(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 45]).encoding_name(), "raw");
        let mut v = Value::from_bytes(b"7");
        v.make_raw().unwrap().push(b'8');
        assert_eq!(v.encoding_name(), "raw");
        assert_eq!(v.string_bytes().unwrap().as_ref(), b"78");
    }
}
