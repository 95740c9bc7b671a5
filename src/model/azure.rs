//! Azure Resource Manager resources: subscriptions, Azure Lighthouse registration assignments (with their
//! registration definitions expanded) and Azure role assignments. Shapes from the Azure REST API specs
//! (docs/azure.md); only the fields used, every one optional or defaulted, unknown fields ignored.

use serde::{Deserialize, Serialize};

use super::gdap::null_as_default;
use super::{Timestamp, tenant_id};

/// Azure built-in role definition ids (the same in every cloud).
pub mod roles {
    pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    pub const USER_ACCESS_ADMINISTRATOR: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
    pub const RBAC_ADMINISTRATOR: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

    /// Names of the built-in roles the rules talk about; other ids are shown as they are.
    pub fn name(id: &str) -> Option<&'static str> {
        let id = id.to_ascii_lowercase();
        Some(match id.as_str() {
            OWNER => "Owner",
            CONTRIBUTOR => "Contributor",
            USER_ACCESS_ADMINISTRATOR => "User Access Administrator",
            RBAC_ADMINISTRATOR => "Role Based Access Control Administrator",
            READER => "Reader",
            _ => return None,
        })
    }

    /// Contributor or above: can change every resource, or grant access to others.
    pub fn is_privileged(id: &str) -> bool {
        let id = id.to_ascii_lowercase();
        matches!(
            id.as_str(),
            OWNER | CONTRIBUTOR | USER_ACCESS_ADMINISTRATOR | RBAC_ADMINISTRATOR
        )
    }
}

/// The role definition GUID of a `roleDefinitionId`, which ARM gives as a bare GUID (Lighthouse) or as
/// a resource id ending in `/roleDefinitions/{guid}` (role assignments). Lower-case.
pub fn role_guid(role_definition_id: &str) -> String {
    role_definition_id
        .trim()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// `GET /subscriptions` (api-version 2022-12-01): one subscription the identity can read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Required (as an item's id is everywhere): without it the subscription cannot be read further, and
    /// it must not pass as one with nothing in it.
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `Enabled`, `Disabled`, `Warned`, `PastDue`, `Deleted`, or a newer value (kept as is).
    #[serde(default)]
    pub state: Option<String>,
    /// The tenant the subscription belongs to (its home tenant).
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub tenant_id: Option<String>,
    /// Tenants managing it through Azure Lighthouse.
    #[serde(default, deserialize_with = "null_as_default")]
    pub managed_by_tenants: Vec<ManagedByTenant>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedByTenant {
    #[serde(default, deserialize_with = "tenant_id::de")]
    pub tenant_id: String,
}

/// `Microsoft.ManagedServices/registrationAssignments` read with `$expandRegistrationDefinition=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationAssignment {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub properties: RegistrationAssignmentProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationAssignmentProperties {
    #[serde(default)]
    pub registration_definition_id: Option<String>,
    #[serde(default)]
    pub provisioning_state: Option<String>,
    /// Present with `$expandRegistrationDefinition=true`.
    #[serde(default)]
    pub registration_definition: Option<ExpandedDefinition>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpandedDefinition {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub properties: RegistrationDefinitionProperties,
    #[serde(default)]
    pub system_data: Option<SystemData>,
}

/// The offer: who manages (a tenant) and with what (authorizations).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationDefinitionProperties {
    #[serde(default)]
    pub registration_definition_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "tenant_id::de")]
    pub managed_by_tenant_id: String,
    #[serde(default)]
    pub managed_by_tenant_name: Option<String>,
    #[serde(default, deserialize_with = "tenant_id::de_opt")]
    pub managee_tenant_id: Option<String>,
    #[serde(default)]
    pub managee_tenant_name: Option<String>,
    /// Permanent (standing) access.
    #[serde(default, deserialize_with = "null_as_default")]
    pub authorizations: Vec<Authorization>,
    /// Just-in-time access, activated on demand.
    #[serde(default, deserialize_with = "null_as_default")]
    pub eligible_authorizations: Vec<EligibleAuthorization>,
    #[serde(default)]
    pub provisioning_state: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    #[serde(default)]
    pub principal_id: String,
    #[serde(default)]
    pub principal_id_display_name: Option<String>,
    #[serde(default)]
    pub role_definition_id: String,
    /// With User Access Administrator: the roles it may assign (to managed identities only).
    #[serde(default, deserialize_with = "null_as_default")]
    pub delegated_role_definition_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EligibleAuthorization {
    #[serde(default)]
    pub principal_id: String,
    #[serde(default)]
    pub principal_id_display_name: Option<String>,
    #[serde(default)]
    pub role_definition_id: String,
    #[serde(default)]
    pub just_in_time_access_policy: Option<JustInTimeAccessPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JustInTimeAccessPolicy {
    /// `Azure` (MFA required on activation) or `None`.
    #[serde(default)]
    pub multi_factor_auth_provider: Option<String>,
    /// ISO 8601 duration, e.g. `PT8H`.
    #[serde(default)]
    pub maximum_activation_duration: Option<String>,
    /// Who must approve an activation; empty means no approval.
    #[serde(default, deserialize_with = "null_as_default")]
    pub managed_by_tenant_approvers: Vec<Approver>,
}

impl JustInTimeAccessPolicy {
    pub fn requires_mfa(&self) -> bool {
        self.multi_factor_auth_provider
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("azure"))
    }

    pub fn requires_approval(&self) -> bool {
        !self.managed_by_tenant_approvers.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approver {
    #[serde(default)]
    pub principal_id: String,
    #[serde(default)]
    pub principal_id_display_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemData {
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub last_modified_at: Option<Timestamp>,
}

impl RegistrationAssignment {
    /// The expanded definition's properties, when the answer carried them.
    pub fn definition(&self) -> Option<&RegistrationDefinitionProperties> {
        self.properties
            .registration_definition
            .as_ref()
            .map(|d| &d.properties)
    }

    /// The managing tenant, normalised when decoded (`None` without the expanded definition).
    pub fn managed_by(&self) -> Option<String> {
        self.definition()
            .map(|d| d.managed_by_tenant_id.clone())
            .filter(|t| !t.is_empty())
    }

    /// The delegated scope: the assignment id up to `/providers/Microsoft.ManagedServices`
    /// (a subscription, or a resource group in it).
    pub fn scope(&self) -> String {
        let lower = self.id.to_ascii_lowercase();
        match lower.find("/providers/microsoft.managedservices/") {
            Some(i) => self.id.get(..i).unwrap_or(&self.id).to_owned(),
            None => self.id.clone(),
        }
    }
}

/// `Microsoft.Authorization/roleAssignments` (api-version 2022-04-01).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmRoleAssignment {
    pub id: String,
    pub properties: ArmRoleAssignmentProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmRoleAssignmentProperties {
    /// Required: an assignment whose role or principal is unknown could be a foreign Owner; it fails its
    /// source (a named gap) rather than passing as harmless.
    pub role_definition_id: String,
    pub principal_id: String,
    /// `User`, `Group`, `ServicePrincipal`, `ForeignGroup`, `Device`, or a newer value.
    #[serde(default)]
    pub principal_type: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub created_on: Option<Timestamp>,
    #[serde(default)]
    pub description: Option<String>,
}

impl ArmRoleAssignment {
    /// A principal of another tenant: the DAP-era Admin Agents group shows as `ForeignGroup`.
    pub fn is_foreign(&self) -> bool {
        self.properties
            .principal_type
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("foreign"))
    }

    pub fn role_id(&self) -> String {
        role_guid(&self.properties.role_definition_id)
    }

    /// The scope, from `properties.scope` or else the id (up to `/providers/Microsoft.Authorization`).
    pub fn scope(&self) -> String {
        if let Some(s) = self.properties.scope.as_deref().filter(|s| !s.is_empty()) {
            return s.to_owned();
        }
        let lower = self.id.to_ascii_lowercase();
        match lower.find("/providers/microsoft.authorization/") {
            Some(0) => "/".to_owned(),
            Some(i) => self.id.get(..i).unwrap_or(&self.id).to_owned(),
            None => self.id.clone(),
        }
    }
}

/// What kind of scope a scope string is.
pub fn scope_kind(scope: &str) -> &'static str {
    let s = scope.trim().to_ascii_lowercase();
    if s == "/" {
        "root"
    } else if s.starts_with("/providers/microsoft.management/managementgroups/") {
        "management group"
    } else if s.contains("/resourcegroups/") {
        if s.contains("/providers/") {
            "resource"
        } else {
            "resource group"
        }
    } else if s.starts_with("/subscriptions/") {
        "subscription"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item missing what identifies it, or a role assignment missing its role or principal, does not
    /// decode: its source fails (a named gap) instead of the item passing as harmless.
    #[test]
    fn items_missing_their_identity_do_not_decode() {
        use serde_json::json;
        let ra = json!({"id": "/x/ra1", "properties": {"roleDefinitionId": "/r/8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "principalId": "p1"}});
        assert!(serde_json::from_value::<ArmRoleAssignment>(ra).is_ok());
        for broken in [
            json!({"properties": {"roleDefinitionId": "/r/x", "principalId": "p1"}}),
            json!({"id": "/x/ra1", "properties": {"principalId": "p1"}}),
            json!({"id": "/x/ra1", "properties": {"roleDefinitionId": "/r/x"}}),
            json!({"id": "/x/ra1"}),
        ] {
            assert!(serde_json::from_value::<ArmRoleAssignment>(broken).is_err());
        }
        assert!(serde_json::from_value::<Subscription>(json!({"displayName": "s"})).is_err());
        assert!(
            serde_json::from_value::<RegistrationAssignment>(json!({"properties": {}})).is_err()
        );
    }

    #[test]
    fn the_published_registration_assignment_example_decodes() {
        // Shape of the 2022-10-01 REST spec example (GetRegistrationAssignment with expansion), with an
        // unknown field added.
        let a: RegistrationAssignment = serde_json::from_value(serde_json::json!({
            "properties": {
                "registrationDefinitionId": "/subscriptions/s1/providers/Microsoft.ManagedServices/registrationDefinitions/d1",
                "provisioningState": "Succeeded",
                "futureField": {"x": 1},
                "registrationDefinition": {
                    "properties": {
                        "authorizations": [{"principalId": "p1", "principalIdDisplayName": "Support",
                            "roleDefinitionId": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
                            "delegatedRoleDefinitionIds": ["b24988ac-6180-42a0-ab88-20f7382dd24c"]}],
                        "eligibleAuthorizations": [{"principalId": "p2", "roleDefinitionId": "b24988ac-6180-42a0-ab88-20f7382dd24c",
                            "justInTimeAccessPolicy": {"multiFactorAuthProvider": "Azure", "maximumActivationDuration": "PT8H",
                                "managedByTenantApprovers": null}}],
                        "managedByTenantId": "83ABE5CD-bcc3-441a-bd86-e6a75360cecc",
                        "managedByTenantName": "Contoso Corp."
                    },
                    "systemData": {"createdAt": "2021-11-22T19:56:05.0703382Z"}
                }
            },
            "id": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.ManagedServices/registrationAssignments/a1",
            "type": "Microsoft.ManagedServices/registrationAssignments",
            "name": "a1"
        }))
        .unwrap();
        let d = a.definition().unwrap();
        assert_eq!(
            a.managed_by().as_deref(),
            Some("83abe5cd-bcc3-441a-bd86-e6a75360cecc")
        );
        assert_eq!(a.scope(), "/subscriptions/s1/resourceGroups/rg1");
        assert_eq!(scope_kind(&a.scope()), "resource group");
        assert_eq!(d.authorizations[0].delegated_role_definition_ids.len(), 1);
        let jit = d.eligible_authorizations[0]
            .just_in_time_access_policy
            .as_ref()
            .unwrap();
        assert!(jit.requires_mfa() && !jit.requires_approval());
    }

    #[test]
    fn role_assignments_scope_and_role() {
        let r: ArmRoleAssignment = serde_json::from_value(serde_json::json!({
            "id": "/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/roleAssignments/x",
            "properties": {"roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/8E3AF657-a8ff-443c-a75c-2fe8c4bcb635",
                "principalId": "p", "principalType": "ForeignGroup"}
        }))
        .unwrap();
        assert!(r.is_foreign());
        assert_eq!(r.role_id(), roles::OWNER);
        assert_eq!(scope_kind(&r.scope()), "management group");
        assert!(roles::is_privileged(&r.role_id()));
        assert!(!roles::is_privileged(roles::READER));
        assert_eq!(role_guid(""), "");
        assert_eq!(scope_kind("/"), "root");
        assert_eq!(scope_kind("/subscriptions/s"), "subscription");
    }
}
