//! DEBUG: the subcommands Tessera can do for real. SET-ACTIVE-EXPIRE (every
//! shard), SLEEP (locks every shard and blocks this one's executor, as Redis
//! blocks its thread),
//! OBJECT (Redis's line format with this server's own facts), POPULATE,
//! QUICKLIST-PACKED-THRESHOLD (every shard), RELOAD, LOG, ERROR, HELP,
//! LOADAOF (the snapshot file and the write-ahead log), PAUSE-CRON (every
//! shard's periodic work).

use crate::command::{asynchronous, CommandDef, LocalFuture};
use crate::errors;
use crate::keyspace::db::Entry;
use crate::keyspace::Value;
use crate::resp::parse::parse_i64;
use crate::session::Session;
use crate::shard::ShardState;
use crate::slot::key_shard;
use crate::OwnedArgv;
use std::time::Duration;

pub static COMMANDS: &[CommandDef] = &[asynchronous("debug", debug)];

/// Redis's LRU clock keeps 24 bits (LRU_CLOCK_MAX).
const LRU_CLOCK_MASK: u32 = (1 << 24) - 1;

fn debug(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        if !debug_allowed(session) {
            return session.out.error(errors::DEBUG_NOT_ALLOWED);
        }
        let sub = argv.get(1).to_ascii_lowercase();
        let argc = argv.len();
        match (sub.as_slice(), argc) {
            (b"help", 2) => help(session),
            (b"set-active-expire", 3) => {
                let enabled = atoi(argv.get(2)) != 0;
                session
                    .call_all(move |state: &mut ShardState| state.active_expire_enabled = enabled)
                    .await;
                session.out.ok();
            }
            (b"pause-cron", 3) => {
                super::server::pause_cron(atoi(argv.get(2)) != 0);
                session.out.ok();
            }
            (b"quicklist-packed-threshold", 3) => {
                let size = std::str::from_utf8(argv.get(2))
                    .ok()
                    .and_then(crate::config::parse_memory);
                match size {
                    Some(size) if size <= (1u64 << 32) - (1 << 20) => {
                        let threshold = if size == 0 {
                            crate::types::list::DEFAULT_PACKED_THRESHOLD
                        } else {
                            size as usize
                        };
                        session
                            .call_all(move |state: &mut ShardState| state.list_packed_threshold = threshold)
                            .await;
                        session.out.ok();
                    }
                    _ => session
                        .out
                        .error("ERR argument must be a memory value bigger than 1 and smaller than 4gb"),
                }
            }
            (b"sleep", 3) => {
                let seconds = strtod(argv.get(2));
                let micros = (seconds * 1_000_000.0) as i64;
                if micros > 0 {
                    // Redis's nanosleep stops its only thread, so the whole
                    // server answers nothing meanwhile: every shard is locked
                    // and this shard's executor sleeps.
                    let all = session.all_shards();
                    session
                        .locked(&all, async |_: &mut Session| {
                            std::thread::sleep(Duration::from_micros(micros as u64))
                        })
                        .await;
                }
                session.out.ok();
            }
            (b"object", 3) => {
                let key = argv.get(2).to_vec();
                let db = session.db;
                let shard = key_shard(&key, session.shard_count());
                let line = session
                    .call(shard, move |state: &mut ShardState| {
                        let now = crate::exec::now_ms();
                        let entry = state.dbs[db].entries.get(&key)?;
                        Some(object_line(state, entry, now))
                    })
                    .await;
                match line {
                    Some(line) => session.out.simple(&line),
                    None => session.out.error(errors::NO_SUCH_KEY),
                }
            }
            (b"populate", 3..=5) => populate(session, &argv).await,
            (b"digest", 2) => {
                let parts = session
                    .call_all(|state: &mut ShardState| state.dbs.iter().map(crate::digest::db_part).collect::<Vec<_>>())
                    .await;
                let digest = crate::digest::dataset_digest(&parts);
                session.out.simple(&crate::digest::hex(&digest));
            }
            (b"digest-value", _) => {
                let db = session.db;
                session.out.array(argc - 2);
                for i in 2..argc {
                    let key = argv.get(i).to_vec();
                    let shard = key_shard(&key, session.shard_count());
                    let digest = session
                        .call(shard, move |state: &mut ShardState| {
                            let mut digest = [0u8; 20];
                            if let Some(entry) = state.dbs[db].entries.get(&key) {
                                crate::digest::value_digest(&mut digest, &entry.value, entry.has_expire);
                            }
                            digest
                        })
                        .await;
                    session.out.simple(&crate::digest::hex(&digest));
                }
            }
            (b"protocol", 3) => protocol(session, argv.get(2)),
            (b"reload", _) => {
                let (mut merge, mut flush, mut save) = (false, true, true);
                for option in argv.iter().skip(2) {
                    if option.eq_ignore_ascii_case(b"merge") {
                        merge = true;
                    } else if option.eq_ignore_ascii_case(b"noflush") {
                        flush = false;
                    } else if option.eq_ignore_ascii_case(b"nosave") {
                        save = false;
                    } else {
                        return session.out.error(errors::DEBUG_RELOAD_OPTIONS);
                    }
                }
                match super::persistence::debug_reload(session, merge, flush, save).await {
                    Ok(()) => session.out.ok(),
                    Err(message) => session.out.error(message),
                }
            }
            (b"loadaof", _) => match super::persistence::debug_loadaof(session).await {
                Ok(()) => session.out.ok(),
                Err(message) => session.out.error(message),
            },
            (b"log", 3) => {
                crate::warning!("DEBUG LOG: {}", String::from_utf8_lossy(argv.get(2)));
                session.out.ok();
            }
            (b"error", 3) => {
                let message: String = String::from_utf8_lossy(argv.get(2))
                    .chars()
                    .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
                    .collect();
                session.out.error(&message);
            }
            _ => session.out.error(&errors::subcommand_syntax(b"debug", argv.get(1))),
        }
    })
}

/// Whether `enable-debug-command` lets this client run DEBUG: "yes", or
/// "local" for loopback and unix-socket clients.
fn debug_allowed(session: &Session) -> bool {
    let setting = session
        .shard
        .state()
        .config
        .get("enable-debug-command")
        .unwrap_or("no")
        .to_string();
    match setting.as_str() {
        "yes" => true,
        "local" => {
            let info = session.info.borrow();
            let host = info.addr.rsplit_once(':').map_or(info.addr.as_str(), |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.starts_with("127.") || host == "::1" || host.is_empty() || info.addr.starts_with('/')
        }
        _ => false,
    }
}

fn help(session: &mut Session) {
    let lines = [
        "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DIGEST",
        "    Output a hex signature representing the current DB content.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    Output a hex signature of the values of all the specified keys.",
        "ERROR <string>",
        "    Return a Redis protocol error with <string> as message. Useful for clients",
        "    unit tests to simulate Redis errors.",
        "LOG <message>",
        "    Write <message> to the server log.",
        "OBJECT <key>",
        "    Show low level info about `key` and associated value.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named key:<num>. If <prefix> is specified then",
        "    it is used instead of the 'key' prefix.",
        "QUICKLIST-PACKED-THRESHOLD <size>",
        "    Sets the threshold for elements to be inserted as plain vs packed nodes",
        "    Default value is 1GB, allows values up to 4GB",
        "PAUSE-CRON <0|1>",
        "    Stop periodic cron job processing.",
        "RELOAD [option ...]",
        "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
        "    * MERGE: conflicting keys will be loaded from RDB.",
        "    * NOFLUSH: the existing database will not be removed before load, but",
        "      conflicting keys will generate an exception and kill the server.",
        "    * NOSAVE: the database will be loaded from an existing RDB file.",
        "    Examples:",
        "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
        "      the database.",
        "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
        "      existing RDB file.",
        "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
        "      file to the database.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    Setting it to 0 disables expiring keys in background when they are not",
        "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
        "    default.",
        "SLEEP <seconds>",
        "    Stop the server for <seconds>. Decimals allowed.",
        "HELP",
        "    Prints this help.",
    ];
    session.out.array(lines.len());
    for line in lines {
        session.out.simple(line);
    }
}

/// DEBUG OBJECT's line: "Value at:<address> refcount:<n> encoding:<name>
/// serializedlength:<bytes> lru:<clock> lru_seconds_idle:<seconds>". The
/// address is where the value lives in the shard's table (stable while the
/// table does not resize), the length is the value's RDB string encoding
/// without LZF compression, the LRU fields come from the entry's clock.
fn object_line(state: &ShardState, entry: &Entry, now_ms: u64) -> String {
    format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        &entry.value as *const Value,
        crate::families::keys::refcount(crate::families::keys::shares_integers(state), &entry.value),
        entry.value.encoding_name(),
        serialized_length(&entry.value),
        entry.lru & LRU_CLOCK_MASK,
        crate::families::keys::idle_seconds(entry.lru, now_ms),
    )
}

/// Bytes of an RDB length prefix.
fn rdb_length_bytes(len: usize) -> usize {
    if len < 1 << 6 {
        1
    } else if len < 1 << 14 {
        2
    } else if len <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// Bytes of RDB's integer encoding of `n`, when it fits in 32 bits.
fn rdb_integer_bytes(n: i64) -> Option<usize> {
    if i8::try_from(n).is_ok() {
        Some(2)
    } else if i16::try_from(n).is_ok() {
        Some(3)
    } else if i32::try_from(n).is_ok() {
        Some(5)
    } else {
        None
    }
}

/// The length of a string value in RDB (uncompressed): integers up to 32 bits
/// in RDB's integer encoding, everything else length-prefixed.
pub fn serialized_length(value: &Value) -> usize {
    let bytes = value.string_bytes().unwrap_or_default();
    if bytes.len() <= 11 {
        if let Some(n) = parse_i64(&bytes).and_then(rdb_integer_bytes) {
            return n;
        }
    }
    rdb_length_bytes(bytes.len()) + bytes.len()
}

/// C's atoi: optional spaces and sign, then digits up to the first non-digit.
fn atoi(bytes: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |acc, d| acc.wrapping_mul(10).wrapping_add((d - b'0') as i64));
    if negative {
        -value
    } else {
        value
    }
}

/// C's strtod without an end pointer: the longest numeric prefix, else 0.
fn strtod(bytes: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start();
    (1..=text.len())
        .rev()
        .filter(|&end| text.is_char_boundary(end))
        .find_map(|end| text[..end].parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// DEBUG POPULATE count [prefix] [size]: keys `<prefix>:<n>` holding
/// `value:<n>` (cut or zero-padded to `size`), skipping existing keys. Every
/// shard generates the names and keeps those it owns.
async fn populate(session: &mut Session, argv: &crate::resp::Argv<'_>) {
    let positive = |arg: &[u8]| -> Result<u64, &'static str> {
        // Redis's getPositiveLongFromObjectOrReply: one message for both.
        match parse_i64(arg) {
            Some(n) if n >= 0 => Ok(n as u64),
            _ => Err("ERR value is out of range, must be positive"),
        }
    };
    let count = match positive(argv.get(2)) {
        Ok(n) => n,
        Err(message) => return session.out.error(message),
    };
    let prefix = if argv.len() >= 4 {
        argv.get(3).to_vec()
    } else {
        b"key".to_vec()
    };
    let size = if argv.len() == 5 {
        match positive(argv.get(4)) {
            Ok(n) => n as usize,
            Err(message) => return session.out.error(message),
        }
    } else {
        0
    };
    let db = session.db;
    let targets = session.all_shards();
    session
        .locked(&targets, async |s: &mut Session| {
            s.call_all(move |state: &mut ShardState| {
                let now = crate::exec::now_ms();
                let (me, shards) = (state.id, state.shards);
                let db = &mut state.dbs[db];
                let mut key = prefix.clone();
                key.push(b':');
                let stem = key.len();
                for j in 0..count {
                    key.truncate(stem);
                    key.extend_from_slice(j.to_string().as_bytes());
                    if key_shard(&key, shards) != me || db.exists(&key, now) {
                        continue;
                    }
                    let mut value = format!("value:{j}").into_bytes();
                    if size > 0 {
                        value.resize(size, 0);
                    }
                    db.set(&key, Value::from_vec(value), false, now);
                }
            })
            .await;
        })
        .await;
    session.out.ok();
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, so clients can test
/// their parsers (RESP3 types degrade to their RESP2 forms).
fn protocol(session: &mut Session, name: &[u8]) {
    let out = &mut session.out;
    match name.to_ascii_lowercase().as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's fixed sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.14159265359),
        b"bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"set" => {
            out.set(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            // An attribute precedes a real reply; RESP2 has no attributes.
            if out.resp3 {
                out.attribute(1);
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !out.resp3 {
                return out.error("ERR RESP2 is not supported by this command");
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring", "txt"),
        _ => out.error(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_parsing() {
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b" -12x"), -12);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(strtod(b"0.5"), 0.5);
        assert_eq!(strtod(b"2s"), 2.0);
        assert_eq!(strtod(b"x"), 0.0);
    }

    #[test]
    fn serialized_lengths_follow_rdb() {
        assert_eq!(serialized_length(&Value::from_bytes(b"12")), 2);
        assert_eq!(serialized_length(&Value::from_bytes(b"1000")), 3);
        assert_eq!(serialized_length(&Value::from_bytes(b"100000")), 5);
        assert_eq!(serialized_length(&Value::from_bytes(b"10000000000")), 12);
        assert_eq!(serialized_length(&Value::from_bytes(b"hello")), 6);
        assert_eq!(serialized_length(&Value::from_bytes(&[b'x'; 100])), 102);
    }
}
