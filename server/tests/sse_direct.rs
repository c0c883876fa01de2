//! SSE streams on the direct path: a connection's first request for
//! `/species/events` leaves hyper and its events are written by the feed's
//! fan-out, as for `/ws`. It keeps the hyper path's behaviour: the same
//! response, `Last-Event-ID` resume, and a resync when the client stops reading.
#![allow(clippy::unwrap_used)]

mod common;

use common::{DEADLINE, spawn_server, spawn_server_with};
use pollpush_server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An SSE client over raw TCP that decodes the chunked body itself.
struct RawSse {
    tcp: TcpStream,
    /// Bytes read and not yet decoded.
    raw: Vec<u8>,
    /// Decoded body not yet split into events.
    body: Vec<u8>,
    head: String,
}

/// One event: `(event, id, data)`.
type Event = (String, Option<u64>, serde_json::Value);

impl RawSse {
    /// Opens a stream on a fresh connection with `headers` (each ending in `\r\n`).
    async fn open(server: &Server, headers: &str) -> Self {
        let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        let request = format!("GET /species/events HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut sse = Self {
            tcp,
            raw: Vec::new(),
            body: Vec::new(),
            head: String::new(),
        };
        while !sse.raw.windows(4).any(|w| w == b"\r\n\r\n") {
            sse.read_more().await;
        }
        let end = sse.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        sse.head = String::from_utf8(sse.raw.drain(..end).collect()).unwrap();
        assert!(sse.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", sse.head);
        assert!(sse.head.contains("transfer-encoding: chunked\r\n"));
        sse
    }

    async fn read_more(&mut self) {
        let mut buf = vec![0u8; 16 * 1024];
        let n = tokio::time::timeout(DEADLINE, self.tcp.read(&mut buf))
            .await
            .expect("bytes before the deadline")
            .unwrap();
        assert!(n > 0, "the stream ended");
        self.raw.extend_from_slice(&buf[..n]);
    }

    /// Moves every whole chunk from `raw` to `body`.
    fn decode(&mut self) {
        while let Some(line) = self.raw.windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&self.raw[..line]).unwrap();
            let size = usize::from_str_radix(size, 16).unwrap();
            assert!(size > 0, "the body ended");
            if self.raw.len() < line + 2 + size + 2 {
                return;
            }
            let chunk: Vec<u8> = self.raw.drain(..line + 2 + size + 2).collect();
            self.body
                .extend_from_slice(&chunk[line + 2..line + 2 + size]);
        }
    }

    /// The next event, keep-alive comments skipped.
    async fn next(&mut self) -> Event {
        loop {
            self.decode();
            if let Some(end) = self.body.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.body.drain(..end + 2).collect();
                let block = String::from_utf8(block).unwrap();
                let (mut kind, mut id, mut data) = (String::new(), None, serde_json::Value::Null);
                for line in block.lines() {
                    match line.split_once(": ") {
                        Some(("event", v)) => v.clone_into(&mut kind),
                        Some(("id", v)) => id = v.parse().ok(),
                        Some(("data", v)) => data = serde_json::from_str(v).unwrap(),
                        _ => {}
                    }
                }
                if !kind.is_empty() {
                    return (kind, id, data);
                }
                continue;
            }
            self.read_more().await;
        }
    }
}

/// Subscriptions with a queue of their own (socket.io's forwarder has one
/// from the start): a stream on hyper's path adds one, a direct one does not.
async fn queued_subscriptions(server: &Server) -> u64 {
    common::eventually(
        || server.stats().memory.queues >= 1,
        "socket.io's forwarder subscribed",
    )
    .await;
    server.stats().memory.queues
}

#[tokio::test]
async fn a_direct_stream_has_the_routes_headers_and_no_queue() {
    let server = spawn_server().await;
    let queues = queued_subscriptions(&server).await;
    let mut sse = RawSse::open(&server, "Origin: http://a.example\r\n").await;
    let (kind, _, _) = sse.next().await;
    assert_eq!(kind, "snapshot");
    for header in [
        "content-type: text/event-stream\r\n",
        "cache-control: no-cache\r\n",
        "x-accel-buffering: no\r\n",
        "access-control-allow-origin: http://a.example\r\n",
        "access-control-allow-credentials: true\r\n",
        "vary: Origin\r\n",
    ] {
        assert!(sse.head.contains(header), "{header} in {}", sse.head);
    }
    let stats = server.stats();
    assert_eq!(stats.sse.subscribers, 1);
    assert_eq!(stats.sse.connections, 1);
    assert_eq!(
        queued_subscriptions(&server).await,
        queues,
        "the fan-out writes to it"
    );
    let revision = common::create_revision(&server, "Vitis").await;
    let (kind, id, data) = sse.next().await;
    assert_eq!((kind.as_str(), id), ("change", Some(revision)));
    assert_eq!(data["type"], "change");
    drop(sse);
    common::eventually(
        || server.stats().sse.subscribers == 0,
        "a closed stream is uncounted",
    )
    .await;
}

#[tokio::test]
async fn a_direct_stream_resumes_after_last_event_id_without_a_snapshot() {
    let server = spawn_server().await;
    let start = common::revision(&server).await;
    let first = common::create_revision(&server, "a").await;
    common::create_revision(&server, "b").await;
    let queues = queued_subscriptions(&server).await;
    let mut sse = RawSse::open(&server, &format!("Last-Event-ID: {start}\r\n")).await;
    assert_eq!(queued_subscriptions(&server).await, queues);
    let replayed = [sse.next().await, sse.next().await];
    let ids: Vec<_> = replayed
        .iter()
        .map(|(k, id, _)| (k.as_str(), *id))
        .collect();
    assert_eq!(ids, [("change", Some(first)), ("change", Some(first + 1))]);
    // Live from there, with nothing repeated.
    let next = common::create_revision(&server, "c").await;
    let (kind, id, _) = sse.next().await;
    assert_eq!((kind.as_str(), id), ("change", Some(next)));
}

/// A direct stream whose client stops reading: the kernel's buffers and the
/// feed's queue overflow, the stream is resynced (`resync`, then a snapshot),
/// and it is live again with no gap once the client reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_stream_that_stops_reading_is_resynced_and_live_again() {
    let server = spawn_server_with(common::quick_to_lag()).await;
    let queues = queued_subscriptions(&server).await;
    let mut sse = RawSse::open(&server, "").await;
    assert_eq!(sse.next().await.0, "snapshot");
    assert_eq!(queued_subscriptions(&server).await, queues);
    let mut last = 0;
    for _ in 0..600 {
        last = common::create_revision(&server, &"\u{1d511}".repeat(100)).await;
    }
    assert!(server.stats().sse.resyncs >= 1, "counted when it lagged");
    let mut at: Option<u64> = None;
    let mut resynced = false;
    while at != Some(last) {
        match sse.next().await {
            (kind, Some(revision), _) if kind == "change" => {
                if resynced {
                    assert_eq!(Some(revision), at.map(|r| r + 1), "no gap after the resync");
                }
                at = Some(revision);
            }
            (kind, _, data) if kind == "resync" => {
                let (snapshot, id, _) = sse.next().await;
                assert_eq!(snapshot, "snapshot", "a snapshot follows resync");
                assert_eq!(id, data["revision"].as_u64());
                at = id;
                resynced = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(resynced, "the stream was resynced");
    let next = common::create_revision(&server, "Basilic").await;
    let (kind, id, _) = sse.next().await;
    assert_eq!((kind.as_str(), id), ("change", Some(next)));
}
