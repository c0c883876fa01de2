//! The `/ws` push protocol with a real WebSocket client, on port 0.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    close_code, create, emit, get, http, recv, send, send_raw, spawn_server, spawn_server_with,
    subscribe_species, subscriber, url, ws_client,
};
use pollpush_server::{Config, WsConfig};
use pollpush_shared::{ChangeOp, ClientMessage, ServerMessage};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

fn change_revision(msg: &ServerMessage) -> u64 {
    match msg {
        ServerMessage::Change(c) => c.revision,
        other => panic!("expected a change, got {other:?}"),
    }
}

#[tokio::test]
async fn hello_then_subscribe_gives_subscribed_and_snapshot() {
    let server = spawn_server().await;
    let (mut ws, hello) = ws_client(&server).await;
    let ServerMessage::Hello {
        protocol,
        server: name,
        revision,
        ..
    } = hello
    else {
        panic!("first frame must be hello")
    };
    assert_eq!((protocol, revision), (1, 0));
    assert!(name.starts_with("pollpush/"));
    send(&mut ws, &subscribe_species(None)).await;
    assert_eq!(
        recv(&mut ws).await,
        ServerMessage::Subscribed {
            room: "species".into(),
            revision: 0
        }
    );
    let ServerMessage::Snapshot {
        revision, species, ..
    } = recv(&mut ws).await
    else {
        panic!("expected snapshot")
    };
    assert_eq!(revision, 0);
    assert_eq!(species.len(), 2);
}

#[tokio::test]
async fn rest_writes_reach_two_subscribers_in_order() {
    let server = spawn_server().await;
    let (mut a, _) = subscriber(&server).await;
    let (mut b, _) = subscriber(&server).await;
    let id = create(&server, "Vigne").await;
    http()
        .put(url(&server, &format!("/species/{id}")))
        .json(&json!({"name": "Vitis"}))
        .send()
        .await
        .unwrap();
    http()
        .delete(url(&server, &format!("/species/{id}")))
        .send()
        .await
        .unwrap();
    for ws in [&mut a, &mut b] {
        let mut ops = Vec::new();
        for expected in 1..=3 {
            let ServerMessage::Change(c) = recv(ws).await else {
                panic!("expected change")
            };
            assert_eq!(c.revision, expected);
            assert_eq!(c.species.id, id);
            ops.push(c.op);
        }
        assert_eq!(
            ops,
            [ChangeOp::Created, ChangeOp::Updated, ChangeOp::Deleted]
        );
    }
}

#[tokio::test]
async fn resume_with_since_replays_exactly_the_missed_changes() {
    let server = spawn_server().await;
    let (mut ws, _) = subscriber(&server).await;
    create(&server, "One").await;
    assert_eq!(change_revision(&recv(&mut ws).await), 1);
    drop(ws);
    for name in ["Two", "Three", "Four"] {
        create(&server, name).await;
    }
    let (mut ws, _) = ws_client(&server).await;
    send(&mut ws, &subscribe_species(Some(1))).await;
    assert_eq!(
        recv(&mut ws).await,
        ServerMessage::Subscribed {
            room: "species".into(),
            revision: 4
        }
    );
    for expected in 2..=4 {
        assert_eq!(change_revision(&recv(&mut ws).await), expected);
    }
    create(&server, "Five").await;
    assert_eq!(
        change_revision(&recv(&mut ws).await),
        5,
        "live changes follow without a duplicate"
    );
}

#[tokio::test]
async fn since_from_another_timeline_gets_a_snapshot() {
    let server = spawn_server().await;
    let (mut ws, _) = ws_client(&server).await;
    send(&mut ws, &subscribe_species(Some(99))).await;
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Subscribed { .. }
    ));
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Snapshot { revision: 0, .. }
    ));
}

#[tokio::test]
async fn the_talks_events_hi_and_info_are_answered() {
    let server = spawn_server().await;
    let (mut ws, _) = ws_client(&server).await;
    send(
        &mut ws,
        &ClientMessage::Emit {
            event: "hi!".into(),
            data: json!({"data": "I'm connected!"}),
            ack: None,
        },
    )
    .await;
    let ServerMessage::Event { event, data, .. } = recv(&mut ws).await else {
        panic!("expected event")
    };
    assert_eq!(event, "species");
    assert_eq!(data[1]["name"], "Tomate");
    send(
        &mut ws,
        &ClientMessage::Emit {
            event: "info".into(),
            data: json!({}),
            ack: Some(7),
        },
    )
    .await;
    let ServerMessage::Ack { ack, data, error } = recv(&mut ws).await else {
        panic!("expected ack")
    };
    assert_eq!((ack, error), (7, None));
    assert_eq!(data["species"], 2);
    assert_eq!(data["clients"], 1);
    assert_eq!(data["revision"], 0);
    send(&mut ws, &emit("dance", Some(8))).await;
    let ServerMessage::Ack { ack, error, .. } = recv(&mut ws).await else {
        panic!("expected ack")
    };
    assert_eq!(ack, 8);
    assert!(error.unwrap().contains("dance"));
    send(&mut ws, &emit("dance", None)).await;
    assert!(
        matches!(recv(&mut ws).await, ServerMessage::Error { code, .. } if code == "unknown_event")
    );
}

#[tokio::test]
async fn broadcast_reaches_the_other_members_of_a_room_only() {
    let server = spawn_server().await;
    let (mut a, _) = ws_client(&server).await;
    let (mut b, _) = ws_client(&server).await;
    let (mut outsider, _) = ws_client(&server).await;
    for ws in [&mut a, &mut b] {
        common::join_room(ws, "lab").await;
    }
    send(
        &mut a,
        &ClientMessage::Broadcast {
            room: "lab".into(),
            event: "note".into(),
            data: json!("hello"),
        },
    )
    .await;
    assert_eq!(
        recv(&mut b).await,
        ServerMessage::Event {
            room: Some("lab".into()),
            event: "note".into(),
            data: json!("hello")
        }
    );
    // Neither the sender nor an outsider gets it: the next thing each sees is its own probe's answer.
    for ws in [&mut a, &mut outsider] {
        send(ws, &emit("info", Some(1))).await;
        assert!(matches!(recv(ws).await, ServerMessage::Ack { ack: 1, .. }));
    }
    send(
        &mut a,
        &ClientMessage::Broadcast {
            room: "species".into(),
            event: "x".into(),
            data: json!(1),
        },
    )
    .await;
    assert!(matches!(recv(&mut a).await, ServerMessage::Error { code, .. } if code == "forbidden"));
    send(&mut b, &ClientMessage::Unsubscribe { room: "lab".into() }).await;
    assert_eq!(
        recv(&mut b).await,
        ServerMessage::Unsubscribed { room: "lab".into() }
    );
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_connection_stays_open() {
    let server = spawn_server().await;
    let (mut ws, _) = ws_client(&server).await;
    let cases = [
        (Message::text("{not json"), "bad_json"),
        (Message::text(r#"{"type":"dance"}"#), "bad_message"),
        (Message::text(r#"{"type":"subscribe"}"#), "bad_message"),
        (
            Message::text(r#"{"type":"subscribe","room":"bad room!"}"#),
            "bad_room",
        ),
        (Message::binary(vec![1, 2, 3]), "binary_unsupported"),
    ];
    for (frame, code) in cases {
        send_raw(&mut ws, frame).await;
        assert!(
            matches!(recv(&mut ws).await, ServerMessage::Error { code: c, .. } if c == code),
            "{code}"
        );
    }
    send(&mut ws, &emit("hi!", None)).await;
    assert!(
        matches!(recv(&mut ws).await, ServerMessage::Event { .. }),
        "still served"
    );
}

#[tokio::test]
async fn an_oversize_message_closes_with_1009() {
    let server = spawn_server().await;
    let (mut ws, _) = ws_client(&server).await;
    send_raw(&mut ws, Message::text("x".repeat(70 * 1024))).await;
    assert_eq!(close_code(&mut ws).await, Some(1009));
}

#[tokio::test]
async fn a_flooding_client_is_throttled_then_closed_with_1008() {
    let server = spawn_server_with(Config {
        ws: WsConfig {
            max_messages_per_sec: 5,
            ..WsConfig::default()
        },
        ..Config::default()
    })
    .await;
    let (mut ws, _) = ws_client(&server).await;
    for _ in 0..20 {
        // Sends may fail once the server has closed; the close code is what matters.
        if futures_util::SinkExt::send(&mut ws, Message::text(r#"{"type":"emit","event":"x"}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(close_code(&mut ws).await, Some(1008));
    assert_eq!(server.stats().ws.throttled, 1);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_resynced_while_another_keeps_up() {
    let server = spawn_server_with(Config {
        ws: WsConfig {
            feed_capacity: 16,
            ..WsConfig::default()
        },
        // Small kernel buffers on both sides, so the server's writes block soon.
        send_buffer_bytes: Some(4096),
        ..Config::default()
    })
    .await;
    // The stalled client has a tiny receive buffer so the server's writes block soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.local_addr()).await.unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(
        format!("ws://{}/ws", server.local_addr()),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .unwrap();
    assert!(matches!(
        recv(&mut stalled).await,
        ServerMessage::Hello { .. }
    ));
    send(&mut stalled, &subscribe_species(None)).await;
    let (mut healthy, _) = subscriber(&server).await;

    let name = "N".repeat(100);
    let writes = 600u64;
    let writer = {
        let url = url(&server, "/species");
        let name = name.clone();
        tokio::spawn(async move {
            let client = http();
            for _ in 0..writes {
                let r = client
                    .post(&url)
                    .json(&json!({ "name": name }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        })
    };
    for expected in 1..=writes {
        assert_eq!(change_revision(&recv(&mut healthy).await), expected);
    }
    writer.await.unwrap();

    // Now the stalled client reads: somewhere it must be told to resync, then get a snapshot,
    // and every change after that snapshot follows without a gap.
    let resynced = common::read_through_resync(&mut stalled, writes).await;
    assert!(resynced, "the stalled client must have been resynchronized");
    assert!(server.stats().ws.resyncs >= 1);
}

#[tokio::test]
async fn shutdown_closes_clients_with_1001() {
    let server = spawn_server().await;
    let (mut ws, _) = subscriber(&server).await;
    let stop = tokio::spawn(server.shutdown());
    assert_eq!(close_code(&mut ws).await, Some(1001));
    stop.await.unwrap();
}

#[tokio::test]
async fn plain_http_on_ws_is_426_and_bad_origins_are_403() {
    let server = spawn_server_with(Config {
        allowed_origins: vec!["http://ok.test".into()],
        ..Config::default()
    })
    .await;
    let r = get(&server, "/ws").await;
    assert_eq!(r.status(), 426);
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/ws", server.local_addr()),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.test".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test]
async fn ws_byte_counters_match_what_the_client_saw_on_its_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = spawn_server().await;
    let before = server.stats();
    let mut tcp = common::raw_upgrade(&server).await;
    let request = common::RAW_UPGRADE;
    // A masked close frame (code 1000) from the client, after the server's hello.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"hello\"") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    let close = [0x88u8, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2];
    tcp.write_all(&close).await.unwrap();
    loop {
        let n = tcp.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let after = server.stats();
    let ws_in = after.ws.bytes_in - before.ws.bytes_in;
    let rest_in = after.rest.bytes_in - before.rest.bytes_in;
    assert_eq!(
        rest_in, 0,
        "the upgrade request counts as WebSocket traffic"
    );
    assert_eq!(ws_in, (request.len() + close.len()) as u64);
    assert_eq!(
        after.ws.bytes_out - before.ws.bytes_out,
        seen.len() as u64,
        "101 and frames count as WS"
    );
    assert_eq!(after.ws.connections_total - before.ws.connections_total, 1);
}

#[tokio::test]
async fn a_client_that_never_answers_pings_is_dropped() {
    use tokio::io::AsyncReadExt;
    let server = spawn_server_with(Config {
        ws: WsConfig {
            ping_interval: std::time::Duration::from_millis(100),
            idle_timeout: std::time::Duration::from_millis(300),
            ..WsConfig::default()
        },
        ..Config::default()
    })
    .await;
    // A raw socket that upgrades, then reads but never answers a ping.
    let mut tcp = common::raw_upgrade(&server).await;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let ended = tokio::time::timeout(common::DEADLINE, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server must close a silent client");
    // The last frame before the end is a close (opcode 8) with code 1001.
    let close = seen
        .windows(4)
        .rev()
        .find(|w| w[0] == 0x88 && w[2..4] == [0x03, 0xe9]);
    assert!(close.is_some(), "expected a close frame with 1001");
    // The socket's counters are released just after its close reaches us.
    common::eventually(
        || server.stats().ws.connections == 0,
        "connection still counted",
    )
    .await;
}
