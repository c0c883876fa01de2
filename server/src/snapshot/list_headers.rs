//! The headers of `GET /species/` answers, one of the snapshot's
//! per-revision encodings (beside its JSON body, `/ws`, SSE and socket.io
//! frames), so the snapshot does not depend on the REST handlers.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The headers of the list's `200` and `304`, built once per snapshot: a
/// clone is one allocation, where building them costs a hash and an insert
/// per header on every request.
#[derive(Debug)]
pub struct ListHeaders {
    pub ok: HeaderMap,
    pub not_modified: HeaderMap,
}

impl ListHeaders {
    pub(crate) fn new(etag: &str, revision: u64) -> Self {
        let mut not_modified = HeaderMap::with_capacity(3);
        if let Ok(v) = HeaderValue::from_str(etag) {
            not_modified.insert(ETAG, v);
        }
        not_modified.insert(X_REVISION, HeaderValue::from(revision));
        // Caches may keep the list but must ask again each time: the list is live.
        not_modified.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let mut ok = HeaderMap::with_capacity(4);
        ok.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ok.extend(not_modified.clone());
        Self { ok, not_modified }
    }
}

/// Named once: inserting by `&str` parses and hashes the name on every request.
pub const X_REVISION: HeaderName = HeaderName::from_static("x-revision");
