//! `GET /calendar/{token}.ics`: a member's private calendar feed (see `app::calendar` for what it
//! holds, `render::ical` for how it is written) for calendar apps, which cannot send a bearer
//! token. A token that names no feed gets 404.

use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::app::calendar::feed_data;
use crate::render::ical::render;
use crate::store;

/// `GET /calendar/{token}.ics`.
pub async fn feed(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let now = store::now();
    match feed_data(&state.store, &state.feeds, &file, now).await {
        Ok(Some(data)) => (
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "private, max-age=300"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            render(&data),
        )
            .into_response(),
        Ok(None) => plain(StatusCode::NOT_FOUND, "calendar not found"),
        Err(cause) => {
            tracing::error!(%cause, "serving a calendar feed");
            state.counters.internal_errors.fetch_add(1, Ordering::Relaxed);
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
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
