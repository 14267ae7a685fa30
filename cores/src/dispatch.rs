//! Cross-shard dispatch: jobs sent over the channel mesh, replies routed back,
//! and shard locks that make multi-shard operations atomic and isolated.
//!
//! A job is a closure run on the owning shard's state; its result travels back
//! as `Box<dyn Any + Send>`. Receive loops never await a send: outgoing
//! messages go to a per-peer outbox drained by a dedicated sender task, so a
//! full mesh of bounded channels cannot deadlock (glommio issue 555).
//!
//! Locks: a multi-shard operation takes a transaction id and locks every shard
//! it touches in ascending shard order (deadlock-free by construction). While a
//! shard is locked by transaction T it runs only T's jobs; other jobs wait in
//! arrival order, and local connections wait on `unlocked`.

use crate::sync::{oneshot, Notify, OneshotSender};
use crate::ShardId;
use glommio::channels::channel_mesh::{Receivers, Senders};
use std::any::Any;
use std::cell::{Cell, RefCell, RefMut};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// A unit of work run on another shard's state.
pub type Job<S> = Box<dyn FnOnce(&mut S) -> Box<dyn Any + Send> + Send>;

/// A job that answers later, through its `Responder` (for waits such as
/// "until the WAL is durable"). It runs even while the shard is locked, so it
/// must not change what a transaction could observe.
pub type DeferredJob<S> = Box<dyn FnOnce(&mut S, Responder<S>) + Send>;

/// Sends a deferred job's answer back to whoever called.
pub struct Responder<S: 'static> {
    to: ResponderTarget<S>,
}

enum ResponderTarget<S: 'static> {
    Remote {
        shard: std::rc::Weak<Shard<S>>,
        from: usize,
        id: u64,
    },
    Local(OneshotSender<Box<dyn Any + Send>>),
}

impl<S: 'static> Responder<S> {
    pub fn reply<R: Send + 'static>(self, value: R) {
        match self.to {
            ResponderTarget::Remote { shard, from, id } => {
                if let Some(shard) = shard.upgrade() {
                    shard.send(
                        from,
                        Message::Reply {
                            id,
                            value: Box::new(value),
                        },
                    );
                }
            }
            ResponderTarget::Local(sender) => sender.send(Box::new(value)),
        }
    }
}

/// Identifies one multi-shard transaction; unique across the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxId(pub u64);

/// A message on the mesh.
pub enum Message<S: 'static> {
    Call { id: u64, tx: Option<TxId>, job: Job<S> },
    CallDeferred { id: u64, job: DeferredJob<S> },
    Reply { id: u64, value: Box<dyn Any + Send> },
    Lock { id: u64, tx: TxId },
    Unlock { tx: TxId },
}

enum Waiter<S: 'static> {
    Remote { from: usize, id: u64, tx: TxId },
    Local { tx: TxId, granted: OneshotSender<()> },
    _Phantom(std::marker::PhantomData<S>),
}

struct LockState<S: 'static> {
    holder: Option<TxId>,
    waiters: VecDeque<Waiter<S>>,
    deferred: VecDeque<(usize, u64, Job<S>)>,
}

/// One shard's handle: its state, its mesh endpoints and its lock. Shared by
/// every task on the shard's executor through `Rc`.
pub struct Shard<S: 'static> {
    id: ShardId,
    count: usize,
    state: RefCell<S>,
    senders: Option<Senders<Message<S>>>,
    outbox: Vec<RefCell<VecDeque<Message<S>>>>,
    outbox_ready: Vec<Notify>,
    pending: RefCell<HashMap<u64, OneshotSender<Box<dyn Any + Send>>>>,
    next_id: Cell<u64>,
    lock: RefCell<LockState<S>>,
    unlocked: Notify,
}

impl<S: 'static> Shard<S> {
    pub(crate) fn new(id: ShardId, count: usize, state: S, senders: Option<Senders<Message<S>>>) -> Rc<Self> {
        Rc::new(Shard {
            id,
            count,
            state: RefCell::new(state),
            senders,
            outbox: (0..count).map(|_| RefCell::new(VecDeque::new())).collect(),
            outbox_ready: (0..count).map(|_| Notify::default()).collect(),
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
            lock: RefCell::new(LockState {
                holder: None,
                waiters: VecDeque::new(),
                deferred: VecDeque::new(),
            }),
            unlocked: Notify::default(),
        })
    }

    /// This shard's id.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// How many shards the process runs.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Borrows this shard's state. Never hold the borrow across an await.
    pub fn state(&self) -> RefMut<'_, S> {
        self.state.borrow_mut()
    }

    /// A fresh transaction id, unique across shards.
    pub fn new_tx(&self) -> TxId {
        let n = self.next_id.get();
        self.next_id.set(n + 1);
        TxId((n << 16) | self.id.0 as u64)
    }

    fn next_request_id(&self) -> u64 {
        let n = self.next_id.get();
        self.next_id.set(n + 1);
        n
    }

    /// The transaction holding this shard's lock, if any.
    pub fn lock_holder(&self) -> Option<TxId> {
        self.lock.borrow().holder
    }

    /// Waits until this shard is not locked by a transaction other than `tx`.
    /// Connections call it before running a command inline.
    pub async fn wait_unlocked(&self, tx: Option<TxId>) {
        loop {
            let holder = self.lock.borrow().holder;
            match holder {
                None => return,
                Some(h) if Some(h) == tx => return,
                Some(_) => self.unlocked.notified().await,
            }
        }
    }

    /// Runs `f` on shard `target`'s state and returns its result. Local calls
    /// run inline (the caller must respect locks: see `wait_unlocked`).
    pub async fn call<R, F>(&self, target: ShardId, tx: Option<TxId>, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut S) -> R + Send + 'static,
    {
        if target == self.id {
            self.wait_unlocked(tx).await;
            return f(&mut self.state.borrow_mut());
        }
        let id = self.next_request_id();
        let (sender, receiver) = oneshot();
        self.pending.borrow_mut().insert(id, sender);
        let job: Job<S> = Box::new(move |state: &mut S| Box::new(f(state)) as Box<dyn Any + Send>);
        self.send(target.0 as usize, Message::Call { id, tx, job });
        let value = receiver.await.expect("shard reply channel closed");
        *value.downcast::<R>().expect("shard reply of the wrong type")
    }

    /// Runs `f` on `target`'s state with a responder; returns the value the
    /// responder is given, whenever that happens.
    pub async fn call_deferred<R, F>(self: &Rc<Self>, target: ShardId, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut S, Responder<S>) + Send + 'static,
    {
        let (sender, receiver) = oneshot();
        if target == self.id {
            f(
                &mut self.state.borrow_mut(),
                Responder {
                    to: ResponderTarget::Local(sender),
                },
            );
        } else {
            let id = self.next_request_id();
            self.pending.borrow_mut().insert(id, sender);
            self.send(target.0 as usize, Message::CallDeferred { id, job: Box::new(f) });
        }
        let value = receiver.await.expect("deferred reply dropped");
        *value.downcast::<R>().expect("deferred reply of the wrong type")
    }

    /// Locks shard `target` for `tx`; returns when granted.
    pub async fn lock(&self, target: ShardId, tx: TxId) {
        if target == self.id {
            let receiver = {
                let mut lock = self.lock.borrow_mut();
                if lock.holder.is_none() {
                    lock.holder = Some(tx);
                    return;
                }
                let (sender, receiver) = oneshot();
                lock.waiters.push_back(Waiter::Local { tx, granted: sender });
                receiver
            };
            receiver.await.expect("lock waiter dropped");
            return;
        }
        let id = self.next_request_id();
        let (reply_sender, reply_receiver) = oneshot();
        self.pending.borrow_mut().insert(id, reply_sender);
        self.send(target.0 as usize, Message::Lock { id, tx });
        reply_receiver.await.expect("lock reply channel closed");
    }

    /// Locks every shard in `targets` for `tx`, in ascending order.
    pub async fn lock_all(&self, targets: &[ShardId], tx: TxId) {
        debug_assert!(targets.windows(2).all(|w| w[0] < w[1]));
        for &target in targets {
            self.lock(target, tx).await;
        }
    }

    /// Releases `tx`'s lock on every shard in `targets`.
    pub fn unlock_all(&self, targets: &[ShardId], tx: TxId) {
        for &target in targets {
            if target == self.id {
                self.release(tx);
            } else {
                self.send(target.0 as usize, Message::Unlock { tx });
            }
        }
    }

    fn release(&self, tx: TxId) {
        let deferred = {
            let mut lock = self.lock.borrow_mut();
            assert_eq!(lock.holder, Some(tx), "unlock by a transaction not holding the lock");
            lock.holder = None;
            std::mem::take(&mut lock.deferred)
        };
        // Jobs that arrived while locked ran before any later lock holder.
        for (from, id, job) in deferred {
            let value = job(&mut self.state.borrow_mut());
            self.send(from, Message::Reply { id, value });
        }
        let next = self.lock.borrow_mut().waiters.pop_front();
        if let Some(waiter) = next {
            self.grant(waiter);
        }
        self.unlocked.notify_all();
    }

    fn grant(&self, waiter: Waiter<S>) {
        match waiter {
            Waiter::Remote { from, id, tx } => {
                self.lock.borrow_mut().holder = Some(tx);
                self.send(
                    from,
                    Message::Reply {
                        id,
                        value: Box::new(()),
                    },
                );
            }
            Waiter::Local { tx, granted } => {
                self.lock.borrow_mut().holder = Some(tx);
                granted.send(());
            }
            Waiter::_Phantom(_) => unreachable!(),
        }
    }

    fn send(&self, to: usize, message: Message<S>) {
        let senders = self.senders.as_ref().expect("mesh send with one shard");
        let mut outbox = self.outbox[to].borrow_mut();
        if outbox.is_empty() {
            match senders.try_send_to(to, message) {
                Ok(()) => return,
                Err(glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(message))) => {
                    outbox.push_back(message)
                }
                Err(glommio::GlommioError::Closed(_)) => return,
                Err(error) => panic!("mesh send to shard {to} failed: {error}"),
            }
        } else {
            outbox.push_back(message);
        }
        drop(outbox);
        self.outbox_ready[to].notify_all();
    }

    /// Drains the outbox for peer `to` into the mesh; one task per peer.
    pub(crate) async fn sender_loop(self: Rc<Self>, to: usize) {
        let senders = self.senders.as_ref().expect("mesh sender loop with one shard");
        loop {
            let next = self.outbox[to].borrow_mut().pop_front();
            match next {
                Some(message) => {
                    if senders.send_to(to, message).await.is_err() {
                        return;
                    }
                }
                None => self.outbox_ready[to].notified().await,
            }
        }
    }

    /// Receives from peer `from` and handles each message without awaiting.
    pub(crate) async fn receive_loop(self: Rc<Self>, receivers: Rc<Receivers<Message<S>>>, from: usize) {
        while let Ok(Some(message)) = receivers.recv_from(from).await {
            self.handle(from, message);
        }
    }

    fn handle(self: &Rc<Self>, from: usize, message: Message<S>) {
        match message {
            Message::CallDeferred { id, job } => {
                let responder = Responder {
                    to: ResponderTarget::Remote {
                        shard: Rc::downgrade(self),
                        from,
                        id,
                    },
                };
                job(&mut self.state.borrow_mut(), responder);
            }
            Message::Call { id, tx, job } => {
                let mut lock = self.lock.borrow_mut();
                if lock.holder.is_some() && lock.holder != tx {
                    // A transaction only sends jobs to shards it locked.
                    debug_assert!(tx.is_none(), "transaction job sent to a shard it does not hold");
                    lock.deferred.push_back((from, id, job));
                    return;
                }
                drop(lock);
                let value = job(&mut self.state.borrow_mut());
                self.send(from, Message::Reply { id, value });
            }
            Message::Reply { id, value } => {
                let sender = self.pending.borrow_mut().remove(&id);
                if let Some(sender) = sender {
                    sender.send(value);
                }
            }
            Message::Lock { id, tx } => {
                let free = self.lock.borrow().holder.is_none();
                if free {
                    self.grant(Waiter::Remote { from, id, tx });
                } else {
                    self.lock
                        .borrow_mut()
                        .waiters
                        .push_back(Waiter::Remote { from, id, tx });
                }
            }
            Message::Unlock { tx } => self.release(tx),
        }
    }
}
