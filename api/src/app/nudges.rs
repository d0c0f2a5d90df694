//! Nudges: the use cases (a leader's policy, each member's own choice), the reads behind
//! `Cohort.nudgePolicy`, `Cohort.nudges` and `node(Nudge)`, and the sweeper's step that records
//! the nudges due in an active cohort with their words; the one-click unsubscribe of nudge
//! emails.

use afterclass_domain::access::Action;
use afterclass_domain::lifecycle::Health;
use afterclass_domain::nudge::{self as dn, NudgeKind, PolicyChange};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter,
};

use super::{App, Outcome};
use crate::error::ApiError;
use crate::links::{Unsubscribes, parse_unsubscribe_token};
use crate::store::entities::{cohort, goal, join_request, membership, nudge, nudge_policy, person};
use crate::store::nudges::{self as sn, Composed};
use crate::store::queries::{self, Page};
use crate::store::{Store, from_micros, progress};

type Reads<T> = Result<T, ApiError>;

impl App<'_> {
    /// Leaders: how the cohort nudges its members. Left-out fields keep their value.
    pub async fn set_nudge_policy(&self, cohort_id: i64, change: PolicyChange) -> Outcome<cohort::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Steer).await?;
        locked.stage().ensure_writable()?;
        let next = sn::policy(&txn, &locked.cohort).await?.change(change)?;
        sn::save_policy(&txn, &locked.cohort, &next, self.now).await?;
        txn.commit().await?;
        Ok(locked.cohort)
    }

    /// Any member, for themself: whether they receive nudges.
    pub async fn set_nudges_enabled(&self, cohort_id: i64, enabled: bool) -> Outcome<membership::Model> {
        let txn = self.begin().await?;
        let locked = self.lock_for(&txn, cohort_id, Action::Membership).await?;
        let Some(mine) = locked.mine else {
            return Err(ApiError::Internal("a member's choice without a membership".into()).into());
        };
        let mut am = mine.into_active_model();
        am.nudges_enabled = Set(enabled);
        let row = am.update(&txn).await?;
        txn.commit().await?;
        Ok(row)
    }
}

/// The stored policies of some cohorts (those a leader changed), for one statement per batch.
pub async fn policy_rows(store: &Store, tenant_id: i64, cohort_ids: Vec<i64>) -> Reads<Vec<nudge_policy::Model>> {
    Ok(nudge_policy::Entity::find()
        .filter(nudge_policy::Column::TenantId.eq(tenant_id))
        .filter(nudge_policy::Column::CohortId.is_in(cohort_ids))
        .all(store.reader())
        .await?)
}

/// A cohort's nudges, newest first.
pub async fn nudges_page(
    store: &Store,
    c: &cohort::Model,
    kind: Option<NudgeKind>,
    first: Option<i32>,
    after: Option<&str>,
) -> Reads<Page<nudge::Model>> {
    let mut select =
        nudge::Entity::find().filter(nudge::Column::TenantId.eq(c.tenant_id)).filter(nudge::Column::CohortId.eq(c.id));
    if let Some(kind) = kind {
        select = select.filter(nudge::Column::Kind.eq(kind.as_str()));
    }
    queries::page_newest_first(store.reader(), select, nudge::Column::Id, first, after).await
}

pub async fn nudge_by_id(store: &Store, tenant_id: i64, id: i64) -> Reads<Option<nudge::Model>> {
    Ok(nudge::Entity::find_by_id(id).filter(nudge::Column::TenantId.eq(tenant_id)).one(store.reader()).await?)
}

/// Whether nudges go out by mail too (then they start `PENDING` for the mail worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    EventsOnly,
    EventsAndMail,
}

/// The sweeper's step for one active cohort, inside its transaction (the cohort's row held):
/// records every nudge due at `now` that was not recorded yet, with its words and its
/// `NUDGE_DUE` event. Returns how many were recorded.
pub async fn record_due(
    conn: &impl ConnectionTrait,
    c: &cohort::Model,
    health: &Health,
    delivery: Delivery,
    now: DateTime<Utc>,
) -> Result<u32, sea_orm::DbErr> {
    let gathered = sn::gather(conn, c, now).await?;
    let policy = gathered.policy;
    let due = dn::due(&gathered.snapshot, &policy, now);
    if due.is_empty() {
        return Ok(0);
    }
    let words = Words::gather(conn, c, &gathered, &policy, health, now).await?;
    let composed: Vec<Composed> = due
        .into_iter()
        .map(|d| {
            let (subject, body) = words.compose(&d, &gathered);
            Composed { due: d, subject, body }
        })
        .collect();
    let status = match delivery {
        Delivery::EventsOnly => sn::SENT,
        Delivery::EventsAndMail => sn::PENDING,
    };
    sn::record(conn, c, composed, status, now).await
}

/// What the words of a cohort's nudges draw on.
struct Words {
    cohort: String,
    zone: chrono_tz::Tz,
    names: std::collections::HashMap<i64, String>,
    goals: Vec<String>,
    quiet: Vec<String>,
    health: String,
    every_days: Option<u32>,
    pending_requests: u64,
}

impl Words {
    async fn gather(
        conn: &impl ConnectionTrait,
        c: &cohort::Model,
        gathered: &sn::Gathered,
        policy: &dn::Policy,
        health: &Health,
        now: DateTime<Utc>,
    ) -> Result<Words, sea_orm::DbErr> {
        let person_ids: Vec<i64> = gathered.memberships.values().map(|m| m.person_id).collect();
        let people: std::collections::HashMap<i64, String> = person::Entity::find()
            .filter(person::Column::Id.is_in(person_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|p| (p.id, p.display_name))
            .collect();
        let names: std::collections::HashMap<i64, String> = gathered
            .memberships
            .values()
            .map(|m| (m.id, people.get(&m.person_id).cloned().unwrap_or_else(|| "a member".into())))
            .collect();
        let goal_rows = goal::Entity::find().filter(goal::Column::CohortId.eq(c.id)).all(conn).await?;
        let ids: Vec<i64> = goal_rows.iter().map(|g| g.id).collect();
        let observations = progress::observations(conn, &ids, crate::store::to_micros(now)).await?;
        let goals = goal_rows
            .iter()
            .filter(|g| g.status == afterclass_domain::goal::GoalStatus::Open.as_str())
            .map(|g| {
                let spec = progress::goal_spec(g);
                let obs = observations.get(&g.id).cloned().unwrap_or_default();
                let p = afterclass_domain::goal::progress(&spec, &obs, c.activated_at.map(from_micros), now);
                let pace = p.pace.as_str().to_lowercase().replace('_', " ");
                format!("{}: {} of {} {} ({:.0} %, {pace})", g.title, p.current, p.target, g.unit, p.fraction * 100.0)
            })
            .collect();
        let quiet = gathered
            .snapshot
            .members
            .iter()
            .filter(|m| dn::gone_quiet(m, policy))
            .filter_map(|m| names.get(&m.membership_id).cloned())
            .collect();
        let pending_requests = join_request::Entity::find()
            .filter(join_request::Column::CohortId.eq(c.id))
            .filter(join_request::Column::Status.eq(afterclass_domain::joining::JoinRequestStatus::Pending.as_str()))
            .count(conn)
            .await?;
        let mut health_words = format!("Health: {}.", health.status.as_str().to_lowercase().replace('_', " "));
        for reason in &health.reasons {
            health_words.push(' ');
            health_words.push_str(reason);
        }
        Ok(Words {
            cohort: c.name.clone(),
            zone: gathered.snapshot.zone,
            names,
            goals,
            quiet,
            health: health_words,
            every_days: policy.check_in_every_days,
            pending_requests,
        })
    }

    fn local(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&self.zone);
        format!("{} {}", sn::weekday_name(local), local.format("%-d %B at %H:%M (%Z)"))
    }

    fn compose(&self, d: &dn::Due, gathered: &sn::Gathered) -> (String, String) {
        let name = self.names.get(&d.membership_id).map_or("there", String::as_str);
        let goals = if self.goals.is_empty() { "your goals".to_owned() } else { self.goals.join("; ") };
        match d.kind {
            NudgeKind::CheckInDue => (
                format!("{}: time for a check-in", self.cohort),
                format!(
                    "Hi {name},\n\nit has been {} days since your last check-in in {}. Where are you now? \
                     Log your progress toward the shared goal; it takes a minute.\n\nWhere the cohort stands: {goals}.\n",
                    self.every_days.unwrap_or(0),
                    self.cohort
                ),
            ),
            NudgeKind::MeetingSoon => {
                let starts = gathered
                    .snapshot
                    .meetings
                    .iter()
                    .find(|m| d.slot == m.key)
                    .map(|m| self.local(m.starts_at))
                    .unwrap_or_else(|| "soon".into());
                (
                    format!("{}: meeting on {starts}", self.cohort),
                    format!(
                        "Hi {name},\n\n{} meets on {starts}. If you cannot come, answer the meeting's RSVP so \
                         that the others know.\n",
                        self.cohort
                    ),
                )
            }
            NudgeKind::LeaderDigest => {
                let quiet = if self.quiet.is_empty() {
                    "Nobody went quiet.".to_owned()
                } else {
                    format!("Gone quiet (no check-in after the reminders): {}.", self.quiet.join(", "))
                };
                let next: Vec<String> =
                    gathered.upcoming.iter().take(3).map(|s| self.local(from_micros(s.starts_at))).collect();
                let next = if next.is_empty() {
                    "No meeting is planned.".to_owned()
                } else {
                    format!("Next meetings: {}.", next.join("; "))
                };
                (
                    format!("{}: your weekly digest", self.cohort),
                    format!(
                        "Hi {name},\n\nthis week in {}.\n\n{}\n\nProgress: {goals}.\n\n{quiet}\n\n{next}\n\n\
                         Join requests waiting for a decision: {}.\n",
                        self.cohort, self.health, self.pending_requests
                    ),
                )
            }
        }
    }
}

/// What an unsubscribe link does, or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The cohort whose nudges the link turns off.
    pub cohort_name: String,
    /// Whether the member's nudges were already off before this use of the link.
    pub already: bool,
}

/// The membership and cohort an unsubscribe token names; `NOT_FOUND` for a malformed or forged
/// token, or one whose nudge is not that member's.
async fn unsubscribe_target(
    conn: &impl ConnectionTrait,
    links: &Unsubscribes,
    token: &str,
) -> Reads<(membership::Model, cohort::Model)> {
    let none = || ApiError::not_found("unsubscribe link");
    let parsed = parse_unsubscribe_token(token).ok_or_else(none)?;
    // The signature names the tenant: the rows are looked up by id alone, and a missing one is
    // refused exactly like a bad signature.
    let member = membership::Entity::find_by_id(parsed.membership_id).one(conn).await?.ok_or_else(none)?;
    if !links.verify(member.tenant_id, member.id, parsed.nudge_id, &parsed.sig) {
        return Err(none());
    }
    let sent_with = nudge::Entity::find_by_id(parsed.nudge_id)
        .filter(nudge::Column::MembershipId.eq(member.id))
        .filter(nudge::Column::TenantId.eq(member.tenant_id))
        .count(conn)
        .await?;
    if sent_with == 0 {
        return Err(none());
    }
    let c = cohort::Entity::find_by_id(member.cohort_id)
        .filter(cohort::Column::TenantId.eq(member.tenant_id))
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::Internal("a membership without its cohort".into()))?;
    Ok((member, c))
}

/// For the page an unsubscribe link opens (`GET`): what the link would do. Writes nothing.
pub async fn unsubscribe_preview(store: &Store, links: &Unsubscribes, token: &str) -> Reads<Unsubscribe> {
    let (member, c) = unsubscribe_target(store.reader(), links, token).await?;
    Ok(Unsubscribe { cohort_name: c.name, already: !member.nudges_enabled })
}

/// The one-click unsubscribe (RFC 8058): turns off the nudges of the member a signed link names,
/// with no bearer token, as `setNudgesEnabled(false)` would. Using it again changes nothing.
pub async fn unsubscribe(store: &Store, links: &Unsubscribes, token: &str) -> Reads<Unsubscribe> {
    let txn = store.begin_write().await?;
    let (member, c) = unsubscribe_target(&txn, links, token).await?;
    let changed = membership::Entity::update_many()
        .col_expr(membership::Column::NudgesEnabled, false.into())
        .filter(membership::Column::Id.eq(member.id))
        .filter(membership::Column::NudgesEnabled.eq(true))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(Unsubscribe { cohort_name: c.name, already: changed == 0 })
}
