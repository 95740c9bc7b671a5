//! Integration tests: one binary (linking is the slow step on 2 cores), one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a panic in a test or benchmark is its failure"
)]

mod audit_history;
mod auth;
mod azure;
mod chaos;
mod cli;
mod collect;
mod common;
mod credentials;
mod fake;
mod fleet;
mod fleet_auth;
mod history;
mod html;
mod incremental;
mod lifecycle;
mod limits;
mod memory;
mod outputs;
mod perf;
mod report;
mod rules;
mod transport;
mod trust;
