//! `/ws` over HTTP/2 (RFC 8441's extended CONNECT), on h2c with prior
//! knowledge: the same protocol as over HTTP/1.1, with changes taken from a
//! queued subscription since the WebSocket is one stream of many.
#![allow(clippy::unwrap_used)]

mod common;

use common::h2::{H2Ws, WINDOW, connection, websocket};
use common::{
    create, emit, http, read_through_resync, recv, send, spawn_server, spawn_server_with,
    subscribe_species, url,
};
use hyper::client::conn::http2;
use pollpush_server::{Config, Server, WsConfig};
use pollpush_shared::{ClientMessage, ServerMessage};
use serde_json::json;

/// A WebSocket on a new stream of `sender`'s connection, past its `hello`.
async fn h2_ws(server: &Server, sender: &mut http2::SendRequest<String>) -> H2Ws {
    websocket(server, sender, "/ws").await
}

/// Subscribes to `species` from `since`; returns the revision it starts at.
async fn subscribe(ws: &mut H2Ws, since: Option<u64>) -> u64 {
    send(ws, &subscribe_species(since)).await;
    let ServerMessage::Subscribed { revision, .. } = recv(ws).await else {
        panic!("expected subscribed")
    };
    revision
}

/// The next `n` messages are changes in order from `first`.
async fn expect_changes(ws: &mut H2Ws, first: u64, n: u64) {
    for expected in first..first + n {
        match recv(ws).await {
            ServerMessage::Change(c) => assert_eq!(c.revision, expected),
            other => panic!("expected change {expected}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn hi_over_h2_is_answered_with_the_species_list() {
    let server = spawn_server().await;
    let mut sender = connection(&server, WINDOW).await;
    let mut ws = h2_ws(&server, &mut sender).await;
    send(&mut ws, &emit("hi!", None)).await;
    let ServerMessage::Event { event, data, .. } = recv(&mut ws).await else {
        panic!("expected an event")
    };
    assert_eq!(event, "species");
    assert_eq!(data.as_array().map(Vec::len), Some(2));
    let ws = server.stats().ws;
    assert!(ws.messages_in >= 1 && ws.messages_out >= 2, "{ws:?}");
}

#[tokio::test]
async fn info_over_h2_is_acked_with_the_server_info() {
    let server = spawn_server().await;
    let mut sender = connection(&server, WINDOW).await;
    let mut ws = h2_ws(&server, &mut sender).await;
    send(&mut ws, &emit("info", Some(7))).await;
    let ServerMessage::Ack { ack, data, error } = recv(&mut ws).await else {
        panic!("expected an ack")
    };
    assert_eq!((ack, error), (7, None));
    assert_eq!(data["revision"], 0);
}

#[tokio::test]
async fn subscribe_since_over_h2_replays_the_missed_then_live_changes() {
    let server = spawn_server().await;
    for name in ["Vigne", "Olivier", "Figuier"] {
        create(&server, name).await;
    }
    let mut sender = connection(&server, WINDOW).await;
    let mut ws = h2_ws(&server, &mut sender).await;
    assert_eq!(subscribe(&mut ws, Some(0)).await, 3);
    expect_changes(&mut ws, 1, 3).await;
    create(&server, "Amandier").await;
    create(&server, "Noyer").await;
    expect_changes(&mut ws, 4, 2).await;
}

#[tokio::test]
async fn two_websockets_on_one_h2_connection_both_get_every_change() {
    let server = spawn_server().await;
    let mut sender = connection(&server, WINDOW).await;
    let mut a = h2_ws(&server, &mut sender).await;
    let mut b = h2_ws(&server, &mut sender).await;
    for ws in [&mut a, &mut b] {
        assert_eq!(subscribe(ws, None).await, 0);
        assert!(matches!(recv(ws).await, ServerMessage::Snapshot { .. }));
    }
    for name in ["Vigne", "Olivier", "Figuier"] {
        create(&server, name).await;
    }
    expect_changes(&mut a, 1, 3).await;
    expect_changes(&mut b, 1, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_h2_subscriber_is_resynced() {
    let server = spawn_server_with(Config {
        ws: WsConfig {
            feed_capacity: 16,
            ..WsConfig::default()
        },
        ..Config::default()
    })
    .await;
    // A small window: the stream's flow control stalls the session soon.
    let mut sender = connection(&server, 8 * 1024).await;
    let mut ws = h2_ws(&server, &mut sender).await;
    subscribe(&mut ws, None).await;
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Snapshot { .. }
    ));
    // Not read meanwhile: 200 changes of ~450 B fill the window and the queue many times over.
    let client = http();
    let mut last = 0;
    for _ in 0..200 {
        let r = client
            .post(url(&server, "/species"))
            .json(&json!({ "name": "\u{1d511}".repeat(100) }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        last = r.headers()["x-revision"].to_str().unwrap().parse().unwrap();
    }
    assert!(read_through_resync(&mut ws, last).await, "no resync");
    assert!(server.stats().ws.resyncs >= 1);
}

#[tokio::test]
async fn broadcast_over_h2_without_the_write_token_is_unauthorized() {
    let server = spawn_server_with(Config {
        write_token: Some("s3cret".into()),
        ..Config::default()
    })
    .await;
    let mut sender = connection(&server, WINDOW).await;
    let mut ws = h2_ws(&server, &mut sender).await;
    let broadcast = ClientMessage::Broadcast {
        room: "lab".into(),
        event: "note".into(),
        data: json!("x"),
    };
    send(&mut ws, &broadcast).await;
    let ServerMessage::Error { code, .. } = recv(&mut ws).await else {
        panic!("expected an error")
    };
    assert_eq!(code, "unauthorized");
}

#[tokio::test]
async fn with_the_token_a_broadcast_over_h2_reaches_the_other_member_of_the_room() {
    let server = spawn_server_with(Config {
        write_token: Some("s3cret".into()),
        ..Config::default()
    })
    .await;
    let mut sender = connection(&server, WINDOW).await;
    let mut writer = websocket(&server, &mut sender, "/ws?access_token=s3cret").await;
    let mut reader = h2_ws(&server, &mut sender).await;
    for ws in [&mut writer, &mut reader] {
        send(
            ws,
            &ClientMessage::Subscribe {
                room: "lab".into(),
                since: None,
            },
        )
        .await;
        assert!(matches!(recv(ws).await, ServerMessage::Subscribed { .. }));
    }
    let broadcast = ClientMessage::Broadcast {
        room: "lab".into(),
        event: "note".into(),
        data: json!("x"),
    };
    send(&mut writer, &broadcast).await;
    let ServerMessage::Event { room, event, data } = recv(&mut reader).await else {
        panic!("expected the room event")
    };
    assert_eq!(
        (room.as_deref(), event.as_str(), data),
        (Some("lab"), "note", json!("x"))
    );
}
