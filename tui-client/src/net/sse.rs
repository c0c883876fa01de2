//! The SSE lane: `GET /species/events`, a `text/event-stream` of the same JSON
//! messages as `/ws` (a snapshot, then changes; a resync and a new snapshot
//! when it falls behind), read from a socket that counts every byte.
//!
//! A reconnect sends `Last-Event-ID` so the server replays what was missed;
//! like the WebSocket lane it moves to the next node of a cluster ([`resume`]).

pub mod parser;

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use std::sync::Arc;

use pollpush_shared::{Revision, ServerMessage};

use super::counting::Traffic;
use super::http::{self, header};
use super::resume::{self, Emitter, End};
use super::{Endpoints, NetError, Sink};
use crate::event::LaneEvent;
use parser::SseParser;

/// The SSE transport of a streaming lane.
pub struct Sse;

impl resume::Session for Sse {
    async fn run<S: Sink<LaneEvent>>(&mut self, out: &mut Emitter<S>) -> End {
        // The request half stays alive while the body streams.
        let opened = open(out.endpoints().clone(), out.traffic.clone(), out.since()).await;
        let (_sender, mut body) = match opened {
            Ok(opened) => opened,
            Err(error) => return End::Lost(error.to_string()),
        };
        if !out.connected().await {
            return End::Consumer;
        }
        let mut parser = SseParser::default();
        loop {
            let chunk = match http::next_chunk(&mut body).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return End::Lost("stream closed by the server".to_owned()),
                Err(error) => return End::Lost(NetError::from(error).to_string()),
            };
            for event in parser.feed(&chunk) {
                // The event name repeats the JSON's `type`; the JSON is the truth.
                let message = match serde_json::from_str::<ServerMessage>(&event.data) {
                    Ok(message) => message,
                    Err(error) => return End::Lost(NetError::from(error).to_string()),
                };
                if !out.message(message).await {
                    return End::Consumer;
                }
            }
        }
    }
}

/// Sends the request, resuming after the last revision seen; the body of a `200`.
async fn open(
    endpoints: Endpoints,
    traffic: Arc<Traffic>,
    since: Option<Revision>,
) -> Result<(SendRequest<String>, Incoming), NetError> {
    let mut headers = vec![(::http::header::ACCEPT, "text/event-stream".to_owned())];
    if let Some(since) = since {
        headers.push((
            ::http::HeaderName::from_static("last-event-id"),
            since.to_string(),
        ));
    }
    let request = http::get(&endpoints, "/species/events", &headers)?;
    let mut sender = http::connect(&endpoints, traffic).await?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let event_stream = header(response.headers(), "content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if status != ::http::StatusCode::OK || !event_stream {
        return Err(NetError::Unexpected(format!(
            "HTTP {status} from /species/events, not an event stream"
        )));
    }
    Ok((sender, response.into_body()))
}
