//! The launch and the web app inside an LMS frame, as Moodle and Canvas embed a tool: the fake
//! platform's course page (`/course?…&embed=1`, on `localhost`) holds the launch in an
//! `<iframe>`, and the tool is on `127.0.0.1`, another site, so the frame is a third-party
//! context. Chromium runs with third-party cookies blocked.
//!
//! The tool keeps its session in the page, and the login's state cookie is
//! `SameSite=None; Secure; Partitioned`, so the launch should not need a third-party cookie:
//! the cookie lives in the frame's partition (the tool's site under the platform's), and the
//! platform's cross-site `form_post` into the same frame carries it.

use std::time::Duration;

use afterclass_tests::browser::{Browser, Document, Frame, LaunchOptions, Page, screenshot_path};
use afterclass_tests::lti_platform::Platform;
use afterclass_tests::{Backend, TestApp, instructor, ops};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

/// Chromium's switch for testing the third-party cookie phaseout: cookies are blocked in a
/// third-party context unless they are partitioned (CHIPS). The headless Chromium 156 of Debian
/// blocks them already in a fresh profile (`chrome://prefs-internals` shows
/// `profile.cookie_controls_mode` 1, "block third-party", with or without the switch); the
/// switch says so explicitly, for a Chromium that would not. The test checks the effect itself
/// (`cookies_kept`), whichever makes it.
const BLOCK_THIRD_PARTY_COOKIES: &str = "--test-third-party-cookie-phaseout";

/// A browser wide enough for the course page with its navigation and the tool's frame, with
/// third-party cookies blocked.
async fn browser() -> Option<Browser> {
    let args = vec![BLOCK_THIRD_PARTY_COOKIES.to_owned()];
    Browser::launch_with(LaunchOptions { window: (640, 900), args, ..LaunchOptions::default() }).await
}

/// The course's platform and the tool with it registered.
async fn setup() -> (Platform, TestApp) {
    afterclass_tests::lti_platform::course(Backend::Sqlite).await.unwrap()
}

/// An active cohort of the course, created through the API by the instructor, with the two
/// learners invited by their LMS ids; gives its id.
async fn active_cohort(app: &TestApp) -> String {
    let leader = instructor("lms-ines", "lms-tenant");
    let roster = json!([
        { "externalId": "lms-theo", "displayName": "Theo Trainee" },
        { "externalId": "lms-uma", "displayName": "Uma Learner" },
    ]);
    let data = app
        .ok(
            &leader,
            ops::CREATE,
            json!({ "input": {
                "name": "Rust practice circle", "domain": "programming",
                "purpose": "Keep writing Rust every week after the course", "horizon": "SHORT_TERM",
                "codeOfConduct": "Be kind, share what you learn, show up or say so.", "roster": roster,
                "course": { "lmsCourseId": "course-42", "title": "Intro to Rust" } } }),
        )
        .await;
    let id = data["createCohort"]["cohort"]["id"].as_str().expect("a cohort id").to_owned();
    let goal = json!({ "input": { "cohortId": id, "title": "Exercises solved", "unit": "exercises",
                                  "target": 20.0, "aggregation": "SUM" } });
    app.ok(&leader, ops::ADD_GOAL, goal).await;
    let data = app.ok(&leader, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
    id
}

/// Opens the embedded course page as `user` and waits for the launch to land in the frame.
async fn open_in_the_course_frame(browser: &Browser, platform: &Platform, app: &TestApp, user: &str) -> (Page, Frame) {
    let page = browser.new_page().await;
    page.goto(&platform.url(&format!("/course?user={user}&embed=1"))).await.unwrap();
    let frame = page.frame(&app.url("/lti/launch"), WAIT).await.unwrap();
    (page, frame)
}

/// Sets two cookies from `doc`, one partitioned and one not (both `SameSite=None; Secure`, as
/// a third-party context needs), and gives the cookies the document then reads.
async fn cookies_kept(doc: &Document) -> String {
    let set = "document.cookie = 'probe_unpartitioned=1; SameSite=None; Secure; Path=/'; \
               document.cookie = 'probe_partitioned=1; SameSite=None; Secure; Partitioned; Path=/'; \
               document.cookie";
    doc.eval(set).await.unwrap().as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_trainee_opens_afterclass_in_the_lms_frame_and_checks_in_with_third_party_cookies_blocked() {
    let Some(browser) = browser().await else { return };
    let (platform, app) = setup().await;
    active_cohort(&app).await;

    // First-party, the tool keeps both probe cookies: `Secure` cookies stick on loopback.
    let tool_tab = browser.new_page().await;
    tool_tab.goto(&app.url("/app")).await.unwrap();
    let kept = cookies_kept(&tool_tab).await;
    assert!(kept.contains("probe_unpartitioned") && kept.contains("probe_partitioned"), "{kept:?}");
    drop(tool_tab);

    let (page, frame) = open_in_the_course_frame(&browser, &platform, &app, "lms-theo").await;
    frame.wait_for("#home", WAIT).await.unwrap();
    frame.wait_for_text("#who", "Theo Trainee", WAIT).await.unwrap();
    assert_eq!(page.url().await.unwrap(), platform.url("/course?user=lms-theo&embed=1"), "the course page stays");
    assert!(frame.url().await.unwrap().starts_with(&app.url("/lti/launch")));

    // The login's state cookie was kept in the frame's partition (the tool under the platform's
    // site), the platform's cross-site POST into the frame carried it, and no relay was needed.
    let cookies = browser.cookies().await.unwrap();
    let state = cookies
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with("afterclass_lti_")))
        .unwrap_or_else(|| panic!("the state cookie: {cookies:#?}"));
    assert_eq!(state["domain"], "127.0.0.1", "{state:#}");
    assert_eq!(state["partitionKey"], json!({ "topLevelSite": "http://localhost", "hasCrossSiteAncestor": true }));
    let requests = page.requests();
    assert!(!requests.iter().any(|r| r.contains("/lti/relay.js")), "the launch was relayed: {requests:#?}");
    assert_eq!(requests.iter().filter(|r| r.ends_with("/lti/launch")).count(), 1, "one launch POST: {requests:#?}");
    assert_eq!(
        frame.eval("document.referrer").await.unwrap(),
        format!("{}/", platform.issuer()),
        "posted by the platform"
    );

    // The trainee accepts the code of conduct and checks in, all inside the frame.
    frame.wait_for("#my-cohorts [data-cohort-id] [data-testid=\"open-cohort\"]", WAIT).await.unwrap();
    frame.click("#my-cohorts [data-cohort-id] [data-testid=\"open-cohort\"]").await.unwrap();
    frame.wait_for_text("#conduct-text", "Be kind", WAIT).await.unwrap();
    // The clicks that reach the frame's document, to tell that the mouse hit what it aimed at.
    frame
        .eval(
            "window.clicks = []; document.addEventListener('click', e => \
               window.clicks.push((e.isTrusted ? '' : 'untrusted ') + (e.target.closest('[id]') || {}).id), true)",
        )
        .await
        .unwrap();
    frame.click("#accept-conduct").await.unwrap();
    frame.wait_for("#checkin-button", WAIT).await.unwrap();
    frame.click("#checkin-button").await.unwrap();
    frame.wait_for("#checkin-value", WAIT).await.unwrap();
    frame.type_text("#checkin-note", "Chapter 3 done, in the LMS").await.unwrap();
    frame.click("#checkin-save").await.unwrap();
    frame.wait_for_text("#status", "Check-in saved", WAIT).await.unwrap();
    frame.wait_for_text("#goals", "1 of 20", WAIT).await.unwrap();
    frame.wait_for_text("#my-history", "Chapter 3 done, in the LMS", WAIT).await.unwrap();
    let clicks = frame.eval("window.clicks").await.unwrap();
    assert_eq!(clicks, json!(["accept-conduct", "checkin-button", "checkin-save"]), "trusted clicks on their targets");
    // The progress chart loads in the frame too (a signed same-origin link).
    let drawn = frame
        .eval(
            "new Promise((done) => { const img = document.querySelector('#progress-chart'); \
             const check = () => img.complete ? done(img.naturalWidth) : setTimeout(check, 25); check(); })",
        )
        .await
        .unwrap();
    assert!(drawn.as_u64().is_some_and(|w| w > 0), "the chart is drawn in the frame: {drawn}");
    // The whole course page with the goal's progress in the frame. Scrolling into view in the
    // frame scrolls the course page too: back to its top.
    frame.eval("document.querySelector('#goals').scrollIntoView({ block: 'center' })").await.unwrap();
    page.eval("window.scrollTo(0, 0)").await.unwrap();
    page.screenshot(&screenshot_path("web-in-frame.png")).await.unwrap();
    assert_eq!(app.count("check_ins").await, 1);

    // Third-party cookies are blocked in the frame: it keeps a partitioned cookie, not an
    // unpartitioned one, and does not see the tool's first-party cookies from the other tab.
    let kept = cookies_kept(&frame).await;
    assert_eq!(kept, "probe_partitioned=1", "third-party cookies are blocked");

    let errors = page.console_errors();
    assert!(errors.is_empty(), "the page or its frame had errors: {errors:#?}");
    for request in page.requests() {
        assert!(
            request.starts_with(&app.url("")) || request.starts_with(platform.issuer()) || request.starts_with("data:"),
            "a request elsewhere: {request}"
        );
    }
}
