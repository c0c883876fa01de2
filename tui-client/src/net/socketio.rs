//! The socket.io lane: a pollpush server's `/socket.io/` over the WebSocket
//! transport (Engine.IO 4), subscribed to `species` with `since` after a
//! reconnect, as the `/ws` lane does ([`resume`]). Its `snapshot`, `change`
//! and `resync` events carry the same objects as `/ws` frames, so the lane
//! reports them as the same messages and every figure compares.
//!
//! Socket.io stays on HTTP/1.1 (no socket.io client speaks RFC 8441), so the
//! lane upgrades over HTTP/1.1 whatever `--http` says.

use pollpush_shared::{Change, Revision, ServerMessage, Species};
use serde::Deserialize;
use serde_json::{Value, json};

use super::resume::{self, Emitter, End};
use super::watch::socketio::{Link, Packet, handshake};
use super::{Sink, ws};
use crate::event::LaneEvent;

/// The socket.io transport of a streaming lane.
pub struct SocketIo;

/// The body of a `snapshot` event.
#[derive(Deserialize)]
struct SnapshotBody {
    room: String,
    revision: Revision,
    species: Vec<Species>,
}

impl resume::Session for SocketIo {
    async fn run<S: Sink<LaneEvent>>(&mut self, out: &mut Emitter<S>) -> End {
        let endpoints = out.endpoints();
        // `http://host:port` → `ws://host:port`, `https` → `wss`.
        let url = format!(
            "ws{}/socket.io/?EIO=4&transport=websocket",
            endpoints
                .http
                .strip_prefix("http")
                .unwrap_or(&endpoints.http)
        );
        let mut link = match ws::upgrade(endpoints, &url, out.traffic.clone()).await {
            Ok(socket) => Link::Ws(Box::new(socket)),
            Err(error) => return End::Lost(error.to_string()),
        };
        if let Err(error) = handshake(&mut link, "").await {
            return End::Lost(error);
        }
        if !out.connected().await {
            return End::Consumer;
        }
        let room = out.endpoints().room().to_owned();
        let feed = out.endpoints().feed.is_some();
        let subscribe = match out.since() {
            Some(since) => json!(["subscribe", { "room": room, "since": since }]),
            None => json!(["subscribe", room]),
        };
        if let Err(error) = link.send(format!("42{subscribe}")).await {
            return End::Lost(error);
        }
        loop {
            let text = match link.next().await {
                Ok(text) => text,
                Err(error) => return End::Lost(error),
            };
            let message = match Packet::parse(&text, "") {
                // Engine.IO 4: the server pings, the client answers.
                Packet::Ping => match link.send("3".to_owned()).await {
                    Ok(()) => continue,
                    Err(error) => return End::Lost(error),
                },
                Packet::Close => return End::Lost("closed by the socket.io server".to_owned()),
                Packet::Error(error) => return End::Lost(error),
                // A feed's snapshot and change are its messages, `type` included.
                Packet::Event { name, args }
                    if feed && (name == "snapshot" || name == "change") =>
                {
                    match out.forward(&args.to_string()).await {
                        Ok(true) => continue,
                        Ok(false) => return End::Consumer,
                        Err(error) => return End::Lost(error.to_string()),
                    }
                }
                Packet::Event { name, args } => match message(&name, args) {
                    Ok(Some(message)) => message,
                    Ok(None) => continue,
                    Err(error) => return End::Lost(error),
                },
                Packet::Connected | Packet::Other => continue,
            };
            if !out.message(message).await {
                return End::Consumer;
            }
        }
    }
}

/// The `/ws` message a socket.io event stands for; `None` for events the
/// lane does not count (another room's, say); an error for a malformed one.
fn message(name: &str, args: Value) -> Result<Option<ServerMessage>, String> {
    let bad = |e: serde_json::Error| format!("malformed socket.io `{name}` event: {e}");
    Ok(Some(match name {
        "snapshot" => {
            let body: SnapshotBody = serde_json::from_value(args).map_err(bad)?;
            ServerMessage::Snapshot {
                room: body.room,
                revision: body.revision,
                species: body.species,
            }
        }
        "change" => ServerMessage::Change(serde_json::from_value::<Change>(args).map_err(bad)?),
        "resync" => {
            #[derive(Deserialize)]
            struct Resync {
                revision: Revision,
            }
            let notice: Resync = serde_json::from_value(args).map_err(bad)?;
            ServerMessage::Resync {
                revision: notice.revision,
            }
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_the_ws_messages_they_stand_for() {
        let species = json!({"id": 1, "name": "AThaliana", "observations": 0,
            "updated_at": "2026-12-06T00:00:00.000000Z"});
        let snapshot = json!({"room": "species", "revision": 4, "species": [species]});
        assert!(matches!(
            message("snapshot", snapshot),
            Ok(Some(ServerMessage::Snapshot { revision: 4, ref species, .. })) if species.len() == 1
        ));
        assert!(matches!(
            message("resync", json!({"revision": 9})),
            Ok(Some(ServerMessage::Resync { revision: 9 }))
        ));
        assert!(matches!(message("species", json!([])), Ok(None)));
        assert!(message("change", json!({"revision": "x"})).is_err());
    }
}
