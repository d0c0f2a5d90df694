//! Reduces check-ins to the domain's `Observations` with aggregate SQL: a sum per goal, and each
//! member's latest value per goal, as of a moment. The number of statements is fixed, whatever
//! the number of goals, members or check-ins.

use std::collections::{HashMap, HashSet};

use afterclass_domain::goal::{Aggregation, MAX_MAGNITUDE, Observations};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement, Value,
};

use super::entities::{check_in, goal, membership};

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
    let goals: Vec<(i64, i64, String)> = goal::Entity::find()
        .select_only()
        .columns([goal::Column::Id, goal::Column::CohortId, goal::Column::Aggregation])
        .filter(goal::Column::Id.is_in(goal_ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    let mut out: HashMap<i64, Observations> = goals.iter().map(|(id, _, _)| (*id, Observations::default())).collect();

    let by_member: Vec<i64> = goals
        .iter()
        .filter(|(_, _, agg)| Aggregation::parse(agg) != Some(Aggregation::Sum))
        .map(|(id, _, _)| *id)
        .collect();
    let sum_goals: Vec<i64> = goals
        .iter()
        .filter(|(_, _, agg)| Aggregation::parse(agg) == Some(Aggregation::Sum))
        .map(|(id, _, _)| *id)
        .collect();

    if !sum_goals.is_empty() {
        let totals: Vec<(Option<i64>, Option<f64>)> = check_in::Entity::find()
            .select_only()
            .column(check_in::Column::GoalId)
            .column_as(bounded(check_in::Column::Value).sum(), "total")
            .filter(check_in::Column::GoalId.is_in(sum_goals))
            .filter(check_in::Column::Value.is_not_null())
            .filter(check_in::Column::OccurredAt.lte(as_of))
            .group_by(check_in::Column::GoalId)
            .into_tuple()
            .all(conn)
            .await?;
        for (goal_id, total) in totals {
            if let (Some(goal_id), Some(obs)) = (goal_id, goal_id.and_then(|g| out.get_mut(&g))) {
                let _ = goal_id;
                obs.total = total.unwrap_or(0.0);
            }
        }
    }

    // Active, goal-counting members of every cohort involved. The current membership status is
    // used for any `as_of`: memberships keep no history of their status.
    let cohort_ids: HashSet<i64> = goals.iter().map(|(_, c, _)| *c).collect();
    let members: Vec<(i64, i64)> = membership::Entity::find()
        .select_only()
        .columns([membership::Column::CohortId, membership::Column::Id])
        .filter(membership::Column::CohortId.is_in(cohort_ids))
        .filter(membership::Column::Status.eq("ACTIVE"))
        .filter(membership::Column::Role.ne("OBSERVER"))
        .into_tuple()
        .all(conn)
        .await?;
    let mut active: HashMap<i64, HashSet<i64>> = HashMap::new();
    for (cohort_id, membership_id) in members {
        active.entry(cohort_id).or_default().insert(membership_id);
    }
    for (goal_id, cohort_id, _) in &goals {
        if let Some(obs) = out.get_mut(goal_id) {
            obs.active_members = active.get(cohort_id).map_or(0, |m| m.len() as u32);
        }
    }

    if !by_member.is_empty() {
        let latest = latest_values(conn, &by_member, as_of).await?;
        let cohort_of: HashMap<i64, i64> = goals.iter().map(|(g, c, _)| (*g, *c)).collect();
        for ((goal_id, membership_id), value) in latest {
            let counts =
                cohort_of.get(&goal_id).and_then(|c| active.get(c)).is_some_and(|m| m.contains(&membership_id));
            if let (true, Some(obs)) = (counts, out.get_mut(&goal_id)) {
                obs.latest_values.push(value);
            }
        }
    }
    Ok(out)
}

/// A check-in's value as sums count it: within the domain's bound on values
/// (`goal::MAX_MAGNITUDE`), so that a value stored before the bound cannot make a sum overflow
/// (PostgreSQL refuses a `double precision` sum past the largest float; SQLite gives infinity).
fn bounded(column: check_in::Column) -> Expr {
    let least = Func::least([Expr::col(column), Expr::val(MAX_MAGNITUDE)]);
    Func::greatest([Expr::from(least), Expr::val(-MAX_MAGNITUDE)]).into()
}

/// Each member's latest value per goal as of `as_of`; of check-ins at the same moment, the one
/// recorded last wins.
async fn latest_values(
    conn: &impl ConnectionTrait,
    goal_ids: &[i64],
    as_of: i64,
) -> Result<HashMap<(i64, i64), f64>, DbErr> {
    let backend = conn.get_database_backend();
    let list = placeholders(backend, 1, goal_ids.len());
    let as_of_slot = placeholders(backend, goal_ids.len() + 1, 1);
    let sql = format!(
        "SELECT c.goal_id, c.membership_id, c.value, c.id FROM check_ins c \
         JOIN (SELECT goal_id, membership_id, MAX(occurred_at) AS latest FROM check_ins \
               WHERE goal_id IN ({list}) AND value IS NOT NULL AND occurred_at <= {as_of_slot} \
               GROUP BY goal_id, membership_id) l \
         ON c.goal_id = l.goal_id AND c.membership_id = l.membership_id AND c.occurred_at = l.latest \
         WHERE c.value IS NOT NULL"
    );
    let mut values: Vec<Value> = goal_ids.iter().map(|g| Value::from(*g)).collect();
    values.push(Value::from(as_of));
    let rows = conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    let mut best: HashMap<(i64, i64), (i64, f64)> = HashMap::new();
    for row in rows {
        let goal_id: i64 = row.try_get_by_index(0)?;
        let membership_id: i64 = row.try_get_by_index(1)?;
        let value: f64 = row.try_get_by_index(2)?;
        let id: i64 = row.try_get_by_index(3)?;
        let entry = best.entry((goal_id, membership_id)).or_insert((id, value));
        if id > entry.0 {
            *entry = (id, value);
        }
    }
    Ok(best.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

/// `count` bind placeholders starting at position `first` (1-based), in the backend's spelling.
fn placeholders(backend: DbBackend, first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| if backend == DbBackend::Postgres { format!("${i}") } else { "?".to_owned() })
        .collect::<Vec<_>>()
        .join(", ")
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
