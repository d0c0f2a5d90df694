//! OIDC login initiation and launch validation (LTI 1.3 Core §5, Security Framework §5.1).
//!
//! **Login** (`/lti/login`): the platform names itself (`iss`, maybe `client_id`), the user
//! (`login_hint`) and where the launch should land (`target_link_uri`). The tool answers with a
//! redirect to the platform's authorisation endpoint carrying a fresh `nonce` and a `state`. The
//! state is signed by the tool (a MAC under a key derived from the tool's key, so every replica
//! checks it with no shared table) and names its nonce, the platform and its expiry; a cookie
//! named after it binds it to this browser.
//!
//! **Launch** (`/lti/launch`): the platform posts the `id_token` and the `state` back. The state
//! must be genuine, unexpired and this browser's; the token must be signed by the platform's key
//! (its JWK Set, refreshed on an unknown `kid`), issued by that platform for this tool (`aud`
//! holds the client id; with several audiences `azp` must be it), current (`exp`, `iat`), carry
//! the state's nonce (accepted once: recorded in `lti_nonces`), a registered `deployment_id`, a
//! supported `message_type` and `version` 1.3.0. Only then is anything written.

use afterclass_domain::access::ViewerRole;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{Lti, LtiError, Platform, random_token};
use crate::store::entities::lti_nonce;
use crate::store::{self, Store};

/// How long a login's state (and so its nonce) stays valid: the platform's round trip.
pub const STATE_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);
/// Clock skew allowed on `exp` and `iat`.
pub const LEEWAY_SECONDS: u64 = 60;
/// The oldest `iat` accepted: a launch is a moment, not a credential.
pub const MAX_TOKEN_AGE: chrono::Duration = chrono::Duration::hours(1);

pub const CLAIM_MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
pub const CLAIM_VERSION: &str = "https://purl.imsglobal.org/spec/lti/claim/version";
pub const CLAIM_DEPLOYMENT: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
pub const CLAIM_TARGET: &str = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri";
pub const CLAIM_RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";
pub const CLAIM_ROLES: &str = "https://purl.imsglobal.org/spec/lti/claim/roles";
pub const CLAIM_CONTEXT: &str = "https://purl.imsglobal.org/spec/lti/claim/context";
pub const CLAIM_DEEP_LINKING: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings";
pub const CLAIM_NRPS: &str = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice";

pub const RESOURCE_LINK_REQUEST: &str = "LtiResourceLinkRequest";
pub const DEEP_LINKING_REQUEST: &str = "LtiDeepLinkingRequest";

/// The parameters of a login initiation (query or form).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LoginRequest {
    pub iss: Option<String>,
    pub login_hint: Option<String>,
    pub target_link_uri: Option<String>,
    pub lti_message_hint: Option<String>,
    pub client_id: Option<String>,
    pub lti_deployment_id: Option<String>,
}

/// Where to send the browser, and the cookie that binds the state to it.
#[derive(Debug, Clone)]
pub struct LoginRedirect {
    pub location: String,
    pub cookie_name: String,
    pub state: String,
}

/// What the state carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct StateBody {
    /// The nonce.
    n: String,
    /// The platform's issuer and the client id.
    i: String,
    c: String,
    /// Expiry, seconds since the epoch.
    e: i64,
}

/// The name of the cookie that binds `state` to the browser that started the login.
pub fn state_cookie_name(state: &str) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(state.as_bytes());
    format!("afterclass_lti_{}", hex::encode(&digest[..8]))
}

/// A launch that passed every check.
#[derive(Debug, Clone)]
pub struct Launch {
    pub platform: Arc<Platform>,
    /// The person's id on the platform (their `externalId` here).
    pub sub: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: ViewerRole,
    pub deployment_id: String,
    pub context: Option<Context>,
    pub message: Message,
    /// The course roster's NRPS endpoint, when the platform offers it.
    pub memberships_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Context {
    pub id: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Open the course's cohorts.
    ResourceLink { resource_link_id: String },
    /// An instructor is placing the tool in the course: answer with a resource link.
    DeepLinking { return_url: String, data: Option<String> },
}

/// The claims of an `id_token` the tool reads.
#[derive(Debug, Deserialize)]
struct IdToken {
    sub: String,
    #[serde(default)]
    azp: Option<String>,
    aud: serde_json::Value,
    iat: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/message_type", default)]
    message_type: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/version", default)]
    version: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/deployment_id", default)]
    deployment_id: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri", default)]
    target_link_uri: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/resource_link", default)]
    resource_link: Option<ResourceLink>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/roles", default)]
    roles: Vec<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/context", default)]
    context: Option<Context>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings", default)]
    deep_linking: Option<DeepLinkingSettings>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice", default)]
    nrps: Option<NamesRoleService>,
}

#[derive(Debug, Deserialize)]
struct ResourceLink {
    id: String,
}

#[derive(Debug, Deserialize)]
struct DeepLinkingSettings {
    deep_link_return_url: String,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NamesRoleService {
    context_memberships_url: String,
}

/// The role an LTI role list maps to: instructor for the course's teaching staff (instructor,
/// teaching assistant, content developer, administrator, at context or institution level),
/// trainee for everyone else.
pub fn role_of(roles: &[String]) -> ViewerRole {
    const TEACHING: &[&str] = &[
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
        "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",
        "http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper",
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator",
        "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor",
        "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
        "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator",
        // The short forms LTI 1.3 still allows for context roles.
        "Instructor",
        "ContentDeveloper",
        "Administrator",
    ];
    if roles.iter().any(|r| TEACHING.contains(&r.as_str())) { ViewerRole::Instructor } else { ViewerRole::Trainee }
}

impl Lti {
    /// Answers a login initiation with the redirect to the platform.
    pub fn login(
        &self,
        request: &LoginRequest,
        redirect_uri: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<LoginRedirect, LtiError> {
        let missing = |name: &str| LtiError::BadRequest(format!("the login request has no `{name}`"));
        let iss = request.iss.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| missing("iss"))?;
        let login_hint =
            request.login_hint.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| missing("login_hint"))?;
        let target =
            request.target_link_uri.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| missing("target_link_uri"))?;
        let platform = self.registry.find(iss, request.client_id.as_deref().filter(|s| !s.is_empty()))?;
        if let Some(deployment) = request.lti_deployment_id.as_deref().filter(|d| !d.is_empty())
            && !platform.deploys(deployment)
        {
            return Err(LtiError::Refused(format!("the deployment `{deployment}` is not registered for `{iss}`")));
        }
        if !same_origin(target, redirect_uri) {
            return Err(LtiError::BadRequest(format!(
                "the target `{target}` is not on this Afterclass (expected an address under {})",
                origin(redirect_uri).unwrap_or_default()
            )));
        }
        let registration = &platform.registration;
        let body = StateBody {
            n: random_token(24)?,
            i: registration.issuer.clone(),
            c: registration.client_id.clone(),
            e: (now + STATE_LIFETIME).timestamp(),
        };
        let state = self.seal(&body)?;
        let mut params: Vec<(&str, &str)> = vec![
            ("scope", "openid"),
            ("response_type", "id_token"),
            ("response_mode", "form_post"),
            ("prompt", "none"),
            ("client_id", &registration.client_id),
            ("redirect_uri", redirect_uri),
            ("login_hint", login_hint),
            ("state", &state),
            ("nonce", &body.n),
        ];
        if let Some(hint) = request.lti_message_hint.as_deref() {
            params.push(("lti_message_hint", hint));
        }
        let location = reqwest::Url::parse_with_params(&registration.authorization_url, &params)
            .map_err(|e| LtiError::Internal(format!("the authorisation URL: {e}")))?;
        Ok(LoginRedirect { location: location.into(), cookie_name: state_cookie_name(&state), state })
    }

    /// Checks a launch; on success records its nonce (the only write) and returns it.
    ///
    /// `has_cookie` says whether the browser sent the cookie of that name.
    pub async fn launch(
        &self,
        store: &Store,
        id_token: Option<&str>,
        state: Option<&str>,
        has_cookie: impl Fn(&str) -> bool,
        tool_origin: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Launch, LtiError> {
        let state = state.filter(|s| !s.is_empty()).ok_or_else(|| {
            LtiError::BadRequest("the launch carries no `state`; open Afterclass again from your course".into())
        })?;
        let id_token = id_token.filter(|s| !s.is_empty()).ok_or_else(|| {
            LtiError::BadRequest("the launch carries no `id_token`; open Afterclass again from your course".into())
        })?;
        let body = self.open(state, now)?;
        if !has_cookie(&state_cookie_name(state)) {
            return Err(LtiError::Unbound(
                "this launch was started in another browser (or this browser did not keep Afterclass's cookie); \
                 open Afterclass again from your course"
                    .into(),
            ));
        }
        let platform = self.registry.find(&body.i, Some(&body.c))?;
        let registration = &platform.registration;

        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|e| LtiError::Refused(format!("the id_token is not a signed token: {e}")))?;
        let kid = header.kid.as_deref().ok_or_else(|| {
            LtiError::Refused("the id_token names no key (`kid`), so its signature cannot be checked".into())
        })?;
        let key = platform.keys.key(kid).await.map_err(|_| {
            LtiError::Refused(format!("the id_token is signed with a key (`{kid}`) that is not the platform's"))
        })?;
        if header.alg != key.algorithm {
            return Err(LtiError::Refused(format!(
                "the id_token says it is signed with {:?}, but the platform's key `{kid}` is {:?}",
                header.alg, key.algorithm
            )));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&registration.issuer]);
        validation.set_audience(&[&registration.client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<IdToken>(id_token, &key.key, &validation)
            .map_err(|e| LtiError::Refused(format!("the id_token is not valid for this tool: {}", describe(&e))))?
            .claims;

        let audiences = match &claims.aud {
            serde_json::Value::Array(list) => list.len(),
            _ => 1,
        };
        match claims.azp.as_deref() {
            Some(azp) if azp != registration.client_id => {
                return Err(LtiError::Refused(format!(
                    "the id_token is meant for the party `{azp}` (azp), not this tool"
                )));
            }
            None if audiences > 1 => {
                return Err(LtiError::Refused("the id_token has several audiences but no `azp`".into()));
            }
            _ => {}
        }
        let issued = chrono::DateTime::from_timestamp(claims.iat, 0)
            .ok_or_else(|| LtiError::Refused("the id_token's `iat` is not a time".into()))?;
        if issued > now + chrono::Duration::seconds(LEEWAY_SECONDS as i64) {
            return Err(LtiError::Refused("the id_token was issued in the future".into()));
        }
        if now - issued > MAX_TOKEN_AGE {
            return Err(LtiError::Refused("the id_token was issued more than an hour ago".into()));
        }
        if claims.nonce.as_deref() != Some(body.n.as_str()) {
            return Err(LtiError::Refused("the id_token's nonce is not the one this login sent".into()));
        }
        let deployment_id = claims
            .deployment_id
            .filter(|d| !d.is_empty())
            .ok_or_else(|| LtiError::Refused("the id_token names no deployment".into()))?;
        if !platform.deploys(&deployment_id) {
            return Err(LtiError::Refused(format!(
                "the deployment `{deployment_id}` is not registered for `{}`",
                registration.issuer
            )));
        }
        if claims.version.as_deref() != Some("1.3.0") {
            return Err(LtiError::Refused(format!(
                "the launch is LTI version `{}`; Afterclass speaks 1.3.0",
                claims.version.as_deref().unwrap_or("none")
            )));
        }
        let message = match claims.message_type.as_deref() {
            Some(RESOURCE_LINK_REQUEST) => {
                let link = claims
                    .resource_link
                    .filter(|l| !l.id.is_empty())
                    .ok_or_else(|| LtiError::Refused("the resource-link launch names no resource link".into()))?;
                if let Some(target) = claims.target_link_uri.as_deref()
                    && !same_origin(target, tool_origin)
                {
                    return Err(LtiError::Refused(format!(
                        "the launch is addressed to `{target}`, not this Afterclass"
                    )));
                }
                Message::ResourceLink { resource_link_id: link.id }
            }
            Some(DEEP_LINKING_REQUEST) => {
                let settings = claims
                    .deep_linking
                    .ok_or_else(|| LtiError::Refused("the deep-linking request has no deep-linking settings".into()))?;
                if reqwest::Url::parse(&settings.deep_link_return_url).is_err() {
                    return Err(LtiError::Refused("the deep-linking return address is not a URL".into()));
                }
                Message::DeepLinking { return_url: settings.deep_link_return_url, data: settings.data }
            }
            other => {
                return Err(LtiError::Refused(format!(
                    "the message type `{}` is not one Afterclass handles",
                    other.unwrap_or("none")
                )));
            }
        };
        // The person's id must be one Afterclass can keep, checked before anything is written.
        afterclass_domain::text::parse(
            afterclass_domain::text::Limit { field: "sub", ..afterclass_domain::text::EXTERNAL_ID },
            &claims.sub,
        )
        .map_err(|e| LtiError::Refused(format!("the launch's user id cannot be used: {}", e.message)))?;
        let launch = Launch {
            sub: claims.sub,
            name: claims.name.filter(|n| !n.trim().is_empty()),
            email: claims.email.filter(|e| !e.trim().is_empty()),
            role: role_of(&claims.roles),
            deployment_id,
            context: claims.context.filter(|c| !c.id.is_empty()),
            message,
            memberships_url: claims.nrps.map(|n| n.context_memberships_url),
            platform: platform.clone(),
        };
        use_nonce(store, &body.n, &registration.issuer, body.e, now).await?;
        Ok(launch)
    }

    fn seal(&self, body: &StateBody) -> Result<String, LtiError> {
        let json = serde_json::to_vec(body).map_err(|e| LtiError::Internal(e.to_string()))?;
        let payload = URL_SAFE_NO_PAD.encode(json);
        let mac = URL_SAFE_NO_PAD.encode(self.key.state_mac(payload.as_bytes()));
        Ok(format!("{payload}.{mac}"))
    }

    fn open(&self, state: &str, now: chrono::DateTime<chrono::Utc>) -> Result<StateBody, LtiError> {
        let forged = || LtiError::Refused("the launch's state was not issued by this Afterclass".into());
        let (payload, mac) = state.split_once('.').ok_or_else(forged)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| forged())?;
        if !self.key.state_mac_matches(payload.as_bytes(), &mac) {
            return Err(forged());
        }
        let body: StateBody = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or_else(forged)?;
        if body.e < now.timestamp() {
            return Err(LtiError::Refused(
                "the launch took too long (its state expired); open Afterclass again".into(),
            ));
        }
        Ok(body)
    }
}

/// Records a launch's nonce; a nonce already recorded is a replayed launch. Expired nonces are
/// deleted on the way (a replay of those fails on its expired state).
async fn use_nonce(
    store: &Store,
    nonce: &str,
    issuer: &str,
    expires: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), LtiError> {
    let row = lti_nonce::ActiveModel {
        nonce: Set(nonce.to_owned()),
        issuer: Set(issuer.to_owned()),
        expires_at: Set(expires.saturating_mul(1_000_000)),
    };
    if let Err(e) = row.insert(store.writer()).await {
        let known = lti_nonce::Entity::find_by_id(nonce.to_owned()).one(store.writer()).await?;
        return Err(match known {
            Some(_) => LtiError::Refused("this launch was already used; open Afterclass again from your course".into()),
            None => LtiError::from(e),
        });
    }
    lti_nonce::Entity::delete_many()
        .filter(lti_nonce::Column::ExpiresAt.lt(store::to_micros(now)))
        .exec(store.writer())
        .await?;
    Ok(())
}

/// A validation error in words (jsonwebtoken's kinds, without its internals).
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => "its signature does not match the platform's key".into(),
        ErrorKind::ExpiredSignature => "it has expired".into(),
        ErrorKind::ImmatureSignature => "it is not valid yet".into(),
        ErrorKind::InvalidAudience => "it is addressed to another tool (aud)".into(),
        ErrorKind::InvalidIssuer => "it was issued by another platform (iss)".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("it lacks the claim `{claim}`"),
        ErrorKind::InvalidAlgorithm => "it uses an algorithm the platform's key does not".into(),
        ErrorKind::Json(_) => "its claims are malformed".into(),
        other => format!("{other:?}"),
    }
}

/// The scheme, host and port of a URL.
pub fn origin(url: &str) -> Option<String> {
    reqwest::Url::parse(url).ok().map(|u| u.origin().ascii_serialization())
}

fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y && x != "null")
}
