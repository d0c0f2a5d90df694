//! `GET /calendar/{token}.ics`: a member's private calendar feed (see `app::calendar` for what it
//! holds, `render::ical` for how it is written) for calendar apps, which cannot send a bearer
//! token. A token that names no feed gets 404.

use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::app::calendar::feed_data;
use crate::error::ApiError;
use crate::render::ical::render;
use crate::store;

/// `GET /calendar/{token}.ics`.
pub async fn feed(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let now = store::now();
    match feed_data(&state.store, &state.feeds, &file, now).await {
        Ok(data) => (
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "private, max-age=300"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            render(&data),
        )
            .into_response(),
        Err(err) => respond(&state, err),
    }
}

/// The one way an error becomes the feed's answer: a token that names no feed is 404 and is told
/// nothing more; an internal cause is logged and answered "internal error".
fn respond(state: &AppState, err: ApiError) -> Response {
    match &err {
        ApiError::Internal(cause) => {
            tracing::error!(%cause, "serving a calendar feed");
            state.counters.internal_errors.fetch_add(1, Ordering::Relaxed);
            plain(StatusCode::INTERNAL_SERVER_ERROR, err.message())
        }
        ApiError::Unavailable(_) | ApiError::StorageFull(_) => plain(StatusCode::SERVICE_UNAVAILABLE, err.message()),
        ApiError::RateLimited { message, .. } => plain(StatusCode::TOO_MANY_REQUESTS, message),
        ApiError::NotFound(_) | ApiError::Forbidden(_) | ApiError::Unauthenticated(_) | ApiError::BadUserInput(_) => {
            plain(StatusCode::NOT_FOUND, "calendar not found")
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        format!("{text}\n"),
    )
        .into_response()
}
