//! Reads shared by the GraphQL resolvers and the use cases: tenant-scoped lookups, the viewer's
//! standing in a cohort, and cursor pages. Every query here filters by tenant.

use afterclass_domain::access;
use afterclass_domain::stage::Stage;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::sea_query::{Expr, ExprTrait, LockType, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationDef, Select,
};

use super::entities::{cohort, membership};
use crate::error::ApiError;
use crate::ids;

/// The most a page may hold, and what `first` defaults to.
pub const MAX_PAGE: i32 = 100;
pub const DEFAULT_PAGE: i32 = 20;

/// Rows that can be paged by their id.
pub trait HasId {
    fn row_id(&self) -> i64;
}

macro_rules! has_id {
    ($($module:ident),*) => { $(impl HasId for super::entities::$module::Model { fn row_id(&self) -> i64 { self.id } })* };
}
has_id!(person, cohort, membership, goal, check_in, outcome, join_request, webhook_endpoint, webhook_delivery, nudge);

/// One page of rows in id order, with what Relay's `PageInfo` needs.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_next: bool,
    pub has_previous: bool,
    pub total: Total,
}

type Count = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<u64, DbErr>> + Send>> + Send + Sync>;

/// A page's total count: known already, or counted only when asked for (`totalCount` often is
/// not, and counting a long history costs more than the page itself).
#[derive(Clone)]
pub enum Total {
    Known(u64),
    Counted(Count),
}

impl Total {
    pub async fn get(&self) -> Result<u64, ApiError> {
        match self {
            Total::Known(n) => Ok(*n),
            Total::Counted(count) => Ok(count().await?),
        }
    }
}

impl std::fmt::Debug for Total {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Total::Known(n) => write!(f, "Known({n})"),
            Total::Counted(_) => f.write_str("Counted"),
        }
    }
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
            total: self.total,
        }
    }
}

/// Checks `first` against the page-size bound.
pub fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    match first.unwrap_or(DEFAULT_PAGE) {
        n @ 0..=MAX_PAGE => Ok(n as u64),
        n => Err(ApiError::BadUserInput(format!("`first` must be between 0 and {MAX_PAGE} (got {n})"))),
    }
}

/// Pages `select` forward by id: `first` rows after the `after` cursor, and the total count when
/// it is asked for.
pub async fn page<E, C>(
    conn: &DatabaseConnection,
    select: Select<E>,
    id: C,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<E::Model>, ApiError>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ColumnTrait,
{
    page_in_order(conn, select, id, first, after, false).await
}

/// Pages `select` newest first by id: `first` rows before the `after` cursor.
pub async fn page_newest_first<E, C>(
    conn: &DatabaseConnection,
    select: Select<E>,
    id: C,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<Page<E::Model>, ApiError>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ColumnTrait,
{
    page_in_order(conn, select, id, first, after, true).await
}

/// `select` narrowed to the rows of one cohort (`column`, its cohort id) and ordered by that
/// column first, for a page ordered by id within the cohort ([`page`]). Written as a range of one
/// value, not an equality: PostgreSQL drops an ordering column it knows to be constant, and then,
/// for a cohort that holds most of a table, walks the primary key in id order and filters out
/// every other cohort's rows before its first (12.7 ms for a page of check-ins of a cohort of a
/// million behind 111,000 of other cohorts, against 0.08 ms); with a range, the order is the
/// cohort's and then the id, which only the cohort's index gives.
pub fn of_cohort<E: EntityTrait, C: ColumnTrait>(select: Select<E>, column: C, cohort_id: i64) -> Select<E> {
    select.filter(column.between(cohort_id, cohort_id)).order_by_asc(column)
}

async fn page_in_order<E, C>(
    conn: &DatabaseConnection,
    select: Select<E>,
    id: C,
    first: Option<i32>,
    after: Option<&str>,
    newest_first: bool,
) -> Result<Page<E::Model>, ApiError>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ColumnTrait,
{
    let cursor = Cursor::of(conn, select, id, first, after, newest_first)?;
    let rows = if cursor.size == 0 { Vec::new() } else { cursor.rows.clone().all(conn).await? };
    Ok(cursor.finish(rows))
}

/// Pages `select` oldest first by id, as [`page`] does, with the `F` row each row points to by
/// `via` read in the same statement (e.g. a membership's person), for the caller to hand to its
/// loader. With `with_total` (the caller's query asks for `totalCount`) the same statement
/// counts every row of `select` too, in a subquery the database runs once, instead of a
/// `COUNT(*)` statement of its own (a window over the rows would join every row before the
/// limit).
pub async fn page_with_related<E, F, C>(
    conn: &DatabaseConnection,
    select: Select<E>,
    id: C,
    via: RelationDef,
    first: Option<i32>,
    after: Option<&str>,
    with_total: bool,
) -> Result<Page<(E::Model, Option<F::Model>)>, ApiError>
where
    E: EntityTrait,
    E::Model: Sync,
    F: EntityTrait,
    C: ColumnTrait,
{
    let count = with_total.then(|| {
        // A count has no order (an order by a column the count does not group by is refused).
        let mut count = select.clone().select_only().expr(Expr::cust("COUNT(*)")).into_query();
        count.clear_order_by();
        count
    });
    let mut cursor = Cursor::of(conn, select, id, first, after, false)?;
    if cursor.size == 0 {
        return Ok(cursor.finish(Vec::new()));
    }
    let rows = cursor.rows.clone().join(JoinType::LeftJoin, via).select_also(F::default());
    let Some(count) = count else {
        let rows = rows.all(conn).await?;
        return Ok(cursor.finish(rows));
    };
    const TOTAL: &str = "page_total";
    let statement = rows.expr_as(Expr::from(count), TOTAL).build(conn.get_database_backend());
    let mut out = Vec::new();
    for row in conn.query_all_raw(statement).await? {
        let total = row.try_get::<i64>("", TOTAL)?;
        cursor.total = Total::Known(u64::try_from(total).unwrap_or(0));
        // The prefixes `select_also` gives the two entities' columns.
        out.push((E::Model::from_query_result(&row, "A_")?, F::Model::from_query_result_optional(&row, "B_")?));
    }
    // A page of no rows (after the last) carries no count; it is still counted on demand.
    Ok(cursor.finish(out))
}

/// A page being read: the rows' query (limited to one row more than the page, to tell whether
/// another page follows), the page's size and cursor, and its total, counted on demand.
struct Cursor<E: EntityTrait> {
    rows: Select<E>,
    size: u64,
    after: Option<i64>,
    total: Total,
}

impl<E: EntityTrait> Cursor<E>
where
    E::Model: Sync,
{
    fn of<C: ColumnTrait>(
        conn: &DatabaseConnection,
        select: Select<E>,
        id: C,
        first: Option<i32>,
        after: Option<&str>,
        newest_first: bool,
    ) -> Result<Cursor<E>, ApiError> {
        let size = page_size(first)?;
        let after = after.map(ids::decode_cursor).transpose()?;
        let total = {
            let (select, conn) = (select.clone(), conn.clone());
            Total::Counted(Arc::new(move || {
                let (select, conn) = (select.clone(), conn.clone());
                Box::pin(async move { select.count(&conn).await })
            }))
        };
        let mut rows = if newest_first { select.order_by_desc(id) } else { select.order_by_asc(id) };
        if let Some(after) = after {
            rows = rows.filter(if newest_first { id.lt(after) } else { id.gt(after) });
        }
        Ok(Cursor { rows: rows.limit(size + 1), size, after, total })
    }

    fn finish<T>(self, mut rows: Vec<T>) -> Page<T> {
        let has_next = rows.len() as u64 > self.size;
        rows.truncate(self.size as usize);
        Page { rows, has_next, has_previous: self.after.is_some(), total: self.total }
    }
}

/// A cohort of the tenant, or `None`.
pub async fn find_cohort(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    id: i64,
) -> Result<Option<cohort::Model>, ApiError> {
    Ok(cohort::Entity::find_by_id(id).filter(cohort::Column::TenantId.eq(tenant_id)).one(conn).await?)
}

/// A membership of the tenant, or `None`.
pub async fn find_membership(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    id: i64,
) -> Result<Option<membership::Model>, ApiError> {
    Ok(membership::Entity::find_by_id(id).filter(membership::Column::TenantId.eq(tenant_id)).one(conn).await?)
}

/// How a write holds a cohort's row until its transaction ends (PostgreSQL's row locks; SQLite
/// runs one write transaction at a time already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// `FOR UPDATE`: for writes that change the cohort, its stage, code of conduct, members or
    /// roles. They wait for each other and for every shared holder.
    Exclusive,
    /// `FOR SHARE`: for writes that only need the cohort to stay as they found it until they
    /// commit (check-ins). They run side by side and wait only for exclusive holders. With the
    /// viewer's membership, on PostgreSQL, it also takes the member's tallies
    /// ([`tallies::member_lock`](super::tallies::member_lock)) in the same statement, since
    /// such a write adds to them.
    Shared,
}

impl Hold {
    fn lock_type(self) -> LockType {
        match self {
            Hold::Exclusive => LockType::Update,
            Hold::Shared => LockType::Share,
        }
    }
}

/// A cohort of the tenant, held until the transaction ends (see [`Hold`]).
pub async fn lock_cohort(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    id: i64,
    hold: Hold,
) -> Result<Option<cohort::Model>, ApiError> {
    Ok(cohort::Entity::find_by_id(id)
        .filter(cohort::Column::TenantId.eq(tenant_id))
        .lock(hold.lock_type())
        .one(conn)
        .await?)
}

/// A cohort of the tenant and the person's membership in it, both held until the transaction
/// ends, in one statement; `None` when either is missing. The membership's row is held too so
/// that a statement that waited for a writer of the cohort sees the membership as that writer
/// left it, not as it was when the statement began.
pub async fn lock_cohort_and_membership(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    id: i64,
    person_id: i64,
    hold: Hold,
) -> Result<Option<(cohort::Model, membership::Model)>, ApiError> {
    let tallies_lock = hold == Hold::Shared;
    let found = cohort_and_membership(conn.get_database_backend(), tenant_id, id, person_id, tallies_lock)
        .lock(hold.lock_type())
        .one(conn)
        .await?;
    Ok(found.and_then(|(c, m)| m.map(|m| (c, m))))
}

/// The statement of [`lock_cohort_and_membership`] before its lock clause: the cohort of the
/// tenant joined to the person's membership in it, and with `tallies_lock` on PostgreSQL the
/// member's tallies' lock ([`super::tallies::member_lock`]) taken in the same statement (what a
/// shared hold, a write that adds to them, needs).
pub(super) fn cohort_and_membership(
    backend: DbBackend,
    tenant_id: i64,
    id: i64,
    person_id: i64,
    tallies_lock: bool,
) -> sea_orm::SelectTwo<cohort::Entity, membership::Entity> {
    let joined: RelationDef =
        cohort::Entity::belongs_to(membership::Entity).from(cohort::Column::Id).to(membership::Column::CohortId).into();
    let mut select = cohort::Entity::find_by_id(id)
        .filter(cohort::Column::TenantId.eq(tenant_id))
        .join(JoinType::InnerJoin, joined)
        .filter(membership::Column::PersonId.eq(person_id))
        .select_also(membership::Entity);
    if tallies_lock && backend == DbBackend::Postgres {
        let lock = super::tallies::member_lock("\"memberships\".\"id\"");
        select = select.expr_as(Expr::cust(lock), "member_tallies_lock");
    }
    select
}

/// `select` (a cohort with a membership, named `A_…` and `B_…` by `select_also`) with every
/// column of the goal it joins, named `C_…`, for `goal::Model::from_query_result_optional(row,
/// "C_")`.
pub(crate) fn with_goal_columns(
    mut select: sea_orm::SelectTwo<cohort::Entity, membership::Entity>,
) -> sea_orm::SelectTwo<cohort::Entity, membership::Entity> {
    use super::entities::goal;
    use sea_orm::{IdenStatic, Iterable};
    for column in goal::Column::iter() {
        select = select.expr_as(Expr::col((goal::Entity, column)), format!("C_{}", IdenStatic::as_str(&column)));
    }
    select
}

/// The person's membership in a cohort, if any.
pub async fn membership_of(
    conn: &impl ConnectionTrait,
    cohort_id: i64,
    person_id: Option<i64>,
) -> Result<Option<membership::Model>, ApiError> {
    let Some(person_id) = person_id else { return Ok(None) };
    Ok(membership::Entity::find()
        .filter(membership::Column::CohortId.eq(cohort_id))
        .filter(membership::Column::PersonId.eq(person_id))
        .one(conn)
        .await?)
}

/// How many active leaders a cohort has.
pub async fn active_leaders(conn: &impl ConnectionTrait, cohort_id: i64) -> Result<u64, ApiError> {
    use afterclass_domain::cohort::{MemberRole, MembershipStatus};
    Ok(membership::Entity::find()
        .filter(membership::Column::CohortId.eq(cohort_id))
        .filter(membership::Column::Role.eq(MemberRole::Leader.as_str()))
        .filter(membership::Column::Status.eq(MembershipStatus::Active.as_str()))
        .count(conn)
        .await?)
}

/// Cohorts a trainee may know of, as the policy (`afterclass_domain::access`) decides it row by
/// row: discoverable ones past the proposal stage, and every cohort they hold a revealing
/// membership in. The statuses and visibilities come from the policy itself.
pub fn visible_to_trainee(select: Select<cohort::Entity>, person_id: i64) -> Select<cohort::Entity> {
    use sea_orm::Condition;
    let discoverable: Vec<&str> = access::discoverable_visibilities().iter().map(|v| v.as_str()).collect();
    select.filter(
        Condition::any()
            .add(
                Condition::all()
                    .add(cohort::Column::Visibility.is_in(discoverable))
                    .add(cohort::Column::Stage.ne(Stage::Proposed.as_str())),
            )
            .add(cohort::Column::Id.in_subquery(member_of(person_id))),
    )
}

/// [`visible_to_trainee`] as raw SQL over the cohorts aliased `cohorts`, for the person bound at
/// `person` (the policy's names are fixed upper-case words, so they are inlined).
pub fn visible_to_trainee_sql(cohorts: &str, person: &str) -> String {
    let quoted = |names: Vec<&str>| names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    let visibilities = quoted(access::discoverable_visibilities().iter().map(|v| v.as_str()).collect());
    let statuses = quoted(access::revealing_statuses().iter().map(|s| s.as_str()).collect());
    let proposed = Stage::Proposed.as_str();
    format!(
        "(({cohorts}.visibility IN ({visibilities}) AND {cohorts}.stage <> '{proposed}') OR {cohorts}.id IN \
         (SELECT cohort_id FROM memberships WHERE person_id = {person} AND status IN ({statuses})))"
    )
}

/// Whether `viewer` holds a membership that grants a cohort's activity (see
/// `afterclass_domain::access::statuses_granting`) in a cohort where `other` has a membership.
pub async fn shares_a_cohort(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    viewer: i64,
    other: i64,
) -> Result<bool, ApiError> {
    let statuses: Vec<&str> = access::statuses_granting(access::Facet::Activity).iter().map(|s| s.as_str()).collect();
    let mine = Query::select()
        .column(membership::Column::CohortId)
        .from(membership::Entity)
        .and_where(Expr::col(membership::Column::PersonId).eq(viewer))
        .and_where(Expr::col(membership::Column::Status).is_in(statuses))
        .to_owned();
    let n = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::PersonId.eq(other))
        .filter(membership::Column::CohortId.in_subquery(mine))
        .count(conn)
        .await?;
    Ok(n > 0)
}

/// The ids of cohorts a person holds a revealing membership in (see
/// `afterclass_domain::access::revealing_statuses`).
pub fn member_of(person_id: i64) -> sea_orm::sea_query::SelectStatement {
    let statuses: Vec<&str> = access::revealing_statuses().iter().map(|s| s.as_str()).collect();
    Query::select()
        .column(membership::Column::CohortId)
        .from(membership::Entity)
        .and_where(Expr::col(membership::Column::PersonId).eq(person_id))
        .and_where(Expr::col(membership::Column::Status).is_in(statuses))
        .to_owned()
}
