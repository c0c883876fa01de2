//! Wire encodings of a change, made once per change and shared by every subscriber.
//!
//! A [`ChangeFrame`] is built either from a change this node committed or
//! from the bytes another node published on the broker; either way its text
//! is what every `/ws` subscriber of every node receives, byte for byte.

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use pollpush_shared::{Change, Revision, ServerMessage};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// One change and its wire form, shared by every subscriber.
#[derive(Debug)]
pub struct ChangeFrame {
    pub change: Change,
    /// `{"type":"change",...}`, serialized once.
    pub text: Utf8Bytes,
    /// `text` as a whole WebSocket text frame: server frames are unmasked, so
    /// these bytes are the same for every subscriber.
    pub frame: Bytes,
    /// The change as a Server-Sent Event in an HTTP/1.1 chunk, made on
    /// first use (see `sse.rs`): the event alone is a slice of it.
    pub(crate) sse: OnceLock<Chunked>,
    /// The change as a socket.io `change` event in a WebSocket frame, made on first use.
    socketio: OnceLock<Bytes>,
}

/// Why bytes from the broker are not a change message.
#[derive(Debug, thiserror::Error)]
#[error("not a change message: {0}")]
pub struct NotAChange(String);

impl ChangeFrame {
    pub fn new(change: Change) -> Arc<Self> {
        let msg = ServerMessage::Change(change);
        let text = serde_json::to_string(&msg).unwrap_or_default();
        let ServerMessage::Change(change) = msg else {
            unreachable!("constructed as a change just above")
        };
        Self::framed(change, text.as_bytes())
    }

    /// A frame around `text` as another node encoded it: parsed for the
    /// change it carries, and sent on unchanged.
    pub fn from_text(text: &[u8]) -> Result<Arc<Self>, NotAChange> {
        match serde_json::from_slice::<ServerMessage>(text) {
            Ok(ServerMessage::Change(change)) => Ok(Self::framed(change, text)),
            Ok(other) => Err(NotAChange(format!("{other:?}"))),
            Err(e) => Err(NotAChange(e.to_string())),
        }
    }

    fn framed(change: Change, text: &[u8]) -> Arc<Self> {
        let (frame, header) = text_frame(text);
        // One buffer: the text is the frame's payload, not a second copy.
        let text = Utf8Bytes::try_from(frame.slice(header..)).unwrap_or_default();
        Arc::new(Self {
            change,
            text,
            frame,
            sse: OnceLock::new(),
            socketio: OnceLock::new(),
        })
    }

    pub fn revision(&self) -> Revision {
        self.change.revision
    }

    /// `42["change",{…}]` (the same packet for Engine.IO 3 and 4 over
    /// WebSocket) as one frame, the same bytes for every socket.io subscriber.
    pub fn socketio(&self) -> &Bytes {
        self.socketio.get_or_init(|| {
            let change = serde_json::to_string(&self.change).unwrap_or_default();
            socketio_frame(&format!(r#"42["change",{change}]"#))
        })
    }
}

/// An HTTP/1.1 chunk and, sliced from the same buffer, its data: one
/// allocation for a chunked response written by hyper (the data) and one
/// written straight to the socket (the whole chunk).
#[derive(Debug, Clone)]
pub struct Chunked {
    pub chunk: Bytes,
    pub data: Bytes,
}

impl Chunked {
    /// `data` as one chunk of a `Transfer-Encoding: chunked` body (RFC 9112 §7.1).
    pub fn new(data: &[u8]) -> Self {
        let size = format!("{:x}\r\n", data.len());
        let mut chunk = BytesMut::with_capacity(size.len() + data.len() + 2);
        chunk.put_slice(size.as_bytes());
        chunk.put_slice(data);
        chunk.put_slice(b"\r\n");
        let chunk = chunk.freeze();
        let data = chunk.slice(size.len()..chunk.len() - 2);
        Self { chunk, data }
    }
}

/// A socket.io packet (its Engine.IO text form) as one WebSocket text frame.
pub fn socketio_frame(packet: &str) -> Bytes {
    text_frame(packet.as_bytes()).0
}

/// An unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2) carrying
/// `payload`, and the length of its header.
pub(crate) fn text_frame(payload: &[u8]) -> (Bytes, usize) {
    let mut frame = BytesMut::with_capacity(payload.len() + 10);
    frame.put_u8(0x81); // FIN, text
    let len = payload.len();
    if len < 126 {
        frame.put_u8(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        frame.put_u8(126);
        frame.put_u16(len);
    } else {
        frame.put_u8(127);
        frame.put_u64(len as u64);
    }
    let header = frame.len();
    frame.put_slice(payload);
    (frame.freeze(), header)
}

/// `event: resync` and its notice as data: what an SSE stream gets before
/// the snapshot it starts over from.
pub fn sse_resync_event(revision: Revision) -> Bytes {
    format!("event: resync\ndata: {{\"type\":\"resync\",\"revision\":{revision}}}\n\n").into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pollpush_shared::message::SPECIES_ROOM;
    use pollpush_shared::{ChangeOp, Species};

    fn change(revision: Revision) -> Change {
        Change {
            room: SPECIES_ROOM.to_owned(),
            revision,
            op: ChangeOp::Updated,
            species: Species {
                id: 1,
                name: "AThaliana".to_owned(),
                observations: 3,
                updated_at: pollpush_shared::time::now(),
            },
            at: pollpush_shared::time::now(),
        }
    }

    #[test]
    fn a_frame_rebuilt_from_its_text_is_byte_for_byte_the_same() {
        let local = ChangeFrame::new(change(7));
        let remote = ChangeFrame::from_text(local.text.as_bytes()).unwrap();
        assert_eq!(remote.frame, local.frame);
        assert_eq!(remote.change, local.change);
    }

    #[test]
    fn bytes_that_are_not_a_change_are_refused() {
        assert!(ChangeFrame::from_text(b"{\"type\":\"pong\"}").is_err());
        assert!(ChangeFrame::from_text(b"not json").is_err());
    }
}
