//! Configuration: redis.conf syntax from a file and `--directive value`
//! arguments, as `redis-server` takes them, plus CONFIG GET/SET support.
//!
//! Every Redis 7.0 directive is known (`redis_defaults.tsv` holds Redis's
//! names and default values). Those Tessera acts on are validated and typed in
//! `Settings`; the others are accepted from the file with a warning in the
//! log, echoed by CONFIG GET, and refused by CONFIG SET.

pub mod perf;

use std::collections::BTreeMap;

/// Directives Tessera acts on. Everything else known is accepted with a
/// warning.
const ACTED_ON: &[&str] = &[
    "bind",
    "port",
    "databases",
    "requirepass",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "hz",
    "logfile",
    "loglevel",
    "daemonize",
    "dir",
    "pidfile",
    "always-show-logo",
    "enable-debug-command",
    "timeout",
    "maxclients",
];

/// Tessera-only directives.
const TESSERA_DIRECTIVES: &[(&str, &str)] = &[("shards", "0")];

/// Typed views of the directives Tessera acts on.
#[derive(Clone, Debug)]
pub struct Settings {
    pub port: u16,
    pub bind: Vec<String>,
    pub databases: usize,
    pub requirepass: Option<Vec<u8>>,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: u64,
    pub hz: u32,
    pub logfile: String,
    pub loglevel: LogLevel,
    pub daemonize: bool,
    pub shards: usize,
    pub pidfile: String,
    pub timeout_s: u64,
    pub maxclients: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
    Nothing,
}

/// The whole configuration: every directive's current value as CONFIG GET
/// prints it, and the typed settings.
#[derive(Clone, Debug)]
pub struct Config {
    values: BTreeMap<String, String>,
    pub settings: Settings,
    /// Directives read from the file that Tessera does not act on.
    pub unacted: Vec<String>,
    /// The configuration file, if any (CONFIG REWRITE writes it back).
    pub file: Option<String>,
}

/// A configuration error, reported as Redis reports it.
#[derive(Debug)]
pub struct ConfigError {
    pub line_number: usize,
    pub line: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
            self.line_number, self.line, self.message
        )
    }
}

fn defaults() -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for line in include_str!("redis_defaults.tsv").lines() {
        let (name, value) = line.split_once('\t').expect("tab-separated default");
        values.insert(name.to_string(), value.to_string());
    }
    for (name, value) in TESSERA_DIRECTIVES {
        values.insert(name.to_string(), value.to_string());
    }
    values
}

/// Parses a memory value ("1gb", "100k", "5") into bytes.
pub fn parse_memory(value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let (digits, multiplier) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| lower.strip_suffix(suffix).map(|d| (d.to_string(), *m)))
    .unwrap_or((lower.clone(), 1));
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(multiplier)
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn parse_int_range(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = value
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(n)
}

fn parse_memory_value(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = parse_memory(value).ok_or_else(|| "argument must be a memory value".to_string())?;
    if n < min || n > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(n)
}

impl Config {
    /// The built-in defaults, as `redis-server` with no arguments.
    pub fn new() -> Config {
        let values = defaults();
        let mut config = Config {
            settings: Settings {
                port: 6379,
                bind: vec!["*".into(), "-::*".into()],
                databases: 16,
                requirepass: None,
                proto_max_bulk_len: 512 * 1024 * 1024,
                client_query_buffer_limit: 1 << 30,
                hz: 10,
                logfile: String::new(),
                loglevel: LogLevel::Notice,
                daemonize: false,
                shards: 0,
                pidfile: String::new(),
                timeout_s: 0,
                maxclients: 10000,
            },
            values,
            unacted: Vec::new(),
            file: None,
        };
        let dir = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        config.values.insert("dir".into(), dir);
        config
    }

    pub fn databases(&self) -> usize {
        self.settings.databases
    }

    /// Whether `name` is a directive Tessera knows.
    pub fn is_known(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Whether Tessera acts on `name`.
    pub fn is_acted_on(name: &str) -> bool {
        ACTED_ON.contains(&name) || TESSERA_DIRECTIVES.iter().any(|(n, _)| *n == name)
    }

    /// The current value of a directive as CONFIG GET prints it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every (name, value) pair whose name matches the glob `pattern`.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&str, &str)> {
        self.values
            .iter()
            .filter(|(name, _)| crate::glob::matches(pattern, name.as_bytes(), true))
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// Applies one directive (already split into words); validates and
    /// updates the typed settings. Errors are Redis's messages.
    pub fn apply(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        if !self.is_known(&name) {
            return Err("Bad directive or wrong number of arguments".into());
        }
        let joined = args.join(" ");
        let one = || -> Result<&str, String> {
            if args.len() == 1 {
                Ok(args[0].as_str())
            } else {
                Err("wrong number of arguments".into())
            }
        };
        let s = &mut self.settings;
        let stored = match name.as_str() {
            "port" => {
                s.port = parse_int_range(one()?, 0, 65535)? as u16;
                s.port.to_string()
            }
            "bind" => {
                s.bind = args.to_vec();
                joined
            }
            "databases" => {
                s.databases = parse_int_range(one()?, 1, i32::MAX as i64)? as usize;
                s.databases.to_string()
            }
            "requirepass" => {
                let value = one()?;
                s.requirepass = if value.is_empty() {
                    None
                } else {
                    Some(value.as_bytes().to_vec())
                };
                value.to_string()
            }
            "proto-max-bulk-len" => {
                s.proto_max_bulk_len = parse_memory_value(one()?, 1024 * 1024, i64::MAX as u64)? as i64;
                s.proto_max_bulk_len.to_string()
            }
            "client-query-buffer-limit" => {
                s.client_query_buffer_limit = parse_memory_value(one()?, 1024 * 1024, i64::MAX as u64)?;
                s.client_query_buffer_limit.to_string()
            }
            "hz" => {
                // Redis clamps hz to 1..500 rather than refusing.
                s.hz = parse_int_range(one()?, 0, i32::MAX as i64)?.clamp(1, 500) as u32;
                s.hz.to_string()
            }
            "logfile" => {
                s.logfile = one()?.to_string();
                s.logfile.clone()
            }
            "loglevel" => {
                s.loglevel = match one()?.to_ascii_lowercase().as_str() {
                    "debug" => LogLevel::Debug,
                    "verbose" => LogLevel::Verbose,
                    "notice" => LogLevel::Notice,
                    "warning" => LogLevel::Warning,
                    "nothing" => LogLevel::Nothing,
                    _ => {
                        return Err(
                            "argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into(),
                        )
                    }
                };
                one()?.to_ascii_lowercase()
            }
            "daemonize" => {
                s.daemonize = parse_bool(one()?)?;
                if s.daemonize {
                    "yes".into()
                } else {
                    "no".into()
                }
            }
            "shards" => {
                s.shards = parse_int_range(one()?, 1, 1024)? as usize;
                s.shards.to_string()
            }
            "pidfile" => {
                s.pidfile = one()?.to_string();
                s.pidfile.clone()
            }
            "timeout" => {
                s.timeout_s = parse_int_range(one()?, 0, i32::MAX as i64)? as u64;
                s.timeout_s.to_string()
            }
            "maxclients" => {
                s.maxclients = parse_int_range(one()?, 1, i32::MAX as i64)? as u64;
                s.maxclients.to_string()
            }
            "always-show-logo" | "enable-debug-command" => {
                let value = one()?;
                match name.as_str() {
                    "always-show-logo" => {
                        parse_bool(value)?;
                        value.to_ascii_lowercase()
                    }
                    _ => match value.to_ascii_lowercase().as_str() {
                        "yes" | "no" | "local" => value.to_ascii_lowercase(),
                        _ => return Err("argument(s) must be one of the following: no, yes, local".into()),
                    },
                }
            }
            "dir" => {
                let value = one()?;
                std::env::set_current_dir(value).map_err(|e| format!("No such file or directory: {e}"))?;
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| value.to_string())
            }
            _ => {
                if !self.unacted.contains(&name) {
                    self.unacted.push(name.clone());
                }
                joined
            }
        };
        self.values.insert(name, stored);
        Ok(())
    }

    /// Loads `text` in redis.conf syntax (a file's contents followed by the
    /// command line's directives).
    pub fn load_text(&mut self, text: &str) -> Result<(), ConfigError> {
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |message: String| ConfigError {
                line_number: index + 1,
                line: line.to_string(),
                message,
            };
            let words =
                split_config_line(line).ok_or_else(|| error("Unbalanced quotes in configuration line".into()))?;
            if words.is_empty() {
                continue;
            }
            let name = words[0].to_ascii_lowercase();
            if name == "include" {
                let path = words
                    .get(1)
                    .ok_or_else(|| error("Bad directive or wrong number of arguments".into()))?;
                let included = std::fs::read_to_string(path)
                    .map_err(|e| error(format!("Can't open the include file {path}: {e}")))?;
                self.load_text(&included)?;
                continue;
            }
            self.apply(&name, &words[1..]).map_err(error)?;
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits a configuration line into words as Redis's sdssplitargs does.
pub fn split_config_line(line: &str) -> Option<Vec<String>> {
    let mut ranges = Vec::new();
    let bytes = line.as_bytes();
    let mut buf = bytes.to_vec();
    buf.push(b'\n');
    match crate::resp::parse::parse_command(
        &buf,
        crate::resp::ParseLimits {
            proto_max_bulk_len: i64::MAX,
            authenticated: true,
        },
        &mut ranges,
        &mut 0,
    ) {
        crate::resp::Parsed::Command { .. } | crate::resp::Parsed::Empty { .. } => {}
        _ => return None,
    }
    Some(
        ranges
            .iter()
            .map(|r| {
                let word = &buf[r.clone()];
                let decoded = if crate::resp::parse::is_quoted(word) {
                    crate::resp::parse::decode_quoted(word)
                } else {
                    word.to_vec()
                };
                String::from_utf8_lossy(&decoded).into_owned()
            })
            .collect(),
    )
}

/// Turns `redis-server`-style arguments into (config file, directive text):
/// `tessera [file] [--name value ...]`.
pub fn args_to_text(args: &[String]) -> Result<(Option<String>, String), String> {
    let mut file = None;
    let mut rest = args;
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            file = Some(first.clone());
            rest = &args[1..];
        }
    }
    let mut text = String::new();
    for arg in rest {
        if let Some(name) = arg.strip_prefix("--") {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(name);
        } else {
            text.push(' ');
            text.push_str(&quote_config_word(arg));
        }
    }
    text.push('\n');
    Ok((file, text))
}

/// Quotes a word for redis.conf syntax when needed.
pub fn quote_config_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
    {
        return word.to_string();
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_arguments() {
        let mut config = Config::new();
        let (file, text) = args_to_text(&[
            "--port".into(),
            "7000".into(),
            "--save".into(),
            "".into(),
            "--shards".into(),
            "2".into(),
        ])
        .unwrap();
        assert!(file.is_none());
        config.load_text(&text).unwrap();
        assert_eq!(config.settings.port, 7000);
        assert_eq!(config.settings.shards, 2);
        assert_eq!(config.get("save"), Some(""));
        assert!(config.unacted.contains(&"save".to_string()));
    }

    #[test]
    fn errors_name_the_line() {
        let mut config = Config::new();
        let err = config.load_text("port 1\nnosuchdirective 5\n").unwrap_err();
        assert_eq!(err.line_number, 2);
        assert_eq!(err.message, "Bad directive or wrong number of arguments");
        let err = config.load_text("port 99999\n").unwrap_err();
        assert_eq!(err.message, "argument must be between 0 and 65535 inclusive");
    }

    #[test]
    fn memory_values() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
    }
}
