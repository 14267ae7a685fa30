//! Tessera: a Redis-compatible in-memory data store, thread-per-core on
//! glommio. `tessera [config-file] [--directive value ...] [--perf-config PATH]`
//! starts it as `redis-server` would start.

mod blocking;
mod client;
mod command;
mod config;
mod conn;
mod digest;
mod errors;
mod exec;
mod families;
mod glob;
mod keyspace;
#[macro_use]
mod log;
mod memory;
mod persist;
mod proctitle;
mod pubsub;
mod repl;
mod resp;
mod session;
mod shard;
mod slot;
mod tracking;
mod types;

pub use resp::OwnedArgv;

use config::perf::PerfConfig;
use config::Config;
use cores::net::Listener;
use cores::RuntimeConfig;
use shard::ShardState;
use std::net::{SocketAddr, ToSocketAddrs};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn usage() -> ! {
    eprintln!("Usage: tessera [/path/to/redis.conf] [--directive value ...] [--perf-config PATH]");
    eprintln!("       tessera -v | --version");
    std::process::exit(1);
}

fn main() {
    // First, before any thread exists: the process title reuses the memory
    // of the original arguments and environment.
    proctitle::init();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!("Tessera server v={VERSION} (Redis 7.0.15 compatible) bits=64");
        return;
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        usage();
    }
    let mut perf_path = ("perf_config.toml".to_string(), false);
    if let Some(i) = args.iter().position(|a| a == "--perf-config") {
        if i + 1 >= args.len() {
            usage();
        }
        perf_path = (args[i + 1].clone(), true);
        args.drain(i..i + 2);
    }
    let perf = match PerfConfig::load(&perf_path.0, perf_path.1) {
        Ok(perf) => perf,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(1);
        }
    };
    let mut config = Config::new();
    let (file, directives) = match config::args_to_text(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(1);
        }
    };
    if let Some(path) = &file {
        // Redis shows the config file's absolute path ({config-file}); a
        // `dir` directive changes the working directory while reading it.
        if path != "-" {
            proctitle::remember_config_file(path);
        }
    }
    let mut text = String::new();
    if let Some(path) = &file {
        let contents = if path == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        };
        match contents {
            Ok(contents) => text.push_str(&contents),
            Err(error) => {
                eprintln!("Fatal error, can't open config file '{path}': {error}");
                std::process::exit(1);
            }
        }
        config.file = std::fs::canonicalize(path).ok().map(|p| p.display().to_string());
    }
    // As Redis: the command line's directives follow the file after a newline.
    text.push('\n');
    text.push_str(&directives);
    if let Err(error) = config.load_text(&text) {
        eprintln!("{error}");
        std::process::exit(1);
    }
    if config.settings.shards == 0 {
        config.settings.shards = if perf.shards > 0 {
            perf.shards
        } else {
            cores::allowed_cpus().len().max(1)
        };
    }
    log::init(&config.settings.logfile, config.settings.loglevel);
    memory::set_background_thread(config.get("jemalloc-bg-thread") == Some("yes"));
    notice!("oO0OoO0OoO0Oo Tessera is starting oO0OoO0OoO0Oo");
    notice!(
        "Tessera version={VERSION}, Redis compatibility=7.0.15, bits=64, pid={}, just started",
        std::process::id()
    );
    match &file {
        Some(path) => notice!("Configuration loaded from {path}"),
        None => warning!(
            "Warning: no config file specified, using the default config. In order to specify a config file use tessera /path/to/redis.conf"
        ),
    }
    for name in &config.unacted {
        warning!("Directive '{name}' is accepted but Tessera does not act on it yet");
    }
    if config.settings.daemonize {
        warning!("daemonize yes is not supported: running in the foreground");
    }
    let shards = config.settings.shards;
    if !config.settings.pidfile.is_empty() {
        let _ = std::fs::write(&config.settings.pidfile, format!("{}\n", std::process::id()));
    }
    let addrs = match listen_addrs(&config) {
        Ok(addrs) => addrs,
        Err(message) => {
            warning!("{message}");
            warning!("Failed listening on port {} (TCP), aborting.", config.settings.port);
            std::process::exit(1);
        }
    };
    // As Redis, the line with ` PID: ` comes only once the port can be had:
    // Redis's test harness retries another port when it sees no PID line.
    notice!(
        "Tessera {VERSION} (Redis 7.0.15 compatible) 64 bit, standalone mode, {shards} shards, Port: {}, PID: {}",
        config.settings.port,
        std::process::id()
    );
    notice!("Server initialized");
    let runtime = RuntimeConfig {
        shards,
        pin: perf.pin_shards,
        mesh_channel_capacity: perf.mesh_channel_capacity,
        spin_before_park_us: perf.spin_before_park_us,
    };
    families::server::mark_started();
    persist::mark_started(exec::now_ms());
    let snapshot = load_snapshot_file(&config);
    let (wal_dir, wal_fsync) = persist::wal::settings(&config);
    let wal_on = config.get("appendonly") == Some("yes");
    let replay_from = snapshot.as_ref().map_or(0, |image| persist::wal_segment_of(image));
    // New writes go after every segment on disk and after the snapshot's own
    // mark (older segments may already be gone).
    let wal_segment = persist::wal::next_segment(&wal_dir).max(replay_from);
    if wal_on {
        notice!(
            "Write-ahead log on (appendfsync {}), in {}: replaying segments before {wal_segment}",
            config.get("appendfsync").unwrap_or("everysec"),
            wal_dir.display()
        );
    }
    families::server::install_signal_handlers();
    let read_buffer_bytes = perf.read_buffer_bytes;
    let backlog: i32 = config.get("tcp-backlog").and_then(|b| b.parse().ok()).unwrap_or(511);
    // Each shard reports once its listeners accept; the main thread never
    // waits on a runtime that failed to start (it would hang forever).
    let (ready_sender, ready) = std::sync::mpsc::channel::<()>();
    let init_config = config.clone();
    let runner = std::thread::spawn(move || {
        cores::run(
            runtime,
            move |id, count| ShardState::new(id, count, init_config.clone()),
            move |shard| {
                let addrs = addrs.clone();
                let ready = ready_sender.clone();
                let snapshot = snapshot.clone();
                let wal_dir = wal_dir.clone();
                async move {
                    if let Some(image) = snapshot {
                        let start = std::time::Instant::now();
                        let stats = families::persistence::load_at_start(&mut shard.state(), &image);
                        notice!(
                            "Shard {} loaded {} keys from the snapshot ({} expired, {} owned by other shards) in {:.3} seconds",
                            shard.id().0,
                            stats.keys,
                            stats.expired,
                            stats.skipped,
                            start.elapsed().as_secs_f64()
                        );
                    }
                    if wal_on {
                        let start = std::time::Instant::now();
                        let mut state = shard.state();
                        match persist::wal::replay_all(&mut state, &wal_dir, true, replay_from) {
                            Ok(stats) => notice!(
                                "Shard {} replayed {} WAL records ({} keys set, {} deleted, {} torn tails cut, {} incomplete transactions left out) in {:.3} seconds",
                                shard.id().0,
                                stats.records,
                                stats.keys_set,
                                stats.keys_deleted,
                                stats.torn_tails,
                                stats.incomplete_transactions,
                                start.elapsed().as_secs_f64()
                            ),
                            Err(error) => {
                                warning!("Fatal error replaying the write-ahead log: {error}. Exiting.");
                                std::process::exit(1);
                            }
                        }
                        persist::wal::enable(&mut state, wal_dir.clone(), wal_fsync, wal_segment);
                    }
                    cores::spawn(persist::wal::supervise(shard.clone()));
                    let mut listeners = Vec::new();
                    for addr in &addrs {
                        match Listener::bind(*addr, backlog) {
                            Ok(listener) => listeners.push(listener),
                            Err(error) => {
                                warning!("Could not create server TCP listening socket {addr}: bind: {error}");
                                std::process::exit(1);
                            }
                        }
                    }
                    families::server::spawn_cron(shard.clone());
                    if shard.id().0 == 0 {
                        repl::replica::start_from_config(shard.clone());
                    }
                    cores::spawn(blocking::serve_loop(shard.clone()));
                    for listener in listeners {
                        cores::spawn(conn::accept_loop(shard.clone(), listener, read_buffer_bytes));
                    }
                    let _ = ready.send(());
                    // The shard lives as long as the process.
                    std::future::pending::<()>().await;
                }
            },
        )
    });
    let mut shards_ready = 0;
    while shards_ready < shards {
        match ready.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(()) => shards_ready += 1,
            Err(_) if runner.is_finished() => break,
            Err(_) => {}
        }
    }
    if shards_ready == shards {
        notice!("Ready to accept connections tcp");
    }
    if config.get("set-proc-title") == Some("yes") {
        proctitle::apply_config(&config);
    }
    match runner.join() {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            // e.g. an executor could not set up its io_uring.
            warning!("Runtime failed: {error}");
            std::process::exit(1);
        }
        Err(_) => std::process::exit(1),
    }
}

/// Binds `addr` with SO_REUSEADDR but without listening (so no client can
/// connect to the probe), then closes it: fails if another socket holds the
/// address.
/// Reads and checks the snapshot file named by `dir` and `dbfilename`, if
/// there is one; a file that exists but is unreadable or corrupt stops the
/// start with a message naming it.
fn load_snapshot_file(config: &Config) -> Option<std::sync::Arc<Vec<u8>>> {
    let path = config.get("dbfilename").unwrap_or("dump.rdb").to_string();
    let start = std::time::Instant::now();
    let image = match std::fs::read(&path) {
        Ok(image) => image,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            warning!("Fatal error loading the DB ({path}): {error}. Exiting.");
            std::process::exit(1);
        }
    };
    match persist::check_image(&image) {
        Ok(version) => notice!("Loading RDB {path} (RDB version {version}, {} bytes)", image.len()),
        Err(error) => {
            warning!("Fatal error loading the DB ({path}): {error}. Exiting.");
            std::process::exit(1);
        }
    }
    let image = std::sync::Arc::new(image);
    notice!("DB file read in {:.3} seconds", start.elapsed().as_secs_f64());
    Some(image)
}

fn probe_bind(addr: SocketAddr) -> std::io::Result<()> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())
}

/// The addresses to listen on, checked for availability first: shard
/// listeners use SO_REUSEPORT, which would silently share a port with another
/// server, so a plain bind probes each address.
fn listen_addrs(config: &Config) -> Result<Vec<SocketAddr>, String> {
    let port = config.settings.port;
    let mut addrs = Vec::new();
    for bind in &config.settings.bind {
        let optional = bind.starts_with('-');
        let host = bind.trim_start_matches('-');
        let host = match host {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let resolved = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("Could not create server TCP listening socket {host}:{port}: {e}"))?;
        for addr in resolved {
            match probe_bind(addr) {
                Ok(()) => addrs.push(addr),
                Err(_) if optional => {}
                Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(format!(
                        "Warning: Could not create server TCP listening socket {host}:{port}: bind: Address already in use"
                    ));
                }
                Err(error) => {
                    if optional || (host == "::" && config.settings.bind.len() > 1) {
                        continue;
                    }
                    return Err(format!(
                        "Could not create server TCP listening socket {host}:{port}: bind: {error}"
                    ));
                }
            }
        }
    }
    if addrs.is_empty() {
        return Err("Configured to not listen anywhere, exiting.".into());
    }
    Ok(addrs)
}
