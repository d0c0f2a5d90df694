//! Privacy: when a person's identifying data was erased (`persons.erased_at`), so that erasure
//! is done once and the retention sweep passes over people already erased.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builders::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Persons {
    Table,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Persons::Table).add_column(big_integer_null(Persons::ErasedAt)).to_owned())
            .await?;
        // The retention sweep reads the people not yet erased, in id order.
        m.create_index(index("persons_erased", Persons::Table, &["erased_at", "id"], false)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("persons_erased").table(Persons::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Persons::Table).drop_column(Persons::ErasedAt).to_owned()).await
    }
}
