//! A dataset of every type and encoding, its digest, and a real
//! redis-server to compare with (tests that need one skip without it).

use super::Raw;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Writes small and large values of every type (every encoding), a TTL and
/// a second database.
pub fn fill(raw: &mut Raw) {
    let big = "x".repeat(300);
    let mut cmds: Vec<Vec<String>> = vec![
        vec!["SET".into(), "s:small".into(), "hello".into()],
        vec!["SET".into(), "s:int".into(), "-12345".into()],
        vec!["SET".into(), "s:big".into(), big.clone()],
        vec!["SET".into(), "s:ttl".into(), "v".into(), "EX".into(), "1000".into()],
        vec![
            "RPUSH".into(),
            "l:small".into(),
            "a".into(),
            "1".into(),
            "-7".into(),
            "300000".into(),
        ],
        vec![
            "HSET".into(),
            "h:small".into(),
            "f".into(),
            "v".into(),
            "n".into(),
            "12".into(),
        ],
        vec!["SADD".into(), "st:int".into(), "1".into(), "2".into(), "-3".into()],
        vec!["SADD".into(), "st:str".into(), "a".into(), "b".into()],
        vec![
            "ZADD".into(),
            "z:small".into(),
            "1.5".into(),
            "a".into(),
            "2".into(),
            "b".into(),
            "-inf".into(),
            "c".into(),
        ],
        vec!["SELECT".into(), "3".into()],
        vec!["SET".into(), "db3".into(), "v".into()],
        vec!["SELECT".into(), "0".into()],
    ];
    for i in 0..600 {
        cmds.push(vec!["RPUSH".into(), "l:big".into(), format!("e{i}")]);
        cmds.push(vec!["HSET".into(), "h:big".into(), format!("f{i}"), format!("v{i}")]);
        cmds.push(vec!["SADD".into(), "st:big".into(), format!("m{i}")]);
        cmds.push(vec!["SADD".into(), "st:bigint".into(), i.to_string()]);
        cmds.push(vec!["ZADD".into(), "z:big".into(), format!("{i}.5"), format!("m{i}")]);
    }
    cmds.push(vec!["RPUSH".into(), "l:big".into(), big]);
    for cmd in &cmds {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let reply = raw.call(&args);
        assert!(!reply.starts_with(b"-"), "{cmd:?}: {}", String::from_utf8_lossy(&reply));
    }
}

pub fn digest(raw: &mut Raw) -> Vec<u8> {
    let d = raw.call(&[b"DEBUG", b"DIGEST"]);
    assert_ne!(d, b"+0000000000000000000000000000000000000000\r\n", "empty dataset");
    d
}

pub fn call_ok(raw: &mut Raw, args: &[&[u8]]) {
    assert_eq!(
        raw.call(args),
        b"+OK\r\n",
        "{:?}",
        args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()
    );
}

pub fn have(binary: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {binary}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Starts redis-server in `dir` on a free port; returns the child and port.
pub fn start_redis(dir: &Path) -> (RedisChild, u16) {
    let port = super::free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--enable-debug-command",
            "yes",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start redis-server");
    for _ in 0..200 {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let mut raw = Raw::from_stream(stream);
            if raw.call(&[b"PING"]) == b"+PONG\r\n" {
                return (RedisChild(child), port);
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not start");
}

/// A redis-server process, killed when dropped (also when a test panics).
pub struct RedisChild(std::process::Child);

impl RedisChild {
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }

    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
