//! Bad input over HTTP gets a clear error — a `userErrors` entry or `BAD_USER_INPUT` /
//! `NOT_FOUND` — and never a panic, a 500, a `null` in a non-null field or `INTERNAL`: IDs and
//! times out of range, values too large to add up, characters a store refuses, and writes that
//! make no sense for the cohort's history.

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{
    TestApp, active_cohort, error_codes, instructor, on_both_stores, ops, trainee, user_error_codes,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ConnectionTrait, Statement};

on_both_stores!(
    meeting_ids_with_a_start_out_of_range_are_refused,
    check_in_values_are_bounded_and_progress_stays_finite,
    progress_and_the_chart_survive_values_stored_before_the_bound,
    nul_characters_are_refused_before_any_lookup,
    a_declined_proposal_takes_no_retrospective,
    a_variable_left_out_or_of_another_shape_is_the_requests_error,
    the_schema_is_introspected_a_few_times_per_request_at_most,
);

const SET_PLAN: &str = r#"mutation($input: SetMeetingPlanInput!) { setMeetingPlan(input: $input) {
    cohort { id } userErrors { field message code } } }"#;
const NODE: &str = r#"query($id: ID!) { node(id: $id) { __typename id } }"#;
const RSVP: &str = r#"mutation($input: RsvpInput!) { rsvp(input: $input) {
    rsvp { answer } userErrors { field message code } } }"#;
const PROGRESS: &str = r#"query($id: ID!) { cohort(id: $id) {
    goals { progress { current target fraction expectedFraction pace } } } }"#;
const CHART_URL: &str = "query($id: ID!) { cohort(id: $id) { progressChartUrl } }";

/// The row id inside a global ID (`base64url("Cohort:42")`).
fn row_id(global: &str) -> i64 {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(global).unwrap()).unwrap();
    text.rsplit(':').next().unwrap().parse().unwrap()
}

/// Asserts a top-level error with one of `codes`, and never `INTERNAL`.
fn refused_with(body: &Value, codes: &[&str]) {
    let got = error_codes(body);
    assert!(!got.is_empty() && got.iter().all(|c| codes.contains(&c.as_str())), "expected {codes:?}, got {body:#}");
}

async fn meeting_ids_with_a_start_out_of_range_are_refused(app: TestApp) {
    let cohort = active_cohort(&app, "t", &["tom"]).await;
    let cadence = json!({ "frequency": "WEEKLY", "weekday": 2, "localTime": "19:00", "timeZone": "Europe/Berlin",
        "durationMinutes": 90 });
    let data =
        app.ok(&cohort.leader, SET_PLAN, json!({ "input": { "cohortId": cohort.id, "cadence": cadence } })).await;
    assert_eq!(data["setMeetingPlan"]["userErrors"], json!([]), "{data:#}");
    let id = row_id(&cohort.id);
    let tom = &cohort.trainees[0];
    // Beyond the years chrono can represent, at its very ends, and far in the past or future.
    let starts = [i64::MIN, i64::MAX, -8_334_601_228_800_000_001, 8_210_266_876_799_999_999, -62_135_596_800_000_001];
    for start in starts {
        let meeting = URL_SAFE_NO_PAD.encode(format!("Meeting:{id}:{start}"));
        let body = app.gql(tom, NODE, json!({ "id": meeting })).await;
        refused_with(&body, &["BAD_USER_INPUT", "NOT_FOUND"]);
        let body = app.gql(tom, RSVP, json!({ "input": { "meetingId": meeting, "answer": "GOING" } })).await;
        refused_with(&body, &["BAD_USER_INPUT", "NOT_FOUND"]);
    }
    // A start in range that the cadence does not meet at is not found.
    let meeting = URL_SAFE_NO_PAD.encode(format!("Meeting:{id}:1"));
    refused_with(&app.gql(tom, NODE, json!({ "id": meeting })).await, &["NOT_FOUND"]);
    // The server is still answering.
    let data = app.ok(tom, PROGRESS, json!({ "id": cohort.id })).await;
    assert!(data["cohort"]["goals"][0]["progress"]["current"].is_number(), "{data:#}");
    app.stop().await;
}

async fn check_in_values_are_bounded_and_progress_stays_finite(app: TestApp) {
    let cohort = active_cohort(&app, "t", &["tom"]).await;
    let tom = &cohort.trainees[0];
    let before = app.counts().await;
    for value in [1.7e308, -1.7e308, 1.000_001e12] {
        let input = json!({ "cohortId": cohort.id, "goalId": cohort.goal_id, "value": value });
        let data = app.ok(tom, ops::CHECK_IN, json!({ "input": input })).await;
        assert_eq!(user_error_codes(&data["logCheckIn"]), ["INVALID_INPUT"], "{value}: {data:#}");
        assert_eq!(data["logCheckIn"]["userErrors"][0]["field"], json!(["input", "value"]), "{data:#}");
    }
    assert_eq!(app.counts().await, before, "a refused check-in wrote something");
    // Goals are bounded the same way.
    let goal = json!({ "cohortId": cohort.id, "title": "Huge", "unit": "u", "target": 1e300, "aggregation": "SUM" });
    let data = app.ok(&cohort.leader, ops::ADD_GOAL, json!({ "input": goal })).await;
    assert_eq!(user_error_codes(&data["addGoal"]), ["INVALID_INPUT"], "{data:#}");
    assert_eq!(data["addGoal"]["userErrors"][0]["field"], json!(["input", "target"]), "{data:#}");

    // The largest values allowed add up to a finite progress and a chart.
    for _ in 0..2 {
        let input = json!({ "cohortId": cohort.id, "goalId": cohort.goal_id, "value": 1e12 });
        let data = app.ok(tom, ops::CHECK_IN, json!({ "input": input })).await;
        assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
    }
    let data = app.ok(tom, PROGRESS, json!({ "id": cohort.id })).await;
    let progress = &data["cohort"]["goals"][0]["progress"];
    assert_eq!(progress["current"], json!(2e12), "{data:#}");
    assert_eq!(progress["fraction"], json!(1.0), "{data:#}");
    assert_chart(&app, tom, &cohort.id).await;
    app.stop().await;
}

async fn progress_and_the_chart_survive_values_stored_before_the_bound(app: TestApp) {
    let cohort = active_cohort(&app, "t", &["tom"]).await;
    let tom = &cohort.trainees[0];
    for _ in 0..2 {
        let input = json!({ "cohortId": cohort.id, "goalId": cohort.goal_id, "value": 1.0 });
        app.ok(tom, ops::CHECK_IN, json!({ "input": input })).await;
    }
    // Two values of 1.7e308 add up past the largest float. Values stored before the bound reach
    // the tallies the way check-ins stored before the tallies did: by rebuilding them.
    let conn = app.store.writer();
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), "UPDATE check_ins SET value = 1.7e308"))
        .await
        .unwrap();
    afterclass::store::tallies::rebuild(conn, None).await.unwrap();
    let body = app.gql(tom, PROGRESS, json!({ "id": cohort.id })).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let progress = &body["data"]["cohort"]["goals"][0]["progress"];
    assert!(progress["current"].as_f64().is_some_and(f64::is_finite), "{body:#}");
    assert_eq!(progress["fraction"], json!(1.0), "{body:#}");
    assert_chart(&app, tom, &cohort.id).await;
    app.stop().await;
}

/// The cohort's progress chart answers 200 with an SVG.
async fn assert_chart(app: &TestApp, token: &str, cohort_id: &str) {
    let data = app.ok(token, CHART_URL, json!({ "id": cohort_id })).await;
    let url = data["cohort"]["progressChartUrl"].as_str().unwrap();
    let path = url.find("/cohorts/").map(|i| &url[i..]).unwrap();
    let resp = app.client().get(app.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("<svg") && !body.contains("NaN") && !body.contains("inf"), "{body}");
}

async fn nul_characters_are_refused_before_any_lookup(app: TestApp) {
    let cohort = active_cohort(&app, "t", &["tom"]).await;
    let tom = &cohort.trainees[0];
    let filter = r#"query($course: String!) { cohorts(filter: { lmsCourseId: $course }) { totalCount } }"#;
    for course in ["RUST-101\u{0}", "\u{0}", "RUST\u{1b}-101"] {
        let body = app.gql(tom, filter, json!({ "course": course })).await;
        refused_with(&body, &["BAD_USER_INPUT"]);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("lmsCourseId"), "{body:#}");
    }
    let data = app.ok(tom, filter, json!({ "course": " RUST-101 " })).await;
    assert_eq!(data["cohorts"]["totalCount"], 1, "{data:#}");

    // Una's first request creates her person; what follows must write nothing.
    let una = trainee("una", "t");
    app.ok(&una, "{ viewer { person { id } } }", json!({})).await;
    let before = app.counts().await;
    let input =
        json!({ "cohortId": cohort.id, "goalId": cohort.goal_id, "value": 1.0, "idempotencyKey": "retry\u{0}" });
    let data = app.ok(tom, ops::CHECK_IN, json!({ "input": input })).await;
    assert_eq!(user_error_codes(&data["logCheckIn"]), ["INVALID_INPUT"], "{data:#}");
    assert_eq!(data["logCheckIn"]["userErrors"][0]["field"], json!(["input", "idempotencyKey"]), "{data:#}");
    for (op, payload, input) in [
        (ops::CHECK_IN, "logCheckIn", json!({ "cohortId": cohort.id, "note": "a\u{0}b" })),
        (ops::CHECK_IN, "logCheckIn", json!({ "cohortId": cohort.id, "blockers": "\u{0}" })),
        (
            ops::ADD_GOAL,
            "addGoal",
            json!({ "cohortId": cohort.id, "title": "G\u{0}", "unit": "u", "target": 5.0, "aggregation": "SUM" }),
        ),
        (
            ops::CREATE,
            "createCohort",
            json!({ "name": "N\u{0}", "domain": "D", "purpose": "P", "horizon": "SHORT_TERM" }),
        ),
        (
            ops::CREATE,
            "createCohort",
            json!({ "name": "N", "domain": "D", "purpose": "P", "horizon": "SHORT_TERM", "tags": ["\u{0}"] }),
        ),
    ] {
        let token = if payload == "logCheckIn" { tom.as_str() } else { cohort.leader.as_str() };
        let data = app.ok(token, op, json!({ "input": input })).await;
        assert_eq!(user_error_codes(&data[payload]), ["INVALID_INPUT"], "{data:#}");
    }
    let request = r#"mutation($input: RequestToJoinInput!) { requestToJoin(input: $input) { userErrors { code } } }"#;
    let data = app.ok(&una, request, json!({ "input": { "cohortId": cohort.id, "message": "hi\u{0}" } })).await;
    assert_eq!(user_error_codes(&data["requestToJoin"]), ["INVALID_INPUT"], "{data:#}");
    assert_eq!(app.counts().await, before, "a refused write wrote something");
    // Free-text search reads words only: a NUL separates them.
    let search = r#"query($q: String!) { searchCohorts(query: $q) { totalCount } }"#;
    let data = app.ok(tom, search, json!({ "q": "rust\u{0}practice" })).await;
    assert_eq!(data["searchCohorts"]["totalCount"], 1, "{data:#}");
    app.stop().await;
}

async fn a_declined_proposal_takes_no_retrospective(app: TestApp) {
    let lea = trainee("lea", "t");
    let propose = r#"mutation($input: ProposeCohortInput!) { proposeCohort(input: $input) { cohort { id } userErrors { code } } }"#;
    let data = app
        .ok(&lea, propose, json!({ "input": { "name": "Knitting circle", "domain": "Knitting", "purpose": "Knit", "horizon": "OPEN_ENDED" } }))
        .await;
    let id = data["proposeCohort"]["cohort"]["id"].clone();
    let decline = r#"mutation($input: DeclineProposalInput!) { declineProposal(input: $input) { cohort { stage } userErrors { code } } }"#;
    let data = app
        .ok(&instructor("ada", "t"), decline, json!({ "input": { "cohortId": id, "reason": "Join crafts." } }))
        .await;
    assert_eq!(data["declineProposal"]["cohort"]["stage"], "DISBANDED", "{data:#}");

    let retro = r#"mutation($input: WriteRetrospectiveInput!) { writeRetrospective(input: $input) {
        cohort { id } userErrors { field message code } } }"#;
    let before = app.counts().await;
    let data = app.ok(&lea, retro, json!({ "input": { "cohortId": id, "retrospective": "We never met." } })).await;
    assert_eq!(user_error_codes(&data["writeRetrospective"]), ["WRONG_STAGE"], "{data:#}");
    assert!(data["writeRetrospective"]["userErrors"][0]["message"].as_str().unwrap().contains("declined"), "{data:#}");
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

/// Found by the fuzz suite (`tests/fuzz/corpus/regression_*`): the executor reports a declared
/// variable the request left out, and a variable whose value has another shape than its type,
/// only when it reads the field's arguments; both are the request's error, not ours.
async fn a_variable_left_out_or_of_another_shape_is_the_requests_error(app: TestApp) {
    let cohort = active_cohort(&app, "t", &["tom"]).await;
    let before = app.counts().await;
    let graduate = r#"mutation Graduate($input: GraduateCohortInput!) { graduateCohort(input: $input) {
        cohort { id stage } userErrors { field message code } } }"#;
    for variables in [json!({}), json!(null), json!({ "other": 1 })] {
        let body = app.gql(&cohort.leader, graduate, variables).await;
        refused_with(&body, &["BAD_USER_INPUT"]);
        assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("input")), "{body:#}");
    }
    let meetings = r#"query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) {
        meetings(from: $from, to: $to) { id } } }"#;
    let shapes = [json!([{ "externalId": "p0" }]), json!({ "at": "2027-01-01T00:00:00Z" }), json!([]), json!(true)];
    for shape in shapes {
        let variables = json!({ "id": cohort.id, "from": shape, "to": "2027-01-01T00:00:00Z" });
        let body = app.gql(&cohort.leader, meetings, variables).await;
        refused_with(&body, &["BAD_USER_INPUT"]);
    }
    assert_eq!(app.counts().await, before, "a refused request wrote something");
    app.stop().await;
}

/// Found by the fuzz suite (`tests/fuzz/corpus/regression_aliased_schema.graphql`): each aliased
/// `__schema` answers with the whole schema, and 200 of them ran past the request time limit.
/// A document may introspect the schema three times; more is refused before anything runs.
async fn the_schema_is_introspected_a_few_times_per_request_at_most(app: TestApp) {
    let leader = instructor("ada", "t");
    app.ok(&leader, "{ viewer { role } }", json!({})).await;
    let before = app.counts().await;
    let schema = "__schema { queryType { name } types { name kind fields { name args { name } } } }";
    let aliases = |n: usize| format!("{{ {} }}", (0..n).map(|k| format!("a{k}: {schema} ")).collect::<String>());
    let data = app.ok(&leader, &aliases(3), json!({})).await;
    assert_eq!(data["a2"]["queryType"]["name"], "Query", "{data:#}");
    for n in [4, 200] {
        let started = std::time::Instant::now();
        let body = app.gql(&leader, &aliases(n), json!({})).await;
        refused_with(&body, &["BAD_USER_INPUT"]);
        assert!(body["data"].is_null(), "{body:#}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{n} copies took {:?}", started.elapsed());
    }
    assert_eq!(app.counts().await, before, "a refused request wrote something");
    app.stop().await;
}
