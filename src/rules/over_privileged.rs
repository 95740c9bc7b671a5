//! Over-privileged partner access: Global Administrator and other privileged roles, role sets beyond
//! the approved ones, auto-extend and duration, dangling or failing access assignments, the Microsoft-led
//! transition default, unapproved indirect providers, partner-owned apps, legacy DAP.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::common::*;
use super::context::Ctx;
use super::finding::{Finding, Severity, SubjectKind};
use super::meta::{Note, Rule, RuleMeta, refs};
use crate::model::customer::{MICROSOFT_SUPPORT_LOCKOUT_ROLES, MICROSOFT_SUPPORT_TENANT};
use crate::model::gdap::DelegatedAdminRelationship;
use crate::model::roles::GLOBAL_ADMIN;
use crate::snapshot::{CustomerData, PartnerData, Perspective, Snapshot, Source};

const BOTH: &[Perspective] = &[Perspective::Partner, Perspective::Customer];
const PARTNER: &[Perspective] = &[Perspective::Partner];
const CUSTOMER: &[Perspective] = &[Perspective::Customer];

pub static GLOBAL_ADMIN_GRANTED: RuleMeta = RuleMeta {
    id: "global-admin-granted",
    title: "Partner holds Global Administrator",
    default_severity: Severity::Critical,
    perspectives: BOTH,
    fires_when: "Partner side: a live GDAP relationship includes Global Administrator. Customer side: a \
        service-provider partner's constraints (allowedRoleTemplateIds) include Global Administrator, or \
        Global Administrator is assigned to a principal of that partner's tenant. Subject: the relationship \
        (partner side) or the partner (customer side).",
    rationale: "Global Administrator gives the partner's technicians, and anyone who compromises them, \
        full control of the customer tenant. NOBELIUM and other actors abused exactly this delegated \
        access to move from service providers into their customers (MITRE T1199). Microsoft asks partners \
        to use the least-privileged role for each task and to keep Global Administrator for emergencies.",
    remediation: "Replace Global Administrator with the least-privileged roles the partner needs (see \
        Microsoft's GDAP least-privileged roles by task). Partner: create a new relationship without \
        Global Administrator, or remove the role from the active relationship. Customer: ask the partner to \
        do so, or end the relationship under Settings > Partner relationships in the Microsoft 365 admin \
        center.",
    sources: &[
        Source::GdapRelationships,
        Source::XtapPartners,
        Source::XtapServiceProviderConstraints,
        Source::RoleAssignments,
    ],
    optional_sources: &[],
    config_keys: &[],
    references: &[
        refs::MITRE_T1199,
        refs::GDAP_LEAST_PRIVILEGE,
        refs::GDAP_AUTO_EXTEND,
        refs::NOBELIUM_DAP,
        refs::CISA_AA22_131A,
    ],
    from_evaluator: false,
};

pub static PRIVILEGED_ROLE_GRANTED: RuleMeta = RuleMeta {
    id: "privileged-role-granted",
    title: "Partner holds privileged roles",
    default_severity: Severity::High,
    perspectives: BOTH,
    fires_when: "As global-admin-granted, for privileged roles other than Global Administrator \
        (isPrivileged from beta role definitions, else the built-in list) that are not in \
        allowed_privileged_roles. One finding per relationship (partner side) or partner (customer side), \
        listing the roles. Microsoft Support's support-case entry is reported when it allows roles beyond \
        Microsoft 365 Support Engineer (its lock-out flow adds Domain Name, Privileged Authentication, \
        Privileged Role and Authentication Policy Administrator).",
    rationale: "Privileged roles (Privileged Role Administrator, Security Administrator, User \
        Administrator, Application Administrator, Conditional Access Administrator...) can each lead to \
        full control of the tenant. Every privileged role a partner holds widens what a compromised partner \
        account can do in the customer tenant.",
    remediation: "Reduce the relationship to the least-privileged roles the partner's tasks need. If a \
        privileged role is deliberate and reviewed, add it to allowed_privileged_roles in the \
        configuration so it stops being reported.",
    sources: &[
        Source::GdapRelationships,
        Source::XtapPartners,
        Source::XtapServiceProviderConstraints,
        Source::RoleAssignments,
    ],
    optional_sources: &[],
    config_keys: &["allowed_privileged_roles"],
    references: &[
        refs::MITRE_T1199,
        refs::GDAP_LEAST_PRIVILEGE,
        refs::CISA_AA22_131A,
    ],
    from_evaluator: false,
};

pub static ROLES_EXCEED_APPROVED: RuleMeta = RuleMeta {
    id: "roles-exceed-approved",
    title: "Partner roles exceed the approved set",
    default_severity: Severity::High,
    perspectives: BOTH,
    fires_when: "A live relationship (partner side) or a service-provider partner (customer side) holds \
        roles beyond the approved set in the configuration: the per-customer (partner side) or per-partner \
        (customer side) override in [approved_roles], else [approved_roles] default. Not evaluated when no \
        approved set is configured.",
    rationale: "The roles a partner holds should be the ones agreed in the contract with the customer \
        (CISA AA22-131A asks customers to define and verify what their MSP may do). Roles beyond that \
        agreement are unreviewed access.",
    remediation: "Remove the extra roles (a new GDAP relationship with the approved roles, then end the \
        old one), or, if the roles are agreed, add them to the approved set in the configuration.",
    sources: &[
        Source::GdapRelationships,
        Source::XtapPartners,
        Source::XtapServiceProviderConstraints,
        Source::RoleAssignments,
    ],
    optional_sources: &[],
    config_keys: &[
        "approved_roles.default",
        "approved_roles.customers",
        "approved_roles.partners",
    ],
    references: &[
        refs::MITRE_T1199,
        refs::CISA_AA22_131A,
        refs::GDAP_LEAST_PRIVILEGE,
    ],
    from_evaluator: false,
};

pub static AUTO_EXTEND_PRIVILEGED: RuleMeta = RuleMeta {
    id: "auto-extend-privileged",
    title: "Privileged relationship auto-extends",
    default_severity: Severity::High,
    perspectives: PARTNER,
    fires_when: "A live relationship has autoExtendDuration P180D and holds Global Administrator (high: \
        Microsoft does not allow auto-extend with Global Administrator) or another privileged role not in \
        allowed_privileged_roles (medium).",
    rationale: "Auto-extend renews the relationship by six months at every expiry, so privileged access \
        never comes up for review. Microsoft's guidance is not to auto-extend relationships that include \
        Global Administrator.",
    remediation: "Turn off auto-extend on the relationship (autoExtendDuration PT0S) and renew it \
        deliberately after a review, or drop the privileged roles.",
    sources: &[Source::GdapRelationships],
    optional_sources: &[],
    config_keys: &["allowed_privileged_roles"],
    references: &[
        refs::GDAP_AUTO_EXTEND,
        refs::GRAPH_RELATIONSHIP,
        refs::MITRE_T1199,
    ],
    from_evaluator: false,
};

pub static DURATION_EXCEEDS_POLICY: RuleMeta = RuleMeta {
    id: "duration-exceeds-policy",
    title: "Relationship lasts longer than policy allows",
    default_severity: Severity::Low,
    perspectives: PARTNER,
    fires_when: "A live relationship's duration is longer than thresholds.max_duration_days (365 by \
        default; Graph allows up to 730).",
    rationale: "The longer a relationship lasts, the longer unreviewed access survives staff changes and \
        changed needs. A shorter duration forces a periodic review of the roles.",
    remediation: "Create relationships with a duration within policy and renew them after review; or \
        raise thresholds.max_duration_days if the longer duration is your policy.",
    sources: &[Source::GdapRelationships],
    optional_sources: &[],
    config_keys: &["thresholds.max_duration_days"],
    references: &[
        refs::GRAPH_RELATIONSHIP,
        refs::GDAP_FAQ,
        refs::CISA_AA22_131A,
    ],
    from_evaluator: false,
};

pub static UNASSIGNED_ROLES: RuleMeta = RuleMeta {
    id: "unassigned-roles",
    title: "Relationship roles not assigned to any security group",
    default_severity: Severity::Low,
    perspectives: PARTNER,
    fires_when: "An active relationship has no active access assignment, or some of its roles are not \
        covered by any active access assignment (granted by the customer but given to no partner security \
        group).",
    rationale: "Roles nobody uses are standing access with no owner: they widen the relationship without \
        serving a task, and a relationship with no assignment at all is a dangling grant that should be \
        ended.",
    remediation: "Assign the roles to the security groups that need them, or remove them from the next \
        relationship (a relationship nobody uses should be terminated).",
    sources: &[Source::GdapRelationships, Source::GdapAccessAssignments],
    optional_sources: &[],
    config_keys: &[],
    references: &[refs::GRAPH_ACCESS_ASSIGNMENT, refs::GDAP_LEAST_PRIVILEGE],
    from_evaluator: false,
};

pub static ASSIGNMENT_ERROR: RuleMeta = RuleMeta {
    id: "assignment-error",
    title: "Access assignment failed or stuck",
    default_severity: Severity::Medium,
    perspectives: PARTNER,
    fires_when: "An access assignment of a live relationship is in status error, or has been pending for \
        more than a day.",
    rationale: "A failed or stuck assignment means the partner's groups do not have the access the \
        relationship is meant to give (or that a removal did not apply), so the real access differs from \
        what was reviewed.",
    remediation: "Open the relationship in Partner Center, check the security group and roles of the \
        assignment, and re-create it.",
    sources: &[Source::GdapRelationships, Source::GdapAccessAssignments],
    optional_sources: &[],
    config_keys: &[],
    references: &[refs::GRAPH_ACCESS_ASSIGNMENT],
    from_evaluator: false,
};

pub static MLT_DEFAULT_RELATIONSHIP: RuleMeta = RuleMeta {
    id: "mlt-default-relationship",
    title: "Microsoft-led transition default relationship still active",
    default_severity: Severity::Medium,
    perspectives: PARTNER,
    fires_when: "An active relationship's display name starts with MLT_: the default relationship \
        Microsoft created when it moved DAP partners to GDAP.",
    rationale: "The Microsoft-led transition granted a fixed set of broad default roles to replace DAP. It \
        was a stopgap, not a least-privilege design.",
    remediation: "Create relationships with the roles each customer actually needs, move the access \
        assignments to them, and terminate the MLT_ relationship.",
    sources: &[Source::GdapRelationships],
    optional_sources: &[],
    config_keys: &[],
    references: &[refs::GDAP_MLT, refs::GDAP_LEAST_PRIVILEGE],
    from_evaluator: false,
};

pub static UNAPPROVED_INDIRECT_PROVIDER: RuleMeta = RuleMeta {
    id: "unapproved-indirect-provider",
    title: "Reseller relationship from an unapproved indirect provider",
    default_severity: Severity::Medium,
    perspectives: PARTNER,
    fires_when: "A live resellerDelegatedAdminRelationship's indirectProviderTenantId is not in \
        approved_indirect_providers. Not evaluated when that list is not configured.",
    rationale: "Indirect providers create relationships on a reseller's behalf; an unexpected provider is a \
        supply-chain party nobody approved (CISA AA22-131A: manage supply-chain risk).",
    remediation: "Confirm the indirect provider with your commercial team; add its tenant id to \
        approved_indirect_providers if it is expected, otherwise have the relationship terminated.",
    sources: &[Source::GdapRelationships],
    optional_sources: &[],
    config_keys: &["approved_indirect_providers"],
    references: &[refs::GRAPH_RESELLER_RELATIONSHIP, refs::CISA_AA22_131A],
    from_evaluator: false,
};

pub static PARTNER_OWNED_APP: RuleMeta = RuleMeta {
    id: "partner-owned-app",
    title: "App owned by a partner tenant",
    default_severity: Severity::Medium,
    perspectives: CUSTOMER,
    fires_when: "A service principal in this tenant belongs to an app registered in a service-provider \
        partner's tenant (appOwnerOrganizationId). High when it holds Microsoft Graph application \
        permissions that write directory, role, application or policy data (e.g. \
        Directory.ReadWrite.All, RoleManagement.ReadWrite.Directory, Application.ReadWrite.All, \
        AppRoleAssignment.ReadWrite.All, Policy.ReadWrite.*). Microsoft-owned apps never fire; an app whose \
        application permissions could not be read is not evaluated.",
    rationale: "Multi-tenant apps a partner registered are a trust chain of their own: whoever controls \
        the app's credentials in the partner tenant acts in this tenant with its permissions, without any \
        GDAP relationship, MFA or Conditional Access (Microsoft DART's service-provider trust chains).",
    remediation: "Check with the partner what the app does; remove its application permissions that write \
        directory, role, application or policy data, or delete the service principal when it is no longer \
        needed.",
    sources: &[
        Source::XtapPartners,
        Source::ServicePrincipals,
        Source::AppRoleAssignments,
    ],
    optional_sources: &[],
    config_keys: &[],
    references: &[refs::DART_TRUST_CHAINS, refs::MITRE_T1199],
    from_evaluator: false,
};

pub static LEGACY_DAP: RuleMeta = RuleMeta {
    id: "legacy-dap",
    title: "Legacy delegated admin (DAP) access",
    default_severity: Severity::Critical,
    perspectives: BOTH,
    fires_when: "Partner side: Microsoft 365 Lighthouse (myRoles) shows delegatedAdminPrivileges for a \
        customer (critical), or a /contracts customer has no live GDAP relationship (medium: possible DAP). \
        Customer side: a directory role is held by a principal of a foreign tenant that is not a \
        service-provider partner (the pattern of DAP's Admin Agents and Helpdesk Agents groups).",
    rationale: "DAP gave the partner's whole Admin Agents group Global Administrator in every customer, \
        with no expiry and no per-customer scoping; it is the access NOBELIUM abused. Microsoft replaced it \
        with GDAP and asks partners to remove DAP connections.",
    remediation: "Partner: move the customer to GDAP with least-privileged roles and remove the DAP \
        connection. Customer: remove the partner's admin roles under Settings > Partner relationships in \
        the Microsoft 365 admin center (Remove roles), and ask for a GDAP relationship if access is still \
        needed.",
    sources: &[Source::XtapPartners, Source::RoleAssignments],
    optional_sources: &[
        Source::LighthouseMyRoles,
        Source::Contracts,
        Source::GdapRelationships,
    ],
    config_keys: &[],
    references: &[
        refs::DAP_FAQ,
        refs::DAP_INACTIVE_CUSTOMERS,
        refs::GDAP_INTRODUCTION,
        refs::NOBELIUM_DAP,
        refs::MITRE_T1199,
    ],
    from_evaluator: false,
};

pub static METAS: &[&RuleMeta] = &[
    &GLOBAL_ADMIN_GRANTED,
    &PRIVILEGED_ROLE_GRANTED,
    &ROLES_EXCEED_APPROVED,
    &AUTO_EXTEND_PRIVILEGED,
    &DURATION_EXCEEDS_POLICY,
    &UNASSIGNED_ROLES,
    &ASSIGNMENT_ERROR,
    &MLT_DEFAULT_RELATIONSHIP,
    &UNAPPROVED_INDIRECT_PROVIDER,
    &PARTNER_OWNED_APP,
    &LEGACY_DAP,
];

fn rel_evidence(f: Finding, ctx: &Ctx, rel: &DelegatedAdminRelationship) -> Finding {
    let roles = rel.access_details.role_ids();
    f.ev("relationship_id", json!(rel.id))
        .ev("relationship_name", json!(rel.display_name))
        .ev("status", json!(rel.status.as_str()))
        .ev("customer_tenant_id", json!(rel.customer_tenant_id()))
        .ev("customer_name", json!(rel.customer_name()))
        .ev("roles", roles_json(&ctx.roles, &roles))
        .ev("end_date_time", opt_ts(rel.end_date_time))
}

fn rel_finding(
    meta: &'static RuleMeta,
    snap: &Snapshot,
    ctx: &Ctx,
    rel: &DelegatedAdminRelationship,
    msg: String,
) -> Finding {
    let f = finding(meta, relationship_subject(rel), msg)
        .partner(Some(&snap.tenant_id))
        .customer(rel.customer_tenant_id());
    rel_evidence(f, ctx, rel)
}

fn status_note(rel: &DelegatedAdminRelationship) -> String {
    if rel.status == crate::model::gdap::RelationshipStatus::Active {
        String::new()
    } else {
        format!(" (status {})", rel.status.as_str())
    }
}

/// "its service-provider constraints allow it" / "2 principals of the partner tenant hold it".
fn how_held(c: &CustomerData, ctx: &Ctx, tenant: &str, role: &str) -> (bool, Vec<Value>) {
    let via_constraints = constraint_roles(c, tenant).contains(&role.to_ascii_lowercase());
    let assignments = assignments_of(c, tenant)
        .into_iter()
        .filter(|a| a.role_id.eq_ignore_ascii_case(role))
        .map(|a| assignment_json(&ctx.roles, a))
        .collect();
    (via_constraints, assignments)
}

pub struct GlobalAdminGranted;

impl Rule for GlobalAdminGranted {
    fn meta(&self) -> &'static RuleMeta {
        &GLOBAL_ADMIN_GRANTED
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(p) = ctx.partner(snap) {
            for rec in live(&p.relationships) {
                let rel = &rec.relationship;
                if rel.access_details.role_ids().iter().any(|r| is_ga(r)) {
                    let msg = format!(
                        "{} with {} grants Global Administrator{}: anyone in the partner security groups assigned to it can take full control of the customer tenant.",
                        relationship_label(rel),
                        customer_label(rel),
                        status_note(rel)
                    );
                    out.push(
                        rel_finding(self.meta(), snap, ctx, rel, msg)
                            .ev("auto_extend", json!(rel.auto_extends())),
                    );
                }
            }
        }
        if let Some(c) = ctx.customer(snap) {
            for sp in service_providers(snap, c) {
                let (via_constraints, assignments) = how_held(c, ctx, &sp.tenant_id, GLOBAL_ADMIN);
                if !via_constraints && assignments.is_empty() {
                    continue;
                }
                let mut how = Vec::new();
                if via_constraints {
                    how.push("its service-provider constraints allow it".to_owned());
                }
                if !assignments.is_empty() {
                    let verb = if assignments.len() == 1 {
                        "holds"
                    } else {
                        "hold"
                    };
                    how.push(format!(
                        "{} of its tenant {verb} it",
                        plural(assignments.len(), "principal", "principals")
                    ));
                }
                let msg = format!(
                    "The {} can hold Global Administrator in this tenant ({}): its administrators can take full control of the tenant.",
                    partner_label(Some(c), ctx, &sp.tenant_id),
                    join_names(&how)
                );
                out.push(
                    partner_finding(self.meta(), snap, ctx, c, &sp.tenant_id, msg)
                        .ev("via_constraints", json!(via_constraints))
                        .ev("assignments", Value::Array(assignments)),
                );
            }
        }
        out
    }
}

pub struct PrivilegedRoleGranted;

impl Rule for PrivilegedRoleGranted {
    fn meta(&self) -> &'static RuleMeta {
        &PRIVILEGED_ROLE_GRANTED
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(p) = ctx.partner(snap) {
            for rec in live(&p.relationships) {
                let rel = &rec.relationship;
                let roles: BTreeSet<String> = rel.access_details.role_ids().into_iter().collect();
                let privileged = unapproved_privileged(ctx, &roles);
                if privileged.is_empty() {
                    continue;
                }
                let msg = format!(
                    "{} with {} grants {}: {}{}. A compromised partner account could use {} to take control of the customer tenant.",
                    relationship_label(rel),
                    customer_label(rel),
                    plural(privileged.len(), "privileged role", "privileged roles"),
                    role_names(&ctx.roles, &privileged),
                    status_note(rel),
                    if privileged.len() == 1 { "it" } else { "them" }
                );
                out.push(
                    rel_finding(self.meta(), snap, ctx, rel, msg)
                        .ev("privileged_roles", roles_json(&ctx.roles, &privileged)),
                );
            }
        }
        if let Some(c) = ctx.customer(snap) {
            for sp in service_providers(snap, c) {
                let roles = partner_roles(c, &sp.tenant_id);
                let support = sp.is_microsoft_support();
                let mut privileged = unapproved_privileged(ctx, &roles);
                if support {
                    // Microsoft Support's lock-out roles are reported whatever their privileged flag.
                    let allowed = allowed_privileged(ctx);
                    privileged.extend(
                        roles
                            .iter()
                            .filter(|r| {
                                MICROSOFT_SUPPORT_LOCKOUT_ROLES
                                    .iter()
                                    .any(|l| l.eq_ignore_ascii_case(r))
                                    && !allowed.contains(*r)
                            })
                            .cloned(),
                    );
                }
                if privileged.is_empty() {
                    continue;
                }
                let constraints = constraint_roles(c, &sp.tenant_id);
                let assignments: Vec<Value> = assignments_of(c, &sp.tenant_id)
                    .into_iter()
                    .filter(|a| privileged.contains(&a.role_id.to_ascii_lowercase()))
                    .map(|a| assignment_json(&ctx.roles, a))
                    .collect();
                let msg = if support {
                    format!(
                        "Microsoft Support's support-case access to this tenant allows {} beyond the Microsoft 365 Support Engineer role: {}. Microsoft adds these only for a lock-out (account recovery) support case; confirm that such a case is open. The access ends when the case closes or after 30 days at most; without such a case, remove the Microsoft Support entry from cross-tenant access settings.",
                        plural(privileged.len(), "privileged role", "privileged roles"),
                        role_names(&ctx.roles, &privileged)
                    )
                } else {
                    format!(
                        "The {} can hold {} in this tenant: {}.",
                        partner_label(Some(c), ctx, &sp.tenant_id),
                        plural(privileged.len(), "privileged role", "privileged roles"),
                        role_names(&ctx.roles, &privileged)
                    )
                };
                out.push(
                    partner_finding(self.meta(), snap, ctx, c, &sp.tenant_id, msg)
                        .ev("privileged_roles", roles_json(&ctx.roles, &privileged))
                        .ev(
                            "allowed_by_constraints",
                            roles_json(&ctx.roles, privileged.intersection(&constraints)),
                        )
                        .ev("assignments", Value::Array(assignments)),
                );
            }
        }
        out
    }
}

pub struct RolesExceedApproved;

impl RolesExceedApproved {
    fn unconfigured_sides(snap: &Snapshot, ctx: &Ctx) -> Vec<Perspective> {
        let _ = snap;
        [Perspective::Partner, Perspective::Customer]
            .into_iter()
            .filter(|p| ctx.sides.has(*p) && !ctx.config.has_approved_roles(*p))
            .collect()
    }
}

impl Rule for RolesExceedApproved {
    fn meta(&self) -> &'static RuleMeta {
        &ROLES_EXCEED_APPROVED
    }

    fn skip_reason(&self, snap: &Snapshot, ctx: &Ctx) -> Option<String> {
        let unconfigured = Self::unconfigured_sides(snap, ctx);
        let running = [Perspective::Partner, Perspective::Customer]
            .into_iter()
            .filter(|p| ctx.sides.has(*p))
            .count();
        (!unconfigured.is_empty() && unconfigured.len() == running).then(|| {
            "no approved role set is configured ([approved_roles] default, or per-customer / per-partner overrides)".to_owned()
        })
    }

    fn notes(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        let mut notes = Vec::new();
        for side in Self::unconfigured_sides(snap, ctx) {
            notes.push(Note::NotEvaluated(format!(
                "no approved role set is configured for the {} perspective ([approved_roles] default or {})",
                side.as_str(),
                if side == Perspective::Partner { "[approved_roles.customers]" } else { "[approved_roles.partners]" }
            )));
        }
        if ctx.config.approved_roles.default.is_none() {
            if let Some(p) = ctx
                .partner(snap)
                .filter(|_| ctx.config.has_approved_roles(Perspective::Partner))
            {
                let missing: Vec<String> = live(&p.relationships)
                    .filter(|r| {
                        ctx.config
                            .approved_roles_for(
                                Perspective::Partner,
                                r.relationship.customer_tenant_id().unwrap_or(""),
                            )
                            .is_none()
                    })
                    .map(|r| customer_label(&r.relationship))
                    .collect();
                if !missing.is_empty() {
                    notes.push(Note::NotEvaluated(format!(
                        "{} have no approved role set (no [approved_roles] default and no override for their customer): {}",
                        plural(missing.len(), "relationship", "relationships"),
                        some_names(&missing, 5)
                    )));
                }
            }
            if let Some(c) = ctx
                .customer(snap)
                .filter(|_| ctx.config.has_approved_roles(Perspective::Customer))
            {
                let missing: Vec<String> = service_providers(snap, c)
                    .into_iter()
                    .filter(|p| {
                        ctx.config
                            .approved_roles_for(Perspective::Customer, &p.tenant_id)
                            .is_none()
                    })
                    .map(|p| partner_short(Some(c), ctx, &p.tenant_id))
                    .collect();
                if !missing.is_empty() {
                    notes.push(Note::NotEvaluated(format!(
                        "{} have no approved role set (no [approved_roles] default and no override for them): {}",
                        plural(missing.len(), "partner", "partners"),
                        some_names(&missing, 5)
                    )));
                }
            }
        }
        notes
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(p) = ctx.partner(snap) {
            for rec in live(&p.relationships) {
                let rel = &rec.relationship;
                let Some((approved, from)) = ctx.config.approved_roles_for(
                    Perspective::Partner,
                    rel.customer_tenant_id().unwrap_or(""),
                ) else {
                    continue;
                };
                let approved = resolve_all(&ctx.roles, approved);
                let excess: BTreeSet<String> = rel
                    .access_details
                    .role_ids()
                    .into_iter()
                    .filter(|r| !approved.contains(r))
                    .collect();
                if excess.is_empty() {
                    continue;
                }
                let key =
                    from.config_key(Perspective::Partner, rel.customer_tenant_id().unwrap_or(""));
                let msg = format!(
                    "{} with {} grants {} beyond the approved set ({}): {}.",
                    relationship_label(rel),
                    customer_label(rel),
                    plural(excess.len(), "role", "roles"),
                    key,
                    role_names(&ctx.roles, &excess)
                );
                out.push(
                    rel_finding(self.meta(), snap, ctx, rel, msg)
                        .ev("excess_roles", roles_json(&ctx.roles, &excess))
                        .ev("approved_roles", roles_json(&ctx.roles, &approved))
                        .ev("approved_set", json!(key)),
                );
            }
        }
        if let Some(c) = ctx.customer(snap) {
            for sp in service_providers(snap, c) {
                let Some((approved, from)) = ctx
                    .config
                    .approved_roles_for(Perspective::Customer, &sp.tenant_id)
                else {
                    continue;
                };
                let approved = resolve_all(&ctx.roles, approved);
                let excess: BTreeSet<String> = partner_roles(c, &sp.tenant_id)
                    .into_iter()
                    .filter(|r| !approved.contains(r))
                    .collect();
                if excess.is_empty() {
                    continue;
                }
                let key = from.config_key(Perspective::Customer, &sp.tenant_id);
                let msg = format!(
                    "The {} can hold {} beyond the approved set ({}): {}.",
                    partner_label(Some(c), ctx, &sp.tenant_id),
                    plural(excess.len(), "role", "roles"),
                    key,
                    role_names(&ctx.roles, &excess)
                );
                out.push(
                    partner_finding(self.meta(), snap, ctx, c, &sp.tenant_id, msg)
                        .ev("excess_roles", roles_json(&ctx.roles, &excess))
                        .ev("approved_roles", roles_json(&ctx.roles, &approved))
                        .ev("approved_set", json!(key)),
                );
            }
        }
        out
    }
}

pub struct AutoExtendPrivileged;

impl Rule for AutoExtendPrivileged {
    fn meta(&self) -> &'static RuleMeta {
        &AUTO_EXTEND_PRIVILEGED
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(p) = ctx.partner(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for rec in live(&p.relationships) {
            let rel = &rec.relationship;
            if !rel.auto_extends() {
                continue;
            }
            let roles: BTreeSet<String> = rel.access_details.role_ids().into_iter().collect();
            let has_ga = roles.iter().any(|r| is_ga(r));
            let privileged = unapproved_privileged(ctx, &roles);
            let (severity, msg) = if has_ga {
                (
                    Severity::High,
                    format!(
                        "{} with {} auto-extends by {} at every expiry although it includes Global Administrator: Microsoft does not allow auto-extend with Global Administrator, and the access would never come up for review.",
                        relationship_label(rel),
                        customer_label(rel),
                        rel.auto_extend_duration.as_deref().unwrap_or("P180D")
                    ),
                )
            } else if !privileged.is_empty() {
                (
                    Severity::Medium,
                    format!(
                        "{} with {} auto-extends by {} at every expiry and holds {} ({}): this privileged access never comes up for review.",
                        relationship_label(rel),
                        customer_label(rel),
                        rel.auto_extend_duration.as_deref().unwrap_or("P180D"),
                        plural(privileged.len(), "privileged role", "privileged roles"),
                        role_names(&ctx.roles, &privileged)
                    ),
                )
            } else {
                continue;
            };
            let mut shown = privileged.clone();
            if has_ga {
                shown.insert(GLOBAL_ADMIN.to_owned());
            }
            out.push(
                rel_finding(self.meta(), snap, ctx, rel, msg)
                    .severity(severity)
                    .ev("auto_extend_duration", json!(rel.auto_extend_duration))
                    .ev("privileged_roles", roles_json(&ctx.roles, &shown)),
            );
        }
        out
    }
}

pub struct DurationExceedsPolicy;

impl Rule for DurationExceedsPolicy {
    fn meta(&self) -> &'static RuleMeta {
        &DURATION_EXCEEDS_POLICY
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(p) = ctx.partner(snap) else {
            return Vec::new();
        };
        let max = i64::from(ctx.config.thresholds.max_duration_days);
        let mut out = Vec::new();
        for rec in live(&p.relationships) {
            let rel = &rec.relationship;
            let Some(d) = rel.duration_days() else {
                continue;
            };
            if d <= max {
                continue;
            }
            let msg = format!(
                "{} with {} lasts {} days ({}), longer than the {max}-day maximum of your policy (thresholds.max_duration_days).",
                relationship_label(rel),
                customer_label(rel),
                d,
                rel.duration.as_deref().unwrap_or_default()
            );
            out.push(
                rel_finding(self.meta(), snap, ctx, rel, msg)
                    .ev("duration", json!(rel.duration))
                    .ev("duration_days", json!(d))
                    .ev("max_duration_days", json!(max)),
            );
        }
        out
    }
}

pub struct UnassignedRoles;

impl Rule for UnassignedRoles {
    fn meta(&self) -> &'static RuleMeta {
        &UNASSIGNED_ROLES
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(p) = ctx.partner(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for rec in &p.relationships {
            let rel = &rec.relationship;
            if rel.status != crate::model::gdap::RelationshipStatus::Active {
                continue;
            }
            let Some(assignments) = &rec.access_assignments else {
                continue;
            };
            let roles: BTreeSet<String> = rel.access_details.role_ids().into_iter().collect();
            if roles.is_empty() {
                continue;
            }
            let active: Vec<_> = assignments
                .iter()
                .filter(|a| a.status.eq_ignore_ascii_case("active"))
                .collect();
            let covered: BTreeSet<String> = active
                .iter()
                .flat_map(|a| a.access_details.role_ids())
                .collect();
            let missing: BTreeSet<String> = roles.difference(&covered).cloned().collect();
            if missing.is_empty() {
                continue;
            }
            let msg = if active.is_empty() {
                format!(
                    "{} with {} is active but has no active access assignment: its {} ({}) are granted by the customer but given to no partner security group. End it if nobody needs it.",
                    relationship_label(rel),
                    customer_label(rel),
                    plural(roles.len(), "role", "roles"),
                    role_names(&ctx.roles, &roles)
                )
            } else {
                format!(
                    "{} with {} grants {} that no active access assignment gives to a partner security group: {}.",
                    relationship_label(rel),
                    customer_label(rel),
                    plural(missing.len(), "role", "roles"),
                    role_names(&ctx.roles, &missing)
                )
            };
            out.push(
                rel_finding(self.meta(), snap, ctx, rel, msg)
                    .ev("unassigned_roles", roles_json(&ctx.roles, &missing))
                    .ev("active_assignments", json!(active.len()))
                    .ev("assignments", json!(assignments.len())),
            );
        }
        out
    }
}

pub struct AssignmentError;

impl Rule for AssignmentError {
    fn meta(&self) -> &'static RuleMeta {
        &ASSIGNMENT_ERROR
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(p) = ctx.partner(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for rec in live(&p.relationships) {
            let rel = &rec.relationship;
            let Some(assignments) = &rec.access_assignments else {
                continue;
            };
            let mut errors = 0usize;
            let mut stuck = 0usize;
            let mut bad = Vec::new();
            for a in assignments {
                let since = a.last_modified_date_time.or(a.created_date_time);
                let is_error = a.status.eq_ignore_ascii_case("error");
                let is_stuck = a.status.eq_ignore_ascii_case("pending")
                    && since.is_some_and(|s| ctx.now - s > chrono::Duration::days(1));
                if !is_error && !is_stuck {
                    continue;
                }
                if is_error {
                    errors += 1;
                } else {
                    stuck += 1;
                }
                let roles = a.access_details.role_ids();
                bad.push(json!({
                    "assignment_id": a.id,
                    "status": a.status,
                    "security_group_id": a.access_container.as_ref().map(|c| c.access_container_id.clone()),
                    "roles": roles_json(&ctx.roles, &roles),
                    "since": opt_ts(since),
                }));
            }
            if bad.is_empty() {
                continue;
            }
            let mut parts = Vec::new();
            if errors > 0 {
                parts.push(format!(
                    "{} in error",
                    plural(errors, "access assignment", "access assignments")
                ));
            }
            if stuck > 0 {
                parts.push(format!(
                    "{} pending for more than a day",
                    plural(stuck, "access assignment", "access assignments")
                ));
            }
            let msg = format!(
                "{} with {} has {}: the partner security groups concerned do not get (or keep) the roles intended for them.",
                relationship_label(rel),
                customer_label(rel),
                join_names(&parts)
            );
            out.push(
                rel_finding(self.meta(), snap, ctx, rel, msg)
                    .ev("failed_assignments", Value::Array(bad)),
            );
        }
        out
    }
}

pub struct MltDefaultRelationship;

impl Rule for MltDefaultRelationship {
    fn meta(&self) -> &'static RuleMeta {
        &MLT_DEFAULT_RELATIONSHIP
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(p) = ctx.partner(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for rec in &p.relationships {
            let rel = &rec.relationship;
            if rel.status != crate::model::gdap::RelationshipStatus::Active
                || !rel
                    .display_name
                    .get(..4)
                    .is_some_and(|s| s.eq_ignore_ascii_case("MLT_"))
            {
                continue;
            }
            let roles = rel.access_details.role_ids();
            let msg = format!(
                "{} with {} is the default relationship Microsoft created when it moved DAP to GDAP, with its broad default roles ({}). Replace it with a relationship scoped to the roles this customer needs.",
                relationship_label(rel),
                customer_label(rel),
                role_names(&ctx.roles, &roles)
            );
            out.push(rel_finding(self.meta(), snap, ctx, rel, msg));
        }
        out
    }
}

pub struct UnapprovedIndirectProvider;

impl Rule for UnapprovedIndirectProvider {
    fn meta(&self) -> &'static RuleMeta {
        &UNAPPROVED_INDIRECT_PROVIDER
    }

    fn skip_reason(&self, _snap: &Snapshot, ctx: &Ctx) -> Option<String> {
        ctx.config
            .approved_indirect_providers
            .is_none()
            .then(|| "approved_indirect_providers is not configured".to_owned())
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(p) = ctx.partner(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for rec in live(&p.relationships) {
            let rel = &rec.relationship;
            let Some(provider) = rel
                .indirect_provider_tenant_id
                .as_deref()
                .filter(|t| !t.is_empty())
            else {
                continue;
            };
            if ctx.config.indirect_provider_approved(provider) != Some(false) {
                continue;
            }
            let msg = format!(
                "{} with {} was created by indirect provider {}, which is not in approved_indirect_providers.",
                relationship_label(rel),
                customer_label(rel),
                provider
            );
            out.push(
                rel_finding(self.meta(), snap, ctx, rel, msg)
                    .ev("indirect_provider_tenant_id", json!(provider)),
            );
        }
        out
    }
}

/// Microsoft Graph application permissions that write directory, role, application or policy data.
pub fn is_sensitive_graph_write(permission: &str) -> bool {
    let p = permission.trim();
    let Some((family, rest)) = p.split_once('.') else {
        return false;
    };
    let writes = rest.to_ascii_lowercase().starts_with("readwrite");
    let family = family.to_ascii_lowercase();
    writes
        && matches!(
            family.as_str(),
            "directory"
                | "rolemanagement"
                | "roleassignmentschedule"
                | "roleeligibilityschedule"
                | "rolemanagementpolicy"
                | "application"
                | "approleassignment"
                | "delegatedpermissiongrant"
                | "policy"
        )
}

pub struct PartnerOwnedApp;

impl PartnerOwnedApp {
    /// Service principals owned by a service-provider partner (never Microsoft), with their owner.
    fn partner_owned<'a>(
        snap: &Snapshot,
        c: &'a CustomerData,
    ) -> impl Iterator<Item = (&'a crate::snapshot::ServicePrincipalRecord, &'a str)> {
        c.service_principals.iter().filter_map(move |rec| {
            let owner = rec
                .service_principal
                .app_owner_organization_id
                .as_deref()
                .filter(|o| !o.is_empty())?;
            (owner != MICROSOFT_TENANT && is_service_provider(snap, c, owner))
                .then_some((rec, owner))
        })
    }
}

impl Rule for PartnerOwnedApp {
    fn meta(&self) -> &'static RuleMeta {
        &PARTNER_OWNED_APP
    }

    /// An app whose grants could not be read cannot be given a severity: not evaluated, rather than a
    /// possibly weaker finding.
    fn notes(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let unknown: Vec<String> = Self::partner_owned(snap, c)
            .filter(|(rec, _)| rec.app_roles.is_none())
            .map(|(rec, _)| {
                let sp = &rec.service_principal;
                sp.display_name.clone().unwrap_or_else(|| sp.id.clone())
            })
            .collect();
        if unknown.is_empty() {
            return Vec::new();
        }
        vec![Note::NotEvaluated(format!(
            "the application permissions of {} owned by partners could not be read ({}); not evaluated",
            plural(unknown.len(), "app", "apps"),
            some_names(&unknown, 5)
        ))]
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (rec, owner) in Self::partner_owned(snap, c) {
            let sp = &rec.service_principal;
            if rec.app_roles.is_none() {
                // See `notes`: not evaluated.
                continue;
            }
            let name = sp.display_name.clone().unwrap_or_else(|| sp.app_id.clone());
            let partner = partner_label(Some(c), ctx, owner);
            let writes: Vec<String> = rec
                .app_roles
                .iter()
                .flatten()
                .filter(|g| {
                    g.resource_app_id
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(MICROSOFT_GRAPH_APP_ID))
                        || g.resource.eq_ignore_ascii_case("Microsoft Graph")
                })
                .filter(|g| is_sensitive_graph_write(&g.permission))
                .map(|g| g.permission.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let (severity, msg) = if !writes.is_empty() {
                (
                    Severity::High,
                    format!(
                        "App \"{name}\", registered in the tenant of the {partner}, has a service principal here with Microsoft Graph application permissions that can change directory, role, application or policy data: {}. Whoever holds the app's credentials in the partner tenant can use them without MFA or Conditional Access.",
                        join_names(&writes)
                    ),
                )
            } else {
                let held = rec.app_roles.as_ref().map_or(0, Vec::len);
                let perms = if held == 0 {
                    "it holds no application permissions".to_owned()
                } else {
                    format!(
                        "it holds {}, none of which write directory, role, application or policy data",
                        plural(held, "application permission", "application permissions")
                    )
                };
                (
                    Severity::Medium,
                    format!(
                        "App \"{name}\", registered in the tenant of the {partner}, has a service principal in this tenant ({perms}). Check that it is still needed."
                    ),
                )
            };
            let grants: Vec<Value> = rec
                .app_roles
                .iter()
                .flatten()
                .map(|g| json!({"resource": g.resource, "resource_app_id": g.resource_app_id, "permission": g.permission}))
                .collect();
            out.push(
                finding(
                    self.meta(),
                    subject(SubjectKind::ServicePrincipal, &sp.id, Some(name.clone())),
                    msg,
                )
                .severity(severity)
                .partner(Some(owner))
                .customer(Some(&snap.tenant_id))
                .ev("service_principal_id", json!(sp.id))
                .ev("app_id", json!(sp.app_id))
                .ev("app_owner_organization_id", json!(owner))
                .ev("partner_name", json!(partner_name(Some(c), ctx, owner)))
                .ev("account_enabled", json!(sp.account_enabled))
                .ev(
                    "app_roles",
                    if rec.app_roles.is_some() {
                        Value::Array(grants)
                    } else {
                        Value::Null
                    },
                )
                .ev("sensitive_permissions", json!(writes)),
            );
        }
        out
    }
}

pub struct LegacyDap;

impl LegacyDap {
    fn customer_name(p: &PartnerData, tenant: &str) -> Option<String> {
        p.customers
            .iter()
            .find(|c| c.tenant_id == tenant)
            .and_then(|c| c.display_name.clone())
            .or_else(|| {
                p.contracts
                    .iter()
                    .find(|c| c.customer_id == tenant)
                    .and_then(|c| c.display_name.clone())
            })
            .or_else(|| {
                p.relationships
                    .iter()
                    .find(|r| r.relationship.customer_tenant_id() == Some(tenant))
                    .and_then(|r| r.relationship.customer_name().map(str::to_owned))
            })
            .filter(|n| !n.is_empty())
    }

    fn partner_side(&self, snap: &Snapshot, p: &PartnerData) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut flagged: BTreeSet<String> = BTreeSet::new();
        if snap.has(Source::LighthouseMyRoles) {
            for role in &p.lighthouse_roles {
                let dap: Vec<_> = role.assignments.iter().filter(|a| a.is_dap()).collect();
                if dap.is_empty() || role.tenant_id.is_empty() {
                    continue;
                }
                let tenant = role.tenant_id.clone();
                if !flagged.insert(tenant.clone()) {
                    continue;
                }
                let name = Self::customer_name(p, &tenant);
                let roles: Vec<String> = dap
                    .iter()
                    .flat_map(|a| a.roles.iter())
                    .filter_map(|r| r.display_name.clone().or_else(|| r.template_id.clone()))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let label = name
                    .as_deref()
                    .map(|n| format!("customer {n}"))
                    .unwrap_or_else(|| format!("customer tenant {tenant}"));
                let msg = format!(
                    "Microsoft 365 Lighthouse shows legacy delegated admin privileges (DAP) for {label}{}: your Admin Agents keep standing admin access there with no expiry. Remove DAP and use GDAP.",
                    if roles.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", join_names(&roles))
                    }
                );
                out.push(
                    finding(
                        self.meta(),
                        subject(SubjectKind::Tenant, &tenant, name.clone()),
                        msg,
                    )
                    .partner(Some(&snap.tenant_id))
                    .customer(Some(&tenant))
                    .ev("signal", json!("lighthouse"))
                    .ev("customer_tenant_id", json!(tenant))
                    .ev("customer_name", json!(name))
                    .ev(
                        "assignment_types",
                        json!(
                            dap.iter()
                                .map(|a| a.assignment_type.clone())
                                .collect::<Vec<_>>()
                        ),
                    )
                    .ev("roles", json!(roles)),
                );
            }
        }
        if snap.has(Source::Contracts) && snap.has(Source::GdapRelationships) {
            let live_customers: BTreeSet<String> = live(&p.relationships)
                .filter_map(|r| r.relationship.customer_tenant_id().map(str::to_owned))
                .collect();
            let mut seen = BTreeSet::new();
            for contract in &p.contracts {
                let tenant = contract.customer_id.clone();
                if tenant.is_empty()
                    || !seen.insert(tenant.clone())
                    || flagged.contains(&tenant)
                    || live_customers.contains(&tenant)
                {
                    continue;
                }
                let name = contract
                    .display_name
                    .clone()
                    .filter(|n| !n.is_empty())
                    .or_else(|| Self::customer_name(p, &tenant));
                let label = name
                    .as_deref()
                    .map(|n| format!("Customer {n}"))
                    .unwrap_or_else(|| format!("Customer tenant {tenant}"));
                let msg = format!(
                    "{label} has a partner contract ({}) but no live GDAP relationship: if your Admin Agents still reach it, that is legacy DAP access. Check it in Partner Center and remove DAP, or move the customer to GDAP.",
                    contract.contract_type.as_deref().unwrap_or("contract")
                );
                out.push(
                    finding(
                        self.meta(),
                        subject(SubjectKind::Tenant, &tenant, name.clone()),
                        msg,
                    )
                    .severity(Severity::Medium)
                    .partner(Some(&snap.tenant_id))
                    .customer(Some(&tenant))
                    .ev("signal", json!("contract_without_gdap"))
                    .ev("customer_tenant_id", json!(tenant))
                    .ev("customer_name", json!(name))
                    .ev("contract_id", json!(contract.id))
                    .ev("contract_type", json!(contract.contract_type))
                    .ev("default_domain_name", json!(contract.default_domain_name)),
                );
            }
        }
        out
    }

    fn customer_side(&self, snap: &Snapshot, ctx: &Ctx, c: &CustomerData) -> Vec<Finding> {
        let mut by_tenant: BTreeMap<String, Vec<&crate::snapshot::ForeignRoleAssignment>> =
            BTreeMap::new();
        for a in &c.foreign_role_assignments {
            let t = a.home_tenant_id.clone();
            if t.is_empty()
                || t == snap.tenant_id
                || t == MICROSOFT_TENANT
                || is_service_provider(snap, c, &t)
            {
                continue;
            }
            by_tenant.entry(t).or_default().push(a);
        }
        let mut out = Vec::new();
        for (tenant, assignments) in by_tenant {
            let support = tenant == MICROSOFT_SUPPORT_TENANT;
            let roles: BTreeSet<String> = assignments
                .iter()
                .map(|a| a.role_id.to_ascii_lowercase())
                .collect();
            let name = c
                .partner(&tenant)
                .and_then(|p| p.display_name.clone())
                .filter(|n| !n.is_empty())
                .or_else(|| ctx.config.partner(&tenant).and_then(|p| p.name.clone()))
                .or_else(|| support.then(|| "Microsoft Support".to_owned()));
            let label = name
                .as_deref()
                .map(|n| format!("tenant {n} ({tenant})"))
                .unwrap_or_else(|| format!("tenant {tenant}"));
            let holders: Vec<String> = assignments
                .iter()
                .map(|a| {
                    let who = a
                        .principal_name
                        .clone()
                        .unwrap_or_else(|| a.principal_id.clone());
                    let kind = match a.principal_type.as_str() {
                        "directoryObjectPartnerReference" => "partner group",
                        "group" => "group",
                        "user" => "user",
                        "servicePrincipal" => "app",
                        _ => "principal",
                    };
                    format!("{kind} \"{who}\" holds {}", ctx.roles.name(&a.role_id))
                })
                .collect();
            let why = if support {
                "Microsoft Support's tenant should have access only through its support-case entry in cross-tenant access settings while a case is open; remove these assignments unless Microsoft asked for them in an open case."
            } else {
                "This is how legacy DAP gave partners admin access (the Admin Agents and Helpdesk Agents groups)."
            };
            let msg = format!(
                "Principals of {label}, which is not a service-provider (GDAP) partner of this tenant, hold {} here ({}): {}. {why}",
                plural(roles.len(), "directory role", "directory roles"),
                role_names(&ctx.roles, &roles),
                some_names(&holders, 3)
            );
            out.push(
                finding(
                    self.meta(),
                    subject(SubjectKind::Tenant, &tenant, name.clone()),
                    msg,
                )
                .partner(Some(&tenant))
                .customer(Some(&snap.tenant_id))
                .ev("signal", json!("foreign_role_assignment"))
                .ev("foreign_tenant_id", json!(tenant))
                .ev("roles", roles_json(&ctx.roles, &roles))
                .ev(
                    "assignments",
                    Value::Array(
                        assignments
                            .iter()
                            .map(|a| assignment_json(&ctx.roles, a))
                            .collect(),
                    ),
                ),
            );
        }
        out
    }
}

impl Rule for LegacyDap {
    fn meta(&self) -> &'static RuleMeta {
        &LEGACY_DAP
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(p) = ctx.partner(snap) {
            out.extend(self.partner_side(snap, p));
        }
        if let Some(c) = ctx.customer(snap) {
            out.extend(self.customer_side(snap, ctx, c));
        }
        out
    }
}
