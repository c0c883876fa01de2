//! The four lanes against in-process servers on port 0, no terminal: the
//! long-poll and SSE lanes measured by the same rules as polling and push.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Client, node};
use pollpush_client::lane::LaneKind::{self, LongPoll, Poll, Sse, Ws};
use pollpush_client::lane::Lanes;
use pollpush_client::net::control;
use pollpush_client::target::Target;

const WITHIN: Duration = Duration::from_secs(15);

fn lanes(kinds: &[LaneKind], wait_s: u64) -> Lanes {
    Lanes {
        kinds: kinds.to_vec(),
        long_poll_wait: Duration::from_secs(wait_s),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_miss_nothing_and_every_lane_counts_its_bytes() {
    let target = Target::embedded(10.0, Some(5), false).await.unwrap();
    let all = lanes(&LaneKind::ALL, 5);
    let mut client = Client::start_lanes(&target, Duration::from_millis(500), &all);
    client
        .until("every lane moved several times", WITHIN, |app| {
            app.lanes.iter().all(|p| p.counters.seen >= 5)
        })
        .await;
    let app = &client.app;
    for kind in [Sse, Ws] {
        let c = &app[kind].counters;
        assert_eq!(c.missed, 0, "{kind:?} misses nothing: {c:?}");
        assert!(c.messages > c.seen, "{kind:?}: a snapshot, then changes");
    }
    assert!(app[LongPoll].counters.requests > app[LongPoll].counters.seen);
    for pane in &app.lanes {
        let t = pane.traffic();
        assert!(t.bytes_in > 0 && t.bytes_out > 0, "{:?}: {t:?}", pane.kind);
    }
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_long_poll_answers_as_soon_as_the_list_changes() {
    let target = Target::embedded(0.0, Some(5), false).await.unwrap();
    // A wait far longer than the test: only a change can end the held request.
    let mut client = Client::start_lanes(&target, Duration::from_secs(1), &lanes(&[LongPoll], 60));
    client
        .until("the first list", WITHIN, |app| {
            app[LongPoll].revision.is_some()
        })
        .await;
    let before = client.app[LongPoll].revision.unwrap();
    let writer = control::client();
    control::write_now(&writer, target.nodes.poll())
        .await
        .unwrap();
    client
        .until("the change, through the held request", WITHIN, |app| {
            app[LongPoll].revision > Some(before)
        })
        .await;
    let c = client.app[LongPoll].counters;
    assert_eq!((c.requests, c.seen, c.missed, c.not_modified), (2, 1, 0, 0));
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_that_waits_in_vain_is_a_304() {
    let target = Target::embedded(0.0, Some(5), false).await.unwrap();
    let mut client = Client::start_lanes(&target, Duration::from_secs(1), &lanes(&[LongPoll], 1));
    client
        .until("a 304 after the wait", WITHIN, |app| {
            app[LongPoll].counters.not_modified >= 1
        })
        .await;
    assert_eq!(client.app[LongPoll].counters.errors, 0);
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_follows_push_to_the_second_node_and_fails_over_like_it() {
    let (a, b) = (node(10.0, 1).await, node(10.0, 2).await);
    let (a_label, b_label) = (a.local_addr().to_string(), b.local_addr().to_string());
    let servers = format!("http://{a_label},http://{b_label}");
    let target = Target::remote(&servers, None).unwrap();
    let kinds = lanes(&[Poll, LongPoll, Sse], 5);
    let mut client = Client::start_lanes(&target, Duration::from_millis(200), &kinds);
    client
        .until("SSE live on B", WITHIN, |app| app[Sse].counters.seen >= 3)
        .await;
    assert_eq!(client.app[Sse].node.as_deref(), Some(b_label.as_str()));
    assert_eq!(client.app[LongPoll].node.as_deref(), Some(a_label.as_str()));

    b.shutdown().await;
    client.fails_over_to(Sse, &a_label, WITHIN).await;
    a.shutdown().await;
}
