//! Seeded randomized model test: random sequences of string commands run
//! against the server (1, 2 and 4 shards) and against a HashMap model in the
//! test; every reply must match the model byte for byte.
//!
//! Set TESSERA_SEED to replay one seed; a failure names its seed, step and
//! command.

mod common;
mod strings_support;

use common::{Raw, Server, SHARD_COUNTS};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use strings_support::{array, bulk, err, int, NULL, OK};

const SEEDS: u64 = 50;
const STEPS: usize = 300;
const KEYS_PER_SEED: usize = 6;

/// Redis's strict integer parsing: exactly the canonical decimal form.
fn strict_i64(bytes: &[u8]) -> Option<i64> {
    let n: i64 = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == bytes).then_some(n)
}

struct Model {
    data: HashMap<Vec<u8>, Vec<u8>>,
}

fn value_reply(value: Option<&Vec<u8>>) -> Vec<u8> {
    match value {
        Some(v) => bulk(v),
        None => NULL.to_vec(),
    }
}

fn random_value(rng: &mut SmallRng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0..=2 => rng.gen_range(-1000i64..1000).to_string().into_bytes(),
        3 => (i64::MAX - rng.gen_range(0..3)).to_string().into_bytes(),
        4 => (i64::MIN + rng.gen_range(0..3)).to_string().into_bytes(),
        _ => {
            const ALPHABET: &[u8] = b"ab01-\0\r\n xyz";
            let len = rng.gen_range(0..12);
            (0..len).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())]).collect()
        }
    }
}

/// One random command and the reply the model expects.
fn step(rng: &mut SmallRng, model: &mut Model, keys: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let key = keys[rng.gen_range(0..keys.len())].clone();
    let data = &mut model.data;
    let a = |s: &str| s.as_bytes().to_vec();
    match rng.gen_range(0..15) {
        0 => {
            let value = random_value(rng);
            let mut args = vec![a("SET"), key.clone(), value.clone()];
            let (nx, xx) = match rng.gen_range(0..4) {
                0 => (true, false),
                1 => (false, true),
                _ => (false, false),
            };
            if nx {
                args.push(a("NX"));
            }
            if xx {
                args.push(a("XX"));
            }
            let get = rng.gen_bool(0.3);
            if get {
                args.push(a("GET"));
            }
            if rng.gen_bool(0.2) {
                args.extend([a("EX"), a("100000")]);
            }
            let old = data.get(&key).cloned();
            let skip = (nx && old.is_some()) || (xx && old.is_none());
            if !skip {
                data.insert(key, value);
            }
            let reply = if get {
                value_reply(old.as_ref())
            } else if skip {
                NULL.to_vec()
            } else {
                OK.to_vec()
            };
            (args, reply)
        }
        1 => (vec![a("GET"), key.clone()], value_reply(data.get(&key))),
        2 => {
            let suffix = random_value(rng);
            let entry = data.entry(key.clone()).or_default();
            entry.extend_from_slice(&suffix);
            let len = entry.len() as i64;
            (vec![a("APPEND"), key, suffix], int(len))
        }
        3 | 4 => {
            let (args, by) = if rng.gen_bool(0.5) {
                (vec![a("INCR"), key.clone()], 1)
            } else {
                let by = match rng.gen_range(0..4) {
                    0 => i64::MAX - rng.gen_range(0..2),
                    1 => i64::MIN + rng.gen_range(0..2),
                    _ => rng.gen_range(-50..50),
                };
                (vec![a("INCRBY"), key.clone(), by.to_string().into_bytes()], by)
            };
            let current = match data.get(&key) {
                None => Some(0),
                Some(v) => strict_i64(v),
            };
            let reply = match current {
                None => err("ERR value is not an integer or out of range"),
                Some(n) => match n.checked_add(by) {
                    None => err("ERR increment or decrement would overflow"),
                    Some(result) => {
                        data.insert(key, result.to_string().into_bytes());
                        int(result)
                    }
                },
            };
            (args, reply)
        }
        5 => {
            let offset = rng.gen_range(0..20usize);
            let value = if rng.gen_bool(0.2) {
                Vec::new()
            } else {
                random_value(rng)
            };
            let args = vec![
                a("SETRANGE"),
                key.clone(),
                offset.to_string().into_bytes(),
                value.clone(),
            ];
            let reply = if value.is_empty() {
                int(data.get(&key).map_or(0, |v| v.len()) as i64)
            } else {
                let entry = data.entry(key).or_default();
                if entry.len() < offset + value.len() {
                    entry.resize(offset + value.len(), 0);
                }
                entry[offset..offset + value.len()].copy_from_slice(&value);
                int(entry.len() as i64)
            };
            (args, reply)
        }
        6 => {
            let (mut start, mut end) = (rng.gen_range(-20i64..20), rng.gen_range(-20i64..20));
            let args = vec![
                a("GETRANGE"),
                key.clone(),
                start.to_string().into_bytes(),
                end.to_string().into_bytes(),
            ];
            let value = data.get(&key).cloned().unwrap_or_default();
            let len = value.len() as i64;
            let reply = if start < 0 && end < 0 && start > end {
                bulk(b"")
            } else {
                if start < 0 {
                    start = (len + start).max(0);
                }
                if end < 0 {
                    end = (len + end).max(0);
                }
                end = end.min(len - 1);
                if start > end || len == 0 {
                    bulk(b"")
                } else {
                    bulk(&value[start as usize..=end as usize])
                }
            };
            (args, reply)
        }
        7 => (
            vec![a("STRLEN"), key.clone()],
            int(data.get(&key).map_or(0, |v| v.len()) as i64),
        ),
        8 => {
            let mut args = vec![a("MSET")];
            for _ in 0..rng.gen_range(1..4) {
                let k = keys[rng.gen_range(0..keys.len())].clone();
                let v = random_value(rng);
                args.extend([k.clone(), v.clone()]);
                data.insert(k, v);
            }
            (args, OK.to_vec())
        }
        9 => {
            let mut args = vec![a("MGET")];
            let mut replies = Vec::new();
            for _ in 0..rng.gen_range(1..5) {
                let k = keys[rng.gen_range(0..keys.len())].clone();
                replies.push(value_reply(data.get(&k)));
                args.push(k);
            }
            (args, array(&replies))
        }
        10 => (vec![a("GETDEL"), key.clone()], value_reply(data.remove(&key).as_ref())),
        11 => {
            let value = random_value(rng);
            let created = !data.contains_key(&key);
            if created {
                data.insert(key.clone(), value.clone());
            }
            (vec![a("SETNX"), key, value], int(created as i64))
        }
        12 => {
            let mut args = vec![a("DEL")];
            let mut deleted = 0;
            for _ in 0..rng.gen_range(1..4) {
                let k = keys[rng.gen_range(0..keys.len())].clone();
                deleted += data.remove(&k).is_some() as i64;
                args.push(k);
            }
            (args, int(deleted))
        }
        13 => {
            let mut args = vec![a("EXISTS")];
            let mut found = 0;
            for _ in 0..rng.gen_range(1..4) {
                let k = keys[rng.gen_range(0..keys.len())].clone();
                found += data.contains_key(&k) as i64;
                args.push(k);
            }
            (args, int(found))
        }
        _ => {
            let value = random_value(rng);
            let old = data.insert(key.clone(), value.clone());
            (vec![a("GETSET"), key, value], value_reply(old.as_ref()))
        }
    }
}

fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_seed(raw: &mut Raw, seed: u64, shards: usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys: Vec<Vec<u8>> = (0..KEYS_PER_SEED)
        .map(|i| format!("m{seed}:{i}").into_bytes())
        .collect();
    let mut model = Model { data: HashMap::new() };
    // The model does not depend on the replies: pipeline the whole run.
    let steps: Vec<(Vec<Vec<u8>>, Vec<u8>)> = (0..STEPS).map(|_| step(&mut rng, &mut model, &keys)).collect();
    for (args, _) in &steps {
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        raw.command(&refs);
    }
    for (n, (args, expected)) in steps.iter().enumerate() {
        let got = raw.reply();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "seed {seed} (TESSERA_SEED={seed}), step {n}, {shards} shards: {}",
            show(args)
        );
    }
}

#[test]
fn random_string_commands_match_model() {
    let seeds: Vec<u64> = match std::env::var("TESSERA_SEED") {
        Ok(s) => vec![s.parse().expect("TESSERA_SEED is a number")],
        Err(_) => (0..SEEDS).collect(),
    };
    for shards in SHARD_COUNTS {
        let server = Server::start(shards, &[]);
        let mut raw = server.raw();
        for &seed in &seeds {
            run_seed(&mut raw, seed, shards);
        }
    }
}
