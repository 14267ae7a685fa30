//! Connection commands: PING, ECHO, SELECT, QUIT, HELLO, AUTH, RESET.

use crate::command::{asynchronous, conn, CommandDef, LocalFuture};
use crate::errors;
use crate::resp::parse::parse_i64;
use crate::resp::Argv;
use crate::session::{ReplyMode, Session};
use crate::OwnedArgv;

pub static COMMANDS: &[CommandDef] = &[
    conn("ping", ping),
    conn("echo", echo),
    conn("select", select),
    conn("quit", quit),
    conn("hello", hello),
    conn("auth", auth),
    asynchronous("reset", reset),
];

fn ping(session: &mut Session, argv: &Argv) {
    if crate::pubsub::subscribed(session) && !session.out.resp3 {
        // A RESP2 subscriber's replies are arrays, PING's too.
        return match argv.len() {
            1 | 2 => {
                session.out.array(2);
                session.out.bulk(b"pong");
                session.out.bulk(if argv.len() == 2 { argv.get(1) } else { b"" });
            }
            _ => session.out.error(&errors::wrong_arity("ping")),
        };
    }
    match argv.len() {
        1 => session.out.simple("PONG"),
        2 => session.out.bulk(argv.get(1)),
        _ => session.out.error(&errors::wrong_arity("ping")),
    }
}

fn echo(session: &mut Session, argv: &Argv) {
    session.out.bulk(argv.get(1));
}

fn select(session: &mut Session, argv: &Argv) {
    let Some(index) = parse_i64(argv.get(1)).filter(|&i| i >= i32::MIN as i64 && i <= i32::MAX as i64) else {
        return session.out.error(errors::NOT_INTEGER);
    };
    let databases = session.shard.state().dbs.len() as i64;
    if index < 0 || index >= databases {
        return session.out.error(errors::DB_INDEX_OUT_OF_RANGE);
    }
    session.db = index as usize;
    session.info.borrow_mut().db = index as usize;
    session.out.ok();
}

fn quit(session: &mut Session, _argv: &Argv) {
    session.out.ok();
    session.close_after_reply = true;
}

/// Checks a username/password pair against the default user, the only
/// user without ACLs: with no requirepass it takes any password.
pub fn credentials_ok(session: &Session, user: &[u8], password: &[u8]) -> bool {
    if user != b"default" {
        return false;
    }
    match &session.shard.state().config.settings.requirepass {
        None => true,
        Some(required) => required.as_slice() == password,
    }
}

fn auth(session: &mut Session, argv: &Argv) {
    if argv.len() > 3 {
        return session.out.error(errors::SYNTAX);
    }
    let (user, password): (&[u8], &[u8]) = if argv.len() == 2 {
        if session.shard.state().config.settings.requirepass.is_none() {
            return session.out.error(errors::AUTH_NOT_CONFIGURED);
        }
        (b"default", argv.get(1))
    } else {
        (argv.get(1), argv.get(2))
    };
    if credentials_ok(session, user, password) {
        session.authenticated = true;
        session.out.ok();
    } else {
        session.out.error(errors::WRONGPASS);
    }
}

/// Client names are printable ASCII without spaces ('!'..='~').
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn hello(session: &mut Session, argv: &Argv) {
    let mut version = 0;
    let mut next = 1;
    if argv.len() >= 2 {
        let Some(v) = parse_i64(argv.get(1)) else {
            return session
                .out
                .error("ERR Protocol version is not an integer or out of range");
        };
        if !(2..=3).contains(&v) {
            return session.out.error(errors::PROTOCOL_VERSION);
        }
        version = v;
        next = 2;
    }
    let mut j = next;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let option = argv.get(j);
        if option.eq_ignore_ascii_case(b"auth") && more >= 2 {
            if !credentials_ok(session, argv.get(j + 1), argv.get(j + 2)) {
                return session.out.error(errors::WRONGPASS);
            }
            session.authenticated = true;
            j += 3;
        } else if option.eq_ignore_ascii_case(b"setname") && more >= 1 {
            let name = argv.get(j + 1);
            if !valid_client_name(name) {
                return session.out.error(errors::CLIENT_NAME);
            }
            session.info.borrow_mut().name = name.to_vec();
            j += 2;
        } else {
            return session.out.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(option)
            ));
        }
    }
    if !session.authenticated && session.shard.state().config.settings.requirepass.is_some() {
        return session.out.error(errors::HELLO_NOAUTH);
    }
    if version != 0 {
        session.out.resp3 = version == 3;
        crate::pubsub::protocol_changed(session);
        session.info.borrow_mut().resp = version as u8;
    }
    let resp = if session.out.resp3 { 3 } else { 2 };
    session.out.map(7);
    session.out.bulk(b"server");
    session.out.bulk(b"redis");
    session.out.bulk(b"version");
    session.out.bulk(b"7.0.15");
    session.out.bulk(b"proto");
    session.out.int(resp);
    session.out.bulk(b"id");
    session.out.int(session.id as i64);
    session.out.bulk(b"mode");
    session.out.bulk(b"standalone");
    session.out.bulk(b"role");
    session.out.bulk(b"master");
    session.out.bulk(b"modules");
    session.out.array(0);
}

/// RESET: back to a fresh connection's state, as Redis 7.0's
/// clearClientConnectionState: database 0, RESP2, default-user
/// authentication, no MULTI or WATCH, replies on, no name.
fn reset(session: &mut Session, _argv: OwnedArgv) -> LocalFuture<'_> {
    Box::pin(async move {
        session.multi = None;
        session.multi_error = false;
        crate::families::transaction::unwatch_all(session).await;
        session.db = 0;
        session.out.resp3 = false;
        crate::pubsub::leave(session);
        crate::tracking::disable(session);
        crate::pubsub::protocol_changed(session);
        session.reply_mode = ReplyMode::On;
        session.no_touch = false;
        session.authenticated = session.shard.state().config.settings.requirepass.is_none();
        {
            let mut info = session.info.borrow_mut();
            info.db = 0;
            info.resp = 2;
            info.multi = -1;
            info.name.clear();
        }
        session.out.simple("RESET");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        assert!(valid_client_name(b"my-name_1"));
        assert!(valid_client_name(b""));
        assert!(!valid_client_name(b"foo bar"));
        assert!(!valid_client_name(b"a\nb"));
    }
}
