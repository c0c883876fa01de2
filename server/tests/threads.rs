//! `--threads N`: the runtime's worker threads, as the runtime counts them.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn the_runtime_has_the_threads_asked_for() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollpush-server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--db",
            ":memory:",
            "--threads",
            "3",
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = tokio::time::timeout(common::DEADLINE, async {
        let mut said = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("API docs") {
                return said;
            }
            if line.contains("runtime threads") {
                said = Some(line);
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("the server logged its threads and started");
    assert!(said.contains(" 3 runtime threads"), "{said}");
    child.kill().await.unwrap();
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
