//! The Afterclass service: the `afterclass` command and everything behind it.
//!
//! - `cli`: the subcommands (`serve`, `migrate`, `token`, `demo`).
//! - `config`: settings from flags and environment.
//! - `http`: routes, the GraphQL handler, health and shutdown.
//! - `auth`: bearer tokens and the request's viewer.
//! - `chart`: the progress chart, an SVG behind a bearer token or a signed link.
//! - `graphql`: the schema; `app`: the use cases behind its mutations.
//! - `store`: connections, entities and queries for SQLite and PostgreSQL.

pub mod app;
pub mod auth;
pub mod calendar;
pub mod chart;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod store;
pub mod sweeper;
