//! The command table: one declarative spec per command. Each family file
//! declares its commands (name and handler); the facts Redis publishes about
//! a command (arity, flags, key specs, ACL categories, docs) come from
//! `redis_commands.json`, dumped from a live Redis 7.0.15 by
//! `tools/gen_commands.py`, so COMMAND output and key positions match Redis.
//! The table drives the unknown-command and arity errors, routing, MULTI
//! queueing and `COMMAND`.

pub mod keys;
pub mod meta;

use crate::resp::{Argv, ReplyBuf};
use crate::session::Session;
use crate::shard::ShardState;
pub use keys::KeySpec;
use meta::RespValue;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

/// Command flags Tessera's dispatcher looks at (a subset of Redis's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(u32);

impl Flags {
    pub const WRITE: Flags = Flags(1);
    pub const READONLY: Flags = Flags(1 << 1);
    pub const DENYOOM: Flags = Flags(1 << 2);
    pub const ADMIN: Flags = Flags(1 << 3);
    pub const NOSCRIPT: Flags = Flags(1 << 4);
    pub const LOADING: Flags = Flags(1 << 5);
    pub const STALE: Flags = Flags(1 << 6);
    pub const FAST: Flags = Flags(1 << 7);
    pub const NO_AUTH: Flags = Flags(1 << 8);
    pub const NO_MULTI: Flags = Flags(1 << 9);
    pub const MOVABLE_KEYS: Flags = Flags(1 << 10);
    pub const ALLOW_BUSY: Flags = Flags(1 << 11);
    pub const PUBSUB: Flags = Flags(1 << 12);
    pub const BLOCKING: Flags = Flags(1 << 13);

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    fn from_name(name: &str) -> Flags {
        match name {
            "write" => Flags::WRITE,
            "readonly" => Flags::READONLY,
            "denyoom" => Flags::DENYOOM,
            "admin" => Flags::ADMIN,
            "noscript" => Flags::NOSCRIPT,
            "loading" => Flags::LOADING,
            "stale" => Flags::STALE,
            "fast" => Flags::FAST,
            "no_auth" => Flags::NO_AUTH,
            "no_multi" => Flags::NO_MULTI,
            "movablekeys" => Flags::MOVABLE_KEYS,
            "allow_busy" => Flags::ALLOW_BUSY,
            "pubsub" => Flags::PUBSUB,
            "blocking" => Flags::BLOCKING,
            _ => Flags(0),
        }
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// What a command runs with.
pub struct Ctx<'a> {
    pub state: &'a mut ShardState,
    pub db: usize,
    pub out: &'a mut ReplyBuf,
    pub now_ms: u64,
    /// CLIENT NO-TOUCH: reads do not update the LRU clock.
    pub no_touch: bool,
    /// What replicas are sent for this command (when it changed something).
    pub effect: crate::repl::feed::Effect,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> &mut crate::keyspace::Db {
        &mut self.state.dbs[self.db]
    }

    /// Replicas get `argv` for this command instead of the command as
    /// received (its deterministic form: PEXPIREAT for EXPIRE, SREM for
    /// SPOP). Called more than once, each call adds one more command.
    pub fn propagate_as(&mut self, argv: &[&[u8]]) {
        use crate::repl::feed::{encode, Effect};
        if !crate::repl::feed::active() {
            return;
        }
        let resp = encode(argv);
        match &mut self.effect {
            Effect::Rewritten(commands) => commands.push(resp),
            effect => *effect = Effect::Rewritten(vec![resp]),
        }
    }
}

/// A handler that runs on the shard owning the command's keys.
pub type KeyedFn = fn(&mut Ctx, &Argv);
/// A handler that runs on the connection's shard with the connection's state.
pub type ConnFn = fn(&mut Session, &Argv);
/// A boxed future borrowing the session.
pub type LocalFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;
/// A handler that runs on the connection's shard and may visit other shards.
pub type AsyncFn = for<'a> fn(&'a mut Session, crate::OwnedArgv) -> LocalFuture<'a>;

/// How a keyed command runs when its keys live on several shards.
#[derive(Clone, Copy)]
pub enum Cross {
    /// Split the arguments by shard (key groups of `step` arguments), run the
    /// handler on each part and merge the replies.
    Split(Merge),
    /// Bring the keys' values to the connection's shard, run there, and write
    /// the changed keys back (all under shard locks).
    Gather,
}

/// How the replies of a split command combine.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Integer replies are summed (DEL, EXISTS, TOUCH, UNLINK).
    SumIntegers,
    /// Each part answered OK: answer OK (MSET).
    AllOk,
    /// Array replies re-ordered by key position (MGET).
    ArrayByKey,
}

pub enum Handler {
    Keyed {
        run: KeyedFn,
        cross: Cross,
    },
    Conn(ConnFn),
    Async(AsyncFn),
    /// A container; the subcommand's own spec runs. `bare` runs when no
    /// subcommand is given (COMMAND).
    Container {
        bare: Option<ConnFn>,
    },
}

/// One entry of a family's table.
pub struct CommandDef {
    /// Lowercase, with `|` for subcommands ("config|get").
    pub name: &'static str,
    pub handler: Handler,
}

/// Shorthand for a single-shard keyed command (cross-shard by gathering).
pub const fn keyed(name: &'static str, run: KeyedFn) -> CommandDef {
    CommandDef {
        name,
        handler: Handler::Keyed {
            run,
            cross: Cross::Gather,
        },
    }
}

/// Shorthand for a keyed command split across shards.
pub const fn split(name: &'static str, run: KeyedFn, merge: Merge) -> CommandDef {
    CommandDef {
        name,
        handler: Handler::Keyed {
            run,
            cross: Cross::Split(merge),
        },
    }
}

pub const fn conn(name: &'static str, run: ConnFn) -> CommandDef {
    CommandDef {
        name,
        handler: Handler::Conn(run),
    }
}

pub const fn asynchronous(name: &'static str, run: AsyncFn) -> CommandDef {
    CommandDef {
        name,
        handler: Handler::Async(run),
    }
}

pub const fn container(name: &'static str) -> CommandDef {
    CommandDef {
        name,
        handler: Handler::Container { bare: None },
    }
}

/// A container that also runs with no subcommand.
pub const fn container_with_bare(name: &'static str, bare: ConnFn) -> CommandDef {
    CommandDef {
        name,
        handler: Handler::Container { bare: Some(bare) },
    }
}

/// A command's complete spec.
pub struct CommandSpec {
    /// Index into per-shard statistics arrays.
    pub index: usize,
    /// Lowercase full name ("get", "config|get").
    pub name: String,
    pub arity: i32,
    pub flags: Flags,
    pub key_specs: Vec<KeySpec>,
    pub handler: &'static Handler,
    /// COMMAND INFO entry as Redis publishes it.
    pub info: RespValue,
    /// COMMAND DOCS entry.
    pub docs: Option<RespValue>,
    pub subcommands: HashMap<String, &'static CommandSpec>,
    pub acl_categories: Vec<String>,
}

impl CommandSpec {
    /// Checks the argument count against the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    pub fn is_write(&self) -> bool {
        self.flags.contains(Flags::WRITE)
    }

    /// Visits every key argument index, in argument order. Returns false if a
    /// key spec could not be applied (a bad numkeys): the handler will report
    /// the error itself.
    pub fn for_each_key(&self, argv: &Argv, mut visit: impl FnMut(usize)) -> bool {
        let mut ok = true;
        for spec in &self.key_specs {
            ok &= spec.for_each(argv, &mut visit);
        }
        ok
    }

    /// The key argument indexes.
    pub fn key_indexes(&self, argv: &Argv) -> Vec<usize> {
        let mut keys = Vec::new();
        self.for_each_key(argv, |i| keys.push(i));
        keys
    }
}

/// All commands, by name.
pub struct Registry {
    pub commands: HashMap<String, &'static CommandSpec>,
    /// Every spec including subcommands, by `index`.
    pub all: Vec<&'static CommandSpec>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The process-wide command table (built on first use).
pub fn registry() -> &'static Registry {
    REGISTRY.get_or_init(build_registry)
}

fn build_registry() -> Registry {
    let metadata = meta::load();
    let defs: Vec<&'static CommandDef> = crate::families::all_commands().collect();
    let mut index = 0;
    let mut make_spec = |name: &str, def: &'static CommandDef, subcommands: HashMap<String, &'static CommandSpec>| {
        let (info, docs) = metadata
            .get(name)
            .unwrap_or_else(|| panic!("command '{name}' has no entry in redis_commands.json"));
        let spec = spec_from_metadata(index, name, &def.handler, info.clone(), docs.clone(), subcommands);
        index += 1;
        &*Box::leak(Box::new(spec))
    };
    let mut commands = HashMap::new();
    let mut all = Vec::new();
    for def in defs.iter().filter(|d| !d.name.contains('|')) {
        let mut subcommands = HashMap::new();
        if matches!(def.handler, Handler::Container { .. }) {
            for sub in defs.iter().filter(|d| d.name.starts_with(&format!("{}|", def.name))) {
                let spec = make_spec(sub.name, sub, HashMap::new());
                all.push(spec);
                let short = sub.name.split('|').nth(1).expect("subcommand name").to_string();
                subcommands.insert(short, spec);
            }
        }
        let spec = make_spec(def.name, def, subcommands);
        all.push(spec);
        assert!(
            commands.insert(def.name.to_string(), spec).is_none(),
            "duplicate command {}",
            def.name
        );
    }
    all.sort_by_key(|s| s.index);
    Registry { commands, all }
}

fn spec_from_metadata(
    index: usize,
    name: &str,
    handler: &'static Handler,
    info: RespValue,
    docs: Option<RespValue>,
    subcommands: HashMap<String, &'static CommandSpec>,
) -> CommandSpec {
    let fields = info.as_array().expect("COMMAND INFO entry is an array");
    let arity = fields[1].as_int().expect("arity") as i32;
    let flags = fields[2]
        .as_array()
        .expect("flags")
        .iter()
        .fold(Flags::default(), |acc, f| {
            acc | Flags::from_name(f.as_str().unwrap_or(""))
        });
    let acl_categories = fields[6]
        .as_array()
        .expect("acl categories")
        .iter()
        .filter_map(|c| c.as_str().map(|s| s.trim_start_matches('@').to_string()))
        .collect();
    let key_specs = fields[8]
        .as_array()
        .expect("key specs")
        .iter()
        .map(KeySpec::from_metadata)
        .collect();
    // COMMAND INFO lists only the subcommands Tessera implements.
    let mut info = info;
    if let RespValue::Array(ref mut items) = info {
        if let Some(RespValue::Array(subs)) = items.get_mut(9) {
            subs.retain(|s| {
                let sub = s.as_array().and_then(|a| a[0].as_str()).unwrap_or("");
                subcommands.contains_key(sub.split('|').nth(1).unwrap_or(""))
            });
        }
    }
    let docs = docs.map(|mut d| {
        if let Some(RespValue::Map(subs)) = d.map_get_mut("subcommands") {
            subs.retain(|(k, _)| {
                let sub = k.as_str().unwrap_or("");
                subcommands.contains_key(sub.split('|').nth(1).unwrap_or(""))
            });
        }
        d
    });
    CommandSpec {
        index,
        name: name.to_string(),
        arity,
        flags,
        key_specs,
        handler,
        info,
        docs,
        subcommands,
        acl_categories,
    }
}

/// Finds a command (case-insensitive) without allocating for short names.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (dst, &src) in buf.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
    registry().commands.get(lower).copied()
}

/// Resolves a container's subcommand; returns the spec that runs.
pub fn resolve(spec: &'static CommandSpec, argv: &Argv) -> Result<&'static CommandSpec, String> {
    let Handler::Container { bare } = spec.handler else {
        return Ok(spec);
    };
    if argv.len() < 2 {
        if bare.is_some() {
            return Ok(spec);
        }
        return Err(crate::errors::wrong_arity(&spec.name));
    }
    let sub = String::from_utf8_lossy(argv.get(1)).to_ascii_lowercase();
    spec.subcommands
        .get(&sub)
        .copied()
        .ok_or_else(|| crate::errors::unknown_subcommand(spec.name.as_bytes(), argv.get(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_builds_and_facts_match_redis() {
        let get = lookup(b"GET").expect("get");
        assert_eq!(get.arity, 2);
        assert!(get.flags.contains(Flags::READONLY) && get.flags.contains(Flags::FAST));
        assert!(lookup(b"nosuchcommand").is_none());
        let del = lookup(b"del").expect("del");
        assert_eq!(del.arity, -2);
        let buf = b"delk1k2k3";
        let ranges = [0..3, 3..5, 5..7, 7..9];
        let argv = Argv::new(buf, &ranges);
        assert_eq!(del.key_indexes(&argv), vec![1, 2, 3]);
    }
}
