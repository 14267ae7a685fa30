//! The driver the collection model tests share: for every shard count and
//! configuration, start a server, generate each seed's steps against the
//! test's model, pipeline them, and compare every reply byte for byte,
//! naming seed, step, shard count and configuration on a mismatch.
//! TESSERA_SEED=n runs one seed.

#![allow(dead_code)]

use crate::common::{Server, SHARD_COUNTS};
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// A command and the reply the model expects.
pub type Step = (Vec<Vec<u8>>, Vec<u8>);

pub struct ModelTest<M> {
    /// Keys are `{prefix}{seed}:{i}`.
    pub key_prefix: &'static str,
    pub keys: usize,
    pub seeds: u64,
    pub steps: usize,
    /// (label, extra server arguments) pairs to run each seed under.
    pub configs: &'static [(&'static str, &'static [&'static str])],
    pub step: fn(&mut SmallRng, &mut M, &[Vec<u8>]) -> Step,
    /// Rewrites a reply before comparison (e.g. sorts unordered replies).
    pub normalize: fn(&[Vec<u8>], Vec<u8>) -> Vec<u8>,
}

pub fn unchanged(_: &[Vec<u8>], reply: Vec<u8>) -> Vec<u8> {
    reply
}

impl<M: Default> ModelTest<M> {
    pub fn run(&self) {
        let seeds: Vec<u64> = match std::env::var("TESSERA_SEED") {
            Ok(s) => vec![s.parse().expect("TESSERA_SEED is a number")],
            Err(_) => (0..self.seeds).collect(),
        };
        for shards in SHARD_COUNTS {
            for (label, extra) in self.configs {
                let server = Server::start(shards, extra);
                let mut raw = server.raw();
                for &seed in &seeds {
                    let mut rng = SmallRng::seed_from_u64(seed);
                    let keys: Vec<Vec<u8>> = (0..self.keys)
                        .map(|i| format!("{}{seed}:{i}", self.key_prefix).into_bytes())
                        .collect();
                    let mut model = M::default();
                    let steps: Vec<Step> = (0..self.steps)
                        .map(|_| (self.step)(&mut rng, &mut model, &keys))
                        .collect();
                    for (args, _) in &steps {
                        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                        raw.command(&refs);
                    }
                    for (n, (args, expected)) in steps.iter().enumerate() {
                        let got = (self.normalize)(args, raw.reply());
                        assert_eq!(
                            String::from_utf8_lossy(&got),
                            String::from_utf8_lossy(expected),
                            "seed {seed} (TESSERA_SEED={seed}), step {n}, {shards} shards, {label}: {:?}",
                            args.iter()
                                .map(|a| String::from_utf8_lossy(a).into_owned())
                                .collect::<Vec<_>>()
                        );
                    }
                }
            }
        }
    }
}
