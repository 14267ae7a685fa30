//! Process title, as Redis 7.0 sets it (`set-proc-title`, `proc-title-template`).
//!
//! Redis rewrites the memory holding its original `argv` strings so that
//! `/proc/<pid>/cmdline` (and so `ps`) shows a title rendered from the
//! `proc-title-template` config. This module does the same on Linux/glibc:
//!
//! * [`init`] runs once at the very start of `main`. It locates the memory of
//!   the original argument and environment strings (the kernel reports it in
//!   `/proc/self/stat`), moves everything that still points there (the `argv`
//!   array that `std::env::args` reads, libc's `environ`, glibc's
//!   `program_invocation_name`) onto leaked heap copies, and remembers the
//!   region. When anything does not look exactly as expected it changes
//!   nothing and [`set_title`] stays a no-op.
//! * [`expand`] and [`validate_template`] implement the template language
//!   (`sdstemplate` plus `redisProcTitleGetVariable` in Redis).
//! * [`set_title`] writes a title into the region as Redis's bundled
//!   `setproctitle` does: at most 255 bytes, the rest zeroed. When the title
//!   overruns the argument strings into the environment strings, Linux
//!   (4.18+) notices that the last argument byte is no longer NUL and
//!   reports the title up to its NUL instead of the raw argument area.

use std::sync::{Mutex, Once};

/// Redis's `setproctitle` formats into a 256 byte buffer: 255 bytes of
/// title at most.
const MAX_TITLE: usize = 255;

/// Values of the template variables. `listen_addr` and `server_mode` are
/// taken as they are (see [`format_listen_addr`] for Redis's
/// `{listen-addr}`; `server_mode` is `""`, `"[cluster]"` or `"[sentinel]"`);
/// an empty `config_file` means no config file and renders as `-`, as Redis
/// does.
pub struct TitleVars<'a> {
    pub title: &'a str,
    pub listen_addr: &'a str,
    pub server_mode: &'a str,
    pub port: u16,
    pub tls_port: u16,
    pub unixsocket: &'a str,
    pub config_file: &'a str,
}

/// The value Redis gives `{listen-addr}`: the first `bind` address (`*`
/// when there is none) and the TCP port (the TLS port when the TCP port is
/// 0), or `unixsocket:<path>` when neither port is open. As in Redis on
/// glibc, no unix socket at all renders as `unixsocket:(null)`.
pub fn format_listen_addr(first_bind: Option<&str>, port: u16, tls_port: u16, unixsocket: &str) -> String {
    if port != 0 || tls_port != 0 {
        let port = if port != 0 { port } else { tls_port };
        format!("{}:{port}", first_bind.unwrap_or("*"))
    } else if unixsocket.is_empty() {
        "unixsocket:(null)".to_string()
    } else {
        format!("unixsocket:{unixsocket}")
    }
}

/// Renders `template` as Redis's `expandProcTitleTemplate`: `{name}` is
/// replaced by the variable's value, `{{` is a literal `{`, a `}` outside a
/// variable is literal, and the result is trimmed of spaces at both ends.
/// `None` when the template names an unknown (or empty) variable or ends
/// inside a variable. As the C code sees strings, the template and every
/// value end at their first NUL byte, if any.
pub fn expand(template: &str, vars: &TitleVars) -> Option<String> {
    let mut rest = until_nul(template);
    let mut out = String::with_capacity(rest.len() + vars.title.len());
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if after.is_empty() {
            return None;
        }
        if let Some(tail) = after.strip_prefix('{') {
            out.push('{');
            rest = tail;
            continue;
        }
        let close = after.find('}')?;
        out.push_str(until_nul(&variable(&after[..close], vars)?));
        rest = &after[close + 1..];
    }
    Some(out.trim_matches(' ').to_string())
}

/// Redis's `validateProcTitleTemplate`: the template must expand (known
/// variables, balanced braces) to something non-empty after trimming when
/// `{title}` is empty. An empty template is therefore invalid, and so is
/// `{title}` alone.
///
/// Redis expands with the live server state, so `{server-mode}` and
/// `{unixsocket}` count as empty or not depending on the configuration.
/// This function assumes a server neither in cluster nor sentinel mode and
/// without a unix socket (Tessera's case); `{listen-addr}`, `{port}`,
/// `{tls-port}` and `{config-file}` are never empty in Redis. For the exact
/// state-dependent check use `expand` with an empty `title` and test the
/// result for non-emptiness.
pub fn validate_template(template: &str) -> bool {
    let vars = TitleVars {
        title: "",
        listen_addr: "*:6379",
        server_mode: "",
        port: 6379,
        tls_port: 0,
        unixsocket: "",
        config_file: "",
    };
    expand(template, &vars).is_some_and(|title| !title.is_empty())
}

fn variable(name: &str, vars: &TitleVars) -> Option<String> {
    Some(match name {
        "title" => vars.title.to_string(),
        "listen-addr" => vars.listen_addr.to_string(),
        "server-mode" => vars.server_mode.to_string(),
        "config-file" if vars.config_file.is_empty() => "-".to_string(),
        "config-file" => vars.config_file.to_string(),
        "port" => vars.port.to_string(),
        "tls-port" => vars.tls_port.to_string(),
        "unixsocket" => vars.unixsocket.to_string(),
        _ => return None,
    })
}

/// The part of `s` a C function sees: everything before the first NUL.
fn until_nul(s: &str) -> &str {
    s.find('\0').map_or(s, |end| &s[..end])
}

/// The saved memory of the original argument and environment strings.
struct Region {
    base: *mut u8,
    len: usize,
    /// Length of the original `argv[0]`: the offset of its NUL.
    argv0_len: usize,
    /// Whether the whole region was zeroed already (the first title).
    reset: bool,
}

// SAFETY: `base` points at process-wide memory that nothing but this module
// uses after `init` (everything that pointed into it was moved out), and
// every access goes through the `REGION` mutex.
unsafe impl Send for Region {}

static REGION: Mutex<Option<Region>> = Mutex::new(None);
static INIT: Once = Once::new();

/// The configuration file's absolute path, for `{config-file}`.
static CONFIG_FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Notes the configuration file (before reading it: a `dir` directive
/// changes the working directory).
pub fn remember_config_file(path: &str) {
    let absolute = std::path::absolute(path).map_or_else(|_| path.to_string(), |p| p.display().to_string());
    let _ = CONFIG_FILE.set(absolute);
}

/// Shows the title `proc-title-template` renders for this server, as
/// Redis's `redisSetProcTitle`: `{title}` is the executable as started,
/// `{listen-addr}` the first bind address and port.
pub fn apply_config(config: &crate::config::Config) {
    let template = config
        .get("proc-title-template")
        .unwrap_or("{title} {listen-addr} {server-mode}");
    let first_bind = config.get("bind").and_then(|b| b.split_whitespace().next());
    let port = config.get("port").and_then(|p| p.parse().ok()).unwrap_or(0);
    let unixsocket = config.get("unixsocket").unwrap_or("");
    let title = std::env::args().next().unwrap_or_default();
    let listen_addr = format_listen_addr(first_bind, port, 0, unixsocket);
    let vars = TitleVars {
        title: &title,
        listen_addr: &listen_addr,
        server_mode: "",
        port,
        tls_port: 0,
        unixsocket,
        config_file: CONFIG_FILE.get().map_or("", |f| f.as_str()),
    };
    if let Some(rendered) = expand(template, &vars) {
        set_title(&rendered);
    }
}

/// Prepares the process for [`set_title`]. Call it once, first thing in
/// `main`, before any thread is spawned and before anything changes the
/// environment: it rewrites pointers that libc's `environ` and the `argv`
/// array read by `std::env::args` hold, which is only sound while no other
/// thread can read them. Later calls do nothing. `std::env::args`,
/// `std::env::var` and friends keep working unchanged afterwards.
pub fn init() {
    INIT.call_once(|| {
        if let Some(region) = sys::take_over_region() {
            *lock_region() = Some(region);
        }
    });
}

/// Shows `title` as the process title (truncated to 255 bytes and to the
/// region), as Redis's `setproctitle("%s", title)`. A no-op when [`init`]
/// was not called or found nothing it trusts, and, as in Redis, for an
/// empty title.
pub fn set_title(title: &str) {
    let mut guard = lock_region();
    let Some(region) = guard.as_mut() else {
        return;
    };
    // SAFETY: `init` checked that [base, base + len) is the argument and
    // environment string area of our own initial stack, which stays mapped
    // for the life of the process, and moved every pointer into it (argv
    // slots, environ entries, program_invocation_name) elsewhere, so no
    // other reference to this memory exists; the mutex guard serialises us.
    let memory = unsafe { std::slice::from_raw_parts_mut(region.base, region.len) };
    write_title(memory, region.argv0_len, &mut region.reset, until_nul(title).as_bytes());
}

fn lock_region() -> std::sync::MutexGuard<'static, Option<Region>> {
    REGION.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The byte-level effect of Redis's bundled `setproctitle`: zero the whole
/// region the first time (later only the 256 bytes a title can touch), copy
/// the title, and leave its markers where `argv[0]` used to end: `.` when
/// the title is shorter than the original `argv[0]`, a space (followed by a
/// NUL) when it has exactly its length.
fn write_title(memory: &mut [u8], argv0_len: usize, reset: &mut bool, title: &[u8]) {
    if memory.is_empty() || title.is_empty() || argv0_len >= memory.len() {
        return;
    }
    if *reset {
        let dirty = memory.len().min(MAX_TITLE + 1);
        memory[..dirty].fill(0);
    } else {
        memory.fill(0);
        *reset = true;
    }
    let len = title.len().min(MAX_TITLE).min(memory.len() - 1);
    memory[..len].copy_from_slice(&title[..len]);
    if len < argv0_len {
        memory[argv0_len] = b'.';
    } else if len == argv0_len && len + 1 < memory.len() {
        memory[argv0_len] = b' ';
        memory[len + 1] = 0;
    }
}

/// The fields of `/proc/self/stat` that locate the initial stack contents.
#[derive(Debug, PartialEq, Eq)]
struct StackLayout {
    /// Where the initial stack pointer was: the address of `argc`, followed
    /// by the `argv` pointer array.
    start_stack: usize,
    arg_start: usize,
    arg_end: usize,
    env_start: usize,
    env_end: usize,
}

/// Largest region this module accepts; anything bigger is treated as bogus.
const MAX_REGION: usize = 1 << 30;

impl StackLayout {
    /// Parses `/proc/<pid>/stat`: fields 28 (startstack) and 48 to 51
    /// (arg_start, arg_end, env_start, env_end), counted from 1. The second
    /// field, `(comm)`, may itself hold spaces and parentheses, so fields are
    /// counted from the last `)`, after which field 3 starts.
    fn parse(stat: &str) -> Option<StackLayout> {
        let after_comm = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_comm.split_ascii_whitespace().collect();
        let field = |number: usize| -> Option<usize> { fields.get(number - 3)?.parse().ok() };
        Some(StackLayout {
            start_stack: field(28)?,
            arg_start: field(48)?,
            arg_end: field(49)?,
            env_start: field(50)?,
            env_end: field(51)?,
        })
    }

    /// Whether the layout is the one `execve` produces: non-empty argument
    /// strings directly followed by the environment strings, above the
    /// aligned `argc` word.
    fn is_plausible(&self) -> bool {
        self.start_stack != 0
            && self.start_stack.is_multiple_of(std::mem::align_of::<usize>())
            && self.start_stack < self.arg_start
            && self.arg_start < self.arg_end
            && self.arg_end == self.env_start
            && self.env_start <= self.env_end
            && self.env_end - self.arg_start <= MAX_REGION
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod sys {
    use super::{Region, StackLayout};
    use std::ffi::{c_char, CStr};
    use std::mem::size_of;
    use std::os::unix::ffi::OsStrExt;

    extern "C" {
        // glibc's copies of argv[0] and of its basename (errno.h); they
        // point into argv[0]'s memory at start-up.
        static mut program_invocation_name: *mut c_char;
        static mut program_invocation_short_name: *mut c_char;
    }

    /// Duplicates a C string onto the heap, for good (like `strdup` whose
    /// result is never freed).
    ///
    /// # Safety
    /// `p` must point at a NUL-terminated string.
    unsafe fn leak_copy(p: *const c_char) -> *mut c_char {
        // SAFETY: the caller guarantees `p` is a valid C string.
        unsafe { CStr::from_ptr(p) }.to_owned().into_raw()
    }

    /// Locates the argument and environment strings, moves every pointer
    /// into them elsewhere and returns the region, or changes nothing and
    /// returns `None` when the process does not look as expected.
    pub(super) fn take_over_region() -> Option<Region> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let layout = StackLayout::parse(&stat)?;
        if !layout.is_plausible() {
            return None;
        }
        let in_region = |p: usize| p >= layout.arg_start && p < layout.env_end;
        let arg_len = layout.arg_end - layout.arg_start;
        let len = layout.env_end - layout.arg_start;
        let base = layout.arg_start as *mut u8;

        // Phase 1: check everything, change nothing.
        // SAFETY: the kernel reports [arg_start, env_end) as the argument
        // and environment strings it copied onto our initial stack, which
        // stays mapped for the life of the process; nothing writes to it
        // while this shared view lives (init runs before other threads).
        let strings = unsafe { std::slice::from_raw_parts(base as *const u8, len) };
        let (arg_bytes, env_bytes) = strings.split_at(arg_len);
        if arg_bytes.last() != Some(&0) || env_bytes.last().is_some_and(|&b| b != 0) {
            return None;
        }
        // Offsets of every argument: each one ends with a NUL.
        let mut arg_offsets = vec![0];
        arg_offsets.extend(
            arg_bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == 0)
                .map(|(i, _)| i + 1),
        );
        arg_offsets.pop();
        let argc = arg_offsets.len();
        let argv0_len = arg_bytes.iter().position(|&b| b == 0)?;

        // argc, argv[0..argc] and argv's NULL must sit below the strings.
        let words_needed = argc.checked_add(2)?.checked_mul(size_of::<usize>())?;
        if layout.arg_start - layout.start_stack < words_needed {
            return None;
        }
        let stack = layout.start_stack as *const usize;
        // SAFETY: start_stack is where the kernel left the initial stack
        // pointer, i.e. the `argc` word; it is aligned and the words read
        // here lie between it and arg_start, inside the same stack mapping.
        let stack_argc = unsafe { stack.read() };
        if stack_argc != argc {
            return None;
        }
        // SAFETY: as above, argv follows argc and stays below arg_start.
        let argv = unsafe { stack.add(1) } as *mut *mut c_char;
        for (i, &offset) in arg_offsets.iter().enumerate() {
            // SAFETY: i < argc, within the words checked above.
            if unsafe { argv.add(i).read() } as usize != layout.arg_start + offset {
                return None;
            }
        }
        // SAFETY: slot argc is the last of the words checked above.
        if !unsafe { argv.add(argc).read() }.is_null() {
            return None;
        }
        // The arguments the standard library reports must be these strings.
        let std_args: Vec<_> = std::env::args_os().collect();
        if std_args.len() != argc
            || std_args.iter().zip(&arg_offsets).any(|(arg, &offset)| {
                let bytes = arg.as_bytes();
                arg_bytes.get(offset..offset + bytes.len()) != Some(bytes)
                    || arg_bytes.get(offset + bytes.len()) != Some(&0)
            })
        {
            return None;
        }

        // Environment entries living in the region must be environment
        // strings (not argument strings).
        // SAFETY: reading the pointer value of libc's `environ` (no
        // reference is formed); no other thread runs yet.
        let environ = unsafe { libc::environ };
        let mut env_slots = Vec::new();
        if !environ.is_null() {
            for i in 0.. {
                // SAFETY: environ is libc's NULL-terminated array and we stop
                // at its NULL.
                let slot = unsafe { environ.add(i) };
                // SAFETY: `slot` is an element of that array.
                let entry = unsafe { slot.read() } as usize;
                if entry == 0 {
                    break;
                }
                if in_region(entry) {
                    if entry < layout.env_start {
                        return None;
                    }
                    env_slots.push(slot);
                }
            }
        }

        // Phase 2: move every pointer out of the region. Nothing below can
        // fail, so the process is either fully converted or untouched.
        let mut new_argv0 = std::ptr::null_mut();
        for i in 0..argc {
            // SAFETY: argv[i] was checked to be the start of the i-th
            // argument string (NUL-terminated in the region); the slot is in
            // the writable stack and nobody else reads it concurrently.
            unsafe {
                let slot = argv.add(i);
                let copy = leak_copy(slot.read());
                slot.write(copy);
                if i == 0 {
                    new_argv0 = copy;
                }
            }
        }
        for slot in env_slots {
            // SAFETY: the entry is a NUL-terminated string in the
            // environment area (which ends with a NUL); the slot belongs to
            // libc's environ array, which no other thread touches yet.
            unsafe { slot.write(leak_copy(slot.read())) };
        }
        // Keep glibc's program names valid, pointing into the new argv[0]
        // when they pointed into the old one (the usual case).
        let relocate = |p: *mut c_char| -> *mut c_char {
            let address = p as usize;
            if address >= layout.arg_start && address <= layout.arg_start + argv0_len {
                // SAFETY: new_argv0 is a copy of argv[0] (argc >= 1), so the
                // same offset stays within that copy.
                unsafe { new_argv0.add(address - layout.arg_start) }
            } else if in_region(address) {
                // SAFETY: a pointer into the region points into one of its
                // NUL-terminated strings (the region ends with a NUL).
                unsafe { leak_copy(p) }
            } else {
                p
            }
        };
        // SAFETY: plain reads and writes of glibc's globals (no references
        // formed); no other thread runs yet.
        unsafe {
            program_invocation_name = relocate(program_invocation_name);
            program_invocation_short_name = relocate(program_invocation_short_name);
        }

        Some(Region {
            base,
            len,
            argv0_len,
            reset: false,
        })
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod sys {
    use super::Region;

    /// Other systems: no process title support, `set_title` stays a no-op.
    pub(super) fn take_over_region() -> Option<Region> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>() -> TitleVars<'a> {
        TitleVars {
            title: "/path/redis-server",
            listen_addr: "127.0.0.1:6379",
            server_mode: "",
            port: 6379,
            tls_port: 0,
            unixsocket: "",
            config_file: "/x/redis.conf",
        }
    }

    #[test]
    fn default_template() {
        let template = "{title} {listen-addr} {server-mode}";
        assert!(validate_template(template));
        assert_eq!(
            expand(template, &vars()).as_deref(),
            Some("/path/redis-server 127.0.0.1:6379")
        );
        let cluster = TitleVars {
            server_mode: "[cluster]",
            ..vars()
        };
        assert_eq!(
            expand(template, &cluster).as_deref(),
            Some("/path/redis-server 127.0.0.1:6379 [cluster]")
        );
    }

    #[test]
    fn all_variables_and_literal_text() {
        let template = "TEST {title} {listen-addr} {port} {tls-port} {unixsocket} {config-file}";
        assert!(validate_template(template));
        assert_eq!(
            expand(template, &vars()).as_deref(),
            Some("TEST /path/redis-server 127.0.0.1:6379 6379 0  /x/redis.conf")
        );
        let socket = TitleVars {
            unixsocket: "/tmp/redis.sock",
            config_file: "",
            tls_port: 6380,
            ..vars()
        };
        assert_eq!(
            expand(template, &socket).as_deref(),
            Some("TEST /path/redis-server 127.0.0.1:6379 6379 6380 /tmp/redis.sock -")
        );
    }

    #[test]
    fn invalid_templates() {
        for template in [
            "{invalid-var}",
            "{title",
            "{title} {",
            "{",
            "x{}",
            "{TITLE}",
            "{ title}",
            "{ti{tle}",
            "{title} {port",
        ] {
            assert!(!validate_template(template), "{template:?} should be invalid");
            assert_eq!(expand(template, &vars()), None, "{template:?}");
        }
    }

    #[test]
    fn empty_after_trimming_is_invalid() {
        // Validation expands with an empty title.
        for template in [
            "",
            "   ",
            "{title}",
            " {title} ",
            "{server-mode}",
            "{unixsocket}",
            "{title}{server-mode}",
        ] {
            assert!(!validate_template(template), "{template:?} should be invalid");
        }
        // Only spaces are trimmed, as sdstrim(res, " ").
        assert!(validate_template("\t"));
        assert_eq!(expand(" \t{port}\t ", &vars()).as_deref(), Some("\t6379\t"));
        for template in [
            "{port}",
            "{tls-port}",
            "{listen-addr}",
            "{config-file}",
            "x",
            "{title}x",
        ] {
            assert!(validate_template(template), "{template:?} should be valid");
        }
        assert_eq!(expand("  {title}  ", &vars()).as_deref(), Some("/path/redis-server"));
    }

    #[test]
    fn braces() {
        // "{{" is a literal "{", a lone "}" is literal, as sdstemplate.
        assert_eq!(
            expand("v1={{{port}} {{} v2={tls-port}", &vars()).as_deref(),
            Some("v1={6379} {} v2=0")
        );
        assert_eq!(expand("}}x}", &vars()).as_deref(), Some("}}x}"));
        assert!(validate_template("{{"));
        assert_eq!(expand("{{title}", &vars()).as_deref(), Some("{title}"));
    }

    #[test]
    fn nul_bytes_end_strings() {
        assert_eq!(expand("{port}\0{bogus", &vars()).as_deref(), Some("6379"));
        let title = TitleVars {
            title: "abc\0def",
            ..vars()
        };
        assert_eq!(expand("{title}!", &title).as_deref(), Some("abc!"));
    }

    #[test]
    fn listen_addr_as_redis() {
        assert_eq!(format_listen_addr(Some("127.0.0.1"), 6379, 0, ""), "127.0.0.1:6379");
        assert_eq!(format_listen_addr(None, 6379, 6380, "/s"), "*:6379");
        assert_eq!(format_listen_addr(Some("-::1"), 0, 6380, ""), "-::1:6380");
        assert_eq!(format_listen_addr(None, 0, 0, "/tmp/r.sock"), "unixsocket:/tmp/r.sock");
        assert_eq!(format_listen_addr(None, 0, 0, ""), "unixsocket:(null)");
    }

    #[test]
    fn stat_parsing() {
        // A comm with spaces and parentheses; fields numbered from 1.
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[28 - 3] = "1000".into();
        let stat = format!("42 (a) b (c)) {}\n", fields.join(" "));
        assert_eq!(
            StackLayout::parse(&stat),
            Some(StackLayout {
                start_stack: 1000,
                arg_start: 48,
                arg_end: 49,
                env_start: 50,
                env_end: 51,
            })
        );
        assert_eq!(StackLayout::parse("42 (x) R 1 2 3"), None);
        assert_eq!(StackLayout::parse("no parenthesis"), None);
    }

    #[test]
    fn layout_checks() {
        let good = StackLayout {
            start_stack: 0x1000,
            arg_start: 0x2000,
            arg_end: 0x2010,
            env_start: 0x2010,
            env_end: 0x2100,
        };
        assert!(good.is_plausible());
        assert!(StackLayout {
            env_end: 0x2010,
            ..good
        }
        .is_plausible());
        assert!(!StackLayout {
            env_start: 0x2011,
            ..good
        }
        .is_plausible());
        assert!(!StackLayout {
            arg_end: 0x2000,
            env_start: 0x2000,
            ..good
        }
        .is_plausible());
        assert!(!StackLayout {
            start_stack: 0x1001,
            ..good
        }
        .is_plausible());
        assert!(!StackLayout { start_stack: 0, ..good }.is_plausible());
        assert!(!StackLayout {
            env_end: 0x200f,
            ..good
        }
        .is_plausible());
    }

    #[test]
    fn title_bytes_as_setproctitle() {
        // argv[0] = "redis", then "x", then the environment "A=1".
        let original = b"redis\0x\0A=1\0".to_vec();
        let mut memory = original.clone();
        let mut reset = false;
        write_title(&mut memory, 5, &mut reset, b"");
        assert_eq!(memory, original, "an empty title changes nothing");
        write_title(&mut memory, 5, &mut reset, b"hi");
        assert_eq!(&memory, b"hi\0\0\0.\0\0\0\0\0\0", "shorter than argv[0]: '.' marker");
        write_title(&mut memory, 5, &mut reset, b"abcde");
        assert_eq!(&memory, b"abcde \0\0\0\0\0\0", "as long as argv[0]: space marker");
        write_title(&mut memory, 5, &mut reset, b"a longer title");
        assert_eq!(&memory, b"a longer ti\0", "truncated to the region, NUL kept");

        let mut big = vec![b'z'; 1000];
        big[7] = 0;
        let mut reset = false;
        let title = vec![b'T'; 300];
        write_title(&mut big, 7, &mut reset, &title);
        assert_eq!(&big[..MAX_TITLE], &title[..MAX_TITLE]);
        assert!(
            big[MAX_TITLE..].iter().all(|&b| b == 0),
            "255 bytes at most, rest zeroed"
        );
    }

    #[test]
    fn set_title_without_init_is_a_no_op() {
        // The harness's process never calls init (see the child test).
        set_title("ignored");
        assert!(lock_region().is_none());
    }

    const CHILD_ENV: &str = "TESSERA_PROCTITLE_TEST_CHILD";
    const PAD_ENV: &str = "TESSERA_PROCTITLE_TEST_PAD";

    /// The libtest name of `child_process`.
    fn child_test_name() -> String {
        let path = module_path!();
        let path = path.split_once("::").map_or(path, |(_, rest)| rest);
        format!("{path}::child_process")
    }

    fn cmdline() -> Vec<u8> {
        std::fs::read("/proc/self/cmdline").unwrap()
    }

    fn first_string(bytes: &[u8]) -> &[u8] {
        bytes.split(|&b| b == 0).next().unwrap()
    }

    /// Runs this test binary again with only `child_process` selected and
    /// `argv[0]` set to `arg0`, so that `init` runs in a process where no
    /// other test can touch the environment or the arguments concurrently.
    fn run_child(scenario: &str, arg0: &str) {
        use std::os::unix::process::CommandExt;
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .arg0(arg0)
            .args(["--exact", &child_test_name(), "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, scenario)
            .env(PAD_ENV, "p".repeat(600))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("proctitle child ok"),
            "child did not run:\n{stdout}\n{stderr}"
        );
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn title_in_cmdline_short_argv0() {
        run_child("short", "t");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn title_in_cmdline_long_argv0() {
        run_child("long", "/a/rather/long/argv0/that/is/longer/than/the/title");
    }

    /// Does its work only when started by `run_child`. `init` must run
    /// before other threads exist; here libtest's main thread only waits for
    /// this single test, so nothing else reads `environ` or `argv` while
    /// `init` rewrites them.
    #[test]
    fn child_process() {
        let Ok(scenario) = std::env::var(CHILD_ENV) else {
            return;
        };
        let args: Vec<_> = std::env::args_os().collect();
        let env: Vec<_> = std::env::vars_os().collect();
        let pad = "p".repeat(600);
        let arg_area: usize = args.iter().map(|a| a.len() + 1).sum();

        init();
        let (region_len, argv0_len) = {
            let guard = lock_region();
            let region = guard.as_ref().expect("init found the region");
            (region.len, region.argv0_len)
        };
        assert!(region_len > arg_area + pad.len(), "region covers the environment");
        assert_eq!(argv0_len, args[0].len());
        init(); // a second call does nothing

        set_title("hello world");
        let line = cmdline();
        assert!(line.starts_with(b"hello world\0"), "{line:?}");
        // Arguments, environment and glibc's program name survive.
        assert_eq!(std::env::args_os().collect::<Vec<_>>(), args);
        assert_eq!(std::env::vars_os().collect::<Vec<_>>(), env);
        assert_eq!(std::env::var(PAD_ENV).unwrap(), pad);
        assert_eq!(std::env::var(CHILD_ENV).unwrap(), scenario);
        extern "C" {
            static mut program_invocation_name: *mut std::ffi::c_char;
        }
        // SAFETY: reading glibc's global pointer; it is a valid C string.
        let name = unsafe { std::ffi::CStr::from_ptr(program_invocation_name) };
        assert_eq!(
            name.to_bytes(),
            std::os::unix::ffi::OsStrExt::as_bytes(args[0].as_os_str())
        );

        match scenario.as_str() {
            "short" => {
                // Longer than the argument area: spills into the environment
                // area, and the kernel reports the title up to its NUL.
                let title = format!("{} end", "x".repeat(arg_area + 10));
                set_title(&title);
                assert_eq!(cmdline(), format!("{title}\0").into_bytes());
                let too_long = "y".repeat(300);
                set_title(&too_long);
                assert_eq!(cmdline(), format!("{}\0", &too_long[..MAX_TITLE]).into_bytes());
                // As long as argv[0] ("t"): Redis's space marker.
                set_title("x");
                assert_eq!(first_string(&cmdline()), b"x ");
                // Empty: unchanged.
                set_title("");
                assert_eq!(first_string(&cmdline()), b"x ");
                set_title("TEST /path/redis-server 127.0.0.1:6379");
                assert_eq!(first_string(&cmdline()), b"TEST /path/redis-server 127.0.0.1:6379");
            }
            "long" => {
                // Shorter than argv[0]: the raw argument area, with Redis's
                // '.' where argv[0] ended.
                let line = cmdline();
                assert_eq!(line.len(), arg_area);
                assert_eq!(line[argv0_len], b'.');
                assert!(line
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| i < 11 || i == argv0_len || b == 0));
            }
            other => panic!("unknown scenario {other}"),
        }
        assert_eq!(std::env::args_os().collect::<Vec<_>>(), args);
        assert_eq!(std::env::vars_os().collect::<Vec<_>>(), env);
        println!("proctitle child ok");
    }
}
