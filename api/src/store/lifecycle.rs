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
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Value, json};

use super::entities::cohort;
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
/// Three statements (memberships with their check-ins, leadership, meetings attended), whatever
/// the number of members, check-ins or meetings.
pub async fn member_activity(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    as_of: i64,
) -> Result<HashMap<i64, MemberActivity>, DbErr> {
    window_activity(conn, cohort_ids, None, as_of).await
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
    window_activity(conn, cohort_ids, Some(only), as_of).await
}

/// The activity of the memberships of the cohorts (or those of them in `only`) in the window
/// ending at `as_of`.
async fn window_activity(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    only: Option<&[i64]>,
    as_of: i64,
) -> Result<HashMap<i64, MemberActivity>, DbErr> {
    let members = members(conn, cohort_ids, only, as_of, false).await?;
    let leading = leadership_actions(conn, cohort_ids, as_of - WINDOW, as_of).await?;
    activity_of(conn, cohort_ids, as_of, &members, &leading).await
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
    /// Check-ins in the window before that (for a snapshot only).
    in_previous_window: u32,
    /// Active and gone quiet as of `as_of` (for a snapshot only): at least the cohort's
    /// `maxUnanswered` check-in nudges (the policy's, or the default) came due after the member's
    /// latest check-in, as `nudge::gone_quiet` decides for one member.
    gone_quiet: bool,
}

/// Every membership of the cohorts (or those of them in `only`) with its check-ins in the window
/// ending at `as_of` and, for a `snapshot`, in the window before and whether it went quiet: one
/// statement, whatever the number of check-ins. Each member's counts come from their totals row;
/// only a member who checked in after a window boundary costs a probe of their tallies there
/// (two boundaries; for a snapshot three, and the latest check-in).
async fn members(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    only: Option<&[i64]>,
    as_of: i64,
    snapshot: bool,
) -> Result<Vec<Member>, DbErr> {
    use afterclass_domain::nudge::{DEFAULT_MAX_UNANSWERED, NudgeKind};
    if cohort_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = Binds::new(conn.get_database_backend());
    let key = ALL_CHECK_INS.to_string();
    let count_at = |at: &str| format!("COALESCE({}, 0)", tallies::as_of_totals("check_ins", "c", "m.id", &key, at));
    let (now, from) = (b.bind(as_of), b.bind(as_of - WINDOW));
    let (at_now, at_from) = (count_at(&now), count_at(&from));
    let (at_before, gone_quiet) = if snapshot {
        let before = b.bind(as_of - 2 * WINDOW);
        let (active, kind) = (b.bind(MembershipStatus::Active.as_str()), b.bind(NudgeKind::CheckInDue.as_str()));
        let default = b.bind(i64::from(DEFAULT_MAX_UNANSWERED));
        let last = tallies::as_of_totals("occurred_at", "c", "m.id", &key, &now);
        let quiet = format!(
            "CASE WHEN m.status = {active} \
                   AND (SELECT COUNT(*) FROM nudges n WHERE n.membership_id = m.id AND n.kind = {kind} \
                          AND n.due_at <= {now} AND n.due_at > COALESCE({last}, -1)) \
                       >= COALESCE((SELECT p.max_unanswered FROM nudge_policies p WHERE p.cohort_id = m.cohort_id), \
                                   {default}) \
                  THEN 1 ELSE 0 END"
        );
        (count_at(&before), quiet)
    } else {
        ("CAST(0 AS BIGINT)".to_owned(), "0".to_owned())
    };
    let list = b.list(cohort_ids);
    let only = only.map_or_else(String::new, |ids| format!(" AND m.id IN ({})", b.list(ids)));
    let sql = format!(
        "SELECT m.id, m.cohort_id, m.person_id, m.role, m.status, {at_now}, {at_from}, {at_before}, {gone_quiet} \
         FROM memberships m {join} WHERE m.cohort_id IN ({list}){only}",
        join = tallies::join_totals("c", "m.id", &key),
    );
    // Check-ins between two boundaries: the difference of the running counts at them.
    let between = |later: i64, earlier: i64| u32::try_from(later.saturating_sub(earlier)).unwrap_or(u32::MAX);
    conn.query_all_raw(b.statement(sql))
        .await?
        .into_iter()
        .map(|row| {
            let (at_now, at_from): (i64, i64) = (row.try_get_by_index(5)?, row.try_get_by_index(6)?);
            let at_before: i64 = row.try_get_by_index(7)?;
            let quiet: i32 = row.try_get_by_index(8)?;
            Ok(Member {
                id: row.try_get_by_index(0)?,
                cohort_id: row.try_get_by_index(1)?,
                person_id: row.try_get_by_index(2)?,
                role: row.try_get_by_index(3)?,
                status: row.try_get_by_index(4)?,
                in_window: between(at_now, at_from),
                in_previous_window: if snapshot { between(at_from, at_before) } else { 0 },
                gone_quiet: quiet != 0,
            })
        })
        .collect()
}

/// The activity of `members` (of `cohort_ids`) in the window ending at `as_of`: their check-ins,
/// the leadership actions of `leading` ([`leadership_actions`] over the same window) and
/// meetings attended.
async fn activity_of(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    as_of: i64,
    members: &[Member],
    leading: &HashMap<(i64, i64), Leading>,
) -> Result<HashMap<i64, MemberActivity>, DbErr> {
    if cohort_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let from = as_of - WINDOW;
    let mut out: HashMap<i64, MemberActivity> = HashMap::new();
    for m in members {
        let entry = out.entry(m.id).or_default();
        entry.leadership_actions = leading.get(&(m.cohort_id, m.person_id)).map_or(0, |l| l.in_window);
        entry.check_ins = m.in_window;
    }
    for (membership_id, n) in super::meetings::attended_by_member(conn, cohort_ids, from, as_of).await? {
        out.entry(membership_id).or_default().meetings_attended = n;
    }
    Ok(out)
}

/// A person's leadership actions (stage changes and code-of-conduct versions) in one cohort.
#[derive(Debug, Clone, Copy)]
struct Leading {
    /// Actions in the window `(from, to]`.
    in_window: u32,
    /// The latest action at or before `to`, whenever it was.
    latest: i64,
}

/// [`Leading`] per (cohort, person) up to `to`, counting the window after `from`: one statement
/// over both kinds of action.
async fn leadership_actions(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    from: i64,
    to: i64,
) -> Result<HashMap<(i64, i64), Leading>, DbErr> {
    if cohort_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut b = Binds::new(conn.get_database_backend());
    let (from, to, list) = (b.bind(from), b.bind(to), b.list(cohort_ids));
    let sql = format!(
        "SELECT a.cohort_id, a.person_id, SUM(CASE WHEN a.at > {from} THEN 1 ELSE 0 END), MAX(a.at) FROM ( \
             SELECT e.cohort_id, e.actor_person_id AS person_id, e.occurred_at AS at FROM stage_events e \
             WHERE e.cohort_id IN ({list}) AND e.actor_person_id IS NOT NULL AND e.occurred_at <= {to} \
             UNION ALL \
             SELECT v.cohort_id, v.created_by, v.created_at FROM conduct_versions v \
             WHERE v.cohort_id IN ({list}) AND v.created_by IS NOT NULL AND v.created_at <= {to}) a \
         GROUP BY a.cohort_id, a.person_id"
    );
    let mut out = HashMap::new();
    for row in conn.query_all_raw(b.statement(sql)).await? {
        let (cohort_id, person_id): (i64, i64) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        let in_window: i64 = row.try_get_by_index(2)?;
        let latest: i64 = row.try_get_by_index(3)?;
        out.insert((cohort_id, person_id), Leading { in_window: u32::try_from(in_window).unwrap_or(u32::MAX), latest });
    }
    Ok(out)
}

/// What evaluation and health need to know of one cohort as of `as_of` (microseconds).
pub async fn snapshot(conn: &impl ConnectionTrait, c: &cohort::Model, as_of: i64) -> Result<Snapshot, DbErr> {
    let mut snaps = snapshots(conn, std::slice::from_ref(c), as_of).await?;
    snaps.remove(&c.id).ok_or_else(|| DbErr::Custom(format!("no snapshot of cohort {}", c.id)))
}

/// The snapshots of many cohorts as of one moment (microseconds), by cohort id. Five
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
    let leading = leadership_actions(conn, &ids, as_of - WINDOW, as_of).await?;
    let activity = activity_of(conn, &ids, as_of, &members, &leading).await?;
    // Every membership's check-ins count here, whatever its status now.
    let mut previous: HashMap<i64, u32> = HashMap::new();
    let mut quiet: HashMap<i64, u32> = HashMap::new();
    for m in &members {
        let n = previous.entry(m.cohort_id).or_default();
        *n = n.saturating_add(m.in_previous_window);
        *quiet.entry(m.cohort_id).or_default() += u32::from(m.gone_quiet);
    }
    let mut last_leading: HashMap<i64, i64> = HashMap::new();
    for (&(cohort_id, _), l) in &leading {
        let entry = last_leading.entry(cohort_id).or_insert(l.latest);
        *entry = std::cmp::max(*entry, l.latest);
    }
    let facts = facts(conn, &ids, as_of).await?;
    // Attendance counts as activity at the meeting's start; the rate is over the last meetings.
    let attendance_rates = super::meetings::attendance_rates(conn, &ids, as_of).await?;

    let mut out: HashMap<i64, Snapshot> = cohorts
        .iter()
        .map(|c| {
            let f = facts.get(&c.id);
            let snap = Snapshot {
                as_of: from_micros(as_of),
                created_at: from_micros(c.created_at),
                activated_at: c.activated_at.map(from_micros),
                check_ins_in_previous_window: previous.get(&c.id).copied().unwrap_or(0),
                members_gone_quiet: quiet.get(&c.id).copied().unwrap_or(0),
                outside_interest: f.map_or(0, |f| f.outside_interest),
                active_weeks_in_a_row: f.map_or(0, |f| f.weeks_in_a_row),
                attendance_rate: attendance_rates.get(&c.id).copied(),
                goals: f.map_or(0, |f| f.goals),
                goals_achieved: f.map_or(0, |f| f.goals_achieved),
                latest_deadline: f.and_then(|f| f.latest_deadline),
                last_activity_at: [
                    f.and_then(|f| f.last_check_in),
                    last_leading.get(&c.id).copied(),
                    f.and_then(|f| f.last_attended),
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
    Ok(out)
}

/// What a snapshot needs of each cohort that one row per cohort gives, as of a moment.
struct Facts {
    /// The latest check-in at or before the moment.
    last_check_in: Option<i64>,
    /// Consecutive weeks, ending with the week up to the moment, with at least one check-in.
    weeks_in_a_row: u32,
    /// The start of the latest meeting someone attended.
    last_attended: Option<i64>,
    outside_interest: u32,
    /// Goals not abandoned, and of them those achieved by the moment.
    goals: u32,
    goals_achieved: u32,
    latest_deadline: Option<NaiveDate>,
}

/// [`Facts`] of each cohort as of `as_of`, in one statement. Check-ins are probes of their index
/// by cohort and time — one for the latest, and one a week for the streak, looking a week further
/// back only while the weeks so far had check-ins.
async fn facts(conn: &impl ConnectionTrait, cohort_ids: &[i64], as_of: i64) -> Result<HashMap<i64, Facts>, DbErr> {
    let mut b = Binds::new(conn.get_database_backend());
    let (at, week, weeks, list) = (b.bind(as_of), b.bind(MICROS_PER_WEEK), b.bind(STREAK_WEEKS), b.list(cohort_ids));
    let (abandoned, achieved) = (b.bind(GoalStatus::Abandoned.as_str()), b.bind(GoalStatus::Achieved.as_str()));
    let last_attended = super::meetings::last_attended(&mut b, "c.id", &at);
    let outside = outside_interest_sql(&mut b, "c.id", &at);
    let checked_in = |cohort: &str, weeks_back: &str| {
        format!(
            "EXISTS (SELECT 1 FROM check_ins x WHERE x.cohort_id = {cohort} \
                     AND x.occurred_at <= {at} - {weeks_back} * {week} \
                     AND x.occurred_at > {at} - ({weeks_back} + 1) * {week})"
        )
    };
    let goals = |what: &str, only: &str| {
        format!("(SELECT {what} FROM goals g WHERE g.cohort_id = c.id AND g.status <> {abandoned}{only})")
    };
    let sql = format!(
        "WITH RECURSIVE streak (cohort_id, weeks_back) AS ( \
             SELECT c.id, 0 FROM cohorts c WHERE c.id IN ({list}) AND {first} \
             UNION ALL \
             SELECT s.cohort_id, s.weeks_back + 1 FROM streak s \
             WHERE s.weeks_back + 1 < {weeks} AND {next}) \
         SELECT c.id, \
                (SELECT MAX(x.occurred_at) FROM check_ins x WHERE x.cohort_id = c.id AND x.occurred_at <= {at}), \
                (SELECT COUNT(*) FROM streak s WHERE s.cohort_id = c.id), \
                {last_attended}, {outside}, {goal_count}, {goals_achieved}, {latest_deadline} \
         FROM cohorts c WHERE c.id IN ({list})",
        first = checked_in("c.id", "0"),
        next = checked_in("s.cohort_id", "(s.weeks_back + 1)"),
        goal_count = goals("COUNT(*)", ""),
        goals_achieved = goals("COUNT(*)", &format!(" AND g.status = {achieved} AND g.achieved_at <= {at}")),
        latest_deadline = goals("MAX(g.deadline)", ""),
    );
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    let mut out = HashMap::new();
    for row in conn.query_all_raw(b.statement(sql)).await? {
        let cohort_id: i64 = row.try_get_by_index(0)?;
        let deadline: Option<String> = row.try_get_by_index(7)?;
        let facts = Facts {
            last_check_in: row.try_get_by_index(1)?,
            weeks_in_a_row: count(row.try_get_by_index(2)?),
            last_attended: row.try_get_by_index(3)?,
            outside_interest: count(row.try_get_by_index(4)?),
            goals: count(row.try_get_by_index(5)?),
            goals_achieved: count(row.try_get_by_index(6)?),
            latest_deadline: super::progress::parse_date(deadline.as_deref()),
        };
        out.insert(cohort_id, facts);
    }
    Ok(out)
}

/// Outside interest as of `as_of`: distinct people, not on the origin course's roster, whose
/// request to join is pending or was accepted. Withdrawn and declined requests stay on record
/// but do not count, and one person counts once however often they asked.
pub async fn outside_interest(conn: &impl ConnectionTrait, cohort_id: i64, as_of: i64) -> Result<u32, DbErr> {
    let mut b = Binds::new(conn.get_database_backend());
    let (cohort, at) = (b.bind(cohort_id), b.bind(as_of));
    let sql = format!("SELECT {}", outside_interest_sql(&mut b, &cohort, &at));
    let Some(row) = conn.query_one_raw(b.statement(sql)).await? else { return Ok(0) };
    let n: i64 = row.try_get_by_index(0)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// A scalar subquery giving the outside interest ([`outside_interest`]) in the cohort `cohort`
/// as of `at` (SQL expressions).
fn outside_interest_sql(b: &mut Binds, cohort: &str, at: &str) -> String {
    use afterclass_domain::joining::JoinRequestStatus;
    let (yes, pending, approved) =
        (b.bind(true), b.bind(JoinRequestStatus::Pending.as_str()), b.bind(JoinRequestStatus::Approved.as_str()));
    format!(
        "(SELECT COUNT(DISTINCT j.person_id) FROM join_requests j \
          WHERE j.cohort_id = {cohort} AND j.from_outside_course = {yes} \
            AND j.status IN ({pending}, {approved}) AND j.created_at <= {at})"
    )
}
