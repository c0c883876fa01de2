//! The routes of upstream feeds (`--feed NAME=URL`, see `gateway.rs`). A
//! server started without feeds answers every name `404`, as documented.
#![allow(dead_code, clippy::unused_async)]

/// The `{name}` of `/feeds/{name}`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FeedPath {
    /// A feed's name, as `--feed NAME=URL` gave it
    #[param(pattern = r"^[a-z0-9_-]{1,64}$", example = "talk")]
    name: String,
}

/// An upstream feed's items, as a JSON array in the upstream's order. With
/// `If-None-Match` and `Prefer: wait=N`, a long-poll as for `/species`.
#[utoipa::path(get, path = "/feeds/{name}", tag = "feeds",
    params(
        FeedPath,
        ("If-None-Match" = Option<String>, Header, description = "ETag of the items the client holds"),
        ("Prefer" = Option<String>, Header, description = "`wait=N` (RFC 7240): with If-None-Match, hold the request until the items change or N seconds pass (N is clamped to 60)"),
    ),
    responses(
        (status = 200, description = "The items (any JSON each)", body = [Object],
         headers(("ETag" = String, description = "Changes exactly when the items change"),
                 ("X-Revision" = u64, description = "The feed's revision"),
                 ("Preference-Applied" = String, description = "`wait=N`, the wait honoured, on held requests"))),
        (status = 304, description = "The items still match If-None-Match"),
        (status = 404, description = "No feed of that name", body = pollpush_shared::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many held requests; see Retry-After", body = pollpush_shared::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds"))),
    ))]
pub fn list_feed() {}

/// An upstream feed as Server-Sent Events: `event: snapshot` (a `FeedMessage`
/// snapshot) first, then `id: R`, `event: change` and a `FeedMessage` change
/// as data; `event: resync` and a snapshot when the history no longer covers
/// `since` or the stream fell behind; a comment line every 15 s.
#[utoipa::path(get, path = "/feeds/{name}/events", tag = "feeds",
    params(
        FeedPath,
        ("since" = Option<u64>, Query, maximum = 9_223_372_036_854_775_807_i64, description = "Resume after this revision of the feed (resync and a snapshot if the history no longer has it)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Like since; a value that is not a whole number gets a snapshot"),
    ),
    responses(
        (status = 200, description = "An endless text/event-stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "since (or Last-Event-ID) is not a revision this server can hold", body = pollpush_shared::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No feed of that name", body = pollpush_shared::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many open streams on this feed; see Retry-After", body = pollpush_shared::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds"))),
    ))]
pub fn feed_events() {}
