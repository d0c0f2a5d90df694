//! What the store holds about one person, and erasing it: the reads behind a person's export
//! (one statement per kind of row, whatever their history), the one erasure every path runs
//! (`erasePerson` and the retention sweep), and the people the retention sweep may erase.
//!
//! Erasure, table by table (ARCHITECTURE.md "Privacy" says why each stays or goes):
//! `persons` (name, email and external id replaced, `erased_at` set), `memberships`
//! (commitment cleared, nudges off), `check_ins` (note, blockers and idempotency key cleared),
//! `join_requests` (message cleared), `outcomes` (a retrospective the person recorded cleared),
//! `nudges` (their own nudges' words and errors cleared, pending ones skipped; their name taken
//! out of the leader digests of their cohorts) and `calendar_feeds` (every feed URL of theirs
//! revoked). Ids, values, times, stages, roles, statuses, marks and answers stay, so no cohort's
//! figures change.

use afterclass_domain::nudge::NudgeKind;
use afterclass_domain::privacy::{ERASED_NAME, ERASED_TEXT, ended_stages};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use super::entities::{check_in, cohort, course_roster, event, goal, join_request, membership, nudge, outcome, person};
use super::meetings::{attendance, meeting, rsvp};
use super::nudges::{PENDING, SKIPPED};
use super::tallies::Binds;

/// Everything stored about one person, each kind in id order.
#[derive(Debug, Clone)]
pub struct Held {
    pub person: person::Model,
    pub memberships: Vec<membership::Model>,
    /// The cohorts of those memberships, join requests and outcomes.
    pub cohorts: Vec<cohort::Model>,
    pub check_ins: Vec<check_in::Model>,
    /// The goals those check-ins were for.
    pub goals: Vec<goal::Model>,
    pub rsvps: Vec<rsvp::Model>,
    /// The meetings those RSVPs answered.
    pub meetings: Vec<meeting::Model>,
    pub attendance: Vec<attendance::Model>,
    pub join_requests: Vec<join_request::Model>,
    /// Outcomes whose retrospective the person recorded.
    pub outcomes: Vec<outcome::Model>,
    pub nudges: Vec<nudge::Model>,
    pub course_rosters: Vec<course_roster::Model>,
    /// Events about the person or caused by them.
    pub events: Vec<event::Model>,
}

/// The person with `external_id` in the tenant, if any.
pub async fn find(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    external_id: &str,
) -> Result<Option<person::Model>, DbErr> {
    person::Entity::find()
        .filter(person::Column::TenantId.eq(tenant_id))
        .filter(person::Column::ExternalId.eq(external_id))
        .one(conn)
        .await
}

/// Everything stored about `person`: a fixed number of statements (one per kind of row), however
/// long their history.
pub async fn gather(conn: &impl ConnectionTrait, person: person::Model) -> Result<Held, DbErr> {
    let tenant = person.tenant_id;
    let memberships = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant))
        .filter(membership::Column::PersonId.eq(person.id))
        .order_by_asc(membership::Column::Id)
        .all(conn)
        .await?;
    let mids: Vec<i64> = memberships.iter().map(|m| m.id).collect();
    let join_requests = join_request::Entity::find()
        .filter(join_request::Column::TenantId.eq(tenant))
        .filter(join_request::Column::PersonId.eq(person.id))
        .order_by_asc(join_request::Column::Id)
        .all(conn)
        .await?;
    let outcomes = outcome::Entity::find()
        .filter(outcome::Column::TenantId.eq(tenant))
        .filter(outcome::Column::RecordedBy.eq(person.id))
        .order_by_asc(outcome::Column::Id)
        .all(conn)
        .await?;
    let mut cohort_ids: Vec<i64> = memberships.iter().map(|m| m.cohort_id).collect();
    cohort_ids.extend(join_requests.iter().map(|j| j.cohort_id).chain(outcomes.iter().map(|o| o.cohort_id)));
    let cohorts = of_tenant_in::<cohort::Entity>(
        conn,
        tenant,
        cohort::Column::TenantId,
        cohort::Column::Id,
        cohort_ids,
        cohort::Column::Id,
    )
    .await?;
    let check_ins = of_tenant_in::<check_in::Entity>(
        conn,
        tenant,
        check_in::Column::TenantId,
        check_in::Column::MembershipId,
        mids.clone(),
        check_in::Column::Id,
    )
    .await?;
    let rsvps = of_tenant_in::<rsvp::Entity>(
        conn,
        tenant,
        rsvp::Column::TenantId,
        rsvp::Column::MembershipId,
        mids.clone(),
        rsvp::Column::Id,
    )
    .await?;
    let attendance = of_tenant_in::<attendance::Entity>(
        conn,
        tenant,
        attendance::Column::TenantId,
        attendance::Column::MembershipId,
        mids.clone(),
        attendance::Column::Id,
    )
    .await?;
    let nudges = of_tenant_in::<nudge::Entity>(
        conn,
        tenant,
        nudge::Column::TenantId,
        nudge::Column::MembershipId,
        mids,
        nudge::Column::Id,
    )
    .await?;
    let goal_ids: Vec<i64> = check_ins.iter().filter_map(|c| c.goal_id).collect();
    let goals = of_tenant_in::<goal::Entity>(
        conn,
        tenant,
        goal::Column::TenantId,
        goal::Column::Id,
        goal_ids,
        goal::Column::Id,
    )
    .await?;
    let meeting_ids: Vec<i64> = rsvps.iter().map(|r| r.meeting_id).collect();
    let meetings = of_tenant_in::<meeting::Entity>(
        conn,
        tenant,
        meeting::Column::TenantId,
        meeting::Column::Id,
        meeting_ids,
        meeting::Column::Id,
    )
    .await?;
    let course_rosters = course_roster::Entity::find()
        .filter(course_roster::Column::TenantId.eq(tenant))
        .filter(course_roster::Column::PersonId.eq(person.id))
        .order_by_asc(course_roster::Column::Id)
        .all(conn)
        .await?;
    let events = event::Entity::find()
        .filter(event::Column::TenantId.eq(tenant))
        .filter(
            Condition::any().add(event::Column::PersonId.eq(person.id)).add(event::Column::ActorPersonId.eq(person.id)),
        )
        .order_by_asc(event::Column::Id)
        .all(conn)
        .await?;
    Ok(Held {
        person,
        memberships,
        cohorts,
        check_ins,
        goals,
        rsvps,
        meetings,
        attendance,
        join_requests,
        outcomes,
        nudges,
        course_rosters,
        events,
    })
}

/// The tenant's rows of `E` whose `key` is one of `keys`, in `id` order: one statement, none
/// when there are no keys.
async fn of_tenant_in<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    tenant: i64,
    tenant_column: E::Column,
    key: E::Column,
    mut keys: Vec<i64>,
    id: E::Column,
) -> Result<Vec<E::Model>, DbErr> {
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    E::find().filter(tenant_column.eq(tenant)).filter(key.is_in(keys)).order_by_asc(id).all(conn).await
}

/// Finds the person by id and holds their row until the transaction ends (on PostgreSQL,
/// skipping it when another transaction holds it: that one is erasing them); `None` when there
/// is none to hold.
pub async fn hold(conn: &impl ConnectionTrait, id: i64) -> Result<Option<person::Model>, DbErr> {
    person::Entity::find_by_id(id).lock_with_behavior(LockType::Update, LockBehavior::SkipLocked).one(conn).await
}

/// Finds the person with `external_id` in the tenant and holds their row until the transaction
/// ends, waiting for another transaction that holds it.
pub async fn hold_by_external_id(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    external_id: &str,
) -> Result<Option<person::Model>, DbErr> {
    person::Entity::find()
        .filter(person::Column::TenantId.eq(tenant_id))
        .filter(person::Column::ExternalId.eq(external_id))
        .lock(LockType::Update)
        .one(conn)
        .await
}

/// The stage and end (µs) of the cohort of every membership the person holds.
pub async fn cohort_ends(conn: &impl ConnectionTrait, person_id: i64) -> Result<Vec<(String, Option<i64>)>, DbErr> {
    let ids = membership::Entity::find()
        .select_only()
        .column(membership::Column::CohortId)
        .filter(membership::Column::PersonId.eq(person_id))
        .into_query();
    cohort::Entity::find()
        .select_only()
        .column(cohort::Column::Stage)
        .column(cohort::Column::EndedAt)
        .filter(cohort::Column::Id.in_subquery(ids))
        .into_tuple()
        .all(conn)
        .await
}

/// People not yet erased, after `after` in id order (at most `limit`), who hold a membership and
/// every one of whose cohorts ended (a terminal stage) at or before `cutoff` (µs): the candidates
/// of the retention sweep, which asks the domain's rule again for each in its own transaction.
pub async fn retention_candidates(
    conn: &impl ConnectionTrait,
    cutoff: i64,
    after: i64,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    let mut b = Binds::new(conn.get_database_backend());
    let ended: Vec<String> = ended_stages().iter().map(|s| b.bind(s.as_str())).collect();
    let after = b.bind(after);
    let cutoff = b.bind(cutoff);
    let limit = b.bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT p.id FROM persons p WHERE p.erased_at IS NULL AND p.id > {after} \
         AND EXISTS (SELECT 1 FROM memberships m WHERE m.person_id = p.id) \
         AND NOT EXISTS (SELECT 1 FROM memberships m JOIN cohorts c ON c.id = m.cohort_id \
           WHERE m.person_id = p.id AND (c.stage NOT IN ({}) OR c.ended_at IS NULL OR c.ended_at > {cutoff})) \
         ORDER BY p.id LIMIT {limit}",
        ended.join(", ")
    );
    let rows = conn.query_all_raw(b.statement(sql)).await?;
    rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect()
}

/// Erases `person` (held by the caller's transaction) as of `now` (µs): see the module's table.
/// `anonymous_id` replaces their external id (random, so that their tokens find a new, empty
/// person). Gives the person's memberships, whose calendar feeds the caller revokes
/// ([`super::meetings::rotate_feed`], with fresh nonces) in the same transaction. Writes no
/// event: the erasure is no cohort's change, and an event naming the person would keep what it
/// removes.
pub async fn erase(
    conn: &impl ConnectionTrait,
    person: &person::Model,
    anonymous_id: &str,
    now: i64,
) -> Result<Vec<membership::Model>, DbErr> {
    let backend = conn.get_database_backend();
    let run = |b: Binds, sql: String| conn.execute_raw(b.statement(sql));
    let memberships = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(person.tenant_id))
        .filter(membership::Column::PersonId.eq(person.id))
        .order_by_asc(membership::Column::Id)
        .all(conn)
        .await?;

    // Their name out of the leader digests of their cohorts, before the name itself goes.
    let mut b = Binds::new(backend);
    let (name, erased, tenant, kind, who) = (
        b.bind(person.display_name.as_str()),
        b.bind(ERASED_NAME),
        b.bind(person.tenant_id),
        b.bind(NudgeKind::LeaderDigest.as_str()),
        b.bind(person.id),
    );
    run(
        b,
        format!(
            "UPDATE nudges SET body = REPLACE(body, {name}, {erased}) WHERE tenant_id = {tenant} AND kind = {kind} \
             AND cohort_id IN (SELECT cohort_id FROM memberships WHERE person_id = {who})"
        ),
    )
    .await?;

    let mut b = Binds::new(backend);
    let (name, external, at, who) = (b.bind(ERASED_NAME), b.bind(anonymous_id), b.bind(now), b.bind(person.id));
    run(
        b,
        format!(
            "UPDATE persons SET display_name = {name}, email = NULL, external_id = {external}, erased_at = {at} \
             WHERE id = {who}"
        ),
    )
    .await?;

    let mut b = Binds::new(backend);
    let (off, who) = (b.bind(false), b.bind(person.id));
    run(b, format!("UPDATE memberships SET commitment = NULL, nudges_enabled = {off} WHERE person_id = {who}")).await?;

    let mut b = Binds::new(backend);
    let who = b.bind(person.id);
    run(
        b,
        format!(
            "UPDATE check_ins SET note = NULL, blockers = NULL, idempotency_key = NULL \
             WHERE membership_id IN (SELECT id FROM memberships WHERE person_id = {who})"
        ),
    )
    .await?;

    let mut b = Binds::new(backend);
    let who = b.bind(person.id);
    run(b, format!("UPDATE join_requests SET message = NULL WHERE person_id = {who}")).await?;

    let mut b = Binds::new(backend);
    let who = b.bind(person.id);
    run(b, format!("UPDATE outcomes SET retrospective = NULL WHERE recorded_by = {who}")).await?;

    let mut b = Binds::new(backend);
    let (subject, pending, skipped, who) = (b.bind(ERASED_TEXT), b.bind(PENDING), b.bind(SKIPPED), b.bind(person.id));
    run(
        b,
        format!(
            "UPDATE nudges SET subject = {subject}, body = '', last_error = NULL, \
             next_attempt_at = CASE WHEN status = {pending} THEN NULL ELSE next_attempt_at END, \
             status = CASE WHEN status = {pending} THEN {skipped} ELSE status END \
             WHERE membership_id IN (SELECT id FROM memberships WHERE person_id = {who})"
        ),
    )
    .await?;

    Ok(memberships)
}
