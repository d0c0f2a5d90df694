//! How long free-text search takes over 100,000 cohorts, and similar-cohort ranking over the
//! candidates one tenant keeps.
//!
//! `cargo bench -p afterclass --bench search` seeds a fresh SQLite file (in a temporary
//! directory) with one tenant's 100,000 cohorts, named and described from a vocabulary of fields,
//! then times `store::search::search` for a handful of queries (first page of 20, in relevance
//! order, with the total count) and `afterclass_domain::similarity::rank` over 2,000 candidates.
//! With `AFTERCLASS_BENCH_POSTGRES_URL` set it does the same on a fresh PostgreSQL database
//! created beside the one named and dropped at the end. `AFTERCLASS_BENCH_COHORTS` (default
//! 100,000) and `AFTERCLASS_BENCH_ITERATIONS` (default 20) change the size. Run without
//! `--bench` (as `cargo test --benches` does) it makes one quick pass over 2,000 cohorts.

use std::error::Error;
use std::time::{Duration, Instant};

use afterclass::store::{Store, search};
use afterclass_domain::similarity::{Candidate, Draft, rank};
use sea_orm::{ConnectionTrait, Database};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const FIELDS: &[(&str, &[&str])] = &[
    ("Rust programming", &["rust", "async", "tokio", "ownership", "embedded"]),
    ("Python for data", &["python", "pandas", "notebooks", "statistics", "plotting"]),
    ("Spanish conversation", &["spanish", "grammar", "speaking", "listening", "b1"]),
    ("Machine learning", &["models", "training", "pytorch", "evaluation", "features"]),
    ("Nursing practice", &["wards", "medication", "patients", "shifts", "care"]),
    ("Accounting", &["ledgers", "audits", "tax", "reporting", "controls"]),
    ("Jazz guitar", &["chords", "improvisation", "standards", "rhythm", "scales"]),
    ("Teaching practice", &["classroom", "assessment", "feedback", "lessons", "pupils"]),
    ("Climbing", &["bouldering", "technique", "routes", "strength", "safety"]),
    ("Graphic design", &["typography", "layout", "colour", "branding", "figma"]),
];

const QUERIES: &[&str] = &["rust async", "spanish", "machine learning models", "jazz improvisation", "nurs", "zzzz"];

fn number(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(text) => Ok(text.chars().filter(|c| c.is_ascii_digit()).collect::<String>().parse()?),
        Err(_) => Ok(default),
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The i-th cohort: a field, a level, a city and two topics of the field.
fn cohort(i: u64) -> (String, String, String, String) {
    let (domain, topics) = FIELDS[(i % FIELDS.len() as u64) as usize];
    let a = topics[(i / 10 % 5) as usize];
    let b = topics[(i / 50 % 5) as usize];
    let level = ["beginners", "intermediate", "advanced"][(i % 3) as usize];
    let name = format!("{domain} {level} circle {i}");
    let purpose = format!("Practise {a} and {b} together every week after the course ends");
    let tags = format!("[\"{a}\",\"{b}\"]");
    (name, domain.to_owned(), purpose, tags)
}

async fn seed(store: &Store, cohorts: u64) -> Result<i64> {
    let conn = store.writer();
    conn.execute_unprepared("INSERT INTO tenants (key, created_at) VALUES ('bench', 0)").await?;
    let tenant: i64 = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT id FROM tenants WHERE key = 'bench'",
        ))
        .await?
        .ok_or("no tenant")?
        .try_get_by_index(0)?;
    let mut i = 0;
    while i < cohorts {
        let end = (i + 1_000).min(cohorts);
        let rows: Vec<String> = (i..end)
            .map(|n| {
                let (name, domain, purpose, tags) = cohort(n);
                format!(
                    "({tenant}, {}, {}, {}, {}, 'OPEN_ENDED', 'ACTIVE', 'OPEN', {n})",
                    quote(&name),
                    quote(&domain),
                    quote(&purpose),
                    quote(&tags)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO cohorts (tenant_id, name, domain, purpose, tags, horizon, stage, visibility, created_at) VALUES {}",
            rows.join(", ")
        );
        conn.execute_unprepared(&sql).await?;
        i = end;
    }
    Ok(tenant)
}

fn report(label: &str, backend: &str, mut times: Vec<Duration>, note: &str) {
    times.sort();
    let median = times[times.len() / 2];
    let max = times[times.len() - 1];
    println!("{backend:<10} {label:<32} median {:>9.3} ms   max {:>9.3} ms   {note}", ms(median), ms(max));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

async fn run(backend: &str, url: &str, cohorts: u64, iterations: usize) -> Result<()> {
    let store = Store::connect(url, 4).await?;
    store.migrate().await?;
    let started = Instant::now();
    let tenant = seed(&store, cohorts).await?;
    if store.backend() == sea_orm::DbBackend::Postgres {
        // What autovacuum does soon after a bulk load in production: statistics for the planner.
        store.writer().execute_unprepared("ANALYZE cohorts").await?;
    }
    println!("{backend:<10} seeded {cohorts} cohorts in {:.1} s", started.elapsed().as_secs_f64());
    let scope = search::Scope { tenant_id: tenant, trainee: None };
    for query in QUERIES {
        let mut times = Vec::with_capacity(iterations);
        let mut total = 0;
        for _ in 0..iterations + 2 {
            let t = Instant::now();
            let (_, n) = search::search(store.reader(), scope, query, 0, 20).await?;
            times.push(t.elapsed());
            total = n;
        }
        times.drain(..2);
        report(&format!("search {query:?}"), backend, times, &format!("{total} matches"));
    }
    // A trainee's search also filters by visibility and membership.
    let trainee = search::Scope { tenant_id: tenant, trainee: Some(1) };
    let mut times = Vec::new();
    for _ in 0..iterations {
        let t = Instant::now();
        search::search(store.reader(), trainee, "rust async", 0, 20).await?;
        times.push(t.elapsed());
    }
    report("search \"rust async\" (trainee)", backend, times, "");
    store.close().await;
    Ok(())
}

fn bench_similarity(iterations: usize) {
    let rows: Vec<(String, String, String, Vec<String>)> = (0..2_000)
        .map(|i| {
            let (name, domain, purpose, tags) = cohort(i);
            let tags: Vec<String> = serde_json::from_str(&tags).unwrap_or_default();
            (name, domain, purpose, tags)
        })
        .collect();
    let candidates: Vec<Candidate> = rows
        .iter()
        .enumerate()
        .map(|(i, (name, domain, purpose, tags))| Candidate { id: i as i64, name, domain, purpose, tags })
        .collect();
    let tags = vec!["rust".to_owned()];
    let draft =
        Draft { name: Some("Rust programing practise"), domain: Some("rust programing"), purpose: None, tags: &tags };
    let mut times = Vec::new();
    for _ in 0..iterations {
        let t = Instant::now();
        let matches = rank(&draft, &candidates, 10);
        times.push(t.elapsed());
        std::hint::black_box(matches);
    }
    report("similarity over 2,000 cohorts", "domain", times, "");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let cohorts = number("AFTERCLASS_BENCH_COHORTS", if full { 100_000 } else { 2_000 })?;
    let iterations = usize::try_from(number("AFTERCLASS_BENCH_ITERATIONS", if full { 20 } else { 2 })?)?.max(1);
    let dir = std::env::temp_dir().join(format!("afterclass-bench-search-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("search.db");
    let result = run("sqlite", &format!("sqlite://{}", file.display()), cohorts, iterations).await;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    if let Ok(admin) = std::env::var("AFTERCLASS_BENCH_POSTGRES_URL") {
        let name = format!("afterclass_bench_search_{}", std::process::id());
        let conn = Database::connect(admin.as_str()).await?;
        conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin.clone());
        let result = run("postgres", &format!("{base}/{name}"), cohorts, iterations).await;
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
        result?;
    }
    bench_similarity(iterations);
    Ok(())
}
