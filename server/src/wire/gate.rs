//! The feed's gate on a wire: who holds it, and when changes may flow.

use pollpush_shared::Revision;

use super::{Gate, Wire};

/// One subscription's claim on the wire's gate, from [`Wire::hold`]. A
/// subscription that was replaced (the client subscribed again) can no
/// longer open, resync or close the gate of the one that replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold(u64);

impl Wire {
    /// Holds changes from now on, until [`Wire::go_live`]: call before
    /// subscribing or resyncing. More than `capacity` held or pending lags.
    pub fn hold(&self, capacity: usize) -> Hold {
        let mut out = self.0.lock();
        out.epoch += 1;
        out.gate = Gate::Held;
        out.held.clear();
        out.capacity = capacity.max(1);
        Hold(out.epoch)
    }

    /// [`Wire::hold`] again for a resync, unless `hold` was replaced since.
    pub fn rehold(&self, hold: Hold, capacity: usize) -> Option<Hold> {
        if self.0.lock().epoch != hold.0 {
            return None;
        }
        Some(self.hold(capacity))
    }

    /// The snapshot or replay up to `last` is written (or pending): the held
    /// changes after it follow, and later ones go straight to the socket.
    pub fn go_live(&self, hold: Hold, last: Revision) {
        let mut out = self.0.lock();
        if out.gate != Gate::Held || out.epoch != hold.0 {
            return;
        }
        out.gate = Gate::Live;
        out.last = last;
        for frame in std::mem::take(&mut out.held) {
            self.0.offer_live(&mut out, &frame);
        }
    }

    /// Fell a feed capacity behind: what was queued was dropped, a resync is due.
    pub fn is_lagged(&self) -> bool {
        self.0.lock().gate == Gate::Lagged
    }

    /// Ignores changes from now on (unsubscribed, or the session is closing).
    pub fn stop_feed(&self) {
        let mut out = self.0.lock();
        out.gate = Gate::Off;
        out.held = Vec::new();
    }

    /// [`Wire::stop_feed`], unless `hold` was replaced since.
    pub fn stop_feed_of(&self, hold: Hold) {
        if self.0.lock().epoch == hold.0 {
            self.stop_feed();
        }
    }
}
