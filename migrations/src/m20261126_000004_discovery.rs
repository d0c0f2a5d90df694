//! Join before you found: course rosters (to tell outside interest from the course's own
//! people), join requests, the reason a proposal was declined, and full-text search over cohorts
//! with each store's own machinery (SQLite FTS5 kept by triggers; a PostgreSQL `tsvector` column
//! with a GIN index).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    DeclineReason,
}

#[derive(DeriveIden)]
enum CourseRosters {
    Table,
    Id,
    TenantId,
    LmsCourseId,
    PersonId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum JoinRequests {
    Table,
    Id,
    TenantId,
    CohortId,
    PersonId,
    Message,
    Status,
    FromOutsideCourse,
    CreatedAt,
    DecidedAt,
    DecidedBy,
}

const SQLITE_SEARCH: &[&str] = &[
    "CREATE VIRTUAL TABLE IF NOT EXISTS cohort_search USING fts5(name, domain, purpose, tags, \
     content='cohorts', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS cohort_search_insert AFTER INSERT ON cohorts BEGIN \
     INSERT INTO cohort_search(rowid, name, domain, purpose, tags) VALUES (new.id, new.name, new.domain, new.purpose, new.tags); END",
    "CREATE TRIGGER IF NOT EXISTS cohort_search_delete AFTER DELETE ON cohorts BEGIN \
     INSERT INTO cohort_search(cohort_search, rowid, name, domain, purpose, tags) VALUES ('delete', old.id, old.name, old.domain, old.purpose, old.tags); END",
    "CREATE TRIGGER IF NOT EXISTS cohort_search_update AFTER UPDATE OF name, domain, purpose, tags ON cohorts BEGIN \
     INSERT INTO cohort_search(cohort_search, rowid, name, domain, purpose, tags) VALUES ('delete', old.id, old.name, old.domain, old.purpose, old.tags); \
     INSERT INTO cohort_search(rowid, name, domain, purpose, tags) VALUES (new.id, new.name, new.domain, new.purpose, new.tags); END",
    "INSERT INTO cohort_search(cohort_search) VALUES ('rebuild')",
];

const SQLITE_SEARCH_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS cohort_search_update",
    "DROP TRIGGER IF EXISTS cohort_search_delete",
    "DROP TRIGGER IF EXISTS cohort_search_insert",
    "DROP TABLE IF EXISTS cohort_search",
];

const POSTGRES_SEARCH: &[&str] = &[
    "ALTER TABLE cohorts ADD COLUMN IF NOT EXISTS search tsvector GENERATED ALWAYS AS ( \
     setweight(to_tsvector('english', coalesce(name, '')), 'A') || \
     setweight(to_tsvector('english', coalesce(domain, '')), 'A') || \
     setweight(to_tsvector('english', coalesce(tags, '')), 'B') || \
     setweight(to_tsvector('english', coalesce(purpose, '')), 'C')) STORED",
    "CREATE INDEX IF NOT EXISTS cohorts_search ON cohorts USING GIN (search)",
];

const POSTGRES_SEARCH_DOWN: &[&str] =
    &["DROP INDEX IF EXISTS cohorts_search", "ALTER TABLE cohorts DROP COLUMN IF EXISTS search"];

async fn run_all(m: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        m.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Cohorts::Table).add_column(text_null(Cohorts::DeclineReason)).to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table(CourseRosters::Table)
                .if_not_exists()
                .col(big_pk_auto(CourseRosters::Id))
                .col(big_integer(CourseRosters::TenantId))
                .col(string_len(CourseRosters::LmsCourseId, 200))
                .col(big_integer(CourseRosters::PersonId))
                .col(big_integer(CourseRosters::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("course_rosters_key")
                .table(CourseRosters::Table)
                .col(CourseRosters::TenantId)
                .col(CourseRosters::LmsCourseId)
                .col(CourseRosters::PersonId)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(JoinRequests::Table)
                .if_not_exists()
                .col(big_pk_auto(JoinRequests::Id))
                .col(big_integer(JoinRequests::TenantId))
                .col(big_integer(JoinRequests::CohortId))
                .col(big_integer(JoinRequests::PersonId))
                .col(text_null(JoinRequests::Message))
                .col(string_len(JoinRequests::Status, 20))
                .col(boolean(JoinRequests::FromOutsideCourse))
                .col(big_integer(JoinRequests::CreatedAt))
                .col(big_integer_null(JoinRequests::DecidedAt))
                .col(big_integer_null(JoinRequests::DecidedBy))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_join_requests_cohort")
                        .from(JoinRequests::Table, JoinRequests::CohortId)
                        .to(Alias::new("cohorts"), Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("join_requests_cohort")
                .table(JoinRequests::Table)
                .col(JoinRequests::CohortId)
                .col(JoinRequests::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        match m.get_database_backend() {
            DbBackend::Sqlite => run_all(m, SQLITE_SEARCH).await?,
            DbBackend::Postgres => run_all(m, POSTGRES_SEARCH).await?,
            _ => {}
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        match m.get_database_backend() {
            DbBackend::Sqlite => run_all(m, SQLITE_SEARCH_DOWN).await?,
            DbBackend::Postgres => run_all(m, POSTGRES_SEARCH_DOWN).await?,
            _ => {}
        }
        m.drop_table(Table::drop().table(JoinRequests::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(CourseRosters::Table).if_exists().to_owned()).await?;
        m.alter_table(Table::alter().table(Cohorts::Table).drop_column(Cohorts::DeclineReason).to_owned()).await?;
        Ok(())
    }
}
