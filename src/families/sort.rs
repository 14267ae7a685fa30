//! SORT and SORT_RO: sort a list, set or sorted set (numerically or ALPHA),
//! optionally by the values of other keys or hash fields named by a
//! pattern (BY), returning other keys' values (GET), a LIMIT window, and
//! STORE into a list. BY/GET patterns may name keys on any shard: the
//! command locks every shard it may touch, reads the source on its owner,
//! fetches the pattern values shard by shard, sorts on this core and
//! writes the result on the destination's owner, so it is atomic.

use crate::command::{asynchronous, CommandDef, LocalFuture};
use crate::errors;
use crate::exec::now_ms;
use crate::keyspace::Value;
use crate::resp::parse::parse_i64;
use crate::session::Session;
use crate::shard::ShardState;
use crate::slot::key_shard;
use crate::types::List;
use crate::OwnedArgv;
use cores::ShardId;
use std::collections::{BTreeMap, BTreeSet};

pub static COMMANDS: &[CommandDef] = &[asynchronous("sort", sort), asynchronous("sort_ro", sort_ro)];

fn sort(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(sort_command(session, argv, false))
}

fn sort_ro(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(sort_command(session, argv, true))
}

struct Options {
    desc: bool,
    alpha: bool,
    start: i64,
    count: i64,
    store: Option<Vec<u8>>,
    by: Option<Vec<u8>>,
    dontsort: bool,
    gets: Vec<Vec<u8>>,
}

fn parse(argv: &crate::resp::Argv, readonly: bool) -> Result<Options, &'static str> {
    let mut o = Options {
        desc: false,
        alpha: false,
        start: 0,
        count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < argv.len() {
        let arg = argv.get(j);
        let left = argv.len() - j - 1;
        if arg.eq_ignore_ascii_case(b"asc") {
            o.desc = false;
        } else if arg.eq_ignore_ascii_case(b"desc") {
            o.desc = true;
        } else if arg.eq_ignore_ascii_case(b"alpha") {
            o.alpha = true;
        } else if arg.eq_ignore_ascii_case(b"limit") && left >= 2 {
            match (parse_i64(argv.get(j + 1)), parse_i64(argv.get(j + 2))) {
                (Some(s), Some(c)) => {
                    o.start = s;
                    o.count = c;
                }
                _ => return Err(errors::NOT_INTEGER),
            }
            j += 2;
        } else if !readonly && arg.eq_ignore_ascii_case(b"store") && left >= 1 {
            o.store = Some(argv.get(j + 1).to_vec());
            j += 1;
        } else if arg.eq_ignore_ascii_case(b"by") && left >= 1 {
            let pattern = argv.get(j + 1).to_vec();
            o.dontsort = !pattern.contains(&b'*');
            o.by = Some(pattern);
            j += 1;
        } else if arg.eq_ignore_ascii_case(b"get") && left >= 1 {
            o.gets.push(argv.get(j + 1).to_vec());
            j += 1;
        } else {
            return Err(errors::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

/// SORT's key arguments as Redis's sortGetKeys finds them: the source and
/// the last STORE destination (options with arguments skipped).
pub fn key_indexes(argv: &crate::resp::Argv) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut j = 2;
    while j < argv.len() {
        let arg = argv.get(j);
        let skip = if arg.eq_ignore_ascii_case(b"limit") {
            2
        } else if arg.eq_ignore_ascii_case(b"get") || arg.eq_ignore_ascii_case(b"by") {
            1
        } else if arg.eq_ignore_ascii_case(b"store") {
            if j + 1 < argv.len() {
                store = Some(j + 1);
            }
            1
        } else {
            0
        };
        j += 1 + skip;
    }
    keys.extend(store);
    keys
}

/// The key (and hash field) a pattern names for `element`, as Redis's
/// lookupKeyByPattern: None for "#" (the element itself) handled by the
/// caller, and for a pattern without `*` (no key at all).
fn pattern_key(pattern: &[u8], element: &[u8]) -> Option<Lookup> {
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let (middle, field) = match after.windows(2).position(|w| w == b"->") {
        Some(p) if p + 2 < after.len() => (&after[..p], Some(after[p + 2..].to_vec())),
        _ => (after, None),
    };
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(middle);
    Some((key, field))
}

/// A key and, for `key->field` patterns, the hash field.
type Lookup = (Vec<u8>, Option<Vec<u8>>);

/// The source's elements: Ok(None) when the key is absent.
type Source = Option<(SourceKind, Vec<Vec<u8>>)>;

#[derive(Clone, Copy, PartialEq)]
enum SourceKind {
    List,
    Set,
    ZSet,
}

fn read_source(state: &mut ShardState, db: usize, key: &[u8]) -> Result<Source, &'static str> {
    let now = now_ms();
    let Some(entry) = state.dbs[db].read(key, now) else {
        return Ok(None);
    };
    Ok(Some(match &entry.value {
        Value::List(l) => (SourceKind::List, l.iter().map(<[u8]>::to_vec).collect()),
        Value::Set(s) => (SourceKind::Set, s.iter().map(|e| e.to_vec()).collect()),
        Value::ZSet(z) => (SourceKind::ZSet, z.iter().map(|(m, _)| m.to_vec()).collect()),
        _ => return Err(errors::WRONGTYPE),
    }))
}

/// Looks up (key, field) pairs on one shard: string values, or hash fields.
fn lookup_all(state: &mut ShardState, db: usize, wanted: Vec<Lookup>) -> Vec<Option<Vec<u8>>> {
    let now = now_ms();
    wanted
        .into_iter()
        .map(|(key, field)| {
            let entry = state.dbs[db].read(&key, now)?;
            match (&entry.value, field) {
                (Value::Hash(h), Some(f)) => h.get(&f).map(<[u8]>::to_vec),
                (v, None) if v.is_string() => v.string_bytes().map(|b| b.to_vec()),
                _ => None,
            }
        })
        .collect()
}

async fn sort_command(session: &mut Session, argv: OwnedArgv, readonly: bool) {
    let args = argv.argv();
    let mut o = match parse(&args, readonly) {
        Ok(o) => o,
        Err(e) => return session.out.error(e),
    };
    let src = args.get(1).to_vec();
    let shards = session.shard_count();
    let db = session.db;
    // Patterns can name any key: lock every shard then; else only the
    // source's and the destination's.
    let patterned = o.by.as_ref().is_some_and(|p| p.contains(&b'*')) || !o.gets.is_empty();
    let targets: Vec<ShardId> = if patterned {
        session.all_shards()
    } else {
        let mut t: BTreeSet<ShardId> = BTreeSet::new();
        t.insert(key_shard(&src, shards));
        if let Some(dst) = &o.store {
            t.insert(key_shard(dst, shards));
        }
        t.into_iter().collect()
    };
    session
        .locked(&targets, async |s: &mut Session| {
            let source = {
                let src = src.clone();
                s.call(key_shard(&src, shards), move |state: &mut ShardState| {
                    read_source(state, db, &src)
                })
                .await
            };
            let (kind, mut elements) = match source {
                Err(e) => return s.out.error(e),
                Ok(None) => (SourceKind::List, Vec::new()),
                Ok(Some(found)) => found,
            };
            if o.dontsort && kind == SourceKind::Set && o.store.is_some() {
                o.dontsort = false;
                o.alpha = true;
                o.by = None;
            }
            let len = elements.len() as i64;
            let mut start = o.start.max(0).min(len);
            let count = o.count.max(-1).min(len);
            let mut end = if count < 0 { len - 1 } else { start + count - 1 };
            if start >= len {
                start = len - 1;
                end = len - 2;
            }
            if end >= len {
                end = len - 1;
            }
            if o.dontsort {
                if kind != SourceKind::Set && o.desc {
                    elements.reverse();
                }
            } else {
                // The sort keys: BY values, or the elements themselves.
                let weights: Vec<Option<Vec<u8>>> = match &o.by {
                    Some(pattern) => fetch(s, db, pattern, &elements).await,
                    None => elements.iter().map(|e| Some(e.clone())).collect(),
                };
                let mut scores = vec![0.0f64; elements.len()];
                if !o.alpha {
                    for (score, w) in scores.iter_mut().zip(&weights) {
                        if let Some(w) = w {
                            match parse_weight(w) {
                                Some(v) => *score = v,
                                None => {
                                    return s.out.error("ERR One or more scores can't be converted into double");
                                }
                            }
                        }
                    }
                }
                let by_pattern = o.by.is_some();
                let mut order: Vec<usize> = (0..elements.len()).collect();
                order.sort_by(|&a, &b| {
                    let cmp = if !o.alpha {
                        scores[a]
                            .partial_cmp(&scores[b])
                            .unwrap_or(std::cmp::Ordering::Equal)
                            .then_with(|| elements[a].cmp(&elements[b]))
                    } else if by_pattern {
                        match (&weights[a], &weights[b]) {
                            (None, None) => std::cmp::Ordering::Equal,
                            (None, Some(_)) => std::cmp::Ordering::Less,
                            (Some(_), None) => std::cmp::Ordering::Greater,
                            (Some(x), Some(y)) => x.cmp(y),
                        }
                    } else {
                        elements[a].cmp(&elements[b])
                    };
                    if o.desc {
                        cmp.reverse()
                    } else {
                        cmp
                    }
                });
                elements = order.into_iter().map(|i| std::mem::take(&mut elements[i])).collect();
            }
            let window: Vec<Vec<u8>> = if end >= start && start >= 0 {
                elements[start as usize..=end as usize].to_vec()
            } else {
                Vec::new()
            };
            // The output: the elements, or one value per GET per element.
            let mut output: Vec<Option<Vec<u8>>> = Vec::new();
            if o.gets.is_empty() {
                output.extend(window.iter().map(|e| Some(e.clone())));
            } else {
                let mut columns = Vec::new();
                for pattern in &o.gets {
                    columns.push(fetch(s, db, pattern, &window).await);
                }
                for i in 0..window.len() {
                    for column in &columns {
                        output.push(column[i].clone());
                    }
                }
            }
            match &o.store {
                None => {
                    s.out.array(output.len());
                    for v in &output {
                        match v {
                            Some(v) => s.out.bulk(v),
                            None => s.out.null(),
                        }
                    }
                }
                Some(dst) => {
                    let values: Vec<Vec<u8>> = output.into_iter().map(Option::unwrap_or_default).collect();
                    let n = values.len();
                    let dst = dst.clone();
                    s.call(key_shard(&dst, shards), move |state: &mut ShardState| {
                        let now = now_ms();
                        let limits = crate::types::list::ListLimits {
                            fill: state.config.settings.encodings.list_max_listpack_size,
                            packed_threshold: state.list_packed_threshold,
                        };
                        let db = &mut state.dbs[db];
                        if values.is_empty() {
                            // Redis signals the key as modified even when
                            // there was nothing to delete.
                            db.delete(&dst, now);
                            db.modified(&dst);
                        } else {
                            let mut list = List::new();
                            for v in &values {
                                list.push_back(v, limits);
                            }
                            db.set(&dst, Value::List(Box::new(list)), false, now);
                        }
                        crate::blocking::notify_if_ready(state);
                    })
                    .await;
                    s.out.int(n as i64);
                    // Replicas run the same SORT ... STORE (the shards are
                    // still locked: nothing changed its inputs since).
                    let whole: Vec<&[u8]> = args.iter().collect();
                    s.out.propagate(vec![crate::repl::feed::Op::new(db, &whole)]);
                }
            }
        })
        .await;
}

/// Redis parses sort weights with strtod over the whole string.
fn parse_weight(w: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(w).ok()?;
    let v: f64 = match text.trim_start().to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        t => t.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// The values `pattern` names for each element, fetched from the shards
/// owning the keys ("#" is the element itself).
async fn fetch(session: &mut Session, db: usize, pattern: &[u8], elements: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    if pattern == b"#" {
        return elements.iter().map(|e| Some(e.clone())).collect();
    }
    let shards = session.shard_count();
    let mut result: Vec<Option<Vec<u8>>> = vec![None; elements.len()];
    let mut by_shard: BTreeMap<ShardId, (Vec<usize>, Vec<Lookup>)> = BTreeMap::new();
    for (i, e) in elements.iter().enumerate() {
        if let Some((key, field)) = pattern_key(pattern, e) {
            let part = by_shard.entry(key_shard(&key, shards)).or_default();
            part.0.push(i);
            part.1.push((key, field));
        }
    }
    for (shard, (positions, wanted)) in by_shard {
        let values = session
            .call(shard, move |state: &mut ShardState| lookup_all(state, db, wanted))
            .await;
        for (i, v) in positions.into_iter().zip(values) {
            result[i] = v;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_keys_and_hash_fields() {
        assert_eq!(pattern_key(b"w_*", b"3"), Some((b"w_3".to_vec(), None)));
        assert_eq!(
            pattern_key(b"h_*->f", b"3"),
            Some((b"h_3".to_vec(), Some(b"f".to_vec())))
        );
        // "->" with nothing after it is part of the key name.
        assert_eq!(pattern_key(b"h_*->", b"3"), Some((b"h_3->".to_vec(), None)));
        assert_eq!(pattern_key(b"const", b"3"), None);
    }
}
