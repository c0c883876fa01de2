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
    match parse(first) {
        Parsed::Whole(request) => Some(*request),
        Parsed::Partial | Parsed::Other => None,
    }
}

/// What some bytes read from a connection are, as far as the direct paths care.
pub enum Parsed {
    /// Exactly one whole HTTP/1.1 `GET` or `HEAD` without a body or an upgrade.
    Whole(Box<Request<()>>),
    /// The start of a request: more bytes may make it whole.
    Partial,
    /// Anything else: hyper's to answer.
    Other,
}

/// `bytes` as one request a direct path may answer.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let method = match parsed.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Parsed::Other,
    };
    if len != bytes.len() || parsed.version != Some(1) {
        return Parsed::Other;
    }
    whole(method, &parsed).map_or(Parsed::Other, |r| Parsed::Whole(Box::new(r)))
}

fn whole(method: Method, parsed: &httparse::Request<'_, '_>) -> Option<Request<()>> {
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
        .method(method)
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
