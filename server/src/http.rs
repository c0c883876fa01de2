//! The accept loop: hyper serving warp's routes on sockets that count their bytes.
//!
//! We own the loop (rather than `warp::serve`) to wrap every socket in a
//! [`Wire`] (which counts its bytes and lets the change feed write to an
//! upgraded WebSocket directly), to tag each request with its connection (so a WebSocket
//! upgrade can move the connection's bytes to the WebSocket counters), to add
//! CORS headers in one place, to bound header sizes and deadlines
//! ([`watchdog`]), and to shut down gracefully.

pub mod auth;
mod watchdog;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_service::Service;

use crate::State;
use crate::stats::{ConnCounter, ConnTag, Protocol};
use crate::wire::Wire;
use watchdog::{Requests, Watchdog};

/// Serves `service` (socket.io in front of warp's routes) until `shutdown`
/// resolves, then lets in-flight requests finish (up to 10 s).
pub async fn serve<S, B>(
    listener: TcpListener,
    state: State,
    routes: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = bytes::Bytes> + Default + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let tag = ConnTag::new(state.stats.clone());
        let wire = Wire::new(tcp, ConnCounter(tag.clone()));
        let io = TokioIo::new(wire.clone());
        let requests = Arc::new(Requests::default());
        let watchdog = Watchdog::new(tag.clone(), requests.clone(), &state.config.http);
        let limits = state.config.http.clone();
        let state = state.clone();
        let routes = routes.clone();
        let svc = hyper::service::service_fn(move |req| {
            let in_flight = requests.dispatch();
            let answered = handle(
                req,
                tag.clone(),
                wire.clone(),
                state.clone(),
                routes.clone(),
            );
            async move {
                let response = answered.await;
                drop(in_flight);
                response
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // A header section over the limit fills hyper's read buffer: it answers 431 and closes.
        // The header deadline is the watchdog's, not hyper's (which also cuts idle keep-alives).
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_LIMIT));
        builder
            .http2()
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        let conn = graceful.watch(builder.serve_connection_with_upgrades(io, svc).into_owned());
        tokio::spawn(watch(conn, watchdog));
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests were still running after 10 s");
    }
}

/// hyper's smallest read buffer: a lower header limit cannot be enforced.
const MIN_HEADER_LIMIT: usize = 8 * 1024;

/// Drives one connection until it ends, upgrades, or the watchdog closes it
/// (dropping the connection closes its socket).
async fn watch<E: std::fmt::Display>(
    conn: impl Future<Output = Result<(), E>>,
    mut watchdog: Watchdog,
) {
    let mut conn = std::pin::pin!(conn);
    let mut tick = tokio::time::interval(watchdog.period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ended = &mut conn => {
                if let Err(e) = ended {
                    tracing::debug!("connection ended with an error: {e}");
                }
                return;
            }
            now = tick.tick() => {
                if let Some(verdict) = watchdog.check(now) {
                    tracing::debug!("closing a connection: {verdict}");
                    return;
                }
            }
        }
    }
}

async fn handle<S, B>(
    mut req: Request<Incoming>,
    tag: ConnTag,
    wire: Wire,
    state: State,
    mut routes: S,
) -> Result<http::Response<B>, Infallible>
where
    S: Service<Request<Incoming>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: Default,
{
    let origin = req.headers().get(ORIGIN).cloned();
    let allowed = origin.as_ref().filter(|o| state.cors_allows(o));
    let response = if req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        preflight(req.headers(), allowed.is_some())
    } else {
        if req.uri().path().starts_with("/socket.io/") {
            // Capped like /ws and SSE, so a socket.io client that stops
            // reading fills its buffer soon and meets the same bounded queue.
            if let Some(bytes) = state.config.send_buffer_bytes {
                wire.cap_send_buffer(bytes);
            }
            tag.mark(Protocol::SocketIo);
        }
        req.extensions_mut().insert(tag.clone());
        req.extensions_mut().insert(wire);
        match routes.call(req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("socket.io service error: {e:?}");
                let mut r = http::Response::new(B::default());
                *r.status_mut() = StatusCode::BAD_REQUEST;
                r
            }
        }
    };
    let mut response = response;
    // socket.io's polling requests are socket.io traffic, not REST requests.
    if response.status() != StatusCode::SWITCHING_PROTOCOLS && tag.is_rest() {
        state.stats.record_response(response.status().as_u16());
    }
    tag.settle();
    if let Some(origin) = allowed {
        add_cors(response.headers_mut(), origin.clone());
    }
    Ok(response)
}

/// Echoes the origin (so `Origin: null` from a `file://` page and socket.io's
/// credentialed polling both work) rather than answering `*`.
fn add_cors(h: &mut HeaderMap, origin: HeaderValue) {
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    h.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag, X-Revision, Location, WWW-Authenticate"),
    );
    h.append(VARY, HeaderValue::from_static("Origin"));
}

fn preflight<B: Default>(req: &HeaderMap, allowed: bool) -> http::Response<B> {
    let mut r = http::Response::new(B::default());
    if !allowed {
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    );
    let asked = req
        .get(ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type, if-none-match"));
    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked);
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    r
}

/// Whether `origin` may use the API, given the configured list (empty: any).
pub fn origin_allowed(list: &Arc<Vec<String>>, origin: &HeaderValue) -> bool {
    list.is_empty()
        || origin
            .to_str()
            .is_ok_and(|o| list.iter().any(|allowed| allowed == o || allowed == "*"))
}
