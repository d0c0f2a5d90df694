//! Nudges by email: the mail worker, a background task of `serve` beside the webhook worker,
//! when `AFTERCLASS_SMTP_URL` is configured (the sweeper then records new nudges as `PENDING`).
//! Each pass, as of a given `now` (time is an input, so tests drive it with their own clock):
//!
//! 1. **Claim** ([`claim`]): `PENDING` nudges whose `next_attempt_at` is due, `FOR UPDATE SKIP
//!    LOCKED` on PostgreSQL (SQLite has one writer), 32 at a time, leased by moving their
//!    `next_attempt_at` to `now + lease` in the same short transaction: no other worker claims
//!    them until then, and a worker that dies holding them gives them back when the lease ends.
//! 2. **Attempt** ([`attempt`]), side by side outside that transaction: the member's person and
//!    membership and the cohort are read again. A cohort or member no longer `ACTIVE`, nudges
//!    turned off since, no email address (or one that is not an address) → `SKIPPED` with the
//!    reason in `last_error`. In the quiet hours of the cohort's zone nothing is sent: the nudge
//!    waits for 08:00 local, no attempt counted. Otherwise the message ([`Mailer::compose`]) is
//!    sent: `SENT` with `sent_at`, or after a failure a retry on the domain's schedule
//!    (`nudge::send_retry_at`: 1 min, 5 min, 30 min, 2 h, never at night) with `last_error`, and
//!    `FAILED` after the 5th attempt or at once when the server refuses it for good (a 5xx).
//!    The outcome is recorded only while the lease is still this worker's (`next_attempt_at` as
//!    claimed), so a worker whose lease ran out cannot overwrite the one that took over. Delivery
//!    is at least once: a worker that dies between sending and recording sends again after the
//!    lease.

use std::time::Duration as StdDuration;

use afterclass_domain::cohort::MembershipStatus;
use afterclass_domain::nudge as dn;
use afterclass_domain::stage::Stage;
use chrono::{DateTime, Duration, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::config::{Config, MailSettings};
use crate::ids::{self, Kind};
use crate::links::{UNSUBSCRIBE_PATH, Unsubscribes};
use crate::render::svg::escape;
use crate::store::entities::{cohort, membership, nudge, person};
use crate::store::nudges::{self as sn};
use crate::store::{self, Store, to_micros};

/// How long one SMTP conversation may take (connecting included) before it counts as failed.
pub const TIMEOUT: StdDuration = StdDuration::from_secs(20);
/// Nudges claimed (and sent side by side) at once.
const CLAIM_BATCH: u64 = 32;
/// The longest `last_error` kept.
const MAX_ERROR_CHARS: usize = 500;

const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");

/// Sends nudge emails: the SMTP transport, the From, and the signer of unsubscribe links.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The absolute base of unsubscribe links, without a trailing slash.
    base_url: String,
    links: Unsubscribes,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the SMTP credentials: never print it.
        f.debug_struct("Mailer").field("from", &self.from.to_string()).field("base_url", &self.base_url).finish()
    }
}

impl Mailer {
    /// A mailer for the configured SMTP server and From, whose unsubscribe links start with
    /// `base_url` (the public URL; see `cli`). Refuses, with the setting at fault, a URL lettre
    /// cannot read, a From that is not an address, a base that is not absolute, and a server
    /// with no link key (a public-key configuration without `AFTERCLASS_LINK_SECRET`).
    pub fn new(settings: &MailSettings, base_url: &str, config: &Config) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| format!("AFTERCLASS_SMTP_URL cannot be used: {e}"))?
            .timeout(Some(TIMEOUT))
            .build();
        let from: Mailbox = settings.from.parse().map_err(|e| {
            format!("AFTERCLASS_SMTP_FROM must be an address or `Name <address>` (got `{}`): {e}", settings.from)
        })?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(format!("the unsubscribe links of nudge emails need an absolute base URL (got `{base_url}`)"));
        }
        let links = Unsubscribes::new(config);
        if !links.has_key() {
            return Err("nudges by email need a key for their unsubscribe links: this server verifies tokens with \
                        a public key, so AFTERCLASS_LINK_SECRET must be set"
                .into());
        }
        Ok(Mailer { transport, from, base_url, links })
    }

    /// How long a claim holds its nudges: longer than one batch of attempts takes.
    pub fn lease(&self) -> Duration {
        Duration::from_std(TIMEOUT * 2 + StdDuration::from_secs(30)).unwrap_or(Duration::minutes(5))
    }

    /// The unsubscribe link sent with this nudge to this member.
    pub fn unsubscribe_url(&self, member: &membership::Model, nudge_id: i64) -> Option<String> {
        let token = self.links.token(member.tenant_id, member.id, nudge_id)?;
        Some(format!("{}{UNSUBSCRIBE_PATH}{token}", self.base_url))
    }

    /// The email of a nudge to a member: To their address with their display name, From the
    /// configured address, the nudge's subject (it names the cohort), `multipart/alternative`
    /// with the body as text and as HTML (escaped, in paragraphs), the one-click unsubscribe
    /// link in both and in `List-Unsubscribe` with `List-Unsubscribe-Post` (RFC 8058).
    /// `Err` names why it cannot be written (an address that is not one).
    pub fn compose(
        &self,
        n: &nudge::Model,
        member: &membership::Model,
        who: &person::Model,
        cohort_name: &str,
        now: DateTime<Utc>,
    ) -> Result<Message, String> {
        let email = who.email.as_deref().ok_or("the member has no email address")?;
        let address: Address =
            email.trim().parse().map_err(|e| format!("the member's email address is not usable: {e}"))?;
        let url = self.unsubscribe_url(member, n.id).ok_or("no key signs unsubscribe links")?;
        let domain = self.from.email.domain();
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(Some(who.display_name.clone()), address))
            .subject(n.subject.clone())
            .date(std::time::SystemTime::from(now))
            .message_id(Some(format!("<nudge.{}@{domain}>", ids::encode(Kind::Nudge, n.id))))
            .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, format!("<{url}>")))
            .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE_POST, "List-Unsubscribe=One-Click".to_owned()))
            .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".to_owned()))
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(text_body(&n.body, cohort_name, &url)))
                    .singlepart(SinglePart::html(html_body(&n.subject, &n.body, cohort_name, &url))),
            )
            .map_err(|e| format!("the message could not be written: {e}"))
    }
}

/// The text part: the nudge's words, then how to stop them.
pub fn text_body(body: &str, cohort_name: &str, url: &str) -> String {
    let body = body.replace("\r\n", "\n");
    format!(
        "{}\n\n-- \nYou receive these nudges as a member of {cohort_name}. To stop them, open:\n{url}\n",
        body.trim_end()
    )
}

/// The HTML part: the same words escaped, a paragraph per blank-line-separated block (its line
/// breaks kept), then how to stop them.
pub fn html_body(subject: &str, body: &str, cohort_name: &str, url: &str) -> String {
    let body = body.replace("\r\n", "\n");
    let paragraphs: Vec<String> = body
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", p.lines().map(escape).collect::<Vec<_>>().join("<br>\n")))
        .collect();
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n{}\n<hr>\n\
         <p style=\"color:#555;font-size:smaller\">You receive these nudges as a member of {}. \
         <a href=\"{}\">Unsubscribe</a> to stop them.</p>\n</body></html>\n",
        escape(subject),
        paragraphs.join("\n"),
        escape(cohort_name),
        escape(url)
    )
}

/// What became of one claimed nudge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Failed; tried again at the moment given.
    Retry(DateTime<Utc>, String),
    Failed(String),
    Skipped(String),
    /// Not attempted in the quiet hours: it waits until the moment given.
    Deferred(DateTime<Utc>),
    /// Another worker took the nudge over after this one's lease ran out: nothing was recorded.
    LeaseLost,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub claimed: u32,
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
    pub skipped: u32,
    pub deferred: u32,
}

/// Runs a pass every `interval` until the task is dropped.
pub async fn run(store: Store, mailer: Mailer, interval: StdDuration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match pass(&store, &mailer, store::now()).await {
            Ok(report) if report.claimed > 0 => tracing::info!(
                sent = report.sent,
                retried = report.retried,
                failed = report.failed,
                skipped = report.skipped,
                deferred = report.deferred,
                "nudge mail"
            ),
            Ok(_) => {}
            Err(err) => tracing::error!(%err, "nudge mail pass failed"),
        }
    }
}

/// One pass as of `now`: claims what is due and attempts it, batch after batch, until nothing
/// due is left.
pub async fn pass(store: &Store, mailer: &Mailer, now: DateTime<Utc>) -> Result<Report, DbErr> {
    let mut report = Report::default();
    loop {
        let claimed = claim(store, now, mailer.lease()).await?;
        let full = claimed.len() as u64 == CLAIM_BATCH;
        report.claimed += claimed.len() as u32;
        let attempts = claimed.iter().map(|n| attempt(store, mailer, n, now));
        for result in futures_util::future::join_all(attempts).await {
            match result {
                Ok(Outcome::Sent) => report.sent += 1,
                Ok(Outcome::Retry(..)) => report.retried += 1,
                Ok(Outcome::Failed(_)) => report.failed += 1,
                Ok(Outcome::Skipped(_)) => report.skipped += 1,
                Ok(Outcome::Deferred(_)) => report.deferred += 1,
                Ok(Outcome::LeaseLost) => {}
                Err(err) => tracing::error!(%err, "recording a nudge mail attempt"),
            }
        }
        if !full {
            return Ok(report);
        }
    }
}

/// Claims up to a batch of due `PENDING` nudges for `lease`: their `next_attempt_at` moves to
/// the lease's end, so they are this worker's until then.
pub async fn claim(store: &Store, now: DateTime<Utc>, lease: Duration) -> Result<Vec<nudge::Model>, DbErr> {
    let txn = store.begin_write().await?;
    let due = nudge::Entity::find()
        .filter(nudge::Column::Status.eq(sn::PENDING))
        .filter(nudge::Column::NextAttemptAt.lte(to_micros(now)))
        .order_by_asc(nudge::Column::NextAttemptAt)
        .order_by_asc(nudge::Column::Id)
        .limit(CLAIM_BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if due.is_empty() {
        return Ok(due);
    }
    let until = to_micros(now + lease);
    nudge::Entity::update_many()
        .col_expr(nudge::Column::NextAttemptAt, Some(until).into())
        .filter(nudge::Column::Id.is_in(due.iter().map(|n| n.id)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(due.into_iter().map(|n| nudge::Model { next_attempt_at: Some(until), ..n }).collect())
}

/// Why a nudge is not to be sent any more, if it is not.
fn skip_reason(
    n: &nudge::Model,
    c: &cohort::Model,
    member: &membership::Model,
    who: &person::Model,
    now: DateTime<Utc>,
) -> Option<String> {
    if sn::reminded_meeting_start(n).is_some_and(|starts| starts <= to_micros(now)) {
        Some("the meeting it reminds of has started".into())
    } else if c.stage != Stage::Active.as_str() {
        Some(format!("the cohort is no longer active ({})", c.stage))
    } else if member.status != MembershipStatus::Active.as_str() {
        Some(format!("the member is no longer active ({})", member.status))
    } else if !member.nudges_enabled {
        Some("the member turned their nudges off".into())
    } else if who.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
        Some("the member has no email address".into())
    } else {
        None
    }
}

/// Attempts one claimed nudge at `now` and records the outcome while the claim is still this
/// worker's; gives the outcome.
pub async fn attempt(
    store: &Store,
    mailer: &Mailer,
    claimed: &nudge::Model,
    now: DateTime<Utc>,
) -> Result<Outcome, DbErr> {
    let conn = store.reader();
    let member = membership::Entity::find_by_id(claimed.membership_id).one(conn).await?;
    let who = match &member {
        Some(m) => person::Entity::find_by_id(m.person_id).one(conn).await?,
        None => None,
    };
    let c = cohort::Entity::find_by_id(claimed.cohort_id).one(conn).await?;
    let number = u32::try_from(claimed.attempts).unwrap_or(0) + 1;
    let outcome = match (&c, &member, &who) {
        (Some(c), Some(member), Some(who)) => {
            let zone = sn::zone(conn, c).await?;
            if let Some(reason) = skip_reason(claimed, c, member, who, now) {
                Outcome::Skipped(reason)
            } else if dn::is_quiet(zone, now) {
                match dn::out_of_quiet_hours(zone, now) {
                    Some(at) => Outcome::Deferred(at),
                    None => Outcome::Failed("no morning follows this night".into()),
                }
            } else {
                match mailer.compose(claimed, member, who, &c.name, now) {
                    Err(reason) => Outcome::Skipped(reason),
                    Ok(message) => match mailer.transport.send(message).await {
                        Ok(_) => Outcome::Sent,
                        Err(err) if err.is_permanent() => Outcome::Failed(format!("refused by the server: {err}")),
                        Err(err) => match dn::send_retry_at(zone, number, now) {
                            Some(at) => Outcome::Retry(at, err.to_string()),
                            None => Outcome::Failed(err.to_string()),
                        },
                    },
                }
            }
        }
        _ => Outcome::Skipped("the member or the cohort no longer exists".into()),
    };
    let counted = i32::try_from(number).unwrap_or(i32::MAX);
    let (status, attempts, next, sent_at, last_error) = match &outcome {
        Outcome::Sent => (sn::SENT, counted, None, Some(to_micros(now)), None),
        Outcome::Retry(at, err) => (sn::PENDING, counted, Some(to_micros(*at)), None, Some(err.clone())),
        Outcome::Failed(err) => (sn::FAILED, counted, None, None, Some(err.clone())),
        Outcome::Skipped(reason) => (sn::SKIPPED, claimed.attempts, None, None, Some(reason.clone())),
        Outcome::Deferred(at) => {
            (sn::PENDING, claimed.attempts, Some(to_micros(*at)), None, claimed.last_error.clone())
        }
        Outcome::LeaseLost => return Ok(Outcome::LeaseLost),
    };
    let last_error = last_error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect::<String>());
    let txn = store.begin_write().await?;
    let recorded = nudge::Entity::update_many()
        .col_expr(nudge::Column::Status, status.into())
        .col_expr(nudge::Column::Attempts, attempts.into())
        .col_expr(nudge::Column::NextAttemptAt, next.into())
        .col_expr(nudge::Column::SentAt, sent_at.into())
        .col_expr(nudge::Column::LastError, last_error.into())
        .filter(nudge::Column::Id.eq(claimed.id))
        .filter(nudge::Column::Status.eq(sn::PENDING))
        .filter(nudge::Column::NextAttemptAt.eq(claimed.next_attempt_at))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    if recorded.rows_affected == 0 {
        tracing::warn!(nudge = claimed.id, "a nudge's lease ran out before its outcome was recorded");
        return Ok(Outcome::LeaseLost);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(extra: &[&str]) -> Config {
        let mut args = vec!["afterclass", "--database-url", "postgres://db.example/afterclass"];
        args.extend_from_slice(extra);
        args.push("migrate");
        let cli = crate::cli::Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        Config::resolve(&cli.global).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_mailer_reads_each_form_of_the_smtp_url_and_refuses_what_it_cannot_use() {
        let hs = config(&["--jwt-secret", "a-long-enough-shared-secret"]);
        let settings = |url: &str, from: &str| MailSettings { url: url.into(), from: from.into() };
        let base = "https://afterclass.example.edu";
        // TLS parameters are built here: rustls finds its provider (ring) without a panic.
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.edu:587?tls=required",
            "smtps://u:p%40ss@mail.example.edu:465",
        ] {
            let mailer = Mailer::new(&settings(url, "Afterclass <nudges@example.edu>"), base, &hs);
            assert!(mailer.as_ref().is_ok_and(|m| !format!("{m:?}").contains("p%40ss")), "{url}: {mailer:?}");
        }
        let refused = |s: MailSettings, base: &str, c: &Config| Mailer::new(&s, base, c).err().unwrap_or_default();
        assert!(refused(settings("smtp://h:25?tls=sometimes", "a@b.c"), base, &hs).contains("AFTERCLASS_SMTP_URL"));
        assert!(refused(settings("smtp://h:25", "not an address"), base, &hs).contains("AFTERCLASS_SMTP_FROM"));
        assert!(refused(settings("smtp://h:25", "a@b.c"), "afterclass.example.edu", &hs).contains("absolute"));
        let dir = std::env::temp_dir().join(format!("afterclass-mail-key-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let pem = dir.join("key.pem");
        let _ = std::fs::write(&pem, "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n");
        let public = config(&["--jwt-public-key-file", pem.to_str().unwrap_or_default()]);
        assert!(refused(settings("smtp://h:25", "a@b.c"), base, &public).contains("AFTERCLASS_LINK_SECRET"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_html_part_is_escaped_in_paragraphs_and_both_parts_carry_the_link() {
        let body = "Hi <Theo> & co,\n\nit has been 7 days.\nWhere are you now?\n";
        let url = "https://afterclass.example.edu/nudges/unsubscribe/abc";
        let html = html_body("Rust & co: time", body, "Rust & co", url);
        assert!(
            html.contains("<p>Hi &lt;Theo&gt; &amp; co,</p>\n<p>it has been 7 days.<br>\nWhere are you now?</p>"),
            "{html}"
        );
        assert!(html.contains("<title>Rust &amp; co: time</title>") && html.contains(&format!("<a href=\"{url}\">")));
        let text = text_body(body, "Rust & co", url);
        assert!(text.starts_with("Hi <Theo> & co,\n\nit has been 7 days.\nWhere are you now?\n\n-- \n"), "{text}");
        assert!(text.ends_with(&format!("{url}\n")));
    }
}
