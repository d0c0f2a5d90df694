//! The LMS platforms registered with the tool, from the JSON file `AFTERCLASS_LTI_PLATFORMS`
//! names: a list of registrations, or `{"platforms": [...]}`. Each one:
//!
//! ```json
//! { "issuer": "https://moodle.example.edu", "client_id": "Xa8…", "deployment_ids": ["1"],
//!   "authorization_url": "https://moodle.example.edu/mod/lti/auth.php",
//!   "token_url": "https://moodle.example.edu/mod/lti/token.php",
//!   "jwks_url": "https://moodle.example.edu/mod/lti/certs.php",
//!   "tenant": "moodle-example", "name": "Example University Moodle" }
//! ```
//!
//! A platform is found by its issuer and client id (the client id may be left out at login when
//! the issuer has one registration). Its JWK Set is cached and loaded again when a launch names a
//! key it does not hold, at most once per refresh interval (`AFTERCLASS_PLATFORM_JWKS_REFRESH`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use afterclass_domain::text::{self, EXTERNAL_ID};
use serde::Deserialize;

use super::LtiError;
use crate::auth::platform::PlatformKeys;
use crate::config::{JwksSource, PlatformKeysConfig};

/// One registration, as written in the file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The platform's `iss`.
    pub issuer: String,
    /// The client id the platform gave the tool (the `aud` of its launches).
    pub client_id: String,
    /// The deployments of the tool on this platform that may launch it.
    pub deployment_ids: Vec<String>,
    /// The platform's OIDC authorisation endpoint.
    pub authorization_url: String,
    /// The platform's OAuth 2 token endpoint (for NRPS).
    pub token_url: String,
    /// The platform's JWK Set: an `http(s)://` URL or a file.
    pub jwks_url: String,
    /// The Afterclass tenant its people and courses belong to.
    pub tenant: String,
    /// A name for people and logs.
    #[serde(default)]
    pub name: Option<String>,
}

/// A registration and its keys.
pub struct Platform {
    pub registration: Registration,
    pub(crate) keys: PlatformKeys,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform").field("registration", &self.registration).finish_non_exhaustive()
    }
}

impl Platform {
    pub fn deploys(&self, deployment_id: &str) -> bool {
        self.registration.deployment_ids.iter().any(|d| d == deployment_id)
    }
}

/// Every registered platform.
#[derive(Debug, Default)]
pub struct Registry {
    platforms: Vec<Arc<Platform>>,
}

impl Registry {
    pub fn read(path: &Path, key_refresh: Duration) -> Result<Registry, String> {
        let context = |e: String| format!("AFTERCLASS_LTI_PLATFORMS ({}): {e}", path.display());
        let bytes = std::fs::read(path).map_err(|e| context(e.to_string()))?;
        Registry::parse(&bytes, key_refresh).map_err(context)
    }

    pub fn parse(bytes: &[u8], key_refresh: Duration) -> Result<Registry, String> {
        let not_a_list = |e: String| format!("not a list of platform registrations: {e}");
        let mut file: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| not_a_list(e.to_string()))?;
        let list = match file.get_mut("platforms") {
            Some(list) => list.take(),
            None => file,
        };
        let registrations: Vec<Registration> = serde_json::from_value(list).map_err(|e| not_a_list(e.to_string()))?;
        let mut platforms: Vec<Arc<Platform>> = Vec::new();
        for (at, registration) in registrations.into_iter().enumerate() {
            check(&registration).map_err(|e| format!("platform {} ({}): {e}", at + 1, registration.issuer))?;
            if platforms.iter().any(|p| {
                p.registration.issuer == registration.issuer && p.registration.client_id == registration.client_id
            }) {
                return Err(format!(
                    "platform {}: issuer `{}` with client id `{}` is registered twice",
                    at + 1,
                    registration.issuer,
                    registration.client_id
                ));
            }
            let source = JwksSource::parse(&registration.jwks_url)
                .ok_or_else(|| format!("platform {}: `jwks_url` is empty", at + 1))?;
            let keys = PlatformKeys::new(&PlatformKeysConfig { source, refresh_interval: key_refresh })?;
            platforms.push(Arc::new(Platform { registration, keys }));
        }
        if platforms.is_empty() {
            return Err("no platform is registered".into());
        }
        Ok(Registry { platforms })
    }

    /// The platform with this issuer and client id; without a client id, the issuer's only one.
    pub fn find(&self, issuer: &str, client_id: Option<&str>) -> Result<Arc<Platform>, LtiError> {
        let mut matching = self.platforms.iter().filter(|p| p.registration.issuer == issuer);
        let found = match client_id {
            Some(client) => matching.find(|p| p.registration.client_id == client),
            None => {
                let first = matching.next();
                if matching.next().is_some() {
                    return Err(LtiError::BadRequest(format!(
                        "the platform `{issuer}` has several registrations here; the login must name its `client_id`"
                    )));
                }
                first
            }
        };
        found.cloned().ok_or_else(|| match client_id {
            Some(client) => LtiError::Refused(format!(
                "Afterclass has no registration for the platform `{issuer}` with client id `{client}`"
            )),
            None => LtiError::Refused(format!("Afterclass has no registration for the platform `{issuer}`")),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Platform>> {
        self.platforms.iter()
    }
}

fn check(r: &Registration) -> Result<(), String> {
    for (field, value) in [("issuer", &r.issuer), ("client_id", &r.client_id)] {
        if value.trim().is_empty() {
            return Err(format!("`{field}` is empty"));
        }
    }
    for (field, value) in [("authorization_url", &r.authorization_url), ("token_url", &r.token_url)] {
        let lower = value.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) || reqwest::Url::parse(value).is_err() {
            return Err(format!("`{field}` must be an http(s) URL (got `{value}`)"));
        }
    }
    if r.deployment_ids.is_empty() || r.deployment_ids.iter().any(|d| d.trim().is_empty()) {
        return Err("`deployment_ids` must list at least one deployment, none empty".into());
    }
    text::parse(text::Limit { field: "tenant", ..EXTERNAL_ID }, &r.tenant).map_err(|e| e.message)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(extra: &str) -> String {
        format!(
            r#"[{{"issuer":"https://lms.example","client_id":"c1","deployment_ids":["d1"],
            "authorization_url":"https://lms.example/auth","token_url":"https://lms.example/token",
            "jwks_url":"https://lms.example/jwks","tenant":"t1"{extra}}}]"#
        )
    }

    #[test]
    fn a_registration_is_found_by_issuer_and_client() {
        let registry = Registry::parse(one("").as_bytes(), Duration::from_secs(1)).unwrap_or_default();
        assert!(registry.find("https://lms.example", Some("c1")).is_ok());
        assert!(registry.find("https://lms.example", None).is_ok());
        assert!(matches!(registry.find("https://lms.example", Some("c2")), Err(LtiError::Refused(_))));
        assert!(matches!(registry.find("https://other.example", None), Err(LtiError::Refused(_))));
    }

    #[test]
    fn a_bad_registration_is_refused_with_its_reason() {
        let err = |text: &str| Registry::parse(text.as_bytes(), Duration::from_secs(1)).err().unwrap_or_default();
        assert!(err(&one(r#","extra":"x""#)).contains("unknown field"), "{}", err(&one(r#","extra":"x""#)));
        assert!(err(&one("").replace("\"d1\"", "")).contains("deployment_ids"));
        assert!(err(&one("").replace("https://lms.example/token", "ftp://x")).contains("token_url"));
        assert!(err("[]").contains("no platform"));
        let single = one("");
        let entry = single.get(1..single.len() - 1).unwrap_or_default();
        let twice = format!("[{entry},{entry}]");
        assert!(err(&twice).contains("registered twice"), "{}", err(&twice));
    }
}
