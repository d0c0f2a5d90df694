//! A person's privacy: the export holds every kind of record about them; erasure leaves none of
//! their words or identifiers in any column of any table while no cohort's figures change; the
//! retention sweep erases people whose cohorts all ended long enough ago and keeps anyone still
//! in a live cohort. Over HTTP with real tokens, on both stores.

use afterclass::app::nudges::Delivery;
use afterclass::sweeper::{self, Options};
use afterclass_domain::privacy::Retention;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{
    TestApp, active_cohort, error_codes, instructor, integration, on_both_stores, ops, trainee, user_error_codes,
};
use chrono::{DateTime, Datelike, Duration, SecondsFormat, Timelike, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

on_both_stores!(
    the_export_holds_every_kind_of_record_and_only_the_integration_reads_it,
    erasure_leaves_no_trace_and_changes_no_cohort_figure,
    retention_erases_people_whose_cohorts_all_ended_long_ago,
);

const TENANT: &str = "uni-p";
const OTHER_TENANT: &str = "uni-q";

/// Everything rue wrote or is known by: none of it may survive her erasure.
const EXTERNAL_ID: &str = "rue-ext-4711";
const NAME: &str = "Rue Quillfeather";
const EMAIL: &str = "rue.quill@example.org";
const NOTE: &str = "xylophonic scales practised";
const BLOCKERS: &str = "quagmirebug in the borrow checker";
const MESSAGE: &str = "zephyrjoin: may I join your circle?";
const RETROSPECTIVE: &str = "bumblewrap: we met every week and finished the book";
const IDEMPOTENCY_KEY: &str = "rue-key-0042";
const NEEDLES: [&str; 8] =
    [EXTERNAL_ID, "Quillfeather", EMAIL, "xylophonic", "quagmirebug", "zephyrjoin", "bumblewrap", IDEMPOTENCY_KEY];

const EXPORT: &str = r#"query($id: String!) { personExport(externalId: $id) { person { id externalId displayName } document generatedAt } }"#;
const ERASE: &str = r#"mutation($input: ErasePersonInput!) { erasePerson(input: $input) { erased userErrors { field message code } } }"#;
const SET_MEETING_PLAN: &str =
    r#"mutation($input: SetMeetingPlanInput!) { setMeetingPlan(input: $input) { userErrors { field message code } } }"#;
const MEETINGS: &str = r#"query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) { meetings(from: $from, to: $to) { id startsAt } } }"#;
const RSVP: &str = r#"mutation($input: RsvpInput!) { rsvp(input: $input) { rsvp { answer } userErrors { code } } }"#;
const ATTENDANCE: &str =
    r#"mutation($input: RecordAttendanceInput!) { recordAttendance(input: $input) { userErrors { code } } }"#;
const REQUEST: &str = r#"mutation($input: RequestToJoinInput!) { requestToJoin(input: $input) { joinRequest { id status } userErrors { code } } }"#;
const POLICY: &str =
    r#"mutation($input: SetNudgePolicyInput!) { setNudgePolicy(input: $input) { userErrors { field message code } } }"#;
const FEED_URL: &str = r#"query($id: ID!) { node(id: $id) { ... on Membership { calendarFeedUrl } } }"#;
const CREATE_ENDPOINT: &str = r#"mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } userErrors { code } } }"#;
const ME: &str = "{ viewer { person { externalId displayName } memberships(first: 50) { totalCount } } }";

/// The cohorts of rue's history.
struct History {
    /// Active: rue checks in, answers and attends meetings, is nudged; ada leads it.
    circle: String,
    /// Ended by rue, who led it, with her retrospective.
    ended: String,
    /// rue asked to join it, with a message.
    asked: String,
    rue: String,
    rue_membership: String,
    /// rue's calendar feed of the circle, while it works.
    feed: String,
    /// The circle's window of meetings the figures read.
    from: String,
    to: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("an id in {v:#}")).to_owned()
}

/// A cohort created by ada with `roster`, a SUM goal, a code of conduct, activated, everyone on
/// the roster accepting. Gives the cohort's and the goal's IDs.
async fn cohort_with(app: &TestApp, name: &str, roster: Value, accepting: &[&str]) -> (String, String) {
    let ada = instructor("ada", TENANT);
    let data = app
        .ok(
            &ada,
            ops::CREATE,
            json!({ "input": { "name": name, "domain": "Rust programming", "purpose": "Keep practising",
                "horizon": "SHORT_TERM", "visibility": "BY_REQUEST", "codeOfConduct": "Be kind.", "roster": roster,
                "course": { "lmsCourseId": "RUST-101", "title": "Rust Fundamentals" } } }),
        )
        .await;
    assert_eq!(data["createCohort"]["userErrors"], json!([]), "{data:#}");
    let id = id_of(&data["createCohort"]["cohort"]);
    let data = app
        .ok(&ada, ops::ADD_GOAL, json!({ "input": { "cohortId": id, "title": "Exercises", "unit": "exercises", "target": 100.0, "aggregation": "SUM" } }))
        .await;
    let goal = id_of(&data["addGoal"]["goal"]);
    for sub in accepting {
        let data =
            app.ok(&trainee(sub, TENANT), ops::ACCEPT, json!({ "input": { "cohortId": id, "version": 1 } })).await;
        assert_eq!(data["acceptCodeOfConduct"]["membership"]["status"], "ACTIVE", "{data:#}");
    }
    let data = app.ok(&ada, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
    (id, goal)
}

/// rue's rich history: check-ins with notes and blockers (one with an idempotency key), an RSVP,
/// an attendance mark, a cohort she led and ended with a retrospective, a pending join request
/// with a message, nudges (and a leader digest naming her) from ten simulated days of sweeps, a
/// webhook endpoint with deliveries of her events queued.
async fn rich_history(app: &TestApp) -> History {
    let ada = instructor("ada", TENANT);
    let rue = trainee(EXTERNAL_ID, TENANT);
    let tom = trainee("tom", TENANT);
    let lms = integration(TENANT);
    let data = app.ok(&lms, CREATE_ENDPOINT, json!({ "input": { "url": "https://hooks.example.edu/lms" } })).await;
    assert_eq!(data["createWebhookEndpoint"]["userErrors"], json!([]), "{data:#}");

    let rue_entry =
        |role: &str| json!({ "externalId": EXTERNAL_ID, "displayName": NAME, "email": EMAIL, "role": role });
    let roster = json!([rue_entry("MEMBER"), { "externalId": "tom", "displayName": "Tom Baker" }]);
    let (circle, goal) = cohort_with(app, "Rust practice circle", roster, &[EXTERNAL_ID, "tom"]).await;
    for (value, note, blockers, key) in [
        (3.0, Some(NOTE), Some(BLOCKERS), Some(IDEMPOTENCY_KEY)),
        (2.0, Some("more xylophonic work"), None, None),
        (4.0, None, Some("quagmirebug again"), None),
    ] {
        let data = app
            .ok(
                &rue,
                ops::CHECK_IN,
                json!({ "input": { "cohortId": circle, "goalId": goal, "value": value, "note": note, "blockers": blockers,
                    "confidence": 4, "idempotencyKey": key } }),
            )
            .await;
        assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
    }
    app.ok(
        &tom,
        ops::CHECK_IN,
        json!({ "input": { "cohortId": circle, "goalId": goal, "value": 5.0, "note": "tom's note" } }),
    )
    .await;

    // A weekly meeting in UTC that began half an hour ago: rue attends it and answers next week's.
    let now = Utc::now();
    // Not before today's midnight: a plan's first meeting is on the day it is set.
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let start = (now - Duration::minutes(30)).max(midnight);
    let cadence = json!({ "frequency": "WEEKLY", "weekday": start.weekday().number_from_monday(),
        "localTime": format!("{:02}:{:02}", start.hour(), start.minute()), "timeZone": "UTC", "durationMinutes": 120 });
    let data = app
        .ok(
            &ada,
            SET_MEETING_PLAN,
            json!({ "input": { "cohortId": circle, "cadence": cadence,
            "place": { "format": "ONLINE", "onlineUrl": "https://meet.example/rust" } } }),
        )
        .await;
    assert_eq!(data["setMeetingPlan"]["userErrors"], json!([]), "{data:#}");
    let (from, to) = (rfc3339(now - Duration::hours(1)), rfc3339(now + Duration::days(8)));
    let data = app.ok(&ada, MEETINGS, json!({ "id": circle, "from": from, "to": to })).await;
    let meetings: Vec<String> = data["cohort"]["meetings"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(meetings.len(), 2, "{data:#}");
    let data = app.ok(&rue, RSVP, json!({ "input": { "meetingId": meetings[1], "answer": "GOING" } })).await;
    assert_eq!(data["rsvp"]["rsvp"]["answer"], "GOING", "{data:#}");
    let members = app
        .ok(
            &ada,
            r#"query($id: ID!) { cohort(id: $id) { members(first: 10) { nodes { id person { externalId } } } } }"#,
            json!({ "id": circle }),
        )
        .await;
    let rue_membership = members["cohort"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["person"]["externalId"] == EXTERNAL_ID)
        .map(id_of)
        .expect("rue's membership");
    let data = app
        .ok(&ada, ATTENDANCE, json!({ "input": { "meetingId": meetings[0], "entries": [{ "membershipId": rue_membership, "mark": "PRESENT" }] } }))
        .await;
    assert_eq!(data["recordAttendance"]["userErrors"], json!([]), "{data:#}");
    let feed = app.ok(&rue, FEED_URL, json!({ "id": rue_membership })).await;
    let feed = feed["node"]["calendarFeedUrl"].as_str().expect("rue's calendar feed").to_owned();

    // A cohort rue led and disbanded with her retrospective.
    let roster = json!([rue_entry("LEADER")]);
    let (ended, goal_b) = cohort_with(app, "Rust reading group", roster, &[EXTERNAL_ID]).await;
    app.ok(
        &rue,
        ops::CHECK_IN,
        json!({ "input": { "cohortId": ended, "goalId": goal_b, "value": 7.0, "note": "xylophonic reading" } }),
    )
    .await;
    let data = app
        .ok(
            &rue,
            ops::DISBAND,
            json!({ "input": { "cohortId": ended, "reason": "GOALS_MET", "retrospective": RETROSPECTIVE } }),
        )
        .await;
    assert_eq!(data["disbandCohort"]["cohort"]["stage"], "DISBANDED", "{data:#}");

    // A cohort she asked to join.
    let (asked, _) = cohort_with(app, "Async Rust circle", json!([]), &[]).await;
    let data = app.ok(&rue, REQUEST, json!({ "input": { "cohortId": asked, "message": MESSAGE } })).await;
    assert_eq!(data["requestToJoin"]["joinRequest"]["status"], "PENDING", "{data:#}");

    // Ten days of sweeps: daily check-in nudges, one unanswered is "gone quiet", and ada's digest
    // names who went quiet. With mail configured they wait, PENDING, for the mail worker (which
    // does not run here).
    let digest_day = (now + Duration::days(4)).weekday().number_from_monday();
    let data = app
        .ok(
            &ada,
            POLICY,
            json!({ "input": { "cohortId": circle, "checkInEveryDays": 1, "maxUnanswered": 1,
            "leaderDigest": true, "digestWeekday": digest_day } }),
        )
        .await;
    assert_eq!(data["setNudgePolicy"]["userErrors"], json!([]), "{data:#}");
    let first = (now + Duration::days(1)).date_naive();
    for day in 0..10 {
        for hour in [8, 14] {
            let at = (first + Duration::days(day)).and_hms_opt(hour, 30, 0).unwrap().and_utc();
            sweeper::sweep_cohorts_with(&app.store, at, Delivery::EventsAndMail).await.unwrap();
        }
    }
    app.settle().await;
    afterclass::webhooks::fan_out(&app.store, Utc::now()).await.unwrap();

    let data = app.ok(&rue, "{ viewer { person { id } } }", json!({})).await;
    let rue_id = data["viewer"]["person"]["id"].as_str().unwrap().to_owned();
    History { circle, ended, asked, rue: rue_id, rue_membership, feed, from, to }
}

/// Runs one SQL statement and gives its rows' first column as text.
async fn sql_texts(app: &TestApp, sql: &str) -> Vec<String> {
    let conn = app.store.reader();
    let rows = conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned())).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap_or_default()).collect()
}

async fn sql_count(app: &TestApp, sql: &str) -> i64 {
    let conn = app.store.reader();
    let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned())).await.unwrap();
    row.map(|r| r.try_get_by_index::<i64>(0).unwrap()).unwrap_or(0)
}

/// Every column of every table, as the database lists them (SQLite: the full-text index and its
/// shadow tables too).
async fn columns(app: &TestApp) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match app.store.reader().get_database_backend() {
        DatabaseBackend::Sqlite => {
            for table in app.tables().await {
                for column in sql_texts(app, &format!("SELECT name FROM pragma_table_info('{table}')")).await {
                    out.push((table.clone(), column));
                }
            }
        }
        _ => {
            let tables = app.tables().await;
            let conn = app.store.reader();
            let rows = conn
                .query_all_raw(Statement::from_string(
                    conn.get_database_backend(),
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
                ))
                .await
                .unwrap();
            for r in rows {
                let table: String = r.try_get_by_index(0).unwrap();
                if tables.contains(&table) {
                    out.push((table, r.try_get_by_index(1).unwrap()));
                }
            }
        }
    }
    assert!(out.len() > 100, "every column of every table: {}", out.len());
    out
}

/// Where any needle occurs, as `table.column: needle`, in any column of any table read as text.
async fn search_everywhere(app: &TestApp, needles: &[&str]) -> Vec<String> {
    let sqlite = app.store.reader().get_database_backend() == DatabaseBackend::Sqlite;
    let mut hits = Vec::new();
    for (table, column) in columns(app).await {
        let text = if sqlite { format!("CAST(\"{column}\" AS TEXT)") } else { format!("\"{column}\"::text") };
        let like = if sqlite { "LIKE" } else { "ILIKE" };
        let sums: Vec<String> = needles
            .iter()
            .map(|n| format!("COALESCE(SUM(CASE WHEN {text} {like} '%{n}%' THEN 1 ELSE 0 END), 0)"))
            .collect();
        let conn = app.store.reader();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT {} FROM \"{table}\"", sums.join(", ")),
            ))
            .await
            .unwrap_or_else(|e| panic!("searching {table}.{column}: {e}"))
            .unwrap();
        for (i, needle) in needles.iter().enumerate() {
            let n: i64 = row.try_get_by_index(i).unwrap();
            if n > 0 {
                hits.push(format!("{table}.{column}: {needle} ({n})"));
            }
        }
    }
    hits
}

/// A cohort's figures as its leader reads them as of one moment: progress, health, evaluation,
/// members' standing and participation, check-ins' values, meetings' answers and marks, outside
/// interest and the event count.
async fn figures(app: &TestApp, h: &History, cohort: &str, at: &str) -> Value {
    let query = r#"query($id: ID!, $at: DateTime!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) {
        stage endedAt outsideInterest
        goals { id status progress(asOf: $at) { current target fraction expectedFraction pace } }
        health(asOf: $at) { status activeMemberRatio checkInsPerMemberPerWeek trend attendanceRate daysSinceLastActivity reasons }
        evaluation(asOf: $at) { recommendation summary results { holds observed threshold explanation } }
        members(first: 50) { totalCount nodes { id role status joinedAt participation(asOf: $at) } }
        checkIns(first: 100) { totalCount nodes { id value confidence occurredAt } }
        meetings(from: $from, to: $to) { id status attendanceRate rsvps { answer } attendance { mark } }
        joinRequests(first: 50) { totalCount nodes { id status } }
        outcome { reason } } }"#;
    let vars = json!({ "id": cohort, "at": at, "from": h.from, "to": h.to });
    app.ok(&instructor("ada", TENANT), query, vars).await
}

async fn export_of(app: &TestApp, token: &str, external_id: &str) -> Value {
    app.gql(token, EXPORT, json!({ "id": external_id })).await
}

fn document(body: &Value) -> Value {
    let text = body["data"]["personExport"]["document"].as_str().unwrap_or_else(|| panic!("a document: {body:#}"));
    afterclass_tests::serde_json::from_str(text).expect("the document is JSON")
}

async fn the_export_holds_every_kind_of_record_and_only_the_integration_reads_it(app: TestApp) {
    let h = rich_history(&app).await;
    let lms = integration(TENANT);
    let body = export_of(&app, &lms, EXTERNAL_ID).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    let export = &body["data"]["personExport"];
    assert_eq!(export["person"]["externalId"], EXTERNAL_ID);
    assert_eq!(export["person"]["id"], h.rue.as_str());
    assert!(export["generatedAt"].is_string(), "{export:#}");
    let doc = document(&body);
    println!("rue's export:\n{doc:#}");
    assert_eq!(
        doc["person"],
        json!({ "id": h.rue, "externalId": EXTERNAL_ID, "displayName": NAME, "email": EMAIL,
        "knownSince": doc["person"]["knownSince"] })
    );
    let list = |key: &str| doc[key].as_array().unwrap_or_else(|| panic!("{key} in the document")).clone();

    let memberships = list("memberships");
    let mut cohorts: Vec<(String, String, String)> = memberships
        .iter()
        .map(|m| {
            (
                m["cohort"]["name"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    cohorts.sort();
    assert_eq!(
        cohorts,
        [
            ("Async Rust circle".into(), "MEMBER".into(), "REQUESTED".into()),
            ("Rust practice circle".into(), "MEMBER".into(), "ACTIVE".into()),
            ("Rust reading group".into(), "LEADER".into(), "ACTIVE".into()),
        ]
    );
    let circle = memberships.iter().find(|m| m["id"] == h.rue_membership.as_str()).expect("the circle's membership");
    assert_eq!(circle["nudgesEnabled"], true);
    assert!(circle["joinedAt"].is_string() && circle["invitedAt"].is_string(), "{circle:#}");

    let check_ins = list("checkIns");
    assert_eq!(check_ins.len(), 4, "{check_ins:?}");
    let first = &check_ins[0];
    assert_eq!(
        (first["value"].as_f64(), first["note"].as_str(), first["blockers"].as_str()),
        (Some(3.0), Some(NOTE), Some(BLOCKERS))
    );
    assert_eq!((first["confidence"].as_i64(), first["goal"]["title"].as_str()), (Some(4), Some("Exercises")));
    assert!(first["occurredAt"].is_string());
    let rsvps = list("rsvps");
    assert_eq!((rsvps.len(), rsvps[0]["answer"].as_str()), (1, Some("GOING")), "{rsvps:?}");
    let marks = list("attendance");
    assert_eq!((marks.len(), marks[0]["mark"].as_str()), (1, Some("PRESENT")), "{marks:?}");
    let requests = list("joinRequests");
    assert_eq!(
        (requests.len(), requests[0]["message"].as_str(), requests[0]["status"].as_str()),
        (1, Some(MESSAGE), Some("PENDING"))
    );
    assert_eq!(requests[0]["cohort"]["id"], h.asked.as_str());
    let retros = list("retrospectives");
    assert_eq!((retros.len(), retros[0]["retrospective"].as_str()), (1, Some(RETROSPECTIVE)), "{retros:?}");
    assert_eq!(retros[0]["cohort"]["id"], h.ended.as_str());
    let nudges = list("nudges");
    assert!(nudges.iter().any(|n| n["kind"] == "CHECK_IN_DUE"), "{nudges:?}");
    assert!(nudges.iter().any(|n| n["kind"] == "MEETING_SOON"), "{nudges:?}");
    assert!(nudges.iter().all(|n| n["subject"].as_str().is_some_and(|s| !s.is_empty())));
    assert_eq!(list("courseRosters").len(), 1, "on the course's roster once");
    let events = list("events");
    let kinds: std::collections::BTreeSet<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in ["MEMBER_JOINED", "CHECK_IN_LOGGED", "JOIN_REQUESTED", "NUDGE_DUE", "COHORT_DISBANDED"] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    assert!(events.iter().any(|e| e["byThePerson"] == true && e["kind"] == "COHORT_DISBANDED"), "she disbanded it");
    assert!(events.iter().all(|e| e["payload"]["type"] == e["kind"]), "each event's own document");

    // The same data, the same document; the statements do not grow with the history.
    let statements = || app.store.statements();
    let before = statements();
    let again = export_of(&app, &lms, EXTERNAL_ID).await;
    let cost = statements() - before;
    assert_eq!(again["data"]["personExport"]["document"], body["data"]["personExport"]["document"], "deterministic");
    let rue = trainee(EXTERNAL_ID, TENANT);
    for k in 0..12 {
        app.ok(
            &rue,
            ops::CHECK_IN,
            json!({ "input": { "cohortId": h.circle, "value": 1.0, "note": format!("more {k}") } }),
        )
        .await;
    }
    let before = statements();
    let longer = export_of(&app, &lms, EXTERNAL_ID).await;
    assert_eq!(statements() - before, cost, "statements per export, for 4 and 16 check-ins");
    assert_eq!(document(&longer)["checkIns"].as_array().map(Vec::len), Some(16));
    println!("an export costs {cost} statements, with 4 check-ins and with 16");

    // Unknown: null. Another tenant's integration knows no such person, and erases no one.
    let body = export_of(&app, &lms, "nobody-here").await;
    assert!(body.get("errors").is_none() && body["data"]["personExport"].is_null(), "{body:#}");
    let other = integration(OTHER_TENANT);
    let body = export_of(&app, &other, EXTERNAL_ID).await;
    assert!(body.get("errors").is_none() && body["data"]["personExport"].is_null(), "{body:#}");
    let data = app.ok(&other, ERASE, json!({ "input": { "externalId": EXTERNAL_ID } })).await;
    assert_eq!(data["erasePerson"], json!({ "erased": false, "userErrors": [] }));
    // Refused to everyone but the integration, rue herself included; bad input is a clear error.
    let before_refusals = app.counts().await;
    for token in [instructor("ada", TENANT), trainee(EXTERNAL_ID, TENANT), trainee("tom", TENANT)] {
        let body = export_of(&app, &token, EXTERNAL_ID).await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body:#}");
        assert!(body["data"]["personExport"].is_null(), "{body:#}");
        let body = app.gql(&token, ERASE, json!({ "input": { "externalId": EXTERNAL_ID } })).await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body:#}");
    }
    for bad in ["", "   ", &"x".repeat(201)] {
        let body = export_of(&app, &lms, bad).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body:#}");
        let data = app.ok(&lms, ERASE, json!({ "input": { "externalId": bad } })).await;
        assert_eq!(data["erasePerson"]["erased"], false);
        assert_eq!(user_error_codes(&data["erasePerson"]), ["INVALID_INPUT"], "{data:#}");
    }
    assert_eq!(app.counts().await, before_refusals, "refusals and bad input wrote nothing");
    // rue is still all there.
    let body = export_of(&app, &lms, EXTERNAL_ID).await;
    assert_eq!(document(&body)["person"]["displayName"], NAME);
    app.stop().await;
}

async fn erasure_leaves_no_trace_and_changes_no_cohort_figure(app: TestApp) {
    let h = rich_history(&app).await;
    let lms = integration(TENANT);
    let at = rfc3339(Utc::now());
    let cohorts = [h.circle.clone(), h.ended.clone(), h.asked.clone()];
    let mut before_figures = Vec::new();
    for c in &cohorts {
        before_figures.push(figures(&app, &h, c, &at).await);
    }
    // Every needle is found before: the search can fail.
    app.settle().await;
    let found = search_everywhere(&app, &NEEDLES).await;
    for needle in NEEDLES {
        assert!(found.iter().any(|hit| hit.contains(&format!(": {needle} ("))), "{needle} stored before: {found:#?}");
    }
    let digest =
        sql_count(&app, &format!("SELECT COUNT(*) FROM nudges WHERE kind = 'LEADER_DIGEST' AND body LIKE '%{NAME}%'"))
            .await;
    assert!(digest > 0, "ada's digest names rue as gone quiet: {found:#?}");
    let pending = format!(
        "SELECT COUNT(*) FROM nudges n JOIN memberships m ON m.id = n.membership_id JOIN persons p ON p.id = m.person_id \
         WHERE n.status = 'PENDING' AND p.id = {}",
        afterclass::ids::decode(afterclass::ids::Kind::Person, &h.rue).unwrap()
    );
    assert!(sql_count(&app, &pending).await > 0, "rue's nudges wait for the mail worker");
    let deliveries = app.count("webhook_deliveries").await;
    assert!(deliveries > 0, "deliveries queued");
    println!("before erasure, rue's strings are stored in: {found:#?}");
    let feed_status = |path: String| {
        let client = app.client().clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(feed_status(h.feed.clone()).await, 200);
    let counts = app.counts().await;

    let started = std::time::Instant::now();
    let data = app.ok(&lms, ERASE, json!({ "input": { "externalId": EXTERNAL_ID } })).await;
    let took = started.elapsed();
    assert_eq!(data["erasePerson"], json!({ "erased": true, "userErrors": [] }));
    println!("erasing rue took {took:?}");
    // Again, or unknown: nothing to erase, nothing written.
    let after_counts = app.counts().await;
    for external_id in [EXTERNAL_ID, "nobody-here"] {
        let data = app.ok(&lms, ERASE, json!({ "input": { "externalId": external_id } })).await;
        assert_eq!(data["erasePerson"], json!({ "erased": false, "userErrors": [] }));
    }
    assert_eq!(app.counts().await, after_counts, "erasing again writes nothing");

    // No row came or went, but rue's calendar feeds (revoked: a row per membership).
    let mut expected = counts.clone();
    let memberships = 3;
    let feeds = expected.entry("calendar_feeds".into()).or_default();
    assert!(*feeds <= memberships);
    *feeds = memberships;
    // SQLite's own bookkeeping of autoincrement keys gains the feeds' table.
    let mut after_tables = after_counts.clone();
    for map in [&mut expected, &mut after_tables] {
        map.remove("sqlite_sequence");
    }
    assert_eq!(after_tables, expected, "only calendar feeds' rows were added");
    for table in [
        "check_ins",
        "check_in_tallies",
        "check_in_totals",
        "attendance",
        "rsvps",
        "nudges",
        "events",
        "webhook_deliveries",
    ] {
        assert_eq!(after_counts[table], counts[table], "{table}");
    }

    // Not one of her strings in any column of any table.
    app.settle().await;
    let left = search_everywhere(&app, &NEEDLES).await;
    assert!(left.is_empty(), "rue's strings survived her erasure: {left:#?}");
    let erased_name = sql_count(
        &app,
        "SELECT COUNT(*) FROM persons WHERE display_name = 'Erased member' AND email IS NULL AND erased_at IS NOT NULL",
    )
    .await;
    assert_eq!(erased_name, 1);
    assert_eq!(sql_count(&app, &pending).await, 0, "nothing is mailed to an erased member");
    let digest =
        sql_count(&app, "SELECT COUNT(*) FROM nudges WHERE kind = 'LEADER_DIGEST' AND body LIKE '%Erased member%'")
            .await;
    assert!(digest > 0, "ada's digest names an erased member");

    // Every cohort's figures as they were.
    for (c, before) in cohorts.iter().zip(&before_figures) {
        let after = figures(&app, &h, c, &at).await;
        assert_eq!(&after, before, "the figures of {c}");
    }
    // The member is still counted, anonymously; ada sees who she was no more.
    let members = app
        .ok(&instructor("ada", TENANT), r#"query($id: ID!) { cohort(id: $id) { members(first: 10) { nodes { id person { id externalId displayName } } } } }"#, json!({ "id": h.circle }))
        .await;
    let erased = members["cohort"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == h.rue_membership.as_str())
        .cloned()
        .expect("the membership stays");
    assert_eq!(erased["person"]["displayName"], "Erased member");
    assert_eq!(erased["person"]["id"], h.rue.as_str());
    assert!(
        erased["person"]["externalId"].as_str().is_some_and(|e| e.starts_with("erased-") && !e.contains("rue")),
        "{erased:#}"
    );

    // The export finds no one; her calendar feed is gone; her old token is a new, empty person.
    let body = export_of(&app, &lms, EXTERNAL_ID).await;
    assert!(body["data"]["personExport"].is_null(), "{body:#}");
    assert_eq!(feed_status(h.feed.clone()).await, 404);
    let persons = app.count("persons").await;
    let me = app.ok(&trainee(EXTERNAL_ID, TENANT), ME, json!({})).await;
    assert_eq!(me["viewer"]["person"]["externalId"], EXTERNAL_ID);
    assert_eq!(me["viewer"]["memberships"]["totalCount"], 0, "{me:#}");
    assert_eq!(app.count("persons").await, persons + 1, "a new person");
    let body = export_of(&app, &lms, EXTERNAL_ID).await;
    let doc = document(&body);
    assert_ne!(doc["person"]["id"], h.rue.as_str());
    for key in ["memberships", "checkIns", "rsvps", "attendance", "joinRequests", "retrospectives", "nudges", "events"]
    {
        assert_eq!(doc[key], json!([]), "{key}");
    }
    app.stop().await;
}

async fn retention_erases_people_whose_cohorts_all_ended_long_ago(app: TestApp) {
    let ada = instructor("ada", TENANT);
    // "gone" is only in the cohort that ends; "kept" is in it and in a live one.
    let ending = active_cohort(&app, TENANT, &["gone", "kept"]).await;
    let live = active_cohort(&app, TENANT, &["kept", "stay"]).await;
    for (who, cohort) in [(0, &ending), (1, &ending), (0, &live)] {
        let data = app
            .ok(&cohort.trainees[who], ops::CHECK_IN, json!({ "input": { "cohortId": cohort.id, "goalId": cohort.goal_id, "value": 2.0, "note": "gonewords note" } }))
            .await;
        assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
    }
    let data = app.ok(&ada, ops::DISBAND, json!({ "input": { "cohortId": ending.id, "reason": "GOALS_MET" } })).await;
    assert_eq!(data["disbandCohort"]["cohort"]["stage"], "DISBANDED", "{data:#}");
    let progress = r#"query($id: ID!, $at: DateTime!) { cohort(id: $id) { endedAt members { totalCount nodes { id status } }
        goals { progress(asOf: $at) { current fraction } } checkIns(first: 50) { totalCount nodes { value } } } }"#;
    let at = rfc3339(Utc::now());
    let figures_before = app.ok(&ada, progress, json!({ "id": ending.id, "at": at })).await;
    let names = || sql_texts(&app, "SELECT display_name FROM persons ORDER BY id");
    let before = names().await;
    assert!(before.contains(&"Trainee gone".to_owned()), "{before:?}");

    let retention = Retention::days(30).unwrap();
    let options = Options { delivery: Delivery::EventsOnly, retention: Some(retention) };
    let now = Utc::now();
    let later = now + Duration::days(31);
    // A day short of the retention: no one.
    let report = sweeper::sweep_cohorts_with(&app.store, now + Duration::days(29), options).await.unwrap();
    assert_eq!(report.erased, 0);
    assert_eq!(names().await, before);
    // Without a retention, never.
    let report = sweeper::sweep_cohorts_with(&app.store, later, Delivery::EventsOnly).await.unwrap();
    assert_eq!(report.erased, 0);
    assert_eq!(names().await, before);

    // Two sweeps at once (on PostgreSQL two pools, as two replicas) a day past it: gone, once.
    let other = afterclass::store::Store::connect(&app.db.url, 4).await.unwrap();
    let (a, b) = tokio::join!(
        sweeper::sweep_cohorts_with(&app.store, later, options),
        sweeper::sweep_cohorts_with(&other, later, options)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.erased + b.erased, 1, "gone, erased once: {a:?} {b:?}");
    other.close().await;
    let after = names().await;
    assert!(!after.iter().any(|n| n == "Trainee gone"), "{after:?}");
    for kept in ["Trainee kept", "Trainee stay"] {
        assert!(after.iter().any(|n| n == kept), "{kept} is still in a live cohort: {after:?}");
    }
    assert_eq!(after.iter().filter(|n| *n == "Erased member").count(), 1, "{after:?}");
    let notes = sql_count(&app, "SELECT COUNT(*) FROM check_ins WHERE note LIKE '%gonewords%'").await;
    assert_eq!(notes, 2, "gone's note went; kept's two stay");
    let figures_after = app.ok(&ada, progress, json!({ "id": ending.id, "at": at })).await;
    assert_eq!(figures_after, figures_before, "the ended cohort's figures");
    // Nothing more to do the next time.
    let again = sweeper::sweep_cohorts_with(&app.store, later + Duration::hours(1), options).await.unwrap();
    assert_eq!(again.erased, 0);
    app.stop().await;
}
