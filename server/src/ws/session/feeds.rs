//! A session's subscriptions to upstream feeds (`--feed NAME`, subscribed
//! as room `NAME`). Each is a task that writes the feed's messages, already
//! encoded, into the session's outbox in order: the session writes them as
//! it writes room messages, so a feed needs nothing of the species fan-out.
//! A client that stops reading fills the outbox, its task waits, and the
//! feed's history runs past it: it gets `resync` and the snapshot.

use std::sync::Arc;

use futures_util::Sink;
use pollpush_shared::{Revision, ServerMessage};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{End, Session};
use crate::gateway::feed::Feed as UpstreamFeed;
use crate::gateway::subscription::{Lane, Subscription};

impl<S> Session<S>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    /// `subscribed` with the revision the start brings the client to, then
    /// the start and the live changes. Subscribing again starts over.
    pub(super) async fn subscribe_feed(
        &mut self,
        feed: Arc<UpstreamFeed>,
        room: String,
        since: Option<Revision>,
    ) -> Result<(), End> {
        self.stop_feed(&room);
        let Some(mut subscription) = Subscription::start(feed, Lane::Ws, since, (None, None)).await
        else {
            return Ok(());
        };
        let revision = subscription.last();
        self.send(&ServerMessage::Subscribed {
            room: room.clone(),
            revision,
        })
        .await?;
        let outbox = self.outbox();
        let task = tokio::spawn(async move {
            while let Some(due) = subscription.next().await {
                if outbox.send(due.text()).await.is_err() {
                    return;
                }
            }
        });
        self.feeds.insert(room, task.abort_handle());
        Ok(())
    }

    /// Ends the subscription to feed `room`, if the session has one.
    pub(super) fn stop_feed(&mut self, room: &str) -> bool {
        self.feeds.remove(room).map(|task| task.abort()).is_some()
    }
}
