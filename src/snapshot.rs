//! The snapshot: everything one collection read from Graph, typed, versioned, serializable, plus an honest
//! record (`coverage`) of what could not be read. It is the offline format: `evaluate FILE` re-runs an
//! audit from it without the network.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::azure::{ArmRoleAssignment, RegistrationAssignment, Subscription};
use crate::model::customer::{
    ConditionalAccessPolicy, CrossTenantDefault, InboundTrust, ServicePrincipal,
};
use crate::model::gdap::{
    AccessAssignment, Contract, DelegatedAdminCustomer, DelegatedAdminRelationship, MyRole,
    RelationshipOperation, RelationshipRequest,
};
use crate::model::logs::DirectoryAudit;
use crate::model::roles::RoleDefinition;
use crate::model::tenant_id;

/// Bumped on any incompatible change; `evaluate` refuses snapshots from a newer version.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Which side of the partner relationship the audited tenant is on.
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
pub enum Perspective {
    /// The MSP/CSP's own tenant: `/tenantRelationships` lists its customers.
    Partner,
    /// The audited customer tenant: partner access is inferred from several signals.
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

/// Declares `Source` once: each variant with its stable id (serde name and `as_str`), in coverage order.
macro_rules! sources {
    ($($variant:ident => $id:literal,)+) => {
        /// A Graph source a collector reads; rules declare the sources they need.
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
        pub enum Source {
            $(#[serde(rename = $id)] $variant,)+
        }

        impl Source {
            pub const ALL: &'static [Source] = &[$(Source::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Source::$variant => $id,)+
                }
            }
        }
    };
}

sources! {
    Organization => "organization",
    GdapRelationships => "gdap.relationships",
    GdapAccessAssignments => "gdap.access_assignments",
    GdapRequests => "gdap.requests",
    GdapOperations => "gdap.operations",
    GdapCustomers => "gdap.customers",
    Contracts => "contracts",
    LighthouseMyRoles => "lighthouse.my_roles",
    RoleDefinitions => "role_definitions",
    XtapPartners => "xtap.partners",
    XtapDefault => "xtap.default",
    XtapServiceProviderConstraints => "xtap.service_provider_constraints",
    TenantInformation => "tenant_information",
    RoleAssignments => "role_assignments",
    ServicePrincipals => "service_principals",
    AppRoleAssignments => "app_role_assignments",
    SignIns => "sign_ins",
    DirectoryAudits => "directory_audits",
    ConditionalAccess => "conditional_access",
    AzureDelegatedSubscriptions => "azure.delegated_subscriptions",
    AzureSubscriptions => "azure.subscriptions",
    AzureLighthouse => "azure.lighthouse",
    AzureRoleAssignments => "azure.role_assignments",
}

impl Source {
    pub fn perspective(self) -> Perspective {
        match self {
            Source::GdapRelationships
            | Source::GdapAccessAssignments
            | Source::GdapRequests
            | Source::GdapOperations
            | Source::GdapCustomers
            | Source::Contracts
            | Source::LighthouseMyRoles
            | Source::RoleDefinitions
            | Source::AzureDelegatedSubscriptions => Perspective::Partner,
            _ => Perspective::Customer,
        }
    }

    /// Read from Azure Resource Manager rather than Graph. A run that did not audit Azure at all (no ARM
    /// endpoint: `--graph-url` without `--arm-url`, or a snapshot from before Azure support) does not
    /// mention these sources, and their rules are then not applicable rather than a coverage gap.
    pub fn is_azure(self) -> bool {
        matches!(
            self,
            Source::AzureDelegatedSubscriptions
                | Source::AzureSubscriptions
                | Source::AzureLighthouse
                | Source::AzureRoleAssignments
        )
    }

    /// The Graph permission that reads it (application permission names; delegated are the same).
    pub fn permission(self) -> &'static str {
        match self {
            Source::GdapRelationships
            | Source::GdapAccessAssignments
            | Source::GdapRequests
            | Source::GdapOperations
            | Source::GdapCustomers => "DelegatedAdminRelationship.Read.All",
            Source::Contracts => "Directory.Read.All",
            Source::Organization => "Organization.Read.All",
            Source::LighthouseMyRoles => "ManagedTenants.Read.All (delegated sign-in only)",
            Source::RoleDefinitions | Source::RoleAssignments => "RoleManagement.Read.Directory",
            Source::XtapPartners | Source::XtapDefault | Source::XtapServiceProviderConstraints => {
                "Policy.Read.All"
            }
            Source::TenantInformation => "CrossTenantInformation.ReadBasic.All",
            Source::ServicePrincipals | Source::AppRoleAssignments => "Application.Read.All",
            Source::SignIns | Source::DirectoryAudits => "AuditLog.Read.All and Directory.Read.All",
            Source::ConditionalAccess => "Policy.Read.All",
            Source::AzureSubscriptions
            | Source::AzureLighthouse
            | Source::AzureRoleAssignments
            | Source::AzureDelegatedSubscriptions => {
                "Azure RBAC Reader on the subscriptions (or a management group above them)"
            }
        }
    }
}

impl Source {
    /// Built-in Entra roles that let a partner admin read this source in a customer through GDAP,
    /// least privileged first (research/graph-api.md §3.1, §4, §7.4). Empty for partner-side sources,
    /// which are read in the partner's own tenant.
    pub fn gdap_roles(self) -> &'static [&'static str] {
        match self {
            Source::SignIns | Source::DirectoryAudits => {
                &["Reports Reader", "Security Reader", "Global Reader"]
            }
            Source::RoleAssignments
            | Source::RoleDefinitions
            | Source::Organization
            | Source::TenantInformation
            | Source::ServicePrincipals
            | Source::AppRoleAssignments => &["Directory Readers", "Global Reader"],
            Source::XtapPartners
            | Source::XtapDefault
            | Source::XtapServiceProviderConstraints
            | Source::ConditionalAccess => &["Security Reader", "Global Reader"],
            Source::GdapRelationships
            | Source::GdapAccessAssignments
            | Source::GdapRequests
            | Source::GdapOperations
            | Source::GdapCustomers
            | Source::Contracts
            | Source::LighthouseMyRoles => &[],
            // Azure is governed by Azure RBAC (Reader on the subscriptions), not by GDAP's Entra roles.
            Source::AzureSubscriptions
            | Source::AzureLighthouse
            | Source::AzureRoleAssignments
            | Source::AzureDelegatedSubscriptions => &[],
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a source fared.
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
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    Collected,
    /// 403: a permission or role is missing.
    Denied,
    /// The tenant lacks the licence the API needs (Entra ID P1/P2 for sign-in logs).
    Unlicensed,
    NotFound,
    /// Any other failure: throttled out, 5xx, a malformed answer.
    Failed,
    /// Not attempted: not applicable to this perspective or credential, or turned off.
    Skipped,
}

impl CoverageStatus {
    pub fn is_complete(self) -> bool {
        matches!(self, CoverageStatus::Collected)
    }

    /// The one definition of a coverage gap (a hole in the audit), used by the report, the exit codes of
    /// `scan`, `evaluate` and `collect`, and `history list`: a source that could not be read (`denied`,
    /// `unlicensed`, `not_found`, `failed`) is a gap; a `skipped` one is a gap only when
    /// `needed_by_a_rule` (an enabled rule of an audited perspective needed it); `collected` never is.
    pub fn is_gap(self, needed_by_a_rule: bool) -> bool {
        match self {
            CoverageStatus::Collected => false,
            CoverageStatus::Skipped => needed_by_a_rule,
            CoverageStatus::Denied
            | CoverageStatus::Unlicensed
            | CoverageStatus::NotFound
            | CoverageStatus::Failed => true,
        }
    }
}

/// One source's outcome. A source that was partly read (e.g. 3 of 40 relationships' assignments failed)
/// is `failed` with the detail naming what is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub source: Source,
    pub status: CoverageStatus,
    /// What happened and how to fix it, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The permission to grant when denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// Items read (records for logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
}

/// The log lookback window `[since, until]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// A relationship and what hangs off it. `None` means "not collected" (see coverage), `Some(vec![])` none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipRecord {
    pub relationship: DelegatedAdminRelationship,
    #[serde(default)]
    pub access_assignments: Option<Vec<AccessAssignment>>,
    #[serde(default)]
    pub requests: Option<Vec<RelationshipRequest>>,
    #[serde(default)]
    pub operations: Option<Vec<RelationshipOperation>>,
}

/// The partner perspective.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerData {
    pub relationships: Vec<RelationshipRecord>,
    #[serde(default)]
    pub customers: Vec<DelegatedAdminCustomer>,
    #[serde(default)]
    pub contracts: Vec<Contract>,
    #[serde(default)]
    pub lighthouse_roles: Vec<MyRole>,
    /// From beta (with `isPrivileged`) when allowed, else v1.0, else empty (built-in table used).
    #[serde(default)]
    pub role_definitions: Vec<RoleDefinition>,
    /// Customer subscriptions delegated to this tenant through Azure Lighthouse, with the delegations this
    /// tenant manages. `None` when Azure was not audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureData>,
}

/// A cross-tenant access partner, with its name and service-provider constraints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRecord {
    #[serde(deserialize_with = "tenant_id::de")]
    pub tenant_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub default_domain_name: Option<String>,
    pub is_service_provider: bool,
    #[serde(default)]
    pub inbound_trust: Option<InboundTrust>,
    /// `allowedRoleTemplateIds` (lower-case): `Some(vec![])` when Graph answered 404 (none), `None` when
    /// they could not be read.
    #[serde(default)]
    pub allowed_roles: Option<Vec<String>>,
    #[serde(default)]
    pub constraints_modified: Option<DateTime<Utc>>,
}

/// A directory role held by a principal of another tenant, attributed to its home tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignRoleAssignment {
    pub assignment_id: String,
    /// Role template id, lower-case.
    pub role_id: String,
    pub principal_id: String,
    /// `user`, `group`, `servicePrincipal`, `directoryObjectPartnerReference`, or `unknown`.
    pub principal_type: String,
    #[serde(default)]
    pub principal_name: Option<String>,
    /// The principal's home tenant.
    #[serde(deserialize_with = "tenant_id::de")]
    pub home_tenant_id: String,
    #[serde(default)]
    pub directory_scope_id: Option<String>,
}

/// A service principal owned by another tenant (or a GDAP first-party app), with the app roles it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePrincipalRecord {
    pub service_principal: ServicePrincipal,
    /// Permission names it holds as app roles, e.g. `Microsoft Graph: Directory.ReadWrite.All`.
    /// `None` when its assignments could not be read.
    #[serde(default)]
    pub app_roles: Option<Vec<AppRoleGrant>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppRoleGrant {
    /// The resource application, e.g. `Microsoft Graph`.
    pub resource: String,
    /// The resource's app id when known (Microsoft Graph is `00000003-0000-0000-c000-000000000000`).
    #[serde(default)]
    pub resource_app_id: Option<String>,
    /// The permission value, e.g. `Directory.ReadWrite.All`, or the app role id when unresolved.
    pub permission: String,
}

/// A sign-in kept as evidence (a handful per partner).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInExample {
    pub id: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub authentication_requirement: Option<String>,
}

/// What the sign-in log says about one partner tenant's access. Bounded size whatever the log volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerSignIns {
    pub total: u64,
    pub successes: u64,
    pub failures: u64,
    #[serde(default)]
    pub first_success: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_attempt: Option<DateTime<Utc>>,
    /// Successful sign-ins whose `authenticationRequirement` was single-factor.
    pub successes_without_mfa: u64,
    /// Successful sign-ins per country (ISO code; `unknown` when absent).
    #[serde(default)]
    pub countries: BTreeMap<String, u64>,
    /// Successful sign-ins per application (at most `MAX_APPS`, the rest under `(other)`).
    #[serde(default)]
    pub apps: BTreeMap<String, u64>,
    /// `crossTenantAccessType` values seen, unknown members included (e.g. `passthrough`).
    #[serde(default)]
    pub access_types: BTreeMap<String, u64>,
    /// The most recent successful sign-ins.
    #[serde(default)]
    pub examples: Vec<SignInExample>,
    /// The most recent successful single-factor sign-ins.
    #[serde(default)]
    pub single_factor_examples: Vec<SignInExample>,
    /// The most recent success per country.
    #[serde(default)]
    pub country_examples: BTreeMap<String, SignInExample>,
}

/// Sign-in log reduced to per-partner aggregates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInSummary {
    /// Records read (all kinds), for coverage and benchmarks.
    pub scanned: u64,
    /// Keyed by the partner's (home) tenant id, normalised ([`tenant_id::normalise`]).
    #[serde(deserialize_with = "tenant_id::de_keys")]
    pub partners: BTreeMap<String, PartnerSignIns>,
    /// The newest `createdDateTime` read: the next incremental run starts here.
    #[serde(default)]
    pub watermark: Option<DateTime<Utc>>,
}

/// Directory audit events worth keeping: initiated by a partner user, or touching cross-tenant access
/// settings and partner constraints. Bounded (`MAX_AUDIT_EVENTS`), with a count of what was dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSummary {
    pub scanned: u64,
    pub events: Vec<DirectoryAudit>,
    #[serde(default)]
    pub dropped: u64,
    #[serde(default)]
    pub watermark: Option<DateTime<Utc>>,
}

/// The customer perspective.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerData {
    /// Every cross-tenant access partner entry (service providers and others).
    pub partners: Vec<PartnerRecord>,
    #[serde(default)]
    pub default_policy: Option<CrossTenantDefault>,
    /// Directory roles held by principals of other tenants.
    #[serde(default)]
    pub foreign_role_assignments: Vec<ForeignRoleAssignment>,
    /// Service principals owned by other tenants, and the GDAP first-party apps.
    #[serde(default)]
    pub service_principals: Vec<ServicePrincipalRecord>,
    #[serde(default)]
    pub sign_ins: SignInSummary,
    #[serde(default)]
    pub audits: AuditSummary,
    #[serde(default)]
    pub conditional_access: Vec<ConditionalAccessPolicy>,
    /// Role definitions for names and `isPrivileged` (may be empty).
    #[serde(default)]
    pub role_definitions: Vec<RoleDefinition>,
    /// The tenant's Azure subscriptions, their Lighthouse delegations and foreign-principal role
    /// assignments. `None` when Azure was not audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureData>,
}

/// Azure subscriptions and what partners hold in them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureData {
    pub subscriptions: Vec<AzureSubscriptionRecord>,
}

/// One subscription. `None` means "not read" (see coverage), `Some(vec![])` none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureSubscriptionRecord {
    pub subscription: Subscription,
    /// Azure Lighthouse registration assignments (definitions expanded). Partner side: only those this
    /// tenant manages.
    #[serde(default)]
    pub delegations: Option<Vec<RegistrationAssignment>>,
    /// Role assignments at the subscription scope and above (management groups) held by principals of
    /// other tenants (`ForeignGroup`). Customer side only.
    #[serde(default)]
    pub foreign_role_assignments: Option<Vec<ArmRoleAssignment>>,
}

impl AzureSubscriptionRecord {
    /// The tenant on the other side of one of this subscription's delegations (empty when unknown),
    /// and its name when ARM gave one: the managing tenant on the customer side, the customer
    /// tenant on the partner side.
    pub fn counterpart(
        &self,
        a: &RegistrationAssignment,
        side: Perspective,
    ) -> (String, Option<String>) {
        let d = a.definition();
        match side {
            Perspective::Customer => (
                a.managed_by().unwrap_or_default(),
                d.and_then(|d| d.managed_by_tenant_name.clone()),
            ),
            Perspective::Partner => (
                self.subscription
                    .tenant_id
                    .clone()
                    .or_else(|| d.and_then(|d| d.managee_tenant_id.clone()))
                    .unwrap_or_default(),
                d.and_then(|d| d.managee_tenant_name.clone()),
            ),
        }
    }
}

impl PartnerRecord {
    /// The entry Microsoft adds while a support case is open: the Microsoft Support tenant, or an entry
    /// allowed the Microsoft 365 Support Engineer role (which only Microsoft Support is allowed).
    pub fn is_microsoft_support(&self) -> bool {
        use crate::model::customer::{MICROSOFT_SUPPORT_ROLE, MICROSOFT_SUPPORT_TENANT};
        self.tenant_id == MICROSOFT_SUPPORT_TENANT
            || self.allowed_roles.as_ref().is_some_and(|roles| {
                roles
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(MICROSOFT_SUPPORT_ROLE))
            })
    }
}

impl CustomerData {
    /// The entry of `tenant_id` (normalised, as the entries are).
    pub fn partner(&self, tenant_id: &str) -> Option<&PartnerRecord> {
        self.partners.iter().find(|p| p.tenant_id == tenant_id)
    }

    pub fn service_providers(&self) -> impl Iterator<Item = &PartnerRecord> {
        self.partners.iter().filter(|p| p.is_service_provider)
    }
}

/// Everything one run collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub snapshot_version: u32,
    pub tool_version: String,
    /// The audited tenant.
    #[serde(deserialize_with = "tenant_id::de")]
    pub tenant_id: String,
    #[serde(default)]
    pub tenant_name: Option<String>,
    pub collected_at: DateTime<Utc>,
    /// The evaluation clock (`--as-of`, default now).
    pub as_of: DateTime<Utc>,
    pub window: Window,
    pub perspectives: Vec<Perspective>,
    #[serde(default)]
    pub partner: Option<PartnerData>,
    #[serde(default)]
    pub customer: Option<CustomerData>,
    pub coverage: Vec<Coverage>,
    /// In a fleet run (`gdap-audit fleet`), what the auditing partner's own side says of this
    /// customer, for the cross-check rule (`partner-view-mismatch`). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetView>,
}

/// The auditing partner's side of a customer in a fleet run: its live GDAP relationships there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetView {
    /// The partner tenant running the fleet audit (lower-case GUID).
    #[serde(deserialize_with = "tenant_id::de")]
    pub partner_tenant_id: String,
    #[serde(default)]
    pub partner_name: Option<String>,
    /// Its live relationships with this customer (id, display name).
    pub relationships: Vec<FleetRelationship>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetRelationship {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Role template ids (lower-case) the relationship grants.
    pub roles: Vec<String>,
}

/// Why a snapshot file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a gdap-audit snapshot: {detail}")]
    Invalid { path: String, detail: String },
    #[error(
        "{path} is snapshot version {found}, newer than this gdap-audit understands ({SNAPSHOT_VERSION}); upgrade gdap-audit"
    )]
    TooNew { path: String, found: u32 },
}

impl Snapshot {
    pub fn coverage_of(&self, source: Source) -> Option<&Coverage> {
        self.coverage.iter().find(|c| c.source == source)
    }

    /// Collected in full (a rule needing it may run).
    pub fn has(&self, source: Source) -> bool {
        self.coverage_of(source)
            .is_some_and(|c| c.status.is_complete())
    }

    pub fn read(path: &Path) -> Result<Snapshot, SnapshotError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_slice(&bytes, &shown)
    }

    pub fn from_slice(bytes: &[u8], shown: &str) -> Result<Snapshot, SnapshotError> {
        #[derive(Deserialize)]
        struct Header {
            snapshot_version: u32,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|e| SnapshotError::Invalid {
            path: shown.to_owned(),
            detail: e.to_string(),
        })?;
        if header.snapshot_version > SNAPSHOT_VERSION {
            return Err(SnapshotError::TooNew {
                path: shown.to_owned(),
                found: header.snapshot_version,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| SnapshotError::Invalid {
            path: shown.to_owned(),
            detail: e.to_string(),
        })
    }

    #[expect(
        clippy::expect_used,
        reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
    )]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("snapshots always serialize")
    }

    /// [`Snapshot::to_json`] streamed into `out` (a large partner's snapshot is tens of MB of text).
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_are_the_serialized_names_in_coverage_order() {
        for (i, s) in Source::ALL.iter().enumerate() {
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert!(i == 0 || Source::ALL[i - 1] < *s);
        }
        assert_eq!(Source::ALL.len(), 23);
    }

    mod props {
        use super::*;
        use chrono::TimeZone;
        use proptest::prelude::*;

        /// A snapshot with both perspectives and a record in most lists, serialized, to mutate.
        fn sample() -> String {
            let t = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
            let mut sign_ins = SignInSummary::default();
            sign_ins.partners.insert(
                "p".into(),
                PartnerSignIns {
                    examples: vec![SignInExample {
                        at: t,
                        ..SignInExample::default()
                    }],
                    ..PartnerSignIns::default()
                },
            );
            Snapshot {
                snapshot_version: SNAPSHOT_VERSION,
                tool_version: "0.0.0".into(),
                tenant_id: "11111111-1111-4111-8111-111111111111".into(),
                tenant_name: Some("Contoso".into()),
                collected_at: t,
                as_of: t,
                window: Window { since: t, until: t },
                perspectives: vec![Perspective::Partner, Perspective::Customer],
                partner: Some(PartnerData {
                    relationships: vec![RelationshipRecord::default()],
                    ..PartnerData::default()
                }),
                customer: Some(CustomerData {
                    partners: vec![PartnerRecord::default()],
                    foreign_role_assignments: vec![ForeignRoleAssignment::default()],
                    service_principals: vec![ServicePrincipalRecord::default()],
                    sign_ins,
                    ..CustomerData::default()
                }),
                fleet: None,
                coverage: vec![Coverage {
                    source: Source::ALL[0],
                    status: CoverageStatus::Collected,
                    detail: None,
                    graph_code: None,
                    request_id: None,
                    permission: None,
                    items: Some(1),
                }],
            }
            .to_json()
        }

        const TOKENS: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            "\"",
            ",",
            ":",
            "null",
            "-1",
            "1e400",
            "18446744073709551616",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "\"x\"",
            "[]",
            "{}",
            "\u{202e}",
            "é",
            "99",
            "\"9999-99-99T99:99:99Z\"",
            "true",
        ];

        fn mutated() -> impl Strategy<Value = Vec<u8>> {
            let text = sample();
            let len = text.len();
            let edit = (0..len, 0u8..3, prop::sample::select(TOKENS), 0usize..60);
            proptest::collection::vec(edit, 1..5).prop_map(move |edits| {
                let mut text = text.clone();
                for (at, op, token, n) in edits {
                    let at = floor(&text, at);
                    let end = floor(&text, at.saturating_add(n));
                    match op {
                        0 => text.insert_str(at, token),
                        1 => text.replace_range(at..end, ""),
                        _ => text.replace_range(at..end, token),
                    }
                }
                text.into_bytes()
            })
        }

        fn floor(text: &str, i: usize) -> usize {
            let mut i = i.min(text.len());
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        }

        fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
            match Snapshot::from_slice(bytes, "s.json") {
                Ok(s) => {
                    let again = Snapshot::from_slice(s.to_json().as_bytes(), "s.json").ok();
                    prop_assert_eq!(again, Some(s));
                }
                Err(e) => {
                    let shown = e.to_string();
                    prop_assert!(shown.contains("s.json"), "{shown}");
                    if let SnapshotError::Invalid { detail, .. } = &e {
                        prop_assert!(detail.contains(" line "), "no position: {shown}");
                    }
                }
            }
            Ok(())
        }

        #[test]
        fn the_sample_parses() {
            assert!(Snapshot::from_slice(sample().as_bytes(), "s.json").is_ok());
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// A mutated snapshot file parses, or is refused with an error naming the file and the
            /// position; it never panics.
            #[test]
            fn mutated_snapshots_parse_or_are_refused(bytes in mutated()) {
                check(&bytes)?;
            }

            #[test]
            fn arbitrary_bytes_are_refused_clearly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                check(&bytes)?;
            }
        }
    }
}
