//! Heap accounting for INFO memory: a global allocator that forwards to
//! jemalloc (as Redis links it: dense size classes and no per-chunk header,
//! which matters for millions of small keys) and counts the bytes live, per
//! thread, without locks.
//!
//! Each thread takes a slot in a static array of cache-line-padded counters
//! on its first allocation; allocations and frees adjust that slot with
//! Relaxed atomics (a free may land on another thread's slot, so a slot can
//! go negative; only the sum means something). `used_bytes` sums the slots.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use tikv_jemallocator::Jemalloc as Inner;

/// Counter slots; threads beyond this share the last slot (still exact, only
/// more contended).
const SLOTS: usize = 256;

#[repr(align(64))]
struct Padded(AtomicI64);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: Padded = Padded(AtomicI64::new(0));
static COUNTERS: [Padded; SLOTS] = [ZERO; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
/// The highest total seen by `used_bytes` (used_memory_peak).
static PEAK: AtomicI64 = AtomicI64::new(0);

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn slot() -> usize {
    // try_with: during thread teardown the thread-local may be gone.
    SLOT.try_with(|s| {
        let mut v = s.get();
        if v == usize::MAX {
            v = NEXT_SLOT.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1);
            s.set(v);
        }
        v
    })
    .unwrap_or(SLOTS - 1)
}

/// The counting allocator installed as the global allocator.
pub struct Counting;

// SAFETY: every method forwards to jemalloc with the caller's
// arguments unchanged; the counting touches only atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { Inner.alloc(layout) };
        if !p.is_null() {
            COUNTERS[slot()].0.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { Inner.alloc_zeroed(layout) };
        if !p.is_null() {
            COUNTERS[slot()].0.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { Inner.dealloc(ptr, layout) };
        COUNTERS[slot()].0.fetch_sub(layout.size() as i64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { Inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            COUNTERS[slot()]
                .0
                .fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes currently allocated on the heap by the whole process.
pub fn used_bytes() -> u64 {
    let total: i64 = COUNTERS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
    let total = total.max(0);
    PEAK.fetch_max(total, Ordering::Relaxed);
    total as u64
}

/// The highest `used_bytes` observed.
pub fn peak_bytes() -> u64 {
    PEAK.load(Ordering::Relaxed).max(0) as u64
}

/// Redis's `mem_allocator` field: "jemalloc-5.3.0".
pub fn allocator_name() -> String {
    let version = tikv_jemalloc_ctl::version::read().unwrap_or("unknown");
    format!("jemalloc-{}", version.split('-').next().unwrap_or(version))
}

/// Turns jemalloc's background purging thread on or off (Redis's
/// `jemalloc-bg-thread`): without it, pages freed by a table resize stay
/// resident until the allocator is next busy.
pub fn set_background_thread(enabled: bool) {
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(enabled) {
        crate::warning!("Could not set jemalloc background_thread to {enabled}: {error}");
    }
}

/// jemalloc's own statistics report (MEMORY MALLOC-STATS).
pub fn allocator_stats() -> String {
    unsafe extern "C" fn write(opaque: *mut libc::c_void, text: *const libc::c_char) {
        // SAFETY: `opaque` is the String passed below, alive for the call;
        // jemalloc hands a NUL-terminated string.
        unsafe {
            let out = &mut *(opaque as *mut String);
            out.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
        }
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(write),
            &mut out as *mut String as *mut libc::c_void,
            std::ptr::null(),
        );
    }
    out
}

/// Returns dirty pages of every arena to the OS (MEMORY PURGE).
pub fn purge() {
    // "arena.<MALLCTL_ARENAS_ALL>.purge", MALLCTL_ARENAS_ALL = 4096.
    let name = b"arena.4096.purge\0";
    // SAFETY: a purge takes and returns no values; the name is NUL-terminated.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr() as *const libc::c_char,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        crate::warning!("jemalloc purge failed: error {rc}");
    }
}

/// Bytes jemalloc would really hand out for a request of `size` (its size
/// class), for MEMORY USAGE estimates.
pub fn usable_size(size: usize) -> usize {
    if size == 0 {
        return 0;
    }
    // SAFETY: nallocx only computes a size class; it does not allocate.
    unsafe { tikv_jemalloc_sys::nallocx(size, 0) }
}

/// Resident set size from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(1) as u64
}

/// Total physical memory from /proc/meminfo.
pub fn total_system_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Redis's bytesToHuman: "894.88K", "6.46M", "0B".
pub fn human(bytes: u64) -> String {
    let d = bytes as f64;
    const K: f64 = 1024.0;
    if d < K {
        format!("{bytes}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else if d < K * K * K * K * K * K {
        format!("{:.2}P", d / (K * K * K * K * K))
    } else {
        format!("{bytes}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocations() {
        let before = used_bytes();
        let big: Vec<u8> = vec![1; 4 << 20];
        let during = used_bytes();
        assert!(during >= before + (4 << 20) - (1 << 20), "{before} {during}");
        drop(big);
        assert!(peak_bytes() >= during);
        assert_eq!(human(916360), "894.88K");
        assert_eq!(human(0), "0B");
    }
}
