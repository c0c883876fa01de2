//! The server's stop signal, passed down to every task that must end with it
//! (as mini-redis's `Shutdown`), instead of each holding a raw channel.
//!
//! A `watch` rather than a `broadcast`: a task that subscribes after the
//! signal fired still sees it, and waiting holds no borrow, so a task that
//! awaits [`Shutdown::wait`] inside `select!` stays `Send`.

use tokio::sync::watch;

/// Fires [`Shutdown`] for every clone; dropping it fires it too.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    /// Tells every [`Shutdown`] to stop.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

/// A task's view of the stop signal.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A new signal and the trigger that fires it.
    pub fn new() -> (Trigger, Self) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Self(rx))
    }

    /// Resolves once the server stops (at once if it already has, or if the
    /// trigger is gone).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether the server has been told to stop.
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_signal_even_one_made_after_it() {
        let (trigger, mut first) = Shutdown::new();
        let waiting = tokio::spawn(async move { first.wait().await });
        assert!(!waiting.is_finished());
        trigger.fire();
        waiting.await.expect("the waiter ends");
        let (trigger, shutdown) = Shutdown::new();
        trigger.fire();
        let mut late = shutdown.clone();
        assert!(late.is_shutdown());
        late.wait().await;
    }

    #[tokio::test]
    async fn a_dropped_trigger_stops_the_waiters() {
        let (trigger, mut shutdown) = Shutdown::new();
        drop(trigger);
        shutdown.wait().await;
    }
}
