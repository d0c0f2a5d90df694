//! One clock per request: a mutation's change and every read of its payload use the same instant,
//! so the payload shows the world after the change. On SQLite and PostgreSQL, over HTTP.

use afterclass_tests::serde_json::json;
use afterclass_tests::{TestApp, active_cohort, on_both_stores};

on_both_stores!(a_check_in_payload_shows_progress_with_the_check_in_just_logged);

async fn a_check_in_payload_shows_progress_with_the_check_in_just_logged(app: TestApp) {
    let cohort = active_cohort(&app, "t", &["tom"]).await;
    let log = r#"mutation($input: LogCheckInInput!) { logCheckIn(input: $input) {
        checkIn { value occurredAt createdAt goal { progress { current } } }
        userErrors { code } } }"#;
    for (value, total) in [(3.0, 3.0), (4.5, 7.5)] {
        let data = app
            .ok(
                &cohort.trainees[0],
                log,
                json!({ "input": { "cohortId": cohort.id, "goalId": cohort.goal_id, "value": value } }),
            )
            .await;
        let check_in = &data["logCheckIn"]["checkIn"];
        assert_eq!(check_in["goal"]["progress"]["current"], total, "{data:#}");
        // The check-in defaults to having happened at the request's one instant.
        assert_eq!(check_in["occurredAt"], check_in["createdAt"], "{data:#}");
    }
}
