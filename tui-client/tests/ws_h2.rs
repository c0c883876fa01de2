//! The ws lane with `--http 2`: WebSocket over an HTTP/2 stream (RFC 8441's
//! extended CONNECT) against a small hyper server that allows it and against
//! pollpush-server; a clear error, not a hang, from a server without it.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Client, node};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pollpush_client::event::{Event, HttpVersion, LaneUpdate};
use pollpush_client::lane::LaneKind::Ws;
use pollpush_client::lane::Lanes;
use pollpush_client::net::counting::Traffic;
use pollpush_client::net::{Endpoints, HttpChoice, Nodes, control, resume, ws};
use pollpush_client::target::Target;
use pollpush_shared::ServerMessage;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

const WITHIN: Duration = Duration::from_secs(20);

/// An h2c server that answers every request with an empty `200` and never
/// sends `SETTINGS_ENABLE_CONNECT_PROTOCOL`, as most h2 servers do.
async fn h2_server_without_rfc_8441() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let service = hyper::service::service_fn(|_request| async {
                Ok::<_, Infallible>(hyper::Response::new(String::new()))
            });
            let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service);
            tokio::spawn(connection);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rfc_8441_the_ws_lane_over_h2_fails_with_a_clear_error() {
    let addr = h2_server_without_rfc_8441().await;
    let endpoints = Endpoints {
        version: HttpChoice::H2,
        ..Endpoints::local(addr)
    };
    let (events, mut inbox) = mpsc::channel::<Event>(16);
    let lane = tokio::spawn(resume::run(
        Ws,
        Nodes::one(endpoints),
        0,
        Arc::new(Traffic::default()),
        events,
        ws::Ws,
    ));
    let error = loop {
        let event = tokio::time::timeout(WITHIN, inbox.recv()).await;
        let Ok(Some(Event::Lane(event))) = event else {
            panic!("no answer in time: {event:?}")
        };
        match event.update {
            LaneUpdate::Failed { error, .. } => break error,
            LaneUpdate::Connected { .. } => panic!("connected to a server without RFC 8441"),
            _ => {}
        }
    };
    lane.abort();
    assert!(
        error.contains("SETTINGS_ENABLE_CONNECT_PROTOCOL") && error.contains("--http 1.1"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
}

/// A small h2c server that accepts RFC 8441's extended CONNECT: it answers a
/// subscribe with a snapshot at `revision`, and hands what the client sent to
/// `received`.
async fn h2_server_with_rfc_8441(revision: u64, received: mpsc::Sender<String>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let received = received.clone();
            let service = hyper::service::service_fn(move |request| {
                let received = received.clone();
                async move { Ok::<_, Infallible>(accept_websocket(request, revision, received)) }
            });
            let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .enable_connect_protocol()
                .serve_connection(TokioIo::new(tcp), service);
            tokio::spawn(connection);
        }
    });
    addr
}

/// `200` to an extended CONNECT for `websocket`, then the WebSocket on that
/// stream: one message in, a snapshot out; `400` to anything else.
fn accept_websocket(
    request: hyper::Request<hyper::body::Incoming>,
    revision: u64,
    received: mpsc::Sender<String>,
) -> hyper::Response<String> {
    let websocket = request.method() == hyper::Method::CONNECT
        && request
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str() == "websocket");
    if !websocket {
        let mut refused = hyper::Response::new(String::new());
        *refused.status_mut() = hyper::StatusCode::BAD_REQUEST;
        return refused;
    }
    tokio::spawn(async move {
        let upgraded = hyper::upgrade::on(request).await.unwrap();
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        if let Some(Ok(Message::Text(text))) = ws.next().await {
            received.send(text.to_string()).await.unwrap();
        }
        let snapshot =
            format!(r#"{{"type":"snapshot","room":"species","revision":{revision},"species":[]}}"#);
        ws.send(Message::Text(snapshot.into())).await.unwrap();
        // Held open until the client goes.
        while ws.next().await.is_some() {}
    });
    hyper::Response::new(String::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ws_lane_over_h2_opens_an_extended_connect_and_subscribes() {
    let (received, mut sent) = mpsc::channel(4);
    let addr = h2_server_with_rfc_8441(7, received).await;
    let endpoints = Endpoints {
        version: HttpChoice::H2,
        ..Endpoints::local(addr)
    };
    let (events, mut inbox) = mpsc::channel::<Event>(16);
    let traffic = Arc::new(Traffic::default());
    let lane = tokio::spawn(resume::run(
        Ws,
        Nodes::one(endpoints),
        0,
        traffic.clone(),
        events,
        ws::Ws,
    ));
    let revision = loop {
        let event = tokio::time::timeout(WITHIN, inbox.recv()).await;
        let Ok(Some(Event::Lane(event))) = event else {
            panic!("no snapshot in time: {event:?}")
        };
        match event.update {
            LaneUpdate::Message(ServerMessage::Snapshot { revision, .. }) => break revision,
            LaneUpdate::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
    };
    lane.abort();
    assert_eq!(revision, 7);
    let subscribe = sent.recv().await.unwrap();
    assert!(subscribe.contains(r#""type":"subscribe""#), "{subscribe}");
    assert_eq!(traffic.totals().wire.http, Some(HttpVersion::H2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ws_lane_over_h2c_subscribes_and_sees_every_change() {
    let server = node(0.0, 1).await;
    let mut target = Target::remote(&format!("http://{}", server.local_addr()), None).unwrap();
    target.nodes = target.nodes.with_http(HttpChoice::H2);
    let lanes = Lanes {
        kinds: vec![Ws],
        ..Lanes::default()
    };
    let mut client = Client::start_lanes(&target, Duration::from_secs(1), &lanes);
    client
        .until("the snapshot", WITHIN, |app| app[Ws].revision.is_some())
        .await;
    let writer = control::client();
    let direct = Endpoints::local(server.local_addr());
    for _ in 0..5 {
        control::write_now(&writer, &direct).await.unwrap();
    }
    let last = server.stats().revision;
    client
        .until("every change", WITHIN, |app| app[Ws].revision == Some(last))
        .await;
    let pane = &client.app[Ws];
    assert_eq!((pane.counters.seen, pane.counters.missed), (5, 0));
    assert_eq!(pane.traffic().wire.http, Some(HttpVersion::H2));
    server.shutdown().await;
}
