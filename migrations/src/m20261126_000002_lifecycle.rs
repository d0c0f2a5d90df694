//! Knowing when a cohort is done: a cohort's own criteria and auto-apply choice, the outcome's
//! evaluation and formal structure, the sweeper's last observations and events, and its lease.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    Criteria,
    AutoApply,
}

#[derive(DeriveIden)]
enum Outcomes {
    Table,
    FormalStructure,
    Evaluation,
}

#[derive(DeriveIden)]
enum CheckIns {
    Table,
}

#[derive(DeriveIden)]
enum CohortSignals {
    Table,
    CohortId,
    TenantId,
    HealthStatus,
    Recommendation,
    EvaluatedAt,
}

#[derive(DeriveIden)]
enum CohortEvents {
    Table,
    Id,
    TenantId,
    CohortId,
    Kind,
    FromValue,
    ToValue,
    Detail,
    OccurredAt,
}

#[derive(DeriveIden)]
enum SweeperLeases {
    Table,
    Name,
    Holder,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(Table::alter().table(Cohorts::Table).add_column(text_null(Cohorts::Criteria)).to_owned()).await?;
        m.alter_table(
            Table::alter().table(Cohorts::Table).add_column(boolean(Cohorts::AutoApply).default(false)).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Outcomes::Table).add_column(text_null(Outcomes::FormalStructure)).to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table(Outcomes::Table).add_column(text_null(Outcomes::Evaluation)).to_owned())
            .await?;
        // Evaluation reads check-ins by cohort and time window.
        m.create_index(
            Index::create()
                .name("check_ins_cohort_time")
                .table(CheckIns::Table)
                .col(Alias::new("cohort_id"))
                .col(Alias::new("occurred_at"))
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CohortSignals::Table)
                .if_not_exists()
                .col(big_integer(CohortSignals::CohortId).primary_key())
                .col(big_integer(CohortSignals::TenantId))
                .col(string_len(CohortSignals::HealthStatus, 20))
                .col(string_len(CohortSignals::Recommendation, 20))
                .col(big_integer(CohortSignals::EvaluatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CohortEvents::Table)
                .if_not_exists()
                .col(big_pk_auto(CohortEvents::Id))
                .col(big_integer(CohortEvents::TenantId))
                .col(big_integer(CohortEvents::CohortId))
                .col(string_len(CohortEvents::Kind, 40))
                .col(string_len_null(CohortEvents::FromValue, 20))
                .col(string_len(CohortEvents::ToValue, 20))
                .col(text(CohortEvents::Detail))
                .col(big_integer(CohortEvents::OccurredAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("cohort_events_cohort")
                .table(CohortEvents::Table)
                .col(CohortEvents::CohortId)
                .col(CohortEvents::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SweeperLeases::Table)
                .if_not_exists()
                .col(string_len(SweeperLeases::Name, 60).primary_key())
                .col(string_len(SweeperLeases::Holder, 100))
                .col(big_integer(SweeperLeases::ExpiresAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SweeperLeases::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(CohortEvents::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(CohortSignals::Table).if_exists().to_owned()).await?;
        m.drop_index(Index::drop().name("check_ins_cohort_time").table(CheckIns::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Outcomes::Table).drop_column(Outcomes::Evaluation).to_owned()).await?;
        m.alter_table(Table::alter().table(Outcomes::Table).drop_column(Outcomes::FormalStructure).to_owned()).await?;
        m.alter_table(Table::alter().table(Cohorts::Table).drop_column(Cohorts::AutoApply).to_owned()).await?;
        m.alter_table(Table::alter().table(Cohorts::Table).drop_column(Cohorts::Criteria).to_owned()).await?;
        Ok(())
    }
}
