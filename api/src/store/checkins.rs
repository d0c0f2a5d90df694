//! A check-in's write in two statements: one that holds the cohort and the member and reads what
//! the rules need, one that writes the check-in, its tallies and its event.
//!
//! Every statement is a round trip to PostgreSQL, and on SQLite a hand-off to the writer's
//! thread and back, which is what a check-in's cost was made of. So the hold also reads the goal
//! the check-in counts towards and draws the check-in's id, and the write (with that id known)
//! is one statement: on PostgreSQL a data-modifying `WITH`, on SQLite the three inserts in one
//! call. The rules themselves are decided in between, by the caller, on what the hold read.
//!
//! On SQLite, where the one writer runs every write one after another, the same read is first
//! taken on a reader ([`read`]) and the rules decided on it outside the writer; the writer then
//! only runs the write ([`insert`] with [`Unchanged`]), which writes nothing unless the
//! cohort's and the member's rows are still exactly as that read found them, and takes its id
//! from the ids the writer's batch has drawn ([`draw_id`]). A write that finds them changed
//! falls back to the hold.

use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    Condition, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    JoinType, ModelTrait, QuerySelect, QueryTrait, RelationDef,
};

use super::entities::{check_in, cohort, goal, membership};
use super::events::{self, NewEvent};
use super::queries;
use super::tallies::{self, Binds};
use crate::error::ApiError;

/// SQLite's next check-in id: the next one after every id the table has had (its
/// `AUTOINCREMENT` sequence, or the highest id where rows were written with theirs).
const SQLITE_NEXT_ID: &str = "(MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'check_ins'), 0), \
                                  COALESCE((SELECT MAX(id) FROM check_ins), 0)) + 1)";

/// What a read of a check-in's cohort found: the cohort, the viewer's membership in it, and the
/// goal when one was named and it is the cohort's.
#[derive(Debug, Clone)]
pub struct Found {
    pub cohort: cohort::Model,
    pub membership: membership::Model,
    pub goal: Option<goal::Model>,
}

/// What the hold of a check-in read: the cohort and the viewer's membership (both held until the
/// transaction ends), the goal when one was named and it is the cohort's, and the id the
/// check-in will have.
#[derive(Debug)]
pub struct Held {
    pub found: Found,
    pub next_id: i64,
}

/// Holds the cohort shared and the person's membership in it, in one statement
/// ([`queries::cohort_and_membership`] with [`Hold::Shared`]: on PostgreSQL the member's tallies
/// too), and reads `goal_id` (when it is the cohort's) and the next check-in id with them. `None`
/// when the cohort or the membership is missing.
///
/// The id is drawn from PostgreSQL's sequence (a refused check-in leaves a gap, as a failed
/// insert would); on SQLite it is the next one after every id the table has had, which stays
/// free since the write transaction is the only writer.
pub async fn share(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    cohort_id: i64,
    person_id: i64,
    goal_id: Option<i64>,
) -> Result<Option<Held>, ApiError> {
    let Some((found, row)) = select(conn, tenant_id, cohort_id, person_id, goal_id, true).await? else {
        return Ok(None);
    };
    Ok(Some(Held { found, next_id: row.try_get::<i64>("", "next_check_in_id")? }))
}

/// The same read as [`share`], holding nothing and drawing no id: for deciding a check-in on a
/// reader before its write ([`Unchanged`]).
pub async fn read(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    cohort_id: i64,
    person_id: i64,
    goal_id: Option<i64>,
) -> Result<Option<Found>, ApiError> {
    Ok(select(conn, tenant_id, cohort_id, person_id, goal_id, false).await?.map(|(found, _)| found))
}

/// The statement of [`share`] (`held`) and [`read`], run; what it found and its row.
async fn select(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    cohort_id: i64,
    person_id: i64,
    goal_id: Option<i64>,
    held: bool,
) -> Result<Option<(Found, sea_orm::QueryResult)>, ApiError> {
    let backend = conn.get_database_backend();
    // Unheld, the statement takes no lock of any kind; held, it also takes the member's tallies.
    let mut select = queries::cohort_and_membership(backend, tenant_id, cohort_id, person_id, held);
    if held {
        let next_id = if backend == DbBackend::Postgres {
            "nextval(pg_get_serial_sequence('check_ins', 'id'))"
        } else {
            SQLITE_NEXT_ID
        };
        select = select.expr_as(Expr::cust(next_id), "next_check_in_id");
    }
    if let Some(goal_id) = goal_id {
        let of_cohort: RelationDef = cohort::Entity::belongs_to(goal::Entity)
            .from(cohort::Column::Id)
            .to(goal::Column::CohortId)
            .on_condition(move |_, right| {
                Condition::all().add(Expr::col((right, goal::Column::Id)).eq(Expr::val(goal_id)))
            })
            .into();
        select = queries::with_goal_columns(select.join(JoinType::LeftJoin, of_cohort));
    }
    // The goal is only read: a goal never moves to another cohort and is never deleted, and
    // PostgreSQL cannot hold the nullable side of an outer join.
    if held {
        QueryTrait::query(&mut select)
            .lock_with_tables(LockType::Share, [cohort::Entity.table_ref(), membership::Entity.table_ref()]);
    }
    let Some(row) = conn.query_one_raw(select.build(backend)).await? else { return Ok(None) };
    let Some(membership) = membership::Model::from_query_result_optional(&row, "B_")? else { return Ok(None) };
    let found = Found {
        cohort: cohort::Model::from_query_result(&row, "A_")?,
        membership,
        goal: match goal_id {
            Some(_) => goal::Model::from_query_result_optional(&row, "C_")?,
            None => None,
        },
    };
    Ok(Some((found, row)))
}

/// Draws the id of a check-in about to be written in `conn`, SQLite's writer's transaction,
/// without a statement where it can: the first check-in of a batch that needs one reads the next
/// id in the batch's transaction ([`SQLITE_NEXT_ID`]), and the batch's later ones count on from
/// it (kept with the batch: `commit::next_check_in_id`). The batch holds the database's write
/// lock, so no other connection or process can take those ids before it commits; a batch that
/// rolls back leaves a gap, as a failed insert would; the next batch reads again. Outside the
/// group commit every id is read.
pub async fn draw_id(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    if let Some(id) = super::commit::next_check_in_id() {
        return Ok(id);
    }
    let statement =
        sea_orm::Statement::from_string(conn.get_database_backend(), format!("SELECT {SQLITE_NEXT_ID} AS id"));
    let id = match conn.query_one_raw(statement).await? {
        Some(row) => row.try_get::<i64>("", "id")?,
        None => 1,
    };
    super::commit::check_in_id_used(id);
    Ok(id)
}

/// Records that a check-in of the calling unit's batch took `id` (drawn by [`share`]), so that
/// the ids [`draw_id`] gives later in the batch come after it.
pub fn id_used(id: i64) {
    super::commit::check_in_id_used(id);
}

/// The rows a check-in was decided on, as [`read`] found them: its write ([`insert`]) writes
/// nothing unless both are still exactly so, every column of them.
#[derive(Debug, Clone, Copy)]
pub struct Unchanged<'a> {
    pub cohort: &'a cohort::Model,
    pub membership: &'a membership::Model,
}

impl Unchanged<'_> {
    /// The condition, in `b`'s values.
    fn condition(&self, b: &mut Binds) -> String {
        let (cohort, membership) = (as_read(b, self.cohort), as_read(b, self.membership));
        let (cohort_id, membership_id) = (b.bind(self.cohort.id), b.bind(self.membership.id));
        format!(
            "EXISTS (SELECT 1 FROM cohorts WHERE id = {cohort_id} AND {cohort}) \
             AND EXISTS (SELECT 1 FROM memberships WHERE id = {membership_id} AND {membership})"
        )
    }
}

/// Every column of `model`'s row equal to its value in `model`, NULLs included.
fn as_read<M: ModelTrait>(b: &mut Binds, model: &M) -> String {
    let same = if b.backend() == DbBackend::Postgres { "IS NOT DISTINCT FROM" } else { "IS" };
    <M::Entity as EntityTrait>::Column::iter()
        .map(|column| format!("{} {same} {}", IdenStatic::as_str(&column), b.bind(model.get(column))))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Writes `row` (its id drawn by [`share`] or [`draw_id`]), adds it to its member's tallies and
/// totals (held by [`share`] on PostgreSQL) and records `event`, in one statement. With an
/// idempotency key, a check-in of the same member and key stored meanwhile wins: nothing is
/// written and this gives `false`. So it does when `unchanged` is given and the cohort's or the
/// member's row is no longer as it says.
pub async fn insert(
    conn: &impl ConnectionTrait,
    row: &check_in::Model,
    event: &NewEvent,
    unchanged: Option<Unchanged<'_>>,
) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let mut b = Binds::new(backend);
    let values = [
        b.bind(row.id),
        b.bind(row.tenant_id),
        b.bind(row.cohort_id),
        b.bind(row.membership_id),
        b.bind(row.goal_id),
        b.bind(row.value),
        b.bind(row.note.clone()),
        b.bind(row.confidence),
        b.bind(row.blockers.clone()),
        b.bind(row.occurred_at),
        b.bind(row.created_at),
        b.bind(row.idempotency_key.clone()),
    ]
    .join(", ");
    // With `unchanged`, the row is selected only where the rows are as read; the `WHERE` also
    // keeps SQLite from reading `ON CONFLICT` as a join constraint.
    let rows = match unchanged {
        Some(unchanged) => format!("SELECT {values} WHERE {}", unchanged.condition(&mut b)),
        None => format!("VALUES ({values})"),
    };
    let check_in = format!(
        "INSERT INTO check_ins (id, tenant_id, cohort_id, membership_id, goal_id, value, note, confidence, \
                                blockers, occurred_at, created_at, idempotency_key) \
         {rows} ON CONFLICT (cohort_id, membership_id, idempotency_key) DO NOTHING"
    );
    let statement = if backend == DbBackend::Postgres {
        // Sibling statements of one `WITH` see the same snapshot, not each other's rows: the
        // tallies and the event ask the insert's own `RETURNING` whether it wrote.
        let inserted = "EXISTS (SELECT 1 FROM inserted)";
        let [tallies, totals] = tallies::upsert(&mut b, row, inserted);
        let event = events::insert(&mut b, event, inserted);
        b.statement(format!(
            "WITH inserted AS ({check_in} RETURNING id), tallied AS ({tallies}), totalled AS ({totals}), \
                  recorded AS ({event}) \
             SELECT COUNT(*) AS written FROM inserted"
        ))
    } else {
        // One call, statement after statement: each later one sees the row if it was written.
        // In the group commit it begins with the unit's savepoint, when that is not open yet
        // (the check-in is written with `Savepoint::InFirstWrite`).
        let id = b.bind(row.id);
        let inserted = format!("EXISTS (SELECT 1 FROM check_ins WHERE id = {id})");
        let [tallies, totals] = tallies::upsert(&mut b, row, &inserted);
        let event = events::insert(&mut b, event, &inserted);
        let savepoint = super::commit::unit_savepoint();
        let statements = if savepoint.is_empty() { 5 } else { 6 };
        let sql = format!(
            "{savepoint}{check_in}; {tallies}; {totals}; {event}; SELECT COUNT(*) AS written FROM check_ins WHERE id = {id}"
        );
        b.statements(sql, statements)
    };
    // On SQLite the rows come from the last statement, the only one that gives any.
    let rows = conn.query_all_raw(statement).await?;
    let written = match rows.last() {
        Some(r) => r.try_get::<i64>("", "written")?,
        None => 0,
    };
    Ok(written == 1)
}
