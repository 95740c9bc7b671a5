//! Integration tests: one binary (linking is the slow step on 2 cores), one module per area.

mod audit_history;
mod cli;
mod common;
mod auth;
mod transport;
mod fake;
mod report;
mod history;
mod rules;
mod collect;
mod incremental;
