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
/// One statement (memberships with their check-ins, leadership and meetings attended), whatever
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
    window_activity(conn, cohort_ids, Some(only), as_of).await
}

/// The activity of the memberships of the cohorts (or those of them in `only`) in the window
/// ending at `as_of`, in one statement whatever the number of check-ins: each member's
/// check-ins in the window from their totals row (only a member who checked in after a window
/// boundary costs a probe of their tallies there), and their leadership actions and meetings
/// attended in the window from grouped joins.
async fn window_activity(
    conn: &impl ConnectionTrait,
    cohort_ids: &[i64],
    only: Option<&[i64]>,
    as_of: i64,
) -> Result<HashMap<i64, MemberActivity>, DbErr> {
    // An empty `IN ()` is not SQL.
    if cohort_ids.is_empty() || only.is_some_and(<[i64]>::is_empty) {
        return Ok(HashMap::new());
    }
    let mut b = Binds::new(conn.get_database_backend());
    let (now, from) = (b.bind(as_of), b.bind(as_of - WINDOW));
    let cohorts = format!("IN ({})", b.list(cohort_ids));
    let (members, attendance) = match only {
        Some(ids) => {
            let ids = b.list(ids);
            (format!("{cohorts} AND m.id IN ({ids})"), format!("{cohorts} AND a.membership_id IN ({ids})"))
        }
        None => (cohorts.clone(), cohorts.clone()),
    };
    let sql = format!(
        "SELECT m.id, {at_now}, {at_from}, COALESCE(l.n, 0), COALESCE(a.n, 0) {members}",
        at_now = check_ins_at(&now),
        at_from = check_ins_at(&from),
        members = members_in_window(&mut b, &cohorts, &members, &attendance, &from, &now),
    );
    conn.query_all_raw(b.statement(sql))
        .await?
        .into_iter()
        .map(|row| {
            let (at_now, at_from): (i64, i64) = (row.try_get_by_index(1)?, row.try_get_by_index(2)?);
            let activity = MemberActivity {
                check_ins: between(at_now, at_from),
                leadership_actions: count(row.try_get_by_index(3)?),
                meetings_attended: count(row.try_get_by_index(4)?),
            };
            Ok((row.try_get_by_index(0)?, activity))
        })
        .collect()
}

/// The running count of the member's check-ins (of alias `m`, its totals joined as `c`) as of
/// `at`, an SQL expression: from their totals row, or, for a member who checked in after `at`, a
/// probe of their tallies there.
fn check_ins_at(at: &str) -> String {
    format!("COALESCE({}, 0)", tallies::as_of_totals("check_ins", "c", "m.id", &ALL_CHECK_INS.to_string(), at))
}

/// `FROM` the memberships `m` of the cohorts `cohorts` (an SQL condition on a cohort id) that
/// `members` (the same, which may go on with conditions on `m`) selects, `WHERE` included: each
/// with their totals row of every check-in joined as `c` (for [`check_ins_at`]), their
/// leadership actions in the window `(from, to]` as `l.n` and their meetings attended in it as
/// `a.n` (both NULL without any), grouped joins whatever the number of members; `attendance`
/// narrows the attendance read as `members` does the members (`a.membership_id`).
fn members_in_window(b: &mut Binds, cohorts: &str, members: &str, attendance: &str, from: &str, to: &str) -> String {
    format!(
        "FROM memberships m {join} \
         LEFT JOIN ({leading}) l ON l.cohort_id = m.cohort_id AND l.person_id = m.person_id \
         LEFT JOIN ({attended}) a ON a.membership_id = m.id \
         WHERE m.cohort_id {members}",
        join = tallies::join_totals("c", "m.id", &ALL_CHECK_INS.to_string()),
        leading = leadership_in_window_sql(cohorts, from, to),
        attended = super::meetings::attended_in_window_sql(b, attendance, from, to),
    )
}

/// Check-ins between two window boundaries: the difference of the running counts at them.
fn between(later: i64, earlier: i64) -> u32 {
    count(later.saturating_sub(earlier))
}

/// A count read from the database as a `u32`, saturating.
fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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

/// What evaluation and health need to know of one cohort as of `as_of` (microseconds).
pub async fn snapshot(conn: &impl ConnectionTrait, c: &cohort::Model, as_of: i64) -> Result<Snapshot, DbErr> {
    let mut snaps = snapshots(conn, c.tenant_id, &[c.id], as_of).await?;
    snaps.remove(&c.id).ok_or_else(|| DbErr::Custom(format!("no snapshot of cohort {}", c.id)))
}

/// The snapshots of the tenant's cohorts among `cohort_ids` as of one moment (microseconds), by
/// cohort id, in one statement that returns a row per cohort: the cohort's own facts, its
/// members' counts (check-ins through their tallies, probes of their index by cohort and time)
/// and its attendance over its last meetings, whatever the number of cohorts, members,
/// check-ins or meetings; none for no cohorts. A cohort of another tenant has none.
pub async fn snapshots(
    conn: &impl ConnectionTrait,
    tenant_id: i64,
    cohort_ids: &[i64],
    as_of: i64,
) -> Result<HashMap<i64, Snapshot>, DbErr> {
    if cohort_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut b = Binds::new(conn.get_database_backend());
    let (at, tenant, list) = (b.bind(as_of), b.bind(tenant_id), b.list(cohort_ids));
    let cohorts = format!("IN ({list})");
    let counts = member_counts_sql(&mut b, &cohorts, as_of, &at);
    let (streak, facts) = facts_sql(&mut b, &list, &at);
    let attendance = super::meetings::attendance_sums_sql(&mut b, &cohorts, &at);
    let sql = format!(
        "WITH RECURSIVE {streak}, {counts} \
         SELECT c.id, c.created_at, c.activated_at, {facts}, \
                k.active_members, k.members_active_in_window, k.check_ins_in_window, \
                k.check_ins_in_previous_window, k.active_leaders, k.leaders_active_in_window, k.members_gone_quiet, \
                r.marked, r.present \
         FROM cohorts c \
         LEFT JOIN counts k ON k.cohort_id = c.id \
         LEFT JOIN ({attendance}) r ON r.cohort_id = c.id \
         WHERE c.id {cohorts} AND c.tenant_id = {tenant}"
    );
    let mut out = HashMap::new();
    for row in conn.query_all_raw(b.statement(sql)).await? {
        let cohort_id: i64 = row.try_get_by_index(0)?;
        let created_at: i64 = row.try_get_by_index(1)?;
        let activated_at: Option<i64> = row.try_get_by_index(2)?;
        let deadline: Option<String> = row.try_get_by_index(9)?;
        let n = |i: usize| row.try_get_by_index::<Option<i64>>(i).map(|n| n.map_or(0, count));
        let last_activity: [Option<i64>; 3] =
            [row.try_get_by_index(3)?, row.try_get_by_index(10)?, row.try_get_by_index(5)?];
        let (marked, present): (Option<i64>, Option<i64>) = (row.try_get_by_index(18)?, row.try_get_by_index(19)?);
        let attendance_rate = afterclass_domain::meeting::attendance_rate(
            u64::try_from(present.unwrap_or(0)).unwrap_or(0),
            u64::try_from(marked.unwrap_or(0)).unwrap_or(0),
        );
        let snap = Snapshot {
            as_of: from_micros(as_of),
            created_at: from_micros(created_at),
            activated_at: activated_at.map(from_micros),
            active_members: n(11)?,
            members_active_in_window: n(12)?,
            check_ins_in_window: n(13)?,
            check_ins_in_previous_window: n(14)?,
            active_leaders: n(15)?,
            leader_active_in_window: n(16)? > 0,
            members_gone_quiet: n(17)?,
            outside_interest: n(6)?,
            active_weeks_in_a_row: n(4)?,
            attendance_rate,
            goals: n(7)?,
            goals_achieved: n(8)?,
            latest_deadline: super::progress::parse_date(deadline.as_deref()),
            last_activity_at: last_activity.into_iter().flatten().max().map(from_micros),
        };
        out.insert(cohort_id, snap);
    }
    Ok(out)
}

/// The common table `counts` of a snapshot (after the `per_member` table it adds up): a row per
/// cohort of `cohorts` (an SQL condition on a cohort id) with members as of `as_of` (`now` its
/// placeholder), whatever the number of members. Each member's check-ins at the three window
/// boundaries come from their totals row (or a probe of their tallies, for a member who checked
/// in after a boundary), their meetings attended and leadership actions in the window from
/// grouped joins, and the database adds them up: active members, those of them with any activity
/// in the window (check-ins, meetings attended, leadership actions: what `MemberActivity::total`
/// adds up), the active members' check-ins in the window, every membership's check-ins in the
/// window before (whatever its status now), active leaders, whether one of them was active, and
/// the active members who went quiet (at least the cohort's `maxUnanswered` check-in nudges, the
/// policy's or the default, came due after their latest check-in, as `nudge::gone_quiet`
/// decides for one member).
fn member_counts_sql(b: &mut Binds, cohorts: &str, as_of: i64, now: &str) -> String {
    use afterclass_domain::nudge::{DEFAULT_MAX_UNANSWERED, NudgeKind};
    let key = ALL_CHECK_INS.to_string();
    let (from, before) = (b.bind(as_of - WINDOW), b.bind(as_of - 2 * WINDOW));
    let (active, leader) = (b.bind(MembershipStatus::Active.as_str()), b.bind(MemberRole::Leader.as_str()));
    let (due, default) = (b.bind(NudgeKind::CheckInDue.as_str()), b.bind(i64::from(DEFAULT_MAX_UNANSWERED)));
    let members = members_in_window(b, cohorts, cohorts, cohorts, &from, now);
    let last = tallies::as_of_totals("occurred_at", "c", "m.id", &key, now);
    // Materialised, so that each member's probes run once however often the sums below use them.
    format!(
        "per_member AS MATERIALIZED ( \
             SELECT m.cohort_id, m.role, m.status, {at_now} AS at_now, {at_from} AS at_from, {at_before} AS at_before, \
                    COALESCE(l.n, 0) + COALESCE(a.n, 0) AS other, \
                    CASE WHEN m.status = {active} \
                          AND (SELECT COUNT(*) FROM nudges n WHERE n.membership_id = m.id AND n.kind = {due} \
                                 AND n.due_at <= {now} AND n.due_at > COALESCE({last}, -1)) \
                              >= COALESCE((SELECT p.max_unanswered FROM nudge_policies p \
                                           WHERE p.cohort_id = m.cohort_id), {default}) \
                         THEN 1 ELSE 0 END AS quiet \
             {members}), \
         counts AS ( \
             SELECT cohort_id, \
                CAST(SUM(CASE WHEN {is_active} THEN 1 ELSE 0 END) AS BIGINT) AS active_members, \
                CAST(SUM(CASE WHEN {is_active} AND {busy} THEN 1 ELSE 0 END) AS BIGINT) AS members_active_in_window, \
                CAST(SUM(CASE WHEN {is_active} THEN at_now - at_from ELSE 0 END) AS BIGINT) AS check_ins_in_window, \
                CAST(SUM(at_from - at_before) AS BIGINT) AS check_ins_in_previous_window, \
                CAST(SUM(CASE WHEN {is_active} AND {is_leader} THEN 1 ELSE 0 END) AS BIGINT) AS active_leaders, \
                CAST(SUM(CASE WHEN {is_active} AND {is_leader} AND {busy} THEN 1 ELSE 0 END) AS BIGINT) \
                    AS leaders_active_in_window, \
                CAST(SUM(quiet) AS BIGINT) AS members_gone_quiet \
             FROM per_member GROUP BY cohort_id)",
        at_now = check_ins_at(now),
        at_from = check_ins_at(&from),
        at_before = check_ins_at(&before),
        is_active = format!("status = {active}"),
        is_leader = format!("role = {leader}"),
        busy = "at_now - at_from + other > 0",
    )
}

/// What a snapshot needs of each cohort `c` of `list` (placeholders of cohort ids) that its own
/// row gives as of `at` (a placeholder): the common table `streak` and the columns, in order:
/// the latest check-in at or before the moment; the consecutive weeks, ending with the week up
/// to the moment, with at least one check-in; the start of the latest meeting someone attended;
/// the outside interest; the goals not abandoned, and of them those achieved by the moment; the
/// latest deadline; the latest leadership action, by anyone. Check-ins are probes of their index
/// by cohort and time — one for the latest, and one a week for the streak, looking a week further
/// back only while the weeks so far had check-ins.
fn facts_sql(b: &mut Binds, list: &str, at: &str) -> (String, String) {
    let (week, weeks) = (b.bind(MICROS_PER_WEEK), b.bind(STREAK_WEEKS));
    let (abandoned, achieved) = (b.bind(GoalStatus::Abandoned.as_str()), b.bind(GoalStatus::Achieved.as_str()));
    let last_attended = super::meetings::last_attended(b, "c.id", at);
    let outside = outside_interest_sql(b, "c.id", at);
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
    let streak = format!(
        "streak (cohort_id, weeks_back) AS ( \
             SELECT c.id, 0 FROM cohorts c WHERE c.id IN ({list}) AND {first} \
             UNION ALL \
             SELECT s.cohort_id, s.weeks_back + 1 FROM streak s \
             WHERE s.weeks_back + 1 < {weeks} AND {next})",
        first = checked_in("c.id", "0"),
        next = checked_in("s.cohort_id", "(s.weeks_back + 1)"),
    );
    let columns = format!(
        "(SELECT MAX(x.occurred_at) FROM check_ins x WHERE x.cohort_id = c.id AND x.occurred_at <= {at}), \
         (SELECT COUNT(*) FROM streak s WHERE s.cohort_id = c.id), \
         {last_attended}, {outside}, {goal_count}, {goals_achieved}, {latest_deadline}, \
         (SELECT MAX(l.at) FROM ({leading}) l)",
        leading = leadership_sql("= c.id", at),
        goal_count = goals("COUNT(*)", ""),
        goals_achieved = goals("COUNT(*)", &format!(" AND g.status = {achieved} AND g.achieved_at <= {at}")),
        latest_deadline = goals("MAX(g.deadline)", ""),
    );
    (streak, columns)
}

/// Outside interest as of `as_of`: distinct people, not on the origin course's roster, whose
/// request to join is pending or was accepted. Withdrawn and declined requests stay on record
/// but do not count, and one person counts once however often they asked.
pub async fn outside_interest(conn: &impl ConnectionTrait, cohort_id: i64, as_of: i64) -> Result<u32, DbErr> {
    let mut b = Binds::new(conn.get_database_backend());
    let (cohort, at) = (b.bind(cohort_id), b.bind(as_of));
    let sql = format!("SELECT {}", outside_interest_sql(&mut b, &cohort, &at));
    let Some(row) = conn.query_one_raw(b.statement(sql)).await? else { return Ok(0) };
    Ok(count(row.try_get_by_index(0)?))
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
