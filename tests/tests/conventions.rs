//! The API conventions of DESIGN.md: global IDs and `node`, page bounds, top-level error codes,
//! masked internal errors, query limits, and proposals becoming cohorts.

use afterclass_tests::serde_json::json;
use afterclass_tests::{
    Backend, TestApp, active_cohort, error_codes, instructor, on_both_stores, trainee, user_error_codes,
};
use sea_orm::ConnectionTrait;

on_both_stores!(
    every_entity_resolves_through_node_by_its_global_id,
    a_trainee_proposal_becomes_a_cohort_when_an_instructor_approves
);

async fn every_entity_resolves_through_node_by_its_global_id(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom"]).await;
    app.ok(
        &c.trainees[0],
        afterclass_tests::ops::CHECK_IN,
        json!({ "input": { "cohortId": c.id, "goalId": c.goal_id, "value": 2.0 } }),
    )
    .await;
    let data = app
        .ok(&c.leader, r#"query($id: ID!) { cohort(id: $id) { id goals { id } checkIns { nodes { id membership { id person { id } } } } } }"#,
            json!({ "id": c.id }))
        .await;
    let check_in = &data["cohort"]["checkIns"]["nodes"][0];
    let ids = [
        (data["cohort"]["id"].clone(), "Cohort"),
        (data["cohort"]["goals"][0]["id"].clone(), "Goal"),
        (check_in["id"].clone(), "CheckIn"),
        (check_in["membership"]["id"].clone(), "Membership"),
        (check_in["membership"]["person"]["id"].clone(), "Person"),
    ];
    for (id, typename) in ids {
        let data =
            app.ok(&c.leader, r#"query($id: ID!) { node(id: $id) { __typename id } }"#, json!({ "id": id })).await;
        assert_eq!(data["node"]["__typename"], typename);
        assert_eq!(data["node"]["id"], id);
        // Opaque: the row number is not visible in the ID.
        assert!(!id.as_str().unwrap().contains(typename));
    }
    // Another tenant's instructor finds none of them.
    let other = instructor("olga", "other-tenant");
    let body = app.gql(&other, r#"query($id: ID!) { node(id: $id) { id } }"#, json!({ "id": c.id })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    // Malformed IDs and IDs of the wrong type are the caller's mistake.
    let body = app.gql(&c.leader, r#"query($id: ID!) { cohort(id: $id) { id } }"#, json!({ "id": "not-an-id" })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    let body = app.gql(&c.leader, r#"query($id: ID!) { cohort(id: $id) { id } }"#, json!({ "id": c.goal_id })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    // Pages hold at most 100.
    let body = app.gql(&c.leader, "{ cohorts(first: 101) { totalCount } }", json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    let body = app.gql(&c.leader, r#"{ cohorts(first: 1, after: "bogus") { totalCount } }"#, json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    app.stop().await;
}

async fn a_trainee_proposal_becomes_a_cohort_when_an_instructor_approves(app: TestApp) {
    let lea = trainee("lea", "t");
    let propose = r#"mutation($input: ProposeCohortInput!) { proposeCohort(input: $input) {
        cohort { id stage members { nodes { role status person { externalId } } } } userErrors { code } } }"#;
    let data = app
        .ok(&lea, propose, json!({ "input": { "name": "Go study group", "domain": "Go", "purpose": "Learn Go together", "horizon": "OPEN_ENDED" } }))
        .await;
    let cohort = &data["proposeCohort"]["cohort"];
    assert_eq!(cohort["stage"], "PROPOSED");
    assert_eq!(
        cohort["members"]["nodes"],
        json!([{ "role": "LEADER", "status": "ACTIVE", "person": { "externalId": "lea" } }])
    );
    let id = cohort["id"].clone();
    // Other trainees do not discover a proposal.
    let tom = trainee("tom", "t");
    let body = app.gql(&tom, r#"query($id: ID!) { cohort(id: $id) { id } }"#, json!({ "id": id })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);

    let approve = r#"mutation($input: CohortRefInput!) { approveCohort(input: $input) { cohort { stage } userErrors { code } } }"#;
    let body = app.gql(&lea, approve, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let ada = instructor("ada", "t");
    let data = app.ok(&ada, approve, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["approveCohort"]["cohort"]["stage"], "FORMING");
    let data = app.ok(&ada, approve, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(user_error_codes(&data["approveCohort"]), ["WRONG_STAGE"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_carry_a_request_id_and_no_sql() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let c = active_cohort(&app, "t", &["tom"]).await;
    // Break the store under the running server.
    app.store.writer().execute_unprepared("DROP TABLE check_ins").await.unwrap();
    let body = app
        .gql(&c.leader, r#"query($id: ID!) { cohort(id: $id) { checkIns { totalCount } } }"#, json!({ "id": c.id }))
        .await;
    assert_eq!(error_codes(&body), ["INTERNAL"], "{body:#}");
    let error = &body["errors"][0];
    assert_eq!(error["message"], "internal error");
    assert!(error["extensions"]["requestId"].as_str().is_some_and(|id| id.len() == 16), "{body:#}");
    let text = body.to_string().to_lowercase();
    assert!(!text.contains("check_ins") && !text.contains("select") && !text.contains("sqlite"), "{text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_oversized_requests_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let ada = instructor("ada", "t");
    let deep = "{ viewer { memberships { nodes { cohort { members { nodes { cohort { members { nodes { cohort { members { nodes { cohort { name } } } } } } } } } } } } } }";
    let body = app.gql(&ada, deep, json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body:#}");
    let wide = "{ cohorts(first: 100) { nodes { members(first: 100) { nodes { cohort { members(first: 100) { totalCount } } } } } } }";
    let body = app.gql(&ada, wide, json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body:#}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("complex"));
    let huge = json!({ "query": format!("{{ viewer {{ role }} }} #{}", "x".repeat(300 * 1024)) });
    let (status, _) = app.gql_raw(Some(&ada), huge).await;
    assert_eq!(status, 413);
    app.stop().await;
}
