//! The screen of a watched service: payloads instead of species, and what
//! cannot be measured said as such.

use insta::assert_snapshot;

use super::{on, render_for, traffic};
use crate::app::fixtures::t;
use crate::app::settings::PollSettings;
use crate::app::{App, Mode};
use crate::event::{Body, LaneUpdate, Payload};
use crate::lane::{FeedProtocol, LaneKind};

fn payload(json: serde_json::Value, name: Option<&str>, stamp_ms: Option<i64>) -> LaneUpdate {
    LaneUpdate::Payload(Box::new(Payload {
        size: json.to_string().len() as u64,
        body: Body::Json(json),
        name: name.map(str::to_owned),
        server_date: None,
        stamp: stamp_ms.map(|ms| Ok(t(ms))),
        redirects: 0,
        pollpush: false,
        items: None,
    }))
}

/// A poll of a REST list beside a socket.io feed, five seconds in.
fn watched(insecure: bool) -> App {
    let socketio = LaneKind::Feed(FeedProtocol::SocketIo);
    let mut app = App::new(Mode::Remote, PollSettings::default(), t(0))
        .with_lanes(&[LaneKind::UrlPoll, socketio]);
    app.insecure = insecure;
    let list = serde_json::json!([{"id": 1, "name": "AThaliana"}, {"id": 2, "name": "Tomate"}]);
    let unchanged = LaneUpdate::NotModified {
        revision: None,
        server_date: None,
    };
    app.update(on(
        LaneKind::UrlPoll,
        100,
        traffic(300, 60),
        payload(list.clone(), None, None),
    ));
    for (i, ms) in [1100, 2100, 3100, 4100].into_iter().enumerate() {
        let bytes = 300 * (i as u64 + 2);
        app.update(on(
            LaneKind::UrlPoll,
            ms,
            traffic(bytes, 60),
            unchanged.clone(),
        ));
    }
    for (n, ms) in [500, 1500, 3500].into_iter().enumerate() {
        let update = payload(list.clone(), Some("species"), Some(ms - 40));
        app.update(on(socketio, ms, traffic(200 + 60 * n as u64, 90), update));
    }
    app.update(crate::event::Event::Tick { at: t(5000) });
    app
}

#[test]
fn a_watched_service_at_80x24_shows_payloads_rates_and_what_is_not_measured() {
    let app = watched(false);
    let screen = render_for(&app, "http://127.0.0.1:5000/species/", 80, 24);
    assert!(screen.contains("delay n/a"), "{screen}");
    assert!(screen.contains("delay 40ms"), "{screen}");
    assert_snapshot!(screen);
}

#[test]
fn insecure_is_shown_in_the_header() {
    let app = watched(true);
    let screen = render_for(&app, "https://localhost:8443/", 120, 30);
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains("INSECURE"), "{header}");
}

#[test]
fn arrows_scroll_the_payloads_and_home_goes_back() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = watched(false);
    let key = |code| crate::event::Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
    for code in [KeyCode::Down, KeyCode::Down, KeyCode::PageDown, KeyCode::Up] {
        app.update(key(code));
    }
    assert_eq!(app.scroll, 11);
    // Never past the last screenful: both rows still show.
    let screen = render_for(&app, "http://127.0.0.1:5000/species/", 80, 24);
    assert!(screen.contains("Tomate"), "{screen}");
    app.update(key(KeyCode::Home));
    assert_eq!(app.scroll, 0);
}
