//! Who may write: with `--write-token`, every write (`POST`, `PUT`, `DELETE`,
//! and `broadcast` on `/ws` and socket.io) must present the token; reads and
//! subscriptions stay open. Without it anyone may write, as before.
//!
//! Which browsers may call: `--cors-origin` lists the origins whose pages
//! may use the REST API, `--allowed-origin` those that may open `/ws`
//! (either empty: any).
//!
//! REST takes `Authorization: Bearer TOKEN`. Browsers cannot set headers on a
//! WebSocket, so `/ws` and socket.io also take an `access_token` query
//! parameter on the upgrade or handshake, and socket.io its `auth` payload.

use std::sync::Arc;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue};
use pollpush_shared::Problem;
use subtle::ConstantTimeEq;
use warp::reply::Response;

use crate::reply::problem_response;

/// The query parameter a WebSocket or socket.io client may carry its token in.
pub const QUERY_PARAMETER: &str = "access_token";

/// Whether a client that presented `presented` may write, given the server's token.
pub fn may_write(expected: Option<&str>, presented: Option<&str>) -> bool {
    match (expected, presented) {
        (None, _) => true,
        // Constant time in the contents: a wrong guess tells nothing about how close it was.
        (Some(expected), Some(presented)) => {
            bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        }
        (Some(_), None) => false,
    }
}

/// The token of an `Authorization: Bearer TOKEN` header (the scheme is case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The token of the `access_token` query parameter, percent-decoded.
pub fn from_query(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == QUERY_PARAMETER)
        .map(|(_, value)| value.into_owned())
}

/// The token a WebSocket client presented on its upgrade: the header, else the query.
pub fn from_upgrade(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    bearer(headers)
        .map(str::to_owned)
        .or_else(|| from_query(query))
}

/// Why a write was refused, in the words the client sees.
pub fn refusal(presented: bool) -> &'static str {
    if presented {
        "the write token is wrong"
    } else {
        "writes need the server's write token"
    }
}

/// `401` problem+json with the `WWW-Authenticate: Bearer` challenge (RFC 6750).
pub fn unauthorized(presented: bool) -> Response {
    let mut r = problem_response(&Problem::new(
        "unauthorized",
        "Unauthorized",
        401,
        format!("{}: send Authorization: Bearer <token>", refusal(presented)),
    ));
    let challenge = if presented {
        "Bearer realm=\"pollpush\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"pollpush\""
    };
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

/// Whether `origin` may use the API, given the configured list (empty: any).
pub fn origin_allowed(list: &Arc<Vec<String>>, origin: &HeaderValue) -> bool {
    list.is_empty()
        || origin
            .to_str()
            .is_ok_and(|o| list.iter().any(|allowed| allowed == o || allowed == "*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_may_write_when_one_is_set() {
        assert!(may_write(None, None));
        assert!(may_write(Some("s3cret"), Some("s3cret")));
        assert!(!may_write(Some("s3cret"), Some("s3cre")));
        assert!(!may_write(Some("s3cret"), Some("s3cret ")));
        assert!(!may_write(Some("s3cret"), None));
    }

    #[test]
    fn tokens_are_found_in_the_header_or_the_query() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        assert_eq!(
            from_upgrade(&h, Some("x=1&access_token=a%2Fb")),
            Some("a/b".into())
        );
        assert_eq!(from_query(Some("EIO=4")), None);
    }
}
