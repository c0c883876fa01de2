//! A pane that watches an upstream feed (`--feed NAME`) rather than the
//! species: its items in the upstream's order, moved by revisions as the
//! species are, so seen, missed and staleness follow the same rules.
//!
//! A feed's changes carry no time of their own: the gateway learnt of them
//! when it polled. With `--time-field`, a revision's time is the one its item
//! gives (a list's or snapshot's: its newest item's), so staleness counts the
//! gateway's poll too. Without it, or for an item without that field, it is
//! when the first pane learnt of it (the freshest lane sets the reference;
//! the others' staleness is how far behind it they are).

use chrono::{DateTime, Utc};
use pollpush_shared::{FeedChange, FeedMessage, FeedOp, Revision, ServerStats};
use serde_json::Value;

use super::App;
use super::pane::PaneState;
use super::staleness::ChangeTimes;
use crate::net::watch::payload::newest_item_time;

/// One item of a feed: its id (`null` for a whole document) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    pub id: Value,
    pub item: Value,
    /// When this pane saw it change (local time); `None` since the first list.
    pub changed_at: Option<DateTime<Utc>>,
}

/// The items a pane shows, in the upstream's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedItems(pub Vec<FeedItem>);

impl FeedItems {
    /// The items of a list or snapshot at `at`: those that differ from the
    /// ones shown (all, unless `first`) changed then.
    fn updated_to(&self, items: Vec<Value>, at: DateTime<Utc>, first: bool) -> Self {
        let items = items.into_iter().map(|item| {
            let id = id_of(&item);
            let before = self.0.iter().find(|i| i.id == id);
            let changed_at = match before {
                Some(old) if old.item == item => old.changed_at,
                _ if first => None,
                _ => Some(at),
            };
            FeedItem {
                id,
                item,
                changed_at,
            }
        });
        Self(items.collect())
    }

    fn apply(&mut self, change: FeedChange, at: DateTime<Utc>) {
        let position = self.0.iter().position(|i| i.id == change.id);
        let changed_at = Some(at);
        match (change.op, change.item, position) {
            (FeedOp::Deleted, _, Some(index)) => {
                self.0.remove(index);
            }
            (FeedOp::Replaced, Some(item), _) => {
                self.0 = vec![FeedItem {
                    id: Value::Null,
                    item,
                    changed_at,
                }];
            }
            (_, Some(item), Some(index)) => {
                self.0[index] = FeedItem {
                    id: change.id,
                    item,
                    changed_at,
                };
            }
            (_, Some(item), None) => self.0.push(FeedItem {
                id: change.id,
                item,
                changed_at,
            }),
            (_, None, _) => {}
        }
    }

    /// The items to show in `rows` lines: all in the upstream's order when
    /// they fit, else the most recently changed first, so a change shows.
    pub fn shown(&self, rows: usize) -> Vec<Value> {
        if self.0.len() <= rows {
            return self.values();
        }
        let mut recent: Vec<&FeedItem> = self.0.iter().collect();
        recent.sort_by_key(|i| std::cmp::Reverse(i.changed_at));
        recent.into_iter().map(|i| i.item.clone()).collect()
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
        at: DateTime<Utc>,
        server_now: DateTime<Utc>,
        revision: Revision,
        items: Vec<Value>,
        times: &ChangeTimes,
    ) {
        if self.revision.is_some_and(|shown| revision < shown) {
            // The gateway restarted without a broker: its revisions start over.
            self.revision = None;
        }
        let first = self.revision.is_none();
        if self.advance(revision, server_now, times) {
            let shown = self.feed.take().unwrap_or_default();
            self.feed = Some(shown.updated_to(items, at, first));
        }
    }

    /// One pushed change of a feed.
    pub fn apply_feed_change(
        &mut self,
        at: DateTime<Utc>,
        server_now: DateTime<Utc>,
        change: FeedChange,
        times: &ChangeTimes,
    ) {
        if self.advance(change.revision, server_now, times) {
            self.feed.get_or_insert_default().apply(change, at);
        }
    }
}

impl App {
    /// Watches the upstream feed `name` (`--feed`) rather than the species.
    pub fn with_feed(mut self, name: Option<String>) -> Self {
        self.feed = name;
        self
    }

    /// Dates a feed's revisions by their items' `pointer` (`--time-field`).
    pub fn with_feed_time(mut self, pointer: Option<String>) -> Self {
        self.feed_time = pointer;
        self
    }

    /// When the newest of `items` says it changed, by `--time-field`.
    fn items_time<'a>(&self, items: impl IntoIterator<Item = &'a Value>) -> Option<DateTime<Utc>> {
        newest_item_time(self.feed_time.as_deref(), items)
    }

    /// The revision `/stats` gives of what the panes watch: the species',
    /// or the feed's (none when the server has no such feed).
    pub(super) fn watched_revision(&self, stats: &ServerStats) -> Option<Revision> {
        match &self.feed {
            Some(name) => stats
                .feeds
                .iter()
                .find(|f| f.name == *name)
                .map(|f| f.revision),
            None => Some(stats.revision),
        }
    }

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
        self.learnt(revision, self.items_time(&items).unwrap_or(server_now));
        let pane = &mut self.lanes[index];
        pane.apply_feed_list(at, server_now, revision, items, &self.changes);
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
                self.learnt(revision, self.items_time(&items).unwrap_or(server_now));
                let pane = &mut self.lanes[index];
                pane.apply_feed_list(at, server_now, revision, items, &self.changes);
            }
            FeedMessage::Change(change) => {
                let changed = self.items_time(change.item.as_ref());
                self.learnt(change.revision, changed.unwrap_or(server_now));
                let pane = &mut self.lanes[index];
                pane.apply_feed_change(at, server_now, change, &self.changes);
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
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let list = vec![
            json!({"id":1,"n":"a"}),
            json!({"id":2,"n":"b"}),
            json!({"id":4}),
        ];
        let mut items = FeedItems::default().updated_to(list, at, true);
        let later = at + chrono::TimeDelta::seconds(1);
        items.apply(
            change(3, FeedOp::Updated, 2, Some(json!({"id":2,"n":"B"}))),
            later,
        );
        items.apply(
            change(4, FeedOp::Created, 3, Some(json!({"id":3,"n":"c"}))),
            at,
        );
        items.apply(change(5, FeedOp::Deleted, 1, None), at);
        let expected = [
            json!({"id":2,"n":"B"}),
            json!({"id":4}),
            json!({"id":3,"n":"c"}),
        ];
        assert_eq!(items.values(), expected);
        assert_eq!(items.shown(3), expected, "all fit: the upstream's order");
        let shown = items.shown(2);
        assert_eq!(
            shown[..2],
            [expected[0].clone(), expected[2].clone()],
            "latest changes first"
        );
    }
}
