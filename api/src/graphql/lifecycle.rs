//! The lifecycle part of the schema: participation, health, criteria, evaluation and outcomes.

use afterclass_domain::lifecycle as dl;
use async_graphql::{InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::OutcomeReason;
use super::types::Cohort;

use super::mirror_enum;

mirror_enum!(ParticipationLevel = dl::ParticipationLevel { Core, Active, Peripheral, Inactive });
mirror_enum!(HealthStatus = dl::HealthStatus { Thriving, Steady, Flagging, Dormant });
mirror_enum!(
    CriterionKind = dl::CriterionKind {
        AllGoalsAchieved,
        DeadlinePassed,
        InactiveForDays,
        ActiveMembersBelow,
        AttendanceBelow,
        ActiveMembersAtLeast,
        OutsideInterestAtLeast,
        SustainedActivityWeeks,
    }
);
mirror_enum!(CriterionEffect = dl::Effect { Disband, Graduate });
mirror_enum!(Recommendation = dl::Recommendation { Continue, Disband, Graduate });

#[derive(SimpleObject, Clone)]
pub struct CohortHealth {
    pub as_of: DateTime<Utc>,
    pub status: HealthStatus,
    /// Members with any activity in the window, over active members.
    pub active_member_ratio: f64,
    pub check_ins_per_member_per_week: f64,
    /// This window's check-in rate over the previous window's; null when the previous had none.
    pub trend: Option<f64>,
    /// PRESENT over marked members across the last 4 meetings with attendance; null until attendance is recorded.
    pub attendance_rate: Option<f64>,
    pub days_since_last_activity: Option<i32>,
    pub leader_active: bool,
    /// One sentence per reason behind the status.
    pub reasons: Vec<String>,
}

impl CohortHealth {
    pub fn new(as_of: DateTime<Utc>, h: dl::Health) -> Self {
        CohortHealth {
            as_of,
            status: h.status.into(),
            active_member_ratio: h.active_member_ratio,
            check_ins_per_member_per_week: h.check_ins_per_member_per_week,
            trend: h.trend,
            attendance_rate: h.attendance_rate,
            days_since_last_activity: i32::try_from(h.days_since_last_activity).ok(),
            leader_active: h.leader_active,
            reasons: h.reasons,
        }
    }
}

#[derive(SimpleObject, Clone, Copy)]
pub struct Criterion {
    pub kind: CriterionKind,
    pub effect: CriterionEffect,
    /// Days, members, a rate or weeks, depending on the kind; null where the kind takes none.
    pub threshold: Option<f64>,
}

impl From<dl::Criterion> for Criterion {
    fn from(c: dl::Criterion) -> Self {
        Criterion { kind: c.kind.into(), effect: c.effect.into(), threshold: c.threshold }
    }
}

#[derive(InputObject, Clone, Copy)]
pub struct CriterionInput {
    pub kind: CriterionKind,
    pub effect: CriterionEffect,
    pub threshold: Option<f64>,
}

impl From<CriterionInput> for dl::Criterion {
    fn from(c: CriterionInput) -> Self {
        dl::Criterion { kind: c.kind.into(), effect: c.effect.into(), threshold: c.threshold }
    }
}

#[derive(SimpleObject, Clone)]
pub struct CriterionResult {
    pub criterion: Criterion,
    pub holds: bool,
    pub observed: Option<f64>,
    pub threshold: Option<f64>,
    /// One plain sentence, e.g. 'No check-in or meeting for 23 days (limit 21).'
    pub explanation: String,
}

#[derive(SimpleObject, Clone)]
pub struct Evaluation {
    pub as_of: DateTime<Utc>,
    pub recommendation: Recommendation,
    pub summary: String,
    pub results: Vec<CriterionResult>,
}

impl From<dl::Evaluation> for Evaluation {
    fn from(e: dl::Evaluation) -> Self {
        Evaluation {
            as_of: e.as_of,
            recommendation: e.recommendation.into(),
            summary: e.summary,
            results: e
                .results
                .into_iter()
                .map(|r| CriterionResult {
                    criterion: r.criterion.into(),
                    holds: r.holds,
                    observed: r.observed,
                    threshold: r.threshold,
                    explanation: r.explanation,
                })
                .collect(),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct Outcome {
    pub reason: OutcomeReason,
    pub ended_at: DateTime<Utc>,
    pub retrospective: Option<String>,
    /// For a graduated cohort: what it became, e.g. 'Rust Guild of Acme (monthly meetup, own charter)'.
    pub formal_structure: Option<String>,
    /// The evaluation that justified the end, when one did.
    pub evaluation: Option<Evaluation>,
}

impl Outcome {
    pub fn new(row: &crate::store::entities::outcome::Model, ended_at: Option<i64>) -> Self {
        Outcome {
            reason: afterclass_domain::cohort::OutcomeReason::parse(&row.reason)
                .unwrap_or(afterclass_domain::cohort::OutcomeReason::LeadersDecision)
                .into(),
            ended_at: crate::store::from_micros(ended_at.unwrap_or(row.recorded_at)),
            retrospective: row.retrospective.clone(),
            formal_structure: row.formal_structure.clone(),
            evaluation: row
                .evaluation
                .as_deref()
                .and_then(crate::store::lifecycle::evaluation_from_json)
                .map(Evaluation::from),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct CohortOutcomeEntry {
    pub cohort: Cohort,
    pub outcome: Outcome,
}

super::connection!(OutcomeConnection, OutcomeEdge, CohortOutcomeEntry);
