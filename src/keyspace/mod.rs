//! Shard state with no I/O: compact byte strings, the hash table, values, and
//! databases with expiry and WATCH bookkeeping.

pub mod bytes;
pub mod db;
pub mod table;
pub mod value;

pub use bytes::CompactBytes;
pub use db::{Db, WatchFlag};
pub use value::Value;
