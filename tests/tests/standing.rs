//! Who may do what by standing (DESIGN.md "Who may do what", the standing table), as one table:
//! every Query field, every Mutation field and every object field that exposes members' data or a
//! cohort's internals, asked by every standing a viewer can hold in a cohort, in the cohort's
//! tenant and with a token of another tenant. Over HTTP, with real tokens, on both stores.
//!
//! The columns are people in a `BY_REQUEST`, `ACTIVE` cohort led by the instructor ada, and in an
//! `INVITE_ONLY` one where that changes the answer. The expectations are the design's table, not
//! what the code happens to do. Which rows and columns exist is checked against the committed
//! `schema.graphql`: a new Query, Mutation, `Cohort` or `Membership` field, a new membership status
//! or a new member role without its row or column fails the test.
//!
//! Reads share one fixture per store; a mutation runs on a fixture of its own (a fresh cohort in a
//! few servers running side by side), reused only for the next cell after a cell was refused as
//! expected, which writes nothing. Every read, and every refused cell, compares the row count of
//! every table before and after.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use afterclass::ids::{self, Kind};
use afterclass_domain::access::ViewerRole;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, error_codes, on_both_stores, ops, token, user_error_codes};
use sea_orm::{ConnectionTrait, Statement};

const TENANT: &str = "uni-a";
const OTHER_TENANT: &str = "uni-b";
/// The `BY_REQUEST` cohort every column holds its standing in.
const CIRCLE: &str = "Rust practice circle";
/// The `INVITE_ONLY` cohort, with the same people in the same standings.
const PRIVATE: &str = "Rust reading circle";
/// A proposal by lea (so she leads it), awaiting an instructor.
const PROPOSAL: &str = "Type-level Rust study group";

/// Servers that run mutation cells side by side, per store.
const PARALLEL_SERVERS: usize = 3;

// ---------------------------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------------------------

/// The viewers, one per standing, in the order of the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    /// ada: the instructor who created the cohort and leads it (an ACTIVE LEADER membership).
    LeadInstructor,
    /// bob: another instructor of the tenant, with no membership.
    OtherInstructor,
    /// The LMS's service account.
    Integration,
    /// lea: an ACTIVE LEADER trainee.
    Leader,
    /// fay: an ACTIVE FACILITATOR.
    Facilitator,
    /// tom: an ACTIVE MEMBER.
    Member,
    /// oli: an ACTIVE OBSERVER.
    Observer,
    /// ivy: INVITED, has not accepted the code of conduct.
    Invited,
    /// pat: a pending join request (a REQUESTED membership).
    Requested,
    /// dan: a join request that was declined.
    Declined,
    /// wil: a join request he withdrew.
    Withdrawn,
    /// len: was ACTIVE and left.
    Left,
    /// rem: was ACTIVE and was removed.
    Removed,
    /// nia: a trainee of the tenant with no membership and no request.
    Outsider,
}

const COLUMNS: [Who; 14] = [
    Who::LeadInstructor,
    Who::OtherInstructor,
    Who::Integration,
    Who::Leader,
    Who::Facilitator,
    Who::Member,
    Who::Observer,
    Who::Invited,
    Who::Requested,
    Who::Declined,
    Who::Withdrawn,
    Who::Left,
    Who::Removed,
    Who::Outsider,
];

/// How a column stands in the fixture's cohorts, as far as the design's table tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// An instructor or the integration account: reads everything of the tenant.
    Staff,
    /// An ACTIVE membership in this role.
    Active(&'static str),
    Invited,
    /// No membership, a pending, declined or withdrawn request, LEFT or REMOVED: the public face
    /// of a discoverable cohort, nothing of an INVITE_ONLY one.
    Outside,
}

impl Who {
    fn sub(self) -> &'static str {
        match self {
            Who::LeadInstructor => "ada",
            Who::OtherInstructor => "bob",
            Who::Integration => "lms",
            Who::Leader => "lea",
            Who::Facilitator => "fay",
            Who::Member => "tom",
            Who::Observer => "oli",
            Who::Invited => "ivy",
            Who::Requested => "pat",
            Who::Declined => "dan",
            Who::Withdrawn => "wil",
            Who::Left => "len",
            Who::Removed => "rem",
            Who::Outsider => "nia",
        }
    }

    fn role(self) -> ViewerRole {
        match self {
            Who::LeadInstructor | Who::OtherInstructor => ViewerRole::Instructor,
            Who::Integration => ViewerRole::Integration,
            _ => ViewerRole::Trainee,
        }
    }

    fn token(self, tenant: Tenant) -> String {
        token(self.sub(), self.role(), tenant.key())
    }

    /// The membership status and role the column holds in the fixture's cohorts, if any.
    fn membership(self) -> Option<(&'static str, &'static str)> {
        match self {
            Who::LeadInstructor | Who::Leader => Some(("ACTIVE", "LEADER")),
            Who::Facilitator => Some(("ACTIVE", "FACILITATOR")),
            Who::Member => Some(("ACTIVE", "MEMBER")),
            Who::Observer => Some(("ACTIVE", "OBSERVER")),
            Who::Invited => Some(("INVITED", "MEMBER")),
            Who::Requested => Some(("REQUESTED", "MEMBER")),
            Who::Left => Some(("LEFT", "MEMBER")),
            Who::Removed => Some(("REMOVED", "MEMBER")),
            Who::OtherInstructor | Who::Integration | Who::Declined | Who::Withdrawn | Who::Outsider => None,
        }
    }

    fn standing(self) -> Standing {
        match self {
            Who::LeadInstructor | Who::OtherInstructor | Who::Integration => Standing::Staff,
            Who::Invited => Standing::Invited,
            _ => match self.membership() {
                Some(("ACTIVE", role)) => Standing::Active(role),
                _ => Standing::Outside,
            },
        }
    }

    /// Whether the column leads the cohort (LEADER, or the instructor who leads it).
    fn leads(self) -> bool {
        matches!(self, Who::LeadInstructor | Who::Leader)
    }

    /// Whether the column keeps the cohort's momentum (a leader or a FACILITATOR).
    fn keeps_momentum(self) -> bool {
        self.leads() || self == Who::Facilitator
    }

    fn is_active_member(self) -> bool {
        matches!(self.membership(), Some(("ACTIVE", _)))
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Who::LeadInstructor => "the lead instructor",
            Who::OtherInstructor => "another instructor",
            Who::Integration => "the integration",
            Who::Leader => "ACTIVE LEADER",
            Who::Facilitator => "ACTIVE FACILITATOR",
            Who::Member => "ACTIVE MEMBER",
            Who::Observer => "ACTIVE OBSERVER",
            Who::Invited => "INVITED",
            Who::Requested => "pending request",
            Who::Declined => "declined request",
            Who::Withdrawn => "withdrawn request",
            Who::Left => "LEFT",
            Who::Removed => "REMOVED",
            Who::Outsider => "outsider",
        };
        write!(f, "{} ({what})", self.sub())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tenant {
    /// The cohort's tenant.
    Own,
    /// Another tenant: the same role and `sub`, with a token whose `tid` is another tenant's.
    Other,
}

impl Tenant {
    fn key(self) -> &'static str {
        match self {
            Tenant::Own => TENANT,
            Tenant::Other => OTHER_TENANT,
        }
    }
}

/// Which of the fixture's cohorts a cell is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// The BY_REQUEST cohort.
    Circle,
    /// The INVITE_ONLY cohort.
    Private,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Circle => CIRCLE,
            Target::Private => PRIVATE,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// No top-level errors, no userErrors, and the object asked for (HTTP: 200).
    Allowed,
    /// Allowed, and the list the operation reads names exactly these cohorts.
    Sees(BTreeSet<&'static str>),
    /// Allowed, and the list holds this many entries.
    Count(usize),
    /// Top-level errors, each FORBIDDEN (HTTP: 403 or 404).
    Forbidden,
    /// Top-level errors, each NOT_FOUND (HTTP: 404).
    NotFound,
    /// No top-level errors; exactly one userError, with this code.
    UserError(&'static str),
    /// No errors and nothing done (a payload's `false`), and nothing written.
    Nothing,
    /// The design's table does not decide this cell, or the column holds no such object.
    Undecided,
}

use Expect::{Allowed, Count, Forbidden, NotFound, Nothing, Sees, Undecided, UserError};

const NOT_A_MEMBER: Expect = UserError("NOT_A_MEMBER");
const CONDUCT_NOT_ACCEPTED: Expect = UserError("CONDUCT_NOT_ACCEPTED");
const ALREADY_EXISTS: Expect = UserError("ALREADY_EXISTS");
const REQUIREMENTS_NOT_MET: Expect = UserError("REQUIREMENTS_NOT_MET");

impl Expect {
    fn refused(&self) -> bool {
        matches!(self, Forbidden | NotFound | UserError(_) | Nothing)
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed => write!(f, "ALLOWED"),
            Sees(names) => write!(f, "ALLOWED seeing {names:?}"),
            Count(n) => write!(f, "ALLOWED with {n} entries"),
            Forbidden => write!(f, "FORBIDDEN"),
            NotFound => write!(f, "NOT_FOUND"),
            UserError(code) => write!(f, "userError {code}"),
            Nothing => write!(f, "nothing done"),
            Undecided => write!(f, "(undecided)"),
        }
    }
}

/// How much of a cohort a read needs, in the words of the design's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The public face of a discoverable cohort.
    Face,
    /// What an INVITED person also sees: the code of conduct and the goals.
    Conduct,
    /// Everything of the cohort: its members, their activity, its internals.
    Inside,
    /// What those who decide join requests see: leaders, facilitators, instructors, integration.
    Manage,
}

/// What `who` gets reading something of `level` in `target`, in the cohort's tenant.
fn read_expect(level: Level, who: Who, target: Target) -> Expect {
    match who.standing() {
        Standing::Staff => Allowed,
        Standing::Active(role) => {
            if level == Level::Manage && matches!(role, "MEMBER" | "OBSERVER") {
                Forbidden
            } else {
                Allowed
            }
        }
        Standing::Invited => match level {
            Level::Face | Level::Conduct => Allowed,
            Level::Inside | Level::Manage => Forbidden,
        },
        Standing::Outside if target == Target::Private => NotFound,
        Standing::Outside if level == Level::Face => Allowed,
        Standing::Outside => Forbidden,
    }
}

/// The cohorts among the fixture's that `who` sees in a list (`joinable`: not the proposal).
fn visible(who: Who, joinable: bool) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for (name, target) in [(CIRCLE, Target::Circle), (PRIVATE, Target::Private)] {
        if read_expect(Level::Face, who, target) == Allowed {
            out.insert(name);
        }
    }
    if !joinable && (who.standing() == Standing::Staff || who == Who::Leader) {
        out.insert(PROPOSAL);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// A read of the table: a Query field, an object field, or one of the non-GraphQL paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Read {
    Viewer,
    Cohorts,
    SearchCohorts,
    SimilarCohorts,
    Proposals,
    Outcomes,
    /// cohort(id) asking for the public face's scalar fields and the member count.
    Face,
    /// The meetings and the next meeting, without who answered or attended.
    Meetings,
    MembersNodes,
    MembersEdges,
    MembersPageInfo,
    CheckIns,
    Health,
    Evaluation,
    Criteria,
    AutoApply,
    Goals,
    GoalProgress,
    CodeOfConduct,
    JoinRequests,
    OutsideInterest,
    Rsvps,
    Attendance,
    ProgressChartUrl,
    /// `GET /cohorts/{id}/progress.svg` with the column's bearer token.
    Chart,
    NodeCohort,
    NodeGoal,
    NodeMeeting,
    /// tom's membership.
    NodeMembership,
    /// tom's check-in.
    NodeCheckIn,
    /// tom.
    NodePerson,
    /// pat's pending join request.
    NodeJoinRequest,
    /// The fields of tom's membership.
    MembershipFields,
    /// tom's participation.
    Participation,
    /// tom's calendarFeedUrl, which only tom sees (null for everyone else who may read it).
    OthersCalendarFeedUrl,
    /// The column's own membership in the circle.
    NodeOwnMembership,
    /// The column's own check-in in the circle.
    NodeOwnCheckIn,
    /// `GET /calendar/{token}.ics` from the URL the column's membership showed.
    CalendarFeed,
    /// The log's stage events of the cohort (its public face).
    EventsFace,
    /// The log's check-in events of the cohort (members' activity, or one's own).
    EventsCheckIns,
    /// The tenant's webhook endpoints (the fixture holds one) and their deliveries.
    WebhookEndpoints,
    /// How the cohort nudges (its setup).
    NudgePolicy,
    /// The nudges the cohort sent (none in the fixture: the answer's shape is what is decided).
    Nudges,
    /// Everything the tenant holds about tom (the integration account's alone), by the cohorts
    /// his export lists.
    PersonExport,
}

const READS: [Read; 44] = [
    Read::Viewer,
    Read::Cohorts,
    Read::SearchCohorts,
    Read::SimilarCohorts,
    Read::Proposals,
    Read::Outcomes,
    Read::Face,
    Read::Meetings,
    Read::MembersNodes,
    Read::MembersEdges,
    Read::MembersPageInfo,
    Read::CheckIns,
    Read::Health,
    Read::Evaluation,
    Read::Criteria,
    Read::AutoApply,
    Read::Goals,
    Read::GoalProgress,
    Read::CodeOfConduct,
    Read::JoinRequests,
    Read::OutsideInterest,
    Read::Rsvps,
    Read::Attendance,
    Read::ProgressChartUrl,
    Read::Chart,
    Read::NodeCohort,
    Read::NodeGoal,
    Read::NodeMeeting,
    Read::NodeMembership,
    Read::NodeCheckIn,
    Read::NodePerson,
    Read::NodeJoinRequest,
    Read::MembershipFields,
    Read::Participation,
    Read::OthersCalendarFeedUrl,
    Read::NodeOwnMembership,
    Read::NodeOwnCheckIn,
    Read::CalendarFeed,
    Read::EventsFace,
    Read::EventsCheckIns,
    Read::WebhookEndpoints,
    Read::NudgePolicy,
    Read::Nudges,
    Read::PersonExport,
];

impl Read {
    /// The schema fields the read covers, as `Type.field`.
    fn covers(self) -> &'static [&'static str] {
        match self {
            Read::Viewer => &["Query.viewer"],
            Read::Cohorts => &["Query.cohorts"],
            Read::SearchCohorts => &["Query.searchCohorts"],
            Read::SimilarCohorts => &["Query.similarCohorts"],
            Read::Proposals => &["Query.proposals"],
            Read::Outcomes => &["Query.outcomes"],
            Read::EventsFace | Read::EventsCheckIns => &["Query.events"],
            Read::WebhookEndpoints => &["Query.webhookEndpoints"],
            Read::PersonExport => &["Query.personExport"],
            Read::Face => &[
                "Query.cohort",
                "Cohort.id",
                "Cohort.name",
                "Cohort.domain",
                "Cohort.purpose",
                "Cohort.scope",
                "Cohort.tags",
                "Cohort.course",
                "Cohort.horizon",
                "Cohort.stage",
                "Cohort.visibility",
                "Cohort.createdAt",
                "Cohort.activatedAt",
                "Cohort.endedAt",
                "Cohort.cadence",
                "Cohort.place",
                "Cohort.channel",
                "Cohort.outcome",
                "Cohort.declineReason",
            ],
            Read::Meetings => &["Cohort.meetings", "Cohort.nextMeeting"],
            Read::MembersNodes | Read::MembersEdges | Read::MembersPageInfo => &["Cohort.members"],
            Read::CheckIns => &["Cohort.checkIns"],
            Read::Health => &["Cohort.health"],
            Read::Evaluation => &["Cohort.evaluation"],
            Read::Criteria => &["Cohort.criteria"],
            Read::AutoApply => &["Cohort.autoApply"],
            Read::Goals | Read::GoalProgress => &["Cohort.goals"],
            Read::CodeOfConduct => &["Cohort.codeOfConduct"],
            Read::JoinRequests => &["Cohort.joinRequests"],
            Read::NudgePolicy => &["Cohort.nudgePolicy"],
            Read::Nudges => &["Cohort.nudges"],
            Read::OutsideInterest => &["Cohort.outsideInterest"],
            Read::Rsvps | Read::Attendance => &["Cohort.meetings"],
            Read::ProgressChartUrl | Read::Chart => &["Cohort.progressChartUrl"],
            Read::NodeCohort
            | Read::NodeGoal
            | Read::NodeMeeting
            | Read::NodeMembership
            | Read::NodeCheckIn
            | Read::NodePerson
            | Read::NodeJoinRequest
            | Read::NodeOwnMembership
            | Read::NodeOwnCheckIn => &["Query.node", "Membership.id"],
            Read::MembershipFields => &[
                "Membership.id",
                "Membership.person",
                "Membership.cohort",
                "Membership.role",
                "Membership.status",
                "Membership.conductAcceptedVersion",
                "Membership.joinedAt",
                "Membership.nudgesEnabled",
            ],
            Read::Participation => &["Membership.participation"],
            Read::OthersCalendarFeedUrl | Read::CalendarFeed => &["Membership.calendarFeedUrl"],
        }
    }

    /// The cohorts the read is asked about: reads of one cohort run on both, the rest once.
    fn targets(self) -> &'static [Target] {
        match self {
            Read::Viewer
            | Read::Cohorts
            | Read::SearchCohorts
            | Read::SimilarCohorts
            | Read::Proposals
            | Read::Outcomes
            | Read::NodePerson
            | Read::NodeOwnMembership
            | Read::NodeOwnCheckIn
            | Read::CalendarFeed
            | Read::WebhookEndpoints
            | Read::PersonExport => &[Target::Circle],
            _ => &[Target::Circle, Target::Private],
        }
    }

    fn is_http(self) -> bool {
        matches!(self, Read::Chart | Read::CalendarFeed)
    }

    /// What the cell of `who` in `tenant` expects.
    fn expect(self, who: Who, tenant: Tenant, target: Target) -> Expect {
        let level = |level| read_expect(level, who, target);
        if tenant == Tenant::Other {
            return match self {
                Read::Viewer | Read::Outcomes => Count(0),
                // Another tenant's cohort filters the log to nothing.
                Read::EventsFace | Read::EventsCheckIns => Sees(BTreeSet::new()),
                // Staff of another tenant see their own tenant's endpoints: none.
                Read::WebhookEndpoints if who.standing() == Standing::Staff => Count(0),
                Read::WebhookEndpoints => Forbidden,
                // Another tenant's integration finds its own tom, who is in none of its cohorts.
                Read::PersonExport if who == Who::Integration => Sees(BTreeSet::new()),
                Read::PersonExport => Forbidden,
                Read::Cohorts | Read::SearchCohorts | Read::SimilarCohorts => Sees(BTreeSet::new()),
                Read::Proposals if who.standing() == Standing::Staff => Sees(BTreeSet::new()),
                Read::Proposals => Forbidden,
                // The URL names the membership and its tenant: no other tenant's token is involved.
                Read::CalendarFeed => Undecided,
                Read::NodeOwnMembership | Read::NodeOwnCheckIn
                    if self.expect(who, Tenant::Own, target) == Undecided =>
                {
                    Undecided
                }
                _ => NotFound,
            };
        }
        match self {
            // Their own memberships: the circle and the private one; lea also leads the proposal.
            // Whether a request shows as a membership the table does not say.
            Read::Viewer => match who {
                Who::OtherInstructor | Who::Integration | Who::Outsider => Count(0),
                Who::Requested | Who::Declined | Who::Withdrawn => Undecided,
                Who::Leader => Count(3),
                _ => Count(2),
            },
            Read::Cohorts | Read::SearchCohorts => Sees(visible(who, false)),
            Read::SimilarCohorts => Sees(visible(who, true)),
            Read::Proposals => match who.standing() {
                Standing::Staff => Sees([PROPOSAL].into()),
                _ => Forbidden,
            },
            // Nothing of the fixture has ended.
            Read::Outcomes => Count(0),
            // Instructors and the integration account manage webhooks; trainees, whatever their
            // standing in any cohort, do not.
            Read::WebhookEndpoints if who.standing() == Standing::Staff => Count(1),
            Read::WebhookEndpoints => Forbidden,
            // A person's data as a whole is the integration account's alone: not the instructors',
            // not tom's own (he asks through the LMS).
            Read::PersonExport if who == Who::Integration => Sees([CIRCLE, PRIVATE].into()),
            Read::PersonExport => Forbidden,
            Read::Face | Read::Meetings | Read::NodeCohort | Read::NodeMeeting => level(Level::Face),
            Read::Goals | Read::CodeOfConduct | Read::NodeGoal | Read::NudgePolicy => level(Level::Conduct),
            Read::JoinRequests | Read::Nudges => level(Level::Manage),
            // Their own request; whether its requester reads it the table does not say.
            Read::NodeJoinRequest if who == Who::Requested => Undecided,
            Read::NodeJoinRequest => level(Level::Manage),
            Read::MembersNodes
            | Read::MembersEdges
            | Read::MembersPageInfo
            | Read::CheckIns
            | Read::Health
            | Read::Evaluation
            | Read::Criteria
            | Read::AutoApply
            | Read::GoalProgress
            | Read::OutsideInterest
            | Read::Rsvps
            | Read::Attendance
            | Read::ProgressChartUrl
            | Read::Chart
            | Read::NodeMembership
            | Read::NodeCheckIn
            | Read::MembershipFields
            | Read::Participation
            | Read::OthersCalendarFeedUrl => level(Level::Inside),
            // tom: trainees see other people through the cohorts they are active in.
            Read::NodePerson => level(Level::Inside),
            // Their own membership: the active, the INVITED, and those who left or were removed.
            Read::NodeOwnMembership => match who {
                Who::OtherInstructor | Who::Integration | Who::Outsider => Undecided,
                Who::Requested | Who::Declined | Who::Withdrawn => Undecided,
                _ => Allowed,
            },
            // Its activation, to whoever sees its public face.
            Read::EventsFace => match level(Level::Face) {
                Allowed => Sees([target.name()].into()),
                _ => Sees(BTreeSet::new()),
            },
            // Check-ins: to whoever sees members' activity, and their own to those who left or
            // were removed; nothing to anyone else.
            Read::EventsCheckIns => match (level(Level::Inside), who) {
                (Allowed, _) | (_, Who::Left | Who::Removed) => Sees([target.name()].into()),
                _ => Sees(BTreeSet::new()),
            },
            // Their own check-in: the active trainees, and those who left or were removed.
            Read::NodeOwnCheckIn => match who {
                Who::Leader | Who::Facilitator | Who::Member | Who::Observer | Who::Left | Who::Removed => Allowed,
                _ => Undecided,
            },
            // The feed works for the active and the INVITED; it answers 404 to everyone else who
            // once held a URL.
            Read::CalendarFeed => match who {
                Who::OtherInstructor | Who::Integration | Who::Outsider => Undecided,
                w if w.is_active_member() || w == Who::Invited => Allowed,
                _ => NotFound,
            },
        }
    }

    fn request(self, fx: &Fixture, who: Who, target: Target) -> (String, Value) {
        let c = fx.cohort(target);
        let id = json!({ "id": c.id });
        let window = json!({ "id": c.id, "from": fx.from, "to": fx.to });
        let cohort = |selection: &str| format!("query($id: ID!) {{ cohort(id: $id) {{ id {selection} }} }}");
        let windowed = |selection: &str| {
            format!(
                "query($id: ID!, $from: DateTime!, $to: DateTime!) {{ cohort(id: $id) {{ id meetings(from: $from, to: $to) {{ id {selection} }} }} }}"
            )
        };
        let node = |selection: &str| format!("query($id: ID!) {{ node(id: $id) {{ id {selection} }} }}");
        let node_of = |node_id: &str| json!({ "id": node_id });
        match self {
            Read::Viewer => (VIEWER.into(), json!({})),
            Read::Cohorts => ("{ cohorts(first: 50) { nodes { name } } }".into(), json!({})),
            Read::SearchCohorts => {
                (r#"query($q: String!) { searchCohorts(query: $q, first: 50) { nodes { name } } }"#.into(), json!({ "q": "rust" }))
            }
            Read::SimilarCohorts => (
                r#"query($input: SimilarCohortsInput!) { similarCohorts(input: $input) { cohort { name } } }"#.into(),
                json!({ "input": { "domain": "Rust programming", "purpose": "Practise Rust together", "limit": 50 } }),
            ),
            Read::Proposals => ("{ proposals(first: 50) { nodes { name } } }".into(), json!({})),
            Read::Outcomes => ("{ outcomes(first: 50) { nodes { cohort { name } } } }".into(), json!({})),
            Read::Face => (
                cohort(
                    "name domain purpose scope tags course { title } horizon stage visibility createdAt activatedAt \
                     endedAt cadence { frequency } place { format } channel { kind } members { totalCount } \
                     outcome { reason } declineReason",
                ),
                id,
            ),
            Read::Meetings => (
                "query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) { id \
                 meetings(from: $from, to: $to) { id startsAt endsAt status place { format } agenda cancelReason oneOff } \
                 nextMeeting { id startsAt } } }"
                    .into(),
                window,
            ),
            Read::MembersNodes => (cohort("members(first: 50) { nodes { id role status } }"), id),
            Read::MembersEdges => (cohort("members(first: 50) { edges { node { id } } }"), id),
            Read::MembersPageInfo => (cohort("members(first: 50) { pageInfo { hasNextPage } }"), id),
            Read::CheckIns => (cohort("checkIns(first: 50) { totalCount nodes { value note blockers confidence } }"), id),
            Read::Health => (cohort("health { status activeMemberRatio reasons }"), id),
            Read::Evaluation => (cohort("evaluation { recommendation summary }"), id),
            Read::Criteria => (cohort("criteria { kind effect threshold }"), id),
            Read::AutoApply => (cohort("autoApply"), id),
            Read::Goals => (cohort("goals { id title unit target status }"), id),
            Read::GoalProgress => (cohort("goals { id progress { current fraction } }"), id),
            Read::CodeOfConduct => (cohort("codeOfConduct { version text }"), id),
            Read::JoinRequests => (cohort("joinRequests(first: 50) { totalCount nodes { id status } }"), id),
            Read::NudgePolicy => (
                cohort("nudgePolicy { checkInEveryDays meetingReminderHours leaderDigest maxUnanswered digestWeekday }"),
                id,
            ),
            Read::Nudges => (cohort("nudges(first: 50) { totalCount nodes { id kind status subject } }"), id),
            Read::OutsideInterest => (cohort("outsideInterest"), id),
            Read::Rsvps => (windowed("rsvps { answer }"), window),
            Read::Attendance => (windowed("attendance { mark } attendanceRate"), window),
            Read::ProgressChartUrl => (cohort("progressChartUrl"), id),
            Read::Chart => (format!("/cohorts/{}/progress.svg", c.id), Value::Null),
            Read::NodeCohort => (node("... on Cohort { name }"), id),
            Read::NodeGoal => (node("... on Goal { title }"), node_of(&c.goal)),
            Read::NodeMeeting => (node("... on Meeting { startsAt }"), node_of(&c.upcoming)),
            Read::NodeMembership => (node("... on Membership { role }"), node_of(&c.of(Who::Member).membership)),
            Read::NodeCheckIn => (node("... on CheckIn { note blockers }"), node_of(&c.of(Who::Member).check_in)),
            Read::NodePerson => (node("... on Person { displayName }"), node_of(&fx.tom)),
            Read::NodeJoinRequest => (node("... on JoinRequest { status }"), node_of(&c.pending_request)),
            Read::MembershipFields => (
                node(
                    "... on Membership { person { displayName } cohort { id } role status conductAcceptedVersion joinedAt \
                     nudgesEnabled }",
                ),
                node_of(&c.of(Who::Member).membership),
            ),
            Read::Participation => {
                (node("... on Membership { participation }"), node_of(&c.of(Who::Member).membership))
            }
            Read::OthersCalendarFeedUrl => {
                (node("... on Membership { calendarFeedUrl }"), node_of(&c.of(Who::Member).membership))
            }
            Read::NodeOwnMembership => (node("... on Membership { status }"), node_of(&c.of(who).membership)),
            Read::NodeOwnCheckIn => (node("... on CheckIn { note }"), node_of(&c.of(who).check_in)),
            Read::CalendarFeed => (c.of(who).feed.clone(), Value::Null),
            Read::EventsFace => (EVENTS.into(), json!({ "id": c.id, "kinds": ["COHORT_ACTIVATED"] })),
            Read::EventsCheckIns => (EVENTS.into(), json!({ "id": c.id, "kinds": ["CHECK_IN_LOGGED"] })),
            Read::WebhookEndpoints => (WEBHOOK_ENDPOINTS.into(), json!({})),
            Read::PersonExport => (PERSON_EXPORT.into(), json!({ "id": Who::Member.sub() })),
        }
    }

    /// The root field of the answer.
    fn field(self) -> &'static str {
        match self {
            Read::Viewer => "viewer",
            Read::Cohorts => "cohorts",
            Read::SearchCohorts => "searchCohorts",
            Read::SimilarCohorts => "similarCohorts",
            Read::Proposals => "proposals",
            Read::Outcomes => "outcomes",
            Read::EventsFace | Read::EventsCheckIns => "events",
            Read::WebhookEndpoints => "webhookEndpoints",
            Read::PersonExport => "personExport",
            Read::NodeCohort
            | Read::NodeGoal
            | Read::NodeMeeting
            | Read::NodeMembership
            | Read::NodeCheckIn
            | Read::NodePerson
            | Read::NodeJoinRequest
            | Read::MembershipFields
            | Read::Participation
            | Read::OthersCalendarFeedUrl
            | Read::NodeOwnMembership
            | Read::NodeOwnCheckIn => "node",
            _ => "cohort",
        }
    }

    /// The names a list answered with, or the number of its entries.
    fn listed(self, data: &Value) -> Option<Vec<String>> {
        let nodes = match self {
            Read::Viewer => &data["viewer"]["memberships"]["nodes"],
            Read::SimilarCohorts => &data["similarCohorts"],
            Read::WebhookEndpoints => &data["webhookEndpoints"],
            Read::PersonExport => {
                let document = data["personExport"]["document"].as_str()?;
                let document: Value = afterclass_tests::serde_json::from_str(document).ok()?;
                let memberships = document["memberships"].as_array()?;
                return Some(
                    memberships.iter().map(|m| m["cohort"]["name"].as_str().unwrap_or("?").to_owned()).collect(),
                );
            }
            Read::Cohorts
            | Read::SearchCohorts
            | Read::Proposals
            | Read::Outcomes
            | Read::EventsFace
            | Read::EventsCheckIns => &data[self.field()]["nodes"],
            _ => return None,
        };
        let name = |n: &Value| {
            let v = if n["cohort"].is_object() { &n["cohort"]["name"] } else { &n["name"] };
            v.as_str().unwrap_or("?").to_owned()
        };
        Some(nodes.as_array().map(|ns| ns.iter().map(name).collect()).unwrap_or_default())
    }
}

impl fmt::Display for Read {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Read::Face => "cohort (public face)",
            Read::Meetings => "cohort.meetings/nextMeeting (no rsvps)",
            Read::MembersNodes => "cohort.members.nodes",
            Read::MembersEdges => "cohort.members.edges",
            Read::MembersPageInfo => "cohort.members.pageInfo",
            Read::CheckIns => "cohort.checkIns",
            Read::Health => "cohort.health",
            Read::Evaluation => "cohort.evaluation",
            Read::Criteria => "cohort.criteria",
            Read::AutoApply => "cohort.autoApply",
            Read::Goals => "cohort.goals",
            Read::GoalProgress => "cohort.goals.progress",
            Read::CodeOfConduct => "cohort.codeOfConduct",
            Read::JoinRequests => "cohort.joinRequests",
            Read::NudgePolicy => "cohort.nudgePolicy",
            Read::Nudges => "cohort.nudges",
            Read::OutsideInterest => "cohort.outsideInterest",
            Read::Rsvps => "cohort.meetings.rsvps",
            Read::Attendance => "cohort.meetings.attendance",
            Read::ProgressChartUrl => "cohort.progressChartUrl",
            Read::Chart => "GET progress.svg (bearer)",
            Read::NodeCohort => "node(Cohort)",
            Read::NodeGoal => "node(Goal)",
            Read::NodeMeeting => "node(Meeting)",
            Read::NodeMembership => "node(Membership of tom)",
            Read::NodeCheckIn => "node(CheckIn of tom)",
            Read::NodePerson => "node(Person tom)",
            Read::NodeJoinRequest => "node(JoinRequest of pat)",
            Read::MembershipFields => "Membership fields of tom",
            Read::Participation => "Membership.participation of tom",
            Read::OthersCalendarFeedUrl => "Membership.calendarFeedUrl of tom",
            Read::NodeOwnMembership => "node(own Membership)",
            Read::NodeOwnCheckIn => "node(own CheckIn)",
            Read::CalendarFeed => "GET calendar feed (own URL)",
            Read::EventsFace => "events (COHORT_ACTIVATED of the cohort)",
            Read::EventsCheckIns => "events (CHECK_IN_LOGGED of the cohort)",
            other => return write!(f, "{}", other.field()),
        };
        f.write_str(what)
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mutation {
    CreateCohort,
    ProposeCohort,
    ApproveCohort,
    DeclineProposal,
    AddMembers,
    /// A sync listing one new person (nobody removed).
    SyncRoster,
    AcceptCodeOfConduct,
    SetCodeOfConduct,
    /// tom's membership, to FACILITATOR.
    ChangeMemberRole,
    LeaveCohort,
    AddGoal,
    /// On a FORMING cohort with everything activation needs.
    ActivateCohort,
    LogCheckIn,
    DisbandCohort,
    SetCriteria,
    /// The goal is not met, so the evaluation says CONTINUE: leaders get REQUIREMENTS_NOT_MET.
    ApplyEvaluation,
    GraduateCohort,
    /// On a cohort that has ended.
    WriteRetrospective,
    RequestToJoin,
    /// pat's pending request, approved.
    DecideJoinRequest,
    /// pat's pending request.
    WithdrawJoinRequest,
    SetMeetingPlan,
    ScheduleMeeting,
    /// The upcoming meeting.
    CancelMeeting,
    /// To the upcoming meeting.
    Rsvp,
    /// tom, PRESENT at the meeting in progress.
    RecordAttendance,
    /// tom's membership: only he replaces his URL.
    RevokeCalendarFeed,
    /// The column's own membership.
    RevokeOwnCalendarFeed,
    /// A receiver at a public address.
    CreateWebhookEndpoint,
    /// The fixture's endpoint, registered by the integration account.
    RotateWebhookSecret,
    /// The fixture's endpoint.
    DisableWebhookEndpoint,
    /// Check-in nudges every five days.
    SetNudgePolicy,
    /// The column's own membership, nudges off.
    SetNudgesEnabled,
    /// A trainee of the tenant who signed in once (the fixture's `erasable`).
    ErasePerson,
}

const WRITES: [Mutation; 34] = [
    Mutation::CreateCohort,
    Mutation::ProposeCohort,
    Mutation::ApproveCohort,
    Mutation::DeclineProposal,
    Mutation::AddMembers,
    Mutation::SyncRoster,
    Mutation::AcceptCodeOfConduct,
    Mutation::SetCodeOfConduct,
    Mutation::ChangeMemberRole,
    Mutation::LeaveCohort,
    Mutation::AddGoal,
    Mutation::ActivateCohort,
    Mutation::LogCheckIn,
    Mutation::DisbandCohort,
    Mutation::SetCriteria,
    Mutation::ApplyEvaluation,
    Mutation::GraduateCohort,
    Mutation::WriteRetrospective,
    Mutation::RequestToJoin,
    Mutation::DecideJoinRequest,
    Mutation::WithdrawJoinRequest,
    Mutation::SetMeetingPlan,
    Mutation::ScheduleMeeting,
    Mutation::CancelMeeting,
    Mutation::Rsvp,
    Mutation::RecordAttendance,
    Mutation::RevokeCalendarFeed,
    Mutation::RevokeOwnCalendarFeed,
    Mutation::CreateWebhookEndpoint,
    Mutation::RotateWebhookSecret,
    Mutation::DisableWebhookEndpoint,
    Mutation::SetNudgePolicy,
    Mutation::SetNudgesEnabled,
    Mutation::ErasePerson,
];

/// The state a mutation's fixture cohort must be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Forming,
    Active,
    Ended,
}

impl Mutation {
    fn field(self) -> &'static str {
        match self {
            Mutation::CreateCohort => "createCohort",
            Mutation::ProposeCohort => "proposeCohort",
            Mutation::ApproveCohort => "approveCohort",
            Mutation::DeclineProposal => "declineProposal",
            Mutation::AddMembers => "addMembers",
            Mutation::SyncRoster => "syncRoster",
            Mutation::AcceptCodeOfConduct => "acceptCodeOfConduct",
            Mutation::SetCodeOfConduct => "setCodeOfConduct",
            Mutation::ChangeMemberRole => "changeMemberRole",
            Mutation::LeaveCohort => "leaveCohort",
            Mutation::AddGoal => "addGoal",
            Mutation::ActivateCohort => "activateCohort",
            Mutation::LogCheckIn => "logCheckIn",
            Mutation::DisbandCohort => "disbandCohort",
            Mutation::SetCriteria => "setCriteria",
            Mutation::ApplyEvaluation => "applyEvaluation",
            Mutation::GraduateCohort => "graduateCohort",
            Mutation::WriteRetrospective => "writeRetrospective",
            Mutation::RequestToJoin => "requestToJoin",
            Mutation::DecideJoinRequest => "decideJoinRequest",
            Mutation::WithdrawJoinRequest => "withdrawJoinRequest",
            Mutation::SetMeetingPlan => "setMeetingPlan",
            Mutation::ScheduleMeeting => "scheduleMeeting",
            Mutation::CancelMeeting => "cancelMeeting",
            Mutation::Rsvp => "rsvp",
            Mutation::RecordAttendance => "recordAttendance",
            Mutation::RevokeCalendarFeed | Mutation::RevokeOwnCalendarFeed => "revokeCalendarFeed",
            Mutation::CreateWebhookEndpoint => "createWebhookEndpoint",
            Mutation::RotateWebhookSecret => "rotateWebhookSecret",
            Mutation::DisableWebhookEndpoint => "disableWebhookEndpoint",
            Mutation::SetNudgePolicy => "setNudgePolicy",
            Mutation::SetNudgesEnabled => "setNudgesEnabled",
            Mutation::ErasePerson => "erasePerson",
        }
    }

    fn stage(self) -> Stage {
        match self {
            Mutation::ActivateCohort => Stage::Forming,
            Mutation::WriteRetrospective => Stage::Ended,
            _ => Stage::Active,
        }
    }

    /// The payload's object an allowed mutation answers with.
    fn payload_object(self) -> &'static str {
        match self {
            Mutation::CreateCohort
            | Mutation::ProposeCohort
            | Mutation::ApproveCohort
            | Mutation::DeclineProposal
            | Mutation::SetCodeOfConduct
            | Mutation::ActivateCohort
            | Mutation::DisbandCohort
            | Mutation::SetCriteria
            | Mutation::ApplyEvaluation
            | Mutation::GraduateCohort
            | Mutation::WriteRetrospective
            | Mutation::SetMeetingPlan
            | Mutation::SetNudgePolicy => "cohort",
            Mutation::AddMembers => "memberships",
            Mutation::SyncRoster => "invited",
            Mutation::AcceptCodeOfConduct
            | Mutation::ChangeMemberRole
            | Mutation::LeaveCohort
            | Mutation::RevokeCalendarFeed
            | Mutation::RevokeOwnCalendarFeed
            | Mutation::SetNudgesEnabled => "membership",
            Mutation::AddGoal => "goal",
            Mutation::LogCheckIn => "checkIn",
            Mutation::RequestToJoin | Mutation::DecideJoinRequest | Mutation::WithdrawJoinRequest => "joinRequest",
            Mutation::ScheduleMeeting | Mutation::CancelMeeting | Mutation::RecordAttendance => "meeting",
            Mutation::Rsvp => "rsvp",
            Mutation::CreateWebhookEndpoint | Mutation::RotateWebhookSecret | Mutation::DisableWebhookEndpoint => {
                "endpoint"
            }
            Mutation::ErasePerson => "erased",
        }
    }

    /// Whether the mutation names the fixture's cohort (or something in it).
    fn names_the_cohort(self) -> bool {
        !matches!(
            self,
            Mutation::CreateCohort
                | Mutation::ProposeCohort
                | Mutation::ApproveCohort
                | Mutation::DeclineProposal
                | Mutation::CreateWebhookEndpoint
                | Mutation::RotateWebhookSecret
                | Mutation::DisableWebhookEndpoint
                | Mutation::ErasePerson
        )
    }

    /// What the cell of `who` in `tenant` expects, on the BY_REQUEST circle.
    fn expect(self, who: Who, tenant: Tenant) -> Expect {
        let staff = who.standing() == Standing::Staff;
        let trainee = who.role() == ViewerRole::Trainee;
        let allowed_if = |yes: bool| if yes { Allowed } else { Forbidden };
        // Person actions by someone without an active membership are the rules' user errors.
        let as_a_person = || match who {
            Who::Integration => Forbidden,
            w if w.is_active_member() => Allowed,
            Who::Invited => CONDUCT_NOT_ACCEPTED,
            _ => NOT_A_MEMBER,
        };
        match self {
            Mutation::CreateCohort => allowed_if(staff),
            Mutation::ProposeCohort => allowed_if(trainee),
            // Webhooks are for instructors and the integration account, in their own tenant;
            // a trainee is refused whatever the endpoint.
            Mutation::CreateWebhookEndpoint => allowed_if(staff),
            Mutation::RotateWebhookSecret | Mutation::DisableWebhookEndpoint if !staff => Forbidden,
            // Erasing a person is the integration account's alone; another tenant's finds no
            // such person and erases no one.
            Mutation::ErasePerson if who != Who::Integration => Forbidden,
            Mutation::ErasePerson if tenant == Tenant::Other => Nothing,
            Mutation::ErasePerson => Allowed,
            _ if tenant == Tenant::Other => {
                if self == Mutation::RevokeOwnCalendarFeed && self.expect(who, Tenant::Own) == Undecided {
                    Undecided
                } else {
                    NotFound
                }
            }
            // Of lea's proposal: any instructor decides; trainees not in it do not know of it.
            Mutation::ApproveCohort | Mutation::DeclineProposal => match who {
                Who::LeadInstructor | Who::OtherInstructor => Allowed,
                Who::Integration | Who::Leader => Forbidden,
                _ => NotFound,
            },
            Mutation::AddMembers | Mutation::SyncRoster => allowed_if(who.leads() || who == Who::Integration),
            Mutation::AcceptCodeOfConduct => match who {
                Who::Invited => Allowed,
                w => as_a_person_or_accept(w),
            },
            Mutation::LeaveCohort | Mutation::SetNudgesEnabled => match who {
                Who::Invited => Allowed,
                _ => as_a_person(),
            },
            Mutation::LogCheckIn | Mutation::Rsvp => as_a_person(),
            Mutation::SetCodeOfConduct
            | Mutation::ChangeMemberRole
            | Mutation::AddGoal
            | Mutation::ActivateCohort
            | Mutation::DisbandCohort
            | Mutation::SetCriteria
            | Mutation::GraduateCohort
            | Mutation::WriteRetrospective
            | Mutation::SetNudgePolicy => allowed_if(who.leads()),
            Mutation::ApplyEvaluation if who.leads() => REQUIREMENTS_NOT_MET,
            Mutation::ApplyEvaluation => Forbidden,
            Mutation::SetMeetingPlan
            | Mutation::ScheduleMeeting
            | Mutation::CancelMeeting
            | Mutation::RecordAttendance
            | Mutation::DecideJoinRequest => allowed_if(who.keeps_momentum()),
            Mutation::RequestToJoin => match who {
                Who::Outsider | Who::Declined | Who::Withdrawn | Who::OtherInstructor => Allowed,
                Who::Left | Who::Removed | Who::Integration => Forbidden,
                // One pending request at a time; members already belong.
                _ => ALREADY_EXISTS,
            },
            Mutation::WithdrawJoinRequest => allowed_if(who == Who::Requested),
            Mutation::RevokeCalendarFeed => allowed_if(who == Who::Member),
            Mutation::RotateWebhookSecret | Mutation::DisableWebhookEndpoint => Allowed,
            Mutation::RevokeOwnCalendarFeed => match who {
                w if w.is_active_member() => Allowed,
                Who::Left | Who::Removed => Forbidden,
                // INVITED: the table lists only accepting and leaving; the rest hold no
                // membership of their own (or one the table says nothing about).
                _ => Undecided,
            },
        }
    }

    /// What the cell expects on the INVITE_ONLY cohort: asked only of those who may not know it.
    fn expect_private(self, who: Who) -> Expect {
        if !self.names_the_cohort() || read_expect(Level::Face, who, Target::Private) != NotFound {
            return Undecided;
        }
        match self {
            // Their own membership or request: whether it is NOT_FOUND or FORBIDDEN, the table
            // does not say.
            Mutation::RevokeOwnCalendarFeed => Undecided,
            Mutation::WithdrawJoinRequest if who == Who::Requested => Undecided,
            _ => NotFound,
        }
    }

    fn request(self, fx: &Fixture, who: Who, target: Target) -> (String, Value) {
        let c = fx.cohort(target);
        let cohort = json!({ "input": { "cohortId": c.id } });
        let q = |s: &str| s.to_owned();
        match self {
            Mutation::CreateCohort => (
                q(ops::CREATE),
                json!({ "input": { "name": "Another circle", "domain": "Rust", "purpose": "Practise", "horizon": "SHORT_TERM" } }),
            ),
            Mutation::ProposeCohort => (
                q(PROPOSE),
                json!({ "input": { "name": "Another proposal", "domain": "Rust", "purpose": "Practise", "horizon": "OPEN_ENDED" } }),
            ),
            Mutation::ApproveCohort => (q(APPROVE), json!({ "input": { "cohortId": fx.proposal } })),
            Mutation::DeclineProposal => {
                (q(DECLINE_PROPOSAL), json!({ "input": { "cohortId": fx.proposal, "reason": "Join the circle." } }))
            }
            Mutation::AddMembers => (
                q(ops::ADD_MEMBERS),
                json!({ "input": { "cohortId": c.id, "members": [{ "externalId": "zoe", "displayName": "Zoe" }] } }),
            ),
            Mutation::SyncRoster => (
                q(SYNC_ROSTER),
                json!({ "input": { "cohortId": c.id, "members": [{ "externalId": "zoe", "displayName": "Zoe" }] } }),
            ),
            Mutation::AcceptCodeOfConduct => (q(ops::ACCEPT), json!({ "input": { "cohortId": c.id, "version": 1 } })),
            Mutation::SetCodeOfConduct => {
                (q(ops::SET_CONDUCT), json!({ "input": { "cohortId": c.id, "text": "Be kind; be on time." } }))
            }
            Mutation::ChangeMemberRole => (
                q(CHANGE_ROLE),
                json!({ "input": { "membershipId": c.of(Who::Member).membership, "role": "FACILITATOR" } }),
            ),
            Mutation::LeaveCohort => (q(ops::LEAVE), cohort),
            Mutation::AddGoal => (
                q(ops::ADD_GOAL),
                json!({ "input": { "cohortId": c.id, "title": "Chapters", "unit": "chapters", "target": 12.0, "aggregation": "SUM" } }),
            ),
            Mutation::ActivateCohort => (q(ops::ACTIVATE), cohort),
            Mutation::LogCheckIn => {
                (q(ops::CHECK_IN), json!({ "input": { "cohortId": c.id, "goalId": c.goal, "value": 1.0 } }))
            }
            Mutation::DisbandCohort => {
                (q(ops::DISBAND), json!({ "input": { "cohortId": c.id, "reason": "LEADERS_DECISION" } }))
            }
            Mutation::SetCriteria => (
                q(SET_CRITERIA),
                json!({ "input": { "cohortId": c.id, "criteria": [{ "kind": "INACTIVE_FOR_DAYS", "effect": "DISBAND", "threshold": 30 }] } }),
            ),
            Mutation::ApplyEvaluation => (q(APPLY_EVALUATION), cohort),
            Mutation::GraduateCohort => {
                (q(GRADUATE), json!({ "input": { "cohortId": c.id, "formalStructure": "The Rust Guild" } }))
            }
            Mutation::WriteRetrospective => {
                (q(RETROSPECTIVE), json!({ "input": { "cohortId": c.id, "retrospective": "How it went." } }))
            }
            Mutation::RequestToJoin => (q(REQUEST_TO_JOIN), cohort),
            Mutation::DecideJoinRequest => {
                (q(DECIDE_JOIN_REQUEST), json!({ "input": { "joinRequestId": c.pending_request, "approve": true } }))
            }
            Mutation::WithdrawJoinRequest => {
                (q(WITHDRAW_JOIN_REQUEST), json!({ "input": { "joinRequestId": c.pending_request } }))
            }
            Mutation::SetMeetingPlan => (
                q(SET_MEETING_PLAN),
                json!({ "input": { "cohortId": c.id, "channel": { "kind": "FORUM", "address": "https://forum.example/rust" } } }),
            ),
            Mutation::ScheduleMeeting => {
                let at = (chrono::Utc::now() + chrono::Duration::days(2)).timestamp() / 60 * 60;
                let at = chrono::DateTime::from_timestamp(at, 0).unwrap_or_default().to_rfc3339();
                (q(SCHEDULE_MEETING), json!({ "input": { "cohortId": c.id, "startsAt": at, "durationMinutes": 60 } }))
            }
            Mutation::CancelMeeting => (q(CANCEL_MEETING), json!({ "input": { "meetingId": c.upcoming } })),
            Mutation::Rsvp => (q(RSVP), json!({ "input": { "meetingId": c.upcoming, "answer": "GOING" } })),
            Mutation::RecordAttendance => (
                q(RECORD_ATTENDANCE),
                json!({ "input": { "meetingId": c.current,
                    "entries": [{ "membershipId": c.of(Who::Member).membership, "mark": "PRESENT" }] } }),
            ),
            Mutation::RevokeCalendarFeed => {
                (q(REVOKE_CALENDAR_FEED), json!({ "input": { "membershipId": c.of(Who::Member).membership } }))
            }
            Mutation::RevokeOwnCalendarFeed => {
                (q(REVOKE_CALENDAR_FEED), json!({ "input": { "membershipId": c.of(who).membership } }))
            }
            Mutation::CreateWebhookEndpoint => {
                (q(CREATE_WEBHOOK_ENDPOINT), json!({ "input": { "url": "https://hooks.example.edu/afterclass" } }))
            }
            Mutation::RotateWebhookSecret => {
                (q(ROTATE_WEBHOOK_SECRET), json!({ "input": { "endpointId": fx.endpoint } }))
            }
            Mutation::DisableWebhookEndpoint => {
                (q(DISABLE_WEBHOOK_ENDPOINT), json!({ "input": { "endpointId": fx.endpoint } }))
            }
            Mutation::SetNudgePolicy => {
                (q(SET_NUDGE_POLICY), json!({ "input": { "cohortId": c.id, "checkInEveryDays": 5 } }))
            }
            Mutation::SetNudgesEnabled => {
                (q(SET_NUDGES_ENABLED), json!({ "input": { "cohortId": c.id, "enabled": false } }))
            }
            Mutation::ErasePerson => (q(ERASE_PERSON), json!({ "input": { "externalId": fx.erasable } })),
        }
    }
}

/// Accepting again is harmless for the active; everyone else without an invitation is no member.
fn as_a_person_or_accept(who: Who) -> Expect {
    match who {
        Who::Integration => Forbidden,
        w if w.is_active_member() => Allowed,
        _ => NOT_A_MEMBER,
    }
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mutation::RevokeOwnCalendarFeed => f.write_str("revokeCalendarFeed (own membership)"),
            Mutation::RevokeCalendarFeed => f.write_str("revokeCalendarFeed (tom's membership)"),
            other => f.write_str(other.field()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operations and their documents
// ---------------------------------------------------------------------------------------------

const WHO_AM_I: &str = "{ viewer { role } }";
const VIEWER: &str = "{ viewer { role tenantId memberships(first: 50) { nodes { id status } } } }";
const MEMBERS: &str =
    r#"query($id: ID!) { cohort(id: $id) { members(first: 50) { nodes { id person { externalId } } } } }"#;
const FEED_URL: &str = r#"query($id: ID!) { node(id: $id) { ... on Membership { calendarFeedUrl } } }"#;
const PROPOSE: &str = r#"mutation($input: ProposeCohortInput!) {
    proposeCohort(input: $input) { cohort { id stage name } userErrors { field message code } } }"#;
const APPROVE: &str = r#"mutation($input: CohortRefInput!) {
    approveCohort(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const DECLINE_PROPOSAL: &str = r#"mutation($input: DeclineProposalInput!) {
    declineProposal(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const CHANGE_ROLE: &str = r#"mutation($input: ChangeMemberRoleInput!) {
    changeMemberRole(input: $input) { membership { id role } userErrors { field message code } } }"#;
const SET_CRITERIA: &str = r#"mutation($input: SetCriteriaInput!) {
    setCriteria(input: $input) { cohort { id } userErrors { field message code } } }"#;
const APPLY_EVALUATION: &str = r#"mutation($input: ApplyEvaluationInput!) {
    applyEvaluation(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const GRADUATE: &str = r#"mutation($input: GraduateCohortInput!) {
    graduateCohort(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const RETROSPECTIVE: &str = r#"mutation($input: WriteRetrospectiveInput!) {
    writeRetrospective(input: $input) { cohort { id } userErrors { field message code } } }"#;
const REQUEST_TO_JOIN: &str = r#"mutation($input: RequestToJoinInput!) {
    requestToJoin(input: $input) { joinRequest { id status } membership { id status } userErrors { field message code } } }"#;
const DECIDE_JOIN_REQUEST: &str = r#"mutation($input: DecideJoinRequestInput!) {
    decideJoinRequest(input: $input) { joinRequest { id status } userErrors { field message code } } }"#;
const WITHDRAW_JOIN_REQUEST: &str = r#"mutation($input: JoinRequestRefInput!) {
    withdrawJoinRequest(input: $input) { joinRequest { id status } userErrors { field message code } } }"#;
const SET_MEETING_PLAN: &str = r#"mutation($input: SetMeetingPlanInput!) {
    setMeetingPlan(input: $input) { cohort { id } userErrors { field message code } } }"#;
const SCHEDULE_MEETING: &str = r#"mutation($input: ScheduleMeetingInput!) {
    scheduleMeeting(input: $input) { meeting { id } userErrors { field message code } } }"#;
const CANCEL_MEETING: &str = r#"mutation($input: CancelMeetingInput!) {
    cancelMeeting(input: $input) { meeting { id status } userErrors { field message code } } }"#;
const RSVP: &str = r#"mutation($input: RsvpInput!) {
    rsvp(input: $input) { rsvp { answer } userErrors { field message code } } }"#;
const RECORD_ATTENDANCE: &str = r#"mutation($input: RecordAttendanceInput!) {
    recordAttendance(input: $input) { meeting { id status } userErrors { field message code } } }"#;
const REVOKE_CALENDAR_FEED: &str = r#"mutation($input: RevokeCalendarFeedInput!) {
    revokeCalendarFeed(input: $input) { membership { id calendarFeedUrl } userErrors { field message code } } }"#;
const MEETING_IDS: &str = r#"query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) {
    meetings(from: $from, to: $to) { id } } }"#;
const EVENTS: &str = r#"query($id: ID!, $kinds: [CohortEventKind!]) {
    events(first: 100, cohortId: $id, kinds: $kinds) { nodes { kind cohort { name } } } }"#;
const SYNC_ROSTER: &str = r#"mutation($input: SyncRosterInput!) {
    syncRoster(input: $input) { invited { id } removed { id } unchanged userErrors { field message code } } }"#;
const OUTSIDE_INTEREST: &str = r#"query($id: ID!) { cohort(id: $id) { outsideInterest } }"#;
const WEBHOOK_ENDPOINTS: &str = r#"{ webhookEndpoints { id url kinds enabled createdAt
    deliveries(first: 10) { totalCount nodes { id status attempts event { id } } } } }"#;
const CREATE_WEBHOOK_ENDPOINT: &str = r#"mutation($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { endpoint { id url } signingSecret userErrors { field message code } } }"#;
const ROTATE_WEBHOOK_SECRET: &str = r#"mutation($input: WebhookEndpointRefInput!) {
    rotateWebhookSecret(input: $input) { endpoint { id } signingSecret userErrors { field message code } } }"#;
const SET_NUDGE_POLICY: &str = r#"mutation($input: SetNudgePolicyInput!) {
    setNudgePolicy(input: $input) { cohort { id nudgePolicy { checkInEveryDays } } userErrors { field message code } } }"#;
const SET_NUDGES_ENABLED: &str = r#"mutation($input: SetNudgesEnabledInput!) {
    setNudgesEnabled(input: $input) { membership { id nudgesEnabled } userErrors { field message code } } }"#;
const PERSON_EXPORT: &str =
    r#"query($id: String!) { personExport(externalId: $id) { person { id } document generatedAt } }"#;
const ERASE_PERSON: &str = r#"mutation($input: ErasePersonInput!) {
    erasePerson(input: $input) { erased userErrors { field message code } } }"#;
const DISABLE_WEBHOOK_ENDPOINT: &str = r#"mutation($input: WebhookEndpointRefInput!) {
    disableWebhookEndpoint(input: $input) { endpoint { id enabled } userErrors { field message code } } }"#;

// ---------------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------------

/// What one column holds in one cohort, by global ID (empty when it holds none).
#[derive(Default, Clone)]
struct Held {
    membership: String,
    check_in: String,
    /// The calendar feed's path as the membership showed it while it was current.
    feed: String,
}

/// One cohort of the fixture, with every column in its standing.
#[derive(Default, Clone)]
struct FixtureCohort {
    id: String,
    goal: String,
    /// pat's pending request.
    pending_request: String,
    /// The meeting in progress and the next week's.
    current: String,
    upcoming: String,
    held: BTreeMap<Who, Held>,
}

impl FixtureCohort {
    fn of(&self, who: Who) -> Held {
        self.held.get(&who).cloned().unwrap_or_default()
    }
}

struct Fixture {
    circle: FixtureCohort,
    private: FixtureCohort,
    proposal: String,
    /// tom, the person.
    tom: String,
    /// The meeting window the reads ask for.
    from: String,
    to: String,
    /// A webhook endpoint of the cohorts' tenant, registered by the integration account.
    endpoint: String,
    /// The external id of a trainee of the cohorts' tenant who is in no cohort (for erasing).
    erasable: String,
}

impl Fixture {
    fn cohort(&self, target: Target) -> &FixtureCohort {
        match target {
            Target::Circle => &self.circle,
            Target::Private => &self.private,
        }
    }
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("an id in {value:#}")).to_owned()
}

fn own(who: Who) -> String {
    who.token(Tenant::Own)
}

/// Sets one column of one row with SQL, for states no mutation makes: a REMOVED membership (no
/// mutation removes a member yet) and a cohort turned INVITE_ONLY after requests were made to it
/// (a cohort's visibility is chosen when it is created, and requests need a discoverable one).
async fn set_by_sql(app: &TestApp, kind: Kind, id: &str, column: &str, value: &str) {
    let table = match kind {
        Kind::Membership => "memberships",
        Kind::Cohort => "cohorts",
        other => panic!("no SQL setter for {other:?}"),
    };
    let row = ids::decode(kind, id).unwrap();
    let conn = app.store.writer();
    conn.execute_raw(Statement::from_string(
        conn.get_database_backend(),
        format!("UPDATE {table} SET {column} = '{value}' WHERE id = {row}"),
    ))
    .await
    .unwrap();
}

/// Every column's membership in `cohort` (as ada, who leads it, lists them) and its calendar
/// feed's path as the member's own `node` shows it (empty when it shows none).
async fn memberships(app: &TestApp, cohort: &str) -> BTreeMap<Who, (String, String)> {
    let data = app.ok(&own(Who::LeadInstructor), MEMBERS, json!({ "id": cohort })).await;
    let nodes = data["cohort"]["members"]["nodes"].as_array().cloned().unwrap_or_default();
    let mut out = BTreeMap::new();
    for who in COLUMNS {
        let Some(m) = nodes.iter().find(|n| n["person"]["externalId"] == who.sub()) else { continue };
        let membership = id_of(m);
        let body = app.gql(&own(who), FEED_URL, json!({ "id": membership })).await;
        let feed = body["data"]["node"]["calendarFeedUrl"].as_str().unwrap_or_default().to_owned();
        out.insert(who, (membership, feed));
    }
    out
}

async fn request_to_join(app: &TestApp, who: Who, cohort: &str) -> String {
    let data = app.ok(&own(who), REQUEST_TO_JOIN, json!({ "input": { "cohortId": cohort } })).await;
    assert_eq!(data["requestToJoin"]["joinRequest"]["status"], "PENDING", "{data:#}");
    id_of(&data["requestToJoin"]["joinRequest"])
}

/// A cohort led by ada with every column in its standing: created with `visibility` (requests
/// need a discoverable one; an INVITE_ONLY cohort is switched to it afterwards with SQL), a goal,
/// a code of conduct, a weekly plan whose meeting is in progress, and check-ins with notes.
async fn standing_cohort(app: &TestApp, name: &str, visibility: &str, stage: Stage) -> FixtureCohort {
    let ada = own(Who::LeadInstructor);
    let roster: Vec<Value> = [
        (Who::Leader, "LEADER"),
        (Who::Facilitator, "FACILITATOR"),
        (Who::Member, "MEMBER"),
        (Who::Observer, "OBSERVER"),
        (Who::Invited, "MEMBER"),
        (Who::Left, "MEMBER"),
        (Who::Removed, "MEMBER"),
    ]
    .iter()
    .map(|(w, role)| json!({ "externalId": w.sub(), "displayName": w.sub().to_uppercase(), "role": role }))
    .collect();
    let created_visibility = if visibility == "INVITE_ONLY" { "BY_REQUEST" } else { visibility };
    let data = app
        .ok(
            &ada,
            ops::CREATE,
            json!({ "input": { "name": name, "domain": "Rust programming", "purpose": "Practise Rust together",
                "scope": "The exercise book", "tags": ["rust"], "horizon": "SHORT_TERM", "visibility": created_visibility,
                "codeOfConduct": "Be kind.", "roster": roster,
                "course": { "lmsCourseId": "RUST-101", "title": "Rust Fundamentals" } } }),
        )
        .await;
    assert_eq!(data["createCohort"]["userErrors"], json!([]), "{data:#}");
    let mut c = FixtureCohort { id: id_of(&data["createCohort"]["cohort"]), ..FixtureCohort::default() };
    let data = app
        .ok(
            &ada,
            ops::ADD_GOAL,
            json!({ "input": { "cohortId": c.id, "title": "Exercises", "unit": "exercises", "target": 100.0, "aggregation": "SUM" } }),
        )
        .await;
    c.goal = id_of(&data["addGoal"]["goal"]);
    let accepting = [Who::Leader, Who::Facilitator, Who::Member, Who::Observer, Who::Left, Who::Removed];
    for who in accepting {
        let data = app.ok(&own(who), ops::ACCEPT, json!({ "input": { "cohortId": c.id, "version": 1 } })).await;
        assert_eq!(data["acceptCodeOfConduct"]["membership"]["status"], "ACTIVE", "{who}: {data:#}");
    }
    if stage != Stage::Forming {
        let data = app.ok(&ada, ops::ACTIVATE, json!({ "input": { "cohortId": c.id } })).await;
        assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
        for who in accepting {
            let note = format!("{}'s private note", who.sub());
            let data = app
                .ok(
                    &own(who),
                    ops::CHECK_IN,
                    json!({ "input": { "cohortId": c.id, "goalId": c.goal, "value": 2.0, "note": note, "blockers": "none" } }),
                )
                .await;
            c.held.entry(who).or_default().check_in = id_of(&data["logCheckIn"]["checkIn"]);
        }
        let (current, upcoming) = plan_meetings(app, &c.id).await;
        (c.current, c.upcoming) = (current, upcoming);
        let tom = own(Who::Member);
        app.ok(&tom, RSVP, json!({ "input": { "meetingId": c.upcoming, "answer": "GOING" } })).await;
    }
    // The requests: pat's stays pending, dan's is declined, wil withdraws his.
    c.pending_request = request_to_join(app, Who::Requested, &c.id).await;
    let dan = request_to_join(app, Who::Declined, &c.id).await;
    let wil = request_to_join(app, Who::Withdrawn, &c.id).await;
    // Every membership and its feed while it is current: the URLs that must stop working after.
    for (who, (membership, feed)) in memberships(app, &c.id).await {
        let held = c.held.entry(who).or_default();
        (held.membership, held.feed) = (membership, feed);
    }
    let data = app.ok(&ada, DECIDE_JOIN_REQUEST, json!({ "input": { "joinRequestId": dan, "approve": false } })).await;
    assert_eq!(data["decideJoinRequest"]["joinRequest"]["status"], "DECLINED", "{data:#}");
    let data = app.ok(&own(Who::Withdrawn), WITHDRAW_JOIN_REQUEST, json!({ "input": { "joinRequestId": wil } })).await;
    assert_eq!(data["withdrawJoinRequest"]["joinRequest"]["status"], "WITHDRAWN", "{data:#}");
    let data = app.ok(&own(Who::Left), ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    assert_eq!(data["leaveCohort"]["membership"]["status"], "LEFT", "{data:#}");
    set_by_sql(app, Kind::Membership, &c.of(Who::Removed).membership, "status", "REMOVED").await;
    if visibility == "INVITE_ONLY" {
        set_by_sql(app, Kind::Cohort, &c.id, "visibility", "INVITE_ONLY").await;
    }
    if stage == Stage::Ended {
        let data =
            app.ok(&ada, ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "LEADERS_DECISION" } })).await;
        assert_eq!(data["disbandCohort"]["cohort"]["stage"], "DISBANDED", "{data:#}");
    }
    c
}

/// ada gives the cohort a weekly plan on today's weekday whose meeting today began half an hour
/// ago (in a zone where it is day now) and lasts two hours; gives that meeting and next week's.
async fn plan_meetings(app: &TestApp, cohort: &str) -> (String, String) {
    use chrono::{Datelike, Timelike};
    let ada = own(Who::LeadInstructor);
    let now = chrono::Utc::now();
    let zone = ["Europe/Berlin", "America/New_York"]
        .into_iter()
        .map(|z| z.parse::<afterclass_domain::meeting::Tz>().unwrap())
        .find(|z| (4..22).contains(&now.with_timezone(z).hour()))
        .unwrap();
    let local = (now - chrono::Duration::minutes(30)).with_timezone(&zone);
    let cadence = json!({ "frequency": "WEEKLY", "weekday": local.weekday().number_from_monday(),
        "localTime": local.format("%H:%M").to_string(), "timeZone": zone.name(), "durationMinutes": 120 });
    let data = app
        .ok(
            &ada,
            SET_MEETING_PLAN,
            json!({ "input": { "cohortId": cohort, "cadence": cadence,
                "place": { "format": "ONLINE", "onlineUrl": "https://meet.example/rust" } } }),
        )
        .await;
    assert_eq!(data["setMeetingPlan"]["userErrors"], json!([]), "{data:#}");
    let (from, to) = window();
    let data = app.ok(&ada, MEETING_IDS, json!({ "id": cohort, "from": from, "to": to })).await;
    let ids: Vec<String> = data["cohort"]["meetings"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids.len(), 2, "the meeting in progress and next week's: {data:#}");
    let data = app
        .ok(
            &ada,
            RECORD_ATTENDANCE,
            json!({ "input": { "meetingId": ids[0], "entries": [{ "membershipId": memberships(app, cohort).await[&Who::Member].0, "mark": "PRESENT" }] } }),
        )
        .await;
    assert_eq!(data["recordAttendance"]["userErrors"], json!([]), "{data:#}");
    (ids[0].clone(), ids[1].clone())
}

fn window() -> (String, String) {
    let now = chrono::Utc::now();
    (now.to_rfc3339(), (now + chrono::Duration::days(8)).to_rfc3339())
}

/// lea's proposal.
async fn proposal(app: &TestApp) -> String {
    let data = app
        .ok(
            &own(Who::Leader),
            PROPOSE,
            json!({ "input": { "name": PROPOSAL, "domain": "Type-level Rust", "purpose": "Read about traits together", "horizon": "OPEN_ENDED" } }),
        )
        .await;
    assert_eq!(data["proposeCohort"]["cohort"]["stage"], "PROPOSED", "{data:#}");
    id_of(&data["proposeCohort"]["cohort"])
}

/// Every column signs in once, in both tenants, so that a cell's counts see only what it writes.
async fn sign_everyone_in(app: &TestApp) {
    for who in COLUMNS {
        for tenant in [Tenant::Own, Tenant::Other] {
            app.ok(&who.token(tenant), WHO_AM_I, json!({})).await;
        }
    }
}

/// The read fixture: the circle, the private cohort and lea's proposal.
async fn read_fixture(app: &TestApp) -> Fixture {
    sign_everyone_in(app).await;
    let circle = standing_cohort(app, CIRCLE, "BY_REQUEST", Stage::Active).await;
    let private = standing_cohort(app, PRIVATE, "INVITE_ONLY", Stage::Active).await;
    let proposal = proposal(app).await;
    let data = app.ok(&own(Who::Member), "{ viewer { person { id } } }", json!({})).await;
    let tom = data["viewer"]["person"]["id"].as_str().unwrap().to_owned();
    let (from, to) = window();
    let endpoint = webhook_endpoint(app).await;
    app.settle().await;
    Fixture { circle, private, proposal, tom, from, to, endpoint, erasable: String::new() }
}

/// A webhook endpoint of the tenant, registered by the integration account.
async fn webhook_endpoint(app: &TestApp) -> String {
    let data = app
        .ok(
            &own(Who::Integration),
            CREATE_WEBHOOK_ENDPOINT,
            json!({ "input": { "url": "https://hooks.example.edu/lms" } }),
        )
        .await;
    assert_eq!(data["createWebhookEndpoint"]["userErrors"], json!([]), "{data:#}");
    id_of(&data["createWebhookEndpoint"]["endpoint"])
}

// ---------------------------------------------------------------------------------------------
// Running cells
// ---------------------------------------------------------------------------------------------

/// What a cell got: a GraphQL answer or an HTTP status.
enum Got {
    Body(Value),
    Status(u16, String),
}

/// The outcome of an answer, in the words of [`Expect`].
fn outcome(got: &Got, field: &str, payload: Option<&str>, listed: Option<Vec<String>>) -> String {
    match got {
        Got::Status(status, _) => match status {
            200 => "ALLOWED".into(),
            s => format!("HTTP {s}"),
        },
        Got::Body(body) => {
            let codes = error_codes(body);
            let data = &body["data"];
            if body.get("errors").is_some() {
                return format!("top-level errors {codes:?}");
            }
            if let Some(object) = payload {
                let user_errors = user_error_codes(&data[field]);
                if !user_errors.is_empty() {
                    return format!("userErrors {user_errors:?}");
                }
                let answered = match &data[field][object] {
                    Value::Null | Value::Bool(false) => false,
                    Value::Array(items) => !items.is_empty(),
                    _ => true,
                };
                if !answered {
                    return "no errors and no object".into();
                }
            } else if data[field].is_null() {
                return "no errors and no object".into();
            }
            match listed {
                Some(listed) => format!("ALLOWED seeing {listed:?}"),
                None => "ALLOWED".into(),
            }
        }
    }
}

fn meets(expect: &Expect, got: &Got, outcome: &str, listed: Option<Vec<String>>) -> bool {
    match got {
        Got::Status(status, _) => match expect {
            Allowed => *status == 200,
            Forbidden => matches!(status, 403 | 404),
            NotFound => *status == 404,
            Undecided => true,
            _ => false,
        },
        Got::Body(body) => {
            let codes = error_codes(body);
            let all = |code: &str| body.get("errors").is_some() && !codes.is_empty() && codes.iter().all(|c| c == code);
            match expect {
                Allowed => outcome == "ALLOWED",
                Sees(names) => {
                    let listed: BTreeSet<String> = listed.unwrap_or_default().into_iter().collect();
                    outcome.starts_with("ALLOWED")
                        && listed.len() == names.len()
                        && names.iter().all(|n| listed.contains(*n))
                }
                Count(n) => outcome.starts_with("ALLOWED") && listed.map(|l| l.len()) == Some(*n),
                Forbidden => all("FORBIDDEN"),
                NotFound => all("NOT_FOUND"),
                UserError(code) => outcome == format!("userErrors [\"{code}\"]"),
                Nothing => outcome == "no errors and no object",
                Undecided => true,
            }
        }
    }
}

/// One cell: an operation by one column, in one tenant, about one cohort.
#[derive(Clone, Copy)]
enum Op {
    Read(Read),
    Write(Mutation),
}

#[derive(Clone)]
struct Case {
    op: Op,
    who: Who,
    tenant: Tenant,
    target: Target,
    expect: Expect,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Read(r) => r.to_string(),
            Op::Write(w) => w.to_string(),
        };
        let target = match self.target {
            Target::Circle => "BY_REQUEST",
            Target::Private => "INVITE_ONLY",
        };
        let tenant = match self.tenant {
            Tenant::Own => "own tenant",
            Tenant::Other => "other tenant",
        };
        write!(f, "{op} | {} | {target} | {tenant}", self.who)
    }
}

fn read_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for read in READS {
        for &target in read.targets() {
            for tenant in [Tenant::Own, Tenant::Other] {
                for who in COLUMNS {
                    let expect = read.expect(who, tenant, target);
                    out.push(Case { op: Op::Read(read), who, tenant, target, expect });
                }
            }
        }
    }
    out
}

fn write_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for write in WRITES {
        for tenant in [Tenant::Own, Tenant::Other] {
            for who in COLUMNS {
                out.push(Case {
                    op: Op::Write(write),
                    who,
                    tenant,
                    target: Target::Circle,
                    expect: write.expect(who, tenant),
                });
            }
        }
        for who in COLUMNS {
            let expect = write.expect_private(who);
            if expect != Undecided {
                out.push(Case { op: Op::Write(write), who, tenant: Tenant::Own, target: Target::Private, expect });
            }
        }
    }
    out
}

/// Runs one cell on `app` and checks the answer, and that a refused cell or any read wrote
/// nothing. Gives every way the cell was missed.
async fn run(app: &TestApp, fx: &Fixture, case: &Case) -> Result<(), String> {
    let token = case.who.token(case.tenant);
    let before = app.counts().await;
    let (got, field, payload, listed) = match case.op {
        Op::Read(read) => {
            let (query, variables) = read.request(fx, case.who, case.target);
            if read.is_http() {
                if query.is_empty() {
                    // The column never held such a URL: nothing to fetch, nothing to leak, unless
                    // it should have had one.
                    return match case.expect {
                        Allowed => Err(format!("{case}: expected ALLOWED, got no calendar feed URL to fetch")),
                        _ => Ok(()),
                    };
                }
                let mut req = app.client().get(app.url(&query));
                if read == Read::Chart {
                    req = req.bearer_auth(&token);
                }
                let resp = req.send().await.expect("fetching");
                let status = resp.status().as_u16();
                (Got::Status(status, resp.text().await.unwrap_or_default()), read.field(), None, None)
            } else {
                let body = app.gql(&token, &query, variables).await;
                let listed = read.listed(&body["data"]);
                (Got::Body(body), read.field(), None, listed)
            }
        }
        Op::Write(write) => {
            let (query, variables) = write.request(fx, case.who, case.target);
            let body = app.gql(&token, &query, variables).await;
            (Got::Body(body), write.field(), Some(write.payload_object()), None)
        }
    };
    let after = app.counts().await;
    let outcome = outcome(&got, field, payload, listed.clone());
    let mut missed = Vec::new();
    if !meets(&case.expect, &got, &outcome, listed) {
        let answer = match &got {
            Got::Body(body) => body.to_string(),
            Got::Status(_, text) => text.chars().take(120).collect(),
        };
        missed.push(format!("expected {}, got {outcome}; the answer: {answer}", case.expect));
    }
    // Only tom sees his own calendar feed's URL.
    if let (Op::Read(Read::OthersCalendarFeedUrl), Got::Body(body)) = (case.op, &got) {
        let url = &body["data"]["node"]["calendarFeedUrl"];
        if case.who != Who::Member && !url.is_null() {
            missed.push(format!("tom's calendar feed URL was shown to someone else: {url}"));
        }
    }
    let is_read = matches!(case.op, Op::Read(_));
    if (case.expect.refused() || is_read) && before != after {
        let why = if is_read { "only reads" } else { "was refused" };
        let changed: Vec<String> = before
            .iter()
            .filter(|(t, n)| after.get(*t) != Some(n))
            .map(|(t, n)| format!("{t}: {n} -> {:?}", after.get(t)))
            .collect();
        missed.push(format!("it {why}, yet wrote: {changed:?}"));
    }
    if missed.is_empty() { Ok(()) } else { Err(format!("{case}: {}", missed.join("; "))) }
}

/// Fails with every missed cell, one a line.
fn report(what: &str, total: usize, mut missed: Vec<String>) {
    missed.sort();
    assert!(
        missed.is_empty(),
        "{} of {total} {what} cells of the standing table were not met (operation | column | cohort | tenant: expected, got):\n{}",
        missed.len(),
        missed.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The tables
// ---------------------------------------------------------------------------------------------

async fn every_read_by_every_standing_meets_its_cell(app: TestApp) {
    let fx = read_fixture(&app).await;
    let cases = read_cases();
    let mut missed = Vec::new();
    for case in &cases {
        if let Err(miss) = run(&app, &fx, case).await {
            missed.push(miss);
        }
    }
    app.stop().await;
    report("read", cases.len(), missed);
}

async fn every_mutation_by_every_standing_meets_its_cell(app: TestApp) {
    let backend = app.backend;
    app.stop().await;
    // Cells grouped by mutation and cohort: each group runs on one server, in order.
    let mut groups: BTreeMap<(Mutation, Target), Vec<Case>> = BTreeMap::new();
    let cases = write_cases();
    for case in &cases {
        if let Op::Write(write) = case.op {
            groups.entry((write, case.target)).or_default().push(case.clone());
        }
    }
    let queue = Arc::new(Mutex::new(groups.into_iter().collect::<VecDeque<_>>()));
    let mut servers = tokio::task::JoinSet::new();
    for _ in 0..PARALLEL_SERVERS {
        let queue = Arc::clone(&queue);
        servers.spawn(async move {
            let Some(app) = TestApp::spawn(backend).await else { return Vec::new() };
            sign_everyone_in(&app).await;
            let mut missed = Vec::new();
            let mut n = 0;
            loop {
                let next = queue.lock().unwrap().pop_front();
                let Some(((write, target), cases)) = next else { break };
                missed.extend(run_group(&app, write, target, &cases, &mut n).await);
            }
            app.stop().await;
            missed
        });
    }
    let mut missed = Vec::new();
    while let Some(done) = servers.join_next().await {
        missed.extend(done.expect("a server's cells"));
    }
    report("mutation", cases.len(), missed);
}

/// Runs the cells of one mutation on fresh cohorts: one is reused for the next cell only after a
/// cell was refused as expected (and so wrote nothing).
async fn run_group(app: &TestApp, write: Mutation, target: Target, cases: &[Case], n: &mut usize) -> Vec<String> {
    let mut missed = Vec::new();
    let mut fx: Option<Fixture> = None;
    for case in cases {
        if fx.is_none() {
            *n += 1;
            fx = Some(write_fixture(app, write, target, *n).await);
        }
        let result = run(app, fx.as_ref().unwrap(), case).await;
        let reusable = result.is_ok() && case.expect.refused();
        if let Err(miss) = result {
            missed.push(miss);
        }
        if !reusable {
            fx = None;
        }
    }
    missed
}

/// A fresh cohort for a mutation's cells, as the mutation needs it.
async fn write_fixture(app: &TestApp, write: Mutation, target: Target, n: usize) -> Fixture {
    let visibility = if target == Target::Private { "INVITE_ONLY" } else { "BY_REQUEST" };
    let name = format!("{CIRCLE} {n}");
    let c = if !write.names_the_cohort() {
        FixtureCohort::default()
    } else {
        standing_cohort(app, &name, visibility, write.stage()).await
    };
    let proposal = if matches!(write, Mutation::ApproveCohort | Mutation::DeclineProposal) {
        proposal(app).await
    } else {
        String::new()
    };
    let (from, to) = window();
    let (circle, private) =
        if target == Target::Private { (FixtureCohort::default(), c) } else { (c, FixtureCohort::default()) };
    let endpoint = if matches!(write, Mutation::RotateWebhookSecret | Mutation::DisableWebhookEndpoint) {
        webhook_endpoint(app).await
    } else {
        String::new()
    };
    let erasable = if write == Mutation::ErasePerson {
        let sub = format!("era{n}");
        app.ok(&token(&sub, ViewerRole::Trainee, TENANT), WHO_AM_I, json!({})).await;
        sub
    } else {
        String::new()
    };
    Fixture { circle, private, proposal, tom: String::new(), from, to, endpoint, erasable }
}

// ---------------------------------------------------------------------------------------------
// The table covers the schema
// ---------------------------------------------------------------------------------------------

/// The fields of `type Name` (or the values of `enum Name`) in SDL text.
fn sdl_members(sdl: &str, keyword: &str, name: &str) -> BTreeSet<String> {
    let head = format!("{keyword} {name} ");
    let start = sdl.lines().position(|l| l.starts_with(&head)).unwrap_or_else(|| panic!("{head} in schema.graphql"));
    let mut out = BTreeSet::new();
    let mut in_doc = false;
    for line in sdl.lines().skip(start + 1) {
        let line = line.trim();
        if line == "}" {
            break;
        }
        if line.starts_with("\"\"\"") {
            in_doc = !(in_doc || (line.len() > 3 && line.ends_with("\"\"\"")));
            continue;
        }
        if in_doc || line.is_empty() {
            continue;
        }
        let member: String = line.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !member.is_empty() {
            out.insert(member);
        }
    }
    out
}

#[test]
fn every_field_status_and_role_of_the_schema_has_its_row_or_column() {
    let sdl =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).expect("schema.graphql");
    let mut covered: BTreeSet<String> = READS.iter().flat_map(|r| r.covers()).map(|s| s.to_string()).collect();
    covered.extend(WRITES.iter().map(|w| format!("Mutation.{}", w.field())));
    let mut missing = Vec::new();
    for ty in ["Query", "Mutation", "Cohort", "Membership"] {
        for field in sdl_members(&sdl, "type", ty) {
            let key = format!("{ty}.{field}");
            if !covered.contains(&key) {
                missing.push(key);
            }
        }
    }
    let statuses: BTreeSet<String> = COLUMNS.iter().filter_map(|w| w.membership()).map(|(s, _)| s.to_owned()).collect();
    let roles: BTreeSet<String> = COLUMNS
        .iter()
        .filter_map(|w| w.membership())
        .filter(|(s, _)| *s == "ACTIVE")
        .map(|(_, r)| r.to_owned())
        .collect();
    for status in sdl_members(&sdl, "enum", "MembershipStatus") {
        if !statuses.contains(&status) {
            missing.push(format!("a column holding a {status} membership"));
        }
    }
    for role in sdl_members(&sdl, "enum", "MemberRole") {
        if !roles.contains(&role) {
            missing.push(format!("a column holding an ACTIVE {role} membership"));
        }
    }
    assert!(missing.is_empty(), "the standing table has no row or column for: {missing:?}");
    // And the table holds no row for what the schema does not have.
    let schema: BTreeSet<String> = ["Query", "Mutation", "Cohort", "Membership"]
        .iter()
        .flat_map(|ty| sdl_members(&sdl, "type", ty).into_iter().map(move |f| format!("{ty}.{f}")))
        .collect();
    let stale: Vec<&String> = covered.difference(&schema).collect();
    assert!(stale.is_empty(), "rows for fields the schema does not have: {stale:?}");
}

// ---------------------------------------------------------------------------------------------
// The findings, one by one
// ---------------------------------------------------------------------------------------------

fn assert_codes(body: &Value, code: &str, what: &str) -> Result<(), String> {
    let codes = error_codes(body);
    if !codes.is_empty() && codes.iter().all(|c| c == code) {
        Ok(())
    } else {
        Err(format!("{what}: expected {code}, got {body}"))
    }
}

fn all_met(results: Vec<Result<(), String>>) {
    let missed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(missed.is_empty(), "{} missed:\n{}", missed.len(), missed.join("\n"));
}

async fn a_pending_requester_reads_nothing_of_the_inside(app: TestApp) {
    sign_everyone_in(&app).await;
    let c = standing_cohort(&app, CIRCLE, "BY_REQUEST", Stage::Active).await;
    let pat = own(Who::Requested);
    let before = app.counts().await;
    let id = json!({ "id": c.id });
    let (from, to) = window();
    let mut results = Vec::new();
    for (what, selection) in [
        ("members", "members(first: 20) { nodes { id } }"),
        ("check-in notes", "checkIns(first: 20) { nodes { note blockers } }"),
        ("health", "health { status }"),
        ("evaluation", "evaluation { recommendation }"),
    ] {
        let body =
            app.gql(&pat, &format!("query($id: ID!) {{ cohort(id: $id) {{ id {selection} }} }}"), id.clone()).await;
        results.push(assert_codes(&body, "FORBIDDEN", what));
    }
    let body = app
        .gql(
            &pat,
            "query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) { meetings(from: $from, to: $to) { rsvps { answer } } } }",
            json!({ "id": c.id, "from": from, "to": to }),
        )
        .await;
    results.push(assert_codes(&body, "FORBIDDEN", "rsvps"));
    let body =
        app.gql(&pat, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": c.of(Who::Member).membership })).await;
    results.push(assert_codes(&body, "FORBIDDEN", "node(another's membership)"));
    let feed = c.of(Who::Requested).feed;
    if !feed.is_empty() {
        let status = app.client().get(app.url(&feed)).send().await.unwrap().status().as_u16();
        results.push(if status == 404 { Ok(()) } else { Err(format!("calendar feed: expected 404, got {status}")) });
    }
    results.push(if app.counts().await == before { Ok(()) } else { Err("the reads wrote rows".into()) });
    app.stop().await;
    all_met(results);
}

async fn an_invited_trainee_reads_no_check_in_notes(app: TestApp) {
    sign_everyone_in(&app).await;
    let c = standing_cohort(&app, CIRCLE, "BY_REQUEST", Stage::Active).await;
    let ivy = own(Who::Invited);
    let body = app
        .gql(
            &ivy,
            "query($id: ID!) { cohort(id: $id) { checkIns(first: 20) { nodes { note blockers } } } }",
            json!({ "id": c.id }),
        )
        .await;
    let node = app
        .gql(
            &ivy,
            "query($id: ID!) { node(id: $id) { ... on CheckIn { note } } }",
            json!({ "id": c.of(Who::Member).check_in }),
        )
        .await;
    // What an INVITED person does see: the face, the code of conduct and the goals.
    let face = app
        .gql(
            &ivy,
            "query($id: ID!) { cohort(id: $id) { name codeOfConduct { text } goals { title } } }",
            json!({ "id": c.id }),
        )
        .await;
    app.stop().await;
    let face_ok = if face.get("errors").is_none() && face["data"]["cohort"]["codeOfConduct"]["text"] == "Be kind." {
        Ok(())
    } else {
        Err(format!("the public face, code of conduct and goals: {face}"))
    };
    all_met(vec![
        assert_codes(&body, "FORBIDDEN", "checkIns"),
        assert_codes(&node, "FORBIDDEN", "node(CheckIn)"),
        face_ok,
    ]);
}

async fn a_facilitator_cannot_take_over_the_cohort(app: TestApp) {
    sign_everyone_in(&app).await;
    let c = standing_cohort(&app, CIRCLE, "BY_REQUEST", Stage::Active).await;
    let fay = own(Who::Facilitator);
    let demote = app
        .gql(
            &fay,
            CHANGE_ROLE,
            json!({ "input": { "membershipId": c.of(Who::Leader).membership, "role": "OBSERVER" } }),
        )
        .await;
    let promote = app
        .gql(
            &fay,
            CHANGE_ROLE,
            json!({ "input": { "membershipId": c.of(Who::Facilitator).membership, "role": "LEADER" } }),
        )
        .await;
    let roles = app
        .ok(
            &own(Who::LeadInstructor),
            "query($id: ID!) { cohort(id: $id) { members(first: 50) { nodes { role person { externalId } } } } }",
            json!({ "id": c.id }),
        )
        .await;
    let role_of = |sub: &str| {
        roles["cohort"]["members"]["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["person"]["externalId"] == sub))
            .map(|n| n["role"].clone())
    };
    // The instructor who leads it still manages it.
    let goal = app
        .gql(
            &own(Who::LeadInstructor),
            ops::ADD_GOAL,
            json!({ "input": { "cohortId": c.id, "title": "Chapters", "unit": "chapters", "target": 12.0, "aggregation": "SUM" } }),
        )
        .await;
    app.stop().await;
    let roles_kept = if role_of("lea") == Some(json!("LEADER")) && role_of("fay") == Some(json!("FACILITATOR")) {
        Ok(())
    } else {
        Err(format!("roles changed by a facilitator: {roles}"))
    };
    let still_leads = if goal.get("errors").is_none() && goal["data"]["addGoal"]["userErrors"] == json!([]) {
        Ok(())
    } else {
        Err(format!("the lead instructor was refused: {goal}"))
    };
    all_met(vec![
        assert_codes(&demote, "FORBIDDEN", "a facilitator demoting the leader"),
        assert_codes(&promote, "FORBIDDEN", "a facilitator promoting themself"),
        roles_kept,
        still_leads,
    ]);
}

async fn the_last_active_leader_cannot_be_demoted(app: TestApp) {
    // Created by the integration account, so lea is the only leader.
    let lms = Who::Integration.token(Tenant::Own);
    let lea = own(Who::Leader);
    let data = app
        .ok(
            &lms,
            ops::CREATE,
            json!({ "input": { "name": CIRCLE, "domain": "Rust programming", "purpose": "Practise", "horizon": "SHORT_TERM",
                "codeOfConduct": "Be kind.", "roster": [{ "externalId": "lea", "displayName": "Lea", "role": "LEADER" },
                { "externalId": "tom", "displayName": "Tom" }] } }),
        )
        .await;
    let id = id_of(&data["createCohort"]["cohort"]);
    let accept = json!({ "input": { "cohortId": id, "version": 1 } });
    let data = app.ok(&lea, ops::ACCEPT, accept.clone()).await;
    let membership = id_of(&data["acceptCodeOfConduct"]["membership"]);
    app.ok(&own(Who::Member), ops::ACCEPT, accept).await;
    app.ok(&lea, ops::ADD_GOAL, json!({ "input": { "cohortId": id, "title": "Exercises", "unit": "exercises", "target": 10.0, "aggregation": "SUM" } })).await;
    let data = app.ok(&lea, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
    let before = app.counts().await;
    let body = app.gql(&lea, CHANGE_ROLE, json!({ "input": { "membershipId": membership, "role": "MEMBER" } })).await;
    let role = app
        .ok(&lea, "query($id: ID!) { node(id: $id) { ... on Membership { role } } }", json!({ "id": membership }))
        .await;
    let after = app.counts().await;
    app.stop().await;
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(user_error_codes(&body["data"]["changeMemberRole"]), ["REQUIREMENTS_NOT_MET"], "{body:#}");
    assert_eq!(role["node"]["role"], "LEADER", "{role:#}");
    assert_eq!(after, before, "a refused demotion wrote nothing");
}

async fn one_outsider_counts_once_in_outside_interest(app: TestApp) {
    sign_everyone_in(&app).await;
    let ada = own(Who::LeadInstructor);
    let nia = own(Who::Outsider);
    let mut interest = Vec::new();
    for visibility in ["BY_REQUEST", "OPEN"] {
        let data = app
            .ok(
                &ada,
                ops::CREATE,
                json!({ "input": { "name": format!("{visibility} circle"), "domain": "Rust programming", "purpose": "Practise",
                    "horizon": "OPEN_ENDED", "visibility": visibility, "codeOfConduct": "Be kind.",
                    "course": { "lmsCourseId": "RUST-101", "title": "Rust Fundamentals" } } }),
            )
            .await;
        let id = id_of(&data["createCohort"]["cohort"]);
        for _ in 0..3 {
            let data = app.gql(&nia, REQUEST_TO_JOIN, json!({ "input": { "cohortId": id } })).await;
            if visibility == "BY_REQUEST" {
                if let Some(request) = data["data"]["requestToJoin"]["joinRequest"]["id"].as_str() {
                    app.gql(&nia, WITHDRAW_JOIN_REQUEST, json!({ "input": { "joinRequestId": request } })).await;
                }
            } else {
                app.gql(&nia, ops::LEAVE, json!({ "input": { "cohortId": id } })).await;
            }
        }
        if visibility == "BY_REQUEST" {
            // One request left pending.
            app.gql(&nia, REQUEST_TO_JOIN, json!({ "input": { "cohortId": id } })).await;
        }
        let data = app.ok(&ada, OUTSIDE_INTEREST, json!({ "id": id })).await;
        interest.push((visibility, data["cohort"]["outsideInterest"].clone()));
    }
    app.stop().await;
    assert_eq!(interest, [("BY_REQUEST", json!(1)), ("OPEN", json!(1))], "one person is one unit of outside interest");
}

on_both_stores!(
    every_read_by_every_standing_meets_its_cell,
    every_mutation_by_every_standing_meets_its_cell,
    a_pending_requester_reads_nothing_of_the_inside,
    an_invited_trainee_reads_no_check_in_notes,
    a_facilitator_cannot_take_over_the_cohort,
    the_last_active_leader_cannot_be_demoted,
    one_outsider_counts_once_in_outside_interest,
);
