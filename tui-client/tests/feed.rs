//! `--feed NAME`: the lanes watch an upstream feed of a pollpush-server
//! (`--feed NAME=URL`) instead of the species, against a small REST API made
//! here and a server on port 0.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::upstream::Upstream;
use common::{Client, gateway};
use pollpush_client::lane::LaneKind::{LongPoll, Poll, SocketIo, Sse, Ws};
use pollpush_client::lane::Lanes;
use pollpush_client::target::Target;

const WITHIN: Duration = Duration::from_secs(20);

fn feed_target(server: &pollpush_server::Server) -> Target {
    let mut target = Target::remote(&format!("http://{}", server.local_addr()), None).unwrap();
    target.nodes = target.nodes.with_feed(Some("talk"));
    target
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lane_shows_the_feeds_items_and_each_upstream_change_once() {
    let upstream = Upstream::start("127.0.0.1:0", 3).await.unwrap();
    let server = gateway(&upstream, Duration::from_millis(100)).await;
    let lanes = Lanes {
        kinds: vec![Poll, LongPoll, Sse, Ws, SocketIo],
        long_poll_wait: Duration::from_secs(5),
    };
    let target = feed_target(&server);
    let mut client = Client::start_lanes(&target, Duration::from_millis(100), &lanes);
    client.app.feed = Some("talk".to_owned());
    let shows = |app: &pollpush_client::app::App, items: &[serde_json::Value]| {
        app.lanes
            .iter()
            .all(|p| p.feed.as_ref().is_some_and(|f| f.values() == items))
    };
    let first = upstream.list();
    client
        .until("every lane showing the upstream's items", WITHIN, |app| {
            shows(app, &first)
        })
        .await;
    // Counted from here: a lane may have started at the feed's empty revision 0.
    for pane in &mut client.app.lanes {
        pane.reset();
    }
    for n in 0..3 {
        upstream.bump(n);
        let now = upstream.list();
        client
            .until("every lane showing the change", WITHIN, |app| {
                shows(app, &now)
            })
            .await;
    }
    for pane in &client.app.lanes {
        let c = pane.counters;
        assert_eq!((c.seen, c.missed), (3, 0), "{:?}", pane.kind);
        assert_eq!(
            pane.revision,
            Some(6),
            "3 created, then 3 updated: {:?}",
            pane.kind
        );
    }
    // Unchanged, the upstream answers the gateway's conditional polls with 304s.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while upstream.not_modified.load(Relaxed) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no 304s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Five lanes, one upstream poller, and the gateway counts what the upstream saw.
    let feed = server.stats().feeds.into_iter().next().unwrap();
    let seen = upstream.requests.load(Relaxed);
    assert!(
        (seen.saturating_sub(1)..=seen).contains(&feed.upstream_requests),
        "{feed:?} vs {seen}"
    );
    assert_eq!(feed.changes, 6);
}
