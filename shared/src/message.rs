//! The WebSocket protocol of `GET /ws`: JSON text frames, one object per frame,
//! tagged by `"type"`.
//!
//! Version 1. A client learns the version from `hello.protocol`; a server that
//! changes a shape incompatibly bumps [`PROTOCOL_VERSION`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::species::{Revision, Species};

/// Version of the message shapes in this module.
pub const PROTOCOL_VERSION: u32 = 1;

/// The room every species change is pushed to. Only the server writes to it.
pub const SPECIES_ROOM: &str = "species";

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Join a room. For `species`, `since` asks for a replay of every change after it
    /// (at most 2^63 - 1, the largest revision a store holds; larger gets an `error`).
    Subscribe {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(maximum = 9_223_372_036_854_775_807_i64)]
        since: Option<Revision>,
    },
    /// Leave a room.
    Unsubscribe { room: String },
    /// A named event, as socket.io's `emit`; `ack` asks for an answer.
    Emit {
        event: String,
        #[serde(default)]
        data: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<u64>,
    },
    /// Send a named event to every other member of a room.
    Broadcast {
        room: String,
        event: String,
        #[serde(default)]
        data: Value,
    },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame of every connection.
    Hello {
        protocol: u32,
        server: String,
        revision: Revision,
        #[serde(with = "crate::time::micros")]
        #[schema(value_type = String, format = DateTime)]
        server_time: DateTime<Utc>,
    },
    /// A subscription took effect.
    Subscribed { room: String, revision: Revision },
    /// An unsubscription took effect.
    Unsubscribed { room: String },
    /// The whole species list at a revision.
    Snapshot {
        room: String,
        revision: Revision,
        species: Vec<Species>,
    },
    /// One write, pushed to `species` subscribers in revision order.
    Change(Change),
    /// A named event: the answer to `hi!`, or a room broadcast.
    Event {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        event: String,
        data: Value,
    },
    /// The answer to an `emit` that carried an `ack` id.
    Ack {
        ack: u64,
        #[serde(default)]
        data: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The server dropped this client's queue; a snapshot at `revision` follows.
    Resync { revision: Revision },
    /// The last frame could not be handled; the connection stays open.
    Error { code: String, message: String },
}

/// What a write did to a species.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Created,
    Updated,
    Deleted,
}

impl ChangeOp {
    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

/// One committed write. For `deleted`, `species` is the last state before deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    pub room: String,
    pub revision: Revision,
    pub op: ChangeOp,
    pub species: Species,
    /// When the server committed the write (RFC 3339, µs).
    #[serde(with = "crate::time::micros")]
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
}

/// The data of the `info` ack: the server as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerInfo {
    pub server: String,
    pub protocol: u32,
    pub revision: Revision,
    pub species: usize,
    pub clients: u64,
    pub uptime_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn round_trip_server(msg: &ServerMessage, expected: &Value) {
        let v = serde_json::to_value(msg).unwrap();
        assert_eq!(&v, expected);
        assert_eq!(&serde_json::from_value::<ServerMessage>(v).unwrap(), msg);
    }

    #[test]
    fn client_messages_parse_from_the_documented_json() {
        let cases = [
            (
                json!({"type":"subscribe","room":"species","since":4}),
                ClientMessage::Subscribe {
                    room: "species".into(),
                    since: Some(4),
                },
            ),
            (
                json!({"type":"unsubscribe","room":"lab"}),
                ClientMessage::Unsubscribe { room: "lab".into() },
            ),
            (
                json!({"type":"emit","event":"info","data":{"a":1},"ack":7}),
                ClientMessage::Emit {
                    event: "info".into(),
                    data: json!({"a":1}),
                    ack: Some(7),
                },
            ),
            (
                json!({"type":"emit","event":"hi!"}),
                ClientMessage::Emit {
                    event: "hi!".into(),
                    data: Value::Null,
                    ack: None,
                },
            ),
            (
                json!({"type":"broadcast","room":"lab","event":"note","data":"x"}),
                ClientMessage::Broadcast {
                    room: "lab".into(),
                    event: "note".into(),
                    data: json!("x"),
                },
            ),
        ];
        for (json, msg) in cases {
            assert_eq!(
                serde_json::from_value::<ClientMessage>(json.clone()).unwrap(),
                msg
            );
            let back: ClientMessage =
                serde_json::from_value(serde_json::to_value(&msg).unwrap()).unwrap();
            assert_eq!(back, msg);
        }
    }

    #[test]
    fn hello_and_change_shapes_are_pinned() {
        round_trip_server(
            &ServerMessage::Hello {
                protocol: 1,
                server: "pollpush/0.1.0".into(),
                revision: 2,
                server_time: at(),
            },
            &json!({"type":"hello","protocol":1,"server":"pollpush/0.1.0","revision":2,
                    "server_time":"2026-11-25T10:00:00.000000Z"}),
        );
        let species = Species {
            id: 2,
            name: "Tomate".into(),
            observations: 5,
            updated_at: at(),
        };
        round_trip_server(
            &ServerMessage::Change(Change {
                room: "species".into(),
                revision: 9,
                op: ChangeOp::Updated,
                species,
                at: at(),
            }),
            &json!({"type":"change","room":"species","revision":9,"op":"updated",
                    "species":{"id":2,"name":"Tomate","observations":5,
                               "updated_at":"2026-11-25T10:00:00.000000Z"},
                    "at":"2026-11-25T10:00:00.000000Z"}),
        );
    }

    #[test]
    fn control_message_shapes_are_pinned() {
        round_trip_server(
            &ServerMessage::Subscribed {
                room: "species".into(),
                revision: 3,
            },
            &json!({"type":"subscribed","room":"species","revision":3}),
        );
        round_trip_server(
            &ServerMessage::Snapshot {
                room: "species".into(),
                revision: 3,
                species: vec![],
            },
            &json!({"type":"snapshot","room":"species","revision":3,"species":[]}),
        );
        round_trip_server(
            &ServerMessage::Ack {
                ack: 7,
                data: json!({"x":1}),
                error: None,
            },
            &json!({"type":"ack","ack":7,"data":{"x":1}}),
        );
        round_trip_server(
            &ServerMessage::Resync { revision: 11 },
            &json!({"type":"resync","revision":11}),
        );
        round_trip_server(
            &ServerMessage::Event {
                room: Some("lab".into()),
                event: "note".into(),
                data: json!(1),
            },
            &json!({"type":"event","room":"lab","event":"note","data":1}),
        );
        round_trip_server(
            &ServerMessage::Error {
                code: "bad_json".into(),
                message: "m".into(),
            },
            &json!({"type":"error","code":"bad_json","message":"m"}),
        );
    }

    #[test]
    fn unknown_type_is_an_error() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
    }
}
