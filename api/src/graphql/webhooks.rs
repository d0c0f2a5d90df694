//! Webhooks in the API: `WebhookEndpoint`, its deliveries, the `webhookEndpoints` list and the
//! mutations that create an endpoint, rotate its secret and disable it. Who may see and manage
//! them is decided in `app::webhooks` by the one policy.

use afterclass_domain::webhook::DeliveryStatus as DomainStatus;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::events::{CohortEvent, CohortEventKind};
use super::{Result, UserError, connection, data, limits, mirror_enum, payload};
use crate::app::webhooks::{self as app, WithSecret};
use crate::auth::Viewer;
use crate::config::WebhookSettings;
use crate::error::ApiError;
use crate::ids::{self, Kind};
use crate::store::entities::{webhook_delivery, webhook_endpoint};
use crate::store::{Store, from_micros};

mirror_enum!(DeliveryStatus = afterclass_domain::webhook::DeliveryStatus { Pending, Delivered, Retrying, Failed });

/// A receiver of the tenant's events.
#[derive(Clone)]
pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::WebhookEndpoint, self.0.id).into()
    }

    async fn url(&self) -> &str {
        &self.0.url
    }

    /// Empty means every kind.
    async fn kinds(&self) -> Vec<CohortEventKind> {
        crate::webhooks::kinds_of(&self.0).into_iter().map(Into::into).collect()
    }

    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    async fn created_at(&self) -> DateTime<Utc> {
        from_micros(self.0.created_at)
    }

    #[graphql(complexity = "limits::connection(first, limits::PAGE_STATEMENTS + 1, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<DeliveryStatus>,
    ) -> Result<WebhookDeliveryConnection> {
        let (page, events) = app::deliveries(
            data::<Store>(ctx)?,
            data::<Viewer>(ctx)?,
            self.0.id,
            status.map(Into::into),
            first,
            after.as_deref(),
        )
        .await?;
        let mut rows = Vec::with_capacity(page.rows.len());
        for row in page.rows {
            let event = events
                .iter()
                .find(|e| e.id == row.event_id)
                .cloned()
                .ok_or_else(|| ApiError::Internal("a delivery without its event".into()))?;
            rows.push((row.id, WebhookDelivery { row, event: CohortEvent(event) }));
        }
        let page = crate::app::reads::Page {
            rows,
            has_next: page.has_next,
            has_previous: page.has_previous,
            total: page.total,
        };
        Ok(WebhookDeliveryConnection { page, hidden: false })
    }
}

/// One event sent (or to be sent) to one endpoint.
#[derive(Clone)]
pub struct WebhookDelivery {
    row: webhook_delivery::Model,
    event: CohortEvent,
}

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ids::encode(Kind::WebhookDelivery, self.row.id).into()
    }

    /// The event delivered: its payload is the body sent.
    async fn event(&self) -> &CohortEvent {
        &self.event
    }

    async fn attempts(&self) -> i32 {
        self.row.attempts
    }

    async fn status(&self) -> Result<DeliveryStatus> {
        DomainStatus::parse(&self.row.status)
            .map(Into::into)
            .ok_or_else(|| ApiError::Internal(format!("a delivery of unknown status {}", self.row.status)))
    }

    async fn last_response_status(&self) -> Option<i32> {
        self.row.last_response_status
    }

    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.row.next_attempt_at.map(from_micros)
    }

    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.row.delivered_at.map(from_micros)
    }
}

connection!(WebhookDeliveryConnection, WebhookDeliveryEdge, WebhookDelivery);

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    pub url: String,
    pub kinds: Option<Vec<CohortEventKind>>,
}

#[derive(InputObject)]
pub struct WebhookEndpointRefInput {
    pub endpoint_id: ID,
}

#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    pub endpoint: Option<WebhookEndpoint>,
    /// The signing secret (whsec_...), shown only by create and rotate.
    pub signing_secret: Option<String>,
    pub user_errors: Vec<UserError>,
}

fn with_secret(result: Result<WithSecret, crate::error::Failure>) -> Result<WebhookEndpointPayload> {
    let (created, user_errors) = payload(result, |w| w)?;
    let (endpoint, signing_secret) = match created {
        Some(w) => (Some(WebhookEndpoint(w.endpoint)), Some(w.secret)),
        None => (None, None),
    };
    Ok(WebhookEndpointPayload { endpoint, signing_secret, user_errors })
}

/// `webhookEndpoints`.
pub async fn endpoints(ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
    let rows = app::endpoints(data::<Store>(ctx)?, data::<Viewer>(ctx)?).await?;
    Ok(rows.into_iter().map(WebhookEndpoint).collect())
}

/// `node(id:)` for an endpoint.
pub async fn load(ctx: &Context<'_>, id: i64) -> Result<WebhookEndpoint, ApiError> {
    Ok(WebhookEndpoint(app::endpoint(data::<Store>(ctx)?, data::<Viewer>(ctx)?, id).await?))
}

pub async fn create(ctx: &Context<'_>, input: CreateWebhookEndpointInput) -> Result<WebhookEndpointPayload> {
    let text = afterclass_domain::text::ensure_plain("url", &input.url);
    if let Err(err) = text {
        return Ok(WebhookEndpointPayload { endpoint: None, signing_secret: None, user_errors: vec![err.into()] });
    }
    let kinds: Vec<_> = input.kinds.unwrap_or_default().into_iter().map(Into::into).collect();
    let settings = data::<WebhookSettings>(ctx)?;
    let now = data::<super::RequestTime>(ctx)?.0;
    let viewer = data::<Viewer>(ctx)?;
    with_secret(app::create(data::<Store>(ctx)?, viewer, settings.allow_private, &input.url, &kinds, now).await)
}

pub async fn rotate(ctx: &Context<'_>, input: WebhookEndpointRefInput) -> Result<WebhookEndpointPayload> {
    let id = ids::decode(Kind::WebhookEndpoint, &input.endpoint_id)?;
    let now = data::<super::RequestTime>(ctx)?.0;
    with_secret(app::rotate(data::<Store>(ctx)?, data::<Viewer>(ctx)?, id, now).await)
}

pub async fn disable(ctx: &Context<'_>, input: WebhookEndpointRefInput) -> Result<WebhookEndpointPayload> {
    let id = ids::decode(Kind::WebhookEndpoint, &input.endpoint_id)?;
    let (endpoint, user_errors) =
        payload(app::disable(data::<Store>(ctx)?, data::<Viewer>(ctx)?, id).await, WebhookEndpoint)?;
    Ok(WebhookEndpointPayload { endpoint, signing_secret: None, user_errors })
}
