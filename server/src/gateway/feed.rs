//! One upstream feed as its subscribers see it: the items at the last
//! revision, a bounded history of changes for `since`, and a broadcast of
//! each change as it is made.
//!
//! Self-contained rather than a second user of `feed.rs`'s `ChangeFeed`:
//! that fan-out, its frames and its snapshots are typed by the species
//! `Change`, and generalising them is a larger step than this first slice.
//! The rules are the same: each change is encoded once and shared; a
//! subscriber that falls a whole history behind gets `resync` and a snapshot.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use bytes::Bytes;
use pollpush_shared::{FeedChange, FeedStats, Revision};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::diff::{Diff, Items};
use super::spec::FeedSpec;
use crate::snapshot::ListHeaders;

/// One change, encoded once: its message (a `/ws` text frame, a socket.io
/// event's data) and its SSE event.
#[derive(Debug)]
pub struct FeedEvent {
    pub revision: Revision,
    pub text: Utf8Bytes,
    pub sse: Bytes,
    /// Not a change: the feed jumped to `revision` (it followed another
    /// node's poller across a gap), and every subscriber starts over at the
    /// snapshot. `text` and `sse` are empty.
    pub reset: bool,
}

/// What a poll changed, for the other nodes to follow: the revision and
/// `ETag` the feed was at, and the revision it is at now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub before: Revision,
    pub before_etag: String,
    pub after: Revision,
}

/// The items at one revision: the body of `GET /feeds/NAME`, its headers,
/// and the SSE snapshot event, made once per revision.
#[derive(Debug)]
pub struct View {
    pub revision: Revision,
    pub body: Bytes,
    pub headers: ListHeaders,
    /// The snapshot message, as `/ws` and socket.io send it.
    pub text: Utf8Bytes,
    pub sse: Bytes,
}

impl View {
    pub fn etag(&self) -> &str {
        self.headers
            .ok
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Where a subscription starts.
#[derive(Debug)]
pub enum Start {
    /// Every change after the client's `since`, then live ones.
    Replay(Vec<Arc<FeedEvent>>),
    /// The items; live changes follow.
    Snapshot(Arc<View>),
    /// The history no longer covers the client's `since`: resync, then the items.
    Resync(Arc<View>),
}

#[derive(Debug)]
struct Current {
    items: Items,
    view: Arc<View>,
    history: VecDeque<Arc<FeedEvent>>,
}

/// Counters for `/stats`.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub not_modified: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    pub changes: AtomicU64,
    pub sse_subscribers: AtomicU64,
    pub longpoll_held: AtomicU64,
    pub ws_subscribers: AtomicU64,
    pub socketio_subscribers: AtomicU64,
}

/// How the last poll went.
#[derive(Debug, Default)]
struct Health {
    last_poll: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<String>,
}

/// One feed.
#[derive(Debug)]
pub struct Feed {
    pub spec: FeedSpec,
    current: RwLock<Current>,
    changes: broadcast::Sender<Arc<FeedEvent>>,
    revision: watch::Sender<Revision>,
    health: Mutex<Health>,
    pub counters: Counters,
    /// This node polls the upstream (always alone; the lease's holder in a cluster).
    polling: AtomicBool,
    /// Changes kept for `since`; also how far a subscriber may fall behind.
    capacity: usize,
}

impl Feed {
    pub fn new(spec: FeedSpec, capacity: usize) -> Self {
        let capacity = capacity.max(16);
        let items = Items::default();
        let view = Arc::new(view(&spec.name, 0, &items));
        Self {
            spec,
            current: RwLock::new(Current {
                items,
                view,
                history: VecDeque::with_capacity(capacity),
            }),
            changes: broadcast::channel(capacity).0,
            revision: watch::channel(0).0,
            health: Mutex::default(),
            counters: Counters::default(),
            polling: AtomicBool::new(true),
            capacity,
        }
    }

    /// The items now.
    pub fn view(&self) -> Arc<View> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .view
            .clone()
    }

    /// Wakes on every new revision (held `GET`s wait on it).
    pub fn watch(&self) -> watch::Receiver<Revision> {
        self.revision.subscribe()
    }

    /// Replaces the items with a poll's, giving each difference the next
    /// revision. Under the write lock, so a subscriber starting meanwhile sees
    /// each change either in its start or live, never both or neither.
    pub fn apply(&self, new: Items) -> Option<Applied> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let before = current.view.revision;
        let before_etag = current.view.etag().to_owned();
        let after = self.apply_locked(&mut current, new);
        (after != before).then_some(Applied {
            before,
            before_etag,
            after,
        })
    }

    /// The items another node's poller turned the feed into. From the same
    /// items at the same revision, the same diff gives the same changes with
    /// the same revisions as on that node; otherwise (a message was lost,
    /// or this node started later) the feed jumps to `after`, and its
    /// subscribers start over at the snapshot. Returns whether it jumped.
    pub fn follow(&self, applied: &Applied, new: Items) -> bool {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let at = current.view.revision;
        if applied.after <= at {
            // This node's own poll, or an older one's.
            return false;
        }
        if at == applied.before
            && current.view.etag() == applied.before_etag
            && (current.items.diff(&new).len() as u64) == applied.after - at
        {
            self.apply_locked(&mut current, new);
            return false;
        }
        current.history.clear();
        current.view = Arc::new(view(&self.spec.name, applied.after, &new));
        current.items = new;
        let _ = self.changes.send(Arc::new(FeedEvent {
            revision: applied.after,
            text: Utf8Bytes::default(),
            sse: Bytes::new(),
            reset: true,
        }));
        self.revision.send_replace(applied.after);
        true
    }

    /// Makes the changes from the items now to `new`; returns the revision after them.
    fn apply_locked(&self, current: &mut Current, new: Items) -> Revision {
        let diffs = current.items.diff(&new);
        let mut revision = current.view.revision;
        if diffs.is_empty() {
            // Same items, maybe reordered: the body keeps its revision's bytes.
            return revision;
        }
        for diff in diffs {
            revision += 1;
            let event = Arc::new(self.event(revision, diff));
            if current.history.len() == self.capacity {
                current.history.pop_front();
            }
            current.history.push_back(event.clone());
            // No receiver is no error: nobody listens yet.
            let _ = self.changes.send(event);
            self.counters.changes.fetch_add(1, Relaxed);
        }
        current.view = Arc::new(view(&self.spec.name, revision, &new));
        current.items = new;
        self.revision.send_replace(revision);
        revision
    }

    /// Whether this node polls the upstream now.
    pub fn set_polling(&self, polling: bool) {
        self.polling.store(polling, Relaxed);
    }

    fn event(&self, revision: Revision, diff: Diff) -> FeedEvent {
        let message = pollpush_shared::FeedMessage::Change(FeedChange {
            room: self.spec.name.clone(),
            revision,
            op: diff.op,
            id: diff.id,
            item: diff.item,
        });
        let data = serde_json::to_string(&message).unwrap_or_default();
        FeedEvent {
            revision,
            sse: format!("id: {revision}\nevent: change\ndata: {data}\n\n").into(),
            text: data.into(),
            reset: false,
        }
    }

    /// Subscribes from `since`: a replay when the history still covers it,
    /// else a snapshot (with a resync first when the client asked to resume).
    /// Also the last revision the start covers: live changes up to it are
    /// already in the start.
    pub fn subscribe(
        &self,
        since: Option<Revision>,
    ) -> (Start, Revision, broadcast::Receiver<Arc<FeedEvent>>) {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let live = self.changes.subscribe();
        let last = current.view.revision;
        let oldest = current.history.front().map_or(last, |e| e.revision - 1);
        let start = match since {
            None => Start::Snapshot(current.view.clone()),
            Some(since) if since >= oldest && since <= last => Start::Replay(
                current
                    .history
                    .iter()
                    .filter(|e| e.revision > since)
                    .cloned()
                    .collect(),
            ),
            Some(_) => Start::Resync(current.view.clone()),
        };
        (start, last, live)
    }

    /// A poll ended well (a body or a `304`). Returns whether the feed was failing.
    pub fn healthy(&self) -> bool {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.last_poll = Some(chrono::Utc::now());
        health.last_error.take().is_some()
    }

    /// A poll failed. Returns whether this is a new fault (the feed was
    /// healthy, or failed differently), the only polls worth a log line.
    pub fn failed(&self, error: String) -> bool {
        self.counters.errors.fetch_add(1, Relaxed);
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.last_poll = Some(chrono::Utc::now());
        let new = health.last_error.as_deref() != Some(error.as_str());
        health.last_error = Some(error);
        new
    }

    /// Why the last poll failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error
            .clone()
    }

    pub fn stats(&self) -> FeedStats {
        let (items, revision) = {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            (current.items.len() as u64, current.view.revision)
        };
        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let c = &self.counters;
        FeedStats {
            name: self.spec.name.clone(),
            url: self.spec.url.to_string(),
            revision,
            items,
            upstream_requests: c.requests.load(Relaxed),
            upstream_not_modified: c.not_modified.load(Relaxed),
            upstream_bytes: c.bytes.load(Relaxed),
            upstream_errors: c.errors.load(Relaxed),
            changes: c.changes.load(Relaxed),
            last_poll: health.last_poll.map(|t| t.to_rfc3339()),
            last_error: health.last_error.clone(),
            sse_subscribers: c.sse_subscribers.load(Relaxed),
            longpoll_held: c.longpoll_held.load(Relaxed),
            ws_subscribers: c.ws_subscribers.load(Relaxed),
            socketio_subscribers: c.socketio_subscribers.load(Relaxed),
            polling: self.polling.load(Relaxed),
        }
    }
}

/// The items at `revision`, encoded for every lane at once.
fn view(name: &str, revision: Revision, items: &Items) -> View {
    let body = items.to_json();
    let etag = crate::snapshot::etag_of(&body);
    let list = std::str::from_utf8(&body).unwrap_or("[]");
    let snapshot =
        format!(r#"{{"type":"snapshot","room":"{name}","revision":{revision},"items":{list}}}"#);
    View {
        revision,
        headers: ListHeaders::new(&etag, revision),
        sse: format!("id: {revision}\nevent: snapshot\ndata: {snapshot}\n\n").into(),
        text: snapshot.into(),
        body: body.into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn feed() -> Feed {
        let spec = super::super::spec::parse_feed("t=http://127.0.0.1/").expect("a spec");
        Feed::new(spec, 16)
    }

    fn items(list: &Value) -> Items {
        Items::read(list.clone(), "/id")
    }

    #[test]
    fn a_follower_makes_the_pollers_changes_or_jumps_over_a_gap() {
        let (poller, follower) = (feed(), feed());
        let mut live = follower.changes.subscribe();
        for list in [json!([{"id": 1}]), json!([{"id": 1, "n": 2}, {"id": 2}])] {
            let applied = poller.apply(items(&list)).expect("a change");
            assert!(!follower.follow(&applied, items(&list)));
        }
        let texts = |feed: &Feed| -> Vec<String> {
            let current = feed.current.read().unwrap_or_else(PoisonError::into_inner);
            current.history.iter().map(|e| e.text.to_string()).collect()
        };
        assert_eq!(texts(&follower), texts(&poller));
        assert_eq!(follower.view().body, poller.view().body);
        assert_eq!(live.try_recv().map(|e| e.revision).ok(), Some(1));

        // One message missed: the next one is a jump, announced to subscribers.
        let missed = poller.apply(items(&json!([{"id": 3}]))).expect("a change");
        let list = json!([{"id": 3}, {"id": 4}]);
        let next = poller.apply(items(&list)).expect("a change");
        assert!(follower.follow(&next, items(&list)));
        assert_eq!(follower.view().revision, next.after);
        assert_eq!(follower.view().body, poller.view().body);
        let jump = std::iter::from_fn(|| live.try_recv().ok()).last();
        assert!(jump.is_some_and(|e| e.reset && e.revision == next.after));
        // An older message, or this node's own, changes nothing.
        assert!(!follower.follow(&missed, items(&json!([{"id": 3}]))));
        assert_eq!(follower.view().revision, next.after);
    }
}
