//! `since`, as a client gives it on any lane: a revision this server can hold.
//!
//! Revisions are 64-bit signed integers in both stores (SQLite `INTEGER`,
//! PostgreSQL `BIGINT`), so a `since` above `i64::MAX` names no change. Taken
//! as "no since", it would quietly send a snapshot where the client asked to
//! resume; it is refused instead, with the same words on every lane (SSE and
//! its `Last-Event-ID`, `/ws` `subscribe`, socket.io `subscribe`).

use std::num::IntErrorKind;

use pollpush_shared::{Problem, Revision};

/// The largest revision a store can hold.
pub const MAX: Revision = i64::MAX as Revision;

/// Why a `since` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSince {
    #[error("since is a revision (a whole number), not {0:?}")]
    NotANumber(String),
    #[error("since {0} is past the largest revision, {MAX}")]
    TooLarge(String),
}

impl BadSince {
    /// The `400` answer of the HTTP lanes.
    pub fn problem(&self) -> Problem {
        Problem::new("bad-since", "Invalid since", 400, self.to_string())
    }
}

/// A revision the client sent as a number (`/ws`, socket.io).
pub fn check(since: Revision) -> Result<Revision, BadSince> {
    if since > MAX {
        return Err(BadSince::TooLarge(since.to_string()));
    }
    Ok(since)
}

/// A revision the client sent as text (`?since=`, `Last-Event-ID`).
pub fn parse(raw: &str) -> Result<Revision, BadSince> {
    match raw.parse::<Revision>() {
        Ok(since) => check(since),
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Err(BadSince::TooLarge(raw.to_owned())),
        Err(_) => Err(BadSince::NotANumber(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_revision_a_store_can_hold_is_accepted() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("9223372036854775807"), Ok(MAX));
        assert_eq!(check(MAX), Ok(MAX));
    }

    #[test]
    fn a_number_past_the_largest_revision_is_too_large_not_garbage() {
        for raw in [
            "9223372036854775808",
            "18446744073709551615",
            "99999999999999999999999",
        ] {
            assert_eq!(parse(raw), Err(BadSince::TooLarge(raw.to_owned())), "{raw}");
        }
        assert!(matches!(check(MAX + 1), Err(BadSince::TooLarge(_))));
    }

    #[test]
    fn what_is_not_a_whole_number_is_not_a_revision() {
        for raw in ["", "-1", "1.5", "abc", " 7"] {
            assert_eq!(
                parse(raw),
                Err(BadSince::NotANumber(raw.to_owned())),
                "{raw}"
            );
        }
    }
}
