//! Reads of the species list (plain and held long-polls) on a kept-alive
//! connection are served off hyper (`accept/lists.rs`) until the connection
//! asks for something else, which hyper then answers. Tried on raw sockets:
//! the answers are hyper's byte for byte, held polls end on a change or
//! their wait, and the limits and the handover hold.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{DEADLINE, create, eventually, spawn_server, spawn_server_with, with_deadlines};
use pollpush_server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One kept-alive HTTP/1.1 connection, spoken to by hand.
struct Raw {
    tcp: TcpStream,
    read: Vec<u8>,
}

/// A response: its head less the `date` line, and its body.
#[derive(Debug, PartialEq)]
struct Answer {
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

impl Raw {
    async fn open(server: &Server) -> Self {
        let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        Self {
            tcp,
            read: Vec::new(),
        }
    }

    async fn send(&mut self, request: &str) {
        self.tcp.write_all(request.as_bytes()).await.unwrap();
    }

    async fn read_more(&mut self) -> usize {
        let mut buf = [0u8; 8192];
        let n = tokio::time::timeout(DEADLINE, self.tcp.read(&mut buf))
            .await
            .expect("bytes before the deadline")
            .unwrap_or(0);
        self.read.extend_from_slice(&buf[..n]);
        n
    }

    /// The next response (`head_only` for a HEAD's).
    async fn answer(&mut self, head_only: bool) -> Answer {
        let end = loop {
            if let Some(i) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.read_more().await > 0, "closed before a response");
        };
        let head: Vec<u8> = self.read.drain(..end).collect();
        let head = String::from_utf8(head).unwrap();
        let head: String = head
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with("date: "))
            .collect();
        let mut answer = Answer {
            head,
            body: Vec::new(),
        };
        let length = answer
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let length = if head_only { 0 } else { length };
        while self.read.len() < length {
            assert!(self.read_more().await > 0, "closed in a body");
        }
        answer.body = self.read.drain(..length).collect();
        answer
    }

    /// The list's current ETag, from a plain read on this connection.
    async fn etag(&mut self) -> String {
        let answer = self.get("/species", "").await;
        answer
            .header("etag")
            .expect("the list has an ETag")
            .to_owned()
    }

    async fn get(&mut self, path: &str, headers: &str) -> Answer {
        self.send(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n"))
            .await;
        self.answer(false).await
    }

    /// Sends a long-poll for a list other than `etag`'s and waits until the server holds it.
    async fn hold(&mut self, server: &Server, etag: &str, wait: u32) {
        let held_before = server.stats().longpoll.held;
        self.send(&format!(
            "GET /species HTTP/1.1\r\nHost: x\r\n{}\r\n",
            held(etag, wait)
        ))
        .await;
        eventually(
            || server.stats().longpoll.held > held_before,
            "the poll is held",
        )
        .await;
    }

    /// Whether the server closes the connection within `DEADLINE`.
    async fn closed(&mut self) -> bool {
        tokio::time::timeout(DEADLINE, async { while self.read_more().await > 0 {} })
            .await
            .is_ok()
    }
}

/// A connection hyper serves: its first request is not a read of the list.
async fn on_hyper(server: &Server) -> Raw {
    let mut raw = Raw::open(server).await;
    let ok = raw.get("/healthz", "").await;
    assert!(ok.head.starts_with("HTTP/1.1 200"), "{}", ok.head);
    raw
}

fn held(etag: &str, wait: u32) -> String {
    format!("If-None-Match: {etag}\r\nPrefer: wait={wait}\r\n")
}

#[tokio::test]
async fn direct_answers_are_hypers_byte_for_byte() {
    let server = spawn_server().await;
    let (mut direct, mut hyper) = (Raw::open(&server).await, on_hyper(&server).await);
    let origin = "Origin: null\r\n";
    let list = direct.get("/species", origin).await;
    assert!(
        list.head.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        list.head
    );
    assert!(list.head.contains("access-control-allow-origin: null\r\n"));
    assert_eq!(list, hyper.get("/species", origin).await);
    let etag = list.header("etag").unwrap().to_owned();
    // Held with nothing to wait for: a 304 with `Preference-Applied`, as the routes write it.
    let not_modified = direct.get("/species/", &held(&etag, 0)).await;
    assert!(
        not_modified
            .head
            .starts_with("HTTP/1.1 304 Not Modified\r\n")
    );
    assert_eq!(not_modified.header("preference-applied"), Some("wait=0"));
    assert_eq!(not_modified, hyper.get("/species/", &held(&etag, 0)).await);
    let head = "HEAD /species?page=2 HTTP/1.1\r\nHost: x\r\n\r\n";
    direct.send(head).await;
    hyper.send(head).await;
    assert_eq!(direct.answer(true).await, hyper.answer(true).await);
}

#[tokio::test]
async fn a_held_poll_is_answered_on_a_change_with_the_new_list_and_etag() {
    let server = spawn_server().await;
    let mut raw = Raw::open(&server).await;
    let etag = raw.etag().await;
    raw.hold(&server, &etag, 30).await;
    create(&server, "Vitis").await;
    let answer = raw.answer(false).await;
    assert!(
        answer.head.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        answer.head
    );
    assert_eq!(answer.header("preference-applied"), Some("wait=30"));
    assert_ne!(answer.header("etag"), Some(etag.as_str()));
    let list: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Vitis")
    );
    let stats = server.stats();
    assert_eq!((stats.longpoll.held, stats.longpoll.changed), (0, 1));
    assert_eq!(stats.longpoll.connections_total, 1);
    assert!(stats.longpoll.bytes_out > 0 && stats.longpoll.bytes_in > 0);
}

#[tokio::test]
async fn a_held_poll_answers_304_once_its_wait_runs_out() {
    let server = spawn_server().await;
    let mut raw = Raw::open(&server).await;
    let etag = raw.etag().await;
    let answer = raw.get("/species", &held(&etag, 1)).await;
    assert!(answer.head.starts_with("HTTP/1.1 304"), "{}", answer.head);
    assert_eq!(answer.header("preference-applied"), Some("wait=1"));
    assert!(answer.body.is_empty());
    assert_eq!(server.stats().longpoll.timed_out, 1);
}

#[tokio::test]
async fn several_held_polls_follow_each_other_on_one_connection() {
    let server = spawn_server().await;
    let mut raw = Raw::open(&server).await;
    let mut etag = raw.etag().await;
    for n in 1..=3 {
        raw.hold(&server, &etag, 30).await;
        create(&server, &format!("Vitis {n}")).await;
        let answer = raw.answer(false).await;
        assert!(answer.head.starts_with("HTTP/1.1 200"), "{}", answer.head);
        let next = answer.header("etag").unwrap().to_owned();
        assert_ne!(next, etag);
        etag = next;
    }
    let stats = server.stats();
    assert_eq!(stats.longpoll.changed, 3);
    assert_eq!(
        stats.longpoll.connections_total, 1,
        "one connection throughout"
    );
}

#[tokio::test]
async fn another_request_after_long_polls_is_answered_by_hyper() {
    let server = spawn_server().await;
    let mut raw = Raw::open(&server).await;
    let etag = raw.etag().await;
    assert!(
        raw.get("/species", &held(&etag, 0))
            .await
            .head
            .contains("304")
    );
    let health = raw.get("/healthz", "").await;
    assert!(health.head.starts_with("HTTP/1.1 200"), "{}", health.head);
    assert_eq!(health.body, br#"{"status":"ok"}"#);
    // A body, on the same connection, now hyper's.
    let body = r#"{"name":"Vitis"}"#;
    raw.send(&format!(
        "POST /species HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ))
    .await;
    let created = raw.answer(false).await;
    assert!(created.head.starts_with("HTTP/1.1 201"), "{}", created.head);
    // And a read of the list that asks to close: answered, then closed.
    let last = raw.get("/species", "Connection: close\r\n").await;
    assert!(last.head.contains("connection: close\r\n"), "{}", last.head);
    assert!(raw.closed().await);
}

#[tokio::test]
async fn pipelined_reads_after_a_list_read_are_all_answered() {
    let server = spawn_server().await;
    let mut raw = Raw::open(&server).await;
    raw.get("/species", "").await;
    raw.send("GET /species HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(raw.answer(false).await.head.starts_with("HTTP/1.1 200"));
    let health = raw.answer(false).await;
    assert_eq!(health.body, br#"{"status":"ok"}"#);
}

#[tokio::test]
async fn oversize_and_malformed_requests_after_a_list_read_get_hypers_errors() {
    let server = spawn_server().await;
    let mut raw = Raw::open(&server).await;
    raw.get("/species", "").await;
    let pad = "a".repeat(17 * 1024);
    raw.send(&format!(
        "GET /species HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\n\r\n"
    ))
    .await;
    let answer = raw.answer(false).await;
    assert!(
        answer
            .head
            .starts_with("HTTP/1.1 431 Request Header Fields Too Large"),
        "{}",
        answer.head
    );
    assert!(raw.closed().await);
    let mut raw = Raw::open(&server).await;
    raw.get("/species", "").await;
    raw.send("GET /species HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        .await;
    let answer = raw.answer(false).await;
    assert!(answer.head.starts_with("HTTP/1.1 400"), "{}", answer.head);
}

#[tokio::test]
async fn an_idle_connection_after_a_list_read_is_closed_at_the_idle_timeout() {
    let server = spawn_server_with(with_deadlines(
        Duration::from_hours(1),
        Duration::from_millis(300),
    ))
    .await;
    let mut raw = Raw::open(&server).await;
    let etag = raw.etag().await;
    // A held poll longer than the idle timeout is not idle.
    let answer = raw.get("/species", &held(&etag, 1)).await;
    assert!(answer.head.starts_with("HTTP/1.1 304"), "{}", answer.head);
    assert!(
        !answer.head.contains("connection: close"),
        "kept alive after the answer: {}",
        answer.head
    );
    assert!(raw.closed().await, "closed once idle");
}

#[tokio::test]
async fn a_dribbled_second_request_is_cut_at_the_header_deadline() {
    let server = spawn_server_with(with_deadlines(
        Duration::from_millis(300),
        Duration::from_hours(1),
    ))
    .await;
    let mut raw = Raw::open(&server).await;
    raw.get("/species", "").await;
    raw.send("GET /species HTTP/1.1\r\nHost: x\r\n").await;
    let cut = tokio::time::timeout(DEADLINE, async {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if raw.tcp.write_all(b"a").await.is_err() {
                return;
            }
            let mut buf = [0u8; 64];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(1), raw.tcp.read(&mut buf)).await
            {
                return;
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "a slow header section must be cut");
}

#[tokio::test]
async fn a_client_that_leaves_a_held_poll_frees_its_place() {
    let server = spawn_server().await;
    let mut raw = Raw::open(&server).await;
    let etag = raw.etag().await;
    raw.hold(&server, &etag, 60).await;
    drop(raw);
    eventually(|| server.stats().longpoll.held == 0, "the poll is dropped").await;
}

#[tokio::test]
async fn a_held_poll_at_shutdown_gets_its_answer_and_the_connection_closes() {
    let server = spawn_server().await;
    let mut raw = Raw::open(&server).await;
    let etag = raw.etag().await;
    raw.hold(&server, &etag, 60).await;
    let stopping = tokio::spawn(server.shutdown());
    let answer = raw.answer(false).await;
    assert!(answer.head.starts_with("HTTP/1.1 304"), "{}", answer.head);
    assert!(
        answer.head.contains("connection: close\r\n"),
        "{}",
        answer.head
    );
    assert!(raw.closed().await);
    tokio::time::timeout(DEADLINE, stopping)
        .await
        .expect("the server stops")
        .unwrap();
}
