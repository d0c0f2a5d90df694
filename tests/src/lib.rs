//! The end-to-end test harness: a real server on a free port, over a fresh SQLite file or a
//! fresh PostgreSQL database per test, driven over HTTP with real signed tokens.
//!
//! The PostgreSQL suite runs whenever `AFTERCLASS_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates its own database beside the one
//! named and drops it afterwards. Without the variable the suite says plainly that it is skipped,
//! and under CI (`CI` set) a missing variable fails the run instead.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

pub mod browser;
pub mod lti_platform;
pub mod receiver;
pub mod smtp;

use afterclass::config::{AuthConfig, Config, KeyConfig, Limits};
use afterclass::store::Store;
use afterclass_domain::access::ViewerRole;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

pub use serde_json;

/// The HS256 secret every test server uses.
pub const SECRET: &[u8] = b"test-secret-for-the-end-to-end-suites";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A fresh, empty database of the backend, or `None` when PostgreSQL is not configured.
pub async fn fresh_database(backend: Backend) -> Option<TestDatabase> {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("afterclass-tests").join(unique("t"));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("afterclass.db");
            Some(TestDatabase { url: format!("sqlite://{}", file.display()), dir: Some(dir), pg: None })
        }
        Backend::Postgres => {
            let admin_url = postgres_url()?;
            let name = unique("afterclass_t");
            let admin = Database::connect(admin_url.as_str()).await.expect("connecting to PostgreSQL");
            admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("creating a test database");
            admin.close().await.ok();
            let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin_url.clone());
            Some(TestDatabase { url: format!("{base}/{name}"), dir: None, pg: Some((admin_url, name)) })
        }
    }
}

/// Says plainly that `suite` is skipped and why (`how` to run it); under CI (`CI` set) nothing
/// may be skipped, so it fails instead. The one place that decides what a missing part does.
pub fn skipped(suite: &str, how: &str) {
    assert!(std::env::var_os("CI").is_none(), "{suite} may not be skipped under CI: {how}");
    // Written past the test harness's output capture, so it is seen in every run.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {suite} ({how})");
}

/// The PostgreSQL URL, or `None` after saying plainly that the suite is skipped.
pub fn postgres_url() -> Option<String> {
    match std::env::var("AFTERCLASS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skipped(
                "PostgreSQL suite",
                "set AFTERCLASS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test to run it",
            );
            None
        }
    }
}

/// A database made for one test and removed after it.
pub struct TestDatabase {
    pub url: String,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl TestDatabase {
    /// The SQLite file, for SQLite databases.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("afterclass.db"))
    }

    /// A database the test made itself at `url` (a private PostgreSQL server, a SQLite file on a
    /// filesystem of its own), which it also removes itself: dropping this removes nothing.
    pub fn at(url: &str) -> TestDatabase {
        TestDatabase { url: url.to_owned(), dir: None, pg: None }
    }

    /// Another handle on the same database, for a second server over it; dropping it removes
    /// nothing.
    pub fn shared(&self) -> TestDatabase {
        TestDatabase { url: self.url.clone(), dir: None, pg: None }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin_url, name)) = self.pg.take() {
            // Dropping runs outside any runtime the test may be tearing down.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let admin = Database::connect(admin_url.as_str()).await.ok()?;
                    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()?;
                    admin.close().await.ok()
                })
            })
            .join();
        }
    }
}

/// The configuration a test server runs with.
pub fn config(database_url: &str) -> Config {
    Config {
        database_url: database_url.to_owned(),
        max_connections: 5,
        store: afterclass::config::StoreSettings::default(),
        auth: AuthConfig {
            key: KeyConfig::Hs256(SECRET.to_vec()),
            issuer: None,
            audience: None,
            platform_keys: None,
            max_lifetime: afterclass::config::DEFAULT_MAX_TOKEN_LIFETIME,
        },
        introspection: true,
        limits: Limits::default(),
        link_secret: None,
        public_url: None,
        // Receivers at private addresses are refused, as in production; suites that run a
        // receiver on loopback allow them explicitly.
        webhooks: afterclass::config::WebhookSettings::default(),
        lti: None,
        mail: None,
        retention: None,
        // The service's default budgets: no suite may come near them.
        rates: afterclass::config::RateLimits::default(),
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub backend: Backend,
    pub store: Store,
    client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), String>>>,
    // Declared last so that it is dropped after the server is gone.
    pub db: TestDatabase,
}

impl TestApp {
    /// A server over a fresh database; `None` when the backend is not configured here.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        let db = fresh_database(backend).await?;
        Some(Self::spawn_with(backend, db, config).await)
    }

    /// A server over `db` with a configuration of the test's making.
    pub async fn spawn_with(backend: Backend, db: TestDatabase, make: impl Fn(&str) -> Config) -> TestApp {
        // `AFTERCLASS_TEST_LOG=afterclass=debug` shows the server's logs, internal causes included.
        if let Ok(filter) = std::env::var("AFTERCLASS_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let cfg = make(&db.url);
        let server =
            afterclass::http::Server::bind(&cfg, "127.0.0.1:0".parse().unwrap()).await.expect("starting the server");
        let addr = server.local_addr().unwrap();
        let store = server.store().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        TestApp { addr, backend, store, client: reqwest::Client::new(), shutdown: Some(tx), handle: Some(handle), db }
    }

    /// A server over a fresh SQLite file whose configuration `adjust` changes from the test
    /// default (HS256 with [`SECRET`]).
    pub async fn sqlite_with(adjust: impl Fn(&mut Config)) -> TestApp {
        let db = fresh_database(Backend::Sqlite).await.expect("SQLite is always available");
        Self::spawn_with(Backend::Sqlite, db, |url| {
            let mut cfg = config(url);
            adjust(&mut cfg);
            cfg
        })
        .await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// POSTs a GraphQL operation and returns the whole response body.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql_raw(Some(token), json!({ "query": query, "variables": variables })).await.1
    }

    /// POSTs any JSON body, with or without a bearer token; gives the status and the body.
    pub async fn gql_raw(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.client.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("sending the request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// POSTs the [`VIEWER`] query with this `Authorization` header (or none); gives the status
    /// and the body.
    pub async fn ask_viewer(&self, authorization: Option<&str>) -> (u16, Value) {
        let mut req = self.client.post(self.url("/graphql")).json(&json!({ "query": VIEWER }));
        if let Some(value) = authorization {
            req = req.header("Authorization", value);
        }
        let resp = req.send().await.expect("sending the request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The request is refused as the API refuses every bad credential (401, one
    /// `UNAUTHENTICATED` error, no data) and no row anywhere was written; gives the body.
    pub async fn assert_refused(&self, authorization: Option<&str>) -> Value {
        let before = self.counts().await;
        let (status, body) = self.ask_viewer(authorization).await;
        assert_refusal(status, &body);
        assert_eq!(self.counts().await, before, "a refused request wrote rows");
        body
    }

    /// [`TestApp::assert_refused`] for a bearer token.
    pub async fn assert_refused_token(&self, token: &str) -> Value {
        self.assert_refused(Some(&format!("Bearer {token}"))).await
    }

    /// Runs an operation that must succeed without any error; gives its `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// Every table of the store, as the database itself lists them, so that a new table is
    /// counted without anyone remembering to name it here. Two bookkeeping tables are left out:
    /// the migrator's (`seaql_migrations`, written by `migrate` and never by a request) and the
    /// request budgets' counters (`rate_windows`, where on PostgreSQL every admitted request is
    /// counted before it runs, whatever it then does; the rate-limit suite counts what a request
    /// refused over its budget spends there: nothing). On SQLite this includes the full-text
    /// index and its shadow tables; on PostgreSQL the base tables of the test database's own
    /// schema.
    pub async fn tables(&self) -> Vec<String> {
        let conn = self.store.reader();
        let backend = conn.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT IN ('seaql_migrations', 'rate_windows') ORDER BY name"
            }
            _ => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_type = 'BASE TABLE' AND table_name NOT IN ('seaql_migrations', 'rate_windows') \
                 ORDER BY table_name"
            }
        };
        let rows = conn.query_all_raw(Statement::from_string(backend, sql)).await.expect("listing the tables");
        let tables: Vec<String> = rows.iter().map(|r| r.try_get_by_index::<String>(0).expect("a table name")).collect();
        assert!(tables.iter().any(|t| t == "cohorts"), "the store's tables were not found: {tables:?}");
        tables
    }

    /// Rows in every table ([`TestApp::tables`]), counted in one statement.
    pub async fn counts(&self) -> BTreeMap<String, i64> {
        let tables = self.tables().await;
        let sql = tables
            .iter()
            .map(|t| format!("SELECT '{t}' AS t, COUNT(*) AS n FROM \"{t}\""))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let conn = self.store.reader();
        let rows =
            conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await.expect("counting rows");
        let out: BTreeMap<String, i64> = rows
            .iter()
            .map(|r| (r.try_get_by_index::<String>(0).unwrap(), r.try_get_by_index::<i64>(1).unwrap()))
            .collect();
        assert_eq!(out.len(), tables.len(), "a count for every table");
        out
    }

    /// Waits until every event in the store's log is settled (see `afterclass::store::events::
    /// Position`): on PostgreSQL a transaction of any suite running on the same server may hold
    /// the horizon back for a moment, so readers of the log see an event a little after its
    /// commit. Immediate on SQLite.
    pub async fn settle(&self) {
        settle(&self.store).await
    }

    pub async fn count(&self, table: &str) -> i64 {
        let conn = self.store.reader();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM \"{table}\""),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

/// A signed token as an LMS would issue it.
pub fn token(sub: &str, role: ViewerRole, tenant: &str) -> String {
    let signer = afterclass::auth::Signer::new(&config("sqlite://unused").auth).unwrap();
    signer
        .sign(sub, tenant, role, Some(&format!("{sub} (test)")), chrono::Duration::hours(1), chrono::Utc::now())
        .unwrap()
}

pub fn instructor(sub: &str, tenant: &str) -> String {
    token(sub, ViewerRole::Instructor, tenant)
}

pub fn trainee(sub: &str, tenant: &str) -> String {
    token(sub, ViewerRole::Trainee, tenant)
}

pub fn integration(tenant: &str) -> String {
    token("lms", ViewerRole::Integration, tenant)
}

/// Who the bearer of a token is, as the API sees them.
pub const VIEWER: &str = "{ viewer { person { externalId displayName } role tenantId } }";

/// The answer the API gives every bad credential: 401 with one `UNAUTHENTICATED` error and no
/// data.
pub fn assert_refusal(status: u16, body: &Value) {
    assert_eq!(status, 401, "{body:#}");
    assert_eq!(error_codes(body), ["UNAUTHENTICATED"], "{body:#}");
    assert!(body["data"].is_null(), "{body:#}");
}

/// The `extensions.code` of every top-level error.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errs| errs.iter().filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The `code` of every user error in a payload.
pub fn user_error_codes(payload: &Value) -> Vec<String> {
    payload["userErrors"]
        .as_array()
        .map(|errs| errs.iter().filter_map(|e| e["code"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Declares each scenario `async fn name(app: TestApp)` as two tests, `sqlite::name` and
/// `postgres::name`, each over its own fresh database.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.expect("SQLite is always available");
                    super::$name(app).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await else { return };
                    super::$name(app).await;
                }
            )+
        }
    };
}

/// Common operations, so that suites read as the story they tell.
pub mod ops {
    pub const CREATE: &str = r#"mutation($input: CreateCohortInput!) {
        createCohort(input: $input) { cohort { id stage name } userErrors { field message code } } }"#;
    pub const ADD_GOAL: &str = r#"mutation($input: AddGoalInput!) {
        addGoal(input: $input) { goal { id } userErrors { field message code } } }"#;
    pub const SET_CONDUCT: &str = r#"mutation($input: SetCodeOfConductInput!) {
        setCodeOfConduct(input: $input) { cohort { id codeOfConduct { version } } userErrors { field message code } } }"#;
    pub const ACTIVATE: &str = r#"mutation($input: CohortRefInput!) {
        activateCohort(input: $input) { cohort { id stage activatedAt } userErrors { field message code } } }"#;
    pub const ACCEPT: &str = r#"mutation($input: AcceptCodeOfConductInput!) {
        acceptCodeOfConduct(input: $input) { membership { id status conductAcceptedVersion } userErrors { field message code } } }"#;
    pub const CHECK_IN: &str = r#"mutation($input: LogCheckInInput!) {
        logCheckIn(input: $input) { checkIn { id value occurredAt } userErrors { field message code } } }"#;
    pub const DISBAND: &str = r#"mutation($input: DisbandCohortInput!) {
        disbandCohort(input: $input) { cohort { id stage endedAt } userErrors { field message code } } }"#;
    pub const ADD_MEMBERS: &str = r#"mutation($input: AddMembersInput!) {
        addMembers(input: $input) { memberships { id status role } userErrors { field message code } } }"#;
    pub const LEAVE: &str = r#"mutation($input: CohortRefInput!) {
        leaveCohort(input: $input) { membership { id status } userErrors { field message code } } }"#;
}

/// A cohort ready for check-ins: created by `leader` with a roster of `trainees`, a SUM goal,
/// a code of conduct, activated, and every trainee has accepted.
pub struct ActiveCohort {
    pub id: String,
    pub goal_id: String,
    pub leader: String,
    pub trainees: Vec<String>,
}

pub async fn active_cohort(app: &TestApp, tenant: &str, trainees: &[&str]) -> ActiveCohort {
    let people: Vec<(&str, Option<&str>)> = trainees.iter().map(|t| (*t, None)).collect();
    active_cohort_with_emails(app, tenant, &people).await
}

/// As [`active_cohort`], each trainee on the roster with an email address or none.
pub async fn active_cohort_with_emails(app: &TestApp, tenant: &str, people: &[(&str, Option<&str>)]) -> ActiveCohort {
    let trainees: Vec<&str> = people.iter().map(|(t, _)| *t).collect();
    let leader = instructor("ada", tenant);
    let roster: Vec<Value> = people
        .iter()
        .map(|(t, email)| json!({ "externalId": t, "displayName": format!("Trainee {t}"), "email": email }))
        .collect();
    let data = app
        .ok(
            &leader,
            ops::CREATE,
            json!({ "input": {
                "name": "Rust practice circle", "domain": "Rust programming", "purpose": "Keep practising",
                "horizon": "SHORT_TERM", "codeOfConduct": "Be kind.", "roster": roster,
                "course": { "lmsCourseId": "RUST-101", "title": "Rust Fundamentals", "endedOn": "2026-11-20" } } }),
        )
        .await;
    let id = data["createCohort"]["cohort"]["id"].as_str().expect("a cohort id").to_owned();
    let data = app
        .ok(&leader, ops::ADD_GOAL, json!({ "input": { "cohortId": id, "title": "Exercises", "unit": "exercises", "target": 100.0, "aggregation": "SUM" } }))
        .await;
    let goal_id = data["addGoal"]["goal"]["id"].as_str().expect("a goal id").to_owned();
    let data = app.ok(&leader, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
    let mut tokens = Vec::new();
    for t in &trainees {
        let tok = trainee(t, tenant);
        let data = app.ok(&tok, ops::ACCEPT, json!({ "input": { "cohortId": id, "version": 1 } })).await;
        assert_eq!(data["acceptCodeOfConduct"]["membership"]["status"], "ACTIVE", "{data:#}");
        tokens.push(tok);
    }
    ActiveCohort { id, goal_id, leader, trainees: tokens }
}

/// The command that runs this test binary's `child_server` test as an `afterclass serve` process
/// over `database_url` (for suites that signal or kill a real server): `child_flag` is the
/// variable that tells `child_server` to serve, the test secret signs tokens, and no
/// `AFTERCLASS_*` setting of the environment running the tests leaks in. Its stdout is piped (the
/// server says there where it serves).
pub fn child_server_command(child_flag: &str, database_url: &str) -> std::process::Command {
    use std::process::Stdio;
    let mut command = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    command.args(["child_server", "--exact", "--nocapture", "--test-threads=1"]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AFTERCLASS_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    command
        .env(child_flag, "1")
        .env("DATABASE_URL", database_url)
        .env("AFTERCLASS_JWT_SECRET", std::str::from_utf8(SECRET).expect("an ASCII secret"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// The body of a suite's `child_server` test: without `child_flag` set it returns at once (so it
/// passes as an ordinary test); with it, it runs `afterclass serve` on a free port with the
/// settings [`child_server_command`] gave it, until the server stops.
pub fn serve_if_child(child_flag: &str) {
    if std::env::var_os(child_flag).is_none() {
        return;
    }
    let cli = <afterclass::cli::Cli as clap::Parser>::parse_from(["afterclass", "serve", "--bind", "127.0.0.1:0"]);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let result = runtime.block_on(afterclass::cli::run(cli));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Err(err) = result {
        panic!("afterclass serve failed: {err}");
    }
}

/// [`TestApp::settle`] for any store.
pub async fn settle(store: &Store) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let unsettled = afterclass::store::events::unsettled(store.reader()).await.unwrap();
        if unsettled == 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{unsettled} events never settled");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The most any one wait on a child server may take before the test fails instead of hanging.
const CHILD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `afterclass serve` in a child process. Dropping it kills the process, so that a failing test
/// leaves nothing running.
pub struct ChildServer {
    child: std::process::Child,
    pub addr: SocketAddr,
    client: reqwest::Client,
}

impl ChildServer {
    /// Starts the server over `database_url`, with `settings` besides the harness's, as the
    /// child process that `child_flag` makes the binary's `child_server` test serve (see
    /// [`child_server_command`]), and waits until it says where it serves.
    pub fn start(child_flag: &str, database_url: &str, settings: &[(&str, &str)]) -> ChildServer {
        // Only the settings the harness gives: none that the environment running the tests may carry.
        let mut command = child_server_command(child_flag, database_url);
        command.envs(settings.iter().copied());
        let mut child = command.spawn().expect("starting the child server");
        let stdout = child.stdout.take().expect("the child's stdout");

        // Read stdout to its end on a thread of its own, so that the child never blocks on (or
        // fails writing to) a full or closed pipe.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep draining.
                    continue;
                }
            }
        });

        // From here on, a failure drops `server`, which kills the child.
        let mut server = ChildServer { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), client: child_client() };
        let deadline = std::time::Instant::now() + CHILD_WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = served_address(&line) {
                        server.addr = addr;
                        return server;
                    }
                    seen.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the child server did not say where it serves within {CHILD_WAIT:?}; its output: {seen:#?}")
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait();
                    panic!("the child server exited ({status:?}) before serving; its output: {seen:#?}")
                }
            }
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill").args(["-TERM", &self.pid()]).status().expect("running kill");
        assert!(status.success(), "kill -TERM {} failed: {status}", self.pid());
        self.wait().await
    }

    /// Sends SIGKILL and waits for the process to be gone.
    pub async fn kill(&mut self) -> std::process::ExitStatus {
        self.child.kill().expect("killing the child server");
        self.wait().await
    }

    pub async fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + CHILD_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the child server") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "the child server did not exit within {CHILD_WAIT:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// POSTs an operation; gives the whole body.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let resp = self
            .client
            .post(format!("http://{}/graphql", self.addr))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("sending the request");
        assert_eq!(resp.status().as_u16(), 200, "HTTP status");
        resp.json().await.expect("a JSON body")
    }

    /// Runs an operation that must succeed without any error; gives its `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// Runs a mutation whose payload (the only field of `data`) must carry no user errors.
    pub async fn mutate(&self, token: &str, mutation: &str, input: Value) -> Value {
        let data = self.ok(token, mutation, json!({ "input": input })).await;
        let payload = data.as_object().and_then(|d| d.values().next()).cloned().unwrap_or(Value::Null);
        assert_eq!(payload["userErrors"], json!([]), "{data:#}");
        payload
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Harmless when the child has exited already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for a [`ChildServer`]: no request waits longer than a child may take.
pub fn child_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(CHILD_WAIT).build().expect("an HTTP client")
}

/// The address in "Afterclass is serving GraphQL at http://ADDR/graphql …".
fn served_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("serving GraphQL at http://")?;
    rest.split('/').next()?.parse().ok()
}

/// One kept tally without its row id: membership, goal key, check-in, occurred at, check-ins,
/// value sum, latest at, latest id, latest value.
pub type TallyRow = (i64, i64, i64, i64, i64, f64, Option<i64>, Option<i64>, Option<f64>);

/// Every tally of the cohort's members, without the row ids, in a stable order (to compare the
/// kept tallies with rebuilt ones).
pub async fn tally_rows(conn: &impl ConnectionTrait, cohort_id: i64) -> Vec<TallyRow> {
    let sql = format!(
        "SELECT t.membership_id, t.goal_key, t.check_in_id, t.occurred_at, t.check_ins, t.value_sum, \
                t.latest_at, t.latest_id, t.latest_value \
         FROM check_in_tallies t JOIN memberships m ON m.id = t.membership_id \
         WHERE m.cohort_id = {cohort_id} ORDER BY t.membership_id, t.goal_key, t.occurred_at, t.check_in_id"
    );
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql.clone()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter().map(tally_row).collect()
}

/// The first nine columns of `r` as a [`TallyRow`].
fn tally_row(r: &sea_orm::QueryResult) -> TallyRow {
    (
        r.try_get_by_index(0).unwrap(),
        r.try_get_by_index(1).unwrap(),
        r.try_get_by_index(2).unwrap(),
        r.try_get_by_index(3).unwrap(),
        r.try_get_by_index(4).unwrap(),
        r.try_get_by_index(5).unwrap(),
        r.try_get_by_index(6).unwrap(),
        r.try_get_by_index(7).unwrap(),
        r.try_get_by_index(8).unwrap(),
    )
}

/// Checks the totals of the cohort's members: each member's last tally of each key (the tally
/// of their latest check-in), once, with the member's cohort and tenant.
pub async fn assert_totals_are_the_last_tallies(conn: &impl ConnectionTrait, cohort_id: i64) {
    let tallies = tally_rows(conn, cohort_id).await;
    // Sorted by member, key and then time: a key's last row is the one before the next key's.
    let last: Vec<TallyRow> = tallies
        .iter()
        .enumerate()
        .filter(|(i, t)| tallies.get(i + 1).is_none_or(|next| (next.0, next.1) != (t.0, t.1)))
        .map(|(_, t)| *t)
        .collect();
    let sql = format!(
        "SELECT t.membership_id, t.goal_key, t.check_in_id, t.occurred_at, t.check_ins, t.value_sum, \
                t.latest_at, t.latest_id, t.latest_value, \
                CASE WHEN t.cohort_id = m.cohort_id AND t.tenant_id = m.tenant_id THEN 1 ELSE 0 END \
         FROM check_in_totals t JOIN memberships m ON m.id = t.membership_id \
         WHERE m.cohort_id = {cohort_id} ORDER BY t.membership_id, t.goal_key"
    );
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql.clone()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let totals: Vec<TallyRow> = rows
        .iter()
        .map(|r| {
            let matches: i32 = r.try_get_by_index(9).unwrap();
            assert_eq!(matches, 1, "a totals row of another cohort or tenant than its member's");
            tally_row(r)
        })
        .collect();
    let differs = totals.iter().zip(&last).find(|(t, l)| t != l);
    assert!(
        totals.len() == last.len() && differs.is_none(),
        "cohort {cohort_id}: {} totals rows, {} members' keys; first difference (totals, last tally): {differs:?}",
        totals.len(),
        last.len()
    );
}
