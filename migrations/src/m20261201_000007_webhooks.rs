//! Webhooks: the tenant's receivers (`webhook_endpoints`) and one delivery per event and
//! endpoint (`webhook_deliveries`), fanned out from the event log by the delivery worker. An
//! endpoint keeps how far into the log it has fanned out (`last_event_tx`, `last_event_id`); a delivery keeps its
//! attempts and a lease (`locked_until`) so that a worker that dies mid-attempt gives it back.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builders::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    TenantId,
    Url,
    Kinds,
    Enabled,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    LastEventTx,
    LastEventId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    TenantId,
    EndpointId,
    EventId,
    Status,
    Attempts,
    LastResponseStatus,
    NextAttemptAt,
    DeliveredAt,
    LockedUntil,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(WebhookEndpoints::Table)
                .if_not_exists()
                .col(big_pk_auto(WebhookEndpoints::Id))
                .col(big_integer(WebhookEndpoints::TenantId))
                .col(text(WebhookEndpoints::Url))
                // The kinds it receives, comma-separated; empty means every kind.
                .col(text(WebhookEndpoints::Kinds))
                .col(boolean(WebhookEndpoints::Enabled))
                .col(text(WebhookEndpoints::Secret))
                // The secret before the last rotation, which keeps signing until `previous_secret_until`.
                .col(text_null(WebhookEndpoints::PreviousSecret))
                .col(big_integer_null(WebhookEndpoints::PreviousSecretUntil))
                .col(big_integer(WebhookEndpoints::LastEventTx).default(0))
                .col(big_integer(WebhookEndpoints::LastEventId))
                .col(big_integer(WebhookEndpoints::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("webhook_endpoints_tenant", WebhookEndpoints::Table, &["tenant_id", "id"], false)).await?;
        m.create_table(
            Table::create()
                .table(WebhookDeliveries::Table)
                .if_not_exists()
                .col(big_pk_auto(WebhookDeliveries::Id))
                .col(big_integer(WebhookDeliveries::TenantId))
                .col(big_integer(WebhookDeliveries::EndpointId))
                .col(big_integer(WebhookDeliveries::EventId))
                .col(string_len(WebhookDeliveries::Status, 20))
                .col(integer(WebhookDeliveries::Attempts))
                .col(integer_null(WebhookDeliveries::LastResponseStatus))
                .col(big_integer_null(WebhookDeliveries::NextAttemptAt))
                .col(big_integer_null(WebhookDeliveries::DeliveredAt))
                .col(big_integer_null(WebhookDeliveries::LockedUntil))
                .col(big_integer(WebhookDeliveries::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_webhook_deliveries_endpoint",
                    (WebhookDeliveries::Table, WebhookDeliveries::EndpointId),
                    (WebhookEndpoints::Table, WebhookEndpoints::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_webhook_deliveries_event",
                    (WebhookDeliveries::Table, WebhookDeliveries::EventId),
                    (Events::Table, Events::Id),
                ))
                .to_owned(),
        )
        .await?;
        // One delivery per event and endpoint, however many workers fan out at once.
        m.create_index(index(
            "webhook_deliveries_endpoint_event",
            WebhookDeliveries::Table,
            &["endpoint_id", "event_id"],
            true,
        ))
        .await?;
        // What the worker claims: due deliveries by status and time.
        m.create_index(index(
            "webhook_deliveries_due",
            WebhookDeliveries::Table,
            &["status", "next_attempt_at"],
            false,
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WebhookDeliveries::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(WebhookEndpoints::Table).if_exists().to_owned()).await?;
        Ok(())
    }
}
