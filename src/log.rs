//! The server log, in Redis's format: `<pid>:<role> <date> <level> <msg>`,
//! to the configured file or to stdout when `logfile ""`.

use crate::config::LogLevel;
use std::io::Write;
use std::sync::Mutex;

struct Logger {
    path: String,
    level: LogLevel,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// Sets where and what to log.
pub fn init(path: &str, level: LogLevel) {
    *LOGGER.lock().unwrap_or_else(|e| e.into_inner()) = Some(Logger {
        path: path.to_string(),
        level,
    });
}

/// Changes the level at run time (CONFIG SET loglevel).
pub fn set_level(level: LogLevel) {
    if let Some(logger) = LOGGER.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        logger.level = level;
    }
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own; strftime writes at most
    // buf.len() bytes into buf and returns how many it wrote.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%d %b %Y %H:%M:%S".as_ptr(),
            &tm,
        );
        format!("{}.{:03}", String::from_utf8_lossy(&buf[..n]), now.subsec_millis())
    }
}

/// Writes one log line at `level`.
pub fn log(level: LogLevel, message: &str) {
    let guard = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    let (path, min) = match guard.as_ref() {
        Some(logger) => (logger.path.as_str(), logger.level),
        None => ("", LogLevel::Notice),
    };
    if level < min {
        return;
    }
    let mark = match level {
        LogLevel::Debug => '.',
        LogLevel::Verbose => '-',
        LogLevel::Notice => '*',
        LogLevel::Warning => '#',
    };
    let line = format!("{}:M {} {} {}\n", std::process::id(), timestamp(), mark, message);
    if path.is_empty() {
        let _ = std::io::stdout().write_all(line.as_bytes());
        let _ = std::io::stdout().flush();
    } else if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(line.as_bytes());
    }
}

#[macro_export]
macro_rules! notice {
    ($($arg:tt)*) => { $crate::log::log($crate::config::LogLevel::Notice, &format!($($arg)*)) };
}

#[macro_export]
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::log($crate::config::LogLevel::Warning, &format!($($arg)*)) };
}

#[macro_export]
macro_rules! verbose {
    ($($arg:tt)*) => { $crate::log::log($crate::config::LogLevel::Verbose, &format!($($arg)*)) };
}
