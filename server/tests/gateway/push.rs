//! Push clients of a feed, reading its messages as JSON: a `/ws` client and
//! a socket.io client that speaks Engine.IO 4 over a WebSocket by hand (the
//! feed's events are all a test needs, and no JavaScript runtime is).

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::recv_text as next_text;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `ws://ADDR{path}`. With `window`, the client's receive buffer is
/// that small, so while it does not read, the server's writes are held back
/// at once rather than after megabytes of kernel buffers.
async fn dial(addr: std::net::SocketAddr, path: &str, window: Option<u32>) -> Socket {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .unwrap();
    if let Some(bytes) = window {
        socket.set_recv_buffer_size(bytes).unwrap();
    }
    let stream = socket.connect(addr).await.unwrap();
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    ws
}

/// A `/ws` client past its `hello`.
pub struct WsClient(Socket);

impl WsClient {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        Self::connect_with(addr, None).await
    }

    /// [`Self::connect`], with a receive buffer of `window` bytes (see [`dial`]).
    pub async fn connect_with(addr: std::net::SocketAddr, window: Option<u32>) -> Self {
        let mut client = Self(dial(addr, "/ws", window).await);
        assert_eq!(client.next().await["type"], "hello");
        client
    }

    pub async fn send(&mut self, msg: Value) {
        self.0.send(Message::text(msg.to_string())).await.unwrap();
    }

    /// Subscribes to `room` (from `since`); returns the `subscribed` revision.
    pub async fn subscribe(&mut self, room: &str, since: Option<u64>) -> u64 {
        let mut msg = json!({"type": "subscribe", "room": room});
        if let Some(since) = since {
            msg["since"] = since.into();
        }
        self.send(msg).await;
        let subscribed = self.next().await;
        assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
        assert_eq!(subscribed["room"], room);
        subscribed["revision"].as_u64().unwrap()
    }

    pub async fn next(&mut self) -> Value {
        serde_json::from_str(&next_text(&mut self.0).await).unwrap()
    }

    /// The next `n` messages, each asserted to be a change.
    pub async fn changes(&mut self, n: usize) -> Vec<Value> {
        let mut seen = Vec::with_capacity(n);
        while seen.len() < n {
            let msg = self.next().await;
            assert_eq!(msg["type"], "change", "{msg}");
            seen.push(msg);
        }
        seen
    }
}

/// A socket.io client (Engine.IO 4, WebSocket transport) on the default
/// namespace.
pub struct SioClient {
    ws: Socket,
    acks: u64,
}

impl SioClient {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        Self::connect_with(addr, None).await
    }

    /// [`Self::connect`], with a receive buffer of `window` bytes (see [`dial`]).
    pub async fn connect_with(addr: std::net::SocketAddr, window: Option<u32>) -> Self {
        let ws = dial(addr, "/socket.io/?EIO=4&transport=websocket", window).await;
        let mut client = Self { ws, acks: 0 };
        assert!(client.packet().await.starts_with('0'), "Engine.IO open");
        client.ws.send(Message::text("40")).await.unwrap();
        assert!(client.packet().await.starts_with("40"), "namespace connect");
        client
    }

    /// The next Engine.IO packet that is not a ping (answered here).
    async fn packet(&mut self) -> String {
        loop {
            let text = next_text(&mut self.ws).await;
            if text == "2" {
                self.ws.send(Message::text("3")).await.unwrap();
                continue;
            }
            return text;
        }
    }

    /// `subscribe` with `arg`; returns the acknowledgement's data.
    pub async fn subscribe(&mut self, arg: Value) -> Value {
        let id = self.acks;
        self.acks += 1;
        let packet = format!("42{id}{}", json!(["subscribe", arg]));
        self.ws.send(Message::text(packet)).await.unwrap();
        let ack = self.packet().await;
        let body = ack
            .strip_prefix(&format!("43{id}"))
            .unwrap_or_else(|| panic!("expected ack {id}, got {ack}"));
        let mut args: Vec<Value> = serde_json::from_str(body).unwrap();
        args.remove(0)
    }

    /// The next event: its name and its data.
    pub async fn next(&mut self) -> (String, Value) {
        let packet = self.packet().await;
        let body = packet
            .strip_prefix("42")
            .unwrap_or_else(|| panic!("expected an event, got {packet}"));
        let args: Vec<Value> = serde_json::from_str(body).unwrap();
        (args[0].as_str().unwrap().to_owned(), args[1].clone())
    }
}
