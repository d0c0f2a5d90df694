//! A fake LMS platform for the LTI suites, speaking the platform's side of LTI 1.3 over real
//! HTTP: its own RSA key and JWK Set, an OIDC authorisation endpoint that answers with a signed
//! `id_token` in an auto-submitting form (as Moodle and Canvas do), an OAuth 2 token endpoint
//! that checks the tool's client assertion against the tool's published JWK Set, a Names and
//! Role Provisioning Services endpoint (paged by `Link` headers), a deep-linking return
//! endpoint that checks the tool's signed response, and a course page with a launch link (or,
//! with `&embed=1`, the launch in an iframe).
//!
//! It also signs any claims a test wants ([`Platform::sign`], [`Platform::sign_with`]), so the
//! suites can forge launches the real platform would never send.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

pub const INSTRUCTOR_ROLE: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
pub const LEARNER_ROLE: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";

/// A person of the platform.
#[derive(Debug, Clone)]
pub struct User {
    pub sub: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
}

impl User {
    pub fn instructor(sub: &str, name: &str) -> User {
        User {
            sub: sub.into(),
            name: name.into(),
            email: format!("{sub}@lms.example"),
            roles: vec![INSTRUCTOR_ROLE.into()],
        }
    }
    pub fn learner(sub: &str, name: &str) -> User {
        User {
            sub: sub.into(),
            name: name.into(),
            email: format!("{sub}@lms.example"),
            roles: vec![LEARNER_ROLE.into()],
        }
    }
}

/// An RSA key pair with its `kid`.
pub struct KeyPair {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: Value,
}

impl KeyPair {
    pub fn generate(kid: &str) -> KeyPair {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("an RSA key");
        let der = key.to_pkcs1_der().expect("DER");
        let jwk = json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        });
        KeyPair { kid: kid.into(), encoding: EncodingKey::from_rsa_der(der.as_bytes()), jwk }
    }
}

#[derive(Default)]
struct Shared {
    tool: Option<String>,
    users: BTreeMap<String, User>,
    roster: Vec<User>,
    /// Access tokens the token endpoint issued.
    access_tokens: Vec<String>,
    /// Client assertions the token endpoint accepted (their claims).
    assertions: Vec<Value>,
    /// Deep-linking responses received (their claims).
    deep_links: Vec<Value>,
    /// Roster pages served.
    roster_pages: usize,
}

struct Inner {
    issuer: String,
    client_id: String,
    deployment_id: String,
    /// The signing key and the keys its JWK Set publishes (the signing one first).
    keys: Mutex<Vec<Arc<KeyPair>>>,
    context: Value,
    shared: Mutex<Shared>,
}

/// A running fake platform.
#[derive(Clone)]
pub struct Platform {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
}

/// The roster page size, small so that paging is exercised.
pub const ROSTER_PAGE: usize = 2;

impl Platform {
    /// A platform on `host` (e.g. `localhost`, a different site from the tool's `127.0.0.1`).
    pub async fn start(host: &str) -> Platform {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{host}:{}", addr.port());
        let inner = Arc::new(Inner {
            issuer,
            client_id: "afterclass-client".into(),
            deployment_id: "deployment-1".into(),
            keys: Mutex::new(vec![Arc::new(KeyPair::generate("platform-key-1"))]),
            context: json!({ "id": "course-42", "label": "RUST101", "title": "Intro to Rust",
                              "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"] }),
            shared: Mutex::new(Shared::default()),
        });
        let app = axum::Router::new()
            .route("/jwks", axum::routing::get(jwks))
            .route("/auth", axum::routing::get(authorize_get).post(authorize_post))
            .route("/token", axum::routing::post(token))
            .route("/nrps/{context}", axum::routing::get(nrps))
            .route("/deep-link-return", axum::routing::post(deep_link_return))
            .route("/course", axum::routing::get(course_page))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Platform { inner, addr }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }
    pub fn deployment_id(&self) -> &str {
        &self.inner.deployment_id
    }
    pub fn context_id(&self) -> String {
        self.inner.context["id"].as_str().unwrap_or_default().to_owned()
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.issuer)
    }

    /// The tool's base URL (for its JWK Set and its launch address).
    pub fn set_tool(&self, base: &str) {
        self.inner.shared.lock().unwrap().tool = Some(base.trim_end_matches('/').to_owned());
    }

    pub fn add_user(&self, user: User) {
        self.inner.shared.lock().unwrap().users.insert(user.sub.clone(), user);
    }

    /// The course roster NRPS serves.
    pub fn set_roster(&self, roster: Vec<User>) {
        self.inner.shared.lock().unwrap().roster = roster;
    }

    pub fn assertions(&self) -> Vec<Value> {
        self.inner.shared.lock().unwrap().assertions.clone()
    }
    pub fn deep_links(&self) -> Vec<Value> {
        self.inner.shared.lock().unwrap().deep_links.clone()
    }
    pub fn roster_pages(&self) -> usize {
        self.inner.shared.lock().unwrap().roster_pages
    }

    /// The registration file content the tool is configured with.
    pub fn registration(&self) -> Value {
        json!([{
            "issuer": self.inner.issuer,
            "client_id": self.inner.client_id,
            "deployment_ids": [self.inner.deployment_id],
            "authorization_url": self.url("/auth"),
            "token_url": self.url("/token"),
            "jwks_url": self.url("/jwks"),
            "tenant": "lms-tenant",
            "name": "The suites' platform",
        }])
    }

    /// The claims of a genuine resource-link launch of `user`.
    pub fn launch_claims(&self, user: &User, nonce: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        let tool = self.inner.shared.lock().unwrap().tool.clone().unwrap_or_default();
        json!({
            "iss": self.inner.issuer,
            "aud": self.inner.client_id,
            "sub": user.sub,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": user.name,
            "email": user.email,
            "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id": self.inner.deployment_id,
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": format!("{tool}/lti/launch"),
            "https://purl.imsglobal.org/spec/lti/claim/resource_link": { "id": "link-1", "title": "Afterclass cohorts" },
            "https://purl.imsglobal.org/spec/lti/claim/roles": user.roles,
            "https://purl.imsglobal.org/spec/lti/claim/context": self.inner.context,
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": self.url(&format!("/nrps/{}", self.context_id())),
                "service_versions": ["2.0"],
            },
        })
    }

    /// The claims of a deep-linking request of `user`.
    pub fn deep_linking_claims(&self, user: &User, nonce: &str) -> Value {
        let mut claims = self.launch_claims(user, nonce);
        let map = claims.as_object_mut().unwrap();
        map.remove("https://purl.imsglobal.org/spec/lti/claim/resource_link");
        map.insert("https://purl.imsglobal.org/spec/lti/claim/message_type".into(), json!("LtiDeepLinkingRequest"));
        map.insert(
            "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings".into(),
            json!({
                "deep_link_return_url": self.url("/deep-link-return"),
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "data": "opaque-platform-data",
            }),
        );
        claims
    }

    /// `claims` signed by the platform's current key.
    pub fn sign(&self, claims: &Value) -> String {
        let key = self.inner.keys.lock().unwrap()[0].clone();
        Platform::sign_with(&key, &key.kid, claims)
    }

    /// Starts signing with a new key, published beside the old one.
    pub fn rotate_key(&self, kid: &str) {
        self.inner.keys.lock().unwrap().insert(0, Arc::new(KeyPair::generate(kid)));
    }

    /// `claims` signed by another key, naming `kid` in the header.
    pub fn sign_with(key: &KeyPair, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
    }

    /// The course page's launch link for `user` (`message` is `resource` or `deep-link`).
    pub fn login_url(&self, user: &str, message: &str) -> String {
        let tool = self.inner.shared.lock().unwrap().tool.clone().unwrap_or_default();
        let url = reqwest::Url::parse_with_params(
            &format!("{tool}/lti/login"),
            &[
                ("iss", self.inner.issuer.as_str()),
                ("login_hint", user),
                ("target_link_uri", &format!("{tool}/lti/launch")),
                ("lti_message_hint", message),
                ("client_id", self.inner.client_id.as_str()),
                ("lti_deployment_id", self.inner.deployment_id.as_str()),
            ],
        )
        .unwrap();
        url.to_string()
    }
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Response {
    let keys: Vec<Value> = inner.keys.lock().unwrap().iter().map(|k| k.jwk.clone()).collect();
    axum::Json(json!({ "keys": keys })).into_response()
}

async fn authorize_get(State(inner): State<Arc<Inner>>, Query(params): Query<BTreeMap<String, String>>) -> Response {
    authorize(&inner, &params)
}

async fn authorize_post(State(inner): State<Arc<Inner>>, Form(params): Form<BTreeMap<String, String>>) -> Response {
    authorize(&inner, &params)
}

/// The OIDC authorisation endpoint: checks the tool's request as a platform would, then answers
/// with the `id_token` in a form that posts itself to the tool.
fn authorize(inner: &Arc<Inner>, params: &BTreeMap<String, String>) -> Response {
    let get = |name: &str| params.get(name).cloned().unwrap_or_default();
    let tool = inner.shared.lock().unwrap().tool.clone().unwrap_or_default();
    let expected = [
        ("scope", "openid".to_owned()),
        ("response_type", "id_token".to_owned()),
        ("response_mode", "form_post".to_owned()),
        ("prompt", "none".to_owned()),
        ("client_id", inner.client_id.clone()),
        ("redirect_uri", format!("{tool}/lti/launch")),
    ];
    for (name, value) in expected {
        if get(name) != value {
            return (StatusCode::BAD_REQUEST, format!("bad `{name}`: `{}` (expected `{value}`)", get(name)))
                .into_response();
        }
    }
    if get("state").is_empty() || get("nonce").is_empty() {
        return (StatusCode::BAD_REQUEST, "no state or nonce").into_response();
    }
    let Some(user) = inner.shared.lock().unwrap().users.get(&get("login_hint")).cloned() else {
        return (StatusCode::FORBIDDEN, "unknown login_hint").into_response();
    };
    let platform = Platform { inner: inner.clone(), addr: "127.0.0.1:0".parse().unwrap() };
    let claims = match get("lti_message_hint").as_str() {
        "deep-link" => platform.deep_linking_claims(&user, &get("nonce")),
        _ => platform.launch_claims(&user, &get("nonce")),
    };
    let id_token = platform.sign(&claims);
    Html(format!(
        "<!doctype html><html><head><link rel=\"icon\" href=\"data:,\"></head><body><p>Signing you in to the tool…</p>\
         <form id=\"launch\" method=\"post\" action=\"{tool}/lti/launch\">\
         <input type=\"hidden\" name=\"id_token\" value=\"{id_token}\">\
         <input type=\"hidden\" name=\"state\" value=\"{}\"></form>\
         <script>document.getElementById('launch').submit();</script></body></html>",
        get("state")
    ))
    .into_response()
}

/// The tool's published keys, fetched as a platform does.
async fn tool_keys(inner: &Inner) -> Result<jsonwebtoken::jwk::JwkSet, String> {
    let tool = inner.shared.lock().unwrap().tool.clone().unwrap_or_default();
    let set = reqwest::get(format!("{tool}/lti/jwks")).await.map_err(|e| e.to_string())?;
    set.json().await.map_err(|e| e.to_string())
}

/// Verifies a JWT the tool signed, by its published keys, addressed to `audience`.
async fn verify_tool_jwt(inner: &Inner, jwt: &str, audience: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("the tool signed with {:?}, not RS256", header.alg));
    }
    let keys = tool_keys(inner).await?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = keys.find(&kid).ok_or("the kid is not in the tool's JWK Set")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[&inner.client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).map(|t| t.claims).map_err(|e| e.to_string())
}

async fn token(State(inner): State<Arc<Inner>>, Form(params): Form<BTreeMap<String, String>>) -> Response {
    let get = |name: &str| params.get(name).cloned().unwrap_or_default();
    if get("grant_type") != "client_credentials"
        || get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "unsupported_grant_type" }))).into_response();
    }
    let token_url = format!("{}/token", inner.issuer);
    let claims = match verify_tool_jwt(&inner, &get("client_assertion"), &token_url).await {
        Ok(claims) if claims["sub"] == json!(inner.client_id) && claims["jti"].is_string() => claims,
        Ok(_) => return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "invalid_client" }))).into_response(),
        Err(e) => {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "error": "invalid_client", "error_description": e })),
            )
                .into_response();
        }
    };
    if !get("scope")
        .split(' ')
        .any(|s| s == "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly")
    {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "invalid_scope" }))).into_response();
    }
    let access = format!("access-{}", uuid_like());
    let mut shared = inner.shared.lock().unwrap();
    shared.assertions.push(claims);
    shared.access_tokens.push(access.clone());
    axum::Json(json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": get("scope") }))
        .into_response()
}

fn uuid_like() -> String {
    let mut bytes = [0u8; 12];
    getrandom_fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn getrandom_fill(bytes: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(bytes);
}

async fn nrps(
    State(inner): State<Arc<Inner>>,
    Path(context): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut shared = inner.shared.lock().unwrap();
    if !shared.access_tokens.iter().any(|t| bearer == format!("Bearer {t}")) {
        return (StatusCode::UNAUTHORIZED, "no valid access token").into_response();
    }
    if context != inner.context["id"] {
        return (StatusCode::NOT_FOUND, "no such context").into_response();
    }
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    shared.roster_pages += 1;
    let members: Vec<Value> = shared
        .roster
        .iter()
        .skip(page * ROSTER_PAGE)
        .take(ROSTER_PAGE)
        .map(|u| json!({ "user_id": u.sub, "name": u.name, "email": u.email, "roles": u.roles, "status": "Active" }))
        .collect();
    let more = shared.roster.len() > (page + 1) * ROSTER_PAGE;
    let body =
        json!({ "id": format!("{}/nrps/{context}", inner.issuer), "context": inner.context, "members": members });
    let mut response =
        ([(header::CONTENT_TYPE, "application/vnd.ims.lti-nrps.v2.membershipcontainer+json")], body.to_string())
            .into_response();
    if more {
        let link = format!("<{}/nrps/{context}?page={}>; rel=\"next\"", inner.issuer, page + 1);
        response.headers_mut().insert(header::LINK, link.parse().unwrap());
    }
    response
}

async fn deep_link_return(State(inner): State<Arc<Inner>>, Form(params): Form<BTreeMap<String, String>>) -> Response {
    let jwt = params.get("JWT").cloned().unwrap_or_default();
    match verify_tool_jwt(&inner, &jwt, &inner.issuer).await {
        Ok(claims) => {
            let title = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0]["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            inner.shared.lock().unwrap().deep_links.push(claims);
            Html(format!("<!doctype html><p id=\"placed\">Placed in the course: {title}</p>")).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("the deep-linking response is not valid: {e}")).into_response(),
    }
}

/// The course page: a link that starts the launch for `?user=…` (and `&message=deep-link`) as a
/// top-level navigation; with `&embed=1`, the launch in an `<iframe id="tool">` beside the
/// course's navigation instead, as Moodle and Canvas embed a tool. The platform is on
/// `localhost` and the tool on `127.0.0.1`, so the frame is cross-site: a third-party context,
/// where a browser that blocks third-party cookies keeps only partitioned ones.
async fn course_page(State(inner): State<Arc<Inner>>, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let platform = Platform { inner, addr: "127.0.0.1:0".parse().unwrap() };
    let user = query.get("user").cloned().unwrap_or_default();
    let message = query.get("message").cloned().unwrap_or_else(|| "resource".into());
    let href = platform.login_url(&user, &message).replace('&', "&amp;");
    let head = "<!doctype html><html><head><link rel=\"icon\" href=\"data:,\"><title>Intro to Rust</title></head>";
    if query.get("embed").is_some_and(|e| e == "1") {
        // Canvas's `allow` list for tool frames; no `sandbox`, as neither LMS sandboxes a tool.
        return Html(format!(
            "{head}<body style=\"margin:0;font-family:sans-serif;display:flex;background:#eef1f4\">\
             <nav style=\"width:150px;padding:16px;background:#2d3b45;color:#fff\"><h1 style=\"font-size:18px\">Intro to Rust</h1>\
             <p>Home</p><p>Modules</p><p><b>Afterclass cohorts</b></p><p>Grades</p></nav>\
             <main style=\"padding:16px\"><h2 style=\"margin-top:0\">Afterclass cohorts</h2>\
             <iframe id=\"tool\" title=\"Afterclass cohorts\" src=\"{href}\" width=\"390\" height=\"700\" \
             style=\"border:1px solid #c7cdd1;background:#fff\" \
             allow=\"geolocation *; microphone *; camera *; midi *; encrypted-media *; autoplay *; clipboard-write *; display-capture *\" \
             allowfullscreen></iframe></main></body></html>"
        ))
        .into_response();
    }
    Html(format!(
        "{head}<body><h1>Intro to Rust</h1><a id=\"open-afterclass\" href=\"{href}\">Afterclass cohorts</a></body></html>"
    ))
    .into_response()
}

/// The real server, with `platform` registered (its registration written to a file beside the
/// database, the tool's key created beside it as in local use), and the platform told where the
/// tool is. `None` when the backend is not configured here.
pub async fn tool_for(platform: &Platform, backend: crate::Backend) -> Option<crate::TestApp> {
    let db = crate::fresh_database(backend).await?;
    let dir = std::env::temp_dir().join(format!("afterclass-lti-{}", uuid_like().replace(['-', '_'], "x")));
    std::fs::create_dir_all(&dir).unwrap();
    let registrations = dir.join("platforms.json");
    std::fs::write(&registrations, platform.registration().to_string()).unwrap();
    let key = dir.join("tool-key.pem");
    let app = crate::TestApp::spawn_with(backend, db, |url| {
        let mut config = crate::config(url);
        config.lti = Some(afterclass::config::LtiSettings {
            platforms: registrations.clone(),
            key: afterclass::config::ToolKeySource::Local(key.clone()),
            key_refresh: std::time::Duration::from_millis(200),
        });
        config
    })
    .await;
    // The server read both files at its start; nothing of the test stays behind.
    let _ = std::fs::remove_dir_all(&dir);
    platform.set_tool(&app.url(""));
    Some(app)
}

/// The suites' course: a platform with Ines (instructor) and the learners Theo and Uma, all three
/// on its NRPS roster, and the real server with the platform registered.
pub async fn course(backend: crate::Backend) -> Option<(Platform, crate::TestApp)> {
    let platform = Platform::start("localhost").await;
    let people = [
        User::instructor("lms-ines", "Ines Instructor"),
        User::learner("lms-theo", "Theo Trainee"),
        User::learner("lms-uma", "Uma Learner"),
    ];
    for user in &people {
        platform.add_user(user.clone());
    }
    platform.set_roster(people.to_vec());
    let app = tool_for(&platform, backend).await?;
    Some((platform, app))
}
