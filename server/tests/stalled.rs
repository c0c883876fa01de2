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
