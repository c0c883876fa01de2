//! One WebSocket client: its subscriptions, its limits, and the one task that serves it.
//!
//! A single task owns the socket and `select!`s over the client's frames, its
//! room outbox, the ping timer, shutdown and its [`Wire`]. Changes do not pass
//! through it: the feed's fan-out writes them to the wire itself, and the
//! session only finishes what the socket did not take at once, and resyncs
//! the client when it fell too far behind. Writes carry a timeout: a client
//! that stops reading is dropped once the kernel buffers are full for that
//! long.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::Poll;
use std::time::Instant;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use pollpush_shared::message::SPECIES_ROOM;
use pollpush_shared::{ClientMessage, PROTOCOL_VERSION, ServerInfo, ServerMessage};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::rooms::{SessionId, valid_room_name};
use crate::State;
use crate::feed::{Registered, Start};
use crate::wire::Wire;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why a session ends: the close frame it sends, if any.
enum End {
    Close(CloseCode, &'static str),
    /// The peer closed or vanished; nothing more to send.
    Gone,
}

struct Session<S> {
    id: SessionId,
    state: State,
    /// The socket, unsplit: one task owns both directions, so no lock between halves.
    ws: S,
    /// The same socket, as the feed's fan-out writes to it.
    wire: Wire,
    species: Option<Registered>,
    rooms: HashSet<String>,
    outbox: mpsc::Sender<Utf8Bytes>,
    window_start: Instant,
    window_count: u32,
    throttled: bool,
}

/// Serves one upgraded connection until it closes.
pub async fn run<S>(ws: S, wire: Wire, state: State)
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
{
    let (outbox, mut inbox) = mpsc::channel(state.config.ws.outbox_capacity.max(1));
    // One long-lived future: re-creating `changed()` on every wake would register
    // every session on the same waiter list once per change.
    let mut stop = state.shutdown.clone();
    let mut shutdown = std::pin::pin!(async move {
        let _ = stop.wait_for(|stop| *stop).await;
    });
    let mut session = Session {
        id: NEXT_ID.fetch_add(1, Relaxed),
        state,
        ws,
        wire: wire.clone(),
        species: None,
        rooms: HashSet::new(),
        outbox,
        window_start: Instant::now(),
        window_count: 0,
        throttled: false,
    };
    let ws_config = session.state.config.ws.clone();
    let mut ping = tokio::time::interval(ws_config.ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();

    let hello = ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server: crate::server_name(),
        revision: session.state.store.snapshot().revision,
        server_time: pollpush_shared::time::now(),
    };
    let mut end = session.send(&hello).await.err();
    while end.is_none() {
        let result = tokio::select! {
            () = &mut shutdown => Err(End::Close(CloseCode::Away, "server shutting down")),
            frame = session.ws.next() => {
                last_heard = Instant::now();
                session.on_frame(frame).await
            }
            lagged = wire.lagged() => match lagged {
                Ok(()) => session.resync().await,
                Err(_) => Err(End::Gone),
            },
            Some(frame) = inbox.recv() => session.send_text(frame).await,
            _ = ping.tick() => {
                if last_heard.elapsed() > ws_config.idle_timeout {
                    Err(End::Close(CloseCode::Away, "ping timeout"))
                } else {
                    session.send_raw(Message::Ping(bytes::Bytes::new())).await
                }
            }
        };
        end = result.err();
    }
    // No change may follow the close frame.
    session.leave_everything();
    if let Some(End::Close(code, reason)) = end {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            session.ws.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

impl<S> Session<S>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    async fn send(&mut self, msg: &ServerMessage) -> Result<(), End> {
        let text =
            serde_json::to_string(msg).map_err(|_| End::Close(CloseCode::Error, "encoding"))?;
        self.send_text(text.into()).await
    }

    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), End> {
        self.send_raw(Message::Text(text)).await?;
        self.state.stats.ws_messages_out.fetch_add(1, Relaxed);
        Ok(())
    }

    async fn send_raw(&mut self, msg: Message) -> Result<(), End> {
        let timeout = self.state.config.ws.write_timeout;
        let mut send = std::pin::pin!(self.ws.send(msg));
        // Nearly every write completes at once; only a blocked one pays for a timer
        // (10,000 timer registrations per change showed up in fan-out profiles).
        let first = std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await;
        let result = match first {
            Poll::Ready(result) => result,
            Poll::Pending => match tokio::time::timeout(timeout, send).await {
                Ok(result) => result,
                Err(_) => return Err(End::Gone),
            },
        };
        result.map_err(|_| End::Gone)
    }

    async fn error(&mut self, code: &str, message: impl Into<String>) -> Result<(), End> {
        let msg = ServerMessage::Error {
            code: code.to_owned(),
            message: message.into(),
        };
        self.send(&msg).await
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, WsError>>) -> Result<(), End> {
        match frame {
            None
            | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_))) => {
                Err(End::Gone)
            }
            Some(Err(WsError::Capacity(_))) => {
                Err(End::Close(CloseCode::Size, "message over 64 KiB"))
            }
            Some(Err(_)) => Err(End::Close(CloseCode::Protocol, "protocol error")),
            Some(Ok(Message::Text(text))) => {
                self.state.stats.ws_messages_in.fetch_add(1, Relaxed);
                if self.over_rate()? {
                    return Ok(());
                }
                self.on_text(&text).await
            }
            Some(Ok(Message::Binary(_))) => {
                self.state.stats.ws_messages_in.fetch_add(1, Relaxed);
                if self.over_rate()? {
                    return Ok(());
                }
                self.error("binary_unsupported", "send JSON text frames")
                    .await
            }
            // Pongs are answered by tungstenite; a close is echoed by it too.
            Some(Ok(Message::Close(_))) => Err(End::Gone),
            Some(Ok(_)) => Ok(()),
        }
    }

    /// Counts the message in the current one-second window; `Ok(true)` means drop it.
    /// Twice the limit in one window closes the connection with 1008.
    fn over_rate(&mut self) -> Result<bool, End> {
        let limit = self.state.config.ws.max_messages_per_sec.max(1);
        if self.window_start.elapsed().as_secs() >= 1 {
            self.window_start = Instant::now();
            self.window_count = 0;
        }
        self.window_count += 1;
        if self.window_count <= limit {
            return Ok(false);
        }
        if !self.throttled {
            self.throttled = true;
            self.state.stats.throttled.fetch_add(1, Relaxed);
        }
        if self.window_count > limit.saturating_mul(2) {
            return Err(End::Close(CloseCode::Policy, "too many messages"));
        }
        Ok(true)
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        let msg = match serde_json::from_str::<ClientMessage>(text) {
            Ok(msg) => msg,
            Err(e) if e.is_data() => return self.error("bad_message", e.to_string()).await,
            Err(e) => return self.error("bad_json", e.to_string()).await,
        };
        match msg {
            ClientMessage::Subscribe { room, since } => self.subscribe(room, since).await,
            ClientMessage::Unsubscribe { room } => self.unsubscribe(room).await,
            ClientMessage::Emit { event, data, ack } => self.emit(&event, data, ack).await,
            ClientMessage::Broadcast { room, event, data } => {
                self.broadcast(room, event, data).await
            }
        }
    }

    async fn subscribe(&mut self, room: String, since: Option<u64>) -> Result<(), End> {
        if !valid_room_name(&room) {
            return self
                .error("bad_room", "room names are 1-64 of A-Z a-z 0-9 _ . -")
                .await;
        }
        if room != SPECIES_ROOM {
            self.state.rooms.join(&room, self.id, self.outbox.clone());
            self.rooms.insert(room.clone());
            let revision = self.state.store.snapshot().revision;
            return self
                .send(&ServerMessage::Subscribed { room, revision })
                .await;
        }
        let feed = &self.state.feed;
        self.wire.hold(feed.capacity());
        let target = self.wire.feed_target();
        let (start, last, registered) = match feed
            .subscribe_direct(&self.state.store, since, target)
            .await
        {
            Ok(started) => started,
            Err(e) => {
                self.stop_species();
                return self.error("store", e.to_string()).await;
            }
        };
        if self.species.replace(registered).is_none() {
            self.state.stats.ws_subscribers.fetch_add(1, Relaxed);
        }
        match start {
            Start::Snapshot(snapshot) => {
                let revision = snapshot.revision;
                self.send(&ServerMessage::Subscribed {
                    room: room.clone(),
                    revision,
                })
                .await?;
                self.send(&ServerMessage::Snapshot {
                    room,
                    revision,
                    species: snapshot.list(),
                })
                .await?;
            }
            Start::Replay(frames) => {
                self.send(&ServerMessage::Subscribed {
                    room,
                    revision: last,
                })
                .await?;
                for frame in frames {
                    self.send_text(frame.text.clone()).await?;
                }
            }
        }
        self.wire.go_live(last);
        Ok(())
    }

    /// Ends the species subscription: no change reaches the wire after this.
    fn stop_species(&mut self) {
        self.wire.stop_feed();
        if self.species.take().is_some() {
            self.state.stats.ws_subscribers.fetch_sub(1, Relaxed);
        }
    }

    async fn unsubscribe(&mut self, room: String) -> Result<(), End> {
        if room == SPECIES_ROOM {
            self.stop_species();
        } else if self.rooms.remove(&room) {
            self.state.rooms.leave(&room, self.id);
        }
        self.send(&ServerMessage::Unsubscribed { room }).await
    }

    async fn emit(&mut self, event: &str, _data: Value, ack: Option<u64>) -> Result<(), End> {
        match (event, ack) {
            ("hi!", _) => {
                let list = self.state.store.snapshot().list();
                let data = serde_json::to_value(list).unwrap_or(Value::Null);
                self.send(&ServerMessage::Event {
                    room: None,
                    event: "species".into(),
                    data,
                })
                .await?;
                if let Some(ack) = ack {
                    self.send(&ServerMessage::Ack {
                        ack,
                        data: Value::Null,
                        error: None,
                    })
                    .await?;
                }
                Ok(())
            }
            ("info", Some(ack)) => {
                let data = serde_json::to_value(self.info()).unwrap_or(Value::Null);
                self.send(&ServerMessage::Ack {
                    ack,
                    data,
                    error: None,
                })
                .await
            }
            ("info", None) => {
                let data = serde_json::to_value(self.info()).unwrap_or(Value::Null);
                self.send(&ServerMessage::Event {
                    room: None,
                    event: "info".into(),
                    data,
                })
                .await
            }
            (other, Some(ack)) => {
                let error = Some(format!("unknown event {other:?}"));
                self.send(&ServerMessage::Ack {
                    ack,
                    data: Value::Null,
                    error,
                })
                .await
            }
            (other, None) => {
                self.error("unknown_event", format!("unknown event {other:?}"))
                    .await
            }
        }
    }

    fn info(&self) -> ServerInfo {
        let snapshot = self.state.store.snapshot();
        ServerInfo {
            server: crate::server_name(),
            protocol: PROTOCOL_VERSION,
            revision: snapshot.revision,
            species: snapshot.species.len(),
            clients: self.state.stats.ws.connections.load(Relaxed),
            uptime_s: self.state.stats.uptime_s(),
        }
    }

    async fn broadcast(&mut self, room: String, event: String, data: Value) -> Result<(), End> {
        if !valid_room_name(&room) {
            return self
                .error("bad_room", "room names are 1-64 of A-Z a-z 0-9 _ . -")
                .await;
        }
        if room == SPECIES_ROOM {
            return self
                .error("forbidden", "only the server writes to the species room")
                .await;
        }
        let msg = ServerMessage::Event {
            room: Some(room.clone()),
            event,
            data,
        };
        let Ok(text) = serde_json::to_string(&msg) else {
            return self.error("bad_message", "data could not be encoded").await;
        };
        let (_, full) = self.state.rooms.broadcast(&room, self.id, &text.into());
        if full > 0 {
            tracing::debug!("room {room}: {full} members too slow for a broadcast");
        }
        Ok(())
    }

    /// The client fell too far behind: everything queued for it was dropped;
    /// a resync and a fresh snapshot put it back on the live feed.
    async fn resync(&mut self) -> Result<(), End> {
        if self.species.is_none() {
            return Ok(());
        }
        self.state.stats.resyncs.fetch_add(1, Relaxed);
        self.wire.hold(self.state.feed.capacity());
        let snapshot = self.state.store.snapshot();
        let revision = snapshot.revision;
        self.send(&ServerMessage::Resync { revision }).await?;
        let room = SPECIES_ROOM.to_owned();
        self.send(&ServerMessage::Snapshot {
            room,
            revision,
            species: snapshot.list(),
        })
        .await?;
        self.wire.go_live(revision);
        Ok(())
    }

    fn leave_everything(&mut self) {
        for room in self.rooms.drain() {
            self.state.rooms.leave(&room, self.id);
        }
        self.stop_species();
    }
}
