//! Snapshots of whole screens at fixed sizes, from a state built by replaying
//! a fixed timeline through `App::update`.

use std::time::Duration;

use insta::assert_snapshot;
use pollpush_shared::{Change, ChangeOp, ClusterStats, ClusterTotals, ServerMessage, Species};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::{Screen, Theme};
use crate::app::fixtures::{species, stats, stats_from, t};
use crate::app::settings::PollSettings;
use crate::app::{App, Mode, View};
use crate::event::TrafficTotals;
use crate::event::{Event, LaneEvent, LaneUpdate};
use crate::lane::LaneKind;

pub(super) fn traffic(bytes_in: u64, bytes_out: u64) -> TrafficTotals {
    TrafficTotals {
        bytes_in,
        bytes_out,
        ..TrafficTotals::default()
    }
}

pub(super) fn on(lane: LaneKind, at_ms: i64, traffic: TrafficTotals, update: LaneUpdate) -> Event {
    Event::Lane(LaneEvent {
        lane,
        at: t(at_ms),
        traffic,
        update,
        took: None,
    })
}

fn poll(at_ms: i64, bytes: u64, update: LaneUpdate) -> Event {
    on(LaneKind::Poll, at_ms, traffic(bytes, bytes / 4), update)
}

fn push(at_ms: i64, bytes: u64, message: ServerMessage) -> Event {
    let update = LaneUpdate::Message(message);
    on(LaneKind::Ws, at_ms, traffic(bytes, 120), update)
}

/// Ten seconds of a demo: 6 species, one change every 500 ms, a 1 s poll.
fn demo() -> App {
    let app = App::new(
        Mode::Embedded { simulate: 2.0 },
        PollSettings::default(),
        t(0),
    );
    demo_on(app, "127.0.0.1:40123")
}

/// The demo's timeline on `app`, the push lane connected to `push_node`.
fn demo_on(mut app: App, push_node: &str) -> App {
    let lanes: Vec<LaneKind> = LaneKind::ALL
        .into_iter()
        .filter(|&kind| app.lane(kind).is_some())
        .collect();
    let mut list: Vec<Species> = (1..=6).map(|id| species(id, id * 3, 0)).collect();
    let connected = LaneUpdate::Connected {
        resume_from: None,
        node: push_node.into(),
    };
    app.update(on(LaneKind::Sse, 0, traffic(250, 150), connected.clone()));
    app.update(on(LaneKind::Ws, 0, traffic(200, 120), connected));
    let snapshot = ServerMessage::Snapshot {
        room: "species".into(),
        revision: 10,
        species: list.clone(),
    };
    let sse = LaneUpdate::Message(snapshot.clone());
    app.update(on(LaneKind::Sse, 2, traffic(1_000, 150), sse));
    app.update(push(1, 900, snapshot));
    let fresh = |revision, species: &Vec<Species>| LaneUpdate::List {
        revision,
        etag: Some(format!("\"{revision}\"")),
        species: species.clone(),
        server_date: None,
    };
    app.update(poll(2, 1_100, fresh(10, &list)));
    app.update(on(
        LaneKind::LongPoll,
        3,
        traffic(1_300, 260),
        fresh(10, &list),
    ));
    let mut revision = 10;
    let mut push_bytes = 900;
    for step in 1..=19_i64 {
        let at = step * 500;
        revision += 1;
        let id = (step as u64 % 6) + 1;
        list[id as usize - 1] = species(id, 3 * id + step as u64, at);
        push_bytes += 160;
        let change = ServerMessage::Change(Change {
            room: "species".into(),
            revision,
            op: ChangeOp::Updated,
            species: list[id as usize - 1].clone(),
            at: t(at),
        });
        // The SSE lane gets the same messages, a little later and a little bigger.
        let sse = LaneUpdate::Message(change.clone());
        app.update(on(
            LaneKind::Sse,
            at + 3,
            traffic(push_bytes + 200, 150),
            sse,
        ));
        app.update(push(at + 1, push_bytes, change));
        if step % 3 == 0 {
            let bytes = 1_300 * (step as u64 + 2);
            let list = fresh(revision, &list);
            app.update(on(
                LaneKind::LongPoll,
                at + 5,
                traffic(bytes, bytes / 5),
                list,
            ));
        }
        if step % 2 == 0 {
            app.update(Event::Tick { at: t(at + 100) });
        }
        if step % 4 == 1 {
            app.update(poll(
                at + 300,
                1_100 * (step as u64 + 3),
                fresh(revision, &list),
            ));
        }
    }
    app.update(poll(
        9_600,
        25_000,
        LaneUpdate::NotModified {
            revision: Some(29),
            server_date: None,
        },
    ));
    app.update(stats(9_000, 9.0, 0.40, |s| {
        s.process.rss_bytes = 14_800_000;
    }));
    app.update(stats(9_900, 10.0, 0.43, |s| {
        s.revision = 29;
        s.process.rss_bytes = 14_800_000;
        s.rest.connections = 1;
        s.ws.connections = 1;
        // What the server counts for the lanes this app runs besides those two.
        for (kind, connections) in [
            (LaneKind::LongPoll, &mut s.longpoll.connections),
            (LaneKind::Sse, &mut s.sse.connections),
        ] {
            *connections = u64::from(lanes.contains(&kind));
        }
    }));
    app.update(Event::Tick { at: t(9_950) });
    app
}

fn render(app: &App, width: u16, height: u16) -> String {
    render_for(app, "embedded · http://127.0.0.1:40123", width, height)
}

/// The screen, its header naming `server`.
pub(super) fn render_for(app: &App, server: &str, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal
        .draw(|frame| {
            frame.render_widget(
                Screen {
                    app,
                    theme: Theme { color: false },
                    server,
                },
                frame.area(),
            );
        })
        .expect("draw");
    terminal.backend().to_string()
}

/// The demo with all four lanes.
fn four_lanes() -> App {
    let app = App::new(
        Mode::Embedded { simulate: 2.0 },
        PollSettings::default(),
        t(0),
    )
    .with_lanes(&LaneKind::ALL);
    demo_on(app, "127.0.0.1:40123")
}

#[test]
fn four_lanes_in_a_grid_at_160x40() {
    assert_snapshot!(render(&four_lanes(), 160, 40));
}

#[test]
fn four_lanes_as_a_scoreboard_at_80x24() {
    assert_snapshot!(render(&four_lanes(), 80, 24));
}

#[test]
fn the_view_key_forces_a_scoreboard_or_panes() {
    let mut app = four_lanes();
    app.view = View::Panes;
    let panes = render(&app, 100, 30);
    assert!(
        panes.contains("SSE · push") && !panes.contains(" lanes "),
        "{panes}"
    );
    app.view = View::Scoreboard;
    let board = render(&app, 200, 50);
    assert!(
        board.contains(" lanes ") && board.contains("long-poll"),
        "{board}"
    );
}

#[test]
fn stacked_at_80x24() {
    assert_snapshot!(render(&demo(), 80, 24));
}

#[test]
fn side_by_side_at_160x40() {
    assert_snapshot!(render(&demo(), 160, 40));
}

#[test]
fn too_small_below_60x16() {
    assert_snapshot!(render(&demo(), 59, 15));
}

#[test]
fn help_overlay() {
    let mut app = demo();
    app.help = true;
    assert_snapshot!(render(&app, 100, 30));
}

#[test]
fn retrying_pane_shows_the_error_and_countdown() {
    let mut app = demo();
    app.update(on(
        LaneKind::Ws,
        10_000,
        traffic(4_000, 120),
        LaneUpdate::Failed {
            error: "closed by the server (1001 going away)".into(),
            retry_in: Duration::from_millis(2_400),
            next_node: Some("127.0.0.1:40123".into()),
        },
    ));
    app.update(Event::Tick { at: t(10_100) });
    assert_snapshot!(render(&app, 120, 30));
}

/// What the header names for `--server http://127.0.0.1:5101,http://127.0.0.1:5102`.
const CLUSTER: &str = "http://127.0.0.1:5101 + 1 more";

/// The demo against two nodes of a three-node cluster: push failed over from
/// the second node to the first, and `/stats` reports the cluster.
fn cluster() -> App {
    let nodes = vec!["127.0.0.1:5101".to_owned(), "127.0.0.1:5102".to_owned()];
    let app = App::new(Mode::Remote, PollSettings::default(), t(0)).with_nodes(nodes);
    let mut app = demo_on(app, "127.0.0.1:5102");
    app.update(on(
        LaneKind::Ws,
        9_960,
        traffic(4_000, 120),
        LaneUpdate::Failed {
            error: "closed by the server (1001 going away)".into(),
            retry_in: Duration::from_millis(250),
            next_node: Some("127.0.0.1:5101".into()),
        },
    ));
    let connected = LaneUpdate::Connected {
        resume_from: Some(29),
        node: "127.0.0.1:5101".into(),
    };
    app.update(on(LaneKind::Ws, 9_980, traffic(4_200, 240), connected));
    for (at, cpu) in [(9_000, 0.40), (9_990, 0.43)] {
        app.update(stats_from(
            "127.0.0.1:5101",
            at,
            at as f64 / 1e3,
            cpu,
            |s| {
                s.revision = 29;
                s.cluster = Some(ClusterStats {
                    nodes: Vec::new(),
                    totals: ClusterTotals {
                        nodes: 3,
                        connections: 30_020,
                        subscribers: 30_012,
                        rss_bytes: 1_352_000_000,
                    },
                });
            },
        ));
    }
    app.update(Event::Tick { at: t(9_995) });
    app
}

#[test]
fn a_cluster_at_80x24_names_each_panes_node_and_the_cluster() {
    assert_snapshot!(render_for(&cluster(), CLUSTER, 80, 24));
}

#[test]
fn a_cluster_side_by_side_at_100x30() {
    assert_snapshot!(render_for(&cluster(), CLUSTER, 100, 30));
}

#[test]
fn a_push_lane_moving_to_another_node_says_where() {
    let mut app = cluster();
    app.update(on(
        LaneKind::Ws,
        10_000,
        traffic(4_300, 240),
        LaneUpdate::Failed {
            error: "Connection refused".into(),
            retry_in: Duration::from_millis(1_500),
            next_node: Some("127.0.0.1:5102".into()),
        },
    ));
    let screen = render(&app, 100, 30);
    assert!(
        screen.contains("✖ retrying → 127.0.0.1:5102 in 2s"),
        "{screen}"
    );
}

#[test]
fn several_nodes_without_a_broker_name_the_node_whose_figures_show() {
    let nodes = vec!["127.0.0.1:5101".to_owned(), "127.0.0.1:5102".to_owned()];
    let app = App::new(Mode::Remote, PollSettings::default(), t(0)).with_nodes(nodes);
    let mut app = demo_on(app, "127.0.0.1:5102");
    app.update(stats_from("127.0.0.1:5101", 9_990, 10.0, 0.5, |_| {}));
    let screen = render_for(&app, CLUSTER, 80, 24);
    assert!(screen.contains("\" 127.0.0.1:5101 CPU"), "{screen}");
}

fn colours_used(theme: Theme) -> usize {
    let app = demo();
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).expect("test backend");
    terminal
        .draw(|frame| {
            let screen = Screen {
                app: &app,
                theme,
                server: "embedded",
            };
            frame.render_widget(screen, frame.area());
        })
        .expect("draw");
    let reset = ratatui::style::Color::Reset;
    terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .filter(|cell| cell.fg != reset || cell.bg != reset)
        .count()
}

#[test]
fn no_color_draws_without_any_colour() {
    assert_eq!(colours_used(Theme { color: false }), 0);
    assert!(colours_used(Theme { color: true }) > 0);
}

#[test]
fn a_remote_server_clock_offset_is_shown_as_corrected() {
    let mut app = App::new(Mode::Remote, PollSettings::default(), t(0));
    app.update(push(
        0,
        100,
        ServerMessage::Hello {
            protocol: 1,
            server: "pollpush".into(),
            revision: 3,
            server_time: t(-1_250),
        },
    ));
    let screen = render(&app, 100, 20);
    assert!(
        screen.contains("clock -1250 ms corrected (hello)"),
        "{screen}"
    );
    assert!(
        !screen.contains("s/S"),
        "no simulator keys against a remote server"
    );
}

mod feed;
mod watch;
mod wire;
