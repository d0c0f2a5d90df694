//! A check-in's write in two statements: one that holds the cohort and the member and reads what
//! the rules need, one that writes the check-in, its tallies and its event.
//!
//! Every statement is a round trip to PostgreSQL, and on SQLite a hand-off to the writer's
//! thread and back, which is what a check-in's cost was made of. So the hold also reads the goal
//! the check-in counts towards and draws the check-in's id, and the write (with that id known)
//! is one statement: on PostgreSQL a data-modifying `WITH`, on SQLite the three inserts in one
//! call. The rules themselves are decided in between, by the caller, on what the hold read.

use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    Condition, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    JoinType, QuerySelect, QueryTrait, RelationDef,
};

use super::entities::{check_in, cohort, goal, membership};
use super::events::{self, NewEvent};
use super::queries::{self, Hold};
use super::tallies::{self, Binds};
use crate::error::ApiError;

/// What the hold of a check-in read: the cohort and the viewer's membership (both held until the
/// transaction ends), the goal when one was named and it is the cohort's, and the id the
/// check-in will have.
#[derive(Debug)]
pub struct Held {
    pub cohort: cohort::Model,
    pub membership: membership::Model,
    pub goal: Option<goal::Model>,
    pub next_id: i64,
}

/// Holds the cohort shared and the person's membership in it, in one statement
/// ([`queries::cohort_and_membership`] with [`Hold::Shared`]: on PostgreSQL the member's tallies
/// too), and reads `goal_id` (when it is the cohort's) and the next check-in id with them. `None` when the cohort or the membership is missing.
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
    let backend = conn.get_database_backend();
    let mut select = queries::cohort_and_membership(backend, tenant_id, cohort_id, person_id, Hold::Shared);
    let next_id = if backend == DbBackend::Postgres {
        "nextval(pg_get_serial_sequence('check_ins', 'id'))"
    } else {
        "(MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'check_ins'), 0), \
              COALESCE((SELECT MAX(id) FROM check_ins), 0)) + 1)"
    };
    select = select.expr_as(Expr::cust(next_id), "next_check_in_id");
    if let Some(goal_id) = goal_id {
        let of_cohort: RelationDef = cohort::Entity::belongs_to(goal::Entity)
            .from(cohort::Column::Id)
            .to(goal::Column::CohortId)
            .on_condition(move |_, right| {
                Condition::all().add(Expr::col((right, goal::Column::Id)).eq(Expr::val(goal_id)))
            })
            .into();
        select = select.join(JoinType::LeftJoin, of_cohort);
        for column in goal::Column::iter() {
            select = select.expr_as(Expr::col((goal::Entity, column)), format!("C_{}", IdenStatic::as_str(&column)));
        }
    }
    // The goal is only read: a goal never moves to another cohort and is never deleted, and
    // PostgreSQL cannot hold the nullable side of an outer join.
    QueryTrait::query(&mut select)
        .lock_with_tables(LockType::Share, [cohort::Entity.table_ref(), membership::Entity.table_ref()]);
    let Some(row) = conn.query_one_raw(select.build(backend)).await? else { return Ok(None) };
    let Some(membership) = membership::Model::from_query_result_optional(&row, "B_")? else { return Ok(None) };
    let held = Held {
        cohort: cohort::Model::from_query_result(&row, "A_")?,
        membership,
        goal: match goal_id {
            Some(_) => goal::Model::from_query_result_optional(&row, "C_")?,
            None => None,
        },
        next_id: row.try_get::<i64>("", "next_check_in_id")?,
    };
    Ok(Some(held))
}

/// Writes `row` (its id drawn by [`share`]), adds it to its member's tallies and totals (held by [`share`]
/// on PostgreSQL) and records `event`, in one statement. With an idempotency key, a check-in of
/// the same member and key stored meanwhile wins: nothing is written and this gives `false`.
pub async fn insert(conn: &impl ConnectionTrait, row: &check_in::Model, event: &NewEvent) -> Result<bool, DbErr> {
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
    let check_in = format!(
        "INSERT INTO check_ins (id, tenant_id, cohort_id, membership_id, goal_id, value, note, confidence, \
                                blockers, occurred_at, created_at, idempotency_key) \
         VALUES ({values}) ON CONFLICT (cohort_id, membership_id, idempotency_key) DO NOTHING"
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
        let id = b.bind(row.id);
        let inserted = format!("EXISTS (SELECT 1 FROM check_ins WHERE id = {id})");
        let [tallies, totals] = tallies::upsert(&mut b, row, &inserted);
        let event = events::insert(&mut b, event, &inserted);
        let sql = format!(
            "{check_in}; {tallies}; {totals}; {event}; SELECT COUNT(*) AS written FROM check_ins WHERE id = {id}"
        );
        b.statements(sql, 5)
    };
    // On SQLite the rows come from the last statement, the only one that gives any.
    let rows = conn.query_all_raw(statement).await?;
    let written = match rows.last() {
        Some(r) => r.try_get::<i64>("", "written")?,
        None => 0,
    };
    Ok(written == 1)
}
