//! What a connection's subscriber has not read yet, in bytes, for the
//! server's backlog gauge: the sum over every wire is what push subscribers
//! owe the server right now, and a leak or a crowd of slow readers shows up
//! in `/stats` as this number, not only as RSS.
//!
//! Change frames in a backlog are the feed's shared frames (a reference
//! each); the gauge counts them at full size, as the bytes still to be sent.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{Chunk, Outgoing, Shared};
use crate::stats::Stats;

impl Outgoing {
    /// Queues `bytes` behind what is pending.
    pub(super) fn queue(&mut self, bytes: Bytes, change: bool, stats: &Stats) {
        self.pending_bytes += bytes.len();
        stats.backlog_bytes.fetch_add(bytes.len() as u64, Relaxed);
        self.pending.push_back(Chunk { bytes, change });
    }

    /// `n` pending bytes were written or dropped.
    pub(super) fn untrack(&mut self, n: usize, stats: &Stats) {
        let n = n.min(self.pending_bytes);
        self.pending_bytes -= n;
        stats.backlog_bytes.fetch_sub(n as u64, Relaxed);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let out = self
            .out
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let left = out.pending_bytes;
        out.untrack(left, self.counter.0.stats());
    }
}
