//! The GraphQL API: the schema, its scalars and enums, connections and payloads. Resolvers stay
//! thin: reads go through `loaders` (batched, one statement per level) and writes through the
//! use cases in `crate::app`.

pub mod discovery;
pub mod events;
pub mod lifecycle;
pub mod limits;
pub mod loaders;
pub mod meetings;
pub mod mutation;
pub mod nudges;
pub mod privacy;
pub mod query;
pub mod subscription;
pub mod types;
pub mod webhooks;

use async_graphql::{ErrorExtensions, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};
use chrono::NaiveDate;

use crate::app::reads::Page;
use crate::config::Limits;
use crate::error::{ApiError, Failure};

pub type AfterclassSchema =
    async_graphql::Schema<query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot>;

/// What every resolver returns. Its error is `ApiError`, which always carries a code and has no
/// `Display`: a database error can reach a client only through `From<DbErr> for ApiError`, as a
/// masked `INTERNAL`, never as text (async-graphql would send any `Display` error's text).
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Builds the schema with the configured bounds.
pub fn schema(limits: Limits, introspection: bool) -> AfterclassSchema {
    let builder =
        async_graphql::Schema::build(query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot)
            .limit_depth(limits.depth)
            .limit_complexity(limits.complexity)
            .limit_recursive_depth(32)
            .limit_directives(16);
    if introspection { builder } else { builder.disable_introspection() }.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema(Limits::default(), true).sdl()
}

/// The moment a request started: what "now" means for every read in it, so that all its
/// progress figures agree and load together.
#[derive(Debug, Clone, Copy)]
pub struct RequestTime(pub chrono::DateTime<chrono::Utc>);

/// An ISO 8601 calendar date, e.g. 2026-12-31.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// ISO 8601 calendar date, e.g. 2026-12-31
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("`{s}` is not an ISO 8601 date (YYYY-MM-DD)"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Mirrors a domain enumeration as a GraphQL enum, with conversions both ways.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident = $domain:path { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl From<$domain> for $name {
            fn from(v: $domain) -> Self {
                use $domain as D;
                match v { $(D::$variant => $name::$variant),+ }
            }
        }

        impl From<$name> for $domain {
            fn from(v: $name) -> Self {
                use $domain as D;
                match v { $($name::$variant => D::$variant),+ }
            }
        }
    };
}

pub(crate) use mirror_enum;

mirror_enum!(ViewerRole = afterclass_domain::access::ViewerRole { Instructor, Trainee, Integration });
mirror_enum!(Horizon = afterclass_domain::cohort::Horizon { ShortTerm, OpenEnded });
mirror_enum!(CohortStage = afterclass_domain::stage::Stage { Proposed, Forming, Active, Disbanded, Graduated });
mirror_enum!(Visibility = afterclass_domain::cohort::Visibility { Open, ByRequest, InviteOnly });
mirror_enum!(MemberRole = afterclass_domain::cohort::MemberRole { Leader, Facilitator, Member, Observer });
mirror_enum!(
    MembershipStatus = afterclass_domain::cohort::MembershipStatus { Invited, Requested, Active, Left, Removed }
);
mirror_enum!(GoalAggregation = afterclass_domain::goal::Aggregation { Sum, EachMember, Average });
mirror_enum!(GoalStatus = afterclass_domain::goal::GoalStatus { Open, Achieved, Abandoned });
mirror_enum!(Pace = afterclass_domain::goal::Pace { Ahead, OnTrack, Behind, NoDeadline });
mirror_enum!(
    OutcomeReason =
        afterclass_domain::cohort::OutcomeReason { GoalsMet, Dormant, Expired, TooSmall, Graduated, LeadersDecision }
);
mirror_enum!(
    UserErrorCode = afterclass_domain::ErrorCode {
        InvalidInput,
        WrongStage,
        ConductNotAccepted,
        NotAMember,
        AlreadyExists,
        RequirementsNotMet
    }
);

/// A broken rule, as mutation payloads report it.
#[derive(SimpleObject, Debug, Clone)]
pub struct UserError {
    /// Path to the input field at fault, e.g. ["input", "target"]; null when no single field is.
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: UserErrorCode,
}

impl From<afterclass_domain::DomainError> for UserError {
    fn from(err: afterclass_domain::DomainError) -> Self {
        UserError { field: err.field.map(|f| vec!["input".to_owned(), f]), message: err.message, code: err.code.into() }
    }
}

/// Splits a use case's result into what a payload carries: the object, or the broken rule.
/// Anything else becomes a top-level error.
pub fn payload<T, U>(result: Result<T, Failure>, wrap: impl FnOnce(T) -> U) -> Result<(Option<U>, Vec<UserError>)> {
    match result {
        Ok(v) => Ok((Some(wrap(v)), Vec::new())),
        Err(Failure::Rule(e)) => Ok((None, vec![e.into()])),
        Err(Failure::Api(e)) => Err(e),
    }
}

#[derive(SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// Declares a Relay connection and its edge over a node type whose rows have ids. A connection
/// built with `hidden` shows its `totalCount` but refuses its members (a cohort's public face).
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(async_graphql::SimpleObject, Clone)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        pub struct $conn {
            pub page: crate::app::reads::Page<(i64, $node)>,
            pub hidden: bool,
        }

        #[async_graphql::Object]
        impl $conn {
            async fn edges(&self) -> async_graphql::Result<Vec<$edge>> {
                self.ensure_visible()?;
                Ok(self
                    .page
                    .rows
                    .iter()
                    .map(|(id, node)| $edge { cursor: crate::ids::cursor(*id), node: node.clone() })
                    .collect())
            }

            async fn nodes(&self) -> async_graphql::Result<Vec<$node>> {
                self.ensure_visible()?;
                Ok(self.page.rows.iter().map(|(_, node)| node.clone()).collect())
            }

            async fn page_info(&self) -> async_graphql::Result<crate::graphql::PageInfo> {
                self.ensure_visible()?;
                Ok(crate::graphql::page_info(&self.page))
            }

            // Counted only when asked for.
            async fn total_count(&self) -> crate::graphql::Result<i64, crate::error::ApiError> {
                Ok(i64::try_from(self.page.total.get().await?).unwrap_or(i64::MAX))
            }
        }

        impl $conn {
            fn ensure_visible(&self) -> Result<(), crate::error::ApiError> {
                if self.hidden {
                    Err(crate::error::ApiError::forbidden("only the cohort's members see who its members are"))
                } else {
                    Ok(())
                }
            }
        }
    };
}
pub(crate) use connection;

pub fn page_info<T>(page: &Page<(i64, T)>) -> PageInfo {
    PageInfo {
        has_next_page: page.has_next,
        has_previous_page: page.has_previous,
        start_cursor: page.rows.first().map(|(id, _)| crate::ids::cursor(*id)),
        end_cursor: page.rows.last().map(|(id, _)| crate::ids::cursor(*id)),
    }
}

/// An `ApiError` as a GraphQL error: its code in `extensions.code`, and an internal cause logged
/// (the span around the request carries its request id) and masked as "internal error".
impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        if let ApiError::Internal(cause) = &err {
            // The span around the request carries its request id.
            tracing::error!(%cause, "internal error");
        }
        let code = err.code();
        let retry_after = err.retry_after();
        async_graphql::Error::new(err.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(seconds) = retry_after {
                ext.set("retryAfter", seconds);
            }
        })
    }
}

/// The one path of an error to the client: gives every error of a response its code and returns
/// it. Resolvers answer `ApiError`s, which carry their code already (and mask internals). An
/// error without one was raised by the executor: about the request itself when it is a parse,
/// validation or argument error (nothing ran, or an argument did not coerce), `BAD_USER_INPUT`;
/// anything else is a fault of ours, masked as `INTERNAL` with its cause logged.
pub fn classify_error(error: &mut async_graphql::ServerError) -> &'static str {
    let coded = error.extensions.as_ref().and_then(|e| e.get("code")).and_then(|c| match c {
        Value::String(code) => Some(code.clone()),
        _ => None,
    });
    let code = match coded.as_deref() {
        Some("INTERNAL") => return "INTERNAL",
        // The database's trouble (HTTP 503): the caller tells the client to try again.
        Some(code) if crate::error::is_unavailable_code(code) => return crate::error::UNAVAILABLE,
        Some(_) => return "CODED",
        None if about_the_request(error) => "BAD_USER_INPUT",
        None => {
            tracing::error!(cause = %error.message, "uncoded error from the executor");
            error.message = "internal error".to_owned();
            "INTERNAL"
        }
    };
    error.extensions.get_or_insert_with(Default::default).set("code", code);
    code
}

/// Whether an uncoded executor error is about the request: parse and validation errors name no
/// path (nothing ran); argument and variable coercion errors say so in their first words, and so
/// does a declared variable without a default that the request left out (the executor finds it
/// missing only when it reads the field's arguments, before the field runs).
fn about_the_request(error: &async_graphql::ServerError) -> bool {
    const COERCION: [&str; 4] =
        ["Failed to parse", "Expected input type", "Invalid value for argument", "Invalid value for variable"];
    let missing_variable = error.message.starts_with("Variable ") && error.message.ends_with(" is not defined.");
    error.path.is_empty() || missing_variable || COERCION.iter().any(|p| error.message.starts_with(p))
}

/// Reads a typed value from the request's context; a missing one is a fault on our side.
pub fn data<'a, T: Send + Sync + 'static>(ctx: &async_graphql::Context<'a>) -> Result<&'a T, ApiError> {
    ctx.data::<T>().map_err(|_| ApiError::Internal(format!("missing context: {}", std::any::type_name::<T>())))
}

#[cfg(test)]
mod tests {
    use async_graphql::{PathSegment, ServerError};

    use super::*;

    fn in_a_field(message: &str) -> ServerError {
        let mut error = ServerError::new(message, None);
        error.path = vec![PathSegment::Field("cohort".into())];
        error
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let err: async_graphql::Error = ApiError::Internal("database: syntax error near SELECT".into()).into();
        assert_eq!(err.message, "internal error");
        let json = serde_json::to_string(&err.extensions).unwrap_or_default();
        assert!(json.contains("INTERNAL") && !json.contains("SELECT"), "{json}");
    }

    #[test]
    fn uncoded_errors_of_a_running_field_are_masked_as_internal() {
        let mut error = in_a_field("error returned from database: relation \"cohorts\" does not exist");
        assert_eq!(classify_error(&mut error), "INTERNAL");
        assert_eq!(error.message, "internal error");
        let code = error.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        assert_eq!(code, Some(Value::from("INTERNAL")));
    }

    #[test]
    fn parse_validation_and_argument_errors_are_the_requests() {
        let mut validation = ServerError::new("Unknown field \"nme\" on type \"Cohort\"", None);
        let mut argument = in_a_field("Failed to parse \"Date\": `2026-13-45` is not an ISO 8601 date");
        let mut missing = in_a_field("Variable input is not defined.");
        let mut shape = in_a_field("Expected input type \"DateTime\", found [{displayName: \"P\"}].");
        for error in [&mut validation, &mut argument, &mut missing, &mut shape] {
            let message = error.message.clone();
            assert_eq!(classify_error(error), "BAD_USER_INPUT");
            assert_eq!(error.message, message);
        }
    }

    #[test]
    fn coded_errors_keep_their_code() {
        let mut error: ServerError =
            async_graphql::Error::from(ApiError::not_found("cohort")).into_server_error(Default::default());
        assert_eq!(classify_error(&mut error), "CODED");
        assert_eq!(error.extensions.as_ref().and_then(|e| e.get("code")).cloned(), Some(Value::from("NOT_FOUND")));
    }
}
