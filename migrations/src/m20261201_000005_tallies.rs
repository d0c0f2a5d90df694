//! Running tallies of check-ins per member, so that progress, participation and health read a
//! handful of rows per member whatever the history (see `tallies.rs`). The tallies of the
//! check-ins already stored are built here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builders::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CheckInTallies {
    Table,
    Id,
    TenantId,
    MembershipId,
    GoalKey,
    CheckInId,
    OccurredAt,
    CheckIns,
    ValueSum,
    LatestAt,
    LatestId,
    LatestValue,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CheckInTallies::Table)
                .if_not_exists()
                .col(big_pk_auto(CheckInTallies::Id))
                .col(big_integer(CheckInTallies::TenantId))
                .col(big_integer(CheckInTallies::MembershipId))
                .col(big_integer(CheckInTallies::GoalKey))
                .col(big_integer(CheckInTallies::CheckInId))
                .col(big_integer(CheckInTallies::OccurredAt))
                .col(big_integer(CheckInTallies::CheckIns))
                .col(double(CheckInTallies::ValueSum))
                .col(big_integer_null(CheckInTallies::LatestAt))
                .col(big_integer_null(CheckInTallies::LatestId))
                .col(double_null(CheckInTallies::LatestValue))
                .foreign_key(&mut fk(
                    "fk_check_in_tallies_membership",
                    (CheckInTallies::Table, CheckInTallies::MembershipId),
                    (Memberships::Table, Memberships::Id),
                ))
                .to_owned(),
        )
        .await?;
        // The one index a read probes: a member's latest tally of a key at or before a moment.
        m.create_index(index(
            "check_in_tallies_probe",
            CheckInTallies::Table,
            &["membership_id", "goal_key", "occurred_at", "check_in_id"],
            true,
        ))
        .await?;
        crate::tallies::rebuild_tallies(m.get_connection(), None).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CheckInTallies::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
