//! The rule catalogue: pure functions of (snapshot, history view, config, now).
//!
//! Each rule is a unit type implementing [`Rule`], with its [`RuleMeta`] declared once as a `static` in
//! its family's file (`over_privileged`, `stale`, `changes`, `access_controls`, `azure`, `hygiene`).
//! [`registry`] lists them in a stable order; `crate::evaluate` runs them, checks the sources each needs
//! against the snapshot's coverage, applies severity overrides and suppressions. Rules never import
//! `graph`, `collect`, `report` or `commands`, never read the clock and never touch the network.

pub mod access_controls;
pub mod azure;
pub mod changes;
pub mod common;
pub mod context;
pub mod evidence;
pub mod finding;
pub mod fleet;
pub mod hygiene;
pub mod meta;
pub mod over_privileged;
pub mod settings;
pub mod stale;

pub use context::{Ctx, HistoryView, Sides};
pub use finding::{Finding, Severity, Subject, SubjectKind};
pub use meta::{Note, Rule, RuleMeta, rules_markdown};

static REGISTRY: &[&dyn Rule] = &[
    // Over-privileged
    &over_privileged::GlobalAdminGranted,
    &over_privileged::PrivilegedRoleGranted,
    &over_privileged::RolesExceedApproved,
    &over_privileged::AutoExtendPrivileged,
    &over_privileged::DurationExceedsPolicy,
    &over_privileged::UnassignedRoles,
    &over_privileged::AssignmentError,
    &over_privileged::MltDefaultRelationship,
    &over_privileged::UnapprovedIndirectProvider,
    &over_privileged::PartnerOwnedApp,
    &over_privileged::LegacyDap,
    // Stale
    &stale::StalePartnerAccess,
    &stale::ExpiringSoon,
    &stale::OrphanedPartnerEntry,
    // Newly offered / changed
    &changes::PendingApproval,
    &changes::NewPartnerAccess,
    &changes::RolesAdded,
    // Partner access controls
    &access_controls::MfaNotEnforcedForPartners,
    &access_controls::PartnerSigninWithoutMfa,
    &access_controls::PartnerSigninUnexpectedLocation,
    &access_controls::PartnerMfaTrusted,
    &access_controls::PartnerPrivilegedChange,
    // Azure (Lighthouse delegations, DAP-era foreign principals)
    &azure::AzureLegacyDapOwner,
    &azure::LighthousePrivilegedDelegation,
    &azure::LighthouseDelegationToUnknownTenant,
    // Fleet cross-check (only in `gdap-audit fleet`)
    &fleet::PartnerViewMismatch,
    // Audit hygiene (raised by the evaluator)
    &hygiene::SuppressionUnused,
    &hygiene::SuppressionExpired,
];

/// Every rule, in the catalogue's order (RULES.md).
pub fn registry() -> &'static [&'static dyn Rule] {
    REGISTRY
}

/// The metadata of every rule, in the catalogue's order.
pub fn all_rules() -> impl Iterator<Item = &'static RuleMeta> {
    REGISTRY.iter().map(|r| r.meta())
}

/// The metadata of one rule (ids are matched exactly, then case-insensitively).
pub fn rule(id: &str) -> Option<&'static RuleMeta> {
    let id = id.trim();
    all_rules()
        .find(|m| m.id == id)
        .or_else(|| all_rules().find(|m| m.id.eq_ignore_ascii_case(id)))
}

/// The implementation of one rule.
pub fn rule_impl(id: &str) -> Option<&'static dyn Rule> {
    REGISTRY
        .iter()
        .copied()
        .find(|r| r.meta().id.eq_ignore_ascii_case(id.trim()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_families_list_every_rule() {
        let ids: Vec<&str> = all_rules().map(|m| m.id).collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "duplicate rule id");
        assert_eq!(ids.len(), 28);
        for id in &ids {
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id} is not kebab-case"
            );
        }
        let in_families: Vec<&str> = over_privileged::METAS
            .iter()
            .chain(stale::METAS)
            .chain(changes::METAS)
            .chain(access_controls::METAS)
            .chain(azure::METAS)
            .chain(fleet::METAS)
            .chain(hygiene::METAS)
            .map(|m| m.id)
            .collect();
        assert_eq!(
            in_families, ids,
            "family METAS must list the registry's rules in the same order"
        );
    }

    #[test]
    fn every_rule_cites_t1199_or_cisa_and_has_text() {
        for m in all_rules() {
            assert!(
                !m.title.is_empty()
                    && !m.rationale.is_empty()
                    && !m.remediation.is_empty()
                    && !m.fires_when.is_empty()
            );
            assert!(!m.references.is_empty(), "{} has no references", m.id);
            assert!(!m.perspectives.is_empty());
            assert!(m.explain().contains(m.id));
        }
        assert!(rule("GLOBAL-ADMIN-GRANTED").is_some());
        assert!(rule("nope").is_none());
    }
}
