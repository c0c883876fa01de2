//! `/openapi.json` describes the server as it runs: what writes need depends
//! on `--write-token` (the token case is in `token.rs`), and the event stream
//! is described one event at a time.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, spawn_server};
use serde_json::{Value, json};

async fn document() -> Value {
    let server = spawn_server().await;
    get(&server, "/openapi.json").await.json().await.unwrap()
}

#[tokio::test]
async fn without_a_token_writes_declare_no_security_and_no_401() {
    let doc = document().await;
    assert!(
        doc["components"]["securitySchemes"].is_null(),
        "{}",
        doc["components"]
    );
    for (path, method) in [
        ("/species", "post"),
        ("/species/{id}", "put"),
        ("/species/{id}", "delete"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is described");
        assert!(
            op["security"].is_null(),
            "{method} {path}: {}",
            op["security"]
        );
        assert!(op["responses"]["401"].is_null(), "{method} {path}");
    }
}

#[tokio::test]
async fn the_event_stream_is_described_as_one_event_in_a_3_1_document() {
    let doc = document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    let stream =
        &doc["paths"]["/species/events"]["get"]["responses"]["200"]["content"]["text/event-stream"];
    // 3.2's `itemSchema` is not a 3.1 field; the per-event schema sits in `schema`.
    assert!(stream["itemSchema"].is_null());
    let event = &stream["schema"];
    assert_eq!(event["type"], "object");
    let fields = &event["properties"];
    assert_eq!(
        fields["event"]["enum"],
        json!(["snapshot", "change", "resync"])
    );
    assert_eq!(fields["id"]["type"], "string");
    let data = &fields["data"];
    assert_eq!(data["contentMediaType"], "application/json");
    let messages = data["contentSchema"]["oneOf"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{messages:?}");
    // The change message is the shared Change type, which the document defines.
    assert!(doc["components"]["schemas"]["Change"]["properties"]["revision"].is_object());
}

#[tokio::test]
async fn since_is_bounded_by_the_largest_revision_a_store_can_hold() {
    let doc = document().await;
    let params = doc["paths"]["/species/events"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let since = params.iter().find(|p| p["name"] == "since").unwrap();
    // Exactly 2^63 - 1, as an integer: a float would round up to 2^63.
    assert_eq!(
        since["schema"]["maximum"].as_u64(),
        Some(9_223_372_036_854_775_807)
    );
}
