//! The audit history: a local SQLite database of past runs, per audited tenant.
//!
//! It gives the rules what one run cannot see: what the previous run saw (new partners, roles added), when
//! each finding was first seen, the last partner sign-in seen in any run (staleness beyond the 30 days of
//! sign-in log Entra ID keeps), and since when sign-ins have been read without a gap. It stores inventories
//! and aggregates, no tokens and no secrets; of the logs, only the partner sign-ins and the kept directory
//! audit events, so a run can read just the records after the previous one, and the audit merge them
//! ([`crate::audit::incremental`]). See docs/history.md.
//!
//! * [`HistoryStore`] opens (creating or migrating) the database, records a run, builds the
//!   [`HistoryView`](crate::rules::HistoryView) the rules get, lists, shows and prunes runs, and returns
//!   the kept log records; it never plans or merges an incremental read.
//! * Every write is one transaction; a second concurrent run waits for the first (`busy_timeout`).
//! * A database from a newer gdap-audit, or a damaged file, is refused and never modified.
//!
//! Modules, each depending only on those after it: `record` (recording a run: the store's rows and the
//! kept logs in one transaction), `logs` (the kept log records: written, and read back), `store`
//! (open, rows of a run, view, list, show, prune), `schema` (migrations, identity checks), `chain`
//! (evidence windows) and `sql` (timestamp text, tenant key, value and error conversion).

mod chain;
mod logs;
mod record;
mod schema;
mod sql;
mod store;

use std::path::PathBuf;

pub use logs::{KeptLog, KeptLogs, LOG_RETENTION_DAYS, LogCoverage, audit_key};
pub use schema::SCHEMA_VERSION;
pub use store::{
    HistoryStore, Recorded, RunDetail, RunFinding, RunSummary, TenantSummary, Watermarks,
};

/// Why the history could not be used. All of them stop the command with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "history database {path} has schema version {found}, newer than this gdap-audit understands ({known}): \
upgrade gdap-audit, or use another file with --history (or --no-history). The file was not modified."
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "history database {path} is not a valid SQLite database or is damaged ({detail}). It was left untouched: \
move it aside to start a new history, or use --history PATH / --no-history."
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} is a SQLite database but not a gdap-audit history ({detail}). It was left untouched: \
choose another file with --history PATH."
    )]
    NotHistory { path: PathBuf, detail: String },
    #[error(
        "history database {path} is in use by another gdap-audit run (waited {waited_secs} s for it); \
try again when that run has finished"
    )]
    Locked { path: PathBuf, waited_secs: u64 },
    #[error(
        "no history database at {path} (it is created by the first `scan` or `evaluate` with history on)"
    )]
    Missing { path: PathBuf },
    #[error("cannot use history database {path}: {detail}")]
    Io { path: PathBuf, detail: String },
    #[error("history database {path}: {detail}")]
    Sqlite { path: PathBuf, detail: String },
    #[error("there is no run {run} in the history database {path}")]
    NoSuchRun { path: PathBuf, run: i64 },
}
