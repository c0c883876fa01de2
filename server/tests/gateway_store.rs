//! A feed's history in the store (SQLite here; PostgreSQL in
//! `gateway_cluster.rs`): the gateway writes each change before any client
//! sees it, so after `kill -9` and a restart on the same database the feed
//! carries on from its stored revision, and a client resumes with `since`
//! across the restart without a resync; and a poller whose memory is behind
//! the store (another poller wrote) starts again from the store.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "gateway/push.rs"]
#[allow(dead_code)]
mod push;
#[path = "gateway/upstream.rs"]
#[allow(dead_code)]
mod upstream;

use std::time::{Duration, Instant};

use common::{DEADLINE, Running, get_json, start_binary};
use pollpush_server::store::{Appended, FeedWrite, Store};
use push::WsClient;
use serde_json::{Value, json};
use upstream::{Answer, Upstream};

/// A gateway on `db` polling `upstream` as feed `t`.
fn gateway(db: &str, upstream: &Upstream) -> (Running, String) {
    start_binary(&[
        "--db",
        db,
        "--feed",
        &format!("t={}", upstream.url),
        "--feed-every",
        "100ms",
    ])
}

/// Waits until the feed is at `revision`.
async fn until_revision(addr: &str, revision: u64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let stats: Value = get_json(&format!("http://{addr}/stats")).await;
        if stats["feeds"][0]["revision"] == revision {
            return;
        }
        assert!(Instant::now() < deadline, "revision {revision}: {stats}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next `n` messages, all changes: their revisions and ops.
async fn changes(ws: &mut WsClient, n: usize) -> Vec<(u64, String)> {
    let op = |c: &Value| {
        (
            c["revision"].as_u64().unwrap(),
            c["op"].as_str().unwrap().to_owned(),
        )
    };
    ws.changes(n).await.iter().map(op).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_the_feed_carries_on_from_its_stored_revision_and_since_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db").to_string_lossy().into_owned();
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1}]));
    let (mut first, addr) = gateway(&db, &upstream);
    until_revision(&addr, 1).await;
    upstream.set_json(json!([{"id": 1}, {"id": 2}]));
    until_revision(&addr, 2).await;
    upstream.set_json(json!([{"id": 1}, {"id": 2}, {"id": 3}]));
    until_revision(&addr, 3).await;
    first.kill().unwrap();
    first.wait().unwrap();

    // Down, the upstream moves on; the restarted gateway makes only that move.
    upstream.set_json(json!([{"id": 2}, {"id": 3}, {"id": 4}]));
    let (_second, addr) = gateway(&db, &upstream);
    until_revision(&addr, 5).await;
    let socket = addr.parse().unwrap();
    let mut resumed = WsClient::connect(socket).await;
    assert_eq!(resumed.subscribe("t", Some(1)).await, 5);
    let created = |r: u64| (r, "created".to_owned());
    assert_eq!(
        changes(&mut resumed, 4).await,
        [
            created(2),
            created(3),
            created(4),
            (5, "deleted".to_owned())
        ]
    );
    let items: Value = get_json(&format!("http://{addr}/feeds/t")).await;
    assert_eq!(items, json!([{"id": 2}, {"id": 3}, {"id": 4}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poller_behind_the_store_starts_again_from_it_instead_of_forking_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db").to_string_lossy().into_owned();
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1}]));
    let (_gateway, addr) = gateway(&db, &upstream);
    until_revision(&addr, 1).await;
    // Another poller of the same feed stored a change the gateway never made.
    let store = Store::open(&db).await.unwrap();
    let other = json!({"id": 2, "by": "other"});
    let message = json!({"type": "change", "room": "t", "revision": 2, "op": "created", "id": 2, "item": other});
    let written = store
        .feed_append(FeedWrite {
            feed: "t".to_owned(),
            before: 1,
            changes: vec![(2, message.to_string())],
            after: 2,
            body: json!([{"id": 1}, other]).to_string(),
        })
        .await
        .unwrap();
    assert_eq!(written, Appended::Written);
    // The store refuses the gateway's next changes (made from 1): it jumps to
    // the stored items at 2, and makes its changes from there.
    upstream.set_json(json!([{"id": 1}, {"id": 2}, {"id": 3}]));
    until_revision(&addr, 4).await;
    let mut resumed = WsClient::connect(addr.parse().unwrap()).await;
    assert_eq!(resumed.subscribe("t", Some(1)).await, 4);
    let made = changes(&mut resumed, 3).await;
    let ops: Vec<_> = made.iter().map(|(r, op)| (*r, op.as_str())).collect();
    assert_eq!(ops, [(2, "created"), (3, "updated"), (4, "created")]);
    assert_eq!(store.feed_state("t").await.unwrap().unwrap().revision, 4);
}
