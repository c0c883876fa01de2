//! The wire as an async socket for its owner (hyper, then tungstenite or
//! engineioxide): reads counted, writes kept whole and in order with the fan-out's.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pollpush_shared::counting::ByteCounter;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use super::Wire;

/// Runs a write, giving up (`None`) when it has not finished within
/// `timeout`. Nearly every write completes at once; only a blocked one pays
/// for a timer (10,000 timer registrations per change showed up in fan-out
/// profiles).
pub async fn within<F: Future>(timeout: std::time::Duration, write: F) -> Option<F::Output> {
    let mut write = std::pin::pin!(write);
    let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Some(output),
        Poll::Pending => tokio::time::timeout(timeout, write).await.ok(),
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let shared = &self.0;
        if let Some(read) = shared.poll_read_tls(cx, buf) {
            return read;
        }
        loop {
            ready!(shared.tcp.poll_read_ready(cx))?;
            // As tokio's own `TcpStream::poll_read`: a read that leaves room in
            // `buf` drained the socket, so its readiness is cleared (the
            // closure's `WouldBlock` makes `try_io` do it) and the next read
            // waits for the kernel's wake-up instead of a `recvfrom` that says
            // EAGAIN: one syscall less per keep-alive request.
            let room = buf.remaining();
            let mut read = None;
            let tried = shared.tcp.try_io(Interest::READABLE, || {
                let n = shared.tcp.try_read_buf(buf)?;
                read = Some(n);
                if n > 0 && n < room {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            if let Some(n) = read {
                if n > 0 {
                    shared.counter.read(n as u64);
                }
                return Poll::Ready(Ok(()));
            }
            match tried {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Poll::Ready(Err(e)),
                _ => {}
            }
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_owned(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_owned(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.0.poll_drain(cx))?;
        self.0.close_tls();
        let socket = socket2::SockRef::from(&self.0.tcp);
        Poll::Ready(socket.shutdown(std::net::Shutdown::Write))
    }
}
