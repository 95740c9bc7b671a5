//! gdap-audit: audit Microsoft 365 / Entra ID partner delegated-admin access.
//!
//! Data flows one way (see `docs/architecture.md`):
//! credentials (`auth`) -> Graph transport (`graph`) -> collectors (`collect`, typed `model`)
//! -> `snapshot` -> `history` -> pure rules (`rules`, run by `evaluate`) -> `report` -> exit code.
//! `commands` wires the pipeline for each subcommand; nothing below it imports it.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod collect;
pub mod commands;
pub mod config;
pub mod diff;
pub mod evaluate;
pub mod files;
pub mod graph;
pub mod history;
pub mod lifecycle;
pub mod model;
pub mod printer;
pub mod report;
pub mod rules;
pub mod snapshot;
pub mod text;
pub mod webhook;
