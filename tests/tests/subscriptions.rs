//! Live events over graphql-transport-ws at `GET /graphql/ws`: the token in `connection_init`
//! (a bad one closes the socket with 4403), each subscriber gets what its standing lets it see
//! and nothing else, and on PostgreSQL an event written through one `afterclass serve` process
//! reaches a subscriber of another process on the same database within a second.

use std::time::{Duration, Instant};

use afterclass_domain::access::ViewerRole;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{
    Backend, ChildServer, TestApp, active_cohort, integration, on_both_stores, ops, token, trainee,
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

on_both_stores!(subscribers_get_what_their_standing_allows, a_bad_token_closes_the_socket_with_4403);

const EVENTS: &str = "subscription($cohortId: ID, $kinds: [CohortEventKind!]) {
    cohortEvents(cohortId: $cohortId, kinds: $kinds) { id kind payload cohort { id stage } } }";

/// Opens a graphql-transport-ws connection and sends `connection_init` with `payload`.
async fn connect(app: &TestApp, payload: Value) -> Socket {
    connect_at(app.addr, payload).await
}

async fn connect_at(addr: std::net::SocketAddr, payload: Value) -> Socket {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    socket.send(Message::text(json!({ "type": "connection_init", "payload": payload }).to_string())).await.unwrap();
    socket
}

/// Connects as `jwt` and subscribes; returns once the server acknowledged the connection.
async fn subscribe(app: &TestApp, jwt: &str, variables: Value) -> Socket {
    subscribe_at(app.addr, jwt, variables).await
}

async fn subscribe_at(addr: std::net::SocketAddr, jwt: &str, variables: Value) -> Socket {
    let mut socket = connect_at(addr, json!({ "token": jwt })).await;
    let ack = next_message(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let start = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS, "variables": variables } });
    socket.send(Message::text(start.to_string())).await.unwrap();
    socket
}

async fn next_message(socket: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a message in time");
        match msg.expect("the socket open").expect("a frame") {
            Message::Text(text) => return afterclass_tests::serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => return json!({ "closed": frame.map(|f| u16::from(f.code)) }),
            _ => continue,
        }
    }
}

/// The next event delivered on the subscription.
async fn next_event(socket: &mut Socket) -> Value {
    let msg = next_message(socket).await;
    assert_eq!(msg["type"], "next", "{msg}");
    assert!(msg["payload"].get("errors").is_none(), "{msg}");
    msg["payload"]["data"]["cohortEvents"].clone()
}

async fn subscribers_get_what_their_standing_allows(app: TestApp) {
    let c = active_cohort(&app, "uni-a", &["tom", "ivy"]).await;
    let (tom, ivy) = (&c.trainees[0], &c.trainees[1]);
    let scope = json!({ "cohortId": c.id });
    // A subscription starts at the settled head: let the set-up's events settle first.
    app.settle().await;
    let mut as_member = subscribe(&app, tom, scope.clone()).await;
    let mut as_outsider = subscribe(&app, &trainee("eve", "uni-a"), scope.clone()).await;
    let mut as_lms = subscribe(&app, &integration("uni-a"), json!({ "kinds": ["CHECK_IN_LOGGED"] })).await;
    let mut other_tenant = subscribe(&app, &integration("uni-b"), json!({})).await;
    // Let the subscriptions start before anything happens.
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.ok(ivy, ops::CHECK_IN, json!({ "input": { "cohortId": c.id, "value": 2.0 } })).await;
    app.ok(&c.leader, ops::DISBAND, json!({ "input": { "cohortId": c.id, "reason": "GOALS_MET" } })).await;

    let event = next_event(&mut as_member).await;
    assert_eq!(event["kind"], "CHECK_IN_LOGGED", "{event}");
    let doc: Value = afterclass_tests::serde_json::from_str(event["payload"].as_str().unwrap()).unwrap();
    assert_eq!((doc["type"].as_str(), doc["data"]["value"].as_f64()), (Some("CHECK_IN_LOGGED"), Some(2.0)));
    let event = next_event(&mut as_member).await;
    assert_eq!(event["kind"], "COHORT_DISBANDED");
    // Each event's nested fields are read when it is delivered, not when the socket opened.
    assert_eq!(event["cohort"]["stage"], "DISBANDED");

    // The outsider never hears of the check-in: the first thing it gets is the disbanding.
    let event = next_event(&mut as_outsider).await;
    assert_eq!(event["kind"], "COHORT_DISBANDED", "{event}");
    let event = next_event(&mut as_lms).await;
    assert_eq!(event["kind"], "CHECK_IN_LOGGED");
    // Another tenant's subscriber gets nothing: a check-in in its own tenant comes first.
    let theirs = active_cohort(&app, "uni-b", &["zoe"]).await;
    app.ok(&theirs.trainees[0], ops::CHECK_IN, json!({ "input": { "cohortId": theirs.id, "value": 1.0 } })).await;
    loop {
        let event = next_event(&mut other_tenant).await;
        let doc: Value = afterclass_tests::serde_json::from_str(event["payload"].as_str().unwrap()).unwrap();
        assert_eq!(doc["data"]["cohortId"], theirs.id.as_str(), "{event}");
        if event["kind"] == "CHECK_IN_LOGGED" {
            break;
        }
    }
}

async fn a_bad_token_closes_the_socket_with_4403(app: TestApp) {
    let forged = {
        let mut t = token("tom", ViewerRole::Trainee, "uni-a");
        t.push('x');
        t
    };
    for payload in [json!({ "token": forged }), json!({}), json!({ "Authorization": "Basic abc" })] {
        let mut socket = connect(&app, payload.clone()).await;
        let msg = next_message(&mut socket).await;
        assert_eq!(msg["closed"], 4403, "{payload}: {msg}");
    }
    // The same token as a bearer header works.
    let mut socket = connect(&app, json!({ "Authorization": format!("Bearer {}", trainee("tom", "uni-a")) })).await;
    assert_eq!(next_message(&mut socket).await["type"], "connection_ack");
}

/// Set in a child process: `child_server` then serves instead of returning.
const CHILD: &str = "AFTERCLASS_TEST_SUBSCRIPTIONS_CHILD";

/// Not a test of its own: the body of the `afterclass serve` processes the test below starts.
#[test]
fn child_server() {
    afterclass_tests::serve_if_child(CHILD);
}

/// Two `afterclass serve` processes on one PostgreSQL: a check-in logged through one reaches a
/// subscriber of the other within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_written_through_one_server_reaches_subscribers_of_another() {
    let Some(db) = afterclass_tests::fresh_database(Backend::Postgres).await else { return };
    let first = TestApp::spawn_with(Backend::Postgres, db.shared(), afterclass_tests::config).await;
    let c = active_cohort(&first, "uni-a", &["tom"]).await;
    first.stop().await;
    let (one, other) = (ChildServer::start(CHILD, &db.url, &[]), ChildServer::start(CHILD, &db.url, &[]));
    let mut socket = subscribe_at(other.addr, &integration("uni-a"), json!({ "kinds": ["CHECK_IN_LOGGED"] })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for value in [1.0, 2.0, 3.0] {
        let sent = Instant::now();
        let input = json!({ "cohortId": c.id, "value": value });
        one.mutate(&c.trainees[0], ops::CHECK_IN, input).await;
        let event = next_event(&mut socket).await;
        let took = sent.elapsed();
        let doc: Value = afterclass_tests::serde_json::from_str(event["payload"].as_str().unwrap()).unwrap();
        assert_eq!(doc["data"]["value"].as_f64(), Some(value));
        println!("delivered across servers in {took:?}");
        // Notified at once, or found by the next poll (every second on PostgreSQL); on a machine
        // busy with the rest of the suite delivery has taken up to 1.6 s.
        assert!(took < Duration::from_secs(3), "the event took {took:?}");
    }
}

/// On PostgreSQL a write is announced on the log's channel by the writing process (from a
/// transaction of its own, `store::events::Announcer`): a listener of the database's own hears
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_announced_on_the_log_channel_by_its_process() {
    use sea_orm::sqlx::postgres::PgListener;
    let Some(db) = afterclass_tests::fresh_database(Backend::Postgres).await else { return };
    let app = TestApp::spawn_with(Backend::Postgres, db.shared(), afterclass_tests::config).await;
    let c = active_cohort(&app, "uni-a", &["tom"]).await;
    let mut listener = PgListener::connect(&db.url).await.unwrap();
    listener.listen(afterclass::store::events::CHANNEL).await.unwrap();
    // Whatever the cohort's set-up announced has arrived or arrives now; then it goes quiet.
    while tokio::time::timeout(Duration::from_millis(500), listener.recv()).await.is_ok() {}
    let input = json!({ "cohortId": c.id, "value": 1.0 });
    let data = app.ok(&c.trainees[0], ops::CHECK_IN, json!({ "input": input })).await;
    assert_eq!(data["logCheckIn"]["userErrors"], json!([]), "{data:#}");
    let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await;
    let note = heard.expect("no announcement within 10 s").unwrap();
    assert_eq!(note.channel(), afterclass::store::events::CHANNEL);
    app.stop().await;
}
