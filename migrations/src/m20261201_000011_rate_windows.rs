//! Rate windows: how many requests (or just-in-time creations) one subject has spent of its
//! budget in one fixed window, so that every replica on the database counts against the same
//! budget. A row is bookkeeping, no tenant's data: its subject is a hash (of a token's tenant,
//! role and subject, of a tenant's key) or the name of a service-wide budget, so it carries no
//! `tenant_id`. Rows of past windows are deleted by later requests. On PostgreSQL the table is
//! unlogged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::builders::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RateWindows {
    Table,
    Subject,
    WindowStart,
    Hits,
    Budget,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RateWindows::Table)
                .if_not_exists()
                .col(text(RateWindows::Subject))
                // Microseconds since the epoch: where the window starts.
                .col(big_integer(RateWindows::WindowStart))
                .col(integer(RateWindows::Hits))
                // The budget the window is counted against.
                .col(integer(RateWindows::Budget))
                .primary_key(Index::create().col(RateWindows::Subject).col(RateWindows::WindowStart))
                .to_owned(),
        )
        .await?;
        m.create_index(index("rate_windows_start", RateWindows::Table, &["window_start"], false)).await?;
        // On PostgreSQL the counters need no write-ahead log: a commit that wrote only them does
        // not wait for a flush, and a crash merely resets the budgets of the current window.
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared("ALTER TABLE rate_windows SET UNLOGGED").await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RateWindows::Table).if_exists().to_owned()).await
    }
}
