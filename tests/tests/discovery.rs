//! Join before you found: similar cohorts, search, proposals and join requests, with visibility
//! respected everywhere, on SQLite and PostgreSQL.

use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{TestApp, error_codes, instructor, on_both_stores, ops, trainee, user_error_codes};

on_both_stores!(
    a_trainee_finds_a_similar_cohort_before_founding_another,
    search_finds_what_the_viewer_may_see_in_relevance_order,
    proposals_are_listed_for_instructors_and_declined_with_a_reason,
    join_requests_follow_the_cohorts_visibility_and_count_outside_interest,
);

const SEARCH: &str = r#"query($q: String!, $first: Int, $after: String) { searchCohorts(query: $q, first: $first, after: $after) {
    totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }"#;
const SIMILAR: &str =
    r#"query($input: SimilarCohortsInput!) { similarCohorts(input: $input) { cohort { name } score reasons } }"#;
const REQUEST: &str = r#"mutation($input: RequestToJoinInput!) { requestToJoin(input: $input) {
    joinRequest { id status fromOutsideCourse } membership { status } userErrors { field message code } } }"#;
const DECIDE: &str = r#"mutation($input: DecideJoinRequestInput!) { decideJoinRequest(input: $input) {
    joinRequest { status decidedAt } membership { status } userErrors { field message code } } }"#;
const WITHDRAW: &str = r#"mutation($input: JoinRequestRefInput!) { withdrawJoinRequest(input: $input) {
    joinRequest { status } userErrors { field message code } } }"#;

/// Creates a cohort from course C-1 as `token` and gives its id.
async fn cohort(
    app: &TestApp,
    token: &str,
    name: &str,
    domain: &str,
    purpose: &str,
    tags: &[&str],
    visibility: &str,
) -> String {
    cohort_with_roster(app, token, (name, domain, purpose), tags, visibility, &[]).await
}

/// Creates a cohort from course C-1 with these people of the course's roster invited.
async fn cohort_with_roster(
    app: &TestApp,
    token: &str,
    (name, domain, purpose): (&str, &str, &str),
    tags: &[&str],
    visibility: &str,
    roster: &[&str],
) -> String {
    let roster: Vec<Value> = roster.iter().map(|p| json!({ "externalId": p, "displayName": p })).collect();
    let data = app
        .ok(
            token,
            ops::CREATE,
            json!({ "input": { "name": name, "domain": domain, "purpose": purpose, "tags": tags,
            "horizon": "OPEN_ENDED", "visibility": visibility, "codeOfConduct": "Be kind.",
            "course": { "lmsCourseId": "C-1", "title": "Course one" }, "roster": roster } }),
        )
        .await;
    assert_eq!(data["createCohort"]["userErrors"], json!([]), "{data:#}");
    data["createCohort"]["cohort"]["id"].as_str().unwrap().to_owned()
}

fn names(list: &Value, path: &[&str]) -> Vec<String> {
    list.as_array().unwrap().iter().map(|n| path.iter().fold(n, |v, k| &v[k]).as_str().unwrap().to_owned()).collect()
}

async fn a_trainee_finds_a_similar_cohort_before_founding_another(app: TestApp) {
    let ada = instructor("ada", "t");
    cohort(&app, &ada, "Rust programming circle", "Rust programming", "Practise Rust every week", &["rust"], "OPEN")
        .await;
    cohort(&app, &ada, "Spanish B1 conversation", "Spanish", "Reach B1 by talking every week", &["spanish"], "OPEN")
        .await;
    cohort(
        &app,
        &ada,
        "Python data analysis",
        "Python for data",
        "Analyse open data with pandas",
        &["python", "data"],
        "OPEN",
    )
    .await;
    cohort(&app, &ada, "Secret Rust guild", "Rust programming", "Invite-only Rust practice", &["rust"], "INVITE_ONLY")
        .await;

    let tom = trainee("tom", "t");
    let data = app
        .ok(&tom, SIMILAR, json!({ "input": { "name": "Rust programing practice", "domain": "rust programing" } }))
        .await;
    let matches = &data["similarCohorts"];
    assert_eq!(matches[0]["cohort"]["name"], "Rust programming circle", "{data:#}");
    let score = matches[0]["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score));
    assert!(!matches[0]["reasons"].as_array().unwrap().is_empty());
    // The invite-only cohort is never suggested to a trainee who is not in it.
    assert!(!names(matches, &["cohort", "name"]).contains(&"Secret Rust guild".to_owned()), "{data:#}");
    // An instructor sees it.
    let data = app.ok(&ada, SIMILAR, json!({ "input": { "domain": "Rust programming", "limit": 5 } })).await;
    assert!(names(&data["similarCohorts"], &["cohort", "name"]).contains(&"Secret Rust guild".to_owned()));

    // Proposing a look-alike answers with the existing cohorts to join instead.
    let propose = r#"mutation($input: ProposeCohortInput!) { proposeCohort(input: $input) {
        cohort { stage } similarExisting { cohort { name } score } userErrors { code } } }"#;
    let data = app
        .ok(&tom, propose, json!({ "input": { "name": "Rust practise group", "domain": "Rust programming", "purpose": "Write Rust together", "horizon": "OPEN_ENDED" } }))
        .await;
    assert_eq!(data["proposeCohort"]["cohort"]["stage"], "PROPOSED");
    assert_eq!(data["proposeCohort"]["similarExisting"][0]["cohort"]["name"], "Rust programming circle", "{data:#}");
    let body = app.gql(&tom, SIMILAR, json!({ "input": { "domain": "Rust", "limit": 51 } })).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    app.stop().await;
}

async fn search_finds_what_the_viewer_may_see_in_relevance_order(app: TestApp) {
    let ada = instructor("ada", "t");
    cohort(&app, &ada, "Rust programming circle", "Rust programming", "Practise Rust every week", &["rust"], "OPEN")
        .await;
    cohort(
        &app,
        &ada,
        "Embedded Rust",
        "Embedded systems",
        "Microcontrollers, with some rust on the side",
        &["embedded"],
        "BY_REQUEST",
    )
    .await;
    cohort(&app, &ada, "Spanish B1 conversation", "Spanish", "Reach B1 by talking every week", &["spanish"], "OPEN")
        .await;
    cohort(&app, &ada, "Secret Rust guild", "Rust programming", "Invite-only Rust practice", &["rust"], "INVITE_ONLY")
        .await;
    cohort(
        &app,
        &instructor("olga", "other"),
        "Rust elsewhere",
        "Rust programming",
        "Another tenant",
        &["rust"],
        "OPEN",
    )
    .await;

    let tom = trainee("tom", "t");
    let data = app.ok(&tom, SEARCH, json!({ "q": "rust" })).await;
    let found = names(&data["searchCohorts"]["edges"], &["node", "name"]);
    assert_eq!(found, ["Rust programming circle", "Embedded Rust"], "{data:#}");
    assert_eq!(data["searchCohorts"]["totalCount"], 2);
    // Word forms: "conversations" and "talked" find the Spanish cohort.
    let data = app.ok(&tom, SEARCH, json!({ "q": "spanish conversations" })).await;
    assert_eq!(names(&data["searchCohorts"]["edges"], &["node", "name"]), ["Spanish B1 conversation"]);
    // Prefixes narrow as one types.
    let data = app.ok(&tom, SEARCH, json!({ "q": "progr" })).await;
    assert_eq!(names(&data["searchCohorts"]["edges"], &["node", "name"]), ["Rust programming circle"]);
    // An instructor sees the invite-only cohort too; paging follows relevance with cursors.
    let first = app.ok(&ada, SEARCH, json!({ "q": "rust", "first": 2 })).await;
    assert_eq!(first["searchCohorts"]["totalCount"], 3);
    assert_eq!(first["searchCohorts"]["pageInfo"]["hasNextPage"], true);
    let after = first["searchCohorts"]["pageInfo"]["endCursor"].clone();
    let rest = app.ok(&ada, SEARCH, json!({ "q": "rust", "first": 2, "after": after })).await;
    assert_eq!(rest["searchCohorts"]["pageInfo"]["hasNextPage"], false);
    let mut all = names(&first["searchCohorts"]["edges"], &["node", "name"]);
    all.extend(names(&rest["searchCohorts"]["edges"], &["node", "name"]));
    all.sort();
    assert_eq!(all, ["Embedded Rust", "Rust programming circle", "Secret Rust guild"]);
    // Nothing to search for finds nothing.
    let data = app.ok(&tom, SEARCH, json!({ "q": " *** " })).await;
    assert_eq!(data["searchCohorts"]["totalCount"], 0);
    app.stop().await;
}

async fn proposals_are_listed_for_instructors_and_declined_with_a_reason(app: TestApp) {
    let lea = trainee("lea", "t");
    let propose = r#"mutation($input: ProposeCohortInput!) { proposeCohort(input: $input) { cohort { id } userErrors { code } } }"#;
    let data = app
        .ok(&lea, propose, json!({ "input": { "name": "Knitting circle", "domain": "Knitting", "purpose": "Knit", "horizon": "OPEN_ENDED" } }))
        .await;
    let id = data["proposeCohort"]["cohort"]["id"].clone();
    let ada = instructor("ada", "t");
    let list = "{ proposals { totalCount nodes { name stage } } }";
    let data = app.ok(&ada, list, json!({})).await;
    assert_eq!(data["proposals"]["totalCount"], 1);
    let body = app.gql(&lea, list, json!({})).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);

    let decline = r#"mutation($input: DeclineProposalInput!) { declineProposal(input: $input) { cohort { stage declineReason } userErrors { field code } } }"#;
    let data = app.ok(&ada, decline, json!({ "input": { "cohortId": id, "reason": " " } })).await;
    assert_eq!(user_error_codes(&data["declineProposal"]), ["INVALID_INPUT"]);
    let body = app.gql(&lea, decline, json!({ "input": { "cohortId": id, "reason": "No" } })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let data = app
        .ok(&ada, decline, json!({ "input": { "cohortId": id, "reason": "Join the crafts cohort instead." } }))
        .await;
    assert_eq!(data["declineProposal"]["cohort"]["stage"], "DISBANDED");
    // The proposer reads why.
    let data =
        app.ok(&lea, r#"query($id: ID!) { cohort(id: $id) { stage declineReason } }"#, json!({ "id": id })).await;
    assert_eq!(data["cohort"]["declineReason"], "Join the crafts cohort instead.");
    let data = app.ok(&ada, list, json!({})).await;
    assert_eq!(data["proposals"]["totalCount"], 0);
    app.stop().await;
}

async fn join_requests_follow_the_cohorts_visibility_and_count_outside_interest(app: TestApp) {
    let ada = instructor("ada", "t");
    // Rita was on course C-1's roster: she was invited to this cohort, not to the others.
    let open = cohort_with_roster(&app, &ada, ("Open circle", "Rust", "Practise"), &[], "OPEN", &["rita"]).await;
    let by_request = cohort(&app, &ada, "Request circle", "Rust", "Practise", &[], "BY_REQUEST").await;
    let hidden = cohort(&app, &ada, "Hidden circle", "Rust", "Practise", &[], "INVITE_ONLY").await;
    let (tom, rita, sam) = (trainee("tom", "t"), trainee("rita", "t"), trainee("sam", "t"));

    // OPEN: admitted at once, active after accepting the code of conduct.
    let data = app.ok(&tom, REQUEST, json!({ "input": { "cohortId": open, "message": "Hi!" } })).await;
    let r = &data["requestToJoin"];
    assert_eq!(
        (r["joinRequest"]["status"].as_str(), r["membership"]["status"].as_str()),
        (Some("APPROVED"), Some("INVITED")),
        "{data:#}"
    );
    assert_eq!(r["joinRequest"]["fromOutsideCourse"], true);
    let data = app.ok(&tom, ops::ACCEPT, json!({ "input": { "cohortId": open, "version": 1 } })).await;
    assert_eq!(data["acceptCodeOfConduct"]["membership"]["status"], "ACTIVE");
    let data = app.ok(&tom, REQUEST, json!({ "input": { "cohortId": open } })).await;
    assert_eq!(user_error_codes(&data["requestToJoin"]), ["ALREADY_EXISTS"]);

    // BY_REQUEST: queued; a duplicate is refused and writes nothing.
    let data = app.ok(&tom, REQUEST, json!({ "input": { "cohortId": by_request } })).await;
    assert_eq!(data["requestToJoin"]["joinRequest"]["status"], "PENDING");
    assert!(data["requestToJoin"]["membership"].is_null());
    let tom_request = data["requestToJoin"]["joinRequest"]["id"].clone();
    let before = app.counts().await;
    let data = app.ok(&tom, REQUEST, json!({ "input": { "cohortId": by_request } })).await;
    assert_eq!(user_error_codes(&data["requestToJoin"]), ["ALREADY_EXISTS"]);
    assert_eq!(app.counts().await, before);
    // Rita was on the course's roster, so her request is not outside interest.
    let data = app.ok(&rita, REQUEST, json!({ "input": { "cohortId": by_request } })).await;
    assert_eq!(data["requestToJoin"]["joinRequest"]["fromOutsideCourse"], false);
    let rita_request = data["requestToJoin"]["joinRequest"]["id"].clone();
    let data = app.ok(&sam, REQUEST, json!({ "input": { "cohortId": by_request } })).await;
    let sam_request = data["requestToJoin"]["joinRequest"]["id"].clone();

    // Only leaders decide; the requester only withdraws.
    let body = app.gql(&sam, DECIDE, json!({ "input": { "joinRequestId": tom_request, "approve": true } })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let body = app.gql(&tom, WITHDRAW, json!({ "input": { "joinRequestId": sam_request } })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    let data = app.ok(&ada, DECIDE, json!({ "input": { "joinRequestId": tom_request, "approve": true } })).await;
    assert_eq!(data["decideJoinRequest"]["membership"]["status"], "INVITED");
    assert!(data["decideJoinRequest"]["joinRequest"]["decidedAt"].is_string());
    let data = app.ok(&ada, DECIDE, json!({ "input": { "joinRequestId": rita_request, "approve": false } })).await;
    assert_eq!(data["decideJoinRequest"]["joinRequest"]["status"], "DECLINED");
    let data = app.ok(&ada, DECIDE, json!({ "input": { "joinRequestId": rita_request, "approve": true } })).await;
    assert_eq!(user_error_codes(&data["decideJoinRequest"]), ["INVALID_INPUT"]);
    let data = app.ok(&sam, WITHDRAW, json!({ "input": { "joinRequestId": sam_request } })).await;
    assert_eq!(data["withdrawJoinRequest"]["joinRequest"]["status"], "WITHDRAWN");

    // Everything stays on record; leaders see it, members do not.
    let requests = r#"query($id: ID!, $status: JoinRequestStatus) { cohort(id: $id) { outsideInterest
        joinRequests(status: $status) { totalCount nodes { status person { externalId } } } } }"#;
    let data = app.ok(&ada, requests, json!({ "id": by_request })).await;
    assert_eq!(data["cohort"]["joinRequests"]["totalCount"], 3);
    // Tom's accepted request counts; Sam withdrew hers and Rita was on the course's roster.
    assert_eq!(data["cohort"]["outsideInterest"], 1);
    let data = app.ok(&ada, requests, json!({ "id": by_request, "status": "DECLINED" })).await;
    assert_eq!(names(&data["cohort"]["joinRequests"]["nodes"], &["person", "externalId"]), ["rita"]);
    let body = app.gql(&tom, requests, json!({ "id": open })).await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"]);
    // A requester reads their own request.
    let data = app
        .ok(
            &sam,
            r#"query($id: ID!) { node(id: $id) { ... on JoinRequest { status } } }"#,
            json!({ "id": sam_request }),
        )
        .await;
    assert_eq!(data["node"]["status"], "WITHDRAWN");

    // Outside interest is what OUTSIDE_INTEREST_AT_LEAST reads.
    let evaluation =
        r#"query($id: ID!) { cohort(id: $id) { evaluation { results { criterion { kind } observed } } } }"#;
    let data = app.ok(&ada, evaluation, json!({ "id": by_request })).await;
    let outside = data["cohort"]["evaluation"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["criterion"]["kind"] == "OUTSIDE_INTEREST_AT_LEAST")
        .map(|r| r["observed"].clone());
    assert_eq!(outside, Some(json!(1.0)));

    // INVITE_ONLY cohorts are not found by outsiders at all.
    let body = app.gql(&sam, REQUEST, json!({ "input": { "cohortId": hidden } })).await;
    assert_eq!(error_codes(&body), ["NOT_FOUND"]);
    app.stop().await;
}
