//! Nested reads load each level with one statement: the statements a request issues do not grow
//! with the number of members, goals or check-ins it shows.

use afterclass_tests::serde_json::json;
use afterclass_tests::{Backend, TestApp, active_cohort, fresh_database, on_both_stores, ops};

on_both_stores!(a_large_cohort_reads_with_no_more_statements_than_a_small_one);

const EVERYTHING: &str = r#"query($id: ID!) {
    viewer { role person { displayName } memberships(first: 20) { nodes { role cohort { name } } } }
    cohort(id: $id) {
        name codeOfConduct { version text }
        members(first: 50) { totalCount nodes { role status person { displayName } cohort { name } } }
        goals { title progress { current fraction pace } }
        checkIns(first: 50) { totalCount nodes { value membership { role person { displayName } } goal { title progress { current } } } }
    }
    cohorts(first: 10) { totalCount nodes { name members { totalCount } goals { title progress { fraction } } } }
}"#;

/// Adds goals of every aggregation and `per_member` check-ins for each trainee on each goal.
async fn fill(app: &TestApp, c: &afterclass_tests::ActiveCohort, extra_goals: usize, per_member: usize) {
    let mut goals = vec![c.goal_id.clone()];
    for (i, aggregation) in ["EACH_MEMBER", "AVERAGE", "SUM"].iter().cycle().take(extra_goals).enumerate() {
        let data = app
            .ok(&c.leader, ops::ADD_GOAL, json!({ "input": { "cohortId": c.id, "title": format!("Goal {i}"), "unit": "u", "target": 10.0, "aggregation": aggregation } }))
            .await;
        goals.push(data["addGoal"]["goal"]["id"].as_str().unwrap().to_owned());
    }
    for token in &c.trainees {
        for goal in &goals {
            for v in 0..per_member {
                app.ok(
                    token,
                    ops::CHECK_IN,
                    json!({ "input": { "cohortId": c.id, "goalId": goal, "value": v as f64 } }),
                )
                .await;
            }
        }
    }
}

async fn statements_for(app: &TestApp, token: &str, id: &str) -> u64 {
    let before = app.store.statements();
    app.ok(token, EVERYTHING, json!({ "id": id })).await;
    app.store.statements() - before
}

async fn a_large_cohort_reads_with_no_more_statements_than_a_small_one(app: TestApp) {
    let small = active_cohort(&app, "small", &["t1", "t2"]).await;
    fill(&app, &small, 1, 1).await;
    let names: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let large = active_cohort(&app, "large", &refs).await;
    fill(&app, &large, 3, 1).await;

    // Warm both tenants' viewers first, so that just-in-time creation is not counted.
    statements_for(&app, &small.leader, &small.id).await;
    statements_for(&app, &large.leader, &large.id).await;
    let few = statements_for(&app, &small.leader, &small.id).await;
    let many = statements_for(&app, &large.leader, &large.id).await;
    // The query reads eight kinds of rows (persons, cohorts, memberships, goals, check-ins,
    // conduct versions, counts, and progress from the tallies), some at two or three depths.
    // Each kind loads with one statement per depth at most, so the count is bounded by the
    // query's shape: loads of one kind at two depths may share a batch or not, depending on
    // timing, which is the only variation allowed. Loading row by row would cost 26 persons,
    // 100 check-ins' goals and memberships and 4 goals' progress, hundreds of statements. On
    // PostgreSQL each request also spends its budgets in the database: one statement more.
    const SHAPE_BOUND: u64 = 36;
    assert!(few <= SHAPE_BOUND && many <= SHAPE_BOUND, "statements: {few} for 3 members, {many} for 26");
    assert!(many.abs_diff(few) <= 8, "statements grew with the cohort: {few} for 3 members, {many} for 26");
    app.stop().await;
}

const HEALTH_OF_EVERY_COHORT: &str = r#"query($first: Int!) {
    cohorts(first: $first) { nodes { name health { status reasons } evaluation { recommendation } } }
}"#;

/// `n` active cohorts of one leader in `tenant`, each with two trainees who checked in once.
async fn cohorts_with_activity(app: &TestApp, tenant: &str, n: usize) -> String {
    let mut leader = String::new();
    for _ in 0..n {
        let c = active_cohort(app, tenant, &["t1", "t2"]).await;
        for token in &c.trainees {
            app.ok(token, ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "goalId": c.goal_id, "value": 1.0 } }))
                .await;
        }
        leader = c.leader;
    }
    leader
}

async fn health_statements(app: &TestApp, token: &str, first: usize) -> u64 {
    let before = app.store.statements();
    let data = app.ok(token, HEALTH_OF_EVERY_COHORT, json!({ "first": first })).await;
    let nodes = data["cohorts"]["nodes"].as_array().expect("a list of cohorts");
    assert_eq!(nodes.len(), first, "{data:#}");
    assert!(nodes.iter().all(|n| n["health"]["status"].is_string() && n["evaluation"]["recommendation"].is_string()));
    app.store.statements() - before
}

/// A server whose complexity limit admits the health and evaluation of 30 cohorts at once: each
/// is charged as a snapshot of its own, whatever it runs.
async fn spawn_for_30_snapshots(backend: Backend) -> Option<TestApp> {
    let db = fresh_database(backend).await?;
    Some(
        TestApp::spawn_with(backend, db, |url| {
            let mut cfg = afterclass_tests::config(url);
            cfg.limits.complexity = 20_000;
            cfg
        })
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_thirty_cohorts_health_and_evaluation_cost_the_statements_of_three() {
    let app = spawn_for_30_snapshots(Backend::Sqlite).await.expect("SQLite is always available");
    thirty_cohorts_health_and_evaluation_cost_the_statements_of_three(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_thirty_cohorts_health_and_evaluation_cost_the_statements_of_three() {
    let Some(app) = spawn_for_30_snapshots(Backend::Postgres).await else { return };
    thirty_cohorts_health_and_evaluation_cost_the_statements_of_three(app).await;
}

/// Health and evaluation of a whole page of cohorts load as one batch of snapshot aggregates
/// (one statement per kind, over every cohort of the page), so ten times the cohorts cost
/// exactly the same statements.
async fn thirty_cohorts_health_and_evaluation_cost_the_statements_of_three(app: TestApp) {
    let few_leader = cohorts_with_activity(&app, "few", 3).await;
    let many_leader = cohorts_with_activity(&app, "many", 30).await;
    // Warm both tenants' viewers first, so that just-in-time creation is not counted.
    health_statements(&app, &few_leader, 3).await;
    health_statements(&app, &many_leader, 30).await;
    let few = health_statements(&app, &few_leader, 3).await;
    let many = health_statements(&app, &many_leader, 30).await;
    println!("health and evaluation ({:?}): {few} statements for 3 cohorts, {many} for 30", app.backend);
    assert_eq!(few, many, "statements grew with the cohorts: {few} for 3, {many} for 30");
    app.stop().await;
}
