//! On PostgreSQL a transaction that took its event's id first may commit after a later one; the
//! log must not pass over its event. In a suite of its own: it holds a transaction open on
//! purpose, which holds back the settled horizon of every database on the server, so nothing
//! else of this binary runs beside it.

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, active_cohort, integration, ops};

const FEED: &str = r#"query($after: String) {
    events(first: 100, after: $after) { edges { node { kind } } pageInfo { endCursor } } }"#;

async fn feed(app: &TestApp, token: &str, vars: Value) -> Value {
    app.ok(token, FEED, vars).await["events"].clone()
}

fn kinds(page: &Value) -> Vec<String> {
    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["kind"].as_str().unwrap().to_owned()).collect()
}

/// On PostgreSQL a transaction that took its event's id first may commit after a later one: the
/// log is read only as far as it is settled, in commit-safe order, so a reader that pages on
/// while the earlier transaction is still open passes over nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_commits_late_is_not_passed_over() {
    use afterclass::store::events::{NewEvent, record};
    use afterclass_domain::event::EventKind;
    use sea_orm::TransactionTrait;

    let Some(app) = TestApp::spawn(afterclass_tests::Backend::Postgres).await else { return };
    let c = active_cohort(&app, "uni-a", &["tom"]).await;
    let lms = integration("uni-a");
    app.settle().await;
    let start = feed(&app, &lms, json!({})).await["pageInfo"]["endCursor"].clone();
    let (_, cohort_id) = afterclass::ids::decode_any(&c.id).unwrap();
    let tenant_id: i64 = {
        use sea_orm::{ConnectionTrait, Statement};
        let sql = format!("SELECT tenant_id FROM cohorts WHERE id = {cohort_id}");
        let row = app.store.reader().query_one_raw(Statement::from_string(app.store.backend(), sql)).await.unwrap();
        row.unwrap().try_get_by_index(0).unwrap()
    };

    // A transaction writes its event and stays open; a check-in commits meanwhile.
    let slow = app.store.writer().begin().await.unwrap();
    let event = NewEvent {
        tenant_id,
        cohort_id,
        kind: EventKind::GoalAdded,
        actor_person_id: None,
        person_id: None,
        occurred_at: chrono::Utc::now(),
        data: Default::default(),
    };
    record(&slow, event).await.unwrap();
    app.ok(&c.trainees[0], ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 1.0 } })).await;
    // Transactions of other suites on the same server may hold the horizon back too, so the
    // events of the set-up may settle only now: they may show, the two below may not.
    let meanwhile = feed(&app, &lms, json!({ "after": start })).await;
    let mut seen: Vec<String> = kinds(&meanwhile);
    assert!(!seen.iter().any(|k| k == "GOAL_ADDED" || k == "CHECK_IN_LOGGED"), "{meanwhile:#}");

    slow.commit().await.unwrap();
    let mut cursor = meanwhile["pageInfo"]["endCursor"].clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.iter().any(|k| k == "CHECK_IN_LOGGED") {
        assert!(std::time::Instant::now() < deadline, "the events never settled: {seen:?}");
        let page = feed(&app, &lms, json!({ "after": cursor })).await;
        seen.extend(kinds(&page));
        if !page["pageInfo"]["endCursor"].is_null() {
            cursor = page["pageInfo"]["endCursor"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let ours: Vec<&str> =
        seen.iter().map(String::as_str).filter(|k| *k == "GOAL_ADDED" || *k == "CHECK_IN_LOGGED").collect();
    // The event whose transaction started first comes first, though it committed last.
    assert_eq!(ours, ["GOAL_ADDED", "CHECK_IN_LOGGED"], "{seen:?}");
}
