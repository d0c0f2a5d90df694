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
//!   leader activity in the window, fewer than half the members active, or check-ins fell below
//!   half the previous window's rate. `THRIVING`: at least three quarters of members active, one
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
        self.check_ins + self.meetings_attended + self.leadership_actions
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
    /// Attendance over the last meetings, when there were meetings.
    pub attendance_rate: Option<f64>,
    /// Join requests from people outside the origin course.
    pub outside_interest: u32,
    /// Consecutive weeks, ending with the week up to `as_of`, with at least one check-in.
    pub active_weeks_in_a_row: u32,
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
