//! The use cases and reads of webhook endpoints: listing and reading them, their deliveries,
//! creating one, rotating its secret and disabling it. Every path asks the one policy first
//! ([`access::ensure_manages_webhooks`]); another tenant's endpoint is simply not found. Delivery
//! itself is the worker's (`crate::webhooks`).

use afterclass_domain::DomainError;
use afterclass_domain::event::EventKind;
use afterclass_domain::webhook::DeliveryStatus;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::access::ensure_manages_webhooks;
use crate::auth::Viewer;
use crate::error::{ApiError, Failure};
use crate::store::entities::{event, webhook_delivery as delivery, webhook_endpoint as endpoint};
use crate::store::queries::{self, Page};
use crate::store::{Store, to_micros};
use crate::webhooks::{ROTATION_GRACE, address, signing};

/// The most endpoints a tenant may register.
pub const MAX_ENDPOINTS: u64 = 50;

/// An endpoint and its signing secret, as create and rotate answer (the only time it is shown).
#[derive(Debug, Clone)]
pub struct WithSecret {
    pub endpoint: endpoint::Model,
    pub secret: String,
}

/// The tenant's endpoints, oldest first.
pub async fn endpoints(store: &Store, viewer: &Viewer) -> Result<Vec<endpoint::Model>, ApiError> {
    ensure_manages_webhooks(viewer.role)?;
    let mut rows = endpoint::Entity::find()
        .filter(endpoint::Column::TenantId.eq(viewer.tenant_id))
        .limit(MAX_ENDPOINTS)
        .all(store.reader())
        .await?;
    rows.sort_by_key(|e| e.id);
    Ok(rows)
}

/// One endpoint of the tenant.
pub async fn endpoint(store: &Store, viewer: &Viewer, id: i64) -> Result<endpoint::Model, ApiError> {
    ensure_manages_webhooks(viewer.role)?;
    endpoint::Entity::find_by_id(id)
        .filter(endpoint::Column::TenantId.eq(viewer.tenant_id))
        .one(store.reader())
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

/// A page of an endpoint's deliveries, oldest first, with their events.
pub async fn deliveries(
    store: &Store,
    viewer: &Viewer,
    endpoint_id: i64,
    status: Option<DeliveryStatus>,
    first: Option<i32>,
    after: Option<&str>,
) -> Result<(Page<delivery::Model>, Vec<event::Model>), ApiError> {
    ensure_manages_webhooks(viewer.role)?;
    let mut select = delivery::Entity::find()
        .filter(delivery::Column::TenantId.eq(viewer.tenant_id))
        .filter(delivery::Column::EndpointId.eq(endpoint_id));
    if let Some(status) = status {
        select = select.filter(delivery::Column::Status.eq(status.as_str()));
    }
    let page = queries::page(store.reader(), select, delivery::Column::Id, first, after).await?;
    let events = if page.rows.is_empty() {
        Vec::new()
    } else {
        event::Entity::find()
            .filter(event::Column::TenantId.eq(viewer.tenant_id))
            .filter(event::Column::Id.is_in(page.rows.iter().map(|d| d.event_id)))
            .all(store.reader())
            .await?
    };
    Ok((page, events))
}

/// Registers a receiver for the tenant's events of `kinds` (empty: every kind) from now on: it
/// starts at the log's head.
pub async fn create(
    store: &Store,
    viewer: &Viewer,
    allow_private: bool,
    url: &str,
    kinds: &[EventKind],
    now: DateTime<Utc>,
) -> Result<WithSecret, Failure> {
    ensure_manages_webhooks(viewer.role)?;
    let url = address::check_url(url, allow_private).map_err(|why| DomainError::invalid("url", why))?;
    let existing = endpoint::Entity::find()
        .select_only()
        .column(endpoint::Column::Id)
        .filter(endpoint::Column::TenantId.eq(viewer.tenant_id))
        .limit(MAX_ENDPOINTS)
        .into_tuple::<i64>()
        .all(store.reader())
        .await
        .map_err(ApiError::from)?;
    if existing.len() as u64 >= MAX_ENDPOINTS {
        return Err(
            DomainError::invalid("url", format!("a tenant may register at most {MAX_ENDPOINTS} endpoints")).into()
        );
    }
    let mut kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let secret = signing::new_secret().map_err(ApiError::Internal)?;
    // It receives the events settled from now on.
    let head = crate::store::events::settled_head(store.reader()).await.map_err(ApiError::from)?;
    let model = endpoint::ActiveModel {
        tenant_id: Set(viewer.tenant_id),
        url: Set(url.to_string()),
        kinds: Set(kinds.join(",")),
        enabled: Set(true),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        last_event_tx: Set(head.tx),
        last_event_id: Set(head.id),
        created_at: Set(to_micros(now)),
        ..Default::default()
    }
    .insert(store.writer())
    .await
    .map_err(ApiError::from)?;
    Ok(WithSecret { endpoint: model, secret })
}

/// A new secret for the endpoint; the one it replaces keeps signing beside it for
/// [`ROTATION_GRACE`].
pub async fn rotate(store: &Store, viewer: &Viewer, id: i64, now: DateTime<Utc>) -> Result<WithSecret, Failure> {
    let current = endpoint(store, viewer, id).await?;
    let secret = signing::new_secret().map_err(ApiError::Internal)?;
    let mut model: endpoint::ActiveModel = current.clone().into();
    model.previous_secret = Set(Some(current.secret));
    model.previous_secret_until = Set(Some(to_micros(now + ROTATION_GRACE)));
    model.secret = Set(secret.clone());
    let endpoint = model.update(store.writer()).await.map_err(ApiError::from)?;
    Ok(WithSecret { endpoint, secret })
}

/// Stops deliveries to the endpoint: none are fanned out or attempted while it is disabled.
pub async fn disable(store: &Store, viewer: &Viewer, id: i64) -> Result<endpoint::Model, Failure> {
    let current = endpoint(store, viewer, id).await?;
    if !current.enabled {
        return Ok(current);
    }
    let mut model: endpoint::ActiveModel = current.into();
    model.enabled = Set(false);
    Ok(model.update(store.writer()).await.map_err(ApiError::from)?)
}
