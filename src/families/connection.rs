//! Connection commands: PING, ECHO, SELECT, QUIT.

use crate::command::{conn, CommandDef};
use crate::errors;
use crate::resp::parse::parse_i64;
use crate::resp::Argv;
use crate::session::Session;

pub static COMMANDS: &[CommandDef] = &[
    conn("ping", ping),
    conn("echo", echo),
    conn("select", select),
    conn("quit", quit),
];

fn ping(session: &mut Session, argv: &Argv) {
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
