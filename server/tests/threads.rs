//! `--threads N`: the runtime's worker threads, as the runtime counts them.
#![allow(clippy::unwrap_used)]

mod common;

use tokio::process::Command;

#[tokio::test]
async fn the_runtime_has_the_threads_asked_for() {
    let said = common::logs::log_line(&["--threads", "3"], &[], "runtime threads").await;
    assert!(said.contains(" 3 runtime threads"), "{said}");
}

#[tokio::test]
async fn zero_threads_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_pollpush-server"))
        .args(["--db", ":memory:", "--threads", "0"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}
