//! A gateway feed's panes (`--feed NAME`): the items as a table of their
//! fields, with the revision, seen, missed and staleness of any pane.

use insta::assert_snapshot;
use pollpush_shared::{FeedChange, FeedMessage, FeedOp};
use serde_json::json;

use super::{on, render_for, traffic};
use crate::app::fixtures::t;
use crate::app::settings::PollSettings;
use crate::app::{App, Mode};
use crate::event::{Event, LaneUpdate};
use crate::lane::LaneKind;

/// The WebSocket lane connected, then given feed `talk`'s snapshot at revision 2.
fn ws_at_snapshot(app: &mut App, items: Vec<serde_json::Value>) {
    let connected = LaneUpdate::Connected {
        resume_from: None,
        node: "127.0.0.1:5050".into(),
    };
    app.update(on(LaneKind::Ws, 0, traffic(200, 120), connected));
    let snapshot = FeedMessage::Snapshot {
        room: "talk".into(),
        revision: 2,
        items,
    };
    let update = LaneUpdate::Feed(snapshot);
    app.update(on(LaneKind::Ws, 5, traffic(400, 180), update));
}

/// The talk's two species through a gateway, then a third pushed at 1.5 s,
/// which the poll lane shows a second later.
fn talk() -> App {
    let mut app = App::new(Mode::Remote, PollSettings::default(), t(0))
        .with_lanes(&[LaneKind::Poll, LaneKind::Ws])
        .with_feed(Some("talk".into()));
    let two = vec![
        json!({"id": 1, "name": "AThaliana"}),
        json!({"id": 2, "name": "Tomate"}),
    ];
    let mut three = two.clone();
    three.push(json!({"id": 3, "name": "Vigne"}));
    ws_at_snapshot(&mut app, two.clone());
    let list = |revision, items: &Vec<serde_json::Value>| LaneUpdate::FeedList {
        revision,
        etag: Some(format!("\"{revision}\"")),
        items: items.clone(),
        server_date: None,
    };
    app.update(on(LaneKind::Poll, 500, traffic(300, 100), list(2, &two)));
    let change = FeedMessage::Change(FeedChange {
        room: "talk".into(),
        revision: 3,
        op: FeedOp::Created,
        id: json!(3),
        item: Some(three[2].clone()),
    });
    app.update(on(
        LaneKind::Ws,
        1_500,
        traffic(520, 180),
        LaneUpdate::Feed(change),
    ));
    for at in (1_600..=2_400).step_by(100) {
        app.update(Event::Tick { at: t(at) });
    }
    app.update(on(
        LaneKind::Poll,
        2_500,
        traffic(700, 200),
        list(3, &three),
    ));
    app.update(Event::Tick { at: t(2_600) });
    app
}

#[test]
fn a_feed_at_80x24_shows_its_items_and_how_late_polling_was() {
    let app = talk();
    assert_eq!(app[LaneKind::Poll].staleness.max().as_millis(), 1_000);
    assert_snapshot!(render_for(&app, "http://127.0.0.1:5050", 80, 24));
}

#[test]
fn with_a_time_field_a_feed_change_is_as_late_as_its_item_says() {
    let mut app = App::new(Mode::Remote, PollSettings::default(), t(0))
        .with_lanes(&[LaneKind::Ws])
        .with_feed(Some("talk".into()))
        .with_feed_time(Some("/at".into()));
    ws_at_snapshot(&mut app, vec![json!({"id": 1, "at": t(0).to_rfc3339()})]);
    // Changed upstream at 1.2 s, pushed at 1.5 s: the gateway's poll made it 300 ms late.
    let change = FeedMessage::Change(FeedChange {
        room: "talk".into(),
        revision: 3,
        op: FeedOp::Created,
        id: json!(3),
        item: Some(json!({"id": 3, "at": t(1_200).to_rfc3339()})),
    });
    app.update(on(
        LaneKind::Ws,
        1_500,
        traffic(520, 180),
        LaneUpdate::Feed(change),
    ));
    assert_eq!(app[LaneKind::Ws].staleness.max().as_millis(), 300);
}
