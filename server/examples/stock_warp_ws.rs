//! The push benchmark's baseline: stock `warp::ws()` and one `serde_json::to_string`
//! per client per change, the shape of warp's `websockets_chat` example.
//!
//! It speaks just enough of pollpush's `/ws` protocol for `push_bench` to drive
//! both servers with the same client: `hello` on connect, `subscribe` →
//! `subscribed` + `snapshot`, then a `change` frame per write. `POST /change`
//! makes one write (an observation on species 1) and answers its revision.
//!
//! ```sh
//! cargo run --release -p pollpush-server --example stock_warp_ws -- 127.0.0.1:5002
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use pollpush_shared::{Change, ChangeOp, PROTOCOL_VERSION, ServerMessage, Species};
use tokio::sync::mpsc;
use warp::Filter;
use warp::ws::{Message, WebSocket, Ws};

/// Every connected subscriber and the one species the writes touch.
#[derive(Default)]
struct Hub {
    revision: u64,
    observations: u64,
    subscribers: HashMap<u64, mpsc::UnboundedSender<Message>>,
}

type SharedHub = Arc<Mutex<Hub>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn lock(hub: &SharedHub) -> std::sync::MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(PoisonError::into_inner)
}

fn species(observations: u64) -> Species {
    Species {
        id: 1,
        name: "AThaliana".into(),
        observations,
        updated_at: pollpush_shared::time::now(),
    }
}

fn text(msg: &ServerMessage) -> Message {
    Message::text(serde_json::to_string(msg).unwrap_or_default())
}

/// One write: bump the revision and send the change to every subscriber,
/// serialized once per subscriber as a naive server does.
fn change(hub: &SharedHub) -> u64 {
    let mut hub = lock(hub);
    hub.revision += 1;
    hub.observations += 1;
    let msg = ServerMessage::Change(Change {
        room: "species".into(),
        revision: hub.revision,
        op: ChangeOp::Updated,
        species: species(hub.observations),
        at: pollpush_shared::time::now(),
    });
    for tx in hub.subscribers.values() {
        let _ = tx.send(text(&msg));
    }
    hub.revision
}

async fn client(socket: WebSocket, hub: SharedHub) {
    let id = NEXT_ID.fetch_add(1, Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
    });
    let revision = lock(&hub).revision;
    let _ = tx.send(text(&ServerMessage::Hello {
        protocol: PROTOCOL_VERSION,
        server: "stock-warp-ws".into(),
        revision,
        server_time: pollpush_shared::time::now(),
    }));
    while let Some(Ok(msg)) = stream.next().await {
        if msg.to_str().is_ok_and(|t| t.contains("\"subscribe\"")) {
            // Under the lock, so no change falls between `subscribed` and the first change.
            let mut hub = lock(&hub);
            let revision = hub.revision;
            let _ = tx.send(text(&ServerMessage::Subscribed {
                room: "species".into(),
                revision,
            }));
            let _ = tx.send(text(&ServerMessage::Snapshot {
                room: "species".into(),
                revision,
                species: vec![species(hub.observations)],
            }));
            hub.subscribers.insert(id, tx.clone());
        } else if msg.is_close() {
            break;
        }
    }
    lock(&hub).subscribers.remove(&id);
    drop(tx);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .context("usage: stock_warp_ws [ADDR]")?;
    let hub = SharedHub::default();
    let ws_hub = hub.clone();
    let ws = warp::path!("ws").and(warp::ws()).map(move |ws: Ws| {
        let hub = ws_hub.clone();
        ws.on_upgrade(move |socket| client(socket, hub))
    });
    let write = warp::path!("change")
        .and(warp::post())
        .map(move || warp::reply::json(&serde_json::json!({ "revision": change(&hub) })));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    warp::serve(ws.or(write)).incoming(listener).run().await;
    Ok(())
}
