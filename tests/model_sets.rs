//! Seeded randomized model test for sets: SADD/SREM/SMOVE/SISMEMBER/
//! SMISMEMBER/SCARD/SMEMBERS/SINTER/SUNION/SDIFF/SINTERCARD and the *STORE
//! forms (keys spread over every shard, so the multi-key commands run
//! across shards), plus string writes and DEL for WRONGTYPE and deletion,
//! against a BTreeSet model on 1, 2 and 4 shards, with default limits and
//! with a tiny set-max-intset-entries so conversions happen mid-run.
//!
//! TESSERA_SEED=n replays one seed; a failure names seed, step and command.

mod common;
mod model_support;
mod strings_support;

use model_support::{ModelTest, Step};
use rand::rngs::SmallRng;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use strings_support::{array, bulk, err, int, OK};

const SEEDS: u64 = 30;
const STEPS: usize = 300;
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[derive(Clone)]
enum Data {
    Str,
    Set(BTreeSet<Vec<u8>>),
}

type Model = BTreeMap<Vec<u8>, Data>;

fn member(rng: &mut SmallRng) -> Vec<u8> {
    match rng.gen_range(0..3) {
        0 => rng.gen_range(-5i64..10).to_string().into_bytes(),
        1 => format!("m{}", rng.gen_range(0..8)).into_bytes(),
        _ => vec![b'z'; rng.gen_range(1..30)],
    }
}

/// The set under `key`: Ok(None) if absent, Err if another type.
fn get(model: &Model, key: &[u8]) -> Result<Option<BTreeSet<Vec<u8>>>, ()> {
    match model.get(key) {
        None => Ok(None),
        Some(Data::Set(s)) => Ok(Some(s.clone())),
        Some(Data::Str) => Err(()),
    }
}

fn put(model: &mut Model, key: &[u8], set: BTreeSet<Vec<u8>>) {
    if set.is_empty() {
        model.remove(key);
    } else {
        model.insert(key.to_vec(), Data::Set(set));
    }
}

/// A sorted array reply (the test sorts the server's set replies).
fn sorted_array(set: &BTreeSet<Vec<u8>>) -> Vec<u8> {
    array(&set.iter().map(|m| bulk(m)).collect::<Vec<_>>())
}

fn combine(op: &str, sets: &[Option<BTreeSet<Vec<u8>>>]) -> BTreeSet<Vec<u8>> {
    match op {
        "INTER" => {
            if sets.iter().any(Option::is_none) {
                return BTreeSet::new();
            }
            let mut it = sets.iter().flatten();
            let first = it.next().cloned().unwrap_or_default();
            it.fold(first, |acc, s| acc.intersection(s).cloned().collect())
        }
        "UNION" => sets.iter().flatten().flatten().cloned().collect(),
        _ => {
            let Some(first) = sets[0].clone() else {
                return BTreeSet::new();
            };
            sets[1..]
                .iter()
                .flatten()
                .fold(first, |acc, s| acc.difference(s).cloned().collect())
        }
    }
}

fn step(rng: &mut SmallRng, model: &mut Model, keys: &[Vec<u8>]) -> Step {
    let key = keys[rng.gen_range(0..keys.len())].clone();
    let a = |s: &str| s.as_bytes().to_vec();
    let pick = |rng: &mut SmallRng, n: usize| -> Vec<Vec<u8>> {
        (0..n).map(|_| keys[rng.gen_range(0..keys.len())].clone()).collect()
    };
    match rng.gen_range(0..13) {
        0..=2 => {
            let members: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).map(|_| member(rng)).collect();
            let mut args = vec![a("SADD"), key.clone()];
            args.extend(members.iter().cloned());
            let Ok(set) = get(model, &key) else {
                return (args, err(WRONGTYPE));
            };
            let mut set = set.unwrap_or_default();
            let added = members.into_iter().filter(|m| set.insert(m.clone())).count();
            put(model, &key, set);
            (args, int(added as i64))
        }
        3 => {
            let members: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).map(|_| member(rng)).collect();
            let mut args = vec![a("SREM"), key.clone()];
            args.extend(members.iter().cloned());
            let Ok(set) = get(model, &key) else {
                return (args, err(WRONGTYPE));
            };
            let mut set = set.unwrap_or_default();
            let removed = members.iter().filter(|m| set.remove(*m)).count();
            put(model, &key, set);
            (args, int(removed as i64))
        }
        4 => {
            let dst = pick(rng, 1).remove(0);
            let m = member(rng);
            let args = vec![a("SMOVE"), key.clone(), dst.clone(), m.clone()];
            let src_set = match get(model, &key) {
                Err(()) => return (args, err(WRONGTYPE)),
                Ok(None) => return (args, int(0)),
                Ok(Some(s)) => s,
            };
            let Ok(dst_set) = get(model, &dst) else {
                return (args, err(WRONGTYPE));
            };
            if key == dst {
                return (args, int(src_set.contains(&m) as i64));
            }
            let mut src_set = src_set;
            if !src_set.remove(&m) {
                return (args, int(0));
            }
            let mut dst_set = dst_set.unwrap_or_default();
            dst_set.insert(m);
            put(model, &key, src_set);
            put(model, &dst, dst_set);
            (args, int(1))
        }
        5 => {
            let ms: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).map(|_| member(rng)).collect();
            let mut args = vec![a("SMISMEMBER"), key.clone()];
            args.extend(ms.iter().cloned());
            let Ok(set) = get(model, &key) else {
                return (args, err(WRONGTYPE));
            };
            let set = set.unwrap_or_default();
            (
                args,
                array(&ms.iter().map(|m| int(set.contains(m) as i64)).collect::<Vec<_>>()),
            )
        }
        6 => {
            let args = vec![a("SCARD"), key.clone()];
            match get(model, &key) {
                Err(()) => (args, err(WRONGTYPE)),
                Ok(set) => (args, int(set.map_or(0, |s| s.len() as i64))),
            }
        }
        7 => {
            let args = vec![a("SMEMBERS"), key.clone()];
            match get(model, &key) {
                Err(()) => (args, err(WRONGTYPE)),
                Ok(set) => (args, sorted_array(&set.unwrap_or_default())),
            }
        }
        8 | 9 => {
            let op = ["INTER", "UNION", "DIFF"][rng.gen_range(0..3)];
            let n = rng.gen_range(1..4);
            let sources = pick(rng, n);
            let store = rng.gen_bool(0.5);
            let mut args = vec![format!("S{op}{}", if store { "STORE" } else { "" }).into_bytes()];
            if store {
                args.push(key.clone());
            }
            args.extend(sources.iter().cloned());
            let mut sets = Vec::new();
            for s in &sources {
                match get(model, s) {
                    Err(()) => return (args, err(WRONGTYPE)),
                    Ok(set) => sets.push(set),
                }
            }
            let result = combine(op, &sets);
            if store {
                let n = result.len() as i64;
                put(model, &key, result);
                (args, int(n))
            } else {
                (args, sorted_array(&result))
            }
        }
        10 => {
            let n = rng.gen_range(1..4);
            let sources = pick(rng, n);
            let limit = rng.gen_range(0..3);
            let mut args = vec![a("SINTERCARD"), sources.len().to_string().into_bytes()];
            args.extend(sources.iter().cloned());
            args.extend([a("LIMIT"), limit.to_string().into_bytes()]);
            let mut sets = Vec::new();
            for s in &sources {
                match get(model, s) {
                    Err(()) => return (args, err(WRONGTYPE)),
                    Ok(set) => sets.push(set),
                }
            }
            let n = combine("INTER", &sets).len();
            (args, int(if limit > 0 { n.min(limit) } else { n } as i64))
        }
        11 => {
            model.insert(key.clone(), Data::Str);
            (vec![a("SET"), key, a("s")], OK.to_vec())
        }
        _ => {
            let existed = model.remove(&key).is_some();
            (vec![a("DEL"), key], int(existed as i64))
        }
    }
}

/// Set-valued replies (SMEMBERS, SINTER, SUNION, SDIFF) are compared sorted.
fn normalize(args: &[Vec<u8>], reply: Vec<u8>) -> Vec<u8> {
    let sorted = matches!(&args[0][..], b"SMEMBERS" | b"SINTER" | b"SUNION" | b"SDIFF");
    if !sorted || reply[0] != b'*' {
        return reply;
    }
    let header_end = reply.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut at = header_end;
    while at < reply.len() {
        let line_end = at + reply[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        let len: usize = std::str::from_utf8(&reply[at + 1..line_end]).unwrap().parse().unwrap();
        items.push(reply[line_end + 2..line_end + 2 + len].to_vec());
        at = line_end + 2 + len + 2;
    }
    items.sort();
    array(&items.iter().map(|m| bulk(m)).collect::<Vec<_>>())
}

#[test]
fn random_set_commands_match_model() {
    ModelTest::<Model> {
        key_prefix: "s",
        keys: 5,
        seeds: SEEDS,
        steps: STEPS,
        configs: &[
            ("default limits", &[]),
            ("tiny limits", &["--set-max-intset-entries", "3"]),
        ],
        step,
        normalize,
    }
    .run();
}
