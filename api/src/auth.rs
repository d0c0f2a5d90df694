//! Bearer tokens: verifying them, minting them for local use, and turning verified claims into
//! the request's `Viewer` (creating the tenant and person on first use).
//!
//! The algorithm is fixed by configuration and never read from the token: HS256 with a shared
//! secret, or RS256 / EdDSA with a PEM public key. Beside it, the LMS platform may sign
//! integration tokens with keys of its own JWK Set (see [`platform`]); there the key's algorithm
//! decides. `exp`, `sub`, `tid` and `role` are required; `iss` and `aud` are checked when
//! configured — the same rules whichever key signed. Whichever key signed, and for the web app's
//! sessions too, a token is refused when it names a critical header extension (`crit`: none is
//! understood here), was issued in the future beyond the clock skew ([`CLOCK_SKEW`]) or is meant
//! to live longer than the configured maximum (`AFTERCLASS_JWT_MAX_LIFETIME`).

pub(crate) mod platform;

use afterclass_domain::access::ViewerRole;
use afterclass_domain::text::{self, DISPLAY_NAME, EMAIL, EXTERNAL_ID};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use serde::{Deserialize, Serialize};

use crate::config::{AuthConfig, KeyConfig};
use crate::error::ApiError;
use crate::rate::Limiter;
use crate::store::entities::{person, tenant};
use crate::store::{self, Store};

/// The claims Afterclass reads. Unknown claims are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The person's `externalId` in the LMS.
    pub sub: String,
    /// The tenant.
    pub tid: String,
    /// `instructor`, `trainee` or `integration`.
    pub role: String,
    /// Seconds since the epoch; a fractional value (allowed by RFC 7519) is rounded down.
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// One audience or several (RFC 7519 allows both); checked by the verifier when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let seconds = f64::deserialize(d)?;
    if seconds.is_finite() { Ok(seconds.floor() as i64) } else { Err(serde::de::Error::custom("exp must be a number")) }
}

/// The clock skew forgiven between the token's issuer and this service, in seconds: for `exp`,
/// `nbf` and `iat` alike.
pub const CLOCK_SKEW: u64 = 30;

/// Verifies bearer tokens: against the configured key, or a platform key the token names.
pub struct Verifier {
    /// The longest a token may be valid, in seconds.
    max_lifetime: i64,
    /// The configured key and its one algorithm.
    key: DecodingKey,
    algorithm: Algorithm,
    /// The claim rules, the same for every key, once for each algorithm a key may have.
    rules: Vec<(Algorithm, Validation)>,
    /// The LMS platform's keys, when a key set is configured.
    platform: Option<platform::PlatformKeys>,
    /// The web app's sessions, signed by the LTI tool's own key (see `lti::session`).
    sessions: Option<Sessions>,
}

/// The key and rules of the web app's session tokens.
struct Sessions {
    kid: String,
    key: DecodingKey,
    rules: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithm", &self.algorithm)
            .field("platform_keys", &self.platform.is_some())
            .finish()
    }
}

/// The one role a platform key may sign: the LMS's service account (see [`Verifier::verify`]).
pub const PLATFORM_ROLE: ViewerRole = ViewerRole::Integration;

impl Verifier {
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        let (key, algorithm) = match &config.key {
            KeyConfig::Hs256(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
            KeyConfig::Rs256Pem(pem) => {
                (DecodingKey::from_rsa_pem(pem).map_err(|e| format!("the RS256 public key: {e}"))?, Algorithm::RS256)
            }
            KeyConfig::EdDsaPem(pem) => {
                (DecodingKey::from_ed_pem(pem).map_err(|e| format!("the EdDSA public key: {e}"))?, Algorithm::EdDSA)
            }
        };
        let mut algorithms = vec![algorithm];
        for platform in [Algorithm::RS256, Algorithm::EdDSA] {
            if config.platform_keys.is_some() && !algorithms.contains(&platform) {
                algorithms.push(platform);
            }
        }
        let rules = algorithms.into_iter().map(|a| (a, claim_rules(config, a))).collect();
        let platform = config.platform_keys.as_ref().map(platform::PlatformKeys::new).transpose()?;
        let max_lifetime = i64::try_from(config.max_lifetime.as_secs()).unwrap_or(i64::MAX);
        Ok(Verifier { max_lifetime, key, algorithm, rules, platform, sessions: None })
    }

    /// Accepts the web app's session tokens: RS256 tokens naming `kid`, verified by `key`, with
    /// this `iss` and `aud`, for instructors and trainees only.
    pub fn accept_sessions(&mut self, kid: &str, key: DecodingKey, issuer: &str, audience: &str) {
        let mut rules = Validation::new(Algorithm::RS256);
        rules.set_issuer(&[issuer]);
        rules.set_audience(&[audience]);
        rules.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        rules.leeway = CLOCK_SKEW;
        self.sessions = Some(Sessions { kid: kid.to_owned(), key, rules });
    }

    /// The claims of a valid session token, as `T`; `UNAUTHENTICATED` for any other token.
    pub fn verify_session<T: serde::de::DeserializeOwned>(&self, token: &str) -> Result<T, ApiError> {
        let header = self.header(token)?;
        match &self.sessions {
            Some(sessions)
                if header.kid.as_deref() == Some(sessions.kid.as_str()) && header.alg == Algorithm::RS256 =>
            {
                let claims = jsonwebtoken::decode::<serde_json::Value>(token, &sessions.key, &sessions.rules)
                    .map_err(invalid)?
                    .claims;
                let seconds =
                    |name: &str| claims.get(name).and_then(serde_json::Value::as_f64).map(|s| s.floor() as i64);
                let exp = seconds("exp").ok_or_else(|| ApiError::Unauthenticated("invalid token: no exp".into()))?;
                self.check_times(exp, seconds("iat"))?;
                serde_json::from_value::<T>(claims)
                    .map_err(|e| ApiError::Unauthenticated(format!("invalid token claims: {e}")))
            }
            _ => Err(ApiError::Unauthenticated("this needs the session of a launch from the LMS".into())),
        }
    }

    /// The token's header, refused when it names a critical extension: RFC 7515 §4.1.11 has a
    /// recipient refuse a token whose `crit` lists one it does not understand, and this service
    /// understands none (an empty list is malformed).
    fn header(&self, token: &str) -> Result<Header, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        match &header.crit {
            None => Ok(header),
            Some(names) if names.is_empty() => {
                Err(ApiError::Unauthenticated("invalid token: its `crit` header is an empty list".into()))
            }
            Some(names) => Err(ApiError::Unauthenticated(format!(
                "invalid token: it requires the header extension(s) {} (`crit`), which this service does not \
                 understand",
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The rules on a token's times that jsonwebtoken does not check: not issued in the future
    /// beyond [`CLOCK_SKEW`], and valid for no longer than the maximum lifetime, counted from
    /// `iat` (or from now when there is none).
    fn check_times(&self, exp: i64, iat: Option<i64>) -> Result<(), ApiError> {
        let now = store::now().timestamp();
        let skew = CLOCK_SKEW as i64;
        if let Some(iat) = iat
            && iat > now.saturating_add(skew)
        {
            return Err(ApiError::Unauthenticated(format!(
                "invalid token: it was issued {} s in the future (iat); at most {skew} s of clock skew is forgiven",
                iat - now
            )));
        }
        let lifetime = exp.saturating_sub(iat.unwrap_or(now));
        if lifetime > self.max_lifetime {
            let from = if iat.is_some() { "exp - iat" } else { "exp - now" };
            return Err(ApiError::Unauthenticated(format!(
                "invalid token: it is valid for {lifetime} s ({from}), longer than the {} s this service accepts",
                self.max_lifetime
            )));
        }
        Ok(())
    }

    /// Loads the platform's key set from its URL, if one is configured and nothing is loaded yet
    /// (a file is read by [`Verifier::new`]). A failure is logged and leaves the configured key
    /// working.
    pub async fn load_platform_keys(&self) {
        if let Some(platform) = &self.platform {
            platform.load_at_start().await;
        }
    }

    /// The claims of a valid token; `UNAUTHENTICATED` with the reason otherwise.
    ///
    /// With a platform key set configured, a token whose header names a `kid` (and is not HS256)
    /// is verified by that platform key, with the key's algorithm, and must carry the role
    /// `integration`; every other token is verified by the configured key as before. The claim
    /// rules are the same either way.
    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let header = self.header(token)?;
        if let Some(sessions) = &self.sessions
            && header.kid.as_deref() == Some(sessions.kid.as_str())
        {
            let claims = self.verify_session::<Claims>(token)?;
            if claims.role == ViewerRole::Integration.as_claim() {
                return Err(ApiError::Unauthenticated("invalid token: a session is never the integration's".into()));
            }
            return Ok(claims);
        }
        let (platform, kid) = match (&self.platform, header.kid.as_deref()) {
            // An HS256 token is the configured secret's, whatever `kid` it carries.
            (Some(platform), Some(kid)) if header.alg != Algorithm::HS256 => (platform, kid),
            _ => return self.decode(token, &self.key, self.algorithm),
        };
        let key = platform.key(kid).await?;
        if header.alg != key.algorithm {
            return Err(ApiError::Unauthenticated(format!(
                "invalid token: it names the platform key `{kid}`, which verifies {:?}, but says it is signed with {:?}",
                key.algorithm, header.alg
            )));
        }
        let claims = self.decode(token, &key.key, key.algorithm)?;
        if claims.role != PLATFORM_ROLE.as_claim() {
            return Err(ApiError::Unauthenticated(format!(
                "invalid token: a platform key signs only `{}` tokens, and this one carries the role `{}`",
                PLATFORM_ROLE.as_claim(),
                claims.role
            )));
        }
        Ok(claims)
    }

    /// The one place claims are checked, whichever key verifies the signature.
    fn decode(&self, token: &str, key: &DecodingKey, algorithm: Algorithm) -> Result<Claims, ApiError> {
        let (_, validation) = self
            .rules
            .iter()
            .find(|(a, _)| *a == algorithm)
            .ok_or_else(|| ApiError::Unauthenticated(format!("invalid token: {algorithm:?} is not accepted")))?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, validation).map_err(invalid)?.claims;
        self.check_times(claims.exp, claims.iat)?;
        Ok(claims)
    }
}

fn invalid(e: jsonwebtoken::errors::Error) -> ApiError {
    ApiError::Unauthenticated(format!("invalid token: {e}"))
}

/// What every token must satisfy, signed with `algorithm`: `exp` and `sub` present (and `tid`,
/// `role` by [`Claims`]), not expired or not yet valid ([`CLOCK_SKEW`] of leeway), and `iss` and
/// `aud` when configured.
fn claim_rules(config: &AuthConfig, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    let mut required = vec!["exp", "sub"];
    match &config.issuer {
        Some(iss) => {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    match &config.audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation.validate_nbf = true;
    validation.leeway = CLOCK_SKEW;
    validation
}

/// Signs tokens for local use (`afterclass token`, `afterclass demo`). Only an HS256
/// configuration can sign; with a public key, tokens come from the identity provider.
pub struct Signer {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(config: &AuthConfig) -> Result<Self, String> {
        match &config.key {
            KeyConfig::Hs256(secret) => Ok(Signer {
                key: EncodingKey::from_secret(secret),
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
            }),
            _ => Err("tokens can be minted only with an HS256 secret; with a public key, your identity provider \
                      issues them"
                .into()),
        }
    }

    /// A token for `sub` in tenant `tid` with `role`, valid for `ttl` from `now`.
    pub fn sign(
        &self,
        sub: &str,
        tid: &str,
        role: ViewerRole,
        name: Option<&str>,
        ttl: chrono::Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, String> {
        let claims = Claims {
            sub: sub.to_owned(),
            tid: tid.to_owned(),
            role: role.as_claim().to_owned(),
            exp: (now + ttl).timestamp(),
            iat: Some(now.timestamp()),
            iss: self.issuer.clone(),
            aud: self.audience.clone().map(serde_json::Value::from),
            name: name.map(str::to_owned),
            email: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key).map_err(|e| e.to_string())
    }
}

/// Who is asking: their tenant, their token role and, for people, their `Person` row.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub tenant_id: i64,
    pub tenant_key: String,
    pub role: ViewerRole,
    /// `None` for the integration account, which acts for the tenant, not as a person.
    pub person: Option<person::Model>,
}

impl Viewer {
    pub fn person_id(&self) -> Option<i64> {
        self.person.as_ref().map(|p| p.id)
    }
}

/// Turns verified claims into a viewer, creating the tenant and the person on first use. Every
/// viewer is admitted by `rate` first, the creations it needs included: over a budget is
/// `RATE_LIMITED`, and nothing is created.
pub async fn viewer(store: &Store, rate: &Limiter, claims: &Claims) -> Result<Viewer, ApiError> {
    let role = ViewerRole::parse_claim(&claims.role)
        .ok_or_else(|| ApiError::Unauthenticated(format!("unknown role `{}`", claims.role)))?;
    let bad =
        |e: afterclass_domain::DomainError| ApiError::Unauthenticated(format!("invalid token claims: {}", e.message));
    let tenant_key = text::parse(text::Limit { field: "tid", ..EXTERNAL_ID }, &claims.tid).map_err(bad)?;
    let external_id = text::parse(text::Limit { field: "sub", ..EXTERNAL_ID }, &claims.sub).map_err(bad)?;
    let name = claims.name.as_deref().map(|n| text::parse(DISPLAY_NAME, n)).transpose().ok().flatten();
    let email = claims.email.as_deref().map(|e| text::parse(EMAIL, e)).transpose().ok().flatten();

    // The common case in one statement: a person already known in an existing tenant.
    if role != ViewerRole::Integration
        && let Some(person) = known_person(store, &tenant_key, &external_id).await?
    {
        rate.admit(claims, false, false).await?;
        return Ok(Viewer { tenant_id: person.tenant_id, tenant_key, role, person: Some(person) });
    }
    let is_person = role != ViewerRole::Integration;
    let tenant = match find_tenant(store, &tenant_key).await? {
        Some(tenant) => {
            // For a person, `known_person` found no such person in this tenant.
            rate.admit(claims, false, is_person).await?;
            tenant
        }
        None => {
            // A new tenant, and for a person a new person too.
            rate.admit(claims, true, is_person).await?;
            create_tenant(store, &tenant_key).await?
        }
    };
    let person = match is_person {
        true => Some(ensure_person(store, tenant.id, &external_id, name.as_deref(), email.as_deref()).await?),
        false => None,
    };
    Ok(Viewer { tenant_id: tenant.id, tenant_key, role, person })
}

/// The person with `external_id` in the tenant keyed `tenant_key`, if both exist.
async fn known_person(store: &Store, tenant_key: &str, external_id: &str) -> Result<Option<person::Model>, ApiError> {
    let tenant =
        tenant::Entity::find().select_only().column(tenant::Column::Id).filter(tenant::Column::Key.eq(tenant_key));
    Ok(person::Entity::find()
        .filter(person::Column::TenantId.in_subquery(tenant.into_query()))
        .filter(person::Column::ExternalId.eq(external_id))
        .one(store.reader())
        .await?)
}

async fn find_tenant(store: &Store, key: &str) -> Result<Option<tenant::Model>, ApiError> {
    Ok(tenant::Entity::find().filter(tenant::Column::Key.eq(key)).one(store.reader()).await?)
}

async fn create_tenant(store: &Store, key: &str) -> Result<tenant::Model, ApiError> {
    let row = tenant::ActiveModel {
        key: Set(key.to_owned()),
        created_at: Set(store::to_micros(store::now())),
        ..Default::default()
    };
    match row.insert(store.writer()).await {
        Ok(t) => Ok(t),
        // Another request created it first.
        Err(_) => tenant::Entity::find()
            .filter(tenant::Column::Key.eq(key))
            .one(store.writer())
            .await?
            .ok_or_else(|| ApiError::Internal(format!("tenant `{key}` could not be created"))),
    }
}

/// Finds or creates the person with `external_id` in a tenant (just in time or by roster).
pub async fn ensure_person(
    store: &Store,
    tenant_id: i64,
    external_id: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> Result<person::Model, ApiError> {
    ensure_person_on(store.reader(), store.writer(), tenant_id, external_id, name, email).await
}

/// As [`ensure_person`], reading from `read` and writing through `write` (which may be a
/// transaction).
pub async fn ensure_person_on(
    read: &impl sea_orm::ConnectionTrait,
    write: &impl sea_orm::ConnectionTrait,
    tenant_id: i64,
    external_id: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> Result<person::Model, ApiError> {
    let query = || {
        person::Entity::find()
            .filter(person::Column::TenantId.eq(tenant_id))
            .filter(person::Column::ExternalId.eq(external_id))
    };
    if let Some(p) = query().one(read).await? {
        return Ok(p);
    }
    let row = person::ActiveModel {
        tenant_id: Set(tenant_id),
        external_id: Set(external_id.to_owned()),
        display_name: Set(name.unwrap_or(external_id).to_owned()),
        email: Set(email.map(str::to_owned)),
        created_at: Set(store::to_micros(store::now())),
        ..Default::default()
    };
    match row.insert(write).await {
        Ok(p) => Ok(p),
        Err(_) => query()
            .one(write)
            .await?
            .ok_or_else(|| ApiError::Internal(format!("person `{external_id}` could not be created"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// jsonwebtoken needs exactly one crypto backend; this proves the one chosen works.
    #[tokio::test]
    async fn a_minted_token_verifies_with_the_same_secret_and_not_another() {
        let config = |s: &[u8]| AuthConfig {
            key: KeyConfig::Hs256(s.to_vec()),
            issuer: None,
            audience: None,
            platform_keys: None,
            max_lifetime: crate::config::DEFAULT_MAX_TOKEN_LIFETIME,
        };
        let now = chrono::Utc::now();
        let token = Signer::new(&config(b"secret-one"))
            .and_then(|s| s.sign("ada", "t1", ViewerRole::Instructor, Some("Ada"), chrono::Duration::hours(1), now))
            .unwrap_or_default();
        let claims = Verifier::new(&config(b"secret-one")).map_err(ApiError::Internal);
        let claims = match claims {
            Ok(verifier) => verifier.verify(&token).await,
            Err(e) => Err(e),
        };
        assert!(matches!(claims, Ok(ref c) if c.sub == "ada" && c.tid == "t1" && c.role == "instructor"));
        let other = Verifier::new(&config(b"secret-two")).map_err(ApiError::Internal);
        let other = match other {
            Ok(verifier) => verifier.verify(&token).await,
            Err(e) => Err(e),
        };
        assert!(matches!(other, Err(ApiError::Unauthenticated(_))));
    }
}
