//! Request profiles (`--profile minimal|browser|FILE`): the headers every
//! lane's requests carry besides what its protocol needs, so that the bytes
//! of a poll are those of a real client's. `minimal` sends nothing more (the
//! lanes as they always were); `browser` is a desktop Chromium's `fetch()`;
//! a FILE replays an app's own (one `Name: value` a line).
//!
//! One place applies it ([`Profile::apply`]): the request builders of the
//! poll, long-poll and SSE lanes, the WebSocket handshake and its RFC 8441
//! extended CONNECT all call it. The list of the browser profile is in
//! docs/conditions.md, which a test compares with [`BROWSER`].

use std::path::Path;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The headers of a desktop Chromium 143 `fetch()` of a same-origin JSON
/// API, in the order it sends them, with a session cookie of about 300 B.
pub const BROWSER: &[(&str, &str)] = &[
    ("sec-ch-ua-platform", "\"Linux\""),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/143.0.0.0 Safari/537.36",
    ),
    (
        "sec-ch-ua",
        "\"Google Chrome\";v=\"143\", \"Chromium\";v=\"143\", \"Not A(Brand\";v=\"24\"",
    ),
    ("sec-ch-ua-mobile", "?0"),
    ("accept", "*/*"),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-dest", "empty"),
    ("referer", "https://pollpush.example/species/"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "en-US,en;q=0.9,fr;q=0.8"),
    (
        "cookie",
        "sessionid=3f9c2a7e5b1d48c6a0e4f7b29d1c8e5a6b3f0d2c9e7a4b1f8d5c2e9a6b3f0d7c; \
         csrftoken=Qm9uam91ciBsZXMgcG9sbGV1cnMgZXQgbGVzIHB1c2hldXJz; \
         _ga=GA1.1.1843276590.1764892800; _ga_7XK2M9QP4R=GS1.1.1764892800.12.1.1764896400.0.0.0; \
         theme=dark; consent=analytics%3Atrue%2Cads%3Afalse; lang=fr; tz=Europe%2FParis",
    ),
    ("priority", "u=1, i"),
];

/// Headers a lane's protocol sets itself, which a profile may not name.
const PROTOCOL_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "proxy-connection",
    "if-none-match",
    "prefer",
    "last-event-id",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
];

/// A named set of headers, shared by every connection of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    name: Arc<str>,
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

/// Why a profile could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("cannot read profile {path}: {reason} (a profile is minimal, browser or a FILE)")]
    Read { path: String, reason: String },
    #[error("{path} line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
}

impl Default for Profile {
    /// `minimal`: only what each lane's protocol needs.
    fn default() -> Self {
        Self {
            name: "minimal".into(),
            headers: Arc::new([]),
        }
    }
}

impl Profile {
    /// `minimal`, `browser`, or the path of a file of `Name: value` lines.
    pub fn parse(text: &str) -> Result<Self, ProfileError> {
        match text {
            "minimal" => Ok(Self::default()),
            "browser" => Ok(Self::browser()),
            path => Self::read(Path::new(path)),
        }
    }

    pub fn browser() -> Self {
        let headers = BROWSER
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect::<Vec<_>>();
        Self {
            name: "browser".into(),
            headers: headers.into(),
        }
    }

    fn read(path: &Path) -> Result<Self, ProfileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let headers = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .map(|(index, line)| {
                parse_line(line).map_err(|reason| ProfileError::Line {
                    path: shown.clone(),
                    line: index + 1,
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name: shown.into(),
            headers: headers.into(),
        })
    }

    /// `minimal`, `browser`, or the file's path.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Adds the profile's headers to a lane's request, each replacing the
    /// lane's own of the same name (a profile's `accept`, say), in the
    /// profile's order.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, _) in self.headers.iter() {
            headers.remove(name);
        }
        for (name, value) in self.headers.iter() {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// One `Name: value` line.
fn parse_line(line: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| format!("expected `Name: value`, got {:?}", line.trim()))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
    if PROTOCOL_HEADERS.contains(&name.as_str()) {
        return Err(format!(
            "{name} is set by each lane's protocol, not by a profile"
        ));
    }
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of {name} has a character a header cannot carry"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_profile_carries_a_cookie_of_about_300_bytes() {
        let browser = Profile::browser();
        let cookie = browser
            .headers()
            .iter()
            .find(|(name, _)| name == "cookie")
            .map(|(_, value)| value.len())
            .expect("a cookie");
        assert!((280..=320).contains(&cookie), "{cookie} B");
        let bytes: usize = BROWSER.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        assert!((600..=1000).contains(&bytes), "{bytes} B of headers");
    }

    #[test]
    fn the_docs_list_the_browser_profile_exactly() {
        let docs = include_str!("../../../docs/conditions.md");
        for (name, value) in BROWSER {
            let line = format!("{name}: {value}");
            assert!(docs.contains(&line), "docs/conditions.md lacks {line:?}");
        }
    }

    #[test]
    fn a_profile_replaces_the_lanes_headers_of_the_same_name_in_its_order() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::IF_NONE_MATCH,
            HeaderValue::from_static("\"7\""),
        );
        Profile::browser().apply(&mut headers);
        assert_eq!(headers["accept"], "*/*");
        assert_eq!(headers["if-none-match"], "\"7\"");
        assert_eq!(headers.len(), BROWSER.len() + 1);
        let mut minimal = HeaderMap::new();
        Profile::default().apply(&mut minimal);
        assert!(minimal.is_empty());
    }

    #[test]
    fn a_bad_file_line_is_named_by_its_number() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("app.headers");
        std::fs::write(&path, "# my app\nuser-agent: app/1\n\nno colon here\n").expect("write");
        let error = Profile::parse(path.to_str().expect("UTF-8")).expect_err("line 4");
        assert!(
            error
                .to_string()
                .ends_with("line 4: expected `Name: value`, got \"no colon here\""),
            "{error}"
        );
        std::fs::write(&path, "Host: evil\n").expect("write");
        let error = Profile::parse(path.to_str().expect("UTF-8")).expect_err("host");
        assert!(
            error.to_string().contains("line 1: host is set by"),
            "{error}"
        );
        let error = Profile::parse("/nonexistent/profile").expect_err("missing");
        assert!(
            error
                .to_string()
                .contains("cannot read profile /nonexistent/profile"),
            "{error}"
        );
        std::fs::write(&path, "X-App: 1\ncookie: a=b\n").expect("write");
        let profile = Profile::parse(path.to_str().expect("UTF-8")).expect("valid");
        assert_eq!(profile.headers().len(), 2);
        assert_eq!(profile.headers()[0].0, "x-app");
    }
}
