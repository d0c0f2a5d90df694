//! A headless Chromium for the suites, driven over the Chrome DevTools Protocol (CDP).
//!
//! Why a small client of our own rather than chromiumoxide, fantoccini or headless_chrome: the
//! suites need a dozen CDP commands (open a page, navigate, evaluate, dispatch mouse and key
//! events, insert text, take a screenshot) and three kinds of events (load, console and
//! exceptions, requests). CDP is JSON over one websocket, commands answered by id and events
//! pushed, which `tokio-tungstenite` and `serde_json` (both in the tree already) carry in a few
//! hundred lines; those crates generate bindings for the whole protocol (or speak WebDriver through
//! a second process) and compile for minutes on two cores.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! let Some(browser) = afterclass_tests::browser::Browser::launch().await else { return }; // skipped
//! let page = browser.new_page().await;
//! page.goto("http://127.0.0.1:8080/graphql").await.unwrap();
//! page.wait_for(".graphiql-container", Duration::from_secs(10)).await.unwrap();
//! page.click(".graphiql-execute-button").await.unwrap();
//! assert_eq!(page.console_errors(), Vec::<String>::new());
//! # }
//! ```
//!
//! Chromium runs with a fresh profile and, by default, offline: every host name but `127.0.0.1`
//! and `localhost` resolves to nothing (`--host-resolver-rules`), and the page records every
//! request it makes ([`Page::requests`]) so a suite can check that none left the machine.
//!
//! A tab's cross-site `<iframe>`s (an LMS embedding a tool) run in processes of their own, each
//! a DevTools target: the tab attaches to them as they appear (`Target.setAutoAttach`, flat
//! sessions), records their console errors and requests with its own, and [`Page::frame`] gives
//! one by its address as a [`Frame`], on which the same [`Document`] methods work (`eval`,
//! `wait_for`, `click`, `type_text`, …). A frame keeps working across its navigations, though
//! each new process gives it a new session. Same-site frames and frames of frames are not
//! followed.
//!
//! When Chromium is missing (`/usr/bin/chromium`, or `AFTERCLASS_TEST_CHROMIUM`), [`Browser::launch`]
//! says plainly `SKIPPED: browser suite` and gives `None`; under CI (`CI` set) it panics instead,
//! as the PostgreSQL suite does.

use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long one CDP command may take before it fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Chromium may take to start and say where it listens.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a navigation may take to reach its load event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Chromium may take to exit after SIGTERM before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Between two looks at the page while waiting for something to appear.
const POLL: Duration = Duration::from_millis(25);
/// The default window: a phone held upright.
const WINDOW: (u32, u32) = (390, 844);
/// How long a frame may be away (between two of its documents, or while it navigates within
/// its parent's process) before a command to it fails.
const REATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// A page's own Content-Security-Policy is reported to the page, not always to the console.
const CSP_REPORTER: &str = "document.addEventListener('securitypolicyviolation', e => \
    console.error('Content-Security-Policy violation: ' + e.violatedDirective + ' blocked ' + \
    (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));";

/// What went wrong driving the browser, in words that name the selector and the page.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// `unwrap` and `expect` print Debug: the message as it is, not quoted and escaped.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn err<T>(message: impl Into<String>) -> Result<T> {
    Err(Error(message.into()))
}

/// Modifier bits for [`Page::press`], as CDP numbers them.
pub const ALT: u8 = 1;
pub const CTRL: u8 = 2;
pub const META: u8 = 4;
pub const SHIFT: u8 = 8;

/// How to start Chromium.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// Resolve every host but loopback to nothing, so no request can leave the machine by name.
    pub offline: bool,
    /// The window's size in CSS pixels; a phone held upright by default.
    pub window: (u32, u32),
    /// More command-line flags.
    pub args: Vec<String>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions { offline: true, window: WINDOW, args: Vec::new() }
    }
}

/// A headless Chromium process and the one DevTools connection to it. Dropping it kills the
/// process and removes its profile directory.
pub struct Browser {
    child: std::process::Child,
    profile: PathBuf,
    conn: Arc<Connection>,
    window: (u32, u32),
}

impl Browser {
    /// Chromium, offline, with a fresh profile; `None` (after saying so) when it is not installed.
    pub async fn launch() -> Option<Browser> {
        Self::launch_with(LaunchOptions::default()).await
    }

    pub async fn launch_with(options: LaunchOptions) -> Option<Browser> {
        let executable = chromium_path()?;
        let profile = std::env::temp_dir().join("afterclass-tests").join(crate::unique("chromium"));
        std::fs::create_dir_all(&profile).expect("creating Chromium's profile directory");
        let mut command = std::process::Command::new(&executable);
        command.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--remote-debugging-port=0",
        ]);
        command.arg(format!("--user-data-dir={}", profile.display()));
        command.arg(format!("--window-size={},{}", options.window.0, options.window.1));
        if options.offline {
            command.arg("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost");
        }
        command.args(&options.args);
        command.arg("about:blank");
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", executable.display()));

        // Chromium says where it listens on stderr; the rest of stderr is drained on the same
        // thread, so that it never blocks on a full pipe.
        let stderr = child.stderr.take().expect("Chromium's stderr");
        let (tx, rx) = oneshot::channel::<std::result::Result<String, Vec<String>>>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut seen = Vec::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match line.split_once("DevTools listening on ") {
                    Some((_, url)) if tx.is_some() => {
                        let _ = tx.take().map(|tx| tx.send(Ok(url.trim().to_owned())));
                    }
                    _ if tx.is_some() => seen.push(line),
                    _ => {}
                }
            }
            if let Some(tx) = tx {
                let _ = tx.send(Err(seen));
            }
        });
        let fail = |child: &mut std::process::Child, profile: &Path, why: String| -> ! {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(profile);
            panic!("{why}");
        };
        let ws_url = match tokio::time::timeout(LAUNCH_TIMEOUT, rx).await {
            Ok(Ok(Ok(url))) => url,
            Ok(Ok(Err(seen))) => {
                fail(&mut child, &profile, format!("Chromium exited before DevTools listened; its stderr: {seen:#?}"))
            }
            Ok(Err(_)) => fail(&mut child, &profile, "Chromium's stderr reader stopped".into()),
            Err(_) => fail(
                &mut child,
                &profile,
                format!("Chromium did not say where DevTools listens within {LAUNCH_TIMEOUT:?}"),
            ),
        };
        let conn = match Connection::open(&ws_url).await {
            Ok(conn) => conn,
            Err(e) => fail(&mut child, &profile, format!("connecting to Chromium at {ws_url}: {e}")),
        };
        Some(Browser { child, profile, conn, window: options.window })
    }

    /// Every cookie the browser keeps (`Storage.getCookies`), as CDP describes them: `name`,
    /// `domain`, `sameSite`, and `partitionKey` (`topLevelSite`, `hasCrossSiteAncestor`) for
    /// a partitioned one.
    pub async fn cookies(&self) -> Result<Vec<Value>> {
        let mut answer = self.conn.call(None, "Storage.getCookies", json!({})).await?;
        Ok(answer["cookies"].as_array_mut().map(std::mem::take).unwrap_or_default())
    }

    /// A new tab on `about:blank`, its events recorded from the start.
    pub async fn new_page(&self) -> Page {
        let target = self
            .conn
            .call(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "newWindow": true, "width": self.window.0, "height": self.window.1 }),
            )
            .await
            .expect("opening a tab");
        let target_id = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = self
            .conn
            .call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }))
            .await
            .expect("attaching to the tab");
        let session = attached["sessionId"].as_str().expect("a session id").to_owned();

        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Event>();
        self.conn.sessions.lock().unwrap().insert(session.clone(), events_tx);
        let (broadcast_tx, _) = broadcast::channel::<Event>(1024);
        let record = Arc::new(Mutex::new(Record::default()));
        let frames: Frames = Arc::default();
        {
            let record = record.clone();
            let broadcast_tx = broadcast_tx.clone();
            let frames = frames.clone();
            let conn = Arc::downgrade(&self.conn);
            let tab = session.clone();
            tokio::spawn(async move {
                while let Some(event) = events_rx.recv().await {
                    if let Some(conn) = conn.upgrade() {
                        follow_frames(&conn, &tab, &frames, &event);
                    }
                    record.lock().unwrap().note(&event.method, &event.params);
                    let _ = broadcast_tx.send(event);
                }
            });
        }
        let page = Page {
            doc: Document { conn: self.conn.clone(), route: Route::Session(session.clone()) },
            session,
            target_id,
            events: broadcast_tx,
            record,
            frames,
        };
        for domain in ["Page", "Runtime", "Network", "Log"] {
            page.call(&format!("{domain}.enable"), json!({})).await.expect("enabling a CDP domain");
        }
        // Cross-site frames run in processes of their own, each a target of its own: attach to
        // them as they appear (`follow_frames`), paused until their events are routed here.
        page.call(
            "Target.setAutoAttach",
            json!({ "autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true }),
        )
        .await
        .expect("attaching to the page's frames");
        // The page's own Content-Security-Policy is reported to the page, not always to the console.
        page.call("Page.addScriptToEvaluateOnNewDocument", json!({ "source": CSP_REPORTER }))
            .await
            .expect("installing the CSP reporter");
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SIGTERM first: Chromium then ends its renderer and helper processes itself, where
        // SIGKILL would leave them to whoever reaps orphans. SIGKILL after a grace period.
        let terminated = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + CLOSE_GRACE;
        while terminated && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The Chromium to run, or `None` after saying that the suite is skipped.
fn chromium_path() -> Option<PathBuf> {
    let path = std::env::var_os("AFTERCLASS_TEST_CHROMIUM")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        return Some(path);
    }
    crate::skipped("browser suite", &format!("apt-get install chromium: {} is missing", path.display()));
    None
}

/// Where the suites put screenshots: `target/screenshots/NAME`, the workspace's target
/// directory found from `CARGO_TARGET_DIR` or from the test binary's own path.
pub fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| if dir.is_relative() { Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir) } else { dir })
        .or_else(|| {
            // target/debug/deps/SUITE-HASH
            let exe = std::env::current_exe().ok()?;
            let deps = exe.ancestors().find(|p| p.file_name().is_some_and(|n| n == "deps"))?;
            Some(deps.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots").join(name)
}

/// An event as Chromium pushes it: the session it came from (a tab's or one of its frames'),
/// its method and its parameters.
#[derive(Debug, Clone)]
struct Event {
    session: String,
    method: String,
    params: Value,
}
/// Who waits for the answer to each command in flight, by id.
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value>>>>>;
/// Where each page's events go, by CDP session id.
type Sessions = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Event>>>>;
/// A tab's out-of-process frames attached now: their target id (the frame's id, which stays
/// the same from one document to the next) and their current session.
type Frames = Arc<Mutex<HashMap<String, String>>>;

/// One websocket to Chromium: commands answered by id, events routed to their page's session.
struct Connection {
    outgoing: mpsc::UnboundedSender<String>,
    next_id: AtomicU64,
    pending: Pending,
    sessions: Sessions,
}

impl Connection {
    async fn open(url: &str) -> Result<Arc<Connection>> {
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| Error(e.to_string()))?;
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<String>();
        let pending: Pending = Arc::default();
        let sessions: Sessions = Arc::default();
        let conn = Arc::new(Connection {
            outgoing,
            next_id: AtomicU64::new(1),
            pending: pending.clone(),
            sessions: sessions.clone(),
        });
        // One task owns the socket: it sends what the commands queue and routes what arrives.
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    out = to_send.recv() => match out {
                        Some(text) => if socket.send(Message::text(text)).await.is_err() { break },
                        // Every handle is gone: the browser is being dropped.
                        None => break,
                    },
                    incoming = socket.next() => match incoming {
                        Some(Ok(Message::Text(text))) => route(&text, &pending, &sessions),
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
            for (_, waiter) in pending.lock().unwrap().drain() {
                let _ = waiter.send(err("the connection to Chromium closed"));
            }
            sessions.lock().unwrap().clear();
        });
        Ok(conn)
    }

    /// Sends one command (to a page's session, or to the browser) and waits for its answer.
    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::from(session);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        if self.outgoing.send(message.to_string()).is_err() {
            self.pending.lock().unwrap().remove(&id);
            return err(format!("{method}: the connection to Chromium is closed"));
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(answer)) => answer.map_err(|e| Error(format!("{method}: {e}"))),
            Ok(Err(_)) => err(format!("{method}: the connection to Chromium closed")),
            Err(_) => {
                self.pending.lock().unwrap().remove(&id);
                err(format!("{method}: no answer from Chromium within {COMMAND_TIMEOUT:?}"))
            }
        }
    }

    /// Queues a command without waiting for its answer (for `Drop`).
    fn send_and_forget(&self, method: &str, params: Value) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.outgoing.send(json!({ "id": id, "method": method, "params": params }).to_string());
    }
}

/// Hands one message from Chromium to whoever waits for it.
fn route(text: &str, pending: &Pending, sessions: &Sessions) {
    let Ok(mut message) = serde_json::from_str::<Value>(text) else { return };
    if let Some(id) = message["id"].as_u64() {
        if let Some(waiter) = pending.lock().unwrap().remove(&id) {
            let answer = match message.get("error") {
                Some(error) => err(error["message"].as_str().unwrap_or("error").to_owned() + &data_of(error)),
                None => Ok(message["result"].take()),
            };
            let _ = waiter.send(answer);
        }
        return;
    }
    let (Some(method), Some(session)) = (message["method"].as_str(), message["sessionId"].as_str()) else { return };
    if let Some(events) = sessions.lock().unwrap().get(session) {
        let _ = events.send(Event {
            session: session.to_owned(),
            method: method.to_owned(),
            params: message["params"].take(),
        });
    }
}

/// Keeps a tab's `frames` up to date from the `Target.*` events of its session. A frame that
/// attaches is paused (`waitForDebuggerOnStart`) until its events are routed with the tab's, the
/// tab's domains are enabled in it and the CSP reporter installed, so that nothing it does goes
/// unrecorded; then it runs. A frame that detaches (removed, or navigated back into its parent's
/// process) is forgotten until it attaches again. Anything else that attaches (a worker) only
/// runs.
fn follow_frames(conn: &Arc<Connection>, tab: &str, frames: &Frames, event: &Event) {
    if event.session != tab {
        return;
    }
    let Some(child) = event.params["sessionId"].as_str() else { return };
    match event.method.as_str() {
        "Target.attachedToTarget" => {
            let info = &event.params["targetInfo"];
            let is_frame = info["type"] == "iframe";
            if is_frame {
                let mut sessions = conn.sessions.lock().unwrap();
                if let Some(events) = sessions.get(tab).cloned() {
                    sessions.insert(child.to_owned(), events);
                }
                let frame_id = info["targetId"].as_str().unwrap_or_default().to_owned();
                frames.lock().unwrap().insert(frame_id, child.to_owned());
            }
            let conn = conn.clone();
            let child = child.to_owned();
            tokio::spawn(async move {
                if is_frame {
                    for domain in ["Page", "Runtime", "Network", "Log"] {
                        let _ = conn.call(Some(&child), &format!("{domain}.enable"), json!({})).await;
                    }
                    let source = json!({ "source": CSP_REPORTER });
                    let _ = conn.call(Some(&child), "Page.addScriptToEvaluateOnNewDocument", source).await;
                }
                let _ = conn.call(Some(&child), "Runtime.runIfWaitingForDebugger", json!({})).await;
            });
        }
        "Target.detachedFromTarget" => {
            conn.sessions.lock().unwrap().remove(child);
            frames.lock().unwrap().retain(|_, session| session != child);
        }
        _ => {}
    }
}

fn data_of(error: &Value) -> String {
    error["data"].as_str().map(|d| format!(" ({d})")).unwrap_or_default()
}

/// What a page has done that a test may ask about afterwards.
#[derive(Default)]
struct Record {
    errors: Vec<String>,
    requests: Vec<String>,
}

impl Record {
    fn note(&mut self, method: &str, params: &Value) {
        match method {
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("?");
                self.errors.push(format!("uncaught exception: {text} ({})", location(details)));
            }
            "Runtime.consoleAPICalled" if matches!(params["type"].as_str(), Some("error" | "assert")) => {
                let args: Vec<String> = params["args"].as_array().into_iter().flatten().map(remote_text).collect();
                let frame = &params["stackTrace"]["callFrames"][0];
                self.errors.push(format!("console.error: {} ({})", args.join(" "), location(frame)));
            }
            "Log.entryAdded" if params["entry"]["level"] == "error" => {
                let entry = &params["entry"];
                self.errors.push(format!(
                    "{} error: {} ({})",
                    entry["source"].as_str().unwrap_or("log"),
                    entry["text"].as_str().unwrap_or("?"),
                    entry["url"].as_str().unwrap_or("")
                ));
            }
            "Network.requestWillBeSent" => {
                if let Some(url) = params["request"]["url"].as_str() {
                    // A `data:` URL is its content: its media type says enough.
                    let url = match url.split_once(',') {
                        Some((head, _)) if url.starts_with("data:") => format!("{head},…"),
                        _ => url.to_owned(),
                    };
                    self.requests.push(url);
                }
            }
            "Network.webSocketCreated" => {
                if let Some(url) = params["url"].as_str() {
                    self.requests.push(url.to_owned());
                }
            }
            _ => {}
        }
    }
}

fn location(at: &Value) -> String {
    format!("{}:{}", at["url"].as_str().unwrap_or(""), at["lineNumber"].as_u64().map(|l| l + 1).unwrap_or(0))
}

/// A console argument as text: its value, or its description for objects.
fn remote_text(arg: &Value) -> String {
    match &arg["value"] {
        Value::String(s) => s.clone(),
        Value::Null => arg["description"].as_str().unwrap_or("undefined").to_owned(),
        other => other.to_string(),
    }
}

/// One tab. Dropping it closes the tab. What a test reads and does in its document
/// ([`Document`]: `eval`, `wait_for`, `click`, …) is reached through it as through a frame's.
pub struct Page {
    doc: Document,
    session: String,
    target_id: String,
    events: broadcast::Sender<Event>,
    record: Arc<Mutex<Record>>,
    frames: Frames,
}

/// A cross-site `<iframe>` of a [`Page`] (an out-of-process frame, with a DevTools session of
/// its own), found by [`Page::frame`]; [`Document`]'s methods work on it as on a tab. It is
/// the frame rather than one of its documents: it stays usable when the frame navigates, as a
/// launch does (the tool's login, the platform's authorisation, the tool's launch). Console
/// errors and requests of its documents are the page's ([`Page::console_errors`]).
pub struct Frame {
    doc: Document,
}

/// Where a [`Document`]'s commands go.
#[derive(Clone)]
enum Route {
    /// A tab's session, or a frame's as it is now.
    Session(String),
    /// Whatever session a frame of the tab has when the command is sent: a frame gets a new one
    /// each time a navigation brings it back into a process of its own.
    Frame { frame_id: String, frames: Frames },
}

/// The document of a tab or of a frame: what a test evaluates, waits for, reads, clicks and
/// types into. [`Page`] and [`Frame`] dereference to it.
pub struct Document {
    conn: Arc<Connection>,
    route: Route,
}

impl std::ops::Deref for Page {
    type Target = Document;
    fn deref(&self) -> &Document {
        &self.doc
    }
}

impl std::ops::Deref for Frame {
    type Target = Document;
    fn deref(&self) -> &Document {
        &self.doc
    }
}

impl Page {
    /// Navigates and waits for the page's load event.
    pub async fn goto(&self, url: &str) -> Result<()> {
        let mut events = self.events.subscribe();
        let answer = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = answer["errorText"].as_str() {
            return err(format!("navigating to {url}: {error}"));
        }
        wait_for_load(&mut events, &self.session, url).await
    }

    /// Clicks `selector` (see [`Document::click`]) and waits for the navigation it starts to
    /// load, e.g. a form's submit button.
    pub async fn click_and_wait_for_load(&self, selector: &str) -> Result<()> {
        let mut events = self.events.subscribe();
        self.click(selector).await?;
        let url = self.url().await.unwrap_or_default();
        wait_for_load(&mut events, &self.session, &format!("the navigation from {url} (clicked {selector})")).await
    }

    /// Waits until a cross-site frame of the page shows a document whose address starts with
    /// `url_prefix` and that has loaded (`document.readyState` is `complete`), and gives it.
    /// Frames of the page's own site share its process and are not found here.
    pub async fn frame(&self, url_prefix: &str, timeout: Duration) -> Result<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            let attached: Vec<(String, String)> =
                self.frames.lock().unwrap().iter().map(|(id, session)| (id.clone(), session.clone())).collect();
            let mut seen = Vec::new();
            for (frame_id, session) in attached {
                let doc = Document { conn: self.conn.clone(), route: Route::Session(session) };
                // A frame between two documents has no context to evaluate in: not yet.
                let Ok(at) = doc.eval("[location.href, document.readyState]").await else { continue };
                let (href, state) = (at[0].as_str().unwrap_or_default(), at[1].as_str().unwrap_or_default());
                if href.starts_with(url_prefix) && state == "complete" {
                    let route = Route::Frame { frame_id, frames: self.frames.clone() };
                    return Ok(Frame { doc: Document { conn: self.conn.clone(), route } });
                }
                seen.push(format!("{href} ({state})"));
            }
            if Instant::now() >= deadline {
                let url = self.url().await.unwrap_or_else(|e| e.0);
                return err(format!(
                    "no cross-site frame at {url_prefix}… loaded within {timeout:?} on {url}; its frames are at {seen:?}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Document {
    /// The session to send to now: a frame's, once it is attached again if it is away.
    async fn session(&self) -> Result<String> {
        let (frame_id, frames) = match &self.route {
            Route::Session(session) => return Ok(session.clone()),
            Route::Frame { frame_id, frames } => (frame_id, frames),
        };
        let deadline = Instant::now() + REATTACH_TIMEOUT;
        loop {
            if let Some(session) = frames.lock().unwrap().get(frame_id) {
                return Ok(session.clone());
            }
            if Instant::now() >= deadline {
                return err(format!(
                    "the frame {frame_id} has had no document of its own for {REATTACH_TIMEOUT:?} \
                     (it was removed, or shows a page of its parent's site)"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value> {
        let session = self.session().await?;
        self.conn.call(Some(&session), method, params).await
    }

    /// Evaluates `js` in the page (awaiting a promise) and gives its value as JSON; a thrown
    /// exception is an error with its text.
    pub async fn eval(&self, js: &str) -> Result<Value> {
        let mut answer = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": js, "returnByValue": true, "awaitPromise": true, "userGesture": true }),
            )
            .await?;
        if let Some(details) = answer.get("exceptionDetails") {
            let text = details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("?");
            return err(format!("evaluating `{}`: {text}", abbreviate(js)));
        }
        Ok(answer["result"]["value"].take())
    }

    /// The page's address.
    pub async fn url(&self) -> Result<String> {
        Ok(self.eval("location.href").await?.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until an element matching `selector` is in the page and rendered (it has a box).
    pub async fn wait_for(&self, selector: &str, timeout: Duration) -> Result<()> {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); return !!e && e.getClientRects().length > 0; }})()",
            js_string(selector)
        );
        self.poll(&js, timeout, || format!("no rendered element matches `{selector}`")).await
    }

    /// Waits until the text of the first element matching `selector` contains `needle`.
    pub async fn wait_for_text(&self, selector: &str, needle: &str, timeout: Duration) -> Result<()> {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); return !!e && e.innerText.includes({}); }})()",
            js_string(selector),
            js_string(needle)
        );
        let result = self.poll(&js, timeout, || format!("the text of `{selector}` never contained {needle:?}")).await;
        if let Err(Error(message)) = result {
            let text = self.text(selector).await.unwrap_or_else(|e| e.0);
            return err(format!("{message}; it reads {:?}", abbreviate(&text)));
        }
        Ok(())
    }

    /// Evaluates `js` every [`POLL`] until it gives `true`. An error (the document being
    /// replaced by the next one) counts as not yet; the last one is told at the deadline.
    async fn poll(&self, js: &str, timeout: Duration, what: impl Fn() -> String) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last_error = match self.eval(js).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => None,
                Err(e) => Some(e),
            };
            if Instant::now() >= deadline {
                let url = self.url().await.unwrap_or_else(|e| e.0);
                let error = last_error.map(|e| format!(" (the last look failed: {e})")).unwrap_or_default();
                return err(format!("{} within {timeout:?} on {url}{error}", what()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The text (`innerText`) of the first element matching `selector`.
    pub async fn text(&self, selector: &str) -> Result<String> {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); return e ? e.innerText : null; }})()",
            js_string(selector)
        );
        match self.eval(&js).await? {
            Value::String(text) => Ok(text),
            _ => err(format!("no element matches `{selector}` on {}", self.url().await.unwrap_or_default())),
        }
    }

    /// Clicks the middle of the first element matching `selector` as a user would: scrolled
    /// into view, then real mouse events at that point. Fails when the element is missing, not
    /// rendered, disabled, or covered there by another element (which would get the click).
    /// In a [`Frame`] the events go to the frame's own session, which takes them in the frame's
    /// coordinates (`tests/tests/web_frame.rs` checks that they arrive, trusted, on their target).
    pub async fn click(&self, selector: &str) -> Result<()> {
        let js = format!(
            "(() => {{
                const e = document.querySelector({});
                if (!e) return {{ error: 'no element matches' }};
                e.scrollIntoView({{ block: 'center', inline: 'center' }});
                const r = e.getBoundingClientRect();
                if (r.width === 0 || r.height === 0) return {{ error: 'the element is not rendered' }};
                if (e.disabled || e.closest('fieldset:disabled')) return {{ error: 'the element is disabled' }};
                const x = r.left + r.width / 2, y = r.top + r.height / 2;
                const hit = document.elementFromPoint(x, y);
                if (hit !== e && !e.contains(hit)) {{
                    const name = hit ? hit.tagName.toLowerCase() + (hit.id ? '#' + hit.id : '') +
                        (typeof hit.className === 'string' && hit.className ? '.' + hit.className.trim().split(/\\s+/).join('.') : '') : 'nothing';
                    return {{ error: 'the element is covered by ' + name }};
                }}
                return {{ x, y }};
            }})()",
            js_string(selector)
        );
        let at = self.eval(&js).await?;
        if let Some(error) = at["error"].as_str() {
            return err(format!("clicking `{selector}`: {error} on {}", self.url().await.unwrap_or_default()));
        }
        let (x, y) = (at["x"].as_f64().unwrap_or(0.0), at["y"].as_f64().unwrap_or(0.0));
        self.call("Input.dispatchMouseEvent", json!({ "type": "mouseMoved", "x": x, "y": y })).await?;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1 }),
            )
            .await?;
        }
        Ok(())
    }

    /// Focuses the first element matching `selector` and types `text` into it (inserted as an
    /// input method would, so `input` events fire as for a user).
    pub async fn type_text(&self, selector: &str, text: &str) -> Result<()> {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return 'no element matches';
                e.focus(); return e === document.activeElement || e.contains(document.activeElement) ? null : 'it cannot take the focus'; }})()",
            js_string(selector)
        );
        if let Value::String(error) = self.eval(&js).await? {
            return err(format!("typing into `{selector}`: {error} on {}", self.url().await.unwrap_or_default()));
        }
        self.insert_text(text).await
    }

    /// Types `text` wherever the focus is.
    pub async fn insert_text(&self, text: &str) -> Result<()> {
        self.call("Input.insertText", json!({ "text": text })).await.map(drop)
    }

    /// Presses and releases one key with `modifiers` ([`CTRL`], [`SHIFT`], …) where the focus
    /// is: a letter or digit (`"a"`), or `"Enter"`, `"Tab"`, `"Escape"`, `"Backspace"`.
    pub async fn press(&self, key: &str, modifiers: u8) -> Result<()> {
        let (code, key_code, text) = match key {
            "Enter" => ("Enter".to_owned(), 13, Some("\r".to_owned())),
            "Tab" => ("Tab".to_owned(), 9, None),
            "Escape" => ("Escape".to_owned(), 27, None),
            "Backspace" => ("Backspace".to_owned(), 8, None),
            k if k.len() == 1 && k.as_bytes()[0].is_ascii_alphanumeric() => {
                let c = k.as_bytes()[0].to_ascii_uppercase();
                let code = if c.is_ascii_digit() { format!("Digit{}", c as char) } else { format!("Key{}", c as char) };
                (code, c as u32, Some(k.to_owned()))
            }
            other => return err(format!("press: no key named {other:?}")),
        };
        // A chord with Ctrl, Alt or Meta types nothing.
        let text = text.filter(|_| modifiers & (CTRL | ALT | META) == 0);
        let mut down = json!({ "type": if text.is_some() { "keyDown" } else { "rawKeyDown" }, "key": key, "code": code,
            "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code, "modifiers": modifiers });
        if let Some(text) = text {
            down["text"] = Value::from(text);
        }
        self.call("Input.dispatchKeyEvent", down).await?;
        self.call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": key_code,
                "nativeVirtualKeyCode": key_code, "modifiers": modifiers }),
        )
        .await
        .map(drop)
    }

    /// Chooses the option with `value` in the `<select>` matching `selector`, firing `input` and
    /// `change` as a user's choice does.
    pub async fn select(&self, selector: &str, value: &str) -> Result<()> {
        let js = format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) return 'no element matches';
                if (e.tagName !== 'SELECT') return 'it is a ' + e.tagName.toLowerCase() + ', not a select';
                if (e.disabled) return 'it is disabled';
                if (![...e.options].some(o => o.value === {v})) return 'it has no option ' + {v};
                e.focus(); e.value = {v};
                e.dispatchEvent(new Event('input', {{ bubbles: true }}));
                e.dispatchEvent(new Event('change', {{ bubbles: true }}));
                return null; }})()",
            s = js_string(selector),
            v = js_string(value)
        );
        if let Value::String(error) = self.eval(&js).await? {
            return err(format!(
                "selecting {value:?} in `{selector}`: {error} on {}",
                self.url().await.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

impl Page {
    /// A PNG of the viewport at `path` (parent directories created), the page's frames drawn
    /// in it; see [`screenshot_path`].
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let answer = self.call("Page.captureScreenshot", json!({ "format": "png" })).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(answer["data"].as_str().unwrap_or_default())
            .map_err(|e| Error(format!("a screenshot that is not base64: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error(format!("creating {}: {e}", dir.display())))?;
        }
        std::fs::write(path, png).map_err(|e| Error(format!("writing {}: {e}", path.display())))
    }

    /// Waits until one of [`Page::console_errors`] contains `needle`; gives it.
    pub async fn wait_for_console_error(&self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.console_errors().into_iter().find(|e| e.contains(needle)) {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                let url = self.url().await.unwrap_or_else(|e| e.0);
                return err(format!(
                    "no console error containing {needle:?} within {timeout:?} on {url}; there were {:#?}",
                    self.console_errors()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Console errors, uncaught exceptions, errors the browser logged (a failed load, a refused
    /// resource) and Content-Security-Policy violations, since the page opened.
    pub fn console_errors(&self) -> Vec<String> {
        self.record.lock().unwrap().errors.clone()
    }

    /// The URL of every request the page made since it opened (documents, scripts, fetches,
    /// websockets), in order.
    pub fn requests(&self) -> Vec<String> {
        self.record.lock().unwrap().requests.clone()
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let mut sessions = self.conn.sessions.lock().unwrap();
        sessions.remove(&self.session);
        for frame in self.frames.lock().unwrap().values() {
            sessions.remove(frame);
        }
        drop(sessions);
        self.conn.send_and_forget("Target.closeTarget", json!({ "targetId": self.target_id }));
    }
}

/// Waits for the load event of the tab's own document (not of one of its frames).
async fn wait_for_load(events: &mut broadcast::Receiver<Event>, tab: &str, what: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + LOAD_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) if event.method == "Page.loadEventFired" && event.session == tab => return Ok(()),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => return err(format!("{what}: the page closed")),
            Err(_) => return err(format!("{what} did not load within {LOAD_TIMEOUT:?}")),
        }
    }
}

/// `s` as a JavaScript string literal.
fn js_string(s: &str) -> String {
    Value::from(s).to_string()
}

fn abbreviate(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
