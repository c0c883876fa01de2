//! `--write-token`: writes need it, on REST, `/ws` and socket.io; reads and
//! subscriptions stay open; refusals keep the connection.
#![allow(clippy::unwrap_used)]

mod common;

use common::{http, recv, send, spawn_server_with, subscribe_species, url};
use pollpush_server::{Config, Server};
use pollpush_shared::{ClientMessage, Problem, ServerMessage};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "s3cret-t0ken";

async fn guarded_server() -> Server {
    spawn_server_with(Config {
        write_token: Some(TOKEN.into()),
        ..Config::default()
    })
    .await
}

async fn assert_unauthorized(r: reqwest::Response, challenge: &str) {
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], challenge);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Problem = r.json().await.unwrap();
    assert_eq!(problem.kind, "urn:pollpush:problem:unauthorized");
}

#[tokio::test]
async fn rest_writes_need_the_bearer_token_and_reads_stay_open() {
    let server = guarded_server().await;
    let body = json!({ "name": "Basilic" });
    let post = || http().post(url(&server, "/species")).json(&body);
    assert_unauthorized(post().send().await.unwrap(), "Bearer realm=\"pollpush\"").await;
    assert_unauthorized(
        post().bearer_auth("guess").send().await.unwrap(),
        "Bearer realm=\"pollpush\", error=\"invalid_token\"",
    )
    .await;
    let put = http().put(url(&server, "/species/1")).json(&body);
    let r = put.send().await.unwrap();
    assert_unauthorized(r, "Bearer realm=\"pollpush\"").await;
    let r = http().delete(url(&server, "/species/1")).send().await;
    assert_unauthorized(r.unwrap(), "Bearer realm=\"pollpush\"").await;

    assert_eq!(common::get(&server, "/species").await.status(), 200);
    assert_eq!(common::get(&server, "/species/1").await.status(), 200);
    assert_eq!(common::revision(&server).await, 0, "nothing was written");
    let r = post().bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = http()
        .delete(url(&server, "/species/1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

fn broadcast(text: &str) -> ClientMessage {
    ClientMessage::Broadcast {
        room: "lab".into(),
        event: "note".into(),
        data: json!({ "text": text }),
    }
}

#[tokio::test]
async fn ws_broadcast_needs_the_token_by_query_or_header_and_refusal_keeps_the_socket() {
    let server = guarded_server().await;
    let base = format!("ws://{}/ws", server.local_addr());
    let (mut listener, _) = common::ws_client(&server).await;
    common::join_room(&mut listener, "lab").await;

    // No token: subscriptions work, a broadcast gets an error, the socket stays.
    let (mut anonymous, _) = common::ws_client(&server).await;
    send(&mut anonymous, &subscribe_species(None)).await;
    assert!(matches!(
        recv(&mut anonymous).await,
        ServerMessage::Subscribed { .. }
    ));
    assert!(matches!(
        recv(&mut anonymous).await,
        ServerMessage::Snapshot { .. }
    ));
    send(&mut anonymous, &broadcast("sneaky")).await;
    let ServerMessage::Error { code, .. } = recv(&mut anonymous).await else {
        panic!("expected an error")
    };
    assert_eq!(code, "unauthorized");
    send(&mut anonymous, &common::emit("info", Some(1))).await;
    assert!(matches!(
        recv(&mut anonymous).await,
        ServerMessage::Ack { ack: 1, .. }
    ));

    // The token in the query, then in the header.
    let (mut by_query, _) =
        tokio_tungstenite::connect_async(format!("{base}?access_token={TOKEN}"))
            .await
            .unwrap();
    let mut request = base.clone().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut by_header, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for (ws, text) in [(&mut by_query, "query"), (&mut by_header, "header")] {
        assert!(matches!(recv(ws).await, ServerMessage::Hello { .. }));
        send(ws, &broadcast(text)).await;
        let ServerMessage::Event { data, .. } = recv(&mut listener).await else {
            panic!("expected the broadcast")
        };
        assert_eq!(data["text"], text, "the first event is not the refused one");
    }
}

/// A socket.io session over long-polling: `connect` with `auth`, then one
/// acknowledged `broadcast`; returns the ack's argument.
async fn socketio_broadcast(server: &Server, auth: &str) -> Value {
    let open = common::get(server, "/socket.io/?EIO=4&transport=polling").await;
    let body = open.text().await.unwrap();
    let handshake: Value = serde_json::from_str(body.trim_start_matches('0')).unwrap();
    let sid = handshake["sid"].as_str().unwrap();
    let poll = url(
        server,
        &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
    );
    let post = |body: String| http().post(&poll).body(body).send();
    assert_eq!(post(format!("40{auth}")).await.unwrap().status(), 200);
    let payload = json!(["broadcast", { "room": "lab", "event": "note", "data": 1 }]);
    assert_eq!(post(format!("421{payload}")).await.unwrap().status(), 200);
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no ack");
        let text = http()
            .get(&poll)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if let Some(ack) = text.split('\u{1e}').find_map(|p| p.strip_prefix("431")) {
            return serde_json::from_str::<Value>(ack).unwrap()[0].clone();
        }
    }
}

#[tokio::test]
async fn socketio_broadcast_needs_the_token_in_the_auth_payload() {
    let server = guarded_server().await;
    let refused = socketio_broadcast(&server, "").await;
    assert!(
        refused["error"].as_str().unwrap().contains("unauthorized"),
        "{refused}"
    );
    let wrong = socketio_broadcast(&server, r#"{"token":"guess"}"#).await;
    assert!(wrong["error"].is_string(), "{wrong}");
    let allowed = socketio_broadcast(&server, &json!({ "token": TOKEN }).to_string()).await;
    assert_eq!(allowed, json!({ "room": "lab" }));
}

#[tokio::test]
async fn without_a_token_anyone_may_write_as_before() {
    let server = spawn_server_with(Config::default()).await;
    common::create(&server, "Basilic").await;
    let allowed = socketio_broadcast(&server, "").await;
    assert_eq!(allowed, json!({ "room": "lab" }));
}

#[tokio::test]
async fn the_openapi_document_declares_the_bearer_scheme_on_writes() {
    let server = guarded_server().await;
    let doc: Value = common::get(&server, "/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let species = &doc["paths"]["/species"];
    assert_eq!(species["post"]["security"], json!([{ "bearer": [] }]));
    assert!(species["post"]["responses"]["401"].is_object());
    assert!(species["get"]["security"].is_null(), "reads stay open");
    let item = &doc["paths"]["/species/{id}"];
    for method in ["put", "delete"] {
        assert_eq!(
            item[method]["security"],
            json!([{ "bearer": [] }]),
            "{method}"
        );
    }
}
