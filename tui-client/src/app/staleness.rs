//! How stale a pane is: the age of the oldest server change it does not show yet.
//!
//! The server stamps every change (`Change.at`, `updated_at`); [`ChangeTimes`]
//! remembers those stamps by revision, from whichever pane learnt them first,
//! and [`Staleness`] keeps the distribution of samples over the run.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use pollpush_shared::Revision;

/// The server's commit time of every revision the client heard of.
#[derive(Debug, Clone, Default)]
pub struct ChangeTimes {
    by_revision: BTreeMap<Revision, DateTime<Utc>>,
}

/// Revisions kept; older ones are forgotten (no pane is that far behind in practice).
const KEEP: usize = 100_000;

impl ChangeTimes {
    /// Records when `revision` was committed, unless a better (earlier-learnt, exact) stamp exists.
    pub fn insert(&mut self, revision: Revision, at: DateTime<Utc>) {
        self.by_revision.entry(revision).or_insert(at);
        self.forget_oldest();
    }

    /// Replaces an estimate by the exact stamp of a pushed change.
    pub fn insert_exact(&mut self, revision: Revision, at: DateTime<Utc>) {
        self.by_revision.insert(revision, at);
        self.forget_oldest();
    }

    fn forget_oldest(&mut self) {
        while self.by_revision.len() > KEEP {
            self.by_revision.pop_first();
        }
    }

    /// The commit time of the oldest known revision after `shown`.
    pub fn first_after(&self, shown: Revision) -> Option<DateTime<Utc>> {
        self.by_revision
            .range(shown + 1..)
            .next()
            .map(|(_, at)| *at)
    }

    /// How long ago (at server time `server_now`) the oldest change newer than `shown` happened.
    pub fn staleness(&self, shown: Revision, server_now: DateTime<Utc>) -> Duration {
        self.first_after(shown)
            .and_then(|at| (server_now - at).to_std().ok())
            .unwrap_or_default()
    }
}

/// Staleness now, and its distribution over the run (sampled on every tick).
#[derive(Debug, Clone)]
pub struct Staleness {
    pub now: Duration,
    /// Sampled values, in microseconds.
    samples: Histogram<u64>,
    /// The exact peak, taken just before each update that cured staleness.
    peak: Duration,
}

impl Default for Staleness {
    fn default() -> Self {
        Self {
            now: Duration::ZERO,
            samples: Histogram::new_with_bounds(1, 3_600_000_000, 2)
                .expect("constant histogram bounds are valid"),
            peak: Duration::ZERO,
        }
    }
}

impl Staleness {
    /// One regular sample: counts towards the percentiles.
    pub fn sample(&mut self, value: Duration) {
        self.now = value;
        self.samples
            .saturating_record(value.as_micros().min(u128::from(u64::MAX)) as u64);
        self.peak = self.peak.max(value);
    }

    /// The value just before the pane caught up: only the max needs it.
    pub fn observe_peak(&mut self, value: Duration) {
        self.peak = self.peak.max(value);
    }

    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.samples.value_at_quantile(q))
    }

    pub fn max(&self) -> Duration {
        self.peak
    }

    /// Adds `other`'s samples and peak: the percentiles of both together,
    /// exactly as one histogram that recorded both (load workers' shares).
    pub fn merge(&mut self, other: &Staleness) {
        for bucket in other.samples.iter_recorded() {
            record(
                &mut self.samples,
                bucket.value_iterated_to(),
                bucket.count_at_value(),
            );
        }
        self.peak = self.peak.max(other.peak);
    }
}

/// Counts `n` samples of `value`, clamped to the histogram's range.
fn record(samples: &mut Histogram<u64>, value: u64, n: u64) {
    let value = value.clamp(samples.low(), samples.high());
    // In range by the clamp, so it cannot fail.
    let _ = samples.record_n(value, n);
}

/// How a [`Staleness`] crosses a process boundary (a load worker's report):
/// its non-empty buckets as `[value_us, count]` and its peak.
#[derive(serde::Serialize, serde::Deserialize)]
struct Buckets {
    peak_us: u64,
    buckets: Vec<(u64, u64)>,
}

impl serde::Serialize for Staleness {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Buckets {
            peak_us: self.peak.as_micros().min(u128::from(u64::MAX)) as u64,
            buckets: self
                .samples
                .iter_recorded()
                .map(|b| (b.value_iterated_to(), b.count_at_value()))
                .collect(),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Staleness {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parts = Buckets::deserialize(deserializer)?;
        let mut staleness = Staleness::default();
        for (value, n) in parts.buckets {
            record(&mut staleness.samples, value, n);
        }
        staleness.peak = Duration::from_micros(parts.peak_us);
        Ok(staleness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(ms)
    }

    #[test]
    fn staleness_is_the_age_of_the_oldest_unseen_change() {
        let mut times = ChangeTimes::default();
        times.insert(1, t(1_000));
        times.insert(2, t(1_500));
        times.insert(3, t(1_800));
        assert_eq!(times.staleness(1, t(2_000)), Duration::from_millis(500));
        assert_eq!(times.staleness(3, t(2_000)), Duration::ZERO);
    }

    #[test]
    fn a_change_from_the_future_is_not_negative_staleness() {
        let mut times = ChangeTimes::default();
        times.insert(2, t(5_000));
        assert_eq!(times.staleness(1, t(4_000)), Duration::ZERO);
    }

    #[test]
    fn percentiles_come_from_samples_and_max_from_peaks() {
        let mut s = Staleness::default();
        for ms in [0, 100, 200, 300] {
            s.sample(Duration::from_millis(ms));
        }
        s.observe_peak(Duration::from_millis(950));
        assert!(s.quantile(0.5) >= Duration::from_millis(99));
        assert!(s.quantile(0.5) <= Duration::from_millis(101));
        assert_eq!(s.max(), Duration::from_millis(950));
        assert_eq!(s.now, Duration::from_millis(300));
    }
}
