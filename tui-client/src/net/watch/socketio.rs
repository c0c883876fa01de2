//! The push lane for a socket.io server (`socketio://host:port/namespace#event`),
//! over the WebSocket transport: Engine.IO 4 (socket.io 3 and later), falling
//! back to Engine.IO 3 (socket.io 2.x, the talk's Flask-SocketIO era); over
//! long-polling ([`polling`]) when the server refuses WebSocket.
//!
//! Written here rather than taken from a crate because the lane must count
//! bytes on its own socket, under TLS; the protocol subset is small: the open
//! packet, the namespace connect, pings, and `42` event packets.

pub mod polling;

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
use polling::{OpenError, Polling};

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
        let (mut link, eio) = match self.connect(out.traffic.clone()).await {
            Ok(opened) => opened,
            Err(error) => return End::Lost(error),
        };
        self.eio = Some(eio);
        let namespace = self.namespace();
        let ping = match handshake(&mut link, &namespace).await {
            Ok(ping) => ping,
            Err(error) => return End::Lost(error),
        };
        if !out.connected().await {
            return End::Consumer;
        }
        for (name, arg) in &self.config.emits {
            let args = serde_json::json!([name, arg]);
            if let Err(error) = link.send(format!("42{namespace}{args}")).await {
                return End::Lost(error);
            }
        }
        // Engine.IO 3 clients ping; from 4 on the server pings and the client answers.
        let mut pinger = tokio::time::interval(ping);
        pinger.tick().await;
        loop {
            let packet = tokio::select! {
                packet = link.next() => packet,
                _ = pinger.tick(), if eio == 3 => {
                    if let Err(error) = link.send("2".to_owned()).await {
                        return End::Lost(error);
                    }
                    continue;
                }
            };
            let text = match packet {
                Ok(text) => text,
                Err(error) => return End::Lost(error),
            };
            let reply = match Packet::parse(&text, &namespace) {
                Packet::Ping => link.send("3".to_owned()).await,
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

    /// Opens the WebSocket transport, Engine.IO 4 first, then 3; then, when
    /// both were refused, long-polling the same way.
    async fn connect(&self, traffic: Arc<Traffic>) -> Result<(Link, u8), String> {
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
                Ok(ws) => return Ok((Link::Ws(Box::new(ws)), eio)),
                Err(NetError::WebSocket(tungstenite::Error::Http(response))) => {
                    refused.push(format!("EIO={eio}: HTTP {}", response.status()));
                }
                Err(error) => return Err(error.to_string()),
            }
        }
        for &eio in versions {
            let (config, origin) = (self.config.clone(), self.origin.clone());
            match Polling::open(config, origin, eio, traffic.clone()).await {
                Ok(polling) => return Ok((Link::Polling(Box::new(polling)), eio)),
                Err(OpenError::Refused(status)) => {
                    refused.push(format!("EIO={eio} polling: {status}"));
                }
                Err(OpenError::Failed(error)) => return Err(error),
            }
        }
        Err(format!(
            "{} is not a socket.io server of a supported version (socket.io 2 or later, \
             WebSocket or polling transport): {}",
            self.origin.label(),
            refused.join(", ")
        ))
    }
}

/// A socket.io session's transport: packets in, packets out.
pub(crate) enum Link {
    Ws(Box<Socket>),
    Polling(Box<Polling>),
}

impl Link {
    /// The next text packet; an error once the transport ended.
    pub(crate) async fn next(&mut self) -> Result<String, String> {
        match self {
            Self::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
                    Some(Ok(Message::Close(close))) => return Err(closed(close)),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(NetError::from(error).to_string()),
                    None => return Err("connection closed".to_owned()),
                }
            },
            Self::Polling(polling) => polling
                .next()
                .await
                .unwrap_or_else(|| Err("connection closed".to_owned())),
        }
    }

    pub(crate) async fn send(&mut self, text: String) -> Result<(), String> {
        match self {
            Self::Ws(ws) => ws
                .send(Message::Text(text.into()))
                .await
                .map_err(|e| NetError::from(e).to_string()),
            Self::Polling(polling) => polling.send(text).await,
        }
    }
}

/// Waits for the open packet and the namespace's connect; returns the ping interval.
pub(crate) async fn handshake(link: &mut Link, namespace: &str) -> Result<Duration, String> {
    let mut ping = Duration::from_secs(25);
    let mut joined = false;
    loop {
        let text = link.next().await?;
        if let Some(open) = text.strip_prefix('0') {
            let open: serde_json::Value = serde_json::from_str(open)
                .map_err(|e| format!("not a socket.io open packet ({e}): {text}"))?;
            if let Some(ms) = open.get("pingInterval").and_then(serde_json::Value::as_u64) {
                ping = Duration::from_millis(ms.max(1000));
            }
            if !joined {
                link.send(format!("40{namespace}")).await?;
                joined = true;
            }
            continue;
        }
        match Packet::parse(&text, namespace) {
            Packet::Connected => return Ok(ping),
            Packet::Error(error) => return Err(error),
            Packet::Ping => link.send("3".to_owned()).await?,
            _ => {}
        }
    }
}

/// The Engine.IO and socket.io packets the lane acts on.
#[derive(Debug, PartialEq)]
pub(crate) enum Packet {
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
    pub(crate) fn parse(text: &str, namespace: &str) -> Self {
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
