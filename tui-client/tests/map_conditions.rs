//! `load --map --conditions`: a panel per condition, the condition on every
//! row, and a condition the server cannot give refused in one line.
#![allow(clippy::unwrap_used)]

mod common;

use common::{pollpush, pollpush_ok};
use serde_json::Value;

/// The smallest map: one rate, one interval, poll and ws, `clients` each.
fn tiny_map(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "load",
        "--map",
        "--map-clients",
        "3",
        "--map-rates",
        "2",
        "--map-intervals",
        "500ms",
        "--map-cell-seconds",
        "1s",
        "--lanes",
        "poll,ws",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    args.extend(extra.iter().map(ToString::to_string));
    args
}

#[test]
fn a_map_of_two_conditions_writes_both_and_every_row_names_its_condition() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("map.svg");
    let args = tiny_map(&[
        "--conditions",
        "lab,production",
        "--format",
        "csv",
        "--map-chart",
        chart.to_str().unwrap(),
    ]);
    let csv = pollpush_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..5],
        ["condition", "profile", "tls", "http", "link"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows.len(),
        4,
        "two conditions × two lanes × one cell: {csv}"
    );
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{csv}");
        let expected = match row[0] {
            "lab" => ["minimal", "false", "1.1"],
            "production" => ["browser", "true", "2"],
            other => panic!("a row of no condition asked: {other}"),
        };
        assert_eq!(row[1..4], expected, "{csv}");
        let errors = row[header.iter().position(|h| *h == "errors").unwrap()];
        assert_eq!(errors, "0", "{csv}");
    }
    assert_eq!(rows.iter().filter(|r| r[0] == "lab").count(), 2);
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.contains("lab: minimal profile") && svg.contains("production: browser profile"));
}

#[test]
fn the_json_map_has_a_panel_per_condition() {
    let args = tiny_map(&["--http", "1.1,2"]);
    let map: Value = serde_json::from_str(&pollpush_ok(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .unwrap();
    let panels = map["panels"].as_array().unwrap();
    let names: Vec<&str> = panels
        .iter()
        .map(|p| p["condition"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["h1.1", "h2"]);
    for panel in panels {
        let lanes = panel["cells"][0]["lanes"].as_array().unwrap();
        assert_eq!(lanes.len(), 2, "{panel:#}");
    }
}

#[test]
fn a_condition_that_cannot_run_is_refused_in_one_line() {
    let args = tiny_map(&[
        "--conditions",
        "lab,mobile",
        "--server",
        "http://127.0.0.1:9",
    ]);
    let out = pollpush(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("condition \"mobile\" needs TLS"),
        "{stderr}"
    );
    let out = pollpush(&["load", "--map", "--conditions", "lab,space"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no condition \"space\""), "{stderr}");
    let out = pollpush(&["load", "--map", "--conditions", "lab", "--tls"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("drop --tls or drop --conditions"),
        "{stderr}"
    );
}
