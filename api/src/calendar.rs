//! Private calendar feeds: `GET /calendar/{token}.ics`, an iCalendar (RFC 5545) feed of one
//! member's cohort's meetings for calendar apps, which cannot send a bearer token.
//!
//! **The URL.** `Membership.calendarFeedUrl` hands each member their own URL; only they see it.
//! Its token is `base64url(membership row id, 8 bytes big-endian ‖ HMAC-SHA256)`, the HMAC taken
//! under the link key (`AFTERCLASS_LINK_SECRET`, or else the HS256 token secret) over
//! `calendar.ics:{tenant_id}:{membership_id}:{nonce}`. The nonce is random per membership and
//! kept in `calendar_feeds` (empty until the first revocation); revoking replaces it, so every
//! earlier URL stops working. The store holds no token and nothing a token can be made from
//! without the key, and the URL can be shown again whenever the member asks for it. A forged,
//! revoked or malformed token, or one of a membership that has left, gets 404.
//!
//! **The feed.** Meetings from [`DAYS_BACK`] days ago to [`DAYS_AHEAD`] days ahead, at most
//! [`dm::MAX_OCCURRENCES`]. Times are UTC (`…Z`); each event's `UID` is the meeting's global ID,
//! stable across fetches and across the occurrence becoming a row; cancelled meetings stay in
//! the feed with `STATUS:CANCELLED`. Text is escaped and lines are folded at 75 octets.

use std::sync::atomic::Ordering;

use afterclass_domain::access;

use crate::app::access::standing;
use afterclass_domain::meeting::{self as dm, MeetingFormat, MeetingStatus, Window};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::Sha256;

use crate::config::{Config, KeyConfig};
use crate::error::ApiError;
use crate::http::AppState;
use crate::ids;
use crate::store::entities::{cohort, membership};
use crate::store::meetings::{self as sm, Slot, calendar_feed, meeting_plan};
use crate::store::{self, Store, from_micros, to_micros};

/// How far back the feed reaches, in days.
pub const DAYS_BACK: i64 = 30;
/// How far ahead the feed reaches, in days.
pub const DAYS_AHEAD: i64 = 180;

type HmacSha256 = Hmac<Sha256>;

const NO_FEED_KEY: &str = "calendar feeds need a signing secret: this server verifies tokens with a public key, so \
                           AFTERCLASS_LINK_SECRET must be set";

/// Signs and checks calendar-feed URLs.
pub struct Feeds {
    key: Option<Vec<u8>>,
    public_url: Option<String>,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Feeds").field("has_key", &self.key.is_some()).field("public_url", &self.public_url).finish()
    }
}

impl Feeds {
    /// The key is `AFTERCLASS_LINK_SECRET`, or else the HS256 token secret, as for chart links.
    pub fn new(config: &Config) -> Feeds {
        let key = config.link_secret.clone().or_else(|| match &config.auth.key {
            KeyConfig::Hs256(secret) => Some(secret.clone()),
            KeyConfig::Rs256Pem(_) | KeyConfig::EdDsaPem(_) => None,
        });
        Feeds { key, public_url: config.public_url.clone() }
    }

    fn mac(&self, tenant_id: i64, membership_id: i64, nonce: &str) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(self.key.as_deref()?).ok()?;
        mac.update(format!("calendar.ics:{tenant_id}:{membership_id}:{nonce}").as_bytes());
        Some(mac)
    }

    /// The member's feed URL: a path, prefixed by the public URL when one is configured.
    pub fn url(&self, tenant_id: i64, membership_id: i64, nonce: &str) -> Result<String, ApiError> {
        if self.key.is_none() {
            return Err(ApiError::forbidden(NO_FEED_KEY));
        }
        let mac = self
            .mac(tenant_id, membership_id, nonce)
            .ok_or_else(|| ApiError::Internal("the link key was refused by HMAC".into()))?;
        let mut raw = membership_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&mac.finalize().into_bytes());
        Ok(format!("{}/calendar/{}.ics", self.public_url.as_deref().unwrap_or(""), URL_SAFE_NO_PAD.encode(raw)))
    }

    /// Whether `sig` signs the membership's feed with its current nonce, compared in constant time.
    fn verify(&self, tenant_id: i64, membership_id: i64, nonce: &str, sig: &[u8]) -> bool {
        self.mac(tenant_id, membership_id, nonce).is_some_and(|mac| mac.verify_slice(sig).is_ok())
    }
}

/// A fresh random nonce for a membership's feed.
pub fn new_nonce() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a calendar feed: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Reads a token into the membership row id and the signature.
fn parse_token(file: &str) -> Option<(i64, Vec<u8>)> {
    let token = file.strip_suffix(".ics")?;
    if token.len() > 100 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    if raw.len() != 8 + 32 {
        return None;
    }
    let (id, sig) = raw.split_at(8);
    let id = i64::from_be_bytes(id.try_into().ok()?);
    (id > 0).then(|| (id, sig.to_vec()))
}

/// What a feed shows, everything [`render`] needs.
#[derive(Debug, Clone)]
pub struct FeedData {
    pub cohort_name: String,
    pub channel: Option<dm::Channel>,
    pub generated_at: DateTime<Utc>,
    pub meetings: Vec<FeedMeeting>,
}

/// One meeting of a feed.
#[derive(Debug, Clone)]
pub struct FeedMeeting {
    pub uid: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: MeetingStatus,
    pub agenda: Option<String>,
    pub cancel_reason: Option<String>,
    pub place: Option<dm::Place>,
}

/// `GET /calendar/{token}.ics`.
pub async fn feed(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let now = store::now();
    match feed_data(&state.store, &state.feeds, &file, now).await {
        Ok(Some(data)) => (
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "private, max-age=300"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            render(&data),
        )
            .into_response(),
        Ok(None) => plain(StatusCode::NOT_FOUND, "calendar not found"),
        Err(cause) => {
            tracing::error!(%cause, "serving a calendar feed");
            state.counters.internal_errors.fetch_add(1, Ordering::Relaxed);
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        format!("{text}\n"),
    )
        .into_response()
}

/// The feed a token names, or `None` when it names none (malformed, forged, revoked, or of a
/// membership that no longer belongs to the cohort).
async fn feed_data(store: &Store, feeds: &Feeds, file: &str, now: DateTime<Utc>) -> Result<Option<FeedData>, String> {
    let fault = |e: sea_orm::DbErr| format!("database: {e}");
    let Some((membership_id, sig)) = parse_token(file) else { return Ok(None) };
    let conn = store.reader();
    // The signature names the tenant: the membership is looked up by its row id alone, and a
    // missing one is refused exactly like a bad signature.
    let Some(member) = membership::Entity::find_by_id(membership_id).one(conn).await.map_err(fault)? else {
        return Ok(None);
    };
    let nonce = calendar_feed::Entity::find()
        .filter(calendar_feed::Column::MembershipId.eq(member.id))
        .one(conn)
        .await
        .map_err(fault)?
        .map(|f| f.nonce)
        .unwrap_or_default();
    if !feeds.verify(member.tenant_id, member.id, &nonce, &sig) || !access::calendar_feed_works(standing(Some(&member)))
    {
        return Ok(None);
    }
    let cohort = cohort::Entity::find_by_id(member.cohort_id)
        .filter(cohort::Column::TenantId.eq(member.tenant_id))
        .one(conn)
        .await
        .map_err(fault)?
        .ok_or_else(|| "a membership without its cohort".to_owned())?;
    let plan = meeting_plan::Entity::find_by_id(cohort.id).one(conn).await.map_err(fault)?;
    let window = Window { from: now - Duration::days(DAYS_BACK), to: now + Duration::days(DAYS_AHEAD) };
    let computed: Vec<dm::Occurrence> = match plan.as_ref().and_then(meeting_plan::Model::cadence) {
        Some(c) => {
            c.occurrences_from(window.from).take_while(|o| o.starts_at < window.to).take(dm::MAX_OCCURRENCES).collect()
        }
        None => Vec::new(),
    };
    let from = to_micros(window.from) - sm::LONGEST_MEETING_MICROS;
    let rows =
        sm::starting_between(conn, cohort.tenant_id, &[cohort.id], from, to_micros(window.to)).await.map_err(fault)?;
    let plan_place = plan.as_ref().and_then(meeting_plan::Model::place);
    let meetings = sm::merge(cohort.id, &computed, rows, window)
        .into_iter()
        .take(dm::MAX_OCCURRENCES)
        .map(|slot| feed_meeting(slot, plan_place.as_ref()))
        .collect();
    Ok(Some(FeedData {
        cohort_name: cohort.name,
        channel: plan.as_ref().and_then(meeting_plan::Model::channel),
        generated_at: now,
        meetings,
    }))
}

fn feed_meeting(slot: Slot, plan_place: Option<&dm::Place>) -> FeedMeeting {
    let status = slot.status();
    let row = slot.row.as_ref();
    FeedMeeting {
        uid: format!("{}@afterclass", ids::encode_meeting(slot.cohort_id, slot.starts_at).0),
        starts_at: from_micros(slot.starts_at),
        ends_at: from_micros(slot.ends_at),
        status,
        agenda: row.and_then(|r| r.agenda.clone()),
        cancel_reason: row.and_then(|r| r.cancel_reason.clone()),
        place: row.and_then(sm::meeting::Model::own_place).or_else(|| plan_place.cloned()),
    }
}

/// The feed as an RFC 5545 calendar, written by `icalendar` (CRLF line ends, lines folded at 75
/// octets without splitting a character, TEXT escaped). Stored text keeps CR LF and CR line
/// breaks, which `icalendar` would pass through raw, so they are read as LF first.
pub fn render(data: &FeedData) -> String {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//Afterclass//Meetings//EN"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", "PUBLISH"))
        .append_property(Property::new("X-WR-CALNAME", line_breaks(&data.cohort_name)));
    for m in &data.meetings {
        let cancelled = m.status == MeetingStatus::Cancelled;
        let mut event = Event::new();
        event
            .uid(&m.uid)
            .timestamp(data.generated_at)
            .starts(m.starts_at)
            .ends(m.ends_at)
            .summary(&line_breaks(&data.cohort_name))
            .status(if cancelled { EventStatus::Cancelled } else { EventStatus::Confirmed })
            // A cancellation is a revision of the event, which calendar apps notice by its sequence.
            .sequence(u32::from(cancelled));
        if let Some(place) = &m.place {
            let location = match place.format {
                MeetingFormat::Online => place.online_url.as_deref(),
                MeetingFormat::InPerson | MeetingFormat::Blended => place.location.as_deref(),
            };
            if let Some(location) = location {
                event.location(&line_breaks(location));
            }
        }
        let mut description = Vec::new();
        if let (true, Some(reason)) = (cancelled, &m.cancel_reason) {
            description.push(format!("Cancelled: {reason}"));
        }
        if let Some(agenda) = &m.agenda {
            description.push(agenda.clone());
        }
        if let Some(online) =
            m.place.as_ref().filter(|p| p.format == MeetingFormat::Blended).and_then(|p| p.online_url.as_deref())
        {
            description.push(format!("Online: {online}"));
        }
        if let Some(channel) = &data.channel {
            description.push(format!(
                "Between meetings: {} ({})",
                channel.address,
                channel.kind.as_str().to_lowercase().replace('_', " ")
            ));
        }
        if !description.is_empty() {
            event.description(&line_breaks(&description.join("\n\n")));
        }
        calendar.push(event.done());
    }
    calendar.done().to_string()
}

/// Text with every line break as LF, and without control characters other than tab and LF.
fn line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n'))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn text_is_escaped() {
        let at = Utc.with_ymd_and_hms(2026, 11, 10, 18, 0, 0).single().unwrap();
        let data = FeedData {
            cohort_name: "a,b;c\\d\ne\r\nf\u{7}g\th".into(),
            channel: None,
            generated_at: at,
            meetings: vec![],
        };
        assert!(render(&data).contains("\r\nX-WR-CALNAME:a\\,b\\;c\\\\d\\ne\\nfg\th\r\n"), "{}", render(&data));
        assert_eq!(line_breaks("a\r\nb\rc\u{0}"), "a\nb\nc");
    }

    #[test]
    fn lines_fold_at_75_octets_without_splitting_characters() {
        let at = Utc.with_ymd_and_hms(2026, 11, 10, 18, 0, 0).single().unwrap();
        let meeting = FeedMeeting {
            uid: "x@afterclass".into(),
            starts_at: at,
            ends_at: at + Duration::minutes(90),
            status: MeetingStatus::Scheduled,
            agenda: Some("é".repeat(100)),
            cancel_reason: None,
            place: None,
        };
        let data = FeedData { cohort_name: "é".repeat(50), channel: None, generated_at: at, meetings: vec![meeting] };
        let out = render(&data);
        assert!(out.ends_with("END:VCALENDAR\r\n"), "{out}");
        for physical in out.split_terminator("\r\n") {
            assert!(physical.len() <= 75, "{} octets: {physical}", physical.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("\r\nDESCRIPTION:{}\r\n", "é".repeat(100))), "{unfolded}");
        assert!(out.contains("\r\nVERSION:2.0\r\n"), "{out}");
    }

    #[test]
    fn tokens_name_their_membership_and_refuse_anything_else() {
        let feeds = Feeds { key: Some(b"a-test-key-of-some-length".to_vec()), public_url: None };
        let url = feeds.url(1, 42, "").unwrap();
        let file = url.strip_prefix("/calendar/").unwrap();
        let (id, sig) = parse_token(file).unwrap();
        assert_eq!(id, 42);
        assert!(feeds.verify(1, 42, "", &sig));
        assert!(!feeds.verify(2, 42, "", &sig), "another tenant");
        assert!(!feeds.verify(1, 42, "rotated", &sig), "revoked");
        assert!(parse_token("x.ics").is_none() && parse_token(file.trim_end_matches(".ics")).is_none());
        let none = Feeds { key: None, public_url: None };
        assert!(matches!(none.url(1, 42, ""), Err(ApiError::Forbidden(_))));
    }

    #[test]
    fn a_cancelled_meeting_is_marked_so() {
        let at = Utc.with_ymd_and_hms(2026, 11, 10, 18, 0, 0).single().unwrap();
        let data = FeedData {
            cohort_name: "Rust, practice; circle".into(),
            channel: None,
            generated_at: at,
            meetings: vec![FeedMeeting {
                uid: "x@afterclass".into(),
                starts_at: at,
                ends_at: at + Duration::minutes(90),
                status: MeetingStatus::Cancelled,
                agenda: None,
                cancel_reason: Some("Room closed".into()),
                place: None,
            }],
        };
        let text = render(&data);
        assert!(text.contains("\r\nSTATUS:CANCELLED\r\n"), "{text}");
        assert!(text.contains("\r\nDTSTART:20261110T180000Z\r\n"), "{text}");
        assert!(text.contains("SUMMARY:Rust\\, practice\\; circle\r\n"), "{text}");
        assert!(text.contains("X-WR-CALNAME:Rust\\, practice\\; circle\r\n"), "{text}");
        assert!(text.contains("\r\nSEQUENCE:1\r\n") && text.contains("\r\nUID:x@afterclass\r\n"), "{text}");
        assert!(text.contains("\r\nDTSTAMP:20261110T180000Z\r\n"), "{text}");
    }
}
