//! What every streaming lane (WebSocket, SSE) does around its connection:
//! report it, remember the newest revision, and after a loss reconnect with
//! backoff to the next node, resuming after that revision so nothing is lost.
//!
//! Every node of a cluster replays the shared history after a revision, so a
//! failover loses nothing either. Each transport only implements [`Session`].

use std::future::Future;
use std::sync::Arc;

use pollpush_shared::{FeedMessage, Revision, ServerMessage};

use super::counting::Traffic;
use super::{Backoff, Endpoints, NetError, Nodes, Sink};
use crate::app::nodes::{failover_node, next_node};
use crate::event::{LaneEvent, LaneUpdate};
use crate::lane::LaneKind;

/// Why a session ended.
pub enum End {
    /// The consumer is gone: stop for good.
    Consumer,
    /// The connection failed or closed: reconnect.
    Lost(String),
}

/// One connection of a streaming lane, from handshake to loss.
pub trait Session: Send {
    /// Connects to `out.endpoints()`, calls [`Emitter::connected`] once the
    /// stream is open, resumes after `out.since()`, and hands every message to
    /// [`Emitter::message`] until the connection ends.
    fn run<S: Sink<LaneEvent>>(&mut self, out: &mut Emitter<S>)
    -> impl Future<Output = End> + Send;
}

/// What a session reports through, and what survives between sessions.
pub struct Emitter<S> {
    lane: LaneKind,
    nodes: Nodes,
    /// Index of the node this lane talks to.
    current: usize,
    pub traffic: Arc<Traffic>,
    sink: S,
    /// The newest revision forwarded: where a resumed stream starts.
    last_revision: Option<Revision>,
    backoff: Backoff,
    /// The session reached [`Emitter::connected`] since the last loss.
    was_connected: bool,
}

impl<S: Sink<LaneEvent>> Emitter<S> {
    pub fn endpoints(&self) -> &Endpoints {
        self.nodes.get(self.current)
    }

    /// The revision to resume after, if any.
    pub fn since(&self) -> Option<Revision> {
        self.last_revision
    }

    fn node(&self) -> String {
        self.endpoints().label().to_owned()
    }

    /// Sends an update; false when the consumer is gone.
    pub async fn emit(&mut self, update: LaneUpdate) -> bool {
        let event = LaneEvent {
            lane: self.lane,
            at: pollpush_shared::time::now(),
            traffic: self.traffic.totals(),
            update,
            took: None,
        };
        self.sink.deliver(event).await
    }

    /// The stream is open: the backoff starts over.
    pub async fn connected(&mut self) -> bool {
        self.backoff.reset();
        self.was_connected = true;
        let connected = LaneUpdate::Connected {
            resume_from: self.last_revision,
            node: self.node(),
        };
        self.emit(connected).await
    }

    /// Forwards a message, remembering its revision.
    pub async fn message(&mut self, message: ServerMessage) -> bool {
        self.last_revision = match &message {
            // A snapshot is the whole state: resume from it even when it is older
            // (a node with a store of its own, or a restarted one), or every later
            // resume would ask for a future revision and get a snapshot again.
            ServerMessage::Snapshot { revision, .. } => Some(*revision),
            ServerMessage::Change(change) => Some(
                self.last_revision
                    .map_or(change.revision, |r| r.max(change.revision)),
            ),
            _ => self.last_revision,
        };
        self.emit(LaneUpdate::Message(message)).await
    }

    /// Forwards one message's JSON text: of a feed (`--feed`), its snapshot
    /// or change, or else the server's own message. `Ok(false)` when the
    /// consumer is gone; an error when the text is no message.
    pub async fn forward(&mut self, text: &str) -> Result<bool, NetError> {
        if self.endpoints().feed.is_some()
            && let Ok(message) = serde_json::from_str::<FeedMessage>(text)
        {
            let revision = match &message {
                FeedMessage::Snapshot { revision, .. } => *revision,
                FeedMessage::Change(change) => self
                    .last_revision
                    .map_or(change.revision, |r| r.max(change.revision)),
            };
            self.last_revision = Some(revision);
            return Ok(self.emit(LaneUpdate::Feed(message)).await);
        }
        let message = serde_json::from_str::<ServerMessage>(text)?;
        Ok(self.message(message).await)
    }
}

/// Runs `session` on node `start` of `nodes`, and again on the next node after
/// every loss, until the sink refuses an event. `traffic` counts this lane's
/// bytes; clients may share one.
pub async fn run<S: Sink<LaneEvent>>(
    lane: LaneKind,
    nodes: Nodes,
    start: usize,
    traffic: Arc<Traffic>,
    sink: S,
    mut session: impl Session,
) {
    let mut out = Emitter {
        lane,
        current: start % nodes.len(),
        nodes,
        traffic,
        sink,
        last_revision: None,
        backoff: Backoff::default(),
        was_connected: false,
    };
    loop {
        let error = match session.run(&mut out).await {
            End::Consumer => return,
            // Of a cluster, say which node failed: the next attempt goes elsewhere.
            End::Lost(error) if out.nodes.len() > 1 => format!("{}: {error}", out.node()),
            End::Lost(error) => error,
        };
        let retry_in = out.backoff.next_delay();
        out.current = if std::mem::take(&mut out.was_connected) {
            failover_node(out.current, out.nodes.len(), rand::random())
        } else {
            next_node(out.current, out.nodes.len())
        };
        let failed = LaneUpdate::Failed {
            error,
            retry_in,
            next_node: Some(out.node()),
        };
        if !out.emit(failed).await {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}
