//! HTTP/2 abuse (issue 20): a rapid-reset flood (CVE-2023-44487), streams
//! opened and cancelled as fast as a raw client can, ends its connection with
//! GOAWAY, while another client's polls keep being answered; streams opened
//! and never read hold a bounded queue each while others get every change.
//! (The floods of raw frames are in `h2_floods.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use common::h2::raw::{
    CANCEL, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM, GET_ROOT, HEADERS, RST_STREAM, frame,
    goaway, opening,
};
use common::h2::{WINDOW, connection, read_until, sse, websocket};
use common::{read_through_resync, recv, send, subscribe_species};
use pollpush_server::{Config, WsConfig};
use pollpush_shared::ServerMessage;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Streams the flood may open before the server must have ended it: far
/// more than the server's bounds on resets (20 pending, 1,024 local).
const FLOOD: u32 = 20_000;

/// Opens streams and resets them (`CANCEL`) at once, in batches, until the
/// server stops taking them or `FLOOD` were sent. Raw frames rather than the
/// h2 crate: its client stops at the first failed write (the server closed)
/// without reading the GOAWAY that came before.
async fn rapid_reset(tcp: &mut TcpStream) {
    tcp.write_all(&opening()).await.unwrap();
    let mut stream = 1;
    while stream < 2 * FLOOD {
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.extend(frame(HEADERS, END_STREAM | END_HEADERS, stream, &GET_ROOT));
            batch.extend(frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes()));
            stream += 2;
        }
        if tcp.write_all(&batch).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_gets_goaway_and_other_clients_are_answered() {
    let server = common::spawn_server().await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    rapid_reset(&mut tcp).await;
    assert_eq!(goaway(&mut tcp).await, Some(ENHANCE_YOUR_CALM));
    // Another client is served as ever.
    let r = common::get(&server, "/species/").await;
    assert_eq!(r.status(), 200);
    server.shutdown().await;
}

/// Changes a subscriber may fall behind before it lags, in the stalled test.
const CAPACITY: usize = 64;
/// Writes in the stalled test: several capacities.
const WRITES: u64 = 300;

/// The `id:` lines of an SSE text, in order.
fn sse_ids(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_never_read_hold_one_queue_each_and_others_get_every_change() {
    let server = common::spawn_server_with(Config {
        ws: WsConfig {
            feed_capacity: CAPACITY,
            ..WsConfig::default()
        },
        ..Config::default()
    })
    .await;
    // socket.io's forwarder is one, subscribed soon after the start.
    common::eventually(
        || server.stats().memory.queues == 1,
        "socket.io's forwarder subscribed",
    )
    .await;
    // The stalled client: an SSE stream and a subscribed /ws on one h2c
    // connection whose 8 KiB stream windows it never opens again (it never reads).
    let mut stalled = connection(&server, 8 * 1024).await;
    let mut stalled_sse = sse(&server, &mut stalled).await;
    let mut stalled_ws = websocket(&server, &mut stalled, "/ws").await;
    send(&mut stalled_ws, &subscribe_species(None)).await;
    // Readers on connections of their own: SSE over h2, and /ws over HTTP/1.1.
    let mut reader = connection(&server, WINDOW).await;
    let mut reader_sse = sse(&server, &mut reader).await;
    let (mut reader_ws, _) = common::subscriber(&server).await;
    common::eventually(
        || server.stats().memory.queues == 4,
        "three more queued subscriptions",
    )
    .await;
    let sse_reader = tokio::spawn(async move {
        let mut seen = String::new();
        read_until(&mut reader_sse, &mut seen, &format!("id: {WRITES}\n")).await;
        seen
    });
    let ws_reader = tokio::spawn(async move {
        for expected in 1..=WRITES {
            match recv(&mut reader_ws).await {
                ServerMessage::Change(c) => assert_eq!(c.revision, expected),
                other => panic!("expected change {expected}, got {other:?}"),
            }
        }
    });
    let client = common::http();
    for _ in 0..WRITES {
        let r = client
            .post(common::url(&server, "/species"))
            .json(&json!({ "name": "\u{1d511}".repeat(100) }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // The readers got every change, in order, with no resync.
    ws_reader.await.unwrap();
    let seen = sse_reader.await.unwrap();
    assert!(
        !seen.contains("event: resync"),
        "the SSE reader was resynced"
    );
    assert_eq!(sse_ids(&seen), (0..=WRITES).collect::<Vec<_>>());
    // The stalled streams fell behind: each holds at most its capacity and takes no more.
    let memory = server.stats().memory;
    assert_eq!(memory.queues_lagged, 2, "{memory:?}");
    assert!(
        memory.queued_changes <= 2 * CAPACITY as u64,
        "the stalled queues hold {} changes: {memory:?}",
        memory.queued_changes
    );
    // Read again, they are resynced to the last revision and the queues drop.
    assert!(
        read_through_resync(&mut stalled_ws, WRITES).await,
        "no resync"
    );
    let mut seen = String::new();
    read_until(&mut stalled_sse, &mut seen, "event: resync").await;
    read_until(&mut stalled_sse, &mut seen, &format!("id: {WRITES}\n")).await;
    common::eventually(
        || {
            let m = server.stats().memory;
            m.queues_lagged == 0 && m.queued_changes == 0
        },
        "the stalled queues emptied",
    )
    .await;
    // The SSE stream is stalled again (its snapshot is bigger than the window
    // and unread): a body hyper never polls cannot see the shutdown, so the
    // graceful shutdown would wait its 10 s for it.
    drop(stalled_sse);
    server.shutdown().await;
}
