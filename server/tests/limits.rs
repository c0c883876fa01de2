//! Header size and deadlines, tried from outside on raw sockets: what a client
//! that sends too much, too slowly or nothing at all gets.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{DEADLINE, spawn_server_with, subscriber};
use pollpush_server::config::HttpConfig;
use pollpush_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Long enough never to fire during a test.
const NEVER: Duration = Duration::from_hours(1);

fn limits(header_timeout: Duration, idle_timeout: Duration) -> Config {
    Config {
        http: HttpConfig {
            header_timeout,
            idle_timeout,
            ..HttpConfig::default()
        },
        ..Config::default()
    }
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

#[tokio::test]
async fn live_websocket_streams_outlive_the_idle_timeout() {
    let server = spawn_server_with(limits(NEVER, Duration::from_millis(200))).await;
    let (mut ws, revision) = subscriber(&server).await;
    let mut probe = idle_probe(&server).await;
    assert_eq!(read_to_close(&mut probe).await, "", "the idle probe closed");
    common::create(&server, "Basilic").await;
    let pollpush_shared::ServerMessage::Change(change) = common::recv(&mut ws).await else {
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
