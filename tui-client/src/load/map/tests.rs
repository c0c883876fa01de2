//! The map's rule for the cheapest lane, and its grid flags.

use super::*;
use crate::cli::MapArgs;
use clap::Parser;

fn lane(kind: LaneKind, cpu_percent: f64, bytes_per_s: f64, p99: f64) -> LaneCost {
    LaneCost {
        lane: kind.name(),
        kind,
        cpu_percent,
        bytes_per_s,
        staleness_p99_ms: p99,
        changes_missed: 0,
        errors: 0,
    }
}

fn marked(lanes: &[LaneCost]) -> Option<&'static str> {
    cheapest(lanes).map(|i| lanes[i].lane)
}

#[test]
fn the_cheapest_of_the_lanes_about_as_fresh_as_the_freshest_is_marked() {
    let lanes = [
        lane(LaneKind::Poll, 2.0, 9_000.0, 900.0),
        lane(LaneKind::Sse, 6.0, 4_000.0, 30.0),
        lane(LaneKind::Ws, 5.0, 3_000.0, 20.0),
    ];
    assert_eq!(
        marked(&lanes),
        Some("ws"),
        "polling is cheap because it is stale"
    );
}

#[test]
fn equal_freshness_goes_to_the_lower_cpu_then_to_fewer_bytes() {
    let lanes = [
        lane(LaneKind::Poll, 1.0, 9_000.0, 90.0),
        lane(LaneKind::Ws, 3.0, 3_000.0, 10.0),
    ];
    assert_eq!(
        marked(&lanes),
        Some("poll"),
        "within 1.5× + 100 ms of the best"
    );
    let tie = [
        lane(LaneKind::Sse, 0.749, 45_000.0, 0.0),
        lane(LaneKind::Ws, 0.75, 39_000.0, 0.0),
    ];
    assert_eq!(marked(&tie), Some("ws"), "a CPU tick apart is a tie");
    assert_eq!(marked(&[]), None);
}

#[derive(Debug, Parser)]
struct Wrapper {
    #[command(flatten)]
    load: LoadArgs,
}

fn parse(args: &[&str]) -> Result<MapArgs, clap::Error> {
    Wrapper::try_parse_from(std::iter::once("load").chain(args.iter().copied())).map(|w| w.load.map)
}

#[test]
fn the_grid_is_read_from_rates_and_intervals() {
    let args = parse(&["--map"]).expect("defaults");
    assert_eq!(args.map_rates, vec![0.1, 1.0, 10.0, 50.0]);
    assert_eq!(
        args.map_intervals,
        vec![
            Duration::from_millis(250),
            Duration::from_secs(1),
            Duration::from_secs(5)
        ]
    );
    assert_eq!(args.map_clients, 200);
    let args = parse(&[
        "--map",
        "--map-rates",
        "2,0.5",
        "--map-intervals",
        "100ms,2s",
        "--map-cell-seconds",
        "3s",
    ])
    .expect("valid");
    assert_eq!(args.map_rates, vec![2.0, 0.5]);
    assert_eq!(
        args.map_intervals,
        vec![Duration::from_millis(100), Duration::from_secs(2)]
    );
    assert_eq!(args.map_cell_seconds, Duration::from_secs(3));
}

#[test]
fn a_bad_grid_is_refused() {
    assert!(parse(&["--map", "--map-rates", "fast"]).is_err());
    assert!(parse(&["--map", "--map-rates", "-1"]).is_err());
    assert!(parse(&["--map", "--map-intervals", "10ms"]).is_err());
    assert!(parse(&["--map", "--map-cell-seconds", "0s"]).is_err());
    assert!(parse(&["--map", "--map-clients", "0"]).is_err());
    assert!(
        parse(&["--map-rates", "1"]).is_err(),
        "grid flags need --map"
    );
    assert!(parse(&["--map", "--sweep", "10"]).is_err());
    assert!(parse(&["--map", "--subscribers", "10"]).is_err());
}
