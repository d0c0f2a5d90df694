//! The `rate_windows` counters, for budgets every replica on the database shares (see
//! `crate::rate`, which decides what is counted and against which budget).

use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::Store;
use super::tallies::Binds;

/// One unit to spend of `subject`'s `budget`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    pub subject: String,
    pub budget: u32,
}

/// Spends one unit of every budget in `spends` in the window that starts at `window_start`
/// (microseconds), all or none, in one statement; gives whether they were spent. A budget
/// already used up writes nothing: no row is inserted and no count changes. On PostgreSQL the
/// same statement deletes the windows that started before `stale_before`.
///
/// Concurrent requests are counted exactly: a row's count only grows while it is below its
/// budget (checked again on the conflicting row itself). Only when two budgets run out in the
/// same instant may one of a refused request's budgets have counted it.
pub async fn spend(store: &Store, window_start: i64, stale_before: i64, spends: Vec<Spend>) -> Result<bool, DbErr> {
    if spends.is_empty() {
        return Ok(true);
    }
    let wanted = spends.len();
    let backend = store.backend();
    if backend == DbBackend::Postgres {
        let statement = spend_statement(backend, window_start, Some(stale_before), &spends);
        let rows = store.writer().query_all_raw(statement).await?;
        return Ok(rows.len() == wanted);
    }
    // SQLite: through the one writer's group commit, each unit in its savepoint.
    store
        .write(move |txn| {
            Box::pin(async move {
                let statement = spend_statement(DbBackend::Sqlite, window_start, None, &spends);
                let rows = txn.query_all_raw(statement).await?;
                Ok::<_, DbErr>(rows.len() == wanted)
            })
        })
        .await
}

fn spend_statement(
    backend: DbBackend,
    window_start: i64,
    stale_before: Option<i64>,
    spends: &[Spend],
) -> sea_orm::Statement {
    let mut b = Binds::new(backend);
    let window = b.bind(window_start);
    let mut wanted = Vec::new();
    let mut spent = Vec::new();
    for (i, s) in spends.iter().enumerate() {
        let subject = b.bind(s.subject.clone());
        let budget = b.bind(i64::from(s.budget));
        // PostgreSQL needs the types of a union's first row spelled out.
        if i == 0 && backend == DbBackend::Postgres {
            wanted.push(format!("SELECT {subject}::text AS subject, {budget}::integer AS budget"));
        } else if i == 0 {
            wanted.push(format!("SELECT {subject} AS subject, {budget} AS budget"));
        } else {
            wanted.push(format!("SELECT {subject}, {budget}"));
        }
        spent.push(format!("(r.subject = {subject} AND r.hits >= {budget})"));
    }
    let sweep = match stale_before {
        Some(before) => format!("WITH swept AS (DELETE FROM rate_windows WHERE window_start < {}) ", b.bind(before)),
        None => String::new(),
    };
    let window_cast = if backend == DbBackend::Postgres { format!("{window}::bigint") } else { window.clone() };
    let sql = format!(
        "{sweep}INSERT INTO rate_windows (subject, window_start, hits, budget) \
         SELECT wanted.subject, {window_cast}, 1, wanted.budget FROM ({wanted}) AS wanted \
         WHERE NOT EXISTS (SELECT 1 FROM rate_windows r WHERE r.window_start = {window} AND ({spent})) \
         ON CONFLICT (subject, window_start) DO UPDATE SET hits = rate_windows.hits + 1, budget = excluded.budget \
         WHERE rate_windows.hits < excluded.budget \
         RETURNING subject",
        wanted = wanted.join(" UNION ALL "),
        spent = spent.join(" OR "),
    );
    b.statement(sql)
}

/// Deletes the windows that started before `before` (SQLite; PostgreSQL does it as it spends).
pub async fn sweep(store: &Store, before: i64) -> Result<(), DbErr> {
    store
        .write(move |txn| {
            Box::pin(async move {
                let mut b = Binds::new(txn.get_database_backend());
                let sql = format!("DELETE FROM rate_windows WHERE window_start < {}", b.bind(before));
                txn.execute_raw(b.statement(sql)).await?;
                Ok::<_, DbErr>(())
            })
        })
        .await
}

/// The hits counted so far of each subject in the window, for saying which budget refused.
pub async fn hits(store: &Store, window_start: i64, subjects: &[String]) -> Result<Vec<(String, i64)>, DbErr> {
    let conn = store.reader();
    let mut b = Binds::new(conn.get_database_backend());
    let window = b.bind(window_start);
    let list: Vec<String> = subjects.iter().map(|s| b.bind(s.clone())).collect();
    let sql = format!(
        "SELECT subject, CAST(hits AS BIGINT) FROM rate_windows WHERE window_start = {window} AND subject IN ({})",
        list.join(", ")
    );
    let rows = conn.query_all_raw(b.statement(sql)).await?;
    rows.iter().map(|r| Ok((r.try_get_by_index::<String>(0)?, r.try_get_by_index::<i64>(1)?))).collect()
}
