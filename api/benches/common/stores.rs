//! The stores a benchmark runs on: a fresh SQLite file in a temporary directory, and, when a
//! PostgreSQL URL is given, a fresh database beside the one it names; each removed afterwards.

use std::future::Future;

use sea_orm::{ConnectionTrait, Database, DbErr};

/// Runs `on_store` on a fresh SQLite database, then on a fresh PostgreSQL database when
/// `postgres` names a server; gives what each run gave, SQLite's first.
pub async fn on_each_store<T, E, Fut>(
    prefix: &str,
    postgres: Option<&str>,
    mut on_store: impl FnMut(&'static str, String) -> Fut,
) -> Result<Vec<T>, E>
where
    Fut: Future<Output = Result<T, E>>,
    E: From<DbErr> + From<std::io::Error>,
{
    let mut out = Vec::new();
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let outcome = on_store("SQLite", url).await;
    let _ = std::fs::remove_dir_all(&dir);
    out.push(outcome?);

    match postgres {
        Some(admin_url) => {
            let name = unique(prefix);
            let admin = Database::connect(admin_url).await?;
            admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
            let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
            let outcome = on_store("PostgreSQL", format!("{base}/{name}")).await;
            admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
            admin.close().await?;
            out.push(outcome?);
        }
        None => {
            println!("PostgreSQL: skipped (set AFTERCLASS_BENCH_POSTGRES_URL=postgres://user@host:5432/db to run it)")
        }
    }
    Ok(out)
}

/// A name no other run of this process or another has used.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}
