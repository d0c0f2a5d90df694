//! Nudges through the real server and the real sweeper: the policy (defaults, a leader's change,
//! refused values that write nothing), each member's own choice, and a simulated month of a
//! cohort on a controllable clock — who was nudged when, in the cohort's time zone across the
//! end of daylight-saving time, the member who went quiet after three unanswered nudges, the
//! leader's digests, nothing at night, nothing twice — and two sweepers on one PostgreSQL
//! recording each nudge once.

use afterclass::ids::{self, Kind};
use afterclass::sweeper;
use afterclass_tests::{ActiveCohort, Backend, TestApp, active_cohort, on_both_stores, ops, trainee, user_error_codes};
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Berlin;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

const POLICY: &str = r#"query($id: ID!) { cohort(id: $id) { nudgePolicy {
    checkInEveryDays meetingReminderHours leaderDigest maxUnanswered digestWeekday } } }"#;
const SET_POLICY: &str = r#"mutation($input: SetNudgePolicyInput!) { setNudgePolicy(input: $input) {
    cohort { id nudgePolicy { checkInEveryDays meetingReminderHours leaderDigest maxUnanswered digestWeekday } }
    userErrors { field message code } } }"#;
const SET_ENABLED: &str = r#"mutation($input: SetNudgesEnabledInput!) { setNudgesEnabled(input: $input) {
    membership { id nudgesEnabled } userErrors { field message code } } }"#;
const SET_PLAN: &str = r#"mutation($input: SetMeetingPlanInput!) { setMeetingPlan(input: $input) {
    cohort { id } userErrors { field message code } } }"#;
const NUDGES: &str = r#"query($id: ID!) { cohort(id: $id) { nudges(first: 100) { totalCount
    nodes { id kind status subject body dueAt membership { person { externalId } } } } } }"#;

async fn exec(app: &TestApp, sql: &str) {
    let conn = app.store.writer();
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned())).await.unwrap();
}

async fn policy(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    app.ok(token, POLICY, json!({ "id": id })).await["cohort"]["nudgePolicy"].clone()
}

/// A weekly Tuesday 18:00 (Berlin) meeting plan.
async fn weekly_plan(app: &TestApp, c: &ActiveCohort) {
    let data = app
        .ok(
            &c.leader,
            SET_PLAN,
            json!({ "input": { "cohortId": c.id, "cadence": { "frequency": "WEEKLY", "weekday": 2, "localTime": "18:00",
                "timeZone": "Europe/Berlin", "durationMinutes": 90 } } }),
        )
        .await;
    assert_eq!(data["setMeetingPlan"]["userErrors"], json!([]), "{data:#}");
}

on_both_stores!(the_policy_follows_the_meeting_plan_until_a_leader_changes_it);

async fn the_policy_follows_the_meeting_plan_until_a_leader_changes_it(app: TestApp) {
    {
        let c = active_cohort(&app, "t1", &["theo"]).await;

        // A short-term cohort without a plan: weekly check-ins, reminders two days ahead.
        assert_eq!(
            policy(&app, &c.leader, &c.id).await,
            json!({ "checkInEveryDays": 7, "meetingReminderHours": 48, "leaderDigest": true, "maxUnanswered": 3, "digestWeekday": 1 })
        );
        // Members read it; a leader changes it, a null turns one kind off.
        let data = app
            .ok(
                &c.leader,
                SET_POLICY,
                json!({ "input": { "cohortId": c.id, "checkInEveryDays": 10, "meetingReminderHours": null, "digestWeekday": 5 } }),
            )
            .await;
        assert_eq!(data["setNudgePolicy"]["userErrors"], json!([]), "{data:#}");
        assert_eq!(
            policy(&app, &c.trainees[0], &c.id).await,
            json!({ "checkInEveryDays": 10, "meetingReminderHours": null, "leaderDigest": true, "maxUnanswered": 3, "digestWeekday": 5 })
        );
        // Values out of bounds are refused with the field at fault, and write nothing.
        for (field, value, name) in [
            ("checkInEveryDays", json!(0), "checkInEveryDays"),
            ("checkInEveryDays", json!(91), "checkInEveryDays"),
            ("meetingReminderHours", json!(-1), "meetingReminderHours"),
            ("maxUnanswered", json!(11), "maxUnanswered"),
            ("digestWeekday", json!(8), "digestWeekday"),
        ] {
            let before = app.counts().await;
            let mut input = json!({ "cohortId": c.id });
            input[field] = value.clone();
            let data = app.ok(&c.leader, SET_POLICY, json!({ "input": input })).await;
            let errors = &data["setNudgePolicy"]["userErrors"];
            assert_eq!(
                errors[0]["field"].as_array().and_then(|p| p.last()),
                Some(&json!(name)),
                "{field}={value}: {data:#}"
            );
            assert_eq!(user_error_codes(&data["setNudgePolicy"]), ["INVALID_INPUT"], "{field}={value}");
            assert_eq!(before, app.counts().await, "{field}={value}: nothing written");
        }
        // A trainee may not; each member turns their own nudges off.
        let data =
            app.gql(&c.trainees[0], SET_POLICY, json!({ "input": { "cohortId": c.id, "checkInEveryDays": 3 } })).await;
        assert_eq!(afterclass_tests::error_codes(&data), ["FORBIDDEN"], "{data:#}");
        let data =
            app.ok(&c.trainees[0], SET_ENABLED, json!({ "input": { "cohortId": c.id, "enabled": false } })).await;
        assert_eq!(data["setNudgesEnabled"]["membership"]["nudgesEnabled"], false, "{data:#}");
        // With a weekly plan, the rhythm follows it (here: already changed to 10 by the leader).
        weekly_plan(&app, &c).await;
        assert_eq!(policy(&app, &c.leader, &c.id).await["checkInEveryDays"], 10);
    }
}

/// A nudge as stored, for the timeline.
#[derive(Debug, Clone)]
struct Sent {
    kind: String,
    who: String,
    due_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    body: String,
}

async fn sent(app: &TestApp) -> Vec<Sent> {
    let conn = app.store.reader();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT n.kind, p.external_id, n.due_at, n.created_at, n.body FROM nudges n \
             JOIN memberships m ON m.id = n.membership_id JOIN persons p ON p.id = m.person_id ORDER BY n.id"
                .to_owned(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| Sent {
            kind: r.try_get_by_index(0).unwrap(),
            who: r.try_get_by_index(1).unwrap(),
            due_at: afterclass::store::from_micros(r.try_get_by_index(2).unwrap()),
            recorded_at: afterclass::store::from_micros(r.try_get_by_index(3).unwrap()),
            body: r.try_get_by_index(4).unwrap(),
        })
        .collect()
}

/// How many `NUDGE_DUE` events the log holds.
async fn nudge_events(app: &TestApp) -> i64 {
    let conn = app.store.reader();
    let sql = "SELECT COUNT(*) FROM events WHERE kind = 'NUDGE_DUE'".to_owned();
    let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Berlin).format("%a %d %b %H:%M %Z").to_string()
}

/// Forty simulated days of a weekly cohort in Berlin, swept every hour, across the end of
/// daylight-saving time (25 October 2026): theo checks in every five days, uma never does, vic
/// turns nudges off; ada leads.
async fn a_simulated_month_on(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let c = active_cohort(&app, "t1", &["theo", "uma", "vic"]).await;
    weekly_plan(&app, &c).await;
    let data = app.ok(&c.trainees[2], SET_ENABLED, json!({ "input": { "cohortId": c.id, "enabled": false } })).await;
    assert_eq!(data["setNudgesEnabled"]["userErrors"], json!([]));

    // Move the cohort's whole life back to 20 October, 09:00 Berlin (the clock is the sweeper's).
    let start = Berlin.with_ymd_and_hms(2026, 10, 20, 9, 0, 0).unwrap().with_timezone(&Utc);
    let shift = (Utc::now() - start).num_microseconds().unwrap() + 60_000_000;
    let id = ids::decode(Kind::Cohort, &c.id).unwrap();
    exec(&app, &format!("UPDATE cohorts SET created_at = created_at - {shift}, activated_at = activated_at - {shift} WHERE id = {id}")).await;
    exec(
        &app,
        &format!(
            "UPDATE memberships SET invited_at = invited_at - {shift}, joined_at = joined_at - {shift}, \
        conduct_accepted_at = conduct_accepted_at - {shift} WHERE cohort_id = {id}"
        ),
    )
    .await;
    exec(&app, &format!("UPDATE goals SET created_at = created_at - {shift} WHERE cohort_id = {id}")).await;
    exec(&app, &format!("UPDATE meeting_plans SET starts_on = '2026-10-20' WHERE cohort_id = {id}")).await;
    // Nothing was found due before the shift: the sweeper has not run.
    assert_eq!(app.count("nudges").await, 0);

    let days = 40;
    let mut at = start;
    let end = start + Duration::days(days);
    let mut theo_next = start + Duration::days(5);
    while at <= end {
        if at >= theo_next {
            let data = app
                .ok(
                    &c.trainees[0],
                    ops::CHECK_IN,
                    json!({ "input": { "cohortId": c.id, "goalId": c.goal_id, "value": 2.0,
                    "occurredAt": at.to_rfc3339() } }),
                )
                .await;
            assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
            theo_next = at + Duration::days(5);
        }
        sweeper::sweep_cohorts(&app.store, at).await.unwrap();
        at += Duration::hours(1);
    }
    // The same moment swept again records nothing more.
    let before = app.count("nudges").await;
    sweeper::sweep_cohorts(&app.store, end).await.unwrap();
    assert_eq!(app.count("nudges").await, before, "nothing twice");

    let nudges = sent(&app).await;
    let mut timeline = String::new();
    for n in &nudges {
        timeline.push_str(&format!(
            "{:<14} {:<5} due {}  recorded {}\n",
            n.kind,
            n.who,
            local(n.due_at),
            local(n.recorded_at)
        ));
    }
    println!("{} nudges in {days} simulated days:\n{timeline}", nudges.len());
    let of =
        |kind: &str, who: &str| nudges.iter().filter(|n| n.kind == kind && n.who == who).cloned().collect::<Vec<_>>();

    // Nothing at night: neither due nor recorded between 21:00 and 08:00 in Berlin.
    for n in &nudges {
        for t in [n.due_at, n.recorded_at] {
            let hour = t.with_timezone(&Berlin).hour();
            assert!((8..21).contains(&hour), "at night: {n:?}");
        }
    }
    // uma never checks in: nudged after 7, 14 and 21 days, then gone quiet.
    // Her base is when she joined (a minute before the simulated start); each nudge comes a whole
    // number of weeks later at the same wall-clock time, the first after the clocks went back.
    let uma = of("CHECK_IN_DUE", "uma");
    assert_eq!(uma.len(), 3, "three unanswered nudges, then none:\n{timeline}");
    let conn = app.store.reader();
    let joined = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!(
                "SELECT m.joined_at FROM memberships m JOIN persons p ON p.id = m.person_id \
                     WHERE m.cohort_id = {id} AND p.external_id = 'uma'"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    let joined = afterclass::store::from_micros(joined.try_get_by_index::<i64>(0).unwrap()).with_timezone(&Berlin);
    for (k, n) in uma.iter().enumerate() {
        let due = n.due_at.with_timezone(&Berlin);
        assert_eq!(due.date_naive(), joined.date_naive() + Duration::days(7 * (k as i64 + 1)), "uma's nudge {}", k + 1);
        assert_eq!((due.hour(), due.minute()), (joined.hour(), joined.minute()), "uma's nudge {}", k + 1);
        assert!(n.body.contains("Rust practice circle"), "{}", n.body);
    }
    // theo checks in every five days: never nudged to; vic turned nudges off: nothing at all.
    assert!(of("CHECK_IN_DUE", "theo").is_empty(), "{timeline}");
    assert!(nudges.iter().all(|n| n.who != "vic"), "{timeline}");
    // Reminders 48 hours before each Tuesday 18:00 meeting (Sunday 18:00, also on the Sunday the
    // clocks went back), for theo, uma and ada, who leads. The first meeting, on the day the
    // cohort started, is announced at the first sweep that morning.
    let theo = of("MEETING_SOON", "theo");
    let sundays: Vec<(String, String)> = theo.iter().map(|n| (local(n.due_at), local(n.recorded_at))).collect();
    let on_time = |day: &str| (day.to_owned(), day.to_owned());
    assert_eq!(
        sundays,
        [
            ("Sun 18 Oct 18:00 CEST".to_owned(), "Tue 20 Oct 09:00 CEST".to_owned()),
            on_time("Sun 25 Oct 18:00 CET"),
            on_time("Sun 01 Nov 18:00 CET"),
            on_time("Sun 08 Nov 18:00 CET"),
            on_time("Sun 15 Nov 18:00 CET"),
            on_time("Sun 22 Nov 18:00 CET"),
        ],
        "{timeline}"
    );
    assert_eq!(of("MEETING_SOON", "uma").len(), theo.len());
    assert_eq!(of("MEETING_SOON", "ada").len(), theo.len());
    // ada's digest every Monday at 08:00 Berlin, saying who went quiet once uma had.
    let digests = of("LEADER_DIGEST", "ada");
    let mondays: Vec<String> = digests.iter().map(|n| local(n.due_at)).collect();
    assert_eq!(
        mondays,
        [
            "Mon 26 Oct 08:00 CET",
            "Mon 02 Nov 08:00 CET",
            "Mon 09 Nov 08:00 CET",
            "Mon 16 Nov 08:00 CET",
            "Mon 23 Nov 08:00 CET"
        ],
        "{timeline}"
    );
    let last = &digests.last().unwrap().body;
    println!("The last digest:\n{last}");
    assert!(last.contains("Health:") && last.contains("Exercises"), "{last}");
    assert!(last.contains("Gone quiet") && last.contains("Trainee uma"), "{last}");
    assert!(digests[0].body.contains("Nobody went quiet"), "{}", digests[0].body);
    // Health says so in words, in the digest and through the API.
    assert!(last.contains("2 members went quiet: no check-in after the last reminders."), "{last}");
    let health =
        app.ok(&c.leader, r#"query($id: ID!) { cohort(id: $id) { health { reasons } } }"#, json!({ "id": c.id })).await;
    let reasons = health["cohort"]["health"]["reasons"].to_string();
    assert!(reasons.contains("2 members went quiet"), "{reasons}");
    assert!(nudges.iter().all(|n| n.who != "theo" || n.kind != "LEADER_DIGEST"), "digests are for leaders");

    // Every nudge is in the log as a NUDGE_DUE event, and the leader reads them all.
    app.settle().await;
    let events = app.count("events").await;
    assert_eq!(nudge_events(&app).await, nudges.len() as i64, "one event per nudge (of {events})");
    let data = app.ok(&c.leader, NUDGES, json!({ "id": c.id })).await;
    assert_eq!(data["cohort"]["nudges"]["totalCount"], nudges.len());
    // A trainee reads only their own nudges, by node.
    let mine = data["cohort"]["nudges"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["membership"]["person"]["externalId"] == "uma")
        .unwrap()["id"]
        .clone();
    let node = r#"query($id: ID!) { node(id: $id) { ... on Nudge { kind subject } } }"#;
    let own = app.ok(&trainee("uma", "t1"), node, json!({ "id": mine })).await;
    assert!(own["node"]["subject"].is_string(), "{own:#}");
    let other = app.gql(&trainee("theo", "t1"), node, json!({ "id": mine })).await;
    assert_eq!(afterclass_tests::error_codes(&other), ["FORBIDDEN"], "{other:#}");
    let list = app.gql(&trainee("theo", "t1"), NUDGES, json!({ "id": c.id })).await;
    assert_eq!(afterclass_tests::error_codes(&list), ["FORBIDDEN"], "{list:#}");
}

#[tokio::test]
async fn a_simulated_month_of_nudges_sqlite() {
    a_simulated_month_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_simulated_month_of_nudges_postgres() {
    a_simulated_month_on(Backend::Postgres).await;
}

/// Two sweepers on one PostgreSQL at the same moments: each nudge is recorded (and its event
/// written) once.
#[tokio::test]
async fn two_sweepers_on_one_postgres_record_each_nudge_once() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    let other = afterclass::store::Store::connect(&app.db.url, 4).await.unwrap();
    let c = active_cohort(&app, "t1", &["theo", "uma"]).await;
    let id = ids::decode(Kind::Cohort, &c.id).unwrap();
    let start = Utc::now() - Duration::days(30);
    let shift = (Utc::now() - start).num_microseconds().unwrap();
    exec(&app, &format!("UPDATE cohorts SET created_at = created_at - {shift}, activated_at = activated_at - {shift} WHERE id = {id}")).await;
    exec(&app, &format!("UPDATE memberships SET joined_at = joined_at - {shift} WHERE cohort_id = {id}")).await;
    let mut at = start;
    while at < Utc::now() {
        let (a, b) = tokio::join!(sweeper::sweep_cohorts(&app.store, at), sweeper::sweep_cohorts(&other, at));
        a.unwrap();
        b.unwrap();
        at += Duration::hours(3);
    }
    let nudges = sent(&app).await;
    assert!(nudges.len() >= 6, "nudges were due: {nudges:?}");
    let mut keys: Vec<(String, String, DateTime<Utc>)> =
        nudges.iter().map(|n| (n.kind.clone(), n.who.clone(), n.due_at)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), nudges.len(), "each nudge once");
    app.settle().await;
    assert_eq!(nudge_events(&app).await, nudges.len() as i64, "one event per nudge");
    other.close().await;
}

/// Nudges reach the LMS as `NUDGE_DUE` webhooks, so it can send them through its own messaging.
/// 10:00 in Berlin eight days from now, when a new cohort's members are due their first check-in
/// nudge; nine days when the eighth is a Monday, the default digest's day, so that no leader
/// digest is due beside them whatever day the test runs.
fn check_ins_due() -> DateTime<Utc> {
    let mut day = (Utc::now() + Duration::days(8)).with_timezone(&Berlin).date_naive();
    if day.weekday() == chrono::Weekday::Mon {
        day = day.succ_opt().unwrap();
    }
    Berlin.with_ymd_and_hms(day.year(), day.month(), day.day(), 10, 0, 0).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn nudges_reach_a_webhook_receiver_as_nudge_due_events() {
    let db = afterclass_tests::fresh_database(Backend::Sqlite).await.unwrap();
    let app = TestApp::spawn_with(Backend::Sqlite, db, |url| {
        let mut cfg = afterclass_tests::config(url);
        cfg.webhooks.allow_private = true;
        cfg
    })
    .await;
    let receiver = afterclass_tests::receiver::Receiver::start().await;
    let lms = afterclass_tests::integration("t1");
    let created = app
        .ok(
            &lms,
            r#"mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
                endpoint { id } userErrors { message } } }"#,
            json!({ "input": { "url": receiver.url("/lms"), "kinds": ["NUDGE_DUE"] } }),
        )
        .await;
    assert_eq!(created["createWebhookEndpoint"]["userErrors"], json!([]), "{created:#}");
    let c = active_cohort(&app, "t1", &["theo"]).await;
    // Eight days on, in the morning: theo and ada are due a check-in nudge.
    let at = check_ins_due();
    sweeper::sweep_cohorts(&app.store, at).await.unwrap();
    app.settle().await;
    let deliverer = afterclass::webhooks::Deliverer::new(afterclass::config::WebhookSettings {
        allow_private: true,
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap();
    afterclass::webhooks::pass(&app.store, &deliverer, at).await.unwrap();
    let received = receiver.received();
    let payloads: Vec<serde_json::Value> =
        received.iter().map(|r| afterclass_tests::serde_json::from_str(&r.body).unwrap()).collect();
    assert_eq!(payloads.len(), 2, "{payloads:#?}");
    for p in &payloads {
        assert_eq!(p["type"], "NUDGE_DUE");
        assert_eq!(p["data"]["cohortId"], c.id.as_str());
        assert_eq!(p["data"]["nudgeKind"], "CHECK_IN_DUE");
        assert!(p["data"]["nudgeId"].is_string() && p["data"]["membershipId"].is_string(), "{p:#}");
        // No names, notes or emails in a payload; the words are read from the nudge by its ID.
        assert!(!p.to_string().contains("Trainee theo"), "{p:#}");
    }
    let nudge = r#"query($id: ID!) { node(id: $id) { ... on Nudge { kind subject body status } } }"#;
    let read = app.ok(&lms, nudge, json!({ "id": payloads[0]["data"]["nudgeId"] })).await;
    assert!(read["node"]["subject"].as_str().unwrap().contains("Rust practice circle"), "{read:#}");
    assert_eq!(read["node"]["status"], "SENT", "delivered as its event, with no mail configured");
}

/// Nothing goes to someone who left, nor to an ended cohort.
#[tokio::test]
async fn nothing_is_sent_to_people_who_left_or_to_ended_cohorts() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let c = active_cohort(&app, "t1", &["theo", "wes"]).await;
    let left = app.ok(&c.trainees[1], ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    assert_eq!(left["leaveCohort"]["membership"]["status"], "LEFT", "{left:#}");
    let ended = active_cohort(&app, "t2", &["uma"]).await;
    let data = app
        .ok(&ended.leader, ops::DISBAND, json!({ "input": { "cohortId": ended.id, "reason": "LEADERS_DECISION" } }))
        .await;
    assert_eq!(data["disbandCohort"]["cohort"]["stage"], "DISBANDED", "{data:#}");
    // Eight days on, in the morning: check-in nudges are due in the active cohort only.
    let at = check_ins_due();
    sweeper::sweep_cohorts(&app.store, at).await.unwrap();
    let nudges = sent(&app).await;
    let who: Vec<&str> = nudges.iter().map(|n| n.who.as_str()).collect();
    assert_eq!(who, ["ada", "theo"], "{nudges:?}");
}

/// The policy of a list of cohorts loads in batches: as many statements for six cohorts as for
/// two (one with a stored policy, the rest with their plan's defaults).
#[tokio::test]
async fn the_policies_of_a_list_cost_the_same_for_two_cohorts_as_for_six() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let list = "{ cohorts(first: 50) { nodes { id nudgePolicy { checkInEveryDays digestWeekday } } } }";
    let mut counts = Vec::new();
    let mut leader = String::new();
    for n in 1..=6 {
        let c = active_cohort(&app, "t1", &["theo"]).await;
        if n == 1 {
            weekly_plan(&app, &c).await;
            let data =
                app.ok(&c.leader, SET_POLICY, json!({ "input": { "cohortId": c.id, "checkInEveryDays": 4 } })).await;
            assert_eq!(data["setNudgePolicy"]["userErrors"], json!([]), "{data:#}");
        }
        if n == 3 {
            weekly_plan(&app, &c).await;
        }
        leader = c.leader.clone();
        if n == 2 || n == 6 {
            let before = app.store.statements();
            let data = app.ok(&leader, list, json!({})).await;
            counts.push(app.store.statements() - before);
            assert_eq!(data["cohorts"]["nodes"].as_array().unwrap().len(), n);
        }
    }
    let data = app.ok(&leader, list, json!({})).await;
    let rhythms: Vec<_> = data["cohorts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["nudgePolicy"]["checkInEveryDays"].clone())
        .collect();
    assert!(rhythms.contains(&json!(4)) && rhythms.contains(&json!(7)), "{rhythms:?}");
    assert_eq!(counts[0], counts[1], "statements grew with the cohorts: {counts:?}");
}
