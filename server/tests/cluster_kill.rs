//! `kill -9` of a node mid-stream: its subscribers resume on another node
//! with `since` and miss nothing; every acknowledged write is in the store.
//! Runs the real binary, over the real PostgreSQL and Redis.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "cluster/engines.rs"]
mod engines;

use std::sync::{Arc, Mutex};

use common::{http, recv, send, subscribe_species};
use engines::{TestDb, shared_redis};
use pollpush_shared::ServerMessage;
use serde_json::json;

/// One node process on port 0 over `db` and the broker `redis` (url, prefix).
fn start_node(db: &str, redis: &(String, String)) -> (common::Running, String) {
    common::start_binary(&[
        "--db",
        db,
        "--broker",
        &redis.0,
        "--broker-prefix",
        &redis.1,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_nodes_subscribers_resume_elsewhere_and_miss_nothing() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let Some(redis) = shared_redis().await else {
        return;
    };
    let (mut doomed, doomed_addr) = start_node(&db.url, &redis);
    let (mut survivor, survivor_addr) = start_node(&db.url, &redis);

    // Writers on both nodes record every revision acknowledged with 201.
    let acked = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writers: Vec<_> = [doomed_addr.clone(), survivor_addr.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, addr)| {
            let (acked, stopped) = (acked.clone(), stopped.clone());
            tokio::spawn(async move {
                let client = http();
                for i in 0.. {
                    if *stopped.borrow() {
                        break;
                    }
                    let name = format!("w{w}-{i}");
                    let sent = client
                        .post(format!("http://{addr}/species"))
                        .json(&json!({ "name": name }))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 201 => {
                            let rev = r.headers()["x-revision"].to_str().unwrap().parse().unwrap();
                            acked.lock().unwrap().push((rev, name));
                        }
                        // The doomed node's requests fail once it is gone.
                        _ => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect();

    // A subscriber on the doomed node.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{doomed_addr}/ws"))
        .await
        .unwrap();
    recv(&mut ws).await; // hello
    send(&mut ws, &subscribe_species(None)).await;
    let ServerMessage::Subscribed {
        revision: start, ..
    } = recv(&mut ws).await
    else {
        panic!("expected subscribed")
    };
    let mut seen = Vec::new();
    loop {
        match recv(&mut ws).await {
            ServerMessage::Snapshot { .. } => {}
            ServerMessage::Change(c) => {
                seen.push(c.revision);
                if seen.len() == 50 {
                    break;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    doomed.kill().unwrap(); // SIGKILL
    doomed.wait().unwrap();

    // It resumes on the survivor after the last revision it holds.
    let since = *seen.last().unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{survivor_addr}/ws"))
        .await
        .unwrap();
    recv(&mut ws).await; // hello
    send(&mut ws, &subscribe_species(Some(since))).await;
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Subscribed { .. }
    ));
    // Let the survivor's writer go on for a while, then stop everyone.
    let target = since + 50;
    while seen.last().is_none_or(|r| *r < target) {
        match recv(&mut ws).await {
            ServerMessage::Change(c) => seen.push(c.revision),
            other => panic!("a resumed subscription sent {other:?}"),
        }
    }
    stop.send(true).unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let last = acked.iter().map(|(r, _)| *r).max().unwrap();
    while seen.last().is_none_or(|r| *r < last) {
        match recv(&mut ws).await {
            ServerMessage::Change(c) => seen.push(c.revision),
            other => panic!("a resumed subscription sent {other:?}"),
        }
    }
    assert_eq!(seen, (start + 1..=last).collect::<Vec<_>>());

    // Every acknowledged write is in the database.
    let names = db.species_names().await;
    for (revision, name) in &acked {
        assert!(
            names.contains(name),
            "acknowledged write {name} (revision {revision}) lost"
        );
    }
    survivor.kill().unwrap();
    survivor.wait().unwrap();
}
