//! The use cases behind the mutations. Each one runs in one write transaction: it finds the
//! cohort and holds its row (exclusively when it changes the cohort, its stage, code of conduct,
//! members or roles, so such writes to one cohort are serialised; shared for check-ins, which
//! only need it to stay as they found it), checks who is asking, asks the domain whether the
//! change keeps every rule, and only then writes. A use case that fails writes nothing.
//!
//! Order of checks, the same everywhere: unknown or invisible objects are NOT_FOUND, then the
//! viewer's right to act is FORBIDDEN, then domain rules become `userErrors`.

pub mod access;
pub mod calendar;
pub mod charts;
mod checkins;
mod cohorts;
mod ending;
pub mod feed;
pub mod joining;
pub mod meetings;
mod members;
pub mod nudges;
pub mod privacy;
pub mod reads;
pub mod webhooks;

pub use ending::{Ending, end_cohort, evaluate_now};

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
    IntoActiveModel, PaginatorTrait, QueryFilter,
};

use crate::auth::{Viewer, ensure_person_on};
use crate::error::{ApiError, Failure};
use crate::store::entities::{check_in, cohort, conduct_version, goal as goal_row, membership, outcome, stage_event};
use crate::store::queries::{self, Hold};

use self::access::{Access, standing};
use crate::ids;
use crate::store::events::{self, NewEvent};
use crate::store::{Store, lifecycle, progress, to_micros};
use afterclass_domain::event::EventKind;

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
        Ok(self.store.begin_write().await?)
    }

    /// Finds and locks a cohort the viewer may know of, exclusively: for writes that change the
    /// cohort, its stage, code of conduct, members or roles. NOT_FOUND otherwise.
    pub(crate) async fn lock(&self, txn: &DatabaseTransaction, cohort_id: i64) -> Outcome<Locked> {
        self.hold(txn, cohort_id, Hold::Exclusive).await
    }

    /// Finds a cohort the viewer may know of and holds it as it is until the transaction ends,
    /// shared with other such writes (check-ins) but not with [`App::lock`]: a change of stage,
    /// membership, role or code of conduct waits for them, and they for it. NOT_FOUND otherwise.
    /// In the same statement, for the check-in: the goal it names, when that goal is the
    /// cohort's, and the check-in's id (`store::checkins::share`; both `None` without a
    /// membership).
    pub(crate) async fn share_for_check_in(
        &self,
        txn: &DatabaseTransaction,
        cohort_id: i64,
        goal_id: Option<i64>,
    ) -> Outcome<(Locked, Option<goal_row::Model>, Option<i64>)> {
        let found = match self.viewer.person_id() {
            Some(person) => {
                crate::store::checkins::share(txn, self.viewer.tenant_id, cohort_id, person, goal_id).await?
            }
            None => None,
        };
        let (found, goal, id) = match found {
            Some(held) => {
                crate::store::checkins::id_used(held.next_id);
                (Some((held.found.cohort, held.found.membership)), held.found.goal, Some(held.next_id))
            }
            None => (None, None, None),
        };
        let locked = self.held(txn, cohort_id, Hold::Shared, found).await?;
        Ok((locked, goal, id))
    }

    async fn hold(&self, txn: &DatabaseTransaction, cohort_id: i64, hold: Hold) -> Outcome<Locked> {
        let tenant = self.viewer.tenant_id;
        // The cohort and the viewer's membership in one statement; without a membership, the
        // cohort alone.
        let found = match self.viewer.person_id() {
            Some(person) => queries::lock_cohort_and_membership(txn, tenant, cohort_id, person, hold).await?,
            None => None,
        };
        self.held(txn, cohort_id, hold, found).await
    }

    /// The hold, given what the statement that holds the cohort and the viewer's membership
    /// together found: when it found nothing, the cohort is held alone, and NOT_FOUND unless the
    /// viewer may know of it.
    async fn held(
        &self,
        txn: &DatabaseTransaction,
        cohort_id: i64,
        hold: Hold,
        found: Option<(cohort::Model, membership::Model)>,
    ) -> Outcome<Locked> {
        let (cohort, mine) = match found {
            Some((cohort, mine)) => (cohort, Some(mine)),
            None => {
                let cohort = queries::lock_cohort(txn, self.viewer.tenant_id, cohort_id, hold)
                    .await?
                    .ok_or_else(|| ApiError::not_found("cohort"))?;
                let mine = queries::membership_of(txn, cohort.id, self.viewer.person_id()).await?;
                (cohort, mine)
            }
        };
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
        record_stage_change(txn, cohort, from, to, self.viewer.person_id(), reason, self.now).await
    }

    /// Records an event of `cohort`, caused by the viewer now, in the write's transaction. With
    /// a membership, the event is about it: its ID and its person's go into the data, and its
    /// holder reads the event as their own.
    pub(crate) async fn record_event(
        &self,
        txn: &DatabaseTransaction,
        cohort: &cohort::Model,
        kind: EventKind,
        member: Option<&membership::Model>,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Outcome<()> {
        events::record(txn, self.event(cohort, kind, member, fields)).await?;
        Ok(())
    }

    /// An event of `cohort`, caused by the viewer now; see [`App::record_event`].
    pub(crate) fn event(
        &self,
        cohort: &cohort::Model,
        kind: EventKind,
        member: Option<&membership::Model>,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> NewEvent {
        let mut data = serde_json::Map::new();
        if let Some(m) = member {
            data.insert("membershipId".into(), ids::encode(ids::Kind::Membership, m.id).into());
            data.insert("personId".into(), ids::encode(ids::Kind::Person, m.person_id).into());
        }
        data.extend(fields);
        NewEvent {
            tenant_id: cohort.tenant_id,
            cohort_id: cohort.id,
            kind,
            actor_person_id: self.viewer.person_id(),
            person_id: member.map(|m| m.person_id),
            occurred_at: self.now,
            data,
        }
    }
}

/// Records a stage change — who, when and why — and its event, in the caller's transaction.
/// `actor` is `None` for the engine itself (the sweeper applying an evaluation).
pub(crate) async fn record_stage_change(
    txn: &DatabaseTransaction,
    cohort: &cohort::Model,
    from: Option<Stage>,
    to: Stage,
    actor: Option<i64>,
    reason: &str,
    now: DateTime<Utc>,
) -> Outcome<()> {
    stage_event::ActiveModel {
        tenant_id: Set(cohort.tenant_id),
        cohort_id: Set(cohort.id),
        from_stage: Set(from.map(|s| s.as_str().to_owned())),
        to_stage: Set(to.as_str().to_owned()),
        actor_person_id: Set(actor),
        reason: Set(reason.to_owned()),
        occurred_at: Set(to_micros(now)),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let data = events::data([
        ("from", from.map(|s| s.as_str()).into()),
        ("to", to.as_str().into()),
        ("reason", reason.into()),
    ]);
    let event = NewEvent {
        tenant_id: cohort.tenant_id,
        cohort_id: cohort.id,
        kind: EventKind::entering(to),
        actor_person_id: actor,
        person_id: None,
        occurred_at: now,
        data,
    };
    events::record(txn, event).await?;
    Ok(())
}
