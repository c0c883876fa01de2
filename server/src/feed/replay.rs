//! Replays: the changes a resubscribing client missed, read a chunk at a time.
//!
//! A client that comes back with `since` gets every change after it before
//! going live. Those changes are read [`CHUNK`] at a time, as the client's
//! socket takes them: from the source's ring of frames already encoded for
//! the live feed when it still has them (shared, nothing copied), else from
//! the store. So a replay holds at most one chunk, however far behind the
//! client is, and a thousand clients replaying at once hold a thousand
//! chunks, not a thousand histories. The gauges count what replays hold
//! right now, for `/stats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use pollpush_shared::Revision;

use super::Origin;
use crate::frames::ChangeFrame;

/// Changes read per step of a replay: small enough that many concurrent
/// replays hold little, large enough that a store read is worth its round trip.
pub const CHUNK: usize = 64;

/// What replays in flight hold right now.
#[derive(Debug, Default)]
pub struct ReplayGauges {
    active: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    started: AtomicU64,
}

/// A reading of [`ReplayGauges`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayLevels {
    /// Replays not finished (or not dropped) yet.
    pub active: u64,
    /// Change frames held by their chunks.
    pub frames: u64,
    /// The WebSocket bytes of those frames.
    pub bytes: u64,
    /// Replays started since the server started.
    pub started: u64,
}

impl ReplayGauges {
    pub fn levels(&self) -> ReplayLevels {
        ReplayLevels {
            active: self.active.load(Relaxed),
            frames: self.frames.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            started: self.started.load(Relaxed),
        }
    }
}

/// The history is gone (pruned while a slow client replayed, or the store is
/// unreachable): the client must be resynchronized with a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the history after revision {0} is no longer available")]
pub struct HistoryGone(pub Revision);

/// Changes in order, counted in the gauges while they are held.
#[derive(Debug)]
pub struct Chunk {
    frames: Vec<Arc<ChangeFrame>>,
    bytes: u64,
    gauges: Arc<ReplayGauges>,
}

impl Chunk {
    fn new(frames: Vec<Arc<ChangeFrame>>, gauges: &Arc<ReplayGauges>) -> Self {
        let bytes = frames.iter().map(|f| f.frame.len() as u64).sum();
        gauges.frames.fetch_add(frames.len() as u64, Relaxed);
        gauges.bytes.fetch_add(bytes, Relaxed);
        Self {
            frames,
            bytes,
            gauges: gauges.clone(),
        }
    }

    pub fn frames(&self) -> &[Arc<ChangeFrame>] {
        &self.frames
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.gauges
            .frames
            .fetch_sub(self.frames.len() as u64, Relaxed);
        self.gauges.bytes.fetch_sub(self.bytes, Relaxed);
    }
}

/// The changes after a client's `since` up to the revision its subscription
/// went live from (`until`); later ones reach it through the live feed.
#[derive(Debug)]
pub struct Replay {
    /// The last revision handed out.
    after: Revision,
    until: Revision,
    /// The chunk read to learn whether the history reaches `since`.
    first: Option<Chunk>,
    gauges: Arc<ReplayGauges>,
}

impl Replay {
    /// Starts a replay of the changes after `since`, reading the first chunk;
    /// `None` when the history no longer reaches back to `since`.
    pub(super) async fn start(
        source: &impl Origin,
        since: Revision,
        gauges: &Arc<ReplayGauges>,
    ) -> Option<Self> {
        let first = source.history(since, CHUNK).await?;
        // Read after the history, so it covers every change in it; the
        // subscription was registered before, so every later change reaches
        // it live.
        let until = source
            .snapshot()
            .revision
            .max(first.last().map_or(since, |f| f.revision()));
        gauges.active.fetch_add(1, Relaxed);
        gauges.started.fetch_add(1, Relaxed);
        Some(Self {
            after: since,
            until,
            first: Some(Chunk::new(first, gauges)),
            gauges: gauges.clone(),
        })
    }

    /// The revision the client is at once the replay is written.
    pub fn until(&self) -> Revision {
        self.until
    }

    /// The next changes in order, `Ok(None)` once every change up to
    /// [`Replay::until`] was handed out.
    pub async fn next(&mut self, source: &impl Origin) -> Result<Option<Chunk>, HistoryGone> {
        let chunk = match self.first.take() {
            Some(first) => first,
            None if self.after >= self.until => return Ok(None),
            None => {
                let mut frames = source
                    .history(self.after, CHUNK)
                    .await
                    .ok_or(HistoryGone(self.after))?;
                frames.retain(|f| f.revision() <= self.until);
                Chunk::new(frames, &self.gauges)
            }
        };
        match chunk.frames.last() {
            Some(last) => {
                self.after = last.revision();
                Ok(Some(chunk))
            }
            None if self.after >= self.until => Ok(None),
            // The history answered nothing where changes must be.
            None => Err(HistoryGone(self.after)),
        }
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.gauges.active.fetch_sub(1, Relaxed);
    }
}
