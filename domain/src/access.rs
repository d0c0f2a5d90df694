//! Who may do what (DESIGN.md "Who may do what"), as pure decisions over the viewer's token role
//! and their standing in one cohort. Tenant isolation is not decided here: the store never
//! returns another tenant's rows, so they are simply not found.

use crate::cohort::{MemberRole, MembershipStatus, Visibility};
use crate::stage::Stage;

/// The role a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewerRole {
    Instructor,
    Trainee,
    Integration,
}

impl ViewerRole {
    /// The spelling of the `role` claim.
    pub fn parse_claim(claim: &str) -> Option<Self> {
        match claim {
            "instructor" => Some(ViewerRole::Instructor),
            "trainee" => Some(ViewerRole::Trainee),
            "integration" => Some(ViewerRole::Integration),
            _ => None,
        }
    }

    pub fn as_claim(self) -> &'static str {
        match self {
            ViewerRole::Instructor => "instructor",
            ViewerRole::Trainee => "trainee",
            ViewerRole::Integration => "integration",
        }
    }
}

/// The viewer's membership in one cohort, if they have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    pub role: Option<MemberRole>,
    pub status: Option<MembershipStatus>,
}

impl Standing {
    pub const NONE: Standing = Standing { role: None, status: None };

    pub fn is_active(self) -> bool {
        self.status == Some(MembershipStatus::Active)
    }

    /// Someone the cohort counts as belonging to it: invited, requested or active.
    pub fn belongs(self) -> bool {
        matches!(self.status, Some(MembershipStatus::Active | MembershipStatus::Invited | MembershipStatus::Requested))
    }

    /// An active leader or facilitator.
    pub fn manages(self) -> bool {
        self.is_active() && self.role.is_some_and(MemberRole::manages)
    }
}

/// How much of a cohort a viewer may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadAccess {
    /// Not at all: the cohort is reported as not found.
    Hidden,
    /// Its public face (name, domain, purpose, tags, stage, goals, member count), not its
    /// members or their check-ins.
    PublicFace,
    /// Everything.
    Full,
}

/// What a viewer may read of a cohort. Proposals awaiting approval are not discoverable.
pub fn read_access(viewer: ViewerRole, visibility: Visibility, stage: Stage, standing: Standing) -> ReadAccess {
    match viewer {
        ViewerRole::Instructor | ViewerRole::Integration => ReadAccess::Full,
        ViewerRole::Trainee if standing.belongs() => ReadAccess::Full,
        ViewerRole::Trainee if visibility.is_discoverable() && stage != Stage::Proposed => ReadAccess::PublicFace,
        ViewerRole::Trainee => ReadAccess::Hidden,
    }
}

/// Whether the viewer may change a cohort's setup: its goals, code of conduct, members' roles,
/// activation and ending. Instructors and trainees alike manage the cohorts they lead or
/// facilitate; the integration account imports rosters but does not run cohorts.
pub fn may_manage(viewer: ViewerRole, standing: Standing) -> bool {
    match viewer {
        ViewerRole::Instructor | ViewerRole::Trainee => standing.manages(),
        ViewerRole::Integration => false,
    }
}

/// Whether the viewer may add people to a cohort (roster import or invitation).
pub fn may_add_members(viewer: ViewerRole, standing: Standing) -> bool {
    viewer == ViewerRole::Integration || may_manage(viewer, standing)
}

/// Whether the viewer may create a cohort directly (into `FORMING`).
pub fn may_create_cohort(viewer: ViewerRole) -> bool {
    matches!(viewer, ViewerRole::Instructor | ViewerRole::Integration)
}

/// Whether the viewer may propose a cohort (into `PROPOSED`).
pub fn may_propose_cohort(viewer: ViewerRole) -> bool {
    viewer == ViewerRole::Trainee
}

/// Whether the viewer may approve proposals.
pub fn may_approve_proposals(viewer: ViewerRole) -> bool {
    viewer == ViewerRole::Instructor
}

/// Whether the viewer acts as a person (and so can join, accept, check in and leave).
pub fn acts_as_person(viewer: ViewerRole) -> bool {
    viewer != ViewerRole::Integration
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(role: MemberRole, status: MembershipStatus) -> Standing {
        Standing { role: Some(role), status: Some(status) }
    }

    #[test]
    fn trainees_never_see_invite_only_cohorts_they_are_not_in() {
        let t = ViewerRole::Trainee;
        assert_eq!(read_access(t, Visibility::InviteOnly, Stage::Active, Standing::NONE), ReadAccess::Hidden);
        assert_eq!(read_access(t, Visibility::Open, Stage::Active, Standing::NONE), ReadAccess::PublicFace);
        assert_eq!(read_access(t, Visibility::ByRequest, Stage::Active, Standing::NONE), ReadAccess::PublicFace);
        assert_eq!(read_access(t, Visibility::Open, Stage::Proposed, Standing::NONE), ReadAccess::Hidden);
        let invited = standing(MemberRole::Member, MembershipStatus::Invited);
        assert_eq!(read_access(t, Visibility::InviteOnly, Stage::Active, invited), ReadAccess::Full);
        let left = standing(MemberRole::Member, MembershipStatus::Left);
        assert_eq!(read_access(t, Visibility::InviteOnly, Stage::Active, left), ReadAccess::Hidden);
        assert_eq!(read_access(t, Visibility::Open, Stage::Active, left), ReadAccess::PublicFace);
    }

    #[test]
    fn instructors_and_integrations_read_every_cohort() {
        for viewer in [ViewerRole::Instructor, ViewerRole::Integration] {
            assert_eq!(read_access(viewer, Visibility::InviteOnly, Stage::Proposed, Standing::NONE), ReadAccess::Full);
        }
    }

    #[test]
    fn only_active_leaders_and_facilitators_manage() {
        let leader = standing(MemberRole::Leader, MembershipStatus::Active);
        let facilitator = standing(MemberRole::Facilitator, MembershipStatus::Active);
        let invited_leader = standing(MemberRole::Leader, MembershipStatus::Invited);
        let member = standing(MemberRole::Member, MembershipStatus::Active);
        for viewer in [ViewerRole::Instructor, ViewerRole::Trainee] {
            assert!(may_manage(viewer, leader));
            assert!(may_manage(viewer, facilitator));
            assert!(!may_manage(viewer, invited_leader));
            assert!(!may_manage(viewer, member));
            assert!(!may_manage(viewer, Standing::NONE));
        }
        assert!(!may_manage(ViewerRole::Integration, leader));
        assert!(may_add_members(ViewerRole::Integration, Standing::NONE));
    }

    #[test]
    fn role_claims_round_trip() {
        for role in [ViewerRole::Instructor, ViewerRole::Trainee, ViewerRole::Integration] {
            assert_eq!(ViewerRole::parse_claim(role.as_claim()), Some(role));
        }
        assert_eq!(ViewerRole::parse_claim("admin"), None);
    }
}
