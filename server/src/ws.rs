//! `GET /ws`: the WebSocket upgrade, done by hand so each idle connection is cheap.
//!
//! Stock `warp::ws()` gives tungstenite its default 128 KiB read buffer, which is
//! zero-filled on the first read: ~130 KB of RSS per idle subscriber. Answering
//! the `101` ourselves and wrapping hyper's upgraded socket with a small
//! `WebSocketConfig` brings that to a few KB.
//!
//! Over HTTP/2 the same route answers RFC 8441's extended CONNECT ([`over_h2`]).

mod over_h2;
pub mod session;

use http::header::{
    CONNECTION, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use pollpush_shared::Problem;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::auth;
use crate::reply::{method_not_allowed, problem_response};
use crate::state::State;
use crate::stats::ConnTag;
use crate::watchdog::{InFlight, Streams};
use crate::wire::Wire;
use session::{Outgoing, Session};

/// Read buffer per connection: small, since client frames are small control messages.
pub(crate) const READ_BUFFER_BYTES: usize = 256;

/// The `/ws` route.
pub fn route(state: &State) -> BoxedFilter<(Response,)> {
    let state = state.clone();
    warp::path!("ws")
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::ext::optional::<OnUpgrade>())
        .and(warp::ext::optional::<hyper::ext::Protocol>())
        .and(warp::ext::optional::<ConnTag>())
        .and(warp::ext::optional::<Wire>())
        .and(warp::ext::optional::<Streams>())
        .map(
            move |method,
                  headers,
                  query: String,
                  on_upgrade: Option<OnUpgrade>,
                  protocol: Option<hyper::ext::Protocol>,
                  tag,
                  wire,
                  streams: Option<Streams>| {
                let token = auth::from_upgrade(&headers, Some(&query));
                let may_write =
                    auth::may_write(state.config.write_token.as_deref(), token.as_deref());
                if over_h2::is_extended_connect(&method, protocol.as_ref()) {
                    let connect = over_h2::Connect {
                        on_upgrade,
                        tag,
                        streams,
                        may_write,
                    };
                    return over_h2::upgrade(&state, &headers, connect);
                }
                upgrade(
                    &state,
                    &method,
                    &headers,
                    on_upgrade.zip(wire),
                    tag,
                    may_write,
                )
            },
        )
        .boxed()
}

fn upgrade(
    state: &State,
    method: &Method,
    headers: &HeaderMap,
    on_upgrade: Option<(OnUpgrade, Wire)>,
    tag: Option<ConnTag>,
    may_write: bool,
) -> Response {
    if method != Method::GET {
        return method_not_allowed("GET");
    }
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let key = headers.get(SEC_WEBSOCKET_KEY);
    let (Some(key), Some(on_upgrade), true, true) = (
        key,
        on_upgrade,
        has_token(UPGRADE, "websocket"),
        has_token(CONNECTION, "upgrade"),
    ) else {
        let mut r = problem_response(&Problem::new(
            "upgrade-required",
            "Upgrade Required",
            426,
            "/ws speaks WebSocket: connect with a WebSocket client",
        ));
        r.headers_mut()
            .insert(UPGRADE, HeaderValue::from_static("websocket"));
        return r;
    };
    if let Some(refused) = refused(state, headers) {
        return refused;
    }
    let accept = derive_accept_key(key.as_bytes());
    if let Some(tag) = tag {
        tag.mark(crate::stats::Protocol::WebSocket);
    }
    let (on_upgrade, wire) = on_upgrade;
    if let Some(bytes) = state.config.send_buffer_bytes {
        wire.cap_send_buffer(bytes);
    }
    // The connection leaves hyper, and its watchdog, with the upgrade.
    spawn_session(state, on_upgrade, Outgoing::direct(wire), may_write, None);
    let mut r = Response::new(bytes::Bytes::new().into());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// A version or origin this server does not take, on either HTTP version.
fn refused(state: &State, headers: &HeaderMap) -> Option<Response> {
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        let mut r = problem_response(&Problem::new(
            "bad-websocket-version",
            "Unsupported WebSocket version",
            400,
            "only WebSocket version 13 is supported",
        ));
        r.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Some(r);
    }
    if let Some(origin) = headers.get(ORIGIN)
        && !crate::auth::origin_allowed(&state.allowed_origins, origin)
    {
        return Some(problem_response(&Problem::new(
            "forbidden-origin",
            "Forbidden",
            403,
            "this origin may not open /ws",
        )));
    }
    None
}

/// Runs the session on the upgraded stream once hyper hands it over, with a
/// small read buffer and the message limit; `live` keeps the connection
/// busy until the session ends.
fn spawn_session(
    state: &State,
    on_upgrade: OnUpgrade,
    out: Outgoing,
    may_write: bool,
    live: Option<InFlight>,
) {
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(Some(state.config.ws.max_message_bytes))
        .max_frame_size(Some(state.config.ws.max_message_bytes));
    let pending = Box::new(Pending {
        on_upgrade,
        ws_config,
        out,
        state: state.clone(),
        may_write,
    });
    tokio::spawn(async move {
        if let Some(session) = Box::pin(pending.start()).await {
            session::run(session).await;
        }
        drop(live);
    });
}

/// What a session needs until its upgrade completes. Boxed, and started in a
/// boxed future of its own: a task keeps what it captured for as long as it
/// lives, so an idle session's task holds a pointer, not these (a heap
/// profile of 10,000 idle subscribers counted ~650 bytes each).
struct Pending {
    on_upgrade: OnUpgrade,
    ws_config: WebSocketConfig,
    out: Outgoing,
    state: State,
    may_write: bool,
}

impl Pending {
    async fn start(self: Box<Self>) -> Option<Box<Session<WebSocketStream<TokioIo<Upgraded>>>>> {
        let Self {
            on_upgrade,
            ws_config,
            out,
            state,
            may_write,
        } = *self;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config),
                )
                .await;
                Some(Box::new(Session::new(ws, out, state, may_write)))
            }
            Err(e) => {
                tracing::debug!("websocket upgrade failed: {e}");
                None
            }
        }
    }
}
