//! The long-pollers: raw keep-alive clients that ask `GET /species` with the
//! ETag they hold and `Prefer: wait=60`, read the answer, and ask again. A
//! `200` stamps the arrival of its `X-Revision`; a `304` (the wait ran out)
//! just asks again.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::crowd::{STEP, Start, Tracker};
use crate::http::{Head, read_head};
use crate::target::Target;

/// Waits until the server holds `n` long-polls (`/stats`), so a write finds
/// every poller waiting rather than between two requests.
pub async fn all_held(target: &Target, n: usize) -> anyhow::Result<()> {
    let until = tokio::time::Instant::now() + STEP;
    loop {
        let stats = target.stats().await?;
        let held = stats["longpoll"]["held"]
            .as_u64()
            .context("no longpoll.held")?;
        if held >= n as u64 {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < until,
            "only {held} of {n} long-polls held within {STEP:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One long-poller: its first plain GET (through the crowd's gate) gives the
/// ETag and the start revision it reports; then it polls until stopped.
pub async fn poller(addr: String, tracker: Arc<Tracker>, mut start: Start) -> anyhow::Result<u64> {
    let mut conn = Conn::new(&addr);
    let first = async {
        conn.tcp = Some(TcpStream::connect(&addr).await.context("connect")?);
        let head = tokio::time::timeout(STEP, conn.get(None))
            .await
            .context("first GET timed out")??;
        match (head.etag, head.revision) {
            (Some(etag), Some(revision)) => Ok((etag, revision)),
            _ => bail!("the list came without ETag or X-Revision"),
        }
    };
    let (mut etag, mut last) = start.connected(first).await?;
    let mut stop = start.stop;
    loop {
        let answer = tokio::select! {
            _ = stop.changed() => return Ok(last),
            answer = conn.get(Some(&etag)) => answer,
        };
        let head = match answer {
            Ok(head) => head,
            Err(e) => {
                tracker.dropped.fetch_add(1, Relaxed);
                return Err(e);
            }
        };
        match (head.status, head.etag, head.revision) {
            (304, ..) => {}
            (200, Some(new), Some(revision)) => {
                // Long-polling may skip revisions by design; the bench waits
                // for every poller to be held before each write, so none should.
                if revision != last + 1 {
                    tracker.out_of_order.fetch_add(1, Relaxed);
                }
                tracker.arrived(revision);
                (etag, last) = (new, revision);
            }
            (status, ..) => bail!("a long-poll answered {status}"),
        }
    }
}

/// One keep-alive connection and its read buffer.
struct Conn {
    host: String,
    tcp: Option<TcpStream>,
    buf: BytesMut,
}

impl Conn {
    fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            tcp: None,
            buf: BytesMut::with_capacity(4096),
        }
    }

    /// `GET /species`, held when `etag` is given; returns the head, body read.
    async fn get(&mut self, etag: Option<&str>) -> anyhow::Result<Head> {
        let tcp = self.tcp.as_mut().context("not connected")?;
        let held = etag
            .map(|etag| format!("If-None-Match: {etag}\r\nPrefer: wait=60\r\n"))
            .unwrap_or_default();
        let request = format!("GET /species HTTP/1.1\r\nHost: {}\r\n{held}\r\n", self.host);
        tcp.write_all(request.as_bytes()).await.context("send")?;
        let head = read_head(tcp, &mut self.buf).await?;
        while self.buf.len() < head.content_length {
            if tcp.read_buf(&mut self.buf).await.context("read")? == 0 {
                bail!("connection ended in a body");
            }
        }
        self.buf.advance(head.content_length);
        Ok(head)
    }
}
