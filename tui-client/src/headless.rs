//! `pollpush run`: the lanes' producers and state without a terminal.
//!
//! The same [`Producers`] feed the same [`App::update`] as in the TUI; only the
//! consumer differs: instead of drawing, it writes a row per second and a
//! summary ([`report`]). Tests call [`record`] directly.

pub mod report;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::App;
use crate::app::pane::Link;
use crate::app::settings::PollSettings;
use crate::cli::{ConnectArgs, RunArgs};
use crate::lane::{LaneKind, Lanes};
use crate::net::{Cadence, NetError, Producers, control};
use crate::target::{Target, TargetError};
use report::{ProtocolReport, Summary, Writer};

#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("cannot reach the server at {url}: {error}")]
    Unreachable { url: String, error: NetError },
    #[error(transparent)]
    NotPollpush(NetError),
    #[error("cannot write the report")]
    Output(#[from] std::io::Error),
}

/// What one recording needs besides its target.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub duration: Duration,
    pub lanes: Lanes,
    pub settings: PollSettings,
    pub cadence: Cadence,
    /// `--time-field`, for a feed's items.
    pub feed_time: Option<String>,
}

/// Runs every lane's producer against `target` for `duration`, calling `each_second`
/// with the seconds elapsed and the state at every whole second; returns the final state.
pub async fn record(
    target: &Target,
    options: &RecordOptions,
    mut each_second: impl FnMut(f64, &App) -> std::io::Result<()>,
) -> Result<App, HeadlessError> {
    let (events, mut inbox) = mpsc::channel(4096);
    let producers = Producers::spawn(
        &target.nodes,
        &options.lanes,
        options.settings,
        options.cadence,
        &events,
        target.watch.as_ref(),
    );
    drop(events);
    let mut app = App::new(target.mode, options.settings, pollpush_shared::time::now())
        .with_lanes(&options.lanes.kinds)
        .with_nodes(target.nodes.labels())
        .with_feed(target.nodes.poll().feed.clone())
        .with_feed_time(options.feed_time.clone());
    let start = Instant::now();
    let end = start + options.duration;
    let mut next_second = start + Duration::from_secs(1);
    loop {
        let wake = next_second.min(end);
        match tokio::time::timeout_at(wake, inbox.recv()).await {
            // No keys reach a headless run, so there is no effect to perform.
            Ok(Some(event)) => {
                let _ = app.update(event);
            }
            Ok(None) => break,
            Err(_) => {}
        }
        let now = Instant::now();
        if now >= next_second && next_second < end {
            each_second((next_second - start).as_secs_f64(), &app)?;
            next_second += Duration::from_secs(1);
        }
        if now >= end {
            break;
        }
    }
    drop(producers);
    while let Ok(event) = inbox.try_recv() {
        let _ = app.update(event);
    }
    Ok(app)
}

/// The summary of a finished recording.
pub fn summarize(app: &App, options: &RecordOptions, server: &str) -> Summary {
    Summary {
        kind: "summary",
        duration_s: options.duration.as_secs_f64(),
        interval_ms: options.settings.interval.as_millis() as u64,
        etag: options.settings.etag,
        server: server.to_owned(),
        conditions: None,
        long_poll_wait_s: options
            .lanes
            .has(LaneKind::LongPoll)
            .then_some(options.lanes.long_poll_wait.as_secs()),
        lanes: report::lane_reports(app),
        cluster: app
            .server
            .stats
            .as_ref()
            .and_then(|s| s.cluster.as_ref())
            .map(|c| c.totals.clone()),
    }
}

/// `pollpush run`: checks the server answers, records, and writes the report.
pub async fn run(connect: &ConnectArgs, args: &RunArgs) -> Result<Summary, HeadlessError> {
    let target = connect.target().await?;
    if connect.server.is_some() {
        // Every node named must answer now: a typo in a cluster's list would
        // otherwise show up only as a failover in the report.
        for node in target.nodes.all() {
            if let Err(error) = control::stats(node, connect.token.as_deref()).await {
                if matches!(error, NetError::NotPollpush(_)) {
                    return Err(HeadlessError::NotPollpush(error));
                }
                let url = node.http.clone();
                return Err(HeadlessError::Unreachable { url, error });
            }
        }
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::stdout().lock()),
    };
    let options = RecordOptions {
        duration: args.duration,
        lanes: connect.lanes(),
        settings: connect.poll_settings(),
        cadence: Cadence::default(),
        feed_time: connect.time_field.clone(),
    };
    let progress = std::io::stderr().is_terminal();
    // The progress line names the conditions its numbers were measured under.
    let conditions = connect
        .conditions()
        .first()
        .filter(|_| !connect.watching())
        .map(|c| format!("[{}] ", c.name))
        .unwrap_or_default();
    let mut writer = Writer::new(&mut *out, args.format)?;
    let recorded = record(&target, &options, |t, app| {
        let rows: Vec<ProtocolReport> = report::lane_reports(app).values().cloned().collect();
        if progress {
            let lanes: Vec<String> = rows
                .iter()
                .map(|r| {
                    let (seen, missed) = (r.changes_seen, r.changes_missed);
                    format!("{} seen {seen} missed {missed}", r.protocol)
                })
                .collect();
            let total = options.duration.as_secs_f64();
            eprint!(
                "\r{conditions}{t:>5.0}/{total:.0} s · {}   ",
                lanes.join(" · ")
            );
        }
        writer.second(t, &rows)
    })
    .await;
    if progress {
        eprintln!();
    }
    let recorded = recorded?;
    // The report counts errors; the reason a lane is still failing goes to stderr.
    for pane in &recorded.lanes {
        if let Link::Retrying { error, .. } = &pane.link {
            eprintln!("pollpush: {} lane: {error}", pane.kind.name());
        }
    }
    let mut summary = summarize(&recorded, &options, &target.label);
    if !connect.watching() {
        summary.conditions = connect
            .conditions()
            .first()
            .map(crate::condition::Condition::report);
    }
    writer.summary(&summary)?;
    target.shutdown().await;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use pollpush_shared::{ClusterStats, ClusterTotals};

    use super::*;
    use crate::app::Mode;
    use crate::app::fixtures::{stats, t};

    fn options() -> RecordOptions {
        RecordOptions {
            duration: Duration::from_secs(1),
            lanes: Lanes::default(),
            settings: PollSettings::default(),
            cadence: Cadence::default(),
            feed_time: None,
        }
    }

    #[test]
    fn the_summary_has_the_cluster_totals_only_from_a_cluster() {
        let mut app = App::new(Mode::Remote, PollSettings::default(), t(0))
            .with_nodes(vec!["a:1".into(), "b:2".into()]);
        app.update(stats(0, 1.0, 0.0, |_| {}));
        let lone = serde_json::to_value(summarize(&app, &options(), "a")).expect("json");
        assert!(lone.get("cluster").is_none(), "{lone}");
        assert_eq!(lone["rest"]["node"], "a:1");
        assert!(lone.get("longpoll").is_none(), "only the lanes that ran");

        let totals = ClusterTotals {
            nodes: 3,
            connections: 12,
            subscribers: 9,
            rss_bytes: 3_000,
        };
        let cluster = ClusterStats {
            nodes: Vec::new(),
            totals: totals.clone(),
        };
        app.update(stats(1_000, 2.0, 0.0, |s| s.cluster = Some(cluster)));
        let summary = summarize(&app, &options(), "a");
        assert_eq!(summary.cluster, Some(totals));
    }
}
