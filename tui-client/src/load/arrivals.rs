//! Write to last subscriber: for every change, how many clients showed it
//! and how long after its commit the last of them did. A latency histogram
//! answers "how fast is a delivery"; this answers "when had everyone got
//! it", the figure a fan-out is judged by. Workers' arrivals add up change
//! by change (deliveries summed, the last arrival the later of the two).

use std::collections::BTreeMap;
use std::time::Duration;

use pollpush_shared::Revision;
use serde::{Deserialize, Serialize};

/// One change's deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    /// Clients that showed it.
    pub deliveries: u64,
    /// From its commit to the last client showing it, in microseconds.
    pub last_us: u64,
    /// From its commit to the first client showing it, in microseconds.
    #[serde(default)]
    pub first_us: u64,
}

/// Every change's deliveries, by revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrivals(pub BTreeMap<Revision, Arrival>);

/// The write-to-last figures of a window: percentiles over its changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct WriteToLast {
    /// Changes delivered at least once.
    pub changes: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One change in the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChangeArrival {
    pub revision: Revision,
    pub deliveries: u64,
    pub last_ms: f64,
    /// From its commit to the first client showing it.
    pub first_ms: f64,
}

/// The nearest-rank `q` quantile of `sorted`; `None` when it is empty.
pub fn nearest_rank<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

impl Arrival {
    /// Adds `other`'s deliveries of the same change.
    fn add(&mut self, other: Self) {
        self.first_us = if self.deliveries == 0 {
            other.first_us
        } else {
            self.first_us.min(other.first_us)
        };
        self.deliveries += other.deliveries;
        self.last_us = self.last_us.max(other.last_us);
    }
}

impl Arrivals {
    /// A client showed `revision` `latency` after its commit.
    pub fn record(&mut self, revision: Revision, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.entry(revision).or_default().add(Arrival {
            deliveries: 1,
            last_us: us,
            first_us: us,
        });
    }

    /// Adds `other`'s deliveries of the same changes (another lane's, or another worker's).
    pub fn merge(&mut self, other: &Self) {
        for (revision, theirs) in &other.0 {
            self.0.entry(*revision).or_default().add(*theirs);
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Nearest-rank percentiles of the changes' last arrivals.
    pub fn summary(&self) -> WriteToLast {
        let mut last: Vec<u64> = self.0.values().map(|a| a.last_us).collect();
        last.sort_unstable();
        let at = |q: f64| nearest_rank(&last, q).map_or(0.0, ms);
        WriteToLast {
            changes: last.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: last.last().map_or(0.0, |&us| ms(us)),
        }
    }

    /// Every change, in revision order.
    pub fn changes(&self) -> Vec<ChangeArrival> {
        self.0
            .iter()
            .map(|(&revision, a)| ChangeArrival {
                revision,
                deliveries: a.deliveries,
                last_ms: ms(a.last_us),
                first_ms: ms(a.first_us),
            })
            .collect()
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrivals(samples: &[(Revision, u64)]) -> Arrivals {
        let mut a = Arrivals::default();
        for &(revision, ms) in samples {
            a.record(revision, Duration::from_millis(ms));
        }
        a
    }

    #[test]
    fn the_last_arrival_of_each_change_is_kept_and_workers_add_up() {
        let mut a = arrivals(&[(1, 10), (1, 30), (2, 5)]);
        // Through JSON, as a worker sends it.
        let b: Arrivals = serde_json::from_str(
            &serde_json::to_string(&arrivals(&[(1, 20), (2, 90), (3, 7)])).expect("serializes"),
        )
        .expect("parses");
        a.merge(&b);
        let changes = a.changes();
        assert_eq!(
            changes
                .iter()
                .map(|c| (c.revision, c.deliveries, c.first_ms, c.last_ms))
                .collect::<Vec<_>>(),
            [(1, 3, 10.0, 30.0), (2, 2, 5.0, 90.0), (3, 1, 7.0, 7.0)]
        );
        let summary = a.summary();
        assert_eq!(
            (summary.changes, summary.p50_ms, summary.max_ms),
            (3, 30.0, 90.0)
        );
    }

    #[test]
    fn no_change_is_a_zero_summary() {
        assert_eq!(Arrivals::default().summary(), WriteToLast::default());
    }
}
