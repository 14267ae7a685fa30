//! Seeded randomized model test for hashes: random HSET/HSETNX/HMSET/HDEL/
//! HINCRBY/HGET/HMGET/HLEN/HEXISTS/HSTRLEN/HKEYS sequences (plus string
//! writes and DEL on the same keys, for WRONGTYPE and deletion) against a
//! BTreeMap model, on 1, 2 and 4 shards, with Redis's default encoding
//! limits and with tiny ones so that conversions to `hashtable` happen
//! mid-run. Every reply must match byte for byte.
//!
//! TESSERA_SEED=n replays one seed; a failure names seed, step and command.

mod common;
mod model_support;
mod strings_support;

use model_support::{ModelTest, Step};
use rand::rngs::SmallRng;
use rand::Rng;
use std::collections::BTreeMap;
use strings_support::{array, bulk, err, int, NULL, OK};

const SEEDS: u64 = 30;
const STEPS: usize = 300;
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

enum Data {
    Str,
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
}

fn field(rng: &mut SmallRng) -> Vec<u8> {
    format!("f{}", rng.gen_range(0..10)).into_bytes()
}

fn value(rng: &mut SmallRng) -> Vec<u8> {
    match rng.gen_range(0..6) {
        0 | 1 => rng.gen_range(-50i64..50).to_string().into_bytes(),
        2 => vec![b'x'; rng.gen_range(0..20)],
        3 => b"a\r\nb\0".to_vec(),
        _ => format!("v{}", rng.gen_range(0..100)).into_bytes(),
    }
}

fn step(rng: &mut SmallRng, model: &mut BTreeMap<Vec<u8>, Data>, keys: &[Vec<u8>]) -> Step {
    let key = keys[rng.gen_range(0..keys.len())].clone();
    let a = |s: &str| s.as_bytes().to_vec();
    let wrong = matches!(model.get(&key), Some(Data::Str));
    let current = match model.get(&key) {
        Some(Data::Hash(h)) => Some(h.clone()),
        _ => None,
    };
    let hash = |_: &BTreeMap<Vec<u8>, Data>| current.clone();
    match rng.gen_range(0..14) {
        0..=2 => {
            let hmset = rng.gen_bool(0.3);
            let mut args = vec![a(if hmset { "HMSET" } else { "HSET" }), key.clone()];
            let mut pairs = Vec::new();
            for _ in 0..rng.gen_range(1..4) {
                let (f, v) = (field(rng), value(rng));
                args.push(f.clone());
                args.push(v.clone());
                pairs.push((f, v));
            }
            if wrong {
                return (args, err(WRONGTYPE));
            }
            let mut h = hash(model).unwrap_or_default();
            let mut created = 0;
            for (f, v) in pairs {
                created += h.insert(f, v).is_none() as i64;
            }
            model.insert(key, Data::Hash(h));
            (args, if hmset { OK.to_vec() } else { int(created) })
        }
        3 => {
            let (f, v) = (field(rng), value(rng));
            let args = vec![a("HSETNX"), key.clone(), f.clone(), v.clone()];
            if wrong {
                return (args, err(WRONGTYPE));
            }
            let mut h = hash(model).unwrap_or_default();
            let created = !h.contains_key(&f);
            if created {
                h.insert(f, v);
            }
            model.insert(key, Data::Hash(h));
            (args, int(created as i64))
        }
        4 | 5 => {
            let mut args = vec![a("HDEL"), key.clone()];
            let fields: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).map(|_| field(rng)).collect();
            args.extend(fields.iter().cloned());
            if wrong {
                return (args, err(WRONGTYPE));
            }
            let Some(mut h) = hash(model) else {
                return (args, int(0));
            };
            let deleted = fields.iter().filter(|f| h.remove(*f).is_some()).count();
            if h.is_empty() {
                model.remove(&key);
            } else {
                model.insert(key, Data::Hash(h));
            }
            (args, int(deleted as i64))
        }
        6 => {
            let f = field(rng);
            let by = rng.gen_range(-100i64..100);
            let args = vec![a("HINCRBY"), key.clone(), f.clone(), by.to_string().into_bytes()];
            if wrong {
                return (args, err(WRONGTYPE));
            }
            let mut h = hash(model).unwrap_or_default();
            let current = match h.get(&f) {
                None => 0,
                Some(v) => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok()) {
                    Some(n) if n.to_string().as_bytes() == v.as_slice() => n,
                    _ => return (args, err("ERR hash value is not an integer")),
                },
            };
            let result = current + by;
            h.insert(f, result.to_string().into_bytes());
            model.insert(key, Data::Hash(h));
            (args, int(result))
        }
        7 => {
            let f = field(rng);
            let args = vec![a("HGET"), key, f.clone()];
            if wrong {
                return (args, err(WRONGTYPE));
            }
            (
                args,
                hash(model)
                    .and_then(|h| h.get(&f).map(|v| bulk(v)))
                    .unwrap_or(NULL.to_vec()),
            )
        }
        8 => {
            let fields: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).map(|_| field(rng)).collect();
            let mut args = vec![a("HMGET"), key];
            args.extend(fields.iter().cloned());
            if wrong {
                return (args, err(WRONGTYPE));
            }
            let h = hash(model).unwrap_or_default();
            let replies: Vec<Vec<u8>> = fields
                .iter()
                .map(|f| h.get(f).map(|v| bulk(v)).unwrap_or(NULL.to_vec()))
                .collect();
            (args, array(&replies))
        }
        9 => {
            let args = vec![a("HLEN"), key];
            if wrong {
                return (args, err(WRONGTYPE));
            }
            (args, int(hash(model).map_or(0, |h| h.len() as i64)))
        }
        10 => {
            let f = field(rng);
            let strlen = rng.gen_bool(0.5);
            let args = vec![a(if strlen { "HSTRLEN" } else { "HEXISTS" }), key, f.clone()];
            if wrong {
                return (args, err(WRONGTYPE));
            }
            let h = hash(model).unwrap_or_default();
            let n = if strlen {
                h.get(&f).map_or(0, |v| v.len() as i64)
            } else {
                h.contains_key(&f) as i64
            };
            (args, int(n))
        }
        11 => {
            // Fields sorted by the test: order differs by encoding.
            let args = vec![a("HKEYS"), key];
            if wrong {
                return (args, err(WRONGTYPE));
            }
            let h = hash(model).unwrap_or_default();
            let fields: Vec<Vec<u8>> = h.keys().map(|f| bulk(f)).collect();
            (args, array(&fields))
        }
        12 => {
            model.insert(key.clone(), Data::Str);
            (vec![a("SET"), key, a("s")], OK.to_vec())
        }
        _ => {
            let existed = model.remove(&key).is_some();
            (vec![a("DEL"), key], int(existed as i64))
        }
    }
}

/// HKEYS replies are compared as sorted sets of fields.
fn normalize(args: &[Vec<u8>], reply: Vec<u8>) -> Vec<u8> {
    if args[0] != b"HKEYS" || reply[0] != b'*' {
        return reply;
    }
    let text = reply;
    let header_end = text.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut at = header_end;
    while at < text.len() {
        let line_end = at + text[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        let len: usize = std::str::from_utf8(&text[at + 1..line_end]).unwrap().parse().unwrap();
        let end = line_end + 2 + len + 2;
        items.push(text[at..end].to_vec());
        at = end;
    }
    items.sort_by(|x, y| {
        let data = |b: &[u8]| b[b.windows(2).position(|w| w == b"\r\n").unwrap() + 2..b.len() - 2].to_vec();
        data(x).cmp(&data(y))
    });
    let mut out = text[..header_end].to_vec();
    for item in items {
        out.extend(item);
    }
    out
}

#[test]
fn random_hash_commands_match_model() {
    ModelTest::<BTreeMap<Vec<u8>, Data>> {
        key_prefix: "h",
        keys: 5,
        seeds: SEEDS,
        steps: STEPS,
        configs: &[
            ("default limits", &[]),
            (
                "tiny limits",
                &["--hash-max-listpack-entries", "3", "--hash-max-listpack-value", "6"],
            ),
        ],
        step,
        normalize,
    }
    .run();
}
