//! `GET /species/` is answered before socket.io and warp (`http/fast.rs`).
//! These pin that it answers exactly as the routed list did: the same status,
//! headers and body (compared with a request the fast path leaves to the
//! routes), the same 304, HEAD without a body, CORS, and the same counters.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, http, spawn_server, url};
use pollpush_server::Server;
use reqwest::header::{DATE, HeaderMap};

/// `GET path` with `extra` headers: its status, headers less `Date`, and body.
async fn answer(server: &Server, path: &str, extra: &[(&str, &str)]) -> (u16, HeaderMap, String) {
    let mut request = http().get(url(server, path));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let mut headers = r.headers().clone();
    headers.remove(DATE);
    (status, headers, r.text().await.unwrap())
}

/// `Prefer: wait=0` with nothing to compare sends a `GET /species/` to the
/// routes' long-poll handler, which answers at once with the routed list.
const ROUTED: (&str, &str) = ("prefer", "wait=0");

#[tokio::test]
async fn the_fast_list_is_the_routed_list_byte_for_byte() {
    let server = spawn_server().await;
    for path in ["/species", "/species/", "/species/?page=2"] {
        let fast = answer(&server, path, &[]).await;
        let routed = answer(&server, path, &[ROUTED]).await;
        assert_eq!(fast.0, 200, "{path}");
        assert_eq!(fast, routed, "{path}");
    }
}

#[tokio::test]
async fn the_fast_304_is_the_routed_304() {
    let server = spawn_server().await;
    let etag = get(&server, "/species/").await.headers()["etag"].clone();
    let etag = etag.to_str().unwrap();
    let fast = answer(&server, "/species/", &[("if-none-match", etag)]).await;
    let (status, mut headers, body) =
        answer(&server, "/species/", &[("if-none-match", etag), ROUTED]).await;
    // A long-poll that waited says how long; nothing else differs.
    assert_eq!(headers.remove("preference-applied").unwrap(), "wait=0");
    assert_eq!(fast.0, 304);
    assert_eq!(fast, (status, headers, body));
}

#[tokio::test]
async fn head_has_the_get_headers_and_no_body() {
    let server = spawn_server().await;
    let (_, get_headers, _) = answer(&server, "/species/", &[]).await;
    let r = http().head(url(&server, "/species/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut headers = r.headers().clone();
    headers.remove(DATE);
    assert_eq!(headers, get_headers);
    assert_eq!(r.bytes().await.unwrap().len(), 0);
}

#[tokio::test]
async fn fast_answers_carry_cors_and_are_counted() {
    let server = spawn_server().await;
    let before = server.stats();
    let (_, headers, _) = answer(&server, "/species/", &[("origin", "null")]).await;
    assert_eq!(headers["access-control-allow-origin"], "null");
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert_eq!(headers["vary"], "Origin");
    let etag = headers["etag"].to_str().unwrap();
    answer(&server, "/species", &[("if-none-match", etag)]).await;
    let after = server.stats();
    assert_eq!(after.rest.requests - before.rest.requests, 2);
    assert_eq!(after.rest.by_status.get(&200), Some(&1));
    assert_eq!(after.rest.by_status.get(&304), Some(&1));
    assert_eq!(after.rest.not_modified - before.rest.not_modified, 1);
    assert_eq!(after.longpoll.requests, 0, "no long-poll was asked for");
}

#[tokio::test]
async fn writes_and_long_polls_on_the_list_still_reach_their_handlers() {
    let server = spawn_server().await;
    let r = http()
        .post(url(&server, "/species/"))
        .json(&serde_json::json!({ "name": "Vitis" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http()
        .delete(url(&server, "/species/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    answer(&server, "/species/", &[("prefer", "wait=1")]).await;
    assert_eq!(server.stats().longpoll.requests, 1);
}
