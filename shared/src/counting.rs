//! Byte counting on the socket itself, used by the server and the client alike,
//! so both count what the wire carried (HTTP headers, WebSocket framing), not
//! what a parser kept.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where a [`CountingStream`] adds the bytes it moves.
pub trait ByteCounter {
    /// `n` bytes were read from the socket.
    fn read(&self, n: u64);
    /// `n` bytes were written to the socket.
    fn wrote(&self, n: u64);
}

impl<T: ByteCounter + ?Sized> ByteCounter for std::sync::Arc<T> {
    fn read(&self, n: u64) {
        (**self).read(n);
    }
    fn wrote(&self, n: u64) {
        (**self).wrote(n);
    }
}

/// An `AsyncRead + AsyncWrite` that reports every byte it moves to a [`ByteCounter`].
#[derive(Debug)]
pub struct CountingStream<S, C> {
    inner: S,
    counter: C,
}

impl<S, C> CountingStream<S, C> {
    pub fn new(inner: S, counter: C) -> Self {
        Self { inner, counter }
    }
}

impl<S: AsyncRead + Unpin, C: ByteCounter + Unpin> AsyncRead for CountingStream<S, C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before) as u64;
        if n > 0 {
            self.counter.read(n);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin, C: ByteCounter + Unpin> AsyncWrite for CountingStream<S, C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.counter.wrote(n as u64);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            self.counter.wrote(n as u64);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[derive(Default)]
    struct Counts(AtomicU64, AtomicU64);

    impl ByteCounter for &Counts {
        fn read(&self, n: u64) {
            self.0.fetch_add(n, Relaxed);
        }
        fn wrote(&self, n: u64) {
            self.1.fetch_add(n, Relaxed);
        }
    }

    #[tokio::test]
    async fn counts_bytes_both_ways() {
        let counts = Counts::default();
        let (a, mut b) = tokio::io::duplex(64);
        let mut a = CountingStream::new(a, &counts);
        a.write_all(b"hello").await.unwrap();
        b.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 3];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!((counts.0.load(Relaxed), counts.1.load(Relaxed)), (3, 5));
    }
}
