//! Platform keys: an LMS signs its integration tokens with keys of its own JWK Set, read from a
//! file or fetched from a URL. A token names its key by `kid`; the key's algorithm decides, never
//! the token's header; only `integration` tokens are accepted from such keys; every other claim is
//! checked as for HS256 tokens, which work as before. An unknown `kid` loads the set again at most
//! once per refresh interval however many requests ask, and a failed load keeps the keys held.
//! Every refusal is the API's one answer to a bad token, and writes nothing.
//!
//! The fixtures were made once with `openssl genpkey` (two RSA 2048 keys and one Ed25519 key);
//! `platform-jwks.json` holds their public halves: `platform-rsa-1` and `platform-rsa-2` with
//! `"alg": "RS256"`, `platform-ed25519-1` without an `alg` (its type says EdDSA).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use afterclass::config::{Config, JwksSource, KeyConfig, PlatformKeysConfig};
use afterclass_tests::serde_json::{self, Value, json};
use afterclass_tests::{Backend, SECRET, TestApp, ops};
use futures_util::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const JWKS: &str = include_str!("../fixtures/platform-jwks.json");
const JWKS_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/platform-jwks.json");
const RSA_1: &[u8] = include_bytes!("../fixtures/platform-rsa-1.pem");
const RSA_2: &[u8] = include_bytes!("../fixtures/platform-rsa-2.pem");
const ED_1: &[u8] = include_bytes!("../fixtures/platform-ed25519-1.pem");
/// An RSA key in no platform set (the one `tokens.rs` configures as the server's own key).
const OUTSIDER: &[u8] = include_bytes!("../fixtures/rs256-private.pem");
const OUTSIDER_PUBLIC: &[u8] = include_bytes!("../fixtures/rs256-public.pem");

#[derive(Clone, Copy)]
enum Key {
    Rsa(&'static [u8]),
    Ed(&'static [u8]),
}

/// Claims a valid token would carry, valid for an hour.
fn claims(sub: &str, tid: &str, role: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "tid": tid, "role": role, "name": format!("{sub} (test)"), "iat": now, "exp": now + 3600 })
}

/// The LMS's own claims in tenant `tid`.
fn lms(tid: &str) -> Value {
    claims("lms", tid, "integration")
}

/// A token whose header says `alg` and `kid`, signed with `key`.
fn sign(alg: Algorithm, kid: Option<&str>, key: Key, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let key = match key {
        Key::Rsa(pem) => EncodingKey::from_rsa_pem(pem).expect("an RSA fixture key"),
        Key::Ed(pem) => EncodingKey::from_ed_pem(pem).expect("an Ed25519 fixture key"),
    };
    jsonwebtoken::encode(&header, claims, &key).expect("signing a token")
}

fn rsa_1(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("platform-rsa-1"), Key::Rsa(RSA_1), claims)
}

fn rsa_2(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("platform-rsa-2"), Key::Rsa(RSA_2), claims)
}

fn ed_1(claims: &Value) -> String {
    sign(Algorithm::EdDSA, Some("platform-ed25519-1"), Key::Ed(ED_1), claims)
}

fn hs256(kid: Option<&str>, claims: &Value, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("signing a token")
}

/// The committed set with only the keys named.
fn set_of(kids: &[&str]) -> String {
    let set: Value = serde_json::from_str(JWKS).expect("the fixture set");
    let keys: Vec<&Value> =
        set["keys"].as_array().expect("keys").iter().filter(|k| kids.iter().any(|kid| k["kid"] == *kid)).collect();
    assert_eq!(keys.len(), kids.len(), "every key named is in the fixture set");
    json!({ "keys": keys }).to_string()
}

fn platform_keys(source: JwksSource, refresh_interval: Duration) -> impl Fn(&mut Config) {
    move |cfg| {
        cfg.auth.platform_keys = Some(PlatformKeysConfig { source: source.clone(), refresh_interval });
    }
}

/// The test server (HS256 with the harness's secret) with the committed set as a file.
async fn file_server() -> TestApp {
    TestApp::sqlite_with(platform_keys(JwksSource::File(JWKS_FILE.into()), Duration::from_secs(60))).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The token is accepted as the LMS's integration account of `tid`.
async fn assert_integration(app: &TestApp, token: &str, tid: &str) {
    let (status, body) = app.ask_viewer(Some(&bearer(token))).await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["viewer"], json!({ "person": null, "role": "INTEGRATION", "tenantId": tid }), "{body:#}");
}

/// The token is refused, writing nothing, and the message says `why`.
async fn assert_refused_for(app: &TestApp, token: &str, why: &str) {
    let body = app.assert_refused_token(token).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "expected `{why}` in: {body:#}");
}

/// A cohort in tenant `tid`, created by an instructor with an HS256 token.
async fn cohort_in(app: &TestApp, tid: &str, name: &str) {
    let data = app
        .ok(
            &afterclass_tests::instructor("ada", tid),
            ops::CREATE,
            json!({ "input": { "name": name, "domain": "Rust programming", "purpose": "Keep practising",
                "horizon": "SHORT_TERM", "codeOfConduct": "Be kind." } }),
        )
        .await;
    assert_eq!(data["createCohort"]["cohort"]["name"], name, "{data:#}");
}

/// The LMS reads its tenant's cohorts (and only those) with a platform-signed token.
async fn reads_its_tenants_cohorts(app: &TestApp, token: &str) {
    let data =
        app.ok(token, "{ viewer { role tenantId } cohorts(first: 10) { totalCount nodes { name } } }", json!({})).await;
    assert_eq!(data["viewer"], json!({ "role": "INTEGRATION", "tenantId": "uni-a" }), "{data:#}");
    assert_eq!(data["cohorts"], json!({ "totalCount": 1, "nodes": [{ "name": "Rust practice circle" }] }), "{data:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rs256_integration_token_from_the_file_set_is_accepted_and_reads_its_tenants_data() {
    let app = file_server().await;
    cohort_in(&app, "uni-a", "Rust practice circle").await;
    cohort_in(&app, "uni-b", "Another tenant's circle").await;
    reads_its_tenants_cohorts(&app, &rsa_1(&lms("uni-a"))).await;
    reads_its_tenants_cohorts(&app, &rsa_2(&lms("uni-a"))).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eddsa_integration_token_from_the_file_set_is_accepted_and_reads_its_tenants_data() {
    let app = file_server().await;
    cohort_in(&app, "uni-a", "Rust practice circle").await;
    cohort_in(&app, "uni-b", "Another tenant's circle").await;
    reads_its_tenants_cohorts(&app, &ed_1(&lms("uni-a"))).await;
    // Its first use in a tenant created the tenant, and no person (the two are the instructors).
    assert_integration(&app, &ed_1(&lms("uni-c")), "uni-c").await;
    assert_eq!((app.count("tenants").await, app.count("persons").await), (3, 2));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_decides_the_algorithm_never_the_tokens_header() {
    let app = file_server().await;
    let lms = lms("uni-m");
    // The header says RS256 (and an RSA key signed it) but the kid names the Ed25519 key.
    let token = sign(Algorithm::RS256, Some("platform-ed25519-1"), Key::Rsa(RSA_1), &lms);
    assert_refused_for(&app, &token, "platform-ed25519-1").await;
    // The header says EdDSA but the kid names an RSA key.
    let token = sign(Algorithm::EdDSA, Some("platform-rsa-1"), Key::Ed(ED_1), &lms);
    assert_refused_for(&app, &token, "platform-rsa-1").await;
    // Another RSA algorithm under an RS256 key.
    let token = sign(Algorithm::PS256, Some("platform-rsa-1"), Key::Rsa(RSA_1), &lms);
    assert_refused_for(&app, &token, "platform-rsa-1").await;
    // Key confusion: HS256 under a platform kid, keyed with the published set or the RSA key's
    // PEM. HS256 tokens are the configured secret's, whatever kid they name.
    for secret in [JWKS.as_bytes(), RSA_1, OUTSIDER_PUBLIC] {
        assert_refused_for(&app, &hs256(Some("platform-rsa-1"), &lms, secret), "invalid token").await;
    }
    // Unsigned, under a platform kid.
    let unsigned =
        format!("{}.{}.", base64_url(r#"{"alg":"none","kid":"platform-rsa-1"}"#), base64_url(&lms.to_string()));
    assert_refused_for(&app, &unsigned, "invalid token").await;
    app.stop().await;
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kid_the_set_does_not_hold_is_refused() {
    let app = file_server().await;
    let token = sign(Algorithm::RS256, Some("platform-rsa-9"), Key::Rsa(RSA_1), &lms("uni-m"));
    assert_refused_for(&app, &token, "`platform-rsa-9` is not one of the platform's keys").await;
    let token = sign(Algorithm::RS256, Some(""), Key::Rsa(RSA_1), &lms("uni-m"));
    assert_refused_for(&app, &token, "not one of the platform's keys").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_by_another_key_under_a_known_kid_is_refused() {
    let app = file_server().await;
    let lms = lms("uni-m");
    for (kid, key) in [("platform-rsa-1", OUTSIDER), ("platform-rsa-1", RSA_2), ("platform-rsa-2", RSA_1)] {
        let token = sign(Algorithm::RS256, Some(kid), Key::Rsa(key), &lms);
        assert_refused_for(&app, &token, "invalid token").await;
    }
    // A signature taken from other claims.
    let genuine = rsa_1(&lms);
    let mut other = lms.clone();
    other["tid"] = json!("uni-other");
    let forged = rsa_1(&other);
    let forged = format!(
        "{}.{}",
        forged.rsplit_once('.').map(|(m, _)| m).unwrap_or_default(),
        genuine.rsplit_once('.').map(|(_, s)| s).unwrap_or_default()
    );
    assert_refused_for(&app, &forged, "invalid token").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_key_signs_only_integration_tokens() {
    let app = file_server().await;
    for role in ["instructor", "trainee"] {
        let claims = claims("ada", "uni-a", role);
        for token in [rsa_1(&claims), ed_1(&claims)] {
            assert_refused_for(
                &app,
                &token,
                &format!("signs only `integration` tokens, and this one carries the role `{role}`"),
            )
            .await;
        }
    }
    assert_refused_for(&app, &rsa_1(&claims("ada", "uni-a", "admin")), "`admin`").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_tokens_meet_the_same_claim_rules_as_hs256_tokens() {
    const ISSUER: &str = "https://lms.example.edu";
    const AUDIENCE: &str = "afterclass";
    let app = TestApp::sqlite_with(|cfg| {
        platform_keys(JwksSource::File(JWKS_FILE.into()), Duration::from_secs(60))(cfg);
        cfg.auth.issuer = Some(ISSUER.into());
        cfg.auth.audience = Some(AUDIENCE.into());
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let valid = || {
        let mut c = lms("uni-a");
        c["iss"] = json!(ISSUER);
        c["aud"] = json!(AUDIENCE);
        c
    };
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = valid();
        change(&mut c);
        c
    };
    let remove = |claim: &'static str| move |c: &mut Value| drop(c.as_object_mut().map(|c| c.remove(claim)));
    let cases: Vec<(&str, Value, bool)> = vec![
        ("valid", valid(), true),
        ("an audience list naming this service", with(&|c| c["aud"] = json!(["account", AUDIENCE])), true),
        ("just expired, within the leeway", with(&|c| c["exp"] = json!(now - 5)), true),
        ("expired an hour ago", with(&|c| c["exp"] = json!(now - 3600)), false),
        ("not yet valid", with(&|c| c["nbf"] = json!(now + 3600)), false),
        ("another issuer", with(&|c| c["iss"] = json!("https://evil.example.com")), false),
        ("another audience", with(&|c| c["aud"] = json!("another-service")), false),
        ("no issuer", with(&remove("iss")), false),
        ("no audience", with(&remove("aud")), false),
        ("no expiry", with(&remove("exp")), false),
        ("no subject", with(&remove("sub")), false),
        ("no tenant", with(&remove("tid")), false),
        ("no role", with(&remove("role")), false),
        ("an empty tenant", with(&|c| c["tid"] = json!("")), false),
        ("issued 30 s in the future, within the skew", with(&|c| c["iat"] = json!(now + 30)), true),
        ("issued two minutes in the future", with(&|c| c["iat"] = json!(now + 120)), false),
        ("valid for 25 hours", with(&|c| c["exp"] = json!(now + 25 * 3600)), false),
    ];
    for (case, claims, accepted) in &cases {
        for (signer, token) in
            [("HS256", hs256(None, claims, SECRET)), ("RS256", rsa_1(claims)), ("EdDSA", ed_1(claims))]
        {
            if *accepted {
                let (status, body) = app.ask_viewer(Some(&bearer(&token))).await;
                assert_eq!((status, body.get("errors")), (200, None), "{signer}, {case}: {body:#}");
            } else {
                let body = app.assert_refused_token(&token).await;
                assert!(body["errors"][0]["message"].as_str().is_some(), "{signer}, {case}: {body:#}");
            }
        }
    }
    // A critical header extension the service does not understand, under a platform key.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("platform-rsa-1".into());
    header.crit = Some(vec!["exp-ext".into()]);
    header.extras.insert("exp-ext", "x");
    let key = EncodingKey::from_rsa_pem(RSA_1).expect("an RSA fixture key");
    let token = jsonwebtoken::encode(&header, &valid(), &key).expect("signing a token");
    let body = app.assert_refused_token(&token).await;
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("`crit`")), "{body:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hs256_tokens_work_as_before_beside_a_platform_set() {
    let app = file_server().await;
    let (status, body) = app.ask_viewer(Some(&bearer(&afterclass_tests::instructor("ada", "uni-a")))).await;
    assert_eq!((status, &body["data"]["viewer"]["role"]), (200, &json!("INSTRUCTOR")), "{body:#}");
    // A kid in an HS256 header changes nothing: the secret verifies it, any role.
    let token = hs256(Some("platform-rsa-1"), &claims("tom", "uni-a", "trainee"), SECRET);
    let (status, body) = app.ask_viewer(Some(&bearer(&token))).await;
    assert_eq!((status, &body["data"]["viewer"]["role"]), (200, &json!("TRAINEE")), "{body:#}");
    assert_refused_for(&app, &hs256(None, &lms("uni-m"), b"another-secret-of-sufficient-length"), "invalid token")
        .await;
    // A platform key's token without a kid is the configured key's to verify, and it is not.
    let token = sign(Algorithm::RS256, None, Key::Rsa(RSA_1), &lms("uni-m"));
    assert_refused_for(&app, &token, "invalid token").await;
    app.stop().await;

    // With an RS256 public key configured, its tokens (no kid) still verify, any role; under a
    // kid, a token is the platform set's.
    let app = TestApp::sqlite_with(|cfg| {
        platform_keys(JwksSource::File(JWKS_FILE.into()), Duration::from_secs(60))(cfg);
        cfg.auth.key = KeyConfig::Rs256Pem(OUTSIDER_PUBLIC.to_vec());
    })
    .await;
    let token = sign(Algorithm::RS256, None, Key::Rsa(OUTSIDER), &claims("ada", "uni-a", "instructor"));
    let (status, body) = app.ask_viewer(Some(&bearer(&token))).await;
    assert_eq!((status, &body["data"]["viewer"]["role"]), (200, &json!("INSTRUCTOR")), "{body:#}");
    assert_integration(&app, &ed_1(&lms("uni-a")), "uni-a").await;
    let token = sign(Algorithm::RS256, Some("idp-key"), Key::Rsa(OUTSIDER), &lms("uni-a"));
    assert_refused_for(&app, &token, "`idp-key` is not one of the platform's keys").await;
    app.stop().await;
}

/// A platform's key set served over HTTP, counting the fetches.
struct Platform {
    addr: SocketAddr,
    published: Arc<Published>,
}

struct Published {
    answer: Mutex<(u16, String)>,
    fetches: AtomicUsize,
}

impl Platform {
    async fn start(set: String) -> Platform {
        let published = Arc::new(Published { answer: Mutex::new((200, set)), fetches: AtomicUsize::new(0) });
        let routes =
            axum::Router::new().route("/jwks.json", axum::routing::get(serve_set)).with_state(Arc::clone(&published));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the platform");
        let addr = listener.local_addr().expect("the platform's address");
        tokio::spawn(async move { axum::serve(listener, routes).await });
        Platform { addr, published }
    }

    fn source(&self) -> JwksSource {
        JwksSource::Url(format!("http://{}/jwks.json", self.addr))
    }

    fn publish(&self, status: u16, body: String) {
        *self.published.answer.lock().expect("the answer") = (status, body);
    }

    fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }
}

async fn serve_set(axum::extract::State(published): axum::extract::State<Arc<Published>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    published.fetches.fetch_add(1, Ordering::SeqCst);
    // Slow enough that concurrent requests overlap one fetch.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = published.answer.lock().expect("the answer").clone();
    let status = axum::http::StatusCode::from_u16(status).expect("a status");
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Waits out a refresh interval (and a little more).
async fn wait(interval: Duration) {
    tokio::time::sleep(interval + Duration::from_millis(150)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_published_at_the_url_is_accepted_after_the_refresh_interval() {
    let interval = Duration::from_secs(1);
    let platform = Platform::start(set_of(&["platform-rsa-1"])).await;
    let app = TestApp::sqlite_with(platform_keys(platform.source(), interval)).await;
    // The server fetched the set as it started.
    assert_eq!(platform.fetches(), 1);
    assert_integration(&app, &rsa_1(&lms("uni-a")), "uni-a").await;

    // The platform rotates: it publishes its next key beside the current one.
    platform.publish(200, set_of(&["platform-rsa-1", "platform-rsa-2"]));
    wait(interval).await;
    assert_integration(&app, &rsa_2(&lms("uni-a")), "uni-a").await;
    assert_eq!(platform.fetches(), 2);
    // Known keys are not fetched again.
    wait(interval).await;
    assert_integration(&app, &rsa_1(&lms("uni-a")), "uni-a").await;
    assert_integration(&app, &rsa_2(&lms("uni-a")), "uni-a").await;
    assert_eq!(platform.fetches(), 2);

    // Then it retires the old key. It stays trusted until the server restarts (see README).
    platform.publish(200, set_of(&["platform-rsa-2"]));
    app.stop().await;
    let app = TestApp::sqlite_with(platform_keys(platform.source(), interval)).await;
    assert_refused_for(&app, &rsa_1(&lms("uni-a")), "not one of the platform's keys").await;
    assert_integration(&app, &rsa_2(&lms("uni-a")), "uni-a").await;
    app.stop().await;
}

/// The same request with `token` from `n` clients at once; gives their statuses.
async fn at_once(app: &TestApp, token: &str, n: usize) -> Vec<u16> {
    let authorization = bearer(token);
    join_all((0..n).map(|_| app.ask_viewer(Some(&authorization)))).await.into_iter().map(|(status, _)| status).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_naming_unknown_keys_at_once_load_the_set_once_per_interval() {
    let interval = Duration::from_secs(2);
    let platform = Platform::start(set_of(&["platform-rsa-1"])).await;
    let app = TestApp::sqlite_with(platform_keys(platform.source(), interval)).await;
    assert_eq!(platform.fetches(), 1);
    let before = app.counts().await;

    // An interval later, twenty requests naming a key not yet published: one fetch between them.
    wait(interval).await;
    let next = rsa_2(&lms("uni-a"));
    assert_eq!(at_once(&app, &next, 20).await, vec![401; 20]);
    assert_eq!(platform.fetches(), 2);

    // Published now, but the last load is less than an interval old: no fetch, still refused.
    platform.publish(200, set_of(&["platform-rsa-1", "platform-rsa-2"]));
    assert_eq!(at_once(&app, &next, 20).await, vec![401; 20]);
    assert_eq!(platform.fetches(), 2);
    assert_eq!(app.counts().await, before, "refused requests wrote rows");

    // An interval later, twenty at once: one fetch, and every one of them accepted.
    wait(interval).await;
    assert_eq!(at_once(&app, &next, 20).await, vec![200; 20]);
    assert_eq!(platform.fetches(), 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_load_keeps_the_keys_held_and_hs256_tokens_working() {
    let interval = Duration::from_secs(1);
    let platform = Platform::start(set_of(&["platform-rsa-1"])).await;
    let app = TestApp::sqlite_with(platform_keys(platform.source(), interval)).await;
    let oversized = json!({ "keys": [], "padding": "x".repeat(70_000) }).to_string();
    let answers = [
        (500, "the platform is down".to_owned()),
        (200, "<html>not a key set</html>".to_owned()),
        (200, r#"{ "keys": [] }"#.to_owned()),
        (
            200,
            r#"{ "keys": [{ "kty": "oct", "kid": "platform-rsa-2", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ" }] }"#.to_owned(),
        ),
        (200, oversized),
    ];
    for (status, body) in answers {
        platform.publish(status, body.clone());
        wait(interval).await;
        let fetched = platform.fetches();
        assert_refused_for(&app, &rsa_2(&lms("uni-a")), "the platform's key set could not be loaded").await;
        assert_eq!(platform.fetches(), fetched + 1, "{status} {body:.40}");
        assert_integration(&app, &rsa_1(&lms("uni-a")), "uni-a").await;
        let (status, body) = app.ask_viewer(Some(&bearer(&afterclass_tests::instructor("ada", "uni-a")))).await;
        assert_eq!(status, 200, "{body:#}");
    }
    // Once the platform answers again, its new key is picked up.
    platform.publish(200, set_of(&["platform-rsa-1", "platform-rsa-2"]));
    wait(interval).await;
    assert_integration(&app, &rsa_2(&lms("uni-a")), "uni-a").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_unreachable_at_start_leaves_the_server_up_and_says_so_to_platform_tokens() {
    // A port nothing listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let source = JwksSource::Url(format!("http://{closed}/jwks.json"));
    let app = TestApp::sqlite_with(platform_keys(source, Duration::from_secs(60))).await;
    assert_refused_for(&app, &rsa_1(&lms("uni-a")), "the platform's key set could not be loaded").await;
    let (status, body) = app.ask_viewer(Some(&bearer(&afterclass_tests::instructor("ada", "uni-a")))).await;
    assert_eq!(status, 200, "{body:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_read_again_for_a_new_key() {
    let interval = Duration::from_secs(1);
    let dir = scratch_dir("reread");
    let file = dir.join("platform-jwks.json");
    std::fs::write(&file, set_of(&["platform-ed25519-1"])).unwrap();
    let app = TestApp::sqlite_with(platform_keys(JwksSource::File(file.clone()), interval)).await;
    assert_integration(&app, &ed_1(&lms("uni-a")), "uni-a").await;
    std::fs::write(&file, set_of(&["platform-ed25519-1", "platform-rsa-2"])).unwrap();
    wait(interval).await;
    assert_integration(&app, &rsa_2(&lms("uni-a")), "uni-a").await;
    // A file gone missing keeps the keys held.
    std::fs::remove_file(&file).unwrap();
    wait(interval).await;
    assert_refused_for(&app, &rsa_1(&lms("uni-a")), "could not be loaded").await;
    assert_integration(&app, &rsa_2(&lms("uni-a")), "uni-a").await;
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("afterclass-platform-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_or_malformed_key_set_file_stops_the_start_with_the_reason() {
    let dir = scratch_dir("bad");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        (dir.join("missing.json"), "missing.json"),
        (write("garbage.json", "not json"), "not a JWK Set"),
        (write("no-keys.json", r#"{ "issuer": "https://lms.example.edu" }"#), "not a JWK Set"),
        (write("empty.json", r#"{ "keys": [] }"#), "none of its 0 keys"),
        (
            write(
                "symmetric.json",
                r#"{ "keys": [{ "kty": "oct", "kid": "s1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ" }] }"#,
            ),
            "none of its 1 keys is an RS256 or EdDSA signing key",
        ),
        (write("huge.json", &format!(r#"{{ "keys": [], "padding": "{}" }}"#, "x".repeat(70_000))), "larger than"),
    ];
    for (path, why) in cases {
        let db = afterclass_tests::fresh_database(Backend::Sqlite).await.unwrap();
        let mut cfg = afterclass_tests::config(&db.url);
        platform_keys(JwksSource::File(path.clone()), Duration::from_secs(60))(&mut cfg);
        let err = afterclass::http::Server::bind(&cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .err()
            .unwrap_or_else(|| panic!("{} started the server", path.display()));
        assert!(err.contains("AFTERCLASS_PLATFORM_JWKS") && err.contains(why), "{}: {err}", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
