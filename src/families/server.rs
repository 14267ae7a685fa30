//! Server commands (COMMAND, INFO, SHUTDOWN), the per-shard cron (active
//! expiry), and signal handling.

use crate::command::{self, asynchronous, conn, container_with_bare, CommandDef, CommandSpec, LocalFuture};
use crate::errors;
use crate::resp::Argv;
use crate::session::Session;
use crate::shard::ShardState;
use crate::OwnedArgv;
use cores::Shard;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub static COMMANDS: &[CommandDef] = &[
    container_with_bare("command", command_bare),
    conn("command|count", command_count),
    conn("command|info", command_info),
    conn("command|docs", command_docs),
    conn("command|list", command_list),
    conn("command|getkeys", command_getkeys),
    conn("command|getkeysandflags", command_getkeysandflags),
    conn("command|help", command_help),
    asynchronous("info", info),
    conn("shutdown", shutdown_command),
];

/// Top-level commands, sorted by name for stable output.
fn top_level() -> Vec<&'static CommandSpec> {
    let mut specs: Vec<&'static CommandSpec> = command::registry().commands.values().copied().collect();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    specs
}

fn command_bare(session: &mut Session, _argv: &Argv) {
    command_all(session);
}

/// Every command's COMMAND INFO entry.
pub fn command_all(session: &mut Session) {
    let specs = top_level();
    session.out.array(specs.len());
    for spec in specs {
        spec.info.write(&mut session.out);
    }
}

fn command_count(session: &mut Session, _argv: &Argv) {
    session.out.int(command::registry().commands.len() as i64);
}

fn find_any(name: &[u8]) -> Option<&'static CommandSpec> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    if let Some((container, sub)) = lower.split_once('|') {
        return command::registry()
            .commands
            .get(container)?
            .subcommands
            .get(sub)
            .copied();
    }
    command::registry().commands.get(&lower).copied()
}

fn command_info(session: &mut Session, argv: &Argv) {
    if argv.len() == 2 {
        return command_all(session);
    }
    session.out.array(argv.len() - 2);
    for name in argv.iter().skip(2) {
        match find_any(name) {
            Some(spec) => spec.info.write(&mut session.out),
            None => session.out.null_array(),
        }
    }
}

fn command_docs(session: &mut Session, argv: &Argv) {
    let specs: Vec<&'static CommandSpec> = if argv.len() == 2 {
        top_level()
    } else {
        argv.iter().skip(2).filter_map(find_any).collect()
    };
    session.out.map(specs.len());
    for spec in specs {
        session.out.bulk(spec.name.as_bytes());
        match &spec.docs {
            Some(docs) => docs.write(&mut session.out),
            None => session.out.map(0),
        }
    }
}

fn command_list(session: &mut Session, argv: &Argv) {
    let mut names: Vec<String> = Vec::new();
    let filter = if argv.len() == 5 && argv.get(2).eq_ignore_ascii_case(b"filterby") {
        Some((argv.get(3).to_ascii_lowercase(), argv.get(4).to_vec()))
    } else if argv.len() == 2 {
        None
    } else {
        return session.out.error(errors::SYNTAX);
    };
    for spec in command::registry().all.iter() {
        let keep = match &filter {
            None => true,
            Some((kind, value)) => match kind.as_slice() {
                b"module" => false,
                b"aclcat" => spec
                    .acl_categories
                    .iter()
                    .any(|c| c.as_bytes().eq_ignore_ascii_case(value)),
                b"pattern" => crate::glob::matches(value, spec.name.as_bytes(), true),
                _ => return session.out.error(errors::SYNTAX),
            },
        };
        if keep {
            names.push(spec.name.clone());
        }
    }
    session.out.array(names.len());
    for name in names {
        session.out.bulk(name.as_bytes());
    }
}

fn getkeys_target(session: &mut Session, argv: &Argv) -> Option<(&'static CommandSpec, Vec<usize>, OwnedArgv)> {
    let inner = OwnedArgv::from_parts(argv.iter().skip(2));
    let inner_argv = inner.argv();
    let Some(spec) = command::lookup(inner_argv.get(0)).and_then(|s| command::resolve(s, &inner_argv).ok()) else {
        session.out.error("ERR Invalid command specified");
        return None;
    };
    if !spec.arity_ok(inner_argv.len()) {
        session
            .out
            .error("ERR Invalid number of arguments specified for command");
        return None;
    }
    let mut keys = Vec::new();
    let ok = spec.for_each_key(&inner_argv, |i| keys.push(i));
    if !ok || keys.is_empty() {
        session.out.error("ERR The command has no key arguments");
        return None;
    }
    Some((spec, keys, inner.clone()))
}

fn command_getkeys(session: &mut Session, argv: &Argv) {
    let Some((_, keys, inner)) = getkeys_target(session, argv) else {
        return;
    };
    session.out.array(keys.len());
    for k in keys {
        session.out.bulk(inner.argv().get(k));
    }
}

fn command_getkeysandflags(session: &mut Session, argv: &Argv) {
    let Some((spec, _, inner)) = getkeys_target(session, argv) else {
        return;
    };
    let inner_argv = inner.argv();
    // Flags come from each key spec in the published metadata.
    let spec_flags: Vec<Vec<String>> = spec
        .info
        .as_array()
        .and_then(|a| a.get(8))
        .and_then(|k| k.as_array())
        .map_or(Vec::new(), |specs| {
            specs
                .iter()
                .map(|s| {
                    s.map_get("flags").and_then(|f| f.as_array()).map_or(Vec::new(), |f| {
                        f.iter().filter_map(|x| x.as_str().map(String::from)).collect()
                    })
                })
                .collect()
        });
    let mut pairs: Vec<(usize, &Vec<String>)> = Vec::new();
    for (i, key_spec) in spec.key_specs.iter().enumerate() {
        key_spec.for_each(&inner_argv, &mut |k| pairs.push((k, &spec_flags[i])));
    }
    session.out.array(pairs.len());
    for (k, flags) in pairs {
        session.out.array(2);
        session.out.bulk(inner_argv.get(k));
        session.out.set(flags.len());
        for flag in flags {
            session.out.simple(flag);
        }
    }
}

fn command_help(session: &mut Session, _argv: &Argv) {
    let lines = [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        "HELP",
        "    Print this help.",
    ];
    session.out.array(lines.len());
    for line in lines {
        session.out.simple(line);
    }
}

fn info(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let counts = session
            .call_all(|state: &mut ShardState| {
                state
                    .dbs
                    .iter()
                    .map(|db| (db.len(), db.expires_len()))
                    .collect::<Vec<_>>()
            })
            .await;
        let (port, shards, hz) = {
            let state = session.shard.state();
            (state.config.settings.port, state.shards, state.config.settings.hz)
        };
        let mut text = String::new();
        text.push_str("# Server\r\n");
        text.push_str("redis_version:7.0.15\r\n");
        text.push_str(&format!("tessera_version:{}\r\n", env!("CARGO_PKG_VERSION")));
        text.push_str("redis_mode:standalone\r\n");
        text.push_str(&format!("process_id:{}\r\n", std::process::id()));
        text.push_str(&format!("tcp_port:{port}\r\n"));
        text.push_str(&format!("hz:{hz}\r\n"));
        text.push_str(&format!("shards:{shards}\r\n"));
        text.push_str("\r\n# Keyspace\r\n");
        let databases = counts.first().map_or(0, |c| c.len());
        for db in 0..databases {
            let keys: usize = counts.iter().map(|c| c[db].0).sum();
            let expires: usize = counts.iter().map(|c| c[db].1).sum();
            if keys > 0 {
                text.push_str(&format!("db{db}:keys={keys},expires={expires},avg_ttl=0\r\n"));
            }
        }
        session.out.verbatim(text.as_bytes(), "txt");
    })
}

fn shutdown_command(session: &mut Session, _argv: &Argv) {
    let _ = session;
    shutdown("User requested shutdown...");
}

/// Logs Redis's shutdown lines and exits the process.
pub fn shutdown(reason: &str) -> ! {
    crate::warning!("{reason}");
    crate::notice!("Tessera is now ready to exit, bye bye...");
    std::process::exit(0);
}

/// Blocks SIGINT and SIGTERM in every thread and waits for them on a
/// dedicated thread, which shuts the server down. Call before starting any
/// other thread so they inherit the mask.
pub fn install_signal_handlers() {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls
    // only read and write that set and this thread's signal mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: `set` is a valid, initialised signal set; sigwait stores
        // the received signal number in `signal`.
        let result = unsafe { libc::sigwait(&set, &mut signal) };
        if result != 0 {
            continue;
        }
        let name = if signal == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
        crate::warning!("Received {name} scheduling shutdown...");
        shutdown("User requested shutdown...");
    });
}

/// Starts the shard's periodic work: active expiry at `hz`.
pub fn spawn_cron(shard: Rc<Shard<ShardState>>) {
    cores::spawn(async move {
        loop {
            let hz = shard.state().config.settings.hz.max(1);
            cores::sleep(Duration::from_millis(1000 / hz as u64)).await;
            if shard.lock_holder().is_some() {
                continue;
            }
            active_expire_cycle(&mut shard.state(), hz);
        }
    });
}

/// Keys sampled per database per loop, and the share of expired keys above
/// which the loop repeats (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP and
/// ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE).
const EXPIRE_KEYS_PER_LOOP: usize = 20;
const EXPIRE_ACCEPTABLE_STALE_PERCENT: usize = 10;
/// Share of each cron period the cycle may use (Redis's SLOW_TIME_PERC).
const EXPIRE_TIME_PERCENT: u64 = 25;

/// Redis's adaptive active expiry: sample keys with a TTL, delete the expired
/// ones, and repeat while more than 10% of the sample was expired, within a
/// time budget.
pub fn active_expire_cycle(state: &mut ShardState, hz: u32) {
    if !state.active_expire_enabled {
        return;
    }
    let start = Instant::now();
    let budget = Duration::from_micros(1_000_000 / hz as u64 * EXPIRE_TIME_PERCENT / 100);
    let now = crate::exec::now_ms();
    for db in state.dbs.iter_mut() {
        loop {
            let (sampled, expired) = db.active_expire_step(now, EXPIRE_KEYS_PER_LOOP);
            if sampled == 0 || expired * 100 <= sampled * EXPIRE_ACCEPTABLE_STALE_PERCENT {
                break;
            }
            if start.elapsed() > budget {
                return;
            }
        }
    }
}
