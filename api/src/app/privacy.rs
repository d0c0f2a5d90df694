//! A person's rights over what the tenant holds about them: the export (right of access), the
//! erasure (right to erasure) and the retention sweep that erases people whose cohorts all ended
//! long enough ago. Both the mutation and the sweep erase through [`erase_held`], the one path;
//! who may ask is the policy's (`access::may_handle_personal_data`: the integration account).
//!
//! The export is one JSON document, the same bytes for the same data (see ARCHITECTURE.md
//! "Privacy"): objects' keys in alphabetical order, every list in id order, times in RFC 3339 UTC
//! with microseconds, IDs as the API's global IDs.

use afterclass_domain::privacy::{CohortEnd, Retention};
use afterclass_domain::stage::Stage;
use afterclass_domain::text::{self, EXTERNAL_ID};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{DatabaseTransaction, DbErr};
use serde_json::{Value, json};

use super::access::ensure_handles_personal_data;
use crate::auth::Viewer;
use crate::error::{ApiError, Failure};
use crate::ids::{self, Kind};
use crate::store::entities::person;
use crate::store::privacy::{self as sp, Held};
use crate::store::{Store, from_micros, to_micros};

/// How many candidates the retention sweep reads at a time.
const RETENTION_BATCH: u64 = 100;

/// What `personExport` answers with.
#[derive(Debug, Clone)]
pub struct Export {
    pub person: person::Model,
    pub document: String,
    pub generated_at: DateTime<Utc>,
}

/// Everything the viewer's tenant holds about the person with `external_id`, as of `now`; `None`
/// when the tenant has no such person. A malformed external id is `BAD_USER_INPUT`.
pub async fn export(
    store: &Store,
    viewer: &Viewer,
    external_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Export>, ApiError> {
    ensure_handles_personal_data(viewer.role)?;
    let external_id = text::parse(EXTERNAL_ID, external_id).map_err(|e| ApiError::BadUserInput(e.message))?;
    let Some(person) = sp::find(store.reader(), viewer.tenant_id, &external_id).await? else {
        return Ok(None);
    };
    let held = sp::gather(store.reader(), person).await?;
    let document = document(&held).to_string();
    Ok(Some(Export { person: held.person, document, generated_at: now }))
}

/// Erases the person with `external_id` in the viewer's tenant, in one transaction. `false` when
/// the tenant has no such person — never had one, or erased them already (an erased person's
/// external id is gone, so erasing again finds no one). A malformed external id is a
/// `userError`.
pub async fn erase(store: &Store, viewer: &Viewer, external_id: &str, now: DateTime<Utc>) -> Result<bool, Failure> {
    ensure_handles_personal_data(viewer.role)?;
    let external_id = text::parse(EXTERNAL_ID, external_id)?;
    let txn = store.begin_write().await?;
    let Some(person) = sp::hold_by_external_id(&txn, viewer.tenant_id, &external_id).await? else {
        return Ok(false);
    };
    if person.erased_at.is_some() {
        return Ok(false);
    }
    erase_held(&txn, &person, now).await?;
    txn.commit().await?;
    tracing::info!(person = person.id, tenant = person.tenant_id, "erased a person on request");
    Ok(true)
}

/// The one erasure: `person`'s identifying data, everywhere it is stored, in the caller's
/// transaction, which holds their row (`store::privacy::erase`, then every calendar-feed URL of
/// theirs revoked).
pub async fn erase_held(txn: &DatabaseTransaction, person: &person::Model, now: DateTime<Utc>) -> Result<(), ApiError> {
    let anonymous = format!("erased-{}", crate::links::new_nonce()?);
    let memberships = sp::erase(txn, person, &anonymous, to_micros(now)).await?;
    for m in &memberships {
        crate::store::meetings::rotate_feed(txn, m, crate::links::new_nonce()?, to_micros(now)).await?;
    }
    Ok(())
}

/// The retention sweep as of `now`: erases every person whose cohorts all ended at least the
/// retention ago (the domain's [`Retention::forgets`]), each in a transaction of their own that
/// holds their row (on PostgreSQL skipping a person another sweeper is erasing) and asks the
/// rule again. Gives how many were erased.
pub async fn forget_expired(store: &Store, retention: Retention, now: DateTime<Utc>) -> Result<u32, DbErr> {
    let cutoff = to_micros(retention.cutoff(now));
    let mut erased = 0;
    let mut after = 0i64;
    loop {
        let ids = sp::retention_candidates(store.reader(), cutoff, after, RETENTION_BATCH).await?;
        let Some(last) = ids.last().copied() else { break };
        for id in ids {
            match forget_one(store, id, retention, now).await {
                Ok(true) => erased += 1,
                Ok(false) => {}
                Err(err) => tracing::error!(person = id, ?err, "erasing a person past retention"),
            }
        }
        after = last;
    }
    Ok(erased)
}

async fn forget_one(store: &Store, id: i64, retention: Retention, now: DateTime<Utc>) -> Result<bool, ApiError> {
    // On SQLite `BEGIN IMMEDIATE`: another process's sweep waits for this one rather than failing
    // to upgrade a read.
    let txn = store.begin_write().await?;
    let Some(person) = sp::hold(&txn, id).await? else { return Ok(false) };
    if person.erased_at.is_some() {
        return Ok(false);
    }
    let cohorts: Vec<CohortEnd> = sp::cohort_ends(&txn, person.id)
        .await?
        .into_iter()
        .map(|(stage, ended_at)| CohortEnd {
            stage: Stage::parse(&stage).unwrap_or(Stage::Active),
            ended_at: ended_at.map(from_micros),
        })
        .collect();
    if !retention.forgets(&cohorts, now) {
        return Ok(false);
    }
    erase_held(&txn, &person, now).await?;
    txn.commit().await?;
    tracing::info!(person = person.id, tenant = person.tenant_id, "erased a person past retention");
    Ok(true)
}

fn time(micros: i64) -> Value {
    from_micros(micros).to_rfc3339_opts(SecondsFormat::Micros, true).into()
}

fn time_opt(micros: Option<i64>) -> Value {
    micros.map(time).unwrap_or(Value::Null)
}

/// The export's document (see the module's documentation and ARCHITECTURE.md "Privacy").
pub fn document(h: &Held) -> Value {
    let p = &h.person;
    let cohort = |id: i64| {
        let name = h.cohorts.iter().find(|c| c.id == id).map(|c| c.name.clone());
        json!({ "id": ids::encode(Kind::Cohort, id), "name": name })
    };
    let membership_id = |id: i64| ids::encode(Kind::Membership, id);
    let cohort_of = |membership: i64| h.memberships.iter().find(|m| m.id == membership).map(|m| m.cohort_id);
    let memberships: Vec<Value> = h
        .memberships
        .iter()
        .map(|m| {
            json!({
                "id": membership_id(m.id),
                "cohort": cohort(m.cohort_id),
                "role": m.role,
                "status": m.status,
                "conductAcceptedVersion": m.conduct_accepted_version,
                "conductAcceptedAt": time_opt(m.conduct_accepted_at),
                "commitment": m.commitment,
                "invitedAt": time(m.invited_at),
                "joinedAt": time_opt(m.joined_at),
                "leftAt": time_opt(m.left_at),
                "nudgesEnabled": m.nudges_enabled,
            })
        })
        .collect();
    let check_ins: Vec<Value> = h
        .check_ins
        .iter()
        .map(|c| {
            let goal = c.goal_id.map(|g| {
                let title = h.goals.iter().find(|x| x.id == g).map(|x| x.title.clone());
                json!({ "id": ids::encode(Kind::Goal, g), "title": title })
            });
            json!({
                "id": ids::encode(Kind::CheckIn, c.id),
                "membershipId": membership_id(c.membership_id),
                "cohortId": ids::encode(Kind::Cohort, c.cohort_id),
                "goal": goal,
                "value": c.value,
                "note": c.note,
                "confidence": c.confidence,
                "blockers": c.blockers,
                "occurredAt": time(c.occurred_at),
                "recordedAt": time(c.created_at),
            })
        })
        .collect();
    let rsvps: Vec<Value> = h
        .rsvps
        .iter()
        .map(|r| {
            let meeting = h.meetings.iter().find(|m| m.id == r.meeting_id);
            json!({
                "membershipId": membership_id(r.membership_id),
                "meetingId": meeting.map(|m| ids::encode_meeting(m.cohort_id, m.starts_at)),
                "meetingStartsAt": meeting.map(|m| time(m.starts_at)),
                "answer": r.answer,
                "answeredAt": time(r.answered_at),
            })
        })
        .collect();
    let attendance: Vec<Value> = h
        .attendance
        .iter()
        .map(|a| {
            json!({
                "membershipId": membership_id(a.membership_id),
                "meetingId": ids::encode_meeting(a.cohort_id, a.meeting_starts_at),
                "meetingStartsAt": time(a.meeting_starts_at),
                "mark": a.mark,
                "recordedAt": time(a.recorded_at),
            })
        })
        .collect();
    let join_requests: Vec<Value> = h
        .join_requests
        .iter()
        .map(|j| {
            json!({
                "id": ids::encode(Kind::JoinRequest, j.id),
                "cohort": cohort(j.cohort_id),
                "message": j.message,
                "status": j.status,
                "fromOutsideCourse": j.from_outside_course,
                "requestedAt": time(j.created_at),
                "decidedAt": time_opt(j.decided_at),
            })
        })
        .collect();
    let retrospectives: Vec<Value> = h
        .outcomes
        .iter()
        .map(|o| {
            json!({
                "cohort": cohort(o.cohort_id),
                "reason": o.reason,
                "retrospective": o.retrospective,
                "formalStructure": o.formal_structure,
                "recordedAt": time(o.recorded_at),
            })
        })
        .collect();
    let nudges: Vec<Value> = h
        .nudges
        .iter()
        .map(|n| {
            json!({
                "id": ids::encode(Kind::Nudge, n.id),
                "membershipId": membership_id(n.membership_id),
                "cohortId": cohort_of(n.membership_id).map(|c| ids::encode(Kind::Cohort, c)),
                "kind": n.kind,
                "status": n.status,
                "subject": n.subject,
                "body": n.body,
                "dueAt": time(n.due_at),
                "sentAt": time_opt(n.sent_at),
            })
        })
        .collect();
    let courses: Vec<Value> = h
        .course_rosters
        .iter()
        .map(|r| json!({ "lmsCourseId": r.lms_course_id, "since": time(r.created_at) }))
        .collect();
    let events: Vec<Value> = h
        .events
        .iter()
        .map(|e| {
            let payload =
                serde_json::from_str::<Value>(&e.payload).unwrap_or_else(|_| Value::String(e.payload.clone()));
            json!({
                "id": ids::encode(Kind::CohortEvent, e.id),
                "kind": e.kind,
                "aboutThePerson": e.person_id == Some(p.id),
                "byThePerson": e.actor_person_id == Some(p.id),
                "occurredAt": time(e.occurred_at),
                "payload": payload,
            })
        })
        .collect();
    json!({
        "format": "afterclass.person-export.v1",
        "person": {
            "id": ids::encode(Kind::Person, p.id),
            "externalId": p.external_id,
            "displayName": p.display_name,
            "email": p.email,
            "knownSince": time(p.created_at),
        },
        "memberships": memberships,
        "checkIns": check_ins,
        "rsvps": rsvps,
        "attendance": attendance,
        "joinRequests": join_requests,
        "retrospectives": retrospectives,
        "nudges": nudges,
        "courseRosters": courses,
        "events": events,
    })
}
