//! Every migration has a working `down`: the whole schema goes down and comes back up, on both
//! stores, and the service works on the result.

use afterclass::store::Store;
use afterclass_migrations::{Migrator, MigratorTrait};
use afterclass_tests::{Backend, fresh_database};

async fn down_and_up_again(backend: Backend) {
    let Some(db) = fresh_database(backend).await else { return };
    let store = Store::connect(&db.url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let applied = Migrator::get_applied_migrations(store.writer()).await.unwrap().len();
    assert_eq!(applied, Migrator::migrations().len());
    Migrator::down(store.writer(), None).await.unwrap();
    assert!(Migrator::get_applied_migrations(store.writer()).await.unwrap().is_empty());
    store.migrate().await.unwrap();
    assert_eq!(Migrator::get_applied_migrations(store.writer()).await.unwrap().len(), applied);
    // The schema that came back serves the whole loop.
    afterclass::demo::seed(&store, afterclass::store::now()).await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_migration_goes_down_and_up_again_on_sqlite() {
    down_and_up_again(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_migration_goes_down_and_up_again_on_postgres() {
    down_and_up_again(Backend::Postgres).await;
}
