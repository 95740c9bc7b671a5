//! The fleet cross-check: in `gdap-audit fleet`, each customer's own view of the auditing partner
//! (service-provider constraints, directory roles held by the partner's principals) against the
//! partner-side GDAP relationships with that customer. Only a fleet run has both sides at once.

use std::collections::BTreeSet;

use serde_json::json;

use super::common::*;
use super::context::Ctx;
use super::finding::{Finding, Severity};
use super::meta::{Rule, RuleMeta, refs};
use crate::snapshot::{FleetView, Perspective, Snapshot, Source};

pub static PARTNER_VIEW_MISMATCH: RuleMeta = RuleMeta {
    id: "partner-view-mismatch",
    title: "Customer side and partner side disagree on the partner's roles",
    default_severity: Severity::High,
    perspectives: &[Perspective::Customer],
    fires_when: "Only in a fleet run (gdap-audit fleet), per customer: the roles the customer side shows for \
        the auditing partner (its service-provider constraints' allowedRoleTemplateIds and the directory \
        roles held by principals of the partner tenant) include roles that none of the partner's live GDAP \
        relationships with the customer grant (high: access the partner does not know it has, such as a \
        DAP-era assignment or another relationship path), or the customer side shows no service-provider \
        entry for the partner although a live relationship exists, or the relationships grant roles the \
        customer side does not show (medium: the two sides have drifted).",
    rationale: "The partner's relationship list is what an MSP reviews; the customer's tenant is where \
        access is enforced. Roles held outside the relationships escape the MSP's review and its removal \
        process (DAP leftovers are exactly that), and drift between the two sides means one of them is not \
        what the reviewers think.",
    remediation: "For roles held outside the relationships: find the assignment in the customer tenant \
        (Roles and administrators, filtered on the partner's principals) and remove it, or bring it under a \
        GDAP relationship. For a missing or drifted entry: compare the relationship in Partner Center with \
        the customer's cross-tenant access settings, and terminate and re-create the relationship if they \
        do not converge.",
    sources: &[
        Source::XtapPartners,
        Source::XtapServiceProviderConstraints,
        Source::RoleAssignments,
    ],
    optional_sources: &[],
    config_keys: &[],
    references: &[
        refs::MITRE_T1199,
        refs::GDAP_INTRODUCTION,
        refs::DAP_FAQ,
        refs::GRAPH_XTAP_PARTNER,
    ],
    from_evaluator: false,
};

pub static METAS: &[&RuleMeta] = &[&PARTNER_VIEW_MISMATCH];

pub struct PartnerViewMismatch;

impl Rule for PartnerViewMismatch {
    fn meta(&self) -> &'static RuleMeta {
        &PARTNER_VIEW_MISMATCH
    }

    fn applies(&self, snap: &Snapshot) -> bool {
        snap.fleet.is_some()
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let (Some(c), Some(view)) = (ctx.customer(snap), snap.fleet.as_ref()) else {
            return Vec::new();
        };
        if view.relationships.is_empty() {
            return Vec::new();
        }
        let partner = view.partner_tenant_id.as_str();
        let granted: BTreeSet<String> = granted_roles(view);
        let shown = partner_roles(c, partner);
        let listed = c.partner(partner).is_some_and(|p| p.is_service_provider);
        let extra: BTreeSet<String> = shown.difference(&granted).cloned().collect();
        let missing: BTreeSet<String> = if listed {
            granted.difference(&shown).cloned().collect()
        } else {
            BTreeSet::new()
        };
        if listed && extra.is_empty() && missing.is_empty() {
            return Vec::new();
        }
        let mut parts = Vec::new();
        if !extra.is_empty() {
            parts.push(format!(
                "it shows {} for the partner, which none of its live relationships grant",
                role_names(&ctx.roles, &extra)
            ));
        }
        if !listed {
            parts.push(
                "its cross-tenant access settings have no service-provider entry for the partner"
                    .to_owned(),
            );
        }
        if !missing.is_empty() {
            parts.push(format!(
                "it does not show {} that the relationships grant",
                role_names(&ctx.roles, &missing)
            ));
        }
        let who = view
            .partner_name
            .clone()
            .unwrap_or_else(|| partner.to_owned());
        let message = format!(
            "Compared with {who}'s {} here, the customer side disagrees: {}.",
            plural(
                view.relationships.len(),
                "live GDAP relationship",
                "live GDAP relationships"
            ),
            parts.join("; ")
        );
        let severity = if extra.is_empty() {
            Severity::Medium
        } else {
            Severity::High
        };
        let relationships: Vec<_> = view
            .relationships
            .iter()
            .map(|r| json!({"id": r.id, "name": r.display_name}))
            .collect();
        vec![
            partner_finding(self.meta(), snap, ctx, c, partner, message)
                .severity(severity)
                .ev("relationships", json!(relationships))
                .ev(
                    "roles_granted_by_relationships",
                    roles_json(&ctx.roles, &granted),
                )
                .ev("roles_shown_by_customer", roles_json(&ctx.roles, &shown))
                .ev(
                    "roles_outside_relationships",
                    roles_json(&ctx.roles, &extra),
                )
                .ev(
                    "roles_not_shown_by_customer",
                    roles_json(&ctx.roles, &missing),
                )
                .ev("listed_as_service_provider", json!(listed)),
        ]
    }
}

fn granted_roles(view: &FleetView) -> BTreeSet<String> {
    view.relationships
        .iter()
        .flat_map(|r| r.roles.iter().map(|id| id.trim().to_ascii_lowercase()))
        .collect()
}
