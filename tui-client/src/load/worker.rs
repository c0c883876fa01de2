//! `pollpush load --worker`: one share of a `--workers` run, in a child
//! process its parent started ([`super::crew`]). It connects its clients to
//! `--server`, prints `ready`, waits for the parent's `go` on stdin (so every
//! worker's window starts together), measures the window and prints `done`
//! with its lanes' tallies. Anything that goes wrong is printed as `failed`.

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use super::crew::Report;
use super::fleet::Fleet;
use super::plan::plan;
use super::progress::Progress;
use super::server::ServerUnderTest;
use super::{connect_all, limits, read_window, start_window};
use crate::cli::{ConnectArgs, LoadArgs};

/// Runs the worker's share; its reports go to stdout.
pub async fn run(connect: &ConnectArgs, args: &LoadArgs) -> anyhow::Result<()> {
    let outcome = share(connect, args).await;
    if let Err(error) = &outcome {
        say(&Report::Failed {
            error: format!("{error:#}"),
        })?;
    }
    outcome
}

async fn share(connect: &ConnectArgs, args: &LoadArgs) -> anyhow::Result<()> {
    let Some(url) = &connect.server else {
        bail!("--worker needs --server");
    };
    let clients = plan(args, &connect.lanes().kinds)?.remove(0);
    let total = clients.iter().map(|(_, n)| n).sum::<usize>();
    limits::check_open_files(total + 1, false, limits::raise_open_files())?;
    let tls = connect.tls()?;
    let server = ServerUnderTest::remote(
        url,
        connect.ws_url.as_deref(),
        connect.token.as_deref(),
        &tls,
    )
    .await?;
    let lanes = connect.lanes();
    let mut fleet = Fleet::start(
        &connect
            .lane_nodes(server.nodes.clone())
            .with_source(args.source_addrs.as_ref()),
        &clients,
        connect.poll_settings(),
        lanes.long_poll_wait,
        connect.time_field.clone(),
    )
    .await
    .context("the server does not answer on /ws")?;
    if let Err(error) = connect_all(&mut fleet, "worker", &Progress::hidden()).await {
        fleet.stop().await;
        return Err(error);
    }
    say(&Report::Ready)?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    match stdin.next_line().await {
        Ok(Some(line)) if line.trim() == "go" => {}
        _ => {
            fleet.stop().await;
            bail!("the parent never said go");
        }
    }
    let bases = start_window(&fleet);
    tokio::time::sleep_until(Instant::now() + args.duration).await;
    let lanes = read_window(&fleet, bases)
        .0
        .into_iter()
        .map(|(kind, tally)| (kind.name().to_owned(), tally))
        .collect();
    // Reported before the clients stop: stopping thousands takes a while.
    let said = say(&Report::Done { lanes });
    fleet.stop().await;
    said
}

/// One report, as one line on stdout.
fn say(report: &Report) -> anyhow::Result<()> {
    use std::io::Write as _;
    let line = serde_json::to_string(report)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
