//! `syncRoster` brings a cohort's roster in line with the LMS's, idempotently: it invites the
//! people who are missing, with `removeMissing` marks the absent as REMOVED (never a leader,
//! never overruling someone who left), reports what it did and logs the matching events. A
//! refused sync writes nothing. Over HTTP, with real tokens, on both stores.

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, active_cohort, error_codes, integration, on_both_stores, ops};

on_both_stores!(a_sync_invites_removes_and_reports_idempotently, a_refused_sync_writes_nothing);

const SYNC: &str = r#"mutation($input: SyncRosterInput!) {
    syncRoster(input: $input) {
        invited { status role person { displayName } }
        removed { status person { displayName } }
        unchanged
        userErrors { field message code } } }"#;

fn entry(id: &str) -> Value {
    json!({ "externalId": id, "displayName": format!("Trainee {id}") })
}

fn names(list: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        list.as_array().unwrap().iter().map(|m| m["person"]["displayName"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

async fn event_kinds(app: &TestApp, cohort: &str) -> Vec<String> {
    app.settle().await;
    let q = "query($id: ID) { events(first: 100, cohortId: $id) { nodes { kind } } }";
    let data = app.ok(&integration("uni-a"), q, json!({ "id": cohort })).await;
    data["events"]["nodes"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap().to_owned()).collect()
}

async fn a_sync_invites_removes_and_reports_idempotently(app: TestApp) {
    // ada leads; tom and ivy are active, max left of his own accord.
    let c = active_cohort(&app, "uni-a", &["tom", "ivy", "max"]).await;
    app.ok(&c.trainees[2], ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    let lms = integration("uni-a");
    let before = event_kinds(&app, &c.id).await.len();

    // The LMS's roster: tom, max (who left), and two new people; ivy is gone from it.
    let roster = json!([entry("tom"), entry("max"), entry("zoe"), entry("ray")]);
    let input = json!({ "input": { "cohortId": c.id, "members": roster, "removeMissing": true } });
    let data = app.ok(&lms, SYNC, input.clone()).await["syncRoster"].clone();
    assert!(data["userErrors"].as_array().unwrap().is_empty(), "{data:#}");
    assert_eq!(names(&data["invited"]), ["Trainee ray", "Trainee zoe"]);
    assert!(data["invited"].as_array().unwrap().iter().all(|m| m["status"] == "INVITED" && m["role"] == "MEMBER"));
    // ivy is removed; ada, the leader, is never removed though the LMS does not list her.
    assert_eq!(names(&data["removed"]), ["Trainee ivy"]);
    assert_eq!(data["removed"][0]["status"], "REMOVED");
    assert_eq!(data["unchanged"], 2, "tom, and max who left: {data:#}");
    let kinds = event_kinds(&app, &c.id).await;
    let new: Vec<&str> = kinds[before..].iter().map(String::as_str).collect();
    assert_eq!(new, ["MEMBER_JOINED", "MEMBER_JOINED", "MEMBER_LEFT"]);

    // Again: nothing to do, nothing written.
    let counts = app.counts().await;
    let again = app.ok(&lms, SYNC, input).await["syncRoster"].clone();
    assert!(again["invited"].as_array().unwrap().is_empty() && again["removed"].as_array().unwrap().is_empty());
    assert_eq!(again["unchanged"], 4);
    assert_eq!(app.counts().await, counts);

    // Without removeMissing nobody is removed; a removed person listed again is invited again.
    let input = json!({ "input": { "cohortId": c.id, "members": [entry("ivy")] } });
    let data = app.ok(&lms, SYNC, input).await["syncRoster"].clone();
    assert_eq!(names(&data["invited"]), ["Trainee ivy"]);
    assert!(data["removed"].as_array().unwrap().is_empty());
    // The leader may sync too.
    let data = app.ok(&c.leader, SYNC, json!({ "input": { "cohortId": c.id, "members": [entry("kim")] } })).await;
    assert_eq!(names(&data["syncRoster"]["invited"]), ["Trainee kim"]);
}

async fn a_refused_sync_writes_nothing(app: TestApp) {
    let c = active_cohort(&app, "uni-a", &["tom"]).await;
    let other = active_cohort(&app, "uni-b", &["sam"]).await;
    let sync = |cohort: &str, members: Value| json!({ "input": { "cohortId": cohort, "members": members, "removeMissing": true } });
    let counts = app.counts().await;
    // A member who does not lead, another tenant's integration, a bad entry, too many people.
    let body = app.gql(&c.trainees[0], SYNC, sync(&c.id, json!([entry("zoe")]))).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body:#}");
    let body = app.gql(&integration("uni-b"), SYNC, sync(&c.id, json!([entry("zoe")]))).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body:#}");
    let data =
        app.ok(&integration("uni-a"), SYNC, sync(&c.id, json!([{ "externalId": " ", "displayName": "X" }]))).await;
    assert_eq!(data["syncRoster"]["userErrors"][0]["code"], "INVALID_INPUT", "{data:#}");
    let many: Vec<Value> = (0..=afterclass_domain::text::ROSTER_SIZE).map(|i| entry(&format!("p{i}"))).collect();
    let data = app.ok(&integration("uni-a"), SYNC, sync(&c.id, json!(many))).await;
    assert_eq!(data["syncRoster"]["userErrors"][0]["code"], "INVALID_INPUT", "{data:#}");
    assert_eq!(app.counts().await, counts);
    // An ended cohort's roster is read-only.
    app.ok(&other.leader, ops::DISBAND, json!({ "input": { "cohortId": other.id, "reason": "GOALS_MET" } })).await;
    let counts = app.counts().await;
    let data = app.ok(&integration("uni-b"), SYNC, sync(&other.id, json!([entry("zoe")]))).await;
    assert_eq!(data["syncRoster"]["userErrors"][0]["code"], "WRONG_STAGE", "{data:#}");
    assert_eq!(app.counts().await, counts);
}
