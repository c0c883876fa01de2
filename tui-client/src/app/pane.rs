//! The state of one pane: what it shows, how it got there and what it cost.
//!
//! One type for every lane: the lanes differ in how data arrives, not in what
//! a user wants to compare, so all are measured by the same rules.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pollpush_shared::{Change, ChangeOp, Revision, Species, SpeciesId};

use super::advance::Advance;
use super::feed::FeedItems;
use super::staleness::{ChangeTimes, Staleness};
use super::watch::WatchStats;
use crate::event::TrafficTotals;
use crate::lane::LaneKind;

/// How long a changed row stays highlighted, and a deleted row stays struck out.
pub const HIGHLIGHT: TimeDelta = TimeDelta::seconds(1);
/// Seconds of byte-rate history kept for the sparkline.
const RATE_HISTORY: usize = 120;

/// The pane's connection, as a user should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Live,
    Retrying {
        error: String,
        retry_at: DateTime<Utc>,
    },
}

/// One species as the pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub species: Species,
    /// When this pane last saw the row change (local time), for highlighting.
    pub changed_at: Option<DateTime<Utc>>,
    /// When this pane learnt of its deletion; the row goes after [`HIGHLIGHT`].
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Counters since start or the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneCounters {
    /// Updates of the view: one per change pushed, one per list that moved the revision.
    pub seen: u64,
    /// Revisions jumped over: the ones this pane never showed.
    pub missed: u64,
    /// HTTP requests answered (200 and 304).
    pub requests: u64,
    pub not_modified: u64,
    /// Stream messages received (WebSocket frames, SSE events).
    pub messages: u64,
    pub reconnects: u64,
    /// Reconnections that landed on another node than the last connection's.
    pub failovers: u64,
    pub resyncs: u64,
    pub errors: u64,
}

/// Per wall-clock second: bytes moved and the worst staleness, for the sparklines.
#[derive(Debug, Clone, Default)]
pub struct Trend {
    pub bytes: VecDeque<u64>,
    /// Milliseconds.
    pub staleness: VecDeque<u64>,
    second: Option<i64>,
    start: TrafficTotals,
    worst: Duration,
}

impl Trend {
    fn roll(&mut self, at: DateTime<Utc>, traffic: TrafficTotals, staleness: Duration) {
        let now = at.timestamp();
        match self.second {
            None => {
                self.second = Some(now);
                self.start = traffic;
            }
            Some(second) if now > second => {
                self.bytes.push_back(traffic.since(self.start).total());
                self.staleness.push_back(self.worst.as_millis() as u64);
                let idle = (now - second - 1).clamp(0, RATE_HISTORY as i64) as usize;
                self.bytes.extend(std::iter::repeat_n(0, idle));
                self.staleness.extend(std::iter::repeat_n(0, idle));
                for history in [&mut self.bytes, &mut self.staleness] {
                    while history.len() > RATE_HISTORY {
                        history.pop_front();
                    }
                }
                self.second = Some(now);
                self.start = traffic;
                self.worst = Duration::ZERO;
            }
            Some(_) => {}
        }
        self.worst = self.worst.max(staleness);
    }

    /// Bytes in the last complete second.
    pub fn last_bytes(&self) -> u64 {
        self.bytes.back().copied().unwrap_or(0)
    }
}

/// Everything one pane knows.
#[derive(Debug, Clone)]
pub struct PaneState {
    pub kind: LaneKind,
    pub link: Link,
    pub rows: BTreeMap<SpeciesId, Row>,
    /// The revision the pane shows; `None` until the first list arrives.
    pub revision: Option<Revision>,
    /// The revision first shown since start or the last reset: `seen + missed`
    /// always equals `revision - baseline`.
    pub baseline: Option<Revision>,
    pub counters: PaneCounters,
    pub staleness: Staleness,
    pub trend: Trend,
    /// Cumulative traffic of the producer, as last reported.
    traffic: TrafficTotals,
    /// Traffic at the last reset.
    traffic_base: TrafficTotals,
    /// Successful connections ever: the second one is the first reconnect.
    connections: u64,
    /// Local time of the last answer or message.
    pub last_heard: Option<DateTime<Utc>>,
    /// The node the pane talks to (the last one it connected to).
    pub node: Option<String>,
    /// Where the producer goes after a disconnect; cleared once connected.
    pub next_node: Option<String>,
    /// A watched service's payloads and their numbers (`--poll`, `--push`).
    pub watch: WatchStats,
    /// An upstream feed's items (`--feed`), once the first list arrived.
    pub feed: Option<FeedItems>,
}

impl PaneState {
    pub fn new(kind: LaneKind) -> Self {
        Self {
            kind,
            link: Link::Connecting,
            rows: BTreeMap::new(),
            revision: None,
            baseline: None,
            counters: PaneCounters::default(),
            staleness: Staleness::default(),
            trend: Trend::default(),
            traffic: TrafficTotals::default(),
            traffic_base: TrafficTotals::default(),
            connections: 0,
            last_heard: None,
            node: None,
            next_node: None,
            watch: WatchStats::default(),
            feed: None,
        }
    }

    /// Traffic since start or the last reset.
    pub fn traffic(&self) -> TrafficTotals {
        self.traffic.since(self.traffic_base)
    }

    /// Bytes (both ways) per view update, the cost of freshness.
    pub fn bytes_per_change(&self) -> Option<u64> {
        (self.counters.seen > 0).then(|| self.traffic().total() / self.counters.seen)
    }

    pub fn set_traffic(&mut self, traffic: TrafficTotals) {
        self.traffic = traffic;
    }

    pub fn connected(&mut self) {
        self.connections += 1;
        if self.connections > 1 {
            self.counters.reconnects += 1;
        }
        self.link = Link::Live;
    }

    /// Connected to `node`: a failover when the last connection was to another one.
    pub fn connected_to(&mut self, node: String) {
        if self.node.as_ref().is_some_and(|last| *last != node) {
            self.counters.failovers += 1;
        }
        self.node = Some(node);
        self.next_node = None;
        self.connected();
    }

    pub fn failed(&mut self, at: DateTime<Utc>, error: String, retry_in: Duration) {
        self.counters.errors += 1;
        let retry_in = TimeDelta::from_std(retry_in).unwrap_or(TimeDelta::MAX);
        self.link = Link::Retrying {
            error,
            retry_at: at.checked_add_signed(retry_in).unwrap_or(at),
        };
    }

    /// Moves the shown revision forward, counting what was jumped over.
    /// Returns false when `revision` is not newer (a duplicate or a replay).
    pub(super) fn advance(
        &mut self,
        revision: Revision,
        server_now: DateTime<Utc>,
        times: &ChangeTimes,
    ) -> bool {
        match Advance::of(self.revision, revision) {
            Advance::Stale => return false,
            Advance::First => self.baseline = Some(revision),
            Advance::Forward { from, missed } => {
                self.staleness
                    .observe_peak(times.staleness(from, server_now));
                self.counters.seen += 1;
                self.counters.missed += missed;
            }
        }
        self.revision = Some(revision);
        true
    }

    /// A whole list at `revision` (a 200, or a stream's snapshot).
    pub fn apply_list(
        &mut self,
        at: DateTime<Utc>,
        server_now: DateTime<Utc>,
        revision: Revision,
        species: Vec<Species>,
        times: &ChangeTimes,
    ) {
        if self.revision.is_some_and(|shown| revision < shown) {
            // The server went back in time (a restart with a fresh store): start over.
            self.revision = None;
        }
        let first = self.revision.is_none();
        if !self.advance(revision, server_now, times) {
            return;
        }
        let mut rows = BTreeMap::new();
        for s in species {
            let changed_at = match self.rows.remove(&s.id) {
                Some(old) if old.species == s && old.deleted_at.is_none() => old.changed_at,
                _ if first => None,
                _ => Some(at),
            };
            rows.insert(
                s.id,
                Row {
                    species: s,
                    changed_at,
                    deleted_at: None,
                },
            );
        }
        for (id, mut gone) in std::mem::take(&mut self.rows) {
            gone.deleted_at.get_or_insert(at);
            rows.insert(id, gone);
        }
        self.rows = rows;
    }

    /// One pushed change.
    pub fn apply_change(
        &mut self,
        at: DateTime<Utc>,
        server_now: DateTime<Utc>,
        change: Change,
        times: &ChangeTimes,
    ) {
        if !self.advance(change.revision, server_now, times) {
            return;
        }
        let id = change.species.id;
        let row = Row {
            species: change.species,
            changed_at: Some(at),
            deleted_at: (change.op == ChangeOp::Deleted).then_some(at),
        };
        self.rows.insert(id, row);
    }

    /// Time passed: sample staleness, drop deleted rows, roll the byte rate.
    pub fn tick(&mut self, at: DateTime<Utc>, server_now: DateTime<Utc>, times: &ChangeTimes) {
        let mut staleness = Duration::ZERO;
        if let Some(shown) = self.revision {
            staleness = times.staleness(shown, server_now);
            self.staleness.sample(staleness);
        }
        self.rows
            .retain(|_, row| row.deleted_at.is_none_or(|gone| at - gone < HIGHLIGHT));
        self.trend.roll(at, self.traffic, staleness);
    }

    /// Zeroes counters, traffic and staleness; keeps what the pane shows.
    pub fn reset(&mut self) {
        self.counters = PaneCounters::default();
        self.baseline = self.revision;
        self.traffic_base = self.traffic;
        self.staleness = Staleness::default();
        self.trend = Trend::default();
        self.watch.reset();
    }
}
