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
/// ending at `as_of`: their check-ins, leadership actions and meetings attended.
async fn window_activity(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    only: Option<&[i64]>,
    as_of: i64,
) -> Result<HashMap<i64, MemberActivity>, DbErr> {
    if cohort_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let from = as_of - WINDOW;
    let members = members(conn, cohort_ids, only, as_of).await?;
    let leading = leadership_actions(conn, cohort_ids, from, as_of).await?;
    let mut out: HashMap<i64, MemberActivity> = members
        .iter()
        .map(|m| {
            let leadership_actions = leading.get(&(m.cohort_id, m.person_id)).copied().unwrap_or(0);
            (m.id, MemberActivity { check_ins: m.in_window, leadership_actions, ..MemberActivity::default() })
        })
        .collect();
    for (membership_id, n) in super::meetings::attended_by_member(conn, cohort_ids, only, from, as_of).await? {
        if let Some(activity) = out.get_mut(&membership_id) {
            activity.meetings_attended = n;
        }
    }
    Ok(out)
}

/// A membership as activity needs it, with its check-ins in the window from its tallies.
struct Member {
    id: i64,
    cohort_id: i64,
    person_id: i64,
    /// Check-ins in the window ending at `as_of`.
    in_window: u32,
}

/// The running count of the member's check-ins (of alias `m`, its totals joined as `c`) as of
/// `at`, an SQL expression: from their totals row, or, for a member who checked in after `at`, a
/// probe of their tallies there.
fn check_ins_at(at: &str) -> String {
    format!("COALESCE({}, 0)", tallies::as_of_totals("check_ins", "c", "m.id", &ALL_CHECK_INS.to_string(), at))
}

/// Every membership of the cohorts (or those of them in `only`) with its check-ins in the window
/// ending at `as_of`: one statement, whatever the number of check-ins; only a member who checked
/// in after a window boundary costs a probe of their tallies there.
async fn members(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    only: Option<&[i64]>,
    as_of: i64,
) -> Result<Vec<Member>, DbErr> {
    if cohort_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = Binds::new(conn.get_database_backend());
    let (now, from) = (b.bind(as_of), b.bind(as_of - WINDOW));
    let list = b.list(cohort_ids);
    let only = only.map_or_else(String::new, |ids| format!(" AND m.id IN ({})", b.list(ids)));
    let sql = format!(
        "SELECT m.id, m.cohort_id, m.person_id, {at_now}, {at_from} \
         FROM memberships m {join} WHERE m.cohort_id IN ({list}){only}",
        at_now = check_ins_at(&now),
        at_from = check_ins_at(&from),
        join = tallies::join_totals("c", "m.id", &ALL_CHECK_INS.to_string()),
    );
    conn.query_all_raw(b.statement(sql))
        .await?
        .into_iter()
        .map(|row| {
            let (at_now, at_from): (i64, i64) = (row.try_get_by_index(3)?, row.try_get_by_index(4)?);
            Ok(Member {
                id: row.try_get_by_index(0)?,
                cohort_id: row.try_get_by_index(1)?,
                person_id: row.try_get_by_index(2)?,
                in_window: between(at_now, at_from),
            })
        })
        .collect()
}

/// Check-ins between two window boundaries: the difference of the running counts at them.
fn between(later: i64, earlier: i64) -> u32 {
    u32::try_from(later.saturating_sub(earlier)).unwrap_or(u32::MAX)
}

/// Leadership actions (stage changes with an actor, code-of-conduct versions with an author) of
/// the cohorts `cohorts` (an SQL condition on a cohort id: `IN (…)`, `= c.id`) at or before `to`,
/// as rows `(cohort_id, person_id, at)`.
fn leadership_sql(cohorts: &str, to: &str) -> String {
    format!(
        "SELECT e.cohort_id, e.actor_person_id AS person_id, e.occurred_at AS at FROM stage_events e \
         WHERE e.cohort_id {cohorts} AND e.actor_person_id IS NOT NULL AND e.occurred_at <= {to} \
         UNION ALL \
         SELECT v.cohort_id, v.created_by, v.created_at FROM conduct_versions v \
         WHERE v.cohort_id {cohorts} AND v.created_by IS NOT NULL AND v.created_at <= {to}"
    )
}

/// Each (cohort, person)'s leadership actions in the window `(from, to]` (`from`, `to` SQL
/// expressions), as rows `(cohort_id, person_id, n)`; a person without any is absent.
fn leadership_in_window_sql(cohorts: &str, from: &str, to: &str) -> String {
    format!(
        "SELECT a.cohort_id, a.person_id, COUNT(*) AS n FROM ({}) a WHERE a.at > {from} \
         GROUP BY a.cohort_id, a.person_id",
        leadership_sql(cohorts, to)
    )
}

/// Leadership actions in the window `(from, to]` per (cohort, person): one statement over both
/// kinds of action.
async fn leadership_actions(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    from: i64,
    to: i64,
) -> Result<HashMap<(i64, i64), u32>, DbErr> {
    if cohort_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut b = Binds::new(conn.get_database_backend());
    let (from, to, list) = (b.bind(from), b.bind(to), b.list(cohort_ids));
    let sql = leadership_in_window_sql(&format!("IN ({list})"), &from, &to);
    let mut out = HashMap::new();
    for row in conn.query_all_raw(b.statement(sql)).await? {
        let (cohort_id, person_id, n): (i64, i64, i64) =
            (row.try_get_by_index(0)?, row.try_get_by_index(1)?, row.try_get_by_index(2)?);
        out.insert((cohort_id, person_id), u32::try_from(n).unwrap_or(u32::MAX));
    }
    Ok(out)
}

/// What evaluation and health need to know of one cohort as of `as_of` (microseconds).
pub async fn snapshot(conn: &impl ConnectionTrait, c: &cohort::Model, as_of: i64) -> Result<Snapshot, DbErr> {
    let mut snaps = snapshots(conn, std::slice::from_ref(c), as_of).await?;
    snaps.remove(&c.id).ok_or_else(|| DbErr::Custom(format!("no snapshot of cohort {}", c.id)))
}

/// The snapshots of many cohorts as of one moment (microseconds), by cohort id. Three
/// statements (the members' counts, the cohorts' own facts, the attendance rates), each over all
/// the cohorts at once and returning a row per cohort (check-ins through their tallies and probes
/// of their index by cohort and time), whatever the number of cohorts, members, check-ins or
/// meetings; none for no cohorts.
pub async fn snapshots(
    conn: &impl ConnectionTrait,
    cohorts: &[cohort::Model],
    as_of: i64,
) -> Result<HashMap<i64, Snapshot>, DbErr> {
    if cohorts.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = cohorts.iter().map(|c| c.id).collect();
    let counts = member_counts(conn, &ids, as_of).await?;
    let facts = facts(conn, &ids, as_of).await?;
    // Attendance counts as activity at the meeting's start; the rate is over the last meetings.
    let attendance_rates = super::meetings::attendance_rates(conn, &ids, as_of).await?;

    Ok(cohorts
        .iter()
        .map(|c| {
            let f = facts.get(&c.id);
            let n = counts.get(&c.id).copied().unwrap_or_default();
            let snap = Snapshot {
                as_of: from_micros(as_of),
                created_at: from_micros(c.created_at),
                activated_at: c.activated_at.map(from_micros),
                active_members: n.active_members,
                members_active_in_window: n.members_active_in_window,
                check_ins_in_window: n.check_ins_in_window,
                check_ins_in_previous_window: n.check_ins_in_previous_window,
                active_leaders: n.active_leaders,
                leader_active_in_window: n.leader_active_in_window,
                members_gone_quiet: n.members_gone_quiet,
                outside_interest: f.map_or(0, |f| f.outside_interest),
                active_weeks_in_a_row: f.map_or(0, |f| f.weeks_in_a_row),
                attendance_rate: attendance_rates.get(&c.id).copied(),
                goals: f.map_or(0, |f| f.goals),
                goals_achieved: f.map_or(0, |f| f.goals_achieved),
                latest_deadline: f.and_then(|f| f.latest_deadline),
                last_activity_at: f
                    .and_then(|f| [f.last_check_in, f.last_leading, f.last_attended].into_iter().flatten().max())
                    .map(from_micros),
            };
            (c.id, snap)
        })
        .collect())
}

/// What a snapshot counts of one cohort's memberships as of a moment.
#[derive(Debug, Default, Clone, Copy)]
struct MemberCounts {
    active_members: u32,
    /// Active members with any activity in the window (check-ins, meetings attended, leadership
    /// actions: what `MemberActivity::total` adds up).
    members_active_in_window: u32,
    /// The active members' check-ins in the window.
    check_ins_in_window: u32,
    /// Every membership's check-ins in the window before, whatever its status now.
    check_ins_in_previous_window: u32,
    active_leaders: u32,
    leader_active_in_window: bool,
    /// Active members who went quiet: at least the cohort's `maxUnanswered` check-in nudges (the
    /// policy's, or the default) came due after their latest check-in, as `nudge::gone_quiet`
    /// decides for one member.
    members_gone_quiet: u32,
}

/// [`MemberCounts`] of each cohort with members as of `as_of`, in one statement that returns a
/// row per cohort, whatever the number of members: each member's check-ins at the three window
/// boundaries come from their totals row (or a probe of their tallies, for a member who checked
/// in after a boundary), their meetings attended and leadership actions in the window from
/// grouped joins, and the database adds them up.
async fn member_counts(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    as_of: i64,
) -> Result<HashMap<i64, MemberCounts>, DbErr> {
    use afterclass_domain::nudge::{DEFAULT_MAX_UNANSWERED, NudgeKind};
    let mut b = Binds::new(conn.get_database_backend());
    let key = ALL_CHECK_INS.to_string();
    let (now, from, before) = (b.bind(as_of), b.bind(as_of - WINDOW), b.bind(as_of - 2 * WINDOW));
    let (active, leader) = (b.bind(MembershipStatus::Active.as_str()), b.bind(MemberRole::Leader.as_str()));
    let (due, default) = (b.bind(NudgeKind::CheckInDue.as_str()), b.bind(i64::from(DEFAULT_MAX_UNANSWERED)));
    let cohorts = format!("IN ({})", b.list(cohort_ids));
    let attended = super::meetings::attended_in_window_sql(&mut b, &cohorts, &from, &now);
    let last = tallies::as_of_totals("occurred_at", "c", "m.id", &key, &now);
    // Materialised, so that each member's probes run once however often the sums below use them.
    let sql = format!(
        "WITH per_member AS MATERIALIZED ( \
             SELECT m.cohort_id, m.role, m.status, {at_now} AS at_now, {at_from} AS at_from, {at_before} AS at_before, \
                    COALESCE(l.n, 0) + COALESCE(a.n, 0) AS other, \
                    CASE WHEN m.status = {active} \
                          AND (SELECT COUNT(*) FROM nudges n WHERE n.membership_id = m.id AND n.kind = {due} \
                                 AND n.due_at <= {now} AND n.due_at > COALESCE({last}, -1)) \
                              >= COALESCE((SELECT p.max_unanswered FROM nudge_policies p \
                                           WHERE p.cohort_id = m.cohort_id), {default}) \
                         THEN 1 ELSE 0 END AS quiet \
             FROM memberships m {join} \
             LEFT JOIN ({leading}) l ON l.cohort_id = m.cohort_id AND l.person_id = m.person_id \
             LEFT JOIN ({attended}) a ON a.membership_id = m.id \
             WHERE m.cohort_id {cohorts}) \
         SELECT cohort_id, \
                CAST(SUM(CASE WHEN {is_active} THEN 1 ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN {is_active} AND {busy} THEN 1 ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN {is_active} THEN at_now - at_from ELSE 0 END) AS BIGINT), \
                CAST(SUM(at_from - at_before) AS BIGINT), \
                CAST(SUM(CASE WHEN {is_active} AND {is_leader} THEN 1 ELSE 0 END) AS BIGINT), \
                CAST(SUM(CASE WHEN {is_active} AND {is_leader} AND {busy} THEN 1 ELSE 0 END) AS BIGINT), \
                CAST(SUM(quiet) AS BIGINT) \
         FROM per_member GROUP BY cohort_id",
        at_now = check_ins_at(&now),
        at_from = check_ins_at(&from),
        at_before = check_ins_at(&before),
        join = tallies::join_totals("c", "m.id", &key),
        leading = leadership_in_window_sql(&cohorts, &from, &now),
        is_active = format!("status = {active}"),
        is_leader = format!("role = {leader}"),
        busy = "at_now - at_from + other > 0",
    );
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    let mut out = HashMap::new();
    for row in conn.query_all_raw(b.statement(sql)).await? {
        let cohort_id: i64 = row.try_get_by_index(0)?;
        let n = |i: usize| row.try_get_by_index::<i64>(i).map(count);
        out.insert(
            cohort_id,
            MemberCounts {
                active_members: n(1)?,
                members_active_in_window: n(2)?,
                check_ins_in_window: n(3)?,
                check_ins_in_previous_window: n(4)?,
                active_leaders: n(5)?,
                leader_active_in_window: n(6)? > 0,
                members_gone_quiet: n(7)?,
            },
        );
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
    /// The latest leadership action, by anyone.
    last_leading: Option<i64>,
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
                {last_attended}, {outside}, {goal_count}, {goals_achieved}, {latest_deadline}, \
                (SELECT MAX(l.at) FROM ({leading}) l) \
         FROM cohorts c WHERE c.id IN ({list})",
        leading = leadership_sql("= c.id", &at),
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
            last_leading: row.try_get_by_index(8)?,
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
