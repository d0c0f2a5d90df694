//! What a private calendar feed shows, read from the store: the feed a token names, and the
//! member's own feed URL for `Membership.calendarFeedUrl`.
//!
//! `Membership.calendarFeedUrl` hands each member their own URL; only they see it, and it can be
//! shown again whenever the member asks for it (see `links` for how it is signed). A forged,
//! revoked or malformed token, or one of a membership that has left, names no feed.
//!
//! The feed holds the meetings from [`DAYS_BACK`] days ago to [`DAYS_AHEAD`] days ahead, at most
//! [`dm::MAX_OCCURRENCES`]. Each event's `UID` is the meeting's global ID, stable across fetches
//! and across the occurrence becoming a row.

use afterclass_domain::access;
use afterclass_domain::meeting::{self as dm, Window};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::app::access::standing;
use crate::error::ApiError;
use crate::ids;
use crate::links::{Feeds, parse_token};
use crate::render::ical::{FeedData, FeedMeeting};
use crate::store::entities::{cohort, membership};
use crate::store::meetings::{self as sm, Slot, calendar_feed, meeting_plan};
use crate::store::{Store, from_micros, to_micros};

/// How far back the feed reaches, in days.
pub const DAYS_BACK: i64 = 30;
/// How far ahead the feed reaches, in days.
pub const DAYS_AHEAD: i64 = 180;

/// The feed a token names; `NOT_FOUND` when it names none (malformed, forged, revoked, or of a
/// membership that no longer belongs to the cohort).
pub async fn feed_data(store: &Store, feeds: &Feeds, file: &str, now: DateTime<Utc>) -> Result<FeedData, ApiError> {
    let none = || ApiError::not_found("calendar");
    let (membership_id, sig) = parse_token(file).ok_or_else(none)?;
    let conn = store.reader();
    // The signature names the tenant: the membership is looked up by its row id alone, and a
    // missing one is refused exactly like a bad signature.
    let member = membership::Entity::find_by_id(membership_id).one(conn).await?.ok_or_else(none)?;
    let nonce = calendar_feed::Entity::find()
        .filter(calendar_feed::Column::MembershipId.eq(member.id))
        .one(conn)
        .await?
        .map(|f| f.nonce)
        .unwrap_or_default();
    if !feeds.verify(member.tenant_id, member.id, &nonce, &sig) || !access::calendar_feed_works(standing(Some(&member)))
    {
        return Err(none());
    }
    let cohort = cohort::Entity::find_by_id(member.cohort_id)
        .filter(cohort::Column::TenantId.eq(member.tenant_id))
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::Internal("a membership without its cohort".into()))?;
    let plan = meeting_plan::Entity::find_by_id(cohort.id).one(conn).await?;
    let window = Window { from: now - Duration::days(DAYS_BACK), to: now + Duration::days(DAYS_AHEAD) };
    let computed: Vec<dm::Occurrence> = match plan.as_ref().and_then(meeting_plan::Model::cadence) {
        Some(c) => {
            c.occurrences_from(window.from).take_while(|o| o.starts_at < window.to).take(dm::MAX_OCCURRENCES).collect()
        }
        None => Vec::new(),
    };
    let from = to_micros(window.from) - sm::LONGEST_MEETING_MICROS;
    let rows = sm::starting_between(conn, cohort.tenant_id, &[cohort.id], from, to_micros(window.to)).await?;
    let plan_place = plan.as_ref().and_then(meeting_plan::Model::place);
    let meetings = sm::merge(cohort.id, &computed, rows, window)
        .into_iter()
        .take(dm::MAX_OCCURRENCES)
        .map(|slot| feed_meeting(slot, plan_place.as_ref()))
        .collect();
    Ok(FeedData {
        cohort_name: cohort.name,
        channel: plan.as_ref().and_then(meeting_plan::Model::channel),
        generated_at: now,
        meetings,
    })
}

fn feed_meeting(slot: Slot, plan_place: Option<&dm::Place>) -> FeedMeeting {
    let status = slot.status();
    let row = slot.row.as_ref();
    FeedMeeting {
        uid: format!("{}@afterclass", ids::encode_meeting(slot.cohort_id, slot.starts_at)),
        starts_at: from_micros(slot.starts_at),
        ends_at: from_micros(slot.ends_at),
        status,
        agenda: row.and_then(|r| r.agenda.clone()),
        cancel_reason: row.and_then(|r| r.cancel_reason.clone()),
        place: row.and_then(sm::meeting::Model::own_place).or_else(|| plan_place.cloned()),
    }
}

/// For `Membership.calendarFeedUrl`: the member's own URL, or `None` for anyone else and for a
/// membership that no longer belongs to the cohort.
pub fn url_for(
    feeds: &Feeds,
    viewer_person: Option<i64>,
    member: &membership::Model,
    nonce: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if viewer_person != Some(member.person_id) || !access::calendar_feed_works(standing(Some(member))) {
        return Ok(None);
    }
    feeds.url(member.tenant_id, member.id, nonce.unwrap_or_default()).map(Some)
}
