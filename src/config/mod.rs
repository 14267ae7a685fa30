//! Configuration: redis.conf syntax from a file and `--directive value`
//! arguments, as `redis-server` takes them, plus CONFIG GET/SET/REWRITE.
//!
//! Every Redis 7.0 directive is known with its type, bounds, flags and
//! aliases (`directives.tsv`, generated from Redis's config table by
//! `tools/gen_directives.py`), and validated with Redis's messages. Values are
//! kept as CONFIG GET prints them; the directives Tessera acts on also have a
//! typed view in `Settings`. The others are accepted with a warning in the
//! log (from the file, the command line and CONFIG SET) and echoed by CONFIG
//! GET.

pub mod perf;

use std::collections::HashMap;
use std::sync::OnceLock;

/// Directives Tessera acts on. Everything else known is accepted with a
/// warning that it has no effect yet.
const ACTED_ON: &[&str] = &[
    "tracking-table-max-keys",
    "proc-title-template",
    "set-proc-title",
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
    "enable-protected-configs",
    "shards",
    // Writes flagged denyoom are refused past maxmemory (the noeviction
    // behaviour; eviction policies are not implemented, see maxmemory-policy).
    "maxmemory",
    // jemalloc's background purging thread, as Redis enables it.
    "jemalloc-bg-thread",
    // Snapshots (src/persist).
    "save",
    "dbfilename",
    "rdbcompression",
    // The write-ahead log (src/persist/wal.rs).
    "appendonly",
    "appendfsync",
    "appenddirname",
    "aof-load-truncated",
    // Replication stream to replicas (src/repl).
    "repl-ping-replica-period",
    "replicaof",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "replica-read-only",
    "replica-serve-stale-data",
    "masterauth",
    // Collection encodings (config::Encodings).
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "list-max-listpack-size",
    "list-compress-depth",
];

/// CONFIG SET values Tessera refuses because accepting them would promise
/// behaviour that does not exist (durability), as (directive, value, reason).
const REFUSED_VALUES: &[(&str, &str, &str)] = &[];

/// Why CONFIG SET of `name` to `value` is refused, if it is.
pub fn refused_value(name: &str, value: &str) -> Option<&'static str> {
    REFUSED_VALUES
        .iter()
        .find(|(n, v, _)| *n == name && *v == value)
        .map(|(_, _, reason)| *reason)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    String,
    Enum,
    /// A number stored in a signed C type.
    Signed,
    /// A number stored in an unsigned C type (bounds compare unsigned).
    Unsigned,
    Special,
}

/// Directive flags (Redis's *_CONFIG flags).
pub mod flag {
    pub const IMMUTABLE: u32 = 1;
    pub const HIDDEN: u32 = 1 << 1;
    pub const PROTECTED: u32 = 1 << 2;
    pub const MULTI_ARG: u32 = 1 << 3;
    pub const DENY_LOADING: u32 = 1 << 4;
    pub const SENSITIVE: u32 = 1 << 5;
    pub const DEBUG: u32 = 1 << 6;
}

/// Numeric formats (Redis's MEMORY_CONFIG, PERCENT_CONFIG, OCTAL_CONFIG).
pub mod numflag {
    pub const MEMORY: u32 = 1;
    pub const PERCENT: u32 = 1 << 1;
    pub const OCTAL: u32 = 1 << 2;
}

/// The facts about one directive.
#[derive(Debug)]
pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub flags: u32,
    pub lower: i128,
    pub upper: i128,
    pub numflags: u32,
    pub enum_values: Vec<&'static str>,
    /// The default as CONFIG GET prints it.
    pub default: &'static str,
}

impl Directive {
    fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }
}

struct Table {
    directives: Vec<Directive>,
    /// Lowercase name or alias -> index.
    by_name: HashMap<&'static str, usize>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut directives = Vec::new();
        let lines = include_str!("directives.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            // Tessera-only: the number of shards (0: one per allowed CPU).
            .chain(std::iter::once("shards\t\tsigned\timmutable\t0\t1024\tinteger\t\t0"));
        for line in lines {
            let f: Vec<&'static str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "directives.tsv line: {line}");
            let flags = f[3].split(',').fold(0, |acc, name| {
                acc | match name {
                    "immutable" => flag::IMMUTABLE,
                    "hidden" => flag::HIDDEN,
                    "protected" => flag::PROTECTED,
                    "multi_arg" => flag::MULTI_ARG,
                    "deny_loading" => flag::DENY_LOADING,
                    "sensitive" => flag::SENSITIVE,
                    "debug" => flag::DEBUG,
                    _ => 0,
                }
            });
            let numflags = f[6].split(',').fold(0, |acc, name| {
                acc | match name {
                    "memory" => numflag::MEMORY,
                    "percent" => numflag::PERCENT,
                    "octal" => numflag::OCTAL,
                    _ => 0,
                }
            });
            directives.push(Directive {
                name: f[0],
                alias: (!f[1].is_empty()).then_some(f[1]),
                kind: match f[2] {
                    "bool" => Kind::Bool,
                    "string" => Kind::String,
                    "enum" => Kind::Enum,
                    "signed" => Kind::Signed,
                    "unsigned" => Kind::Unsigned,
                    _ => Kind::Special,
                },
                flags,
                lower: f[4].parse().unwrap_or(0),
                upper: f[5].parse().unwrap_or(0),
                numflags,
                enum_values: if f[7].is_empty() {
                    Vec::new()
                } else {
                    f[7].split(',').collect()
                },
                default: f[8],
            });
        }
        let mut by_name = HashMap::new();
        for (i, d) in directives.iter().enumerate() {
            by_name.insert(d.name, i);
            if let Some(alias) = d.alias {
                by_name.insert(alias, i);
            }
        }
        Table { directives, by_name }
    })
}

/// Looks a directive up by name or alias (case-insensitive).
pub fn lookup(name: &str) -> Option<(usize, &'static Directive)> {
    let lower = name.to_ascii_lowercase();
    let t = table();
    t.by_name.get(lower.as_str()).map(|&i| (i, &t.directives[i]))
}

/// Every directive.
pub fn directives() -> &'static [Directive] {
    &table().directives
}

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
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub enable_protected_configs: Protected,
    pub enable_debug_command: Protected,
    /// `save` points as (seconds, changes).
    pub save: Vec<(i64, i64)>,
    /// Collection encoding thresholds.
    pub encodings: Encodings,
    /// Replication (src/repl): writes need this many replicas that acked
    /// within the lag (NOREPLICAS otherwise); a replica refuses writes from
    /// clients, and with stale data off, most commands while its link is down.
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
}

/// The thresholds at which small (packed) collections convert to their big
/// encodings, under Redis's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encodings {
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
}

impl Default for Encodings {
    fn default() -> Self {
        Encodings {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
        }
    }
}

/// enable-protected-configs / enable-debug-command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protected {
    No,
    Yes,
    Local,
}

impl Protected {
    /// Whether a client at `addr` may use the protected feature.
    pub fn allows(self, addr: &str) -> bool {
        match self {
            Protected::Yes => true,
            Protected::No => false,
            Protected::Local => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host.starts_with("127.") || host == "::1" || host.is_empty()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// The whole configuration: every directive's current value as CONFIG GET
/// prints it, and the typed settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Indexed like `directives()`.
    values: Vec<String>,
    pub settings: Settings,
    /// Directives set that Tessera does not act on.
    pub unacted: Vec<String>,
    /// The configuration file, if any (CONFIG REWRITE writes it back).
    pub file: Option<String>,
    /// Loading a file: the first `save` line replaces the defaults, later
    /// ones append (Redis's behaviour).
    reading_file: bool,
    save_loaded: bool,
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
        writeln!(f, "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***")?;
        if self.line_number > 0 {
            writeln!(f, "Reading the configuration file, at line {}", self.line_number)?;
            writeln!(f, ">>> '{}'", self.line)?;
        }
        write!(f, "{}", self.message)
    }
}

/// Parses a memory value as Redis's memtoull ("1gb", "100k", "5").
pub fn parse_memory(value: &str) -> Option<u64> {
    let bytes = value.as_bytes();
    if bytes.first() == Some(&b'-') {
        return None;
    }
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = value[digits..].to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    if digits == 0 {
        return None;
    }
    let n: u64 = value[..digits].parse().ok()?;
    Some(n.wrapping_mul(multiplier))
}

fn parse_ll(value: &str) -> Option<i64> {
    crate::resp::parse::parse_i64(value.as_bytes())
}

/// strtoll-like parse used by Redis for save/oom values: optional spaces and
/// sign, digits, nothing after.
fn strtoll_exact(value: &str) -> Option<i64> {
    let t = value.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() {
        // strtoll consumed nothing: Redis only checks the end pointer, and
        // an empty string parses as 0.
        return if value.is_empty() { Some(0) } else { None };
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().unwrap_or(i64::MAX);
    Some(if neg { -n } else { n })
}

/// Formats bytes as redis.conf memory notation (CONFIG REWRITE).
pub fn format_memory(bytes: i128) -> String {
    let (gb, mb, kb) = (1i128 << 30, 1i128 << 20, 1i128 << 10);
    if bytes != 0 && bytes % gb == 0 {
        format!("{}gb", bytes / gb)
    } else if bytes != 0 && bytes % mb == 0 {
        format!("{}mb", bytes / mb)
    } else if bytes != 0 && bytes % kb == 0 {
        format!("{}kb", bytes / kb)
    } else {
        bytes.to_string()
    }
}

/// Quotes a string as Redis's sdscatrepr does.
pub fn repr(value: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in value {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

const SHUTDOWN_FLAGS: &[(&str, u32)] = &[("default", 0), ("save", 1), ("nosave", 2), ("now", 4), ("force", 8)];

fn enum_error(d: &Directive) -> String {
    format!("argument(s) must be one of the following: {}", d.enum_values.join(", "))
}

/// Validates an enum directive's arguments and returns its CONFIG GET form.
fn set_enum(d: &Directive, args: &[String]) -> Result<String, String> {
    if d.has(flag::MULTI_ARG) {
        // Bit flags (shutdown-on-sigint/sigterm).
        if args.is_empty() {
            return Err(enum_error(d));
        }
        let mut bits = 0;
        for arg in args {
            let (_, v) = SHUTDOWN_FLAGS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(arg))
                .ok_or_else(|| enum_error(d))?;
            bits |= v;
        }
        if bits & 1 != 0 && bits & 2 != 0 {
            return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
        }
        if let Some((name, _)) = SHUTDOWN_FLAGS.iter().find(|(_, v)| *v == bits) {
            return Ok(name.to_string());
        }
        let names: Vec<&str> = SHUTDOWN_FLAGS
            .iter()
            .filter(|(_, v)| *v != 0 && bits & v == *v)
            .map(|(n, _)| *n)
            .collect();
        return Ok(names.join(" "));
    }
    if args.len() != 1 {
        return Err(enum_error(d));
    }
    let value = d
        .enum_values
        .iter()
        .find(|v| v.eq_ignore_ascii_case(&args[0]))
        .ok_or_else(|| enum_error(d))?;
    // oom-score-adj: "relative" is the same value as "yes", which CONFIG GET
    // prints.
    Ok(if d.name == "oom-score-adj" && *value == "relative" {
        "yes".into()
    } else {
        value.to_string()
    })
}

/// Validates a numeric directive's argument; returns (value, GET form).
fn set_numeric(d: &Directive, arg: &str) -> Result<(i128, String), String> {
    let mut parsed: Option<i128> = None;
    if d.numflags & numflag::MEMORY != 0 {
        parsed = parse_memory(arg).map(|v| v as i128);
    }
    let mut percent = false;
    if parsed.is_none() && d.numflags & numflag::PERCENT != 0 && arg.len() > 1 && arg.ends_with('%') {
        if let Some(n) = parse_ll(&arg[..arg.len() - 1]).filter(|&n| n >= 0) {
            parsed = Some(-(n as i128));
            percent = true;
        }
    }
    if parsed.is_none() && d.numflags & numflag::OCTAL != 0 {
        parsed = i64::from_str_radix(arg, 8).ok().map(|v| v as i128);
    }
    if parsed.is_none() && d.numflags == 0 {
        parsed = parse_ll(arg).map(|v| v as i128);
    }
    let Some(mut v) = parsed else {
        let memory = d.numflags & numflag::MEMORY != 0;
        return Err(if memory && d.numflags & numflag::PERCENT != 0 {
            "argument must be a memory or percent value".into()
        } else if memory {
            "argument must be a memory value".into()
        } else if d.numflags & numflag::OCTAL != 0 {
            "argument couldn't be parsed as an octal number".into()
        } else {
            "argument couldn't be parsed into an integer".into()
        });
    };
    // Redis holds the parsed value in a long long.
    if v > i64::MAX as i128 {
        v -= 1i128 << 64;
    }
    if d.kind == Kind::Unsigned {
        let u = if v < 0 { v + (1i128 << 64) } else { v };
        if u > d.upper || u < d.lower {
            return Err(if d.numflags & numflag::OCTAL != 0 {
                format!("argument must be between {:o} and {:o} inclusive", d.lower, d.upper)
            } else {
                format!("argument must be between {} and {} inclusive", d.lower, d.upper)
            });
        }
        v = u;
    } else if percent || (d.numflags & numflag::PERCENT != 0 && v < 0) {
        if v < d.lower {
            return Err(format!("percentage argument must be less or equal to {}", -d.lower));
        }
    } else if v > d.upper || v < d.lower {
        return Err(format!(
            "argument must be between {} and {} inclusive",
            d.lower, d.upper
        ));
    }
    let shown = if d.numflags & numflag::PERCENT != 0 && v < 0 {
        format!("{}%", -v)
    } else if d.numflags & numflag::OCTAL != 0 {
        format!("{v:o}")
    } else if d.numflags & numflag::MEMORY != 0 && v < 0 {
        // ull2string of a negative long long.
        ((v + (1i128 << 64)) as u128).to_string()
    } else {
        v.to_string()
    };
    Ok((v, shown))
}

fn set_special(config: &Config, d: &Directive, args: &[String]) -> Result<String, String> {
    match d.name {
        "dir" => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            // Checked here, changed by `apply_effects` once per process.
            let path = std::path::Path::new(&args[0]);
            let target = if path.is_absolute() {
                path.to_path_buf()
            } else {
                std::env::current_dir().unwrap_or_default().join(path)
            };
            if !target.is_dir() {
                return Err(std::io::Error::from_raw_os_error(if target.exists() {
                    libc::ENOTDIR
                } else {
                    libc::ENOENT
                })
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or("")
                .to_string());
            }
            Ok(std::fs::canonicalize(&target)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| args[0].clone()))
        }
        "save" => {
            let args: &[String] = if args.len() == 1 && args[0].is_empty() {
                &[]
            } else {
                args
            };
            if args.len() % 2 == 1 {
                return Err("Invalid save parameters".into());
            }
            let mut points = Vec::new();
            for (j, arg) in args.iter().enumerate() {
                match strtoll_exact(arg) {
                    Some(v) if (j % 2 == 0 && v >= 1) || (j % 2 == 1 && v >= 0) => points.push(v),
                    _ => return Err("Invalid save parameters".into()),
                }
            }
            let mut all: Vec<String> = Vec::new();
            if config.reading_file && config.save_loaded {
                let current = config.get("save").unwrap_or("");
                if !current.is_empty() {
                    all.push(current.to_string());
                }
            }
            for pair in points.chunks(2) {
                all.push(format!("{} {}", pair[0], pair[1] as i32));
            }
            Ok(all.join(" "))
        }
        "client-output-buffer-limit" => {
            if !args.len().is_multiple_of(4) {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            let current = config.get("client-output-buffer-limit").unwrap_or("").to_string();
            let mut classes: Vec<Vec<String>> = current
                .split(' ')
                .collect::<Vec<_>>()
                .chunks(4)
                .map(|c| c.iter().map(|s| s.to_string()).collect())
                .collect();
            for group in args.chunks(4) {
                let class = match group[0].to_ascii_lowercase().as_str() {
                    "normal" => 0,
                    "slave" | "replica" => 1,
                    "pubsub" => 2,
                    _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
                };
                let hard = parse_memory(&group[1]);
                let soft = parse_memory(&group[2]);
                let seconds = strtoll_exact(&group[3]).filter(|&s| s >= 0 && !group[3].is_empty());
                let (Some(hard), Some(soft), Some(seconds)) = (hard, soft, seconds) else {
                    return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
                };
                classes[class] = vec![
                    classes[class][0].clone(),
                    hard.to_string(),
                    soft.to_string(),
                    seconds.to_string(),
                ];
            }
            Ok(classes.iter().map(|c| c.join(" ")).collect::<Vec<_>>().join(" "))
        }
        "oom-score-adj-values" => {
            if args.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut values = Vec::new();
            for arg in args {
                match strtoll_exact(arg).filter(|v| (-2000..=2000).contains(v)) {
                    Some(v) => values.push(v.to_string()),
                    None => return Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into()),
                }
            }
            Ok(values.join(" "))
        }
        "notify-keyspace-events" => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            let flags = keyspace_events_flags(&args[0])
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string())?;
            Ok(keyspace_events_string(flags))
        }
        "bind" => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            let args: &[String] = if args.len() == 1 && args[0].is_empty() {
                &[]
            } else {
                args
            };
            Ok(args.join(" "))
        }
        "replicaof" => {
            if args.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            match strtoll_exact(&args[1]).filter(|p| (0..=65535).contains(p) && !args[1].is_empty()) {
                Some(port) => Ok(format!("{} {}", args[0], port)),
                None => Err("Invalid master port".into()),
            }
        }
        "latency-tracking-info-percentiles" => {
            let args: &[String] = if args.len() == 1 && args[0].is_empty() {
                &[]
            } else {
                args
            };
            let mut shown = Vec::new();
            for arg in args {
                let p: f64 = arg
                    .parse()
                    .ok()
                    .filter(|p: &f64| !p.is_nan() && !arg.trim().is_empty() && arg.trim() == arg)
                    .ok_or_else(|| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                }
                let mut text = format!("{p:.6}");
                while text.ends_with('0') {
                    text.pop();
                }
                if text.ends_with('.') {
                    text.pop();
                }
                shown.push(text);
            }
            Ok(shown.join(" "))
        }
        other => Err(format!("unknown special directive {other}")),
    }
}

const NOTIFY_CLASSES: &[(u8, u32)] = &[
    (b'g', 1 << 2),
    (b'$', 1 << 3),
    (b'l', 1 << 4),
    (b's', 1 << 5),
    (b'h', 1 << 6),
    (b'z', 1 << 7),
    (b'x', 1 << 8),
    (b'e', 1 << 9),
    (b't', 1 << 10),
    (b'd', 1 << 12),
    (b'n', 1 << 13),
];
const NOTIFY_KEYSPACE: u32 = 1;
const NOTIFY_KEYEVENT: u32 = 1 << 1;
const NOTIFY_KEY_MISS: u32 = 1 << 11;
/// 'A': every class except key-miss and new.
const NOTIFY_ALL: u32 =
    (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 12);

/// notify-keyspace-events classes to flags (None on a bad character).
pub fn keyspace_events_flags(classes: &str) -> Option<u32> {
    let mut flags = 0;
    for c in classes.bytes() {
        flags |= match c {
            b'A' => NOTIFY_ALL,
            b'K' => NOTIFY_KEYSPACE,
            b'E' => NOTIFY_KEYEVENT,
            b'm' => NOTIFY_KEY_MISS,
            c => NOTIFY_CLASSES.iter().find(|(ch, _)| *ch == c)?.1,
        };
    }
    Some(flags)
}

/// Flags back to the canonical class string.
pub fn keyspace_events_string(flags: u32) -> String {
    let mut out = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        out.push('A');
        if flags & (1 << 13) != 0 {
            // 'n' is not part of 'A'.
        }
    } else {
        for (c, f) in NOTIFY_CLASSES {
            if flags & f != 0 {
                out.push(*c as char);
            }
        }
    }
    if flags & NOTIFY_KEYSPACE != 0 {
        out.push('K');
    }
    if flags & NOTIFY_KEYEVENT != 0 {
        out.push('E');
    }
    if flags & NOTIFY_KEY_MISS != 0 {
        out.push('m');
    }
    out
}

impl Config {
    /// The built-in defaults, as `redis-server` with no arguments.
    pub fn new() -> Config {
        let values: Vec<String> = directives().iter().map(|d| d.default.to_string()).collect();
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
                maxmemory: 0,
                maxmemory_policy: "noeviction".into(),
                enable_protected_configs: Protected::No,
                enable_debug_command: Protected::No,
                save: vec![(3600, 1), (300, 100), (60, 10000)],
                encodings: Encodings::default(),
                min_replicas_to_write: 0,
                min_replicas_max_lag: 10,
                replica_read_only: true,
                replica_serve_stale_data: true,
            },
            values,
            unacted: Vec::new(),
            file: None,
            reading_file: false,
            save_loaded: false,
        };
        let dir = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let (dir_index, _) = lookup("dir").expect("dir directive");
        config.values[dir_index] = dir;
        config
    }

    pub fn databases(&self) -> usize {
        self.settings.databases
    }

    /// Whether Tessera acts on `name`.
    pub fn is_acted_on(name: &str) -> bool {
        lookup(name).is_some_and(|(_, d)| ACTED_ON.contains(&d.name))
    }

    /// The current value of a directive (or alias) as CONFIG GET prints it.
    pub fn get(&self, name: &str) -> Option<&str> {
        lookup(name).map(|(i, _)| self.values[i].as_str())
    }

    /// CONFIG GET: (name, value) pairs for several names or glob patterns,
    /// without duplicates. Hidden directives only match an exact name.
    pub fn get_many(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let dir_now = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let value_of = |i: usize| -> String {
            if directives()[i].name == "dir" {
                dir_now.clone()
            } else {
                self.values[i].clone()
            }
        };
        for pattern in patterns {
            let text = String::from_utf8_lossy(pattern);
            if !pattern.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
                if out.iter().any(|(n, _)| n.as_bytes() == *pattern) {
                    continue;
                }
                if let Some((i, _)) = lookup(&text) {
                    out.push((text.into_owned(), value_of(i)));
                }
                continue;
            }
            for (i, d) in directives().iter().enumerate() {
                if d.has(flag::HIDDEN) {
                    continue;
                }
                for name in std::iter::once(d.name).chain(d.alias) {
                    if out.iter().any(|(n, _)| n == name) {
                        continue;
                    }
                    if crate::glob::matches(pattern, name.as_bytes(), true) {
                        out.push((name.to_string(), value_of(i)));
                    }
                }
            }
        }
        out
    }

    /// Validates and sets one directive from its arguments (as split from a
    /// config line). Returns whether the value changed. Errors are Redis's
    /// messages.
    pub fn set(&mut self, name: &str, args: &[String]) -> Result<bool, String> {
        let (index, d) = lookup(name).ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        if !d.has(flag::MULTI_ARG) && args.len() != 1 {
            return Err("wrong number of arguments".into());
        }
        let value = match d.kind {
            Kind::Bool => match args[0].to_ascii_lowercase().as_str() {
                "yes" => "yes".to_string(),
                "no" => "no".to_string(),
                _ => return Err("argument must be 'yes' or 'no'".into()),
            },
            Kind::String => {
                let v = &args[0];
                if matches!(d.name, "dbfilename" | "appendfilename") && v.contains('/') {
                    return Err(if d.name == "dbfilename" {
                        "dbfilename can't be a path, just a filename".into()
                    } else {
                        "appendfilename can't be a path, just a filename".into()
                    });
                }
                if d.name == "proc-title-template" && !crate::proctitle::validate_template(v) {
                    return Err("template format is invalid or contains unknown variables".into());
                }
                if d.name == "appenddirname" && v.contains('/') {
                    return Err("appenddirname can't be a path, just a dirname".into());
                }
                v.clone()
            }
            Kind::Enum => set_enum(d, args)?,
            Kind::Signed | Kind::Unsigned => set_numeric(d, &args[0])?.1,
            Kind::Special => set_special(self, d, args)?,
        };
        if d.name == "save" {
            self.save_loaded = true;
        }
        if d.name == "dir" && self.reading_file {
            std::env::set_current_dir(&value).map_err(|e| os_error_text(&e))?;
        }
        let value = if d.name == "hz" {
            // Redis clamps hz to 1..500 rather than refusing.
            value.parse::<i64>().unwrap_or(10).clamp(1, 500).to_string()
        } else {
            value
        };
        let changed = self.values[index] != value;
        self.values[index] = value;
        self.refresh_setting(d.name);
        if !ACTED_ON.contains(&d.name) && !self.unacted.iter().any(|n| n == d.name) {
            self.unacted.push(d.name.to_string());
        }
        Ok(changed)
    }

    /// Updates the typed view of `name` from its stored value.
    fn refresh_setting(&mut self, name: &str) {
        let v = self.get(name).unwrap_or("").to_string();
        let s = &mut self.settings;
        match name {
            "port" => s.port = v.parse().unwrap_or(6379),
            "bind" => s.bind = v.split(' ').filter(|w| !w.is_empty()).map(String::from).collect(),
            "databases" => s.databases = v.parse().unwrap_or(16),
            "requirepass" => s.requirepass = (!v.is_empty()).then(|| v.as_bytes().to_vec()),
            "proto-max-bulk-len" => s.proto_max_bulk_len = v.parse().unwrap_or(512 << 20),
            "client-query-buffer-limit" => s.client_query_buffer_limit = v.parse().unwrap_or(1 << 30),
            "hz" => s.hz = v.parse().unwrap_or(10),
            "logfile" => s.logfile = v,
            "loglevel" => {
                s.loglevel = match v.as_str() {
                    "debug" => LogLevel::Debug,
                    "verbose" => LogLevel::Verbose,
                    "warning" => LogLevel::Warning,
                    _ => LogLevel::Notice,
                }
            }
            "daemonize" => s.daemonize = v == "yes",
            "shards" => s.shards = v.parse().unwrap_or(0),
            "pidfile" => s.pidfile = v,
            "timeout" => s.timeout_s = v.parse().unwrap_or(0),
            "maxclients" => s.maxclients = v.parse().unwrap_or(10000),
            "maxmemory" => s.maxmemory = v.parse().unwrap_or(0),
            "maxmemory-policy" => s.maxmemory_policy = v,
            "min-replicas-to-write" => s.min_replicas_to_write = v.parse().unwrap_or(0),
            "min-replicas-max-lag" => s.min_replicas_max_lag = v.parse().unwrap_or(10),
            "replica-read-only" => s.replica_read_only = v != "no",
            "replica-serve-stale-data" => s.replica_serve_stale_data = v != "no",
            "hash-max-listpack-entries" => s.encodings.hash_max_listpack_entries = v.parse().unwrap_or(512),
            "hash-max-listpack-value" => s.encodings.hash_max_listpack_value = v.parse().unwrap_or(64),
            "set-max-intset-entries" => s.encodings.set_max_intset_entries = v.parse().unwrap_or(512),
            "zset-max-listpack-entries" => s.encodings.zset_max_listpack_entries = v.parse().unwrap_or(128),
            "zset-max-listpack-value" => s.encodings.zset_max_listpack_value = v.parse().unwrap_or(64),
            "list-max-listpack-size" => s.encodings.list_max_listpack_size = v.parse().unwrap_or(-2),
            "list-compress-depth" => s.encodings.list_compress_depth = v.parse().unwrap_or(0),
            "enable-protected-configs" | "enable-debug-command" => {
                let p = match v.as_str() {
                    "yes" => Protected::Yes,
                    "local" => Protected::Local,
                    _ => Protected::No,
                };
                if name == "enable-protected-configs" {
                    s.enable_protected_configs = p;
                } else {
                    s.enable_debug_command = p;
                }
            }
            "tracking-table-max-keys" => crate::tracking::set_max_keys(v.parse().unwrap_or(1_000_000)),
            "save" => {
                let n: Vec<i64> = v.split(' ').filter_map(|w| w.parse().ok()).collect();
                s.save = n.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0], c[1])).collect();
            }
            _ => {}
        }
    }

    /// Loads `text` in redis.conf syntax (a file's contents followed by the
    /// command line's directives).
    pub fn load_text(&mut self, text: &str) -> Result<(), ConfigError> {
        self.reading_file = true;
        let result = self.load_lines(text);
        self.reading_file = false;
        result?;
        if !self.settings.logfile.is_empty() {
            if let Err(e) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.settings.logfile)
            {
                return Err(ConfigError {
                    line_number: 0,
                    line: String::new(),
                    message: format!("Can't open the log file: {}", os_error_text(&e)),
                });
            }
        }
        Ok(())
    }

    fn load_lines(&mut self, text: &str) -> Result<(), ConfigError> {
        for (index, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
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
            if let Some((_, d)) = lookup(&name) {
                let args: Vec<String> = if d.has(flag::MULTI_ARG) && words.len() == 2 && !words[1].is_empty() {
                    split_config_line(&words[1])
                        .ok_or_else(|| error("Unbalanced quotes in configuration line".into()))?
                } else {
                    words[1..].to_vec()
                };
                if !d.has(flag::MULTI_ARG) && words.len() != 2 {
                    return Err(error("wrong number of arguments".into()));
                }
                self.set(&name, &args).map_err(error)?;
                continue;
            }
            match (name.as_str(), words.len()) {
                ("list-max-ziplist-entries" | "list-max-ziplist-value" | "lua-replicate-commands", 2) => {}
                ("include", 2) => {
                    let path = &words[1];
                    let included = std::fs::read_to_string(path).map_err(|e| {
                        error(format!(
                            "Fatal error, can't open config file '{path}': {}",
                            os_error_text(&e)
                        ))
                    })?;
                    self.load_lines(&included)?;
                }
                _ => return Err(error("Bad directive or wrong number of arguments".into())),
            }
        }
        Ok(())
    }

    /// Every directive and alias with the line CONFIG REWRITE writes for it
    /// (None: keep it out of the file), and whether it differs from the
    /// default (then it is written even when absent from the file).
    fn rewrite_lines(&self) -> Vec<(&'static str, Vec<String>, bool)> {
        let mut out = Vec::new();
        for (i, d) in directives().iter().enumerate() {
            let value = &self.values[i];
            let default = d.default;
            let (lines, force): (Vec<String>, bool) = match d.kind {
                Kind::Bool | Kind::Enum => (vec![format!("{} {}", d.name, value)], value != default),
                Kind::String => {
                    if value.is_empty() && default.is_empty() {
                        (Vec::new(), false)
                    } else {
                        (vec![format!("{} {}", d.name, repr(value.as_bytes()))], value != default)
                    }
                }
                Kind::Signed | Kind::Unsigned => {
                    let line = if d.numflags & numflag::PERCENT != 0 && value.ends_with('%') {
                        format!("{} {}", d.name, value)
                    } else if d.numflags & numflag::MEMORY != 0 {
                        let n: i128 = value.parse().unwrap_or(0);
                        format!("{} {}", d.name, format_memory(n))
                    } else {
                        format!("{} {}", d.name, value)
                    };
                    (vec![line], value != default)
                }
                Kind::Special => match d.name {
                    "dir" => {
                        let dir = std::env::current_dir()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default();
                        (vec![format!("dir {}", repr(dir.as_bytes()))], true)
                    }
                    "save" => {
                        let n: Vec<&str> = value.split(' ').filter(|w| !w.is_empty()).collect();
                        if n.is_empty() {
                            (vec!["save \"\"".to_string()], true)
                        } else {
                            (n.chunks(2).map(|c| format!("save {} {}", c[0], c[1])).collect(), true)
                        }
                    }
                    "replicaof" => {
                        if value.is_empty() {
                            (Vec::new(), false)
                        } else {
                            (vec![format!("replicaof {value}")], true)
                        }
                    }
                    "notify-keyspace-events" => (
                        vec![format!("notify-keyspace-events {}", repr(value.as_bytes()))],
                        !value.is_empty(),
                    ),
                    "client-output-buffer-limit" => {
                        let words: Vec<&str> = value.split(' ').collect();
                        let defaults: Vec<&str> = default.split(' ').collect();
                        let mut lines = Vec::new();
                        let mut force = false;
                        for (c, dc) in words.chunks(4).zip(defaults.chunks(4)) {
                            if c != dc {
                                force = true;
                            }
                            let hard: i128 = c[1].parse().unwrap_or(0);
                            let soft: i128 = c[2].parse().unwrap_or(0);
                            lines.push(format!(
                                "client-output-buffer-limit {} {} {} {}",
                                c[0],
                                format_memory(hard),
                                format_memory(soft),
                                c[3]
                            ));
                        }
                        (lines, force)
                    }
                    "bind" => {
                        let words: Vec<String> = value
                            .split(' ')
                            .filter(|w| !w.is_empty())
                            .map(|w| w.to_string())
                            .collect();
                        if words.is_empty() {
                            (vec!["bind \"\"".to_string()], value != default)
                        } else {
                            (vec![format!("bind {}", words.join(" "))], value != default)
                        }
                    }
                    _ => (vec![format!("{} {}", d.name, value)], value != default),
                },
            };
            out.push((d.name, lines, force));
        }
        out
    }

    /// CONFIG REWRITE: rewrites `path` keeping comments and the order of the
    /// lines, updating directives in place, blanking stale duplicates and
    /// appending changed directives after Redis's signature line.
    pub fn rewrite(&self, path: &str) -> std::io::Result<()> {
        const SIGNATURE: &str = "# Generated by CONFIG REWRITE";
        let old = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut lines: Vec<String> = Vec::new();
        let mut option_lines: HashMap<String, Vec<usize>> = HashMap::new();
        let mut needs_signature = true;
        if !old.is_empty() {
            for raw in old.split('\n') {
                let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n')).to_string();
                if line.is_empty() || line.starts_with('#') {
                    if line == SIGNATURE {
                        needs_signature = false;
                    }
                    lines.push(line);
                    continue;
                }
                let words = split_config_line(&line);
                let known = words.as_ref().and_then(|w| w.first()).and_then(|n| {
                    let n = n.to_ascii_lowercase();
                    if lookup(&n).is_some()
                        || matches!(n.as_str(), "include" | "rename-command" | "user" | "loadmodule")
                    {
                        Some(lookup(&n).map_or(n, |(_, d)| d.name.to_string()))
                    } else {
                        None
                    }
                });
                match known {
                    Some(option) => {
                        option_lines.entry(option).or_default().push(lines.len());
                        lines.push(line);
                    }
                    None => lines.push(format!("# ??? {line}")),
                }
            }
            // split('\n') yields a last empty element for a trailing newline.
            if lines.last().is_some_and(|l| l.is_empty()) && old.ends_with('\n') {
                lines.pop();
            }
        }
        let mut processed: Vec<&str> = Vec::new();
        for (name, new_lines, force) in self.rewrite_lines() {
            processed.push(name);
            for line in new_lines {
                let slot = option_lines
                    .get_mut(name)
                    .filter(|l| !l.is_empty())
                    .map(|l| l.remove(0));
                match slot {
                    Some(at) => lines[at] = line,
                    None if force => {
                        if needs_signature {
                            lines.push(SIGNATURE.to_string());
                            needs_signature = false;
                        }
                        lines.push(line);
                    }
                    None => {}
                }
            }
        }
        // Lines of rewritten options not reused are stale (old duplicates).
        for (option, remaining) in option_lines {
            if processed.contains(&option.as_str()) {
                for at in remaining {
                    lines[at] = String::new();
                }
            }
        }
        let mut content = String::new();
        let mut was_empty = false;
        for line in &lines {
            if line.is_empty() {
                if was_empty {
                    continue;
                }
                was_empty = true;
            } else {
                was_empty = false;
            }
            content.push_str(line);
            content.push('\n');
        }
        let tmp = format!("{path}.tmp-{}", std::process::id());
        std::fs::write(&tmp, content)?;
        std::fs::rename(&tmp, path)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// An OS error's text without Rust's " (os error N)" suffix, as strerror.
pub fn os_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_string()
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

/// Turns `redis-server`-style arguments into (config file, read config from
/// stdin, directive text) exactly as Redis's main() does: the first argument
/// is the config file unless it starts with '-'; `--name` starts a directive
/// (a lone `--save` followed by another option means `save ""`); other
/// arguments are the directive's values, quoted.
pub fn args_to_text(args: &[String]) -> Result<(Option<String>, String), String> {
    let mut file = None;
    let mut j = 0;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            file = Some(first.clone());
            j = 1;
        }
    }
    let mut options = String::new();
    let mut handled_last = true;
    while j < args.len() {
        let arg = &args[j];
        if arg == "-" && (j == 0 || j == args.len() - 1) {
            file = Some("-".into());
        } else if handled_last && arg.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&arg[2..]);
            options.push(' ');
            let words = split_config_line(arg).map_or(1, |w| w.len());
            if words == 1 {
                handled_last = false;
                let next_is_option = j + 1 < args.len() && args[j + 1].starts_with("--");
                if arg.eq_ignore_ascii_case("--save") && (next_is_option || j == args.len() - 1) {
                    options.push_str("\"\"");
                    handled_last = next_is_option || handled_last;
                }
            } else {
                handled_last = true;
            }
        } else {
            options.push_str(&repr(arg.as_bytes()));
            options.push(' ');
            handled_last = true;
        }
        j += 1;
    }
    Ok((file, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn file_and_arguments() {
        let mut config = Config::new();
        let (file, text) = args_to_text(&s(&["--port", "7000", "--save", "", "--shards", "2"])).unwrap();
        assert!(file.is_none());
        config.load_text(&text).unwrap();
        assert_eq!(config.settings.port, 7000);
        assert_eq!(config.settings.shards, 2);
        assert_eq!(config.get("save"), Some(""));
        assert!(!config.unacted.contains(&"save".to_string()));
    }

    #[test]
    fn command_line_like_redis() {
        let (_, text) = args_to_text(&s(&["--port", "6379", "6380"])).unwrap();
        let err = Config::new().load_text(&text).unwrap_err();
        assert_eq!(err.line, "port \"6379\" \"6380\"");
        assert_eq!(err.message, "wrong number of arguments");
        let (_, text) = args_to_text(&s(&["--save", "--loglevel", "verbose"])).unwrap();
        let mut config = Config::new();
        config.load_text(&text).unwrap();
        assert_eq!(config.get("save"), Some(""));
        assert_eq!(config.get("loglevel"), Some("verbose"));
        let (_, text) = args_to_text(&s(&["--maxmemory 700mb", "--maxmemory-policy volatile-lru"])).unwrap();
        let mut config = Config::new();
        config.load_text(&text).unwrap();
        assert_eq!(config.get("maxmemory"), Some("734003200"));
        assert_eq!(config.get("maxmemory-policy"), Some("volatile-lru"));
    }

    #[test]
    fn errors_name_the_line() {
        let mut config = Config::new();
        let err = config.load_text("port 1\nnosuchdirective 5\n").unwrap_err();
        assert_eq!(err.line_number, 2);
        assert_eq!(err.message, "Bad directive or wrong number of arguments");
        let err = config.load_text("port 99999\n").unwrap_err();
        assert_eq!(err.message, "argument must be between 0 and 65535 inclusive");
        let err = config.load_text("loglevel nothing\n").unwrap_err();
        assert_eq!(
            err.message,
            "argument(s) must be one of the following: debug, verbose, notice, warning"
        );
    }

    #[test]
    fn typed_values_as_redis() {
        let mut c = Config::new();
        assert!(c.set("maxmemory-clients", &s(&["10%"])).is_ok());
        assert_eq!(c.get("maxmemory-clients"), Some("10%"));
        assert_eq!(
            c.set("maxmemory-clients", &s(&["200%"])).unwrap_err(),
            "percentage argument must be less or equal to 100"
        );
        c.set("hash-max-ziplist-entries", &s(&["21"])).unwrap();
        assert_eq!(c.get("hash-max-listpack-entries"), Some("21"));
        c.set("shutdown-on-sigint", &s(&["nosave", "force", "now"])).unwrap();
        assert_eq!(c.get("shutdown-on-sigint"), Some("nosave now force"));
        c.set("hz", &s(&["1000"])).unwrap();
        assert_eq!(c.get("hz"), Some("500"));
        assert_eq!(
            c.set("maxclients", &s(&["0"])).unwrap_err(),
            "argument must be between 1 and 4294967295 inclusive"
        );
        c.set("notify-keyspace-events", &s(&["KEA"])).unwrap();
        assert_eq!(c.get("notify-keyspace-events"), Some("AKE"));
        c.set("oom-score-adj", &s(&["relative"])).unwrap();
        assert_eq!(c.get("oom-score-adj"), Some("yes"));
        c.set("unixsocketperm", &s(&["700"])).unwrap();
        assert_eq!(c.get("unixsocketperm"), Some("700"));
        c.set("client-output-buffer-limit", &s(&["pubsub", "1mb", "0", "10"]))
            .unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit"),
            Some("normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 0 10")
        );
        assert!(c.set("save", &s(&["100"])).is_err());
    }

    #[test]
    fn first_save_in_file_replaces_defaults() {
        let mut c = Config::new();
        c.load_text("save 900 1\n").unwrap();
        assert_eq!(c.get("save"), Some("900 1"));
        c.load_text("save 100 100\n").unwrap();
        assert_eq!(c.get("save"), Some("900 1 100 100"));
    }

    #[test]
    fn memory_values() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(format_memory(1 << 20), "1mb");
        assert_eq!(format_memory(1000), "1000");
    }

    #[test]
    fn rewrite_keeps_comments_and_appends() {
        let dir = std::env::temp_dir().join(format!("tessera-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.conf");
        std::fs::write(&path, "# my comment\nport 7000\nmaxmemory 1mb\nsave 10 1\nsave 20 2\n").unwrap();
        let mut c = Config::new();
        c.load_text(&std::fs::read_to_string(&path).unwrap()).unwrap();
        c.set("maxmemory", &s(&["2mb"])).unwrap();
        c.set("save", &s(&["30", "3"])).unwrap();
        c.set("hz", &s(&["20"])).unwrap();
        c.rewrite(path.to_str().unwrap()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# my comment\nport 7000\nmaxmemory 2mb\nsave 30 3\n"),
            "{text}"
        );
        assert!(text.contains("# Generated by CONFIG REWRITE\n"), "{text}");
        assert!(text.contains("\nhz 20\n"), "{text}");
        assert!(!text.contains("save 20 2"), "{text}");
        let mut again = Config::new();
        again.load_text(&text).unwrap();
        assert_eq!(again.get("maxmemory"), Some("2097152"));
        assert_eq!(again.get("save"), Some("30 3"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
