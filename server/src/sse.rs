//! Server-Sent Events: `GET /species/events`, one response that never ends.
//!
//! First `event: snapshot` with the list, then for every change `id: R`,
//! `event: change` and, as `data`, the very text `/ws` subscribers receive.
//! Each change's event bytes are made once ([`ChangeFrame::sse`]) and shared
//! by every stream. `Last-Event-ID: R` (what a browser's `EventSource` sends
//! when it reconnects) or `?since=R` resumes from the history like `/ws`
//! `since`. A stream whose client stops reading falls behind its bounded
//! queue and gets `event: resync` and a fresh snapshot instead of a backlog.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method};
use pollpush_shared::{Problem, Revision};
use tokio::sync::mpsc;
use warp::Reply;
use warp::reply::Response;

use crate::State;
use crate::feed::{Next, Start};
use crate::frames::ChangeFrame;
use crate::rest::{method_not_allowed, problem_response};
use crate::snapshot::Snapshot;
use crate::stats::{ConnTag, Protocol};
use crate::wire::Wire;

/// A comment line this often keeps proxies from closing an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events waiting for the socket; past this the stream's feed queue fills
/// and the stream is resynchronized instead.
const BUFFERED: usize = 8;

/// `GET /species/events`.
pub async fn events(
    state: State,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    tag: Option<ConnTag>,
    wire: Option<Wire>,
) -> Response {
    if method != Method::GET {
        return method_not_allowed("GET, OPTIONS");
    }
    let since = match query.get("since") {
        Some(raw) => match raw.parse::<Revision>() {
            Ok(since) => Some(since),
            Err(_) => {
                return problem_response(&Problem::new(
                    "bad-since",
                    "Invalid since",
                    400,
                    format!("since is a revision (a whole number), not {raw:?}"),
                ));
            }
        },
        // Not a revision: a fresh snapshot, as for a first connection.
        None => headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
    };
    let stats = &state.stats;
    if stats.sse_subscribers.fetch_add(1, Relaxed) >= state.config.max_streams as u64 {
        stats.sse_subscribers.fetch_sub(1, Relaxed);
        let mut r = problem_response(&Problem::new(
            "too-many-streams",
            "Service Unavailable",
            503,
            format!(
                "{} event streams are open; try again shortly",
                state.config.max_streams
            ),
        ));
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    if let Some(tag) = &tag {
        tag.mark(Protocol::Sse);
    }
    // A stream is push: cap what a client that stops reading may hold in the
    // kernel, so the bounded queue and the resync take over.
    if let (Some(wire), Some(bytes)) = (&wire, state.config.send_buffer_bytes) {
        wire.cap_send_buffer(bytes);
    }
    let (tx, rx) = mpsc::channel(BUFFERED);
    tokio::spawn(pump(state, since, tx));
    let mut r = warp::reply::stream(EventBody(rx)).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx would otherwise buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// The response body: events as the stream's task hands them over.
struct EventBody(mpsc::Receiver<Bytes>);

impl Stream for EventBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|b| b.map(Ok))
    }
}

/// Uncounts one stream when its task ends.
struct Open(State);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.stats.sse_subscribers.fetch_sub(1, Relaxed);
    }
}

/// Feeds one stream until its client goes away or the server shuts down.
async fn pump(state: State, since: Option<Revision>, tx: mpsc::Sender<Bytes>) {
    let open = Open(state.clone());
    let Ok((start, mut sub)) = state.feed.subscribe_from(&state.source, since).await else {
        return;
    };
    let send = |bytes: Bytes| {
        let tx = tx.clone();
        let stats = open.0.stats.clone();
        async move {
            stats.sse_messages_out.fetch_add(1, Relaxed);
            tx.send(bytes).await.is_ok()
        }
    };
    let first = match start {
        Start::Replay(frames) => frames.iter().map(|f| f.sse()).collect(),
        Start::Snapshot(snapshot) => vec![snapshot_event(&snapshot)],
    };
    for event in first {
        if !send(event).await {
            return;
        }
    }
    let mut shutdown = state.shutdown.clone();
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    loop {
        let sent = tokio::select! {
            next = sub.next() => match next {
                Next::Change(frame) => send(frame.sse()).await,
                Next::Lagged => {
                    state.stats.sse_resyncs.fetch_add(1, Relaxed);
                    let snapshot = sub.resync(&state.source);
                    let resync = format!(
                        "event: resync\ndata: {{\"type\":\"resync\",\"revision\":{}}}\n\n",
                        snapshot.revision
                    );
                    send(resync.into()).await && send(snapshot_event(&snapshot)).await
                }
                Next::Closed => false,
            },
            _ = keep_alive.tick() => tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_ok(),
            () = tx.closed() => false,
            () = crate::stopped(&mut shutdown) => false,
        };
        if !sent {
            return;
        }
    }
}

/// `id: R`, `event: snapshot` and the `/ws` snapshot message as data.
fn snapshot_event(snapshot: &Snapshot) -> Bytes {
    let message = snapshot.message();
    let mut event = format!("id: {}\nevent: snapshot\ndata: ", snapshot.revision).into_bytes();
    event.extend_from_slice(message.as_bytes());
    event.extend_from_slice(b"\n\n");
    event.into()
}

impl ChangeFrame {
    /// This change as one SSE event, made once and shared by every stream.
    pub fn sse(&self) -> Bytes {
        self.sse
            .get_or_init(|| {
                let mut event =
                    format!("id: {}\nevent: change\ndata: ", self.revision()).into_bytes();
                event.extend_from_slice(self.text.as_bytes());
                event.extend_from_slice(b"\n\n");
                event.into()
            })
            .clone()
    }
}
