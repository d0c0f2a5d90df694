//! Every rule of DESIGN.md "Rules the domain keeps", broken on purpose over HTTP: the client sees
//! the right `userErrors` code, and nothing is written (every table's rows are counted).

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, active_cohort, instructor, on_both_stores, ops, trainee, user_error_codes};
use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, Statement};

on_both_stores!(
    activation_needs_an_active_leader_a_goal_and_a_code_of_conduct,
    a_cohort_needs_a_purpose,
    only_active_members_who_accepted_the_current_code_of_conduct_check_in,
    check_ins_are_accepted_only_while_active_and_only_when_valid,
    ended_cohorts_refuse_every_write,
    every_stage_change_is_recorded_with_who_when_and_why,
);

/// Runs `op` and asserts it was refused with `code` in the payload at `field`, writing nothing.
async fn refused(app: &TestApp, token: &str, op: &str, input: Value, payload: &str, code: &str) -> Value {
    let before = app.counts().await;
    let body = app.gql(token, op, json!({ "input": input })).await;
    assert!(body.get("errors").is_none(), "expected a user error, got {body:#}");
    let data = &body["data"][payload];
    assert_eq!(user_error_codes(data), [code], "{body:#}");
    assert_eq!(app.counts().await, before, "a refused {payload} wrote something");
    data.clone()
}

async fn create(app: &TestApp, token: &str, extra: Value) -> String {
    let mut input = json!({ "name": "Circle", "domain": "Rust", "purpose": "Practise", "horizon": "SHORT_TERM" });
    input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let data = app.ok(token, ops::CREATE, json!({ "input": input })).await;
    assert_eq!(data["createCohort"]["userErrors"], json!([]), "{data:#}");
    data["createCohort"]["cohort"]["id"].as_str().unwrap().to_owned()
}

async fn activation_needs_an_active_leader_a_goal_and_a_code_of_conduct(app: TestApp) {
    let ada = instructor("ada", "t");
    // The leader who created it is an active leader; without a goal it does not activate, and
    // the message names what is missing and only that.
    let id = create(&app, &ada, json!({ "codeOfConduct": "Be kind." })).await;
    let data =
        refused(&app, &ada, ops::ACTIVATE, json!({ "cohortId": id }), "activateCohort", "REQUIREMENTS_NOT_MET").await;
    let message = data["userErrors"][0]["message"].as_str().unwrap();
    assert!(message.contains("at least one goal"), "{message}");
    assert!(!message.contains("an active leader") && !message.contains("code of conduct"), "{message}");
    app.ok(
        &ada,
        ops::ADD_GOAL,
        json!({ "input": { "cohortId": id, "title": "G", "unit": "u", "target": 5.0, "aggregation": "SUM" } }),
    )
    .await;
    let data = app.ok(&ada, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE");

    // Without a code of conduct, no activation either.
    let other = create(&app, &ada, json!({})).await;
    app.ok(
        &ada,
        ops::ADD_GOAL,
        json!({ "input": { "cohortId": other, "title": "G", "unit": "u", "target": 5.0, "aggregation": "SUM" } }),
    )
    .await;
    let data =
        refused(&app, &ada, ops::ACTIVATE, json!({ "cohortId": other }), "activateCohort", "REQUIREMENTS_NOT_MET")
            .await;
    assert!(data["userErrors"][0]["message"].as_str().unwrap().contains("a code of conduct"));
    app.stop().await;
}

async fn a_cohort_needs_a_purpose(app: TestApp) {
    let ada = instructor("ada", "t");
    app.ok(&ada, "{ viewer { role } }", json!({})).await; // Creates the tenant and person first.
    let input = json!({ "name": "Circle", "domain": "Rust", "purpose": "   ", "horizon": "SHORT_TERM" });
    let data = refused(&app, &ada, ops::CREATE, input, "createCohort", "INVALID_INPUT").await;
    assert_eq!(data["userErrors"][0]["field"], json!(["input", "purpose"]));
    let input = json!({ "name": "x".repeat(121), "domain": "Rust", "purpose": "P", "horizon": "SHORT_TERM" });
    let data = refused(&app, &ada, ops::CREATE, input, "createCohort", "INVALID_INPUT").await;
    assert_eq!(data["userErrors"][0]["field"], json!(["input", "name"]));
    app.stop().await;
}

async fn only_active_members_who_accepted_the_current_code_of_conduct_check_in(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom"]).await;
    let ada = c.leader.clone();
    // An invited member has not accepted yet.
    app.ok(
        &ada,
        ops::ADD_MEMBERS,
        json!({ "input": { "cohortId": c.id, "members": [{ "externalId": "ivy", "displayName": "Ivy" }] } }),
    )
    .await;
    let ivy = trainee("ivy", "t");
    refused(&app, &ivy, ops::CHECK_IN, json!({ "cohortId": c.id, "value": 1.0 }), "logCheckIn", "CONDUCT_NOT_ACCEPTED")
        .await;

    // A person with no membership.
    let stranger = trainee("sam", "t");
    app.ok(&stranger, "{ viewer { role } }", json!({})).await;
    refused(&app, &stranger, ops::CHECK_IN, json!({ "cohortId": c.id, "value": 1.0 }), "logCheckIn", "NOT_A_MEMBER")
        .await;

    // A new version of the code of conduct must be accepted again.
    let tom = &c.trainees[0];
    app.ok(&ada, ops::SET_CONDUCT, json!({ "input": { "cohortId": c.id, "text": "Be kind. Be on time." } })).await;
    refused(&app, tom, ops::CHECK_IN, json!({ "cohortId": c.id, "value": 1.0 }), "logCheckIn", "CONDUCT_NOT_ACCEPTED")
        .await;
    let data = refused(
        &app,
        tom,
        ops::ACCEPT,
        json!({ "cohortId": c.id, "version": 1 }),
        "acceptCodeOfConduct",
        "INVALID_INPUT",
    )
    .await;
    assert_eq!(data["userErrors"][0]["field"], json!(["input", "version"]));
    app.ok(tom, ops::ACCEPT, json!({ "input": { "cohortId": c.id, "version": 2 } })).await;
    let data = app.ok(tom, ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 1.0 } })).await;
    assert_eq!(data["logCheckIn"]["userErrors"], json!([]));

    // A member who left is no longer a member.
    app.ok(tom, ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    refused(&app, tom, ops::CHECK_IN, json!({ "cohortId": c.id, "value": 1.0 }), "logCheckIn", "NOT_A_MEMBER").await;
    app.stop().await;
}

async fn check_ins_are_accepted_only_while_active_and_only_when_valid(app: TestApp) {
    let ada = instructor("ada", "t");
    // A member of a cohort that is still forming.
    let forming = create(
        &app,
        &ada,
        json!({ "codeOfConduct": "Be kind.", "roster": [{ "externalId": "tom", "displayName": "Tom" }] }),
    )
    .await;
    let tom = trainee("tom", "t");
    app.ok(&tom, ops::ACCEPT, json!({ "input": { "cohortId": forming, "version": 1 } })).await;
    refused(&app, &tom, ops::CHECK_IN, json!({ "cohortId": forming, "value": 1.0 }), "logCheckIn", "WRONG_STAGE").await;

    let c = active_cohort(&app, "t", &["tom"]).await;
    let other = active_cohort(&app, "t", &["tom"]).await;
    let base = |extra: Value| {
        let mut input = json!({ "cohortId": c.id, "goalId": c.goal_id, "value": 1.0 });
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        input
    };
    let cases = [
        (json!({ "goalId": other.goal_id }), "goalId"),
        (json!({ "occurredAt": (Utc::now() + Duration::minutes(5)).to_rfc3339() }), "occurredAt"),
        (json!({ "occurredAt": (Utc::now() - Duration::days(1)).to_rfc3339() }), "occurredAt"),
        (json!({ "confidence": 6 }), "confidence"),
        (json!({ "confidence": 0 }), "confidence"),
        (json!({ "note": "n".repeat(2_001) }), "note"),
        (json!({ "blockers": "b".repeat(2_001) }), "blockers"),
        (json!({ "idempotencyKey": "k".repeat(201) }), "idempotencyKey"),
    ];
    for (extra, field) in cases {
        let data = refused(&app, &tom, ops::CHECK_IN, base(extra.clone()), "logCheckIn", "INVALID_INPUT").await;
        assert_eq!(data["userErrors"][0]["field"], json!(["input", field]), "{extra}");
    }
    // A number no float can hold never reaches the store.
    let before = app.counts().await;
    let body = format!(
        r#"{{"query":"mutation($v: Float) {{ logCheckIn(input: {{cohortId: \"{}\", value: $v}}) {{ checkIn {{ id }} }} }}","variables":{{"v":1e999}}}}"#,
        c.id
    );
    let resp = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth(&tom)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status().as_u16(), 200, "an infinite value was accepted");
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

async fn ended_cohorts_refuse_every_write(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy"]).await;
    let ada = c.leader.clone();
    let tom = c.trainees[0].clone();
    let members = app
        .ok(&ada, r#"query($id: ID!) { cohort(id: $id) { members { nodes { id } } } }"#, json!({ "id": c.id }))
        .await;
    let membership = members["cohort"]["members"]["nodes"][1]["id"].clone();
    app.ok(&ada, ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "LEADERS_DECISION" } })).await;

    let id = json!(c.id);
    let writes: Vec<(&str, &String, &str, Value)> = vec![
        (
            "addMembers",
            &ada,
            ops::ADD_MEMBERS,
            json!({ "cohortId": id, "members": [{ "externalId": "new", "displayName": "New" }] }),
        ),
        ("acceptCodeOfConduct", &tom, ops::ACCEPT, json!({ "cohortId": id, "version": 1 })),
        ("setCodeOfConduct", &ada, ops::SET_CONDUCT, json!({ "cohortId": id, "text": "New rules" })),
        (
            "changeMemberRole",
            &ada,
            r#"mutation($input: ChangeMemberRoleInput!) { changeMemberRole(input: $input) { userErrors { field message code } } }"#,
            json!({ "membershipId": membership, "role": "FACILITATOR" }),
        ),
        ("leaveCohort", &tom, ops::LEAVE, json!({ "cohortId": id })),
        (
            "addGoal",
            &ada,
            ops::ADD_GOAL,
            json!({ "cohortId": id, "title": "G", "unit": "u", "target": 1.0, "aggregation": "SUM" }),
        ),
        ("activateCohort", &ada, ops::ACTIVATE, json!({ "cohortId": id })),
        ("logCheckIn", &tom, ops::CHECK_IN, json!({ "cohortId": id, "value": 1.0 })),
        ("disbandCohort", &ada, ops::DISBAND, json!({ "cohortId": id, "reason": "GOALS_MET" })),
        (
            "approveCohort",
            &ada,
            r#"mutation($input: CohortRefInput!) { approveCohort(input: $input) { userErrors { field message code } } }"#,
            json!({ "cohortId": id }),
        ),
    ];
    for (payload, token, op, input) in writes {
        let data = refused(&app, token, op, input, payload, "WRONG_STAGE").await;
        assert!(data["userErrors"][0]["message"].as_str().unwrap().contains("read-only"), "{payload}: {data:#}");
    }
    app.stop().await;
}

async fn every_stage_change_is_recorded_with_who_when_and_why(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom"]).await;
    // A refused transition records nothing.
    refused(&app, &c.leader, ops::ACTIVATE, json!({ "cohortId": c.id }), "activateCohort", "WRONG_STAGE").await;
    app.ok(
        &c.leader,
        ops::DISBAND,
        json!({ "input": { "cohortId": c.id, "reason": "GOALS_MET", "retrospective": "Done." } }),
    )
    .await;

    let conn = app.store.reader();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT e.from_stage, e.to_stage, p.external_id, e.reason, e.occurred_at FROM stage_events e \
             JOIN persons p ON p.id = e.actor_person_id ORDER BY e.id",
        ))
        .await
        .unwrap();
    let events: Vec<(Option<String>, String, String, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
                r.try_get_by_index(3).unwrap(),
                r.try_get_by_index(4).unwrap(),
            )
        })
        .collect();
    let stages: Vec<(Option<&str>, &str, &str)> =
        events.iter().map(|e| (e.0.as_deref(), e.1.as_str(), e.2.as_str())).collect();
    assert_eq!(
        stages,
        [(None, "FORMING", "ada"), (Some("FORMING"), "ACTIVE", "ada"), (Some("ACTIVE"), "DISBANDED", "ada")]
    );
    assert!(events[0].3.contains("Rust Fundamentals"), "{:?}", events[0]);
    assert!(events[2].3.contains("GOALS_MET"), "{:?}", events[2]);
    let now = Utc::now().timestamp_micros();
    assert!(events.windows(2).all(|w| w[0].4 <= w[1].4) && events.iter().all(|e| now - e.4 < 60_000_000));
    app.stop().await;
}
