//! The progress picture, `GET /cohorts/{id}/progress.svg`, over HTTP: a burn-up chart per goal
//! for whoever may see the cohort with a bearer token, or for anyone holding a fresh link from
//! `Cohort.progressChartUrl`; refused (401 or 404, short plain text) otherwise.

use afterclass::app::charts::SAMPLES;
use afterclass::config::{Config, KeyConfig};
use afterclass::ids::{self, Kind};
use afterclass::links::{LINK_TTL_SECONDS, link_signature};
use afterclass::store::entities::cohort;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{ActiveCohort, Backend, SECRET, TestApp, active_cohort, error_codes, instructor, ops, trainee};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::EntityTrait;

const RS256_PRIVATE: &[u8] = include_bytes!("../fixtures/rs256-private.pem");
const RS256_PUBLIC: &[u8] = include_bytes!("../fixtures/rs256-public.pem");

const SPECIAL_TITLE: &str = r#"Read <Rust> & "Tokio" 'book'"#;
const SPECIAL_TITLE_ESCAPED: &str = "Read &lt;Rust&gt; &amp; &quot;Tokio&quot; &apos;book&apos;";

const CHART_URL: &str = "query($id: ID!) { cohort(id: $id) { progressChartUrl } }";

/// What came back from a GET.
struct Fetched {
    status: u16,
    content_type: String,
    cache_control: String,
    www_authenticate: Option<String>,
    body: String,
}

async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> Fetched {
    let mut req = app.client().get(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("sending the request");
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (content_type, cache_control) = (header("content-type").unwrap_or_default(), header("cache-control"));
    let www_authenticate = header("www-authenticate");
    let status = resp.status().as_u16();
    Fetched {
        status,
        content_type,
        cache_control: cache_control.unwrap_or_default(),
        www_authenticate,
        body: resp.text().await.unwrap_or_default(),
    }
}

fn chart_path(cohort_id: &str) -> String {
    format!("/cohorts/{cohort_id}/progress.svg")
}

/// The response is a chart: an SVG with the documented headers.
fn assert_chart(got: &Fetched) {
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.content_type, "image/svg+xml");
    assert_eq!(got.cache_control, "private, max-age=60");
    assert!(got.body.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "), "{}", got.body);
    assert!(got.body.trim_end().ends_with("</svg>"));
}

/// The response refuses with `status` and a short plain-text body that gives nothing away.
fn assert_refused(got: &Fetched, status: u16) {
    assert_eq!(got.status, status, "{}", got.body);
    assert!(got.content_type.starts_with("text/plain"), "{}", got.content_type);
    assert!(!got.body.contains("<svg"), "{}", got.body);
    assert!(got.body.len() < 100, "{}", got.body);
    let lower = got.body.to_lowercase();
    for internal in ["sql", "database", "hmac", "panic", "tenant", "secret"] {
        assert!(!lower.contains(internal), "`{internal}` in {}", got.body);
    }
    if status == 401 {
        assert_eq!(got.www_authenticate.as_deref(), Some("Bearer"));
    }
}

fn polylines(svg: &str, class: &str) -> usize {
    svg.matches(&format!(r#"<polyline class="{class}""#)).count()
}

/// An active cohort with two goals: the harness's `Exercises` (SUM, no deadline) and an
/// AVERAGE goal with a deadline and a title full of XML's special characters; some check-ins.
async fn cohort_with_two_goals(app: &TestApp, tenant: &str) -> ActiveCohort {
    let cohort = active_cohort(app, tenant, &["t1", "t2"]).await;
    let deadline = (chrono::Utc::now() + chrono::Duration::days(14)).date_naive().to_string();
    let data = app
        .ok(
            &cohort.leader,
            ops::ADD_GOAL,
            json!({ "input": { "cohortId": cohort.id, "title": SPECIAL_TITLE,
            "unit": "chapters", "target": 12.0, "aggregation": "AVERAGE", "deadline": deadline } }),
        )
        .await;
    assert_eq!(data["addGoal"]["userErrors"], json!([]), "{data:#}");
    let special = data["addGoal"]["goal"]["id"].as_str().unwrap().to_owned();
    for (who, goal, value) in [(0, &cohort.goal_id, 30.0), (1, &cohort.goal_id, 20.0), (0, &special, 6.0)] {
        let data = app
            .ok(
                &cohort.trainees[who],
                ops::CHECK_IN,
                json!({ "input": { "cohortId": cohort.id, "goalId": goal,
                "value": value, "confidence": 4 } }),
            )
            .await;
        assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
    }
    cohort
}

async fn mint(app: &TestApp, token: &str, cohort_id: &str) -> String {
    let data = app.ok(token, CHART_URL, json!({ "id": cohort_id })).await;
    data["cohort"]["progressChartUrl"].as_str().expect("a chart URL").to_owned()
}

fn query_param<'a>(url: &'a str, name: &str) -> &'a str {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query.split('&').find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('='))).unwrap_or_default()
}

/// The cohort's row id and its tenant's, as the link signature names them.
async fn rows_of(app: &TestApp, cohort_id: &str) -> (i64, i64) {
    let row = ids::decode(Kind::Cohort, cohort_id).unwrap();
    let model = cohort::Entity::find_by_id(row).one(app.store.reader()).await.unwrap().unwrap();
    (model.tenant_id, row)
}

async fn spawn_with(adjust: impl Fn(&mut Config)) -> TestApp {
    TestApp::sqlite_with(adjust).await
}

async fn spawn() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_bearer_token_sees_one_line_per_goal_with_the_titles_escaped() {
    let app = spawn().await;
    let cohort = cohort_with_two_goals(&app, "uni-a").await;

    for token in [&cohort.trainees[0], &cohort.leader] {
        let got = fetch(&app, &chart_path(&cohort.id), Some(token)).await;
        assert_chart(&got);
        let svg = &got.body;
        assert_eq!(polylines(svg, "actual"), 2, "{svg}");
        // Only the goal with a deadline has a pace line.
        assert_eq!(polylines(svg, "pace"), 1, "{svg}");
        assert!(svg.contains(">Exercises <tspan"), "{svg}");
        assert!(svg.contains(SPECIAL_TITLE_ESCAPED), "{svg}");
        assert!(!svg.contains("<Rust>") && !svg.contains(r#""Tokio""#), "{svg}");
        assert!(svg.contains("<title id=\"chart-title\">Progress of Rust practice circle</title>"), "{svg}");
        // 50 of 100 exercises; an average of 6 over three counting members (leader included)
        // of 12 chapters is a sixth.
        assert!(svg.contains("— 50% · no deadline") && svg.contains("— 17% · due "), "{svg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainee_outside_the_cohort_is_refused_the_chart_of_a_discoverable_cohort_and_not_told_of_an_invite_only_one()
{
    let app = spawn().await;
    let open = cohort_with_two_goals(&app, "uni-a").await;
    let outsider = trainee("stranger", "uni-a");
    // Progress is the members' activity, which the public face does not show.
    assert_refused(&fetch(&app, &chart_path(&open.id), Some(&outsider)).await, 403);
    let member = fetch(&app, &chart_path(&open.id), Some(&open.trainees[0])).await;
    assert_chart(&member);
    assert_eq!(polylines(&member.body, "actual"), 2);

    let data = app
        .ok(
            &open.leader,
            ops::CREATE,
            json!({ "input": { "name": "Closed circle", "domain": "Rust", "purpose": "Practise",
            "horizon": "SHORT_TERM", "visibility": "INVITE_ONLY" } }),
        )
        .await;
    let closed = data["createCohort"]["cohort"]["id"].as_str().unwrap().to_owned();
    assert_refused(&fetch(&app, &chart_path(&closed), Some(&outsider)).await, 404);
    // The instructor who created it sees it.
    assert_chart(&fetch(&app, &chart_path(&closed), Some(&open.leader)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainee_or_instructor_of_another_tenant_is_told_the_cohort_is_not_found() {
    let app = spawn().await;
    let cohort = cohort_with_two_goals(&app, "uni-a").await;
    for token in [trainee("t1", "uni-b"), instructor("ada", "uni-b")] {
        assert_refused(&fetch(&app, &chart_path(&cohort.id), Some(&token)).await, 404);
    }
    // So is a cohort that does not exist, or an ID that names no cohort.
    let member = &cohort.trainees[0];
    assert_refused(&fetch(&app, &chart_path(&ids::encode(Kind::Cohort, 999)), Some(member)).await, 404);
    assert_refused(&fetch(&app, &chart_path(&cohort.goal_id), Some(member)).await, 404);
    assert_refused(&fetch(&app, &chart_path("not-an-id"), Some(member)).await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_from_progress_chart_url_shows_the_chart_without_a_token_for_fifteen_minutes() {
    let app = spawn().await;
    let cohort = cohort_with_two_goals(&app, "uni-a").await;
    let before = chrono::Utc::now().timestamp();
    let url = mint(&app, &cohort.trainees[1], &cohort.id).await;
    let after = chrono::Utc::now().timestamp();

    assert!(url.starts_with(&format!("{}?exp=", chart_path(&cohort.id))), "{url}");
    let exp: i64 = query_param(&url, "exp").parse().unwrap();
    assert!((before + LINK_TTL_SECONDS..=after + LINK_TTL_SECONDS).contains(&exp), "{url}");
    assert_eq!(LINK_TTL_SECONDS, 15 * 60);
    let sig = query_param(&url, "sig");
    assert!(sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");

    let got = fetch(&app, &url, None).await;
    assert_chart(&got);
    assert_eq!(polylines(&got.body, "actual"), 2);
    assert!(got.body.contains(SPECIAL_TITLE_ESCAPED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_a_tampered_signature_and_a_link_for_another_cohort_are_refused() {
    let app = spawn().await;
    let cohort = cohort_with_two_goals(&app, "uni-a").await;
    let other = active_cohort(&app, "uni-a", &["t3"]).await;
    let url = mint(&app, &cohort.leader, &cohort.id).await;
    assert_chart(&fetch(&app, &url, None).await);
    let (path, exp, sig) = (chart_path(&cohort.id), query_param(&url, "exp"), query_param(&url, "sig"));

    // A link signed correctly, but a minute past its expiry.
    let (tenant_row, cohort_row) = rows_of(&app, &cohort.id).await;
    let past = chrono::Utc::now().timestamp() - 60;
    let expired_sig = link_signature(SECRET, tenant_row, cohort_row, past).unwrap();
    // The same link with the right signature is accepted, so only the expiry refuses the first.
    let future = chrono::Utc::now().timestamp() + 60;
    let fresh_sig = link_signature(SECRET, tenant_row, cohort_row, future).unwrap();
    assert_chart(&fetch(&app, &format!("{path}?exp={future}&sig={fresh_sig}"), None).await);

    let flipped = format!("{}{}", &sig[..63], if sig.ends_with('0') { '1' } else { '0' });
    let other_secret = link_signature(b"some-other-secret-entirely", tenant_row, cohort_row, future).unwrap();
    let refused = [
        format!("{path}?exp={past}&sig={expired_sig}"),
        format!("{path}?exp={exp}&sig={flipped}"),
        format!("{path}?exp={}&sig={sig}", exp.parse::<i64>().unwrap() + 3600),
        format!("{path}?exp={future}&sig={other_secret}"),
        format!("{path}?exp={exp}&sig={}", &sig[..32]),
        format!("{path}?exp={exp}&sig=not-hex"),
        format!("{path}?exp={exp}"),
        format!("{path}?sig={sig}"),
        format!("{path}?exp=-1&sig={sig}"),
        // The link of one cohort on another cohort's chart, and on one that does not exist.
        format!("{}?exp={exp}&sig={sig}", chart_path(&other.id)),
        format!("{}?exp={exp}&sig={sig}", chart_path(&ids::encode(Kind::Cohort, 999))),
        format!("{}?exp={exp}&sig={sig}", chart_path("not-an-id")),
    ];
    for link in &refused {
        let got = fetch(&app, link, None).await;
        assert_refused(&got, 401);
        assert_eq!(got.body.trim(), "this link is invalid or has expired", "{link}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_neither_a_token_nor_a_link_is_unauthenticated_and_writes_nothing() {
    let app = spawn().await;
    let cohort = cohort_with_two_goals(&app, "uni-a").await;
    let before = app.counts().await;
    assert_refused(&fetch(&app, &chart_path(&cohort.id), None).await, 401);
    assert_refused(&fetch(&app, &chart_path("not-an-id"), None).await, 401);
    // A bearer token that does not verify is refused the same way, before any lookup.
    assert_refused(&fetch(&app, &chart_path(&cohort.id), Some("not-a-token")).await, 401);
    let other_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "mallory", "tid": "uni-a", "role": "instructor", "exp": chrono::Utc::now().timestamp() + 600 }),
        &EncodingKey::from_secret(b"not-the-server-secret-at-all"),
    )
    .unwrap();
    assert_refused(&fetch(&app, &chart_path(&cohort.id), Some(&other_key)).await, 401);
    assert_eq!(app.counts().await, before, "a refused request wrote rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_secret_when_set_signs_the_links_instead_of_the_token_secret() {
    let app = spawn_with(|cfg| cfg.link_secret = Some(b"a-separate-link-secret-for-tests".to_vec())).await;
    let cohort = cohort_with_two_goals(&app, "uni-a").await;
    let url = mint(&app, &cohort.leader, &cohort.id).await;
    assert_chart(&fetch(&app, &url, None).await);

    let (tenant_row, cohort_row) = rows_of(&app, &cohort.id).await;
    let exp = chrono::Utc::now().timestamp() + 60;
    let with = |key: &[u8]| link_signature(key, tenant_row, cohort_row, exp).unwrap();
    let path = chart_path(&cohort.id);
    assert_refused(&fetch(&app, &format!("{path}?exp={exp}&sig={}", with(SECRET)), None).await, 401);
    assert_chart(
        &fetch(&app, &format!("{path}?exp={exp}&sig={}", with(b"a-separate-link-secret-for-tests")), None).await,
    );
}

fn rs256_instructor(sub: &str, tenant: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &json!({ "sub": sub, "tid": tenant, "role": "instructor", "exp": now + 3600 }),
        &EncodingKey::from_rsa_pem(RS256_PRIVATE).unwrap(),
    )
    .unwrap()
}

async fn create_cohort(app: &TestApp, token: &str) -> String {
    let data = app
        .ok(
            token,
            ops::CREATE,
            json!({ "input": { "name": "Rust practice circle", "domain": "Rust",
            "purpose": "Practise", "horizon": "SHORT_TERM" } }),
        )
        .await;
    data["createCohort"]["cohort"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_server_without_a_link_secret_explains_that_it_must_be_set() {
    let app = spawn_with(|cfg| cfg.auth.key = KeyConfig::Rs256Pem(RS256_PUBLIC.to_vec())).await;
    let ada = rs256_instructor("ada", "uni-a");
    let id = create_cohort(&app, &ada).await;
    let body: Value = app.gql(&ada, CHART_URL, json!({ "id": id })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body:#}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("AFTERCLASS_LINK_SECRET must be set"), "{body:#}");
    // The chart itself still answers bearer tokens.
    assert_chart(&fetch(&app, &chart_path(&id), Some(&ada)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_server_with_a_link_secret_and_a_public_url_hands_out_absolute_links_that_work() {
    let app = spawn_with(|cfg| {
        cfg.auth.key = KeyConfig::Rs256Pem(RS256_PUBLIC.to_vec());
        cfg.link_secret = Some(b"a-separate-link-secret-for-tests".to_vec());
        cfg.public_url = Some("https://afterclass.example.edu".into());
    })
    .await;
    let ada = rs256_instructor("ada", "uni-a");
    let id = create_cohort(&app, &ada).await;
    let url = mint(&app, &ada, &id).await;
    let path = url.strip_prefix("https://afterclass.example.edu").unwrap_or_else(|| panic!("{url}"));
    assert!(path.starts_with(&chart_path(&id)), "{url}");
    let got = fetch(&app, path, None).await;
    assert_chart(&got);
    assert!(got.body.contains("No goals yet"), "{}", got.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_reads_the_same_bounded_number_of_statements_however_many_check_ins_there_are() {
    let app = spawn().await;
    let cohort = cohort_with_two_goals(&app, "uni-a").await;
    let url = mint(&app, &cohort.leader, &cohort.id).await;
    let statements = || app.store.statements();

    let start = statements();
    assert_chart(&fetch(&app, &url, None).await);
    let few = statements() - start;
    // The cohort, its goals, and about four statements per sampled moment.
    assert!(few <= 4 * SAMPLES as u64 + 4, "{few} statements");

    for i in 0..12 {
        let data = app
            .ok(
                &cohort.trainees[i % 2],
                ops::CHECK_IN,
                json!({ "input": { "cohortId": cohort.id,
                "goalId": cohort.goal_id, "value": 1.0 } }),
            )
            .await;
        assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
    }
    let start = statements();
    let got = fetch(&app, &url, None).await;
    assert_chart(&got);
    assert_eq!(statements() - start, few);
    assert!(got.body.contains("— 62% · no deadline"), "{}", got.body);
}
