//! Which path goes to which handler. Every route answers (never rejects), so
//! the last one is the 404 for unknown paths; methods are checked by the
//! handlers, which know what to put in `Allow`.

use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use pollpush_shared::Problem;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::reply::{json_response, method_not_allowed, problem_response};
use crate::state::State;
use crate::stats::ConnTag;
use crate::{longpoll, openapi, rest, sse, ws};

/// Every route of the server.
pub fn routes(state: &State) -> BoxedFilter<(Response,)> {
    ws::route(state)
        .or(species(state))
        .unify()
        .or(crate::feeds::routes(state))
        .unify()
        .or(probes(state))
        .unify()
        .or(documents(state.config.write_token.is_some()))
        .unify()
        .or(static_pages(state.config.static_dir.clone()))
        .unify()
        .or(warp::any().map(not_found))
        .unify()
        .boxed()
}

/// A filter that hands every handler its own clone of the state.
fn with_state(state: &State) -> BoxedFilter<(State,)> {
    let state = state.clone();
    warp::any().map(move || state.clone()).boxed()
}

/// `/species/` (REST, or a held long-poll with `Prefer: wait`),
/// `/species/events` (SSE) and `/species/{id}`.
fn species(state: &State) -> BoxedFilter<(Response,)> {
    let collection = warp::path("species")
        .and(
            warp::path::end()
                .or(warp::path!("species" / ..).and(warp::path::end()))
                .unify(),
        )
        .and(with_state(state))
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(warp::ext::optional::<ConnTag>())
        .then(longpoll::or_rest);
    let events = warp::path!("species" / "events")
        .and(with_state(state))
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(
            warp::query::<std::collections::HashMap<String, String>>()
                .or(warp::any().map(std::collections::HashMap::new))
                .unify(),
        )
        .and(warp::ext::optional::<ConnTag>())
        .and(warp::ext::optional::<crate::wire::Wire>())
        .and(warp::ext::optional::<crate::watchdog::Streams>())
        .then(sse::events);
    let item = warp::path!("species" / String)
        .and(with_state(state))
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(|id, state, method, headers, body| rest::item(state, id, method, headers, body));
    collection.or(events).unify().or(item).unify().boxed()
}

/// `/healthz` (liveness), `/readyz` (readiness, for load balancers: 503
/// while the store or the broker is unreachable), `/stats` and `/metrics`.
fn probes(state: &State) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz").and(warp::method()).map(|method| {
        read_only(&method, || {
            json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
        })
    });
    let readyz = warp::path!("readyz")
        .and(with_state(state))
        .and(warp::method())
        .map(|state: State, method| {
            read_only(&method, || match state.unready() {
                None => json_response(StatusCode::OK, &serde_json::json!({"status": "ready"})),
                Some(problem) => problem_response(&problem),
            })
        });
    let stats = warp::path!("stats")
        .and(with_state(state))
        .and(warp::method())
        .map(|state: State, method| {
            read_only(&method, || {
                json_response(StatusCode::OK, &state.stats_snapshot())
            })
        });
    let metrics = warp::path!("metrics")
        .and(with_state(state))
        .and(warp::method())
        .map(|state: State, method| {
            read_only(&method, || {
                let text = crate::metrics::render(&state.stats_snapshot());
                typed(text.into(), "text/plain; version=0.0.4; charset=utf-8")
            })
        });
    healthz
        .or(readyz)
        .unify()
        .or(stats)
        .unify()
        .or(metrics)
        .unify()
        .boxed()
}

/// `/openapi.json` (and `/swagger.json`), Swagger UI at `/docs/` and
/// `/asyncapi.json`. The OpenAPI document says what this server asks of
/// writers: a token (`guarded`) or nothing.
fn documents(guarded: bool) -> BoxedFilter<(Response,)> {
    let openapi = warp::path("openapi.json")
        .or(warp::path("swagger.json"))
        .unify()
        .and(warp::path::end())
        .and(warp::method())
        .map(move |method| {
            read_only(&method, || {
                typed(openapi::document(guarded), "application/json")
            })
        });
    // warp ignores a trailing slash, so tell `/docs` from `/docs/` by the full path:
    // the UI's relative asset links only work under `/docs/`.
    let docs = warp::path("docs")
        .and(warp::path::full())
        .and(warp::path::tail())
        .map(|full: warp::path::FullPath, tail: warp::path::Tail| {
            if full.as_str() == "/docs" {
                warp::redirect::see_other(http::Uri::from_static("/docs/")).into_response()
            } else {
                openapi::swagger_file(tail.as_str()).unwrap_or_else(not_found)
            }
        });
    let asyncapi = warp::path!("asyncapi.json")
        .and(warp::method())
        .map(|method| {
            read_only(&method, || {
                typed(crate::asyncapi::document(), "application/json")
            })
        });
    openapi.or(docs).unify().or(asyncapi).unify().boxed()
}

/// A 200 of `body` as `content_type`.
fn typed(body: Bytes, content_type: &'static str) -> Response {
    let mut r = Response::new(body.into());
    r.headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    r
}

/// `--static DIR` at `/`: the user's own pages. warp's `fs::dir` refuses `..`
/// and serves content types; dotfiles are refused here; `/` serves `index.html`.
fn static_pages(dir: Option<std::path::PathBuf>) -> BoxedFilter<(Response,)> {
    let Some(dir) = dir else {
        return warp::any()
            .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
            .boxed();
    };
    warp::get()
        .and(warp::path::peek())
        .and_then(|tail: warp::path::Peek| async move {
            if tail
                .as_str()
                .split('/')
                .any(|seg| seg.starts_with('.') || seg.starts_with("%2e") || seg.starts_with("%2E"))
            {
                Err(warp::reject::not_found())
            } else {
                Ok(())
            }
        })
        .untuple_one()
        .and(warp::fs::dir(dir))
        .map(|file: warp::fs::File| file.into_response())
        .boxed()
}

fn read_only(method: &http::Method, answer: impl FnOnce() -> Response) -> Response {
    if method == http::Method::GET || method == http::Method::HEAD {
        answer()
    } else {
        method_not_allowed("GET, HEAD")
    }
}

/// The 404 for every path no route knows.
pub fn not_found() -> Response {
    problem_response(&Problem::new(
        "not-found",
        "Not Found",
        404,
        "no such resource; see /docs for the API",
    ))
}
