//! Two views of one cohort that the standing table (`standing.rs`) checks cell by cell, told
//! here as stories over HTTP on SQLite: a trainee never learns of an invite-only cohort they are
//! not in (by ID, node, list or write), and a trainee outside a discoverable cohort sees its
//! public face and nothing of its members.

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{Backend, TestApp, error_codes, instructor, integration, ops, trainee};

const TENANT: &str = "uni-a";
const WHO_AM_I: &str = "{ viewer { role } }";
const COHORTS: &str = "{ cohorts(first: 20) { totalCount nodes { id name } } }";
const COHORT: &str = r#"query($id: ID!) { cohort(id: $id) { id name stage members { totalCount } } }"#;
const NODE: &str = r#"query($id: ID!) { node(id: $id) { id } }"#;
const CHANGE_ROLE: &str = r#"mutation($input: ChangeMemberRoleInput!) {
    changeMemberRole(input: $input) { membership { id role } userErrors { field message code } } }"#;

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("an id in {value:#}")).to_owned()
}

/// A cohort of tenant "uni-a" created by ada with `visibility`: tom is an active member who
/// has checked in; a goal, a code of conduct, active.
struct Discoverable {
    id: String,
    goal: String,
    membership: String,
    check_in: String,
}

async fn cohort_with_tom(app: &TestApp, name: &str, visibility: &str) -> Discoverable {
    let ada = instructor("ada", TENANT);
    let tom = trainee("tom", TENANT);
    let data = app
        .ok(
            &ada,
            ops::CREATE,
            json!({ "input": { "name": name, "domain": "Rust programming", "purpose": "Practise together",
                "horizon": "SHORT_TERM", "visibility": visibility, "codeOfConduct": "Be kind.",
                "roster": [{ "externalId": "tom", "displayName": "Tom" }] } }),
        )
        .await;
    let id = id_of(&data["createCohort"]["cohort"]);
    let data = app
        .ok(
            &ada,
            ops::ADD_GOAL,
            json!({ "input": { "cohortId": id, "title": "Exercises", "unit": "exercises",
                "target": 100.0, "aggregation": "SUM" } }),
        )
        .await;
    let goal = id_of(&data["addGoal"]["goal"]);
    let data = app.ok(&ada, ops::ACTIVATE, json!({ "input": { "cohortId": id } })).await;
    assert_eq!(data["activateCohort"]["cohort"]["stage"], "ACTIVE", "{data:#}");
    let data = app.ok(&tom, ops::ACCEPT, json!({ "input": { "cohortId": id, "version": 1 } })).await;
    let membership = id_of(&data["acceptCodeOfConduct"]["membership"]);
    let data = app.ok(&tom, ops::CHECK_IN, json!({ "input": { "cohortId": id, "goalId": goal, "value": 3.0 } })).await;
    let check_in = id_of(&data["logCheckIn"]["checkIn"]);
    Discoverable { id, goal, membership, check_in }
}

/// The names of the cohorts `token` finds in the list.
async fn listed(app: &TestApp, token: &str) -> Vec<String> {
    let data = app.ok(token, COHORTS, json!({})).await;
    let nodes = data["cohorts"]["nodes"].as_array().cloned().unwrap_or_default();
    nodes.iter().map(|n| n["name"].as_str().unwrap_or("?").to_owned()).collect()
}

fn assert_codes(body: &Value, code: &str, what: &str) {
    let codes = error_codes(body);
    assert!(!codes.is_empty() && codes.iter().all(|c| c == code), "{what}: expected {code}, got {body:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainee_never_sees_an_invite_only_cohort_they_are_not_in() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
    let private = cohort_with_tom(&app, "Private circle", "INVITE_ONLY").await;
    cohort_with_tom(&app, "Open circle", "OPEN").await;
    let (tom, nia) = (trainee("tom", TENANT), trainee("nia", TENANT));
    app.ok(&nia, WHO_AM_I, json!({})).await;
    let before = app.counts().await;

    // Neither by its ID, nor as a node, nor through anything in it, nor in the list.
    let reads = [
        ("cohort(id)", COHORT, &private.id),
        ("node(cohort)", NODE, &private.id),
        ("node(goal)", NODE, &private.goal),
        ("node(membership)", NODE, &private.membership),
        ("node(checkIn)", NODE, &private.check_in),
    ];
    for (what, query, id) in reads {
        let body = app.gql(&nia, query, json!({ "id": id })).await;
        assert_codes(&body, "NOT_FOUND", what);
    }
    assert_eq!(listed(&app, &nia).await, ["Open circle"]);
    // Writing to it finds nothing either.
    let cohort = json!({ "input": { "cohortId": private.id } });
    let writes = [
        ("acceptCodeOfConduct", ops::ACCEPT, json!({ "input": { "cohortId": private.id, "version": 1 } })),
        ("leaveCohort", ops::LEAVE, cohort.clone()),
        ("logCheckIn", ops::CHECK_IN, json!({ "input": { "cohortId": private.id, "value": 1.0 } })),
        (
            "addGoal",
            ops::ADD_GOAL,
            json!({ "input": { "cohortId": private.id, "title": "Mine", "unit": "u",
            "target": 1.0, "aggregation": "SUM" } }),
        ),
        ("changeMemberRole", CHANGE_ROLE, json!({ "input": { "membershipId": private.membership, "role": "LEADER" } })),
        ("activateCohort", ops::ACTIVATE, cohort),
    ];
    for (what, query, variables) in writes {
        let body = app.gql(&nia, query, variables).await;
        assert_codes(&body, "NOT_FOUND", what);
    }
    assert_eq!(app.counts().await, before, "refused operations wrote nothing");

    // Its member sees it, and instructors and the integration of the tenant read it.
    for (who, token) in
        [("tom", trainee("tom", TENANT)), ("bob", instructor("bob", TENANT)), ("the LMS", integration(TENANT))]
    {
        let data = app.ok(&token, COHORT, json!({ "id": private.id })).await;
        assert_eq!(data["cohort"]["name"], "Private circle", "{who}");
    }
    assert_eq!(listed(&app, &tom).await, ["Private circle", "Open circle"]);

    // Once tom has left, it is hidden from him too.
    let data = app.ok(&tom, ops::LEAVE, json!({ "input": { "cohortId": private.id } })).await;
    assert_eq!(data["leaveCohort"]["membership"]["status"], "LEFT", "{data:#}");
    assert_codes(&app.gql(&tom, COHORT, json!({ "id": private.id })).await, "NOT_FOUND", "cohort(id) after leaving");
    assert_codes(&app.gql(&tom, NODE, json!({ "id": private.id })).await, "NOT_FOUND", "node after leaving");
    assert_eq!(listed(&app, &tom).await, ["Open circle"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_trainee_sees_only_the_public_face_of_a_discoverable_cohort() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
    let (tom, nia) = (trainee("tom", TENANT), trainee("nia", TENANT));
    for (name, visibility) in [("Open circle", "OPEN"), ("Request circle", "BY_REQUEST")] {
        let cohort = cohort_with_tom(&app, name, visibility).await;
        let id = json!({ "id": cohort.id });

        // The public face: name, domain, purpose, tags, stage and how many members.
        let data = app
            .ok(
                &nia,
                r#"query($id: ID!) { cohort(id: $id) { name domain purpose tags stage visibility
                members { totalCount } } }"#,
                id.clone(),
            )
            .await;
        let face = &data["cohort"];
        assert_eq!((face["name"].as_str(), face["visibility"].as_str()), (Some(name), Some(visibility)), "{data:#}");
        assert_eq!(face["members"]["totalCount"], 2, "ada and tom: {data:#}");
        let data = app
            .ok(
                &nia,
                r#"query($id: ID!) { node(id: $id) { ... on Cohort { name members { totalCount } } } }"#,
                id.clone(),
            )
            .await;
        assert_eq!(data["node"]["members"]["totalCount"], 2, "{data:#}");

        // Not who the members are, nor their check-ins.
        for inside in [
            "members { nodes { id } }",
            "members { edges { node { id } } }",
            "members { pageInfo { hasNextPage } }",
            "checkIns { nodes { value } }",
            "checkIns { totalCount }",
            "goals { title }",
            "codeOfConduct { text }",
            "health { status }",
            "criteria { kind }",
        ] {
            let body =
                app.gql(&nia, &format!("query($id: ID!) {{ cohort(id: $id) {{ name {inside} }} }}"), id.clone()).await;
            assert_codes(&body, "FORBIDDEN", &format!("{visibility}: {inside}"));
        }
        assert_codes(&app.gql(&nia, NODE, json!({ "id": cohort.check_in })).await, "FORBIDDEN", "node(checkIn)");
        assert_codes(&app.gql(&nia, NODE, json!({ "id": cohort.membership })).await, "FORBIDDEN", "node(membership)");

        // The list shows the same face, and the same refusal.
        let data = app.ok(&nia, "{ cohorts { nodes { name members { totalCount } } } }", json!({})).await;
        let entry = data["cohorts"]["nodes"].as_array().and_then(|ns| ns.iter().find(|n| n["name"] == name));
        assert_eq!(entry.map(|e| e["members"]["totalCount"].clone()), Some(json!(2)), "{data:#}");
        let body = app.gql(&nia, "{ cohorts { nodes { name members { nodes { id } } } } }", json!({})).await;
        assert_codes(&body, "FORBIDDEN", "members of listed cohorts");

        // A member sees all of it.
        let data = app
            .ok(&tom, r#"query($id: ID!) { cohort(id: $id) { members { nodes { id } } checkIns { totalCount } } }"#, id)
            .await;
        assert_eq!(data["cohort"]["members"]["nodes"].as_array().map(Vec::len), Some(2), "{data:#}");
        assert_eq!(data["cohort"]["checkIns"]["totalCount"], 1, "{data:#}");
    }
    app.stop().await;
}
