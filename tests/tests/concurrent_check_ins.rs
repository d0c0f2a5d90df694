//! Check-ins into one cohort run side by side and still keep every rule when they commit.
//!
//! A check-in that arrives while a change of stage, membership or code of conduct is being
//! written waits for it and is judged by the changed cohort; many clients checking in while the
//! leader disbands the cohort have every acknowledged check-in stored exactly once, retries with
//! one idempotency key answered with the first check-in, and nothing accepted once the disband
//! was answered.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use afterclass::ids::{self, Kind};
use afterclass::store::entities::{check_in, cohort, membership};
use afterclass_domain::cohort::MembershipStatus;
use afterclass_domain::stage::Stage;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, active_cohort, on_both_stores, ops, user_error_codes};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Database, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

on_both_stores!(
    many_clients_check_in_while_the_cohort_is_disbanded,
    check_ins_keep_their_ids_while_another_process_writes_check_ins,
    a_check_in_waiting_for_a_removal_sees_it,
    a_check_in_waiting_for_a_stage_change_sees_it,
    a_check_in_waiting_for_a_new_code_of_conduct_sees_it,
);

/// Sends one check-in from its own task; its `logCheckIn` payload.
fn check_in(app: &TestApp, token: &str, body: Value) -> tokio::task::JoinHandle<Value> {
    let (client, url, token) = (app.client().clone(), app.url("/graphql"), token.to_owned());
    tokio::spawn(async move {
        let resp = client
            .post(url)
            .bearer_auth(token)
            .json(&json!({ "query": ops::CHECK_IN, "variables": { "input": body } }))
            .send()
            .await
            .expect("sending a check-in");
        let body: Value = resp.json().await.expect("a JSON answer");
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"]["logCheckIn"].clone()
    })
}

/// Another writer of the same database, mid-transaction: it holds the cohort as the service's
/// own changes of stage, membership and conduct do (its row exclusively on PostgreSQL, the write
/// lock on SQLite).
async fn writer_holding(app: &TestApp, cohort_id: i64) -> (DatabaseConnection, DatabaseTransaction) {
    let conn = Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let txn = conn
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .expect("a write transaction");
    cohort::Entity::find_by_id(cohort_id).lock_exclusive().one(&txn).await.expect("locking the cohort");
    (conn, txn)
}

/// A check-in sent while `change` is written but not committed waits for it and is refused with
/// `code` once it commits.
async fn waits_for_and_sees(app: TestApp, change: fn(i64) -> ChangeFn, code: &str) {
    let c = active_cohort(&app, "t", &["tom"]).await;
    let cohort_id = ids::decode(Kind::Cohort, &c.id).expect("a cohort id");
    let (conn, txn) = writer_holding(&app, cohort_id).await;
    change(cohort_id)(&txn).await;
    let pending = check_in(&app, &c.trainees[0], json!({ "cohortId": c.id, "goalId": c.goal_id, "value": 1.0 }));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!pending.is_finished(), "the check-in did not wait for the writer holding the cohort");
    txn.commit().await.expect("committing the change");
    let payload = pending.await.expect("the check-in's task");
    assert_eq!(user_error_codes(&payload), vec![code.to_owned()], "{payload:#}");
    assert_eq!(app.count("check_ins").await, 0);
    conn.close().await.ok();
    app.stop().await;
}

type ChangeFn = Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> futures_util::future::BoxFuture<'t, ()> + Send>;

async fn a_check_in_waiting_for_a_removal_sees_it(app: TestApp) {
    let remove: fn(i64) -> ChangeFn = |cohort_id| {
        Box::new(move |txn| {
            Box::pin(async move {
                membership::Entity::update_many()
                    .col_expr(membership::Column::Status, Expr::value(MembershipStatus::Removed.as_str()))
                    .filter(membership::Column::CohortId.eq(cohort_id))
                    .exec(txn)
                    .await
                    .expect("removing the members");
            })
        })
    };
    waits_for_and_sees(app, remove, "NOT_A_MEMBER").await;
}

async fn a_check_in_waiting_for_a_stage_change_sees_it(app: TestApp) {
    let disband: fn(i64) -> ChangeFn = |cohort_id| {
        Box::new(move |txn| {
            Box::pin(async move {
                cohort::Entity::update_many()
                    .col_expr(cohort::Column::Stage, Expr::value(Stage::Disbanded.as_str()))
                    .filter(cohort::Column::Id.eq(cohort_id))
                    .exec(txn)
                    .await
                    .expect("disbanding the cohort");
            })
        })
    };
    waits_for_and_sees(app, disband, "WRONG_STAGE").await;
}

async fn a_check_in_waiting_for_a_new_code_of_conduct_sees_it(app: TestApp) {
    let new_version: fn(i64) -> ChangeFn = |cohort_id| {
        Box::new(move |txn| {
            Box::pin(async move {
                cohort::Entity::update_many()
                    .col_expr(cohort::Column::ConductVersion, Expr::value(2))
                    .filter(cohort::Column::Id.eq(cohort_id))
                    .exec(txn)
                    .await
                    .expect("a new code of conduct");
            })
        })
    };
    waits_for_and_sees(app, new_version, "CONDUCT_NOT_ACCEPTED").await;
}

const CLIENTS: usize = 12;

/// Waves of concurrent check-ins, with a check-in written between the waves by another
/// connection to the same database, its id drawn by the database: every check-in the server
/// acknowledged is stored under the id it was given, and no two share one. On SQLite the
/// server's writer draws ids without asking the database within a batch, and only within one
/// (`store::checkins::draw_id`), so an id drawn by anyone else between its batches is never
/// handed out again.
async fn check_ins_keep_their_ids_while_another_process_writes_check_ins(app: TestApp) {
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("member-{i}")).collect();
    let c = active_cohort(&app, "t", &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let cohort_id = ids::decode(Kind::Cohort, &c.id).expect("a cohort id");
    let other = Database::connect(app.db.url.as_str()).await.expect("a second connection");
    let mut acknowledged = BTreeSet::new();
    let mut written_elsewhere = BTreeSet::new();
    for wave in 0..6 {
        let sent: Vec<_> = c
            .trainees
            .iter()
            .map(|token| check_in(&app, token, json!({ "cohortId": c.id, "goalId": c.goal_id, "value": 1.0 })))
            .collect();
        for answer in sent {
            let answer = answer.await.expect("a check-in");
            let id = answer["checkIn"]["id"].as_str().unwrap_or_else(|| panic!("wave {wave}: {answer:#}"));
            assert!(acknowledged.insert(ids::decode(Kind::CheckIn, id).expect("a check-in id")), "{id} twice");
        }
        let member = membership::Entity::find()
            .filter(membership::Column::CohortId.eq(cohort_id))
            .one(&other)
            .await
            .expect("a member")
            .expect("a member");
        let row = check_in::ActiveModel {
            tenant_id: sea_orm::Set(member.tenant_id),
            cohort_id: sea_orm::Set(cohort_id),
            membership_id: sea_orm::Set(member.id),
            value: sea_orm::Set(Some(1.0)),
            occurred_at: sea_orm::Set(member.invited_at),
            created_at: sea_orm::Set(member.invited_at),
            ..Default::default()
        };
        let id = check_in::Entity::insert(row).exec(&other).await.expect("a check-in written elsewhere").last_insert_id;
        assert!(!acknowledged.contains(&id), "the database gave {id} again");
        written_elsewhere.insert(id);
    }
    let stored: Vec<(i64, i64)> = check_in::Entity::find()
        .select_only()
        .column(check_in::Column::Id)
        .column(check_in::Column::MembershipId)
        .into_tuple()
        .all(app.store.reader())
        .await
        .expect("the stored check-ins");
    let stored_ids: BTreeSet<i64> = stored.iter().map(|(id, _)| *id).collect();
    assert_eq!(stored.len(), acknowledged.len() + written_elsewhere.len(), "a check-in lost or stored twice");
    assert_eq!(stored_ids, acknowledged.union(&written_elsewhere).copied().collect());
    other.close().await.expect("closing the second connection");
    app.stop().await;
}

async fn many_clients_check_in_while_the_cohort_is_disbanded(app: TestApp) {
    let names: Vec<String> = (0..CLIENTS).map(|i| format!("member-{i}")).collect();
    let c = active_cohort(&app, "t", &names.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let app = Arc::new(app);
    let accepted = Arc::new(AtomicU64::new(0));
    // When the disband was answered; a check-in sent after it must be refused.
    let disbanded: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();

    let mut clients = Vec::new();
    for (n, token) in c.trainees.iter().enumerate() {
        let (app, token, cohort, goal) = (Arc::clone(&app), token.clone(), c.id.clone(), c.goal_id.clone());
        let (accepted, disbanded) = (Arc::clone(&accepted), Arc::clone(&disbanded));
        clients.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..400 {
                // Every check-in is sent twice at once with one key: both answers name one check-in.
                let body =
                    json!({ "cohortId": cohort, "goalId": goal, "value": 1.0, "idempotencyKey": format!("{n}-{i}") });
                let sent = Instant::now();
                let (a, b) = (check_in(&app, &token, body.clone()), check_in(&app, &token, body));
                let (a, b) = (a.await.expect("a check-in"), b.await.expect("a check-in"));
                let ids: Vec<Option<&str>> = [&a, &b].iter().map(|p| p["checkIn"]["id"].as_str()).collect();
                match (ids[0], ids[1]) {
                    (Some(x), Some(y)) => {
                        assert_eq!(x, y, "one key answered with two check-ins");
                        let after = disbanded.lock().unwrap().is_some_and(|at| sent > at);
                        assert!(!after, "a check-in sent after the disband was answered was accepted");
                        accepted.fetch_add(1, Ordering::Relaxed);
                        acknowledged.push(x.to_owned());
                    }
                    (None, None) => {
                        // Refused, both for the one reason the cohort gives now.
                        assert_eq!(user_error_codes(&a), vec!["WRONG_STAGE".to_owned()], "{a:#}");
                        assert_eq!(user_error_codes(&b), vec!["WRONG_STAGE".to_owned()], "{b:#}");
                        return acknowledged;
                    }
                    // One retry accepted and the other refused: the refused one was judged
                    // after the disband committed, the accepted one before it.
                    (Some(x), None) | (None, Some(x)) => {
                        let refused = if ids[0].is_none() { &a } else { &b };
                        assert_eq!(user_error_codes(refused), vec!["WRONG_STAGE".to_owned()], "{refused:#}");
                        acknowledged.push(x.to_owned());
                        return acknowledged;
                    }
                }
            }
            panic!("the cohort never stopped taking check-ins");
        }));
    }

    // The leader disbands once the clients are in full flow.
    while accepted.load(Ordering::Relaxed) < 3 * CLIENTS as u64 {
        assert!(!clients.iter().any(|c| c.is_finished()), "a client stopped before the disband");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let data = app.ok(&c.leader, ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "GOALS_MET" } })).await;
    assert_eq!(data["disbandCohort"]["cohort"]["stage"], "DISBANDED", "{data:#}");
    *disbanded.lock().unwrap() = Some(Instant::now());

    let mut acknowledged = BTreeSet::new();
    for client in clients {
        for id in client.await.expect("a client") {
            assert!(acknowledged.insert(ids::decode(Kind::CheckIn, &id).expect("a check-in id")), "{id} twice");
        }
    }
    // Exactly the acknowledged check-ins are stored, each once.
    let stored: Vec<i64> = check_in::Entity::find()
        .select_only()
        .column(check_in::Column::Id)
        .into_tuple()
        .all(app.store.reader())
        .await
        .expect("the stored check-ins");
    assert_eq!(stored.len(), acknowledged.len(), "stored check-ins that were never acknowledged, or the other way");
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), acknowledged);
    assert!(acknowledged.len() >= 3 * CLIENTS, "{} check-ins", acknowledged.len());
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("a client still holds the server"),
    }
}
