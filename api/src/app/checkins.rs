//! Check-ins: a member logs progress, idempotently, and goals are marked achieved when reached.

use sea_orm::sea_query::Expr;

use crate::store::Savepoint;

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
        // With one writer, every statement taken off it is time taken off every write: the
        // check-in is decided on a reader first, and the writer only writes it.
        let decided = match self.store.writes_one_at_a_time() {
            true => self.decide_check_in(cohort_id, goal_id, draft.clone(), key.as_deref()).await?,
            false => None,
        };
        let (store, viewer, now) = (self.store.clone(), self.viewer.clone(), self.now);
        let (row, open_goal) = match decided {
            Some(Decided::First(first)) => (first, None),
            Some(Decided::Write(decided)) => {
                self.store
                    .write_with(Savepoint::InFirstWrite, move |txn| {
                        Box::pin(async move {
                            let app = App { store: &store, viewer: &viewer, now };
                            match app.write_decided(txn, *decided).await? {
                                Some(written) => Ok(written),
                                None => app.check_in(txn, cohort_id, goal_id, draft, key).await,
                            }
                        })
                    })
                    .await?
            }
            None => {
                self.store
                    .write_with(Savepoint::InFirstWrite, move |txn| {
                        Box::pin(async move {
                            App { store: &store, viewer: &viewer, now }
                                .check_in(txn, cohort_id, goal_id, draft, key)
                                .await
                        })
                    })
                    .await?
            }
        };
        // Whichever of overlapping check-ins that could advance the goal commits last sees all of
        // them from here, so a goal they reach together is marked; one that could not advance it
        // leaves it no nearer its target than the look of those before it found it. If this
        // fails, the check-in stands and the next one that could advance the goal looks again.
        if let Some((cohort, goal)) = open_goal
            && progress::goal_spec(&goal).could_advance(row.value)
            && let Err(err) = self.mark_achieved(&cohort, goal).await
        {
            tracing::warn!(?err, "looking whether a goal was reached");
        }
        Ok(row)
    }

    /// The check-in decided on a reader's read, before the writer is asked (SQLite,
    /// `Store::writes_one_at_a_time`): the first check-in of its idempotency key when that is
    /// committed already, or the row to write while the cohort and the membership stay as read.
    /// `None` when the read would refuse it, or found no membership: the held check-in
    /// ([`App::check_in`]) then decides, waiting for any write of the cohort under way, and
    /// gives the refusal.
    async fn decide_check_in(
        &self,
        cohort_id: i64,
        goal_id: Option<i64>,
        draft: CheckInDraft,
        key: Option<&str>,
    ) -> Outcome<Option<Decided>> {
        let Some(person) = self.viewer.person_id() else { return Ok(None) };
        let reader = self.store.reader();
        let Some(found) =
            crate::store::checkins::read(reader, self.viewer.tenant_id, cohort_id, person, goal_id).await?
        else {
            return Ok(None);
        };
        let locked = Locked { cohort: found.cohort, mine: Some(found.membership) };
        if !locked.access(self.viewer.role).knows() {
            return Ok(None);
        }
        if let (Some(key), Some(mine)) = (key, locked.mine.as_ref())
            && locked.access(self.viewer.role).ensure_may(Action::Participate).is_ok()
            && let Some(first) = find_by_key(reader, locked.cohort.id, mine.id, key).await?
        {
            return Ok(Some(Decided::First(first)));
        }
        let Ok((row, goal)) = self.decide(&locked, goal_id, found.goal, draft, 0) else { return Ok(None) };
        Ok(Some(Decided::Write(Box::new(DecidedWrite { locked, row, goal }))))
    }

    /// Writes a check-in decided on a reader's read, with an id the writer's batch draws, unless
    /// the cohort or the membership changed since the read, or its idempotency key was stored
    /// meanwhile: then `None`, and nothing is written.
    async fn write_decided(
        &self,
        txn: &DatabaseTransaction,
        decided: DecidedWrite,
    ) -> Outcome<Option<(check_in::Model, Option<(cohort::Model, goal_row::Model)>)>> {
        let DecidedWrite { locked, mut row, goal } = decided;
        let Some(mine) = locked.mine.as_ref() else { return Ok(None) };
        row.id = crate::store::checkins::draw_id(txn).await?;
        let event = self.check_in_event(&locked.cohort, mine, &row, goal.as_ref());
        let unchanged = crate::store::checkins::Unchanged { cohort: &locked.cohort, membership: mine };
        if !crate::store::checkins::insert(txn, &row, &event, Some(unchanged)).await? {
            return Ok(None);
        }
        Ok(Some((row, open_goal(locked.cohort, goal))))
    }

    /// The check-in itself, in the caller's write transaction: two statements when it is
    /// written (`store::checkins`). It holds the cohort shared, so check-ins run side by side
    /// while a change of stage, membership, role or code of conduct waits for them to commit,
    /// and every check-in after it sees the change. Gives the row, and the goal it counted
    /// towards if that goal was still open.
    async fn check_in(
        &self,
        txn: &DatabaseTransaction,
        cohort_id: i64,
        goal_id: Option<i64>,
        draft: CheckInDraft,
        key: Option<String>,
    ) -> Outcome<(check_in::Model, Option<(cohort::Model, goal_row::Model)>)> {
        let (locked, goal, next_id) = self.share_for_check_in(txn, cohort_id, goal_id).await?;
        locked.access(self.viewer.role).ensure_may(Action::Participate)?;
        if let (Some(key), Some(mine)) = (key.as_deref(), locked.mine.as_ref())
            && let Some(first) = find_by_key(txn, locked.cohort.id, mine.id, key).await?
        {
            return Ok((first, None));
        }
        // The id is drawn whenever the membership is read, and `decide` refuses without one.
        let (row, goal) = self.decide(&locked, goal_id, goal, draft, next_id.unwrap_or_default())?;
        let (Some(mine), Some(_)) = (locked.mine.as_ref(), next_id) else {
            return Err(ApiError::Internal("checked in without a membership".into()).into());
        };
        let event = self.check_in_event(&locked.cohort, mine, &row, goal.as_ref());
        if !crate::store::checkins::insert(txn, &row, &event, None).await? {
            // A retry with the same key committed first (it was not yet visible above).
            let key = row.idempotency_key.as_deref().unwrap_or_default();
            let first = find_by_key(txn, locked.cohort.id, mine.id, key)
                .await?
                .ok_or_else(|| ApiError::Internal("an idempotency key conflicted with no check-in".into()))?;
            return Ok((first, None));
        }
        Ok((row, open_goal(locked.cohort, goal)))
    }

    /// Whether the viewer may log `draft` into the cohort as `locked` found it, and the row (with
    /// `id`) and the goal it counts towards if so. The one decision of a check-in, whichever read
    /// it is made on.
    fn decide(
        &self,
        locked: &Locked,
        goal_id: Option<i64>,
        goal: Option<goal_row::Model>,
        draft: CheckInDraft,
        id: i64,
    ) -> Outcome<(check_in::Model, Option<goal_row::Model>)> {
        locked.access(self.viewer.role).ensure_may(Action::Participate)?;
        let ctx = CheckInContext {
            stage: locked.stage(),
            cohort_created_at: crate::store::from_micros(locked.cohort.created_at),
            current_conduct_version: locked.cohort.conduct_version,
            author: locked.standing(),
            author_accepted_version: locked.mine.as_ref().and_then(|m| m.conduct_accepted_version),
        };
        checkin::ensure_may_check_in(&ctx)?;
        let valid = checkin::validate(draft, &ctx, self.now)?;
        // The read found the goal only if it is the cohort's.
        let goal = match goal_id {
            None => None,
            Some(_) => {
                Some(goal.ok_or_else(|| DomainError::invalid("goalId", "the goal does not belong to this cohort"))?)
            }
        };
        let Some(mine) = locked.mine.as_ref() else {
            return Err(ApiError::Internal("checked in without a membership".into()).into());
        };
        let row = check_in::Model {
            id,
            tenant_id: locked.cohort.tenant_id,
            cohort_id: locked.cohort.id,
            membership_id: mine.id,
            goal_id: goal.as_ref().map(|g| g.id),
            value: valid.value,
            note: valid.note,
            confidence: valid.confidence.map(|c| i16::from(c.get())),
            blockers: valid.blockers,
            occurred_at: to_micros(valid.occurred_at),
            created_at: self.now_micros(),
            idempotency_key: valid.idempotency_key,
        };
        Ok((row, goal))
    }

    /// The `CHECK_IN_LOGGED` event of `row`.
    fn check_in_event(
        &self,
        cohort: &cohort::Model,
        mine: &membership::Model,
        row: &check_in::Model,
        goal: Option<&goal_row::Model>,
    ) -> NewEvent {
        let data = events::data([
            ("checkInId", ids::encode(ids::Kind::CheckIn, row.id).into()),
            ("goalId", goal.map(|g| ids::encode(ids::Kind::Goal, g.id)).into()),
            ("value", row.value.into()),
        ]);
        self.event(cohort, EventKind::CheckInLogged, Some(mine), data)
    }

    /// Records the moment an open goal first reaches its target, from what has been committed:
    /// the progress is read outside any transaction, and only when it is reached is the goal
    /// written, while it is still open (of check-ins that see it reached at once, the first marks
    /// it).
    async fn mark_achieved(&self, cohort: &cohort::Model, goal: goal_row::Model) -> Outcome<()> {
        // Every committed check-in counts, whenever it occurred: overlapping check-ins each
        // stamped their own moment, so the one that commits last may have the earliest, and
        // progress as of its moment would leave the others out and never see the goal reached.
        let observed = progress::observations(self.store.reader(), &[goal.id], i64::MAX)
            .await?
            .remove(&goal.id)
            .unwrap_or_default();
        let spec = progress::goal_spec(&goal);
        let activated = cohort.activated_at.map(crate::store::from_micros);
        if goal::progress(&spec, &observed, activated, self.now).fraction < 1.0 {
            return Ok(());
        }
        let (id, at) = (goal.id, self.now_micros());
        let event = NewEvent {
            tenant_id: cohort.tenant_id,
            cohort_id: cohort.id,
            kind: EventKind::GoalAchieved,
            actor_person_id: self.viewer.person_id(),
            person_id: None,
            occurred_at: self.now,
            data: events::data([("goalId", ids::encode(ids::Kind::Goal, id).into())]),
        };
        self.store
            .write(move |txn| {
                Box::pin(async move {
                    let marked = goal_row::Entity::update_many()
                        .col_expr(goal_row::Column::Status, Expr::value(GoalStatus::Achieved.as_str()))
                        .col_expr(goal_row::Column::AchievedAt, Expr::value(at))
                        .filter(goal_row::Column::Id.eq(id))
                        .filter(goal_row::Column::Status.eq(GoalStatus::Open.as_str()))
                        .exec(txn)
                        .await?;
                    if marked.rows_affected == 1 {
                        events::record(txn, event).await?;
                    }
                    Ok::<(), sea_orm::DbErr>(())
                })
            })
            .await?;
        Ok(())
    }
}

/// The goal a check-in counted towards, with its cohort, if that goal was still open.
fn open_goal(cohort: cohort::Model, goal: Option<goal_row::Model>) -> Option<(cohort::Model, goal_row::Model)> {
    goal.filter(|g| g.status == GoalStatus::Open.as_str()).map(|g| (cohort, g))
}

/// A check-in decided on a reader's read ([`App::decide_check_in`]).
enum Decided {
    /// The first check-in of the idempotency key, committed already.
    First(check_in::Model),
    /// The row to write, while the cohort and the membership stay as read.
    Write(Box<DecidedWrite>),
}

struct DecidedWrite {
    locked: Locked,
    /// Its id is drawn when it is written.
    row: check_in::Model,
    goal: Option<goal_row::Model>,
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
