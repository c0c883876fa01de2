//! The gateway (`--feed NAME=URL`) against an upstream made in the test:
//! the upstream's items, changed under the gateway, arrive as ordered changes
//! on `/feeds/NAME/events` and `GET /feeds/NAME`; `304`s cost nothing;
//! faults leave clients with the last good items; oversized bodies are refused.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "gateway/upstream.rs"]
#[allow(dead_code)]
mod upstream;

use std::time::Duration;

use common::sse::{Event, Events};
use common::{DEADLINE, get, http, spawn_server_with, url};
use pollpush_server::gateway::{GatewayConfig, spec};
use pollpush_server::{Config, Server};
use pollpush_shared::FeedStats;
use serde_json::{Value, json};
use upstream::{Answer, Upstream};

/// A server with one feed, `t`, polling `upstream` every 50 ms.
async fn gateway(upstream: &Upstream, tune: impl FnOnce(&mut GatewayConfig)) -> Server {
    gateway_with(upstream, |config| tune(&mut config.gateway)).await
}

/// [`gateway`], with the rest of the server's configuration tuned too.
async fn gateway_with(upstream: &Upstream, tune: impl FnOnce(&mut Config)) -> Server {
    let mut config = Config {
        feeds: vec![spec::parse_feed(&format!("t={}", upstream.url)).unwrap()],
        gateway: GatewayConfig {
            every: Duration::from_millis(50),
            timeout: Duration::from_millis(300),
            ..GatewayConfig::default()
        },
        ..Config::default()
    };
    tune(&mut config);
    spawn_server_with(config).await
}

fn feed_stats(server: &Server) -> FeedStats {
    server.stats().feeds.into_iter().next().unwrap()
}

/// Waits until the feed's stats satisfy `done`.
async fn until_stats(server: &Server, what: &str, done: impl Fn(&FeedStats) -> bool) -> FeedStats {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let stats = feed_stats(server);
        if done(&stats) {
            return stats;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `GET /feeds/t`: the items and the revision they are at.
async fn items(server: &Server) -> (Value, u64) {
    let r = get(server, "/feeds/t").await;
    assert_eq!(r.status(), 200);
    let revision = r.headers()["x-revision"].to_str().unwrap().parse().unwrap();
    (r.json().await.unwrap(), revision)
}

/// An event's id and its data as JSON.
fn parsed(event: &Event) -> (Option<u64>, Value) {
    let id = event.id.as_ref().map(|id| id.parse().unwrap());
    (id, serde_json::from_str(&event.data).unwrap())
}

/// The `change` the next event must be.
async fn next_change(events: &mut Events) -> Value {
    let event = events.next().await;
    assert_eq!(event.kind, "change", "{event:?}");
    let (id, data) = parsed(&event);
    assert_eq!(id, data["revision"].as_u64(), "the SSE id is the revision");
    data
}

fn change(revision: u64, op: &str, id: Value, item: Option<Value>) -> Value {
    let mut c = json!({"type": "change", "room": "t", "revision": revision, "op": op, "id": id});
    if let Some(item) = item {
        c["item"] = item;
    }
    c
}

#[tokio::test]
async fn items_added_changed_and_removed_arrive_in_order_and_since_resumes() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]));
    let server = gateway(&upstream, |_| {}).await;
    until_stats(&server, "the first poll's two items", |s| s.revision == 2).await;
    let mut events = Events::open(&server, "/feeds/t/events", None).await;
    let snapshot = events.next().await;
    assert_eq!(snapshot.kind, "snapshot");
    assert_eq!(
        parsed(&snapshot),
        (
            Some(2),
            json!({"type": "snapshot", "room": "t", "revision": 2,
                   "items": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]})
        )
    );

    upstream.set_json(json!([{"id": 3, "n": "c"}, {"id": 1, "n": "A"}]));
    assert_eq!(
        next_change(&mut events).await,
        change(3, "created", json!(3), Some(json!({"id": 3, "n": "c"})))
    );
    assert_eq!(
        next_change(&mut events).await,
        change(4, "updated", json!(1), Some(json!({"id": 1, "n": "A"})))
    );
    assert_eq!(
        next_change(&mut events).await,
        change(5, "deleted", json!(2), None)
    );
    assert_eq!(
        items(&server).await,
        (json!([{"id": 3, "n": "c"}, {"id": 1, "n": "A"}]), 5)
    );

    // Last-Event-ID resumes without a snapshot; ?since=0 replays everything.
    let mut resumed = Events::open(&server, "/feeds/t/events", Some(3)).await;
    assert_eq!(next_change(&mut resumed).await["revision"], 4);
    assert_eq!(next_change(&mut resumed).await["revision"], 5);
    let mut replayed = Events::open(&server, "/feeds/t/events?since=0", None).await;
    for revision in 1..=5 {
        assert_eq!(next_change(&mut replayed).await["revision"], revision);
    }
    // A since this gateway never reached (an older process's): resync, then the items.
    let mut stranger = Events::open(&server, "/feeds/t/events?since=99", None).await;
    assert_eq!(stranger.next().await.kind, "resync");
    assert_eq!(parsed(&stranger.next().await).1["revision"], 5);
}

#[tokio::test]
async fn a_stream_that_falls_a_history_behind_is_resynced_with_the_items() {
    let upstream = Upstream::start(Answer::Json {
        body: "[]".to_owned(),
        etag: None,
    })
    .await;
    let server = gateway_with(&upstream, |c| c.ws.feed_capacity = 16).await;
    let mut events = Events::open(&server, "/feeds/t/events", None).await;
    assert_eq!(parsed(&events.next().await).1["revision"], 0);
    // 40 changes at once, more than the stream may fall behind: resync and the items.
    let many: Vec<Value> = (0..40).map(|id| json!({"id": id})).collect();
    upstream.set_json(Value::Array(many.clone()));
    let mut kinds = Vec::new();
    loop {
        let event = events.next().await;
        kinds.push(event.kind.clone());
        if event.kind == "snapshot" {
            assert_eq!(parsed(&event).1["items"], Value::Array(many.clone()));
            break;
        }
    }
    assert_eq!(
        kinds.iter().rev().nth(1).map(String::as_str),
        Some("resync"),
        "{kinds:?}"
    );
    // Memory holds the last 16 changes, the store all 40: since=0 replays
    // every change in order from the store, then memory's, then live ones.
    let mut old = Events::open(&server, "/feeds/t/events?since=0", None).await;
    for revision in 1..=40 {
        assert_eq!(next_change(&mut old).await["revision"], revision);
    }
    upstream.set_json(Value::Array(many[1..].to_vec()));
    assert_eq!(next_change(&mut old).await["revision"], 41);
    let mut recent = Events::open(&server, "/feeds/t/events?since=30", None).await;
    assert_eq!(next_change(&mut recent).await["revision"], 31);
}

#[tokio::test]
async fn a_document_that_is_not_a_list_of_items_is_replaced_whole() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!({"temperature": 3}));
    let server = gateway(&upstream, |_| {}).await;
    until_stats(&server, "the first document", |s| s.revision == 1).await;
    let mut events = Events::open(&server, "/feeds/t/events?since=0", None).await;
    assert_eq!(
        next_change(&mut events).await,
        change(1, "replaced", Value::Null, Some(json!({"temperature": 3})))
    );
    upstream.set_json(json!({"temperature": 4}));
    assert_eq!(
        next_change(&mut events).await,
        change(2, "replaced", Value::Null, Some(json!({"temperature": 4})))
    );
    assert_eq!(items(&server).await, (json!([{"temperature": 4}]), 2));
}

#[tokio::test]
async fn an_upstream_answering_304_costs_no_change() {
    let upstream = Upstream::start(Answer::Json {
        body: json!([{"id": 1}]).to_string(),
        etag: Some("\"v1\"".to_owned()),
    })
    .await;
    let server = gateway(&upstream, |_| {}).await;
    let stats = until_stats(&server, "several 304s", |s| s.upstream_not_modified >= 3).await;
    assert_eq!((stats.changes, stats.revision), (1, 1));
    assert!(
        upstream
            .heads()
            .iter()
            .any(|h| h.contains("if-none-match: \"v1\"")),
        "the poller sent If-None-Match: {:?}",
        upstream.heads()
    );
    assert_eq!(stats.last_error, None);
}

#[tokio::test]
async fn a_held_get_answers_when_the_upstream_changes() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1}]));
    let server = gateway(&upstream, |_| {}).await;
    until_stats(&server, "the first item", |s| s.revision == 1).await;
    let etag = get(&server, "/feeds/t").await.headers()["etag"].clone();
    let not_modified = http()
        .get(url(&server, "/feeds/t"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    let held = http()
        .get(url(&server, "/feeds/t"))
        .header("if-none-match", etag)
        .header("prefer", "wait=30")
        .send();
    let change = async {
        until_stats(&server, "the request held", |s| s.longpoll_held == 1).await;
        upstream.set_json(json!([{"id": 1}, {"id": 2}]));
    };
    let (answer, ()) = tokio::join!(tokio::time::timeout(DEADLINE, held), change);
    let answer = answer.unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["preference-applied"], "wait=30");
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!([{"id": 1}, {"id": 2}])
    );
}

/// Breaks the upstream with `fault`: the feed records it, `/readyz` names
/// the feed, and clients keep the last good items with no change; once the
/// upstream recovers, its next change is the next revision.
async fn a_fault_keeps_the_last_good_items(fault: Answer, words: &str) {
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1}]));
    let server = gateway(&upstream, |_| {}).await;
    until_stats(&server, "the first item", |s| s.revision == 1).await;
    let mut events = Events::open(&server, "/feeds/t/events", None).await;
    assert_eq!(events.next().await.kind, "snapshot");

    upstream.set(fault);
    let stats = until_stats(&server, "the fault recorded", |s| s.last_error.is_some()).await;
    let error = stats.last_error.unwrap();
    assert!(error.contains(words), "{error:?} should say {words:?}");
    let ready = get(&server, "/readyz").await;
    assert_eq!(ready.status(), 503);
    let detail = ready.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("feed t"), "{detail}");
    assert_eq!(items(&server).await, (json!([{"id": 1}]), 1));

    upstream.set_json(json!([{"id": 1}, {"id": 2}]));
    assert_eq!(
        next_change(&mut events).await,
        change(2, "created", json!(2), Some(json!({"id": 2})))
    );
    until_stats(&server, "the fault cleared", |s| s.last_error.is_none()).await;
    assert_eq!(get(&server, "/readyz").await.status(), 200);
}

#[tokio::test]
async fn a_500_keeps_the_last_good_items() {
    a_fault_keeps_the_last_good_items(Answer::Status(500), "500").await;
}

#[tokio::test]
async fn a_timeout_keeps_the_last_good_items() {
    a_fault_keeps_the_last_good_items(Answer::Hang, "no answer within").await;
}

#[tokio::test]
async fn invalid_json_keeps_the_last_good_items() {
    a_fault_keeps_the_last_good_items(Answer::Garbage, "not JSON").await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_without_being_read_whole() {
    let upstream = Upstream::start(Answer::Endless(4 * 1024 * 1024)).await;
    let server = gateway(&upstream, |g| g.max_bytes = 64 * 1024).await;
    let stats = until_stats(&server, "the body refused", |s| s.last_error.is_some()).await;
    assert!(stats.last_error.unwrap().contains("over 65536 bytes"));
    assert!(
        stats.upstream_bytes < 2 * 1024 * 1024,
        "read {} bytes",
        stats.upstream_bytes
    );
    assert_eq!((stats.revision, stats.items), (0, 0));
}

#[tokio::test]
async fn a_list_over_max_items_is_refused() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1}, {"id": 2}, {"id": 3}]));
    let server = gateway(&upstream, |g| g.max_items = 2).await;
    let stats = until_stats(&server, "the list refused", |s| s.last_error.is_some()).await;
    assert!(stats.last_error.unwrap().contains("3 items, over 2"));
    assert_eq!(stats.revision, 0);
}

#[tokio::test]
async fn streams_past_the_limit_get_503_with_retry_after() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    let server = gateway_with(&upstream, |c| c.max_streams = 1).await;
    let _open = Events::open(&server, "/feeds/t/events", None).await;
    let refused = get(&server, "/feeds/t/events").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
}

#[tokio::test]
async fn an_unknown_feed_is_a_404_problem() {
    let upstream = Upstream::start(Answer::Status(503)).await;
    let server = gateway(&upstream, |_| {}).await;
    for path in ["/feeds/nope", "/feeds/nope/events"] {
        let r = get(&server, path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
}
