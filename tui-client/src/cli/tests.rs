//! The flags as a user types them: defaults, lists, bounds and refusals.

use std::time::Duration;

use super::*;
use crate::lane::{LaneKind, Lanes};
use crate::net::HttpChoice;

#[test]
fn defaults_are_the_demo() {
    let cli = Cli::try_parse_from(["pollpush"]).expect("no arguments is valid");
    assert!(cli.command.is_none());
    let c = &cli.connect;
    assert_eq!(c.server, None);
    assert_eq!(c.interval, Duration::from_secs(1));
    assert!((c.simulate - 2.0).abs() < f64::EPSILON);
    assert!(c.poll_settings().etag);
    assert_eq!(c.lanes(), Lanes::default());
}

#[test]
fn lanes_are_chosen_by_name_or_all() {
    let cli = Cli::try_parse_from(["pollpush", "--lanes", "all", "--long-poll-wait", "5s"])
        .expect("valid");
    assert_eq!(cli.connect.lanes().kinds, LaneKind::ALL);
    assert_eq!(cli.connect.lanes().long_poll_wait, Duration::from_secs(5));
    let cli = Cli::try_parse_from(["pollpush", "run", "--lanes", "sse,longpoll"]).expect("valid");
    assert_eq!(
        cli.connect.lanes().kinds,
        [LaneKind::LongPoll, LaneKind::Sse]
    );
    assert!(Cli::try_parse_from(["pollpush", "--lanes", "rest"]).is_err());
    assert!(Cli::try_parse_from(["pollpush", "--long-poll-wait", "90s"]).is_err());
}

#[test]
fn intervals_are_human_and_bounded() {
    let cli = Cli::try_parse_from(["pollpush", "--interval", "250ms"]).expect("valid");
    assert_eq!(cli.connect.interval, Duration::from_millis(250));
    assert!(Cli::try_parse_from(["pollpush", "--interval", "10ms"]).is_err());
    assert!(Cli::try_parse_from(["pollpush", "--interval", "soon"]).is_err());
    assert!(Cli::try_parse_from(["pollpush", "--simulate", "-1"]).is_err());
}

#[test]
fn run_takes_its_own_and_the_shared_flags_in_any_order() {
    let cli = Cli::try_parse_from([
        "pollpush",
        "run",
        "--duration",
        "3s",
        "--format",
        "csv",
        "--interval",
        "2s",
    ])
    .expect("valid");
    let Some(Command::Run(run)) = &cli.command else {
        panic!("run expected")
    };
    assert_eq!(
        (run.duration, run.format),
        (Duration::from_secs(3), RunFormat::Csv)
    );
    assert_eq!(cli.connect.interval, Duration::from_secs(2));
    assert!(Cli::try_parse_from(["pollpush", "run", "--duration", "soon"]).is_err());
    assert!(Cli::try_parse_from(["pollpush", "run", "--format", "xml"]).is_err());
}

#[test]
fn the_token_is_shared_by_every_mode() {
    let cli = Cli::try_parse_from(["pollpush", "load", "--subscribers", "1", "--token", "t"])
        .expect("valid");
    assert_eq!(cli.connect.token.as_deref(), Some("t"));
    let cli = Cli::try_parse_from(["pollpush", "--token", "t", "run"]).expect("valid");
    assert_eq!(cli.connect.token.as_deref(), Some("t"));
}

#[test]
fn http_is_1_1_or_2_and_alpn_decides_without_it() {
    let cli =
        Cli::try_parse_from(["pollpush", "run", "--http", "2", "--new-connection"]).expect("valid");
    assert_eq!(cli.connect.http_choice(), HttpChoice::H2);
    assert!(cli.connect.poll_settings().new_connection);
    let cli = Cli::try_parse_from(["pollpush", "--http", "1.1"]).expect("valid");
    assert_eq!(cli.connect.http_choice(), HttpChoice::H1);
    let cli = Cli::try_parse_from(["pollpush"]).expect("valid");
    assert_eq!(cli.connect.http_choice(), HttpChoice::Auto);
    assert!(!cli.connect.poll_settings().new_connection);
    assert!(Cli::try_parse_from(["pollpush", "--http", "3"]).is_err());
    let cli = Cli::try_parse_from(["pollpush", "load", "--map", "--http", "1.1,2"])
        .expect("a list for the map");
    assert_eq!(cli.connect.http, [HttpChoice::H1, HttpChoice::H2]);
    assert!(cli.connect.one_http().is_err(), "a list is the map's only");
}

#[test]
fn clap_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}
