//! How long evaluating a large cohort takes, and how many SQL statements it costs.
//!
//! `cargo bench -p afterclass --bench evaluation` seeds a fresh SQLite file (in a temporary
//! directory) with one ACTIVE cohort of 1,000 members and 1,000,000 check-ins over 120 days, plus
//! a small cohort of 10 members and 100 check-ins, then times:
//!
//! - `evaluate_now`: `afterclass::app::evaluate_now`, the aggregate snapshot and the criteria;
//! - `snapshot + health`: what `Cohort.health` costs, the snapshot and `lifecycle::health`;
//! - `health (domain)`: `afterclass_domain::lifecycle::health` alone, on a snapshot in memory;
//! - `progress (3 goals)`: `store::progress::observations` for the three goals and their progress.
//!
//! With `AFTERCLASS_BENCH_POSTGRES_URL` set (e.g. `postgres://postgres@127.0.0.1:5432/test`) it
//! does the same on a fresh PostgreSQL database created beside the one named and dropped at the
//! end. `AFTERCLASS_BENCH_CHECK_INS` (default 1,000,000), `AFTERCLASS_BENCH_MEMBERS` (default
//! 1,000) and `AFTERCLASS_BENCH_ITERATIONS` (default 10, after 2 warm-up runs) change the size.
//! Run without `--bench` (as `cargo test --benches` does) it makes one quick pass over 10,000
//! check-ins instead.
//!
//! Before timing, each snapshot is checked against what the seeding formula says it must be, so
//! both stores are known to hold the same data and to aggregate it correctly.

#[path = "evaluation/seed.rs"]
mod seed;
#[path = "common/stores.rs"]
mod stores;

use std::error::Error;
use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use afterclass::app::evaluate_now;
use afterclass::store::{self, Store, lifecycle, progress, to_micros};
use afterclass_domain::goal::{self as dgoal, Aggregation, GoalSpec};
use afterclass_domain::lifecycle as dl;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use seed::{Plan, Seeded};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The small cohort, to show that statements do not grow with the data.
const SMALL: (u64, u64) = (10, 100);
const WARM_UP: usize = 2;
/// Calls of the pure `health` per timed run, so that one run is long enough to time.
const PURE_CALLS: u32 = 10_000;

struct Settings {
    members: u64,
    check_ins: u64,
    iterations: usize,
    postgres: Option<String>,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let full = std::env::args().any(|a| a == "--bench");
        Ok(Settings {
            members: number("AFTERCLASS_BENCH_MEMBERS", 1_000)?.max(1),
            check_ins: number("AFTERCLASS_BENCH_CHECK_INS", if full { 1_000_000 } else { 10_000 })?,
            iterations: usize::try_from(number("AFTERCLASS_BENCH_ITERATIONS", if full { 10 } else { 1 })?)?.max(1),
            postgres: std::env::var("AFTERCLASS_BENCH_POSTGRES_URL").ok().filter(|u| !u.is_empty()),
        })
    }
}

/// A whole number from the environment; `1_000_000` and `1,000,000` are accepted.
fn number(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(text) => {
            let digits: String = text.chars().filter(|c| !matches!(c, '_' | ',')).collect();
            digits.parse().map_err(|err| format!("{name}={text}: {err}").into())
        }
        Err(_) => Ok(default),
    }
}

/// One line of the report.
struct Row {
    backend: &'static str,
    members: u64,
    check_ins: u64,
    operation: &'static str,
    statements: (u64, u64),
    times: Vec<Duration>,
}

fn main() -> Result<()> {
    let settings = Settings::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(&settings))
}

async fn run(settings: &Settings) -> Result<()> {
    println!(
        "evaluation benchmark: {} members, {} check-ins; {WARM_UP} warm-up and {} timed runs per operation",
        settings.members, settings.check_ins, settings.iterations
    );
    let rows: Vec<Row> =
        stores::on_each_store("afterclass_bench", settings.postgres.as_deref(), |backend, url| async move {
            on_backend(backend, &url, settings).await
        })
        .await?
        .into_iter()
        .flatten()
        .collect();

    print_table(&rows);
    Ok(())
}

/// Seeds both cohorts into a fresh store at `url` and measures each.
async fn on_backend(backend: &'static str, url: &str, settings: &Settings) -> Result<Vec<Row>> {
    let store = Store::connect(url, 4).await?;
    store.migrate().await?;
    let now = store::now();
    let large = Plan { members: settings.members, check_ins: settings.check_ins, now: to_micros(now) };
    let small = Plan { members: SMALL.0, check_ins: SMALL.1, now: to_micros(now) };

    let started = Instant::now();
    let large_cohort = seed::seed(&store, "bench-large", &large).await?;
    let small_cohort = seed::seed(&store, "bench-small", &small).await?;
    if store.backend() == sea_orm::DbBackend::Postgres {
        // What autovacuum does soon after a bulk load anyway: statistics and the visibility map,
        // so that timings do not depend on whether it has run yet.
        store.writer().execute_unprepared("VACUUM ANALYZE").await?;
    }
    println!(
        "{backend}: seeded {} + {} check-ins, {} + {} members in {:.1} s",
        large.check_ins,
        small.check_ins,
        large.members,
        small.members,
        started.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    for (plan, seeded) in [(&large, &large_cohort), (&small, &small_cohort)] {
        rows.extend(measure_cohort(backend, &store, plan, seeded, now, settings.iterations).await?);
    }
    store.close().await;
    Ok(rows)
}

async fn measure_cohort(
    backend: &'static str,
    store: &Store,
    plan: &Plan,
    seeded: &Seeded,
    now: DateTime<Utc>,
    iterations: usize,
) -> Result<Vec<Row>> {
    let reader = store.reader();
    let cohort = &seeded.cohort;
    let snapshot = lifecycle::snapshot(reader, cohort, to_micros(now)).await?;
    let expected = plan.expected_snapshot(seeded);
    if snapshot != expected {
        return Err(
            format!("{backend}: the snapshot differs from the seeded data:\n{snapshot:#?}\n{expected:#?}").into()
        );
    }
    let evaluation = evaluate_now(reader, cohort, now).await?;
    println!(
        "{backend}, {} members: {} active in the window, {} check-ins in it ({} before); health {}; {}",
        plan.members,
        snapshot.members_active_in_window,
        snapshot.check_ins_in_window,
        snapshot.check_ins_in_previous_window,
        dl::health(&snapshot).status.as_str(),
        evaluation.summary
    );

    let row = |operation: &'static str, (statements, times): ((u64, u64), Vec<Duration>)| Row {
        backend,
        members: plan.members,
        check_ins: plan.check_ins,
        operation,
        statements,
        times,
    };
    let mut rows = Vec::new();
    rows.push(row("evaluate_now", time(store, iterations, move || evaluate_now(reader, cohort, now)).await?));
    rows.push(row(
        "snapshot + health",
        time(store, iterations, move || async move {
            Ok(dl::health(&lifecycle::snapshot(reader, cohort, to_micros(now)).await?))
        })
        .await?,
    ));
    let snapshot = &snapshot;
    let (statements, mut times) = time(store, iterations, move || async move {
        for _ in 0..PURE_CALLS {
            black_box(dl::health(black_box(snapshot)));
        }
        Ok(())
    })
    .await?;
    times.iter_mut().for_each(|t| *t /= PURE_CALLS);
    rows.push(row("health (domain)", (statements, times)));

    let goal_ids: &[i64] = &seeded.goals.iter().map(|g| g.id).collect::<Vec<_>>();
    let specs: &[(i64, GoalSpec)] = &seeded.goals.iter().map(|g| (g.id, spec(g))).collect::<Vec<_>>();
    let activated = cohort.activated_at.map(store::from_micros);
    rows.push(row(
        "progress (3 goals)",
        time(store, iterations, move || async move {
            let observed = progress::observations(reader, goal_ids, to_micros(now)).await?;
            let progress: Vec<dgoal::Progress> = specs
                .iter()
                .map(|(id, spec)| dgoal::progress(spec, &observed.get(id).cloned().unwrap_or_default(), activated, now))
                .collect();
            Ok(progress)
        })
        .await?,
    ));
    Ok(rows)
}

fn spec(g: &store::entities::goal::Model) -> GoalSpec {
    let deadline = g.deadline.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    GoalSpec::from_stored(
        g.target,
        g.start_value,
        Aggregation::parse(&g.aggregation).unwrap_or(Aggregation::Sum),
        deadline,
    )
}

/// Runs `op` `WARM_UP` times, then `iterations` times timed; gives the fewest and most statements
/// a timed run issued, and each run's time.
async fn time<T, F, Fut>(store: &Store, iterations: usize, mut op: F) -> Result<((u64, u64), Vec<Duration>)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, DbErr>>,
{
    for _ in 0..WARM_UP {
        black_box(op().await?);
    }
    let (mut fewest, mut most) = (u64::MAX, 0);
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let before = store.statements();
        let started = Instant::now();
        black_box(op().await?);
        times.push(started.elapsed());
        let statements = store.statements() - before;
        (fewest, most) = (fewest.min(statements), most.max(statements));
    }
    Ok(((fewest, most), times))
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| backend | members | check-ins | operation | statements | median | mean | min | max |\n\
         | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        let mut sorted = r.times.clone();
        sorted.sort();
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2 };
        let mean = sorted.iter().sum::<Duration>() / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        let statements = match r.statements {
            (a, b) if a == b => a.to_string(),
            (a, b) => format!("{a}–{b}"),
        };
        println!(
            "| {} | {} | {} | {} | {statements} | {} | {} | {} | {} |",
            r.backend,
            grouped(r.members),
            grouped(r.check_ins),
            r.operation,
            human(median),
            human(mean),
            human(sorted.first().copied().unwrap_or_default()),
            human(sorted.last().copied().unwrap_or_default()),
        );
    }
}

/// `1000000` as `1,000,000`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.2} µs", secs * 1e6)
    }
}
