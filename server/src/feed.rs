//! The change feed: how a committed write reaches every subscriber.
//!
//! Each change is serialized once into a [`ChangeFrame`] whose bytes every
//! session sends as they are. Fan-out is a `tokio::sync::broadcast` ring: one
//! shared, bounded buffer, so a subscriber that stops reading costs no memory
//! beyond the ring and never slows the others; when it falls behind the ring
//! it learns so ([`Next::Lagged`]) and is resynchronized with a snapshot.
//!
//! The interface is two verbs, publish a change and subscribe from a revision,
//! so a broker-backed feed (Redis, NATS) can replace this one later.

use std::sync::Arc;

use pollpush_shared::{Change, Revision, ServerMessage};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::error::StoreError;
use crate::store::{Snapshot, Store};

/// One change and its wire form, shared by every subscriber.
#[derive(Debug)]
pub struct ChangeFrame {
    pub change: Change,
    /// `{"type":"change",...}`, serialized once.
    pub text: Utf8Bytes,
}

impl ChangeFrame {
    pub fn new(change: Change) -> Arc<Self> {
        let msg = ServerMessage::Change(change);
        let text = serde_json::to_string(&msg).unwrap_or_default();
        let ServerMessage::Change(change) = msg else {
            unreachable!("constructed as a change just above")
        };
        Arc::new(Self {
            change,
            text: text.into(),
        })
    }

    pub fn revision(&self) -> Revision {
        self.change.revision
    }
}

/// The publishing half, held by the store.
#[derive(Debug, Clone)]
pub struct FeedSender(broadcast::Sender<Arc<ChangeFrame>>);

impl FeedSender {
    /// Hands a committed change to every current subscriber.
    pub fn publish(&self, frame: Arc<ChangeFrame>) {
        // No subscribers is not an error: the change is in the store's history.
        let _ = self.0.send(frame);
    }
}

/// The feed: publish changes, subscribe from a revision.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    sender: broadcast::Sender<Arc<ChangeFrame>>,
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
    /// This subscriber fell behind the ring and lost changes: resynchronize it.
    Lagged,
    /// The feed is gone (server shutting down).
    Closed,
}

impl ChangeFeed {
    /// A feed whose ring holds `capacity` changes per slow subscriber before it lags.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        Self { sender }
    }

    pub fn sender(&self) -> FeedSender {
        FeedSender(self.sender.clone())
    }

    /// Subscribes from `since` (a replay when the store still has every later
    /// change) or from a snapshot. Subscribing before reading the store means
    /// no change can fall between the two.
    pub async fn subscribe_from(
        &self,
        store: &Store,
        since: Option<Revision>,
    ) -> Result<(Start, Subscription), StoreError> {
        let rx = self.sender.subscribe();
        let replay = match since {
            Some(since) => store.history(since).await?,
            None => None,
        };
        let (start, last) = if let Some(changes) = replay {
            let last = changes.last().map_or(since.unwrap_or(0), |c| c.revision);
            let frames = changes.into_iter().map(ChangeFrame::new).collect();
            (Start::Replay(frames), last)
        } else {
            let snapshot = store.snapshot();
            let last = snapshot.revision;
            (Start::Snapshot(snapshot), last)
        };
        Ok((start, Subscription { rx, last }))
    }
}

/// A live subscription; yields each change exactly once, in revision order.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<ChangeFrame>>,
    last: Revision,
}

impl Subscription {
    pub async fn next(&mut self) -> Next {
        loop {
            match self.rx.recv().await {
                // Already covered by the replay or snapshot this subscription started with.
                Ok(frame) if frame.revision() <= self.last => {}
                Ok(frame) => {
                    self.last = frame.revision();
                    return Next::Change(frame);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Next::Lagged,
                Err(broadcast::error::RecvError::Closed) => return Next::Closed,
            }
        }
    }

    /// Restarts after a lag from a fresh snapshot, dropping everything queued.
    pub fn resync(&mut self, store: &Store) -> Arc<Snapshot> {
        self.rx = self.rx.resubscribe();
        let snapshot = store.snapshot();
        self.last = snapshot.revision;
        snapshot
    }
}
