//! How a lane speaks (HTTP and TLS versions) and what its TLS handshakes
//! cost, as the panes and the scoreboard show them.

use super::{on, render_for};
use crate::app::fixtures::t;
use crate::app::settings::PollSettings;
use crate::app::{App, Mode, View};
use crate::event::{Handshakes, HttpVersion, LaneUpdate, TlsVersion, TrafficTotals, Wire};
use crate::lane::LaneKind;

/// A poll lane on h2 over TLS 1.3 after one full and three resumed
/// handshakes, and a stream lane over h1.1 in cleartext.
fn over_tls(view: View) -> App {
    let mut app = App::new(Mode::Remote, PollSettings::default(), t(0))
        .with_lanes(&[LaneKind::Poll, LaneKind::Ws]);
    app.view = view;
    let h2 = TrafficTotals {
        bytes_in: 9_000,
        bytes_out: 2_000,
        handshakes: Handshakes {
            full: 1,
            resumed: 3,
        },
        wire: Wire {
            http: Some(HttpVersion::H2),
            tls: Some(TlsVersion::V1_3),
        },
    };
    let not_modified = LaneUpdate::NotModified {
        revision: None,
        server_date: None,
    };
    app.update(on(LaneKind::Poll, 100, h2, not_modified));
    let h1 = TrafficTotals {
        bytes_in: 300,
        bytes_out: 200,
        wire: Wire {
            http: Some(HttpVersion::H1),
            tls: None,
        },
        ..TrafficTotals::default()
    };
    let connected = LaneUpdate::Connected {
        resume_from: None,
        node: "127.0.0.1:1".to_owned(),
    };
    app.update(on(LaneKind::Ws, 100, h1, connected));
    app
}

#[test]
fn a_pane_title_names_its_http_and_tls_and_its_traffic_the_handshakes() {
    let screen = render_for(&over_tls(View::Panes), "https://h", 160, 40);
    assert!(
        screen.contains("REST · h2 · TLS1.3 · poll every"),
        "{screen}"
    );
    assert!(screen.contains("WebSocket · h1.1 · push"), "{screen}");
    assert!(screen.contains("TLS 1 full 3 resumed"), "{screen}");
}

#[test]
fn the_scoreboard_names_http_and_tls_where_the_column_fits() {
    let wide = render_for(&over_tls(View::Scoreboard), "https://h", 100, 30);
    assert!(
        wide.contains("HTTP·TLS") && wide.contains("2 · 1.3"),
        "{wide}"
    );
    let narrow = render_for(&over_tls(View::Scoreboard), "https://h", 80, 24);
    assert!(!narrow.contains("HTTP·TLS"), "{narrow}");
}
