//! Crash safety under load, on SQLite and PostgreSQL: sixteen clients log check-ins at full speed
//! with idempotency keys while another drives cohorts through their stages (activate, then
//! disband or graduate) and a webhook receiver is sent those stage changes, and the server — the
//! real `afterclass serve` in its own OS process — is killed with SIGKILL at random moments (25
//! times per store) and restarted on the same database. Clients send again, with the same key,
//! every request that was not answered.
//!
//! Afterwards, read from the database itself:
//! - every acknowledged check-in is stored exactly once, under its key and the ID it was answered
//!   with; no key is stored twice; a key sent again answers the first check-in;
//! - nothing is half-written: each check-in has exactly one `CHECK_IN_LOGGED` event naming it,
//!   and the tallies equal the ones rebuilt from the check-ins;
//! - every stage change has exactly one stage record and one event, and every acknowledged one is
//!   there; each cohort's stage is its last recorded one;
//! - every stage event reaches the receiver (at least once, always under the event's
//!   `webhook-id` and with the stored payload), and nothing else does.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use afterclass::ids::{self, Kind};
use afterclass::store::Store;
use afterclass_tests::receiver::Receiver;
use afterclass_tests::serde_json::{self, Value, json};
use afterclass_tests::{
    Backend, ChildServer, TestDatabase, assert_totals_are_the_last_tallies, fresh_database, instructor, integration,
    ops, tally_rows, trainee,
};
use sea_orm::{ConnectionTrait, Statement};

/// Set in a child process: `child_server` then serves instead of returning.
const CHILD: &str = "AFTERCLASS_TEST_CRASH_CHILD";
const TENANT: &str = "uni-crash";
const CLIENTS: usize = 16;
const KILLS: usize = 25;
/// The stage events the receiver subscribes to.
const STAGE_KINDS: [&str; 3] = ["COHORT_ACTIVATED", "COHORT_DISBANDED", "COHORT_GRADUATED"];
/// A short attempt timeout keeps a killed worker's claims short: their lease is twice the
/// timeout and 30 s, after which they are sent again.
const SETTINGS: [(&str, &str); 3] = [
    ("AFTERCLASS_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("AFTERCLASS_WEBHOOK_INTERVAL", "100ms"),
    ("AFTERCLASS_WEBHOOK_TIMEOUT", "2s"),
];

/// Not a test of its own: the body of the child process the other tests start.
#[test]
fn child_server() {
    afterclass_tests::serve_if_child(CHILD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    let db = fresh_database(Backend::Sqlite).await.expect("SQLite is always available");
    crash_under_load(Backend::Sqlite, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    let Some(db) = fresh_database(Backend::Postgres).await else { return };
    crash_under_load(Backend::Postgres, db).await;
}

/// Where the server answers now (`None` while it is down), and whether the clients should stop.
#[derive(Default)]
struct Shared {
    addr: RwLock<Option<SocketAddr>>,
    stop: AtomicBool,
    sent: AtomicU64,
    answered: AtomicU64,
    unanswered: AtomicU64,
}

impl Shared {
    fn addr(&self) -> Option<SocketAddr> {
        *self.addr.read().unwrap()
    }

    fn set(&self, addr: Option<SocketAddr>) {
        *self.addr.write().unwrap() = addr;
    }
}

/// Sends one operation until the server answers it, across kills: gives the answer and how many
/// attempts went unanswered.
async fn until_answered(
    shared: &Shared,
    client: &reqwest::Client,
    token: &str,
    query: &str,
    variables: &Value,
) -> (Value, u64) {
    let body = json!({ "query": query, "variables": variables });
    let mut unanswered = 0;
    loop {
        let Some(addr) = shared.addr() else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        shared.sent.fetch_add(1, Ordering::Relaxed);
        let sent = client.post(format!("http://{addr}/graphql")).bearer_auth(token).json(&body).send().await;
        let answer = match sent {
            Ok(resp) if resp.status().is_success() => resp.json::<Value>().await.ok(),
            Ok(resp) => panic!("status {} for {body}: {:?}", resp.status(), resp.text().await),
            Err(_) => None,
        };
        match answer {
            Some(value) => {
                shared.answered.fetch_add(1, Ordering::Relaxed);
                return (value, unanswered);
            }
            None => {
                unanswered += 1;
                shared.unanswered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// What one check-in client was told.
#[derive(Default)]
struct CheckIns {
    who: String,
    /// (key, check-in ID), every key acknowledged, in order.
    acknowledged: Vec<(String, String)>,
    /// Keys sent more than once because an attempt was not answered.
    retried: u64,
}

fn value_of(n: usize) -> f64 {
    (n % 7) as f64 + 0.25
}

/// Logs keyed check-ins as `who` until told to stop, each key until it is answered.
async fn check_in_client(shared: Arc<Shared>, who: String, cohort: String, goal: String) -> CheckIns {
    let client = afterclass_tests::child_client();
    let token = trainee(&who, TENANT);
    let mut out = CheckIns { who: who.clone(), ..Default::default() };
    for n in 0.. {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("{who}-{n}");
        let input = json!({ "input": { "cohortId": cohort, "goalId": goal, "value": value_of(n), "note": format!("{who} {n}"),
            "idempotencyKey": key } });
        let (answer, unanswered) = until_answered(&shared, &client, &token, ops::CHECK_IN, &input).await;
        let Some(id) = answer["data"]["logCheckIn"]["checkIn"]["id"].as_str() else {
            panic!("{who}: check-in {key} was refused: {answer:#}");
        };
        if unanswered > 0 {
            out.retried += 1;
        }
        out.acknowledged.push((key, id.to_owned()));
    }
    out
}

/// What the stage driver was told.
#[derive(Default)]
struct Stages {
    /// Cohorts it was told it created.
    created: Vec<String>,
    /// (cohort ID, stage) of every acknowledged stage change.
    acknowledged: Vec<(String, &'static str)>,
    /// Changes whose answer was lost and whose retry found them made (`WRONG_STAGE`).
    made_unacknowledged: u64,
    retried: u64,
}

const GRADUATE: &str = r#"mutation($input: GraduateCohortInput!) {
    graduateCohort(input: $input) { cohort { id stage } userErrors { field message code } } }"#;

/// Takes cohorts through their stages until told to stop: create, add a goal, activate, then
/// disband or graduate (in turn).
async fn stage_driver(shared: Arc<Shared>) -> Stages {
    let client = afterclass_tests::child_client();
    let leader = instructor("ada", TENANT);
    let mut out = Stages::default();
    for n in 0.. {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let input = json!({ "input": { "name": format!("Staged circle {n}"), "domain": "Rust programming",
            "purpose": "Go through the stages", "horizon": "SHORT_TERM", "codeOfConduct": "Be kind." } });
        let (answer, unanswered) = until_answered(&shared, &client, &leader, ops::CREATE, &input).await;
        out.retried += u64::from(unanswered > 0);
        let cohort = answer["data"]["createCohort"]["cohort"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("creating a cohort: {answer:#}"))
            .to_owned();
        out.created.push(cohort.clone());
        let input = json!({ "input": { "cohortId": cohort, "title": "Exercises", "unit": "exercises", "target": 10.0,
            "aggregation": "SUM" } });
        let (answer, unanswered) = until_answered(&shared, &client, &leader, ops::ADD_GOAL, &input).await;
        out.retried += u64::from(unanswered > 0);
        assert_eq!(answer["data"]["addGoal"]["userErrors"], json!([]), "{answer:#}");

        let ending = if n % 2 == 0 {
            (ops::DISBAND, "disbandCohort", "DISBANDED", json!({ "cohortId": cohort, "reason": "LEADERS_DECISION" }))
        } else {
            (GRADUATE, "graduateCohort", "GRADUATED", json!({ "cohortId": cohort, "formalStructure": "A study group" }))
        };
        let changes = [(ops::ACTIVATE, "activateCohort", "ACTIVE", json!({ "cohortId": cohort })), ending];
        for (mutation, field, stage, input) in changes {
            let (answer, unanswered) =
                until_answered(&shared, &client, &leader, mutation, &json!({ "input": input })).await;
            out.retried += u64::from(unanswered > 0);
            let payload = &answer["data"][field];
            let codes: Vec<&str> =
                payload["userErrors"].as_array().into_iter().flatten().filter_map(|e| e["code"].as_str()).collect();
            if payload["cohort"]["stage"] == stage && codes.is_empty() {
                out.acknowledged.push((cohort.clone(), stage));
            } else if unanswered > 0 && codes == ["WRONG_STAGE"] {
                // The unanswered attempt was made before the kill: the cohort is in the stage.
                let (now, _) = until_answered(
                    &shared,
                    &client,
                    &leader,
                    "query($id: ID!) { cohort(id: $id) { stage } }",
                    &json!({ "id": cohort }),
                )
                .await;
                assert_eq!(
                    now["data"]["cohort"]["stage"], stage,
                    "{field} of {cohort} refused after a kill: {answer:#}"
                );
                out.made_unacknowledged += 1;
            } else {
                panic!("{field} of {cohort}: {answer:#}");
            }
        }
    }
    out
}

/// A small seeded generator (splitmix64) for the kill moments.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

async fn crash_under_load(backend: Backend, db: TestDatabase) {
    let started = Instant::now();
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(7);
    let mut rng = Rng(seed);
    let receiver = Receiver::start().await;
    let mut server = ChildServer::start(CHILD, &db.url, &SETTINGS);

    // A receiver of the tenant's stage changes (from the next event on), and a cohort of sixteen
    // trainees.
    let hook = server
        .mutate(
            &integration(TENANT),
            "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
                endpoint { id } userErrors { code } } }",
            json!({ "url": receiver.url("/hook"), "kinds": STAGE_KINDS }),
        )
        .await;
    assert!(hook["endpoint"]["id"].is_string(), "{hook:#}");
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("t{i}")).collect();
    let leader = instructor("ada", TENANT);
    let roster: Vec<Value> =
        names.iter().map(|t| json!({ "externalId": t, "displayName": format!("Trainee {t}") })).collect();
    let created = server
        .mutate(
            &leader,
            ops::CREATE,
            json!({ "name": "Busy circle", "domain": "Rust programming", "purpose": "Check in under fire",
                "horizon": "SHORT_TERM", "codeOfConduct": "Be kind.", "roster": roster }),
        )
        .await;
    let cohort = created["cohort"]["id"].as_str().expect("a cohort").to_owned();
    let goal = server
        .mutate(
            &leader,
            ops::ADD_GOAL,
            json!({ "cohortId": cohort, "title": "Exercises", "unit": "exercises",
            "target": 1.0e9, "aggregation": "SUM" }),
        )
        .await;
    let goal = goal["goal"]["id"].as_str().expect("a goal").to_owned();
    server.mutate(&leader, ops::ACTIVATE, json!({ "cohortId": cohort })).await;
    for t in &names {
        server.mutate(&trainee(t, TENANT), ops::ACCEPT, json!({ "cohortId": cohort, "version": 1 })).await;
    }

    // Load, and kills at random moments.
    let shared = Arc::new(Shared::default());
    shared.set(Some(server.addr));
    let clients: Vec<_> = names
        .iter()
        .map(|who| tokio::spawn(check_in_client(shared.clone(), who.clone(), cohort.clone(), goal.clone())))
        .collect();
    let driver = tokio::spawn(stage_driver(shared.clone()));
    let mut downtime = Duration::ZERO;
    // `AFTERCLASS_CRASH_KILLS` asks for more kills (never fewer than 25).
    let kills: usize =
        std::env::var("AFTERCLASS_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(KILLS).max(KILLS);
    let mut first_answers = Vec::new();
    for _ in 0..kills {
        // Killed at a random moment once this server answers: a fresh server's first answers
        // (its pool connecting) take a while on PostgreSQL.
        let up = Instant::now();
        let answered = shared.answered.load(Ordering::Relaxed);
        while shared.answered.load(Ordering::Relaxed) == answered {
            assert!(up.elapsed() < Duration::from_secs(30), "the restarted server answers nothing");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        first_answers.push(up.elapsed());
        tokio::time::sleep(Duration::from_millis(50 + rng.below(650))).await;
        shared.set(None);
        let status = server.kill().await;
        assert!(!status.success(), "SIGKILL cannot end in success: {status}");
        let down = Instant::now();
        server = ChildServer::start(CHILD, &db.url, &SETTINGS);
        downtime += down.elapsed();
        shared.set(Some(server.addr));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for c in clients {
        logs.push(c.await.expect("a check-in client"));
    }
    let stages = driver.await.expect("the stage driver");
    let loaded = started.elapsed();

    // A key sent again answers the first check-in (a sample of each client's keys).
    let client = afterclass_tests::child_client();
    let mut replayed = 0;
    for log in &logs {
        let token = trainee(&log.who, TENANT);
        let step = (log.acknowledged.len() / 10).max(1);
        for (n, (key, id)) in log.acknowledged.iter().enumerate().step_by(step) {
            let input = json!({ "input": { "cohortId": cohort, "goalId": goal, "value": 1000.0 + value_of(n),
                "idempotencyKey": key } });
            let (answer, _) = until_answered(&shared, &client, &token, ops::CHECK_IN, &input).await;
            assert_eq!(answer["data"]["logCheckIn"]["checkIn"]["id"], id.as_str(), "{key}: {answer:#}");
            replayed += 1;
        }
    }

    // Read the store with a connection of the test's own.
    let store = Store::connect(&db.url, 2).await.expect("opening the store");
    afterclass_tests::settle(&store).await;
    let conn = store.reader();
    let cohort_row = ids::decode(Kind::Cohort, &cohort).expect("a cohort ID");

    // Every acknowledged check-in exactly once, under its key and ID; no key twice.
    let rows = query(conn, &format!(
        "SELECT c.id, p.external_id, c.idempotency_key FROM check_ins c JOIN memberships m ON m.id = c.membership_id \
         JOIN persons p ON p.id = m.person_id WHERE c.cohort_id = {cohort_row}"
    ))
    .await;
    let mut by_key: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for r in &rows {
        let key: Option<String> = r.try_get_by_index(2).unwrap();
        let key = key.expect("every check-in was sent with a key");
        by_key.entry((r.try_get_by_index(1).unwrap(), key)).or_default().push(r.try_get_by_index(0).unwrap());
    }
    let duplicated: Vec<_> = by_key.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(duplicated.is_empty(), "keys stored more than once: {duplicated:?}");
    let mut acknowledged = 0;
    let mut retried = 0;
    for log in &logs {
        retried += log.retried;
        for (key, id) in &log.acknowledged {
            let stored = by_key.get(&(log.who.clone(), key.clone()));
            let expected = ids::decode(Kind::CheckIn, id).expect("a check-in ID");
            assert_eq!(stored, Some(&vec![expected]), "acknowledged check-in {key} ({id}) is not stored as answered");
            acknowledged += 1;
        }
    }
    // Unacknowledged keys are only ever the last one a client was sending when told to stop: none,
    // since every client sends each key until it is answered.
    assert_eq!(rows.len(), acknowledged, "check-ins stored that nobody was told of");

    // Each check-in has its one event.
    let events =
        query(conn, &format!("SELECT payload FROM events WHERE cohort_id = {cohort_row} AND kind = 'CHECK_IN_LOGGED'"))
            .await;
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    for r in &events {
        let payload: String = r.try_get_by_index(0).unwrap();
        let payload: Value = serde_json::from_str(&payload).expect("a JSON payload");
        *named.entry(payload["data"]["checkInId"].as_str().expect("a check-in ID").to_owned()).or_default() += 1;
    }
    let stored_ids: BTreeSet<String> =
        rows.iter().map(|r| ids::encode(Kind::CheckIn, r.try_get_by_index(0).unwrap())).collect();
    assert_eq!(named.keys().cloned().collect::<BTreeSet<_>>(), stored_ids, "check-ins and their events differ");
    assert!(named.values().all(|n| *n == 1), "a check-in with more than one event");

    // Stage changes: one record and one event each, every acknowledged one there.
    let stage_rows = query(conn, "SELECT s.cohort_id, s.to_stage FROM stage_events s ORDER BY s.id").await;
    let mut recorded: BTreeMap<(i64, String), usize> = BTreeMap::new();
    let mut last_stage: BTreeMap<i64, String> = BTreeMap::new();
    for r in &stage_rows {
        let (c, to): (i64, String) = (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap());
        *recorded.entry((c, to.clone())).or_default() += 1;
        last_stage.insert(c, to);
    }
    let stage_events = query(
        conn,
        &format!(
            "SELECT id, cohort_id, kind, payload FROM events WHERE kind IN ('{}') ORDER BY id",
            STAGE_KINDS.join("', '")
        ),
    )
    .await;
    let mut evented: BTreeMap<(i64, String), usize> = BTreeMap::new();
    let mut payloads: BTreeMap<String, Value> = BTreeMap::new();
    for r in &stage_events {
        let (id, c, kind, payload): (i64, i64, String, String) = (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
            r.try_get_by_index(2).unwrap(),
            r.try_get_by_index(3).unwrap(),
        );
        let to = match kind.as_str() {
            "COHORT_ACTIVATED" => "ACTIVE",
            "COHORT_DISBANDED" => "DISBANDED",
            _ => "GRADUATED",
        };
        *evented.entry((c, to.to_owned())).or_default() += 1;
        payloads.insert(ids::encode(Kind::CohortEvent, id), serde_json::from_str(&payload).unwrap());
    }
    let entered: BTreeMap<(i64, String), usize> = recorded
        .iter()
        .filter(|((_, to), _)| ["ACTIVE", "DISBANDED", "GRADUATED"].contains(&to.as_str()))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(entered, evented, "stage changes and their events differ");
    assert!(entered.values().all(|n| *n == 1), "a stage entered twice: {entered:?}");
    for (c, stage) in &stages.acknowledged {
        let row = ids::decode(Kind::Cohort, c).unwrap();
        assert_eq!(
            entered.get(&(row, stage.to_string())),
            Some(&1),
            "acknowledged change of {c} to {stage} is missing"
        );
    }
    let cohorts = query(conn, "SELECT id, stage FROM cohorts").await;
    for r in &cohorts {
        let (id, stage): (i64, String) = (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap());
        assert_eq!(last_stage.get(&id), Some(&stage), "cohort {id} is {stage} but its last recorded stage differs");
    }

    // The tallies are what rebuilding them from the check-ins gives.
    let kept = tally_rows(store.writer(), cohort_row).await;
    assert_eq!(kept.len(), 2 * rows.len(), "a tally row per check-in and one for its goal");
    assert_totals_are_the_last_tallies(store.writer(), cohort_row).await;

    // Every stage event reaches the receiver under its own webhook-id, with its payload.
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let got = receiver.received();
        let ids: BTreeSet<String> = got.iter().filter_map(|r| r.headers.get("webhook-id").cloned()).collect();
        if payloads.keys().all(|k| ids.contains(k)) {
            break got;
        }
        let missing: Vec<&String> = payloads.keys().filter(|k| !ids.contains(*k)).collect();
        if Instant::now() > deadline {
            let rows: Vec<i64> = missing.iter().map(|k| ids::decode(Kind::CohortEvent, k).unwrap()).collect();
            let list = rows.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
            let deliveries = query(
                conn,
                &format!(
                    "SELECT event_id, status, attempts, last_response_status, next_attempt_at, locked_until \
                     FROM webhook_deliveries WHERE event_id IN ({list})"
                ),
            )
            .await;
            let described: Vec<String> = deliveries
                .iter()
                .map(|r| {
                    let status: String = r.try_get_by_index(1).unwrap();
                    let attempts: i32 = r.try_get_by_index(2).unwrap();
                    let last: Option<i32> = r.try_get_by_index(3).unwrap();
                    let next: Option<i64> = r.try_get_by_index(4).unwrap();
                    let locked: Option<i64> = r.try_get_by_index(5).unwrap();
                    format!(
                        "event {}: {status}, {attempts} attempts, last {last:?}, next {next:?}, locked {locked:?}",
                        r.try_get_by_index::<i64>(0).unwrap()
                    )
                })
                .collect();
            panic!(
                "{} of {} stage events never delivered: {missing:?} (events {list}); their deliveries: {described:#?}",
                missing.len(),
                payloads.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let waited = started.elapsed() - loaded;
    for r in &delivered {
        let id = r.headers.get("webhook-id").cloned().unwrap_or_default();
        let payload = payloads.get(&id).unwrap_or_else(|| panic!("a delivery of no stored stage event: {id}"));
        let body: Value = serde_json::from_str(&r.body).expect("a JSON body");
        assert_eq!(&body, payload, "{id} was sent with another body");
    }
    let status = server.terminate().await;
    assert!(status.success(), "SIGTERM should stop the server cleanly, got {status}");
    drop(server);

    afterclass::store::tallies::rebuild(store.writer(), Some(cohort_row)).await.expect("rebuilding the tallies");
    assert_eq!(tally_rows(store.writer(), cohort_row).await, kept, "the tallies kept differ from the rebuilt ones");
    store.close().await;

    eprintln!(
        "crash safety {backend:?}: {kills} kills (seed {seed}), {:.1?} under load (restarts {downtime:.1?} in all, \
         first answer after a restart within {:.1?}), \
         {:.1?} waiting for deliveries; requests sent {}, unanswered {}; check-ins acknowledged {acknowledged} by \
         {CLIENTS} clients, keys retried {retried}, keys replayed {replayed}, rows verified {} check-ins + {} events + \
         {} tallies; cohorts created {}, stage changes acknowledged {}, made but unacknowledged {}, retried {}; stage \
         records {}, stage events {}, deliveries received {} ({} distinct)",
        loaded,
        first_answers.iter().max().copied().unwrap_or_default(),
        waited,
        shared.sent.load(Ordering::Relaxed),
        shared.unanswered.load(Ordering::Relaxed),
        rows.len(),
        events.len(),
        kept.len(),
        stages.created.len(),
        stages.acknowledged.len(),
        stages.made_unacknowledged,
        stages.retried,
        stage_rows.len(),
        stage_events.len(),
        delivered.len(),
        delivered.iter().filter_map(|r| r.headers.get("webhook-id")).collect::<BTreeSet<_>>().len(),
    );
    assert!(acknowledged >= 10 * CLIENTS, "too little load: {acknowledged} check-ins");
    assert!(stages.acknowledged.len() >= 4, "too few stage changes: {}", stages.acknowledged.len());
}

async fn query(conn: &impl ConnectionTrait, sql: &str) -> Vec<sea_orm::QueryResult> {
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}
