//! The service's own small HTML pages outside the web app (a refused or relayed LTI launch,
//! deep linking, unsubscribing): one document shape, styled by the web app's stylesheet, and one
//! set of security headers — nothing but same-origin resources, framable by the LMS.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::render::svg::escape;

/// A page titled `title` whose `<main>` is `main` (already HTML); its forms may post to
/// `form_action` (a CSP source list, e.g. `'self'` or `'none'`).
pub(super) fn page(status: StatusCode, title: &str, main: &str, form_action: &str) -> Response {
    let csp = format!(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; base-uri 'none'; \
         form-action {form_action}; frame-ancestors *"
    );
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — Afterclass</title><link rel=\"stylesheet\" href=\"/app/assets/app.css\"></head>\
         <body><main class=\"lti-page\"><h1>{title}</h1>{main}</main></body></html>\n",
        title = escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
        body,
    )
        .into_response()
}
