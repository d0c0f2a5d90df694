//! Nudges by email through a real SMTP server (Python's `aiosmtpd`, writing a maildir), the real
//! sweeper and the real mail worker on a controllable clock, at daytime moments in the cohort's
//! zone (UTC: the cohorts here have no meeting plan):
//! - the mails received: From, To with the member's name, the subject naming the cohort,
//!   `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058), `multipart/alternative` with the
//!   nudge's words as text and as escaped HTML paragraphs, the link in both;
//! - the one-click link: a GET only shows a button; the POST turns that member's nudges off
//!   (`Membership.nudgesEnabled`) and the next sweep mails them nothing; a second POST changes
//!   nothing; forged and malformed tokens get 404 and write nothing (every table counted);
//! - nothing is sent to a member without an email address, nor to one who turned nudges off after
//!   the nudge was recorded (SKIPPED, with the reason);
//! - the server down: attempts recorded with backoff, then up: sent once; retries wait out the
//!   night and give up after five attempts; a nudge found at night waits for 08:00;
//! - two workers on one PostgreSQL send each nudge once.

use afterclass::app::nudges::Delivery;
use afterclass::config::MailSettings;
use afterclass::ids::{self, Kind};
use afterclass::mail::{self, Mailer};
use afterclass::store::{Store, from_micros};
use afterclass::sweeper;
use afterclass_tests::smtp::{SmtpServer, free_port};
use afterclass_tests::{ActiveCohort, Backend, TestApp, active_cohort_with_emails, trainee};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use mailparse::{MailHeaderMap, ParsedMail};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

const FROM: &str = "Afterclass <nudges@afterclass.test>";
const SET_ENABLED: &str = r#"mutation($input: SetNudgesEnabledInput!) { setNudgesEnabled(input: $input) {
    membership { id nudgesEnabled } userErrors { field message code } } }"#;
const MY_MEMBERSHIPS: &str = "{ viewer { memberships(first: 10) { nodes { nudgesEnabled cohort { id } } } } }";

async fn exec(app: &TestApp, sql: &str) {
    let conn = app.store.writer();
    conn.execute_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned())).await.unwrap();
}

/// Moves the cohort's whole life back so that it started (and everyone joined) at `start`.
async fn started_at(app: &TestApp, c: &ActiveCohort, start: DateTime<Utc>) {
    let shift = (Utc::now() - start).num_microseconds().unwrap();
    let id = ids::decode(Kind::Cohort, &c.id).unwrap();
    exec(app, &format!("UPDATE cohorts SET created_at = created_at - {shift}, activated_at = activated_at - {shift} WHERE id = {id}")).await;
    exec(
        app,
        &format!(
            "UPDATE memberships SET invited_at = invited_at - {shift}, joined_at = joined_at - {shift}, \
             conduct_accepted_at = conduct_accepted_at - {shift} WHERE cohort_id = {id}"
        ),
    )
    .await;
    exec(app, &format!("UPDATE goals SET created_at = created_at - {shift} WHERE cohort_id = {id}")).await;
}

fn mailer_for(app: &TestApp, smtp_url: &str) -> Mailer {
    let settings = MailSettings { url: smtp_url.to_owned(), from: FROM.to_owned() };
    Mailer::new(&settings, &app.url(""), &afterclass_tests::config(&app.db.url)).unwrap()
}

/// A nudge as stored, with its member.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    who: String,
    kind: String,
    status: String,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    subject: String,
    body: String,
}

async fn nudges(app: &TestApp) -> Vec<Row> {
    let conn = app.store.reader();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT n.id, p.external_id, n.kind, n.status, n.attempts, n.next_attempt_at, n.sent_at, n.last_error, \
             n.subject, n.body FROM nudges n JOIN memberships m ON m.id = n.membership_id \
             JOIN persons p ON p.id = m.person_id ORDER BY n.id"
                .to_owned(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| Row {
            id: r.try_get_by_index(0).unwrap(),
            who: r.try_get_by_index(1).unwrap(),
            kind: r.try_get_by_index(2).unwrap(),
            status: r.try_get_by_index(3).unwrap(),
            attempts: r.try_get_by_index(4).unwrap(),
            next_attempt_at: r.try_get_by_index::<Option<i64>>(5).unwrap().map(from_micros),
            sent_at: r.try_get_by_index::<Option<i64>>(6).unwrap().map(from_micros),
            last_error: r.try_get_by_index(7).unwrap(),
            subject: r.try_get_by_index(8).unwrap(),
            body: r.try_get_by_index(9).unwrap(),
        })
        .collect()
}

fn of<'a>(rows: &'a [Row], who: &str) -> Vec<&'a Row> {
    rows.iter().filter(|r| r.who == who).collect()
}

/// A received mail's header, decoded.
fn header(mail: &ParsedMail<'_>, name: &str) -> String {
    mail.headers.get_first_value(name).unwrap_or_else(|| panic!("no {name} header"))
}

fn recipient(raw: &[u8]) -> String {
    let mail = mailparse::parse_mail(raw).unwrap();
    let to = mailparse::addrparse_header(mail.headers.get_first_header("To").unwrap()).unwrap();
    to.extract_single_info().unwrap().addr
}

fn recipients(smtp: &SmtpServer) -> Vec<String> {
    smtp.messages().iter().map(|m| recipient(m)).collect()
}

async fn nudges_enabled(app: &TestApp, who: &str, cohort: &str) -> bool {
    let data = app.ok(&trainee(who, "t1"), MY_MEMBERSHIPS, json!({})).await;
    let nodes = data["viewer"]["memberships"]["nodes"].as_array().unwrap().clone();
    nodes.iter().find(|m| m["cohort"]["id"] == cohort).unwrap()["nudgesEnabled"].as_bool().unwrap()
}

async fn post(app: &TestApp, url: &str) -> (u16, String) {
    let response = app
        .client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get(app: &TestApp, url: &str) -> (u16, String) {
    let response = app.client().get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Tuesday 3 November 2026, 09:00 UTC: the cohorts' start.
fn tuesday(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 3, hour, minute, 0).unwrap()
}

#[tokio::test]
async fn mails_carry_the_nudge_and_a_one_click_unsubscribe_that_works_once() {
    let Some(smtp) = SmtpServer::start() else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let c = active_cohort_with_emails(
        &app,
        "t1",
        &[("theo", Some("theo@example.test")), ("uma", Some("uma@example.test")), ("vic", None)],
    )
    .await;
    started_at(&app, &c, tuesday(9, 0)).await;
    let mailer = mailer_for(&app, &smtp.url());

    // A week later at 10:00 everyone is due a check-in nudge; with mail they wait as PENDING.
    let at = tuesday(10, 0) + Duration::days(7);
    sweeper::sweep_cohorts_with(&app.store, at, Delivery::EventsAndMail).await.unwrap();
    let rows = nudges(&app).await;
    assert!(rows.len() >= 3, "{rows:#?}");
    assert!(
        rows.iter().all(|r| r.status == "PENDING" && r.attempts == 0 && r.next_attempt_at == Some(at)),
        "{rows:#?}"
    );

    let report = mail::pass(&app.store, &mailer, at).await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}: {:#?}", nudges(&app).await);
    let rows = nudges(&app).await;
    for who in ["theo", "uma"] {
        let n = of(&rows, who)[0];
        assert_eq!(
            (n.status.as_str(), n.attempts, n.sent_at, n.next_attempt_at, n.last_error.as_deref()),
            ("SENT", 1, Some(at), None, None),
            "{n:#?}"
        );
    }
    // vic has no email address, and neither has ada, who leads (her token carried none).
    for who in ["vic", "ada"] {
        for n in of(&rows, who) {
            assert_eq!(n.status, "SKIPPED", "{n:#?}");
            assert_eq!(n.last_error.as_deref(), Some("the member has no email address"), "{n:#?}");
        }
    }
    assert_eq!(report.skipped as usize, rows.len() - 2);
    // Nothing is sent twice.
    assert_eq!(mail::pass(&app.store, &mailer, at + Duration::minutes(5)).await.unwrap().claimed, 0);

    // The mails received.
    let messages = smtp.messages();
    assert_eq!(messages.len(), 2);
    let raw = messages.iter().find(|m| recipient(m) == "theo@example.test").unwrap();
    println!("The mail to theo:\n{}", String::from_utf8_lossy(raw));
    let mail = mailparse::parse_mail(raw).unwrap();
    let theo = of(&rows, "theo")[0].clone();
    assert_eq!(header(&mail, "From"), FROM);
    let to = mailparse::addrparse_header(mail.headers.get_first_header("To").unwrap()).unwrap();
    let to = to.extract_single_info().unwrap();
    assert_eq!((to.display_name.as_deref(), to.addr.as_str()), (Some("Trainee theo"), "theo@example.test"));
    assert_eq!(header(&mail, "Subject"), theo.subject);
    assert_eq!(header(&mail, "Subject"), "Rust practice circle: time for a check-in");
    assert_eq!(mailparse::dateparse(&header(&mail, "Date")).unwrap(), at.timestamp());
    assert_eq!(header(&mail, "Message-ID"), format!("<nudge.{}@afterclass.test>", ids::encode(Kind::Nudge, theo.id)));
    assert_eq!(header(&mail, "Auto-Submitted"), "auto-generated");
    let list = header(&mail, "List-Unsubscribe");
    let prefix = format!("<{}/nudges/unsubscribe/", app.url(""));
    assert!(list.starts_with(&prefix) && list.ends_with('>'), "{list}");
    let url = list.trim_start_matches('<').trim_end_matches('>').to_owned();
    assert_eq!(header(&mail, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
    assert_eq!(mail.ctype.mimetype, "multipart/alternative");
    assert_eq!(mail.subparts.len(), 2);
    let (text, html) = (&mail.subparts[0], &mail.subparts[1]);
    assert_eq!((text.ctype.mimetype.as_str(), html.ctype.mimetype.as_str()), ("text/plain", "text/html"));
    assert_eq!(text.ctype.charset.to_lowercase(), "utf-8");
    let text = text.get_body().unwrap().replace("\r\n", "\n");
    assert_eq!(
        text,
        format!(
            "{}\n\n-- \nYou receive these nudges as a member of Rust practice circle. To stop them, open:\n{url}\n",
            theo.body.trim_end()
        )
    );
    let html = html.get_body().unwrap().replace("\r\n", "\n");
    assert!(html.contains("<p>Hi Trainee theo,</p>"), "{html}");
    let second = theo.body.split("\n\n").nth(1).unwrap();
    assert!(html.contains(&format!("<p>{second}</p>")), "{html}");
    assert!(html.contains(&format!("<a href=\"{url}\">Unsubscribe</a>")), "{html}");

    // A GET only shows the button: mail scanners follow links.
    let before = app.counts().await;
    let (status, page) = get(&app, &url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\">") && page.contains("Rust practice circle"), "{page}");
    assert!(nudges_enabled(&app, "theo", &c.id).await);
    assert_eq!(app.counts().await, before);

    // Forged and malformed tokens: 404, nothing written.
    let token = url.rsplit('/').next().unwrap().to_owned();
    let mut raw_token = URL_SAFE_NO_PAD.decode(&token).unwrap();
    raw_token[30] ^= 1;
    let forged_sig = URL_SAFE_NO_PAD.encode(&raw_token);
    let mut raw_token = URL_SAFE_NO_PAD.decode(&token).unwrap();
    raw_token[7] ^= 3; // another membership, the same signature
    let other_member = URL_SAFE_NO_PAD.encode(&raw_token);
    let base = format!("{}/nudges/unsubscribe/", app.url(""));
    for bad in [forged_sig.as_str(), other_member.as_str(), "abc", &token[..token.len() - 2], &"A".repeat(64)] {
        for (status, page) in [post(&app, &format!("{base}{bad}")).await, get(&app, &format!("{base}{bad}")).await] {
            assert_eq!(status, 404, "{bad}: {page}");
            assert!(page.contains("not valid"), "{page}");
        }
    }
    assert!(nudges_enabled(&app, "theo", &c.id).await);
    assert_eq!(app.counts().await, before);

    // The one-click POST: theo's nudges are off; nothing else is written.
    let (status, page) = post(&app, &url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("You are unsubscribed") && page.contains("Rust practice circle"), "{page}");
    assert!(!nudges_enabled(&app, "theo", &c.id).await);
    assert!(nudges_enabled(&app, "uma", &c.id).await, "only the member the link names");
    assert_eq!(app.counts().await, before);
    // A second time changes nothing and says so; so does the page.
    let (status, page) = post(&app, &url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("already unsubscribed"), "{page}");
    let (status, page) = get(&app, &url).await;
    assert!(status == 200 && page.contains("already unsubscribed") && !page.contains("<form"), "{page}");
    assert!(!nudges_enabled(&app, "theo", &c.id).await);
    assert_eq!(app.counts().await, before);

    // A week later: uma is nudged and mailed again, theo is not.
    let at = at + Duration::days(7);
    sweeper::sweep_cohorts_with(&app.store, at, Delivery::EventsAndMail).await.unwrap();
    assert!(of(&nudges(&app).await, "theo").len() == 1, "no nudge for theo once off");
    assert_eq!(mail::pass(&app.store, &mailer, at).await.unwrap().sent, 1);
    assert_eq!(recipients(&smtp).iter().filter(|r| *r == "theo@example.test").count(), 1);
    assert_eq!(recipients(&smtp).iter().filter(|r| *r == "uma@example.test").count(), 2);

    // Another week: uma's nudge is recorded, then she turns nudges off before the worker runs.
    let at = at + Duration::days(7);
    sweeper::sweep_cohorts_with(&app.store, at, Delivery::EventsAndMail).await.unwrap();
    let data =
        app.ok(&trainee("uma", "t1"), SET_ENABLED, json!({ "input": { "cohortId": c.id, "enabled": false } })).await;
    assert_eq!(data["setNudgesEnabled"]["userErrors"], json!([]), "{data:#}");
    let report = mail::pass(&app.store, &mailer, at).await.unwrap();
    assert_eq!(report.sent, 0, "{report:?}");
    let rows = nudges(&app).await;
    let last = of(&rows, "uma").into_iter().last().unwrap().clone();
    assert_eq!(last.status, "SKIPPED", "{last:#?}");
    assert_eq!(last.last_error.as_deref(), Some("the member turned their nudges off"));
    assert_eq!(smtp.messages().len(), 3);
    assert!(rows.iter().all(|r| r.kind == "CHECK_IN_DUE" || r.kind == "LEADER_DIGEST"), "{rows:#?}");
}

#[tokio::test]
async fn a_server_down_is_retried_with_backoff_then_the_nudge_is_sent_once() {
    let Some(mut smtp) = SmtpServer::start() else { return };
    smtp.down();
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let c = active_cohort_with_emails(&app, "t1", &[("theo", Some("theo@example.test"))]).await;
    started_at(&app, &c, tuesday(9, 0)).await;
    let mailer = mailer_for(&app, &smtp.url());
    let at = tuesday(10, 0) + Duration::days(7);
    sweeper::sweep_cohorts_with(&app.store, at, Delivery::EventsAndMail).await.unwrap();
    let theo = || async { of(&nudges(&app).await, "theo")[0].clone() };

    // Down: the attempt is recorded, with the error, and tried again a minute later.
    assert_eq!(mail::pass(&app.store, &mailer, at).await.unwrap().retried, 1);
    let n = theo().await;
    assert_eq!((n.status.as_str(), n.attempts, n.next_attempt_at), ("PENDING", 1, Some(at + Duration::minutes(1))));
    println!("last error: {:?}", n.last_error);
    assert!(n.last_error.as_deref().is_some_and(|e| !e.is_empty()), "{n:#?}");
    // Not before it is due.
    assert_eq!(mail::pass(&app.store, &mailer, at + Duration::seconds(30)).await.unwrap().claimed, 0);
    assert_eq!(theo().await.attempts, 1);
    // Then five minutes after the second failure.
    let second = at + Duration::minutes(1);
    assert_eq!(mail::pass(&app.store, &mailer, second).await.unwrap().retried, 1);
    let n = theo().await;
    assert_eq!((n.attempts, n.next_attempt_at), (2, Some(second + Duration::minutes(5))));

    // Up again: sent once, the error cleared.
    smtp.up();
    let third = second + Duration::minutes(5);
    assert_eq!(mail::pass(&app.store, &mailer, third).await.unwrap().sent, 1);
    let n = theo().await;
    assert_eq!(
        (n.status.as_str(), n.attempts, n.sent_at, n.next_attempt_at, n.last_error),
        ("SENT", 3, Some(third), None, None)
    );
    assert_eq!(mail::pass(&app.store, &mailer, third + Duration::hours(3)).await.unwrap().claimed, 0);
    assert_eq!(recipients(&smtp), ["theo@example.test"]);
}

#[tokio::test]
async fn retries_wait_out_the_night_and_give_up_after_five_attempts() {
    let Some(smtp) = SmtpServer::start() else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let c = active_cohort_with_emails(
        &app,
        "t1",
        &[("theo", Some("theo@example.test")), ("uma", Some("uma@example.test"))],
    )
    .await;
    started_at(&app, &c, tuesday(19, 0)).await;
    // Nothing listens on this port.
    let mailer = mailer_for(&app, &format!("smtp://127.0.0.1:{}", free_port()));
    let at = tuesday(19, 5) + Duration::days(7);
    sweeper::sweep_cohorts_with(&app.store, at, Delivery::EventsAndMail).await.unwrap();
    // uma's nudge is first found by the worker at 21:30 (as if it had been down until then).
    let uma = of(&nudges(&app).await, "uma")[0].id;
    let late = tuesday(21, 30) + Duration::days(7);
    exec(&app, &format!("UPDATE nudges SET next_attempt_at = {} WHERE id = {uma}", late.timestamp_micros())).await;

    let theo = || async { of(&nudges(&app).await, "theo")[0].clone() };
    let mut moment = at;
    for (attempt, wait) in [(1, Duration::minutes(1)), (2, Duration::minutes(5)), (3, Duration::minutes(30))] {
        assert_eq!(mail::pass(&app.store, &mailer, moment).await.unwrap().retried, 1, "attempt {attempt}");
        let n = theo().await;
        assert_eq!((n.attempts, n.next_attempt_at), (attempt, Some(moment + wait)), "{n:#?}");
        moment += wait;
    }
    // The fourth fails at 19:41: two hours later would be 21:41, so it waits for 08:00.
    assert_eq!(mail::pass(&app.store, &mailer, moment).await.unwrap().retried, 1);
    let morning = Utc.with_ymd_and_hms(2026, 11, 11, 8, 0, 0).unwrap();
    let n = theo().await;
    assert_eq!((n.status.as_str(), n.attempts, n.next_attempt_at), ("PENDING", 4, Some(morning)), "{n:#?}");
    // uma's, found at 21:30, is not attempted at night: it too waits for 08:00.
    let report = mail::pass(&app.store, &mailer, late).await.unwrap();
    assert_eq!((report.claimed, report.deferred), (1, 1), "{report:?}");
    let u = of(&nudges(&app).await, "uma")[0].clone();
    assert_eq!((u.status.as_str(), u.attempts, u.next_attempt_at), ("PENDING", 0, Some(morning)), "{u:#?}");
    assert_eq!(mail::pass(&app.store, &mailer, late + Duration::hours(2)).await.unwrap().claimed, 0);

    // At 08:00 theo's fifth attempt fails for good; uma's first is tried a minute later.
    let report = mail::pass(&app.store, &mailer, morning).await.unwrap();
    assert_eq!((report.failed, report.retried), (1, 1), "{report:?}");
    let n = theo().await;
    assert_eq!((n.status.as_str(), n.attempts, n.next_attempt_at, n.sent_at), ("FAILED", 5, None, None), "{n:#?}");
    assert!(n.last_error.is_some());
    let u = of(&nudges(&app).await, "uma")[0].clone();
    assert_eq!((u.attempts, u.next_attempt_at), (1, Some(morning + Duration::minutes(1))));
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn two_workers_on_one_postgres_send_each_nudge_once() {
    let Some(smtp) = SmtpServer::start() else { return };
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    let other = Store::connect(&app.db.url, 4).await.unwrap();
    let people: Vec<(String, String)> =
        (0..40).map(|i| (format!("t{i:02}"), format!("t{i:02}@example.test"))).collect();
    let roster: Vec<(&str, Option<&str>)> = people.iter().map(|(t, e)| (t.as_str(), Some(e.as_str()))).collect();
    let c = active_cohort_with_emails(&app, "t1", &roster).await;
    started_at(&app, &c, tuesday(9, 0)).await;
    let a = mailer_for(&app, &smtp.url());
    let b = mailer_for(&app, &smtp.url());
    let at = tuesday(10, 0) + Duration::days(7);
    sweeper::sweep_cohorts_with(&app.store, at, Delivery::EventsAndMail).await.unwrap();
    let (ra, rb) = tokio::join!(mail::pass(&app.store, &a, at), mail::pass(&other, &b, at));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    println!("worker a: {ra:?}\nworker b: {rb:?}");
    assert_eq!(ra.sent + rb.sent, 40);
    let mut got = recipients(&smtp);
    got.sort();
    let mut want: Vec<String> = people.iter().map(|(_, e)| e.clone()).collect();
    want.sort();
    assert_eq!(got, want, "each once");
    let rows = nudges(&app).await;
    assert_eq!(rows.iter().filter(|r| r.status == "SENT").count(), 40);
    other.close().await;
}

/// A meeting reminder still waiting when its meeting starts (the server was down until then) is
/// not sent late: it is skipped, saying why.
#[tokio::test]
async fn a_reminder_not_sent_before_its_meeting_is_skipped() {
    let Some(mut smtp) = SmtpServer::start() else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let c = active_cohort_with_emails(&app, "t1", &[("theo", Some("theo@example.test"))]).await;
    let data = app
        .ok(
            &c.leader,
            r#"mutation($input: SetMeetingPlanInput!) { setMeetingPlan(input: $input) { userErrors { message } } }"#,
            serde_json::json!({ "input": { "cohortId": c.id, "cadence": { "frequency": "WEEKLY", "weekday": 2,
                "localTime": "18:00", "timeZone": "UTC", "durationMinutes": 60 } } }),
        )
        .await;
    assert_eq!(data["setMeetingPlan"]["userErrors"], serde_json::json!([]));
    let id = ids::decode(Kind::Cohort, &c.id).unwrap();
    exec(&app, &format!("UPDATE meeting_plans SET starts_on = '2026-11-01' WHERE cohort_id = {id}")).await;
    started_at(&app, &c, tuesday(9, 0) - Duration::days(2)).await;
    let mailer = mailer_for(&app, &smtp.url());
    // Sunday 18:00, 48 hours before Tuesday's meeting: the reminders are due; the server is down.
    smtp.down();
    let at = tuesday(18, 0) - Duration::days(2);
    sweeper::sweep_cohorts_with(&app.store, at, Delivery::EventsAndMail).await.unwrap();
    assert!(mail::pass(&app.store, &mailer, at).await.unwrap().retried >= 1);
    let reminder = || async {
        nudges(&app).await.into_iter().find(|r| r.who == "theo" && r.kind == "MEETING_SOON").expect("a reminder")
    };
    assert_eq!(reminder().await.status, "PENDING");
    // Back up only once the meeting has begun: the reminder is skipped, not sent late.
    smtp.up();
    let report = mail::pass(&app.store, &mailer, tuesday(18, 5)).await.unwrap();
    assert_eq!(report.sent, 0, "{report:?}");
    let skipped = reminder().await;
    assert_eq!(skipped.status, "SKIPPED");
    assert_eq!(skipped.last_error.as_deref(), Some("the meeting it reminds of has started"));
    assert!(recipients(&smtp).is_empty());
}
