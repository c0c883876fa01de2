//! How changes reach one session's client: the two ways a `/ws` connection can
//! carry them, behind one set of verbs so the commands are written once.
//!
//! Over HTTP/1.1 the WebSocket owns its TCP socket, so the feed's fan-out
//! writes each change frame to it directly ([`Wire`]). Over HTTP/2 (RFC 8441)
//! the WebSocket is one stream among others on the connection: raw bytes on
//! the socket would corrupt the h2 framing, so the session takes changes from
//! a queued [`Subscription`] (as SSE does) and writes them through tungstenite.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use pollpush_shared::Revision;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::feed::{ChangeFrame, Next, Registered, Start, Subscription};
use crate::snapshot::Snapshot;
use crate::source::ChangeSource;
use crate::state::State;
use crate::wire::{Hold, Wire};

/// The species feed's path to one client.
pub enum Outgoing {
    /// HTTP/1.1: the fan-out writes to the connection's socket itself.
    Direct {
        wire: Wire,
        species: Option<Registered>,
    },
    /// HTTP/2: changes wait in the subscription's bounded queue for the session.
    Queued { species: Option<Subscription> },
}

/// What the feed has for the session next.
pub enum Feed {
    /// A change the session writes itself (queued path only).
    Change(Arc<ChangeFrame>),
    /// The client fell a feed capacity behind: resync it.
    Lagged,
    /// The socket failed or the feed closed.
    Gone,
}

/// A message encoded once for every subscriber, in both of its wire forms.
pub trait Shared {
    /// A whole WebSocket text frame, for the direct path.
    fn frame(&self) -> Bytes;
    /// The text alone, for tungstenite to frame.
    fn text(&self) -> Utf8Bytes;
}

impl Shared for Snapshot {
    fn frame(&self) -> Bytes {
        Snapshot::frame(self)
    }

    fn text(&self) -> Utf8Bytes {
        self.message()
    }
}

impl Shared for ChangeFrame {
    fn frame(&self) -> Bytes {
        self.frame.clone()
    }

    fn text(&self) -> Utf8Bytes {
        self.text.clone()
    }
}

impl Outgoing {
    /// A WebSocket that owns its connection (HTTP/1.1 upgrade).
    pub fn direct(wire: Wire) -> Self {
        Self::Direct {
            wire,
            species: None,
        }
    }

    /// A WebSocket on one stream of a shared connection (HTTP/2 extended CONNECT).
    pub fn queued() -> Self {
        Self::Queued { species: None }
    }

    /// Subscribed to the species feed.
    pub fn is_subscribed(&self) -> bool {
        match self {
            Self::Direct { species, .. } => species.is_some(),
            Self::Queued { species } => species.is_some(),
        }
    }

    /// Waits for work from the feed. On the direct path this also writes what
    /// the fan-out left pending; a queued session with no subscription waits forever.
    pub async fn next(&mut self, state: &State) -> Feed {
        match self {
            Self::Direct { wire, .. } => match wire.lagged().await {
                Ok(()) => Feed::Lagged,
                Err(_) => Feed::Gone,
            },
            Self::Queued { species: None } => std::future::pending().await,
            Self::Queued { species: Some(sub) } => match sub.next().await {
                Next::Change(frame) => Feed::Change(frame),
                Next::Lagged => {
                    // The direct path counts this in the wire, when it drops the backlog.
                    state.stats.resyncs.fetch_add(1, Relaxed);
                    Feed::Lagged
                }
                Next::Closed => Feed::Gone,
            },
        }
    }

    /// Before a start (snapshot or replay) is written, changes must wait
    /// behind it: the wire holds them; a queued subscription does by itself.
    pub fn hold(&self, capacity: usize) -> Option<Hold> {
        match self {
            Self::Direct { wire, .. } => Some(wire.hold(capacity)),
            Self::Queued { .. } => None,
        }
    }

    /// The start up to `last` is written: held changes after it may follow.
    pub fn go_live(&self, hold: Option<Hold>, last: Revision) {
        if let (Self::Direct { wire, .. }, Some(hold)) = (self, hold) {
            wire.go_live(hold, last);
        }
    }

    /// Fell a feed capacity behind while a start was being written.
    pub fn is_lagged(&self) -> bool {
        match self {
            Self::Direct { wire, .. } => wire.is_lagged(),
            Self::Queued { species } => species.as_ref().is_some_and(Subscription::is_lagged),
        }
    }

    /// Subscribes (again) from `since`; returns where to start and its last revision.
    pub async fn subscribe(&mut self, state: &State, since: Option<Revision>) -> (Start, Revision) {
        let (feed, source) = (&state.feed, &state.source);
        match self {
            Self::Direct { wire, species } => {
                let target = wire.feed_target();
                let (start, last, registered) = feed.subscribe_direct(source, since, target).await;
                *species = Some(registered);
                (start, last)
            }
            Self::Queued { species } => {
                let (start, sub) = feed.subscribe_from(source, since).await;
                let last = start.last();
                *species = Some(sub);
                (start, last)
            }
        }
    }

    /// The snapshot a resync restarts from; a queued subscription drops its
    /// stale queue and skips what the snapshot covers.
    pub fn restart(&mut self, source: &ChangeSource) -> Arc<Snapshot> {
        match self {
            Self::Queued { species: Some(sub) } => sub.resync(source),
            _ => source.snapshot(),
        }
    }

    /// No change reaches the client after this; `true` if it was subscribed.
    pub fn stop(&mut self) -> bool {
        match self {
            Self::Direct { wire, species } => {
                wire.stop_feed();
                species.take().is_some()
            }
            Self::Queued { species } => species.take().is_some(),
        }
    }
}
