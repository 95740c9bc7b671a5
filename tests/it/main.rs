//! Integration tests: one binary (linking is the slow step on 2 cores), one module per area.

mod audit_history;
mod auth;
mod chaos;
mod cli;
mod collect;
mod common;
mod fake;
mod history;
mod incremental;
mod report;
mod rules;
mod transport;
