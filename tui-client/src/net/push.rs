//! The subscriber: one WebSocket to `/ws`, over a socket that counts every
//! byte (the upgrade and the framing included), resubscribing with `since`
//! after a reconnect so no change is lost across it.
//!
//! Given several nodes of a cluster, it moves to the next one whenever its
//! node drops it: every node replays the shared history after `since`, so a
//! failover loses nothing either.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use pollpush_shared::message::SPECIES_ROOM;
use pollpush_shared::{ClientMessage, Revision, ServerMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::counting::{CountingStream, Traffic};
use super::{Backoff, NetError, Nodes, Sink};
use crate::app::nodes::next_node;
use crate::event::{PushEvent, PushKind};

/// Read buffer per connection: tungstenite's default zero-fills 128 KiB on the
/// first read, which is 1.3 GB for the load mode's 10,000 subscribers. Frames
/// larger than this still arrive whole; it is only the read chunk.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Why a session ended.
enum End {
    /// The consumer is gone: stop for good.
    Consumer,
    /// The connection failed or closed: reconnect.
    Lost(String),
}

/// Subscribes to node `start` of `nodes`, and resubscribes to the next node
/// after every failure, until the sink refuses an event. `traffic` counts this
/// subscriber's bytes; subscribers may share one.
pub async fn run<S: Sink<PushEvent>>(nodes: Nodes, start: usize, traffic: Arc<Traffic>, sink: S) {
    let mut subscriber = Subscriber {
        current: start % nodes.len(),
        nodes,
        traffic,
        sink,
        last_revision: None,
    };
    let mut backoff = Backoff::default();
    loop {
        let error = match subscriber.session(&mut backoff).await {
            End::Consumer => return,
            // Of a cluster, say which node failed: the next attempt goes elsewhere.
            End::Lost(error) if subscriber.nodes.len() > 1 => {
                format!("{}: {error}", subscriber.node())
            }
            End::Lost(error) => error,
        };
        let retry_in = backoff.next_delay();
        subscriber.current = next_node(subscriber.current, subscriber.nodes.len());
        let next_node = subscriber.node().to_owned();
        let disconnected = PushKind::Disconnected {
            error,
            retry_in,
            next_node,
        };
        if !subscriber.emit(disconnected).await {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

struct Subscriber<S> {
    nodes: Nodes,
    /// Index of the node this subscriber talks to.
    current: usize,
    traffic: Arc<Traffic>,
    sink: S,
    /// The newest revision forwarded: where a resumed subscription starts.
    last_revision: Option<Revision>,
}

impl<S: Sink<PushEvent>> Subscriber<S> {
    fn node(&self) -> &str {
        self.nodes.get(self.current).label()
    }

    /// Sends an event; false when the consumer is gone.
    async fn emit(&mut self, kind: PushKind) -> bool {
        let event = PushEvent {
            at: pollpush_shared::time::now(),
            traffic: self.traffic.totals(),
            kind,
        };
        self.sink.deliver(event).await
    }

    async fn session(&mut self, backoff: &mut Backoff) -> End {
        let mut ws = match self.connect().await {
            Ok(ws) => ws,
            Err(error) => return End::Lost(error.to_string()),
        };
        backoff.reset();
        let since = self.last_revision;
        let node = self.node().to_owned();
        let connected = PushKind::Connected {
            resume_from: since,
            node,
        };
        if !self.emit(connected).await {
            return End::Consumer;
        }
        let subscribe = ClientMessage::Subscribe {
            room: SPECIES_ROOM.to_owned(),
            since,
        };
        let text = match serde_json::to_string(&subscribe) {
            Ok(text) => text,
            Err(error) => return End::Lost(error.to_string()),
        };
        if let Err(error) = ws.send(Message::Text(text.into())).await {
            return End::Lost(NetError::from(error).to_string());
        }
        while let Some(frame) = ws.next().await {
            let text = match frame {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(close)) => {
                    return End::Lost(close.map_or_else(
                        || "closed by the server".to_owned(),
                        |c| format!("closed by the server ({} {})", u16::from(c.code), c.reason),
                    ));
                }
                Ok(_) => continue,
                Err(error) => return End::Lost(NetError::from(error).to_string()),
            };
            let message = match serde_json::from_str::<ServerMessage>(&text) {
                Ok(message) => message,
                Err(error) => return End::Lost(NetError::from(error).to_string()),
            };
            self.remember(&message);
            if !self.emit(PushKind::Message(message)).await {
                return End::Consumer;
            }
        }
        End::Lost("connection closed".to_owned())
    }

    fn remember(&mut self, message: &ServerMessage) {
        self.last_revision = match message {
            // A snapshot is the whole state: resume from it even when it is older
            // (a node with a store of its own, or a restarted one), or every later
            // resume would ask for a future revision and get a snapshot again.
            ServerMessage::Snapshot { revision, .. } => Some(*revision),
            ServerMessage::Change(change) => Some(
                self.last_revision
                    .map_or(change.revision, |r| r.max(change.revision)),
            ),
            _ => return,
        };
    }

    async fn connect(
        &self,
    ) -> Result<tokio_tungstenite::WebSocketStream<CountingStream<TcpStream>>, NetError> {
        let endpoints = self.nodes.get(self.current);
        let uri: http::Uri = endpoints.ws.parse().map_err(|_| NetError::BadUrl {
            url: endpoints.ws.clone(),
            reason: "not a URL".into(),
        })?;
        let host = uri.host().unwrap_or("localhost");
        let port = uri.port_u16().unwrap_or(80);
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        let stream = CountingStream::new(tcp, self.traffic.clone());
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (ws, _response) = tokio_tungstenite::client_async_with_config(
            endpoints.ws.as_str(),
            stream,
            Some(config),
        )
        .await?;
        Ok(ws)
    }
}
