//! HTTP/2 clients for the tests: h2c connections (prior knowledge), `/ws` over
//! RFC 8441's extended CONNECT, and reading SSE streams.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pollpush_server::Server;
use pollpush_shared::ServerMessage;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::{recv, url};

/// A WebSocket on one stream of an h2 connection.
pub type H2Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The default stream window: large enough for every test but the stalled ones.
pub const WINDOW: u32 = 1 << 20;

/// One h2c connection to the server whose streams each take `window` bytes
/// unread, driven in the background.
pub async fn connection(server: &Server, window: u32) -> http2::SendRequest<String> {
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(window)
        .handshake::<_, String>(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// A WebSocket at `path` (which may carry a query) on a new stream of
/// `sender`'s connection, past its `hello`.
pub async fn websocket(
    server: &Server,
    sender: &mut http2::SendRequest<String>,
    path: &str,
) -> H2Ws {
    let mut request = hyper::Request::builder()
        .method(hyper::Method::CONNECT)
        .uri(url(server, path))
        .header("sec-websocket-version", "13")
        .body(String::new())
        .unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200, "extended CONNECT refused");
    let upgraded = hyper::upgrade::on(response).await.unwrap();
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    assert!(matches!(recv(&mut ws).await, ServerMessage::Hello { .. }));
    ws
}

/// `GET /species/events` on a new stream of `sender`'s connection: its body.
pub async fn sse(server: &Server, sender: &mut http2::SendRequest<String>) -> Incoming {
    let request = http::Request::get(url(server, "/species/events"))
        .body(String::new())
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    response.into_body()
}

/// Reads `body` until its text so far contains `needle`; fails after the deadline.
pub async fn read_until(body: &mut Incoming, seen: &mut String, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(needle) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} before the deadline; got {seen:?}"))
            .expect("the stream ended")
            .expect("a stream error");
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

/// Raw frames, for the abuse no client library will send.
pub mod raw {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const GOAWAY: u8 = 0x7;
    pub const CONTINUATION: u8 = 0x9;
    pub const END_STREAM: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const CANCEL: u32 = 0x8;
    /// `GET http /`: static table entries, no Huffman, no state.
    pub const GET_ROOT: [u8; 3] = [0x82, 0x86, 0x84];
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;

    /// One frame: the 9-byte header, then `payload`.
    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap();
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend(payload);
        f
    }

    /// The client preface and an empty SETTINGS frame.
    pub fn opening() -> Vec<u8> {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(SETTINGS, 0, 0, &[]));
        bytes
    }

    /// Reads frames until a GOAWAY, whose error code it returns; `None` if the
    /// connection ends first. Fails after the deadline.
    pub async fn goaway(tcp: &mut TcpStream) -> Option<u32> {
        let read = async {
            loop {
                let mut head = [0u8; 9];
                tcp.read_exact(&mut head).await.ok()?;
                let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                let mut payload = vec![0u8; len];
                tcp.read_exact(&mut payload).await.ok()?;
                if head[3] == GOAWAY {
                    return Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
                }
            }
        };
        tokio::time::timeout(crate::common::DEADLINE, read)
            .await
            .expect("the connection neither said GOAWAY nor ended")
    }
}
