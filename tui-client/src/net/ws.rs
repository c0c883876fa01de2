//! The WebSocket lane: one connection to `/ws`, over a socket that counts
//! every byte (the upgrade and the framing included), subscribing with
//! `since` after a reconnect so no change is lost across it ([`resume`]).
//! With `--http 2` it is a stream of an h2 connection ([`rfc8441`]); otherwise
//! an HTTP/1.1 upgrade, since WebSocket over h2 needs the server's consent.

mod rfc8441;

use futures_util::{SinkExt, StreamExt};
use pollpush_shared::ClientMessage;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use std::sync::Arc;

use super::counting::Traffic;
use super::resume::{self, Emitter, End};
use super::tls::Io;
use super::{Endpoints, HttpChoice, NetError, Sink};
use crate::event::LaneEvent;

/// Read buffer per connection: tungstenite's default zero-fills 128 KiB on the
/// first read, which is 1.3 GB for the load mode's 10,000 subscribers. Frames
/// larger than this still arrive whole; it is only the read chunk.
const READ_BUFFER_BYTES: usize = 8 * 1024;

pub(crate) type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// The WebSocket transport of a streaming lane.
pub struct Ws;

impl resume::Session for Ws {
    async fn run<S: Sink<LaneEvent>>(&mut self, out: &mut Emitter<S>) -> End {
        let mut ws = match connect(out.endpoints().clone(), out.traffic.clone()).await {
            Ok(ws) => ws,
            Err(error) => return End::Lost(error.to_string()),
        };
        let subscribe = ClientMessage::Subscribe {
            room: out.endpoints().room().to_owned(),
            since: out.since(),
        };
        if !out.connected().await {
            return End::Consumer;
        }
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
            match out.forward(&text).await {
                Ok(true) => {}
                Ok(false) => return End::Consumer,
                Err(error) => return End::Lost(error.to_string()),
            }
        }
        End::Lost("connection closed".to_owned())
    }
}

async fn connect(endpoints: Endpoints, traffic: Arc<Traffic>) -> Result<Socket, NetError> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    if endpoints.version == HttpChoice::H2 {
        return rfc8441::connect(&endpoints, traffic, config).await;
    }
    upgrade(&endpoints, &endpoints.ws, traffic).await
}

/// A WebSocket to `url` on `endpoints`' node by an HTTP/1.1 upgrade (the
/// socket.io lane's transport too), with the profile's headers.
pub(crate) async fn upgrade(
    endpoints: &Endpoints,
    url: &str,
    traffic: Arc<Traffic>,
) -> Result<Socket, NetError> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    // The handshake's own headers (key, version, upgrade), then the profile's.
    let mut request = url.into_client_request()?;
    endpoints.profile.apply(request.headers_mut());
    let stream = endpoints.dial_ws(traffic).await?;
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    Ok(ws)
}
