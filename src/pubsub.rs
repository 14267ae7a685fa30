//! Pub/Sub and MONITOR: messages that reach a connection without it asking.
//!
//! Subscriptions are server-wide, so they live in one registry shared by the
//! shards (a mutex: publishing and subscribing are not on the GET/SET path,
//! and a message must reach subscribers on every core). Each subscribed or
//! monitoring connection owns an `Inbox`: a publisher on any core appends
//! the encoded message and raises the connection's `cores::signal`, which
//! wakes the connection on its own core to write what is pending. One
//! publisher's messages reach a subscriber in the order published.
//!
//! A subscriber that does not read is disconnected once 32 MB wait for it
//! (Redis's default `client-output-buffer-limit pubsub 32mb`).

use crate::command::{asynchronous, conn, container, CommandDef, LocalFuture};
use crate::resp::{Argv, ReplyBuf};
use crate::session::Session;
use crate::OwnedArgv;
use cores::signal::{Raiser, Signal};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

/// Bytes that may wait for a subscriber before it is disconnected.
const PENDING_MAX: usize = 32 << 20;

pub static COMMANDS: &[CommandDef] = &[
    conn("subscribe", subscribe),
    conn("unsubscribe", unsubscribe),
    conn("psubscribe", psubscribe),
    conn("punsubscribe", punsubscribe),
    conn("publish", publish),
    container("pubsub"),
    conn("pubsub|channels", pubsub_channels),
    conn("pubsub|numsub", pubsub_numsub),
    conn("pubsub|numpat", pubsub_numpat),
    conn("pubsub|help", pubsub_help),
    asynchronous("monitor", monitor),
];

/// Where messages for one connection wait until its core writes them.
pub struct Inbox {
    pending: Mutex<Pending>,
    raiser: Raiser,
    /// The connection speaks RESP3: messages are push replies.
    resp3: AtomicBool,
    /// The connection is subscribed to some channel or pattern (RESP2
    /// tracking redirection reaches it only then).
    subscribed: AtomicBool,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// More than PENDING_MAX waited: the connection is closed.
    overflow: bool,
}

impl Inbox {
    /// Whether the connection speaks RESP3.
    pub fn resp3(&self) -> bool {
        self.resp3.load(Ordering::Relaxed)
    }

    /// Whether the connection is in Pub/Sub mode.
    pub fn subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    /// Appends what `encode` writes, unless the inbox already overflowed.
    pub fn push(&self, encode: impl FnOnce(&mut ReplyBuf)) {
        let mut out = ReplyBuf::new(self.resp3.load(Ordering::Relaxed));
        encode(&mut out);
        {
            let mut pending = self.pending.lock().expect("inbox lock");
            if pending.overflow {
                return;
            }
            pending.bytes.extend_from_slice(&out.bytes);
            if pending.bytes.len() > PENDING_MAX {
                pending.overflow = true;
                pending.bytes = Vec::new();
            }
        }
        self.raiser.raise();
    }
}

/// A connection's side of Pub/Sub and MONITOR (absent until it first
/// subscribes or monitors).
pub struct ClientPush {
    pub inbox: Arc<Inbox>,
    pub signal: Signal,
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    monitor: bool,
}

impl ClientPush {
    /// Subscriptions of both kinds (the count Redis's replies carry).
    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

#[derive(Default)]
struct Registry {
    channels: HashMap<Vec<u8>, Vec<(u64, Arc<Inbox>)>>,
    patterns: HashMap<Vec<u8>, Vec<(u64, Arc<Inbox>)>>,
    monitors: Vec<(u64, Arc<Inbox>)>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

/// Every open connection by id, with its inbox once it has one: CLIENT
/// TRACKING REDIRECT finds its target here.
static DIRECTORY: LazyLock<Mutex<HashMap<u64, Option<Arc<Inbox>>>>> = LazyLock::new(Default::default);

fn directory() -> std::sync::MutexGuard<'static, HashMap<u64, Option<Arc<Inbox>>>> {
    DIRECTORY.lock().expect("connection directory lock")
}

/// A connection opened.
pub fn connected(id: u64) {
    directory().insert(id, None);
}

/// A connection closed.
pub fn disconnected(id: u64) {
    directory().remove(&id);
}

/// The open connection `id`: None when there is none, Some(None) when it
/// has no inbox (it never subscribed, monitored, tracked or spoke RESP3).
pub fn lookup(id: u64) -> Option<Option<Arc<Inbox>>> {
    directory().get(&id).cloned()
}

/// Connections in MONITOR mode (read on every command: one relaxed load).
static MONITORS: AtomicUsize = AtomicUsize::new(0);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().expect("pubsub registry lock")
}

/// Whether any connection monitors.
pub fn monitors_active() -> bool {
    MONITORS.load(Ordering::Relaxed) > 0
}

/// The session's push state, created on first use.
fn push_state(session: &mut Session) -> Option<&mut ClientPush> {
    if session.push.is_none() {
        let (signal, raiser) = match Signal::new() {
            Ok(pair) => pair,
            Err(error) => {
                session
                    .out
                    .error(&format!("ERR cannot create the message signal: {error}"));
                return None;
            }
        };
        session.push = Some(Box::new(ClientPush {
            inbox: Arc::new(Inbox {
                pending: Mutex::new(Pending::default()),
                raiser,
                resp3: AtomicBool::new(session.out.resp3),
                subscribed: AtomicBool::new(false),
            }),
            signal,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            monitor: false,
        }));
        let inbox = session.push.as_ref().map(|push| push.inbox.clone());
        if let Some(entry) = directory().get_mut(&session.id) {
            *entry = inbox;
        }
    }
    session.push.as_deref_mut()
}

/// The session's inbox (created on first use), where tracking messages
/// for it are delivered.
pub fn inbox(session: &mut Session) -> Option<Arc<Inbox>> {
    push_state(session).map(|push| push.inbox.clone())
}

/// Whether the session is in Pub/Sub mode (RESP2 then allows only the
/// subscription commands, PING, QUIT and RESET).
pub fn subscribed(session: &Session) -> bool {
    session.push.as_ref().is_some_and(|p| p.count() > 0)
}

/// Moves what waits in the session's inbox to its output. False when the
/// inbox overflowed: the connection must close.
pub fn drain(session: &mut Session) -> bool {
    let Some(push) = session.push.as_ref() else {
        return true;
    };
    let mut pending = push.inbox.pending.lock().expect("inbox lock");
    if pending.overflow {
        return false;
    }
    if !pending.bytes.is_empty() {
        session.out.bytes.extend_from_slice(&pending.bytes);
        pending.bytes.clear();
        if pending.bytes.capacity() > 1 << 20 {
            pending.bytes.shrink_to(16 * 1024);
        }
    }
    true
}

/// HELLO changed the protocol: later messages use it. A RESP3 connection
/// gets an inbox at once, as any client may redirect its invalidation
/// pushes there.
pub fn protocol_changed(session: &mut Session) {
    if session.out.resp3 && session.push.is_none() {
        let (len, errors) = (session.out.bytes.len(), session.out.errors);
        if push_state(session).is_none() {
            // No descriptor for the signal: this connection then receives
            // no redirected pushes, and HELLO still answers normally.
            session.out.bytes.truncate(len);
            session.out.errors = errors;
        }
    }
    if let Some(push) = session.push.as_ref() {
        push.inbox.resp3.store(session.out.resp3, Ordering::Relaxed);
    }
}

fn update_info(session: &Session) {
    let Some(push) = session.push.as_ref() else {
        return;
    };
    {
        let mut info = session.info.borrow_mut();
        info.sub = push.channels.len();
        info.psub = push.patterns.len();
        push.inbox.subscribed.store(push.count() > 0, Ordering::Relaxed);
        set_flag(&mut info.flags, 'P', push.count() > 0);
        set_flag(&mut info.flags, 'O', push.monitor);
    }
    // Back in Redis's order.
    crate::families::client::sync_info(session);
}

fn set_flag(flags: &mut String, flag: char, on: bool) {
    let has = flags.contains(flag);
    if on && !has {
        flags.push(flag);
    } else if !on && has {
        flags.retain(|c| c != flag);
    }
}

/// A subscription confirmation: `[kind, name, count]` (push in RESP3).
fn confirmation(out: &mut ReplyBuf, kind: &str, name: Option<&[u8]>, count: usize) {
    if out.resp3 {
        out.push(3);
    } else {
        out.array(3);
    }
    out.bulk(kind.as_bytes());
    match name {
        Some(name) => out.bulk(name),
        None => out.null(),
    }
    out.int(count as i64);
}

fn subscribe(session: &mut Session, argv: &Argv) {
    subscribe_to(session, argv, false);
}

fn psubscribe(session: &mut Session, argv: &Argv) {
    subscribe_to(session, argv, true);
}

fn subscribe_to(session: &mut Session, argv: &Argv, patterns: bool) {
    let id = session.id;
    let Some(push) = push_state(session) else {
        return;
    };
    let inbox = push.inbox.clone();
    let mut replies = ReplyBuf::new(session.out.resp3);
    let kind = if patterns { "psubscribe" } else { "subscribe" };
    for name in argv.iter().skip(1) {
        let push = session.push.as_deref_mut().expect("push state");
        let mine = if patterns {
            &mut push.patterns
        } else {
            &mut push.channels
        };
        if mine.insert(name.to_vec()) {
            let mut reg = registry();
            let map = if patterns { &mut reg.patterns } else { &mut reg.channels };
            map.entry(name.to_vec()).or_default().push((id, inbox.clone()));
        }
        confirmation(&mut replies, kind, Some(name), push.count());
    }
    emit(session, replies);
    update_info(session);
}

/// Writes subscription confirmations. In RESP3 they are push messages,
/// which CLIENT REPLY OFF/SKIP does not silence: they go through the inbox.
fn emit(session: &mut Session, replies: ReplyBuf) {
    match session.push.as_ref() {
        Some(push) if replies.resp3 && session.reply_mode != crate::session::ReplyMode::On => {
            push.inbox.push(|out| out.raw(&replies.bytes));
        }
        _ => session.out.append(&replies),
    }
}

fn unsubscribe(session: &mut Session, argv: &Argv) {
    unsubscribe_from(session, argv, false);
}

fn punsubscribe(session: &mut Session, argv: &Argv) {
    unsubscribe_from(session, argv, true);
}

/// Removes one of `id`'s subscriptions from the registry.
fn unregister(reg: &mut Registry, patterns: bool, name: &[u8], id: u64) {
    let map = if patterns { &mut reg.patterns } else { &mut reg.channels };
    if let Some(subscribers) = map.get_mut(name) {
        subscribers.retain(|(client, _)| *client != id);
        if subscribers.is_empty() {
            map.remove(name);
        }
    }
}

fn unsubscribe_from(session: &mut Session, argv: &Argv, patterns: bool) {
    let kind = if patterns { "punsubscribe" } else { "unsubscribe" };
    let id = session.id;
    let resp3 = session.out.resp3;
    let mut replies = ReplyBuf::new(resp3);
    match session.push.as_deref_mut() {
        None => {
            if argv.len() == 1 {
                confirmation(&mut replies, kind, None, 0);
            } else {
                for name in argv.iter().skip(1) {
                    confirmation(&mut replies, kind, Some(name), 0);
                }
            }
        }
        Some(push) => {
            let names: Vec<Vec<u8>> = if argv.len() == 1 {
                let mine = if patterns { &push.patterns } else { &push.channels };
                mine.iter().cloned().collect()
            } else {
                argv.iter().skip(1).map(|n| n.to_vec()).collect()
            };
            if names.is_empty() {
                confirmation(&mut replies, kind, None, push.count());
            }
            for name in names {
                let mine = if patterns {
                    &mut push.patterns
                } else {
                    &mut push.channels
                };
                if mine.remove(&name) {
                    unregister(&mut registry(), patterns, &name, id);
                }
                confirmation(&mut replies, kind, Some(&name), push.count());
            }
        }
    }
    emit(session, replies);
    update_info(session);
}

/// Delivers `message` on `channel` to every subscriber; returns how many
/// received it (a client matching several patterns counts once per match).
pub fn publish_message(channel: &[u8], message: &[u8]) -> usize {
    let reg = registry();
    let mut receivers = 0;
    if let Some(subscribers) = reg.channels.get(channel) {
        for (_, inbox) in subscribers {
            inbox.push(|out| {
                if out.resp3 {
                    out.push(3);
                } else {
                    out.array(3);
                }
                out.bulk(b"message");
                out.bulk(channel);
                out.bulk(message);
            });
            receivers += 1;
        }
    }
    for (pattern, subscribers) in &reg.patterns {
        if !crate::glob::matches(pattern, channel, false) {
            continue;
        }
        for (_, inbox) in subscribers {
            inbox.push(|out| {
                if out.resp3 {
                    out.push(4);
                } else {
                    out.array(4);
                }
                out.bulk(b"pmessage");
                out.bulk(pattern);
                out.bulk(channel);
                out.bulk(message);
            });
            receivers += 1;
        }
    }
    receivers
}

fn publish(session: &mut Session, argv: &Argv) {
    let receivers = publish_message(argv.get(1), argv.get(2));
    // Replicas deliver it to their own subscribers (Redis propagates it).
    session.propagate_command(argv);
    // A RESP3 client subscribed to its own channel sees the message before
    // the reply, as Redis writes it.
    if !drain(session) {
        session.close_after_reply = true;
    }
    session.out.int(receivers as i64);
}

/// Redis's addReplySubcommandSyntaxError.
fn syntax_error(session: &mut Session, argv: &Argv) {
    session.out.error(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(&argv.get(1)[..argv.get(1).len().min(128)])
    ));
}

fn pubsub_channels(session: &mut Session, argv: &Argv) {
    if argv.len() > 3 {
        return syntax_error(session, argv);
    }
    let pattern = (argv.len() == 3).then(|| argv.get(2));
    let names: Vec<Vec<u8>> = registry()
        .channels
        .keys()
        .filter(|name| pattern.is_none_or(|p| crate::glob::matches(p, name, false)))
        .cloned()
        .collect();
    session.out.array(names.len());
    for name in names {
        session.out.bulk(&name);
    }
}

fn pubsub_numsub(session: &mut Session, argv: &Argv) {
    let counts: Vec<(Vec<u8>, usize)> = {
        let reg = registry();
        argv.iter()
            .skip(2)
            .map(|name| (name.to_vec(), reg.channels.get(name).map_or(0, |s| s.len())))
            .collect()
    };
    session.out.array(counts.len() * 2);
    for (name, count) in counts {
        session.out.bulk(&name);
        session.out.int(count as i64);
    }
}

fn pubsub_numpat(session: &mut Session, argv: &Argv) {
    if argv.len() != 2 {
        return syntax_error(session, argv);
    }
    let count = registry().patterns.len();
    session.out.int(count as i64);
}

fn pubsub_help(session: &mut Session, _argv: &Argv) {
    const LINES: &[&str] = &[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    session.out.array(LINES.len());
    for line in LINES {
        session.out.simple(line);
    }
}

/// MONITOR: from now on the connection receives every command the server
/// runs (Redis leaves out administrative ones and its own replies).
fn monitor(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        if session.tx.is_some() {
            // Run by EXEC, which expects one reply per command.
            return session.out.error("ERR MONITOR isn't allowed for DENY BLOCKING client");
        }
        let id = session.id;
        let Some(push) = push_state(session) else {
            return;
        };
        if !push.monitor {
            push.monitor = true;
            registry().monitors.push((id, push.inbox.clone()));
            MONITORS.fetch_add(1, Ordering::Relaxed);
        }
        update_info(session);
        session.out.ok();
    })
}

/// After a command ran: shows it to the monitors, as Redis 7.0 does
/// (`+<unix time with microseconds> [<db> <client address>] "arg" ...`).
pub fn feed_monitors(session: &Session, argv: &Argv) {
    use std::fmt::Write;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}] ",
        now.as_secs(),
        now.subsec_micros(),
        session.db,
        session.info.borrow().addr
    );
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        let _ = write!(line, "{}", crate::config::repr(arg));
    }
    line.push_str("\r\n");
    let reg = registry();
    for (_, inbox) in &reg.monitors {
        inbox.push(|out| out.raw(line.as_bytes()));
    }
}

/// RESET or a closed connection: every subscription and MONITOR ends
/// (without replies).
pub fn leave(session: &mut Session) {
    let id = session.id;
    let Some(push) = session.push.as_deref_mut() else {
        return;
    };
    {
        let mut reg = registry();
        for name in std::mem::take(&mut push.channels) {
            unregister(&mut reg, false, &name, id);
        }
        for name in std::mem::take(&mut push.patterns) {
            unregister(&mut reg, true, &name, id);
        }
        if std::mem::take(&mut push.monitor) {
            reg.monitors.retain(|(client, _)| *client != id);
            MONITORS.fetch_sub(1, Ordering::Relaxed);
        }
    }
    update_info(session);
}
