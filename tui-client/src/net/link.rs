//! An emulated network link in user space, under a lane's connection (below
//! TLS, so it acts on the bytes of the wire): added round-trip time with
//! jitter, packet loss as TCP's retransmission stall, and a bandwidth cap, in
//! each direction. This machine's kernel has no `netem`, and users often
//! cannot use it either.
//!
//! Each chunk the lane writes (and each chunk read from the socket) gets an
//! arrival time from its direction's [`Schedule`] when it enters the link; a
//! task per direction moves it on at that time. What it does not model is in
//! docs/conditions.md: no packet reordering, no congestion window, no SYN or
//! FIN loss beyond the connect's one round trip.

pub mod spec;

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use spec::Schedule;
pub use spec::{LinkError, LinkSpec};

/// Written but not yet delivered, per connection, before writes wait: about
/// a socket's send buffer.
const QUEUE_BYTES: usize = 256 * 1024;
/// Chunks read from the socket and not yet delivered to the lane.
const READ_CHUNKS: usize = 64;
/// The read buffer, held by every idle connection while it waits: small, as
/// a load runs thousands of them.
const READ_BYTES: usize = 4 * 1024;

/// What a link did, for tests and reports: chunks each way, and how many
/// waited for a retransmission.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub writes: AtomicU64,
    pub writes_stalled: AtomicU64,
    pub reads: AtomicU64,
    pub reads_stalled: AtomicU64,
}

/// What the lane side and the two tasks share.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes written by the lane and not yet on the socket.
    queued: AtomicUsize,
    /// The lane's write waiting for the queue to shrink.
    writer: Mutex<Option<Waker>>,
    /// Why the socket stopped taking writes.
    failed: Mutex<Option<io::ErrorKind>>,
    stats: LinkStats,
}

enum Out {
    Data(Instant, Bytes),
    Shutdown,
}

type Incoming = (Instant, io::Result<Bytes>);

/// A stream through an emulated link: what the lane reads and writes.
pub struct Linked {
    up: Schedule,
    to_wire: mpsc::UnboundedSender<Out>,
    from_wire: mpsc::Receiver<Incoming>,
    /// A chunk waiting for its arrival time, or being read.
    pending: Option<(Instant, io::Result<Bytes>)>,
    sleep: Option<Pin<Box<Sleep>>>,
    shared: Arc<Shared>,
}

impl LinkSpec {
    /// The connect's SYN and SYN-ACK: one round trip of the link.
    pub async fn handshake(&self) {
        let rtt = Schedule::new(*self).arrival(0).at + self.delay / 2;
        tokio::time::sleep_until(rtt).await;
    }

    /// `stream` behind this link; must be called inside a tokio runtime.
    pub fn wrap<S>(&self, stream: S) -> Linked
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let shared = Arc::new(Shared::default());
        let (read, write) = tokio::io::split(stream);
        let (to_wire, outgoing) = mpsc::unbounded_channel();
        let (incoming, from_wire) = mpsc::channel(READ_CHUNKS);
        tokio::spawn(send(write, outgoing, shared.clone()));
        tokio::spawn(receive(
            read,
            Schedule::new(*self),
            incoming,
            shared.clone(),
        ));
        Linked {
            up: Schedule::new(*self),
            to_wire,
            from_wire,
            pending: None,
            sleep: None,
            shared,
        }
    }
}

impl Linked {
    pub fn stats(&self) -> &LinkStats {
        &self.shared.stats
    }
}

/// Puts each written chunk on the socket at its arrival time, in order.
async fn send<W: AsyncWrite>(
    write: W,
    mut outgoing: mpsc::UnboundedReceiver<Out>,
    shared: Arc<Shared>,
) {
    let mut write = std::pin::pin!(write);
    while let Some(out) = outgoing.recv().await {
        let Out::Data(at, bytes) = out else { break };
        tokio::time::sleep_until(at).await;
        if let Err(error) = write.write_all(&bytes).await {
            *lock(&shared.failed) = Some(error.kind());
            break;
        }
        shared.queued.fetch_sub(bytes.len(), Relaxed);
        if let Some(waker) = lock(&shared.writer).take() {
            waker.wake();
        }
    }
    let _ = write.shutdown().await;
    // A write waiting for room learns the link is gone.
    if let Some(waker) = lock(&shared.writer).take() {
        waker.wake();
    }
}

/// Reads the socket and stamps each chunk with its arrival time; ends when
/// the lane side is dropped.
async fn receive<R: AsyncRead>(
    read: R,
    mut down: Schedule,
    incoming: mpsc::Sender<Incoming>,
    shared: Arc<Shared>,
) {
    let mut read = std::pin::pin!(read);
    loop {
        let mut buf = vec![0u8; READ_BYTES];
        let result = tokio::select! {
            result = read.read(&mut buf) => result,
            () = incoming.closed() => return,
        };
        let item = match result {
            Ok(n) => {
                buf.truncate(n);
                let arrival = down.arrival(n);
                if n > 0 {
                    shared.stats.reads.fetch_add(1, Relaxed);
                    if arrival.stalled {
                        shared.stats.reads_stalled.fetch_add(1, Relaxed);
                    }
                }
                (arrival.at, Ok(Bytes::from(buf)))
            }
            Err(error) => (down.arrival(0).at, Err(error)),
        };
        let end = matches!(&item.1, Ok(b) if b.is_empty()) || item.1.is_err();
        if incoming.send(item).await.is_err() || end {
            return;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AsyncRead for Linked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pending.is_none() {
                match this.from_wire.poll_recv(cx) {
                    Poll::Ready(Some(item)) => this.pending = Some(item),
                    // The socket's reader ended after an end or an error it handed over.
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                }
            }
            let Some((at, _)) = &this.pending else {
                continue;
            };
            if *at > Instant::now() {
                let at = *at;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                sleep.as_mut().reset(at);
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            return match this.pending.take() {
                Some((_, Err(error))) => Poll::Ready(Err(error)),
                Some((at, Ok(mut bytes))) => {
                    let n = bytes.len().min(buf.remaining());
                    buf.put_slice(&bytes.split_to(n));
                    if !bytes.is_empty() {
                        this.pending = Some((at, Ok(bytes)));
                    }
                    Poll::Ready(Ok(()))
                }
                None => continue,
            };
        }
    }
}

impl AsyncWrite for Linked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(kind) = *lock(&this.shared.failed) {
            return Poll::Ready(Err(kind.into()));
        }
        if this.shared.queued.load(Relaxed) >= QUEUE_BYTES {
            *lock(&this.shared.writer) = Some(cx.waker().clone());
            // Checked again: the sender may have made room before the waker was set.
            if this.shared.queued.load(Relaxed) >= QUEUE_BYTES {
                return Poll::Pending;
            }
        }
        let arrival = this.up.arrival(data.len());
        let stats = &this.shared.stats;
        stats.writes.fetch_add(1, Relaxed);
        if arrival.stalled {
            stats.writes_stalled.fetch_add(1, Relaxed);
        }
        this.shared.queued.fetch_add(data.len(), Relaxed);
        let chunk = Out::Data(arrival.at, Bytes::copy_from_slice(data));
        if this.to_wire.send(chunk).is_err() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Poll::Ready(Ok(data.len()))
    }

    /// Written chunks are on their way: the link, like a socket, needs no flush.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// The FIN follows the data already written.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = self.to_wire.send(Out::Shutdown);
        Poll::Ready(Ok(()))
    }
}
