//! Partner side: GDAP relationships and what hangs off them, legacy DAP contracts, Lighthouse roles.

use serde::{Deserialize, Serialize};

use super::{Timestamp, tenant_id};

/// `delegatedAdminRelationshipStatus`, with unknown members kept.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RelationshipStatus {
    Activating,
    Active,
    ApprovalPending,
    Approved,
    Created,
    Expired,
    Expiring,
    Terminated,
    Terminating,
    TerminationRequested,
    /// `unknownFutureValue` or a member this version does not know; never treated as live.
    Unknown(String),
}

impl RelationshipStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Activating => "activating",
            Self::Active => "active",
            Self::ApprovalPending => "approvalPending",
            Self::Approved => "approved",
            Self::Created => "created",
            Self::Expired => "expired",
            Self::Expiring => "expiring",
            Self::Terminated => "terminated",
            Self::Terminating => "terminating",
            Self::TerminationRequested => "terminationRequested",
            Self::Unknown(s) => s,
        }
    }

    /// Live relationships can raise findings (RULES.md "live relationship").
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Self::Active
                | Self::Activating
                | Self::Approved
                | Self::ApprovalPending
                | Self::Created
                | Self::Expiring
                | Self::TerminationRequested
        )
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Expired | Self::Terminated | Self::Terminating)
    }
}

impl From<String> for RelationshipStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "activating" => Self::Activating,
            "active" => Self::Active,
            "approvalPending" => Self::ApprovalPending,
            "approved" => Self::Approved,
            "created" => Self::Created,
            "expired" => Self::Expired,
            "expiring" => Self::Expiring,
            "terminated" => Self::Terminated,
            "terminating" => Self::Terminating,
            "terminationRequested" => Self::TerminationRequested,
            _ => Self::Unknown(s),
        }
    }
}

impl From<RelationshipStatus> for String {
    fn from(s: RelationshipStatus) -> String {
        s.as_str().to_owned()
    }
}

impl Default for RelationshipStatus {
    fn default() -> Self {
        Self::Unknown(String::new())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerParticipant {
    #[serde(default, deserialize_with = "tenant_id::de")]
    pub tenant_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedRole {
    #[serde(default)]
    pub role_definition_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessDetails {
    #[serde(default, deserialize_with = "null_as_default")]
    pub unified_roles: Vec<UnifiedRole>,
}

impl AccessDetails {
    /// Role template ids, lower-cased, deduplicated, sorted.
    pub fn role_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .unified_roles
            .iter()
            .map(|r| r.role_definition_id.to_ascii_lowercase())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// `delegatedAdminRelationship`, or its `resellerDelegatedAdminRelationship` subtype (extra fields set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationship {
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub customer: Option<CustomerParticipant>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub access_details: AccessDetails,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: RelationshipStatus,
    #[serde(default)]
    pub auto_extend_duration: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub activated_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
    #[serde(default)]
    pub end_date_time: Option<Timestamp>,
    /// Reseller relationships: the indirect provider that created it.
    #[serde(
        default,
        deserialize_with = "tenant_id::de_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub indirect_provider_tenant_id: Option<String>,
    /// Reseller relationships: the reseller has not reviewed it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_partner_consent_pending: Option<bool>,
}

impl DelegatedAdminRelationship {
    pub fn customer_tenant_id(&self) -> Option<&str> {
        self.customer
            .as_ref()
            .map(|c| c.tenant_id.as_str())
            .filter(|t| !t.is_empty())
    }

    pub fn customer_name(&self) -> Option<&str> {
        self.customer
            .as_ref()
            .and_then(|c| c.display_name.as_deref())
    }

    pub fn is_reseller(&self) -> bool {
        self.indirect_provider_tenant_id.is_some()
            || self
                .odata_type
                .as_deref()
                .is_some_and(|t| t.ends_with("resellerDelegatedAdminRelationship"))
    }

    pub fn duration_days(&self) -> Option<i64> {
        self.duration.as_deref().and_then(super::duration::iso_days)
    }

    /// `autoExtendDuration` is a positive duration (Graph supports only `P180D`).
    pub fn auto_extends(&self) -> bool {
        self.auto_extend_duration
            .as_deref()
            .and_then(super::duration::iso_days)
            .is_some_and(|d| d > 0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessContainer {
    #[serde(default)]
    pub access_container_id: String,
    #[serde(default)]
    pub access_container_type: Option<String>,
}

/// `delegatedAdminAccessAssignment`: a partner security group given some of the relationship's roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessAssignment {
    pub id: String,
    /// `pending`, `active`, `deleting`, `deleted`, `error`, or an unknown member (kept).
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub access_container: Option<AccessContainer>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub access_details: AccessDetails,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
}

/// `delegatedAdminRelationshipRequest` (lockForApproval, approve, terminate, reject...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelationshipRequest {
    pub id: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
}

/// `delegatedAdminRelationshipOperation`; its `data` string is not kept (it can be large).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelationshipOperation {
    pub id: String,
    #[serde(default)]
    pub operation_type: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminCustomer {
    #[serde(default)]
    pub id: String,
    #[serde(default, deserialize_with = "tenant_id::de")]
    pub tenant_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `/contracts`: a partner's commercial relationships (where legacy DAP lived).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub contract_type: Option<String>,
    #[serde(default, deserialize_with = "tenant_id::de")]
    pub customer_id: String,
    #[serde(default)]
    pub default_domain_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LighthouseRole {
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LighthouseAssignment {
    /// `delegatedAdminPrivileges` (DAP), `granularDelegatedAdminPrivileges` (GDAP), or a variant spelling.
    #[serde(default)]
    pub assignment_type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<LighthouseRole>,
}

impl LighthouseAssignment {
    /// Legacy DAP, tolerating the localized spelling `delegatedAccessPrivelege`.
    pub fn is_dap(&self) -> bool {
        let t = self.assignment_type.to_ascii_lowercase();
        t.starts_with("delegatedadmin") || t.starts_with("delegatedaccess")
    }
}

/// Lighthouse `managedTenants/myRoles` (beta, delegated only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyRole {
    #[serde(default, deserialize_with = "tenant_id::de")]
    pub tenant_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub assignments: Vec<LighthouseAssignment>,
}

/// Treat an explicit JSON `null` like a missing field.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reseller_and_unknown_members_parse() {
        let json = r##"{"@odata.type":"#microsoft.graph.resellerDelegatedAdminRelationship","id":"r1","displayName":"x",
            "duration":"P180D","customer":{"tenantId":"c1","displayName":"C"},"accessDetails":{"unifiedRoles":[{"roleDefinitionId":"F023FD81-A637-4B56-95FD-791AC0226033"}]},
            "status":"somethingNew","autoExtendDuration":"P180D","createdDateTime":"2026-08-01T09:00:00.0000000Z",
            "activatedDateTime":null,"endDateTime":null,"isPartnerConsentPending":true,"indirectProviderTenantId":"p"}"##;
        let r: DelegatedAdminRelationship = serde_json::from_str(json).unwrap();
        assert!(r.is_reseller());
        assert!(r.auto_extends());
        assert_eq!(r.status, RelationshipStatus::Unknown("somethingNew".into()));
        assert!(!r.status.is_live() && !r.status.is_terminal());
        assert_eq!(
            r.access_details.role_ids(),
            vec!["f023fd81-a637-4b56-95fd-791ac0226033"]
        );
        let round: DelegatedAdminRelationship =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(round, r);
    }

    #[test]
    fn missing_and_null_fields_default() {
        let r: DelegatedAdminRelationship =
            serde_json::from_str(r#"{"id":"x","accessDetails":null,"status":null}"#).unwrap();
        assert!(r.access_details.unified_roles.is_empty());
        assert!(!r.status.is_live());
        assert!(!r.auto_extends());
    }
}
