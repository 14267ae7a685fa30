//! Bitmaps: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, on string values (Redis's bitops.c semantics).
//!
//! Writes go through `bits_for_write` (Redis's lookupStringForBitCommand):
//! the value becomes `raw` and grows with zero bytes to hold the highest bit
//! written. BITOP is gathered across shards by the dispatcher when its keys
//! live apart.

use crate::command::{keyed, CommandDef, Ctx};
use crate::errors;
use crate::keyspace::Value;
use crate::resp::parse::parse_i64;
use crate::resp::Argv;

pub static COMMANDS: &[CommandDef] = &[
    keyed("setbit", setbit),
    keyed("getbit", getbit),
    keyed("bitcount", bitcount),
    keyed("bitpos", bitpos),
    keyed("bitop", bitop),
    keyed("bitfield", bitfield),
    keyed("bitfield_ro", bitfield_ro),
];

const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Redis's getBitOffsetFromArgument: a bit offset below
/// proto-max-bulk-len * 8; with `bits`, `#N` means N * bits.
fn bit_offset(ctx: &mut Ctx, arg: &[u8], bits: Option<u32>) -> Option<u64> {
    let use_hash = arg.first() == Some(&b'#') && bits.is_some_and(|b| b > 0);
    let parsed = parse_i64(if use_hash { &arg[1..] } else { arg });
    let offset = parsed.map(|n| {
        if use_hash {
            n.wrapping_mul(bits.unwrap_or(1) as i64)
        } else {
            n
        }
    });
    let max = ctx.state.config.settings.proto_max_bulk_len;
    match offset {
        Some(n) if n >= 0 && (n >> 3) < max => Some(n as u64),
        _ => {
            ctx.out.error(errors::BIT_OFFSET);
            None
        }
    }
}

/// What `bits_for_write` found.
struct BitTarget<'a> {
    bytes: &'a mut Vec<u8>,
    /// Created or grown: the write counts as a change even if no bit flips.
    dirty: bool,
    /// Created: the creation already signalled the modification once.
    created: bool,
}

/// Redis's lookupStringForBitCommand: the key's bytes, created or grown with
/// zeros to hold bit `max_bit`, as a `raw` string. None after a WRONGTYPE
/// reply.
fn bits_for_write<'a>(ctx: &'a mut Ctx, key: &[u8], max_bit: u64) -> Option<BitTarget<'a>> {
    let now = ctx.now_ms;
    let need = (max_bit >> 3) as usize + 1;
    let db = &mut ctx.state.dbs[ctx.db];
    let exists = match db.write(key, now) {
        None => false,
        Some(entry) => {
            if !entry.value.is_string() {
                ctx.out.error(errors::WRONGTYPE);
                return None;
            }
            true
        }
    };
    if !exists {
        db.set(key, Value::Raw(vec![0; need]), false, now);
    }
    let bytes = db.write(key, now).expect("present").value.make_raw().expect("string");
    let old_len = bytes.len();
    if old_len < need {
        bytes.resize(need, 0);
    }
    Some(BitTarget {
        bytes,
        dirty: !exists || old_len < need,
        created: !exists,
    })
}

fn setbit(ctx: &mut Ctx, argv: &Argv) {
    let Some(offset) = bit_offset(ctx, argv.get(2), None) else {
        return;
    };
    let on = match parse_i64(argv.get(3)) {
        Some(n) if n & !1 == 0 => n == 1,
        _ => return ctx.out.error(errors::BIT_VALUE),
    };
    let key = argv.get(1);
    let Some(target) = bits_for_write(ctx, key, offset) else {
        return;
    };
    let bytes = target.bytes;
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let was = bytes[byte] & mask != 0;
    if on {
        bytes[byte] |= mask;
    } else {
        bytes[byte] &= !mask;
    }
    // One change (Redis's dirty counter), signalled already on creation.
    if !target.created && (target.dirty || was != on) {
        ctx.db().modified(key);
    }
    ctx.out.int(was as i64);
}

fn getbit(ctx: &mut Ctx, argv: &Argv) {
    let Some(offset) = bit_offset(ctx, argv.get(2), None) else {
        return;
    };
    let now = ctx.now_ms;
    let Some(entry) = ctx.state.dbs[ctx.db].read(argv.get(1), now) else {
        return ctx.out.int(0);
    };
    if !entry.value.is_string() {
        return ctx.out.error(errors::WRONGTYPE);
    }
    let bytes = entry.value.string_bytes().expect("string");
    let byte = (offset >> 3) as usize;
    let bit = bytes.get(byte).is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0);
    ctx.out.int(bit as i64);
}

/// Parses BIT|BYTE.
fn range_unit(arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Some(false)
    } else {
        None
    }
}

/// Masks of the bits outside a bit range in its first and last bytes.
fn edge_masks(start: i64, end: i64) -> (u8, u8) {
    let first = !((1u32 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u32 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut count: u64 = chunks
        .by_ref()
        .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")).count_ones() as u64)
        .sum();
    count += chunks.remainder().iter().map(|b| b.count_ones() as u64).sum::<u64>();
    count
}

fn bitcount(ctx: &mut Ctx, argv: &Argv) {
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    let Some(entry) = ctx.state.dbs[ctx.db].read(argv.get(1), now) else {
        return out.int(0);
    };
    if !entry.value.is_string() {
        return out.error(errors::WRONGTYPE);
    }
    let p = entry.value.string_bytes().expect("string");
    let len = p.len() as i64;
    let (mut start, mut end);
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    match argv.len() {
        4 | 5 => {
            let (Some(s), Some(e)) = (parse_i64(argv.get(2)), parse_i64(argv.get(3))) else {
                return out.error(errors::NOT_INTEGER);
            };
            (start, end) = (s, e);
            if start < 0 && end < 0 && start > end {
                return out.int(0);
            }
            let is_bit = if argv.len() == 5 {
                match range_unit(argv.get(4)) {
                    Some(b) => b,
                    None => return out.error(errors::SYNTAX),
                }
            } else {
                false
            };
            let total = if is_bit { len << 3 } else { len };
            if start < 0 {
                start += total;
            }
            if end < 0 {
                end += total;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= total {
                end = total - 1;
            }
            if is_bit && start <= end {
                (first_mask, last_mask) = edge_masks(start, end);
                start >>= 3;
                end >>= 3;
            }
        }
        2 => {
            start = 0;
            end = len - 1;
        }
        _ => return out.error(errors::SYNTAX),
    }
    if start > end {
        return out.int(0);
    }
    let (s, e) = (start as usize, end as usize);
    let mut count = popcount(&p[s..=e]);
    count -= (p[s] & first_mask).count_ones() as u64;
    count -= (p[e] & last_mask).count_ones() as u64;
    out.int(count as i64);
}

/// Redis's redisBitpos: the first bit equal to `bit`; for 0 the string is
/// taken as zero-padded on the right, for 1 there may be none (-1).
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0 } else { 0xff };
    for (i, &b) in bytes.iter().enumerate() {
        if b != skip {
            let lead = if bit { b.leading_zeros() } else { (!b).leading_zeros() };
            return i as i64 * 8 + lead as i64;
        }
    }
    if bit {
        -1
    } else {
        bytes.len() as i64 * 8
    }
}

fn bitpos(ctx: &mut Ctx, argv: &Argv) {
    let bit = match parse_i64(argv.get(2)) {
        None => return ctx.out.error(errors::NOT_INTEGER),
        Some(0) => false,
        Some(1) => true,
        Some(_) => return ctx.out.error("ERR The bit argument must be 1 or 0."),
    };
    let now = ctx.now_ms;
    let out = &mut *ctx.out;
    let Some(entry) = ctx.state.dbs[ctx.db].read(argv.get(1), now) else {
        return out.int(if bit { -1 } else { 0 });
    };
    if !entry.value.is_string() {
        return out.error(errors::WRONGTYPE);
    }
    let p = entry.value.string_bytes().expect("string");
    let len = p.len() as i64;
    let (mut start, mut end);
    let mut end_given = false;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    match argv.len() {
        4..=6 => {
            let Some(s) = parse_i64(argv.get(3)) else {
                return out.error(errors::NOT_INTEGER);
            };
            start = s;
            let mut is_bit = false;
            if argv.len() == 6 {
                match range_unit(argv.get(5)) {
                    Some(b) => is_bit = b,
                    None => return out.error(errors::SYNTAX),
                }
            }
            if argv.len() >= 5 {
                let Some(e) = parse_i64(argv.get(4)) else {
                    return out.error(errors::NOT_INTEGER);
                };
                end = e;
                end_given = true;
            } else {
                end = if is_bit { (len << 3) + 7 } else { len - 1 };
            }
            let total = if is_bit { len << 3 } else { len };
            if start < 0 {
                start += total;
            }
            if end < 0 {
                end += total;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= total {
                end = total - 1;
            }
            if is_bit && start <= end {
                (first_mask, last_mask) = edge_masks(start, end);
                start >>= 3;
                end >>= 3;
            }
        }
        3 => {
            start = 0;
            end = len - 1;
        }
        _ => return out.error(errors::SYNTAX),
    }
    if start > end {
        return out.int(-1);
    }
    let mut bytes = end - start + 1;
    let pos = 'result: {
        if first_mask != 0 {
            let mut tmp = if bit {
                p[start as usize] & !first_mask
            } else {
                p[start as usize] | first_mask
            };
            if last_mask != 0 && bytes == 1 {
                tmp = if bit { tmp & !last_mask } else { tmp | last_mask };
            }
            let pos = first_bit(&[tmp], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'result pos;
            }
            start += 1;
            bytes -= 1;
        }
        let current = bytes - (last_mask != 0) as i64;
        if current > 0 {
            let pos = first_bit(&p[start as usize..(start + current) as usize], bit);
            if bytes == current || (pos != -1 && pos != current << 3) {
                break 'result pos;
            }
            start += current;
            bytes -= current;
        }
        let tmp = if bit {
            p[end as usize] & !last_mask
        } else {
            p[end as usize] | last_mask
        };
        first_bit(&[tmp], bit)
    };
    if end_given && !bit && pos == bytes << 3 {
        return out.int(-1);
    }
    out.int(if pos == -1 { -1 } else { pos + (start << 3) });
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx, argv: &Argv) {
    let name = argv.get(1);
    let op = if name.eq_ignore_ascii_case(b"and") {
        BitOp::And
    } else if name.eq_ignore_ascii_case(b"or") {
        BitOp::Or
    } else if name.eq_ignore_ascii_case(b"xor") {
        BitOp::Xor
    } else if name.eq_ignore_ascii_case(b"not") {
        BitOp::Not
    } else {
        return ctx.out.error(errors::SYNTAX);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return ctx.out.error("ERR BITOP NOT must be called with a single source key.");
    }
    let now = ctx.now_ms;
    let db = &mut ctx.state.dbs[ctx.db];
    let mut sources: Vec<Vec<u8>> = Vec::with_capacity(argv.len() - 3);
    for key in argv.iter().skip(3) {
        match db.read(key, now) {
            None => sources.push(Vec::new()),
            Some(entry) => {
                if !entry.value.is_string() {
                    return ctx.out.error(errors::WRONGTYPE);
                }
                sources.push(entry.value.string_bytes().expect("string").into_owned());
            }
        }
    }
    let result = op_bitop(op, &sources);
    let dest = argv.get(2);
    let len = result.len();
    if len > 0 {
        db.set(dest, Value::Raw(result), false, now);
    } else {
        db.delete(dest, now);
    }
    ctx.out.int(len as i64);
}

fn op_bitop(op: BitOp, sources: &[Vec<u8>]) -> Vec<u8> {
    let max = sources.iter().map(Vec::len).max().unwrap_or(0);
    let mut result = vec![0u8; max];
    if max == 0 {
        return result;
    }
    let first = &sources[0];
    result[..first.len()].copy_from_slice(first);
    match op {
        BitOp::Not => result.iter_mut().for_each(|b| *b = !*b),
        BitOp::And => {
            for src in &sources[1..] {
                for (i, r) in result.iter_mut().enumerate() {
                    *r &= src.get(i).copied().unwrap_or(0);
                }
            }
        }
        BitOp::Or | BitOp::Xor => {
            for src in &sources[1..] {
                for (r, s) in result.iter_mut().zip(src) {
                    if op == BitOp::Or {
                        *r |= s;
                    } else {
                        *r ^= s;
                    }
                }
            }
        }
    }
    result
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

struct BitfieldOp {
    offset: u64,
    value: i64,
    op: FieldOp,
    overflow: Overflow,
    bits: u32,
    signed: bool,
}

fn bitfield(ctx: &mut Ctx, argv: &Argv) {
    bitfield_generic(ctx, argv, false);
}

fn bitfield_ro(ctx: &mut Ctx, argv: &Argv) {
    bitfield_generic(ctx, argv, true);
}

/// Parses i<bits> (1..=64) or u<bits> (1..=63).
fn bitfield_type(arg: &[u8]) -> Option<(bool, u32)> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return None,
    };
    let bits = parse_i64(&arg[1..])?;
    let max = if signed { 64 } else { 63 };
    (1..=max).contains(&bits).then_some((signed, bits as u32))
}

fn bitfield_generic(ctx: &mut Ctx, argv: &Argv, read_only_command: bool) {
    let mut ops: Vec<BitfieldOp> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut read_only = true;
    let mut highest_write: u64 = 0;
    let mut j = 2;
    while j < argv.len() {
        let remaining = argv.len() - j - 1;
        let sub = argv.get(j);
        let op = if sub.eq_ignore_ascii_case(b"get") && remaining >= 2 {
            FieldOp::Get
        } else if sub.eq_ignore_ascii_case(b"set") && remaining >= 3 {
            FieldOp::Set
        } else if sub.eq_ignore_ascii_case(b"incrby") && remaining >= 3 {
            FieldOp::IncrBy
        } else if sub.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
            let kind = argv.get(j + 1);
            overflow = if kind.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if kind.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if kind.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                return ctx.out.error("ERR Invalid OVERFLOW type specified");
            };
            j += 2;
            continue;
        } else {
            return ctx.out.error(errors::SYNTAX);
        };
        let Some((signed, bits)) = bitfield_type(argv.get(j + 1)) else {
            return ctx.out.error(BITFIELD_TYPE);
        };
        let Some(offset) = bit_offset(ctx, argv.get(j + 2), Some(bits)) else {
            return;
        };
        let mut value = 0;
        if op != FieldOp::Get {
            read_only = false;
            highest_write = highest_write.max(offset + bits as u64 - 1);
            match parse_i64(argv.get(j + 3)) {
                Some(v) => value = v,
                None => return ctx.out.error(errors::NOT_INTEGER),
            }
        }
        ops.push(BitfieldOp {
            offset,
            value,
            op,
            overflow,
            bits,
            signed,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    let key = argv.get(1);
    let now = ctx.now_ms;
    if read_only {
        let out = &mut *ctx.out;
        let entry = ctx.state.dbs[ctx.db].read(key, now);
        let bytes = match entry {
            None => None,
            Some(entry) => {
                if !entry.value.is_string() {
                    return out.error(errors::WRONGTYPE);
                }
                entry.value.string_bytes()
            }
        };
        let bytes: &[u8] = bytes.as_deref().unwrap_or(&[]);
        out.array(ops.len());
        for op in &ops {
            out.int(field_get(bytes, op));
        }
        return;
    }
    if read_only_command {
        return ctx.out.error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(ops.len());
    let mut changes: u64 = 0;
    let created;
    {
        let Some(target) = bits_for_write(ctx, key, highest_write) else {
            return;
        };
        let (bytes, dirty) = (target.bytes, target.dirty);
        created = target.created;
        for op in &ops {
            if op.op == FieldOp::Get {
                replies.push(Some(field_get(bytes, op)));
                continue;
            }
            let (reply, old, new) = if op.signed {
                let old = get_signed(bytes, op.offset, op.bits);
                let (overflowed, new, reply) = if op.op == FieldOp::IncrBy {
                    let (o, wrapped) = signed_overflow(old, op.value, op.bits, op.overflow);
                    let new = if o != 0 { wrapped } else { old.wrapping_add(op.value) };
                    (o != 0, new, new)
                } else {
                    let (o, wrapped) = signed_overflow(op.value, 0, op.bits, op.overflow);
                    (o != 0, if o != 0 { wrapped } else { op.value }, old)
                };
                if overflowed && op.overflow == Overflow::Fail {
                    (None, 0, 0)
                } else {
                    set_unsigned(bytes, op.offset, op.bits, new as u64);
                    (Some(reply), old as u64, new as u64)
                }
            } else {
                let old = get_unsigned(bytes, op.offset, op.bits);
                let (overflowed, new, reply) = if op.op == FieldOp::IncrBy {
                    let (o, wrapped) = unsigned_overflow(old, op.value, op.bits, op.overflow);
                    let new = if o != 0 {
                        wrapped
                    } else {
                        old.wrapping_add(op.value as u64)
                    };
                    (o != 0, new, new)
                } else {
                    let v = op.value as u64;
                    let (o, wrapped) = unsigned_overflow(v, 0, op.bits, op.overflow);
                    (o != 0, if o != 0 { wrapped } else { v }, old)
                };
                if overflowed && op.overflow == Overflow::Fail {
                    (None, 0, 0)
                } else {
                    set_unsigned(bytes, op.offset, op.bits, new);
                    (Some(reply as i64), old, new)
                }
            };
            if reply.is_some() && (dirty || old != new) {
                changes += 1;
            }
            replies.push(reply);
        }
    }
    // Redis adds one to the dirty counter per changing operation; creating
    // the key signalled the first one already.
    let db = ctx.db();
    if changes > 0 && !created {
        db.modified(key);
    }
    db.stats.dirty += changes.saturating_sub(1);
    ctx.out.array(replies.len());
    for reply in replies {
        match reply {
            Some(n) => ctx.out.int(n),
            None => ctx.out.null(),
        }
    }
}

/// BITFIELD GET on a zero-padded view of `bytes`.
fn field_get(bytes: &[u8], op: &BitfieldOp) -> i64 {
    let byte = (op.offset >> 3) as usize;
    let mut buf = [0u8; 9];
    for (i, b) in buf.iter_mut().enumerate() {
        match bytes.get(byte + i) {
            Some(v) => *b = *v,
            None => break,
        }
    }
    let offset = op.offset - (byte as u64) * 8;
    if op.signed {
        get_signed(&buf, offset, op.bits)
    } else {
        get_unsigned(&buf, offset, op.bits) as i64
    }
}

fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for j in 0..bits as u64 {
        let at = offset + j;
        let bit = (p[(at >> 3) as usize] >> (7 - (at & 7))) & 1;
        value = (value << 1) | bit as u64;
    }
    value
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut value = get_unsigned(p, offset, bits) as i64;
    if bits < 64 && value & (1i64 << (bits - 1)) != 0 {
        value |= -1i64 << bits;
    }
    value
}

fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bit = (value >> (bits as u64 - 1 - j)) & 1;
        let at = offset + j;
        let byte = (at >> 3) as usize;
        let shift = 7 - (at & 7);
        p[byte] = (p[byte] & !(1 << shift)) | ((bit as u8) << shift);
    }
}

/// Redis's checkUnsignedBitfieldOverflow: (1 | -1 | 0, wrapped/saturated).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, kind: Overflow) -> (i32, u64) {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > max_incr) {
        let limit = match kind {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, limit)
    } else if incr < 0 && incr < min_incr {
        let limit = match kind {
            Overflow::Wrap => wrap(),
            _ => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

/// Redis's checkSignedBitfieldOverflow.
fn signed_overflow(value: i64, incr: i64, bits: u32, kind: Overflow) -> (i32, i64) {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        let limit = match kind {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, limit)
    } else if value < min || (bits != 64 && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr) {
        let limit = match kind {
            Overflow::Wrap => wrap(),
            Overflow::Sat => min,
            Overflow::Fail => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::families::string::tests::{new_state, run};

    /// Redis's "SETBIT/BITFIELD only increase dirty when the value changed".
    #[test]
    fn bit_writes_count_dirty_only_on_change() {
        let mut s = new_state();
        let dirty = |s: &crate::shard::ShardState| s.dbs[0].stats.dirty;
        run(&mut s, &[b"SETBIT", b"foo", b"0", b"0"]);
        run(&mut s, &[b"BITFIELD", b"foo2", b"SET", b"i5", b"0", b"0"]);
        assert_eq!(dirty(&s), 2);
        run(&mut s, &[b"SETBIT", b"foo", b"0", b"0"]);
        run(&mut s, &[b"BITFIELD", b"foo2", b"SET", b"i5", b"0", b"0"]);
        assert_eq!(dirty(&s), 2);
        for v in [b"1", b"1", b"0", b"0"] {
            run(&mut s, &[b"SETBIT", b"foo", b"0", v]);
            run(&mut s, &[b"BITFIELD", b"foo2", b"SET", b"i5", b"0", v]);
        }
        assert_eq!(dirty(&s), 6);
        run(&mut s, &[b"BITFIELD", b"foo3", b"INCRBY", b"i5", b"0", b"1"]);
        run(&mut s, &[b"BITFIELD", b"foo3", b"INCRBY", b"i5", b"0", b"1"]);
        assert_eq!(dirty(&s), 8);
        run(&mut s, &[b"SETBIT", b"foo", b"90", b"0"]);
        run(&mut s, &[b"BITFIELD", b"foo2", b"SET", b"i5", b"90", b"0"]);
        assert_eq!(dirty(&s), 10);
        // Several changing operations count one each.
        run(
            &mut s,
            &[
                b"BITFIELD",
                b"foo3",
                b"SET",
                b"u8",
                b"0",
                b"1",
                b"SET",
                b"u8",
                b"8",
                b"1",
            ],
        );
        assert_eq!(dirty(&s), 12);
        run(
            &mut s,
            &[
                b"BITFIELD",
                b"new",
                b"SET",
                b"u8",
                b"0",
                b"1",
                b"SET",
                b"u8",
                b"8",
                b"1",
            ],
        );
        assert_eq!(dirty(&s), 14);
    }

    #[test]
    fn bitfield_overflow_matches_redis() {
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Wrap), (1, 0));
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Sat), (1, 255));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Sat), (-1, 0));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Wrap), (-1, 255));
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), (1, -128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), (-1, -128));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Overflow::Wrap), (1, i64::MIN));
        assert_eq!(signed_overflow(5, 0, 8, Overflow::Fail).0, 0);
    }

    #[test]
    fn bit_fields_round_trip() {
        let mut bytes = vec![0u8; 10];
        set_unsigned(&mut bytes, 3, 13, 0x1abc);
        assert_eq!(get_unsigned(&bytes, 3, 13), 0x1abc);
        set_unsigned(&mut bytes, 7, 64, (-5i64) as u64);
        assert_eq!(get_signed(&bytes, 7, 64), -5);
        set_unsigned(&mut bytes, 0, 4, 0b1010);
        assert_eq!(get_signed(&bytes, 0, 4), -6);
    }

    #[test]
    fn bitpos_and_bitop_basics() {
        assert_eq!(first_bit(&[0xff, 0xf0], false), 12);
        assert_eq!(first_bit(&[0xff, 0xff], false), 16);
        assert_eq!(first_bit(&[0, 0], true), -1);
        assert_eq!(first_bit(&[0, 1], true), 15);
        let r = op_bitop(BitOp::And, &[vec![0xff, 0x0f], vec![0x0f]]);
        assert_eq!(r, vec![0x0f, 0]);
        let r = op_bitop(BitOp::Not, &[vec![0x0f]]);
        assert_eq!(r, vec![0xf0]);
        let r = op_bitop(BitOp::Xor, &[vec![0xff], vec![0x0f, 0x01]]);
        assert_eq!(r, vec![0xf0, 0x01]);
        assert_eq!(popcount(&[0xff; 19]), 152);
        assert_eq!(edge_masks(3, 12), (0xe0, 0x07));
    }
}
