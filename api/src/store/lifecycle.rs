//! Activity snapshots for evaluation and health, computed with aggregate SQL (counts, maxima,
//! grouped windows) and, for check-ins, from their running tallies (`store::tallies`), so that a
//! cohort with a million check-ins costs the same handful of statements and index probes as one
//! with ten; and the JSON forms of criteria and evaluations as stored.

use std::collections::HashMap;

use afterclass_domain::cohort::{Horizon, MemberRole, MembershipStatus};
use afterclass_domain::goal::GoalStatus;
use afterclass_domain::lifecycle::{
    self as dl, Criterion, CriterionKind, CriterionResult, Effect, Evaluation, MICROS_PER_DAY, MICROS_PER_WEEK,
    MemberActivity, Recommendation, Snapshot, WINDOW_DAYS,
};
use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};

use super::entities::{cohort, conduct_version, goal, join_request, stage_event};
use super::from_micros;
use super::tallies::{self, ALL_CHECK_INS, Binds};

const WINDOW: i64 = WINDOW_DAYS * MICROS_PER_DAY;
/// How far back `SUSTAINED_ACTIVITY_WEEKS` looks.
const STREAK_WEEKS: i64 = 104;

/// The criteria a cohort evaluates with: its own, or its horizon's defaults.
pub fn criteria_of(c: &cohort::Model) -> Vec<Criterion> {
    c.criteria
        .as_deref()
        .and_then(criteria_from_json)
        .unwrap_or_else(|| dl::default_criteria(Horizon::parse(&c.horizon).unwrap_or(Horizon::ShortTerm)))
}

pub fn criteria_to_json(criteria: &[Criterion]) -> String {
    Value::Array(
        criteria
            .iter()
            .map(|c| json!({ "kind": c.kind.as_str(), "effect": c.effect.as_str(), "threshold": c.threshold }))
            .collect(),
    )
    .to_string()
}

fn criterion_from(v: &Value) -> Option<Criterion> {
    Some(Criterion {
        kind: CriterionKind::parse(v["kind"].as_str()?)?,
        effect: Effect::parse(v["effect"].as_str()?)?,
        threshold: v["threshold"].as_f64(),
    })
}

fn criteria_from_json(text: &str) -> Option<Vec<Criterion>> {
    let v: Value = serde_json::from_str(text).ok()?;
    v.as_array()?.iter().map(criterion_from).collect()
}

pub fn evaluation_to_json(e: &Evaluation) -> String {
    json!({
        "asOf": e.as_of.to_rfc3339(),
        "recommendation": e.recommendation.as_str(),
        "summary": e.summary,
        "results": e.results.iter().map(|r| json!({
            "kind": r.criterion.kind.as_str(),
            "effect": r.criterion.effect.as_str(),
            "threshold": r.criterion.threshold,
            "holds": r.holds,
            "observed": r.observed,
            "explanation": r.explanation,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

pub fn evaluation_from_json(text: &str) -> Option<Evaluation> {
    let v: Value = serde_json::from_str(text).ok()?;
    let results = v["results"]
        .as_array()?
        .iter()
        .map(|r| {
            Some(CriterionResult {
                criterion: criterion_from(r)?,
                holds: r["holds"].as_bool()?,
                observed: r["observed"].as_f64(),
                threshold: r["threshold"].as_f64(),
                explanation: r["explanation"].as_str()?.to_owned(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Evaluation {
        as_of: v["asOf"].as_str()?.parse().ok()?,
        recommendation: Recommendation::parse(v["recommendation"].as_str()?)?,
        summary: v["summary"].as_str()?.to_owned(),
        results,
    })
}

/// Each member's activity in the window ending at `as_of`, for every membership of the cohorts.
/// Four statements (memberships with their check-ins, leadership, meetings attended), whatever
/// the number of members, check-ins or meetings.
pub async fn member_activity(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    as_of: i64,
) -> Result<HashMap<i64, MemberActivity>, DbErr> {
    let members = members(conn, cohort_ids, None, as_of, false).await?;
    activity_of(conn, cohort_ids, as_of, &members).await
}

/// [`member_activity`] of the memberships `only` (of `cohort_ids`): the members a page shows,
/// so that a page of a large cohort probes the tallies of its own members only.
pub async fn activity_of_memberships(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    only: &[i64],
    as_of: i64,
) -> Result<HashMap<i64, MemberActivity>, DbErr> {
    if only.is_empty() {
        return Ok(HashMap::new());
    }
    let members = members(conn, cohort_ids, Some(only), as_of, false).await?;
    activity_of(conn, cohort_ids, as_of, &members).await
}

/// A membership as activity needs it, with its check-ins from its tallies.
struct Member {
    id: i64,
    cohort_id: i64,
    person_id: i64,
    role: String,
    status: String,
    /// Check-ins in the window ending at `as_of`.
    in_window: u32,
    /// Check-ins in the window before that (only when asked for).
    in_previous_window: u32,
}

/// Every membership of the cohorts (or those of them in `only`) with its check-ins in the window
/// ending at `as_of` (and, with `previous`, in the window before): one statement, two or three
/// probes of each member's tallies, whatever the number of check-ins.
async fn members(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    only: Option<&[i64]>,
    as_of: i64,
    previous: bool,
) -> Result<Vec<Member>, DbErr> {
    if cohort_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = Binds::new(conn.get_database_backend());
    let key = ALL_CHECK_INS.to_string();
    let count_at = |at: &str| format!("COALESCE({}, 0)", tallies::as_of("check_ins", "m.id", &key, at));
    let (now, from) = (b.bind(as_of), b.bind(as_of - WINDOW));
    let in_window = format!("{} - {}", count_at(&now), count_at(&from));
    let in_previous = if previous {
        let before = b.bind(as_of - 2 * WINDOW);
        format!("{} - {}", count_at(&from), count_at(&before))
    } else {
        "CAST(0 AS BIGINT)".to_owned()
    };
    let list = b.list(cohort_ids);
    let only = only.map_or_else(String::new, |ids| format!(" AND m.id IN ({})", b.list(ids)));
    let sql = format!(
        "SELECT m.id, m.cohort_id, m.person_id, m.role, m.status, {in_window}, {in_previous} \
         FROM memberships m WHERE m.cohort_id IN ({list}){only}"
    );
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    conn.query_all_raw(b.statement(sql))
        .await?
        .into_iter()
        .map(|row| {
            Ok(Member {
                id: row.try_get_by_index(0)?,
                cohort_id: row.try_get_by_index(1)?,
                person_id: row.try_get_by_index(2)?,
                role: row.try_get_by_index(3)?,
                status: row.try_get_by_index(4)?,
                in_window: count(row.try_get_by_index(5)?),
                in_previous_window: count(row.try_get_by_index(6)?),
            })
        })
        .collect()
}

/// The activity of `members` (of `cohort_ids`) in the window ending at `as_of`: their check-ins,
/// leadership actions and meetings attended.
async fn activity_of(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    as_of: i64,
    members: &[Member],
) -> Result<HashMap<i64, MemberActivity>, DbErr> {
    if cohort_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let from = as_of - WINDOW;
    let leading = leadership_actions(conn, cohort_ids, from, as_of).await?;
    let mut out: HashMap<i64, MemberActivity> = HashMap::new();
    for m in members {
        let entry = out.entry(m.id).or_default();
        entry.leadership_actions = leading.get(&(m.cohort_id, m.person_id)).map_or(0, |(n, _)| *n);
        entry.check_ins = m.in_window;
    }
    for (membership_id, n) in super::meetings::attended_by_member(conn, cohort_ids, from, as_of).await? {
        out.entry(membership_id).or_default().meetings_attended = n;
    }
    Ok(out)
}

/// Leadership actions (stage changes and code-of-conduct versions) per (cohort, person) in
/// `(from, to]`, with the latest one's time.
async fn leadership_actions(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    from: i64,
    to: i64,
) -> Result<HashMap<(i64, i64), (u32, i64)>, DbErr> {
    let events: Vec<(i64, Option<i64>, i64, Option<i64>)> = stage_event::Entity::find()
        .select_only()
        .column(stage_event::Column::CohortId)
        .column(stage_event::Column::ActorPersonId)
        .column_as(Expr::col(stage_event::Column::Id).count(), "n")
        .column_as(Expr::col(stage_event::Column::OccurredAt).max(), "latest")
        .filter(stage_event::Column::CohortId.is_in(cohort_ids.iter().copied()))
        .filter(stage_event::Column::ActorPersonId.is_not_null())
        .filter(stage_event::Column::OccurredAt.gt(from))
        .filter(stage_event::Column::OccurredAt.lte(to))
        .group_by(stage_event::Column::CohortId)
        .group_by(stage_event::Column::ActorPersonId)
        .into_tuple()
        .all(conn)
        .await?;
    let conduct: Vec<(i64, Option<i64>, i64, Option<i64>)> = conduct_version::Entity::find()
        .select_only()
        .column(conduct_version::Column::CohortId)
        .column(conduct_version::Column::CreatedBy)
        .column_as(Expr::col(conduct_version::Column::Id).count(), "n")
        .column_as(Expr::col(conduct_version::Column::CreatedAt).max(), "latest")
        .filter(conduct_version::Column::CohortId.is_in(cohort_ids.iter().copied()))
        .filter(conduct_version::Column::CreatedBy.is_not_null())
        .filter(conduct_version::Column::CreatedAt.gt(from))
        .filter(conduct_version::Column::CreatedAt.lte(to))
        .group_by(conduct_version::Column::CohortId)
        .group_by(conduct_version::Column::CreatedBy)
        .into_tuple()
        .all(conn)
        .await?;
    let mut out: HashMap<(i64, i64), (u32, i64)> = HashMap::new();
    for (cohort_id, person, n, latest) in events.into_iter().chain(conduct) {
        let Some(person) = person else { continue };
        let entry = out.entry((cohort_id, person)).or_insert((0, i64::MIN));
        entry.0 += u32::try_from(n).unwrap_or(u32::MAX);
        entry.1 = std::cmp::max(entry.1, latest.unwrap_or(i64::MIN));
    }
    Ok(out)
}

/// What evaluation and health need to know of one cohort as of `as_of` (microseconds).
pub async fn snapshot(conn: &impl ConnectionTrait, c: &cohort::Model, as_of: i64) -> Result<Snapshot, DbErr> {
    let mut snaps = snapshots(conn, std::slice::from_ref(c), as_of).await?;
    snaps.remove(&c.id).ok_or_else(|| DbErr::Custom(format!("no snapshot of cohort {}", c.id)))
}

/// The snapshots of many cohorts as of one moment (microseconds), by cohort id. Twelve
/// statements, each over all the cohorts at once (grouped by cohort or membership; check-ins
/// through their tallies and probes of their index by cohort and time), whatever the number of
/// cohorts, members, check-ins or meetings; none for no cohorts.
pub async fn snapshots(
    conn: &impl ConnectionTrait,
    cohorts: &[cohort::Model],
    as_of: i64,
) -> Result<HashMap<i64, Snapshot>, DbErr> {
    if cohorts.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = cohorts.iter().map(|c| c.id).collect();
    let members = members(conn, &ids, None, as_of, true).await?;
    let activity = activity_of(conn, &ids, as_of, &members).await?;
    // Every membership's check-ins count here, whatever its status now.
    let mut previous: HashMap<i64, u32> = HashMap::new();
    for m in &members {
        let n = previous.entry(m.cohort_id).or_default();
        *n = n.saturating_add(m.in_previous_window);
    }
    let mut last_leading: HashMap<i64, i64> = HashMap::new();
    for ((cohort_id, _), (_, latest)) in leadership_actions(conn, &ids, i64::MIN, as_of).await? {
        let entry = last_leading.entry(cohort_id).or_insert(latest);
        *entry = std::cmp::max(*entry, latest);
    }
    let goals: Vec<(i64, String, Option<i64>, Option<String>)> = goal::Entity::find()
        .select_only()
        .columns([goal::Column::CohortId, goal::Column::Status, goal::Column::AchievedAt, goal::Column::Deadline])
        .filter(goal::Column::CohortId.is_in(ids.iter().copied()))
        .filter(goal::Column::Status.ne(GoalStatus::Abandoned.as_str()))
        .into_tuple()
        .all(conn)
        .await?;
    let recent = recent_check_ins(conn, &ids, as_of).await?;
    let outside = outside_interests(conn, &ids, as_of).await?;
    let quiet = gone_quiet(conn, &ids, as_of).await?;
    // Attendance counts as activity at the meeting's start; the rate is over the last meetings.
    let last_attended = super::meetings::last_attended(conn, &ids, as_of).await?;
    let attendance_rates = super::meetings::attendance_rates(conn, &ids, as_of).await?;

    let mut out: HashMap<i64, Snapshot> = cohorts
        .iter()
        .map(|c| {
            let snap = Snapshot {
                as_of: from_micros(as_of),
                created_at: from_micros(c.created_at),
                activated_at: c.activated_at.map(from_micros),
                check_ins_in_previous_window: previous.get(&c.id).copied().unwrap_or(0),
                outside_interest: outside.get(&c.id).copied().unwrap_or(0),
                members_gone_quiet: quiet.get(&c.id).copied().unwrap_or(0),
                active_weeks_in_a_row: recent.get(&c.id).map_or(0, |r| r.weeks_in_a_row),
                attendance_rate: attendance_rates.get(&c.id).copied(),
                last_activity_at: [
                    recent.get(&c.id).and_then(|r| r.last),
                    last_leading.get(&c.id).copied().filter(|t| *t > i64::MIN),
                    last_attended.get(&c.id).copied(),
                ]
                .into_iter()
                .flatten()
                .max()
                .map(from_micros),
                ..Snapshot::default()
            };
            (c.id, snap)
        })
        .collect();
    for Member { id, cohort_id, role, status, .. } in &members {
        let Some(snap) = out.get_mut(cohort_id) else { continue };
        if MembershipStatus::parse(status) != Some(MembershipStatus::Active) {
            continue;
        }
        let a = activity.get(id).copied().unwrap_or_default();
        snap.active_members += 1;
        snap.check_ins_in_window += a.check_ins;
        if a.total() > 0 {
            snap.members_active_in_window += 1;
        }
        if MemberRole::parse(role) == Some(MemberRole::Leader) {
            snap.active_leaders += 1;
            snap.leader_active_in_window |= a.total() > 0;
        }
    }
    for (cohort_id, status, at, deadline) in &goals {
        let Some(snap) = out.get_mut(cohort_id) else { continue };
        snap.goals += 1;
        if status == GoalStatus::Achieved.as_str() && at.is_some_and(|t| t <= as_of) {
            snap.goals_achieved += 1;
        }
        let deadline = deadline.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        snap.latest_deadline = std::cmp::max(snap.latest_deadline, deadline);
    }
    Ok(out)
}

/// What a cohort's check-ins say of its recent activity as of a moment.
struct Recent {
    /// The latest check-in at or before the moment.
    last: Option<i64>,
    /// Consecutive weeks, ending with the week up to the moment, with at least one check-in.
    weeks_in_a_row: u32,
}

/// [`Recent`] of each cohort as of `as_of`: one statement of probes of the check-ins' index by
/// cohort and time — one for the latest, and one a week for the streak, looking a week further
/// back only while the weeks so far had check-ins.
async fn recent_check_ins(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    as_of: i64,
) -> Result<HashMap<i64, Recent>, DbErr> {
    let mut b = Binds::new(conn.get_database_backend());
    let (at, week, weeks, list) = (b.bind(as_of), b.bind(MICROS_PER_WEEK), b.bind(STREAK_WEEKS), b.list(cohort_ids));
    let checked_in = |cohort: &str, weeks_back: &str| {
        format!(
            "EXISTS (SELECT 1 FROM check_ins x WHERE x.cohort_id = {cohort} \
                     AND x.occurred_at <= {at} - {weeks_back} * {week} \
                     AND x.occurred_at > {at} - ({weeks_back} + 1) * {week})"
        )
    };
    let sql = format!(
        "WITH RECURSIVE streak (cohort_id, weeks_back) AS ( \
             SELECT c.id, 0 FROM cohorts c WHERE c.id IN ({list}) AND {first} \
             UNION ALL \
             SELECT s.cohort_id, s.weeks_back + 1 FROM streak s \
             WHERE s.weeks_back + 1 < {weeks} AND {next}) \
         SELECT c.id, \
                (SELECT MAX(x.occurred_at) FROM check_ins x WHERE x.cohort_id = c.id AND x.occurred_at <= {at}), \
                (SELECT COUNT(*) FROM streak s WHERE s.cohort_id = c.id) \
         FROM cohorts c WHERE c.id IN ({list})",
        first = checked_in("c.id", "0"),
        next = checked_in("s.cohort_id", "(s.weeks_back + 1)"),
    );
    let mut out = HashMap::new();
    for row in conn.query_all_raw(b.statement(sql)).await? {
        let cohort_id: i64 = row.try_get_by_index(0)?;
        let last: Option<i64> = row.try_get_by_index(1)?;
        let weeks: i64 = row.try_get_by_index(2)?;
        out.insert(cohort_id, Recent { last, weeks_in_a_row: u32::try_from(weeks).unwrap_or(u32::MAX) });
    }
    Ok(out)
}

/// Outside interest as of `as_of`: distinct people, not on the origin course's roster, whose
/// request to join is pending or was accepted. Withdrawn and declined requests stay on record
/// but do not count, and one person counts once however often they asked.
pub async fn outside_interest(conn: &impl ConnectionTrait, cohort_id: i64, as_of: i64) -> Result<u32, DbErr> {
    Ok(outside_interests(conn, &[cohort_id], as_of).await?.get(&cohort_id).copied().unwrap_or(0))
}

/// How many active members of each cohort went quiet as of `as_of`: at least the cohort's
/// `maxUnanswered` check-in nudges (the policy's, or the default) came due after their latest
/// check-in, as `nudge::gone_quiet` decides for one member. One statement; a member's latest
/// check-in is a probe of their tallies. A cohort with none is absent.
async fn gone_quiet(conn: &impl ConnectionTrait, cohort_ids: &[i64], as_of: i64) -> Result<HashMap<i64, u32>, DbErr> {
    use afterclass_domain::nudge::{DEFAULT_MAX_UNANSWERED, NudgeKind};
    let mut b = Binds::new(conn.get_database_backend());
    let (at, active, kind) =
        (b.bind(as_of), b.bind(MembershipStatus::Active.as_str()), b.bind(NudgeKind::CheckInDue.as_str()));
    let default = b.bind(i64::from(DEFAULT_MAX_UNANSWERED));
    let list = b.list(cohort_ids);
    let last = tallies::as_of("occurred_at", "m.id", &ALL_CHECK_INS.to_string(), &at);
    let sql = format!(
        "SELECT m.cohort_id, COUNT(*) FROM memberships m \
         WHERE m.cohort_id IN ({list}) AND m.status = {active} \
           AND (SELECT COUNT(*) FROM nudges n WHERE n.membership_id = m.id AND n.kind = {kind} \
                  AND n.due_at <= {at} AND n.due_at > COALESCE({last}, -1)) \
               >= COALESCE((SELECT p.max_unanswered FROM nudge_policies p WHERE p.cohort_id = m.cohort_id), {default}) \
         GROUP BY m.cohort_id"
    );
    let mut out = HashMap::new();
    for row in conn.query_all_raw(b.statement(sql)).await? {
        let cohort_id: i64 = row.try_get_by_index(0)?;
        let n: i64 = row.try_get_by_index(1)?;
        out.insert(cohort_id, u32::try_from(n).unwrap_or(u32::MAX));
    }
    Ok(out)
}

/// [`outside_interest`] of many cohorts in one statement; a cohort with none is absent.
async fn outside_interests(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    as_of: i64,
) -> Result<HashMap<i64, u32>, DbErr> {
    use afterclass_domain::joining::JoinRequestStatus;
    let counted = [JoinRequestStatus::Pending.as_str(), JoinRequestStatus::Approved.as_str()];
    let rows: Vec<(i64, i64)> = join_request::Entity::find()
        .select_only()
        .column(join_request::Column::CohortId)
        .column_as(Expr::col(join_request::Column::PersonId).count_distinct(), "n")
        .filter(join_request::Column::CohortId.is_in(cohort_ids.iter().copied()))
        .filter(join_request::Column::FromOutsideCourse.eq(true))
        .filter(join_request::Column::Status.is_in(counted))
        .filter(join_request::Column::CreatedAt.lte(as_of))
        .group_by(join_request::Column::CohortId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|(cohort_id, n)| (cohort_id, u32::try_from(n).unwrap_or(u32::MAX))).collect())
}
