//! The poller: `GET /species` on a timer, over one keep-alive HTTP/1.1
//! connection whose socket counts every byte (headers included).
//!
//! hyper's connection API is used rather than reqwest because a reqwest
//! connector layer cannot wrap its connection type, so it cannot count bytes.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use pollpush_shared::{Revision, Species};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::counting::{CountingStream, Traffic};
use super::{Backoff, Endpoints, NetError, Sink};
use crate::app::settings::PollSettings;
use crate::event::{PollEvent, PollOutcome};

/// Longest a request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls until the sink refuses an event or the settings sender is gone.
/// `traffic` counts this poller's bytes; pollers may share one.
pub async fn run(
    endpoints: Endpoints,
    mut settings: watch::Receiver<PollSettings>,
    traffic: Arc<Traffic>,
    mut sink: impl Sink<PollEvent>,
) {
    let mut poller = Poller {
        endpoints,
        traffic: traffic.clone(),
        connection: None,
        etag: None,
    };
    let mut backoff = Backoff::default();
    loop {
        let current = *settings.borrow_and_update();
        if current.paused {
            if settings.changed().await.is_err() {
                return;
            }
            continue;
        }
        let started = Instant::now();
        let result = tokio::time::timeout(REQUEST_TIMEOUT, poller.poll(current.etag)).await;
        let at = pollpush_shared::time::now();
        let outcome = match result {
            Ok(Ok(outcome)) => {
                backoff.reset();
                outcome
            }
            Ok(Err(error)) => poller.failed(error.to_string(), &mut backoff),
            Err(_) => poller.failed(NetError::Timeout(REQUEST_TIMEOUT).to_string(), &mut backoff),
        };
        let next = match &outcome {
            PollOutcome::Failed { retry_in, .. } => Instant::now() + *retry_in,
            _ => started + current.interval,
        };
        let event = PollEvent {
            at,
            traffic: traffic.totals(),
            outcome,
        };
        if !sink.deliver(event).await {
            return;
        }
        if !wait_until(next, started, &mut settings).await {
            return;
        }
    }
}

/// Sleeps until the next poll; a new interval moves the deadline, a pause ends the wait.
/// Returns false when the settings sender is gone.
async fn wait_until(
    mut deadline: Instant,
    started: Instant,
    settings: &mut watch::Receiver<PollSettings>,
) -> bool {
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return true,
            changed = settings.changed() => {
                if changed.is_err() {
                    return false;
                }
                let now = *settings.borrow();
                if now.paused {
                    return true;
                }
                deadline = deadline.min(started + now.interval).max(Instant::now());
            }
        }
    }
}

/// One poller's connection and ETag.
struct Poller {
    endpoints: Endpoints,
    traffic: Arc<Traffic>,
    connection: Option<SendRequest<String>>,
    etag: Option<String>,
}

impl Poller {
    fn failed(&mut self, error: String, backoff: &mut Backoff) -> PollOutcome {
        self.connection = None;
        PollOutcome::Failed {
            error,
            retry_in: backoff.next_delay(),
        }
    }

    async fn connection(&mut self) -> Result<&mut SendRequest<String>, NetError> {
        if self.connection.as_ref().is_none_or(SendRequest::is_closed) {
            let tcp = TcpStream::connect(&self.endpoints.authority).await?;
            tcp.set_nodelay(true)?;
            let io = TokioIo::new(CountingStream::new(tcp, self.traffic.clone()));
            let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(async move {
                // Ends when the server closes the connection; the next poll reconnects.
                let _ = connection.await;
            });
            self.connection = Some(sender);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| NetError::Unexpected("no connection".into()))
    }

    async fn poll(&mut self, use_etag: bool) -> Result<PollOutcome, NetError> {
        let mut request = http::Request::get(format!("{}/species", self.endpoints.http))
            .header(http::header::HOST, &self.endpoints.authority)
            .header(http::header::ACCEPT, "application/json");
        if let (true, Some(etag)) = (use_etag, &self.etag) {
            request = request.header(http::header::IF_NONE_MATCH, etag);
        }
        let request = request
            .body(String::new())
            .map_err(|e| NetError::Unexpected(e.to_string()))?;
        let sender = self.connection().await?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = read_body(body).await?;
        let revision =
            header(&parts.headers, "x-revision").and_then(|v| v.parse::<Revision>().ok());
        let server_date = header(&parts.headers, "date").and_then(parse_http_date);
        match parts.status {
            http::StatusCode::NOT_MODIFIED => Ok(PollOutcome::NotModified {
                revision,
                server_date,
            }),
            http::StatusCode::OK => {
                let species: Vec<Species> = serde_json::from_slice(&body)?;
                let revision =
                    revision.ok_or_else(|| NetError::Unexpected("no X-Revision header".into()))?;
                let etag = header(&parts.headers, "etag").map(str::to_owned);
                self.etag.clone_from(&etag);
                Ok(PollOutcome::Fresh {
                    revision,
                    etag,
                    species,
                    server_date,
                })
            }
            status => Err(NetError::Unexpected(format!("HTTP {status}"))),
        }
    }
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses an HTTP `Date` (IMF-fixdate, e.g. `Wed, 25 Nov 2026 10:00:00 GMT`).
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn read_body(mut body: Incoming) -> Result<Vec<u8>, hyper::Error> {
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame?.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let at = parse_http_date("Wed, 25 Nov 2026 10:00:00 GMT").expect("valid date");
        assert_eq!(
            pollpush_shared::time::format(&at),
            "2026-11-25T10:00:00.000000Z"
        );
        assert!(parse_http_date("yesterday").is_none());
    }
}
