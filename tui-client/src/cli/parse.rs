//! The checks of the flags' values: durations, intervals, rates and lanes,
//! each with a message that says what would be accepted.

use std::time::Duration;

use super::LaneList;
use crate::lane::{Lanes, MAX_LONG_POLL_WAIT};
use crate::net::link::LinkSpec;
use crate::net::profile::Profile;

pub(super) fn parse_lanes(text: &str) -> Result<LaneList, String> {
    Lanes::parse_kinds(text).map(LaneList)
}

pub(super) fn parse_wait(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (try 30s)"))?;
    if (Duration::from_secs(1)..=MAX_LONG_POLL_WAIT).contains(&d) && d.subsec_nanos() == 0 {
        Ok(d)
    } else {
        Err("must be whole seconds between 1s and 60s".to_owned())
    }
}

/// Shortest and longest polling periods.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
pub const MAX_INTERVAL: Duration = Duration::from_mins(1);

pub(super) fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (try 500ms, 1s, 2m)"))?;
    if (MIN_INTERVAL..=MAX_INTERVAL).contains(&d) {
        Ok(d)
    } else {
        Err("must be between 100ms and 60s".to_owned())
    }
}

pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (try 10s, 2m)"))?;
    if d.is_zero() {
        Err("must be longer than 0s".to_owned())
    } else {
        Ok(d)
    }
}

pub(super) fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if rate.is_finite() && (0.0..=10_000.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("must be between 0 and 10000 changes per second".to_owned())
    }
}

pub(super) fn parse_profile(text: &str) -> Result<Profile, String> {
    Profile::parse(text).map_err(|e| e.to_string())
}

pub(super) fn parse_link(text: &str) -> Result<LinkSpec, String> {
    LinkSpec::parse(text).map_err(|e| e.to_string())
}
