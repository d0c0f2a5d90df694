//! Hostile GraphQL, measured by work: fragment spreads counted after expansion, aliases charged
//! for the statements they run, the worst request the limits allow counted statement by
//! statement, a per-request time limit, and SIGTERM stopping the server while a request hangs.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use afterclass::graphql::limits;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{Backend, TestApp, active_cohort, error_codes, fresh_database, on_both_stores, ops};

on_both_stores!(
    an_alias_per_health_snapshot_is_refused_before_anything_runs,
    the_worst_requests_the_limits_allow_run_a_bounded_number_of_statements
);

/// `levels` fragments, each spreading the previous one twice: 2^levels fields once expanded.
fn doubling_fragments(levels: usize) -> String {
    let mut doc = format!("query {{ viewer {{ ...F{levels} }} }}\nfragment F1 on Viewer {{ role tenantId }}\n");
    for i in 2..=levels {
        doc.push_str(&format!("fragment F{i} on Viewer {{ ...F{p} ...F{p} }}\n", p = i - 1));
    }
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doubling_fragments_are_refused_at_once_and_health_answers_meanwhile() {
    let app = TestApp::spawn(afterclass_tests::Backend::Sqlite).await.unwrap();
    let ada = afterclass_tests::instructor("ada", "t");
    let doc = doubling_fragments(25);
    assert!(doc.len() < 1_200, "the document is about 1 KB: {}", doc.len());
    let started = Instant::now();
    let (body, healthz) = tokio::join!(
        // Twice at once, as an attacker would.
        async {
            let (a, b) = tokio::join!(app.gql(&ada, &doc, json!({})), app.gql(&ada, &doc, json!({})));
            assert_eq!(error_codes(&a), error_codes(&b));
            a
        },
        async {
            let resp = app.client().get(app.url("/healthz")).send().await.unwrap();
            (resp.status().as_u16(), started.elapsed())
        }
    );
    let elapsed = started.elapsed();
    println!("25-level fragment document (twice at once): answered in {elapsed:?}");
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body:#}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("fragments are expanded"), "{body:#}");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert_eq!(healthz.0, 200);
    assert!(healthz.1 < Duration::from_secs(1), "/healthz took {:?}", healthz.1);
    // A cycle is refused the same way, before validation.
    let cycle = "{ viewer { ...A } } fragment A on Viewer { role ...B } fragment B on Viewer { ...A }";
    assert_eq!(error_codes(&app.gql(&ada, cycle, json!({})).await), ["BAD_USER_INPUT"]);
    // Fragments that stay within the bound still work.
    let data = app.ok(&ada, &doubling_fragments(8), json!({})).await;
    assert_eq!(data["viewer"]["role"], "INSTRUCTOR");
    app.stop().await;
}

/// Statements one request runs, as `statements.rs` counts them.
async fn statements_of(app: &TestApp, token: &str, query: &str, variables: Value) -> (u64, Value) {
    let before = app.store.statements();
    let body = app.gql(token, query, variables).await;
    (app.store.statements() - before, body)
}

fn moment(i: usize) -> String {
    (chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap() + chrono::Duration::seconds(i as i64))
        .with_timezone(&chrono::Utc)
        .to_rfc3339()
}

async fn an_alias_per_health_snapshot_is_refused_before_anything_runs(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "una"]).await;
    let aliases: String = (0..2_400).map(|i| format!("h{i}: health(asOf: \"{}\") {{ status }} ", moment(i))).collect();
    let doc = format!("query($id: ID!) {{ cohort(id: $id) {{ {aliases} }} }}");
    let (baseline, _) = statements_of(&app, &c.leader, "{ viewer { role } }", json!({})).await;
    let started = Instant::now();
    let (statements, body) = statements_of(&app, &c.leader, &doc, json!({ "id": c.id })).await;
    let elapsed = started.elapsed();
    println!("2,400 health aliases: refused in {elapsed:?}, {statements} statements");
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body:#}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("complex"), "{body:#}");
    assert!(body["data"].is_null(), "{body:#}");
    // Nothing but resolving the viewer.
    assert!(statements <= baseline, "{statements} statements for a refused request (a trivial one: {baseline})");
    // Parsing and validating 120 KB: about 0.3 s alone in a debug build, more beside other suites.
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    app.stop().await;
}

/// The largest `n` for which `build(n)` is within the limits, counting down from `from`, and
/// the statements and body of running it. Refused probes run nothing.
async fn largest_allowed(
    app: &TestApp,
    token: &str,
    from: usize,
    variables: &Value,
    build: impl Fn(usize) -> String,
) -> (usize, u64, Value) {
    for n in (1..=from).rev() {
        let (statements, body) = statements_of(app, token, &build(n), variables.clone()).await;
        let too_complex = body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("too complex"));
        if !too_complex {
            assert!(n < from, "{from} is within the limits: start higher");
            return (n, statements, body);
        }
    }
    panic!("not even one is within the limits");
}

/// A kind of expensive request: its name, where to count down from, and the request of `n`.
type Shape = (&'static str, usize, Box<dyn Fn(usize) -> String>);

fn aliased(n: usize, field: impl Fn(usize) -> String) -> String {
    (0..n).map(|i| format!("a{i}: {} ", field(i))).collect()
}

async fn the_worst_requests_the_limits_allow_run_a_bounded_number_of_statements(app: TestApp) {
    let c = active_cohort(&app, "t", &["tom", "una", "vic"]).await;
    for (i, token) in c.trainees.iter().enumerate() {
        app.ok(
            token,
            ops::CHECK_IN,
            json!({ "input": { "cohortId": c.id, "goalId": c.goal_id, "value": i as f64 + 1.0 } }),
        )
        .await;
    }
    // More cohorts, so that lists have rows to multiply by.
    let mut cohort_ids = vec![c.id.clone()];
    for i in 0..12 {
        let input = json!({ "input": { "name": format!("Rust circle {i}"), "domain": "Rust programming",
            "purpose": "Keep practising", "horizon": "OPEN_ENDED" } });
        let data = app.ok(&c.leader, ops::CREATE, input).await;
        cohort_ids.push(data["createCohort"]["cohort"]["id"].as_str().expect("a cohort id").to_owned());
    }
    // Counting down from above what the budget buys.
    let budget = afterclass::config::Limits::default().complexity;
    let from = |statements: usize| budget / (statements * limits::STATEMENT) + 5;
    let vars = json!({ "id": c.id });
    let in_cohort = |fields: String| format!("query($id: ID!) {{ cohort(id: $id) {{ {fields} }} }}");
    let shapes: Vec<Shape> = vec![
        (
            "health snapshots at distinct moments",
            from(limits::SNAPSHOT_STATEMENTS),
            Box::new(move |n| in_cohort(aliased(n, |i| format!("health(asOf: \"{}\") {{ status }}", moment(i))))),
        ),
        (
            "evaluations at distinct moments",
            from(limits::SNAPSHOT_STATEMENTS),
            Box::new(move |n| {
                in_cohort(aliased(n, |i| format!("evaluation(asOf: \"{}\") {{ recommendation }}", moment(i))))
            }),
        ),
        (
            "progress at distinct moments",
            from(limits::PROGRESS_STATEMENTS),
            Box::new(move |n| {
                in_cohort(format!(
                    "goals {{ {} }}",
                    aliased(n, |i| format!("progress(asOf: \"{}\") {{ current }}", moment(i)))
                ))
            }),
        ),
        (
            "participation at distinct moments",
            from(limits::PARTICIPATION_STATEMENTS),
            Box::new(move |n| {
                in_cohort(format!(
                    "members(first: 1) {{ nodes {{ {} }} }}",
                    aliased(n, |i| format!("participation(asOf: \"{}\")", moment(i)))
                ))
            }),
        ),
        (
            "meeting windows",
            from(limits::WINDOW_STATEMENTS),
            Box::new(move |n| {
                in_cohort(aliased(n, |i| {
                    format!("meetings(from: \"{}\", to: \"{}\") {{ id }}", moment(i), moment(i + 3600))
                }))
            }),
        ),
        (
            "next meetings after distinct moments",
            from(limits::NEXT_MEETING_STATEMENTS),
            Box::new(move |n| in_cohort(aliased(n, |i| format!("nextMeeting(after: \"{}\") {{ id }}", moment(i))))),
        ),
        (
            // Each lookup finishes at its own time, so their snapshots need not share a batch:
            // a snapshot at the request's moment is charged in full for that reason.
            "health at the request's moment of cohorts looked up one by one",
            from(limits::SNAPSHOT_STATEMENTS),
            Box::new(move |n| {
                let ids = cohort_ids.clone();
                format!(
                    "{{ {} }}",
                    aliased(n, |i| format!(
                        "cohort(id: \"{}\") {{ health {{ status }} evaluation {{ recommendation }} }}",
                        ids[i % ids.len()]
                    ))
                )
            }),
        ),
        (
            "node lookups",
            from(limits::NODE_STATEMENTS),
            Box::new(|n| format!("query($id: ID!) {{ {} }}", aliased(n, |_| "node(id: $id) { id }".into()))),
        ),
        (
            "member pages of every cohort",
            from(limits::PAGE_STATEMENTS + limits::LOOKUP_STATEMENTS) / 13 + 5,
            Box::new(|n| {
                format!(
                    "{{ cohorts(first: 13) {{ nodes {{ {} }} }} }}",
                    aliased(n, |_| "members(first: 1) { totalCount } outsideInterest".into())
                )
            }),
        ),
        (
            "searches",
            from(limits::SEARCH_STATEMENTS),
            Box::new(|n| {
                format!("{{ {} }}", aliased(n, |_| "searchCohorts(query: \"rust\", first: 1) { totalCount }".into()))
            }),
        ),
        (
            "similar cohorts",
            from(limits::SIMILARITY_STATEMENTS),
            Box::new(|n| {
                format!(
                    "{{ {} }}",
                    aliased(n, |_| "similarCohorts(input: { domain: \"Rust\", limit: 1 }) { score }".into())
                )
            }),
        ),
    ];
    let mut worst = (0, "");
    for (name, start, build) in &shapes {
        let (n, statements, body) = largest_allowed(&app, &c.leader, *start, &vars, build).await;
        println!("worst allowed ({:?}): {n} × {name}: {statements} statements", app.backend);
        assert!(body["data"].is_object(), "{name}: {body:#}");
        assert!(statements <= 500, "{name}: {n} of them ran {statements} statements");
        if statements > worst.0 {
            worst = (statements, name);
        }
    }
    // Writes: as many check-ins as one request may log.
    let check_in = |n: usize| {
        format!(
            "mutation($c: ID!, $g: ID!) {{ {} }}",
            aliased(n, |i| format!(
                "logCheckIn(input: {{ cohortId: $c, goalId: $g, value: {i} }}) {{ userErrors {{ code }} }}"
            ))
        )
    };
    let write_vars = json!({ "c": c.id, "g": c.goal_id });
    let (n, statements, body) =
        largest_allowed(&app, &c.trainees[0], from(limits::MUTATION_STATEMENTS), &write_vars, check_in).await;
    println!("worst allowed ({:?}): {n} × logCheckIn: {statements} statements", app.backend);
    assert!(body["data"].is_object() && body.get("errors").is_none(), "{body:#}");
    assert!(statements <= 500, "{n} check-ins ran {statements} statements");
    println!("worst allowed request ({:?}): {} statements ({})", app.backend, worst.0, worst.1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_its_time_limit_is_stopped_with_a_clear_error() {
    // The cohort is set up through a server with the default limit (set-up requests of a loaded
    // machine may take 30 ms too), then a second server over the same file has the short one.
    let setup = TestApp::sqlite_with(|_| {}).await;
    let c = active_cohort(&setup, "t", &["tom", "una"]).await;
    let app = TestApp::spawn_with(Backend::Sqlite, setup.db.shared(), |url| {
        let mut cfg = afterclass_tests::config(url);
        cfg.limits.request_timeout = Duration::from_millis(30);
        cfg
    })
    .await;
    // As many snapshots as the limits allow: far more than 30 ms of statements.
    let n = 5_000 / (limits::field(limits::SNAPSHOT_STATEMENTS, 1) + 1);
    let doc = format!(
        "query($id: ID!) {{ cohort(id: $id) {{ {} }} }}",
        aliased(n, |i| format!("health(asOf: \"{}\") {{ status }}", moment(i)))
    );
    let started = Instant::now();
    let (status, body) = app.gql_raw(Some(&c.leader), json!({ "query": doc, "variables": { "id": c.id } })).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), [limits::TIMEOUT_CODE], "{body:#}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("30 ms"), "{body:#}");
    assert!(body["errors"][0]["extensions"]["requestId"].is_string(), "{body:#}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    // The stopped request's loads stop with it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let settled = app.store.statements();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.store.statements(), settled, "statements still ran after the request was stopped");
    // The server goes on serving.
    let data = app.ok(&c.leader, "{ viewer { role } }", json!({})).await;
    assert_eq!(data["viewer"]["role"], "INSTRUCTOR");
    app.stop().await;
    setup.stop().await;
}

/// Set in a child process: `child_server` then serves instead of returning.
const CHILD: &str = "AFTERCLASS_TEST_HOSTILE_CHILD";

/// Not a test of its own: the body of the child process `sigterm_…` starts.
#[test]
fn child_server() {
    afterclass_tests::serve_if_child(CHILD);
}

fn start_child(database_url: &str, grace: &str) -> (Child, SocketAddr) {
    let mut command = afterclass_tests::child_server_command(CHILD, database_url);
    command
        .env("AFTERCLASS_SWEEP_INTERVAL", "off")
        .env("AFTERCLASS_REQUEST_TIMEOUT", "60s")
        .env("AFTERCLASS_SHUTDOWN_GRACE", grace);
    #[allow(clippy::zombie_processes)] // the test waits for it, or kills and waits on failure
    let mut child = command.spawn().expect("starting the child server");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child server did not say where it serves: {err}");
            }
        };
        if let Some(addr) = line
            .split_once("serving GraphQL at http://")
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|a| a.parse().ok())
        {
            return (child, addr);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_within_its_grace_while_a_request_hangs() {
    let db = fresh_database(afterclass_tests::Backend::Sqlite).await.unwrap();
    let (mut child, addr) = start_child(&db.url, "2s");
    // A request that never finishes: headers and half a body, then silence.
    let mut hanging = std::net::TcpStream::connect(addr).unwrap();
    let token = afterclass_tests::instructor("ada", "t");
    write!(
        hanging,
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"query\": \"{{ viewer"
    )
    .unwrap();
    hanging.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("SIGTERM did not stop the server within 10 s (grace 2 s)");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed();
    println!("SIGTERM with a hanging request: exited in {took:?} (grace 2 s)");
    assert!(exited.success(), "{exited:?}");
    assert!(took >= Duration::from_secs(2), "the grace period was not given: {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    drop(hanging);
}
