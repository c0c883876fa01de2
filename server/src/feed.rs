//! The change feed: how a committed write reaches every subscriber.
//!
//! Each change is serialized and framed once into a [`ChangeFrame`] whose bytes
//! every subscriber receives as they are. The change source (`source.rs`) hands
//! the frame, in revision order, to one fan-out task per core; each
//! task owns a shard of the subscribers, and runs on a runtime worker, where
//! waking a task is cheap (its local run queue, not the shared injection queue).
//!
//! A WebSocket session subscribes its connection ([`DirectTarget`]): the fan-out
//! writes the frame to the socket itself (see `wire.rs`), so the common path
//! wakes no task at all. Other subscribers (the socket.io forwarder) get the
//! frame through their own bounded queue with a non-blocking `try_send`. Either
//! way receivers share no lock, a subscriber that stops reading costs at most
//! its bound and never slows the others, and one that falls behind is marked
//! lagged and resynchronized with a snapshot.
//!
//! The interface is two verbs, publish a change and subscribe from a revision;
//! it does not know whether a change was committed here or on another node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

use pollpush_shared::Revision;
use tokio::sync::mpsc;

pub use crate::frames::ChangeFrame;
use crate::snapshot::Snapshot;

mod replay;
mod start;
use replay::ReplayGauges;
pub use replay::{CHUNK, Chunk, HistoryGone, Replay, ReplayLevels};
pub use start::StartWriter;

/// A subscriber the fan-out hands each change to directly, on the fan-out's
/// own task: it must not block (a WebSocket connection writes what its socket
/// takes at once and queues the rest).
pub trait DirectTarget: Send + Sync + std::fmt::Debug {
    fn offer(&self, frame: &Arc<ChangeFrame>);
    /// Drops what is queued and has the owner resynchronize with a snapshot.
    fn resync(&self);
}

/// One subscriber's end of the fan-out, as the publisher sees it.
#[derive(Debug)]
enum Slot {
    Queue {
        queue: mpsc::Sender<Arc<ChangeFrame>>,
        lagged: Arc<AtomicBool>,
    },
    Direct(Arc<dyn DirectTarget>),
}

/// Every live subscription, in shards that fan out in parallel (one task each),
/// so a change reaches 10,000 sockets on every core, not one.
#[derive(Debug)]
struct Registry {
    next_id: AtomicU64,
    shards: Vec<RwLock<HashMap<u64, Slot>>>,
}

impl Registry {
    fn new(shards: usize) -> Self {
        Self {
            next_id: AtomicU64::new(0),
            shards: (0..shards.max(1)).map(|_| RwLock::default()).collect(),
        }
    }

    fn shard(&self, id: u64) -> &RwLock<HashMap<u64, Slot>> {
        &self.shards[(id % self.shards.len() as u64) as usize]
    }

    /// Hands a committed change to every subscriber of one shard, without waiting for any.
    fn fan_out(&self, shard: usize, frame: &Arc<ChangeFrame>) {
        let slots = self.shards[shard]
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for slot in slots.values() {
            match slot {
                Slot::Queue { queue, lagged } => {
                    if let Err(mpsc::error::TrySendError::Full(_)) = queue.try_send(frame.clone()) {
                        lagged.store(true, Relaxed);
                    }
                }
                Slot::Direct(target) => target.offer(frame),
            }
        }
    }

    /// Marks every subscriber lagged, so each resynchronizes with a snapshot.
    fn lag_all(&self) {
        for shard in &self.shards {
            for slot in shard
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
            {
                match slot {
                    Slot::Queue { lagged, .. } => lagged.store(true, Relaxed),
                    Slot::Direct(target) => target.resync(),
                }
            }
        }
    }

    /// What the queued subscriptions hold right now: a walk over every slot,
    /// for `/stats` (never on the fan-out's path).
    fn queue_levels(&self) -> QueueLevels {
        let mut levels = QueueLevels::default();
        for shard in &self.shards {
            let slots = shard.read().unwrap_or_else(PoisonError::into_inner);
            for slot in slots.values() {
                if let Slot::Queue { queue, lagged } = slot {
                    levels.queues += 1;
                    levels.changes += (queue.max_capacity() - queue.capacity()) as u64;
                    levels.lagged += u64::from(lagged.load(Relaxed));
                }
            }
        }
        levels
    }

    fn register(self: &Arc<Self>, slot: Slot) -> Registered {
        let id = self.next_id.fetch_add(1, Relaxed);
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, slot);
        Registered {
            id,
            registry: self.clone(),
        }
    }
}

/// The queued subscriptions (SSE streams, `/ws` over HTTP/2, socket.io's
/// forwarders): how many, the changes they hold, and how many fell behind
/// (their queue is stale; it is dropped when their reader comes back).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueLevels {
    pub queues: u64,
    pub changes: u64,
    pub lagged: u64,
}

/// A slot in the registry, removed on drop.
#[derive(Debug)]
pub struct Registered {
    id: u64,
    registry: Arc<Registry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry
            .shard(self.id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// The publishing half, held by the change source.
#[derive(Debug, Clone)]
pub struct FeedSender {
    shards: Arc<[mpsc::UnboundedSender<Arc<ChangeFrame>>]>,
    registry: Arc<Registry>,
}

impl FeedSender {
    /// Queues a committed change for every shard's fan-out task; never blocks the writer.
    pub fn publish(&self, frame: Arc<ChangeFrame>) {
        for shard in self.shards.iter() {
            // Only fails once the server is shutting down; the change is in the store anyway.
            let _ = shard.send(frame.clone());
        }
    }

    /// Sends every subscriber back to a snapshot (the node reloaded its list).
    pub fn resync_all(&self) {
        self.registry.lag_all();
    }
}

/// The feed: publish changes, subscribe from a revision.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    registry: Arc<Registry>,
    capacity: usize,
    publish: FeedSender,
    replays: Arc<ReplayGauges>,
}

/// What a subscription starts from: the node's delivered changes and list
/// (the change source), so the feed need not know where they come from.
pub trait Origin {
    /// The first `limit` changes after `since`, oldest first, or `None` when
    /// only a snapshot will do.
    fn history(
        &self,
        since: Revision,
        limit: usize,
    ) -> impl Future<Output = Option<Vec<Arc<ChangeFrame>>>> + Send;
    /// The list at the last delivered revision.
    fn snapshot(&self) -> Arc<Snapshot>;
}

/// Where a new subscription starts.
#[derive(Debug)]
pub enum Start {
    /// Every change after the requested revision, in order, read as it is written.
    Replay(Replay),
    /// The whole list; live changes follow from its revision.
    Snapshot(Arc<Snapshot>),
}

impl Start {
    /// The last revision the start covers: live changes follow from here.
    pub fn last(&self) -> Revision {
        match self {
            Start::Replay(replay) => replay.until(),
            Start::Snapshot(snapshot) => snapshot.revision,
        }
    }
}

/// What a subscription yields next.
#[derive(Debug)]
pub enum Next {
    Change(Arc<ChangeFrame>),
    /// This subscriber fell behind and changes were dropped for it: resynchronize it.
    Lagged,
    /// The feed is gone (server shutting down).
    Closed,
}

impl ChangeFeed {
    /// A feed whose subscribers may fall `capacity` changes behind before they lag.
    /// Starts its fan-out tasks, so it needs a Tokio runtime.
    pub fn new(capacity: usize) -> Self {
        // One shard per core: each shard's task writes to its own subscribers, so
        // a change is fanned out on every core at once.
        let shards = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let registry = Arc::new(Registry::new(shards));
        let mut senders = Vec::with_capacity(shards);
        for shard in 0..shards {
            let (publish, mut frames) = mpsc::unbounded_channel::<Arc<ChangeFrame>>();
            senders.push(publish);
            let fan_out = registry.clone();
            tokio::spawn(async move {
                while let Some(frame) = frames.recv().await {
                    fan_out.fan_out(shard, &frame);
                }
            });
        }
        Self {
            registry: registry.clone(),
            capacity: capacity.max(16),
            publish: FeedSender {
                shards: senders.into(),
                registry,
            },
            replays: Arc::default(),
        }
    }

    /// What replays in flight hold right now.
    pub fn replays(&self) -> ReplayLevels {
        self.replays.levels()
    }

    /// What the queued subscriptions hold right now.
    pub fn queues(&self) -> QueueLevels {
        self.registry.queue_levels()
    }

    /// Changes a subscriber may fall behind before it lags.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn sender(&self) -> FeedSender {
        self.publish.clone()
    }

    /// Subscribes from `since` (a replay when the store still has every later
    /// change) or from a snapshot. Registering before reading the store means
    /// no change can fall between the two. It cannot fail: a store that does
    /// not answer makes the start a snapshot.
    pub async fn subscribe_from(
        &self,
        source: &impl Origin,
        since: Option<Revision>,
    ) -> (Start, Subscription) {
        let (queue, rx) = mpsc::channel(self.capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let slot = Slot::Queue {
            queue,
            lagged: lagged.clone(),
        };
        let registered = self.registry.register(slot);
        let (start, last) = start_from(source, since, &self.replays).await;
        let sub = Subscription {
            rx,
            lagged,
            last,
            _registered: registered,
        };
        (start, sub)
    }

    /// Like [`ChangeFeed::subscribe_from`], for a subscriber the fan-out writes
    /// to itself; it must hold changes until it has sent the start (it learns
    /// the start's last revision here) and skip those the start covers.
    pub async fn subscribe_direct(
        &self,
        source: &impl Origin,
        since: Option<Revision>,
        target: Arc<dyn DirectTarget>,
    ) -> (Start, Revision, Registered) {
        let registered = self.registry.register(Slot::Direct(target));
        let (start, last) = start_from(source, since, &self.replays).await;
        (start, last, registered)
    }
}

/// The replay or snapshot a subscription starts with, and its last revision.
async fn start_from(
    source: &impl Origin,
    since: Option<Revision>,
    gauges: &Arc<ReplayGauges>,
) -> (Start, Revision) {
    let replay = match since {
        Some(since) => Replay::start(source, since, gauges).await,
        None => None,
    };
    let start = match replay {
        Some(replay) => Start::Replay(replay),
        None => Start::Snapshot(source.snapshot()),
    };
    let last = start.last();
    (start, last)
}

/// A live subscription; yields each change exactly once, in revision order.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Arc<ChangeFrame>>,
    lagged: Arc<AtomicBool>,
    last: Revision,
    _registered: Registered,
}

impl Subscription {
    /// Fell behind: what is queued is stale, a resync comes next.
    pub fn is_lagged(&self) -> bool {
        self.lagged.load(Relaxed)
    }

    pub async fn next(&mut self) -> Next {
        loop {
            if self.lagged.load(Relaxed) {
                return Next::Lagged;
            }
            match self.rx.recv().await {
                // Already covered by the replay or snapshot this subscription started with.
                Some(frame) if frame.revision() <= self.last => {}
                Some(frame) => {
                    self.last = frame.revision();
                    return Next::Change(frame);
                }
                None => return Next::Closed,
            }
        }
    }

    /// Restarts after a lag from a fresh snapshot, dropping everything queued.
    pub fn resync(&mut self, source: &impl Origin) -> Arc<Snapshot> {
        self.lagged.store(false, Relaxed);
        while self.rx.try_recv().is_ok() {}
        let snapshot = source.snapshot();
        self.last = snapshot.revision;
        snapshot
    }
}
