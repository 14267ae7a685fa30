//! Shared integration-test support: starts the real `tessera` binary on a
//! free port with a chosen shard count, and talks to it over TCP, either with
//! the `redis` crate or with raw bytes for protocol edge cases.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub mod dataset;

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    pub shards: usize,
    pub dir: std::path::PathBuf,
    /// Whether dropping the server removes `dir` (false for a directory the
    /// test keeps across restarts).
    pub owns_dir: bool,
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A port that is free now: tests in one process take distinct ranges, and
/// each candidate is probed with a bind.
pub fn free_port() -> u16 {
    if NEXT_PORT.load(Ordering::Relaxed) == 0 {
        // Stay below the kernel's ephemeral range (32768 and up): a connect
        // to a free ephemeral port can self-connect and look like a server.
        let base = 22000 + (std::process::id() % 600) as u16 * 16;
        let _ = NEXT_PORT.compare_exchange(0, base, Ordering::Relaxed, Ordering::Relaxed);
    }
    loop {
        let port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        let port = if !(22000..32000).contains(&port) {
            22000 + port % 10000
        } else {
            port
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

/// CRC16-CCITT (XModem), Redis Cluster's key hash: the tests' own copy of
/// Tessera's placement, to pick keys that land on different shards.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The shard owning `key` (keys without hash tags): slot ranges as Tessera's
/// fixed slot -> shard table.
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    (crc16(key) as usize & 16383) * shards / 16384
}

/// A RESP bulk string's bytes.
pub fn bulk(value: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", value.len()).into_bytes();
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out
}

/// The shard counts every behaviour is tested with.
pub const SHARD_COUNTS: [usize; 3] = [1, 2, 4];

impl Server {
    /// Starts tessera with `shards` and extra `--directive value` arguments.
    /// If another process takes the port first, it retries on another one,
    /// as Redis's own test harness does.
    pub fn start(shards: usize, extra: &[&str]) -> Server {
        for _ in 0..5 {
            if let Some(server) = Self::try_start(shards, extra) {
                return server;
            }
        }
        panic!("tessera did not start after 5 tries");
    }

    fn try_start(shards: usize, extra: &[&str]) -> Option<Server> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tessera-test-{}-{}", std::process::id(), port));
        Self::try_start_in(dir, true, port, shards, extra)
    }

    /// Starts tessera working in `dir` (kept on drop), e.g. to restart it on
    /// the files a previous run left.
    pub fn start_in(dir: &std::path::Path, shards: usize, extra: &[&str]) -> Server {
        for _ in 0..5 {
            if let Some(server) = Self::try_start_in(dir.to_path_buf(), false, free_port(), shards, extra) {
                return server;
            }
        }
        panic!("tessera did not start after 5 tries");
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The binary the tests start.
    pub fn binary(&self) -> &'static str {
        env!("CARGO_BIN_EXE_tessera")
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn try_start_in(
        dir: std::path::PathBuf,
        owns_dir: bool,
        port: u16,
        shards: usize,
        extra: &[&str],
    ) -> Option<Server> {
        std::fs::create_dir_all(&dir).expect("test dir");
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--shards".into(),
            shards.to_string(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = std::fs::File::create(dir.join("stdout.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(&args)
            .arg("--perf-config")
            .arg(write_perf_config(&dir))
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start tessera");
        let mut server = Server {
            child,
            port,
            shards,
            dir,
            owns_dir,
        };
        if server.wait_ready() {
            return Some(server);
        }
        let log = std::fs::read_to_string(server.dir.join("stdout.log")).unwrap_or_default();
        if log.contains("Address already in use") {
            return None;
        }
        panic!("tessera did not start on port {port}; its log:\n{log}");
    }

    /// Waits until the server answers PING; false if it exited first.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !self.is_running() {
                return false;
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                if stream.write_all(b"PING\r\n").is_ok() {
                    // +PONG, or -NOAUTH when a password is required.
                    let mut buf = [0u8; 7];
                    if stream.read_exact(&mut buf).is_ok() && (&buf == b"+PONG\r\n" || &buf == b"-NOAUTH") {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A `redis` crate connection.
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("client");
        client.get_connection().expect("connect")
    }

    /// A raw TCP connection.
    pub fn raw(&self) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Raw { stream }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

fn write_perf_config(dir: &std::path::Path) -> String {
    // Tests run several servers on two CPUs: do not pin shards.
    let path = dir.join("perf_config.toml");
    std::fs::write(&path, "pin_shards = false\n").expect("perf config");
    path.display().to_string()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A raw connection for byte-exact protocol tests.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    /// Wraps a connection made elsewhere (to another server, e.g. Redis).
    pub fn from_stream(stream: TcpStream) -> Raw {
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends a command as a RESP multibulk.
    pub fn command(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.send(&out);
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.stream.read_exact(&mut buf).expect("read");
        buf
    }

    /// Reads one complete RESP reply and returns its bytes.
    pub fn reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_value(&mut out);
        out
    }

    /// Reads one line (with its CRLF), e.g. an array header.
    pub fn read_line_bytes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_line(&mut out)
    }

    fn read_line(&mut self, out: &mut Vec<u8>) -> Vec<u8> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            self.stream.read_exact(&mut byte).expect("read line");
            line.push(byte[0]);
            if line.ends_with(b"\r\n") {
                break;
            }
        }
        out.extend_from_slice(&line);
        line
    }

    fn read_value(&mut self, out: &mut Vec<u8>) {
        let line = self.read_line(out);
        let body = std::str::from_utf8(&line[1..line.len() - 2]).unwrap_or("").to_string();
        match line[0] {
            b'$' | b'=' | b'!' => {
                let n: i64 = body.parse().expect("bulk length");
                if n >= 0 {
                    let data = self.read_exact(n as usize + 2);
                    out.extend_from_slice(&data);
                }
            }
            b'*' | b'~' | b'>' => {
                let n: i64 = body.parse().expect("array length");
                for _ in 0..n.max(0) {
                    self.read_value(out);
                }
            }
            b'%' => {
                let n: i64 = body.parse().expect("map length");
                for _ in 0..2 * n.max(0) {
                    self.read_value(out);
                }
            }
            _ => {}
        }
    }

    /// Sends a command and returns its reply bytes.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.command(args);
        self.reply()
    }

    /// Whether the server closed the connection (reads EOF within a second).
    pub fn is_closed(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let mut buf = [0u8; 1];
        matches!(self.stream.read(&mut buf), Ok(0) | Err(_))
    }
}

/// Shorthand: run `f` once per shard count with a fresh server.
pub fn for_each_shard_count(extra: &[&str], f: impl Fn(&Server)) {
    for shards in SHARD_COUNTS {
        let server = Server::start(shards, extra);
        f(&server);
    }
}
