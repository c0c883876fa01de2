//! What a session does with each client message: subscribe and unsubscribe,
//! the talk's named events (`hi!`, `info`) and room broadcasts.

use std::sync::atomic::Ordering::Relaxed;

use futures_util::Sink;
use pollpush_shared::message::SPECIES_ROOM;
use pollpush_shared::{ClientMessage, Revision, ServerMessage};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{End, Session};
use crate::feed::StartWriter;
use crate::frames::ChangeFrame;
use crate::rooms::valid_room_name;
use crate::snapshot::Snapshot;
use crate::wire::Hold;

impl<S> Session<S>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    pub(super) async fn on_text(&mut self, text: &str) -> Result<(), End> {
        let msg = match serde_json::from_str::<ClientMessage>(text) {
            Ok(msg) => msg,
            Err(e) if e.is_data() => return self.error("bad_message", e.to_string()).await,
            Err(e) => return self.error("bad_json", e.to_string()).await,
        };
        match msg {
            ClientMessage::Subscribe { room, since } => {
                match since.map(crate::since::check).transpose() {
                    Ok(since) => self.subscribe(room, since).await,
                    Err(e) => self.error("bad_since", e.to_string()).await,
                }
            }
            ClientMessage::Unsubscribe { room } => self.unsubscribe(room).await,
            ClientMessage::Emit { event, data, ack } => self.emit(&event, data, ack).await,
            ClientMessage::Broadcast { room, event, data } => {
                self.broadcast(room, event, data).await
            }
        }
    }

    pub(super) async fn subscribe(&mut self, room: String, since: Option<u64>) -> Result<(), End> {
        if !valid_room_name(&room) {
            return self
                .error("bad_room", "room names are 1-64 of A-Z a-z 0-9 _ . -")
                .await;
        }
        if let Some(feed) = self.state.feeds.get(&room).cloned() {
            return self.subscribe_feed(feed, room, since).await;
        }
        if room != SPECIES_ROOM {
            let outbox = self.outbox();
            self.state.rooms.join(&room, self.id, outbox);
            self.rooms.insert(room.clone());
            let revision = self.state.source.snapshot().revision;
            return self
                .send(&ServerMessage::Subscribed { room, revision })
                .await;
        }
        let hold = self.out.hold(self.state.feed.capacity());
        let was_subscribed = self.out.is_subscribed();
        let (start, last) = self.out.subscribe(&self.state, since).await;
        if !was_subscribed {
            self.state.stats.ws_subscribers.fetch_add(1, Relaxed);
        }
        self.send(&ServerMessage::Subscribed {
            room,
            revision: last,
        })
        .await?;
        let source = self.state.source.clone();
        start
            .write(
                &source,
                &mut Starting {
                    session: self,
                    hold,
                },
            )
            .await
    }

    /// Ends the species subscription: no change reaches the wire after this.
    pub(super) fn stop_species(&mut self) {
        if self.out.stop() {
            self.state.stats.ws_subscribers.fetch_sub(1, Relaxed);
        }
    }

    pub(super) async fn unsubscribe(&mut self, room: String) -> Result<(), End> {
        if room == SPECIES_ROOM {
            self.stop_species();
        } else if !self.stop_feed(&room) && self.rooms.remove(&room) {
            self.state.rooms.leave(&room, self.id);
        }
        self.send(&ServerMessage::Unsubscribed { room }).await
    }

    pub(super) async fn emit(
        &mut self,
        event: &str,
        _data: Value,
        ack: Option<u64>,
    ) -> Result<(), End> {
        match (event, ack) {
            ("hi!", _) => {
                let list = self.state.source.snapshot().list();
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
                let data = serde_json::to_value(self.state.server_info()).unwrap_or(Value::Null);
                self.send(&ServerMessage::Ack {
                    ack,
                    data,
                    error: None,
                })
                .await
            }
            ("info", None) => {
                let data = serde_json::to_value(self.state.server_info()).unwrap_or(Value::Null);
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

    pub(super) async fn broadcast(
        &mut self,
        room: String,
        event: String,
        data: Value,
    ) -> Result<(), End> {
        if !valid_room_name(&room) {
            return self
                .error("bad_room", "room names are 1-64 of A-Z a-z 0-9 _ . -")
                .await;
        }
        if room == SPECIES_ROOM || self.state.feeds.get(&room).is_some() {
            return self
                .error(
                    "forbidden",
                    "only the server writes to the species room and to feeds",
                )
                .await;
        }
        if !self.may_write {
            return self
                .error(
                    "unauthorized",
                    "broadcast needs the server's write token: connect to /ws?access_token=TOKEN \
                     or with Authorization: Bearer TOKEN",
                )
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
        if let Some(broker) = &self.state.broker {
            broker
                .sender()
                .publish_room(&room, crate::broker::RoomPayload::Ws { text: text.clone() });
        }
        let (_, full) = self.state.rooms.broadcast(&room, self.id, &text.into());
        if full > 0 {
            tracing::debug!("room {room}: {full} members too slow for a broadcast");
        }
        Ok(())
    }
}

/// A session's side of its start ([`StartWriter`]); `hold` keeps the fan-out
/// off the wire until the start is written.
struct Starting<'s, S> {
    session: &'s mut Session<S>,
    hold: Option<Hold>,
}

impl<S> StartWriter for Starting<'_, S>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    type Error = End;

    fn is_lagged(&self) -> bool {
        self.session.out.is_lagged()
    }

    async fn snapshot(&mut self, snapshot: &Snapshot) -> Result<(), End> {
        self.session.send_shared(snapshot).await
    }

    async fn change(&mut self, frame: &ChangeFrame) -> Result<(), End> {
        self.session.send_shared(frame).await
    }

    async fn restart(&mut self) -> Result<(), End> {
        self.session.state.stats.resyncs.fetch_add(1, Relaxed);
        self.session.restart_at_snapshot(self.hold).await
    }

    fn go_live(&mut self, last: Revision) {
        self.session.out.go_live(self.hold, last);
    }
}
