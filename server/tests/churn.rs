//! Reconnect churn (issue 19): subscribers that resubscribe with `since` over
//! and over, some reading more slowly than changes arrive, must cost the
//! server a bounded amount of memory, and what replays hold must return to
//! nothing once they are done. Checked with the server's own gauges
//! (`/stats` `memory`), not with timing.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use common::{recv, send, subscribe_species, url};
use futures_util::StreamExt;
use pollpush_server::{Config, Server, WsConfig};
use pollpush_shared::ServerMessage;
use tokio_tungstenite::tungstenite::Message;

/// Renames species 1 through REST until `stop`, as fast as the store takes
/// the writes: the list (so every snapshot) keeps its size.
fn keep_writing(server: &Server, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    keep_writing_up_to(server, stop, u64::MAX)
}

/// [`keep_writing`], `max` writes at most: a store's history keeps the
/// last 10,000 changes, and a replay must not outlive its `since`.
fn keep_writing_up_to(
    server: &Server,
    stop: Arc<AtomicBool>,
    max: u64,
) -> tokio::task::JoinHandle<u64> {
    let target = url(server, "/species/1");
    tokio::spawn(async move {
        let client = common::http();
        let mut n = 0;
        while !stop.load(Relaxed) && n < max {
            let r = client
                .put(&target)
                .json(&serde_json::json!({ "name": format!("churn-{:06}", n % 1_000_000) }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            n += 1;
        }
        n
    })
}

/// One slow subscriber's life until `stop`: connections, each subscribing
/// with the last revision it saw, reading a message every 20 ms for about a
/// second, then dropping the connection. Checks every revision it gets.
async fn slow_subscriber(server: Arc<Server>, stop: Arc<AtomicBool>, resyncs: Arc<AtomicU64>) {
    let addr = server.local_addr();
    let mut last: Option<u64> = None;
    while !stop.load(Relaxed) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
            .await
            .unwrap();
        assert!(matches!(recv(&mut ws).await, ServerMessage::Hello { .. }));
        send(&mut ws, &subscribe_species(last)).await;
        let until = tokio::time::Instant::now() + Duration::from_secs(1);
        while tokio::time::Instant::now() < until {
            let text = match tokio::time::timeout_at(until, ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(_))) | Err(_) => continue,
                Ok(Some(Err(e))) => panic!("the server dropped a slow subscriber: {e}"),
                Ok(None) => panic!("the server closed a slow subscriber"),
            };
            match serde_json::from_str(&text).unwrap() {
                ServerMessage::Snapshot { revision, .. } => last = Some(revision),
                ServerMessage::Resync { .. } => {
                    resyncs.fetch_add(1, Relaxed);
                }
                ServerMessage::Change(c) => {
                    if let Some(last) = last {
                        assert_eq!(c.revision, last + 1, "a gap or a duplicate");
                    }
                    last = Some(c.revision);
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Dropped without a close frame: the abrupt half of the churn.
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reconnecting_subscribers_are_resynced_and_memory_stays_bounded() {
    const CAPACITY: usize = 32;
    const SUBSCRIBERS: u64 = 50;
    let server = Arc::new(
        common::spawn_server_with(Config {
            ws: WsConfig {
                feed_capacity: CAPACITY,
                ..WsConfig::default()
            },
            send_buffer_bytes: Some(4096),
            ..Config::default()
        })
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing(&server, stop.clone());
    let resyncs = Arc::new(AtomicU64::new(0));
    let leave = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            tokio::spawn(slow_subscriber(
                server.clone(),
                leave.clone(),
                resyncs.clone(),
            ))
        })
        .collect();
    // A change frame here is under 300 bytes, a snapshot (two species) under
    // 512: what the server may hold for each subscriber is its backlog bound
    // (CAPACITY changes) and the rest of one message of its own, and for
    // each replay one chunk.
    let backlog_bound = SUBSCRIBERS * (CAPACITY as u64 + 2) * 512;
    let mut peak = 0;
    // Until the churn did what it is here for (however slow the machine):
    // subscribers fell behind, the server resynced them, and one of them
    // read its resync; the bounds hold at every sample on the way.
    let deadline = tokio::time::Instant::now() + Duration::from_mins(2);
    loop {
        let stats = server.stats();
        let m = &stats.memory;
        peak = peak.max(m.backlog_bytes);
        assert!(
            m.backlog_bytes <= backlog_bound,
            "backlog {} B over the bound {backlog_bound} B",
            m.backlog_bytes
        );
        assert!(
            m.replay_frames <= m.replays * pollpush_server::feed::CHUNK as u64,
            "replays hold more than a chunk each: {m:?}"
        );
        if peak > 0 && stats.ws.resyncs >= SUBSCRIBERS && resyncs.load(Relaxed) > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no resync seen after 120 s: peak backlog {peak} B, server resyncs {}, \
             clients' {}",
            stats.ws.resyncs,
            resyncs.load(Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    leave.store(true, Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    stop.store(true, Relaxed);
    writer.await.unwrap();
    common::eventually(
        || server.stats().memory.backlog_bytes == 0,
        "the backlog did not drain once every subscriber left",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_resubscribes_leave_no_replay_behind() {
    // A file store, restarted: the ring is empty, so replays come from the
    // store's history a chunk at a time (the path that held whole histories).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("churn.db").to_string_lossy().into_owned();
    let config = || Config {
        db: db.clone(),
        // A thousand subscribes in a few seconds: over the default rate limit.
        ws: WsConfig {
            max_messages_per_sec: 100_000,
            ..WsConfig::default()
        },
        ..Config::default()
    };
    let first = common::spawn_server_with(config()).await;
    for i in 0..300 {
        common::create(&first, &format!("before-{i}")).await;
    }
    first.shutdown().await;
    let server = Arc::new(common::spawn_server_with(config()).await);
    assert_eq!(server.stats().memory.ring_changes, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = keep_writing_up_to(&server, stop.clone(), 2_000);
    let (mut ws, _) = common::ws_client(&server).await;
    let mut latest = 300;
    for i in 0..1000u64 {
        // One in ten from before the restart (the store, then the ring once
        // it catches up), the rest up to 100 changes back (the ring).
        let since = if i % 10 == 0 {
            1 + (i * 7) % 300
        } else {
            latest - (i * 13) % 100
        };
        send(&mut ws, &subscribe_species(Some(since))).await;
        let until = loop {
            if let ServerMessage::Subscribed { revision, .. } = recv(&mut ws).await {
                break revision;
            }
        };
        let mut expected = since + 1;
        while expected <= until {
            match recv(&mut ws).await {
                ServerMessage::Change(c) => {
                    assert_eq!(c.revision, expected, "replay {i} skipped a change");
                    expected += 1;
                }
                other => panic!("replay {i}: {other:?}"),
            }
        }
        latest = until;
    }
    stop.store(true, Relaxed);
    writer.await.unwrap();
    let started = server.stats().memory.replays_started;
    assert!(started >= 1000, "only {started} replays counted");
    common::eventually(
        || {
            let m = server.stats().memory;
            m.replays == 0 && m.replay_frames == 0 && m.replay_bytes == 0
        },
        "replays still hold frames after every one finished",
    )
    .await;
}
