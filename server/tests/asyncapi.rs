//! `/asyncapi.json`: the push side's AsyncAPI 3 document describes every
//! `/ws` message the server sends and takes, and the SSE events, and the
//! official parser (npm `@asyncapi/parser`) finds it valid.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{get, spawn_server};
use serde_json::Value;

async fn document() -> Value {
    let server = spawn_server().await;
    let r = get(&server, "/asyncapi.json").await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn every_ws_message_and_sse_event_is_described() {
    let doc = document().await;
    assert_eq!(doc["asyncapi"], "3.0.0");
    let ws = doc["channels"]["ws"]["messages"].as_object().unwrap();
    for kind in [
        "subscribe",
        "unsubscribe",
        "emit",
        "broadcast",
        "hello",
        "subscribed",
        "unsubscribed",
        "snapshot",
        "change",
        "event",
        "ack",
        "resync",
        "error",
        // A feed's, to /ws subscribers of room NAME.
        "feed_snapshot",
        "feed_change",
    ] {
        assert!(ws.contains_key(kind), "no /ws message {kind}");
    }
    let sse = doc["channels"]["speciesEvents"]["messages"]
        .as_object()
        .unwrap();
    assert_eq!(sse.len(), 3);
    // A feed's stream (`--feed NAME=URL`): its own snapshot and change, the same resync.
    let feed = &doc["channels"]["feedEvents"];
    assert_eq!(feed["address"], "/feeds/{name}/events");
    let events: Vec<&String> = feed["messages"].as_object().unwrap().keys().collect();
    assert_eq!(events, ["change", "resync", "snapshot"]);
    let item = &doc["components"]["schemas"]["FeedChange"]["properties"];
    for field in ["room", "revision", "op", "id", "item"] {
        assert!(item.get(field).is_some(), "FeedChange has no {field}");
    }
    // The change payload is the shared Change type, fields and all.
    let change = &doc["components"]["schemas"]["Change"]["properties"];
    for field in ["room", "revision", "op", "species", "at"] {
        assert!(change.get(field).is_some(), "Change has no {field}");
    }
}

#[tokio::test]
async fn the_official_parser_finds_the_document_valid() {
    let text = serde_json::to_vec(&document().await).unwrap();
    let Some(dir) = tokio::task::spawn_blocking(|| {
        common::node::packages_or_skip(
            "asyncapi",
            "node_modules/@asyncapi/parser/package.json",
            "AsyncAPI validation with @asyncapi/parser",
        )
    })
    .await
    .unwrap() else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/asyncapi/validate.js");
    let mut child = Command::new("node")
        .arg(script)
        .arg(dir.join("node_modules"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the parser refused the document:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("valid: "), "{report}");
}
