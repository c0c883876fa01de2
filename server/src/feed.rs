//! The change feed: how a committed write reaches every subscriber.
//!
//! Each change is serialized and framed once into a [`ChangeFrame`] whose bytes
//! every subscriber receives as they are. The store's write path (a blocking
//! thread) hands the frame, in commit order, to one fan-out task per core; each
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
//! The interface is two verbs, publish a change and subscribe from a revision,
//! so a broker-backed feed (Redis, NATS) can replace this one later.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::{BufMut, Bytes, BytesMut};
use pollpush_shared::{Change, Revision, ServerMessage};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::error::StoreError;
use crate::store::{Snapshot, Store};

/// One change and its wire form, shared by every subscriber.
#[derive(Debug)]
pub struct ChangeFrame {
    pub change: Change,
    /// `{"type":"change",...}`, serialized once.
    pub text: Utf8Bytes,
    /// `text` as a whole WebSocket text frame: server frames are unmasked, so
    /// these bytes are the same for every subscriber.
    pub frame: Bytes,
}

impl ChangeFrame {
    pub fn new(change: Change) -> Arc<Self> {
        let msg = ServerMessage::Change(change);
        let text = serde_json::to_string(&msg).unwrap_or_default();
        let ServerMessage::Change(change) = msg else {
            unreachable!("constructed as a change just above")
        };
        let (frame, header) = text_frame(text.as_bytes());
        // One buffer: the text is the frame's payload, not a second copy.
        let text = Utf8Bytes::try_from(frame.slice(header..)).unwrap_or_default();
        Arc::new(Self {
            change,
            text,
            frame,
        })
    }

    pub fn revision(&self) -> Revision {
        self.change.revision
    }
}

/// An unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2) carrying
/// `payload`, and the length of its header.
fn text_frame(payload: &[u8]) -> (Bytes, usize) {
    let mut frame = BytesMut::with_capacity(payload.len() + 10);
    frame.put_u8(0x81); // FIN, text
    let len = payload.len();
    if len < 126 {
        frame.put_u8(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        frame.put_u8(126);
        frame.put_u16(len);
    } else {
        frame.put_u8(127);
        frame.put_u64(len as u64);
    }
    let header = frame.len();
    frame.put_slice(payload);
    (frame.freeze(), header)
}

/// A subscriber the fan-out hands each change to directly, on the fan-out's
/// own task: it must not block (a WebSocket connection writes what its socket
/// takes at once and queues the rest).
pub trait DirectTarget: Send + Sync + std::fmt::Debug {
    fn offer(&self, frame: &Arc<ChangeFrame>);
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

/// The publishing half, held by the store.
#[derive(Debug, Clone)]
pub struct FeedSender(Arc<[mpsc::UnboundedSender<Arc<ChangeFrame>>]>);

impl FeedSender {
    /// Queues a committed change for every shard's fan-out task; never blocks the writer.
    pub fn publish(&self, frame: Arc<ChangeFrame>) {
        for shard in self.0.iter() {
            // Only fails once the server is shutting down; the change is in the store anyway.
            let _ = shard.send(frame.clone());
        }
    }
}

/// The feed: publish changes, subscribe from a revision.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    registry: Arc<Registry>,
    capacity: usize,
    publish: FeedSender,
}

/// Where a new subscription starts.
#[derive(Debug)]
pub enum Start {
    /// Every change after the requested revision, in order.
    Replay(Vec<Arc<ChangeFrame>>),
    /// The whole list; live changes follow from its revision.
    Snapshot(Arc<Snapshot>),
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
            registry,
            capacity: capacity.max(16),
            publish: FeedSender(senders.into()),
        }
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
    /// no change can fall between the two.
    pub async fn subscribe_from(
        &self,
        store: &Store,
        since: Option<Revision>,
    ) -> Result<(Start, Subscription), StoreError> {
        let (queue, rx) = mpsc::channel(self.capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let slot = Slot::Queue {
            queue,
            lagged: lagged.clone(),
        };
        // Registered before the store is read, so an error below unregisters it on drop.
        let registered = self.registry.register(slot);
        let (start, last) = start_from(store, since).await?;
        let sub = Subscription {
            rx,
            lagged,
            last,
            _registered: registered,
        };
        Ok((start, sub))
    }

    /// Like [`ChangeFeed::subscribe_from`], for a subscriber the fan-out writes
    /// to itself; it must hold changes until it has sent the start (it learns
    /// the start's last revision here) and skip those the start covers.
    pub async fn subscribe_direct(
        &self,
        store: &Store,
        since: Option<Revision>,
        target: Arc<dyn DirectTarget>,
    ) -> Result<(Start, Revision, Registered), StoreError> {
        let registered = self.registry.register(Slot::Direct(target));
        let (start, last) = start_from(store, since).await?;
        Ok((start, last, registered))
    }
}

/// The replay or snapshot a subscription starts with, and its last revision.
async fn start_from(
    store: &Store,
    since: Option<Revision>,
) -> Result<(Start, Revision), StoreError> {
    let replay = match since {
        Some(since) => store.history(since).await?,
        None => None,
    };
    Ok(if let Some(changes) = replay {
        let last = changes.last().map_or(since.unwrap_or(0), |c| c.revision);
        let frames = changes.into_iter().map(ChangeFrame::new).collect();
        (Start::Replay(frames), last)
    } else {
        let snapshot = store.snapshot();
        let last = snapshot.revision;
        (Start::Snapshot(snapshot), last)
    })
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
    pub fn resync(&mut self, store: &Store) -> Arc<Snapshot> {
        self.lagged.store(false, Relaxed);
        while self.rx.try_recv().is_ok() {}
        let snapshot = store.snapshot();
        self.last = snapshot.revision;
        snapshot
    }
}
