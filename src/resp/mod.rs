//! RESP: the one request parser (multibulk and inline) and the reply writer.

pub mod parse;
pub mod reply;

pub use parse::{parse_command, Argv, OwnedArgv, ParseLimits, Parsed};
pub use reply::ReplyBuf;
