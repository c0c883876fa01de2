//! An HTTP/1.1 stream served outside hyper: after its response headers the
//! connection is a feed subscriber the fan-out writes to directly, like a
//! `/ws` one, each change's event framed once as an HTTP/1.1 chunk
//! ([`ChangeFrame::sse_chunked`]) for every stream.
//!
//! Through hyper an idle stream cost ~27 KB (its connection, buffers and a
//! body future kept for the stream's life), against ~4 KB for a `/ws`
//! subscriber. Only a connection's first request can leave this way (see
//! `accept/sniff.rs`), and only one the route would answer `200`: errors,
//! the stream limit's `503` and every other request stay hyper's, so their
//! answers are the route's own. A stream asked for later on a kept-alive
//! connection, or over HTTP/2, keeps the hyper path.
//!
//! [`ChangeFrame::sse_chunked`]: crate::frames::ChangeFrame

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use pollpush_shared::Revision;
use tokio::io::{AsyncRead, ReadBuf};

use super::{KEEP_ALIVE, Open, requested_since, stream_headers};
use crate::direct::{self, Ended};
use crate::encoding::Encoding;
use crate::state::State;
use crate::stats::{ConnTag, Protocol};
use crate::wire::{Wire, within};

/// [`super::KEEP_ALIVE_COMMENT`] as a chunk.
const KEEP_ALIVE_CHUNK: &[u8] = b"e\r\n: keep-alive\n\n\r\n";
/// The end of a chunked body, written when the server shuts down.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A stream accepted for the direct path, its slot under `max_streams` taken.
pub struct Direct {
    since: Option<Revision>,
    /// The request's `Origin` when CORS allows it: echoed as the routes' answers do.
    origin: Option<HeaderValue>,
    open: Open,
}

impl Direct {
    /// The target whose first request may leave hyper.
    pub const PATH: &'static str = "/species/events";

    /// `req` as a direct stream when the route would answer it `200`;
    /// `None` leaves it to hyper and the route.
    pub fn accept(state: &State, req: &Request<()>, origin: Option<HeaderValue>) -> Option<Self> {
        if req.uri().path() != Self::PATH {
            return None;
        }
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let since = requested_since(&query, req.headers()).ok()?;
        let open = Open::reserve(state).ok()?;
        Some(Self {
            since,
            origin,
            open,
        })
    }

    /// The response headers, then the start and the live feed, until the
    /// client goes away, the server shuts down or a write times out.
    pub async fn serve(self, state: State, wire: Wire, tag: ConnTag) {
        tag.mark(Protocol::Sse);
        tag.settle();
        // As on hyper's path: a client that stops reading fills a small
        // buffer soon, and the bounded queue and the resync take over.
        if let Some(bytes) = state.config.send_buffer_bytes {
            wire.cap_send_buffer(bytes);
        }
        let timeout = state.config.ws.write_timeout;
        let head = head(self.origin);
        if !matches!(within(timeout, wire.write_frame(&head)).await, Some(Ok(()))) {
            return;
        }
        let since = self.since;
        let subscribed =
            direct::subscribe(&state, wire.clone(), Encoding::Sse, since, |_| Vec::new());
        let Some(subscribed) = Box::pin(subscribed).await else {
            return;
        };
        let keep_alive = (KEEP_ALIVE, Bytes::from_static(KEEP_ALIVE_CHUNK));
        let ended = subscribed
            .pump(closed(wire.clone()), Some(keep_alive))
            .await;
        if ended == Ended::Shutdown {
            // The body's end, as hyper writes it when a stream ends.
            let _ = within(Duration::from_secs(1), wire.write_frame(LAST_CHUNK)).await;
        }
        drop(self.open);
    }
}

/// `200 OK` with the headers the route and the connection give a stream
/// through hyper: the stream's own, CORS, a chunked body and the date.
fn head(origin: Option<HeaderValue>) -> Bytes {
    let mut headers = HeaderMap::new();
    stream_headers(&mut headers);
    if let Some(origin) = origin {
        crate::reply::add_cors(&mut headers, origin);
    }
    let head = crate::reply::http1_head(
        http::StatusCode::OK,
        &headers,
        &[("transfer-encoding", b"chunked")],
    );
    head.into()
}

/// Resolves when the client closes its side (or the socket fails); what it
/// sends meanwhile means nothing to a stream and is dropped.
async fn closed(mut wire: Wire) {
    loop {
        let read = std::future::poll_fn(|cx| {
            let mut storage = [MaybeUninit::<u8>::uninit(); 64];
            let mut buf = ReadBuf::uninit(&mut storage);
            match Pin::new(&mut wire).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => Poll::Ready(buf.filled().len()),
                Poll::Ready(Err(_)) => Poll::Ready(0),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if read == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Chunked;

    #[test]
    fn the_keep_alive_chunk_is_the_comment_in_a_chunk() {
        let chunk = Chunked::new(super::super::KEEP_ALIVE_COMMENT).chunk;
        assert_eq!(chunk, KEEP_ALIVE_CHUNK);
    }
}
