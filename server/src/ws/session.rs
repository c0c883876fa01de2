//! One WebSocket client: its subscriptions, its limits, and the one task that serves it.
//!
//! A single task owns the socket and `select!`s over the client's frames, its
//! room outbox, the ping timer, shutdown and its [`Outgoing`] feed. Over
//! HTTP/1.1 changes do not pass through it: the feed's fan-out writes them to
//! the wire itself, and the session only finishes what the socket did not
//! take at once. Over HTTP/2 it writes each change from its queue. Either way
//! it resyncs the client when it fell too far behind. Writes carry a timeout:
//! a client that stops reading is dropped once the buffers are full for that
//! long.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use pollpush_shared::{PROTOCOL_VERSION, ServerMessage};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::rooms::SessionId;
use crate::state::State;
use crate::wire::{Hold, Wire, within};

mod commands;
mod feeds;
mod outgoing;
pub use outgoing::Outgoing;
use outgoing::{Feed, Shared};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why a session ends: the close frame it sends, if any.
enum End {
    Close(CloseCode, &'static str),
    /// The peer closed or vanished; nothing more to send.
    Gone,
}

pub struct Session<S> {
    id: SessionId,
    state: State,
    /// The socket, unsplit: one task owns both directions, so no lock between halves.
    ws: S,
    /// How the species feed reaches the client.
    out: Outgoing,
    rooms: HashSet<String>,
    /// The upstream feeds subscribed to, by name: each a task filling the outbox.
    feeds: HashMap<String, tokio::task::AbortHandle>,
    /// Room messages for this session; made on the first room join, since
    /// most subscribers never join one and a channel costs ~1 KB each.
    outbox: Option<mpsc::Sender<Utf8Bytes>>,
    inbox: Option<mpsc::Receiver<Utf8Bytes>>,
    window_start: Instant,
    window_count: u32,
    throttled: bool,
    /// Presented the write token on the upgrade (or none is needed): may `broadcast`.
    may_write: bool,
}

impl<S> Session<S> {
    /// A session on the upgraded connection `ws`; [`run`] serves it.
    pub fn new(ws: S, out: Outgoing, state: State, may_write: bool) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Relaxed),
            state,
            ws,
            out,
            rooms: HashSet::new(),
            feeds: HashMap::new(),
            outbox: None,
            inbox: None,
            window_start: Instant::now(),
            window_count: 0,
            throttled: false,
            may_write,
        }
    }
}

/// Serves one upgraded connection until it closes.
// It takes the session boxed: an async fn keeps its arguments for as long as
// it lives and moves them into locals as well, so a session passed by value
// (or as the socket and the rest) was held twice in every idle task.
pub async fn run<S>(mut session: Box<Session<S>>)
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
{
    // One long-lived future: re-creating `changed()` on every wake would register
    // every session on the same waiter list once per change.
    let mut stop = session.state.shutdown.clone();
    let mut shutdown = std::pin::pin!(async move {
        stop.wait().await;
    });
    let idle_timeout = session.state.config.ws.idle_timeout;
    let mut ping = tokio::time::interval(session.state.config.ws.ping_interval);
    ping.reset();
    let mut last_heard = Instant::now();

    // Every await below but the `select!` is boxed: the task holds the state
    // of its largest await for as long as it lives, and a subscribe (a store
    // query) or a timed write inline made each idle session's task ~6 KB.
    let mut end = Box::pin(session.hello()).await.err();
    while end.is_none() {
        let result = tokio::select! {
            () = &mut shutdown => Err(End::Close(CloseCode::Away, "server shutting down")),
            frame = session.ws.next() => {
                last_heard = Instant::now();
                Box::pin(session.on_frame(frame)).await
            }
            feed = session.out.next(&session.state) => match feed {
                Feed::Change(change) => Box::pin(session.send_shared(&*change)).await,
                Feed::Lagged => Box::pin(session.resync()).await,
                Feed::Gone => Err(End::Gone),
            },
            Some(frame) = next_room_message(&mut session.inbox) => {
                Box::pin(session.send_text(frame)).await
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > idle_timeout {
                    Err(End::Close(CloseCode::Away, "ping timeout"))
                } else {
                    Box::pin(session.send_raw(Message::Ping(bytes::Bytes::new()))).await
                }
            }
        };
        end = result.err();
    }
    // No change may follow the close frame.
    session.leave_everything();
    if let Some(End::Close(code, reason)) = end {
        Box::pin(session.close(code, reason)).await;
    }
}

/// A whole frame, in order with the fan-out's (see [`crate::wire::Wire::write_frame`]).
async fn write_direct(wire: &Wire, state: &State, frame: &[u8]) -> Result<(), End> {
    within(state.config.ws.write_timeout, wire.write_frame(frame))
        .await
        .ok_or(End::Gone)?
        .map_err(|_| End::Gone)?;
    state.stats.ws_messages_out.fetch_add(1, Relaxed);
    Ok(())
}

/// The next room message, or never when the session has joined no room.
async fn next_room_message(inbox: &mut Option<mpsc::Receiver<Utf8Bytes>>) -> Option<Utf8Bytes> {
    match inbox {
        Some(inbox) => inbox.recv().await,
        None => std::future::pending().await,
    }
}

impl<S> Session<S>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    /// The sender rooms deliver to, made on first use.
    fn outbox(&mut self) -> mpsc::Sender<Utf8Bytes> {
        if let Some(outbox) = &self.outbox {
            return outbox.clone();
        }
        let (outbox, inbox) = mpsc::channel(self.state.config.ws.outbox_capacity.max(1));
        self.inbox = Some(inbox);
        self.outbox.insert(outbox).clone()
    }

    async fn hello(&mut self) -> Result<(), End> {
        let hello = ServerMessage::Hello {
            protocol: PROTOCOL_VERSION,
            server: crate::server_name(),
            revision: self.state.source.snapshot().revision,
            server_time: pollpush_shared::time::now(),
        };
        self.send(&hello).await
    }

    /// Sends the close frame, giving a peer that does not read one second.
    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            self.ws.send(Message::Close(Some(frame))),
        )
        .await;
    }

    async fn send(&mut self, msg: &ServerMessage) -> Result<(), End> {
        let text =
            serde_json::to_string(msg).map_err(|_| End::Close(CloseCode::Error, "encoding"))?;
        self.send_text(text.into()).await
    }

    /// A text message: over HTTP/1.1 framed here and written through the
    /// wire (see [`crate::wire::Wire::write_frame`]), over HTTP/2 by tungstenite.
    async fn send_text(&mut self, text: Utf8Bytes) -> Result<(), End> {
        match &self.out {
            Outgoing::Direct { wire, .. } => {
                let (frame, _) = crate::frames::text_frame(text.as_bytes());
                write_direct(wire, &self.state, &frame).await
            }
            Outgoing::Queued { .. } => self.send_message(Message::Text(text)).await,
        }
    }

    /// A message encoded once for every subscriber (a snapshot, a change):
    /// over HTTP/1.1 its frame is written as it is, not framed again per session.
    async fn send_shared(&mut self, msg: &impl Shared) -> Result<(), End> {
        match &self.out {
            Outgoing::Direct { wire, .. } => write_direct(wire, &self.state, &msg.frame()).await,
            Outgoing::Queued { .. } => self.send_message(Message::Text(msg.text())).await,
        }
    }

    /// A data message through tungstenite, counted like the wire's.
    async fn send_message(&mut self, msg: Message) -> Result<(), End> {
        self.send_raw(msg).await?;
        self.state.stats.ws_messages_out.fetch_add(1, Relaxed);
        Ok(())
    }

    /// A frame through tungstenite: a ping, or any message over HTTP/2.
    async fn send_raw(&mut self, msg: Message) -> Result<(), End> {
        let timeout = self.state.config.ws.write_timeout;
        within(timeout, self.ws.send(msg))
            .await
            .ok_or(End::Gone)?
            .map_err(|_| End::Gone)
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

    /// The client fell too far behind: everything queued for it was dropped;
    /// a resync and a fresh snapshot put it back on the live feed.
    async fn resync(&mut self) -> Result<(), End> {
        if !self.out.is_subscribed() {
            return Ok(());
        }
        let hold = self.out.hold(self.state.feed.capacity());
        self.restart_at_snapshot(hold).await
    }

    /// `resync` and a fresh snapshot, then live from there: the one way a
    /// subscription starts over, whether it lagged or its replay's history
    /// is gone. `hold` keeps the fan-out off the wire until then.
    async fn restart_at_snapshot(&mut self, hold: Option<Hold>) -> Result<(), End> {
        let snapshot = self.out.restart(&self.state.source);
        let revision = snapshot.revision;
        self.send(&ServerMessage::Resync { revision }).await?;
        self.send_shared(&*snapshot).await?;
        self.out.go_live(hold, revision);
        Ok(())
    }

    fn leave_everything(&mut self) {
        for room in self.rooms.drain() {
            self.state.rooms.leave(&room, self.id);
        }
        for (_, task) in self.feeds.drain() {
            task.abort();
        }
        self.stop_species();
    }
}
