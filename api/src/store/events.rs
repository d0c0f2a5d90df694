//! The event log: every change of a cohort is written as a row here in the same transaction as
//! the change itself (a transactional outbox), so no event is lost or invented whatever crashes
//! when. The `events` feed, subscriptions and webhook deliveries all read this one log.
//!
//! Each row carries its payload, the JSON document a webhook delivers and `CohortEvent.payload`
//! gives: `{"type": KIND, "timestamp": RFC 3339, "data": {"cohortId": ID, ...}}`, every ID a
//! global ID. Payloads hold IDs, stages, roles and values, never names, emails or free text a
//! person wrote. On PostgreSQL the insert also notifies [`CHANNEL`] (delivered at commit) so that
//! subscribers on every replica look at the log again.

use afterclass_domain::event::EventKind;
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde_json::{Map, Value as Json};

use super::tallies::Binds;

/// The PostgreSQL notification channel that says "the log has grown"; its payload is the
/// tenant's id.
pub const CHANNEL: &str = "afterclass_events";

/// An event about to be recorded.
#[derive(Debug)]
pub struct NewEvent {
    pub tenant_id: i64,
    pub cohort_id: i64,
    pub kind: EventKind,
    pub actor_person_id: Option<i64>,
    /// The person it is about (a member, a requester), who reads it as their own data.
    pub person_id: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    /// The kind's own fields, besides `cohortId`.
    pub data: Map<String, Json>,
}

impl NewEvent {
    /// The document delivered for it.
    pub fn payload(&self) -> String {
        let mut data = Map::new();
        data.insert("cohortId".into(), crate::ids::encode(crate::ids::Kind::Cohort, self.cohort_id).into());
        data.extend(self.data.clone());
        serde_json::json!({
            "type": self.kind.as_str(),
            "timestamp": self.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "data": data,
        })
        .to_string()
    }
}

/// Writes the event, in the caller's transaction. One statement.
pub async fn record(conn: &impl ConnectionTrait, event: NewEvent) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let payload = event.payload();
    let mut b = Binds::new(backend);
    let values = [
        b.bind(event.tenant_id),
        b.bind(event.cohort_id),
        b.bind(event.kind.as_str()),
        b.bind(event.actor_person_id),
        b.bind(event.person_id),
        b.bind(super::to_micros(event.occurred_at)),
        b.bind(payload),
    ]
    .join(", ");
    let columns = "tenant_id, cohort_id, kind, actor_person_id, person_id, occurred_at, payload";
    let sql = if backend == DbBackend::Postgres {
        // The notification is sent when (and only if) the transaction commits.
        let tenant = b.bind(event.tenant_id.to_string());
        format!(
            "INSERT INTO events ({columns}) SELECT {values} \
             FROM (SELECT pg_notify('{CHANNEL}', {tenant})) notified"
        )
    } else {
        format!("INSERT INTO events ({columns}) VALUES ({values})")
    };
    conn.execute_raw(b.statement(sql)).await?;
    Ok(())
}

/// Builds an event's `data` from `(name, value)` pairs.
pub fn data<const N: usize>(fields: [(&str, Json); N]) -> Map<String, Json> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
