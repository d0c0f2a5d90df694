//! Configuration, from flags and environment variables. Every setting has a default that works
//! on a fresh machine: the SQLite file `afterclass.db` in the working directory and, with no key
//! configured, a random signing secret kept beside it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use afterclass_domain::privacy::Retention;
use clap::Args;

use crate::store;

/// The default store: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://afterclass.db";
/// The database pool's default size: PostgreSQL connections for as many concurrent requests as a
/// busy replica serves (32), so that they do not queue for connections. Connections are opened as
/// needed (at least one is kept), so an idle replica holds few of PostgreSQL's `max_connections`
/// (100 by default); size it down when many replicas share one server. SQLite uses one writer and
/// at most 8 readers whatever this says.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 32;

/// The From of nudge emails unless `AFTERCLASS_SMTP_FROM` says otherwise.
pub const DEFAULT_SMTP_FROM: &str = "Afterclass <nudges@localhost>";

/// Settings every subcommand shares.
#[derive(Debug, Clone, Args)]
pub struct GlobalOptions {
    /// Where the data lives: `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    /// Most connections to hold open to the database (see [`DEFAULT_MAX_CONNECTIONS`]).
    #[arg(long, env = "AFTERCLASS_DB_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS, global = true)]
    pub db_max_connections: u32,
    /// How long a request waits for a PostgreSQL connection from the pool (opening one included)
    /// before it is answered `UNAVAILABLE`: while the database is down or restarting, requests
    /// fail within this instead of waiting out their time limit. SQLite's pools wait 30 s for
    /// their one writer whatever this says.
    #[arg(long, env = "AFTERCLASS_DB_ACQUIRE_TIMEOUT", default_value = "1s", global = true)]
    pub db_acquire_timeout: String,
    /// SQLite's `synchronous` in WAL mode: `normal` (the default: a power cut may roll back the
    /// last transactions, never corrupt the file), `full` (every commit is on disk before it is
    /// answered) or `extra`.
    #[arg(long, env = "AFTERCLASS_SQLITE_SYNCHRONOUS", default_value = "normal", global = true)]
    pub sqlite_synchronous: String,
    /// HS256 shared secret for bearer tokens.
    #[arg(long, env = "AFTERCLASS_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key for RS256 or EdDSA bearer tokens (see `--jwt-algorithm`).
    #[arg(long, env = "AFTERCLASS_JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<PathBuf>,
    /// The algorithm of the public key: `RS256` or `EdDSA`.
    #[arg(long, env = "AFTERCLASS_JWT_ALGORITHM", default_value = "RS256", global = true)]
    pub jwt_algorithm: String,
    /// When set, tokens must carry this `iss`.
    #[arg(long, env = "AFTERCLASS_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// When set, tokens must carry this `aud`.
    #[arg(long, env = "AFTERCLASS_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// The LMS platform's JWK Set: a file path or an `http(s)://` URL. Its RS256 and EdDSA keys
    /// verify integration tokens that name them by `kid` (beside the key configured above).
    #[arg(long, env = "AFTERCLASS_PLATFORM_JWKS", global = true)]
    pub platform_jwks: Option<String>,
    /// The least time between two loads of the platform key set: a token naming a key the set
    /// does not hold loads it again (the URL fetched, the file read) at most this often.
    #[arg(long, env = "AFTERCLASS_PLATFORM_JWKS_REFRESH", default_value = "1m", global = true)]
    pub platform_jwks_refresh: String,
    /// Whether GraphQL introspection (and so GraphiQL's schema view) is on.
    #[arg(long, env = "AFTERCLASS_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,
    /// HMAC secret for signed, short-lived links (the progress chart). Defaults to the HS256
    /// token secret; required for signed links when tokens are verified with a public key.
    #[arg(long, env = "AFTERCLASS_LINK_SECRET", hide_env_values = true, global = true)]
    pub link_secret: Option<String>,
    /// The service's public base URL (e.g. `https://afterclass.example.edu`), prefixed to the
    /// links it hands out; without it, links are paths.
    #[arg(long, env = "AFTERCLASS_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// How long one request may run before it is stopped, e.g. 10s, 500ms or 1m.
    #[arg(long, env = "AFTERCLASS_REQUEST_TIMEOUT", default_value = "10s", global = true)]
    pub request_timeout: String,
    /// How long `serve` waits for in-flight requests after SIGTERM or SIGINT before it exits anyway.
    #[arg(long, env = "AFTERCLASS_SHUTDOWN_GRACE", default_value = "10s", global = true)]
    pub shutdown_grace: String,
    /// Whether webhook receivers may be at private, loopback, link-local or CGNAT addresses
    /// (refused by default, so that a webhook cannot reach the service's own network).
    #[arg(long, env = "AFTERCLASS_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub webhook_allow_private: bool,
    /// How long one webhook attempt may take before it counts as failed, e.g. 10s.
    #[arg(long, env = "AFTERCLASS_WEBHOOK_TIMEOUT", default_value = "10s", global = true)]
    pub webhook_timeout: String,
    /// The SMTP server that sends nudges by email: `smtp://host:25` (plain),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://user:password@host:465` (TLS). Without
    /// it nudges are only written to the event log.
    #[arg(long, env = "AFTERCLASS_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,
    /// The From of nudge emails, `Name <address>` or an address.
    #[arg(long, env = "AFTERCLASS_SMTP_FROM", default_value = DEFAULT_SMTP_FROM, global = true)]
    pub smtp_from: String,
    /// The LMS platforms registered for LTI 1.3 launches: a JSON file (see README, "Open it from
    /// an LMS"). Without it the `/lti/…` routes answer that no platform is registered.
    #[arg(long, env = "AFTERCLASS_LTI_PLATFORMS", global = true)]
    pub lti_platforms: Option<PathBuf>,
    /// The tool's RSA private key (PEM, PKCS#8 or PKCS#1), which signs its LTI messages and the
    /// web app's sessions. With a SQLite store it defaults to `FILE.lti-key.pem` beside the
    /// database, created on first use.
    #[arg(long, env = "AFTERCLASS_LTI_KEY_FILE", global = true)]
    pub lti_key_file: Option<PathBuf>,
    /// Days after their last cohort ended that the sweeper erases a person whose cohorts have
    /// all ended (disbanded or graduated), e.g. 365; `off` keeps everyone.
    #[arg(long, env = "AFTERCLASS_RETENTION_DAYS", default_value = "off", global = true)]
    pub retention_days: String,
    /// The longest a bearer token may be valid: `exp - iat` (or `exp - now` without `iat`), e.g.
    /// 24h; a token meant to live longer is refused.
    #[arg(long, env = "AFTERCLASS_JWT_MAX_LIFETIME", default_value = "24h", global = true)]
    pub jwt_max_lifetime: String,
    /// Requests one token's bearer (tenant, role and subject) may make per rate window, or `off`.
    #[arg(long, env = "AFTERCLASS_RATE_LIMIT", default_value = "1200", global = true)]
    pub rate_limit: String,
    /// Requests one tenant's tokens may make together per rate window, or `off`.
    #[arg(long, env = "AFTERCLASS_TENANT_RATE_LIMIT", default_value = "12000", global = true)]
    pub tenant_rate_limit: String,
    /// Tenants that tokens may create just in time per rate window, or `off`.
    #[arg(long, env = "AFTERCLASS_NEW_TENANTS_PER_MINUTE", default_value = "60", global = true)]
    pub new_tenants_per_minute: String,
    /// Persons that tokens may create just in time per rate window, or `off`.
    #[arg(long, env = "AFTERCLASS_NEW_PERSONS_PER_MINUTE", default_value = "600", global = true)]
    pub new_persons_per_minute: String,
    /// The length of a rate window (the budgets above are per window), e.g. 1m or 10s.
    #[arg(long, env = "AFTERCLASS_RATE_WINDOW", default_value = "1m", global = true)]
    pub rate_window: String,
    /// Where the budgets are counted: `memory` (this process), `database` (shared by every
    /// replica on the same database) or `auto` (memory on SQLite, database on PostgreSQL).
    #[arg(long, env = "AFTERCLASS_RATE_COUNTERS", default_value = "auto", global = true)]
    pub rate_counters: String,
}

/// The verification key.
#[derive(Clone)]
pub enum KeyConfig {
    Hs256(Vec<u8>),
    Rs256Pem(Vec<u8>),
    EdDsaPem(Vec<u8>),
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str(match self {
            KeyConfig::Hs256(_) => "Hs256(..)",
            KeyConfig::Rs256Pem(_) => "Rs256Pem(..)",
            KeyConfig::EdDsaPem(_) => "EdDsaPem(..)",
        })
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub key: KeyConfig,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// The LMS platform's own signing keys, for integration tokens (see `auth::platform`).
    pub platform_keys: Option<PlatformKeysConfig>,
    /// The longest a token may be valid (see `auth::Verifier::verify`).
    pub max_lifetime: Duration,
}

/// The longest a token may be valid unless `AFTERCLASS_JWT_MAX_LIFETIME` says otherwise.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Request budgets and the cap on just-in-time creation, each per window; `None` is off (see
/// `rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per window of one token's bearer: its tenant, role and subject.
    pub per_token: Option<u32>,
    /// Requests per window of all of one tenant's tokens.
    pub per_tenant: Option<u32>,
    /// Tenants created just in time per window, service-wide.
    pub new_tenants: Option<u32>,
    /// Persons created just in time per window, service-wide.
    pub new_persons: Option<u32>,
    /// The length of a window.
    pub window: Duration,
    /// Where the counters are kept.
    pub counters: RateCounters,
}

/// Where rate counters are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateCounters {
    /// In memory on SQLite (one process serves a file), in the database on PostgreSQL.
    Auto,
    /// In this process's memory.
    Memory,
    /// In the `rate_windows` table, shared by every replica on the database.
    Database,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_token: Some(1_200),
            per_tenant: Some(12_000),
            new_tenants: Some(60),
            new_persons: Some(600),
            window: Duration::from_secs(60),
            counters: RateCounters::Auto,
        }
    }
}

impl RateLimits {
    /// No budget at all (benchmarks).
    pub fn off() -> Self {
        RateLimits { per_token: None, per_tenant: None, new_tenants: None, new_persons: None, ..Self::default() }
    }
}

/// Parses a budget: a positive whole number, or `off`.
pub fn parse_budget(name: &str, text: &str) -> Result<Option<u32>, String> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("off") => Ok(None),
        t => match t.parse::<u32>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!("{name} must be a positive whole number or `off` (got `{text}`)")),
        },
    }
}

/// Where the platform's JWK Set comes from and how often it may be loaded again.
#[derive(Debug, Clone)]
pub struct PlatformKeysConfig {
    pub source: JwksSource,
    /// The least time between two loads when a token names a key the set does not hold.
    pub refresh_interval: Duration,
}

/// A JWK Set's place: a local file or an `http(s)://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

impl JwksSource {
    /// An `http://` or `https://` address is a URL; anything else names a file.
    pub fn parse(text: &str) -> Option<JwksSource> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        if text.is_empty() {
            None
        } else if lower.starts_with("https://") || lower.starts_with("http://") {
            Some(JwksSource::Url(text.to_owned()))
        } else {
            Some(JwksSource::File(PathBuf::from(text)))
        }
    }
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::File(path) => write!(f, "{}", path.display()),
            JwksSource::Url(url) => f.write_str(url),
        }
    }
}

/// Bounds on what one request may ask for and how long it may take (see `graphql::limits`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
    pub body_bytes: usize,
    /// A request still running after this is stopped and answered `TIMEOUT`.
    pub request_timeout: Duration,
    /// How long in-flight requests are waited for at shutdown before the server exits anyway.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            depth: 12,
            complexity: 5_000,
            body_bytes: 256 * 1024,
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Parses `500ms`, `10s`, `2m`, `24h`: a positive duration.
pub fn parse_duration(name: &str, text: &str) -> Result<Duration, String> {
    let bad = || format!("{name} must look like 500ms, 10s, 2m or 24h (got `{text}`)");
    let text = text.trim();
    let (num, unit) = match text.strip_suffix("ms") {
        Some(num) => (num, "ms"),
        None => text.split_at(text.len().saturating_sub(1)),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(bad()),
    };
    if d.is_zero() { Err(bad()) } else { Ok(d) }
}

/// How webhooks are sent (see `webhooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Whether receivers may be at private, loopback, link-local or CGNAT addresses.
    pub allow_private: bool,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings { allow_private: false, timeout: Duration::from_secs(10) }
    }
}

/// SQLite's `synchronous` setting (WAL mode). `Normal` syncs the log at checkpoints only, so a
/// power cut (not a crash of the process) may lose the last commits but never corrupts the
/// file; `Full` syncs the log at every commit, so nothing answered is lost; `Extra` also syncs
/// the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSynchronous {
    #[default]
    Normal,
    Full,
    Extra,
}

impl SqliteSynchronous {
    pub fn parse(text: &str) -> Result<SqliteSynchronous, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(SqliteSynchronous::Normal),
            "full" => Ok(SqliteSynchronous::Full),
            "extra" => Ok(SqliteSynchronous::Extra),
            _ => Err(format!("AFTERCLASS_SQLITE_SYNCHRONOUS must be normal, full or extra (got `{text}`)")),
        }
    }
}

/// How the store connects (read by `store::Store::connect_with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSettings {
    /// How long a request waits for a PostgreSQL connection before it is answered `UNAVAILABLE`.
    pub acquire_timeout: Duration,
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings { acquire_timeout: Duration::from_secs(1), sqlite_synchronous: SqliteSynchronous::Normal }
    }
}

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub max_connections: u32,
    pub store: StoreSettings,
    pub auth: AuthConfig,
    pub introspection: bool,
    pub limits: Limits,
    /// The key for signed links; `None` falls back to the HS256 token secret.
    pub link_secret: Option<Vec<u8>>,
    /// The public base URL for links, without a trailing slash.
    pub public_url: Option<String>,
    pub webhooks: WebhookSettings,
    /// The LTI 1.3 tool, when platforms are registered.
    pub lti: Option<LtiSettings>,
    /// Nudges by email, when an SMTP server is configured.
    pub mail: Option<MailSettings>,
    /// How long people whose cohorts have all ended are kept before the sweeper erases them;
    /// `None` keeps them.
    pub retention: Option<Retention>,
    /// Request budgets and the cap on just-in-time creation.
    pub rates: RateLimits,
}

/// Where nudge emails go out (read by `mail::Mailer::new`, which parses the URL and the From).
#[derive(Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// `smtp://…` or `smtps://…`, credentials included.
    pub url: String,
    pub from: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: show its scheme only.
        let scheme = self.url.split_once("://").map_or("?", |(scheme, _)| scheme);
        f.debug_struct("MailSettings").field("url", &format!("{scheme}://…")).field("from", &self.from).finish()
    }
}

/// Where the LTI tool's registrations and key come from (read by `lti::Lti::new`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LtiSettings {
    /// The JSON file of platform registrations.
    pub platforms: PathBuf,
    /// The tool's private key.
    pub key: ToolKeySource,
    /// The least time between two loads of a platform's key set (`AFTERCLASS_PLATFORM_JWKS_REFRESH`).
    pub key_refresh: Duration,
}

/// The tool's RSA private key: a configured file that must exist, or the local file beside a
/// SQLite store, created on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKeySource {
    Configured(PathBuf),
    Local(PathBuf),
}

impl Config {
    /// Resolves the options into a configuration, creating the local signing secret when the
    /// store is a SQLite file and no key is configured.
    pub fn resolve(opts: &GlobalOptions) -> Result<Config, String> {
        let key = match (&opts.jwt_secret, &opts.jwt_public_key_file) {
            (Some(_), Some(_)) => {
                return Err("set AFTERCLASS_JWT_SECRET or AFTERCLASS_JWT_PUBLIC_KEY_FILE, not both".into());
            }
            (Some(secret), None) if secret.len() < 16 => {
                return Err("AFTERCLASS_JWT_SECRET must be at least 16 characters".into());
            }
            (Some(secret), None) => KeyConfig::Hs256(secret.as_bytes().to_vec()),
            (None, Some(path)) => {
                let pem = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                match opts.jwt_algorithm.to_ascii_uppercase().as_str() {
                    "RS256" => KeyConfig::Rs256Pem(pem),
                    "EDDSA" => KeyConfig::EdDsaPem(pem),
                    other => return Err(format!("AFTERCLASS_JWT_ALGORITHM must be RS256 or EdDSA (got {other})")),
                }
            }
            (None, None) => match sqlite_file(&opts.database_url) {
                Some(db) => KeyConfig::Hs256(local_secret(&db)?),
                None => {
                    return Err("no token key is configured: set AFTERCLASS_JWT_SECRET (HS256) or \
                                AFTERCLASS_JWT_PUBLIC_KEY_FILE (RS256/EdDSA); only a local SQLite store \
                                makes its own secret"
                        .into());
                }
            },
        };
        let link_secret = match &opts.link_secret {
            Some(secret) if secret.len() < 16 => {
                return Err("AFTERCLASS_LINK_SECRET must be at least 16 characters".into());
            }
            Some(secret) => Some(secret.as_bytes().to_vec()),
            None => None,
        };
        let public_url = match opts.public_url.as_deref().map(|u| u.trim().trim_end_matches('/')) {
            None | Some("") => None,
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => Some(url.to_owned()),
            Some(url) => {
                return Err(format!("AFTERCLASS_PUBLIC_URL must start with https:// or http:// (got `{url}`)"));
            }
        };
        let platform_keys = match opts.platform_jwks.as_deref().and_then(JwksSource::parse) {
            Some(source) => Some(PlatformKeysConfig {
                source,
                refresh_interval: parse_duration("AFTERCLASS_PLATFORM_JWKS_REFRESH", &opts.platform_jwks_refresh)?,
            }),
            None => None,
        };
        // Parsed only when it is used, as for the platform key set above.
        let key_refresh = || parse_duration("AFTERCLASS_PLATFORM_JWKS_REFRESH", &opts.platform_jwks_refresh);
        let lti = match (&opts.lti_platforms, &opts.lti_key_file) {
            (None, _) => None,
            (Some(platforms), Some(key)) => Some(LtiSettings {
                platforms: platforms.clone(),
                key: ToolKeySource::Configured(key.clone()),
                key_refresh: key_refresh()?,
            }),
            (Some(platforms), None) => match sqlite_file(&opts.database_url) {
                Some(db) => Some(LtiSettings {
                    platforms: platforms.clone(),
                    key: ToolKeySource::Local(beside(&db, ".lti-key.pem")),
                    key_refresh: key_refresh()?,
                }),
                None => {
                    return Err("AFTERCLASS_LTI_PLATFORMS is set but no tool key is: set AFTERCLASS_LTI_KEY_FILE to \
                                an RSA private key (PEM); only a local SQLite store makes its own"
                        .into());
                }
            },
        };
        let mail = match opts.smtp_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) if url.starts_with("smtp://") || url.starts_with("smtps://") => {
                Some(MailSettings { url: url.to_owned(), from: opts.smtp_from.trim().to_owned() })
            }
            Some(_) => {
                return Err("AFTERCLASS_SMTP_URL must start with smtp:// or smtps:// (e.g. smtp://127.0.0.1:2525, \
                            smtp://host:587?tls=required, smtps://user:password@host:465)"
                    .into());
            }
        };
        let max_lifetime = parse_duration("AFTERCLASS_JWT_MAX_LIFETIME", &opts.jwt_max_lifetime)?;
        if lti.is_some() && max_lifetime < Duration::from_secs(8 * 3600) {
            return Err(
                "AFTERCLASS_JWT_MAX_LIFETIME must be at least 8h with LTI: the web app's sessions last 8 hours".into(),
            );
        }
        let rates = RateLimits {
            per_token: parse_budget("AFTERCLASS_RATE_LIMIT", &opts.rate_limit)?,
            per_tenant: parse_budget("AFTERCLASS_TENANT_RATE_LIMIT", &opts.tenant_rate_limit)?,
            new_tenants: parse_budget("AFTERCLASS_NEW_TENANTS_PER_MINUTE", &opts.new_tenants_per_minute)?,
            new_persons: parse_budget("AFTERCLASS_NEW_PERSONS_PER_MINUTE", &opts.new_persons_per_minute)?,
            window: parse_duration("AFTERCLASS_RATE_WINDOW", &opts.rate_window)?,
            counters: match opts.rate_counters.trim().to_ascii_lowercase().as_str() {
                "auto" => RateCounters::Auto,
                "memory" => RateCounters::Memory,
                "database" => RateCounters::Database,
                other => {
                    return Err(format!("AFTERCLASS_RATE_COUNTERS must be auto, memory or database (got `{other}`)"));
                }
            },
        };
        if rates.window < Duration::from_secs(1) {
            return Err("AFTERCLASS_RATE_WINDOW must be at least 1s".into());
        }
        Ok(Config {
            database_url: opts.database_url.clone(),
            max_connections: opts.db_max_connections.max(1),
            store: StoreSettings {
                acquire_timeout: parse_duration("AFTERCLASS_DB_ACQUIRE_TIMEOUT", &opts.db_acquire_timeout)?,
                sqlite_synchronous: SqliteSynchronous::parse(&opts.sqlite_synchronous)?,
            },
            auth: AuthConfig {
                key,
                issuer: opts.jwt_issuer.clone(),
                audience: opts.jwt_audience.clone(),
                platform_keys,
                max_lifetime,
            },
            introspection: opts.introspection,
            limits: Limits {
                request_timeout: parse_duration("AFTERCLASS_REQUEST_TIMEOUT", &opts.request_timeout)?,
                shutdown_grace: parse_duration("AFTERCLASS_SHUTDOWN_GRACE", &opts.shutdown_grace)?,
                ..Limits::default()
            },
            link_secret,
            public_url,
            webhooks: WebhookSettings {
                allow_private: opts.webhook_allow_private,
                timeout: parse_duration("AFTERCLASS_WEBHOOK_TIMEOUT", &opts.webhook_timeout)?,
            },
            lti,
            mail,
            retention: parse_retention(&opts.retention_days)?,
            rates,
        })
    }
}

/// `AFTERCLASS_RETENTION_DAYS`: `off` (or empty, or 0) keeps everyone; otherwise whole days.
pub fn parse_retention(text: &str) -> Result<Option<Retention>, String> {
    match text.trim() {
        "" | "off" | "0" => Ok(None),
        days => {
            let days: u32 = days
                .parse()
                .map_err(|_| format!("AFTERCLASS_RETENTION_DAYS must be a number of days or `off` (got `{days}`)"))?;
            Retention::days(days).map(Some).map_err(|why| format!("AFTERCLASS_RETENTION_DAYS: {why}"))
        }
    }
}

/// The file behind a SQLite URL, if it names one.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !store::is_sqlite(url) {
        return None;
    }
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") { None } else { Some(PathBuf::from(path)) }
}

/// The file named like the database file with `suffix` appended, in the same directory.
pub fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The signing secret kept beside a SQLite file (`FILE.secret`, owner-only), created on first
/// use, so that `serve` and `token` agree with no configuration.
pub fn local_secret(db: &Path) -> Result<Vec<u8>, String> {
    let path = beside(db, ".secret");
    if let Ok(existing) = std::fs::read(&path) {
        return Ok(existing.trim_ascii().to_vec());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a signing secret: {e}"))?;
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))?;
            Ok(secret.into_bytes())
        }
        // Another process created it between our read and our create: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(&path)
            .map(|s| s.trim_ascii().to_vec())
            .map_err(|e| format!("reading {}: {e}", path.display())),
        Err(e) => Err(format!("creating {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn options(database_url: &str) -> GlobalOptions {
        GlobalOptions {
            database_url: database_url.to_owned(),
            db_max_connections: 10,
            db_acquire_timeout: "1s".into(),
            sqlite_synchronous: "normal".into(),
            jwt_secret: None,
            jwt_public_key_file: None,
            jwt_algorithm: "RS256".into(),
            jwt_issuer: None,
            jwt_audience: None,
            platform_jwks: None,
            platform_jwks_refresh: "1m".into(),
            introspection: true,
            link_secret: None,
            public_url: None,
            request_timeout: "10s".into(),
            shutdown_grace: "10s".into(),
            webhook_allow_private: false,
            webhook_timeout: "10s".into(),
            lti_platforms: None,
            lti_key_file: None,
            smtp_url: None,
            smtp_from: DEFAULT_SMTP_FROM.into(),
            retention_days: "off".into(),
            jwt_max_lifetime: "24h".into(),
            rate_limit: "1200".into(),
            tenant_rate_limit: "12000".into(),
            new_tenants_per_minute: "60".into(),
            new_persons_per_minute: "600".into(),
            rate_window: "1m".into(),
            rate_counters: "auto".into(),
        }
    }

    #[test]
    fn retention_is_off_by_default_and_counted_in_whole_days() {
        assert_eq!(parse_retention("off"), Ok(None));
        assert_eq!(parse_retention("0"), Ok(None));
        assert_eq!(parse_retention(" 30 ").map(|r| r.map(Retention::in_days)), Ok(Some(30)));
        for bad in ["-1", "1.5", "30d", "40000"] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
        let mut opts = options("postgres://localhost/afterclass");
        opts.jwt_secret = Some("a secret of enough length".into());
        assert_eq!(Config::resolve(&opts).map(|c| c.retention), Ok(None));
        opts.retention_days = "365".into();
        assert_eq!(Config::resolve(&opts).map(|c| c.retention.map(Retention::in_days)), Ok(Some(365)));
        opts.retention_days = "soon".into();
        assert!(Config::resolve(&opts).is_err());
    }

    #[test]
    fn budgets_are_positive_numbers_or_off_and_the_window_at_least_a_second() {
        let mut opts = options("postgres://localhost/afterclass");
        opts.jwt_secret = Some("a-long-enough-shared-secret".into());
        let config = Config::resolve(&opts).unwrap();
        assert_eq!(config.rates, RateLimits::default());
        assert_eq!(config.auth.max_lifetime, DEFAULT_MAX_TOKEN_LIFETIME);
        opts.rate_limit = "off".into();
        opts.tenant_rate_limit = "50".into();
        opts.rate_window = "10s".into();
        opts.rate_counters = "database".into();
        let rates = Config::resolve(&opts).unwrap().rates;
        assert_eq!((rates.per_token, rates.per_tenant), (None, Some(50)));
        assert_eq!((rates.window, rates.counters), (Duration::from_secs(10), RateCounters::Database));
        for (bad, name) in
            [("0", "AFTERCLASS_RATE_LIMIT"), ("-3", "AFTERCLASS_RATE_LIMIT"), ("many", "AFTERCLASS_RATE_LIMIT")]
        {
            opts.rate_limit = bad.into();
            assert!(Config::resolve(&opts).unwrap_err().contains(name), "{bad}");
        }
        opts.rate_limit = "off".into();
        opts.rate_window = "500ms".into();
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_RATE_WINDOW"));
        opts.rate_window = "1m".into();
        opts.rate_counters = "redis".into();
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_RATE_COUNTERS"));
        opts.rate_counters = "auto".into();
        opts.jwt_max_lifetime = "forever".into();
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_JWT_MAX_LIFETIME"));
    }

    #[test]
    fn mail_is_on_with_an_smtp_url_whose_password_is_never_printed() {
        let mut opts = options("postgres://localhost/afterclass");
        opts.jwt_secret = Some("a-long-enough-shared-secret".into());
        assert_eq!(Config::resolve(&opts).unwrap().mail, None);
        opts.smtp_url = Some("smtps://nudges:s3cret@mail.example.edu:465".into());
        let mail = Config::resolve(&opts).unwrap().mail.unwrap();
        assert_eq!(mail.from, DEFAULT_SMTP_FROM);
        assert!(!format!("{:?}", Config::resolve(&opts).unwrap()).contains("s3cret"));
        opts.smtp_url = Some("mail.example.edu:25".into());
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_SMTP_URL"));
    }

    #[test]
    fn durations_read_in_milliseconds_seconds_or_minutes() {
        assert_eq!(parse_duration("X", "500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("X", "10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("X", "2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("X", "24h"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "0s", "10", "-1s", "1d", "ms", "h"] {
            assert!(parse_duration("X", bad).is_err(), "{bad}");
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("afterclass-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_store_settings_default_to_a_one_second_acquire_and_normal_sync() {
        let mut opts = options("postgres://db.example/afterclass");
        opts.jwt_secret = Some("a-secret-of-sixteen-bytes".into());
        let cfg = Config::resolve(&opts).unwrap();
        assert_eq!(cfg.store, StoreSettings::default());
        assert_eq!(cfg.store.acquire_timeout, Duration::from_secs(1));
        opts.db_acquire_timeout = "250ms".into();
        opts.sqlite_synchronous = "Full".into();
        let cfg = Config::resolve(&opts).unwrap();
        assert_eq!(cfg.store.acquire_timeout, Duration::from_millis(250));
        assert_eq!(cfg.store.sqlite_synchronous, SqliteSynchronous::Full);
        opts.db_acquire_timeout = "0s".into();
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_DB_ACQUIRE_TIMEOUT"));
        opts.db_acquire_timeout = "1s".into();
        opts.sqlite_synchronous = "off".into();
        assert!(
            Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_SQLITE_SYNCHRONOUS must be normal, full or extra")
        );
    }

    #[test]
    fn a_local_sqlite_store_makes_one_owner_only_secret_and_keeps_it() {
        let dir = temp_dir("secret");
        let url = format!("sqlite://{}/afterclass.db", dir.display());
        let first = Config::resolve(&options(&url)).unwrap();
        let second = Config::resolve(&options(&url)).unwrap();
        let (KeyConfig::Hs256(a), KeyConfig::Hs256(b)) = (&first.auth.key, &second.auth.key) else {
            panic!("expected HS256 keys");
        };
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let secret_file = dir.join("afterclass.db.secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_postgres_store_without_a_key_is_refused() {
        let err = Config::resolve(&options("postgres://localhost/afterclass")).unwrap_err();
        assert!(err.contains("AFTERCLASS_JWT_SECRET"), "{err}");
    }

    #[test]
    fn keys_are_configured_one_way_only() {
        let mut opts = options("postgres://localhost/afterclass");
        opts.jwt_secret = Some("short".into());
        assert!(Config::resolve(&opts).unwrap_err().contains("at least 16"));
        opts.jwt_secret = Some("a-long-enough-shared-secret".into());
        assert!(matches!(Config::resolve(&opts).map(|c| c.auth.key), Ok(KeyConfig::Hs256(_))));
        opts.jwt_public_key_file = Some(PathBuf::from("/nonexistent.pem"));
        assert!(Config::resolve(&opts).unwrap_err().contains("not both"));
    }

    #[test]
    fn a_link_secret_must_be_long_enough_and_a_public_url_absolute() {
        let mut opts = options("postgres://localhost/afterclass");
        opts.jwt_secret = Some("a-long-enough-shared-secret".into());
        let plain = Config::resolve(&opts).unwrap();
        assert_eq!((plain.link_secret, plain.public_url), (None, None));
        opts.link_secret = Some("short".into());
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_LINK_SECRET"));
        opts.link_secret = Some("another-long-enough-secret".into());
        opts.public_url = Some("https://afterclass.example.edu/".into());
        let config = Config::resolve(&opts).unwrap();
        assert_eq!(config.link_secret.as_deref(), Some(&b"another-long-enough-secret"[..]));
        assert_eq!(config.public_url.as_deref(), Some("https://afterclass.example.edu"));
        opts.public_url = Some("afterclass.example.edu".into());
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_PUBLIC_URL"));
    }

    #[test]
    fn a_platform_key_set_is_a_url_or_a_file_with_a_refresh_interval() {
        let mut opts = options("postgres://localhost/afterclass");
        opts.jwt_secret = Some("a-long-enough-shared-secret".into());
        assert!(Config::resolve(&opts).unwrap().auth.platform_keys.is_none());
        opts.platform_jwks = Some("https://lms.example.edu/.well-known/jwks.json".into());
        let platform = Config::resolve(&opts).unwrap().auth.platform_keys.unwrap();
        assert_eq!(platform.source, JwksSource::Url("https://lms.example.edu/.well-known/jwks.json".into()));
        assert_eq!(platform.refresh_interval, Duration::from_secs(60));
        opts.platform_jwks = Some("/etc/afterclass/platform-jwks.json".into());
        opts.platform_jwks_refresh = "5s".into();
        let platform = Config::resolve(&opts).unwrap().auth.platform_keys.unwrap();
        assert_eq!(platform.source, JwksSource::File(PathBuf::from("/etc/afterclass/platform-jwks.json")));
        assert_eq!(platform.refresh_interval, Duration::from_secs(5));
        opts.platform_jwks_refresh = "0s".into();
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_PLATFORM_JWKS_REFRESH"));
        // An empty setting is no setting.
        opts.platform_jwks = Some(" ".into());
        assert!(Config::resolve(&opts).unwrap().auth.platform_keys.is_none());
    }

    #[test]
    fn webhooks_refuse_private_receivers_unless_allowed() {
        let mut opts = options("postgres://localhost/afterclass");
        opts.jwt_secret = Some("a-long-enough-shared-secret".into());
        assert_eq!(Config::resolve(&opts).unwrap().webhooks, WebhookSettings::default());
        opts.webhook_allow_private = true;
        opts.webhook_timeout = "3s".into();
        let webhooks = Config::resolve(&opts).unwrap().webhooks;
        assert_eq!(webhooks, WebhookSettings { allow_private: true, timeout: Duration::from_secs(3) });
        opts.webhook_timeout = "soon".into();
        assert!(Config::resolve(&opts).unwrap_err().contains("AFTERCLASS_WEBHOOK_TIMEOUT"));
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://afterclass.db"), Some(PathBuf::from("afterclass.db")));
        assert_eq!(sqlite_file("sqlite:///tmp/a.db?mode=rwc"), Some(PathBuf::from("/tmp/a.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://localhost/test"), None);
    }
}

#[cfg(test)]
mod lti_tests {
    use super::*;

    #[test]
    fn the_lti_tool_key_is_local_beside_sqlite_and_must_be_configured_with_postgres() {
        let mut opts = super::tests::options("postgres://db.example/afterclass");
        opts.jwt_secret = Some("a-secret-of-sixteen-chars".into());
        opts.lti_platforms = Some(PathBuf::from("platforms.json"));
        let refused = Config::resolve(&opts).err().unwrap_or_default();
        assert!(refused.contains("AFTERCLASS_LTI_KEY_FILE"), "{refused}");
        opts.lti_key_file = Some(PathBuf::from("tool.pem"));
        let lti = Config::resolve(&opts).ok().and_then(|c| c.lti).map(|l| l.key);
        assert_eq!(lti, Some(ToolKeySource::Configured(PathBuf::from("tool.pem"))));

        let dir = std::env::temp_dir().join(format!("afterclass-lti-config-{}", std::process::id()));
        let mut opts = super::tests::options(&format!("sqlite://{}/a.db", dir.display()));
        opts.lti_platforms = Some(PathBuf::from("platforms.json"));
        let lti = Config::resolve(&opts).ok().and_then(|c| c.lti).map(|l| l.key);
        assert_eq!(lti, Some(ToolKeySource::Local(dir.join("a.db.lti-key.pem"))));
        let _ = std::fs::remove_dir_all(dir);
    }
}
