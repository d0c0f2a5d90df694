//! Evaluating a cohort costs a fixed set of SQL statements, whatever its number of members and
//! check-ins: the store computes the snapshot with aggregates and never loads check-ins. How long
//! it takes at a million check-ins is measured by the benchmark (`cargo bench -p afterclass
//! --bench evaluation`), not here.
//!
//! The cohorts are seeded straight into the store with bulk SQL by the benchmark's seeder, which
//! this suite shares by path.

#[path = "../../api/benches/evaluation/seed.rs"]
mod seed;

use afterclass::app::evaluate_now;
use afterclass::store::entities::cohort;
use afterclass::store::{self, lifecycle, to_micros};
use afterclass_domain::cohort::Horizon;
use afterclass_domain::lifecycle::{self as dl, Criterion, CriterionKind, Effect, Evaluation, Recommendation};
use afterclass_tests::{TestApp, on_both_stores};
use sea_orm::ActiveModelTrait;
use sea_orm::ActiveValue::Set;

use seed::{Plan, Seeded};

on_both_stores!(evaluating_200_members_and_20000_check_ins_costs_the_statements_of_5_members_and_20);

/// A snapshot is one statement: the cohort's row with its facts (the latest check-in, the weeks
/// in a row, the latest leadership action and meeting attended, outside interest, goals), its
/// members' counts (both windows and the latest check-in from the tallies, leadership and
/// attendance joined grouped) and its last meetings' attendance, each a subquery or join of it.
/// Never a statement per member or per check-in.
const BOUND: u64 = 1;

async fn evaluating_200_members_and_20000_check_ins_costs_the_statements_of_5_members_and_20(app: TestApp) {
    let now = store::now();
    let small = Plan { members: 5, check_ins: 20, now: to_micros(now) };
    let large = Plan { members: 200, check_ins: 20_000, now: to_micros(now) };
    let mut statements = Vec::new();
    for (key, plan) in [("small", small), ("large", large)] {
        let seeded = seed::seed(&app.store, key, &plan).await.unwrap();
        let cohort = with_criteria(&app, &seeded).await;

        let before = app.store.statements();
        let evaluation = evaluate_now(app.store.reader(), &cohort, now).await.unwrap();
        let used = app.store.statements() - before;
        statements.push(used);

        let members = f64::from(u32::try_from(plan.members).unwrap());
        assert_eq!(evaluation.recommendation, Recommendation::Continue, "{evaluation:#?}");
        assert_eq!(result(&evaluation, CriterionKind::InactiveForDays), (false, Some(0.0)), "{evaluation:#?}");
        assert_eq!(result(&evaluation, CriterionKind::AllGoalsAchieved), (false, Some(0.0)), "{evaluation:#?}");
        assert_eq!(result(&evaluation, CriterionKind::ActiveMembersBelow), (false, Some(members)), "{evaluation:#?}");
        let (passed, days) = result(&evaluation, CriterionKind::DeadlinePassed);
        assert!(!passed && days.is_some_and(|d| d <= -89.0), "the last deadline is 90 days away: {evaluation:#?}");

        // The snapshot behind it holds exactly what was seeded, and evaluating adds no statement.
        let before = app.store.statements();
        let snapshot = lifecycle::snapshot(app.store.reader(), &cohort, to_micros(now)).await.unwrap();
        assert_eq!(app.store.statements() - before, used, "evaluating on top of the snapshot reads nothing more");
        assert_eq!(snapshot, plan.expected_snapshot(&seeded), "the snapshot of {} members", plan.members);
        assert_eq!(snapshot.active_members, plan.members as u32);
        assert_eq!(snapshot.members_active_in_window, plan.members as u32);
    }
    assert_eq!(app.count("check_ins").await, 20_020);

    let [few, many] = statements[..] else { unreachable!() };
    assert_eq!(
        few, many,
        "statements grew with the cohort: {few} for 5 members and 20 check-ins, {many} for 200 and 20,000"
    );
    assert!(many <= BOUND, "an evaluation issued {many} statements; the bound is {BOUND}");
    app.stop().await;
}

/// The cohort with its horizon's criteria and `ACTIVE_MEMBERS_BELOW 3`, so that the evaluation
/// reports the number of active members it counted.
async fn with_criteria(app: &TestApp, seeded: &Seeded) -> cohort::Model {
    let mut criteria = dl::default_criteria(Horizon::ShortTerm);
    criteria.push(Criterion { kind: CriterionKind::ActiveMembersBelow, effect: Effect::Disband, threshold: Some(3.0) });
    cohort::ActiveModel {
        id: Set(seeded.cohort.id),
        criteria: Set(Some(lifecycle::criteria_to_json(&criteria))),
        ..Default::default()
    }
    .update(app.store.writer())
    .await
    .unwrap()
}

/// Whether the criterion of `kind` holds, and what it observed.
fn result(evaluation: &Evaluation, kind: CriterionKind) -> (bool, Option<f64>) {
    let r = evaluation.results.iter().find(|r| r.criterion.kind == kind).expect("the criterion was evaluated");
    (r.holds, r.observed)
}
