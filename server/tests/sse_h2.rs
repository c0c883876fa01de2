//! Server-Sent Events over HTTP/2 (issue 20): a hundred streams multiplexed
//! on one h2c connection (prior knowledge) each get their snapshot and then
//! every change, on one TCP connection.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};

const STREAMS: usize = 100;

/// Reads `body` until its text so far contains `needle`; fails after the deadline.
async fn read_until(body: &mut Incoming, seen: &mut String, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(needle) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} before the deadline; got {seen:?}"))
            .expect("the stream ended")
            .expect("a stream error");
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sse_streams_on_one_h2_connection_all_get_a_change() {
    let server = common::spawn_server().await;
    let addr = server.local_addr();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake::<_, String>(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        sender.ready().await.unwrap();
        let request = http::Request::get(format!("http://{addr}/species/events"))
            .body(String::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        streams.push((response.into_body(), String::new()));
    }
    for (body, seen) in &mut streams {
        read_until(body, seen, "event: snapshot").await;
    }
    let id = common::create(&server, "Vitis").await;
    for (body, seen) in &mut streams {
        read_until(body, seen, "event: change").await;
        assert!(
            seen.contains("Vitis"),
            "the change is the write: {seen:?} (id {id})"
        );
    }
    let stats = server.stats();
    assert_eq!(stats.sse.subscribers, STREAMS as u64);
    assert_eq!(
        stats.sse.connections_total, 1,
        "one TCP connection: {:?}",
        stats.sse
    );
    drop(streams);
    server.shutdown().await;
}
