//! The web app's session: after a launch, a short-lived bearer token for `POST /graphql`, signed
//! by the tool's key and carried in the page itself (not a cookie), so that it works inside the
//! LMS's frame whatever the browser does with third-party cookies. It also carries what the app's
//! server-side helpers need from the launch (the platform, the course, the roster's address), so
//! the server keeps no session of its own.

use serde::{Deserialize, Serialize};

use super::launch::Launch;
use super::{Lti, LtiError};

/// The `iss` and `aud` of every session token.
pub const SESSION_ISSUER: &str = "afterclass-lti";
pub const SESSION_AUDIENCE: &str = "afterclass-web";
/// How long a session lasts: a working session in the LMS.
pub const SESSION_LIFETIME: chrono::Duration = chrono::Duration::hours(8);

/// The claims of a session token: those of every bearer token (`sub`, `tid`, `role`, …) and the
/// launch's context.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionClaims {
    pub sub: String,
    pub tid: String,
    pub role: String,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub lti: SessionContext,
}

/// What the session remembers of its launch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionContext {
    /// The platform's issuer and the tool's client id there.
    pub iss: String,
    pub client_id: String,
    /// The course (the LTI context id), when the launch came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course: Option<String>,
    /// The course roster's NRPS endpoint, when the platform offers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memberships_url: Option<String>,
}

impl Lti {
    /// A session for the person of `launch`.
    pub fn session(
        &self,
        launch: &Launch,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(SessionClaims, String), LtiError> {
        let registration = &launch.platform.registration;
        let claims = SessionClaims {
            sub: launch.sub.clone(),
            tid: registration.tenant.clone(),
            role: launch.role.as_claim().to_owned(),
            exp: (now + SESSION_LIFETIME).timestamp(),
            iat: now.timestamp(),
            iss: SESSION_ISSUER.into(),
            aud: SESSION_AUDIENCE.into(),
            name: launch.name.clone(),
            email: launch.email.clone(),
            lti: SessionContext {
                iss: registration.issuer.clone(),
                client_id: registration.client_id.clone(),
                course: launch.context.as_ref().map(|c| c.id.clone()),
                memberships_url: launch.memberships_url.clone(),
            },
        };
        let token = self.key.sign(&claims).map_err(LtiError::Internal)?;
        Ok((claims, token))
    }
}
