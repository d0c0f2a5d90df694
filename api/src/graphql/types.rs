//! The GraphQL object types. Each wraps a stored row; a `Cohort` also carries how much of it the
//! viewer may read, decided once when it is loaded.

use super::Result;
use afterclass_domain::access::Facet;
use afterclass_domain::cohort::{
    Horizon as DHorizon, MemberRole as DRole, MembershipStatus as DStatus, Visibility as DVisibility,
};
use afterclass_domain::goal::{self as dgoal, Aggregation, GoalStatus as DGoalStatus};
use afterclass_domain::stage::Stage;
use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::{Context, ID, Interface, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::limits;
use super::loaders::*;
use super::{
    CohortStage, Date, GoalAggregation, GoalStatus, Horizon, MemberRole, MembershipStatus, Pace, ViewerRole,
    Visibility, connection, data,
};
use crate::app::access::Access;
use crate::app::reads::{self, HasId, Page};
use crate::auth::Viewer as AuthViewer;
use crate::error::ApiError;
use crate::ids::{self, Kind};
use crate::store::entities::{check_in, cohort, goal, membership, person};
use crate::store::{Store, from_micros, to_micros};

connection!(CohortConnection, CohortEdge, Cohort);
connection!(MembershipConnection, MembershipEdge, Membership);
connection!(CheckInConnection, CheckInEdge, CheckIn);

pub fn with_ids<T, U>(page: Page<T>, wrap: impl Fn(T) -> U) -> Page<(i64, U)>
where
    T: HasId,
{
    page.map(|row| (row.row_id(), wrap(row)))
}

/// The request's loader; a live subscription's is shared with its stream (see `subscription`).
pub(crate) fn loader<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<Loaders, HashMapCache>, ApiError> {
    match ctx.data_opt::<DataLoader<Loaders, HashMapCache>>() {
        Some(loader) => Ok(loader),
        None => data::<std::sync::Arc<DataLoader<Loaders, HashMapCache>>>(ctx).map(|l| l.as_ref()),
    }
}

/// Something that can be fetched by its global ID.
#[derive(Interface, Clone)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Person(Person),
    Cohort(Cohort),
    Membership(Membership),
    Goal(Goal),
    CheckIn(CheckIn),
    JoinRequest(super::discovery::JoinRequest),
    Meeting(super::meetings::Meeting),
    CohortEvent(super::events::CohortEvent),
    WebhookEndpoint(super::webhooks::WebhookEndpoint),
    Nudge(super::nudges::Nudge),
}

/// The person or account behind the request.
pub struct Viewer;

#[Object]
impl Viewer {
    /// Null for the integration account, which acts for the tenant rather than as a person.
    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        Ok(data::<AuthViewer>(ctx)?.person.clone().map(Person))
    }

    async fn role(&self, ctx: &Context<'_>) -> Result<ViewerRole> {
        Ok(data::<AuthViewer>(ctx)?.role.into())
    }

    async fn tenant_id(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(data::<AuthViewer>(ctx)?.tenant_key.clone())
    }

    /// The viewer's own memberships, in every status.
    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS, child_complexity)")]
    async fn memberships(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<MembershipConnection> {
        let viewer = data::<AuthViewer>(ctx)?;
        let page = reads::own_memberships(data::<Store>(ctx)?, viewer, first, after.as_deref()).await?;
        Ok(MembershipConnection { page: with_ids(page, Membership), hidden: false })
    }
}

#[derive(Clone)]
pub struct Person(pub person::Model);

#[Object]
impl Person {
    async fn id(&self) -> ID {
        ids::encode(Kind::Person, self.0.id).into()
    }
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
}

#[derive(SimpleObject, Clone)]
pub struct Course {
    pub lms_course_id: String,
    pub title: String,
    pub ended_on: Option<Date>,
}

#[derive(SimpleObject, Clone)]
pub struct CodeOfConduct {
    pub version: i32,
    pub text: String,
    pub updated_at: DateTime<Utc>,
}

/// A cohort as this viewer may read it: every field asks `access` (the policy) before it answers
/// anything beyond the public face.
#[derive(Clone)]
pub struct Cohort {
    pub model: cohort::Model,
    pub access: Access,
}

impl Cohort {
    /// Wraps a cohort row for the viewer; `None` when they may not know of it.
    pub async fn visible(ctx: &Context<'_>, model: cohort::Model) -> Result<Option<Cohort>, ApiError> {
        let access = cohort_access(ctx, &model).await?;
        Ok(access.knows().then_some(Cohort { model, access }))
    }

    /// As [`Cohort::visible`], with the viewer's standing already read (`mine`, their own
    /// membership, if any), which the request's loader then holds for whatever else asks.
    pub async fn visible_with(
        ctx: &Context<'_>,
        model: cohort::Model,
        mine: Option<membership::Model>,
    ) -> Result<Option<Cohort>, ApiError> {
        let viewer = data::<AuthViewer>(ctx)?;
        let access = Access::of(viewer.role, &model, mine.as_ref());
        // What was read goes to the request's loader, so that fields below asking for the
        // cohort's access (progress, participation) read neither again.
        let loader = loader(ctx)?;
        if let Some(mine) = mine {
            loader.feed_one(ViewerStanding(model.id), mine).await;
        }
        loader.feed_one(CohortKey(model.id), model.clone()).await;
        Ok(access.knows().then_some(Cohort { model, access }))
    }

    /// Wraps a cohort the viewer just wrote to: its public face at least, even when the write
    /// (leaving an invite-only cohort, say) means they may no longer find it.
    pub async fn known(ctx: &Context<'_>, model: cohort::Model) -> Result<Cohort, ApiError> {
        let access = cohort_access(ctx, &model).await?;
        Ok(Cohort { model, access })
    }

    pub fn stage_value(&self) -> Stage {
        self.access.cohort.stage
    }

    async fn snapshot(
        &self,
        ctx: &Context<'_>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<afterclass_domain::lifecycle::Snapshot, ApiError> {
        let as_of = match as_of {
            Some(t) => t,
            None => data::<super::RequestTime>(ctx)?.0,
        };
        let key = SnapshotKey { cohort_id: self.model.id, as_of: to_micros(as_of) };
        let snapshot = loader(ctx)?.load_one(key).await?;
        snapshot.ok_or_else(|| ApiError::Internal("no snapshot for a visible cohort".into()))
    }

    /// Refuses a part of the cohort the viewer may not read.
    pub fn ensure(&self, facet: Facet) -> Result<(), ApiError> {
        self.access.ensure(facet)
    }
}

/// How much of `model` the request's viewer may read: the policy, asked with their standing in
/// it (one batched statement for all the cohorts of a level).
pub async fn cohort_access(ctx: &Context<'_>, model: &cohort::Model) -> Result<Access, ApiError> {
    let viewer = data::<AuthViewer>(ctx)?;
    let mine = match viewer.person_id() {
        Some(_) => loader(ctx)?.load_one(ViewerStanding(model.id)).await?,
        None => None,
    };
    Ok(Access::of(viewer.role, model, mine.as_ref()))
}

/// The viewer's access to a cohort known by its id only (a goal's, a membership's, a
/// check-in's), through the request's loaders.
/// The cohort and the viewer's standing in it load together (in the same batches as their
/// siblings'), not one after the other.
pub async fn access_to(ctx: &Context<'_>, cohort_id: i64) -> Result<Access, ApiError> {
    let viewer = data::<AuthViewer>(ctx)?;
    let loader = loader(ctx)?;
    let standing = async {
        match viewer.person_id() {
            Some(_) => loader.load_one(ViewerStanding(cohort_id)).await,
            None => Ok(None),
        }
    };
    let (model, mine) =
        async_graphql::futures_util::future::join(loader.load_one(CohortKey(cohort_id)), standing).await;
    let model = model?.ok_or_else(|| ApiError::not_found("cohort"))?;
    Ok(Access::of(viewer.role, &model, mine?.as_ref()))
}

#[Object]
impl Cohort {
    async fn id(&self) -> ID {
        ids::encode(Kind::Cohort, self.model.id).into()
    }
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// The shared interest, e.g. 'Rust for data engineers'.
    async fn domain(&self) -> &str {
        &self.model.domain
    }
    async fn purpose(&self) -> &str {
        &self.model.purpose
    }
    async fn scope(&self) -> Option<&str> {
        self.model.scope.as_deref()
    }
    async fn tags(&self) -> Vec<String> {
        serde_json::from_str(&self.model.tags).unwrap_or_default()
    }
    async fn course(&self) -> Option<Course> {
        let (id, title) = (self.model.course_lms_id.clone()?, self.model.course_title.clone()?);
        let ended_on =
            self.model.course_ended_on.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        Some(Course { lms_course_id: id, title, ended_on: ended_on.map(Date) })
    }
    async fn horizon(&self) -> Horizon {
        DHorizon::parse(&self.model.horizon).unwrap_or(DHorizon::ShortTerm).into()
    }
    async fn stage(&self) -> CohortStage {
        self.stage_value().into()
    }
    async fn visibility(&self) -> Visibility {
        DVisibility::parse(&self.model.visibility).unwrap_or(DVisibility::InviteOnly).into()
    }
    async fn code_of_conduct(&self, ctx: &Context<'_>) -> Result<Option<CodeOfConduct>> {
        self.ensure(Facet::Setup)?;
        let Some(version) = self.model.conduct_version else { return Ok(None) };
        let row = loader(ctx)?.load_one(ConductKey { cohort_id: self.model.id, version }).await?;
        Ok(row.map(|r| CodeOfConduct { version: r.version, text: r.text, updated_at: from_micros(r.created_at) }))
    }
    /// Members in every status, in the order they were added. Outsiders see only `totalCount`.
    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<MembershipConnection> {
        let hidden = !self.access.allows(Facet::Activity);
        // Outsiders get the count only, so no rows are read for them.
        let first = if hidden { Some(0) } else { first };
        let store = data::<Store>(ctx)?;
        let look = ctx.look_ahead();
        if !look.field("nodes").field("person").exists() {
            let page = reads::members(store, &self.model, first, after.as_deref()).await?;
            return Ok(MembershipConnection { page: with_ids(page, Membership), hidden });
        }
        // The members' people come in the same statement and go to the request's loader, so
        // `person` below costs no statement of its own.
        let with_total = look.field("totalCount").exists();
        let page = reads::members_with_people(store, &self.model, first, after.as_deref(), with_total).await?;
        let people: Vec<(PersonKey, person::Model)> =
            page.rows.iter().filter_map(|(_, p)| p.clone().map(|p| (PersonKey(p.id), p))).collect();
        loader(ctx)?.feed_many(people).await;
        Ok(MembershipConnection { page: with_ids(page.map(|(m, _)| m), Membership), hidden })
    }
    async fn goals(&self, ctx: &Context<'_>) -> Result<Vec<Goal>> {
        self.ensure(Facet::Setup)?;
        let rows = loader(ctx)?.load_one(GoalsOf(self.model.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Goal).collect())
    }
    /// Check-ins in the order they were recorded. Members only.
    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS, child_complexity)")]
    async fn check_ins(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CheckInConnection> {
        self.ensure(Facet::Activity)?;
        let page = reads::check_ins(data::<Store>(ctx)?, &self.model, first, after.as_deref()).await?;
        Ok(CheckInConnection { page: with_ids(page, CheckIn), hidden: false })
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_micros(self.model.created_at)
    }
    /// Health as of `asOf` (default: now). Members only.
    #[graphql(complexity = "limits::field(limits::SNAPSHOT_STATEMENTS, child_complexity)")]
    async fn health(&self, ctx: &Context<'_>, as_of: Option<DateTime<Utc>>) -> Result<super::lifecycle::CohortHealth> {
        self.ensure(Facet::Activity)?;
        let snapshot = self.snapshot(ctx, as_of).await?;
        Ok(super::lifecycle::CohortHealth::new(snapshot.as_of, afterclass_domain::lifecycle::health(&snapshot)))
    }
    /// The criteria the cohort is evaluated by: its own, or its horizon's defaults.
    async fn criteria(&self) -> Result<Vec<super::lifecycle::Criterion>> {
        self.ensure(Facet::Activity)?;
        Ok(crate::store::lifecycle::criteria_of(&self.model).into_iter().map(Into::into).collect())
    }
    /// Whether the sweeper ends the cohort on its own when the evaluation recommends it.
    async fn auto_apply(&self) -> Result<bool> {
        self.ensure(Facet::Activity)?;
        Ok(self.model.auto_apply)
    }
    /// The criteria checked as of `asOf` (default: now). Members only; never writes.
    #[graphql(complexity = "limits::field(limits::SNAPSHOT_STATEMENTS, child_complexity)")]
    async fn evaluation(
        &self,
        ctx: &Context<'_>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<super::lifecycle::Evaluation> {
        self.ensure(Facet::Activity)?;
        let snapshot = self.snapshot(ctx, as_of).await?;
        let criteria = crate::store::lifecycle::criteria_of(&self.model);
        Ok(afterclass_domain::lifecycle::evaluate(&criteria, &snapshot).into())
    }
    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS, child_complexity)")]
    async fn join_requests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<super::discovery::JoinRequestStatus>,
    ) -> Result<super::discovery::JoinRequestConnection> {
        super::discovery::join_requests(ctx, self, first, after.as_deref(), status).await
    }
    /// How the cohort nudges its members (its horizon's and meeting plan's defaults until a leader changes them).
    #[graphql(complexity = "limits::field(limits::LOOKUP_STATEMENTS, child_complexity)")]
    async fn nudge_policy(&self, ctx: &Context<'_>) -> Result<super::nudges::NudgePolicy> {
        super::nudges::policy_of(ctx, self).await
    }
    /// Leaders and facilitators: the cohort's nudges, newest first.
    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS, child_complexity)")]
    async fn nudges(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kind: Option<super::nudges::NudgeKind>,
    ) -> Result<super::nudges::NudgeConnection> {
        super::nudges::nudges_of(ctx, self, first, after.as_deref(), kind).await
    }
    /// Join requests from people outside the origin course, all time: the growth signal of open-ended cohorts.
    #[graphql(complexity = "limits::field(limits::LOOKUP_STATEMENTS, child_complexity)")]
    async fn outside_interest(&self, ctx: &Context<'_>) -> Result<i32> {
        self.ensure(Facet::Activity)?;
        super::discovery::outside_interest(ctx, &self.model).await
    }
    /// Why an instructor declined this proposal, when one did.
    async fn decline_reason(&self) -> Option<&str> {
        self.model.decline_reason.as_deref()
    }
    /// What was recorded when the cohort ended.
    async fn outcome(&self, ctx: &Context<'_>) -> Result<Option<super::lifecycle::Outcome>> {
        let row = loader(ctx)?.load_one(OutcomeOf(self.model.id)).await?;
        Ok(row.map(|r| super::lifecycle::Outcome::new(&r, self.model.ended_at)))
    }
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.model.activated_at.map(from_micros)
    }
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.model.ended_at.map(from_micros)
    }
    /// A link to the cohort's progress chart (an SVG burn-up chart of its goals) that works
    /// without a token for 15 minutes, e.g. as an image in an LMS page.
    async fn progress_chart_url(&self, ctx: &Context<'_>) -> Result<String> {
        self.ensure(Facet::Activity)?;
        let links = data::<std::sync::Arc<crate::links::Links>>(ctx)?;
        let now = data::<super::RequestTime>(ctx)?.0;
        links.chart_url(self.model.tenant_id, self.model.id, now)
    }
    /// The regular rhythm of meetings, if one is set.
    async fn cadence(&self, ctx: &Context<'_>) -> Result<Option<super::meetings::Cadence>> {
        super::meetings::cadence(ctx, self).await
    }
    /// Where meetings happen, if set.
    async fn place(&self, ctx: &Context<'_>) -> Result<Option<super::meetings::MeetingPlace>> {
        super::meetings::place(ctx, self).await
    }
    /// The channel for the time between meetings, if set.
    async fn channel(&self, ctx: &Context<'_>) -> Result<Option<super::meetings::CommunicationChannel>> {
        super::meetings::channel(ctx, self).await
    }
    /// Occurrences in [from, to), scheduled from the cadence plus one-off meetings; at most 200.
    /// A meeting is in the window when it overlaps it, so one in progress at `from` is included;
    /// a window holding more than 200 is refused (BAD_USER_INPUT).
    #[graphql(complexity = "limits::field(limits::WINDOW_STATEMENTS, child_complexity)")]
    async fn meetings(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<super::meetings::Meeting>> {
        super::meetings::meetings(ctx, self, from, to).await
    }
    /// The first meeting that is not cancelled and has not ended by `after` (default: now); one
    /// in progress counts. Looks about a year ahead.
    #[graphql(complexity = "limits::at_moment(after.is_some(), limits::NEXT_MEETING_STATEMENTS, child_complexity)")]
    async fn next_meeting(
        &self,
        ctx: &Context<'_>,
        after: Option<DateTime<Utc>>,
    ) -> Result<Option<super::meetings::Meeting>> {
        super::meetings::next_meeting(ctx, self, after).await
    }
}

#[derive(Clone)]
pub struct Membership(pub membership::Model);

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        ids::encode(Kind::Membership, self.0.id).into()
    }
    async fn person(&self, ctx: &Context<'_>) -> Result<Person> {
        let row = loader(ctx)?.load_one(PersonKey(self.0.person_id)).await?;
        Ok(Person(row.ok_or_else(|| ApiError::Internal("membership without a person".into()))?))
    }
    async fn cohort(&self, ctx: &Context<'_>) -> Result<Cohort> {
        let row = loader(ctx)?.load_one(CohortKey(self.0.cohort_id)).await?;
        let model = row.ok_or_else(|| ApiError::Internal("membership without a cohort".into()))?;
        // Someone who left an invite-only cohort no longer sees it, even through their old membership.
        Cohort::visible(ctx, model).await?.ok_or_else(|| ApiError::not_found("cohort"))
    }
    async fn role(&self) -> MemberRole {
        DRole::parse(&self.0.role).unwrap_or(DRole::Member).into()
    }
    async fn status(&self) -> MembershipStatus {
        DStatus::parse(&self.0.status).unwrap_or(DStatus::Invited).into()
    }
    /// The code-of-conduct version this member accepted; null if none yet.
    async fn conduct_accepted_version(&self) -> Option<i32> {
        self.0.conduct_accepted_version
    }
    async fn joined_at(&self) -> Option<DateTime<Utc>> {
        self.0.joined_at.map(from_micros)
    }
    /// Core, active, peripheral or inactive, over the window ending at `asOf` (default: now).
    #[graphql(complexity = "limits::at_moment(as_of.is_some(), limits::PARTICIPATION_STATEMENTS, child_complexity)")]
    async fn participation(
        &self,
        ctx: &Context<'_>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<super::lifecycle::ParticipationLevel> {
        let own = data::<AuthViewer>(ctx)?.person_id() == Some(self.0.person_id);
        access_to(ctx, self.0.cohort_id).await?.ensure_member_data(own)?;
        let as_of = match as_of {
            Some(t) => t,
            None => data::<super::RequestTime>(ctx)?.0,
        };
        let key = ParticipationKey {
            membership_id: self.0.id,
            cohort_id: self.0.cohort_id,
            role: DRole::parse(&self.0.role).unwrap_or(DRole::Member),
            status: DStatus::parse(&self.0.status).unwrap_or(DStatus::Left),
            as_of: to_micros(as_of),
        };
        let level = loader(ctx)?.load_one(key).await?;
        Ok(level.unwrap_or(afterclass_domain::lifecycle::ParticipationLevel::Inactive).into())
    }
    /// A private URL of an iCalendar feed of this cohort's meetings, for calendar apps that
    /// cannot send a bearer token. Only the member sees it; everyone else gets null.
    /// `revokeCalendarFeed` replaces it.
    async fn calendar_feed_url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        super::meetings::calendar_feed_url(ctx, &self.0).await
    }
    /// Whether this member receives nudges; each member decides for themself.
    async fn nudges_enabled(&self) -> bool {
        self.0.nudges_enabled
    }
}

#[derive(Clone)]
pub struct Goal(pub goal::Model);

use crate::store::progress::parse_date;

/// A goal's progress as of one moment.
#[derive(SimpleObject, Clone)]
pub struct GoalProgress {
    pub current: f64,
    /// The goal's target; for EACH_MEMBER, the number of active members.
    pub target: f64,
    /// current / target for SUM and AVERAGE, share of members at target for EACH_MEMBER; capped at 1.
    pub fraction: f64,
    /// Linear pace from activation to deadline, as a fraction; null without a deadline.
    pub expected_fraction: Option<f64>,
    pub pace: Pace,
    pub achieved_at: Option<DateTime<Utc>>,
}

#[Object]
impl Goal {
    async fn id(&self) -> ID {
        ids::encode(Kind::Goal, self.0.id).into()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    async fn target(&self) -> f64 {
        self.0.target
    }
    async fn start_value(&self) -> Option<f64> {
        self.0.start_value
    }
    async fn aggregation(&self) -> GoalAggregation {
        Aggregation::parse(&self.0.aggregation).unwrap_or(Aggregation::Sum).into()
    }
    async fn deadline(&self) -> Option<Date> {
        parse_date(self.0.deadline.as_deref()).map(Date)
    }
    async fn status(&self) -> GoalStatus {
        DGoalStatus::parse(&self.0.status).unwrap_or(DGoalStatus::Open).into()
    }
    /// Progress from the check-ins that occurred up to `asOf` (default: now).
    #[graphql(complexity = "limits::at_moment(as_of.is_some(), limits::PROGRESS_STATEMENTS, child_complexity)")]
    async fn progress(&self, ctx: &Context<'_>, as_of: Option<DateTime<Utc>>) -> Result<GoalProgress> {
        let as_of = match as_of {
            Some(t) => t,
            None => data::<super::RequestTime>(ctx)?.0,
        };
        let key = ProgressKey { goal_id: self.0.id, as_of: to_micros(as_of) };
        let loader = loader(ctx)?;
        // The policy's answer and the aggregates load side by side; nothing is answered unless
        // the policy allows it.
        let (access, observed) =
            async_graphql::futures_util::future::join(access_to(ctx, self.0.cohort_id), loader.load_one(key)).await;
        access?.ensure(Facet::Activity)?;
        let observed = observed?.unwrap_or_default();
        let cohort = loader.load_one(CohortKey(self.0.cohort_id)).await?;
        let activated_at = cohort.and_then(|c| c.activated_at).map(from_micros);
        let p = dgoal::progress(&crate::store::progress::goal_spec(&self.0), &observed, activated_at, as_of);
        let achieved_at = self.0.achieved_at.filter(|t| *t <= to_micros(as_of)).map(from_micros);
        Ok(GoalProgress {
            current: p.current,
            target: p.target,
            fraction: p.fraction,
            expected_fraction: p.expected_fraction,
            pace: p.pace.into(),
            achieved_at,
        })
    }
}

#[derive(Clone)]
pub struct CheckIn(pub check_in::Model);

#[Object]
impl CheckIn {
    async fn id(&self) -> ID {
        ids::encode(Kind::CheckIn, self.0.id).into()
    }
    async fn membership(&self, ctx: &Context<'_>) -> Result<Membership> {
        let row = loader(ctx)?.load_one(MembershipKey(self.0.membership_id)).await?;
        Ok(Membership(row.ok_or_else(|| ApiError::Internal("check-in without a membership".into()))?))
    }
    async fn goal(&self, ctx: &Context<'_>) -> Result<Option<Goal>> {
        let Some(goal_id) = self.0.goal_id else { return Ok(None) };
        Ok(loader(ctx)?.load_one(GoalKey(goal_id)).await?.map(Goal))
    }
    async fn value(&self) -> Option<f64> {
        self.0.value
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// 1 (not at all) to 5 (fully) confident of reaching the goal.
    async fn confidence(&self) -> Option<i32> {
        self.0.confidence.map(i32::from)
    }
    async fn blockers(&self) -> Option<&str> {
        self.0.blockers.as_deref()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        from_micros(self.0.occurred_at)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_micros(self.0.created_at)
    }
}
