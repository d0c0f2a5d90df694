//! Goals and progress: how check-ins become `current`, `fraction`, `expectedFraction` and `pace`.
//!
//! The thresholds live here and nowhere else:
//! - `expectedFraction` is linear from the cohort's activation to the end of the deadline day
//!   (midnight UTC after the deadline date); before activation it is 0.
//! - `pace` is `AHEAD` when progress leads the expected fraction by more than
//!   [`PACE_TOLERANCE`], `BEHIND` when it trails by more than that, `ON_TRACK` in between, and
//!   `NO_DEADLINE` for a goal without a deadline.
//! - Every number a goal or a check-in brings is finite and at most [`MAX_MAGNITUDE`] either
//!   side of zero, so a sum of any number of check-ins a store can hold stays finite (2^53
//!   check-ins of 10^12 are about 10^28). Progress is computed safely anyway: a result that is
//!   not finite (from values stored before the bound) is clamped to the largest finite number,
//!   and a fraction that is not a number is 0.

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::DomainError;
use crate::cohort::named_enum;
use crate::text::{self, GOAL_TITLE, GOAL_UNIT};

/// How far progress may lead or trail the linear pace and still be `ON_TRACK`.
pub const PACE_TOLERANCE: f64 = 0.05;

/// The largest magnitude of a goal's target or start value and of a check-in's value: 10^12.
pub const MAX_MAGNITUDE: f64 = 1e12;

/// Checks one number of a goal or a check-in: finite and within [`MAX_MAGNITUDE`] of zero.
pub fn parse_value(field: &'static str, value: f64) -> Result<f64, DomainError> {
    if !value.is_finite() {
        return Err(DomainError::invalid(field, format!("{field} must be a finite number")));
    }
    if value.abs() > MAX_MAGNITUDE {
        return Err(DomainError::invalid(
            field,
            format!("{field} must be between -{MAX_MAGNITUDE:e} and {MAX_MAGNITUDE:e} (got {value:e})"),
        ));
    }
    Ok(value)
}

/// A finite stand-in for a result: NaN becomes 0, an infinity the largest finite number of its
/// sign.
fn finite(value: f64) -> f64 {
    if value.is_nan() { 0.0 } else { value.clamp(f64::MIN, f64::MAX) }
}

named_enum!(
    /// How check-ins become progress.
    Aggregation { Sum => "SUM", EachMember => "EACH_MEMBER", Average => "AVERAGE" }
);

named_enum!(
    /// Where a goal stands.
    GoalStatus { Open => "OPEN", Achieved => "ACHIEVED", Abandoned => "ABANDONED" }
);

named_enum!(
    /// Progress measured against the linear pace to the deadline.
    Pace { Ahead => "AHEAD", OnTrack => "ON_TRACK", Behind => "BEHIND", NoDeadline => "NO_DEADLINE" }
);

/// A goal's measurable target. Built only by [`GoalSpec::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct GoalSpec {
    title: String,
    unit: String,
    target: f64,
    start_value: Option<f64>,
    aggregation: Aggregation,
    deadline: Option<NaiveDate>,
}

impl GoalSpec {
    /// Validates a new goal: texts within limits, finite numbers within [`MAX_MAGNITUDE`], a
    /// target that differs from the start value.
    pub fn parse(
        title: &str,
        unit: &str,
        target: f64,
        start_value: Option<f64>,
        aggregation: Aggregation,
        deadline: Option<NaiveDate>,
    ) -> Result<Self, DomainError> {
        let title = text::parse(GOAL_TITLE, title)?;
        let unit = text::parse(GOAL_UNIT, unit)?;
        let target = parse_value("target", target)?;
        let start_value = start_value.map(|v| parse_value("startValue", v)).transpose()?;
        if target == start_value.unwrap_or(0.0) {
            return Err(DomainError::invalid("target", "target must differ from the start value"));
        }
        Ok(GoalSpec { title, unit, target, start_value, aggregation, deadline })
    }

    /// Rebuilds a goal that was valid when stored.
    pub fn from_stored(
        target: f64,
        start_value: Option<f64>,
        aggregation: Aggregation,
        deadline: Option<NaiveDate>,
    ) -> Self {
        GoalSpec { title: String::new(), unit: String::new(), target, start_value, aggregation, deadline }
    }

    pub fn title(&self) -> &str {
        &self.title
    }
    pub fn unit(&self) -> &str {
        &self.unit
    }
    pub fn target(&self) -> f64 {
        self.target
    }
    pub fn start_value(&self) -> Option<f64> {
        self.start_value
    }
    pub fn aggregation(&self) -> Aggregation {
        self.aggregation
    }
    pub fn deadline(&self) -> Option<NaiveDate> {
        self.deadline
    }

    fn start(&self) -> f64 {
        self.start_value.unwrap_or(0.0)
    }

    /// Whether one more check-in of `value` could bring the goal nearer its target. One that
    /// cannot leaves the goal no nearer being reached than it was: no value (it changes neither a
    /// sum nor a member's latest value); for a sum, a value that does not move towards the target;
    /// for each member, a value short of the target (the members at their target can only become
    /// fewer). For an average any value may raise it, since it replaces the member's latest.
    pub fn could_advance(&self, value: Option<f64>) -> bool {
        let Some(value) = value else { return false };
        match self.aggregation {
            Aggregation::Sum => value * (self.target - self.start()) > 0.0,
            Aggregation::Average => true,
            Aggregation::EachMember => self.share(value) >= 1.0,
        }
    }

    /// The share of the way from start to target that `value` has come, in [0, 1]. Works for
    /// goals that count down (target below start) as well as up.
    fn share(&self, value: f64) -> f64 {
        let span = self.target - self.start();
        if span == 0.0 {
            return 0.0;
        }
        let share = (value - self.start()) / span;
        if share.is_nan() { 0.0 } else { share.clamp(0.0, 1.0) }
    }

    /// The moment the deadline passes: the end of the deadline day, in UTC.
    pub fn deadline_end(&self) -> Option<DateTime<Utc>> {
        let next_day = self.deadline?.checked_add_days(Days::new(1))?;
        Some(next_day.and_hms_opt(0, 0, 0)?.and_utc())
    }
}

/// The check-ins behind one goal, as of the moment asked about, already reduced by the store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observations {
    /// Sum of every check-in value (used by `SUM`).
    pub total: f64,
    /// The latest value of each active, goal-counting member who reported one (used by
    /// `EACH_MEMBER` and `AVERAGE`).
    pub latest_values: Vec<f64>,
    /// How many active, goal-counting members the cohort has.
    pub active_members: u32,
}

/// A goal's progress as of one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// `SUM`: start value plus every value; `AVERAGE`: the mean of members' latest values
    /// (members who never reported count at the start value); `EACH_MEMBER`: how many members
    /// reached the target.
    pub current: f64,
    /// The goal's target; for `EACH_MEMBER`, the number of active members.
    pub target: f64,
    /// Capped at 1.
    pub fraction: f64,
    pub expected_fraction: Option<f64>,
    pub pace: Pace,
}

/// Computes progress as of `as_of`, for a cohort activated at `activated_at`.
pub fn progress(
    goal: &GoalSpec,
    observed: &Observations,
    activated_at: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> Progress {
    let (current, target, fraction) = match goal.aggregation {
        Aggregation::Sum => {
            let current = goal.start() + observed.total;
            (current, goal.target, goal.share(current))
        }
        Aggregation::Average => {
            let members = observed.active_members.max(observed.latest_values.len() as u32);
            let current = if members == 0 {
                goal.start()
            } else {
                let missing = f64::from(members) - observed.latest_values.len() as f64;
                (observed.latest_values.iter().sum::<f64>() + missing * goal.start()) / f64::from(members)
            };
            (current, goal.target, goal.share(current))
        }
        Aggregation::EachMember => {
            let reached = observed.latest_values.iter().filter(|v| goal.share(**v) >= 1.0).count() as f64;
            let members = f64::from(observed.active_members);
            let fraction = if members == 0.0 { 0.0 } else { (reached / members).min(1.0) };
            (reached, members, fraction)
        }
    };
    let (current, target) = (finite(current), finite(target));
    let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
    let expected_fraction = expected_fraction(goal, activated_at, as_of);
    let pace = match expected_fraction {
        None => Pace::NoDeadline,
        // The epsilon keeps a lead of exactly the tolerance `ON_TRACK` despite binary fractions.
        Some(expected) if fraction - expected > PACE_TOLERANCE + 1e-9 => Pace::Ahead,
        Some(expected) if expected - fraction > PACE_TOLERANCE + 1e-9 => Pace::Behind,
        Some(_) => Pace::OnTrack,
    };
    Progress { current, target, fraction, expected_fraction, pace }
}

/// The fraction a goal should have reached by `as_of` at a steady pace; `None` without deadline.
pub fn expected_fraction(goal: &GoalSpec, activated_at: Option<DateTime<Utc>>, as_of: DateTime<Utc>) -> Option<f64> {
    let end = goal.deadline_end()?;
    let Some(start) = activated_at else { return Some(0.0) };
    if as_of <= start {
        return Some(0.0);
    }
    if end <= start || as_of >= end {
        return Some(1.0);
    }
    let elapsed = (as_of - start).num_microseconds().unwrap_or(i64::MAX) as f64;
    let total = (end - start).num_microseconds().unwrap_or(i64::MAX) as f64;
    Some((elapsed / total).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).single().unwrap_or_default()
    }

    fn goal(aggregation: Aggregation, target: f64, deadline: Option<NaiveDate>) -> GoalSpec {
        GoalSpec::parse("Read chapters", "chapters", target, None, aggregation, deadline)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Deadline Nov 10: the pace line runs from Nov 1 00:00 to Nov 11 00:00 (ten days).
    fn nov_10() -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(2026, 11, 10)
    }

    #[test]
    fn only_a_check_in_that_could_advance_the_goal_is_said_to() {
        let up = goal(Aggregation::Sum, 100.0, None);
        assert!(up.could_advance(Some(1.0)));
        assert!(!up.could_advance(Some(0.0)) && !up.could_advance(Some(-3.0)) && !up.could_advance(None));
        let down =
            GoalSpec::parse("kg", "kg", 70.0, Some(80.0), Aggregation::Sum, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(down.could_advance(Some(-0.5)) && !down.could_advance(Some(0.5)));
        // Refused when set, but a stored goal is read as it is.
        assert!(!GoalSpec::from_stored(5.0, Some(5.0), Aggregation::Sum, None).could_advance(Some(1.0)));
        let each = goal(Aggregation::EachMember, 10.0, None);
        assert!(each.could_advance(Some(10.0)) && each.could_advance(Some(12.0)));
        assert!(!each.could_advance(Some(9.9)) && !each.could_advance(None));
        let average = goal(Aggregation::Average, 10.0, None);
        assert!(average.could_advance(Some(-1.0)) && average.could_advance(Some(3.0)) && !average.could_advance(None));
    }

    #[test]
    fn sum_adds_every_value_to_the_start() {
        let g =
            GoalSpec::parse("km", "km", 100.0, Some(10.0), Aggregation::Sum, None).unwrap_or_else(|e| panic!("{e}"));
        let p = progress(&g, &Observations { total: 45.0, ..Default::default() }, Some(day(1)), day(5));
        assert_eq!((p.current, p.target, p.fraction, p.pace), (55.0, 100.0, 0.5, Pace::NoDeadline));
        assert_eq!(p.expected_fraction, None);
    }

    #[test]
    fn fraction_is_capped_at_one() {
        let g = goal(Aggregation::Sum, 10.0, None);
        let p = progress(&g, &Observations { total: 25.0, ..Default::default() }, Some(day(1)), day(5));
        assert_eq!((p.current, p.fraction), (25.0, 1.0));
    }

    #[test]
    fn each_member_counts_the_share_of_members_at_target() {
        let g = goal(Aggregation::EachMember, 10.0, None);
        let obs = Observations { total: 0.0, latest_values: vec![10.0, 12.0, 3.0], active_members: 4 };
        let p = progress(&g, &obs, Some(day(1)), day(5));
        assert_eq!((p.current, p.target, p.fraction), (2.0, 4.0, 0.5));
    }

    #[test]
    fn average_counts_silent_members_at_the_start_value() {
        let g = goal(Aggregation::Average, 10.0, None);
        let obs = Observations { total: 0.0, latest_values: vec![8.0, 4.0], active_members: 4 };
        let p = progress(&g, &obs, Some(day(1)), day(5));
        assert_eq!((p.current, p.fraction), (3.0, 0.3));
    }

    #[test]
    fn goals_can_count_down() {
        let g = GoalSpec::parse("bugs", "bugs", 0.0, Some(40.0), Aggregation::Average, None)
            .unwrap_or_else(|e| panic!("{e}"));
        let obs = Observations { total: 0.0, latest_values: vec![10.0], active_members: 1 };
        assert_eq!(progress(&g, &obs, None, day(5)).fraction, 0.75);
    }

    #[test]
    fn expected_fraction_is_linear_from_activation_to_the_end_of_the_deadline_day() {
        let g = goal(Aggregation::Sum, 10.0, nov_10());
        assert_eq!(expected_fraction(&g, Some(day(1)), day(1)), Some(0.0));
        assert_eq!(expected_fraction(&g, Some(day(1)), day(6)), Some(0.5));
        assert_eq!(expected_fraction(&g, Some(day(1)), day(11)), Some(1.0));
        assert_eq!(expected_fraction(&g, Some(day(1)), day(20)), Some(1.0));
        assert_eq!(expected_fraction(&g, None, day(6)), Some(0.0));
    }

    #[test]
    fn pace_compares_progress_with_the_pace_line() {
        let g = goal(Aggregation::Sum, 10.0, nov_10());
        let at = |total: f64| progress(&g, &Observations { total, ..Default::default() }, Some(day(1)), day(6)).pace;
        assert_eq!(at(5.0), Pace::OnTrack);
        assert_eq!(at(5.5), Pace::OnTrack);
        assert_eq!(at(5.6), Pace::Ahead);
        assert_eq!(at(4.5), Pace::OnTrack);
        assert_eq!(at(4.4), Pace::Behind);
    }

    #[test]
    fn invalid_goals_are_refused() {
        assert_eq!(
            GoalSpec::parse("t", "u", f64::NAN, None, Aggregation::Sum, None).unwrap_err().field.as_deref(),
            Some("target")
        );
        assert_eq!(
            GoalSpec::parse("t", "u", 1.0, Some(f64::INFINITY), Aggregation::Sum, None).unwrap_err().field.as_deref(),
            Some("startValue")
        );
        assert_eq!(
            GoalSpec::parse("t", "u", 1.0e13, None, Aggregation::Sum, None).unwrap_err().field.as_deref(),
            Some("target")
        );
        assert_eq!(
            GoalSpec::parse("t", "u", 1.0, Some(-1.5e12), Aggregation::Sum, None).unwrap_err().field.as_deref(),
            Some("startValue")
        );
        assert!(GoalSpec::parse("t", "u", MAX_MAGNITUDE, Some(-MAX_MAGNITUDE), Aggregation::Sum, None).is_ok());
        assert_eq!(
            GoalSpec::parse("t", "u", 5.0, Some(5.0), Aggregation::Sum, None).unwrap_err().field.as_deref(),
            Some("target")
        );
        assert_eq!(
            GoalSpec::parse("", "u", 5.0, None, Aggregation::Sum, None).unwrap_err().field.as_deref(),
            Some("title")
        );
    }

    #[test]
    fn progress_stays_finite_whatever_the_store_summed() {
        // Values stored before the bound can still sum past the largest float.
        for total in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, f64::MAX] {
            for agg in Aggregation::ALL {
                let g = GoalSpec::from_stored(10.0, Some(f64::MAX), *agg, nov_10());
                let obs = Observations { total, latest_values: vec![total, f64::MAX, -f64::MAX], active_members: 3 };
                let p = progress(&g, &obs, Some(day(1)), day(5));
                assert!(p.current.is_finite() && p.target.is_finite(), "{agg:?} {total}: {p:?}");
                assert!((0.0..=1.0).contains(&p.fraction), "{agg:?} {total}: {p:?}");
            }
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn progress_is_always_a_bounded_fraction(
                target in -1e9f64..1e9,
                start in proptest::option::of(-1e9f64..1e9),
                total in -1e12f64..1e12,
                values in proptest::collection::vec(-1e9f64..1e9, 0..20),
                members in 0u32..50,
                offset_days in -30i64..400,
                agg in 0usize..3,
            ) {
                let Ok(g) = GoalSpec::parse("g", "u", target, start, Aggregation::ALL[agg], nov_10()) else { return Ok(()) };
                let obs = Observations { total, latest_values: values, active_members: members };
                let p = progress(&g, &obs, Some(day(1)), day(1) + chrono::Duration::days(offset_days));
                prop_assert!((0.0..=1.0).contains(&p.fraction));
                prop_assert!(p.expected_fraction.is_some_and(|e| (0.0..=1.0).contains(&e)));
            }
        }
    }
}
