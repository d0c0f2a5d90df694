//! The web app instructors and trainees use inside an LMS frame: `GET /app` (the app shell,
//! see [`shell`]) and its static files at `GET /app/assets/{file}`. Hand-written HTML, CSS and
//! JavaScript in `api/assets/app/`, compiled into the binary; no CDN, no build step.
//!
//! The page talks to `POST /graphql` (and, when the launch says so, `GET /lti/roster`) with the
//! bearer token of its session. The LTI launch embeds the session with [`shell`]`(Some(..))`;
//! a plain `GET /app` reads it from the URL fragment instead (see the top of `app.js`).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

/// The page's template: [`SESSION_SLOT`] is replaced by the embedded session, or by nothing.
const INDEX_HTML: &str = include_str!("../../assets/app/index.html");
const APP_JS: &str = include_str!("../../assets/app/app.js");
const APP_CSS: &str = include_str!("../../assets/app/app.css");

/// Where the session's `<script type="application/json">` goes in the template.
const SESSION_SLOT: &str = "<!--afterclass-session-->";

/// The page's Content-Security-Policy: only the app's own files, no inline script or style, and
/// framable by any LMS.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors *";

/// `GET /app` and `GET /app/assets/{file}`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/app", get(|| async { shell(None) })).route("/app/assets/{file}", get(asset))
}

/// The app's static files by name, with their content types.
fn asset_named(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "app.js" => Some(("text/javascript; charset=utf-8", APP_JS)),
        "app.css" => Some(("text/css; charset=utf-8", APP_CSS)),
        _ => None,
    }
}

async fn asset(Path(file): Path<String>) -> Response {
    match asset_named(&file) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
            "no such file\n",
        )
            .into_response(),
    }
}

/// JSON that may sit inside a `<script>` element: `<`, `>` and `&` are written as `\u003c`,
/// `\u003e` and `\u0026` (the same string to a JSON parser), so no value can close the element
/// or open a comment.
fn script_safe_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

/// The app's HTML page; with a session (the launch's), the page embeds it as
/// `<script type="application/json" id="afterclass-session">`, which `app.js` reads.
pub fn shell(session: Option<&serde_json::Value>) -> Response {
    let embedded = session.map_or_else(String::new, |s| {
        format!(r#"<script type="application/json" id="afterclass-session">{}</script>"#, script_safe_json(s))
    });
    let page = INDEX_HTML.replacen(SESSION_SLOT, &embedded, 1);
    let mut response = (StatusCode::OK, page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cannot_close_its_script() {
        let session = serde_json::json!({ "token": "t", "person": { "displayName": "</script><script>alert(1)</script> & <!--" } });
        let text = script_safe_json(&session);
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, session);
    }

    #[test]
    fn the_template_has_its_session_slot_and_no_inline_code() {
        assert_eq!(INDEX_HTML.matches(SESSION_SLOT).count(), 1);
        assert!(!INDEX_HTML.contains("<style") && !INDEX_HTML.contains(" style="));
        assert_eq!(INDEX_HTML.matches("<script").count(), 1, "only the external app.js");
        assert!(INDEX_HTML.contains(r#"<script src="/app/assets/app.js" defer></script>"#));
    }
}
