//! What a rule produces.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::evidence::Evidence;

/// Finding severity, highest first in `Ord` terms reversed: `Critical > High > ... > Info`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL_DESC: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL_DESC
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum SubjectKind {
    Relationship,
    Partner,
    Tenant,
    ServicePrincipal,
    SignIn,
    AuditEvent,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Relationship => "relationship",
            SubjectKind::Partner => "partner",
            SubjectKind::Tenant => "tenant",
            SubjectKind::ServicePrincipal => "servicePrincipal",
            SubjectKind::SignIn => "signIn",
            SubjectKind::AuditEvent => "auditEvent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: String,
    pub display_name: Option<String>,
}

/// One finding. `fingerprint` and `first_seen` are filled by the evaluator, not by rules. The rule's
/// own texts (title, remediation, references) are borrowed from its metadata, not copied per finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule_id: String,
    pub severity: Severity,
    pub title: Cow<'static, str>,
    /// One or two sentences a tenant admin understands without reading code.
    pub message: String,
    pub subject: Subject,
    pub partner_tenant_id: Option<String>,
    pub customer_tenant_id: Option<String>,
    /// Structured evidence (role names, counts, dates, example records).
    pub evidence: Evidence,
    pub remediation: Cow<'static, str>,
    pub references: Vec<Cow<'static, str>>,
    /// Stable across runs: hash of rule id, audited tenant and subject id.
    pub fingerprint: String,
    pub first_seen: Option<DateTime<Utc>>,
}
