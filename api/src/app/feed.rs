//! Reading the event log as one viewer may see it: the `events` feed and live subscriptions both
//! page through it here, and every row is let through by the one policy
//! ([`Access::sees_event`](super::access::Access::sees_event)).

use std::collections::HashMap;

use afterclass_domain::event::EventKind;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::access::Access;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::store::Store;
use crate::store::entities::{event, membership};
use crate::store::events::{Position, settled_after};

/// Rows read per look at the log.
const BATCH: u64 = 100;
/// How many batches one page may look through for rows the viewer may see, so a page costs a
/// bounded amount of work whatever the log holds; a page cut short says there may be more.
const MAX_BATCHES: usize = 10;

/// Which events: of one cohort, of some kinds.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub cohort_id: Option<i64>,
    /// Empty means every kind.
    pub kinds: Vec<EventKind>,
}

/// A page of the log as the viewer sees it.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub rows: Vec<event::Model>,
    /// How far the page looked: the position to continue after, which may lie past the last
    /// row shown when rows the viewer may not see followed it.
    pub looked_to: Option<Position>,
    /// Whether the log may hold more the viewer sees after `looked_to`.
    pub has_next: bool,
}

/// Up to `first` settled events the viewer may see, in log order, after position `after`.
pub async fn visible_events(
    store: &Store,
    viewer: &Viewer,
    filter: &EventFilter,
    after: Option<Position>,
    first: u64,
) -> Result<EventPage, ApiError> {
    let mut rows = Vec::new();
    let mut cursor = after;
    for _ in 0..MAX_BATCHES {
        let batch = settled_after(select(viewer, filter), store.backend(), cursor.unwrap_or_default())
            .limit(BATCH)
            .all(store.reader())
            .await?;
        let ended = (batch.len() as u64) < BATCH;
        let seen = seen_by(store, viewer, &batch).await?;
        for (row, visible) in batch.into_iter().zip(seen) {
            if !visible {
                cursor = Some(Position::of(&row));
                continue;
            }
            if rows.len() as u64 == first {
                let looked_to = rows.last().map(Position::of).or(after);
                return Ok(EventPage { rows, looked_to, has_next: true });
            }
            cursor = Some(Position::of(&row));
            rows.push(row);
        }
        if ended {
            return Ok(EventPage { rows, looked_to: cursor, has_next: false });
        }
    }
    Ok(EventPage { rows, looked_to: cursor, has_next: true })
}

/// How many events of the filter the viewer may see: one grouped statement, and the policy
/// asked once per cohort, kind and whether the event is about the viewer.
pub async fn count_visible(store: &Store, viewer: &Viewer, filter: &EventFilter) -> Result<u64, ApiError> {
    let groups: Vec<(i64, String, Option<i64>, i64)> = select(viewer, filter)
        .select_only()
        .column(event::Column::CohortId)
        .column(event::Column::Kind)
        .column(event::Column::PersonId)
        .column_as(event::Column::Id.count(), "n")
        .group_by(event::Column::CohortId)
        .group_by(event::Column::Kind)
        .group_by(event::Column::PersonId)
        .into_tuple()
        .all(store.reader())
        .await?;
    let accesses = accesses(store, viewer, groups.iter().map(|g| g.0).collect()).await?;
    let mut total = 0u64;
    for (cohort_id, kind, person, n) in groups {
        if sees(&accesses, viewer, cohort_id, &kind, person) {
            total += u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(total)
}

/// One event by its id, if the viewer may see it.
pub async fn visible_event(store: &Store, viewer: &Viewer, id: i64) -> Result<Option<event::Model>, ApiError> {
    let row =
        event::Entity::find_by_id(id).filter(event::Column::TenantId.eq(viewer.tenant_id)).one(store.reader()).await?;
    let Some(row) = row else { return Ok(None) };
    let seen = seen_by(store, viewer, std::slice::from_ref(&row)).await?;
    Ok(seen.first().copied().unwrap_or(false).then_some(row))
}

fn select(viewer: &Viewer, filter: &EventFilter) -> sea_orm::Select<event::Entity> {
    let mut select = event::Entity::find().filter(event::Column::TenantId.eq(viewer.tenant_id));
    if let Some(cohort) = filter.cohort_id {
        select = select.filter(event::Column::CohortId.eq(cohort));
    }
    if !filter.kinds.is_empty() {
        select = select.filter(event::Column::Kind.is_in(filter.kinds.iter().map(|k| k.as_str())));
    }
    select
}

/// Whether the viewer sees each of `rows`: two statements (their cohorts, the viewer's
/// memberships in them), whatever the number of rows.
async fn seen_by(store: &Store, viewer: &Viewer, rows: &[event::Model]) -> Result<Vec<bool>, ApiError> {
    let accesses = accesses(store, viewer, rows.iter().map(|r| r.cohort_id).collect()).await?;
    Ok(rows.iter().map(|row| sees(&accesses, viewer, row.cohort_id, &row.kind, row.person_id)).collect())
}

/// Whether the viewer sees an event of `kind` in the cohort, about `person`: the one decision
/// every reader of the log makes per row or group of rows.
fn sees(accesses: &HashMap<i64, Access>, viewer: &Viewer, cohort_id: i64, kind: &str, person: Option<i64>) -> bool {
    let own = person.is_some() && person == viewer.person_id();
    match (accesses.get(&cohort_id), EventKind::parse(kind)) {
        (Some(access), Some(kind)) => access.sees_event(kind, own),
        _ => false,
    }
}

/// The viewer's access to each of the cohorts.
async fn accesses(store: &Store, viewer: &Viewer, mut ids: Vec<i64>) -> Result<HashMap<i64, Access>, ApiError> {
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let cohorts = super::reads::cohorts(store, viewer.tenant_id, ids.clone()).await?;
    let mine: Vec<membership::Model> = match viewer.person_id() {
        Some(person) => super::reads::memberships_of_person(store, viewer.tenant_id, person, ids).await?,
        None => Vec::new(),
    };
    Ok(cohorts
        .iter()
        .map(|c| {
            let m = mine.iter().find(|m| m.cohort_id == c.id);
            (c.id, Access::of(viewer.role, c, m))
        })
        .collect())
}
