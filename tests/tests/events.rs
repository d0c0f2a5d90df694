//! The event log: every change writes its event in the change's own transaction, a refused
//! change writes none, the feed pages oldest first with stable cursors, and what a viewer sees
//! of it follows the standing policy. Over HTTP, with real tokens, on both stores.

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, active_cohort, error_codes, integration, on_both_stores, ops, trainee};

on_both_stores!(
    every_change_is_logged_with_its_payload,
    a_refused_change_logs_nothing,
    the_feed_pages_with_stable_cursors,
    viewers_see_what_their_standing_allows,
);

const FEED: &str = r#"query($first: Int, $after: String, $cohortId: ID, $kinds: [CohortEventKind!]) {
    events(first: $first, after: $after, cohortId: $cohortId, kinds: $kinds) {
        totalCount
        edges { cursor node { id kind occurredAt payload actor { displayName } cohort { id } } }
        pageInfo { hasNextPage endCursor } } }"#;

async fn feed(app: &TestApp, token: &str, vars: Value) -> Value {
    app.settle().await;
    app.ok(token, FEED, vars).await["events"].clone()
}

fn kinds(page: &Value) -> Vec<String> {
    page["edges"].as_array().unwrap().iter().map(|e| e["node"]["kind"].as_str().unwrap().to_owned()).collect()
}

async fn every_change_is_logged_with_its_payload(app: TestApp) {
    let c = active_cohort(&app, "uni-a", &["tom", "ivy"]).await;
    let tom = &c.trainees[0];
    app.ok(tom, ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "goalId": c.goal_id, "value": 100.0 } })).await;
    app.ok(&c.trainees[1], ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    app.ok(&c.leader, ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "GOALS_MET" } })).await;

    let lms = integration("uni-a");
    let page = feed(&app, &lms, json!({ "first": 100, "cohortId": c.id })).await;
    assert_eq!(
        kinds(&page),
        [
            "COHORT_CREATED",
            "MEMBER_JOINED",
            "MEMBER_JOINED",
            "MEMBER_JOINED",
            "GOAL_ADDED",
            "COHORT_ACTIVATED",
            "MEMBER_JOINED",
            "MEMBER_JOINED",
            "CHECK_IN_LOGGED",
            "GOAL_ACHIEVED",
            "MEMBER_LEFT",
            "COHORT_DISBANDED",
        ],
        "{page:#}"
    );
    assert_eq!(page["totalCount"], 12);
    for edge in page["edges"].as_array().unwrap() {
        let node = &edge["node"];
        let doc: Value = afterclass_tests::serde_json::from_str(node["payload"].as_str().unwrap()).unwrap();
        assert_eq!(doc["type"], node["kind"], "{doc}");
        assert_eq!(doc["data"]["cohortId"], c.id.as_str(), "{doc}");
        let at = chrono::DateTime::parse_from_rfc3339(doc["timestamp"].as_str().unwrap()).unwrap();
        let occurred = chrono::DateTime::parse_from_rfc3339(node["occurredAt"].as_str().unwrap()).unwrap();
        assert_eq!(at, occurred);
        // The node of each event is the event.
        let got = app
            .ok(
                &lms,
                "query($id: ID!) { node(id: $id) { id ... on CohortEvent { kind } } }",
                json!({ "id": node["id"] }),
            )
            .await;
        assert_eq!(got["node"]["kind"], node["kind"]);
    }
    let edges = page["edges"].as_array().unwrap();
    let check_in: Value =
        afterclass_tests::serde_json::from_str(edges[8]["node"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(check_in["data"]["goalId"], c.goal_id.as_str());
    assert_eq!(check_in["data"]["value"], 100.0);
    assert!(check_in["data"]["checkInId"].is_string() && check_in["data"]["membershipId"].is_string());
    assert_eq!(edges[8]["node"]["actor"]["displayName"], "Trainee tom");
    // The engine marks the goal: the check-in's author caused it.
    assert_eq!(edges[9]["node"]["actor"]["displayName"], "Trainee tom");
    let disbanded: Value =
        afterclass_tests::serde_json::from_str(edges[11]["node"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        (disbanded["data"]["from"].as_str(), disbanded["data"]["to"].as_str()),
        (Some("ACTIVE"), Some("DISBANDED"))
    );
}

async fn a_refused_change_logs_nothing(app: TestApp) {
    let c = active_cohort(&app, "uni-a", &["tom"]).await;
    app.ok(&c.leader, ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "GOALS_MET" } })).await;
    let before = app.counts().await;
    // A check-in into an ended cohort, a second disband, a stranger's check-in.
    let data = app.ok(&c.trainees[0], ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 1.0 } })).await;
    assert_eq!(data["logCheckIn"]["userErrors"][0]["code"], "WRONG_STAGE", "{data:#}");
    let data = app.ok(&c.leader, ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "GOALS_MET" } })).await;
    assert_eq!(data["disbandCohort"]["userErrors"][0]["code"], "WRONG_STAGE", "{data:#}");
    let body =
        app.gql(&trainee("eve", "uni-a"), ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 1.0 } })).await;
    assert!(!error_codes(&body).is_empty() || !body["data"]["logCheckIn"]["userErrors"].as_array().unwrap().is_empty());
    let after = app.counts().await;
    // eve is known now (a token makes its person), nothing else changed.
    let changed: Vec<_> = after.iter().filter(|(t, n)| before.get(*t) != Some(n) && t.as_str() != "persons").collect();
    assert!(changed.is_empty(), "{changed:?}");
}

async fn the_feed_pages_with_stable_cursors(app: TestApp) {
    let c = active_cohort(&app, "uni-a", &["tom", "ivy", "max"]).await;
    for t in &c.trainees {
        app.ok(t, ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 1.0 } })).await;
    }
    let lms = integration("uni-a");
    let all = feed(&app, &lms, json!({ "first": 100 })).await;
    let ids: Vec<Value> = all["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect();
    assert!(!all["pageInfo"]["hasNextPage"].as_bool().unwrap());
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = feed(&app, &lms, json!({ "first": 2, "after": after })).await;
        paged.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()));
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(paged, ids);
    // A cursor stays valid as the log grows: the next page after the last one holds what came
    // since, and only that.
    let end = all["pageInfo"]["endCursor"].clone();
    app.ok(&c.trainees[0], ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 2.0 } })).await;
    let next = feed(&app, &lms, json!({ "first": 100, "after": end })).await;
    assert_eq!(kinds(&next), ["CHECK_IN_LOGGED"]);
    let only = feed(&app, &lms, json!({ "first": 100, "kinds": ["CHECK_IN_LOGGED"] })).await;
    assert_eq!(only["totalCount"], 4);
    // Bad input is a clear error.
    for (vars, why) in [
        (json!({ "first": 101 }), "page size"),
        (json!({ "after": "not-a-cursor" }), "cursor"),
        (json!({ "cohortId": "nope" }), "cohort ID"),
    ] {
        let body = app.gql(&lms, FEED, vars).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{why}: {body:#}");
    }
}

async fn viewers_see_what_their_standing_allows(app: TestApp) {
    let c = active_cohort(&app, "uni-a", &["tom", "ivy"]).await;
    let (tom, ivy) = (&c.trainees[0], &c.trainees[1]);
    app.ok(tom, ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 1.0 } })).await;
    app.ok(ivy, ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 1.0 } })).await;
    app.ok(ivy, ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    let check_ins = json!({ "first": 100, "kinds": ["CHECK_IN_LOGGED"] });

    // An active member sees every check-in; one who left sees only their own; an outsider none.
    let page = feed(&app, tom, check_ins.clone()).await;
    assert_eq!(page["edges"].as_array().unwrap().len(), 2);
    assert_eq!(page["totalCount"], 2);
    let page = feed(&app, ivy, check_ins.clone()).await;
    let edges = page["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{page:#}");
    assert_eq!(page["totalCount"], 1);
    let own: Value = afterclass_tests::serde_json::from_str(edges[0]["node"]["payload"].as_str().unwrap()).unwrap();
    let ivy_id = app.ok(ivy, "{ viewer { person { id } } }", json!({})).await["viewer"]["person"]["id"].clone();
    assert_eq!(own["data"]["personId"], ivy_id);
    let eve = trainee("eve", "uni-a");
    let page = feed(&app, &eve, check_ins).await;
    assert!(page["edges"].as_array().unwrap().is_empty());
    assert_eq!(page["totalCount"], 0);
    // The outsider still sees the public face of this discoverable cohort, not its members.
    let page = feed(&app, &eve, json!({ "first": 100, "cohortId": c.id })).await;
    assert_eq!(kinds(&page), ["COHORT_CREATED", "COHORT_ACTIVATED"], "{page:#}");
    // Another tenant sees nothing of it, and an event's ID does not cross.
    let page = feed(&app, &integration("uni-b"), json!({ "first": 100 })).await;
    assert!(page["edges"].as_array().unwrap().is_empty());
    let hidden =
        feed(&app, tom, json!({ "first": 1, "kinds": ["CHECK_IN_LOGGED"] })).await["edges"][0]["node"]["id"].clone();
    let body = app.gql(&eve, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": hidden })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body:#}");
    let body =
        app.gql(&integration("uni-b"), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": hidden })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body:#}");
}
