//! The species REST API, through a real HTTP client, on port 0.
#![allow(clippy::unwrap_used)]

mod common;

use common::{create, get, http, revision, spawn_server, url};
use pollpush_shared::{Problem, Species};
use reqwest::StatusCode;
use serde_json::json;

async fn problem(r: reqwest::Response) -> Problem {
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "errors are problem+json"
    );
    r.json().await.unwrap()
}

#[tokio::test]
async fn fresh_store_lists_the_talks_two_species_at_both_paths() {
    let server = spawn_server().await;
    for path in ["/species", "/species/"] {
        let r = get(&server, path).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["x-revision"], "0");
        let list: Vec<Species> = r.json().await.unwrap();
        let names: Vec<_> = list.iter().map(|s| (s.id, s.name.as_str())).collect();
        assert_eq!(names, [(1, "AThaliana"), (2, "Tomate")]);
    }
}

#[tokio::test]
async fn etag_gives_304_until_the_data_changes() {
    let server = spawn_server().await;
    let r = get(&server, "/species").await;
    let etag = r.headers()["etag"].clone();
    let r = http()
        .get(url(&server, "/species"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.bytes().await.unwrap().is_empty());
    create(&server, "Vigne").await;
    let r = http()
        .get(url(&server, "/species"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["etag"], etag);
    assert_eq!(r.headers()["x-revision"], "1");
}

#[tokio::test]
async fn create_read_replace_delete_round_trip() {
    let server = spawn_server().await;
    let r = http()
        .post(url(&server, "/species"))
        .json(&json!({"name": "Vigne", "observations": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/species/3");
    let created: Species = r.json().await.unwrap();
    assert_eq!((created.id, created.observations), (3, 4));

    let got: Species = get(&server, "/species/3").await.json().await.unwrap();
    assert_eq!(got, created);

    let r = http()
        .put(url(&server, "/species/3"))
        .json(&json!({"name": "Vitis"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let replaced: Species = r.json().await.unwrap();
    assert_eq!(
        (replaced.name.as_str(), replaced.observations),
        ("Vitis", 4),
        "absent count is kept"
    );
    assert!(replaced.updated_at >= created.updated_at);

    let r = http()
        .delete(url(&server, "/species/3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for r in [
        get(&server, "/species/3").await,
        http()
            .delete(url(&server, "/species/3"))
            .send()
            .await
            .unwrap(),
        http()
            .put(url(&server, "/species/3"))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), 404);
        assert_eq!(problem(r).await.status, 404);
    }
    assert_eq!(revision(&server).await, 3, "three writes, three revisions");
}

#[tokio::test]
async fn explicit_ids_are_honoured_and_conflicts_are_409() {
    let server = spawn_server().await;
    let r = http()
        .post(url(&server, "/species"))
        .json(&json!({"id": 40, "name": "Zea"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/species/40");
    let r = http()
        .post(url(&server, "/species"))
        .json(&json!({"id": 2, "name": "Zea"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(problem(r).await.field.as_deref(), Some("id"));
}

#[tokio::test]
async fn invalid_bodies_get_the_status_they_deserve() {
    let server = spawn_server().await;
    let post = |body: String, ct: &'static str| {
        http()
            .post(url(&server, "/species"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let long = "x".repeat(101);
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        ("{\"name\":".into(), 400, None),
        ("not json".into(), 400, None),
        ("{}".into(), 422, Some("name")),
        ("{\"name\":5}".into(), 422, Some("name")),
        ("{\"name\":\"   \"}".into(), 422, Some("name")),
        (format!("{{\"name\":\"{long}\"}}"), 422, Some("name")),
        ("{\"name\":\"a\\u0007b\"}".into(), 422, Some("name")),
        ("{\"name\":\"a\",\"colour\":1}".into(), 422, Some("colour")),
        (
            "{\"name\":\"a\",\"observations\":-1}".into(),
            422,
            Some("observations"),
        ),
        (
            "{\"name\":\"a\",\"observations\":1.5}".into(),
            422,
            Some("observations"),
        ),
        ("{\"name\":\"a\",\"id\":0}".into(), 422, Some("id")),
        ("[1,2]".into(), 422, None),
    ];
    for (body, status, field) in cases {
        let r = post(body.clone(), "application/json").await.unwrap();
        assert_eq!(r.status().as_u16(), status, "body {body}");
        let p = problem(r).await;
        assert_eq!(p.status, status);
        if field.is_some() {
            assert_eq!(p.field.as_deref(), field, "body {body}");
        }
    }
    let r = post("{\"name\":\"a\"}".into(), "text/plain").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(70 * 1024));
    let r = post(big, "application/json").await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(revision(&server).await, 0, "no invalid body was written");
}

#[tokio::test]
async fn oversize_chunked_body_without_length_is_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = spawn_server().await;
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let head = "POST /species HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("2000\r\n{}\r\n", " ".repeat(0x2000));
    for _ in 0..9 {
        // The server may answer and close before the whole body is sent.
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = tcp.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[tokio::test]
async fn bad_ids_wrong_methods_and_unknown_paths() {
    let server = spawn_server().await;
    for id in ["abc", "0", "-1", "1.5", "99999999999999999999999"] {
        let r = get(&server, &format!("/species/{id}")).await;
        assert_eq!(r.status(), 400, "id {id}");
    }
    let r = http()
        .patch(url(&server, "/species/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers()["allow"].to_str().unwrap().contains("PUT"));
    let r = http()
        .delete(url(&server, "/species"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers()["allow"].to_str().unwrap().contains("POST"));
    let r = get(&server, "/nope").await;
    assert_eq!(r.status(), 404);
    assert_eq!(problem(r).await.status, 404);
}

#[tokio::test]
async fn a_file_page_with_origin_null_can_read_and_writes_preflight() {
    let server = spawn_server().await;
    let r = http()
        .get(url(&server, "/species"))
        .header("origin", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "null");
    let r = http()
        .request(reqwest::Method::OPTIONS, url(&server, "/species/1"))
        .header("origin", "http://example.test")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://example.test"
    );
    assert!(
        r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    assert_eq!(r.headers()["access-control-allow-headers"], "content-type");
}

#[tokio::test]
async fn cors_origins_can_be_restricted() {
    let server = common::spawn_server_with(pollpush_server::Config {
        cors_origins: vec!["http://ok.test".into()],
        ..Default::default()
    })
    .await;
    let r = http()
        .get(url(&server, "/species"))
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = http()
        .get(url(&server, "/species"))
        .header("origin", "http://ok.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://ok.test");
}

#[tokio::test]
async fn openapi_swagger_docs_and_health_are_served() {
    let server = spawn_server().await;
    let a = get(&server, "/openapi.json").await.text().await.unwrap();
    let b = get(&server, "/swagger.json").await.text().await.unwrap();
    assert_eq!(a, b);
    let doc: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    assert_eq!(
        doc["components"]["schemas"]["NewSpecies"]["additionalProperties"],
        false
    );
    for status in ["201", "400", "409", "413", "415", "422"] {
        assert!(
            doc["paths"]["/species"]["post"]["responses"][status].is_object(),
            "{status}"
        );
    }
    let r = get(&server, "/docs/").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("swagger"));
    let r = get(&server, "/docs/swagger-initializer.js").await;
    assert!(r.text().await.unwrap().contains("/openapi.json"));
    let health: serde_json::Value = get(&server, "/healthz").await.json().await.unwrap();
    assert_eq!(health, json!({"status": "ok"}));
}

#[tokio::test]
async fn stats_count_the_exact_bytes_on_the_wire() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = spawn_server().await;
    let before = server.stats();
    let request = b"GET /species HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    tcp.write_all(request).await.unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.unwrap();
    let after = server.stats();
    assert_eq!(
        after.rest.bytes_in - before.rest.bytes_in,
        request.len() as u64
    );
    assert_eq!(
        after.rest.bytes_out - before.rest.bytes_out,
        response.len() as u64
    );
    assert_eq!(after.rest.requests - before.rest.requests, 1);
    assert_eq!(after.rest.by_status.get(&200), Some(&1));
    let metrics = get(&server, "/metrics").await.text().await.unwrap();
    assert!(metrics.contains("pollpush_rest_bytes_out_total"));
    let node = after.node.expect("the node's id");
    let responses = metrics
        .lines()
        .find(|l| l.starts_with("pollpush_rest_responses_total{"))
        .expect("responses by status");
    assert!(responses.contains("status=\"200\""), "{responses}");
    assert!(
        responses.contains(&format!("node=\"{node}\"")),
        "{responses}"
    );
}
