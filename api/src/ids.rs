//! Opaque, stable, type-tagged global IDs (`base64url("Cohort:42")`) and page cursors.

use std::ops::RangeInclusive;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// The kinds of object a global ID can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Person,
    Cohort,
    Membership,
    Goal,
    CheckIn,
    JoinRequest,
    /// An entry of the event log.
    CohortEvent,
    /// A meeting: named by its cohort and start, see [`encode_meeting`].
    Meeting,
    WebhookEndpoint,
    WebhookDelivery,
    Nudge,
}

impl Kind {
    const ALL: &[Kind] = &[
        Kind::Person,
        Kind::Cohort,
        Kind::Membership,
        Kind::Goal,
        Kind::CheckIn,
        Kind::JoinRequest,
        Kind::CohortEvent,
        Kind::WebhookEndpoint,
        Kind::WebhookDelivery,
        Kind::Nudge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Person => "Person",
            Kind::Cohort => "Cohort",
            Kind::Membership => "Membership",
            Kind::Goal => "Goal",
            Kind::CheckIn => "CheckIn",
            Kind::JoinRequest => "JoinRequest",
            Kind::CohortEvent => "CohortEvent",
            Kind::Meeting => "Meeting",
            Kind::WebhookEndpoint => "WebhookEndpoint",
            Kind::WebhookDelivery => "WebhookDelivery",
            Kind::Nudge => "Nudge",
        }
    }
}

pub fn encode(kind: Kind, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name()))
}

/// Reads any global ID back into its kind and row id.
pub fn decode_any(id: &str) -> Result<(Kind, i64), ApiError> {
    let bad = || ApiError::BadUserInput(format!("`{id}` is not a valid ID"));
    let raw = URL_SAFE_NO_PAD.decode(id.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (name, num) = text.split_once(':').ok_or_else(bad)?;
    let kind = Kind::ALL.iter().copied().find(|k| k.name() == name).ok_or_else(bad)?;
    let num = num.parse::<i64>().map_err(|_| bad())?;
    if num <= 0 {
        return Err(bad());
    }
    Ok((kind, num))
}

/// Reads a global ID that must name an object of `kind`.
pub fn decode(kind: Kind, id: &str) -> Result<i64, ApiError> {
    match decode_any(id)? {
        (k, num) if k == kind => Ok(num),
        (other, _) => Err(ApiError::BadUserInput(format!("expected a {} ID, got a {} ID", kind.name(), other.name()))),
    }
}

/// A meeting's ID names its cohort and its start (microseconds since the epoch), not a row:
/// `base64url("Meeting:42:1793725200000000")`. An occurrence of a cadence has the same ID before
/// and after something attached to it made it a row, since `(cohort_id, starts_at)` is unique.
pub fn encode_meeting(cohort_id: i64, starts_at: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{cohort_id}:{starts_at}", Kind::Meeting.name()))
}

/// The starts a meeting's ID may name, in microseconds: from 0001-01-01 to the end of 9999, the
/// years an RFC 3339 time (the API's `DateTime`) can write. Anything else names no meeting.
pub const MEETING_STARTS: RangeInclusive<i64> = -62_135_596_800_000_000..=253_402_300_799_999_999;

/// Reads a meeting's ID back into its cohort's row id and its start; `None` for any other kind
/// and for a start outside [`MEETING_STARTS`].
pub fn meeting_key(id: &str) -> Option<(i64, i64)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(id.as_bytes()).ok()?).ok()?;
    let rest = text.strip_prefix(Kind::Meeting.name())?.strip_prefix(':')?;
    let (cohort, starts) = rest.split_once(':')?;
    let (cohort, starts) = (cohort.parse::<i64>().ok()?, starts.parse::<i64>().ok()?);
    (cohort > 0 && MEETING_STARTS.contains(&starts)).then_some((cohort, starts))
}

/// Reads an ID that must name a meeting.
pub fn decode_meeting(id: &str) -> Result<(i64, i64), ApiError> {
    meeting_key(id).ok_or_else(|| ApiError::BadUserInput(format!("`{id}` is not a valid Meeting ID")))
}

pub fn cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("cursor:{id}"))
}

pub fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::BadUserInput(format!("`{cursor}` is not a valid cursor"));
    let raw = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix("cursor:").and_then(|n| n.parse::<i64>().ok()).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_carry_their_kind() {
        let id = encode(Kind::Cohort, 42);
        assert_eq!(decode(Kind::Cohort, &id).ok(), Some(42));
        assert!(matches!(decode(Kind::Goal, &id), Err(ApiError::BadUserInput(_))));
        assert!(matches!(decode_any("not-an-id!"), Err(ApiError::BadUserInput(_))));
        assert!(matches!(decode_any(&URL_SAFE_NO_PAD.encode("Cohort:-1")), Err(ApiError::BadUserInput(_))));
    }

    #[test]
    fn meeting_ids_name_a_cohort_and_a_start() {
        let id = encode_meeting(42, 1_793_725_200_000_000);
        assert_eq!(decode_meeting(&id).ok(), Some((42, 1_793_725_200_000_000)));
        assert!(meeting_key(&encode(Kind::Cohort, 42)).is_none());
        assert!(decode_any(&id).is_err(), "a meeting's ID names no single row");
        assert!(decode_meeting(&URL_SAFE_NO_PAD.encode("Meeting:0:5")).is_err());
        assert!(decode_meeting(&URL_SAFE_NO_PAD.encode("Meeting:4")).is_err());
    }

    #[test]
    fn meeting_ids_name_a_start_in_the_years_the_api_can_write() {
        let (first, last) = (*MEETING_STARTS.start(), *MEETING_STARTS.end());
        for start in [first, last, 0, -1] {
            assert_eq!(meeting_key(&encode_meeting(7, start)), Some((7, start)), "{start}");
        }
        for start in [first - 1, last + 1, i64::MIN, i64::MAX] {
            assert!(decode_meeting(&encode_meeting(7, start)).is_err(), "{start}");
        }
        assert!(chrono::DateTime::from_timestamp_micros(first).is_some_and(|t| t.to_rfc3339().starts_with("0001-")));
        assert!(chrono::DateTime::from_timestamp_micros(last).is_some_and(|t| t.to_rfc3339().starts_with("9999-")));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn decoding_any_text_never_panics(text in "\\PC{0,40}", raw in ".{0,40}") {
                for id in [text.clone(), URL_SAFE_NO_PAD.encode(&raw), URL_SAFE_NO_PAD.encode(format!("Meeting:{raw}"))] {
                    let _ = decode_any(&id);
                    let _ = meeting_key(&id);
                    let _ = decode_meeting(&id);
                    let _ = decode_cursor(&id);
                    for kind in Kind::ALL {
                        let _ = decode(*kind, &id);
                    }
                }
            }

            #[test]
            fn ids_round_trip(kind in 0usize..6, id in any::<i64>(), cohort in any::<i64>(), start in any::<i64>()) {
                let kind = Kind::ALL[kind];
                let decoded = decode(kind, &encode(kind, id)).ok();
                prop_assert_eq!(decoded, (id > 0).then_some(id));
                let meeting = meeting_key(&encode_meeting(cohort, start));
                prop_assert_eq!(meeting, (cohort > 0 && MEETING_STARTS.contains(&start)).then_some((cohort, start)));
                prop_assert_eq!(decode_cursor(&cursor(id)).ok(), Some(id));
            }
        }
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&cursor(7)).ok(), Some(7));
        assert!(decode_cursor("x").is_err());
    }
}
