//! Writing a subscription's start, once for every subscriber the fan-out
//! writes to directly (`/ws` sessions; in `direct.rs`, socket.io's fast path
//! and HTTP/1.1 SSE streams): the snapshot, or the replay a chunk at a time
//! as the socket takes it, then live. A
//! replay stops early when the client fell a feed capacity behind meanwhile
//! (its lag handling resyncs it) and restarts at a snapshot when its history
//! is gone: either way nothing more is read for a client that cannot use it.

use std::future::Future;

use pollpush_shared::Revision;

use super::{Origin, Start};
use crate::frames::ChangeFrame;
use crate::snapshot::Snapshot;

/// A subscriber's side of its start: each part, in its own wire format.
pub trait StartWriter {
    /// Why a write failed (the socket did, or did not take it in time).
    type Error;

    /// Fell a feed capacity behind while the start was being written.
    fn is_lagged(&self) -> bool;

    /// Writes the whole list at its revision.
    fn snapshot(&mut self, snapshot: &Snapshot) -> impl Future<Output = Result<(), Self::Error>>;

    /// Writes one replayed change.
    fn change(&mut self, frame: &ChangeFrame) -> impl Future<Output = Result<(), Self::Error>>;

    /// The history a replay needed is gone: `resync`, a fresh snapshot, and
    /// live from there.
    fn restart(&mut self) -> impl Future<Output = Result<(), Self::Error>>;

    /// The start up to `last` is written: changes held behind it may follow.
    fn go_live(&mut self, last: Revision);
}

impl Start {
    /// Writes this start to `to`, then lets the live changes follow.
    pub async fn write<W: StartWriter>(
        self,
        source: &(impl Origin + Sync),
        to: &mut W,
    ) -> Result<(), W::Error> {
        let mut replay = match self {
            Self::Snapshot(snapshot) => {
                to.snapshot(&snapshot).await?;
                to.go_live(snapshot.revision);
                return Ok(());
            }
            Self::Replay(replay) => replay,
        };
        loop {
            match replay.next(source).await {
                Ok(Some(chunk)) => {
                    for frame in chunk.frames() {
                        if to.is_lagged() {
                            return Ok(());
                        }
                        to.change(frame).await?;
                    }
                }
                Ok(None) => {
                    to.go_live(replay.until());
                    return Ok(());
                }
                Err(gone) => {
                    tracing::debug!("replay cut short, resyncing: {gone}");
                    return to.restart().await;
                }
            }
        }
    }
}
