//! GraphiQL at `GET /graphql` works offline: its page loads only files the binary serves at
//! `/graphql/assets/{file}` (with their content types and long cache lifetimes, 404 for any
//! other name), under a `'self'`-only Content-Security-Policy; in headless Chromium with every
//! host but loopback unreachable it renders its editors without a console error and without a
//! request leaving the machine, and a user who puts a token in its headers editor runs a query
//! through it.

use std::path::PathBuf;
use std::time::Duration;

use afterclass_tests::browser::{Browser, CTRL, LaunchOptions, screenshot_path};
use afterclass_tests::{Backend, TestApp, instructor};

/// Every file the page loads, and the licences beside them, with their content types.
const ASSETS: &[(&str, &str)] = &[
    ("graphiql.min.js", "text/javascript; charset=utf-8"),
    ("graphiql.min.css", "text/css; charset=utf-8"),
    ("react.production.min.js", "text/javascript; charset=utf-8"),
    ("react-dom.production.min.js", "text/javascript; charset=utf-8"),
    ("init.js", "text/javascript; charset=utf-8"),
    ("page.css", "text/css; charset=utf-8"),
    ("LICENSE.graphiql", "text/plain; charset=utf-8"),
    ("LICENSE.react", "text/plain; charset=utf-8"),
    ("LICENSE.react-dom", "text/plain; charset=utf-8"),
];

const WAIT: Duration = Duration::from_secs(20);

fn asset_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../api/assets/graphiql")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assets_are_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
    for (name, content_type) in ASSETS {
        let resp = app.client().get(app.url(&format!("/graphql/assets/{name}?v=any"))).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        let headers = resp.headers().clone();
        assert_eq!(headers["content-type"], *content_type, "{name}");
        assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable", "{name}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{name}");
        let body = resp.bytes().await.unwrap();
        let file = std::fs::read(asset_dir().join(name)).unwrap();
        assert!(body[..] == file[..], "{name}: the served bytes differ from the file");
    }
    for unknown in ["nope.js", "graphiql.min.js.map", "README.md", "fetch.sh", "..%2F..%2FCargo.toml", "index.html"] {
        let resp = app.client().get(app.url(&format!("/graphql/assets/{unknown}"))).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{unknown}");
    }

    // The page: HTML under a policy of this origin only, every file it names is served.
    let resp = app.client().get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = resp.text().await.unwrap();
    let names: Vec<&str> =
        html.split("/graphql/assets/").skip(1).map(|rest| rest.split(['?', '"']).next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "graphiql.min.css",
            "page.css",
            "react.production.min.js",
            "react-dom.production.min.js",
            "graphiql.min.js",
            "init.js"
        ]
    );
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");

    // Operations are POSTed: a GET with a query is refused, clearly.
    let resp = app.client().get(app.url("/graphql?query=%7Bviewer%7Bkind%7D%7D")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let body: afterclass_tests::serde_json::Value = resp.json().await.unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("POST /graphql"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_offline_in_a_real_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
    let options = LaunchOptions { window: (1280, 800), ..LaunchOptions::default() };
    let Some(browser) = Browser::launch_with(options).await else { return };
    let page = browser.new_page().await;
    page.goto(&app.url("/graphql")).await.unwrap();

    // GraphiQL rendered its editors; without a token it says what to do instead of asking.
    page.wait_for(".graphiql-container", WAIT).await.unwrap();
    page.wait_for(".graphiql-query-editor .CodeMirror", WAIT).await.unwrap();
    page.wait_for(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror", WAIT).await.unwrap();
    page.wait_for_text(".graphiql-response .result-window", "Put your token in the Headers tab", WAIT).await.unwrap();
    page.screenshot(&screenshot_path("graphiql.png")).await.unwrap();

    // The user pastes a token into the headers editor and writes a query.
    let token = instructor("ada", "t1");
    let headers = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror textarea";
    page.click(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror-lines").await.unwrap();
    page.press("a", CTRL).await.unwrap();
    page.type_text(headers, &format!("{{\"Authorization\": \"Bearer {token}\"}}")).await.unwrap();
    page.click(".graphiql-query-editor .CodeMirror-lines").await.unwrap();
    page.press("a", CTRL).await.unwrap();
    // Named as the default query is: GraphiQL updates the operation name it sends a moment
    // after an edit, and a click right after typing would send the old one.
    page.type_text(
        ".graphiql-query-editor .CodeMirror textarea",
        "query Viewer { viewer { role tenantId person { externalId } } }",
    )
    .await
    .unwrap();
    page.click(".graphiql-execute-button").await.unwrap();

    page.wait_for_text(".graphiql-response .result-window", "\"viewer\"", WAIT).await.unwrap();
    // CodeMirror renders spaces as no-break spaces.
    let result = page.text(".graphiql-response .result-window").await.unwrap().replace('\u{a0}', " ");
    assert!(!result.contains("displayName"), "the default query ran, not the one typed: {result}");
    for expected in ["\"role\": \"INSTRUCTOR\"", "\"tenantId\": \"t1\"", "\"externalId\": \"ada\""] {
        assert!(result.contains(expected), "{expected} is not in the result pane: {result}");
    }
    page.screenshot(&screenshot_path("graphiql-result.png")).await.unwrap();

    assert_eq!(page.console_errors(), Vec::<String>::new(), "console errors");
    // Nothing but this server: no CDN, no font or update service.
    let origin = app.url("/");
    let requests = page.requests();
    let elsewhere: Vec<&String> =
        requests.iter().filter(|url| !url.starts_with(&origin) && !url.starts_with("data:")).collect();
    assert!(elsewhere.is_empty(), "requests that left the server: {elsewhere:#?}");
    assert!(requests.iter().any(|url| url.contains("/graphql/assets/graphiql.min.js")), "{requests:#?}");
    // The check above would see a refused resource: the page's policy holds, and is reported.
    page.eval("const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.append(s);")
        .await
        .unwrap();
    // Chromium's own report of it, and the page's `securitypolicyviolation` event.
    page.wait_for_console_error("Content Security Policy directive 'script-src 'self''", WAIT).await.unwrap();
    page.wait_for_console_error("Content-Security-Policy violation: script-src", WAIT).await.unwrap();
    assert_eq!(page.eval("window.ran === undefined").await.unwrap(), true, "an inline script ran");
    // The query went to the API: the token reached the server and a viewer came back.
    assert!(requests.iter().filter(|url| *url == &app.url("/graphql")).count() >= 2, "{requests:#?}");
}
