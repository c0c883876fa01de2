//! Helpers shared by the integration tests: a server on port 0 and clients for it.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

pub mod chromium;
pub mod devtools;
pub mod h2;
pub mod logs;
pub mod node;
pub mod sse;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pollpush_server::{Config, Server};
use pollpush_shared::{ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub async fn spawn_server() -> Server {
    spawn_server_with(Config::default()).await
}

pub async fn spawn_server_with(config: Config) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::start(listener, config).await.unwrap()
}

pub fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.local_addr())
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client that has read the `hello`.
pub async fn ws_client(server: &Server) -> (Ws, ServerMessage) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.local_addr()))
        .await
        .unwrap();
    let hello = recv(&mut ws).await;
    (ws, hello)
}

/// A client subscribed to `species`, past its `subscribed` and `snapshot`.
pub async fn subscriber(server: &Server) -> (Ws, u64) {
    let (mut ws, _) = ws_client(server).await;
    send(
        &mut ws,
        &ClientMessage::Subscribe {
            room: "species".into(),
            since: None,
        },
    )
    .await;
    let ServerMessage::Subscribed { revision, .. } = recv(&mut ws).await else {
        panic!("expected subscribed")
    };
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Snapshot { .. }
    ));
    (ws, revision)
}

pub async fn send<S>(ws: &mut WebSocketStream<S>, msg: &ClientMessage)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::text(serde_json::to_string(msg).unwrap()))
        .await
        .unwrap();
}

pub async fn send_raw(ws: &mut Ws, msg: Message) {
    ws.send(msg).await.unwrap();
}

/// The next text frame, parsed; fails the test after [`DEADLINE`].
pub async fn recv<S>(ws: &mut WebSocketStream<S>) -> ServerMessage
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    serde_json::from_str(&recv_text(ws).await).unwrap()
}

/// The next text frame, pings and pongs skipped; fails the test after [`DEADLINE`].
pub async fn recv_text<S>(ws: &mut WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let frame = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("no message before the deadline")
            .expect("connection ended")
            .expect("websocket error");
        match frame {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Reads frames until the server closes; returns its close code.
pub async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        let frame = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("no close before the deadline");
        match frame {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

pub fn http() -> reqwest::Client {
    pollpush_server::tls::install_crypto();
    reqwest::Client::new()
}

/// `GET url`, read as JSON.
pub async fn get_json(url: &str) -> serde_json::Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

/// Creates a species through REST and returns its id.
pub async fn create(server: &Server, name: &str) -> u64 {
    post_species(server, name)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["id"]
        .as_u64()
        .unwrap()
}

/// Creates a species through REST and returns the revision it made.
pub async fn create_revision(server: &Server, name: &str) -> u64 {
    let r = post_species(server, name).await;
    r.headers()["x-revision"].to_str().unwrap().parse().unwrap()
}

/// `POST /species` with `name`; fails the test unless it is created.
async fn post_species(server: &Server, name: &str) -> reqwest::Response {
    let r = http()
        .post(url(server, "/species"))
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r
}

/// A short feed queue and a small kernel send buffer: a subscriber that
/// stops reading overflows both within a few hundred writes.
pub fn quick_to_lag() -> Config {
    Config {
        ws: pollpush_server::WsConfig {
            feed_capacity: 16,
            ..pollpush_server::WsConfig::default()
        },
        send_buffer_bytes: Some(4096),
        ..Config::default()
    }
}

/// `GET path` on the server; fails the test if the request cannot be made.
pub async fn get(server: &Server, path: &str) -> reqwest::Response {
    http().get(url(server, path)).send().await.unwrap()
}

/// The body of `GET url`, as text; fails the test if there is none.
pub async fn get_text(url: &str) -> String {
    http().get(url).send().await.unwrap().text().await.unwrap()
}

/// Waits until `done` holds, failing the test with `what` after [`DEADLINE`].
pub async fn eventually(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `{"type":"subscribe","room":"species"}`, optionally resuming after `since`.
pub fn subscribe_species(since: Option<u64>) -> ClientMessage {
    ClientMessage::Subscribe {
        room: "species".into(),
        since,
    }
}

/// A named event with no data, acknowledged when `ack` is given.
pub fn emit(event: &str, ack: Option<u64>) -> ClientMessage {
    ClientMessage::Emit {
        event: event.into(),
        data: serde_json::Value::Null,
        ack,
    }
}

/// The store revision the server reports on `GET /species`.
pub async fn revision(server: &Server) -> u64 {
    get(server, "/species").await.headers()["x-revision"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The upgrade request a bare-socket client sends to `/ws`.
pub const RAW_UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A bare TCP socket that has sent [`RAW_UPGRADE`], for tests that read the wire byte by byte.
pub async fn raw_upgrade(server: &Server) -> TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(RAW_UPGRADE.as_bytes()).await.unwrap();
    tcp
}

/// Joins `room` and reads its `subscribed`.
pub async fn join_room(ws: &mut Ws, room: &str) {
    send(
        ws,
        &ClientMessage::Subscribe {
            room: room.into(),
            since: None,
        },
    )
    .await;
    assert!(matches!(recv(ws).await, ServerMessage::Subscribed { .. }));
}

/// Opens an Engine.IO 4 long-polling session; returns its polling URL.
pub async fn socketio_session(server: &Server) -> String {
    let open = get(server, "/socket.io/?EIO=4&transport=polling").await;
    let body = open.text().await.unwrap();
    let handshake: serde_json::Value = serde_json::from_str(body.trim_start_matches('0')).unwrap();
    let sid = handshake["sid"].as_str().unwrap();
    url(
        server,
        &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
    )
}

/// Posts one Engine.IO payload on a polling session; returns the status.
pub async fn socketio_post(poll: &str, payload: String) -> u16 {
    http()
        .post(poll)
        .header("content-type", "text/plain")
        .body(payload)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Reads a stalled subscriber's backlog until it reaches `last`: changes in
/// order up to a `resync`, its snapshot at the same revision, then changes in
/// order again. Returns whether a resync came.
pub async fn read_through_resync<S>(ws: &mut WebSocketStream<S>, last: u64) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut at, mut resynced) = (None, false);
    while at != Some(last) {
        match recv(ws).await {
            ServerMessage::Resync { revision } => {
                resynced = true;
                let ServerMessage::Snapshot { revision: r, .. } = recv(ws).await else {
                    panic!("a snapshot follows resync")
                };
                assert_eq!(r, revision);
                at = Some(revision);
            }
            ServerMessage::Change(c) => {
                if let Some(prev) = at {
                    assert_eq!(c.revision, prev + 1, "no gap outside a resync");
                }
                at = Some(c.revision);
            }
            ServerMessage::Subscribed { .. } | ServerMessage::Snapshot { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    resynced
}

/// The real `pollpush-server` binary on port 0 with `args` after `--addr`;
/// returns the child and the address it printed.
pub fn start_binary(args: &[&str]) -> (Running, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollpush-server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("expected the listening line, got {line:?}"))
        .to_owned();
    (Running(child), addr)
}

/// A server binary a test started: killed when dropped, so a test that
/// fails halfway leaves no server behind (a `std::process::Child` does not).
pub struct Running(pub std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server with these header and idle deadlines (`HttpConfig`), the rest default.
pub fn with_deadlines(header_timeout: Duration, idle_timeout: Duration) -> Config {
    Config {
        http: pollpush_server::config::HttpConfig {
            header_timeout,
            idle_timeout,
            ..pollpush_server::config::HttpConfig::default()
        },
        ..Config::default()
    }
}
