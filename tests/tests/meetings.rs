//! Meeting regularly, end to end on SQLite and PostgreSQL: the meeting plan (set while forming),
//! meetings computed for any window and the refusal of huge ones, one-offs and cancellations,
//! RSVPs and attendance with their rules, attendance feeding participation, health and the
//! ATTENDANCE_BELOW criterion, ended cohorts, and the private calendar feed checked with an
//! independent iCalendar parser.
//!
//! The domain's unit tests (`domain/src/meeting.rs`) cover occurrences across daylight-saving
//! changes in Europe/Berlin and America/New_York, the gap and overlap rules, the last weekday of
//! a month and fortnightly anchoring to the minute; here the same rules are seen through the API.

use std::collections::BTreeSet;
use std::io::BufReader;

use afterclass_domain::meeting::Tz;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{
    TestApp, active_cohort, error_codes, instructor, integration, on_both_stores, ops, trainee, user_error_codes,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Duration, NaiveDate, SubsecRound, Timelike, Utc, Weekday};

on_both_stores!(
    a_plan_set_while_forming_gives_meetings_for_any_window,
    rsvps_are_for_active_members_until_the_meeting_starts,
    attendance_is_recorded_from_the_start_corrected_and_feeds_the_lifecycle,
    one_off_meetings_are_scheduled_ahead_at_a_free_time,
    an_ended_cohort_keeps_its_meetings_and_takes_no_new_ones,
    the_calendar_feed_is_private_parses_independently_and_can_be_revoked,
    reading_many_meetings_costs_no_more_statements_than_reading_one,
);

const SET_PLAN: &str = r#"mutation($input: SetMeetingPlanInput!) { setMeetingPlan(input: $input) {
    cohort { id stage cadence { frequency weekday localTime timeZone durationMinutes weekOfMonth startsOn }
        place { format location onlineUrl } channel { kind address } }
    userErrors { field message code } } }"#;
const MEETINGS: &str = r#"query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) {
    meetings(from: $from, to: $to) { id startsAt endsAt status agenda oneOff cancelReason place { format location onlineUrl } } } }"#;
const MEETING: &str = r#"query($id: ID!) { node(id: $id) { __typename id ... on Meeting { startsAt status
    cohort { name } rsvps { answer membership { person { externalId } } }
    attendance { mark membership { person { externalId } } } attendanceRate } } }"#;
const NEXT: &str =
    r#"query($id: ID!, $after: DateTime) { cohort(id: $id) { nextMeeting(after: $after) { id startsAt status } } }"#;
const RSVP: &str = r#"mutation($input: RsvpInput!) { rsvp(input: $input) {
    rsvp { answer answeredAt membership { person { externalId } } } userErrors { field message code } } }"#;
const RECORD: &str = r#"mutation($input: RecordAttendanceInput!) { recordAttendance(input: $input) {
    meeting { id status attendanceRate attendance { mark membership { person { externalId } } } }
    userErrors { field message code } } }"#;
const CANCEL: &str = r#"mutation($input: CancelMeetingInput!) { cancelMeeting(input: $input) {
    meeting { id status cancelReason } userErrors { field message code } } }"#;
const SCHEDULE: &str = r#"mutation($input: ScheduleMeetingInput!) { scheduleMeeting(input: $input) {
    meeting { id startsAt endsAt status agenda oneOff place { format location } } userErrors { field message code } } }"#;
const REVOKE: &str = r#"mutation($input: RevokeCalendarFeedInput!) { revokeCalendarFeed(input: $input) {
    membership { id calendarFeedUrl } userErrors { field message code } } }"#;
const MEMBERS: &str =
    r#"query($id: ID!) { cohort(id: $id) { members { nodes { id status person { externalId } calendarFeedUrl } } } }"#;
const HEALTH: &str = r#"query($id: ID!, $asOf: DateTime) { cohort(id: $id) {
    health(asOf: $asOf) { attendanceRate activeMemberRatio }
    evaluation(asOf: $asOf) { results { criterion { kind } holds observed explanation } }
    members { nodes { person { externalId } participation(asOf: $asOf) } } } }"#;

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time, got {value}"))).unwrap().to_utc()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// A zone where it is day now (04:00 to 21:59), so that half an hour ago was today there.
fn daytime_zone(now: DateTime<Utc>) -> Tz {
    ["Europe/Berlin", "America/New_York"]
        .into_iter()
        .map(|name| name.parse::<Tz>().unwrap())
        .find(|tz| (4..22).contains(&now.with_timezone(tz).hour()))
        .expect("Berlin or New York is in daytime")
}

/// A weekly cadence on today's weekday whose meeting today began half an hour ago (to the minute)
/// and lasts two hours, with when that meeting started.
fn cadence_in_progress(now: DateTime<Utc>) -> (Value, DateTime<Utc>) {
    let tz = daytime_zone(now);
    let local = (now - Duration::minutes(30)).with_timezone(&tz).with_second(0).unwrap().trunc_subsecs(0);
    let cadence = json!({ "frequency": "WEEKLY", "weekday": local.weekday().number_from_monday(),
        "localTime": local.format("%H:%M").to_string(), "timeZone": tz.name(), "durationMinutes": 120 });
    (cadence, local.to_utc())
}

struct Planned {
    /// The meeting in progress now.
    current: String,
    current_start: DateTime<Utc>,
    /// The one a week later.
    upcoming: String,
}

/// Sets a weekly plan whose meeting of today is in progress; gives that meeting and next week's.
async fn plan_in_progress(app: &TestApp, leader: &str, cohort: &str) -> Planned {
    let now = Utc::now();
    let (cadence, started) = cadence_in_progress(now);
    let data = app.ok(leader, SET_PLAN, json!({ "input": { "cohortId": cohort, "cadence": cadence } })).await;
    assert_eq!(data["setMeetingPlan"]["userErrors"], json!([]), "{data:#}");
    // A window that starts mid-meeting includes the meeting in progress.
    let data = app
        .ok(leader, MEETINGS, json!({ "id": cohort, "from": rfc(now), "to": rfc(now + Duration::minutes(1)) }))
        .await;
    let current = &data["cohort"]["meetings"];
    assert_eq!(current.as_array().map(Vec::len), Some(1), "{data:#}");
    assert_eq!(time(&current[0]["startsAt"]), started);
    let window = json!({ "id": cohort, "from": rfc(now + Duration::days(6)), "to": rfc(now + Duration::days(8)) });
    let data = app.ok(leader, MEETINGS, window).await;
    let upcoming = &data["cohort"]["meetings"];
    assert_eq!(upcoming.as_array().map(Vec::len), Some(1), "{data:#}");
    assert_eq!(time(&upcoming[0]["startsAt"]), started + Duration::days(7));
    Planned {
        current: current[0]["id"].as_str().unwrap().to_owned(),
        current_start: started,
        upcoming: upcoming[0]["id"].as_str().unwrap().to_owned(),
    }
}

/// The row id inside a cohort's global ID, to forge meeting IDs with.
fn cohort_row(id: &str) -> i64 {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(id).unwrap()).unwrap();
    text.strip_prefix("Cohort:").unwrap().parse().unwrap()
}

fn meeting_id(cohort: &str, starts_at: DateTime<Utc>) -> String {
    URL_SAFE_NO_PAD.encode(format!("Meeting:{}:{}", cohort_row(cohort), starts_at.timestamp_micros()))
}

/// Membership IDs by external ID.
async fn memberships(app: &TestApp, token: &str, cohort: &str) -> Vec<(String, String)> {
    let data = app.ok(token, MEMBERS, json!({ "id": cohort })).await;
    data["cohort"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["person"]["externalId"].as_str().unwrap().to_owned(), m["id"].as_str().unwrap().to_owned()))
        .collect()
}

fn member<'a>(all: &'a [(String, String)], who: &str) -> &'a str {
    &all.iter().find(|(p, _)| p == who).unwrap().1
}

/// Signs each token's person in once, so that row counts taken afterwards see only what an
/// operation itself writes (a token's first request creates its tenant and person).
async fn warm(app: &TestApp, tokens: &[&str]) {
    for token in tokens {
        app.ok(token, "{ viewer { role } }", json!({})).await;
    }
}

fn assert_codes(body: &Value, code: &str, what: &str) {
    let codes = error_codes(body);
    assert!(!codes.is_empty() && codes.iter().all(|c| c == code), "{what}: expected {code}, got {body:#}");
}

/// The first Monday at least two days from now, 00:00 UTC.
fn a_monday_ahead(now: DateTime<Utc>) -> DateTime<Utc> {
    let mut day = (now + Duration::days(2)).date_naive();
    while day.weekday() != Weekday::Mon {
        day = day.succ_opt().unwrap();
    }
    day.and_hms_opt(0, 0, 0).unwrap().and_utc()
}

async fn a_plan_set_while_forming_gives_meetings_for_any_window(app: TestApp) {
    let ada = instructor("ada", "t");
    let data = app
        .ok(&ada, ops::CREATE, json!({ "input": { "name": "Rust practice circle", "domain": "Rust", "purpose": "Practise",
            "horizon": "SHORT_TERM", "visibility": "OPEN", "roster": [{ "externalId": "tom", "displayName": "Tom" }] } }))
        .await;
    let id = data["createCohort"]["cohort"]["id"].as_str().unwrap().to_owned();
    let now = Utc::now();

    // Leaders set the plan while the cohort is still forming.
    let plan = json!({ "input": { "cohortId": id,
        "cadence": { "frequency": "WEEKLY", "weekday": 2, "localTime": "19:00", "timeZone": "Europe/Berlin", "durationMinutes": 90 },
        "place": { "format": "BLENDED", "location": "Library, room 2", "onlineUrl": "https://meet.example/rust" },
        "channel": { "kind": "HASHTAG", "address": "#rustcircle" } } });
    let data = app.ok(&ada, SET_PLAN, plan).await;
    let cohort = &data["setMeetingPlan"]["cohort"];
    assert_eq!(cohort["stage"], "FORMING", "{data:#}");
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    assert_eq!(
        cohort["cadence"],
        json!({ "frequency": "WEEKLY", "weekday": 2, "localTime": "19:00", "timeZone": "Europe/Berlin",
            "durationMinutes": 90, "weekOfMonth": null, "startsOn": now.with_timezone(&berlin).date_naive().to_string() })
    );
    assert_eq!(cohort["place"]["format"], "BLENDED");
    assert_eq!(cohort["channel"], json!({ "kind": "HASHTAG", "address": "#rustcircle" }));
    assert_eq!(app.count("meeting_plans").await, 1);
    assert_eq!(app.count("meetings").await, 0, "occurrences are computed, never stored ahead");

    // Four Tuesdays in four weeks, each at 19:00 in Berlin, 90 minutes, at the plan's place.
    let monday = a_monday_ahead(now);
    let data =
        app.ok(&ada, MEETINGS, json!({ "id": id, "from": rfc(monday), "to": rfc(monday + Duration::days(28)) })).await;
    let meetings = data["cohort"]["meetings"].as_array().unwrap().clone();
    assert_eq!(meetings.len(), 4, "{data:#}");
    for m in &meetings {
        let start = time(&m["startsAt"]).with_timezone(&berlin);
        assert_eq!((start.weekday(), start.format("%H:%M").to_string()), (Weekday::Tue, "19:00".to_owned()), "{m}");
        assert_eq!(time(&m["endsAt"]) - time(&m["startsAt"]), Duration::minutes(90));
        assert_eq!((m["status"].as_str(), m["oneOff"].as_bool()), (Some("SCHEDULED"), Some(false)));
        assert_eq!(m["place"]["location"], "Library, room 2");
    }
    // Across next spring's change to summer time the meetings stay at 19:00 local: their UTC
    // hour moves from 18:00 to 17:00.
    let year = now.year() + 1;
    let (from, to) = (NaiveDate::from_ymd_opt(year, 3, 10).unwrap(), NaiveDate::from_ymd_opt(year, 4, 10).unwrap());
    let window = json!({ "id": id, "from": rfc(from.and_hms_opt(0, 0, 0).unwrap().and_utc()), "to": rfc(to.and_hms_opt(0, 0, 0).unwrap().and_utc()) });
    let data = app.ok(&ada, MEETINGS, window).await;
    let spring: Vec<DateTime<Utc>> =
        data["cohort"]["meetings"].as_array().unwrap().iter().map(|m| time(&m["startsAt"])).collect();
    assert!(spring.iter().all(|t| t.with_timezone(&berlin).format("%H:%M").to_string() == "19:00"), "{spring:?}");
    let hours: BTreeSet<u32> = spring.iter().map(|t| t.hour()).collect();
    assert_eq!(hours, BTreeSet::from([17, 18]), "{spring:?}");

    // The same meeting has the same ID in every window, and node() finds it.
    let first = &meetings[0];
    let data =
        app.ok(&ada, MEETINGS, json!({ "id": id, "from": rfc(monday), "to": rfc(monday + Duration::days(3)) })).await;
    assert_eq!(data["cohort"]["meetings"][0]["id"], first["id"]);
    let data = app.ok(&ada, MEETING, json!({ "id": first["id"] })).await;
    assert_eq!(
        (data["node"]["__typename"].as_str(), data["node"]["startsAt"].clone()),
        (Some("Meeting"), first["startsAt"].clone())
    );
    assert_eq!(data["node"]["rsvps"], json!([]));
    let data = app.ok(&ada, NEXT, json!({ "id": id, "after": rfc(monday) })).await;
    assert_eq!(data["cohort"]["nextMeeting"]["id"], first["id"]);
    // A start the cadence does not have names no meeting.
    let body =
        app.gql(&ada, MEETING, json!({ "id": meeting_id(&id, time(&first["startsAt"]) + Duration::minutes(1)) })).await;
    assert_codes(&body, "NOT_FOUND", "a forged meeting");

    // 10,000 weeks are refused at once, not computed; so is an empty window.
    let before = app.counts().await;
    let started = std::time::Instant::now();
    let body =
        app.gql(&ada, MEETINGS, json!({ "id": id, "from": rfc(now), "to": rfc(now + Duration::weeks(10_000)) })).await;
    assert_codes(&body, "BAD_USER_INPUT", "a 10,000-meeting window");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("200"), "{body:#}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused in {:?}", started.elapsed());
    let body = app.gql(&ada, MEETINGS, json!({ "id": id, "from": rfc(now), "to": rfc(now) })).await;
    assert_codes(&body, "BAD_USER_INPUT", "an empty window");

    // Bad plans name the nested field, and write nothing; trainees do not set plans.
    let bad = json!({ "input": { "cohortId": id, "cadence": { "frequency": "MONTHLY", "weekday": 5, "localTime": "19:00",
        "timeZone": "Mars/Olympus", "durationMinutes": 60, "weekOfMonth": -1 } } });
    let data = app.ok(&ada, SET_PLAN, bad).await;
    assert_eq!(data["setMeetingPlan"]["userErrors"][0]["field"], json!(["input", "cadence", "timeZone"]), "{data:#}");
    assert_eq!(user_error_codes(&data["setMeetingPlan"]), ["INVALID_INPUT"]);
    let bad = json!({ "input": { "cohortId": id, "place": { "format": "IN_PERSON" } } });
    let data = app.ok(&ada, SET_PLAN, bad).await;
    assert_eq!(data["setMeetingPlan"]["userErrors"][0]["field"], json!(["input", "place", "location"]), "{data:#}");
    let body = app.gql(&trainee("tom", "t"), SET_PLAN, json!({ "input": { "cohortId": id, "channel": null } })).await;
    assert_codes(&body, "FORBIDDEN", "a member setting the plan");
    assert_eq!(app.counts().await, before);

    // Left out keeps a part; null clears it. A monthly cadence on the last Friday.
    let monthly = json!({ "input": { "cohortId": id, "channel": null, "cadence": { "frequency": "MONTHLY", "weekday": 5,
        "localTime": "18:30", "timeZone": "America/New_York", "durationMinutes": 60, "weekOfMonth": -1 } } });
    let data = app.ok(&ada, SET_PLAN, monthly).await;
    let cohort = &data["setMeetingPlan"]["cohort"];
    assert_eq!(
        (cohort["channel"].clone(), cohort["place"]["format"].clone()),
        (Value::Null, json!("BLENDED")),
        "{data:#}"
    );
    let from = (now + Duration::days(40)).date_naive().with_day(1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let data =
        app.ok(&ada, MEETINGS, json!({ "id": id, "from": rfc(from), "to": rfc(from + Duration::days(92)) })).await;
    let new_york: Tz = "America/New_York".parse().unwrap();
    for m in data["cohort"]["meetings"].as_array().unwrap() {
        let local = time(&m["startsAt"]).with_timezone(&new_york);
        assert_eq!((local.weekday(), local.format("%H:%M").to_string()), (Weekday::Fri, "18:30".to_owned()));
        assert!((local + Duration::days(7)).month() != local.month(), "the last Friday: {local}");
    }

    // A non-member sees the plan and the meetings (the public face), not who answered.
    let nia = trainee("nia", "t");
    let data = app
        .ok(
            &nia,
            r#"query($id: ID!) { cohort(id: $id) { cadence { frequency } place { format } } }"#,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["cohort"]["cadence"]["frequency"], "MONTHLY");
    let data =
        app.ok(&nia, MEETINGS, json!({ "id": id, "from": rfc(from), "to": rfc(from + Duration::days(92)) })).await;
    assert!(!data["cohort"]["meetings"].as_array().unwrap().is_empty());
    let body = app
        .gql(&nia, r#"query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) { meetings(from: $from, to: $to) { rsvps { answer } } } }"#,
            json!({ "id": id, "from": rfc(from), "to": rfc(from + Duration::days(92)) }))
        .await;
    assert_codes(&body, "FORBIDDEN", "a non-member reading RSVPs");
    app.stop().await;
}

async fn rsvps_are_for_active_members_until_the_meeting_starts(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy"]).await;
    app.ok(
        &c.leader,
        ops::ADD_MEMBERS,
        json!({ "input": { "cohortId": c.id, "members": [{ "externalId": "zoe", "displayName": "Zoe" }] } }),
    )
    .await;
    let p = plan_in_progress(&app, &c.leader, &c.id).await;
    let tom = &c.trainees[0];

    let before = app.counts().await;
    let data = app.ok(tom, RSVP, json!({ "input": { "meetingId": p.upcoming, "answer": "GOING" } })).await;
    assert_eq!(data["rsvp"]["rsvp"]["answer"], "GOING", "{data:#}");
    assert_eq!(data["rsvp"]["rsvp"]["membership"]["person"]["externalId"], "tom");
    let after = app.counts().await;
    assert_eq!(
        (after["meetings"] - before["meetings"], after["rsvps"] - before["rsvps"]),
        (1, 1),
        "the occurrence became a row"
    );
    // Its ID did not change by becoming a row; answering again replaces the answer.
    let data = app.ok(tom, RSVP, json!({ "input": { "meetingId": p.upcoming, "answer": "MAYBE" } })).await;
    assert_eq!(data["rsvp"]["rsvp"]["answer"], "MAYBE");
    assert_eq!(app.counts().await, after);
    let data = app.ok(&c.leader, MEETING, json!({ "id": p.upcoming })).await;
    assert_eq!(data["node"]["id"], p.upcoming.as_str());
    assert_eq!(
        data["node"]["rsvps"],
        json!([{ "answer": "MAYBE", "membership": { "person": { "externalId": "tom" } } }])
    );

    // Refusals write nothing.
    let (zoe, nia, lms, stranger) =
        (trainee("zoe", "t"), trainee("nia", "t"), integration("t"), trainee("tom", "other"));
    warm(&app, &[&zoe, &nia, &lms, &stranger]).await;
    let before = app.counts().await;
    let answer = |meeting: &str| json!({ "input": { "meetingId": meeting, "answer": "GOING" } });
    let data = app.ok(tom, RSVP, answer(&p.current)).await;
    assert_eq!(user_error_codes(&data["rsvp"]), ["REQUIREMENTS_NOT_MET"], "answers close at the start");
    let data = app.ok(&zoe, RSVP, answer(&p.upcoming)).await;
    assert_eq!(user_error_codes(&data["rsvp"]), ["CONDUCT_NOT_ACCEPTED"], "an invited member");
    let data = app.ok(&nia, RSVP, answer(&p.upcoming)).await;
    assert_eq!(user_error_codes(&data["rsvp"]), ["NOT_A_MEMBER"], "a non-member");
    assert_codes(&app.gql(&lms, RSVP, answer(&p.upcoming)).await, "FORBIDDEN", "the integration");
    assert_codes(&app.gql(&stranger, RSVP, answer(&p.upcoming)).await, "NOT_FOUND", "another tenant");
    let forged = meeting_id(&c.id, p.current_start + Duration::days(7) + Duration::minutes(5));
    assert_codes(&app.gql(tom, RSVP, answer(&forged)).await, "NOT_FOUND", "a time without a meeting");
    assert_codes(&app.gql(tom, RSVP, answer(&c.id)).await, "BAD_USER_INPUT", "a cohort's ID");
    assert_eq!(app.counts().await, before);

    // The meeting in progress is the next one; a cancelled one is skipped.
    let data = app.ok(tom, NEXT, json!({ "id": c.id })).await;
    assert_eq!(data["cohort"]["nextMeeting"]["id"], p.current.as_str());
    let after_current = rfc(p.current_start + Duration::hours(2));
    let data = app.ok(tom, NEXT, json!({ "id": c.id, "after": after_current })).await;
    assert_eq!(data["cohort"]["nextMeeting"]["id"], p.upcoming.as_str());
    let body = app.gql(tom, CANCEL, json!({ "input": { "meetingId": p.upcoming } })).await;
    assert_codes(&body, "FORBIDDEN", "a member cancelling");
    let data =
        app.ok(&c.leader, CANCEL, json!({ "input": { "meetingId": p.upcoming, "reason": "Room closed" } })).await;
    assert_eq!(
        data["cancelMeeting"]["meeting"],
        json!({ "id": p.upcoming, "status": "CANCELLED", "cancelReason": "Room closed" })
    );
    let data = app.ok(tom, NEXT, json!({ "id": c.id, "after": after_current })).await;
    assert_eq!(time(&data["cohort"]["nextMeeting"]["startsAt"]), p.current_start + Duration::days(14));
    let before = app.counts().await;
    let data = app.ok(&c.trainees[1], RSVP, answer(&p.upcoming)).await;
    assert_eq!(user_error_codes(&data["rsvp"]), ["REQUIREMENTS_NOT_MET"], "a cancelled meeting");
    // Cancelling again changes nothing.
    app.ok(&c.leader, CANCEL, json!({ "input": { "meetingId": p.upcoming } })).await;
    assert_eq!(app.counts().await, before);
    let data = app.ok(&c.leader, MEETING, json!({ "id": p.upcoming })).await;
    assert_eq!(data["node"]["status"], "CANCELLED");
    assert_eq!(data["node"]["rsvps"].as_array().map(Vec::len), Some(1), "answers are kept");
    app.stop().await;
}

fn result<'a>(data: &'a Value, kind: &str) -> &'a Value {
    data["cohort"]["evaluation"]["results"].as_array().unwrap().iter().find(|r| r["criterion"]["kind"] == kind).unwrap()
}

fn participation(data: &Value, who: &str) -> String {
    let members = data["cohort"]["members"]["nodes"].as_array().unwrap();
    members.iter().find(|m| m["person"]["externalId"] == who).unwrap()["participation"].as_str().unwrap().to_owned()
}

async fn attendance_is_recorded_from_the_start_corrected_and_feeds_the_lifecycle(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy", "max"]).await;
    let p = plan_in_progress(&app, &c.leader, &c.id).await;
    let ids = memberships(&app, &c.leader, &c.id).await;
    let criteria = json!([{ "kind": "ATTENDANCE_BELOW", "effect": "DISBAND", "threshold": 0.8 }]);
    let data = app
        .ok(
            &c.leader,
            r#"mutation($input: SetCriteriaInput!) { setCriteria(input: $input) { userErrors { code } } }"#,
            json!({ "input": { "cohortId": c.id, "criteria": criteria } }),
        )
        .await;
    assert_eq!(data["setCriteria"]["userErrors"], json!([]));
    let data = app.ok(&c.leader, HEALTH, json!({ "id": c.id })).await;
    assert_eq!(data["cohort"]["health"]["attendanceRate"], Value::Null);
    assert_eq!(result(&data, "ATTENDANCE_BELOW")["holds"], false);
    assert_eq!(participation(&data, "tom"), "INACTIVE");
    // Of the four active members only the leader, who activated the cohort, was active.
    assert_eq!(data["cohort"]["health"]["activeMemberRatio"], 0.25, "{data:#}");

    let marks = |meeting: &str, entries: &[(&str, &str)]| {
        let entries: Vec<Value> =
            entries.iter().map(|(who, mark)| json!({ "membershipId": member(&ids, who), "mark": mark })).collect();
        json!({ "input": { "meetingId": meeting, "entries": entries } })
    };
    let all = [("tom", "PRESENT"), ("ivy", "PRESENT"), ("max", "ABSENT")];

    // Refusals write nothing: before the start, by members, the integration or another tenant,
    // an empty or repeated list, and someone of another cohort.
    let other = active_cohort(&app, "t", &["sam"]).await;
    let sam = memberships(&app, &other.leader, &other.id).await;
    let (lms, stranger) = (integration("t"), instructor("ada", "other"));
    warm(&app, &[&lms, &stranger]).await;
    let before = app.counts().await;
    let data = app.ok(&c.leader, RECORD, marks(&p.upcoming, &all)).await;
    assert_eq!(user_error_codes(&data["recordAttendance"]), ["REQUIREMENTS_NOT_MET"], "before the start: {data:#}");
    assert_codes(&app.gql(&c.trainees[0], RECORD, marks(&p.current, &all)).await, "FORBIDDEN", "a member");
    assert_codes(&app.gql(&lms, RECORD, marks(&p.current, &all)).await, "FORBIDDEN", "the integration");
    assert_codes(&app.gql(&stranger, RECORD, marks(&p.current, &all)).await, "NOT_FOUND", "another tenant");
    let data = app.ok(&c.leader, RECORD, marks(&p.current, &[])).await;
    assert_eq!(user_error_codes(&data["recordAttendance"]), ["INVALID_INPUT"], "no entries");
    let data = app.ok(&c.leader, RECORD, marks(&p.current, &[("tom", "PRESENT"), ("tom", "ABSENT")])).await;
    assert_eq!(user_error_codes(&data["recordAttendance"]), ["INVALID_INPUT"], "tom twice");
    let stranger = json!({ "input": { "meetingId": p.current, "entries": [{ "membershipId": member(&sam, "sam"), "mark": "PRESENT" }] } });
    let data = app.ok(&c.leader, RECORD, stranger).await;
    assert_eq!(user_error_codes(&data["recordAttendance"]), ["INVALID_INPUT"], "a member of another cohort");
    assert_eq!(app.counts().await, before);

    // From the start, leaders mark; the meeting is HELD.
    let data = app.ok(&c.leader, RECORD, marks(&p.current, &all)).await;
    let meeting = &data["recordAttendance"]["meeting"];
    assert_eq!(
        (meeting["id"].as_str(), meeting["status"].as_str()),
        (Some(p.current.as_str()), Some("HELD")),
        "{data:#}"
    );
    assert!((meeting["attendanceRate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let after = app.counts().await;
    assert_eq!((after["meetings"] - before["meetings"], after["attendance"] - before["attendance"]), (1, 3));
    let data = app.ok(&c.leader, HEALTH, json!({ "id": c.id })).await;
    assert!((data["cohort"]["health"]["attendanceRate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{data:#}");
    let below = result(&data, "ATTENDANCE_BELOW");
    assert_eq!(below["holds"], true, "{below:#}");
    assert_eq!(below["explanation"], "Attendance was 67% over the last 4 meetings (disband below 80%).");
    // Attending is activity: tom and ivy were there, max was not.
    assert_eq!(data["cohort"]["health"]["activeMemberRatio"], 0.75, "{data:#}");
    // Attending is participation: tom and ivy were there, max was not.
    assert_eq!(
        (participation(&data, "tom"), participation(&data, "max")),
        ("PERIPHERAL".to_owned(), "INACTIVE".to_owned())
    );
    // A window later it has aged out.
    let later = json!({ "id": c.id, "asOf": rfc(Utc::now() + Duration::days(30)) });
    assert_eq!(participation(&app.ok(&c.leader, HEALTH, later).await, "tom"), "INACTIVE");

    // Marks are corrected in place: max came after all.
    let data = app.ok(&c.leader, RECORD, marks(&p.current, &[("max", "PRESENT")])).await;
    assert_eq!(data["recordAttendance"]["meeting"]["attendanceRate"], 1.0, "{data:#}");
    let mut corrected = after.clone();
    *corrected.get_mut("events").unwrap() += 1;
    assert_eq!(app.counts().await, corrected, "a correction adds no row but its event");
    let data = app.ok(&c.leader, MEETING, json!({ "id": p.current })).await;
    let marked: Vec<(String, String)> = data["node"]["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["membership"]["person"]["externalId"].as_str().unwrap().to_owned(),
                a["mark"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(marked.len(), 3);
    assert!(marked.iter().all(|(_, m)| m == "PRESENT"), "{marked:?}");
    let data = app.ok(&c.leader, HEALTH, json!({ "id": c.id })).await;
    assert_eq!(data["cohort"]["health"]["attendanceRate"], 1.0);
    assert_eq!(result(&data, "ATTENDANCE_BELOW")["holds"], false);
    assert_eq!(participation(&data, "max"), "PERIPHERAL");
    assert_eq!(data["cohort"]["health"]["activeMemberRatio"], 1.0, "{data:#}");
    // Members see their attendance; outsiders do not.
    let body = app.gql(&trainee("nia", "t"), MEETING, json!({ "id": p.current })).await;
    assert_codes(&body, "FORBIDDEN", "a non-member reading attendance");
    app.stop().await;
}

async fn one_off_meetings_are_scheduled_ahead_at_a_free_time(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom"]).await;
    let p = plan_in_progress(&app, &c.leader, &c.id).await;
    let now = Utc::now();
    let at = (now + Duration::days(2)).with_second(0).unwrap().trunc_subsecs(0);
    let schedule = |starts: DateTime<Utc>, minutes: i64, place: Value| {
        json!({ "input": { "cohortId": c.id, "startsAt": rfc(starts), "durationMinutes": minutes,
            "agenda": "Kick-off: goals, ground rules", "place": place } })
    };
    let room = json!({ "format": "IN_PERSON", "location": "Library, room 2" });

    let before = app.counts().await;
    let field = |data: &Value| data["scheduleMeeting"]["userErrors"][0]["field"].clone();
    let data = app.ok(&c.leader, SCHEDULE, schedule(now - Duration::hours(1), 60, room.clone())).await;
    assert_eq!(field(&data), json!(["input", "startsAt"]), "in the past: {data:#}");
    let data = app.ok(&c.leader, SCHEDULE, schedule(p.current_start + Duration::days(7), 60, room.clone())).await;
    assert_eq!(user_error_codes(&data["scheduleMeeting"]), ["ALREADY_EXISTS"], "the cadence meets then");
    let data = app.ok(&c.leader, SCHEDULE, schedule(at, 0, room.clone())).await;
    assert_eq!(field(&data), json!(["input", "durationMinutes"]));
    let data = app.ok(&c.leader, SCHEDULE, schedule(at, 60, json!({ "format": "ONLINE" }))).await;
    assert_eq!(field(&data), json!(["input", "place", "onlineUrl"]));
    assert_codes(&app.gql(&c.trainees[0], SCHEDULE, schedule(at, 60, room.clone())).await, "FORBIDDEN", "a member");
    assert_eq!(app.counts().await, before);

    let data = app.ok(&c.leader, SCHEDULE, schedule(at, 60, room.clone())).await;
    let meeting = &data["scheduleMeeting"]["meeting"];
    assert_eq!(time(&meeting["startsAt"]), at, "{data:#}");
    assert_eq!(time(&meeting["endsAt"]), at + Duration::minutes(60));
    assert_eq!((meeting["oneOff"].as_bool(), meeting["status"].as_str()), (Some(true), Some("SCHEDULED")));
    assert_eq!(
        (meeting["agenda"].as_str(), meeting["place"]["location"].as_str()),
        (Some("Kick-off: goals, ground rules"), Some("Library, room 2"))
    );
    let id = meeting["id"].as_str().unwrap().to_owned();
    let data =
        app.ok(&c.leader, MEETINGS, json!({ "id": c.id, "from": rfc(now), "to": rfc(now + Duration::days(8)) })).await;
    let listed: Vec<&str> =
        data["cohort"]["meetings"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [p.current.as_str(), id.as_str(), p.upcoming.as_str()], "in time order");
    let data = app.ok(&c.trainees[0], MEETING, json!({ "id": id })).await;
    assert_eq!(data["node"]["startsAt"], meeting["startsAt"]);
    let data = app.ok(&c.leader, SCHEDULE, schedule(at, 30, room)).await;
    assert_eq!(user_error_codes(&data["scheduleMeeting"]), ["ALREADY_EXISTS"], "the one-off meets then");
    app.stop().await;
}

async fn an_ended_cohort_keeps_its_meetings_and_takes_no_new_ones(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy"]).await;
    let p = plan_in_progress(&app, &c.leader, &c.id).await;
    let ids = memberships(&app, &c.leader, &c.id).await;
    app.ok(&c.trainees[0], RSVP, json!({ "input": { "meetingId": p.upcoming, "answer": "GOING" } })).await;
    let tom_present = json!({ "input": { "meetingId": p.current, "entries": [{ "membershipId": member(&ids, "tom"), "mark": "PRESENT" }] } });
    app.ok(&c.leader, RECORD, tom_present).await;
    let data =
        app.ok(&c.leader, ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "LEADERS_DECISION" } })).await;
    assert_eq!(data["disbandCohort"]["cohort"]["stage"], "DISBANDED");

    let before = app.counts().await;
    // The history stays readable.
    let now = Utc::now();
    let data = app
        .ok(&c.trainees[0], MEETINGS, json!({ "id": c.id, "from": rfc(now), "to": rfc(now + Duration::days(8)) }))
        .await;
    let statuses: Vec<&str> =
        data["cohort"]["meetings"].as_array().unwrap().iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["HELD", "SCHEDULED"], "{data:#}");
    let data = app.ok(&c.leader, MEETING, json!({ "id": p.upcoming })).await;
    assert_eq!(data["node"]["rsvps"][0]["answer"], "GOING");
    // Nothing new is accepted.
    let wrong_stage =
        |data: &Value, field: &str| assert_eq!(user_error_codes(&data[field]), ["WRONG_STAGE"], "{field}: {data:#}");
    let data = app.ok(&c.leader, SET_PLAN, json!({ "input": { "cohortId": c.id, "channel": { "kind": "FORUM", "address": "https://forum.example" } } })).await;
    wrong_stage(&data, "setMeetingPlan");
    let one_off =
        json!({ "input": { "cohortId": c.id, "startsAt": rfc(now + Duration::days(2)), "durationMinutes": 60 } });
    wrong_stage(&app.ok(&c.leader, SCHEDULE, one_off).await, "scheduleMeeting");
    wrong_stage(
        &app.ok(&c.trainees[1], RSVP, json!({ "input": { "meetingId": p.upcoming, "answer": "GOING" } })).await,
        "rsvp",
    );
    let correction = json!({ "input": { "meetingId": p.current, "entries": [{ "membershipId": member(&ids, "tom"), "mark": "ABSENT" }] } });
    wrong_stage(&app.ok(&c.leader, RECORD, correction).await, "recordAttendance");
    wrong_stage(&app.ok(&c.leader, CANCEL, json!({ "input": { "meetingId": p.upcoming } })).await, "cancelMeeting");
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

/// RFC 5545 TEXT back to text.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn prop<'a>(props: &'a [ical::property::Property], name: &str) -> Option<&'a str> {
    props.iter().find(|p| p.name == name).and_then(|p| p.value.as_deref())
}

async fn fetch(app: &TestApp, url: &str) -> (u16, String, String) {
    let resp = app.client().get(app.url(url)).send().await.unwrap();
    let status = resp.status().as_u16();
    let kind = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, kind, resp.text().await.unwrap())
}

async fn feed_url(app: &TestApp, token: &str, cohort: &str) -> String {
    let data = app
        .ok(token, "{ viewer { memberships(first: 20) { nodes { calendarFeedUrl cohort { id } } } } }", json!({}))
        .await;
    let nodes = data["viewer"]["memberships"]["nodes"].as_array().unwrap();
    let mine = nodes.iter().find(|n| n["cohort"]["id"] == cohort).unwrap();
    mine["calendarFeedUrl"].as_str().unwrap_or_else(|| panic!("a feed URL: {data:#}")).to_owned()
}

async fn the_calendar_feed_is_private_parses_independently_and_can_be_revoked(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy"]).await;
    let p = plan_in_progress(&app, &c.leader, &c.id).await;
    let online = json!({ "input": { "cohortId": c.id, "place": { "format": "ONLINE", "onlineUrl": "https://meet.example/rust-circle" },
        "channel": { "kind": "MAILING_LIST", "address": "rust-circle@lists.example" } } });
    app.ok(&c.leader, SET_PLAN, online).await;
    app.ok(&c.leader, CANCEL, json!({ "input": { "meetingId": p.upcoming, "reason": "Holiday" } })).await;
    let now = Utc::now();
    let agenda = format!(
        "Chapter 4, part 2; bring questions\nand a snack \\ or two. {}",
        "Ownership, borrowing and lifetimes — één keer goed uitgelegd. ".repeat(4)
    );
    let one_off = json!({ "input": { "cohortId": c.id, "startsAt": rfc((now + Duration::days(3)).with_second(0).unwrap().trunc_subsecs(0)),
        "durationMinutes": 45, "agenda": agenda } });
    let data = app.ok(&c.leader, SCHEDULE, one_off).await;
    let one_off_id = data["scheduleMeeting"]["meeting"]["id"].as_str().unwrap().to_owned();

    // Only the member sees their own URL.
    let tom = &c.trainees[0];
    let url = feed_url(&app, tom, &c.id).await;
    assert!(url.starts_with("/calendar/") && url.ends_with(".ics"), "{url}");
    let data = app.ok(&c.leader, MEMBERS, json!({ "id": c.id })).await;
    for m in data["cohort"]["members"]["nodes"].as_array().unwrap() {
        let own = m["person"]["externalId"] == "ada";
        assert_eq!(m["calendarFeedUrl"].is_string(), own, "{m}");
    }

    // Fetched over plain HTTP, without a token.
    let (status, kind, body) = fetch(&app, &url).await;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("text/calendar"), "{kind}");
    assert!(body.ends_with("\r\n") && !body.replace("\r\n", "").contains('\n'), "CRLF line ends");
    for line in body.split("\r\n") {
        assert!(line.len() <= 75, "a line of {} octets: {line}", line.len());
    }

    // An independent parser reads it.
    let calendars: Vec<_> = ical::IcalParser::new(BufReader::new(body.as_bytes())).collect::<Result<_, _>>().unwrap();
    assert_eq!(calendars.len(), 1);
    let calendar = &calendars[0];
    assert_eq!(prop(&calendar.properties, "VERSION"), Some("2.0"));
    assert!(prop(&calendar.properties, "PRODID").is_some());
    assert_eq!(prop(&calendar.properties, "CALSCALE"), Some("GREGORIAN"));

    // It lists what the API lists for 30 days back to 180 ahead, each by its stable ID.
    let window = json!({ "id": c.id, "from": rfc(now - Duration::days(30)), "to": rfc(now + Duration::days(180)) });
    let data = app.ok(&c.leader, MEETINGS, window).await;
    let meetings = data["cohort"]["meetings"].as_array().unwrap();
    assert!(meetings.len() >= 26, "{} meetings", meetings.len());
    assert_eq!(calendar.events.len(), meetings.len());
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    for (event, m) in calendar.events.iter().zip(meetings) {
        let id = m["id"].as_str().unwrap();
        assert_eq!(prop(&event.properties, "UID"), Some(format!("{id}@afterclass").as_str()));
        assert_eq!(prop(&event.properties, "DTSTART"), Some(stamp(time(&m["startsAt"])).as_str()));
        assert_eq!(prop(&event.properties, "DTEND"), Some(stamp(time(&m["endsAt"])).as_str()));
        assert!(prop(&event.properties, "DTSTAMP").is_some_and(|s| s.ends_with('Z')));
        assert_eq!(prop(&event.properties, "SUMMARY"), Some("Rust practice circle"));
        let status = if id == p.upcoming { "CANCELLED" } else { "CONFIRMED" };
        assert_eq!(prop(&event.properties, "STATUS"), Some(status), "{id}");
        if id != one_off_id {
            assert_eq!(prop(&event.properties, "LOCATION"), Some("https://meet.example/rust-circle"));
        }
    }
    let uids: BTreeSet<&str> = calendar.events.iter().filter_map(|e| prop(&e.properties, "UID")).collect();
    assert_eq!(uids.len(), calendar.events.len(), "UIDs are unique");
    let event = calendar
        .events
        .iter()
        .find(|e| prop(&e.properties, "UID") == Some(&format!("{one_off_id}@afterclass")))
        .unwrap();
    let description = unescape(prop(&event.properties, "DESCRIPTION").unwrap());
    // The parser drops whitespace at the end of a folded line, so compare without it.
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    assert!(squash(&description).starts_with(&squash(&agenda)), "{description:?}");
    assert!(
        description.contains("Chapter 4, part 2; bring questions\nand"),
        "escaped commas, semicolons, newlines: {description:?}"
    );
    let cancelled = calendar
        .events
        .iter()
        .find(|e| prop(&e.properties, "UID") == Some(&format!("{}@afterclass", p.upcoming)))
        .unwrap();
    assert!(unescape(prop(&cancelled.properties, "DESCRIPTION").unwrap()).starts_with("Cancelled: Holiday"));

    // Forged and unknown URLs get 404, as does anyone else's attempt to revoke tom's.
    let token = url.trim_start_matches("/calendar/").trim_end_matches(".ics");
    let mut forged = token.chars().collect::<Vec<_>>();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    for bad in [
        format!("/calendar/{forged}.ics"),
        "/calendar/nothing.ics".into(),
        format!("/calendar/{token}"),
        format!("/calendar/{token}.ics.ics"),
    ] {
        assert_eq!(fetch(&app, &bad).await.0, 404, "{bad}");
    }
    let ids = memberships(&app, &c.leader, &c.id).await;
    let revoke = json!({ "input": { "membershipId": member(&ids, "tom") } });
    let stranger = trainee("tom", "other");
    warm(&app, &[&stranger]).await;
    let before = app.counts().await;
    assert_codes(&app.gql(&c.leader, REVOKE, revoke.clone()).await, "FORBIDDEN", "the leader revoking tom's feed");
    assert_codes(&app.gql(&stranger, REVOKE, revoke.clone()).await, "NOT_FOUND", "another tenant");
    assert_eq!(app.counts().await, before);

    // Revoked: the old URL is gone at once; the new one works.
    let data = app.ok(tom, REVOKE, revoke).await;
    let renewed = data["revokeCalendarFeed"]["membership"]["calendarFeedUrl"].as_str().unwrap().to_owned();
    assert_ne!(renewed, url);
    assert_eq!(fetch(&app, &url).await.0, 404);
    assert_eq!(fetch(&app, &renewed).await.0, 200);
    assert_eq!(feed_url(&app, tom, &c.id).await, renewed, "the URL is stable until revoked");

    // Someone who leaves the cohort loses the feed.
    app.ok(tom, ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    assert_eq!(fetch(&app, &renewed).await.0, 404);
    app.stop().await;
}

async fn reading_many_meetings_costs_no_more_statements_than_reading_one(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "ivy", "max"]).await;
    let p = plan_in_progress(&app, &c.leader, &c.id).await;
    let now = Utc::now();
    // Everyone answers for the next twenty weeks' meetings.
    let to = p.current_start + Duration::weeks(20) + Duration::hours(1);
    let window = json!({ "id": c.id, "from": rfc(now + Duration::days(1)), "to": rfc(to) });
    let data = app.ok(&c.leader, MEETINGS, window).await;
    let upcoming: Vec<String> =
        data["cohort"]["meetings"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    // Twenty, or one more when the clocks spring forward in between.
    assert!((20..=21).contains(&upcoming.len()), "{} meetings", upcoming.len());
    for token in &c.trainees {
        for id in &upcoming {
            app.ok(token, RSVP, json!({ "input": { "meetingId": id, "answer": "GOING" } })).await;
        }
    }
    let query = r#"query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) {
        cadence { frequency } place { format } nextMeeting { id }
        meetings(from: $from, to: $to) { id status cohort { name } rsvps { answer membership { role person { displayName } } }
            attendance { mark } attendanceRate } } }"#;
    let statements = |days: i64| {
        let (app, leader, id) = (&app, c.leader.clone(), c.id.clone());
        async move {
            let from = p.current_start + Duration::days(1);
            let vars = json!({ "id": id, "from": rfc(from), "to": rfc(from + Duration::days(days)) });
            app.ok(&leader, query, vars.clone()).await;
            let before = app.store.statements();
            let data = app.ok(&leader, query, vars).await;
            assert!(data["cohort"]["meetings"].as_array().map(Vec::len) >= Some(days as usize / 7), "{data:#}");
            app.store.statements() - before
        }
    };
    let one = statements(7).await;
    let many = statements(7 * 20).await;
    // The plan, the rows of the window (a count and a select), RSVPs, memberships, persons and
    // the cohort load once per level, however many meetings and answers there are.
    assert!(many <= one + 2, "statements grew with the meetings: {one} for one, {many} for twenty");
    assert!(many <= 20, "{many} statements");
    app.stop().await;
}
