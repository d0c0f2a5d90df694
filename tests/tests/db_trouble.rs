//! Database trouble: the server over a PostgreSQL server that is stopped under load and started
//! again, a SQLite file whose storage turns read-only, a SQLite file on a filesystem that fills
//! up, and SQLite's `synchronous` setting.
//!
//! Each trouble is real, not mocked: a private PostgreSQL instance of the test's own (`initdb`
//! into a temporary directory, run as the `postgres` user when the tests run as root, which
//! `initdb` refuses), stopped with `pg_ctl stop -m fast` — never the machine's shared server; the
//! SQLite file, its log and its directory made immutable (`chattr +i`, which stops root too,
//! where `chmod` does not); a 4 MiB tmpfs mounted for the test. When what a trouble needs is
//! missing here (PostgreSQL's binaries, `chattr`, the right to mount) the test says plainly that
//! it is skipped, and under CI (`CI` set) it fails instead, as the other suites do.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use afterclass::ids::{self, Kind};
use afterclass::store::entities::check_in;
use afterclass_tests::serde_json::{Value, json};
use afterclass_tests::{Backend, TestApp, TestDatabase, active_cohort, config, error_codes, ops};
use sea_orm::{ConnectionTrait, Database, EntityTrait, Statement};

/// The most a request may take to say the database is unavailable: well under the 10 s request
/// time limit (the pool's acquire timeout is 1 s).
const FAST: Duration = Duration::from_secs(2);

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn unique_dir(prefix: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A PostgreSQL server of the test's own, removed when dropped.
struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start() -> Result<PrivatePostgres, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no PostgreSQL binaries in /usr/lib/postgresql: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
            .max()
            .ok_or("no initdb and pg_ctl under /usr/lib/postgresql/*/bin")?;
        let dir = unique_dir("afterclass-pg");
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        // initdb refuses to run as root: the instance then belongs to the `postgres` user.
        let as_postgres = is_root();
        let pg = PrivatePostgres { dir, bin, port: free_port(), as_postgres };
        if as_postgres {
            let status = Command::new("chown").args(["postgres:postgres"]).arg(&pg.dir).status();
            if !status.is_ok_and(|s| s.success()) {
                return Err("running as root, and the temporary directory could not be given to `postgres`".into());
            }
        }
        let data = pg.data();
        pg.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])?;
        pg.start_server()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs one of PostgreSQL's programs, as `postgres` when the tests run as root.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command.args(args).output().map_err(|e| format!("running {program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn start_server(&self) -> Result<(), String> {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let log = self.dir.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "-t", "60", "start"])
    }

    fn stop_server(&self, mode: &str) -> Result<(), String> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "-t", "60", "stop"])
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.stop_server("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One answer a client had: when it was sent, how long it took, its status, its error codes
/// and the check-in it acknowledged.
#[derive(Debug, Clone)]
struct Answer {
    sent: Instant,
    took: Duration,
    status: u16,
    codes: Vec<String>,
    message: String,
    check_in: Option<i64>,
}

async fn check_in_once(client: &reqwest::Client, url: &str, token: &str, input: Value) -> Answer {
    let sent = Instant::now();
    let resp = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": ops::CHECK_IN, "variables": { "input": input } }))
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON answer");
    let took = sent.elapsed();
    let check_in =
        body["data"]["logCheckIn"]["checkIn"]["id"].as_str().map(|id| ids::decode(Kind::CheckIn, id).expect("an id"));
    let message = body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    let mut codes = error_codes(&body);
    if let Some(p) = body["data"]["logCheckIn"].as_object() {
        codes.extend(afterclass_tests::user_error_codes(&Value::Object(p.clone())));
    }
    Answer { sent, took, status, codes, message, check_in }
}

async fn ready(app: &TestApp) -> (u16, String, Duration) {
    let started = Instant::now();
    let resp = app.client().get(app.url("/readyz")).send().await.expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load() {
    let pg = match PrivatePostgres::start() {
        Ok(pg) => pg,
        Err(why) => return afterclass_tests::skipped("PostgreSQL restarted under load", &why),
    };
    let admin = Database::connect(pg.url("postgres").as_str()).await.expect("the private server");
    admin.execute_unprepared("CREATE DATABASE afterclass").await.expect("a database");
    admin.close().await.ok();
    let app = Arc::new(TestApp::spawn_with(Backend::Postgres, TestDatabase::at(&pg.url("afterclass")), config).await);
    let c = active_cohort(&app, "t", &["tom", "uma", "vic", "wes"]).await;

    // Four members check in without pause until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (n, token) in c.trainees.iter().enumerate() {
        let (client, url, token, stop) =
            (reqwest::Client::new(), app.url("/graphql"), token.clone(), Arc::clone(&stop));
        let (cohort, goal) = (c.id.clone(), c.goal_id.clone());
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let input =
                    json!({ "cohortId": cohort, "goalId": goal, "value": 1.0, "idempotencyKey": format!("{n}-{i}") });
                answers.push(check_in_once(&client, &url, &token, input).await);
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(clients.iter().all(|c| !c.is_finished()), "a client stopped");
    assert_eq!(ready(&app).await.0, 200);

    // The database goes away under load.
    pg.stop_server("fast").expect("stopping the private server");
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut probes = Vec::new();
    for _ in 0..3 {
        let (status, text, took) = ready(&app).await;
        assert_eq!(status, 503, "{text}");
        assert!(text.starts_with("not ready: the database does not answer"), "{text}");
        assert!(took < FAST, "/readyz took {took:?} with the database down");
        probes.push(took);
    }
    // A read fails as fast, and as clearly.
    let started = Instant::now();
    let (status, body) = app.gql_raw(Some(&c.leader), json!({ "query": afterclass_tests::VIEWER })).await;
    let read_took = started.elapsed();
    assert_eq!((status, error_codes(&body)), (503, vec!["UNAVAILABLE".to_owned()]), "{body:#}");
    assert!(read_took < FAST, "a read took {read_took:?} with the database down");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // It comes back; the server recovers by itself.
    pg.start_server().expect("starting the private server again");
    let up = Instant::now();
    let recovered = loop {
        let (status, _, _) = ready(&app).await;
        if status == 200 {
            break up.elapsed();
        }
        assert!(up.elapsed() < Duration::from_secs(15), "/readyz never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answers: Vec<Answer> = Vec::new();
    for client in clients {
        answers.extend(client.await.expect("a client"));
    }

    // Every answer is a check-in or a clear UNAVAILABLE (503), never INTERNAL.
    for a in &answers {
        if a.check_in.is_none() {
            assert_eq!((a.status, a.codes.clone()), (503, vec!["UNAVAILABLE".to_owned()]), "{a:#?}");
            assert!(a.message.contains("unavailable") && a.message.contains("try again"), "{a:#?}");
        }
    }
    let failed: Vec<&Answer> = answers.iter().filter(|a| a.check_in.is_none()).collect();
    // Requests sent while the database was down failed fast.
    let while_down: Vec<&&Answer> =
        failed.iter().filter(|a| a.sent > down + Duration::from_millis(100) && a.sent < up).collect();
    assert!(while_down.len() >= 8, "{} requests failed while the database was down", while_down.len());
    let slowest = while_down.iter().map(|a| a.took).max().unwrap_or_default();
    assert!(slowest < FAST, "a request took {slowest:?} to fail with the database down");
    // And the same clients succeed again after it came back.
    let after = answers.iter().filter(|a| a.check_in.is_some() && a.sent > up).count();
    assert!(after >= 4, "{after} check-ins after the database came back");

    // Every acknowledged check-in is stored, each once.
    let acked: BTreeSet<i64> = answers.iter().filter_map(|a| a.check_in).collect();
    assert_eq!(acked.len(), answers.iter().filter(|a| a.check_in.is_some()).count(), "one id acknowledged twice");
    let stored: BTreeSet<i64> = check_in::Entity::find()
        .all(app.store.reader())
        .await
        .expect("the check-ins")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert!(
        acked.is_subset(&stored),
        "acknowledged check-ins lost: {:?}",
        acked.difference(&stored).collect::<Vec<_>>()
    );
    // A check-in whose answer was lost with the connection may have committed: at most one per client.
    assert!(stored.len() <= acked.len() + c.trainees.len(), "{} stored, {} acknowledged", stored.len(), acked.len());
    let _ = writeln!(
        std::io::stderr().lock(),
        "postgres restart: {} answers, {} acknowledged, {} unavailable ({} while down, slowest {slowest:?}), \
         /readyz down in {probes:?}, a read in {read_took:?}, ready again {recovered:?} after the restart",
        answers.len(),
        acked.len(),
        failed.len(),
        while_down.len(),
    );
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("a client still holds the server"),
    }
}

/// `chattr` on files, undone when dropped.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: Vec<PathBuf>) -> Result<Immutable, String> {
        let guard = Immutable(Vec::new());
        let mut guard = guard;
        for p in paths {
            let out = Command::new("chattr").arg("+i").arg(&p).output().map_err(|e| format!("running chattr: {e}"))?;
            if !out.status.success() {
                return Err(format!("chattr +i {}: {}", p.display(), String::from_utf8_lossy(&out.stderr)));
            }
            guard.0.push(p);
        }
        Ok(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = Command::new("chattr").arg("-i").arg(p).status();
        }
    }
}

async fn integrity(app: &TestApp) -> String {
    let conn = app.store.reader();
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), "PRAGMA integrity_check"))
        .await
        .expect("integrity_check")
        .expect("a row");
    row.try_get_by_index::<String>(0).expect("its answer")
}

const CHECK_INS: &str =
    r#"query($id: ID!) { node(id: $id) { ... on Cohort { checkIns(first: 100) { totalCount } } } }"#;

async fn check_ins_read(app: &TestApp, token: &str, cohort: &str) -> i64 {
    let data = app.ok(token, CHECK_INS, json!({ "id": cohort })).await;
    data["node"]["checkIns"]["totalCount"].as_i64().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_storage_turning_read_only() {
    if !is_root() {
        // Without root, chmod does not stop the writes of a server that has the file open.
        return afterclass_tests::skipped("SQLite read-only storage", "needs root for chattr +i");
    }
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available");
    let c = active_cohort(&app, "t", &["tom"]).await;
    let (client, url) = (reqwest::Client::new(), app.url("/graphql"));
    let mut acked = BTreeSet::new();
    for _ in 0..5 {
        let a = check_in_once(
            &client,
            &url,
            &c.trainees[0],
            json!({ "cohortId": c.id, "goalId": c.goal_id, "value": 1.0 }),
        )
        .await;
        acked.insert(a.check_in.expect("a check-in"));
    }
    let file = app.db.sqlite_file().expect("a SQLite file");
    let dir = file.parent().expect("its directory").to_path_buf();
    let beside = |suffix: &str| PathBuf::from(format!("{}{suffix}", file.display()));
    let before = app.counts().await;
    // The file, its write-ahead log and the directory; not the `-shm` file, which is SQLite's
    // shared memory (an index of the log, mapped by every connection): made immutable, the next
    // time SQLite grows it the mapping faults (SIGBUS) and takes the process down, which is not
    // what read-only storage does to a mapping already made.
    let guard = match Immutable::set(vec![file.clone(), beside("-wal"), dir.clone()]) {
        Ok(guard) => guard,
        Err(why) => return afterclass_tests::skipped("SQLite read-only storage", &why),
    };

    // Writes are refused clearly, and write nothing.
    for attempt in 0..3 {
        let a = check_in_once(
            &client,
            &url,
            &c.trainees[0],
            json!({ "cohortId": c.id, "goalId": c.goal_id, "value": 1.0 }),
        )
        .await;
        assert_eq!((a.status, a.codes.clone()), (503, vec!["UNAVAILABLE".to_owned()]), "attempt {attempt}: {a:#?}");
        assert!(a.message.contains("read-only"), "{a:#?}");
    }
    let (status, body) = app
        .gql_raw(
            Some(&c.leader),
            json!({ "query": ops::SET_CONDUCT, "variables": { "input": { "cohortId": c.id, "text": "Be kinder." } } }),
        )
        .await;
    assert_eq!((status, error_codes(&body)), (503, vec!["UNAVAILABLE".to_owned()]), "{body:#}");
    // Reads still work.
    assert_eq!(check_ins_read(&app, &c.trainees[0], &c.id).await, 5);
    assert_eq!(app.counts().await, before, "a refused write wrote rows");
    let (status, _, _) = ready(&app).await;
    assert_eq!(status, 200, "reads work, so the server stays ready");

    // Writable again: writes work, nothing is lost, the file is sound.
    drop(guard);
    let a =
        check_in_once(&client, &url, &c.trainees[0], json!({ "cohortId": c.id, "goalId": c.goal_id, "value": 1.0 }))
            .await;
    acked.insert(a.check_in.unwrap_or_else(|| panic!("a check-in once writable again: {a:#?}")));
    assert_eq!(integrity(&app).await, "ok");
    let stored: BTreeSet<i64> =
        check_in::Entity::find().all(app.store.reader()).await.expect("check-ins").into_iter().map(|c| c.id).collect();
    assert_eq!(stored, acked);
    app.stop().await;
}

/// A tmpfs of the test's own, unmounted (lazily, should a file still be open) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = unique_dir("afterclass-full");
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("mounting a tmpfs: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fills the filesystem of `dir` with one file until the disk says it is full.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("a filler file");
    let chunk = vec![0u8; 16 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "filling the disk: {e}");
                break;
            }
        }
    }
    let mut small = vec![0u8; 512];
    while let Ok(n) = file.write(&small) {
        if n == 0 {
            break;
        }
        small.truncate(n);
    }
    let _ = file.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk() {
    let disk = match Tmpfs::mount("4m") {
        Ok(disk) => disk,
        Err(why) => return afterclass_tests::skipped("SQLite on a full disk", &why),
    };
    let url = format!("sqlite://{}", disk.0.join("afterclass.db").display());
    let app = TestApp::spawn_with(Backend::Sqlite, TestDatabase::at(&url), config).await;
    let c = active_cohort(&app, "t", &["tom"]).await;
    let (client, gql) = (reqwest::Client::new(), app.url("/graphql"));
    let note = "n".repeat(1_000);
    let input = || json!({ "cohortId": c.id, "goalId": c.goal_id, "value": 1.0, "note": note });
    let mut acked = BTreeSet::new();
    for _ in 0..5 {
        acked.insert(check_in_once(&client, &gql, &c.trainees[0], input()).await.check_in.expect("a check-in"));
    }

    let filler = fill(&disk.0);
    // Writes go on while the log has room it used before; then the disk refuses one.
    let mut refused = None;
    for _ in 0..2_000 {
        let before = app.counts().await;
        let a = check_in_once(&client, &gql, &c.trainees[0], input()).await;
        match a.check_in {
            Some(id) => {
                acked.insert(id);
            }
            None => {
                assert_eq!(app.counts().await, before, "a refused write wrote rows");
                refused = Some(a);
                break;
            }
        }
    }
    let refused = refused.expect("the full disk never refused a write");
    assert_eq!((refused.status, refused.codes.clone()), (503, vec!["STORAGE_FULL".to_owned()]), "{refused:#?}");
    assert!(refused.message.contains("full"), "{refused:#?}");
    // It stays refused while the disk is full, each refusal writing nothing.
    for _ in 0..3 {
        let before = app.counts().await;
        let a = check_in_once(&client, &gql, &c.trainees[0], input()).await;
        assert_eq!((a.status, a.codes.clone()), (503, vec!["STORAGE_FULL".to_owned()]), "{a:#?}");
        assert_eq!(app.counts().await, before, "a refused write wrote rows");
    }
    // Reads work on a full disk, and see every acknowledged check-in.
    assert_eq!(check_ins_read(&app, &c.trainees[0], &c.id).await, acked.len() as i64);
    assert_eq!(integrity(&app).await, "ok");

    // Space returns: writes work again.
    std::fs::remove_file(&filler).expect("freeing the disk");
    let a = check_in_once(&client, &gql, &c.trainees[0], input()).await;
    acked.insert(a.check_in.unwrap_or_else(|| panic!("a check-in once space returned: {a:#?}")));
    app.stop().await;

    // Nothing acknowledged was lost: a new server over the file reads every one back.
    let app = TestApp::spawn_with(Backend::Sqlite, TestDatabase::at(&url), config).await;
    let stored: BTreeSet<i64> =
        check_in::Entity::find().all(app.store.reader()).await.expect("check-ins").into_iter().map(|c| c.id).collect();
    assert_eq!(stored, acked);
    assert_eq!(integrity(&app).await, "ok");
    let _ = writeln!(
        std::io::stderr().lock(),
        "full disk: {} check-ins acknowledged, then {:?}",
        acked.len(),
        refused.codes
    );
    app.stop().await;
    drop(disk);
}

async fn pragma(conn: &sea_orm::DatabaseConnection, name: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), format!("PRAGMA {name}")))
        .await
        .unwrap_or_else(|e| panic!("PRAGMA {name}: {e}"))
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("its value")
}

/// `AFTERCLASS_SQLITE_SYNCHRONOUS` reaches every connection of the store: NORMAL (1) by default,
/// FULL (2) when asked; a value it does not know stops the start with a clear message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_synchronous_setting() {
    use clap::{CommandFactory, Parser};
    let resolve = |extra: &[&str], url: &str| {
        let mut args = vec!["afterclass", "--database-url", url, "--jwt-secret", "a-secret-of-sixteen-bytes"];
        args.extend_from_slice(extra);
        args.push("migrate");
        let cli = afterclass::cli::Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        afterclass::config::Config::resolve(&cli.global)
    };
    let arg = afterclass::cli::Cli::command()
        .get_arguments()
        .find(|a| a.get_id() == "sqlite_synchronous")
        .and_then(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()));
    assert_eq!(arg.as_deref(), Some("AFTERCLASS_SQLITE_SYNCHRONOUS"));
    let err = resolve(&["--sqlite-synchronous", "off"], "sqlite://x.db").expect_err("off is refused");
    assert!(err.contains("AFTERCLASS_SQLITE_SYNCHRONOUS must be normal, full or extra"), "{err}");

    for (extra, expected) in
        [(&[][..], 1), (&["--sqlite-synchronous", "full"][..], 2), (&["--sqlite-synchronous", "EXTRA"][..], 3)]
    {
        let db = afterclass_tests::fresh_database(Backend::Sqlite).await.expect("a SQLite file");
        let cfg = resolve(extra, &db.url).expect("a configuration");
        let app = TestApp::spawn_with(Backend::Sqlite, db, |url| afterclass::config::Config {
            database_url: url.to_owned(),
            ..cfg.clone()
        })
        .await;
        assert_eq!(pragma(app.store.reader(), "synchronous").await, expected, "{extra:?}: a reader");
        assert_eq!(pragma(app.store.writer(), "synchronous").await, expected, "{extra:?}: the writer");
        app.stop().await;
    }
}

/// Each reader keeps a page cache of `READER_CACHE_KIB` (a negative `cache_size` is KiB); the
/// writer SQLite's default of 2,000 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_readers_keep_a_small_page_cache() {
    let app = TestApp::sqlite_with(|_| {}).await;
    let kib = i64::from(afterclass::store::READER_CACHE_KIB);
    assert!(kib < 2000, "smaller than the default");
    for _ in 0..4 {
        assert_eq!(pragma(app.store.reader(), "cache_size").await, -kib, "a reader");
    }
    assert_eq!(pragma(app.store.writer(), "cache_size").await, -2000, "the writer");
    app.stop().await;
}

/// The bundled SQLite is built without memory statistics (`.cargo/config.toml`): with them, every
/// allocation inside SQLite takes one process-wide mutex that concurrent readers queue on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_is_built_without_memory_statistics() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        afterclass_tests::fresh_database(Backend::Sqlite).await.expect("a SQLite file"),
        config,
    )
    .await;
    let conn = app.store.reader();
    let options: Vec<String> = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), "PRAGMA compile_options"))
        .await
        .expect("PRAGMA compile_options")
        .into_iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("an option"))
        .collect();
    assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
    app.stop().await;
}
