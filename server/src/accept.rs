//! The accept loop: hyper serving warp's routes on sockets that count their bytes.
//!
//! We own the loop (rather than `warp::serve`) to wrap every socket in a
//! [`Wire`] (which counts its bytes and lets the change feed write to an
//! upgraded WebSocket directly), to tag each request with its connection (so a WebSocket
//! upgrade can move the connection's bytes to the WebSocket counters), to add
//! CORS headers in one place, to bound header sizes and deadlines
//! ([`watchdog`]), and to shut down gracefully.

mod conn;
mod fast;
mod lists;
mod saturation;
mod sniff;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS,
};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tower_service::Service;

use crate::reply::add_cors;
use crate::state::State;
use crate::stats::{ConnCounter, ConnTag};
use crate::watchdog::{Requests, Watchdog};
use crate::wire::Wire;
use conn::Conn;
use pollpush_shared::counting::ByteCounter;

/// Serves `service` (socket.io in front of warp's routes) until `shutdown`
/// resolves, then lets in-flight requests finish (up to 10 s).
pub async fn serve<S, B>(
    listener: TcpListener,
    state: State,
    routes: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = bytes::Bytes> + Default + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut spare = saturation::Spare::open();
    loop {
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Back off instead of spinning; existing connections go on meanwhile.
                    saturation::accept_failed(&state, &listener, &mut spare, &e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        state.stats.saturation.accepted();
        let _ = tcp.set_nodelay(true);
        let connection = Connection {
            state: state.clone(),
            routes: routes.clone(),
            graceful: graceful.watcher(),
        };
        tokio::spawn(connection.serve(tcp));
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests were still running after 10 s");
    }
}

/// One accepted socket, served on a task of its own from the handshake on.
struct Connection<S> {
    state: State,
    routes: S,
    graceful: Watcher,
}

impl<S, B> Connection<S>
where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = bytes::Bytes> + Default + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// The TLS handshake if the server has TLS (within the header deadline,
    /// so a client that never says hello is closed), then HTTP/1.1 or HTTP/2
    /// until the connection ends.
    async fn serve(self, tcp: tokio::net::TcpStream) {
        let state = self.state;
        let tag = ConnTag::new(state.stats.clone());
        // One counter for the connection's life: dropping it counts its end.
        let counter = ConnCounter(tag.clone());
        let tls = match &state.config.tls {
            None => None,
            Some(config) => {
                let deadline = state.config.http.header_timeout;
                match tokio::time::timeout(deadline, crate::tls::accept(&tcp, config.clone())).await
                {
                    Ok(Ok((conn, handshake))) => {
                        counter.read(handshake.bytes_in);
                        counter.wrote(handshake.bytes_out);
                        state.stats.tls.handshake(&handshake);
                        if handshake.h2 {
                            tag.speaks_h2();
                        }
                        Some(conn)
                    }
                    Ok(Err(e)) => {
                        tracing::debug!("TLS handshake failed: {e}");
                        state.stats.tls.failed();
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake: no hello before the header deadline");
                        state.stats.tls.failed();
                        return;
                    }
                }
            }
        };
        let wire = Wire::with_tls(tcp, tls, counter);
        let requests = Arc::new(Requests::default());
        let watchdog = Watchdog::new(tag.clone(), requests.clone(), &state.config.http);
        let (routes, graceful) = (self.routes, self.graceful);
        let http = async {
            let mut wire = wire.clone();
            // An h2 connection (ALPN) has no HTTP/1.1 stream to find.
            let first = if tag.is_h2() {
                Bytes::new()
            } else {
                sniff::first_read(&mut wire).await?
            };
            if let Some(stream) = direct_stream(&state, &first) {
                return Ok(Direct::Stream(stream));
            }
            if let Some(read) = lists::ListRead::first(&first) {
                return Ok(Direct::Lists(read, routes, graceful));
            }
            let conn = hyper_conn(routes, graceful, &state, &tag, wire, requests, first);
            conn.await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Direct::None)
        };
        // Each on a task of its own: this one's future is sized for hyper's connection.
        match watch(http, watchdog).await {
            Some(Direct::Stream(stream)) => {
                tokio::spawn(stream.serve(state, wire, tag));
            }
            Some(Direct::Lists(read, routes, graceful)) => {
                tokio::spawn(lists_then_hyper(read, routes, graceful, state, wire, tag));
            }
            Some(Direct::None) | None => {}
        }
    }
}

/// What a connection goes on with, off hyper.
enum Direct<S> {
    None,
    Stream(crate::sse::Direct),
    /// Its requests read the species list: the routes and the shutdown
    /// watcher come along for the request that is not.
    Lists(lists::ListRead, S, Watcher),
}

/// A connection that reads the species list: served by [`lists`], then by
/// hyper from its first other request on.
async fn lists_then_hyper<S, B>(
    read: lists::ListRead,
    routes: S,
    graceful: Watcher,
    state: State,
    wire: Wire,
    tag: ConnTag,
) where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = bytes::Bytes> + Default + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let ended = lists::serve(state.clone(), wire.clone(), tag.clone(), read).await;
    let lists::Ended::Handover { read, since } = ended else {
        return;
    };
    let requests = Arc::new(Requests::default());
    let watchdog =
        Watchdog::new(tag.clone(), requests.clone(), &state.config.http).head_since(since);
    let conn = hyper_conn(routes, graceful, &state, &tag, wire, requests, read);
    // A task of its own, so the loop's stays small for the connections that never get here.
    tokio::spawn(async move { watch(conn, watchdog).await });
}

/// hyper serving a connection (HTTP/1.1 or HTTP/2) with `read`, what was
/// read of it already, in front; until it ends or the server shuts down.
fn hyper_conn<S, B>(
    routes: S,
    graceful: Watcher,
    state: &State,
    tag: &ConnTag,
    wire: Wire,
    requests: Arc<Requests>,
    read: Bytes,
) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send + use<S, B>
where
    S: Service<Request<Incoming>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = bytes::Bytes> + Default + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = Arc::new(Conn {
        tag: tag.clone(),
        wire: wire.clone(),
        state: state.clone(),
        routes,
        requests,
    });
    let svc = hyper::service::service_fn(move |req| conn.answer(req));
    let io = TokioIo::new(sniff::Rewind::new(read, wire));
    let conn = builder(&state.config.http)
        .serve_connection_with_upgrades(io, svc)
        .into_owned();
    graceful.watch(conn)
}

/// The SSE stream a connection's first bytes ask for, when it can be served
/// outside hyper.
fn direct_stream(state: &State, first: &[u8]) -> Option<crate::sse::Direct> {
    use crate::sse::Direct;
    let req = sniff::request(first, Direct::PATH.as_bytes())?;
    let origin = allowed_origin(state, req.headers());
    Direct::accept(state, &req, origin)
}

/// hyper's HTTP/1.1 and HTTP/2 settings for one connection.
fn builder(limits: &crate::config::HttpConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A header section over the limit fills hyper's read buffer: it answers 431 and closes.
    // The header deadline is the watchdog's, not hyper's (which also cuts idle keep-alives).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_LIMIT));
    // HTTP/2's own limits: streams per connection, the header rule, and
    // h2's bounds on resets (rapid reset, CVE-2023-44487) and on locally
    // reset streams, past which the connection gets GOAWAY.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams_per_connection)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(H2_PENDING_RESETS)
        .max_local_error_reset_streams(H2_LOCAL_RESETS)
        .enable_connect_protocol();
    builder
}

/// The request's `Origin`, if the API may answer it (CORS).
fn allowed_origin(state: &State, headers: &HeaderMap) -> Option<HeaderValue> {
    headers
        .get(http::header::ORIGIN)
        .filter(|o| state.cors_allows(o))
        .cloned()
}

/// The pause after a failed `accept()`.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Streams a client may reset before the server has answered them, per
/// connection (hyper's default is 20): more is a rapid-reset flood.
const H2_PENDING_RESETS: usize = 20;
/// Streams the server may reset for a client's errors before it ends the
/// connection with GOAWAY.
const H2_LOCAL_RESETS: usize = 1024;

/// hyper's smallest read buffer: a lower header limit cannot be enforced.
const MIN_HEADER_LIMIT: usize = 8 * 1024;

/// Drives one connection until it ends, upgrades, or the watchdog closes it
/// (dropping the connection closes its socket); what it ended with, or
/// `None` when it failed or the watchdog closed it.
async fn watch<T, E: std::fmt::Display>(
    conn: impl Future<Output = Result<T, E>>,
    mut watchdog: Watchdog,
) -> Option<T> {
    let mut conn = std::pin::pin!(conn);
    let mut tick = tokio::time::interval(watchdog.period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ended = &mut conn => {
                return ended
                    .inspect_err(|e| tracing::debug!("connection ended with an error: {e}"))
                    .ok();
            }
            now = tick.tick() => {
                if let Some(verdict) = watchdog.check(now) {
                    tracing::debug!("closing a connection: {verdict}");
                    return None;
                }
            }
        }
    }
}

/// An answer from the routes (`B`) or from the fast path.
type Answer<B> = http::Response<Either<B, Full<Bytes>>>;

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
