//! Budgets: a request over its token's or its tenant's budget is answered 429 with `Retry-After`
//! and one `RATE_LIMITED` error carrying `retryAfter`, and writes nothing; the budget resets when
//! its window ends; a tenant's budget is separate from each token's; two servers on one
//! database share the budgets; and tokens may create only so many tenants and persons just in
//! time per window. Windows are a few seconds long here (`AFTERCLASS_RATE_WINDOW`), and each
//! scenario starts at the beginning of one, so that none straddles a reset.

use std::time::{Duration, Instant};

use afterclass::config::{Config, RateCounters, RateLimits};
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{
    Backend, TestApp, VIEWER, active_cohort, error_codes, fresh_database, instructor, integration, trainee,
};
use sea_orm::{ConnectionTrait, Statement};

/// The length of the windows of these scenarios.
const WINDOW: Duration = Duration::from_secs(4);

fn budgets(adjust: impl Fn(&mut RateLimits)) -> impl Fn(&str) -> Config {
    move |url| {
        let mut cfg = afterclass_tests::config(url);
        cfg.rates = RateLimits::off();
        cfg.rates.window = WINDOW;
        adjust(&mut cfg.rates);
        cfg
    }
}

async fn spawn(backend: Backend, adjust: impl Fn(&mut RateLimits)) -> Option<TestApp> {
    let db = fresh_database(backend).await?;
    Some(TestApp::spawn_with(backend, db, budgets(adjust)).await)
}

/// Sleeps until a window has just begun (windows are aligned to the epoch).
async fn start_of_a_window() {
    let window = WINDOW.as_micros() as i64;
    let now = chrono::Utc::now().timestamp_micros();
    let left = window - now.rem_euclid(window);
    tokio::time::sleep(Duration::from_micros(left as u64 + 20_000)).await;
}

/// Asks who the bearer is; gives the status, the `Retry-After` header and the body.
async fn ask(app: &TestApp, token: &str) -> (u16, Option<String>, Value) {
    let resp = app
        .client()
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .expect("sending the request");
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().expect("an ASCII header").to_owned());
    (status, retry, resp.json().await.expect("a JSON body"))
}

async fn assert_served(app: &TestApp, token: &str) {
    let (status, retry, body) = ask(app, token).await;
    assert_eq!((status, retry), (200, None), "{body:#}");
    assert!(body.get("errors").is_none() && body["data"]["viewer"]["role"].is_string(), "{body:#}");
}

/// What has been spent of every budget counted in the database: its rows and their hits (the
/// harness's `counts` leaves `rate_windows` out).
async fn spent(app: &TestApp) -> (i64, i64) {
    let conn = app.store.reader();
    let sql = "SELECT COUNT(*), CAST(COALESCE(SUM(hits), 0) AS BIGINT) FROM rate_windows";
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("reading the counters")
        .expect("one row");
    (row.try_get_by_index::<i64>(0).expect("a count"), row.try_get_by_index::<i64>(1).expect("a sum"))
}

/// The request is refused as over a budget, naming `what`, and writes nothing: no row anywhere,
/// and nothing spent of any budget.
async fn assert_limited(app: &TestApp, token: &str, what: &str) -> u64 {
    let before = (app.counts().await, spent(app).await);
    let (status, retry, body) = ask(app, token).await;
    assert_eq!(status, 429, "{body:#}");
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body:#}");
    assert!(body["data"].is_null(), "{body:#}");
    let error = &body["errors"][0];
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(what) && message.contains("retry after"), "{message}");
    let seconds = error["extensions"]["retryAfter"].as_u64().expect("retryAfter in whole seconds");
    assert_eq!(retry.as_deref(), Some(seconds.to_string().as_str()), "Retry-After and retryAfter agree");
    assert!((1..=WINDOW.as_secs()).contains(&seconds), "retry after {seconds} s in a window of {WINDOW:?}");
    assert_eq!((app.counts().await, spent(app).await), before, "a refused request wrote rows or spent a budget");
    seconds
}

async fn a_request_over_its_tokens_budget_is_429_and_writes_nothing_until_the_window_ends(app: TestApp) {
    let c = active_cohort(&app, "uni-a", &["tom"]).await;
    start_of_a_window().await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_served(&app, &c.leader).await;
    }
    assert_limited(&app, &c.leader, "one token's bearer may make 3 per 4 seconds").await;
    // A mutation over the budget changes nothing either.
    let before = app.counts().await;
    let body = app
        .gql(&c.leader, afterclass_tests::ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "GOALS_MET" } }))
        .await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body:#}");
    assert_eq!(app.counts().await, before);
    // The progress chart with a bearer token spends the same budget.
    let resp = app
        .client()
        .get(app.url(&format!("/cohorts/{}/progress.svg", c.id)))
        .bearer_auth(&c.leader)
        .send()
        .await
        .expect("asking for the chart");
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some(), "{:?}", resp.headers());
    // Another bearer of the tenant is not held back by this one.
    assert_served(&app, &c.trainees[0]).await;
    assert!(started.elapsed() < WINDOW, "the scenario outran its window: {:?}", started.elapsed());

    // The next window starts afresh.
    start_of_a_window().await;
    for _ in 0..3 {
        assert_served(&app, &c.leader).await;
    }
    assert_limited(&app, &c.leader, "one token's bearer").await;
    app.stop().await;
}

async fn a_tenants_budget_is_shared_by_its_tokens_and_separate_from_each_tokens(app: TestApp) {
    start_of_a_window().await;
    let (ada, bob) = (instructor("ada", "uni-a"), trainee("bob", "uni-a"));
    for _ in 0..3 {
        assert_served(&app, &ada).await;
    }
    // Ada's own budget is spent; the tenant has two requests left.
    assert_limited(&app, &ada, "one token's bearer may make 3").await;
    assert_served(&app, &bob).await;
    assert_served(&app, &bob).await;
    // Bob has spent two of his three, but the tenant's five are gone.
    assert_limited(&app, &bob, "one tenant's tokens may make 5").await;
    // Even a newcomer of the tenant is refused, and is not created.
    assert_limited(&app, &trainee("cy", "uni-a"), "one tenant's tokens").await;
    // Another tenant has its own budget.
    assert_served(&app, &instructor("ada", "uni-b")).await;
    assert_eq!(app.count("persons").await, 3, "ada and bob of uni-a, ada of uni-b");
    app.stop().await;
}

async fn tokens_create_only_so_many_persons_and_tenants_per_window(app: TestApp) {
    start_of_a_window().await;
    // Three new people in a tenant, and then no more.
    for sub in ["p1", "p2", "p3"] {
        assert_served(&app, &trainee(sub, "uni-a")).await;
    }
    for sub in ["p4", "p5", "p6"] {
        assert_limited(&app, &trainee(sub, "uni-a"), "too many new people: tokens may create 3 per 4 seconds").await;
    }
    assert_eq!((app.count("tenants").await, app.count("persons").await), (1, 3));
    // Someone already known is served as ever.
    assert_served(&app, &trainee("p1", "uni-a")).await;
    // A new tenant with a new person needs both budgets: with the persons' spent, neither is
    // created.
    assert_limited(&app, &instructor("ada", "uni-b"), "too many new people").await;
    // The integration account creates a tenant and no person: two tenants a window.
    assert_served(&app, &integration("uni-c")).await;
    assert_limited(&app, &integration("uni-d"), "too many new tenants: tokens may create 2 per 4 seconds").await;
    assert_eq!((app.count("tenants").await, app.count("persons").await), (2, 3));

    // The next window creates again.
    start_of_a_window().await;
    assert_served(&app, &trainee("p4", "uni-a")).await;
    assert_served(&app, &integration("uni-d")).await;
    assert_eq!((app.count("tenants").await, app.count("persons").await), (3, 4));
    app.stop().await;
}

/// Two servers over one database, counting in it, spend one budget: what one serves the other
/// cannot, both for requests and for creation.
async fn two_servers_share_the_budgets(backend: Backend, counters: RateCounters) {
    let Some(db) = fresh_database(backend).await else { return };
    let settings = budgets(move |r| {
        r.per_token = Some(4);
        r.new_persons = Some(3);
        r.counters = counters;
    });
    let one = TestApp::spawn_with(backend, db, &settings).await;
    let two = TestApp::spawn_with(backend, one.db.shared(), &settings).await;
    start_of_a_window().await;
    let ada = instructor("ada", "uni-a");
    assert_served(&one, &ada).await;
    assert_served(&two, &ada).await;
    assert_served(&one, &ada).await;
    assert_served(&two, &ada).await;
    assert_limited(&one, &ada, "one token's bearer may make 4").await;
    assert_limited(&two, &ada, "one token's bearer may make 4").await;
    // Ada was the first new person; two more, whichever server they ask.
    assert_served(&one, &trainee("p2", "uni-a")).await;
    assert_served(&two, &trainee("p3", "uni-a")).await;
    assert_limited(&two, &trainee("p4", "uni-a"), "too many new people").await;
    assert_limited(&one, &trainee("p5", "uni-a"), "too many new people").await;
    assert_eq!(one.count("persons").await, 3);
    two.stop().await;
    one.stop().await;
}

/// The old windows' counters are deleted by later requests.
async fn old_windows_are_swept(backend: Backend) {
    let Some(app) = spawn(backend, |r| {
        r.per_token = Some(100);
        r.counters = RateCounters::Database;
    })
    .await
    else {
        return;
    };
    start_of_a_window().await;
    for sub in ["a", "b", "c"] {
        assert_served(&app, &trainee(sub, "uni-a")).await;
    }
    assert_eq!(spent(&app).await, (3, 3), "one counter per bearer");
    // Two windows on, the first one's counters are stale and go with the next request.
    start_of_a_window().await;
    start_of_a_window().await;
    assert_served(&app, &trainee("a", "uni-a")).await;
    assert_eq!(spent(&app).await, (1, 1), "only the current window's counter is left");
    app.stop().await;
}

/// Reads by 8 clients at once, with the budgets off, counted in memory and counted in the
/// database: what a counter write per request costs. Prints the figures; asserts that every read
/// was served.
async fn what_counting_in_the_database_costs_reads(backend: Backend) {
    let mut figures = Vec::new();
    for (label, counters) in
        [("off", None), ("memory", Some(RateCounters::Memory)), ("database", Some(RateCounters::Database))]
    {
        let Some(app) = spawn(backend, |r| {
            if let Some(counters) = counters {
                r.per_token = Some(1_000_000);
                r.per_tenant = Some(1_000_000);
                r.counters = counters;
            }
        })
        .await
        else {
            return;
        };
        let c = active_cohort(&app, "uni-a", &["t1", "t2", "t3", "t4", "t5", "t6", "t7"]).await;
        let tokens: Vec<String> = std::iter::once(c.leader.clone()).chain(c.trainees.iter().cloned()).collect();
        let app = std::sync::Arc::new(app);
        let query = "query($id: ID!) { cohort(id: $id) { name stage goals { title } } }";
        // Warm up, then measure.
        for token in &tokens {
            app.ok(token, query, json!({ "id": c.id })).await;
        }
        let before = app.store.statements();
        let started = Instant::now();
        let per_client = 60;
        let clients: Vec<_> = tokens
            .iter()
            .map(|token| {
                let (app, token, id) = (app.clone(), token.clone(), c.id.clone());
                tokio::spawn(async move {
                    for _ in 0..per_client {
                        app.ok(&token, query, json!({ "id": id })).await;
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.expect("a client");
        }
        let elapsed = started.elapsed();
        let requests = tokens.len() * per_client;
        let statements = (app.store.statements() - before) as f64 / requests as f64;
        figures.push(format!(
            "{backend:?}, counters {label}: {requests} reads in {elapsed:?}, {:.0} reads/s, {statements:.1} statements each",
            requests as f64 / elapsed.as_secs_f64()
        ));
        if let Ok(app) = std::sync::Arc::try_unwrap(app) {
            app.stop().await;
        }
    }
    for line in &figures {
        println!("{line}");
    }
}

/// Declares each scenario `async fn name(backend: Backend)` as `sqlite::name` and
/// `postgres::name` (which says plainly it is skipped without PostgreSQL).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(afterclass_tests::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(afterclass_tests::Backend::Postgres).await;
                }
            )+
        }
    };
}

on_both_backends!(over_budget, tenant_and_token, creation_cap, shared_by_two_servers, swept, cost_of_counting);

async fn over_budget(backend: Backend) {
    let Some(app) = spawn(backend, |r| r.per_token = Some(3)).await else { return };
    a_request_over_its_tokens_budget_is_429_and_writes_nothing_until_the_window_ends(app).await;
}

async fn tenant_and_token(backend: Backend) {
    let Some(app) = spawn(backend, |r| {
        r.per_token = Some(3);
        r.per_tenant = Some(5);
    })
    .await
    else {
        return;
    };
    a_tenants_budget_is_shared_by_its_tokens_and_separate_from_each_tokens(app).await;
}

async fn creation_cap(backend: Backend) {
    let Some(app) = spawn(backend, |r| {
        r.new_persons = Some(3);
        r.new_tenants = Some(2);
    })
    .await
    else {
        return;
    };
    tokens_create_only_so_many_persons_and_tenants_per_window(app).await;
}

async fn shared_by_two_servers(backend: Backend) {
    // PostgreSQL counts in the database by default; SQLite only when told to.
    let counters = if backend == Backend::Postgres { RateCounters::Auto } else { RateCounters::Database };
    two_servers_share_the_budgets(backend, counters).await;
}

async fn swept(backend: Backend) {
    old_windows_are_swept(backend).await;
}

async fn cost_of_counting(backend: Backend) {
    what_counting_in_the_database_costs_reads(backend).await;
}

/// Two servers over one SQLite file counting in memory each keep their own budget: why SQLite's
/// default is documented as per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_counting_in_memory_is_per_process() {
    let db = fresh_database(Backend::Sqlite).await.expect("SQLite is always available");
    let settings = budgets(|r| r.per_token = Some(2));
    let one = TestApp::spawn_with(Backend::Sqlite, db, &settings).await;
    let two = TestApp::spawn_with(Backend::Sqlite, one.db.shared(), &settings).await;
    start_of_a_window().await;
    let ada = instructor("ada", "uni-a");
    assert_served(&one, &ada).await;
    assert_served(&one, &ada).await;
    assert_limited(&one, &ada, "one token's bearer may make 2").await;
    assert_served(&two, &ada).await;
    assert_eq!(spent(&one).await, (0, 0), "nothing counted in the database");
    two.stop().await;
    one.stop().await;
}

/// The service's default budgets are in force where no one says otherwise, and the harness's
/// servers run with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_defaults_budget_every_request() {
    let cfg = afterclass_tests::config("sqlite://unused");
    assert_eq!(cfg.rates, RateLimits::default());
    assert_eq!(
        (cfg.rates.per_token, cfg.rates.per_tenant, cfg.rates.new_tenants, cfg.rates.new_persons),
        (Some(1_200), Some(12_000), Some(60), Some(600))
    );
    assert_eq!(cfg.rates.window, Duration::from_secs(60));
}
