//! `pollpush load --workers N`: the clients in N child processes of this
//! executable (`load --worker`), each with its own open-file limit and a
//! share of every lane, so that one run can hold more connections than one
//! process may open.
//!
//! The parent keeps the server (embedded, spawned or remote) and its cost.
//! It speaks to each worker in JSON lines:
//! - the worker prints `ready` once its clients are connected (or `failed`);
//! - the parent writes `go` to every ready worker, so the windows start together;
//! - the worker prints `done` with its lanes' tallies when its window ends.
//!
//! The parent then adds the tallies up ([`LaneTally::merge`]). A worker that
//! fails or dies is reported with its reason or exit status, and the run
//! reports what the others measured.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::plan::Clients;
use super::progress::Progress;
use super::report::ServerCost;
use super::server::{Cost, ServerUnderTest};
use super::tally::LaneTally;
use super::{Measured, Settings, wait_window};
use crate::lane::{LaneKind, LaneMap};

/// How long after the window the parent waits for each worker's report
/// (stopping thousands of clients comes after it, not before).
const REPORT_GRACE: Duration = Duration::from_secs(30);

/// The run with the clients in `s.load.workers` worker processes, against
/// `server`, whose cost the parent measures over the same window.
pub(crate) async fn measure(
    s: &Settings<'_>,
    server: &ServerUnderTest,
    clients: &Clients,
    idle: Cost,
    label: &str,
    progress: &Progress,
) -> anyhow::Result<Measured> {
    let ramp_started = tokio::time::Instant::now();
    let urls: Vec<&str> = server.nodes.all().iter().map(|n| n.http.as_str()).collect();
    let mut crew = Crew::spawn(
        &urls.join(","),
        &shares(clients, usize::from(s.load.workers)),
    )?;
    crew.ready(label, progress).await?;
    let ramp_s = ramp_started.elapsed().as_secs_f64();
    server.set_simulator_rate(s.connect.simulate);
    let start = server.cost().await?;
    crew.go().await;
    let running = format!("{} workers, {} clients", crew.members.len(), crew.clients());
    wait_window(s.load.duration, start.at, label, progress, || {
        running.clone()
    })
    .await;
    let end = server.cost().await?;
    progress.phase(format!("{label}: collecting the workers' reports"));
    let lanes = crew.collect(REPORT_GRACE).await;
    Ok(Measured {
        ramp_s,
        wall_s: (end.at - start.at).as_secs_f64(),
        cost: ServerCost::between(server.measured(), &idle, &start, &end),
        lanes,
        failures: crew.failures,
    })
}

/// What a worker prints on stdout, one JSON object a line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// Every client of its share is connected.
    Ready,
    /// Its window is over: each lane's tally, by lane name.
    Done { lanes: Vec<(String, LaneTally)> },
    /// Its clients could not all connect, or the window failed.
    Failed { error: String },
}

/// A worker that did not report: which, and why.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerFailure {
    pub worker: usize,
    pub clients: usize,
    pub reason: String,
}

/// The running workers.
pub struct Crew {
    members: Vec<Member>,
    pub failures: Vec<WorkerFailure>,
}

struct Member {
    index: usize,
    clients: usize,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

/// Every lane's `clients` split over `workers` as evenly as counts allow.
pub fn shares(clients: &Clients, workers: usize) -> Vec<Clients> {
    (0..workers)
        .map(|w| {
            clients
                .iter()
                .map(|&(kind, n)| (kind, n / workers + usize::from(w < n % workers)))
                .filter(|&(_, n)| n > 0)
                .collect()
        })
        .collect()
}

/// The flags a worker runs with: the parent's own (`args`, without the
/// program), less those the parent keeps (the server, the counts, the
/// output), plus the worker's server list and share.
pub fn worker_args(args: &[String], servers: &str, share: &Clients) -> Vec<String> {
    const TAKES_VALUE: [&str; 9] = [
        "--workers",
        "--server",
        "--pollers",
        "--longpollers",
        "--sse",
        "--subscribers",
        "--socketio",
        "--format",
        "--chart",
    ];
    const FLAG: [&str; 1] = ["--spawn-server"];
    let mut out = Vec::with_capacity(args.len() + 12);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let name = arg.split('=').next().unwrap_or(arg);
        if TAKES_VALUE.contains(&name) {
            if !arg.contains('=') {
                rest.next();
            }
        } else if !FLAG.contains(&name) {
            out.push(arg.clone());
        }
    }
    out.extend([
        "--worker".to_owned(),
        "--server".to_owned(),
        servers.to_owned(),
    ]);
    for (kind, flag) in [
        (LaneKind::Poll, "--pollers"),
        (LaneKind::LongPoll, "--longpollers"),
        (LaneKind::Sse, "--sse"),
        (LaneKind::Ws, "--subscribers"),
        (LaneKind::SocketIo, "--socketio"),
    ] {
        let n = super::plan::count(share, kind);
        out.extend([flag.to_owned(), n.to_string()]);
    }
    out
}

impl Crew {
    /// Starts one worker per share, against `servers`.
    pub fn spawn(servers: &str, shares: &[Clients]) -> anyhow::Result<Self> {
        let program = std::env::current_exe().context("cannot find this executable")?;
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut members = Vec::with_capacity(shares.len());
        for (index, share) in shares.iter().enumerate() {
            let mut child = Command::new(&program)
                .args(worker_args(&args, servers, share))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start worker {index}"))?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                bail!("worker {index} has no pipes");
            };
            members.push(Member {
                index,
                clients: share.iter().map(|(_, n)| n).sum(),
                child,
                stdin: Some(stdin),
                lines: BufReader::new(stdout).lines(),
            });
        }
        Ok(Self {
            members,
            failures: Vec::new(),
        })
    }

    /// Waits until every worker connected its share (or failed); fails when none did.
    pub async fn ready(&mut self, label: &str, progress: &Progress) -> anyhow::Result<()> {
        let total = self.members.len();
        let mut ready = Vec::with_capacity(total);
        for mut member in std::mem::take(&mut self.members) {
            progress.phase(format!(
                "{label}: {}/{total} workers ready, waiting for worker {}",
                ready.len(),
                member.index
            ));
            match member.next().await {
                Ok(Report::Ready) => ready.push(member),
                outcome => self.fail(member, outcome).await,
            }
        }
        self.members = ready;
        if self.members.is_empty() {
            let reasons: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
            bail!("no worker connected its clients: {}", reasons.join("; "));
        }
        Ok(())
    }

    /// Clients of the workers still running.
    pub fn clients(&self) -> usize {
        self.members.iter().map(|m| m.clients).sum()
    }

    /// Starts every ready worker's window.
    pub async fn go(&mut self) {
        for member in &mut self.members {
            if let Some(stdin) = &mut member.stdin {
                // A worker that died meanwhile is reported when it does not answer.
                let _ = stdin.write_all(b"go\n").await;
                let _ = stdin.flush().await;
            }
        }
    }

    /// Every worker's tallies, merged lane by lane; waits at most `within`
    /// for each worker's report.
    pub async fn collect(&mut self, within: Duration) -> LaneMap<LaneTally> {
        let mut merged: Vec<(LaneKind, LaneTally)> = Vec::new();
        for mut member in std::mem::take(&mut self.members) {
            let outcome = match tokio::time::timeout(within, member.next()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(anyhow::anyhow!("no report within {within:?}")),
            };
            let Ok(Report::Done { lanes }) = outcome else {
                self.fail(member, outcome).await;
                continue;
            };
            for (name, tally) in lanes {
                let Some(kind) = LaneKind::named(&name) else {
                    continue;
                };
                match merged.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, sum)) => sum.merge(&tally),
                    None => merged.push((kind, tally)),
                }
            }
        }
        merged.sort_by_key(|(kind, _)| *kind);
        LaneMap(merged)
    }

    /// Records why `member` is out, and makes sure it is gone.
    async fn fail(&mut self, mut member: Member, outcome: anyhow::Result<Report>) {
        let reason = match outcome {
            Ok(Report::Failed { error }) => error,
            Ok(other) => format!("unexpected report {other:?}"),
            Err(e) => e.to_string(),
        };
        let _ = member.child.start_kill();
        let status = match member.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => format!("unknown exit ({e})"),
        };
        self.failures.push(WorkerFailure {
            worker: member.index,
            clients: member.clients,
            reason: format!("{reason} ({status})"),
        });
    }
}

impl Member {
    /// The worker's next report; an error when it closed stdout (it exited).
    async fn next(&mut self) -> anyhow::Result<Report> {
        let line = self
            .lines
            .next_line()
            .await
            .context("cannot read the worker's report")?
            .context("the worker exited without a report")?;
        serde_json::from_str(&line).with_context(|| format!("not a worker report: {line:?}"))
    }
}

impl std::fmt::Display for WorkerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "worker {} ({} clients): {}",
            self.worker, self.clients, self.reason
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lane_is_split_evenly_and_nothing_is_lost() {
        let clients = vec![(LaneKind::Sse, 7), (LaneKind::Ws, 2)];
        let shares = shares(&clients, 3);
        assert_eq!(
            shares,
            vec![
                vec![(LaneKind::Sse, 3), (LaneKind::Ws, 1)],
                vec![(LaneKind::Sse, 2), (LaneKind::Ws, 1)],
                vec![(LaneKind::Sse, 2)],
            ]
        );
    }

    #[test]
    fn a_worker_keeps_the_connection_flags_and_gets_its_share() {
        let parent: Vec<String> = [
            "load",
            "--workers",
            "3",
            "--subscribers=90",
            "--sse",
            "30",
            "--spawn-server",
            "--duration",
            "5s",
            "--lanes",
            "sse,ws",
            "--format",
            "csv",
            "--http",
            "2",
        ]
        .map(String::from)
        .to_vec();
        let share = vec![(LaneKind::Sse, 10), (LaneKind::Ws, 30)];
        let args = worker_args(&parent, "http://127.0.0.1:9", &share);
        assert_eq!(
            args.join(" "),
            "load --duration 5s --lanes sse,ws --http 2 --worker --server http://127.0.0.1:9 \
             --pollers 0 --longpollers 0 --sse 10 --subscribers 30 --socketio 0"
        );
    }
}
