//! `--profile`: the headers of the browser profile, and of a FILE profile,
//! arrive at a server exactly as listed, on the poll lane's requests and on
//! the WebSocket handshake (a small capturing server records each head).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pollpush_client::app::settings::PollSettings;
use pollpush_client::event::Event;
use pollpush_client::lane::LaneKind;
use pollpush_client::net::counting::Traffic;
use pollpush_client::net::profile::{BROWSER, Profile};
use pollpush_client::net::{Endpoints, Nodes, poll, resume, ws};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

const WITHIN: Duration = Duration::from_secs(10);

/// The answer to a poll: an empty list at revision 1.
const LIST: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-revision: 1\r\n\
                    etag: \"1\"\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]";

/// A server that records the head of the first request, answers `answer`
/// and closes.
async fn capture(answer: &'static str) -> (SocketAddr, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (head_tx, head) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut bytes = Vec::new();
        let mut byte = [0u8; 1];
        while !bytes.ends_with(b"\r\n\r\n") {
            socket.read_exact(&mut byte).await.unwrap();
            bytes.push(byte[0]);
        }
        let _ = head_tx.send(String::from_utf8(bytes).unwrap());
        socket.write_all(answer.as_bytes()).await.unwrap();
    });
    (addr, head)
}

/// The header lines of a request head, without the request line and the
/// headers named in `protocol` (which the lane's protocol sets).
fn headers(head: &str, protocol: &[&str]) -> Vec<(String, String)> {
    head.lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line.split_once(": ").unwrap();
            // tungstenite writes its own handshake headers capitalised.
            (name.to_ascii_lowercase(), value.to_owned())
        })
        .filter(|(name, _)| !protocol.contains(&name.as_str()))
        .collect()
}

fn listed(profile: &Profile) -> Vec<(String, String)> {
    profile
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect()
}

fn endpoints(addr: SocketAddr, profile: &Profile) -> Nodes {
    Nodes::one(Endpoints::local(addr)).with_conditions(profile, None)
}

/// The head of the poll lane's first request with `profile`.
async fn polled_with(profile: &Profile) -> String {
    let (addr, head) = capture(LIST).await;
    let (settings_tx, settings) = watch::channel(PollSettings::default());
    let (events, _inbox) = mpsc::channel::<Event>(16);
    let node = endpoints(addr, profile).get(0).clone();
    let lane = tokio::spawn(poll::run(
        node,
        settings,
        Arc::new(Traffic::default()),
        events,
    ));
    let head = tokio::time::timeout(WITHIN, head).await.unwrap().unwrap();
    lane.abort();
    drop(settings_tx);
    head
}

#[tokio::test]
async fn the_browser_profile_arrives_on_a_poll_exactly_as_listed() {
    let head = polled_with(&Profile::browser()).await;
    assert!(head.starts_with("GET /species HTTP/1.1\r\n"), "{head}");
    let expected: Vec<(String, String)> = BROWSER
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(headers(&head, &["host"]), expected, "{head}");
    assert_eq!(expected, listed(&Profile::browser()));
}

#[tokio::test]
async fn a_file_profile_arrives_on_a_poll_exactly_as_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.headers");
    std::fs::write(
        &path,
        "# my app's fetch\nUser-Agent: my-app/2.1 (iOS 18)\nX-Request-Id: 7f3a\n\n\
         Authorization: Bearer abc.def.ghi\ncookie: a=1; b=2\n",
    )
    .unwrap();
    let profile = Profile::parse(path.to_str().unwrap()).unwrap();
    let head = polled_with(&profile).await;
    // Its own accept is the lane's, as the file names none.
    let mut expected = vec![("accept".to_owned(), "application/json".to_owned())];
    expected.extend(listed(&profile));
    assert_eq!(headers(&head, &["host"]), expected, "{head}");
    assert_eq!(
        listed(&profile)[0],
        ("user-agent".into(), "my-app/2.1 (iOS 18)".into())
    );
}

#[tokio::test]
async fn the_websocket_handshake_carries_the_profile_too() {
    let (addr, head) = capture("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
    let (events, _inbox) = mpsc::channel::<Event>(16);
    let lane = tokio::spawn(resume::run(
        LaneKind::Ws,
        endpoints(addr, &Profile::browser()),
        0,
        Arc::new(Traffic::default()),
        events,
        ws::Ws,
    ));
    let head = tokio::time::timeout(WITHIN, head).await.unwrap().unwrap();
    lane.abort();
    assert!(head.starts_with("GET /ws HTTP/1.1\r\n"), "{head}");
    let handshake = [
        "host",
        "connection",
        "upgrade",
        "sec-websocket-version",
        "sec-websocket-key",
    ];
    // tungstenite writes the request's headers in an order of its own.
    let mut sent = headers(&head, &handshake);
    let mut expected = listed(&Profile::browser());
    sent.sort();
    expected.sort();
    assert_eq!(sent, expected, "{head}");
}
