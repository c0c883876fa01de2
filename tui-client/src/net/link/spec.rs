//! `--link "delay 100ms jitter 20ms loss 1% rate 2mbit"`: what the emulated
//! link does, parsed once, and when each chunk written to it arrives at the
//! other end ([`Schedule`]).

use std::fmt;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// The link's settings; every one optional, none means a perfect link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkSpec {
    /// Added to the round-trip time: half on the way out, half on the way back.
    pub delay: Duration,
    /// The round trip varies by up to ± this much (each way ± half of it).
    pub jitter: Duration,
    /// Probability that a packet is lost, in parts per million.
    pub loss_ppm: u32,
    /// Each direction's bandwidth in bits per second.
    pub rate_bps: Option<u64>,
}

/// Why `--link` was not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error(
        "{0:?} is not a link setting: use delay, jitter, loss or rate (e.g. \"delay 100ms loss 1%\")"
    )]
    Unknown(String),
    #[error("{0} needs a value (e.g. \"delay 100ms jitter 20ms loss 1% rate 2mbit\")")]
    Missing(&'static str),
    #[error("{0} is given twice")]
    Twice(&'static str),
    #[error("{what} {value:?}: {reason}")]
    Bad {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("an empty link: give at least one of delay, jitter, loss, rate")]
    Empty,
}

/// TCP's smallest retransmission timeout on Linux.
const MIN_RTO: Duration = Duration::from_millis(200);
/// A TCP segment's payload on Ethernet (1500 − 40 − 12 of timestamps).
pub const SEGMENT_BYTES: usize = 1448;

impl LinkSpec {
    /// Parses `delay D jitter J loss P% rate R` (any order, each at most once).
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let mut spec = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut words = text.split_whitespace();
        while let Some(key) = words.next() {
            let what: &'static str = match key.to_ascii_lowercase().as_str() {
                "delay" => "delay",
                "jitter" => "jitter",
                "loss" => "loss",
                "rate" => "rate",
                _ => return Err(LinkError::Unknown(key.to_owned())),
            };
            if seen.contains(&what) {
                return Err(LinkError::Twice(what));
            }
            seen.push(what);
            let value = words.next().ok_or(LinkError::Missing(what))?;
            let bad = |reason| LinkError::Bad {
                what,
                value: value.to_owned(),
                reason,
            };
            match what {
                "delay" | "jitter" => {
                    let d = humantime::parse_duration(value)
                        .map_err(|_| bad("expected a duration such as 100ms"))?;
                    if d > Duration::from_secs(10) {
                        return Err(bad("at most 10s"));
                    }
                    if what == "delay" {
                        spec.delay = d;
                    } else {
                        spec.jitter = d;
                    }
                }
                "loss" => spec.loss_ppm = parse_loss(value).map_err(bad)?,
                _ => spec.rate_bps = Some(parse_rate(value).map_err(bad)?),
            }
        }
        if seen.is_empty() {
            return Err(LinkError::Empty);
        }
        Ok(spec)
    }

    /// A lost packet's stall before it is delivered: one retransmission
    /// timeout, at least 200 ms and twice the added round trip.
    pub fn rto(&self) -> Duration {
        MIN_RTO.max(self.delay * 2)
    }

    /// The loss as a probability.
    pub fn loss(&self) -> f64 {
        f64::from(self.loss_ppm) / 1e6
    }

    /// Whether a chunk of `bytes` loses a packet: each of its segments is lost
    /// with the link's probability.
    pub fn loses(&self, bytes: usize) -> bool {
        if self.loss_ppm == 0 {
            return false;
        }
        let segments = bytes.div_ceil(SEGMENT_BYTES).max(1);
        let kept = (1.0 - self.loss()).powi(i32::try_from(segments).unwrap_or(i32::MAX));
        rand::rng().random_bool((1.0 - kept).clamp(0.0, 1.0))
    }

    /// One way's delay for one chunk: half the round trip's, ± half the jitter.
    fn one_way(&self) -> Duration {
        let half = self.delay / 2;
        if self.jitter.is_zero() {
            return half;
        }
        let spread = self.jitter.as_secs_f64() / 2.0;
        let offset = rand::rng().random_range(-spread..=spread);
        Duration::from_secs_f64((half.as_secs_f64() + offset).max(0.0))
    }
}

fn parse_loss(value: &str) -> Result<u32, &'static str> {
    let number = value.strip_suffix('%').ok_or("a percentage such as 1%")?;
    let percent: f64 = number.parse().map_err(|_| "a percentage such as 1%")?;
    if (0.0..100.0).contains(&percent) {
        Ok((percent * 10_000.0).round() as u32)
    } else {
        Err("between 0% and 100% (excluded)")
    }
}

fn parse_rate(value: &str) -> Result<u64, &'static str> {
    const HINT: &str = "a rate such as 500kbit, 2mbit or 1gbit";
    let lower = value.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or(HINT)?;
    let (number, unit) = lower.split_at(split);
    let scale = match unit {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        _ => return Err(HINT),
    };
    let rate = number.parse::<f64>().map_err(|_| HINT)? * scale;
    if (1_000.0..=1e12).contains(&rate) {
        Ok(rate as u64)
    } else {
        Err("between 1kbit and 1000gbit")
    }
}

/// The settings as `--link` takes them, shortest form: `delay 150ms loss 1%`.
impl fmt::Display for LinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.delay.is_zero() {
            parts.push(format!("delay {}", humantime::format_duration(self.delay)));
        }
        if !self.jitter.is_zero() {
            parts.push(format!(
                "jitter {}",
                humantime::format_duration(self.jitter)
            ));
        }
        if self.loss_ppm > 0 {
            parts.push(format!("loss {}%", self.loss() * 100.0));
        }
        if let Some(rate) = self.rate_bps {
            parts.push(match rate {
                r if r % 1_000_000 == 0 => format!("rate {}mbit", r / 1_000_000),
                r if r % 1_000 == 0 => format!("rate {}kbit", r / 1_000),
                r => format!("rate {r}bit"),
            });
        }
        f.write_str(&parts.join(" "))
    }
}

/// One direction of a link: when each chunk, written in order, arrives.
#[derive(Debug)]
pub struct Schedule {
    spec: LinkSpec,
    /// When the link has finished sending what it was given so far.
    sending_until: Instant,
    /// The latest arrival so far: TCP delivers in order, so none is earlier.
    last_arrival: Instant,
}

/// When a chunk arrives, and whether it waited for a retransmission.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub at: Instant,
    pub stalled: bool,
}

impl Schedule {
    pub fn new(spec: LinkSpec) -> Self {
        let now = Instant::now();
        Self {
            spec,
            sending_until: now,
            last_arrival: now,
        }
    }

    /// A chunk of `bytes` handed to the link now: it is sent after what is
    /// queued, at the link's rate, then travels one way; a lost packet adds a
    /// retransmission timeout, and everything after it waits (head of line).
    pub fn arrival(&mut self, bytes: usize) -> Arrival {
        let now = Instant::now();
        let sending = self.spec.rate_bps.map_or(Duration::ZERO, |bps| {
            Duration::from_secs_f64(bytes as f64 * 8.0 / bps as f64)
        });
        self.sending_until = self.sending_until.max(now) + sending;
        let stalled = bytes > 0 && self.spec.loses(bytes);
        let stall = if stalled {
            self.spec.rto()
        } else {
            Duration::ZERO
        };
        let at = (self.sending_until + self.spec.one_way() + stall).max(self.last_arrival);
        self.last_arrival = at;
        Arrival { at, stalled }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_parses_in_any_order_and_prints_back() {
        let spec = LinkSpec::parse("rate 2mbit  loss 1% jitter 20ms delay 100ms").expect("valid");
        assert_eq!(
            spec,
            LinkSpec {
                delay: Duration::from_millis(100),
                jitter: Duration::from_millis(20),
                loss_ppm: 10_000,
                rate_bps: Some(2_000_000),
            }
        );
        assert_eq!(
            spec.to_string(),
            "delay 100ms jitter 20ms loss 1% rate 2mbit"
        );
        assert_eq!(LinkSpec::parse("loss 0.5%").expect("valid").loss_ppm, 5_000);
        assert_eq!(spec.rto(), Duration::from_millis(200));
        let slow = LinkSpec::parse("delay 300ms").expect("valid");
        assert_eq!(slow.rto(), Duration::from_millis(600));
    }

    #[test]
    fn a_bad_link_says_what_is_wrong_in_one_line() {
        for (text, needle) in [
            ("", "empty"),
            ("delay", "needs a value"),
            ("delay 100", "duration"),
            ("loss 1", "percentage"),
            ("loss 100%", "100%"),
            ("rate 2mb", "2mbit"),
            ("rate 10bit", "1kbit"),
            ("delay 1s delay 2s", "twice"),
            ("latency 5ms", "not a link setting"),
        ] {
            let error = LinkSpec::parse(text).expect_err(text).to_string();
            assert!(error.contains(needle), "{text}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn the_rate_queues_chunks_and_arrivals_keep_their_order() {
        let spec = LinkSpec::parse("delay 100ms rate 80kbit").expect("valid");
        let mut up = Schedule::new(spec);
        let start = Instant::now();
        // 1000 B at 80 kbit/s take 100 ms to send, then 50 ms to travel; the
        // second waits for the first to be sent.
        let first = up.arrival(1000).at - start;
        let second = up.arrival(1000).at - start;
        let near =
            |d: Duration, ms: u64| d.abs_diff(Duration::from_millis(ms)) < Duration::from_millis(5);
        assert!(
            near(first, 150) && near(second, 250),
            "{first:?} {second:?}"
        );
    }
}
