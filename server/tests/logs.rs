//! The binary's log lines on stderr: plain text in a file or a pipe (no
//! colour escapes to fill it with `[2m…[0m`), one JSON object per line
//! with `--log-format json`.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::Value;

#[tokio::test]
async fn logs_to_a_pipe_carry_no_colour_escapes() {
    let line = common::logs::log_line(&[], &[], "API docs").await;
    assert!(!line.contains('\u{1b}'), "colour escapes in {line:?}");
    assert!(line.contains("INFO"), "{line:?}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let line = common::logs::log_line(&["--log-format", "json"], &[], "API docs").await;
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
    let line = common::logs::log_line(&[], &[("POLLPUSH_LOG_FORMAT", "json")], "API docs").await;
    assert!(serde_json::from_str::<Value>(&line).is_ok(), "{line:?}");
}
