//! Check-ins: a member logs progress, idempotently, and goals are marked achieved when reached.

use super::*;

impl App<'_> {
    /// A member logs a check-in for themselves. With an idempotency key, a retry returns the
    /// first check-in and records nothing new.
    pub async fn log_check_in(
        &self,
        cohort_id: i64,
        goal_id: Option<i64>,
        draft: CheckInDraft,
    ) -> Outcome<check_in::Model> {
        // The key is looked up before the rest is validated, so it is checked first.
        let key = checkin::idempotency_key(draft.idempotency_key.as_deref())?;
        let txn = self.begin().await?;
        let locked = self.lock(&txn, cohort_id).await?;
        locked.access(self.viewer.role).ensure_may(Action::Participate)?;
        if let (Some(key), Some(mine)) = (key.as_deref(), locked.mine.as_ref())
            && let Some(first) = find_by_key(&txn, locked.cohort.id, mine.id, key).await?
        {
            return Ok(first);
        }
        let ctx = CheckInContext {
            stage: locked.stage(),
            cohort_created_at: crate::store::from_micros(locked.cohort.created_at),
            current_conduct_version: locked.cohort.conduct_version,
            author: locked.standing(),
            author_accepted_version: locked.mine.as_ref().and_then(|m| m.conduct_accepted_version),
        };
        checkin::ensure_may_check_in(&ctx)?;
        let valid = checkin::validate(draft, &ctx, self.now)?;
        let goal = match goal_id {
            None => None,
            Some(goal_id) => Some(
                goal_row::Entity::find_by_id(goal_id)
                    .filter(goal_row::Column::CohortId.eq(locked.cohort.id))
                    .one(&txn)
                    .await?
                    .ok_or_else(|| DomainError::invalid("goalId", "the goal does not belong to this cohort"))?,
            ),
        };
        let Some(mine) = locked.mine else {
            return Err(ApiError::Internal("checked in without a membership".into()).into());
        };
        let row = check_in::ActiveModel {
            tenant_id: Set(locked.cohort.tenant_id),
            cohort_id: Set(locked.cohort.id),
            membership_id: Set(mine.id),
            goal_id: Set(goal.as_ref().map(|g| g.id)),
            value: Set(valid.value),
            note: Set(valid.note),
            confidence: Set(valid.confidence.map(|c| i16::from(c.get()))),
            blockers: Set(valid.blockers),
            occurred_at: Set(to_micros(valid.occurred_at)),
            created_at: Set(self.now_micros()),
            idempotency_key: Set(valid.idempotency_key),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        crate::store::tallies::record(&txn, &row).await?;
        if let Some(goal) = goal {
            self.mark_achieved(&txn, &locked.cohort, goal).await?;
        }
        txn.commit().await?;
        Ok(row)
    }

    /// Records the moment a goal first reaches its target.
    pub(super) async fn mark_achieved(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        goal: goal_row::Model,
    ) -> Outcome<()> {
        if goal.status != GoalStatus::Open.as_str() {
            return Ok(());
        }
        let observed =
            progress::observations(txn, &[goal.id], self.now_micros()).await?.remove(&goal.id).unwrap_or_default();
        let spec = progress::goal_spec(&goal);
        let activated = cohort.activated_at.map(crate::store::from_micros);
        if goal::progress(&spec, &observed, activated, self.now).fraction >= 1.0 {
            let mut am = goal.into_active_model();
            am.status = Set(GoalStatus::Achieved.as_str().to_owned());
            am.achieved_at = Set(Some(self.now_micros()));
            am.update(txn).await?;
        }
        Ok(())
    }
}

pub(super) async fn find_by_key(
    conn: &impl ConnectionTrait,
    cohort_id: i64,
    membership_id: i64,
    key: &str,
) -> Result<Option<check_in::Model>, sea_orm::DbErr> {
    check_in::Entity::find()
        .filter(check_in::Column::CohortId.eq(cohort_id))
        .filter(check_in::Column::MembershipId.eq(membership_id))
        .filter(check_in::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}
