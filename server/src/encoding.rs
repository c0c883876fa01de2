//! How one connection carries changes ([`Encoding`]): the bytes the fan-out
//! writes to a direct subscriber in its wire format (`/ws`, socket.io, SSE),
//! for changes, snapshots and resyncs alike, and the counters they go to.

use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use pollpush_shared::{Revision, ServerMessage};

use crate::frames::{ChangeFrame, Chunked, socketio_frame, sse_resync_event, text_frame};
use crate::snapshot::Snapshot;
use crate::stats::Stats;

/// How one connection carries changes, chosen when it subscribes: the bytes
/// the fan-out writes to it and the counters they go to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `/ws`: the change message in a WebSocket text frame.
    #[default]
    WebSocket,
    /// A socket.io `change` event in a WebSocket frame.
    SocketIo,
    /// A Server-Sent Event in an HTTP/1.1 chunk.
    Sse,
}

impl Encoding {
    /// A change, the same bytes for every subscriber of this encoding.
    pub fn change(self, frame: &ChangeFrame) -> &Bytes {
        match self {
            Self::WebSocket => &frame.frame,
            Self::SocketIo => frame.socketio(),
            Self::Sse => &frame.sse_chunked().chunk,
        }
    }

    /// The list a subscription starts (or restarts) from.
    pub fn snapshot(self, snapshot: &Snapshot) -> Bytes {
        match self {
            Self::WebSocket => snapshot.frame(),
            Self::SocketIo => snapshot.socketio(),
            Self::Sse => snapshot.sse_chunked().chunk,
        }
    }

    /// The notice that precedes a resync's snapshot.
    pub fn resync(self, revision: Revision) -> Bytes {
        match self {
            Self::WebSocket => {
                let msg = serde_json::to_string(&ServerMessage::Resync { revision });
                text_frame(msg.unwrap_or_default().as_bytes()).0
            }
            Self::SocketIo => socketio_frame(&format!(r#"42["resync",{{"revision":{revision}}}]"#)),
            Self::Sse => Chunked::new(&sse_resync_event(revision)).chunk,
        }
    }

    /// Messages (events) written in this encoding.
    pub fn messages_out(self, stats: &Stats) -> &AtomicU64 {
        match self {
            Self::WebSocket => &stats.ws_messages_out,
            Self::SocketIo => &stats.socketio_messages_out,
            Self::Sse => &stats.sse_messages_out,
        }
    }

    /// Subscribers of this encoding that fell behind and were resynchronized.
    pub fn resyncs(self, stats: &Stats) -> &AtomicU64 {
        match self {
            Self::WebSocket | Self::SocketIo => &stats.resyncs,
            Self::Sse => &stats.sse_resyncs,
        }
    }
}
