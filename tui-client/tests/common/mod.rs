//! Running the built `pollpush` binary as a user would, for the CLI tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// `pollpush args`, with its exit status and both outputs.
pub fn pollpush(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .args(args)
        .output()
        .expect("the pollpush binary runs")
}

/// `pollpush args`, which must succeed; its stdout.
pub fn pollpush_ok(args: &[&str]) -> String {
    let out = pollpush(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Exits non-zero with one clear message on stderr that mentions `needle`, and no report.
pub fn assert_refused(args: &[&str], needle: &str) {
    let out = pollpush(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(needle),
        "{args:?}: {needle:?} not in {stderr}"
    );
    assert!(out.stdout.is_empty(), "{args:?} printed a report");
}
