//! SQLite's group commit (`store::commit`): concurrent write units share one transaction, each
//! in a savepoint, so a unit that fails after writing rolls back alone while the others of its
//! batch commit, and every answer matches what was committed.

use afterclass::store::Store;
use afterclass_tests::Backend;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// 300 units at once, so that they queue and share batches: every third writes a row and then
/// fails, every fifth fails without writing; the rest write a row and succeed. Afterwards the
/// table holds exactly the rows of the units that were told they succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_that_fails_after_writing_rolls_back_alone() {
    let db = afterclass_tests::fresh_database(Backend::Sqlite).await.unwrap();
    let store = Store::connect(&db.url, 4).await.unwrap();
    assert!(store.writes_one_at_a_time());
    store.writer().execute_unprepared("CREATE TABLE scratch (n INTEGER PRIMARY KEY)").await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..300i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let answer = store
                .write(move |txn| {
                    Box::pin(async move {
                        if n % 5 == 0 && n % 3 != 0 {
                            return Err(DbErr::Custom(format!("unit {n} refused before writing")));
                        }
                        let insert = Statement::from_sql_and_values(
                            DbBackend::Sqlite,
                            "INSERT INTO scratch (n) VALUES (?)",
                            [n.into()],
                        );
                        txn.execute_raw(insert).await?;
                        if n % 3 == 0 {
                            // A second row and a failure: the savepoint must take both back.
                            let again = Statement::from_sql_and_values(
                                DbBackend::Sqlite,
                                "INSERT INTO scratch (n) VALUES (?)",
                                [(n + 1000).into()],
                            );
                            txn.execute_raw(again).await?;
                            return Err(DbErr::Custom(format!("unit {n} failed after writing")));
                        }
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
    let rows = store
        .reader()
        .query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT n FROM scratch ORDER BY n"))
        .await
        .unwrap();
    let stored: Vec<i64> = rows.iter().map(|r| r.try_get_by_index::<i64>(0).unwrap()).collect();
    assert_eq!(stored, expected, "the table holds exactly what was acknowledged");
}
