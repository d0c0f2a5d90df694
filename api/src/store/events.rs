//! The event log: every change of a cohort is written as a row here in the same transaction as
//! the change itself (a transactional outbox), so no event is lost or invented whatever crashes
//! when. The `events` feed, subscriptions and webhook deliveries all read this one log.
//!
//! Each row carries its payload, the JSON document a webhook delivers and `CohortEvent.payload`
//! gives: `{"type": KIND, "timestamp": RFC 3339, "data": {"cohortId": ID, ...}}`, every ID a
//! global ID. Payloads hold IDs, stages, roles and values, never names, emails or free text a
//! person wrote. On PostgreSQL a process that begins a write transaction announces it on
//! [`CHANNEL`] ([`Announcer`]) so that subscribers on every replica look at the log again.

use afterclass_domain::event::EventKind;
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde_json::{Map, Value as Json};

use super::tallies::Binds;

/// The PostgreSQL notification channel that says "the log may be growing"; its payload is empty.
pub const CHANNEL: &str = "afterclass_events";

/// Says on [`CHANNEL`], from a connection and a transaction of its own, that this process has
/// begun writing, so that every replica's watcher ([`watch_log`]) reads the log's head often
/// while the write settles. One notification in flight per process, however many writes begin
/// meanwhile, and at most one per [`SETTLING_POLL`]: a watcher that heard one reads the head
/// that often for [`SETTLING`] anyway, so the writes that begin meanwhile are covered by one
/// more sent after that pause, and under a steady stream of writes the notifications (each a
/// transaction of its own) stay a few dozen a second rather than one per write.
///
/// Not from the writing transaction itself: PostgreSQL commits every transaction that has sent
/// a notification one at a time, holding the notification queue's lock across the commit's WAL
/// flush, so a notification in each write would serialise the commits of every writer of the
/// database (with `pgbench`, 32 clients, a one-row insert per transaction: about 6,200 tps
/// without, 1,450–1,620 with a `pg_notify` in each).
pub(super) struct Announcer {
    wake: tokio::sync::mpsc::Sender<()>,
}

impl Announcer {
    /// Starts the task that sends the notifications on `pool` (not counted among the store's
    /// statements: it is no request's work); it ends when the announcer is dropped.
    pub(super) fn start(pool: sea_orm::sqlx::PgPool) -> Announcer {
        let (wake, mut woken) = tokio::sync::mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while woken.recv().await.is_some() {
                let sent = sea_orm::sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&pool).await;
                if let Err(err) = sent {
                    // Watchers look at the log once a second anyway: a delay, never a loss.
                    tracing::debug!(%err, "announcing a write on the event log's channel");
                }
                tokio::time::sleep(SETTLING_POLL).await;
            }
        });
        Announcer { wake }
    }

    /// Asks for a notification; nothing to wait for.
    pub(super) fn announce(&self) {
        // Full means one is already due, which covers this write too.
        let _ = self.wake.try_send(());
    }
}

/// The writing transaction's id on PostgreSQL, as a number.
const TX: &str = "pg_current_xact_id()::text::bigint";
/// On PostgreSQL, the lowest transaction id still running as of the statement: every event of a
/// transaction below it has committed or never will.
const SETTLED_BELOW: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// A position in the log, in the order it is read: by the writing transaction, then by id.
///
/// On PostgreSQL ids are taken before commit, so a transaction that started first may commit
/// after a later one: reading by id alone would pass over its event for good. Readers therefore
/// see only *settled* events — those of transactions below the oldest one still running, all of
/// which have ended — in `(tx, id)` order; an event that commits late belongs to a transaction at
/// or above that horizon, so it always comes after every position already read. On SQLite `tx`
/// is 0 and commits follow the ids (one writer), so the order is the ids'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub tx: i64,
    pub id: i64,
}

impl Position {
    pub fn of(row: &super::entities::event::Model) -> Position {
        Position { tx: row.tx, id: row.id }
    }

    /// The opaque cursor of this position.
    pub fn cursor(self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("events:{}:{}", self.tx, self.id))
    }

    pub fn from_cursor(cursor: &str) -> Result<Position, crate::error::ApiError> {
        use base64::Engine;
        let bad = || crate::error::ApiError::BadUserInput(format!("`{cursor}` is not a valid cursor"));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor.as_bytes()).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (tx, id) = text.strip_prefix("events:").and_then(|r| r.split_once(':')).ok_or_else(bad)?;
        Ok(Position { tx: tx.parse().map_err(|_| bad())?, id: id.parse().map_err(|_| bad())? })
    }
}

/// `select` narrowed to the settled events after `after`, in log order.
pub fn settled_after(
    select: sea_orm::Select<super::entities::event::Entity>,
    backend: DbBackend,
    after: Position,
) -> sea_orm::Select<super::entities::event::Entity> {
    use super::entities::event::Column;
    use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder};
    let later = Condition::any()
        .add(Column::Tx.gt(after.tx))
        .add(Condition::all().add(Column::Tx.eq(after.tx)).add(Column::Id.gt(after.id)));
    settled(select.filter(later), backend, true).order_by_asc(Column::Tx).order_by_asc(Column::Id)
}

/// `select` narrowed to the settled events (`true`) or to those not settled yet (`false`).
fn settled(
    select: sea_orm::Select<super::entities::event::Entity>,
    backend: DbBackend,
    settled: bool,
) -> sea_orm::Select<super::entities::event::Entity> {
    use super::entities::event::Column;
    use sea_orm::QueryFilter;
    use sea_orm::sea_query::{Expr, ExprTrait};
    match (backend, settled) {
        (DbBackend::Postgres, true) => select.filter(Expr::col(Column::Tx).lt(Expr::cust(SETTLED_BELOW))),
        (DbBackend::Postgres, false) => select.filter(Expr::col(Column::Tx).gte(Expr::cust(SETTLED_BELOW))),
        // SQLite's events are settled once committed.
        (_, true) => select,
        (_, false) => select.filter(Expr::val(false)),
    }
}

/// How many committed events are not settled yet (always 0 on SQLite).
pub async fn unsettled(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    settled(super::entities::event::Entity::find(), conn.get_database_backend(), false).count(conn).await
}

/// The newest settled position of the log (the start when it is empty).
pub async fn settled_head(conn: &impl ConnectionTrait) -> Result<Position, DbErr> {
    use super::entities::event;
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    let row: Option<(i64, i64)> = settled(event::Entity::find(), conn.get_database_backend(), true)
        .select_only()
        .column(event::Column::Tx)
        .column(event::Column::Id)
        .order_by_desc(event::Column::Tx)
        .order_by_desc(event::Column::Id)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(row.map(|(tx, id)| Position { tx, id }).unwrap_or_default())
}

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
    let mut b = Binds::new(conn.get_database_backend());
    let sql = insert(&mut b, &event, "true");
    conn.execute_raw(b.statement(sql)).await?;
    Ok(())
}

/// The statement that writes `event` when `only_if` (an SQL condition) holds, its values bound
/// in `b`.
pub(super) fn insert(b: &mut Binds, event: &NewEvent, only_if: &str) -> String {
    let values = [
        b.bind(event.tenant_id),
        b.bind(event.cohort_id),
        b.bind(event.kind.as_str()),
        b.bind(event.actor_person_id),
        b.bind(event.person_id),
        b.bind(super::to_micros(event.occurred_at)),
        b.bind(event.payload()),
    ]
    .join(", ");
    let columns = "tenant_id, cohort_id, kind, actor_person_id, person_id, occurred_at, payload";
    if b.backend() == DbBackend::Postgres {
        format!("INSERT INTO events ({columns}, tx) SELECT {values}, {TX} WHERE {only_if}")
    } else {
        format!("INSERT INTO events ({columns}) SELECT {values} WHERE {only_if}")
    }
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
pub struct LogHead(std::sync::Arc<tokio::sync::watch::Sender<Position>>);

impl LogHead {
    /// Follows the head; the watcher reads the log only while someone follows it.
    pub fn follow(&self) -> tokio::sync::watch::Receiver<Position> {
        self.0.subscribe()
    }
}

/// How often the log's head is read while someone follows it and nothing wakes the watcher: on
/// SQLite (one process) this is how soon a subscriber hears of an event; on PostgreSQL
/// notifications wake it at once and this only covers a lost connection.
const SQLITE_POLL: std::time::Duration = std::time::Duration::from_millis(200);
/// How often the watcher looks whether anyone follows the head, reading nothing meanwhile.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(200);
const POSTGRES_POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// After a notification, how often and for how long the head is read again while events settle.
const SETTLING_POLL: std::time::Duration = std::time::Duration::from_millis(25);
const SETTLING: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts the task that follows the log's head while anyone follows it: on PostgreSQL it listens
/// on [`CHANNEL`], so a write begun through any replica ([`Announcer`]) has this one read the
/// head every [`SETTLING_POLL`] for [`SETTLING`], and its events reach this one's subscribers
/// once committed. With no follower it reads nothing. The task ends when the last [`LogHead`]
/// is dropped.
pub fn watch_log(store: super::Store) -> LogHead {
    let head_tx = std::sync::Arc::new(tokio::sync::watch::channel(Position::default()).0);
    let weak = std::sync::Arc::downgrade(&head_tx);
    tokio::spawn(async move {
        let postgres = store.backend() == DbBackend::Postgres;
        let poll = if postgres { POSTGRES_POLL } else { SQLITE_POLL };
        let mut listener = None;
        let mut busy_until: Option<std::time::Instant> = None;
        loop {
            let Some(tx) = weak.upgrade() else { break };
            if tx.receiver_count() == 0 {
                drop(tx);
                // Nobody to wake: stop listening, so notifications do not pile up unread.
                listener = None;
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
            if postgres && listener.is_none() {
                listener = listen(store.writer().get_postgres_connection_pool()).await;
            }
            match settled_head(store.reader()).await {
                Ok(position) => {
                    tx.send_if_modified(|seen| {
                        let newer = position > *seen;
                        if newer {
                            *seen = position;
                        }
                        newer
                    });
                }
                Err(err) => tracing::debug!(%err, "reading the event log's head"),
            }
            drop(tx);
            // Just after a notification an event may still wait for an older transaction to end
            // before it is settled: look again soon for a while.
            let wait = if busy_until.is_some_and(|t| std::time::Instant::now() < t) { SETTLING_POLL } else { poll };
            match listener.as_mut() {
                // A lost connection is re-established by the listener on its next receive.
                Some(l) => {
                    if let Ok(Ok(_)) = tokio::time::timeout(wait, l.recv()).await {
                        busy_until = Some(std::time::Instant::now() + SETTLING);
                    }
                }
                None => tokio::time::sleep(wait).await,
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
