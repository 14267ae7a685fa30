//! A connection's state on the core that accepted it: selected database,
//! protocol, authentication, MULTI queue, WATCHed keys, and the output buffer.
//! Also the helpers async commands use to reach other shards.

use crate::client::ClientInfo;
use crate::command::CommandSpec;
use crate::keyspace::WatchFlag;
use crate::resp::ReplyBuf;
use crate::shard::ShardState;
use crate::OwnedArgv;
use cores::{Shard, ShardId, TxId};
use std::cell::RefCell;
use std::rc::Rc;

/// A command queued by MULTI.
pub struct Queued {
    pub spec: &'static CommandSpec,
    pub argv: OwnedArgv,
}

/// CLIENT REPLY mode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the next command's reply only.
    Skip,
    SkipThis,
}

/// A watched key (WATCH); whether it had already expired when watched is
/// kept by the owning shard's registry.
pub struct WatchedKey {
    pub db: usize,
    pub key: Vec<u8>,
}

pub struct Session {
    pub shard: Rc<Shard<ShardState>>,
    pub info: Rc<RefCell<ClientInfo>>,
    pub id: u64,
    pub db: usize,
    pub out: ReplyBuf,
    pub authenticated: bool,
    /// Commands queued since MULTI (None outside MULTI).
    pub multi: Option<Vec<Queued>>,
    /// A queueing error happened: EXEC answers EXECABORT.
    pub multi_error: bool,
    pub watched: Vec<WatchedKey>,
    /// Set by any shard when a watched key changes.
    pub watch_flag: WatchFlag,
    /// The transaction whose shard locks this connection holds (EXEC and
    /// multi-shard commands).
    pub tx: Option<TxId>,
    pub close_after_reply: bool,
    pub no_touch: bool,
    pub no_evict: bool,
    pub reply_mode: ReplyMode,
    /// Shards (and their WAL epochs) whose changes this session's pending
    /// replies may reflect: under `appendfsync always` the replies wait until
    /// those are durable.
    pub wal_wait: RefCell<Vec<(ShardId, u64)>>,
    /// A write command (or EXEC) ran since the replies were last sent: if
    /// the WAL then fails, these replies must not leave. Replies to reads
    /// are sent anyway, as Redis serves reads while its AOF fails.
    pub batch_wrote: bool,
    /// Set by SYNC/PSYNC: the connection becomes a replica once the
    /// snapshot is flushed.
    pub replica: Option<crate::repl::master::ReplicaStart>,
    /// What the client announced with REPLCONF.
    pub announced: crate::repl::master::Announced,
    /// The replication offset after this client's last write (WAIT).
    pub woff: u64,
    /// The master's stream applied on a replica: may write.
    pub from_master: bool,
    /// Pub/Sub subscriptions and MONITOR (None until first used).
    pub push: Option<Box<crate::pubsub::ClientPush>>,
    /// CLIENT TRACKING settings.
    pub tracking: crate::tracking::ClientTracking,
}

impl Session {
    pub fn new(shard: Rc<Shard<ShardState>>, info: Rc<RefCell<ClientInfo>>, authenticated: bool) -> Session {
        let id = info.borrow().id;
        Session {
            shard,
            info,
            id,
            db: 0,
            out: ReplyBuf::with_capacity(false, 16 * 1024),
            authenticated,
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            watch_flag: Default::default(),
            tx: None,
            close_after_reply: false,
            no_touch: false,
            no_evict: false,
            reply_mode: ReplyMode::On,
            wal_wait: RefCell::new(Vec::new()),
            batch_wrote: false,
            replica: None,
            announced: Default::default(),
            woff: 0,
            from_master: false,
            push: None,
            tracking: Default::default(),
        }
    }

    pub fn shard_id(&self) -> ShardId {
        self.shard.id()
    }

    pub fn shard_count(&self) -> usize {
        self.shard.count()
    }

    /// All shard ids, ascending.
    pub fn all_shards(&self) -> Vec<ShardId> {
        (0..self.shard.count()).map(|i| ShardId(i as u16)).collect()
    }

    /// Propagates a command as received to replicas (or keeps it for the
    /// transaction collecting its effects), in the session's database.
    pub fn propagate_command(&mut self, argv: &crate::resp::Argv) {
        if !crate::repl::feed::active() {
            return;
        }
        let args: Vec<&[u8]> = argv.iter().collect();
        let op = crate::repl::feed::Op::new(self.db, &args);
        self.out.propagate(vec![op]);
    }

    /// Runs `f` on `target`'s state within this session's transaction.
    pub async fn call<R, F>(&self, target: ShardId, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardState) -> R + Send + 'static,
    {
        let (result, epoch) = self
            .shard
            .call(target, self.tx, move |state: &mut ShardState| {
                let result = f(state);
                crate::persist::wal::kick(state);
                (result, crate::persist::wal::uncommitted_epoch(state))
            })
            .await;
        if let Some(epoch) = epoch {
            self.note_wal_epoch(target, epoch);
        }
        result
    }

    /// Remembers that replies must wait for `epoch` of `target`'s WAL.
    pub fn note_wal_epoch(&self, target: ShardId, epoch: u64) {
        let mut waits = self.wal_wait.borrow_mut();
        match waits.iter_mut().find(|(shard, _)| *shard == target) {
            Some(wait) => wait.1 = wait.1.max(epoch),
            None => waits.push((target, epoch)),
        }
    }

    /// Before replies leave: notes the local shard's uncommitted changes and
    /// waits until everything the replies may reflect is durable. False when
    /// a WAL write failed: the replies must not be sent.
    pub async fn wal_barrier(&mut self) -> bool {
        let local = {
            let state = self.shard.state();
            crate::persist::wal::kick(&state);
            crate::persist::wal::uncommitted_epoch(&state)
        };
        if let Some(epoch) = local {
            self.note_wal_epoch(self.shard.id(), epoch);
        }
        let wrote = std::mem::take(&mut self.batch_wrote);
        if self.wal_wait.borrow().is_empty() {
            return true;
        }
        let targets = std::mem::take(&mut *self.wal_wait.borrow_mut());
        crate::persist::wal::barrier(&self.shard, &targets).await || !wrote
    }

    /// Runs `f` on every shard (in shard order) and collects the results.
    pub async fn call_all<R, F>(&self, f: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut ShardState) -> R + Send + Clone + 'static,
    {
        let mut results = Vec::with_capacity(self.shard.count());
        for target in self.all_shards() {
            results.push(self.call(target, f.clone()).await);
        }
        results
    }

    /// Runs `body` with `targets` locked for one transaction, unless this
    /// session already holds locks (inside EXEC), in which case they are
    /// already held.
    pub async fn locked<T>(&mut self, targets: &[ShardId], body: impl AsyncFnOnce(&mut Session) -> T) -> T {
        if self.tx.is_some() {
            return body(self).await;
        }
        let tx = self.shard.new_tx();
        self.shard.lock_all(targets, tx).await;
        self.tx = Some(tx);
        self.out.collect_effects = true;
        // With the WAL on, a change spanning shards is logged as one
        // transaction (see wal::commit_across). Reads skip it.
        let logged = targets.len() > 1 && self.batch_wrote && crate::persist::wal::enabled(&self.shard.state());
        let result = body(self).await;
        if logged {
            crate::persist::wal::commit_across(self, targets).await;
        }
        // The changes made under the locks go to the replication stream as
        // one block before any other command can touch these shards.
        self.out.collect_effects = false;
        let effects = std::mem::take(&mut self.out.effects);
        crate::repl::feed::propagate_ops(&effects, true);
        if crate::tracking::broadcasting() {
            // One broadcast per locked shard for the whole transaction.
            for &target in targets {
                self.call(target, |_| crate::tracking::broadcast()).await;
            }
        }
        self.tx = None;
        self.shard.unlock_all(targets, tx);
        result
    }
}
