//! The poll lane: `GET /species` on a timer, over one keep-alive HTTP/1.1 or
//! HTTP/2 connection whose socket counts every byte, or a new connection per
//! poll (`--new-connection`), as many real clients do, so that the handshakes
//! show. [`Lister`] is the request both request lanes send; the long-poll lane
//! only adds `Prefer: wait`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pollpush_shared::{Revision, Species};
use tokio::sync::watch;
use tokio::time::Instant;

use super::counting::Traffic;
use super::http::{self, KeptAlive, header, parse_http_date};
use super::{Backoff, Endpoints, NetError, Sink};
use crate::app::settings::PollSettings;
use crate::event::{LaneEvent, LaneUpdate};
use crate::lane::LaneKind;

/// Longest a request may take before it counts as failed.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls until the sink refuses an event or the settings sender is gone.
/// `traffic` counts this poller's bytes; pollers may share one.
pub async fn run(
    endpoints: Endpoints,
    settings: watch::Receiver<PollSettings>,
    traffic: Arc<Traffic>,
    sink: impl Sink<LaneEvent>,
) {
    let lister = Lister::new(endpoints, traffic);
    on_timer((lister, Backoff::default()), settings, sink).await;
}

/// One poll of a lane that polls on the timer: pollpush's list, or any URL.
pub(super) trait Poller: Send {
    /// Polls once as `settings` say (conditionally, on a new connection) and says what it saw.
    fn poll(&mut self, settings: PollSettings) -> impl Future<Output = LaneEvent> + Send;
}

impl Poller for (Lister, Backoff) {
    async fn poll(&mut self, settings: PollSettings) -> LaneEvent {
        let (lister, backoff) = self;
        if settings.new_connection {
            lister.connection.close();
        }
        let update = lister
            .fetch(settings.etag, None, REQUEST_TIMEOUT, backoff)
            .await;
        lister.event(LaneKind::Poll, update)
    }
}

/// Runs `poller` every `interval` of the live settings (paused, resumed,
/// retried after a failure's delay) until the sink or the settings sender is gone.
pub(super) async fn on_timer(
    poller: impl Poller,
    mut settings: watch::Receiver<PollSettings>,
    mut sink: impl Sink<LaneEvent>,
) {
    let mut poller = poller;
    loop {
        let current = *settings.borrow_and_update();
        if current.paused {
            if settings.changed().await.is_err() {
                return;
            }
            continue;
        }
        let started = Instant::now();
        let mut event = poller.poll(current).await;
        event.took = Some(started.elapsed());
        let next = match &event.update {
            LaneUpdate::Failed { retry_in, .. } => Instant::now() + *retry_in,
            _ => started + current.interval,
        };
        if !sink.deliver(event).await || !wait_until(next, started, &mut settings).await {
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

/// `GET /species` over one kept-alive connection, remembering the last ETag.
pub(super) struct Lister {
    connection: KeptAlive,
    etag: Option<String>,
}

impl Lister {
    pub(super) fn new(endpoints: Endpoints, traffic: Arc<Traffic>) -> Self {
        Self {
            connection: KeptAlive::new(endpoints, traffic),
            etag: None,
        }
    }

    /// The event of lane `lane` carrying `update` and the traffic so far.
    pub(super) fn event(&self, lane: LaneKind, update: LaneUpdate) -> LaneEvent {
        LaneEvent {
            lane,
            at: pollpush_shared::time::now(),
            traffic: self.connection.traffic().totals(),
            update,
            took: None,
        }
    }

    /// One request, failed after `timeout`; a failure drops the connection and
    /// says when to retry.
    pub(super) async fn fetch(
        &mut self,
        use_etag: bool,
        wait: Option<Duration>,
        timeout: Duration,
        backoff: &mut Backoff,
    ) -> LaneUpdate {
        let error = match tokio::time::timeout(timeout, self.get(use_etag, wait)).await {
            Ok(Ok(update)) => {
                backoff.reset();
                return update;
            }
            Ok(Err(error)) => error,
            Err(_) => NetError::Timeout(timeout),
        };
        self.connection.close();
        LaneUpdate::Failed {
            error: error.to_string(),
            retry_in: backoff.next_delay(),
            next_node: None,
        }
    }

    async fn get(
        &mut self,
        use_etag: bool,
        wait: Option<Duration>,
    ) -> Result<LaneUpdate, NetError> {
        let mut headers = vec![(::http::header::ACCEPT, "application/json".to_owned())];
        if let (true, Some(etag)) = (use_etag, &self.etag) {
            headers.push((::http::header::IF_NONE_MATCH, etag.clone()));
        }
        if let Some(wait) = wait {
            headers.push((
                ::http::HeaderName::from_static("prefer"),
                format!("wait={}", wait.as_secs()),
            ));
        }
        let path = self.connection.endpoints().list_path();
        let request = http::get(self.connection.endpoints(), &path, &headers)?;
        let response = self.connection.send(request).await?;
        let (parts, body) = response.into_parts();
        let body = http::read_body(body).await?;
        let revision =
            header(&parts.headers, "x-revision").and_then(|v| v.parse::<Revision>().ok());
        let server_date = header(&parts.headers, "date").and_then(parse_http_date);
        match parts.status {
            ::http::StatusCode::NOT_MODIFIED => Ok(LaneUpdate::NotModified {
                revision,
                server_date,
            }),
            ::http::StatusCode::OK => {
                let revision =
                    revision.ok_or_else(|| NetError::Unexpected("no X-Revision header".into()))?;
                let etag = header(&parts.headers, "etag").map(str::to_owned);
                if self.connection.endpoints().feed.is_some() {
                    let items = serde_json::from_slice(&body)?;
                    self.etag.clone_from(&etag);
                    return Ok(LaneUpdate::FeedList {
                        revision,
                        etag,
                        items,
                        server_date,
                    });
                }
                let species: Vec<Species> = serde_json::from_slice(&body)?;
                self.etag.clone_from(&etag);
                Ok(LaneUpdate::List {
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
