//! The change source: the one path by which committed changes reach this
//! node's cached list and its subscribers, in revision order, exactly once.
//!
//! Changes arrive three ways: this node's own commits, other nodes' commits
//! through the broker, and the store's history. Revisions are contiguous, so
//! a change that is not the next one reveals a gap, which is filled from the
//! history before it is delivered. A position check compares the node with
//! the store's latest revision at least once a second (and at once when the
//! broker reconnects), so a change whose broker message was lost arrives
//! about a second late, never not at all.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use pollpush_shared::{Change, Revision};
use tokio::sync::{Notify, watch};

use crate::broker::{BrokerSender, Deliver};
use crate::error::StoreError;
use crate::feed::{CHUNK, ChangeFeed, FeedSender, Origin};
use crate::frames::ChangeFrame;
use crate::shutdown::Shutdown;
use crate::snapshot::Snapshot;
use crate::store::{Mutation, Store};

/// Recent changes kept in memory, so a reconnecting subscriber's `since`
/// is usually answered without asking the database.
const RECENT: usize = 4_096;
/// And at most this many bytes of them: large species make fewer fit.
const RING_BYTES: u64 = 4 << 20;

/// What became of an offered change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offered {
    Delivered,
    /// Already delivered (a replay, or this node's own change back from the broker).
    Duplicate,
    /// Later than the next revision: the ones between are missing.
    Gap,
}

/// This node's view of the store, fed in revision order. Clone it freely.
#[derive(Debug, Clone)]
pub struct ChangeSource(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    feed: FeedSender,
    broker: Option<BrokerSender>,
    /// The list at the last delivered revision: what every read serves.
    current: RwLock<Arc<Snapshot>>,
    /// Delivered changes, newest last; its lock orders delivery.
    recent: Mutex<VecDeque<Arc<ChangeFrame>>>,
    /// Orders this node's writes, so its own changes are offered in commit order.
    writing: tokio::sync::Mutex<()>,
    /// One history read at a time.
    catching_up: tokio::sync::Mutex<()>,
    delivered: watch::Sender<Revision>,
    store_up: AtomicBool,
    check_now: Notify,
    /// Store history reads in flight, for `/stats`.
    history_reads: AtomicU64,
    /// The WebSocket bytes of the frames in `recent` (each frame also holds
    /// its decoded change and, once used, its SSE and socket.io forms).
    ring_bytes: AtomicU64,
}

impl ChangeSource {
    /// Loads the store's list and starts delivering from its revision.
    pub async fn open(
        store: Store,
        feed: &ChangeFeed,
        broker: Option<BrokerSender>,
    ) -> Result<Self, StoreError> {
        let snapshot = store.load().await?;
        let (delivered, _) = watch::channel(snapshot.revision);
        Ok(Self(Arc::new(Inner {
            store,
            feed: feed.sender(),
            broker,
            current: RwLock::new(Arc::new(snapshot)),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            writing: tokio::sync::Mutex::new(()),
            catching_up: tokio::sync::Mutex::new(()),
            delivered,
            store_up: AtomicBool::new(true),
            check_now: Notify::new(),
            history_reads: AtomicU64::new(0),
            ring_bytes: AtomicU64::new(0),
        })))
    }

    /// The list at the last delivered revision, from memory.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.0
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last delivered revision; changes whenever one is delivered.
    pub fn delivered(&self) -> watch::Receiver<Revision> {
        self.0.delivered.subscribe()
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Whether the store answered its last operation.
    pub fn store_up(&self) -> bool {
        self.0.store_up.load(Relaxed)
    }

    /// Commits one mutation, delivers it here and publishes it to the other
    /// nodes. Returns once this node serves the change (read your writes).
    pub async fn write(&self, mutation: Mutation) -> Result<Change, StoreError> {
        let writing = self.0.writing.lock().await;
        let change = self.note(self.0.store.write(mutation).await)?;
        let frame = ChangeFrame::new(change.clone());
        let offered = self.offer(&frame);
        drop(writing);
        if let Some(broker) = &self.0.broker {
            broker.publish_change(&frame);
        }
        if offered == Offered::Gap {
            // Another node's change came first and has not reached us yet.
            self.catch_up().await;
        }
        Ok(change)
    }

    /// The first `limit` changes after `since` as this node delivered them,
    /// or `None` when a snapshot is needed (too old, or from another store's
    /// timeline). Recent ones are the live feed's own frames, shared.
    pub async fn history(&self, since: Revision, limit: usize) -> Option<Vec<Arc<ChangeFrame>>> {
        if since > self.snapshot().revision {
            // The client saw a revision another node delivered first.
            self.catch_up().await;
        }
        let current = self.snapshot().revision;
        if since >= current {
            return (since == current).then(Vec::new);
        }
        {
            let recent = self.0.recent.lock().unwrap_or_else(PoisonError::into_inner);
            // Revisions in the ring are contiguous: the one after `since` is at a known index.
            if let Some(front) = recent.front().map(|f| f.revision())
                && front <= since + 1
            {
                let from = usize::try_from(since + 1 - front).unwrap_or(usize::MAX);
                return Some(
                    recent
                        .range(from.min(recent.len())..)
                        .take(limit)
                        .cloned()
                        .collect(),
                );
            }
        }
        self.0.history_reads.fetch_add(1, Relaxed);
        let read = self.note(self.0.store.history(since, limit).await);
        self.0.history_reads.fetch_sub(1, Relaxed);
        match read {
            Ok(changes) => Some(changes?.into_iter().map(ChangeFrame::new).collect()),
            Err(e) => {
                tracing::warn!("history after {since} unavailable, sending a snapshot: {e}");
                None
            }
        }
    }

    /// What the ring of recent changes holds: frames and their WebSocket bytes.
    pub fn ring(&self) -> (usize, u64) {
        let recent = self.0.recent.lock().unwrap_or_else(PoisonError::into_inner);
        (recent.len(), self.0.ring_bytes.load(Relaxed))
    }

    /// Store history reads in flight (replays older than the ring, gap fills).
    pub fn history_reads(&self) -> u64 {
        self.0.history_reads.load(Relaxed)
    }

    /// Delivers `frame` if it is the next revision.
    fn offer(&self, frame: &Arc<ChangeFrame>) -> Offered {
        let mut recent = self.0.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.snapshot();
        let revision = frame.revision();
        if revision <= current.revision {
            return Offered::Duplicate;
        }
        if revision > current.revision + 1 {
            return Offered::Gap;
        }
        let next = Arc::new(current.apply(&frame.change));
        *self
            .0
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next;
        recent.push_back(frame.clone());
        let mut bytes = self.0.ring_bytes.load(Relaxed) + frame.frame.len() as u64;
        while recent.len() > RECENT || (bytes > RING_BYTES && recent.len() > 1) {
            if let Some(old) = recent.pop_front() {
                bytes -= old.frame.len() as u64;
            }
        }
        self.0.ring_bytes.store(bytes, Relaxed);
        // Under the lock, so the fan-out sees revisions in order.
        self.0.feed.publish(frame.clone());
        self.0.delivered.send_replace(revision);
        Offered::Delivered
    }

    /// Delivers every change the store has after this node's revision, a
    /// chunk at a time, so a node far behind never holds the whole gap.
    pub async fn catch_up(&self) {
        let _one = self.0.catching_up.lock().await;
        loop {
            let from = self.snapshot().revision;
            self.0.history_reads.fetch_add(1, Relaxed);
            let read = self.note(self.0.store.history(from, CHUNK).await);
            self.0.history_reads.fetch_sub(1, Relaxed);
            match read {
                Ok(Some(changes)) if changes.is_empty() => return,
                Ok(Some(changes)) => {
                    let full = changes.len() == CHUNK;
                    for change in changes {
                        self.offer(&ChangeFrame::new(change));
                    }
                    if !full {
                        return;
                    }
                }
                Ok(None) => return self.reload().await,
                Err(e) => return tracing::warn!("catching up from revision {from}: {e}"),
            }
        }
    }

    /// This node fell further behind than the history reaches: start again
    /// from the store's list, and resynchronize every subscriber with it.
    async fn reload(&self) {
        let Ok(snapshot) = self.note(self.0.store.load().await) else {
            return;
        };
        let mut recent = self.0.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if snapshot.revision <= self.snapshot().revision {
            return;
        }
        tracing::warn!(
            "behind beyond the history: reloaded at revision {}",
            snapshot.revision
        );
        let revision = snapshot.revision;
        recent.clear();
        self.0.ring_bytes.store(0, Relaxed);
        *self
            .0
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        self.0.feed.resync_all();
        self.0.delivered.send_replace(revision);
    }

    /// Records whether the store answered.
    fn note<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let down = matches!(result, Err(StoreError::Unavailable(_)));
        if result.is_ok() || down {
            self.0.store_up.store(!down, Relaxed);
        }
        result
    }

    /// Checks the node's position against the store every `every`, and when
    /// asked to, until `shutdown`.
    pub async fn check_position(self, every: Duration, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.0.check_now.notified() => {}
                () = shutdown.wait() => return,
            }
            match self.note(self.0.store.latest().await) {
                Ok(latest) if latest > self.snapshot().revision => self.catch_up().await,
                Ok(_) => {}
                Err(e) => tracing::debug!("position check: {e}"),
            }
        }
    }
}

impl Origin for ChangeSource {
    async fn history(&self, since: Revision, limit: usize) -> Option<Vec<Arc<ChangeFrame>>> {
        ChangeSource::history(self, since, limit).await
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        ChangeSource::snapshot(self)
    }
}

/// The broker hands other nodes' changes to the source.
impl Deliver for ChangeSource {
    async fn deliver(&self, frame: &Arc<ChangeFrame>) {
        if self.offer(frame) == Offered::Gap {
            self.catch_up().await;
        }
    }

    fn check_soon(&self) {
        self.0.check_now.notify_one();
    }
}
