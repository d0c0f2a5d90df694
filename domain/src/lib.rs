//! Afterclass's rules, as pure functions and types.
//!
//! This crate owns what a cohort, a membership, a goal and a check-in may be, how a cohort moves
//! through its stages, who may read or manage it, how check-ins become progress and which nudges
//! are due. It does no IO, holds no clock and knows nothing of HTTP, GraphQL or databases: every
//! rule that depends on "now" takes the time as an argument, so any moment can be evaluated and
//! tested to the second.

pub mod access;
pub mod checkin;
pub mod cohort;
pub mod error;
pub mod event;
pub mod goal;
pub mod joining;
pub mod lifecycle;
pub mod meeting;
pub mod membership;
pub mod nudge;
pub mod privacy;
pub mod similarity;
pub mod stage;
pub mod text;
pub mod webhook;

pub use error::{DomainError, ErrorCode};
