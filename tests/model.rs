//! Seeded randomized test: random sequences of string, key, expiry and
//! transaction commands (including WATCH with interference from a second
//! client) against a simple reference model, compared byte for byte, on 1, 2
//! and 4 shards. A failure prints the seed; `TESSERA_SEED=<n>` replays one.

mod common;

use common::{bulk, Raw, Server, SHARD_COUNTS};
use std::collections::HashMap;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// TTLs used are long, so real time never expires a key during a run.
const TTL_S: i64 = 10_000;

#[derive(Clone, Default)]
struct Model {
    keys: HashMap<Vec<u8>, (Vec<u8>, bool)>,
}

fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

const NULL: &[u8] = b"$-1\r\n";
const OK: &[u8] = b"+OK\r\n";

/// One generated command: its arguments and the reply the model predicts.
struct Step {
    args: Vec<Vec<u8>>,
    expected: Vec<u8>,
    /// TTL replies are checked by range, not bytes.
    ttl: bool,
}

impl Model {
    fn step(&mut self, rng: &mut Rng, keys: &[Vec<u8>]) -> Step {
        let key = keys[rng.below(keys.len())].clone();
        let value = format!("{}", rng.below(1000)).into_bytes();
        let plain = |args: Vec<&[u8]>, expected: Vec<u8>| Step {
            args: args.into_iter().map(|a| a.to_vec()).collect(),
            expected,
            ttl: false,
        };
        match rng.below(12) {
            0 | 1 => {
                let option = rng.below(4);
                let exists = self.keys.contains_key(&key);
                let (allowed, flag): (bool, &[u8]) = match option {
                    0 => (true, b""),
                    1 => (!exists, b"NX"),
                    2 => (exists, b"XX"),
                    _ => (true, b"GET"),
                };
                let old = self.keys.get(&key).map(|(v, _)| v.clone());
                let expected = if option == 3 {
                    old.as_deref().map_or(NULL.to_vec(), bulk)
                } else if allowed {
                    OK.to_vec()
                } else {
                    NULL.to_vec()
                };
                if allowed {
                    self.keys.insert(key.clone(), (value.clone(), false));
                }
                let mut args: Vec<&[u8]> = vec![b"SET", &key, &value];
                if !flag.is_empty() {
                    args.push(flag);
                }
                plain(args, expected)
            }
            2 => {
                let expected = self.keys.get(&key).map_or(NULL.to_vec(), |(v, _)| bulk(v));
                plain(vec![b"GET", &key], expected)
            }
            3 => {
                let other = keys[rng.below(keys.len())].clone();
                let mut n = self.keys.remove(&key).is_some() as i64;
                if other != key {
                    n += self.keys.remove(&other).is_some() as i64;
                }
                plain(vec![b"DEL", &key, &other], int(n))
            }
            4 => {
                let other = keys[rng.below(keys.len())].clone();
                let n = self.keys.contains_key(&key) as i64 + self.keys.contains_key(&other) as i64;
                plain(vec![b"EXISTS", &key, &other], int(n))
            }
            5 => {
                let expected = match self.keys.get_mut(&key) {
                    None => {
                        self.keys.insert(key.clone(), (b"1".to_vec(), false));
                        int(1)
                    }
                    Some((v, _)) => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok()) {
                        Some(n) => {
                            *v = (n + 1).to_string().into_bytes();
                            int(n + 1)
                        }
                        None => b"-ERR value is not an integer or out of range\r\n".to_vec(),
                    },
                };
                plain(vec![b"INCR", &key], expected)
            }
            6 => {
                let entry = self.keys.entry(key.clone()).or_insert((Vec::new(), false));
                entry.0.extend_from_slice(&value);
                let n = entry.0.len() as i64;
                plain(vec![b"APPEND", &key, &value], int(n))
            }
            7 => {
                let ttl = TTL_S.to_string().into_bytes();
                let expected = match self.keys.get_mut(&key) {
                    Some(entry) => {
                        entry.1 = true;
                        int(1)
                    }
                    None => int(0),
                };
                plain(vec![b"EXPIRE", &key, &ttl], expected)
            }
            8 => {
                let expected = match self.keys.get(&key) {
                    None => int(-2),
                    Some((_, false)) => int(-1),
                    Some((_, true)) => b"ttl".to_vec(),
                };
                let ttl = expected == b"ttl";
                Step {
                    args: vec![b"TTL".to_vec(), key],
                    expected,
                    ttl,
                }
            }
            9 => {
                let expected = match self.keys.get_mut(&key) {
                    Some(entry) if entry.1 => {
                        entry.1 = false;
                        int(1)
                    }
                    _ => int(0),
                };
                plain(vec![b"PERSIST", &key], expected)
            }
            10 => {
                let other = keys[rng.below(keys.len())].clone();
                let expected = match self.keys.remove(&key) {
                    None => b"-ERR no such key\r\n".to_vec(),
                    Some(entry) => {
                        self.keys.insert(other.clone(), entry);
                        OK.to_vec()
                    }
                };
                plain(vec![b"RENAME", &key, &other], expected)
            }
            _ => {
                let other = keys[rng.below(keys.len())].clone();
                let mut expected = b"*2\r\n".to_vec();
                for k in [&key, &other] {
                    expected.extend(self.keys.get(k).map_or(NULL.to_vec(), |(v, _)| bulk(v)));
                }
                plain(vec![b"MGET", &key, &other], expected)
            }
        }
    }
}

fn check(raw: &mut Raw, step: &Step, context: &str) {
    let args: Vec<&[u8]> = step.args.iter().map(|a| a.as_slice()).collect();
    let reply = raw.call(&args);
    check_reply(&reply, step, context);
}

fn check_reply(reply: &[u8], step: &Step, context: &str) {
    if step.ttl {
        let text = String::from_utf8_lossy(reply);
        let n: i64 = text.trim_start_matches(':').trim().parse().unwrap_or(-100);
        assert!((TTL_S - 5..=TTL_S).contains(&n), "{context}: TTL reply {text:?}");
    } else {
        assert_eq!(
            String::from_utf8_lossy(reply),
            String::from_utf8_lossy(&step.expected),
            "{context}: {:?}",
            step.args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        );
    }
}

fn run_seed(server: &Server, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // Keys spread over shards, private to this seed.
    let keys: Vec<Vec<u8>> = (0..8).map(|i| format!("s{seed}:{i}").into_bytes()).collect();
    let mut model = Model::default();
    let mut a = server.raw();
    let mut b = server.raw();
    for op in 0..150 {
        let context = format!("seed {seed} shards {} op {op}", server.shards);
        match rng.below(10) {
            0 | 1 => {
                // A transaction: replies come back together at EXEC.
                assert_eq!(a.call(&[b"MULTI"]), OK, "{context}");
                let steps: Vec<Step> = (0..1 + rng.below(5)).map(|_| model.step(&mut rng, &keys)).collect();
                for step in &steps {
                    let args: Vec<&[u8]> = step.args.iter().map(|x| x.as_slice()).collect();
                    assert_eq!(a.call(&args), b"+QUEUED\r\n", "{context}");
                }
                a.command(&[b"EXEC"]);
                let header = a.read_line_bytes();
                assert_eq!(header, format!("*{}\r\n", steps.len()).into_bytes(), "{context}");
                for step in &steps {
                    let reply = a.reply();
                    check_reply(&reply, step, &context);
                }
            }
            2 => {
                // WATCH, maybe interfere from another client, then EXEC.
                let key = keys[rng.below(keys.len())].clone();
                assert_eq!(a.call(&[b"WATCH", &key]), OK, "{context}");
                let interfere = rng.chance(50);
                if interfere {
                    let value = b"from-b".to_vec();
                    assert_eq!(b.call(&[b"SET", &key, &value]), OK, "{context}");
                    model.keys.insert(key.clone(), (value, false));
                }
                assert_eq!(a.call(&[b"MULTI"]), OK, "{context}");
                let mut shadow = model.clone();
                let step = shadow.step(&mut rng, &keys);
                let args: Vec<&[u8]> = step.args.iter().map(|x| x.as_slice()).collect();
                assert_eq!(a.call(&args), b"+QUEUED\r\n", "{context}");
                a.command(&[b"EXEC"]);
                if interfere {
                    assert_eq!(a.reply(), b"*-1\r\n", "{context}: EXEC after a watched key changed");
                } else {
                    assert_eq!(a.read_line_bytes(), b"*1\r\n", "{context}");
                    let reply = a.reply();
                    check_reply(&reply, &step, &context);
                    model = shadow;
                }
            }
            _ => {
                let step = model.step(&mut rng, &keys);
                check(&mut a, &step, &context);
            }
        }
    }
}

#[test]
fn random_commands_match_the_model() {
    let seeds: Vec<u64> = match std::env::var("TESSERA_SEED") {
        Ok(seed) => vec![seed.parse().expect("TESSERA_SEED is a number")],
        Err(_) => (1..=25).collect(),
    };
    for shards in SHARD_COUNTS {
        let server = Server::start(shards, &[]);
        for &seed in &seeds {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_seed(&server, seed)));
            if let Err(panic) = result {
                eprintln!("model test failed: seed {seed}, shards {shards} (replay with TESSERA_SEED={seed})");
                std::panic::resume_unwind(panic);
            }
        }
    }
}
