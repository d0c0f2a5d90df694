//! The Afterclass service: the `afterclass` command and everything behind it.
//!
//! - `cli`: the subcommands (`serve`, `migrate`, `token`, `demo`).
//! - `config`: settings from flags and environment.
//! - `http`: routes, handlers (GraphQL, the progress chart, calendar feeds), health and shutdown.
//! - `auth`: bearer tokens and the request's viewer.
//! - `lti`: Afterclass as an LTI 1.3 tool (launches, deep linking, the roster from the LMS).
//! - `graphql`: the schema, resolvers and loaders.
//! - `app`: the use cases, and the reads behind the chart and the calendar feeds.
//! - `store`: connections, entities and queries for SQLite and PostgreSQL.
//! - `render`: pure renderers (the chart as SVG, feeds as iCalendar); `links`: signed links.
//! - `sweeper`, `webhooks`, `mail`: the background workers of `serve` (nudges found due, webhook
//!   deliveries, nudges by email).

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod links;
pub mod lti;
pub mod mail;
pub mod rate;
pub mod render;
pub mod store;
pub mod sweeper;
pub mod webhooks;
