//! The push lane for any WebSocket (`ws://`, `wss://`): every text or binary
//! message is an update; `--send` messages go out once connected.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::WatchConfig;
use super::payload::payload;
use crate::event::{LaneEvent, LaneUpdate};
use crate::net::counting::Traffic;
use crate::net::origin::Origin;
use crate::net::resume::{self, Emitter, End};
use crate::net::tls::Io;
use crate::net::{NetError, Sink};

pub type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// The WebSocket transport of the push lane.
pub struct WsFeed {
    pub config: Arc<WatchConfig>,
    pub origin: Origin,
}

impl resume::Session for WsFeed {
    async fn run<S: Sink<LaneEvent>>(&mut self, out: &mut Emitter<S>) -> End {
        let mut ws = match open(
            &self.config,
            &self.origin,
            &self.origin.url,
            out.traffic.clone(),
        )
        .await
        {
            Ok(ws) => ws,
            Err(error) => return End::Lost(error.to_string()),
        };
        if !out.connected().await {
            return End::Consumer;
        }
        for text in &self.config.sends {
            if let Err(error) = ws.send(Message::Text(text.clone().into())).await {
                return End::Lost(NetError::from(error).to_string());
            }
        }
        while let Some(frame) = ws.next().await {
            let bytes = match frame {
                Ok(Message::Text(text)) => text.as_bytes().to_vec(),
                Ok(Message::Binary(data)) => data.to_vec(),
                Ok(Message::Close(close)) => return End::Lost(closed(close)),
                Ok(_) => continue,
                Err(error) => return End::Lost(NetError::from(error).to_string()),
            };
            let mut update = payload(&bytes, "", None, None, &self.config.fields);
            update.pollpush = matches!(
                serde_json::from_slice(&bytes),
                Ok(pollpush_shared::ServerMessage::Hello { .. })
            );
            if !out.emit(LaneUpdate::Payload(Box::new(update))).await {
                return End::Consumer;
            }
        }
        End::Lost("connection closed".to_owned())
    }
}

pub fn closed(close: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    close.map_or_else(
        || "closed by the server".to_owned(),
        |c| format!("closed by the server ({} {})", u16::from(c.code), c.reason),
    )
}

/// Connects to `origin` (counted, TLS when `wss`) and runs the handshake for
/// `url`, with the `-H` headers.
pub async fn open(
    config: &WatchConfig,
    origin: &Origin,
    url: &str,
    traffic: Arc<Traffic>,
) -> Result<Socket, NetError> {
    let mut request = url.into_client_request()?;
    for (name, value) in &config.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let io = origin.dial(&config.tls, traffic).await?;
    let handshake = tokio_tungstenite::client_async(request, io);
    let (ws, _response) = tokio::time::timeout(config.timeout, handshake)
        .await
        .map_err(|_| NetError::Timeout(config.timeout))??;
    Ok(ws)
}
