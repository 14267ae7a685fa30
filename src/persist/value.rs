//! Values to and from Redis's RDB object encodings: the layouts Redis 7.0
//! writes (string, quicklist-2 of listpacks, listpack or table hashes, intset
//! or table sets, listpack or binary-double sorted sets) and every older
//! layout Redis 7.0 still loads (ziplists, zipmaps, text doubles).

use crate::config::Encodings;
use crate::keyspace::Value;
use crate::types::list::ListLimits;
use crate::types::{Hash, List, Set, ZSet};
use wal::listpack::{listpack_decode, ListpackWriter, LpEntry};
use wal::rdb::{self, RdbError, RdbReader, RdbWriter};

/// The limits a loaded value's encoding follows.
#[derive(Clone, Copy)]
pub struct LoadLimits {
    pub encodings: Encodings,
    pub list: ListLimits,
}

/// Writes `value` as its type byte followed by its RDB encoding (a DUMP
/// payload's body).
pub fn write_value(w: &mut RdbWriter, value: &Value) {
    write_object(w, None, value)
}

/// Writes a snapshot's key record: type byte, key, value.
pub fn write_entry(w: &mut RdbWriter, key: &[u8], value: &Value) {
    write_object(w, Some(key), value)
}

fn head(w: &mut RdbWriter, type_byte: u8, key: Option<&[u8]>) {
    w.u8(type_byte);
    if let Some(key) = key {
        w.string(key);
    }
}

fn write_object(w: &mut RdbWriter, key: Option<&[u8]>, value: &Value) {
    match value {
        Value::Int(n) => {
            head(w, rdb::TYPE_STRING, key);
            w.int_string(*n);
        }
        Value::Str(bytes) => {
            head(w, rdb::TYPE_STRING, key);
            w.string(bytes.as_slice());
        }
        Value::Raw(bytes) => {
            head(w, rdb::TYPE_STRING, key);
            w.string(bytes);
        }
        Value::List(list) => write_list(w, key, list),
        Value::Hash(hash) => write_hash(w, key, hash),
        Value::Set(set) => write_set(w, key, set),
        Value::ZSet(zset) => write_zset(w, key, zset),
    }
}

fn write_list(w: &mut RdbWriter, key: Option<&[u8]>, list: &List) {
    head(w, rdb::TYPE_LIST_QUICKLIST_2, key);
    let nodes: Vec<_> = list.nodes().collect();
    w.length(nodes.len() as u64);
    for (plain, items) in nodes {
        if plain {
            w.length(rdb::QUICKLIST_NODE_PLAIN);
            for item in items {
                w.string(item);
            }
        } else {
            w.length(rdb::QUICKLIST_NODE_PACKED);
            let mut lp = ListpackWriter::new();
            for item in items {
                lp.push_str(item);
            }
            w.string(&lp.finish());
        }
    }
}

fn write_hash(w: &mut RdbWriter, key: Option<&[u8]>, hash: &Hash) {
    if hash.encoding_name() == "listpack" {
        head(w, rdb::TYPE_HASH_LISTPACK, key);
        let mut lp = ListpackWriter::new();
        for (field, value) in hash.iter() {
            lp.push_str(field);
            lp.push_str(value);
        }
        w.string(&lp.finish());
    } else {
        head(w, rdb::TYPE_HASH, key);
        w.length(hash.len() as u64);
        for (field, value) in hash.iter() {
            w.string(field);
            w.string(value);
        }
    }
}

fn write_set(w: &mut RdbWriter, key: Option<&[u8]>, set: &Set) {
    match set {
        Set::Ints(ints) => {
            head(w, rdb::TYPE_SET_INTSET, key);
            w.string(&wal::intset::intset_encode(ints));
        }
        Set::Table(_) => {
            head(w, rdb::TYPE_SET, key);
            w.length(set.len() as u64);
            for member in set.iter() {
                member.with_bytes(|bytes| w.string(bytes));
            }
        }
    }
}

fn write_zset(w: &mut RdbWriter, key: Option<&[u8]>, zset: &ZSet) {
    if zset.encoding_name() == "listpack" {
        head(w, rdb::TYPE_ZSET_LISTPACK, key);
        let mut lp = ListpackWriter::new();
        for (member, score) in zset.iter() {
            lp.push_str(member);
            lp.push_str(crate::resp::reply::format_double(score).as_bytes());
        }
        w.string(&lp.finish());
    } else {
        // Redis writes from the tail so that loading inserts at the head.
        head(w, rdb::TYPE_ZSET_2, key);
        w.length(zset.len() as u64);
        if let Some(last) = zset.len().checked_sub(1) {
            for (member, score) in zset.iter_rev_from(last) {
                w.string(member);
                w.binary_double(score);
            }
        }
    }
}

/// Reads a value of RDB type `type_byte`, giving it the encoding Redis would
/// after loading it under `limits`.
pub fn read_value(r: &mut RdbReader, type_byte: u8, limits: &LoadLimits) -> Result<Value, RdbError> {
    let start = r.offset();
    let bad = |what| RdbError { offset: start, what };
    let value = match type_byte {
        rdb::TYPE_STRING => Value::from_vec(r.string()?.into_owned()),
        rdb::TYPE_LIST => {
            let n = r.count(1)?;
            let mut list = List::new();
            for _ in 0..n {
                list.push_back(&r.string()?, limits.list);
            }
            Value::List(Box::new(list))
        }
        rdb::TYPE_LIST_QUICKLIST | rdb::TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.count(1)?;
            let mut list = List::new();
            for _ in 0..nodes {
                let container = if type_byte == rdb::TYPE_LIST_QUICKLIST_2 {
                    r.length()?
                } else {
                    rdb::QUICKLIST_NODE_PACKED
                };
                let blob = r.string()?;
                match container {
                    rdb::QUICKLIST_NODE_PLAIN => list.push_back_plain(&blob),
                    rdb::QUICKLIST_NODE_PACKED => {
                        let entries = if type_byte == rdb::TYPE_LIST_QUICKLIST_2 {
                            listpack_decode(&blob)
                        } else {
                            wal::ziplist::ziplist_decode(&blob)
                        }
                        .ok_or(bad("invalid quicklist node"))?;
                        // Redis skips empty nodes when loading.
                        for entry in entries {
                            with_entry(&entry, |item| list.push_back(item, limits.list));
                        }
                    }
                    _ => return Err(bad("unknown quicklist container")),
                }
            }
            if list.is_empty() {
                return Err(bad("empty list"));
            }
            Value::List(Box::new(list))
        }
        rdb::TYPE_LIST_ZIPLIST => {
            let blob = r.string()?;
            let entries = wal::ziplist::ziplist_decode(&blob).ok_or(bad("invalid ziplist"))?;
            let mut list = List::new();
            for entry in entries {
                with_entry(&entry, |item| list.push_back(item, limits.list));
            }
            Value::List(Box::new(list))
        }
        rdb::TYPE_SET => {
            let n = r.count(1)?;
            let mut set: Option<Set> = None;
            for _ in 0..n {
                let member = r.string()?;
                match &mut set {
                    None => {
                        let mut s = Set::for_member(&member);
                        s.add(&member, &limits.encodings);
                        set = Some(s);
                    }
                    Some(s) => {
                        if !s.add(&member, &limits.encodings) {
                            return Err(bad("duplicate set member"));
                        }
                    }
                }
            }
            Value::Set(Box::new(set.ok_or(bad("empty set"))?))
        }
        rdb::TYPE_SET_INTSET => {
            let blob = r.string()?;
            let ints = wal::intset::intset_decode(&blob).ok_or(bad("invalid intset"))?;
            if ints.is_empty() || ints.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad("invalid intset"));
            }
            let mut set = Set::for_member(b"0");
            for n in ints {
                set.add(crate::resp::reply::itoa_buf(n).as_bytes(), &limits.encodings);
            }
            Value::Set(Box::new(set))
        }
        rdb::TYPE_HASH => {
            let n = r.count(2)?;
            let mut hash = Hash::default();
            for _ in 0..n {
                let field = r.string()?;
                let value = r.string()?;
                if !hash.set(&field, &value, &limits.encodings) {
                    return Err(bad("duplicate hash field"));
                }
            }
            if hash.is_empty() {
                return Err(bad("empty hash"));
            }
            Value::Hash(Box::new(hash))
        }
        rdb::TYPE_HASH_LISTPACK | rdb::TYPE_HASH_ZIPLIST => {
            let blob = r.string()?;
            let entries = if type_byte == rdb::TYPE_HASH_LISTPACK {
                listpack_decode(&blob)
            } else {
                wal::ziplist::ziplist_decode(&blob)
            }
            .ok_or(bad("invalid hash listpack"))?;
            if entries.is_empty() || entries.len() % 2 != 0 {
                return Err(bad("invalid hash listpack"));
            }
            let mut hash = Hash::default();
            for pair in entries.chunks(2) {
                let field = entry_bytes(&pair[0]);
                let value = entry_bytes(&pair[1]);
                if !hash.set(&field, &value, &limits.encodings) {
                    return Err(bad("duplicate hash field"));
                }
            }
            Value::Hash(Box::new(hash))
        }
        rdb::TYPE_HASH_ZIPMAP => {
            let blob = r.string()?;
            let pairs = wal::zipmap::zipmap_decode(&blob).ok_or(bad("invalid zipmap"))?;
            let mut hash = Hash::default();
            for (field, value) in pairs {
                if !hash.set(field, value, &limits.encodings) {
                    return Err(bad("duplicate hash field"));
                }
            }
            if hash.is_empty() {
                return Err(bad("empty hash"));
            }
            Value::Hash(Box::new(hash))
        }
        rdb::TYPE_ZSET | rdb::TYPE_ZSET_2 => {
            let n = r.count(2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let member = r.string()?.into_owned();
                let score = if type_byte == rdb::TYPE_ZSET_2 {
                    r.binary_double()?
                } else {
                    r.text_double()?
                };
                if score.is_nan() {
                    return Err(bad("NaN score"));
                }
                pairs.push((member, score));
            }
            Value::ZSet(Box::new(build_zset(pairs, limits).ok_or(bad("duplicate zset member"))?))
        }
        rdb::TYPE_ZSET_LISTPACK | rdb::TYPE_ZSET_ZIPLIST => {
            let blob = r.string()?;
            let entries = if type_byte == rdb::TYPE_ZSET_LISTPACK {
                listpack_decode(&blob)
            } else {
                wal::ziplist::ziplist_decode(&blob)
            }
            .ok_or(bad("invalid zset listpack"))?;
            if entries.is_empty() || entries.len() % 2 != 0 {
                return Err(bad("invalid zset listpack"));
            }
            let mut pairs = Vec::with_capacity(entries.len() / 2);
            for pair in entries.chunks(2) {
                let score = match pair[1] {
                    LpEntry::Int(n) => n as f64,
                    LpEntry::Str(text) => std::str::from_utf8(text)
                        .ok()
                        .and_then(|t| crate::families::zset::parse_score(t.as_bytes()))
                        .ok_or(bad("invalid zset score"))?,
                };
                pairs.push((entry_bytes(&pair[0]).into_owned(), score));
            }
            Value::ZSet(Box::new(build_zset(pairs, limits).ok_or(bad("duplicate zset member"))?))
        }
        rdb::TYPE_MODULE | rdb::TYPE_MODULE_2 => return Err(bad("module values are not supported")),
        rdb::TYPE_STREAM_LISTPACKS | rdb::TYPE_STREAM_LISTPACKS_2 => {
            return Err(bad("stream values are not supported"))
        }
        _ => return Err(bad("unknown value type")),
    };
    Ok(value)
}

fn build_zset(pairs: Vec<(Vec<u8>, f64)>, limits: &LoadLimits) -> Option<ZSet> {
    let max_len = pairs.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut zset = ZSet::with_hint(pairs.len(), max_len, &limits.encodings);
    for (member, score) in &pairs {
        if !zset.insert(member, *score, &limits.encodings) {
            return None;
        }
    }
    (!zset.is_empty()).then_some(zset)
}

fn entry_bytes<'a>(entry: &LpEntry<'a>) -> std::borrow::Cow<'a, [u8]> {
    match entry {
        LpEntry::Str(bytes) => std::borrow::Cow::Borrowed(bytes),
        LpEntry::Int(n) => std::borrow::Cow::Owned(crate::resp::reply::itoa_buf(*n).as_bytes().to_vec()),
    }
}

fn with_entry(entry: &LpEntry, f: impl FnOnce(&[u8])) {
    match entry {
        LpEntry::Str(bytes) => f(bytes),
        LpEntry::Int(n) => f(crate::resp::reply::itoa_buf(*n).as_bytes()),
    }
}

/// Skips a value of RDB type `type_byte` without building it (a shard
/// loading a snapshot passes over the keys other shards own).
pub fn skip_value(r: &mut RdbReader, type_byte: u8) -> Result<(), RdbError> {
    let strings = |r: &mut RdbReader, per_element: u64| -> Result<(), RdbError> {
        let n = r.length()?;
        for _ in 0..n.saturating_mul(per_element) {
            r.skip_string()?;
        }
        Ok(())
    };
    match type_byte {
        rdb::TYPE_STRING
        | rdb::TYPE_LIST_ZIPLIST
        | rdb::TYPE_SET_INTSET
        | rdb::TYPE_HASH_LISTPACK
        | rdb::TYPE_HASH_ZIPLIST
        | rdb::TYPE_HASH_ZIPMAP
        | rdb::TYPE_ZSET_LISTPACK
        | rdb::TYPE_ZSET_ZIPLIST => r.skip_string(),
        rdb::TYPE_LIST | rdb::TYPE_SET => strings(r, 1),
        rdb::TYPE_HASH => strings(r, 2),
        rdb::TYPE_LIST_QUICKLIST => strings(r, 1),
        rdb::TYPE_LIST_QUICKLIST_2 => {
            let n = r.length()?;
            for _ in 0..n {
                r.length()?;
                r.skip_string()?;
            }
            Ok(())
        }
        rdb::TYPE_ZSET | rdb::TYPE_ZSET_2 => {
            let n = r.length()?;
            for _ in 0..n {
                r.skip_string()?;
                if type_byte == rdb::TYPE_ZSET_2 {
                    r.bytes(8)?;
                } else {
                    r.text_double()?;
                }
            }
            Ok(())
        }
        _ => Err(r.error("unsupported value type")),
    }
}

/// A DUMP payload for `value`.
pub fn dump(value: &Value, compress: bool) -> Vec<u8> {
    let mut w = RdbWriter::new(compress);
    write_value(&mut w, value);
    w.finish_dump()
}

/// The value in a DUMP payload, or None when the payload is invalid.
pub fn undump(payload: &[u8], limits: &LoadLimits) -> Option<Value> {
    let body = rdb::verify_dump(payload)?;
    let mut r = RdbReader::new(body);
    let type_byte = r.u8().ok()?;
    let value = read_value(&mut r, type_byte, limits).ok()?;
    (r.remaining() == 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::CompactBytes;

    fn limits(tiny: bool) -> LoadLimits {
        let mut encodings = Encodings::default();
        if tiny {
            encodings.hash_max_listpack_entries = 2;
            encodings.set_max_intset_entries = 2;
            encodings.zset_max_listpack_entries = 2;
            encodings.list_max_listpack_size = 2;
        }
        LoadLimits {
            encodings,
            list: ListLimits {
                fill: encodings.list_max_listpack_size,
                packed_threshold: if tiny { 8 } else { 1 << 30 },
            },
        }
    }

    /// One value of each type, built under `limits` so every encoding
    /// (packed and big) occurs across the two limit sets.
    fn samples(limits: &LoadLimits) -> Vec<Value> {
        let e = &limits.encodings;
        let mut list = List::new();
        let mut hash = Hash::default();
        let mut ints = Set::for_member(b"1");
        let mut strs = Set::for_member(b"a");
        let mut zset = ZSet::with_hint(5, 10, e);
        for i in 0..5i64 {
            list.push_back(format!("item-{i}-long-enough").as_bytes(), limits.list);
            list.push_back(i.to_string().as_bytes(), limits.list);
            hash.set(format!("f{i}").as_bytes(), format!("{}", i * 1000).as_bytes(), e);
            ints.add(i.to_string().as_bytes(), e);
            strs.add(format!("m{i}").as_bytes(), e);
            zset.insert(format!("z{i}").as_bytes(), i as f64 * 1.5 - 2.0, e);
        }
        zset.insert(b"inf", f64::INFINITY, e);
        vec![
            Value::Int(-42),
            Value::Int(i64::MIN),
            Value::Str(CompactBytes::new(b"hello")),
            Value::Raw(vec![b'x'; 300]),
            Value::List(Box::new(list)),
            Value::Hash(Box::new(hash)),
            Value::Set(Box::new(ints)),
            Value::Set(Box::new(strs)),
            Value::ZSet(Box::new(zset)),
        ]
    }

    #[test]
    fn every_type_and_encoding_round_trips() {
        for tiny in [false, true] {
            let limits = limits(tiny);
            for value in samples(&limits) {
                for compress in [false, true] {
                    let payload = dump(&value, compress);
                    let back = undump(&payload, &limits).expect("undump");
                    assert_eq!(back.string_bytes(), value.string_bytes());
                    match (&back, &value) {
                        (Value::List(a), Value::List(b)) => {
                            assert!(a.iter().eq(b.iter()));
                            assert_eq!(a.nodes().count(), b.nodes().count(), "same node layout");
                        }
                        (Value::Hash(a), Value::Hash(b)) => {
                            assert_eq!(a, b);
                            assert_eq!(a.encoding_name(), b.encoding_name());
                        }
                        (Value::Set(a), Value::Set(b)) => {
                            assert_eq!(a, b);
                            assert_eq!(a.encoding_name(), b.encoding_name());
                        }
                        (Value::ZSet(a), Value::ZSet(b)) => {
                            assert!(a.iter().eq(b.iter()));
                            assert_eq!(a.encoding_name(), b.encoding_name());
                        }
                        _ => assert_eq!(back.value_type(), value.value_type()),
                    }
                }
            }
        }
    }

    #[test]
    fn damaged_payloads_are_rejected_without_panicking() {
        let limits = limits(false);
        for value in samples(&limits) {
            let mut w = RdbWriter::new(false);
            write_value(&mut w, &value);
            let body = w.buf;
            for cut in 0..body.len() {
                let mut r = RdbReader::new(&body[..cut]);
                if let Ok(t) = r.u8() {
                    assert!(read_value(&mut r, t, &limits).is_err() || r.remaining() == 0);
                }
                let mut r = RdbReader::new(&body[..cut]);
                if let Ok(t) = r.u8() {
                    let _ = skip_value(&mut r, t);
                }
            }
            for flip in 0..body.len() {
                let mut damaged = body.clone();
                damaged[flip] ^= 0x5A;
                let mut r = RdbReader::new(&damaged);
                if let Ok(t) = r.u8() {
                    let _ = read_value(&mut r, t, &limits);
                }
            }
        }
    }
}
