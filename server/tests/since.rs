//! A `since` no store can hold (revisions are 64-bit signed integers, so
//! anything past 9223372036854775807) is refused on every lane that takes
//! one, never taken for "no since". socket.io's case is one step of
//! `tests/socketio/clients.js`, which drives the real client.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, http, recv, send, send_raw, spawn_server, subscribe_species, url, ws_client};
use pollpush_shared::{Problem, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

const PAST_I64: &str = "9223372036854775808";
const PAST_U64: &str = "99999999999999999999999";
const LARGEST: u64 = 9_223_372_036_854_775_807;

async fn assert_bad_since(r: reqwest::Response) {
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Problem = r.json().await.unwrap();
    assert_eq!(problem.kind, "urn:pollpush:problem:bad-since");
}

#[tokio::test]
async fn sse_refuses_a_since_past_the_largest_revision() {
    let server = spawn_server().await;
    for raw in [PAST_I64, PAST_U64] {
        assert_bad_since(get(&server, &format!("/species/events?since={raw}")).await).await;
    }
    // The largest one is a revision (in the future): the stream opens.
    let r = get(&server, &format!("/species/events?since={LARGEST}")).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn sse_refuses_a_last_event_id_past_the_largest_revision() {
    let server = spawn_server().await;
    let with_id = |id: &str| {
        http()
            .get(url(&server, "/species/events"))
            .header("last-event-id", id)
            .send()
    };
    assert_bad_since(with_id(PAST_I64).await.unwrap()).await;
    // Not a number at all: a browser's id from elsewhere gets a snapshot, as before.
    assert_eq!(with_id("yesterday").await.unwrap().status(), 200);
}

#[tokio::test]
async fn ws_subscribe_past_the_largest_revision_is_an_error_and_the_session_goes_on() {
    let server = spawn_server().await;
    let (mut ws, _) = ws_client(&server).await;
    send(&mut ws, &subscribe_species(Some(LARGEST + 1))).await;
    match recv(&mut ws).await {
        ServerMessage::Error { code, message } => {
            assert_eq!(code, "bad_since");
            assert!(message.contains(PAST_I64), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // Past 64 bits the frame does not even parse as a subscribe.
    let text = format!(r#"{{"type":"subscribe","room":"species","since":{PAST_U64}}}"#);
    send_raw(&mut ws, Message::text(text)).await;
    assert!(matches!(recv(&mut ws).await, ServerMessage::Error { .. }));
    send(&mut ws, &subscribe_species(None)).await;
    assert!(matches!(
        recv(&mut ws).await,
        ServerMessage::Subscribed { .. }
    ));
}
