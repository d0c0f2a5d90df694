//! The LTI 1.3 endpoints (see `lti` for the protocol):
//!
//! - `GET|POST /lti/login` — OIDC login initiation: a redirect to the platform's authorisation
//!   endpoint, and a cookie that binds the login's `state` to this browser.
//! - `POST /lti/launch` — the platform's `form_post` of the `id_token`: a resource-link launch
//!   opens the web app for the course with a session carried in the page; a deep-linking launch
//!   answers the platform with a resource link. A refused launch gets a plain page saying why,
//!   and writes nothing.
//! - `GET /lti/jwks` — the tool's public key.
//! - `GET /lti/roster` — the course roster from the platform (NRPS), for the web app's
//!   instructor, with the session token as bearer.
//!
//! The state cookie is `SameSite=None; Secure; Partitioned` on HTTPS and on loopback (so it
//! reaches the launch inside an LMS frame, in its partition, whatever the browser's third-party
//! cookie policy), `SameSite=Lax` on plain HTTP elsewhere. When a launch arrives without it
//! (a browser that withholds cookies on a cross-site POST), the page posts the same form again
//! from this site once (`relay`), which carries a same-site cookie.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::pages::page;
use super::{AppState, web};
use crate::auth::{self, Claims};
use crate::lti::launch::{LoginRequest, Message, STATE_LIFETIME};
use crate::lti::session::SessionClaims;
use crate::lti::{Lti, LtiError};
use crate::render::svg::escape;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/lti/login", get(login_get).post(login_post))
        .route("/lti/launch", axum::routing::post(launch))
        .route("/lti/jwks", get(jwks))
        .route("/lti/roster", get(roster))
        .route("/lti/relay.js", get(relay_script))
}

fn tool(state: &AppState) -> Result<&Lti, LtiError> {
    state.lti.as_deref().ok_or_else(|| {
        LtiError::BadRequest(
            "this Afterclass has no LMS platform registered (its administrator sets AFTERCLASS_LTI_PLATFORMS)".into(),
        )
    })
}

/// The tool's own base URL: the configured public URL, or else the address this request came to.
fn base_url(state: &AppState, headers: &HeaderMap) -> Result<String, LtiError> {
    if let Some(url) = &state.public_url {
        return Ok(url.clone());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .ok_or_else(|| LtiError::BadRequest("the request names no host".into()))?;
    Ok(format!("http://{host}"))
}

/// Whether the browser treats the tool's address as secure (HTTPS, or loopback), so that a
/// `Secure` cookie sticks.
fn secure_context(base: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base) else { return false };
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    url.scheme() == "https" || host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn login_get(State(state): State<AppState>, headers: HeaderMap, Query(request): Query<LoginRequest>) -> Response {
    login(&state, &headers, &request)
}

async fn login_post(State(state): State<AppState>, headers: HeaderMap, Form(request): Form<LoginRequest>) -> Response {
    login(&state, &headers, &request)
}

fn login(state: &AppState, headers: &HeaderMap, request: &LoginRequest) -> Response {
    let result = tool(state).and_then(|lti| {
        let base = base_url(state, headers)?;
        let redirect = lti.login(request, &format!("{base}/lti/launch"), crate::store::now())?;
        Ok((redirect, secure_context(&base)))
    });
    match result {
        Ok((redirect, secure)) => {
            let attributes = if secure { "SameSite=None; Secure; Partitioned" } else { "SameSite=Lax" };
            let cookie = format!(
                "{}=1; Path=/lti/launch; Max-Age={}; HttpOnly; {attributes}",
                redirect.cookie_name,
                STATE_LIFETIME.num_seconds()
            );
            (
                StatusCode::FOUND,
                [
                    (header::LOCATION, redirect.location),
                    (header::SET_COOKIE, cookie),
                    (header::CACHE_CONTROL, "no-store".into()),
                ],
            )
                .into_response()
        }
        Err(e) => refusal(&e),
    }
}

#[derive(Debug, Deserialize)]
struct LaunchForm {
    id_token: Option<String>,
    state: Option<String>,
    /// Set by the relay page: the launch was already posted once without its cookie.
    relay: Option<String>,
}

async fn launch(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<LaunchForm>) -> Response {
    let lti = match tool(&state) {
        Ok(lti) => lti,
        Err(e) => return refusal(&e),
    };
    let cookies = cookie_names(&headers);
    let base = match base_url(&state, &headers) {
        Ok(base) => base,
        Err(e) => return refusal(&e),
    };
    let now = crate::store::now();
    let launch = match lti
        .launch(
            &state.store,
            form.id_token.as_deref(),
            form.state.as_deref(),
            |name| cookies.iter().any(|c| c == name),
            &base,
            now,
        )
        .await
    {
        Ok(launch) => launch,
        Err(LtiError::Unbound(_)) if form.relay.is_none() => {
            return relay_page(form.id_token.as_deref().unwrap_or_default(), form.state.as_deref().unwrap_or_default());
        }
        Err(e) => {
            tracing::info!(reason = e.message(), "LTI launch refused");
            return refusal(&e);
        }
    };
    match &launch.message {
        Message::DeepLinking { .. } => {
            if launch.role != afterclass_domain::access::ViewerRole::Instructor {
                return refusal(&LtiError::Forbidden(
                    "only the course's instructors place Afterclass in a course".into(),
                ));
            }
            match lti.deep_link_response(&launch, &format!("{base}/lti/launch"), now) {
                Ok((return_url, jwt)) => deep_link_page(&return_url, &jwt),
                Err(e) => refusal(&e),
            }
        }
        Message::ResourceLink { .. } => {
            let (session, token) = match lti.session(&launch, now) {
                Ok(session) => session,
                Err(e) => return refusal(&e),
            };
            // The tenant and the person, just in time, as for any bearer token.
            let claims = Claims {
                sub: session.sub.clone(),
                tid: session.tid.clone(),
                role: session.role.clone(),
                exp: session.exp,
                iat: Some(session.iat),
                iss: None,
                aud: None,
                name: session.name.clone(),
                email: session.email.clone(),
            };
            let viewer = match auth::viewer(&state.store, &state.rate, &claims).await {
                Ok(viewer) => viewer,
                Err(e) => return refusal(&LtiError::Refused(e.message().to_owned())),
            };
            let person = viewer.person.as_ref();
            let page = serde_json::json!({
                "token": token,
                "role": session.role,
                "course": launch.context.as_ref().map(|c| serde_json::json!({
                    "lmsCourseId": c.id,
                    "title": c.title.clone().or_else(|| c.label.clone()),
                })),
                "person": {
                    "externalId": session.sub,
                    "displayName": person.map(|p| p.display_name.clone()).or(session.name.clone()),
                },
                "roster": launch.memberships_url.is_some()
                    && launch.role == afterclass_domain::access::ViewerRole::Instructor,
                "expiresAt": chrono::DateTime::from_timestamp(session.exp, 0).map(|t| t.to_rfc3339()),
            });
            web::shell(Some(&page))
        }
    }
}

async fn jwks(State(state): State<AppState>) -> Response {
    match tool(&state) {
        Ok(lti) => (
            [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "max-age=300")],
            lti.key.jwks().to_string(),
        )
            .into_response(),
        Err(e) => json_error(&e),
    }
}

async fn roster(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = async {
        let lti = tool(&state)?;
        let token = super::bearer(&headers).map_err(|e| LtiError::Refused(e.message().to_owned()))?;
        let session: SessionClaims =
            state.verifier.verify_session(token).map_err(|e| LtiError::Refused(e.message().to_owned()))?;
        if session.role != afterclass_domain::access::ViewerRole::Instructor.as_claim() {
            return Err(LtiError::Forbidden("only the course's instructors read its roster".into()));
        }
        let url =
            session.lti.memberships_url.as_deref().ok_or_else(|| {
                LtiError::BadRequest("the platform offered no roster service with this launch".into())
            })?;
        let platform = lti.registry.find(&session.lti.iss, Some(&session.lti.client_id))?;
        lti.roster(&platform, url, crate::store::now()).await
    }
    .await;
    match result {
        Ok(members) => (
            [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")],
            serde_json::json!({ "members": members }).to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::info!(reason = e.message(), "roster refused");
            json_error(&e)
        }
    }
}

fn status(e: &LtiError) -> StatusCode {
    match e {
        LtiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        LtiError::Refused(_) | LtiError::Unbound(_) => StatusCode::UNAUTHORIZED,
        LtiError::Forbidden(_) => StatusCode::FORBIDDEN,
        LtiError::Platform(_) => StatusCode::BAD_GATEWAY,
        LtiError::Internal(cause) => {
            tracing::error!(%cause, "LTI request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn json_error(e: &LtiError) -> Response {
    (status(e), [(header::CONTENT_TYPE, "application/json")], serde_json::json!({ "error": e.message() }).to_string())
        .into_response()
}

/// The names of the cookies the browser sent.
fn cookie_names(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.trim().to_owned()))
        .collect()
}

/// The page of a refused launch: what went wrong, in words, and what to do.
fn refusal(e: &LtiError) -> Response {
    let main = format!(
        "<p id=\"lti-error\" role=\"alert\">{}</p>\
         <p>Go back to your course and open Afterclass again. If this keeps happening, tell your \
         course's administrator what this page says.</p>",
        escape(e.message())
    );
    page(status(e), "Afterclass could not open", &main, "'none'")
}

/// Posts the launch again from this site, so that a same-site cookie comes with it.
fn relay_page(id_token: &str, state: &str) -> Response {
    let main = format!(
        "<form id=\"lti-relay\" method=\"post\" action=\"/lti/launch\">\
         <input type=\"hidden\" name=\"id_token\" value=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\">\
         <input type=\"hidden\" name=\"relay\" value=\"1\"><button type=\"submit\">Continue</button></form>\
         <script src=\"/lti/relay.js\"></script>",
        escape(id_token),
        escape(state)
    );
    page(StatusCode::OK, "Opening Afterclass…", &main, "'self'")
}

async fn relay_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")],
        "document.getElementById('lti-relay').submit();\n",
    )
        .into_response()
}

/// The deep-linking answer: the instructor confirms, and the form posts the signed response to
/// the platform.
fn deep_link_page(return_url: &str, jwt: &str) -> Response {
    let main = format!(
        "<p>The link opens the course's learning cohorts: \
         instructors create them at course end, trainees join and check in.</p>\
         <form id=\"deep-link\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"JWT\" value=\"{}\">\
         <button id=\"deep-link-submit\" type=\"submit\">Add Afterclass</button></form>",
        escape(return_url),
        escape(jwt)
    );
    let action = crate::lti::launch::origin(return_url).unwrap_or_else(|| "'none'".into());
    page(StatusCode::OK, "Add Afterclass to this course", &main, &action)
}
