//! Check-ins: who may log one, and what a valid one looks like (rules 2 and 3 of DESIGN.md).

use chrono::{DateTime, Utc};

use crate::access::Standing;
use crate::cohort::MembershipStatus;
use crate::goal;
use crate::stage::Stage;
use crate::text::{self, BLOCKERS, IDEMPOTENCY_KEY, NOTE};
use crate::{DomainError, ErrorCode};

/// A member's confidence of reaching the goal, 1 (not at all) to 5 (fully).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confidence(u8);

impl Confidence {
    pub fn parse(value: i32) -> Result<Self, DomainError> {
        match u8::try_from(value) {
            Ok(v @ 1..=5) => Ok(Confidence(v)),
            _ => Err(DomainError::invalid("confidence", format!("confidence must be 1 to 5 (got {value})"))),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// A check-in as submitted, before validation.
#[derive(Debug, Clone, Default)]
pub struct CheckInDraft {
    pub value: Option<f64>,
    pub note: Option<String>,
    pub confidence: Option<i32>,
    pub blockers: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
}

/// A check-in that keeps every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCheckIn {
    pub value: Option<f64>,
    pub note: Option<String>,
    pub confidence: Option<Confidence>,
    pub blockers: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
}

/// What the check-in's cohort and author look like at the time of the check-in.
#[derive(Debug, Clone, Copy)]
pub struct CheckInContext {
    pub stage: Stage,
    pub cohort_created_at: DateTime<Utc>,
    pub current_conduct_version: Option<i32>,
    pub author: Standing,
    pub author_accepted_version: Option<i32>,
}

/// Whether the author may check in at all: an active member of an active cohort who accepted
/// the current code of conduct.
pub fn ensure_may_check_in(ctx: &CheckInContext) -> Result<(), DomainError> {
    ctx.stage.ensure_accepts_check_ins()?;
    match ctx.author.status {
        Some(MembershipStatus::Active) => {}
        // An invited member becomes active by accepting the code of conduct, so that is what
        // they are told to do.
        Some(MembershipStatus::Invited) => {
            return Err(DomainError::new(
                ErrorCode::ConductNotAccepted,
                "accept the cohort's code of conduct to become an active member before checking in",
            ));
        }
        _ => return Err(DomainError::new(ErrorCode::NotAMember, "only active members of the cohort can check in")),
    }
    match ctx.current_conduct_version {
        Some(current) if ctx.author_accepted_version == Some(current) => Ok(()),
        Some(current) => Err(DomainError::new(
            ErrorCode::ConductNotAccepted,
            format!("accept version {current} of the cohort's code of conduct before checking in"),
        )),
        None => Err(DomainError::new(ErrorCode::RequirementsNotMet, "the cohort has no code of conduct yet")),
    }
}

/// Reads a check-in's idempotency key: text within its limit. Checked before the key is looked up.
pub fn idempotency_key(key: Option<&str>) -> Result<Option<String>, DomainError> {
    key.map(|k| text::parse(IDEMPOTENCY_KEY, k)).transpose()
}

/// Validates a draft as of `now`: the value is finite and within [`goal::MAX_MAGNITUDE`], the
/// confidence 1–5, texts within limits, and `occurredAt` neither in the future nor before the
/// cohort was created.
pub fn validate(draft: CheckInDraft, ctx: &CheckInContext, now: DateTime<Utc>) -> Result<ValidCheckIn, DomainError> {
    let value = draft.value.map(|v| goal::parse_value("value", v)).transpose()?;
    let occurred_at = draft.occurred_at.unwrap_or(now);
    if occurred_at > now {
        return Err(DomainError::invalid("occurredAt", "occurredAt must not be in the future"));
    }
    if occurred_at < ctx.cohort_created_at {
        return Err(DomainError::invalid("occurredAt", "occurredAt must not be before the cohort was created"));
    }
    Ok(ValidCheckIn {
        value,
        note: text::parse_optional(NOTE, draft.note.as_deref())?,
        confidence: draft.confidence.map(Confidence::parse).transpose()?,
        blockers: text::parse_optional(BLOCKERS, draft.blockers.as_deref())?,
        occurred_at,
        idempotency_key: idempotency_key(draft.idempotency_key.as_deref())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cohort::MemberRole;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, h, 0, 0).single().unwrap_or_default()
    }

    fn ctx() -> CheckInContext {
        CheckInContext {
            stage: Stage::Active,
            cohort_created_at: t(8),
            current_conduct_version: Some(2),
            author: Standing { role: Some(MemberRole::Member), status: Some(MembershipStatus::Active) },
            author_accepted_version: Some(2),
        }
    }

    #[test]
    fn an_active_member_who_accepted_the_current_conduct_may_check_in() {
        assert!(ensure_may_check_in(&ctx()).is_ok());
    }

    #[test]
    fn a_member_who_accepted_an_older_conduct_must_accept_again() {
        let err = ensure_may_check_in(&CheckInContext { author_accepted_version: Some(1), ..ctx() }).unwrap_err();
        assert_eq!(err.code, ErrorCode::ConductNotAccepted);
    }

    #[test]
    fn an_invited_member_is_told_to_accept_the_code_of_conduct() {
        let author = Standing { role: Some(MemberRole::Member), status: Some(MembershipStatus::Invited) };
        let err = ensure_may_check_in(&CheckInContext { author, author_accepted_version: None, ..ctx() }).unwrap_err();
        assert_eq!(err.code, ErrorCode::ConductNotAccepted);
    }

    #[test]
    fn outsiders_and_departed_members_may_not_check_in() {
        for status in [MembershipStatus::Requested, MembershipStatus::Left, MembershipStatus::Removed] {
            let author = Standing { role: Some(MemberRole::Member), status: Some(status) };
            let err = ensure_may_check_in(&CheckInContext { author, ..ctx() }).unwrap_err();
            assert_eq!(err.code, ErrorCode::NotAMember, "{status:?}");
        }
        let err = ensure_may_check_in(&CheckInContext { author: Standing::NONE, ..ctx() }).unwrap_err();
        assert_eq!(err.code, ErrorCode::NotAMember);
    }

    #[test]
    fn check_ins_need_an_active_cohort() {
        let err = ensure_may_check_in(&CheckInContext { stage: Stage::Forming, ..ctx() }).unwrap_err();
        assert_eq!(err.code, ErrorCode::WrongStage);
    }

    #[test]
    fn values_must_be_finite_and_bounded() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.7e308, -1.0e12 - 1.0, 1.000_001e12] {
            let draft = CheckInDraft { value: Some(value), ..Default::default() };
            assert_eq!(validate(draft, &ctx(), t(10)).unwrap_err().field.as_deref(), Some("value"));
        }
        for value in [1e12, -1e12, 0.0, 2.5] {
            let draft = CheckInDraft { value: Some(value), ..Default::default() };
            assert_eq!(validate(draft, &ctx(), t(10)).map(|c| c.value), Ok(Some(value)));
        }
    }

    #[test]
    fn idempotency_keys_are_plain_text() {
        assert_eq!(idempotency_key(Some(" k1 ")), Ok(Some("k1".into())));
        assert_eq!(idempotency_key(None), Ok(None));
        assert_eq!(idempotency_key(Some("k\u{0}")).unwrap_err().field.as_deref(), Some("idempotencyKey"));
    }

    #[test]
    fn occurred_at_is_bounded_by_creation_and_now_to_the_second() {
        let at = |h| CheckInDraft { occurred_at: Some(h), ..Default::default() };
        assert!(validate(at(t(10)), &ctx(), t(10)).is_ok());
        assert!(validate(at(t(8)), &ctx(), t(10)).is_ok());
        let future = t(10) + chrono::Duration::seconds(1);
        assert_eq!(validate(at(future), &ctx(), t(10)).unwrap_err().field.as_deref(), Some("occurredAt"));
        let early = t(8) - chrono::Duration::seconds(1);
        assert_eq!(validate(at(early), &ctx(), t(10)).unwrap_err().field.as_deref(), Some("occurredAt"));
        assert_eq!(validate(CheckInDraft::default(), &ctx(), t(10)).map(|c| c.occurred_at), Ok(t(10)));
    }

    #[test]
    fn confidence_is_one_to_five() {
        assert!(Confidence::parse(1).is_ok() && Confidence::parse(5).is_ok());
        assert!(Confidence::parse(0).is_err() && Confidence::parse(6).is_err() && Confidence::parse(-1).is_err());
    }

    #[test]
    fn long_notes_are_refused() {
        let draft = CheckInDraft { note: Some("x".repeat(2_001)), ..Default::default() };
        assert_eq!(validate(draft, &ctx(), t(10)).unwrap_err().field.as_deref(), Some("note"));
    }
}
