//! Knowing when a cohort is done, end to end on SQLite and PostgreSQL: evaluation as of any
//! time, applying it, graduating, retrospectives, the outcomes library, participation and health.

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, active_cohort, error_codes, on_both_stores, ops, trainee, user_error_codes};
use chrono::{Duration, Utc};

on_both_stores!(
    a_short_term_cohort_that_reaches_its_target_disbands_with_goals_met,
    a_cohort_left_alone_is_dormant_and_recommended_to_disband_22_days_later,
    an_open_ended_cohort_that_grows_past_its_thresholds_is_recommended_to_graduate,
    participation_levels_follow_each_members_activity,
    a_cohort_whose_last_leader_left_is_flagging,
    criteria_are_validated_and_only_leaders_set_them,
);

const EVALUATION: &str = r#"query($id: ID!, $asOf: DateTime) { cohort(id: $id) {
    evaluation(asOf: $asOf) { asOf recommendation summary results { criterion { kind effect threshold } holds observed threshold explanation } }
    health(asOf: $asOf) { status activeMemberRatio checkInsPerMemberPerWeek trend attendanceRate daysSinceLastActivity leaderActive reasons } } }"#;
const APPLY: &str = r#"mutation($input: ApplyEvaluationInput!) { applyEvaluation(input: $input) {
    cohort { stage endedAt outcome { reason endedAt retrospective formalStructure evaluation { recommendation summary } } }
    userErrors { field message code } } }"#;
const SET_CRITERIA: &str = r#"mutation($input: SetCriteriaInput!) { setCriteria(input: $input) {
    cohort { criteria { kind effect threshold } autoApply } userErrors { field message code } } }"#;
const RETRO: &str = r#"mutation($input: WriteRetrospectiveInput!) { writeRetrospective(input: $input) {
    cohort { outcome { retrospective } } userErrors { field message code } } }"#;
const GRADUATE: &str = r#"mutation($input: GraduateCohortInput!) { graduateCohort(input: $input) {
    cohort { stage outcome { reason formalStructure } } userErrors { field message code } } }"#;

fn result<'a>(evaluation: &'a Value, kind: &str) -> &'a Value {
    evaluation["results"].as_array().unwrap().iter().find(|r| r["criterion"]["kind"] == kind).unwrap()
}

async fn check_in(app: &TestApp, token: &str, cohort: &str, goal: Option<&str>, value: f64) {
    let data =
        app.ok(token, ops::CHECK_IN, json!({ "input": { "cohortId": cohort, "goalId": goal, "value": value } })).await;
    assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
}

async fn a_short_term_cohort_that_reaches_its_target_disbands_with_goals_met(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy"]).await;
    check_in(&app, &c.trainees[0], &c.id, Some(&c.goal_id), 60.0).await;
    let data = app.ok(&c.leader, EVALUATION, json!({ "id": c.id })).await;
    assert_eq!(data["cohort"]["evaluation"]["recommendation"], "CONTINUE");
    // Applying a recommendation to continue is refused, and writes nothing.
    let before = app.counts().await;
    let data = app.ok(&c.leader, APPLY, json!({ "input": { "cohortId": c.id } })).await;
    assert_eq!(user_error_codes(&data["applyEvaluation"]), ["REQUIREMENTS_NOT_MET"]);
    assert_eq!(app.counts().await, before);

    check_in(&app, &c.trainees[1], &c.id, Some(&c.goal_id), 40.0).await;
    let data = app.ok(&c.leader, EVALUATION, json!({ "id": c.id })).await;
    let evaluation = &data["cohort"]["evaluation"];
    assert_eq!(evaluation["recommendation"], "DISBAND", "{evaluation:#}");
    let goals = result(evaluation, "ALL_GOALS_ACHIEVED");
    assert_eq!((goals["holds"].as_bool(), goals["observed"].as_f64()), (Some(true), Some(1.0)));
    assert_eq!(goals["explanation"], "1 of 1 goals achieved.");
    assert_eq!(result(evaluation, "DEADLINE_PASSED")["holds"], false);

    let data = app
        .ok(&c.leader, APPLY, json!({ "input": { "cohortId": c.id, "retrospective": "We did it in a week." } }))
        .await;
    let cohort = &data["applyEvaluation"]["cohort"];
    assert_eq!(cohort["stage"], "DISBANDED", "{data:#}");
    assert_eq!(cohort["outcome"]["reason"], "GOALS_MET");
    assert_eq!(cohort["outcome"]["evaluation"]["recommendation"], "DISBAND");
    assert_eq!(cohort["outcome"]["retrospective"], "We did it in a week.");

    // The retrospective can be improved afterwards; nothing else can change.
    let data =
        app.ok(&c.leader, RETRO, json!({ "input": { "cohortId": c.id, "retrospective": "Better story." } })).await;
    assert_eq!(data["writeRetrospective"]["cohort"]["outcome"]["retrospective"], "Better story.");
    let body = app.gql(&c.trainees[0], RETRO, json!({ "input": { "cohortId": c.id, "retrospective": "Mine." } })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let data = app.ok(&c.leader, SET_CRITERIA, json!({ "input": { "cohortId": c.id, "criteria": [] } })).await;
    assert_eq!(user_error_codes(&data["setCriteria"]), ["WRONG_STAGE"]);

    // The tenant's library of use cases lists it, newest first.
    let data = app
        .ok(
            &c.leader,
            "{ outcomes(first: 5) { totalCount nodes { cohort { name stage } outcome { reason retrospective } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["outcomes"]["totalCount"], 1);
    assert_eq!(data["outcomes"]["nodes"][0]["outcome"]["reason"], "GOALS_MET");
    let data = app.ok(&c.leader, r#"{ outcomes(horizon: OPEN_ENDED) { totalCount } }"#, json!({})).await;
    assert_eq!(data["outcomes"]["totalCount"], 0);
    app.stop().await;
}

async fn a_cohort_left_alone_is_dormant_and_recommended_to_disband_22_days_later(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom"]).await;
    let in_days = |d: i64| (Utc::now() + Duration::days(d)).to_rfc3339();
    let data = app.ok(&c.leader, EVALUATION, json!({ "id": c.id, "asOf": in_days(20) })).await;
    assert_eq!(data["cohort"]["evaluation"]["recommendation"], "CONTINUE");
    assert_eq!(data["cohort"]["health"]["status"], "FLAGGING");

    let data = app.ok(&c.leader, EVALUATION, json!({ "id": c.id, "asOf": in_days(22) })).await;
    let evaluation = &data["cohort"]["evaluation"];
    assert_eq!(evaluation["recommendation"], "DISBAND");
    let inactive = result(evaluation, "INACTIVE_FOR_DAYS");
    assert_eq!(
        (inactive["holds"].as_bool(), inactive["observed"].as_f64(), inactive["threshold"].as_f64()),
        (Some(true), Some(22.0), Some(21.0))
    );
    assert_eq!(inactive["explanation"], "No check-in, meeting or leadership action for 22 days (limit 21).");
    let health = &data["cohort"]["health"];
    assert_eq!(health["status"], "DORMANT");
    assert_eq!(health["daysSinceLastActivity"], 22);
    assert!(health["reasons"][0].as_str().unwrap().contains("22 days"), "{health:#}");
    // Evaluation never writes.
    assert_eq!(app.count("outcomes").await, 0);
    app.stop().await;
}

async fn an_open_ended_cohort_that_grows_past_its_thresholds_is_recommended_to_graduate(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy"]).await;
    let data = app
        .ok(
            &c.leader,
            r#"query($id: ID!) { cohort(id: $id) { criteria { kind effect threshold } } }"#,
            json!({ "id": c.id }),
        )
        .await;
    assert_eq!(data["cohort"]["criteria"].as_array().unwrap().len(), 3, "short-term defaults");
    let criteria = json!([
        { "kind": "ACTIVE_MEMBERS_AT_LEAST", "effect": "GRADUATE", "threshold": 5 },
        { "kind": "SUSTAINED_ACTIVITY_WEEKS", "effect": "GRADUATE", "threshold": 1 },
        { "kind": "OUTSIDE_INTEREST_AT_LEAST", "effect": "GRADUATE", "threshold": 0 },
        { "kind": "INACTIVE_FOR_DAYS", "effect": "DISBAND", "threshold": 42 },
    ]);
    let data = app.ok(&c.leader, SET_CRITERIA, json!({ "input": { "cohortId": c.id, "criteria": criteria } })).await;
    assert_eq!(data["setCriteria"]["cohort"]["criteria"].as_array().unwrap().len(), 4, "{data:#}");
    check_in(&app, &c.trainees[0], &c.id, None, 1.0).await;
    let data = app.ok(&c.leader, EVALUATION, json!({ "id": c.id })).await;
    let evaluation = &data["cohort"]["evaluation"];
    assert_eq!(evaluation["recommendation"], "CONTINUE");
    assert!(evaluation["summary"].as_str().unwrap().contains("2 of 3 graduation criteria"), "{evaluation:#}");

    // The cohort grows to five active members.
    let more: Vec<Value> = ["ann", "ben"].iter().map(|p| json!({ "externalId": p, "displayName": p })).collect();
    app.ok(&c.leader, ops::ADD_MEMBERS, json!({ "input": { "cohortId": c.id, "members": more } })).await;
    for p in ["ann", "ben"] {
        app.ok(&trainee(p, "t"), ops::ACCEPT, json!({ "input": { "cohortId": c.id, "version": 1 } })).await;
    }
    let data = app.ok(&c.leader, EVALUATION, json!({ "id": c.id })).await;
    assert_eq!(data["cohort"]["evaluation"]["recommendation"], "GRADUATE");
    assert_eq!(result(&data["cohort"]["evaluation"], "ACTIVE_MEMBERS_AT_LEAST")["observed"], 5.0);

    // Graduation needs to say what the cohort became.
    let data = app.ok(&c.leader, GRADUATE, json!({ "input": { "cohortId": c.id, "formalStructure": " " } })).await;
    assert_eq!(user_error_codes(&data["graduateCohort"]), ["INVALID_INPUT"]);
    let data = app
        .ok(
            &c.leader,
            GRADUATE,
            json!({ "input": { "cohortId": c.id, "formalStructure": "Rust Guild (monthly meetup, own charter)" } }),
        )
        .await;
    assert_eq!(data["graduateCohort"]["cohort"]["stage"], "GRADUATED");
    assert_eq!(data["graduateCohort"]["cohort"]["outcome"]["reason"], "GRADUATED");
    assert_eq!(
        data["graduateCohort"]["cohort"]["outcome"]["formalStructure"],
        "Rust Guild (monthly meetup, own charter)"
    );
    app.stop().await;
}

async fn participation_levels_follow_each_members_activity(app: TestApp) {
    let c = active_cohort(&app, "t", &["four", "two", "one", "none"]).await;
    for (i, n) in [4, 2, 1].into_iter().enumerate() {
        for _ in 0..n {
            check_in(&app, &c.trainees[i], &c.id, None, 1.0).await;
        }
    }
    app.ok(&c.leader, ops::ADD_MEMBERS, json!({ "input": { "cohortId": c.id, "members": [{ "externalId": "obs", "displayName": "Obs", "role": "OBSERVER" }] } }))
        .await;
    app.ok(&trainee("obs", "t"), ops::ACCEPT, json!({ "input": { "cohortId": c.id, "version": 1 } })).await;
    let levels = |as_of: Option<String>| {
        let (app, leader, id) = (&app, c.leader.clone(), c.id.clone());
        async move {
            let data = app
                .ok(&leader, r#"query($id: ID!, $asOf: DateTime) { cohort(id: $id) { members { nodes { person { externalId } participation(asOf: $asOf) } } } }"#,
                    json!({ "id": id, "asOf": as_of }))
                .await;
            data["cohort"]["members"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["person"]["externalId"].as_str().unwrap().to_owned(),
                        m["participation"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let now: Vec<(String, String)> = levels(None).await;
    let expected = [
        ("ada", "CORE"),
        ("four", "CORE"),
        ("two", "ACTIVE"),
        ("one", "PERIPHERAL"),
        ("none", "INACTIVE"),
        ("obs", "PERIPHERAL"),
    ];
    assert_eq!(now, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    // A window later, nobody has done anything; the observer is still welcome.
    let later = levels(Some((Utc::now() + Duration::days(30)).to_rfc3339())).await;
    let expected = [
        ("ada", "INACTIVE"),
        ("four", "INACTIVE"),
        ("two", "INACTIVE"),
        ("one", "INACTIVE"),
        ("none", "INACTIVE"),
        ("obs", "PERIPHERAL"),
    ];
    assert_eq!(later, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    app.stop().await;
}

async fn a_cohort_whose_last_leader_left_is_flagging(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy"]).await;
    for t in &c.trainees {
        for _ in 0..4 {
            check_in(&app, t, &c.id, None, 1.0).await;
        }
    }
    app.ok(&c.leader, ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    let data = app.ok(&c.trainees[0], EVALUATION, json!({ "id": c.id })).await;
    let health = &data["cohort"]["health"];
    assert_eq!(health["status"], "FLAGGING", "{health:#}");
    assert_eq!(health["leaderActive"], false);
    assert!(health["reasons"].as_array().unwrap().contains(&json!("The cohort has no active leader.")), "{health:#}");
    app.stop().await;
}

async fn criteria_are_validated_and_only_leaders_set_them(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom"]).await;
    let before = app.counts().await;
    let twice = json!([{ "kind": "INACTIVE_FOR_DAYS", "effect": "DISBAND", "threshold": 3 }, { "kind": "INACTIVE_FOR_DAYS", "effect": "DISBAND", "threshold": 4 }]);
    let data = app.ok(&c.leader, SET_CRITERIA, json!({ "input": { "cohortId": c.id, "criteria": twice } })).await;
    assert_eq!(user_error_codes(&data["setCriteria"]), ["ALREADY_EXISTS"]);
    let missing = json!([{ "kind": "INACTIVE_FOR_DAYS", "effect": "DISBAND" }]);
    let data = app.ok(&c.leader, SET_CRITERIA, json!({ "input": { "cohortId": c.id, "criteria": missing } })).await;
    assert_eq!(user_error_codes(&data["setCriteria"]), ["INVALID_INPUT"]);
    let fine = json!([{ "kind": "INACTIVE_FOR_DAYS", "effect": "DISBAND", "threshold": 7 }]);
    let body = app.gql(&c.trainees[0], SET_CRITERIA, json!({ "input": { "cohortId": c.id, "criteria": fine } })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    assert_eq!(app.counts().await, before);
    let data = app
        .ok(&c.leader, SET_CRITERIA, json!({ "input": { "cohortId": c.id, "criteria": fine, "autoApply": true } }))
        .await;
    assert_eq!(data["setCriteria"]["cohort"]["autoApply"], true);
    app.stop().await;
}
