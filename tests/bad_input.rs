//! Hostile and malformed input: Redis's exact protocol errors, limits, binary
//! keys, and huge requests that must not harm other clients.

mod common;

use common::Server;
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn protocol_errors_are_exact_and_close_the_connection() {
    let server = Server::start(2, &[]);
    let cases: [(&[u8], &[u8]); 6] = [
        (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*3000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n+foo\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$536870913\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (
            b"SET k \"unbalanced\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (input, expected) in cases {
        let mut raw = server.raw();
        raw.send(input);
        assert_eq!(raw.reply(), expected, "input {:?}", String::from_utf8_lossy(input));
        assert!(
            raw.is_closed(),
            "connection stays open after {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let mut raw = server.raw();
    assert_eq!(raw.call(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn empty_multibulks_are_ignored() {
    let server = Server::start(1, &[]);
    let mut raw = server.raw();
    raw.send(b"*0\r\n*-1\r\n\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(raw.reply(), b"+PONG\r\n");
}

#[test]
fn unauthenticated_clients_get_small_limits() {
    let server = Server::start(2, &["--requirepass", "secret"]);
    let mut raw = server.raw();
    assert_eq!(raw.call(&[b"GET", b"k"]), b"-NOAUTH Authentication required.\r\n");
    raw.send(b"*20\r\n");
    assert_eq!(
        raw.reply(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(raw.is_closed());
    let mut raw = server.raw();
    raw.send(b"*1\r\n$20000\r\n");
    assert_eq!(raw.reply(), b"-ERR Protocol error: unauthenticated bulk length\r\n");
}

#[test]
fn binary_keys_and_values_round_trip_on_every_shard_count() {
    common::for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        for i in 0..20u8 {
            let key = [b'k', 0, b'\r', b'\n', i, 0xff];
            let value = [0u8, b'\r', b'\n', b'$', b'*', i];
            assert_eq!(raw.call(&[b"SET", &key, &value]), b"+OK\r\n");
            let mut expected = b"$6\r\n".to_vec();
            expected.extend_from_slice(&value);
            expected.extend_from_slice(b"\r\n");
            assert_eq!(raw.call(&[b"GET", &key]), expected);
        }
    });
}

/// A value of exactly proto-max-bulk-len (512 MB) is accepted while another
/// client keeps being served promptly.
#[test]
fn a_512_mb_value_does_not_stall_other_clients() {
    let server = Server::start(2, &[]);
    let port = server.port;
    let size: usize = 512 * 1024 * 1024;
    let uploader = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        stream
            .write_all(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${size}\r\n").as_bytes())
            .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..size / chunk.len() {
            stream.write_all(&chunk).unwrap();
        }
        stream.write_all(b"\r\n").unwrap();
        let mut reply = [0u8; 5];
        std::io::Read::read_exact(&mut stream, &mut reply).unwrap();
        reply
    });
    let mut other = server.raw();
    let mut worst = Duration::ZERO;
    while !uploader.is_finished() {
        let start = Instant::now();
        assert_eq!(other.call(&[b"PING"]), b"+PONG\r\n");
        worst = worst.max(start.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(&uploader.join().unwrap(), b"+OK\r\n");
    assert!(worst < Duration::from_secs(2), "another client waited {worst:?}");
    let mut raw = server.raw();
    raw.send(b"*2\r\n$6\r\nSTRLEN\r\n$3\r\nbig\r\n");
    let reply = raw.reply();
    assert!(
        reply == format!(":{size}\r\n").into_bytes() || reply.starts_with(b"-ERR unknown command"),
        "STRLEN big: {:?}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(raw.call(&[b"DEL", b"big"]), b":1\r\n");
}

/// A query buffer past client-query-buffer-limit closes only that client.
#[test]
fn query_buffer_limit_closes_the_client() {
    let server = Server::start(1, &["--client-query-buffer-limit", "1mb"]);
    let mut raw = server.raw();
    // An inline-free multibulk that never completes and exceeds the limit.
    raw.send(b"*2\r\n$3\r\nSET\r\n$2000000\r\n");
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..40 {
        if raw.stream.write_all(&chunk).is_err() {
            break;
        }
    }
    assert!(raw.is_closed());
    let mut other = server.raw();
    assert_eq!(other.call(&[b"PING"]), b"+PONG\r\n");
}

/// A one-million-argument MSET spanning shards is applied whole, while
/// another client keeps being served.
#[test]
fn a_million_argument_mset() {
    let server = Server::start(2, &[]);
    let pairs = 500_000;
    let mut request = format!("*{}\r\n$4\r\nMSET\r\n", 2 * pairs + 1).into_bytes();
    for i in 0..pairs {
        let key = format!("key:{i}");
        let value = format!("v{i}");
        request.extend_from_slice(format!("${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len()).as_bytes());
    }
    let port = server.port;
    let writer = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        stream.write_all(&request).unwrap();
        let mut reply = [0u8; 5];
        std::io::Read::read_exact(&mut stream, &mut reply).unwrap();
        reply
    });
    let mut other = server.raw();
    let mut worst = Duration::ZERO;
    while !writer.is_finished() {
        let start = Instant::now();
        assert_eq!(other.call(&[b"PING"]), b"+PONG\r\n");
        worst = worst.max(start.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(&writer.join().unwrap(), b"+OK\r\n");
    assert!(worst < Duration::from_secs(5), "another client waited {worst:?}");
    assert_eq!(other.call(&[b"DBSIZE"]), format!(":{pairs}\r\n").into_bytes());
    assert_eq!(other.call(&[b"GET", b"key:499999"]), b"$7\r\nv499999\r\n");
}

/// Integer overflow gets Redis's errors, not wrapped values.
#[test]
fn integer_overflow_is_refused() {
    let server = Server::start(2, &[]);
    let mut raw = server.raw();
    assert_eq!(raw.call(&[b"SET", b"n", b"9223372036854775807"]), b"+OK\r\n");
    assert_eq!(
        raw.call(&[b"INCR", b"n"]),
        b"-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(
        raw.call(&[b"INCRBY", b"n", b"99999999999999999999"]),
        b"-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(raw.call(&[b"SET", b"m", b"-9223372036854775808"]), b"+OK\r\n");
    assert_eq!(
        raw.call(&[b"DECR", b"m"]),
        b"-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(raw.call(&[b"GET", b"n"]), b"$19\r\n9223372036854775807\r\n");
    assert_eq!(
        raw.call(&[b"EXPIRE", b"n", b"9223372036854775807"]),
        b"-ERR invalid expire time in 'expire' command\r\n"
    );
    assert_eq!(
        raw.call(&[b"SETRANGE", b"s", b"536870912", b"x"]),
        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
}

/// A client that must authenticate but does not read its (error) replies is
/// disconnected, as Redis limits unauthenticated clients' output buffers.
#[test]
fn unauthenticated_client_that_does_not_read_is_closed() {
    let server = Server::start(2, &["--requirepass", "secret"]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let chunk = b"SET x 5\r\n".repeat(8 * 1024);
    for _ in 0..2000 {
        if let Err(error) = stream.write_all(&chunk) {
            // A write that times out means the server stopped reading but kept
            // the connection: not what Redis does.
            assert_ne!(error.kind(), std::io::ErrorKind::TimedOut, "server stalled the client");
            assert_ne!(
                error.kind(),
                std::io::ErrorKind::WouldBlock,
                "server stalled the client"
            );
            break;
        }
    }
    // Whatever replies were sent, the connection must end in EOF or a reset.
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match std::io::Read::read(&mut stream, &mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("the server kept a non-reading unauthenticated client: {error}"),
        }
    }
    let mut other = server.raw();
    assert_eq!(other.call(&[b"AUTH", b"secret"]), b"+OK\r\n");
    assert_eq!(other.call(&[b"PING"]), b"+PONG\r\n");
}

/// A numkeys near i64::MAX is Redis's error, not an overflow in the key
/// position arithmetic (which used to panic in debug builds).
#[test]
fn huge_numkeys_get_redis_errors() {
    common::for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        let huge: &[u8] = b"9223372036854775807";
        assert_eq!(raw.call(&[b"LMPOP", huge, b"a", b"LEFT"]), b"-ERR syntax error\r\n");
        assert_eq!(raw.call(&[b"ZMPOP", huge, b"a", b"MIN"]), b"-ERR syntax error\r\n");
        assert_eq!(
            raw.call(&[b"BLMPOP", b"0", huge, b"a", b"LEFT"]),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(
            raw.call(&[b"SINTERCARD", huge, b"a"]),
            b"-ERR Number of keys can't be greater than number of args\r\n"
        );
        assert_eq!(raw.call(&[b"ZUNION", huge, b"a"]), b"-ERR syntax error\r\n");
        assert_eq!(raw.call(&[b"PING"]), b"+PONG\r\n");
    });
}
