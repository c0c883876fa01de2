//! The AsyncAPI 3 document of the push side: every `/ws` message, both ways,
//! and the events of `/species/events`.
//!
//! Built from the `shared` wire types' schemas (the same `ToSchema` derives
//! the OpenAPI document uses), one AsyncAPI message per `"type"` of
//! `ClientMessage` and `ServerMessage`, so the document cannot drift from
//! what the server speaks.

use std::sync::OnceLock;

use bytes::Bytes;
use pollpush_shared::feed::FeedMessage;
use pollpush_shared::{Change, ClientMessage, ServerMessage};
use serde_json::{Map, Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

/// The document as JSON, built once.
pub fn document() -> Bytes {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    DOC.get_or_init(|| Bytes::from(serde_json::to_vec_pretty(&build()).unwrap_or_default()))
        .clone()
}

/// The SSE events: (event name, the `/ws` message type its data carries, what it is).
const SSE_EVENTS: [(&str, &str, &str); 3] = [
    (
        "snapshot",
        "snapshot",
        "First event of a stream (and after a resync): `id: R`, the whole list as the /ws snapshot message.",
    ),
    (
        "change",
        "change",
        "One write: `id: R` and, as data, the same change message /ws sends. Reconnect with `Last-Event-ID: R` to resume.",
    ),
    (
        "resync",
        "resync",
        "The stream fell behind and its queue was dropped; a snapshot event follows.",
    ),
];

fn build() -> Value {
    let mut schemas = Vec::new();
    ClientMessage::schemas(&mut schemas);
    ServerMessage::schemas(&mut schemas);
    schemas.push((Change::name().into_owned(), Change::schema()));
    Change::schemas(&mut schemas);
    FeedMessage::schemas(&mut schemas);
    let mut messages = Map::new();
    let client = variants(&ClientMessage::schema(), &mut messages);
    let server = variants(&ServerMessage::schema(), &mut messages);
    let feed = feed_messages(&mut messages);
    let sse: Vec<String> = SSE_EVENTS
        .iter()
        .map(|(event, ..)| (*event).to_owned())
        .collect();
    for (event, kind, summary) in SSE_EVENTS {
        let payload = messages
            .get(kind)
            .and_then(|m| m.get("payload"))
            .cloned()
            .unwrap_or(Value::Null);
        messages.insert(
            format!("sse_{event}"),
            json!({
                "name": event,
                "title": format!("event: {event}"),
                "summary": summary,
                "contentType": "application/json",
                "payload": payload,
            }),
        );
    }
    let refs = |names: &[String], prefix: &str| -> Map<String, Value> {
        names
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    json!({ "$ref": format!("#/components/messages/{prefix}{n}") }),
                )
            })
            .collect()
    };
    let on = |channel: &str, names: &[String]| -> Vec<Value> {
        names
            .iter()
            .map(|n| json!({ "$ref": format!("#/channels/{channel}/messages/{n}") }))
            .collect()
    };
    // A feed's snapshot and change reach /ws subscribers of room NAME too
    // (its resync is the species one): named `feed_*` there, beside the species'.
    let ws_feed: Vec<String> = feed
        .iter()
        .filter(|n| *n != "resync")
        .map(|n| format!("feed_{n}"))
        .collect();
    let mut ws_messages = refs(&client, "");
    ws_messages.extend(refs(&server, ""));
    ws_messages.extend(refs(&ws_feed, ""));
    let ws_received: Vec<String> = server.iter().chain(&ws_feed).cloned().collect();
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "pollpush push",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Push of every species change: a WebSocket protocol on /ws (JSON text frames tagged by \"type\") and Server-Sent Events on /species/events. An upstream feed (`--feed NAME=URL`) is pushed on /feeds/{name}/events and to /ws subscribers of room NAME (`feed_snapshot`, `feed_change`). The REST API is in /openapi.json.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "websocket": { "host": "localhost:5000", "protocol": "ws", "description": "The same port as the REST API" },
            "http": { "host": "localhost:5000", "protocol": "http", "description": "text/event-stream responses" },
        },
        "channels": {
            "ws": {
                "address": "/ws",
                "title": "WebSocket push",
                "servers": [{ "$ref": "#/servers/websocket" }],
                "messages": ws_messages,
            },
            "speciesEvents": {
                "address": "/species/events",
                "title": "Server-Sent Events",
                "servers": [{ "$ref": "#/servers/http" }],
                "messages": refs(&sse, "sse_"),
            },
            "feedEvents": {
                "address": "/feeds/{name}/events",
                "title": "A feed's Server-Sent Events",
                "description": "The changes of an upstream REST API the server polls (`--feed NAME=URL`), as SSE: `id: R` on each event; `Last-Event-ID` or `?since=R` resumes.",
                "parameters": { "name": { "description": "The feed's name, as `--feed NAME=URL` gave it." } },
                "servers": [{ "$ref": "#/servers/http" }],
                "messages": refs(&feed, "feed_"),
            },
        },
        "operations": {
            "sendToServer": { "action": "send", "channel": { "$ref": "#/channels/ws" }, "messages": on("ws", &client) },
            "receiveFromServer": { "action": "receive", "channel": { "$ref": "#/channels/ws" }, "messages": on("ws", &ws_received) },
            "receiveEvents": { "action": "receive", "channel": { "$ref": "#/channels/speciesEvents" }, "messages": on("speciesEvents", &sse) },
            "receiveFeedEvents": { "action": "receive", "channel": { "$ref": "#/channels/feedEvents" }, "messages": on("feedEvents", &feed) },
        },
        "components": {
            "schemas": schemas.into_iter().map(|(name, s)| (name, to_json(&s))).collect::<Map<_, _>>(),
            "messages": messages,
        },
    })
}

/// A feed stream's events, as `feed_snapshot`, `feed_change` and
/// `feed_resync` (the species stream's `resync`); returns their names.
fn feed_messages(messages: &mut Map<String, Value>) -> Vec<String> {
    let mut own = Map::new();
    let mut names = variants(&FeedMessage::schema(), &mut own);
    if let Some(resync) = messages.get("resync").cloned() {
        own.insert("resync".to_owned(), resync);
        names.push("resync".to_owned());
    }
    for (name, message) in own {
        messages.insert(format!("feed_{name}"), message);
    }
    names
}

fn to_json(schema: &RefOr<Schema>) -> Value {
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

/// Adds one message per variant of a `"type"`-tagged enum; returns their names.
fn variants(schema: &RefOr<Schema>, messages: &mut Map<String, Value>) -> Vec<String> {
    let mut names = Vec::new();
    let schema = to_json(schema);
    for variant in schema["oneOf"].as_array().into_iter().flatten() {
        let Some(name) = type_tag(variant) else {
            continue;
        };
        messages.insert(
            name.clone(),
            json!({
                "name": name,
                "title": name,
                "summary": variant.get("description").cloned().unwrap_or_else(|| json!(name)),
                "contentType": "application/json",
                "payload": variant,
            }),
        );
        names.push(name);
    }
    names
}

/// The value of the `"type"` property's one-value enum, wherever it sits
/// (a plain object, or the tag half of an `allOf` for a newtype variant).
pub(crate) fn type_tag(schema: &Value) -> Option<String> {
    if let Some(tag) = schema["properties"]["type"]["enum"][0].as_str() {
        return Some(tag.to_owned());
    }
    schema["allOf"].as_array()?.iter().find_map(type_tag)
}
