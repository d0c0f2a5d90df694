//! What the progress chart shows, read from the store: which cohort a request may chart, and
//! each goal's progress sampled over the cohort's life.
//!
//! Each goal's progress (as a fraction of its target, 0..1) is sampled at up to [`SAMPLES`]
//! moments from the cohort's activation (or creation) to now (or to its end, once it ended), or to
//! the end of the last deadline if that came earlier, and drawn against the linear pace line from activation to the goal's
//! deadline (goals without a deadline have none). Each sample reads the store's aggregates
//! (`store::progress::observations`, about four statements), so a chart costs a bounded number of
//! statements however many check-ins there are.

use afterclass_domain::access::Facet;
use afterclass_domain::goal::{self as dgoal, GoalSpec};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::app::access::Access;
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::ids::{self, Kind};
use crate::links::{Links, decode_hex};
use crate::render::svg::{ChartData, GoalSeries};
use crate::store::entities::{cohort, goal};
use crate::store::{Store, from_micros, progress, queries, to_micros};

/// The most moments a chart samples.
pub const SAMPLES: usize = 30;

/// The cohort a bearer's viewer may chart: `NOT_FOUND` for one they may not know of (or a
/// malformed ID), `FORBIDDEN` for one whose members' progress they may not read.
pub async fn cohort_for_viewer(store: &Store, viewer: &Viewer, id: &str) -> Result<cohort::Model, ApiError> {
    let conn = store.reader();
    let row_id = ids::decode(Kind::Cohort, id).map_err(|_| ApiError::not_found("cohort"))?;
    let cohort =
        queries::find_cohort(conn, viewer.tenant_id, row_id).await?.ok_or_else(|| ApiError::not_found("cohort"))?;
    let mine = queries::membership_of(conn, cohort.id, viewer.person_id()).await?;
    match Access::of(viewer.role, &cohort, mine.as_ref()).ensure(Facet::Activity) {
        Ok(()) => Ok(cohort),
        Err(ApiError::Forbidden(why)) => Err(ApiError::Forbidden(why)),
        Err(_) => Err(ApiError::not_found("cohort")),
    }
}

/// What a request with an expired, forged or malformed link is told.
pub const BAD_LINK: &str = "this link is invalid or has expired";

/// The cohort a signed link names; `UNAUTHENTICATED` ([`BAD_LINK`]) when the link is expired,
/// forged or malformed, or names no cohort.
pub async fn cohort_for_link(
    store: &Store,
    links: &Links,
    id: &str,
    exp: Option<&str>,
    sig: Option<&str>,
    now: DateTime<Utc>,
) -> Result<cohort::Model, ApiError> {
    let bad_link = || ApiError::Unauthenticated(BAD_LINK.into());
    let conn = store.reader();
    let exp = exp
        .filter(|e| !e.is_empty() && e.len() <= 18 && e.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(bad_link)?;
    if exp < now.timestamp() {
        return Err(bad_link());
    }
    let sig = sig.and_then(decode_hex).ok_or_else(bad_link)?;
    let row_id = ids::decode(Kind::Cohort, id).map_err(|_| bad_link())?;
    // The signature names the tenant: the cohort is looked up by its row id alone, and a
    // missing one is refused exactly like a bad signature.
    let cohort = cohort::Entity::find_by_id(row_id).one(conn).await?.ok_or_else(bad_link)?;
    if links.verify(cohort.tenant_id, cohort.id, exp, &sig) { Ok(cohort) } else { Err(bad_link()) }
}

/// Samples every goal of the cohort (see the module documentation).
pub async fn chart_data(store: &Store, cohort: &cohort::Model, now: DateTime<Utc>) -> Result<ChartData, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use afterclass_domain::goal::Aggregation;
    use chrono::{NaiveDate, TimeZone};

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).single().unwrap_or_default()
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
}
