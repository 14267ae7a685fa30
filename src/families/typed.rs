//! Typed key lookups shared by the collection families: the value under a
//! key as one type, or Redis's WRONGTYPE error when it holds another.

use crate::errors;
use crate::keyspace::{Db, Value};

/// For a read (hit/miss counted, LRU touched): Ok(None) when absent.
pub fn read<'a, T: ?Sized>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    pick: fn(&Value) -> Option<&T>,
) -> Result<Option<&'a T>, &'static str> {
    match db.read(key, now) {
        None => Ok(None),
        Some(entry) => pick(&entry.value).map(Some).ok_or(errors::WRONGTYPE),
    }
}

/// For a write, if the key exists.
pub fn write<'a, T: ?Sized>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    pick: fn(&mut Value) -> Option<&mut T>,
) -> Result<Option<&'a mut T>, &'static str> {
    match db.write(key, now) {
        None => Ok(None),
        Some(entry) => pick(&mut entry.value).map(Some).ok_or(errors::WRONGTYPE),
    }
}

/// For a write that creates the key with `create()` when it is absent.
pub fn write_or_create<'a, T: ?Sized>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    pick: fn(&mut Value) -> Option<&mut T>,
    create: impl FnOnce() -> Value,
) -> Result<&'a mut T, &'static str> {
    if write(db, key, now, pick)?.is_none() {
        db.set(key, create(), false, now);
    }
    Ok(write(db, key, now, pick)?.expect("just created"))
}

/// Deletes `key` when `is_empty` says its collection is empty (Redis never
/// keeps an empty collection).
pub fn delete_if_empty(db: &mut Db, key: &[u8], now: u64, is_empty: fn(&Value) -> bool) {
    if db.peek(key, now).is_some_and(|e| is_empty(&e.value)) {
        db.delete(key, now);
    }
}
