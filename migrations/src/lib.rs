//! Afterclass's database schema as migrations that run unchanged on SQLite and PostgreSQL.
//!
//! Conventions every migration keeps: each table carries `tenant_id`; primary keys are 64-bit
//! auto-increment integers; timestamps are `BIGINT` microseconds since the Unix epoch (UTC), so
//! both stores compare, sort and return identical values; dates are ISO 8601 text; enumerations
//! are their upper-case names. Every migration has a working `down`.

pub use sea_orm_migration::prelude::*;

mod builders;
mod m20261126_000001_core;
mod m20261126_000002_lifecycle;
mod m20261126_000003_meetings;
mod m20261126_000004_discovery;
mod m20261201_000005_tallies;
mod m20261201_000006_events;
mod m20261201_000007_webhooks;
mod m20261201_000008_lti;
mod m20261201_000009_nudges;
mod m20261201_000010_privacy;
mod m20261201_000011_rate_windows;
mod m20261202_000012_check_in_totals;
mod m20261203_000013_memberships_by_cohort;
pub mod tallies;

/// The ordered list of migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_core::Migration),
            Box::new(m20261126_000002_lifecycle::Migration),
            Box::new(m20261126_000003_meetings::Migration),
            Box::new(m20261126_000004_discovery::Migration),
            Box::new(m20261201_000005_tallies::Migration),
            Box::new(m20261201_000006_events::Migration),
            Box::new(m20261201_000007_webhooks::Migration),
            Box::new(m20261201_000008_lti::Migration),
            Box::new(m20261201_000009_nudges::Migration),
            Box::new(m20261201_000010_privacy::Migration),
            Box::new(m20261201_000011_rate_windows::Migration),
            Box::new(m20261202_000012_check_in_totals::Migration),
            Box::new(m20261203_000013_memberships_by_cohort::Migration),
        ]
    }
}
