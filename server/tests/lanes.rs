//! The two lanes between polling and WebSocket: long-polling on `GET /species`
//! (`If-None-Match` + `Prefer: wait=N`) and Server-Sent Events on
//! `GET /species/events`, over the same change feed.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::sse::Events;
use common::{DEADLINE, create, eventually, get, http, spawn_server, spawn_server_with, url};
use pollpush_server::{Config, Server};

/// `GET /species` and its ETag.
async fn etag(server: &Server) -> String {
    get(server, "/species").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn held_get(server: &Server, etag: &str, prefer: &str) -> reqwest::RequestBuilder {
    http()
        .get(url(server, "/species"))
        .header("if-none-match", etag)
        .header("prefer", prefer)
        .timeout(Duration::from_secs(90))
}

/// A request held with `prefer`, answered once a write changes the list.
async fn held_until_a_write(server: &Server, etag: &str, prefer: &str) -> reqwest::Response {
    let held = tokio::spawn(held_get(server, etag, prefer).send());
    eventually(|| server.stats().longpoll.held == 1, "the request is held").await;
    create(server, "Vitis").await;
    tokio::time::timeout(DEADLINE, held)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_held_request_answers_200_when_the_list_changes() {
    let server = spawn_server().await;
    let tag = etag(&server).await;
    let r = held_until_a_write(&server, &tag, "wait=30").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["preference-applied"], "wait=30");
    assert_ne!(r.headers()["etag"].to_str().unwrap(), tag);
    let list: serde_json::Value = r.json().await.unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Vitis")
    );
    let stats = server.stats();
    assert_eq!((stats.longpoll.held, stats.longpoll.changed), (0, 1));
    assert!(stats.longpoll.bytes_out > 0 && stats.longpoll.connections_total == 1);
}

#[tokio::test]
async fn a_held_request_answers_304_when_its_wait_runs_out() {
    let server = spawn_server().await;
    let tag = etag(&server).await;
    let r = held_get(&server, &tag, "wait=1").send().await.unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["preference-applied"], "wait=1");
    assert_eq!(server.stats().longpoll.timed_out, 1);
}

#[tokio::test]
async fn a_wait_over_60_is_clamped_and_one_that_is_not_a_number_is_ignored() {
    let server = spawn_server().await;
    let tag = etag(&server).await;
    // Not a number: RFC 7240 says to ignore it, so the answer comes at once.
    let r = held_get(&server, &tag, "wait=soon").send().await.unwrap();
    assert_eq!(r.status(), 304);
    assert!(r.headers().get("preference-applied").is_none());
    let r = held_until_a_write(&server, &tag, "wait=600").await;
    assert_eq!(r.headers()["preference-applied"], "wait=60");
    // Too large for 64 bits is still a number: clamped, not ignored.
    let tag = etag(&server).await;
    let r = held_until_a_write(&server, &tag, "wait=99999999999999999999").await;
    assert_eq!(r.headers()["preference-applied"], "wait=60");
}

#[tokio::test]
async fn more_held_requests_than_the_limit_get_503_with_retry_after() {
    let server = spawn_server_with(Config {
        max_held: 1,
        ..Config::default()
    })
    .await;
    let tag = etag(&server).await;
    let _first = tokio::spawn(held_get(&server, &tag, "wait=30").send());
    eventually(|| server.stats().longpoll.held == 1, "the first is held").await;
    let r = held_get(&server, &tag, "wait=30").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
}

#[tokio::test]
async fn sse_sends_a_snapshot_then_each_change_as_the_ws_text() {
    let server = spawn_server().await;
    let mut events = Events::open(&server, "/species/events", None).await;
    let first = events.next().await;
    assert_eq!(first.kind, "snapshot");
    let snapshot: serde_json::Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(snapshot["type"], "snapshot");
    let (mut ws, _) = common::subscriber(&server).await;
    create(&server, "Vitis").await;
    let change = events.next().await;
    assert_eq!(change.kind, "change");
    let revision = snapshot["revision"].as_u64().unwrap() + 1;
    assert_eq!(change.id, Some(revision.to_string()));
    // The same bytes as the /ws subscriber's change message.
    let on_ws = futures_util::StreamExt::next(&mut ws)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(change.data, on_ws.into_text().unwrap().as_str());
    let stats = server.stats();
    assert_eq!(stats.sse.subscribers, 1);
    assert!(stats.sse.messages_out >= 2 && stats.sse.bytes_out > 0);
}

#[tokio::test]
async fn sse_resumes_after_last_event_id_without_a_snapshot() {
    let server = spawn_server().await;
    let start = common::revision(&server).await;
    create(&server, "a").await;
    create(&server, "b").await;
    let mut events = Events::open(&server, "/species/events", Some(start)).await;
    let replayed = [events.next().await, events.next().await];
    let ids: Vec<_> = replayed
        .iter()
        .map(|e| (e.kind.as_str(), e.id.clone()))
        .collect();
    assert_eq!(
        ids,
        [
            ("change", Some((start + 1).to_string())),
            ("change", Some((start + 2).to_string()))
        ]
    );
    // A Last-Event-ID that is not a revision gets a snapshot.
    let mut fresh = http()
        .get(url(&server, "/species/events"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .map(Events::from_response)
        .unwrap();
    assert_eq!(fresh.next().await.kind, "snapshot");
}

#[tokio::test]
async fn sse_refuses_a_since_that_is_not_a_revision_and_streams_past_the_limit() {
    let server = spawn_server_with(Config {
        max_streams: 1,
        ..Config::default()
    })
    .await;
    let r = get(&server, "/species/events?since=abc").await;
    assert_eq!(r.status(), 400);
    let _open = Events::open(&server, "/species/events?since=0", None).await;
    let r = get(&server, "/species/events").await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
}
