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
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use pollpush_shared::Revision;
use pollpush_shared::message::SPECIES_ROOM;
use serde_json::json;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::{Sid, Socket};
use tokio::sync::oneshot;

use crate::feed::{Registered, StartWriter};
use crate::frames::{ChangeFrame, socketio_frame};
use crate::snapshot::Snapshot;
use crate::state::State;
use crate::wire::{Hold, Wire, within};

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
        wire.speak_socketio();
        let hold = wire.hold(state.feed.capacity());
        let (start, last, registered) = state
            .feed
            .subscribe_direct(&state.source, since, wire.feed_target())
            .await;
        let ack = match ack {
            AckId(Some(id)) => {
                let body = json!([{ "room": SPECIES_ROOM, "revision": last }]);
                Some(socketio_frame(&format!("43{id}{body}")))
            }
            AckId(None) => None,
        };
        let mut starting = Starting {
            state,
            wire: &wire,
            hold,
        };
        let written = write_all(state, &wire, ack.as_slice()).await.is_ok()
            && start.write(&state.source, &mut starting).await.is_ok();
        if !written {
            wire.stop_feed_of(hold);
            return;
        }
        let (stop, stopped) = oneshot::channel();
        self.lock().insert(s.id, stop);
        tokio::spawn(pump(wire, state.clone(), registered, stopped, hold));
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

/// The socket failed, or did not take a frame within the write timeout.
#[derive(Debug)]
struct WriteFailed;

/// Writes `frames` in order.
async fn write_all(state: &State, wire: &Wire, frames: &[Bytes]) -> Result<(), WriteFailed> {
    let timeout = state.config.ws.write_timeout;
    for frame in frames {
        if !matches!(within(timeout, wire.write_frame(frame)).await, Some(Ok(()))) {
            return Err(WriteFailed);
        }
        state.stats.socketio_messages_out.fetch_add(1, Relaxed);
    }
    Ok(())
}

/// A fast-path subscriber's side of its start ([`StartWriter`]): socket.io
/// packets on the wire, which `hold` keeps the fan-out off until then.
struct Starting<'a> {
    state: &'a State,
    wire: &'a Wire,
    hold: Hold,
}

impl StartWriter for Starting<'_> {
    type Error = WriteFailed;

    fn is_lagged(&self) -> bool {
        // The pump resyncs it.
        self.wire.is_lagged()
    }

    async fn snapshot(&mut self, snapshot: &Snapshot) -> Result<(), WriteFailed> {
        write_all(self.state, self.wire, &[snapshot.socketio()]).await
    }

    async fn change(&mut self, frame: &ChangeFrame) -> Result<(), WriteFailed> {
        write_all(
            self.state,
            self.wire,
            std::slice::from_ref(frame.socketio()),
        )
        .await
    }

    async fn restart(&mut self) -> Result<(), WriteFailed> {
        self.state.stats.resyncs.fetch_add(1, Relaxed);
        resync(self.state, self.wire, self.hold).await.map(drop)
    }

    fn go_live(&mut self, last: Revision) {
        self.wire.go_live(self.hold, last);
    }
}

/// Drains what the fan-out could not write at once and resynchronizes a
/// subscriber that fell `capacity` changes behind, until the subscription ends
/// (unsubscribed, disconnected, or replaced by a new subscribe: `hold` then
/// no longer owns the gate, and the pump leaves it to its successor).
async fn pump(
    wire: Wire,
    state: State,
    registered: Registered,
    mut stopped: oneshot::Receiver<()>,
    mut hold: Hold,
) {
    let mut stop = state.shutdown.clone();
    let mut shutdown = std::pin::pin!(async move {
        stop.wait().await;
    });
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = &mut shutdown => break,
            lagged = wire.lagged() => {
                let resynced = match (lagged, wire.rehold(hold, state.feed.capacity())) {
                    (Ok(()), Some(again)) => resync(&state, &wire, again).await.ok(),
                    _ => None,
                };
                let Some(again) = resynced else { break };
                hold = again;
            }
        }
    }
    wire.stop_feed_of(hold);
    drop(registered);
}

/// A `resync` event and a fresh snapshot put a lagged subscriber back on the
/// feed (`hold` is the wire's gate, held again).
async fn resync(state: &State, wire: &Wire, hold: Hold) -> Result<Hold, WriteFailed> {
    let snapshot = state.source.snapshot();
    let notice = json!(["resync", { "revision": snapshot.revision }]);
    let frames = [socketio_frame(&format!("42{notice}")), snapshot.socketio()];
    write_all(state, wire, &frames).await?;
    wire.go_live(hold, snapshot.revision);
    Ok(hold)
}
