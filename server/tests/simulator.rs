//! The change simulator: realistic changes through the REST write path, repeatable with a seed.
#![allow(clippy::unwrap_used)]

mod common;

use common::{recv, spawn_server_with, subscriber};
use pollpush_server::Config;
use pollpush_shared::{ChangeOp, ServerMessage};

/// The first `n` changes a subscriber sees, without their timestamps.
async fn first_changes(seed: u64, n: usize) -> Vec<(ChangeOp, u64, String, u64)> {
    // Paused until the subscriber is in, so it sees the sequence from the start.
    let server = spawn_server_with(Config {
        simulate: 0.0,
        seed: Some(seed),
        ..Config::default()
    })
    .await;
    let (mut ws, from) = subscriber(&server).await;
    server.simulator().set_rate(500.0);
    let mut changes = Vec::new();
    while changes.len() < n {
        let ServerMessage::Change(c) = recv(&mut ws).await else {
            panic!("expected a change")
        };
        assert_eq!(c.revision, from + changes.len() as u64 + 1);
        changes.push((c.op, c.species.id, c.species.name, c.species.observations));
    }
    server.shutdown().await;
    assert_eq!(from, 0, "subscribed before the first simulated change");
    changes
}

#[tokio::test]
async fn the_same_seed_makes_the_same_changes() {
    let a = first_changes(42, 200).await;
    let b = first_changes(42, 200).await;
    assert_eq!(a, b);
    let ops: Vec<ChangeOp> = a.iter().map(|c| c.0).collect();
    assert!(
        ops.contains(&ChangeOp::Updated),
        "mostly observation increments"
    );
    assert!(ops.iter().filter(|op| **op == ChangeOp::Updated).count() > 150);
    assert!(
        a.iter().all(|c| c.0 != ChangeOp::Deleted || c.1 > 2),
        "the talk's species stay"
    );
}
