//! A node at its file-descriptor limit: a server process whose soft
//! `RLIMIT_NOFILE` is lowered (with `prlimit`) to the descriptors it has open
//! closes new connections at accept, says so in `/stats` and `/readyz`, and
//! keeps serving the connections it has; raised again, it accepts again.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{DEADLINE, recv, send, subscribe_species};
use pollpush_shared::ServerMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sets `pid`'s soft limit on open files.
fn set_soft_nofile(pid: u32, soft: usize) {
    let status = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")])
        .status()
        .unwrap();
    assert!(status.success(), "prlimit failed");
}

/// The lowest descriptor number `pid` has free: as a soft limit, it leaves
/// none (a limit bounds the numbers of new descriptors, not their count).
fn lowest_free_descriptor(pid: u32) -> usize {
    let open: std::collections::HashSet<usize> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..=open.len()).find(|fd| !open.contains(fd)).unwrap()
}

/// `GET path` on a kept-alive raw connection: the status and the JSON body.
async fn get(tcp: &mut TcpStream, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = get_text(tcp, path).await;
    (status, serde_json::from_str(&body).unwrap())
}

/// `GET path` on a kept-alive raw connection: the status and the body.
async fn get_text(tcp: &mut TcpStream, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 8192];
    let (head, body) = loop {
        let n = tokio::time::timeout(DEADLINE, tcp.read(&mut buf))
            .await
            .expect("an answer before the deadline")
            .unwrap();
        assert!(n > 0, "the kept-alive connection was closed");
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")?
                    .parse()
                    .ok()
            })
            .unwrap();
        if body.len() >= length {
            break (head.to_owned(), body[..length].to_owned());
        }
    };
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body)
}

/// Opens connections until the server closes one without an answer; those
/// it answers (descriptor numbers it still had free) are kept open, in `kept`.
async fn one_closed_at_accept(addr: &str, kept: &mut Vec<TcpStream>) -> bool {
    for _ in 0..64 {
        let Ok(mut tcp) = TcpStream::connect(addr).await else {
            return true;
        };
        let _ = tcp
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(DEADLINE, tcp.read(&mut buf))
            .await
            .expect("a new connection is answered or closed");
        match read {
            Ok(0) | Err(_) => return true,
            Ok(_) => kept.push(tcp),
        }
    }
    false
}

#[tokio::test]
async fn a_node_at_its_file_limit_closes_new_connections_and_serves_the_ones_it_has() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: no prlimit");
        return;
    }
    // The simulator makes changes without a new connection.
    let (mut child, addr) = common::start_binary(&["--db", ":memory:", "--simulate", "20"]);
    let pid = child.id();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    send(&mut ws, &subscribe_species(None)).await;
    let mut monitor = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(get(&mut monitor, "/readyz").await.0, 200);

    set_soft_nofile(pid, lowest_free_descriptor(pid));
    let mut kept = Vec::new();
    assert!(
        one_closed_at_accept(&addr, &mut kept).await,
        "a new connection is closed"
    );
    let (status, stats) = get(&mut monitor, "/stats").await;
    assert_eq!(status, 200);
    assert_eq!(stats["process"]["saturated"], true);
    assert!(stats["process"]["accept_failures"].as_u64().unwrap() >= 1);
    assert!(stats["process"]["shed_at_accept"].as_u64().unwrap() >= 1);
    let (_, metrics) = get_text(&mut monitor, "/metrics").await;
    let gauge = metrics
        .lines()
        .find(|l| l.starts_with("pollpush_saturated{"))
        .expect("the saturation gauge");
    let value: f64 = gauge.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((value - 1.0).abs() < f64::EPSILON, "{gauge}");
    assert!(
        metrics.contains("pollpush_shed_at_accept_total{"),
        "{metrics}"
    );
    let (status, problem) = get(&mut monitor, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("file descriptors")
    );
    // The subscriber it has still gets every change, in order.
    let mut last = None;
    while last.is_none_or(|(seen, _)| seen < 3) {
        if let ServerMessage::Change(c) = recv(&mut ws).await {
            let seen = last.map_or(1, |(seen, at): (u32, u64)| {
                assert_eq!(c.revision, at + 1, "no gap");
                seen + 1
            });
            last = Some((seen, c.revision));
        }
    }

    set_soft_nofile(pid, 1024);
    let mut fresh = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(get(&mut fresh, "/readyz").await.0, 200, "accepting again");
    child.kill().unwrap();
    child.wait().unwrap();
}
