//! The one event type: every producer (terminal, ticker, poller, WebSocket,
//! stats) sends these over one channel and `App::update` consumes them.
//!
//! Every event carries the local time it happened (`at`), so `update` never
//! reads a clock and tests can replay exact timelines.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use pollpush_shared::{Revision, ServerMessage, ServerStats, Species};

/// Everything that can change the client's state.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key press from the terminal.
    Key(KeyEvent),
    /// The terminal was resized: redraw now.
    Resize,
    /// Time passed: sample staleness, expire highlights, roll the byte-rate sparklines.
    Tick { at: DateTime<Utc> },
    /// One poll of `GET /species` finished (or failed).
    Poll(PollEvent),
    /// Something happened on the WebSocket.
    Push(PushEvent),
    /// `GET /stats` answered (or failed).
    Stats {
        at: DateTime<Utc>,
        /// The node asked last (the one that answered, on success).
        node: String,
        /// Boxed: a cluster's stats would make every event as large.
        result: Result<Box<ServerStats>, String>,
    },
    /// The outcome of a user action, shown briefly in the footer.
    Notice { at: DateTime<Utc>, text: String },
}

/// The result of one poll, with the poller's traffic so far.
#[derive(Debug, Clone)]
pub struct PollEvent {
    pub at: DateTime<Utc>,
    pub traffic: TrafficTotals,
    pub outcome: PollOutcome,
}

#[derive(Debug, Clone)]
pub enum PollOutcome {
    /// `200`: the whole list at `revision`.
    Fresh {
        revision: Revision,
        etag: Option<String>,
        species: Vec<Species>,
        server_date: Option<DateTime<Utc>>,
    },
    /// `304`: nothing changed since the ETag we sent.
    NotModified {
        revision: Option<Revision>,
        server_date: Option<DateTime<Utc>>,
    },
    /// The request failed; the poller retries after `retry_in`.
    Failed { error: String, retry_in: Duration },
}

/// One thing the WebSocket task saw, with its traffic so far.
#[derive(Debug, Clone)]
pub struct PushEvent {
    pub at: DateTime<Utc>,
    pub traffic: TrafficTotals,
    pub kind: PushKind,
}

#[derive(Debug, Clone)]
pub enum PushKind {
    /// The handshake with `node` succeeded; `resume_from` is the `since` we will subscribe with.
    Connected {
        resume_from: Option<Revision>,
        node: String,
    },
    /// A frame from the server, parsed.
    Message(ServerMessage),
    /// The connection failed or closed; the task reconnects after `retry_in`,
    /// to `next_node` (the same node unless there are several).
    Disconnected {
        error: String,
        retry_in: Duration,
        next_node: String,
    },
}

impl From<PollEvent> for Event {
    fn from(event: PollEvent) -> Self {
        Self::Poll(event)
    }
}

impl From<PushEvent> for Event {
    fn from(event: PushEvent) -> Self {
        Self::Push(event)
    }
}

/// A producer's cumulative bytes on the socket at one moment, carried inside events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficTotals {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl TrafficTotals {
    /// What was added since `base` (saturating, so a reset never underflows).
    pub fn since(self, base: TrafficTotals) -> TrafficTotals {
        TrafficTotals {
            bytes_in: self.bytes_in.saturating_sub(base.bytes_in),
            bytes_out: self.bytes_out.saturating_sub(base.bytes_out),
        }
    }

    pub fn total(self) -> u64 {
        self.bytes_in + self.bytes_out
    }
}
