//! Nudges: keeping the momentum between meetings. A cohort's nudge policy says who should hear
//! what and when; [`due`] says which nudges are due for a snapshot of the cohort at a moment. It
//! is a pure function: the store records what it returns (once per member, kind and slot) and
//! delivers it.
//!
//! The rules:
//! - **The policy.** A cohort starts with [`Policy::default_for`] its horizon and meeting plan:
//!   check-in nudges follow the meeting rhythm (a WEEKLY plan every 7 days, a FORTNIGHTLY or
//!   MONTHLY one every 14), or without a plan the horizon (`SHORT_TERM` 7 days, `OPEN_ENDED` 14);
//!   meeting reminders [`DEFAULT_REMINDER_HOURS`] hours before; a leader digest on Mondays;
//!   [`DEFAULT_MAX_UNANSWERED`] unanswered check-in nudges at most. Leaders change it with
//!   [`Policy::change`]: check-in nudges every 1 to [`MAX_CHECK_IN_EVERY_DAYS`] days or off,
//!   reminders 1 to [`MAX_REMINDER_HOURS`] hours before or off, 1 to [`MAX_MAX_UNANSWERED`]
//!   unanswered nudges, any digest weekday.
//! - **Who hears nothing.** Nothing at all while the cohort is not `ACTIVE`; nothing to a member
//!   who is not `ACTIVE` (invited, left, removed) or who turned their own nudges off.
//! - **Local time.** Every time of day is in the cohort's zone; local times that do not exist or
//!   exist twice are read as [`crate::meeting`] reads them (a time in the spring-forward gap is
//!   shifted forward by the gap, one in the fall-back overlap is the earlier instant).
//! - **Quiet hours.** From 21:00 (inclusive) to 08:00 (exclusive) local time nothing is due:
//!   no nudge's `due_at` falls in them, and [`due`] asked at a moment in them answers nothing, so
//!   a nudge whose moment passed during the night (say, for a meeting scheduled late in the
//!   evening) is due at 08:00, if it still applies then.
//! - **CHECK_IN_DUE.** A member's *base* is the latest of their last check-in, their joining and
//!   the cohort's activation ([`check_in_base`]). With check-ins every N days, the k-th nudge
//!   since the base (k = unanswered nudges + 1) is due N×k local days after it at the same local
//!   time, so the rhythm keeps the wall clock across daylight-saving changes; a moment in the
//!   quiet hours moves forward to the next 08:00. Once `max_unanswered` nudges went unanswered
//!   the member is not nudged again and has [`gone_quiet`] (until they check in, which gives a
//!   new base, or leaders raise the maximum). Observers watch and learn: they are not nudged to
//!   check in. **Never a backlog:** only the next nudge is ever due, and when its moment was
//!   missed by more than a period (the engine was down, nudges were off) it is due at the latest
//!   period's moment that has passed, so a member hears at most one check-in nudge per period.
//!   Its slot is the base and the sequence number, `2026-12-01T08:00:00Z#2`.
//! - **MEETING_SOON.** For each meeting that has not started and that the member has not
//!   declined (the snapshot lists the meetings that will happen, not cancelled ones), H hours
//!   before it (real hours: across a daylight-saving change 48 hours before 19:00 can be 18:00 or
//!   20:00 local). A moment in the quiet hours moves *earlier*, to 20:00 local on the evening the
//!   quiet hours began (so by at most 12 hours): a reminder is never late and never skipped, and
//!   the member always has at least H hours' notice. Due from that moment until the meeting
//!   starts. Its slot is the meeting's key.
//! - **LEADER_DIGEST.** For each active leader, when the policy has digests: on the digest weekday
//!   at 08:00 local, due that day only (until the quiet hours begin): a digest that could not be
//!   sent that day is not sent later. None at a moment before the cohort's activation. Its slot
//!   is the local ISO week, `2026-W49`.
//! - **Once.** Each `(member, kind, slot)` is returned at most once per call (a member or a
//!   meeting listed twice counts once), and a slot does not change while a nudge stays due, so
//!   the store's unique key records each nudge once however often [`due`] is asked.

use std::collections::BTreeSet;

pub use chrono::Weekday;
use chrono::{
    DateTime, Datelike, Days, Duration, NaiveDateTime, NaiveTime, Offset, SecondsFormat, TimeZone, Timelike, Utc,
};
pub use chrono_tz::Tz;

use crate::DomainError;
use crate::cohort::{Horizon, MemberRole, named_enum};
use crate::meeting::{self, Cadence, Frequency, resolve_local};

named_enum!(
    /// What a nudge is about.
    NudgeKind { CheckInDue => "CHECK_IN_DUE", MeetingSoon => "MEETING_SOON", LeaderDigest => "LEADER_DIGEST" }
);

/// Quiet hours start at this local hour (inclusive)…
pub const QUIET_FROM_HOUR: u32 = 21;
/// …and end at this one (exclusive): a nudge moved out of them is due at this hour.
pub const QUIET_UNTIL_HOUR: u32 = 8;
/// A meeting reminder whose moment falls in the quiet hours moves back to this hour of the evening.
pub const EVENING_HOUR: u32 = 20;
/// The local hour of the leader digest.
pub const DIGEST_HOUR: u32 = 8;

/// Meeting reminders go out this many hours before a meeting unless leaders change it.
pub const DEFAULT_REMINDER_HOURS: u32 = 48;
/// Unanswered check-in nudges in a row after which a member counts as gone quiet, by default.
pub const DEFAULT_MAX_UNANSWERED: u32 = 3;
/// The longest check-in rhythm, in days.
pub const MAX_CHECK_IN_EVERY_DAYS: u32 = 90;
/// The earliest meeting reminder, in hours before the meeting (a week).
pub const MAX_REMINDER_HOURS: u32 = 168;
/// The most unanswered check-in nudges a policy may allow.
pub const MAX_MAX_UNANSWERED: u32 = 10;

/// How a cohort nudges its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Days without a check-in after which a member is nudged; `None`: no check-in nudges.
    pub check_in_every_days: Option<u32>,
    /// Hours before a meeting at which members are reminded; `None`: no reminders.
    pub meeting_reminder_hours: Option<u32>,
    pub leader_digest: bool,
    /// Unanswered check-in nudges in a row after which a member is no longer nudged.
    pub max_unanswered: u32,
    /// The weekday of the leader digest, at [`DIGEST_HOUR`] local.
    pub digest_weekday: Weekday,
}

/// A change to a policy, as submitted: `None` keeps a field; `Some(None)` turns a nudge off.
/// Numbers are as the API receives them and are checked by [`Policy::change`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyChange {
    pub check_in_every_days: Option<Option<i32>>,
    pub meeting_reminder_hours: Option<Option<i32>>,
    pub leader_digest: Option<bool>,
    pub max_unanswered: Option<i32>,
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub digest_weekday: Option<i32>,
}

fn bounded(field: &str, value: i32, max: u32, what: &str) -> Result<u32, DomainError> {
    match u32::try_from(value) {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(DomainError::invalid(field, format!("{field} must be 1 to {max} {what} (got {value})"))),
    }
}

impl Policy {
    /// The policy a cohort starts with: see the module's rules.
    pub fn default_for(horizon: Horizon, cadence: Option<&Cadence>) -> Policy {
        let check_in_every_days = match (cadence.map(|c| c.frequency), horizon) {
            (Some(Frequency::Weekly), _) => 7,
            (Some(Frequency::Fortnightly | Frequency::Monthly), _) => 14,
            (None, Horizon::ShortTerm) => 7,
            (None, Horizon::OpenEnded) => 14,
        };
        Policy {
            check_in_every_days: Some(check_in_every_days),
            meeting_reminder_hours: Some(DEFAULT_REMINDER_HOURS),
            leader_digest: true,
            max_unanswered: DEFAULT_MAX_UNANSWERED,
            digest_weekday: Weekday::Mon,
        }
    }

    /// The policy after a leader's change, every field checked; the first field at fault is
    /// named in the error.
    pub fn change(self, change: PolicyChange) -> Result<Policy, DomainError> {
        let mut p = self;
        if let Some(days) = change.check_in_every_days {
            p.check_in_every_days = days
                .map(|d| {
                    bounded("checkInEveryDays", d, MAX_CHECK_IN_EVERY_DAYS, "days, or null to turn check-in nudges off")
                })
                .transpose()?;
        }
        if let Some(hours) = change.meeting_reminder_hours {
            p.meeting_reminder_hours = hours
                .map(|h| {
                    bounded(
                        "meetingReminderHours",
                        h,
                        MAX_REMINDER_HOURS,
                        "hours before the meeting, or null to turn meeting reminders off",
                    )
                })
                .transpose()?;
        }
        if let Some(on) = change.leader_digest {
            p.leader_digest = on;
        }
        if let Some(n) = change.max_unanswered {
            p.max_unanswered = bounded("maxUnanswered", n, MAX_MAX_UNANSWERED, "unanswered check-in nudges")?;
        }
        if let Some(n) = change.digest_weekday {
            p.digest_weekday = meeting::weekday(n).map_err(|_| {
                DomainError::invalid(
                    "digestWeekday",
                    format!("digestWeekday must be 1 (Monday) to 7 (Sunday) (got {n})"),
                )
            })?;
        }
        Ok(p)
    }
}

/// What [`due`] needs to know of a cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Whether the cohort is `ACTIVE`.
    pub stage_active: bool,
    /// The cohort's time zone.
    pub zone: Tz,
    pub activated_at: DateTime<Utc>,
    pub members: Vec<Member>,
    /// The meetings that will happen (not cancelled ones); past ones are ignored.
    pub meetings: Vec<Meeting>,
}

/// One membership, as nudges see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub membership_id: i64,
    /// Whether the membership's status is `ACTIVE`.
    pub active: bool,
    pub role: MemberRole,
    /// The member's own choice.
    pub nudges_enabled: bool,
    /// When they became active.
    pub joined_at: DateTime<Utc>,
    pub last_check_in_at: Option<DateTime<Utc>>,
    /// How many CHECK_IN_DUE nudges were recorded since their [`check_in_base`] (after their last
    /// check-in): the nudges that went unanswered.
    pub check_in_nudges_since_last_check_in: u32,
}

/// One meeting occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    /// A stable id of the occurrence (the slot of its reminders).
    pub key: String,
    pub starts_at: DateTime<Utc>,
    /// The memberships that answered `NOT_GOING`.
    pub declined: Vec<i64>,
}

/// A nudge that is due. `(membership_id, kind, slot)` identifies it: it is recorded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub kind: NudgeKind,
    pub membership_id: i64,
    pub slot: String,
    /// When it became due (never in the quiet hours, never after the moment asked about).
    pub due_at: DateTime<Utc>,
}

/// Whether a member counts as gone quiet: `max_unanswered` check-in nudges in a row went
/// unanswered, so they are not nudged again until they check in.
pub fn gone_quiet(member: &Member, policy: &Policy) -> bool {
    member.check_in_nudges_since_last_check_in >= policy.max_unanswered
}

/// Where a member's check-in rhythm counts from: the latest of their last check-in, their joining
/// and the cohort's activation. The store counts the unanswered nudges since this moment.
pub fn check_in_base(snapshot: &Snapshot, member: &Member) -> DateTime<Utc> {
    let base = member.joined_at.max(snapshot.activated_at);
    member.last_check_in_at.map_or(base, |c| c.max(base))
}

/// Whether a moment falls in the quiet hours of a zone (also, to be safe, at the ends of time,
/// where its local time cannot be represented).
pub fn is_quiet(zone: Tz, at: DateTime<Utc>) -> bool {
    local(zone, at).is_none_or(|l| !(QUIET_UNTIL_HOUR..QUIET_FROM_HOUR).contains(&l.hour()))
}

/// The nudges due for a cohort at `now`, by the module's rules, ordered by `due_at`, member,
/// kind and slot.
pub fn due(snapshot: &Snapshot, policy: &Policy, now: DateTime<Utc>) -> Vec<Due> {
    let zone = snapshot.zone;
    if !snapshot.stage_active || now < snapshot.activated_at || is_quiet(zone, now) {
        return Vec::new();
    }
    let mut keys = BTreeSet::new();
    let meetings: Vec<&Meeting> =
        snapshot.meetings.iter().filter(|m| keys.insert(m.key.as_str()) && m.starts_at > now).collect();
    let mut ids = BTreeSet::new();
    let mut out = Vec::new();
    for member in &snapshot.members {
        if !ids.insert(member.membership_id) || !member.active || !member.nudges_enabled {
            continue;
        }
        out.extend(check_in_due(snapshot, policy, member, now));
        if let Some(hours) = policy.meeting_reminder_hours {
            for meeting in &meetings {
                if meeting.declined.contains(&member.membership_id) {
                    continue;
                }
                if let Some(due_at) = reminder_at(zone, meeting.starts_at, hours).filter(|t| *t <= now) {
                    out.push(Due {
                        kind: NudgeKind::MeetingSoon,
                        membership_id: member.membership_id,
                        slot: meeting.key.clone(),
                        due_at,
                    });
                }
            }
        }
        out.extend(digest_due(snapshot, policy, member, now));
    }
    out.sort_by(|a, b| {
        (a.due_at, a.membership_id, a.kind.as_str(), &a.slot).cmp(&(
            b.due_at,
            b.membership_id,
            b.kind.as_str(),
            &b.slot,
        ))
    });
    out
}

/// The next check-in nudge of a member, if it is due.
fn check_in_due(snapshot: &Snapshot, policy: &Policy, member: &Member, now: DateTime<Utc>) -> Option<Due> {
    let every = policy.check_in_every_days.filter(|d| *d > 0)?;
    if member.role == MemberRole::Observer || gone_quiet(member, policy) {
        return None;
    }
    let zone = snapshot.zone;
    let k = member.check_in_nudges_since_last_check_in.checked_add(1)?;
    let base = check_in_base(snapshot, member);
    let base_local = local(zone, base)?;
    // The periods whose moment may be the latest one passed: the moment of period p is on the
    // local date base + p×N (or the next morning), so it is one of the few around `now`'s date.
    let elapsed = (local(zone, now)?.date() - base_local.date()).num_days();
    let around = elapsed.div_euclid(i64::from(every));
    let first = i64::from(k);
    let due_at = (first.max(around - 2)..=first.max(around + 1))
        .rev()
        .find_map(|period| check_in_moment(zone, base_local, period, every).filter(|t| *t <= now))?;
    Some(Due {
        kind: NudgeKind::CheckInDue,
        membership_id: member.membership_id,
        slot: format!("{}#{k}", base.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        due_at,
    })
}

/// The moment of a check-in period: `period × every` local days after the base, at its local
/// time, out of the quiet hours.
fn check_in_moment(zone: Tz, base_local: NaiveDateTime, period: i64, every: u32) -> Option<DateTime<Utc>> {
    let days = u64::try_from(period.checked_mul(i64::from(every))?).ok()?;
    next_morning_if_quiet(zone, resolve_local(zone, base_local.checked_add_days(Days::new(days))?)?)
}

/// When a reminder `hours` before a meeting is due: see the module's rules.
fn reminder_at(zone: Tz, starts_at: DateTime<Utc>, hours: u32) -> Option<DateTime<Utc>> {
    let at = starts_at.checked_sub_signed(Duration::hours(i64::from(hours)))?;
    if !is_quiet(zone, at) {
        return Some(at);
    }
    let l = local(zone, at)?;
    let evening = if l.hour() >= QUIET_FROM_HOUR { l.date() } else { l.date().pred_opt()? };
    let moved = resolve_local(zone, evening.and_time(NaiveTime::from_hms_opt(EVENING_HOUR, 0, 0)?))?;
    (moved < at && !is_quiet(zone, moved)).then_some(moved)
}

/// The leader digest of a member, if it is due.
fn digest_due(snapshot: &Snapshot, policy: &Policy, member: &Member, now: DateTime<Utc>) -> Option<Due> {
    if !policy.leader_digest || member.role != MemberRole::Leader {
        return None;
    }
    let today = local(snapshot.zone, now)?.date();
    if today.weekday() != policy.digest_weekday {
        return None;
    }
    let at = resolve_local(snapshot.zone, today.and_time(NaiveTime::from_hms_opt(DIGEST_HOUR, 0, 0)?))?;
    let week = today.iso_week();
    (snapshot.activated_at <= at && at <= now).then(|| Due {
        kind: NudgeKind::LeaderDigest,
        membership_id: member.membership_id,
        slot: format!("{}-W{:02}", week.year(), week.week()),
        due_at: at,
    })
}

/// A moment in the quiet hours moves to the next 08:00 local; any other stays.
fn next_morning_if_quiet(zone: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !is_quiet(zone, at) {
        return Some(at);
    }
    let l = local(zone, at)?;
    let day = if l.hour() >= QUIET_FROM_HOUR { l.date().succ_opt()? } else { l.date() };
    let morning = resolve_local(zone, day.and_time(NaiveTime::from_hms_opt(QUIET_UNTIL_HOUR, 0, 0)?))?;
    (morning > at && !is_quiet(zone, morning)).then_some(morning)
}

/// The wall-clock time of an instant in a zone; `None` at the ends of time.
fn local(zone: Tz, at: DateTime<Utc>) -> Option<NaiveDateTime> {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc().checked_add_offset(offset)
}
