//! The wire's transport: the socket itself, or the socket under TLS.
//!
//! Every write of the wire, the owner's and the fan-out's, goes through
//! [`Shared::try_send`] under the wire's ordering lock. Under TLS it hands the
//! plaintext to rustls, which encrypts it into records, and writes the records
//! to the socket; records the socket does not take stay in rustls (at most
//! its 64 KiB buffer limit) and go out before any later byte. So a change
//! frame shared by every subscriber is encrypted once per connection, on the
//! fan-out's task, with no task or queue of its own. Bytes are counted as
//! the socket takes them: TLS records, not plaintext.

use std::io::{self, BufRead, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{MutexGuard, PoisonError};
use std::task::{Context, Poll};

use pollpush_shared::counting::ByteCounter;
use rustls::ServerConnection;
use tokio::io::{Interest, ReadBuf};

use super::Shared;
use crate::tls::{SocketReader, SocketWriter};

impl Shared {
    fn tls(&self) -> Option<MutexGuard<'_, ServerConnection>> {
        self.tls
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Writes what the socket takes of `bufs` now and returns how many of
    /// their bytes were taken (`WouldBlock` for none). Under TLS, records
    /// already waiting go first; the new ones may wait in rustls (see
    /// [`Shared::tls_waiting`]).
    pub(super) fn try_send(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let Some(mut conn) = self.tls() else {
            let n = self.tcp.try_write_vectored(bufs)?;
            self.counter.wrote(n as u64);
            return Ok(n);
        };
        self.flush_records(&mut conn)?;
        let n = conn.writer().write_vectored(bufs)?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.flush_records(&mut conn) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    /// Writes the TLS records rustls holds; `WouldBlock` while some remain.
    pub(super) fn flush_tls(&self) -> io::Result<()> {
        match self.tls() {
            Some(mut conn) => self.flush_records(&mut conn),
            None => Ok(()),
        }
    }

    fn flush_records(&self, conn: &mut ServerConnection) -> io::Result<()> {
        let mut flushed = Ok(());
        while conn.wants_write() {
            match conn.write_tls(&mut SocketWriter(&self.tcp)) {
                Ok(n) => self.counter.wrote(n as u64),
                Err(e) => {
                    flushed = Err(e);
                    break;
                }
            }
        }
        self.note_records(conn);
        flushed
    }

    /// Remembers whether records wait, so the fan-out's check after each
    /// change is a load, not a second lock of the TLS state.
    fn note_records(&self, conn: &ServerConnection) {
        self.records_waiting.store(conn.wants_write(), Relaxed);
    }

    /// Encrypted bytes wait in rustls for the socket.
    pub(super) fn tls_waiting(&self) -> bool {
        self.records_waiting.load(Relaxed)
    }

    /// Queues TLS's `close_notify` and writes what the socket takes.
    pub(super) fn close_tls(&self) {
        if let Some(mut conn) = self.tls() {
            conn.send_close_notify();
            let _ = self.flush_records(&mut conn);
        }
    }

    /// Reads plaintext under TLS: what rustls has decrypted, else records
    /// from the socket. `None` when the wire is not TLS.
    pub(super) fn poll_read_tls(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Option<Poll<io::Result<()>>> {
        self.tls.as_ref()?;
        Some(loop {
            {
                let Some(mut conn) = self.tls() else {
                    break Poll::Ready(Ok(()));
                };
                // Copied out of rustls's own buffer into the caller's
                // uninitialised space: `read` into `initialize_unfilled()`
                // would zero all of hyper's read buffer (8 KiB and more) on
                // every poll, which was the TLS path's largest cost per poll.
                let mut reader = conn.reader();
                match reader.fill_buf() {
                    Ok(chunk) => {
                        // Empty: the peer's close_notify, a clean end.
                        let n = chunk.len().min(buf.remaining());
                        buf.put_slice(&chunk[..n]);
                        reader.consume(n);
                        break Poll::Ready(Ok(()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => break Poll::Ready(Err(e)),
                }
            }
            match self.tcp.poll_read_ready(cx) {
                Poll::Pending => break Poll::Pending,
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            let read = self.tcp.try_io(Interest::READABLE, || {
                let Some(mut conn) = self.tls() else {
                    return Ok(0);
                };
                let n = conn.read_tls(&mut SocketReader(&self.tcp))?;
                if n > 0 {
                    self.counter.read(n as u64);
                    if let Err(e) = conn.process_new_packets() {
                        let _ = self.flush_records(&mut conn);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    // Reading may queue records (a key update's answer).
                    self.note_records(&conn);
                }
                Ok(n)
            });
            match read {
                // The socket closed without close_notify: the end, as for plain TCP.
                Ok(0) => break Poll::Ready(Ok(())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => break Poll::Ready(Err(e)),
            }
        })
    }
}
