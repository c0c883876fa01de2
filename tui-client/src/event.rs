//! The one event type: every producer (terminal, ticker, each lane, stats)
//! sends these over one channel and `App::update` consumes them.
//!
//! Every event carries the local time it happened (`at`), so `update` never
//! reads a clock and tests can replay exact timelines.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use pollpush_shared::{FeedMessage, Revision, ServerMessage, ServerStats, Species};

use crate::lane::LaneKind;

/// Everything that can change the client's state.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key press from the terminal.
    Key(KeyEvent),
    /// The terminal was resized: redraw now.
    Resize,
    /// Time passed: sample staleness, expire highlights, roll the byte-rate sparklines.
    Tick { at: DateTime<Utc> },
    /// Something happened on one lane.
    Lane(LaneEvent),
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

/// One thing a lane's producer saw, with its traffic so far.
#[derive(Debug, Clone)]
pub struct LaneEvent {
    pub lane: LaneKind,
    pub at: DateTime<Utc>,
    pub traffic: TrafficTotals,
    pub update: LaneUpdate,
    /// How long the request took, for a lane that polls on a timer (the load
    /// reports its percentiles); `None` for the other lanes.
    pub took: Option<Duration>,
}

/// What a lane saw. Request lanes answer with lists; streaming lanes connect
/// and receive messages; any lane can fail.
#[derive(Debug, Clone)]
pub enum LaneUpdate {
    /// A streaming lane's handshake with `node` succeeded; `resume_from` is
    /// the revision it resumes after.
    Connected {
        resume_from: Option<Revision>,
        node: String,
    },
    /// `200`: the whole list at `revision`.
    List {
        revision: Revision,
        etag: Option<String>,
        species: Vec<Species>,
        server_date: Option<DateTime<Utc>>,
    },
    /// `200` of an upstream feed (`--feed`): its items at `revision`, in the upstream's order.
    FeedList {
        revision: Revision,
        etag: Option<String>,
        items: Vec<serde_json::Value>,
        server_date: Option<DateTime<Utc>>,
    },
    /// An upstream feed's snapshot or change, from a stream (its other
    /// messages, `resync` among them, are the server's own: [`LaneUpdate::Message`]).
    Feed(FeedMessage),
    /// `304`: nothing changed since the ETag sent (a poll, or a long-poll that timed out).
    NotModified {
        revision: Option<Revision>,
        server_date: Option<DateTime<Utc>>,
    },
    /// A message from a stream (a WebSocket frame, an SSE event), parsed.
    Message(ServerMessage),
    /// A new body or message from a service that is not a pollpush server.
    Payload(Box<Payload>),
    /// The request or the connection failed; the producer retries after
    /// `retry_in`, on `next_node` when it moves to another node.
    Failed {
        error: String,
        retry_in: Duration,
        next_node: Option<String>,
    },
}

impl From<LaneEvent> for Event {
    fn from(event: LaneEvent) -> Self {
        Self::Lane(event)
    }
}

/// A producer's cumulative bytes on the socket and TLS handshakes at one
/// moment, and how its last connection spoke; carried inside events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrafficTotals {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub handshakes: Handshakes,
    /// The last connection's HTTP and TLS versions; unknown before the first.
    pub wire: Wire,
}

impl TrafficTotals {
    /// What was added since `base` (saturating, so a reset never underflows);
    /// the wire is the current one.
    pub fn since(self, base: TrafficTotals) -> TrafficTotals {
        TrafficTotals {
            bytes_in: self.bytes_in.saturating_sub(base.bytes_in),
            bytes_out: self.bytes_out.saturating_sub(base.bytes_out),
            handshakes: Handshakes {
                full: self.handshakes.full.saturating_sub(base.handshakes.full),
                resumed: self
                    .handshakes
                    .resumed
                    .saturating_sub(base.handshakes.resumed),
            },
            wire: self.wire,
        }
    }

    pub fn total(self) -> u64 {
        self.bytes_in + self.bytes_out
    }
}

/// TLS handshakes a producer made: a full one costs a key exchange and the
/// certificate chain; a resumed one reuses an earlier session's secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Handshakes {
    pub full: u64,
    pub resumed: u64,
}

/// How a connection speaks: which HTTP, and which TLS if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Wire {
    pub http: Option<HttpVersion>,
    pub tls: Option<TlsVersion>,
}

/// The HTTP a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HttpVersion {
    H1,
    H2,
}

/// The TLS version a connection negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

impl HttpVersion {
    /// As reports write it: `1.1` or `2`.
    pub fn number(self) -> &'static str {
        match self {
            Self::H1 => "1.1",
            Self::H2 => "2",
        }
    }
}

impl TlsVersion {
    /// As reports write it: `1.2` or `1.3`.
    pub fn number(self) -> &'static str {
        match self {
            Self::V1_2 => "1.2",
            Self::V1_3 => "1.3",
        }
    }
}

impl Wire {
    /// How a pane title names it: `h2 · TLS1.3`, `h1.1 · TLS1.2`, `h2c`, `h1.1`;
    /// `None` before the first connection.
    pub fn label(self) -> Option<String> {
        let http = match (self.http?, self.tls) {
            (HttpVersion::H2, None) => "h2c",
            (HttpVersion::H2, Some(_)) => "h2",
            (HttpVersion::H1, _) => "h1.1",
        };
        Some(match self.tls {
            Some(tls) => format!("{http} · TLS{}", tls.number()),
            None => http.to_owned(),
        })
    }
}

/// One update from a watched service (`--poll`, `--push`): what it said and
/// what can be measured of it without knowing its protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The body's or the message's own size, without headers or framing.
    pub size: u64,
    pub body: Body,
    /// The event's name (socket.io, SSE), when the feed names events.
    pub name: Option<String>,
    /// The server's `Date` with this answer, to correct for clock offset.
    pub server_date: Option<DateTime<Utc>>,
    /// The time `--time-field` names, or why it could not be read.
    pub stamp: Option<Result<DateTime<Utc>, String>>,
    /// Redirects followed to get it.
    pub redirects: u32,
    /// It came from a pollpush server (an `X-Revision` header, a `hello`
    /// message), which `--server` measures in full.
    pub pollpush: bool,
    /// Each item's `--id-field` and `--version-field`, as text (the update
    /// itself, or each element of a list), or why they could not be read.
    pub items: Option<Result<Vec<ItemVersion>, String>>,
}

/// One item of an update, by the fields that match it across lanes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemVersion {
    pub id: String,
    pub version: String,
}

/// A payload's content, as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(serde_json::Value),
    /// Anything else, as text (lossy for binary), with its content type.
    Text {
        content_type: String,
        text: String,
    },
}
