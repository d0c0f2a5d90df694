//! GraphiQL at `GET /graphql`, served entirely from the binary: a small page of ours that loads
//! only same-origin files from `GET /graphql/assets/{file}` (GraphiQL, React and ReactDOM as
//! vendored in `api/assets/graphiql/`, see its README), so it works without internet and under a
//! Content-Security-Policy of `'self'`.
//!
//! Asset URLs carry a digest of every asset (`?v=…`), so that they may be cached for a year:
//! another build with other files names other URLs. The page itself is revalidated.

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// One file served at `/graphql/assets/{name}`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../assets/graphiql/", $name)),
        }
    };
}

/// Every file the page may load, and the licences of the vendored ones.
const ASSETS: &[Asset] = &[
    asset!("graphiql.min.js", JS),
    asset!("graphiql.min.css", CSS),
    asset!("react.production.min.js", JS),
    asset!("react-dom.production.min.js", JS),
    asset!("init.js", JS),
    asset!("page.css", CSS),
    asset!("LICENSE.graphiql", TEXT),
    asset!("LICENSE.react", TEXT),
    asset!("LICENSE.react-dom", TEXT),
];

/// The page's policy: nothing but this origin. GraphiQL's stylesheet embeds its fonts and a few
/// images as `data:` URLs; its websocket for subscriptions goes to this origin too.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The page, with the assets' digest in their URLs.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    for asset in ASSETS {
        digest.update(asset.name.as_bytes());
        digest.update(asset.body);
    }
    let version = hex::encode(&digest.finalize()[..6]);
    include_str!("../../assets/graphiql/index.html").replace("{version}", &version)
});

/// `GET /graphql`: GraphiQL. A query string carrying a `query` is refused: operations are
/// POSTed.
pub async fn page(RawQuery(query): RawQuery) -> Response {
    if query.is_some_and(|q| q.split('&').any(|p| p.starts_with("query="))) {
        let err =
            ApiError::BadUserInput("queries and mutations are sent with POST /graphql; GET serves GraphiQL".into());
        return super::error_response(StatusCode::METHOD_NOT_ALLOWED, &err, None);
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

/// `GET /graphql/assets/{file}`: one of [`ASSETS`], cached for a year; 404 for any other name.
pub async fn asset(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, TEXT)], "no such GraphiQL asset\n").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_served_assets() {
        let page = PAGE.as_str();
        assert!(!page.contains("{version}"), "{page}");
        assert!(!page.contains("<style") && !page.contains("style="), "inline styles break the CSP");
        let mut loaded = 0;
        for part in page.split(['"', '\'']).filter(|p| p.starts_with('/') || p.contains("://")) {
            let name = part.strip_prefix("/graphql/assets/").unwrap_or_else(|| panic!("{part} is not an asset"));
            let name = name.split('?').next().unwrap();
            assert!(ASSETS.iter().any(|a| a.name == name), "{name} is not served");
            loaded += 1;
        }
        assert_eq!(loaded, 6, "{page}");
        // Every script is a file: no inline script.
        assert_eq!(page.matches("<script").count(), page.matches("<script src=").count());
    }
}
