//! The query root.

use afterclass_domain::access::Facet;
use afterclass_domain::text;
use async_graphql::{Context, ID, InputObject, Object};

use super::lifecycle::OutcomeConnection;
use super::types::*;
use super::{CohortStage, Horizon, Result, data, limits};
use crate::app::reads;
use crate::auth::Viewer as AuthViewer;
use crate::error::ApiError;
use crate::ids::{self, Kind};
use crate::store::Store;

pub struct QueryRoot;

#[derive(InputObject, Default)]
pub struct CohortFilter {
    pub stage: Option<Vec<CohortStage>>,
    pub lms_course_id: Option<String>,
    /// Only cohorts the viewer is a member of.
    pub mine: Option<bool>,
}

#[Object(name = "Query")]
impl QueryRoot {
    /// Any object by its global ID. Objects of other tenants, and cohorts the viewer may not
    /// know of, are NOT_FOUND.
    #[graphql(complexity = "limits::field(limits::NODE_STATEMENTS, child_complexity)")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        if let Some((cohort_id, starts_at)) = ids::meeting_key(&id) {
            return Ok(Some(Node::Meeting(super::meetings::load(ctx, cohort_id, starts_at).await?)));
        }
        let (kind, row_id) = ids::decode_any(&id)?;
        Ok(Some(load_node(ctx, kind, row_id).await?))
    }

    async fn viewer(&self) -> Viewer {
        Viewer
    }

    #[graphql(complexity = "limits::field(limits::LOOKUP_STATEMENTS, child_complexity)")]
    async fn cohort(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Cohort>> {
        let row_id = ids::decode(Kind::Cohort, &id)?;
        Ok(Some(visible_cohort(ctx, row_id).await?))
    }

    /// Cohorts the viewer may see, in the order they were created.
    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS + 1, child_complexity)")]
    async fn cohorts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<CohortFilter>,
    ) -> Result<CohortConnection> {
        let mut filter = filter.unwrap_or_default();
        // Checked as a course ID is when stored (trimmed, plain text), before anything is looked up.
        if let Some(course) = &filter.lms_course_id {
            let course = text::parse(text::COURSE_ID, course).map_err(|e| ApiError::BadUserInput(e.message))?;
            filter.lms_course_id = Some(course);
        }
        let viewer = data::<AuthViewer>(ctx)?;
        let query = reads::CohortQuery {
            stages: filter.stage.map(|stages| stages.into_iter().map(Into::into).collect()),
            lms_course_id: filter.lms_course_id,
            mine: filter.mine == Some(true),
        };
        let page = reads::cohorts_page(data::<Store>(ctx)?, viewer, query, first, after.as_deref()).await?;
        // Decide each cohort's access in one batch: every standing loads through one statement.
        let mut rows = Vec::with_capacity(page.rows.len());
        let futures = page.rows.iter().map(|m| cohort_access(ctx, m));
        let accesses = futures_join(futures).await?;
        for (model, access) in page.rows.iter().cloned().zip(accesses) {
            rows.push((model.id, Cohort { model, access }));
        }
        let page = reads::Page { rows, has_next: page.has_next, has_previous: page.has_previous, total: page.total };
        Ok(CohortConnection { page, hidden: false })
    }

    /// Rank existing cohorts of the tenant against a draft, so people can join one instead of founding another.
    #[graphql(complexity = "limits::list(input.limit, 10, limits::SIMILARITY_STATEMENTS, child_complexity)")]
    async fn similar_cohorts(
        &self,
        ctx: &Context<'_>,
        input: super::discovery::SimilarCohortsInput,
    ) -> Result<Vec<super::discovery::CohortMatch>> {
        super::discovery::similar(ctx, &input, None).await
    }

    /// Free-text search over name, domain, purpose and tags of the cohorts the viewer may see.
    #[graphql(complexity = "limits::connection(first, limits::SEARCH_STATEMENTS, child_complexity)")]
    async fn search_cohorts(
        &self,
        ctx: &Context<'_>,
        query: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CohortConnection> {
        super::discovery::search_cohorts(ctx, &query, first, after.as_deref()).await
    }

    /// Proposals awaiting an instructor's decision.
    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS, child_complexity)")]
    async fn proposals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CohortConnection> {
        super::discovery::proposals(ctx, first, after.as_deref()).await
    }

    /// The tenant's event log, oldest first after the cursor: a feed for integrations that poll.
    #[graphql(complexity = "limits::connection(first, limits::EVENT_PAGE_STATEMENTS, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        cohort_id: Option<ID>,
        kinds: Option<Vec<super::events::CohortEventKind>>,
    ) -> Result<super::events::CohortEventConnection> {
        super::events::events(ctx, first, after.as_deref(), cohort_id.as_ref(), kinds).await
    }

    /// The tenant's webhook receivers: for instructors and the integration account.
    #[graphql(complexity = "limits::field(limits::PAGE_STATEMENTS, child_complexity)")]
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<super::webhooks::WebhookEndpoint>> {
        super::webhooks::endpoints(ctx).await
    }

    /// Integration only: everything the tenant holds about one person (right of access). Null when the tenant has no such person.
    #[graphql(complexity = "limits::field(limits::PERSON_EXPORT_STATEMENTS, child_complexity)")]
    async fn person_export(
        &self,
        ctx: &Context<'_>,
        external_id: String,
    ) -> Result<Option<super::privacy::PersonExport>> {
        super::privacy::export(ctx, &external_id).await
    }

    /// Outcomes of ended cohorts in the viewer's tenant, newest first: the tenant's library of use cases.
    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS + 1, child_complexity)")]
    async fn outcomes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        horizon: Option<Horizon>,
    ) -> Result<OutcomeConnection> {
        let viewer = data::<AuthViewer>(ctx)?;
        let horizon = horizon.map(Into::into);
        let (page, models) =
            reads::outcomes_page(data::<Store>(ctx)?, viewer, horizon, first, after.as_deref()).await?;
        let mut rows = Vec::with_capacity(page.rows.len());
        for row in &page.rows {
            let Some(model) = models.iter().find(|m| m.id == row.cohort_id) else { continue };
            let Some(cohort) = Cohort::visible(ctx, model.clone()).await? else { continue };
            let outcome = super::lifecycle::Outcome::new(row, model.ended_at);
            rows.push((row.id, super::lifecycle::CohortOutcomeEntry { cohort, outcome }));
        }
        let page = reads::Page { rows, has_next: page.has_next, has_previous: page.has_previous, total: page.total };
        Ok(OutcomeConnection { page, hidden: false })
    }
}

/// Runs futures together so that their loads are batched.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Result<Vec<T>, ApiError>
where
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut out = Vec::new();
    for result in async_graphql::futures_util::future::join_all(futures).await {
        out.push(result?);
    }
    Ok(out)
}

/// A cohort the viewer may see, or NOT_FOUND.
pub async fn visible_cohort(ctx: &Context<'_>, id: i64) -> Result<Cohort, ApiError> {
    let viewer = data::<AuthViewer>(ctx)?;
    let store = data::<Store>(ctx)?;
    let Some(person_id) = viewer.person_id() else {
        let model =
            reads::cohort_by_id(store, viewer.tenant_id, id).await?.ok_or_else(|| ApiError::not_found("cohort"))?;
        return Cohort::visible(ctx, model).await?.ok_or_else(|| ApiError::not_found("cohort"));
    };
    // The cohort and the viewer's standing in it in one statement, with its goals when the query
    // asks for them: they go to the request's loader, where `Cohort.goals` finds them once the
    // policy lets it (an unseen cohort's goals are read and dropped).
    let (model, mine) = if ctx.look_ahead().field("goals").exists() {
        let (model, mine, goals) = reads::cohort_with_standing_and_goals(store, viewer.tenant_id, id, person_id)
            .await?
            .ok_or_else(|| ApiError::not_found("cohort"))?;
        loader(ctx)?.feed_one(super::loaders::GoalsOf(model.id), goals).await;
        (model, mine)
    } else {
        reads::cohort_with_standing(store, viewer.tenant_id, id, person_id)
            .await?
            .ok_or_else(|| ApiError::not_found("cohort"))?
    };
    Cohort::visible_with(ctx, model, mine).await?.ok_or_else(|| ApiError::not_found("cohort"))
}

async fn load_node(ctx: &Context<'_>, kind: Kind, id: i64) -> Result<Node, ApiError> {
    let viewer = data::<AuthViewer>(ctx)?;
    let store = data::<Store>(ctx)?;
    let tenant = viewer.tenant_id;
    let missing = || ApiError::not_found(kind.name());
    Ok(match kind {
        Kind::Cohort => Node::Cohort(visible_cohort(ctx, id).await?),
        Kind::Person => {
            let row = reads::person_by_id(store, tenant, id).await?.ok_or_else(missing)?;
            let own = viewer.person_id() == Some(row.id);
            let shares = match viewer.person_id() {
                Some(me) if !own => reads::shares_a_cohort(store, tenant, me, row.id).await?,
                _ => false,
            };
            if !afterclass_domain::access::may_see_person(viewer.role, own, shares) {
                return Err(ApiError::forbidden("trainees see other people through the cohorts they share"));
            }
            Node::Person(Person(row))
        }
        Kind::Membership => {
            let row = reads::membership_by_id(store, tenant, id).await?.ok_or_else(missing)?;
            let own = viewer.person_id() == Some(row.person_id);
            access_to(ctx, row.cohort_id).await?.ensure_member_data(own)?;
            Node::Membership(Membership(row))
        }
        Kind::Goal => {
            let row = reads::goal_by_id(store, tenant, id).await?.ok_or_else(missing)?;
            access_to(ctx, row.cohort_id).await?.ensure(Facet::Setup)?;
            Node::Goal(Goal(row))
        }
        Kind::JoinRequest => Node::JoinRequest(super::discovery::load_join_request(ctx, id).await?),
        Kind::CohortEvent => Node::CohortEvent(super::events::load(ctx, id).await?),
        Kind::WebhookEndpoint => Node::WebhookEndpoint(super::webhooks::load(ctx, id).await?),
        Kind::Nudge => Node::Nudge(super::nudges::load(ctx, id).await?),
        // A delivery is read through its endpoint; it is not a node of its own.
        Kind::WebhookDelivery => return Err(missing()),
        // A meeting's ID names a cohort and a start, not one row: `node` reads it above.
        Kind::Meeting => return Err(missing()),
        Kind::CheckIn => {
            let row = reads::check_in_by_id(store, tenant, id).await?.ok_or_else(missing)?;
            let author = reads::membership_by_id(store, tenant, row.membership_id).await?;
            let own = author.is_some_and(|m| viewer.person_id() == Some(m.person_id));
            access_to(ctx, row.cohort_id).await?.ensure_member_data(own)?;
            Node::CheckIn(CheckIn(row))
        }
    })
}
