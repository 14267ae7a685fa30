//! `Packed`: a sequence of byte strings in one buffer, the small-collection
//! encoding (Redis's listpack plays this part). Each entry is its length as
//! a LEB128 varint, its bytes, then the length again with its varint bytes
//! reversed (like listpack's backlen), so the buffer can be walked from
//! either end: a short string costs two bytes of overhead and the whole
//! collection is one allocation. Access is a linear walk, which is why
//! collections convert to a table past a size.

/// Entries are addressed by their byte offset in the buffer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed {
    buf: Vec<u8>,
    count: u32,
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// One entry as stored: varint length, bytes, reversed varint length.
fn encode_entry(item: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * varint_len(item.len()) + item.len());
    put_entry(&mut out, item);
    out
}

fn put_entry(out: &mut Vec<u8>, item: &[u8]) {
    put_varint(out, item.len());
    out.extend_from_slice(item);
    let start = out.len();
    put_varint(out, item.len());
    out[start..].reverse();
}

impl Packed {
    pub fn new() -> Packed {
        Packed::default()
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the encoded buffer.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    pub fn heap_bytes(&self) -> usize {
        crate::memory::usable_size(self.buf.capacity())
    }

    /// The entry at `offset` and the offset of the next one.
    pub fn entry_at(&self, offset: usize) -> (&[u8], usize) {
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = offset;
        loop {
            let b = self.buf[i];
            len |= ((b & 0x7f) as usize) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        (&self.buf[i..i + len], i + len + varint_len(len))
    }

    /// The offset of the last entry (O(1), from its trailing length).
    pub fn last_offset(&self) -> Option<usize> {
        let mut end = self.buf.len();
        if end == 0 {
            return None;
        }
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            end -= 1;
            let b = self.buf[end];
            len |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Some(end - len - varint_len(len))
    }

    /// Entries with their offsets, in order.
    pub fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            packed: self,
            offset: 0,
        }
    }

    /// The offset of entry number `index` (a walk from the front).
    #[cfg(test)]
    pub fn offset_of(&self, index: usize) -> Option<usize> {
        self.iter().nth(index).map(|(offset, _)| offset)
    }

    pub fn push(&mut self, item: &[u8]) {
        put_entry(&mut self.buf, item);
        self.count += 1;
    }

    /// Inserts `item` before the entry at `offset` (or at the end when
    /// `offset` is the buffer's length).
    pub fn insert_at(&mut self, offset: usize, item: &[u8]) {
        self.buf.splice(offset..offset, encode_entry(item));
        self.count += 1;
    }

    /// Removes `n` consecutive entries starting at `offset`.
    pub fn remove_at(&mut self, offset: usize, n: usize) {
        let mut end = offset;
        for _ in 0..n {
            end = self.entry_at(end).1;
        }
        self.buf.drain(offset..end);
        self.count -= n as u32;
        if self.buf.capacity() > 64 && self.buf.capacity() > self.buf.len() * 2 {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces the entry at `offset` with `item`.
    pub fn replace_at(&mut self, offset: usize, item: &[u8]) {
        let end = self.entry_at(offset).1;
        self.buf.splice(offset..end, encode_entry(item));
    }
}

pub struct PackedIter<'a> {
    packed: &'a Packed,
    offset: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.offset >= self.packed.buf.len() {
            return None;
        }
        let at = self.offset;
        let (item, next) = self.packed.entry_at(at);
        self.offset = next;
        Some((at, item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_insert_remove_replace() {
        let mut p = Packed::new();
        let long = vec![b'x'; 300];
        p.push(b"a");
        p.push(&long);
        p.push(b"");
        assert_eq!(p.len(), 3);
        let items: Vec<&[u8]> = p.iter().map(|(_, i)| i).collect();
        assert_eq!(items, vec![&b"a"[..], &long[..], &b""[..]]);
        let second = p.offset_of(1).unwrap();
        p.insert_at(second, b"mid");
        p.replace_at(p.offset_of(0).unwrap(), b"first");
        let items: Vec<&[u8]> = p.iter().map(|(_, i)| i).collect();
        assert_eq!(items, vec![&b"first"[..], &b"mid"[..], &long[..], &b""[..]]);
        p.remove_at(p.offset_of(1).unwrap(), 2);
        let items: Vec<&[u8]> = p.iter().map(|(_, i)| i).collect();
        assert_eq!(items, vec![&b"first"[..], &b""[..]]);
        assert_eq!(p.len(), 2);
        p.insert_at(p.byte_len(), b"end");
        assert_eq!(p.iter().last().unwrap().1, b"end");
        assert_eq!(p.last_offset(), Some(p.iter().last().unwrap().0));
        p.push(&long);
        assert_eq!(p.entry_at(p.last_offset().unwrap()).0, &long[..]);
    }
}
