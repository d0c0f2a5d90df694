//! Nudges: each cohort's nudge policy (`nudge_policies`, a row once a leader changes the
//! defaults), each member's choice to receive nudges (`memberships.nudges_enabled`), and every
//! nudge the sweeper found due (`nudges`), once per member, kind and due slot.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builders::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    NudgesEnabled,
}

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum NudgePolicies {
    Table,
    CohortId,
    TenantId,
    CheckInEveryDays,
    MeetingReminderHours,
    LeaderDigest,
    MaxUnanswered,
    DigestWeekday,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Nudges {
    Table,
    Id,
    TenantId,
    CohortId,
    MembershipId,
    Kind,
    Slot,
    DueAt,
    Status,
    Subject,
    Body,
    Attempts,
    NextAttemptAt,
    SentAt,
    LastError,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Memberships::Table)
                .add_column(boolean(Memberships::NudgesEnabled).default(true))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NudgePolicies::Table)
                .if_not_exists()
                .col(big_integer(NudgePolicies::CohortId).primary_key())
                .col(big_integer(NudgePolicies::TenantId))
                // Null turns that kind off.
                .col(integer_null(NudgePolicies::CheckInEveryDays))
                .col(integer_null(NudgePolicies::MeetingReminderHours))
                .col(boolean(NudgePolicies::LeaderDigest))
                .col(integer(NudgePolicies::MaxUnanswered))
                // ISO weekday, 1 = Monday.
                .col(integer(NudgePolicies::DigestWeekday))
                .col(big_integer(NudgePolicies::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_nudge_policies_cohort",
                    (NudgePolicies::Table, NudgePolicies::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Nudges::Table)
                .if_not_exists()
                .col(big_pk_auto(Nudges::Id))
                .col(big_integer(Nudges::TenantId))
                .col(big_integer(Nudges::CohortId))
                .col(big_integer(Nudges::MembershipId))
                .col(string_len(Nudges::Kind, 20))
                // What makes the nudge one of a kind for its member: the due check-in's base and
                // number, the meeting, the digest's week.
                .col(string_len(Nudges::Slot, 80))
                .col(big_integer(Nudges::DueAt))
                .col(string_len(Nudges::Status, 20))
                .col(text(Nudges::Subject))
                .col(text(Nudges::Body))
                .col(integer(Nudges::Attempts).default(0))
                .col(big_integer_null(Nudges::NextAttemptAt))
                .col(big_integer_null(Nudges::SentAt))
                .col(text_null(Nudges::LastError))
                .col(big_integer(Nudges::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_nudges_membership",
                    (Nudges::Table, Nudges::MembershipId),
                    (Memberships::Table, Memberships::Id),
                ))
                .to_owned(),
        )
        .await?;
        // Once per member, kind and slot, however many sweepers run at once.
        m.create_index(index("nudges_once", Nudges::Table, &["membership_id", "kind", "slot"], true)).await?;
        m.create_index(index("nudges_cohort", Nudges::Table, &["cohort_id", "id"], false)).await?;
        // What the mail worker claims: pending nudges by time.
        m.create_index(index("nudges_due", Nudges::Table, &["status", "next_attempt_at"], false)).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Nudges::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(NudgePolicies::Table).if_exists().to_owned()).await?;
        m.alter_table(Table::alter().table(Memberships::Table).drop_column(Memberships::NudgesEnabled).to_owned())
            .await?;
        Ok(())
    }
}
