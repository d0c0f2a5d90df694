//! The use cases behind the mutations. Each one runs in one write transaction: it finds the
//! cohort (locking it, so concurrent writes to one cohort are serialised), checks who is asking,
//! asks the domain whether the change keeps every rule, and only then writes. A use case that
//! fails writes nothing.
//!
//! Order of checks, the same everywhere: unknown or invisible objects are NOT_FOUND, then the
//! viewer's right to act is FORBIDDEN, then domain rules become `userErrors`.

pub mod access;
pub mod meetings;

use afterclass_domain::access::{self as policy, Action, Standing, ViewerRole};
use afterclass_domain::checkin::{self, CheckInContext, CheckInDraft};
use afterclass_domain::cohort::{Horizon, MemberRole, MembershipStatus, OutcomeReason, Visibility};
use afterclass_domain::goal::{self, Aggregation, GoalSpec, GoalStatus};
use afterclass_domain::lifecycle::{self as dl, Criterion};
use afterclass_domain::stage::{ActivationFacts, Stage};
use afterclass_domain::text::{self, CODE_OF_CONDUCT, COURSE_ID, COURSE_TITLE, DISPLAY_NAME, EMAIL, EXTERNAL_ID};
use afterclass_domain::{DomainError, membership as dmembership};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, TransactionTrait,
};

use crate::auth::{Viewer, ensure_person_on};
use crate::error::{ApiError, Failure};
use crate::store::entities::{check_in, cohort, conduct_version, goal as goal_row, membership, outcome, stage_event};
use crate::store::queries;

use self::access::{Access, standing};
use crate::store::{Store, lifecycle, progress, to_micros};

pub(crate) type Outcome<T> = Result<T, Failure>;

/// A course as given with a new cohort.
#[derive(Debug, Clone)]
pub struct CourseDraft {
    pub lms_course_id: String,
    pub title: String,
    pub ended_on: Option<NaiveDate>,
}

/// One person of a roster.
#[derive(Debug, Clone)]
pub struct RosterEntry {
    pub external_id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: Option<MemberRole>,
}

/// A new cohort, created or proposed.
#[derive(Debug, Clone)]
pub struct CohortDraft {
    pub name: String,
    pub domain: String,
    pub purpose: String,
    pub scope: Option<String>,
    pub tags: Vec<String>,
    pub horizon: Horizon,
    pub visibility: Option<Visibility>,
    pub course: Option<CourseDraft>,
    pub code_of_conduct: Option<String>,
    pub roster: Vec<RosterEntry>,
}

/// A new goal.
#[derive(Debug, Clone)]
pub struct GoalDraft {
    pub title: String,
    pub unit: String,
    pub target: f64,
    pub aggregation: Aggregation,
    pub start_value: Option<f64>,
    pub deadline: Option<NaiveDate>,
}

/// The use cases, for one viewer at one moment.
pub struct App<'a> {
    pub store: &'a Store,
    pub viewer: &'a Viewer,
    pub now: DateTime<Utc>,
}

/// A cohort locked for writing, with the viewer's membership in it.
pub(crate) struct Locked {
    pub(crate) cohort: cohort::Model,
    pub(crate) mine: Option<membership::Model>,
}

impl Locked {
    pub(crate) fn stage(&self) -> Stage {
        Stage::parse(&self.cohort.stage).unwrap_or(Stage::Forming)
    }
    pub(crate) fn standing(&self) -> Standing {
        standing(self.mine.as_ref())
    }
    pub(crate) fn access(&self, role: ViewerRole) -> Access {
        Access::of(role, &self.cohort, self.mine.as_ref())
    }
}

impl App<'_> {
    pub(crate) fn now_micros(&self) -> i64 {
        to_micros(self.now)
    }

    pub(crate) async fn begin(&self) -> Outcome<DatabaseTransaction> {
        Ok(self.store.writer().begin().await?)
    }

    /// Finds and locks a cohort the viewer may know of; NOT_FOUND otherwise.
    pub(crate) async fn lock(&self, txn: &DatabaseTransaction, cohort_id: i64) -> Outcome<Locked> {
        let cohort = queries::lock_cohort(txn, self.viewer.tenant_id, cohort_id)
            .await?
            .ok_or_else(|| ApiError::not_found("cohort"))?;
        let mine = queries::membership_of(txn, cohort.id, self.viewer.person_id()).await?;
        if !Access::of(self.viewer.role, &cohort, mine.as_ref()).knows() {
            return Err(ApiError::not_found("cohort").into());
        }
        Ok(Locked { cohort, mine })
    }

    /// Locks a cohort for a write the policy must allow the viewer, refusing ended cohorts.
    pub(crate) async fn lock_for(&self, txn: &DatabaseTransaction, cohort_id: i64, action: Action) -> Outcome<Locked> {
        let locked = self.lock(txn, cohort_id).await?;
        locked.access(self.viewer.role).ensure_may(action)?;
        locked.stage().ensure_writable()?;
        Ok(locked)
    }

    pub(crate) fn person_id(&self) -> Outcome<i64> {
        self.viewer
            .person_id()
            .ok_or_else(|| ApiError::forbidden("the integration account does not act as a person").into())
    }

    pub(crate) async fn record_stage_change(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        from: Option<Stage>,
        to: Stage,
        reason: &str,
    ) -> Outcome<()> {
        stage_event::ActiveModel {
            tenant_id: Set(cohort.tenant_id),
            cohort_id: Set(cohort.id),
            from_stage: Set(from.map(|s| s.as_str().to_owned())),
            to_stage: Set(to.as_str().to_owned()),
            actor_person_id: Set(self.viewer.person_id()),
            reason: Set(reason.to_owned()),
            occurred_at: Set(self.now_micros()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(())
    }

    /// Instructor or integration: a cohort in `FORMING`, with its roster invited.
    pub async fn create_cohort(&self, draft: CohortDraft) -> Outcome<cohort::Model> {
        if !policy::may_create_cohort(self.viewer.role) {
            return Err(ApiError::forbidden("only instructors and the integration account create cohorts").into());
        }
        self.insert_cohort(draft, Stage::Forming).await
    }

    /// Trainee: a cohort in `PROPOSED`, with the proposer as its leader.
    pub async fn propose_cohort(&self, draft: CohortDraft) -> Outcome<cohort::Model> {
        if !policy::may_propose_cohort(self.viewer.role) {
            return Err(ApiError::forbidden("only trainees propose cohorts; instructors create them").into());
        }
        self.insert_cohort(draft, Stage::Proposed).await
    }

    async fn insert_cohort(&self, draft: CohortDraft, stage: Stage) -> Outcome<cohort::Model> {
        let name = text::parse(text::COHORT_NAME, &draft.name)?;
        let domain = text::parse(text::DOMAIN, &draft.domain)?;
        let purpose = text::parse(text::PURPOSE, &draft.purpose)?;
        let scope = text::parse_optional(text::SCOPE, draft.scope.as_deref())?;
        let tags = text::parse_tags(&draft.tags)?;
        let course = draft
            .course
            .map(|c| -> Result<_, DomainError> {
                Ok((text::parse(COURSE_ID, &c.lms_course_id)?, text::parse(COURSE_TITLE, &c.title)?, c.ended_on))
            })
            .transpose()?;
        let conduct = text::parse_optional(CODE_OF_CONDUCT, draft.code_of_conduct.as_deref())
            .map_err(|e| e.on_field("codeOfConduct"))?;
        let roster = parse_roster(&draft.roster).map_err(|e| e.on_field("roster"))?;
        let now = self.now_micros();

        let txn = self.begin().await?;
        let cohort = cohort::ActiveModel {
            tenant_id: Set(self.viewer.tenant_id),
            name: Set(name),
            domain: Set(domain),
            purpose: Set(purpose),
            scope: Set(scope),
            tags: Set(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into())),
            course_lms_id: Set(course.as_ref().map(|c| c.0.clone())),
            course_title: Set(course.as_ref().map(|c| c.1.clone())),
            course_ended_on: Set(course.as_ref().and_then(|c| c.2).map(|d| d.format("%Y-%m-%d").to_string())),
            horizon: Set(draft.horizon.as_str().to_owned()),
            stage: Set(stage.as_str().to_owned()),
            visibility: Set(draft.visibility.unwrap_or(Visibility::ByRequest).as_str().to_owned()),
            conduct_version: Set(conduct.as_ref().map(|_| 1)),
            created_by: Set(self.viewer.person_id()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        if let Some(text) = &conduct {
            self.insert_conduct_version(&txn, &cohort, 1, text).await?;
        }
        let why = match &course {
            Some((id, title, _)) => format!("created from course {title} ({id})"),
            None if stage == Stage::Proposed => "proposed by a trainee".to_owned(),
            None => "created".to_owned(),
        };
        self.record_stage_change(&txn, &cohort, None, stage, &why).await?;

        // A person who creates or proposes a cohort leads it from the start.
        if let Some(person_id) = self.viewer.person_id() {
            membership::ActiveModel {
                tenant_id: Set(cohort.tenant_id),
                cohort_id: Set(cohort.id),
                person_id: Set(person_id),
                role: Set(MemberRole::Leader.as_str().to_owned()),
                status: Set(MembershipStatus::Active.as_str().to_owned()),
                conduct_accepted_version: Set(cohort.conduct_version),
                conduct_accepted_at: Set(cohort.conduct_version.map(|_| now)),
                invited_at: Set(now),
                joined_at: Set(Some(now)),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        let invited = self.invite(&txn, &cohort, &roster).await?;
        if let Some(course) = &cohort.course_lms_id {
            let people: Vec<i64> = invited.iter().map(|m| m.person_id).collect();
            crate::discovery::record_course_roster(&txn, cohort.tenant_id, course, &people, now).await?;
        }
        txn.commit().await?;
        Ok(cohort)
    }

    async fn insert_conduct_version(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        version: i32,
        text: &str,
    ) -> Outcome<()> {
        conduct_version::ActiveModel {
            tenant_id: Set(cohort.tenant_id),
            cohort_id: Set(cohort.id),
            version: Set(version),
            text: Set(text.to_owned()),
            created_by: Set(self.viewer.person_id()),
            created_at: Set(self.now_micros()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(())
    }

    /// Invites roster entries; people already in the cohort keep their membership, and people
    /// who left or were removed are invited again.
    async fn invite(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        roster: &[RosterEntry],
    ) -> Outcome<Vec<membership::Model>> {
        let mut out = Vec::with_capacity(roster.len());
        for entry in roster {
            let person = ensure_person_on(
                txn,
                txn,
                cohort.tenant_id,
                &entry.external_id,
                Some(&entry.display_name),
                entry.email.as_deref(),
            )
            .await?;
            let existing = queries::membership_of(txn, cohort.id, Some(person.id)).await?;
            let row = match existing {
                Some(m) if matches!(m.status.as_str(), "LEFT" | "REMOVED") => {
                    let mut am = m.into_active_model();
                    am.status = Set(MembershipStatus::Invited.as_str().to_owned());
                    am.role = Set(entry.role.unwrap_or(MemberRole::Member).as_str().to_owned());
                    am.invited_at = Set(self.now_micros());
                    am.left_at = Set(None);
                    am.update(txn).await?
                }
                Some(m) => m,
                None => {
                    membership::ActiveModel {
                        tenant_id: Set(cohort.tenant_id),
                        cohort_id: Set(cohort.id),
                        person_id: Set(person.id),
                        role: Set(entry.role.unwrap_or(MemberRole::Member).as_str().to_owned()),
                        status: Set(MembershipStatus::Invited.as_str().to_owned()),
                        invited_at: Set(self.now_micros()),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?
                }
            };
            out.push(row);
        }
        Ok(out)
    }

    /// Instructor: `PROPOSED` → `FORMING`.
    pub async fn approve_cohort(&self, cohort_id: i64) -> Outcome<cohort::Model> {
        let txn = self.begin().await?;
        let locked = self.lock(&txn, cohort_id).await?;
        if !policy::may_approve_proposals(self.viewer.role) {
            return Err(ApiError::forbidden("only instructors approve proposals").into());
        }
        let from = locked.stage();
        let to = from.approve()?;
        let cohort = self.set_stage(&txn, locked.cohort, to, |_| {}).await?;
        self.record_stage_change(&txn, &cohort, Some(from), to, "proposal approved").await?;
        txn.commit().await?;
        Ok(cohort)
    }

    async fn set_stage(
        &self,
        txn: &DatabaseTransaction,
        cohort: cohort::Model,
        to: Stage,
        more: impl FnOnce(&mut cohort::ActiveModel),
    ) -> Outcome<cohort::Model> {
        let mut am = cohort.into_active_model();
        am.stage = Set(to.as_str().to_owned());
        more(&mut am);
        Ok(am.update(txn).await?)
    }

    /// Leaders and the integration account: invite people, idempotent per person.
    pub async fn add_members(&self, cohort_id: i64, roster: Vec<RosterEntry>) -> Outcome<Vec<membership::Model>> {
        let roster = parse_roster(&roster).map_err(|e| e.on_field("members"))?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::AddMembers).await?;
        let rows = self.invite(&txn, &locked.cohort, &roster).await?;
        txn.commit().await?;
        Ok(rows)
    }

    /// A member accepts the current code of conduct; an invited member becomes active.
    pub async fn accept_code_of_conduct(&self, cohort_id: i64, version: i32) -> Outcome<membership::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Membership).await?;
        let status = dmembership::accept_conduct(locked.standing().status, locked.cohort.conduct_version, version)?;
        let Some(mine) = locked.mine else {
            return Err(ApiError::Internal("accepted without a membership".into()).into());
        };
        let was_active = mine.status == MembershipStatus::Active.as_str();
        let mut am = mine.into_active_model();
        am.status = Set(status.as_str().to_owned());
        am.conduct_accepted_version = Set(Some(version));
        am.conduct_accepted_at = Set(Some(self.now_micros()));
        if !was_active {
            am.joined_at = Set(Some(self.now_micros()));
        }
        let row = am.update(&txn).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Leaders: a new version of the code of conduct. Members accept it again before their next
    /// check-in; the author has accepted what they wrote.
    pub async fn set_code_of_conduct(&self, cohort_id: i64, text_in: &str) -> Outcome<cohort::Model> {
        let text = text::parse(CODE_OF_CONDUCT, text_in)?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let version = locked.cohort.conduct_version.unwrap_or(0) + 1;
        self.insert_conduct_version(&txn, &locked.cohort, version, &text).await?;
        let mut am = locked.cohort.into_active_model();
        am.conduct_version = Set(Some(version));
        let cohort = am.update(&txn).await?;
        if let Some(mine) = locked.mine {
            let mut am = mine.into_active_model();
            am.conduct_accepted_version = Set(Some(version));
            am.conduct_accepted_at = Set(Some(self.now_micros()));
            am.update(&txn).await?;
        }
        txn.commit().await?;
        Ok(cohort)
    }

    /// Leaders: change a member's role.
    pub async fn change_member_role(&self, membership_id: i64, role: MemberRole) -> Outcome<membership::Model> {
        let txn = self.begin().await?;
        let target = membership::Entity::find_by_id(membership_id)
            .filter(membership::Column::TenantId.eq(self.viewer.tenant_id))
            .one(&txn)
            .await?
            .ok_or_else(|| ApiError::not_found("membership"))?;
        let locked = self.lock_for(&txn, target.cohort_id, Action::ChangeRoles).await?;
        let leaders = membership::Entity::find()
            .filter(membership::Column::CohortId.eq(locked.cohort.id))
            .filter(membership::Column::Role.eq(MemberRole::Leader.as_str()))
            .filter(membership::Column::Status.eq(MembershipStatus::Active.as_str()))
            .count(&txn)
            .await?;
        policy::change_role(locked.stage(), standing(Some(&target)), role, leaders)?;
        let mut am = target.into_active_model();
        am.role = Set(role.as_str().to_owned());
        let row = am.update(&txn).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// A member leaves; the membership is kept as `LEFT`.
    pub async fn leave_cohort(&self, cohort_id: i64) -> Outcome<membership::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Membership).await?;
        let status = dmembership::leave(locked.standing().status)?;
        let Some(mine) = locked.mine else { return Err(ApiError::Internal("left without a membership".into()).into()) };
        let mut am = mine.into_active_model();
        am.status = Set(status.as_str().to_owned());
        am.left_at = Set(Some(self.now_micros()));
        let row = am.update(&txn).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Leaders: a new measurable goal.
    pub async fn add_goal(&self, cohort_id: i64, draft: GoalDraft) -> Outcome<goal_row::Model> {
        let spec = GoalSpec::parse(
            &draft.title,
            &draft.unit,
            draft.target,
            draft.start_value,
            draft.aggregation,
            draft.deadline,
        )?;
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let row = goal_row::ActiveModel {
            tenant_id: Set(locked.cohort.tenant_id),
            cohort_id: Set(locked.cohort.id),
            title: Set(spec.title().to_owned()),
            unit: Set(spec.unit().to_owned()),
            target: Set(spec.target()),
            start_value: Set(spec.start_value()),
            aggregation: Set(spec.aggregation().as_str().to_owned()),
            deadline: Set(spec.deadline().map(|d| d.format("%Y-%m-%d").to_string())),
            status: Set(GoalStatus::Open.as_str().to_owned()),
            created_at: Set(self.now_micros()),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Leaders: `FORMING` → `ACTIVE`, once the cohort has what it needs.
    pub async fn activate_cohort(&self, cohort_id: i64) -> Outcome<cohort::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        let id = locked.cohort.id;
        let leaders = membership::Entity::find()
            .filter(membership::Column::CohortId.eq(id))
            .filter(membership::Column::Role.eq(MemberRole::Leader.as_str()))
            .filter(membership::Column::Status.eq(MembershipStatus::Active.as_str()))
            .count(&txn)
            .await?;
        let goals = goal_row::Entity::find()
            .filter(goal_row::Column::CohortId.eq(id))
            .filter(goal_row::Column::Status.ne(GoalStatus::Abandoned.as_str()))
            .count(&txn)
            .await?;
        let facts = ActivationFacts {
            has_active_leader: leaders > 0,
            has_purpose: !locked.cohort.purpose.trim().is_empty(),
            goal_count: goals,
            has_code_of_conduct: locked.cohort.conduct_version.is_some(),
        };
        let from = locked.stage();
        let to = from.activate(facts)?;
        let now = self.now_micros();
        let cohort = self.set_stage(&txn, locked.cohort, to, |am| am.activated_at = Set(Some(now))).await?;
        self.record_stage_change(&txn, &cohort, Some(from), to, "activated").await?;
        txn.commit().await?;
        Ok(cohort)
    }

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
        if let Some(goal) = goal {
            self.mark_achieved(&txn, &locked.cohort, goal).await?;
        }
        txn.commit().await?;
        Ok(row)
    }

    /// Records the moment a goal first reaches its target.
    async fn mark_achieved(
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
        let spec = crate::graphql::types::Goal(goal.clone()).spec();
        let activated = cohort.activated_at.map(crate::store::from_micros);
        if goal::progress(&spec, &observed, activated, self.now).fraction >= 1.0 {
            let mut am = goal.into_active_model();
            am.status = Set(GoalStatus::Achieved.as_str().to_owned());
            am.achieved_at = Set(Some(self.now_micros()));
            am.update(txn).await?;
        }
        Ok(())
    }

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
    let now = to_micros(now);
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
    stage_event::ActiveModel {
        tenant_id: Set(cohort.tenant_id),
        cohort_id: Set(cohort.id),
        from_stage: Set(from.map(|s| s.as_str().to_owned())),
        to_stage: Set(ending.to.as_str().to_owned()),
        actor_person_id: Set(actor),
        reason: Set(why),
        occurred_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
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

async fn find_by_key(
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

/// Validates a roster: bounded size, valid entries, each person once (the last entry wins).
fn parse_roster(entries: &[RosterEntry]) -> Result<Vec<RosterEntry>, DomainError> {
    if entries.len() > text::ROSTER_SIZE {
        return Err(DomainError::invalid("roster", format!("at most {} people at once", text::ROSTER_SIZE)));
    }
    let mut out: Vec<RosterEntry> = Vec::with_capacity(entries.len());
    for entry in entries {
        let parsed = RosterEntry {
            external_id: text::parse(EXTERNAL_ID, &entry.external_id)?,
            display_name: text::parse(DISPLAY_NAME, &entry.display_name)?,
            email: text::parse_optional(EMAIL, entry.email.as_deref())?,
            role: entry.role,
        };
        match out.iter_mut().find(|e| e.external_id == parsed.external_id) {
            Some(existing) => *existing = parsed,
            None => out.push(parsed),
        }
    }
    Ok(out)
}
