//! Who may do what (DESIGN.md "Who may do what"): the one policy that decides every read and
//! every write from the viewer's token role, their standing in the cohort and the cohort itself.
//! Every path asks it: GraphQL fields, `node`, lists and search (their SQL filters are derived
//! from it, see [`revealing_statuses`] and [`discoverable_visibilities`]), the progress chart and
//! the calendar feed. Tenant isolation is not decided here: the store never returns another
//! tenant's rows, so they are simply not found.
//!
//! | standing ([`Level`]) | reads ([`Facet`]) | writes ([`Action`]) |
//! | --- | --- | --- |
//! | `Outsider`: no membership, or a pending, declined or withdrawn request | the public face of a discoverable cohort; nothing of an `INVITE_ONLY` one or a proposal | request to join, withdraw it |
//! | `Invited` | the public face, the code of conduct, the goals, the meeting plan (also of an `INVITE_ONLY` cohort) | accept the code of conduct, leave |
//! | `Former`: `LEFT` or `REMOVED` | what an outsider sees, plus their own membership and check-ins | nothing |
//! | `Member`: active `MEMBER` or `OBSERVER` | everything | check in, RSVP, leave, their own calendar feed |
//! | `Facilitator` | everything | as a member, plus the meetings, attendance and join requests |
//! | `Leader` | everything | as a facilitator, plus goals, conduct, criteria, roles, members, activating and ending |
//!
//! Instructors and the integration account read every cohort of their tenant in full; instructors
//! write by their standing like anyone else, and the integration account adds members. The
//! tenant's webhook endpoints are theirs to manage, never a trainee's ([`may_manage_webhooks`]).
//! A person's data as a whole — exporting or erasing it — is the integration account's alone
//! ([`may_handle_personal_data`]).

use crate::cohort::{MemberRole, MembershipStatus, Visibility};
use crate::event::EventKind;
use crate::stage::Stage;
use crate::{DomainError, ErrorCode};

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

    /// Instructors and the integration account read every cohort of their tenant, so lists and
    /// search need no filter for them.
    pub fn reads_everything(self) -> bool {
        matches!(self, ViewerRole::Instructor | ViewerRole::Integration)
    }
}

/// The viewer's membership in one cohort, as stored: its role and status, if they have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    pub role: Option<MemberRole>,
    pub status: Option<MembershipStatus>,
}

/// Where a standing puts a person, from least to most trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// No membership, or only a join request (pending, declined or withdrawn).
    Outsider,
    /// Left or was removed.
    Former,
    /// Invited, and has not accepted the code of conduct yet.
    Invited,
    /// An active `MEMBER` or `OBSERVER`.
    Member,
    /// An active `FACILITATOR`.
    Facilitator,
    /// An active `LEADER`.
    Leader,
}

impl Standing {
    pub const NONE: Standing = Standing { role: None, status: None };

    /// Where this standing puts the person.
    pub fn level(self) -> Level {
        match self.status {
            None | Some(MembershipStatus::Requested) => Level::Outsider,
            Some(MembershipStatus::Left | MembershipStatus::Removed) => Level::Former,
            Some(MembershipStatus::Invited) => Level::Invited,
            Some(MembershipStatus::Active) => match self.role {
                Some(MemberRole::Leader) => Level::Leader,
                Some(MemberRole::Facilitator) => Level::Facilitator,
                Some(MemberRole::Member | MemberRole::Observer) | None => Level::Member,
            },
        }
    }
}

/// What the policy needs to know of a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortFacts {
    pub visibility: Visibility,
    pub stage: Stage,
}

impl CohortFacts {
    /// Whether people outside it can find the cohort: discoverable and past the proposal.
    pub fn is_discoverable(self) -> bool {
        self.visibility.is_discoverable() && self.stage != Stage::Proposed
    }
}

/// A part of a cohort that the policy grants or refuses as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Facet {
    /// Name, domain, purpose, scope, tags, course, horizon, stage, visibility, dates, the meeting
    /// plan and its meetings (not who answered or attended), the member count and the outcome.
    PublicFace,
    /// The code of conduct and the goals (not their progress).
    Setup,
    /// What members do: the members themselves, check-ins, progress, health, evaluation,
    /// criteria, participation, RSVPs, attendance and the progress chart.
    Activity,
    /// The queue of join requests and who asked.
    JoinRequests,
    /// The viewer's own calendar feed of the cohort's meetings.
    CalendarFeed,
    /// The nudges the cohort sent its members (a member's own are their own data).
    Nudges,
}

impl Facet {
    pub const ALL: [Facet; 6] =
        [Facet::PublicFace, Facet::Setup, Facet::Activity, Facet::JoinRequests, Facet::CalendarFeed, Facet::Nudges];

    fn refusal(self) -> &'static str {
        match self {
            Facet::PublicFace => "this cohort is not visible to you",
            Facet::Setup => "only people invited to the cohort see its code of conduct and goals",
            Facet::Activity => "only the cohort's active members see its members and their activity",
            Facet::JoinRequests => "only the cohort's leaders and facilitators see its join requests",
            Facet::CalendarFeed => "only the cohort's invited and active members have a calendar feed",
            Facet::Nudges => "only the cohort's leaders and facilitators see its nudges",
        }
    }
}

/// The policy's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// The viewer may know of the cohort but not this: `FORBIDDEN`, with the reason.
    Forbidden(&'static str),
    /// The viewer may not know of the cohort at all: `NOT_FOUND`.
    NotFound,
}

impl Verdict {
    pub fn is_allowed(self) -> bool {
        self == Verdict::Allowed
    }
}

/// Whether the viewer may know of the cohort at all.
pub fn may_know_of(viewer: ViewerRole, cohort: CohortFacts, standing: Standing) -> bool {
    viewer.reads_everything() || standing.level() >= Level::Invited || cohort.is_discoverable()
}

/// What a viewer may read of a cohort.
pub fn read(viewer: ViewerRole, cohort: CohortFacts, standing: Standing, facet: Facet) -> Verdict {
    if !may_know_of(viewer, cohort, standing) {
        return Verdict::NotFound;
    }
    let level = standing.level();
    let allowed = match facet {
        Facet::PublicFace => true,
        Facet::CalendarFeed => calendar_feed_works(standing),
        _ if viewer.reads_everything() => true,
        Facet::Setup => level >= Level::Invited,
        Facet::Activity => level >= Level::Member,
        Facet::JoinRequests | Facet::Nudges => level >= Level::Facilitator,
    };
    if allowed { Verdict::Allowed } else { Verdict::Forbidden(facet.refusal()) }
}

/// Whether a member's calendar feed works: while they are invited or active. The feed carries
/// only the meeting plan, which invited members may read.
pub fn calendar_feed_works(standing: Standing) -> bool {
    standing.level() >= Level::Invited
}

/// What a viewer may read of one member's own data (their membership and check-ins): the member
/// themself always, while they may know of the cohort; others by [`Facet::Activity`].
pub fn read_member_data(viewer: ViewerRole, cohort: CohortFacts, standing: Standing, own: bool) -> Verdict {
    if own && standing.status.is_some() {
        return Verdict::Allowed;
    }
    read(viewer, cohort, standing, Facet::Activity)
}

/// Whether a viewer sees an event of a cohort's log: by the part of the cohort its kind reveals
/// ([`EventKind::facet`]), and an event about the viewer's own membership (their check-in, their
/// request, their joining or leaving) as their own data ([`read_member_data`]).
pub fn read_event(viewer: ViewerRole, cohort: CohortFacts, standing: Standing, kind: EventKind, own: bool) -> bool {
    match kind.facet() {
        Facet::Activity | Facet::JoinRequests | Facet::Nudges if own => {
            read_member_data(viewer, cohort, standing, true)
        }
        facet => read(viewer, cohort, standing, facet),
    }
    .is_allowed()
}

/// The membership statuses whose holders may know of a cohort whatever its visibility and stage:
/// what list and search queries let through besides discoverable cohorts. Derived from [`read`].
pub fn revealing_statuses() -> Vec<MembershipStatus> {
    statuses_granting(Facet::PublicFace)
}

/// The membership statuses that grant a trainee `facet` of any cohort, whatever their role, its
/// visibility and its stage: what SQL filters by a person's memberships use. Derived from [`read`].
pub fn statuses_granting(facet: Facet) -> Vec<MembershipStatus> {
    let hidden = CohortFacts { visibility: Visibility::InviteOnly, stage: Stage::Proposed };
    MembershipStatus::ALL
        .iter()
        .copied()
        .filter(|status| {
            MemberRole::ALL.iter().all(|role| {
                let standing = Standing { role: Some(*role), status: Some(*status) };
                read(ViewerRole::Trainee, hidden, standing, facet) == Verdict::Allowed
            })
        })
        .collect()
}

/// The visibilities whose cohorts (past the proposal stage) anyone of the tenant may know of.
/// Derived from [`read`].
pub fn discoverable_visibilities() -> Vec<Visibility> {
    Visibility::ALL
        .iter()
        .copied()
        .filter(|visibility| {
            let cohort = CohortFacts { visibility: *visibility, stage: Stage::Active };
            read(ViewerRole::Trainee, cohort, Standing::NONE, Facet::PublicFace) != Verdict::NotFound
        })
        .collect()
}

/// A write, grouped by who may make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Ask to join, or withdraw one's own request.
    RequestToJoin,
    /// Accept the code of conduct, leave, or turn one's own nudges on or off.
    Membership,
    /// Check in for oneself, RSVP.
    Participate,
    /// Revoke one's own calendar feed's URL.
    RevokeOwnFeed,
    /// Keep momentum: the meeting plan, one-off and cancelled meetings, attendance.
    RunMeetings,
    /// Decide join requests.
    DecideJoinRequests,
    /// Goals, code of conduct, criteria, the nudge policy, activating, applying an evaluation,
    /// disbanding, graduating, the retrospective.
    Steer,
    /// Change members' roles.
    ChangeRoles,
    /// Invite people (roster import or invitation).
    AddMembers,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::RequestToJoin,
        Action::Membership,
        Action::Participate,
        Action::RevokeOwnFeed,
        Action::RunMeetings,
        Action::DecideJoinRequests,
        Action::Steer,
        Action::ChangeRoles,
        Action::AddMembers,
    ];
}

/// Why a write is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not this viewer's to do: `FORBIDDEN`, with the reason.
    Forbidden(&'static str),
    /// A person action by someone whose membership does not allow it yet: a `userError`.
    Rule(DomainError),
}

/// Whether the viewer may make this write to a cohort they may know of. Rules about the change
/// itself (stage, versions, values) are the domain modules' to check afterwards.
pub fn may(viewer: ViewerRole, standing: Standing, action: Action) -> Result<(), Refusal> {
    use Refusal::Forbidden;
    let level = standing.level();
    match action {
        Action::AddMembers if viewer == ViewerRole::Integration => Ok(()),
        _ if !acts_as_person(viewer) => Err(Forbidden("the integration account does not act as a person")),
        Action::RequestToJoin if level == Level::Former => {
            Err(Forbidden("you left this cohort; ask one of its leaders to invite you again"))
        }
        Action::RequestToJoin => Ok(()),
        Action::Membership | Action::Participate => match level {
            Level::Outsider | Level::Former => {
                Err(Refusal::Rule(DomainError::new(ErrorCode::NotAMember, "you are not a member of this cohort")))
            }
            _ => Ok(()),
        },
        Action::RevokeOwnFeed if calendar_feed_works(standing) => Ok(()),
        Action::RevokeOwnFeed => Err(Forbidden("your membership has ended, and its calendar feed with it")),
        Action::RunMeetings | Action::DecideJoinRequests if level >= Level::Facilitator => Ok(()),
        Action::RunMeetings | Action::DecideJoinRequests => {
            Err(Forbidden("only the cohort's leaders and facilitators may do this"))
        }
        Action::Steer | Action::ChangeRoles | Action::AddMembers if level == Level::Leader => Ok(()),
        Action::Steer | Action::ChangeRoles | Action::AddMembers => {
            Err(Forbidden("only the cohort's leaders may do this"))
        }
    }
}

/// Whether the viewer may create a cohort directly (into `FORMING`).
pub fn may_create_cohort(viewer: ViewerRole) -> bool {
    matches!(viewer, ViewerRole::Instructor | ViewerRole::Integration)
}

/// Whether the viewer may propose a cohort (into `PROPOSED`).
pub fn may_propose_cohort(viewer: ViewerRole) -> bool {
    viewer == ViewerRole::Trainee
}

/// Whether the viewer may approve or decline proposals.
pub fn may_approve_proposals(viewer: ViewerRole) -> bool {
    viewer == ViewerRole::Instructor
}

/// Whether the viewer may see and manage the tenant's webhook endpoints (list them, read their
/// deliveries, create, rotate a secret, disable): the integration account and instructors, never
/// trainees. Every path of the webhooks asks this one function.
pub fn may_manage_webhooks(viewer: ViewerRole) -> Result<(), Refusal> {
    match viewer {
        ViewerRole::Instructor | ViewerRole::Integration => Ok(()),
        ViewerRole::Trainee => {
            Err(Refusal::Forbidden("only instructors and the integration account manage webhook endpoints"))
        }
    }
}

/// Whether the viewer may read everything the tenant holds about one person (`personExport`) or
/// erase it (`erasePerson`): the integration account alone, the LMS's service account that
/// answers people's requests of access and erasure. Instructors and trainees never, not even of
/// themselves (a person asks through the LMS). Every privacy path asks this one function.
pub fn may_handle_personal_data(viewer: ViewerRole) -> Result<(), Refusal> {
    match viewer {
        ViewerRole::Integration => Ok(()),
        ViewerRole::Instructor | ViewerRole::Trainee => {
            Err(Refusal::Forbidden("only the integration account exports or erases a person's data"))
        }
    }
}

/// Whether the viewer acts as a person (and so can join, accept, check in and leave).
pub fn acts_as_person(viewer: ViewerRole) -> bool {
    viewer != ViewerRole::Integration
}

/// Whether a trainee may see another person of the tenant: themself, or someone in a cohort
/// whose activity they may read (see [`statuses_granting`]). Instructors and the integration
/// account see everyone.
pub fn may_see_person(viewer: ViewerRole, own: bool, shares_a_cohort_in_full: bool) -> bool {
    viewer.reads_everything() || own || shares_a_cohort_in_full
}

/// A role change of one membership. Roles change only by a leader's hand (see [`may`]); no change
/// may leave an `ACTIVE` cohort without an active leader. `active_leaders` counts the cohort's
/// active leaders before the change.
pub fn change_role(
    stage: Stage,
    target: Standing,
    new_role: MemberRole,
    active_leaders: u64,
) -> Result<(), DomainError> {
    stage.ensure_writable()?;
    if !matches!(target.status, Some(MembershipStatus::Active | MembershipStatus::Invited)) {
        return Err(DomainError::invalid("membershipId", "only invited and active members have a role to change"));
    }
    let demotes_a_leader = target.level() == Level::Leader && new_role != MemberRole::Leader && active_leaders <= 1;
    if stage == Stage::Active && demotes_a_leader {
        return Err(DomainError::new(
            ErrorCode::RequirementsNotMet,
            "an active cohort needs an active leader: make someone else a leader first",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use MembershipStatus::*;

    fn standing(role: MemberRole, status: MembershipStatus) -> Standing {
        Standing { role: Some(role), status: Some(status) }
    }

    const OPEN: CohortFacts = CohortFacts { visibility: Visibility::ByRequest, stage: Stage::Active };
    const SECRET: CohortFacts = CohortFacts { visibility: Visibility::InviteOnly, stage: Stage::Active };

    #[test]
    fn levels_follow_status_then_role() {
        assert_eq!(Standing::NONE.level(), Level::Outsider);
        assert_eq!(standing(MemberRole::Leader, Requested).level(), Level::Outsider);
        assert_eq!(standing(MemberRole::Leader, Invited).level(), Level::Invited);
        assert_eq!(standing(MemberRole::Leader, Left).level(), Level::Former);
        assert_eq!(standing(MemberRole::Leader, Removed).level(), Level::Former);
        assert_eq!(standing(MemberRole::Observer, Active).level(), Level::Member);
        assert_eq!(standing(MemberRole::Facilitator, Active).level(), Level::Facilitator);
        assert_eq!(standing(MemberRole::Leader, Active).level(), Level::Leader);
    }

    /// The standing table of DESIGN.md, row by row, for a trainee.
    #[test]
    fn trainees_read_by_standing() {
        use Facet::*;
        let t = ViewerRole::Trainee;
        let allowed = |cohort, s, f| read(t, cohort, s, f) == Verdict::Allowed;
        let found = |cohort, s| read(t, cohort, s, PublicFace) != Verdict::NotFound;
        for outsider in [Standing::NONE, standing(MemberRole::Member, Requested)] {
            assert!(allowed(OPEN, outsider, PublicFace));
            for facet in [Setup, Activity, JoinRequests, CalendarFeed] {
                assert!(!allowed(OPEN, outsider, facet), "{facet:?}");
            }
            assert!(!found(SECRET, outsider));
        }
        let invited = standing(MemberRole::Member, Invited);
        for cohort in [OPEN, SECRET] {
            assert!(allowed(cohort, invited, PublicFace) && allowed(cohort, invited, Setup));
            assert!(allowed(cohort, invited, CalendarFeed));
            assert!(!allowed(cohort, invited, Activity) && !allowed(cohort, invited, JoinRequests));
        }
        for former in [standing(MemberRole::Member, Left), standing(MemberRole::Leader, Removed)] {
            assert!(allowed(OPEN, former, PublicFace));
            assert!(!allowed(OPEN, former, Setup) && !allowed(OPEN, former, Activity));
            assert!(!allowed(OPEN, former, CalendarFeed));
            assert!(!found(SECRET, former));
            assert!(read_member_data(t, OPEN, former, true).is_allowed());
            assert!(!read_member_data(t, OPEN, former, false).is_allowed());
        }
        for role in [MemberRole::Member, MemberRole::Observer] {
            let member = standing(role, Active);
            for facet in [PublicFace, Setup, Activity, CalendarFeed] {
                assert!(allowed(SECRET, member, facet));
            }
            assert!(!allowed(SECRET, member, JoinRequests));
            assert!(!allowed(SECRET, member, Nudges), "a member sees their own nudges only");
        }
        for role in [MemberRole::Facilitator, MemberRole::Leader] {
            for facet in Facet::ALL {
                assert!(allowed(SECRET, standing(role, Active), facet));
            }
        }
        let proposal = CohortFacts { visibility: Visibility::Open, stage: Stage::Proposed };
        assert!(!found(proposal, Standing::NONE));
    }

    #[test]
    fn instructors_and_integrations_read_every_cohort() {
        let proposal = CohortFacts { visibility: Visibility::InviteOnly, stage: Stage::Proposed };
        for viewer in [ViewerRole::Instructor, ViewerRole::Integration] {
            for facet in [Facet::PublicFace, Facet::Setup, Facet::Activity, Facet::JoinRequests, Facet::Nudges] {
                assert_eq!(read(viewer, proposal, Standing::NONE, facet), Verdict::Allowed);
            }
            assert!(!read(viewer, proposal, Standing::NONE, Facet::CalendarFeed).is_allowed());
        }
    }

    #[test]
    fn list_filters_are_derived_from_the_policy() {
        assert_eq!(revealing_statuses(), vec![Invited, Active]);
        assert_eq!(statuses_granting(Facet::Activity), vec![Active]);
        assert_eq!(discoverable_visibilities(), vec![Visibility::Open, Visibility::ByRequest]);
    }

    #[test]
    fn writes_by_standing() {
        let t = ViewerRole::Trainee;
        let ok = |s, a| may(t, s, a).is_ok();
        let leader = standing(MemberRole::Leader, Active);
        let facilitator = standing(MemberRole::Facilitator, Active);
        let member = standing(MemberRole::Member, Active);
        let invited = standing(MemberRole::Member, Invited);
        let left = standing(MemberRole::Member, Left);
        let pending = standing(MemberRole::Member, Requested);
        for a in Action::ALL {
            assert!(ok(leader, a), "{a:?}");
            assert_eq!(ok(facilitator, a), !matches!(a, Action::Steer | Action::ChangeRoles | Action::AddMembers));
            let personal =
                matches!(a, Action::RequestToJoin | Action::Membership | Action::Participate | Action::RevokeOwnFeed);
            assert_eq!(ok(member, a), personal, "{a:?}");
            assert_eq!(ok(invited, a), personal, "{a:?}");
            assert!(!ok(left, a), "{a:?}");
            assert_eq!(ok(pending, a), a == Action::RequestToJoin);
            assert_eq!(ok(Standing::NONE, a), a == Action::RequestToJoin);
        }
        assert!(matches!(may(t, Standing::NONE, Action::Participate), Err(Refusal::Rule(_))));
        for a in Action::ALL {
            assert_eq!(may(ViewerRole::Integration, leader, a).is_ok(), a == Action::AddMembers);
        }
        assert!(may(ViewerRole::Instructor, leader, Action::Steer).is_ok());
        assert!(may(ViewerRole::Instructor, Standing::NONE, Action::Steer).is_err());
    }

    #[test]
    fn staff_manage_webhooks_and_trainees_do_not() {
        assert!(may_manage_webhooks(ViewerRole::Instructor).is_ok());
        assert!(may_manage_webhooks(ViewerRole::Integration).is_ok());
        assert!(matches!(may_manage_webhooks(ViewerRole::Trainee), Err(Refusal::Forbidden(_))));
    }

    #[test]
    fn only_the_integration_account_handles_personal_data() {
        assert!(may_handle_personal_data(ViewerRole::Integration).is_ok());
        for viewer in [ViewerRole::Instructor, ViewerRole::Trainee] {
            assert!(matches!(may_handle_personal_data(viewer), Err(Refusal::Forbidden(_))), "{viewer:?}");
        }
    }

    #[test]
    fn the_last_leader_of_an_active_cohort_keeps_the_role() {
        let leader = standing(MemberRole::Leader, Active);
        let err = change_role(Stage::Active, leader, MemberRole::Observer, 1).unwrap_err();
        assert_eq!(err.code, ErrorCode::RequirementsNotMet);
        assert!(change_role(Stage::Active, leader, MemberRole::Observer, 2).is_ok());
        assert!(change_role(Stage::Forming, leader, MemberRole::Member, 1).is_ok());
        assert!(change_role(Stage::Active, leader, MemberRole::Leader, 1).is_ok());
        let member = standing(MemberRole::Member, Active);
        assert!(change_role(Stage::Active, member, MemberRole::Leader, 1).is_ok());
        assert!(change_role(Stage::Active, standing(MemberRole::Member, Left), MemberRole::Leader, 1).is_err());
        assert!(change_role(Stage::Disbanded, member, MemberRole::Leader, 1).is_err());
    }

    #[test]
    fn role_claims_round_trip() {
        for role in [ViewerRole::Instructor, ViewerRole::Trainee, ViewerRole::Integration] {
            assert_eq!(ViewerRole::parse_claim(role.as_claim()), Some(role));
        }
        assert_eq!(ViewerRole::parse_claim("admin"), None);
    }
}
