//! SSE over HTTP/2 (issue 20): the same streams and checks as `sse.rs`, but
//! `per_connection` of them multiplexed on each h2c connection (prior
//! knowledge), as a browser's EventSources to one origin share one
//! connection. 100 per connection is the server's default stream limit.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::Context;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::OnceCell;

use crate::crowd::{STEP, Start, Tracker};
use crate::http::find;
use crate::sse::{fields, on_event, snapshot_revision};

/// The shared h2c connections: stream `i` rides connection `i / per_connection`,
/// opened by the first stream that needs it.
pub struct Connections {
    addr: String,
    per_connection: usize,
    senders: Vec<OnceCell<SendRequest<String>>>,
}

impl Connections {
    pub fn new(addr: &str, streams: usize, per_connection: usize) -> Self {
        let per_connection = per_connection.max(1);
        Self {
            addr: addr.to_owned(),
            per_connection,
            senders: (0..streams.div_ceil(per_connection))
                .map(|_| OnceCell::new())
                .collect(),
        }
    }

    async fn sender(&self, stream: usize) -> anyhow::Result<SendRequest<String>> {
        let cell = self
            .senders
            .get(stream / self.per_connection)
            .context("more streams than planned")?;
        let sender = cell
            .get_or_try_init(|| async {
                let tcp = tokio::net::TcpStream::connect(&self.addr)
                    .await
                    .context("connect")?;
                tcp.set_nodelay(true)?;
                let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                    .handshake::<_, String>(TokioIo::new(tcp))
                    .await
                    .context("h2 handshake")?;
                tokio::spawn(connection);
                anyhow::Ok(sender)
            })
            .await?;
        Ok(sender.clone())
    }
}

/// Stream number `stream`: subscribes (through the crowd's gate), reports the
/// snapshot's revision, then reads until stopped; returns its last revision.
pub async fn subscriber(
    connections: Arc<Connections>,
    stream: usize,
    tracker: Arc<Tracker>,
    mut start: Start,
) -> anyhow::Result<u64> {
    let subscribing = async {
        tokio::time::timeout(STEP, subscribe(&connections, stream))
            .await
            .context("subscribe timed out")?
    };
    let ((mut body, mut events), mut last) = start.connected(subscribing).await?;
    let mut stop = start.stop;
    let mut stopped = std::pin::pin!(async move {
        let _ = stop.changed().await;
    });
    loop {
        while let Some(end) = find(&events, b"\n\n") {
            let (kind, id) = fields(&events[..end]);
            on_event(&tracker, &mut last, kind, id);
            events.advance(end + 2);
        }
        tokio::select! {
            () = stopped.as_mut() => return Ok(last),
            frame = body.frame() => {
                let Some(Ok(frame)) = frame else {
                    tracker.dropped.fetch_add(1, Relaxed);
                    anyhow::bail!("stream ended early");
                };
                if let Ok(data) = frame.into_data() {
                    events.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Opens the stream on its connection and reads up to the snapshot.
async fn subscribe(
    connections: &Connections,
    stream: usize,
) -> anyhow::Result<((Incoming, BytesMut), u64)> {
    let mut sender = connections.sender(stream).await?;
    sender.ready().await.context("connection not ready")?;
    let request = http::Request::get(format!("http://{}/species/events", connections.addr))
        .header(http::header::ACCEPT, "text/event-stream")
        .body(String::new())?;
    let response = sender.send_request(request).await.context("request")?;
    anyhow::ensure!(
        response.status() == 200,
        "GET /species/events answered {}",
        response.status()
    );
    let mut body = response.into_body();
    let mut events = BytesMut::new();
    loop {
        if let Some(revision) = snapshot_revision(&events) {
            return Ok(((body, events), revision?));
        }
        let frame = body
            .frame()
            .await
            .context("stream ended before its snapshot")?
            .context("stream error")?;
        if let Ok(data) = frame.into_data() {
            events.extend_from_slice(&data);
        }
    }
}
