//! Fuzzing the real request handler: random and mutated GraphQL documents, variables, global IDs,
//! cursors and bearer tokens sent to the real server (the real router over HTTP, over a real
//! SQLite file or PostgreSQL database seeded with a cohort, its goal, members, check-ins, a
//! meeting, a join request and a webhook endpoint).
//!
//! Every case starts from a document of the corpus in `tests/fuzz/corpus/` (the web app's
//! operations, the contract's mutations and queries, and every input that once found a bug),
//! with its variables (`NAME.json`, where `"@cohort"`, `"@goal"`, … name a real object of the
//! seeded world), and mutates the document (tokens deleted, duplicated, swapped, replaced;
//! fragments spliced in; literals made huge, negative, unicode or null; deep nesting; many
//! aliases), the variables (IDs of every kind, cursors, extreme numbers, dates and strings) and
//! the token (bad base64, another algorithm, truncated, huge, hostile claims signed with the
//! real key). The properties, checked on every case:
//!
//! - the server answers (no panic: a panic would answer 500) with a status below 500;
//! - no error is `INTERNAL`, and every error carries a code;
//! - no answer takes longer than the request time limit (2 s here) plus a margin;
//! - a request answered only with errors or user errors wrote nothing: every table's row count
//!   and a change detector (SQLite's `data_version` seen from a connection of the test's own, a
//!   digest of every table's rows on PostgreSQL) are the same before and after it.
//!
//! `AFTERCLASS_FUZZ_CASES` sets the number of cases per store (default 400; e.g. 100000 for a
//! long run), `AFTERCLASS_FUZZ_SEED` the seed (printed at the start and on failure, with the
//! failing input).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use afterclass::config::Limits;
use afterclass::ids::{self, Kind};
use afterclass_tests::serde_json::{self, Value, json};
use afterclass_tests::{
    Backend, SECRET, TestApp, active_cohort, config, fresh_database, instructor, integration, ops, trainee,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{ConnectionTrait, Statement};

/// The request time limit the fuzzed server runs with.
const TIME_LIMIT: Duration = Duration::from_secs(2);
/// What an answer may take beyond the limit: writing the answer and the client's side of it.
const MARGIN: Duration = Duration::from_millis(1500);
const DEFAULT_CASES: u64 = 400;
const TENANT: &str = "uni-fuzz";
const OTHER: &str = "uni-elsewhere";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let db = fresh_database(Backend::Sqlite).await.expect("SQLite is always available");
    fuzz(Backend::Sqlite, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(db) = fresh_database(Backend::Postgres).await else { return };
    fuzz(Backend::Postgres, db).await;
}

async fn fuzz(backend: Backend, db: afterclass_tests::TestDatabase) {
    let cases: u64 = std::env::var("AFTERCLASS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES);
    let seed: u64 = std::env::var("AFTERCLASS_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    eprintln!("fuzz {backend:?}: {cases} cases, AFTERCLASS_FUZZ_SEED={seed}");
    let url = db.url.clone();
    let app = TestApp::spawn_with(backend, db, |url| {
        let mut cfg = config(url);
        cfg.limits.request_timeout = TIME_LIMIT;
        cfg
    })
    .await;
    let corpus = Corpus::load();
    let mut world = World::seed(&app).await;
    let mut detector = Detector::open(&app, &url).await;
    detector.prove_it_sees_writes(&app, &world).await;

    let verbose = std::env::var_os("AFTERCLASS_FUZZ_VERBOSE").is_some();
    let mut rng = Rng::new(seed);
    let mut stats = Stats::default();
    let started = Instant::now();
    for n in 0..cases {
        // A fresh cohort now and then, as the fuzzer's own mutations disband, leave and end the
        // ones it has.
        if n > 0 && n % 150 == 0 {
            world.grow(&app).await;
        }
        let case = Case::generate(&mut rng, &corpus, &world);
        let report = |why: &str, detail: &str| {
            panic!(
                "fuzz {backend:?} case {n} failed: {why}\nreproduce with AFTERCLASS_FUZZ_SEED={seed}\n\
                 token: {}\nbody: {}\n{detail}",
                case.token_label,
                shorten(&case.body, 6000)
            )
        };
        if verbose {
            eprintln!("case {n}: sending {} bytes", case.body.len());
        }
        if let Some(prime) = &case.prime {
            // A signed token of a new person provisions them on first sight: that write is not
            // the case's.
            send(&app, Some(prime), r#"{"query":"{ viewer { role } }"}"#).await;
        }
        let before = detector.snapshot(&app).await;
        let began = Instant::now();
        let (status, text) = send(&app, case.authorization.as_deref(), &case.body).await;
        let elapsed = began.elapsed();
        if verbose {
            eprintln!("case {n}: {status} in {elapsed:?}: {} {}", case.token_label, shorten(&case.body, 300));
        }
        stats.slowest = stats.slowest.max(elapsed);
        if elapsed > TIME_LIMIT + MARGIN {
            report(&format!("answered after {elapsed:?}, past the {TIME_LIMIT:?} limit"), &text);
        }
        if status >= 500 {
            report(&format!("status {status}"), &text);
        }
        *stats.statuses.entry(status).or_default() += 1;
        let body: Value = match serde_json::from_str(&text) {
            Ok(body) => body,
            // Refused before GraphQL (a body past the limit, not JSON at all): nothing ran.
            Err(_) if status >= 400 => {
                stats.not_json += 1;
                Value::Null
            }
            Err(_) => report("a 2xx answer that is not JSON", &text),
        };
        let codes = codes_of(&body);
        if codes.iter().any(|c| c == "INTERNAL") {
            report("an INTERNAL error", &text);
        }
        if body["errors"].as_array().is_some_and(|errs| errs.iter().any(|e| !e["extensions"]["code"].is_string())) {
            report("an error without a code", &text);
        }
        for code in &codes {
            *stats.codes.entry(code.clone()).or_default() += 1;
        }
        match verdict(status, &body) {
            Verdict::Refused => {
                stats.refused += 1;
                let after = detector.snapshot(&app).await;
                if after != before {
                    let changed: Vec<String> = before
                        .counts
                        .iter()
                        .filter(|(t, n)| after.counts.get(*t) != Some(n))
                        .map(|(t, n)| format!("{t}: {n} -> {:?}", after.counts.get(t)))
                        .collect();
                    report(
                        &format!(
                            "a refused request wrote: {changed:?} (change detector {:?} -> {:?})",
                            before.change, after.change
                        ),
                        &text,
                    );
                }
            }
            Verdict::Partly => stats.partly += 1,
            Verdict::Answered => stats.answered += 1,
        }
        stats.cases += 1;
    }
    let took = started.elapsed();
    eprintln!(
        "fuzz {backend:?}: {} cases in {took:.1?} (seed {seed}): {} refused with nothing written, {} answered in part, \
         {} answered; slowest {:?}; statuses {:?}; {} bodies not JSON; error codes {:?}",
        stats.cases,
        stats.refused,
        stats.partly,
        stats.answered,
        stats.slowest,
        stats.statuses,
        stats.not_json,
        stats.codes
    );
    assert_eq!(stats.cases, cases);
    // The fuzzer reached past the parser: some cases ran and some were refused by the API itself.
    if cases >= 100 {
        assert!(stats.answered > 0 && stats.refused > 0, "{stats:?}");
        assert!(stats.codes.contains_key("BAD_USER_INPUT") && stats.codes.contains_key("UNAUTHENTICATED"), "{stats:?}");
    }
    // The server still answers as it did.
    let data = app.ok(&world.leader, "{ viewer { role } }", json!({})).await;
    assert_eq!(data["viewer"]["role"], "INSTRUCTOR");
    app.stop().await;
}

#[derive(Debug, Default)]
struct Stats {
    cases: u64,
    refused: u64,
    partly: u64,
    answered: u64,
    not_json: u64,
    slowest: Duration,
    statuses: BTreeMap<u16, u64>,
    codes: BTreeMap<String, u64>,
}

async fn send(app: &TestApp, authorization: Option<&str>, body: &str) -> (u16, String) {
    let mut req = app
        .client()
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .timeout(TIME_LIMIT + MARGIN + Duration::from_secs(5))
        .body(body.to_owned());
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
        // The server answers a body past its limit before it has all of it and closes the
        // connection, which the client may see as a failed send.
        Err(_) if body.len() > Limits::default().body_bytes => (413, String::new()),
        Err(e) => panic!("no answer ({e}) to {}", shorten(body, 4000)),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// The `extensions.code` of every top-level error and the `code` of every user error.
fn codes_of(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body["errors"]
        .as_array()
        .map(|errs| errs.iter().filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if let Some(data) = body["data"].as_object() {
        for payload in data.values() {
            if let Some(errs) = payload["userErrors"].as_array() {
                out.extend(errs.iter().filter_map(|e| e["code"].as_str().map(|c| format!("user:{c}"))));
            }
        }
    }
    out
}

enum Verdict {
    /// Nothing the request asked for happened: the request was refused as a whole, or every
    /// field it ran was refused (an error at the field itself, or user errors in its payload).
    Refused,
    /// Some fields answered and some did not.
    Partly,
    Answered,
}

/// Whether the answer refused everything the request asked for. A top-level field is refused when
/// it is null with an error at its own path, or when its payload lists user errors; an error
/// deeper down means the field itself ran (a mutation may have written), so it does not count.
fn verdict(status: u16, body: &Value) -> Verdict {
    let errors: Vec<&Value> = body["errors"].as_array().map(|e| e.iter().collect()).unwrap_or_default();
    let Some(data) = body["data"].as_object() else {
        // No data at all: refused before or during validation, or a null propagated from a
        // non-null root field. The latter happens only with an error at or under a root field.
        if status >= 400 || errors.iter().all(|e| e["path"].as_array().is_none_or(|p| p.len() <= 1)) {
            return Verdict::Refused;
        }
        return Verdict::Partly;
    };
    if data.is_empty() {
        return if errors.is_empty() { Verdict::Answered } else { Verdict::Refused };
    }
    let mut refused = 0;
    for (key, value) in data {
        let own_error =
            errors.iter().any(|e| e["path"].as_array().is_some_and(|p| p.len() == 1 && p[0] == key.as_str()));
        let deeper = errors.iter().any(|e| e["path"].as_array().is_some_and(|p| p.len() > 1 && p[0] == key.as_str()));
        let user_errors = value["userErrors"].as_array().is_some_and(|u| !u.is_empty());
        if !deeper && ((value.is_null() && own_error) || user_errors) {
            refused += 1;
        }
    }
    if refused == data.len() {
        Verdict::Refused
    } else if refused > 0 || !errors.is_empty() {
        Verdict::Partly
    } else {
        Verdict::Answered
    }
}

/// What the store holds, cheaply: every table's row count and a change detector that also sees
/// updates.
#[derive(Debug, PartialEq)]
struct Snapshot {
    counts: BTreeMap<String, i64>,
    change: String,
}

/// SQLite: `PRAGMA data_version` on a connection of the test's own changes whenever any other
/// connection commits a change. PostgreSQL: a digest of every row of every table.
struct Detector {
    sqlite: Option<sea_orm::DatabaseConnection>,
    digest_sql: Option<String>,
}

impl Detector {
    async fn open(app: &TestApp, url: &str) -> Detector {
        match app.backend {
            Backend::Sqlite => {
                let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
                opts.max_connections(1)
                    .min_connections(1)
                    .idle_timeout(Duration::from_secs(24 * 3600))
                    .max_lifetime(None)
                    .sqlx_logging(false);
                let conn = sea_orm::Database::connect(opts).await.expect("a connection of the test's own");
                Detector { sqlite: Some(conn), digest_sql: None }
            }
            Backend::Postgres => {
                let sql = app
                    .tables()
                    .await
                    .iter()
                    .map(|t| {
                        format!(
                            "SELECT '{t}' AS t, md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) AS d FROM \"{t}\" r"
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                Detector { sqlite: None, digest_sql: Some(sql) }
            }
        }
    }

    async fn snapshot(&self, app: &TestApp) -> Snapshot {
        let counts = app.counts().await;
        let change = if let Some(conn) = &self.sqlite {
            let row = conn
                .query_one_raw(Statement::from_string(conn.get_database_backend(), "PRAGMA data_version"))
                .await
                .expect("reading data_version")
                .expect("a row");
            row.try_get_by_index::<i64>(0).expect("a version").to_string()
        } else {
            let sql = self.digest_sql.clone().unwrap_or_default();
            let conn = app.store.reader();
            let rows = conn
                .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
                .await
                .expect("digesting the tables");
            rows.iter()
                .map(|r| {
                    format!("{}={}", r.try_get_by_index::<String>(0).unwrap(), r.try_get_by_index::<String>(1).unwrap())
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        Snapshot { counts, change }
    }

    /// The detector is not blind: an update that changes no row count is seen, and a read is not.
    async fn prove_it_sees_writes(&mut self, app: &TestApp, world: &World) {
        let before = self.snapshot(app).await;
        let again = self.snapshot(app).await;
        assert_eq!(before, again, "reading changed what the detector sees");
        let input = json!({ "cohortId": world.ids["cohort"][0], "enabled": false });
        let data = app
            .ok(
                &world.trainees[0],
                "mutation($input: SetNudgesEnabledInput!) { setNudgesEnabled(input: $input) { userErrors { code } } }",
                json!({ "input": input }),
            )
            .await;
        assert_eq!(data["setNudgesEnabled"]["userErrors"], json!([]), "{data:#}");
        let after = self.snapshot(app).await;
        assert_eq!(after.counts, before.counts, "an update changed a row count");
        assert_ne!(after.change, before.change, "the change detector did not see an update");
    }
}

/// The corpus: documents and their variables, from `tests/fuzz/corpus/`.
struct Corpus {
    entries: Vec<Entry>,
    /// Every name token of every document, to splice in.
    names: Vec<String>,
    /// Every selection set (`{ … }`) of every document, to splice in.
    selections: Vec<String>,
}

struct Entry {
    name: String,
    document: String,
    variables: Option<Value>,
}

impl Corpus {
    fn load() -> Corpus {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
            .collect();
        paths.sort();
        let mut entries = Vec::new();
        for path in paths {
            let document = std::fs::read_to_string(&path).unwrap();
            let vars = path.with_extension("json");
            let variables = vars.exists().then(|| {
                serde_json::from_str(&std::fs::read_to_string(&vars).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", vars.display()))
            });
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            entries.push(Entry { name, document, variables });
        }
        assert!(entries.len() >= 40, "the corpus has only {} documents", entries.len());
        let mut names = Vec::new();
        let mut selections = Vec::new();
        for e in &entries {
            let tokens = lex(&e.document);
            names.extend(tokens.iter().filter(|t| t.kind == Tok::Name).map(|t| t.text.clone()));
            for (i, t) in tokens.iter().enumerate() {
                if t.text == "{"
                    && let Some(end) = matching(&tokens, i)
                {
                    selections.push(join(&tokens[i..=end]));
                }
            }
        }
        names.sort();
        names.dedup();
        Corpus { entries, names, selections }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Name,
    Number,
    Str,
    Punct,
    Var,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    text: String,
}

/// A GraphQL document as tokens (commas and comments dropped); unknown characters become
/// punctuation so that mutated documents lex too.
fn lex(doc: &str) -> Vec<Token> {
    let chars: Vec<char> = doc.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            let start = i;
            if chars[i..].starts_with(&['"', '"', '"']) {
                i += 3;
                while i < chars.len() && !chars[i..].starts_with(&['"', '"', '"']) {
                    i += 1;
                }
                i = (i + 3).min(chars.len());
            } else {
                i += 1;
                while i < chars.len() && chars[i] != '"' && chars[i] != '\n' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(chars.len());
            }
            out.push(Token { kind: Tok::Str, text: chars[start..i].iter().collect() });
        } else if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let kind = if c == '$' { Tok::Var } else { Tok::Name };
            out.push(Token { kind, text: chars[start..i].iter().collect() });
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '-' || chars[i] == '+')
            {
                i += 1;
            }
            out.push(Token { kind: Tok::Number, text: chars[start..i].iter().collect() });
        } else if chars[i..].starts_with(&['.', '.', '.']) {
            out.push(Token { kind: Tok::Punct, text: "...".into() });
            i += 3;
        } else {
            out.push(Token { kind: Tok::Punct, text: c.to_string() });
            i += 1;
        }
    }
    out
}

fn join(tokens: &[Token]) -> String {
    tokens.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// The index of the `}` closing the `{` at `open`.
fn matching(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A small seeded generator (splitmix64): the same seed gives the same cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seeded world: real objects to name, and the people to name them as.
struct World {
    leader: String,
    trainees: Vec<String>,
    /// Real IDs by placeholder (`cohort`, `goal`, …), newest last.
    ids: BTreeMap<&'static str, Vec<String>>,
    cursors: Vec<String>,
    /// Tokens of people already known to the store, with a label.
    tokens: Vec<(String, String)>,
    grown: u32,
}

impl World {
    async fn seed(app: &TestApp) -> World {
        let c = active_cohort(app, TENANT, &["t1", "t2", "t3"]).await;
        let mut ids: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        let mut push = |k: &'static str, v: &str| ids.entry(k).or_default().push(v.to_owned());
        push("cohort", &c.id);
        push("goal", &c.goal_id);
        for (i, t) in c.trainees.iter().enumerate() {
            let input = json!({ "cohortId": c.id, "goalId": c.goal_id, "value": 1.0 + i as f64, "note": "seed",
                "idempotencyKey": format!("seed-{i}") });
            let data = app.ok(t, ops::CHECK_IN, json!({ "input": input })).await;
            push("checkin", data["logCheckIn"]["checkIn"]["id"].as_str().expect("a check-in"));
        }
        let data = app
            .ok(
                &c.leader,
                "query($id: ID!) { cohort(id: $id) { members(first: 10) { nodes { id } } } }",
                json!({ "id": c.id }),
            )
            .await;
        for m in data["cohort"]["members"]["nodes"].as_array().unwrap() {
            push("membership", m["id"].as_str().unwrap());
        }
        // A one-off meeting.
        let data = app
            .ok(
                &c.leader,
                "mutation($input: ScheduleMeetingInput!) { scheduleMeeting(input: $input) { meeting { id } userErrors { code message } } }",
                json!({ "input": { "cohortId": c.id, "startsAt": "2027-03-01T18:00:00Z", "durationMinutes": 60 } }),
            )
            .await;
        if let Some(id) = data["scheduleMeeting"]["meeting"]["id"].as_str() {
            push("meeting", id);
        }
        // An open cohort someone asks to join.
        let data = app
            .ok(
                &c.leader,
                ops::CREATE,
                json!({ "input": { "name": "Open circle", "domain": "Rust programming", "purpose": "Anyone welcome",
                    "horizon": "OPEN_ENDED", "visibility": "BY_REQUEST", "codeOfConduct": "Be kind." } }),
            )
            .await;
        let open = data["createCohort"]["cohort"]["id"].as_str().expect("a cohort").to_owned();
        push("cohort", &open);
        let outsider = trainee("walker", TENANT);
        let data = app
            .ok(
                &outsider,
                "mutation($input: RequestToJoinInput!) { requestToJoin(input: $input) { joinRequest { id } userErrors { code message } } }",
                json!({ "input": { "cohortId": open, "message": "May I?" } }),
            )
            .await;
        if let Some(id) = data["requestToJoin"]["joinRequest"]["id"].as_str() {
            push("joinrequest", id);
        }
        // A webhook endpoint (receivers at public addresses only; it is never delivered to here).
        let data = app
            .ok(
                &integration(TENANT),
                "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } userErrors { code message } } }",
                json!({ "input": { "url": "https://93.184.215.14/hook", "kinds": ["CHECK_IN_LOGGED"] } }),
            )
            .await;
        if let Some(id) = data["createWebhookEndpoint"]["endpoint"]["id"].as_str() {
            push("endpoint", id);
        }
        // A cohort of another tenant, whose IDs nobody here may see.
        let eve = instructor("eve", OTHER);
        let data = app
            .ok(
                &eve,
                ops::CREATE,
                json!({ "input": { "name": "Elsewhere", "domain": "Go", "purpose": "Practise", "horizon": "SHORT_TERM" } }),
            )
            .await;
        push("cohort", data["createCohort"]["cohort"]["id"].as_str().expect("a cohort"));
        // Events and cursors (on PostgreSQL the log is read as far as it is settled).
        app.settle().await;
        let data =
            app.ok(&integration(TENANT), "{ events(first: 50) { edges { cursor node { id } } } }", json!({})).await;
        let mut cursors = Vec::new();
        for e in data["events"]["edges"].as_array().unwrap() {
            push("event", e["node"]["id"].as_str().unwrap());
            cursors.push(e["cursor"].as_str().unwrap().to_owned());
        }
        let data = app.ok(&c.leader, "query($id: ID!) { cohort(id: $id) { members(first: 10) { edges { cursor } } checkIns(first: 10) { edges { cursor } } } }", json!({ "id": c.id })).await;
        for conn in ["members", "checkIns"] {
            for e in data["cohort"][conn]["edges"].as_array().unwrap() {
                cursors.push(e["cursor"].as_str().unwrap().to_owned());
            }
        }
        for k in ["cohort", "goal", "membership", "checkin", "meeting", "joinrequest", "endpoint", "event"] {
            assert!(ids.get(k).is_some_and(|v| !v.is_empty()), "the seeded world has no {k}: {ids:?}");
        }
        let tokens = vec![
            ("leader".to_owned(), c.leader.clone()),
            ("trainee t1".to_owned(), c.trainees[0].clone()),
            ("trainee t2".to_owned(), c.trainees[1].clone()),
            ("trainee t3".to_owned(), c.trainees[2].clone()),
            ("outsider trainee".to_owned(), outsider),
            ("integration".to_owned(), integration(TENANT)),
            ("instructor of another tenant".to_owned(), eve),
            ("integration of another tenant".to_owned(), integration(OTHER)),
            ("second instructor".to_owned(), instructor("grace", TENANT)),
        ];
        for (_, t) in &tokens {
            app.ok(t, "{ viewer { role } }", json!({})).await;
        }
        World { leader: c.leader, trainees: c.trainees, ids, cursors, tokens, grown: 0 }
    }

    /// Another active cohort of the tenant, with its leader and trainees already known.
    async fn grow(&mut self, app: &TestApp) {
        self.grown += 1;
        let c = active_cohort(app, TENANT, &["t1", "t2", "t3"]).await;
        self.ids.entry("cohort").or_default().push(c.id);
        self.ids.entry("goal").or_default().push(c.goal_id);
    }

    /// A real ID for the placeholder, mostly among the newest.
    fn id(&self, rng: &mut Rng, kind: &str) -> Value {
        match self.ids.get(kind) {
            Some(v) if !v.is_empty() => {
                let i = if rng.chance(60) { v.len() - 1 - rng.below(v.len().min(2)) } else { rng.below(v.len()) };
                Value::from(v[i].clone())
            }
            _ => Value::Null,
        }
    }

    fn any_id(&self, rng: &mut Rng) -> Value {
        let kinds: Vec<&&str> = self.ids.keys().collect();
        let kind = **rng.pick(&kinds);
        self.id(rng, kind)
    }
}

const KINDS: [Kind; 11] = [
    Kind::Person,
    Kind::Cohort,
    Kind::Membership,
    Kind::Goal,
    Kind::CheckIn,
    Kind::JoinRequest,
    Kind::CohortEvent,
    Kind::Meeting,
    Kind::WebhookEndpoint,
    Kind::WebhookDelivery,
    Kind::Nudge,
];

fn extreme_int(rng: &mut Rng) -> i64 {
    *rng.pick(&[
        0,
        1,
        2,
        3,
        -1,
        7,
        100,
        1_000_000,
        i64::from(i32::MAX),
        i64::from(i32::MAX) + 1,
        i64::MAX,
        i64::MIN,
        -42,
    ])
}

/// A global ID of any kind, well-formed or not.
fn random_id(rng: &mut Rng) -> String {
    let kind = rng.pick(&KINDS).name();
    match rng.below(10) {
        0 => URL_SAFE_NO_PAD.encode(format!("{kind}:{}", extreme_int(rng))),
        1 => URL_SAFE_NO_PAD.encode(format!("{kind}:{}:{}", extreme_int(rng), extreme_int(rng))),
        2 => URL_SAFE_NO_PAD.encode(format!("{kind}:abc")),
        3 => URL_SAFE_NO_PAD.encode(format!(
            "{kind}:{}",
            rng.pick(&["", "1.5", "1e3", "+1", " 1", "0x10", "１", "99999999999999999999"])
        )),
        4 => URL_SAFE_NO_PAD.encode(format!("Unknown:{}", rng.below(10))),
        5 => ids::encode(Kind::Cohort, 1 + rng.below(20) as i64),
        6 => ids::encode_meeting(1 + rng.below(5) as i64, extreme_int(rng)),
        7 => {
            rng.pick(&["", "=", "!!!", "Q29ob3J0OjE=", "Q29ob3J0OjE", "%%%", "AAAA", "/+/+", "Y29ob3J0OjE"]).to_string()
        }
        8 => URL_SAFE_NO_PAD.encode(vec![0xff, 0xfe, 0x00, rng.below(255) as u8]),
        _ => URL_SAFE_NO_PAD.encode(format!("{kind}:{}", 1 + rng.below(30))),
    }
}

fn random_cursor(rng: &mut Rng, world: &World) -> String {
    match rng.below(6) {
        0 if !world.cursors.is_empty() => rng.pick(&world.cursors).clone(),
        1 => URL_SAFE_NO_PAD.encode(format!("cursor:{}", extreme_int(rng))),
        2 => URL_SAFE_NO_PAD.encode(format!("cursor:{}", rng.pick(&["", "x", "-", "1:2", "１"]))),
        3 => URL_SAFE_NO_PAD.encode(format!("cursor:{}:{}", extreme_int(rng), extreme_int(rng))),
        4 => random_id(rng),
        _ => rng.pick(&["", "cursor:1", "====", "\u{0}", "a".repeat(5000).as_str()]).to_string(),
    }
}

fn hostile_string(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => String::new(),
        1 => "x".repeat(1 + rng.below(70_000)),
        2 => "\u{0}".to_owned(),
        3 => "a\u{0}b".to_owned(),
        4 => "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 👩‍👩‍👧‍👦 é\u{301} \u{202E}drow".to_owned(),
        5 => "\u{FEFF}\u{200B} ".to_owned(),
        6 => "'; DROP TABLE cohorts; --".to_owned(),
        7 => "<script>alert(1)</script>".to_owned(),
        8 => rng
            .pick(&[
                "2026-13-45",
                "0000-01-01T00:00:00Z",
                "+275760-09-13T00:00:00Z",
                "9999-12-31T23:59:59.999999999Z",
                "-0001-01-01T00:00:00Z",
                "2026-02-30",
                "1970-01-01T00:00:00+25:00",
                "2026-11-30T12:00:00Z",
                "2026-11-20",
                "now",
                "1e309",
            ])
            .to_string(),
        9 => rng
            .pick(&[
                "ACTIVE",
                "SUM",
                "GOING",
                "DORMANT",
                "INSTRUCTOR",
                "SHORT_TERM",
                "ONLINE",
                "WEEKLY",
                "Europe/Berlin",
                "Mars/Olympus",
                "25:61",
                "http://127.0.0.1/hook",
                "https://169.254.169.254/",
                "javascript:alert(1)",
            ])
            .to_string(),
        10 => "\\u0000 \\\" \\n".to_owned(),
        _ => "ok".to_owned(),
    }
}

fn hostile_number(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => json!(1.7976931348623157e308),
        1 => json!(-1.7976931348623157e308),
        2 => json!(9_007_199_254_740_993u64),
        3 => json!(u64::MAX),
        4 => json!(i64::MIN),
        5 => json!(-1),
        6 => json!(0),
        7 => json!(5e-324),
        8 => json!(1e12),
        9 => json!(i32::MAX),
        10 => json!(0.5),
        _ => json!(1 + rng.below(8)),
    }
}

/// A value of any shape for a variable's slot.
fn hostile_value(rng: &mut Rng, world: &World) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 | 2 => hostile_number(rng),
        3 | 4 => Value::from(hostile_string(rng)),
        5 => Value::from(random_id(rng)),
        6 => Value::from(random_cursor(rng, world)),
        7 => world.any_id(rng),
        8 => json!(rng.chance(50)),
        9 => json!([]),
        10 => json!({}),
        11 => Value::Array(
            (0..1 + rng.below(2000)).map(|i| json!({ "externalId": format!("p{i}"), "displayName": "P" })).collect(),
        ),
        12 => json!([[[[[[[[[[1]]]]]]]]]]),
        _ => Value::Array(vec![Value::from(hostile_string(rng)); 1 + rng.below(300)]),
    }
}

/// Placeholders (`"@cohort"`) become real IDs, and some leaves hostile values.
fn mutate_value(rng: &mut Rng, world: &World, v: &Value, wildness: u64) -> Value {
    match v {
        Value::String(s) if s.starts_with('@') => {
            if rng.chance(wildness / 2) {
                return hostile_value(rng, world);
            }
            match &s[1..] {
                "any" => world.any_id(rng),
                "cursor" => Value::from(random_cursor(rng, world)),
                "past" => Value::from("2026-11-25T10:00:00Z"),
                "future" => Value::from("2027-02-01T18:00:00Z"),
                kind => {
                    if rng.chance(15) {
                        Value::from(random_id(rng))
                    } else {
                        world.id(rng, kind)
                    }
                }
            }
        }
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                if rng.chance(wildness / 4) {
                    continue; // a field left out
                }
                out.insert(k.clone(), mutate_value(rng, world, v, wildness));
            }
            if rng.chance(wildness / 4) {
                out.insert(
                    rng.pick(&["extra", "cohortId", "id", "__typename", "value"]).to_string(),
                    hostile_value(rng, world),
                );
            }
            Value::Object(out)
        }
        Value::Array(items) => items.iter().map(|i| mutate_value(rng, world, i, wildness)).collect(),
        other => {
            if rng.chance(wildness / 2) {
                hostile_value(rng, world)
            } else {
                other.clone()
            }
        }
    }
}

fn hostile_literal(rng: &mut Rng) -> String {
    rng.pick(&[
        "1e400",
        "-1e400",
        "99999999999999999999",
        "-9223372036854775809",
        "2147483648",
        "-2147483649",
        "-1",
        "0",
        "0.0000001",
        "null",
        "true",
        "[]",
        "{}",
        "\"\"",
        "\"\\u0000\"",
        "\"\\uD800\"",
        "\"𝔘𝔫𝔦\"",
        "\"\\\"\"",
        "\"2026-13-45\"",
        "\"Q29ob3J0OjE\"",
        "ACTIVE",
        "[[[[1]]]]",
        "{a: {b: {c: 1}}}",
        "$undefined",
        "\"\"\"block\"\"\"",
    ])
    .to_string()
}

/// Mutations of a document's tokens.
fn mutate_document(rng: &mut Rng, corpus: &Corpus, doc: &str) -> String {
    let mut tokens = lex(doc);
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if tokens.is_empty() {
            tokens = lex("{ viewer { role } }");
        }
        let i = rng.below(tokens.len());
        // Growth is bounded, so that rounds of aliasing do not multiply a document past any limit.
        let grow = tokens.len() < 3000;
        match rng.below(13) {
            0 => {
                tokens.remove(i);
            }
            1 => {
                let t = tokens[i].clone();
                tokens.insert(i, t);
            }
            2 => {
                let j = rng.below(tokens.len());
                tokens.swap(i, j);
            }
            3 | 4 => {
                // A literal made extreme.
                let lits: Vec<usize> = tokens
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| matches!(t.kind, Tok::Number | Tok::Str))
                    .map(|(i, _)| i)
                    .collect();
                let at = if lits.is_empty() { i } else { *rng.pick(&lits) };
                tokens[at] = Token { kind: Tok::Str, text: hostile_literal(rng) };
            }
            5 => {
                let p = rng.pick(&[
                    "{",
                    "}",
                    "(",
                    ")",
                    "[",
                    "]",
                    ":",
                    "!",
                    "=",
                    "@",
                    "...",
                    "|",
                    "&",
                    "$",
                    "\"",
                    "on",
                    "fragment",
                    "query",
                    "mutation",
                    "subscription",
                ]);
                tokens.insert(i, Token { kind: Tok::Punct, text: p.to_string() });
            }
            6 | 7 if grow => {
                // A selection of another document spliced in after a `{`.
                let opens: Vec<usize> =
                    tokens.iter().enumerate().filter(|(_, t)| t.text == "{").map(|(i, _)| i).collect();
                if let (false, false) = (opens.is_empty(), corpus.selections.is_empty()) {
                    let at = *rng.pick(&opens) + 1;
                    let sel = rng.pick(&corpus.selections);
                    let name = rng.pick(&corpus.names).clone();
                    let inner = lex(&format!("{name} {sel}"));
                    tokens.splice(at..at, inner);
                }
            }
            8 => {
                let name = rng.pick(&corpus.names).clone();
                if let Some(t) = tokens.iter_mut().filter(|t| t.kind == Tok::Name).nth(rng.below(8)) {
                    t.text = name;
                }
            }
            9 => {
                // A directive on a field.
                let names: Vec<usize> =
                    tokens.iter().enumerate().filter(|(_, t)| t.kind == Tok::Name).map(|(i, _)| i).collect();
                if !names.is_empty() {
                    let at = *rng.pick(&names) + 1;
                    let d = rng.pick(&[
                        "@skip(if: true)",
                        "@include(if: false)",
                        "@include(if: $nope)",
                        "@deprecated",
                        "@foo(bar: 1)",
                        "@skip",
                        "@skip(if: true) @skip(if: false)",
                    ]);
                    tokens.splice(at..at, lex(d));
                }
            }
            10 => {
                // A variable replaced by an inline literal.
                let vars: Vec<usize> =
                    tokens.iter().enumerate().filter(|(_, t)| t.kind == Tok::Var).map(|(i, _)| i).collect();
                if !vars.is_empty() {
                    let at = *rng.pick(&vars);
                    tokens[at] = Token { kind: Tok::Str, text: hostile_literal(rng) };
                }
            }
            11 if grow => {
                // A selection repeated under many aliases.
                let opens: Vec<usize> =
                    tokens.iter().enumerate().filter(|(_, t)| t.text == "{").map(|(i, _)| i).collect();
                if let Some(&open) = opens.get(rng.below(opens.len().min(2)))
                    && let Some(end) = matching(&tokens, open)
                {
                    // Many aliases of `__typename` beside the selection, or the selection's first
                    // field repeated under many aliases.
                    let inner = join(&tokens[open + 1..end]);
                    let copies = 2 + rng.below(400);
                    let text: String = if rng.chance(50) {
                        (0..copies).map(|k| format!("a{k}: __typename ")).collect::<String>() + &inner
                    } else {
                        (0..copies).map(|k| format!("a{k}: {inner} ")).collect()
                    };
                    tokens.splice(open + 1..end, lex(&text));
                }
            }
            12 => {
                tokens.truncate(i);
            }
            _ => {}
        }
    }
    join(&tokens)
}

/// A document built to be expensive or deep rather than from the corpus.
fn monster(rng: &mut Rng, world: &World) -> String {
    let id = world.id(rng, "cohort");
    let id = id.as_str().unwrap_or("x");
    match rng.below(7) {
        0 => {
            let depth = 5 + rng.below(3000);
            format!("{{ {} viewer {{ role }} {} }}", "a { ".repeat(depth), "}".repeat(depth))
        }
        1 => {
            let depth = 2 + rng.below(40);
            let mut s = String::from("id");
            for _ in 0..depth {
                s = format!("members(first: 100) {{ nodes {{ cohort {{ {s} }} }} }}");
            }
            format!("{{ cohort(id: \"{id}\") {{ {s} }} }}")
        }
        2 => {
            // Fragments that each spread the previous one twice.
            let n = 2 + rng.below(60);
            let mut doc =
                format!("query {{ cohort(id: \"{id}\") {{ ...F{n} }} }} fragment F0 on Cohort {{ id name }} ");
            for k in 1..=n {
                doc.push_str(&format!("fragment F{k} on Cohort {{ ...F{} a{k}: members(first: 2) {{ nodes {{ cohort {{ ...F{} }} }} }} }} ", k - 1, k - 1));
            }
            doc
        }
        3 => {
            // A fragment cycle.
            "query { viewer { ...A } } fragment A on Viewer { ...B } fragment B on Viewer { ...A role }".to_owned()
        }
        4 => {
            let n = 1 + rng.below(3000);
            let fields: String = (0..n)
                .map(|k| format!("c{k}: cohort(id: \"{id}\") {{ health {{ status }} evaluation {{ summary }} }} "))
                .collect();
            format!("{{ {fields} }}")
        }
        5 => {
            let n = 1 + rng.below(50);
            let muts: String = (0..n).map(|k| format!("m{k}: logCheckIn(input: {{ cohortId: \"{id}\", value: {k}, idempotencyKey: \"many-{k}\" }}) {{ checkIn {{ id }} userErrors {{ code }} }} ")).collect();
            format!("mutation {{ {muts} }}")
        }
        _ => {
            let n = 1 + rng.below(30);
            let ops: String = (0..n).map(|k| format!("query Q{k} {{ viewer {{ role }} }} ")).collect();
            ops
        }
    }
}

/// A bearer token mangled in one of many ways, or a token of the seeded world.
fn authorization(rng: &mut Rng, world: &World) -> (String, Option<String>, Option<String>) {
    let (label, good) = rng.pick(&world.tokens).clone();
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    if rng.chance(80) {
        return (label, bearer(&good), None);
    }
    let parts: Vec<&str> = good.split('.').collect();
    let header = |alg: &str| URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
    match rng.below(16) {
        0 => ("no header".into(), None, None),
        1 => ("empty bearer".into(), Some("Bearer ".into()), None),
        2 => ("basic scheme".into(), Some(format!("Basic {good}")), None),
        3 => {
            let cut = rng.below(good.len());
            ("truncated".into(), bearer(&good[..cut]), None)
        }
        4 => {
            let mut bytes = good.into_bytes();
            let at = rng.below(bytes.len());
            bytes[at] = *rng.pick(b"!*%~=+/ \\");
            ("bad base64".into(), bearer(&String::from_utf8(bytes).unwrap_or_default()), None)
        }
        5 => ("alg none".into(), bearer(&format!("{}.{}.", header("none"), parts[1])), None),
        6 => {
            let alg = rng.pick(&["RS256", "HS512", "ES256", "EdDSA", "HS384", "PS256", "", "hs256"]);
            ("another alg".into(), bearer(&format!("{}.{}.{}", header(alg), parts[1], parts[2])), None)
        }
        7 => ("huge".into(), bearer(&format!("{good}{}", "A".repeat(1000 + rng.below(200_000)))), None),
        8 => ("segments swapped".into(), bearer(&format!("{}.{}.{}", parts[1], parts[0], parts[2])), None),
        9 => ("two segments".into(), bearer(&format!("{}.{}", parts[0], parts[1])), None),
        10 => ("many segments".into(), bearer(&format!("{good}.{good}")), None),
        11 => (
            "expired".into(),
            bearer(&signed(json!({ "sub": "ada", "tid": TENANT, "role": "instructor", "exp": 1_000_000 }))),
            None,
        ),
        12 => (
            "header of another key id".into(),
            bearer(&format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"../../etc/passwd","jku":"http://127.0.0.1/"}"#),
                parts[1],
                parts[2]
            )),
            None,
        ),
        13 => (
            "a signature of another secret".into(),
            bearer(&{
                let key = jsonwebtoken::EncodingKey::from_secret(b"another secret");
                jsonwebtoken::encode(
                    &jsonwebtoken::Header::default(),
                    &json!({ "sub": "ada", "tid": TENANT, "role": "instructor", "exp": 4_000_000_000u64 }),
                    &key,
                )
                .unwrap()
            }),
            None,
        ),
        _ => {
            // Hostile claims, signed with the real key: the server may accept some of them.
            let exp = 4_000_000_000u64;
            let claims = match rng.below(12) {
                0 => json!({ "sub": "ada", "tid": TENANT, "role": "admin", "exp": exp }),
                1 => json!({ "sub": "", "tid": TENANT, "role": "trainee", "exp": exp }),
                2 => json!({ "sub": "x".repeat(5000), "tid": TENANT, "role": "trainee", "exp": exp }),
                3 => json!({ "sub": "a\u{0}b", "tid": TENANT, "role": "trainee", "exp": exp }),
                4 => json!({ "sub": "ada", "tid": "𝔘𝔫𝔦 👩‍👩‍👧", "role": "instructor", "exp": exp }),
                5 => json!({ "sub": "ada", "tid": TENANT, "role": "instructor", "exp": "tomorrow" }),
                6 => json!({ "sub": "ada", "tid": TENANT, "role": "instructor", "exp": 1.5e300 }),
                7 => json!({ "sub": 42, "tid": TENANT, "role": "instructor", "exp": exp }),
                8 => json!({ "tid": TENANT, "role": "instructor", "exp": exp }),
                9 => {
                    json!({ "sub": "mallory", "tid": TENANT, "role": "trainee", "exp": exp, "name": "\u{0}".repeat(300), "email": "not an email" })
                }
                10 => {
                    json!({ "sub": "ada", "tid": TENANT, "role": "INSTRUCTOR", "exp": exp, "aud": [1, 2, {}], "iss": null })
                }
                _ => {
                    json!({ "sub": format!("fuzz-{}", rng.below(3)), "tid": TENANT, "role": *rng.pick(&["trainee", "instructor", "integration"]), "exp": exp, "name": "𝔘 \u{202E}" })
                }
            };
            let t = signed(claims);
            ("hostile claims".into(), bearer(&t), Some(format!("Bearer {t}")))
        }
    }
}

/// Any claims, signed HS256 with the test servers' secret.
fn signed(claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

/// One request to send.
struct Case {
    token_label: String,
    authorization: Option<String>,
    /// A token to present once before the case, so that provisioning its person is not counted.
    prime: Option<String>,
    body: String,
}

impl Case {
    fn generate(rng: &mut Rng, corpus: &Corpus, world: &World) -> Case {
        let (token_label, authorization, prime) = authorization(rng, world);
        let entry = rng.pick(&corpus.entries);
        let wildness = *rng.pick(&[0u64, 0, 10, 30, 60]);
        let mut document = entry.document.clone();
        let kind = rng.below(100);
        if kind < 8 {
            document = monster(rng, world);
        } else if kind < 45 {
            document = mutate_document(rng, corpus, &document);
        }
        let variables = match &entry.variables {
            Some(v) => mutate_value(rng, world, v, wildness),
            None if rng.chance(20) => hostile_value(rng, world),
            None => Value::Null,
        };
        let body = match rng.below(80) {
            0 => "not json at all".to_owned(),
            1 => format!("[{}, {}]", json!({ "query": document }), json!({ "query": document })),
            2 => json!({ "query": 42 }).to_string(),
            3 => json!({ "query": document, "variables": "a string" }).to_string(),
            4 => json!({ "query": document, "operationName": hostile_string(rng) }).to_string(),
            5 => json!({ "query": document, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "00" } } })
                .to_string(),
            // A lone surrogate escape, which no Rust string can hold.
            6 => format!(
                r#"{{"query":{},"variables":{{"id":"\ud800","input":{{"cohortId":"\udfff","note":"\ud83d"}}}}}}"#,
                json!(document)
            ),
            7 => format!(r#"{{"query":{}"#, json!(document)),
            8 => json!({}).to_string(),
            9 => "{\"query\": \"{ viewer { role } }\", \"query\": \"mutation { x }\"}".to_owned(),
            _ => json!({ "query": document, "variables": variables, "operationName": Value::Null }).to_string(),
        };
        let body = if rng.chance(2) { format!("{body}{}", " ".repeat(1 << 20)) } else { body };
        Case { token_label: format!("{token_label} ({})", entry.name), authorization, prime, body }
    }
}

#[test]
fn the_lexer_keeps_documents_whole() {
    let doc = r#"query Q($id: ID!) { cohort(id: $id) { ...F name @skip(if: false) } } fragment F on Cohort { id note: purpose(x: "a \" b", y: -1.5e3) }"#;
    let again = join(&lex(doc));
    assert_eq!(lex(&again).len(), lex(doc).len());
    assert!(again.contains("\"a \\\" b\""), "{again}");
    assert!(again.contains("-1.5e3"), "{again}");
}
