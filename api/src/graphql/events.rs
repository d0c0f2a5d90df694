//! The event log in the API: `CohortEvent`, the `events` feed (and, with subscriptions, the same
//! rows live). What a viewer sees of the log is decided row by row in `app::feed`.

use afterclass_domain::access::{Facet, may_see_person};
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::loaders::{CohortKey, PersonKey};
use super::types::{Cohort, Person, access_to, loader};
use super::{PageInfo, Result, data, mirror_enum};
use crate::app::feed::{self, EventFilter, EventPage};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::ids::{self, Kind};
use crate::store::entities::event;
use crate::store::events::Position;
use crate::store::{Store, from_micros};

mirror_enum!(
    CohortEventKind = afterclass_domain::event::EventKind {
        CohortCreated,
        CohortProposed,
        CohortActivated,
        MemberJoined,
        MemberLeft,
        MemberRoleChanged,
        ConductChanged,
        GoalAdded,
        GoalAchieved,
        CheckInLogged,
        MeetingScheduled,
        MeetingCancelled,
        AttendanceRecorded,
        JoinRequested,
        HealthChanged,
        RecommendationChanged,
        CohortDisbanded,
        CohortGraduated,
        NudgeDue
    }
);

/// One entry of the log, which the viewer may see.
#[derive(Clone)]
pub struct CohortEvent(pub event::Model);

#[Object]
impl CohortEvent {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::CohortEvent, self.0.id).into()
    }

    async fn kind(&self) -> Result<CohortEventKind> {
        afterclass_domain::event::EventKind::parse(&self.0.kind)
            .map(Into::into)
            .ok_or_else(|| ApiError::Internal(format!("an event of unknown kind {}", self.0.kind)))
    }

    /// The cohort it happened to: at least its public face, since the event shows it exists.
    async fn cohort(&self, ctx: &Context<'_>) -> Result<Cohort> {
        let model = loader(ctx)?
            .load_one(CohortKey(self.0.cohort_id))
            .await?
            .ok_or_else(|| ApiError::Internal("an event without a cohort".into()))?;
        Cohort::known(ctx, model).await
    }

    /// Who caused it; null for the engine itself (e.g. a health change found by the sweeper).
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        let Some(actor) = self.0.actor_person_id else { return Ok(None) };
        let viewer = data::<Viewer>(ctx)?;
        let own = viewer.person_id() == Some(actor);
        let shares = access_to(ctx, self.0.cohort_id).await?.allows(Facet::Activity);
        if !may_see_person(viewer.role, own, shares) {
            return Ok(None);
        }
        Ok(loader(ctx)?.load_one(PersonKey(actor)).await?.map(Person))
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        from_micros(self.0.occurred_at)
    }

    /// The event's data as JSON text, the same document a webhook delivers.
    async fn payload(&self) -> &str {
        &self.0.payload
    }
}

#[derive(async_graphql::SimpleObject, Clone)]
pub struct CohortEventEdge {
    pub cursor: String,
    pub node: CohortEvent,
}

/// A page of the log. Its end cursor is how far the page looked, which may lie past its last
/// event when events the viewer may not see followed it, so paging on never reads them again.
pub struct CohortEventConnection {
    page: EventPage,
    filter: EventFilter,
    has_previous: bool,
}

#[Object]
impl CohortEventConnection {
    async fn edges(&self) -> Vec<CohortEventEdge> {
        self.page
            .rows
            .iter()
            .map(|row| CohortEventEdge { cursor: Position::of(row).cursor(), node: CohortEvent(row.clone()) })
            .collect()
    }

    async fn nodes(&self) -> Vec<CohortEvent> {
        self.page.rows.iter().cloned().map(CohortEvent).collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.has_next,
            has_previous_page: self.has_previous,
            start_cursor: self.page.rows.first().map(|r| Position::of(r).cursor()),
            end_cursor: self.page.looked_to.map(Position::cursor),
        }
    }

    /// Counted only when asked for: the events of the filter the viewer may see.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let n = feed::count_visible(data::<Store>(ctx)?, data::<Viewer>(ctx)?, &self.filter).await?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// `events(first, after, cohortId, kinds)`.
pub async fn events(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<&str>,
    cohort_id: Option<&ID>,
    kinds: Option<Vec<CohortEventKind>>,
) -> Result<CohortEventConnection> {
    let size = crate::store::queries::page_size(first)?;
    let after = after.map(Position::from_cursor).transpose()?;
    let cohort_id = cohort_id.map(|id| ids::decode(Kind::Cohort, id)).transpose()?;
    let filter = EventFilter { cohort_id, kinds: kinds.unwrap_or_default().into_iter().map(Into::into).collect() };
    let page = feed::visible_events(data::<Store>(ctx)?, data::<Viewer>(ctx)?, &filter, after, size).await?;
    Ok(CohortEventConnection { page, filter, has_previous: after.is_some() })
}

/// `node(id:)` for an event: the viewer sees it or it is not found.
pub async fn load(ctx: &Context<'_>, id: i64) -> Result<CohortEvent, ApiError> {
    let row = feed::visible_event(data::<Store>(ctx)?, data::<Viewer>(ctx)?, id).await?;
    row.map(CohortEvent).ok_or_else(|| ApiError::not_found("event"))
}
