//! The lanes beyond polling and push, through the same `update`.

use super::*;
use crate::lane::LaneKind::{self, LongPoll, Sse};

fn four_lanes() -> App {
    embedded().with_lanes(&LaneKind::ALL)
}

fn sse(at_ms: i64, message: ServerMessage) -> Event {
    on(Sse, at_ms, LaneUpdate::Message(message))
}

fn sse_change(at_ms: i64, revision: Revision, committed_ms: i64) -> Event {
    sse(
        at_ms,
        ServerMessage::Change(Change {
            room: "species".into(),
            revision,
            op: ChangeOp::Updated,
            species: species(1, revision, committed_ms),
            at: t(committed_ms),
        }),
    )
}

#[test]
fn every_lane_is_measured_by_the_same_rules() {
    let mut app = four_lanes();
    let kinds: Vec<LaneKind> = app.lanes.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, LaneKind::ALL);
    app.update(on(LongPoll, 0, list(10, vec![species(1, 0, 0)])));
    app.update(on(LongPoll, 900, list(13, vec![species(1, 3, 800)])));
    app.update(sse(
        0,
        ServerMessage::Snapshot {
            room: "species".into(),
            revision: 10,
            species: vec![],
        },
    ));
    for rev in 11..=13 {
        app.update(sse_change(rev as i64 * 10, rev, rev as i64 * 10 - 5));
    }
    let long = &app[LongPoll].counters;
    assert_eq!(
        (long.requests, long.seen, long.missed),
        (2, 1, 2),
        "a long-poll may skip"
    );
    let stream = &app[Sse].counters;
    assert_eq!((stream.messages, stream.seen, stream.missed), (4, 3, 0));
    assert_eq!(app.server_revision, Some(13));
    assert!(app[Poll].revision.is_none(), "other lanes untouched");
}

#[test]
fn a_long_poll_that_times_out_is_a_304() {
    let mut app = four_lanes();
    app.update(on(LongPoll, 0, list(10, vec![])));
    let timeout = LaneUpdate::NotModified {
        revision: Some(10),
        server_date: None,
    };
    app.update(on(LongPoll, 30_000, timeout));
    let c = &app[LongPoll].counters;
    assert_eq!((c.requests, c.not_modified, c.seen), (2, 1, 0));
}

#[test]
fn an_sse_failover_resumes_like_the_websocket() {
    let mut app = four_lanes().with_nodes(vec!["a:1".into(), "b:2".into()]);
    assert_eq!(
        app[LongPoll].node.as_deref(),
        Some("a:1"),
        "request lanes stay on the first"
    );
    assert_eq!(app[Sse].node, None, "streams say where they connect");
    let connected = |node: &str| LaneUpdate::Connected {
        resume_from: None,
        node: node.to_owned(),
    };
    app.update(on(Sse, 0, connected("b:2")));
    app.update(sse_change(10, 11, 5));
    let failed = LaneUpdate::Failed {
        error: "closed".into(),
        retry_in: Duration::from_millis(250),
        next_node: Some("a:1".into()),
    };
    app.update(on(Sse, 500, failed));
    app.update(on(Sse, 800, connected("a:1")));
    app.update(sse_change(801, 12, 700));
    let c = &app[Sse].counters;
    assert_eq!((c.failovers, c.reconnects, c.missed), (1, 1, 0));
}

#[test]
fn an_event_for_a_lane_that_is_not_running_is_ignored() {
    let mut app = embedded();
    app.update(sse_change(10, 11, 5));
    assert!(app.lane(Sse).is_none());
    assert_eq!(app[Ws].counters.messages, 0);
}

#[test]
fn the_freshest_lane_shows_the_newest_revision() {
    let mut app = four_lanes();
    app.update(fresh(0, 10, vec![]));
    app.update(sse_change(5, 12, 1));
    assert_eq!(app.freshest().map(|p| p.kind), Some(Sse));
}

#[test]
fn polling_keys_say_so_without_a_poll_lane_and_v_cycles_the_view() {
    let mut app = embedded().with_lanes(&[Sse, Ws]);
    assert_eq!(app.update(key(KeyCode::Char('+'))), None);
    let notice = app
        .notice
        .as_ref()
        .map(|(_, text)| text.clone())
        .unwrap_or_default();
    assert!(notice.contains("poll lane"), "{notice}");
    assert_eq!(app.view, View::Auto);
    app.update(key(KeyCode::Char('v')));
    assert_eq!(app.view, View::Scoreboard);
    app.update(key(KeyCode::Char('v')));
    assert_eq!(app.view, View::Panes);
    app.update(key(KeyCode::Char('v')));
    assert_eq!(app.view, View::Auto);
}
