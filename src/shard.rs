//! One shard's state: its partition of every database, its copy of the
//! configuration, its statistics and the clients it accepted. No I/O here:
//! commands run against it synchronously.

use crate::client::ClientInfo;
use crate::config::Config;
use crate::keyspace::Db;
use cores::seam::{Rng, XorShift64};
use cores::ShardId;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// Per-command counters (INFO commandstats).
#[derive(Clone, Copy, Default)]
pub struct CommandStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

#[derive(Default)]
pub struct ShardStats {
    pub commands: Vec<CommandStats>,
    /// Error replies by prefix (INFO errorstats).
    pub errors: HashMap<String, u64>,
    pub total_error_replies: u64,
    pub total_commands_processed: u64,
    pub total_connections_received: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub expire_cycle_cpu_milliseconds: u64,
}

impl ShardStats {
    pub fn reset(&mut self) {
        let commands = self.commands.len();
        *self = ShardStats::default();
        self.commands = vec![CommandStats::default(); commands];
    }

    /// Records an error reply with this prefix ("ERR", "WRONGTYPE").
    pub fn record_error(&mut self, prefix: &[u8]) {
        self.total_error_replies += 1;
        let prefix = String::from_utf8_lossy(prefix);
        match self.errors.get_mut(prefix.as_ref()) {
            Some(count) => *count += 1,
            None => {
                // Redis caps the table at 128 distinct prefixes.
                if self.errors.len() < 128 {
                    self.errors.insert(prefix.into_owned(), 1);
                }
            }
        }
    }
}

/// CLIENT PAUSE in force: until `end_ms`, all commands (or only writes) of
/// normal clients wait.
#[derive(Clone, Copy, Debug)]
pub struct Pause {
    pub end_ms: u64,
    pub all: bool,
}

pub struct ShardState {
    pub id: ShardId,
    pub shards: usize,
    pub dbs: Vec<Db>,
    pub config: Config,
    pub stats: ShardStats,
    pub rng: XorShift64,
    /// Connections accepted by this shard, by client id.
    pub clients: BTreeMap<u64, Rc<RefCell<ClientInfo>>>,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire_enabled: bool,
    /// CLIENT PAUSE, set on every shard.
    pub pause: Option<Pause>,
    /// List elements at least this long get a node of their own (DEBUG
    /// QUICKLIST-PACKED-THRESHOLD).
    pub list_packed_threshold: usize,
    /// Blocked clients of this shard and waiters on its keys.
    pub blocking: crate::blocking::Blocking,
    /// The write-ahead log, when `appendonly` is on.
    pub wal: Option<crate::persist::wal::ShardWal>,
}

impl ShardState {
    pub fn new(id: ShardId, shards: usize, config: Config) -> Self {
        let databases = config.databases();
        ShardState {
            id,
            shards,
            dbs: (0..databases).map(Db::with_index).collect(),
            config,
            stats: ShardStats {
                commands: vec![CommandStats::default(); crate::command::registry().all.len()],
                ..ShardStats::default()
            },
            rng: XorShift64::from_entropy(id.0 as u64 + 1),
            clients: BTreeMap::new(),
            active_expire_enabled: true,
            pause: None,
            list_packed_threshold: crate::types::list::DEFAULT_PACKED_THRESHOLD,
            blocking: Default::default(),
            wal: None,
        }
    }

    /// An empty state with the same configuration, for running a command on
    /// keys gathered from several shards.
    pub fn scratch(like: &ShardState) -> Self {
        let mut state = ShardState::new(like.id, like.shards, like.config.clone());
        state.active_expire_enabled = false;
        for db in &mut state.dbs {
            db.owns_keys = false;
        }
        state.list_packed_threshold = like.list_packed_threshold;
        state
    }

    pub fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }
}
