//! A kept-alive HTTP/1.1 connection whose requests read the species list
//! (plain reads and held long-polls), served off hyper until it asks for
//! anything else.
//!
//! Once it has served a request, hyper keeps an 8 KiB read buffer and an
//! 8 KiB write buffer per connection, neither of which shrinks: a held
//! long-poll cost 27–29 KB through it (bench/README.md). Here a connection
//! keeps no buffer between requests: each read lands on the stack and is
//! copied out only while a request is incomplete. The answers are the
//! routes' own (`rest::list_with`, `longpoll::hold`), counted and given CORS
//! as on hyper's path (`conn::finish`), with the head hyper writes
//! (`reply::http1_head`). The first request that is anything else (another
//! path or method, a body, an upgrade, HTTP/1.0, `Connection: close`,
//! pipelining, a head over 4 KiB) goes to hyper with the bytes read of it
//! in front ([`Ended::Handover`]), and hyper serves the connection from then on.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, IF_NONE_MATCH, ORIGIN};
use http::{HeaderMap, HeaderName, Method, Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;

use super::sniff::{self, Parsed};
use super::{allowed_origin, conn};
use crate::state::State;
use crate::stats::ConnTag;
use crate::wire::{Wire, within};
use crate::{longpoll, reply, rest};

/// The most of one request read here; a longer head is hyper's, with its limits.
const MAX_REQUEST: usize = 4096;

const PREFER: HeaderName = HeaderName::from_static("prefer");

/// A read of the species list this loop answers as the routes would.
pub struct ListRead {
    head: bool,
    /// Only what the answer depends on: `If-None-Match`, `Prefer` and `Origin`.
    headers: HeaderMap,
}

impl ListRead {
    /// A connection's first bytes as a read of the list, if they are one.
    pub fn first(bytes: &[u8]) -> Option<Self> {
        if !could_be_list(bytes) {
            return None;
        }
        match sniff::parse(bytes) {
            Parsed::Whole(req) => Self::of(&req),
            Parsed::Partial | Parsed::Other => None,
        }
    }

    /// `req` as a read of the list, unless the connection must do more
    /// with it than this loop does (close after it, expect a body).
    fn of(req: &Request<()>) -> Option<Self> {
        if !matches!(req.uri().path(), "/species" | "/species/") {
            return None;
        }
        let h = req.headers();
        let keep_alive = h
            .get_all(CONNECTION)
            .iter()
            .all(|v| v.as_bytes().eq_ignore_ascii_case(b"keep-alive"));
        if !keep_alive || h.contains_key(EXPECT) {
            return None;
        }
        let kept = [IF_NONE_MATCH, PREFER, ORIGIN];
        let mut headers =
            HeaderMap::with_capacity(kept.iter().map(|n| h.get_all(n).iter().count()).sum());
        for name in kept {
            for value in h.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        Some(Self {
            head: req.method() == Method::HEAD,
            headers,
        })
    }
}

/// Whether `bytes` start (or could start) a read of the list.
fn could_be_list(bytes: &[u8]) -> bool {
    [b"GET /species".as_slice(), b"HEAD /species"]
        .iter()
        .any(|p| p.starts_with(&bytes[..bytes.len().min(p.len())]))
}

/// How the loop ended.
pub enum Ended {
    /// The connection is done: closed by its client, a deadline or the server's shutdown.
    Closed,
    /// A request for hyper: the bytes read of it so far, and when the first came.
    Handover { read: Bytes, since: Instant },
}

/// Answers `first` and every read of the list after it on this connection.
pub async fn serve(state: State, mut wire: Wire, tag: ConnTag, first: ListRead) -> Ended {
    let mut read = first;
    loop {
        let head_only = read.head;
        // Bytes the client sent while its request was held: the next request's start.
        let mut early = Vec::new();
        let Some(response) = answer(&state, &tag, &mut wire, read, &mut early).await else {
            return Ended::Closed;
        };
        let closing = state.shutdown.is_shutdown();
        let timeout = state.config.http.idle_timeout;
        if !send(&wire, &response, head_only, closing, timeout).await || closing {
            return Ended::Closed;
        }
        drop(response);
        read = match next_request(&state, &mut wire, early).await {
            Next::List(next) => next,
            Next::Ended(ended) => return ended,
        };
    }
}

/// The answer to `read` as the routes give it, or `None` when the client
/// went away while it was held.
async fn answer(
    state: &State,
    tag: &ConnTag,
    wire: &mut Wire,
    read: ListRead,
    early: &mut Vec<u8>,
) -> Option<http::Response<Bytes>> {
    let origin = allowed_origin(state, &read.headers);
    // A HEAD is never held: the routes answer it with the list's head.
    let wait = longpoll::requested_wait(&read.headers).filter(|_| !read.head);
    let mut response = match wait {
        None => rest::list_with(state, &read.headers, |b| b),
        Some(wait) => {
            // The hold is written inside `select!` so the task keeps one copy of it.
            let response = tokio::select! {
                biased;
                held = longpoll::hold(state.clone(), read.headers, Some(tag.clone()), wait) => held,
                () = client_gone(wire, early) => return None,
            };
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            http::Response::from_parts(parts, body)
        }
    };
    conn::finish(state, tag, &mut response, origin);
    Some(response)
}

/// Resolves when the client closes its side (or the socket fails) while its
/// request is held, as hyper drops a request whose client went away; what
/// it sends meanwhile is kept in `early`, up to a request's worth.
async fn client_gone(wire: &mut Wire, early: &mut Vec<u8>) {
    std::future::poll_fn(|cx| {
        while early.len() < MAX_REQUEST {
            match read_into(wire, cx, early) {
                Poll::Ready(0) => return Poll::Ready(()),
                Poll::Ready(_) => {}
                Poll::Pending => return Poll::Pending,
            }
        }
        // Full: read no more until the answer is out (the hold wakes the task).
        Poll::Pending
    })
    .await;
}

/// One read into a buffer on the stack, appended to `into`: how many bytes
/// came, 0 at the end of the stream or on an error.
fn read_into(wire: &mut Wire, cx: &mut Context<'_>, into: &mut Vec<u8>) -> Poll<usize> {
    let mut storage = [MaybeUninit::<u8>::uninit(); MAX_REQUEST];
    let room = MAX_REQUEST.saturating_sub(into.len()).max(1);
    let mut buf = ReadBuf::uninit(&mut storage[..room]);
    match Pin::new(wire).poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) => {
            into.extend_from_slice(buf.filled());
            Poll::Ready(buf.filled().len())
        }
        Poll::Ready(Err(_)) => Poll::Ready(0),
        Poll::Pending => Poll::Pending,
    }
}

/// Writes `response` as hyper would; whether the socket took it in time.
async fn send(
    wire: &Wire,
    response: &http::Response<Bytes>,
    head_only: bool,
    closing: bool,
    timeout: std::time::Duration,
) -> bool {
    let length = response.body().len().to_string();
    let mut ours: Vec<(&str, &[u8])> = Vec::with_capacity(2);
    if closing {
        ours.push(("connection", b"close"));
    }
    let bodiless = matches!(
        response.status(),
        StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT
    );
    if !bodiless && !response.headers().contains_key(CONTENT_LENGTH) {
        ours.push(("content-length", length.as_bytes()));
    }
    let head = reply::http1_head(response.status(), response.headers(), &ours);
    let body: &[u8] = if head_only || bodiless {
        &[]
    } else {
        response.body()
    };
    matches!(
        within(timeout, wire.write_response(&head, body)).await,
        Some(Ok(()))
    )
}

/// What came after an answer.
enum Next {
    List(ListRead),
    Ended(Ended),
}

/// Waits for the next request (`read` holds its start, if any): idle for at
/// most the idle timeout, its head within the header timeout of its first
/// byte, as the watchdog allows on hyper's path.
async fn next_request(state: &State, wire: &mut Wire, mut read: Vec<u8>) -> Next {
    let limits = &state.config.http;
    let idle_since = Instant::now();
    let mut since = (!read.is_empty()).then_some(idle_since);
    let mut shutdown = state.shutdown.clone();
    loop {
        if !read.is_empty() {
            match sniff::parse(&read) {
                Parsed::Whole(req) => {
                    return ListRead::of(&req).map_or_else(|| handover(read, since), Next::List);
                }
                Parsed::Partial if read.len() < MAX_REQUEST && could_be_list(&read) => {}
                Parsed::Partial | Parsed::Other => return handover(read, since),
            }
        }
        let deadline = match since {
            Some(first_byte) => first_byte + limits.header_timeout,
            None => idle_since + limits.idle_timeout,
        };
        let n = tokio::select! {
            n = std::future::poll_fn(|cx| read_into(wire, cx, &mut read)) => n,
            () = tokio::time::sleep_until(deadline) => 0,
            () = shutdown.wait() => 0,
        };
        if n == 0 {
            return Next::Ended(Ended::Closed);
        }
        since.get_or_insert_with(Instant::now);
    }
}

fn handover(read: Vec<u8>, since: Option<Instant>) -> Next {
    Next::Ended(Ended::Handover {
        read: read.into(),
        since: since.unwrap_or_else(Instant::now),
    })
}

#[cfg(test)]
mod tests {
    use super::{ListRead, could_be_list};

    #[test]
    fn plain_and_held_reads_of_the_list_are_taken() {
        for first in [
            &b"GET /species HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET /species/?page=2 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
            b"HEAD /species HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /species HTTP/1.1\r\nIf-None-Match: \"a\"\r\nPrefer: wait=5\r\n\r\n",
        ] {
            assert!(ListRead::first(first).is_some(), "{first:?}");
        }
    }

    #[test]
    fn anything_else_is_left_to_hyper() {
        for first in [
            &b"GET /species HTTP/1.1\r\nHost: x\r\n"[..],
            b"GET /species HTTP/1.1\r\nConnection: close\r\n\r\n",
            b"GET /species HTTP/1.0\r\n\r\n",
            b"GET /species/events HTTP/1.1\r\n\r\n",
            b"GET /species/3 HTTP/1.1\r\n\r\n",
            b"POST /species HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
            b"GET /species HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET /species HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            b"GET /species HTTP/1.1\r\n\r\nGET /species HTTP/1.1\r\n\r\n",
        ] {
            assert!(ListRead::first(first).is_none(), "{first:?}");
        }
    }

    #[test]
    fn a_request_line_still_arriving_may_be_a_read_of_the_list() {
        assert!(could_be_list(b"GE"));
        assert!(could_be_list(b"HEAD /species?x"));
        assert!(!could_be_list(b"GET /stats"));
        assert!(!could_be_list(b"POST"));
    }
}
