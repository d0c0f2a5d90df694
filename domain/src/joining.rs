//! Joining a cohort from outside: who may ask, what happens to the request by visibility, and
//! how requests are decided or withdrawn. Requests stay on record whatever becomes of them.

use crate::cohort::{MembershipStatus, Visibility, named_enum};
use crate::stage::Stage;
use crate::{DomainError, ErrorCode};

named_enum!(
    /// Where a join request stands.
    JoinRequestStatus { Pending => "PENDING", Approved => "APPROVED", Declined => "DECLINED", Withdrawn => "WITHDRAWN" }
);

/// What a new join request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// An `OPEN` cohort admits at once: the person is invited and becomes active by accepting
    /// the code of conduct.
    Now,
    /// A `BY_REQUEST` cohort queues the request for its leaders.
    Queued,
}

/// Whether a person may ask to join, and what their request does.
pub fn request_to_join(
    visibility: Visibility,
    stage: Stage,
    membership: Option<MembershipStatus>,
    pending_request: bool,
) -> Result<Admission, DomainError> {
    stage.ensure_writable()?;
    if !matches!(stage, Stage::Forming | Stage::Active) {
        return Err(DomainError::new(
            ErrorCode::WrongStage,
            format!("only FORMING and ACTIVE cohorts take join requests; this one is {}", stage.as_str()),
        ));
    }
    if matches!(membership, Some(MembershipStatus::Active | MembershipStatus::Invited)) {
        return Err(DomainError::new(ErrorCode::AlreadyExists, "you are already a member of this cohort"));
    }
    if pending_request || membership == Some(MembershipStatus::Requested) {
        return Err(DomainError::new(
            ErrorCode::AlreadyExists,
            "your request to join is already waiting for a decision",
        ));
    }
    match visibility {
        Visibility::Open => Ok(Admission::Now),
        Visibility::ByRequest => Ok(Admission::Queued),
        Visibility::InviteOnly => Err(DomainError::new(
            ErrorCode::RequirementsNotMet,
            "this cohort is invite-only; ask one of its leaders for an invitation",
        )),
    }
}

/// Deciding a pending request: approval invites the person, a decline keeps the request on record.
pub fn decide(status: JoinRequestStatus, approve: bool) -> Result<JoinRequestStatus, DomainError> {
    ensure_pending(status)?;
    Ok(if approve { JoinRequestStatus::Approved } else { JoinRequestStatus::Declined })
}

/// Withdrawing one's own pending request.
pub fn withdraw(status: JoinRequestStatus) -> Result<JoinRequestStatus, DomainError> {
    ensure_pending(status)?;
    Ok(JoinRequestStatus::Withdrawn)
}

fn ensure_pending(status: JoinRequestStatus) -> Result<(), DomainError> {
    if status == JoinRequestStatus::Pending {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "joinRequestId",
            format!("the request is already {}; only a pending request can change", status.as_str()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MembershipStatus::*;

    #[test]
    fn open_cohorts_admit_at_once_and_by_request_ones_queue() {
        assert_eq!(request_to_join(Visibility::Open, Stage::Active, None, false), Ok(Admission::Now));
        assert_eq!(request_to_join(Visibility::ByRequest, Stage::Forming, None, false), Ok(Admission::Queued));
        assert_eq!(request_to_join(Visibility::Open, Stage::Active, Some(Left), false), Ok(Admission::Now));
        let err = request_to_join(Visibility::InviteOnly, Stage::Active, None, false).unwrap_err();
        assert_eq!(err.code, ErrorCode::RequirementsNotMet);
    }

    #[test]
    fn members_and_pending_requesters_cannot_ask_again() {
        for (membership, pending) in
            [(Some(Active), false), (Some(Invited), false), (Some(Requested), false), (None, true)]
        {
            let err = request_to_join(Visibility::ByRequest, Stage::Active, membership, pending).unwrap_err();
            assert_eq!(err.code, ErrorCode::AlreadyExists, "{membership:?} {pending}");
        }
    }

    #[test]
    fn only_forming_and_active_cohorts_take_requests() {
        for stage in [Stage::Proposed, Stage::Disbanded, Stage::Graduated] {
            let err = request_to_join(Visibility::Open, stage, None, false).unwrap_err();
            assert_eq!(err.code, ErrorCode::WrongStage, "{stage:?}");
        }
    }

    #[test]
    fn only_pending_requests_are_decided_or_withdrawn() {
        assert_eq!(decide(JoinRequestStatus::Pending, true), Ok(JoinRequestStatus::Approved));
        assert_eq!(decide(JoinRequestStatus::Pending, false), Ok(JoinRequestStatus::Declined));
        assert_eq!(withdraw(JoinRequestStatus::Pending), Ok(JoinRequestStatus::Withdrawn));
        for done in [JoinRequestStatus::Approved, JoinRequestStatus::Declined, JoinRequestStatus::Withdrawn] {
            assert_eq!(decide(done, true).unwrap_err().code, ErrorCode::InvalidInput);
            assert_eq!(withdraw(done).unwrap_err().code, ErrorCode::InvalidInput);
        }
    }
}
