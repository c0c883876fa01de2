//! A subscriber that stops reading, with the default settings: the capped
//! kernel send buffer fills, the server's own bounded queue overflows, and the
//! subscriber is resynced, while fast subscribers beside it miss nothing.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Ws, http, recv, send, spawn_server, subscribe_species, subscriber, url};
use pollpush_server::Server;
use pollpush_shared::ServerMessage;
use serde_json::json;
use tokio::sync::watch;

/// 100 four-byte characters: the largest name, so fewer writes fill the buffers.
fn long_name() -> String {
    "\u{1d511}".repeat(100)
}

/// Reads every change in order until `last` is known and reached; a fast
/// subscriber must never be resynced nor miss a revision.
async fn keep_up(mut ws: Ws, mut expected: u64, mut last: watch::Receiver<u64>) {
    while expected <= *last.borrow_and_update() {
        tokio::select! {
            msg = recv(&mut ws) => match msg {
                ServerMessage::Change(c) => assert_eq!(c.revision, expected, "a fast subscriber"),
                other => panic!("a fast subscriber got {other:?}"),
            },
            // The last revision became known: look again before waiting.
            _ = last.changed() => continue,
        }
        expected += 1;
    }
}

/// Writes until the server reports a resync, then `extra` more; returns the last revision.
async fn write_until_resynced(server: &Server, extra: u64) -> u64 {
    let client = http();
    let (mut revision, mut after) = (0, None);
    while after.is_none_or(|n| n < extra) {
        assert!(revision < 50_000, "no resync after {revision} writes");
        let r = client
            .post(url(server, "/species"))
            .json(&json!({ "name": long_name() }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        revision = r.headers()["x-revision"].to_str().unwrap().parse().unwrap();
        if let Some(n) = after.as_mut() {
            *n += 1;
        } else if server.stats().ws.resyncs > 0 {
            after = Some(0);
        }
    }
    revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_resynced_and_fast_ones_beside_it_miss_nothing() {
    let server = spawn_server().await;
    let (mut stalled, _) = common::ws_client(&server).await;
    send(&mut stalled, &subscribe_species(None)).await;
    let (last_tx, last) = watch::channel(u64::MAX);
    let mut fast = Vec::new();
    for _ in 0..2 {
        let (ws, revision) = subscriber(&server).await;
        fast.push(tokio::spawn(keep_up(ws, revision + 1, last.clone())));
    }

    let last_revision = write_until_resynced(&server, 20).await;
    last_tx.send(last_revision).unwrap();
    for reader in fast {
        reader.await.unwrap();
    }
    assert_eq!(server.stats().ws.resyncs, 1, "only the stalled one");

    // It reads again: the backlog it fell behind on is gone, a resync and a
    // snapshot replace it, and every later change follows without a gap.
    assert!(common::read_through_resync(&mut stalled, last_revision).await);
    // And it is live again: a new write arrives as the next change.
    common::create(&server, "Basilic").await;
    let ServerMessage::Change(c) = recv(&mut stalled).await else {
        panic!("expected a live change")
    };
    assert_eq!(c.revision, last_revision + 1);
}

/// The next Engine.IO text packet, answering the server's pings on the way;
/// fails once `deadline` (the whole test's) has passed.
async fn eio_next(ws: &mut Ws, deadline: tokio::time::Instant) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the socket.io client did not get what it expected within 60 s")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        if text.as_str() == "2" {
            ws.send(Message::text("3")).await.unwrap();
            continue;
        }
        return text.as_str().to_owned();
    }
}

/// An event packet `42["name",body]` as (name, body).
fn eio_event(packet: &str) -> Option<(String, serde_json::Value)> {
    let body = packet.strip_prefix("42")?;
    let serde_json::Value::Array(mut parts) = serde_json::from_str(body).ok()? else {
        return None;
    };
    let data = parts.pop()?;
    Some((parts.pop()?.as_str()?.to_owned(), data))
}

/// A socket.io client on the WebSocket fast path that stops reading is resynced
/// like a `/ws` one: `resync`, a snapshot, then every later change, live again.
/// It also emits `subscribe` right after the connect packet, which once
/// raced socketioxide's registration of the event handlers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_socketio_subscriber_is_resynced_and_live_again() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    // A short queue and small kernel buffers: a few hundred writes overflow
    // them, well within Engine.IO's 25 s ping interval, which a client that
    // does not read cannot answer.
    let server = common::spawn_server_with(common::quick_to_lag()).await;
    let addr = server.local_addr();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_mins(1);
    let (mut io, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket.io/?EIO=4&transport=websocket"
    ))
    .await
    .unwrap();
    assert!(
        eio_next(&mut io, deadline).await.starts_with('0'),
        "Engine.IO open"
    );
    io.send(Message::text("40")).await.unwrap();
    assert!(
        eio_next(&mut io, deadline).await.starts_with("40"),
        "namespace connect"
    );
    io.send(Message::text(r#"421["subscribe","species"]"#))
        .await
        .unwrap();
    let ack = eio_next(&mut io, deadline).await;
    assert!(
        ack.starts_with("431["),
        "the subscribe ack comes first: {ack}"
    );
    let (event, _) = eio_event(&eio_next(&mut io, deadline).await).unwrap();
    assert_eq!(event, "snapshot");

    // It stops reading while more writes go by than its buffers and queue hold.
    let client = http();
    let mut last_revision = 0;
    for _ in 0..600 {
        let r = client
            .post(url(&server, "/species"))
            .json(&json!({ "name": long_name() }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        last_revision = r.headers()["x-revision"].to_str().unwrap().parse().unwrap();
    }

    // It reads again: what the kernel held, then `resync` and a snapshot, then the rest in order.
    let mut at = None;
    while at != Some(last_revision) {
        let (event, body) = eio_event(&eio_next(&mut io, deadline).await).unwrap();
        match event.as_str() {
            "change" if at.is_none() => {}
            "change" => {
                let revision = body["revision"].as_u64().unwrap();
                assert_eq!(Some(revision), at.map(|r| r + 1), "no gap after the resync");
                at = Some(revision);
            }
            "resync" => {
                let (snapshot, body) = eio_event(&eio_next(&mut io, deadline).await).unwrap();
                assert_eq!(snapshot, "snapshot", "a snapshot follows resync");
                at = Some(body["revision"].as_u64().unwrap());
            }
            other => panic!("unexpected event {other}"),
        }
    }
    common::create(&server, "Basilic").await;
    let (event, body) = eio_event(&eio_next(&mut io, deadline).await).unwrap();
    assert_eq!(event, "change");
    assert_eq!(body["revision"].as_u64(), Some(last_revision + 1));
}
