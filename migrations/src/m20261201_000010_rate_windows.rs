//! Rate windows: how many requests (or just-in-time creations) one subject has spent of its
//! budget in one fixed window, so that every replica on the database counts against the same
//! budget. A row is bookkeeping, no tenant's data: its subject is a hash (of a token's tenant,
//! role and subject, of a tenant's key) or the name of a service-wide budget, so it carries no
//! `tenant_id`. Rows of past windows are deleted by later requests.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

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
        m.create_index(index("rate_windows_start", RateWindows::Table, &["window_start"], false)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RateWindows::Table).if_exists().to_owned()).await
    }
}
