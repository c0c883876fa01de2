//! Socket.IO on the same port, for the talk's page and every socket.io client
//! (2.x through Engine.IO 3, 3.x/4.x through Engine.IO 4, polling and WebSocket).
//!
//! socketioxide speaks the protocol; this module maps its events onto the same
//! store, change feed and statistics as `/ws`:
//! `hi!` → `species`; `info` + ack → the server info; `subscribe`/`unsubscribe`
//! a room (ack with the revision); `species` subscribers get every change as a
//! `change` event carrying the same object and revision as `/ws`; `broadcast`
//! reaches the other members of a room, when the socket presented the write
//! token (if the server has one) in its `auth` payload (`{token}`), an
//! `access_token` query parameter or an `Authorization: Bearer` header.

mod events;
mod fast;
mod feeds;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use pollpush_shared::message::SPECIES_ROOM;
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::{SendError, SocketError, SocketIo};

use crate::auth;
use crate::feed::Next;
use crate::snapshot::Snapshot;
use crate::state::State;
use fast::{AckId, FastSubscribers};
use feeds::FeedSockets;

/// What `subscribe` accepts: a room name, or `{"room": ..., "since": R}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SubscribeArg {
    Room(String),
    Full { room: String, since: Option<u64> },
}

/// What `broadcast` accepts.
#[derive(Debug, Deserialize)]
pub struct BroadcastArg {
    room: String,
    event: String,
    #[serde(default)]
    data: Value,
}

/// Registers the default namespace's handlers and starts the change forwarder.
pub fn install(io: &SocketIo, state: &State) {
    let st = state.clone();
    let fast = Arc::new(FastSubscribers::default());
    let feeds = Arc::new(FeedSockets::default());
    // The event handlers are registered in a connect middleware, which
    // socketioxide runs before it sends the connect packet: its connect
    // handler runs on a task of its own after that packet, so a client that
    // emits as soon as it is connected (the talk's page sends `hi!`) could
    // have its first events arrive before any handler and be dropped.
    let register = async move |s: SocketRef, TryData(payload): TryData<Value>| {
        let may_write = may_write(&s, &st, payload.ok().as_ref());
        on_connect(&s, st.clone(), (fast.clone(), feeds.clone()), may_write);
        Ok::<(), Infallible>(())
    };
    io.ns("/", (async |_: SocketRef| {}).with(register));
    tokio::spawn(forward_changes(io.clone(), state.clone()));
}

/// Whether the socket presented the write token (or none is needed).
fn may_write(s: &SocketRef, state: &State, payload: Option<&Value>) -> bool {
    let from_payload = payload
        .and_then(|p| p.get("token").or_else(|| p.get(auth::QUERY_PARAMETER)))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let parts = s.req_parts();
    let token = from_payload.or_else(|| auth::from_upgrade(&parts.headers, parts.uri.query()));
    auth::may_write(state.config.write_token.as_deref(), token.as_deref())
}

/// A socket's subscriptions: the species fast path, and the feeds.
type Subscribers = (Arc<FastSubscribers>, Arc<FeedSockets>);

fn on_connect(s: &SocketRef, state: State, (fast, feeds): Subscribers, may_write: bool) {
    state.stats.socketio_sockets.fetch_add(1, Relaxed);
    let st = state.clone();
    s.on("hi!", async move |s: SocketRef, ack: AckSender| {
        events::hi(&st, &s, ack);
    });
    let st = state.clone();
    s.on("info", async move |s: SocketRef, ack: AckSender| {
        events::info(&st, &s, ack);
    });
    let (st, fs, fd) = (state.clone(), fast.clone(), feeds.clone());
    s.on(
        "subscribe",
        async move |s: SocketRef,
                    TryData(arg): TryData<SubscribeArg>,
                    id: AckId,
                    ack: AckSender| {
            events::subscribe(&st, (&fs, &fd), s, arg, id, ack).await;
        },
    );
    let (st, fs, fd) = (state.clone(), fast.clone(), feeds.clone());
    s.on(
        "unsubscribe",
        async move |s: SocketRef, TryData(room): TryData<String>, ack: AckSender| {
            events::unsubscribe(&st, (&fs, &fd), &s, room, ack);
        },
    );
    let st = state.clone();
    s.on(
        "broadcast",
        async move |s: SocketRef, TryData(arg): TryData<BroadcastArg>, ack: AckSender| {
            events::broadcast(&st, &s, arg, may_write, ack).await;
        },
    );
    let st = state.clone();
    s.on_fallback(async move |s: SocketRef, ack: AckSender| {
        st.stats.socketio_messages_in.fetch_add(1, Relaxed);
        ack_error(ack, "unknown event");
        drop(s);
    });
    s.on_disconnect(async move |s: SocketRef| {
        fast.forget(s.id);
        feeds.forget(s.id);
        state.stats.socketio_sockets.fetch_sub(1, Relaxed);
    });
}

fn emit_counted<T: serde::Serialize + ?Sized>(state: &State, s: &SocketRef, event: &str, data: &T) {
    match s.emit(event, data) {
        Ok(()) => {
            state.stats.socketio_messages_out.fetch_add(1, Relaxed);
        }
        Err(SendError::Socket(SocketError::Closed)) if !s.connected() => {
            // Not marked connected yet (see `until_connected`): emit once it is.
            let Ok(data) = serde_json::to_value(data) else {
                return;
            };
            let (state, s, event) = (state.clone(), s.clone(), event.to_owned());
            tokio::spawn(async move {
                if until_connected(&s).await && s.emit(&event, &data).is_ok() {
                    state.stats.socketio_messages_out.fetch_add(1, Relaxed);
                }
            });
        }
        Err(_) => {}
    }
}

/// How long a socket that is not marked connected yet may take to be.
const CONNECTING: Duration = Duration::from_secs(2);

/// Whether the socket is marked connected, waiting for it a little.
/// socketioxide sends a socket's connect packet before it marks the socket
/// connected, and `emit` refuses (`Closed`) until then, while acks go out: a
/// client that subscribes as soon as it has the connect packet could get its
/// acknowledgement and never its start (seen under CPU load). A socket that
/// disconnects meanwhile has its feed tasks aborted ([`FeedSockets::forget`]).
pub(crate) async fn until_connected(s: &SocketRef) -> bool {
    let deadline = tokio::time::Instant::now() + CONNECTING;
    while !s.connected() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

fn ack_error(ack: AckSender, message: &str) {
    let _ = ack.send(&json!({ "error": message }));
}

/// A `snapshot` event's body: the list at its revision.
fn snapshot_body(snapshot: &Snapshot) -> Value {
    json!({ "room": SPECIES_ROOM, "revision": snapshot.revision, "species": snapshot.list() })
}

/// Pushes every change to the `species` room: serialized once by socketioxide for all members.
async fn forward_changes(io: SocketIo, state: State) {
    let (_, mut sub) = state.feed.subscribe_from(&state.source, None).await;
    loop {
        let next = sub.next().await;
        // The default namespace is gone once socket.io has closed (shutdown):
        // `io.to` would panic, so the forwarder ends instead.
        let Some(all) = io.of("/") else { break };
        let room = all.to(SPECIES_ROOM);
        match next {
            Next::Change(frame) => {
                let members = room.clone().sockets().len() as u64;
                if members > 0 && room.emit("change", &frame.change).await.is_ok() {
                    state
                        .stats
                        .socketio_messages_out
                        .fetch_add(members, Relaxed);
                }
            }
            Next::Lagged => {
                // The forwarder itself fell behind: tell the room to take a fresh snapshot.
                state.stats.resyncs.fetch_add(1, Relaxed);
                let snapshot = sub.resync(&state.source);
                let body = snapshot_body(&snapshot);
                let _ = room
                    .clone()
                    .emit("resync", &json!({ "revision": snapshot.revision }))
                    .await;
                let _ = room.emit("snapshot", &body).await;
            }
            Next::Closed => break,
        }
    }
}
