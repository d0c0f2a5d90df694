//! Write transactions, committed together on SQLite (group commit).
//!
//! [`Store::write`](super::Store::write) runs a unit of work in a write transaction and answers
//! only once that transaction has committed. On PostgreSQL every unit is a transaction of its own
//! on the pool; concurrent ones run side by side and the database flushes their commits together.
//! SQLite has one writer, so there the units queue for one task that owns the writer and runs
//! whatever has queued in one transaction: each unit in a savepoint of its own, so one that fails
//! rolls back alone, then one commit for all of them. Every unit's answer, success or refusal, is
//! held until that commit; if the commit (or anything outside the units' own savepoints) fails,
//! every unit of the batch fails with it. Nothing is acknowledged before it is committed.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

/// A unit of work's future, borrowing the transaction it runs in.
pub type WriteFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// The most units one shared transaction takes; later ones wait for the next.
const MAX_BATCH: usize = 64;
/// How many units may wait for the writer before callers wait to queue.
const QUEUE: usize = 1024;

/// What a unit leaves behind once it has run: whether it succeeded (so its savepoint is kept),
/// and its caller's answer, given once the batch's commit is known.
trait Settle: Send {
    fn succeeded(&self) -> bool;
    /// A unit that failed on its own answers its own failure whatever became of the batch (it
    /// wrote nothing either way); one that succeeded answers the batch's failure if it failed,
    /// as the database reported it (so that a full disk is told as such).
    fn answer(self: Box<Self>, committed: Result<(), &DbErr>);
}

struct Answer<T, E> {
    result: Result<T, E>,
    to: oneshot::Sender<Result<T, E>>,
}

impl<T: Send, E: From<DbErr> + Send> Settle for Answer<T, E> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn answer(self: Box<Self>, committed: Result<(), &DbErr>) {
        let result = match (committed, self.result) {
            (Err(err), Ok(_)) => Err(E::from(err.clone())),
            (_, result) => result,
        };
        let _ = self.to.send(result);
    }
}

/// A unit waiting for the writer: run in the batch's transaction, or failed with the batch's
/// error when the batch could not begin.
trait Pending: Send {
    fn savepoint(&self) -> Savepoint;
    fn run<'t>(self: Box<Self>, txn: &'t DatabaseTransaction) -> WriteFuture<'t, Box<dyn Settle>>;
    fn fail(self: Box<Self>, err: &DbErr);
}

/// When a unit's savepoint is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Savepoint {
    /// Before the unit runs, by a statement of its own: for units that may write with any
    /// statement.
    Before,
    /// By the unit's first write, in the same call: for units every call of which that writes
    /// begins with [`unit_savepoint`]'s text. A unit that fails before it writes costs no
    /// savepoint statement at all, and one that succeeds none of its own.
    InFirstWrite,
}

struct Queued<T, E, F> {
    work: F,
    to: oneshot::Sender<Result<T, E>>,
    savepoint: Savepoint,
}

impl<T, E, F> Pending for Queued<T, E, F>
where
    T: Send + 'static,
    E: From<DbErr> + Send + 'static,
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> WriteFuture<'t, Result<T, E>> + Send + 'static,
{
    fn savepoint(&self) -> Savepoint {
        self.savepoint
    }

    fn run<'t>(self: Box<Self>, txn: &'t DatabaseTransaction) -> WriteFuture<'t, Box<dyn Settle>> {
        let Queued { work, to, .. } = *self;
        Box::pin(async move { Box::new(Answer { result: work(txn).await, to }) as Box<dyn Settle> })
    }

    fn fail(self: Box<Self>, err: &DbErr) {
        let _ = self.to.send(Err(E::from(err.clone())));
    }
}

type Unit = Box<dyn Pending>;

tokio::task_local! {
    /// The batch whose units run in this task.
    static BATCH: Batch;
}

struct Batch {
    /// The next check-in id of the batch, once one was read in its transaction
    /// (`store::checkins::draw_id`).
    next_check_in_id: Cell<Option<i64>>,
    /// The unit running now: its place in the batch, which names its savepoint.
    unit: Cell<Option<usize>>,
    /// The savepoint open now, by the place of the unit that opened it: at most one is open, so
    /// that SQLite keeps only the pages of one unit to roll back.
    open: Cell<Option<usize>>,
}

impl Batch {
    /// The statements that end the savepoint open now, if any, and open the running unit's;
    /// from then on its savepoint is the open one.
    fn open_savepoint(&self, place: usize) -> String {
        let release = match self.open.replace(Some(place)) {
            Some(open) => format!("RELEASE {UNIT}_{open}; "),
            None => String::new(),
        };
        format!("{release}SAVEPOINT {UNIT}_{place}")
    }
}

/// Draws the next check-in id of the calling unit's batch, once one was read in it
/// ([`check_in_id_used`]); `None` before that, and outside the group commit.
pub(super) fn next_check_in_id() -> Option<i64> {
    BATCH
        .try_with(|batch| {
            let id = batch.next_check_in_id.get()?;
            batch.next_check_in_id.set(Some(id + 1));
            Some(id)
        })
        .ok()
        .flatten()
}

/// Records that a check-in of the calling unit's batch took `id`, read in the batch's
/// transaction, so that the batch's later ids come after it. Nothing outside the group commit.
pub(super) fn check_in_id_used(id: i64) {
    let _ = BATCH.try_with(|batch| {
        let next = batch.next_check_in_id.get().map_or(id + 1, |next| next.max(id + 1));
        batch.next_check_in_id.set(Some(next));
    });
}

/// What a unit written with [`Savepoint::InFirstWrite`] puts before the statements of a call
/// that writes: the opening of its savepoint (ending the one before it), the first time, and
/// nothing after that, nor outside the group commit, nor for other units.
pub fn unit_savepoint() -> String {
    BATCH
        .try_with(|batch| match batch.unit.get() {
            Some(place) if batch.open.get() != Some(place) => format!("{}; ", batch.open_savepoint(place)),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// The queue in front of SQLite's writer.
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Unit>,
}

impl GroupCommit {
    /// Starts the task that owns `writer`; it ends when the last handle on the queue is dropped.
    ///
    /// The task runs on a thread of its own (a single-threaded runtime): units run one after
    /// another, each waking the task once per statement from SQLite's connection thread, and
    /// among the request tasks of the server's runtime every such wake-up would wait its turn
    /// in the runtime's shared queue.
    pub(super) fn start(writer: DatabaseConnection) -> GroupCommit {
        let (queue, units) = mpsc::channel(QUEUE);
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => {
                let spawned = std::thread::Builder::new()
                    .name("afterclass-writer".into())
                    .spawn(move || runtime.block_on(serve(writer, units)));
                if let Err(err) = spawned {
                    tracing::error!(%err, "starting the writer's thread; writes will fail");
                }
            }
            Err(err) => {
                tracing::warn!(%err, "building the writer's runtime; the writer shares the server's");
                tokio::spawn(serve(writer, units));
            }
        }
        GroupCommit { queue }
    }

    pub(super) async fn write<T, E, F>(&self, savepoint: Savepoint, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> WriteFuture<'t, Result<T, E>> + Send + 'static,
    {
        let (to, answer) = oneshot::channel();
        let unit: Unit = Box::new(Queued { work, to, savepoint });
        if self.queue.send(unit).await.is_err() {
            return Err(E::from(DbErr::Custom("the writer has stopped".into())));
        }
        // A unit dropped without an answer (its batch could not begin, or it panicked) failed.
        answer.await.unwrap_or_else(|_| Err(E::from(DbErr::Custom("the write transaction did not complete".into()))))
    }
}

/// Takes whatever has queued (at least one unit, at most [`MAX_BATCH`]) and runs it as one
/// transaction, in a task of its own so that a unit that panics fails its batch and nothing else.
async fn serve(writer: DatabaseConnection, mut units: mpsc::Receiver<Unit>) {
    while let Some(first) = units.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match units.try_recv() {
                Ok(unit) => batch.push(unit),
                Err(_) => break,
            }
        }
        if let Err(err) = tokio::spawn(BATCH.scope(
            Batch { next_check_in_id: Cell::new(None), unit: Cell::new(None), open: Cell::new(None) },
            run_batch(writer.clone(), batch),
        ))
        .await
        {
            tracing::error!(%err, "a write batch failed without committing");
        }
    }
}

/// A write transaction's options: on SQLite `BEGIN IMMEDIATE`, so the write lock is taken before
/// anything is read and another process writing the same file can neither leave the
/// transaction's reads behind its commit nor fail it when it first writes (it is waited for, up
/// to the busy timeout). Other stores ignore it.
pub(super) fn immediate() -> TransactionOptions {
    TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() }
}

/// Begins a write transaction on SQLite's writer. SQLite opens a file it may not write read-only
/// without a word, and the connection stays read-only after the storage can be written again: a
/// begin refused because the database cannot be written closes that connection and tries once
/// more on a fresh one, which is read-write as soon as the storage is.
pub(super) async fn begin_on_writer(writer: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match writer.begin_with_options(immediate()).await {
        Err(err)
            if writer.get_database_backend() == DbBackend::Sqlite
                && super::trouble(&err) == Some(super::Trouble::CannotWrite) =>
        {
            if let Ok(conn) = writer.get_sqlite_connection_pool().acquire().await {
                let _ = conn.close().await;
            }
            writer.begin_with_options(immediate()).await
        }
        result => result,
    }
}

async fn run_batch(writer: DatabaseConnection, batch: Vec<Unit>) {
    let txn = match begin_on_writer(&writer).await {
        Ok(txn) => txn,
        Err(err) => {
            tracing::error!(%err, "beginning a shared write transaction");
            for unit in batch {
                unit.fail(&err);
            }
            return;
        }
    };
    let mut settled: Vec<Box<dyn Settle>> = Vec::with_capacity(batch.len());
    // Each unit in a savepoint of its own, named by its place in the batch: opened before it
    // runs or by its first write ([`Savepoint`]), in the same call as the end of the one before.
    let mut outcome = Ok(());
    let mut units = batch.into_iter().enumerate();
    for (place, unit) in units.by_ref() {
        if unit.savepoint() == Savepoint::Before {
            let sql = BATCH.try_with(|batch| batch.open_savepoint(place)).unwrap_or_default();
            if let Err(err) = txn.execute_unprepared(&sql).await {
                unit.fail(&err);
                outcome = Err(err);
                break;
            }
        }
        let _ = BATCH.try_with(|batch| batch.unit.set(Some(place)));
        let done = unit.run(&txn).await;
        let opened = BATCH.try_with(|batch| batch.unit.take().is_some() && batch.open.get() == Some(place));
        // A unit that failed before opening its savepoint wrote nothing.
        let kept = match done.succeeded() || opened != Ok(true) {
            true => Ok(()),
            false => txn.execute_unprepared(&format!("ROLLBACK TO {UNIT}_{place}")).await.map(|_| ()),
        };
        settled.push(done);
        if let Err(err) = kept {
            // The transaction may be gone with the savepoint (SQLite rolls the whole
            // transaction back on some errors: a full disk, an I/O error), so nothing more
            // runs in it. So it fails when the savepoint was never opened after all.
            outcome = Err(err);
            break;
        }
    }
    // Units the failed batch never ran are answered with its failure.
    if let Err(err) = &outcome {
        for (_, unit) in units {
            unit.fail(err);
        }
    }
    let outcome = match outcome {
        Ok(()) => txn.commit().await,
        Err(err) => Err(err),
    };
    if let Err(err) = &outcome {
        tracing::error!(%err, units = settled.len(), "a shared write transaction failed; none of its units is acknowledged");
    }
    for done in settled {
        done.answer(outcome.as_ref().map(|_| ()));
    }
}

/// The savepoints' name, followed by the place in its batch of the unit that opens it.
const UNIT: &str = "group_commit_unit";
