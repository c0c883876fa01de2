//! Closes HTTP connections that hold a socket without using it: a client that
//! sends its request headers too slowly, and a keep-alive connection with
//! nothing in flight for too long.
//!
//! hyper's own `header_read_timeout` starts when a connection goes idle, so it
//! is one clock for both and would close every idle keep-alive connection at
//! the header deadline. This watchdog keeps two: the header clock runs from a
//! request's first byte (or the accept) until the request is dispatched; the
//! idle clock runs while no request is in flight and no byte moves, so held
//! long-polls and streaming responses are never idle: a stream (an SSE body,
//! a WebSocket on an HTTP/2 stream) holds an [`InFlight`] from [`Streams`]
//! for its whole life, so a quiet stream keeps its connection. Upgraded
//! HTTP/1.1 connections leave hyper, and the watchdog with it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::HttpConfig;
use crate::stats::ConnTag;

/// The requests of one connection, as its handler reports them.
#[derive(Debug, Default)]
pub struct Requests {
    dispatched: AtomicU64,
    in_flight: AtomicU32,
}

impl Requests {
    /// Counts a request as in flight until the guard drops (answered or cancelled).
    pub fn dispatch(self: &Arc<Self>) -> InFlight {
        self.dispatched.fetch_add(1, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }
}

/// What a handler takes to keep its connection busy past its response (a
/// request extension): a stream holds one [`InFlight`] for as long as it lives.
#[derive(Debug, Clone)]
pub struct Streams(pub(crate) Arc<Requests>);

impl Streams {
    /// Counts a stream as in flight until the guard drops.
    pub fn open(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Relaxed);
        InFlight(self.0.clone())
    }
}

/// One request or stream being handled.
#[derive(Debug)]
pub struct InFlight(Arc<Requests>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    SlowHeaders,
    Idle,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SlowHeaders => "request headers too slow",
            Self::Idle => "idle keep-alive",
        })
    }
}

/// What the watchdog has seen of one connection so far.
#[derive(Debug)]
pub struct Watchdog {
    tag: ConnTag,
    requests: Arc<Requests>,
    header_timeout: Duration,
    idle_timeout: Duration,
    seen_read: u64,
    seen_written: u64,
    seen_dispatched: u64,
    /// When the header section being waited for started; the first one is due from the accept.
    head_since: Option<Instant>,
    idle_since: Instant,
}

impl Watchdog {
    pub fn new(tag: ConnTag, requests: Arc<Requests>, limits: &HttpConfig) -> Self {
        let now = Instant::now();
        Self {
            tag,
            requests,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            seen_read: 0,
            seen_written: 0,
            seen_dispatched: 0,
            head_since: Some(now),
            idle_since: now,
        }
    }

    /// The same, for a connection whose next request's head started
    /// arriving at `since` (before hyper took the connection over).
    pub fn head_since(mut self, since: Instant) -> Self {
        self.head_since = Some(since);
        self
    }

    /// How often to look: a deadline is noticed at most this late.
    pub fn period(&self) -> Duration {
        (self.header_timeout.min(self.idle_timeout) / 4)
            .clamp(Duration::from_millis(5), Duration::from_millis(2500))
    }

    /// Looks at the connection at `now`; `Some` when it must be closed.
    pub fn check(&mut self, now: Instant) -> Option<Verdict> {
        let (read, written) = self.tag.io_totals();
        let dispatched = self.requests.dispatched.load(Relaxed);
        let busy = self.requests.in_flight.load(Relaxed) > 0;
        if busy || dispatched != self.seen_dispatched {
            // A request was dispatched, so its header section was complete.
            self.head_since = None;
            self.idle_since = now;
        } else if read != self.seen_read && !(dispatched > 0 && self.tag.is_h2()) {
            // Bytes while no request is dispatched: a header section is arriving.
            // Not on an HTTP/2 connection that has had a request: there they
            // are mostly control frames (a SETTINGS ACK, WINDOW_UPDATEs, PINGs),
            // which neither start a request nor make the connection busy; a
            // HEADERS frame dribbled then is cut by the idle clock.
            self.head_since.get_or_insert(now);
            self.idle_since = now;
        } else if written != self.seen_written {
            // The tail of a response still leaving.
            self.idle_since = now;
        }
        (self.seen_read, self.seen_written, self.seen_dispatched) = (read, written, dispatched);
        match self.head_since {
            Some(since) if now - since >= self.header_timeout => Some(Verdict::SlowHeaders),
            None if now - self.idle_since >= self.idle_timeout => Some(Verdict::Idle),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pollpush_shared::counting::ByteCounter;

    use crate::stats::{ConnCounter, Stats};

    fn watchdog() -> (Watchdog, ConnCounter, Arc<Requests>, Instant) {
        let tag = ConnTag::new(Arc::new(Stats::default()));
        let requests = Arc::new(Requests::default());
        let limits = HttpConfig {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_mins(1),
            ..HttpConfig::default()
        };
        let dog = Watchdog::new(tag.clone(), requests.clone(), &limits);
        let start = dog.idle_since;
        (dog, ConnCounter(tag), requests, start)
    }

    #[test]
    fn a_connection_that_sends_nothing_meets_the_header_deadline() {
        let (mut dog, _, _, t0) = watchdog();
        assert_eq!(dog.check(t0 + Duration::from_secs(9)), None);
        assert_eq!(
            dog.check(t0 + Duration::from_secs(10)),
            Some(Verdict::SlowHeaders)
        );
    }

    #[test]
    fn a_dribbled_header_is_cut_at_the_deadline_from_its_first_byte() {
        let (mut dog, counter, requests, t0) = watchdog();
        drop(requests.dispatch());
        assert_eq!(dog.check(t0 + Duration::from_secs(1)), None);
        for s in 2..=11 {
            counter.read(1);
            let verdict = dog.check(t0 + Duration::from_secs(s));
            assert_eq!(verdict.is_some(), s >= 12, "at {s} s");
        }
        counter.read(1);
        assert_eq!(
            dog.check(t0 + Duration::from_secs(12)),
            Some(Verdict::SlowHeaders)
        );
    }

    #[test]
    fn control_frames_after_an_h2_answer_neither_start_a_header_nor_keep_it_busy() {
        let (mut dog, counter, requests, t0) = watchdog();
        counter.0.speaks_h2();
        drop(requests.dispatch());
        assert_eq!(dog.check(t0 + Duration::from_secs(1)), None);
        // A WINDOW_UPDATE, then a PING every 10 s, and no request.
        for s in (2..=52).step_by(10) {
            counter.read(13);
            assert_eq!(dog.check(t0 + Duration::from_secs(s)), None, "at {s} s");
        }
        assert_eq!(
            dog.check(t0 + Duration::from_secs(61)),
            Some(Verdict::Idle),
            "cut by the idle timeout, not the header one"
        );
    }

    #[test]
    fn an_open_stream_keeps_a_quiet_connection_until_it_ends() {
        let (mut dog, _, requests, t0) = watchdog();
        drop(requests.dispatch());
        let stream = Streams(requests).open();
        assert_eq!(dog.check(t0 + Duration::from_mins(5)), None, "streaming");
        drop(stream);
        assert_eq!(dog.check(t0 + Duration::from_secs(330)), None);
        assert_eq!(dog.check(t0 + Duration::from_mins(6)), Some(Verdict::Idle));
    }

    #[test]
    fn idle_keep_alive_is_closed_but_a_held_request_is_not() {
        let (mut dog, _, requests, t0) = watchdog();
        let held = requests.dispatch();
        assert_eq!(dog.check(t0 + Duration::from_secs(1)), None);
        assert_eq!(dog.check(t0 + Duration::from_mins(5)), None, "held");
        drop(held);
        assert_eq!(dog.check(t0 + Duration::from_secs(301)), None);
        assert_eq!(
            dog.check(t0 + Duration::from_secs(361)),
            Some(Verdict::Idle)
        );
    }
}
