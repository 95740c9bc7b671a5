//! The rule catalogue: pure functions of (snapshot, history view, config, now).

pub mod context;
pub mod finding;

pub use context::HistoryView;
pub use finding::{Finding, Severity, Subject, SubjectKind};
