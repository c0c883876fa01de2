//! docs/protocol.md against a running server, so it cannot drift again: its
//! `/stats` example has exactly the fields of a live answer, and its route
//! table names every route the server documents.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{get, spawn_server};
use serde_json::Value;

const DOC: &str = include_str!("../../docs/protocol.md");
const STATS_BEGIN: &str = "<!-- stats example: server/tests/protocol_doc.rs checks its fields -->";

/// Every field path (`rest.bytes_in`) of a JSON object. `by_status` is keyed
/// by the statuses seen so far: its keys are data, not fields.
fn fields(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let Value::Object(map) = value else { return };
    for (key, child) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if key != "by_status" {
            fields(child, &path, out);
        }
        out.insert(path);
    }
}

/// The JSON block that follows the marker.
fn stats_example() -> Value {
    let after = DOC
        .split_once(STATS_BEGIN)
        .unwrap_or_else(|| panic!("docs/protocol.md lost its marker {STATS_BEGIN:?}"))
        .1;
    let block = after.split_once("```json\n").unwrap().1;
    let block = block.split_once("```").unwrap().0;
    serde_json::from_str(block).unwrap_or_else(|e| panic!("the /stats example is not JSON: {e}"))
}

#[tokio::test]
async fn the_stats_example_has_the_fields_of_a_live_answer() {
    let server = spawn_server().await;
    get(&server, "/species").await;
    let live: Value = get(&server, "/stats").await.json().await.unwrap();
    let (mut documented, mut served) = (BTreeSet::new(), BTreeSet::new());
    fields(&stats_example(), "", &mut documented);
    fields(&live, "", &mut served);
    assert!(
        documented == served,
        "docs/protocol.md's /stats example differs from the server's answer:\n\
         missing: {:?}\nno longer served: {:?}\na live answer to start from:\n{}",
        served.difference(&documented).collect::<Vec<_>>(),
        documented.difference(&served).collect::<Vec<_>>(),
        serde_json::to_string(&live).unwrap()
    );
}

#[tokio::test]
async fn the_route_table_names_every_route_the_server_documents() {
    let server = spawn_server().await;
    let openapi: Value = get(&server, "/openapi.json").await.json().await.unwrap();
    let table = DOC
        .split_once("## Routes")
        .unwrap()
        .1
        .split_once("\n## ")
        .unwrap()
        .0;
    // The routes outside the OpenAPI document: push, and the documents themselves.
    let others = [
        "/ws",
        "/socket.io/",
        "/asyncapi.json",
        "/openapi.json",
        "/docs/",
    ];
    let documented = openapi["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str);
    for path in documented.chain(others) {
        assert!(
            table.contains(&format!(" {path}`")) || table.contains(&format!("`{path}`")),
            "docs/protocol.md's route table lacks {path}"
        );
    }
}
