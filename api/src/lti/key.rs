//! The tool's own RSA key: it signs the tool's LTI messages (deep-linking responses, the client
//! assertion for the platform's token endpoint) and the web app's sessions, and its public half is
//! published at `GET /lti/jwks`. LTI 1.3 requires RS256 of tools, so the key is RSA (2048 bits).

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

use crate::config::ToolKeySource;

/// The size of a generated key.
pub const GENERATED_BITS: usize = 2048;

/// The tool's key pair, ready to sign and verify.
pub struct ToolKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public modulus and exponent, base64url.
    n: String,
    e: String,
    /// The key of the MAC that binds a login's `state` (derived from the private key, so every
    /// replica with the same key agrees).
    state_secret: [u8; 32],
}

impl std::fmt::Debug for ToolKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl ToolKey {
    /// Reads the configured key, or the local one beside a SQLite store (created on first use).
    pub fn load(source: &ToolKeySource) -> Result<ToolKey, String> {
        match source {
            ToolKeySource::Configured(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                ToolKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
            }
            ToolKeySource::Local(path) => match std::fs::read_to_string(path) {
                Ok(pem) => ToolKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_local(path),
                Err(e) => Err(format!("reading {}: {e}", path.display())),
            },
        }
    }

    /// A key from PEM text: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<ToolKey, String> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| format!("not an RSA private key in PEM (PKCS#8 or PKCS#1): {e}"))?;
        ToolKey::from_rsa(&key)
    }

    /// A freshly generated key, and its PEM (PKCS#8).
    pub fn generate() -> Result<(ToolKey, String), String> {
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, GENERATED_BITS)
            .map_err(|e| format!("generating an RSA key: {e}"))?;
        let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| format!("encoding the RSA key: {e}"))?;
        Ok((ToolKey::from_rsa(&key)?, pem.to_string()))
    }

    fn from_rsa(key: &RsaPrivateKey) -> Result<ToolKey, String> {
        if key.size() * 8 < GENERATED_BITS {
            return Err(format!("the key has {} bits; LTI platforms expect at least {GENERATED_BITS}", key.size() * 8));
        }
        let der = key.to_pkcs1_der().map_err(|e| format!("encoding the RSA key: {e}"))?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        // The RFC 7638 thumbprint names the key: the same key has the same `kid` on every replica.
        let thumbprint = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint.as_bytes()));
        let mut state = Sha256::new();
        state.update(b"afterclass lti state v1\0");
        state.update(der.as_bytes());
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|e| format!("the RSA public key: {e}"))?;
        Ok(ToolKey {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            decoding,
            n,
            e,
            state_secret: state.finalize().into(),
        })
    }

    /// The key's id, in the header of everything it signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key, for verifying what this key signed (the web app's sessions).
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The JWK Set served at `GET /lti/jwks`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e,
        }] })
    }

    /// `claims` as a JWT signed RS256 with this key, naming it by `kid`.
    pub fn sign<T: serde::Serialize>(&self, claims: &T) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| format!("signing: {e}"))
    }

    /// The MAC of a login's state.
    pub(super) fn state_mac(&self, data: &[u8]) -> Vec<u8> {
        use hmac::Mac;
        self.state_hmac(data).map(|mac| mac.finalize().into_bytes().to_vec()).unwrap_or_default()
    }

    /// Whether `mac` is the MAC of `data`, compared in constant time.
    pub(super) fn state_mac_matches(&self, data: &[u8], mac: &[u8]) -> bool {
        use hmac::Mac;
        self.state_hmac(data).is_some_and(|h| h.verify_slice(mac).is_ok())
    }

    fn state_hmac(&self, data: &[u8]) -> Option<hmac::Hmac<Sha256>> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.state_secret).ok()?;
        mac.update(data);
        Some(mac)
    }
}

/// Generates the local key and writes it owner-only; another process that wrote it first wins.
fn create_local(path: &Path) -> Result<ToolKey, String> {
    let (key, pem) = ToolKey::generate()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(pem.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), kid = key.kid(), "created the LTI tool's key");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let pem = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            ToolKey::from_pem(&pem)
        }
        Err(e) => Err(format!("creating {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_reads_back_with_the_same_kid_and_verifies_what_it_signs() {
        let Ok((key, pem)) = ToolKey::generate() else { panic!("generating a key") };
        let again = ToolKey::from_pem(&pem).map(|k| k.kid().to_owned()).unwrap_or_default();
        assert_eq!(again, key.kid());
        let token = key.sign(&serde_json::json!({ "sub": "x", "exp": 4_000_000_000u64 })).unwrap_or_default();
        let header = jsonwebtoken::decode_header(&token).ok().and_then(|h| h.kid);
        assert_eq!(header.as_deref(), Some(key.kid()));
        let mut rules = jsonwebtoken::Validation::new(Algorithm::RS256);
        rules.validate_aud = false;
        let verified = jsonwebtoken::decode::<serde_json::Value>(&token, key.decoding(), &rules);
        assert!(verified.is_ok(), "{verified:?}");
        assert_eq!(key.jwks()["keys"][0]["kid"], key.kid());
        assert!(key.jwks()["keys"][0].get("d").is_none(), "public only");
        assert!(ToolKey::from_pem("not a key").is_err());
    }
}
