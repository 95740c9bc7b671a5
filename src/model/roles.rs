//! Directory roles: definitions from Graph and the built-in template table used when beta is refused.

use serde::{Deserialize, Serialize};

/// Global Administrator's template id.
pub const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";

/// `unifiedRoleDefinition` (beta adds `isPrivileged`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDefinition {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub is_built_in: Option<bool>,
    #[serde(default)]
    pub is_privileged: Option<bool>,
}

/// (template id, display name, privileged) from the Entra permissions reference (research §4.2).
pub const BUILTIN_ROLES: &[(&str, &str, bool)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
        true,
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
        true,
    ),
    (
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
        true,
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
        true,
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
        false,
    ),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
        false,
    ),
    (
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
        "User Administrator",
        true,
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
        true,
    ),
    (
        "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        "Global Reader",
        true,
    ),
    (
        "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
        "Directory Readers",
        false,
    ),
    (
        "f023fd81-a637-4b56-95fd-791ac0226033",
        "Service Support Administrator",
        false,
    ),
    (
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        "License Administrator",
        false,
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
        true,
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
        true,
    ),
    (
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "Conditional Access Administrator",
        true,
    ),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
        true,
    ),
    (
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
        "Intune Administrator",
        true,
    ),
    (
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
        false,
    ),
    (
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
        "Teams Administrator",
        false,
    ),
    (
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
        "Password Administrator",
        true,
    ),
    (
        "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f",
        "Security Operator",
        true,
    ),
    (
        "5d6b6bb7-de71-4623-b4af-96380a352509",
        "Security Reader",
        true,
    ),
    (
        "4a5d8f65-41da-4de4-8968-e035b65339cf",
        "Reports Reader",
        false,
    ),
    (
        "9360feb5-f418-4baa-8175-e2a00bac4301",
        "Directory Writers",
        true,
    ),
    (
        "8329153b-31d0-4727-b945-745eb3bc5f31",
        "Domain Name Administrator",
        true,
    ),
    (
        "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
        "Hybrid Identity Administrator",
        true,
    ),
    (
        "7698a772-787b-4ac8-901f-60d6b08affd2",
        "Cloud Device Administrator",
        true,
    ),
    (
        "0526716b-113d-4c15-b2c8-68e3c22b9f80",
        "Authentication Policy Administrator",
        false,
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
        false,
    ),
    (
        "95e79109-95c0-4d8e-aee3-d01accf2d47b",
        "Guest Inviter",
        false,
    ),
    (
        "17315797-102d-40b4-93e0-432062caca18",
        "Compliance Administrator",
        false,
    ),
    (
        "44367163-eba1-44c3-98af-f5787879f96a",
        "Dynamics 365 Administrator",
        false,
    ),
    (
        "11648597-926c-4cf3-9c36-bcebb0ba8dcc",
        "Power Platform Administrator",
        false,
    ),
    (
        "a9ea8996-122f-4c74-9520-8edcd192826c",
        "Fabric Administrator",
        false,
    ),
    (
        "11451d60-acb2-45eb-a7d6-43d0f0125c13",
        "Windows 365 Administrator",
        false,
    ),
    (
        "4ba39ca4-527c-499a-b93d-d9b492c50246",
        "Partner Tier1 Support",
        true,
    ),
    (
        "e00e864a-17c5-4a4b-9c06-f5b95a8d5bd8",
        "Partner Tier2 Support",
        true,
    ),
    (
        "00cf5c54-4693-4f59-a0ac-ab79ef0a974d",
        "Microsoft 365 Support Engineer",
        false,
    ),
];

/// Looks up role names and the privileged flag: Graph's definitions first, the built-in table second.
#[derive(Debug, Clone, Default)]
pub struct RoleCatalog {
    /// (template id lower-case, name, privileged) from Graph; empty when not collected.
    from_graph: Vec<(String, String, Option<bool>)>,
}

impl RoleCatalog {
    pub fn new(definitions: &[RoleDefinition]) -> Self {
        let from_graph = definitions
            .iter()
            .map(|d| {
                let id = d
                    .template_id
                    .clone()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| d.id.clone());
                (
                    id.to_ascii_lowercase(),
                    d.display_name.clone(),
                    d.is_privileged,
                )
            })
            .collect();
        RoleCatalog { from_graph }
    }

    fn graph(&self, id: &str) -> Option<&(String, String, Option<bool>)> {
        self.from_graph
            .iter()
            .find(|(t, _, _)| t.eq_ignore_ascii_case(id))
    }

    fn builtin(id: &str) -> Option<&'static (&'static str, &'static str, bool)> {
        BUILTIN_ROLES
            .iter()
            .find(|(t, _, _)| t.eq_ignore_ascii_case(id))
    }

    /// Display name, or the id itself when unknown.
    pub fn name(&self, id: &str) -> String {
        if let Some((_, name, _)) = self.graph(id).filter(|(_, n, _)| !n.is_empty()) {
            return name.clone();
        }
        Self::builtin(id)
            .map(|(_, n, _)| (*n).to_owned())
            .unwrap_or_else(|| id.to_owned())
    }

    /// `isPrivileged` where Graph gave it, else the built-in table; unknown roles are not privileged.
    pub fn is_privileged(&self, id: &str) -> bool {
        if let Some(p) = self.graph(id).and_then(|(_, _, p)| *p) {
            return p;
        }
        Self::builtin(id).is_some_and(|(_, _, p)| *p) || id.eq_ignore_ascii_case(GLOBAL_ADMIN)
    }

    /// Template id for a role given by id or by (case-insensitive) name; config accepts both.
    pub fn resolve(&self, id_or_name: &str) -> Option<String> {
        let s = id_or_name.trim();
        if s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4 {
            return Some(s.to_ascii_lowercase());
        }
        if let Some((id, _, _)) = self
            .from_graph
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(s))
        {
            return Some(id.clone());
        }
        BUILTIN_ROLES
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(s))
            .map(|(id, _, _)| (*id).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_definitions_win_over_the_builtin_table() {
        let defs = vec![RoleDefinition {
            id: "f023fd81-a637-4b56-95fd-791ac0226033".into(),
            display_name: "Service Support Administrator".into(),
            template_id: Some("f023fd81-a637-4b56-95fd-791ac0226033".into()),
            is_built_in: Some(true),
            is_privileged: Some(true),
        }];
        let c = RoleCatalog::new(&defs);
        assert!(c.is_privileged("F023FD81-A637-4B56-95FD-791AC0226033"));
        assert!(!RoleCatalog::default().is_privileged("f023fd81-a637-4b56-95fd-791ac0226033"));
        assert!(RoleCatalog::default().is_privileged(GLOBAL_ADMIN));
        assert_eq!(
            c.name("00000000-0000-0000-0000-000000000000"),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            c.resolve("helpdesk administrator").as_deref(),
            Some("729827e3-9c14-49f7-bb1b-9608f156bbb8")
        );
        assert_eq!(c.resolve("No Such Role"), None);
    }
}
