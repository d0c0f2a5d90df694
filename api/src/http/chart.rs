//! `GET /cohorts/{id}/progress.svg`: a cohort's progress chart (see `app::charts` for what it
//! shows, `render::svg` for how it is drawn) for embedding in an LMS page.
//!
//! Who may fetch it, either:
//! - a bearer token, exactly as for GraphQL: the viewer must see at least the cohort's public
//!   face; hidden and other tenants' cohorts are not found (404); or
//! - a signed short-lived link, `?exp=<unix seconds>&sig=<hex HMAC-SHA256>`, as
//!   `Cohort.progressChartUrl` hands out (see `links`).
//!
//! Refusals are short plain-text bodies: 401 without valid credentials (an expired, forged or
//! missing signature included), 404 for a cohort the bearer may not see.

use std::sync::atomic::Ordering;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::AppState;
use crate::app::charts;
use crate::auth;
use crate::error::ApiError;
use crate::render::svg::render;
use crate::store;
use crate::store::entities::cohort;

/// `exp` and `sig` from a query string (the first of each).
fn link_params(query: Option<&str>) -> (Option<&str>, Option<&str>) {
    let (mut exp, mut sig) = (None, None);
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("exp", value)) if exp.is_none() => exp = Some(value),
            Some(("sig", value)) if sig.is_none() => sig = Some(value),
            _ => {}
        }
    }
    (exp, sig)
}

// ---------------------------------------------------------------------------------------------
// The handler

/// What a request without any credentials is told.
const NO_CREDENTIALS: &str = "send a bearer token or use a signed link from progressChartUrl";
/// What a request with a bearer token that does not verify is told.
const BAD_TOKEN: &str = "invalid or expired bearer token";

/// The one way an error becomes the chart's answer: a short plain-text body that says nothing
/// about internals. `UNAUTHENTICATED` carries its own client text (no credentials, a bad token,
/// a bad link); an internal cause is logged and answered "internal error".
fn respond(state: &AppState, err: ApiError) -> Response {
    let (status, text) = match &err {
        ApiError::Unauthenticated(text) => (StatusCode::UNAUTHORIZED, text.as_str()),
        ApiError::BadUserInput(text) => (StatusCode::BAD_REQUEST, text.as_str()),
        ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "cohort not found"),
        // The viewer may know of the cohort but not read its members' progress.
        ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "only the cohort's active members see its progress"),
        ApiError::Unavailable(text) | ApiError::StorageFull(text) => (StatusCode::SERVICE_UNAVAILABLE, text.as_str()),
        ApiError::RateLimited { message, .. } => (StatusCode::TOO_MANY_REQUESTS, message.as_str()),
        ApiError::Internal(cause) => {
            tracing::error!(%cause, "drawing a progress chart");
            state.counters.internal_errors.fetch_add(1, Ordering::Relaxed);
            (StatusCode::INTERNAL_SERVER_ERROR, err.message())
        }
    };
    if status == StatusCode::UNAUTHORIZED {
        state.counters.unauthenticated.fetch_add(1, Ordering::Relaxed);
    }
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        format!("{text}\n"),
    )
        .into_response();
    if let Some(seconds) = err.retry_after() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// `GET /cohorts/{id}/progress.svg`, with a bearer token or a signed link.
pub async fn progress_svg(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let now = store::now();
    let chart = async {
        let cohort = authorize(&state, &id, query.as_deref(), &headers, now).await?;
        Ok::<_, ApiError>(render(&charts::chart_data(&state.store, &cohort, now).await?))
    };
    match chart.await {
        Ok(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "private, max-age=60"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                // Opened on its own, the SVG is a document: it may load and run nothing.
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
            ],
            svg,
        )
            .into_response(),
        Err(err) => respond(&state, err),
    }
}

/// The cohort the request may chart. A signed link (any `exp` or `sig` in the query) is judged
/// on its own; otherwise the request needs a bearer token.
async fn authorize(
    state: &AppState,
    id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<cohort::Model, ApiError> {
    match link_params(query) {
        (None, None) if headers.contains_key(header::AUTHORIZATION) => {
            let bad_token = || ApiError::Unauthenticated(BAD_TOKEN.into());
            let claims = super::authenticate(state, headers).await.map_err(|err| {
                tracing::info!(reason = err.message(), "unauthenticated chart request");
                bad_token()
            })?;
            // A viewer the claims cannot make is a bad token; one of no tenant sees no cohort.
            let viewer = auth::viewer(&state.store, &state.rate, &claims).await.map_err(|err| match err {
                ApiError::Internal(_)
                | ApiError::Unavailable(_)
                | ApiError::StorageFull(_)
                | ApiError::RateLimited { .. } => err,
                ApiError::NotFound(_) | ApiError::Forbidden(_) => ApiError::not_found("cohort"),
                ApiError::Unauthenticated(_) | ApiError::BadUserInput(_) => bad_token(),
            })?;
            charts::cohort_for_viewer(&state.store, &viewer, id).await
        }
        (None, None) => Err(ApiError::Unauthenticated(NO_CREDENTIALS.into())),
        (exp, sig) => charts::cohort_for_link(&state.store, &state.links, id, exp, sig, now).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_read_strictly() {
        assert_eq!(link_params(Some("sig=ab&exp=1&exp=2")), (Some("1"), Some("ab")));
        assert_eq!(link_params(None), (None, None));
    }
}
