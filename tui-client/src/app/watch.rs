//! What a pane measures of a service that is not a pollpush server: only what
//! any service allows (updates, their rate, gaps and size, time since the
//! last), plus the delay on arrival when `--time-field` names a timestamp.

use std::time::Duration;

use chrono::{DateTime, Utc};

use std::collections::HashMap;

use super::App;
use super::staleness::Staleness;
use crate::event::{ItemVersion, Payload};
use crate::lane;
use crate::lane::LaneKind;

impl App {
    /// An update from a watched service: counted like any lane's exchange,
    /// measured by what any service allows.
    pub(super) fn on_payload(&mut self, index: usize, at: DateTime<Utc>, payload: Box<Payload>) {
        if self.lanes[index].kind.exchange() == lane::Exchange::Requests {
            self.answered(index, at, payload.server_date, None);
        } else {
            if let Some(date) = payload.server_date {
                self.clock.adopt_date(date, at);
            }
            let pane = &mut self.lanes[index];
            pane.counters.messages += 1;
            pane.last_heard = Some(at);
        }
        let lane = self.lanes[index].kind;
        let mut lags = Vec::new();
        let mut item_error = None;
        match &payload.items {
            Some(Ok(items)) => {
                lags.extend(items.iter().filter_map(|i| self.items.see(lane, i, at)));
            }
            Some(Err(error)) => item_error = Some(error.clone()),
            None => {}
        }
        let server_now = self.clock.server_now(at);
        let pane = &mut self.lanes[index];
        if payload.items.is_some() {
            pane.watch.item_error = item_error;
        }
        for lag in lags {
            pane.watch.lag.sample(lag);
            pane.watch.matched += 1;
        }
        pane.watch.pollpush |= payload.pollpush;
        pane.counters.seen += 1;
        if let Some(delay) = pane.watch.record(at, server_now, payload) {
            pane.staleness.sample(delay);
        }
    }
}

/// The watched lane's numbers since start or the last reset.
#[derive(Debug, Clone, Default)]
pub struct WatchStats {
    /// The newest payload, as the pane shows it.
    pub last: Option<Box<Payload>>,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    pub gaps: Gaps,
    /// Sum of payload sizes (bodies or messages, no headers or framing).
    pub payload_bytes: u64,
    pub redirects: u64,
    /// Why `--time-field` could not be read from the last update.
    pub stamp_error: Option<String>,
    /// How long after the other lane this one showed the same item version.
    pub lag: Staleness,
    /// Item versions seen on both lanes, this one later.
    pub matched: u64,
    /// Why `--id-field` / `--version-field` could not be read from the last update.
    pub item_error: Option<String>,
    /// The service is a pollpush server: `--server` would measure it in full.
    pub pollpush: bool,
}

/// Most item versions remembered; past it the memory starts over (a long run
/// of a large list must not grow without bound).
const MAX_ITEMS: usize = 100_000;

/// When an item version was first shown, and by which lane; `None` once
/// both lanes showed it, so a resent list does not count it again.
#[derive(Debug, Clone, Default)]
pub struct ItemTimes(HashMap<ItemVersion, Option<(LaneKind, DateTime<Utc>)>>);

impl ItemTimes {
    /// Lane `lane` shows `item` at `at`: how long after another lane, if one showed it first.
    pub fn see(
        &mut self,
        lane: LaneKind,
        item: &ItemVersion,
        at: DateTime<Utc>,
    ) -> Option<Duration> {
        match self.0.get_mut(item) {
            None => {
                if self.0.len() >= MAX_ITEMS {
                    self.0.clear();
                }
                self.0.insert(item.clone(), Some((lane, at)));
                None
            }
            Some(first @ Some(_)) => {
                let (other, then) = first.take()?;
                if other == lane {
                    *first = Some((other, then));
                    return None;
                }
                Some((at - then).to_std().unwrap_or_default())
            }
            Some(None) => None,
        }
    }
}

/// Gaps between consecutive updates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gaps {
    pub count: u32,
    pub min: Duration,
    pub max: Duration,
    pub total: Duration,
}

impl Gaps {
    fn add(&mut self, gap: Duration) {
        self.min = if self.count == 0 {
            gap
        } else {
            self.min.min(gap)
        };
        self.max = self.max.max(gap);
        self.total += gap;
        self.count += 1;
    }

    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| self.total / self.count)
    }
}

impl WatchStats {
    /// Takes one update that arrived at `at`; returns its delay on arrival
    /// (server time now minus its `--time-field`), when it has one.
    pub fn record(
        &mut self,
        at: DateTime<Utc>,
        server_now: DateTime<Utc>,
        payload: Box<Payload>,
    ) -> Option<Duration> {
        if let Some(last) = self.last_at {
            self.gaps.add((at - last).to_std().unwrap_or_default());
        }
        self.first_at.get_or_insert(at);
        self.last_at = Some(at);
        self.payload_bytes += payload.size;
        self.redirects += u64::from(payload.redirects);
        let delay = match &payload.stamp {
            Some(Ok(stamp)) => {
                self.stamp_error = None;
                Some((server_now - *stamp).to_std().unwrap_or_default())
            }
            Some(Err(error)) => {
                self.stamp_error = Some(error.clone());
                None
            }
            None => None,
        };
        self.last = Some(payload);
        delay
    }

    /// Updates per second between the first and the last one.
    pub fn rate(&self, updates: u64) -> Option<f64> {
        let span = (self.last_at? - self.first_at?).to_std().ok()?;
        (updates > 1 && !span.is_zero()).then(|| (updates - 1) as f64 / span.as_secs_f64())
    }

    /// Starts the numbers over; keeps what the pane shows.
    pub fn reset(&mut self) {
        *self = Self {
            last: self.last.take(),
            ..Self::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Body;
    use chrono::TimeDelta;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(ms)
    }

    fn payload(stamp: Option<Result<DateTime<Utc>, String>>) -> Payload {
        Payload {
            size: 10,
            body: Body::Json(serde_json::json!({})),
            name: None,
            server_date: None,
            stamp,
            redirects: 0,
            pollpush: false,
            items: None,
        }
    }

    #[test]
    fn gaps_rate_and_delay_come_from_arrivals() {
        let mut w = WatchStats::default();
        assert_eq!(w.record(t(0), t(0), Box::new(payload(None))), None);
        let delay = w.record(t(1000), t(1250), Box::new(payload(Some(Ok(t(1000))))));
        assert_eq!(delay, Some(Duration::from_millis(250)));
        w.record(
            t(4000),
            t(4000),
            Box::new(payload(Some(Err("no field".into())))),
        );
        assert_eq!(w.gaps.min, Duration::from_secs(1));
        assert_eq!(w.gaps.max, Duration::from_secs(3));
        assert_eq!(w.gaps.mean(), Some(Duration::from_secs(2)));
        assert_eq!(w.rate(3), Some(0.5));
        assert_eq!(
            (w.payload_bytes, w.stamp_error.as_deref()),
            (30, Some("no field"))
        );
        w.reset();
        assert!(w.last.is_some() && w.gaps.count == 0);
    }

    #[test]
    fn an_item_version_lags_once_behind_the_lane_that_showed_it_first() {
        let mut times = ItemTimes::default();
        let item = ItemVersion {
            id: "1".into(),
            version: "7".into(),
        };
        let push = LaneKind::Feed(crate::lane::FeedProtocol::Ws);
        assert_eq!(times.see(push, &item, t(100)), None);
        assert_eq!(times.see(push, &item, t(200)), None, "the same lane again");
        let lag = times.see(LaneKind::UrlPoll, &item, t(900));
        assert_eq!(lag, Some(Duration::from_millis(800)));
        assert_eq!(
            times.see(push, &item, t(1000)),
            None,
            "a resent list counts once"
        );
    }
}
