//! `CompactBytes`: a 24-byte byte string that stores up to 22 bytes inline
//! and longer ones on the heap, for keys and small string values.

const INLINE_MAX: usize = 22;

/// A byte string of at most 22 bytes inline, else a boxed slice.
#[derive(Clone, PartialEq, Eq)]
pub enum CompactBytes {
    Inline { len: u8, data: [u8; INLINE_MAX] },
    Heap(Box<[u8]>),
}

impl CompactBytes {
    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_MAX {
            let mut data = [0u8; INLINE_MAX];
            data[..bytes.len()].copy_from_slice(bytes);
            CompactBytes::Inline {
                len: bytes.len() as u8,
                data,
            }
        } else {
            CompactBytes::Heap(bytes.into())
        }
    }

    pub fn from_vec(bytes: Vec<u8>) -> Self {
        if bytes.len() <= INLINE_MAX {
            Self::new(&bytes)
        } else {
            CompactBytes::Heap(bytes.into_boxed_slice())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            CompactBytes::Inline { len, data } => &data[..*len as usize],
            CompactBytes::Heap(boxed) => boxed,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
}

impl std::ops::Deref for CompactBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for CompactBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_round_trip() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 24);
        assert_eq!(std::mem::size_of::<Option<CompactBytes>>(), 24);
        for len in [0, 1, 22, 23, 100] {
            let data: Vec<u8> = (0..len as u8).collect();
            let c = CompactBytes::new(&data);
            assert_eq!(c.as_slice(), &data[..]);
            assert_eq!(matches!(c, CompactBytes::Inline { .. }), len <= 22);
        }
    }
}
