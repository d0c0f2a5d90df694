//! Meeting regularly: a cohort's cadence, place and channel; the occurrences a cadence gives in
//! any window of time; and who may answer for or record attendance at a meeting, and when.
//!
//! Occurrences are computed, never stored ahead: [`occurrences`] gives those of a window and
//! refuses a window that would hold more than [`MAX_OCCURRENCES`], without computing them.
//!
//! The rules of time:
//! - **Local time is kept.** A cadence meets at a wall-clock time in an IANA time zone, so a
//!   19:00 Europe/Berlin meeting is at 19:00 local in winter and in summer; its instant in UTC
//!   moves by an hour across a daylight-saving change.
//! - **A local time that does not exist** (the spring-forward gap, e.g. 02:30 on the night
//!   clocks jump from 02:00 to 03:00) is read with the offset in force before the gap, which
//!   shifts it forward by the length of the gap: 02:30 becomes 03:30 in the new offset.
//! - **A local time that exists twice** (the fall-back overlap, e.g. 02:30 on the night clocks
//!   go back from 03:00 to 02:00) is the earlier of the two instants (the one still in summer
//!   time).
//! - **A cadence runs from its start date**, the local date (in its zone) on which it was set:
//!   it has no occurrences before that date.
//! - **FORTNIGHTLY counts fortnights from an anchor**: the first date on the cadence's weekday on
//!   or after its start date. Setting the same fortnightly weekday again keeps the anchor;
//!   changing the frequency or the weekday starts a new cadence with a new start date.
//! - **MONTHLY** meets on the Nth (1–4) or the last given weekday of each month.
//! - **Windows are half-open and catch meetings in progress**: a meeting is in `[from, to)`
//!   when it overlaps it, i.e. it starts before `to` and ends after `from`. A window that
//!   starts mid-meeting includes that meeting.

pub use chrono::Weekday;
use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
pub use chrono_tz::Tz;

use crate::access::Standing;
use crate::cohort::{MembershipStatus, named_enum};
use crate::stage::Stage;
use crate::text::{self, AGENDA, CANCEL_REASON, CHANNEL_ADDRESS, LOCATION, ONLINE_URL};
use crate::{DomainError, ErrorCode};

/// The most meetings one window may hold (the API's `Cohort.meetings` promises at most 200).
pub const MAX_OCCURRENCES: usize = 200;
/// The longest meeting, in minutes.
pub const MAX_DURATION_MINUTES: i32 = 24 * 60;
/// How far ahead a one-off meeting may be scheduled, in days.
pub const MAX_SCHEDULE_AHEAD_DAYS: i64 = 2 * 366;
/// The most attendance marks one call records.
pub const MAX_ATTENDANCE_ENTRIES: usize = 1_000;

named_enum!(
    /// How often a cadence meets.
    Frequency { Weekly => "WEEKLY", Fortnightly => "FORTNIGHTLY", Monthly => "MONTHLY" }
);

named_enum!(
    /// Where meetings happen.
    MeetingFormat { InPerson => "IN_PERSON", Online => "ONLINE", Blended => "BLENDED" }
);

named_enum!(
    /// The channel for the time between meetings.
    ChannelKind {
        MailingList => "MAILING_LIST",
        Forum => "FORUM",
        Chat => "CHAT",
        Hashtag => "HASHTAG",
        Other => "OTHER",
    }
);

named_enum!(
    /// A meeting is `SCHEDULED` until it is `CANCELLED` or its attendance is recorded (`HELD`).
    MeetingStatus { Scheduled => "SCHEDULED", Held => "HELD", Cancelled => "CANCELLED" }
);

named_enum!(
    /// A member's answer to a meeting.
    RsvpAnswer { Going => "GOING", Maybe => "MAYBE", NotGoing => "NOT_GOING" }
);

named_enum!(
    /// What a leader records of a member at a meeting.
    AttendanceMark { Present => "PRESENT", Absent => "ABSENT", Excused => "EXCUSED" }
);

/// Which week of the month a MONTHLY cadence meets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeekOfMonth {
    /// The first to fourth such weekday of the month.
    Nth(u8),
    /// The last such weekday of the month.
    Last,
}

impl WeekOfMonth {
    /// 1–4, or -1 for the last, as the API spells it.
    pub fn number(self) -> i32 {
        match self {
            WeekOfMonth::Nth(n) => i32::from(n),
            WeekOfMonth::Last => -1,
        }
    }

    pub fn parse(n: i32) -> Result<Self, DomainError> {
        match n {
            -1 => Ok(WeekOfMonth::Last),
            1..=4 => Ok(WeekOfMonth::Nth(n as u8)),
            _ => Err(DomainError::invalid(
                "weekOfMonth",
                format!("weekOfMonth must be 1 to 4, or -1 for the last (got {n})"),
            )),
        }
    }
}

/// A cadence as submitted, before validation.
#[derive(Debug, Clone)]
pub struct CadenceDraft {
    pub frequency: Frequency,
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub weekday: i32,
    /// `HH:MM`, 24-hour.
    pub local_time: String,
    /// An IANA zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub duration_minutes: i32,
    pub week_of_month: Option<i32>,
}

/// A regular rhythm of meetings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub frequency: Frequency,
    pub weekday: Weekday,
    pub local_time: NaiveTime,
    pub zone: Tz,
    pub duration_minutes: i32,
    /// Set for MONTHLY only.
    pub week_of_month: Option<WeekOfMonth>,
    /// The local date the cadence runs from; see the module's rules.
    pub starts_on: NaiveDate,
}

/// Reads an ISO weekday number.
pub fn weekday(n: i32) -> Result<Weekday, DomainError> {
    match n {
        1 => Ok(Weekday::Mon),
        2 => Ok(Weekday::Tue),
        3 => Ok(Weekday::Wed),
        4 => Ok(Weekday::Thu),
        5 => Ok(Weekday::Fri),
        6 => Ok(Weekday::Sat),
        7 => Ok(Weekday::Sun),
        _ => Err(DomainError::invalid("weekday", format!("weekday must be 1 (Monday) to 7 (Sunday) (got {n})"))),
    }
}

/// Reads a strict `HH:MM` wall-clock time.
pub fn local_time(text: &str) -> Result<NaiveTime, DomainError> {
    let bad = || DomainError::invalid("localTime", format!("localTime must be HH:MM, 00:00 to 23:59 (got `{text}`)"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m) = (h.parse::<u32>().map_err(|_| bad())?, m.parse::<u32>().map_err(|_| bad())?);
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad)
}

/// Reads an IANA time-zone name.
pub fn time_zone(name: &str) -> Result<Tz, DomainError> {
    name.trim().parse::<Tz>().map_err(|_| {
        DomainError::invalid("timeZone", format!("`{name}` is not an IANA time zone (e.g. Europe/Berlin)"))
    })
}

/// Checks a meeting's length in minutes.
pub fn duration_minutes(n: i32) -> Result<i32, DomainError> {
    if (1..=MAX_DURATION_MINUTES).contains(&n) {
        Ok(n)
    } else {
        Err(DomainError::invalid(
            "durationMinutes",
            format!("durationMinutes must be 1 to {MAX_DURATION_MINUTES} (got {n})"),
        ))
    }
}

impl Cadence {
    /// Validates a draft. `set_at` is when it is being set: the cadence runs from that moment's
    /// local date in its zone. When `previous` is the same fortnightly weekday, its start date
    /// (and so its anchor) is kept.
    pub fn parse(draft: &CadenceDraft, set_at: DateTime<Utc>, previous: Option<&Cadence>) -> Result<Self, DomainError> {
        let weekday = weekday(draft.weekday)?;
        let local_time = local_time(draft.local_time.trim())?;
        let zone = time_zone(&draft.time_zone)?;
        let duration_minutes = duration_minutes(draft.duration_minutes)?;
        let week_of_month = match (draft.frequency, draft.week_of_month) {
            (Frequency::Monthly, Some(n)) => Some(WeekOfMonth::parse(n)?),
            (Frequency::Monthly, None) => {
                return Err(DomainError::invalid(
                    "weekOfMonth",
                    "a MONTHLY cadence needs weekOfMonth: 1 to 4, or -1 for the last",
                ));
            }
            (_, Some(_)) => {
                return Err(DomainError::invalid("weekOfMonth", "weekOfMonth applies only to a MONTHLY cadence"));
            }
            (_, None) => None,
        };
        let mut starts_on = local_date(zone, set_at);
        if let Some(prev) = previous
            && draft.frequency == Frequency::Fortnightly
            && prev.frequency == Frequency::Fortnightly
            && prev.weekday == weekday
        {
            starts_on = prev.starts_on;
        }
        Ok(Cadence {
            frequency: draft.frequency,
            weekday,
            local_time,
            zone,
            duration_minutes,
            week_of_month,
            starts_on,
        })
    }

    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub fn weekday_number(&self) -> i32 {
        self.weekday.number_from_monday() as i32
    }

    /// `HH:MM`.
    pub fn local_time_text(&self) -> String {
        self.local_time.format("%H:%M").to_string()
    }

    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    pub fn duration(&self) -> Duration {
        Duration::minutes(i64::from(self.duration_minutes))
    }

    /// The first date on the cadence's weekday on or after its start date: where FORTNIGHTLY
    /// counts from.
    pub fn anchor(&self) -> NaiveDate {
        align_forward(self.starts_on, self.weekday).unwrap_or(self.starts_on)
    }

    /// The first date of the cadence on or after `day`, if the calendar has one.
    pub fn next_date(&self, day: NaiveDate) -> Option<NaiveDate> {
        let day = day.max(self.starts_on);
        match self.frequency {
            Frequency::Weekly => align_forward(day, self.weekday),
            Frequency::Fortnightly => {
                let anchor = self.anchor();
                let day = day.max(anchor);
                let fortnights = ((day - anchor).num_days() + 13).div_euclid(14);
                anchor.checked_add_signed(Duration::days(fortnights.checked_mul(14)?))
            }
            Frequency::Monthly => {
                let which = self.week_of_month.unwrap_or(WeekOfMonth::Nth(1));
                let (mut year, mut month) = (day.year(), day.month());
                // The first month whose meeting day is not before `day`: this one or the next.
                for _ in 0..2 {
                    let date = weekday_of_month(year, month, self.weekday, which)?;
                    if date >= day {
                        return Some(date);
                    }
                    (year, month) = if month == 12 { (year.checked_add(1)?, 1) } else { (year, month + 1) };
                }
                None
            }
        }
    }

    /// The occurrence on a date of the cadence; `None` at the ends of time, where its instant
    /// cannot be represented.
    pub fn occurrence_on(&self, date: NaiveDate) -> Option<Occurrence> {
        let starts_at = resolve_local(self.zone, date.and_time(self.local_time))?;
        Some(Occurrence { starts_at, ends_at: starts_at.checked_add_signed(self.duration())? })
    }

    /// The cadence's occurrences that end after `from`, in order: an endless, lazy sequence (it
    /// ends only at the end of representable time).
    pub fn occurrences_from(&self, from: DateTime<Utc>) -> impl Iterator<Item = Occurrence> + '_ {
        // A meeting in progress at `from` started at most its duration earlier; a local date can
        // be a day away from the UTC one.
        // (Its UTC date a day earlier is never after its local date, and needs no offset.)
        let earliest = from
            .checked_sub_signed(self.duration() + Duration::days(1))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
            .date_naive();
        let mut next = self.next_date(earliest);
        std::iter::from_fn(move || {
            let date = next?;
            next = date.succ_opt().and_then(|d| self.next_date(d));
            // A date whose instant cannot be represented is skipped (only at the ends of time).
            Some(self.occurrence_on(date))
        })
        .flatten()
        .filter(move |o| o.ends_at > from)
    }

    /// The cadence's occurrence starting at exactly `starts_at`, if it has one.
    pub fn occurrence_at(&self, starts_at: DateTime<Utc>) -> Option<Occurrence> {
        self.occurrences_from(starts_at).take_while(|o| o.starts_at <= starts_at).find(|o| o.starts_at == starts_at)
    }
}

/// The local date of an instant in a zone; the UTC date at the ends of time, where the local
/// one cannot be represented.
pub fn local_date(zone: Tz, at: DateTime<Utc>) -> NaiveDate {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc().checked_add_offset(offset).map_or(at.date_naive(), |local| local.date())
}

/// The first `weekday` on or after `day`.
fn align_forward(day: NaiveDate, weekday: Weekday) -> Option<NaiveDate> {
    let ahead = (7 + weekday.num_days_from_monday() - day.weekday().num_days_from_monday()) % 7;
    day.checked_add_signed(Duration::days(i64::from(ahead)))
}

/// The Nth or last `weekday` of a month.
pub fn weekday_of_month(year: i32, month: u32, weekday: Weekday, which: WeekOfMonth) -> Option<NaiveDate> {
    match which {
        WeekOfMonth::Nth(n) => NaiveDate::from_weekday_of_month_opt(year, month, weekday, n),
        WeekOfMonth::Last => {
            let first_of_next = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)?
            };
            let last = first_of_next.pred_opt()?;
            let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
            last.checked_sub_signed(Duration::days(i64::from(back)))
        }
    }
}

/// The instant of a wall-clock time in a zone, by the module's rules: a time in the
/// spring-forward gap is shifted forward by the gap; a time in the fall-back overlap is the
/// earlier instant. `None` only at the ends of representable time.
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => {
            // The offset in force before the gap: found an hour at a time before it (gaps are
            // an hour or so, a whole day at most, as when Samoa skipped 30 December 2011).
            let before = (1..=48).find_map(|hours| {
                match zone.from_local_datetime(&local.checked_sub_signed(Duration::hours(hours))?) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.offset().fix().local_minus_utc()),
                    LocalResult::None => None,
                }
            });
            Some(local.checked_sub_signed(Duration::seconds(i64::from(before.unwrap_or(0))))?.and_utc())
        }
    }
}

/// One meeting's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Occurrence {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Occurrence {
    /// Whether the meeting overlaps `[from, to)`.
    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.starts_at < to && self.ends_at > from
    }
}

/// A window of time asked about, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self, DomainError> {
        if to > from {
            Ok(Window { from, to })
        } else {
            Err(DomainError::invalid("to", "`to` must be later than `from`"))
        }
    }
}

/// The refusal of a window that holds more than `limit` meetings.
pub fn too_many(limit: usize) -> DomainError {
    DomainError::invalid(
        "to",
        format!("the window holds more than {limit} meetings; ask for a shorter window (at most {limit} meetings)"),
    )
}

/// The cadence's occurrences that overlap the window, in order. A window with more than `limit`
/// of them is refused as soon as the one past the limit is found: the rest are never computed.
pub fn occurrences(cadence: &Cadence, window: Window, limit: usize) -> Result<Vec<Occurrence>, DomainError> {
    let mut out = Vec::new();
    for o in cadence.occurrences_from(window.from).take_while(|o| o.starts_at < window.to) {
        if out.len() == limit {
            return Err(too_many(limit));
        }
        out.push(o);
    }
    Ok(out)
}

/// A place to meet, as submitted.
#[derive(Debug, Clone)]
pub struct PlaceDraft {
    pub format: MeetingFormat,
    pub location: Option<String>,
    pub online_url: Option<String>,
}

/// A valid place: a location for IN_PERSON and BLENDED, an online URL (or hashtag and slot) for
/// ONLINE and BLENDED, and nothing that does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub format: MeetingFormat,
    pub location: Option<String>,
    pub online_url: Option<String>,
}

impl Place {
    pub fn parse(draft: &PlaceDraft) -> Result<Place, DomainError> {
        let location = text::parse_optional(LOCATION, draft.location.as_deref())?;
        let online_url = text::parse_optional(ONLINE_URL, draft.online_url.as_deref())?;
        let (needs_location, needs_online) = match draft.format {
            MeetingFormat::InPerson => (true, false),
            MeetingFormat::Online => (false, true),
            MeetingFormat::Blended => (true, true),
        };
        let format = draft.format.as_str();
        match (needs_location, location.is_some()) {
            (true, false) => {
                return Err(DomainError::invalid("location", format!("a {format} meeting needs a location")));
            }
            (false, true) => {
                return Err(DomainError::invalid("location", "a location applies to IN_PERSON and BLENDED meetings"));
            }
            _ => {}
        }
        match (needs_online, online_url.is_some()) {
            (true, false) => {
                return Err(DomainError::invalid("onlineUrl", format!("a {format} meeting needs an onlineUrl")));
            }
            (false, true) => {
                return Err(DomainError::invalid("onlineUrl", "an onlineUrl applies to ONLINE and BLENDED meetings"));
            }
            _ => {}
        }
        Ok(Place { format: draft.format, location, online_url })
    }
}

/// The channel for in-between times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub kind: ChannelKind,
    pub address: String,
}

impl Channel {
    pub fn parse(kind: ChannelKind, address: &str) -> Result<Channel, DomainError> {
        Ok(Channel { kind, address: text::parse(CHANNEL_ADDRESS, address)? })
    }
}

/// Changing the meeting plan: any cohort that has not ended.
pub fn ensure_plannable(stage: Stage) -> Result<(), DomainError> {
    stage.ensure_writable()
}

/// A one-off meeting, validated as of `now`: it starts in the future (up to
/// [`MAX_SCHEDULE_AHEAD_DAYS`] ahead) and lasts 1 minute to a day; its agenda within limits.
pub fn one_off(
    stage: Stage,
    starts_at: DateTime<Utc>,
    duration: i32,
    agenda: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Occurrence, Option<String>), DomainError> {
    stage.ensure_writable()?;
    let duration = duration_minutes(duration)?;
    if starts_at <= now {
        return Err(DomainError::invalid(
            "startsAt",
            "a meeting is scheduled for the future: startsAt must be later than now",
        ));
    }
    if now.checked_add_signed(Duration::days(MAX_SCHEDULE_AHEAD_DAYS)).is_some_and(|latest| starts_at > latest) {
        return Err(DomainError::invalid(
            "startsAt",
            format!("a meeting is scheduled at most {MAX_SCHEDULE_AHEAD_DAYS} days ahead"),
        ));
    }
    let agenda = text::parse_optional(AGENDA, agenda)?;
    let ends_at = starts_at
        .checked_add_signed(Duration::minutes(i64::from(duration)))
        .ok_or_else(|| DomainError::invalid("startsAt", "startsAt is out of range"))?;
    Ok((Occurrence { starts_at, ends_at }, agenda))
}

/// What the rules need to know of one meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeetingFacts {
    pub status: MeetingStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

fn not_cancelled(meeting: &MeetingFacts) -> Result<(), DomainError> {
    if meeting.status == MeetingStatus::Cancelled {
        Err(DomainError::new(ErrorCode::RequirementsNotMet, "the meeting was cancelled"))
    } else {
        Ok(())
    }
}

/// Cancelling a meeting (the leaders' call): one that has not ended and was not held. Cancelling
/// a cancelled meeting changes nothing. Gives the reason to keep.
pub fn cancel(
    stage: Stage,
    meeting: &MeetingFacts,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<String>, DomainError> {
    stage.ensure_writable()?;
    let reason = text::parse_optional(CANCEL_REASON, reason)?;
    match meeting.status {
        MeetingStatus::Held => {
            Err(DomainError::new(ErrorCode::RequirementsNotMet, "the meeting was held: its attendance is recorded"))
        }
        MeetingStatus::Scheduled if meeting.ends_at <= now => Err(DomainError::new(
            ErrorCode::RequirementsNotMet,
            "the meeting has ended; it stays in the cohort's history as it was",
        )),
        _ => Ok(reason),
    }
}

/// Whether a member may answer for themselves: an active member of a cohort that has not ended,
/// for a meeting that is not cancelled and has not started.
pub fn ensure_may_rsvp(
    stage: Stage,
    member: Standing,
    meeting: &MeetingFacts,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    stage.ensure_writable()?;
    match member.status {
        Some(MembershipStatus::Active) => {}
        Some(MembershipStatus::Invited) => {
            return Err(DomainError::new(
                ErrorCode::ConductNotAccepted,
                "accept the cohort's code of conduct to become an active member before answering",
            ));
        }
        _ => {
            return Err(DomainError::new(
                ErrorCode::NotAMember,
                "only active members of the cohort answer for meetings",
            ));
        }
    }
    not_cancelled(meeting)?;
    if meeting.starts_at <= now {
        return Err(DomainError::new(ErrorCode::RequirementsNotMet, "answers close when the meeting starts"));
    }
    Ok(())
}

/// Whether attendance may be recorded (or corrected) now: in a cohort that has not ended, for a
/// meeting that is not cancelled and has started.
pub fn ensure_may_record_attendance(
    stage: Stage,
    meeting: &MeetingFacts,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    stage.ensure_writable()?;
    not_cancelled(meeting)?;
    if meeting.starts_at > now {
        return Err(DomainError::new(
            ErrorCode::RequirementsNotMet,
            "attendance is recorded once the meeting has started",
        ));
    }
    Ok(())
}

/// Whose attendance may be marked: anyone who was let into the cohort, even if they have left
/// since; not someone whose request to join is still open.
pub fn ensure_markable(status: Option<MembershipStatus>) -> Result<(), DomainError> {
    match status {
        Some(MembershipStatus::Requested) | None => {
            Err(DomainError::invalid("entries", "attendance is recorded for members of the cohort only"))
        }
        Some(_) => Ok(()),
    }
}

/// Checks a list of attendance entries' size and that each member is listed once.
pub fn ensure_entries<K: PartialEq>(entries: &[K]) -> Result<(), DomainError> {
    if entries.is_empty() {
        return Err(DomainError::invalid("entries", "list at least one member's attendance"));
    }
    if entries.len() > MAX_ATTENDANCE_ENTRIES {
        return Err(DomainError::invalid("entries", format!("at most {MAX_ATTENDANCE_ENTRIES} entries at once")));
    }
    if entries.iter().enumerate().any(|(i, e)| entries[..i].contains(e)) {
        return Err(DomainError::invalid("entries", "each member is listed at most once"));
    }
    Ok(())
}

/// PRESENT over marked members; `None` before anyone is marked.
pub fn attendance_rate(present: u64, marked: u64) -> Option<f64> {
    (marked > 0).then(|| present as f64 / marked as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cohort::MemberRole;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    fn cadence(
        frequency: Frequency,
        weekday: i32,
        time: &str,
        zone: &str,
        week: Option<i32>,
        set_at: DateTime<Utc>,
    ) -> Cadence {
        let draft = CadenceDraft {
            frequency,
            weekday,
            local_time: time.into(),
            time_zone: zone.into(),
            duration_minutes: 90,
            week_of_month: week,
        };
        Cadence::parse(&draft, set_at, None).unwrap()
    }

    fn starts(c: &Cadence, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        occurrences(c, Window::new(from, to).unwrap(), MAX_OCCURRENCES)
            .unwrap()
            .into_iter()
            .map(|o| o.starts_at)
            .collect()
    }

    fn local(c: &Cadence, t: DateTime<Utc>) -> String {
        t.with_timezone(&c.zone).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    #[test]
    fn a_berlin_evening_stays_at_19_00_local_across_both_changes() {
        // Tuesdays 19:00 Berlin; summer time starts on 29 March 2026 and ends on 25 October 2026.
        let c = cadence(Frequency::Weekly, 2, "19:00", "Europe/Berlin", None, utc(2026, 1, 1, 12, 0));
        let march = starts(&c, utc(2026, 3, 20, 0, 0), utc(2026, 4, 4, 0, 0));
        assert_eq!(march, [utc(2026, 3, 24, 18, 0), utc(2026, 3, 31, 17, 0)]);
        let october = starts(&c, utc(2026, 10, 18, 0, 0), utc(2026, 11, 4, 0, 0));
        assert_eq!(october, [utc(2026, 10, 20, 17, 0), utc(2026, 10, 27, 18, 0), utc(2026, 11, 3, 18, 0)]);
        for t in march.iter().chain(&october) {
            assert!(local(&c, *t).contains(" 19:00 "), "{}", local(&c, *t));
        }
    }

    #[test]
    fn a_new_york_evening_stays_at_19_00_local_across_both_changes() {
        // Thursdays 19:00 New York; daylight time from 8 March 2026 to 1 November 2026.
        let c = cadence(Frequency::Weekly, 4, "19:00", "America/New_York", None, utc(2026, 1, 1, 12, 0));
        let march = starts(&c, utc(2026, 3, 1, 0, 0), utc(2026, 3, 14, 0, 0));
        assert_eq!(march, [utc(2026, 3, 6, 0, 0), utc(2026, 3, 12, 23, 0)]);
        let november = starts(&c, utc(2026, 10, 28, 0, 0), utc(2026, 11, 7, 0, 0));
        assert_eq!(november, [utc(2026, 10, 29, 23, 0), utc(2026, 11, 6, 0, 0)]);
        for t in march.iter().chain(&november) {
            assert!(local(&c, *t).contains(" 19:00 "), "{}", local(&c, *t));
        }
    }

    #[test]
    fn a_time_in_the_spring_gap_is_shifted_forward_by_the_gap() {
        let berlin = time_zone("Europe/Berlin").unwrap();
        let at = |d: u32, h: u32, m: u32| NaiveDate::from_ymd_opt(2026, 3, d).unwrap().and_hms_opt(h, m, 0).unwrap();
        // 02:30 does not exist on 29 March 2026 in Berlin: it is read as 03:30 CEST.
        assert_eq!(resolve_local(berlin, at(29, 2, 30)), Some(utc(2026, 3, 29, 1, 30)));
        assert_eq!(resolve_local(berlin, at(29, 2, 0)), Some(utc(2026, 3, 29, 1, 0)));
        assert_eq!(resolve_local(berlin, at(29, 3, 0)), Some(utc(2026, 3, 29, 1, 0)));
        let new_york = time_zone("America/New_York").unwrap();
        assert_eq!(resolve_local(new_york, at(8, 2, 30)), Some(utc(2026, 3, 8, 7, 30)));
        // A weekly Sunday 02:30 meets at 03:30 local that night, and at 02:30 again a week later.
        let c = cadence(Frequency::Weekly, 7, "02:30", "Europe/Berlin", None, utc(2026, 3, 1, 12, 0));
        let got = starts(&c, utc(2026, 3, 28, 0, 0), utc(2026, 4, 6, 0, 0));
        assert_eq!(got, [utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 30)]);
        assert_eq!(local(&c, got[0]), "2026-03-29 03:30 CEST");
        // Samoa skipped 30 December 2011: its evening is shifted by the whole day.
        let apia = time_zone("Pacific/Apia").unwrap();
        let skipped = NaiveDate::from_ymd_opt(2011, 12, 30).unwrap().and_hms_opt(19, 0, 0).unwrap();
        assert_eq!(
            resolve_local(apia, skipped).map(|t| t.with_timezone(&apia).format("%d %H:%M").to_string()).as_deref(),
            Some("31 19:00")
        );
    }

    #[test]
    fn a_time_in_the_autumn_overlap_is_the_earlier_instant() {
        let berlin = time_zone("Europe/Berlin").unwrap();
        let at = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap().and_hms_opt(2, 30, 0).unwrap();
        // 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET): the first.
        assert_eq!(resolve_local(berlin, at), Some(utc(2026, 10, 25, 0, 30)));
        let new_york = time_zone("America/New_York").unwrap();
        let at = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(1, 30, 0).unwrap();
        assert_eq!(resolve_local(new_york, at), Some(utc(2026, 11, 1, 5, 30)));
        let c = cadence(Frequency::Weekly, 7, "02:30", "Europe/Berlin", None, utc(2026, 10, 1, 12, 0));
        assert_eq!(starts(&c, utc(2026, 10, 24, 0, 0), utc(2026, 10, 26, 0, 0)), [utc(2026, 10, 25, 0, 30)]);
    }

    #[test]
    fn monthly_meets_on_the_last_or_nth_weekday() {
        // Last Friday at 18:00 Berlin, from January 2026 (which has five Fridays).
        let c = cadence(Frequency::Monthly, 5, "18:00", "Europe/Berlin", Some(-1), utc(2026, 1, 1, 12, 0));
        let got: Vec<String> =
            starts(&c, utc(2026, 1, 1, 0, 0), utc(2026, 6, 1, 0, 0)).iter().map(|t| local(&c, *t)).collect();
        assert_eq!(
            got,
            [
                "2026-01-30 18:00 CET",
                "2026-02-27 18:00 CET",
                "2026-03-27 18:00 CET",
                "2026-04-24 18:00 CEST",
                "2026-05-29 18:00 CEST"
            ]
        );
        // The last Saturday of a month that ends on one is that day; December rolls into January.
        assert_eq!(weekday_of_month(2026, 10, Weekday::Sat, WeekOfMonth::Last), NaiveDate::from_ymd_opt(2026, 10, 31));
        assert_eq!(weekday_of_month(2026, 12, Weekday::Thu, WeekOfMonth::Last), NaiveDate::from_ymd_opt(2026, 12, 31));
        assert_eq!(weekday_of_month(2026, 2, Weekday::Sat, WeekOfMonth::Last), NaiveDate::from_ymd_opt(2026, 2, 28));
        // The fourth Friday of January is not its last.
        let c = cadence(Frequency::Monthly, 5, "18:00", "Europe/Berlin", Some(4), utc(2026, 1, 1, 12, 0));
        assert_eq!(starts(&c, utc(2026, 1, 1, 0, 0), utc(2026, 2, 1, 0, 0)), [utc(2026, 1, 23, 17, 0)]);
        // Second Tuesday, over a year end.
        let c = cadence(Frequency::Monthly, 2, "19:00", "America/New_York", Some(2), utc(2026, 11, 1, 12, 0));
        let got = starts(&c, utc(2026, 11, 1, 0, 0), utc(2027, 2, 1, 0, 0));
        assert_eq!(got, [utc(2026, 11, 11, 0, 0), utc(2026, 12, 9, 0, 0), utc(2027, 1, 13, 0, 0)]);
    }

    #[test]
    fn fortnightly_counts_from_the_first_weekday_on_or_after_the_start() {
        // Set on Wednesday 4 November 2026 for Mondays: the anchor is Monday 9 November.
        let c = cadence(Frequency::Fortnightly, 1, "18:00", "Europe/Berlin", None, utc(2026, 11, 4, 9, 0));
        assert_eq!(c.anchor(), NaiveDate::from_ymd_opt(2026, 11, 9).unwrap());
        let all = starts(&c, utc(2026, 10, 1, 0, 0), utc(2026, 12, 15, 0, 0));
        assert_eq!(all, [utc(2026, 11, 9, 17, 0), utc(2026, 11, 23, 17, 0), utc(2026, 12, 7, 17, 0)]);
        // A window that starts on an off week begins with the next fortnight.
        assert_eq!(starts(&c, utc(2026, 11, 15, 0, 0), utc(2026, 12, 1, 0, 0)), [utc(2026, 11, 23, 17, 0)]);
        // Set on the weekday itself, the anchor is that day; a late hour that day still counts.
        let c = cadence(Frequency::Fortnightly, 1, "18:00", "Europe/Berlin", None, utc(2026, 11, 9, 20, 0));
        assert_eq!(c.anchor(), NaiveDate::from_ymd_opt(2026, 11, 9).unwrap());
        // The same fortnightly weekday set again keeps its anchor; another weekday starts anew.
        let draft = CadenceDraft {
            frequency: Frequency::Fortnightly,
            weekday: 1,
            local_time: "19:30".into(),
            time_zone: "Europe/Berlin".into(),
            duration_minutes: 60,
            week_of_month: None,
        };
        let again = Cadence::parse(&draft, utc(2026, 11, 20, 9, 0), Some(&c)).unwrap();
        assert_eq!(again.anchor(), c.anchor());
        let moved = Cadence::parse(&CadenceDraft { weekday: 2, ..draft }, utc(2026, 11, 20, 9, 0), Some(&c)).unwrap();
        assert_eq!(moved.anchor(), NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
    }

    #[test]
    fn a_cadence_has_no_occurrences_before_it_was_set() {
        let c = cadence(Frequency::Weekly, 2, "19:00", "Europe/Berlin", None, utc(2026, 11, 4, 9, 0));
        assert_eq!(starts(&c, utc(2026, 10, 1, 0, 0), utc(2026, 11, 11, 0, 0)), [utc(2026, 11, 10, 18, 0)]);
    }

    #[test]
    fn a_window_that_starts_mid_meeting_includes_it() {
        // Tuesdays 19:00–20:30 Berlin (18:00–19:30 UTC in November).
        let c = cadence(Frequency::Weekly, 2, "19:00", "Europe/Berlin", None, utc(2026, 11, 1, 9, 0));
        let tuesday = utc(2026, 11, 10, 18, 0);
        assert_eq!(starts(&c, utc(2026, 11, 10, 18, 45), utc(2026, 11, 11, 0, 0)), [tuesday]);
        assert_eq!(starts(&c, utc(2026, 11, 10, 19, 29), utc(2026, 11, 10, 19, 30)), [tuesday]);
        // Ended at `from`: out. Starting at `to`: out (the window is half-open).
        assert!(starts(&c, utc(2026, 11, 10, 19, 30), utc(2026, 11, 17, 18, 0)).is_empty());
        assert_eq!(starts(&c, utc(2026, 11, 10, 12, 0), tuesday + Duration::seconds(1)), [tuesday]);
        assert!(starts(&c, utc(2026, 11, 10, 12, 0), tuesday).is_empty());
        assert_eq!(c.occurrence_at(tuesday).map(|o| o.ends_at), Some(utc(2026, 11, 10, 19, 30)));
        assert_eq!(c.occurrence_at(tuesday + Duration::minutes(1)), None);
    }

    #[test]
    fn a_window_of_more_than_200_meetings_is_refused_without_computing_them() {
        let c = cadence(Frequency::Weekly, 2, "19:00", "Europe/Berlin", None, utc(2026, 1, 1, 9, 0));
        // 200 Tuesdays fit; 201 do not.
        let from = utc(2026, 1, 1, 0, 0);
        let to200 = utc(2026, 1, 6, 18, 0) + Duration::weeks(199) + Duration::hours(2);
        assert_eq!(occurrences(&c, Window::new(from, to200).unwrap(), MAX_OCCURRENCES).unwrap().len(), 200);
        let err = occurrences(&c, Window::new(from, to200 + Duration::weeks(1)).unwrap(), MAX_OCCURRENCES).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), (ErrorCode::InvalidInput, Some("to")));
        // Ten thousand years ask for half a million meetings: refused at the 201st, at once.
        let started = std::time::Instant::now();
        let far = Window::new(from, from + Duration::days(3_650_000)).unwrap();
        assert!(occurrences(&c, far, MAX_OCCURRENCES).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(Window::new(from, from).is_err());
    }

    #[test]
    fn cadences_are_validated() {
        let ok = CadenceDraft {
            frequency: Frequency::Weekly,
            weekday: 2,
            local_time: "19:00".into(),
            time_zone: "Europe/Berlin".into(),
            duration_minutes: 90,
            week_of_month: None,
        };
        let now = utc(2026, 11, 1, 9, 0);
        assert!(Cadence::parse(&ok, now, None).is_ok());
        let field = |d: CadenceDraft| Cadence::parse(&d, now, None).unwrap_err().field.unwrap_or_default();
        assert_eq!(field(CadenceDraft { weekday: 0, ..ok.clone() }), "weekday");
        assert_eq!(field(CadenceDraft { weekday: 8, ..ok.clone() }), "weekday");
        for bad in ["24:00", "7:05", "19:60", "19h00", "", "19:00:00"] {
            assert_eq!(field(CadenceDraft { local_time: bad.into(), ..ok.clone() }), "localTime", "{bad}");
        }
        assert_eq!(field(CadenceDraft { time_zone: "Mars/Olympus".into(), ..ok.clone() }), "timeZone");
        assert_eq!(field(CadenceDraft { duration_minutes: 0, ..ok.clone() }), "durationMinutes");
        assert_eq!(field(CadenceDraft { duration_minutes: 1441, ..ok.clone() }), "durationMinutes");
        assert_eq!(field(CadenceDraft { week_of_month: Some(1), ..ok.clone() }), "weekOfMonth");
        let monthly = CadenceDraft { frequency: Frequency::Monthly, ..ok.clone() };
        assert_eq!(field(monthly.clone()), "weekOfMonth");
        for bad in [0, 5, -2] {
            assert_eq!(field(CadenceDraft { week_of_month: Some(bad), ..monthly.clone() }), "weekOfMonth");
        }
        let c = Cadence::parse(&CadenceDraft { week_of_month: Some(-1), ..monthly }, now, None).unwrap();
        assert_eq!((c.weekday_number(), c.local_time_text(), c.zone_name()), (2, "19:00".into(), "Europe/Berlin"));
        assert_eq!(c.week_of_month.map(WeekOfMonth::number), Some(-1));
    }

    #[test]
    fn places_need_what_their_format_uses() {
        let place = |format, location: Option<&str>, online: Option<&str>| {
            Place::parse(&PlaceDraft { format, location: location.map(Into::into), online_url: online.map(Into::into) })
        };
        assert!(place(MeetingFormat::InPerson, Some("Room 4"), None).is_ok());
        assert!(place(MeetingFormat::Online, None, Some("https://meet.example/rust")).is_ok());
        assert!(place(MeetingFormat::Blended, Some("Room 4"), Some("#rustcircle Tue 19:00")).is_ok());
        assert_eq!(place(MeetingFormat::InPerson, None, None).unwrap_err().field.as_deref(), Some("location"));
        assert_eq!(
            place(MeetingFormat::Online, Some("Room 4"), Some("x")).unwrap_err().field.as_deref(),
            Some("location")
        );
        assert_eq!(
            place(MeetingFormat::Blended, Some("Room 4"), Some("  ")).unwrap_err().field.as_deref(),
            Some("onlineUrl")
        );
        assert!(Channel::parse(ChannelKind::Hashtag, " ").is_err());
    }

    #[test]
    fn rsvps_are_for_active_members_before_the_start() {
        let now = utc(2026, 11, 10, 12, 0);
        let meeting = MeetingFacts {
            status: MeetingStatus::Scheduled,
            starts_at: utc(2026, 11, 10, 18, 0),
            ends_at: utc(2026, 11, 10, 19, 30),
        };
        let member = |status| Standing { role: Some(MemberRole::Member), status: Some(status) };
        assert!(ensure_may_rsvp(Stage::Active, member(MembershipStatus::Active), &meeting, now).is_ok());
        assert!(ensure_may_rsvp(Stage::Forming, member(MembershipStatus::Active), &meeting, now).is_ok());
        let code = |stage, who, m: &MeetingFacts, at| ensure_may_rsvp(stage, who, m, at).unwrap_err().code;
        assert_eq!(
            code(Stage::Active, member(MembershipStatus::Invited), &meeting, now),
            ErrorCode::ConductNotAccepted
        );
        assert_eq!(code(Stage::Active, member(MembershipStatus::Left), &meeting, now), ErrorCode::NotAMember);
        assert_eq!(code(Stage::Active, Standing::NONE, &meeting, now), ErrorCode::NotAMember);
        assert_eq!(code(Stage::Disbanded, member(MembershipStatus::Active), &meeting, now), ErrorCode::WrongStage);
        assert_eq!(
            code(Stage::Active, member(MembershipStatus::Active), &meeting, meeting.starts_at),
            ErrorCode::RequirementsNotMet
        );
        let cancelled = MeetingFacts { status: MeetingStatus::Cancelled, ..meeting };
        assert_eq!(
            code(Stage::Active, member(MembershipStatus::Active), &cancelled, now),
            ErrorCode::RequirementsNotMet
        );
    }

    #[test]
    fn attendance_is_recorded_from_the_start_and_can_be_corrected_later() {
        let meeting = MeetingFacts {
            status: MeetingStatus::Scheduled,
            starts_at: utc(2026, 11, 10, 18, 0),
            ends_at: utc(2026, 11, 10, 19, 30),
        };
        let before = meeting.starts_at - Duration::seconds(1);
        assert_eq!(
            ensure_may_record_attendance(Stage::Active, &meeting, before).unwrap_err().code,
            ErrorCode::RequirementsNotMet
        );
        assert!(ensure_may_record_attendance(Stage::Active, &meeting, meeting.starts_at).is_ok());
        let held = MeetingFacts { status: MeetingStatus::Held, ..meeting };
        assert!(ensure_may_record_attendance(Stage::Active, &held, meeting.starts_at + Duration::days(30)).is_ok());
        assert_eq!(
            ensure_may_record_attendance(Stage::Graduated, &held, meeting.ends_at).unwrap_err().code,
            ErrorCode::WrongStage
        );
        let cancelled = MeetingFacts { status: MeetingStatus::Cancelled, ..meeting };
        assert!(ensure_may_record_attendance(Stage::Active, &cancelled, meeting.ends_at).is_err());
        assert!(ensure_markable(Some(MembershipStatus::Left)).is_ok());
        assert!(ensure_markable(Some(MembershipStatus::Requested)).is_err());
        assert!(ensure_entries(&[1, 2, 3]).is_ok());
        assert!(ensure_entries::<i64>(&[]).is_err() && ensure_entries(&[1, 2, 1]).is_err());
        assert_eq!(attendance_rate(3, 4), Some(0.75));
        assert_eq!(attendance_rate(0, 0), None);
    }

    #[test]
    fn meetings_are_cancelled_before_they_end_and_never_once_held() {
        let now = utc(2026, 11, 10, 12, 0);
        let meeting = MeetingFacts {
            status: MeetingStatus::Scheduled,
            starts_at: utc(2026, 11, 10, 18, 0),
            ends_at: utc(2026, 11, 10, 19, 30),
        };
        assert_eq!(cancel(Stage::Active, &meeting, Some(" Room closed "), now), Ok(Some("Room closed".into())));
        assert!(cancel(Stage::Active, &meeting, None, meeting.ends_at).is_err());
        assert!(cancel(Stage::Active, &MeetingFacts { status: MeetingStatus::Held, ..meeting }, None, now).is_err());
        assert!(
            cancel(Stage::Active, &MeetingFacts { status: MeetingStatus::Cancelled, ..meeting }, None, now).is_ok()
        );
        assert_eq!(cancel(Stage::Disbanded, &meeting, None, now).unwrap_err().code, ErrorCode::WrongStage);
        // One-offs start in the future.
        assert!(one_off(Stage::Active, now + Duration::hours(1), 60, Some("Intro"), now).is_ok());
        assert_eq!(one_off(Stage::Active, now, 60, None, now).unwrap_err().field.as_deref(), Some("startsAt"));
        assert_eq!(
            one_off(Stage::Active, now + Duration::hours(1), 0, None, now).unwrap_err().field.as_deref(),
            Some("durationMinutes")
        );
        assert_eq!(
            one_off(Stage::Graduated, now + Duration::hours(1), 60, None, now).unwrap_err().code,
            ErrorCode::WrongStage
        );
    }

    #[test]
    fn names_read_back() {
        for v in Frequency::ALL {
            assert_eq!(Frequency::parse(v.as_str()), Some(*v));
        }
        for v in MeetingStatus::ALL {
            assert_eq!(MeetingStatus::parse(v.as_str()), Some(*v));
        }
        for v in AttendanceMark::ALL {
            assert_eq!(AttendanceMark::parse(v.as_str()), Some(*v));
        }
    }
}
