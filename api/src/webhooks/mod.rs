//! Webhooks: the delivery worker, a background task of `serve` like the sweeper. Each pass, as
//! of a given `now` (time is an input, so tests drive the schedule with their own clock):
//!
//! 1. **Fan-out** ([`fan_out`]): for each enabled endpoint, in a transaction that holds the
//!    endpoint's row (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never fan out one
//!    endpoint at once; SQLite has one writer), one delivery row per event of the endpoint's
//!    tenant and kinds after its position in the log (`last_event_tx`, `last_event_id`: a
//!    [`Position`], read only as far as the log is settled, so an event that commits late is
//!    never passed over), and the position moved past them. The unique
//!    `(endpoint_id, event_id)` makes a second insert of one delivery a no-op.
//! 2. **Claim** ([`claim`]): due deliveries (`PENDING` or `RETRYING`, `next_attempt_at <= now`,
//!    no live lease) of enabled endpoints, `FOR UPDATE SKIP LOCKED`, and a lease written on them
//!    (`locked_until`), in one short transaction; a worker that dies holding them gives them back
//!    when the lease ends.
//! 3. **Attempt** ([`attempt`]): the event's stored payload, signed, POSTed to the endpoint; the
//!    outcome recorded only if the lease is still this worker's. At least once: a worker that
//!    dies after sending but before recording sends again after the lease.
//!
//! What an answer means and when to try again is `afterclass_domain::webhook`; which receivers
//! may be reached is [`address`]; the signature is [`signing`].

pub mod address;
pub mod signing;

use std::time::Duration as StdDuration;

use afterclass_domain::event::EventKind;
use afterclass_domain::webhook::{self as rules, Answer, DeliveryStatus, Verdict};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::config::WebhookSettings;
use crate::ids::{self, Kind};
use crate::store::entities::{event, webhook_delivery as delivery, webhook_endpoint as endpoint};
use crate::store::events::{Position, settled_after};
use crate::store::{self, Store, to_micros};

/// How long the previous secret keeps signing beside the new one after a rotation.
pub const ROTATION_GRACE: Duration = Duration::hours(24);
/// Events fanned out per endpoint per transaction.
const FAN_OUT_BATCH: u64 = 500;
/// Deliveries claimed (and attempted side by side) at once.
const CLAIM_BATCH: u64 = 32;

/// Sends deliveries: an HTTP client that resolves receivers only to allowed addresses, follows
/// no redirect, uses no proxy and gives up after the configured timeout.
#[derive(Debug, Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    settings: WebhookSettings,
}

impl Deliverer {
    pub fn new(settings: WebhookSettings) -> Result<Deliverer, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(address::CheckedResolver { allow_private: settings.allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent("Afterclass-Webhooks/1")
            .build()
            .map_err(|e| format!("building the webhook client: {e}"))?;
        Ok(Deliverer { client, settings })
    }

    /// How long a claim holds its deliveries: longer than one batch of attempts takes.
    pub fn lease(&self) -> Duration {
        Duration::from_std(self.settings.timeout * 2 + StdDuration::from_secs(30)).unwrap_or(Duration::minutes(5))
    }

    /// POSTs one delivery; the URL is checked again first (a name is checked by the resolver).
    async fn send(&self, url: &str, id: &str, now: DateTime<Utc>, body: &str, secrets: &[&str]) -> Answer {
        let Ok(url) = address::check_url(url, self.settings.allow_private) else {
            return Answer::NoAnswer;
        };
        let timestamp = now.timestamp();
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signing::signature_header(secrets, id, timestamp, body))
            .body(body.to_owned());
        match request.send().await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| rules::retry_after(v, now));
                Answer::Status { code: response.status().as_u16(), retry_after }
            }
            Err(err) => {
                tracing::debug!(%err, "webhook attempt got no answer");
                Answer::NoAnswer
            }
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Deliveries created.
    pub fanned_out: u32,
    pub attempted: u32,
    pub delivered: u32,
}

/// Runs a pass every `interval` until the task is dropped.
pub async fn run(store: Store, deliverer: Deliverer, interval: StdDuration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match pass(&store, &deliverer, store::now()).await {
            Ok(report) if report.attempted > 0 || report.fanned_out > 0 => tracing::info!(
                fanned_out = report.fanned_out,
                attempted = report.attempted,
                delivered = report.delivered,
                "webhooks"
            ),
            Ok(_) => {}
            Err(err) => tracing::error!(%err, "webhook pass failed"),
        }
    }
}

/// One pass as of `now`: fan out, claim what is due, attempt it.
pub async fn pass(store: &Store, deliverer: &Deliverer, now: DateTime<Utc>) -> Result<Report, DbErr> {
    let fanned_out = fan_out(store, now).await?;
    let claimed = claim(store, now, deliverer.lease()).await?;
    let attempts = claimed.iter().map(|d| attempt(store, deliverer, d, now));
    let mut report = Report { fanned_out, ..Report::default() };
    for result in futures_util::future::join_all(attempts).await {
        match result {
            Ok(verdict) => {
                report.attempted += 1;
                report.delivered += u32::from(verdict == Verdict::Delivered);
            }
            Err(err) => tracing::error!(%err, "recording a webhook attempt"),
        }
    }
    Ok(report)
}

/// Creates the deliveries of every enabled endpoint's new events; gives how many.
pub async fn fan_out(store: &Store, now: DateTime<Utc>) -> Result<u32, DbErr> {
    let ids: Vec<i64> = endpoint::Entity::find()
        .select_only()
        .column(endpoint::Column::Id)
        .filter(endpoint::Column::Enabled.eq(true))
        .order_by_asc(endpoint::Column::Id)
        .into_tuple()
        .all(store.reader())
        .await?;
    let mut created = 0;
    for id in ids {
        match fan_out_endpoint(store, id, now).await {
            Ok(n) => created += n,
            Err(err) => tracing::error!(endpoint = id, %err, "fanning out webhook deliveries"),
        }
    }
    Ok(created)
}

/// The kinds an endpoint receives; empty means every kind.
pub fn kinds_of(model: &endpoint::Model) -> Vec<EventKind> {
    model.kinds.split(',').filter_map(EventKind::parse).collect()
}

/// Fans out one endpoint until it has caught up with the log (or another worker holds it).
async fn fan_out_endpoint(store: &Store, id: i64, now: DateTime<Utc>) -> Result<u32, DbErr> {
    let mut created = 0;
    loop {
        let txn = store.begin_write().await?;
        let Some(ep) = endpoint::Entity::find_by_id(id)
            .filter(endpoint::Column::Enabled.eq(true))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&txn)
            .await?
        else {
            return Ok(created);
        };
        let kinds = kinds_of(&ep);
        let wanted = |kind: &str| kinds.is_empty() || EventKind::parse(kind).is_some_and(|k| kinds.contains(&k));
        let after = Position { tx: ep.last_event_tx, id: ep.last_event_id };
        let select = event::Entity::find().filter(event::Column::TenantId.eq(ep.tenant_id));
        let events: Vec<(i64, i64, String)> = settled_after(select, store.backend(), after)
            .select_only()
            .column(event::Column::Tx)
            .column(event::Column::Id)
            .column(event::Column::Kind)
            .limit(FAN_OUT_BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        let caught_up = (events.len() as u64) < FAN_OUT_BATCH;
        let cursor = events.last().map_or(after, |e| Position { tx: e.0, id: e.1 });
        let rows: Vec<delivery::ActiveModel> = events
            .iter()
            .filter(|(_, _, kind)| wanted(kind))
            .map(|(_, event_id, _)| delivery::ActiveModel {
                tenant_id: Set(ep.tenant_id),
                endpoint_id: Set(ep.id),
                event_id: Set(*event_id),
                status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                attempts: Set(0),
                last_response_status: Set(None),
                next_attempt_at: Set(Some(to_micros(now))),
                delivered_at: Set(None),
                locked_until: Set(None),
                created_at: Set(to_micros(now)),
                ..Default::default()
            })
            .collect();
        let n = rows.len() as u32;
        if !rows.is_empty() {
            let inserted = delivery::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([delivery::Column::EndpointId, delivery::Column::EventId])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await;
            match inserted {
                Ok(_) | Err(DbErr::RecordNotInserted) => {}
                Err(err) => return Err(err),
            }
        }
        if cursor != after {
            endpoint::Entity::update_many()
                .col_expr(endpoint::Column::LastEventTx, cursor.tx.into())
                .col_expr(endpoint::Column::LastEventId, cursor.id.into())
                .filter(endpoint::Column::Id.eq(ep.id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        created += n;
        if caught_up {
            return Ok(created);
        }
    }
}

/// Claims up to a batch of due deliveries for `lease`: they are this worker's until then.
pub async fn claim(store: &Store, now: DateTime<Utc>, lease: Duration) -> Result<Vec<delivery::Model>, DbErr> {
    let now_us = to_micros(now);
    let txn = store.begin_write().await?;
    let due = delivery::Entity::find()
        .filter(delivery::Column::Status.is_in([DeliveryStatus::Pending.as_str(), DeliveryStatus::Retrying.as_str()]))
        .filter(delivery::Column::NextAttemptAt.lte(now_us))
        .filter(
            Condition::any()
                .add(delivery::Column::LockedUntil.is_null())
                .add(delivery::Column::LockedUntil.lte(now_us)),
        )
        .filter(
            Expr::col(delivery::Column::EndpointId).in_subquery(
                Query::select()
                    .column(endpoint::Column::Id)
                    .from(endpoint::Entity)
                    .and_where(endpoint::Column::Enabled.eq(true))
                    .to_owned(),
            ),
        )
        .order_by_asc(delivery::Column::NextAttemptAt)
        .order_by_asc(delivery::Column::Id)
        .limit(CLAIM_BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if due.is_empty() {
        return Ok(due);
    }
    let until = to_micros(now + lease);
    delivery::Entity::update_many()
        .col_expr(delivery::Column::LockedUntil, Some(until).into())
        .filter(delivery::Column::Id.is_in(due.iter().map(|d| d.id)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(due.into_iter().map(|d| delivery::Model { locked_until: Some(until), ..d }).collect())
}

/// Attempts one claimed delivery at `now` and records the outcome while the claim is still
/// this worker's; gives the verdict.
pub async fn attempt(
    store: &Store,
    deliverer: &Deliverer,
    claimed: &delivery::Model,
    now: DateTime<Utc>,
) -> Result<Verdict, DbErr> {
    let ep = endpoint::Entity::find_by_id(claimed.endpoint_id).one(store.reader()).await?;
    let ev = event::Entity::find_by_id(claimed.event_id).one(store.reader()).await?;
    let number = u32::try_from(claimed.attempts).unwrap_or(0) + 1;
    let (verdict, status) = match (ep.as_ref(), ev) {
        (Some(ep), Some(ev)) => {
            let mut secrets = vec![ep.secret.as_str()];
            if let (Some(previous), Some(until)) = (&ep.previous_secret, ep.previous_secret_until)
                && until > to_micros(now)
            {
                secrets.push(previous);
            }
            let id = ids::encode(Kind::CohortEvent, ev.id);
            let answer = deliverer.send(&ep.url, &id, now, &ev.payload, &secrets).await;
            let status = match answer {
                Answer::Status { code, .. } => Some(i32::from(code)),
                Answer::NoAnswer => None,
            };
            (rules::judge(answer, number, now, jitter()), status)
        }
        // Its endpoint or event is gone (deleted with their cohort or tenant): nothing to send.
        _ => (Verdict::Failed, None),
    };
    let (state, next, delivered) = match verdict {
        Verdict::Delivered => (DeliveryStatus::Delivered, None, Some(to_micros(now))),
        Verdict::Retry(at) => (DeliveryStatus::Retrying, Some(to_micros(at)), None),
        Verdict::Gone | Verdict::Failed => (DeliveryStatus::Failed, None, None),
    };
    let txn = store.begin_write().await?;
    let recorded = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, state.as_str().into())
        .col_expr(delivery::Column::Attempts, i32::try_from(number).unwrap_or(i32::MAX).into())
        .col_expr(delivery::Column::LastResponseStatus, status.into())
        .col_expr(delivery::Column::NextAttemptAt, next.into())
        .col_expr(delivery::Column::DeliveredAt, delivered.into())
        .col_expr(delivery::Column::LockedUntil, Option::<i64>::None.into())
        .filter(delivery::Column::Id.eq(claimed.id))
        .filter(delivery::Column::LockedUntil.eq(claimed.locked_until))
        .exec(&txn)
        .await?;
    if recorded.rows_affected == 1 && verdict == Verdict::Gone {
        endpoint::Entity::update_many()
            .col_expr(endpoint::Column::Enabled, false.into())
            .filter(endpoint::Column::Id.eq(claimed.endpoint_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(verdict)
}

/// A share of the wait's jitter, in [0, 1).
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}
