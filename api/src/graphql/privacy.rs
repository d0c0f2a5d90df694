//! Privacy in the API: `personExport` (right of access) and `erasePerson` (right to erasure),
//! both for the integration account alone, as `app::privacy` asks the one policy.

use async_graphql::{Context, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::types::Person;
use super::{RequestTime, Result, UserError, data, payload};
use crate::app::privacy as app;
use crate::auth::Viewer;
use crate::store::Store;

/// Everything the tenant holds about one person.
#[derive(SimpleObject)]
pub struct PersonExport {
    pub person: Person,
    /// Every membership, check-in, RSVP, attendance mark, join request and event naming the person, as one JSON document.
    pub document: String,
    pub generated_at: DateTime<Utc>,
}

#[derive(InputObject)]
pub struct ErasePersonInput {
    pub external_id: String,
}

#[derive(SimpleObject)]
pub struct ErasePersonPayload {
    /// True when the person existed and their identifying data is gone.
    pub erased: bool,
    pub user_errors: Vec<UserError>,
}

/// `personExport(externalId)`.
pub async fn export(ctx: &Context<'_>, external_id: &str) -> Result<Option<PersonExport>> {
    let now = data::<RequestTime>(ctx)?.0;
    let found = app::export(data::<Store>(ctx)?, data::<Viewer>(ctx)?, external_id, now).await?;
    Ok(found.map(|e| PersonExport { person: Person(e.person), document: e.document, generated_at: e.generated_at }))
}

/// `erasePerson(input)`.
pub async fn erase(ctx: &Context<'_>, input: ErasePersonInput) -> Result<ErasePersonPayload> {
    let now = data::<RequestTime>(ctx)?.0;
    let result = app::erase(data::<Store>(ctx)?, data::<Viewer>(ctx)?, &input.external_id, now).await;
    let (erased, user_errors) = payload(result, |erased| erased)?;
    Ok(ErasePersonPayload { erased: erased.unwrap_or(false), user_errors })
}
