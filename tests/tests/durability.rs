//! Durability: data written through the real `afterclass serve`, the server stopped (gracefully
//! with SIGTERM, or killed outright with SIGKILL), restarted on the same SQLite file, and every
//! acknowledged write read back.
//!
//! The server runs in a separate OS process so that it can be signalled and killed: the test
//! binary re-executes itself to run only `child_server`, which serves when
//! `AFTERCLASS_TEST_CHILD` is set and does nothing otherwise.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{Backend, ChildServer, fresh_database, instructor, ops, trainee};

/// Set in a child process: `child_server` then serves instead of returning.
const CHILD: &str = "AFTERCLASS_TEST_CHILD";

/// The most any one wait may take before the test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(30);

const TENANT: &str = "uni-durable";
const TRAINEES: [&str; 3] = ["t1", "t2", "t3"];

/// Not a test of its own: the body of the child process the other tests start. Without
/// `AFTERCLASS_TEST_CHILD` it returns at once; with it, it runs `afterclass serve` on a free port
/// with `DATABASE_URL` and `AFTERCLASS_JWT_SECRET` from the environment, until SIGTERM.
#[test]
fn child_server() {
    afterclass_tests::serve_if_child(CHILD);
}

/// `afterclass serve` in a child process of this binary (see [`child_server`]).
struct Server;

impl Server {
    fn start(database_url: &str) -> ChildServer {
        ChildServer::start(CHILD, database_url, &[])
    }

    fn start_with(database_url: &str, settings: &[(&str, &str)]) -> ChildServer {
        ChildServer::start(CHILD, database_url, settings)
    }
}

/// What the server acknowledged: every ID it handed back and every value it accepted.
#[derive(Debug)]
struct Acknowledged {
    cohort: String,
    goal: String,
    /// Membership IDs of the trainees who accepted the code of conduct.
    memberships: Vec<String>,
    /// (check-in ID, trainee externalId, value), in the order they were logged.
    check_ins: Vec<(String, String, f64)>,
}

/// Creates a cohort with a roster, a goal and a code of conduct, activates it, has every trainee
/// accept, and logs `rounds` check-ins per trainee.
async fn write_a_cohort(server: &ChildServer, rounds: usize) -> Acknowledged {
    let leader = instructor("ada", TENANT);
    let roster: Vec<Value> =
        TRAINEES.iter().map(|t| json!({ "externalId": t, "displayName": format!("Trainee {t}") })).collect();
    let input = json!({
        "name": "Durable circle", "domain": "Rust programming", "purpose": "Outlive a restart",
        "horizon": "SHORT_TERM", "roster": roster,
        "course": { "lmsCourseId": "RUST-101", "title": "Rust Fundamentals", "endedOn": "2026-11-20" } });
    let created = server.mutate(&leader, ops::CREATE, input).await;
    let cohort = created["cohort"]["id"].as_str().expect("a cohort id").to_owned();
    let input = json!({ "cohortId": cohort, "title": "Exercises", "unit": "exercises", "target": 1000.0,
        "aggregation": "SUM" });
    let goal = server.mutate(&leader, ops::ADD_GOAL, input).await;
    let goal = goal["goal"]["id"].as_str().expect("a goal id").to_owned();
    let conduct = server
        .mutate(&leader, ops::SET_CONDUCT, json!({ "cohortId": cohort, "text": "Be kind; show your work." }))
        .await;
    assert_eq!(conduct["cohort"]["codeOfConduct"]["version"], 1);
    let activated = server.mutate(&leader, ops::ACTIVATE, json!({ "cohortId": cohort })).await;
    assert_eq!(activated["cohort"]["stage"], "ACTIVE");

    let mut memberships = Vec::new();
    for t in TRAINEES {
        let accepted =
            server.mutate(&trainee(t, TENANT), ops::ACCEPT, json!({ "cohortId": cohort, "version": 1 })).await;
        assert_eq!(accepted["membership"]["status"], "ACTIVE");
        memberships.push(accepted["membership"]["id"].as_str().expect("a membership id").to_owned());
    }

    let mut check_ins = Vec::new();
    for round in 0..rounds {
        for (i, t) in TRAINEES.iter().enumerate() {
            let value = (round * TRAINEES.len() + i + 1) as f64;
            let input = json!({ "cohortId": cohort, "goalId": goal, "value": value, "confidence": 4,
                "note": format!("round {round}") });
            let logged = server.mutate(&trainee(t, TENANT), ops::CHECK_IN, input).await;
            assert_eq!(logged["checkIn"]["value"], value);
            let id = logged["checkIn"]["id"].as_str().expect("a check-in id").to_owned();
            check_ins.push((id, t.to_string(), value));
        }
    }
    Acknowledged { cohort, goal, memberships, check_ins }
}

const READ_BACK: &str = r#"query($id: ID!) { cohort(id: $id) {
    id name stage activatedAt codeOfConduct { version text }
    course { lmsCourseId title endedOn }
    members(first: 100) { totalCount nodes { id role status conductAcceptedVersion person { externalId displayName } } }
    goals { id title target aggregation progress { current } }
    checkIns(first: 100) { totalCount nodes {
        id value note confidence membership { id person { externalId } } goal { id } } } } }"#;

/// Everything about the cohort, as the leader sees it.
async fn read_back(server: &ChildServer, cohort: &str) -> Value {
    server.ok(&instructor("ada", TENANT), READ_BACK, json!({ "id": cohort })).await
}

/// Every acknowledged write is in `data` (a `READ_BACK` result).
fn assert_has_everything(data: &Value, ack: &Acknowledged) {
    let c = &data["cohort"];
    assert_eq!(c["id"], ack.cohort.as_str(), "{c:#}");
    assert_eq!((c["name"].as_str(), c["stage"].as_str()), (Some("Durable circle"), Some("ACTIVE")), "{c:#}");
    assert!(c["activatedAt"].is_string(), "{c:#}");
    assert_eq!(c["codeOfConduct"], json!({ "version": 1, "text": "Be kind; show your work." }));
    assert_eq!(
        c["course"],
        json!({ "lmsCourseId": "RUST-101", "title": "Rust Fundamentals", "endedOn": "2026-11-20" })
    );

    // The leader and every trainee, all active; the trainees under the IDs they were given.
    assert_eq!(c["members"]["totalCount"], 1 + TRAINEES.len(), "{c:#}");
    let members = c["members"]["nodes"].as_array().expect("members");
    assert!(members.iter().all(|m| m["status"] == "ACTIVE"), "{c:#}");
    for (t, id) in TRAINEES.iter().zip(&ack.memberships) {
        let m = members.iter().find(|m| m["id"] == id.as_str()).unwrap_or_else(|| panic!("membership {id} lost"));
        assert_eq!((m["person"]["externalId"].as_str(), &m["conductAcceptedVersion"]), (Some(*t), &json!(1)), "{m:#}");
    }

    let goals = c["goals"].as_array().expect("goals");
    assert_eq!(goals.len(), 1, "{c:#}");
    assert_eq!(goals[0]["id"], ack.goal.as_str());
    let sum: f64 = ack.check_ins.iter().map(|(_, _, v)| v).sum();
    assert_eq!(goals[0]["progress"]["current"].as_f64(), Some(sum), "{c:#}");

    // Every acknowledged check-in, with its value, by whom it was logged, in order.
    assert_eq!(c["checkIns"]["totalCount"], ack.check_ins.len(), "{c:#}");
    let stored: Vec<(String, String, f64)> = c["checkIns"]["nodes"]
        .as_array()
        .expect("check-ins")
        .iter()
        .map(|n| {
            let id = n["id"].as_str().unwrap_or_default().to_owned();
            let who = n["membership"]["person"]["externalId"].as_str().unwrap_or_default().to_owned();
            (id, who, n["value"].as_f64().unwrap_or(f64::NAN))
        })
        .collect();
    assert_eq!(stored, ack.check_ins);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_written_survives_a_graceful_stop_and_restart() {
    let db = fresh_database(Backend::Sqlite).await.expect("SQLite is always available");
    let mut first = Server::start(&db.url);
    let ack = write_a_cohort(&first, 3).await;
    let before = read_back(&first, &ack.cohort).await;
    assert_has_everything(&before, &ack);

    let status = first.terminate().await;
    assert!(status.success(), "SIGTERM should stop the server cleanly, got {status}");
    drop(first);

    let second = Server::start(&db.url);
    let after = read_back(&second, &ack.cohort).await;
    assert_has_everything(&after, &ack);
    assert_eq!(after, before, "the restarted server reads back something else");

    // The restarted server keeps writing where the first left off.
    let input = json!({ "cohortId": ack.cohort, "goalId": ack.goal, "value": 0.5 });
    let more = second.mutate(&trainee("t1", TENANT), ops::CHECK_IN, input).await;
    assert!(more["checkIn"]["id"].is_string());
    let data = read_back(&second, &ack.cohort).await;
    assert_eq!(data["cohort"]["checkIns"]["totalCount"], ack.check_ins.len() + 1);

    let mut second = second;
    let status = second.terminate().await;
    assert!(status.success(), "SIGTERM should stop the restarted server cleanly, got {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_the_server_being_killed() {
    let db = fresh_database(Backend::Sqlite).await.expect("SQLite is always available");
    let mut first = Server::start(&db.url);
    let ack = write_a_cohort(&first, 5).await;
    // Killed the moment the last write was acknowledged: no graceful shutdown, no checkpoint.
    let status = first.kill().await;
    assert!(!status.success(), "SIGKILL cannot end in success: {status}");
    drop(first);

    let mut second = Server::start(&db.url);
    let data = read_back(&second, &ack.cohort).await;
    assert_has_everything(&data, &ack);

    // The viewer's own view agrees: each trainee's one membership is the one acknowledged.
    for (t, id) in TRAINEES.iter().zip(&ack.memberships) {
        let data = second
            .ok(&trainee(t, TENANT), "{ viewer { tenantId memberships { nodes { id status } } } }", json!({}))
            .await;
        assert_eq!(data["viewer"]["memberships"]["nodes"], json!([{ "id": id, "status": "ACTIVE" }]), "{data:#}");
    }

    // Killed again straight after a write on the recovered store, and recovered again.
    let input = json!({ "cohortId": ack.cohort, "goalId": ack.goal, "value": 0.25 });
    let more = second.mutate(&trainee("t2", TENANT), ops::CHECK_IN, input).await;
    let extra = more["checkIn"]["id"].as_str().expect("a check-in id").to_owned();
    second.kill().await;
    drop(second);

    let mut third = Server::start(&db.url);
    let data = read_back(&third, &ack.cohort).await;
    let ids: Vec<&str> = data["cohort"]["checkIns"]["nodes"]
        .as_array()
        .expect("check-ins")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(ids.len(), ack.check_ins.len() + 1, "{data:#}");
    assert_eq!(ids.last().copied(), Some(extra.as_str()));
    let status = third.terminate().await;
    assert!(status.success(), "SIGTERM should stop the server cleanly, got {status}");
}

/// Logs check-ins as `who` until the server stops answering; gives the IDs it acknowledged.
async fn check_in_until_gone(addr: SocketAddr, who: &'static str, cohort: String) -> Vec<String> {
    let client = afterclass_tests::child_client();
    let token = trainee(who, TENANT);
    let mut acknowledged = Vec::new();
    for n in 0.. {
        let body = json!({ "query": ops::CHECK_IN, "variables": { "input": { "cohortId": cohort, "value": 1.0,
            "note": format!("{who} {n}") } } });
        let Ok(resp) = client.post(format!("http://{addr}/graphql")).bearer_auth(&token).json(&body).send().await
        else {
            break;
        };
        let Ok(value) = resp.json::<Value>().await else { break };
        match value["data"]["logCheckIn"]["checkIn"]["id"].as_str() {
            Some(id) => acknowledged.push(id.to_owned()),
            None => break,
        }
    }
    acknowledged
}

/// The outbox across SIGKILL: check-ins stream in while the server is killed outright, three
/// times; after each restart the delivery worker carries on from the log. Every acknowledged
/// check-in's event reaches the webhook receiver — at least once, and as one `webhook-id` however
/// often it is sent — and the receiver gets no event of a check-in that is not stored. What a
/// killed worker had claimed is sent once its lease has run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_reaches_the_webhook_receiver_across_kills() {
    let db = fresh_database(Backend::Sqlite).await.expect("SQLite is always available");
    // A short attempt timeout keeps the claims of a killed worker short (its lease is twice the
    // timeout and 30 s): their deliveries are sent again once it ends.
    let settings = [
        ("AFTERCLASS_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("AFTERCLASS_WEBHOOK_INTERVAL", "100ms"),
        ("AFTERCLASS_WEBHOOK_TIMEOUT", "1s"),
    ];
    let receiver = afterclass_tests::receiver::Receiver::start().await;
    let url = receiver.url("/hook");
    let mut server = Server::start_with(&db.url, &settings);
    let ack = write_a_cohort(&server, 0).await;
    let lms = afterclass_tests::integration(TENANT);
    let created = server
        .mutate(
            &lms,
            "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
            endpoint { id } userErrors { code } } }",
            json!({ "url": url, "kinds": ["CHECK_IN_LOGGED"] }),
        )
        .await;
    assert!(created["endpoint"]["id"].is_string(), "{created:#}");

    let mut acknowledged = Vec::new();
    for (round, after) in [(0, 150u64), (1, 320), (2, 90)] {
        let clients: Vec<_> =
            TRAINEES.iter().map(|t| tokio::spawn(check_in_until_gone(server.addr, t, ack.cohort.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(after)).await;
        server.kill().await;
        for c in clients {
            acknowledged.extend(c.await.unwrap());
        }
        assert!(!acknowledged.is_empty(), "round {round}: nothing was acknowledged");
        server = Server::start_with(&db.url, &settings);
    }

    let deadline = Instant::now() + WAIT + Duration::from_secs(40);
    let delivered = loop {
        let got: Vec<(String, Value)> = receiver
            .received()
            .into_iter()
            .map(|r| {
                let id = r.headers.get("webhook-id").cloned().unwrap_or_default();
                (id, afterclass_tests::serde_json::from_str(&r.body).unwrap_or(Value::Null))
            })
            .collect();
        let ids: std::collections::BTreeSet<String> =
            got.iter().filter_map(|(_, b)| b["data"]["checkInId"].as_str().map(str::to_owned)).collect();
        if acknowledged.iter().all(|a| ids.contains(a)) {
            break got;
        }
        assert!(Instant::now() < deadline, "{} of {} acknowledged check-ins delivered", ids.len(), acknowledged.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // One webhook-id per event, however often it was sent.
    let mut by_id: std::collections::BTreeMap<String, Value> = Default::default();
    for (id, body) in &delivered {
        assert!(!id.is_empty());
        if let Some(first) = by_id.insert(id.clone(), body.clone()) {
            assert_eq!(&first, body, "a webhook-id names one document");
        }
    }
    // Nothing invented: every delivered check-in is stored.
    let stored = server
        .ok(
            &instructor("ada", TENANT),
            "query($id: ID!) { cohort(id: $id) { checkIns(first: 100) { totalCount } } }",
            json!({ "id": ack.cohort }),
        )
        .await;
    let stored = stored["cohort"]["checkIns"]["totalCount"].as_u64().unwrap() as usize;
    assert_eq!(by_id.len(), stored, "one event per stored check-in, acknowledged or not");
    assert!(stored >= acknowledged.len());
    server.terminate().await;
}
