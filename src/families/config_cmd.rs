//! CONFIG GET, SET, RESETSTAT, REWRITE, HELP. Every shard holds a copy of
//! the configuration; CONFIG SET validates all pairs on a copy first (so a
//! bad one changes nothing), applies the process-wide effects once, then
//! installs the new copy on every shard.

use crate::command::{asynchronous, conn, container, CommandDef, LocalFuture};
use crate::config::{self, flag, Config};
use crate::errors;
use crate::resp::Argv;
use crate::session::Session;
use crate::shard::ShardState;
use crate::OwnedArgv;

pub static COMMANDS: &[CommandDef] = &[
    container("config"),
    conn("config|get", config_get),
    asynchronous("config|set", config_set),
    asynchronous("config|resetstat", config_resetstat),
    conn("config|rewrite", config_rewrite),
    conn("config|help", config_help),
];

fn config_get(session: &mut Session, argv: &Argv) {
    let patterns: Vec<&[u8]> = argv.iter().skip(2).collect();
    let pairs = session.shard.state().config.get_many(&patterns);
    session.out.map(pairs.len());
    for (name, value) in pairs {
        session.out.bulk(name.as_bytes());
        session.out.bulk(value.as_bytes());
    }
}

/// Validates CONFIG SET's pairs and returns the new configuration, or the
/// error reply.
pub fn prepare_set(current: &Config, client_addr: &str, pairs: &[(String, String)]) -> Result<Config, String> {
    let mut invalid_name: Option<&str> = None;
    let mut failure: Option<(String, &str)> = None;
    let mut seen: Vec<&'static str> = Vec::new();
    for (name, _) in pairs {
        let Some((_, d)) = config::lookup(name) else {
            invalid_name.get_or_insert(name);
            continue;
        };
        if invalid_name.is_some() || failure.is_some() {
            continue;
        }
        if d.flags & flag::IMMUTABLE != 0 {
            failure = Some((name.clone(), "can't set immutable config"));
        } else if d.flags & flag::PROTECTED != 0 && !current.settings.enable_protected_configs.allows(client_addr) {
            failure = Some((name.clone(), "can't set protected config"));
        } else if seen.contains(&d.name) {
            failure = Some((name.clone(), "duplicate parameter"));
        }
        seen.push(d.name);
    }
    if let Some(name) = invalid_name {
        return Err(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        ));
    }
    if let Some((name, message)) = failure {
        return Err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {message}"
        ));
    }
    let mut next = current.clone();
    let mut changed: Vec<&'static str> = Vec::new();
    for (name, value) in pairs {
        let (_, d) = config::lookup(name).expect("checked above");
        // Multi-argument directives take one space-separated value.
        let args: Vec<String> = if d.flags & flag::MULTI_ARG != 0 {
            if value.is_empty() {
                Vec::new()
            } else {
                value.split(' ').map(String::from).collect()
            }
        } else {
            vec![value.clone()]
        };
        let args = if d.name == "save" && args.is_empty() {
            vec![String::new()]
        } else {
            args
        };
        match next.set(d.name, &args) {
            Ok(true) => changed.push(d.name),
            Ok(false) => {}
            Err(message) => {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - {message}",
                    d.name
                ))
            }
        }
    }
    // Changes Tessera cannot apply at run time fail like a failed apply in
    // Redis, before anything is changed.
    for &name in &changed {
        let value = next.get(name).unwrap_or("").to_string();
        let refusal = match name {
            "port" => Some("Unable to listen on this port: Tessera cannot move its listeners at run time".to_string()),
            "bind" => Some("Failed to bind to specified addresses.".to_string()),
            _ => crate::config::refused_value(name, &value).map(String::from),
        };
        if let Some(message) = refusal {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {message}"
            ));
        }
    }
    for &name in &changed {
        let value = next.get(name).unwrap_or("").to_string();
        match name {
            "loglevel" => crate::log::set_level(next.settings.loglevel),
            "jemalloc-bg-thread" => crate::memory::set_background_thread(value == "yes"),
            "dir" => {
                if let Err(e) = std::env::set_current_dir(&value) {
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument 'dir') - {}",
                        config::os_error_text(&e)
                    ));
                }
            }
            _ if !Config::is_acted_on(name) => {
                crate::warning!(
                    "CONFIG SET {name} '{value}': accepted, but Tessera does not act on this directive yet"
                );
            }
            _ => {}
        }
    }
    Ok(next)
}

fn config_set(session: &mut Session, argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        let argv = argv.argv();
        if argv.len() % 2 == 1 {
            return session.out.error(errors::SYNTAX);
        }
        let pairs: Vec<(String, String)> = (2..argv.len())
            .step_by(2)
            .map(|i| {
                (
                    String::from_utf8_lossy(argv.get(i)).into_owned(),
                    String::from_utf8_lossy(argv.get(i + 1)).into_owned(),
                )
            })
            .collect();
        let addr = session.info.borrow().addr.clone();
        let prepared = {
            let state = session.shard.state();
            prepare_set(&state.config, &addr, &pairs)
        };
        let next = match prepared {
            Ok(next) => next,
            Err(message) => return session.out.error(&message),
        };
        let (was_on, was_fsync) = {
            let state = session.shard.state();
            (
                state.config.get("appendonly") == Some("yes"),
                state.config.get("appendfsync").map(String::from),
            )
        };
        let now_on = next.get("appendonly") == Some("yes");
        let fsync = next.get("appendfsync").map(String::from);
        session
            .call_all(move |state: &mut ShardState| state.config = next.clone())
            .await;
        if fsync != was_fsync {
            let policy = crate::persist::wal::Fsync::parse(fsync.as_deref().unwrap_or("everysec"));
            session
                .call_all(move |state: &mut ShardState| {
                    if let Some(wal) = state.wal.as_mut() {
                        wal.fsync = policy;
                    }
                })
                .await;
        }
        if pairs
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("proc-title-template"))
        {
            // As Redis, a new template shows at once (even with set-proc-title no).
            crate::proctitle::apply_config(&session.shard.state().config);
        }
        if now_on && !was_on {
            super::persistence::turn_wal_on(&session.shard).await;
        } else if was_on && !now_on {
            super::persistence::turn_wal_off(session).await;
        }
        session.out.ok();
    })
}

fn config_resetstat(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        session
            .call_all(|state: &mut ShardState| {
                state.stats.reset();
                for db in state.dbs.iter_mut() {
                    db.stats.keyspace_hits = 0;
                    db.stats.keyspace_misses = 0;
                    db.stats.expired_keys = 0;
                }
            })
            .await;
        session.out.ok();
    })
}

fn config_rewrite(session: &mut Session, _argv: &Argv) {
    let config = session.shard.state().config.clone();
    let Some(path) = config.file.clone() else {
        return session.out.error(errors::NO_CONFIG_FILE);
    };
    match config.rewrite(&path) {
        Ok(()) => {
            crate::notice!("CONFIG REWRITE executed with success.");
            session.out.ok();
        }
        Err(e) => {
            crate::warning!("CONFIG REWRITE failed: {}", config::os_error_text(&e));
            session
                .out
                .error(&format!("ERR Rewriting config file: {}", config::os_error_text(&e)));
        }
    }
}

fn config_help(session: &mut Session, _argv: &Argv) {
    let lines = [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ];
    session.out.array(lines.len());
    for line in lines {
        session.out.simple(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(words: &[&str]) -> Vec<(String, String)> {
        words.chunks(2).map(|c| (c[0].to_string(), c[1].to_string())).collect()
    }

    #[test]
    fn set_is_all_or_nothing() {
        let base = Config::new();
        let err = prepare_set(
            &base,
            "127.0.0.1:1",
            &pairs(&[
                "maxmemory",
                "10000001",
                "maxmemory-clients",
                "200%",
                "client-query-buffer-limit",
                "x",
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"
        );
        assert_eq!(base.get("maxmemory"), Some("0"));
        let next = prepare_set(&base, "127.0.0.1:1", &pairs(&["maxmemory", "10mb", "save", "3000 5"])).unwrap();
        assert_eq!(next.get("maxmemory"), Some("10485760"));
        assert_eq!(next.get("save"), Some("3000 5"));
        assert!(prepare_set(&base, "", &pairs(&["maxmemory", "1", "maxmemory", "2"]))
            .unwrap_err()
            .contains("duplicate parameter"));
        assert!(prepare_set(&base, "", &pairs(&["daemonize", "yes"]))
            .unwrap_err()
            .contains("can't set immutable config"));
        assert_eq!(
            prepare_set(&base, "", &pairs(&["nosuch", "1"])).unwrap_err(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        assert!(prepare_set(&base, "", &pairs(&["port", "1"]))
            .unwrap_err()
            .contains("Unable to listen on this port"));
        assert!(prepare_set(&base, "", &pairs(&["port", "6379"])).is_ok());
        assert!(prepare_set(&base, "", &pairs(&["dir", "/tmp"]))
            .unwrap_err()
            .contains("can't set protected config"));
    }
}
