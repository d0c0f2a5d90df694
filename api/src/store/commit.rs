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

use std::future::Future;
use std::pin::Pin;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
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
        let result = match committed {
            Ok(()) => self.result,
            Err(err) => Err(E::from(DbErr::Custom(format!("the shared write transaction failed: {err}")))),
        };
        let _ = self.to.send(result);
    }
}

type Unit = Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> WriteFuture<'t, Box<dyn Settle>> + Send>;

/// The queue in front of SQLite's writer.
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Unit>,
}

impl GroupCommit {
    /// Starts the task that owns `writer`; it ends when the last handle on the queue is dropped.
    pub(super) fn start(writer: DatabaseConnection) -> GroupCommit {
        let (queue, units) = mpsc::channel(QUEUE);
        tokio::spawn(serve(writer, units));
        GroupCommit { queue }
    }

    pub(super) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> WriteFuture<'t, Result<T, E>> + Send + 'static,
    {
        let (to, answer) = oneshot::channel();
        let unit: Unit = Box::new(move |txn| {
            Box::pin(async move { Box::new(Answer { result: work(txn).await, to }) as Box<dyn Settle> })
        });
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
        if let Err(err) = tokio::spawn(run_batch(writer.clone(), batch)).await {
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

async fn run_batch(writer: DatabaseConnection, batch: Vec<Unit>) {
    let txn = match writer.begin_with_options(immediate()).await {
        Ok(txn) => txn,
        Err(err) => {
            // Dropping the units answers each of them with a failure.
            tracing::error!(%err, "beginning a shared write transaction");
            return;
        }
    };
    let mut settled: Vec<Box<dyn Settle>> = Vec::with_capacity(batch.len());
    let mut outcome = Ok(());
    for unit in batch {
        match run_unit(&txn, unit).await {
            Ok(done) => settled.push(done),
            Err(err) => {
                outcome = Err(err);
                break;
            }
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

/// Runs one unit in a savepoint: released when it succeeded, rolled back when it did not.
async fn run_unit(txn: &DatabaseTransaction, unit: Unit) -> Result<Box<dyn Settle>, DbErr> {
    let savepoint = txn.begin().await?;
    let done = unit(&savepoint).await;
    if done.succeeded() {
        savepoint.commit().await?;
    } else {
        savepoint.rollback().await?;
    }
    Ok(done)
}
