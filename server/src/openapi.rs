//! The OpenAPI 3 document, generated from the shared Rust types, and the
//! Swagger UI that renders it, served from files compiled into the binary.
//!
//! The functions below carry only the route documentation; the schemas come
//! from `#[derive(ToSchema)]` on the wire types, so the document follows them.
//! What depends on how the server runs (a write token or none) is added per
//! configuration, so the document served is the server that serves it.
#![allow(dead_code, clippy::unused_async)]

mod events;
mod feeds;
mod write_token;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use pollpush_shared::{NewSpecies, Problem, Species, UpdateSpecies};
use utoipa::OpenApi;
use warp::reply::Response;

/// List every species, sorted by id. With `If-None-Match` and `Prefer: wait=N`
/// this is a long-poll: held until the list differs from the client's, at most N seconds.
#[utoipa::path(get, path = "/species", tag = "species",
    params(
        ("If-None-Match" = Option<String>, Header, description = "ETag of a list the client holds"),
        ("Prefer" = Option<String>, Header, description = "`wait=N` (RFC 7240): with If-None-Match, hold the request until the list changes or N seconds pass (N is clamped to 60; a wait that is not a number is ignored)"),
    ),
    responses(
        (status = 200, description = "The species, sorted by id", body = [Species],
         headers(("ETag" = String, description = "Changes exactly when the list changes"),
                 ("X-Revision" = u64, description = "The revision this node serves"),
                 ("Preference-Applied" = String, description = "`wait=N`, the wait honoured, on held requests"))),
        (status = 304, description = "The list still matches If-None-Match (for a held request: nothing changed within the wait)"),
        (status = 503, description = "Too many held requests; see Retry-After", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds"))),
    ))]
fn list_species() {}

/// Every change as Server-Sent Events: `event: snapshot` (the list) first, then
/// `id: R`, `event: change` and, as data, the same change message `/ws` sends;
/// `event: resync` and a new snapshot when the stream fell behind; a comment
/// line every 15 s. `Last-Event-ID` (an `EventSource` reconnecting) or `since`
/// resumes after that revision.
#[utoipa::path(get, path = "/species/events", tag = "species",
    params(
        ("since" = Option<u64>, Query, maximum = 9_223_372_036_854_775_807_i64, description = "Resume after this revision (a snapshot if it is too old). Revisions are stored as 64-bit signed integers: a larger number gets 400"),
        ("Last-Event-ID" = Option<String>, Header, description = "Like since; a value that is not a whole number gets a snapshot, a whole number over 9223372036854775807 gets 400"),
    ),
    responses(
        (status = 200, description = "An endless text/event-stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "since (or Last-Event-ID) is not a revision this server can hold", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many open streams; see Retry-After", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds"))),
    ))]
fn species_events() {}

/// The `{id}` of `/species/{id}`. The server reads it as decimal digits only
/// (`/species/2.0` is a `400`, not species 2), so it is described as such a
/// string rather than as an integer, which a URL may spell `2.0`; up to 19
/// digits after any leading zeros always fit the server's 64-bit ids.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct SpeciesPath {
    /// Species id: a positive integer, in decimal digits
    #[param(pattern = r"^0*[1-9][0-9]{0,18}$", example = "1")]
    id: String,
}

/// Create a species.
#[utoipa::path(post, path = "/species", tag = "species", request_body = NewSpecies,
    responses(
        (status = 201, description = "Created", body = Species,
         headers(("Location" = String, description = "/species/{id}"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The requested id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Body fails validation", body = Problem, content_type = "application/problem+json"),
    ))]
fn create_species() {}

/// One species.
#[utoipa::path(get, path = "/species/{id}", tag = "species",
    params(SpeciesPath),
    responses(
        (status = 200, description = "The species", body = Species),
        (status = 400, description = "The id is not a positive integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such species", body = Problem, content_type = "application/problem+json"),
    ))]
fn get_species() {}

/// Replace a species' name and, when given, its observation count.
#[utoipa::path(put, path = "/species/{id}", tag = "species", request_body = UpdateSpecies,
    params(SpeciesPath),
    responses(
        (status = 200, description = "Replaced", body = Species),
        (status = 400, description = "Malformed JSON or id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such species", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Body fails validation", body = Problem, content_type = "application/problem+json"),
    ))]
fn put_species() {}

/// Delete a species.
#[utoipa::path(delete, path = "/species/{id}", tag = "species",
    params(SpeciesPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a positive integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such species", body = Problem, content_type = "application/problem+json"),
    ))]
fn delete_species() {}

/// Liveness: the store is open.
#[utoipa::path(get, path = "/healthz", tag = "server",
    responses((status = 200, description = "`{\"status\":\"ok\"}`")))]
fn healthz() {}

/// Readiness, for load balancers: the store answers and, if configured, the broker is connected.
#[utoipa::path(get, path = "/readyz", tag = "server",
    responses(
        (status = 200, description = "`{\"status\":\"ready\"}`"),
        (status = 503, description = "The detail names what is unreachable: store, broker, or a feed whose last poll failed", body = Problem, content_type = "application/problem+json"),
    ))]
fn readyz() {}

/// The server's own counters (traffic on the wire, CPU, RSS) as JSON.
#[utoipa::path(get, path = "/stats", tag = "server",
    responses((status = 200, description = "Counters, see the README")))]
fn stats() {}

/// The same counters in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "server",
    responses((status = 200, description = "Prometheus exposition", content_type = "text/plain")))]
fn metrics() {}

#[derive(OpenApi)]
#[openapi(
    info(title = "pollpush", description = "The species API of the talk \"Rest ou WebSocket\", with push of every change on /ws."),
    paths(list_species, species_events, create_species, get_species, put_species, delete_species, feeds::list_feed, feeds::feed_events, healthz, readyz, stats, metrics),
    components(schemas(Species, NewSpecies, UpdateSpecies, Problem, pollpush_shared::FeedMessage, pollpush_shared::FeedChange, pollpush_shared::FeedOp)),
    tags((name = "species", description = "species operations"), (name = "feeds", description = "upstream REST APIs this server polls and pushes (--feed NAME=URL)"), (name = "server", description = "health and cost"))
)]
struct ApiDoc;

/// The OpenAPI document as JSON, rendered once per shape: `guarded` is
/// whether the server runs with `--write-token`, which decides what the
/// writes declare.
pub fn document(guarded: bool) -> Bytes {
    static DOCS: [OnceLock<Bytes>; 2] = [OnceLock::new(), OnceLock::new()];
    DOCS[usize::from(guarded)]
        .get_or_init(|| Bytes::from(serde_json::to_vec_pretty(&build(guarded)).unwrap_or_default()))
        .clone()
}

/// The document as the server with (or without) a write token serves it.
pub fn build(guarded: bool) -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    env!("CARGO_PKG_VERSION").clone_into(&mut doc.info.version);
    if guarded {
        write_token::require(&mut doc);
    }
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    events::describe(&mut doc);
    doc
}

/// A file of the Swagger UI at `/docs/{tail}`, pointed at `/openapi.json`.
pub fn swagger_file(tail: &str) -> Option<Response> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let config = CONFIG
        .get_or_init(|| Arc::new(utoipa_swagger_ui::Config::from("/openapi.json")))
        .clone();
    let file = utoipa_swagger_ui::serve(tail, config).ok()??;
    let mut r = Response::new(Bytes::from(file.bytes.into_owned()).into());
    *r.status_mut() = StatusCode::OK;
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    Some(r)
}
