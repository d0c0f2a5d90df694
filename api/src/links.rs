//! Signed links, for what cannot send a bearer token: short-lived links to a cohort's progress
//! chart ([`Links`]) and private calendar-feed URLs ([`Feeds`]). Both are keyed by the link key,
//! `AFTERCLASS_LINK_SECRET`, or else the HS256 token secret.
//!
//! **Chart links** are `?exp=<unix seconds>&sig=<hex HMAC-SHA256>` over
//! `progress.svg:{tenant_id}:{cohort_row_id}:{exp}`, as `Cohort.progressChartUrl` hands out.
//!
//! **Feed URLs** are `/calendar/{token}.ics`, the token `base64url(membership row id, 8 bytes
//! big-endian ‖ HMAC-SHA256)`, the HMAC over `calendar.ics:{tenant_id}:{membership_id}:{nonce}`.
//! The nonce is random per membership and kept in `calendar_feeds` (empty until the first
//! revocation); revoking replaces it, so every earlier URL stops working. The store holds no
//! token and nothing a token can be made from without the key.
//!
//! **Unsubscribe links** (in every nudge email) are `/nudges/unsubscribe/{token}`, the token
//! `base64url(membership row id ‖ nudge row id, 8 bytes big-endian each ‖ HMAC-SHA256)`, the
//! HMAC over `nudges.unsubscribe:{tenant_id}:{membership_id}:{nudge_id}`: it names the member
//! whose nudges it turns off and the nudge it came with. It does not expire (RFC 8058 asks that a
//! one-click link keep working), and using it twice changes nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Config, KeyConfig};
use crate::error::ApiError;
use crate::ids::{self, Kind};

/// How long a link from `Cohort.progressChartUrl` works.
pub const LINK_TTL_SECONDS: i64 = 15 * 60;

type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------------------------
/// The key that signs chart links and calendar-feed URLs: `AFTERCLASS_LINK_SECRET`, or else the
/// HS256 token secret; `None` for a public-key configuration without a link secret.
fn link_key(config: &Config) -> Option<Vec<u8>> {
    config.link_secret.clone().or_else(|| match &config.auth.key {
        KeyConfig::Hs256(secret) => Some(secret.clone()),
        KeyConfig::Rs256Pem(_) | KeyConfig::EdDsaPem(_) => None,
    })
}

// Chart links

const NO_LINK_KEY: &str = "progress chart links need a signing secret: this server verifies tokens with a public key, \
                           so AFTERCLASS_LINK_SECRET must be set";

/// Signs and checks the chart's short-lived links.
pub struct Links {
    key: Option<Vec<u8>>,
    public_url: Option<String>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Links").field("has_key", &self.key.is_some()).field("public_url", &self.public_url).finish()
    }
}

impl Links {
    /// The link key is `AFTERCLASS_LINK_SECRET`, or else the HS256 token secret; a public-key
    /// configuration without a link secret cannot sign links.
    pub fn new(config: &Config) -> Links {
        Links { key: link_key(config), public_url: config.public_url.clone() }
    }

    /// A link to a cohort's chart that works without a token until `now` + [`LINK_TTL_SECONDS`]:
    /// a path, prefixed by the public URL when one is configured.
    pub fn chart_url(&self, tenant_id: i64, cohort_id: i64, now: DateTime<Utc>) -> Result<String, ApiError> {
        let key = self.key.as_deref().ok_or_else(|| ApiError::forbidden(NO_LINK_KEY))?;
        let exp = now.timestamp() + LINK_TTL_SECONDS;
        let sig = link_signature(key, tenant_id, cohort_id, exp)
            .ok_or_else(|| ApiError::Internal("the link key was refused by HMAC".into()))?;
        let id = ids::encode(Kind::Cohort, cohort_id);
        Ok(format!("{}/cohorts/{}/progress.svg?exp={exp}&sig={sig}", self.public_url.as_deref().unwrap_or(""), id))
    }

    /// Whether `sig` signs this cohort's link until `exp`, compared in constant time.
    pub fn verify(&self, tenant_id: i64, cohort_id: i64, exp: i64, sig: &[u8]) -> bool {
        let Some(key) = self.key.as_deref() else { return false };
        let Ok(mut mac) = HmacSha256::new_from_slice(key) else { return false };
        mac.update(link_message(tenant_id, cohort_id, exp).as_bytes());
        mac.verify_slice(sig).is_ok()
    }
}

fn link_message(tenant_id: i64, cohort_id: i64, exp: i64) -> String {
    format!("progress.svg:{tenant_id}:{cohort_id}:{exp}")
}

/// The hex HMAC-SHA256 of `progress.svg:{tenant_id}:{cohort_id}:{exp}` under `key`.
pub fn link_signature(key: &[u8], tenant_id: i64, cohort_id: i64, exp: i64) -> Option<String> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(link_message(tenant_id, cohort_id, exp).as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// A signature as sent in a link, strictly: an even number of hex digits, nothing else.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

// ---------------------------------------------------------------------------------------------
// Calendar-feed URLs

const NO_FEED_KEY: &str = "calendar feeds need a signing secret: this server verifies tokens with a public key, so \
                           AFTERCLASS_LINK_SECRET must be set";

/// Signs and checks calendar-feed URLs.
pub struct Feeds {
    key: Option<Vec<u8>>,
    public_url: Option<String>,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Feeds").field("has_key", &self.key.is_some()).field("public_url", &self.public_url).finish()
    }
}

impl Feeds {
    /// The key is `AFTERCLASS_LINK_SECRET`, or else the HS256 token secret, as for chart links.
    pub fn new(config: &Config) -> Feeds {
        Feeds { key: link_key(config), public_url: config.public_url.clone() }
    }

    fn mac(&self, tenant_id: i64, membership_id: i64, nonce: &str) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(self.key.as_deref()?).ok()?;
        mac.update(format!("calendar.ics:{tenant_id}:{membership_id}:{nonce}").as_bytes());
        Some(mac)
    }

    /// The member's feed URL: a path, prefixed by the public URL when one is configured.
    pub fn url(&self, tenant_id: i64, membership_id: i64, nonce: &str) -> Result<String, ApiError> {
        if self.key.is_none() {
            return Err(ApiError::forbidden(NO_FEED_KEY));
        }
        let mac = self
            .mac(tenant_id, membership_id, nonce)
            .ok_or_else(|| ApiError::Internal("the link key was refused by HMAC".into()))?;
        let mut raw = membership_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&mac.finalize().into_bytes());
        Ok(format!("{}/calendar/{}.ics", self.public_url.as_deref().unwrap_or(""), URL_SAFE_NO_PAD.encode(raw)))
    }

    /// Whether `sig` signs the membership's feed with its current nonce, compared in constant time.
    pub fn verify(&self, tenant_id: i64, membership_id: i64, nonce: &str, sig: &[u8]) -> bool {
        self.mac(tenant_id, membership_id, nonce).is_some_and(|mac| mac.verify_slice(sig).is_ok())
    }
}

/// A fresh random nonce for a membership's feed.
pub fn new_nonce() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness for a calendar feed: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Reads a token into the membership row id and the signature.
pub fn parse_token(file: &str) -> Option<(i64, Vec<u8>)> {
    let token = file.strip_suffix(".ics")?;
    if token.len() > 100 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    if raw.len() != 8 + 32 {
        return None;
    }
    let (id, sig) = raw.split_at(8);
    let id = i64::from_be_bytes(id.try_into().ok()?);
    (id > 0).then(|| (id, sig.to_vec()))
}

// ---------------------------------------------------------------------------------------------
// Unsubscribe links

/// The path prefix of unsubscribe links.
pub const UNSUBSCRIBE_PATH: &str = "/nudges/unsubscribe/";

/// Signs and checks the one-click unsubscribe links of nudge emails.
pub struct Unsubscribes {
    key: Option<Vec<u8>>,
}

impl std::fmt::Debug for Unsubscribes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Unsubscribes").field("has_key", &self.key.is_some()).finish()
    }
}

impl Unsubscribes {
    /// The key is `AFTERCLASS_LINK_SECRET`, or else the HS256 token secret, as for chart links.
    pub fn new(config: &Config) -> Unsubscribes {
        Unsubscribes { key: link_key(config) }
    }

    /// Whether links can be signed (a public-key configuration needs `AFTERCLASS_LINK_SECRET`).
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    fn mac(&self, tenant_id: i64, membership_id: i64, nudge_id: i64) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(self.key.as_deref()?).ok()?;
        mac.update(format!("nudges.unsubscribe:{tenant_id}:{membership_id}:{nudge_id}").as_bytes());
        Some(mac)
    }

    /// The token of the link that turns off this member's nudges, sent with this nudge; `None`
    /// without a link key.
    pub fn token(&self, tenant_id: i64, membership_id: i64, nudge_id: i64) -> Option<String> {
        let mac = self.mac(tenant_id, membership_id, nudge_id)?;
        let mut raw = membership_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&nudge_id.to_be_bytes());
        raw.extend_from_slice(&mac.finalize().into_bytes());
        Some(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Whether `sig` signs this membership's link sent with this nudge, in constant time.
    pub fn verify(&self, tenant_id: i64, membership_id: i64, nudge_id: i64, sig: &[u8]) -> bool {
        self.mac(tenant_id, membership_id, nudge_id).is_some_and(|mac| mac.verify_slice(sig).is_ok())
    }
}

/// What an unsubscribe token names: the membership, the nudge, and the signature to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeToken {
    pub membership_id: i64,
    pub nudge_id: i64,
    pub sig: Vec<u8>,
}

/// Reads an unsubscribe token strictly; `None` for anything that is not one.
pub fn parse_unsubscribe_token(token: &str) -> Option<UnsubscribeToken> {
    if token.len() > 100 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    if raw.len() != 8 + 8 + 32 {
        return None;
    }
    let membership_id = i64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
    let nudge_id = i64::from_be_bytes(raw.get(8..16)?.try_into().ok()?);
    (membership_id > 0 && nudge_id > 0).then(|| UnsubscribeToken {
        membership_id,
        nudge_id,
        sig: raw.get(16..).unwrap_or_default().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).single().unwrap_or_default()
    }

    #[test]
    fn links_are_signed_for_one_cohort_of_one_tenant_until_they_expire() {
        let links = Links { key: Some(b"a-link-secret-for-tests".to_vec()), public_url: None };
        let now = day(1);
        let url = links.chart_url(7, 42, now).unwrap_or_default();
        let id = ids::encode(Kind::Cohort, 42);
        let exp = now.timestamp() + LINK_TTL_SECONDS;
        assert!(url.starts_with(&format!("/cohorts/{id}/progress.svg?exp={exp}&sig=")), "{url}");
        let Some((e, sig)) = url.split_once("?exp=").and_then(|(_, q)| q.split_once("&sig=")) else { panic!("{url}") };
        assert_eq!(e, exp.to_string());
        let sig = decode_hex(sig).unwrap_or_default();
        assert_eq!(sig.len(), 32);
        assert!(links.verify(7, 42, exp, &sig));
        assert!(
            !links.verify(8, 42, exp, &sig) && !links.verify(7, 43, exp, &sig) && !links.verify(7, 42, exp + 1, &sig)
        );
        assert!(!links.verify(7, 42, exp, &sig[..31]));
        let other = Links { key: Some(b"another-link-secret".to_vec()), public_url: None };
        assert!(!other.verify(7, 42, exp, &sig));
        let public = Links { public_url: Some("https://afterclass.example.edu".into()), ..links };
        assert!(
            public.chart_url(7, 42, now).unwrap_or_default().starts_with("https://afterclass.example.edu/cohorts/")
        );
    }

    #[test]
    fn without_a_link_key_the_url_explains_which_setting_is_missing() {
        let links = Links { key: None, public_url: None };
        match links.chart_url(7, 42, day(1)) {
            Err(err) => assert!(err.message().contains("AFTERCLASS_LINK_SECRET"), "{}", err.message()),
            Ok(url) => panic!("a link without a key: {url}"),
        }
    }

    #[test]
    fn hex_is_read_strictly() {
        assert_eq!(decode_hex("00ff7A"), Some(vec![0, 255, 122]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é0"), None);
    }

    #[test]
    fn unsubscribe_tokens_name_one_member_and_nudge_of_one_tenant() {
        let links = Unsubscribes { key: Some(b"a-test-key-of-some-length".to_vec()) };
        let token = links.token(3, 42, 7).unwrap();
        let parsed = parse_unsubscribe_token(&token).unwrap();
        assert_eq!((parsed.membership_id, parsed.nudge_id), (42, 7));
        assert!(links.verify(3, 42, 7, &parsed.sig));
        assert!(!links.verify(4, 42, 7, &parsed.sig), "another tenant");
        assert!(!links.verify(3, 43, 7, &parsed.sig) && !links.verify(3, 42, 8, &parsed.sig));
        let other = Unsubscribes { key: Some(b"another-key-of-some-length".to_vec()) };
        assert!(!other.verify(3, 42, 7, &parsed.sig));
        for bad in ["", "x", &token[1..], &format!("{token}A"), &"A".repeat(200)] {
            assert!(parse_unsubscribe_token(bad).is_none(), "{bad}");
        }
        assert!(Unsubscribes { key: None }.token(3, 42, 7).is_none());
    }

    #[test]
    fn tokens_name_their_membership_and_refuse_anything_else() {
        let feeds = Feeds { key: Some(b"a-test-key-of-some-length".to_vec()), public_url: None };
        let url = feeds.url(1, 42, "").unwrap();
        let file = url.strip_prefix("/calendar/").unwrap();
        let (id, sig) = parse_token(file).unwrap();
        assert_eq!(id, 42);
        assert!(feeds.verify(1, 42, "", &sig));
        assert!(!feeds.verify(2, 42, "", &sig), "another tenant");
        assert!(!feeds.verify(1, 42, "rotated", &sig), "revoked");
        assert!(parse_token("x.ics").is_none() && parse_token(file.trim_end_matches(".ics")).is_none());
        let none = Feeds { key: None, public_url: None };
        assert!(matches!(none.url(1, 42, ""), Err(ApiError::Forbidden(_))));
    }
}
