//! Afterclass as an LTI 1.3 tool (IMS LTI 1.3 Core, the Security Framework, Deep Linking 2.0 and
//! Names and Role Provisioning Services 2.0), built on `jsonwebtoken` (see ARCHITECTURE.md,
//! "Crates and why").
//!
//! - `platforms`: the registered platforms (issuer, client id, deployments, endpoints, tenant),
//!   each with its cached JWK Set.
//! - `key`: the tool's RSA key, its JWK Set, and what it signs.
//! - `launch`: OIDC login initiation (the signed `state` and the `nonce`) and the validation of a
//!   launch's `id_token`, down to a [`launch::Launch`].
//! - `services`: what the tool sends the platform: deep-linking responses, and the course roster
//!   fetched from NRPS with a client-credentials token.
//! - `session`: the web app's session, a short-lived token signed by the tool's key.
//!
//! The HTTP side (`/lti/login`, `/lti/launch`, `/lti/jwks`, `/lti/roster`) is `http::lti`.

pub mod key;
pub mod launch;
pub mod platforms;
pub mod services;
pub mod session;

use std::sync::Arc;

use crate::config::LtiSettings;

pub use key::ToolKey;
pub use platforms::{Platform, Registry};

/// Why an LTI request was refused, in words for the person in front of the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LtiError {
    /// The request is malformed or incomplete (HTTP 400).
    BadRequest(String),
    /// The launch is not trustworthy: signature, audience, deployment, nonce, state (HTTP 401).
    Refused(String),
    /// The state is genuine but this browser did not send its cookie (HTTP 401; the launch page
    /// may post the launch once more from the tool's own site first).
    Unbound(String),
    /// The person may not do this (HTTP 403).
    Forbidden(String),
    /// The platform did not answer as it should (HTTP 502).
    Platform(String),
    /// Something on our side failed; the cause is logged, not shown (HTTP 500).
    Internal(String),
}

impl LtiError {
    pub fn message(&self) -> &str {
        match self {
            LtiError::BadRequest(m)
            | LtiError::Refused(m)
            | LtiError::Unbound(m)
            | LtiError::Forbidden(m)
            | LtiError::Platform(m) => m,
            LtiError::Internal(_) => "something went wrong on Afterclass's side; please try again",
        }
    }
}

impl From<sea_orm::DbErr> for LtiError {
    fn from(e: sea_orm::DbErr) -> Self {
        LtiError::Internal(e.to_string())
    }
}

/// The tool: its registrations, its key, and a client for the platforms' services.
pub struct Lti {
    pub registry: Registry,
    pub key: Arc<ToolKey>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Lti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lti").field("key", &self.key).finish_non_exhaustive()
    }
}

/// How long one call to a platform's service (token, roster) may take.
pub const PLATFORM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Lti {
    /// Reads the registrations and the key; a missing or malformed file stops the start.
    pub fn new(settings: &LtiSettings) -> Result<Lti, String> {
        let registry = Registry::read(&settings.platforms, settings.key_refresh)?;
        let key = Arc::new(ToolKey::load(&settings.key)?);
        let client = reqwest::Client::builder()
            .timeout(PLATFORM_TIMEOUT)
            .connect_timeout(PLATFORM_TIMEOUT)
            .build()
            .map_err(|e| format!("an HTTP client for the LTI platforms: {e}"))?;
        Ok(Lti { registry, key, client })
    }
}

/// Random bytes as base64url text (states, nonces, `jti`s).
pub(crate) fn random_token(bytes: usize) -> Result<String, LtiError> {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| LtiError::Internal(format!("no randomness: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}
