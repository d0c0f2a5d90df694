//! SQLite's group commit (`store::commit`): concurrent write units share one transaction, each
//! in a savepoint, so a unit that fails after writing rolls back alone while the others of its
//! batch commit, and every answer matches what was committed; also when units open their
//! savepoints in their first write (`Savepoint::InFirstWrite`), among units whose savepoints
//! open before them.

use afterclass::store::{Savepoint, Store, unit_savepoint};
use afterclass_tests::Backend;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_that_fails_after_writing_rolls_back_alone() {
    units_roll_back_alone(|_| Savepoint::Before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_that_opens_its_savepoint_in_its_first_write_rolls_back_alone() {
    units_roll_back_alone(|_| Savepoint::InFirstWrite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_of_both_kinds_in_one_batch_roll_back_alone() {
    units_roll_back_alone(|n| if n % 2 == 0 { Savepoint::Before } else { Savepoint::InFirstWrite }).await;
}

/// 300 units at once, so that they queue and share batches, each with its savepoint opened as
/// `savepoint` says: every third writes two rows and then fails, every fifth fails without
/// writing; the rest write a row, then another in a second call, and succeed. Every call that
/// writes begins with `unit_savepoint()`, as units written with `Savepoint::InFirstWrite` do.
/// Afterwards the table holds exactly the rows of the units that were told they succeeded.
async fn units_roll_back_alone(savepoint: fn(i64) -> Savepoint) {
    let db = afterclass_tests::fresh_database(Backend::Sqlite).await.unwrap();
    let store = Store::connect(&db.url, 4).await.unwrap();
    assert!(store.writes_one_at_a_time());
    store.writer().execute_unprepared("CREATE TABLE scratch (n INTEGER PRIMARY KEY)").await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..300i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let answer = store
                .write_with(savepoint(n), move |txn| {
                    Box::pin(async move {
                        if n % 5 == 0 && n % 3 != 0 {
                            return Err(DbErr::Custom(format!("unit {n} refused before writing")));
                        }
                        let insert = |row: i64| {
                            let sql = format!("{}INSERT INTO scratch (n) VALUES ({row})", unit_savepoint());
                            Statement::from_string(DbBackend::Sqlite, sql)
                        };
                        txn.query_all_raw(insert(n)).await?;
                        if n % 3 == 0 {
                            // A second row and a failure: the savepoint must take both back.
                            txn.query_all_raw(insert(n + 1000)).await?;
                            return Err(DbErr::Custom(format!("unit {n} failed after writing")));
                        }
                        txn.query_all_raw(insert(n + 2000)).await?;
                        Ok(n)
                    })
                })
                .await;
            (n, answer)
        }));
    }
    let mut succeeded = Vec::new();
    for task in tasks {
        let (n, answer) = task.await.unwrap();
        match answer {
            Ok(got) => {
                assert_eq!(got, n);
                succeeded.push(n);
            }
            Err(err) => {
                assert!(n % 3 == 0 || n % 5 == 0, "unit {n} failed: {err}");
                assert!(err.to_string().contains(&format!("unit {n} ")), "{err}");
            }
        }
    }
    let expected: Vec<i64> = (0..300).filter(|n| n % 3 != 0 && n % 5 != 0).collect();
    assert_eq!(succeeded, expected);
    let expected: Vec<i64> = expected.iter().copied().chain(expected.iter().map(|n| n + 2000)).collect();
    let rows = store
        .reader()
        .query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT n FROM scratch ORDER BY n"))
        .await
        .unwrap();
    let stored: Vec<i64> = rows.iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).collect();
    assert_eq!(stored, expected, "the table holds exactly what was acknowledged");
}
