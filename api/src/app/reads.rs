//! The reads behind the GraphQL resolvers and loaders: every query the API answers with is built
//! here (or in the store) and scoped to the viewer's tenant, so the GraphQL layer never holds a
//! connection or builds SQL. Batch reads take many ids and run one statement; pages run a count
//! and one select. What a viewer may see of the rows is the policy's (`super::access`) to say.

use std::collections::HashMap;

use afterclass_domain::cohort::Horizon;
use afterclass_domain::goal::Observations;
use afterclass_domain::joining::JoinRequestStatus;
use afterclass_domain::lifecycle::MemberActivity;
use afterclass_domain::stage::Stage;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::store::entities::{check_in, cohort, conduct_version, goal, join_request, membership, outcome, person};
use crate::store::meetings::{self as sm, Slot, attendance, calendar_feed, meeting, meeting_plan, rsvp};
use crate::store::{Store, lifecycle, progress, queries, search};

pub use crate::store::queries::{DEFAULT_PAGE, HasId, MAX_PAGE, Page, Total, page_size};

type Reads<T> = Result<T, ApiError>;

/// People of the tenant by id.
pub async fn people(store: &Store, tenant_id: i64, ids: Vec<i64>) -> Reads<Vec<person::Model>> {
    let q = person::Entity::find().filter(person::Column::TenantId.eq(tenant_id)).filter(person::Column::Id.is_in(ids));
    Ok(q.all(store.reader()).await?)
}

/// Cohorts of the tenant by id.
pub async fn cohorts(store: &Store, tenant_id: i64, ids: Vec<i64>) -> Reads<Vec<cohort::Model>> {
    let q = cohort::Entity::find().filter(cohort::Column::TenantId.eq(tenant_id)).filter(cohort::Column::Id.is_in(ids));
    Ok(q.all(store.reader()).await?)
}

/// Memberships of the tenant by id.
pub async fn memberships(store: &Store, tenant_id: i64, ids: Vec<i64>) -> Reads<Vec<membership::Model>> {
    let q = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::Id.is_in(ids));
    Ok(q.all(store.reader()).await?)
}

/// Goals of the tenant by id.
pub async fn goals(store: &Store, tenant_id: i64, ids: Vec<i64>) -> Reads<Vec<goal::Model>> {
    let q = goal::Entity::find().filter(goal::Column::TenantId.eq(tenant_id)).filter(goal::Column::Id.is_in(ids));
    Ok(q.all(store.reader()).await?)
}

/// Every goal of these cohorts, oldest first.
pub async fn goals_of(store: &Store, tenant_id: i64, cohort_ids: Vec<i64>) -> Reads<Vec<goal::Model>> {
    let q = goal::Entity::find()
        .filter(goal::Column::TenantId.eq(tenant_id))
        .filter(goal::Column::CohortId.is_in(cohort_ids))
        .order_by_asc(goal::Column::Id);
    Ok(q.all(store.reader()).await?)
}

/// One person's memberships in these cohorts.
pub async fn memberships_of_person(
    store: &Store,
    tenant_id: i64,
    person_id: i64,
    cohort_ids: Vec<i64>,
) -> Reads<Vec<membership::Model>> {
    let q = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::PersonId.eq(person_id))
        .filter(membership::Column::CohortId.is_in(cohort_ids));
    Ok(q.all(store.reader()).await?)
}

/// Code-of-conduct versions of these cohorts with any of these version numbers (the caller
/// keeps the pairs it asked for).
pub async fn conduct_versions(
    store: &Store,
    tenant_id: i64,
    cohort_ids: Vec<i64>,
    versions: Vec<i32>,
) -> Reads<Vec<conduct_version::Model>> {
    let q = conduct_version::Entity::find()
        .filter(conduct_version::Column::TenantId.eq(tenant_id))
        .filter(conduct_version::Column::CohortId.is_in(cohort_ids))
        .filter(conduct_version::Column::Version.is_in(versions));
    Ok(q.all(store.reader()).await?)
}

/// The outcomes of these ended cohorts.
pub async fn outcomes_of(store: &Store, tenant_id: i64, cohort_ids: Vec<i64>) -> Reads<Vec<outcome::Model>> {
    let q = outcome::Entity::find()
        .filter(outcome::Column::TenantId.eq(tenant_id))
        .filter(outcome::Column::CohortId.is_in(cohort_ids));
    Ok(q.all(store.reader()).await?)
}

/// Goals' observations as of a moment (microseconds), in a fixed number of statements.
pub async fn observations(store: &Store, goal_ids: &[i64], as_of: i64) -> Reads<HashMap<i64, Observations>> {
    Ok(progress::observations(store.reader(), goal_ids, as_of).await?)
}

/// The activity of these memberships (of these cohorts) over the window ending at `as_of`
/// (microseconds).
pub async fn member_activity(
    store: &Store,
    cohort_ids: &[i64],
    membership_ids: &[i64],
    as_of: i64,
) -> Reads<HashMap<i64, MemberActivity>> {
    Ok(lifecycle::activity_of_memberships(store.reader(), cohort_ids, membership_ids, as_of).await?)
}

/// Activity snapshots of the tenant's cohorts among `cohort_ids` as of `as_of` (microseconds), in
/// one statement whatever their number.
pub async fn snapshots(
    store: &Store,
    tenant_id: i64,
    cohort_ids: &[i64],
    as_of: i64,
) -> Reads<HashMap<i64, afterclass_domain::lifecycle::Snapshot>> {
    Ok(lifecycle::snapshots(store.reader(), tenant_id, cohort_ids, as_of).await?)
}

/// Outside interest in a cohort as of a moment (see `store::lifecycle::outside_interest`).
pub async fn outside_interest(store: &Store, cohort_id: i64, as_of: i64) -> Reads<u32> {
    Ok(lifecycle::outside_interest(store.reader(), cohort_id, as_of).await?)
}

/// The meeting plans of these cohorts.
pub async fn plans(store: &Store, tenant_id: i64, cohort_ids: Vec<i64>) -> Reads<Vec<meeting_plan::Model>> {
    Ok(sm::plans(store.reader(), tenant_id, cohort_ids).await?)
}

/// How many meeting rows of each cohort start in `[from, to)`.
pub async fn count_meetings_starting_between(
    store: &Store,
    tenant_id: i64,
    cohort_ids: &[i64],
    from: i64,
    to: i64,
) -> Reads<HashMap<i64, u64>> {
    Ok(sm::count_starting_between(store.reader(), tenant_id, cohort_ids, from, to).await?)
}

/// The meeting rows of these cohorts that start in `[from, to)`.
pub async fn meetings_starting_between(
    store: &Store,
    tenant_id: i64,
    cohort_ids: &[i64],
    from: i64,
    to: i64,
) -> Reads<Vec<meeting::Model>> {
    Ok(sm::starting_between(store.reader(), tenant_id, cohort_ids, from, to).await?)
}

/// The meeting of a cohort at `starts_at`: its row, or the cadence's occurrence then.
pub async fn slot_at(
    store: &Store,
    cohort: &cohort::Model,
    plan: Option<&meeting_plan::Model>,
    starts_at: i64,
) -> Reads<Option<Slot>> {
    Ok(sm::slot_at(store.reader(), cohort, plan, starts_at).await?)
}

/// The answers given for these meetings, oldest first.
pub async fn rsvps_of(store: &Store, tenant_id: i64, meeting_ids: Vec<i64>) -> Reads<Vec<rsvp::Model>> {
    let q = rsvp::Entity::find()
        .filter(rsvp::Column::TenantId.eq(tenant_id))
        .filter(rsvp::Column::MeetingId.is_in(meeting_ids))
        .order_by_asc(rsvp::Column::Id);
    Ok(q.all(store.reader()).await?)
}

/// The attendance marks of these meetings, by member.
pub async fn attendance_of(store: &Store, tenant_id: i64, meeting_ids: Vec<i64>) -> Reads<Vec<attendance::Model>> {
    let q = attendance::Entity::find()
        .filter(attendance::Column::TenantId.eq(tenant_id))
        .filter(attendance::Column::MeetingId.is_in(meeting_ids))
        .order_by_asc(attendance::Column::MembershipId);
    Ok(q.all(store.reader()).await?)
}

/// The calendar-feed state of these memberships.
pub async fn calendar_feeds_of(
    store: &Store,
    tenant_id: i64,
    membership_ids: Vec<i64>,
) -> Reads<Vec<calendar_feed::Model>> {
    let q = calendar_feed::Entity::find()
        .filter(calendar_feed::Column::TenantId.eq(tenant_id))
        .filter(calendar_feed::Column::MembershipId.is_in(membership_ids));
    Ok(q.all(store.reader()).await?)
}

/// The viewer's own memberships, in every status.
pub async fn own_memberships(
    store: &Store,
    viewer: &Viewer,
    first: Option<i32>,
    after: Option<&str>,
) -> Reads<Page<membership::Model>> {
    let select = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(viewer.tenant_id))
        .filter(membership::Column::PersonId.eq(viewer.person_id().unwrap_or(0)));
    queries::page(store.reader(), select, membership::Column::Id, first, after).await
}

/// A cohort's members in every status, in the order they were added.
pub async fn members(
    store: &Store,
    cohort: &cohort::Model,
    first: Option<i32>,
    after: Option<&str>,
) -> Reads<Page<membership::Model>> {
    let select = membership::Entity::find().filter(membership::Column::TenantId.eq(cohort.tenant_id));
    let select = queries::of_cohort(select, membership::Column::CohortId, cohort.id);
    queries::page(store.reader(), select, membership::Column::Id, first, after).await
}

/// A cohort's members in every status, oldest first, each with their person, in one statement
/// (with their count too when `with_total`, see [`queries::page_with_related`]).
pub async fn members_with_people(
    store: &Store,
    cohort: &cohort::Model,
    first: Option<i32>,
    after: Option<&str>,
    with_total: bool,
) -> Reads<Page<(membership::Model, Option<person::Model>)>> {
    let select = membership::Entity::find().filter(membership::Column::TenantId.eq(cohort.tenant_id));
    let select = queries::of_cohort(select, membership::Column::CohortId, cohort.id);
    let via =
        membership::Entity::belongs_to(person::Entity).from(membership::Column::PersonId).to(person::Column::Id).into();
    queries::page_with_related::<_, person::Entity, _>(
        store.reader(),
        select,
        membership::Column::Id,
        via,
        first,
        after,
        with_total,
    )
    .await
}

/// A cohort's check-ins in the order they were recorded.
pub async fn check_ins(
    store: &Store,
    cohort: &cohort::Model,
    first: Option<i32>,
    after: Option<&str>,
) -> Reads<Page<check_in::Model>> {
    let select = check_in::Entity::find().filter(check_in::Column::TenantId.eq(cohort.tenant_id));
    let select = queries::of_cohort(select, check_in::Column::CohortId, cohort.id);
    queries::page(store.reader(), select, check_in::Column::Id, first, after).await
}

/// What `cohorts(filter:)` narrows the list to.
#[derive(Debug, Clone, Default)]
pub struct CohortQuery {
    pub stages: Option<Vec<Stage>>,
    /// Checked plain text (see `afterclass_domain::text::COURSE_ID`).
    pub lms_course_id: Option<String>,
    /// Only cohorts the viewer holds a revealing membership in.
    pub mine: bool,
}

/// The cohorts the viewer may know of (the policy's SQL filter), narrowed by `query`, oldest
/// first.
pub async fn cohorts_page(
    store: &Store,
    viewer: &Viewer,
    query: CohortQuery,
    first: Option<i32>,
    after: Option<&str>,
) -> Reads<Page<cohort::Model>> {
    let person = viewer.person_id().unwrap_or(0);
    let mut select = cohort::Entity::find().filter(cohort::Column::TenantId.eq(viewer.tenant_id));
    if !viewer.role.reads_everything() {
        select = queries::visible_to_trainee(select, person);
    }
    if let Some(stages) = query.stages {
        select = select.filter(cohort::Column::Stage.is_in(stages.into_iter().map(Stage::as_str)));
    }
    if let Some(course) = query.lms_course_id {
        select = select.filter(cohort::Column::CourseLmsId.eq(course));
    }
    if query.mine {
        select = select.filter(cohort::Column::Id.in_subquery(queries::member_of(person)));
    }
    queries::page(store.reader(), select, cohort::Column::Id, first, after).await
}

/// Outcomes of the ended cohorts the viewer may know of, newest first, with their cohorts.
pub async fn outcomes_page(
    store: &Store,
    viewer: &Viewer,
    horizon: Option<Horizon>,
    first: Option<i32>,
    after: Option<&str>,
) -> Reads<(Page<outcome::Model>, Vec<cohort::Model>)> {
    let mut cohorts_seen = cohort::Entity::find().filter(cohort::Column::TenantId.eq(viewer.tenant_id));
    if !viewer.role.reads_everything() {
        cohorts_seen = queries::visible_to_trainee(cohorts_seen, viewer.person_id().unwrap_or(0));
    }
    if let Some(h) = horizon {
        cohorts_seen = cohorts_seen.filter(cohort::Column::Horizon.eq(h.as_str()));
    }
    let ids = cohorts_seen.select_only().column(cohort::Column::Id).into_query();
    let select = outcome::Entity::find()
        .filter(outcome::Column::TenantId.eq(viewer.tenant_id))
        .filter(outcome::Column::CohortId.in_subquery(ids));
    let page = queries::page_newest_first(store.reader(), select, outcome::Column::Id, first, after).await?;
    let models = cohorts(store, viewer.tenant_id, page.rows.iter().map(|o| o.cohort_id).collect()).await?;
    Ok((page, models))
}

/// One row of the tenant by id, or `None`.
pub async fn person_by_id(store: &Store, tenant_id: i64, id: i64) -> Reads<Option<person::Model>> {
    Ok(people(store, tenant_id, vec![id]).await?.pop())
}

pub async fn cohort_by_id(store: &Store, tenant_id: i64, id: i64) -> Reads<Option<cohort::Model>> {
    queries::find_cohort(store.reader(), tenant_id, id).await
}

/// A cohort of the tenant with the person's own membership in it, in one statement.
pub async fn cohort_with_standing(
    store: &Store,
    tenant_id: i64,
    id: i64,
    person_id: i64,
) -> Reads<Option<(cohort::Model, Option<membership::Model>)>> {
    Ok(with_standing(tenant_id, id, person_id).one(store.reader()).await?)
}

/// As [`cohort_with_standing`], with every goal of the cohort (oldest first, as [`goals_of`]
/// gives them) in the same statement: a row per goal, or one without a goal.
pub async fn cohort_with_standing_and_goals(
    store: &Store,
    tenant_id: i64,
    id: i64,
    person_id: i64,
) -> Reads<Option<(cohort::Model, Option<membership::Model>, Vec<goal::Model>)>> {
    use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
    use sea_orm::{ConnectionTrait, FromQueryResult};
    let goals = cohort::Entity::belongs_to(goal::Entity)
        .from(cohort::Column::Id)
        .to(goal::Column::CohortId)
        .on_condition(move |_, goal| Expr::col((goal, goal::Column::TenantId)).eq(tenant_id).into_condition());
    let select = with_standing(tenant_id, id, person_id)
        .join(sea_orm::JoinType::LeftJoin, goals.into())
        .order_by_asc(goal::Column::Id);
    let select = queries::with_goal_columns(select);
    let conn = store.reader();
    let rows = conn.query_all_raw(select.build(conn.get_database_backend())).await?;
    let mut found: Option<(cohort::Model, Option<membership::Model>, Vec<goal::Model>)> = None;
    for row in rows {
        let goal = goal::Model::from_query_result_optional(&row, "C_")?;
        let (_, _, goals) = match found.as_mut() {
            Some(found) => found,
            None => found.insert((
                cohort::Model::from_query_result(&row, "A_")?,
                membership::Model::from_query_result_optional(&row, "B_")?,
                Vec::new(),
            )),
        };
        goals.extend(goal);
    }
    Ok(found)
}

/// The tenant's cohort `id` joined with `person_id`'s own membership in it.
fn with_standing(tenant_id: i64, id: i64, person_id: i64) -> sea_orm::SelectTwo<cohort::Entity, membership::Entity> {
    use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
    let theirs = cohort::Entity::belongs_to(membership::Entity)
        .from(cohort::Column::Id)
        .to(membership::Column::CohortId)
        .on_condition(move |_, membership| {
            Expr::col((membership, membership::Column::PersonId)).eq(person_id).into_condition()
        });
    cohort::Entity::find_by_id(id)
        .filter(cohort::Column::TenantId.eq(tenant_id))
        .join(sea_orm::JoinType::LeftJoin, theirs.into())
        .select_also(membership::Entity)
}

pub async fn membership_by_id(store: &Store, tenant_id: i64, id: i64) -> Reads<Option<membership::Model>> {
    Ok(memberships(store, tenant_id, vec![id]).await?.pop())
}

pub async fn goal_by_id(store: &Store, tenant_id: i64, id: i64) -> Reads<Option<goal::Model>> {
    Ok(goals(store, tenant_id, vec![id]).await?.pop())
}

pub async fn check_in_by_id(store: &Store, tenant_id: i64, id: i64) -> Reads<Option<check_in::Model>> {
    let q = check_in::Entity::find_by_id(id).filter(check_in::Column::TenantId.eq(tenant_id));
    Ok(q.one(store.reader()).await?)
}

pub async fn join_request_by_id(store: &Store, tenant_id: i64, id: i64) -> Reads<Option<join_request::Model>> {
    let q = join_request::Entity::find_by_id(id).filter(join_request::Column::TenantId.eq(tenant_id));
    Ok(q.one(store.reader()).await?)
}

/// Whether the viewer shares with `other` a cohort whose activity the viewer may read.
pub async fn shares_a_cohort(store: &Store, tenant_id: i64, viewer: i64, other: i64) -> Reads<bool> {
    queries::shares_a_cohort(store.reader(), tenant_id, viewer, other).await
}

/// The tenant's newest cohorts the viewer may know of, as candidates for similar-cohort
/// ranking: at most `limit`, only `FORMING` and `ACTIVE` ones when `joinable_only`.
pub async fn similarity_candidates(
    store: &Store,
    viewer: &Viewer,
    joinable_only: bool,
    exclude: Option<i64>,
    limit: u64,
) -> Reads<Vec<cohort::Model>> {
    let mut select = cohort::Entity::find().filter(cohort::Column::TenantId.eq(viewer.tenant_id));
    if joinable_only {
        select = select.filter(cohort::Column::Stage.is_in([Stage::Forming.as_str(), Stage::Active.as_str()]));
    }
    if let Some(id) = exclude {
        select = select.filter(cohort::Column::Id.ne(id));
    }
    if !viewer.role.reads_everything() {
        select = queries::visible_to_trainee(select, viewer.person_id().unwrap_or(0));
    }
    Ok(select.order_by_desc(cohort::Column::Id).limit(limit).all(store.reader()).await?)
}

/// Free-text search over the cohorts the viewer may know of: the page of cohorts in relevance
/// order (from position `offset`) and how many match in all.
pub async fn search_cohorts(
    store: &Store,
    viewer: &Viewer,
    text: &str,
    offset: u64,
    size: u64,
) -> Reads<(Vec<cohort::Model>, u64)> {
    let scope = search::Scope {
        tenant_id: viewer.tenant_id,
        trainee: (!viewer.role.reads_everything()).then(|| viewer.person_id().unwrap_or(0)),
    };
    let (ids, total) = search::search(store.reader(), scope, text, offset, size).await?;
    let models = cohorts(store, viewer.tenant_id, ids.clone()).await?;
    let ordered = ids.iter().filter_map(|id| models.iter().find(|m| m.id == *id).cloned()).collect();
    Ok((ordered, total))
}

/// Proposals awaiting a decision, oldest first.
pub async fn proposals_page(
    store: &Store,
    tenant_id: i64,
    first: Option<i32>,
    after: Option<&str>,
) -> Reads<Page<cohort::Model>> {
    let select = cohort::Entity::find()
        .filter(cohort::Column::TenantId.eq(tenant_id))
        .filter(cohort::Column::Stage.eq(Stage::Proposed.as_str()));
    queries::page(store.reader(), select, cohort::Column::Id, first, after).await
}

/// A cohort's join requests, optionally of one status, oldest first.
pub async fn join_requests_page(
    store: &Store,
    cohort: &cohort::Model,
    status: Option<JoinRequestStatus>,
    first: Option<i32>,
    after: Option<&str>,
) -> Reads<Page<join_request::Model>> {
    let mut select = join_request::Entity::find()
        .filter(join_request::Column::TenantId.eq(cohort.tenant_id))
        .filter(join_request::Column::CohortId.eq(cohort.id));
    if let Some(status) = status {
        select = select.filter(join_request::Column::Status.eq(status.as_str()));
    }
    queries::page(store.reader(), select, join_request::Column::Id, first, after).await
}
