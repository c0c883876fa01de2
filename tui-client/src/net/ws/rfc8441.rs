//! WebSocket over HTTP/2 (RFC 8441): an extended CONNECT with `:protocol
//! websocket` opens a stream of an h2 connection, and that stream carries the
//! WebSocket frames. There is no `Sec-WebSocket-Key`: the stream itself is new.

use std::sync::Arc;

use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::Socket;
use crate::net::counting::Traffic;
use crate::net::http::{self, HttpChoice};
use crate::net::origin::Origin;
use crate::net::tls::Io;
use crate::net::{Endpoints, NetError};

/// Opens `endpoints.ws` as a stream of a new h2 connection (h2c on `ws://`).
pub(super) async fn connect(
    endpoints: &Endpoints,
    traffic: Arc<Traffic>,
    config: WebSocketConfig,
) -> Result<Socket, NetError> {
    let origin = Origin::parse(&endpoints.ws, "ws", "wss")?;
    let dialed = http::dial(&origin, endpoints, HttpChoice::H2, traffic).await?;
    let (mut sender, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake::<_, String>(TokioIo::new(dialed.io))
        .await?;
    let version = (
        ::http::HeaderName::from_static("sec-websocket-version"),
        "13".to_owned(),
    );
    let mut request = http::request(
        ::http::Method::CONNECT,
        &origin.host_header(),
        &origin.path,
        &[version],
        String::new(),
    )?;
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    endpoints.profile.apply(request.headers_mut());
    let request = http::h2_form(request, if origin.tls { "https" } else { "http" })?;
    // The connection is polled here until the answer, so that its end is an
    // error of this request, and whether the server allows extended CONNECT
    // is known when the answer is read.
    let mut connection = Box::pin(connection);
    // h2 sends `:protocol` only once the server's SETTINGS allowed it: a
    // CONNECT sent earlier would arrive as a plain CONNECT (a 405 over TLS,
    // where the SETTINGS come later than on loopback h2c). So it waits until
    // they did, or for a short while. hyper reads them on a task of its own,
    // which wakes nothing here: this looks every few milliseconds (waiting
    // for a wake-up cost every ws-over-h2 connection the whole 2 s).
    let deadline = tokio::time::Instant::now() + SETTINGS_WAIT;
    while !connection.is_extended_connect_protocol_enabled()
        && tokio::time::Instant::now() < deadline
    {
        tokio::select! {
            end = &mut connection => {
                return Err(end.map_or_else(NetError::from, |()| {
                    NetError::Unexpected("connection closed by the server".to_owned())
                }));
            }
            () = tokio::time::sleep(SETTINGS_LOOK) => {}
        }
    }
    let answer = tokio::select! {
        answer = async {
            sender.ready().await?;
            sender.send_request(request).await
        } => answer.map_err(NetError::from),
        end = &mut connection => Err(end.map_or_else(NetError::from, |()| {
            NetError::Unexpected("connection closed by the server".to_owned())
        })),
    };
    let allowed = connection.is_extended_connect_protocol_enabled();
    tokio::spawn(connection);
    let response = match answer {
        Ok(response) if response.status() == ::http::StatusCode::OK => response,
        Ok(response) => return Err(refused(allowed, &origin, &response.status().to_string())),
        Err(error) => return Err(refused(allowed, &origin, &error.to_string())),
    };
    let upgraded = hyper::upgrade::on(response).await?;
    let io: Box<dyn Io> = Box::new(TokioIo::new(upgraded));
    Ok(WebSocketStream::from_raw_socket(io, Role::Client, Some(config)).await)
}

/// How long to wait for a server's SETTINGS to allow extended CONNECT.
const SETTINGS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How often to look whether they did.
const SETTINGS_LOOK: std::time::Duration = std::time::Duration::from_millis(2);

/// Why the server refused the extended CONNECT, in words a user can act on:
/// most often a server that does not offer RFC 8441.
fn refused(allowed: bool, origin: &Origin, answer: &str) -> NetError {
    if allowed {
        NetError::Unexpected(format!(
            "{} refused WebSocket over HTTP/2 (RFC 8441 extended CONNECT): {answer}",
            origin.url
        ))
    } else {
        NetError::NoWebSocketOverH2 {
            node: origin.label(),
            answer: answer.to_owned(),
        }
    }
}
