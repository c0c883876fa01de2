//! Timestamps on the wire: RFC 3339, UTC, exactly six fractional digits.
//!
//! chrono's default serializer prints as many digits as the value has, so two
//! equal instants could print differently; a fixed precision keeps ETags and
//! round trips stable.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The current time, truncated to the microsecond precision the wire carries.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Formats a timestamp the way every pollpush message does.
pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Serde `with` module for `DateTime<Utc>` fields.
pub mod micros {
    use super::{DateTime, Deserialize, Deserializer, Serializer, Utc};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
