//! Afterclass as an LTI 1.3 tool, driven by a fake platform of the suites' own
//! (`afterclass_tests::lti_platform`) over real HTTP: OIDC login, launches (genuine and forged),
//! the session they open, deep linking and the roster from NRPS. Launches here are posted as a
//! browser would (form fields and the state cookie); `web_launch.rs` does it in a real browser.

use afterclass_tests::lti_platform::{KeyPair, Platform, User};
use afterclass_tests::{Backend, TestApp, instructor};
use serde_json::{Value, json};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// What a login hands the browser.
struct Login {
    location: reqwest::Url,
    set_cookie: String,
    state: String,
    nonce: String,
    /// `name=value` for the Cookie header.
    cookie: String,
}

async fn login(platform: &Platform, user: &str) -> Login {
    login_at(&platform.login_url(user, "resource")).await
}

async fn login_at(url: &str) -> Login {
    let response = no_redirects().get(url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 302, "login answers a redirect: {}", response.text().await.unwrap());
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let param = |name: &str| location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    Login { state: param("state"), nonce: param("nonce"), location: location.clone(), set_cookie, cookie }
}

/// Posts a launch form; `cookie` as the browser would send it.
async fn post_launch(app: &TestApp, fields: &[(&str, &str)], cookie: Option<&str>) -> (u16, String) {
    let mut request = no_redirects().post(app.url("/lti/launch")).form(fields);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), unescape(&response.text().await.unwrap()))
}

/// The page's text with the apostrophes and quotes the tool escapes put back, so that the suites
/// can look for its sentences.
fn unescape(page: &str) -> String {
    page.replace("&apos;", "'").replace("&quot;", "\"")
}

/// The session the app page carries.
fn session_of(page: &str) -> Value {
    let start = page.find("id=\"afterclass-session\">").expect("the page carries a session") + 24;
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

async fn setup(backend: Backend) -> Option<(Platform, TestApp)> {
    afterclass_tests::lti_platform::course(backend).await
}

/// A genuine launch of `user`, returning its session.
async fn launch(platform: &Platform, app: &TestApp, user: &User) -> Value {
    let login = login(platform, &user.sub).await;
    let token = platform.sign(&platform.launch_claims(user, &login.nonce));
    let (status, page) = post_launch(app, &[("id_token", &token), ("state", &login.state)], Some(&login.cookie)).await;
    assert_eq!(status, 200, "{page}");
    session_of(&page)
}

async fn genuine_launch_on(backend: Backend) {
    let Some((platform, app)) = setup(backend).await else { return };
    let login = login(&platform, "lms-ines").await;
    // The redirect carries everything the Security Framework asks for.
    assert_eq!(login.location.as_str().split('?').next(), Some(platform.url("/auth").as_str()));
    let params: std::collections::BTreeMap<String, String> = login.location.query_pairs().into_owned().collect();
    for (name, value) in [
        ("scope", "openid"),
        ("response_type", "id_token"),
        ("response_mode", "form_post"),
        ("prompt", "none"),
        ("client_id", platform.client_id()),
        ("login_hint", "lms-ines"),
        ("lti_message_hint", "resource"),
    ] {
        assert_eq!(params.get(name).map(String::as_str), Some(value), "{name}");
    }
    assert_eq!(params["redirect_uri"], app.url("/lti/launch"));
    assert!(login.nonce.len() >= 32 && login.state.len() > 40, "fresh nonce and signed state");
    // The state is bound to this browser by a cookie that survives a cross-site form post.
    for attribute in ["HttpOnly", "SameSite=None", "Secure", "Partitioned", "Path=/lti/launch"] {
        assert!(login.set_cookie.contains(attribute), "{attribute} in {}", login.set_cookie);
    }
    let before = app.counts().await;
    let ines = User::instructor("lms-ines", "Ines Instructor");
    let token = platform.sign(&platform.launch_claims(&ines, &login.nonce));
    let (status, page) = post_launch(&app, &[("id_token", &token), ("state", &login.state)], Some(&login.cookie)).await;
    assert_eq!(status, 200, "{page}");
    let session = session_of(&page);
    assert_eq!(session["role"], "instructor");
    assert_eq!(session["course"], json!({ "lmsCourseId": "course-42", "title": "Intro to Rust" }));
    assert_eq!(session["roster"], true);
    // The tenant, the person (just in time) and the nonce are the launch's only writes.
    let after = app.counts().await;
    // (SQLite's own `sqlite_sequence` follows the new rows' ids.)
    let grew: Vec<_> = after
        .iter()
        .filter(|(t, n)| before.get(*t) != Some(n) && *t != "sqlite_sequence")
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(grew, ["lti_nonces", "persons", "tenants"], "{before:?} → {after:?}");

    // The session is a bearer token for the API, as the LMS's person.
    let me = app
        .ok(session["token"].as_str().unwrap(), "{ viewer { role person { externalId displayName } } }", json!({}))
        .await;
    assert_eq!(
        me["viewer"],
        json!({ "role": "INSTRUCTOR", "person": { "externalId": "lms-ines", "displayName": "Ines Instructor" } })
    );

    // A learner becomes a trainee, without the roster.
    let theo = launch(&platform, &app, &User::learner("lms-theo", "Theo Trainee")).await;
    assert_eq!((theo["role"].as_str(), theo["roster"].as_bool()), (Some("trainee"), Some(false)));
    let me = app.ok(theo["token"].as_str().unwrap(), "{ viewer { role } }", json!({})).await;
    assert_eq!(me["viewer"]["role"], "TRAINEE");
}

#[tokio::test]
async fn a_genuine_launch_opens_the_app_with_a_session_for_the_api_sqlite() {
    genuine_launch_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_genuine_launch_opens_the_app_with_a_session_for_the_api_postgres() {
    genuine_launch_on(Backend::Postgres).await;
}

/// Each forged, replayed, expired or mis-addressed launch is refused with a page that says why,
/// and writes nothing, in any table.
#[tokio::test]
async fn forged_launches_are_refused_with_a_clear_page_and_nothing_written() {
    let (platform, app) = setup(Backend::Sqlite).await.unwrap();
    let ines = User::instructor("lms-ines", "Ines Instructor");
    let stranger = KeyPair::generate("stranger-key");

    // One genuine launch first, to replay.
    let used = login(&platform, "lms-ines").await;
    let used_token = platform.sign(&platform.launch_claims(&ines, &used.nonce));
    let (status, _) = post_launch(&app, &[("id_token", &used_token), ("state", &used.state)], Some(&used.cookie)).await;
    assert_eq!(status, 200);

    type Forge = Box<dyn Fn(&Platform, &Login) -> (Vec<(&'static str, String)>, Option<String>)>;
    let claims = |f: fn(&mut Value)| {
        move |p: &Platform, l: &Login| {
            let mut c = p.launch_claims(&User::instructor("lms-ines", "Ines Instructor"), &l.nonce);
            f(&mut c);
            c
        }
    };
    let signed = move |f: fn(&mut Value)| -> Forge {
        let make = claims(f);
        Box::new(move |p, l| {
            (vec![("id_token", p.sign(&make(p, l))), ("state", l.state.clone())], Some(l.cookie.clone()))
        })
    };
    let rows: Vec<(&str, Forge, u16, &str)> = vec![
        (
            "signed by a key that is not the platform's",
            Box::new(move |p, l| {
                let c = p.launch_claims(&User::instructor("lms-ines", "Ines"), &l.nonce);
                (
                    vec![("id_token", Platform::sign_with(&stranger, "stranger-key", &c)), ("state", l.state.clone())],
                    Some(l.cookie.clone()),
                )
            }),
            401,
            "not the platform's",
        ),
        (
            "a forged signature under the platform's key id",
            Box::new(|p, l| {
                let other = KeyPair::generate("platform-key-1");
                let c = p.launch_claims(&User::instructor("lms-ines", "Ines"), &l.nonce);
                (
                    vec![("id_token", Platform::sign_with(&other, "platform-key-1", &c)), ("state", l.state.clone())],
                    Some(l.cookie.clone()),
                )
            }),
            401,
            "signature does not match",
        ),
        ("addressed to another tool (aud)", signed(|c| c["aud"] = json!("someone-else")), 401, "another tool"),
        (
            "several audiences, azp another party",
            signed(|c| {
                c["aud"] = json!(["afterclass-client", "someone-else"]);
                c["azp"] = json!("someone-else");
            }),
            401,
            "azp",
        ),
        (
            "several audiences, no azp",
            signed(|c| c["aud"] = json!(["afterclass-client", "someone-else"])),
            401,
            "no `azp`",
        ),
        (
            "issued by another platform (iss)",
            signed(|c| c["iss"] = json!("https://evil.example")),
            401,
            "another platform",
        ),
        (
            "expired",
            signed(|c| {
                let now = chrono::Utc::now().timestamp();
                c["iat"] = json!(now - 900);
                c["exp"] = json!(now - 600);
            }),
            401,
            "expired",
        ),
        (
            "issued long ago",
            signed(|c| c["iat"] = json!(chrono::Utc::now().timestamp() - 7200)),
            401,
            "more than an hour ago",
        ),
        ("issued in the future", signed(|c| c["iat"] = json!(chrono::Utc::now().timestamp() + 3600)), 401, "future"),
        (
            "an unknown deployment",
            signed(|c| c["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] = json!("deployment-9")),
            401,
            "deployment `deployment-9` is not registered",
        ),
        ("a nonce other than the login's", signed(|c| c["nonce"] = json!("made-up")), 401, "nonce"),
        ("LTI 1.1", signed(|c| c["https://purl.imsglobal.org/spec/lti/claim/version"] = json!("1.1")), 401, "version"),
        (
            "an unknown message type",
            signed(|c| {
                c["https://purl.imsglobal.org/spec/lti/claim/message_type"] = json!("LtiSubmissionReviewRequest")
            }),
            401,
            "message type",
        ),
        (
            "a resource link launch without its link",
            signed(|c| {
                c.as_object_mut().unwrap().remove("https://purl.imsglobal.org/spec/lti/claim/resource_link");
            }),
            401,
            "names no resource link",
        ),
        (
            "aimed at another tool's address",
            signed(|c| {
                c["https://purl.imsglobal.org/spec/lti/claim/target_link_uri"] = json!("https://evil.example/launch")
            }),
            401,
            "not this Afterclass",
        ),
        (
            "unsigned (alg none)",
            Box::new(|p, l| {
                use base64::Engine;
                let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
                let c = p.launch_claims(&User::instructor("lms-ines", "Ines"), &l.nonce);
                let token = format!("{}.{}.", b64(&json!({ "alg": "none", "kid": "platform-key-1" })), b64(&c));
                (vec![("id_token", token), ("state", l.state.clone())], Some(l.cookie.clone()))
            }),
            401,
            "not a signed token",
        ),
        (
            "replayed (its nonce already used)",
            Box::new(move |_, _| {
                (vec![("id_token", used_token.clone()), ("state", used.state.clone())], Some(used.cookie.clone()))
            }),
            401,
            "already used",
        ),
        (
            "no state",
            Box::new(|p, l| {
                (
                    vec![("id_token", p.sign(&p.launch_claims(&User::instructor("lms-ines", "I"), &l.nonce)))],
                    Some(l.cookie.clone()),
                )
            }),
            400,
            "no `state`",
        ),
        (
            "a state this tool did not issue",
            Box::new(|p, l| {
                let mut state = l.state.clone();
                state.push('x');
                (
                    vec![
                        ("id_token", p.sign(&p.launch_claims(&User::instructor("lms-ines", "I"), &l.nonce))),
                        ("state", state),
                    ],
                    Some(l.cookie.clone()),
                )
            }),
            401,
            "not issued by this Afterclass",
        ),
        (
            "another browser's state (no cookie, after the relay)",
            Box::new(|p, l| {
                (
                    vec![
                        ("id_token", p.sign(&p.launch_claims(&User::instructor("lms-ines", "I"), &l.nonce))),
                        ("state", l.state.clone()),
                        ("relay", "1".into()),
                    ],
                    None,
                )
            }),
            401,
            "another browser",
        ),
        (
            "no id_token",
            Box::new(|_, l| (vec![("state", l.state.clone())], Some(l.cookie.clone()))),
            400,
            "no `id_token`",
        ),
    ];

    let mut table = Vec::new();
    for (name, forge, status, reason) in &rows {
        let login = login(&platform, "lms-ines").await;
        let (fields, cookie) = forge(&platform, &login);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let before = app.counts().await;
        let (got, page) = post_launch(&app, &fields, cookie.as_deref()).await;
        let after = app.counts().await;
        assert_eq!(got, *status, "{name}: {page}");
        assert!(
            page.contains("Afterclass could not open") && page.contains(reason),
            "{name}: the page says why: {page}"
        );
        assert!(!page.contains("afterclass-session"), "{name}: no session");
        assert_eq!(before, after, "{name}: nothing written");
        table.push(format!("{name:<55} {got}  {reason}"));
    }
    println!("forged launches, each refused:\n{}", table.join("\n"));
}

/// Without its cookie on the platform's cross-site post, the launch is posted once more from the
/// tool's own page, where a same-site cookie is sent.
#[tokio::test]
async fn a_launch_without_its_cookie_is_relayed_once_from_the_tools_own_page() {
    let (platform, app) = setup(Backend::Sqlite).await.unwrap();
    let login = login(&platform, "lms-ines").await;
    let token = platform.sign(&platform.launch_claims(&User::instructor("lms-ines", "Ines"), &login.nonce));
    let before = app.counts().await;
    let (status, page) = post_launch(&app, &[("id_token", &token), ("state", &login.state)], None).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"lti-relay\"") && page.contains("name=\"relay\""), "{page}");
    assert_eq!(before, app.counts().await, "the relay writes nothing");
    let (status, page) =
        post_launch(&app, &[("id_token", &token), ("state", &login.state), ("relay", "1")], Some(&login.cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(session_of(&page)["role"], "instructor");
}

#[tokio::test]
async fn login_refuses_unknown_platforms_deployments_and_foreign_targets() {
    let (platform, app) = setup(Backend::Sqlite).await.unwrap();
    let tool = app.url("");
    let cases = [
        (
            format!("{tool}/lti/login?iss=https://evil.example&login_hint=x&target_link_uri={tool}/lti/launch"),
            401,
            "no registration",
        ),
        (format!("{tool}/lti/login?iss={}&target_link_uri={tool}/lti/launch", platform.issuer()), 400, "login_hint"),
        (
            format!("{tool}/lti/login?iss={}&login_hint=x&target_link_uri=https://evil.example/x", platform.issuer()),
            400,
            "not on this Afterclass",
        ),
        (
            format!(
                "{tool}/lti/login?iss={}&login_hint=x&target_link_uri={tool}/lti/launch&lti_deployment_id=nope",
                platform.issuer()
            ),
            401,
            "deployment `nope`",
        ),
        (
            format!(
                "{tool}/lti/login?iss={}&login_hint=x&target_link_uri={tool}/lti/launch&client_id=other",
                platform.issuer()
            ),
            401,
            "client id `other`",
        ),
    ];
    let before = app.counts().await;
    for (url, status, reason) in cases {
        let response = no_redirects().get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{url}");
        assert!(response.headers().get("set-cookie").is_none());
        let page = unescape(&response.text().await.unwrap());
        assert!(page.contains(reason), "{url}: {page}");
    }
    // A POSTed login initiation works as the GET does.
    let response = no_redirects()
        .post(app.url("/lti/login"))
        .form(&[("iss", platform.issuer()), ("login_hint", "lms-ines"), ("target_link_uri", &app.url("/lti/launch"))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(before, app.counts().await, "logins write nothing");
}

#[tokio::test]
async fn the_roster_comes_from_the_platform_with_a_signed_client_assertion() {
    let (platform, app) = setup(Backend::Sqlite).await.unwrap();
    let roster: Vec<User> = vec![
        User::instructor("lms-ines", "Ines Instructor"),
        User::learner("lms-theo", "Theo Trainee"),
        User::learner("lms-uma", "Uma Learner"),
        User::learner("lms-vic", "Vic Learner"),
        User::learner("lms-wen", "Wen Learner"),
    ];
    platform.set_roster(roster);
    let ines = launch(&platform, &app, &User::instructor("lms-ines", "Ines Instructor")).await;
    let token = ines["token"].as_str().unwrap();
    let response = app.client().get(app.url("/lti/roster")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let members = body["members"].as_array().unwrap();
    assert_eq!(members.len(), 5, "every page of the roster: {body:#}");
    assert_eq!(platform.roster_pages(), 3, "five members at two a page");
    assert_eq!(
        members[1],
        json!({ "externalId": "lms-theo", "displayName": "Theo Trainee", "email": "lms-theo@lms.example", "lmsRole": "trainee" })
    );
    assert_eq!(members[0]["lmsRole"], "instructor");
    // The platform checked the tool's client assertion against the tool's published key.
    let assertion = &platform.assertions()[0];
    assert_eq!(
        (assertion["iss"].as_str(), assertion["sub"].as_str()),
        (Some(platform.client_id()), Some(platform.client_id()))
    );
    assert_eq!(assertion["aud"], platform.url("/token"));

    // The instructor creates a cohort from it with the same session.
    let trainees: Vec<Value> = members
        .iter()
        .filter(|m| m["lmsRole"] == "trainee")
        .map(|m| json!({ "externalId": m["externalId"], "displayName": m["displayName"], "email": m["email"] }))
        .collect();
    let created = app
        .ok(
            token,
            "mutation($input: CreateCohortInput!) { createCohort(input: $input) { cohort { id members(first: 10) { totalCount } } userErrors { code message } } }",
            json!({ "input": {
                "name": "Rust practice circle", "domain": "programming", "purpose": "Keep writing Rust after the course",
                "horizon": "SHORT_TERM", "course": { "lmsCourseId": ines["course"]["lmsCourseId"], "title": "Intro to Rust" },
                "codeOfConduct": "Be kind; share what you learn.", "roster": trainees,
            } }),
        )
        .await;
    assert_eq!(created["createCohort"]["userErrors"], json!([]), "{created:#}");
    assert_eq!(created["createCohort"]["cohort"]["members"]["totalCount"], 5, "the leader and four invited");

    // A trainee may not read the roster; nor may a token that is not a launch's session.
    let theo = launch(&platform, &app, &User::learner("lms-theo", "Theo Trainee")).await;
    let refused =
        app.client().get(app.url("/lti/roster")).bearer_auth(theo["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("instructors"), "{body}");
    let local =
        app.client().get(app.url("/lti/roster")).bearer_auth(instructor("ada", "lms-tenant")).send().await.unwrap();
    assert_eq!(local.status().as_u16(), 401);
    let none = app.client().get(app.url("/lti/roster")).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 401);
}

#[tokio::test]
async fn deep_linking_answers_the_platform_with_a_signed_resource_link() {
    let (platform, app) = setup(Backend::Sqlite).await.unwrap();
    let ines = User::instructor("lms-ines", "Ines Instructor");
    let login = login_at(&platform.login_url("lms-ines", "deep-link")).await;
    let token = platform.sign(&platform.deep_linking_claims(&ines, &login.nonce));
    let (status, page) = post_launch(&app, &[("id_token", &token), ("state", &login.state)], Some(&login.cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("action=\"{}\"", platform.url("/deep-link-return"))), "{page}");
    let start = page.find("name=\"JWT\" value=\"").unwrap() + 18;
    let jwt = &page[start..start + page[start..].find('"').unwrap()];
    // The platform verifies it with the tool's published key and places the link.
    let placed =
        reqwest::Client::new().post(platform.url("/deep-link-return")).form(&[("JWT", jwt)]).send().await.unwrap();
    assert_eq!(placed.status().as_u16(), 200, "{}", placed.text().await.unwrap());
    let response = &platform.deep_links()[0];
    assert_eq!(response["https://purl.imsglobal.org/spec/lti/claim/message_type"], "LtiDeepLinkingResponse");
    assert_eq!(response["https://purl.imsglobal.org/spec/lti/claim/deployment_id"], platform.deployment_id());
    assert_eq!(response["https://purl.imsglobal.org/spec/lti-dl/claim/data"], "opaque-platform-data");
    let item = &response["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0];
    assert_eq!(
        (item["type"].as_str(), item["url"].as_str()),
        (Some("ltiResourceLink"), Some(app.url("/lti/launch").as_str()))
    );

    // Learners do not place tools.
    let theo = User::learner("lms-theo", "Theo Trainee");
    let login = login_at(&platform.login_url("lms-theo", "deep-link")).await;
    let token = platform.sign(&platform.deep_linking_claims(&theo, &login.nonce));
    let (status, page) = post_launch(&app, &[("id_token", &token), ("state", &login.state)], Some(&login.cookie)).await;
    assert_eq!(status, 403);
    assert!(page.contains("only the course's instructors"), "{page}");
}

#[tokio::test]
async fn the_tool_publishes_its_key_and_says_when_no_platform_is_registered() {
    let (_platform, app) = setup(Backend::Sqlite).await.unwrap();
    let set: Value = app.client().get(app.url("/lti/jwks")).send().await.unwrap().json().await.unwrap();
    let key = &set["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()) && key.get("d").is_none(), "public only: {key}");

    let plain = TestApp::spawn(Backend::Sqlite).await.unwrap();
    for path in ["/lti/login?iss=x", "/lti/jwks"] {
        let response = plain.client().get(plain.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        assert!(response.text().await.unwrap().contains("no LMS platform registered"), "{path}");
    }
}

/// The platform's key set is cached and fetched again when a launch names a key it does not hold.
#[tokio::test]
async fn a_rotated_platform_key_is_fetched_when_a_launch_names_it() {
    let (platform, app) = setup(Backend::Sqlite).await.unwrap();
    let ines = User::instructor("lms-ines", "Ines Instructor");
    launch(&platform, &app, &ines).await;
    platform.rotate_key("platform-key-2");
    // Past the refresh interval (200 ms in the suites), the new key is fetched and trusted.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let session = launch(&platform, &app, &ines).await;
    assert_eq!(session["role"], "instructor");
}

/// The web app's sessions meet the same rules on their times and header as every bearer token:
/// a session signed with the tool's own key but issued in the future, meant to live longer than
/// tokens may, or naming a critical header extension is refused, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_meet_the_same_rules_on_times_and_headers_as_every_token() {
    const TOOL_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/rs256-private.pem");
    let platform = Platform::start("localhost").await;
    platform.add_user(User::instructor("lms-ines", "Ines Instructor"));
    let dir = std::env::temp_dir().join(format!("afterclass-lti-sessions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let registrations = dir.join("platforms.json");
    std::fs::write(&registrations, platform.registration().to_string()).unwrap();
    let app = TestApp::sqlite_with(|config| {
        config.lti = Some(afterclass::config::LtiSettings {
            platforms: registrations.clone(),
            key: afterclass::config::ToolKeySource::Configured(TOOL_KEY.into()),
            key_refresh: std::time::Duration::from_millis(200),
        });
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    platform.set_tool(&app.url(""));

    let session = launch(&platform, &app, &User::instructor("lms-ines", "Ines Instructor")).await;
    let genuine = session["token"].as_str().unwrap().to_owned();
    assert_eq!(app.ask_viewer(Some(&format!("Bearer {genuine}"))).await.0, 200);
    let header = jsonwebtoken::decode_header(&genuine).unwrap();
    let payload = genuine.split('.').nth(1).unwrap();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(TOOL_KEY).unwrap()).unwrap();
    let sign = |header: &jsonwebtoken::Header, claims: &Value| jsonwebtoken::encode(header, claims, &key).unwrap();
    // The tool's key re-signs the genuine claims and header: accepted.
    assert_eq!(app.ask_viewer(Some(&format!("Bearer {}", sign(&header, &claims)))).await.0, 200);

    let now = chrono::Utc::now().timestamp();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        sign(&header, &c)
    };
    let mut critical = header.clone();
    critical.crit = Some(vec!["exp-ext".into()]);
    critical.extras.insert("exp-ext", "x");
    for (row, token, says) in [
        ("issued two minutes in the future", with(&|c| c["iat"] = json!(now + 120)), "in the future"),
        ("valid for 25 hours", with(&|c| c["exp"] = json!(now + 25 * 3600)), "exp - iat"),
        ("an unknown critical extension", sign(&critical, &claims), "`crit`"),
    ] {
        let body = app.assert_refused_token(&token).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{row}: {message}");
    }
    app.stop().await;
}
