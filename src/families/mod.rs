//! Command families, one file each: the family's table first, then thin
//! handlers, then the `op_*` functions, then tests.

pub mod bitmap;
pub mod client;
pub mod config_cmd;
pub mod connection;
pub mod debug;
pub mod expire;
pub mod float80;
pub mod hash;
pub mod keys;
pub mod list;
pub mod memory_cmd;
pub mod migrate;
pub mod persistence;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod transaction;
pub mod typed;
pub mod zset;

use crate::command::CommandDef;

/// Every command Tessera implements.
pub fn all_commands() -> impl Iterator<Item = &'static CommandDef> {
    [
        client::COMMANDS,
        config_cmd::COMMANDS,
        bitmap::COMMANDS,
        connection::COMMANDS,
        debug::COMMANDS,
        expire::COMMANDS,
        hash::COMMANDS,
        keys::COMMANDS,
        list::COMMANDS,
        memory_cmd::COMMANDS,
        migrate::COMMANDS,
        persistence::COMMANDS,
        server::COMMANDS,
        set::COMMANDS,
        sort::COMMANDS,
        string::COMMANDS,
        transaction::COMMANDS,
        zset::COMMANDS,
        crate::repl::master::COMMANDS,
        crate::pubsub::COMMANDS,
        crate::tracking::COMMANDS,
        crate::repl::replica::COMMANDS,
    ]
    .into_iter()
    .flatten()
}
