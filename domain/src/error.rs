//! The one error type of the domain: a rule was broken. Each carries a stable code that clients
//! can switch on, the input field at fault when there is one, and a sentence a person can read.

use std::fmt;

/// Stable, machine-readable codes. Their spelling is part of the API contract (`UserErrorCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A value is malformed, empty where it must not be, or out of range.
    InvalidInput,
    /// The cohort's stage does not allow the change.
    WrongStage,
    /// The member has not accepted the cohort's current code of conduct.
    ConductNotAccepted,
    /// The person is not an active member of the cohort.
    NotAMember,
    /// The object already exists.
    AlreadyExists,
    /// Something the change needs is missing.
    RequirementsNotMet,
}

impl ErrorCode {
    /// The code as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::WrongStage => "WRONG_STAGE",
            ErrorCode::ConductNotAccepted => "CONDUCT_NOT_ACCEPTED",
            ErrorCode::NotAMember => "NOT_A_MEMBER",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::RequirementsNotMet => "REQUIREMENTS_NOT_MET",
        }
    }
}

/// A broken rule. `field` names the input field at fault (e.g. `"target"`), when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DomainError {
    pub code: ErrorCode,
    pub field: Option<String>,
    pub message: String,
}

impl DomainError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DomainError { code, field: None, message: message.into() }
    }

    /// An `INVALID_INPUT` error about one input field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        DomainError { code: ErrorCode::InvalidInput, field: Some(field.to_owned()), message: message.into() }
    }

    /// The same error, attributed to an input field.
    pub fn on_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_their_contract_spelling() {
        let all = [
            (ErrorCode::InvalidInput, "INVALID_INPUT"),
            (ErrorCode::WrongStage, "WRONG_STAGE"),
            (ErrorCode::ConductNotAccepted, "CONDUCT_NOT_ACCEPTED"),
            (ErrorCode::NotAMember, "NOT_A_MEMBER"),
            (ErrorCode::AlreadyExists, "ALREADY_EXISTS"),
            (ErrorCode::RequirementsNotMet, "REQUIREMENTS_NOT_MET"),
        ];
        for (code, spelling) in all {
            assert_eq!(code.as_str(), spelling);
        }
    }
}
