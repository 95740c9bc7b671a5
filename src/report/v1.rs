//! JSON report v1: the frozen output contract (see `docs/output.md` and `docs/report.schema.json`).
//!
//! These types are the only thing `--format json|jsonl` serializes. They are deliberately separate from
//! the internal `Finding`, `Coverage` and evaluator types: internal code may change freely, this may only
//! grow by *adding* optional fields (a removal, rename or change of meaning is `schema_version` "2").
//! Every map is a `BTreeMap` and every list keeps the evaluator's order, so the same input serializes to
//! the same bytes.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::evaluate::{CoverageOutcome, Evaluation, NotEvaluated, SuppressedFinding};
use crate::lifecycle::{self, Lifecycle};
use crate::rules::finding::{self, Evidence, Finding};
use crate::snapshot::{self, Snapshot};
use crate::text;

/// The value of `schema_version` for this contract.
pub const SCHEMA_VERSION: &str = "1";

/// The tool name written in `tool.name`.
pub const TOOL_NAME: &str = "gdap-audit";

/// A gdap-audit report: the findings of one audit of one tenant, what was suppressed, and what could not
/// be checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "gdap-audit report v1")]
pub struct ReportV1 {
    /// Always "1" for this contract. Consumers should refuse other values.
    #[schemars(extend("const" = "1"))]
    pub schema_version: String,
    pub tool: Tool,
    /// When the data in this report was collected (RFC 3339, UTC): taken from the input, not the wall
    /// clock, so the same input always gives the same bytes.
    pub generated_at: DateTime<Utc>,
    /// The evaluation clock (`--as-of`, default: collection time), RFC 3339 UTC. "Stale" and "expiring"
    /// are relative to this.
    pub as_of: DateTime<Utc>,
    /// The audited tenant (a GUID).
    pub tenant_id: String,
    /// The audited tenant's display name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,
    /// The sides audited: `partner` (the MSP's own tenant) and/or `customer` (the audited tenant).
    pub perspectives: Vec<Perspective>,
    pub summary: Summary,
    /// Findings, sorted by severity (critical first), rule id, subject id. Suppressed findings are not
    /// here but under `suppressed`.
    pub findings: Vec<FindingV1>,
    /// One entry per Graph source the audit needed, with how it fared and which rules could not run
    /// because of it.
    pub coverage: Vec<CoverageEntry>,
    /// Rules that did not run for a reason other than a missing source (e.g. nothing configured to
    /// compare with). Never reported as clean.
    #[serde(default)]
    pub not_evaluated: Vec<NotEvaluatedEntry>,
    /// The rules that ran, in catalogue order: what an auditor shows to prove a check passed (listed here,
    /// no finding, not in `not_evaluated`). A rule also in `not_evaluated` ran only in part.
    #[serde(default)]
    pub rules_evaluated: Vec<String>,
    /// With history: the findings of the previous run that are gone, each with `status` "resolved" and a
    /// `resolution` (fixed, aged_out, suppressed). Absent without history. A finding whose rule could
    /// not be re-checked is never here: it stays in `findings`, `open`, with a `note`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Vec<FindingV1>>,
    /// True when the report was written with `--changes-only`: `findings` then holds only the new and
    /// reopened findings (`summary` still counts every finding of the run).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changes_only: bool,
    /// Findings hidden by a suppression in the configuration, with its reason.
    pub suppressed: Vec<SuppressedEntry>,
    /// Anything the operator should know that is not a finding (e.g. an unknown enum value met).
    pub warnings: Vec<String>,
    /// What the audit was run with (thresholds, `--fail-on`, log window, configuration digest). Absent
    /// from reports built without a run (e.g. by a library caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsV1>,
    /// What the snapshot holds beyond the findings, for the pictures: every live GDAP relationship
    /// (partner side) and every service-provider partner's last activity (customer side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextV1>,
}

/// What the audit was run with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettingsV1 {
    /// Every threshold in effect, in days (the configuration's `[thresholds]`, defaults filled in).
    pub thresholds: ThresholdsV1,
    /// The lowest severity that fails the run with exit code 1 (`--fail-on`); `never` when none does.
    pub fail_on: FailOnV1,
    /// The length of the sign-in and audit log window read, in whole days.
    pub since_days: u64,
    /// SHA-256 (lowercase hex) of the configuration file's bytes; null when the defaults were used.
    /// The file's path is deliberately not reported.
    pub config_digest: Option<String>,
}

/// The thresholds in effect, in days (see `docs/configuration.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ThresholdsV1 {
    pub stale_after_days: u32,
    pub expiring_within_days: u32,
    pub new_within_days: u32,
    pub max_duration_days: u32,
}

impl From<&crate::config::Thresholds> for ThresholdsV1 {
    fn from(t: &crate::config::Thresholds) -> Self {
        ThresholdsV1 {
            stale_after_days: t.stale_after_days,
            expiring_within_days: t.expiring_within_days,
            new_within_days: t.new_within_days,
            max_duration_days: t.max_duration_days,
        }
    }
}

/// `--fail-on`: the lowest severity that fails the run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FailOnV1 {
    Critical,
    High,
    Medium,
    Low,
    Info,
    /// No finding fails the run.
    Never,
}

impl FailOnV1 {
    pub fn as_str(self) -> &'static str {
        match self {
            FailOnV1::Critical => "critical",
            FailOnV1::High => "high",
            FailOnV1::Medium => "medium",
            FailOnV1::Low => "low",
            FailOnV1::Info => "info",
            FailOnV1::Never => "never",
        }
    }
}

/// Snapshot facts the pictures draw, independent of which rules fired. A list is absent when its side
/// was not audited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContextV1 {
    /// Every live GDAP relationship (partner side), soonest end first, then by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationships: Option<Vec<RelationshipContext>>,
    /// Every service-provider partner (customer side), by name then tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partners: Option<Vec<PartnerActivity>>,
}

/// A live GDAP relationship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RelationshipContext {
    pub id: String,
    pub display_name: String,
    /// The Graph status, e.g. `active`, `approvalPending`.
    pub status: String,
    pub customer_tenant_id: Option<String>,
    pub customer_name: Option<String>,
    /// When the relationship ends; null before it is approved.
    pub end_date_time: Option<DateTime<Utc>>,
    /// True when `autoExtendDuration` is a positive duration.
    pub auto_extend: bool,
}

/// A service-provider partner's last observed activity in the audited tenant's sign-in logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PartnerActivity {
    pub tenant_id: String,
    pub display_name: Option<String>,
    /// The last successful partner sign-in in the window; null when none was seen (or not read).
    pub last_successful_sign_in: Option<DateTime<Utc>>,
    /// The last sign-in attempt (successful or not) in the window; null when none was seen.
    pub last_attempt: Option<DateTime<Utc>>,
}

impl ContextV1 {
    /// Built from the snapshot; `None` when neither side's data was collected.
    pub fn from_snapshot(snapshot: &Snapshot) -> Option<ContextV1> {
        let relationships = snapshot.partner.as_ref().map(|p| {
            let mut rels: Vec<RelationshipContext> = p
                .relationships
                .iter()
                .map(|r| &r.relationship)
                .filter(|r| r.status.is_live())
                .map(|r| RelationshipContext {
                    id: name(&r.id),
                    display_name: name(&r.display_name),
                    status: name(r.status.as_str()),
                    customer_tenant_id: r.customer_tenant_id().map(name),
                    customer_name: r.customer_name().map(name),
                    end_date_time: r.end_date_time,
                    auto_extend: r.auto_extends(),
                })
                .collect();
            // Undated (not yet approved) last; ties by id, so the order never depends on Graph's.
            rels.sort_by(|a, b| {
                (a.end_date_time.is_none(), a.end_date_time, &a.id).cmp(&(
                    b.end_date_time.is_none(),
                    b.end_date_time,
                    &b.id,
                ))
            });
            rels
        });
        let partners = snapshot.customer.as_ref().map(|c| {
            let mut partners: Vec<PartnerActivity> = c
                .service_providers()
                .map(|p| {
                    let seen = c.sign_ins.partners.get(&p.tenant_id);
                    PartnerActivity {
                        tenant_id: name(&p.tenant_id),
                        display_name: p.display_name.as_deref().map(name),
                        last_successful_sign_in: seen.and_then(|s| s.last_success),
                        last_attempt: seen.and_then(|s| s.last_attempt),
                    }
                })
                .collect();
            partners.sort_by(|a, b| {
                (a.display_name.as_deref(), &a.tenant_id)
                    .cmp(&(b.display_name.as_deref(), &b.tenant_id))
            });
            partners
        });
        (relationships.is_some() || partners.is_some()).then_some(ContextV1 {
            relationships,
            partners,
        })
    }
}

/// Which tool wrote the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    /// "gdap-audit".
    pub name: String,
    /// The gdap-audit version (semver).
    pub version: String,
}

/// Counts of unsuppressed findings per severity, and of suppressed findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub info: u64,
    pub suppressed: u64,
}

impl Summary {
    /// The count for one severity.
    pub fn count(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }
    }

    /// One more finding of `severity`.
    pub fn add(&mut self, severity: Severity) {
        let n = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Info => &mut self.info,
        };
        *n = n.saturating_add(1);
    }

    /// Unsuppressed findings of every severity.
    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.info
    }
}

/// Finding severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
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
    /// Highest first.
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
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<finding::Severity> for Severity {
    fn from(s: finding::Severity) -> Self {
        match s {
            finding::Severity::Critical => Severity::Critical,
            finding::Severity::High => Severity::High,
            finding::Severity::Medium => Severity::Medium,
            finding::Severity::Low => Severity::Low,
            finding::Severity::Info => Severity::Info,
        }
    }
}

/// A side of the partner relationship.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Perspective {
    /// The MSP/CSP's own tenant (GDAP relationships read directly).
    Partner,
    /// The audited customer tenant (partner access inferred).
    Customer,
}

impl Perspective {
    pub fn as_str(self) -> &'static str {
        match self {
            Perspective::Partner => "partner",
            Perspective::Customer => "customer",
        }
    }
}

impl From<snapshot::Perspective> for Perspective {
    fn from(p: snapshot::Perspective) -> Self {
        match p {
            snapshot::Perspective::Partner => Perspective::Partner,
            snapshot::Perspective::Customer => Perspective::Customer,
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FindingV1 {
    /// Stable kebab-case rule id (the key for suppressions and ticket de-duplication).
    pub rule_id: String,
    pub severity: Severity,
    /// The rule's title.
    pub title: Cow<'static, str>,
    /// One or two sentences about this subject.
    pub message: String,
    pub subject: SubjectV1,
    /// The partner (service provider) tenant involved, when known.
    pub partner_tenant_id: Option<String>,
    /// The customer tenant involved, when known.
    pub customer_tenant_id: Option<String>,
    /// Structured, rule-specific evidence (role names, counts, dates, example records). Keys are stable
    /// per rule but not part of this schema.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub evidence: Evidence,
    /// What to do about it.
    pub remediation: Cow<'static, str>,
    /// Links and citations (MITRE ATT&CK, Microsoft guidance, CISA).
    pub references: Vec<Cow<'static, str>>,
    /// Stable across runs: a hash of rule id, audited tenant and subject id. Use it to de-duplicate
    /// tickets.
    pub fingerprint: String,
    /// When this finding was first reported, from the run history; null when unknown (first run, or
    /// `--no-history`).
    pub first_seen: Option<DateTime<Utc>>,
    /// With history: `new` (first seen in this run), `open` (open in the previous run too), `reopened`
    /// (resolved since it was last seen), or `resolved` (in `resolved` only). Absent without history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Why a `resolved` finding is gone: `fixed`, `aged_out` (a time-windowed rule's evidence left its
    /// window) or `suppressed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// A remark on the status, e.g. why an `open` finding of an earlier run was not re-checked in this
    /// one (its source could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A finding's lifecycle status (see `FindingV1::status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// First seen in this run.
    New,
    /// Open in the previous run, still present (or not re-checked: see `note`).
    Open,
    /// In the previous run, gone now although its rule was re-checked with every source it needs.
    Resolved,
    /// Seen in an earlier run, resolved since, present again.
    Reopened,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Reopened => "reopened",
        }
    }
}

impl From<lifecycle::Status> for Status {
    fn from(s: lifecycle::Status) -> Self {
        match s {
            lifecycle::Status::New => Status::New,
            lifecycle::Status::Open => Status::Open,
            lifecycle::Status::Resolved => Status::Resolved,
            lifecycle::Status::Reopened => Status::Reopened,
        }
    }
}

/// Why a finding was resolved (see `FindingV1::resolution`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The rule ran with every source it needs and no longer fires.
    Fixed,
    /// A time-windowed rule (dated log records, a "within N days" threshold, a change since the last
    /// run): its evidence left the window as the clock moved on.
    AgedOut,
    /// Hidden by a suppression in the configuration, or the rule was turned off.
    Suppressed,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Fixed => "fixed",
            Resolution::AgedOut => "aged_out",
            Resolution::Suppressed => "suppressed",
        }
    }
}

impl From<lifecycle::Resolution> for Resolution {
    fn from(r: lifecycle::Resolution) -> Self {
        match r {
            lifecycle::Resolution::Fixed => Resolution::Fixed,
            lifecycle::Resolution::AgedOut => Resolution::AgedOut,
            lifecycle::Resolution::Suppressed => Resolution::Suppressed,
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubjectV1 {
    pub kind: SubjectKind,
    /// The object's id: relationship id, partner tenant id, service principal object id, sign-in or
    /// audit event id.
    pub id: String,
    /// A human-readable name, when known.
    pub display_name: Option<String>,
}

impl SubjectV1 {
    /// The display name, or the id when there is none.
    pub fn label(&self) -> &str {
        self.display_name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&self.id)
    }
}

/// The kind of object a finding is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum SubjectKind {
    /// A GDAP delegated admin relationship (partner side).
    Relationship,
    /// A partner tenant (customer side).
    Partner,
    /// The audited tenant as a whole.
    Tenant,
    /// A service principal (application).
    ServicePrincipal,
    /// A sign-in record.
    SignIn,
    /// A directory audit event.
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

impl From<finding::SubjectKind> for SubjectKind {
    fn from(k: finding::SubjectKind) -> Self {
        match k {
            finding::SubjectKind::Relationship => SubjectKind::Relationship,
            finding::SubjectKind::Partner => SubjectKind::Partner,
            finding::SubjectKind::Tenant => SubjectKind::Tenant,
            finding::SubjectKind::ServicePrincipal => SubjectKind::ServicePrincipal,
            finding::SubjectKind::SignIn => SubjectKind::SignIn,
            finding::SubjectKind::AuditEvent => SubjectKind::AuditEvent,
        }
    }
}

impl From<&Finding> for FindingV1 {
    /// Every string is capped (`text::cap`): a hostile 50 MB display name must not make a 50 MB report.
    fn from(f: &Finding) -> Self {
        FindingV1 {
            rule_id: name(&f.rule_id),
            severity: f.severity.into(),
            title: own_text(&f.title),
            message: long(&f.message),
            subject: SubjectV1 {
                kind: f.subject.kind.into(),
                id: name(&f.subject.id),
                display_name: f.subject.display_name.as_deref().map(name),
            },
            partner_tenant_id: f.partner_tenant_id.as_deref().map(name),
            customer_tenant_id: f.customer_tenant_id.as_deref().map(name),
            // Capped when set, and shared: the report does not copy it.
            evidence: f.evidence.clone(),
            remediation: own_text(&f.remediation),
            references: f.references.iter().map(own_text).collect(),
            fingerprint: name(&f.fingerprint),
            first_seen: f.first_seen,
            status: None,
            resolution: None,
            note: None,
        }
    }
}

/// A name or an id, capped at `text::MAX_NAME` bytes.
fn name(s: &str) -> String {
    text::cap(s, text::MAX_NAME).into_owned()
}

/// Any other text, capped at `text::MAX_TEXT` bytes.
fn long(s: &str) -> String {
    text::cap(s, text::MAX_TEXT).into_owned()
}

/// A rule's own text: borrowed from its metadata (no copy); text read back from a history is capped.
#[expect(
    clippy::ptr_arg,
    reason = "borrowed or owned is the point: only owned text is capped and copied"
)]
fn own_text(s: &Cow<'static, str>) -> Cow<'static, str> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(s),
        Cow::Owned(s) => Cow::Owned(long(s)),
    }
}

/// How one Graph source fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CoverageEntry {
    /// The source id, e.g. `gdap.relationships`, `sign_ins` (see `docs/permissions.md`).
    pub source: String,
    pub status: CoverageStatus,
    /// What happened and how to fix it, in a sentence; null when collected without remark.
    pub detail: Option<String>,
    /// Rules that needed this source and therefore were not evaluated (never reported as clean).
    pub rules_not_evaluated: Vec<String>,
    /// The Graph error code, when Graph returned one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_code: Option<String>,
    /// The Graph `request-id` of the failed request, for Microsoft support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The permission to grant, when denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// Items (records) read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
}

/// How a source fared.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    /// Read in full.
    Collected,
    /// Refused (403): a permission or directory role is missing.
    Denied,
    /// The tenant lacks the licence the API needs (Entra ID P1/P2 for sign-in logs).
    Unlicensed,
    /// The endpoint or object does not exist (404).
    NotFound,
    /// Any other failure: throttled out, server errors, a malformed answer, partly read.
    Failed,
    /// Not attempted: not applicable to this perspective or credential, or turned off.
    Skipped,
}

impl CoverageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageStatus::Collected => "collected",
            CoverageStatus::Denied => "denied",
            CoverageStatus::Unlicensed => "unlicensed",
            CoverageStatus::NotFound => "not_found",
            CoverageStatus::Failed => "failed",
            CoverageStatus::Skipped => "skipped",
        }
    }
}

impl From<snapshot::CoverageStatus> for CoverageStatus {
    fn from(s: snapshot::CoverageStatus) -> Self {
        match s {
            snapshot::CoverageStatus::Collected => CoverageStatus::Collected,
            snapshot::CoverageStatus::Denied => CoverageStatus::Denied,
            snapshot::CoverageStatus::Unlicensed => CoverageStatus::Unlicensed,
            snapshot::CoverageStatus::NotFound => CoverageStatus::NotFound,
            snapshot::CoverageStatus::Failed => CoverageStatus::Failed,
            snapshot::CoverageStatus::Skipped => CoverageStatus::Skipped,
        }
    }
}

impl CoverageEntry {
    /// A hole in the audit: a source that could not be read (`denied`, `unlicensed`, `not_found`,
    /// `failed`), or one `skipped` although a rule of an audited perspective needed it. A `skipped`
    /// source no rule needed (not applicable to this run) is not a gap.
    pub fn is_gap(&self) -> bool {
        let status = match self.status {
            CoverageStatus::Collected => snapshot::CoverageStatus::Collected,
            CoverageStatus::Denied => snapshot::CoverageStatus::Denied,
            CoverageStatus::Unlicensed => snapshot::CoverageStatus::Unlicensed,
            CoverageStatus::NotFound => snapshot::CoverageStatus::NotFound,
            CoverageStatus::Failed => snapshot::CoverageStatus::Failed,
            CoverageStatus::Skipped => snapshot::CoverageStatus::Skipped,
        };
        // The one definition (snapshot::CoverageStatus::is_gap).
        status.is_gap(!self.rules_not_evaluated.is_empty())
    }
}

impl From<&CoverageOutcome> for CoverageEntry {
    fn from(o: &CoverageOutcome) -> Self {
        let c = &o.coverage;
        CoverageEntry {
            source: c.source.as_str().to_owned(),
            status: c.status.into(),
            detail: c.detail.as_deref().map(long),
            rules_not_evaluated: o.rules_not_evaluated.iter().map(|r| name(r)).collect(),
            graph_code: c.graph_code.as_deref().map(name),
            request_id: c.request_id.as_deref().map(name),
            permission: c.permission.as_deref().map(name),
            items: c.items,
        }
    }
}

/// A rule that did not run for a reason other than a missing source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NotEvaluatedEntry {
    pub rule_id: String,
    /// Why, in a sentence (e.g. "no approved role set is configured").
    pub reason: String,
}

impl From<&NotEvaluated> for NotEvaluatedEntry {
    fn from(n: &NotEvaluated) -> Self {
        NotEvaluatedEntry {
            rule_id: name(&n.rule_id),
            reason: long(&n.reason),
        }
    }
}

/// A finding hidden by a suppression: the finding object, plus the suppression's reason and expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SuppressedEntry {
    #[serde(flatten)]
    pub finding: FindingV1,
    /// The reason given in the suppression.
    pub reason: String,
    /// When the suppression lapses (the finding is then reported again); null when it does not.
    pub expires: Option<DateTime<Utc>>,
}

impl From<&SuppressedFinding> for SuppressedEntry {
    fn from(s: &SuppressedFinding) -> Self {
        SuppressedEntry {
            finding: FindingV1::from(&s.finding),
            reason: long(&s.reason),
            expires: s.expires,
        }
    }
}

/// What the report needs to know about the audited tenant and the run (the snapshot's header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHeader {
    pub tenant_id: String,
    pub tenant_name: Option<String>,
    pub as_of: DateTime<Utc>,
    pub perspectives: Vec<snapshot::Perspective>,
    /// What the audit was run with (`ReportV1::settings`), when known.
    pub settings: Option<SettingsV1>,
    /// The snapshot facts the pictures draw (`ReportV1::context`).
    pub context: Option<ContextV1>,
}

impl ReportHeader {
    /// The header of a snapshot, with its `context`; no `settings` (see [`ReportHeader::with_settings`]).
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        ReportHeader {
            tenant_id: snapshot.tenant_id.clone(),
            tenant_name: snapshot.tenant_name.clone(),
            as_of: snapshot.as_of,
            perspectives: snapshot.perspectives.clone(),
            settings: None,
            context: ContextV1::from_snapshot(snapshot),
        }
    }

    /// The run's settings: the configuration's thresholds and digest, `--fail-on`, and the snapshot's
    /// log window in whole days.
    pub fn with_settings(
        mut self,
        config: &crate::config::Config,
        fail_on: FailOnV1,
        window: &snapshot::Window,
    ) -> Self {
        let days = window
            .until
            .signed_duration_since(window.since)
            .num_days()
            .max(0);
        self.settings = Some(SettingsV1 {
            thresholds: ThresholdsV1::from(&config.thresholds),
            fail_on,
            since_days: u64::try_from(days).unwrap_or(0),
            config_digest: config.digest.as_deref().map(name),
        });
        self
    }
}

/// Builds the report. `generated_at` is passed in so that the same input gives the same bytes. The
/// evaluator's order of findings, coverage and suppressions is kept. Every string from the evaluation
/// is capped (names and ids at `text::MAX_NAME` bytes, other text at `text::MAX_TEXT`) with a
/// "… [truncated, N bytes]" marker.
pub fn build(
    header: &ReportHeader,
    evaluation: &Evaluation,
    generated_at: DateTime<Utc>,
) -> ReportV1 {
    let findings: Vec<FindingV1> = evaluation.findings.iter().map(FindingV1::from).collect();
    let suppressed: Vec<SuppressedEntry> = evaluation
        .suppressed
        .iter()
        .map(SuppressedEntry::from)
        .collect();
    let mut summary = Summary {
        suppressed: suppressed.len() as u64,
        ..Summary::default()
    };
    for f in &findings {
        summary.add(f.severity);
    }
    let mut perspectives: Vec<Perspective> = header
        .perspectives
        .iter()
        .copied()
        .map(Perspective::from)
        .collect();
    perspectives.sort();
    perspectives.dedup();
    ReportV1 {
        schema_version: SCHEMA_VERSION.to_owned(),
        tool: Tool {
            name: TOOL_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        generated_at,
        as_of: header.as_of,
        tenant_id: name(&header.tenant_id),
        tenant_name: header.tenant_name.as_deref().map(name),
        perspectives,
        summary,
        findings,
        coverage: evaluation
            .coverage
            .iter()
            .map(CoverageEntry::from)
            .collect(),
        not_evaluated: evaluation
            .not_evaluated
            .iter()
            .map(NotEvaluatedEntry::from)
            .collect(),
        rules_evaluated: evaluation.evaluated.clone(),
        resolved: None,
        changes_only: false,
        suppressed,
        warnings: evaluation.warnings.iter().map(|w| long(w)).collect(),
        settings: header.settings.clone(),
        context: header.context.clone(),
    }
}

impl ReportV1 {
    /// With history: each finding's status, the findings carried open (added to `findings`, `open`, with
    /// their note, and counted in `summary`), and the `resolved` list.
    pub fn with_lifecycle(mut self, lc: &Lifecycle) -> Self {
        for f in &mut self.findings {
            f.status = lc.status_of(&f.fingerprint).map(Status::from);
        }
        for c in &lc.carried {
            let mut f = FindingV1::from(&c.finding);
            f.status = Some(Status::Open);
            f.note = Some(long(&c.note));
            self.summary.add(f.severity);
            self.findings.push(f);
        }
        self.findings.sort_by(|a, b| {
            (
                std::cmp::Reverse(a.severity),
                &a.rule_id,
                &a.subject.id,
                &a.fingerprint,
            )
                .cmp(&(
                    std::cmp::Reverse(b.severity),
                    &b.rule_id,
                    &b.subject.id,
                    &b.fingerprint,
                ))
        });
        self.resolved = Some(
            lc.resolved
                .iter()
                .map(|r| {
                    let mut f = FindingV1::from(&r.finding);
                    f.status = Some(Status::Resolved);
                    f.resolution = Some(r.resolution.into());
                    f
                })
                .collect(),
        );
        self
    }

    /// `--changes-only`: keep only the new and reopened findings (and the `resolved` list); `summary`
    /// still counts the whole run.
    pub fn changes_only(mut self) -> Self {
        self.findings
            .retain(|f| matches!(f.status, Some(Status::New | Status::Reopened)));
        self.changes_only = true;
        self
    }

    /// The new, reopened and resolved findings: what a ticket system acts on.
    pub fn changes(&self) -> impl Iterator<Item = &FindingV1> {
        self.findings
            .iter()
            .filter(|f| matches!(f.status, Some(Status::New | Status::Reopened)))
            .chain(self.resolved.iter().flatten())
    }

    /// The holes in the audit (see `CoverageEntry::is_gap`), in coverage order.
    pub fn coverage_gaps(&self) -> impl Iterator<Item = &CoverageEntry> {
        self.coverage.iter().filter(|c| c.is_gap())
    }

    /// Sources skipped as not applicable to this run (no rule of an audited perspective needed them).
    pub fn not_applicable(&self) -> impl Iterator<Item = &CoverageEntry> {
        self.coverage
            .iter()
            .filter(|c| c.status == CoverageStatus::Skipped && !c.is_gap())
    }

    /// Sources read in full.
    pub fn collected_sources(&self) -> usize {
        self.coverage
            .iter()
            .filter(|c| c.status == CoverageStatus::Collected)
            .count()
    }

    /// True when the audit has no gap (see `CoverageEntry::is_gap`): every source was collected, or
    /// skipped without any rule of an audited perspective needing it. Exit code 3 is its negation.
    pub fn coverage_complete(&self) -> bool {
        self.coverage_gaps().next().is_none()
    }

    /// The highest severity among unsuppressed findings.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}
