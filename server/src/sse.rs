//! Server-Sent Events: `GET /species/events`, one response that never ends.
//!
//! First `event: snapshot` with the list, then for every change `id: R`,
//! `event: change` and, as `data`, the very text `/ws` subscribers receive.
//! Each change's event bytes are made once ([`ChangeFrame::sse`]) and shared
//! by every stream. `Last-Event-ID: R` (what a browser's `EventSource` sends
//! when it reconnects) or `?since=R` resumes from the history like `/ws`
//! `since`. A stream whose client stops reading falls behind its bounded
//! queue and gets `event: resync` and a fresh snapshot instead of a backlog.
//!
//! A stream that is its connection's first HTTP/1.1 request leaves hyper
//! ([`direct`]): the fan-out writes its events to the socket as for `/ws`.
//! The rest (HTTP/2, a stream after other requests on a kept-alive
//! connection) is a hyper response body fed by a queued subscription (`Pump`).

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method};
use pollpush_shared::{Problem, Revision};
use warp::Reply;
use warp::reply::Response;

use crate::feed::{Next, Replay, Start, Subscription};
use crate::frames::sse_resync_event;
use crate::frames::{ChangeFrame, Chunked};
use crate::reply::{method_not_allowed, problem_response};
use crate::shutdown::Shutdown;
use crate::since::{self, BadSince};
use crate::snapshot::Snapshot;
use crate::state::State;
use crate::stats::{ConnTag, Protocol};
use crate::watchdog::{InFlight, Streams};
use crate::wire::Wire;

/// A comment line this often keeps proxies from closing an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The comment itself.
const KEEP_ALIVE_COMMENT: &[u8] = b": keep-alive\n\n";

mod direct;
pub use direct::Direct;

/// `GET /species/events`.
pub async fn events(
    state: State,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    tag: Option<ConnTag>,
    wire: Option<Wire>,
    streams: Option<Streams>,
) -> Response {
    if method != Method::GET {
        return method_not_allowed("GET, OPTIONS");
    }
    let since = match requested_since(&query, &headers) {
        Ok(since) => since,
        Err(e) => return problem_response(&e.problem()),
    };
    let open = match Open::reserve(&state) {
        Ok(open) => open,
        Err(refused) => return *refused,
    };
    if let Some(tag) = &tag {
        tag.mark(Protocol::Sse);
    }
    // A stream is push: cap what a client that stops reading may hold in the
    // kernel, so the bounded queue and the resync take over.
    if let (Some(wire), Some(bytes)) = (&wire, state.config.send_buffer_bytes) {
        wire.cap_send_buffer(bytes);
    }
    let pump = Pump {
        shutdown: state.shutdown.clone(),
        open,
        _live: streams.as_ref().map(Streams::open),
        state,
        since,
        sub: None,
        replay: None,
        pending: VecDeque::new(),
        keep_alive: tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE),
    };
    let body = futures_util::stream::unfold(pump, |mut pump| async move {
        let event = pump.next_event().await?;
        Some((Ok::<_, std::convert::Infallible>(event), pump))
    });
    stream_response(Box::pin(body))
}

/// The `200` of an event stream on the warp path (the species' and every feed's).
pub(crate) fn stream_response(events: Events) -> Response {
    let mut r = warp::reply::stream(EventBody::new(events)).into_response();
    stream_headers(r.headers_mut());
    r
}

/// The `503` of a stream past `max_streams` (the species' or a feed's).
pub(crate) fn too_many_streams(max_streams: usize) -> Response {
    let mut r = problem_response(&Problem::new(
        "too-many-streams",
        "Service Unavailable",
        503,
        format!("{max_streams} event streams are open; try again shortly"),
    ));
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// What every stream's response says of itself, on either path.
fn stream_headers(h: &mut HeaderMap) {
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx would otherwise buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// Where the client asks to resume: `?since=R`, else `Last-Event-ID: R`.
/// A `Last-Event-ID` that is not a number gets a fresh snapshot, as for a
/// first connection (browsers send back whatever id they last saw); a number
/// no store can hold is refused on both, rather than taken for "no since".
pub(crate) fn requested_since(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Option<Revision>, BadSince> {
    if let Some(raw) = query.get("since") {
        return since::parse(raw).map(Some);
    }
    let Some(raw) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    match since::parse(raw.trim()) {
        Ok(since) => Ok(Some(since)),
        Err(BadSince::NotANumber(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) type Events =
    Pin<Box<dyn Stream<Item = Result<Bytes, std::convert::Infallible>> + Send>>;

/// The response body. warp wants it `Sync`, and the pump's future (it awaits
/// the store) is not; the `Mutex` makes it so at no cost, as it is only ever
/// reached through `&mut` (`get_mut`), never locked.
pub(crate) struct EventBody(std::sync::Mutex<Events>);

impl EventBody {
    /// A stream's events as a body warp takes (the feeds' streams too).
    pub(crate) fn new(events: Events) -> Self {
        Self(std::sync::Mutex::new(events))
    }
}

impl Stream for EventBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.0.get_mut() {
            Ok(events) => events.as_mut().poll_next(cx),
            Err(_) => Poll::Ready(None),
        }
    }
}

/// Uncounts one stream when its body is dropped.
struct Open(State);

impl Open {
    /// Counts a stream, unless `max_streams` are open: then the `503` for it.
    fn reserve(state: &State) -> Result<Self, Box<Response>> {
        let stats = &state.stats;
        if stats.sse_subscribers.fetch_add(1, Relaxed) < state.config.max_streams as u64 {
            return Ok(Self(state.clone()));
        }
        stats.sse_subscribers.fetch_sub(1, Relaxed);
        Err(Box::new(too_many_streams(state.config.max_streams)))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.stats.sse_subscribers.fetch_sub(1, Relaxed);
    }
}

/// One stream's events, made as hyper asks for the next body chunk: the
/// connection's own task waits on the feed subscription, so a change costs
/// one wake-up per stream and no extra task or channel. While the client does
/// not read, hyper does not ask, the feed queue fills, and the stream is
/// resynchronized.
struct Pump {
    state: State,
    since: Option<Revision>,
    /// `None` until the first chunk is asked for.
    sub: Option<Subscription>,
    /// The changes after `since` not yet queued in `pending`.
    replay: Option<Replay>,
    /// The start (replay or snapshot), or the snapshot after a resync.
    pending: VecDeque<Bytes>,
    keep_alive: tokio::time::Interval,
    /// Kept, not cloned per event: a clone per event per stream is pure overhead.
    shutdown: Shutdown,
    open: Open,
    /// The connection is not idle while the stream is open, however quiet.
    _live: Option<InFlight>,
}

impl Pump {
    /// The next chunk, or `None` to end the stream (feed closed, server
    /// shutting down, or the subscription could not start).
    async fn next_event(&mut self) -> Option<Bytes> {
        if self.sub.is_none() {
            let (start, sub) = self
                .state
                .feed
                .subscribe_from(&self.state.source, self.since)
                .await;
            match start {
                Start::Replay(replay) => self.replay = Some(replay),
                Start::Snapshot(snapshot) => self.pending.push_back(snapshot_event(&snapshot)),
            }
            self.sub = Some(sub);
        }
        if self.pending.is_empty() && self.replay.is_some() {
            self.next_replay_chunk().await;
        }
        let stats = &self.open.0.stats;
        if let Some(event) = self.pending.pop_front() {
            stats.sse_messages_out.fetch_add(1, Relaxed);
            return Some(event);
        }
        let sub = self.sub.as_mut()?;
        let event = tokio::select! {
            next = sub.next() => match next {
                Next::Change(frame) => frame.sse(),
                Next::Lagged => {
                    stats.sse_resyncs.fetch_add(1, Relaxed);
                    let snapshot = sub.resync(&self.state.source);
                    self.pending.push_back(snapshot_event(&snapshot));
                    sse_resync_event(snapshot.revision)
                }
                Next::Closed => return None,
            },
            // Not an event: not counted.
            _ = self.keep_alive.tick() => return Some(Bytes::from_static(KEEP_ALIVE_COMMENT)),
            () = self.shutdown.wait() => return None,
        };
        stats.sse_messages_out.fetch_add(1, Relaxed);
        Some(event)
    }
}

impl Pump {
    /// Queues the replay's next chunk of events, read only once the stream
    /// took the last one: a replay holds one chunk, not the whole history.
    /// A stream that fell behind meanwhile, or whose history is gone, stops
    /// replaying and is resynchronized.
    async fn next_replay_chunk(&mut self) {
        let (Some(replay), Some(sub)) = (self.replay.as_mut(), self.sub.as_mut()) else {
            return;
        };
        if sub.is_lagged() {
            self.replay = None;
            return;
        }
        match replay.next(&self.state.source).await {
            Ok(Some(chunk)) => self.pending.extend(chunk.frames().iter().map(|f| f.sse())),
            Ok(None) => self.replay = None,
            Err(gone) => {
                tracing::debug!("SSE replay cut short, resyncing: {gone}");
                self.replay = None;
                self.open.0.stats.sse_resyncs.fetch_add(1, Relaxed);
                let snapshot = sub.resync(&self.state.source);
                self.pending.push_back(sse_resync_event(snapshot.revision));
                self.pending.push_back(snapshot_event(&snapshot));
            }
        }
    }
}

/// `id: R`, `event: snapshot` and the `/ws` snapshot message as data, made
/// once per revision: a reconnect storm of streams copies the list once.
fn snapshot_event(snapshot: &Snapshot) -> Bytes {
    snapshot.sse_chunked().data
}

impl ChangeFrame {
    /// This change as one SSE event, made once and shared by every stream.
    pub fn sse(&self) -> Bytes {
        self.sse_chunked().data.clone()
    }

    /// [`ChangeFrame::sse`] and the HTTP/1.1 chunk around it, for the
    /// streams the fan-out writes to directly.
    pub(crate) fn sse_chunked(&self) -> &Chunked {
        self.sse.get_or_init(|| {
            let mut event = format!("id: {}\nevent: change\ndata: ", self.revision()).into_bytes();
            event.extend_from_slice(self.text.as_bytes());
            event.extend_from_slice(b"\n\n");
            Chunked::new(&event)
        })
    }
}
