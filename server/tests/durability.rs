//! Acknowledged writes survive `kill -9`, and history resumes across a restart.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{http, recv, send, subscribe_species};
use pollpush_shared::{ServerMessage, Species};
use serde_json::json;

/// The real binary on port 0 over the SQLite file `db`.
fn start_binary(db: &std::path::Path) -> (common::Running, String) {
    common::start_binary(&["--db", db.to_str().unwrap()])
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_and_history_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pollpush.db");
    let (mut child, addr) = start_binary(&db);

    // Four concurrent writers record every id the server acknowledged with 201.
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (acked, addr) = (acked.clone(), addr.clone());
        writers.push(tokio::spawn(async move {
            let client = http();
            for i in 0.. {
                let r = client
                    .post(format!("http://{addr}/species"))
                    .json(&json!({"name": format!("w{w}-{i}")}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => {
                        let s: Species = match r.json().await {
                            Ok(s) => s,
                            Err(_) => return,
                        };
                        acked.lock().unwrap().push(s.id);
                    }
                    _ => return, // the server is gone
                }
            }
        }));
    }
    // Kill once a good number of writes were acknowledged, while writes are in flight.
    common::eventually(
        || acked.lock().unwrap().len() >= 200,
        "200 acknowledged writes",
    )
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let (mut child, addr) = start_binary(&db);
    let r = http()
        .get(format!("http://{addr}/species"))
        .send()
        .await
        .unwrap();
    let revision: u64 = r.headers()["x-revision"].to_str().unwrap().parse().unwrap();
    let list: Vec<Species> = r.json().await.unwrap();
    let ids: std::collections::HashSet<u64> = list.iter().map(|s| s.id).collect();
    for id in &acked {
        assert!(ids.contains(id), "acknowledged species {id} lost");
    }
    assert!(revision >= acked.len() as u64, "revision went backwards");

    // A client that saw revision 10 before the crash resumes without a gap.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert!(matches!(recv(&mut ws).await, ServerMessage::Hello { .. }));
    send(&mut ws, &subscribe_species(Some(10))).await;
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Subscribed { .. }
    ));
    let ServerMessage::Change(first) = recv(&mut ws).await else {
        panic!("expected a replayed change")
    };
    assert_eq!(first.revision, 11);
    child.kill().unwrap();
    child.wait().unwrap();
}
