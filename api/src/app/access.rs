//! The domain's policy (`afterclass_domain::access`) applied to stored rows: the one way every
//! path of the service — fields, `node`, lists, the chart, the calendar feed and the use cases —
//! asks what the viewer may read or write of a cohort, and the one place its verdicts become
//! `NOT_FOUND`, `FORBIDDEN` or a `userError`.

use afterclass_domain::access::{self, Action, CohortFacts, Facet, Refusal, Standing, Verdict, ViewerRole};
use afterclass_domain::cohort::{MemberRole, MembershipStatus, Visibility};
use afterclass_domain::event::EventKind;
use afterclass_domain::stage::Stage;

use crate::error::{ApiError, Failure};
use crate::store::entities::{cohort, membership};

/// One viewer's standing in one cohort, and what the policy makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub role: ViewerRole,
    pub cohort: CohortFacts,
    pub standing: Standing,
}

/// The facts the policy needs of a stored cohort.
pub fn facts(cohort: &cohort::Model) -> CohortFacts {
    CohortFacts {
        visibility: Visibility::parse(&cohort.visibility).unwrap_or(Visibility::InviteOnly),
        stage: Stage::parse(&cohort.stage).unwrap_or(Stage::Forming),
    }
}

/// A stored membership as the policy sees it.
pub fn standing(m: Option<&membership::Model>) -> Standing {
    match m {
        None => Standing::NONE,
        Some(m) => Standing { role: MemberRole::parse(&m.role), status: MembershipStatus::parse(&m.status) },
    }
}

impl Access {
    /// The viewer's access to `cohort`, given their own membership in it (if any).
    pub fn of(role: ViewerRole, cohort: &cohort::Model, mine: Option<&membership::Model>) -> Access {
        Access { role, cohort: facts(cohort), standing: standing(mine) }
    }

    /// Whether the viewer may know of the cohort at all.
    pub fn knows(&self) -> bool {
        access::may_know_of(self.role, self.cohort, self.standing)
    }

    pub fn allows(&self, facet: Facet) -> bool {
        self.verdict(facet).is_allowed()
    }

    fn verdict(&self, facet: Facet) -> Verdict {
        access::read(self.role, self.cohort, self.standing, facet)
    }

    /// Refuses what the viewer may not read: `NOT_FOUND` for a cohort they may not know of,
    /// `FORBIDDEN` with the reason for a part of one they may.
    pub fn ensure(&self, facet: Facet) -> Result<(), ApiError> {
        refuse_read(self.verdict(facet))
    }

    /// One member's own data (their membership or check-ins): the member, or whoever reads the
    /// cohort's activity.
    pub fn ensure_member_data(&self, own: bool) -> Result<(), ApiError> {
        refuse_read(access::read_member_data(self.role, self.cohort, self.standing, own))
    }

    /// Whether the viewer sees an event of the cohort's log of `kind`; `own` when it is about
    /// them.
    pub fn sees_event(&self, kind: EventKind, own: bool) -> bool {
        access::read_event(self.role, self.cohort, self.standing, kind, own)
    }

    /// Refuses a write the viewer may not make: `FORBIDDEN`, or a `userError` for a person
    /// action their membership does not allow yet.
    pub fn ensure_may(&self, action: Action) -> Result<(), Failure> {
        access::may(self.role, self.standing, action).map_err(|refusal| match refusal {
            Refusal::Forbidden(why) => Failure::Api(ApiError::forbidden(why)),
            Refusal::Rule(rule) => Failure::Rule(rule),
        })
    }
}

fn refuse_read(verdict: Verdict) -> Result<(), ApiError> {
    match verdict {
        Verdict::Allowed => Ok(()),
        Verdict::Forbidden(why) => Err(ApiError::forbidden(why)),
        Verdict::NotFound => Err(ApiError::not_found("cohort")),
    }
}

/// Whether the viewer may see and manage the tenant's webhook endpoints, as the policy says
/// ([`access::may_manage_webhooks`]): `FORBIDDEN` otherwise. Every webhook path asks it.
pub fn ensure_manages_webhooks(role: ViewerRole) -> Result<(), ApiError> {
    access::may_manage_webhooks(role).map_err(|refusal| match refusal {
        Refusal::Forbidden(why) => ApiError::forbidden(why),
        Refusal::Rule(rule) => ApiError::forbidden(rule.message),
    })
}

/// Whether the viewer may export or erase a person's data, as the policy says
/// ([`access::may_handle_personal_data`]: the integration account): `FORBIDDEN` otherwise. Every
/// privacy path asks it.
pub fn ensure_handles_personal_data(role: ViewerRole) -> Result<(), ApiError> {
    access::may_handle_personal_data(role).map_err(|refusal| match refusal {
        Refusal::Forbidden(why) => ApiError::forbidden(why),
        Refusal::Rule(rule) => ApiError::forbidden(rule.message),
    })
}
