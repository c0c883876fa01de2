//! The resource of the talk: a species, and the bodies that create or replace one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Identifier of a species: a positive integer, as in the talk.
pub type SpeciesId = u64;
/// The store revision: incremented by exactly one by every successful write.
pub type Revision = u64;

/// Longest accepted name, in characters.
pub const NAME_MAX_CHARS: usize = 100;

/// A species as the server stores and serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Species {
    /// Positive identifier.
    #[schema(value_type = u64, minimum = 1, example = 1)]
    pub id: SpeciesId,
    /// Display name, as in the talk (`AThaliana`, `Tomate`).
    #[schema(example = "AThaliana")]
    pub name: String,
    /// How many times the species was observed: the live field a monitor watches.
    #[schema(minimum = 0)]
    pub observations: u64,
    /// When the species last changed (RFC 3339, UTC, microseconds).
    #[serde(with = "crate::time::micros")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-25T10:00:00.000000Z")]
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /species`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSpecies {
    /// Optional identifier; the server picks the next free one when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    pub id: Option<SpeciesId>,
    /// 1 to 100 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// Starting count, 0 when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub observations: Option<u64>,
}

/// Body of `PUT /species/{id}`: replaces the name and, when given, the count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpecies {
    /// 1 to 100 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    /// New count; the current one is kept when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    pub observations: Option<u64>,
}

/// An optional non-negative integer that also accepts `3.0`: JSON Schema's
/// `integer` (what the OpenAPI document promises) includes numbers with a zero
/// fraction, so generated clients may send them.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number, 0 or more")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(&v) {
                Ok(Some(v as u64))
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Whole)
}

/// A body field that parsed but is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The offending field, as named in the JSON body.
    pub field: &'static str,
    /// What is wrong with it, for a human.
    pub reason: String,
}

/// The largest integer JavaScript clients (the talk's pages) can hold exactly.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Checks a name against the rules the OpenAPI schema states.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let fail = |reason: &str| {
        Err(ValidationError {
            field: "name",
            reason: reason.to_owned(),
        })
    };
    if name.trim().is_empty() {
        return fail("must not be empty or blank");
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return fail("must be at most 100 characters");
    }
    if name.chars().any(char::is_control) {
        return fail("must not contain control characters");
    }
    Ok(())
}

fn validate_count(field: &'static str, value: Option<u64>) -> Result<(), ValidationError> {
    match value {
        Some(v) if v > MAX_SAFE_INTEGER => Err(ValidationError {
            field,
            reason: format!("must be at most {MAX_SAFE_INTEGER}"),
        }),
        _ => Ok(()),
    }
}

impl NewSpecies {
    /// Applies the rules serde cannot express.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.id == Some(0) {
            return Err(ValidationError {
                field: "id",
                reason: "must be a positive integer".to_owned(),
            });
        }
        validate_count("id", self.id)?;
        validate_name(&self.name)?;
        validate_count("observations", self.observations)
    }
}

impl UpdateSpecies {
    /// Applies the rules serde cannot express.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_name(&self.name)?;
        validate_count("observations", self.observations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn species_json_shape_is_pinned() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T10:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = Species {
            id: 1,
            name: "AThaliana".into(),
            observations: 3,
            updated_at: at,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"id":1,"name":"AThaliana","observations":3,"updated_at":"2026-11-25T10:00:00.500000Z"}"#
        );
        assert_eq!(serde_json::from_str::<Species>(&json).unwrap(), s);
    }

    #[test]
    fn new_species_rejects_unknown_fields_and_negative_counts() {
        assert!(serde_json::from_str::<NewSpecies>(r#"{"name":"x","colour":"red"}"#).is_err());
        assert!(serde_json::from_str::<NewSpecies>(r#"{"name":"x","observations":-1}"#).is_err());
        assert!(serde_json::from_str::<NewSpecies>(r#"{"name":"x","observations":1.5}"#).is_err());
        assert!(serde_json::from_str::<NewSpecies>(r#"{"name":"x","observations":"3"}"#).is_err());
        let whole: NewSpecies = serde_json::from_str(r#"{"name":"x","observations":3.0}"#).unwrap();
        assert_eq!(
            whole.observations,
            Some(3),
            "JSON Schema integers include 3.0"
        );
        let ok: NewSpecies = serde_json::from_str(r#"{"name":"Tomate"}"#).unwrap();
        assert_eq!(ok.observations, None);
        assert_eq!(ok.id, None);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("Tomate").is_ok());
        assert!(validate_name("   ").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a\u{7}b").is_err());
        assert!(validate_name(&"é".repeat(100)).is_ok());
        assert!(validate_name(&"é".repeat(101)).is_err());
    }

    #[test]
    fn zero_id_is_rejected() {
        let body = NewSpecies {
            id: Some(0),
            name: "x".into(),
            observations: None,
        };
        assert_eq!(body.validate().unwrap_err().field, "id");
    }
}
