//! The HTTP surface: `POST /graphql`, GraphiQL at `GET /graphql` (its files at
//! `GET /graphql/assets/{file}`, see `graphiql`), `/healthz`, `/readyz`,
//! `/metrics`, subscriptions at `GET /graphql/ws` (see `ws`), the progress chart (`GET /cohorts/{id}/progress.svg`, see `chart`) and calendar
//! feeds (`GET /calendar/{token}.ics`, see `calendar`), the unsubscribe links of nudge emails
//! (`/nudges/unsubscribe/{token}`, see `unsubscribe`), the web app (`GET /app`, see `web`), and the
//! server's life from bind to graceful shutdown.

mod calendar;
mod chart;
mod graphiql;
mod lti;
mod pages;
mod unsubscribe;
pub mod web;
mod ws;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth::{self, Verifier};
use crate::config::Config;
use crate::error::ApiError;
use crate::graphql::limits;
use crate::graphql::loaders::Loaders;
use crate::graphql::{self, AfterclassSchema};
use crate::store::Store;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: AfterclassSchema,
    pub store: Store,
    pub verifier: Arc<Verifier>,
    pub counters: Arc<Counters>,
    /// Signs and checks short-lived links (the progress chart).
    pub links: Arc<crate::links::Links>,
    /// Signs and checks private calendar-feed URLs.
    pub feeds: Arc<crate::links::Feeds>,
    /// Checks the unsubscribe links of nudge emails.
    pub unsubscribes: Arc<crate::links::Unsubscribes>,
    /// How long one GraphQL request may run.
    pub request_timeout: std::time::Duration,
    /// The event log's head, which wakes live subscriptions.
    pub log: crate::store::events::LogHead,
    /// Which webhook receivers may be registered.
    pub webhooks: crate::config::WebhookSettings,
    /// The LTI 1.3 tool, when platforms are registered.
    pub lti: Option<Arc<crate::lti::Lti>>,
    /// The public base URL, without a trailing slash.
    pub public_url: Option<String>,
    /// Request budgets and the cap on just-in-time creation.
    pub rate: Arc<crate::rate::Limiter>,
}

/// Request counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub graphql_requests: AtomicU64,
    pub unauthenticated: AtomicU64,
    pub internal_errors: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl AppState {
    pub fn new(config: &Config, store: Store) -> Result<Self, String> {
        let lti = config.lti.as_ref().map(crate::lti::Lti::new).transpose()?.map(Arc::new);
        let mut verifier = Verifier::new(&config.auth)?;
        if let Some(lti) = &lti {
            use crate::lti::session::{SESSION_AUDIENCE, SESSION_ISSUER};
            verifier.accept_sessions(lti.key.kid(), lti.key.decoding().clone(), SESSION_ISSUER, SESSION_AUDIENCE);
        }
        Ok(AppState {
            schema: graphql::schema(config.limits, config.introspection),
            log: crate::store::events::watch_log(store.clone()),
            rate: Arc::new(crate::rate::Limiter::new(config.rates, &store)),
            store,
            verifier: Arc::new(verifier),
            lti,
            public_url: config.public_url.clone(),
            counters: Arc::default(),
            links: Arc::new(crate::links::Links::new(config)),
            feeds: Arc::new(crate::links::Feeds::new(config)),
            unsubscribes: Arc::new(crate::links::Unsubscribes::new(config)),
            request_timeout: config.limits.request_timeout,
            webhooks: config.webhooks,
        })
    }
}

/// The service's routes.
pub fn router(state: AppState, body_limit: usize) -> Router {
    Router::new()
        .route("/graphql", get(graphiql::page).post(graphql_post))
        .route("/graphql/assets/{file}", get(graphiql::asset))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/cohorts/{id}/progress.svg", get(chart::progress_svg))
        // A private calendar feed: `/calendar/{token}.ics`, no bearer token (see `calendar`).
        .route("/calendar/{file}", get(calendar::feed))
        // The LTI 1.3 tool (see `lti`) and the web app it opens (see `web`).
        // The one-click unsubscribe of nudge emails, no bearer token (see `unsubscribe`).
        .merge(unsubscribe::routes())
        .merge(lti::routes())
        .merge(web::routes())
        // The GraphQL extractor reads the body as a stream, past axum's own limit, so the limit
        // is enforced on the whole body: 413 beyond it.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, &ApiError::Internal("panic".into()), None)
}

/// A GraphQL-shaped error body for failures before execution; over a budget, whatever `status`
/// says, 429 with `Retry-After` and `extensions.retryAfter` (whole seconds).
fn error_response(status: StatusCode, err: &ApiError, request_id: Option<&str>) -> Response {
    let mut extensions = serde_json::json!({ "code": err.code() });
    if let Some(id) = request_id {
        extensions["requestId"] = serde_json::Value::from(id);
    }
    let retry_after = err.retry_after();
    if let Some(seconds) = retry_after {
        extensions["retryAfter"] = serde_json::Value::from(seconds);
    }
    let body = serde_json::json!({ "data": null, "errors": [{ "message": err.message(), "extensions": extensions }] });
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if let Some(seconds) = retry_after {
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The answer to a request stopped by the time limit.
fn timeout_response(limit: std::time::Duration, request_id: &str) -> Response {
    let message = format!("the request ran longer than {} ms and was stopped; ask for less at once", limit.as_millis());
    let body = serde_json::json!({ "data": null, "errors": [{ "message": message,
        "extensions": { "code": limits::TIMEOUT_CODE, "requestId": request_id } }] });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn request_id() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness the id is still unique enough per process from the clock.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = (crate::store::now().timestamp_micros() as u64).to_be_bytes();
    }
    hex::encode(bytes)
}

async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, request: GraphQLBatchRequest) -> Response {
    let id = request_id();
    let span = tracing::info_span!("graphql", request_id = %id);
    let mut response = execute(&state, &headers, request, &id).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn execute(state: &AppState, headers: &HeaderMap, request: GraphQLBatchRequest, id: &str) -> Response {
    state.counters.graphql_requests.fetch_add(1, Ordering::Relaxed);
    let claims = match authenticate(state, headers).await {
        Ok(claims) => claims,
        Err(err) => {
            state.counters.unauthenticated.fetch_add(1, Ordering::Relaxed);
            tracing::info!(reason = err.message(), "unauthenticated request");
            return error_response(StatusCode::UNAUTHORIZED, &err, Some(id));
        }
    };
    let mut request = match request.into_inner().into_single() {
        Ok(request) => request,
        Err(_) => {
            let err =
                ApiError::BadUserInput("batched requests are not supported; send one operation per request".into());
            return error_response(StatusCode::BAD_REQUEST, &err, Some(id));
        }
    };
    let viewer = match auth::viewer(&state.store, &state.rate, &claims).await {
        Ok(viewer) => viewer,
        Err(err) => {
            let status = match &err {
                ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                ApiError::Unavailable(_) | ApiError::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
                ApiError::RateLimited { .. } => {
                    state.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(reason = err.message(), "request over its budget");
                    StatusCode::TOO_MANY_REQUESTS
                }
                ApiError::Internal(cause) => {
                    tracing::error!(%cause, "resolving the viewer");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::BAD_REQUEST,
            };
            return error_response(status, &err, Some(id));
        }
    };
    // Fragment spreads are counted before the executor expands them; a document it cannot parse
    // is left to the executor to report.
    if let Ok(document) = request.parsed_query()
        && let Err(err) = limits::check_document(document)
    {
        tracing::info!(reason = err.message(), "refused before validation");
        return error_response(StatusCode::OK, &err, Some(id));
    }
    // Whatever way this handler ends (done, timed out, or dropped because the client left), the
    // loader batches of the request end with it.
    let tasks = limits::RequestTasks::default();
    let loader = Loaders::of(&state.store, &viewer).into_data_loader(tasks.clone());
    request.data.insert(loader);
    insert_request_data(&mut request.data, state, viewer);
    // Dropping the execution at the deadline cancels it and frees its worker.
    let mut response =
        match tokio::time::timeout(state.request_timeout, tasks.drive(state.schema.execute(request))).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(timeout = ?state.request_timeout, "request stopped at its time limit");
                return timeout_response(state.request_timeout, id);
            }
        };
    let mut unavailable = false;
    for error in &mut response.errors {
        match graphql::classify_error(error) {
            "INTERNAL" => {
                state.counters.internal_errors.fetch_add(1, Ordering::Relaxed);
                error.extensions.get_or_insert_with(Default::default).set("requestId", id);
            }
            code => unavailable |= crate::error::is_unavailable_code(code),
        }
    }
    let mut answer = GraphQLResponse::from(response).into_response();
    // Trouble with the database is the service's, not the request's: 503, so that a client or a
    // load balancer tries again (another replica, or this one shortly).
    if unavailable {
        *answer.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        answer.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    answer
}

/// What every operation sees besides its loader, over `POST /graphql` and over a websocket alike:
/// the store, the viewer, the signing of links and feeds, the webhook settings, the log's head
/// and the operation's "now".
pub(crate) fn insert_request_data(data: &mut async_graphql::Data, state: &AppState, viewer: auth::Viewer) {
    data.insert(state.store.clone());
    data.insert(viewer);
    data.insert(state.links.clone());
    data.insert(state.feeds.clone());
    data.insert(state.webhooks);
    data.insert(state.log.clone());
    data.insert(graphql::RequestTime(crate::store::now()));
}

/// The verified claims of the request's bearer token.
pub(crate) async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<auth::Claims, ApiError> {
    state.verifier.verify(bearer(headers)?).await
}

pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthenticated("missing bearer token: send `Authorization: Bearer <token>`".into())
    })?;
    let value = value.to_str().map_err(|_| ApiError::Unauthenticated("malformed Authorization header".into()))?;
    bearer_token(value)
}

/// The token of an `Authorization` value `Bearer <token>` (a header, or a websocket's
/// `connection_init` payload).
pub(crate) fn bearer_token(value: &str) -> Result<&str, ApiError> {
    // The scheme is case-insensitive (RFC 7235).
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::Unauthenticated("the Authorization header must be `Bearer <token>`".into())),
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(%err, "readiness check failed");
            let reason = match crate::store::trouble(&err) {
                Some(crate::store::Trouble::Unreachable) => "the database does not answer",
                Some(crate::store::Trouble::CannotWrite) => "the database cannot write",
                Some(crate::store::Trouble::Full) => "the database's storage is full",
                None => "the database check failed",
            };
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}")).into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let c = &state.counters;
    let body = format!(
        "# TYPE afterclass_graphql_requests_total counter\nafterclass_graphql_requests_total {}\n\
         # TYPE afterclass_unauthenticated_requests_total counter\nafterclass_unauthenticated_requests_total {}\n\
         # TYPE afterclass_internal_errors_total counter\nafterclass_internal_errors_total {}\n\
         # TYPE afterclass_rate_limited_requests_total counter\nafterclass_rate_limited_requests_total {}\n\
         # TYPE afterclass_sql_statements_total counter\nafterclass_sql_statements_total {}\n",
        c.graphql_requests.load(Ordering::Relaxed),
        c.unauthenticated.load(Ordering::Relaxed),
        c.internal_errors.load(Ordering::Relaxed),
        c.rate_limited.load(Ordering::Relaxed),
        state.store.statements(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// A server bound to its address; `run` serves until `shutdown` resolves, then lets in-flight
/// requests finish for at most the grace period and closes the store.
pub struct Server {
    listener: TcpListener,
    router: Router,
    store: Store,
    grace: std::time::Duration,
}

impl Server {
    /// Opens the store, applies migrations and binds `addr` (port 0 picks a free port).
    pub async fn bind(config: &Config, addr: SocketAddr) -> Result<Server, String> {
        let store = Store::connect_with(&config.database_url, config.max_connections, &config.store)
            .await
            .map_err(|e| format!("opening the database: {e}"))?;
        store.migrate().await.map_err(|e| format!("applying migrations: {e}"))?;
        let state = AppState::new(config, store.clone())?;
        state.verifier.load_platform_keys().await;
        let listener = TcpListener::bind(addr).await.map_err(|e| format!("binding {addr}: {e}"))?;
        Ok(Server {
            listener,
            router: router(state, config.limits.body_bytes),
            store,
            grace: config.limits.shutdown_grace,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, String> {
        self.listener.local_addr().map_err(|e| e.to_string())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), String> {
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = stopping.send(());
        };
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(signal).into_future();
        let grace = self.grace;
        // The grace period starts when shutdown does; a request still running after it (a
        // client that never finishes its body, a slow statement) does not keep the server up.
        let deadline = async move {
            match stopped.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            result = serve => result.map_err(|e| e.to_string()),
            () = deadline => {
                tracing::warn!(?grace, "requests still in flight after the grace period; stopping anyway");
                Ok(())
            }
        };
        // A connection still held by an abandoned request must not keep the store open either.
        if tokio::time::timeout(CLOSE_WAIT, self.store.close()).await.is_err() {
            tracing::warn!("the store did not close in time; exiting anyway");
        }
        result
    }
}

/// How long closing the store may take at shutdown.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Resolves on SIGINT or SIGTERM. The signal handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives right after start-up is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {},
                    _ = terminate.recv() => {},
                }
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::error!(%err, "listening for SIGINT and SIGTERM; stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "listening for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
