//! The allocator, chosen deliberately, and its own view of the heap for `/stats`.
//!
//! glibc's malloc gives every thread that allocates under contention an arena
//! of its own and returns freed memory to the system only from the top of
//! each: history rows decoded on the blocking pool and freed on the runtime's
//! workers left RSS far above the live heap under reconnect churn (issue 19).
//! jemalloc returns unused pages on a decay timer and tells how much is live
//! (`allocated`) against how much it keeps (`resident`), which `/stats`
//! shows. Build without the `jemalloc` feature for the system allocator
//! (the soak compares both; see bench/README.md).

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
