//! The SSE lane: `GET /species/events`, a `text/event-stream` of the same JSON
//! messages as `/ws` (a snapshot, then changes; a resync and a new snapshot
//! when it falls behind), read from a socket that counts every byte.
//!
//! Over HTTP/1.1 or HTTP/2 (`--http`), each lane on a connection of its own.
//! A reconnect sends `Last-Event-ID` so the server replays what was missed;
//! like the WebSocket lane it moves to the next node of a cluster ([`resume`]).

pub mod parser;

use hyper::body::Incoming;
use std::sync::Arc;

use pollpush_shared::Revision;

use super::counting::Traffic;
use super::http::{self, Sender, header};
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
            let events = match next_events(&mut body, &mut parser).await {
                Ok(events) => events,
                Err(end) => return end,
            };
            for event in events {
                // The event name repeats the JSON's `type`; the JSON is the truth.
                match out.forward(&event.data).await {
                    Ok(true) => {}
                    Ok(false) => return End::Consumer,
                    Err(error) => return End::Lost(error.to_string()),
                }
            }
        }
    }
}

/// The events completed by the stream's next chunk; the end of the stream
/// or a read error ends the connection. Shared by both SSE lanes.
pub(crate) async fn next_events(
    body: &mut Incoming,
    parser: &mut SseParser,
) -> Result<Vec<parser::SseEvent>, End> {
    match http::next_chunk(body).await {
        Ok(Some(chunk)) => Ok(parser.feed(&chunk)),
        Ok(None) => Err(End::Lost("stream closed by the server".to_owned())),
        Err(error) => Err(End::Lost(NetError::from(error).to_string())),
    }
}

/// Sends the request, resuming after the last revision seen; the body of a `200`.
async fn open(
    endpoints: Endpoints,
    traffic: Arc<Traffic>,
    since: Option<Revision>,
) -> Result<(Sender, Incoming), NetError> {
    let mut headers = vec![(::http::header::ACCEPT, "text/event-stream".to_owned())];
    if let Some(since) = since {
        headers.push((
            ::http::HeaderName::from_static("last-event-id"),
            since.to_string(),
        ));
    }
    let path = format!("{}/events", endpoints.list_path());
    let request = http::get(&endpoints, &path, &headers)?;
    let mut sender = http::connect(&endpoints, traffic).await?;
    let response = sender.send(request).await?;
    let status = response.status();
    let event_stream = header(response.headers(), "content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if status != ::http::StatusCode::OK || !event_stream {
        return Err(NetError::Unexpected(format!(
            "HTTP {status} from {path}, not an event stream"
        )));
    }
    Ok((sender, response.into_body()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::*;
    use crate::event::{Event, LaneUpdate};
    use crate::lane::LaneKind;
    use crate::net::{Nodes, resume};
    use pollpush_shared::ServerMessage;

    /// Reads a request's head; returns it, lower-cased.
    async fn read_head(socket: &mut tokio::net::TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            socket.read_exact(&mut byte).await.expect("a request");
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).to_lowercase()
    }

    fn snapshot(revision: u64) -> String {
        let json =
            format!(r#"{{"type":"snapshot","room":"species","revision":{revision},"species":[]}}"#);
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n: keep-alive\r\n\r\nid: {revision}\r\nevent: snapshot\r\ndata: {json}\r\n\r\n"
        )
    }

    #[tokio::test]
    async fn a_reconnect_resumes_with_last_event_id_and_every_byte_out_is_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Two connections, each one event then closed by the "server".
        let server = tokio::spawn(async move {
            let mut heads = Vec::new();
            for revision in [7, 9] {
                let (mut socket, _) = listener.accept().await.expect("accept");
                heads.push(read_head(&mut socket).await);
                socket
                    .write_all(snapshot(revision).as_bytes())
                    .await
                    .expect("write");
            }
            heads
        });
        let (events, mut inbox) = mpsc::channel::<Event>(16);
        let traffic = Arc::new(Traffic::default());
        let nodes = Nodes::one(crate::net::Endpoints::local(addr));
        let lane = tokio::spawn(resume::run(
            LaneKind::Sse,
            nodes,
            0,
            traffic.clone(),
            events,
            Sse,
        ));
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while seen.len() < 2 {
            let event = tokio::time::timeout_at(deadline, inbox.recv()).await;
            let Ok(Some(Event::Lane(event))) = event else {
                panic!("no second snapshot in time: {seen:?}")
            };
            match event.update {
                LaneUpdate::Message(ServerMessage::Snapshot { revision, .. }) => {
                    seen.push(revision);
                }
                LaneUpdate::Connected { resume_from, .. } => {
                    assert_eq!(resume_from, seen.last().copied());
                }
                _ => {}
            }
        }
        lane.abort();
        let heads = server.await.expect("server");
        assert_eq!(seen, [7, 9]);
        assert!(
            heads[0].starts_with("get ")
                && heads[0].contains("/species/events ")
                && !heads[0].contains("last-event-id")
        );
        assert!(heads[1].contains("last-event-id: 7\r\n"), "{}", heads[1]);
        let sent: usize = heads.iter().map(String::len).sum();
        assert_eq!(
            traffic.totals().bytes_out,
            sent as u64,
            "requests counted on the socket"
        );
    }
}
