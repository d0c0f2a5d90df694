//! The store: connections to SQLite or PostgreSQL, the entities, and the queries the API needs.
//!
//! SQLite has one writer, so a SQLite store keeps two pools over the same WAL-mode file: a single
//! writer connection that every write transaction goes through, and a few reader connections that
//! never block it. PostgreSQL uses one pool for both. Writes that change a cohort lock its row
//! (`SELECT … FOR UPDATE` on PostgreSQL; the single writer on SQLite), so concurrent requests
//! on any number of replicas see each other's committed work. [`Store::write`] runs a unit of
//! work in a write transaction; on SQLite concurrent units share one (group commit, see
//! `commit.rs`).

mod commit;
pub mod entities;
pub mod events;
pub mod lifecycle;
pub mod meetings;
pub mod nudges;
pub mod progress;
pub mod queries;
pub mod rate;
pub mod search;
pub mod tallies;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use afterclass_migrations::{Migrator, MigratorTrait};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};

pub use commit::WriteFuture;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    reader: DatabaseConnection,
    writer: DatabaseConnection,
    /// SQLite's queue of units for its one writer; `None` on PostgreSQL.
    group: Option<commit::GroupCommit>,
    statements: Arc<AtomicU64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend()).finish()
    }
}

/// Whether a URL names a SQLite database.
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

impl Store {
    /// Opens the database at `url`. A SQLite file is created if missing, in WAL mode with
    /// foreign keys on and a busy timeout.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, DbErr> {
        let statements = Arc::new(AtomicU64::new(0));
        let (reader, writer, group) = if is_sqlite(url) {
            let url = if url.contains("mode=") {
                url.to_owned()
            } else {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            };
            let writer = sqlite_pool(&url, 1, &statements).await?;
            let reader = sqlite_pool(&url, max_connections.clamp(1, 8), &statements).await?;
            let group = commit::GroupCommit::start(writer.clone());
            (reader, writer, Some(group))
        } else {
            let mut opts = ConnectOptions::new(url.to_owned());
            opts.max_connections(max_connections)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                .sqlx_logging(false)
                // Aggregates over check-ins are cached as prepared statements; a generic plan
                // made for a large cohort would scan every check-in for a small one, so each
                // execution is planned for its own parameters.
                .map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
            let mut pool = Database::connect(opts).await?;
            count_statements(&mut pool, &statements);
            (pool.clone(), pool, None)
        };
        Ok(Store { inner: Arc::new(Inner { reader, writer, group, statements }) })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.inner.writer, None).await
    }

    /// For reads: never blocks or is blocked by writes.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.inner.reader
    }

    /// For writes: begin a transaction here.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.inner.writer
    }

    /// Begins a write transaction on the writer, outside the group commit: on SQLite `BEGIN
    /// IMMEDIATE` ([`commit::immediate`]).
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.inner.writer.begin_with_options(commit::immediate()).await
    }

    /// Runs `work` in a write transaction and returns its result once that transaction has
    /// committed; a unit that fails writes nothing. On SQLite concurrent units share one
    /// transaction, each in a savepoint of its own, and all of them wait for its commit; a failed
    /// commit fails them all.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> WriteFuture<'t, Result<T, E>> + Send + 'static,
    {
        if let Some(group) = &self.inner.group {
            return group.write(work).await;
        }
        let txn = self.inner.writer.begin().await?;
        let value = work(&txn).await?;
        txn.commit().await?;
        Ok(value)
    }

    /// Whether write transactions run one after another (SQLite's single writer), so that each
    /// sees every write before it; on PostgreSQL they overlap.
    pub fn writes_one_at_a_time(&self) -> bool {
        self.inner.group.is_some()
    }

    pub fn backend(&self) -> DbBackend {
        self.inner.writer.get_database_backend()
    }

    /// How many SQL statements this store has run since it opened.
    pub fn statements(&self) -> u64 {
        self.inner.statements.load(Ordering::Relaxed)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.inner.reader.ping().await
    }

    /// Closes every connection, letting SQLite checkpoint its write-ahead log.
    pub async fn close(&self) {
        for conn in [&self.inner.reader, &self.inner.writer] {
            if let Err(err) = conn.clone().close().await {
                tracing::warn!(%err, "closing the database");
            }
        }
    }
}

async fn sqlite_pool(url: &str, max: u32, statements: &Arc<AtomicU64>) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // The default idle timeout would close the last connection of an idle pool; a file
        // database loses nothing by that, but reopening costs a little on the next request.
        .idle_timeout(Duration::from_secs(3600))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    let mut pool = Database::connect(opts).await?;
    count_statements(&mut pool, statements);
    Ok(pool)
}

fn count_statements(pool: &mut DatabaseConnection, statements: &Arc<AtomicU64>) {
    let counter = Arc::clone(statements);
    pool.set_metric_callback(move |info| {
        // `AFTERCLASS_LOG=afterclass::sql=trace` shows every statement.
        tracing::trace!(target: "afterclass::sql", elapsed = ?info.elapsed, failed = info.failed, sql = %info.statement.sql);
        counter.fetch_add(1, Ordering::Relaxed);
    });
}

/// The current time, truncated to microseconds as both stores keep it.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A stored timestamp: microseconds since the Unix epoch.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A database error is a fault on our side: the client sees a masked `INTERNAL`, the cause is
/// logged (see `crate::error`).
impl From<DbErr> for crate::error::ApiError {
    fn from(err: DbErr) -> Self {
        crate::error::ApiError::Internal(format!("database: {err}"))
    }
}

impl From<DbErr> for crate::error::Failure {
    fn from(err: DbErr) -> Self {
        crate::error::Failure::Api(err.into())
    }
}
