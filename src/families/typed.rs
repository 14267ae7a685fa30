//! Typed key lookups shared by the collection families: the value under a
//! key as one type, or Redis's WRONGTYPE error when it holds another.

use crate::errors;
use crate::keyspace::{Db, Value};
use crate::resp::parse::parse_i64;
use crate::resp::Argv;

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

/// The arguments of LMPOP / BLMPOP / ZMPOP / BZMPOP after the numkeys
/// position: the keys, the side (LEFT|RIGHT or MIN|MAX) and the count.
pub struct MpopArgs<'a, S> {
    pub keys: Vec<&'a [u8]>,
    pub side: S,
    pub count: usize,
}

/// Parses `numkeys key... <side> [COUNT n]` from `numkeys_at`, with
/// Redis's errors; `side` parses the side token.
pub fn parse_mpop<'a, S>(
    argv: &'a Argv,
    numkeys_at: usize,
    side: fn(&[u8]) -> Option<S>,
) -> Result<MpopArgs<'a, S>, &'static str> {
    let numkeys = match parse_i64(argv.get(numkeys_at)) {
        Some(n) if n >= 1 => n as usize,
        _ => return Err("ERR numkeys should be greater than 0"),
    };
    let side_at = numkeys_at.saturating_add(1).saturating_add(numkeys);
    if side_at >= argv.len() {
        return Err(errors::SYNTAX);
    }
    let side = side(argv.get(side_at)).ok_or(errors::SYNTAX)?;
    let mut count = None;
    let mut i = side_at + 1;
    while i < argv.len() {
        if count.is_none() && argv.get(i).eq_ignore_ascii_case(b"count") && i + 1 < argv.len() {
            match parse_i64(argv.get(i + 1)) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => return Err("ERR count should be greater than 0"),
            }
            i += 2;
        } else {
            return Err(errors::SYNTAX);
        }
    }
    Ok(MpopArgs {
        keys: (numkeys_at + 1..side_at).map(|i| argv.get(i)).collect(),
        side,
        count: count.unwrap_or(1),
    })
}
