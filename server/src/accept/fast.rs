//! `GET /species/`, the hottest request, answered before socket.io and warp.
//!
//! Profiled under `wrk` (callgrind, `bench/rest_ceiling.sh`), socket.io's
//! service and warp's filter chain took more of each such request than hyper
//! itself: about 11,000 of 20,800 instructions (boxed filter futures moved
//! and dropped, a cloned header map, the request's extensions), against
//! 7,800 for a bare hyper server's whole request. The route's own handler
//! ([`rest::list_with`]) answers here, so the status, headers, 304 and body
//! are the route's; what the connection adds around every answer (CORS,
//! stats, header limits, deadlines) is applied the same to both. Everything
//! else, a held long-poll (`Prefer: wait`) included, takes the usual way.

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;

use crate::state::State;
use crate::{longpoll, rest};

/// The answer to a plain read of the species list, or `None` when `req` is
/// anything else.
pub fn species_list<T>(state: &State, req: &Request<T>) -> Option<Response<Full<Bytes>>> {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    // The paths warp's collection route matches; a query string changes nothing there either.
    let collection = matches!(req.uri().path(), "/species" | "/species/");
    (read && collection && longpoll::requested_wait(req.headers()).is_none())
        .then(|| rest::list_with(state, req.headers(), Full::new))
}
