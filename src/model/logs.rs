//! Sign-ins (beta) and directory audits, only the fields the aggregates keep.

use serde::{Deserialize, Serialize};

use super::gdap::null_as_default;
use super::{Timestamp, tenant_id};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInStatus {
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInLocation {
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub country_or_region: Option<String>,
}

/// A beta `signIn`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    #[serde(default)]
    pub id: String,
    pub created_date_time: Timestamp,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub app_display_name: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub location: Option<SignInLocation>,
    #[serde(default)]
    pub status: Option<SignInStatus>,
    /// Flags value: `serviceProvider`, `b2bCollaboration,serviceProvider`, `passthrough`, ...
    #[serde(default)]
    pub cross_tenant_access_type: Option<String>,
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub home_tenant_id: Option<String>,
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub resource_tenant_id: Option<String>,
    /// `singleFactorAuthentication` or `multiFactorAuthentication`.
    #[serde(default)]
    pub authentication_requirement: Option<String>,
    #[serde(default)]
    pub is_interactive: Option<bool>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sign_in_event_types: Vec<String>,
}

impl SignIn {
    pub fn succeeded(&self) -> bool {
        self.status.as_ref().and_then(|s| s.error_code).unwrap_or(0) == 0
    }

    /// `crossTenantAccessType` contains the `serviceProvider` member (it is a flags value).
    pub fn is_service_provider_access(&self) -> bool {
        self.cross_tenant_access_type.as_deref().is_some_and(|t| {
            t.split(',')
                .any(|m| m.trim().eq_ignore_ascii_case("serviceProvider"))
        })
    }

    pub fn single_factor(&self) -> bool {
        self.authentication_requirement
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("singleFactorAuthentication"))
    }

    pub fn country(&self) -> Option<&str> {
        self.location
            .as_ref()
            .and_then(|l| l.country_or_region.as_deref())
            .filter(|c| !c.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditUser {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub home_tenant_id: Option<String>,
    #[serde(default)]
    pub home_tenant_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditApp {
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub service_principal_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditInitiator {
    #[serde(default)]
    pub user: Option<AuditUser>,
    #[serde(default)]
    pub app: Option<AuditApp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditTarget {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
}

/// `directoryAudit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryAudit {
    #[serde(default)]
    pub id: String,
    pub activity_date_time: Timestamp,
    #[serde(default)]
    pub activity_display_name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub operation_type: Option<String>,
    #[serde(default)]
    pub initiated_by: Option<AuditInitiator>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub target_resources: Vec<AuditTarget>,
}

impl DirectoryAudit {
    pub fn initiator_home_tenant(&self) -> Option<&str> {
        self.initiated_by
            .as_ref()
            .and_then(|i| i.user.as_ref())
            .and_then(|u| u.home_tenant_id.as_deref())
            .filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_type_is_a_flags_value() {
        let mut s: SignIn = serde_json::from_str(
            r#"{"createdDateTime":"2026-08-15T19:15:41.1234567Z","crossTenantAccessType":"b2bCollaboration,serviceProvider","status":{"errorCode":0}}"#,
        )
        .unwrap();
        assert!(s.is_service_provider_access() && s.succeeded());
        s.cross_tenant_access_type = Some("passthrough".into());
        assert!(!s.is_service_provider_access());
    }

    /// Graph sends upper-case GUIDs in places: tenant ids are normalised as they are decoded, anything
    /// else is kept (trimmed, lower-cased).
    #[test]
    fn tenant_ids_are_normalised_when_decoded() {
        let s: SignIn = serde_json::from_str(
            r#"{"createdDateTime":"2026-08-15T19:15:41Z","homeTenantId":"8777B240-C6F0-4469-9E98-A3205431B836",
                "resourceTenantId":" {52EAAD04-13A2-4A2F-9CE8-93A294FADF36}","userId":"AB-CD"}"#,
        )
        .unwrap();
        assert_eq!(
            s.home_tenant_id.as_deref(),
            Some("8777b240-c6f0-4469-9e98-a3205431b836")
        );
        assert_eq!(
            s.resource_tenant_id.as_deref(),
            Some("52eaad04-13a2-4a2f-9ce8-93a294fadf36")
        );
        // Not a tenant id: left as Graph sent it.
        assert_eq!(s.user_id.as_deref(), Some("AB-CD"));
        let a: DirectoryAudit = serde_json::from_str(
            r#"{"activityDateTime":"2026-08-15T19:15:41Z","initiatedBy":{"user":{"homeTenantId":"Partner.Example"}}}"#,
        )
        .unwrap();
        assert_eq!(a.initiator_home_tenant(), Some("partner.example"));
        let null: SignIn = serde_json::from_str(
            r#"{"createdDateTime":"2026-08-15T19:15:41Z","homeTenantId":null}"#,
        )
        .unwrap();
        assert_eq!(null.home_tenant_id, None);
    }
}
