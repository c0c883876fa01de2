//! The watch lanes against services that are not pollpush servers (each test
//! starts its own on port 0): updates arrive, and the bytes counted match what
//! the service itself wrote on its sockets, TLS included.

mod watch_fixtures;

use std::sync::Arc;
use std::time::Duration;

use pollpush_client::app::settings::PollSettings;
use pollpush_client::event::{Body, Event, LaneUpdate, Payload};
use pollpush_client::lane::{FeedProtocol, LaneKind};
use pollpush_client::net::counting::Traffic;
use pollpush_client::net::origin::Origin;
use pollpush_client::net::tls::{Tls, TlsOptions};
use pollpush_client::net::watch::{Feed, Fields, WatchConfig};
use pollpush_client::net::{Endpoints, LaneConfig, Nodes, run_lane};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use watch_fixtures::Written;

const DEADLINE: Duration = Duration::from_secs(15);

/// One running lane and what it reports.
struct Lane {
    events: mpsc::Receiver<Event>,
    traffic: Arc<Traffic>,
    settings: watch::Sender<PollSettings>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn config(poll: Option<&str>, push: Option<&str>, tls: &TlsOptions) -> WatchConfig {
    WatchConfig {
        poll: poll.map(|url| Origin::parse(url, "http", "https").expect("a poll URL")),
        push: push.map(|url| Feed::parse(url).expect("a push URL")),
        headers: Vec::new(),
        sends: Vec::new(),
        emits: Vec::new(),
        timeout: Duration::from_secs(5),
        tls: Tls::new(tls).expect("TLS configuration"),
        fields: Fields::default(),
    }
}

fn trusting(ca: &std::path::Path) -> TlsOptions {
    TlsOptions {
        ca_certs: vec![ca.to_owned()],
        insecure: false,
    }
}

fn start(kind: LaneKind, config: WatchConfig) -> Lane {
    let (events, inbox) = mpsc::channel(1024);
    let (settings, poll) = watch::channel(PollSettings {
        interval: Duration::from_millis(100),
        ..PollSettings::default()
    });
    let traffic = Arc::new(Traffic::default());
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    let lane = LaneConfig {
        nodes: Nodes::one(Endpoints::local(addr)),
        node: 0,
        poll,
        long_poll_wait: Duration::from_secs(1),
        watch: Some(Arc::new(config)),
    };
    let task = tokio::spawn(run_lane(kind, lane, traffic.clone(), events));
    Lane {
        events: inbox,
        traffic,
        settings,
        task,
    }
}

impl Lane {
    /// The next `n` updates; fails on a lane error or at the deadline.
    async fn updates(&mut self, n: usize) -> Vec<Payload> {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        while seen.len() < n {
            let event = tokio::time::timeout_at(deadline, self.events.recv()).await;
            let Ok(Some(Event::Lane(event))) = event else {
                panic!("only {} of {n} updates in time", seen.len())
            };
            match event.update {
                LaneUpdate::Payload(payload) => seen.push(*payload),
                LaneUpdate::Failed { error, .. } => panic!("the lane failed: {error}"),
                _ => {}
            }
        }
        seen
    }

    /// The first error the lane reports.
    async fn failure(&mut self) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv()).await;
            let Ok(Some(Event::Lane(event))) = event else {
                panic!("no failure in time")
            };
            match event.update {
                LaneUpdate::Failed { error, .. } => return error,
                LaneUpdate::Payload(_) => panic!("an update, not a failure"),
                _ => {}
            }
        }
    }

    /// Waits until the client has read every byte the service wrote, then
    /// checks they agree within 1%.
    async fn received_all_of(&self, written: &Written) {
        let deadline = Instant::now() + DEADLINE;
        while self.traffic.totals().bytes_in < written.get() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (got, sent) = (self.traffic.totals().bytes_in, written.get());
        assert!(sent > 0, "the service wrote nothing");
        let off = got.abs_diff(sent) as f64 / sent as f64;
        assert!(
            off <= 0.01,
            "client counted {got} B, the service wrote {sent} B"
        );
    }
}

#[tokio::test]
async fn https_polling_with_ca_cert_sees_each_new_body_and_counts_tls_bytes() {
    let cert = watch_fixtures::self_signed();
    let server = watch_fixtures::http_json(Some(cert.acceptor.clone())).await;
    let url = format!("https://localhost:{}/species/", server.port);
    let mut lane = start(
        LaneKind::UrlPoll,
        config(Some(&url), None, &trusting(&cert.ca_file)),
    );
    let updates = lane.updates(3).await;
    assert!(
        matches!(&updates[2].body, Body::Json(v) if v[0]["n"] == 3),
        "{updates:?}"
    );
    lane.settings.send_modify(|s| s.paused = true);
    lane.received_all_of(&server.written).await;
}

#[tokio::test]
async fn https_without_the_ca_cert_fails_with_the_hint() {
    let cert = watch_fixtures::self_signed();
    let server = watch_fixtures::http_json(Some(cert.acceptor.clone())).await;
    let url = format!("https://localhost:{}/", server.port);
    let mut lane = start(
        LaneKind::UrlPoll,
        config(Some(&url), None, &TlsOptions::default()),
    );
    let error = lane.failure().await;
    assert!(
        error.contains("certificate not trusted") && error.contains("--ca-cert"),
        "{error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
}

#[tokio::test]
async fn a_self_signed_ca_certificate_given_with_ca_cert_is_trusted_as_the_servers_own() {
    let cert = watch_fixtures::self_signed_ca();
    let server = watch_fixtures::http_json(Some(cert.acceptor.clone())).await;
    let url = format!("https://127.0.0.1:{}/", server.port);
    let mut lane = start(
        LaneKind::UrlPoll,
        config(Some(&url), None, &trusting(&cert.ca_file)),
    );
    assert_eq!(lane.updates(1).await.len(), 1);
}

#[tokio::test]
async fn wss_with_ca_cert_counts_every_message_and_byte() {
    let cert = watch_fixtures::self_signed();
    let server = watch_fixtures::websocket(Some(cert.acceptor.clone()), 20).await;
    let url = format!("wss://localhost:{}/feed", server.port);
    let kind = LaneKind::Feed(FeedProtocol::Ws);
    let mut lane = start(kind, config(None, Some(&url), &trusting(&cert.ca_file)));
    let updates = lane.updates(20).await;
    assert!(matches!(&updates[19].body, Body::Json(v) if v["n"] == 19));
    lane.received_all_of(&server.written).await;
}

#[tokio::test]
async fn wss_without_the_ca_cert_fails_with_the_hint() {
    let cert = watch_fixtures::self_signed();
    let server = watch_fixtures::websocket(Some(cert.acceptor.clone()), 1).await;
    let url = format!("wss://127.0.0.1:{}/", server.port);
    let kind = LaneKind::Feed(FeedProtocol::Ws);
    let mut lane = start(kind, config(None, Some(&url), &TlsOptions::default()));
    let error = lane.failure().await;
    assert!(error.contains("--ca-cert"), "{error}");
}

#[tokio::test]
async fn sse_events_are_updates_with_their_names() {
    let server = watch_fixtures::event_stream(10).await;
    let url = format!("sse+http://127.0.0.1:{}/events", server.port);
    let kind = LaneKind::Feed(FeedProtocol::Sse);
    let mut lane = start(kind, config(None, Some(&url), &TlsOptions::default()));
    let updates = lane.updates(10).await;
    assert_eq!(updates[9].name.as_deref(), Some("tick"));
    lane.received_all_of(&server.written).await;
}

#[tokio::test]
async fn socketio_counts_the_named_event_after_emitting_over_websocket_or_polling() {
    let servers = [
        watch_fixtures::socketio().await,
        watch_fixtures::socketio_polling_only().await,
    ];
    for server in &servers {
        let url = format!("socketio://127.0.0.1:{}/#species", server.port);
        let mut watched = config(None, Some(&url), &TlsOptions::default());
        watched.emits = vec![("hi!".to_owned(), serde_json::Value::Null)];
        let mut lane = start(LaneKind::Feed(FeedProtocol::SocketIo), watched);
        let updates = lane.updates(1).await;
        assert_eq!(updates[0].name.as_deref(), Some("species"));
        assert!(matches!(&updates[0].body, Body::Json(v) if v[1]["name"] == "AThaliana"));
        lane.received_all_of(&server.written).await;
    }
    // Checked last, as its refusal adds to what the server wrote.
    let websocket = format!(
        "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
        servers[1].port
    );
    let refused = tokio_tungstenite::connect_async(websocket).await;
    assert!(refused.is_err(), "the second server must refuse WebSocket");
}

#[tokio::test]
async fn a_wrong_push_scheme_is_one_clear_line() {
    let error = Feed::parse("ftp://127.0.0.1/")
        .expect_err("not a feed")
        .to_string();
    assert!(error.contains("ws://") && !error.contains('\n'), "{error}");
}

#[tokio::test]
async fn the_talks_flask_rest_server_is_polled_in_full_every_time() {
    let Some(peer) = watch_fixtures::peers::start("seed_rest.py").await else {
        return;
    };
    let size = watch_fixtures::peers::answer_size(peer.port, "/species/").await;
    let url = format!("http://127.0.0.1:{}/species/", peer.port);
    let mut lane = start(
        LaneKind::UrlPoll,
        config(Some(&url), None, &TlsOptions::default()),
    );
    // No ETag: every poll is a full 200, and only the first body is new.
    let (mut answers, mut updates) = (0u64, 0);
    let deadline = Instant::now() + DEADLINE;
    let mut paused = false;
    while lane.traffic.totals().bytes_in != answers * size || !paused {
        let event = tokio::time::timeout_at(deadline, lane.events.recv()).await;
        let Ok(Some(Event::Lane(event))) = event else {
            panic!(
                "{answers} answers, {} B in, {size} B each",
                lane.traffic.totals().bytes_in
            )
        };
        match event.update {
            LaneUpdate::Payload(_) => (answers, updates) = (answers + 1, updates + 1),
            LaneUpdate::NotModified { .. } => answers += 1,
            LaneUpdate::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
        if answers >= 4 && !paused {
            lane.settings.send_modify(|s| s.paused = true);
            paused = true;
        }
    }
    assert_eq!(updates, 1, "the list never changes");
    assert!(answers >= 4);
}

#[tokio::test]
async fn the_talks_flask_socketio_server_answers_hi_with_species() {
    let Some(peer) = watch_fixtures::peers::start("seed_socketio.py").await else {
        return;
    };
    let url = format!("socketio://127.0.0.1:{}/#species", peer.port);
    let mut watched = config(None, Some(&url), &TlsOptions::default());
    watched.emits = vec![("hi!".to_owned(), serde_json::json!({"data": "hello"}))];
    let mut lane = start(LaneKind::Feed(FeedProtocol::SocketIo), watched);
    let updates = lane.updates(1).await;
    assert!(
        matches!(&updates[0].body, Body::Json(v) if v[0]["name"] == "ATHALINA"),
        "{updates:?}"
    );
    // Its sockets are Python's: bytes are checked against our own fixtures only.
    assert!(lane.traffic.totals().bytes_in > 0);
}

#[tokio::test]
async fn a_pollpush_server_is_recognised_on_both_lanes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = pollpush_server::Config {
        db: ":memory:".to_owned(),
        simulate: 0.0,
        ..Default::default()
    };
    let server = pollpush_server::Server::start(listener, config)
        .await
        .expect("a pollpush server");
    let addr = server.local_addr();
    let poll = format!("http://{addr}/species");
    let mut lane = start(LaneKind::UrlPoll, config_for(Some(&poll), None));
    assert!(lane.updates(1).await[0].pollpush, "X-Revision");
    let push = format!("ws://{addr}/ws");
    let mut lane = start(
        LaneKind::Feed(FeedProtocol::Ws),
        config_for(None, Some(&push)),
    );
    assert!(lane.updates(1).await[0].pollpush, "hello");
    server.shutdown().await;
}

fn config_for(poll: Option<&str>, push: Option<&str>) -> WatchConfig {
    config(poll, push, &TlsOptions::default())
}

#[tokio::test]
async fn a_socketio_2_server_is_reached_with_engine_io_3_and_pinged() {
    let server = watch_fixtures::socketio_v2().await;
    let url = format!("socketio://127.0.0.1:{}/#species", server.port);
    let mut watched = config_for(None, Some(&url));
    watched.emits = vec![("hi!".to_owned(), serde_json::Value::Null)];
    let mut lane = start(LaneKind::Feed(FeedProtocol::SocketIo), watched);
    let updates = lane.updates(1).await;
    assert!(matches!(&updates[0].body, Body::Json(v) if v[0]["name"] == "Tomate"));
    // Engine.IO 3 clients ping every pingInterval (1 s here): the pong comes back.
    let before = lane.traffic.totals();
    let deadline = Instant::now() + DEADLINE;
    while lane.traffic.totals().bytes_in == before.bytes_in && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = lane.traffic.totals();
    assert!(after.bytes_out > before.bytes_out && after.bytes_in > before.bytes_in);
    lane.received_all_of(&server.written).await;
}

#[tokio::test]
async fn send_messages_go_out_after_connecting() {
    let server = watch_fixtures::websocket_echo().await;
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let mut watched = config_for(None, Some(&url));
    watched.sends = vec![r#"{"subscribe":"a"}"#.to_owned(), "b".to_owned()];
    let mut lane = start(LaneKind::Feed(FeedProtocol::Ws), watched);
    let updates = lane.updates(2).await;
    assert!(matches!(&updates[0].body, Body::Json(v) if v["subscribe"] == "a"));
    assert!(matches!(&updates[1].body, Body::Text { text, .. } if text == "b"));
    lane.received_all_of(&server.written).await;
}

#[tokio::test]
async fn headers_are_sent_and_an_error_status_is_one_line_with_its_status() {
    let server = watch_fixtures::http_requiring("authorization: bearer t0k3n").await;
    let url = format!("http://127.0.0.1:{}/private", server.port);
    let mut refused = start(LaneKind::UrlPoll, config_for(Some(&url), None));
    let error = refused.failure().await;
    assert!(
        error.contains("401 Unauthorized") && error.contains("/private"),
        "{error}"
    );
    let mut watched = config_for(Some(&url), None);
    let header = pollpush_client::net::watch::parse_header("Authorization: Bearer t0k3n");
    watched.headers = vec![header.expect("a valid header")];
    let mut allowed = start(LaneKind::UrlPoll, watched);
    assert_eq!(allowed.updates(1).await.len(), 1);
}

#[tokio::test]
async fn redirects_are_followed_and_counted_with_origin_form_requests() {
    let server = watch_fixtures::http_redirect().await;
    let url = format!("http://127.0.0.1:{}/old", server.port);
    let mut lane = start(LaneKind::UrlPoll, config_for(Some(&url), None));
    let update = lane.updates(1).await.remove(0);
    assert_eq!(update.redirects, 1);
    assert!(
        matches!(&update.body, Body::Text { text, content_type } if text == "moved" && content_type == "text/plain")
    );
    lane.settings.send_modify(|s| s.paused = true);
    lane.received_all_of(&server.written).await;
}

#[tokio::test]
async fn insecure_skips_certificate_checks() {
    let cert = watch_fixtures::self_signed();
    let server = watch_fixtures::websocket(Some(cert.acceptor.clone()), 3).await;
    let url = format!("wss://127.0.0.1:{}/", server.port);
    let insecure = TlsOptions {
        ca_certs: Vec::new(),
        insecure: true,
    };
    let kind = LaneKind::Feed(FeedProtocol::Ws);
    let mut lane = start(kind, config(None, Some(&url), &insecure));
    assert_eq!(lane.updates(3).await.len(), 3);
    lane.received_all_of(&server.written).await;
}
