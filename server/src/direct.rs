//! A subscriber the feed's fan-out writes to directly, whatever it speaks
//! (socket.io events on a WebSocket, SSE events in a chunked response): the
//! one sequence from subscribe to live, and the pump that keeps it there.
//!
//! Subscribing holds the wire's gate, registers with the feed, writes the
//! preamble (socket.io's acknowledgement, SSE's response headers) and the
//! start (snapshot or replay) in the connection's [`Encoding`], then opens
//! the gate: changes held meanwhile follow, later ones go straight to the
//! socket. The pump then only finishes what the socket did not take at once
//! and resynchronizes a subscriber that fell a feed capacity behind: a
//! resync notice and a fresh snapshot, then live again.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use pollpush_shared::Revision;

use crate::encoding::Encoding;
use crate::feed::{Registered, StartWriter};
use crate::frames::ChangeFrame;
use crate::snapshot::Snapshot;
use crate::state::State;
use crate::wire::{Hold, Wire, within};

/// One live direct subscription; dropping it (or [`Subscribed::pump`]
/// ending) leaves the feed.
pub struct Subscribed {
    state: State,
    wire: Wire,
    encoding: Encoding,
    hold: Hold,
    registered: Registered,
}

/// Why a pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The owner's `stop` resolved (unsubscribed, or the client went away).
    Stopped,
    /// The server is shutting down.
    Shutdown,
    /// The socket failed, or did not take a write within the write timeout.
    Failed,
}

/// Subscribes `wire` from `since`: writes `preamble` (made once the start's
/// last revision is known) and the start in `encoding`, then goes live.
/// `None` when the socket failed first.
pub async fn subscribe(
    state: &State,
    wire: Wire,
    encoding: Encoding,
    since: Option<Revision>,
    preamble: impl FnOnce(Revision) -> Vec<Bytes>,
) -> Option<Subscribed> {
    wire.speak(encoding);
    let hold = wire.hold(state.feed.capacity());
    let (start, last, registered) = state
        .feed
        .subscribe_direct(&state.source, since, wire.feed_target())
        .await;
    let mut sub = Subscribed {
        state: state.clone(),
        wire,
        encoding,
        hold,
        registered,
    };
    let written = sub.write_all(&preamble(last)).await.is_ok()
        && start.write(&state.source, &mut sub).await.is_ok();
    if !written {
        sub.wire.stop_feed_of(hold);
        return None;
    }
    Some(sub)
}

/// The socket failed, or did not take a frame within the write timeout.
#[derive(Debug)]
pub struct WriteFailed;

impl Subscribed {
    /// Drains what the fan-out could not write at once and resynchronizes
    /// the subscriber when it lags, until `stop` resolves, the server shuts
    /// down or the socket fails. Every `keep_alive` period (if any) its
    /// comment goes out, so proxies keep a quiet connection.
    /// A subscription replaced by a new subscribe on the same wire (`hold`
    /// no longer owns the gate) leaves the gate to its successor.
    pub async fn pump(
        mut self,
        stop: impl Future<Output = ()>,
        keep_alive: Option<(Duration, Bytes)>,
    ) -> Ended {
        let mut stop = std::pin::pin!(stop);
        let mut shutdown = self.state.shutdown.clone();
        let mut shutdown = std::pin::pin!(async move { shutdown.wait().await });
        let mut keep_alive = keep_alive.map(|(period, comment)| {
            let first = tokio::time::Instant::now() + period;
            (tokio::time::interval_at(first, period), comment)
        });
        let ended = loop {
            tokio::select! {
                () = &mut stop => break Ended::Stopped,
                () = &mut shutdown => break Ended::Shutdown,
                lagged = self.wire.lagged() => {
                    let hold = self.wire.rehold(self.hold, self.state.feed.capacity());
                    let (Ok(()), Some(again)) = (lagged, hold) else {
                        break Ended::Failed;
                    };
                    self.hold = again;
                    if self.resync().await.is_err() {
                        break Ended::Failed;
                    }
                }
                comment = next_tick(&mut keep_alive) => {
                    if self.write(&comment).await.is_err() {
                        break Ended::Failed;
                    }
                }
            }
        };
        self.wire.stop_feed_of(self.hold);
        drop(self.registered);
        ended
    }

    /// Writes one frame, in order with the fan-out's, within the write timeout.
    async fn write(&self, frame: &[u8]) -> Result<(), WriteFailed> {
        let timeout = self.state.config.ws.write_timeout;
        match within(timeout, self.wire.write_frame(frame)).await {
            Some(Ok(())) => Ok(()),
            _ => Err(WriteFailed),
        }
    }

    /// Writes `frames` in order, each counted as a message.
    async fn write_all(&self, frames: &[Bytes]) -> Result<(), WriteFailed> {
        for frame in frames {
            self.write(frame).await?;
            let counter = self.encoding.messages_out(&self.state.stats);
            counter.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    /// A resync notice and a fresh snapshot put a lagged subscriber back on
    /// the feed (its gate held again).
    async fn resync(&self) -> Result<(), WriteFailed> {
        let snapshot = self.state.source.snapshot();
        let frames = [
            self.encoding.resync(snapshot.revision),
            self.encoding.snapshot(&snapshot),
        ];
        self.write_all(&frames).await?;
        self.wire.go_live(self.hold, snapshot.revision);
        Ok(())
    }
}

/// The start, in the subscriber's encoding, on its wire.
impl StartWriter for Subscribed {
    type Error = WriteFailed;

    fn is_lagged(&self) -> bool {
        // The pump resyncs it.
        self.wire.is_lagged()
    }

    async fn snapshot(&mut self, snapshot: &Snapshot) -> Result<(), WriteFailed> {
        self.write_all(&[self.encoding.snapshot(snapshot)]).await
    }

    async fn change(&mut self, frame: &ChangeFrame) -> Result<(), WriteFailed> {
        self.write_all(std::slice::from_ref(self.encoding.change(frame)))
            .await
    }

    async fn restart(&mut self) -> Result<(), WriteFailed> {
        let counter = self.encoding.resyncs(&self.state.stats);
        counter.fetch_add(1, Relaxed);
        self.resync().await
    }

    fn go_live(&mut self, last: Revision) {
        self.wire.go_live(self.hold, last);
    }
}

/// The keep-alive comment when its period is up; never without a keep-alive.
async fn next_tick(keep_alive: &mut Option<(tokio::time::Interval, Bytes)>) -> Bytes {
    match keep_alive {
        Some((tick, comment)) => {
            tick.tick().await;
            comment.clone()
        }
        None => std::future::pending().await,
    }
}
