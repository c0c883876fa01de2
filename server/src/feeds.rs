//! The upstream feeds ([`crate::gateway`]) on the HTTP lanes, with the species feed's rules: `GET /feeds/NAME`
//! (ETag and `304`, long-poll with `If-None-Match` and `Prefer: wait=N`) and
//! `GET /feeds/NAME/events` (SSE: a snapshot, then each change with `id: R`;
//! `Last-Event-ID` or `?since=R` resumes; `event: resync` and a snapshot when
//! the history no longer covers it or the stream fell behind).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use http::header::IF_NONE_MATCH;
use http::{HeaderMap, Method};
use pollpush_shared::Problem;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::gateway::feed::Feed;
use crate::gateway::subscription::{Lane, Subscription};
use crate::longpoll::{self, Waited};
use crate::reply::{method_not_allowed, problem_response};
use crate::rest::{conditional_list, etag_matches};
use crate::shutdown::Shutdown;
use crate::sse::{self, KEEP_ALIVE};
use crate::state::State;
use crate::watchdog::{InFlight, Streams};

/// `/feeds/NAME` and `/feeds/NAME/events`: the one hook `routes.rs` takes.
pub fn routes(state: &State) -> BoxedFilter<(Response,)> {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };
    let list = warp::path!("feeds" / String)
        .and(with_state.clone())
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .then(list);
    let events = warp::path!("feeds" / String / "events")
        .and(with_state)
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(
            warp::query::<HashMap<String, String>>()
                .or(warp::any().map(HashMap::new))
                .unify(),
        )
        .and(warp::ext::optional::<Streams>())
        .then(events);
    list.or(events).unify().boxed()
}

fn unknown(name: &str) -> Response {
    problem_response(&Problem::new(
        "not-found",
        "Not Found",
        404,
        format!("no feed named {name:?}; feeds are given with --feed NAME=URL"),
    ))
}

/// `GET /feeds/NAME`: the items, or held until they differ from the client's.
async fn list(name: String, state: State, method: Method, headers: HeaderMap) -> Response {
    let Some(feed) = state.feeds.get(&name).cloned() else {
        return unknown(&name);
    };
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed("GET, HEAD");
    }
    let answer = |feed: &Feed| {
        let view = feed.view();
        conditional_list(&view.body, view.etag(), &view.headers, &headers, Into::into)
    };
    let (Some(wanted), Some(known)) = (
        longpoll::requested_wait(&headers),
        headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()),
    ) else {
        return answer(&feed);
    };
    let wait = wanted.min(longpoll::MAX_WAIT_S);
    let held = &feed.counters.longpoll_held;
    if held.fetch_add(1, Relaxed) >= state.config.max_held as u64 {
        held.fetch_sub(1, Relaxed);
        return longpoll::too_many(&state);
    }
    let _held = Count(held);
    // Changed, timed out or shutting down, the answer is the items now (or a 304).
    let _: Waited = longpoll::wait_for_change(
        || !etag_matches(known, feed.view().etag()),
        feed.watch(),
        wait,
        state.shutdown.clone(),
    )
    .await;
    longpoll::applied(answer(&feed), wait)
}

/// Counts one held request or open stream while it lives.
struct Count<'a>(&'a AtomicU64);

impl Drop for Count<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// `GET /feeds/NAME/events`.
async fn events(
    name: String,
    state: State,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    streams: Option<Streams>,
) -> Response {
    let Some(feed) = state.feeds.get(&name).cloned() else {
        return unknown(&name);
    };
    if method != Method::GET {
        return method_not_allowed("GET");
    }
    let since = match sse::requested_since(&query, &headers) {
        Ok(since) => since,
        Err(e) => return problem_response(&e.problem()),
    };
    // Each feed has as many streams as the species feed may have.
    let limit = state.config.max_streams;
    let Some(subscription) = Subscription::start(feed, Lane::Sse, since, (None, Some(limit))).await
    else {
        return sse::too_many_streams(limit);
    };
    let pump = Pump {
        subscription,
        keep_alive: tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE),
        shutdown: state.shutdown.clone(),
        _live: streams.as_ref().map(Streams::open),
    };
    let body = futures_util::stream::unfold(pump, |mut pump| async move {
        let event = pump.next_event().await?;
        Some((Ok::<_, std::convert::Infallible>(event), pump))
    });
    sse::stream_response(Box::pin(body))
}

/// One stream's events, made as hyper asks for the next chunk.
struct Pump {
    subscription: Subscription,
    keep_alive: tokio::time::Interval,
    shutdown: Shutdown,
    /// The connection is not idle while the stream is open, however quiet.
    _live: Option<InFlight>,
}

impl Pump {
    async fn next_event(&mut self) -> Option<Bytes> {
        tokio::select! {
            due = self.subscription.next() => due.map(|due| due.sse()),
            _ = self.keep_alive.tick() => Some(Bytes::from_static(b": keep-alive\n\n")),
            () = self.shutdown.wait() => None,
        }
    }
}
