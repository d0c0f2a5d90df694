//! The API's error story. Rule violations are `userErrors` in mutation payloads (see
//! `graphql::payload`); everything else is one of these, sent as a top-level GraphQL error whose
//! `extensions.code` clients can switch on. Internal causes are logged, never sent.

use afterclass_domain::DomainError;

/// The code of [`ApiError::Unavailable`].
pub const UNAVAILABLE: &str = "UNAVAILABLE";
/// The code of [`ApiError::StorageFull`].
pub const STORAGE_FULL: &str = "STORAGE_FULL";

/// Whether a top-level error code says the database is in trouble (HTTP 503, try again).
pub fn is_unavailable_code(code: &str) -> bool {
    code == UNAVAILABLE || code == STORAGE_FULL
}

/// A failure that is not a broken domain rule.
///
/// It deliberately does not implement `Display`: async-graphql turns any `Display` error into a
/// client-visible message, and an internal cause must never reach a client. The one way out is
/// `From<ApiError> for async_graphql::Error` (in `crate::graphql`), which sets `extensions.code`
/// and masks internals. A database error becomes `Internal` through `From<DbErr>` (in
/// `crate::store`), so its text is logged, never sent.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// No valid token. The client sees `UNAUTHENTICATED` and the reason (e.g. "token expired").
    Unauthenticated(String),
    /// The viewer may see the object but not do this. The client sees `FORBIDDEN`.
    Forbidden(String),
    /// No such object in the viewer's tenant, or one the viewer may not know of. The client sees
    /// `NOT_FOUND`; another tenant's object is always reported this way.
    NotFound(String),
    /// A malformed ID, cursor or page size. The client sees `BAD_USER_INPUT`.
    BadUserInput(String),
    /// The database cannot answer or cannot write at the moment (unreachable, restarting, its
    /// storage read-only or failing). The client sees `UNAVAILABLE` (HTTP 503) and what to do:
    /// nothing was written, try again shortly. The cause is logged.
    Unavailable(String),
    /// The database's storage is full: nothing was written. The client sees `STORAGE_FULL`
    /// (HTTP 503); the cause is logged.
    StorageFull(String),
    /// A fault on our side. The client sees `INTERNAL` and "internal error"; the cause is logged.
    Internal(String),
    /// Over a budget (see `crate::rate`): the client sees `RATE_LIMITED`, the reason and, in
    /// `extensions.retryAfter` and the `Retry-After` header, the whole seconds until it may retry.
    RateLimited { message: String, retry_after: u64 },
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::Unavailable(_) => UNAVAILABLE,
            ApiError::StorageFull(_) => STORAGE_FULL,
            ApiError::Internal(_) => "INTERNAL",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
        }
    }

    /// The whole seconds until a refused request may be sent again, for `RATE_LIMITED`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// What the client is told.
    pub fn message(&self) -> &str {
        match self {
            ApiError::Unauthenticated(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::BadUserInput(m)
            | ApiError::Unavailable(m)
            | ApiError::StorageFull(m)
            | ApiError::RateLimited { message: m, .. } => m,
            ApiError::Internal(_) => "internal error",
        }
    }

    /// Whether this is trouble with the database rather than with the request: the answer is
    /// HTTP 503 and the client may try again.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ApiError::Unavailable(_) | ApiError::StorageFull(_))
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        ApiError::Forbidden(why.into())
    }
}

/// What a use case can fail with: a broken rule (a `userError`) or anything else.
#[derive(Debug)]
pub enum Failure {
    Rule(DomainError),
    Api(ApiError),
}

impl From<DomainError> for Failure {
    fn from(err: DomainError) -> Self {
        Failure::Rule(err)
    }
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        Failure::Api(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let codes: Vec<_> = [
            ApiError::Unauthenticated(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::BadUserInput(String::new()),
            ApiError::Unavailable(String::new()),
            ApiError::StorageFull(String::new()),
            ApiError::Internal(String::new()),
            ApiError::RateLimited { message: String::new(), retry_after: 1 },
        ]
        .iter()
        .map(ApiError::code)
        .collect();
        assert_eq!(
            codes,
            [
                "UNAUTHENTICATED",
                "FORBIDDEN",
                "NOT_FOUND",
                "BAD_USER_INPUT",
                "UNAVAILABLE",
                "STORAGE_FULL",
                "INTERNAL",
                "RATE_LIMITED"
            ]
        );
    }
}
