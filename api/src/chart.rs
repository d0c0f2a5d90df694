//! The progress picture: `GET /cohorts/{id}/progress.svg`, a burn-up chart of each goal of a
//! cohort for embedding in an LMS page.
//!
//! Each goal's progress (as a fraction of its target, 0..1) is sampled at up to [`SAMPLES`]
//! moments from the cohort's activation (or creation) to now (or to its end, once it ended), or to
//! the end of the last deadline if that came earlier, and drawn against the linear pace line from activation to the goal's
//! deadline (goals without a deadline have none). Each sample reads the store's aggregates
//! (`store::progress::observations`, about four statements), so a chart costs a bounded number of
//! statements however many check-ins there are.
//!
//! Who may fetch it, either:
//! - a bearer token, exactly as for GraphQL: the viewer must see at least the cohort's public
//!   face; hidden and other tenants' cohorts are not found (404); or
//! - a signed short-lived link, `?exp=<unix seconds>&sig=<hex HMAC-SHA256>` over
//!   `progress.svg:{tenant_id}:{cohort_row_id}:{exp}`, as `Cohort.progressChartUrl` hands out.
//!   The key is `AFTERCLASS_LINK_SECRET`, or else the HS256 token secret.
//!
//! Refusals are short plain-text bodies: 401 without valid credentials (an expired, forged or
//! missing signature included), 404 for a cohort the bearer may not see.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use afterclass_domain::access::Facet;
use afterclass_domain::goal::{self as dgoal, GoalSpec};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sha2::Sha256;

use crate::app::access::Access;
use crate::auth;
use crate::config::{Config, KeyConfig};
use crate::error::ApiError;
use crate::http::AppState;
use crate::ids::{self, Kind};
use crate::store::entities::{cohort, goal};
use crate::store::{self, Store, from_micros, progress, queries, to_micros};

/// The most moments a chart samples.
pub const SAMPLES: usize = 30;

/// How long a link from `Cohort.progressChartUrl` works.
pub const LINK_TTL_SECONDS: i64 = 15 * 60;

/// What the chart shows; everything [`render`] needs, and nothing it has to look up.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    pub cohort_name: String,
    /// The left edge: the cohort's activation, or its creation if it was never activated.
    pub start: DateTime<Utc>,
    /// The right edge: now, or the end of the last deadline if that came earlier.
    pub end: DateTime<Utc>,
    pub goals: Vec<GoalSeries>,
}

/// One goal's line and pace.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalSeries {
    pub title: String,
    pub deadline: Option<NaiveDate>,
    /// Progress at each sampled moment, as a fraction of the target (0..1), in time order.
    pub actual: Vec<(DateTime<Utc>, f64)>,
    /// The linear pace to the deadline, as the corners of its line; `None` without a deadline.
    pub pace: Option<Vec<(DateTime<Utc>, f64)>>,
}

// ---------------------------------------------------------------------------------------------
// Signed links

type HmacSha256 = Hmac<Sha256>;

const NO_LINK_KEY: &str = "progress chart links need a signing secret: this server verifies tokens with a public key, \
                           so AFTERCLASS_LINK_SECRET must be set";

/// Signs and checks the chart's short-lived links.
pub struct Links {
    key: Option<Vec<u8>>,
    public_url: Option<String>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Links").field("has_key", &self.key.is_some()).field("public_url", &self.public_url).finish()
    }
}

impl Links {
    /// The link key is `AFTERCLASS_LINK_SECRET`, or else the HS256 token secret; a public-key
    /// configuration without a link secret cannot sign links.
    pub fn new(config: &Config) -> Links {
        let key = config.link_secret.clone().or_else(|| match &config.auth.key {
            KeyConfig::Hs256(secret) => Some(secret.clone()),
            KeyConfig::Rs256Pem(_) | KeyConfig::EdDsaPem(_) => None,
        });
        Links { key, public_url: config.public_url.clone() }
    }

    /// A link to a cohort's chart that works without a token until `now` + [`LINK_TTL_SECONDS`]:
    /// a path, prefixed by the public URL when one is configured.
    pub fn chart_url(&self, tenant_id: i64, cohort_id: i64, now: DateTime<Utc>) -> Result<String, ApiError> {
        let key = self.key.as_deref().ok_or_else(|| ApiError::forbidden(NO_LINK_KEY))?;
        let exp = now.timestamp() + LINK_TTL_SECONDS;
        let sig = link_signature(key, tenant_id, cohort_id, exp)
            .ok_or_else(|| ApiError::Internal("the link key was refused by HMAC".into()))?;
        let id = ids::encode(Kind::Cohort, cohort_id);
        Ok(format!("{}/cohorts/{}/progress.svg?exp={exp}&sig={sig}", self.public_url.as_deref().unwrap_or(""), id.0))
    }

    /// Whether `sig` signs this cohort's link until `exp`, compared in constant time.
    fn verify(&self, tenant_id: i64, cohort_id: i64, exp: i64, sig: &[u8]) -> bool {
        let Some(key) = self.key.as_deref() else { return false };
        let Ok(mut mac) = HmacSha256::new_from_slice(key) else { return false };
        mac.update(link_message(tenant_id, cohort_id, exp).as_bytes());
        mac.verify_slice(sig).is_ok()
    }
}

fn link_message(tenant_id: i64, cohort_id: i64, exp: i64) -> String {
    format!("progress.svg:{tenant_id}:{cohort_id}:{exp}")
}

/// The hex HMAC-SHA256 of `progress.svg:{tenant_id}:{cohort_id}:{exp}` under `key`.
pub fn link_signature(key: &[u8], tenant_id: i64, cohort_id: i64, exp: i64) -> Option<String> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(link_message(tenant_id, cohort_id, exp).as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

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

/// Why a request gets no chart. The bodies are short and say nothing about internals.
enum Refusal {
    NoCredentials,
    BadToken,
    BadLink,
    NotFound,
    /// The viewer may know of the cohort but not read its members' progress.
    Forbidden,
    Internal(String),
}

impl From<sea_orm::DbErr> for Refusal {
    fn from(err: sea_orm::DbErr) -> Self {
        Refusal::Internal(format!("database: {err}"))
    }
}

impl From<ApiError> for Refusal {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Internal(cause) => Refusal::Internal(cause),
            ApiError::NotFound(_) | ApiError::Forbidden(_) => Refusal::NotFound,
            ApiError::Unauthenticated(_) | ApiError::BadUserInput(_) => Refusal::BadToken,
        }
    }
}

impl Refusal {
    fn respond(self, state: &AppState) -> Response {
        let (status, text) = match self {
            Refusal::NoCredentials => {
                (StatusCode::UNAUTHORIZED, "send a bearer token or use a signed link from progressChartUrl")
            }
            Refusal::BadToken => (StatusCode::UNAUTHORIZED, "invalid or expired bearer token"),
            Refusal::BadLink => (StatusCode::UNAUTHORIZED, "this link is invalid or has expired"),
            Refusal::NotFound => (StatusCode::NOT_FOUND, "cohort not found"),
            Refusal::Forbidden => (StatusCode::FORBIDDEN, "only the cohort's active members see its progress"),
            Refusal::Internal(cause) => {
                tracing::error!(%cause, "drawing a progress chart");
                state.counters.internal_errors.fetch_add(1, Ordering::Relaxed);
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
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
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
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
        Ok::<_, Refusal>(render(&chart_data(&state.store, &cohort, now).await?))
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
        Err(refusal) => refusal.respond(&state),
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
) -> Result<cohort::Model, Refusal> {
    let conn = state.store.reader();
    match link_params(query) {
        (None, None) if headers.contains_key(header::AUTHORIZATION) => {
            let claims =
                crate::http::bearer(headers).and_then(|token| state.verifier.verify(token)).map_err(|err| {
                    tracing::info!(reason = err.message(), "unauthenticated chart request");
                    Refusal::BadToken
                })?;
            let viewer = auth::viewer(&state.store, &claims).await?;
            let row_id = ids::decode(Kind::Cohort, id).map_err(|_| Refusal::NotFound)?;
            let cohort = queries::find_cohort(conn, viewer.tenant_id, row_id).await?.ok_or(Refusal::NotFound)?;
            let mine = queries::membership_of(conn, cohort.id, viewer.person_id()).await?;
            match Access::of(viewer.role, &cohort, mine.as_ref()).ensure(Facet::Activity) {
                Ok(()) => Ok(cohort),
                Err(ApiError::Forbidden(_)) => Err(Refusal::Forbidden),
                Err(_) => Err(Refusal::NotFound),
            }
        }
        (None, None) => Err(Refusal::NoCredentials),
        (exp, sig) => {
            let exp = exp
                .filter(|e| !e.is_empty() && e.len() <= 18 && e.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|e| e.parse::<i64>().ok())
                .ok_or(Refusal::BadLink)?;
            if exp < now.timestamp() {
                return Err(Refusal::BadLink);
            }
            let sig = sig.and_then(decode_hex).ok_or(Refusal::BadLink)?;
            let row_id = ids::decode(Kind::Cohort, id).map_err(|_| Refusal::BadLink)?;
            // The signature names the tenant: the cohort is looked up by its row id alone, and a
            // missing one is refused exactly like a bad signature.
            let cohort = cohort::Entity::find_by_id(row_id).one(conn).await?.ok_or(Refusal::BadLink)?;
            if state.links.verify(cohort.tenant_id, cohort.id, exp, &sig) { Ok(cohort) } else { Err(Refusal::BadLink) }
        }
    }
}

/// Samples every goal of the cohort (see the module documentation).
async fn chart_data(store: &Store, cohort: &cohort::Model, now: DateTime<Utc>) -> Result<ChartData, Refusal> {
    let conn = store.reader();
    let goals = goal::Entity::find()
        .filter(goal::Column::TenantId.eq(cohort.tenant_id))
        .filter(goal::Column::CohortId.eq(cohort.id))
        .order_by_asc(goal::Column::Id)
        .all(conn)
        .await?;
    let specs: Vec<GoalSpec> = goals.iter().map(progress::goal_spec).collect();
    let activated_at = cohort.activated_at.map(from_micros);
    let start = activated_at.unwrap_or_else(|| from_micros(cohort.created_at));
    // An ended cohort's chart stops where the cohort did.
    let now = cohort.ended_at.map_or(now, |ended| from_micros(ended).min(now));
    let end = match specs.iter().filter_map(GoalSpec::deadline_end).max() {
        Some(last) if last > start => last.min(now),
        _ => now,
    }
    .max(start);

    let moments = sample_moments(start, end);
    let goal_ids: Vec<i64> = goals.iter().map(|g| g.id).collect();
    let mut actual: Vec<Vec<(DateTime<Utc>, f64)>> = vec![Vec::with_capacity(moments.len()); goals.len()];
    if !goals.is_empty() {
        for &moment in &moments {
            let observed = progress::observations(conn, &goal_ids, to_micros(moment)).await?;
            for ((row, spec), line) in goals.iter().zip(&specs).zip(actual.iter_mut()) {
                let obs = observed.get(&row.id).cloned().unwrap_or_default();
                line.push((moment, dgoal::progress(spec, &obs, activated_at, moment).fraction));
            }
        }
    }
    let series = goals
        .into_iter()
        .zip(specs)
        .zip(actual)
        .map(|((row, spec), actual)| GoalSeries {
            pace: pace_line(&spec, activated_at, start, end),
            deadline: spec.deadline(),
            title: row.title,
            actual,
        })
        .collect();
    Ok(ChartData { cohort_name: cohort.name.clone(), start, end, goals: series })
}

/// Up to [`SAMPLES`] evenly spaced moments from `start` to `end`, both included.
fn sample_moments(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let span = end - start;
    if span <= Duration::zero() {
        return vec![start];
    }
    let steps = (SAMPLES - 1) as i32;
    let mut moments: Vec<DateTime<Utc>> = (0..steps).map(|i| start + span * i / steps).collect();
    moments.push(end);
    moments.dedup();
    moments
}

/// The pace line's corners within [start, end]: the domain's expected fraction is linear between
/// activation and the end of the deadline day and flat outside, so its value at the edges and
/// at the deadline draws it exactly.
fn pace_line(
    spec: &GoalSpec,
    activated_at: Option<DateTime<Utc>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<Vec<(DateTime<Utc>, f64)>> {
    let deadline = spec.deadline_end()?;
    let mut corners = vec![start];
    corners.extend(activated_at.filter(|a| *a > start && *a < end));
    if deadline > start && deadline < end {
        corners.push(deadline);
    }
    corners.push(end);
    corners.sort();
    corners.dedup();
    corners.into_iter().map(|t| dgoal::expected_fraction(spec, activated_at, t).map(|f| (t, f))).collect()
}

// ---------------------------------------------------------------------------------------------
// Rendering

const WIDTH: f64 = 800.0;
const PLOT_LEFT: f64 = 64.0;
const PLOT_RIGHT: f64 = 772.0;
const PLOT_TOP: f64 = 60.0;
const PLOT_BOTTOM: f64 = 340.0;
const LEGEND_TOP: f64 = 392.0;
const LEGEND_ROW: f64 = 22.0;
/// Colours told apart with colour-blindness too (Okabe and Ito), dark enough on white.
const PALETTE: [&str; 7] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
/// Longest goal title in the legend (the full title is its tooltip) and cohort name in the heading.
const LEGEND_CHARS: usize = 70;
const HEADING_CHARS: usize = 80;

/// Text for XML content or a quoted attribute: the five special characters escaped, line breaks
/// and tabs as spaces, and characters XML 1.0 cannot carry at all left out.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}' => out.push(c),
            _ => {}
        }
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The whole chart as a standalone SVG document. Pure: the same data draws the same picture.
pub fn render(data: &ChartData) -> String {
    let rows = data.goals.len().max(1) as f64;
    let height = LEGEND_TOP + LEGEND_ROW * (rows + 1.0) + 8.0;
    let span = (data.end - data.start).num_microseconds().unwrap_or(i64::MAX).max(1) as f64;
    let x = |t: DateTime<Utc>| {
        let offset = (t - data.start).num_microseconds().unwrap_or(0) as f64;
        PLOT_LEFT + (offset / span).clamp(0.0, 1.0) * (PLOT_RIGHT - PLOT_LEFT)
    };
    let y = |fraction: f64| {
        let f = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        PLOT_BOTTOM - f * (PLOT_BOTTOM - PLOT_TOP)
    };
    let name = escape(&data.cohort_name);
    let date_format = if data.end - data.start >= Duration::days(2) { "%b %-d" } else { "%b %-d %H:%M" };

    let mut out = String::with_capacity(4096 + 1024 * data.goals.len());
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-labelledby="chart-title chart-desc" font-family="Helvetica, Arial, sans-serif" font-size="13" fill="#222222">"##
    );
    let _ = write!(out, r#"<title id="chart-title">Progress of {name}</title>"#);
    let _ = write!(
        out,
        r#"<desc id="chart-desc">Burn-up chart from {} to {} (UTC): each goal's progress as a share of its target (solid lines) against the linear pace from activation to its deadline (dashed lines).</desc>"#,
        data.start.format("%Y-%m-%d %H:%M"),
        data.end.format("%Y-%m-%d %H:%M"),
    );
    let _ = write!(out, r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##);
    let _ = write!(
        out,
        r#"<text x="{PLOT_LEFT}" y="32" font-size="18" font-weight="bold">Progress — {}</text>"#,
        escape(&truncate(&data.cohort_name, HEADING_CHARS))
    );

    // The y axis: a grid line and a label every quarter of the target.
    out.push_str(r#"<g class="y-axis" font-size="12" text-anchor="end">"#);
    for quarter in 0..=4 {
        let fraction = f64::from(quarter) / 4.0;
        let at = y(fraction);
        let stroke = if quarter == 0 { r##"stroke="#444444""## } else { r##"stroke="#dddddd""## };
        let _ = write!(out, r#"<line x1="{PLOT_LEFT}" y1="{at:.1}" x2="{PLOT_RIGHT}" y2="{at:.1}" {stroke}/>"#);
        let _ = write!(out, r#"<text x="{:.1}" y="{:.1}">{}%</text>"#, PLOT_LEFT - 8.0, at + 4.0, quarter * 25);
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="start">of target</text>"#,
        PLOT_LEFT - 40.0,
        PLOT_TOP - 12.0
    );
    out.push_str("</g>");

    // The x axis: five dates from start to end.
    out.push_str(r##"<g class="x-axis" font-size="12" text-anchor="middle">"##);
    let _ = write!(
        out,
        r##"<line x1="{PLOT_LEFT}" y1="{PLOT_TOP}" x2="{PLOT_LEFT}" y2="{PLOT_BOTTOM}" stroke="#444444"/>"##
    );
    let single = data.end <= data.start;
    for tick in 0..=4 {
        if single && tick > 0 {
            break;
        }
        let t = data.start + (data.end - data.start) * tick / 4;
        let at = x(t);
        let anchor = match tick {
            0 => r#" text-anchor="start""#,
            4 => r#" text-anchor="end""#,
            _ => "",
        };
        let _ = write!(
            out,
            r##"<line x1="{at:.1}" y1="{PLOT_BOTTOM}" x2="{at:.1}" y2="{:.1}" stroke="#444444"/><text x="{at:.1}" y="{:.1}"{anchor}>{}</text>"##,
            PLOT_BOTTOM + 5.0,
            PLOT_BOTTOM + 20.0,
            t.format(date_format),
        );
    }
    let _ = write!(
        out,
        r##"<text x="{PLOT_RIGHT}" y="{:.1}" text-anchor="end" fill="#666666">UTC</text>"##,
        PLOT_BOTTOM + 36.0
    );
    out.push_str("</g>");

    if data.goals.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#666666">No goals yet</text>"##,
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            (PLOT_TOP + PLOT_BOTTOM) / 2.0
        );
    }

    // The lines: pace first, so that actual progress is drawn over it.
    for (i, goal) in data.goals.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let title = escape(&goal.title);
        if let Some(pace) = &goal.pace {
            let _ = write!(
                out,
                r#"<polyline class="pace" points="{}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4" opacity="0.8"><title>{title}: pace to the deadline</title></polyline>"#,
                points(pace, &x, &y)
            );
        }
        let _ = write!(
            out,
            r#"<polyline class="actual" points="{}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"><title>{title}</title></polyline>"#,
            points(&goal.actual, &x, &y)
        );
        if let Some(&(t, fraction)) = goal.actual.last() {
            let _ = write!(out, r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/>"#, x(t), y(fraction));
        }
    }

    // The legend: what solid and dashed mean, then one row per goal.
    let key_y = LEGEND_TOP;
    let _ = write!(
        out,
        r##"<g class="legend-key" font-size="12" fill="#555555"><line x1="{PLOT_LEFT}" y1="{key_y}" x2="{:.1}" y2="{key_y}" stroke="#555555" stroke-width="2.5"/><text x="{:.1}" y="{:.1}">actual progress</text><line x1="{:.1}" y1="{key_y}" x2="{:.1}" y2="{key_y}" stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}">linear pace to the deadline</text></g>"##,
        PLOT_LEFT + 24.0,
        PLOT_LEFT + 30.0,
        key_y + 4.0,
        PLOT_LEFT + 150.0,
        PLOT_LEFT + 174.0,
        PLOT_LEFT + 180.0,
        key_y + 4.0,
    );
    for (i, goal) in data.goals.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let row_y = LEGEND_TOP + LEGEND_ROW * (i as f64 + 1.0);
        let now = goal.actual.last().map_or(0.0, |(_, f)| if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 });
        let due = match goal.deadline {
            Some(d) => format!("due {}", d.format("%Y-%m-%d")),
            None => "no deadline".to_owned(),
        };
        let _ = write!(
            out,
            r##"<g class="legend"><title>{}</title><line x1="{PLOT_LEFT}" y1="{row_y:.1}" x2="{:.1}" y2="{row_y:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{} <tspan fill="#666666">— {:.0}% · {due}</tspan></text></g>"##,
            escape(&goal.title),
            PLOT_LEFT + 24.0,
            PLOT_LEFT + 30.0,
            row_y + 4.0,
            escape(&truncate(&goal.title, LEGEND_CHARS)),
            now * 100.0,
        );
    }
    out.push_str("</svg>\n");
    out
}

fn points(line: &[(DateTime<Utc>, f64)], x: &impl Fn(DateTime<Utc>) -> f64, y: &impl Fn(f64) -> f64) -> String {
    let mut out = String::with_capacity(line.len() * 14);
    for (i, &(t, fraction)) in line.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{:.1},{:.1}", x(t), y(fraction));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use afterclass_domain::goal::Aggregation;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).single().unwrap_or_default()
    }

    fn data() -> ChartData {
        let actual = |fs: &[f64]| fs.iter().enumerate().map(|(i, f)| (day(1 + i as u32), *f)).collect::<Vec<_>>();
        ChartData {
            cohort_name: "Rust & friends".into(),
            start: day(1),
            end: day(5),
            goals: vec![
                GoalSeries {
                    title: r#"Read <Rust> & "Tokio" 'book'"#.into(),
                    deadline: NaiveDate::from_ymd_opt(2026, 11, 9),
                    actual: actual(&[0.0, 0.1, 0.3, 0.35, 0.6]),
                    pace: Some(vec![(day(1), 0.0), (day(5), 0.4)]),
                },
                GoalSeries {
                    title: "Exercises".into(),
                    deadline: None,
                    actual: actual(&[0.0, 0.0, 0.2, 0.5, 1.0]),
                    pace: None,
                },
            ],
        }
    }

    #[test]
    fn every_goal_gets_a_line_and_only_goals_with_a_deadline_get_a_pace_line() {
        let svg = render(&data());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 800 "), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"<polyline class="actual""#).count(), 2);
        assert_eq!(svg.matches(r#"<polyline class="pace""#).count(), 1);
        assert_eq!(svg.matches(r#"stroke-dasharray="6 4""#).count(), 2, "the pace line and its legend key");
        assert_eq!(svg.matches(r#"<g class="legend">"#).count(), 2);
        assert!(svg.contains("<title id=\"chart-title\">Progress of Rust &amp; friends</title>"), "{svg}");
        assert!(svg.contains("— 60% · due 2026-11-09") && svg.contains("— 100% · no deadline"), "{svg}");
    }

    #[test]
    fn titles_are_escaped_for_xml() {
        let svg = render(&data());
        assert!(svg.contains("Read &lt;Rust&gt; &amp; &quot;Tokio&quot; &apos;book&apos;"), "{svg}");
        assert!(!svg.contains("<Rust>") && !svg.contains("\"Tokio\"") && !svg.contains("& \""));
        assert_eq!(escape("a\u{0}b\u{1b}c\nd\u{FFFE}"), "abc d");
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;");
    }

    #[test]
    fn lines_run_from_the_left_edge_to_the_right_and_from_zero_to_the_top() {
        let svg = render(&data());
        // Exercises: 0 at the start (bottom left) and the full target at the end (top right).
        assert!(svg.contains(&format!(r#"points="{PLOT_LEFT:.1},{PLOT_BOTTOM:.1} "#)), "{svg}");
        assert!(svg.contains(&format!(" {PLOT_RIGHT:.1},{PLOT_TOP:.1}\"")), "{svg}");
    }

    #[test]
    fn odd_data_draws_without_nan_or_overflow() {
        let mut odd = data();
        odd.end = odd.start;
        odd.goals[0].actual = vec![(day(1), f64::NAN)];
        odd.goals[1].actual = vec![(day(1), 7.0), (day(9), -3.0)];
        let svg = render(&odd);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let empty = render(&ChartData { goals: Vec::new(), ..data() });
        assert!(empty.contains("No goals yet") && !empty.contains("<polyline"), "{empty}");
    }

    #[test]
    fn long_titles_are_shortened_in_the_legend_but_kept_whole_in_the_tooltip() {
        let mut long = data();
        long.goals[1].title = "x".repeat(200);
        let svg = render(&long);
        assert!(svg.contains(&format!("{}…", "x".repeat(LEGEND_CHARS - 1))));
        assert!(svg.contains(&format!("<title>{}</title>", "x".repeat(200))));
    }

    #[test]
    fn samples_cover_the_range_in_at_most_thirty_moments() {
        let moments = sample_moments(day(1), day(30));
        assert_eq!((moments.len(), moments.first(), moments.last()), (SAMPLES, Some(&day(1)), Some(&day(30))));
        assert!(moments.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_moments(day(2), day(2)), vec![day(2)]);
        let tiny = sample_moments(day(1), day(1) + Duration::microseconds(3));
        assert_eq!((tiny.first(), tiny.last()), (Some(&day(1)), Some(&(day(1) + Duration::microseconds(3)))));
        assert!(tiny.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_pace_line_bends_at_the_deadline_and_stays_at_the_target() {
        let spec = GoalSpec::from_stored(10.0, None, Aggregation::Sum, NaiveDate::from_ymd_opt(2026, 11, 10));
        // Activated Nov 1, the deadline day ends Nov 11; charted until Nov 21.
        let line = pace_line(&spec, Some(day(1)), day(1), day(21));
        assert_eq!(line, Some(vec![(day(1), 0.0), (day(11), 1.0), (day(21), 1.0)]));
        let halfway = pace_line(&spec, Some(day(1)), day(1), day(6));
        assert_eq!(halfway, Some(vec![(day(1), 0.0), (day(6), 0.5)]));
        let none = GoalSpec::from_stored(10.0, None, Aggregation::Sum, None);
        assert_eq!(pace_line(&none, Some(day(1)), day(1), day(6)), None);
    }

    #[test]
    fn links_are_signed_for_one_cohort_of_one_tenant_until_they_expire() {
        let links = Links { key: Some(b"a-link-secret-for-tests".to_vec()), public_url: None };
        let now = day(1);
        let url = links.chart_url(7, 42, now).unwrap_or_default();
        let id = ids::encode(Kind::Cohort, 42).0;
        let exp = now.timestamp() + LINK_TTL_SECONDS;
        assert!(url.starts_with(&format!("/cohorts/{id}/progress.svg?exp={exp}&sig=")), "{url}");
        let (Some(e), Some(sig)) = link_params(url.split_once('?').map(|(_, q)| q)) else { panic!("{url}") };
        assert_eq!(e, exp.to_string());
        let sig = decode_hex(sig).unwrap_or_default();
        assert_eq!(sig.len(), 32);
        assert!(links.verify(7, 42, exp, &sig));
        assert!(
            !links.verify(8, 42, exp, &sig) && !links.verify(7, 43, exp, &sig) && !links.verify(7, 42, exp + 1, &sig)
        );
        assert!(!links.verify(7, 42, exp, &sig[..31]));
        let other = Links { key: Some(b"another-link-secret".to_vec()), public_url: None };
        assert!(!other.verify(7, 42, exp, &sig));
        let public = Links { public_url: Some("https://afterclass.example.edu".into()), ..links };
        assert!(
            public.chart_url(7, 42, now).unwrap_or_default().starts_with("https://afterclass.example.edu/cohorts/")
        );
    }

    #[test]
    fn without_a_link_key_the_url_explains_which_setting_is_missing() {
        let links = Links { key: None, public_url: None };
        match links.chart_url(7, 42, day(1)) {
            Err(err) => assert!(err.message().contains("AFTERCLASS_LINK_SECRET"), "{}", err.message()),
            Ok(url) => panic!("a link without a key: {url}"),
        }
    }

    #[test]
    fn hex_and_query_strings_are_read_strictly() {
        assert_eq!(decode_hex("00ff7A"), Some(vec![0, 255, 122]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é0"), None);
        assert_eq!(link_params(Some("sig=ab&exp=1&exp=2")), (Some("1"), Some("ab")));
        assert_eq!(link_params(None), (None, None));
    }
}
