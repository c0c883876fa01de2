//! `/ws` over HTTP/2 (RFC 8441): the client opens a stream with an extended
//! CONNECT (`:protocol websocket`), the server answers `200`, and the stream
//! then carries WebSocket frames. There is no `Sec-WebSocket-Key` and no
//! `101`: the h2 stream itself is the handshake.
//!
//! The WebSocket is one stream among the connection's others, so the feed
//! cannot write to the socket directly: the session takes changes from a
//! queued subscription instead (see `session/outgoing.rs`).

use http::{HeaderMap, Method, StatusCode};
use hyper::upgrade::OnUpgrade;
use pollpush_shared::Problem;
use warp::reply::Response;

use super::session::Outgoing;
use super::{refused, spawn_session};
use crate::reply::problem_response;
use crate::state::State;
use crate::stats::ConnTag;
use crate::watchdog::Streams;

/// An HTTP/2 extended CONNECT asking for a WebSocket.
pub fn is_extended_connect(method: &Method, protocol: Option<&hyper::ext::Protocol>) -> bool {
    method == Method::CONNECT && protocol.is_some_and(|p| p.as_str() == "websocket")
}

/// What the request brings for the session.
pub struct Connect {
    pub on_upgrade: Option<OnUpgrade>,
    pub tag: Option<ConnTag>,
    pub streams: Option<Streams>,
    /// Presented the write token (or none is needed).
    pub may_write: bool,
}

/// Answers the extended CONNECT and starts the session on the stream.
pub fn upgrade(state: &State, headers: &HeaderMap, connect: Connect) -> Response {
    let Connect {
        on_upgrade,
        tag,
        streams,
        may_write,
    } = connect;
    if let Some(refused) = refused(state, headers) {
        return refused;
    }
    let Some(on_upgrade) = on_upgrade else {
        // hyper gives every CONNECT stream an upgrade; without one the stream cannot carry frames.
        return problem_response(&Problem::new(
            "upgrade-unavailable",
            "Bad Request",
            400,
            "this stream cannot carry a WebSocket",
        ));
    };
    // The connection's bytes move to the WebSocket counters, as SSE does for
    // its streams: counted per connection, not per h2 stream.
    if let Some(tag) = tag {
        tag.mark(crate::stats::Protocol::WebSocket);
    }
    // The connection stays hyper's: the session keeps it from looking idle
    // to the watchdog for as long as it lives, however quiet.
    let live = streams.as_ref().map(Streams::open);
    spawn_session(state, on_upgrade, Outgoing::queued(), may_write, live);
    let mut r = Response::new(bytes::Bytes::new().into());
    *r.status_mut() = StatusCode::OK;
    r
}
