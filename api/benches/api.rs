//! The whole service under load, over HTTP, against the in-process limits of the same database.
//!
//! `cargo bench -p afterclass --bench api` starts the real server in a child process (this
//! binary again, running the same `http::Server` that `afterclass serve` runs; see [`served`]) on
//! a fresh SQLite file, and on a fresh PostgreSQL
//! database too when `AFTERCLASS_BENCH_POSTGRES_URL` names one it may create databases beside
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`). It seeds cohorts with bulk SQL
//! (`evaluation/seed.rs`), then drives the server with concurrent clients (tokio tasks, one
//! shared `reqwest` client) carrying real HS256 tokens, and measures, each time interleaved with
//! its baseline and as the median of the rounds:
//!
//! - `logCheckIn` with 32 clients into one cohort and into 100 cohorts, against a raw single-row
//!   insert loop into the same table with the same durability (the store's own connection
//!   settings: SQLite WAL + `synchronous=NORMAL`; PostgreSQL's defaults), 32 writers, one
//!   transaction per row;
//! - the nested cohort read ([`READ`]) and the same with progress, health and participation
//!   ([`READ_FULL`]), against one hand-written SQL query plus `serde_json` building the same
//!   answer in-process, per decade of cohort size and at two history sizes;
//! - SQL statements per request (the server's statement counter) and the server process's
//!   resident memory (`VmRSS`, `VmHWM`).
//!
//! Any answer that is not HTTP 200 or that carries `errors` (or, for a mutation, `userErrors`)
//! is counted as a failure and reported; it is never counted as throughput.
//!
//! Sizes: the default is cohorts of 10 / 100 / 1,000 members with 10 check-ins each per member
//! and one cohort of 100 members with 100,000 check-ins; `--full` adds 10,000 members and makes
//! the history 1,000,000 check-ins; `--quick` (and a run without `--bench`, as
//! `cargo test --benches` does) uses small sizes and short runs. `AFTERCLASS_BENCH_SECONDS`
//! (per run, default 2), `AFTERCLASS_BENCH_ROUNDS` (default 3), `AFTERCLASS_BENCH_CLIENTS`
//! (default 32), `AFTERCLASS_JWT_SECRET` (default a fixed benchmark secret) and
//! `AFTERCLASS_DB_MAX_CONNECTIONS` (default as `serve`'s) change the run;
//! `AFTERCLASS_BENCH_ONLY=writes` (or `reads`) runs only the check-ins (or only the reads). The
//! table is printed and the same results are written as JSON to `target/bench-api.json`.

#[allow(dead_code)]
#[path = "evaluation/seed.rs"]
mod seed;
#[path = "common/stores.rs"]
mod stores;

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use afterclass::auth::Signer;
use afterclass::config::{AuthConfig, Config, KeyConfig, Limits};
use afterclass::ids::{self, Kind};
use afterclass::store::{self, Store, to_micros};
use afterclass_domain::access::ViewerRole;
use chrono::SecondsFormat;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use seed::{Plan, Seeded};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The allocator of `afterclass serve` (api/src/main.rs), since the server runs in this process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_SECRET: &str = "afterclass-benchmark-secret-0123456789";

/// The nested read of the issue.
const READ: &str = r#"query($id: ID!) { cohort(id: $id) { name
    members(first: 100) { totalCount nodes { role status person { displayName } } }
    goals { title target }
    checkIns(first: 20) { nodes { value note occurredAt } } } }"#;

/// The same read with progress, health and participation.
const READ_FULL: &str = r#"query($id: ID!) { cohort(id: $id) { name
    members(first: 100) { totalCount nodes { role status participation person { displayName } } }
    goals { title target progress { current } }
    health { status }
    checkIns(first: 20) { nodes { value note occurredAt } } } }"#;

/// The nested read in PostGraphile 4's schema of the same tables (its default inflection).
const PEER_READ: &str = r#"query($id: BigInt!) { cohortById(id: $id) { name
    membershipsByCohortId(first: 100, orderBy: PRIMARY_KEY_ASC) { totalCount nodes { role status personByPersonId { displayName } } }
    goalsByCohortId(orderBy: PRIMARY_KEY_ASC) { nodes { title target } }
    checkInsByCohortId(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { value note occurredAt } } } }"#;

const CHECK_IN: &str = r#"mutation($input: LogCheckInInput!) {
    logCheckIn(input: $input) { checkIn { id } userErrors { code } } }"#;

struct Settings {
    quick: bool,
    full: bool,
    run: Duration,
    rounds: usize,
    clients: usize,
    max_connections: u32,
    secret: String,
    postgres: Option<String>,
    /// `AFTERCLASS_BENCH_ONLY`: run only the writes or only the reads.
    only: Option<Part>,
    /// `AFTERCLASS_BENCH_POSTGRAPHILE`: the `postgraphile` command (PostGraphile 4), started on
    /// the seeded PostgreSQL database to serve the same read as a peer.
    postgraphile: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Writes,
    Reads,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let args: Vec<String> = std::env::args().collect();
        let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
        let full = !quick && args.iter().any(|a| a == "--full");
        let seconds: f64 = env_or("AFTERCLASS_BENCH_SECONDS", if quick { 0.3 } else { 2.0 })?;
        Ok(Settings {
            quick,
            full,
            run: Duration::from_secs_f64(seconds.max(0.05)),
            rounds: env_or("AFTERCLASS_BENCH_ROUNDS", if quick { 1 } else { 3 })?.max(1),
            clients: env_or("AFTERCLASS_BENCH_CLIENTS", 32)?.max(1),
            max_connections: env_or("AFTERCLASS_DB_MAX_CONNECTIONS", afterclass::config::DEFAULT_MAX_CONNECTIONS)?
                .max(1),
            secret: std::env::var("AFTERCLASS_JWT_SECRET").unwrap_or_else(|_| DEFAULT_SECRET.to_owned()),
            postgres: std::env::var("AFTERCLASS_BENCH_POSTGRES_URL").ok().filter(|u| !u.is_empty()),
            only: match std::env::var("AFTERCLASS_BENCH_ONLY").as_deref() {
                Err(_) | Ok("") => None,
                Ok("writes") => Some(Part::Writes),
                Ok("reads") => Some(Part::Reads),
                Ok(other) => return Err(format!("AFTERCLASS_BENCH_ONLY={other}: `writes` or `reads`").into()),
            },
            postgraphile: std::env::var("AFTERCLASS_BENCH_POSTGRAPHILE").ok().filter(|c| !c.is_empty()),
        })
    }

    fn runs(&self, part: Part) -> bool {
        self.only.is_none_or(|only| only == part)
    }

    /// The read cohorts by decade: (members, check-ins).
    fn decades(&self) -> Vec<(u64, u64)> {
        let members: &[u64] = if self.quick {
            &[10, 100]
        } else if self.full {
            &[10, 100, 1_000, 10_000]
        } else {
            &[10, 100, 1_000]
        };
        members.iter().map(|m| (*m, m * 10)).collect()
    }

    /// The long-history cohort: 100 members.
    fn history(&self) -> u64 {
        if self.quick {
            10_000
        } else if self.full {
            1_000_000
        } else {
            100_000
        }
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(text) => text.replace(['_', ','], "").parse().map_err(|e| format!("{name}={text}: {e}").into()),
        Err(_) => Ok(default),
    }
}

/// One measured run: throughput and latencies of the successful operations.
#[derive(Debug, Clone, Default)]
struct Sample {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    ok: u64,
    failed: u64,
}

/// The median of interleaved runs of one thing.
#[derive(Debug, Clone, Default)]
struct Measured {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    ok: u64,
    failed: u64,
    runs: Vec<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn summarise(samples: &[Sample]) -> Measured {
    Measured {
        per_second: median(samples.iter().map(|s| s.per_second).collect()),
        p50_ms: median(samples.iter().map(|s| s.p50_ms).collect()),
        p99_ms: median(samples.iter().map(|s| s.p99_ms).collect()),
        ok: samples.iter().map(|s| s.ok).sum(),
        failed: samples.iter().map(|s| s.failed).sum(),
        runs: samples.iter().map(|s| s.per_second).collect(),
    }
}

type Op =
    Arc<dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send>> + Send + Sync>;

/// Runs `op` from `clients` concurrent tasks for `run`; task `c` calls `op(c, i)` for its `i`-th
/// operation. The first failure's message is printed once per run.
async fn drive(clients: usize, run: Duration, op: Op) -> Sample {
    let started = Instant::now();
    let deadline = started + run;
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (op, failed) = (Arc::clone(&op), Arc::clone(&failed));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match op(c, i).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(err) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("  failure: {err}");
                        }
                    }
                }
                i += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| {
        all.get(((all.len() as f64 - 1.0) * q).round().max(0.0) as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Sample {
        per_second: all.len() as f64 / elapsed,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        ok: all.len() as u64,
        failed: failed.load(Ordering::Relaxed),
    }
}

/// Runs each of `ops` `rounds` times, interleaved (a, b, c, a, b, c, …), and gives each median.
async fn interleaved(settings: &Settings, ops: &[(&str, Op)]) -> Vec<Measured> {
    let mut samples = vec![Vec::new(); ops.len()];
    for _ in 0..settings.rounds {
        for (k, (_, op)) in ops.iter().enumerate() {
            samples[k].push(drive(settings.clients, settings.run, Arc::clone(op)).await);
        }
    }
    let out: Vec<Measured> = samples.iter().map(|s| summarise(s)).collect();
    for ((name, _), m) in ops.iter().zip(&out) {
        println!(
            "  {name:<44} {:>9.0} /s  p50 {:>7.2} ms  p99 {:>7.2} ms  failed {}",
            m.per_second, m.p50_ms, m.p99_ms, m.failed
        );
    }
    out
}

/// A GraphQL client of the running server.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    url: Arc<str>,
}

impl Client {
    /// POSTs `body` (a serialised GraphQL request); the answer's `data`, or why it failed.
    async fn post(&self, token: &str, body: String) -> std::result::Result<Value, String> {
        let mut request = self.http.post(&*self.url);
        // The peer is asked without a token: it has no JWT configuration and refuses one.
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        let resp =
            request.header("content-type", "application/json").body(body).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let value: Value = resp.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() || value.get("errors").is_some() {
            return Err(format!("HTTP {status}: {value}"));
        }
        Ok(value.get("data").cloned().unwrap_or(Value::Null))
    }
}

/// One backend's results.
struct Report {
    backend: &'static str,
    writes: Vec<WriteRow>,
    reads: Vec<ReadRow>,
    /// The server process's resident memory at the end and at its peak.
    rss_kib: u64,
    hwm_kib: u64,
    /// The benchmark process's peak (seeding, clients, baselines).
    bench_hwm_kib: u64,
}

struct WriteRow {
    scenario: &'static str,
    subject: Measured,
    baseline: Measured,
}

struct ReadRow {
    members: u64,
    check_ins: u64,
    plain: Measured,
    full: Measured,
    hand_written: Measured,
    /// PostGraphile serving the same read from the same tables, when it was started.
    peer: Option<Measured>,
    statements_plain: u64,
    statements_full: u64,
}

fn main() -> Result<()> {
    let settings = Settings::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match std::env::var(served::SERVE) {
        Ok(url) => runtime.block_on(served::serve(&url, &settings)),
        Err(_) => runtime.block_on(run(&settings)),
    }
}

async fn run(settings: &Settings) -> Result<()> {
    println!(
        "api benchmark ({}): {} clients, {} round(s) of {:.1} s per measurement, pool of {} connections",
        if settings.quick {
            "quick"
        } else if settings.full {
            "full"
        } else {
            "default"
        },
        settings.clients,
        settings.rounds,
        settings.run.as_secs_f64(),
        settings.max_connections
    );
    let reports =
        stores::on_each_store("afterclass_bench_api", settings.postgres.as_deref(), |backend, url| async move {
            on_backend(backend, &url, settings).await
        })
        .await?;

    let json = print_and_collect(&reports);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| ".".into(), std::path::Path::to_path_buf)
        .join("target/bench-api.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
    println!("\nJSON: {}", path.display());
    Ok(())
}

fn tenant_key(i: usize) -> String {
    format!("bench-t{i}")
}

fn member(k: u64) -> String {
    format!("member-{k:07}")
}

async fn on_backend(backend: &'static str, url: &str, settings: &Settings) -> Result<Report> {
    println!("\n== {backend}");
    // The server in a process of its own (this binary again, as `afterclass serve` would run it),
    // so that its memory is its own; the seeding, the clients and the baselines run here, over
    // connections of their own.
    let server = served::Served::start(url).await?;
    let addr = server.addr;
    let store = Store::connect(url, settings.max_connections).await?;
    let signer = Signer::new(&server_config(url, settings).auth)?;
    let token = |sub: &str, tenant: &str, role: ViewerRole| {
        signer.sign(sub, tenant, role, Some(sub), chrono::Duration::hours(2), chrono::Utc::now())
    };

    // Seeding: the read cohorts, then the write cohorts (32 members each, no history).
    let now = to_micros(store::now());
    let started = Instant::now();
    let mut tenants = 0usize;
    let mut next_tenant = || {
        tenants += 1;
        tenant_key(tenants)
    };
    let mut read_cohorts: Vec<(String, Seeded, u64, u64)> = Vec::new();
    let mut sizes = settings.decades();
    sizes.push((100, settings.history()));
    if !settings.runs(Part::Reads) {
        sizes.clear();
    }
    for (members, check_ins) in sizes {
        let key = next_tenant();
        let seeded = seed::seed(&store, &key, &Plan { members, check_ins, now }).await?;
        read_cohorts.push((key, seeded, members, check_ins));
    }
    let writers = settings.clients as u64;
    let mut write_cohorts: Vec<(String, Seeded)> = Vec::new();
    for _ in 0..if settings.runs(Part::Writes) { 100 } else { 0 } {
        let key = next_tenant();
        let seeded = seed::seed(&store, &key, &Plan { members: writers, check_ins: 0, now }).await?;
        write_cohorts.push((key, seeded));
    }
    if store.backend() == DbBackend::Postgres {
        store.writer().execute_unprepared("VACUUM ANALYZE").await?;
    }
    println!(
        "  seeded {} cohorts in {:.1} s",
        read_cohorts.len() + write_cohorts.len(),
        started.elapsed().as_secs_f64()
    );

    let client = Client {
        http: reqwest::Client::builder().pool_max_idle_per_host(settings.clients * 2).build()?,
        url: format!("http://{addr}/graphql").into(),
    };
    let peer = match (&settings.postgraphile, store.backend()) {
        (Some(command), DbBackend::Postgres) if settings.runs(Part::Reads) => {
            Some(Peer::start(command, url, &client.http).await?)
        }
        _ => None,
    };

    let writes = if settings.runs(Part::Writes) {
        writes(settings, url, &client, &write_cohorts, &token).await?
    } else {
        Vec::new()
    };
    let mut reads = Vec::new();
    for (key, seeded, members, check_ins) in &read_cohorts {
        println!("  read, {members} members, {check_ins} check-ins:");
        let leader = token(&member(0), key, ViewerRole::Trainee)?;
        let peer = peer.as_ref().map(|p| &p.client);
        reads.push(read(settings, url, &client, peer, &server, seeded, &leader, *members, *check_ins).await?);
    }
    let (rss_kib, hwm_kib) = server.memory();
    let (_, bench_hwm_kib) = memory(std::process::id());
    drop(peer);
    server.stop()?;
    store.close().await;
    Ok(Report { backend, writes, reads, rss_kib, hwm_kib, bench_hwm_kib })
}

/// The server's configuration: the benchmark's secret, its pool, no budgets.
fn server_config(url: &str, settings: &Settings) -> Config {
    Config {
        database_url: url.to_owned(),
        max_connections: settings.max_connections,
        auth: AuthConfig {
            key: KeyConfig::Hs256(settings.secret.as_bytes().to_vec()),
            issuer: None,
            audience: None,
            platform_keys: None,
            max_lifetime: afterclass::config::DEFAULT_MAX_TOKEN_LIFETIME,
        },
        introspection: false,
        limits: Limits::default(),
        link_secret: None,
        public_url: None,
        webhooks: Default::default(),
        lti: None,
        mail: None,
        store: Default::default(),
        retention: None,
        // 32 clients of one tenant at full speed measure the service, not its budgets.
        rates: afterclass::config::RateLimits::off(),
    }
}

/// A write cohort's tenant, cohort, memberships and first goal, for the raw insert loop.
type WriteTarget = (i64, i64, Vec<i64>, i64);

type TokenFn<'a> = dyn Fn(&str, &str, ViewerRole) -> std::result::Result<String, String> + 'a;

/// `logCheckIn` over HTTP into one cohort and into 100, each against the raw insert loop.
async fn writes(
    settings: &Settings,
    url: &str,
    client: &Client,
    cohorts: &[(String, Seeded)],
    token: &TokenFn<'_>,
) -> Result<Vec<WriteRow>> {
    // Client `c` is member `c` of every write cohort.
    let mut tokens: Vec<Vec<String>> = Vec::new();
    for (key, _) in cohorts {
        tokens.push(
            (0..settings.clients as u64)
                .map(|k| token(&member(k), key, ViewerRole::Trainee))
                .collect::<std::result::Result<_, _>>()?,
        );
    }
    let tokens = Arc::new(tokens);
    let targets: Arc<Vec<(String, String)>> = Arc::new(
        cohorts
            .iter()
            .map(|(_, s)| (ids::encode(Kind::Cohort, s.cohort.id), ids::encode(Kind::Goal, s.goals[0].id)))
            .collect(),
    );
    let rows: Arc<Vec<WriteTarget>> = Arc::new(
        cohorts
            .iter()
            .map(|(_, s)| (s.cohort.tenant_id, s.cohort.id, s.membership_ids.clone(), s.goals[0].id))
            .collect(),
    );
    // The baseline's own connections, opened with the store's settings: on SQLite its single
    // writer (WAL, synchronous=NORMAL), on PostgreSQL one connection per writer.
    let raw = Store::connect(url, settings.clients as u32).await?;
    let raw = Arc::new(raw);

    let mut out = Vec::new();
    for (scenario, spread) in [("32 clients, one cohort", 1usize), ("32 clients, 100 cohorts", cohorts.len())] {
        let subject: Op = {
            let (client, tokens, targets) = (client.clone(), Arc::clone(&tokens), Arc::clone(&targets));
            Arc::new(move |c, i| {
                let n = (c + i as usize) % spread;
                let body = json!({ "query": CHECK_IN, "variables": { "input": {
                    "cohortId": targets[n].0, "goalId": targets[n].1, "value": 1.0, "note": "bench" } } })
                .to_string();
                let (client, token) = (client.clone(), tokens[n][c].clone());
                Box::pin(async move {
                    let data = client.post(&token, body).await?;
                    let errors = &data["logCheckIn"]["userErrors"];
                    if errors.as_array().is_some_and(|e| !e.is_empty()) || data["logCheckIn"]["checkIn"].is_null() {
                        return Err(format!("logCheckIn: {data}"));
                    }
                    Ok(())
                })
            })
        };
        let baseline: Op = {
            let (raw, rows) = (Arc::clone(&raw), Arc::clone(&rows));
            Arc::new(move |c, i| {
                let n = (c + i as usize) % spread;
                let (raw, rows) = (Arc::clone(&raw), Arc::clone(&rows));
                Box::pin(async move {
                    let (tenant, cohort, members, goal) = &rows[n];
                    let membership = members[c % members.len()];
                    let at = to_micros(store::now());
                    let backend = raw.backend();
                    let sql = if backend == DbBackend::Postgres {
                        "INSERT INTO check_ins (tenant_id, cohort_id, membership_id, goal_id, value, note, occurred_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    } else {
                        "INSERT INTO check_ins (tenant_id, cohort_id, membership_id, goal_id, value, note, occurred_at, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    };
                    let values: Vec<sea_orm::Value> = vec![
                        (*tenant).into(),
                        (*cohort).into(),
                        membership.into(),
                        (*goal).into(),
                        1.0f64.into(),
                        "bench".into(),
                        at.into(),
                        at.into(),
                    ];
                    raw.writer()
                        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
        };
        println!("  logCheckIn, {scenario}:");
        let mut m =
            interleaved(settings, &[("raw insert loop (baseline)", baseline), ("logCheckIn over HTTP", subject)]).await;
        let subject = m.pop().unwrap_or_default();
        let baseline = m.pop().unwrap_or_default();
        out.push(WriteRow { scenario, subject, baseline });
    }
    raw.close().await;
    Ok(out)
}

/// The hand-written read: one SQL statement for the whole answer, `serde_json` for the rest. Its
/// page of check-ins names the cohort as a range, as the server's pages do
/// (`store::queries::of_cohort`), so that PostgreSQL reads a large cohort's first check-ins from
/// the cohort's index.
fn hand_written_sql(cohort: i64) -> String {
    format!(
        "SELECT CAST(0 AS BIGINT) AS kind, c.name AS a, CAST(NULL AS TEXT) AS b, CAST(NULL AS TEXT) AS d, \
                (SELECT COUNT(*) FROM memberships WHERE cohort_id = {cohort}) AS n, \
                CAST(NULL AS DOUBLE PRECISION) AS f, CAST(NULL AS BIGINT) AS t \
         FROM cohorts c WHERE c.id = {cohort} \
         UNION ALL SELECT * FROM (SELECT CAST(1 AS BIGINT), m.role, m.status, p.display_name, m.id, \
                CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS BIGINT) \
           FROM memberships m JOIN persons p ON p.id = m.person_id \
           WHERE m.cohort_id = {cohort} ORDER BY m.id LIMIT 100) AS ms \
         UNION ALL SELECT * FROM (SELECT CAST(2 AS BIGINT), g.title, CAST(NULL AS TEXT), CAST(NULL AS TEXT), g.id, \
                g.target, CAST(NULL AS BIGINT) FROM goals g WHERE g.cohort_id = {cohort} ORDER BY g.id) AS gs \
         UNION ALL SELECT * FROM (SELECT CAST(3 AS BIGINT), ci.note, CAST(NULL AS TEXT), CAST(NULL AS TEXT), ci.id, \
                ci.value, ci.occurred_at FROM check_ins ci WHERE ci.cohort_id BETWEEN {cohort} AND {cohort} \
           ORDER BY ci.cohort_id, ci.id LIMIT 20) AS cs"
    )
}

async fn hand_written(conn: &sea_orm::DatabaseConnection, sql: &str) -> std::result::Result<String, String> {
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned()))
        .await
        .map_err(|e| e.to_string())?;
    let (mut name, mut total) = (Value::Null, 0i64);
    let (mut members, mut goals, mut check_ins) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let get_s = |i: usize| row.try_get_by_index::<Option<String>>(i).map_err(|e| e.to_string());
        match row.try_get_by_index::<i64>(0).map_err(|e| e.to_string())? {
            0 => {
                name = get_s(1)?.into();
                total = row.try_get_by_index::<i64>(4).map_err(|e| e.to_string())?;
            }
            1 => {
                members.push(json!({ "role": get_s(1)?, "status": get_s(2)?, "person": { "displayName": get_s(3)? } }))
            }
            2 => goals.push(json!({ "title": get_s(1)?,
                "target": row.try_get_by_index::<Option<f64>>(5).map_err(|e| e.to_string())? })),
            _ => {
                let at = row.try_get_by_index::<Option<i64>>(6).map_err(|e| e.to_string())?.unwrap_or(0);
                check_ins.push(json!({
                    "value": row.try_get_by_index::<Option<f64>>(5).map_err(|e| e.to_string())?,
                    "note": get_s(1)?,
                    "occurredAt": store::from_micros(at).to_rfc3339_opts(SecondsFormat::Micros, true),
                }));
            }
        }
    }
    let answer = json!({ "data": { "cohort": {
        "name": name,
        "members": { "totalCount": total, "nodes": members },
        "goals": goals,
        "checkIns": { "nodes": check_ins },
    } } });
    serde_json::to_string(&answer).map_err(|e| e.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn read(
    settings: &Settings,
    url: &str,
    client: &Client,
    peer: Option<&Client>,
    server: &served::Served,
    seeded: &Seeded,
    token: &str,
    members: u64,
    check_ins: u64,
) -> Result<ReadRow> {
    let id = ids::encode(Kind::Cohort, seeded.cohort.id);
    let plain_body = json!({ "query": READ, "variables": { "id": id } }).to_string();
    let full_body = json!({ "query": READ_FULL, "variables": { "id": id } }).to_string();

    // Statements of one request, alone; the first request of a viewer is not counted.
    let mut statements = Vec::new();
    for body in [&plain_body, &full_body] {
        client.post(token, body.clone()).await.map_err(|e| format!("the read failed: {e}"))?;
        // Loads of one kind at two depths may share a batch or not, depending on timing: the
        // fewest of three requests is the count, the most is printed too.
        let (mut fewest, mut most, mut data) = (u64::MAX, 0, Value::Null);
        for _ in 0..3 {
            let before = server.statements()?;
            data = client.post(token, body.clone()).await.map_err(|e| format!("the read failed: {e}"))?;
            let n = server.statements()? - before;
            (fewest, most) = (fewest.min(n), most.max(n));
        }
        println!("    statements per request: {fewest} to {most}");
        statements.push(fewest);
        let nodes = data["cohort"]["members"]["nodes"].as_array().map_or(0, Vec::len) as u64;
        if nodes != members.min(100) {
            return Err(format!("the read gave {nodes} members of {members}").into());
        }
    }

    let raw = Arc::new(Store::connect(url, settings.max_connections).await?);
    let sql: Arc<str> = hand_written_sql(seeded.cohort.id).into();
    let check = hand_written(raw.reader(), &sql).await?;
    if !check.contains("\"totalCount\"") {
        return Err(format!("the hand-written read gave {check}").into());
    }
    let over_http = |body: String| -> Op {
        let (client, token) = (client.clone(), Arc::<str>::from(token));
        Arc::new(move |_, _| {
            let (client, token, body) = (client.clone(), Arc::clone(&token), body.clone());
            Box::pin(async move { client.post(&token, body).await.map(|_| ()) })
        })
    };
    let baseline: Op = {
        let raw = Arc::clone(&raw);
        Arc::new(move |_, _| {
            let (raw, sql) = (Arc::clone(&raw), Arc::clone(&sql));
            Box::pin(async move { hand_written(raw.reader(), &sql).await.map(|_| ()) })
        })
    };
    let mut ops = vec![
        ("hand-written SQL + serde_json (baseline)", baseline),
        ("nested read over HTTP", over_http(plain_body)),
        ("+ progress, health, participation", over_http(full_body)),
    ];
    if let Some(peer) = peer {
        let body = json!({ "query": PEER_READ, "variables": { "id": seeded.cohort.id.to_string() } }).to_string();
        let data = peer.post("", body.clone()).await.map_err(|e| format!("PostGraphile's read failed: {e}"))?;
        let nodes = data["cohortById"]["membershipsByCohortId"]["nodes"].as_array().map_or(0, Vec::len) as u64;
        if nodes != members.min(100) {
            return Err(format!("PostGraphile's read gave {nodes} members of {members}").into());
        }
        let peer = peer.clone();
        ops.push((
            "PostGraphile 4, the same read (peer)",
            Arc::new(move |_, _| {
                let (peer, body) = (peer.clone(), body.clone());
                Box::pin(async move { peer.post("", body).await.map(|_| ()) })
            }),
        ));
    }
    let mut m = interleaved(settings, &ops).await;
    raw.close().await;
    let peer = if peer.is_some() { m.pop() } else { None };
    let full = m.pop().unwrap_or_default();
    let plain = m.pop().unwrap_or_default();
    let hand_written = m.pop().unwrap_or_default();
    Ok(ReadRow {
        members,
        check_ins,
        plain,
        full,
        hand_written,
        peer,
        statements_plain: statements[0],
        statements_full: statements[1],
    })
}

/// A process's resident memory now and at its peak, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One target: what it compares, the ratio, the bound and whether it is met.
struct Target {
    what: String,
    ratio: f64,
    bound: &'static str,
    met: bool,
}

fn targets(r: &Report) -> Vec<Target> {
    let mut out = Vec::new();
    for w in &r.writes {
        let ratio = w.subject.per_second / w.baseline.per_second.max(f64::MIN_POSITIVE);
        out.push(Target {
            what: format!("logCheckIn / raw insert loop, {}", w.scenario),
            ratio,
            bound: "≥ 0.5",
            met: ratio >= 0.5 && w.subject.failed == 0,
        });
    }
    let cost = |m: &Measured| 1.0 / m.per_second.max(f64::MIN_POSITIVE);
    for rd in &r.reads {
        let ratio = cost(&rd.plain) / cost(&rd.hand_written);
        out.push(Target {
            what: format!("nested read / hand-written, {} members, {} check-ins (cost)", rd.members, rd.check_ins),
            ratio,
            bound: "≤ 2",
            met: ratio <= 2.0,
        });
        if let Some(peer) = &rd.peer {
            let ratio = rd.plain.per_second / peer.per_second.max(f64::MIN_POSITIVE);
            out.push(Target {
                what: format!(
                    "nested read / PostGraphile, {} members, {} check-ins (throughput)",
                    rd.members, rd.check_ins
                ),
                ratio,
                bound: "> 1",
                met: ratio > 1.0 && peer.failed == 0,
            });
        }
        let ratio = cost(&rd.full) / cost(&rd.plain);
        out.push(Target {
            what: format!("with progress+health+participation / plain, {} members (cost)", rd.members),
            ratio,
            bound: "≤ 1.5",
            met: ratio <= 1.5,
        });
    }
    // History: the 100-member decade cohort against the long-history cohort of 100 members.
    let hundred: Vec<&ReadRow> = r.reads.iter().filter(|rd| rd.members == 100).collect();
    if let (Some(short), Some(long)) = (hundred.first(), hundred.last())
        && short.check_ins < long.check_ins
    {
        for (name, a, b) in [("plain", &short.plain, &long.plain), ("full", &short.full, &long.full)] {
            let ratio = cost(b) / cost(a);
            out.push(Target {
                what: format!("{name} read at {} / at {} check-ins (cost)", long.check_ins, short.check_ins),
                ratio,
                bound: "≤ 1.5",
                met: ratio <= 1.5,
            });
        }
    }
    let decades: Vec<&ReadRow> = r.reads.iter().filter(|rd| rd.check_ins == rd.members * 10).collect();
    for pair in decades.windows(2) {
        for (name, a, b) in [("plain", &pair[0].plain, &pair[1].plain), ("full", &pair[0].full, &pair[1].full)] {
            let ratio = cost(b) / cost(a);
            out.push(Target {
                what: format!("{name} read, {} / {} members (cost per decade)", pair[1].members, pair[0].members),
                ratio,
                bound: "≤ 10",
                met: ratio <= 10.0,
            });
        }
    }
    if let (Some(first), Some(last)) = (decades.first(), decades.last()) {
        for (name, a, b) in [
            ("plain", first.statements_plain, last.statements_plain),
            ("full", first.statements_full, last.statements_full),
        ] {
            out.push(Target {
                what: format!("{name} read statements, {} / {} members", last.members, first.members),
                ratio: b as f64 / (a.max(1)) as f64,
                bound: "= 1",
                met: a == b,
            });
        }
    }
    let mib = r.hwm_kib as f64 / 1024.0;
    out.push(Target {
        what: "peak resident memory of the server process (VmHWM, MiB)".into(),
        ratio: mib,
        bound: "< 150",
        met: mib < 150.0,
    });
    let failed: u64 = r.writes.iter().map(|w| w.subject.failed + w.baseline.failed).sum::<u64>()
        + r.reads
            .iter()
            .map(|rd| {
                rd.plain.failed + rd.full.failed + rd.hand_written.failed + rd.peer.as_ref().map_or(0, |p| p.failed)
            })
            .sum::<u64>();
    out.push(Target { what: "failed answers (errors)".into(), ratio: failed as f64, bound: "= 0", met: failed == 0 });
    out
}

fn measured_json(m: &Measured) -> Value {
    json!({ "per_second": m.per_second, "p50_ms": m.p50_ms, "p99_ms": m.p99_ms, "ok": m.ok, "failed": m.failed, "runs": m.runs })
}

fn print_and_collect(reports: &[Report]) -> Value {
    let mut backends = Vec::new();
    for r in reports {
        println!("\n## {}\n", r.backend);
        println!("| logCheckIn | Afterclass req/s | p50 ms | p99 ms | raw insert tx/s | p50 ms | ratio |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for w in &r.writes {
            println!(
                "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |",
                w.scenario,
                w.subject.per_second,
                w.subject.p50_ms,
                w.subject.p99_ms,
                w.baseline.per_second,
                w.baseline.p50_ms,
                w.subject.per_second / w.baseline.per_second.max(f64::MIN_POSITIVE)
            );
        }
        println!();
        println!(
            "| read: members, check-ins | nested req/s | p50 ms | p99 ms | + progress/health/participation req/s | p50 ms | hand-written /s | p50 ms | PostGraphile req/s | p50 ms | statements (plain, full) |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for rd in &r.reads {
            println!(
                "| {}, {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.0} | {:.2} | {} | {} | {}, {} |",
                rd.members,
                rd.check_ins,
                rd.plain.per_second,
                rd.plain.p50_ms,
                rd.plain.p99_ms,
                rd.full.per_second,
                rd.full.p50_ms,
                rd.hand_written.per_second,
                rd.hand_written.p50_ms,
                rd.peer.as_ref().map_or("—".into(), |p| format!("{:.0}", p.per_second)),
                rd.peer.as_ref().map_or("—".into(), |p| format!("{:.2}", p.p50_ms)),
                rd.statements_plain,
                rd.statements_full
            );
        }
        println!(
            "\nresident memory of the server process: VmRSS {} MiB, VmHWM {} MiB (the benchmark's own process: VmHWM {} MiB)\n",
            r.rss_kib / 1024,
            r.hwm_kib / 1024,
            r.bench_hwm_kib / 1024
        );
        println!("| target | ratio | bound | met |");
        println!("| --- | ---: | ---: | --- |");
        let targets = targets(r);
        for t in &targets {
            println!("| {} | {:.2} | {} | {} |", t.what, t.ratio, t.bound, if t.met { "yes" } else { "**no**" });
        }
        if r.reads.iter().all(|rd| rd.peer.is_none()) {
            println!(
                "| nested read vs PostGraphile | — | > 1 | not run (AFTERCLASS_BENCH_POSTGRAPHILE, see BENCHMARKS.md) |"
            );
        }
        backends.push(json!({
            "backend": r.backend,
            "writes": r.writes.iter().map(|w| json!({ "scenario": w.scenario, "subject": measured_json(&w.subject), "baseline": measured_json(&w.baseline) })).collect::<Vec<_>>(),
            "reads": r.reads.iter().map(|rd| json!({
                "members": rd.members, "check_ins": rd.check_ins,
                "plain": measured_json(&rd.plain), "full": measured_json(&rd.full), "hand_written": measured_json(&rd.hand_written),
                "postgraphile": rd.peer.as_ref().map(measured_json),
                "statements": { "plain": rd.statements_plain, "full": rd.statements_full },
            })).collect::<Vec<_>>(),
            "memory_kib": { "rss": r.rss_kib, "hwm": r.hwm_kib, "bench_hwm": r.bench_hwm_kib },
            "targets": targets.iter().map(|t| json!({ "what": t.what, "ratio": t.ratio, "bound": t.bound, "met": t.met })).collect::<Vec<_>>(),
        }));
    }
    json!({ "machine": { "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()) }, "backends": backends })
}

/// The server under measurement as a child process: this benchmark's binary run again with
/// [`SERVE`](served::SERVE) set to the database URL, serving what `afterclass serve` serves
/// (`http::Server`, the configuration of [`server_config`]) until its standard input closes.
/// It prints `listening ADDR` once it answers, and the store's statement counter for each
/// `statements` line it reads.
mod served {
    use std::io::{BufRead, BufReader, Write};
    use std::net::SocketAddr;
    use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
    use std::sync::Mutex;

    use super::{Result, Settings, server_config};

    /// Set in the child's environment to the database it serves.
    pub const SERVE: &str = "AFTERCLASS_BENCH_SERVE";

    /// The child's side: serves `url` until standard input closes.
    pub async fn serve(url: &str, settings: &Settings) -> Result<()> {
        let server = afterclass::http::Server::bind(&server_config(url, settings), "127.0.0.1:0".parse()?).await?;
        let addr = server.local_addr()?;
        let store = server.store().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        println!("listening {addr}");
        let questions = std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                match line.as_deref() {
                    Ok("statements") => println!("{}", store.statements()),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        tokio::task::spawn_blocking(move || questions.join()).await?.map_err(|_| "the question thread panicked")?;
        let _ = stop.send(());
        running.await??;
        Ok(())
    }

    /// The parent's side.
    pub struct Served {
        child: Child,
        pub addr: SocketAddr,
        io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    }

    impl Served {
        /// Starts the server on `url` (it applies the migrations) and waits until it listens.
        pub async fn start(url: &str) -> Result<Served> {
            let mut child = Command::new(std::env::current_exe()?)
                .args(std::env::args().skip(1))
                .env(SERVE, url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err("the server process has no pipes".into());
            };
            let mut stdout = BufReader::new(stdout);
            let line = tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                stdout.read_line(&mut line).map(|_| (line, stdout))
            })
            .await??;
            let (line, stdout) = line;
            let addr = line
                .trim()
                .strip_prefix("listening ")
                .ok_or_else(|| format!("the server process did not start: {line:?}"))?
                .parse()?;
            Ok(Served { child, addr, io: Mutex::new((stdin, stdout)) })
        }

        /// The server's statement counter (a blocking question of microseconds, asked only
        /// between measurements).
        pub fn statements(&self) -> Result<u64> {
            let mut io = self.io.lock().map_err(|_| "the server's pipes were poisoned")?;
            let (stdin, stdout) = &mut *io;
            writeln!(stdin, "statements")?;
            stdin.flush()?;
            let mut line = String::new();
            stdout.read_line(&mut line)?;
            Ok(line.trim().parse().map_err(|e| format!("the server answered {line:?}: {e}"))?)
        }

        /// Its resident memory now and at its peak, in KiB.
        pub fn memory(&self) -> (u64, u64) {
            super::memory(self.child.id())
        }

        /// Closes its standard input and waits for it to stop.
        pub fn stop(mut self) -> Result<()> {
            drop(self.io);
            let status = self.child.wait()?;
            if !status.success() {
                return Err(format!("the server process ended with {status}").into());
            }
            Ok(())
        }
    }
}

/// PostGraphile 4 serving the seeded PostgreSQL database, as a child process killed on drop.
struct Peer {
    child: std::process::Child,
    client: Client,
}

impl Peer {
    /// Starts `command` (the `postgraphile` CLI) on `url` at a free port and waits until it
    /// answers GraphQL.
    async fn start(command: &str, url: &str, http: &reqwest::Client) -> Result<Peer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = std::process::Command::new(command)
            .args(["--connection", url, "--schema", "public", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--disable-query-log", "--disable-graphiql"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .map_err(|e| format!("AFTERCLASS_BENCH_POSTGRAPHILE={command}: {e}"))?;
        let mut peer = Peer {
            child,
            client: Client { http: http.clone(), url: format!("http://127.0.0.1:{port}/graphql").into() },
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if peer.client.post("", json!({ "query": "{ __typename }" }).to_string()).await.is_ok() {
                println!("  PostGraphile serving the same database at {}", peer.client.url);
                return Ok(peer);
            }
            if Instant::now() > deadline || peer.child.try_wait()?.is_some() {
                return Err("PostGraphile did not start within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
