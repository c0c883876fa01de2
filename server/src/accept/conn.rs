//! Answers the requests of one connection: the fast path or the routes
//! (socket.io in front of warp), then what every answer gets (stats, CORS).
//!
//! The parts a request needs are kept once per connection, not cloned per
//! request: cloning the shared `State` and routes bumps reference counts that
//! every connection on both cores writes to. The routes' future is boxed, so
//! a fast answer is a few words for hyper to move, not the size of warp's
//! and socket.io's futures together.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;

use futures_util::future;
use http::header::ACCESS_CONTROL_REQUEST_METHOD;
use http::{HeaderValue, Method, Request, StatusCode, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use tower_service::Service;

use super::{Answer, add_cors, allowed_origin, fast, preflight};
use crate::state::State;
use crate::stats::{ConnTag, Protocol};
use crate::watchdog::{Requests, Streams};
use crate::wire::Wire;

/// What every request of one connection needs.
pub struct Conn<S> {
    pub tag: ConnTag,
    pub wire: Wire,
    pub state: State,
    pub routes: S,
    pub requests: Arc<Requests>,
}

type Answered<B> = Result<Answer<B>, Infallible>;
type Routed<B> = Pin<Box<dyn Future<Output = Answered<B>> + Send>>;

impl<S, B> Conn<S>
where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
    B: Default + Send + 'static,
{
    /// Answers `req`: at once when the fast path knows it, else through the routes.
    pub fn answer(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> future::Either<Ready<Answered<B>>, Routed<B>> {
        let in_flight = self.requests.dispatch();
        // In cleartext the first request tells h2c from HTTP/1.1 (hyper read the preface).
        if req.version() == Version::HTTP_2 && !self.tag.is_h2() {
            self.tag.speaks_h2();
        }
        let origin = allowed_origin(&self.state, req.headers());
        if let Some(list) = fast::species_list(&self.state, &req) {
            let response = self.finish(list.map(Either::Right), origin);
            drop(in_flight);
            return future::Either::Left(ready(Ok(response)));
        }
        let conn = self.clone();
        future::Either::Right(Box::pin(async move {
            let response = conn.route(req, origin.is_some()).await;
            let response = conn.finish(response, origin);
            drop(in_flight);
            Ok(response)
        }))
    }

    async fn route(&self, mut req: Request<Incoming>, origin_allowed: bool) -> Answer<B> {
        if req.method() == Method::OPTIONS
            && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
        {
            return preflight(req.headers(), origin_allowed).map(Either::Left);
        }
        if req.uri().path().starts_with("/socket.io/") {
            // Capped like /ws and SSE, so a socket.io client that stops
            // reading fills its buffer soon and meets the same bounded queue.
            if let Some(bytes) = self.state.config.send_buffer_bytes {
                self.wire.cap_send_buffer(bytes);
            }
            self.tag.mark(Protocol::SocketIo);
            detach_from_read_buffer(&mut req);
        }
        req.extensions_mut().insert(self.tag.clone());
        req.extensions_mut().insert(self.wire.clone());
        // Lets a stream (SSE, /ws over HTTP/2) keep the connection busy for its life.
        req.extensions_mut().insert(Streams(self.requests.clone()));
        let routed = match self.routes.clone().call(req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("socket.io service error: {e:?}");
                let mut r = http::Response::new(B::default());
                *r.status_mut() = StatusCode::BAD_REQUEST;
                r
            }
        };
        routed.map(Either::Left)
    }

    /// What every answer gets, however it was made.
    fn finish(&self, mut response: Answer<B>, origin: Option<HeaderValue>) -> Answer<B> {
        finish(&self.state, &self.tag, &mut response, origin);
        response
    }
}

/// What every answer gets, on hyper's path or off it (`lists.rs`): it is
/// counted, the request's bytes settled, and CORS added.
pub fn finish<B>(
    state: &State,
    tag: &ConnTag,
    response: &mut http::Response<B>,
    origin: Option<HeaderValue>,
) {
    // socket.io's polling requests are socket.io traffic, not REST requests.
    if response.status() != StatusCode::SWITCHING_PROTOCOLS && tag.is_rest() {
        state.stats.record_response(response.status().as_u16());
    }
    tag.settle();
    if let Some(origin) = origin {
        add_cors(response.headers_mut(), origin);
    }
}

/// Gives `req` a URI and headers of its own. hyper parses them as slices of
/// the connection's read buffer (8-16 KiB), and socketioxide keeps a socket's
/// request parts for its whole life, so each socket.io socket kept that
/// buffer alive: 17 KB of its 32 KB in a heap profile of 5,000 sockets.
fn detach_from_read_buffer<B>(req: &mut Request<B>) {
    let headers = std::mem::take(req.headers_mut());
    let mut owned = http::HeaderMap::with_capacity(headers.len());
    let mut last_name = None;
    for (name, value) in headers {
        // `None` repeats the previous name (a header given several times).
        let name = match name {
            Some(name) => last_name.insert(owned_name(&name)).clone(),
            None => match &last_name {
                Some(name) => name.clone(),
                None => continue,
            },
        };
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            owned.append(name, value);
        }
    }
    *req.headers_mut() = owned;
    if let Ok(uri) = http::Uri::try_from(req.uri().to_string()) {
        *req.uri_mut() = uri;
    }
}

/// A copy of `name` that shares no buffer (standard names are static anyway).
fn owned_name(name: &http::HeaderName) -> http::HeaderName {
    http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap_or_else(|_| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_request_keeps_every_header_and_its_uri() {
        let mut req = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket")
            .header("x-custom", "a")
            .header("x-custom", "b")
            .header("cookie", "k=v")
            .body(())
            .expect("a request");
        let before = (req.uri().clone(), req.headers().clone());
        detach_from_read_buffer(&mut req);
        assert_eq!((req.uri().clone(), req.headers().clone()), before);
        let repeated: Vec<_> = req.headers().get_all("x-custom").iter().collect();
        assert_eq!(repeated, ["a", "b"]);
    }
}
