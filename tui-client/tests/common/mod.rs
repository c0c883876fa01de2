//! Helpers of the integration tests: the client's producers and state driven
//! without a terminal, and the built `pollpush` binary run as a user would.
#![allow(dead_code)]

pub mod upstream;

use std::process::{Command, Output};
use std::time::Duration;

use pollpush_client::app::settings::PollSettings;
use pollpush_client::app::{App, Effect};
use pollpush_client::event::Event;
use pollpush_client::lane::{LaneKind, Lanes};
use pollpush_client::net::{Cadence, Producers};
use pollpush_client::target::Target;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The client side of a test: the app and the events feeding it.
pub struct Client {
    pub app: App,
    inbox: mpsc::Receiver<Event>,
    _producers: Producers,
}

impl Client {
    /// The TUI's producers and state against `target`, polling every `interval`.
    pub fn start(target: &Target, interval: Duration) -> Self {
        Self::start_lanes(target, interval, &Lanes::default())
    }

    /// [`Client::start`] with these lanes.
    pub fn start_lanes(target: &Target, interval: Duration, lanes: &Lanes) -> Self {
        let settings = PollSettings {
            interval,
            ..PollSettings::default()
        };
        let (events, inbox) = mpsc::channel(1024);
        let cadence = Cadence {
            tick: Duration::from_millis(50),
            stats: Duration::from_millis(200),
        };
        let producers = Producers::spawn(&target.nodes, lanes, settings, cadence, &events, None);
        let app = App::new(target.mode, settings, pollpush_shared::time::now())
            .with_lanes(&lanes.kinds)
            .with_nodes(target.nodes.labels());
        Self {
            app,
            inbox,
            _producers: producers,
        }
    }

    /// Applies events until `done` holds; fails the test at `within`.
    pub async fn until(&mut self, what: &str, within: Duration, done: impl Fn(&App) -> bool) {
        let deadline = Instant::now() + within;
        while !done(&self.app) {
            let event = tokio::time::timeout_at(deadline, self.inbox.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "timed out waiting for {what}: {:#?}",
                        self.app
                            .lanes
                            .iter()
                            .map(|p| (p.kind, p.counters, &p.node, &p.link))
                            .collect::<Vec<_>>()
                    )
                })
                .expect("producers stopped");
            assert_ne!(self.app.update(event), Some(Effect::Quit));
        }
    }
}

/// A node on a free loopback port, its simulator making `simulate` changes per second.
pub async fn node(simulate: f64, seed: u64) -> pollpush_server::Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let config = pollpush_server::Config {
        simulate,
        seed: Some(seed),
        ..pollpush_server::Config::default()
    };
    pollpush_server::Server::start(listener, config)
        .await
        .expect("a node")
}

impl Client {
    /// After its node went away: waits until streaming lane `kind` is on
    /// `node`, checks that was one failover, and that changes flow again.
    pub async fn fails_over_to(&mut self, kind: LaneKind, node: &str, within: Duration) {
        self.until("a failover", within, |app| {
            app[kind].node.as_deref() == Some(node)
        })
        .await;
        let after = self.app[kind].counters;
        assert_eq!((after.failovers, after.reconnects), (1, 1), "{kind:?}");
        self.until("changes after the failover", within, |app| {
            app[kind].counters.seen >= after.seen + 3
        })
        .await;
    }
}

/// A pollpush-server on port 0 polling `upstream` as feed `talk` every `every`.
pub async fn gateway(upstream: &upstream::Upstream, every: Duration) -> pollpush_server::Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let spec = pollpush_server::gateway::spec::parse_feed(&format!("talk={}", upstream.url()))
        .expect("a valid feed");
    let config = pollpush_server::Config {
        feeds: vec![spec],
        gateway: pollpush_server::gateway::GatewayConfig {
            every,
            ..Default::default()
        },
        ..pollpush_server::Config::default()
    };
    pollpush_server::Server::start(listener, config)
        .await
        .expect("a gateway")
}

/// `pollpush args`, with its exit status and both outputs.
pub fn pollpush(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pollpush"))
        .args(args)
        .output()
        .expect("the pollpush binary runs")
}

/// `pollpush args`, which must succeed; its stdout.
pub fn pollpush_ok(args: &[&str]) -> String {
    let out = pollpush(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Exits non-zero with one clear message on stderr that mentions `needle`, and no report.
pub fn assert_refused(args: &[&str], needle: &str) {
    let out = pollpush(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(needle),
        "{args:?}: {needle:?} not in {stderr}"
    );
    assert!(out.stdout.is_empty(), "{args:?} printed a report");
}

/// Waits for every lane's first list, then makes `changes` changes one at a
/// time through `writes` (the `n` key's path), each seen by every lane before
/// the next; then no lane may have missed one.
pub async fn every_lane_sees_every_change(
    server: &pollpush_server::Server,
    client: &mut Client,
    writes: &pollpush_client::net::Endpoints,
    changes: u64,
) {
    const WITHIN: Duration = Duration::from_secs(20);
    let writer = pollpush_client::net::control::client();
    client
        .until("every lane's first list", WITHIN, |app| {
            app.lanes.iter().all(|p| p.revision.is_some())
        })
        .await;
    for _ in 0..changes {
        pollpush_client::net::control::write_now(&writer, writes)
            .await
            .expect("a write");
        let revision = server.stats().revision;
        client
            .until("every lane at the new revision", WITHIN, |app| {
                app.lanes.iter().all(|p| p.revision == Some(revision))
            })
            .await;
    }
    for pane in &client.app.lanes {
        let c = &pane.counters;
        assert_eq!(
            (c.seen, c.missed, c.errors),
            (changes, 0, 0),
            "{:?}",
            pane.kind
        );
    }
}
