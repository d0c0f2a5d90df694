//! The nudges part of the schema (`nudges.graphql`): `Nudge`, `NudgePolicy`, the cohort's
//! `nudgePolicy` and `nudges`, `Membership.nudgesEnabled`, `node(Nudge)` and the bodies of
//! `setNudgePolicy` and `setNudgesEnabled`.

use afterclass_domain::access::Facet;
use afterclass_domain::nudge::{self as dn, PolicyChange};
use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::loaders::{Loaders, MembershipKey};
use super::types::{Cohort, Membership, with_ids};
use super::{connection, data};
use crate::app::{App, nudges};
use crate::auth::Viewer;
use crate::error::{ApiError, Failure};
use crate::ids::{self, Kind};
use crate::store::entities::{cohort, membership, nudge, nudge_policy};
use crate::store::{Store, from_micros};

super::mirror_enum!(NudgeKind = dn::NudgeKind { CheckInDue, MeetingSoon, LeaderDigest });

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NudgeStatus {
    Pending,
    Sent,
    Skipped,
    Failed,
}

impl NudgeStatus {
    fn parse(s: &str) -> NudgeStatus {
        match s {
            "SENT" => NudgeStatus::Sent,
            "SKIPPED" => NudgeStatus::Skipped,
            "FAILED" => NudgeStatus::Failed,
            _ => NudgeStatus::Pending,
        }
    }
}

fn loader<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<Loaders, HashMapCache>, ApiError> {
    data::<DataLoader<Loaders, HashMapCache>>(ctx)
}

/// A nudge the engine found due, and how its delivery went.
#[derive(Clone)]
pub struct Nudge(pub nudge::Model);

#[Object]
impl Nudge {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Nudge, self.0.id).into()
    }
    async fn kind(&self) -> NudgeKind {
        dn::NudgeKind::parse(&self.0.kind).unwrap_or(dn::NudgeKind::CheckInDue).into()
    }
    async fn membership(&self, ctx: &Context<'_>) -> super::Result<Membership> {
        let row = loader(ctx)?.load_one(MembershipKey(self.0.membership_id)).await?;
        Ok(Membership(row.ok_or_else(|| ApiError::Internal("a nudge without its membership".into()))?))
    }
    async fn due_at(&self) -> DateTime<Utc> {
        from_micros(self.0.due_at)
    }
    async fn status(&self) -> NudgeStatus {
        NudgeStatus::parse(&self.0.status)
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at.map(from_micros)
    }
    /// Short, plain-language subject and body, as delivered.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
}

connection!(NudgeConnection, NudgeEdge, Nudge);

/// How a cohort nudges its members: the defaults from its horizon and meeting plan until a
/// leader changes them.
#[derive(SimpleObject, Clone)]
pub struct NudgePolicy {
    /// Days without a check-in after which a member is nudged; null turns check-in nudges off.
    pub check_in_every_days: Option<i32>,
    /// Hours before a meeting at which members are reminded; null turns meeting reminders off.
    pub meeting_reminder_hours: Option<i32>,
    pub leader_digest: bool,
    /// Unanswered check-in nudges in a row after which a member is no longer nudged and counts as gone quiet.
    pub max_unanswered: i32,
    /// The weekday of the leaders' digest, sent at 08:00 in the cohort's time zone (ISO: 1 = Monday … 7 = Sunday).
    pub digest_weekday: i32,
}

impl From<dn::Policy> for NudgePolicy {
    fn from(p: dn::Policy) -> Self {
        let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        NudgePolicy {
            check_in_every_days: p.check_in_every_days.map(int),
            meeting_reminder_hours: p.meeting_reminder_hours.map(int),
            leader_digest: p.leader_digest,
            max_unanswered: int(p.max_unanswered),
            digest_weekday: int(p.digest_weekday.number_from_monday()),
        }
    }
}

#[derive(InputObject)]
pub struct SetNudgePolicyInput {
    pub cohort_id: ID,
    /// Left out: unchanged; null: check-in nudges off.
    pub check_in_every_days: MaybeUndefined<i32>,
    /// Left out: unchanged; null: meeting reminders off.
    pub meeting_reminder_hours: MaybeUndefined<i32>,
    pub leader_digest: Option<bool>,
    pub max_unanswered: Option<i32>,
    /// ISO weekday of the leaders' digest: 1 = Monday … 7 = Sunday.
    pub digest_weekday: Option<i32>,
}

#[derive(InputObject)]
pub struct SetNudgesEnabledInput {
    pub cohort_id: ID,
    pub enabled: bool,
}

/// A cohort's stored nudge policy (none until a leader changes the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyOf(pub i64);

impl Loader<PolicyOf> for Loaders {
    type Value = nudge_policy::Model;
    type Error = ApiError;

    async fn load(&self, keys: &[PolicyOf]) -> Result<HashMap<PolicyOf, nudge_policy::Model>, ApiError> {
        let rows = nudges::policy_rows(&self.store, self.tenant_id, keys.iter().map(|k| k.0).collect()).await?;
        Ok(rows.into_iter().map(|r| (PolicyOf(r.cohort_id), r)).collect())
    }
}

/// `Cohort.nudgePolicy`, for whoever may read the cohort's setup: its stored row, or the
/// defaults from its meeting plan, both through the request's loaders.
pub async fn policy_of(ctx: &Context<'_>, c: &Cohort) -> Result<NudgePolicy, ApiError> {
    c.ensure(Facet::Setup)?;
    let row = loader(ctx)?.load_one(PolicyOf(c.model.id)).await?;
    let plan = match row {
        Some(_) => None,
        None => loader(ctx)?.load_one(super::meetings::PlanOf(c.model.id)).await?,
    };
    Ok(crate::store::nudges::policy_of(&c.model, row.as_ref(), plan.as_ref()).into())
}

/// `Cohort.nudges`, for its leaders and facilitators (and instructors and the integration).
pub async fn nudges_of(
    ctx: &Context<'_>,
    c: &Cohort,
    first: Option<i32>,
    after: Option<&str>,
    kind: Option<NudgeKind>,
) -> Result<NudgeConnection, ApiError> {
    c.ensure(Facet::Nudges)?;
    let page = nudges::nudges_page(data::<Store>(ctx)?, &c.model, kind.map(Into::into), first, after).await?;
    Ok(NudgeConnection { page: with_ids(page, Nudge), hidden: false })
}

/// A nudge the viewer may read: the nudged member's own, or any of a cohort whose nudges they
/// may read.
pub async fn load(ctx: &Context<'_>, id: i64) -> Result<Nudge, ApiError> {
    let viewer = data::<Viewer>(ctx)?;
    let store = data::<Store>(ctx)?;
    let row = nudges::nudge_by_id(store, viewer.tenant_id, id).await?.ok_or_else(|| ApiError::not_found("Nudge"))?;
    let member = loader(ctx)?.load_one(MembershipKey(row.membership_id)).await?;
    if member.is_some_and(|m| viewer.person_id() == Some(m.person_id)) {
        return Ok(Nudge(row));
    }
    let c = super::query::visible_cohort(ctx, row.cohort_id).await?;
    c.ensure(Facet::Nudges)?;
    Ok(Nudge(row))
}

fn app<'a>(ctx: &Context<'a>) -> Result<App<'a>, ApiError> {
    Ok(App { store: data::<Store>(ctx)?, viewer: data::<Viewer>(ctx)?, now: data::<super::RequestTime>(ctx)?.0 })
}

fn maybe(v: MaybeUndefined<i32>) -> Option<Option<i32>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(n) => Some(Some(n)),
    }
}

/// `setNudgePolicy`.
pub async fn set_policy(
    ctx: &Context<'_>,
    input: SetNudgePolicyInput,
) -> Result<Result<cohort::Model, Failure>, ApiError> {
    let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
    let change = PolicyChange {
        check_in_every_days: maybe(input.check_in_every_days),
        meeting_reminder_hours: maybe(input.meeting_reminder_hours),
        leader_digest: input.leader_digest,
        max_unanswered: input.max_unanswered,
        digest_weekday: input.digest_weekday,
    };
    Ok(app(ctx)?.set_nudge_policy(id, change).await)
}

/// `setNudgesEnabled`.
pub async fn set_enabled(
    ctx: &Context<'_>,
    input: SetNudgesEnabledInput,
) -> Result<Result<membership::Model, Failure>, ApiError> {
    let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
    Ok(app(ctx)?.set_nudges_enabled(id, input.enabled).await)
}
