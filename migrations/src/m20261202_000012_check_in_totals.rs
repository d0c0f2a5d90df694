//! Each member's last tally of each key, in a row of its own with the member's cohort, so that a
//! read as of a moment after a member's latest check-in (as of now, nearly always) takes the
//! member's figures from one row found by cohort, without probing the tallies' history (see
//! `tallies.rs`). The rows of the check-ins already stored are built here.

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
enum CheckInTotals {
    Table,
    Id,
    TenantId,
    CohortId,
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
                .table(CheckInTotals::Table)
                .if_not_exists()
                .col(big_pk_auto(CheckInTotals::Id))
                .col(big_integer(CheckInTotals::TenantId))
                .col(big_integer(CheckInTotals::CohortId))
                .col(big_integer(CheckInTotals::MembershipId))
                .col(big_integer(CheckInTotals::GoalKey))
                .col(big_integer(CheckInTotals::CheckInId))
                .col(big_integer(CheckInTotals::OccurredAt))
                .col(big_integer(CheckInTotals::CheckIns))
                .col(double(CheckInTotals::ValueSum))
                .col(big_integer_null(CheckInTotals::LatestAt))
                .col(big_integer_null(CheckInTotals::LatestId))
                .col(double_null(CheckInTotals::LatestValue))
                .foreign_key(&mut fk(
                    "fk_check_in_totals_membership",
                    (CheckInTotals::Table, CheckInTotals::MembershipId),
                    (Memberships::Table, Memberships::Id),
                ))
                .to_owned(),
        )
        .await?;
        // The key the write path keeps one row per, and the order the reads scan a cohort in.
        m.create_index(index("check_in_totals_member", CheckInTotals::Table, &["membership_id", "goal_key"], true))
            .await?;
        m.create_index(index("check_in_totals_cohort", CheckInTotals::Table, &["cohort_id", "goal_key"], false))
            .await?;
        crate::tallies::rebuild_totals(m.get_connection(), None).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CheckInTotals::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
