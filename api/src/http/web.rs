//! Placeholder for the web app (replaced by the web app's own module).

use axum::Router;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}

pub fn shell(session: Option<&serde_json::Value>) -> Response {
    let json = session.map(|s| s.to_string().replace('<', "\\u003c")).unwrap_or_default();
    Html(format!("<!doctype html><script type=\"application/json\" id=\"afterclass-session\">{json}</script>"))
        .into_response()
}
