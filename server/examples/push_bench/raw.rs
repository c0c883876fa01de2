//! The light subscriber: once subscribed, it reads WebSocket frames straight off
//! the socket (server frames are unmasked and small), answers pings, and hands
//! each text frame to the caller. Same job as the tungstenite client, a fraction
//! of the work per message, so 10,000 of them pace the benchmark less.

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::crowd::Ws;
use crate::dial::Stream;

/// Reads through tungstenite up to the snapshot (nothing else is sent before the
/// first write), then takes the bare connection back (a socket, or TLS over one).
pub async fn after_snapshot(mut ws: Ws) -> anyhow::Result<Stream> {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(30), ws.next())
            .await
            .context("no snapshot in time")?
            .context("closed before the snapshot")??;
        if let Message::Text(text) = frame
            && text.contains(r#""type":"snapshot""#)
        {
            break;
        }
    }
    Ok(ws.into_inner())
}

/// Reads frames until `stop` resolves; calls `on_text` for each text frame.
pub async fn read(
    mut tcp: Stream,
    stop: &mut Pin<&mut impl Future<Output = ()>>,
    mut on_text: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        while let Some((opcode, header, len)) = frame_at(&buf) {
            let payload = &buf[header..header + len];
            match opcode {
                0x1 => on_text(std::str::from_utf8(payload).context("text frame is not UTF-8")?),
                0x8 => bail!("the server closed the connection"),
                0x9 => tcp.write_all(&pong(payload)).await.context("pong")?,
                _ => {}
            }
            buf.advance(header + len);
        }
        tokio::select! {
            () = stop.as_mut() => return Ok(()),
            read = tcp.read_buf(&mut buf) => {
                if read.context("read")? == 0 {
                    bail!("connection ended early");
                }
            }
        }
    }
}

/// `(opcode, header length, payload length)` of a whole frame at the start of `buf`.
fn frame_at(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (header, len) = match b1 & 0x7f {
        126 => (
            4,
            usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
        ),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (10, usize::try_from(u64::from_be_bytes(bytes)).ok()?)
        }
        short => (2, usize::from(short)),
    };
    (buf.len() >= header + len).then_some((b0 & 0x0f, header, len))
}

/// A masked pong (clients must mask) echoing the ping's payload.
fn pong(payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x9e];
    let mut frame = vec![0x8a, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}
