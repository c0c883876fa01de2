//! The socket.io fast path: `species` subscribers whose Engine.IO connection is
//! a WebSocket from the start are fed like `/ws` subscribers.
//!
//! socketioxide hands every packet to a per-socket queue and a writer task,
//! which costs a channel send, a wake-up and a tungstenite encode per change
//! and subscriber. Here the connection's [`Wire`] (the same socket hyper
//! upgraded for engineioxide) is registered with the feed: each change is
//! encoded once as a socket.io `change` packet in a WebSocket frame
//! ([`ChangeFrame::socketio`]) and written straight to every socket by the
//! fan-out, queued behind whatever the socket has not taken yet. Engine.IO 3
//! and 4 frame an event the same way over WebSocket, so one frame fits both.
//!
//! The subscribe acknowledgement and the snapshot (or replay) are written the
//! same way, before the wire goes live: socketioxide's own queue could
//! otherwise deliver them after the first changes. Frames never interleave,
//! since engineioxide's writes reach the socket through the same wire, one
//! whole buffer at a time.
//!
//! Sockets that started on HTTP long-polling (and may upgrade later) keep the
//! queued path: their upgraded socket is not the connection the handshake
//! request came in on, so no wire is known for it.
//!
//! [`ChangeFrame::socketio`]: crate::frames::ChangeFrame::socketio

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use pollpush_shared::Revision;
use pollpush_shared::message::SPECIES_ROOM;
use serde_json::json;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::{Sid, Socket};
use tokio::sync::oneshot;

use crate::direct;
use crate::encoding::Encoding;
use crate::frames::socketio_frame;
use crate::state::State;
use crate::wire::Wire;

/// The acknowledgement id of the event being handled, to write the ack packet
/// ourselves (socketioxide's `AckSender` would queue it).
#[derive(Debug, Clone, Copy)]
pub struct AckId(pub Option<i64>);

impl<A: Adapter> FromMessageParts<A> for AckId {
    type Error = Infallible;
    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Self(*ack_id))
    }
}

/// The connection's wire, when the socket's handshake was itself a WebSocket.
pub fn wire_of(s: &SocketRef) -> Option<Wire> {
    let parts = s.req_parts();
    let websocket = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "transport=websocket"));
    if !websocket {
        return None;
    }
    parts.extensions.get::<Wire>().cloned()
}

/// The sockets on the fast path; dropping a socket's entry ends its pump.
#[derive(Debug, Default)]
pub struct FastSubscribers(Mutex<HashMap<Sid, oneshot::Sender<()>>>);

impl FastSubscribers {
    /// Subscribes `s` to the species feed through `wire`, acknowledging on
    /// the wire itself (`ack`), before the start.
    pub async fn subscribe(
        &self,
        state: &State,
        s: &SocketRef,
        wire: Wire,
        since: Option<Revision>,
        ack: AckId,
    ) {
        // A second subscribe starts over from its own `since`.
        self.stop(s.id, &wire);
        let preamble = |last| match ack {
            AckId(Some(id)) => {
                let body = json!([{ "room": SPECIES_ROOM, "revision": last }]);
                vec![socketio_frame(&format!("43{id}{body}"))]
            }
            AckId(None) => Vec::new(),
        };
        let Some(subscribed) =
            direct::subscribe(state, wire, Encoding::SocketIo, since, preamble).await
        else {
            return;
        };
        let (stop, stopped) = oneshot::channel::<()>();
        self.lock().insert(s.id, stop);
        tokio::spawn(async move {
            // Dropping the sender (unsubscribed, disconnected, replaced) ends it.
            let stopped = async move {
                let _ = stopped.await;
            };
            subscribed.pump(stopped, None).await;
        });
    }

    /// Ends `sid`'s fast-path subscription, if it has one: no change reaches
    /// its wire after this returns.
    pub fn stop(&self, sid: Sid, wire: &Wire) -> bool {
        let had = self.lock().remove(&sid).is_some();
        if had {
            wire.stop_feed();
        }
        had
    }

    /// Forgets a socket that disconnected (its wire is closing anyway).
    pub fn forget(&self, sid: Sid) {
        self.lock().remove(&sid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, oneshot::Sender<()>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
