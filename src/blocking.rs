//! Blocking pops (BLPOP BRPOP BLMPOP BLMOVE BRPOPLPUSH) across shards.
//!
//! A client that finds every key empty registers a `Waiter` in the queue of
//! each key, on the shard owning the key, and waits on its own shard for a
//! `Wake`. Writes mark keys with waiters "ready" (`Db::signal_ready`); each
//! shard's serve task, woken right after the command (or the EXEC, or the
//! lock release) that made a key ready, serves that key's waiters first
//! come, first served, on the owning shard: it pops for the waiter and sends
//! the finished reply home, so no other command runs between the push and
//! the serve. A waiter is claimed exactly once (an atomic flag shared by
//! its registrations) by whichever comes first: a serve, its timeout,
//! CLIENT UNBLOCK. Registrations left behind by a claimed waiter are
//! dropped when met. BLMOVE whose destination lives on another shard is
//! woken to retry through the ordinary cross-shard LMOVE instead.

use crate::exec;
use crate::families::list::{self as list_family, End};
use crate::keyspace::Value;
use crate::repl::feed::Op;
use crate::resp::ReplyBuf;
use crate::session::Session;
use crate::shard::ShardState;
use crate::slot::key_shard;
use crate::types::list::ListLimits;
use crate::types::List;
use cores::sync::OneshotSender;
use cores::{Shard, ShardId};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// What wakes a blocked client.
pub enum Wake {
    /// The finished reply of the served command.
    Reply(Vec<u8>),
    Timeout,
    /// CLIENT UNBLOCK: with ERROR, or as a timeout.
    Unblock {
        error: bool,
    },
    /// Retry the command from the start (BLMOVE across shards).
    Retry,
}

/// What a waiter wants from a key.
#[derive(Clone)]
pub enum WaitOp {
    /// BLPOP / BRPOP (`count` None: reply `[key, element]`) or BLMPOP
    /// (`count` Some: reply `[key, [elements]]`).
    Pop { end: End, count: Option<usize> },
    /// BLMOVE / BRPOPLPUSH.
    Move { dst: Vec<u8>, from: End, to: End },
    /// BZPOPMIN / BZPOPMAX (`count` None: reply `[key, member, score]`) or
    /// BZMPOP (`count` Some: reply `[key, [[member, score]...]]`).
    ZPop { max: bool, count: Option<usize> },
}

impl WaitOp {
    /// Whether `value` can serve this op now.
    fn ready(&self, value: &Value) -> bool {
        match self {
            WaitOp::ZPop { .. } => value.as_zset().is_some_and(|z| !z.is_empty()),
            _ => value.as_list().is_some_and(|l| !l.is_empty()),
        }
    }
}

pub struct Waiter {
    pub client: u64,
    pub home: ShardId,
    pub claimed: Arc<AtomicBool>,
    pub op: WaitOp,
    pub resp3: bool,
    /// When the blocking command started: queues are ordered by it, so the
    /// client whose command arrived first is served first even when its
    /// registration reaches the key's shard later than another's.
    pub since: std::time::Instant,
}

/// The blocking state a shard keeps: waiters on its keys, and its own
/// blocked clients' wake-up slots.
#[derive(Default)]
pub struct Blocking {
    pub waiters: std::collections::HashMap<(usize, Vec<u8>), VecDeque<Waiter>>,
    pub clients: std::collections::HashMap<u64, (OneshotSender<Wake>, Arc<AtomicBool>)>,
    /// Clients whose registrations are all in place.
    pub registered: std::collections::HashSet<u64>,
    pub notify: Rc<cores::sync::Notify>,
}

fn claim(flag: &AtomicBool) -> bool {
    flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// A served blocking command: its reply, and what replicas get for it (when
/// the replication stream is active).
pub type Served = (Vec<u8>, Option<Op>);

/// A served command's reply with its effect for replicas.
fn served(db: usize, key: &[u8], op: &WaitOp, reply: Vec<u8>, popped: usize) -> Served {
    let effect = crate::repl::feed::active().then(|| served_effect(db, key, op, popped));
    (reply, effect)
}

/// What replicas get for a served blocking command: its non-blocking form
/// with the number of elements actually taken, as Redis propagates it.
fn served_effect(db: usize, key: &[u8], op: &WaitOp, popped: usize) -> Op {
    let side = |e: &End| if *e == End::Left { &b"LEFT"[..] } else { &b"RIGHT"[..] };
    let count = popped.to_string();
    match op {
        WaitOp::Pop { end, count: None } => Op::new(db, &[if *end == End::Left { b"LPOP" } else { b"RPOP" }, key]),
        WaitOp::Pop { end, count: Some(_) } => Op::new(
            db,
            &[if *end == End::Left { b"LPOP" } else { b"RPOP" }, key, count.as_bytes()],
        ),
        WaitOp::Move { dst, from, to } => Op::new(db, &[b"LMOVE", key, dst, side(from), side(to)]),
        WaitOp::ZPop { max, count: None } => Op::new(db, &[if *max { &b"ZPOPMAX"[..] } else { b"ZPOPMIN" }, key]),
        WaitOp::ZPop { max, count: Some(_) } => Op::new(
            db,
            &[if *max { &b"ZPOPMAX"[..] } else { b"ZPOPMIN" }, key, count.as_bytes()],
        ),
    }
}

/// Runs `op` on `key` if it holds a non-empty list: Ok(Some(served)) when
/// served, Ok(None) when empty or absent, Err(WRONGTYPE).
pub fn try_op(
    state: &mut ShardState,
    db: usize,
    key: &[u8],
    op: &WaitOp,
    resp3: bool,
    now: u64,
) -> Result<Option<Served>, &'static str> {
    let limits = ListLimits {
        fill: state.config.settings.encodings.list_max_listpack_size,
        packed_threshold: state.list_packed_threshold,
    };
    let dbs = &mut state.dbs;
    if let WaitOp::ZPop { max, count } = op {
        match dbs[db].write(key, now).map(|e| e.value.as_zset().map(|z| z.is_empty())) {
            None | Some(Some(true)) => return Ok(None),
            Some(None) => return Err(crate::errors::WRONGTYPE),
            Some(Some(false)) => {}
        }
        let length = dbs[db]
            .peek(key, now)
            .and_then(|e| e.value.as_zset().map(|z| z.len()))
            .unwrap_or(0);
        let popped = count.map_or(1, |n| n.min(length));
        let mut out = ReplyBuf::new(resp3);
        match count {
            None => {
                let z = dbs[db]
                    .write(key, now)
                    .and_then(|e| e.value.as_zset_mut())
                    .expect("checked");
                let (member, score) = crate::families::zset::pop(z, *max, 1).remove(0);
                dbs[db].modified(key);
                if dbs[db]
                    .peek(key, now)
                    .is_some_and(|e| e.value.as_zset().is_some_and(|z| z.is_empty()))
                {
                    dbs[db].delete(key, now);
                }
                out.array(3);
                out.bulk(key);
                out.bulk(&member);
                out.double(score);
            }
            Some(n) => {
                let shape = crate::families::zset::PopShape::WithKey;
                crate::families::zset::pop_reply(&mut dbs[db], key, *max, *n, now, &mut out, shape)
            }
        }
        return Ok(Some(served(db, key, op, out.bytes, popped)));
    }
    let list = match dbs[db].write(key, now) {
        None => return Ok(None),
        Some(entry) => match entry.value.as_list_mut() {
            None => return Err(crate::errors::WRONGTYPE),
            Some(list) if list.is_empty() => return Ok(None),
            Some(list) => list,
        },
    };
    let mut out = ReplyBuf::new(resp3);
    let mut popped = 1;
    match op {
        WaitOp::Pop { end, count: None } => {
            let item = list_family::pop(list, *end).expect("non-empty");
            out.array(2);
            out.bulk(key);
            out.bulk(&item);
        }
        WaitOp::Pop { end, count: Some(n) } => {
            let n = (*n).min(list.len());
            popped = n;
            out.array(2);
            out.bulk(key);
            out.array(n);
            for _ in 0..n {
                out.bulk(&list_family::pop(list, *end).expect("within length"));
            }
        }
        WaitOp::ZPop { .. } => unreachable!("handled above"),
        WaitOp::Move { dst, from, to } => {
            if dbs[db].peek(dst, now).is_some_and(|e| e.value.as_list().is_none()) {
                return Err(crate::errors::WRONGTYPE);
            }
            let list = dbs[db]
                .write(key, now)
                .and_then(|e| e.value.as_list_mut())
                .expect("checked");
            let item = list_family::pop(list, *from).expect("non-empty");
            if dbs[db].peek(dst, now).is_none() {
                dbs[db].set(dst, Value::List(Box::default()), false, now);
            }
            let target = dbs[db]
                .write(dst, now)
                .and_then(|e| e.value.as_list_mut())
                .expect("list");
            list_family::push(target, *to, &item, limits);
            dbs[db].modified(dst);
            out.bulk(&item);
        }
    }
    dbs[db].modified(key);
    if dbs[db]
        .peek(key, now)
        .is_some_and(|e| e.value.as_list().is_some_and(List::is_empty))
    {
        dbs[db].delete(key, now);
    }
    Ok(Some(served(db, key, op, out.bytes, popped)))
}

/// A reply on its way home, with what to undo if the client is gone.
struct Delivery {
    home: ShardId,
    client: u64,
    wake: Wake,
}

/// Serves the waiters of every ready key of this shard, first come first
/// served. Returns the replies to deliver.
fn serve_ready(state: &mut ShardState) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    let now = exec::now_ms();
    let shards = state.shards;
    let me = state.id;
    for db in 0..state.dbs.len() {
        let ready = std::mem::take(&mut state.dbs[db].ready);
        for key in ready {
            loop {
                let slot = (db, key.clone());
                let Some(queue) = state.blocking.waiters.get_mut(&slot) else {
                    break;
                };
                while queue.front().is_some_and(|w| w.claimed.load(Ordering::Acquire)) {
                    queue.pop_front();
                }
                if queue.is_empty() {
                    state.blocking.waiters.remove(&slot);
                    state.dbs[db].blocked.remove(&key);
                    break;
                }
                let op = &queue.front().expect("non-empty").op;
                let has_items = state.dbs[db].peek(&key, now).is_some_and(|e| op.ready(&e.value));
                if !has_items {
                    break;
                }
                let waiter = queue.pop_front().expect("non-empty");
                if !claim(&waiter.claimed) {
                    continue;
                }
                if let WaitOp::Move { dst, .. } = &waiter.op {
                    if key_shard(dst, shards) != me {
                        deliveries.push(Delivery {
                            home: waiter.home,
                            client: waiter.client,
                            wake: Wake::Retry,
                        });
                        continue;
                    }
                }
                let wake = match try_op(state, db, &key, &waiter.op, waiter.resp3, now) {
                    Ok(Some((reply, effect))) => {
                        if let Some(op) = effect {
                            crate::repl::feed::propagate_ops(&[op], false);
                        }
                        Wake::Reply(reply)
                    }
                    Ok(None) => unreachable!("checked non-empty"),
                    Err(e) => {
                        let mut out = ReplyBuf::new(waiter.resp3);
                        out.error(e);
                        Wake::Reply(out.bytes)
                    }
                };
                deliveries.push(Delivery {
                    home: waiter.home,
                    client: waiter.client,
                    wake,
                });
            }
        }
    }
    deliveries
}

/// Hands a wake-up to a client of this shard; false if it is gone.
pub fn deliver(state: &mut ShardState, client: u64, wake: Wake) -> bool {
    state.blocking.registered.remove(&client);
    match state.blocking.clients.remove(&client) {
        Some((sender, _)) => {
            sender.send(wake);
            true
        }
        None => false,
    }
}

/// Waits for `first` or `second`, whichever is ready first.
async fn either<A: Future, B: Future>(first: A, second: B) -> bool {
    let mut first = pin!(first);
    let mut second = pin!(second);
    std::future::poll_fn(|cx| {
        if first.as_mut().poll(cx).is_ready() {
            return Poll::Ready(true);
        }
        if second.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        Poll::Pending
    })
    .await
}

/// The per-shard task that serves blocked clients. Woken by commands that
/// made keys ready; also polls every few milliseconds while clients are
/// blocked on this shard, for writes that arrive by other paths.
pub async fn serve_loop(shard: Rc<Shard<ShardState>>) {
    let notify = shard.state().blocking.notify.clone();
    loop {
        let idle = shard.state().blocking.waiters.is_empty();
        if idle {
            notify.notified().await;
        } else {
            either(notify.notified(), cores::sleep(Duration::from_millis(5))).await;
        }
        shard.wait_unlocked(None).await;
        let deliveries = {
            let mut state = shard.state();
            // Serving can make more keys ready (BLMOVE into a list others
            // wait on): serve until none is, as Redis does before the next
            // command runs.
            let mut deliveries = Vec::new();
            while state.dbs.iter().any(|d| !d.ready.is_empty()) {
                deliveries.extend(serve_ready(&mut state));
            }
            deliveries
        };
        for d in deliveries {
            if d.home == shard.id() {
                deliver(&mut shard.state(), d.client, d.wake);
            } else {
                let (client, wake) = (d.client, d.wake);
                shard
                    .call(d.home, None, move |state: &mut ShardState| {
                        deliver(state, client, wake);
                    })
                    .await;
            }
        }
    }
}

/// Notifies the shard's serve task if a command left keys ready.
pub fn notify_if_ready(state: &ShardState) {
    if !state.blocking.waiters.is_empty() && state.dbs.iter().any(|d| !d.ready.is_empty()) {
        state.blocking.notify.notify_all();
    }
}

/// Parses a blocking timeout as Redis's getTimeoutFromObjectOrReply with
/// seconds: Ok(None) blocks forever, Ok(Some(ms)) is relative.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<u64>, &'static str> {
    let seconds = match crate::families::float80::F80::parse(arg) {
        Some(crate::families::float80::F80::Finite { neg, mant, exp }) => {
            let magnitude = mant as f64 * 2f64.powi(exp.clamp(-2000, 2000) as i32);
            if neg {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return Err("ERR timeout is not a float or out of range"),
    };
    let ms = (seconds * 1000.0).ceil();
    if ms < 0.0 {
        return Err("ERR timeout is negative");
    }
    if ms >= i64::MAX as f64 {
        return Err("ERR timeout is out of range");
    }
    Ok((ms > 0.0).then_some(ms as u64))
}

/// How often a blocked client's socket is checked for a closed peer.
const PEER_CHECK: Duration = Duration::from_millis(100);

/// Whether the peer of `fd` has closed (or reset) the connection: a
/// non-blocking peek reads 0 bytes at end of stream.
fn peer_closed(fd: i32) -> bool {
    if fd < 0 {
        return false;
    }
    let mut byte = 0u8;
    // SAFETY: a one-byte MSG_PEEK read into a local on a socket fd this
    // shard owns; it consumes nothing.
    let n = unsafe {
        libc::recv(
            fd,
            &mut byte as *mut u8 as *mut libc::c_void,
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n == 0 {
        return true;
    }
    n < 0 && {
        let err = std::io::Error::last_os_error().raw_os_error();
        !matches!(err, Some(libc::EAGAIN) | Some(libc::EINTR))
    }
}

/// How a block ended.
pub enum Outcome {
    /// The reply was written.
    Done,
    /// Try the command again (BLMOVE across shards).
    Retry,
}

/// Blocks the session on `keys` for `op` until served, timed out or
/// unblocked, and writes the reply (or asks for a retry).
pub async fn block(
    session: &mut Session,
    keys: &[Vec<u8>],
    op: WaitOp,
    timeout_ms: Option<u64>,
    since: std::time::Instant,
) -> Outcome {
    let client = session.info.borrow().id;
    let claimed = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = cores::sync::oneshot::<Wake>();
    let home = session.shard_id();
    let resp3 = session.out.resp3;
    let db = session.db;
    session
        .shard
        .state()
        .blocking
        .clients
        .insert(client, (sender, claimed.clone()));
    let mut seen: Vec<&Vec<u8>> = Vec::new();
    for key in keys {
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let waiter = Waiter {
            client,
            home,
            claimed: claimed.clone(),
            op: op.clone(),
            resp3,
            since,
        };
        let owner = key_shard(key, session.shard_count());
        let key = key.clone();
        session
            .call(owner, move |state: &mut ShardState| {
                let queue = state.blocking.waiters.entry((db, key.clone())).or_default();
                let at = queue.partition_point(|w| w.since <= waiter.since);
                queue.insert(at, waiter);
                state.dbs[db].blocked.insert(key.clone());
                // A push that landed between the attempt and now.
                state.dbs[db].signal_ready(&key);
                state.blocking.notify.notify_all();
            })
            .await;
    }
    // Counted in INFO's blocked_clients only now that every key's shard
    // knows it (what a test's wait_for_blocked_clients relies on).
    session.shard.state().blocking.registered.insert(client);
    // CLIENT LIST shows the client blocked (flags=b) until it wakes.
    session.info.borrow_mut().flags.push('b');
    let guard = ClaimOnDrop {
        shard: session.shard.clone(),
        client,
        claimed: claimed.clone(),
    };
    let mut receiver = pin!(receiver);
    // Wait for a wake-up, the timeout, or the peer going away: the socket
    // is not read while a command runs, so it is peeked every
    // PEER_CHECK; a closed peer's waiter is claimed so no push is spent on
    // it (a push landing within that interval can still be).
    let deadline = timeout_ms.map(|ms| std::time::Instant::now() + Duration::from_millis(ms));
    let fd = session.info.borrow().fd;
    let wake = loop {
        let step = match deadline {
            Some(d) => d.saturating_duration_since(std::time::Instant::now()).min(PEER_CHECK),
            None => PEER_CHECK,
        };
        let mut timer = pin!(cores::sleep(step));
        // The socket reporting news (most often the client hanging up) is
        // checked at once, so a closed client stops counting as blocked
        // right away, as in Redis.
        let mut news = pin!(cores::net::readable(fd));
        let first = std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = receiver.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            if timer.as_mut().poll(cx).is_ready() || (fd >= 0 && news.as_mut().poll(cx).is_ready()) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        if let Some(wake) = first {
            break wake;
        }
        let expired = deadline.is_some_and(|d| std::time::Instant::now() >= d);
        if !expired && !peer_closed(fd) {
            continue;
        }
        if claim(&claimed) {
            let mut state = session.shard.state();
            state.blocking.clients.remove(&client);
            state.blocking.registered.remove(&client);
            break Some(Wake::Timeout);
        }
        // A serve claimed it first: its reply is on the way.
        break receiver.as_mut().await;
    };
    drop(guard);
    session.info.borrow_mut().flags.retain(|c| c != 'b');
    match wake {
        Some(Wake::Reply(bytes)) => session.out.raw(&bytes),
        Some(Wake::Timeout) | Some(Wake::Unblock { error: false }) | None => session.out.null_array(),
        Some(Wake::Unblock { error: true }) => session.out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
        Some(Wake::Retry) => return Outcome::Retry,
    }
    Outcome::Done
}

/// If the blocked wait is abandoned (the connection closed), the waiter is
/// claimed so no serve pops for it.
struct ClaimOnDrop {
    shard: Rc<Shard<ShardState>>,
    client: u64,
    claimed: Arc<AtomicBool>,
}

impl Drop for ClaimOnDrop {
    fn drop(&mut self) {
        claim(&self.claimed);
        let mut state = self.shard.state();
        state.blocking.clients.remove(&self.client);
        state.blocking.registered.remove(&self.client);
    }
}

/// CLIENT UNBLOCK: wakes a blocked client of this shard. Returns whether it
/// was blocked.
pub fn unblock(state: &mut ShardState, client: u64, error: bool) -> bool {
    let Some((_, claimed)) = state.blocking.clients.get(&client) else {
        return false;
    };
    if !claim(claimed) {
        return false;
    }
    deliver(state, client, Wake::Unblock { error })
}

/// Tries `op` on `keys` in order (each on its owning shard); then, unless
/// inside EXEC (where a blocking command never blocks), blocks.
async fn pop_or_block(session: &mut Session, keys: Vec<Vec<u8>>, op: WaitOp, timeout_ms: Option<u64>) {
    let since = std::time::Instant::now();
    loop {
        let (db, resp3) = (session.db, session.out.resp3);
        for key in &keys {
            let owner = key_shard(key, session.shard_count());
            if let WaitOp::Move { dst, from, to } = &op {
                if key_shard(dst, session.shard_count()) != owner {
                    // Across shards: the ordinary atomic LMOVE does the move.
                    let side = |e: &End| if *e == End::Left { &b"LEFT"[..] } else { &b"RIGHT"[..] };
                    let parts: [&[u8]; 5] = [b"LMOVE", key, dst, side(from), side(to)];
                    let argv = crate::OwnedArgv::from_parts(parts.into_iter());
                    let spec = crate::command::lookup(b"lmove").expect("lmove exists");
                    let start = session.out.bytes.len();
                    exec::dispatch(session, spec, &argv.argv()).await;
                    let reply = &session.out.bytes[start..];
                    if reply != b"$-1\r\n" && reply != b"_\r\n" {
                        return;
                    }
                    session.out.bytes.truncate(start);
                    continue;
                }
            }
            let (k, o) = (key.clone(), op.clone());
            let collect = session.out.collect_effects;
            let result = session
                .call(owner, move |state: &mut ShardState| {
                    let now = exec::now_ms();
                    let r = try_op(state, db, &k, &o, resp3, now).map(|served| {
                        served.map(|(reply, effect)| match effect {
                            // Outside a transaction the change is propagated
                            // here, on the key's shard, as it is applied.
                            Some(op) if !collect => {
                                crate::repl::feed::propagate_ops(&[op], false);
                                (reply, None)
                            }
                            kept => (reply, kept),
                        })
                    });
                    notify_if_ready(state);
                    r
                })
                .await;
            match result {
                Err(e) => return session.out.error(e),
                Ok(Some((reply, effect))) => {
                    if let Some(op) = effect {
                        session.out.propagate(vec![op]);
                    }
                    return session.out.raw(&reply);
                }
                Ok(None) => {}
            }
        }
        if session.tx.is_some() {
            return session.out.null_array();
        }
        match block(session, &keys, op.clone(), timeout_ms, since).await {
            Outcome::Done => return,
            Outcome::Retry => continue,
        }
    }
}

fn bpop(session: &mut Session, argv: crate::OwnedArgv, end: End) -> crate::command::LocalFuture<'_> {
    Box::pin(async move {
        let args = argv.argv();
        let timeout = match parse_timeout(args.get(args.len() - 1)) {
            Ok(t) => t,
            Err(e) => return session.out.error(e),
        };
        let keys: Vec<Vec<u8>> = (1..args.len() - 1).map(|i| args.get(i).to_vec()).collect();
        pop_or_block(session, keys, WaitOp::Pop { end, count: None }, timeout).await;
    })
}

pub fn blpop(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    bpop(session, argv, End::Left)
}

pub fn brpop(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    bpop(session, argv, End::Right)
}

pub fn blmpop(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    Box::pin(async move {
        let args = argv.argv();
        let parsed = match crate::families::typed::parse_mpop(&args, 2, End::parse) {
            Ok(parsed) => parsed,
            Err(e) => return session.out.error(e),
        };
        let timeout = match parse_timeout(args.get(1)) {
            Ok(t) => t,
            Err(e) => return session.out.error(e),
        };
        let keys: Vec<Vec<u8>> = parsed.keys.iter().map(|k| k.to_vec()).collect();
        let op = WaitOp::Pop {
            end: parsed.side,
            count: Some(parsed.count),
        };
        pop_or_block(session, keys, op, timeout).await;
    })
}

fn bmove(
    session: &mut Session,
    argv: crate::OwnedArgv,
    from_to: Option<(End, End)>,
) -> crate::command::LocalFuture<'_> {
    Box::pin(async move {
        let args = argv.argv();
        let (from, to) = match from_to {
            Some(ends) => ends,
            None => {
                let (Some(from), Some(to)) = (End::parse(args.get(3)), End::parse(args.get(4))) else {
                    return session.out.error(crate::errors::SYNTAX);
                };
                (from, to)
            }
        };
        let timeout = match parse_timeout(args.get(args.len() - 1)) {
            Ok(t) => t,
            Err(e) => return session.out.error(e),
        };
        let op = WaitOp::Move {
            dst: args.get(2).to_vec(),
            from,
            to,
        };
        pop_or_block(session, vec![args.get(1).to_vec()], op, timeout).await;
    })
}

pub fn blmove(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    bmove(session, argv, None)
}

pub fn brpoplpush(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    bmove(session, argv, Some((End::Right, End::Left)))
}

/// CLIENT UNBLOCK <id> [TIMEOUT|ERROR]
pub fn client_unblock(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    Box::pin(async move {
        let args = argv.argv();
        let Some(id) = crate::resp::parse::parse_i64(args.get(2)) else {
            return session.out.error(crate::errors::NOT_INTEGER);
        };
        let error = match args.len() {
            3 => false,
            4 if args.get(3).eq_ignore_ascii_case(b"timeout") => false,
            4 if args.get(3).eq_ignore_ascii_case(b"error") => true,
            4 => {
                return session
                    .out
                    .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            }
            _ => return session.out.error(crate::errors::SYNTAX),
        };
        let id = id as u64;
        let done = session
            .call_all(move |state: &mut ShardState| unblock(state, id, error))
            .await;
        session.out.int(done.iter().any(|&d| d) as i64);
    })
}

fn bzpop(session: &mut Session, argv: crate::OwnedArgv, max: bool) -> crate::command::LocalFuture<'_> {
    Box::pin(async move {
        let args = argv.argv();
        let timeout = match parse_timeout(args.get(args.len() - 1)) {
            Ok(t) => t,
            Err(e) => return session.out.error(e),
        };
        let keys: Vec<Vec<u8>> = (1..args.len() - 1).map(|i| args.get(i).to_vec()).collect();
        pop_or_block(session, keys, WaitOp::ZPop { max, count: None }, timeout).await;
    })
}

pub fn bzpopmin(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    bzpop(session, argv, false)
}

pub fn bzpopmax(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    bzpop(session, argv, true)
}

pub fn bzmpop(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    Box::pin(async move {
        let args = argv.argv();
        let parsed = match crate::families::typed::parse_mpop(&args, 2, crate::families::zset::parse_side) {
            Ok(parsed) => parsed,
            Err(e) => return session.out.error(e),
        };
        let timeout = match parse_timeout(args.get(1)) {
            Ok(t) => t,
            Err(e) => return session.out.error(e),
        };
        let keys: Vec<Vec<u8>> = parsed.keys.iter().map(|k| k.to_vec()).collect();
        let op = WaitOp::ZPop {
            max: parsed.side,
            count: Some(parsed.count),
        };
        pop_or_block(session, keys, op, timeout).await;
    })
}
