//! Progress, participation and health read running tallies of the check-ins instead of the
//! check-ins themselves. Over random histories (check-ins recorded out of order, several at the
//! same moment, without values or goals, values stored before the bound, members of every
//! status and role, a membership removed), what they read as of any moment (the past, the
//! middle of a day, day boundaries, the moment of a check-in, now) equals what aggregating every
//! check-in gives; and the tallies the write path keeps equal the ones rebuilt from the
//! check-ins, which is how check-ins stored before the tallies get theirs; and each member's
//! totals are their last tally of each key.
//!
//! The aggregate queries over every check-in live here, as the oracle.

#[allow(dead_code)]
#[path = "../../api/benches/evaluation/seed.rs"]
mod seed;

use std::collections::HashMap;

use afterclass::store::entities::{check_in, cohort, membership};
use afterclass::store::{self, lifecycle, progress, tallies, to_micros};
use afterclass_domain::goal::{MAX_MAGNITUDE, Observations};
use afterclass_domain::lifecycle::{MICROS_PER_DAY, MICROS_PER_WEEK, WINDOW_DAYS};
use afterclass_tests::{TestApp, assert_totals_are_the_last_tallies, on_both_stores, tally_rows};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement,
    TransactionTrait, Value,
};
use seed::{Plan, Seeded};

on_both_stores!(
    tallies_read_what_aggregating_every_check_in_gives,
    the_migration_builds_the_tallies_of_stored_check_ins,
    concurrent_check_ins_of_one_member_keep_their_tallies_whole
);

const WINDOW: i64 = WINDOW_DAYS * MICROS_PER_DAY;

/// A small deterministic generator (xorshift), so that a failing history can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % std::cmp::max(n, 1)
    }
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below(u64::try_from(hi - lo + 1).unwrap())).unwrap()
    }
}

async fn tallies_read_what_aggregating_every_check_in_gives(app: TestApp) {
    let now = to_micros(store::now());
    let conn = app.store.writer();
    let mut cohorts = Vec::new();
    for history in 0..4u64 {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (history + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let plan = Plan { members: 6, check_ins: 0, now };
        let seeded = seed::seed(&app.store, &format!("history-{history}"), &plan).await.unwrap();
        let times = record_history(conn, &seeded, &mut rng, now).await;
        vary_memberships(conn, &seeded).await;

        // The tallies kept check-in by check-in are the ones rebuilt from the check-ins.
        let kept = tally_rows(conn, seeded.cohort.id).await;
        assert!(!kept.is_empty());
        assert_totals_are_the_last_tallies(conn, seeded.cohort.id).await;
        tallies::rebuild(conn, Some(seeded.cohort.id)).await.unwrap();
        assert_totals_are_the_last_tallies(conn, seeded.cohort.id).await;
        let rebuilt = tally_rows(conn, seeded.cohort.id).await;
        let differs = kept.iter().zip(&rebuilt).find(|(k, r)| k != r);
        assert!(
            kept.len() == rebuilt.len() && differs.is_none(),
            "history {history}: {} tallies kept, {} rebuilt; first difference (kept, rebuilt): {differs:?}",
            kept.len(),
            rebuilt.len()
        );
        cohorts.push((seeded, times));
    }

    let reader = app.store.reader();
    let models: Vec<cohort::Model> = cohorts.iter().map(|(s, _)| s.cohort.clone()).collect();
    let ids: Vec<i64> = models.iter().map(|c| c.id).collect();
    let goal_ids: Vec<i64> = cohorts.iter().flat_map(|(s, _)| s.goals.iter().map(|g| g.id)).collect();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for as_of in moments(&cohorts, &mut rng, now) {
        let observed = progress::observations(reader, &goal_ids, as_of).await.unwrap();
        let expected = oracle::observations(reader, &goal_ids, as_of).await.unwrap();
        assert_eq!(sorted(observed), sorted(expected), "observations as of {as_of}");

        let activity = lifecycle::member_activity(reader, &ids, as_of).await.unwrap();
        let none = lifecycle::member_activity(reader, &[], as_of).await.unwrap();
        assert!(none.is_empty(), "no cohorts, no activity: {none:?}");
        let in_window = oracle::check_ins_per_member(reader, &ids, as_of).await.unwrap();
        let members = oracle::memberships(reader, &ids).await.unwrap();
        assert_eq!(activity.len(), members.len(), "every membership has an activity");
        for m in &members {
            let n = in_window.get(&m.id).copied().unwrap_or(0);
            assert_eq!(i64::from(activity[&m.id].check_ins), n, "membership {} as of {as_of}", m.id);
        }

        // Asked for every cohort, a tenant's batch holds its own cohorts only.
        let mut snaps = std::collections::HashMap::new();
        for c in &models {
            let of_tenant = lifecycle::snapshots(reader, c.tenant_id, &ids, as_of).await.unwrap();
            let theirs: Vec<i64> = models.iter().filter(|m| m.tenant_id == c.tenant_id).map(|m| m.id).collect();
            assert!(of_tenant.keys().all(|id| theirs.contains(id)), "another tenant's snapshot: {of_tenant:?}");
            snaps.insert(c.id, of_tenant[&c.id].clone());
        }
        let previous = oracle::previous_window(reader, &ids, as_of).await.unwrap();
        let last = oracle::last_check_in(reader, &ids, as_of).await.unwrap();
        let weeks = oracle::active_weeks_in_a_row(reader, &ids, as_of).await.unwrap();
        for c in &models {
            let snap = &snaps[&c.id];
            let active = members.iter().filter(|m| m.cohort_id == c.id && m.status == "ACTIVE");
            let window: i64 = active.map(|m| in_window.get(&m.id).copied().unwrap_or(0)).sum();
            assert_eq!(i64::from(snap.check_ins_in_window), window, "cohort {} as of {as_of}", c.id);
            assert_eq!(
                i64::from(snap.check_ins_in_previous_window),
                previous.get(&c.id).copied().unwrap_or(0),
                "cohort {} as of {as_of}",
                c.id
            );
            assert_eq!(snap.active_weeks_in_a_row, weeks.get(&c.id).copied().unwrap_or(0), "as of {as_of}");
            // The snapshot adds its members up in SQL; each member's activity, added up by the
            // domain (`MemberActivity::total`), gives the same counts.
            let active: Vec<&oracle::Member> =
                members.iter().filter(|m| m.cohort_id == c.id && m.status == "ACTIVE").collect();
            let busy = |m: &&&oracle::Member| activity[&m.id].total() > 0;
            let leaders: Vec<&&oracle::Member> = active.iter().filter(|m| m.role == "LEADER").collect();
            assert!(!leaders.is_empty() && active.len() > leaders.len(), "cohort {}: a leader and members", c.id);
            assert_eq!(
                (snap.active_members, snap.members_active_in_window, snap.active_leaders, snap.leader_active_in_window),
                (
                    u32::try_from(active.len()).unwrap(),
                    u32::try_from(active.iter().filter(busy).count()).unwrap(),
                    u32::try_from(leaders.len()).unwrap(),
                    leaders.iter().any(busy),
                ),
                "cohort {} as of {as_of}",
                c.id
            );
            // The seeded cohort's leadership actions are its stage changes and conduct version.
            let leading = [c.created_at, c.activated_at.unwrap_or(c.created_at)].into_iter().filter(|t| *t <= as_of);
            let latest = leading.chain(last.get(&c.id).copied()).max();
            assert_eq!(snap.last_activity_at, latest.map(store::from_micros), "cohort {} as of {as_of}", c.id);
        }
    }
    app.stop().await;
}

/// Check-ins stored before the tallies get them when the migration that adds the tallies runs:
/// the same rows the write path keeps.
async fn the_migration_builds_the_tallies_of_stored_check_ins(app: TestApp) {
    use afterclass_migrations::{Migrator, MigratorTrait};
    let now = to_micros(store::now());
    let conn = app.store.writer();
    let seeded = seed::seed(&app.store, "stored", &Plan { members: 6, check_ins: 0, now }).await.unwrap();
    record_history(conn, &seeded, &mut Rng(0x5eed), now).await;
    let kept = tally_rows(conn, seeded.cohort.id).await;
    assert!(!kept.is_empty());

    // Down to the migration before the tallies, so that both the tallies' and the totals' go.
    let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let tallies_at = names.iter().position(|n| n.ends_with("_tallies")).expect("the tallies' migration");
    Migrator::down(conn, Some(u32::try_from(names.len() - tallies_at).unwrap())).await.unwrap();
    for table in ["check_in_tallies", "check_in_totals"] {
        let exists = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), format!("SELECT 1 FROM {table}")))
            .await;
        assert!(exists.is_err(), "{table} is gone with its migration");
    }
    assert_eq!(app.count("check_ins").await, 150, "the check-ins stay when the tallies go");
    Migrator::up(conn, None).await.unwrap();
    assert_eq!(tally_rows(conn, seeded.cohort.id).await, kept);
    assert_totals_are_the_last_tallies(conn, seeded.cohort.id).await;
    app.stop().await;
}

/// Check-ins of one member and of others at once, over HTTP: every one is answered, and the
/// tallies they kept are the ones rebuilt from them.
async fn concurrent_check_ins_of_one_member_keep_their_tallies_whole(app: TestApp) {
    use afterclass_tests::{active_cohort, ops, serde_json::json};
    let c = active_cohort(&app, "busy", &["tom", "una"]).await;
    let requests = (0..24).map(|i| {
        let token = &c.trainees[usize::from(i % 3 == 0)];
        let input = json!({ "cohortId": c.id, "goalId": c.goal_id, "value": f64::from(i) / 4.0 });
        app.ok(token, ops::CHECK_IN, json!({ "input": input }))
    });
    for data in futures_util::future::join_all(requests).await {
        assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
    }
    let conn = app.store.writer();
    let cohort_id: i64 = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), "SELECT MAX(cohort_id) FROM check_ins"))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let kept = tally_rows(conn, cohort_id).await;
    assert_eq!(kept.len(), 48, "a row for every check-in and one for its goal");
    assert_totals_are_the_last_tallies(conn, cohort_id).await;
    tallies::rebuild(conn, Some(cohort_id)).await.unwrap();
    assert_eq!(tally_rows(conn, cohort_id).await, kept);
    app.stop().await;
}

/// Records about 150 check-ins through the write path in random order: any time from the
/// cohort's creation to now (some at day boundaries, some sharing a moment), on any goal or none,
/// with quarter values (so that sums are exact in any order), none, or values past the bound.
/// Gives the moments used.
async fn record_history(conn: &sea_orm::DatabaseConnection, seeded: &Seeded, rng: &mut Rng, now: i64) -> Vec<i64> {
    let c = &seeded.cohort;
    let mut times: Vec<i64> = Vec::new();
    let txn = conn.begin().await.unwrap();
    for _ in 0..150 {
        let at = match rng.below(6) {
            0 if !times.is_empty() => times[usize::try_from(rng.below(times.len() as u64)).unwrap()],
            1 => (rng.between(c.created_at, now) / MICROS_PER_DAY) * MICROS_PER_DAY,
            2 => now - rng.between(0, 3 * WINDOW),
            _ => rng.between(c.created_at, now),
        }
        .clamp(c.created_at, now);
        times.push(at);
        let value = match rng.below(10) {
            0 | 1 => None,
            2 => Some(if rng.below(2) == 0 { 1.7e300 } else { -1e13 }),
            _ => Some(rng.between(-80, 80) as f64 / 4.0),
        };
        let goal = usize::try_from(rng.below(4)).unwrap();
        let row = check_in::ActiveModel {
            tenant_id: Set(c.tenant_id),
            cohort_id: Set(c.id),
            membership_id: Set(seeded.membership_ids[usize::try_from(rng.below(6)).unwrap()]),
            goal_id: Set(seeded.goals.get(goal).map(|g| g.id)),
            value: Set(value),
            occurred_at: Set(at),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .unwrap();
        tallies::record(&txn, &row).await.unwrap();
    }
    txn.commit().await.unwrap();
    times
}

/// One member left, one observes, one was removed from the cohort altogether (with their
/// check-ins and tallies).
async fn vary_memberships(conn: &impl ConnectionTrait, seeded: &Seeded) {
    let ids = &seeded.membership_ids;
    let set = |id: i64, role: &str, status: &str| membership::ActiveModel {
        id: Set(id),
        role: Set(role.to_owned()),
        status: Set(status.to_owned()),
        ..Default::default()
    };
    set(ids[1], "MEMBER", "LEFT").update(conn).await.unwrap();
    set(ids[2], "OBSERVER", "ACTIVE").update(conn).await.unwrap();
    membership::Entity::delete_by_id(ids[3]).exec(conn).await.unwrap();
}

/// The moments to read at: now, the cohort's creation, random moments, day boundaries, every
/// tenth check-in's moment and the microsecond before it, and moments whose window starts or
/// ends exactly at a check-in.
fn moments(cohorts: &[(Seeded, Vec<i64>)], rng: &mut Rng, now: i64) -> Vec<i64> {
    let mut out = vec![now];
    for (seeded, times) in cohorts {
        let created = seeded.cohort.created_at;
        out.push(created);
        for _ in 0..3 {
            out.push(rng.between(created, now));
            out.push((rng.between(created, now) / MICROS_PER_DAY) * MICROS_PER_DAY);
        }
        for at in times.iter().step_by(10) {
            out.extend([*at, *at - 1, *at + WINDOW, *at + 2 * WINDOW, *at + MICROS_PER_WEEK]);
        }
    }
    out.retain(|t| *t <= now);
    out.sort_unstable();
    out.dedup();
    out
}

/// Observations with the latest values in order, so that two can be compared.
fn sorted(observed: HashMap<i64, Observations>) -> Vec<(i64, Observations)> {
    let mut out: Vec<(i64, Observations)> = observed
        .into_iter()
        .map(|(id, mut obs)| {
            obs.latest_values.sort_by(f64::total_cmp);
            (id, obs)
        })
        .collect();
    out.sort_by_key(|(id, _)| *id);
    out
}

/// The aggregates over every check-in that progress, participation and health computed before
/// the tallies.
mod oracle {
    use super::*;

    pub struct Member {
        pub id: i64,
        pub cohort_id: i64,
        pub role: String,
        pub status: String,
    }

    pub async fn memberships(conn: &impl ConnectionTrait, cohort_ids: &[i64]) -> Result<Vec<Member>, DbErr> {
        let rows: Vec<(i64, i64, String, String)> = membership::Entity::find()
            .select_only()
            .columns([
                membership::Column::Id,
                membership::Column::CohortId,
                membership::Column::Role,
                membership::Column::Status,
            ])
            .filter(membership::Column::CohortId.is_in(cohort_ids.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        Ok(rows.into_iter().map(|(id, cohort_id, role, status)| Member { id, cohort_id, role, status }).collect())
    }

    fn bounded(column: check_in::Column) -> Expr {
        let least = Func::least([Expr::col(column), Expr::val(MAX_MAGNITUDE)]);
        Func::greatest([Expr::from(least), Expr::val(-MAX_MAGNITUDE)]).into()
    }

    /// A sum per goal, each active goal-counting member's latest value per goal (the latest
    /// moment, then the latest recorded), and the number of those members.
    pub async fn observations(
        conn: &impl ConnectionTrait,
        goal_ids: &[i64],
        as_of: i64,
    ) -> Result<HashMap<i64, Observations>, DbErr> {
        use afterclass::store::entities::goal;
        let goals: Vec<(i64, i64, String)> = goal::Entity::find()
            .select_only()
            .columns([goal::Column::Id, goal::Column::CohortId, goal::Column::Aggregation])
            .filter(goal::Column::Id.is_in(goal_ids.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        let mut out: HashMap<i64, Observations> =
            goals.iter().map(|(id, _, _)| (*id, Observations::default())).collect();
        let totals: Vec<(Option<i64>, Option<f64>)> = check_in::Entity::find()
            .select_only()
            .column(check_in::Column::GoalId)
            .column_as(bounded(check_in::Column::Value).sum(), "total")
            .filter(check_in::Column::GoalId.is_in(goals.iter().filter(|g| g.2 == "SUM").map(|g| g.0)))
            .filter(check_in::Column::Value.is_not_null())
            .filter(check_in::Column::OccurredAt.lte(as_of))
            .group_by(check_in::Column::GoalId)
            .into_tuple()
            .all(conn)
            .await?;
        for (goal_id, total) in totals {
            if let Some(obs) = goal_id.and_then(|g| out.get_mut(&g)) {
                obs.total = total.unwrap_or(0.0);
            }
        }
        let members: Vec<(i64, i64)> = membership::Entity::find()
            .select_only()
            .columns([membership::Column::CohortId, membership::Column::Id])
            .filter(membership::Column::CohortId.is_in(goals.iter().map(|g| g.1)))
            .filter(membership::Column::Status.eq("ACTIVE"))
            .filter(membership::Column::Role.ne("OBSERVER"))
            .into_tuple()
            .all(conn)
            .await?;
        for (goal_id, cohort_id, _) in &goals {
            out.get_mut(goal_id).unwrap().active_members =
                members.iter().filter(|(c, _)| c == cohort_id).count() as u32;
        }
        let by_member: Vec<i64> = goals.iter().filter(|g| g.2 != "SUM").map(|g| g.0).collect();
        let backend = conn.get_database_backend();
        let slot = |i: usize| if backend == DbBackend::Postgres { format!("${i}") } else { "?".to_owned() };
        let list = (1..=by_member.len()).map(slot).collect::<Vec<_>>().join(", ");
        let as_of_slot = slot(by_member.len() + 1);
        let sql = format!(
            "SELECT c.goal_id, c.membership_id, c.value, c.id FROM check_ins c \
             JOIN (SELECT goal_id, membership_id, MAX(occurred_at) AS latest FROM check_ins \
                   WHERE goal_id IN ({list}) AND value IS NOT NULL AND occurred_at <= {as_of_slot} \
                   GROUP BY goal_id, membership_id) l \
             ON c.goal_id = l.goal_id AND c.membership_id = l.membership_id AND c.occurred_at = l.latest \
             WHERE c.value IS NOT NULL"
        );
        let mut values: Vec<Value> = by_member.iter().map(|g| Value::from(*g)).collect();
        values.push(Value::from(as_of));
        let mut best: HashMap<(i64, i64), (i64, f64)> = HashMap::new();
        for row in conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await? {
            let key: (i64, i64) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
            let (value, id): (f64, i64) = (row.try_get_by_index(2)?, row.try_get_by_index(3)?);
            let entry = best.entry(key).or_insert((id, value));
            if id > entry.0 {
                *entry = (id, value);
            }
        }
        let cohort_of: HashMap<i64, i64> = goals.iter().map(|(g, c, _)| (*g, *c)).collect();
        for ((goal_id, membership_id), (_, value)) in best {
            if members.contains(&(cohort_of[&goal_id], membership_id)) {
                out.get_mut(&goal_id).unwrap().latest_values.push(value);
            }
        }
        Ok(out)
    }

    async fn count_by(
        conn: &impl ConnectionTrait,
        column: check_in::Column,
        cohort_ids: &[i64],
        after: i64,
        upto: i64,
    ) -> Result<HashMap<i64, i64>, DbErr> {
        let rows: Vec<(i64, i64)> = check_in::Entity::find()
            .select_only()
            .column(column)
            .column_as(Expr::col(check_in::Column::Id).count(), "n")
            .filter(check_in::Column::CohortId.is_in(cohort_ids.iter().copied()))
            .filter(check_in::Column::OccurredAt.gt(after))
            .filter(check_in::Column::OccurredAt.lte(upto))
            .group_by(column)
            .into_tuple()
            .all(conn)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Check-ins per membership in the window ending at `as_of`.
    pub async fn check_ins_per_member(
        conn: &impl ConnectionTrait,
        cohort_ids: &[i64],
        as_of: i64,
    ) -> Result<HashMap<i64, i64>, DbErr> {
        count_by(conn, check_in::Column::MembershipId, cohort_ids, as_of - WINDOW, as_of).await
    }

    /// Check-ins per cohort in the window before that.
    pub async fn previous_window(
        conn: &impl ConnectionTrait,
        cohort_ids: &[i64],
        as_of: i64,
    ) -> Result<HashMap<i64, i64>, DbErr> {
        count_by(conn, check_in::Column::CohortId, cohort_ids, as_of - 2 * WINDOW, as_of - WINDOW).await
    }

    /// The latest check-in per cohort at or before `as_of`.
    pub async fn last_check_in(
        conn: &impl ConnectionTrait,
        cohort_ids: &[i64],
        as_of: i64,
    ) -> Result<HashMap<i64, i64>, DbErr> {
        let rows: Vec<(i64, Option<i64>)> = check_in::Entity::find()
            .select_only()
            .column(check_in::Column::CohortId)
            .column_as(Expr::col(check_in::Column::OccurredAt).max(), "latest")
            .filter(check_in::Column::CohortId.is_in(cohort_ids.iter().copied()))
            .filter(check_in::Column::OccurredAt.lte(as_of))
            .group_by(check_in::Column::CohortId)
            .into_tuple()
            .all(conn)
            .await?;
        Ok(rows.into_iter().filter_map(|(c, at)| Some((c, at?))).collect())
    }

    /// Consecutive weeks with a check-in, ending with the week up to `as_of`, looking back at
    /// most 104 weeks.
    pub async fn active_weeks_in_a_row(
        conn: &impl ConnectionTrait,
        cohort_ids: &[i64],
        as_of: i64,
    ) -> Result<HashMap<i64, u32>, DbErr> {
        let rows: Vec<(i64, i64)> = check_in::Entity::find()
            .select_only()
            .column(check_in::Column::CohortId)
            .column(check_in::Column::OccurredAt)
            .filter(check_in::Column::CohortId.is_in(cohort_ids.iter().copied()))
            .filter(check_in::Column::OccurredAt.lte(as_of))
            .filter(check_in::Column::OccurredAt.gt(as_of - 104 * MICROS_PER_WEEK))
            .into_tuple()
            .all(conn)
            .await?;
        let mut weeks: HashMap<i64, Vec<bool>> = HashMap::new();
        for (cohort_id, at) in rows {
            weeks.entry(cohort_id).or_insert_with(|| vec![false; 104])
                [usize::try_from((as_of - at) / MICROS_PER_WEEK).unwrap()] = true;
        }
        Ok(weeks.into_iter().map(|(c, w)| (c, w.iter().take_while(|w| **w).count() as u32)).collect())
    }
}
