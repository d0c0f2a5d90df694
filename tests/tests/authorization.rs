//! Who may do what (DESIGN.md "Who may do what"), as one table: every Query and Mutation field,
//! asked by each kind of viewer of a cohort in its own tenant, and by the same role holding a token
//! for another tenant. Everything runs over HTTP with real tokens against a real server on SQLite.
//!
//! Each row runs on a fresh fixture (a fresh database and server), so that what an allowed mutation
//! writes cannot decide another row; a few rows run at once. A refused operation, and any read,
//! writes nothing: each row compares the rows of every table before and after it.

use std::collections::BTreeSet;
use std::fmt;

use afterclass_domain::access::ViewerRole;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{Backend, TestApp, error_codes, ops, token, user_error_codes};

const TENANT: &str = "uni-a";
const OTHER_TENANT: &str = "uni-b";
/// The fixture's cohort: created and led by ada, with tom as a MEMBER and lea as a LEADER.
const CIRCLE: &str = "Rust practice circle";
/// The fixture's proposal: proposed by lea (so she leads it), awaiting an instructor's approval.
const PROPOSAL: &str = "Type-level study group";

/// How many rows run at once, each with its own server and database.
const PARALLEL_ROWS: usize = 4;

/// The viewers, in the order of the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// ada, the instructor who created the cohort and leads it.
    LeadInstructor,
    /// bob, an instructor of the same tenant who does not lead it.
    OtherInstructor,
    /// tom, a trainee and an active MEMBER.
    Member,
    /// lea, a trainee and an active LEADER.
    LeaderTrainee,
    /// nia, a trainee who is not in the cohort.
    Outsider,
    /// The LMS's service account.
    Integration,
}

const COLUMNS: [Who; 6] =
    [Who::LeadInstructor, Who::OtherInstructor, Who::Member, Who::LeaderTrainee, Who::Outsider, Who::Integration];

impl Who {
    fn sub(self) -> &'static str {
        match self {
            Who::LeadInstructor => "ada",
            Who::OtherInstructor => "bob",
            Who::Member => "tom",
            Who::LeaderTrainee => "lea",
            Who::Outsider => "nia",
            Who::Integration => "lms",
        }
    }

    fn role(self) -> ViewerRole {
        match self {
            Who::LeadInstructor | Who::OtherInstructor => ViewerRole::Instructor,
            Who::Member | Who::LeaderTrainee | Who::Outsider => ViewerRole::Trainee,
            Who::Integration => ViewerRole::Integration,
        }
    }

    fn token(self, tenant: Tenant) -> String {
        token(self.sub(), self.role(), tenant.key())
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Who::LeadInstructor => "the instructor leading the cohort",
            Who::OtherInstructor => "another instructor",
            Who::Member => "a MEMBER trainee",
            Who::LeaderTrainee => "a LEADER trainee",
            Who::Outsider => "a non-member trainee",
            Who::Integration => "the integration",
        };
        write!(f, "{} ({what})", self.sub())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What a row expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// No top-level errors, no userErrors, and the object asked for.
    Allowed,
    /// Allowed, and the list the operation reads names exactly these cohorts.
    Sees(&'static [&'static str]),
    /// Top-level errors, each with `extensions.code` FORBIDDEN.
    Forbidden,
    /// Top-level errors, each with `extensions.code` NOT_FOUND.
    NotFound,
    /// No top-level errors; exactly one userError, with this code.
    UserError(&'static str),
}

use Expect::{Allowed, Forbidden, NotFound, Sees, UserError};

const NOT_A_MEMBER: Expect = UserError("NOT_A_MEMBER");
const REQUIREMENTS_NOT_MET: Expect = UserError("REQUIREMENTS_NOT_MET");
const WRONG_STAGE: Expect = UserError("WRONG_STAGE");
const ALREADY_EXISTS: Expect = UserError("ALREADY_EXISTS");
const NO_COHORT: &[&str] = &[];
const JUST_THE_CIRCLE: &[&str] = &[CIRCLE];
const BOTH: &[&str] = &[CIRCLE, PROPOSAL];
const JUST_THE_PROPOSAL: &[&str] = &[PROPOSAL];

impl Expect {
    fn refused(self) -> bool {
        matches!(self, Forbidden | NotFound | UserError(_))
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed => write!(f, "ALLOWED"),
            Sees(names) => write!(f, "ALLOWED seeing {names:?}"),
            Forbidden => write!(f, "FORBIDDEN"),
            NotFound => write!(f, "NOT_FOUND"),
            UserError(code) => write!(f, "userError {code}"),
        }
    }
}

/// One operation of the table. Several may exercise one schema field (e.g. `node` on each kind
/// of object); every field has at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Viewer,
    Cohorts,
    /// The cohort's public face: name, stage, member count.
    Cohort,
    /// What only members read: the members themselves and their check-ins.
    CohortInside,
    /// The proposal, which only its members and instructors know of.
    Proposal,
    NodeCohort,
    NodeGoal,
    NodeMembership,
    NodeCheckIn,
    NodePerson,
    CreateCohort,
    ProposeCohort,
    ApproveCohort,
    AddMembers,
    AcceptCodeOfConduct,
    SetCodeOfConduct,
    ChangeMemberRole,
    LeaveCohort,
    AddGoal,
    ActivateCohort,
    LogCheckIn,
    DisbandCohort,
    Outcomes,
    SetCriteria,
    ApplyEvaluation,
    GraduateCohort,
    WriteRetrospective,
    SimilarCohorts,
    SearchCohorts,
    Proposals,
    RequestToJoin,
    DecideJoinRequest,
    WithdrawJoinRequest,
    DeclineProposal,
    /// The fixture's upcoming meeting (an occurrence of its weekly plan, not a row).
    NodeMeeting,
    /// The cohort's plan and meetings, with who answered (members only).
    CohortMeetings,
    SetMeetingPlan,
    ScheduleMeeting,
    CancelMeeting,
    Rsvp,
    RecordAttendance,
    RevokeCalendarFeed,
}

/// A row: one operation and what each column expects, in the cohort's tenant and in another.
#[derive(Debug, Clone, Copy)]
struct Row {
    op: Op,
    own: [Expect; 6],
    other: [Expect; 6],
}

const fn row(op: Op, own: [Expect; 6], other: [Expect; 6]) -> Row {
    Row { op, own, other }
}

/// The Query fields, run by the columns ada (leads the cohort), bob (another instructor),
/// tom (MEMBER), lea (LEADER), nia (not in it), integration. Another tenant's objects are
/// NOT_FOUND; lists in another tenant hold none of this tenant's cohorts.
const READS: &[Row] = &[
    // The viewer's own memberships.
    row(
        Op::Viewer,
        [Sees(JUST_THE_CIRCLE), Sees(NO_COHORT), Sees(JUST_THE_CIRCLE), Sees(BOTH), Sees(NO_COHORT), Sees(NO_COHORT)],
        [Sees(NO_COHORT); 6],
    ),
    // Trainees never see a proposal they are not in.
    row(
        Op::Cohorts,
        [Sees(BOTH), Sees(BOTH), Sees(JUST_THE_CIRCLE), Sees(BOTH), Sees(JUST_THE_CIRCLE), Sees(BOTH)],
        [Sees(NO_COHORT); 6],
    ),
    row(Op::Cohort, [Allowed; 6], [NotFound; 6]),
    row(Op::CohortInside, [Allowed, Allowed, Allowed, Allowed, Forbidden, Allowed], [NotFound; 6]),
    row(Op::Proposal, [Allowed, Allowed, NotFound, Allowed, NotFound, Allowed], [NotFound; 6]),
    row(Op::NodeCohort, [Allowed; 6], [NotFound; 6]),
    // Goals are for the people invited to the cohort, not its public face.
    row(Op::NodeGoal, [Allowed, Allowed, Allowed, Allowed, Forbidden, Allowed], [NotFound; 6]),
    // tom's membership.
    row(Op::NodeMembership, [Allowed, Allowed, Allowed, Allowed, Forbidden, Allowed], [NotFound; 6]),
    // tom's check-in.
    row(Op::NodeCheckIn, [Allowed, Allowed, Allowed, Allowed, Forbidden, Allowed], [NotFound; 6]),
    // tom himself: trainees see other people through the cohorts they share (lea leads his).
    row(Op::NodePerson, [Allowed, Allowed, Allowed, Allowed, Forbidden, Allowed], [NotFound; 6]),
    // Nothing has ended in the fixture; another tenant's library never shows this one's.
    row(Op::Outcomes, [Sees(NO_COHORT); 6], [Sees(NO_COHORT); 6]),
    // Only joinable cohorts are suggested: not the proposal.
    row(Op::SimilarCohorts, [Sees(JUST_THE_CIRCLE); 6], [Sees(NO_COHORT); 6]),
    // "rust" matches both; trainees find only what they may see.
    row(
        Op::SearchCohorts,
        [Sees(BOTH), Sees(BOTH), Sees(JUST_THE_CIRCLE), Sees(BOTH), Sees(JUST_THE_CIRCLE), Sees(BOTH)],
        [Sees(NO_COHORT); 6],
    ),
    row(
        Op::Proposals,
        [Sees(JUST_THE_PROPOSAL), Sees(JUST_THE_PROPOSAL), Forbidden, Forbidden, Forbidden, Sees(JUST_THE_PROPOSAL)],
        [Sees(NO_COHORT), Sees(NO_COHORT), Forbidden, Forbidden, Forbidden, Sees(NO_COHORT)],
    ),
    // A meeting belongs to the plan, which a discoverable cohort's public face shows.
    row(Op::NodeMeeting, [Allowed; 6], [NotFound; 6]),
    // Outsiders see the plan and the meetings, not who answered or attended.
    row(Op::CohortMeetings, [Allowed, Allowed, Allowed, Allowed, Forbidden, Allowed], [NotFound; 6]),
];

/// The Mutation fields, in the same columns. Creating and proposing take no object and so
/// create in the caller's own tenant; everything else names this tenant's objects, which
/// another tenant never finds.
const MUTATIONS: &[Row] = &[
    row(
        Op::CreateCohort,
        [Allowed, Allowed, Forbidden, Forbidden, Forbidden, Allowed],
        [Allowed, Allowed, Forbidden, Forbidden, Forbidden, Allowed],
    ),
    row(
        Op::ProposeCohort,
        [Forbidden, Forbidden, Allowed, Allowed, Allowed, Forbidden],
        [Forbidden, Forbidden, Allowed, Allowed, Allowed, Forbidden],
    ),
    // Of lea's proposal: any instructor approves; trainees not in it do not know of it.
    row(Op::ApproveCohort, [Allowed, Allowed, NotFound, Forbidden, NotFound, Forbidden], [NotFound; 6]),
    row(Op::AddMembers, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Allowed], [NotFound; 6]),
    row(Op::AcceptCodeOfConduct, [Allowed, NOT_A_MEMBER, Allowed, Allowed, NOT_A_MEMBER, Forbidden], [NotFound; 6]),
    row(Op::SetCodeOfConduct, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    // tom's membership, to FACILITATOR.
    row(Op::ChangeMemberRole, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    row(Op::LeaveCohort, [Allowed, NOT_A_MEMBER, Allowed, Allowed, NOT_A_MEMBER, Forbidden], [NotFound; 6]),
    row(Op::AddGoal, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    // On a fixture whose cohort is still FORMING, with everything activation needs.
    row(Op::ActivateCohort, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    row(Op::LogCheckIn, [Allowed, NOT_A_MEMBER, Allowed, Allowed, NOT_A_MEMBER, Forbidden], [NotFound; 6]),
    row(Op::DisbandCohort, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    row(Op::SetCriteria, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    // The fixture's goal is not met, so the evaluation says CONTINUE: leaders get a user error.
    row(
        Op::ApplyEvaluation,
        [REQUIREMENTS_NOT_MET, Forbidden, Forbidden, REQUIREMENTS_NOT_MET, Forbidden, Forbidden],
        [NotFound; 6],
    ),
    row(Op::GraduateCohort, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    // The fixture's cohort has not ended, so there is no retrospective to write yet.
    row(Op::WriteRetrospective, [WRONG_STAGE, Forbidden, Forbidden, WRONG_STAGE, Forbidden, Forbidden], [NotFound; 6]),
    // To the BY_REQUEST circle: its members already belong; the integration account is no person.
    row(
        Op::RequestToJoin,
        [ALREADY_EXISTS, Allowed, ALREADY_EXISTS, ALREADY_EXISTS, Allowed, Forbidden],
        [NotFound; 6],
    ),
    // nia's pending request to join the circle: its leaders decide, she may withdraw it.
    row(Op::DecideJoinRequest, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    row(Op::WithdrawJoinRequest, [Forbidden, Forbidden, Forbidden, Forbidden, Allowed, Forbidden], [NotFound; 6]),
    // Of lea's proposal: any instructor declines; trainees not in it do not know of it.
    row(Op::DeclineProposal, [Allowed, Allowed, NotFound, Forbidden, NotFound, Forbidden], [NotFound; 6]),
    // Meetings: leaders plan, schedule, cancel and take attendance (of the meeting in progress);
    // active members answer for the upcoming one; only tom revokes his own calendar feed.
    row(Op::SetMeetingPlan, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    row(Op::ScheduleMeeting, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    row(Op::CancelMeeting, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    row(Op::Rsvp, [Allowed, NOT_A_MEMBER, Allowed, Allowed, NOT_A_MEMBER, Forbidden], [NotFound; 6]),
    row(Op::RecordAttendance, [Allowed, Forbidden, Forbidden, Allowed, Forbidden, Forbidden], [NotFound; 6]),
    row(Op::RevokeCalendarFeed, [Forbidden, Forbidden, Allowed, Forbidden, Forbidden, Forbidden], [NotFound; 6]),
];

const WHO_AM_I: &str = "{ viewer { role } }";
const COHORT_MEETINGS: &str = r#"query($id: ID!, $from: DateTime!, $to: DateTime!) { cohort(id: $id) {
    cadence { frequency } nextMeeting { id } meetings(from: $from, to: $to) { id rsvps { answer } attendance { mark } } } }"#;
const SET_MEETING_PLAN: &str = r#"mutation($input: SetMeetingPlanInput!) {
    setMeetingPlan(input: $input) { cohort { id channel { kind } } userErrors { field message code } } }"#;
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
const SIMILAR: &str =
    r#"query($input: SimilarCohortsInput!) { similarCohorts(input: $input) { cohort { name } score } }"#;
const SEARCH: &str = r#"query($q: String!) { searchCohorts(query: $q, first: 20) { totalCount nodes { name } } }"#;
const PROPOSALS: &str = "{ proposals(first: 20) { totalCount nodes { name } } }";
const REQUEST_TO_JOIN: &str = r#"mutation($input: RequestToJoinInput!) {
    requestToJoin(input: $input) { joinRequest { id status } userErrors { field message code } } }"#;
const DECIDE_JOIN_REQUEST: &str = r#"mutation($input: DecideJoinRequestInput!) {
    decideJoinRequest(input: $input) { joinRequest { id status } userErrors { field message code } } }"#;
const WITHDRAW_JOIN_REQUEST: &str = r#"mutation($input: JoinRequestRefInput!) {
    withdrawJoinRequest(input: $input) { joinRequest { id status } userErrors { field message code } } }"#;
const DECLINE_PROPOSAL: &str = r#"mutation($input: DeclineProposalInput!) {
    declineProposal(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const OUTCOMES: &str = "{ outcomes(first: 20) { totalCount nodes { cohort { name } outcome { reason } } } }";
const SET_CRITERIA: &str = r#"mutation($input: SetCriteriaInput!) {
    setCriteria(input: $input) { cohort { id criteria { kind } } userErrors { field message code } } }"#;
const APPLY_EVALUATION: &str = r#"mutation($input: ApplyEvaluationInput!) {
    applyEvaluation(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const GRADUATE: &str = r#"mutation($input: GraduateCohortInput!) {
    graduateCohort(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const RETROSPECTIVE: &str = r#"mutation($input: WriteRetrospectiveInput!) {
    writeRetrospective(input: $input) { cohort { id } userErrors { field message code } } }"#;
const VIEWER: &str = "{ viewer { role tenantId memberships(first: 20) { nodes { cohort { name } } } } }";
const COHORTS: &str = "{ cohorts(first: 20) { totalCount nodes { id name } } }";
const COHORT: &str = r#"query($id: ID!) { cohort(id: $id) { id name stage members { totalCount } } }"#;
const COHORT_INSIDE: &str = r#"query($id: ID!) { cohort(id: $id) { id
    members(first: 10) { nodes { role status } } checkIns(first: 10) { nodes { value } } } }"#;
const NODE: &str = r#"query($id: ID!) { node(id: $id) { id } }"#;
const PROPOSE: &str = r#"mutation($input: ProposeCohortInput!) {
    proposeCohort(input: $input) { cohort { id stage name } userErrors { field message code } } }"#;
const APPROVE: &str = r#"mutation($input: CohortRefInput!) {
    approveCohort(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const CHANGE_ROLE: &str = r#"mutation($input: ChangeMemberRoleInput!) {
    changeMemberRole(input: $input) { membership { id role } userErrors { field message code } } }"#;
const ACCEPT_AS: &str = r#"mutation($input: AcceptCodeOfConductInput!) {
    acceptCodeOfConduct(input: $input) { membership { id status person { id } } userErrors { field message code } } }"#;

impl Op {
    /// The Query or Mutation field the operation exercises.
    fn field(self) -> &'static str {
        match self {
            Op::Viewer => "viewer",
            Op::Cohorts => "cohorts",
            Op::Cohort | Op::CohortInside | Op::Proposal => "cohort",
            Op::NodeCohort | Op::NodeGoal | Op::NodeMembership | Op::NodeCheckIn | Op::NodePerson => "node",
            Op::CreateCohort => "createCohort",
            Op::ProposeCohort => "proposeCohort",
            Op::ApproveCohort => "approveCohort",
            Op::AddMembers => "addMembers",
            Op::AcceptCodeOfConduct => "acceptCodeOfConduct",
            Op::SetCodeOfConduct => "setCodeOfConduct",
            Op::ChangeMemberRole => "changeMemberRole",
            Op::LeaveCohort => "leaveCohort",
            Op::AddGoal => "addGoal",
            Op::ActivateCohort => "activateCohort",
            Op::LogCheckIn => "logCheckIn",
            Op::DisbandCohort => "disbandCohort",
            Op::Outcomes => "outcomes",
            Op::SetCriteria => "setCriteria",
            Op::ApplyEvaluation => "applyEvaluation",
            Op::GraduateCohort => "graduateCohort",
            Op::WriteRetrospective => "writeRetrospective",
            Op::SimilarCohorts => "similarCohorts",
            Op::SearchCohorts => "searchCohorts",
            Op::Proposals => "proposals",
            Op::RequestToJoin => "requestToJoin",
            Op::DecideJoinRequest => "decideJoinRequest",
            Op::WithdrawJoinRequest => "withdrawJoinRequest",
            Op::DeclineProposal => "declineProposal",
            Op::NodeMeeting => "node",
            Op::CohortMeetings => "cohort",
            Op::SetMeetingPlan => "setMeetingPlan",
            Op::ScheduleMeeting => "scheduleMeeting",
            Op::CancelMeeting => "cancelMeeting",
            Op::Rsvp => "rsvp",
            Op::RecordAttendance => "recordAttendance",
            Op::RevokeCalendarFeed => "revokeCalendarFeed",
        }
    }

    fn is_read(self) -> bool {
        READS.iter().any(|r| r.op == self)
    }

    /// The payload's object an allowed mutation answers with.
    fn payload_object(self) -> Option<&'static str> {
        match self {
            Op::CreateCohort
            | Op::ProposeCohort
            | Op::ApproveCohort
            | Op::SetCodeOfConduct
            | Op::ActivateCohort
            | Op::DisbandCohort
            | Op::SetCriteria
            | Op::ApplyEvaluation
            | Op::GraduateCohort
            | Op::WriteRetrospective
            | Op::DeclineProposal => Some("cohort"),
            Op::RequestToJoin | Op::DecideJoinRequest | Op::WithdrawJoinRequest => Some("joinRequest"),
            Op::SetMeetingPlan => Some("cohort"),
            Op::ScheduleMeeting | Op::CancelMeeting | Op::RecordAttendance => Some("meeting"),
            Op::Rsvp => Some("rsvp"),
            Op::RevokeCalendarFeed => Some("membership"),
            Op::AddMembers => Some("memberships"),
            Op::AcceptCodeOfConduct | Op::ChangeMemberRole | Op::LeaveCohort => Some("membership"),
            Op::AddGoal => Some("goal"),
            Op::LogCheckIn => Some("checkIn"),
            _ => None,
        }
    }

    /// Whether the row needs the fixture's cohort still FORMING.
    /// Whether the row needs the fixture's weekly meeting plan.
    fn needs_meetings(self) -> bool {
        matches!(
            self,
            Op::NodeMeeting
                | Op::CohortMeetings
                | Op::CancelMeeting
                | Op::Rsvp
                | Op::RecordAttendance
                | Op::ScheduleMeeting
        )
    }

    fn needs_forming_cohort(self) -> bool {
        self == Op::ActivateCohort
    }

    fn request(self, fx: &Fixture) -> (&'static str, Value) {
        let cohort = json!({ "input": { "cohortId": fx.cohort } });
        let id = |id: &str| json!({ "id": id });
        match self {
            Op::Viewer => (VIEWER, json!({})),
            Op::Cohorts => (COHORTS, json!({})),
            Op::Cohort => (COHORT, id(&fx.cohort)),
            Op::CohortInside => (COHORT_INSIDE, id(&fx.cohort)),
            Op::Proposal => (COHORT, id(&fx.proposal)),
            Op::NodeCohort => (NODE, id(&fx.cohort)),
            Op::NodeGoal => (NODE, id(&fx.goal)),
            Op::NodeMembership => (NODE, id(&fx.membership)),
            Op::NodeCheckIn => (NODE, id(fx.check_in.as_deref().unwrap_or_default())),
            Op::NodePerson => (NODE, id(&fx.person)),
            Op::CreateCohort => (
                ops::CREATE,
                json!({ "input": { "name": "Another circle", "domain": "Rust", "purpose": "Practise",
                    "horizon": "SHORT_TERM" } }),
            ),
            Op::ProposeCohort => (
                PROPOSE,
                json!({ "input": { "name": "Another proposal", "domain": "Rust", "purpose": "Practise",
                    "horizon": "OPEN_ENDED" } }),
            ),
            Op::ApproveCohort => (APPROVE, json!({ "input": { "cohortId": fx.proposal } })),
            Op::AddMembers => (
                ops::ADD_MEMBERS,
                json!({ "input": { "cohortId": fx.cohort,
                    "members": [{ "externalId": "zoe", "displayName": "Zoe" }] } }),
            ),
            Op::AcceptCodeOfConduct => (ops::ACCEPT, json!({ "input": { "cohortId": fx.cohort, "version": 1 } })),
            Op::SetCodeOfConduct => {
                (ops::SET_CONDUCT, json!({ "input": { "cohortId": fx.cohort, "text": "Be kind; be on time." } }))
            }
            Op::ChangeMemberRole => {
                (CHANGE_ROLE, json!({ "input": { "membershipId": fx.membership, "role": "FACILITATOR" } }))
            }
            Op::LeaveCohort => (ops::LEAVE, cohort),
            Op::AddGoal => (
                ops::ADD_GOAL,
                json!({ "input": { "cohortId": fx.cohort, "title": "Chapters", "unit": "chapters", "target": 12.0,
                    "aggregation": "SUM" } }),
            ),
            Op::ActivateCohort => (ops::ACTIVATE, cohort),
            Op::LogCheckIn => {
                (ops::CHECK_IN, json!({ "input": { "cohortId": fx.cohort, "goalId": fx.goal, "value": 1.0 } }))
            }
            Op::DisbandCohort => {
                (ops::DISBAND, json!({ "input": { "cohortId": fx.cohort, "reason": "LEADERS_DECISION" } }))
            }
            Op::Outcomes => (OUTCOMES, json!({})),
            Op::SetCriteria => (
                SET_CRITERIA,
                json!({ "input": { "cohortId": fx.cohort,
                    "criteria": [{ "kind": "INACTIVE_FOR_DAYS", "effect": "DISBAND", "threshold": 30 }] } }),
            ),
            Op::ApplyEvaluation => (APPLY_EVALUATION, cohort),
            Op::GraduateCohort => {
                (GRADUATE, json!({ "input": { "cohortId": fx.cohort, "formalStructure": "The Rust Guild" } }))
            }
            Op::WriteRetrospective => {
                (RETROSPECTIVE, json!({ "input": { "cohortId": fx.cohort, "retrospective": "How it went." } }))
            }
            Op::SimilarCohorts => {
                (SIMILAR, json!({ "input": { "domain": "Rust programming", "purpose": "practice" } }))
            }
            Op::SearchCohorts => (SEARCH, json!({ "q": "rust" })),
            Op::Proposals => (PROPOSALS, json!({})),
            Op::RequestToJoin => (REQUEST_TO_JOIN, cohort),
            Op::DecideJoinRequest => {
                (DECIDE_JOIN_REQUEST, json!({ "input": { "joinRequestId": fx.join_request, "approve": true } }))
            }
            Op::WithdrawJoinRequest => {
                (WITHDRAW_JOIN_REQUEST, json!({ "input": { "joinRequestId": fx.join_request } }))
            }
            Op::DeclineProposal => (
                DECLINE_PROPOSAL,
                json!({ "input": { "cohortId": fx.proposal, "reason": "Join the circle instead." } }),
            ),
            Op::NodeMeeting => (NODE, id(&fx.meetings.upcoming)),
            Op::CohortMeetings => {
                let now = chrono::Utc::now();
                let window = json!({ "id": fx.cohort, "from": now.to_rfc3339(),
                    "to": (now + chrono::Duration::days(8)).to_rfc3339() });
                (COHORT_MEETINGS, window)
            }
            Op::SetMeetingPlan => (
                SET_MEETING_PLAN,
                json!({ "input": { "cohortId": fx.cohort, "channel": { "kind": "FORUM", "address": "https://forum.example/rust" } } }),
            ),
            Op::ScheduleMeeting => {
                let at = (chrono::Utc::now() + chrono::Duration::days(2)).timestamp() / 60 * 60;
                let at = chrono::DateTime::from_timestamp(at, 0).unwrap_or_default().to_rfc3339();
                (SCHEDULE_MEETING, json!({ "input": { "cohortId": fx.cohort, "startsAt": at, "durationMinutes": 60 } }))
            }
            Op::CancelMeeting => (CANCEL_MEETING, json!({ "input": { "meetingId": fx.meetings.upcoming } })),
            Op::Rsvp => (RSVP, json!({ "input": { "meetingId": fx.meetings.upcoming, "answer": "GOING" } })),
            Op::RecordAttendance => (
                RECORD_ATTENDANCE,
                json!({ "input": { "meetingId": fx.meetings.current,
                    "entries": [{ "membershipId": fx.membership, "mark": "PRESENT" }] } }),
            ),
            Op::RevokeCalendarFeed => (REVOKE_CALENDAR_FEED, json!({ "input": { "membershipId": fx.membership } })),
        }
    }

    /// The names of the cohorts a listing operation answered with.
    fn listed(self, data: &Value) -> Option<Vec<String>> {
        let names = |nodes: &Value, path: &[&str]| -> Vec<String> {
            let name = |n: &Value| path.iter().fold(n, |v, key| &v[key]).as_str().unwrap_or("?").to_owned();
            nodes.as_array().map(|ns| ns.iter().map(name).collect()).unwrap_or_default()
        };
        match self {
            Op::Viewer => Some(names(&data["viewer"]["memberships"]["nodes"], &["cohort", "name"])),
            Op::Cohorts => Some(names(&data["cohorts"]["nodes"], &["name"])),
            Op::Outcomes => Some(names(&data["outcomes"]["nodes"], &["cohort", "name"])),
            Op::SimilarCohorts => Some(names(&data["similarCohorts"], &["cohort", "name"])),
            Op::SearchCohorts => Some(names(&data["searchCohorts"]["nodes"], &["name"])),
            Op::Proposals => Some(names(&data["proposals"]["nodes"], &["name"])),
            _ => None,
        }
    }

    /// Whether an answer without errors carries what the operation asked for.
    fn answered(self, data: &Value) -> bool {
        let value = &data[self.field()];
        match self.payload_object() {
            None => !value.is_null(),
            Some(object) => match &value[object] {
                Value::Null => false,
                Value::Array(items) => !items.is_empty(),
                _ => true,
            },
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Op::Cohort => "cohort (public face)",
            Op::CohortInside => "cohort (members and check-ins)",
            Op::Proposal => "cohort (a proposal)",
            Op::NodeCohort => "node (Cohort)",
            Op::NodeGoal => "node (Goal)",
            Op::NodeMembership => "node (Membership)",
            Op::NodeCheckIn => "node (CheckIn)",
            Op::NodePerson => "node (Person)",
            Op::NodeMeeting => "node (Meeting)",
            Op::CohortMeetings => "cohort (meetings)",
            other => other.field(),
        };
        f.write_str(what)
    }
}

/// One cell of the table.
#[derive(Debug, Clone, Copy)]
struct Case {
    op: Op,
    who: Who,
    tenant: Tenant,
    expect: Expect,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenant = match self.tenant {
            Tenant::Own => "in the cohort's tenant",
            Tenant::Other => "in another tenant",
        };
        write!(f, "{} by {} {tenant}", self.op, self.who)
    }
}

fn cases(rows: &[Row]) -> Vec<Case> {
    let mut out = Vec::new();
    for row in rows {
        for (tenant, expects) in [(Tenant::Own, row.own), (Tenant::Other, row.other)] {
            for (who, expect) in COLUMNS.into_iter().zip(expects) {
                out.push(Case { op: row.op, who, tenant, expect });
            }
        }
    }
    out
}

/// What the fixture holds, by global ID.
struct Fixture {
    /// ACTIVE (or FORMING, when asked), BY_REQUEST, code of conduct version 1, one goal; ada and
    /// lea are active LEADERs, tom an active MEMBER.
    cohort: String,
    /// PROPOSED by lea.
    proposal: String,
    goal: String,
    /// tom's membership in the cohort.
    membership: String,
    /// tom.
    person: String,
    /// tom's check-in, when the cohort is active.
    check_in: Option<String>,
    /// nia's pending request to join the cohort, when the row needs one.
    join_request: Option<String>,
    /// The meetings of the cohort's weekly plan, when the row needs them.
    meetings: Meetings,
}

/// The meeting in progress and the one a week later, by global ID; empty until planned.
#[derive(Default)]
struct Meetings {
    current: String,
    upcoming: String,
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("an id in {value:#}")).to_owned()
}

/// Builds the fixture in tenant "uni-a"; with `forming`, the cohort is left ready to activate.
async fn fixture(app: &TestApp, forming: bool) -> Fixture {
    let ada = Who::LeadInstructor.token(Tenant::Own);
    let tom = Who::Member.token(Tenant::Own);
    let lea = Who::LeaderTrainee.token(Tenant::Own);
    let data = app
        .ok(
            &ada,
            ops::CREATE,
            json!({ "input": {
                "name": CIRCLE, "domain": "Rust programming", "purpose": "Finish the exercise book together",
                "horizon": "SHORT_TERM", "codeOfConduct": "Be kind.",
                "roster": [
                    { "externalId": "tom", "displayName": "Tom" },
                    { "externalId": "lea", "displayName": "Lea", "role": "LEADER" },
                ] } }),
        )
        .await;
    assert_eq!(data["createCohort"]["userErrors"], json!([]), "{data:#}");
    let cohort = id_of(&data["createCohort"]["cohort"]);
    let data = app
        .ok(
            &ada,
            ops::ADD_GOAL,
            json!({ "input": { "cohortId": cohort, "title": "Exercises", "unit": "exercises",
                "target": 100.0, "aggregation": "SUM" } }),
        )
        .await;
    let goal = id_of(&data["addGoal"]["goal"]);
    let accept = json!({ "input": { "cohortId": cohort, "version": 1 } });
    let data = app.ok(&tom, ACCEPT_AS, accept.clone()).await;
    let membership = &data["acceptCodeOfConduct"]["membership"];
    assert_eq!(membership["status"], "ACTIVE", "{data:#}");
    let (membership, person) = (id_of(membership), id_of(&membership["person"]));
    let data = app.ok(&lea, ops::ACCEPT, accept).await;
    assert_eq!(data["acceptCodeOfConduct"]["membership"]["status"], "ACTIVE", "{data:#}");
    let check_in = if forming {
        None
    } else {
        let data = app.ok(&ada, ops::ACTIVATE, json!({ "input": { "cohortId": cohort } })).await;
        assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
        let data =
            app.ok(&tom, ops::CHECK_IN, json!({ "input": { "cohortId": cohort, "goalId": goal, "value": 5.0 } })).await;
        Some(id_of(&data["logCheckIn"]["checkIn"]))
    };
    let data = app
        .ok(
            &lea,
            PROPOSE,
            json!({ "input": { "name": PROPOSAL, "domain": "Type-level Rust",
                "purpose": "Read about traits together", "horizon": "OPEN_ENDED" } }),
        )
        .await;
    assert_eq!(data["proposeCohort"]["cohort"]["stage"], "PROPOSED", "{data:#}");
    let proposal = id_of(&data["proposeCohort"]["cohort"]);
    // bob, the other instructor of the tenant, has signed in once.
    app.ok(&Who::OtherInstructor.token(Tenant::Own), WHO_AM_I, json!({})).await;
    Fixture { cohort, proposal, goal, membership, person, check_in, join_request: None, meetings: Meetings::default() }
}

/// ada gives the fixture's cohort a weekly plan on today's weekday whose meeting today began half
/// an hour ago (in a zone where it is day now, so that was today there) and lasts two hours.
async fn plan_meetings(app: &TestApp, fx: &Fixture) -> Meetings {
    use chrono::{Datelike, Timelike};
    let ada = Who::LeadInstructor.token(Tenant::Own);
    let now = chrono::Utc::now();
    let zone = ["Europe/Berlin", "America/New_York"]
        .into_iter()
        .map(|z| z.parse::<afterclass_domain::meeting::Tz>().unwrap())
        .find(|z| (4..22).contains(&now.with_timezone(z).hour()))
        .unwrap();
    let local = (now - chrono::Duration::minutes(30)).with_timezone(&zone);
    let cadence = json!({ "frequency": "WEEKLY", "weekday": local.weekday().number_from_monday(),
        "localTime": local.format("%H:%M").to_string(), "timeZone": zone.name(), "durationMinutes": 120 });
    let data = app.ok(&ada, SET_MEETING_PLAN, json!({ "input": { "cohortId": fx.cohort, "cadence": cadence } })).await;
    assert_eq!(data["setMeetingPlan"]["userErrors"], json!([]), "{data:#}");
    let window =
        json!({ "id": fx.cohort, "from": now.to_rfc3339(), "to": (now + chrono::Duration::days(8)).to_rfc3339() });
    let data = app.ok(&ada, COHORT_MEETINGS, window).await;
    let ids: Vec<String> =
        data["cohort"]["meetings"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2, "the meeting in progress and next week's: {data:#}");
    Meetings { current: ids[0].clone(), upcoming: ids[1].clone() }
}

/// nia asks to join the fixture's BY_REQUEST cohort; gives the pending request's id.
async fn nia_asks_to_join(app: &TestApp, fx: &Fixture) -> String {
    let nia = Who::Outsider.token(Tenant::Own);
    let data = app.ok(&nia, REQUEST_TO_JOIN, json!({ "input": { "cohortId": fx.cohort } })).await;
    assert_eq!(data["requestToJoin"]["joinRequest"]["status"], "PENDING", "{data:#}");
    id_of(&data["requestToJoin"]["joinRequest"])
}

/// Runs one cell on `app` and checks the answer, and that a refused operation or any read wrote
/// nothing. Gives a description of every way the cell was missed.
async fn run(app: &TestApp, fx: &Fixture, case: Case) -> Result<(), String> {
    let Case { op, who, tenant, expect } = case;
    let token = who.token(tenant);
    // A token's first request registers its tenant and person: done beforehand, so that the
    // counts below see only what the operation itself writes.
    app.ok(&token, WHO_AM_I, json!({})).await;
    let before = app.counts().await;
    let (query, variables) = op.request(fx);
    let body = app.gql(&token, query, variables).await;
    let after = app.counts().await;

    let mut missed = Vec::new();
    if let Err(got) = meets(op, expect, &body) {
        missed.push(format!("expected {expect}, got {got}; the answer: {body}"));
    }
    if (expect.refused() || op.is_read()) && before != after {
        let why = if op.is_read() { "only reads" } else { "was refused" };
        missed.push(format!("it {why}, yet wrote: {before:?} became {after:?}"));
    }
    if op == Op::Viewer && !expect.refused() {
        let viewer = &body["data"]["viewer"];
        let role = who.role().as_claim().to_uppercase();
        if viewer["tenantId"] != tenant.key() || viewer["role"] != role.as_str() {
            missed.push(format!("the viewer should be a {role} of {}: {viewer}", tenant.key()));
        }
    }
    if matches!(op, Op::CreateCohort | Op::ProposeCohort) && !expect.refused() {
        // The new cohort is in the caller's tenant: this tenant's lead instructor finds it only
        // when the caller is of this tenant.
        if let Some(id) = body["data"][op.field()]["cohort"]["id"].as_str() {
            let ada = Who::LeadInstructor.token(Tenant::Own);
            let seen = app.gql(&ada, COHORT, json!({ "id": id })).await;
            let found = seen["data"]["cohort"]["id"] == id;
            if found != (tenant == Tenant::Own) {
                missed.push(format!("the new cohort should be in {}, yet uni-a's instructor got {seen}", tenant.key()));
            }
        }
    }
    if missed.is_empty() { Ok(()) } else { Err(format!("{case}: {}", missed.join("; "))) }
}

/// Whether an answer is what a cell expects; otherwise what it was instead.
fn meets(op: Op, expect: Expect, body: &Value) -> Result<(), String> {
    let codes = error_codes(body);
    let errors = body.get("errors").is_some();
    let data = &body["data"];
    let user_errors = if op.payload_object().is_some() { user_error_codes(&data[op.field()]) } else { Vec::new() };
    let got = if errors {
        format!("top-level errors {codes:?}")
    } else if !user_errors.is_empty() {
        format!("userErrors {user_errors:?}")
    } else if !op.answered(data) {
        "no errors and no object".to_owned()
    } else if let Some(listed) = op.listed(data) {
        format!("ALLOWED seeing {listed:?}")
    } else {
        "ALLOWED".to_owned()
    };
    let all = |code: &str| errors && !codes.is_empty() && codes.iter().all(|c| c == code);
    let met = match expect {
        Allowed => got == "ALLOWED",
        Sees(names) => {
            let wanted: BTreeSet<&str> = names.iter().copied().collect();
            let listed = op.listed(data).unwrap_or_default();
            got.starts_with("ALLOWED")
                && listed.len() == wanted.len()
                && listed.iter().all(|n| wanted.contains(n.as_str()))
        }
        Forbidden => all("FORBIDDEN"),
        NotFound => all("NOT_FOUND"),
        UserError(code) => !errors && user_errors == [code],
    };
    if met { Ok(()) } else { Err(got) }
}

/// Fails with every missed cell, naming each.
fn report(total: usize, mut missed: Vec<String>) {
    missed.sort();
    assert!(missed.is_empty(), "{} of {total} rows of the table were not met:\n{}", missed.len(), missed.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_and_role_meets_its_row_in_the_table() {
    let cases: Vec<Case> = cases(READS).into_iter().chain(cases(MUTATIONS)).collect();
    let mut pending = cases.iter().copied();
    let mut running = tokio::task::JoinSet::new();
    let mut missed = Vec::new();
    loop {
        while running.len() < PARALLEL_ROWS
            && let Some(case) = pending.next()
        {
            running.spawn(run_on_a_fresh_fixture(case));
        }
        let Some(done) = running.join_next().await else { break };
        if let Err(miss) = done.expect("a row's task") {
            missed.push(miss);
        }
    }
    report(cases.len(), missed);
}

/// Runs a cell on a fresh database and server of its own; a panic becomes a missed cell.
async fn run_on_a_fresh_fixture(case: Case) -> Result<(), String> {
    let task = tokio::spawn(async move {
        let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
        let mut fx = fixture(&app, case.op.needs_forming_cohort()).await;
        if matches!(case.op, Op::DecideJoinRequest | Op::WithdrawJoinRequest) {
            fx.join_request = Some(nia_asks_to_join(&app, &fx).await);
        }
        if case.op.needs_meetings() {
            fx.meetings = plan_meetings(&app, &fx).await;
        }
        let result = run(&app, &fx, case).await;
        app.stop().await;
        result
    });
    match task.await {
        Ok(result) => result,
        Err(err) => {
            let why = match err.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
                Err(err) => err.to_string(),
            };
            Err(format!("{case}: the row panicked: {why}"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_and_mutation_field_has_a_row_in_the_table() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
    let data = app
        .ok(
            &Who::LeadInstructor.token(Tenant::Own),
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    app.stop().await;
    let fields = |of: &str| -> BTreeSet<String> {
        let fields = data["__schema"][of]["fields"].as_array().expect("the root type's fields");
        fields.iter().map(|f| f["name"].as_str().expect("a field name").to_owned()).collect()
    };
    let covered = |rows: &[Row]| -> BTreeSet<String> { rows.iter().map(|r| r.op.field().to_owned()).collect() };
    for (root, schema, table) in
        [("Query", fields("queryType"), covered(READS)), ("Mutation", fields("mutationType"), covered(MUTATIONS))]
    {
        assert!(!schema.is_empty(), "introspection found no {root} fields");
        let missing: Vec<&String> = schema.difference(&table).collect();
        assert!(missing.is_empty(), "{root} fields without a row in the authorization table: {missing:?}");
        let stale: Vec<&String> = table.difference(&schema).collect();
        assert!(stale.is_empty(), "rows for {root} fields the schema does not have: {stale:?}");
    }
}

/// A cohort of tenant "uni-a" created by ada with `visibility`: tom is an active member who
/// has checked in; a goal, a code of conduct, active.
struct Discoverable {
    id: String,
    goal: String,
    membership: String,
    check_in: String,
}

async fn cohort_with_tom(app: &TestApp, name: &str, visibility: &str) -> Discoverable {
    let ada = Who::LeadInstructor.token(Tenant::Own);
    let tom = Who::Member.token(Tenant::Own);
    let data = app
        .ok(
            &ada,
            ops::CREATE,
            json!({ "input": { "name": name, "domain": "Rust programming", "purpose": "Practise together",
                "horizon": "SHORT_TERM", "visibility": visibility, "codeOfConduct": "Be kind.",
                "roster": [{ "externalId": "tom", "displayName": "Tom" }] } }),
        )
        .await;
    let id = id_of(&data["createCohort"]["cohort"]);
    let data = app
        .ok(
            &ada,
            ops::ADD_GOAL,
            json!({ "input": { "cohortId": id, "title": "Exercises", "unit": "exercises",
                "target": 100.0, "aggregation": "SUM" } }),
        )
        .await;
    let goal = id_of(&data["addGoal"]["goal"]);
    let data = app.ok(&ada, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
    let data = app.ok(&tom, ops::ACCEPT, json!({ "input": { "cohortId": id, "version": 1 } })).await;
    let membership = id_of(&data["acceptCodeOfConduct"]["membership"]);
    let data = app.ok(&tom, ops::CHECK_IN, json!({ "input": { "cohortId": id, "goalId": goal, "value": 3.0 } })).await;
    let check_in = id_of(&data["logCheckIn"]["checkIn"]);
    Discoverable { id, goal, membership, check_in }
}

/// The names of the cohorts `token` finds in the list.
async fn listed(app: &TestApp, token: &str) -> Vec<String> {
    let data = app.ok(token, COHORTS, json!({})).await;
    Op::Cohorts.listed(&data).unwrap_or_default()
}

fn assert_codes(body: &Value, code: &str, what: &str) {
    let codes = error_codes(body);
    assert!(!codes.is_empty() && codes.iter().all(|c| c == code), "{what}: expected {code}, got {body:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainee_never_sees_an_invite_only_cohort_they_are_not_in() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
    let private = cohort_with_tom(&app, "Private circle", "INVITE_ONLY").await;
    cohort_with_tom(&app, "Open circle", "OPEN").await;
    let (tom, nia) = (Who::Member.token(Tenant::Own), Who::Outsider.token(Tenant::Own));
    app.ok(&nia, WHO_AM_I, json!({})).await;
    let before = app.counts().await;

    // Neither by its ID, nor as a node, nor through anything in it, nor in the list.
    let reads = [
        ("cohort(id)", COHORT, &private.id),
        ("node(cohort)", NODE, &private.id),
        ("node(goal)", NODE, &private.goal),
        ("node(membership)", NODE, &private.membership),
        ("node(checkIn)", NODE, &private.check_in),
    ];
    for (what, query, id) in reads {
        let body = app.gql(&nia, query, json!({ "id": id })).await;
        assert_codes(&body, "NOT_FOUND", what);
    }
    assert_eq!(listed(&app, &nia).await, ["Open circle"]);
    // Writing to it finds nothing either.
    let cohort = json!({ "input": { "cohortId": private.id } });
    let writes = [
        ("acceptCodeOfConduct", ops::ACCEPT, json!({ "input": { "cohortId": private.id, "version": 1 } })),
        ("leaveCohort", ops::LEAVE, cohort.clone()),
        ("logCheckIn", ops::CHECK_IN, json!({ "input": { "cohortId": private.id, "value": 1.0 } })),
        (
            "addGoal",
            ops::ADD_GOAL,
            json!({ "input": { "cohortId": private.id, "title": "Mine", "unit": "u",
            "target": 1.0, "aggregation": "SUM" } }),
        ),
        ("changeMemberRole", CHANGE_ROLE, json!({ "input": { "membershipId": private.membership, "role": "LEADER" } })),
        ("activateCohort", ops::ACTIVATE, cohort),
    ];
    for (what, query, variables) in writes {
        let body = app.gql(&nia, query, variables).await;
        assert_codes(&body, "NOT_FOUND", what);
    }
    assert_eq!(app.counts().await, before, "refused operations wrote nothing");

    // Its member sees it, and instructors and the integration of the tenant read it.
    for who in [Who::Member, Who::OtherInstructor, Who::Integration] {
        let data = app.ok(&who.token(Tenant::Own), COHORT, json!({ "id": private.id })).await;
        assert_eq!(data["cohort"]["name"], "Private circle", "{who}");
    }
    assert_eq!(listed(&app, &tom).await, ["Private circle", "Open circle"]);

    // Once tom has left, it is hidden from him too.
    let data = app.ok(&tom, ops::LEAVE, json!({ "input": { "cohortId": private.id } })).await;
    assert_eq!(data["leaveCohort"]["membership"]["status"], "LEFT", "{data:#}");
    assert_codes(&app.gql(&tom, COHORT, json!({ "id": private.id })).await, "NOT_FOUND", "cohort(id) after leaving");
    assert_codes(&app.gql(&tom, NODE, json!({ "id": private.id })).await, "NOT_FOUND", "node after leaving");
    assert_eq!(listed(&app, &tom).await, ["Open circle"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_trainee_sees_only_the_public_face_of_a_discoverable_cohort() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
    let (tom, nia) = (Who::Member.token(Tenant::Own), Who::Outsider.token(Tenant::Own));
    for (name, visibility) in [("Open circle", "OPEN"), ("Request circle", "BY_REQUEST")] {
        let cohort = cohort_with_tom(&app, name, visibility).await;
        let id = json!({ "id": cohort.id });

        // The public face: name, domain, purpose, tags, stage and how many members.
        let data = app
            .ok(
                &nia,
                r#"query($id: ID!) { cohort(id: $id) { name domain purpose tags stage visibility
                members { totalCount } } }"#,
                id.clone(),
            )
            .await;
        let face = &data["cohort"];
        assert_eq!((face["name"].as_str(), face["visibility"].as_str()), (Some(name), Some(visibility)), "{data:#}");
        assert_eq!(face["members"]["totalCount"], 2, "ada and tom: {data:#}");
        let data = app
            .ok(
                &nia,
                r#"query($id: ID!) { node(id: $id) { ... on Cohort { name members { totalCount } } } }"#,
                id.clone(),
            )
            .await;
        assert_eq!(data["node"]["members"]["totalCount"], 2, "{data:#}");

        // Not who the members are, nor their check-ins.
        for inside in [
            "members { nodes { id } }",
            "members { edges { node { id } } }",
            "members { pageInfo { hasNextPage } }",
            "checkIns { nodes { value } }",
            "checkIns { totalCount }",
            "goals { title }",
            "codeOfConduct { text }",
            "health { status }",
            "criteria { kind }",
        ] {
            let body =
                app.gql(&nia, &format!("query($id: ID!) {{ cohort(id: $id) {{ name {inside} }} }}"), id.clone()).await;
            assert_codes(&body, "FORBIDDEN", &format!("{visibility}: {inside}"));
        }
        assert_codes(&app.gql(&nia, NODE, json!({ "id": cohort.check_in })).await, "FORBIDDEN", "node(checkIn)");
        assert_codes(&app.gql(&nia, NODE, json!({ "id": cohort.membership })).await, "FORBIDDEN", "node(membership)");

        // The list shows the same face, and the same refusal.
        let data = app.ok(&nia, "{ cohorts { nodes { name members { totalCount } } } }", json!({})).await;
        let entry = data["cohorts"]["nodes"].as_array().and_then(|ns| ns.iter().find(|n| n["name"] == name));
        assert_eq!(entry.map(|e| e["members"]["totalCount"].clone()), Some(json!(2)), "{data:#}");
        let body = app.gql(&nia, "{ cohorts { nodes { name members { nodes { id } } } } }", json!({})).await;
        assert_codes(&body, "FORBIDDEN", "members of listed cohorts");

        // A member sees all of it.
        let data = app
            .ok(&tom, r#"query($id: ID!) { cohort(id: $id) { members { nodes { id } } checkIns { totalCount } } }"#, id)
            .await;
        assert_eq!(data["cohort"]["members"]["nodes"].as_array().map(Vec::len), Some(2), "{data:#}");
        assert_eq!(data["cohort"]["checkIns"]["totalCount"], 1, "{data:#}");
    }
    app.stop().await;
}
