//! MEMORY: USAGE of one key, the allocator's own report (MALLOC-STATS),
//! PURGE and HELP. DOCTOR and STATS are not implemented (unknown
//! subcommand), rather than answering with invented figures.

use crate::command::{conn, container, keyed, CommandDef, Ctx};
use crate::errors;
use crate::keyspace::db::{Entry, ExpireEntry};
use crate::keyspace::CompactBytes;
use crate::resp::parse::parse_i64;
use crate::resp::Argv;
use crate::session::Session;

pub static COMMANDS: &[CommandDef] = &[
    container("memory"),
    keyed("memory|usage", memory_usage),
    conn("memory|malloc-stats", memory_malloc_stats),
    conn("memory|purge", memory_purge),
    conn("memory|help", memory_help),
];

/// MEMORY USAGE key [SAMPLES count]: the bytes the key, its value and its
/// expiry hold in Tessera's own layout (the table slot plus heap
/// allocations in jemalloc's size classes). The whole value is measured,
/// so SAMPLES is validated as Redis does but not needed.
fn memory_usage(ctx: &mut Ctx, argv: &Argv) {
    let mut i = 3;
    while i < argv.len() {
        let arg = argv.get(i);
        if arg.eq_ignore_ascii_case(b"samples") && i + 1 < argv.len() {
            match parse_i64(argv.get(i + 1)) {
                None => return ctx.out.error(errors::NOT_INTEGER),
                Some(n) if n < 0 => return ctx.out.error(errors::SYNTAX),
                Some(_) => {}
            }
            i += 2;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
    }
    let now = ctx.now_ms;
    let Some(entry) = ctx.db().peek(argv.get(2), now) else {
        return ctx.out.null();
    };
    let mut bytes = std::mem::size_of::<Entry>() + key_heap_bytes(&entry.key) + entry.value.heap_bytes();
    if entry.has_expire {
        bytes += std::mem::size_of::<ExpireEntry>() + key_heap_bytes(&entry.key);
    }
    ctx.out.int(bytes as i64);
}

fn key_heap_bytes(key: &CompactBytes) -> usize {
    match key {
        CompactBytes::Inline { .. } => 0,
        CompactBytes::Heap(bytes) => crate::memory::usable_size(bytes.len()),
    }
}

fn memory_malloc_stats(session: &mut Session, _argv: &Argv) {
    session.out.verbatim(crate::memory::allocator_stats().as_bytes(), "txt");
}

fn memory_purge(session: &mut Session, _argv: &Argv) {
    crate::memory::purge();
    session.out.ok();
}

fn memory_help(session: &mut Session, _argv: &Argv) {
    let lines = [
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ];
    session.out.array(lines.len());
    for line in lines {
        session.out.simple(line);
    }
}
