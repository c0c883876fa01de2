//! A pane that watches an upstream feed (`--feed NAME`) rather than the
//! species: its items in the upstream's order, moved by revisions as the
//! species are, so seen, missed and staleness follow the same rules.
//!
//! A feed's changes carry no time: the gateway learnt of them when it polled.
//! So a revision's time is when the first pane learnt of it (the freshest
//! lane sets the reference; the others' staleness is how far behind it they are).

use chrono::{DateTime, Utc};
use pollpush_shared::{FeedChange, FeedMessage, FeedOp, Revision};
use serde_json::Value;

use super::App;
use super::pane::PaneState;
use super::staleness::ChangeTimes;

/// One item of a feed: its id (`null` for a whole document) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    pub id: Value,
    pub item: Value,
}

/// The items a pane shows, in the upstream's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedItems(pub Vec<FeedItem>);

impl FeedItems {
    /// The items of a list or snapshot: each keyed by `id_of` when it has one.
    fn from_list(items: Vec<Value>) -> Self {
        Self(
            items
                .into_iter()
                .map(|item| FeedItem {
                    id: id_of(&item),
                    item,
                })
                .collect(),
        )
    }

    fn apply(&mut self, change: FeedChange) {
        let position = self.0.iter().position(|i| i.id == change.id);
        match (change.op, change.item, position) {
            (FeedOp::Deleted, _, Some(at)) => {
                self.0.remove(at);
            }
            (FeedOp::Replaced, Some(item), _) => {
                self.0 = vec![FeedItem {
                    id: Value::Null,
                    item,
                }];
            }
            (_, Some(item), Some(at)) => self.0[at].item = item,
            (_, Some(item), None) => self.0.push(FeedItem {
                id: change.id,
                item,
            }),
            (_, None, _) => {}
        }
    }

    /// The items as the JSON array `GET /feeds/NAME` answers.
    pub fn values(&self) -> Vec<Value> {
        self.0.iter().map(|i| i.item.clone()).collect()
    }
}

/// The id a change of `item` would carry: its `id` field, as the gateway's
/// default `--feed-id-field /id`. Only used to match later changes to the
/// items of a list, so a feed with another id field still shows right after
/// its next snapshot.
fn id_of(item: &Value) -> Value {
    item.get("id").cloned().unwrap_or(Value::Null)
}

impl PaneState {
    /// A feed's whole list at `revision` (a `200`, or a stream's snapshot).
    pub fn apply_feed_list(
        &mut self,
        server_now: DateTime<Utc>,
        revision: Revision,
        items: Vec<Value>,
        times: &ChangeTimes,
    ) {
        if self.revision.is_some_and(|shown| revision < shown) {
            // The gateway restarted without a broker: its revisions start over.
            self.revision = None;
        }
        if self.advance(revision, server_now, times) {
            self.feed = Some(FeedItems::from_list(items));
        }
    }

    /// One pushed change of a feed.
    pub fn apply_feed_change(
        &mut self,
        server_now: DateTime<Utc>,
        change: FeedChange,
        times: &ChangeTimes,
    ) {
        if self.advance(change.revision, server_now, times) {
            self.feed.get_or_insert_default().apply(change);
        }
    }
}

impl App {
    /// A feed's `200` on lane `index`.
    pub(super) fn on_feed_list(
        &mut self,
        index: usize,
        at: DateTime<Utc>,
        revision: Revision,
        items: Vec<Value>,
        server_date: Option<DateTime<Utc>>,
    ) {
        self.answered(index, at, server_date, Some(revision));
        let server_now = self.clock.server_now(at);
        self.learnt(revision, server_now);
        self.lanes[index].apply_feed_list(server_now, revision, items, &self.changes);
    }

    /// A feed's snapshot or change on stream lane `index`.
    pub(super) fn on_feed_message(
        &mut self,
        index: usize,
        at: DateTime<Utc>,
        message: FeedMessage,
    ) {
        let pane = &mut self.lanes[index];
        pane.counters.messages += 1;
        pane.last_heard = Some(at);
        let server_now = self.clock.server_now(at);
        match message {
            FeedMessage::Snapshot {
                revision, items, ..
            } => {
                self.learnt(revision, server_now);
                self.lanes[index].apply_feed_list(server_now, revision, items, &self.changes);
            }
            FeedMessage::Change(change) => {
                self.learnt(change.revision, server_now);
                self.lanes[index].apply_feed_change(server_now, change, &self.changes);
            }
        }
    }

    /// The client learnt of `revision` at `server_now`: its time, unless a
    /// pane learnt of it earlier.
    fn learnt(&mut self, revision: Revision, server_now: DateTime<Utc>) {
        self.see_revision(revision);
        if revision > 0 {
            self.changes.insert(revision, server_now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(revision: Revision, op: FeedOp, id: i64, item: Option<Value>) -> FeedChange {
        FeedChange {
            room: "talk".into(),
            revision,
            op,
            id: json!(id),
            item,
        }
    }

    #[test]
    fn changes_update_add_and_remove_items_by_id_in_order() {
        let mut items =
            FeedItems::from_list(vec![json!({"id":1,"n":"a"}), json!({"id":2,"n":"b"})]);
        items.apply(change(3, FeedOp::Updated, 2, Some(json!({"id":2,"n":"B"}))));
        items.apply(change(4, FeedOp::Created, 3, Some(json!({"id":3,"n":"c"}))));
        items.apply(change(5, FeedOp::Deleted, 1, None));
        assert_eq!(
            items.values(),
            [json!({"id":2,"n":"B"}), json!({"id":3,"n":"c"})]
        );
    }
}
