//! A node out of file descriptors: `accept()` fails with `EMFILE` or
//! `ENFILE`. Counted for `/stats`, logged at most once a second, and shown by
//! `/readyz` from the failure until a connection is accepted again, so a load
//! balancer sends new clients elsewhere while existing ones are still served.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The accept loop's view of the descriptor limit.
#[derive(Debug, Default)]
pub struct Saturation {
    /// `accept()` calls that failed for want of a descriptor.
    failures: AtomicU64,
    /// Connections closed at accept while saturated.
    shed: AtomicU64,
    saturated: AtomicBool,
    /// When the last warning was logged, in ms of uptime (0: never).
    logged_at_ms: AtomicU64,
}

/// Fewest milliseconds between two warnings.
const LOG_EVERY: Duration = Duration::from_secs(1);

impl Saturation {
    /// One failed `accept()` at `uptime`; `true` when it should be logged
    /// (the first in a second).
    pub fn failed(&self, uptime: Duration) -> bool {
        self.failures.fetch_add(1, Relaxed);
        self.saturated.store(true, Relaxed);
        let now = u64::try_from(uptime.as_millis()).unwrap_or(u64::MAX).max(1);
        let last = self.logged_at_ms.load(Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64;
        due && self
            .logged_at_ms
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_ok()
    }

    /// A connection closed at accept because the node is saturated.
    pub fn shed_one(&self) {
        self.shed.fetch_add(1, Relaxed);
    }

    /// A connection was accepted: descriptors are available again.
    pub fn accepted(&self) {
        if self.saturated.load(Relaxed) {
            self.saturated.store(false, Relaxed);
        }
    }

    pub fn is_saturated(&self) -> bool {
        self.saturated.load(Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Relaxed)
    }

    pub fn shed(&self) -> u64 {
        self.shed.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_each_but_logged_once_a_second() {
        let s = Saturation::default();
        let logged: Vec<bool> = [0, 10, 999, 1_001, 1_500, 2_100]
            .map(|ms| s.failed(Duration::from_millis(ms)))
            .into();
        assert_eq!(logged, [true, false, false, true, false, true]);
        assert_eq!(s.failures(), 6);
        assert!(s.is_saturated());
        s.accepted();
        assert!(!s.is_saturated());
    }
}
