//! From an upstream's JSON to items, and from two polls' items to changes.
//!
//! The upstream knows nothing of revisions: the gateway compares what it
//! answers now with what it answered last, and the differences are the
//! changes. The order is stable (the same two polls give the same changes on
//! every run): created and updated in the new answer's order, then deleted in
//! the old answer's, so a client applying them in order ends with the new list.

use std::collections::HashMap;

use pollpush_shared::FeedOp;
use serde_json::Value;

/// One item: its id (as JSON, and as the text it is keyed by) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    key: String,
    pub id: Value,
    pub value: Value,
}

/// Every item of one poll, in the upstream's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Items {
    /// The upstream sent a document, not a list of items with ids.
    document: bool,
    pub list: Vec<Item>,
}

/// One difference between two polls.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub op: FeedOp,
    pub id: Value,
    /// The item now; `None` for `deleted`.
    pub item: Option<Value>,
}

impl Items {
    /// An array whose elements all have a distinct `id_field` (a JSON
    /// pointer) is a list of items; anything else is one document.
    pub fn read(doc: Value, id_field: &str) -> Self {
        match doc {
            Value::Array(elements) => match keyed(&elements, id_field) {
                Some(keys) => Self {
                    document: false,
                    list: keys
                        .into_iter()
                        .zip(elements)
                        .map(|((key, id), value)| Item { key, id, value })
                        .collect(),
                },
                None => Self::document(Value::Array(elements)),
            },
            other => Self::document(other),
        }
    }

    fn document(value: Value) -> Self {
        Self {
            document: true,
            list: vec![Item {
                key: String::new(),
                id: Value::Null,
                value,
            }],
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The items as one JSON array, as `GET /feeds/NAME` and a snapshot send them.
    pub fn to_json(&self) -> Vec<u8> {
        let values: Vec<&Value> = self.list.iter().map(|i| &i.value).collect();
        serde_json::to_vec(&values).unwrap_or_else(|_| b"[]".to_vec())
    }

    /// What changed from `self` to `new`.
    pub fn diff(&self, new: &Items) -> Vec<Diff> {
        if self.document && new.document {
            let (old, now) = (&self.list[0].value, &new.list[0].value);
            return if old == now {
                Vec::new()
            } else {
                vec![Diff {
                    op: FeedOp::Replaced,
                    id: Value::Null,
                    item: Some(now.clone()),
                }]
            };
        }
        let old: HashMap<&str, &Value> = self
            .list
            .iter()
            .map(|i| (i.key.as_str(), &i.value))
            .collect();
        let mut diffs = Vec::new();
        for item in &new.list {
            let op = match old.get(item.key.as_str()) {
                _ if new.document => FeedOp::Replaced,
                None => FeedOp::Created,
                Some(&before) if before != &item.value => FeedOp::Updated,
                Some(_) => continue,
            };
            diffs.push(Diff {
                op,
                id: item.id.clone(),
                item: Some(item.value.clone()),
            });
        }
        let now: std::collections::HashSet<&str> =
            new.list.iter().map(|i| i.key.as_str()).collect();
        diffs.extend(
            self.list
                .iter()
                .filter(|i| !now.contains(i.key.as_str()))
                .map(|i| Diff {
                    op: FeedOp::Deleted,
                    id: i.id.clone(),
                    item: None,
                }),
        );
        diffs
    }
}

/// Each element's id and the text it is keyed by, if every element has one
/// and no two share it.
fn keyed(elements: &[Value], id_field: &str) -> Option<Vec<(String, Value)>> {
    let mut seen = std::collections::HashSet::with_capacity(elements.len());
    elements
        .iter()
        .map(|e| {
            let id = e.pointer(id_field)?;
            let key = serde_json::to_string(id).ok()?;
            seen.insert(key.clone()).then(|| (key, id.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn items(doc: Value) -> Items {
        Items::read(doc, "/id")
    }

    fn ops(diffs: &[Diff]) -> Vec<(FeedOp, Value)> {
        diffs.iter().map(|d| (d.op, d.id.clone())).collect()
    }

    #[test]
    fn items_are_diffed_by_id_in_a_stable_order() {
        let old = items(json!([{"id": 1, "n": "a"}, {"id": 2, "n": "b"}, {"id": 3, "n": "c"}]));
        let new = items(json!([{"id": 4, "n": "d"}, {"id": 2, "n": "B"}, {"id": 1, "n": "a"}]));
        let diffs = old.diff(&new);
        assert_eq!(
            ops(&diffs),
            [
                (FeedOp::Created, json!(4)),
                (FeedOp::Updated, json!(2)),
                (FeedOp::Deleted, json!(3)),
            ]
        );
        assert_eq!(diffs[1].item, Some(json!({"id": 2, "n": "B"})));
        assert_eq!(diffs[2].item, None);
        assert!(new.diff(&new).is_empty());
    }

    #[test]
    fn ids_of_any_json_type_are_told_apart() {
        let old = items(json!([{"id": 1}, {"id": "1"}]));
        assert_eq!(old.len(), 2);
        assert!(!old.document);
    }

    #[test]
    fn anything_but_an_array_of_distinct_ids_is_one_document() {
        for doc in [
            json!({"temperature": 3}),
            json!([{"id": 1}, {"name": "no id"}]),
            json!([{"id": 1}, {"id": 1}]),
            json!("text"),
        ] {
            let read = items(doc.clone());
            assert!(read.document, "{doc}");
            assert_eq!(read.to_json(), serde_json::to_vec(&[doc]).unwrap());
        }
        let a = items(json!({"t": 1}));
        let b = items(json!({"t": 2}));
        assert_eq!(ops(&a.diff(&b)), [(FeedOp::Replaced, Value::Null)]);
        assert!(a.diff(&a).is_empty());
    }

    #[test]
    fn the_first_poll_creates_every_item() {
        let first = items(json!([{"id": "x"}, {"id": "y"}]));
        assert_eq!(
            ops(&Items::default().diff(&first)),
            [(FeedOp::Created, json!("x")), (FeedOp::Created, json!("y"))]
        );
    }

    #[test]
    fn a_list_that_becomes_a_document_deletes_its_items() {
        let list = items(json!([{"id": 1}]));
        let doc = items(json!({"t": 1}));
        assert_eq!(
            ops(&list.diff(&doc)),
            [(FeedOp::Replaced, Value::Null), (FeedOp::Deleted, json!(1))]
        );
        assert_eq!(
            ops(&doc.diff(&list)),
            [(FeedOp::Created, json!(1)), (FeedOp::Deleted, Value::Null)]
        );
    }
}
