//! Nudges in the store: a cohort's policy (its row, or the defaults from its horizon and meeting
//! plan), the snapshot the domain's `nudge::due` reads (active members, their last check-in and
//! the check-in nudges since, the meetings coming up and who declined them), and recording the
//! nudges found due — once per member, kind and slot (a unique index), each with its
//! `NUDGE_DUE` event in the same transaction.

use std::collections::HashMap;

use afterclass_domain::cohort::{Horizon, MemberRole, MembershipStatus};
use afterclass_domain::event::EventKind;
use afterclass_domain::meeting as dm;
use afterclass_domain::nudge::{self as dn, NudgeKind, Policy};
use chrono::{DateTime, Datelike, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::entities::{cohort, membership, nudge, nudge_policy};
use super::events::{self, NewEvent};
use super::meetings::{self, meeting_plan, rsvp};
use super::tallies::{self, Binds};
use super::{from_micros, to_micros};

/// How a nudge is delivered once recorded: `PENDING` while an email is to be sent, `SENT` once
/// it went out (or, with no mail configured, once its event is in the log).
pub const PENDING: &str = "PENDING";
pub const SENT: &str = "SENT";
pub const SKIPPED: &str = "SKIPPED";
pub const FAILED: &str = "FAILED";

/// The cohort's policy: what a leader set, or the defaults.
pub async fn policy(conn: &impl ConnectionTrait, c: &cohort::Model) -> Result<Policy, DbErr> {
    let row = nudge_policy::Entity::find_by_id(c.id).one(conn).await?;
    let plan = match row {
        Some(_) => None,
        None => plan(conn, c).await?,
    };
    Ok(policy_of(c, row.as_ref(), plan.as_ref()))
}

async fn plan(conn: &impl ConnectionTrait, c: &cohort::Model) -> Result<Option<meeting_plan::Model>, DbErr> {
    Ok(meetings::plans(conn, c.tenant_id, [c.id]).await?.into_iter().next())
}

/// The cohort's time zone: its meeting plan's, or UTC without one.
pub fn zone_of(plan: Option<&meeting_plan::Model>) -> chrono_tz::Tz {
    plan.and_then(meeting_plan::Model::cadence).map_or(chrono_tz::UTC, |c| c.zone)
}

/// The policy from its row, or the defaults from the horizon and the meeting plan.
pub fn policy_of(c: &cohort::Model, row: Option<&nudge_policy::Model>, plan: Option<&meeting_plan::Model>) -> Policy {
    match row {
        Some(r) => Policy {
            check_in_every_days: r.check_in_every_days.and_then(|d| u32::try_from(d).ok()),
            meeting_reminder_hours: r.meeting_reminder_hours.and_then(|h| u32::try_from(h).ok()),
            leader_digest: r.leader_digest,
            max_unanswered: u32::try_from(r.max_unanswered).unwrap_or(1),
            digest_weekday: dm::weekday(r.digest_weekday).unwrap_or(chrono::Weekday::Mon),
        },
        None => {
            let horizon = Horizon::parse(&c.horizon).unwrap_or(Horizon::ShortTerm);
            let cadence = plan.and_then(meeting_plan::Model::cadence);
            Policy::default_for(horizon, cadence.as_ref())
        }
    }
}

/// Stores a changed policy.
pub async fn save_policy(
    conn: &impl ConnectionTrait,
    c: &cohort::Model,
    p: &Policy,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = nudge_policy::ActiveModel {
        cohort_id: Set(c.id),
        tenant_id: Set(c.tenant_id),
        check_in_every_days: Set(p.check_in_every_days.and_then(|d| i32::try_from(d).ok())),
        meeting_reminder_hours: Set(p.meeting_reminder_hours.and_then(|h| i32::try_from(h).ok())),
        leader_digest: Set(p.leader_digest),
        max_unanswered: Set(i32::try_from(p.max_unanswered).unwrap_or(i32::MAX)),
        digest_weekday: Set(i32::try_from(p.digest_weekday.number_from_monday()).unwrap_or(1)),
        updated_at: Set(to_micros(now)),
    };
    nudge_policy::Entity::insert(row)
        .on_conflict(
            OnConflict::column(nudge_policy::Column::CohortId)
                .update_columns([
                    nudge_policy::Column::CheckInEveryDays,
                    nudge_policy::Column::MeetingReminderHours,
                    nudge_policy::Column::LeaderDigest,
                    nudge_policy::Column::MaxUnanswered,
                    nudge_policy::Column::DigestWeekday,
                    nudge_policy::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The longest a meeting reminder reaches ahead.
const REMINDER_HORIZON_HOURS: i64 = 7 * 24;

/// What `nudge::due` needs of an active cohort at `now`, and the memberships it names.
pub struct Gathered {
    pub snapshot: dn::Snapshot,
    pub policy: Policy,
    pub memberships: HashMap<i64, membership::Model>,
    pub plan: Option<meeting_plan::Model>,
    /// The meetings coming up (for reminders and digests), in time order.
    pub upcoming: Vec<meetings::Slot>,
}

pub async fn gather(conn: &impl ConnectionTrait, c: &cohort::Model, now: DateTime<Utc>) -> Result<Gathered, DbErr> {
    let members: Vec<membership::Model> = membership::Entity::find()
        .filter(membership::Column::CohortId.eq(c.id))
        .filter(membership::Column::Status.eq(MembershipStatus::Active.as_str()))
        .all(conn)
        .await?;
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    // Each member's latest check-in up to now: their totals row, whatever the history.
    let last: HashMap<i64, i64> = if ids.is_empty() {
        HashMap::new()
    } else {
        let mut b = Binds::new(conn.get_database_backend());
        let (at, list) = (b.bind(to_micros(now)), b.list(&ids));
        let key = tallies::ALL_CHECK_INS.to_string();
        let last = tallies::as_of_totals("occurred_at", "c", "m.id", &key, &at);
        let join = tallies::join_totals("c", "m.id", &key);
        let sql = format!("SELECT m.id, {last} FROM memberships m {join} WHERE m.id IN ({list})");
        let mut out = HashMap::new();
        for row in conn.query_all_raw(b.statement(sql)).await? {
            let id: i64 = row.try_get_by_index(0)?;
            if let Some(last) = row.try_get_by_index::<Option<i64>>(1)? {
                out.insert(id, last);
            }
        }
        out
    };
    // The check-in nudges recorded (their members and due moments), counted below from each
    // member's base (their last check-in, joining or the activation) on.
    let sent: Vec<(i64, i64)> = nudge::Entity::find()
        .select_only()
        .column(nudge::Column::MembershipId)
        .column(nudge::Column::DueAt)
        .filter(nudge::Column::CohortId.eq(c.id))
        .filter(nudge::Column::Kind.eq(NudgeKind::CheckInDue.as_str()))
        .into_tuple()
        .all(conn)
        .await?;
    let plan = plan(conn, c).await?;
    let stored = nudge_policy::Entity::find_by_id(c.id).one(conn).await?;
    let policy = policy_of(c, stored.as_ref(), plan.as_ref());
    let cadence = plan.as_ref().and_then(meeting_plan::Model::cadence);
    let window = dm::Window { from: now, to: now + chrono::Duration::hours(REMINDER_HORIZON_HOURS) };
    let computed = match &cadence {
        Some(cadence) => dm::occurrences(cadence, window, 64).unwrap_or_default(),
        None => Vec::new(),
    };
    let rows = meetings::starting_between(
        conn,
        c.tenant_id,
        &[c.id],
        to_micros(now - chrono::Duration::days(1)),
        to_micros(window.to),
    )
    .await?;
    let upcoming: Vec<meetings::Slot> = meetings::merge(c.id, &computed, rows, window)
        .into_iter()
        .filter(|s| s.status() == dm::MeetingStatus::Scheduled && s.starts_at > to_micros(now))
        .collect();
    let row_ids: Vec<i64> = upcoming.iter().filter_map(|s| s.row.as_ref().map(|r| r.id)).collect();
    let declines: Vec<(i64, i64)> = if row_ids.is_empty() {
        Vec::new()
    } else {
        rsvp::Entity::find()
            .select_only()
            .column(rsvp::Column::MeetingId)
            .column(rsvp::Column::MembershipId)
            .filter(rsvp::Column::MeetingId.is_in(row_ids))
            .filter(rsvp::Column::Answer.eq(dm::RsvpAnswer::NotGoing.as_str()))
            .into_tuple()
            .all(conn)
            .await?
    };
    let mut snapshot = dn::Snapshot {
        stage_active: c.stage == afterclass_domain::stage::Stage::Active.as_str(),
        zone: zone_of(plan.as_ref()),
        activated_at: from_micros(c.activated_at.unwrap_or(c.created_at)),
        members: members
            .iter()
            .map(|m| dn::Member {
                membership_id: m.id,
                active: true,
                role: MemberRole::parse(&m.role).unwrap_or(MemberRole::Member),
                nudges_enabled: m.nudges_enabled,
                joined_at: from_micros(m.joined_at.unwrap_or(m.invited_at)),
                last_check_in_at: last.get(&m.id).copied().map(from_micros),
                check_in_nudges_since_last_check_in: 0,
                last_check_in_nudge_due_at: None,
            })
            .collect(),
        meetings: upcoming
            .iter()
            .map(|s| dn::Meeting {
                key: meeting_key(s.starts_at),
                starts_at: from_micros(s.starts_at),
                declined: s
                    .row
                    .as_ref()
                    .map(|r| declines.iter().filter(|(m, _)| *m == r.id).map(|(_, who)| *who).collect())
                    .unwrap_or_default(),
            })
            .collect(),
    };
    let bases: Vec<i64> = snapshot.members.iter().map(|m| to_micros(dn::check_in_base(&snapshot, m))).collect();
    for (member, base) in snapshot.members.iter_mut().zip(bases) {
        for (_, due_at) in sent.iter().filter(|(id, due_at)| *id == member.membership_id && *due_at >= base) {
            member.check_in_nudges_since_last_check_in += 1;
            let due_at = from_micros(*due_at);
            if member.last_check_in_nudge_due_at.is_none_or(|last| due_at > last) {
                member.last_check_in_nudge_due_at = Some(due_at);
            }
        }
    }
    Ok(Gathered { snapshot, policy, memberships: members.into_iter().map(|m| (m.id, m)).collect(), plan, upcoming })
}

/// A meeting's key, the slot of its reminders: its start in microseconds.
pub fn meeting_key(starts_at: i64) -> String {
    starts_at.to_string()
}

/// When the meeting a reminder is about starts (microseconds); `None` for other nudges.
pub fn reminded_meeting_start(n: &nudge::Model) -> Option<i64> {
    (n.kind == NudgeKind::MeetingSoon.as_str()).then(|| n.slot.parse().ok()).flatten()
}

/// A nudge to record: what is due and its words.
pub struct Composed {
    pub due: dn::Due,
    pub subject: String,
    pub body: String,
}

/// Records the nudges not recorded yet, each with its `NUDGE_DUE` event; returns how many were
/// new. `status` is what a new nudge starts as ([`PENDING`] when mail will carry it).
pub async fn record(
    conn: &impl ConnectionTrait,
    c: &cohort::Model,
    nudges: Vec<Composed>,
    status: &str,
    now: DateTime<Utc>,
) -> Result<u32, DbErr> {
    let mut recorded = 0;
    for n in nudges {
        let row = nudge::ActiveModel {
            tenant_id: Set(c.tenant_id),
            cohort_id: Set(c.id),
            membership_id: Set(n.due.membership_id),
            kind: Set(n.due.kind.as_str().to_owned()),
            slot: Set(n.due.slot.clone()),
            due_at: Set(to_micros(n.due.due_at)),
            status: Set(status.to_owned()),
            subject: Set(n.subject),
            body: Set(n.body),
            attempts: Set(0),
            next_attempt_at: Set((status == PENDING).then(|| to_micros(now))),
            sent_at: Set((status == SENT).then(|| to_micros(now))),
            last_error: Set(None),
            created_at: Set(to_micros(now)),
            ..Default::default()
        };
        let inserted = nudge::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([nudge::Column::MembershipId, nudge::Column::Kind, nudge::Column::Slot])
                    .do_nothing()
                    .to_owned(),
            )
            .exec(conn)
            .await;
        let id = match inserted {
            Ok(done) => done.last_insert_id,
            // Recorded before (by this sweeper or another): nothing to do.
            Err(DbErr::RecordNotInserted) => continue,
            Err(e) => return Err(e),
        };
        let person_id = membership::Entity::find_by_id(n.due.membership_id)
            .select_only()
            .column(membership::Column::PersonId)
            .into_tuple::<i64>()
            .one(conn)
            .await?;
        let event = NewEvent {
            tenant_id: c.tenant_id,
            cohort_id: c.id,
            kind: EventKind::NudgeDue,
            actor_person_id: None,
            person_id,
            occurred_at: now,
            data: events::data([
                ("nudgeId", crate::ids::encode(crate::ids::Kind::Nudge, id).into()),
                ("membershipId", crate::ids::encode(crate::ids::Kind::Membership, n.due.membership_id).into()),
                ("nudgeKind", n.due.kind.as_str().into()),
                ("dueAt", n.due.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into()),
            ]),
        };
        events::record(conn, event).await?;
        recorded += 1;
    }
    Ok(recorded)
}

/// The cohort's time zone (see [`zone_of`]), read from its meeting plan.
pub async fn zone(conn: &impl ConnectionTrait, c: &cohort::Model) -> Result<chrono_tz::Tz, DbErr> {
    Ok(zone_of(plan(conn, c).await?.as_ref()))
}

/// A weekday's English name, for the words of a nudge.
pub fn weekday_name(t: DateTime<chrono_tz::Tz>) -> &'static str {
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        [t.weekday().num_days_from_monday() as usize]
}
