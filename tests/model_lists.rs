//! Seeded randomized model test for lists: LPUSH/RPUSH/LPUSHX, LPOP/RPOP
//! (with counts), LINDEX, LSET, LINSERT, LREM, LTRIM, LRANGE, LLEN, LPOS
//! and LMOVE between keys on every shard, plus string writes and DEL,
//! against a VecDeque model on 1, 2 and 4 shards, with default node sizes
//! and with two-element nodes so node splits and merges happen constantly.
//!
//! TESSERA_SEED=n replays one seed; a failure names seed, step and command.

mod common;
mod model_support;
mod strings_support;

use model_support::{ModelTest, Step};
use rand::rngs::SmallRng;
use rand::Rng;
use std::collections::{BTreeMap, VecDeque};
use strings_support::{array, bulk, err, int, NULL, OK};

const SEEDS: u64 = 30;
const STEPS: usize = 300;
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[derive(Clone)]
enum Data {
    Str,
    L(VecDeque<Vec<u8>>),
}

type Model = BTreeMap<Vec<u8>, Data>;

fn item(rng: &mut SmallRng) -> Vec<u8> {
    match rng.gen_range(0..4) {
        0 => rng.gen_range(0..5).to_string().into_bytes(),
        1 => vec![b'x'; rng.gen_range(0..40)],
        _ => format!("e{}", rng.gen_range(0..6)).into_bytes(),
    }
}

fn get(model: &Model, key: &[u8]) -> Result<VecDeque<Vec<u8>>, ()> {
    match model.get(key) {
        None => Ok(VecDeque::new()),
        Some(Data::L(l)) => Ok(l.clone()),
        Some(Data::Str) => Err(()),
    }
}

fn put(model: &mut Model, key: &[u8], l: VecDeque<Vec<u8>>) {
    if l.is_empty() {
        model.remove(key);
    } else {
        model.insert(key.to_vec(), Data::L(l));
    }
}

/// Redis's range normalisation for LRANGE/LTRIM.
fn range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let n = len as i64;
    let mut s = if start < 0 { n + start } else { start };
    let mut e = if stop < 0 { n + stop } else { stop };
    s = s.max(0);
    if s > e || s >= n {
        return None;
    }
    e = e.min(n - 1);
    Some((s as usize, e as usize))
}

fn step(rng: &mut SmallRng, model: &mut Model, keys: &[Vec<u8>]) -> Step {
    let key = keys[rng.gen_range(0..keys.len())].clone();
    let a = |s: &str| s.as_bytes().to_vec();
    let current = get(model, &key);
    match rng.gen_range(0..15) {
        0..=2 => {
            let cmd = ["LPUSH", "RPUSH", "LPUSHX"][rng.gen_range(0..3)];
            let items: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).map(|_| item(rng)).collect();
            let mut args = vec![a(cmd), key.clone()];
            args.extend(items.iter().cloned());
            let Ok(mut l) = current else {
                return (args, err(WRONGTYPE));
            };
            if cmd == "LPUSHX" && l.is_empty() {
                return (args, int(0));
            }
            for i in items {
                if cmd == "RPUSH" {
                    l.push_back(i);
                } else {
                    l.push_front(i);
                }
            }
            let n = l.len() as i64;
            put(model, &key, l);
            (args, int(n))
        }
        3 => {
            let right = rng.gen_bool(0.5);
            let count = rng.gen_bool(0.5).then(|| rng.gen_range(0..4usize));
            let mut args = vec![a(if right { "RPOP" } else { "LPOP" }), key.clone()];
            if let Some(c) = count {
                args.push(c.to_string().into_bytes());
            }
            let Ok(mut l) = current else {
                return (args, err(WRONGTYPE));
            };
            if l.is_empty() {
                return (
                    args,
                    if count.is_some() {
                        b"*-1\r\n".to_vec()
                    } else {
                        NULL.to_vec()
                    },
                );
            }
            let n = count.unwrap_or(1).min(l.len());
            let popped: Vec<Vec<u8>> = (0..n)
                .map(|_| if right { l.pop_back() } else { l.pop_front() }.unwrap())
                .collect();
            put(model, &key, l);
            match count {
                None => (args, bulk(&popped[0])),
                Some(_) => (args, array(&popped.iter().map(|p| bulk(p)).collect::<Vec<_>>())),
            }
        }
        4 => {
            let i = rng.gen_range(-6i64..6);
            let args = vec![a("LINDEX"), key, i.to_string().into_bytes()];
            let Ok(l) = current else {
                return (args, err(WRONGTYPE));
            };
            let n = l.len() as i64;
            let idx = if i < 0 { n + i } else { i };
            match (0..n).contains(&idx) {
                true => (args, bulk(&l[idx as usize])),
                false => (args, NULL.to_vec()),
            }
        }
        5 => {
            let i = rng.gen_range(-6i64..6);
            let v = item(rng);
            let args = vec![a("LSET"), key.clone(), i.to_string().into_bytes(), v.clone()];
            let Ok(mut l) = current else {
                return (args, err(WRONGTYPE));
            };
            if l.is_empty() {
                return (args, err("ERR no such key"));
            }
            let n = l.len() as i64;
            let idx = if i < 0 { n + i } else { i };
            if !(0..n).contains(&idx) {
                return (args, err("ERR index out of range"));
            }
            l[idx as usize] = v;
            put(model, &key, l);
            (args, OK.to_vec())
        }
        6 => {
            let after = rng.gen_bool(0.5);
            let (pivot, v) = (item(rng), item(rng));
            let args = vec![
                a("LINSERT"),
                key.clone(),
                a(if after { "AFTER" } else { "BEFORE" }),
                pivot.clone(),
                v.clone(),
            ];
            let Ok(mut l) = current else {
                return (args, err(WRONGTYPE));
            };
            if l.is_empty() {
                return (args, int(0));
            }
            match l.iter().position(|e| *e == pivot) {
                None => (args, int(-1)),
                Some(p) => {
                    l.insert(if after { p + 1 } else { p }, v);
                    let n = l.len() as i64;
                    put(model, &key, l);
                    (args, int(n))
                }
            }
        }
        7 => {
            let count = rng.gen_range(-2i64..3);
            let v = item(rng);
            let args = vec![a("LREM"), key.clone(), count.to_string().into_bytes(), v.clone()];
            let Ok(l) = current else {
                return (args, err(WRONGTYPE));
            };
            let limit = count.unsigned_abs() as usize;
            let mut removed = 0;
            let mut keep = vec![true; l.len()];
            let order: Vec<usize> = if count < 0 {
                (0..l.len()).rev().collect()
            } else {
                (0..l.len()).collect()
            };
            for i in order {
                if (limit == 0 || removed < limit) && l[i] == v {
                    keep[i] = false;
                    removed += 1;
                }
            }
            let rest: VecDeque<Vec<u8>> = l.into_iter().zip(keep).filter(|(_, k)| *k).map(|(e, _)| e).collect();
            put(model, &key, rest);
            (args, int(removed as i64))
        }
        8 => {
            let (s, e) = (rng.gen_range(-5i64..5), rng.gen_range(-5i64..5));
            let args = vec![
                a("LTRIM"),
                key.clone(),
                s.to_string().into_bytes(),
                e.to_string().into_bytes(),
            ];
            let Ok(l) = current else {
                return (args, err(WRONGTYPE));
            };
            let kept: VecDeque<Vec<u8>> = match range(l.len(), s, e) {
                None => VecDeque::new(),
                Some((s, e)) => l.into_iter().skip(s).take(e - s + 1).collect(),
            };
            put(model, &key, kept);
            (args, OK.to_vec())
        }
        9 | 10 => {
            let (s, e) = (rng.gen_range(-6i64..6), rng.gen_range(-6i64..6));
            let args = vec![a("LRANGE"), key, s.to_string().into_bytes(), e.to_string().into_bytes()];
            let Ok(l) = current else {
                return (args, err(WRONGTYPE));
            };
            let items: Vec<Vec<u8>> = match range(l.len(), s, e) {
                None => Vec::new(),
                Some((s, e)) => l.iter().skip(s).take(e - s + 1).map(|x| bulk(x)).collect(),
            };
            (args, array(&items))
        }
        11 => {
            let v = item(rng);
            let args = vec![a("LPOS"), key, v.clone(), a("COUNT"), a("0")];
            let Ok(l) = current else {
                return (args, err(WRONGTYPE));
            };
            let hits: Vec<Vec<u8>> = l
                .iter()
                .enumerate()
                .filter(|(_, e)| **e == v)
                .map(|(i, _)| int(i as i64))
                .collect();
            (args, array(&hits))
        }
        12 => {
            let dst = keys[rng.gen_range(0..keys.len())].clone();
            let (from, to) = (rng.gen_bool(0.5), rng.gen_bool(0.5));
            let side = |left: bool| if left { b"LEFT".to_vec() } else { b"RIGHT".to_vec() };
            let args = vec![a("LMOVE"), key.clone(), dst.clone(), side(from), side(to)];
            let Ok(mut l) = current else {
                return (args, err(WRONGTYPE));
            };
            if l.is_empty() {
                return (args, NULL.to_vec());
            }
            let Ok(_) = get(model, &dst) else {
                return (args, err(WRONGTYPE));
            };
            let v = if from { l.pop_front() } else { l.pop_back() }.unwrap();
            if dst == key {
                if to {
                    l.push_front(v.clone());
                } else {
                    l.push_back(v.clone());
                }
                put(model, &key, l);
            } else {
                put(model, &key, l);
                let mut d = get(model, &dst).unwrap();
                if to {
                    d.push_front(v.clone());
                } else {
                    d.push_back(v.clone());
                }
                put(model, &dst, d);
            }
            (args, bulk(&v))
        }
        13 => {
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
fn random_list_commands_match_model() {
    ModelTest::<Model> {
        key_prefix: "l",
        keys: 4,
        seeds: SEEDS,
        steps: STEPS,
        configs: &[
            ("default nodes", &[]),
            ("two-element nodes", &["--list-max-listpack-size", "2"]),
        ],
        step,
        normalize: model_support::unchanged,
    }
    .run();
}
