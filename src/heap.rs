//! What values really hold on the heap, allocator overhead included: the verified-token
//! cache bounds its bytes with these.

/// What the allocator really hands out for one block: rounded up to 16 bytes, plus 16 of
/// bookkeeping (glibc malloc; other allocators are in the same range).
pub(crate) const fn heap_block(bytes: usize) -> usize {
    if bytes == 0 { 0 } else { bytes.div_ceil(16) * 16 + 16 }
}

pub(crate) const fn heap_str(capacity: usize) -> usize {
    heap_block(capacity)
}

pub(crate) const fn heap_vec<T>(capacity: usize) -> usize {
    heap_block(capacity * std::mem::size_of::<T>())
}
