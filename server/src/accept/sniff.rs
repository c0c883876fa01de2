//! A connection's first bytes, read before hyper sees them: an SSE request
//! there can leave hyper at once (see `sse/direct.rs`); for everything else
//! hyper reads them back from [`Rewind`] as if from the socket.
//!
//! hyper keeps a connection, its buffers and a response body alive for as
//! long as a stream lasts, and hands over its socket only for a `101`, so a
//! stream has to be recognised before hyper takes the connection.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Version};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::wire::Wire;

/// The most the first read takes: a browser's request with its cookies fits.
const FIRST_READ: usize = 4096;
/// Headers a request read here may have; more goes to hyper, which has the limits.
const MAX_HEADERS: usize = 64;

/// The connection's first read, copied out of a buffer on the stack (not
/// kept per connection). Empty at end of stream.
pub async fn first_read(wire: &mut Wire) -> io::Result<Bytes> {
    std::future::poll_fn(|cx| {
        let mut storage = [MaybeUninit::<u8>::uninit(); FIRST_READ];
        let mut buf = ReadBuf::uninit(&mut storage);
        ready!(Pin::new(&mut *wire).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(Bytes::copy_from_slice(buf.filled())))
    })
    .await
}

/// `first` as a request, if it is exactly one whole HTTP/1.1 request
/// without a body whose target starts with `prefix`; anything else
/// (partial, pipelined, h2c's preface, unparsable) is hyper's to answer.
pub fn request(first: &[u8], prefix: &[u8]) -> Option<Request<()>> {
    // Most connections are not streams: no parsing for them.
    if !first
        .strip_prefix(b"GET ")
        .is_some_and(|t| t.starts_with(prefix))
    {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = parsed.parse(first).ok()? else {
        return None;
    };
    if len != first.len() || parsed.version != Some(1) {
        return None;
    }
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        map.append(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    let has_body = map.contains_key(http::header::TRANSFER_ENCODING)
        || map
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body || map.contains_key(http::header::UPGRADE) {
        return None;
    }
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(parsed.path?)
        .version(Version::HTTP_11)
        .body(())
        .ok()?;
    *request.headers_mut() = map;
    Some(request)
}

/// The wire, with the bytes of the first read in front of it.
pub struct Rewind {
    first: Bytes,
    wire: Wire,
}

impl Rewind {
    pub fn new(first: Bytes, wire: Wire) -> Self {
        Self { first, wire }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.first.is_empty() {
            return Pin::new(&mut self.wire).poll_read(cx, buf);
        }
        let n = self.first.len().min(buf.remaining());
        buf.put_slice(&self.first[..n]);
        self.first.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.wire).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.wire).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.wire.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.wire).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.wire).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::request;

    const EVENTS: &[u8] = b"/species/events";

    #[test]
    fn a_whole_sse_request_is_recognised_with_its_query_and_headers() {
        let r = request(
            b"GET /species/events?since=3 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 2\r\n\r\n",
            EVENTS,
        )
        .unwrap();
        assert_eq!(r.uri().query(), Some("since=3"));
        assert_eq!(r.headers()["last-event-id"], "2");
    }

    #[test]
    fn partial_pipelined_old_or_other_requests_are_left_to_hyper() {
        for first in [
            &b"GET /species/events HTTP/1.1\r\nHost: x\r\n"[..],
            b"GET /species/events HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET /species/events HTTP/1.0\r\n\r\n",
            b"GET /species/ HTTP/1.1\r\n\r\n",
            b"POST /species/events HTTP/1.1\r\n\r\n",
            b"GET /species/events HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert!(request(first, EVENTS).is_none(), "{first:?}");
        }
    }
}
