//! The OpenAPI 3 document, generated from the shared Rust types, and the
//! Swagger UI that renders it, served from files compiled into the binary.
//!
//! The functions below carry only the route documentation; the schemas come
//! from `#[derive(ToSchema)]` on the wire types, so the document follows them.
#![allow(dead_code, clippy::unused_async)]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use pollpush_shared::{NewSpecies, Problem, Species, UpdateSpecies};
use utoipa::OpenApi;
use warp::reply::Response;

/// List every species, sorted by id.
#[utoipa::path(get, path = "/species", tag = "species",
    params(("If-None-Match" = Option<String>, Header, description = "ETag of a list the client holds")),
    responses(
        (status = 200, description = "The species, sorted by id", body = [Species],
         headers(("ETag" = String, description = "Changes exactly when the list changes"),
                 ("X-Revision" = u64, description = "The store revision"))),
        (status = 304, description = "The list still matches If-None-Match"),
    ))]
fn list_species() {}

/// Create a species.
#[utoipa::path(post, path = "/species", tag = "species", request_body = NewSpecies,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Species,
         headers(("Location" = String, description = "/species/{id}"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A write token is set and this request lacks it", body = Problem, content_type = "application/problem+json",
         headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"pollpush\"`"))),
        (status = 409, description = "The requested id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Body fails validation", body = Problem, content_type = "application/problem+json"),
    ))]
fn create_species() {}

/// One species.
#[utoipa::path(get, path = "/species/{id}", tag = "species",
    params(("id" = u64, Path, minimum = 1, description = "Species id")),
    responses(
        (status = 200, description = "The species", body = Species),
        (status = 400, description = "The id is not a positive integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such species", body = Problem, content_type = "application/problem+json"),
    ))]
fn get_species() {}

/// Replace a species' name and, when given, its observation count.
#[utoipa::path(put, path = "/species/{id}", tag = "species", request_body = UpdateSpecies,
    params(("id" = u64, Path, minimum = 1, description = "Species id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = Species),
        (status = 400, description = "Malformed JSON or id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A write token is set and this request lacks it", body = Problem, content_type = "application/problem+json",
         headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"pollpush\"`"))),
        (status = 404, description = "No such species", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Body fails validation", body = Problem, content_type = "application/problem+json"),
    ))]
fn put_species() {}

/// Delete a species.
#[utoipa::path(delete, path = "/species/{id}", tag = "species",
    params(("id" = u64, Path, minimum = 1, description = "Species id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a positive integer", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A write token is set and this request lacks it", body = Problem, content_type = "application/problem+json",
         headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"pollpush\"`"))),
        (status = 404, description = "No such species", body = Problem, content_type = "application/problem+json"),
    ))]
fn delete_species() {}

/// Liveness: the store is open.
#[utoipa::path(get, path = "/healthz", tag = "server",
    responses((status = 200, description = "`{\"status\":\"ok\"}`")))]
fn healthz() {}

/// The server's own counters (traffic on the wire, CPU, RSS) as JSON.
#[utoipa::path(get, path = "/stats", tag = "server",
    responses((status = 200, description = "Counters, see the README")))]
fn stats() {}

/// The same counters in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "server",
    responses((status = 200, description = "Prometheus exposition", content_type = "text/plain")))]
fn metrics() {}

/// The bearer scheme the write operations declare: `--write-token` on the server.
struct WriteToken;

impl utoipa::Modify for WriteToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The server's --write-token (POLLPUSH_WRITE_TOKEN), needed by POST, PUT and DELETE \
                 when the server has one. Reads never need it.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&WriteToken),
    info(title = "pollpush", description = "The species API of the talk \"Rest ou WebSocket\", with push of every change on /ws."),
    paths(list_species, create_species, get_species, put_species, delete_species, healthz, stats, metrics),
    components(schemas(Species, NewSpecies, UpdateSpecies, Problem)),
    tags((name = "species", description = "species operations"), (name = "server", description = "health and cost"))
)]
struct ApiDoc;

/// The OpenAPI document as JSON, rendered once.
pub fn document() -> Bytes {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        env!("CARGO_PKG_VERSION").clone_into(&mut doc.info.version);
        Bytes::from(doc.to_pretty_json().unwrap_or_default())
    })
    .clone()
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
