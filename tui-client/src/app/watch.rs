//! What a pane measures of a service that is not a pollpush server: only what
//! any service allows (updates, their rate, gaps and size, time since the
//! last), plus the delay on arrival when `--time-field` names a timestamp.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{App, lane};
use crate::event::Payload;

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
        let server_now = self.clock.server_now(at);
        let pane = &mut self.lanes[index];
        pane.counters.seen += 1;
        if let Some(delay) = pane.watch.record(at, server_now, payload) {
            pane.staleness.sample(delay);
        }
    }
}

/// The watched lane's numbers since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq)]
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
}
