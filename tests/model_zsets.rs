//! Seeded randomized model test for sorted sets: ZADD (NX XX GT LT CH),
//! ZINCRBY, ZREM, ZSCORE, ZRANK/ZREVRANK, ZRANGE by rank and BYSCORE (REV,
//! WITHSCORES), ZCOUNT, ZPOPMIN/ZPOPMAX, ZUNIONSTORE/ZINTERSTORE over keys
//! on every shard, plus string writes and DEL, against a BTreeMap model on
//! 1, 2 and 4 shards, with default limits and with tiny
//! zset-max-listpack-entries so encodings convert mid-run.
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

#[derive(Clone)]
enum Data {
    Str,
    Z(BTreeMap<Vec<u8>, f64>),
}

type Model = BTreeMap<Vec<u8>, Data>;

/// Scores the model formats exactly as Redis's %.17g does.
fn fmt(score: f64) -> Vec<u8> {
    if score == score.trunc() {
        format!("{}", score as i64).into_bytes()
    } else {
        format!("{score}").into_bytes()
    }
}

fn score(rng: &mut SmallRng) -> f64 {
    rng.gen_range(-6i32..6) as f64 / 2.0
}

fn member(rng: &mut SmallRng) -> Vec<u8> {
    format!("m{}", rng.gen_range(0..9)).into_bytes()
}

fn get(model: &Model, key: &[u8]) -> Result<BTreeMap<Vec<u8>, f64>, ()> {
    match model.get(key) {
        None => Ok(BTreeMap::new()),
        Some(Data::Z(z)) => Ok(z.clone()),
        Some(Data::Str) => Err(()),
    }
}

fn put(model: &mut Model, key: &[u8], z: BTreeMap<Vec<u8>, f64>) {
    if z.is_empty() {
        model.remove(key);
    } else {
        model.insert(key.to_vec(), Data::Z(z));
    }
}

fn sorted(z: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
    v
}

fn with_scores(items: &[(Vec<u8>, f64)]) -> Vec<u8> {
    let mut parts = Vec::new();
    for (m, s) in items {
        parts.push(bulk(m));
        parts.push(bulk(&fmt(*s)));
    }
    array(&parts)
}

fn step(rng: &mut SmallRng, model: &mut Model, keys: &[Vec<u8>]) -> Step {
    let key = keys[rng.gen_range(0..keys.len())].clone();
    let a = |s: &str| s.as_bytes().to_vec();
    let current = get(model, &key);
    match rng.gen_range(0..14) {
        0..=2 => {
            let opt = ["", "NX", "XX", "GT", "LT"][rng.gen_range(0..5)];
            let ch = rng.gen_bool(0.3);
            let pairs: Vec<(f64, Vec<u8>)> = (0..rng.gen_range(1..4)).map(|_| (score(rng), member(rng))).collect();
            let mut args = vec![a("ZADD"), key.clone()];
            if !opt.is_empty() {
                args.push(a(opt));
            }
            if ch {
                args.push(a("CH"));
            }
            for (s, m) in &pairs {
                args.push(fmt(*s));
                args.push(m.clone());
            }
            let Ok(mut z) = current else {
                return (args, err(WRONGTYPE));
            };
            let (mut added, mut changed) = (0, 0);
            for (s, m) in pairs {
                match z.get(&m).copied() {
                    Some(cur) => {
                        let skip = opt == "NX" || (opt == "GT" && s <= cur) || (opt == "LT" && s >= cur);
                        if !skip && s != cur {
                            z.insert(m, s);
                            changed += 1;
                        }
                    }
                    None => {
                        if opt != "XX" {
                            z.insert(m, s);
                            added += 1;
                        }
                    }
                }
            }
            put(model, &key, z);
            (args, int(if ch { added + changed } else { added }))
        }
        3 => {
            let (by, m) = (score(rng), member(rng));
            let args = vec![a("ZINCRBY"), key.clone(), fmt(by), m.clone()];
            let Ok(mut z) = current else {
                return (args, err(WRONGTYPE));
            };
            let new = z.get(&m).copied().unwrap_or(0.0) + by;
            z.insert(m, new);
            put(model, &key, z);
            (args, bulk(&fmt(new)))
        }
        4 => {
            let ms: Vec<Vec<u8>> = (0..rng.gen_range(1..3)).map(|_| member(rng)).collect();
            let mut args = vec![a("ZREM"), key.clone()];
            args.extend(ms.iter().cloned());
            let Ok(mut z) = current else {
                return (args, err(WRONGTYPE));
            };
            let n = ms.iter().filter(|m| z.remove(*m).is_some()).count();
            put(model, &key, z);
            (args, int(n as i64))
        }
        5 => {
            let m = member(rng);
            let args = vec![a("ZSCORE"), key, m.clone()];
            match current {
                Err(()) => (args, err(WRONGTYPE)),
                Ok(z) => (args, z.get(&m).map(|s| bulk(&fmt(*s))).unwrap_or(NULL.to_vec())),
            }
        }
        6 => {
            let m = member(rng);
            let rev = rng.gen_bool(0.5);
            let args = vec![a(if rev { "ZREVRANK" } else { "ZRANK" }), key, m.clone()];
            match current {
                Err(()) => (args, err(WRONGTYPE)),
                Ok(z) => {
                    let order = sorted(&z);
                    match order.iter().position(|(x, _)| *x == m) {
                        Some(r) => (args, int(if rev { order.len() - 1 - r } else { r } as i64)),
                        None => (args, NULL.to_vec()),
                    }
                }
            }
        }
        7 => {
            let (start, stop) = (rng.gen_range(-5i64..5), rng.gen_range(-5i64..5));
            let rev = rng.gen_bool(0.4);
            let mut args = vec![
                a("ZRANGE"),
                key,
                start.to_string().into_bytes(),
                stop.to_string().into_bytes(),
            ];
            if rev {
                args.push(a("REV"));
            }
            args.push(a("WITHSCORES"));
            let Ok(z) = current else {
                return (args, err(WRONGTYPE));
            };
            let mut order = sorted(&z);
            if rev {
                order.reverse();
            }
            let n = order.len() as i64;
            let (mut s, mut e) = (
                if start < 0 { n + start } else { start },
                if stop < 0 { n + stop } else { stop },
            );
            s = s.max(0);
            if s > e || s >= n {
                return (args, array(&[]));
            }
            e = e.min(n - 1);
            (args, with_scores(&order[s as usize..=e as usize]))
        }
        8 => {
            let (lo, hi) = (score(rng), score(rng));
            let count = rng.gen_bool(0.5);
            let args = if count {
                vec![
                    a("ZCOUNT"),
                    key,
                    fmt(lo),
                    format!("({}", String::from_utf8(fmt(hi)).unwrap()).into_bytes(),
                ]
            } else {
                vec![a("ZRANGE"), key, fmt(lo), fmt(hi), a("BYSCORE"), a("WITHSCORES")]
            };
            let Ok(z) = current else {
                return (args, err(WRONGTYPE));
            };
            let picked: Vec<(Vec<u8>, f64)> = sorted(&z)
                .into_iter()
                .filter(|(_, s)| *s >= lo && if count { *s < hi } else { *s <= hi })
                .collect();
            if count {
                (args, int(picked.len() as i64))
            } else {
                (args, with_scores(&picked))
            }
        }
        9 => {
            let max = rng.gen_bool(0.5);
            let n = rng.gen_range(1..4);
            let args = vec![
                a(if max { "ZPOPMAX" } else { "ZPOPMIN" }),
                key.clone(),
                n.to_string().into_bytes(),
            ];
            let Ok(mut z) = current else {
                return (args, err(WRONGTYPE));
            };
            let mut order = sorted(&z);
            if max {
                order.reverse();
            }
            order.truncate(n);
            for (m, _) in &order {
                z.remove(m);
            }
            put(model, &key, z);
            (args, with_scores(&order))
        }
        10 | 11 => {
            let inter = rng.gen_bool(0.5);
            let sources: Vec<Vec<u8>> = (0..rng.gen_range(1..4))
                .map(|_| keys[rng.gen_range(0..keys.len())].clone())
                .collect();
            let mut args = vec![a(if inter { "ZINTERSTORE" } else { "ZUNIONSTORE" }), key.clone()];
            args.push(sources.len().to_string().into_bytes());
            args.extend(sources.iter().cloned());
            let mut inputs = Vec::new();
            for s in &sources {
                match model.get(s) {
                    Some(Data::Str) => return (args, err(WRONGTYPE)),
                    Some(Data::Z(z)) => inputs.push(Some(z.clone())),
                    None => inputs.push(None),
                }
            }
            let mut result: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            if inter {
                if inputs.iter().all(Option::is_some) {
                    let first = inputs[0].clone().unwrap();
                    for (m, s) in first {
                        if inputs[1..].iter().all(|i| i.as_ref().unwrap().contains_key(&m)) {
                            let total = s + inputs[1..].iter().map(|i| i.as_ref().unwrap()[&m]).sum::<f64>();
                            result.insert(m, total);
                        }
                    }
                }
            } else {
                for z in inputs.iter().flatten() {
                    for (m, s) in z {
                        *result.entry(m.clone()).or_insert(0.0) += s;
                    }
                }
            }
            let n = result.len() as i64;
            put(model, &key, result);
            (args, int(n))
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

#[test]
fn random_zset_commands_match_model() {
    ModelTest::<Model> {
        key_prefix: "z",
        keys: 5,
        seeds: SEEDS,
        steps: STEPS,
        configs: &[
            ("default limits", &[]),
            ("tiny limits", &["--zset-max-listpack-entries", "3"]),
        ],
        step,
        normalize: model_support::unchanged,
    }
    .run();
}
