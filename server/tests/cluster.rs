//! Several nodes over one PostgreSQL store and one Redis broker: every
//! subscriber on every node gets every revision exactly once, in order, when
//! nodes, the broker or the database go away. Needs the real engines (see
//! `cluster/engines.rs`); each test makes its own database and key prefix.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "cluster/engines.rs"]
mod engines;

use std::time::Duration;

use common::{DEADLINE, Ws, http, recv, send, subscribe_species};
use engines::{PrivateRedis, Proxy, TestDb, shared_redis};
use pollpush_server::{Config, Server};
use pollpush_shared::{ClientMessage, ServerMessage};
use serde_json::json;

/// A node on `db`, with the broker at `broker` (url, prefix) if given.
async fn node(db: &str, broker: Option<&(String, String)>) -> Server {
    let config = Config {
        db: db.to_owned(),
        broker: broker.map(|(url, _)| url.clone()),
        broker_prefix: broker.map_or_else(|| "pollpush:".to_owned(), |(_, p)| p.clone()),
        ..Config::default()
    };
    common::spawn_server_with(config).await
}

/// A `/ws` client of `addr` subscribed to species (resuming after `since`);
/// returns it and the revision its start covers.
async fn subscribe_at(addr: &str, since: Option<u64>) -> (Ws, u64) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert!(matches!(recv(&mut ws).await, ServerMessage::Hello { .. }));
    send(&mut ws, &subscribe_species(since)).await;
    let ServerMessage::Subscribed { revision, .. } = recv(&mut ws).await else {
        panic!("expected subscribed")
    };
    (ws, revision)
}

/// Reads changes until `last`, returning every revision seen in order.
/// A resync or a snapshot mid-stream is a failure: something was lost.
async fn revisions_until(ws: &mut Ws, mut seen: Vec<u64>, last: u64) -> Vec<u64> {
    while seen.last().is_none_or(|r| *r < last) {
        match recv(ws).await {
            ServerMessage::Change(change) => seen.push(change.revision),
            ServerMessage::Snapshot { .. } if seen.is_empty() => {}
            other => panic!("unexpected {other:?} after {seen:?}"),
        }
    }
    seen
}

fn contiguous(from: u64, to: u64) -> Vec<u64> {
    (from..=to).collect()
}

/// POSTs a species to `addr`; the new revision when acknowledged.
async fn write(client: &reqwest::Client, addr: &str, name: &str) -> Result<u64, u16> {
    let r = client
        .post(format!("http://{addr}/species"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .map_err(|_| 0_u16)?;
    if r.status() != 201 {
        return Err(r.status().as_u16());
    }
    Ok(r.headers()["x-revision"].to_str().unwrap().parse().unwrap())
}

async fn get_json(addr: &str, path: &str) -> (u16, serde_json::Value) {
    let r = http()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// Polls `addr`'s `/readyz` until its status is `status`.
async fn ready_becomes(addr: &str, status: u16) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (got, body) = get_json(addr, "/readyz").await;
        if got == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_deliver_every_revision_once_in_order() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Some(redis) = shared_redis().await else {
        return;
    };
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(&db.url, Some(&redis)).await);
    }
    let addrs: Vec<String> = nodes.iter().map(|n| n.local_addr().to_string()).collect();
    let mut subscribers = Vec::new();
    for addr in &addrs {
        for _ in 0..2 {
            subscribers.push(subscribe_at(addr, None).await);
        }
    }
    let start = subscribers[0].1;
    assert!(subscribers.iter().all(|(_, r)| *r == start));

    // 300 writes, 100 through each node, all at once.
    let writers: Vec<_> = addrs
        .iter()
        .cloned()
        .map(|addr| {
            tokio::spawn(async move {
                let client = http();
                for i in 0..100 {
                    write(&client, &addr, &format!("w{i}")).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let last = start + 300;
    for (ws, _) in &mut subscribers {
        let seen = revisions_until(ws, Vec::new(), last).await;
        assert_eq!(seen, contiguous(start + 1, last));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_serve_the_same_etag_and_body_and_broadcasts_cross_nodes() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Some(redis) = shared_redis().await else {
        return;
    };
    let (a, b) = (
        node(&db.url, Some(&redis)).await,
        node(&db.url, Some(&redis)).await,
    );
    let (a, b) = (a.local_addr().to_string(), b.local_addr().to_string());
    let revision = write(&http(), &a, "Vitis").await.unwrap();
    // B serves the revision once it has delivered it.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let fetch = |addr: String| async move {
        let r = http()
            .get(format!("http://{addr}/species"))
            .send()
            .await
            .unwrap();
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let rev: u64 = r.headers()["x-revision"].to_str().unwrap().parse().unwrap();
        (rev, etag, r.bytes().await.unwrap())
    };
    let on_a = fetch(a.clone()).await;
    let on_b = loop {
        let got = fetch(b.clone()).await;
        if got.0 >= revision {
            break got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never reached {revision}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(on_a.0, revision);
    assert_eq!(on_a, on_b, "same revision, same ETag, same body");

    // A member on each node; the one on B broadcasts.
    let join = |addr: String| async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        recv(&mut ws).await; // hello
        send(
            &mut ws,
            &ClientMessage::Subscribe {
                room: "lab".into(),
                since: None,
            },
        )
        .await;
        assert!(matches!(
            recv(&mut ws).await,
            ServerMessage::Subscribed { .. }
        ));
        ws
    };
    let (mut on_a, mut on_b) = (join(a.clone()).await, join(b.clone()).await);
    // Membership is local; the broker carries the broadcast once both have joined.
    let broadcast = ClientMessage::Broadcast {
        room: "lab".into(),
        event: "note".into(),
        data: json!({ "from": "b" }),
    };
    send(&mut on_b, &broadcast).await;
    let ServerMessage::Event { room, event, data } = recv(&mut on_a).await else {
        panic!("expected the broadcast on A")
    };
    assert_eq!((room.as_deref(), event.as_str()), (Some("lab"), "note"));
    assert_eq!(data, json!({ "from": "b" }));
    // Not echoed to the sender: the next thing B hears is the answer to its request.
    send(&mut on_b, &common::emit("info", Some(7))).await;
    assert!(matches!(
        recv(&mut on_b).await,
        ServerMessage::Ack { ack: 7, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_outage_loses_no_write_and_no_change() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Some(mut redis) = PrivateRedis::start().await else {
        return;
    };
    let broker = (redis.url(), "pollpush:".to_owned());
    let nodes = [
        node(&db.url, Some(&broker)).await,
        node(&db.url, Some(&broker)).await,
    ];
    let addrs: Vec<String> = nodes.iter().map(|n| n.local_addr().to_string()).collect();
    for addr in &addrs {
        ready_becomes(addr, 200).await;
    }
    let (_, stats) = get_json(&addrs[0], "/stats").await;
    assert_eq!(stats["broker"]["connected"], true, "{stats}");
    let (mut on_a, start) = subscribe_at(&addrs[0], None).await;
    let (mut on_b, _) = subscribe_at(&addrs[1], None).await;

    // Writes on A all along; every one must be acknowledged.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let a = addrs[0].clone();
    let writer = tokio::spawn(async move {
        let client = http();
        let mut last = 0;
        for i in 0.. {
            if *stopped.borrow_and_update() {
                break;
            }
            last = write(&client, &a, &format!("r{i}"))
                .await
                .expect("a write failed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        last
    });
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    seen_a = revisions_until(&mut on_a, seen_a, start + 20).await;
    redis.kill();
    let body = ready_becomes(&addrs[1], 503).await;
    assert!(
        body["detail"].as_str().unwrap().contains("broker"),
        "{body}"
    );
    // Changes still reach B, through its position check.
    seen_b = revisions_until(&mut on_b, seen_b, start + 60).await;
    redis.restart().await;
    ready_becomes(&addrs[1], 200).await;
    seen_a = revisions_until(&mut on_a, seen_a, start + 100).await;
    stop.send(true).unwrap();
    let last = writer.await.unwrap();
    seen_a = revisions_until(&mut on_a, seen_a, last).await;
    seen_b = revisions_until(&mut on_b, seen_b, last).await;
    assert_eq!(seen_a, contiguous(start + 1, last));
    assert_eq!(seen_b, contiguous(start + 1, last));
    // A counted what it could not publish while Redis was away, where an operator looks.
    let (_, stats) = get_json(&addrs[0], "/stats").await;
    assert!(
        stats["broker"]["dropped_publishes"].as_u64().unwrap() > 0,
        "{stats}"
    );
    let metrics = common::get_text(&format!("http://{}/metrics", addrs[0])).await;
    assert!(
        metrics.contains("pollpush_broker_dropped_publishes_total{"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_database_refuses_writes_with_503_and_the_node_recovers() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let proxy = Proxy::start(engines::database_addr(&db.url).await).await;
    let server = node(&proxy.url_for(&db.url), None).await;
    let addr = server.local_addr().to_string();
    let client = http();
    let before = write(&client, &addr, "before").await.unwrap();

    proxy.cut();
    let refused = write(&client, &addr, "during").await;
    assert_eq!(refused, Err(503));
    let (status, list) = get_json(&addr, "/species").await;
    assert_eq!(status, 200, "reads keep serving the last list");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "before")
    );
    let body = ready_becomes(&addr, 503).await;
    assert!(body["detail"].as_str().unwrap().contains("store"), "{body}");

    proxy.restore();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let after = loop {
        match write(&client, &addr, "after").await {
            Ok(revision) => break revision,
            Err(503) => {}
            Err(other) => panic!("unexpected status {other}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ready_becomes(&addr, 200).await;
    // The refused write was not applied: no revision between, no row.
    assert_eq!(after, before + 1);
    let names = db.species_names().await;
    assert!(!names.contains("during"), "{names:?}");
    assert!(names.contains("after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn socketio_changes_and_room_broadcasts_cross_nodes() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Some(redis) = shared_redis().await else {
        return;
    };
    let Some(clients) = tokio::task::spawn_blocking(|| {
        common::node::packages_or_skip(
            "socketio",
            "node_modules/socket.io-client-v2/package.json",
            "socket.io clients across nodes",
        )
    })
    .await
    .unwrap() else {
        return;
    };
    let (a, b) = (
        node(&db.url, Some(&redis)).await,
        node(&db.url, Some(&redis)).await,
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio/across.js");
    let (base_a, base_b) = (
        format!("http://{}", a.local_addr()),
        format!("http://{}", b.local_addr()),
    );
    let out = tokio::process::Command::new("node")
        .arg(script)
        .arg(clients.join("node_modules/socket.io-client"))
        .args([&base_a, &base_b])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
