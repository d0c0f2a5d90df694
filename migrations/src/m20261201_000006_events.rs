//! The event log: one row per change of a cohort, written in the change's own transaction (a
//! transactional outbox), read by the `events` feed, subscriptions and webhook deliveries. The
//! sweeper's health and recommendation changes, recorded in `cohort_events` until now, move into
//! it, and that table goes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, Value};

use crate::builders::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    TenantId,
    CohortId,
    Kind,
    ActorPersonId,
    PersonId,
    OccurredAt,
    Payload,
    Tx,
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Events::Table)
                .if_not_exists()
                .col(big_pk_auto(Events::Id))
                .col(big_integer(Events::TenantId))
                .col(big_integer(Events::CohortId))
                .col(string_len(Events::Kind, 40))
                .col(big_integer_null(Events::ActorPersonId))
                // The person the event is about, if any (a member, a requester): they read it as their own.
                .col(big_integer_null(Events::PersonId))
                .col(big_integer(Events::OccurredAt))
                .col(text(Events::Payload))
                // Its transaction's id on PostgreSQL (0 on SQLite, whose commits follow the ids):
                // the log is read in (tx, id) order, and only as far as every transaction below
                // is known to have ended, so an event that commits late is never passed over.
                .col(big_integer(Events::Tx).default(0))
                .foreign_key(&mut fk(
                    "fk_events_cohort",
                    (Events::Table, Events::CohortId),
                    (Cohorts::Table, Cohorts::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("events_tenant", Events::Table, &["tenant_id", "tx", "id"], false)).await?;
        m.create_index(index("events_cohort", Events::Table, &["cohort_id", "id"], false)).await?;
        move_cohort_events(m.get_connection()).await?;
        m.drop_table(Table::drop().table(CohortEvents::Table).if_exists().to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Events::Table).if_exists().to_owned()).await?;
        // The sweeper's table as the lifecycle migration made it, empty: the events that moved
        // out of it go with the log.
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
        m.create_index(index("cohort_events_cohort", CohortEvents::Table, &["cohort_id", "id"], false)).await?;
        Ok(())
    }
}

/// Copies the sweeper's recorded changes into the log, oldest first, each with the payload the
/// service writes for them (`afterclass::store::events`): `{"type", "timestamp", "data":
/// {"cohortId", "from", "to", "detail"}}`, the cohort's global ID `base64url("Cohort:N")`.
async fn move_cohort_events(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT tenant_id, cohort_id, kind, from_value, to_value, detail, occurred_at FROM cohort_events ORDER BY id",
        ))
        .await?;
    let insert = match backend {
        sea_orm_migration::sea_orm::DbBackend::Postgres => {
            "INSERT INTO events (tenant_id, cohort_id, kind, occurred_at, payload) VALUES ($1, $2, $3, $4, $5)"
        }
        _ => "INSERT INTO events (tenant_id, cohort_id, kind, occurred_at, payload) VALUES (?, ?, ?, ?, ?)",
    };
    for row in rows {
        let tenant: i64 = row.try_get_by_index(0)?;
        let cohort: i64 = row.try_get_by_index(1)?;
        let kind: String = row.try_get_by_index(2)?;
        let from: Option<String> = row.try_get_by_index(3)?;
        let to: String = row.try_get_by_index(4)?;
        let detail: String = row.try_get_by_index(5)?;
        let at: i64 = row.try_get_by_index(6)?;
        let timestamp = chrono::DateTime::from_timestamp_micros(at)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let payload = serde_json::json!({
            "type": kind,
            "timestamp": timestamp,
            "data": {
                "cohortId": URL_SAFE_NO_PAD.encode(format!("Cohort:{cohort}")),
                "from": from,
                "to": to,
                "detail": detail,
            },
        });
        let values: Vec<Value> = vec![tenant.into(), cohort.into(), kind.into(), at.into(), payload.to_string().into()];
        conn.execute_raw(Statement::from_sql_and_values(backend, insert, values)).await?;
    }
    Ok(())
}
