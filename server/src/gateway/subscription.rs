//! One push subscriber of a feed (SSE, `/ws`, socket.io): the messages it
//! gets, in order, each already encoded for every lane — its start (the
//! snapshot, the changes after its `since`, or `resync` and the snapshot),
//! then each live change once. A subscriber that falls a whole history
//! behind starts again at the snapshot after a `resync`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use pollpush_shared::Revision;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::feed::{Feed, FeedEvent, Start, View};
use crate::frames::sse_resync_event;

/// The push lane a subscription is on, for the feed's `/stats` counts.
#[derive(Debug, Clone, Copy)]
pub enum Lane {
    Sse,
    Ws,
    SocketIo,
}

/// One message due to a subscriber, in whichever encoding its lane takes.
#[derive(Debug, Clone)]
pub enum Due {
    Change(Arc<FeedEvent>),
    Snapshot(Arc<View>),
    Resync(Revision),
}

impl Due {
    /// As `/ws` sends it, and socket.io as its event's data.
    pub fn text(&self) -> Utf8Bytes {
        match self {
            Self::Change(event) => event.text.clone(),
            Self::Snapshot(view) => view.text.clone(),
            Self::Resync(revision) => resync_text(*revision),
        }
    }

    /// As an SSE event.
    pub fn sse(&self) -> Bytes {
        match self {
            Self::Change(event) => event.sse.clone(),
            Self::Snapshot(view) => view.sse.clone(),
            Self::Resync(revision) => sse_resync_event(*revision),
        }
    }

    /// Its `type`, which socket.io sends as the event's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Change(_) => "change",
            Self::Snapshot(_) => "snapshot",
            Self::Resync(_) => "resync",
        }
    }
}

/// A feed's messages for one subscriber, counted on its lane while it lives.
#[derive(Debug)]
pub struct Subscription {
    feed: Arc<Feed>,
    lane: Lane,
    /// Messages due before any live change.
    pending: VecDeque<Due>,
    /// The last revision sent or queued: live changes up to it are covered.
    last: Revision,
    live: broadcast::Receiver<Arc<FeedEvent>>,
}

/// `{"type":"resync","revision":R}`, the same message as the species feed's.
fn resync_text(revision: Revision) -> Utf8Bytes {
    format!(r#"{{"type":"resync","revision":{revision}}}"#).into()
}

fn lane_count(feed: &Feed, lane: Lane) -> &AtomicU64 {
    match lane {
        Lane::Sse => &feed.counters.sse_subscribers,
        Lane::Ws => &feed.counters.ws_subscribers,
        Lane::SocketIo => &feed.counters.socketio_subscribers,
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lane_count(&self.feed, self.lane).fetch_sub(1, Relaxed);
    }
}

impl Subscription {
    /// Subscribes from `since`, unless the lane already has `limit`
    /// subscribers of this feed. A replay longer than `max_replay` becomes
    /// the snapshot, which is smaller and loses nothing (for a lane whose
    /// queue would overflow). The revision returned is the one the start
    /// brings the subscriber to, for its acknowledgement.
    pub async fn start(
        feed: Arc<Feed>,
        lane: Lane,
        since: Option<Revision>,
        (max_replay, limit): (Option<usize>, Option<usize>),
    ) -> Option<Self> {
        let count = lane_count(&feed, lane);
        if count.fetch_add(1, Relaxed) >= limit.map_or(u64::MAX, |l| l as u64) {
            count.fetch_sub(1, Relaxed);
            return None;
        }
        let (mut start, mut last, mut live) = feed.subscribe(since).await;
        if let Start::Replay(events) = &start
            && max_replay.is_some_and(|max| events.len() > max)
        {
            (start, last, live) = feed.subscribe(None).await;
        }
        let mut pending = VecDeque::new();
        match start {
            Start::Replay(events) => pending.extend(events.into_iter().map(Due::Change)),
            Start::Snapshot(view) => pending.push_back(Due::Snapshot(view)),
            Start::Resync(view) => {
                pending.push_back(Due::Resync(view.revision));
                pending.push_back(Due::Snapshot(view));
            }
        }
        Some(Self {
            feed,
            lane,
            pending,
            last,
            live,
        })
    }

    /// The revision the subscriber is at once its start is sent.
    pub fn last(&self) -> Revision {
        self.last
    }

    /// The next message; `None` once the feed is gone. Cancel-safe: what
    /// it took from the feed is in the subscription before it returns.
    pub async fn next(&mut self) -> Option<Due> {
        if let Some(due) = self.pending.pop_front() {
            return Some(due);
        }
        loop {
            match self.live.recv().await {
                Ok(event) if event.reset => {
                    self.restart();
                    return self.pending.pop_front();
                }
                Ok(event) if event.revision <= self.last => {}
                Ok(event) => {
                    self.last = event.revision;
                    return Some(Due::Change(event));
                }
                Err(RecvError::Lagged(_)) => {
                    self.restart();
                    return self.pending.pop_front();
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Drops whatever is due and starts again: `resync`, then the snapshot,
    /// then live changes after it.
    pub fn restart(&mut self) {
        let (view, live) = self.feed.restart();
        self.live = live;
        self.last = view.revision;
        self.pending.clear();
        self.pending.push_back(Due::Resync(view.revision));
        self.pending.push_back(Due::Snapshot(view));
    }
}
