//! What the operator asks of the gateway: which feeds, and how to poll them.
//! The flags' parsers live here, beside the types they fill, so an embedding
//! program and the command line refuse the same values with the same words.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

/// One `--feed NAME=URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSpec {
    /// `[a-z0-9_-]{1,64}`, not `species`: the path segment of `/feeds/NAME`.
    pub name: String,
    /// An `http://` or `https://` URL.
    pub url: reqwest::Url,
}

/// How every feed is polled.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// One poll per interval, when the upstream is healthy.
    pub every: Duration,
    /// A request (headers and the whole body) that takes longer is a fault.
    pub timeout: Duration,
    /// JSON pointer of an item's id inside each array element.
    pub id_field: String,
    /// Headers sent with every upstream request (API keys, `Accept`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A PEM file of certificates trusted besides the system's.
    pub ca_cert: Option<PathBuf>,
    /// An upstream list with more items is refused.
    pub max_items: usize,
    /// An upstream body larger than this is refused, read no further.
    pub max_bytes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            id_field: "/id".to_owned(),
            headers: Vec::new(),
            ca_cert: None,
            max_items: 10_000,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The species feed's own room: a feed may not take its name.
const RESERVED: &str = pollpush_shared::message::SPECIES_ROOM;

/// Whether `name` may name a feed.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `NAME=URL`, as `--feed` takes it.
pub fn parse_feed(text: &str) -> Result<FeedSpec, String> {
    let Some((name, url)) = text.split_once('=') else {
        return Err(format!("{text:?} is not NAME=URL"));
    };
    let name = name.trim();
    if !valid_name(name) {
        return Err(format!(
            "feed name {name:?}: 1 to 64 of a-z, 0-9, '_' and '-'"
        ));
    }
    if name == RESERVED {
        return Err(format!("feed name {name:?} is the built-in species feed's"));
    }
    let url =
        reqwest::Url::parse(url.trim()).map_err(|e| format!("feed {name}: URL {url:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "feed {name}: {url} is not an http:// or https:// URL"
        ));
    }
    Ok(FeedSpec {
        name: name.to_owned(),
        url,
    })
}

/// `Name: value`, as `--feed-header` takes it.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!("{text:?} is not 'Name: value'"));
    };
    let name =
        HeaderName::try_from(name.trim()).map_err(|e| format!("header name {name:?}: {e}"))?;
    let value = HeaderValue::try_from(value.trim()).map_err(|e| format!("header {name}: {e}"))?;
    Ok((name, value))
}

/// A JSON pointer (RFC 6901) as `--feed-id-field` takes it.
pub fn parse_id_field(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a JSON pointer (try /id or /data/key)"
        ))
    }
}

/// Feeds named twice would share a route: refused.
pub fn check_unique(feeds: &[FeedSpec]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for feed in feeds {
        if !seen.insert(&feed.name) {
            return Err(format!("feed {:?} is given twice", feed.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_is_a_lowercase_name_and_an_http_url() {
        let spec =
            parse_feed("talk=http://127.0.0.1:5000/species/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.name, "talk");
        assert_eq!(spec.url.as_str(), "http://127.0.0.1:5000/species/");
        for bad in [
            "talk",
            "=http://x/",
            "Talk=http://x/",
            "a b=http://x/",
            "species=http://x/",
            "talk=ftp://x/",
            "talk=not a url",
        ] {
            assert!(parse_feed(bad).is_err(), "{bad}");
        }
        assert!(parse_feed(&format!("{}=http://x/", "a".repeat(65))).is_err());
    }

    #[test]
    fn headers_and_pointers_are_checked_before_the_first_poll() {
        let (name, value) =
            parse_header("Authorization: Bearer x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (name.as_str(), value.to_str().ok()),
            ("authorization", Some("Bearer x"))
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
        assert!(parse_id_field("/data/key").is_ok());
        assert!(parse_id_field("id").is_err());
    }
}
