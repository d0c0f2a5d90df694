//! The whole core loop, end to end over HTTP, on SQLite and PostgreSQL: from the end of a course
//! to check-ins, progress as of chosen times, paging, disbanding, and reading it all afterwards.

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, instructor, on_both_stores, ops, trainee, user_error_codes};
use chrono::{DateTime, Duration, NaiveDate, Utc};

on_both_stores!(
    a_course_becomes_a_cohort_that_checks_in_and_disbands,
    only_a_check_in_that_could_advance_a_goal_looks_whether_it_was_reached
);

const PROGRESS: &str = r#"query($id: ID!, $asOf: DateTime) {
    cohort(id: $id) { goals { title aggregation progress(asOf: $asOf) {
        current target fraction expectedFraction pace achievedAt } } } }"#;

fn progress_of<'a>(data: &'a Value, title: &str) -> &'a Value {
    data["cohort"]["goals"].as_array().unwrap().iter().find(|g| g["title"] == title).map(|g| &g["progress"]).unwrap()
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

async fn a_course_becomes_a_cohort_that_checks_in_and_disbands(app: TestApp) {
    let tenant = "uni-a";
    let ada = instructor("ada", tenant);
    let trainees: Vec<String> = (1..=5).map(|i| trainee(&format!("t{i}"), tenant)).collect();

    // The course ends: the instructor creates the cohort from its five-trainee roster.
    let roster: Vec<Value> =
        (1..=5).map(|i| json!({ "externalId": format!("t{i}"), "displayName": format!("Trainee {i}") })).collect();
    let data = app
        .ok(&ada, ops::CREATE, json!({ "input": {
            "name": "Rust practice circle", "domain": "Rust programming", "purpose": "Finish the exercise book together",
            "scope": "Exercises only", "tags": ["Rust", "practice"], "horizon": "SHORT_TERM", "visibility": "BY_REQUEST",
            "course": { "lmsCourseId": "RUST-101", "title": "Rust Fundamentals", "endedOn": "2026-11-20" },
            "roster": roster } }))
        .await;
    assert_eq!(data["createCohort"]["userErrors"], json!([]));
    let id = data["createCohort"]["cohort"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["createCohort"]["cohort"]["stage"], "FORMING");

    // Read with the cohort in one statement: none yet, then every goal in the order it was added.
    const GOALS: &str = r#"query($id: ID!) { cohort(id: $id) { name goals { id title } } }"#;
    let data = app.ok(&ada, GOALS, json!({ "id": id })).await;
    assert_eq!(data["cohort"]["goals"], json!([]), "{data:#}");
    assert_eq!(data["cohort"]["name"], "Rust practice circle");

    let deadline = (Utc::now() + Duration::days(10)).date_naive();
    let mut goals = Vec::new();
    for (title, target, aggregation, start, deadline) in [
        ("Exercises", 100.0, "SUM", None, Some(deadline)),
        ("Chapters each", 10.0, "EACH_MEMBER", None, None),
        ("Quiz score", 50.0, "AVERAGE", Some(0.0), Some(deadline)),
    ] {
        let data = app
            .ok(&ada, ops::ADD_GOAL, json!({ "input": { "cohortId": id, "title": title, "unit": "points", "target": target,
                "aggregation": aggregation, "startValue": start, "deadline": deadline.map(|d: NaiveDate| d.to_string()) } }))
            .await;
        assert_eq!(data["addGoal"]["userErrors"], json!([]), "{data:#}");
        goals.push(data["addGoal"]["goal"]["id"].as_str().unwrap().to_owned());
    }
    let data = app.ok(&ada, GOALS, json!({ "id": id })).await;
    let read: Vec<(&str, &str)> = data["cohort"]["goals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_str().unwrap(), g["title"].as_str().unwrap()))
        .collect();
    let added: Vec<&str> = goals.iter().map(String::as_str).collect();
    assert_eq!(read.iter().map(|(id, _)| *id).collect::<Vec<_>>(), added, "{data:#}");
    assert_eq!(read.iter().map(|(_, t)| *t).collect::<Vec<_>>(), ["Exercises", "Chapters each", "Quiz score"]);
    let data = app
        .ok(&ada, ops::SET_CONDUCT, json!({ "input": { "cohortId": id, "text": "Be kind; share what you tried." } }))
        .await;
    assert_eq!(data["setCodeOfConduct"]["cohort"]["codeOfConduct"]["version"], 1);
    let data = app.ok(&ada, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
    let activated: DateTime<Utc> = data["activateCohort"]["cohort"]["activatedAt"].as_str().unwrap().parse().unwrap();

    // Four trainees accept the code of conduct; the fifth stays invited.
    for t in &trainees[..4] {
        let data = app.ok(t, ops::ACCEPT, json!({ "input": { "cohortId": id, "version": 1 } })).await;
        assert_eq!(data["acceptCodeOfConduct"]["membership"]["status"], "ACTIVE");
        assert_eq!(data["acceptCodeOfConduct"]["membership"]["conductAcceptedVersion"], 1);
    }

    let check_in = |who: usize, goal: usize, value: f64| {
        let (app, token, id, goal) = (&app, trainees[who].clone(), id.clone(), goals[goal].clone());
        async move {
            let data = app
                .ok(&token, ops::CHECK_IN, json!({ "input": { "cohortId": id, "goalId": goal, "value": value, "confidence": 4, "note": "done" } }))
                .await;
            assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
        }
    };
    check_in(0, 0, 30.0).await;
    check_in(1, 0, 20.0).await;
    check_in(0, 1, 12.0).await;
    check_in(1, 1, 10.0).await;
    check_in(2, 1, 4.0).await;
    check_in(0, 2, 40.0).await;
    check_in(1, 2, 60.0).await;
    check_in(1, 2, 30.0).await; // The latest value counts.

    // As of activation, nothing had happened yet.
    let before = app.ok(&ada, PROGRESS, json!({ "id": id, "asOf": activated })).await;
    assert!(close(&progress_of(&before, "Exercises")["current"], 0.0));
    assert!(close(&progress_of(&before, "Exercises")["expectedFraction"], 0.0));

    // Halfway between activation and the end of the deadline day, the pace line is at 0.5.
    let deadline_end = (deadline + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap().and_utc();
    let midway = activated + (deadline_end - activated) / 2;
    let mid = app.ok(&ada, PROGRESS, json!({ "id": id, "asOf": midway })).await;
    let sum = progress_of(&mid, "Exercises");
    assert!(close(&sum["current"], 50.0) && close(&sum["target"], 100.0) && close(&sum["fraction"], 0.5), "{sum:#}");
    assert!(sum["expectedFraction"].as_f64().is_some_and(|e| (e - 0.5).abs() < 1e-6), "{sum:#}");
    assert_eq!(sum["pace"], "ON_TRACK");
    // Five active members count toward goals (the leader and four trainees); two reached 10.
    let each = progress_of(&mid, "Chapters each");
    assert!(close(&each["current"], 2.0) && close(&each["target"], 5.0) && close(&each["fraction"], 0.4), "{each:#}");
    assert_eq!((each["pace"].as_str(), each["expectedFraction"].is_null()), (Some("NO_DEADLINE"), true));
    // Latest values 40 and 30; three members without a value count at the start value, 0.
    let avg = progress_of(&mid, "Quiz score");
    assert!(close(&avg["current"], 14.0) && close(&avg["fraction"], 0.28), "{avg:#}");
    assert_eq!(avg["pace"], "BEHIND");

    // Right after activation the same progress is well ahead of the pace line; after the
    // deadline it is behind.
    let early = app.ok(&ada, PROGRESS, json!({ "id": id, "asOf": Utc::now() })).await;
    assert_eq!(progress_of(&early, "Exercises")["pace"], "AHEAD");
    let late = app.ok(&ada, PROGRESS, json!({ "id": id, "asOf": deadline_end + Duration::days(1) })).await;
    assert!(close(&progress_of(&late, "Exercises")["expectedFraction"], 1.0));
    assert_eq!(progress_of(&late, "Exercises")["pace"], "BEHIND");

    // Page through members and check-ins with cursors.
    let members = collect_pages(&app, &ada, &id, "members", 2).await;
    assert_eq!(members.len(), 6);
    let check_ins = collect_pages(&app, &ada, &id, "checkIns", 3).await;
    assert_eq!(check_ins.len(), 8);

    // The leader disbands the cohort when it is done.
    let data = app
        .ok(
            &ada,
            ops::DISBAND,
            json!({ "input": { "cohortId": id, "reason": "GOALS_MET", "retrospective": "We finished the book." } }),
        )
        .await;
    assert_eq!(data["disbandCohort"]["cohort"]["stage"], "DISBANDED");
    assert!(data["disbandCohort"]["cohort"]["endedAt"].is_string());
    assert_eq!(app.count("outcomes").await, 1);

    // Everything stays readable, by the leader and by a member.
    for token in [&ada, &trainees[0]] {
        let data = app
            .ok(token, r#"query($id: ID!) { cohort(id: $id) { stage endedAt course { lmsCourseId title endedOn } tags
                members(first: 10) { totalCount nodes { role status person { externalId displayName } } }
                goals { title progress { current } }
                checkIns(first: 10) { totalCount nodes { value membership { person { externalId } } goal { title } } } } }"#,
                json!({ "id": id }))
            .await;
        let c = &data["cohort"];
        assert_eq!(c["stage"], "DISBANDED");
        assert_eq!(
            c["course"],
            json!({ "lmsCourseId": "RUST-101", "title": "Rust Fundamentals", "endedOn": "2026-11-20" })
        );
        assert_eq!(c["tags"], json!(["rust", "practice"]));
        assert_eq!(c["members"]["totalCount"], 6);
        assert_eq!(c["checkIns"]["totalCount"], 8);
        assert_eq!(c["checkIns"]["nodes"][0]["membership"]["person"]["externalId"], "t1");
        assert_eq!(c["checkIns"]["nodes"][0]["goal"]["title"], "Exercises");
    }

    // And nothing more can be written.
    let data = app.ok(&trainees[0], ops::CHECK_IN, json!({ "input": { "cohortId": id, "value": 1.0 } })).await;
    assert_eq!(user_error_codes(&data["logCheckIn"]), ["WRONG_STAGE"]);
    app.stop().await;
}

/// A check-in that cannot bring the goal nearer its target (no value, or a sum's value that does
/// not move towards it) costs one statement fewer than one that can: the look after the commit
/// whether the goal was reached. The goal is still marked by the check-in that reaches it.
async fn only_a_check_in_that_could_advance_a_goal_looks_whether_it_was_reached(app: TestApp) {
    let c = afterclass_tests::active_cohort(&app, "uni-look", &["t1", "t2"]).await;
    let statements_of = |value: Option<f64>| {
        let (app, c) = (&app, &c);
        async move {
            let before = app.store.statements();
            let data = app
                .ok(
                    &c.trainees[0],
                    ops::CHECK_IN,
                    json!({ "input": { "cohortId": c.id, "goalId": c.goal_id, "value": value } }),
                )
                .await;
            assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data}");
            app.store.statements() - before
        }
    };
    // Warm the viewer first, so that just-in-time creation is not counted.
    statements_of(None).await;
    let (none, zero, some) =
        (statements_of(None).await, statements_of(Some(0.0)).await, statements_of(Some(1.0)).await);
    assert_eq!((none, zero), (some - 1, some - 1), "no value {none}, 0 {zero}, 1 {some}");
    // The goal's target is 100 and 1 is in: 98 more is short of it, 1 more reaches it.
    statements_of(Some(98.0)).await;
    assert_eq!(achieved_at(&app, &c).await, Value::Null);
    statements_of(Some(0.0)).await;
    assert_eq!(achieved_at(&app, &c).await, Value::Null);
    statements_of(Some(1.0)).await;
    assert!(achieved_at(&app, &c).await.is_string(), "the check-in that reached the target marked the goal");
    app.stop().await;
}

async fn achieved_at(app: &TestApp, c: &afterclass_tests::ActiveCohort) -> Value {
    let data = app.ok(&c.leader, PROGRESS, json!({ "id": c.id })).await;
    progress_of(&data, "Exercises")["achievedAt"].clone()
}

/// Follows `after` cursors through a cohort connection, `size` at a time; gives every node id.
async fn collect_pages(app: &TestApp, token: &str, cohort: &str, field: &str, size: i64) -> Vec<String> {
    let query = format!(
        r#"query($id: ID!, $first: Int, $after: String) {{ cohort(id: $id) {{ {field}(first: $first, after: $after) {{
            totalCount edges {{ cursor node {{ id }} }} pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }} }}"#
    );
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app.ok(token, &query, json!({ "id": cohort, "first": size, "after": after })).await;
        let conn = &data["cohort"][field];
        let edges = conn["edges"].as_array().unwrap();
        assert!(edges.len() as i64 <= size);
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], after.is_some());
        ids.extend(edges.iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()));
        if conn["pageInfo"]["hasNextPage"] != true {
            assert_eq!(conn["totalCount"].as_i64(), Some(ids.len() as i64));
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "pages overlap");
    ids
}
