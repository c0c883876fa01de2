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
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use bytes::Bytes;
use pollpush_shared::{FeedChange, FeedStats, Revision};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::diff::{Diff, Items};
use super::encoded::view;
pub use super::encoded::{FeedEvent, View};
use super::spec::FeedSpec;
use crate::store::Store;

/// Where a feed is kept in the store: under its name, or, when nodes share
/// the store without a broker (each polls on its own, with its own
/// revisions), under its name and the node's, so timelines never mix.
#[derive(Debug, Clone)]
pub struct Stored {
    pub store: Store,
    pub key: String,
}

/// Changes made from one poll, not yet shown to subscribers.
#[derive(Debug)]
pub struct Prepared {
    pub applied: Applied,
    pub events: Vec<Arc<FeedEvent>>,
    view: Arc<View>,
    items: Items,
}

/// What a poll changed, for the other nodes to follow: the revision and
/// `ETag` the feed was at, and the revision it is at now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub before: Revision,
    pub before_etag: String,
    pub after: Revision,
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
    /// Where the poller writes each change before it is made, and where
    /// `since` older than memory is read.
    store: OnceLock<Stored>,
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
            store: OnceLock::new(),
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

    /// The changes from the items now to `new`, each with its next revision,
    /// made under the read lock: the poller stores them before [`Self::commit`]
    /// shows them to anyone. `None` when nothing changed.
    pub fn prepare(&self, new: Items) -> Option<Prepared> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let before = current.view.revision;
        let events = self.events(&current, &new);
        let after = events.last()?.revision;
        Some(Prepared {
            applied: Applied {
                before,
                before_etag: current.view.etag().to_owned(),
                after,
            },
            view: Arc::new(view(&self.spec.name, after, &new)),
            events,
            items: new,
        })
    }

    /// Makes prepared changes. Under the write lock, so a subscriber starting
    /// meanwhile sees each change either in its start or live, never both or
    /// neither. `None`, and nothing made, when the feed moved since
    /// [`Self::prepare`] (another node's poll, followed meanwhile).
    pub fn commit(&self, prepared: Prepared) -> Option<Applied> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.view.revision != prepared.applied.before {
            return None;
        }
        self.install(&mut current, prepared.events, prepared.view, prepared.items);
        Some(prepared.applied)
    }

    /// [`Self::prepare`] and [`Self::commit`] at once, as the poller does
    /// around its store write (the unit tests' shorthand).
    #[cfg(test)]
    pub fn apply(&self, new: Items) -> Option<Applied> {
        self.commit(self.prepare(new)?)
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
        if at == applied.before && current.view.etag() == applied.before_etag {
            let events = self.events(&current, &new);
            if events.last().map(|e| e.revision) == Some(applied.after) {
                let view = Arc::new(view(&self.spec.name, applied.after, &new));
                self.install(&mut current, events, view, new);
                return false;
            }
        }
        self.jump_locked(&mut current, applied.after, new);
        true
    }

    /// Jumps to `revision` with `new` items without making their changes:
    /// every subscriber starts over at the snapshot (a gap in what this node
    /// followed, or the store ahead of this node's poller).
    pub fn jump(&self, revision: Revision, new: Items) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        self.jump_locked(&mut current, revision, new);
    }

    fn jump_locked(&self, current: &mut Current, revision: Revision, new: Items) {
        current.history.clear();
        current.view = Arc::new(view(&self.spec.name, revision, &new));
        current.items = new;
        let _ = self.changes.send(Arc::new(FeedEvent {
            revision,
            text: Utf8Bytes::default(),
            sse: Bytes::new(),
            reset: true,
        }));
        self.revision.send_replace(revision);
    }

    /// Starts the feed at a stored revision (a node starting): no change is
    /// made, and `since` older than it is read from the store.
    pub fn restore(&self, revision: Revision, items: Items) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if revision <= current.view.revision {
            return;
        }
        current.view = Arc::new(view(&self.spec.name, revision, &items));
        current.items = items;
        self.revision.send_replace(revision);
    }

    /// The changes from the items now to `new`, encoded, with their revisions.
    fn events(&self, current: &Current, new: &Items) -> Vec<Arc<FeedEvent>> {
        let mut revision = current.view.revision;
        current
            .items
            .diff(new)
            .into_iter()
            .map(|diff| {
                revision += 1;
                Arc::new(self.event(revision, diff))
            })
            .collect()
    }

    /// Makes `events`: kept for `since`, sent to live subscribers; then the
    /// items are `new`, seen as `view`.
    fn install(
        &self,
        current: &mut Current,
        events: Vec<Arc<FeedEvent>>,
        view: Arc<View>,
        new: Items,
    ) {
        for event in events {
            if current.history.len() == self.capacity {
                current.history.pop_front();
            }
            current.history.push_back(event.clone());
            // No receiver is no error: nobody listens yet.
            let _ = self.changes.send(event);
            self.counters.changes.fetch_add(1, Relaxed);
        }
        self.revision.send_replace(view.revision);
        current.view = view;
        current.items = new;
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
        FeedEvent::change(
            revision,
            serde_json::to_string(&message).unwrap_or_default(),
        )
    }

    /// Subscribes from `since`: a replay when the history in memory, or
    /// else the store's, still covers it; otherwise a snapshot (with a
    /// resync first when the client asked to resume). Also the last revision
    /// the start covers: live changes up to it are already in the start.
    pub async fn subscribe(
        &self,
        since: Option<Revision>,
    ) -> (Start, Revision, broadcast::Receiver<Arc<FeedEvent>>) {
        let (start, last, live, older) = {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            let live = self.changes.subscribe();
            let last = current.view.revision;
            let oldest = current.history.front().map_or(last, |e| e.revision - 1);
            let mut older = None;
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
                Some(since) => {
                    if since < oldest {
                        // Memory begins after `since`: the store may hold the rest.
                        older = Some((since, oldest, current.history.clone()));
                    }
                    Start::Resync(current.view.clone())
                }
            };
            (start, last, live, older)
        };
        if let Some((since, oldest, memory)) = older
            && let Some(mut events) = self.replay_from_store(since, oldest).await
        {
            events.extend(memory);
            return (Start::Replay(events), last, live);
        }
        (start, last, live)
    }

    /// Starts over at the snapshot (a subscriber that fell behind): the items
    /// now, their revision, and live changes after it.
    pub fn restart(&self) -> (Arc<View>, broadcast::Receiver<Arc<FeedEvent>>) {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (current.view.clone(), self.changes.subscribe())
    }

    /// The changes after `since` through `through`, from the store.
    async fn replay_from_store(
        &self,
        since: Revision,
        through: Revision,
    ) -> Option<Vec<Arc<FeedEvent>>> {
        let stored = self.store.get()?;
        match stored.store.feed_history(&stored.key, since, through).await {
            Ok(rows) => Some(
                rows?
                    .into_iter()
                    .map(|(revision, text)| Arc::new(FeedEvent::change(revision, text)))
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(feed = %self.spec.name, "history from the store: {e}; the subscriber resyncs");
                None
            }
        }
    }

    /// Where this feed's changes are written, once attached.
    pub fn stored(&self) -> Option<&Stored> {
        self.store.get()
    }

    /// Writes this feed's changes to the store from now on.
    pub fn attach(&self, stored: Stored) {
        let _ = self.store.set(stored);
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

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
