//! The binary's log lines on stderr: plain text in a file or a pipe (no
//! colour escapes to fill it with `[2m…[0m`), one JSON object per line
//! with `--log-format json`.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The binary's first log line that mentions `needle`, with `args` and `env`;
/// stderr is a pipe, as under a service manager or `2>server.log`.
async fn log_line(args: &[&str], env: &[(&str, &str)], needle: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollpush-server"))
        .args(["--addr", "127.0.0.1:0", "--db", ":memory:"])
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .env_remove("POLLPUSH_LOG_FORMAT")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let found = tokio::time::timeout(common::DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the server ended without logging {needle:?}")
    })
    .await
    .unwrap_or_else(|_| panic!("no log line with {needle:?} within {:?}", common::DEADLINE));
    child.kill().await.unwrap();
    found
}

#[tokio::test]
async fn logs_to_a_pipe_carry_no_colour_escapes() {
    let line = log_line(&[], &[], "API docs").await;
    assert!(!line.contains('\u{1b}'), "colour escapes in {line:?}");
    assert!(line.contains("INFO"), "{line:?}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let line = log_line(&["--log-format", "json"], &[], "API docs").await;
    let entry: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(entry["level"], "INFO");
    assert!(
        entry["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("API docs")
    );
}

#[tokio::test]
async fn the_log_format_can_come_from_the_environment() {
    let line = log_line(&[], &[("POLLPUSH_LOG_FORMAT", "json")], "API docs").await;
    assert!(serde_json::from_str::<Value>(&line).is_ok(), "{line:?}");
}
