//! A connection's socket, shared by its owner (hyper, then tungstenite) and the
//! change feed's fan-out, which writes each change straight to it.
//!
//! Server frames are unmasked, so a change is one byte sequence for every
//! subscriber ([`ChangeFrame::frame`]). The fan-out writes it with a
//! non-blocking `try_write` from its own task: no session wake-up, no
//! tungstenite, on the common path. Every byte, the owner's and the fan-out's,
//! goes through one ordered path guarded by a small per-connection lock, so
//! frames never interleave: whatever could not be written at once waits in
//! `pending`, nothing new reaches the socket before it, and the owner's writes
//! wait until it is empty. The session drains `pending` ([`Wire::lagged`]) and
//! is woken only when the fan-out leaves something there. A subscriber with
//! more than `capacity` changes pending is marked lagged: its not-yet-started
//! changes are dropped (a partly written frame is finished first) and the
//! session resynchronizes it, so memory stays bounded.
//!
//! Bytes are counted here, on the socket, exactly as [`CountingStream`] did.
//!
//! [`CountingStream`]: pollpush_shared::counting::CountingStream

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes};
use pollpush_shared::Revision;
use tokio::net::TcpStream;

use crate::encoding::Encoding;
use crate::feed::{ChangeFrame, DirectTarget};
use crate::stats::{ConnCounter, Stats};

/// One accepted connection's socket; clones share it.
#[derive(Debug, Clone)]
pub struct Wire(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    tcp: TcpStream,
    /// The connection's TLS state when it is served over TLS (see `wire/tls.rs`).
    /// Boxed: rustls' state is about 1.2 KB, which an `Option` would reserve
    /// inline in every plaintext connection too (a heap profile of 10,000 idle
    /// `/ws` subscribers showed it as a third of their memory).
    tls: Option<Box<Mutex<rustls::ServerConnection>>>,
    /// TLS records rustls holds that the socket has not taken (see `wire/tls.rs`).
    records_waiting: std::sync::atomic::AtomicBool,
    counter: ConnCounter,
    out: Mutex<Outgoing>,
}

/// Bytes committed to the wire's order but not yet written.
#[derive(Debug)]
struct Chunk {
    bytes: Bytes,
    /// A change frame, counted in `ws_messages_out` once its last byte is written.
    change: bool,
}

/// Where this connection stands in the change feed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Not subscribed: changes are ignored.
    #[default]
    Off,
    /// Subscribing or resyncing: changes wait in `held` until the session has
    /// written the snapshot or replay they follow.
    Held,
    /// Changes go straight to the socket.
    Live,
    /// Fell `capacity` changes behind: ignored until the session resyncs.
    Lagged,
}

#[derive(Debug, Default)]
struct Outgoing {
    /// How changes go out: `/ws` messages, socket.io events or SSE events.
    encoding: Encoding,
    pending: VecDeque<Chunk>,
    /// Bytes in `pending`, also added to the server's backlog gauge.
    pending_bytes: usize,
    /// Change frames in `pending`.
    changes: usize,
    gate: Gate,
    held: Vec<Arc<ChangeFrame>>,
    /// The newest revision sent or covered by the snapshot; older frames are skipped.
    last: Revision,
    capacity: usize,
    /// The session, to wake when the fan-out leaves work for it.
    waker: Option<Waker>,
    /// Tasks waiting for the socket to take bytes (see [`Shared::poll_writable`]).
    writers: Vec<Waker>,
    broken: bool,
    /// Bumped by every [`Wire::hold`]: which subscription the gate belongs to.
    epoch: u64,
}

impl Outgoing {
    /// Drops every change not yet started (the first chunk may be partly
    /// written: it is finished) and leaves the resync to the session. Counted
    /// now, not when the session resyncs: a client that never reads again
    /// is never resynced, and `/stats` should still show it fell behind.
    fn lag(&mut self, stats: &Stats) {
        self.encoding.resyncs(stats).fetch_add(1, Relaxed);
        let first = self.pending.pop_front();
        let dropped: usize = self.pending.drain(..).map(|c| c.bytes.len()).sum();
        self.untrack(dropped, stats);
        self.changes = 0;
        if let Some(first) = first {
            self.changes = usize::from(first.change);
            self.pending.push_back(first);
        }
        self.held = Vec::new();
        self.gate = Gate::Lagged;
        wake(self);
    }
}

impl Wire {
    pub fn new(tcp: TcpStream, counter: ConnCounter) -> Self {
        Self::with_tls(tcp, None, counter)
    }

    /// A wire whose every write is encrypted with `tls` (its handshake done).
    pub fn with_tls(
        tcp: TcpStream,
        tls: Option<rustls::ServerConnection>,
        counter: ConnCounter,
    ) -> Self {
        Self(Arc::new(Shared {
            tcp,
            tls: tls.map(|conn| Box::new(Mutex::new(conn))),
            records_waiting: std::sync::atomic::AtomicBool::new(false),
            counter,
            out: Mutex::new(Outgoing::default()),
        }))
    }

    /// Caps the kernel's send buffer (`SO_SNDBUF`), which also stops its
    /// autotuning: a client that stops reading then fills it soon, and the
    /// server's own bounded queue and resync take over.
    pub fn cap_send_buffer(&self, bytes: usize) {
        if let Err(e) = socket2::SockRef::from(&self.0.tcp).set_send_buffer_size(bytes) {
            tracing::debug!("cannot cap the send buffer: {e}");
        }
    }

    /// From now on, changes go out in `encoding` (this connection is an
    /// Engine.IO WebSocket, or an SSE stream), counted as its messages.
    pub fn speak(&self, encoding: Encoding) {
        self.0.lock().encoding = encoding;
    }

    /// What the feed's fan-out holds to write changes to this connection.
    pub fn feed_target(&self) -> Arc<dyn DirectTarget> {
        self.0.clone()
    }

    /// The owner's whole frame, in order with the fan-out's; resolves once the
    /// socket has taken it and everything before it. Frames written this way
    /// never pass through tungstenite's output buffer, which would otherwise
    /// keep the capacity of the largest message ever sent (a snapshot, a
    /// `species` list) for as long as the connection lives.
    pub async fn write_frame(&self, frame: &[u8]) -> io::Result<()> {
        std::future::poll_fn(|cx| self.0.poll_write_owned(cx, &[io::IoSlice::new(frame)])).await?;
        std::future::poll_fn(|cx| self.0.poll_drain(cx)).await
    }

    /// [`Self::write_frame`] of a response's head and body, in one vectored
    /// write rather than a copy of the body.
    pub async fn write_response(&self, head: &[u8], body: &[u8]) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            let parts = [io::IoSlice::new(head), io::IoSlice::new(body)];
            self.0.poll_write_owned(cx, &parts)
        })
        .await?;
        std::future::poll_fn(|cx| self.0.poll_drain(cx)).await
    }

    /// Writes what the fan-out left pending; resolves when this connection's
    /// feed lagged (`Ok`) or its socket failed.
    pub async fn lagged(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.0.poll_work(cx)).await
    }
}

impl DirectTarget for Shared {
    fn offer(&self, frame: &Arc<ChangeFrame>) {
        let mut out = self.lock();
        match out.gate {
            Gate::Off | Gate::Lagged => {}
            Gate::Held if out.held.len() >= out.capacity => out.lag(self.counter.0.stats()),
            Gate::Held => out.held.push(frame.clone()),
            Gate::Live => self.offer_live(&mut out, frame),
        }
    }

    fn resync(&self) {
        let mut out = self.lock();
        if out.gate != Gate::Off {
            out.lag(self.counter.0.stats());
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Outgoing> {
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fast path: write at once when nothing is pending, else queue behind it.
    fn offer_live(&self, out: &mut Outgoing, frame: &Arc<ChangeFrame>) {
        if frame.revision() <= out.last || out.broken {
            return;
        }
        out.last = frame.revision();
        let bytes = out.encoding.change(frame);
        if !out.pending.is_empty() {
            if out.changes >= out.capacity {
                out.lag(self.counter.0.stats());
            } else {
                out.changes += 1;
                out.queue(bytes.clone(), true, self.counter.0.stats());
            }
            return;
        }
        let written = match self.try_send(&[io::IoSlice::new(bytes)]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => {
                out.broken = true;
                wake(out);
                return;
            }
        };
        if written == bytes.len() {
            self.count_change(out);
            if self.tls_waiting() {
                // Encrypted but not on the socket yet: the session's drain sends it.
                wake(out);
            }
            return;
        }
        out.changes += 1;
        out.queue(bytes.slice(written..), true, self.counter.0.stats());
        wake(out);
    }

    /// A change frame fully written: one message out, on its protocol's counter.
    fn count_change(&self, out: &Outgoing) {
        let stats = self.counter.0.stats();
        out.encoding.messages_out(stats).fetch_add(1, Relaxed);
    }

    /// Writes pending chunks until none is left (`Ready(Ok)`) or the socket is full.
    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut out = self.lock();
            if out.broken {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            // The first pending chunk, or (none left) the TLS records rustls
            // still holds: `None` once everything is on the socket.
            let sent = match out.pending.front() {
                Some(first) => self
                    .try_send(&[io::IoSlice::new(&first.bytes)])
                    .map(|n| Some((n, first.bytes.len()))),
                None => self.flush_tls().map(|()| None),
            };
            match sent {
                Ok(None) => return Poll::Ready(Ok(())),
                Ok(Some((n, len))) => {
                    out.untrack(n, self.counter.0.stats());
                    if n < len {
                        if let Some(first) = out.pending.front_mut() {
                            first.bytes.advance(n);
                        }
                    } else if out.pending.pop_front().is_some_and(|c| c.change) {
                        out.changes -= 1;
                        self.count_change(&out);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(out);
                    ready!(self.poll_writable(cx))?;
                    continue;
                }
                Err(e) => {
                    out.broken = true;
                    return Poll::Ready(Err(e));
                }
            }
            wake_writers(&mut out);
        }
    }

    /// Waits until the socket may take bytes. Several tasks can write to one
    /// wire (on socket.io: engineioxide's reader and writer, the fast path's
    /// pump and handlers), but tokio wakes only the last task that polled a
    /// socket's write readiness: the others are remembered here and woken by
    /// whichever task next gets bytes out, so none waits on a readiness
    /// another task took (socket.io subscribers stalled for 30 s that way).
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writable already (almost always: every REST answer): nothing to wait
        // for, so no waker to remember, and no lock.
        if let Poll::Ready(ready) = self.tcp.poll_write_ready(cx) {
            return Poll::Ready(ready);
        }
        {
            let mut out = self.lock();
            if !out.writers.iter().any(|w| w.will_wake(cx.waker())) {
                out.writers.push(cx.waker().clone());
            }
        }
        let ready = self.tcp.poll_write_ready(cx);
        if ready.is_ready() {
            self.lock().writers.retain(|w| !w.will_wake(cx.waker()));
        }
        ready
    }

    fn poll_work(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        let mut out = self.lock();
        if out.gate == Gate::Lagged {
            return Poll::Ready(Ok(()));
        }
        if !out.pending.is_empty() || self.tls_waiting() {
            // The fan-out added more since the drain: come back for it.
            cx.waker().wake_by_ref();
        } else if !out.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            out.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The owner's write: whole, after everything pending, never interleaved.
    /// What the socket does not take at once is kept and written by the next
    /// flush (or the session's drain), so the owner's frames stay whole.
    fn poll_write_owned(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum::<usize>();
        loop {
            ready!(self.poll_drain(cx))?;
            ready!(self.poll_writable(cx))?;
            let mut out = self.lock();
            if !out.pending.is_empty() {
                continue;
            }
            let written = match self.try_send(bufs) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    out.broken = true;
                    return Poll::Ready(Err(e));
                }
            };
            wake_writers(&mut out);
            if written < len {
                let mut rest = Vec::with_capacity(len - written);
                let mut skip = written;
                for buf in bufs {
                    let from = skip.min(buf.len());
                    skip -= from;
                    rest.extend_from_slice(&buf[from..]);
                }
                out.queue(rest.into(), false, self.counter.0.stats());
            }
            return Poll::Ready(Ok(len));
        }
    }
}

/// Bytes went out: the socket may take more, which other writers wait for.
fn wake_writers(out: &mut Outgoing) {
    for waker in out.writers.drain(..) {
        waker.wake();
    }
}

fn wake(out: &Outgoing) {
    if let Some(waker) = &out.waker {
        waker.wake_by_ref();
    }
}

mod backlog;
mod gate;
mod socket;
mod tls;
pub use gate::Hold;
pub use socket::within;

#[cfg(test)]
mod tests;
