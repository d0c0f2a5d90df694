//! The core loop: tenants, persons, cohorts with their code-of-conduct versions, memberships,
//! goals, check-ins, stage-change events and outcomes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builders::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Key,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Persons {
    Table,
    Id,
    TenantId,
    ExternalId,
    DisplayName,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    Id,
    TenantId,
    Name,
    Domain,
    Purpose,
    Scope,
    Tags,
    CourseLmsId,
    CourseTitle,
    CourseEndedOn,
    Horizon,
    Stage,
    Visibility,
    ConductVersion,
    CreatedBy,
    CreatedAt,
    ActivatedAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum ConductVersions {
    Table,
    Id,
    TenantId,
    CohortId,
    Version,
    Text,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    TenantId,
    CohortId,
    PersonId,
    Role,
    Status,
    ConductAcceptedVersion,
    ConductAcceptedAt,
    Commitment,
    InvitedAt,
    JoinedAt,
    LeftAt,
}

#[derive(DeriveIden)]
enum Goals {
    Table,
    Id,
    TenantId,
    CohortId,
    Title,
    Unit,
    Target,
    StartValue,
    Aggregation,
    Deadline,
    Status,
    AchievedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CheckIns {
    Table,
    Id,
    TenantId,
    CohortId,
    MembershipId,
    GoalId,
    Value,
    Note,
    Confidence,
    Blockers,
    OccurredAt,
    CreatedAt,
    IdempotencyKey,
}

#[derive(DeriveIden)]
enum StageEvents {
    Table,
    Id,
    TenantId,
    CohortId,
    FromStage,
    ToStage,
    ActorPersonId,
    Reason,
    OccurredAt,
}

#[derive(DeriveIden)]
enum Outcomes {
    Table,
    Id,
    TenantId,
    CohortId,
    Reason,
    Retrospective,
    RecordedBy,
    RecordedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tenants::Table)
                .if_not_exists()
                .col(big_pk_auto(Tenants::Id))
                .col(string_len_uniq(Tenants::Key, 200))
                .col(big_integer(Tenants::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Persons::Table)
                .if_not_exists()
                .col(big_pk_auto(Persons::Id))
                .col(big_integer(Persons::TenantId))
                .col(string_len(Persons::ExternalId, 200))
                .col(string_len(Persons::DisplayName, 200))
                .col(string_len_null(Persons::Email, 320))
                .col(big_integer(Persons::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_persons_tenant",
                    (Persons::Table, Persons::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("persons_tenant_external_key", Persons::Table, &["tenant_id", "external_id"], true))
            .await?;

        m.create_table(
            Table::create()
                .table(Cohorts::Table)
                .if_not_exists()
                .col(big_pk_auto(Cohorts::Id))
                .col(big_integer(Cohorts::TenantId))
                .col(string_len(Cohorts::Name, 120))
                .col(string_len(Cohorts::Domain, 200))
                .col(text(Cohorts::Purpose))
                .col(text_null(Cohorts::Scope))
                .col(text(Cohorts::Tags))
                .col(string_len_null(Cohorts::CourseLmsId, 200))
                .col(string_len_null(Cohorts::CourseTitle, 300))
                .col(string_len_null(Cohorts::CourseEndedOn, 10))
                .col(string_len(Cohorts::Horizon, 20))
                .col(string_len(Cohorts::Stage, 20))
                .col(string_len(Cohorts::Visibility, 20))
                .col(integer_null(Cohorts::ConductVersion))
                .col(big_integer_null(Cohorts::CreatedBy))
                .col(big_integer(Cohorts::CreatedAt))
                .col(big_integer_null(Cohorts::ActivatedAt))
                .col(big_integer_null(Cohorts::EndedAt))
                .foreign_key(&mut fk(
                    "fk_cohorts_tenant",
                    (Cohorts::Table, Cohorts::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("cohorts_tenant", Cohorts::Table, &["tenant_id", "id"], false)).await?;
        m.create_index(index("cohorts_tenant_course", Cohorts::Table, &["tenant_id", "course_lms_id"], false)).await?;

        m.create_table(
            Table::create()
                .table(ConductVersions::Table)
                .if_not_exists()
                .col(big_pk_auto(ConductVersions::Id))
                .col(big_integer(ConductVersions::TenantId))
                .col(big_integer(ConductVersions::CohortId))
                .col(integer(ConductVersions::Version))
                .col(text(ConductVersions::Text))
                .col(big_integer_null(ConductVersions::CreatedBy))
                .col(big_integer(ConductVersions::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_conduct_versions_cohort",
                    (ConductVersions::Table, ConductVersions::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "conduct_versions_cohort_version_key",
            ConductVersions::Table,
            &["cohort_id", "version"],
            true,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Memberships::Table)
                .if_not_exists()
                .col(big_pk_auto(Memberships::Id))
                .col(big_integer(Memberships::TenantId))
                .col(big_integer(Memberships::CohortId))
                .col(big_integer(Memberships::PersonId))
                .col(string_len(Memberships::Role, 20))
                .col(string_len(Memberships::Status, 20))
                .col(integer_null(Memberships::ConductAcceptedVersion))
                .col(big_integer_null(Memberships::ConductAcceptedAt))
                .col(text_null(Memberships::Commitment))
                .col(big_integer(Memberships::InvitedAt))
                .col(big_integer_null(Memberships::JoinedAt))
                .col(big_integer_null(Memberships::LeftAt))
                .foreign_key(&mut fk(
                    "fk_memberships_cohort",
                    (Memberships::Table, Memberships::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_memberships_person",
                    (Memberships::Table, Memberships::PersonId),
                    (Persons::Table, Persons::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("memberships_cohort_person_key", Memberships::Table, &["cohort_id", "person_id"], true))
            .await?;
        m.create_index(index("memberships_person", Memberships::Table, &["person_id"], false)).await?;

        m.create_table(
            Table::create()
                .table(Goals::Table)
                .if_not_exists()
                .col(big_pk_auto(Goals::Id))
                .col(big_integer(Goals::TenantId))
                .col(big_integer(Goals::CohortId))
                .col(string_len(Goals::Title, 200))
                .col(string_len(Goals::Unit, 40))
                .col(double(Goals::Target))
                .col(double_null(Goals::StartValue))
                .col(string_len(Goals::Aggregation, 20))
                .col(string_len_null(Goals::Deadline, 10))
                .col(string_len(Goals::Status, 20))
                .col(big_integer_null(Goals::AchievedAt))
                .col(big_integer(Goals::CreatedAt))
                .foreign_key(&mut fk("fk_goals_cohort", (Goals::Table, Goals::CohortId), (Cohorts::Table, Cohorts::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(index("goals_cohort", Goals::Table, &["cohort_id", "id"], false)).await?;

        m.create_table(
            Table::create()
                .table(CheckIns::Table)
                .if_not_exists()
                .col(big_pk_auto(CheckIns::Id))
                .col(big_integer(CheckIns::TenantId))
                .col(big_integer(CheckIns::CohortId))
                .col(big_integer(CheckIns::MembershipId))
                .col(big_integer_null(CheckIns::GoalId))
                .col(double_null(CheckIns::Value))
                .col(text_null(CheckIns::Note))
                .col(small_integer_null(CheckIns::Confidence))
                .col(text_null(CheckIns::Blockers))
                .col(big_integer(CheckIns::OccurredAt))
                .col(big_integer(CheckIns::CreatedAt))
                .col(string_len_null(CheckIns::IdempotencyKey, 200))
                .foreign_key(&mut fk(
                    "fk_check_ins_cohort",
                    (CheckIns::Table, CheckIns::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_check_ins_membership",
                    (CheckIns::Table, CheckIns::MembershipId),
                    (Memberships::Table, Memberships::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_check_ins_goal",
                    (CheckIns::Table, CheckIns::GoalId),
                    (Goals::Table, Goals::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "check_ins_idempotency_key",
            CheckIns::Table,
            &["cohort_id", "membership_id", "idempotency_key"],
            true,
        ))
        .await?;
        m.create_index(index("check_ins_cohort", CheckIns::Table, &["cohort_id", "id"], false)).await?;
        m.create_index(index(
            "check_ins_goal_member_time",
            CheckIns::Table,
            &["goal_id", "membership_id", "occurred_at"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(StageEvents::Table)
                .if_not_exists()
                .col(big_pk_auto(StageEvents::Id))
                .col(big_integer(StageEvents::TenantId))
                .col(big_integer(StageEvents::CohortId))
                .col(string_len_null(StageEvents::FromStage, 20))
                .col(string_len(StageEvents::ToStage, 20))
                .col(big_integer_null(StageEvents::ActorPersonId))
                .col(text(StageEvents::Reason))
                .col(big_integer(StageEvents::OccurredAt))
                .foreign_key(&mut fk(
                    "fk_stage_events_cohort",
                    (StageEvents::Table, StageEvents::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("stage_events_cohort", StageEvents::Table, &["cohort_id", "id"], false)).await?;

        m.create_table(
            Table::create()
                .table(Outcomes::Table)
                .if_not_exists()
                .col(big_pk_auto(Outcomes::Id))
                .col(big_integer(Outcomes::TenantId))
                .col(big_integer_uniq(Outcomes::CohortId))
                .col(string_len(Outcomes::Reason, 30))
                .col(text_null(Outcomes::Retrospective))
                .col(big_integer_null(Outcomes::RecordedBy))
                .col(big_integer(Outcomes::RecordedAt))
                .foreign_key(&mut fk(
                    "fk_outcomes_cohort",
                    (Outcomes::Table, Outcomes::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents, so foreign keys never block a drop.
        m.drop_table(Table::drop().table(Outcomes::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(StageEvents::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(CheckIns::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Goals::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Memberships::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(ConductVersions::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Cohorts::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Persons::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Tenants::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
