//! Header size and deadlines, tried from outside on raw sockets: what a client
//! that sends too much, too slowly or nothing at all gets, and what a quiet
//! stream (WebSocket or SSE, over HTTP/1.1 or HTTP/2) keeps despite them.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{DEADLINE, h2, spawn_server_with, subscriber};
use pollpush_server::{Config, Server, WsConfig};
use pollpush_shared::ServerMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough never to fire during a test.
const NEVER: Duration = Duration::from_hours(1);

fn limits(header_timeout: Duration, idle_timeout: Duration) -> Config {
    common::with_deadlines(header_timeout, idle_timeout)
}

/// Everything the server sends until it closes the connection (or resets it).
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(DEADLINE, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server must close the connection");
    String::from_utf8_lossy(&seen).into_owned()
}

/// Sends `head` (request line and headers) padded with an `X-Pad` header to
/// `total` bytes, and returns what the server answers before closing.
async fn request_with_header_section(server: &Server, head: &str, total: usize) -> String {
    let fixed = head.len() + "X-Pad: \r\nConnection: close\r\n\r\n".len();
    let pad = "a".repeat(total - fixed);
    let request = format!("{head}X-Pad: {pad}\r\nConnection: close\r\n\r\n");
    assert_eq!(request.len(), total);
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    read_to_close(&mut tcp).await
}

#[tokio::test]
async fn a_header_section_over_16_kib_gets_431_and_the_connection_closes() {
    let server = spawn_server_with(Config::default()).await;
    let heads = [
        "GET /species HTTP/1.1\r\nHost: x\r\n",
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n",
    ];
    for head in heads {
        let answer = request_with_header_section(&server, head, 16 * 1024 + 1).await;
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
            "{head}: {answer}"
        );
    }
    let answer = request_with_header_section(&server, heads[0], 200 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "200 KB: {answer}");
    let answer = request_with_header_section(&server, heads[0], 16 * 1024).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "exactly 16 KiB: {answer}"
    );
}

#[tokio::test]
async fn a_client_that_dribbles_its_headers_is_disconnected() {
    let server = spawn_server_with(limits(Duration::from_millis(300), NEVER)).await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(b"GET /species HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header byte every 20 ms, never the blank line that ends them.
    let closed = tokio::time::timeout(DEADLINE, async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if tcp.write_all(b"a").await.is_err() {
                return;
            }
            let mut buf = [0u8; 64];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await
            {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a slow header section must be cut");
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_disconnected() {
    let server = spawn_server_with(limits(Duration::from_millis(300), NEVER)).await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    assert_eq!(read_to_close(&mut tcp).await, "");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_request() {
    let server = spawn_server_with(limits(NEVER, Duration::from_millis(300))).await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.contains("connection: close"),
        "kept alive, then closed"
    );
}

/// A keep-alive connection that has had its answer and now waits, for the
/// idle timer to be seen running out beside what must survive it.
async fn idle_probe(server: &Server) -> TcpStream {
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(tcp.read(&mut buf).await.unwrap() > 0);
    tcp
}

/// Returns once two idle probes opened one after the other were closed: the
/// idle timeout has passed, with a watchdog period to spare, since the call.
async fn outlast_the_idle_timeout(server: &Server) {
    for _ in 0..2 {
        let mut probe = idle_probe(server).await;
        assert_eq!(read_to_close(&mut probe).await, "", "the idle probe closed");
    }
}

#[tokio::test]
async fn live_websocket_streams_outlive_the_idle_timeout() {
    let server = spawn_server_with(limits(NEVER, Duration::from_millis(200))).await;
    let (mut ws, revision) = subscriber(&server).await;
    let mut probe = idle_probe(&server).await;
    assert_eq!(read_to_close(&mut probe).await, "", "the idle probe closed");
    common::create(&server, "Basilic").await;
    let ServerMessage::Change(change) = common::recv(&mut ws).await else {
        panic!("expected the change")
    };
    assert_eq!(change.revision, revision + 1);
}

#[tokio::test]
async fn a_held_socketio_long_poll_is_not_idle() {
    let server = spawn_server_with(limits(NEVER, Duration::from_millis(200))).await;
    let poll = common::socketio_session(&server).await;
    assert_eq!(common::socketio_post(&poll, "40".into()).await, 200);
    let connected = common::http().get(&poll).send().await.unwrap();
    let connected = connected.text().await.unwrap();
    assert!(
        connected.split('\u{1e}').any(|p| p.starts_with("40")),
        "{connected:?}"
    );
    // Held by the server until something is sent on the session.
    let held = tokio::spawn(common::http().get(&poll).send());
    let mut probe = idle_probe(&server).await;
    assert_eq!(read_to_close(&mut probe).await, "", "the idle probe closed");
    assert!(!held.is_finished(), "the poll is still held");
    assert_eq!(
        common::socketio_post(&poll, "42[\"hi!\"]".into()).await,
        200
    );
    let answer = tokio::time::timeout(DEADLINE, held)
        .await
        .expect("the held poll answers")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(text.contains("\"species\""), "{text}");
}

/// A short idle timeout, and WebSocket pings too rare to keep anything alive.
fn short_idle_rare_pings() -> Config {
    Config {
        ws: WsConfig {
            ping_interval: NEVER,
            idle_timeout: NEVER,
            ..WsConfig::default()
        },
        ..limits(NEVER, Duration::from_millis(200))
    }
}

#[tokio::test]
async fn a_quiet_websocket_over_h2_outlives_the_idle_timeout() {
    let server = spawn_server_with(short_idle_rare_pings()).await;
    let mut sender = h2::connection(&server, h2::WINDOW).await;
    let mut ws = h2::websocket(&server, &mut sender, "/ws").await;
    common::send(&mut ws, &common::subscribe_species(None)).await;
    let ServerMessage::Subscribed { revision, .. } = common::recv(&mut ws).await else {
        panic!("expected subscribed")
    };
    assert!(matches!(
        common::recv(&mut ws).await,
        ServerMessage::Snapshot { .. }
    ));
    outlast_the_idle_timeout(&server).await;
    common::create(&server, "Basilic").await;
    let ServerMessage::Change(change) = common::recv(&mut ws).await else {
        panic!("expected the change")
    };
    assert_eq!(change.revision, revision + 1);
}

#[tokio::test]
async fn a_quiet_sse_stream_over_h2_outlives_the_idle_timeout() {
    let server = spawn_server_with(short_idle_rare_pings()).await;
    let mut sender = h2::connection(&server, h2::WINDOW).await;
    let mut body = h2::sse(&server, &mut sender).await;
    let mut seen = String::new();
    h2::read_until(&mut body, &mut seen, "event: snapshot").await;
    outlast_the_idle_timeout(&server).await;
    common::create(&server, "Basilic").await;
    h2::read_until(&mut body, &mut seen, "event: change").await;
}

#[tokio::test]
async fn a_quiet_sse_stream_over_http1_outlives_the_idle_timeout() {
    let server = spawn_server_with(short_idle_rare_pings()).await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(b"GET /species/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_raw_until(&mut tcp, "event: snapshot").await;
    outlast_the_idle_timeout(&server).await;
    common::create(&server, "Basilic").await;
    read_raw_until(&mut tcp, "event: change").await;
}

/// Reads `tcp` until what it sent contains `needle`; fails after the deadline
/// or if the connection ends first.
async fn read_raw_until(tcp: &mut TcpStream, needle: &str) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(DEADLINE, async {
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before {needle:?}");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} before the deadline"));
}

#[tokio::test]
async fn an_idle_h2_connection_is_closed_at_the_idle_timeout_after_its_control_frames() {
    // No header deadline: only the idle clock may close it.
    let server = spawn_server_with(limits(NEVER, Duration::from_millis(200))).await;
    let mut sender = h2::connection(&server, h2::WINDOW).await;
    let request = http::Request::get(common::url(&server, "/healthz"))
        .body(String::new())
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    // The client's SETTINGS ACK and WINDOW_UPDATEs may arrive after the
    // answer: they are not a request on its way.
    common::eventually(|| sender.is_closed(), "the idle h2 connection stayed open").await;
}
