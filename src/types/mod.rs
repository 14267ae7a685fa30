//! The collection types, one file each, as Redis's `t_*.c`: the type's data
//! structure and encodings first (no I/O, no RESP), so the command families
//! in `families/` stay thin. Each type is boxed inside `Value` so a string
//! entry stays small.

pub mod hash;
pub mod list;
pub mod packed;
pub mod set;
pub mod zset;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;
