//! A webhook receiver for the suites: an axum server on 127.0.0.1 that records every request
//! (path, headers, body) and answers with scripted statuses (200 once the script runs out).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Answers to give, in order: a status and a `Retry-After`; 200 once they run out.
    script: VecDeque<(u16, Option<&'static str>)>,
}

#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let log = Arc::new(Mutex::new(Log::default()));
        let app = axum::Router::new().fallback(record).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script(&self, answers: &[(u16, Option<&'static str>)]) {
        self.log.lock().unwrap().script.extend(answers.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }
}

async fn record(
    State(log): State<Arc<Mutex<Log>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let headers = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let mut log = log.lock().unwrap();
    log.received.push(Received { path: uri.path().to_owned(), headers, body });
    let (status, retry_after) = log.script.pop_front().unwrap_or((200, None));
    let mut out = HeaderMap::new();
    if let Some(value) = retry_after {
        out.insert("retry-after", value.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), out, "")
}
