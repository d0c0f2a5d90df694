//! `/nudges/unsubscribe/{token}`: the one-click unsubscribe link of every nudge email (RFC 8058),
//! with no bearer token (see `links` for the token, `app::nudges::unsubscribe` for what it does).
//!
//! `POST` (what a mail client sends for `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, and
//! what the page's button sends) turns the member's nudges off and says so; using it again
//! changes nothing and says they were already off. `GET` only shows a page with that button: mail
//! scanners follow links, so a GET never unsubscribes. A malformed or forged token gets a 404
//! page and writes nothing.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::AppState;
use crate::app::nudges::{Unsubscribe, unsubscribe, unsubscribe_preview};
use crate::error::ApiError;
use crate::render::svg::escape;

pub fn routes() -> Router<AppState> {
    Router::new().route("/nudges/unsubscribe/{token}", get(page).post(one_click))
}

/// `GET`: what the link would do, and a button that does it.
async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match unsubscribe_preview(&state.store, &state.unsubscribes, &token).await {
        Ok(Unsubscribe { cohort_name, already: true }) => html(
            StatusCode::OK,
            "Already unsubscribed",
            &format!("<p>You are already unsubscribed from the nudges of {}.</p>", escape(&cohort_name)),
        ),
        Ok(Unsubscribe { cohort_name, already: false }) => html(
            StatusCode::OK,
            "Unsubscribe from nudges",
            &format!(
                "<p>Stop receiving nudges (check-in reminders, meeting reminders and digests) from {}?</p>\
                 <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                 <button type=\"submit\">Unsubscribe</button></form>",
                escape(&cohort_name)
            ),
        ),
        Err(err) => refusal(&state, err),
    }
}

/// `POST`: the one-click unsubscribe.
async fn one_click(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match unsubscribe(&state.store, &state.unsubscribes, &token).await {
        Ok(Unsubscribe { cohort_name, already: true }) => html(
            StatusCode::OK,
            "Already unsubscribed",
            &format!(
                "<p>You were already unsubscribed from the nudges of {}; nothing changed.</p>",
                escape(&cohort_name)
            ),
        ),
        Ok(Unsubscribe { cohort_name, already: false }) => html(
            StatusCode::OK,
            "Unsubscribed",
            &format!(
                "<p>You are unsubscribed: {} will send you no more nudges. You can turn them on again in \
                 the cohort's settings.</p>",
                escape(&cohort_name)
            ),
        ),
        Err(err) => refusal(&state, err),
    }
}

/// The one way an error becomes this route's answer: a token that names nothing is 404 and is
/// told nothing more; an internal cause is logged and answered "internal error".
fn refusal(state: &AppState, err: ApiError) -> Response {
    match &err {
        ApiError::Internal(cause) => {
            tracing::error!(%cause, "unsubscribing");
            state.counters.internal_errors.fetch_add(1, Ordering::Relaxed);
            html(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "<p>internal error</p>")
        }
        ApiError::Unavailable(_) | ApiError::StorageFull(_) => html(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again shortly",
            "<p>The service cannot answer just now; nothing was changed.</p>",
        ),
        ApiError::RateLimited { .. } => {
            html(StatusCode::TOO_MANY_REQUESTS, "Too many requests", "<p>Try again later.</p>")
        }
        ApiError::NotFound(_) | ApiError::Forbidden(_) | ApiError::Unauthenticated(_) | ApiError::BadUserInput(_) => {
            html(StatusCode::NOT_FOUND, "Link not found", "<p>This unsubscribe link is not valid.</p>")
        }
    }
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    super::pages::page(status, title, body, "'self'")
}
