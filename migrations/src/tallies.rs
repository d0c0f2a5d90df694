//! What a row of `check_in_tallies` holds, in SQL: rebuilding every tally from the check-ins
//! with bulk statements, and the bound a tally's sum counts values within. The store's write
//! path (`afterclass::store::tallies`) keeps the same rows up to date one check-in at a time,
//! and this is the definition it keeps.
//!
//! Each check-in has one tally row per key: key 0 (every check-in of the member) and, for a
//! check-in on a goal, the goal's id. A row holds the member's running totals over that key up
//! to and including its check-in, in the order (`occurred_at`, `id`): how many check-ins, the sum
//! of their values within the bound, and the latest check-in that carried a value (its
//! `occurred_at`, `id` and value, as recorded).
//!
//! `check_in_totals` holds each member's last tally of each key (the row of their latest check-in
//! in that order) once more, with the member's cohort: what a read as of any moment at or after
//! that check-in finds, without probing the history.

use afterclass_domain::goal::MAX_MAGNITUDE;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr};

/// The key of the tallies that count every check-in of a member, whatever its goal.
pub const ALL_CHECK_INS: i64 = 0;

/// `value` (an SQL expression) as sums count it: within the domain's bound on values
/// (`goal::MAX_MAGNITUDE`), so that a value stored before the bound cannot make a sum overflow;
/// NULL stays NULL.
pub fn bounded(value: &str) -> String {
    let max = format!("CAST({MAX_MAGNITUDE:e} AS DOUBLE PRECISION)");
    format!(
        "(CASE WHEN {value} IS NULL THEN NULL WHEN {value} > {max} THEN {max} \
         WHEN {value} < -{max} THEN -{max} ELSE {value} END)"
    )
}

/// Rebuilds the tallies and the totals of one cohort's check-ins, or of every cohort's, from the
/// check-ins: four statements, whatever the number of check-ins.
pub async fn rebuild(conn: &impl ConnectionTrait, cohort_id: Option<i64>) -> Result<(), DbErr> {
    rebuild_tallies(conn, cohort_id).await?;
    rebuild_totals(conn, cohort_id).await
}

/// Rebuilds the totals of one cohort, or of every cohort, from the tallies: each member's last
/// tally of each key, found by numbering each member's tallies of a key latest first (one sort,
/// not a search for a later tally from every tally, which grows with the square of a member's
/// history). Two statements.
pub(crate) async fn rebuild_totals(conn: &impl ConnectionTrait, cohort_id: Option<i64>) -> Result<(), DbErr> {
    let (totals, members) = match cohort_id {
        Some(id) => (format!("cohort_id = {id}"), format!("m.cohort_id = {id}")),
        None => ("1 = 1".to_owned(), "1 = 1".to_owned()),
    };
    conn.execute_unprepared(&format!("DELETE FROM check_in_totals WHERE {totals}")).await?;
    conn.execute_unprepared(&format!(
        "INSERT INTO check_in_totals (tenant_id, cohort_id, membership_id, goal_key, check_in_id, occurred_at, \
                                      check_ins, value_sum, latest_at, latest_id, latest_value) \
         SELECT tenant_id, cohort_id, membership_id, goal_key, check_in_id, occurred_at, \
                check_ins, value_sum, latest_at, latest_id, latest_value \
         FROM ( \
             SELECT t.tenant_id, m.cohort_id, t.membership_id, t.goal_key, t.check_in_id, t.occurred_at, \
                    t.check_ins, t.value_sum, t.latest_at, t.latest_id, t.latest_value, \
                    ROW_NUMBER() OVER (PARTITION BY t.membership_id, t.goal_key \
                                       ORDER BY t.occurred_at DESC, t.check_in_id DESC) AS newest \
             FROM check_in_tallies t JOIN memberships m ON m.id = t.membership_id \
             WHERE {members} \
         ) numbered WHERE newest = 1"
    ))
    .await?;
    Ok(())
}

/// Rebuilds the tallies of one cohort's check-ins, or of every cohort's, from the check-ins:
/// two statements, whatever the number of check-ins.
pub(crate) async fn rebuild_tallies(conn: &impl ConnectionTrait, cohort_id: Option<i64>) -> Result<(), DbErr> {
    let (scope, tallies) = match cohort_id {
        Some(id) => (
            format!("cohort_id = {id}"),
            format!("membership_id IN (SELECT id FROM memberships WHERE cohort_id = {id})"),
        ),
        None => ("1 = 1".to_owned(), "1 = 1".to_owned()),
    };
    conn.execute_unprepared(&format!("DELETE FROM check_in_tallies WHERE {tallies}")).await?;
    // `upto` runs over a member's check-ins of one key in order; `valued` numbers the check-ins
    // with a value so far, so the first row of each (`run`) is the latest valued check-in.
    conn.execute_unprepared(&format!(
        "INSERT INTO check_in_tallies (tenant_id, membership_id, goal_key, check_in_id, occurred_at, \
                                       check_ins, value_sum, latest_at, latest_id, latest_value) \
         SELECT tenant_id, membership_id, goal_key, id, occurred_at, n, total, \
                CASE WHEN valued = 0 THEN NULL ELSE FIRST_VALUE(occurred_at) OVER run END, \
                CASE WHEN valued = 0 THEN NULL ELSE FIRST_VALUE(id) OVER run END, \
                CASE WHEN valued = 0 THEN NULL ELSE FIRST_VALUE(value) OVER run END \
         FROM ( \
             SELECT tenant_id, membership_id, goal_key, id, occurred_at, value, \
                    COUNT(*) OVER upto AS n, \
                    COALESCE(SUM({bounded}) OVER upto, 0) AS total, \
                    COUNT(value) OVER upto AS valued \
             FROM ( \
                 SELECT tenant_id, membership_id, {ALL_CHECK_INS} AS goal_key, id, occurred_at, value \
                 FROM check_ins WHERE {scope} \
                 UNION ALL \
                 SELECT tenant_id, membership_id, goal_id, id, occurred_at, value \
                 FROM check_ins WHERE goal_id IS NOT NULL AND {scope} \
             ) keyed \
             WINDOW upto AS (PARTITION BY membership_id, goal_key ORDER BY occurred_at, id \
                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) \
         ) running \
         WINDOW run AS (PARTITION BY membership_id, goal_key, valued ORDER BY occurred_at, id)",
        bounded = bounded("value"),
    ))
    .await?;
    Ok(())
}
