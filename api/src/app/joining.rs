//! Joining a cohort from outside: course rosters, join requests and their decisions. Same order
//! of checks as every use case: NOT_FOUND, then FORBIDDEN, then domain rules as `userErrors`.

use afterclass_domain::access::Action;
use afterclass_domain::cohort::{MemberRole, MembershipStatus, Visibility};
use afterclass_domain::joining::{self, Admission, JoinRequestStatus};
use afterclass_domain::text;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter,
};

use crate::app::{App, Outcome};
use crate::error::ApiError;
use crate::ids;
use crate::store::entities::{cohort, course_roster, join_request, membership};
use crate::store::events;
use crate::store::queries;
use afterclass_domain::event::EventKind;

/// Records the people of an origin course's roster, once each.
pub async fn record_course_roster(
    txn: &DatabaseTransaction,
    tenant_id: i64,
    course: &str,
    people: &[i64],
    now: i64,
) -> Result<(), DbErr> {
    for person in people {
        let row = course_roster::ActiveModel {
            tenant_id: Set(tenant_id),
            lms_course_id: Set(course.to_owned()),
            person_id: Set(*person),
            created_at: Set(now),
            ..Default::default()
        };
        let result = course_roster::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    course_roster::Column::TenantId,
                    course_roster::Column::LmsCourseId,
                    course_roster::Column::PersonId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await;
        match result {
            Ok(_) | Err(DbErr::RecordNotInserted) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Whether a person was on the roster of a cohort's origin course. A cohort without a course
/// has no roster, so everyone who asks to join it comes from outside.
async fn on_course_roster(conn: &impl ConnectionTrait, c: &cohort::Model, person_id: i64) -> Result<bool, DbErr> {
    let Some(course) = &c.course_lms_id else { return Ok(false) };
    let n = course_roster::Entity::find()
        .filter(course_roster::Column::TenantId.eq(c.tenant_id))
        .filter(course_roster::Column::LmsCourseId.eq(course.as_str()))
        .filter(course_roster::Column::PersonId.eq(person_id))
        .count(conn)
        .await?;
    Ok(n > 0)
}

/// A join request with the membership it produced, when it produced one.
pub struct Joined {
    pub request: join_request::Model,
    pub membership: Option<membership::Model>,
}

impl App<'_> {
    /// A person asks to join: `OPEN` cohorts admit at once, `BY_REQUEST` ones queue the request.
    pub async fn request_to_join(&self, cohort_id: i64, message: Option<&str>) -> Outcome<Joined> {
        let message = text::parse_optional(text::JOIN_MESSAGE, message)?;
        let txn = self.begin().await?;
        let locked = self.lock(&txn, cohort_id).await?;
        locked.access(self.viewer.role).ensure_may(Action::RequestToJoin)?;
        let person_id = self.person_id()?;
        let pending = join_request::Entity::find()
            .filter(join_request::Column::CohortId.eq(locked.cohort.id))
            .filter(join_request::Column::PersonId.eq(person_id))
            .filter(join_request::Column::Status.eq(JoinRequestStatus::Pending.as_str()))
            .count(&txn)
            .await?
            > 0;
        let visibility = Visibility::parse(&locked.cohort.visibility).unwrap_or(Visibility::InviteOnly);
        let admission = joining::request_to_join(visibility, locked.stage(), locked.standing().status, pending)?;
        let outside = !on_course_roster(&txn, &locked.cohort, person_id).await?;
        let now = self.now_micros();
        let (status, membership_status) = match admission {
            Admission::Now => (JoinRequestStatus::Approved, MembershipStatus::Invited),
            Admission::Queued => (JoinRequestStatus::Pending, MembershipStatus::Requested),
        };
        let request = join_request::ActiveModel {
            tenant_id: Set(locked.cohort.tenant_id),
            cohort_id: Set(locked.cohort.id),
            person_id: Set(person_id),
            message: Set(message),
            status: Set(status.as_str().to_owned()),
            from_outside_course: Set(outside),
            created_at: Set(now),
            decided_at: Set((admission == Admission::Now).then_some(now)),
            decided_by: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let membership = set_membership(&txn, &locked.cohort, person_id, locked.mine, membership_status, now).await?;
        let data = events::data([
            ("joinRequestId", ids::encode(ids::Kind::JoinRequest, request.id).into()),
            ("status", request.status.as_str().into()),
        ]);
        self.record_event(&txn, &locked.cohort, EventKind::JoinRequested, Some(&membership), data).await?;
        if admission == Admission::Now {
            self.member_joined(&txn, &locked.cohort, &membership).await?;
        }
        txn.commit().await?;
        let membership = (admission == Admission::Now).then_some(membership);
        Ok(Joined { request, membership })
    }

    /// Leaders decide a pending request: approval invites the person, a decline keeps it on record.
    pub async fn decide_join_request(&self, request_id: i64, approve: bool) -> Outcome<Joined> {
        let txn = self.begin().await?;
        let cohort_id = self.find_request(&txn, request_id).await?.cohort_id;
        let locked = self.lock_for(&txn, cohort_id, Action::DecideJoinRequests).await?;
        // Read again now that the cohort is held: a decision or withdrawal that committed in the
        // meantime is seen, so a request is decided once.
        let request = self.find_request(&txn, request_id).await?;
        let status =
            joining::decide(JoinRequestStatus::parse(&request.status).unwrap_or(JoinRequestStatus::Declined), approve)?;
        let now = self.now_micros();
        let person_id = request.person_id;
        let mut am = request.into_active_model();
        am.status = Set(status.as_str().to_owned());
        am.decided_at = Set(Some(now));
        am.decided_by = Set(self.viewer.person_id());
        let request = am.update(&txn).await?;
        let existing = queries::membership_of(&txn, locked.cohort.id, Some(person_id)).await?;
        let membership = if approve {
            let row = set_membership(&txn, &locked.cohort, person_id, existing, MembershipStatus::Invited, now).await?;
            self.member_joined(&txn, &locked.cohort, &row).await?;
            Some(row)
        } else {
            drop_pending_membership(&txn, existing).await?;
            None
        };
        txn.commit().await?;
        Ok(Joined { request, membership })
    }

    /// The requester withdraws their pending request; it stays on record.
    pub async fn withdraw_join_request(&self, request_id: i64) -> Outcome<Joined> {
        let txn = self.begin().await?;
        let cohort_id = self.find_request(&txn, request_id).await?.cohort_id;
        let locked = self.lock(&txn, cohort_id).await?;
        // Read again now that the cohort is held (see `decide_join_request`).
        let request = self.find_request(&txn, request_id).await?;
        if self.viewer.person_id() != Some(request.person_id) {
            return Err(ApiError::forbidden("only the person who asked may withdraw a join request").into());
        }
        locked.stage().ensure_writable()?;
        let status =
            joining::withdraw(JoinRequestStatus::parse(&request.status).unwrap_or(JoinRequestStatus::Declined))?;
        let now = self.now_micros();
        let mut am = request.into_active_model();
        am.status = Set(status.as_str().to_owned());
        am.decided_at = Set(Some(now));
        let request = am.update(&txn).await?;
        drop_pending_membership(&txn, locked.mine).await?;
        txn.commit().await?;
        Ok(Joined { request, membership: None })
    }

    async fn find_request(&self, txn: &DatabaseTransaction, id: i64) -> Outcome<join_request::Model> {
        let request = join_request::Entity::find_by_id(id)
            .filter(join_request::Column::TenantId.eq(self.viewer.tenant_id))
            .one(txn)
            .await?
            .ok_or_else(|| ApiError::not_found("join request"))?;
        Ok(request)
    }
}

/// A declined or withdrawn request leaves the person where they stood before they asked: an
/// outsider, who may ask again. The request itself stays on record.
async fn drop_pending_membership(txn: &DatabaseTransaction, m: Option<membership::Model>) -> Result<(), DbErr> {
    match m {
        Some(m) if m.status == MembershipStatus::Requested.as_str() => {
            membership::Entity::delete_by_id(m.id).exec(txn).await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Sets a person's membership to `status`, creating it when they have none.
async fn set_membership(
    txn: &DatabaseTransaction,
    c: &cohort::Model,
    person_id: i64,
    existing: Option<membership::Model>,
    status: MembershipStatus,
    now: i64,
) -> Result<membership::Model, DbErr> {
    match existing {
        Some(m) => {
            let mut am = m.into_active_model();
            am.status = Set(status.as_str().to_owned());
            if status == MembershipStatus::Invited {
                am.invited_at = Set(now);
                am.left_at = Set(None);
            }
            am.update(txn).await
        }
        None => {
            membership::ActiveModel {
                tenant_id: Set(c.tenant_id),
                cohort_id: Set(c.id),
                person_id: Set(person_id),
                role: Set(MemberRole::Member.as_str().to_owned()),
                status: Set(status.as_str().to_owned()),
                invited_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await
        }
    }
}
