//! Long-polling on the poll lane's own resource: `GET /species` with
//! `If-None-Match: <etag>` and `Prefer: wait=N` (RFC 7240) is held until the
//! list's ETag differs, then answered `200` with the list; if nothing changes
//! within N seconds (at most 60), `304`.
//!
//! A held request costs its connection and one `watch` receiver on the
//! change source's delivered revision: no task, no database query, no copy of
//! the list (every waiter wakes to the same cached body).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Buf;
use futures_util::Stream;
use http::header::{IF_NONE_MATCH, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use pollpush_shared::Problem;
use warp::reply::Response;

use crate::reply::problem_response;
use crate::rest::{self, etag_matches, list};
use crate::state::State;
use crate::stats::{ConnTag, Protocol};

/// The longest wait a client may ask for, in seconds; longer ones are clamped.
pub const MAX_WAIT_S: u64 = 60;

/// Named once: every `GET /species/` looks for it, and a `&str` name is
/// parsed and hashed anew on each lookup.
const PREFER: HeaderName = HeaderName::from_static("prefer");

/// `/species/`: a GET that asks to wait (`Prefer: wait`) is held here;
/// every other request is REST's.
pub async fn or_rest<S, B>(
    state: State,
    method: Method,
    headers: HeaderMap,
    body: S,
    tag: Option<ConnTag>,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    match requested_wait(&headers) {
        Some(wait) if method == Method::GET => hold(state, headers, tag, wait).await,
        _ => rest::collection(state, method, headers, body).await,
    }
}

/// The wait asked for with `Prefer: wait=N`, if any. A preference that is
/// not a number is ignored, as RFC 7240 says of any preference not understood;
/// a number too large for 64 bits is still a number, and is clamped like any
/// wait over [`MAX_WAIT_S`] rather than taken for no wait at all.
pub fn requested_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all(PREFER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .find_map(|pref| {
            let (name, value) = pref.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| seconds(value.trim().trim_matches('"')))
                .flatten()
        })
}

/// A whole number of seconds, saturating past `u64::MAX`.
fn seconds(text: &str) -> Option<u64> {
    match text.parse::<u64>() {
        Ok(n) => Some(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Some(u64::MAX),
        Err(_) => None,
    }
}

/// Counts one held request while it lives.
struct Held<'a>(&'a State);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.stats.longpoll_held.fetch_sub(1, Relaxed);
    }
}

/// Answers a `GET /species` that asked to wait `wanted` seconds.
pub async fn hold(state: State, headers: HeaderMap, tag: Option<ConnTag>, wanted: u64) -> Response {
    let wait = wanted.min(MAX_WAIT_S);
    let stats = &state.stats;
    if let Some(tag) = &tag {
        tag.mark(Protocol::LongPoll);
    }
    stats.longpoll_requests.fetch_add(1, Relaxed);
    let Some(known) = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        // Nothing to compare with: the client has no list yet.
        return list(&state, &headers);
    };
    if stats.longpoll_held.fetch_add(1, Relaxed) >= state.config.max_held as u64 {
        stats.longpoll_held.fetch_sub(1, Relaxed);
        return too_many(&state);
    }
    let _held = Held(&state);
    let source = &state.source;
    match wait_for_change(
        || !etag_matches(known, source.snapshot().encoded().1),
        source.delivered(),
        wait,
        state.shutdown.clone(),
    )
    .await
    {
        Waited::Changed => stats.longpoll_changed.fetch_add(1, Relaxed),
        Waited::TimedOut => stats.longpoll_timed_out.fetch_add(1, Relaxed),
        Waited::ShuttingDown => 0,
    };
    applied(list(&state, &headers), wait)
}

/// How a held request's wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    Changed,
    TimedOut,
    /// Answered now (a `304` if nothing changed): the client asks again elsewhere.
    ShuttingDown,
}

/// Waits until `changed()` holds, checked again at each new revision, for
/// at most `wait` seconds: the hold of every long-polled list.
pub async fn wait_for_change<R>(
    changed: impl Fn() -> bool,
    mut revisions: tokio::sync::watch::Receiver<R>,
    wait: u64,
    mut shutdown: crate::shutdown::Shutdown,
) -> Waited {
    let until = tokio::time::sleep(Duration::from_secs(wait));
    tokio::pin!(until);
    loop {
        if changed() {
            return Waited::Changed;
        }
        tokio::select! {
            next = revisions.changed() => if next.is_err() { return Waited::ShuttingDown },
            () = &mut until => return Waited::TimedOut,
            () = shutdown.wait() => return Waited::ShuttingDown,
        }
    }
}

/// `Preference-Applied: wait=N` on a held request's answer.
pub fn applied(mut response: Response, wait: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("wait={wait}")) {
        response.headers_mut().insert("preference-applied", v);
    }
    response
}

/// The `503` of a request over `--max-held`, for the species list and every feed alike.
pub fn too_many(state: &State) -> Response {
    let mut r = problem_response(&Problem::new(
        "too-many-waiting",
        "Service Unavailable",
        503,
        format!(
            "{} requests are already held; try again shortly",
            state.config.max_held
        ),
    ));
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("prefer", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_wait_preference_is_read_as_rfc_7240_writes_it() {
        assert_eq!(requested_wait(&prefer("wait=20")), Some(20));
        assert_eq!(requested_wait(&prefer("respond-async, wait=5")), Some(5));
        assert_eq!(requested_wait(&prefer("WAIT = \"7\"")), Some(7));
        assert_eq!(requested_wait(&prefer("wait=soon")), None);
        assert_eq!(
            requested_wait(&prefer("wait=99999999999999999999999")),
            Some(u64::MAX)
        );
        assert_eq!(requested_wait(&prefer("return=minimal")), None);
        assert_eq!(requested_wait(&HeaderMap::new()), None);
    }
}
