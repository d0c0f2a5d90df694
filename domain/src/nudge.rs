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
//!   check in. **Never a backlog:** only the next nudge is ever due, at the moment of the latest
//!   period that has passed (later than the k-th's when the engine was down or nudges were off),
//!   and not while the latest nudge recorded since the base was due at that moment or later: a
//!   member hears at most one check-in nudge per period, however long the engine was away. Its
//!   slot is the base and the sequence number, `2026-12-01T08:00:00Z#2`.
//! - **MEETING_SOON.** For each meeting that has not started and that the member has not
//!   declined (the snapshot lists the meetings that will happen, not cancelled ones), H hours
//!   before it (real hours: across a daylight-saving change 48 hours before 19:00 can be 18:00 or
//!   20:00 local). A moment in the quiet hours moves *earlier*, to 20:00 local on the evening the
//!   quiet hours began (by 1 to 12 hours of the clock; 13 real hours on a fall-back night), so a
//!   reminder never comes later than H hours before the meeting and never at night. Due from
//!   that moment until the meeting starts, to every active member who has not declined
//!   (observers too). Its slot is the meeting's key.
//! - **LEADER_DIGEST.** For each active leader, when the policy has digests: on the digest weekday
//!   at 08:00 local, due that day only (until the quiet hours begin): a digest that could not be
//!   sent that day is not sent later. None for a day whose 08:00 came before the cohort's
//!   activation. Its slot is the local ISO week of that day, `2026-W49`.
//! - **Once.** Each `(member, kind, slot)` is returned at most once per call (a member or a
//!   meeting listed twice counts once), and a slot does not change while a nudge stays due, so
//!   the store's unique key records each nudge once however often [`due`] is asked.
//! - **Sending by mail.** A nudge found due goes out at once, or at 08:00 local when found in the
//!   quiet hours ([`out_of_quiet_hours`]); a failed attempt is tried again after 1 min, 5 min,
//!   30 min and 2 h, never in the quiet hours either ([`send_retry_at`]), and the nudge has failed
//!   after [`MAX_SEND_ATTEMPTS`] attempts.

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
    /// The `due_at` of the latest of those nudges, if any: a period has one nudge at most.
    pub last_check_in_nudge_due_at: Option<DateTime<Utc>>,
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
    // That period had its nudge already (one recorded since the base was due then or later).
    if member.last_check_in_nudge_due_at.is_some_and(|last| last >= base && last >= due_at) {
        return None;
    }
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

/// The waits after a failed attempt to send a nudge by mail: after the 1st, 2nd, 3rd and 4th.
/// After the [`MAX_SEND_ATTEMPTS`]th failure the nudge has failed.
pub const SEND_RETRY_WAITS: [Duration; 4] =
    [Duration::minutes(1), Duration::minutes(5), Duration::minutes(30), Duration::hours(2)];
/// Attempts at sending one nudge by mail before it counts as failed.
pub const MAX_SEND_ATTEMPTS: u32 = 5;

/// When to try again to send a nudge whose `attempts`-th attempt (counting from 1) failed at
/// `now`: after the attempt's wait in [`SEND_RETRY_WAITS`], moved out of the quiet hours of the
/// cohort's zone to the next 08:00 local (a nudge is never sent at night, retries included).
/// `None`: that was the last attempt, the nudge has failed.
pub fn send_retry_at(zone: Tz, attempts: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if attempts >= MAX_SEND_ATTEMPTS {
        return None;
    }
    let wait = SEND_RETRY_WAITS.get(usize::try_from(attempts.max(1) - 1).ok()?)?;
    out_of_quiet_hours(zone, now.checked_add_signed(*wait)?)
}

/// The moment itself, or, in the quiet hours, the next 08:00 local: when a nudge found due to be
/// sent at `at` may go out. `None` only at the ends of time.
pub fn out_of_quiet_hours(zone: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    next_morning_if_quiet(zone, at)
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

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::meeting::CadenceDraft;

    fn tz(name: &str) -> Tz {
        name.parse().unwrap()
    }

    /// A local wall-clock time, `YYYY-MM-DD HH:MM`, read by the module's rules.
    fn at(zone: Tz, text: &str) -> DateTime<Utc> {
        resolve_local(zone, NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    }

    fn show(zone: Tz, t: DateTime<Utc>) -> String {
        t.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    fn member(id: i64, role: MemberRole, joined_at: DateTime<Utc>) -> Member {
        Member {
            membership_id: id,
            active: true,
            role,
            nudges_enabled: true,
            joined_at,
            last_check_in_at: None,
            check_in_nudges_since_last_check_in: 0,
            last_check_in_nudge_due_at: None,
        }
    }

    fn snapshot(zone: Tz, activated: &str, members: Vec<Member>, meetings: Vec<Meeting>) -> Snapshot {
        Snapshot { stage_active: true, zone, activated_at: at(zone, activated), members, meetings }
    }

    fn meeting(key: &str, starts_at: DateTime<Utc>, declined: &[i64]) -> Meeting {
        Meeting { key: key.into(), starts_at, declined: declined.to_vec() }
    }

    /// 7-day check-ins, reminders 48 h before, Monday digests, 3 unanswered at most.
    fn policy() -> Policy {
        Policy::default_for(Horizon::ShortTerm, None)
    }

    fn of_kind(s: &Snapshot, p: &Policy, now: DateTime<Utc>, kind: NudgeKind) -> Vec<Due> {
        due(s, p, now).into_iter().filter(|d| d.kind == kind).collect()
    }

    /// A nudge due from `expected` (local, to the minute): not a minute before, exactly then with
    /// its slot, and still the same nudge a minute later (unless the quiet hours began).
    fn assert_due_from(name: &str, s: &Snapshot, p: &Policy, kind: NudgeKind, expected: &str, slot: &str) {
        let zone = s.zone;
        let due_at = at(zone, &expected[..16]);
        let minute = Duration::minutes(1);
        assert_eq!(of_kind(s, p, due_at - minute, kind), [], "{name}: due a minute early");
        let want = vec![Due { kind, membership_id: 1, slot: slot.into(), due_at }];
        let got = of_kind(s, p, due_at, kind);
        assert_eq!(got, want, "{name}: {:?}", got.iter().map(|d| show(zone, d.due_at)).collect::<Vec<_>>());
        assert_eq!(show(zone, due_at), expected, "{name}");
        if !is_quiet(zone, due_at + minute) {
            assert_eq!(of_kind(s, p, due_at + minute, kind), want, "{name}: not due a minute later");
        }
    }

    /// Asks `due` minute by minute over `[from, to)` and lists each nudge the first time it is
    /// due, as (kind, member, slot, first minute asked, its due_at), both local; checks nothing is
    /// ever due in the quiet hours.
    fn sweep(s: &Snapshot, p: &Policy, from: &str, to: &str) -> Vec<(NudgeKind, i64, String, String, String)> {
        let zone = s.zone;
        let (mut now, end) = (at(zone, from), at(zone, to));
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        while now < end {
            let got = due(s, p, now);
            assert!(got.is_empty() || !is_quiet(zone, now), "due in the quiet hours at {}", show(zone, now));
            for d in got {
                assert!(d.due_at <= now && !is_quiet(zone, d.due_at));
                if seen.insert((d.membership_id, d.kind.as_str(), d.slot.clone())) {
                    out.push((d.kind, d.membership_id, d.slot, show(zone, now), show(zone, d.due_at)));
                }
            }
            now += Duration::minutes(1);
        }
        out
    }

    #[test]
    fn a_failed_send_is_retried_after_growing_waits_never_at_night_then_fails() {
        let berlin = tz("Europe/Berlin");
        let t = |text: &str| at(berlin, text);
        // 1 min, 5 min, 30 min, 2 h after the 1st to 4th failures; none after the 5th.
        let now = t("2026-11-10 10:00");
        assert_eq!(send_retry_at(berlin, 1, now), Some(t("2026-11-10 10:01")));
        assert_eq!(send_retry_at(berlin, 2, now), Some(t("2026-11-10 10:05")));
        assert_eq!(send_retry_at(berlin, 3, now), Some(t("2026-11-10 10:30")));
        assert_eq!(send_retry_at(berlin, 4, now), Some(t("2026-11-10 12:00")));
        assert_eq!(send_retry_at(berlin, MAX_SEND_ATTEMPTS, now), None);
        assert_eq!(send_retry_at(berlin, 9, now), None);
        // A retry that would land in the quiet hours waits for 08:00 local.
        assert_eq!(send_retry_at(berlin, 4, t("2026-11-10 19:30")), Some(t("2026-11-11 08:00")));
        assert_eq!(send_retry_at(berlin, 1, t("2026-11-10 20:59")), Some(t("2026-11-11 08:00")));
        assert_eq!(send_retry_at(berlin, 1, t("2026-11-10 20:58")), Some(t("2026-11-10 20:59")));
        // Found at night, a nudge goes out at 08:00; by day at once.
        assert_eq!(out_of_quiet_hours(berlin, t("2026-11-11 02:00")), Some(t("2026-11-11 08:00")));
        assert_eq!(out_of_quiet_hours(berlin, t("2026-11-11 08:00")), Some(t("2026-11-11 08:00")));
        for (attempts, from) in [(1, "2026-11-10 20:30"), (4, "2026-11-10 18:00"), (2, "2026-03-28 20:57")] {
            let next = send_retry_at(berlin, attempts, t(from)).unwrap();
            assert!(!is_quiet(berlin, next), "{attempts} from {from}: {}", show(berlin, next));
        }
    }

    #[test]
    fn names_read_back() {
        for v in NudgeKind::ALL {
            assert_eq!(NudgeKind::parse(v.as_str()), Some(*v));
        }
        let names: Vec<&str> = NudgeKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["CHECK_IN_DUE", "MEETING_SOON", "LEADER_DIGEST"]);
        assert_eq!(NudgeKind::parse("check_in_due"), None);
    }

    /// One member's check-in nudge: zone, activation, joining, last check-in (local), unanswered
    /// nudges, rhythm in days, the slot and when it is due (local, to the minute).
    struct CheckInRow {
        name: &'static str,
        zone: &'static str,
        activated: &'static str,
        joined: &'static str,
        last: Option<&'static str>,
        unanswered: u32,
        every: u32,
        slot: &'static str,
        due: &'static str,
    }

    const EARLY: &str = "2026-01-05 10:00";

    const CHECK_INS: &[CheckInRow] = &[
        CheckInRow {
            name: "a week after the last check-in, across Berlin's spring forward: 10:00 local again",
            zone: "Europe/Berlin",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-03-27 10:00"),
            unanswered: 0,
            every: 7,
            slot: "2026-03-27T09:00:00Z#1",
            due: "2026-04-03 10:00 CEST",
        },
        CheckInRow {
            name: "a late check-in's nudge would be at 22:30: the next morning at 08:00",
            zone: "Europe/Berlin",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-03-22 22:30"),
            unanswered: 0,
            every: 7,
            slot: "2026-03-22T21:30:00Z#1",
            due: "2026-03-30 08:00 CEST",
        },
        CheckInRow {
            name: "an early one at 06:30 on the spring-forward Sunday waits until 08:00 that day",
            zone: "Europe/Berlin",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-03-22 06:30"),
            unanswered: 0,
            every: 7,
            slot: "2026-03-22T05:30:00Z#1",
            due: "2026-03-29 08:00 CEST",
        },
        CheckInRow {
            name: "02:30 a week later is in the spring gap (03:30), then quiet: 08:00",
            zone: "Europe/Berlin",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-03-22 02:30"),
            unanswered: 0,
            every: 7,
            slot: "2026-03-22T01:30:00Z#1",
            due: "2026-03-29 08:00 CEST",
        },
        CheckInRow {
            name: "02:30 a week later happens twice in the autumn overlap, both quiet: 08:00 CET",
            zone: "Europe/Berlin",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-10-18 02:30"),
            unanswered: 0,
            every: 7,
            slot: "2026-10-18T00:30:00Z#1",
            due: "2026-10-25 08:00 CET",
        },
        CheckInRow {
            name: "an evening keeps its wall-clock time across the fall back (169 hours)",
            zone: "Europe/Berlin",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-10-23 18:00"),
            unanswered: 0,
            every: 7,
            slot: "2026-10-23T16:00:00Z#1",
            due: "2026-10-30 18:00 CET",
        },
        CheckInRow {
            name: "the third nudge is due three weeks after the base, now in winter time",
            zone: "Europe/Berlin",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-10-04 09:15"),
            unanswered: 2,
            every: 7,
            slot: "2026-10-04T07:15:00Z#3",
            due: "2026-10-25 09:15 CET",
        },
        CheckInRow {
            name: "fortnightly across the fall back, 20:30 is not quiet yet",
            zone: "Europe/Berlin",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-10-15 20:30"),
            unanswered: 0,
            every: 14,
            slot: "2026-10-15T18:30:00Z#1",
            due: "2026-10-29 20:30 CET",
        },
        CheckInRow {
            name: "no check-in yet: a week from joining",
            zone: "Europe/Berlin",
            activated: "2026-10-01 10:00",
            joined: "2026-11-02 14:00",
            last: None,
            unanswered: 0,
            every: 7,
            slot: "2026-11-02T13:00:00Z#1",
            due: "2026-11-09 14:00 CET",
        },
        CheckInRow {
            name: "joined while the cohort was forming: a week from its activation",
            zone: "Europe/Berlin",
            activated: "2026-11-02 16:20",
            joined: "2026-10-20 09:00",
            last: None,
            unanswered: 0,
            every: 7,
            slot: "2026-11-02T15:20:00Z#1",
            due: "2026-11-09 16:20 CET",
        },
        CheckInRow {
            name: "New York's spring forward: noon again",
            zone: "America/New_York",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-03-01 12:00"),
            unanswered: 0,
            every: 7,
            slot: "2026-03-01T17:00:00Z#1",
            due: "2026-03-08 12:00 EDT",
        },
        CheckInRow {
            name: "20:59 is the last minute before the quiet hours",
            zone: "America/New_York",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-03-01 20:59"),
            unanswered: 0,
            every: 7,
            slot: "2026-03-02T01:59:00Z#1",
            due: "2026-03-08 20:59 EDT",
        },
        CheckInRow {
            name: "02:30 on New York's spring-forward night does not exist, and is quiet anyway",
            zone: "America/New_York",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-03-01 02:30"),
            unanswered: 0,
            every: 7,
            slot: "2026-03-01T07:30:00Z#1",
            due: "2026-03-08 08:00 EDT",
        },
        CheckInRow {
            name: "01:30 on New York's fall-back night happens twice: 08:00 EST",
            zone: "America/New_York",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-10-25 01:30"),
            unanswered: 0,
            every: 7,
            slot: "2026-10-25T05:30:00Z#1",
            due: "2026-11-01 08:00 EST",
        },
        CheckInRow {
            name: "the second nudge two weeks after, across New York's fall back",
            zone: "America/New_York",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-10-25 10:00"),
            unanswered: 1,
            every: 7,
            slot: "2026-10-25T14:00:00Z#2",
            due: "2026-11-08 10:00 EST",
        },
        CheckInRow {
            name: "Kolkata keeps +05:30 all year",
            zone: "Asia/Kolkata",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-06-01 20:45"),
            unanswered: 0,
            every: 7,
            slot: "2026-06-01T15:15:00Z#1",
            due: "2026-06-08 20:45 IST",
        },
        CheckInRow {
            name: "21:00 is quiet: the next morning",
            zone: "Asia/Kolkata",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-06-01 21:00"),
            unanswered: 0,
            every: 7,
            slot: "2026-06-01T15:30:00Z#1",
            due: "2026-06-09 08:00 IST",
        },
        CheckInRow {
            name: "a daily rhythm: 07:00 the next day waits until 08:00",
            zone: "Asia/Kolkata",
            activated: EARLY,
            joined: EARLY,
            last: Some("2026-06-01 07:00"),
            unanswered: 0,
            every: 1,
            slot: "2026-06-01T01:30:00Z#1",
            due: "2026-06-02 08:00 IST",
        },
    ];

    fn check_in_snapshot(row: &CheckInRow) -> (Snapshot, Policy) {
        let zone = tz(row.zone);
        let mut m = member(1, MemberRole::Member, at(zone, row.joined));
        m.last_check_in_at = row.last.map(|l| at(zone, l));
        m.check_in_nudges_since_last_check_in = row.unanswered;
        let p = Policy { check_in_every_days: Some(row.every), ..policy() };
        (snapshot(zone, row.activated, vec![m], vec![]), p)
    }

    #[test]
    fn check_in_nudges_are_due_to_the_minute() {
        for row in CHECK_INS {
            let (s, p) = check_in_snapshot(row);
            assert_due_from(row.name, &s, &p, NudgeKind::CheckInDue, row.due, row.slot);
        }
    }

    #[test]
    fn no_check_in_nudge_after_max_unanswered_and_the_member_has_gone_quiet() {
        let (mut s, p) = check_in_snapshot(&CHECK_INS[0]);
        let later = at(s.zone, "2026-05-04 12:00");
        s.members[0].check_in_nudges_since_last_check_in = 2;
        assert!(!gone_quiet(&s.members[0], &p));
        assert_eq!(of_kind(&s, &p, later, NudgeKind::CheckInDue).len(), 1);
        s.members[0].check_in_nudges_since_last_check_in = 3;
        assert!(gone_quiet(&s.members[0], &p));
        assert_eq!(of_kind(&s, &p, later, NudgeKind::CheckInDue), []);
        // Leaders who allow five: the fourth is due four weeks after the base.
        let five = p.change(PolicyChange { max_unanswered: Some(5), ..PolicyChange::default() }).unwrap();
        assert!(!gone_quiet(&s.members[0], &five));
        let got = of_kind(&s, &five, at(s.zone, "2026-04-24 10:00"), NudgeKind::CheckInDue);
        assert_eq!(got[0].slot, "2026-03-27T09:00:00Z#4");
        assert_eq!(show(s.zone, got[0].due_at), "2026-04-24 10:00 CEST");
    }

    #[test]
    fn a_check_in_starts_the_count_again() {
        // Two nudges went unanswered since 27 March; the third would be due on 17 April.
        let (mut s, p) = check_in_snapshot(&CHECK_INS[0]);
        let zone = s.zone;
        s.members[0].check_in_nudges_since_last_check_in = 2;
        let got = of_kind(&s, &p, at(zone, "2026-04-17 10:00"), NudgeKind::CheckInDue);
        assert_eq!(got.iter().map(|d| d.slot.as_str()).collect::<Vec<_>>(), ["2026-03-27T09:00:00Z#3"]);
        // They check in on 15 April at 18:45: nothing until a week later, and that is the first.
        s.members[0].last_check_in_at = Some(at(zone, "2026-04-15 18:45"));
        s.members[0].check_in_nudges_since_last_check_in = 0;
        assert_eq!(of_kind(&s, &p, at(zone, "2026-04-17 10:00"), NudgeKind::CheckInDue), []);
        assert_due_from(
            "after a check-in",
            &s,
            &p,
            NudgeKind::CheckInDue,
            "2026-04-22 18:45 CEST",
            "2026-04-15T16:45:00Z#1",
        );
    }

    #[test]
    fn a_missed_check_in_nudge_is_due_at_the_latest_period_not_as_a_backlog() {
        let zone = tz("Europe/Berlin");
        let s = snapshot(
            zone,
            "2026-11-02 10:00",
            vec![member(1, MemberRole::Member, at(zone, "2026-11-02 10:00"))],
            vec![],
        );
        let p = policy();
        // Due on 9 November; asked only on the 16th at 09:59, it is still the first, from the 9th…
        let got = of_kind(&s, &p, at(zone, "2026-11-16 09:59"), NudgeKind::CheckInDue);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].slot.as_str(), show(zone, got[0].due_at)),
            ("2026-11-02T09:00:00Z#1", "2026-11-09 10:00 CET".into())
        );
        // …and asked only on the 23rd, it is due from the 23rd: one nudge, never three in a row.
        let got = of_kind(&s, &p, at(zone, "2026-11-23 12:00"), NudgeKind::CheckInDue);
        assert_eq!(
            (got[0].slot.as_str(), show(zone, got[0].due_at)),
            ("2026-11-02T09:00:00Z#1", "2026-11-23 10:00 CET".into())
        );
        // A member silent for years still gets one nudge, and `due` does not count the years.
        let got = of_kind(&s, &p, at(zone, "2036-11-19 12:00"), NudgeKind::CheckInDue);
        assert_eq!(got.len(), 1);
        assert!(got[0].due_at <= at(zone, "2036-11-19 12:00") && got[0].due_at > at(zone, "2036-11-12 12:00"));
    }

    /// What the store does with what is due: records each (member, kind, slot) once and keeps
    /// each member's count of check-in nudges since their base. Gives what it newly recorded.
    fn record(s: &mut Snapshot, recorded: &mut BTreeSet<(i64, &'static str, String)>, got: Vec<Due>) -> Vec<Due> {
        let new: Vec<Due> =
            got.into_iter().filter(|d| recorded.insert((d.membership_id, d.kind.as_str(), d.slot.clone()))).collect();
        for d in new.iter().filter(|d| d.kind == NudgeKind::CheckInDue) {
            let m = s.members.iter_mut().find(|m| m.membership_id == d.membership_id).unwrap();
            m.check_in_nudges_since_last_check_in += 1;
            m.last_check_in_nudge_due_at = Some(d.due_at);
        }
        new
    }

    #[test]
    fn an_engine_back_after_three_weeks_sends_one_nudge_per_period_and_stops_at_the_maximum() {
        let zone = tz("Europe/Berlin");
        let start = "2026-10-01 10:00";
        let tuesday = meeting("tue", at(zone, "2026-11-03 19:00"), &[]);
        let mut s = snapshot(zone, start, vec![member(1, MemberRole::Leader, at(zone, start))], vec![tuesday]);
        let p = policy();
        let mut recorded = BTreeSet::new();
        let mut sent = Vec::new();
        // Down until Saturday 24 October at noon, then every five minutes until the end of November.
        let (mut now, end) = (at(zone, "2026-10-24 12:00"), at(zone, "2026-11-30 00:00"));
        let check_in = at(zone, "2026-11-20 15:00");
        while now < end {
            if now == check_in {
                assert!(gone_quiet(&s.members[0], &p), "quiet after three unanswered nudges");
                let m = &mut s.members[0];
                (m.last_check_in_at, m.check_in_nudges_since_last_check_in, m.last_check_in_nudge_due_at) =
                    (Some(check_in), 0, None);
                assert!(!gone_quiet(m, &p));
            }
            let got = due(&s, &p, now);
            for d in record(&mut s, &mut recorded, got) {
                sent.push((d.kind, d.slot, show(zone, now), show(zone, d.due_at)));
            }
            // Recording makes it so: asked again at once, nothing new is due.
            let again = due(&s, &p, now);
            assert_eq!(record(&mut s, &mut recorded, again), []);
            now += Duration::minutes(5);
        }
        let row = |kind, slot: &str, sent: &str, due: &str| (kind, slot.to_string(), sent.to_string(), due.to_string());
        let on_time = |kind, slot: &str, when: &str| row(kind, slot, when, when);
        use NudgeKind::*;
        assert_eq!(
            sent,
            [
                row(CheckInDue, "2026-10-01T08:00:00Z#1", "2026-10-24 12:00 CEST", "2026-10-22 10:00 CEST"),
                on_time(LeaderDigest, "2026-W44", "2026-10-26 08:00 CET"),
                on_time(CheckInDue, "2026-10-01T08:00:00Z#2", "2026-10-29 10:00 CET"),
                on_time(MeetingSoon, "tue", "2026-11-01 19:00 CET"),
                on_time(LeaderDigest, "2026-W45", "2026-11-02 08:00 CET"),
                on_time(CheckInDue, "2026-10-01T08:00:00Z#3", "2026-11-05 10:00 CET"),
                on_time(LeaderDigest, "2026-W46", "2026-11-09 08:00 CET"),
                on_time(LeaderDigest, "2026-W47", "2026-11-16 08:00 CET"),
                on_time(LeaderDigest, "2026-W48", "2026-11-23 08:00 CET"),
                on_time(CheckInDue, "2026-11-20T14:00:00Z#1", "2026-11-27 15:00 CET"),
            ]
        );
    }

    #[test]
    fn a_period_that_had_its_nudge_gets_no_other() {
        let zone = tz("Europe/Berlin");
        let mut s = snapshot(
            zone,
            "2026-11-02 10:00",
            vec![member(1, MemberRole::Member, at(zone, "2026-11-02 10:00"))],
            vec![],
        );
        let p = policy();
        let now = at(zone, "2026-11-25 12:00");
        // The first nudge went out late, on the 23rd (the period from the 23rd): the second waits
        // for the 30th, although two periods have passed since the base.
        s.members[0].check_in_nudges_since_last_check_in = 1;
        s.members[0].last_check_in_nudge_due_at = Some(at(zone, "2026-11-23 10:00"));
        assert_eq!(due(&s, &p, now), []);
        let got = due(&s, &p, at(zone, "2026-11-30 10:00"));
        assert_eq!(
            (got[0].slot.as_str(), show(zone, got[0].due_at)),
            ("2026-11-02T09:00:00Z#2", "2026-11-30 10:00 CET".into())
        );
        // A nudge from before the base (an earlier membership, or before the last check-in) does
        // not count.
        s.members[0].last_check_in_nudge_due_at = Some(at(zone, "2026-10-23 10:00"));
        assert_eq!(due(&s, &p, now).len(), 1);
    }

    #[test]
    fn nobody_is_nudged_who_left_turned_nudges_off_or_observes_nor_in_an_ended_cohort() {
        let (s, p) = check_in_snapshot(&CHECK_INS[0]);
        let now = at(s.zone, "2026-04-03 12:00");
        assert_eq!(of_kind(&s, &p, now, NudgeKind::CheckInDue).len(), 1);
        let with = |f: &dyn Fn(&mut Snapshot)| {
            let mut s = s.clone();
            f(&mut s);
            due(&s, &p, now)
        };
        assert_eq!(with(&|s| s.members[0].active = false), [], "left");
        assert_eq!(with(&|s| s.members[0].nudges_enabled = false), [], "nudges off");
        assert_eq!(with(&|s| s.members[0].role = MemberRole::Observer), [], "an observer");
        assert_eq!(with(&|s| s.stage_active = false), [], "an ended cohort");
        assert_eq!(with(&|s| s.activated_at = now + Duration::minutes(1)), [], "not yet active");
        let off = p.change(PolicyChange { check_in_every_days: Some(None), ..PolicyChange::default() }).unwrap();
        assert_eq!(due(&s, &off, now), [], "check-in nudges off");
        // Leaders and facilitators check in like anyone.
        assert_eq!(with(&|s| s.members[0].role = MemberRole::Facilitator).len(), 1);
    }

    /// A meeting reminder: zone, the meeting's start (local), hours before, and when it is due.
    const REMINDERS: &[(&str, &str, &str, u32, &str)] = &[
        (
            "48 hours before a 19:00 CEST Monday is 18:00 CET on Saturday (the clocks jump on Sunday)",
            "Europe/Berlin",
            "2026-03-30 19:00",
            48,
            "2026-03-28 18:00 CET",
        ),
        (
            "48 hours before a Tuesday at 19:00, on the spring-forward Sunday",
            "Europe/Berlin",
            "2026-03-31 19:00",
            48,
            "2026-03-29 19:00 CEST",
        ),
        (
            "12 hours before a 09:00 meeting is 21:00: back to 20:00 that evening",
            "Europe/Berlin",
            "2026-11-10 09:00",
            12,
            "2026-11-09 20:00 CET",
        ),
        (
            "48 hours before a 07:30 meeting is at night: 20:00 the evening before that",
            "Europe/Berlin",
            "2026-11-10 07:30",
            48,
            "2026-11-07 20:00 CET",
        ),
        (
            "1 hour before a 22:00 meeting is 21:00: back to 20:00",
            "Europe/Berlin",
            "2026-11-10 22:00",
            1,
            "2026-11-10 20:00 CET",
        ),
        (
            "8 hours before 09:00 on the spring-forward Sunday is 01:00 CET: 20:00 on Saturday",
            "Europe/Berlin",
            "2026-03-29 10:00",
            8,
            "2026-03-28 20:00 CET",
        ),
        (
            "8 hours before 09:00 CET on the fall-back Sunday is the first 02:00: 20:00 CEST on Saturday",
            "Europe/Berlin",
            "2026-10-25 09:00",
            8,
            "2026-10-24 20:00 CEST",
        ),
        (
            "a week before 19:00 CET is 20:00 CEST, across the fall back",
            "Europe/Berlin",
            "2026-10-27 19:00",
            168,
            "2026-10-20 20:00 CEST",
        ),
        (
            "48 hours before a 19:00 EDT Monday is 18:00 EST on Saturday",
            "America/New_York",
            "2026-03-09 19:00",
            48,
            "2026-03-07 18:00 EST",
        ),
        (
            "1 hour before 08:30 the day after New York's spring forward: 20:00 EDT the evening before",
            "America/New_York",
            "2026-03-09 08:30",
            1,
            "2026-03-08 20:00 EDT",
        ),
        (
            "48 hours before a 19:00 EST Monday is 20:00 EDT on Saturday",
            "America/New_York",
            "2026-11-02 19:00",
            48,
            "2026-10-31 20:00 EDT",
        ),
        (
            "8 hours before 09:00 EST on the fall-back Sunday is the second 01:00: 20:00 EDT on Saturday",
            "America/New_York",
            "2026-11-01 09:00",
            8,
            "2026-10-31 20:00 EDT",
        ),
        ("48 hours before in Kolkata", "Asia/Kolkata", "2026-06-10 18:30", 48, "2026-06-08 18:30 IST"),
        (
            "1 hour before a 21:30 meeting is 20:30, not yet quiet",
            "Asia/Kolkata",
            "2026-06-10 21:30",
            1,
            "2026-06-10 20:30 IST",
        ),
    ];

    #[test]
    fn meeting_reminders_are_due_to_the_minute() {
        for (name, zone, starts, hours, expected) in REMINDERS {
            let zone = tz(zone);
            let starts_at = at(zone, starts);
            let s = snapshot(
                zone,
                EARLY,
                vec![member(1, MemberRole::Member, at(zone, EARLY))],
                vec![meeting("m", starts_at, &[])],
            );
            let p = Policy { meeting_reminder_hours: Some(*hours), check_in_every_days: None, ..policy() };
            assert_due_from(name, &s, &p, NudgeKind::MeetingSoon, expected, "m");
            // At least the hours asked for, at most 12 more, and until the meeting starts.
            let due_at = at(zone, &expected[..16]);
            let notice = starts_at - due_at;
            assert!(
                notice >= Duration::hours(i64::from(*hours)) && notice <= Duration::hours(i64::from(*hours) + 12),
                "{name}"
            );
            let last = starts_at - Duration::minutes(1);
            if !is_quiet(zone, last) {
                assert_eq!(of_kind(&s, &p, last, NudgeKind::MeetingSoon).len(), 1, "{name}");
            }
            assert_eq!(of_kind(&s, &p, starts_at, NudgeKind::MeetingSoon), [], "{name}: started");
        }
    }

    #[test]
    fn no_reminder_for_a_decliner_a_past_meeting_or_at_night() {
        let zone = tz("Europe/Berlin");
        let members =
            vec![member(1, MemberRole::Member, at(zone, EARLY)), member(2, MemberRole::Member, at(zone, EARLY))];
        let tuesday = at(zone, "2026-11-10 19:00");
        let mut s = snapshot(zone, EARLY, members, vec![meeting("tue", tuesday, &[2])]);
        let p = Policy { check_in_every_days: None, ..policy() };
        let sunday = at(zone, "2026-11-08 19:00");
        let ids =
            |s: &Snapshot, now| due(s, &p, now).iter().map(|d| (d.membership_id, d.slot.clone())).collect::<Vec<_>>();
        assert_eq!(ids(&s, sunday), [(1, "tue".to_string())], "member 2 answered NOT_GOING");
        assert_eq!(ids(&s, tuesday), [], "it has started");
        // Listed twice, reminded once.
        s.meetings.push(meeting("tue", tuesday, &[]));
        assert_eq!(ids(&s, sunday), [(1, "tue".to_string())]);
        // A meeting scheduled at 22:30 for 07:30 the next morning: its moment has passed, but it
        // is night; at 08:00 the meeting has begun, so it is never sent.
        let early = at(zone, "2026-11-12 07:30");
        s.meetings = vec![meeting("early", early, &[])];
        assert_eq!(ids(&s, at(zone, "2026-11-11 22:30")), []);
        assert_eq!(ids(&s, at(zone, "2026-11-12 08:00")), []);
        // One for 09:00 scheduled that night is due at 08:00 (for both), with its moment 48 hours before.
        s.meetings = vec![meeting("nine", at(zone, "2026-11-12 09:00"), &[])];
        assert_eq!(ids(&s, at(zone, "2026-11-11 23:30")), []);
        let got = due(&s, &p, at(zone, "2026-11-12 08:00"));
        assert_eq!(got.len(), 2);
        assert_eq!(show(zone, got[0].due_at), "2026-11-10 09:00 CET");
        // Reminders off.
        let off = p.change(PolicyChange { meeting_reminder_hours: Some(None), ..PolicyChange::default() }).unwrap();
        assert_eq!(due(&s, &off, at(zone, "2026-11-12 08:00")), []);
    }

    /// A leader digest: zone, weekday, the day (local), when it is due and its slot.
    const DIGESTS: &[(&str, Weekday, &str, &str, &str)] = &[
        ("Europe/Berlin", Weekday::Mon, "2026-03-30", "2026-03-30 08:00 CEST", "2026-W14"),
        ("Europe/Berlin", Weekday::Mon, "2026-10-26", "2026-10-26 08:00 CET", "2026-W44"),
        ("Europe/Berlin", Weekday::Sun, "2026-03-29", "2026-03-29 08:00 CEST", "2026-W13"),
        ("Europe/Berlin", Weekday::Sun, "2026-10-25", "2026-10-25 08:00 CET", "2026-W43"),
        ("Europe/Berlin", Weekday::Fri, "2027-01-01", "2027-01-01 08:00 CET", "2026-W53"),
        ("America/New_York", Weekday::Mon, "2026-03-09", "2026-03-09 08:00 EDT", "2026-W11"),
        ("America/New_York", Weekday::Sun, "2026-03-08", "2026-03-08 08:00 EDT", "2026-W10"),
        ("America/New_York", Weekday::Mon, "2026-11-02", "2026-11-02 08:00 EST", "2026-W45"),
        ("America/New_York", Weekday::Sun, "2026-11-01", "2026-11-01 08:00 EST", "2026-W44"),
        ("Asia/Kolkata", Weekday::Mon, "2026-06-08", "2026-06-08 08:00 IST", "2026-W24"),
    ];

    #[test]
    fn leader_digests_are_due_on_their_weekday_at_08_00_local_that_day_only() {
        for (zone, weekday, day, expected, slot) in DIGESTS {
            let name = format!("{zone} {day}");
            let zone = tz(zone);
            let s = snapshot(zone, EARLY, vec![member(1, MemberRole::Leader, at(zone, EARLY))], vec![]);
            let p = Policy {
                check_in_every_days: None,
                meeting_reminder_hours: None,
                digest_weekday: *weekday,
                ..policy()
            };
            assert_due_from(&name, &s, &p, NudgeKind::LeaderDigest, expected, slot);
            let due_at = at(zone, &expected[..16]);
            let want = of_kind(&s, &p, due_at, NudgeKind::LeaderDigest);
            assert_eq!(of_kind(&s, &p, at(zone, &format!("{day} 20:59")), NudgeKind::LeaderDigest), want, "{name}");
            assert_eq!(of_kind(&s, &p, at(zone, &format!("{day} 21:00")), NudgeKind::LeaderDigest), [], "{name}");
            let next = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap().succ_opt().unwrap();
            let next_morning = at(zone, &format!("{next} 08:00"));
            assert_eq!(of_kind(&s, &p, next_morning, NudgeKind::LeaderDigest), [], "{name}: a day late");
        }
    }

    #[test]
    fn digests_are_for_active_leaders_after_activation() {
        let zone = tz("Europe/Berlin");
        let joined = at(zone, "2026-11-01 12:00");
        let members = vec![
            member(1, MemberRole::Leader, joined),
            member(2, MemberRole::Facilitator, joined),
            member(3, MemberRole::Member, joined),
            Member { active: false, ..member(4, MemberRole::Leader, joined) },
            Member { nudges_enabled: false, ..member(5, MemberRole::Leader, joined) },
        ];
        // Activated on Monday 9 November at 09:00, after that day's digest moment.
        let s = snapshot(zone, "2026-11-09 09:00", members, vec![]);
        let p = Policy { check_in_every_days: None, ..policy() };
        assert_eq!(due(&s, &p, at(zone, "2026-11-09 09:30")), []);
        let got = due(&s, &p, at(zone, "2026-11-16 08:00"));
        let got: Vec<_> = got.iter().map(|d| (d.kind, d.membership_id, d.slot.as_str())).collect();
        assert_eq!(got, [(NudgeKind::LeaderDigest, 1, "2026-W47")]);
        let off = p.change(PolicyChange { leader_digest: Some(false), ..PolicyChange::default() }).unwrap();
        assert_eq!(due(&s, &off, at(zone, "2026-11-16 08:00")), []);
    }

    #[test]
    fn a_week_across_berlins_spring_forward_minute_by_minute() {
        let zone = tz("Europe/Berlin");
        let mut leader = member(1, MemberRole::Leader, at(zone, "2026-03-16 12:00"));
        leader.last_check_in_at = Some(at(zone, "2026-03-22 22:30"));
        let mut trainee = member(2, MemberRole::Member, at(zone, "2026-03-16 12:00"));
        trainee.last_check_in_at = Some(at(zone, "2026-03-24 12:00"));
        let meetings = vec![
            meeting("tuesday", at(zone, "2026-03-31 19:00"), &[]),
            meeting("monday-early", at(zone, "2026-03-30 07:30"), &[1]),
        ];
        let s = snapshot(zone, "2026-03-16 12:00", vec![leader, trainee], meetings);
        let got = sweep(&s, &policy(), "2026-03-26 00:00", "2026-04-01 00:00");
        let row = |kind, id, slot: &str, when: &str| (kind, id, slot.to_string(), when.to_string(), when.to_string());
        assert_eq!(
            got,
            [
                row(NudgeKind::MeetingSoon, 2, "monday-early", "2026-03-27 20:00 CET"),
                row(NudgeKind::MeetingSoon, 1, "tuesday", "2026-03-29 19:00 CEST"),
                row(NudgeKind::MeetingSoon, 2, "tuesday", "2026-03-29 19:00 CEST"),
                row(NudgeKind::CheckInDue, 1, "2026-03-22T21:30:00Z#1", "2026-03-30 08:00 CEST"),
                row(NudgeKind::LeaderDigest, 1, "2026-W14", "2026-03-30 08:00 CEST"),
                row(NudgeKind::CheckInDue, 2, "2026-03-24T11:00:00Z#1", "2026-03-31 12:00 CEST"),
            ]
        );
    }

    #[test]
    fn a_weekend_across_new_yorks_fall_back_minute_by_minute() {
        let zone = tz("America/New_York");
        let mut leader = member(1, MemberRole::Leader, at(zone, "2026-10-01 12:00"));
        leader.last_check_in_at = Some(at(zone, "2026-10-25 01:30"));
        let mut trainee = member(2, MemberRole::Member, at(zone, "2026-10-01 12:00"));
        trainee.last_check_in_at = Some(at(zone, "2026-10-26 10:00"));
        let meetings = vec![
            meeting("monday", at(zone, "2026-11-02 19:00"), &[2]),
            meeting("tuesday-dawn", at(zone, "2026-11-03 06:00"), &[]),
        ];
        let s = snapshot(zone, "2026-10-01 12:00", vec![leader, trainee], meetings);
        let got = sweep(&s, &policy(), "2026-10-30 00:00", "2026-11-03 00:00");
        let row = |kind, id, slot: &str, when: &str| (kind, id, slot.to_string(), when.to_string(), when.to_string());
        assert_eq!(
            got,
            [
                row(NudgeKind::MeetingSoon, 1, "monday", "2026-10-31 20:00 EDT"),
                row(NudgeKind::MeetingSoon, 1, "tuesday-dawn", "2026-10-31 20:00 EDT"),
                row(NudgeKind::MeetingSoon, 2, "tuesday-dawn", "2026-10-31 20:00 EDT"),
                row(NudgeKind::CheckInDue, 1, "2026-10-25T05:30:00Z#1", "2026-11-01 08:00 EST"),
                row(NudgeKind::LeaderDigest, 1, "2026-W45", "2026-11-02 08:00 EST"),
                row(NudgeKind::CheckInDue, 2, "2026-10-26T14:00:00Z#1", "2026-11-02 10:00 EST"),
            ]
        );
    }

    #[test]
    fn the_default_policy_follows_the_meeting_plan_then_the_horizon() {
        let set_at = at(tz("Europe/Berlin"), "2026-11-02 10:00");
        let cadence = |frequency| {
            let draft = CadenceDraft {
                frequency,
                weekday: 2,
                local_time: "19:00".into(),
                time_zone: "Europe/Berlin".into(),
                duration_minutes: 90,
                week_of_month: (frequency == Frequency::Monthly).then_some(1),
            };
            Cadence::parse(&draft, set_at, None).unwrap()
        };
        let every = |h, c: Option<Cadence>| Policy::default_for(h, c.as_ref()).check_in_every_days;
        assert_eq!(every(Horizon::ShortTerm, None), Some(7));
        assert_eq!(every(Horizon::OpenEnded, None), Some(14));
        assert_eq!(every(Horizon::OpenEnded, Some(cadence(Frequency::Weekly))), Some(7));
        assert_eq!(every(Horizon::ShortTerm, Some(cadence(Frequency::Fortnightly))), Some(14));
        assert_eq!(every(Horizon::ShortTerm, Some(cadence(Frequency::Monthly))), Some(14));
        let p = Policy::default_for(Horizon::ShortTerm, None);
        assert_eq!(
            (p.meeting_reminder_hours, p.leader_digest, p.max_unanswered, p.digest_weekday),
            (Some(48), true, 3, Weekday::Mon)
        );
    }

    #[test]
    fn leaders_change_the_policy_within_bounds() {
        let p = policy();
        assert_eq!(p.change(PolicyChange::default()), Ok(p));
        let changed = p
            .change(PolicyChange {
                check_in_every_days: Some(Some(90)),
                meeting_reminder_hours: Some(None),
                leader_digest: Some(false),
                max_unanswered: Some(10),
                digest_weekday: Some(5),
            })
            .unwrap();
        assert_eq!(
            changed,
            Policy {
                check_in_every_days: Some(90),
                meeting_reminder_hours: None,
                leader_digest: false,
                max_unanswered: 10,
                digest_weekday: Weekday::Fri
            }
        );
        let refused = |c: PolicyChange| {
            let e = p.change(c).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::InvalidInput);
            (e.field.unwrap_or_default(), e.message)
        };
        let none = PolicyChange::default();
        for bad in [0, 91, -1, i32::MIN] {
            let (field, message) = refused(PolicyChange { check_in_every_days: Some(Some(bad)), ..none });
            assert_eq!(field, "checkInEveryDays");
            assert_eq!(
                message,
                format!("checkInEveryDays must be 1 to 90 days, or null to turn check-in nudges off (got {bad})")
            );
        }
        for bad in [0, 169] {
            let (field, message) = refused(PolicyChange { meeting_reminder_hours: Some(Some(bad)), ..none });
            assert_eq!(field, "meetingReminderHours");
            assert!(message.contains("1 to 168 hours") && message.ends_with(&format!("(got {bad})")), "{message}");
        }
        for bad in [0, 11, -3] {
            assert_eq!(refused(PolicyChange { max_unanswered: Some(bad), ..none }).0, "maxUnanswered");
        }
        for bad in [0, 8] {
            let (field, message) = refused(PolicyChange { digest_weekday: Some(bad), ..none });
            assert_eq!(
                (field.as_str(), message),
                ("digestWeekday", format!("digestWeekday must be 1 (Monday) to 7 (Sunday) (got {bad})"))
            );
        }
        assert_eq!(
            p.change(PolicyChange {
                check_in_every_days: Some(Some(1)),
                meeting_reminder_hours: Some(Some(168)),
                max_unanswered: Some(1),
                ..none
            })
            .map(|p| (p.check_in_every_days, p.meeting_reminder_hours, p.max_unanswered)),
            Ok((Some(1), Some(168), 1))
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const ZONES: &[&str] = &[
            "Europe/Berlin",
            "America/New_York",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
            "America/St_Johns",
            "Asia/Kathmandu",
            "Antarctica/Troll",
            "Pacific/Apia",
            "UTC",
        ];
        const DAY: i64 = 1440;

        fn minutes(range: std::ops::Range<i64>) -> impl Strategy<Value = Duration> {
            (range, 0i64..60).prop_map(|(m, s)| Duration::minutes(m) + Duration::seconds(s % 2 * s))
        }

        /// A cohort around a moment in 2025–2027 (members joined, checked in and meet within
        /// weeks of it), a policy and the moment.
        fn any_case() -> impl Strategy<Value = (Snapshot, Policy, DateTime<Utc>)> {
            let member = (
                (0i64..6, prop::bool::weighted(0.8), 0usize..4, prop::bool::weighted(0.8)),
                (minutes(-40 * DAY..0), proptest::option::of(minutes(-40 * DAY..0)), prop_oneof![0u32..3, 0u32..12]),
            );
            let meeting = (0usize..4, minutes(-DAY..10 * DAY), proptest::collection::vec(0i64..6, 0..3));
            let policy = (
                proptest::option::of(prop_oneof![Just(7u32), Just(14), 1u32..=90]),
                proptest::option::of(1u32..=168),
                any::<bool>(),
                1u32..=10,
                0usize..7,
            );
            (
                (0usize..ZONES.len(), 0i64..3 * 365 * DAY, prop::bool::weighted(0.9), minutes(-90 * DAY..DAY)),
                proptest::collection::vec(member, 0..8),
                proptest::collection::vec(meeting, 0..6),
                policy,
            )
                .prop_map(|((zone, now, stage_active, activated), members, meetings, policy)| {
                    let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(now);
                    let members = members
                        .into_iter()
                        .map(|((id, active, role, nudges_enabled), (joined, last, count))| Member {
                            membership_id: id,
                            active,
                            role: MemberRole::ALL[role],
                            nudges_enabled,
                            joined_at: now + joined,
                            last_check_in_at: last.map(|l| now + l),
                            check_in_nudges_since_last_check_in: count,
                            last_check_in_nudge_due_at: None,
                        })
                        .collect();
                    let meetings = meetings
                        .into_iter()
                        .map(|(key, starts, declined)| Meeting {
                            key: format!("m{key}"),
                            starts_at: now + starts,
                            declined,
                        })
                        .collect();
                    let (every, hours, leader_digest, max_unanswered, weekday) = policy;
                    let policy = Policy {
                        check_in_every_days: every,
                        meeting_reminder_hours: hours,
                        leader_digest,
                        max_unanswered,
                        digest_weekday: Weekday::try_from(weekday as u8).unwrap(),
                    };
                    let snapshot = Snapshot {
                        stage_active,
                        zone: tz(ZONES[zone]),
                        activated_at: now + activated,
                        members,
                        meetings,
                    };
                    (snapshot, policy, now)
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(5000))]

            #[test]
            fn due_keeps_its_promises((s, p, now) in any_case()) {
                let got = due(&s, &p, now);
                prop_assert_eq!(&got, &due(&s, &p, now));
                if !got.is_empty() {
                    prop_assert!(s.stage_active && now >= s.activated_at && !is_quiet(s.zone, now));
                }
                let mut keys = BTreeSet::new();
                let mut once = BTreeSet::new();
                for d in &got {
                    prop_assert!(d.due_at <= now, "{:?} after now", d);
                    prop_assert!(!is_quiet(s.zone, d.due_at), "{:?} at {}", d, show(s.zone, d.due_at));
                    prop_assert!(keys.insert((d.membership_id, d.kind.as_str(), d.slot.clone())), "twice: {:?}", d);
                    if d.kind != NudgeKind::MeetingSoon {
                        prop_assert!(once.insert((d.membership_id, d.kind.as_str())), "a backlog: {:?}", d);
                    }
                    let m = s.members.iter().find(|m| m.membership_id == d.membership_id).unwrap();
                    prop_assert!(m.active && m.nudges_enabled);
                    match d.kind {
                        NudgeKind::CheckInDue => {
                            let base = check_in_base(&s, m);
                            prop_assert!(!gone_quiet(m, &p) && m.role != MemberRole::Observer);
                            prop_assert!(d.due_at >= base + Duration::days(i64::from(p.check_in_every_days.unwrap())) - Duration::hours(3));
                            let k = m.check_in_nudges_since_last_check_in + 1;
                            prop_assert_eq!(&d.slot, &format!("{}#{k}", base.to_rfc3339_opts(SecondsFormat::AutoSi, true)));
                        }
                        NudgeKind::MeetingSoon => {
                            let meeting = s.meetings.iter().find(|x| x.key == d.slot).unwrap();
                            let notice = Duration::hours(i64::from(p.meeting_reminder_hours.unwrap()));
                            prop_assert!(meeting.starts_at > now && !meeting.declined.contains(&m.membership_id));
                            prop_assert!(d.due_at <= meeting.starts_at - notice);
                            prop_assert!(d.due_at >= meeting.starts_at - notice - Duration::hours(13));
                        }
                        NudgeKind::LeaderDigest => {
                            prop_assert!(p.leader_digest && m.role == MemberRole::Leader && d.due_at >= s.activated_at);
                            prop_assert_eq!(local(s.zone, d.due_at).unwrap().date(), local(s.zone, now).unwrap().date());
                        }
                    }
                }
                // Once the store recorded what is due, nothing more is due at that moment.
                let mut recorded_snapshot = s.clone();
                let mut recorded = BTreeSet::new();
                record(&mut recorded_snapshot, &mut recorded, got.clone());
                let again = due(&recorded_snapshot, &p, now);
                prop_assert_eq!(record(&mut recorded_snapshot, &mut recorded, again), []);
                let mut sorted = got.clone();
                sorted.sort_by_key(|d| (d.due_at, d.membership_id, d.kind.as_str(), d.slot.clone()));
                prop_assert_eq!(&sorted, &got);
                // A nudge stays due, under the same slot, until the night, its meeting or its day
                // ends it.
                let next = now + Duration::minutes(1);
                if !is_quiet(s.zone, next) {
                    let later: BTreeSet<_> =
                        due(&s, &p, next).into_iter().map(|d| (d.membership_id, d.kind.as_str(), d.slot)).collect();
                    for d in got {
                        let started = s.meetings.iter().any(|x| x.key == d.slot && x.starts_at <= next);
                        if !(d.kind == NudgeKind::MeetingSoon && started) {
                            prop_assert!(later.contains(&(d.membership_id, d.kind.as_str(), d.slot.clone())), "{:?} vanished", d);
                        }
                    }
                }
            }
        }
    }
}
