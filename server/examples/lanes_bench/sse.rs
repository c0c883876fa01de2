//! The SSE subscribers: raw `GET /species/events` clients that decode the
//! chunked body, split it into events and check that the `id:` of every
//! `change` is the previous one plus one, stamping each arrival.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::crowd::{self, Crowd, STEP, Tracker};
use crate::http::{find, read_head, take_chunk};

/// Connects `n` SSE subscribers, `concurrency` at a time, all within `deadline`.
pub async fn connect(
    addr: &str,
    n: usize,
    concurrency: usize,
    tracker: &Arc<Tracker>,
    deadline: Duration,
) -> anyhow::Result<Crowd> {
    let gate = Arc::new(Semaphore::new(concurrency));
    let (ready_tx, ready) = mpsc::channel(n.max(1));
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let (addr, tracker, stop) = (addr.to_owned(), tracker.clone(), stop_rx.clone());
        let (gate, ready) = (gate.clone(), ready_tx.clone());
        tasks.spawn(subscriber(addr, tracker, stop, gate, ready));
    }
    drop(ready_tx);
    crowd::gather(tasks, stop, ready, n, deadline).await
}

/// One stream: subscribes (holding a `gate` permit), reports the snapshot's
/// revision on `ready`, then reads until stopped; returns its last revision.
async fn subscriber(
    addr: String,
    tracker: Arc<Tracker>,
    mut stop: watch::Receiver<bool>,
    gate: Arc<Semaphore>,
    ready: mpsc::Sender<anyhow::Result<u64>>,
) -> anyhow::Result<u64> {
    let permit = gate.acquire_owned().await?;
    let started = tokio::time::timeout(STEP, subscribe(&addr))
        .await
        .context("subscribe timed out")
        .flatten();
    drop(permit);
    let (tcp, buf, mut last) = match started {
        Ok(started) => started,
        Err(e) => {
            let _ = ready.send(Err(anyhow::anyhow!("{e:#}"))).await;
            return Err(e);
        }
    };
    let _ = ready.send(Ok(last)).await;
    drop(ready);
    // One long-lived stop future, as in push_bench's subscribers.
    let mut stopped = std::pin::pin!(async move {
        let _ = stop.changed().await;
    });
    let read = read_events(tcp, buf, &mut stopped, |kind, id| match kind {
        "change" => {
            if id != Some(last + 1) {
                tracker.out_of_order.fetch_add(1, Relaxed);
            }
            if let Some(id) = id {
                last = id;
                tracker.arrived(id);
            }
        }
        "resync" => {
            tracker.resyncs.fetch_add(1, Relaxed);
        }
        // The snapshot after a resync: carry on from its revision.
        "snapshot" => last = id.unwrap_or(last),
        _ => {}
    })
    .await;
    match read {
        Ok(()) => Ok(last),
        Err(e) => {
            tracker.dropped.fetch_add(1, Relaxed);
            Err(e)
        }
    }
}

/// Opens the stream and reads up to its first event, the snapshot.
async fn subscribe(addr: &str) -> anyhow::Result<(TcpStream, BytesMut, u64)> {
    let mut tcp = TcpStream::connect(addr).await.context("connect")?;
    let request = format!(
        "GET /species/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.context("send")?;
    let mut buf = BytesMut::with_capacity(4096);
    let head = read_head(&mut tcp, &mut buf).await?;
    anyhow::ensure!(
        head.status == 200,
        "GET /species/events answered {}",
        head.status
    );
    anyhow::ensure!(head.chunked, "the event stream is not chunked");
    let mut events = BytesMut::new();
    loop {
        while let Some(chunk) = take_chunk(&mut buf) {
            events.extend_from_slice(&chunk?);
        }
        if let Some(end) = find(&events, b"\n\n") {
            let (kind, id) = fields(&events[..end]);
            anyhow::ensure!(
                kind == "snapshot",
                "first event is {kind:?}, not a snapshot"
            );
            anyhow::ensure!(events.len() == end + 2, "events before the first write");
            return Ok((tcp, buf, id.context("snapshot without an id")?));
        }
        if tcp.read_buf(&mut buf).await.context("read")? == 0 {
            bail!("stream ended before its snapshot");
        }
    }
}

/// Reads events until `stop` resolves; calls `on_event(event, id)` for each.
async fn read_events(
    mut tcp: TcpStream,
    mut buf: BytesMut,
    stop: &mut Pin<&mut impl Future<Output = ()>>,
    mut on_event: impl FnMut(&str, Option<u64>),
) -> anyhow::Result<()> {
    let mut events = BytesMut::new();
    loop {
        while let Some(chunk) = take_chunk(&mut buf) {
            events.extend_from_slice(&chunk?);
        }
        while let Some(end) = find(&events, b"\n\n") {
            let (kind, id) = fields(&events[..end]);
            on_event(kind, id);
            events.advance(end + 2);
        }
        tokio::select! {
            () = stop.as_mut() => return Ok(()),
            read = tcp.read_buf(&mut buf) => {
                if read.context("read")? == 0 {
                    bail!("stream ended early");
                }
            }
        }
    }
}

/// The `event:` name and `id:` of one event (a comment line has neither).
fn fields(event: &[u8]) -> (&str, Option<u64>) {
    let text = std::str::from_utf8(event).unwrap_or("");
    let mut kind = "";
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            kind = v.trim();
        } else if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        }
    }
    (kind, id)
}
