//! A feed's messages, encoded once for every subscriber and lane: each
//! change ([`FeedEvent`]) and the items at a revision ([`View`]).

use bytes::Bytes;
use pollpush_shared::Revision;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::diff::Items;
use crate::snapshot::ListHeaders;

/// One change, encoded once: its message (a `/ws` text frame, a socket.io
/// event's data) and its SSE event.
#[derive(Debug)]
pub struct FeedEvent {
    pub revision: Revision,
    pub text: Utf8Bytes,
    pub sse: Bytes,
    /// Not a change: the feed jumped to `revision` (it followed another
    /// node's poller across a gap), and every subscriber starts over at the
    /// snapshot. `text` and `sse` are empty.
    pub reset: bool,
}

impl FeedEvent {
    /// Change `revision`, whose `/ws` message is `text` (as made, or as stored).
    pub fn change(revision: Revision, text: String) -> Self {
        Self {
            revision,
            sse: format!("id: {revision}\nevent: change\ndata: {text}\n\n").into(),
            text: text.into(),
            reset: false,
        }
    }
}

/// The items at one revision: the body of `GET /feeds/NAME`, its headers,
/// and the SSE snapshot event, made once per revision.
#[derive(Debug)]
pub struct View {
    pub revision: Revision,
    pub body: Bytes,
    pub headers: ListHeaders,
    /// The snapshot message, as `/ws` and socket.io send it.
    pub text: Utf8Bytes,
    pub sse: Bytes,
}

impl View {
    pub fn etag(&self) -> &str {
        self.headers
            .ok
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// The items at `revision`, encoded for every lane at once.
pub(super) fn view(name: &str, revision: Revision, items: &Items) -> View {
    let body = items.to_json();
    let etag = crate::snapshot::etag_of(&body);
    let list = std::str::from_utf8(&body).unwrap_or("[]");
    let snapshot =
        format!(r#"{{"type":"snapshot","room":"{name}","revision":{revision},"items":{list}}}"#);
    View {
        revision,
        headers: ListHeaders::new(&etag, revision),
        sse: format!("id: {revision}\nevent: snapshot\ndata: {snapshot}\n\n").into(),
        text: snapshot.into(),
        body: body.into(),
    }
}
