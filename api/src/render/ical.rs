//! A calendar feed written as iCalendar (RFC 5545). Pure: [`render`] writes from [`FeedData`]
//! alone. Times are UTC (`…Z`); cancelled meetings stay in the feed with `STATUS:CANCELLED`.
//! Text is escaped and lines are folded at 75 octets.

use afterclass_domain::meeting::{self as dm, MeetingFormat, MeetingStatus};
use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

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
