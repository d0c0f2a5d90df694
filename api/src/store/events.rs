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

/// The newest position of the log this process has seen, kept up to date by one task per
/// process ([`watch_log`]) while anyone follows it; live subscriptions wait on it and then read
/// the log itself, which stays the source of truth: a missed wake-up delays an event, never
/// loses it.
#[derive(Clone, Debug)]
pub struct LogHead(std::sync::Arc<tokio::sync::watch::Sender<i64>>);

impl LogHead {
    /// Follows the head; the watcher reads the log only while someone follows it.
    pub fn follow(&self) -> tokio::sync::watch::Receiver<i64> {
        self.0.subscribe()
    }
}

/// How often the log's head is read while someone follows it and nothing wakes the watcher: on
/// SQLite (one process) this is how soon a subscriber hears of an event; on PostgreSQL
/// notifications wake it at once and this only covers a lost connection.
const SQLITE_POLL: std::time::Duration = std::time::Duration::from_millis(200);
const POSTGRES_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts the task that follows the log's head while anyone follows it: on PostgreSQL it listens
/// on [`CHANNEL`], so an event committed through any replica wakes this one's subscribers. With
/// no follower it reads nothing. The task ends when the last [`LogHead`] is dropped.
pub fn watch_log(store: super::Store) -> LogHead {
    let head_tx = std::sync::Arc::new(tokio::sync::watch::channel(0).0);
    let weak = std::sync::Arc::downgrade(&head_tx);
    tokio::spawn(async move {
        let postgres = store.backend() == DbBackend::Postgres;
        let poll = if postgres { POSTGRES_POLL } else { SQLITE_POLL };
        let mut listener = None;
        loop {
            let Some(tx) = weak.upgrade() else { break };
            if tx.receiver_count() == 0 {
                drop(tx);
                // Nobody to wake: stop listening, so notifications do not pile up unread.
                listener = None;
                tokio::time::sleep(SQLITE_POLL).await;
                continue;
            }
            if postgres && listener.is_none() {
                listener = listen(store.writer().get_postgres_connection_pool()).await;
            }
            match head(store.reader()).await {
                Ok(id) => {
                    tx.send_if_modified(|seen| {
                        let newer = id > *seen;
                        if newer {
                            *seen = id;
                        }
                        newer
                    });
                }
                Err(err) => tracing::debug!(%err, "reading the event log's head"),
            }
            drop(tx);
            match listener.as_mut() {
                // A lost connection is re-established by the listener on its next receive.
                Some(l) => {
                    let _ = tokio::time::timeout(poll, l.recv()).await;
                }
                None => tokio::time::sleep(poll).await,
            }
        }
    });
    LogHead(head_tx)
}

/// A listener on [`CHANNEL`], or `None` (the watcher then polls) when it cannot listen.
async fn listen(pool: &sea_orm::sqlx::PgPool) -> Option<sea_orm::sqlx::postgres::PgListener> {
    let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(%err, "connecting to listen for new events; polling instead");
            return None;
        }
    };
    match listener.listen(CHANNEL).await {
        Ok(()) => Some(listener),
        Err(err) => {
            tracing::warn!(%err, "listening for new events; polling instead");
            None
        }
    }
}

/// The log's newest position (0 when it is empty).
pub async fn head(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), "SELECT MAX(id) FROM events"))
        .await?;
    Ok(row.and_then(|r| r.try_get_by_index::<Option<i64>>(0).ok().flatten()).unwrap_or(0))
}
