//! Reduces check-ins to the domain's `Observations` from their running tallies
//! (`store::tallies`): a goal's sum is the sum of its members' last tallies as of a moment, and
//! a member's latest value is their last tally's. One statement whatever the number of
//! check-ins: each member's figures come from their totals row, or, for a member who checked in
//! after the moment asked about, from one probe of their tallies; the database groups the
//! members by role, status and value, so the rows returned do not grow with the cohort.

use std::collections::HashMap;

use afterclass_domain::cohort::{MemberRole, MembershipStatus};
use afterclass_domain::goal::{Aggregation, Observations};
use sea_orm::{ConnectionTrait, DbErr};

use super::entities::goal;
use super::tallies::{self, Binds};

/// Observations for each of `goal_ids`, counting check-ins that occurred at or before `as_of`
/// (microseconds). Goals that do not exist are left out.
pub async fn observations(
    conn: &impl ConnectionTrait,
    goal_ids: &[i64],
    as_of: i64,
) -> Result<HashMap<i64, Observations>, DbErr> {
    if goal_ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Every membership of the goal's cohort, whatever its status: a sum counts every check-in.
    // A row per goal, role, status and (but for sums) value: how many members, and their sum.
    let mut b = Binds::new(conn.get_database_backend());
    let (sum, at, list) = (b.bind(Aggregation::Sum.as_str()), b.bind(as_of), b.list(goal_ids));
    let sql = format!(
        "SELECT goal_id, aggregation, role, status, CASE WHEN aggregation = {sum} THEN NULL ELSE v END, \
                COUNT(*), SUM(v) \
         FROM ( \
             SELECT g.id AS goal_id, g.aggregation, m.role, m.status, \
                    CASE WHEN g.aggregation = {sum} THEN {total} ELSE {latest} END AS v \
             FROM goals g LEFT JOIN memberships m ON m.cohort_id = g.cohort_id {join} \
             WHERE g.id IN ({list}) \
         ) members GROUP BY 1, 2, 3, 4, 5",
        total = tallies::as_of_totals("value_sum", "c", "m.id", "g.id", &at),
        latest = tallies::as_of_totals("latest_value", "c", "m.id", "g.id", &at),
        join = tallies::join_totals("c", "m.id", "g.id"),
    );
    let mut out: HashMap<i64, Observations> = HashMap::new();
    for row in conn.query_all_raw(b.statement(sql)).await? {
        let goal_id: i64 = row.try_get_by_index(0)?;
        let aggregation: String = row.try_get_by_index(1)?;
        let role: Option<String> = row.try_get_by_index(2)?;
        let status: Option<String> = row.try_get_by_index(3)?;
        let value: Option<f64> = row.try_get_by_index(4)?;
        let members: i64 = row.try_get_by_index(5)?;
        let total: Option<f64> = row.try_get_by_index(6)?;
        let obs = out.entry(goal_id).or_default();
        let (Some(role), Some(status)) = (role, status) else { continue };
        // Active, goal-counting members. The current membership status is used for any
        // `as_of`: memberships keep no history of their status.
        let counts = MembershipStatus::parse(&status) == Some(MembershipStatus::Active)
            && MemberRole::parse(&role).is_none_or(MemberRole::counts_toward_goals);
        let members = u32::try_from(members).unwrap_or(u32::MAX);
        if counts {
            obs.active_members = obs.active_members.saturating_add(members);
        }
        if Aggregation::parse(&aggregation) == Some(Aggregation::Sum) {
            obs.total += total.unwrap_or(0.0);
        } else if let (true, Some(value)) = (counts, value) {
            obs.latest_values.extend(std::iter::repeat_n(value, members as usize));
        }
    }
    Ok(out)
}

/// A stored goal as the domain sees it.
pub fn goal_spec(row: &goal::Model) -> afterclass_domain::goal::GoalSpec {
    afterclass_domain::goal::GoalSpec::from_stored(
        row.target,
        row.start_value,
        Aggregation::parse(&row.aggregation).unwrap_or(Aggregation::Sum),
        parse_date(row.deadline.as_deref()),
    )
}

/// A stored ISO 8601 date (`YYYY-MM-DD`).
pub fn parse_date(text: Option<&str>) -> Option<chrono::NaiveDate> {
    text.and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}
