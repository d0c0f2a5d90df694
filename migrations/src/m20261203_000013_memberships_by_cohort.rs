//! Memberships in a cohort's order: a page of a cohort's members (`tenant_id`, `cohort_id`,
//! ordered by `id`) reads its rows from this index instead of every membership of the cohort
//! (or every membership, in the primary key's order), and the page's `totalCount` counts the
//! index alone.

use sea_orm_migration::prelude::*;

use crate::builders::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Memberships {
    Table,
}

const NAME: &str = "memberships_tenant_cohort";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(index(NAME, Memberships::Table, &["tenant_id", "cohort_id", "id"], false)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(NAME).table(Memberships::Table).if_exists().to_owned()).await
    }
}
