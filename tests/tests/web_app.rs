//! The web app at `GET /app` (`api/src/http/web.rs`, `api/assets/app/`): the shell's headers and
//! its lack of inline code, the assets' content types, the embedded session's escaping, and
//! every GraphQL operation of `app.js` (its `Q` object, read from the file) against the real
//! server: each one validates and, used as the page uses it, answers without errors.

use std::collections::BTreeMap;

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{Backend, TestApp, active_cohort, trainee, user_error_codes};

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors *";

fn app_js() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/assets/app/app.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The named GraphQL documents of `const Q = { name: `…`, … };` in app.js: a deliberately
/// simple reader (identifiers, a colon, a template literal without interpolation; `//` comments
/// between entries are skipped).
fn operations(js: &str) -> BTreeMap<String, String> {
    let start = js.find("const Q = {").expect("app.js keeps its operations in `const Q = {`") + "const Q = {".len();
    let mut rest = &js[start..];
    let mut ops = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if let Some(comment) = rest.strip_prefix("//") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
            continue;
        }
        if rest.starts_with('}') {
            break;
        }
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        assert!(!name.is_empty(), "unexpected text in Q: {}", &rest[..rest.len().min(80)]);
        rest = rest[name.len()..].trim_start();
        rest = rest.strip_prefix(':').unwrap_or_else(|| panic!("Q.{name}: expected `:`")).trim_start();
        rest = rest.strip_prefix('`').unwrap_or_else(|| panic!("Q.{name}: expected a template literal"));
        let end = rest.find('`').unwrap_or_else(|| panic!("Q.{name}: unterminated template literal"));
        let doc = &rest[..end];
        assert!(!doc.contains("${"), "Q.{name} interpolates: each document must be complete");
        assert!(ops.insert(name.clone(), doc.to_owned()).is_none(), "Q.{name} twice");
        rest = &rest[end + 1..];
    }
    ops
}

/// Whether a top-level error says the document or its variables do not fit the schema (or the
/// request's limits): what `classify_error` files as `BAD_USER_INPUT`, and the words async-graphql
/// validation uses.
fn is_validation_error(error: &Value) -> bool {
    const WORDS: [&str; 9] = [
        "Unknown field",
        "Unknown argument",
        "Unknown type",
        "is not defined",
        "must have a selection",
        "Invalid value for",
        "Failed to parse",
        "is required",
        "not used",
    ];
    let message = error["message"].as_str().unwrap_or_default();
    error["extensions"]["code"] == "BAD_USER_INPUT" || WORDS.iter().any(|w| message.contains(w))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_is_served_framable_with_its_policy_and_no_inline_code() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app.client().get(app.url("/app")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers.get("x-frame-options").is_none(), "any LMS may frame the app");
    let body = resp.text().await.unwrap();
    // Without a launch there is no embedded session; the only script is the app's own file.
    assert!(!body.contains("afterclass-session\""), "{body}");
    let scripts: Vec<&str> = body.match_indices("<script").map(|(at, _)| &body[at..]).collect();
    assert_eq!(scripts.len(), 1, "{body}");
    assert!(scripts[0].starts_with(r#"<script src="/app/assets/app.js" defer></script>"#), "{body}");
    assert!(!body.contains("<style") && !body.contains(" style="), "no inline styles: {body}");
    assert!(!body.contains(" onclick=") && !body.contains(" onload="), "no inline handlers: {body}");
    assert!(body.contains(r#"<link rel="stylesheet" href="/app/assets/app.css">"#), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assets_answer_with_their_content_types() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    for (file, content_type, marker) in [
        ("app.js", "text/javascript; charset=utf-8", "const Q = {"),
        ("app.css", "text/css; charset=utf-8", ":focus-visible"),
    ] {
        let resp = app.client().get(app.url(&format!("/app/assets/{file}"))).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{file}");
        assert_eq!(resp.headers()["content-type"], content_type, "{file}");
        assert_eq!(resp.headers()["cache-control"], "no-cache", "{file}");
        assert!(resp.text().await.unwrap().contains(marker), "{file}");
    }
    for missing in ["/app/assets/nope.js", "/app/assets/index.html", "/app/assets/..%2FCargo.toml"] {
        let resp = app.client().get(app.url(missing)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{missing}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_embedded_session_cannot_close_its_script() {
    let session = json!({
        "token": "a.b.c", "role": "trainee", "roster": false, "expiresAt": "2026-12-01T12:00:00Z",
        "course": { "lmsCourseId": "ctx-1", "title": "Rust & <friends>" },
        "person": { "externalId": "p1", "displayName": "</script><script>alert(1)</script><!--" },
    });
    let response = afterclass::http::web::shell(Some(&session));
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-security-policy"], CSP);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let page = String::from_utf8(bytes.to_vec()).unwrap();
    let open = r#"<script type="application/json" id="afterclass-session">"#;
    let at = page.find(open).expect("the session is embedded") + open.len();
    let inner = &page[at..at + page[at..].find("</script>").expect("the element is closed")];
    assert!(!inner.contains('<') && !inner.contains('>') && !inner.contains('&'), "{inner}");
    assert!(inner.contains("\\u003c/script\\u003e"), "{inner}");
    let back: Value = afterclass_tests::serde_json::from_str(inner).unwrap();
    assert_eq!(back, session, "the escaped JSON reads back as the session");
    // Still one element of each: the session and app.js.
    assert_eq!(page.matches("<script").count(), 2, "{page}");
    assert!(!page.contains("alert(1)</script>"), "{page}");
}

/// A one-off meeting of `cohort`, scheduled by its leader; gives its ID.
async fn meeting(app: &TestApp, leader: &str, cohort: &str, starts_at: chrono::DateTime<chrono::Utc>) -> String {
    let data = app
        .ok(
            leader,
            r#"mutation($input: ScheduleMeetingInput!) { scheduleMeeting(input: $input) { meeting { id } userErrors { message } } }"#,
            json!({ "input": { "cohortId": cohort, "startsAt": starts_at.to_rfc3339(), "durationMinutes": 60 } }),
        )
        .await;
    data["scheduleMeeting"]["meeting"]["id"].as_str().unwrap_or_else(|| panic!("a meeting: {data:#}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_of_the_app_validates_and_answers_without_errors() {
    let ops = operations(&app_js());
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let c = active_cohort(&app, "t", &["tom"]).await;
    let ada = c.leader.clone();
    let tom = c.trainees[0].clone();
    let uma = trainee("uma", "t");
    let vic = trainee("vic", "t");
    let now = chrono::Utc::now();
    let soon = meeting(&app, &ada, &c.id, now + chrono::Duration::seconds(2)).await;
    let later = meeting(&app, &ada, &c.id, now + chrono::Duration::days(3)).await;
    let window = json!({ "id": c.id, "from": (now - chrono::Duration::days(14)).to_rfc3339(),
        "to": (now + chrono::Duration::days(60)).to_rfc3339() });
    let data = app.ok(&tom, &ops["myMemberships"], json!({})).await;
    let tom_membership = data["viewer"]["memberships"]["nodes"][0]["id"].clone();

    let mut seen = Vec::new();
    let mut run = async |name: &str, token: &str, variables: Value| -> Value {
        let doc = ops.get(name).unwrap_or_else(|| panic!("app.js has no Q.{name}"));
        let body = app.gql(token, doc, variables.clone()).await;
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        let invalid: Vec<&Value> = errors.iter().filter(|e| is_validation_error(e)).collect();
        assert!(invalid.is_empty(), "Q.{name} does not fit the schema: {invalid:#?}\n{doc}");
        assert!(errors.is_empty(), "Q.{name} with {variables} answered errors: {body:#}");
        seen.push(name.to_owned());
        body["data"].clone()
    };

    // Reading, as a trainee and as an instructor.
    let viewer = run("viewer", &tom, json!({})).await;
    assert_eq!(viewer["viewer"]["role"], "TRAINEE");
    run("myMemberships", &tom, json!({})).await;
    let listed = run("courseCohorts", &tom, json!({ "course": "RUST-101" })).await;
    assert_eq!(listed["cohorts"]["nodes"][0]["id"], json!(c.id));
    run("allCohorts", &ada, json!({})).await;
    run("myCohorts", &tom, json!({})).await;
    for token in [&tom, &ada] {
        run("cohortFace", token, json!({ "id": c.id })).await;
        run("cohortSetup", token, json!({ "id": c.id })).await;
        run("cohortActivity", token, window.clone()).await;
        run("cohortHealth", token, json!({ "id": c.id })).await;
        run("checkIns", token, json!({ "id": c.id, "after": null })).await;
    }
    run(
        "similarCohorts",
        &ada,
        json!({ "input": { "name": "Rust circle", "domain": "Rust programming",
        "purpose": "Practise", "tags": ["rust"], "limit": 5 } }),
    )
    .await;

    // An instructor creates a cohort from the roster, gives it a goal and a code of conduct,
    // activates it; the invited trainee accepts.
    let created = run(
        "createCohort",
        &ada,
        json!({ "input": {
        "name": "Async club", "domain": "Rust async", "purpose": "Learn async Rust", "tags": ["rust", "async"],
        "horizon": "SHORT_TERM", "visibility": "BY_REQUEST",
        "course": { "lmsCourseId": "RUST-101", "title": "Rust Fundamentals", "endedOn": "2026-11-20" },
        "roster": [{ "externalId": "uma", "displayName": "Uma", "email": "uma@example.org", "role": "MEMBER" }] } }),
    )
    .await;
    assert_eq!(user_error_codes(&created["createCohort"]), Vec::<String>::new());
    let x = created["createCohort"]["cohort"]["id"].clone();
    let goal = run(
        "addGoal",
        &ada,
        json!({ "input": { "cohortId": x, "title": "Exercises", "unit": "exercises",
        "target": 30.0, "aggregation": "SUM", "deadline": "2027-01-31" } }),
    )
    .await;
    assert_eq!(user_error_codes(&goal["addGoal"]), Vec::<String>::new());
    let set = run("setCodeOfConduct", &ada, json!({ "input": { "cohortId": x, "text": "Be kind." } })).await;
    assert_eq!(user_error_codes(&set["setCodeOfConduct"]), Vec::<String>::new());
    let active = run("activateCohort", &ada, json!({ "input": { "cohortId": x } })).await;
    assert_eq!(active["activateCohort"]["cohort"]["stage"], "ACTIVE", "{active:#}");
    let accepted = run("acceptCodeOfConduct", &uma, json!({ "input": { "cohortId": x, "version": 1 } })).await;
    assert_eq!(accepted["acceptCodeOfConduct"]["membership"]["status"], "ACTIVE", "{accepted:#}");

    // A trainee checks in, answers for a meeting; an outsider asks to join.
    let logged = run(
        "logCheckIn",
        &tom,
        json!({ "input": { "cohortId": c.id, "goalId": c.goal_id, "value": 3.0,
        "note": "chapter 3", "confidence": 4, "blockers": "lifetimes", "idempotencyKey": "web-1" } }),
    )
    .await;
    assert_eq!(user_error_codes(&logged["logCheckIn"]), Vec::<String>::new());
    let off = run("setNudgesEnabled", &tom, json!({ "input": { "cohortId": c.id, "enabled": false } })).await;
    assert_eq!(off["setNudgesEnabled"]["membership"]["nudgesEnabled"], false, "{off:#}");
    let answered = run("rsvp", &tom, json!({ "input": { "meetingId": later, "answer": "GOING" } })).await;
    assert_eq!(answered["rsvp"]["rsvp"]["answer"], "GOING", "{answered:#}");
    let asked = run("requestToJoin", &vic, json!({ "input": { "cohortId": c.id, "message": "May I?" } })).await;
    assert_eq!(asked["requestToJoin"]["joinRequest"]["status"], "PENDING", "{asked:#}");

    // The leader records attendance once the meeting has started.
    let wait = (now + chrono::Duration::milliseconds(2300)) - chrono::Utc::now();
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    let marked = run(
        "recordAttendance",
        &ada,
        json!({ "input": { "meetingId": soon,
        "entries": [{ "membershipId": tom_membership, "mark": "PRESENT" }] } }),
    )
    .await;
    assert_eq!(marked["recordAttendance"]["meeting"]["status"], "HELD", "{marked:#}");

    // Applying an evaluation that says to continue is a user error, not a failure of the document.
    let applied =
        run("applyEvaluation", &ada, json!({ "input": { "cohortId": c.id, "retrospective": "So far so good" } })).await;
    assert_eq!(user_error_codes(&applied["applyEvaluation"]), ["REQUIREMENTS_NOT_MET"]);

    let mut untested: Vec<&String> = ops.keys().filter(|name| !seen.contains(name)).collect();
    untested.sort();
    assert!(untested.is_empty(), "operations of app.js this test does not exercise: {untested:?}");
    app.stop().await;
}

#[test]
fn the_reader_finds_each_named_document() {
    let js = "const x = 1;\nconst Q = {\n  // a comment\n  one: `query One { viewer { role } }`,\n  two: `mutation Two($input: CohortRefInput!) {\n activateCohort(input: $input) { userErrors { code } } }`,\n};\n";
    let ops = operations(js);
    assert_eq!(ops.keys().collect::<Vec<_>>(), ["one", "two"]);
    assert!(ops["two"].contains("activateCohort"));
    assert!(is_validation_error(&json!({ "message": "Unknown field \"nme\" on type \"Cohort\"" })));
    assert!(!is_validation_error(&json!({ "message": "cohort not found", "extensions": { "code": "NOT_FOUND" } })));
}
