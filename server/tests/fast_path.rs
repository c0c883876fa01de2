//! The direct-write fast path: the feed's fan-out writes changes straight to
//! subscribers' sockets, so these pin that its frames never interleave with the
//! session's own, that a write the socket could not take is finished by the
//! session, and that the byte and message counters stay exact.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use common::{
    DEADLINE, eventually, http, recv, send, spawn_server_with, subscribe_species, subscriber, url,
    ws_client,
};
use futures_util::{SinkExt, StreamExt};
use pollpush_server::{Config, Server, WsConfig};
use pollpush_shared::counting::{ByteCounter, CountingStream};
use pollpush_shared::{ClientMessage, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Bytes a test client read and wrote on its socket.
#[derive(Debug, Default)]
struct Counts {
    read: AtomicU64,
    wrote: AtomicU64,
}

impl ByteCounter for Counts {
    fn read(&self, n: u64) {
        self.read.fetch_add(n, Relaxed);
    }
    fn wrote(&self, n: u64) {
        self.wrote.fetch_add(n, Relaxed);
    }
}

/// `n` species created one after another through REST, each with a long name.
fn spawn_writes(server: &Server, n: u64) -> tokio::task::JoinHandle<()> {
    let url = url(server, "/species");
    tokio::spawn(async move {
        let client = http();
        for i in 0..n {
            let name = format!("{i:04}{}", "w".repeat(90));
            let r = client
                .post(&url)
                .json(&json!({ "name": name }))
                .send()
                .await;
            assert_eq!(r.unwrap().status(), 201);
        }
    })
}

#[tokio::test]
async fn fast_path_changes_never_interleave_with_acks_and_broadcasts() {
    let server = spawn_server_with(Config {
        ws: WsConfig {
            max_messages_per_sec: 100_000,
            // Room events are dropped for a member whose outbox is full: not the point here.
            outbox_capacity: 1024,
            ..WsConfig::default()
        },
        // Small kernel buffers, so some writes are partial and finish later.
        send_buffer_bytes: Some(4096),
        ..Config::default()
    })
    .await;
    let (mut reader, _) = subscriber(&server).await;
    let lab = |room: &str| ClientMessage::Subscribe {
        room: room.into(),
        since: None,
    };
    send(&mut reader, &lab("lab")).await;
    assert!(matches!(
        recv(&mut reader).await,
        ServerMessage::Subscribed { .. }
    ));
    let (mut other, _) = ws_client(&server).await;
    send(&mut other, &lab("lab")).await;
    assert!(matches!(
        recv(&mut other).await,
        ServerMessage::Subscribed { .. }
    ));

    let n = 300u64;
    let writes = spawn_writes(&server, n);
    let notes = tokio::spawn(async move {
        for i in 0..n {
            let note = ClientMessage::Broadcast {
                room: "lab".into(),
                event: "note".into(),
                data: json!({ "n": i, "pad": "b".repeat(200) }),
            };
            send(&mut other, &note).await;
        }
        other
    });
    let (mut tx, mut rx) = reader.split();
    let asks = tokio::spawn(async move {
        for ack in 1..=n {
            let info = ClientMessage::Emit {
                event: "info".into(),
                data: json!({}),
                ack: Some(ack),
            };
            let text = serde_json::to_string(&info).unwrap();
            tx.send(Message::text(text)).await.unwrap();
        }
        tx
    });

    // Every frame must parse, and each stream must arrive whole and in order.
    let (mut revision, mut acks, mut events) = (0, 0, 0);
    while revision < n || acks < n || events < n {
        let frame = tokio::time::timeout(DEADLINE, rx.next())
            .await
            .unwrap_or_else(|_| panic!("stalled at change {revision}, ack {acks}, event {events}"))
            .expect("connection open")
            .expect("a well-formed frame");
        let Message::Text(text) = frame else { continue };
        match serde_json::from_str::<ServerMessage>(&text).unwrap() {
            ServerMessage::Change(c) => {
                assert_eq!(c.revision, revision + 1, "changes in order, no gap");
                revision = c.revision;
            }
            ServerMessage::Ack { ack, .. } => {
                assert_eq!(ack, acks + 1, "acks in order");
                acks = ack;
            }
            ServerMessage::Event { data, .. } => {
                assert_eq!(data["n"], json!(events), "broadcasts in order");
                events += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    writes.await.unwrap();
    drop((asks.await.unwrap(), notes.await.unwrap()));
    assert_eq!(server.stats().ws.resyncs, 0);
}

#[tokio::test]
async fn blocked_writes_are_finished_by_the_session_and_counted_exactly() {
    let server = spawn_server_with(Config {
        send_buffer_bytes: Some(4096),
        ..Config::default()
    })
    .await;
    let counts = Arc::new(Counts::default());
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.local_addr()).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(
        format!("ws://{}/ws", server.local_addr()),
        CountingStream::new(tcp, counts.clone()),
    )
    .await
    .unwrap();
    assert!(matches!(recv(&mut ws).await, ServerMessage::Hello { .. }));
    let subscribe = subscribe_species(None);
    send(&mut ws, &subscribe).await;
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Subscribed { .. }
    ));
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Snapshot { .. }
    ));

    // ~50 KB of changes while the client reads nothing: far more than the
    // kernel buffers hold, far fewer changes than the lag bound.
    let n = 200u64;
    spawn_writes(&server, n).await.unwrap();
    for revision in 1..=n {
        match recv(&mut ws).await {
            ServerMessage::Change(c) => assert_eq!(c.revision, revision),
            other => panic!("expected change {revision}, got {other:?}"),
        }
    }
    let messages = 3 + n; // hello, subscribed, snapshot, the changes
    eventually(
        || {
            let ws_stats = server.stats().ws;
            ws_stats.bytes_out == counts.read.load(Relaxed) && ws_stats.messages_out == messages
        },
        "server counted exactly the bytes and messages the client read",
    )
    .await;
    let stats = server.stats().ws;
    assert_eq!(stats.bytes_in, counts.wrote.load(Relaxed));
    assert_eq!(
        stats.resyncs, 0,
        "a blocked write is finished, not resynced"
    );
}
