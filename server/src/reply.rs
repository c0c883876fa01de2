//! The answers every route family shares: a JSON body, an
//! `application/problem+json` error, and a `405` with its `Allow` header.
//! They live here, not in `rest.rs`, so that the accept loop, the lanes and
//! the REST handlers all depend on this and not on each other.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ALLOW, CONTENT_TYPE, VARY,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use pollpush_shared::Problem;
use warp::reply::Response;

/// A JSON body with the given status.
pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// An `application/problem+json` answer.
pub fn problem_response(problem: &Problem) -> Response {
    let mut r = json_response(
        StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST),
        problem,
    );
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// `405` with the `Allow` header RFC 9110 requires.
pub fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = problem_response(&Problem::new(
        "method-not-allowed",
        "Method Not Allowed",
        405,
        format!("this resource allows {allow}"),
    ));
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// Echoes the origin (so `Origin: null` from a `file://` page and socket.io's
/// credentialed polling both work) rather than answering `*`.
pub(crate) fn add_cors(h: &mut HeaderMap, origin: HeaderValue) {
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

/// An HTTP/1.1 response head as hyper writes one: the status line, `headers`
/// in their order, then `ours` (what the connection adds: a length or a
/// chunked body, `connection`) and the date. For answers served off hyper
/// (`sse/direct.rs`, `accept/lists.rs`), so they read as hyper's did.
pub(crate) fn http1_head(
    status: StatusCode,
    headers: &HeaderMap,
    ours: &[(&str, &[u8])],
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let named = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
    let ours = ours.iter().copied().chain([("date", date.as_bytes())]);
    for (name, value) in named.chain(ours) {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}
