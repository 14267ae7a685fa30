//! DEBUG DIGEST and DEBUG DIGEST-VALUE, computed exactly as Redis 7.0's
//! debug.c does (SHA1 mixing per value, order-insensitive XOR for sets,
//! hashes, sorted sets and across keys), so digests compare equal with a
//! real Redis holding the same data.

use crate::keyspace::{Db, Value};
use sha1_smol::Sha1;

pub type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    Sha1::from(data).digest().bytes()
}

/// Redis's xorDigest: digest ^= SHA1(data).
pub fn xor_digest(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// Redis's mixDigest: digest = SHA1(digest ^ SHA1(data)).
pub fn mix_digest(digest: &mut Digest, data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(digest);
}

/// Redis's xorObjectDigest for one value (type, contents, expiry flag).
pub fn value_digest(digest: &mut Digest, value: &Value, has_expire: bool) {
    let type_code: u32 = match value {
        Value::Int(_) | Value::Str(_) | Value::Raw(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
    };
    mix_digest(digest, &type_code.to_be_bytes());
    match value {
        Value::Int(_) | Value::Str(_) | Value::Raw(_) => {
            mix_digest(digest, &value.string_bytes().expect("string"));
        }
        Value::List(list) => {
            for item in list.iter() {
                mix_digest(digest, item);
            }
        }
        Value::Set(set) => {
            for member in set.iter() {
                member.with_bytes(|m| xor_digest(digest, m));
            }
        }
        Value::ZSet(zset) => {
            for (member, score) in zset.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, member);
                mix_digest(&mut element, crate::resp::reply::format_double(score).as_bytes());
                xor_digest(digest, &element);
            }
        }
        Value::Hash(hash) => {
            for (field, v) in hash.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, field);
                mix_digest(&mut element, v);
                xor_digest(digest, &element);
            }
        }
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

/// One database's part of DEBUG DIGEST on one shard: its key count and the
/// XOR of SHA1(key digest) over its keys (XOR is order-free, so shards
/// combine by XOR).
pub fn db_part(db: &Db) -> (usize, Digest) {
    let mut acc = [0u8; 20];
    for entry in db.entries.iter() {
        let mut digest = [0u8; 20];
        mix_digest(&mut digest, &entry.key);
        value_digest(&mut digest, &entry.value, entry.has_expire);
        xor_digest(&mut acc, &digest);
    }
    (db.len(), acc)
}

/// Combines the shards' per-database parts as Redis's computeDatasetDigest.
pub fn dataset_digest(parts: &[Vec<(usize, Digest)>]) -> Digest {
    let mut result = [0u8; 20];
    let dbs = parts.first().map_or(0, Vec::len);
    for j in 0..dbs {
        let keys: usize = parts.iter().map(|p| p[j].0).sum();
        if keys == 0 {
            continue;
        }
        mix_digest(&mut result, &(j as u32).to_be_bytes());
        for p in parts {
            for (r, d) in result.iter_mut().zip(p[j].1) {
                *r ^= d;
            }
        }
    }
    result
}

pub fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
