//! The species REST API: handlers that turn requests into store calls and
//! store results into responses. Routing lives in `routes.rs`.

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::{CONTENT_TYPE, IF_NONE_MATCH, LOCATION};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use pollpush_shared::{NewSpecies, Problem, SpeciesId, UpdateSpecies, ValidationError};
use serde::de::DeserializeOwned;
use warp::reply::Response;

use crate::auth;
use crate::error::StoreError;
use crate::reply::{json_response, method_not_allowed, problem_response};
use crate::snapshot::X_REVISION;
use crate::state::State;
use crate::store::Mutation;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `/species` and `/species/`.
pub async fn collection<S, B>(state: State, method: Method, headers: HeaderMap, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    match method {
        Method::GET | Method::HEAD => list(&state, &headers),
        Method::POST if let Some(refused) = refuse_write(&state, &headers) => refused,
        Method::POST => match read_json::<NewSpecies, _, _>(&headers, body).await {
            Ok(new) => match new.validate() {
                Ok(()) => write(&state, Mutation::Create(new), StatusCode::CREATED).await,
                Err(v) => validation_response(&v),
            },
            Err(problem) => problem_response(&problem),
        },
        _ => method_not_allowed("GET, HEAD, POST, OPTIONS"),
    }
}

/// `/species/{id}`.
pub async fn item<S, B>(
    state: State,
    raw_id: String,
    method: Method,
    headers: HeaderMap,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let allowed = "GET, HEAD, PUT, DELETE, OPTIONS";
    if !matches!(
        method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE
    ) {
        return method_not_allowed(allowed);
    }
    if matches!(method, Method::PUT | Method::DELETE)
        && let Some(refused) = refuse_write(&state, &headers)
    {
        return refused;
    }
    let Some(id) = parse_id(&raw_id) else {
        return problem_response(&Problem::new(
            "bad-id",
            "Invalid species id",
            400,
            format!("species ids are positive integers, not {raw_id:?}"),
        ));
    };
    match method {
        Method::PUT => match read_json::<UpdateSpecies, _, _>(&headers, body).await {
            Ok(update) => match update.validate() {
                Ok(()) => write(&state, Mutation::Replace(id, update), StatusCode::OK).await,
                Err(v) => validation_response(&v),
            },
            Err(problem) => problem_response(&problem),
        },
        Method::DELETE => write(&state, Mutation::Delete(id), StatusCode::NO_CONTENT).await,
        _ => match state.source.snapshot().species.get(&id) {
            Some(species) => json_response(StatusCode::OK, species),
            None => store_error(&StoreError::NotFound(id)),
        },
    }
}

/// The `401` for a write without the server's write token, if it has one.
fn refuse_write(state: &State, headers: &HeaderMap) -> Option<Response> {
    let presented = auth::bearer(headers);
    let expected = state.config.write_token.as_deref();
    (!auth::may_write(expected, presented)).then(|| auth::unauthorized(presented.is_some()))
}

fn parse_id(raw: &str) -> Option<SpeciesId> {
    // Only plain decimal digits: no sign, no spaces, no leading `+`.
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<SpeciesId>().ok().filter(|&id| id > 0)
}

pub(crate) fn list(state: &State, headers: &HeaderMap) -> Response {
    list_with(state, headers, Into::into)
}

/// The list (or its `304`) in any body type: warp's for the routes, a plain
/// one for the connection's fast path (`accept/fast.rs`), so both send the same.
pub(crate) fn list_with<B>(
    state: &State,
    headers: &HeaderMap,
    body: impl FnOnce(Bytes) -> B,
) -> http::Response<B> {
    let snapshot = state.source.snapshot();
    let (list, etag) = snapshot.encoded();
    conditional_list(list, etag, snapshot.list_headers(), headers, body)
}

/// A list's `200`, or its `304` when `If-None-Match` names `etag`: the
/// species list and every upstream feed (`feeds.rs`) answer alike.
pub(crate) fn conditional_list<B>(
    list: &Bytes,
    etag: &str,
    cached: &crate::snapshot::ListHeaders,
    headers: &HeaderMap,
    body: impl FnOnce(Bytes) -> B,
) -> http::Response<B> {
    let not_modified = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| etag_matches(v, etag));
    let (status, headers, bytes) = if not_modified {
        (StatusCode::NOT_MODIFIED, &cached.not_modified, Bytes::new())
    } else {
        (StatusCode::OK, &cached.ok, list.clone())
    };
    let mut response = http::Response::new(body(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers.clone();
    response
}

/// `If-None-Match` matching per RFC 9110: a list of tags, weak comparison, or `*`.
pub(crate) fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Applies one write; `201` answers also say where the new species lives.
async fn write(state: &State, mutation: Mutation, status: StatusCode) -> Response {
    match state.source.write(mutation).await {
        Ok(change) => {
            let mut r = if status == StatusCode::NO_CONTENT {
                empty(status)
            } else {
                json_response(status, &change.species)
            };
            let h = r.headers_mut();
            if status == StatusCode::CREATED
                && let Ok(v) = HeaderValue::from_str(&format!("/species/{}", change.species.id))
            {
                h.insert(LOCATION, v);
            }
            h.insert(X_REVISION, HeaderValue::from(change.revision));
            r
        }
        Err(e) => store_error(&e),
    }
}

fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Bytes::new().into());
    *r.status_mut() = status;
    r
}

/// Reads a bounded JSON body and sorts every failure into the status it deserves.
async fn read_json<T, S, B>(headers: &HeaderMap, body: S) -> Result<T, Problem>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(Problem::new(
            "unsupported-media-type",
            "Unsupported Media Type",
            415,
            format!("send the body as application/json, not {content_type:?}"),
        ));
    }
    let bytes = read_body(body).await?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| json_problem(&e))?;
    Ok(value)
}

async fn read_body<S, B>(body: S) -> Result<Bytes, Problem>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| {
            Problem::new(
                "bad-body",
                "Unreadable body",
                400,
                format!("reading the body failed: {e}"),
            )
        })?;
        if buf.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(Problem::new(
                "payload-too-large",
                "Payload Too Large",
                413,
                format!("bodies are limited to {MAX_BODY_BYTES} bytes"),
            ));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            buf.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}

fn json_problem(e: &serde_path_to_error::Error<serde_json::Error>) -> Problem {
    use serde_json::error::Category;
    let inner = e.inner();
    match inner.classify() {
        Category::Data => {
            let path = e.path().to_string();
            let message = inner.to_string();
            // Missing and unknown fields are reported at the parent: name them from the message.
            let field = if path == "." {
                message.split('`').nth(1).unwrap_or("").to_owned()
            } else {
                path
            };
            let mut p = Problem::new("validation", "Invalid body", 422, message);
            if !field.is_empty() {
                p = p.with_field(&field);
            }
            p
        }
        _ => Problem::new(
            "malformed-json",
            "Malformed JSON",
            400,
            format!("the body is not valid JSON: {inner}"),
        ),
    }
}

fn validation_response(v: &ValidationError) -> Response {
    problem_response(
        &Problem::new(
            "validation",
            "Invalid body",
            422,
            format!("{}: {}", v.field, v.reason),
        )
        .with_field(v.field),
    )
}

/// Maps store failures to statuses; only a broken disk is a 5xx.
fn store_error(e: &StoreError) -> Response {
    let problem = match e {
        StoreError::NotFound(id) => Problem::new(
            "not-found",
            "Not Found",
            404,
            format!("no species with id {id}"),
        ),
        StoreError::Conflict(id) => Problem::new(
            "conflict",
            "Conflict",
            409,
            format!("species {id} already exists"),
        )
        .with_field("id"),
        other => {
            tracing::error!("store failure: {other}");
            Problem::new(
                "store",
                "Store unavailable",
                503,
                "the store could not complete the write",
            )
        }
    };
    problem_response(&problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_plain_positive_integers() {
        assert_eq!(parse_id("1"), Some(1));
        assert_eq!(parse_id("0"), None);
        assert_eq!(parse_id("-1"), None);
        assert_eq!(parse_id("+1"), None);
        assert_eq!(parse_id("1.0"), None);
        assert_eq!(parse_id("abc"), None);
        assert_eq!(parse_id("99999999999999999999999"), None);
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        assert!(etag_matches("\"a\"", "\"a\""));
        assert!(etag_matches("\"b\", W/\"a\"", "\"a\""));
        assert!(etag_matches("*", "\"a\""));
        assert!(!etag_matches("\"b\"", "\"a\""));
    }
}
