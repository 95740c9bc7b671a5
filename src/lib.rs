//! gdap-audit: audit Microsoft 365 / Entra ID partner delegated-admin access.
//!
//! Data flows one way (see `docs/architecture.md`):
//! credentials (`auth`) -> Graph transport (`graph`) -> collectors (`collect`, typed `model`)
//! -> `snapshot` -> `history` -> pure rules (`rules`, run by `evaluate`) -> `report` -> exit code.
//! `commands` wires the pipeline for each subcommand; nothing below it imports it.

pub mod auth;
pub mod graph;
pub mod fake_graph;
pub mod model;
pub mod snapshot;
pub mod collect;
pub mod config;
pub mod rules;
pub mod evaluate;
pub mod history;
pub mod diff;
pub mod report;
pub mod printer;
pub mod cli;
pub mod commands;
