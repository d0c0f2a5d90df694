//! The LMS platform's own signing keys: a JWK Set from a file or an `http(s)://` URL, held in
//! memory and loaded again when a token names a key the set does not hold — at most once per
//! refresh interval, by one request while the others with unknown keys wait for its result. A
//! failed load keeps the keys already held.
//!
//! Each key's algorithm comes from the key, never from a token: its `alg`, or else its type
//! (RSA → RS256, OKP Ed25519 → EdDSA). Keys of other types or algorithms, keys for encryption and
//! keys without a `kid` are left out (and logged).

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::config::{JwksSource, PlatformKeysConfig};
use crate::error::ApiError;

/// How long fetching the set from its URL may take, connecting included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest key set read, from a URL or a file.
pub const MAX_SET_BYTES: usize = 64 * 1024;

/// One verification key of the platform and the one algorithm it verifies.
pub(crate) struct PlatformKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

type Keys = Arc<HashMap<String, Arc<PlatformKey>>>;

/// The platform's key set, cached.
pub(crate) struct PlatformKeys {
    source: JwksSource,
    /// Only for a URL source.
    client: Option<reqwest::Client>,
    interval: Duration,
    keys: RwLock<Keys>,
    /// Held while the set is loaded, so that one request loads it and the others wait.
    loads: tokio::sync::Mutex<Loads>,
}

#[derive(Default)]
struct Loads {
    /// When the set was last loaded or tried, successfully or not.
    last: Option<Instant>,
    /// Whether the last try failed.
    failed: bool,
}

impl PlatformKeys {
    /// A file is read at once, so that a missing or malformed one stops the start; a URL is
    /// fetched by [`PlatformKeys::load_at_start`].
    pub fn new(config: &PlatformKeysConfig) -> Result<Self, String> {
        let context = |e: String| format!("AFTERCLASS_PLATFORM_JWKS ({}): {e}", config.source);
        let (client, keys, loads) = match &config.source {
            JwksSource::File(path) => {
                let keys = read_file(path).and_then(|bytes| parse(&bytes)).map_err(context)?;
                (None, keys, Loads { last: Some(Instant::now()), failed: false })
            }
            JwksSource::Url(_) => {
                let client = reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .connect_timeout(FETCH_TIMEOUT)
                    .build()
                    .map_err(|e| context(format!("an HTTP client: {e}")))?;
                (Some(client), HashMap::new(), Loads::default())
            }
        };
        Ok(PlatformKeys {
            source: config.source.clone(),
            client,
            interval: config.refresh_interval,
            keys: RwLock::new(Arc::new(keys)),
            loads: tokio::sync::Mutex::new(loads),
        })
    }

    /// Fetches a URL source's set if nothing has been loaded yet. A failure is logged, not fatal:
    /// the configured key works meanwhile and the set is tried again when a platform token comes.
    pub async fn load_at_start(&self) {
        let mut loads = self.loads.lock().await;
        if loads.last.is_none() {
            self.load(&mut loads).await;
        }
    }

    /// The key named `kid`, loading the set again if it does not hold it and the last load is
    /// at least one interval old.
    pub async fn key(&self, kid: &str) -> Result<Arc<PlatformKey>, ApiError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut loads = self.loads.lock().await;
        // Another request may have loaded it while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if loads.last.is_none_or(|last| last.elapsed() >= self.interval) {
            self.load(&mut loads).await;
            if let Some(key) = self.cached(kid) {
                return Ok(key);
            }
        }
        let mut message = format!("invalid token: its key `{kid}` is not one of the platform's keys");
        if loads.failed {
            message.push_str(" (the platform's key set could not be loaded; see the server log)");
        }
        Err(ApiError::Unauthenticated(message))
    }

    fn cached(&self, kid: &str) -> Option<Arc<PlatformKey>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner).get(kid).cloned()
    }

    /// Loads the set and, if it is a usable one, replaces the keys held.
    async fn load(&self, loads: &mut Loads) {
        let result = match self.read().await {
            Ok(bytes) => parse(&bytes),
            Err(e) => Err(e),
        };
        loads.last = Some(Instant::now());
        match result {
            Ok(keys) => {
                tracing::info!(source = %self.source, keys = keys.len(), "loaded the platform's key set");
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
                loads.failed = false;
            }
            Err(cause) => {
                tracing::warn!(source = %self.source, %cause, "loading the platform's key set failed; the keys already held stay");
                loads.failed = true;
            }
        }
    }

    async fn read(&self) -> Result<Vec<u8>, String> {
        match (&self.source, &self.client) {
            (JwksSource::Url(url), Some(client)) => fetch(client, url).await,
            (JwksSource::Url(_), None) => Err("no HTTP client".into()),
            (JwksSource::File(path), _) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_file(&path))
                    .await
                    .unwrap_or_else(|e| Err(format!("reading the file: {e}")))
            }
        }
    }
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SET_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    if bytes.len() > MAX_SET_BYTES {
        return Err(format!("{} is larger than {MAX_SET_BYTES} bytes", path.display()));
    }
    Ok(bytes)
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("fetching {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let too_large = || format!("{url} answered with more than {MAX_SET_BYTES} bytes");
    if response.content_length().is_some_and(|n| n > MAX_SET_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading {url}: {e}"))? {
        if body.len() + chunk.len() > MAX_SET_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The usable keys of a JWK Set by `kid`; a set that is not one, or holds no usable key, is an
/// error.
fn parse(bytes: &[u8]) -> Result<HashMap<String, Arc<PlatformKey>>, String> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| format!("not a JWK Set: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.as_deref().filter(|k| !k.is_empty()) else {
            tracing::warn!("a platform key without a `kid` is left out: tokens name their key by `kid`");
            continue;
        };
        if keys.contains_key(kid) {
            tracing::warn!(kid, "a second platform key with the same `kid` is left out");
            continue;
        }
        match usable(jwk) {
            Ok(key) => {
                keys.insert(kid.to_owned(), Arc::new(key));
            }
            Err(why) => tracing::warn!(kid, %why, "a platform key is left out"),
        }
    }
    if keys.is_empty() {
        return Err(format!("none of its {} keys is an RS256 or EdDSA signing key with a `kid`", set.keys.len()));
    }
    Ok(keys)
}

/// The key and its algorithm: from the key's type, and its `alg` must agree.
fn usable(jwk: &Jwk) -> Result<PlatformKey, String> {
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return Err("its `use` is not `sig`".into());
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return Err("only RSA (RS256) and Ed25519 (EdDSA) keys are accepted".into()),
    };
    match jwk.common.key_algorithm {
        None => {}
        Some(alg) if alg == KeyAlgorithm::from(algorithm) => {}
        Some(alg) => {
            return Err(format!("its `alg` {alg} is not {algorithm:?}, the one algorithm accepted for its type"));
        }
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("its parameters: {e}"))?;
    Ok(PlatformKey { algorithm, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = r#"{ "kty": "RSA", "kid": "r1", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB" }"#;
    const ED: &str =
        r#"{ "kty": "OKP", "crv": "Ed25519", "kid": "e1", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }"#;

    fn set(keys: &[&str]) -> Vec<u8> {
        format!(r#"{{ "keys": [{}] }}"#, keys.join(",")).into_bytes()
    }

    fn with(key: &str, extra: &str) -> String {
        key.replacen('{', &format!("{{ {extra},"), 1)
    }

    #[test]
    fn the_algorithm_comes_from_the_key_type_and_its_alg_must_agree() {
        let keys = parse(&set(&[RSA, ED])).unwrap();
        assert_eq!(keys["r1"].algorithm, Algorithm::RS256);
        assert_eq!(keys["e1"].algorithm, Algorithm::EdDSA);
        let keys = parse(&set(&[&with(RSA, r#""alg": "RS256""#), &with(ED, r#""alg": "EdDSA""#)])).unwrap();
        assert_eq!(keys.len(), 2);
        // An RSA key that claims EdDSA, or another RSA algorithm, is left out.
        for alg in ["EdDSA", "RS512", "PS256", "HS256"] {
            let keys = parse(&set(&[&with(RSA, &format!(r#""alg": "{alg}""#)), ED])).unwrap();
            assert!(!keys.contains_key("r1"), "{alg}");
        }
        assert!(!parse(&set(&[RSA, &with(ED, r#""alg": "RS256""#)])).unwrap().contains_key("e1"));
    }

    #[test]
    fn symmetric_encryption_and_nameless_keys_are_left_out() {
        let oct = r#"{ "kty": "oct", "kid": "s1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ" }"#;
        let enc = with(&RSA.replace("\"r1\"", "\"r2\""), r#""use": "enc""#);
        let nameless = ED.replace(r#""kid": "e1","#, "");
        let keys = parse(&set(&[oct, &enc, &nameless, RSA])).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["r1"]);
        // A set of nothing usable is refused as a whole.
        let err = parse(&set(&[oct, &enc])).err().unwrap_or_default();
        assert!(err.contains("none of its 2 keys"), "{err}");
    }

    #[test]
    fn what_is_not_a_key_set_is_refused() {
        for bad in ["", "not json", "[]", r#"{ "keys": 3 }"#, r#"{ "keys": [] }"#, r#"{ "kty": "RSA" }"#] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
