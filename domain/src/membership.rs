//! Membership transitions: accepting the code of conduct (which makes an invited member active)
//! and leaving.

use crate::cohort::{MemberRole, MembershipStatus};
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

/// Who brings a roster in: a leader or the integration account inviting people, or a roster
/// sync bringing the cohort in line with the LMS's roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RosterSource {
    Invitation,
    Sync,
}

/// What bringing in a person of a roster does to their membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invite {
    /// They have none: a new `INVITED` membership.
    New,
    /// Invited again (`INVITED`): after they left, by an explicit invitation; after they were
    /// removed, by either.
    Again,
    /// Kept as it is: members, the invited, people who asked to join, and — for a sync — people
    /// who left of their own accord (the LMS's roster does not overrule their choice).
    Keep,
}

pub fn invite(status: Option<MembershipStatus>, source: RosterSource) -> Invite {
    match (status, source) {
        (None, _) => Invite::New,
        (Some(MembershipStatus::Removed), _) => Invite::Again,
        (Some(MembershipStatus::Left), RosterSource::Invitation) => Invite::Again,
        _ => Invite::Keep,
    }
}

/// Whether a roster sync that removes the missing marks this membership `REMOVED` when the LMS's
/// roster does not list its person: invited and active members, never a leader.
pub fn sync_removes(role: Option<MemberRole>, status: Option<MembershipStatus>) -> bool {
    role != Some(MemberRole::Leader) && matches!(status, Some(MembershipStatus::Invited | MembershipStatus::Active))
}

#[cfg(test)]
mod tests {
    use super::*;
    use MembershipStatus::*;

    #[test]
    fn a_sync_never_removes_a_leader_nor_overrules_someone_who_left() {
        assert!(!sync_removes(Some(MemberRole::Leader), Some(Active)));
        assert!(sync_removes(Some(MemberRole::Member), Some(Invited)));
        assert!(!sync_removes(Some(MemberRole::Member), Some(Left)));
        assert!(!sync_removes(Some(MemberRole::Member), Some(Requested)));
        assert_eq!(invite(Some(Left), RosterSource::Sync), Invite::Keep);
        assert_eq!(invite(Some(Left), RosterSource::Invitation), Invite::Again);
        assert_eq!(invite(Some(Removed), RosterSource::Sync), Invite::Again);
        assert_eq!(invite(None, RosterSource::Sync), Invite::New);
        assert_eq!(invite(Some(Active), RosterSource::Sync), Invite::Keep);
    }

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
