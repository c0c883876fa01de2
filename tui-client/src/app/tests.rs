//! `App::update` driven by exact timelines.

mod lanes;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pollpush_shared::{Change, ChangeOp, Revision, ServerMessage, Species};

use super::fixtures::{species, stats, stats_from, t};
use super::pane::Link;
use super::*;
use crate::event::{Event, LaneEvent, LaneUpdate, TrafficTotals};
use crate::lane::LaneKind::{Poll, Ws};

fn embedded() -> App {
    App::new(
        Mode::Embedded { simulate: 2.0 },
        PollSettings::default(),
        t(0),
    )
}

fn on(lane: LaneKind, at_ms: i64, update: LaneUpdate) -> Event {
    Event::Lane(LaneEvent {
        lane,
        at: t(at_ms),
        traffic: TrafficTotals::default(),
        update,
        took: None,
    })
}

fn list(revision: Revision, species: Vec<Species>) -> LaneUpdate {
    LaneUpdate::List {
        revision,
        etag: Some(format!("\"{revision}\"")),
        species,
        server_date: None,
    }
}

/// A poll lane's `200`.
fn fresh(at_ms: i64, revision: Revision, species: Vec<Species>) -> Event {
    on(Poll, at_ms, list(revision, species))
}

fn not_modified(at_ms: i64) -> Event {
    let update = LaneUpdate::NotModified {
        revision: None,
        server_date: None,
    };
    on(Poll, at_ms, update)
}

fn push(at_ms: i64, update: LaneUpdate) -> Event {
    on(Ws, at_ms, update)
}

fn message(at_ms: i64, message: ServerMessage) -> Event {
    push(at_ms, LaneUpdate::Message(message))
}

fn snapshot(at_ms: i64, revision: Revision, list: Vec<Species>) -> Event {
    message(
        at_ms,
        ServerMessage::Snapshot {
            room: "species".into(),
            revision,
            species: list,
        },
    )
}

/// A change committed at `committed_ms`, received at `at_ms`.
fn change(at_ms: i64, revision: Revision, committed_ms: i64, s: Species) -> Event {
    message(
        at_ms,
        ServerMessage::Change(Change {
            room: "species".into(),
            revision,
            op: ChangeOp::Updated,
            species: s,
            at: t(committed_ms),
        }),
    )
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn a_poll_that_jumps_revisions_counts_them_as_missed() {
    let mut app = embedded();
    app.update(fresh(0, 10, vec![species(1, 0, 0)]));
    app.update(fresh(1_000, 14, vec![species(1, 4, 900)]));
    assert_eq!(app[Poll].revision, Some(14));
    assert_eq!(app[Poll].counters.seen, 1);
    assert_eq!(app[Poll].counters.missed, 3);
    assert_eq!(app[Poll].counters.requests, 2);
}

#[test]
fn push_in_revision_order_misses_nothing() {
    let mut app = embedded();
    app.update(snapshot(0, 10, vec![species(1, 0, 0)]));
    for rev in 11..=15 {
        let ms = (rev as i64 - 10) * 100;
        app.update(change(ms + 1, rev, ms, species(1, rev, ms)));
    }
    assert_eq!(app[Ws].counters.seen, 5);
    assert_eq!(app[Ws].counters.missed, 0);
    assert_eq!(app[Ws].rows[&1].species.observations, 15);
}

#[test]
fn a_replayed_change_is_not_counted_twice() {
    let mut app = embedded();
    app.update(snapshot(0, 10, vec![]));
    app.update(change(10, 11, 5, species(1, 1, 5)));
    app.update(change(20, 11, 5, species(1, 1, 5)));
    assert_eq!(app[Ws].counters.seen, 1);
}

#[test]
fn staleness_is_measured_from_the_server_change_time() {
    let mut app = embedded();
    app.update(fresh(0, 10, vec![species(1, 0, 0)]));
    app.update(snapshot(0, 10, vec![species(1, 0, 0)]));
    app.update(change(1_002, 11, 1_000, species(1, 1, 1_000)));
    app.update(Event::Tick { at: t(1_300) });
    assert_eq!(app[Poll].staleness.now, Duration::from_millis(300));
    assert_eq!(app[Ws].staleness.now, Duration::ZERO);
    app.update(fresh(1_800, 11, vec![species(1, 1, 1_000)]));
    assert_eq!(app[Poll].staleness.max(), Duration::from_millis(800));
    app.update(Event::Tick { at: t(1_900) });
    assert_eq!(app[Poll].staleness.now, Duration::ZERO);
}

#[test]
fn a_remote_clock_offset_from_hello_corrects_staleness() {
    let mut app = App::new(Mode::Remote, PollSettings::default(), t(0));
    // The server's clock runs 5 s ahead of ours.
    app.update(message(
        0,
        ServerMessage::Hello {
            protocol: 1,
            server: "pollpush".into(),
            revision: 10,
            server_time: t(5_000),
        },
    ));
    assert_eq!(app.clock.source, ClockSource::Hello);
    app.update(fresh(0, 10, vec![]));
    app.update(snapshot(0, 10, vec![]));
    app.update(change(1, 11, 5_000, species(1, 1, 5_000)));
    app.update(Event::Tick { at: t(200) });
    assert_eq!(app[Poll].staleness.now, Duration::from_millis(200));
}

#[test]
fn not_modified_counts_a_request_and_changes_nothing() {
    let mut app = embedded();
    app.update(fresh(0, 10, vec![species(1, 0, 0)]));
    app.update(not_modified(1_000));
    assert_eq!(app[Poll].counters.requests, 2);
    assert_eq!(app[Poll].counters.not_modified, 1);
    assert_eq!(app[Poll].counters.seen, 0);
    assert_eq!(app[Poll].revision, Some(10));
}

#[test]
fn a_failed_poll_keeps_the_data_and_shows_the_retry() {
    let mut app = embedded();
    app.update(fresh(0, 10, vec![species(1, 0, 0)]));
    app.update(on(
        Poll,
        1_000,
        LaneUpdate::Failed {
            error: "connection refused".into(),
            retry_in: Duration::from_secs(2),
            next_node: None,
        },
    ));
    assert_eq!(app[Poll].rows.len(), 1);
    assert_eq!(
        app[Poll].link,
        Link::Retrying {
            error: "connection refused".into(),
            retry_at: t(3_000)
        }
    );
    app.update(fresh(3_000, 10, vec![species(1, 0, 0)]));
    assert_eq!(app[Poll].link, Link::Live);
}

#[test]
fn reconnects_are_counted_and_resume_misses_nothing() {
    let mut app = embedded();
    app.update(connected(0, None, "a:1"));
    app.update(snapshot(1, 10, vec![]));
    app.update(disconnected(500, "a:1"));
    app.update(connected(800, Some(10), "a:1"));
    app.update(change(801, 11, 600, species(1, 1, 600)));
    app.update(change(802, 12, 700, species(1, 2, 700)));
    assert_eq!(app[Ws].counters.reconnects, 1);
    assert_eq!(app[Ws].counters.failovers, 0, "same node");
    assert_eq!(app[Ws].counters.missed, 0);
    assert_eq!(app[Ws].counters.seen, 2);
    assert_eq!(app[Ws].link, Link::Live);
}

fn connected(at_ms: i64, resume_from: Option<Revision>, node: &str) -> Event {
    let node = node.to_owned();
    push(at_ms, LaneUpdate::Connected { resume_from, node })
}

fn disconnected(at_ms: i64, next_node: &str) -> Event {
    push(
        at_ms,
        LaneUpdate::Failed {
            error: "closed".into(),
            retry_in: Duration::from_millis(250),
            next_node: Some(next_node.to_owned()),
        },
    )
}

#[test]
fn a_failover_to_another_node_is_counted_and_resumes_without_a_gap() {
    let mut app = embedded().with_nodes(vec!["a:1".into(), "b:2".into()]);
    assert_eq!(app[Poll].node.as_deref(), Some("a:1"), "polls the first");
    app.update(connected(0, None, "b:2"));
    app.update(snapshot(1, 10, vec![]));
    app.update(disconnected(500, "a:1"));
    assert_eq!(app[Ws].next_node.as_deref(), Some("a:1"));
    app.update(connected(800, Some(10), "a:1"));
    app.update(change(801, 11, 600, species(1, 1, 600)));
    let p = &app[Ws];
    assert_eq!(
        (p.node.as_deref(), p.next_node.as_deref()),
        (Some("a:1"), None)
    );
    assert_eq!((p.counters.failovers, p.counters.reconnects), (1, 1));
    assert_eq!((p.counters.seen, p.counters.missed), (1, 0));
}

#[test]
fn a_first_connection_elsewhere_is_not_a_failover() {
    let mut app = embedded().with_nodes(vec!["a:1".into(), "b:2".into()]);
    app.update(disconnected(0, "a:1"));
    app.update(connected(300, None, "a:1"));
    assert_eq!(app[Ws].counters.failovers, 0);
}

#[test]
fn a_snapshot_after_resync_counts_the_gap_as_missed() {
    let mut app = embedded();
    app.update(snapshot(0, 10, vec![]));
    app.update(message(10, ServerMessage::Resync { revision: 20 }));
    app.update(snapshot(11, 20, vec![]));
    assert_eq!(app[Ws].counters.resyncs, 1);
    assert_eq!(app[Ws].counters.missed, 9);
}

#[test]
fn deleted_rows_stay_struck_for_a_second_then_go() {
    let mut app = embedded();
    app.update(fresh(0, 10, vec![species(1, 0, 0), species(2, 0, 0)]));
    app.update(fresh(1_000, 11, vec![species(1, 0, 0)]));
    assert_eq!(app[Poll].rows[&2].deleted_at, Some(t(1_000)));
    app.update(Event::Tick { at: t(1_500) });
    assert!(app[Poll].rows.contains_key(&2));
    app.update(Event::Tick { at: t(2_100) });
    assert!(!app[Poll].rows.contains_key(&2));
}

#[test]
fn changed_rows_are_stamped_for_highlighting() {
    let mut app = embedded();
    app.update(fresh(0, 10, vec![species(1, 0, 0), species(2, 0, 0)]));
    assert_eq!(app[Poll].rows[&1].changed_at, None);
    app.update(fresh(1_000, 11, vec![species(1, 1, 900), species(2, 0, 0)]));
    assert_eq!(app[Poll].rows[&1].changed_at, Some(t(1_000)));
    assert_eq!(app[Poll].rows[&2].changed_at, None);
}

#[test]
fn keys_change_poll_settings_and_ask_for_effects() {
    let mut app = embedded();
    assert_eq!(app.update(key(KeyCode::Char('q'))), Some(Effect::Quit));
    let faster = app.update(key(KeyCode::Char('-')));
    assert_eq!(app.poll_settings.interval, Duration::from_millis(500));
    assert_eq!(faster, Some(Effect::ApplyPollSettings(app.poll_settings)));
    app.update(key(KeyCode::Char('+')));
    app.update(key(KeyCode::Char('+')));
    assert_eq!(app.poll_settings.interval, Duration::from_secs(2));
    app.update(key(KeyCode::Char('p')));
    assert!(app.poll_settings.paused);
    app.update(key(KeyCode::Char('e')));
    assert!(!app.poll_settings.etag);
    assert_eq!(app.update(key(KeyCode::Char('n'))), Some(Effect::WriteNow));
    assert_eq!(
        app.update(key(KeyCode::Char('S'))),
        Some(Effect::SetSimulatorRate(5.0))
    );
    assert_eq!(app.simulator_rate(), Some(5.0));
}

#[test]
fn interval_stays_within_bounds() {
    let mut app = embedded();
    for _ in 0..20 {
        app.update(key(KeyCode::Char('-')));
    }
    assert_eq!(app.poll_settings.interval, Duration::from_millis(100));
    for _ in 0..20 {
        app.update(key(KeyCode::Char('+')));
    }
    assert_eq!(app.poll_settings.interval, Duration::from_mins(1));
}

#[test]
fn simulator_keys_do_nothing_against_a_remote_server() {
    let mut app = App::new(Mode::Remote, PollSettings::default(), t(0));
    assert_eq!(app.update(key(KeyCode::Char('S'))), None);
}

#[test]
fn escape_closes_help_before_it_quits() {
    let mut app = embedded();
    app.update(key(KeyCode::Char('?')));
    assert!(app.help);
    assert_eq!(app.update(key(KeyCode::Esc)), None);
    assert!(!app.help);
    let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(app.update(ctrl_c), Some(Effect::Quit));
}

#[test]
fn reset_zeroes_counters_but_keeps_the_data() {
    let mut app = embedded();
    app.update(fresh(0, 10, vec![species(1, 0, 0)]));
    app.update(fresh(1_000, 14, vec![species(1, 4, 900)]));
    app.update(key(KeyCode::Char('r')));
    assert_eq!(app[Poll].counters.missed, 0);
    assert_eq!(app[Poll].revision, Some(14));
    app.update(fresh(2_000, 16, vec![species(1, 6, 1_900)]));
    assert_eq!(app[Poll].counters.missed, 1);
}

#[test]
fn server_cpu_percent_comes_from_two_stats_samples() {
    let mut app = embedded();
    app.update(stats(0, 10.0, 1.0, |_| {}));
    app.update(stats(2_000, 12.0, 1.1, |_| {}));
    let cpu = app.server.cpu_percent.expect("two samples");
    assert!((cpu - 5.0).abs() < 1e-9);
}

#[test]
fn server_cpu_percent_is_not_taken_across_two_nodes() {
    let mut app = embedded();
    app.update(stats(0, 10.0, 1.0, |_| {}));
    app.update(stats_from("other:2", 2_000, 12.0, 9.0, |_| {}));
    assert_eq!(app.server.cpu_percent, None);
    assert_eq!(app.server.node.as_deref(), Some("other:2"));
}
