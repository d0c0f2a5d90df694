//! Races: many clients changing one cohort at once, on PostgreSQL spread over two servers on one
//! database (two replicas), on SQLite over one server. Each race runs [`ROUNDS`] times on a cohort
//! of its own, and after each round the rule it could break is read back from the database:
//! one membership per person however often they join at once; a join request decided once
//! however many decide or withdraw it at once; an active cohort never left
//! without a leader by role changes; a role change never applied to someone who has left, and a
//! member's role events a chain; an evaluation applied twice ends the cohort once (one outcome,
//! one stage change); no check-in taken after the stage changed; an acceptance of a code of
//! conduct overtaken by a new version never lets its member check in; a goal reached by many
//! check-ins at once achieved once. The guarantees come from the database (the cohort's row held
//! by every write, unique indexes, conditional updates), not from anything inside one process.
//! Check-ins racing a change of one server's cohort are `concurrent_check_ins.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use afterclass::ids::{self, Kind};
use afterclass::store::entities::{check_in, event, goal, membership, outcome, stage_event};
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, instructor, ops, settle, trainee, user_error_codes};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// How often each race is run.
const ROUNDS: usize = 20;

/// Declares each race `async fn name(a: &TestApp, b: &TestApp)` as `sqlite::name` (one server:
/// `a` and `b` are the same) and `postgres::name` (two servers on one database).
macro_rules! races {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let a = afterclass_tests::TestApp::spawn(afterclass_tests::Backend::Sqlite).await.expect("SQLite is always available");
                    super::$name(&a, &a).await;
                    a.stop().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(a) = afterclass_tests::TestApp::spawn(afterclass_tests::Backend::Postgres).await else { return };
                    let b = afterclass_tests::TestApp::spawn_with(
                        afterclass_tests::Backend::Postgres, a.db.shared(), afterclass_tests::config).await;
                    super::$name(&a, &b).await;
                    b.stop().await;
                    a.stop().await;
                }
            )+
        }
    };
}

races!(
    one_person_joining_many_times_at_once,
    one_request_decided_and_withdrawn_at_once,
    leaders_demoting_each_other,
    leaders_stepping_down_together,
    a_promotion_racing_the_member_leaving,
    role_changes_of_one_member,
    an_evaluation_applied_twice_at_once,
    disbanding_and_graduating_at_once,
    disbanding_while_many_check_in_on_two_servers,
    accepting_while_the_code_of_conduct_changes,
    a_goal_reached_by_many_at_once,
);

const TENANT: &str = "t";

const JOIN: &str = r#"mutation($input: RequestToJoinInput!) {
    requestToJoin(input: $input) { membership { id status } userErrors { field message code } } }"#;
const JOIN_REQUEST: &str = r#"mutation($input: RequestToJoinInput!) {
    requestToJoin(input: $input) { joinRequest { id status } userErrors { field message code } } }"#;
const DECIDE: &str = r#"mutation($input: DecideJoinRequestInput!) {
    decideJoinRequest(input: $input) { joinRequest { id status } membership { id status } userErrors { field message code } } }"#;
const WITHDRAW: &str = r#"mutation($input: JoinRequestRefInput!) {
    withdrawJoinRequest(input: $input) { joinRequest { id status } userErrors { field message code } } }"#;
const CHANGE_ROLE: &str = r#"mutation($input: ChangeMemberRoleInput!) {
    changeMemberRole(input: $input) { membership { id role status } userErrors { field message code } } }"#;
const APPLY: &str = r#"mutation($input: ApplyEvaluationInput!) {
    applyEvaluation(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const GRADUATE: &str = r#"mutation($input: GraduateCohortInput!) {
    graduateCohort(input: $input) { cohort { id stage } userErrors { field message code } } }"#;
const MEMBERS: &str = r#"query($id: ID!) { node(id: $id) { ... on Cohort {
    members(first: 100) { nodes { id role status person { externalId } } } } } }"#;

/// Sends one mutation from a task of its own; gives its payload (the only field of `data`), and
/// fails on any top-level error: a race must end in an answer or a rule, never a fault.
fn send(app: &TestApp, token: &str, query: &'static str, input: Value) -> tokio::task::JoinHandle<Value> {
    send_refusable(app, token, query, input, &[])
}

/// As [`send`], where a top-level error with one of `codes` is an answer too: its payload is then
/// `{"refused": CODE}`.
fn send_refusable(
    app: &TestApp,
    token: &str,
    query: &'static str,
    input: Value,
    codes: &'static [&'static str],
) -> tokio::task::JoinHandle<Value> {
    let (client, url, token) = (app.client().clone(), app.url("/graphql"), token.to_owned());
    tokio::spawn(async move {
        let resp = client
            .post(url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": { "input": input } }))
            .send()
            .await
            .expect("sending a mutation");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("a JSON answer");
        assert_eq!(status, 200, "{body:#}");
        if body.get("errors").is_some() {
            let found = afterclass_tests::error_codes(&body);
            assert!(found.len() == 1 && codes.contains(&found[0].as_str()), "a top-level error in a race: {body:#}");
            return json!({ "refused": found[0] });
        }
        body["data"].as_object().and_then(|d| d.values().next()).cloned().expect("a payload")
    })
}

async fn all(handles: Vec<tokio::task::JoinHandle<Value>>) -> Vec<Value> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("a client task"));
    }
    out
}

fn accepted(payload: &Value) -> bool {
    payload["userErrors"].as_array().is_some_and(Vec::is_empty)
}

/// A cohort of round `round`, `ACTIVE`, created by the instructor `ada` with `people` on its
/// roster (each `(name, role)`), a SUM goal of `target`, visibility `visibility`; everyone on the
/// roster has accepted the code of conduct. Gives its id, its goal's, and the tokens by name.
struct Round {
    id: String,
    db_id: i64,
    goal_id: String,
    leader: String,
    tokens: BTreeMap<String, String>,
}

async fn round(app: &TestApp, round: usize, people: &[(&str, &str)], target: f64, visibility: &str) -> Round {
    let leader = instructor("ada", TENANT);
    let roster: Vec<Value> = people
        .iter()
        .map(|(name, role)| json!({ "externalId": format!("{name}-{round}"), "displayName": name, "role": role }))
        .collect();
    let data = app
        .ok(
            &leader,
            ops::CREATE,
            json!({ "input": {
                "name": format!("Circle {round}"), "domain": "Rust programming", "purpose": "Keep practising",
                "horizon": "SHORT_TERM", "codeOfConduct": "Be kind.", "roster": roster, "visibility": visibility } }),
        )
        .await;
    let id = data["createCohort"]["cohort"]["id"].as_str().expect("a cohort id").to_owned();
    let data = app
        .ok(&leader, ops::ADD_GOAL, json!({ "input": { "cohortId": id, "title": "Exercises", "unit": "exercises", "target": target, "aggregation": "SUM" } }))
        .await;
    let goal_id = data["addGoal"]["goal"]["id"].as_str().expect("a goal id").to_owned();
    let data = app.ok(&leader, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
    let mut tokens = BTreeMap::new();
    for (name, _) in people {
        let tok = trainee(&format!("{name}-{round}"), TENANT);
        let data = app.ok(&tok, ops::ACCEPT, json!({ "input": { "cohortId": id, "version": 1 } })).await;
        assert_eq!(data["acceptCodeOfConduct"]["membership"]["status"], "ACTIVE", "{data:#}");
        tokens.insert((*name).to_owned(), tok);
    }
    let db_id = ids::decode(Kind::Cohort, &id).expect("a cohort id");
    Round { id, db_id, goal_id, leader, tokens }
}

/// The cohort's memberships as the leader sees them: external id → (membership id, role, status).
async fn members(app: &TestApp, r: &Round) -> BTreeMap<String, (String, String, String)> {
    let data = app.ok(&r.leader, MEMBERS, json!({ "id": r.id })).await;
    data["node"]["members"]["nodes"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let name = m["person"]["externalId"].as_str().expect("an external id").to_owned();
            let s = |f: &str| m[f].as_str().expect("a field").to_owned();
            (name, (s("id"), s("role"), s("status")))
        })
        .collect()
}

/// The cohort's events of `kinds`, in log order.
async fn events_of(app: &TestApp, cohort_id: i64, kinds: &[&str]) -> Vec<event::Model> {
    settle(&app.store).await;
    event::Entity::find()
        .filter(event::Column::CohortId.eq(cohort_id))
        .filter(event::Column::Kind.is_in(kinds.iter().copied()))
        .order_by_asc(event::Column::Tx)
        .order_by_asc(event::Column::Id)
        .all(app.store.reader())
        .await
        .expect("reading the events")
}

fn payload(e: &event::Model) -> Value {
    afterclass_tests::serde_json::from_str(&e.payload).expect("an event's JSON")
}

/// Active leaders of the cohort, from its rows.
async fn active_leaders(app: &TestApp, cohort_id: i64) -> usize {
    membership::Entity::find()
        .filter(membership::Column::CohortId.eq(cohort_id))
        .filter(membership::Column::Role.eq("LEADER"))
        .filter(membership::Column::Status.eq("ACTIVE"))
        .all(app.store.reader())
        .await
        .expect("reading memberships")
        .len()
}

/// Which server of the two answers client `n`.
fn server<'a>(a: &'a TestApp, b: &'a TestApp, n: usize) -> &'a TestApp {
    if n.is_multiple_of(2) { a } else { b }
}

async fn one_person_joining_many_times_at_once(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("tom", "MEMBER")], 100.0, "OPEN").await;
        let newcomer = format!("newcomer-{n}");
        let tok = trainee(&newcomer, TENANT);
        // The viewer exists before the race, so that the race is about the membership.
        a.ok(&tok, afterclass_tests::VIEWER, json!({})).await;
        // Four requests of the person, and the leader adding them to the roster twice.
        let mut sent = Vec::new();
        for i in 0..4 {
            sent.push(send(server(a, b, i), &tok, JOIN, json!({ "cohortId": r.id })));
        }
        for i in 0..2 {
            let entry = json!({ "externalId": newcomer, "displayName": "Newcomer" });
            sent.push(send(
                server(a, b, i + 1),
                &r.leader,
                ops::ADD_MEMBERS,
                json!({ "cohortId": r.id, "members": [entry] }),
            ));
        }
        let answers = all(sent).await;
        let joins = answers[..4].iter().filter(|p| accepted(p)).count();
        assert!(joins <= 1, "the person joined {joins} times at once: {answers:#?}");
        let rows = membership::Entity::find()
            .filter(membership::Column::CohortId.eq(r.db_id))
            .all(a.store.reader())
            .await
            .expect("memberships");
        // ada, tom and the newcomer: one membership each.
        assert_eq!(rows.len(), 3, "{rows:#?}");
        let joined = events_of(a, r.db_id, &["MEMBER_JOINED"]).await;
        let newcomer_rows: Vec<_> = rows.iter().filter(|m| m.role == "MEMBER" && m.status != "ACTIVE").collect();
        assert_eq!(newcomer_rows.len(), 1, "{rows:#?}");
        let of_newcomer = joined.iter().filter(|e| e.person_id == Some(newcomer_rows[0].person_id)).count();
        assert_eq!(of_newcomer, 1, "the newcomer joined once, and once in the log: {joined:#?}");
    }
}

/// A request to join a `BY_REQUEST` cohort is approved by the leader through one server,
/// declined by another leader through the other, and withdrawn by its author, all at once: one
/// of the three decides it, and the person's membership says the same.
async fn one_request_decided_and_withdrawn_at_once(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("lea", "LEADER")], 100.0, "BY_REQUEST").await;
        let tok = trainee(&format!("asker-{n}"), TENANT);
        let data = a.ok(&tok, JOIN_REQUEST, json!({ "input": { "cohortId": r.id } })).await;
        let request = data["requestToJoin"]["joinRequest"]["id"].as_str().expect("a join request").to_owned();
        let answers = all(vec![
            send(a, &r.leader, DECIDE, json!({ "joinRequestId": request, "approve": true })),
            send(b, &r.tokens["lea"], DECIDE, json!({ "joinRequestId": request, "approve": false })),
            send(server(a, b, n), &tok, WITHDRAW, json!({ "joinRequestId": request })),
        ])
        .await;
        let done: Vec<usize> = (0..3).filter(|i| accepted(&answers[*i])).collect();
        assert_eq!(done.len(), 1, "one of the three decides the request: {answers:#?}");
        let status = answers[done[0]]["joinRequest"]["status"].as_str().expect("a status").to_owned();
        let row = afterclass::store::entities::join_request::Entity::find_by_id(
            ids::decode(Kind::JoinRequest, &request).expect("an id"),
        )
        .one(a.store.reader())
        .await
        .expect("the request")
        .expect("the request");
        assert_eq!(row.status, status);
        let asker: Vec<_> = membership::Entity::find()
            .filter(membership::Column::CohortId.eq(r.db_id))
            .filter(membership::Column::Role.eq("MEMBER"))
            .all(a.store.reader())
            .await
            .expect("memberships");
        // Approved: one membership, admitted; declined or withdrawn: none left behind.
        match status.as_str() {
            "APPROVED" => assert!(asker.len() == 1 && asker[0].status != "REQUESTED", "{asker:#?}"),
            _ => assert!(asker.is_empty(), "{status}: {asker:#?}"),
        }
    }
}

/// Two leaders demote each other at once, from two servers: one of them stays a leader.
async fn leaders_demoting_each_other(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("lea", "LEADER"), ("max", "LEADER"), ("tom", "MEMBER")], 100.0, "BY_REQUEST").await;
        let m = members(a, &r).await;
        let (lea, max) = (m[&format!("lea-{n}")].0.clone(), m[&format!("max-{n}")].0.clone());
        let answers = all(vec![
            send_refusable(
                a,
                &r.tokens["lea"],
                CHANGE_ROLE,
                json!({ "membershipId": max, "role": "MEMBER" }),
                &["FORBIDDEN"],
            ),
            send_refusable(
                b,
                &r.tokens["max"],
                CHANGE_ROLE,
                json!({ "membershipId": lea, "role": "MEMBER" }),
                &["FORBIDDEN"],
            ),
        ])
        .await;
        // ada leads too; each demotion is allowed alone, but the second one's author is no longer
        // a leader once the first commits: FORBIDDEN.
        let done = answers.iter().filter(|p| accepted(p)).count();
        assert_eq!(done, 1, "{answers:#?}");
        assert!(answers.iter().any(|p| p["refused"] == "FORBIDDEN"), "{answers:#?}");
        assert_eq!(active_leaders(a, r.db_id).await, 2, "ada and one of the two");
    }
}

/// The last two leaders step down at once: the cohort keeps one.
async fn leaders_stepping_down_together(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("lea", "LEADER"), ("tom", "MEMBER")], 100.0, "BY_REQUEST").await;
        let m = members(a, &r).await;
        let lea = m[&format!("lea-{n}")].0.clone();
        let ada = m.iter().find(|(name, _)| name.starts_with("ada")).expect("ada's membership").1.0.clone();
        let answers = all(vec![
            send(a, &r.tokens["lea"], CHANGE_ROLE, json!({ "membershipId": lea, "role": "MEMBER" })),
            send(b, &r.leader, CHANGE_ROLE, json!({ "membershipId": ada, "role": "FACILITATOR" })),
        ])
        .await;
        let done = answers.iter().filter(|p| accepted(p)).count();
        assert_eq!(done, 1, "exactly one of the two may step down: {answers:#?}");
        let refused: Vec<_> = answers.iter().filter(|p| !accepted(p)).flat_map(user_error_codes).collect();
        assert_eq!(refused, ["REQUIREMENTS_NOT_MET"], "{answers:#?}");
        assert_eq!(active_leaders(a, r.db_id).await, 1, "the cohort kept exactly one leader");
    }
}

/// A leader promotes a member while the member leaves: someone who has left has no role to
/// change, so the promotion either came first or was refused.
async fn a_promotion_racing_the_member_leaving(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("tom", "MEMBER")], 100.0, "BY_REQUEST").await;
        let tom = members(a, &r).await[&format!("tom-{n}")].0.clone();
        let answers = all(vec![
            send(a, &r.leader, CHANGE_ROLE, json!({ "membershipId": tom, "role": "FACILITATOR" })),
            send(b, &r.tokens["tom"], ops::LEAVE, json!({ "cohortId": r.id })),
        ])
        .await;
        assert!(accepted(&answers[1]), "leaving is always possible: {:#}", answers[1]);
        let log = events_of(a, r.db_id, &["MEMBER_ROLE_CHANGED", "MEMBER_LEFT"]).await;
        let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
        if accepted(&answers[0]) {
            assert_eq!(kinds, ["MEMBER_ROLE_CHANGED", "MEMBER_LEFT"], "a role changed after its member left");
        } else {
            assert_eq!(user_error_codes(&answers[0]), ["INVALID_INPUT"], "{:#}", answers[0]);
            assert_eq!(kinds, ["MEMBER_LEFT"]);
        }
        let row = membership::Entity::find_by_id(ids::decode(Kind::Membership, &tom).expect("an id"))
            .one(a.store.reader())
            .await
            .expect("tom's membership")
            .expect("tom's membership");
        assert_eq!(row.status, "LEFT");
        assert_eq!(row.role, if accepted(&answers[0]) { "FACILITATOR" } else { "MEMBER" });
    }
}

/// Two leaders change one member's role at once: the log tells one chain of changes, each from
/// the role the one before left, ending at the role stored.
async fn role_changes_of_one_member(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("lea", "LEADER"), ("tom", "MEMBER")], 100.0, "BY_REQUEST").await;
        let tom = members(a, &r).await[&format!("tom-{n}")].0.clone();
        let answers = all(vec![
            send(a, &r.leader, CHANGE_ROLE, json!({ "membershipId": tom, "role": "FACILITATOR" })),
            send(b, &r.tokens["lea"], CHANGE_ROLE, json!({ "membershipId": tom, "role": "OBSERVER" })),
        ])
        .await;
        assert!(answers.iter().all(accepted), "{answers:#?}");
        let log = events_of(a, r.db_id, &["MEMBER_ROLE_CHANGED"]).await;
        assert_eq!(log.len(), 2);
        let (first, second) = (payload(&log[0]), payload(&log[1]));
        assert_eq!(first["data"]["from"], "MEMBER", "{first:#}");
        assert_eq!(
            second["data"]["from"], first["data"]["to"],
            "the second change is told from the first's role: {log:#?}"
        );
        let row = membership::Entity::find_by_id(ids::decode(Kind::Membership, &tom).expect("an id"))
            .one(a.store.reader())
            .await
            .expect("tom's membership")
            .expect("tom's membership");
        assert_eq!(Value::from(row.role), second["data"]["to"]);
    }
}

/// The goal is met, so the evaluation recommends disbanding; four leaders' clients apply it at
/// once from two servers: one outcome, one stage change, one `COHORT_DISBANDED`.
async fn an_evaluation_applied_twice_at_once(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("tom", "MEMBER")], 10.0, "BY_REQUEST").await;
        a.ok(
            &r.tokens["tom"],
            ops::CHECK_IN,
            json!({ "input": { "cohortId": r.id, "goalId": r.goal_id, "value": 10.0 } }),
        )
        .await;
        let answers =
            all((0..4).map(|i| send(server(a, b, i), &r.leader, APPLY, json!({ "cohortId": r.id }))).collect()).await;
        let done: Vec<_> = answers.iter().filter(|p| accepted(p)).collect();
        assert_eq!(done.len(), 1, "{answers:#?}");
        assert_eq!(done[0]["cohort"]["stage"], "DISBANDED", "{answers:#?}");
        for refused in answers.iter().filter(|p| !accepted(p)) {
            assert_eq!(user_error_codes(refused), ["WRONG_STAGE"], "{refused:#}");
        }
        assert_ended_once(a, r.db_id, "COHORT_DISBANDED").await;
    }
}

/// A leader disbands while another graduates the cohort: it ends once.
async fn disbanding_and_graduating_at_once(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("lea", "LEADER")], 100.0, "BY_REQUEST").await;
        let answers = all(vec![
            send(a, &r.leader, ops::DISBAND, json!({ "cohortId": r.id, "reason": "LEADERS_DECISION" })),
            send(b, &r.tokens["lea"], GRADUATE, json!({ "cohortId": r.id, "formalStructure": "A guild" })),
        ])
        .await;
        let done: Vec<_> = answers.iter().filter(|p| accepted(p)).collect();
        assert_eq!(done.len(), 1, "{answers:#?}");
        let kind = if accepted(&answers[0]) { "COHORT_DISBANDED" } else { "COHORT_GRADUATED" };
        assert_ended_once(a, r.db_id, kind).await;
    }
}

async fn assert_ended_once(app: &TestApp, cohort_id: i64, kind: &str) {
    let outcomes = outcome::Entity::find()
        .filter(outcome::Column::CohortId.eq(cohort_id))
        .all(app.store.reader())
        .await
        .expect("outcomes");
    assert_eq!(outcomes.len(), 1, "{outcomes:#?}");
    let stages = stage_event::Entity::find()
        .filter(stage_event::Column::CohortId.eq(cohort_id))
        .filter(stage_event::Column::FromStage.eq("ACTIVE"))
        .all(app.store.reader())
        .await
        .expect("stage events");
    assert_eq!(stages.len(), 1, "one stage change out of ACTIVE: {stages:#?}");
    let ends = events_of(app, cohort_id, &["COHORT_DISBANDED", "COHORT_GRADUATED"]).await;
    assert_eq!(ends.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), [kind]);
}

const CLIENTS: usize = 8;

/// Eight members check in without pause, half through each server, while the leader disbands
/// through one of them: every acknowledged check-in was logged before the stage changed (by the
/// log's order and by the recorded times), every check-in sent after the disband was answered
/// was refused, and exactly the acknowledged check-ins are stored.
async fn disbanding_while_many_check_in_on_two_servers(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let people: Vec<(String, &str)> = (0..CLIENTS).map(|i| (format!("m{i}"), "MEMBER")).collect();
        let people_ref: Vec<(&str, &str)> = people.iter().map(|(p, r)| (p.as_str(), *r)).collect();
        let r = round(a, n, &people_ref, 1e9, "BY_REQUEST").await;
        let disbanded: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let acknowledged = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut clients = Vec::new();
        for (i, (name, _)) in people.iter().enumerate() {
            let app = server(a, b, i);
            let (client, url, token) = (app.client().clone(), app.url("/graphql"), r.tokens[name].clone());
            let (cohort, goal, disbanded, count) =
                (r.id.clone(), r.goal_id.clone(), Arc::clone(&disbanded), Arc::clone(&acknowledged));
            clients.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for _ in 0..2_000 {
                    let sent = Instant::now();
                    let body = json!({ "query": ops::CHECK_IN,
                        "variables": { "input": { "cohortId": cohort, "goalId": goal, "value": 1.0 } } });
                    let resp = client.post(&url).bearer_auth(&token).json(&body).send().await.expect("a check-in");
                    let body: Value = resp.json().await.expect("a JSON answer");
                    assert!(body.get("errors").is_none(), "{body:#}");
                    let p = &body["data"]["logCheckIn"];
                    match p["checkIn"]["id"].as_str() {
                        Some(id) => {
                            let after = disbanded.lock().expect("the clock").is_some_and(|at| sent > at);
                            assert!(!after, "a check-in sent after the disband was answered was accepted");
                            mine.push(ids::decode(Kind::CheckIn, id).expect("a check-in id"));
                            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        None => {
                            assert_eq!(user_error_codes(p), ["WRONG_STAGE"], "{p:#}");
                            return mine;
                        }
                    }
                }
                panic!("the cohort never stopped taking check-ins");
            }));
        }
        while acknowledged.load(std::sync::atomic::Ordering::Relaxed) < 2 * CLIENTS {
            assert!(!clients.iter().any(|c| c.is_finished()), "a client stopped before the disband");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let data = server(a, b, n)
            .ok(&r.leader, ops::DISBAND, json!({ "input": { "cohortId": r.id, "reason": "GOALS_MET" } }))
            .await;
        assert_eq!(data["disbandCohort"]["cohort"]["stage"], "DISBANDED", "{data:#}");
        *disbanded.lock().expect("the clock") = Some(Instant::now());
        let mut acked = BTreeSet::new();
        for c in clients {
            for id in c.await.expect("a client") {
                assert!(acked.insert(id), "check-in {id} acknowledged twice");
            }
        }
        let stored = check_in::Entity::find()
            .filter(check_in::Column::CohortId.eq(r.db_id))
            .all(a.store.reader())
            .await
            .expect("check-ins");
        assert_eq!(stored.iter().map(|c| c.id).collect::<BTreeSet<_>>(), acked, "stored = acknowledged");
        // In the log, every check-in comes before the disband.
        let log = events_of(a, r.db_id, &["CHECK_IN_LOGGED", "COHORT_DISBANDED"]).await;
        let last = log.last().expect("events");
        assert_eq!(last.kind, "COHORT_DISBANDED", "a check-in logged after the disband");
        assert_eq!(log.len(), acked.len() + 1);
        let change = stage_event::Entity::find()
            .filter(stage_event::Column::CohortId.eq(r.db_id))
            .filter(stage_event::Column::ToStage.eq("DISBANDED"))
            .one(a.store.reader())
            .await
            .expect("the stage change")
            .expect("the stage change");
        let late: Vec<_> = stored.iter().filter(|c| c.created_at > change.occurred_at).collect();
        assert!(late.is_empty(), "check-ins recorded after the stage change at {}: {late:#?}", change.occurred_at);
    }
}

/// A member accepts version 1 while the leader publishes version 2: whichever comes first, the
/// member has not accepted the current version, and their next check-in is refused until they do.
async fn accepting_while_the_code_of_conduct_changes(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let r = round(a, n, &[("tom", "MEMBER")], 100.0, "BY_REQUEST").await;
        // Invited, not yet accepted: a roster entry added after activation.
        let ivy = format!("ivy-{n}");
        let entry = json!({ "externalId": ivy, "displayName": "Ivy" });
        a.ok(&r.leader, ops::ADD_MEMBERS, json!({ "input": { "cohortId": r.id, "members": [entry] } })).await;
        let ivy_token = trainee(&ivy, TENANT);
        let answers = all(vec![
            send(a, &ivy_token, ops::ACCEPT, json!({ "cohortId": r.id, "version": 1 })),
            send(b, &r.leader, ops::SET_CONDUCT, json!({ "cohortId": r.id, "text": format!("Be kind, {n}.") })),
        ])
        .await;
        assert!(accepted(&answers[1]), "{:#}", answers[1]);
        assert_eq!(answers[1]["cohort"]["codeOfConduct"]["version"], 2);
        if !accepted(&answers[0]) {
            assert_eq!(user_error_codes(&answers[0]), ["INVALID_INPUT"], "{:#}", answers[0]);
        }
        for token in [&ivy_token, &r.tokens["tom"]] {
            let body = server(a, b, n)
                .gql(token, ops::CHECK_IN, json!({ "input": { "cohortId": r.id, "goalId": r.goal_id, "value": 1.0 } }))
                .await;
            let p = &body["data"]["logCheckIn"];
            let codes = user_error_codes(p);
            // Ivy is ACTIVE only if her acceptance came first; either way version 2 is not hers.
            assert!(
                codes == ["CONDUCT_NOT_ACCEPTED"] || (codes == ["NOT_A_MEMBER"] && !accepted(&answers[0])),
                "{body:#}"
            );
        }
        let rows = membership::Entity::find()
            .filter(membership::Column::CohortId.eq(r.db_id))
            .all(a.store.reader())
            .await
            .expect("memberships");
        // Only the leader who wrote version 2 has accepted it.
        let accepted_v2: Vec<_> = rows.iter().filter(|m| m.conduct_accepted_version == Some(2)).collect();
        assert!(accepted_v2.iter().all(|m| m.role == "LEADER"), "{rows:#?}");
        assert_eq!(a.count("check_ins").await, 0);
    }
}

/// Eight members each check in a tenth of the goal at once, half through each server: the goal
/// is achieved once, with one `GOAL_ACHIEVED`.
async fn a_goal_reached_by_many_at_once(a: &TestApp, b: &TestApp) {
    for n in 0..ROUNDS {
        let people: Vec<(String, &str)> = (0..CLIENTS).map(|i| (format!("m{i}"), "MEMBER")).collect();
        let people_ref: Vec<(&str, &str)> = people.iter().map(|(p, r)| (p.as_str(), *r)).collect();
        let r = round(a, n, &people_ref, 8.0, "BY_REQUEST").await;
        let answers = all(people
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let input = json!({ "cohortId": r.id, "goalId": r.goal_id, "value": 1.0 });
                send(server(a, b, i), &r.tokens[name], ops::CHECK_IN, input)
            })
            .collect())
        .await;
        assert!(answers.iter().all(accepted), "{answers:#?}");
        let g = goal::Entity::find_by_id(ids::decode(Kind::Goal, &r.goal_id).expect("a goal id"))
            .one(a.store.reader())
            .await
            .expect("the goal")
            .expect("the goal");
        assert_eq!(g.status, "ACHIEVED", "{g:#?}");
        let achieved = events_of(a, r.db_id, &["GOAL_ACHIEVED"]).await;
        assert_eq!(achieved.len(), 1, "{achieved:#?}");
    }
}
