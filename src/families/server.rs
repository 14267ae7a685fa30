//! Server commands (COMMAND, INFO, SHUTDOWN), the per-shard cron (active
//! expiry), and signal handling.

use crate::command::{self, asynchronous, conn, container_with_bare, CommandDef, CommandSpec, LocalFuture};
use crate::errors;
use crate::resp::Argv;
use crate::session::Session;
use crate::shard::{CommandStats, ShardState};
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
    asynchronous("shutdown", shutdown_command),
    conn("time", time_command),
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
    // SORT's STORE key spec is "unknown" in Redis's table: Redis finds it
    // with a command-specific function, as here.
    let ok = if spec.name == "sort" {
        keys = crate::families::sort::key_indexes(&inner_argv);
        true
    } else {
        spec.for_each_key(&inner_argv, |i| keys.push(i))
    };
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

/// What one shard contributes to INFO.
struct ShardReport {
    commands: Vec<(usize, CommandStats)>,
    errors: Vec<(String, u64)>,
    total_error_replies: u64,
    total_commands_processed: u64,
    total_connections_received: u64,
    rejected_connections: u64,
    net_input_bytes: u64,
    net_output_bytes: u64,
    expire_cycle_cpu_milliseconds: u64,
    connected_clients: usize,
    blocked_clients: usize,
    max_query_buffer: usize,
    max_output_buffer: usize,
    /// Per database: keys, keys with a TTL, sum of remaining TTLs (ms).
    dbs: Vec<(usize, usize, u128)>,
    hits: u64,
    misses: u64,
    expired: u64,
    dirty: u64,
    wal_bytes: u64,
    migrate_sockets: u64,
}

fn shard_report(state: &mut ShardState) -> ShardReport {
    let now = crate::exec::now_ms();
    let stats = &state.stats;
    let mut report = ShardReport {
        commands: stats
            .commands
            .iter()
            .enumerate()
            .filter(|(_, c)| c.calls > 0 || c.rejected_calls > 0 || c.failed_calls > 0)
            .map(|(i, c)| (i, *c))
            .collect(),
        errors: stats.errors.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        total_error_replies: stats.total_error_replies,
        total_commands_processed: stats.total_commands_processed,
        total_connections_received: stats.total_connections_received,
        rejected_connections: stats.rejected_connections,
        net_input_bytes: stats.net_input_bytes,
        net_output_bytes: stats.net_output_bytes,
        expire_cycle_cpu_milliseconds: stats.expire_cycle_cpu_milliseconds,
        connected_clients: state.clients.values().filter(|c| !c.borrow().killed).count(),
        blocked_clients: state.blocking.registered.len(),
        max_query_buffer: state
            .clients
            .values()
            .map(|c| c.borrow().query_buffer_bytes)
            .max()
            .unwrap_or(0),
        max_output_buffer: state
            .clients
            .values()
            .map(|c| c.borrow().output_bytes)
            .max()
            .unwrap_or(0),
        dbs: Vec::with_capacity(state.dbs.len()),
        hits: 0,
        misses: 0,
        expired: 0,
        dirty: 0,
        wal_bytes: state.wal.as_ref().map_or(0, |w| w.written_bytes),
        migrate_sockets: super::migrate::cached_sockets() as u64,
    };
    for db in &state.dbs {
        let ttl_sum: u128 = db.expires.iter().map(|e| e.at_ms.saturating_sub(now) as u128).sum();
        report.dbs.push((db.len(), db.expires_len(), ttl_sum));
        report.hits += db.stats.keyspace_hits;
        report.misses += db.stats.keyspace_misses;
        report.expired += db.stats.expired_keys;
        report.dirty += db.stats.dirty;
    }
    report
}

/// Process-wide facts INFO reports: start time and the random run id.
struct ProcessFacts {
    started: Instant,
    run_id: String,
}

fn process_facts() -> &'static ProcessFacts {
    static FACTS: std::sync::OnceLock<ProcessFacts> = std::sync::OnceLock::new();
    FACTS.get_or_init(|| {
        let hex = |seed: u64| {
            let mut rng = cores::seam::XorShift64::from_entropy(seed);
            (0..40)
                .map(|_| {
                    use cores::seam::Rng;
                    char::from_digit((rng.next_u64() % 16) as u32, 16).unwrap_or('0')
                })
                .collect::<String>()
        };
        ProcessFacts {
            started: Instant::now(),
            run_id: hex(1),
        }
    })
}

/// Records the start time; call once when the server starts.
pub fn mark_started() {
    let _ = process_facts();
    let _ = crate::memory::used_bytes();
}

fn rusage(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1_000_000.0;
    (secs(usage.ru_stime), secs(usage.ru_utime))
}

fn uname() -> String {
    // SAFETY: uname fills the zeroed struct we own with NUL-terminated fields.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        let field = |f: &[libc::c_char]| std::ffi::CStr::from_ptr(f.as_ptr()).to_string_lossy().into_owned();
        format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
    }
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// The sections INFO's arguments select, in output order.
fn selected_sections(args: &[Vec<u8>]) -> Vec<&'static str> {
    let mut wanted: Vec<&'static str> = Vec::new();
    if args.is_empty() {
        wanted.extend(DEFAULT_SECTIONS);
    }
    for arg in args {
        let arg = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match arg.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => wanted.extend(ALL_SECTIONS),
            other => {
                if let Some(name) = ALL_SECTIONS.iter().find(|s| **s == other) {
                    wanted.push(name);
                }
            }
        }
    }
    ALL_SECTIONS.iter().copied().filter(|s| wanted.contains(s)).collect()
}

fn info(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let args: Vec<Vec<u8>> = argv.argv().iter().skip(1).map(|a| a.to_vec()).collect();
        let sections = selected_sections(&args);
        let reports = session.call_all(shard_report).await;
        let text = {
            let state = session.shard.state();
            render_info(&state, &sections, &reports)
        };
        session.out.verbatim(text.as_bytes(), "txt");
    })
}

fn render_info(state: &ShardState, sections: &[&str], reports: &[ShardReport]) -> String {
    use std::fmt::Write;
    let settings = &state.config.settings;
    let facts = process_facts();
    let now_ms = crate::exec::now_ms();
    let sum = |f: fn(&ShardReport) -> u64| reports.iter().map(f).sum::<u64>();
    let mut t = String::new();
    for (n, section) in sections.iter().enumerate() {
        if n > 0 {
            t.push_str("\r\n");
        }
        macro_rules! line {
            ($($arg:tt)*) => {{ let _ = write!(t, $($arg)*); t.push_str("\r\n"); }};
        }
        match *section {
            "server" => {
                let uptime = facts.started.elapsed().as_secs();
                line!("# Server");
                line!("redis_version:7.0.15");
                line!("redis_git_sha1:00000000");
                line!("redis_git_dirty:0");
                line!("redis_build_id:0");
                line!("redis_mode:standalone");
                line!("os:{}", uname());
                line!("arch_bits:64");
                line!("monotonic_clock:POSIX clock_gettime");
                line!("multiplexing_api:io_uring");
                line!("atomicvar_api:c11-builtin");
                line!("gcc_version:0.0.0");
                line!("process_id:{}", std::process::id());
                line!("process_supervised:no");
                line!("run_id:{}", facts.run_id);
                line!("tcp_port:{}", settings.port);
                line!("server_time_usec:{}", now_ms * 1000);
                line!("uptime_in_seconds:{uptime}");
                line!("uptime_in_days:{}", uptime / 86400);
                line!("hz:{}", settings.hz);
                line!("configured_hz:{}", settings.hz);
                line!("lru_clock:{}", (now_ms / 1000) & ((1 << 24) - 1));
                line!(
                    "executable:{}",
                    std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
                line!("config_file:{}", state.config.file.clone().unwrap_or_default());
                line!("io_threads_active:0");
                line!("tessera_version:{}", env!("CARGO_PKG_VERSION"));
                line!("shards:{}", state.shards);
            }
            "clients" => {
                line!("# Clients");
                line!(
                    "connected_clients:{}",
                    reports.iter().map(|r| r.connected_clients).sum::<usize>()
                );
                line!("cluster_connections:0");
                line!("maxclients:{}", settings.maxclients);
                line!(
                    "client_recent_max_input_buffer:{}",
                    reports.iter().map(|r| r.max_query_buffer).max().unwrap_or(0)
                );
                line!(
                    "client_recent_max_output_buffer:{}",
                    reports.iter().map(|r| r.max_output_buffer).max().unwrap_or(0)
                );
                line!(
                    "blocked_clients:{}",
                    reports.iter().map(|r| r.blocked_clients).sum::<usize>()
                );
                line!("tracking_clients:{}", crate::tracking::report().0);
                line!("clients_in_timeout_table:0");
            }
            "memory" => {
                let used = crate::memory::used_bytes();
                let peak = crate::memory::peak_bytes().max(used);
                let rss = crate::memory::rss_bytes();
                let total = crate::memory::total_system_bytes();
                let human = crate::memory::human;
                line!("# Memory");
                line!("used_memory:{used}");
                line!("used_memory_human:{}", human(used));
                line!("used_memory_rss:{rss}");
                line!("used_memory_rss_human:{}", human(rss));
                line!("used_memory_peak:{peak}");
                line!("used_memory_peak_human:{}", human(peak));
                line!("used_memory_peak_perc:{:.2}%", used as f64 * 100.0 / peak.max(1) as f64);
                line!("total_system_memory:{total}");
                line!("total_system_memory_human:{}", human(total));
                line!("maxmemory:{}", settings.maxmemory);
                line!("maxmemory_human:{}", human(settings.maxmemory));
                line!("maxmemory_policy:{}", settings.maxmemory_policy);
                line!("mem_fragmentation_ratio:{:.2}", rss as f64 / used.max(1) as f64);
                line!("mem_fragmentation_bytes:{}", rss as i64 - used as i64);
                line!("mem_allocator:{}", crate::memory::allocator_name());
                line!("active_defrag_running:0");
                line!("lazyfree_pending_objects:0");
                line!("lazyfreed_objects:0");
            }
            "persistence" => {
                line!("# Persistence");
                line!("loading:0");
                line!("async_loading:0");
                line!("rdb_changes_since_last_save:{}", sum(|r| r.dirty));
                let saves = crate::persist::facts();
                line!("rdb_bgsave_in_progress:{}", saves.bgsave_in_progress as u8);
                line!("rdb_last_save_time:{}", saves.last_save_unix_s);
                line!(
                    "rdb_last_bgsave_status:{}",
                    if saves.last_bgsave_ok { "ok" } else { "err" }
                );
                line!("rdb_last_bgsave_time_sec:{}", saves.last_bgsave_time_s);
                let current = if saves.bgsave_in_progress {
                    (crate::exec::now_ms().saturating_sub(saves.bgsave_started_ms) / 1000) as i64
                } else {
                    -1
                };
                line!("rdb_current_bgsave_time_sec:{current}");
                line!("rdb_saves:{}", saves.saves);
                let aof_on = state.config.get("appendonly") == Some("yes");
                let write_error = crate::persist::wal::write_error();
                line!("aof_enabled:{}", aof_on as u8);
                line!("aof_rewrite_in_progress:{}", saves.bgsave_in_progress as u8);
                line!("aof_rewrite_scheduled:0");
                line!("aof_last_rewrite_time_sec:{}", saves.last_bgsave_time_s);
                line!("aof_current_rewrite_time_sec:{current}");
                line!(
                    "aof_last_bgrewrite_status:{}",
                    if saves.last_bgsave_ok { "ok" } else { "err" }
                );
                line!("aof_rewrites:{}", saves.rewrites);
                line!(
                    "aof_last_write_status:{}",
                    if write_error.is_some() { "err" } else { "ok" }
                );
                line!("aof_last_cow_size:0");
                line!("module_fork_in_progress:0");
                line!("module_fork_last_cow_size:0");
                if aof_on {
                    line!("aof_current_size:{}", sum(|r| r.wal_bytes));
                    line!("aof_base_size:0");
                    line!("aof_pending_rewrite:0");
                    line!("aof_buffer_length:0");
                    line!("aof_pending_bio_fsync:0");
                    line!("aof_delayed_fsync:0");
                }
            }
            "stats" => {
                line!("# Stats");
                line!("total_connections_received:{}", sum(|r| r.total_connections_received));
                line!("total_commands_processed:{}", sum(|r| r.total_commands_processed));
                line!("total_net_input_bytes:{}", sum(|r| r.net_input_bytes));
                line!("total_net_output_bytes:{}", sum(|r| r.net_output_bytes));
                line!("rejected_connections:{}", sum(|r| r.rejected_connections));
                line!("expired_keys:{}", sum(|r| r.expired));
                line!(
                    "expire_cycle_cpu_milliseconds:{}",
                    sum(|r| r.expire_cycle_cpu_milliseconds)
                );
                line!("evicted_keys:0");
                line!("evicted_clients:0");
                line!("keyspace_hits:{}", sum(|r| r.hits));
                line!("keyspace_misses:{}", sum(|r| r.misses));
                line!("total_forks:0");
                line!("migrate_cached_sockets:{}", sum(|r| r.migrate_sockets));
                let (_, keys, items, prefixes) = crate::tracking::report();
                line!("tracking_total_keys:{keys}");
                line!("tracking_total_items:{items}");
                line!("tracking_total_prefixes:{prefixes}");
                line!("unexpected_error_replies:0");
                line!("total_error_replies:{}", sum(|r| r.total_error_replies));
            }
            "replication" => {
                let repl = crate::repl::feed::report();
                line!("# Replication");
                let replica = crate::repl::replica::report();
                match &replica {
                    None => line!("role:master"),
                    Some(r) => {
                        line!("role:slave");
                        line!("master_host:{}", r.host);
                        line!("master_port:{}", r.port);
                        line!("master_link_status:{}", if r.up { "up" } else { "down" });
                        line!("master_last_io_seconds_ago:{}", r.last_io_s);
                        line!("master_sync_in_progress:{}", u8::from(r.sync_in_progress));
                        line!("slave_read_repl_offset:{}", r.offset);
                        line!("slave_repl_offset:{}", r.offset);
                        line!("slave_priority:100");
                        line!("slave_read_only:{}", u8::from(state.config.settings.replica_read_only));
                        line!("replica_announced:1");
                    }
                }
                line!("connected_slaves:{}", repl.replicas.len());
                for (i, (ip, port, acked, lag)) in repl.replicas.iter().enumerate() {
                    line!("slave{i}:ip={ip},port={port},state=online,offset={acked},lag={lag}");
                }
                line!("master_failover_state:no-failover");
                match &replica {
                    Some(r) => {
                        line!("master_replid:{}", r.master_replid);
                        line!("master_replid2:0000000000000000000000000000000000000000");
                        line!("master_repl_offset:{}", r.offset);
                    }
                    None => {
                        line!("master_replid:{}", repl.replid);
                        line!("master_replid2:0000000000000000000000000000000000000000");
                        line!("master_repl_offset:{}", repl.offset);
                    }
                }
                line!("second_repl_offset:-1");
                line!("repl_backlog_active:{}", u8::from(repl.active));
                line!(
                    "repl_backlog_size:{}",
                    state.config.get("repl-backlog-size").unwrap_or("0")
                );
                line!("repl_backlog_first_byte_offset:{}", repl.first_byte);
                line!("repl_backlog_histlen:{}", repl.histlen);
            }
            "cpu" => {
                let (sys, user) = rusage(libc::RUSAGE_SELF);
                let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
                let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
                line!("# CPU");
                line!("used_cpu_sys:{sys:.6}");
                line!("used_cpu_user:{user:.6}");
                line!("used_cpu_sys_children:{csys:.6}");
                line!("used_cpu_user_children:{cuser:.6}");
                line!("used_cpu_sys_main_thread:{tsys:.6}");
                line!("used_cpu_user_main_thread:{tuser:.6}");
            }
            "modules" => line!("# Modules"),
            "commandstats" => {
                line!("# Commandstats");
                let mut merged: std::collections::BTreeMap<usize, CommandStats> = Default::default();
                for report in reports {
                    for (i, c) in &report.commands {
                        let m = merged.entry(*i).or_default();
                        m.calls += c.calls;
                        m.usec += c.usec;
                        m.rejected_calls += c.rejected_calls;
                        m.failed_calls += c.failed_calls;
                    }
                }
                let registry = command::registry();
                let mut rows: Vec<(&str, CommandStats)> = merged
                    .into_iter()
                    .map(|(i, c)| (registry.all[i].name.as_str(), c))
                    .collect();
                rows.sort_by(|a, b| a.0.cmp(b.0));
                for (name, c) in rows {
                    line!(
                        "cmdstat_{name}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                        c.calls,
                        c.usec,
                        if c.calls == 0 {
                            0.0
                        } else {
                            c.usec as f64 / c.calls as f64
                        },
                        c.rejected_calls,
                        c.failed_calls
                    );
                }
            }
            "errorstats" => {
                line!("# Errorstats");
                let mut merged: std::collections::BTreeMap<String, u64> = Default::default();
                for report in reports {
                    for (k, v) in &report.errors {
                        *merged.entry(k.clone()).or_default() += v;
                    }
                }
                for (k, v) in merged {
                    line!("errorstat_{k}:count={v}");
                }
            }
            "latencystats" => line!("# Latencystats"),
            "cluster" => {
                line!("# Cluster");
                line!("cluster_enabled:0");
            }
            "keyspace" => {
                line!("# Keyspace");
                let databases = reports.first().map_or(0, |r| r.dbs.len());
                for db in 0..databases {
                    let keys: usize = reports.iter().map(|r| r.dbs[db].0).sum();
                    let expires: usize = reports.iter().map(|r| r.dbs[db].1).sum();
                    let ttl_sum: u128 = reports.iter().map(|r| r.dbs[db].2).sum();
                    if keys > 0 {
                        let avg_ttl = if expires > 0 { ttl_sum / expires as u128 } else { 0 };
                        line!("db{db}:keys={keys},expires={expires},avg_ttl={avg_ttl}");
                    }
                }
            }
            _ => {}
        }
    }
    t
}

fn time_command(session: &mut Session, _argv: &Argv) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    session.out.array(2);
    session.out.bulk(now.as_secs().to_string().as_bytes());
    session.out.bulk(now.subsec_micros().to_string().as_bytes());
}

fn shutdown_command(session: &mut Session, argv: crate::OwnedArgv) -> crate::command::LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        let (mut save, mut nosave, mut abort, mut force) = (false, false, false, false);
        for arg in argv.iter().skip(1) {
            match arg.to_ascii_lowercase().as_slice() {
                b"nosave" => nosave = true,
                b"save" => save = true,
                b"now" => {}
                b"force" => force = true,
                b"abort" => abort = true,
                _ => return session.out.error(errors::SYNTAX),
            }
        }
        if (abort && argv.len() > 2) || (save && nosave) {
            return session.out.error(errors::SYNTAX);
        }
        if abort {
            // Tessera shuts down at once: there is never one in progress.
            return session.out.error(errors::SHUTDOWN_NOT_IN_PROGRESS);
        }
        crate::warning!("User requested shutdown...");
        if !prepare_shutdown(&session.shard, save, nosave, force).await {
            return session.out.error("ERR Errors trying to SHUTDOWN. Check logs.");
        }
        exit_now();
    })
}

/// Saves before exiting when asked (SAVE) or when save points exist (unless
/// NOSAVE). Returns false when the save failed and FORCE was not given.
pub async fn prepare_shutdown(shard: &Rc<Shard<ShardState>>, save: bool, nosave: bool, force: bool) -> bool {
    if shard.state().wal.is_some() {
        // Whatever the fsync policy, what was journaled reaches the disk.
        super::persistence::flush_wal(shard).await;
        let (dir, _) = crate::persist::wal::settings(&shard.state().config);
        crate::persist::wal::sync_files(&dir);
        crate::notice!("Write-ahead log synced before exiting.");
    }
    let has_points = !shard.state().config.settings.save.is_empty();
    if nosave || !(save || has_points) {
        return true;
    }
    crate::notice!("Saving the final RDB snapshot before exiting.");
    if super::persistence::save_now(shard).await {
        return true;
    }
    if force {
        crate::warning!("Error trying to save the DB. Exit anyway.");
        return true;
    }
    crate::warning!("Error trying to save the DB, can't exit.");
    false
}

/// Set by SIGINT/SIGTERM; shard 0's cron performs the shutdown.
static SHUTDOWN_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Logs Redis's last shutdown line and exits the process.
pub fn exit_now() -> ! {
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
        if SHUTDOWN_REQUESTED.swap(true, std::sync::atomic::Ordering::AcqRel) {
            // A second signal while saving: exit at once.
            exit_now();
        }
    });
}

/// DEBUG PAUSE-CRON: the shards' periodic work stops while set.
static CRON_PAUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn pause_cron(paused: bool) {
    CRON_PAUSED.store(paused, std::sync::atomic::Ordering::Relaxed);
}

/// Starts the shard's periodic work: active expiry at `hz`.
pub fn spawn_cron(shard: Rc<Shard<ShardState>>) {
    cores::spawn(async move {
        loop {
            let hz = shard.state().config.settings.hz.max(1);
            cores::sleep(Duration::from_millis(1000 / hz as u64)).await;
            // A requested shutdown still happens while paused.
            if CRON_PAUSED.load(std::sync::atomic::Ordering::Relaxed)
                && !SHUTDOWN_REQUESTED.load(std::sync::atomic::Ordering::Acquire)
            {
                continue;
            }
            if shard.id().0 == 0 {
                if SHUTDOWN_REQUESTED.load(std::sync::atomic::Ordering::Acquire) {
                    crate::warning!("User requested shutdown...");
                    if prepare_shutdown(&shard, false, false, false).await {
                        exit_now();
                    }
                    SHUTDOWN_REQUESTED.store(false, std::sync::atomic::Ordering::Release);
                }
                super::persistence::scheduled_save(&shard).await;
                let period: u64 = shard
                    .state()
                    .config
                    .get("repl-ping-replica-period")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(10);
                crate::repl::feed::ping_if_due(period * 1000, crate::exec::now_ms());
            }
            super::migrate::close_idle(crate::exec::now_ms());
            if shard.lock_holder().is_some() {
                continue;
            }
            active_expire_cycle(&mut shard.state(), hz);
            crate::tracking::enforce_limit();
            crate::tracking::broadcast();
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
