//! Webhook deliveries as rules: what a receiver's answer means and when to try again, following
//! the Standard Webhooks specification's example schedule. Pure: the time and the jitter are
//! arguments, so any attempt at any moment can be computed and tested.
//!
//! | attempt | after the previous one |
//! | --- | --- |
//! | 1 | immediately |
//! | 2 | 5 seconds |
//! | 3 | 5 minutes |
//! | 4 | 30 minutes |
//! | 5 | 2 hours |
//! | 6 | 5 hours |
//! | 7 | 10 hours |
//! | 8 | 10 hours |
//!
//! Each wait is stretched by up to [`JITTER`] of itself (never shortened), so receivers that
//! failed together are not retried in lockstep. After the 8th failed attempt (about 37 hours
//! after the first) the delivery has failed for good.

use chrono::{DateTime, Duration, Utc};

/// The waits before attempts 2 to 8, in seconds.
pub const RETRY_WAITS: [i64; 7] = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];
/// The attempts a delivery gets.
pub const MAX_ATTEMPTS: u32 = RETRY_WAITS.len() as u32 + 1;
/// The most a wait is stretched by, as a share of it.
pub const JITTER: f64 = 0.1;
/// The longest `Retry-After` honoured: a receiver cannot park a delivery for longer than the
/// longest wait of the schedule.
pub const MAX_RETRY_AFTER: i64 = 10 * 3600;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not attempted yet.
    Pending,
    Delivered,
    /// Attempted and failed; another attempt is due at its `next_attempt_at`.
    Retrying,
    /// Failed for good: the attempts ran out, or the receiver answered `410 Gone`.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] =
        [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Retrying, DeliveryStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Retrying => "RETRYING",
            DeliveryStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What one attempt got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status, and the `Retry-After` it carried (already read as a wait from now).
    Status { code: u16, retry_after: Option<Duration> },
    /// No answer: the connection failed, the address was refused, or the request timed out.
    NoAnswer,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// The receiver is gone (`410`): the delivery fails and the endpoint is disabled.
    Gone,
    /// Try again at this moment.
    Retry(DateTime<Utc>),
    /// The attempts ran out.
    Failed,
}

/// The verdict on attempt number `attempt` (1 for the first) made at `now`; `jitter` in [0, 1)
/// chooses how much of [`JITTER`] stretches the wait.
pub fn judge(answer: Answer, attempt: u32, now: DateTime<Utc>, jitter: f64) -> Verdict {
    let retry_after = match answer {
        Answer::Status { code: 200..=299, .. } => return Verdict::Delivered,
        Answer::Status { code: 410, .. } => return Verdict::Gone,
        // Only these two say "later" in a way the specification asks senders to honour.
        Answer::Status { code: 429 | 503, retry_after } => retry_after,
        Answer::Status { .. } | Answer::NoAnswer => None,
    };
    match next_attempt(attempt, now, jitter) {
        None => Verdict::Failed,
        Some(scheduled) => {
            let asked = retry_after.map(|wait| now + wait.clamp(Duration::zero(), Duration::seconds(MAX_RETRY_AFTER)));
            Verdict::Retry(asked.map_or(scheduled, |asked| asked.max(scheduled)))
        }
    }
}

/// When attempt `attempt + 1` is due after attempt `attempt` failed at `now`; `None` when no
/// attempts remain.
pub fn next_attempt(attempt: u32, now: DateTime<Utc>, jitter: f64) -> Option<DateTime<Utc>> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    let wait = *RETRY_WAITS.get(index)?;
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    // At most 10 h × 0.1 × 10^6: far inside i64 microseconds.
    let extra = (wait as f64 * 1_000_000.0 * JITTER * jitter) as i64;
    now.checked_add_signed(Duration::seconds(wait) + Duration::microseconds(extra))
}

/// A `Retry-After` header's wait from `now`: delay-seconds or an HTTP date; `None` when it is
/// neither.
pub fn retry_after(header: &str, now: DateTime<Utc>) -> Option<Duration> {
    let header = header.trim();
    if let Ok(seconds) = header.parse::<u32>() {
        return Some(Duration::seconds(i64::from(seconds)));
    }
    let at = DateTime::parse_from_rfc2822(header).ok()?.with_timezone(&Utc);
    Some((at - now).max(Duration::zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    #[test]
    fn the_schedule_is_the_specifications_example() {
        let waits: Vec<i64> =
            (1..MAX_ATTEMPTS).map(|a| (next_attempt(a, at(0), 0.0).unwrap() - at(0)).num_seconds()).collect();
        assert_eq!(waits, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(next_attempt(MAX_ATTEMPTS, at(0), 0.0), None);
        assert_eq!(next_attempt(0, at(0), 0.0), None);
    }

    #[test]
    fn jitter_only_stretches_a_wait_and_by_a_tenth_at_most() {
        for jitter in [0.0, 0.5, 0.999, 7.0, -1.0, f64::NAN] {
            let next = next_attempt(3, at(0), jitter).unwrap();
            assert!(next >= at(1800) && next <= at(1980), "{jitter}: {next}");
        }
    }

    #[test]
    fn answers_become_verdicts() {
        let status = |code| Answer::Status { code, retry_after: None };
        assert_eq!(judge(status(200), 1, at(0), 0.0), Verdict::Delivered);
        assert_eq!(judge(status(204), 8, at(0), 0.0), Verdict::Delivered);
        assert_eq!(judge(status(410), 1, at(0), 0.0), Verdict::Gone);
        assert_eq!(judge(status(500), 1, at(0), 0.0), Verdict::Retry(at(5)));
        assert_eq!(judge(status(301), 2, at(0), 0.0), Verdict::Retry(at(300)));
        assert_eq!(judge(Answer::NoAnswer, 1, at(0), 0.0), Verdict::Retry(at(5)));
        assert_eq!(judge(status(500), MAX_ATTEMPTS, at(0), 0.0), Verdict::Failed);
    }

    #[test]
    fn retry_after_defers_but_never_hastens_and_is_bounded() {
        let later = |code, secs| Answer::Status { code, retry_after: Some(Duration::seconds(secs)) };
        assert_eq!(judge(later(429, 120), 1, at(0), 0.0), Verdict::Retry(at(120)));
        assert_eq!(judge(later(503, 1), 2, at(0), 0.0), Verdict::Retry(at(300)));
        assert_eq!(judge(later(429, 10 * 86400), 1, at(0), 0.0), Verdict::Retry(at(MAX_RETRY_AFTER)));
        // Other statuses' Retry-After is not a promise.
        assert_eq!(judge(later(500, 120), 1, at(0), 0.0), Verdict::Retry(at(5)));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("120", at(0)), Some(Duration::seconds(120)));
        let date = (at(0) + Duration::seconds(90)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        assert_eq!(retry_after(&date, at(0)), Some(Duration::seconds(90)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at(0)), Some(Duration::zero()));
        assert_eq!(retry_after("soon", at(0)), None);
        assert_eq!(retry_after("-5", at(0)), None);
    }

    #[test]
    fn statuses_round_trip() {
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
    }
}
