//! `pollpush load --map`: a fixed number of clients of each lane over a grid
//! of change rates and polling intervals, one short run per lane and cell, to
//! show where each lane is the cheapest way to get the freshness it gets.
//!
//! Per cell and lane: the server's CPU, the bytes on the wire and the p99
//! staleness the clients saw. Only polling depends on the interval, so the
//! other lanes are measured once per change rate and shown in every column.

pub mod chart;

use std::time::Duration;

use serde::Serialize;

use super::report::{ProtocolReport, RunReport};
use super::{OneRun, Settings, limits, run_once};
use crate::cli::{ConnectArgs, LoadArgs};
use crate::condition::{Condition, ConditionReport};
use crate::lane::LaneKind;
use crate::load::progress::Progress;

/// The whole map, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct Map {
    pub clients: u32,
    pub cell_seconds: f64,
    pub measured: String,
    /// The rows, in order.
    pub changes_per_s: Vec<f64>,
    /// The columns, in order.
    pub intervals_ms: Vec<u64>,
    /// One per condition, in the order asked.
    pub panels: Vec<Panel>,
}

/// The map under one condition: the same cells as every other panel.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    pub condition: ConditionReport,
    /// Row by row (every interval of the first rate, then the next rate).
    pub cells: Vec<Cell>,
}

/// One change rate × polling interval.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub changes_per_s: f64,
    pub interval_ms: u64,
    /// The cheapest lane for the freshness it gets ([`cheapest`]).
    pub cheapest: Option<&'static str>,
    pub lanes: Vec<LaneCost>,
}

/// What one lane cost and got in one cell.
#[derive(Debug, Clone, Serialize)]
pub struct LaneCost {
    pub lane: &'static str,
    #[serde(skip)]
    pub kind: LaneKind,
    /// Server CPU in percent of one core over the window.
    pub cpu_percent: f64,
    /// Both directions, all clients.
    pub bytes_per_s: f64,
    pub staleness_p99_ms: f64,
    /// Changes the clients never showed, summed.
    pub changes_missed: u64,
    pub errors: u64,
}

impl LaneCost {
    fn read(kind: LaneKind, run: &RunReport, p: &ProtocolReport) -> Self {
        Self {
            lane: kind.name(),
            kind,
            cpu_percent: run.server.cpu_percent,
            bytes_per_s: p.wire.bytes_per_s,
            staleness_p99_ms: p.staleness_ms.p99,
            changes_missed: p.changes_missed,
            errors: p.errors,
        }
    }
}

/// Staleness differences below one 100 ms sample, plus half again, are noise:
/// lanes within this of the freshest count as equally fresh.
const FRESH_SLACK_MS: f64 = 100.0;
const FRESH_RATIO: f64 = 1.5;
/// CPU is read in 10 ms ticks: over a few seconds, lanes within half a point
/// of a core are within a tick or two of each other, and count as equally cheap.
const CPU_TIE_PERCENT: f64 = 0.5;

/// The lane to mark in a cell: among the lanes about as fresh as the freshest
/// (p99 staleness within ×1.5 + 100 ms of the best), the one using the least
/// server CPU; bytes on the wire break a tie (CPU within half a point). Paying more CPU for the same
/// freshness is never marked, and neither is being cheap by being stale.
pub fn cheapest(lanes: &[LaneCost]) -> Option<usize> {
    let best = lanes
        .iter()
        .map(|l| l.staleness_p99_ms)
        .min_by(f64::total_cmp)?;
    let fresh_enough = best * FRESH_RATIO + FRESH_SLACK_MS;
    lanes
        .iter()
        .enumerate()
        .filter(|(_, l)| l.staleness_p99_ms <= fresh_enough)
        .min_by(|(_, a), (_, b)| {
            if (a.cpu_percent - b.cpu_percent).abs() < CPU_TIE_PERCENT {
                a.bytes_per_s.total_cmp(&b.bytes_per_s)
            } else {
                a.cpu_percent.total_cmp(&b.cpu_percent)
            }
        })
        .map(|(i, _)| i)
}

/// Whether a lane's cost depends on the polling interval.
fn polls(kind: LaneKind) -> bool {
    kind == LaneKind::Poll
}

/// Runs every condition, and in each every (rate, lane) and, for polling,
/// every interval; returns the map, a panel per condition.
pub async fn run(connect: &ConnectArgs, load: &LoadArgs) -> anyhow::Result<Map> {
    let args = &load.map;
    if let Some(chart) = &args.map_chart {
        super::chart::check_path(chart)?;
    }
    let conditions = if args.conditions.is_empty() {
        connect.conditions()
    } else {
        connect.conditions_named(&args.conditions)?
    };
    for condition in &conditions {
        connect.check_condition(condition)?;
    }
    let lanes = connect.lanes().kinds;
    let per_rate = lanes.iter().filter(|&&k| !polls(k)).count()
        + lanes.iter().filter(|&&k| polls(k)).count() * args.map_intervals.len();
    let mut sweep = Sweep {
        open_files: limits::raise_open_files(),
        progress: Progress::new(),
        done: 0,
        total: per_rate * args.map_rates.len() * conditions.len(),
        measured: String::new(),
    };
    let mut panels = Vec::with_capacity(conditions.len());
    for condition in &conditions {
        let connect = connect.under(condition);
        let cells = panel(&connect, load, &lanes, condition, &mut sweep).await?;
        panels.push(Panel {
            condition: condition.report(),
            cells,
        });
    }
    sweep.progress.finish();
    Ok(Map {
        clients: args.map_clients,
        cell_seconds: args.map_cell_seconds.as_secs_f64(),
        measured: sweep.measured,
        changes_per_s: args.map_rates.clone(),
        intervals_ms: args
            .map_intervals
            .iter()
            .map(|d| d.as_millis() as u64)
            .collect(),
        panels,
    })
}

/// What the runs of the whole map share.
struct Sweep {
    open_files: u64,
    progress: Progress,
    /// Runs done and to do, over every panel.
    done: usize,
    total: usize,
    measured: String,
}

/// One panel: every cell under one condition.
async fn panel(
    connect: &ConnectArgs,
    load: &LoadArgs,
    lanes: &[LaneKind],
    condition: &Condition,
    sweep: &mut Sweep,
) -> anyhow::Result<Vec<Cell>> {
    let args = &load.map;
    let clients = args.map_clients as usize;
    let mut cells = Vec::new();
    for &rate in &args.map_rates {
        let mut row: Vec<Cell> = args
            .map_intervals
            .iter()
            .map(|interval| Cell {
                changes_per_s: rate,
                interval_ms: interval.as_millis() as u64,
                cheapest: None,
                lanes: Vec::new(),
            })
            .collect();
        for &kind in lanes {
            let intervals: &[Duration] = if polls(kind) {
                &args.map_intervals
            } else {
                &args.map_intervals[..1]
            };
            for (column, &interval) in intervals.iter().enumerate() {
                sweep.done += 1;
                let mut cell_connect = connect.clone();
                cell_connect.simulate = rate;
                cell_connect.interval = interval;
                let mut cell_load = load.clone();
                cell_load.duration = args.map_cell_seconds;
                let settings = Settings {
                    load: &cell_load,
                    connect: &cell_connect,
                    condition,
                };
                let one = OneRun {
                    clients: vec![(kind, clients)],
                    open_files: sweep.open_files,
                    label: format!(
                        "map {}/{} [{}]: {} at {rate}/s",
                        sweep.done,
                        sweep.total,
                        condition.name,
                        kind.name()
                    ),
                };
                let report = run_once(&settings, &one, &sweep.progress).await?;
                sweep.measured.clone_from(&report.server.measured);
                let Some(p) = report.lanes.get(kind.report_key()) else {
                    continue;
                };
                let cost = LaneCost::read(kind, &report, p);
                if polls(kind) {
                    row[column].lanes.push(cost);
                } else {
                    for cell in &mut row {
                        cell.lanes.push(cost.clone());
                    }
                }
            }
        }
        for cell in &mut row {
            cell.cheapest = cheapest(&cell.lanes).map(|i| cell.lanes[i].lane);
        }
        cells.extend(row);
    }
    Ok(cells)
}

impl Map {
    /// One row per condition, cell and lane; every row names its condition.
    pub fn to_csv(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from(
            "condition,profile,tls,http,link,changes_per_s,interval_ms,lane,clients,cpu_percent,bytes_per_s,\
             staleness_p99_ms,changes_missed,errors,cheapest\n",
        );
        for panel in &self.panels {
            let c = &panel.condition;
            for cell in &panel.cells {
                for l in &cell.lanes {
                    let _ = writeln!(
                        out,
                        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                        c.name,
                        c.profile,
                        c.tls,
                        c.http,
                        c.link.as_deref().unwrap_or_default(),
                        cell.changes_per_s,
                        cell.interval_ms,
                        l.lane,
                        self.clients,
                        l.cpu_percent,
                        l.bytes_per_s,
                        l.staleness_p99_ms,
                        l.changes_missed,
                        l.errors,
                        cell.cheapest == Some(l.lane),
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
