//! The SSE subscribers: raw `GET /species/events` clients that decode the
//! chunked body, split it into events and check that the `id:` of every
//! `change` is the previous one plus one, stamping each arrival.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::crowd::{STEP, Start, Tracker};
use crate::http::{find, read_head, take_chunk};

/// One stream: subscribes (through the crowd's gate), reports the snapshot's
/// revision, then reads until stopped; returns its last revision.
pub async fn subscriber(
    addr: String,
    tracker: Arc<Tracker>,
    mut start: Start,
) -> anyhow::Result<u64> {
    let subscribing = async {
        tokio::time::timeout(STEP, subscribe(&addr))
            .await
            .context("subscribe timed out")?
    };
    let ((tcp, buf), mut last) = start.connected(subscribing).await?;
    let mut stop = start.stop;
    // One long-lived stop future, as in push_bench's subscribers.
    let mut stopped = std::pin::pin!(async move {
        let _ = stop.changed().await;
    });
    let read = read_events(tcp, buf, &mut stopped, |kind, id| {
        on_event(&tracker, &mut last, kind, id);
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

/// Checks one event against the stream so far and stamps a change's arrival.
pub fn on_event(tracker: &Tracker, last: &mut u64, kind: &str, id: Option<u64>) {
    match kind {
        "change" => {
            if id != Some(*last + 1) {
                tracker.out_of_order.fetch_add(1, Relaxed);
            }
            if let Some(id) = id {
                *last = id;
                tracker.arrived(id);
            }
        }
        "resync" => {
            tracker.resyncs.fetch_add(1, Relaxed);
        }
        // The snapshot after a resync: carry on from its revision.
        "snapshot" => *last = id.unwrap_or(*last),
        _ => {}
    }
}

/// The snapshot's revision once `events` holds the stream's first event
/// (which must be the snapshot, and alone: nothing was written yet).
pub fn snapshot_revision(events: &[u8]) -> Option<anyhow::Result<u64>> {
    let end = find(events, b"\n\n")?;
    let (kind, id) = fields(&events[..end]);
    Some(if kind != "snapshot" {
        Err(anyhow::anyhow!("first event is {kind:?}, not a snapshot"))
    } else if events.len() != end + 2 {
        Err(anyhow::anyhow!("events before the first write"))
    } else {
        id.context("snapshot without an id")
    })
}

/// Opens the stream and reads up to its first event, the snapshot.
async fn subscribe(addr: &str) -> anyhow::Result<((TcpStream, BytesMut), u64)> {
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
        if let Some(revision) = snapshot_revision(&events) {
            return Ok(((tcp, buf), revision?));
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
pub fn fields(event: &[u8]) -> (&str, Option<u64>) {
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
