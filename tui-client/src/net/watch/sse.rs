//! The push lane for any event stream (`sse+http://`, `sse+https://`, or an
//! http URL that answers `text/event-stream`): every event is an update, and
//! a reconnect sends the last event's id as `Last-Event-ID`.

use std::sync::Arc;

use ::http::header;

use super::WatchConfig;
use super::payload::payload;
use crate::event::{LaneEvent, LaneUpdate};
use crate::net::counting::Traffic;
use crate::net::http::{self, parse_http_date};
use crate::net::origin::Origin;
use crate::net::resume::{self, Emitter, End};
use crate::net::sse::next_events;
use crate::net::sse::parser::SseParser;
use crate::net::{NetError, Sink};

/// The SSE transport of the push lane; the last id outlives a connection.
pub struct SseFeed {
    pub config: Arc<WatchConfig>,
    pub origin: Origin,
    pub last_event_id: Option<String>,
}

impl resume::Session for SseFeed {
    async fn run<S: Sink<LaneEvent>>(&mut self, out: &mut Emitter<S>) -> End {
        let opened =
            tokio::time::timeout(self.config.timeout, self.open(out.traffic.clone())).await;
        let (_sender, mut body, server_date) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(error)) => return End::Lost(error.to_string()),
            Err(_) => return End::Lost(NetError::Timeout(self.config.timeout).to_string()),
        };
        if !out.connected().await {
            return End::Consumer;
        }
        let mut parser = SseParser::default();
        let mut first = true;
        loop {
            let events = match next_events(&mut body, &mut parser).await {
                Ok(events) => events,
                Err(end) => return end,
            };
            for event in events {
                self.last_event_id.clone_from(&event.id);
                // The handshake's Date goes with the first event only: later ones are later.
                let date = server_date.filter(|_| std::mem::take(&mut first));
                let name = Some(event.event);
                let update = payload(event.data.as_bytes(), "", name, date, &self.config.fields);
                if !out.emit(LaneUpdate::Payload(Box::new(update))).await {
                    return End::Consumer;
                }
            }
        }
    }
}

type Opened = (
    hyper::client::conn::http1::SendRequest<String>,
    hyper::body::Incoming,
    Option<chrono::DateTime<chrono::Utc>>,
);

impl SseFeed {
    /// Sends the request; the body of a `200` that is an event stream.
    async fn open(&self, traffic: Arc<Traffic>) -> Result<Opened, NetError> {
        let mut headers = vec![(header::ACCEPT, "text/event-stream".to_owned())];
        if let Some(id) = &self.last_event_id {
            headers.push((::http::HeaderName::from_static("last-event-id"), id.clone()));
        }
        for (name, value) in &self.config.headers {
            headers.push((name.clone(), value.to_str().unwrap_or_default().to_owned()));
        }
        let request = http::get_from(&self.origin.host_header(), &self.origin.path, &headers)?;
        let io = self.origin.dial(&self.config.tls, traffic).await?;
        let mut sender = http::handshake(io).await?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let content_type = http::header(response.headers(), "content-type").unwrap_or("");
        if !status.is_success() {
            let reason = status.canonical_reason().unwrap_or("");
            return Err(NetError::Status(format!(
                "{} {reason} from {}",
                status.as_u16(),
                self.origin.url
            )));
        }
        if !content_type.starts_with("text/event-stream") {
            return Err(NetError::Unexpected(format!(
                "{} answers {content_type:?}, not text/event-stream",
                self.origin.url
            )));
        }
        let server_date = http::header(response.headers(), "date").and_then(parse_http_date);
        Ok((sender, response.into_body(), server_date))
    }
}
