//! Generic key commands: DEL, EXISTS and the rest of the keyspace family.

use crate::command::{split, CommandDef, Ctx, Merge};
use crate::resp::Argv;

pub static COMMANDS: &[CommandDef] = &[
    split("del", del, Merge::SumIntegers),
    split("exists", exists, Merge::SumIntegers),
];

fn del(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let db = ctx.db();
    let deleted = argv.iter().skip(1).filter(|key| db.delete(key, now)).count();
    ctx.out.int(deleted as i64);
}

fn exists(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let db = ctx.db();
    let found = argv.iter().skip(1).filter(|key| db.exists(key, now)).count();
    ctx.out.int(found as i64);
}
