//! Running tallies of check-ins, kept in the same transaction as each check-in, so that
//! progress, participation and health read a few rows per member whatever the history.
//!
//! What a tally row holds is defined in SQL by `afterclass_migrations::tallies` (which also
//! builds them for check-ins stored before them): per member and key (every check-in, or one
//! goal's), the running count, bounded sum and latest valued check-in up to each check-in, in
//! the order (`occurred_at`, `id`). Reading "as of `T`" is one index probe per member and key:
//! the member's last tally at or before `T`. Tallies are per member, so concurrent check-ins by
//! different members never write the same row.

use afterclass_migrations::tallies::bounded;
pub use afterclass_migrations::tallies::{ALL_CHECK_INS, rebuild};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use super::entities::check_in;

/// Bind values of one raw statement, with their numbered placeholders in the backend's
/// spelling (`$1` or `?1`), so that a value may be used more than once.
pub(super) struct Binds {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Binds {
    pub(super) fn new(backend: DbBackend) -> Self {
        Binds { backend, values: Vec::new() }
    }

    /// Binds `value`; gives its placeholder.
    pub(super) fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        let n = self.values.len();
        if self.backend == DbBackend::Postgres { format!("${n}") } else { format!("?{n}") }
    }

    /// Binds every id; gives their placeholders, comma-separated.
    pub(super) fn list(&mut self, ids: &[i64]) -> String {
        ids.iter().map(|id| self.bind(*id)).collect::<Vec<_>>().join(", ")
    }

    pub(super) fn backend(&self) -> DbBackend {
        self.backend
    }

    pub(super) fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }

    /// `statements` SQLite statements run in one call, sharing these values. The driver binds
    /// each statement's `?NNN` by number, but counts every slot a statement leaves unnamed (the
    /// numbers below its highest it does not use) as one more positional value, across the
    /// statements, and stops binding once that count passes the values given; so the values are
    /// padded with NULLs, bound only into slots no statement reads, far enough that it never
    /// does.
    pub(super) fn statements(mut self, sql: String, statements: usize) -> Statement {
        let padded = self.values.len() * (statements + 1);
        self.values.resize(padded, Value::BigInt(None));
        self.statement(sql)
    }
}

/// A scalar subquery giving `column` of the member's last tally of `key` at or before `at` (all
/// three SQL expressions); NULL when the member had no check-in of that key by then. One probe
/// of the tallies' index.
fn as_of(column: &str, membership: &str, key: &str, at: &str) -> String {
    format!(
        "(SELECT t.{column} FROM check_in_tallies t \
          WHERE t.membership_id = {membership} AND t.goal_key = {key} AND t.occurred_at <= {at} \
          ORDER BY t.occurred_at DESC, t.check_in_id DESC LIMIT 1)"
    )
}

/// `column` of the member's last tally of `key` at or before `at`, like [`as_of`], taken from
/// `totals` (the alias of the member's `check_in_totals` row of that key, joined to the query,
/// NULL when the member has no check-in of that key) when its check-in occurred at or before
/// `at`, which a read as of now finds for every member; only a member who checked in after `at`
/// costs a probe of the tallies.
pub(super) fn as_of_totals(column: &str, totals: &str, membership: &str, key: &str, at: &str) -> String {
    format!(
        "(CASE WHEN {totals}.occurred_at IS NULL THEN NULL WHEN {totals}.occurred_at <= {at} THEN {totals}.{column} \
          ELSE {probe} END)",
        probe = as_of(column, membership, key, at)
    )
}

/// The join of `totals`, the member's `check_in_totals` row of `key`, for [`as_of_totals`].
pub(super) fn join_totals(totals: &str, membership: &str, key: &str) -> String {
    format!("LEFT JOIN check_in_totals {totals} ON {totals}.membership_id = {membership} AND {totals}.goal_key = {key}")
}

/// Adds a check-in just stored to its member's tallies and totals ([`upsert`]), for writers outside the
/// check-in's own statement (`store::checkins`, which writes them itself), taking on PostgreSQL a
/// transaction-level advisory lock keyed by the membership first, so that one member's tallies
/// are written by one transaction at a time whatever else the write locks.
pub async fn record(conn: &impl ConnectionTrait, c: &check_in::Model) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    if backend == DbBackend::Postgres {
        let lock = format!("SELECT {}", member_lock("$1"));
        conn.execute_raw(Statement::from_sql_and_values(backend, lock, [Value::from(c.membership_id)])).await?;
    }
    let mut b = Binds::new(backend);
    let [tallies, totals] = upsert(&mut b, c, "true");
    let statement = if backend == DbBackend::Postgres {
        b.statement(format!("WITH tallied AS ({tallies}) {totals}"))
    } else {
        b.statements(format!("{tallies}; {totals}"), 2)
    };
    conn.execute_raw(statement).await?;
    Ok(())
}

/// The PostgreSQL expression that takes the advisory lock on a member's tallies (`membership`,
/// an SQL expression giving the membership's id) until the transaction ends. An advisory lock,
/// not a row lock: check-ins hold the membership row shared.
pub(super) fn member_lock(membership: &str) -> String {
    format!("pg_advisory_xact_lock({membership})")
}

/// The two statements that add check-in `c` to its member's tallies and totals when `only_if`
/// (an SQL condition) holds, their values bound in `b`, the writer holding the member's tallies
/// on PostgreSQL ([`member_lock`]). Neither reads what the other writes, so they may run as
/// siblings of one PostgreSQL `WITH`.
///
/// The tallies: a row for every check-in and one for its goal, each continuing the member's
/// previous row, and the check-in added to every later row (a check-in that occurred before others
/// already recorded) by writing those rows again, which the unique key turns into an update.
///
/// The totals: the member's last tally of each key, the check-in added to it, and the check-in
/// the row's own when it is the latest.
pub(super) fn upsert(b: &mut Binds, c: &check_in::Model, only_if: &str) -> [String; 2] {
    let (tenant, member, id, at, value) =
        (b.bind(c.tenant_id), b.bind(c.membership_id), b.bind(c.id), b.bind(c.occurred_at), b.bind(c.value));
    let (goal, cohort) = (b.bind(c.goal_id), b.bind(c.cohort_id));
    let keys = match c.goal_id {
        Some(_) => format!("SELECT {ALL_CHECK_INS} AS goal_key UNION ALL SELECT {goal}"),
        None => format!("SELECT {ALL_CHECK_INS} AS goal_key"),
    };
    let t = "check_in_tallies";
    let add = |table: &str| added_to(table, &at, &id, &value);
    // The outer `WHERE` also keeps SQLite from reading `ON CONFLICT` as a join constraint.
    let tallies = format!(
        "INSERT INTO {t} (tenant_id, membership_id, goal_key, check_in_id, occurred_at, \
                          check_ins, value_sum, latest_at, latest_id, latest_value) \
         SELECT * FROM ( \
             SELECT {tenant}, {member}, k.goal_key, {id}, {at}, \
                    COALESCE(p.check_ins, 0) + 1, COALESCE(p.value_sum, 0) + COALESCE({bounded}, 0), \
                    CASE WHEN {value} IS NULL THEN p.latest_at ELSE {at} END, \
                    CASE WHEN {value} IS NULL THEN p.latest_id ELSE {id} END, \
                    CASE WHEN {value} IS NULL THEN p.latest_value ELSE {value} END \
             FROM ({keys}) k \
             LEFT JOIN {t} p ON p.id = ( \
                 SELECT l.id FROM {t} l \
                 WHERE l.membership_id = {member} AND l.goal_key = k.goal_key \
                   AND l.occurred_at <= {at} AND (l.occurred_at < {at} OR l.check_in_id < {id}) \
                 ORDER BY l.occurred_at DESC, l.check_in_id DESC LIMIT 1) \
             UNION ALL \
             SELECT tenant_id, membership_id, goal_key, check_in_id, occurred_at, \
                    check_ins, value_sum, latest_at, latest_id, latest_value \
             FROM {t} \
             WHERE membership_id = {member} AND goal_key IN ({ALL_CHECK_INS}, {goal}) \
               AND occurred_at >= {at} AND (occurred_at > {at} OR check_in_id > {id}) \
         ) changed WHERE {only_if} \
         ON CONFLICT (membership_id, goal_key, occurred_at, check_in_id) DO UPDATE SET {added}",
        bounded = bounded(&value),
        added = add(t),
    );
    let s = "check_in_totals";
    let later = format!("({s}.occurred_at < {at} OR ({s}.occurred_at = {at} AND {s}.check_in_id < {id}))");
    let totals = format!(
        "INSERT INTO {s} (tenant_id, cohort_id, membership_id, goal_key, check_in_id, occurred_at, \
                          check_ins, value_sum, latest_at, latest_id, latest_value) \
         SELECT * FROM ( \
             SELECT {tenant}, {cohort}, {member}, k.goal_key, {id}, {at}, 1, COALESCE({bounded}, 0), \
                    CASE WHEN {value} IS NULL THEN NULL ELSE {at} END, \
                    CASE WHEN {value} IS NULL THEN NULL ELSE {id} END, {value} \
             FROM ({keys}) k \
         ) added WHERE {only_if} \
         ON CONFLICT (membership_id, goal_key) DO UPDATE SET \
             check_in_id = CASE WHEN {later} THEN {id} ELSE {s}.check_in_id END, \
             occurred_at = CASE WHEN {later} THEN {at} ELSE {s}.occurred_at END, {added}",
        bounded = bounded(&value),
        added = add(s),
    );
    [tallies, totals]
}

/// The assignments that add one check-in (bound as `at`, `id`, `value`) to an existing
/// row of `table`, a tally or a total alike: one more check-in, its bounded value in the
/// sum, and the latest value replaced when this check-in carries a value and comes later.
fn added_to(table: &str, at: &str, id: &str, value: &str) -> String {
    let newer = format!(
        "{value} IS NOT NULL AND ({table}.latest_at IS NULL OR {table}.latest_at < {at} \
         OR ({table}.latest_at = {at} AND {table}.latest_id < {id}))"
    );
    format!(
        "check_ins = {table}.check_ins + 1, \
         value_sum = {table}.value_sum + COALESCE({bounded}, 0), \
         latest_at = CASE WHEN {newer} THEN {at} ELSE {table}.latest_at END, \
         latest_id = CASE WHEN {newer} THEN {id} ELSE {table}.latest_id END, \
         latest_value = CASE WHEN {newer} THEN {value} ELSE {table}.latest_value END",
        bounded = bounded(value),
    )
}
