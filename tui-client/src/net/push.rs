//! The subscriber: one WebSocket to `/ws`, over a socket that counts every
//! byte (the upgrade and the framing included), resubscribing with `since`
//! after a reconnect so no change is lost across it.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use pollpush_shared::message::SPECIES_ROOM;
use pollpush_shared::{ClientMessage, Revision, ServerMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::counting::{CountingStream, Traffic};
use super::{Backoff, Endpoints, NetError, Sink};
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

/// Subscribes, and resubscribes after every failure, until the sink refuses an event.
/// `traffic` counts this subscriber's bytes; subscribers may share one.
pub async fn run<S: Sink<PushEvent>>(endpoints: Endpoints, traffic: Arc<Traffic>, sink: S) {
    let mut subscriber = Subscriber {
        endpoints,
        traffic,
        sink,
        last_revision: None,
    };
    let mut backoff = Backoff::default();
    loop {
        let error = match subscriber.session(&mut backoff).await {
            End::Consumer => return,
            End::Lost(error) => error,
        };
        let retry_in = backoff.next_delay();
        if !subscriber
            .emit(PushKind::Disconnected { error, retry_in })
            .await
        {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

struct Subscriber<S> {
    endpoints: Endpoints,
    traffic: Arc<Traffic>,
    sink: S,
    /// The newest revision forwarded: where a resumed subscription starts.
    last_revision: Option<Revision>,
}

impl<S: Sink<PushEvent>> Subscriber<S> {
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
        if !self.emit(PushKind::Connected { resume_from: since }).await {
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
        let revision = match message {
            ServerMessage::Snapshot { revision, .. } => *revision,
            ServerMessage::Change(change) => change.revision,
            _ => return,
        };
        self.last_revision = Some(self.last_revision.map_or(revision, |r| r.max(revision)));
    }

    async fn connect(
        &self,
    ) -> Result<tokio_tungstenite::WebSocketStream<CountingStream<TcpStream>>, NetError> {
        let uri: http::Uri = self.endpoints.ws.parse().map_err(|_| NetError::BadUrl {
            url: self.endpoints.ws.clone(),
            reason: "not a URL".into(),
        })?;
        let host = uri.host().unwrap_or("localhost");
        let port = uri.port_u16().unwrap_or(80);
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        let stream = CountingStream::new(tcp, self.traffic.clone());
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (ws, _response) = tokio_tungstenite::client_async_with_config(
            self.endpoints.ws.as_str(),
            stream,
            Some(config),
        )
        .await?;
        Ok(ws)
    }
}
