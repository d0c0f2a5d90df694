//! The `afterclass` command line: `serve`, `migrate`, `token` and `demo`.

use std::net::SocketAddr;
use std::process::ExitCode;

use afterclass_domain::access::ViewerRole;
use clap::{Parser, Subcommand};

use crate::auth::Signer;
use crate::config::{Config, GlobalOptions};
use crate::http::{Server, shutdown_signal};
use crate::store::{self, Store};

#[derive(Debug, Parser)]
#[command(name = "afterclass", version, about = "Learning cohorts for the time after a course ends")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve the GraphQL API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "AFTERCLASS_BIND", default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Seed the demo tenant first (see `afterclass demo`).
        #[arg(long)]
        demo: bool,
        /// How often the sweeper evaluates active cohorts, e.g. 15m or 1h; `off` disables it.
        #[arg(long, env = "AFTERCLASS_SWEEP_INTERVAL", default_value = "15m")]
        sweep_interval: String,
        /// How often the webhook worker fans out new events and sends what is due, e.g. 1s or
        /// 500ms; `off` disables it.
        #[arg(long, env = "AFTERCLASS_WEBHOOK_INTERVAL", default_value = "1s")]
        webhook_interval: String,
        /// How often the mail worker sends the nudges that are due by email (with
        /// `AFTERCLASS_SMTP_URL`), e.g. 30s or 1m; `off` disables it on this replica.
        #[arg(long, env = "AFTERCLASS_MAIL_INTERVAL", default_value = "30s")]
        mail_interval: String,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Print a signed token for local use.
    Token {
        /// The person's externalId (the `sub` claim).
        #[arg(long)]
        sub: String,
        /// instructor, trainee or integration.
        #[arg(long)]
        role: String,
        /// The tenant (the `tid` claim).
        #[arg(long)]
        tenant: String,
        /// A display name (the `name` claim).
        #[arg(long)]
        name: Option<String>,
        /// How long the token is valid, e.g. 30m or 8h; at most AFTERCLASS_JWT_MAX_LIFETIME (24h).
        #[arg(long, default_value = "8h")]
        ttl: String,
    },
    /// Seed a demo tenant and print tokens to try it with.
    Demo,
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("afterclass: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Tasks a stopped server abandoned (see `Server::run`) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("afterclass: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AFTERCLASS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sqlx::postgres::notice=warn"));
    let json = std::env::var("AFTERCLASS_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> Result<(), String> {
    let config = Config::resolve(&cli.global)?;
    match cli.command {
        Command::Serve { bind, demo, sweep_interval, webhook_interval, mail_interval } => {
            let sweep_every = match sweep_interval.as_str() {
                "off" | "0" => None,
                text => Some(parse_ttl(text)?.to_std().map_err(|e| e.to_string())?),
            };
            let webhooks_every = match webhook_interval.as_str() {
                "off" | "0" => None,
                text => Some(crate::config::parse_duration("AFTERCLASS_WEBHOOK_INTERVAL", text)?),
            };
            let mail_every = match mail_interval.as_str() {
                "off" | "0" => None,
                text => Some(crate::config::parse_duration("AFTERCLASS_MAIL_INTERVAL", text)?),
            };
            let deliverer = crate::webhooks::Deliverer::new(config.webhooks)?;
            let demo_tokens = if demo { seed_demo(&config).await? } else { Vec::new() };
            let server = Server::bind(&config, bind).await?;
            let mailer = match &config.mail {
                Some(settings) => Some(crate::mail::Mailer::new(settings, &mail_base_url(&config, &server)?, &config)?),
                None => None,
            };
            // With SMTP configured new nudges wait for the mail worker (of this replica or another).
            let delivery = if mailer.is_some() {
                crate::app::nudges::Delivery::EventsAndMail
            } else {
                crate::app::nudges::Delivery::EventsOnly
            };
            let shutdown = shutdown_signal();
            let sweep = crate::sweeper::Options { delivery, retention: config.retention };
            let sweeper =
                sweep_every.map(|every| tokio::spawn(crate::sweeper::run(server.store().clone(), every, sweep)));
            let mail = mailer
                .zip(mail_every)
                .map(|(mailer, every)| tokio::spawn(crate::mail::run(server.store().clone(), mailer, every)));
            let webhooks = webhooks_every
                .map(|every| tokio::spawn(crate::webhooks::run(server.store().clone(), deliverer, every)));
            let addr = server.local_addr()?;
            tracing::info!(%addr, "serving");
            println!("Afterclass is serving GraphQL at http://{addr}/graphql (open it in a browser for GraphiQL).");
            if store::is_sqlite(&config.database_url) {
                println!("Data: {} — get a token with:", config.database_url);
                println!("  cargo run -p afterclass -- token --sub ada --role instructor --tenant demo");
                println!("and send it as the header  Authorization: Bearer <token>");
            }
            println!(
                "The web app: http://{addr}/app (opened by an LTI launch, or with #token=<token>&course=<lmsCourseId>)"
            );
            for (name, role, token) in demo_tokens.iter().filter(|(_, role, _)| *role != ViewerRole::Integration) {
                println!(
                    "  as {name} ({}): http://{addr}/app#token={token}&course={}",
                    role.as_claim(),
                    crate::demo::COURSE_ID
                );
            }
            let served = server.run(shutdown).await;
            // A pass cut short rolls back; the next start sweeps again.
            if let Some(sweeper) = sweeper {
                sweeper.abort();
            }
            // An attempt cut short is sent again once its lease ends.
            if let Some(webhooks) = webhooks {
                webhooks.abort();
            }
            // Likewise a nudge whose sending was cut short.
            if let Some(mail) = mail {
                mail.abort();
            }
            served
        }
        Command::Migrate => {
            let store = Store::connect_with(&config.database_url, 1, &config.store)
                .await
                .map_err(|e| format!("opening the database: {e}"))?;
            store.migrate().await.map_err(|e| format!("applying migrations: {e}"))?;
            store.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Token { sub, role, tenant, name, ttl } => {
            let role = ViewerRole::parse_claim(&role)
                .ok_or_else(|| format!("--role must be instructor, trainee or integration (got `{role}`)"))?;
            let ttl = parse_ttl(&ttl)?;
            if ttl.to_std().is_ok_and(|ttl| ttl > config.auth.max_lifetime) {
                return Err(format!(
                    "--ttl is longer than AFTERCLASS_JWT_MAX_LIFETIME ({} s): the service would refuse the token",
                    config.auth.max_lifetime.as_secs()
                ));
            }
            let token =
                Signer::new(&config.auth)?.sign(&sub, &tenant, role, name.as_deref(), ttl, chrono::Utc::now())?;
            println!("{token}");
            Ok(())
        }
        Command::Demo => seed_demo(&config).await.map(|_| ()),
    }
}

/// The base of the unsubscribe links in nudge emails: `AFTERCLASS_PUBLIC_URL`, or else the
/// address `serve` listens on (fine on one machine; refused when it is an unspecified address
/// such as 0.0.0.0, which no mail reader can open).
fn mail_base_url(config: &Config, server: &Server) -> Result<String, String> {
    if let Some(url) = &config.public_url {
        return Ok(url.clone());
    }
    let addr = server.local_addr()?;
    if addr.ip().is_unspecified() {
        return Err(format!(
            "nudges by email need AFTERCLASS_PUBLIC_URL for their unsubscribe links: the server listens on {addr}, \
             which is no address a mail reader can open"
        ));
    }
    tracing::warn!(%addr, "AFTERCLASS_PUBLIC_URL is not set: unsubscribe links in nudge emails point at http://{addr}");
    Ok(format!("http://{addr}"))
}

/// Seeds the demo tenant and prints its people's tokens; returns them (name, role, token).
async fn seed_demo(config: &Config) -> Result<Vec<(String, ViewerRole, String)>, String> {
    let store = Store::connect_with(&config.database_url, 2, &config.store)
        .await
        .map_err(|e| format!("opening the database: {e}"))?;
    store.migrate().await.map_err(|e| format!("applying migrations: {e}"))?;
    let seeded = crate::demo::seed(&store, store::now()).await.map_err(|e| format!("seeding the demo: {e}"))?;
    store.close().await;
    let signer = Signer::new(&config.auth)?;
    let ttl = chrono::Duration::hours(8);
    println!(
        "Demo tenant `{}`: cohort \"{}\" with {} members.",
        crate::demo::TENANT,
        seeded.cohort_name,
        seeded.members
    );
    let mut tokens = Vec::new();
    for (who, role, name) in crate::demo::PEOPLE_WITH_TOKENS {
        let token = signer.sign(who, crate::demo::TENANT, *role, Some(name), ttl, chrono::Utc::now())?;
        println!("\n{name} ({}):\n{token}", role.as_claim());
        tokens.push(((*name).to_owned(), *role, token));
    }
    Ok(tokens)
}

/// Parses `30m`, `8h`, `7d` or `3600s`.
pub fn parse_ttl(text: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("--ttl must look like 30m, 8h or 7d (got `{text}`)");
    let (num, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    };
    d.filter(|d| *d > chrono::Duration::zero()).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_is_minted_for_no_longer_than_the_service_accepts() {
        let token = |ttl: &str| {
            let args = ["afterclass", "--database-url", "postgres://db.example/afterclass", "--jwt-secret"];
            let mut args: Vec<&str> = args.to_vec();
            args.extend(["a-long-enough-shared-secret", "token", "--sub", "ada", "--role", "trainee"]);
            args.extend(["--tenant", "t1", "--ttl", ttl]);
            Cli::try_parse_from(args).map_err(|e| e.to_string())
        };
        let refused = match token("7d") {
            Ok(cli) => run(cli).await.err().unwrap_or_default(),
            Err(e) => e,
        };
        assert!(refused.contains("AFTERCLASS_JWT_MAX_LIFETIME"), "{refused}");
        let minted = match token("24h") {
            Ok(cli) => run(cli).await,
            Err(e) => Err(e),
        };
        assert_eq!(minted, Ok(()));
    }

    #[test]
    fn ttls_read_as_durations() {
        assert_eq!(parse_ttl("8h"), Ok(chrono::Duration::hours(8)));
        assert_eq!(parse_ttl("30m"), Ok(chrono::Duration::minutes(30)));
        assert_eq!(parse_ttl("7d"), Ok(chrono::Duration::days(7)));
        assert!(parse_ttl("8").is_err() && parse_ttl("h").is_err() && parse_ttl("-1h").is_err());
    }
}
