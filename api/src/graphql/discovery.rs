//! The discovery part of the schema: similar cohorts, search, proposals and join requests.

use super::Result;
use afterclass_domain::access::Facet;
use afterclass_domain::joining::JoinRequestStatus as DStatus;
use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::loaders::{Loaders, PersonKey};
use super::types::{Cohort, CohortConnection, Membership, Person, with_ids};
use super::{UserError, connection, data};
use crate::app::reads::{self, Page};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::ids::{self, Kind};
use crate::store::entities::{cohort, join_request};
use crate::store::{Store, from_micros};

super::mirror_enum!(JoinRequestStatus = DStatus { Pending, Approved, Declined, Withdrawn });

fn loader<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<Loaders, HashMapCache>, ApiError> {
    data::<DataLoader<Loaders, HashMapCache>>(ctx)
}

/// A request to join a cohort, kept whatever becomes of it.
#[derive(Clone)]
pub struct JoinRequest(pub join_request::Model);

#[Object]
impl JoinRequest {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::JoinRequest, self.0.id).into()
    }
    #[graphql(complexity = "super::limits::field(super::limits::LOOKUP_STATEMENTS, child_complexity)")]
    async fn cohort(&self, ctx: &Context<'_>) -> Result<Cohort> {
        super::query::visible_cohort(ctx, self.0.cohort_id).await
    }
    async fn person(&self, ctx: &Context<'_>) -> Result<Person> {
        let row = loader(ctx)?.load_one(PersonKey(self.0.person_id)).await?;
        Ok(Person(row.ok_or_else(|| ApiError::Internal("join request without a person".into()))?))
    }
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    async fn status(&self) -> JoinRequestStatus {
        DStatus::parse(&self.0.status).unwrap_or(DStatus::Pending).into()
    }
    /// True when the person was not on the origin course's roster: interest from the broader community.
    async fn from_outside_course(&self) -> bool {
        self.0.from_outside_course
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_micros(self.0.created_at)
    }
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at.map(from_micros)
    }
}

connection!(JoinRequestConnection, JoinRequestEdge, JoinRequest);

#[derive(SimpleObject, Clone)]
pub struct CohortMatch {
    pub cohort: Cohort,
    /// 0 to 1; higher is closer.
    pub score: f64,
    /// Why it matched, e.g. ['same domain', 'shares tags rust, async'].
    pub reasons: Vec<String>,
}

#[derive(InputObject, Default)]
pub struct SimilarCohortsInput {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub purpose: Option<String>,
    pub tags: Option<Vec<String>>,
    /// Only cohorts the viewer could join or see: FORMING or ACTIVE. Default true.
    pub joinable_only: Option<bool>,
    /// At most 50; default 10.
    pub limit: Option<i32>,
}

#[derive(InputObject)]
pub struct RequestToJoinInput {
    pub cohort_id: ID,
    pub message: Option<String>,
}

#[derive(InputObject)]
pub struct DecideJoinRequestInput {
    pub join_request_id: ID,
    pub approve: bool,
}

#[derive(InputObject)]
pub struct JoinRequestRefInput {
    pub join_request_id: ID,
}

#[derive(InputObject)]
pub struct DeclineProposalInput {
    pub cohort_id: ID,
    pub reason: String,
}

#[derive(SimpleObject)]
pub struct JoinRequestPayload {
    pub join_request: Option<JoinRequest>,
    /// Set when the request was approved (or the cohort is OPEN and admitted the person at once).
    pub membership: Option<Membership>,
    pub user_errors: Vec<UserError>,
}

/// Most cohorts the similarity ranking reads: the tenant's newest joinable ones.
const SIMILARITY_CANDIDATES: u64 = 2_000;

/// Cohorts of the viewer's tenant that look like `draft`, best first, that the viewer may see.
pub async fn similar(
    ctx: &Context<'_>,
    draft: &SimilarCohortsInput,
    exclude: Option<i64>,
) -> Result<Vec<CohortMatch>, ApiError> {
    let viewer = data::<Viewer>(ctx)?;
    let store = data::<Store>(ctx)?;
    let limit = match draft.limit.unwrap_or(10) {
        n @ 0..=50 => n as usize,
        n => return Err(ApiError::BadUserInput(format!("`limit` must be between 0 and 50 (got {n})"))),
    };
    let joinable = draft.joinable_only.unwrap_or(true);
    let rows = reads::similarity_candidates(store, viewer, joinable, exclude, SIMILARITY_CANDIDATES).await?;
    let tags: Vec<Vec<String>> = rows.iter().map(|c| serde_json::from_str(&c.tags).unwrap_or_default()).collect();
    let candidates: Vec<afterclass_domain::similarity::Candidate> = rows
        .iter()
        .zip(&tags)
        .map(|(c, tags)| afterclass_domain::similarity::Candidate {
            id: c.id,
            name: &c.name,
            domain: &c.domain,
            purpose: &c.purpose,
            tags,
        })
        .collect();
    let draft_tags = draft.tags.clone().unwrap_or_default();
    let d = afterclass_domain::similarity::Draft {
        name: draft.name.as_deref(),
        domain: draft.domain.as_deref(),
        purpose: draft.purpose.as_deref(),
        tags: &draft_tags,
    };
    let ranked = afterclass_domain::similarity::rank(&d, &candidates, limit);
    let mut out = Vec::with_capacity(ranked.len());
    for m in ranked {
        let Some(model) = rows.iter().find(|c| c.id == m.id) else { continue };
        if let Some(cohort) = Cohort::visible(ctx, model.clone()).await? {
            out.push(CohortMatch { cohort, score: m.score, reasons: m.reasons });
        }
    }
    Ok(out)
}

/// Free-text search over the cohorts the viewer may see, in relevance order.
pub async fn search_cohorts(
    ctx: &Context<'_>,
    query: &str,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<CohortConnection, ApiError> {
    let viewer = data::<Viewer>(ctx)?;
    let store = data::<Store>(ctx)?;
    let size = reads::page_size(first)?;
    // Search pages by position in relevance order: the cursor is the position of the last row.
    let offset = match after {
        Some(cursor) => u64::try_from(ids::decode_cursor(cursor)?).unwrap_or(0),
        None => 0,
    };
    let (found, total) = reads::search_cohorts(store, viewer, query, offset, size).await?;
    let has_next = offset + (found.len() as u64) < total;
    let mut rows = Vec::with_capacity(found.len());
    for (i, model) in found.into_iter().enumerate() {
        if let Some(cohort) = Cohort::visible(ctx, model).await? {
            rows.push((offset as i64 + i as i64 + 1, cohort));
        }
    }
    Ok(CohortConnection {
        page: Page { rows, has_next, has_previous: offset > 0, total: reads::Total::Known(total) },
        hidden: false,
    })
}

/// Proposals awaiting an instructor's decision, oldest first.
pub async fn proposals(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<CohortConnection, ApiError> {
    let viewer = data::<Viewer>(ctx)?;
    let store = data::<Store>(ctx)?;
    if !viewer.role.reads_everything() {
        return Err(ApiError::forbidden("instructors and the integration account list proposals"));
    }
    let page = reads::proposals_page(store, viewer.tenant_id, first, after).await?;
    let mut rows = Vec::with_capacity(page.rows.len());
    for model in page.rows {
        rows.push((model.id, Cohort::known(ctx, model).await?));
    }
    let page = Page { rows, has_next: page.has_next, has_previous: page.has_previous, total: page.total };
    Ok(CohortConnection { page, hidden: false })
}

/// A cohort's join requests, for its leaders, instructors and the integration account.
pub async fn join_requests(
    ctx: &Context<'_>,
    c: &Cohort,
    first: Option<i32>,
    after: Option<&str>,
    status: Option<JoinRequestStatus>,
) -> Result<JoinRequestConnection, ApiError> {
    c.ensure(Facet::JoinRequests)?;
    let status = status.map(DStatus::from);
    let page = reads::join_requests_page(data::<Store>(ctx)?, &c.model, status, first, after).await?;
    Ok(JoinRequestConnection { page: with_ids(page, JoinRequest), hidden: false })
}

/// Join requests from outside the origin course, all time.
pub async fn outside_interest(ctx: &Context<'_>, c: &cohort::Model) -> Result<i32, ApiError> {
    let store = data::<Store>(ctx)?;
    let now = data::<super::RequestTime>(ctx)?.0;
    let n = reads::outside_interest(store, c.id, crate::store::to_micros(now)).await?;
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

/// A join request the viewer may read: its requester, or whoever may read the cohort's requests.
pub async fn load_join_request(ctx: &Context<'_>, id: i64) -> Result<JoinRequest, ApiError> {
    let viewer = data::<Viewer>(ctx)?;
    let store = data::<Store>(ctx)?;
    let row = reads::join_request_by_id(store, viewer.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("JoinRequest"))?;
    if viewer.person_id() == Some(row.person_id) {
        return Ok(JoinRequest(row));
    }
    let c = super::query::visible_cohort(ctx, row.cohort_id).await?;
    c.ensure(Facet::JoinRequests)?;
    Ok(JoinRequest(row))
}
