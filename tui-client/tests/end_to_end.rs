//! Both producers against the embedded server on port 0, no terminal: what a
//! user sees in the panes must match what the server did.

mod common;

use std::time::Duration;

use common::Client;
use pollpush_client::lane::LaneKind::{Poll, Ws};
use pollpush_client::net::control;
use pollpush_client::target::Target;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_sees_every_revision_and_polling_counts_what_it_skipped() {
    let target = Target::embedded(10.0, Some(7), false)
        .await
        .expect("embedded server");
    let mut client = Client::start(&target, Duration::from_millis(500));

    client
        .until("a few seconds of changes", Duration::from_secs(15), |app| {
            app[Ws].counters.seen >= 20 && app[Poll].counters.seen >= 3
        })
        .await;

    let writer = control::client();
    let wrote = control::write_now(&writer, target.nodes.poll())
        .await
        .expect("REST write");
    assert!(wrote.contains("revision"), "{wrote}");
    target.set_simulator_rate(0.0);
    let last = control::stats(target.nodes.poll(), None)
        .await
        .expect("stats")
        .revision;
    client
        .until(
            "both panes at the last revision",
            Duration::from_secs(10),
            |app| app[Ws].revision == Some(last) && app[Poll].revision == Some(last),
        )
        .await;

    let (push, poll) = (&client.app[Ws], &client.app[Poll]);
    let span = |p: &pollpush_client::app::pane::PaneState| last - p.baseline.expect("baseline");
    assert_eq!(push.counters.missed, 0);
    assert_eq!(push.counters.seen, span(push));
    assert_eq!(poll.counters.seen + poll.counters.missed, span(poll));
    assert!(
        poll.counters.missed > 0,
        "10 changes/s polled every 500 ms must skip some"
    );
    assert!(poll.counters.requests >= 3);
    assert!(push.traffic().bytes_in > 0 && poll.traffic().bytes_in > 0);
    assert!(poll.traffic().bytes_out > 0, "request headers are counted");

    // The only WebSocket is ours: both ends must have counted the same bytes,
    // the upgrade request and its 101 included.
    let server = control::stats(target.nodes.poll(), None)
        .await
        .expect("stats");
    assert_eq!(server.ws.bytes_out, push.traffic().bytes_in);
    assert_eq!(server.ws.bytes_in, push.traffic().bytes_out);
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_list_costs_a_304() {
    let target = Target::embedded(0.0, Some(1), false)
        .await
        .expect("embedded server");
    let mut client = Client::start(&target, Duration::from_millis(100));
    client
        .until("two 304s", Duration::from_secs(10), |app| {
            app[Poll].counters.not_modified >= 2
        })
        .await;
    assert_eq!(client.app[Poll].counters.missed, 0);
    target.shutdown().await;
}
