//! CLIENT subcommands: ID, SETNAME, GETNAME, LIST, INFO, KILL, PAUSE,
//! UNPAUSE, REPLY, NO-EVICT, HELP. Every shard keeps the clients it
//! accepted; LIST and KILL visit all shards. A killed client on another shard
//! gets its `killed` flag set and its socket shut down, so its pending read
//! returns and it closes.

use crate::command::{asynchronous, conn, container, CommandDef, CommandSpec, LocalFuture};
use crate::errors;
use crate::exec::now_ms;
use crate::resp::parse::parse_i64;
use crate::resp::Argv;
use crate::session::{ReplyMode, Session};
use crate::shard::{Pause, ShardState};
use crate::OwnedArgv;
use std::time::Duration;

pub static COMMANDS: &[CommandDef] = &[
    container("client"),
    conn("client|id", client_id),
    conn("client|setname", client_setname),
    conn("client|getname", client_getname),
    asynchronous("client|list", client_list),
    conn("client|info", client_info),
    asynchronous("client|kill", client_kill),
    asynchronous("client|unblock", crate::blocking::client_unblock),
    asynchronous("client|pause", client_pause),
    asynchronous("client|unpause", client_unpause),
    conn("client|reply", client_reply),
    conn("client|no-evict", client_no_evict),
    conn("client|help", client_help),
];

fn client_id(session: &mut Session, _argv: &Argv) {
    session.out.int(session.id as i64);
}

fn client_setname(session: &mut Session, argv: &Argv) {
    let name = argv.get(2);
    if !super::connection::valid_client_name(name) {
        return session.out.error(errors::CLIENT_NAME);
    }
    session.info.borrow_mut().name = name.to_vec();
    session.out.ok();
}

fn client_getname(session: &mut Session, _argv: &Argv) {
    let name = session.info.borrow().name.clone();
    if name.is_empty() {
        session.out.null();
    } else {
        session.out.bulk(&name);
    }
}

fn client_info(session: &mut Session, _argv: &Argv) {
    sync_info(session);
    let mut line = session.info.borrow().line(now_ms());
    line.push('\n');
    session.out.verbatim(line.as_bytes(), "txt");
}

/// Copies session state the CLIENT LIST line shows into the shared info.
/// Flags come in Redis's order; O and P (kept by Pub/Sub) and S and M (by
/// replication) are carried over.
pub fn sync_info(session: &Session) {
    let mut info = session.info.borrow_mut();
    info.db = session.db;
    info.resp = if session.out.resp3 { 3 } else { 2 };
    let has = |flag: char| info.flags.contains(flag);
    let flags: String = [
        ('O', has('O')),
        ('S', has('S')),
        ('M', has('M')),
        ('P', has('P')),
        ('x', session.multi.is_some()),
        ('t', session.tracking.on),
        ('B', session.tracking.bcast),
        ('e', session.no_evict),
    ]
    .into_iter()
    .filter_map(|(flag, on)| on.then_some(flag))
    .collect();
    info.flags = flags;
}

/// Client types (CLIENT LIST TYPE, CLIENT KILL TYPE).
fn client_type(name: &[u8]) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_slice() {
        b"normal" => Some("normal"),
        b"slave" | b"replica" => Some("replica"),
        b"pubsub" => Some("pubsub"),
        b"master" => Some("master"),
        _ => None,
    }
}

fn client_list(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let mut ids: Option<Vec<u64>> = None;
        let mut only_type: Option<&'static str> = None;
        if argv.len() == 4 && argv.get(2).eq_ignore_ascii_case(b"type") {
            match client_type(argv.get(3)) {
                Some(t) => only_type = Some(t),
                None => {
                    return session.out.error(&format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(argv.get(3))
                    ))
                }
            }
        } else if argv.len() > 3 && argv.get(2).eq_ignore_ascii_case(b"id") {
            let mut list = Vec::new();
            for arg in argv.iter().skip(3) {
                match parse_i64(arg) {
                    Some(id) => list.push(id as u64),
                    None => return session.out.error("ERR Invalid client ID"),
                }
            }
            ids = Some(list);
        } else if argv.len() != 2 {
            return session.out.error(errors::SYNTAX);
        }
        sync_info(session);
        let now = now_ms();
        let ids_for_shards = ids.clone();
        let lines: Vec<Vec<(u64, String)>> = session
            .call_all(move |state: &mut ShardState| {
                state
                    .clients
                    .iter()
                    .filter(|(id, info)| {
                        let info = info.borrow();
                        !info.killed
                            && ids_for_shards.as_ref().is_none_or(|ids| ids.contains(id))
                            && only_type.is_none_or(|t| t == info.client_type())
                    })
                    .map(|(id, info)| (*id, info.borrow().line(now)))
                    .collect()
            })
            .await;
        let mut all: Vec<(u64, String)> = lines.into_iter().flatten().collect();
        match &ids {
            // CLIENT LIST ID lists in the order the ids were given.
            Some(order) => all.sort_by_key(|(id, _)| order.iter().position(|o| o == id)),
            None => all.sort_by_key(|(id, _)| *id),
        }
        let mut text = String::new();
        for (_, line) in all {
            text.push_str(&line);
            text.push('\n');
        }
        session.out.verbatim(text.as_bytes(), "txt");
    })
}

/// What CLIENT KILL matches.
#[derive(Clone, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    only_type: Option<&'static str>,
    user: Option<String>,
    /// Skip this client id (SKIPME yes).
    skip: Option<u64>,
}

impl KillFilter {
    fn matches(&self, id: u64, info: &crate::client::ClientInfo) -> bool {
        !info.killed
            && self.addr.as_ref().is_none_or(|a| *a == info.addr)
            && self.laddr.as_ref().is_none_or(|a| *a == info.laddr)
            && self.only_type.is_none_or(|t| t == info.client_type())
            && self.id.is_none_or(|want| want == id)
            && self.user.as_ref().is_none_or(|u| u == "default")
            && self.skip != Some(id)
    }
}

fn client_kill(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let old_form = argv.len() == 3;
        let mut filter = KillFilter::default();
        if old_form {
            filter.addr = Some(String::from_utf8_lossy(argv.get(2)).into_owned());
        } else {
            let mut skipme = true;
            let mut i = 2;
            while i < argv.len() {
                let option = argv.get(i).to_ascii_lowercase();
                if i + 1 >= argv.len() {
                    return session.out.error(errors::SYNTAX);
                }
                let value = argv.get(i + 1);
                match option.as_slice() {
                    b"id" => match parse_i64(value).filter(|&v| v >= 1) {
                        Some(id) => filter.id = Some(id as u64),
                        None => return session.out.error(errors::CLIENT_ID_INVALID),
                    },
                    b"type" => match client_type(value) {
                        Some(t) => filter.only_type = Some(t),
                        None => {
                            return session
                                .out
                                .error(&format!("ERR Unknown client type '{}'", String::from_utf8_lossy(value)))
                        }
                    },
                    b"addr" => filter.addr = Some(String::from_utf8_lossy(value).into_owned()),
                    b"laddr" => filter.laddr = Some(String::from_utf8_lossy(value).into_owned()),
                    b"user" => {
                        if value != b"default" {
                            return session
                                .out
                                .error(&format!("ERR No such user '{}'", String::from_utf8_lossy(value)));
                        }
                        filter.user = Some("default".into());
                    }
                    b"skipme" => match value.to_ascii_lowercase().as_slice() {
                        b"yes" => skipme = true,
                        b"no" => skipme = false,
                        _ => return session.out.error(errors::SYNTAX),
                    },
                    _ => return session.out.error(errors::SYNTAX),
                }
                i += 2;
            }
            if skipme {
                filter.skip = Some(session.id);
            }
        }
        let me = session.id;
        let counts: Vec<(usize, bool)> = session
            .call_all(move |state: &mut ShardState| {
                let mut killed = 0;
                let mut killed_me = false;
                let mut unblock = Vec::new();
                for (&id, info) in state.clients.iter() {
                    let mut info = info.borrow_mut();
                    if !filter.matches(id, &info) {
                        continue;
                    }
                    killed += 1;
                    if id == me {
                        // Closed after its reply is written.
                        killed_me = true;
                        continue;
                    }
                    info.killed = true;
                    unblock.push(id);
                    // SAFETY: shutdown on a socket fd this shard owns; the
                    // connection task still holds the fd open, so the
                    // number cannot have been reused.
                    unsafe {
                        libc::shutdown(info.fd, libc::SHUT_RDWR);
                    }
                }
                // A killed client blocked in BLPOP & co. stops waiting (and
                // is never served).
                for id in unblock {
                    crate::blocking::unblock(state, id, false);
                }
                (killed, killed_me)
            })
            .await;
        let killed: usize = counts.iter().map(|c| c.0).sum();
        if counts.iter().any(|c| c.1) {
            session.close_after_reply = true;
        }
        if old_form {
            if killed == 0 {
                session.out.error(errors::NO_SUCH_CLIENT);
            } else {
                session.out.ok();
            }
        } else {
            session.out.int(killed as i64);
        }
    })
}

fn client_pause(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let mut all = true;
        if argv.len() == 4 {
            let mode = argv.get(3);
            if mode.eq_ignore_ascii_case(b"write") {
                all = false;
            } else if !mode.eq_ignore_ascii_case(b"all") {
                return session.out.error(errors::PAUSE_MODE);
            }
        } else if argv.len() != 3 {
            return session.out.error(errors::SYNTAX);
        }
        let Some(timeout_ms) = parse_i64(argv.get(2)) else {
            return session.out.error("ERR timeout is not an integer or out of range");
        };
        if timeout_ms < 0 {
            return session.out.error(errors::TIMEOUT_NEGATIVE);
        }
        let end_ms = now_ms().saturating_add(timeout_ms as u64);
        session
            .call_all(move |state: &mut ShardState| {
                // As Redis: a new pause never shortens one in force, and ALL
                // wins over WRITE.
                let pause = match state.pause {
                    Some(p) if p.end_ms > now_ms() => Pause {
                        end_ms: p.end_ms.max(end_ms),
                        all: p.all || all,
                    },
                    _ => Pause { end_ms, all },
                };
                state.pause = Some(pause);
            })
            .await;
        session.out.ok();
    })
}

fn client_unpause(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        session.call_all(|state: &mut ShardState| state.pause = None).await;
        session.out.ok();
    })
}

/// Commands that CLIENT PAUSE WRITE holds back: writes and those that may
/// replicate (EXEC of a queue with writes, scripts, PUBLISH).
fn pauses_on_write(session: &Session, spec: &CommandSpec) -> bool {
    if spec.is_write() {
        return true;
    }
    match spec.name.as_str() {
        "exec" => session
            .multi
            .as_ref()
            .is_some_and(|queue| queue.iter().any(|q| q.spec.is_write())),
        "eval" | "evalsha" | "fcall" | "publish" | "spublish" | "pfcount" => true,
        _ => false,
    }
}

/// Waits while a CLIENT PAUSE holds `spec` back for this client. Called by
/// the dispatcher before running or queueing a command.
pub async fn wait_if_paused(session: &Session, spec: &CommandSpec) {
    loop {
        let pause = session.shard.state().pause;
        let Some(pause) = pause else { return };
        let now = now_ms();
        if pause.end_ms <= now {
            session.shard.state().pause = None;
            return;
        }
        if !pause.all && !pauses_on_write(session, spec) {
            return;
        }
        let wait = (pause.end_ms - now).min(10);
        cores::sleep(Duration::from_millis(wait)).await;
    }
}

/// Whether a CLIENT PAUSE may be in force (a cheap check for the hot path).
pub fn pause_pending(session: &Session) -> bool {
    session.shard.state().pause.is_some()
}

fn client_reply(session: &mut Session, argv: &Argv) {
    let mode = argv.get(2).to_ascii_lowercase();
    match mode.as_slice() {
        b"on" => {
            session.reply_mode = ReplyMode::On;
            session.out.ok();
        }
        b"off" => session.reply_mode = ReplyMode::Off,
        b"skip" => {
            if session.reply_mode != ReplyMode::Off {
                session.reply_mode = ReplyMode::Skip;
            }
        }
        _ => session.out.error(errors::SYNTAX),
    }
}

fn client_no_evict(session: &mut Session, argv: &Argv) {
    match argv.get(2).to_ascii_lowercase().as_slice() {
        b"on" => session.no_evict = true,
        b"off" => session.no_evict = false,
        _ => return session.out.error(errors::SYNTAX),
    }
    session.out.ok();
}

fn client_help(session: &mut Session, _argv: &Argv) {
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "HELP",
        "    Prints this help.",
    ];
    session.out.array(lines.len());
    for line in lines {
        session.out.simple(line);
    }
}
