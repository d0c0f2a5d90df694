//! Membership transitions: accepting the code of conduct (which makes an invited member active)
//! and leaving.

use crate::cohort::MembershipStatus;
use crate::{DomainError, ErrorCode};

/// Accepting version `offered` of a cohort's code of conduct whose current version is `current`.
/// Gives the member's status afterwards: an invited member becomes active.
pub fn accept_conduct(
    status: Option<MembershipStatus>,
    current: Option<i32>,
    offered: i32,
) -> Result<MembershipStatus, DomainError> {
    match status {
        Some(MembershipStatus::Invited | MembershipStatus::Active) => {}
        Some(MembershipStatus::Requested) => {
            return Err(DomainError::new(
                ErrorCode::RequirementsNotMet,
                "your request to join has not been accepted yet",
            ));
        }
        _ => return Err(DomainError::new(ErrorCode::NotAMember, "you are not invited to or a member of this cohort")),
    }
    let Some(current) = current else {
        return Err(DomainError::new(ErrorCode::RequirementsNotMet, "the cohort has no code of conduct yet"));
    };
    if offered != current {
        return Err(DomainError::invalid(
            "version",
            format!("version {offered} is not the current code of conduct; the current version is {current}"),
        ));
    }
    Ok(MembershipStatus::Active)
}

/// Leaving a cohort: invited and active members may leave; the membership is kept as `LEFT`.
pub fn leave(status: Option<MembershipStatus>) -> Result<MembershipStatus, DomainError> {
    match status {
        Some(MembershipStatus::Invited | MembershipStatus::Active) => Ok(MembershipStatus::Left),
        Some(MembershipStatus::Requested) => Err(DomainError::new(
            ErrorCode::NotAMember,
            "you have only asked to join; withdraw your join request instead",
        )),
        _ => Err(DomainError::new(ErrorCode::NotAMember, "you are not a member of this cohort")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MembershipStatus::*;

    #[test]
    fn accepting_the_current_version_activates_an_invited_member() {
        assert_eq!(accept_conduct(Some(Invited), Some(2), 2), Ok(Active));
        assert_eq!(accept_conduct(Some(Active), Some(2), 2), Ok(Active));
    }

    #[test]
    fn only_the_current_version_can_be_accepted() {
        let err = accept_conduct(Some(Invited), Some(2), 1).unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), (ErrorCode::InvalidInput, Some("version")));
        assert_eq!(accept_conduct(Some(Invited), None, 1).unwrap_err().code, ErrorCode::RequirementsNotMet);
    }

    #[test]
    fn outsiders_and_departed_members_cannot_accept() {
        for status in [None, Some(Left), Some(Removed)] {
            assert_eq!(accept_conduct(status, Some(1), 1).unwrap_err().code, ErrorCode::NotAMember);
        }
    }

    #[test]
    fn leaving_keeps_the_membership_as_left() {
        assert_eq!(leave(Some(Active)), Ok(Left));
        assert_eq!(leave(Some(Left)).unwrap_err().code, ErrorCode::NotAMember);
        assert_eq!(leave(None).unwrap_err().code, ErrorCode::NotAMember);
    }
}
