//! What the accept loop does when `accept()` fails, above all for want of a
//! file descriptor (`EMFILE`, `ENFILE`): the node keeps serving the
//! connections it has, closes new ones at once instead of leaving them in
//! the kernel's queue, says so once a second, and is not ready meanwhile
//! (see `stats/saturation.rs`).
//!
//! A connection can only be closed once accepted, which takes a descriptor:
//! the loop keeps one spare (`/dev/null`) and gives it up for that.

use std::fs::File;
use std::task::Poll;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::state::State;

/// Linux's "too many open files" for the process (`EMFILE`) and the system (`ENFILE`).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;
/// Connections closed at accept per failure, at most: the rest wait for the next round.
const SHED_PER_ROUND: usize = 64;

/// A descriptor kept in reserve, to accept (and close) connections with.
pub struct Spare(Option<File>);

impl Spare {
    pub fn open() -> Self {
        Self(File::open("/dev/null").ok())
    }
}

/// Counts and logs a failed `accept()`; out of descriptors, closes what waits.
pub fn accept_failed(state: &State, listener: &TcpListener, spare: &mut Spare, e: &std::io::Error) {
    if !matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) {
        tracing::warn!("accept failed: {e}");
        return;
    }
    let saturation = &state.stats.saturation;
    if saturation.failed(Duration::from_secs_f64(state.stats.uptime_s())) {
        tracing::warn!(
            "out of file descriptors ({e}): open connections are served, new ones closed"
        );
    }
    for _ in 0..SHED_PER_ROUND {
        spare.0 = None;
        // Only what already waits: a noop waker, as the loop's own accept waits for more.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match listener.poll_accept(&mut cx) {
            Poll::Ready(Ok((tcp, _))) => {
                drop(tcp);
                saturation.shed_one();
                *spare = Spare::open();
            }
            _ => break,
        }
    }
    if spare.0.is_none() {
        *spare = Spare::open();
    }
}
