//! The set type: sets (intset / listpack / hashtable). Owned by the set family's issue work; the
//! struct is declared here so `Value` can name it.

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Set {}

impl Set {
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held by the value (for MEMORY USAGE), counted with the
    /// allocator's size classes (`crate::memory::usable_size`).
    pub fn heap_bytes(&self) -> usize {
        unimplemented!("set memory accounting")
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding_name(&self) -> &'static str {
        unimplemented!("set encodings")
    }
}
