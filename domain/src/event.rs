//! The kinds of event a cohort's log records, and which part of a cohort each one reveals, so
//! that what a viewer sees of the log follows the same policy as everything else
//! ([`access::read_event`](crate::access::read_event)).

use crate::access::Facet;
use crate::stage::Stage;

/// Something that happened to a cohort, as the event log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    CohortCreated,
    CohortProposed,
    CohortActivated,
    MemberJoined,
    MemberLeft,
    MemberRoleChanged,
    ConductChanged,
    GoalAdded,
    GoalAchieved,
    CheckInLogged,
    MeetingScheduled,
    MeetingCancelled,
    AttendanceRecorded,
    JoinRequested,
    HealthChanged,
    RecommendationChanged,
    CohortDisbanded,
    CohortGraduated,
    NudgeDue,
}

impl EventKind {
    pub const ALL: [EventKind; 19] = [
        EventKind::CohortCreated,
        EventKind::CohortProposed,
        EventKind::CohortActivated,
        EventKind::MemberJoined,
        EventKind::MemberLeft,
        EventKind::MemberRoleChanged,
        EventKind::ConductChanged,
        EventKind::GoalAdded,
        EventKind::GoalAchieved,
        EventKind::CheckInLogged,
        EventKind::MeetingScheduled,
        EventKind::MeetingCancelled,
        EventKind::AttendanceRecorded,
        EventKind::JoinRequested,
        EventKind::HealthChanged,
        EventKind::RecommendationChanged,
        EventKind::CohortDisbanded,
        EventKind::CohortGraduated,
        EventKind::NudgeDue,
    ];

    /// The stored name, also the payload's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CohortCreated => "COHORT_CREATED",
            EventKind::CohortProposed => "COHORT_PROPOSED",
            EventKind::CohortActivated => "COHORT_ACTIVATED",
            EventKind::MemberJoined => "MEMBER_JOINED",
            EventKind::MemberLeft => "MEMBER_LEFT",
            EventKind::MemberRoleChanged => "MEMBER_ROLE_CHANGED",
            EventKind::ConductChanged => "CONDUCT_CHANGED",
            EventKind::GoalAdded => "GOAL_ADDED",
            EventKind::GoalAchieved => "GOAL_ACHIEVED",
            EventKind::CheckInLogged => "CHECK_IN_LOGGED",
            EventKind::MeetingScheduled => "MEETING_SCHEDULED",
            EventKind::MeetingCancelled => "MEETING_CANCELLED",
            EventKind::AttendanceRecorded => "ATTENDANCE_RECORDED",
            EventKind::JoinRequested => "JOIN_REQUESTED",
            EventKind::HealthChanged => "HEALTH_CHANGED",
            EventKind::RecommendationChanged => "RECOMMENDATION_CHANGED",
            EventKind::CohortDisbanded => "COHORT_DISBANDED",
            EventKind::CohortGraduated => "COHORT_GRADUATED",
            EventKind::NudgeDue => "NUDGE_DUE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The event a move into `stage` records: a cohort is created when it starts forming
    /// (directly, or when its proposal is approved).
    pub fn entering(stage: Stage) -> Self {
        match stage {
            Stage::Proposed => EventKind::CohortProposed,
            Stage::Forming => EventKind::CohortCreated,
            Stage::Active => EventKind::CohortActivated,
            Stage::Disbanded => EventKind::CohortDisbanded,
            Stage::Graduated => EventKind::CohortGraduated,
        }
    }

    /// The part of the cohort an event of this kind reveals: stage changes, creation and the
    /// meeting plan are its public face; its conduct and goals its setup; members, check-ins,
    /// attendance, achievements, health and recommendations its activity; join requests the
    /// queue of them; a nudge the cohort's nudges (and the nudged member's own data).
    pub fn facet(self) -> Facet {
        match self {
            EventKind::CohortCreated
            | EventKind::CohortProposed
            | EventKind::CohortActivated
            | EventKind::CohortDisbanded
            | EventKind::CohortGraduated
            | EventKind::MeetingScheduled
            | EventKind::MeetingCancelled => Facet::PublicFace,
            EventKind::ConductChanged | EventKind::GoalAdded => Facet::Setup,
            EventKind::MemberJoined
            | EventKind::MemberLeft
            | EventKind::MemberRoleChanged
            | EventKind::GoalAchieved
            | EventKind::CheckInLogged
            | EventKind::AttendanceRecorded
            | EventKind::HealthChanged
            | EventKind::RecommendationChanged => Facet::Activity,
            EventKind::JoinRequested => Facet::JoinRequests,
            EventKind::NudgeDue => Facet::Nudges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("check_in_logged"), None);
    }
}
