//! The allocator, chosen by measurement, and its own view of the heap for `/stats`.
//!
//! Issue 19's growth under reconnect churn came from whole histories held by
//! replays, decoded on the blocking pool and freed on the runtime's workers,
//! which also fragmented glibc's per-thread arenas. With replays read a chunk
//! at a time, a 32-minute soak (bench/soak.sh, bench/README.md) kept both
//! allocators flat: glibc's malloc at 1.05x between minute 5 and the end and
//! 24.8 MB, jemalloc at 1.09x and 29.0 MB. So the default is the system's,
//! and `--features jemalloc` swaps in jemalloc, whose own accounting (`allocated`
//! live, `resident` kept) then shows in `/stats` and `/metrics`; glibc offers
//! no such view without `unsafe`.

/// The allocator's own accounting, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    /// In live allocations.
    pub allocated: u64,
    /// In pages the allocator keeps mapped and resident (live plus free, not yet returned).
    pub resident: u64,
}

#[cfg(feature = "jemalloc")]
mod chosen {
    use super::Heap;

    #[global_allocator]
    static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    pub const ALLOCATOR: &str = "jemalloc";

    /// jemalloc's statistics, refreshed (they are cached until the epoch advances).
    pub fn heap() -> Option<Heap> {
        use tikv_jemalloc_ctl::{epoch, stats};
        epoch::advance().ok()?;
        Some(Heap {
            allocated: stats::allocated::read().ok()? as u64,
            resident: stats::resident::read().ok()? as u64,
        })
    }
}

#[cfg(not(feature = "jemalloc"))]
mod chosen {
    use super::Heap;

    pub const ALLOCATOR: &str = "system";

    /// The system allocator offers no portable view of its heap.
    pub fn heap() -> Option<Heap> {
        None
    }
}

pub use chosen::{ALLOCATOR, heap};
