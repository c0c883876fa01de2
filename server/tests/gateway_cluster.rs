//! A feed in a cluster: two real nodes over PostgreSQL and Redis, both given
//! `--feed t=URL`. The upstream sees one poller (each node names itself in a
//! header it sends); the other node serves the poller's changes on its own
//! lanes (`/ws`, SSE, socket.io); `kill -9` of the poller hands the feed to the other within two
//! intervals, and a subscriber there gets every change exactly once, in
//! order, while one of the dead node's resumes there with `since`; a node
//! that joins later replays the whole history from the store.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "cluster/engines.rs"]
mod engines;
#[path = "gateway/push.rs"]
#[allow(dead_code)]
mod push;
#[path = "gateway/upstream.rs"]
#[allow(dead_code)]
mod upstream;

use std::time::{Duration, Instant};

use common::sse::Events;
use common::{DEADLINE, Running, get_json, http, start_binary};
use engines::{TestDb, shared_redis};
use push::{SioClient, WsClient};
use serde_json::{Value, json};
use upstream::{Answer, Upstream};

/// The feed's interval.
const EVERY: Duration = Duration::from_millis(500);

/// A node polling `upstream` as feed `t`, which it names `X-Node: NAME`.
fn start_node(name: &str, db: &str, redis: &(String, String), upstream: &Upstream) -> Node {
    let broker = ["--broker", &redis.0, "--broker-prefix", &redis.1];
    start_with(name, db, upstream, &broker)
}

/// [`start_node`] with `more` arguments instead of the broker's.
fn start_with(name: &str, db: &str, upstream: &Upstream, more: &[&str]) -> Node {
    let feed = format!("t={}", upstream.url);
    let header = format!("X-Node: {name}");
    let every = format!("{}ms", EVERY.as_millis());
    let mut args = vec![
        "--db",
        db,
        "--node-id",
        name,
        "--feed",
        &feed,
        "--feed-every",
        &every,
        "--feed-header",
        &header,
    ];
    args.extend_from_slice(more);
    let (running, addr) = start_binary(&args);
    Node {
        name: name.to_owned(),
        running,
        addr,
    }
}

struct Node {
    name: String,
    running: Running,
    addr: String,
}

impl Node {
    /// The feed's entry in this node's `/stats`.
    async fn feed(&self) -> Value {
        let stats: Value = get_json(&format!("http://{}/stats", self.addr)).await;
        stats["feeds"][0].clone()
    }

    fn socket(&self) -> std::net::SocketAddr {
        self.addr.parse().unwrap()
    }
}

/// Which node sent each upstream request since `from`.
fn pollers_since(upstream: &Upstream, from: Instant) -> Vec<(Instant, String)> {
    upstream
        .requests()
        .into_iter()
        .filter(|(at, _)| *at >= from)
        .map(|(at, head)| {
            let node = head
                .lines()
                .find_map(|l| l.strip_prefix("x-node: "))
                .unwrap_or("?")
                .trim()
                .to_owned();
            (at, node)
        })
        .collect()
}

/// Waits until `done` holds for both nodes' feed stats.
async fn until(nodes: [&Node; 2], what: &str, done: impl Fn(&Value, &Value) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (a, b) = (nodes[0].feed().await, nodes[1].feed().await);
        if done(&a, &b) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {a} / {b}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The revisions of the next `n` SSE events, all changes.
async fn sse_changes(events: &mut Events, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let event = events.next().await;
        assert_eq!(event.kind, "change", "{event:?}");
        seen.push(event.id.unwrap().parse().unwrap());
    }
    seen
}

/// The revisions of the next `n` changes.
async fn changes(ws: &mut WsClient, n: usize) -> Vec<u64> {
    let revision = |c: &Value| c["revision"].as_u64().unwrap();
    ws.changes(n).await.iter().map(revision).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_node_polls_and_another_takes_over_within_two_intervals_losing_nothing() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Some(redis) = shared_redis().await else {
        return;
    };
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1}]));
    let a = start_node("a", &db.url, &redis, &upstream);
    let b = start_node("b", &db.url, &redis, &upstream);
    until([&a, &b], "both nodes at revision 1, one polling", |x, y| {
        x["revision"] == 1 && y["revision"] == 1 && x["polling"] != y["polling"]
    })
    .await;
    let (poller, follower) = if a.feed().await["polling"] == true {
        (a, b)
    } else {
        (b, a)
    };

    // The upstream sees one poller, once per interval.
    let from = Instant::now();
    tokio::time::sleep(EVERY * 6).await;
    let seen = pollers_since(&upstream, from);
    assert!(
        seen.iter().all(|(_, node)| *node == poller.name),
        "only {} polls: {seen:?}",
        poller.name
    );
    // At most one request per interval (a slow poll only makes fewer).
    assert!((3..=7).contains(&seen.len()), "6 intervals: {seen:?}");

    // A subscriber on each node; the follower's get the poller's changes.
    let mut on_follower = WsClient::connect(follower.socket()).await;
    assert_eq!(on_follower.subscribe("t", None).await, 1);
    assert_eq!(on_follower.next().await["type"], "snapshot");
    let mut on_poller = WsClient::connect(poller.socket()).await;
    assert_eq!(on_poller.subscribe("t", None).await, 1);
    assert_eq!(on_poller.next().await["type"], "snapshot");
    // The follower serves them on SSE and socket.io as well.
    let stream = http()
        .get(format!("http://{}/feeds/t/events", follower.addr))
        .send()
        .await
        .unwrap();
    let mut sse_on_follower = Events::from_response(stream);
    assert_eq!(sse_on_follower.next().await.kind, "snapshot");
    let mut io_on_follower = SioClient::connect(follower.socket()).await;
    assert_eq!(io_on_follower.subscribe(json!("t")).await["revision"], 1);
    assert_eq!(io_on_follower.next().await.0, "snapshot");
    upstream.set_json(json!([{"id": 1}, {"id": 2}, {"id": 3}]));
    assert_eq!(changes(&mut on_follower, 2).await, [2, 3]);
    assert_eq!(changes(&mut on_poller, 2).await, [2, 3]);
    assert_eq!(sse_changes(&mut sse_on_follower, 2).await, [2, 3]);
    for revision in [2, 3] {
        let (event, data) = io_on_follower.next().await;
        assert_eq!(
            (event.as_str(), data["revision"].as_u64()),
            ("change", Some(revision))
        );
    }

    // SIGKILL the poller, and change the upstream: only the follower can see it.
    let mut poller = poller;
    poller.running.kill().unwrap();
    let killed = Instant::now();
    poller.running.wait().unwrap();
    upstream.set_json(json!([{"id": 1}, {"id": 3, "n": "c"}, {"id": 4}]));
    let deadline = killed + DEADLINE;
    let took_over = loop {
        let seen = pollers_since(&upstream, killed);
        if let Some((at, _)) = seen.iter().find(|(_, node)| *node == follower.name) {
            break *at - killed;
        }
        assert!(Instant::now() < deadline, "no takeover: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(took_over < EVERY * 2, "took over after {took_over:?}");

    // Every change exactly once, in order, on the survivor.
    let rest = changes(&mut on_follower, 3).await;
    assert_eq!(rest, [4, 5, 6]);
    assert_eq!(sse_changes(&mut sse_on_follower, 3).await, [4, 5, 6]);
    assert_eq!(follower.feed().await["polling"], true);
    // The dead node's subscriber resumes on the survivor from what it holds.
    let mut resumed = WsClient::connect(follower.socket()).await;
    assert_eq!(resumed.subscribe("t", Some(3)).await, 6);
    assert_eq!(changes(&mut resumed, 3).await, [4, 5, 6]);
    let items: Value = get_json(&format!("http://{}/feeds/t", follower.addr)).await;
    assert_eq!(items, json!([{"id": 1}, {"id": 3, "n": "c"}, {"id": 4}]));
    // Nothing more: a quiet feed sends nothing twice.
    let extra = tokio::time::timeout(EVERY * 2, on_follower.next()).await;
    assert!(extra.is_err(), "an extra message {extra:?}");

    // A node that joins now has none of it in memory: it starts at the
    // stored revision, and `since=0` replays every change from the store.
    let late = start_node("c", &db.url, &redis, &upstream);
    let mut fresh = WsClient::connect(late.socket()).await;
    assert_eq!(fresh.subscribe("t", Some(0)).await, 6);
    assert_eq!(changes(&mut fresh, 6).await, [1, 2, 3, 4, 5, 6]);
}

/// Waits until the node's feed is at `revision`.
async fn until_revision(node: &Node, revision: u64) {
    let deadline = Instant::now() + DEADLINE;
    while node.feed().await["revision"] != revision {
        assert!(
            Instant::now() < deadline,
            "{} at revision {revision}",
            node.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_a_database_without_a_broker_keep_their_own_feed_histories() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let upstream = Upstream::start(Answer::Status(503)).await;
    upstream.set_json(json!([{"id": 1}]));
    let a = start_with("a", &db.url, &upstream, &[]);
    until_revision(&a, 1).await;
    for n in [2, 3] {
        upstream.set_json(json!([{"id": 1, "n": n}]));
        until_revision(&a, n).await;
    }
    // b polls on its own from nothing: one change where a made three.
    let b = start_with("b", &db.url, &upstream, &[]);
    until_revision(&b, 1).await;
    let mut on_b = WsClient::connect(b.socket()).await;
    assert_eq!(on_b.subscribe("t", Some(0)).await, 1);
    let first = on_b.next().await;
    assert_eq!(
        (first["revision"].as_u64(), first["op"].as_str()),
        (Some(1), Some("created"))
    );
    assert_eq!(first["item"], json!({"id": 1, "n": 3}));
    // a, restarted under its name, carries on from its own revision 3.
    let mut a = a;
    a.running.kill().unwrap();
    a.running.wait().unwrap();
    upstream.set_json(json!([{"id": 1, "n": 4}]));
    let a = start_with("a", &db.url, &upstream, &[]);
    until_revision(&a, 4).await;
    let mut on_a = WsClient::connect(a.socket()).await;
    assert_eq!(on_a.subscribe("t", Some(1)).await, 4);
    assert_eq!(changes(&mut on_a, 3).await, [2, 3, 4]);
}
