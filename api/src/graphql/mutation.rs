//! The mutation root: each mutation takes one `input`, runs one use case from `crate::app` and
//! answers with a payload carrying the changed object or the `userErrors` that explain why not.

use super::Result;
use afterclass_domain::checkin::CheckInDraft;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::types::{CheckIn, Cohort, Goal, Membership};
use super::{Date, GoalAggregation, Horizon, MemberRole, OutcomeReason, UserError, Visibility, data, limits, payload};
use crate::app::{self, App};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::ids::{self, Kind};
use crate::store::Store;

pub struct MutationRoot;

#[derive(InputObject)]
pub struct CourseInput {
    pub lms_course_id: String,
    pub title: String,
    pub ended_on: Option<Date>,
}

#[derive(InputObject)]
pub struct RosterEntryInput {
    pub external_id: String,
    pub display_name: String,
    pub email: Option<String>,
    /// MEMBER when left out.
    pub role: Option<MemberRole>,
}

#[derive(InputObject)]
pub struct CreateCohortInput {
    pub name: String,
    pub domain: String,
    pub purpose: String,
    pub scope: Option<String>,
    pub tags: Option<Vec<String>>,
    pub horizon: Horizon,
    /// BY_REQUEST when left out.
    pub visibility: Option<Visibility>,
    pub course: Option<CourseInput>,
    pub code_of_conduct: Option<String>,
    /// People invited from the course roster; they join by accepting the code of conduct.
    pub roster: Option<Vec<RosterEntryInput>>,
}

#[derive(InputObject)]
pub struct ProposeCohortInput {
    pub name: String,
    pub domain: String,
    pub purpose: String,
    pub scope: Option<String>,
    pub tags: Option<Vec<String>>,
    pub horizon: Horizon,
    pub course: Option<CourseInput>,
}

#[derive(InputObject)]
pub struct CohortRefInput {
    pub cohort_id: ID,
}

#[derive(InputObject)]
pub struct AddMembersInput {
    pub cohort_id: ID,
    pub members: Vec<RosterEntryInput>,
}

#[derive(InputObject)]
pub struct SyncRosterInput {
    pub cohort_id: ID,
    pub members: Vec<RosterEntryInput>,
    /// Mark members who are not in the list as REMOVED (never leaders). Default false.
    pub remove_missing: Option<bool>,
}

#[derive(SimpleObject)]
pub struct SyncRosterPayload {
    pub invited: Vec<Membership>,
    pub removed: Vec<Membership>,
    pub unchanged: i32,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct AcceptCodeOfConductInput {
    pub cohort_id: ID,
    pub version: i32,
}

#[derive(InputObject)]
pub struct SetCodeOfConductInput {
    pub cohort_id: ID,
    pub text: String,
}

#[derive(InputObject)]
pub struct ChangeMemberRoleInput {
    pub membership_id: ID,
    pub role: MemberRole,
}

#[derive(InputObject)]
pub struct AddGoalInput {
    pub cohort_id: ID,
    pub title: String,
    pub unit: String,
    pub target: f64,
    pub aggregation: GoalAggregation,
    pub start_value: Option<f64>,
    pub deadline: Option<Date>,
}

#[derive(InputObject)]
pub struct LogCheckInInput {
    pub cohort_id: ID,
    pub goal_id: Option<ID>,
    pub value: Option<f64>,
    pub note: Option<String>,
    pub confidence: Option<i32>,
    pub blockers: Option<String>,
    /// Defaults to now; never in the future, never before the cohort was created.
    pub occurred_at: Option<DateTime<Utc>>,
    /// A retried request with the same key returns the first check-in and records nothing new.
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct DisbandCohortInput {
    pub cohort_id: ID,
    pub reason: OutcomeReason,
    pub retrospective: Option<String>,
}

#[derive(InputObject)]
pub struct SetCriteriaInput {
    pub cohort_id: ID,
    pub criteria: Vec<super::lifecycle::CriterionInput>,
    /// Whether the sweeper may end the cohort on its own when the evaluation recommends it;
    /// unchanged when left out (off for a new cohort).
    pub auto_apply: Option<bool>,
}

#[derive(InputObject)]
pub struct ApplyEvaluationInput {
    pub cohort_id: ID,
    pub retrospective: Option<String>,
}

#[derive(InputObject)]
pub struct GraduateCohortInput {
    pub cohort_id: ID,
    pub formal_structure: String,
    pub retrospective: Option<String>,
}

#[derive(InputObject)]
pub struct WriteRetrospectiveInput {
    pub cohort_id: ID,
    pub retrospective: String,
}

#[derive(SimpleObject)]
pub struct CohortPayload {
    pub cohort: Option<Cohort>,
    pub user_errors: Vec<UserError>,
    /// On createCohort and proposeCohort: existing cohorts that look alike, so the caller can suggest joining one instead.
    pub similar_existing: Vec<super::discovery::CohortMatch>,
}

#[derive(SimpleObject)]
pub struct MembershipPayload {
    pub membership: Option<Membership>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct AddMembersPayload {
    pub memberships: Vec<Membership>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct GoalPayload {
    pub goal: Option<Goal>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct CheckInPayload {
    pub check_in: Option<CheckIn>,
    pub user_errors: Vec<UserError>,
}

fn app<'a>(ctx: &Context<'a>) -> Result<App<'a>, ApiError> {
    Ok(App { store: data::<Store>(ctx)?, viewer: data::<Viewer>(ctx)?, now: data::<super::RequestTime>(ctx)?.0 })
}

fn roster(entries: Option<Vec<RosterEntryInput>>) -> Vec<app::RosterEntry> {
    entries
        .unwrap_or_default()
        .into_iter()
        .map(|e| app::RosterEntry {
            external_id: e.external_id,
            display_name: e.display_name,
            email: e.email,
            role: e.role.map(Into::into),
        })
        .collect()
}

fn course(input: Option<CourseInput>) -> Option<app::CourseDraft> {
    input.map(|c| app::CourseDraft {
        lms_course_id: c.lms_course_id,
        title: c.title,
        ended_on: c.ended_on.map(|d| d.0),
    })
}

async fn cohort_payload(
    ctx: &Context<'_>,
    result: Result<crate::store::entities::cohort::Model, crate::error::Failure>,
) -> Result<CohortPayload> {
    let (model, user_errors) = payload(result, |m| m)?;
    let cohort = match model {
        Some(m) => Some(Cohort::known(ctx, m).await?),
        None => None,
    };
    Ok(CohortPayload { cohort, user_errors, similar_existing: Vec::new() })
}

/// A new cohort's payload, with the existing cohorts that look like it.
async fn created_payload(
    ctx: &Context<'_>,
    draft: super::discovery::SimilarCohortsInput,
    result: Result<crate::store::entities::cohort::Model, crate::error::Failure>,
) -> Result<CohortPayload> {
    let created = result.as_ref().ok().map(|c| c.id);
    let mut payload = cohort_payload(ctx, result).await?;
    if let Some(id) = created {
        payload.similar_existing = super::discovery::similar(ctx, &draft, Some(id)).await?;
    }
    Ok(payload)
}

fn similarity_draft(
    name: &str,
    domain: &str,
    purpose: &str,
    tags: &Option<Vec<String>>,
) -> super::discovery::SimilarCohortsInput {
    super::discovery::SimilarCohortsInput {
        name: Some(name.to_owned()),
        domain: Some(domain.to_owned()),
        purpose: Some(purpose.to_owned()),
        tags: tags.clone(),
        joinable_only: Some(true),
        limit: Some(3),
    }
}

fn join_payload(
    result: Result<crate::app::joining::Joined, crate::error::Failure>,
) -> Result<super::discovery::JoinRequestPayload> {
    let (joined, user_errors) = payload(result, |j| j)?;
    let (join_request, membership) = match joined {
        Some(j) => (Some(super::discovery::JoinRequest(j.request)), j.membership.map(Membership)),
        None => (None, None),
    };
    Ok(super::discovery::JoinRequestPayload { join_request, membership, user_errors })
}

fn membership_payload(
    result: Result<crate::store::entities::membership::Model, crate::error::Failure>,
) -> Result<MembershipPayload> {
    let (membership, user_errors) = payload(result, Membership)?;
    Ok(MembershipPayload { membership, user_errors })
}

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Instructor or integration: a cohort in FORMING; an instructor creator becomes its active LEADER.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn create_cohort(&self, ctx: &Context<'_>, input: CreateCohortInput) -> Result<CohortPayload> {
        let similar = similarity_draft(&input.name, &input.domain, &input.purpose, &input.tags);
        let draft = app::CohortDraft {
            name: input.name,
            domain: input.domain,
            purpose: input.purpose,
            scope: input.scope,
            tags: input.tags.unwrap_or_default(),
            horizon: input.horizon.into(),
            visibility: input.visibility.map(Into::into),
            course: course(input.course),
            code_of_conduct: input.code_of_conduct,
            roster: roster(input.roster),
        };
        let result = app(ctx)?.create_cohort(draft).await;
        created_payload(ctx, similar, result).await
    }

    /// Trainee: a cohort in PROPOSED with the proposer as LEADER, awaiting an instructor's approval.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn propose_cohort(&self, ctx: &Context<'_>, input: ProposeCohortInput) -> Result<CohortPayload> {
        let similar = similarity_draft(&input.name, &input.domain, &input.purpose, &input.tags);
        let draft = app::CohortDraft {
            name: input.name,
            domain: input.domain,
            purpose: input.purpose,
            scope: input.scope,
            tags: input.tags.unwrap_or_default(),
            horizon: input.horizon.into(),
            visibility: None,
            course: course(input.course),
            code_of_conduct: None,
            roster: Vec::new(),
        };
        let result = app(ctx)?.propose_cohort(draft).await;
        created_payload(ctx, similar, result).await
    }

    /// Instructor: PROPOSED to FORMING.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn approve_cohort(&self, ctx: &Context<'_>, input: CohortRefInput) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.approve_cohort(id).await;
        cohort_payload(ctx, result).await
    }

    /// Invite people; idempotent per externalId.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn add_members(&self, ctx: &Context<'_>, input: AddMembersInput) -> Result<AddMembersPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.add_members(id, roster(Some(input.members))).await;
        let (rows, user_errors) = payload(result, |rows| rows.into_iter().map(Membership).collect())?;
        Ok(AddMembersPayload { memberships: rows.unwrap_or_default(), user_errors })
    }

    /// Bring a cohort's roster in line with the LMS's; idempotent.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn sync_roster(&self, ctx: &Context<'_>, input: SyncRosterInput) -> Result<SyncRosterPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result =
            app(ctx)?.sync_roster(id, roster(Some(input.members)), input.remove_missing.unwrap_or(false)).await;
        let (synced, user_errors) = payload(result, |s| {
            let rows = |rows: Vec<_>| rows.into_iter().map(Membership).collect::<Vec<_>>();
            (rows(s.invited), rows(s.removed), i32::try_from(s.unchanged).unwrap_or(i32::MAX))
        })?;
        let (invited, removed, unchanged) = synced.unwrap_or_default();
        Ok(SyncRosterPayload { invited, removed, unchanged, user_errors })
    }

    /// Accepting the current version makes an INVITED member ACTIVE.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn accept_code_of_conduct(
        &self,
        ctx: &Context<'_>,
        input: AcceptCodeOfConductInput,
    ) -> Result<MembershipPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        membership_payload(app(ctx)?.accept_code_of_conduct(id, input.version).await)
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn set_code_of_conduct(&self, ctx: &Context<'_>, input: SetCodeOfConductInput) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.set_code_of_conduct(id, &input.text).await;
        cohort_payload(ctx, result).await
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn change_member_role(&self, ctx: &Context<'_>, input: ChangeMemberRoleInput) -> Result<MembershipPayload> {
        let id = ids::decode(Kind::Membership, &input.membership_id)?;
        membership_payload(app(ctx)?.change_member_role(id, input.role.into()).await)
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn leave_cohort(&self, ctx: &Context<'_>, input: CohortRefInput) -> Result<MembershipPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        membership_payload(app(ctx)?.leave_cohort(id).await)
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn add_goal(&self, ctx: &Context<'_>, input: AddGoalInput) -> Result<GoalPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let draft = app::GoalDraft {
            title: input.title,
            unit: input.unit,
            target: input.target,
            aggregation: input.aggregation.into(),
            start_value: input.start_value,
            deadline: input.deadline.map(|d| d.0),
        };
        let (goal, user_errors) = payload(app(ctx)?.add_goal(id, draft).await, Goal)?;
        Ok(GoalPayload { goal, user_errors })
    }

    /// FORMING to ACTIVE; needs an active leader, a purpose, a goal and a code of conduct.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn activate_cohort(&self, ctx: &Context<'_>, input: CohortRefInput) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.activate_cohort(id).await;
        cohort_payload(ctx, result).await
    }

    /// Trainee (or any active member): a check-in for themselves.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn log_check_in(&self, ctx: &Context<'_>, input: LogCheckInInput) -> Result<CheckInPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let goal_id = input.goal_id.as_deref().map(|g| ids::decode(Kind::Goal, g)).transpose()?;
        let draft = CheckInDraft {
            value: input.value,
            note: input.note,
            confidence: input.confidence,
            blockers: input.blockers,
            occurred_at: input.occurred_at,
            idempotency_key: input.idempotency_key,
        };
        let (check_in, user_errors) = payload(app(ctx)?.log_check_in(id, goal_id, draft).await, CheckIn)?;
        Ok(CheckInPayload { check_in, user_errors })
    }

    /// Leaders and instructors replace the cohort's criteria; each kind at most once per effect.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn set_criteria(&self, ctx: &Context<'_>, input: SetCriteriaInput) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let criteria = input.criteria.into_iter().map(Into::into).collect();
        let result = app(ctx)?.set_criteria(id, criteria, input.auto_apply).await;
        cohort_payload(ctx, result).await
    }

    /// Leaders: how the cohort nudges its members.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn set_nudge_policy(
        &self,
        ctx: &Context<'_>,
        input: super::nudges::SetNudgePolicyInput,
    ) -> Result<CohortPayload> {
        let result = super::nudges::set_policy(ctx, input).await?;
        cohort_payload(ctx, result).await
    }

    /// Any member, for themself.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn set_nudges_enabled(
        &self,
        ctx: &Context<'_>,
        input: super::nudges::SetNudgesEnabledInput,
    ) -> Result<MembershipPayload> {
        membership_payload(super::nudges::set_enabled(ctx, input).await?)
    }

    /// Apply the current evaluation: disband or graduate when it recommends so; a user error when it says CONTINUE.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn apply_evaluation(&self, ctx: &Context<'_>, input: ApplyEvaluationInput) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.apply_evaluation(id, input.retrospective.as_deref()).await;
        cohort_payload(ctx, result).await
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn graduate_cohort(&self, ctx: &Context<'_>, input: GraduateCohortInput) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.graduate_cohort(id, &input.formal_structure, input.retrospective.as_deref()).await;
        cohort_payload(ctx, result).await
    }

    /// Leaders may write or improve the retrospective of an ended cohort; the only write an ended cohort accepts.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn write_retrospective(&self, ctx: &Context<'_>, input: WriteRetrospectiveInput) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.write_retrospective(id, &input.retrospective).await;
        cohort_payload(ctx, result).await
    }

    /// OPEN cohorts admit at once (INVITED until the code of conduct is accepted); BY_REQUEST ones queue the request; INVITE_ONLY ones refuse.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn request_to_join(
        &self,
        ctx: &Context<'_>,
        input: super::discovery::RequestToJoinInput,
    ) -> Result<super::discovery::JoinRequestPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        join_payload(app(ctx)?.request_to_join(id, input.message.as_deref()).await)
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn decide_join_request(
        &self,
        ctx: &Context<'_>,
        input: super::discovery::DecideJoinRequestInput,
    ) -> Result<super::discovery::JoinRequestPayload> {
        let id = ids::decode(Kind::JoinRequest, &input.join_request_id)?;
        join_payload(app(ctx)?.decide_join_request(id, input.approve).await)
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn withdraw_join_request(
        &self,
        ctx: &Context<'_>,
        input: super::discovery::JoinRequestRefInput,
    ) -> Result<super::discovery::JoinRequestPayload> {
        let id = ids::decode(Kind::JoinRequest, &input.join_request_id)?;
        join_payload(app(ctx)?.withdraw_join_request(id).await)
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn decline_proposal(
        &self,
        ctx: &Context<'_>,
        input: super::discovery::DeclineProposalInput,
    ) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.decline_proposal(id, &input.reason).await;
        cohort_payload(ctx, result).await
    }

    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn disband_cohort(&self, ctx: &Context<'_>, input: DisbandCohortInput) -> Result<CohortPayload> {
        let id = ids::decode(Kind::Cohort, &input.cohort_id)?;
        let result = app(ctx)?.disband_cohort(id, input.reason.into(), input.retrospective.as_deref()).await;
        cohort_payload(ctx, result).await
    }

    /// Leaders set or change the rhythm, the place and the channel.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn set_meeting_plan(
        &self,
        ctx: &Context<'_>,
        input: super::meetings::SetMeetingPlanInput,
    ) -> Result<CohortPayload> {
        let (id, plan) = super::meetings::plan_change(input)?;
        let mut payload = cohort_payload(ctx, app(ctx)?.set_meeting_plan(id, plan).await).await?;
        payload.user_errors = super::meetings::nested_paths(payload.user_errors);
        Ok(payload)
    }

    /// Leaders add a one-off meeting.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn schedule_meeting(
        &self,
        ctx: &Context<'_>,
        input: super::meetings::ScheduleMeetingInput,
    ) -> Result<super::meetings::MeetingPayload> {
        super::meetings::schedule_meeting(ctx, input).await
    }

    /// Leaders cancel a meeting that has not ended; it stays listed as CANCELLED.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn cancel_meeting(
        &self,
        ctx: &Context<'_>,
        input: super::meetings::CancelMeetingInput,
    ) -> Result<super::meetings::MeetingPayload> {
        super::meetings::cancel_meeting(ctx, input).await
    }

    /// Active members answer for themselves; answering again replaces the answer.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn rsvp(&self, ctx: &Context<'_>, input: super::meetings::RsvpInput) -> Result<super::meetings::RsvpPayload> {
        super::meetings::rsvp(ctx, input).await
    }

    /// Leaders and facilitators mark attendance once the meeting has started; marks can be corrected.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn record_attendance(
        &self,
        ctx: &Context<'_>,
        input: super::meetings::RecordAttendanceInput,
    ) -> Result<super::meetings::MeetingPayload> {
        super::meetings::record_attendance(ctx, input).await
    }

    /// A member replaces their calendar feed's URL; the old one stops working at once.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn revoke_calendar_feed(
        &self,
        ctx: &Context<'_>,
        input: super::meetings::RevokeCalendarFeedInput,
    ) -> Result<MembershipPayload> {
        super::meetings::revoke_calendar_feed(ctx, input).await
    }

    /// Integration and instructors: register a webhook receiver for the tenant's events.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: super::webhooks::CreateWebhookEndpointInput,
    ) -> Result<super::webhooks::WebhookEndpointPayload> {
        super::webhooks::create(ctx, input).await
    }

    /// A new signing secret; the previous one keeps signing beside it for 24 hours.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: super::webhooks::WebhookEndpointRefInput,
    ) -> Result<super::webhooks::WebhookEndpointPayload> {
        super::webhooks::rotate(ctx, input).await
    }

    /// Stops deliveries to the endpoint.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn disable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: super::webhooks::WebhookEndpointRefInput,
    ) -> Result<super::webhooks::WebhookEndpointPayload> {
        super::webhooks::disable(ctx, input).await
    }

    /// Integration only: erase a person (right to erasure). Their name, email, external id, notes,
    /// blockers, messages and retrospective text are removed or replaced; numbers that cohorts'
    /// progress and history depend on stay, attached to an anonymous member, so no cohort's figures
    /// change. The person's tokens no longer find the old data.
    #[graphql(complexity = "limits::field(limits::MUTATION_STATEMENTS, child_complexity)")]
    async fn erase_person(
        &self,
        ctx: &Context<'_>,
        input: super::privacy::ErasePersonInput,
    ) -> Result<super::privacy::ErasePersonPayload> {
        super::privacy::erase(ctx, input).await
    }
}
