//! The store: connections to SQLite or PostgreSQL, the entities, and the queries the API needs.
//!
//! SQLite has one writer, so a SQLite store keeps two pools over the same WAL-mode file: a single
//! writer connection that every write transaction goes through, and a few reader connections that
//! never block it. PostgreSQL uses one pool for both. Writes that change a cohort lock its row
//! (`SELECT … FOR UPDATE` on PostgreSQL; the single writer on SQLite), so concurrent requests
//! on any number of replicas see each other's committed work. [`Store::write`] runs a unit of
//! work in a write transaction; on SQLite concurrent units share one (group commit, see
//! `commit.rs`).

pub mod checkins;
mod commit;
pub mod entities;
pub mod events;
pub mod lifecycle;
pub mod meetings;
pub mod nudges;
pub mod privacy;
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

pub use commit::{Savepoint, WriteFuture, unit_savepoint};

use crate::config::{self, StoreSettings};

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
    /// PostgreSQL's notifications that a write has begun; `None` on SQLite, whose watcher is in
    /// the one process that writes and polls.
    announcer: Option<events::Announcer>,
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
        Self::connect_with(url, max_connections, &StoreSettings::default()).await
    }

    /// [`Store::connect`] with the settings of a configuration: PostgreSQL's acquire timeout,
    /// SQLite's `synchronous`.
    pub async fn connect_with(url: &str, max_connections: u32, settings: &StoreSettings) -> Result<Store, DbErr> {
        let statements = Arc::new(AtomicU64::new(0));
        let (reader, writer, group, announcer) = if is_sqlite(url) {
            let url = if url.contains("mode=") {
                url.to_owned()
            } else {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            };
            let sync = match settings.sqlite_synchronous {
                config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
                config::SqliteSynchronous::Full => SqliteSynchronous::Full,
                config::SqliteSynchronous::Extra => SqliteSynchronous::Extra,
            };
            let writer = sqlite_pool(&url, 1, sync, None, &statements).await?;
            let readers = max_connections.clamp(1, 8);
            let reader = sqlite_pool(&url, readers, sync, Some(READER_CACHE_KIB), &statements).await?;
            let group = commit::GroupCommit::start(writer.clone());
            (reader, writer, Some(group), None)
        } else {
            let mut opts = ConnectOptions::new(url.to_owned());
            opts.max_connections(max_connections)
                .min_connections(1)
                // Also the bound on opening a connection (sea-orm gives sqlx's pool one timeout
                // for both): with the server down or restarting, a request fails within it,
                // `UNAVAILABLE`, rather than waiting out its time limit. An idle connection is
                // checked before it is handed out (sqlx's default), so one broken by a restart
                // is replaced, not used.
                .acquire_timeout(settings.acquire_timeout)
                .test_before_acquire(true)
                .sqlx_logging(false);
            let mut pool = Database::connect(opts).await?;
            count_statements(&mut pool, &statements);
            let announcer = events::Announcer::start(pool.get_postgres_connection_pool().clone());
            (pool.clone(), pool, None, Some(announcer))
        };
        Ok(Store { inner: Arc::new(Inner { reader, writer, group, announcer, statements }) })
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
        let txn = commit::begin_on_writer(&self.inner.writer).await?;
        self.announce();
        Ok(txn)
    }

    /// Every write transaction, once begun, is announced to the event log's watchers on every
    /// replica (PostgreSQL; [`events::Announcer`]), whether or not it records an event: the
    /// watchers then look at the log often until it settles.
    fn announce(&self) {
        if let Some(announcer) = &self.inner.announcer {
            announcer.announce();
        }
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
        self.write_with(Savepoint::Before, work).await
    }

    /// [`Store::write`], with the unit's savepoint on SQLite opened as `savepoint` says: with
    /// [`Savepoint::InFirstWrite`], `work` promises that every call of its that writes begins
    /// with [`commit::unit_savepoint`]'s text.
    pub async fn write_with<T, E, F>(&self, savepoint: Savepoint, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> WriteFuture<'t, Result<T, E>> + Send + 'static,
    {
        if let Some(group) = &self.inner.group {
            return group.write(savepoint, work).await;
        }
        let txn = self.inner.writer.begin().await?;
        self.announce();
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

/// The page cache of each SQLite reader connection, KiB (SQLite's default is 2,000). Measured
/// under the benchmark's full sizes (BENCHMARKS.md): each reader's heap held 9–11 MiB at 2,000
/// (its pages, and sorters and temporary tables sized after the cache), the server's peak was
/// 147–160 MiB, and 122–129 MiB at 1,024, reads as fast; the operating system caches the file.
pub const READER_CACHE_KIB: u32 = 1024;

/// A pool of `max` connections to the SQLite database at `url`, each with a page cache of
/// `cache_kib` KiB (SQLite's default without).
async fn sqlite_pool(
    url: &str,
    max: u32,
    synchronous: SqliteSynchronous,
    cache_kib: Option<u32>,
    statements: &Arc<AtomicU64>,
) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // The default idle timeout would close the last connection of an idle pool; a file
        // database loses nothing by that, but reopening costs a little on the next request.
        .idle_timeout(Duration::from_secs(3600))
        .sqlx_logging(false)
        // Replaced by the check below, which pings when it has to.
        .test_before_acquire(false)
        // SQLite's driver counts the transactions it believes open on a connection and counts
        // one down only when its COMMIT or ROLLBACK succeeds. When SQLite has rolled a
        // transaction back itself (a full disk, an I/O error, storage turned read-only), both
        // fail and the count stays up: the connection's next BEGIN becomes a SAVEPOINT inside a
        // transaction that never ends, whose writes are answered as committed, are seen by no
        // other connection and vanish with it. A connection that comes back to the pool still
        // counting a transaction is closed instead, and the pool opens a fresh one.
        //
        // The count is the driver's, kept as its connection thread runs each statement, and a
        // rollback queued when a transaction was dropped counts down only once it has run. So a
        // connection counting none is handed out at once, and only one still counting one is
        // pinged, which runs after any rollback queued on it, and then looked at again: a ping
        // is a hand-off to the connection's thread and back, as dear as a statement.
        .map_sqlx_sqlite_before_acquire(|conn, _| {
            Box::pin(async move {
                use sea_orm::sqlx::Connection;
                if !conn.is_in_transaction() {
                    return Ok(true);
                }
                conn.ping().await?;
                if conn.is_in_transaction() {
                    tracing::warn!("closing a SQLite connection left inside a transaction SQLite rolled back");
                    return Ok(false);
                }
                Ok(true)
            })
        })
        .map_sqlx_sqlite_opts(move |o| {
            let o = o
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            match cache_kib {
                Some(kib) => o.pragma("cache_size", format!("-{kib}")),
                None => o,
            }
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

/// What kind of trouble a database error is, when it is trouble with the database itself rather
/// than a fault of ours: the one place that reads SQLite's result codes and PostgreSQL's
/// SQLSTATEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// The database cannot be reached or is going away: refused or broken connections, the pool's
    /// acquire timeout, a server shutting down or starting up, too many connections, busy.
    Unreachable,
    /// The database answers but cannot write: its storage is read-only or failing (SQLite's
    /// `SQLITE_READONLY` and `SQLITE_IOERR`, PostgreSQL's read-only transaction).
    CannotWrite,
    /// The storage is full (SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`).
    Full,
}

/// The trouble `err` names, or `None` for an error that is a fault of ours (a bad statement, a
/// broken constraint we did not expect, a decoding error).
pub fn trouble(err: &DbErr) -> Option<Trouble> {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) => return Some(Trouble::Unreachable),
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return None,
    };
    match &**sqlx {
        Sqlx::Io(_)
        | Sqlx::Tls(_)
        | Sqlx::Protocol(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed => Some(Trouble::Unreachable),
        Sqlx::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>() {
                postgres_trouble(pg.code())
            } else if db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() {
                db.code().and_then(|c| c.parse::<i32>().ok()).and_then(sqlite_trouble)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// PostgreSQL's SQLSTATEs of trouble (Appendix A of its manual).
fn postgres_trouble(sqlstate: &str) -> Option<Trouble> {
    match sqlstate {
        // disk_full
        "53100" => Some(Trouble::Full),
        // read_only_sql_transaction (a standby, or default_transaction_read_only)
        "25006" => Some(Trouble::CannotWrite),
        // too_many_connections, out_of_memory, insufficient_resources
        "53300" | "53200" | "53000" => Some(Trouble::Unreachable),
        // connection exceptions; admin_shutdown, crash_shutdown, cannot_connect_now
        s if s.starts_with("08") || s.starts_with("57P") => Some(Trouble::Unreachable),
        _ => None,
    }
}

/// SQLite's result codes of trouble, by their primary code (the low byte of an extended one).
fn sqlite_trouble(code: i32) -> Option<Trouble> {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    match code & 0xff {
        FULL => Some(Trouble::Full),
        READONLY | IOERR => Some(Trouble::CannotWrite),
        BUSY | LOCKED | CANTOPEN => Some(Trouble::Unreachable),
        _ => None,
    }
}

/// A database error as the client sees it: trouble with the database is `UNAVAILABLE` or
/// `STORAGE_FULL` with what to do about it; anything else is a fault on our side, a masked
/// `INTERNAL`. The cause is logged either way, never sent (see `crate::error`).
impl From<DbErr> for crate::error::ApiError {
    fn from(err: DbErr) -> Self {
        use crate::error::ApiError;
        let Some(kind) = trouble(&err) else {
            return ApiError::Internal(format!("database: {err}"));
        };
        tracing::warn!(%err, ?kind, "the database is in trouble");
        match kind {
            Trouble::Unreachable => ApiError::Unavailable(
                "the database is unavailable at the moment; nothing was changed, try again shortly".into(),
            ),
            Trouble::CannotWrite => ApiError::Unavailable(
                "the database cannot write at the moment (its storage is read-only or failing); nothing was \
                 changed, reads still work"
                    .into(),
            ),
            Trouble::Full => ApiError::StorageFull(
                "the database's storage is full; nothing was changed, try again once space is freed".into(),
            ),
        }
    }
}

impl From<DbErr> for crate::error::Failure {
    fn from(err: DbErr) -> Self {
        crate::error::Failure::Api(err.into())
    }
}
