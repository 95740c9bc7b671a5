//! What rules see besides the snapshot: the clock, the configuration and a read-only view of history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A relationship as the previous run saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousRelationship {
    pub status: String,
    /// Role template ids, lower-case, sorted.
    pub roles: Vec<String>,
    pub end: Option<DateTime<Utc>>,
}

/// A partner (customer perspective) as the previous run saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousPartner {
    pub name: Option<String>,
    /// Roles allowed by constraints or held through role assignments, lower-case, sorted.
    pub roles: Vec<String>,
}

/// The previous run of the same tenant and perspective.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousRun {
    pub at: DateTime<Utc>,
    /// Keyed by relationship id (partner perspective).
    pub relationships: BTreeMap<String, PreviousRelationship>,
    /// Keyed by partner tenant id, lower-case (customer perspective).
    pub partners: BTreeMap<String, PreviousPartner>,
    /// Whether that run could read relationships / partners at all (a failed source is not "absent").
    pub relationships_collected: bool,
    pub partners_collected: bool,
}

/// Read-only history for one tenant. `HistoryView::default()` is a first run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    pub previous: Option<PreviousRun>,
    /// First time each finding fingerprint was seen.
    pub first_seen: BTreeMap<String, DateTime<Utc>>,
    /// Last successful partner sign-in seen in any run, per partner tenant id (lower-case).
    pub last_partner_activity: BTreeMap<String, DateTime<Utc>>,
    /// Since when sign-ins have been read without a gap (earliest window start of an unbroken chain of
    /// runs with sign-ins collected). `None` without history.
    pub evidence_since: Option<DateTime<Utc>>,
}

impl HistoryView {
    pub fn is_first_run(&self) -> bool {
        self.previous.is_none()
    }
}
