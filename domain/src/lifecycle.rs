//! Knowing when a cohort is done: participation levels, health, the disband and graduate
//! criteria, and the evaluation that combines them. Everything here is a pure function of an
//! activity snapshot and the moment asked about; the store computes snapshots with aggregate SQL.
//!
//! The thresholds live here and nowhere else:
//! - **Window.** Participation and health look at the [`WINDOW_DAYS`] days up to the moment
//!   asked about; health's trend compares with the window before it.
//! - **Participation.** A member's activity is their check-ins, meetings attended and leadership
//!   actions in the window. `CORE`: at least [`CORE_ACTIVITY`] (about weekly), or any activity by an
//!   active leader or facilitator. `ACTIVE`: at least [`ACTIVE_ACTIVITY`]. `PERIPHERAL`: one, or an
//!   observer with none (observing is legitimate). `INACTIVE`: none, or no longer an active member.
//! - **Health.** `DORMANT`: no activity for [`DORMANT_DAYS`] days. `FLAGGING`: no active leader, no
//!   leader activity in the window, fewer than half the members active, no check-ins at all
//!   in the window of a cohort active for a week or more, or check-ins fell below half the
//!   previous window's rate. `THRIVING`: at least three quarters of members active, one
//!   check-in per member per week or more, and an active leader. Otherwise `STEADY`.
//! - **Criteria combine** like this: any one `DISBAND` criterion that holds suffices; `GRADUATE`
//!   criteria must all hold (and there must be at least one). When both a disband criterion and
//!   every graduate criterion hold, graduation wins: its criteria are conjunctive and describe a
//!   cohort that has outgrown itself, which is the better end. With neither, `CONTINUE`.

use chrono::{DateTime, NaiveDate, Utc};

use crate::cohort::{Horizon, MemberRole, MembershipStatus, OutcomeReason, named_enum};
use crate::{DomainError, ErrorCode};

pub const WINDOW_DAYS: i64 = 28;
pub const CORE_ACTIVITY: u32 = 4;
pub const ACTIVE_ACTIVITY: u32 = 2;
pub const DORMANT_DAYS: i64 = 21;
pub const MICROS_PER_DAY: i64 = 86_400_000_000;
pub const MICROS_PER_WEEK: i64 = 7 * MICROS_PER_DAY;

named_enum!(
    /// How much a member puts in, after Wenger.
    ParticipationLevel { Core => "CORE", Active => "ACTIVE", Peripheral => "PERIPHERAL", Inactive => "INACTIVE" }
);

named_enum!(
    /// A cohort's health in one word.
    HealthStatus { Thriving => "THRIVING", Steady => "STEADY", Flagging => "FLAGGING", Dormant => "DORMANT" }
);

named_enum!(
    /// What a criterion measures.
    CriterionKind {
        AllGoalsAchieved => "ALL_GOALS_ACHIEVED",
        DeadlinePassed => "DEADLINE_PASSED",
        InactiveForDays => "INACTIVE_FOR_DAYS",
        ActiveMembersBelow => "ACTIVE_MEMBERS_BELOW",
        AttendanceBelow => "ATTENDANCE_BELOW",
        ActiveMembersAtLeast => "ACTIVE_MEMBERS_AT_LEAST",
        OutsideInterestAtLeast => "OUTSIDE_INTEREST_AT_LEAST",
        SustainedActivityWeeks => "SUSTAINED_ACTIVITY_WEEKS",
    }
);

named_enum!(
    /// What a criterion recommends when it holds.
    Effect { Disband => "DISBAND", Graduate => "GRADUATE" }
);

named_enum!(
    /// What an evaluation recommends.
    Recommendation { Continue => "CONTINUE", Disband => "DISBAND", Graduate => "GRADUATE" }
);

/// The number of meetings `ATTENDANCE_BELOW` looks back over.
pub const ATTENDANCE_MEETINGS: u32 = 4;

impl CriterionKind {
    /// Whether the kind takes a threshold.
    pub fn takes_threshold(self) -> bool {
        self != CriterionKind::AllGoalsAchieved
    }
}

/// One machine-checkable condition with its effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Criterion {
    pub kind: CriterionKind,
    pub effect: Effect,
    pub threshold: Option<f64>,
}

impl Criterion {
    const fn new(kind: CriterionKind, effect: Effect, threshold: Option<f64>) -> Self {
        Criterion { kind, effect, threshold }
    }
}

/// The criteria a cohort starts with, from its horizon.
pub fn default_criteria(horizon: Horizon) -> Vec<Criterion> {
    use CriterionKind::*;
    match horizon {
        Horizon::ShortTerm => vec![
            Criterion::new(AllGoalsAchieved, Effect::Disband, None),
            Criterion::new(DeadlinePassed, Effect::Disband, Some(14.0)),
            Criterion::new(InactiveForDays, Effect::Disband, Some(21.0)),
        ],
        Horizon::OpenEnded => vec![
            Criterion::new(ActiveMembersAtLeast, Effect::Graduate, Some(12.0)),
            Criterion::new(OutsideInterestAtLeast, Effect::Graduate, Some(3.0)),
            Criterion::new(SustainedActivityWeeks, Effect::Graduate, Some(8.0)),
            Criterion::new(InactiveForDays, Effect::Disband, Some(42.0)),
            Criterion::new(ActiveMembersBelow, Effect::Disband, Some(3.0)),
        ],
    }
}

/// Checks a replacement set of criteria: each kind at most once per effect, a finite,
/// non-negative threshold where the kind takes one and none where it does not, at most 20.
pub fn validate_criteria(criteria: &[Criterion]) -> Result<(), DomainError> {
    if criteria.len() > 20 {
        return Err(DomainError::invalid("criteria", "at most 20 criteria"));
    }
    for (i, c) in criteria.iter().enumerate() {
        if criteria[..i].iter().any(|o| o.kind == c.kind && o.effect == c.effect) {
            return Err(DomainError::new(
                ErrorCode::AlreadyExists,
                format!("{} with effect {} is listed twice", c.kind.as_str(), c.effect.as_str()),
            )
            .on_field("criteria"));
        }
        match (c.kind.takes_threshold(), c.threshold) {
            (true, None) => {
                return Err(DomainError::invalid("criteria", format!("{} needs a threshold", c.kind.as_str())));
            }
            (true, Some(t)) if !t.is_finite() || t < 0.0 => {
                return Err(DomainError::invalid(
                    "criteria",
                    format!("the threshold of {} must be a finite number of at least 0", c.kind.as_str()),
                ));
            }
            (false, Some(_)) => {
                return Err(DomainError::invalid("criteria", format!("{} takes no threshold", c.kind.as_str())));
            }
            _ => {}
        }
        if c.kind == CriterionKind::AttendanceBelow && c.threshold.is_some_and(|t| t > 1.0) {
            return Err(DomainError::invalid("criteria", "the threshold of ATTENDANCE_BELOW is a rate from 0 to 1"));
        }
    }
    Ok(())
}

/// One member's activity in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemberActivity {
    pub check_ins: u32,
    pub meetings_attended: u32,
    pub leadership_actions: u32,
}

impl MemberActivity {
    pub fn total(self) -> u32 {
        self.check_ins.saturating_add(self.meetings_attended).saturating_add(self.leadership_actions)
    }
}

/// A member's participation level from their role, status and activity in the window.
pub fn participation(role: MemberRole, status: MembershipStatus, activity: MemberActivity) -> ParticipationLevel {
    if status != MembershipStatus::Active {
        return ParticipationLevel::Inactive;
    }
    let total = activity.total();
    match total {
        n if n >= CORE_ACTIVITY => ParticipationLevel::Core,
        n if n >= 1 && role.manages() => ParticipationLevel::Core,
        n if n >= ACTIVE_ACTIVITY => ParticipationLevel::Active,
        1 => ParticipationLevel::Peripheral,
        _ if role == MemberRole::Observer => ParticipationLevel::Peripheral,
        _ => ParticipationLevel::Inactive,
    }
}

/// What the store observed of a cohort, as of `as_of`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub as_of: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    /// Active members (status `ACTIVE`, any role).
    pub active_members: u32,
    /// Active members with any activity in the window.
    pub members_active_in_window: u32,
    pub check_ins_in_window: u32,
    pub check_ins_in_previous_window: u32,
    /// The latest check-in, attendance or leadership action at or before `as_of`.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Active leaders, and whether any of them was active in the window.
    pub active_leaders: u32,
    pub leader_active_in_window: bool,
    /// Goals that are not abandoned, and how many of them were achieved by `as_of`.
    pub goals: u32,
    pub goals_achieved: u32,
    /// The latest deadline among goals that are not abandoned.
    pub latest_deadline: Option<NaiveDate>,
    /// PRESENT over marked members across the last [`ATTENDANCE_MEETINGS`] meetings with
    /// attendance recorded; `None` until there is some.
    pub attendance_rate: Option<f64>,
    /// Join requests from people outside the origin course.
    pub outside_interest: u32,
    /// Consecutive weeks, ending with the week up to `as_of`, with at least one check-in.
    pub active_weeks_in_a_row: u32,
    /// Active members who went quiet: as many check-in nudges in a row as the nudge policy's
    /// `maxUnanswered` went unanswered (see `nudge::gone_quiet`).
    pub members_gone_quiet: u32,
}

impl Snapshot {
    /// Whole days since the last activity; since activation (or creation) when there was none.
    pub fn days_since_last_activity(&self) -> i64 {
        let since = self.last_activity_at.or(self.activated_at).unwrap_or(self.created_at);
        ((self.as_of - since).num_microseconds().unwrap_or(i64::MAX) / MICROS_PER_DAY).max(0)
    }

    fn weekly_rate(check_ins: u32, members: u32) -> f64 {
        if members == 0 { 0.0 } else { f64::from(check_ins) / f64::from(members) / (WINDOW_DAYS as f64 / 7.0) }
    }
}

/// A cohort's health as of the snapshot's moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub status: HealthStatus,
    pub active_member_ratio: f64,
    pub check_ins_per_member_per_week: f64,
    pub trend: Option<f64>,
    pub attendance_rate: Option<f64>,
    pub days_since_last_activity: i64,
    pub leader_active: bool,
    pub reasons: Vec<String>,
}

/// Health from a snapshot.
pub fn health(s: &Snapshot) -> Health {
    let ratio =
        if s.active_members == 0 { 0.0 } else { f64::from(s.members_active_in_window) / f64::from(s.active_members) };
    let rate = Snapshot::weekly_rate(s.check_ins_in_window, s.active_members);
    let previous = Snapshot::weekly_rate(s.check_ins_in_previous_window, s.active_members);
    let trend = (s.check_ins_in_previous_window > 0).then(|| rate / previous);
    let days = s.days_since_last_activity();
    let leader_active = s.leader_active_in_window;
    let mut reasons = Vec::new();
    let mut flagging = false;

    let dormant = days >= DORMANT_DAYS;
    if dormant {
        reasons
            .push(format!("No check-in, meeting or leadership action for {days} days (dormant from {DORMANT_DAYS})."));
    }
    if s.active_leaders == 0 {
        flagging = true;
        reasons.push("The cohort has no active leader.".to_owned());
    } else if !leader_active {
        flagging = true;
        reasons.push(format!("No leader has checked in, attended or led for {WINDOW_DAYS} days."));
    }
    if s.active_members > 0 && ratio < 0.5 {
        flagging = true;
        reasons.push(format!(
            "Only {} of {} members were active in the last {WINDOW_DAYS} days.",
            s.members_active_in_window, s.active_members
        ));
    }
    let active_for_days = s.activated_at.map_or(0, |a| (s.as_of - a).num_days());
    if s.check_ins_in_window == 0 && active_for_days >= 7 && !dormant {
        flagging = true;
        reasons.push(format!("No check-ins in the last {} days.", active_for_days.min(WINDOW_DAYS)));
    }
    if let Some(t) = trend {
        if t < 0.5 {
            flagging = true;
            reasons.push(format!("Check-ins fell from {previous:.1} to {rate:.1} per member per week."));
        } else if t > 1.5 {
            reasons.push(format!("Check-ins rose from {previous:.1} to {rate:.1} per member per week."));
        }
    }
    if let Some(a) = s.attendance_rate.filter(|a| *a < 0.5) {
        flagging = true;
        reasons.push(format!("Attendance was {:.0}% over the last meetings.", a * 100.0));
    }
    match s.members_gone_quiet {
        0 => {}
        1 => reasons.push("1 member went quiet: no check-in after the last reminders.".to_owned()),
        n => reasons.push(format!("{n} members went quiet: no check-in after the last reminders.")),
    }
    let status = if dormant {
        HealthStatus::Dormant
    } else if flagging {
        HealthStatus::Flagging
    } else if ratio >= 0.75 && rate >= 1.0 && leader_active {
        reasons.push(format!(
            "{} of {} members active, {rate:.1} check-ins per member per week, and the leaders are active.",
            s.members_active_in_window, s.active_members
        ));
        HealthStatus::Thriving
    } else {
        reasons.push(format!(
            "{} of {} members active and {rate:.1} check-ins per member per week.",
            s.members_active_in_window, s.active_members
        ));
        HealthStatus::Steady
    };
    Health {
        status,
        active_member_ratio: ratio,
        check_ins_per_member_per_week: rate,
        trend,
        attendance_rate: s.attendance_rate,
        days_since_last_activity: days,
        leader_active,
        reasons,
    }
}

/// One criterion checked against a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionResult {
    pub criterion: Criterion,
    pub holds: bool,
    pub observed: Option<f64>,
    pub threshold: Option<f64>,
    pub explanation: String,
}

/// The criteria checked against a snapshot, with what they recommend.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub as_of: DateTime<Utc>,
    pub recommendation: Recommendation,
    pub summary: String,
    pub results: Vec<CriterionResult>,
}

impl Evaluation {
    /// Whether following this evaluation ends the cohort, and into which stage.
    pub fn ending(&self) -> Result<crate::stage::Stage, DomainError> {
        match self.recommendation {
            Recommendation::Continue => Err(DomainError::new(
                ErrorCode::RequirementsNotMet,
                format!("the evaluation recommends continuing: {}", self.summary),
            )),
            Recommendation::Disband => Ok(crate::stage::Stage::Disbanded),
            Recommendation::Graduate => Ok(crate::stage::Stage::Graduated),
        }
    }

    /// Why the cohort ends, if it follows this evaluation: the first disband criterion that
    /// holds in the order goals met, expired, dormant, too small; or graduated.
    pub fn outcome_reason(&self) -> Option<OutcomeReason> {
        match self.recommendation {
            Recommendation::Continue => None,
            Recommendation::Graduate => Some(OutcomeReason::Graduated),
            Recommendation::Disband => {
                let holds = |k: CriterionKind| {
                    self.results
                        .iter()
                        .any(|r| r.holds && r.criterion.effect == Effect::Disband && r.criterion.kind == k)
                };
                Some(if holds(CriterionKind::AllGoalsAchieved) {
                    OutcomeReason::GoalsMet
                } else if holds(CriterionKind::DeadlinePassed) {
                    OutcomeReason::Expired
                } else if holds(CriterionKind::InactiveForDays) || holds(CriterionKind::AttendanceBelow) {
                    OutcomeReason::Dormant
                } else {
                    OutcomeReason::TooSmall
                })
            }
        }
    }
}

fn plural(n: f64, one: &str, many: &str) -> String {
    if (n - 1.0).abs() < f64::EPSILON { format!("{n} {one}") } else { format!("{n} {many}") }
}

/// Checks one criterion.
pub fn check(c: Criterion, s: &Snapshot) -> CriterionResult {
    use CriterionKind::*;
    let t = c.threshold.unwrap_or(0.0);
    let (holds, observed, explanation) = match c.kind {
        AllGoalsAchieved => {
            let holds = s.goals > 0 && s.goals_achieved == s.goals;
            let text = if s.goals == 0 {
                "The cohort has no goals to achieve.".to_owned()
            } else {
                format!("{} of {} goals achieved.", s.goals_achieved, s.goals)
            };
            (holds, Some(f64::from(s.goals_achieved)), text)
        }
        DeadlinePassed => match s.latest_deadline.and_then(|d| d.succ_opt()).and_then(|d| d.and_hms_opt(0, 0, 0)) {
            None => (false, None, "No goal has a deadline.".to_owned()),
            Some(end) => {
                let end = end.and_utc();
                let days = (s.as_of - end).num_microseconds().unwrap_or(i64::MAX) as f64 / MICROS_PER_DAY as f64;
                let whole = days.floor();
                let holds = days >= t;
                let text = if days < 0.0 {
                    format!(
                        "The last deadline is {} away (grace {}).",
                        plural((-days).ceil(), "day", "days"),
                        plural(t, "day", "days")
                    )
                } else {
                    format!(
                        "The last deadline passed {} ago (grace {}).",
                        plural(whole, "day", "days"),
                        plural(t, "day", "days")
                    )
                };
                (holds, Some(whole), text)
            }
        },
        InactiveForDays => {
            let days = s.days_since_last_activity() as f64;
            (
                days >= t,
                Some(days),
                format!("No check-in, meeting or leadership action for {} (limit {t}).", plural(days, "day", "days")),
            )
        }
        ActiveMembersBelow => {
            let n = f64::from(s.active_members);
            (n < t, Some(n), format!("{} (disband below {t}).", plural(n, "active member", "active members")))
        }
        AttendanceBelow => match s.attendance_rate {
            None => (false, None, "No meetings to measure attendance by.".to_owned()),
            Some(rate) => (
                rate < t,
                Some(rate),
                format!(
                    "Attendance was {:.0}% over the last {ATTENDANCE_MEETINGS} meetings (disband below {:.0}%).",
                    rate * 100.0,
                    t * 100.0
                ),
            ),
        },
        ActiveMembersAtLeast => {
            let n = f64::from(s.active_members);
            (n >= t, Some(n), format!("{} (graduate from {t}).", plural(n, "active member", "active members")))
        }
        OutsideInterestAtLeast => {
            let n = f64::from(s.outside_interest);
            (
                n >= t,
                Some(n),
                format!(
                    "{} from outside the origin course (graduate from {t}).",
                    plural(n, "join request", "join requests")
                ),
            )
        }
        SustainedActivityWeeks => {
            let n = f64::from(s.active_weeks_in_a_row);
            (
                n >= t,
                Some(n),
                format!("Check-ins every week for {} in a row (graduate from {t}).", plural(n, "week", "weeks")),
            )
        }
    };
    CriterionResult { criterion: c, holds, observed, threshold: c.threshold, explanation }
}

/// Evaluates criteria against a snapshot: see the module's rule for how they combine.
pub fn evaluate(criteria: &[Criterion], s: &Snapshot) -> Evaluation {
    let results: Vec<CriterionResult> = criteria.iter().map(|c| check(*c, s)).collect();
    let disband: Vec<&CriterionResult> =
        results.iter().filter(|r| r.criterion.effect == Effect::Disband && r.holds).collect();
    let graduate: Vec<&CriterionResult> = results.iter().filter(|r| r.criterion.effect == Effect::Graduate).collect();
    let graduates = !graduate.is_empty() && graduate.iter().all(|r| r.holds);
    let (recommendation, summary) = if graduates {
        (Recommendation::Graduate, format!("Graduate: all {} graduation criteria hold.", graduate.len()))
    } else if let Some(first) = disband.first() {
        (Recommendation::Disband, format!("Disband: {}", first.explanation))
    } else {
        let held = graduate.iter().filter(|r| r.holds).count();
        let text = if graduate.is_empty() {
            "Continue: no disband criterion holds.".to_owned()
        } else {
            format!("Continue: no disband criterion holds, and {held} of {} graduation criteria hold.", graduate.len())
        };
        (Recommendation::Continue, text)
    };
    Evaluation { as_of: s.as_of, recommendation, summary, results }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CriterionKind::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap()
    }

    /// A healthy active cohort as of Nov 29: 6 active members, all active this window.
    fn snapshot() -> Snapshot {
        Snapshot {
            as_of: t0() + Duration::days(28),
            created_at: t0() - Duration::days(7),
            activated_at: Some(t0()),
            active_members: 6,
            members_active_in_window: 6,
            check_ins_in_window: 30,
            check_ins_in_previous_window: 0,
            last_activity_at: Some(t0() + Duration::days(27)),
            active_leaders: 1,
            leader_active_in_window: true,
            goals: 2,
            goals_achieved: 1,
            latest_deadline: NaiveDate::from_ymd_opt(2026, 11, 20),
            attendance_rate: None,
            outside_interest: 0,
            active_weeks_in_a_row: 4,
            members_gone_quiet: 0,
        }
    }

    fn c(kind: CriterionKind, effect: Effect, threshold: Option<f64>) -> Criterion {
        Criterion { kind, effect, threshold }
    }

    /// (criterion, snapshot change, holds, observed)
    #[test]
    fn each_criterion_at_its_boundaries() {
        type Change = fn(&mut Snapshot);
        let cases: Vec<(Criterion, Change, bool, Option<f64>)> = vec![
            (c(AllGoalsAchieved, Effect::Disband, None), |_| {}, false, Some(1.0)),
            (c(AllGoalsAchieved, Effect::Disband, None), |s| s.goals_achieved = 2, true, Some(2.0)),
            (c(AllGoalsAchieved, Effect::Disband, None), |s| (s.goals, s.goals_achieved) = (0, 0), false, Some(0.0)),
            // Grace of 14 days after the end of the deadline day (Nov 21 00:00): Dec 5 00:00.
            (
                c(DeadlinePassed, Effect::Disband, Some(14.0)),
                |s| s.as_of = t0() + Duration::days(34) - Duration::seconds(1),
                false,
                Some(13.0),
            ),
            (c(DeadlinePassed, Effect::Disband, Some(14.0)), |s| s.as_of = t0() + Duration::days(34), true, Some(14.0)),
            (
                c(DeadlinePassed, Effect::Disband, Some(14.0)),
                |s| s.as_of = t0() + Duration::days(34) + Duration::seconds(1),
                true,
                Some(14.0),
            ),
            (
                c(DeadlinePassed, Effect::Disband, Some(0.0)),
                |s| s.as_of = t0() + Duration::days(20) - Duration::seconds(1),
                false,
                Some(-1.0),
            ),
            (c(DeadlinePassed, Effect::Disband, Some(14.0)), |s| s.latest_deadline = None, false, None),
            // Last activity Nov 28: 21 days later is Dec 19.
            (
                c(InactiveForDays, Effect::Disband, Some(21.0)),
                |s| s.as_of = t0() + Duration::days(48) - Duration::seconds(1),
                false,
                Some(20.0),
            ),
            (
                c(InactiveForDays, Effect::Disband, Some(21.0)),
                |s| s.as_of = t0() + Duration::days(48),
                true,
                Some(21.0),
            ),
            (
                c(InactiveForDays, Effect::Disband, Some(21.0)),
                |s| (s.last_activity_at, s.as_of) = (None, t0() + Duration::days(21)),
                true,
                Some(21.0),
            ),
            (c(ActiveMembersBelow, Effect::Disband, Some(3.0)), |s| s.active_members = 3, false, Some(3.0)),
            (c(ActiveMembersBelow, Effect::Disband, Some(3.0)), |s| s.active_members = 2, true, Some(2.0)),
            (c(AttendanceBelow, Effect::Disband, Some(0.5)), |_| {}, false, None),
            (c(AttendanceBelow, Effect::Disband, Some(0.5)), |s| s.attendance_rate = Some(0.5), false, Some(0.5)),
            (c(AttendanceBelow, Effect::Disband, Some(0.5)), |s| s.attendance_rate = Some(0.49), true, Some(0.49)),
            (c(ActiveMembersAtLeast, Effect::Graduate, Some(12.0)), |s| s.active_members = 11, false, Some(11.0)),
            (c(ActiveMembersAtLeast, Effect::Graduate, Some(12.0)), |s| s.active_members = 12, true, Some(12.0)),
            (c(OutsideInterestAtLeast, Effect::Graduate, Some(3.0)), |s| s.outside_interest = 2, false, Some(2.0)),
            (c(OutsideInterestAtLeast, Effect::Graduate, Some(3.0)), |s| s.outside_interest = 3, true, Some(3.0)),
            (c(SustainedActivityWeeks, Effect::Graduate, Some(8.0)), |s| s.active_weeks_in_a_row = 7, false, Some(7.0)),
            (c(SustainedActivityWeeks, Effect::Graduate, Some(8.0)), |s| s.active_weeks_in_a_row = 8, true, Some(8.0)),
        ];
        for (i, (criterion, change, holds, observed)) in cases.into_iter().enumerate() {
            let mut s = snapshot();
            change(&mut s);
            let r = check(criterion, &s);
            assert_eq!((r.holds, r.observed), (holds, observed), "case {i}: {criterion:?}: {}", r.explanation);
            assert!(r.explanation.ends_with('.'), "case {i}: {}", r.explanation);
            assert_eq!(r.threshold, criterion.threshold);
        }
    }

    #[test]
    fn explanations_read_as_sentences() {
        let mut s = snapshot();
        s.as_of = t0() + Duration::days(50);
        let r = check(c(InactiveForDays, Effect::Disband, Some(21.0)), &s);
        assert_eq!(r.explanation, "No check-in, meeting or leadership action for 23 days (limit 21).");
    }

    #[test]
    fn one_disband_criterion_suffices_and_graduation_needs_them_all() {
        let short = default_criteria(Horizon::ShortTerm);
        let mut s = snapshot();
        assert_eq!(evaluate(&short, &s).recommendation, Recommendation::Continue);
        s.goals_achieved = 2;
        let e = evaluate(&short, &s);
        assert_eq!((e.recommendation, e.outcome_reason()), (Recommendation::Disband, Some(OutcomeReason::GoalsMet)));
        assert!(e.summary.contains("2 of 2 goals achieved"), "{}", e.summary);

        let open = default_criteria(Horizon::OpenEnded);
        let mut s = snapshot();
        (s.active_members, s.outside_interest, s.active_weeks_in_a_row) = (12, 3, 7);
        let e = evaluate(&open, &s);
        assert_eq!(e.recommendation, Recommendation::Continue);
        assert!(e.summary.contains("2 of 3 graduation criteria"), "{}", e.summary);
        s.active_weeks_in_a_row = 8;
        let e = evaluate(&open, &s);
        assert_eq!((e.recommendation, e.outcome_reason()), (Recommendation::Graduate, Some(OutcomeReason::Graduated)));
    }

    #[test]
    fn graduation_wins_over_a_disband_criterion() {
        let criteria =
            vec![c(ActiveMembersAtLeast, Effect::Graduate, Some(5.0)), c(AllGoalsAchieved, Effect::Disband, None)];
        let mut s = snapshot();
        s.goals_achieved = 2;
        assert_eq!(evaluate(&criteria, &s).recommendation, Recommendation::Graduate);
    }

    #[test]
    fn disband_reasons_follow_a_fixed_order() {
        let criteria = default_criteria(Horizon::ShortTerm);
        let mut s = snapshot();
        s.as_of = t0() + Duration::days(60);
        let e = evaluate(&criteria, &s);
        assert_eq!(e.outcome_reason(), Some(OutcomeReason::Expired));
        s.latest_deadline = None;
        assert_eq!(evaluate(&criteria, &s).outcome_reason(), Some(OutcomeReason::Dormant));
        let small = vec![c(ActiveMembersBelow, Effect::Disband, Some(10.0))];
        assert_eq!(evaluate(&small, &snapshot()).outcome_reason(), Some(OutcomeReason::TooSmall));
    }

    #[test]
    fn criteria_sets_are_validated() {
        assert!(validate_criteria(&default_criteria(Horizon::OpenEnded)).is_ok());
        let twice = [c(InactiveForDays, Effect::Disband, Some(3.0)), c(InactiveForDays, Effect::Disband, Some(4.0))];
        assert_eq!(validate_criteria(&twice).unwrap_err().code, ErrorCode::AlreadyExists);
        let both_effects =
            [c(InactiveForDays, Effect::Disband, Some(3.0)), c(InactiveForDays, Effect::Graduate, Some(4.0))];
        assert!(validate_criteria(&both_effects).is_ok());
        for bad in [
            c(InactiveForDays, Effect::Disband, None),
            c(InactiveForDays, Effect::Disband, Some(-1.0)),
            c(InactiveForDays, Effect::Disband, Some(f64::NAN)),
            c(AllGoalsAchieved, Effect::Disband, Some(1.0)),
            c(AttendanceBelow, Effect::Disband, Some(1.5)),
        ] {
            assert_eq!(validate_criteria(&[bad]).unwrap_err().code, ErrorCode::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn participation_levels_follow_the_thresholds() {
        use MemberRole::*;
        use MembershipStatus::Active as On;
        let act = |n| MemberActivity { check_ins: n, meetings_attended: 0, leadership_actions: 0 };
        assert_eq!(participation(Member, On, act(4)), ParticipationLevel::Core);
        assert_eq!(participation(Member, On, act(3)), ParticipationLevel::Active);
        assert_eq!(participation(Member, On, act(2)), ParticipationLevel::Active);
        assert_eq!(participation(Member, On, act(1)), ParticipationLevel::Peripheral);
        assert_eq!(participation(Member, On, act(0)), ParticipationLevel::Inactive);
        assert_eq!(participation(Leader, On, act(1)), ParticipationLevel::Core);
        assert_eq!(participation(Facilitator, On, act(1)), ParticipationLevel::Core);
        assert_eq!(participation(Leader, On, act(0)), ParticipationLevel::Inactive);
        assert_eq!(participation(Observer, On, act(0)), ParticipationLevel::Peripheral);
        assert_eq!(participation(Member, MembershipStatus::Left, act(9)), ParticipationLevel::Inactive);
        let mixed = MemberActivity { check_ins: 1, meetings_attended: 2, leadership_actions: 1 };
        assert_eq!(participation(Member, On, mixed), ParticipationLevel::Core);
    }

    #[test]
    fn health_reads_the_snapshot() {
        let h = health(&snapshot());
        assert_eq!(h.status, HealthStatus::Thriving, "{:?}", h.reasons);
        assert!((h.check_ins_per_member_per_week - 1.25).abs() < 1e-9);
        assert_eq!((h.trend, h.days_since_last_activity), (None, 1));

        let mut s = snapshot();
        s.active_leaders = 0;
        s.leader_active_in_window = false;
        let h = health(&s);
        assert_eq!(h.status, HealthStatus::Flagging);
        assert!(h.reasons.contains(&"The cohort has no active leader.".to_owned()), "{:?}", h.reasons);

        let mut s = snapshot();
        (s.check_ins_in_window, s.check_ins_in_previous_window) = (5, 22);
        let h = health(&s);
        assert_eq!(h.status, HealthStatus::Flagging);
        assert!(
            h.reasons.iter().any(|r| r == "Check-ins fell from 0.9 to 0.2 per member per week."),
            "{:?}",
            h.reasons
        );

        let mut s = snapshot();
        s.as_of = t0() + Duration::days(49);
        let h = health(&s);
        assert_eq!((h.status, h.days_since_last_activity), (HealthStatus::Dormant, 22));

        let mut s = snapshot();
        s.members_active_in_window = 4;
        assert_eq!(health(&s).status, HealthStatus::Steady);

        // Members who went quiet are named in words; the count alone changes no status.
        let mut s = snapshot();
        s.members_gone_quiet = 2;
        let h = health(&s);
        assert_eq!(h.status, HealthStatus::Thriving);
        assert!(h.reasons.contains(&"2 members went quiet: no check-in after the last reminders.".to_owned()));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_snapshot() -> impl Strategy<Value = Snapshot> {
            (
                (0i64..400, 0i64..400, proptest::option::of(0i64..400), proptest::option::of(0i64..800)),
                (0u32..2000, 0u32..2000, 0u32..100_000, 0u32..100_000),
                (0u32..5, any::<bool>(), 0u32..20, 0u32..20, proptest::option::of(0i64..800)),
                (proptest::option::of(0.0f64..1.0), 0u32..100, 0u32..60),
            )
                .prop_map(
                    |(
                        (as_of, created, activated, last),
                        (members, active, now, before),
                        (leaders, leader_active, goals, achieved, deadline),
                        (attendance, outside, weeks),
                    )| {
                        let base = t0() - Duration::days(400);
                        Snapshot {
                            as_of: base + Duration::days(as_of + 400),
                            created_at: base + Duration::days(created),
                            activated_at: activated.map(|d| base + Duration::days(d)),
                            active_members: members,
                            members_active_in_window: active.min(members),
                            check_ins_in_window: now,
                            check_ins_in_previous_window: before,
                            last_activity_at: last.map(|d| base + Duration::days(d)),
                            active_leaders: leaders,
                            leader_active_in_window: leader_active,
                            goals,
                            goals_achieved: achieved.min(goals),
                            latest_deadline: deadline.map(|d| (base + Duration::days(d)).date_naive()),
                            attendance_rate: attendance,
                            outside_interest: outside,
                            active_weeks_in_a_row: weeks,
                            members_gone_quiet: members / 2,
                        }
                    },
                )
        }

        fn any_criteria() -> impl Strategy<Value = Vec<Criterion>> {
            proptest::collection::vec((0usize..8, any::<bool>(), 0.0f64..100.0), 0..10).prop_map(|raw| {
                raw.into_iter()
                    .map(|(k, graduate, t)| {
                        let kind = CriterionKind::ALL[k];
                        let threshold = if kind.takes_threshold() {
                            Some(if kind == AttendanceBelow { t / 100.0 } else { t })
                        } else {
                            None
                        };
                        Criterion { kind, effect: if graduate { Effect::Graduate } else { Effect::Disband }, threshold }
                    })
                    .collect()
            })
        }

        proptest! {
            #[test]
            fn evaluation_never_panics_and_is_deterministic(criteria in any_criteria(), s in any_snapshot()) {
                let a = evaluate(&criteria, &s);
                let b = evaluate(&criteria, &s);
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(a.results.len(), criteria.len());
                prop_assert_eq!(a.outcome_reason().is_some(), a.recommendation != Recommendation::Continue);
                let h = health(&s);
                prop_assert!(h.active_member_ratio >= 0.0 && h.active_member_ratio <= 1.0);
                prop_assert!(!h.reasons.is_empty());
            }
        }
    }
}
