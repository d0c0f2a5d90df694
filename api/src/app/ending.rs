//! Ending a cohort: its criteria, applying an evaluation, disbanding, graduating, the
//! retrospective, and the one routine that records an end (shared with the sweeper).

use super::*;

impl App<'_> {
    /// Leaders: end the cohort as `DISBANDED`, recording the outcome. Everything stays readable.
    pub async fn disband_cohort(
        &self,
        cohort_id: i64,
        reason: OutcomeReason,
        retrospective: Option<&str>,
    ) -> Outcome<cohort::Model> {
        let retrospective = text::parse_optional(text::RETROSPECTIVE, retrospective)?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let to = locked.stage().disband()?;
        let ending = Ending { to, reason, retrospective, formal_structure: None, evaluation: None };
        let cohort = end_cohort(&txn, locked.cohort, ending, self.viewer.person_id(), self.now).await?;
        txn.commit().await?;
        Ok(cohort)
    }

    /// Leaders: end the cohort as `GRADUATED` into the formal structure it became.
    pub async fn graduate_cohort(
        &self,
        cohort_id: i64,
        formal_structure: &str,
        retrospective: Option<&str>,
    ) -> Outcome<cohort::Model> {
        let formal_structure = text::parse(text::FORMAL_STRUCTURE, formal_structure)?;
        let retrospective = text::parse_optional(text::RETROSPECTIVE, retrospective)?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let to = locked.stage().graduate()?;
        let ending = Ending {
            to,
            reason: OutcomeReason::Graduated,
            retrospective,
            formal_structure: Some(formal_structure),
            evaluation: None,
        };
        let cohort = end_cohort(&txn, locked.cohort, ending, self.viewer.person_id(), self.now).await?;
        txn.commit().await?;
        Ok(cohort)
    }

    /// Leaders: replace the cohort's criteria and, when given, its auto-apply choice.
    pub async fn set_criteria(
        &self,
        cohort_id: i64,
        criteria: Vec<Criterion>,
        auto_apply: Option<bool>,
    ) -> Outcome<cohort::Model> {
        dl::validate_criteria(&criteria)?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let mut am = locked.cohort.into_active_model();
        am.criteria = Set(Some(lifecycle::criteria_to_json(&criteria)));
        if let Some(auto_apply) = auto_apply {
            am.auto_apply = Set(auto_apply);
        }
        let cohort = am.update(&txn).await?;
        txn.commit().await?;
        Ok(cohort)
    }

    /// Leaders: carry out what the evaluation as of now recommends, keeping the evaluation in the
    /// outcome. A recommendation to continue is a user error.
    pub async fn apply_evaluation(&self, cohort_id: i64, retrospective: Option<&str>) -> Outcome<cohort::Model> {
        let retrospective = text::parse_optional(text::RETROSPECTIVE, retrospective)?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let evaluation = evaluate_now(&txn, &locked.cohort, self.now).await?;
        let to = evaluation.ending()?;
        match to {
            Stage::Graduated => locked.stage().graduate()?,
            _ => locked.stage().disband()?,
        };
        let reason = evaluation.outcome_reason().unwrap_or(OutcomeReason::LeadersDecision);
        let ending = Ending { to, reason, retrospective, formal_structure: None, evaluation: Some(evaluation) };
        let cohort = end_cohort(&txn, locked.cohort, ending, self.viewer.person_id(), self.now).await?;
        txn.commit().await?;
        Ok(cohort)
    }

    /// Leaders: write or improve the retrospective of an ended cohort.
    pub async fn write_retrospective(&self, cohort_id: i64, retrospective: &str) -> Outcome<cohort::Model> {
        let retrospective = text::parse(text::RETROSPECTIVE_TEXT, retrospective)?;
        let txn = self.begin().await?;
        let locked = self.lock(&txn, cohort_id).await?;
        locked.access(self.viewer.role).ensure_may(Action::Steer)?;
        locked.stage().ensure_takes_retrospective(locked.cohort.decline_reason.is_some())?;
        let row = outcome::Entity::find()
            .filter(outcome::Column::CohortId.eq(locked.cohort.id))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::Internal("an ended cohort without an outcome".into()))?;
        let mut am = row.into_active_model();
        am.retrospective = Set(Some(retrospective));
        am.update(&txn).await?;
        txn.commit().await?;
        Ok(locked.cohort)
    }
}

/// How a cohort ends.
pub struct Ending {
    pub to: Stage,
    pub reason: OutcomeReason,
    pub retrospective: Option<String>,
    pub formal_structure: Option<String>,
    pub evaluation: Option<dl::Evaluation>,
}

/// Ends a locked cohort: records the outcome and the stage change, in the caller's transaction.
/// `actor` is `None` when the sweeper ends a cohort that opted in to auto-apply.
pub async fn end_cohort(
    txn: &DatabaseTransaction,
    cohort: cohort::Model,
    ending: Ending,
    actor: Option<i64>,
    now: DateTime<Utc>,
) -> Outcome<cohort::Model> {
    // The end is recorded when it takes effect: the cohort is held, so every check-in that was
    // taken before it has committed, each stamped with its request's moment, which may be later
    // than this request's own. The later of the two keeps every accepted check-in before the end.
    let now = to_micros(now.max(crate::store::now()));
    let from = Stage::parse(&cohort.stage);
    outcome::ActiveModel {
        tenant_id: Set(cohort.tenant_id),
        cohort_id: Set(cohort.id),
        reason: Set(ending.reason.as_str().to_owned()),
        retrospective: Set(ending.retrospective),
        recorded_by: Set(actor),
        recorded_at: Set(now),
        formal_structure: Set(ending.formal_structure),
        evaluation: Set(ending.evaluation.as_ref().map(lifecycle::evaluation_to_json)),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let why = match (&ending.evaluation, actor) {
        (Some(e), None) => format!("{}: applied automatically: {}", ending.reason.as_str(), e.summary),
        (Some(e), Some(_)) => format!("{}: evaluation applied: {}", ending.reason.as_str(), e.summary),
        (None, _) => format!("{}: {}", ending.to.as_str().to_lowercase(), ending.reason.as_str()),
    };
    let mut am = cohort.into_active_model();
    am.stage = Set(ending.to.as_str().to_owned());
    am.ended_at = Set(Some(now));
    let cohort = am.update(txn).await?;
    super::record_stage_change(txn, &cohort, from, ending.to, actor, &why, crate::store::from_micros(now)).await?;
    Ok(cohort)
}

/// The cohort's evaluation as of `now`, read inside the caller's transaction.
pub async fn evaluate_now(
    conn: &impl ConnectionTrait,
    cohort: &cohort::Model,
    now: DateTime<Utc>,
) -> Result<dl::Evaluation, sea_orm::DbErr> {
    let snapshot = lifecycle::snapshot(conn, cohort, to_micros(now)).await?;
    Ok(dl::evaluate(&lifecycle::criteria_of(cohort), &snapshot))
}
