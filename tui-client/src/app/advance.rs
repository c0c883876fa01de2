//! The one rule for "seen" and "missed", shared by the panes and the load mode:
//! a lane that moves from revision `a` to `b > a` saw one update and missed the
//! `b - a - 1` revisions between (a poll, or a long-poll, may jump several).

use pollpush_shared::Revision;

/// What showing `revision` means for a lane that showed `shown` before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// The lane's first revision: the baseline, neither seen nor missed.
    First,
    /// Not newer than what the lane shows (a duplicate, a replay, a 200 of the same list).
    Stale,
    /// One update seen, `missed` revisions jumped over.
    Forward { from: Revision, missed: u64 },
}

impl Advance {
    pub fn of(shown: Option<Revision>, revision: Revision) -> Self {
        match shown {
            None => Self::First,
            Some(shown) if revision <= shown => Self::Stale,
            Some(shown) => Self::Forward {
                from: shown,
                missed: revision - shown - 1,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_is_one_seen_and_the_gap_missed() {
        assert_eq!(Advance::of(None, 7), Advance::First);
        assert_eq!(Advance::of(Some(7), 7), Advance::Stale);
        assert_eq!(Advance::of(Some(7), 6), Advance::Stale);
        assert_eq!(
            Advance::of(Some(7), 8),
            Advance::Forward { from: 7, missed: 0 }
        );
        assert_eq!(
            Advance::of(Some(7), 11),
            Advance::Forward { from: 7, missed: 3 }
        );
    }
}
