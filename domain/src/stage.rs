//! The cohort lifecycle: `PROPOSED` → `FORMING` → `ACTIVE` → `DISBANDED` or `GRADUATED`.
//! Transitions are methods that either give the next stage or say why not; terminal stages are
//! read-only, and [`Stage::ensure_writable`] is the one check every write goes through.

use crate::cohort::named_enum;
use crate::{DomainError, ErrorCode};

named_enum!(
    /// Where a cohort is in its life.
    Stage {
        Proposed => "PROPOSED",
        Forming => "FORMING",
        Active => "ACTIVE",
        Disbanded => "DISBANDED",
        Graduated => "GRADUATED",
    }
);

/// What activation needs, as observed by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationFacts {
    pub has_active_leader: bool,
    pub has_purpose: bool,
    pub goal_count: u64,
    pub has_code_of_conduct: bool,
}

impl Stage {
    /// `DISBANDED` and `GRADUATED` are final; the cohort is kept but read-only.
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Disbanded | Stage::Graduated)
    }

    /// Refuses any write to an ended cohort.
    pub fn ensure_writable(self) -> Result<(), DomainError> {
        if self.is_terminal() {
            Err(DomainError::new(
                ErrorCode::WrongStage,
                format!(
                    "the cohort is {} and read-only; its data stays readable but nothing can change",
                    self.as_str()
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// An instructor approves a trainee's proposal.
    pub fn approve(self) -> Result<Stage, DomainError> {
        match self {
            Stage::Proposed => Ok(Stage::Forming),
            other => Err(wrong(other, "only a PROPOSED cohort can be approved")),
        }
    }

    /// `FORMING` → `ACTIVE`, when everything a working cohort needs is there.
    pub fn activate(self, facts: ActivationFacts) -> Result<Stage, DomainError> {
        if self != Stage::Forming {
            return Err(wrong(self, "only a FORMING cohort can be activated"));
        }
        let mut missing = Vec::new();
        if !facts.has_active_leader {
            missing.push("an active leader");
        }
        if !facts.has_purpose {
            missing.push("a purpose");
        }
        if facts.goal_count == 0 {
            missing.push("at least one goal");
        }
        if !facts.has_code_of_conduct {
            missing.push("a code of conduct");
        }
        if missing.is_empty() {
            Ok(Stage::Active)
        } else {
            Err(DomainError::new(
                ErrorCode::RequirementsNotMet,
                format!("the cohort cannot become ACTIVE yet: it needs {}", missing.join(", ")),
            ))
        }
    }

    /// Ends a cohort that is forming or active.
    pub fn disband(self) -> Result<Stage, DomainError> {
        self.ensure_writable()?;
        match self {
            Stage::Forming | Stage::Active => Ok(Stage::Disbanded),
            other => Err(wrong(other, "only a FORMING or ACTIVE cohort can be disbanded")),
        }
    }

    /// An instructor declines a trainee's proposal; it ends, kept on record with the reason.
    pub fn decline(self) -> Result<Stage, DomainError> {
        match self {
            Stage::Proposed => Ok(Stage::Disbanded),
            other => Err(wrong(other, "only a PROPOSED cohort can be declined")),
        }
    }

    /// Ends a cohort that has outgrown itself.
    pub fn graduate(self) -> Result<Stage, DomainError> {
        self.ensure_writable()?;
        match self {
            Stage::Forming | Stage::Active => Ok(Stage::Graduated),
            other => Err(wrong(other, "only a FORMING or ACTIVE cohort can graduate")),
        }
    }

    /// The retrospective is written once a cohort has ended: the one write an ended cohort takes.
    pub fn ensure_ended(self) -> Result<(), DomainError> {
        if self.is_terminal() {
            Ok(())
        } else {
            Err(DomainError::new(
                ErrorCode::WrongStage,
                format!("a retrospective is written once the cohort has ended; it is {}", self.as_str()),
            ))
        }
    }

    /// Whether a cohort takes a retrospective: it has ended and was not a declined proposal (a
    /// declined proposal never ran, so it has no outcome to reflect on).
    pub fn ensure_takes_retrospective(self, declined: bool) -> Result<(), DomainError> {
        self.ensure_ended()?;
        if declined {
            return Err(DomainError::new(
                ErrorCode::WrongStage,
                "the proposal was declined: it never ran, so it has no outcome and takes no retrospective",
            ));
        }
        Ok(())
    }

    /// Check-ins are accepted only while the cohort is active.
    pub fn ensure_accepts_check_ins(self) -> Result<(), DomainError> {
        self.ensure_writable()?;
        if self == Stage::Active {
            Ok(())
        } else {
            Err(wrong(self, "check-ins are accepted only while the cohort is ACTIVE"))
        }
    }
}

fn wrong(stage: Stage, why: &str) -> DomainError {
    if stage.is_terminal() {
        // Ended cohorts always answer with the same read-only message.
        return stage.ensure_writable().err().unwrap_or_else(|| DomainError::new(ErrorCode::WrongStage, why));
    }
    DomainError::new(ErrorCode::WrongStage, format!("{why}; the cohort is {}", stage.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY: ActivationFacts =
        ActivationFacts { has_active_leader: true, has_purpose: true, goal_count: 1, has_code_of_conduct: true };

    #[test]
    fn a_forming_cohort_with_everything_becomes_active() {
        assert_eq!(Stage::Forming.activate(READY), Ok(Stage::Active));
    }

    #[test]
    fn activation_names_everything_missing() {
        let err =
            Stage::Forming.activate(ActivationFacts { has_active_leader: false, goal_count: 0, ..READY }).unwrap_err();
        assert_eq!(err.code, ErrorCode::RequirementsNotMet);
        assert!(err.message.contains("an active leader"), "{}", err.message);
        assert!(err.message.contains("at least one goal"), "{}", err.message);
        assert!(!err.message.contains("purpose"), "{}", err.message);
    }

    #[test]
    fn only_forming_cohorts_activate() {
        for stage in [Stage::Proposed, Stage::Active, Stage::Disbanded, Stage::Graduated] {
            assert_eq!(stage.activate(READY).unwrap_err().code, ErrorCode::WrongStage, "{stage:?}");
        }
    }

    #[test]
    fn terminal_stages_refuse_every_write() {
        for stage in [Stage::Disbanded, Stage::Graduated] {
            assert!(stage.is_terminal());
            assert_eq!(stage.ensure_writable().unwrap_err().code, ErrorCode::WrongStage);
            assert_eq!(stage.disband().unwrap_err().code, ErrorCode::WrongStage);
            assert_eq!(stage.approve().unwrap_err().code, ErrorCode::WrongStage);
            assert_eq!(stage.ensure_accepts_check_ins().unwrap_err().code, ErrorCode::WrongStage);
        }
    }

    #[test]
    fn forming_and_active_cohorts_can_graduate_and_only_ended_ones_take_a_retrospective() {
        assert_eq!(Stage::Active.graduate(), Ok(Stage::Graduated));
        assert_eq!(Stage::Forming.graduate(), Ok(Stage::Graduated));
        assert_eq!(Stage::Proposed.graduate().unwrap_err().code, ErrorCode::WrongStage);
        assert_eq!(Stage::Disbanded.graduate().unwrap_err().code, ErrorCode::WrongStage);
        assert!(Stage::Graduated.ensure_ended().is_ok() && Stage::Disbanded.ensure_ended().is_ok());
        assert_eq!(Stage::Active.ensure_ended().unwrap_err().code, ErrorCode::WrongStage);
        assert!(Stage::Disbanded.ensure_takes_retrospective(false).is_ok());
        assert_eq!(Stage::Disbanded.ensure_takes_retrospective(true).unwrap_err().code, ErrorCode::WrongStage);
        assert_eq!(Stage::Active.ensure_takes_retrospective(false).unwrap_err().code, ErrorCode::WrongStage);
    }

    #[test]
    fn check_ins_need_an_active_cohort() {
        assert!(Stage::Active.ensure_accepts_check_ins().is_ok());
        assert_eq!(Stage::Forming.ensure_accepts_check_ins().unwrap_err().code, ErrorCode::WrongStage);
    }

    #[test]
    fn proposals_are_approved_into_forming_or_declined() {
        assert_eq!(Stage::Proposed.decline(), Ok(Stage::Disbanded));
        assert_eq!(Stage::Forming.decline().unwrap_err().code, ErrorCode::WrongStage);
        assert_eq!(Stage::Proposed.approve(), Ok(Stage::Forming));
        assert_eq!(Stage::Forming.approve().unwrap_err().code, ErrorCode::WrongStage);
    }

    #[test]
    fn forming_and_active_cohorts_can_be_disbanded() {
        assert_eq!(Stage::Forming.disband(), Ok(Stage::Disbanded));
        assert_eq!(Stage::Active.disband(), Ok(Stage::Disbanded));
        assert_eq!(Stage::Proposed.disband().unwrap_err().code, ErrorCode::WrongStage);
    }
}
