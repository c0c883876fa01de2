//! The poll lane for any URL: `GET` on the timer, conditional when the server
//! sent `ETag` / `Last-Modified`, following up to five redirects. An update is
//! a body that differs from the last one; an equal body or a `304` is not.

use std::sync::Arc;

use ::http::StatusCode;
use ::http::header::{self, HeaderName};
use hyper::client::conn::http1::SendRequest;
use tokio::sync::watch;

use super::WatchConfig;
use super::payload::payload;
use crate::app::settings::PollSettings;
use crate::event::{LaneEvent, LaneUpdate};
use crate::lane::LaneKind;
use crate::net::counting::Traffic;
use crate::net::http::{self, parse_http_date};
use crate::net::origin::Origin;
use crate::net::poll::{Poller, on_timer};
use crate::net::{Backoff, NetError, Sink};

/// Most redirects followed for one poll.
const MAX_REDIRECTS: u32 = 5;

/// Polls `config.poll` until the sink refuses an event or the settings sender is gone.
pub async fn run(
    config: Arc<WatchConfig>,
    settings: watch::Receiver<PollSettings>,
    traffic: Arc<Traffic>,
    sink: impl Sink<LaneEvent>,
) {
    let Some(origin) = config.poll.clone() else {
        return;
    };
    let poller = UrlPoller {
        config,
        origin,
        traffic,
        connection: None,
        validators: Vec::new(),
        last_body: None,
        backoff: Backoff::default(),
    };
    on_timer(poller, settings, sink).await;
}

impl Poller for UrlPoller {
    async fn poll(&mut self, settings: PollSettings) -> LaneEvent {
        let conditional = settings.etag;
        let timeout = self.config.timeout;
        let update = match tokio::time::timeout(timeout, self.get_once(conditional)).await {
            Ok(Ok(update)) => {
                self.backoff.reset();
                update
            }
            Ok(Err(error)) => self.failed(&error),
            Err(_) => self.failed(&NetError::Timeout(timeout)),
        };
        LaneEvent {
            lane: LaneKind::UrlPoll,
            at: pollpush_shared::time::now(),
            traffic: self.traffic.totals(),
            update,
            took: None,
        }
    }
}

struct UrlPoller {
    config: Arc<WatchConfig>,
    origin: Origin,
    traffic: Arc<Traffic>,
    /// The kept-alive connection and the origin it goes to.
    connection: Option<(Origin, SendRequest<String>)>,
    /// `If-None-Match` / `If-Modified-Since` for the next poll.
    validators: Vec<(HeaderName, String)>,
    last_body: Option<Vec<u8>>,
    backoff: Backoff,
}

impl UrlPoller {
    fn failed(&mut self, error: &NetError) -> LaneUpdate {
        self.connection = None;
        LaneUpdate::Failed {
            error: error.to_string(),
            retry_in: self.backoff.next_delay(),
            next_node: None,
        }
    }

    /// One poll, following redirects.
    async fn get_once(&mut self, conditional: bool) -> Result<LaneUpdate, NetError> {
        let mut target = self.origin.clone();
        for redirects in 0..=MAX_REDIRECTS {
            let validators = if conditional && redirects == 0 {
                self.validators.clone()
            } else {
                Vec::new()
            };
            let response = self.get(&target, &validators).await?;
            let (parts, body) = response.into_parts();
            let body = http::read_body(body).await?;
            let server_date = http::header(&parts.headers, "date").and_then(parse_http_date);
            match parts.status {
                status if status.is_redirection() && status != StatusCode::NOT_MODIFIED => {
                    let location = http::header(&parts.headers, "location")
                        .ok_or_else(|| NetError::Status(format!("{status} without a Location")))?;
                    target = follow(&target, location)?;
                }
                StatusCode::NOT_MODIFIED => {
                    return Ok(LaneUpdate::NotModified {
                        revision: None,
                        server_date,
                    });
                }
                status if status.is_success() => {
                    self.remember_validators(&parts.headers);
                    if self.last_body.as_deref() == Some(body.as_slice()) {
                        return Ok(LaneUpdate::NotModified {
                            revision: None,
                            server_date,
                        });
                    }
                    let content_type = http::header(&parts.headers, "content-type").unwrap_or("");
                    let mut update =
                        payload(&body, content_type, None, server_date, &self.config.fields);
                    update.redirects = redirects;
                    update.pollpush = http::header(&parts.headers, "x-revision").is_some();
                    self.last_body = Some(body);
                    return Ok(LaneUpdate::Payload(Box::new(update)));
                }
                status => {
                    let reason = status.canonical_reason().unwrap_or("");
                    return Err(NetError::Status(format!(
                        "{} {reason} from {}",
                        status.as_u16(),
                        target.url
                    )));
                }
            }
        }
        Err(NetError::Status(format!(
            "more than {MAX_REDIRECTS} redirects from {}",
            self.origin.url
        )))
    }

    fn remember_validators(&mut self, headers: &::http::HeaderMap) {
        self.validators.clear();
        if let Some(etag) = http::header(headers, "etag") {
            self.validators
                .push((header::IF_NONE_MATCH, etag.to_owned()));
        }
        if let Some(modified) = http::header(headers, "last-modified") {
            self.validators
                .push((header::IF_MODIFIED_SINCE, modified.to_owned()));
        }
    }

    /// Sends a `GET` to `target` on the kept-alive connection, or a new one.
    async fn get(
        &mut self,
        target: &Origin,
        validators: &[(HeaderName, String)],
    ) -> Result<::http::Response<hyper::body::Incoming>, NetError> {
        let reusable = self.connection.as_ref().is_some_and(|(to, sender)| {
            (to.tls, &to.host, to.port) == (target.tls, &target.host, target.port)
                && !sender.is_closed()
        });
        if !reusable {
            let io = target.dial(&self.config.tls, self.traffic.clone()).await?;
            self.connection = Some((target.clone(), http::handshake(io).await?));
        }
        let mut headers: Vec<(HeaderName, String)> = validators.to_vec();
        for (name, value) in &self.config.headers {
            headers.push((name.clone(), value.to_str().unwrap_or_default().to_owned()));
        }
        let request = http::get_from(&target.host_header(), &target.path, &headers)?;
        let Some((_, sender)) = self.connection.as_mut() else {
            return Err(NetError::Unexpected("no connection".into()));
        };
        sender.ready().await?;
        Ok(sender.send_request(request).await?)
    }
}

/// Where a `Location` points, relative to `from`.
fn follow(from: &Origin, location: &str) -> Result<Origin, NetError> {
    if location.contains("://") {
        return Origin::parse(location, "http", "https");
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let dir = from.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{location}")
    };
    let mut next = from.with_path(&path);
    next.url = format!("{}://{}{path}", from.scheme, from.host_header());
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_current_url() {
        let from = Origin::parse("http://h:1/a/b?x", "http", "https").expect("valid");
        assert_eq!(follow(&from, "/c").expect("valid").path, "/c");
        assert_eq!(follow(&from, "d").expect("valid").url, "http://h:1/a/d");
        let other = follow(&from, "https://o/p").expect("valid");
        assert!(other.tls && other.host == "o");
    }
}
