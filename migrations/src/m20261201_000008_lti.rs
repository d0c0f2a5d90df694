//! LTI 1.3 launches: the nonces of the launches already accepted (`lti_nonces`), so that each
//! signed launch is accepted once. A row is protocol bookkeeping rather than a tenant's data (the
//! tenant may not exist before its first launch), so, like `sweeper_leases`, it carries no
//! `tenant_id`; rows older than the launch's own lifetime are deleted by later launches.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builders::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LtiNonces {
    Table,
    Nonce,
    Issuer,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(LtiNonces::Table)
                .if_not_exists()
                .col(text(LtiNonces::Nonce).primary_key())
                .col(text(LtiNonces::Issuer))
                // Microseconds since the epoch: after this the state that carried it has expired.
                .col(big_integer(LtiNonces::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(index("lti_nonces_expiry", LtiNonces::Table, &["expires_at"], false)).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LtiNonces::Table).to_owned()).await
    }
}
