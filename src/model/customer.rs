//! Customer side: cross-tenant access partners, role assignments, service principals, Conditional Access.

use serde::{Deserialize, Serialize};

/// The tenant that owns Microsoft's first-party apps (GDAP service principals included).
pub const MICROSOFT_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// "Microsoft 365 Support Engineer": a role only Microsoft Support is allowed through service-provider
/// constraints (research §2.7), so it marks the support-case entry in cross-tenant access settings.
pub const MICROSOFT_SUPPORT_ROLE: &str = "00cf5c54-4693-4f59-a0ac-ab79ef0a974d";

/// The Microsoft Support tenant (Office365ConciergeSupport) Microsoft adds as a service provider while
/// a support case is open (research §2.7 and the M365 support-case documentation).
pub const MICROSOFT_SUPPORT_TENANT: &str = "b4c546a4-7dac-46a6-a7dd-ed822a11efd3";

/// The roles Microsoft Support's lock-out (account recovery) flow also allows, beyond
/// [`MICROSOFT_SUPPORT_ROLE`] (research §2.7): Domain Name Administrator, Privileged Authentication
/// Administrator, Privileged Role Administrator, Authentication Policy Administrator.
pub const MICROSOFT_SUPPORT_LOCKOUT_ROLES: [&str; 4] = [
    "8329153b-31d0-4727-b945-745eb3bc5f31",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "0526716b-113d-4c15-b2c8-68e3c22b9f80",
];

use super::gdap::null_as_default;
use super::{Timestamp, tenant_id};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundTrust {
    #[serde(default)]
    pub is_mfa_accepted: Option<bool>,
    #[serde(default)]
    pub is_compliant_device_accepted: Option<bool>,
    #[serde(default, rename = "isHybridAzureADJoinedDeviceAccepted")]
    pub is_hybrid_azure_ad_joined_device_accepted: Option<bool>,
}

/// `crossTenantAccessPolicyConfigurationPartner`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantPartner {
    #[serde(default, deserialize_with = "tenant_id::de")]
    pub tenant_id: String,
    #[serde(default)]
    pub is_service_provider: Option<bool>,
    #[serde(default)]
    pub is_in_multi_tenant_organization: Option<bool>,
    #[serde(default)]
    pub inbound_trust: Option<InboundTrust>,
}

/// `crossTenantAccessPolicyConfigurationDefault` (only what the rules read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantDefault {
    #[serde(default)]
    pub inbound_trust: Option<InboundTrust>,
}

/// `delegatedAdminServiceProviderConstraints`: the roles a service provider may hold in this tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConstraints {
    #[serde(default, deserialize_with = "null_as_default")]
    pub allowed_role_template_ids: Vec<String>,
    #[serde(default)]
    pub created_date_time: Option<Timestamp>,
    #[serde(default)]
    pub last_modified_date_time: Option<Timestamp>,
}

/// `findTenantInformationByTenantId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantInformation {
    #[serde(default, deserialize_with = "tenant_id::de")]
    pub tenant_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub default_domain_name: Option<String>,
}

/// A directory object as Graph returns it inside `$expand=principal` or from `getByIds`: users, groups,
/// service principals and `directoryObjectPartnerReference`s, plus types we do not know (kept by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryObject {
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// `directoryObjectPartnerReference`: the partner tenant the object lives in.
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub external_partner_tenant_id: Option<String>,
    /// Service principals: the tenant that registered the app.
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub app_owner_organization_id: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
}

impl DirectoryObject {
    /// Short type name: `user`, `group`, `servicePrincipal`, `directoryObjectPartnerReference`, ...
    pub fn kind(&self) -> &str {
        self.odata_type
            .as_deref()
            .map(|t| t.trim_start_matches("#microsoft.graph."))
            .unwrap_or("unknown")
    }
}

/// `unifiedRoleAssignment` with its expanded principal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub principal_id: String,
    #[serde(default)]
    pub role_definition_id: String,
    #[serde(default)]
    pub directory_scope_id: Option<String>,
    /// Undocumented: the home tenant of the principal (research §2.4).
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub principal_organization_id: Option<String>,
    #[serde(default)]
    pub principal: Option<DirectoryObject>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub app_owner_organization_id: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub service_principal_type: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub app_roles: Vec<AppRole>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub app_role_id: String,
    #[serde(default)]
    pub resource_id: String,
    #[serde(default)]
    pub resource_display_name: Option<String>,
    #[serde(default)]
    pub principal_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalTenants {
    #[serde(default)]
    pub membership_kind: Option<String>,
    /// Tenant ids.
    #[serde(default, deserialize_with = "tenant_id::de_list")]
    pub members: Vec<String>,
}

/// `conditionalAccessGuestsOrExternalUsers`; `guestOrExternalUserTypes` is a comma-joined flags value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestsOrExternalUsers {
    #[serde(default)]
    pub guest_or_external_user_types: Option<String>,
    #[serde(default)]
    pub external_tenants: Option<ExternalTenants>,
}

impl GuestsOrExternalUsers {
    pub fn includes_service_providers(&self) -> bool {
        self.guest_or_external_user_types
            .as_deref()
            .is_some_and(|t| {
                t.split(',')
                    .any(|m| m.trim().eq_ignore_ascii_case("serviceProvider"))
            })
    }

    /// Whether this covers every external tenant, or the given one (normalised, as `members` are).
    pub fn covers_tenant(&self, tenant: &str) -> bool {
        match &self.external_tenants {
            None => true,
            Some(t) => {
                t.membership_kind
                    .as_deref()
                    .is_none_or(|k| k.eq_ignore_ascii_case("all"))
                    || t.members.iter().any(|m| m == tenant)
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalAccessUsers {
    #[serde(default, deserialize_with = "null_as_default")]
    pub include_users: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub exclude_users: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub include_groups: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub exclude_groups: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub include_roles: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub exclude_roles: Vec<String>,
    #[serde(default)]
    pub include_guests_or_external_users: Option<GuestsOrExternalUsers>,
    #[serde(default)]
    pub exclude_guests_or_external_users: Option<GuestsOrExternalUsers>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalAccessApplications {
    #[serde(default, deserialize_with = "null_as_default")]
    pub include_applications: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub exclude_applications: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalAccessConditions {
    #[serde(default)]
    pub users: Option<ConditionalAccessUsers>,
    #[serde(default)]
    pub applications: Option<ConditionalAccessApplications>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationStrength {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantControls {
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub built_in_controls: Vec<String>,
    #[serde(default)]
    pub authentication_strength: Option<AuthenticationStrength>,
}

impl GrantControls {
    /// Requires MFA: the `mfa` control or any authentication strength.
    pub fn requires_mfa(&self) -> bool {
        self.built_in_controls
            .iter()
            .any(|c| c.eq_ignore_ascii_case("mfa"))
            || self.authentication_strength.is_some()
    }
}

/// `conditionalAccessPolicy`; `state` is `enabled`, `disabled`, `enabledForReportingButNotEnforced`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionalAccessPolicy {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub conditions: Option<ConditionalAccessConditions>,
    #[serde(default)]
    pub grant_controls: Option<GrantControls>,
}

impl ConditionalAccessPolicy {
    pub fn is_enabled(&self) -> bool {
        self.state.eq_ignore_ascii_case("enabled")
    }

    pub fn users(&self) -> Option<&ConditionalAccessUsers> {
        self.conditions.as_ref().and_then(|c| c.users.as_ref())
    }
}
