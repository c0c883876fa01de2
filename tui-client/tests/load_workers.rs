#![allow(clippy::unwrap_used)]
//! `pollpush load --workers N`: the clients in child processes, the report
//! added up in the parent, a worker that dies reported beside the others.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{assert_refused, pollpush_ok};
use serde_json::Value;

fn lane<'a>(run: &'a Value, key: &str) -> &'a Value {
    run.get(key)
        .unwrap_or_else(|| panic!("no {key:?} in {run:#}"))
}

#[test]
fn two_workers_add_up_to_the_whole_load() {
    let report: Value = serde_json::from_str(&pollpush_ok(&[
        "load",
        "--workers",
        "2",
        "--lanes",
        "all",
        "--pollers",
        "5",
        "--sse",
        "3",
        "--subscribers",
        "6",
        "--duration",
        "3s",
        "--interval",
        "500ms",
        "--simulate",
        "5",
    ]))
    .unwrap();
    let run = &report["runs"][0];
    assert_eq!(run["workers"], 2, "{run:#}");
    assert!(run.get("worker_failures").is_none(), "{run:#}");
    for (key, clients) in [("rest", 5), ("sse", 3), ("ws", 6)] {
        let p = lane(run, key);
        assert_eq!(p["clients"], clients, "{key}: {p:#}");
        assert_eq!(p["errors"], 0, "{key}: {p:#}");
        assert!(p["bytes_in"].as_u64().unwrap() > 0, "{key}: {p:#}");
    }
    // Push misses nothing, whichever process its clients ran in; the
    // server's changes reached every subscriber of both workers.
    let ws = lane(run, "ws");
    let changes = run["server"]["changes"].as_u64().unwrap();
    assert!(changes >= 5, "{run:#}");
    assert_eq!(ws["changes_missed"], 0, "{ws:#}");
    assert!(
        ws["changes_seen"].as_u64().unwrap() >= 6 * (changes - 2),
        "{ws:#}"
    );
    assert!(ws["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{ws:#}");
}

/// The workers of `parent`: processes whose parent it is.
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: the command may hold spaces, so read after `)`.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after.split_whitespace().nth(1) == Some(&parent.to_string()) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_worker_that_dies_is_reported_and_the_others_still_count() {
    let load = Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .args(["load", "--workers", "2", "--subscribers", "4"])
        .args(["--duration", "3s", "--simulate", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let workers = loop {
        let workers = children_of(load.id());
        if workers.len() == 2 {
            break workers;
        }
        assert!(Instant::now() < deadline, "the workers never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let killed = Command::new("kill")
        .args(["-KILL", &workers[1].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = load.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &report["runs"][0];
    let failures = run["worker_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{run:#}");
    let reason = failures[0]["reason"].as_str().unwrap();
    assert!(reason.contains("SIGKILL"), "{reason}");
    // The survivor's share, measured and reported.
    let ws = lane(run, "ws");
    assert_eq!(ws["clients"], 2, "{ws:#}");
    assert_eq!(ws["changes_missed"], 0, "{ws:#}");
}

#[test]
fn workers_refuse_what_they_cannot_split() {
    assert_refused(
        &["load", "--workers", "2", "--subscribers", "2", "--tls"],
        "--workers with --tls needs --server",
    );
    assert_refused(
        &["load", "--workers", "0", "--subscribers", "2"],
        "--workers",
    );
}

#[test]
fn workers_bind_their_clients_to_the_source_addresses_given() {
    let report: Value = serde_json::from_str(&pollpush_ok(&[
        "load",
        "--workers",
        "2",
        "--lanes",
        "all",
        "--source-addrs",
        "127.0.0.2-127.0.0.5",
        "--pollers",
        "4",
        "--subscribers",
        "4",
        "--duration",
        "2s",
        "--simulate",
        "5",
    ]))
    .unwrap();
    let run = &report["runs"][0];
    for key in ["rest", "ws"] {
        let p = lane(run, key);
        assert_eq!(p["clients"], 4, "{key}: {p:#}");
        assert_eq!(p["errors"], 0, "{key}: {p:#}");
    }
    assert_refused(
        &[
            "load",
            "--subscribers",
            "2",
            "--source-addrs",
            "127.0.0.9-127.0.0.2",
        ],
        "ends before it starts",
    );
}
