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

use crate::feed::{Registered, Replay, Start};
use crate::frames::Encoding;
use crate::state::State;
use crate::wire::{Hold, Wire, within};

/// One live direct subscription; dropping it (or [`Subscribed::pump`]
/// ending) leaves the feed.
pub struct Subscribed {
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
        wire,
        encoding,
        hold,
        registered,
    };
    let mut frames = preamble(last);
    let written = match start {
        Start::Snapshot(snapshot) => {
            frames.push(encoding.snapshot(&snapshot));
            sub.write_all(state, &frames).await && {
                sub.wire.go_live(hold, last);
                true
            }
        }
        Start::Replay(mut replay) => {
            sub.write_all(state, &frames).await && sub.write_replay(state, &mut replay).await
        }
    };
    if !written {
        sub.wire.stop_feed_of(hold);
        return None;
    }
    Some(sub)
}

impl Subscribed {
    /// Drains what the fan-out could not write at once and resynchronizes
    /// the subscriber when it lags, until `stop` resolves, the server shuts
    /// down or the socket fails. Every `keep_alive` period (if any) its
    /// comment goes out, so proxies keep a quiet connection.
    /// A subscription replaced by a new subscribe on the same wire (`hold`
    /// no longer owns the gate) leaves the gate to its successor.
    pub async fn pump(
        mut self,
        state: &State,
        stop: impl Future<Output = ()>,
        keep_alive: Option<(Duration, Bytes)>,
    ) -> Ended {
        let mut stop = std::pin::pin!(stop);
        let mut shutdown = state.shutdown.clone();
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
                    let hold = self.wire.rehold(self.hold, state.feed.capacity());
                    let (Ok(()), Some(again)) = (lagged, hold) else {
                        break Ended::Failed;
                    };
                    self.hold = again;
                    if !self.resync(state).await {
                        break Ended::Failed;
                    }
                }
                comment = next_tick(&mut keep_alive) => {
                    let timeout = state.config.ws.write_timeout;
                    if !matches!(within(timeout, self.wire.write_frame(&comment)).await, Some(Ok(()))) {
                        break Ended::Failed;
                    }
                }
            }
        };
        self.wire.stop_feed_of(self.hold);
        drop(self.registered);
        ended
    }

    /// Writes `frames` in order, each counted as a message; `false` when the
    /// socket failed or did not take them within the write timeout.
    async fn write_all(&self, state: &State, frames: &[Bytes]) -> bool {
        let timeout = state.config.ws.write_timeout;
        for frame in frames {
            if !matches!(
                within(timeout, self.wire.write_frame(frame)).await,
                Some(Ok(()))
            ) {
                return false;
            }
            self.encoding
                .messages_out(&state.stats)
                .fetch_add(1, Relaxed);
        }
        true
    }

    /// Writes a replay a chunk at a time, as the socket takes it, then goes
    /// live (as the `/ws` session's replay: a lagged subscriber stops it
    /// early and the pump resyncs it; a history gone is resynced here).
    /// `false` when the socket failed.
    async fn write_replay(&mut self, state: &State, replay: &mut Replay) -> bool {
        loop {
            match replay.next(&state.source).await {
                Ok(Some(chunk)) => {
                    for frame in chunk.frames() {
                        if self.wire.is_lagged() {
                            return true;
                        }
                        let bytes = self.encoding.change(frame).clone();
                        if !self.write_all(state, &[bytes]).await {
                            return false;
                        }
                    }
                }
                Ok(None) => {
                    self.wire.go_live(self.hold, replay.until());
                    return true;
                }
                Err(gone) => {
                    tracing::debug!("replay cut short, resyncing: {gone}");
                    self.encoding.resyncs(&state.stats).fetch_add(1, Relaxed);
                    return self.resync(state).await;
                }
            }
        }
    }

    /// A resync notice and a fresh snapshot put a lagged subscriber back on
    /// the feed (its gate held again); `false` when the socket failed.
    async fn resync(&self, state: &State) -> bool {
        let snapshot = state.source.snapshot();
        let frames = [
            self.encoding.resync(snapshot.revision),
            self.encoding.snapshot(&snapshot),
        ];
        if !self.write_all(state, &frames).await {
            return false;
        }
        self.wire.go_live(self.hold, snapshot.revision);
        true
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
