//! Length limits for every free-text field, in one place, and the parser that enforces them.
//! Text is trimmed; limits count characters, not bytes.
//!
//! Every text that comes in, a field of a mutation's input or an argument of a query, passes
//! [`ensure_plain`] before it is looked up or stored: no NUL (PostgreSQL refuses it in `text`
//! columns and parameters) and no other control character except tab, line feed and carriage
//! return. [`parse`] applies it along with the length limits.

use crate::DomainError;

/// The limits of one text field.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub field: &'static str,
    pub min: usize,
    pub max: usize,
}

pub const COHORT_NAME: Limit = Limit { field: "name", min: 1, max: 120 };
pub const DOMAIN: Limit = Limit { field: "domain", min: 1, max: 200 };
pub const PURPOSE: Limit = Limit { field: "purpose", min: 1, max: 2_000 };
pub const SCOPE: Limit = Limit { field: "scope", min: 0, max: 2_000 };
pub const TAG: Limit = Limit { field: "tags", min: 1, max: 40 };
pub const MAX_TAGS: usize = 20;
pub const CODE_OF_CONDUCT: Limit = Limit { field: "text", min: 1, max: 20_000 };
pub const COURSE_ID: Limit = Limit { field: "lmsCourseId", min: 1, max: 200 };
pub const COURSE_TITLE: Limit = Limit { field: "title", min: 1, max: 300 };
pub const EXTERNAL_ID: Limit = Limit { field: "externalId", min: 1, max: 200 };
pub const DISPLAY_NAME: Limit = Limit { field: "displayName", min: 1, max: 200 };
pub const EMAIL: Limit = Limit { field: "email", min: 3, max: 320 };
pub const GOAL_TITLE: Limit = Limit { field: "title", min: 1, max: 200 };
pub const GOAL_UNIT: Limit = Limit { field: "unit", min: 1, max: 40 };
pub const NOTE: Limit = Limit { field: "note", min: 0, max: 2_000 };
pub const BLOCKERS: Limit = Limit { field: "blockers", min: 0, max: 2_000 };
pub const IDEMPOTENCY_KEY: Limit = Limit { field: "idempotencyKey", min: 1, max: 200 };
pub const RETROSPECTIVE: Limit = Limit { field: "retrospective", min: 0, max: 20_000 };
pub const RETROSPECTIVE_TEXT: Limit = Limit { field: "retrospective", min: 1, max: 20_000 };
pub const FORMAL_STRUCTURE: Limit = Limit { field: "formalStructure", min: 1, max: 2_000 };
pub const ROSTER_SIZE: usize = 1_000;
pub const LOCATION: Limit = Limit { field: "location", min: 1, max: 500 };
pub const ONLINE_URL: Limit = Limit { field: "onlineUrl", min: 1, max: 500 };
pub const CHANNEL_ADDRESS: Limit = Limit { field: "address", min: 1, max: 500 };
pub const AGENDA: Limit = Limit { field: "agenda", min: 0, max: 2_000 };
pub const CANCEL_REASON: Limit = Limit { field: "reason", min: 0, max: 500 };
pub const JOIN_MESSAGE: Limit = Limit { field: "message", min: 0, max: 2_000 };
pub const DECLINE_REASON: Limit = Limit { field: "reason", min: 1, max: 2_000 };

/// Refuses text that holds a character a store would refuse or that has no place in text: NUL
/// and the other control characters, except tab, line feed and carriage return.
pub fn ensure_plain(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(DomainError::invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// Trims `value` and checks it against `limit`.
pub fn parse(limit: Limit, value: &str) -> Result<String, DomainError> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars < limit.min {
        return Err(DomainError::invalid(limit.field, format!("{} must not be empty", limit.field)));
    }
    if chars > limit.max {
        return Err(DomainError::invalid(
            limit.field,
            format!("{} must be at most {} characters (got {chars})", limit.field, limit.max),
        ));
    }
    ensure_plain(limit.field, trimmed)?;
    Ok(trimmed.to_owned())
}

/// Like [`parse`] for an optional field: absent or blank becomes `None`.
pub fn parse_optional(limit: Limit, value: Option<&str>) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => parse(Limit { min: 1, ..limit }, v).map(Some),
    }
}

/// Tags are trimmed, lower-cased and de-duplicated, keeping their first order.
pub fn parse_tags(tags: &[String]) -> Result<Vec<String>, DomainError> {
    if tags.len() > MAX_TAGS {
        return Err(DomainError::invalid("tags", format!("at most {MAX_TAGS} tags are allowed")));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = parse(TAG, tag)?.to_lowercase();
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(parse(COHORT_NAME, "  Rust circle ").as_deref(), Ok("Rust circle"));
        let err = parse(COHORT_NAME, "   ").unwrap_err();
        assert_eq!((err.code, err.field.as_deref()), (ErrorCode::InvalidInput, Some("name")));
        assert!(parse(COHORT_NAME, &"é".repeat(120)).is_ok());
        assert!(parse(COHORT_NAME, &"é".repeat(121)).is_err());
        assert!(parse(COHORT_NAME, "bad\u{0}name").is_err());
    }

    #[test]
    fn nul_and_control_characters_are_refused_anywhere() {
        for bad in ["a\u{0}", "\u{0}", "x\u{1b}[31m", "\u{7f}", "\u{85}"] {
            let err = ensure_plain("key", bad).unwrap_err();
            assert_eq!((err.code, err.field.as_deref()), (ErrorCode::InvalidInput, Some("key")), "{bad:?}");
        }
        assert!(ensure_plain("note", "line one\nline two\ttabbed\r\n").is_ok());
        assert!(parse(NOTE, " \u{0} ").is_err(), "a NUL is not whitespace to trim");
    }

    #[test]
    fn optional_blank_text_is_absent() {
        assert_eq!(parse_optional(NOTE, Some("  ")), Ok(None));
        assert_eq!(parse_optional(NOTE, None), Ok(None));
        assert_eq!(parse_optional(NOTE, Some(" x ")), Ok(Some("x".into())));
    }

    #[test]
    fn tags_are_normalised_and_deduplicated() {
        let tags = vec!["Rust".into(), " rust ".into(), "Data".into()];
        assert_eq!(parse_tags(&tags), Ok(vec!["rust".to_string(), "data".to_string()]));
        let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(&too_many).is_err());
    }
}
