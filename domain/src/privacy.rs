//! A person's privacy: what an erased person becomes, and the retention rule that says when a
//! person whose cohorts have all ended is erased without being asked.
//!
//! Erasure removes or replaces what identifies a person (their name, email, external id and
//! the words they wrote) and keeps the numbers cohorts' progress and history depend on, attached
//! to an anonymous member; which columns it touches is the store's (`ARCHITECTURE.md`,
//! "Privacy"). Who may export or erase a person is the access policy's
//! ([`crate::access::may_handle_personal_data`]).

use chrono::{DateTime, Duration, Utc};

use crate::stage::Stage;

/// The display name an erased person keeps.
pub const ERASED_NAME: &str = "Erased member";

/// What an erased person's words become where a column cannot be empty (a nudge's subject).
pub const ERASED_TEXT: &str = "(erased)";

/// The most days a retention setting may say: a hundred years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// How long after their last cohort ended a person is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    days: u32,
}

impl Retention {
    /// A retention of `days` (at least 1, at most [`MAX_RETENTION_DAYS`]).
    pub fn days(days: u32) -> Result<Retention, String> {
        if (1..=MAX_RETENTION_DAYS).contains(&days) {
            Ok(Retention { days })
        } else {
            Err(format!("a retention is 1 to {MAX_RETENTION_DAYS} days, not {days}"))
        }
    }

    pub fn in_days(self) -> u32 {
        self.days
    }

    /// The latest end a cohort may have had at `now` for its people to be erased.
    pub fn cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::days(i64::from(self.days))
    }

    /// Whether a person is erased at `now`, from the cohorts of every membership they hold
    /// (whatever its status: a request, an invitation or one they left count too): only when
    /// they hold at least one, and every one of those cohorts ended (`DISBANDED` or `GRADUATED`,
    /// the terminal stages) at least the retention ago. Someone still in a cohort that has not
    /// ended — active, forming or proposed — is kept, and so is someone in no cohort at all.
    pub fn forgets(self, cohorts: &[CohortEnd], now: DateTime<Utc>) -> bool {
        let cutoff = self.cutoff(now);
        !cohorts.is_empty()
            && cohorts.iter().all(|c| c.stage.is_terminal() && c.ended_at.is_some_and(|ended| ended <= cutoff))
    }
}

/// A cohort of one of the person's memberships: its stage and when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortEnd {
    pub stage: Stage,
    pub ended_at: Option<DateTime<Utc>>,
}

/// The stages whose cohorts have ended: what the store's candidate query filters by.
pub fn ended_stages() -> Vec<Stage> {
    Stage::ALL.iter().copied().filter(|s| s.is_terminal()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default() + Duration::days(days)
    }

    fn ended(stage: Stage, day: i64) -> CohortEnd {
        CohortEnd { stage, ended_at: Some(at(day)) }
    }

    #[test]
    fn people_are_forgotten_once_every_cohort_ended_long_enough_ago() {
        let keep = Retention::days(30).unwrap();
        let now = at(100);
        assert!(keep.forgets(&[ended(Stage::Disbanded, 70)], now), "exactly the retention ago");
        assert!(!keep.forgets(&[ended(Stage::Disbanded, 71)], now), "a day short");
        assert!(keep.forgets(&[ended(Stage::Graduated, 10), ended(Stage::Disbanded, 69)], now));
        assert!(!keep.forgets(&[ended(Stage::Graduated, 10), ended(Stage::Disbanded, 90)], now));
        for live in [Stage::Proposed, Stage::Forming, Stage::Active] {
            let still = CohortEnd { stage: live, ended_at: None };
            assert!(!keep.forgets(&[ended(Stage::Disbanded, 10), still], now), "{live:?}");
        }
        assert!(!keep.forgets(&[], now), "no cohort at all: nothing ended");
        assert!(!keep.forgets(&[CohortEnd { stage: Stage::Disbanded, ended_at: None }], now));
    }

    #[test]
    fn a_retention_is_at_least_a_day_and_at_most_a_century() {
        assert!(Retention::days(0).is_err());
        assert!(Retention::days(MAX_RETENTION_DAYS + 1).is_err());
        assert_eq!(Retention::days(7).map(Retention::in_days), Ok(7));
        assert_eq!(ended_stages(), vec![Stage::Disbanded, Stage::Graduated]);
    }
}
