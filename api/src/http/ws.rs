//! `GET /graphql/ws`: GraphQL subscriptions over the graphql-transport-ws protocol. A browser
//! cannot send an `Authorization` header on a websocket, so the token comes in the
//! `connection_init` payload (`{"token": "<jwt>"}`, or `{"Authorization": "Bearer <jwt>"}`) and
//! is verified exactly as a request's bearer token; a bad one closes the socket with 4403. The
//! connection then has its viewer, and one loader whose batches run in the connection's own task
//! and which forgets what it loaded before each event it delivers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::Data;
use async_graphql::futures_util::{SinkExt, StreamExt, future};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use super::AppState;
use crate::auth;
use crate::error::ApiError;
use crate::graphql::limits::RequestTasks;
use crate::graphql::loaders::Loaders;

/// The close code for a connection whose `connection_init` did not authenticate.
pub const FORBIDDEN: u16 = 4403;

pub async fn graphql_ws(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(state, socket, protocol))
}

async fn serve(state: AppState, socket: WebSocket, protocol: GraphQLProtocol) {
    let (sink, stream) = socket.split();
    let tasks = RequestTasks::default();
    let refused = Arc::new(AtomicBool::new(false));
    // A refused `connection_init` is answered 4403, as the protocol asks.
    let sink = {
        let refused = Arc::clone(&refused);
        sink.with(move |msg: Message| {
            future::ready(Ok::<_, axum::Error>(match msg {
                Message::Close(Some(frame)) if refused.load(Ordering::Acquire) => {
                    Message::Close(Some(CloseFrame { code: FORBIDDEN, reason: frame.reason }))
                }
                other => other,
            }))
        })
    };
    let init = {
        let (state, tasks) = (state.clone(), tasks.clone());
        move |payload: serde_json::Value| async move {
            match connection_data(&state, tasks, &payload).await {
                Ok(data) => Ok(data),
                Err(err) => {
                    refused.store(true, Ordering::Release);
                    tracing::info!(reason = err.message(), "websocket connection refused");
                    Err(async_graphql::Error::new(err.message()))
                }
            }
        }
    };
    let connection =
        GraphQLWebSocket::new_with_pair(sink, stream, state.schema.clone(), protocol).on_connection_init(init).serve();
    // The connection's loader batches run in this task, between polls of the connection.
    tasks.drive(connection).await;
}

/// What every operation of the connection sees: what a request sees (`insert_request_data`) for
/// the viewer of the token in the payload, with one loader shared with its subscriptions' streams.
async fn connection_data(state: &AppState, tasks: RequestTasks, payload: &serde_json::Value) -> Result<Data, ApiError> {
    let token = token_of(payload)?;
    let claims = state.verifier.verify(token).await?;
    let viewer = auth::viewer(&state.store, &state.rate, &claims).await?;
    let mut data = Data::default();
    data.insert(Arc::new(Loaders::of(&state.store, &viewer).into_data_loader(tasks)));
    super::insert_request_data(&mut data, state, viewer);
    Ok(data)
}

fn token_of(payload: &serde_json::Value) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::Unauthenticated(
            "send the token in connection_init: {\"token\": \"<jwt>\"} or {\"Authorization\": \"Bearer <jwt>\"}".into(),
        )
    };
    if let Some(token) = payload.get("token").and_then(|t| t.as_str()) {
        return Ok(token.trim());
    }
    let header = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|h| h.as_str())
        .ok_or_else(missing)?;
    super::bearer_token(header)
}
