//! Webhooks end to end: the real server over HTTP with real tokens registers endpoints; the
//! delivery worker's passes (`afterclass::webhooks::pass`, driven with the test's own clock) send
//! to a real receiver, an axum server on 127.0.0.1 inside the test that records every request and
//! answers with scripted statuses. Signatures are checked with `hmac`, `sha2` and `base64`
//! directly, not with the signer under test. On both stores.

use std::collections::BTreeMap;

use afterclass::config::WebhookSettings;
use afterclass::store::Store;
use afterclass::webhooks::{self, Deliverer};
use afterclass_tests::receiver::{Received, Receiver};
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{
    Backend, TestApp, active_cohort, config, error_codes, fresh_database, instructor, integration, ops, trainee,
    user_error_codes,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const TENANT: &str = "uni-a";

// ---------------------------------------------------------------------------------------------
// An independent verifier
// ---------------------------------------------------------------------------------------------

/// The `v1` signatures of a `webhook-signature` header that `secret` made over the request.
fn valid_signatures(secret: &str, request: &Received) -> usize {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("a whsec_ secret")).unwrap();
    let id = &request.headers["webhook-id"];
    let timestamp = &request.headers["webhook-timestamp"];
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{}", request.body).as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    request.headers["webhook-signature"]
        .split(' ')
        .filter(|part| part.strip_prefix("v1,") == Some(expected.as_str()))
        .count()
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const CREATE: &str = r#"mutation($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { endpoint { id url kinds enabled createdAt } signingSecret userErrors { field message code } } }"#;
const ROTATE: &str = r#"mutation($input: WebhookEndpointRefInput!) {
    rotateWebhookSecret(input: $input) { endpoint { id } signingSecret userErrors { field message code } } }"#;
const DISABLE: &str = r#"mutation($input: WebhookEndpointRefInput!) {
    disableWebhookEndpoint(input: $input) { endpoint { id enabled } signingSecret userErrors { field message code } } }"#;
const ENDPOINTS: &str = "{ webhookEndpoints { id url kinds enabled } }";
const DELIVERIES: &str = r#"query($id: ID!, $status: DeliveryStatus) { node(id: $id) { ... on WebhookEndpoint {
    enabled deliveries(first: 100, status: $status) { totalCount nodes { id attempts status lastResponseStatus
    nextAttemptAt deliveredAt event { id kind payload } } } } } }"#;

/// A server over a fresh database that lets webhooks reach the test's loopback receiver.
async fn spawn(backend: Backend) -> Option<TestApp> {
    let db = fresh_database(backend).await?;
    Some(
        TestApp::spawn_with(backend, db, |url| {
            let mut cfg = config(url);
            cfg.webhooks.allow_private = true;
            cfg
        })
        .await,
    )
}

/// Declares each scenario `async fn name(app: TestApp)` on both stores, over [`spawn`].
macro_rules! on_both_stores_reaching_loopback {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = super::spawn(afterclass_tests::Backend::Sqlite).await.expect("SQLite is always available");
                    super::$name(app).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = super::spawn(afterclass_tests::Backend::Postgres).await else { return };
                    super::$name(app).await;
                }
            )+
        }
    };
}

fn deliverer() -> Deliverer {
    Deliverer::new(WebhookSettings { allow_private: true, timeout: std::time::Duration::from_secs(5) }).unwrap()
}

struct Endpoint {
    id: String,
    secret: String,
}

async fn create_endpoint(app: &TestApp, token: &str, url: &str, kinds: Option<&[&str]>) -> Endpoint {
    // An endpoint receives what settles after it is made: let the set-up's events settle first.
    app.settle().await;
    let data = app.ok(token, CREATE, json!({ "input": { "url": url, "kinds": kinds } })).await;
    let payload = &data["createWebhookEndpoint"];
    assert_eq!(payload["userErrors"], json!([]), "{data:#}");
    Endpoint {
        id: payload["endpoint"]["id"].as_str().unwrap().to_owned(),
        secret: payload["signingSecret"].as_str().expect("a signing secret on create").to_owned(),
    }
}

async fn check_in(app: &TestApp, token: &str, cohort: &str, goal: &str) -> String {
    let data =
        app.ok(token, ops::CHECK_IN, json!({ "input": { "cohortId": cohort, "goalId": goal, "value": 1.0 } })).await;
    data["logCheckIn"]["checkIn"]["id"].as_str().unwrap().to_owned()
}

async fn deliveries(app: &TestApp, endpoint: &str, status: Option<&str>) -> Value {
    let data = app.ok(&integration(TENANT), DELIVERIES, json!({ "id": endpoint, "status": status })).await;
    data["node"].clone()
}

async fn the_delivery(app: &TestApp, endpoint: &str) -> Value {
    let node = deliveries(app, endpoint, None).await;
    let nodes = node["deliveries"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 1, "one delivery: {node:#}");
    nodes[0].clone()
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time, got {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// Whole seconds from now on, so the worker's times read back exactly.
fn clock() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

async fn pass(store: &Store, at: DateTime<Utc>) -> webhooks::Report {
    afterclass_tests::settle(store).await;
    webhooks::pass(store, &deliverer(), at).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async fn a_check_in_reaches_the_receiver_once_signed(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let lms = integration(TENANT);
    let endpoint = create_endpoint(&app, &lms, &receiver.url("/hooks"), None).await;
    let check_in_id = check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    let now = clock();
    let report = pass(&app.store, now).await;
    assert_eq!((report.fanned_out, report.attempted, report.delivered), (1, 1, 1), "{report:?}");
    // A second pass sends nothing again.
    pass(&app.store, now + Duration::seconds(10)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let request = &received[0];
    let data =
        app.ok(&lms, "{ events(first: 100, kinds: [CHECK_IN_LOGGED]) { nodes { id payload } } }", json!({})).await;
    let event = &data["events"]["nodes"][0];
    assert_eq!(request.body, event["payload"].as_str().unwrap(), "the body is the event's payload exactly");
    let payload: Value = afterclass_tests::serde_json::from_str(&request.body).unwrap();
    assert_eq!(payload["type"], "CHECK_IN_LOGGED");
    assert_eq!(payload["data"]["checkInId"], check_in_id.as_str());
    assert_eq!(request.headers["webhook-id"], event["id"].as_str().unwrap());
    assert_eq!(request.headers["webhook-timestamp"], now.timestamp().to_string());
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.path, "/hooks");
    assert_eq!(valid_signatures(&endpoint.secret, request), 1, "{:?}", request.headers);
    let other_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_eq!(valid_signatures(other_secret, request), 0);
    let delivery = the_delivery(&app, &endpoint.id).await;
    assert_eq!(delivery["status"], "DELIVERED", "{delivery:#}");
    assert_eq!((delivery["attempts"].clone(), delivery["lastResponseStatus"].clone()), (json!(1), json!(200)));
    assert_eq!(time(&delivery["deliveredAt"]), now);
    assert!(delivery["nextAttemptAt"].is_null());
    assert_eq!(delivery["event"]["id"], event["id"]);
    app.stop().await;
}

async fn the_secret_is_shown_only_by_create_and_rotate(app: TestApp) {
    let ada = instructor("ada", TENANT);
    let endpoint =
        create_endpoint(&app, &ada, "https://hooks.example.edu/afterclass", Some(&["CHECK_IN_LOGGED"])).await;
    assert!(endpoint.secret.starts_with("whsec_"));
    let bytes = STANDARD.decode(&endpoint.secret["whsec_".len()..]).unwrap();
    assert!((24..=64).contains(&bytes.len()), "{} bytes", bytes.len());
    let input = json!({ "input": { "endpointId": endpoint.id } });
    let data = app.ok(&ada, ROTATE, input.clone()).await;
    let rotated = data["rotateWebhookSecret"]["signingSecret"].as_str().unwrap();
    assert!(rotated.starts_with("whsec_") && rotated != endpoint.secret);
    let data = app.ok(&ada, DISABLE, input.clone()).await;
    assert!(data["disableWebhookEndpoint"]["signingSecret"].is_null(), "{data:#}");
    assert_eq!(data["disableWebhookEndpoint"]["endpoint"]["enabled"], false);
    let data = app.ok(&ada, ENDPOINTS, json!({})).await;
    assert_eq!(data["webhookEndpoints"].as_array().unwrap().len(), 1);
    assert_eq!(data["webhookEndpoints"][0]["kinds"], json!(["CHECK_IN_LOGGED"]));
    let body = app.gql(&ada, "{ webhookEndpoints { signingSecret } }", json!({})).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "no field shows the secret again: {body:#}");
    app.stop().await;
}

async fn trainees_are_refused_and_another_tenants_endpoint_is_not_found(app: TestApp) {
    let ada = instructor("ada", TENANT);
    let endpoint = create_endpoint(&app, &ada, "https://hooks.example.edu/afterclass", None).await;
    let tom = trainee("tom", TENANT);
    app.ok(&tom, "{ viewer { role } }", json!({})).await;
    let before = app.counts().await;
    let input = json!({ "input": { "endpointId": endpoint.id } });
    for (query, variables) in [
        (CREATE, json!({ "input": { "url": "https://hooks.example.edu/mine" } })),
        (ROTATE, input.clone()),
        (DISABLE, input.clone()),
        (ENDPOINTS, json!({})),
        ("query($id: ID!) { node(id: $id) { id } }", json!({ "id": endpoint.id })),
    ] {
        let body = app.gql(&tom, query, variables).await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{query}: {body:#}");
    }
    assert_eq!(app.counts().await, before, "refused requests wrote nothing");
    let other = integration("uni-b");
    app.ok(&other, "{ viewer { role } }", json!({})).await;
    let before = app.counts().await;
    for query in [ROTATE, DISABLE] {
        let body = app.gql(&other, query, input.clone()).await;
        assert_eq!(error_codes(&body), ["NOT_FOUND"], "{query}: {body:#}");
    }
    let body = app.gql(&other, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": endpoint.id })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"], "{body:#}");
    let data = app.ok(&other, ENDPOINTS, json!({})).await;
    assert_eq!(data["webhookEndpoints"], json!([]));
    assert_eq!(app.counts().await, before, "another tenant's requests wrote nothing");
    let data = app.ok(&ada, ENDPOINTS, json!({})).await;
    assert_eq!(data["webhookEndpoints"][0]["enabled"], true, "still enabled");
    app.stop().await;
}

async fn an_endpoint_receives_only_its_kinds(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom", "eve"]).await;
    create_endpoint(&app, &integration(TENANT), &receiver.url("/left"), Some(&["MEMBER_LEFT"])).await;
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    app.ok(&c.trainees[1], ops::LEAVE, json!({ "input": { "cohortId": c.id } })).await;
    pass(&app.store, clock()).await;
    let received = receiver.received();
    let types: Vec<String> = received
        .iter()
        .map(|r| afterclass_tests::serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["MEMBER_LEFT"]);
    app.stop().await;
}

async fn failures_are_retried_on_the_schedule_then_delivered(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let endpoint = create_endpoint(&app, &integration(TENANT), &receiver.url("/flaky"), None).await;
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    receiver.script(&[(500, None), (502, None)]);
    let t0 = clock();
    pass(&app.store, t0).await;
    let d = the_delivery(&app, &endpoint.id).await;
    assert_eq!(
        (d["status"].clone(), d["attempts"].clone(), d["lastResponseStatus"].clone()),
        (json!("RETRYING"), json!(1), json!(500))
    );
    let next = time(&d["nextAttemptAt"]);
    assert!(next >= t0 + Duration::seconds(5) && next <= t0 + Duration::milliseconds(5500), "{next} after {t0}");
    let retrying = deliveries(&app, &endpoint.id, Some("RETRYING")).await;
    assert_eq!(retrying["deliveries"]["totalCount"], 1);
    assert_eq!(deliveries(&app, &endpoint.id, Some("DELIVERED")).await["deliveries"]["totalCount"], 0);
    // Not due yet: nothing is sent.
    pass(&app.store, t0 + Duration::seconds(4)).await;
    assert_eq!(receiver.received().len(), 1);
    let t1 = t0 + Duration::seconds(6);
    pass(&app.store, t1).await;
    let d = the_delivery(&app, &endpoint.id).await;
    assert_eq!(
        (d["status"].clone(), d["attempts"].clone(), d["lastResponseStatus"].clone()),
        (json!("RETRYING"), json!(2), json!(502))
    );
    let next = time(&d["nextAttemptAt"]);
    assert!(next >= t1 + Duration::minutes(5) && next <= t1 + Duration::seconds(330), "{next} after {t1}");
    let t2 = next;
    pass(&app.store, t2).await;
    let d = the_delivery(&app, &endpoint.id).await;
    assert_eq!(
        (d["status"].clone(), d["attempts"].clone(), d["lastResponseStatus"].clone()),
        (json!("DELIVERED"), json!(3), json!(200))
    );
    assert_eq!(time(&d["deliveredAt"]), t2);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    // One webhook-id across retries, a timestamp per attempt, each validly signed.
    assert!(received.iter().all(|r| r.headers["webhook-id"] == received[0].headers["webhook-id"]));
    let stamps: Vec<String> = received.iter().map(|r| r.headers["webhook-timestamp"].clone()).collect();
    assert_eq!(stamps, [t0, t1, t2].map(|t| t.timestamp().to_string()));
    assert!(received.iter().all(|r| valid_signatures(&endpoint.secret, r) == 1));
    assert_eq!(deliveries(&app, &endpoint.id, Some("DELIVERED")).await["deliveries"]["totalCount"], 1);
    assert_eq!(deliveries(&app, &endpoint.id, Some("RETRYING")).await["deliveries"]["totalCount"], 0);
    app.stop().await;
}

async fn a_delivery_fails_after_the_last_attempt_of_the_schedule(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let endpoint = create_endpoint(&app, &integration(TENANT), &receiver.url("/down"), None).await;
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    receiver.script(&[(500, None); 8]);
    let mut at = clock();
    let waits = [5, 300, 1800, 7200, 18000, 36000, 36000];
    for (attempt, wait) in waits.iter().enumerate() {
        pass(&app.store, at).await;
        let d = the_delivery(&app, &endpoint.id).await;
        assert_eq!((d["status"].clone(), d["attempts"].clone()), (json!("RETRYING"), json!(attempt + 1)), "{d:#}");
        let next = time(&d["nextAttemptAt"]);
        let wait = Duration::seconds(*wait);
        assert!(next >= at + wait && next <= at + wait + wait / 10, "attempt {}: {next} after {at}", attempt + 1);
        at = next;
    }
    pass(&app.store, at).await;
    let d = the_delivery(&app, &endpoint.id).await;
    assert_eq!((d["status"].clone(), d["attempts"].clone()), (json!("FAILED"), json!(8)), "{d:#}");
    assert!(d["nextAttemptAt"].is_null());
    pass(&app.store, at + Duration::days(2)).await;
    assert_eq!(receiver.received().len(), 8);
    assert_eq!(deliveries(&app, &endpoint.id, Some("FAILED")).await["deliveries"]["totalCount"], 1);
    app.stop().await;
}

async fn gone_disables_the_endpoint(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let endpoint = create_endpoint(&app, &integration(TENANT), &receiver.url("/gone"), None).await;
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    receiver.script(&[(410, None)]);
    let t0 = clock();
    pass(&app.store, t0).await;
    let node = deliveries(&app, &endpoint.id, None).await;
    assert_eq!(node["enabled"], false, "{node:#}");
    let d = &node["deliveries"]["nodes"][0];
    assert_eq!((d["status"].clone(), d["lastResponseStatus"].clone()), (json!("FAILED"), json!(410)));
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    pass(&app.store, t0 + Duration::hours(1)).await;
    assert_eq!(receiver.received().len(), 1, "nothing more is sent to a disabled endpoint");
    app.stop().await;
}

async fn too_many_requests_defers_by_retry_after(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let endpoint = create_endpoint(&app, &integration(TENANT), &receiver.url("/busy"), None).await;
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    receiver.script(&[(429, Some("120"))]);
    let t0 = clock();
    pass(&app.store, t0).await;
    let d = the_delivery(&app, &endpoint.id).await;
    assert_eq!((d["status"].clone(), d["lastResponseStatus"].clone()), (json!("RETRYING"), json!(429)));
    assert!(time(&d["nextAttemptAt"]) >= t0 + Duration::seconds(120), "{d:#}");
    pass(&app.store, t0 + Duration::seconds(60)).await;
    assert_eq!(receiver.received().len(), 1, "not before Retry-After");
    pass(&app.store, t0 + Duration::seconds(121)).await;
    assert_eq!(the_delivery(&app, &endpoint.id).await["status"], "DELIVERED");
    assert_eq!(receiver.received().len(), 2);
    app.stop().await;
}

async fn a_rotated_secret_signs_beside_the_old_one_during_the_grace(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let lms = integration(TENANT);
    let endpoint = create_endpoint(&app, &lms, &receiver.url("/rotating"), None).await;
    let data = app.ok(&lms, ROTATE, json!({ "input": { "endpointId": endpoint.id } })).await;
    let new_secret = data["rotateWebhookSecret"]["signingSecret"].as_str().unwrap().to_owned();
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    let t0 = clock();
    pass(&app.store, t0).await;
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    pass(&app.store, t0 + Duration::hours(25)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let during = &received[0];
    assert_eq!(during.headers["webhook-signature"].split(' ').count(), 2, "{:?}", during.headers);
    assert!(during.headers["webhook-signature"].split(' ').next().unwrap().starts_with("v1,"));
    assert_eq!(valid_signatures(&new_secret, during), 1);
    assert_eq!(valid_signatures(&endpoint.secret, during), 1);
    let after = &received[1];
    assert_eq!(after.headers["webhook-signature"].split(' ').count(), 1, "{:?}", after.headers);
    assert_eq!(valid_signatures(&new_secret, after), 1);
    assert_eq!(valid_signatures(&endpoint.secret, after), 0);
    app.stop().await;
}

async fn racing_workers_deliver_each_event_to_each_endpoint_once(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let lms = integration(TENANT);
    let first = create_endpoint(&app, &lms, &receiver.url("/one"), None).await;
    let second = create_endpoint(&app, &lms, &receiver.url("/two"), Some(&["CHECK_IN_LOGGED"])).await;
    // Two stores over one database, as two replicas would hold.
    let other = Store::connect(&app.db.url, 5).await.unwrap();
    let now = clock();
    for round in 0..4 {
        for _ in 0..5 {
            check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
        }
        let at = now + Duration::seconds(round);
        app.settle().await;
        let (d1, d2) = (deliverer(), deliverer());
        let (a, b, c2) = tokio::join!(
            webhooks::pass(&app.store, &d1, at),
            webhooks::pass(&other, &d2, at),
            webhooks::pass(&app.store, &d1, at),
        );
        a.unwrap();
        b.unwrap();
        c2.unwrap();
    }
    pass(&app.store, now + Duration::seconds(10)).await;
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in receiver.received() {
        *seen.entry((r.path.clone(), r.headers["webhook-id"].clone())).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "each event once per endpoint: {seen:?}");
    let per_path = |p: &str| seen.keys().filter(|(path, _)| path == p).count();
    assert_eq!((per_path("/one"), per_path("/two")), (20, 20));
    for endpoint in [&first, &second] {
        let node = deliveries(&app, &endpoint.id, Some("DELIVERED")).await;
        assert_eq!(node["deliveries"]["totalCount"], 20, "{node:#}");
    }
    other.close().await;
    app.stop().await;
}

async fn a_dead_workers_claim_is_delivered_after_its_lease(app: TestApp) {
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let endpoint = create_endpoint(&app, &integration(TENANT), &receiver.url("/lease"), None).await;
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    let t0 = clock();
    app.settle().await;
    webhooks::fan_out(&app.store, t0).await.unwrap();
    // A worker claims it and dies before attempting it.
    let claimed = webhooks::claim(&app.store, t0, Duration::seconds(30)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    pass(&app.store, t0 + Duration::seconds(10)).await;
    assert_eq!(receiver.received().len(), 0, "the claim still holds");
    pass(&app.store, t0 + Duration::seconds(31)).await;
    assert_eq!(receiver.received().len(), 1);
    let d = the_delivery(&app, &endpoint.id).await;
    assert_eq!((d["status"].clone(), d["attempts"].clone()), (json!("DELIVERED"), json!(1)));
    // The dead worker's late outcome is not recorded over the one that counts.
    let late = webhooks::attempt(&app.store, &deliverer(), &claimed[0], t0 + Duration::seconds(40)).await.unwrap();
    assert_eq!(late, afterclass_domain::webhook::Verdict::Delivered);
    assert_eq!(the_delivery(&app, &endpoint.id).await["attempts"], 1);
    app.stop().await;
}

on_both_stores_reaching_loopback!(
    a_check_in_reaches_the_receiver_once_signed,
    the_secret_is_shown_only_by_create_and_rotate,
    trainees_are_refused_and_another_tenants_endpoint_is_not_found,
    an_endpoint_receives_only_its_kinds,
    failures_are_retried_on_the_schedule_then_delivered,
    a_delivery_fails_after_the_last_attempt_of_the_schedule,
    gone_disables_the_endpoint,
    too_many_requests_defers_by_retry_after,
    a_rotated_secret_signs_beside_the_old_one_during_the_grace,
    racing_workers_deliver_each_event_to_each_endpoint_once,
    a_dead_workers_claim_is_delivered_after_its_lease,
);

/// With private receivers not allowed (the default), internal and non-http URLs are refused
/// with a `userError` on the URL, and nothing is written.
async fn internal_receivers_are_refused(app: TestApp) {
    let lms = integration(TENANT);
    app.ok(&lms, "{ viewer { role } }", json!({})).await;
    let before = app.counts().await;
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/hooks",
        "http://192.168.1.20/hooks",
        "http://100.64.1.1/hooks",
        "http://2130706433/hooks",
        "ftp://hooks.example.edu/",
        "file:///etc/passwd",
        "not a url",
    ] {
        let data = app.ok(&lms, CREATE, json!({ "input": { "url": url } })).await;
        let payload = &data["createWebhookEndpoint"];
        assert_eq!(user_error_codes(payload), ["INVALID_INPUT"], "{url}: {data:#}");
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", "url"]), "{url}");
        assert!(payload["endpoint"].is_null() && payload["signingSecret"].is_null(), "{url}");
    }
    assert_eq!(app.counts().await, before, "refused URLs wrote nothing");
    create_endpoint(&app, &lms, "https://hooks.example.edu/afterclass", None).await;
    app.stop().await;
}

mod default_settings {
    afterclass_tests::on_both_stores!(internal_receivers_are_refused);
    use super::internal_receivers_are_refused;
}

/// A worker that does not allow private receivers sends nothing to one, even when it was
/// registered while they were allowed: the address is checked again at each attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_receiver_is_not_reached_when_private_receivers_are_not_allowed() {
    let app = spawn(Backend::Sqlite).await.unwrap();
    let receiver = Receiver::start().await;
    let c = active_cohort(&app, TENANT, &["tom"]).await;
    let endpoint = create_endpoint(&app, &integration(TENANT), &receiver.url("/private"), None).await;
    check_in(&app, &c.trainees[0], &c.id, &c.goal_id).await;
    let strict = Deliverer::new(WebhookSettings::default()).unwrap();
    app.settle().await;
    webhooks::pass(&app.store, &strict, clock()).await.unwrap();
    assert_eq!(receiver.received().len(), 0);
    let d = the_delivery(&app, &endpoint.id).await;
    assert_eq!((d["status"].clone(), d["lastResponseStatus"].clone()), (json!("RETRYING"), Value::Null), "{d:#}");
    app.stop().await;
}
