//! Numbers as a person reads them: `1.2 kB`, `420 ms`, `+12 ms`.

use std::time::Duration;

use chrono::TimeDelta;

/// Bytes with a decimal unit.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1_000.0 {
        format!("{n} B")
    } else if n < 1_000_000.0 {
        format!("{:.1} kB", n / 1e3)
    } else if n < 1_000_000_000.0 {
        format!("{:.1} MB", n / 1e6)
    } else {
        format!("{:.2} GB", n / 1e9)
    }
}

/// A count with thousands separators: `30,012`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A short duration, unit glued on to stay narrow: `420ms`, `1.2s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 && !d.is_zero() {
        format!("{:.0}µs", d.as_secs_f64() * 1e6)
    } else if ms < 999.5 {
        format!("{ms:.0}ms")
    } else if ms < 59_950.0 {
        format!("{:.1}s", ms / 1e3)
    } else {
        format!("{:.0}s", ms / 1e3)
    }
}

/// A polling interval as the title shows it: `100 ms`, `1.0 s`, `60 s`.
pub fn interval(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d < Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} s", d.as_secs())
    }
}

/// A clock offset with its sign.
pub fn signed_ms(d: TimeDelta) -> String {
    format!("{:+} ms", d.num_milliseconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_234), "1.2 kB");
        assert_eq!(bytes(25_300_000), "25.3 MB");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(30_012), "30,012");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(duration(Duration::from_millis(420)), "420ms");
        assert_eq!(duration(Duration::from_millis(1_250)), "1.2s");
        assert_eq!(duration(Duration::ZERO), "0ms");
        assert_eq!(duration(Duration::from_micros(999_700)), "1.0s");
        assert_eq!(interval(Duration::from_millis(100)), "100 ms");
        assert_eq!(interval(Duration::from_secs(1)), "1.0 s");
        assert_eq!(signed_ms(TimeDelta::milliseconds(-12)), "-12 ms");
    }
}
