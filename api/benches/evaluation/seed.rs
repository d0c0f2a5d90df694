//! Seeds one ACTIVE cohort straight into a migrated store with bulk SQL, fast enough for a
//! million check-ins, and says what the store's snapshot of it must be.
//!
//! Shared by the evaluation benchmark (`api/benches/evaluation.rs`) and the statement-count suite
//! (`tests/tests/evaluation_statements.rs`), which both include this file by path.
//!
//! The cohort: one tenant, `members` persons and ACTIVE memberships (the first person is the
//! LEADER), a code of conduct and the stage changes that activated it 125 days before `now`, three
//! goals (SUM, EACH_MEMBER, AVERAGE) with deadlines 30, 60 and 90 days after `now`, and
//! `check_ins` check-ins: check-in `i` is by member `i % members`, on goal `(i / members) % 3`,
//! with value `i % 7 + 1`, at `now - 1 - i * step` µs, so they spread evenly over the
//! [`SPREAD_DAYS`] days before `now`. On SQLite they go in as multi-row INSERTs of literal values;
//! on PostgreSQL as `INSERT … SELECT … FROM generate_series(…)` computing the same formula; then
//! their tallies are rebuilt (`store::tallies::rebuild`), as the write path would have kept them.

use std::fmt::Write as _;

use afterclass::store::entities::{cohort, conduct_version, goal, membership, person, stage_event, tenant};
use afterclass::store::{Store, from_micros, tallies};
use afterclass_domain::lifecycle::{MICROS_PER_DAY, MICROS_PER_WEEK, Snapshot, WINDOW_DAYS};
use chrono::Days;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

/// Check-ins spread evenly over this many days before `now`.
pub const SPREAD_DAYS: i64 = 120;
/// Rows per INSERT statement on SQLite (literal values, so no bind-parameter limit applies).
const SQLITE_ROWS_PER_STATEMENT: u64 = 1_000;
/// Check-ins per transaction (and per `generate_series` statement on PostgreSQL).
const ROWS_PER_TRANSACTION: u64 = 100_000;
/// The goals: title, unit, aggregation, target, deadline in days after `now`.
const GOALS: [(&str, &str, &str, f64, u64); 3] = [
    ("Exercises solved", "exercises", "SUM", 2_000_000.0, 30),
    ("Chapters read", "chapters", "EACH_MEMBER", 7.0, 60),
    ("Quiz score", "points", "AVERAGE", 7.0, 90),
];
/// How far back `store::lifecycle` looks for `SUSTAINED_ACTIVITY_WEEKS`.
const STREAK_WEEKS: i64 = 104;

/// What to seed, as of `now` (microseconds since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub members: u64,
    pub check_ins: u64,
    pub now: i64,
}

/// The seeded cohort and its rows, in id order.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub cohort: cohort::Model,
    pub goals: Vec<goal::Model>,
    pub membership_ids: Vec<i64>,
    /// The LEADER's position in `membership_ids`.
    pub leader: usize,
}

impl Plan {
    /// Microseconds between consecutive check-ins.
    fn step(&self) -> i64 {
        SPREAD_DAYS * MICROS_PER_DAY / i64::try_from(self.check_ins.max(1)).unwrap_or(i64::MAX)
    }

    fn occurred_at(&self, i: u64) -> i64 {
        self.now - 1 - i64::try_from(i).unwrap_or(i64::MAX) * self.step()
    }

    fn member_of(&self, i: u64) -> usize {
        usize::try_from(i % self.members.max(1)).unwrap_or(0)
    }

    fn goal_of(&self, i: u64) -> usize {
        usize::try_from((i / self.members.max(1)) % GOALS.len() as u64).unwrap_or(0)
    }

    fn value_of(i: u64) -> u64 {
        i % 7 + 1
    }

    fn created_at(&self) -> i64 {
        self.now - 130 * MICROS_PER_DAY
    }

    fn activated_at(&self) -> i64 {
        self.now - 125 * MICROS_PER_DAY
    }

    /// The snapshot `store::lifecycle::snapshot` must compute for the seeded cohort as of `now`,
    /// worked out here row by row from the seeding formula.
    pub fn expected_snapshot(&self, seeded: &Seeded) -> Snapshot {
        let window = WINDOW_DAYS * MICROS_PER_DAY;
        let mut active = vec![false; seeded.membership_ids.len()];
        let mut weeks = vec![false; usize::try_from(STREAK_WEEKS).unwrap_or(0)];
        let (mut in_window, mut in_previous) = (0u32, 0u32);
        for i in 0..self.check_ins {
            let at = self.occurred_at(i);
            if at > self.now - window {
                in_window += 1;
                if let Some(member) = active.get_mut(self.member_of(i)) {
                    *member = true;
                }
            } else if at > self.now - 2 * window {
                in_previous += 1;
            }
            if let Some(week) = usize::try_from((self.now - at) / MICROS_PER_WEEK).ok().and_then(|w| weeks.get_mut(w)) {
                *week = true;
            }
        }
        let deadline = GOALS.iter().map(|g| g.4).max().unwrap_or(0);
        Snapshot {
            as_of: from_micros(self.now),
            created_at: from_micros(self.created_at()),
            activated_at: Some(from_micros(self.activated_at())),
            active_members: seeded.membership_ids.len() as u32,
            members_active_in_window: active.iter().filter(|a| **a).count() as u32,
            check_ins_in_window: in_window,
            check_ins_in_previous_window: in_previous,
            last_activity_at: Some(from_micros(if self.check_ins > 0 {
                self.occurred_at(0)
            } else {
                self.activated_at()
            })),
            active_leaders: 1,
            leader_active_in_window: active.get(seeded.leader).copied().unwrap_or(false),
            goals: GOALS.len() as u32,
            latest_deadline: from_micros(self.now).date_naive().checked_add_days(Days::new(deadline)),
            active_weeks_in_a_row: weeks.iter().take_while(|w| **w).count() as u32,
            // No goal is achieved, and no meeting, attendance or join request is seeded.
            ..Snapshot::default()
        }
    }
}

/// Seeds the plan's cohort under a new tenant `tenant_key` (letters, digits and dashes).
pub async fn seed(store: &Store, tenant_key: &str, plan: &Plan) -> Result<Seeded, DbErr> {
    if plan.members == 0 || !tenant_key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(DbErr::Custom(format!("cannot seed {plan:?} under {tenant_key:?}")));
    }
    let conn = store.writer();
    let backend = conn.get_database_backend();
    let (created, activated) = (plan.created_at(), plan.activated_at());

    let txn = conn.begin().await?;
    let tenant =
        tenant::ActiveModel { key: Set(tenant_key.to_owned()), created_at: Set(created), ..Default::default() }
            .insert(&txn)
            .await?;
    for first in (0..plan.members).step_by(500) {
        let mut sql = String::from("INSERT INTO persons (tenant_id, external_id, display_name, created_at) VALUES ");
        for k in first..(first + 500).min(plan.members) {
            let sep = if k == first { "" } else { "," };
            let _ = write!(sql, "{sep}({}, 'member-{k:07}', 'Member {k}', {created})", tenant.id);
        }
        txn.execute_unprepared(&sql).await?;
    }
    let leader_person = person::Entity::find()
        .filter(person::Column::TenantId.eq(tenant.id))
        .order_by_asc(person::Column::Id)
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::Custom("no persons were seeded".into()))?
        .id;
    let cohort = cohort::ActiveModel {
        tenant_id: Set(tenant.id),
        name: Set(format!("Benchmark cohort of {} members", plan.members)),
        domain: Set("Rust programming".into()),
        purpose: Set("Measure evaluation at scale".into()),
        scope: Set(None),
        tags: Set("[]".into()),
        course_lms_id: Set(Some("RUST-101".into())),
        course_title: Set(Some("Rust Fundamentals".into())),
        course_ended_on: Set(None),
        horizon: Set("SHORT_TERM".into()),
        stage: Set("ACTIVE".into()),
        visibility: Set("OPEN".into()),
        conduct_version: Set(Some(1)),
        created_by: Set(Some(leader_person)),
        created_at: Set(created),
        activated_at: Set(Some(activated)),
        ended_at: Set(None),
        criteria: Set(None),
        auto_apply: Set(false),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    conduct_version::ActiveModel {
        tenant_id: Set(tenant.id),
        cohort_id: Set(cohort.id),
        version: Set(1),
        text: Set("Be kind.".into()),
        created_by: Set(Some(leader_person)),
        created_at: Set(created),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for (from, to, at) in
        [(None, "PROPOSED", created), (Some("PROPOSED"), "FORMING", created), (Some("FORMING"), "ACTIVE", activated)]
    {
        stage_event::ActiveModel {
            tenant_id: Set(tenant.id),
            cohort_id: Set(cohort.id),
            from_stage: Set(from.map(str::to_owned)),
            to_stage: Set(to.to_owned()),
            actor_person_id: Set(Some(leader_person)),
            reason: Set("seeded".into()),
            occurred_at: Set(at),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    txn.execute_unprepared(&format!(
        "INSERT INTO memberships (tenant_id, cohort_id, person_id, role, status, conduct_accepted_version, \
         conduct_accepted_at, invited_at, joined_at) \
         SELECT tenant_id, {cohort}, id, CASE WHEN id = {leader_person} THEN 'LEADER' ELSE 'MEMBER' END, 'ACTIVE', 1, \
         {activated}, {created}, {activated} FROM persons WHERE tenant_id = {tenant} ORDER BY id",
        cohort = cohort.id,
        tenant = tenant.id,
    ))
    .await?;
    let mut goals = Vec::new();
    for (title, unit, aggregation, target, days) in GOALS {
        let deadline = from_micros(plan.now).date_naive().checked_add_days(Days::new(days));
        let model = goal::ActiveModel {
            tenant_id: Set(tenant.id),
            cohort_id: Set(cohort.id),
            title: Set(title.into()),
            unit: Set(unit.into()),
            target: Set(target),
            start_value: Set(None),
            aggregation: Set(aggregation.into()),
            deadline: Set(deadline.map(|d| d.format("%Y-%m-%d").to_string())),
            status: Set("OPEN".into()),
            achieved_at: Set(None),
            created_at: Set(activated),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        goals.push(model);
    }
    txn.commit().await?;

    let members: Vec<(i64, String)> = membership::Entity::find()
        .select_only()
        .columns([membership::Column::Id, membership::Column::Role])
        .filter(membership::Column::CohortId.eq(cohort.id))
        .order_by_asc(membership::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    let leader = members.iter().position(|(_, role)| role == "LEADER").unwrap_or(0);
    let seeded = Seeded { cohort, goals, membership_ids: members.into_iter().map(|(id, _)| id).collect(), leader };

    for first in (0..plan.check_ins).step_by(ROWS_PER_TRANSACTION as usize) {
        let last = (first + ROWS_PER_TRANSACTION).min(plan.check_ins);
        let txn = conn.begin().await?;
        if backend == DbBackend::Postgres {
            txn.execute_unprepared(&check_ins_from_series(plan, &seeded, first, last)).await?;
        } else {
            for from in (first..last).step_by(SQLITE_ROWS_PER_STATEMENT as usize) {
                let to = (from + SQLITE_ROWS_PER_STATEMENT).min(last);
                txn.execute_unprepared(&check_ins_as_values(plan, &seeded, from, to)).await?;
            }
        }
        txn.commit().await?;
    }
    // The check-ins went in with bulk SQL, past the write path that keeps their tallies.
    tallies::rebuild(conn, Some(seeded.cohort.id)).await?;
    Ok(seeded)
}

const CHECK_IN_COLUMNS: &str =
    "INSERT INTO check_ins (tenant_id, cohort_id, membership_id, goal_id, value, occurred_at, created_at)";

/// Check-ins `from..to` as one multi-row INSERT of literal values.
fn check_ins_as_values(plan: &Plan, seeded: &Seeded, from: u64, to: u64) -> String {
    let c = &seeded.cohort;
    let mut sql = format!("{CHECK_IN_COLUMNS} VALUES ");
    for i in from..to {
        let sep = if i == from { "" } else { "," };
        let membership = seeded.membership_ids[plan.member_of(i)];
        let goal = seeded.goals[plan.goal_of(i)].id;
        let (value, at) = (Plan::value_of(i), plan.occurred_at(i));
        let _ = write!(sql, "{sep}({}, {}, {membership}, {goal}, {value}.0, {at}, {at})", c.tenant_id, c.id);
    }
    sql
}

/// Check-ins `from..to` as one `INSERT … SELECT` over `generate_series`, by the same formula as
/// [`check_ins_as_values`]: the member is the `i % members`-th membership in id order.
fn check_ins_from_series(plan: &Plan, seeded: &Seeded, from: u64, to: u64) -> String {
    let c = &seeded.cohort;
    let goal_case =
        seeded.goals.iter().enumerate().map(|(n, g)| format!("WHEN {n} THEN {}", g.id)).collect::<Vec<_>>().join(" ");
    format!(
        "{CHECK_IN_COLUMNS} \
         SELECT {tenant}, {cohort}, m.id, CASE (g.i / {members}) % {goals} {goal_case} END, \
                ((g.i % 7) + 1)::double precision, {now} - 1 - g.i * {step}, {now} - 1 - g.i * {step} \
         FROM generate_series({from}::bigint, {last}::bigint) AS g(i) \
         JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM memberships WHERE cohort_id = {cohort}) m \
           ON m.k = g.i % {members}",
        tenant = c.tenant_id,
        cohort = c.id,
        members = plan.members,
        goals = seeded.goals.len(),
        now = plan.now,
        step = plan.step(),
        last = to - 1,
    )
}
