//! `GET /species/events` as one event, not as a string: a validator that
//! parses the stream checks each event against the response's schema.
//!
//! OpenAPI 3.2 names that per-event schema `itemSchema`. The document is 3.1
//! (utoipa writes 3.1, and 3.1's meta-schema refuses unknown Media Type
//! fields), so the same object sits in `schema`, which is where 3.1 tools
//! that understand event streams (schemathesis among them) look for it. Each
//! event is an object with the fields of the SSE format; its `data` is JSON,
//! the `/ws` message of the same name, as `contentMediaType` and
//! `contentSchema` say.

use pollpush_shared::ServerMessage;
use serde_json::{Value, json};
use utoipa::{PartialSchema, ToSchema};

use crate::asyncapi::type_tag;

/// The events a stream sends, and what each one is.
const EVENTS: [(&str, &str); 3] = [
    (
        "snapshot",
        "the whole list (first, and after a resync); `id` is its revision",
    ),
    (
        "change",
        "one write, the change message /ws sends; `id` is its revision",
    ),
    (
        "resync",
        "the stream fell behind and its queue was dropped; a snapshot follows",
    ),
];

/// Describes the stream of `doc`'s `GET /species/events` as one event, and
/// adds the schemas its messages refer to.
pub fn describe(doc: &mut Value) {
    let stream = &mut doc["paths"]["/species/events"]["get"]["responses"]["200"]["content"]["text/event-stream"];
    if !stream.is_object() {
        return;
    }
    *stream = json!({ "schema": event() });
    let mut referred = Vec::new();
    ServerMessage::schemas(&mut referred);
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for (name, schema) in referred {
            let schema = serde_json::to_value(schema).unwrap_or(Value::Null);
            schemas.entry(name).or_insert(schema);
        }
    }
}

/// One event of the stream, as a parser of `text/event-stream` sees it.
fn event() -> Value {
    let all = serde_json::to_value(ServerMessage::schema()).unwrap_or(Value::Null);
    let messages: Vec<&Value> = all["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|variant| {
            type_tag(variant).is_some_and(|tag| EVENTS.iter().any(|(name, _)| *name == tag))
        })
        .collect();
    let kinds: Vec<&str> = EVENTS.iter().map(|(name, _)| *name).collect();
    let what = EVENTS
        .iter()
        .map(|(name, what)| format!("`{name}`: {what}"))
        .collect::<Vec<_>>()
        .join("; ");
    json!({
        "type": "object",
        "description": "One Server-Sent Event. Comment lines (`: keep-alive`, every 15 s) are not events.",
        "required": ["event", "data"],
        "properties": {
            "event": { "type": "string", "enum": kinds, "description": what },
            "id": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "The revision the client holds after this event (a resync keeps the last one); send it back as Last-Event-ID to resume",
            },
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": { "oneOf": messages },
                "description": "The /ws message of the same type, as JSON",
            },
        },
    })
}
