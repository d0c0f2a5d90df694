//! A retried check-in with the same idempotency key records once and always answers with the
//! first check-in, also when the retries race each other.

use afterclass_tests::serde_json::json;
use afterclass_tests::{TestApp, active_cohort, on_both_stores, ops};

on_both_stores!(the_same_key_sent_many_times_records_one_check_in, the_same_key_sent_concurrently_records_one_check_in);

async fn log(app: &TestApp, token: &str, cohort: &str, key: &str, value: f64) -> String {
    let data = app
        .ok(token, ops::CHECK_IN, json!({ "input": { "cohortId": cohort, "value": value, "idempotencyKey": key } }))
        .await;
    assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
    data["logCheckIn"]["checkIn"]["id"].as_str().unwrap().to_owned()
}

async fn the_same_key_sent_many_times_records_one_check_in(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy"]).await;
    let first = log(&app, &c.trainees[0], &c.id, "retry-1", 3.0).await;
    for _ in 0..5 {
        // A retry returns the first check-in, even if its body differs.
        assert_eq!(log(&app, &c.trainees[0], &c.id, "retry-1", 99.0).await, first);
    }
    assert_eq!(app.count("check_ins").await, 1);
    // Keys are per member: another member's same key is another check-in.
    let other = log(&app, &c.trainees[1], &c.id, "retry-1", 3.0).await;
    assert_ne!(other, first);
    assert_eq!(app.count("check_ins").await, 2);
    let data = app
        .ok(&c.leader, r#"query($id: ID!) { node(id: $id) { ... on CheckIn { value } } }"#, json!({ "id": first }))
        .await;
    assert_eq!(data["node"]["value"], 3.0);
    app.stop().await;
}

async fn the_same_key_sent_concurrently_records_one_check_in(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom"]).await;
    let tom = c.trainees[0].clone();
    // Polled together, so that the sixteen requests are in flight at the same time.
    let ids = futures_util::future::join_all((0..16).map(|i| log(&app, &tom, &c.id, "burst", f64::from(i)))).await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "different check-ins returned: {ids:?}");
    assert_eq!(app.count("check_ins").await, 1);
    app.stop().await;
}
