//! The sweeper: one event per change of health or recommendation, never an end unless the cohort
//! opted in, and exactly once even when replicas sweep at the same time.

use std::time::Duration as StdDuration;

use afterclass::store::Store;
use afterclass::sweeper;
use afterclass_tests::serde_json::json;
use afterclass_tests::{Backend, TestApp, active_cohort, on_both_stores};
use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};

on_both_stores!(the_sweeper_records_each_change_once_and_ends_only_cohorts_that_opted_in);

const LEASE: StdDuration = StdDuration::from_secs(60);

/// The sweeper's events in the log: kind, and the payload's `from` and `to`.
async fn events(app: &TestApp) -> Vec<(String, Option<String>, String)> {
    let conn = app.store.reader();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT kind, payload FROM events WHERE kind IN ('HEALTH_CHANGED', 'RECOMMENDATION_CHANGED') ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get_by_index(0).unwrap();
            let payload: String = r.try_get_by_index(1).unwrap();
            let doc: afterclass_tests::serde_json::Value = afterclass_tests::serde_json::from_str(&payload).unwrap();
            assert_eq!(doc["type"], kind.as_str());
            let data = &doc["data"];
            (kind, data["from"].as_str().map(str::to_owned), data["to"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn the_sweeper_records_each_change_once_and_ends_only_cohorts_that_opted_in(app: TestApp) {
    let kept = active_cohort(&app, "uni-a", &["tom"]).await;
    let auto = active_cohort(&app, "uni-b", &["ivy"]).await;
    app.ok(
        &auto.leader,
        r#"mutation($input: SetCriteriaInput!) { setCriteria(input: $input) { userErrors { code } } }"#,
        json!({ "input": { "cohortId": auto.id, "autoApply": true, "criteria": [
            { "kind": "INACTIVE_FOR_DAYS", "effect": "DISBAND", "threshold": 21 } ] } }),
    )
    .await;

    let now = Utc::now();
    let first = sweeper::sweep(&app.store, "one", now, LEASE).await.unwrap();
    assert_eq!((first.skipped, first.evaluated, first.events, first.ended), (false, 2, 4, 0));
    // Nothing changed: nothing recorded.
    let again = sweeper::sweep(&app.store, "one", now + Duration::minutes(1), LEASE).await.unwrap();
    assert_eq!((again.evaluated, again.events), (2, 0));
    // Another holder waits for the lease.
    let other = sweeper::sweep(&app.store, "two", now + Duration::minutes(1), LEASE).await.unwrap();
    assert!(other.skipped);

    // Three weeks of silence later, both are dormant; only the one that opted in ends.
    let later = sweeper::sweep(&app.store, "two", now + Duration::days(22), LEASE).await.unwrap();
    assert_eq!((later.evaluated, later.events, later.ended), (2, 4, 1));
    let recorded = events(&app).await;
    assert_eq!(recorded.len(), 8);
    assert!(recorded.iter().filter(|e| e.0 == "HEALTH_CHANGED").all(|e| e.2 != "THRIVING"));
    assert_eq!(recorded.iter().filter(|e| e.0 == "RECOMMENDATION_CHANGED" && e.2 == "DISBAND").count(), 2);

    let stage = r#"query($id: ID!) { cohort(id: $id) { stage outcome { reason evaluation { recommendation } } } }"#;
    let data = app.ok(&kept.leader, stage, json!({ "id": kept.id })).await;
    assert_eq!(data["cohort"]["stage"], "ACTIVE");
    let data = app.ok(&auto.leader, stage, json!({ "id": auto.id })).await;
    assert_eq!(data["cohort"]["stage"], "DISBANDED");
    assert_eq!(data["cohort"]["outcome"]["reason"], "DORMANT");
    assert_eq!(data["cohort"]["outcome"]["evaluation"]["recommendation"], "DISBAND");
    // An ended cohort is no longer swept.
    let after = sweeper::sweep(&app.store, "two", now + Duration::days(23), LEASE).await.unwrap();
    assert_eq!((after.evaluated, after.events), (1, 0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweepers_against_one_postgresql_record_each_change_exactly_once() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    for i in 0..6 {
        active_cohort(&app, &format!("uni-{i}"), &["tom", "ivy"]).await;
    }
    let a = app.store.clone();
    let b = Store::connect(&app.db.url, 5).await.unwrap();
    let now = Utc::now();

    // With the lease, one replica sweeps and the other stands aside.
    let (ra, rb) = tokio::join!(sweeper::sweep(&a, "a", now, LEASE), sweeper::sweep(&b, "b", now, LEASE));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.skipped != rb.skipped, "{ra:?} {rb:?}");
    assert_eq!(ra.events + rb.events, 12);
    assert_eq!(events(&app).await.len(), 12);

    // Even two passes that overlap without the lease record each change once: each cohort is
    // locked while it is swept, and only a change from the stored signal is recorded.
    for round in 1..=3 {
        let at = now + Duration::days(22 * round);
        let (ra, rb) = tokio::join!(sweeper::sweep_cohorts(&a, at), sweeper::sweep_cohorts(&b, at));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let expected = if round == 1 { 12 } else { 0 };
        assert_eq!(ra.events + rb.events, expected, "round {round}: {ra:?} {rb:?}");
    }
    assert_eq!(events(&app).await.len(), 24);
    b.close().await;
    app.stop().await;
}
