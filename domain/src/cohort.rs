//! The vocabulary of a cohort and its memberships: horizon, visibility, member roles and
//! statuses, outcome reasons. Each is stored and sent by its upper-case name.

/// Declares a closed set of names with their stored spelling, `as_str` and `parse`.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and transmitted spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads a stored spelling back; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use named_enum;

named_enum!(
    /// How long the cohort means to live, which decides what success looks like.
    Horizon { ShortTerm => "SHORT_TERM", OpenEnded => "OPEN_ENDED" }
);

named_enum!(
    /// Who can find the cohort and how they get in.
    Visibility { Open => "OPEN", ByRequest => "BY_REQUEST", InviteOnly => "INVITE_ONLY" }
);

impl Visibility {
    /// Whether people outside the cohort can find it and see its public face.
    pub fn is_discoverable(self) -> bool {
        !matches!(self, Visibility::InviteOnly)
    }
}

named_enum!(
    /// A member's part in the cohort.
    MemberRole { Leader => "LEADER", Facilitator => "FACILITATOR", Member => "MEMBER", Observer => "OBSERVER" }
);

impl MemberRole {
    /// Leaders and facilitators run the cohort.
    pub fn manages(self) -> bool {
        matches!(self, MemberRole::Leader | MemberRole::Facilitator)
    }

    /// Observers watch and learn; they are not counted toward member goals.
    pub fn counts_toward_goals(self) -> bool {
        !matches!(self, MemberRole::Observer)
    }
}

named_enum!(
    /// Where a membership stands.
    MembershipStatus {
        Invited => "INVITED",
        Requested => "REQUESTED",
        Active => "ACTIVE",
        Left => "LEFT",
        Removed => "REMOVED",
    }
);

named_enum!(
    /// Why a cohort ended.
    OutcomeReason {
        GoalsMet => "GOALS_MET",
        Dormant => "DORMANT",
        Expired => "EXPIRED",
        TooSmall => "TOO_SMALL",
        Graduated => "GRADUATED",
        LeadersDecision => "LEADERS_DECISION",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_itself() {
        for v in Horizon::ALL {
            assert_eq!(Horizon::parse(v.as_str()), Some(*v));
        }
        for v in Visibility::ALL {
            assert_eq!(Visibility::parse(v.as_str()), Some(*v));
        }
        for v in MemberRole::ALL {
            assert_eq!(MemberRole::parse(v.as_str()), Some(*v));
        }
        for v in MembershipStatus::ALL {
            assert_eq!(MembershipStatus::parse(v.as_str()), Some(*v));
        }
        for v in OutcomeReason::ALL {
            assert_eq!(OutcomeReason::parse(v.as_str()), Some(*v));
        }
        assert_eq!(Horizon::parse("short_term"), None);
    }

    #[test]
    fn only_invite_only_cohorts_are_hidden() {
        assert!(Visibility::Open.is_discoverable());
        assert!(Visibility::ByRequest.is_discoverable());
        assert!(!Visibility::InviteOnly.is_discoverable());
    }
}
