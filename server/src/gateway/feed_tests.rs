//! The feed's own rules: a follower makes the poller's changes, or jumps.

use serde_json::{Value, json};

use super::*;

fn feed() -> Feed {
    let spec = super::super::spec::parse_feed("t=http://127.0.0.1/").expect("a spec");
    Feed::new(spec, 16)
}

fn items(list: &Value) -> Items {
    Items::read(list.clone(), "/id")
}

#[test]
fn a_follower_makes_the_pollers_changes_or_jumps_over_a_gap() {
    let (poller, follower) = (feed(), feed());
    let mut live = follower.changes.subscribe();
    for list in [json!([{"id": 1}]), json!([{"id": 1, "n": 2}, {"id": 2}])] {
        let applied = poller.apply(items(&list)).expect("a change");
        assert!(!follower.follow(&applied, items(&list)));
    }
    let texts = |feed: &Feed| -> Vec<String> {
        let current = feed.current.read().unwrap_or_else(PoisonError::into_inner);
        current.history.iter().map(|e| e.text.to_string()).collect()
    };
    assert_eq!(texts(&follower), texts(&poller));
    assert_eq!(follower.view().body, poller.view().body);
    assert_eq!(live.try_recv().map(|e| e.revision).ok(), Some(1));

    // One message missed: the next one is a jump, announced to subscribers.
    let missed = poller.apply(items(&json!([{"id": 3}]))).expect("a change");
    let list = json!([{"id": 3}, {"id": 4}]);
    let next = poller.apply(items(&list)).expect("a change");
    assert!(follower.follow(&next, items(&list)));
    assert_eq!(follower.view().revision, next.after);
    assert_eq!(follower.view().body, poller.view().body);
    let jump = std::iter::from_fn(|| live.try_recv().ok()).last();
    assert!(jump.is_some_and(|e| e.reset && e.revision == next.after));
    // An older message, or this node's own, changes nothing.
    assert!(!follower.follow(&missed, items(&json!([{"id": 3}]))));
    assert_eq!(follower.view().revision, next.after);
}
