//! Client-side caching: CLIENT TRACKING and its invalidation messages.
//!
//! A tracking client's reads are remembered on the shard owning each key,
//! in the same step as the read (a per-shard table: key -> client ids), so
//! no write on another core can slip between the read and the remembering.
//! A change to a key of a shard's own database (`Db::modified`, expiry
//! included) tells every client that read it, then forgets the key, as
//! Redis's tracking table. BCAST clients register prefixes instead
//! (server-wide); a shard collects the keys it changed under each prefix
//! and broadcasts them once the command, or the transaction holding the
//! shard's lock, ends (Redis broadcasts once per event loop).
//!
//! Messages travel through the receiving connection's inbox (see
//! `pubsub`): a RESP3 connection gets an `invalidate` push; a RESP2
//! redirection target in Pub/Sub mode gets a message on
//! `__redis__:invalidate`; a RESP2 client without redirection gets nothing
//! (RESP2 has no pushes). A message for the client running the command
//! lands after that command's reply, because the inbox is drained into
//! the output after the replies of the batch.

use crate::command::{conn, CommandDef};
use crate::errors;
use crate::pubsub::{self, Inbox};
use crate::resp::{Argv, ReplyBuf};
use crate::session::Session;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

pub static COMMANDS: &[CommandDef] = &[
    conn("client|tracking", client_tracking),
    conn("client|caching", client_caching),
    conn("client|getredir", client_getredir),
    conn("client|trackinginfo", client_trackinginfo),
];

/// The Pub/Sub channel RESP2 redirection targets receive messages on.
const CHANNEL: &[u8] = b"__redis__:invalidate";

/// A connection's tracking settings (CLIENT TRACKING and CLIENT CACHING).
#[derive(Default, Debug)]
pub struct ClientTracking {
    pub on: bool,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING yes (OPTIN) or no (OPTOUT) applies to the next
    /// command or transaction.
    pub caching: bool,
    /// Where invalidations go (0: to the client itself).
    pub redirect: u64,
    /// BCAST prefixes (the empty prefix matches every key).
    pub prefixes: BTreeSet<Vec<u8>>,
}

impl ClientTracking {
    /// Whether the keys of the next read-only command are remembered.
    pub fn remembers(&self) -> bool {
        // OPTIN remembers only after CACHING yes, OPTOUT not after CACHING no.
        let chosen = if self.optin {
            self.caching
        } else if self.optout {
            !self.caching
        } else {
            true
        };
        self.on && !self.bcast && chosen
    }
}

/// Who runs a keyed command, as the shard executing it needs to know.
#[derive(Clone, Copy, Default, Debug)]
pub struct Caller {
    /// The connection's id (0: no client, as for the expiry cycle).
    pub client: u64,
    /// Remember the keys of a read-only command for this client.
    pub remember: bool,
    /// Inside a transaction holding shard locks: broadcasts wait for its
    /// end, so one transaction makes one message per prefix.
    pub in_tx: bool,
}

impl Caller {
    pub fn of(session: &Session) -> Caller {
        Caller {
            client: session.id,
            remember: session.tracking.remembers(),
            in_tx: session.tx.is_some(),
        }
    }
}

/// What the shards know of one tracking client.
struct Tracker {
    redirect: u64,
    bcast: bool,
    noloop: bool,
    inbox: Arc<Inbox>,
    /// The redirection target was gone when a message was due.
    broken: bool,
}

#[derive(Default)]
struct Registry {
    trackers: HashMap<u64, Tracker>,
    /// BCAST prefixes and the clients registered for each.
    prefixes: BTreeMap<Vec<u8>, BTreeSet<u64>>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().expect("tracking registry lock")
}

/// Clients with tracking on (INFO tracking_clients).
static CLIENTS: AtomicUsize = AtomicUsize::new(0);
/// Distinct BCAST prefixes (INFO tracking_total_prefixes); shards skip
/// the prefix work while it is 0.
static PREFIXES: AtomicUsize = AtomicUsize::new(0);
/// Keys in every shard's table, and client ids across them (INFO
/// tracking_total_keys, tracking_total_items).
static TOTAL_KEYS: AtomicU64 = AtomicU64::new(0);
static TOTAL_ITEMS: AtomicU64 = AtomicU64::new(0);
/// tracking-table-max-keys (0: no limit).
static MAX_KEYS: AtomicU64 = AtomicU64::new(1_000_000);

/// Keys changed under one prefix, each with the client that changed it last.
type Changed = BTreeMap<Vec<u8>, u64>;

thread_local! {
    /// The command running on this shard, if any.
    static CALLER: Cell<Caller> = Cell::new(Caller::default());
    /// This shard's keys read by tracking clients, and who read them.
    static TABLE: RefCell<HashMap<Vec<u8>, Vec<u64>>> = RefCell::new(HashMap::new());
    static TABLE_LEN: Cell<usize> = const { Cell::new(0) };
    /// Keys changed under each BCAST prefix since the last broadcast, with
    /// the client that changed each last (0: none, as expiry).
    static PENDING: RefCell<BTreeMap<Vec<u8>, Changed>> = const { RefCell::new(BTreeMap::new()) };
}

/// CONFIG SET tracking-table-max-keys.
pub fn set_max_keys(max: u64) {
    MAX_KEYS.store(max, Ordering::Relaxed);
}

/// The INFO figures: clients, keys, items, prefixes.
pub fn report() -> (usize, u64, u64, usize) {
    (
        CLIENTS.load(Ordering::Relaxed),
        TOTAL_KEYS.load(Ordering::Relaxed),
        TOTAL_ITEMS.load(Ordering::Relaxed),
        PREFIXES.load(Ordering::Relaxed),
    )
}

/// Whether client `id` tracks with a redirection that is gone (CLIENT LIST
/// flag R).
pub fn redirect_broken(id: u64) -> bool {
    registry().trackers.get(&id).is_some_and(|t| t.broken)
}

/// A keyed command starts on this shard.
pub fn enter(caller: Caller) {
    CALLER.set(caller);
}

/// No client's command runs on this shard now (blocked clients are served
/// next: their changes are not the caller's).
pub fn exit() {
    CALLER.set(Caller::default());
}

/// The keyed command on this shard ended (after `exit`): outside a
/// transaction, what it changed under BCAST prefixes is broadcast now.
pub fn ended(caller: Caller) {
    if !caller.in_tx {
        broadcast();
    }
}

/// Whether any BCAST prefix is registered (transactions then broadcast
/// each locked shard's changes when they end).
pub fn broadcasting() -> bool {
    PREFIXES.load(Ordering::Relaxed) > 0
}

/// Remembers that `client` read `keys` (all owned by this shard).
pub fn remember<'a>(keys: impl Iterator<Item = &'a [u8]>, client: u64) {
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        for key in keys {
            if let Some(ids) = table.get_mut(key) {
                if !ids.contains(&client) {
                    ids.push(client);
                    TOTAL_ITEMS.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            table.insert(key.to_vec(), vec![client]);
            TABLE_LEN.set(TABLE_LEN.get() + 1);
            TOTAL_KEYS.fetch_add(1, Ordering::Relaxed);
            TOTAL_ITEMS.fetch_add(1, Ordering::Relaxed);
        }
    });
    enforce_limit();
}

/// `key` of this shard's own database changed; `by_caller` is false for
/// expiry (which no client caused, for NOLOOP in BCAST mode).
pub fn key_modified(key: &[u8], by_caller: bool) {
    let current = CALLER.get().client;
    if broadcasting() {
        let modifier = if by_caller { current } else { 0 };
        let reg = registry();
        PENDING.with(|pending| {
            let mut pending = pending.borrow_mut();
            for prefix in reg.prefixes.keys().filter(|p| key.starts_with(p)) {
                pending
                    .entry(prefix.clone())
                    .or_default()
                    .insert(key.to_vec(), modifier);
            }
        });
    }
    if TABLE_LEN.get() == 0 {
        return;
    }
    let Some(ids) = TABLE.with(|table| table.borrow_mut().remove(key)) else {
        return;
    };
    TABLE_LEN.set(TABLE_LEN.get() - 1);
    TOTAL_KEYS.fetch_sub(1, Ordering::Relaxed);
    invalidate(key, ids, current);
}

/// Tells the clients in `ids` that `key` changed, except a NOLOOP client
/// that changed it itself (`current`) and clients now in BCAST mode.
fn invalidate(key: &[u8], ids: Vec<u64>, current: u64) {
    TOTAL_ITEMS.fetch_sub(ids.len() as u64, Ordering::Relaxed);
    let mut reg = registry();
    for id in ids {
        let Some(tracker) = reg.trackers.get_mut(&id) else {
            continue;
        };
        if tracker.bcast || (tracker.noloop && id == current) {
            continue;
        }
        send(tracker, Payload::Key(key));
    }
}

/// Whether the tracking table holds more keys than tracking-table-max-keys.
pub fn over_limit() -> bool {
    let max = MAX_KEYS.load(Ordering::Relaxed);
    max > 0 && TOTAL_KEYS.load(Ordering::Relaxed) > max
}

/// Past tracking-table-max-keys, forgets keys of this shard (telling their
/// readers) until the total is back at the limit. Each eviction first
/// takes one off the global count, so shards evicting at once never go
/// below the limit together.
pub fn enforce_limit() {
    let max = MAX_KEYS.load(Ordering::Relaxed);
    if max == 0 || TABLE_LEN.get() == 0 || TOTAL_KEYS.load(Ordering::Relaxed) <= max {
        return;
    }
    loop {
        let reserved = TOTAL_KEYS.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n > max).then(|| n - 1));
        if reserved.is_err() {
            return;
        }
        let evicted = TABLE.with(|table| {
            let mut table = table.borrow_mut();
            let key = table.keys().next().cloned()?;
            let ids = table.remove(&key)?;
            Some((key, ids))
        });
        let Some((key, ids)) = evicted else {
            TOTAL_KEYS.fetch_add(1, Ordering::Relaxed);
            return;
        };
        TABLE_LEN.set(TABLE_LEN.get() - 1);
        invalidate(&key, ids, 0);
    }
}

/// Sends what changed under BCAST prefixes on this shard since the last
/// broadcast: one message per prefix and client, without the keys a
/// NOLOOP client changed itself.
pub fn broadcast() {
    // Keys left pending when the last prefix went away reach only clients
    // that register that prefix again: an extra invalidation, never a
    // missing one.
    if !broadcasting() {
        return;
    }
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if pending.is_empty() {
        return;
    }
    let mut reg = registry();
    for (prefix, keys) in pending {
        let Some(clients) = reg.prefixes.get(&prefix).cloned() else {
            continue;
        };
        let everyone = encode_keys(keys.keys().map(Vec::as_slice));
        for id in clients {
            let Some(tracker) = reg.trackers.get_mut(&id) else {
                continue;
            };
            if tracker.noloop {
                let others: Vec<&[u8]> = keys
                    .iter()
                    .filter(|(_, &by)| by != id)
                    .map(|(key, _)| key.as_slice())
                    .collect();
                if !others.is_empty() {
                    send(tracker, Payload::Encoded(&encode_keys(others.into_iter())));
                }
            } else {
                send(tracker, Payload::Encoded(&everyone));
            }
        }
    }
}

/// FLUSHALL, FLUSHDB, SWAPDB: every tracking client is told to drop its
/// whole cache (an invalidation carrying null).
pub fn flushed() {
    if CLIENTS.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut reg = registry();
    for tracker in reg.trackers.values_mut() {
        send(tracker, Payload::Null);
    }
}

/// Forgets this shard's table (after a flush).
pub fn clear_table() {
    let table = TABLE.with(|table| std::mem::take(&mut *table.borrow_mut()));
    TABLE_LEN.set(0);
    let items: usize = table.values().map(Vec::len).sum();
    TOTAL_KEYS.fetch_sub(table.len() as u64, Ordering::Relaxed);
    TOTAL_ITEMS.fetch_sub(items as u64, Ordering::Relaxed);
}

/// The value part of an invalidation.
enum Payload<'a> {
    Key(&'a [u8]),
    /// An array of keys, already encoded.
    Encoded(&'a [u8]),
    /// A flush: null in the tracking client's protocol.
    Null,
}

fn encode_keys<'a>(keys: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = ReplyBuf::new(false);
    out.array(keys.len());
    for key in keys {
        out.bulk(key);
    }
    out.bytes
}

/// Delivers one invalidation for `tracker`, as Redis's sendTrackingMessage.
fn send(tracker: &mut Tracker, payload: Payload) {
    let null: &[u8] = if tracker.inbox.resp3() { b"_\r\n" } else { b"$-1\r\n" };
    let (inbox, redirected) = if tracker.redirect != 0 {
        match pubsub::lookup(tracker.redirect) {
            None => {
                tracker.broken = true;
                if tracker.inbox.resp3() {
                    let redirect = tracker.redirect as i64;
                    tracker.inbox.push(|out| {
                        out.push(2);
                        out.bulk(b"tracking-redir-broken");
                        out.int(redirect);
                    });
                }
                return;
            }
            // A connection without an inbox speaks RESP2 and is not
            // subscribed: it cannot receive the message.
            Some(None) => return,
            Some(Some(inbox)) => (inbox, true),
        }
    } else {
        (tracker.inbox.clone(), false)
    };
    let resp3 = inbox.resp3();
    let reachable = resp3 || (redirected && inbox.subscribed());
    if !reachable {
        return;
    }
    inbox.push(|out| {
        if resp3 {
            out.push(2);
            out.bulk(b"invalidate");
        } else {
            out.array(3);
            out.bulk(b"message");
            out.bulk(CHANNEL);
        }
        match payload {
            Payload::Key(key) => {
                out.array(1);
                out.bulk(key);
            }
            Payload::Encoded(bytes) => out.bytes.extend_from_slice(bytes),
            Payload::Null => out.bytes.extend_from_slice(null),
        }
    });
}

/// Tracking ends for the session (CLIENT TRACKING off, RESET, close).
pub fn disable(session: &mut Session) {
    if !session.tracking.on {
        return;
    }
    let id = session.id;
    {
        let mut reg = registry();
        reg.trackers.remove(&id);
        for prefix in &session.tracking.prefixes {
            if let Some(clients) = reg.prefixes.get_mut(prefix) {
                clients.remove(&id);
                if clients.is_empty() {
                    reg.prefixes.remove(prefix);
                }
            }
        }
        PREFIXES.store(reg.prefixes.len(), Ordering::Relaxed);
    }
    session.tracking = ClientTracking::default();
    CLIENTS.fetch_sub(1, Ordering::Relaxed);
    session.info.borrow_mut().redir = -1;
    crate::families::client::sync_info(session);
}

/// The options of CLIENT TRACKING.
#[derive(Default)]
struct Options {
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    prefixes: Vec<Vec<u8>>,
}

/// CLIENT TRACKING on|off [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]
fn client_tracking(session: &mut Session, argv: &Argv) {
    let mut options = Options::default();
    let mut j = 3;
    while j < argv.len() {
        let arg = argv.get(j);
        let more = j + 1 < argv.len();
        if arg.eq_ignore_ascii_case(b"redirect") && more {
            j += 1;
            if options.redirect != 0 {
                return session
                    .out
                    .error("ERR A client can only redirect to a single other client");
            }
            let Some(id) = crate::resp::parse::parse_i64(argv.get(j)) else {
                return session.out.error(errors::NOT_INTEGER);
            };
            if id <= 0 || pubsub::lookup(id as u64).is_none() {
                return session
                    .out
                    .error("ERR The client ID you want redirect to does not exist");
            }
            options.redirect = id as u64;
        } else if arg.eq_ignore_ascii_case(b"bcast") {
            options.bcast = true;
        } else if arg.eq_ignore_ascii_case(b"optin") {
            options.optin = true;
        } else if arg.eq_ignore_ascii_case(b"optout") {
            options.optout = true;
        } else if arg.eq_ignore_ascii_case(b"noloop") {
            options.noloop = true;
        } else if arg.eq_ignore_ascii_case(b"prefix") && more {
            j += 1;
            options.prefixes.push(argv.get(j).to_vec());
        } else {
            return session.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    let mode = argv.get(2);
    if mode.eq_ignore_ascii_case(b"on") {
        if let Err(message) = check_options(&session.tracking, &options) {
            return session.out.error(&message);
        }
        enable(session, options);
    } else if mode.eq_ignore_ascii_case(b"off") {
        disable(session);
    } else {
        return session.out.error(errors::SYNTAX);
    }
    session.out.ok();
}

/// Redis's checks before enabling tracking, in its order.
fn check_options(current: &ClientTracking, options: &Options) -> Result<(), String> {
    if !options.bcast && !options.prefixes.is_empty() {
        return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
    }
    if current.on && current.bcast != options.bcast {
        return Err(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then \
                    re-enabling it with a different mode."
                .into(),
        );
    }
    if options.bcast && (options.optin || options.optout) {
        return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    if options.optin && options.optout {
        return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
    }
    if (options.optin && current.optout) || (options.optout && current.optin) {
        return Err(
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then \
                    re-enabling it with a different mode."
                .into(),
        );
    }
    if options.bcast {
        check_prefix_collisions(&current.prefixes, &options.prefixes)?;
    }
    Ok(())
}

/// Prefixes of one client must not overlap (one a prefix of the other).
fn check_prefix_collisions(existing: &BTreeSet<Vec<u8>>, new: &[Vec<u8>]) -> Result<(), String> {
    let overlap = |a: &[u8], b: &[u8]| a[..a.len().min(b.len())] == b[..a.len().min(b.len())];
    let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    for (i, prefix) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, prefix)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(prefix),
                text(old)
            ));
        }
        if let Some(other) = new[i + 1..].iter().find(|other| overlap(prefix, other)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not \
                 overlap.",
                text(prefix),
                text(other)
            ));
        }
    }
    Ok(())
}

fn enable(session: &mut Session, options: Options) {
    let Some(inbox) = pubsub::inbox(session) else {
        return;
    };
    let id = session.id;
    let tracking = &mut session.tracking;
    if !tracking.on {
        CLIENTS.fetch_add(1, Ordering::Relaxed);
    }
    tracking.on = true;
    tracking.bcast = options.bcast;
    tracking.optin = options.optin;
    tracking.optout = options.optout;
    tracking.noloop = options.noloop;
    tracking.redirect = options.redirect;
    let mut added = Vec::new();
    if options.bcast {
        if options.prefixes.is_empty() {
            added.push(Vec::new());
        }
        added.extend(options.prefixes);
        tracking.prefixes.extend(added.iter().cloned());
    }
    {
        let mut reg = registry();
        reg.trackers.insert(
            id,
            Tracker {
                redirect: options.redirect,
                bcast: options.bcast,
                noloop: options.noloop,
                inbox,
                broken: false,
            },
        );
        for prefix in added {
            reg.prefixes.entry(prefix).or_default().insert(id);
        }
        PREFIXES.store(reg.prefixes.len(), Ordering::Relaxed);
    }
    session.info.borrow_mut().redir = options.redirect as i64;
    crate::families::client::sync_info(session);
}

/// CLIENT CACHING yes|no
fn client_caching(session: &mut Session, argv: &Argv) {
    let tracking = &mut session.tracking;
    if !tracking.on {
        return session.out.error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode \
             enabled",
        );
    }
    let option = argv.get(2);
    if option.eq_ignore_ascii_case(b"yes") {
        if !tracking.optin {
            return session
                .out
                .error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
        }
    } else if option.eq_ignore_ascii_case(b"no") {
        if !tracking.optout {
            return session
                .out
                .error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
        }
    } else {
        return session.out.error(errors::SYNTAX);
    }
    tracking.caching = true;
    session.out.ok();
}

/// A command other than CLIENT ran outside MULTI: CLIENT CACHING's choice
/// is spent.
pub fn command_done(session: &mut Session, name: &str) {
    if session.tracking.caching && session.multi.is_none() && !name.starts_with("client") {
        session.tracking.caching = false;
    }
}

/// CLIENT GETREDIR
fn client_getredir(session: &mut Session, _argv: &Argv) {
    let redirect = if session.tracking.on {
        session.tracking.redirect as i64
    } else {
        -1
    };
    session.out.int(redirect);
}

/// CLIENT TRACKINGINFO
fn client_trackinginfo(session: &mut Session, _argv: &Argv) {
    let tracking = &session.tracking;
    let broken = tracking.on && redirect_broken(session.id);
    let flags: Vec<&[u8]> = [
        (true, if tracking.on { &b"on"[..] } else { b"off" }),
        (tracking.bcast, b"bcast"),
        (tracking.optin, b"optin"),
        (tracking.optin && tracking.caching, b"caching-yes"),
        (tracking.optout, b"optout"),
        (tracking.optout && tracking.caching, b"caching-no"),
        (tracking.noloop, b"noloop"),
        (broken, b"broken_redirect"),
    ]
    .into_iter()
    .filter_map(|(set, flag)| set.then_some(flag))
    .collect();
    let redirect = if tracking.on { tracking.redirect as i64 } else { -1 };
    let prefixes: Vec<Vec<u8>> = tracking.prefixes.iter().cloned().collect();
    let out = &mut session.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for flag in flags {
        out.bulk(flag);
    }
    out.bulk(b"redirect");
    out.int(redirect);
    out.bulk(b"prefixes");
    out.array(prefixes.len());
    for prefix in &prefixes {
        out.bulk(prefix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembering_follows_optin_and_optout() {
        let mut t = ClientTracking::default();
        assert!(!t.remembers());
        t.on = true;
        assert!(t.remembers());
        t.optin = true;
        assert!(!t.remembers());
        t.caching = true;
        assert!(t.remembers());
        t.optin = false;
        t.optout = true;
        assert!(!t.remembers());
        t.caching = false;
        assert!(t.remembers());
        t.optout = false;
        t.bcast = true;
        assert!(!t.remembers());
    }

    #[test]
    fn prefix_collisions_name_both_prefixes() {
        let existing: BTreeSet<Vec<u8>> = [b"FOO".to_vec(), b"BAR".to_vec()].into_iter().collect();
        let err = check_prefix_collisions(&existing, &[b"FO".to_vec()]).unwrap_err();
        assert!(
            err.starts_with("ERR Prefix 'FO' overlaps with an existing prefix 'FOO'."),
            "{err}"
        );
        let err = check_prefix_collisions(&BTreeSet::new(), &[b"FOOBAR".to_vec(), b"FOO".to_vec()]).unwrap_err();
        assert!(
            err.starts_with("ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'."),
            "{err}"
        );
        assert!(check_prefix_collisions(&existing, &[b"BAZ".to_vec(), b"QUX".to_vec()]).is_ok());
    }

    #[test]
    fn table_counts_keys_and_items_and_forgets_on_change() {
        clear_table();
        let (_, keys_before, items_before, _) = report();
        remember([b"a".as_slice(), b"b".as_slice()].into_iter(), 7);
        remember([b"a".as_slice()].into_iter(), 8);
        remember([b"a".as_slice()].into_iter(), 8);
        let (_, keys, items, _) = report();
        assert_eq!((keys - keys_before, items - items_before), (2, 3));
        key_modified(b"a", true);
        let (_, keys, items, _) = report();
        assert_eq!((keys - keys_before, items - items_before), (1, 1));
        clear_table();
        let (_, keys, items, _) = report();
        assert_eq!((keys, items), (keys_before, items_before));
    }
}
