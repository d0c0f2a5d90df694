//! The sweeper: a background task of `serve` that, every interval, evaluates active cohorts and
//! records an event when a cohort's health status or recommendation changes, and records the
//! nudges that are due (`app::nudges`). It ends a cohort only when the cohort opted in to
//! auto-apply. With a retention (`AFTERCLASS_RETENTION_DAYS`) it then erases the people whose
//! cohorts all ended at least that long ago (`app::privacy::forget_expired`, the same erasure as
//! `erasePerson`), each in a transaction that holds the person's row.
//!
//! Any number of replicas may run it at once. A database lease lets one sweeper at a time make a
//! pass; within a pass each cohort is handled in its own transaction that locks the cohort's row
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so a busy cohort is left for the next pass), and an
//! event is recorded only when the stored signal differs from what is observed — so even two
//! passes that overlap record each change once.

use std::time::Duration;

use afterclass_domain::lifecycle::{self as dl, Recommendation};
use afterclass_domain::privacy::Retention;
use afterclass_domain::stage::Stage;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::app::nudges::Delivery;
use crate::app::{Ending, end_cohort};
use crate::error::Failure;
use crate::store::entities::{cohort, cohort_signal, sweeper_lease};
use crate::store::events::{self, NewEvent};
use crate::store::{self, Store, lifecycle, to_micros};
use afterclass_domain::event::EventKind;

const LEASE: &str = "sweeper";
const BATCH: u64 = 100;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Another sweeper held the lease, so this one did nothing.
    pub skipped: bool,
    pub evaluated: u32,
    /// Changes of health or recommendation recorded.
    pub events: u32,
    /// Nudges found due and recorded (each with its own `NUDGE_DUE` event).
    pub nudges: u32,
    pub ended: u32,
    /// People erased because every cohort of theirs ended at least the retention ago.
    pub erased: u32,
}

/// What a pass does besides evaluating: how new nudges go out, and how long people whose
/// cohorts have all ended are kept (`None`: for good).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub delivery: Delivery,
    pub retention: Option<Retention>,
}

impl From<Delivery> for Options {
    fn from(delivery: Delivery) -> Self {
        Options { delivery, retention: None }
    }
}

/// A name for this process, for the lease.
pub fn holder_name() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    format!("pid{}-{}", std::process::id(), hex::encode(bytes))
}

/// Runs a pass every `interval` until the task is dropped; new nudges are recorded for the
/// options' delivery (`PENDING` for the mail worker when mail is configured), people past the
/// retention erased.
pub async fn run(store: Store, interval: Duration, options: Options) {
    let holder = holder_name();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match sweep_with(&store, &holder, store::now(), interval, options).await {
            Ok(report) if !report.skipped => {
                tracing::info!(
                    evaluated = report.evaluated,
                    events = report.events,
                    nudges = report.nudges,
                    ended = report.ended,
                    erased = report.erased,
                    "sweep"
                )
            }
            Ok(_) => tracing::debug!("sweep skipped: another replica holds the lease"),
            Err(err) => tracing::error!(%err, "sweep failed"),
        }
    }
}

/// One pass as of `now`, if this holder gets the lease for `lease_for`; nudges as events only.
pub async fn sweep(store: &Store, holder: &str, now: DateTime<Utc>, lease_for: Duration) -> Result<Report, DbErr> {
    sweep_with(store, holder, now, lease_for, Delivery::EventsOnly).await
}

/// One pass as of `now`, if this holder gets the lease for `lease_for`, with `options` (a
/// [`Delivery`] alone: no retention).
pub async fn sweep_with(
    store: &Store,
    holder: &str,
    now: DateTime<Utc>,
    lease_for: Duration,
    options: impl Into<Options>,
) -> Result<Report, DbErr> {
    if !acquire_lease(store, holder, now, lease_for).await? {
        return Ok(Report { skipped: true, ..Report::default() });
    }
    sweep_cohorts_with(store, now, options).await
}

/// Takes the lease if it is free, expired, or already ours.
pub async fn acquire_lease(
    store: &Store,
    holder: &str,
    now: DateTime<Utc>,
    lease_for: Duration,
) -> Result<bool, DbErr> {
    let now_us = to_micros(now);
    let insert = sweeper_lease::Entity::insert(sweeper_lease::ActiveModel {
        name: Set(LEASE.to_owned()),
        holder: Set(String::new()),
        expires_at: Set(0),
    })
    .on_conflict(OnConflict::column(sweeper_lease::Column::Name).do_nothing().to_owned())
    .exec_without_returning(store.writer())
    .await;
    match insert {
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(err) => return Err(err),
    }
    let until = now_us + i64::try_from(lease_for.as_micros()).unwrap_or(i64::MAX / 2);
    let taken = sweeper_lease::Entity::update_many()
        .col_expr(sweeper_lease::Column::Holder, holder.into())
        .col_expr(sweeper_lease::Column::ExpiresAt, until.into())
        .filter(sweeper_lease::Column::Name.eq(LEASE))
        .filter(
            sea_orm::Condition::any()
                .add(sweeper_lease::Column::ExpiresAt.lte(now_us))
                .add(sweeper_lease::Column::Holder.eq(holder)),
        )
        .exec(store.writer())
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Evaluates every active cohort, without the lease; nudges as events only (`SENT` at once).
pub async fn sweep_cohorts(store: &Store, now: DateTime<Utc>) -> Result<Report, DbErr> {
    sweep_cohorts_with(store, now, Delivery::EventsOnly).await
}

/// Evaluates every active cohort, without the lease, recording new nudges for the options'
/// delivery; then, with a retention, erases the people whose cohorts all ended at least that long
/// ago. Safe beside another pass (each cohort and each person is held by one at a time).
pub async fn sweep_cohorts_with(
    store: &Store,
    now: DateTime<Utc>,
    options: impl Into<Options>,
) -> Result<Report, DbErr> {
    let Options { delivery, retention } = options.into();
    let mut report = Report::default();
    let mut after = 0i64;
    loop {
        let ids: Vec<i64> = cohort::Entity::find()
            .select_only()
            .column(cohort::Column::Id)
            .filter(cohort::Column::Stage.eq(Stage::Active.as_str()))
            .filter(cohort::Column::Id.gt(after))
            .order_by_asc(cohort::Column::Id)
            .limit(BATCH)
            .into_tuple()
            .all(store.reader())
            .await?;
        let Some(last) = ids.last().copied() else { break };
        for id in ids {
            match sweep_cohort(store, id, now, delivery).await {
                Ok(Some((events, nudges, ended))) => {
                    report.evaluated += 1;
                    report.events += events;
                    report.nudges += nudges;
                    report.ended += u32::from(ended);
                }
                Ok(None) => {}
                Err(err) => tracing::error!(cohort = id, ?err, "sweeping a cohort"),
            }
        }
        after = last;
    }
    if let Some(retention) = retention {
        report.erased = crate::app::privacy::forget_expired(store, retention, now).await?;
    }
    Ok(report)
}

/// Evaluates one cohort; `None` when another transaction holds it or it is no longer active.
/// Fails with the use cases' own error: the sweeper has no client, so the caller logs it.
async fn sweep_cohort(
    store: &Store,
    id: i64,
    now: DateTime<Utc>,
    delivery: Delivery,
) -> Result<Option<(u32, u32, bool)>, Failure> {
    let txn = store.begin_write().await?;
    let Some(c) =
        cohort::Entity::find_by_id(id).lock_with_behavior(LockType::Update, LockBehavior::SkipLocked).one(&txn).await?
    else {
        return Ok(None);
    };
    if c.stage != Stage::Active.as_str() {
        return Ok(None);
    }
    let snapshot = lifecycle::snapshot(&txn, &c, to_micros(now)).await?;
    let health = dl::health(&snapshot);
    let evaluation = dl::evaluate(&lifecycle::criteria_of(&c), &snapshot);
    let previous = cohort_signal::Entity::find_by_id(id).one(&txn).await?;
    let mut events = 0;
    let changes = [
        (
            EventKind::HealthChanged,
            previous.as_ref().map(|p| p.health_status.clone()),
            health.status.as_str(),
            health.reasons.join(" "),
        ),
        (
            EventKind::RecommendationChanged,
            previous.as_ref().map(|p| p.recommendation.clone()),
            evaluation.recommendation.as_str(),
            evaluation.summary.clone(),
        ),
    ];
    for (kind, from, to, detail) in changes {
        if from.as_deref() == Some(to) {
            continue;
        }
        let event = NewEvent {
            tenant_id: c.tenant_id,
            cohort_id: c.id,
            kind,
            actor_person_id: None,
            person_id: None,
            occurred_at: now,
            data: events::data([("from", from.into()), ("to", to.into()), ("detail", detail.into())]),
        };
        events::record(&txn, event).await?;
        events += 1;
    }
    let signal = cohort_signal::ActiveModel {
        cohort_id: Set(c.id),
        tenant_id: Set(c.tenant_id),
        health_status: Set(health.status.as_str().to_owned()),
        recommendation: Set(evaluation.recommendation.as_str().to_owned()),
        evaluated_at: Set(to_micros(now)),
    };
    match previous {
        Some(p) => {
            let mut am = p.into_active_model();
            am.health_status = signal.health_status;
            am.recommendation = signal.recommendation;
            am.evaluated_at = signal.evaluated_at;
            am.update(&txn).await?;
        }
        None => {
            signal.insert(&txn).await?;
        }
    }
    // The nudges due now, each recorded once with its NUDGE_DUE event (none once it ends below).
    let auto_ends = c.auto_apply && evaluation.recommendation != Recommendation::Continue;
    let nudges = if auto_ends { 0 } else { crate::app::nudges::record_due(&txn, &c, &health, delivery, now).await? };
    let mut ended = false;
    if auto_ends {
        let to =
            if evaluation.recommendation == Recommendation::Graduate { Stage::Graduated } else { Stage::Disbanded };
        let reason = evaluation.outcome_reason().unwrap_or(afterclass_domain::cohort::OutcomeReason::LeadersDecision);
        let ending = Ending { to, reason, retrospective: None, formal_structure: None, evaluation: Some(evaluation) };
        end_cohort(&txn, c, ending, None, now).await?;
        ended = true;
    }
    txn.commit().await?;
    Ok(Some((events, nudges, ended)))
}
