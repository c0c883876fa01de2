//! What the clients of one protocol observed, shared by all of them: the
//! revision each shows, counters, and HDR histograms of staleness and latency.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pollpush_shared::Revision;

use super::arrivals::Arrivals;
use crate::app::advance::Advance;
use crate::app::staleness::{ChangeTimes, Staleness};
use crate::net::counting::Traffic;

/// A client that has not shown any revision yet.
const NONE: u64 = u64::MAX;

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Everything the clients of one protocol observed, shared by all of them.
#[derive(Debug)]
pub struct Protocol {
    pub traffic: Arc<Traffic>,
    /// The revision each client shows, by client index.
    shown: Vec<AtomicU64>,
    /// Clients that have shown a revision at least once.
    pub ready: AtomicUsize,
    pub requests: AtomicU64,
    pub not_modified: AtomicU64,
    pub messages: AtomicU64,
    pub seen: AtomicU64,
    pub missed: AtomicU64,
    pub errors: AtomicU64,
    pub reconnects: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// Errors by cause ([`super::tally::cause`]).
    pub error_causes: Mutex<BTreeMap<String, u64>>,
    /// Sampled age of the oldest change a client does not show yet.
    pub staleness: Mutex<Staleness>,
    /// Every delivery: its latency, and its change's arrivals (one lock,
    /// taken once per delivery).
    pub delivered: Mutex<Delivered>,
    /// Polls that moved a client forward: `(from, to, at)`, resolved into
    /// latencies at the end, when every commit time is known.
    pub(super) deliveries: Mutex<Vec<(Revision, Revision, DateTime<Utc>)>>,
}

/// What deliveries add up to.
#[derive(Debug, Clone, Default)]
pub struct Delivered {
    /// From a change's commit to the moment a client shows it.
    pub latency: Staleness,
    /// Per change: its deliveries and the last one's latency.
    pub arrivals: Arrivals,
}

impl Delivered {
    fn record(&mut self, revision: Revision, latency: Duration) {
        self.latency.sample(latency);
        self.arrivals.record(revision, latency);
    }
}

impl Protocol {
    pub(super) fn new(clients: usize) -> Self {
        Self {
            traffic: Arc::new(Traffic::default()),
            shown: (0..clients).map(|_| AtomicU64::new(NONE)).collect(),
            ready: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            last_error: Mutex::new(None),
            error_causes: Mutex::new(BTreeMap::new()),
            staleness: Mutex::new(Staleness::default()),
            delivered: Mutex::new(Delivered::default()),
            deliveries: Mutex::new(Vec::new()),
        }
    }

    pub fn clients(&self) -> usize {
        self.shown.len()
    }

    /// Starts a measurement window: zeroes every counter but the traffic
    /// (whose totals the caller takes as a baseline).
    pub fn reset(&self) {
        for counter in [
            &self.requests,
            &self.not_modified,
            &self.messages,
            &self.seen,
            &self.missed,
            &self.errors,
            &self.reconnects,
        ] {
            counter.store(0, Relaxed);
        }
        lock(&self.error_causes).clear();
        *lock(&self.staleness) = Staleness::default();
        *lock(&self.delivered) = Delivered::default();
        lock(&self.deliveries).clear();
    }

    /// Moves client `id` to `revision`, counting what it jumped over.
    /// Returns the revision it showed before, when it moved forward.
    pub(super) fn advance(&self, id: usize, revision: Revision) -> Option<Revision> {
        let shown = Some(self.shown[id].load(Relaxed)).filter(|&s| s != NONE);
        match Advance::of(shown, revision) {
            Advance::Stale => None,
            Advance::First => {
                self.shown[id].store(revision, Relaxed);
                self.ready.fetch_add(1, Relaxed);
                None
            }
            Advance::Forward { from, missed } => {
                self.shown[id].store(revision, Relaxed);
                self.seen.fetch_add(1, Relaxed);
                self.missed.fetch_add(missed, Relaxed);
                Some(from)
            }
        }
    }

    /// A client showed `revision`, `latency` after its commit.
    pub(super) fn delivered(&self, revision: Revision, latency: Duration) {
        lock(&self.delivered).record(revision, latency);
    }

    pub(super) fn failed(&self, error: String) {
        self.errors.fetch_add(1, Relaxed);
        *lock(&self.error_causes)
            .entry(super::tally::cause(&error).to_owned())
            .or_default() += 1;
        *lock(&self.last_error) = Some(error);
    }

    /// Records how stale every client is at `now`.
    pub(super) fn sample(&self, times: &ChangeTimes, now: DateTime<Utc>) {
        let mut staleness = lock(&self.staleness);
        let mut memo: Option<(Revision, Duration)> = None;
        for shown in &self.shown {
            let shown = shown.load(Relaxed);
            if shown == NONE {
                continue;
            }
            let value = match memo {
                Some((revision, value)) if revision == shown => value,
                _ => times.staleness(shown, now),
            };
            memo = Some((shown, value));
            staleness.sample(value);
        }
    }

    /// Turns the recorded poll deliveries into latencies, one per revision caught up.
    pub fn resolve_deliveries(&self, times: &ChangeTimes) {
        let deliveries = std::mem::take(&mut *lock(&self.deliveries));
        let mut delivered = lock(&self.delivered);
        for (from, to, at) in deliveries {
            for revision in from + 1..=to {
                if let Some(committed) = times.first_after(revision - 1) {
                    delivered.record(revision, (at - committed).to_std().unwrap_or_default());
                }
            }
        }
    }
}
