//! Bearer tokens over HTTP: every bad token is refused as UNAUTHENTICATED and writes nothing (a
//! valid one creates its tenant and person just in time, so a refused one must not), RS256 and
//! issuer/audience configurations accept exactly their own tokens, and the non-GraphQL routes
//! answer as documented.

use afterclass::config::{Config, KeyConfig};
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{SECRET, TestApp, error_codes};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const RS256_PRIVATE: &[u8] = include_bytes!("../fixtures/rs256-private.pem");
const RS256_PUBLIC: &[u8] = include_bytes!("../fixtures/rs256-public.pem");

/// Claims a valid token would carry, valid for an hour.
fn claims(sub: &str, tid: &str, role: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "tid": tid, "role": role, "name": format!("{sub} (test)"), "iat": now, "exp": now + 3600 })
}

fn sign(alg: Algorithm, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).expect("signing a token")
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    sign(Algorithm::HS256, claims, &EncodingKey::from_secret(secret))
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, claims, &EncodingKey::from_rsa_pem(RS256_PRIVATE).expect("the RS256 fixture key"))
}

async fn spawn_with(adjust: impl Fn(&mut Config)) -> TestApp {
    TestApp::sqlite_with(adjust).await
}

async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

fn rs256_server(cfg: &mut Config) {
    cfg.auth.key = KeyConfig::Rs256Pem(RS256_PUBLIC.to_vec());
}

const ISSUER: &str = "https://lms.example.edu";
const AUDIENCE: &str = "afterclass";

fn issuer_and_audience(cfg: &mut Config) {
    cfg.auth.issuer = Some(ISSUER.to_owned());
    cfg.auth.audience = Some(AUDIENCE.to_owned());
}

async fn ask(app: &TestApp, authorization: Option<&str>) -> (u16, Value) {
    app.ask_viewer(authorization).await
}

async fn assert_refused(app: &TestApp, authorization: Option<&str>) -> Value {
    app.assert_refused(authorization).await
}

async fn assert_refused_token(app: &TestApp, token: &str) -> Value {
    app.assert_refused_token(token).await
}

/// The token is accepted and the viewer is who it names.
async fn assert_accepted(app: &TestApp, token: &str, sub: &str, tid: &str, role: &str) {
    let (status, body) = ask(app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body.get("errors").is_none(), "{body:#}");
    let person = json!({ "externalId": sub, "displayName": format!("{sub} (test)") });
    assert_eq!(body["data"]["viewer"], json!({ "person": person, "role": role, "tenantId": tid }), "{body:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_an_authorization_header_is_refused_and_writes_nothing() {
    let app = spawn().await;
    let body = assert_refused(&app, None).await;
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("missing bearer token")), "{body:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_header_that_is_not_a_bearer_token_is_refused_even_around_a_valid_token() {
    let app = spawn().await;
    let valid = hs256(&claims("mallory", "uni-m", "instructor"), SECRET);
    for header in [
        format!("Token {valid}"),
        format!("Basic {valid}"),
        format!("Bearer{valid}"),
        valid.clone(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
    ] {
        assert_refused(&app, Some(&header)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_token_is_refused_and_writes_nothing() {
    let app = spawn().await;
    for token in ["garbage", "a.b.c", "not-a-jwt-at-all-but-quite-long-anyway", "..", "eyJhbGciOiJIUzI1NiJ9.e30."] {
        assert_refused_token(&app, token).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_with_another_secret_is_refused_and_writes_nothing() {
    let app = spawn().await;
    let forged = hs256(&claims("mallory", "uni-m", "instructor"), b"another-secret-of-sufficient-length");
    assert_refused_token(&app, &forged).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_expired_an_hour_ago_is_refused_though_the_leeway_forgives_a_few_seconds() {
    let app = spawn().await;
    let now = chrono::Utc::now().timestamp();
    let mut expired = claims("mallory", "uni-m", "instructor");
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let body = assert_refused_token(&app, &hs256(&expired, SECRET)).await;
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("invalid token")), "{body:#}");

    // Within the 30 s leeway a just-expired token still counts.
    let mut just_expired = claims("ada", "uni-a", "instructor");
    just_expired["exp"] = json!(now - 5);
    assert_accepted(&app, &hs256(&just_expired, SECRET), "ada", "uni-a", "INSTRUCTOR").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_alg_none_token_is_refused_and_writes_nothing() {
    let app = spawn().await;
    let payload = URL_SAFE_NO_PAD.encode(claims("mallory", "uni-m", "instructor").to_string());
    for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"None","typ":"JWT"}"#, r#"{"alg":"NONE"}"#] {
        let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header));
        assert_refused_token(&app, &unsigned).await;
    }
    // The same claims under an HS256 header but with the signature stripped.
    let stripped = hs256(&claims("mallory", "uni-m", "instructor"), SECRET);
    let stripped = format!("{}.", stripped.rsplit_once('.').map(|(m, _)| m).unwrap_or_default());
    assert_refused_token(&app, &stripped).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_a_tenant_claim_is_refused_and_writes_nothing() {
    let app = spawn().await;
    let mut no_tid = claims("mallory", "uni-m", "instructor");
    no_tid.as_object_mut().map(|c| c.remove("tid"));
    assert_refused_token(&app, &hs256(&no_tid, SECRET)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_a_role_claim_is_refused_and_writes_nothing() {
    let app = spawn().await;
    let mut no_role = claims("mallory", "uni-m", "instructor");
    no_role.as_object_mut().map(|c| c.remove("role"));
    assert_refused_token(&app, &hs256(&no_role, SECRET)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_an_unknown_role_is_refused_and_writes_nothing() {
    let app = spawn().await;
    let body = assert_refused_token(&app, &hs256(&claims("mallory", "uni-m", "admin"), SECRET)).await;
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("admin")), "{body:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_a_subject_or_expiry_is_refused_and_writes_nothing() {
    let app = spawn().await;
    for claim in ["sub", "exp"] {
        let mut missing = claims("mallory", "uni-m", "instructor");
        missing.as_object_mut().map(|c| c.remove(claim));
        assert_refused_token(&app, &hs256(&missing, SECRET)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_creates_its_tenant_and_person_on_first_use_and_only_then() {
    let app = spawn().await;
    let fresh = app.counts().await;
    assert_eq!((app.count("tenants").await, app.count("persons").await), (0, 0));

    let token = hs256(&claims("ada", "uni-a", "instructor"), SECRET);
    assert_accepted(&app, &token, "ada", "uni-a", "INSTRUCTOR").await;
    assert_eq!((app.count("tenants").await, app.count("persons").await), (1, 1));

    // Using it again finds the same rows.
    let before = app.counts().await;
    assert_accepted(&app, &token, "ada", "uni-a", "INSTRUCTOR").await;
    assert_eq!(app.counts().await, before);

    // A second person in the same tenant adds a person only; another tenant adds both.
    assert_accepted(&app, &hs256(&claims("t1", "uni-a", "trainee"), SECRET), "t1", "uni-a", "TRAINEE").await;
    assert_eq!((app.count("tenants").await, app.count("persons").await), (1, 2));
    assert_accepted(&app, &hs256(&claims("ada", "uni-b", "instructor"), SECRET), "ada", "uni-b", "INSTRUCTOR").await;
    assert_eq!((app.count("tenants").await, app.count("persons").await), (2, 3));

    // The integration account creates its tenant but is no person.
    let (status, body) = ask(&app, Some(&format!("Bearer {}", afterclass_tests::integration("uni-c")))).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["data"]["viewer"], json!({ "person": null, "role": "INTEGRATION", "tenantId": "uni-c" }));
    assert_eq!((app.count("tenants").await, app.count("persons").await), (3, 3));

    // And none of this wrote anything but tenants and persons (and, on SQLite, the counter of
    // their ids).
    let counts = app.counts().await;
    let written: Vec<&String> = counts.keys().filter(|table| counts.get(*table) != fresh.get(*table)).collect();
    assert!(
        written.iter().all(|table| matches!(table.as_str(), "tenants" | "persons" | "sqlite_sequence")),
        "{fresh:?} became {counts:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rs256_server_accepts_tokens_signed_with_its_private_key() {
    let app = spawn_with(rs256_server).await;
    assert_accepted(&app, &rs256(&claims("ada", "uni-a", "instructor")), "ada", "uni-a", "INSTRUCTOR").await;
    assert_eq!((app.count("tenants").await, app.count("persons").await), (1, 1));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rs256_server_refuses_hs256_tokens_even_ones_keyed_with_its_own_public_key() {
    let app = spawn_with(rs256_server).await;
    let claims = claims("mallory", "uni-m", "instructor");
    // A token for the default HS256 test secret.
    assert_refused_token(&app, &hs256(&claims, SECRET)).await;
    // Key confusion: HS256 with the server's public key PEM as the shared secret.
    assert_refused_token(&app, &hs256(&claims, RS256_PUBLIC)).await;
    // The same with the PEM's surrounding whitespace trimmed, as some attack tools do.
    assert_refused_token(&app, &hs256(&claims, RS256_PUBLIC.trim_ascii())).await;
    // An RS256 token whose signature belongs to other claims.
    let genuine = rs256(&json!({ "sub": "ada", "tid": "uni-a", "role": "trainee", "exp": claims["exp"] }));
    let signature = genuine.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
    let tampered = rs256(&claims);
    let tampered = format!("{}.{signature}", tampered.rsplit_once('.').map(|(m, _)| m).unwrap_or_default());
    assert_refused_token(&app, &tampered).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_an_issuer_and_audience_refuses_tokens_for_another_or_none() {
    let app = spawn_with(issuer_and_audience).await;
    let with = |iss: Option<&str>, aud: Option<&str>| {
        let mut c = claims("mallory", "uni-m", "instructor");
        if let Some(iss) = iss {
            c["iss"] = json!(iss);
        }
        if let Some(aud) = aud {
            c["aud"] = json!(aud);
        }
        hs256(&c, SECRET)
    };
    assert_refused_token(&app, &with(Some("https://evil.example.com"), Some(AUDIENCE))).await;
    assert_refused_token(&app, &with(Some(ISSUER), Some("another-service"))).await;
    assert_refused_token(&app, &with(None, Some(AUDIENCE))).await;
    assert_refused_token(&app, &with(Some(ISSUER), None)).await;
    assert_refused_token(&app, &with(None, None)).await;
    // The tokens the harness signs carry neither.
    assert_refused_token(&app, &afterclass_tests::instructor("mallory", "uni-m")).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_an_issuer_and_audience_accepts_tokens_that_carry_both() {
    let app = spawn_with(issuer_and_audience).await;
    let mut c = claims("ada", "uni-a", "instructor");
    c["iss"] = json!(ISSUER);
    c["aud"] = json!(AUDIENCE);
    assert_accepted(&app, &hs256(&c, SECRET), "ada", "uni-a", "INSTRUCTOR").await;

    // The same holds for RS256 tokens when both are configured.
    let rs = spawn_with(|cfg| {
        rs256_server(cfg);
        issuer_and_audience(cfg);
    })
    .await;
    assert_accepted(&rs, &rs256(&c), "ada", "uni-a", "INSTRUCTOR").await;
    c["aud"] = json!("another-service");
    assert_refused_token(&rs, &rs256(&c)).await;
    rs.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_request_is_refused_as_bad_user_input() {
    let app = spawn().await;
    let before = app.counts().await;
    let token = afterclass_tests::instructor("ada", "uni-a");
    let (status, body) = app
        .gql_raw(Some(&token), json!([{ "query": "{ viewer { role } }" }, { "query": "{ viewer { tenantId } }" }]))
        .await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body:#}");
    // A batch of one is a batch too.
    let (status, body) = app.gql_raw(Some(&token), json!([{ "query": "{ viewer { role } }" }])).await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (400, Some("BAD_USER_INPUT")), "{body:#}");
    // Without a token, the refusal is about the token.
    let (status, body) = app.gql_raw(None, json!([{ "query": "{ viewer { role } }" }])).await;
    assert_eq!((status, error_codes(&body)), (401, vec!["UNAUTHENTICATED".to_owned()]), "{body:#}");
    // Nothing ran, so nobody was created just in time either.
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_with_a_query_is_refused_while_a_plain_get_serves_graphiql() {
    let app = spawn().await;
    let token = afterclass_tests::instructor("ada", "uni-a");
    let resp = app
        .client()
        .get(app.url("/graphql?query={viewer{role}}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sending the request");
    assert_eq!(resp.status().as_u16(), 405);
    let body: Value = resp.json().await.expect("a JSON body");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body:#}");
    // The query was not executed: nobody was created just in time.
    assert_eq!(app.count("tenants").await, 0);

    let resp = app.client().get(app.url("/graphql")).send().await.expect("sending the request");
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = resp.text().await.expect("a body");
    assert!(html.to_ascii_lowercase().contains("graphiql"), "{html}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_answer_without_a_token() {
    let app = spawn().await;
    for path in ["/healthz", "/readyz"] {
        let resp = app.client().get(app.url(path)).send().await.expect("sending the request");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
    // One refused request, so that the counters have something to say.
    assert_refused(&app, None).await;
    let resp = app.client().get(app.url("/metrics")).send().await.expect("sending the request");
    assert_eq!(resp.status().as_u16(), 200);
    let metrics = resp.text().await.expect("a body");
    assert!(metrics.contains("afterclass_sql_statements_total"), "{metrics}");
    assert!(metrics.lines().any(|l| l == "afterclass_unauthenticated_requests_total 1"), "{metrics}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_providers_token_forms_are_understood() {
    let app = spawn_with(issuer_and_audience).await;
    let mut c = claims("ada", "uni-a", "instructor");
    c["iss"] = json!(ISSUER);
    // An audience list that names this service.
    c["aud"] = json!(["account", AUDIENCE]);
    assert_accepted(&app, &hs256(&c, SECRET), "ada", "uni-a", "INSTRUCTOR").await;
    c["aud"] = json!(["account", "another-service"]);
    assert_refused_token(&app, &hs256(&c, SECRET)).await;
    // A fractional expiry, and a case-insensitive scheme.
    c["aud"] = json!(AUDIENCE);
    c["exp"] = json!(chrono::Utc::now().timestamp() as f64 + 3600.5);
    let token = hs256(&c, SECRET);
    let (status, body) = ask(&app, Some(&format!("BEARER {token}"))).await;
    assert_eq!(status, 200, "{body:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_is_not_yet_valid_is_refused() {
    let app = spawn().await;
    let mut c = claims("ada", "uni-a", "instructor");
    c["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    assert_refused_token(&app, &hs256(&c, SECRET)).await;
    app.stop().await;
}

/// A token signed with `header` (HS256 with the test secret).
fn hs256_with(header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(SECRET)).expect("signing a token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stricter_tokens_are_refused_row_by_row_and_write_nothing() {
    let app = spawn().await;
    let now = chrono::Utc::now().timestamp();
    let with = |iat: Option<i64>, exp: i64| {
        let mut c = claims("mallory", "uni-m", "instructor");
        match iat {
            Some(iat) => c["iat"] = json!(iat),
            None => {
                c.as_object_mut().map(|c| c.remove("iat"));
            }
        }
        c["exp"] = json!(exp);
        c
    };
    let crit = |names: Vec<&str>| {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(names.into_iter().map(str::to_owned).collect());
        header.extras.insert("exp-ext", "x");
        hs256_with(&header, &claims("mallory", "uni-m", "instructor"))
    };
    let rows: Vec<(&str, String, &str)> = vec![
        ("issued two minutes in the future", hs256(&with(Some(now + 120), now + 3600), SECRET), "in the future"),
        ("issued a day in the future", hs256(&with(Some(now + 86_400), now + 90_000), SECRET), "in the future"),
        ("valid for 25 hours from iat", hs256(&with(Some(now), now + 25 * 3600), SECRET), "exp - iat"),
        ("valid for a year from iat", hs256(&with(Some(now), now + 365 * 86_400), SECRET), "exp - iat"),
        // Issued two days ago and valid for another hour: 49 hours in all.
        ("issued long ago, expiring soon", hs256(&with(Some(now - 48 * 3600), now + 3600), SECRET), "exp - iat"),
        ("no iat, valid for 25 hours from now", hs256(&with(None, now + 25 * 3600), SECRET), "exp - now"),
        ("an unknown critical extension", crit(vec!["exp-ext"]), "`exp-ext`"),
        ("an empty crit list", crit(vec![]), "empty"),
    ];
    for (row, token, says) in rows {
        let body = assert_refused_token(&app, &token).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("invalid token") && message.contains(says), "{row}: {message}");
    }
    assert_eq!((app.count("tenants").await, app.count("persons").await), (0, 0));

    // At the edges: issued 30 s in the future (the clock skew forgiven), valid for 24 hours from
    // iat, and without iat for just under 24 hours from now.
    let edges = [
        ("ada", hs256(&with(Some(now + 30), now + 3600), SECRET)),
        ("bea", hs256(&with(Some(now), now + 24 * 3600), SECRET)),
        ("cy", hs256(&with(None, now + 24 * 3600 - 60), SECRET)),
    ];
    for (sub, token) in &edges {
        // The claims name mallory; what matters is that the token is accepted.
        let (status, body) = ask(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(status, 200, "{sub}: {body:#}");
        assert!(body.get("errors").is_none(), "{sub}: {body:#}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_lifetime_is_configured() {
    let app = spawn_with(|cfg| cfg.auth.max_lifetime = std::time::Duration::from_secs(3600)).await;
    let now = chrono::Utc::now().timestamp();
    let mut c = claims("ada", "uni-a", "instructor");
    c["exp"] = json!(now + 3600);
    assert_accepted(&app, &hs256(&c, SECRET), "ada", "uni-a", "INSTRUCTOR").await;
    c["exp"] = json!(now + 3700);
    let body = assert_refused_token(&app, &hs256(&c, SECRET)).await;
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("3600 s")), "{body:#}");
    // The harness's tokens live an hour: within the limit.
    assert_eq!(ask(&app, Some(&format!("Bearer {}", afterclass_tests::trainee("t1", "uni-a")))).await.0, 200);
    app.stop().await;
}
