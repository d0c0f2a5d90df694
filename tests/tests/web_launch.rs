//! The whole launch in a real browser: headless Chromium (`afterclass_tests::browser`) opens the
//! fake platform's course page (`afterclass_tests::lti_platform`, on `localhost`, another site
//! than the tool on `127.0.0.1`), follows the LTI 1.3 login and launch into the web app, and
//! drives it as people do. An instructor creates a cohort from the NRPS roster and activates it;
//! a trainee accepts the code of conduct, checks in with two taps and sees the progress move.
//! Screenshots go to `target/screenshots/web-*.png`.

use std::time::Duration;

use afterclass_tests::browser::{Browser, Page, screenshot_path};
use afterclass_tests::lti_platform::{Platform, course};
use afterclass_tests::{Backend, TestApp};

const WAIT: Duration = Duration::from_secs(15);

/// Opens Afterclass from the platform's course page as `user`, through login and launch.
async fn open_from_the_course(browser: &Browser, platform: &Platform, user: &str) -> Page {
    let page = browser.new_page().await;
    page.goto(&platform.url(&format!("/course?user={user}"))).await.unwrap();
    page.click("#open-afterclass").await.unwrap();
    page.wait_for("#home", WAIT).await.unwrap();
    page
}

/// The SVG the progress chart image shows, fetched as the page does.
async fn chart(page: &Page) -> String {
    page.wait_for("#progress-chart", WAIT).await.unwrap();
    let svg = page
        .eval("fetch(document.querySelector('#progress-chart').src).then(r => r.ok ? r.text() : 'HTTP ' + r.status)")
        .await
        .unwrap();
    let svg = svg.as_str().unwrap_or_default().to_owned();
    assert!(svg.contains("<svg"), "the chart is an SVG: {svg}");
    svg
}

fn no_errors(page: &Page, who: &str) {
    let errors = page.console_errors();
    assert!(errors.is_empty(), "{who}'s page had errors: {errors:#?}");
}

#[tokio::test]
async fn an_instructor_and_a_trainee_use_afterclass_from_the_lms_in_a_real_browser() {
    let Some(browser) = Browser::launch().await else { return };
    let (platform, app): (Platform, TestApp) = course(Backend::Sqlite).await.unwrap();

    // The instructor: from the course page into the app, with the course and the roster.
    let page = open_from_the_course(&browser, &platform, "lms-ines").await;
    page.wait_for_text("#who", "Ines Instructor", WAIT).await.unwrap();
    page.wait_for_text("#who", "Intro to Rust", WAIT).await.unwrap();
    page.wait_for("#new-cohort", WAIT).await.unwrap();
    page.click("#new-cohort").await.unwrap();
    page.wait_for("#create-cohort-form", WAIT).await.unwrap();
    page.wait_for("#roster input[data-external-id=\"lms-uma\"]", WAIT).await.unwrap();
    let roster = page.text("#roster").await.unwrap();
    assert!(roster.contains("Theo Trainee") && roster.contains("Uma Learner"), "the NRPS roster: {roster}");
    assert_eq!(platform.roster_pages(), 2, "three members at two a page");
    page.type_text("#cohort-name", "Rust practice circle").await.unwrap();
    page.type_text("#cohort-domain", "programming").await.unwrap();
    page.type_text("#cohort-purpose", "Keep writing Rust every week after the course").await.unwrap();
    page.select("#cohort-horizon", "SHORT_TERM").await.unwrap();
    page.type_text("#goal-title", "Exercises solved").await.unwrap();
    page.type_text("#goal-unit", "exercises").await.unwrap();
    page.type_text("#goal-target", "20").await.unwrap();
    page.select("#goal-aggregation", "SUM").await.unwrap();
    page.type_text("#cohort-conduct", "Be kind, share what you learn, show up or say so.").await.unwrap();
    page.screenshot(&screenshot_path("web-instructor-create.png")).await.unwrap();
    // Similar cohorts first ("join instead?"), then create.
    page.click("#check-similar").await.unwrap();
    page.wait_for("#create-cohort", WAIT).await.unwrap();
    page.click("#create-cohort").await.unwrap();
    page.wait_for("#activate", WAIT).await.unwrap();
    page.click("#activate").await.unwrap();
    page.wait_for_text("#cohort-stage", "Active", WAIT).await.unwrap();
    page.wait_for("#members [data-membership-id]", WAIT).await.unwrap();
    let members = page.text("#members").await.unwrap();
    assert!(members.contains("Theo Trainee") && members.contains("Uma Learner"), "invited from the roster: {members}");
    page.screenshot(&screenshot_path("web-instructor-active.png")).await.unwrap();
    no_errors(&page, "the instructor");
    assert_eq!(app.count("cohorts").await, 1);

    // The trainee: the cohort is theirs to join by accepting its code of conduct.
    let page = open_from_the_course(&browser, &platform, "lms-theo").await;
    page.wait_for_text("#who", "Theo Trainee", WAIT).await.unwrap();
    page.wait_for("#my-cohorts [data-cohort-id] [data-testid=\"open-cohort\"]", WAIT).await.unwrap();
    page.click("#my-cohorts [data-cohort-id] [data-testid=\"open-cohort\"]").await.unwrap();
    page.wait_for_text("#conduct-text", "Be kind", WAIT).await.unwrap();
    page.click("#accept-conduct").await.unwrap();
    page.wait_for("#checkin-button", WAIT).await.unwrap();
    let before = chart(&page).await;
    let goals_before = page.text("#goals").await.unwrap();
    assert!(goals_before.contains("0 of 20"), "{goals_before}");

    // Two taps: "Check in", then "Save" with the suggested value.
    page.click("#checkin-button").await.unwrap();
    page.wait_for("#checkin-save", WAIT).await.unwrap();
    page.screenshot(&screenshot_path("web-trainee-checkin.png")).await.unwrap();
    page.click("#checkin-save").await.unwrap();
    page.wait_for_text("#status", "Check-in saved", WAIT).await.unwrap();
    page.wait_for_text("#goals", "1 of 20", WAIT).await.unwrap();
    page.wait_for("#my-history li", WAIT).await.unwrap();
    let after = chart(&page).await;
    assert_ne!(before, after, "the chart moved");

    // A second check-in with a value typed, a note and blockers.
    page.click("#checkin-button").await.unwrap();
    page.wait_for("#checkin-value", WAIT).await.unwrap();
    page.eval("document.querySelector('#checkin-value').value = ''").await.unwrap();
    page.type_text("#checkin-value", "4").await.unwrap();
    page.type_text("#checkin-note", "Chapter 3 done").await.unwrap();
    page.type_text("#checkin-blockers", "lifetimes").await.unwrap();
    page.click("#checkin-save").await.unwrap();
    page.wait_for_text("#goals", "5 of 20", WAIT).await.unwrap();
    page.wait_for_text("#my-history", "Chapter 3 done", WAIT).await.unwrap();
    assert_ne!(after, chart(&page).await, "the chart moved again");
    page.screenshot(&screenshot_path("web-trainee-progress.png")).await.unwrap();
    // The trainee turns their own reminders off.
    page.click("#nudges-enabled").await.unwrap();
    page.wait_for_text("#status", "Reminders are off", WAIT).await.unwrap();
    page.eval("document.querySelector('#goals').scrollIntoView()").await.unwrap();
    page.screenshot(&screenshot_path("web-trainee-chart.png")).await.unwrap();
    no_errors(&page, "the trainee");
    assert_eq!(app.count("check_ins").await, 2);
    let conn = app.store.reader();
    let enabled = sea_orm::ConnectionTrait::query_one_raw(
        conn,
        sea_orm::Statement::from_string(
            sea_orm::ConnectionTrait::get_database_backend(conn),
            "SELECT m.nudges_enabled FROM memberships m JOIN persons p ON p.id = m.person_id \
             WHERE p.external_id = 'lms-theo'"
                .to_owned(),
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<bool>(0)
    .unwrap();
    assert!(!enabled, "theo's reminders are off");

    // Nothing left the machine but the tool and the platform.
    for request in page.requests() {
        assert!(
            request.starts_with(&app.url("")) || request.starts_with(platform.issuer()) || request.starts_with("data:"),
            "a request elsewhere: {request}"
        );
    }
}
