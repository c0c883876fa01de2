//! A feed (`--feed NAME=URL`) on the push lanes: `/ws` and socket.io
//! subscribers of room `NAME` get the feed's snapshot, then each change of
//! the upstream in order, with the same objects as its SSE events; `since`
//! resumes, and a `since` the history does not cover gets `resync` and the
//! snapshot.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "gateway/push.rs"]
#[allow(dead_code)]
mod push;
#[path = "gateway/upstream.rs"]
#[allow(dead_code)]
mod upstream;

use std::time::Duration;

use common::{eventually, spawn_server_with};
use pollpush_server::gateway::{GatewayConfig, spec};
use pollpush_server::{Config, Server};
use push::{SioClient, WsClient};
use serde_json::{Value, json};
use upstream::{Answer, Upstream};

/// A server with one feed, `t`, polling `upstream` every 50 ms.
async fn gateway(upstream: &Upstream) -> Server {
    let ws = Config::default().ws;
    gateway_keeping(upstream, ws.feed_capacity, ws.outbox_capacity).await
}

/// [`gateway`], keeping `history` changes per feed and queueing `outbox`
/// messages per `/ws` client.
async fn gateway_keeping(upstream: &Upstream, history: usize, outbox: usize) -> Server {
    let mut config = Config::default();
    config.ws.feed_capacity = history;
    config.ws.outbox_capacity = outbox;
    spawn_server_with(Config {
        feeds: vec![spec::parse_feed(&format!("t={}", upstream.url)).unwrap()],
        gateway: GatewayConfig {
            every: Duration::from_millis(50),
            timeout: Duration::from_millis(300),
            ..GatewayConfig::default()
        },
        ..config
    })
    .await
}

async fn until_revision(server: &Server, revision: u64) {
    let at = || server.stats().feeds[0].revision == revision;
    eventually(at, &format!("feed t at {revision}")).await;
}

fn change(revision: u64, op: &str, id: Value, item: Option<Value>) -> Value {
    let mut c = json!({"type": "change", "room": "t", "revision": revision, "op": op, "id": id});
    if let Some(item) = item {
        c["item"] = item;
    }
    c
}

/// The changes that turn the first two items into the second set.
fn changes_3_to_5() -> Vec<Value> {
    vec![
        change(3, "created", json!(3), Some(json!({"id": 3, "n": "c"}))),
        change(4, "updated", json!(1), Some(json!({"id": 1, "n": "A"}))),
        change(5, "deleted", json!(2), None),
    ]
}

#[tokio::test]
async fn ws_and_socketio_subscribers_get_a_feeds_changes_in_order_and_since_resumes() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]));
    let server = gateway(&upstream).await;
    until_revision(&server, 2).await;
    let addr = server.local_addr();
    let snapshot = json!({"type": "snapshot", "room": "t", "revision": 2,
                          "items": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]});

    let mut ws = WsClient::connect(addr).await;
    assert_eq!(ws.subscribe("t", None).await, 2);
    assert_eq!(ws.next().await, snapshot);
    let mut sio = SioClient::connect(addr).await;
    assert_eq!(
        sio.subscribe(json!("t")).await,
        json!({"room": "t", "revision": 2})
    );
    assert_eq!(sio.next().await, ("snapshot".to_owned(), snapshot));

    upstream.set_json(json!([{"id": 3, "n": "c"}, {"id": 1, "n": "A"}]));
    for expected in changes_3_to_5() {
        assert_eq!(ws.next().await, expected);
        assert_eq!(sio.next().await, ("change".to_owned(), expected));
    }

    // `since` resumes on both lanes without a snapshot.
    let mut ws = WsClient::connect(addr).await;
    assert_eq!(ws.subscribe("t", Some(3)).await, 5);
    let mut sio = SioClient::connect(addr).await;
    assert_eq!(
        sio.subscribe(json!({"room": "t", "since": 3})).await,
        json!({"room": "t", "revision": 5})
    );
    for expected in &changes_3_to_5()[1..] {
        assert_eq!(&ws.next().await, expected);
        assert_eq!(&sio.next().await.1, expected);
    }
    // A since this gateway never reached: resync, then the items.
    let mut stranger = WsClient::connect(addr).await;
    assert_eq!(stranger.subscribe("t", Some(99)).await, 5);
    assert_eq!(
        stranger.next().await,
        json!({"type": "resync", "revision": 5})
    );
    assert_eq!(stranger.next().await["revision"], 5);

    // Live changes keep coming after a resumed start.
    upstream.set_json(json!([{"id": 3, "n": "c"}]));
    let deleted = change(6, "deleted", json!(1), None);
    assert_eq!(ws.next().await, deleted);
    assert_eq!(sio.next().await, ("change".to_owned(), deleted.clone()));
    assert_eq!(stranger.next().await, deleted);
    let stats = &server.stats().feeds[0];
    assert_eq!((stats.ws_subscribers, stats.socketio_subscribers), (3, 2));
}

#[tokio::test]
async fn clients_may_not_broadcast_to_a_feed_and_unsubscribing_stops_its_changes() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1}]));
    let server = gateway(&upstream).await;
    until_revision(&server, 1).await;
    let mut ws = WsClient::connect(server.local_addr()).await;
    ws.send(json!({"type": "broadcast", "room": "t", "event": "x", "data": 1}))
        .await;
    let refused = ws.next().await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );

    ws.subscribe("t", None).await;
    assert_eq!(ws.next().await["type"], "snapshot");
    ws.send(json!({"type": "unsubscribe", "room": "t"})).await;
    assert_eq!(
        ws.next().await,
        json!({"type": "unsubscribed", "room": "t"})
    );
    common::eventually(
        || server.stats().feeds[0].ws_subscribers == 0,
        "the subscription ended",
    )
    .await;
    upstream.set_json(json!([{"id": 1}, {"id": 2}]));
    until_revision(&server, 2).await;
    // The next message is the answer to this, not the feed's change.
    ws.subscribe("lab", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_subscriber_that_falls_a_history_behind_gets_resync_then_every_item() {
    let upstream = Upstream::start(Answer::Json {
        body: "[]".to_owned(),
        etag: None,
    })
    .await;
    // 16 changes of history, 4 messages queued per /ws client.
    let server = gateway_keeping(&upstream, 16, 4).await;
    let window = Some(4096);
    let mut ws = WsClient::connect_with(server.local_addr(), window).await;
    assert_eq!(ws.subscribe("t", None).await, 0);
    assert_eq!(ws.next().await["type"], "snapshot");
    let mut io = SioClient::connect_with(server.local_addr(), window).await;
    assert_eq!(io.subscribe(json!("t")).await["revision"], 0);
    assert_eq!(io.next().await.0, "snapshot");
    // While neither reads, 300 changes of 1 KB each: far more than their
    // sockets, queues and the history hold, so both fall behind.
    let pad = "x".repeat(1024);
    let many: Vec<Value> = (0..300).map(|id| json!({"id": id, "pad": pad})).collect();
    upstream.set_json(Value::Array(many.clone()));
    until_revision(&server, 300).await;
    let mut kinds = Vec::new();
    let snapshot = loop {
        let message = ws.next().await;
        kinds.push(message["type"].as_str().unwrap().to_owned());
        if message["type"] == "snapshot" {
            break message;
        }
    };
    let before = |kinds: &[String]| kinds.iter().rev().nth(1).cloned();
    assert_eq!(before(&kinds).as_deref(), Some("resync"), "{kinds:?}");
    assert_eq!(snapshot["revision"], 300);
    assert_eq!(snapshot["items"], Value::Array(many.clone()));
    let mut events = Vec::new();
    let snapshot = loop {
        let (event, data) = io.next().await;
        events.push(event.clone());
        if event == "snapshot" {
            break data;
        }
    };
    assert_eq!(before(&events).as_deref(), Some("resync"), "{events:?}");
    assert_eq!(snapshot["revision"], 300);
    assert_eq!(snapshot["items"], Value::Array(many));
}
