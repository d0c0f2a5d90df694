//! Opaque, stable, type-tagged global IDs (`base64url("Cohort:42")`) and page cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// The kinds of object a global ID can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Person,
    Cohort,
    Membership,
    Goal,
    CheckIn,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Person, Kind::Cohort, Kind::Membership, Kind::Goal, Kind::CheckIn];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Person => "Person",
            Kind::Cohort => "Cohort",
            Kind::Membership => "Membership",
            Kind::Goal => "Goal",
            Kind::CheckIn => "CheckIn",
        }
    }
}

pub fn encode(kind: Kind, id: i64) -> async_graphql::ID {
    async_graphql::ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// Reads any global ID back into its kind and row id.
pub fn decode_any(id: &str) -> Result<(Kind, i64), ApiError> {
    let bad = || ApiError::BadUserInput(format!("`{id}` is not a valid ID"));
    let raw = URL_SAFE_NO_PAD.decode(id.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (name, num) = text.split_once(':').ok_or_else(bad)?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(bad)?;
    let num = num.parse::<i64>().map_err(|_| bad())?;
    if num <= 0 {
        return Err(bad());
    }
    Ok((kind, num))
}

/// Reads a global ID that must name an object of `kind`.
pub fn decode(kind: Kind, id: &str) -> Result<i64, ApiError> {
    match decode_any(id)? {
        (k, num) if k == kind => Ok(num),
        (other, _) => Err(ApiError::BadUserInput(format!("expected a {} ID, got a {} ID", kind.name(), other.name()))),
    }
}

pub fn cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("cursor:{id}"))
}

pub fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::BadUserInput(format!("`{cursor}` is not a valid cursor"));
    let raw = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    text.strip_prefix("cursor:").and_then(|n| n.parse::<i64>().ok()).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_carry_their_kind() {
        let id = encode(Kind::Cohort, 42);
        assert_eq!(decode(Kind::Cohort, &id).ok(), Some(42));
        assert!(matches!(decode(Kind::Goal, &id), Err(ApiError::BadUserInput(_))));
        assert!(matches!(decode_any("not-an-id!"), Err(ApiError::BadUserInput(_))));
        assert!(matches!(decode_any(&URL_SAFE_NO_PAD.encode("Cohort:-1")), Err(ApiError::BadUserInput(_))));
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&cursor(7)).ok(), Some(7));
        assert!(decode_cursor("x").is_err());
    }
}
