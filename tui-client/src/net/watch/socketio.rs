//! The push lane for a socket.io server (`socketio://host:port/namespace#event`),
//! over the WebSocket transport only: Engine.IO 4 (socket.io 3 and later),
//! falling back to Engine.IO 3 (socket.io 2.x, the talk's Flask-SocketIO era).
//!
//! Written here rather than taken from a crate because the lane must count
//! bytes on its own socket, under TLS; the protocol subset is small: the open
//! packet, the namespace connect, pings, and `42` event packets.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, Message};

use super::WatchConfig;
use super::payload::payload;
use super::ws::{Socket, closed, open};
use crate::event::{LaneEvent, LaneUpdate};
use crate::net::counting::Traffic;
use crate::net::origin::Origin;
use crate::net::resume::{self, Emitter, End};
use crate::net::{NetError, Sink};

/// The socket.io transport of the push lane.
pub struct SocketIoFeed {
    pub config: Arc<WatchConfig>,
    pub origin: Origin,
    /// The event counted; every event when `None`.
    pub event: Option<String>,
    /// The Engine.IO version that worked, tried first on a reconnect.
    pub eio: Option<u8>,
}

impl resume::Session for SocketIoFeed {
    async fn run<S: Sink<LaneEvent>>(&mut self, out: &mut Emitter<S>) -> End {
        let (mut ws, eio) = match self.connect(out.traffic.clone()).await {
            Ok(opened) => opened,
            Err(error) => return End::Lost(error),
        };
        self.eio = Some(eio);
        let namespace = self.namespace();
        let ping = match handshake(&mut ws, &namespace).await {
            Ok(ping) => ping,
            Err(error) => return End::Lost(error),
        };
        if !out.connected().await {
            return End::Consumer;
        }
        for (name, arg) in &self.config.emits {
            let args = serde_json::json!([name, arg]);
            if let Err(error) = send(&mut ws, format!("42{namespace}{args}")).await {
                return End::Lost(error);
            }
        }
        // Engine.IO 3 clients ping; from 4 on the server pings and the client answers.
        let mut pinger = tokio::time::interval(ping);
        pinger.tick().await;
        loop {
            let frame = tokio::select! {
                frame = ws.next() => frame,
                _ = pinger.tick(), if eio == 3 => {
                    if let Err(error) = send(&mut ws, "2".to_owned()).await {
                        return End::Lost(error);
                    }
                    continue;
                }
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(close))) => return End::Lost(closed(close)),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return End::Lost(NetError::from(error).to_string()),
                None => return End::Lost("connection closed".to_owned()),
            };
            let reply = match Packet::parse(&text, &namespace) {
                Packet::Ping => send(&mut ws, "3".to_owned()).await,
                Packet::Close => return End::Lost("closed by the socket.io server".to_owned()),
                Packet::Event { name, args } if self.counts(&name) => {
                    let bytes = args.to_string().into_bytes();
                    let update = payload(&bytes, "", Some(name), None, &self.config.fields);
                    if !out.emit(LaneUpdate::Payload(Box::new(update))).await {
                        return End::Consumer;
                    }
                    Ok(())
                }
                Packet::Error(error) => return End::Lost(error),
                Packet::Event { .. } | Packet::Connected | Packet::Other => Ok(()),
            };
            if let Err(error) = reply {
                return End::Lost(error);
            }
        }
    }
}

impl SocketIoFeed {
    fn counts(&self, name: &str) -> bool {
        self.event.as_deref().is_none_or(|event| event == name)
    }

    /// `""` for the main namespace, else `/chat,` as packets prefix it.
    fn namespace(&self) -> String {
        let path = self.origin.path.split('?').next().unwrap_or("/");
        if path.is_empty() || path == "/" {
            String::new()
        } else {
            format!("{path},")
        }
    }

    /// Opens the WebSocket transport, Engine.IO 4 first, then 3.
    async fn connect(&self, traffic: Arc<Traffic>) -> Result<(Socket, u8), String> {
        let scheme = if self.origin.tls { "wss" } else { "ws" };
        let versions: &[u8] = match self.eio {
            Some(3) => &[3, 4],
            _ => &[4, 3],
        };
        let mut refused = Vec::new();
        for &eio in versions {
            let url = format!(
                "{scheme}://{}/socket.io/?EIO={eio}&transport=websocket",
                self.origin.host_header()
            );
            match open(&self.config, &self.origin, &url, traffic.clone()).await {
                Ok(ws) => return Ok((ws, eio)),
                Err(NetError::WebSocket(tungstenite::Error::Http(response))) => {
                    refused.push(format!("EIO={eio}: HTTP {}", response.status()));
                }
                Err(error) => return Err(error.to_string()),
            }
        }
        Err(format!(
            "{} is not a socket.io server of a supported version (socket.io 2 or later, \
             WebSocket transport): {}",
            self.origin.label(),
            refused.join(", ")
        ))
    }
}

/// Waits for the open packet and the namespace's connect; returns the ping interval.
async fn handshake(ws: &mut Socket, namespace: &str) -> Result<Duration, String> {
    let mut ping = Duration::from_secs(25);
    let mut joined = false;
    while let Some(frame) = ws.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(close)) => return Err(closed(close)),
            Ok(_) => continue,
            Err(error) => return Err(NetError::from(error).to_string()),
        };
        if let Some(open) = text.strip_prefix('0') {
            let open: serde_json::Value = serde_json::from_str(open)
                .map_err(|e| format!("not a socket.io open packet ({e}): {text}"))?;
            if let Some(ms) = open.get("pingInterval").and_then(serde_json::Value::as_u64) {
                ping = Duration::from_millis(ms.max(1000));
            }
            if !joined {
                send(ws, format!("40{namespace}")).await?;
                joined = true;
            }
            continue;
        }
        match Packet::parse(&text, namespace) {
            Packet::Connected => return Ok(ping),
            Packet::Error(error) => return Err(error),
            Packet::Ping => send(ws, "3".to_owned()).await?,
            _ => {}
        }
    }
    Err("connection closed during the socket.io handshake".to_owned())
}

async fn send(ws: &mut Socket, text: String) -> Result<(), String> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| NetError::from(e).to_string())
}

/// The Engine.IO and socket.io packets the lane acts on.
#[derive(Debug, PartialEq)]
enum Packet {
    Ping,
    Close,
    Connected,
    Event {
        name: String,
        args: serde_json::Value,
    },
    Error(String),
    Other,
}

impl Packet {
    fn parse(text: &str, namespace: &str) -> Self {
        match text.as_bytes().first() {
            Some(b'2') => return Self::Ping,
            Some(b'1') => return Self::Close,
            Some(b'4') => {}
            _ => return Self::Other,
        }
        let packet = &text[1..];
        let Some(kind) = packet.chars().next() else {
            return Self::Other;
        };
        // Packets of another namespace are not ours.
        let Some(rest) = packet[1..].strip_prefix(namespace) else {
            return Self::Other;
        };
        let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        match kind {
            '0' => Self::Connected,
            '4' => Self::Error(format!("the socket.io server refused to connect: {json}")),
            '2' => match serde_json::from_str::<serde_json::Value>(json) {
                Ok(serde_json::Value::Array(mut items)) if !items.is_empty() => {
                    let name = match items.remove(0) {
                        serde_json::Value::String(name) => name,
                        other => other.to_string(),
                    };
                    let args = match items.len() {
                        1 => items.remove(0),
                        _ => serde_json::Value::Array(items),
                    };
                    Self::Event { name, args }
                }
                _ => Self::Other,
            },
            _ => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn packets_parse_per_namespace() {
        assert_eq!(Packet::parse("2", ""), Packet::Ping);
        assert_eq!(Packet::parse("40", ""), Packet::Connected);
        assert_eq!(Packet::parse(r#"40{"sid":"x"}"#, ""), Packet::Connected);
        assert_eq!(Packet::parse("40/chat,", "/chat,"), Packet::Connected);
        let species = Packet::parse(r#"42["species",[{"id":1}]]"#, "");
        assert_eq!(
            species,
            Packet::Event {
                name: "species".into(),
                args: json!([{"id": 1}])
            }
        );
        let acked = Packet::parse(r#"42/chat,7["m",1,2]"#, "/chat,");
        assert_eq!(
            acked,
            Packet::Event {
                name: "m".into(),
                args: json!([1, 2])
            }
        );
        assert_eq!(Packet::parse(r#"42/chat,["m"]"#, ""), Packet::Other);
        assert!(matches!(
            Packet::parse(r#"44{"message":"no"}"#, ""),
            Packet::Error(_)
        ));
    }
}
