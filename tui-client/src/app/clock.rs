//! The server's clock relative to ours, so staleness computed from server
//! timestamps stays right against a remote server whose clock is off.

use chrono::{DateTime, TimeDelta, Utc};

/// Where the server clock stands relative to ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// The embedded server shares our clock.
    SameProcess,
    /// Not estimated yet: assume zero.
    Unknown,
    /// From the HTTP `Date` header (one-second resolution).
    HttpDate,
    /// From `hello.server_time` (microseconds, minus the one-way delay).
    Hello,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Server time minus local time.
    pub offset: TimeDelta,
    pub source: ClockSource,
}

impl Clock {
    pub fn server_now(&self, local: DateTime<Utc>) -> DateTime<Utc> {
        local + self.offset
    }

    pub(super) fn adopt_hello(&mut self, server_time: DateTime<Utc>, at: DateTime<Utc>) {
        if self.source != ClockSource::SameProcess {
            self.offset = server_time - at;
            self.source = ClockSource::Hello;
        }
    }

    pub(super) fn adopt_date(&mut self, date: DateTime<Utc>, at: DateTime<Utc>) {
        if self.source == ClockSource::Unknown {
            // `Date` is truncated to the second: compare with the middle of that second.
            let offset = date + TimeDelta::milliseconds(500) - at;
            self.offset = if offset.abs() < TimeDelta::seconds(1) {
                TimeDelta::zero()
            } else {
                offset
            };
            self.source = ClockSource::HttpDate;
        }
    }
}
