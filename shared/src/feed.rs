//! The messages of an upstream feed (`--feed NAME=URL`): the server polls a
//! REST API it does not control and pushes what changed in it.
//!
//! A feed is a list of items, each any JSON value. When the upstream answers
//! a JSON array whose elements all carry the id field (`--feed-id-field`,
//! default `/id`) and no id twice, its elements are the items, diffed by id
//! into `created`, `updated` and `deleted`. Any other JSON document is one
//! item with a `null` id, `replaced` when it differs. Every change takes the
//! next revision of its feed (revisions of a feed are its own, not the
//! species'). `GET /feeds/NAME` and a snapshot list the items in the
//! upstream's order.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::species::Revision;

/// What happened to one item of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedOp {
    /// An id the previous poll did not have.
    Created,
    /// An id whose item differs from the previous poll's.
    Updated,
    /// An id the previous poll had and this one has not.
    Deleted,
    /// The upstream's document (not a list of items with ids) differs.
    Replaced,
}

/// A feed's messages, on `/feeds/NAME/events` (SSE `data`), tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedMessage {
    /// Every item at a revision: first on a stream, and after a resync.
    Snapshot {
        /// The feed's name.
        room: String,
        revision: Revision,
        #[schema(value_type = Vec<Object>)]
        items: Vec<Value>,
    },
    /// One item changed, in revision order.
    Change(FeedChange),
}

/// One change of a feed's items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedChange {
    /// The feed's name.
    pub room: String,
    pub revision: Revision,
    pub op: FeedOp,
    /// The item's id field; `null` for a `replaced` document.
    #[schema(value_type = Object)]
    pub id: Value,
    /// The item as it is now; absent for `deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub item: Option<Value>,
}

/// One feed's upstream and subscribers, in `/stats` `feeds`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedStats {
    pub name: String,
    pub url: String,
    /// The feed's last revision (0 before its first change).
    pub revision: Revision,
    pub items: u64,
    /// Requests sent to the upstream, whatever their outcome.
    pub upstream_requests: u64,
    /// Of those, answered `304 Not Modified`.
    pub upstream_not_modified: u64,
    /// Body bytes read from the upstream.
    pub upstream_bytes: u64,
    /// Polls that failed (timeout, error status, invalid JSON, too large).
    pub upstream_errors: u64,
    /// Changes made from the upstream's answers.
    pub changes: u64,
    /// When the last poll ended (RFC 3339), whatever its outcome.
    pub last_poll: Option<String>,
    /// Why the last poll failed; `null` once a poll succeeds.
    pub last_error: Option<String>,
    /// Open `/feeds/NAME/events` streams.
    pub sse_subscribers: u64,
    /// `GET /feeds/NAME` requests held by `Prefer: wait`.
    pub longpoll_held: u64,
    /// `/ws` sessions subscribed to the feed.
    #[serde(default)]
    pub ws_subscribers: u64,
    /// socket.io sockets subscribed to the feed.
    #[serde(default)]
    pub socketio_subscribers: u64,
    /// This node polls the upstream: always alone, and in a cluster while it
    /// holds the feed's lease (the other nodes follow its changes).
    #[serde(default)]
    pub polling: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_the_documented_shape() {
        let change = FeedMessage::Change(FeedChange {
            room: "talk".to_owned(),
            revision: 3,
            op: FeedOp::Deleted,
            id: Value::from(7),
            item: None,
        });
        assert_eq!(
            serde_json::to_string(&change).unwrap_or_default(),
            r#"{"type":"change","room":"talk","revision":3,"op":"deleted","id":7}"#
        );
    }
}
