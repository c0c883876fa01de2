//! Server-Sent Events over HTTP/2 (issue 20): a hundred streams multiplexed
//! on one h2c connection (prior knowledge) each get their snapshot and then
//! every change, on one TCP connection.
#![allow(clippy::unwrap_used)]

mod common;

use common::h2::{WINDOW, connection, read_until, sse};

const STREAMS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sse_streams_on_one_h2_connection_all_get_a_change() {
    let server = common::spawn_server().await;
    let mut sender = connection(&server, WINDOW).await;
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        streams.push((sse(&server, &mut sender).await, String::new()));
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
