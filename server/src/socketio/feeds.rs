//! socket.io subscriptions to upstream feeds (`subscribe` with a feed's
//! name): the acknowledgement `{room, revision}`, then a task per socket and
//! feed that emits the feed's messages in order through socketioxide's
//! queue — `snapshot`, `change` and `resync` events whose data is the same
//! object as the feed's `/ws` message and SSE `data`. One task per
//! subscriber rather than a room emit, so that no change arrives twice or
//! before the start. A socket whose queue is full is resynced once it drains.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pollpush_shared::Revision;
use serde_json::json;
use serde_json::value::RawValue;
use socketioxide::SocketError;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::socket::Sid;
use tokio::task::AbortHandle;

use super::until_connected;
use crate::gateway::feed::Feed;
use crate::gateway::subscription::{Lane, Subscription};
use crate::state::State;

/// The longest replay sent through socketioxide's per-socket queue (128
/// packets by default): a longer one gets the snapshot instead.
const QUEUED_REPLAY_MAX: usize = 64;
/// How long a socket with a full queue is left to drain before its resync.
const DRAIN: Duration = Duration::from_millis(100);

/// Every socket's feed subscriptions.
#[derive(Debug, Default)]
pub struct FeedSockets {
    tasks: Mutex<HashMap<(Sid, String), AbortHandle>>,
}

impl FeedSockets {
    /// Acknowledges, then starts the socket's task for `feed`; subscribing
    /// again starts over.
    pub async fn subscribe(
        &self,
        state: &State,
        s: SocketRef,
        feed: Arc<Feed>,
        since: Option<Revision>,
        ack: AckSender,
    ) {
        let room = feed.spec.name.clone();
        self.stop(s.id, &room);
        let replay = (Some(QUEUED_REPLAY_MAX), None);
        let Some(subscription) = Subscription::start(feed, Lane::SocketIo, since, replay).await
        else {
            return;
        };
        let _ = ack.send(&json!({ "room": room, "revision": subscription.last() }));
        let key = (s.id, room);
        let task = tokio::spawn(emit_all(state.clone(), s, subscription));
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, task.abort_handle());
    }

    /// Ends the socket's subscription to feed `room`, if it has one.
    pub fn stop(&self, sid: Sid, room: &str) -> bool {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks
            .remove(&(sid, room.to_owned()))
            .map(|task| task.abort())
            .is_some()
    }

    /// The socket is gone: ends all its subscriptions.
    pub fn forget(&self, sid: Sid) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|(id, _), task| {
            let keep = *id != sid;
            if !keep {
                task.abort();
            }
            keep
        });
    }
}

/// Emits the subscription's messages until the socket closes.
async fn emit_all(state: State, s: SocketRef, mut subscription: Subscription) {
    if !until_connected(&s).await {
        return;
    }
    while let Some(due) = subscription.next().await {
        // The message is already encoded once for every subscriber: its text
        // goes out as it is, not parsed into a tree and serialized again for
        // each socket, and its kind names the event.
        let text = due.text();
        let Ok(message) = serde_json::from_str::<&RawValue>(&text) else {
            continue;
        };
        let event = due.kind();
        match s.emit(event, message) {
            Ok(()) => {
                state.stats.socketio_messages_out.fetch_add(1, Relaxed);
            }
            Err(socketioxide::SendError::Socket(SocketError::InternalChannelFull)) => {
                // Dropped: what follows would leave a gap, so start over once
                // the socket has drained.
                state.stats.resyncs.fetch_add(1, Relaxed);
                tokio::time::sleep(DRAIN).await;
                subscription.restart();
            }
            Err(_) => return,
        }
    }
}
