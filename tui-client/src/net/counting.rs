//! Byte counting on the socket itself, so a pane's traffic includes HTTP headers
//! and WebSocket framing: what the wire carried, not what the parser kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::TrafficTotals;

/// Cumulative bytes through every connection one producer opened.
#[derive(Debug, Default)]
pub struct Traffic {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Traffic {
    pub fn totals(&self) -> TrafficTotals {
        TrafficTotals {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

impl pollpush_shared::counting::ByteCounter for Traffic {
    fn read(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    fn wrote(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }
}

/// An `AsyncRead + AsyncWrite` that adds every byte it moves to a [`Traffic`]
/// (the same stream the server counts its own sockets with).
pub type CountingStream<S> = pollpush_shared::counting::CountingStream<S, Arc<Traffic>>;

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_bytes_both_ways() {
        let (a, mut b) = tokio::io::duplex(64);
        let traffic = Arc::new(Traffic::default());
        let mut a = CountingStream::new(a, traffic.clone());
        a.write_all(b"hello").await.expect("write");
        b.write_all(b"abc").await.expect("write");
        let mut buf = [0u8; 3];
        a.read_exact(&mut buf).await.expect("read");
        assert_eq!(
            traffic.totals(),
            TrafficTotals {
                bytes_in: 3,
                bytes_out: 5
            }
        );
    }
}
