//! Newly offered or changed access: pending offers, new partners and relationships, roles added.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::common::*;
use super::context::Ctx;
use super::finding::{Finding, Severity, SubjectKind};
use super::meta::{Note, Rule, RuleMeta, refs};
use super::stale::partner_added_events;
use crate::model::gdap::RelationshipStatus;
use crate::model::logs::DirectoryAudit;
use crate::model::tenant_id;
use crate::snapshot::{CustomerData, Perspective, Snapshot, Source};

const BOTH: &[Perspective] = &[Perspective::Partner, Perspective::Customer];

pub static PENDING_APPROVAL: RuleMeta = RuleMeta {
    id: "pending-approval",
    title: "Delegated admin offer pending",
    default_severity: Severity::High,
    perspectives: &[Perspective::Partner],
    fires_when: "A relationship is in approvalPending (an offer waiting for the customer), or a reseller \
        relationship has isPartnerConsentPending true. Evidence: age in days (offers expire after 90).",
    rationale: "Sending new delegated administrator offers is itself part of MITRE T1199: an offer the \
        customer approves without scrutiny grants standing admin access. Every open offer should be \
        known and intended.",
    remediation: "Confirm the offer is expected and its roles are least-privileged; otherwise terminate \
        it before the customer approves it. Reseller relationships: review and accept or reject the \
        indirect provider's relationship.",
    sources: &[Source::GdapRelationships],
    optional_sources: &[],
    config_keys: &[],
    references: &[
        refs::MITRE_T1199,
        refs::GDAP_FAQ,
        refs::GRAPH_RELATIONSHIP,
        refs::GRAPH_RESELLER_RELATIONSHIP,
    ],
    from_evaluator: false,
};

pub static NEW_PARTNER_ACCESS: RuleMeta = RuleMeta {
    id: "new-partner-access",
    title: "New partner access",
    default_severity: Severity::High,
    perspectives: BOTH,
    fires_when: "Partner side: a live relationship created within thresholds.new_within_days (7), or absent \
        from the previous run. Customer side: a service-provider partner absent from the previous run, or \
        named by an \"Add a partner to cross-tenant access setting\" audit event within new_within_days. On \
        a first run (no history) only the dated signals count. Microsoft Support's support-case entry is \
        not a new partner. Azure (both sides): an Azure Lighthouse delegation whose registration definition \
        was created within new_within_days, or that the previous run (which read delegations) did not have \
        (customer side: merged into the managing tenant's finding).",
    rationale: "A new delegated-admin path into a tenant is the moment a trusted-relationship compromise \
        begins (MITRE T1199); CISA AA22-131A asks customers to monitor their MSPs' access. New access \
        should always match a known, approved engagement.",
    remediation: "Confirm the new relationship or partner with the people who requested it and check its \
        roles; if nobody expects it, end it (Settings > Partner relationships) and investigate who \
        approved it.",
    sources: &[Source::GdapRelationships, Source::XtapPartners],
    // The customer-side evidence lists the roles the partner can hold: constraints and assignments.
    optional_sources: &[
        Source::DirectoryAudits,
        Source::XtapServiceProviderConstraints,
        Source::RoleAssignments,
        Source::AzureLighthouse,
        Source::AzureDelegatedSubscriptions,
    ],
    config_keys: &["thresholds.new_within_days"],
    references: &[
        refs::MITRE_T1199,
        refs::CISA_AA22_131A,
        refs::ENTRA_AUDIT_ACTIVITIES,
        refs::NOBELIUM_DAP,
    ],
    from_evaluator: false,
};

pub static ROLES_ADDED: RuleMeta = RuleMeta {
    id: "roles-added",
    title: "Partner roles added",
    default_severity: Severity::High,
    perspectives: BOTH,
    fires_when: "The role set of a live relationship (partner side) or of a service-provider partner \
        (customer side: constraints plus role assignments) grew since the previous run. Needs history; on \
        a first run the customer side only uses \"Add allowed assignable roles\" audit events within \
        new_within_days. Azure (both sides): an Azure Lighthouse delegation the previous run also saw \
        whose authorizations (permanent or eligible) grew; one finding per delegation.",
    rationale: "Roles added to an existing partner widen standing access quietly, without the scrutiny a \
        new relationship gets (MITRE T1199; CISA AA22-131A monitoring of MSP access).",
    remediation: "Check who added the roles and why; remove them if they are not needed or not agreed.",
    sources: &[
        Source::GdapRelationships,
        Source::XtapPartners,
        Source::XtapServiceProviderConstraints,
        Source::RoleAssignments,
    ],
    optional_sources: &[
        Source::DirectoryAudits,
        Source::AzureLighthouse,
        Source::AzureDelegatedSubscriptions,
    ],
    config_keys: &["thresholds.new_within_days"],
    references: &[
        refs::MITRE_T1199,
        refs::CISA_AA22_131A,
        refs::ENTRA_AUDIT_ACTIVITIES,
    ],
    from_evaluator: false,
};

pub static METAS: &[&RuleMeta] = &[&PENDING_APPROVAL, &NEW_PARTNER_ACCESS, &ROLES_ADDED];

/// Within `new_within_days` of the clock. A threshold reaching before any representable date makes
/// everything recent (checked: the threshold is any number from configuration).
fn is_recent(ctx: &Ctx, at: chrono::DateTime<chrono::Utc>) -> bool {
    days_before(ctx.now, ctx.config.thresholds.new_within_days).is_none_or(|t| at > t)
}

fn audit_json(e: &DirectoryAudit) -> Value {
    json!({
        "id": e.id,
        "at": ts(e.activity_date_time),
        "activity": e.activity_display_name,
        "category": e.category,
        "initiated_by": e.initiated_by.as_ref().and_then(|i| {
            i.user.as_ref().and_then(|u| u.user_principal_name.clone())
                .or_else(|| i.app.as_ref().and_then(|a| a.display_name.clone()))
        }),
    })
}

pub struct PendingApproval;

impl Rule for PendingApproval {
    fn meta(&self) -> &'static RuleMeta {
        &PENDING_APPROVAL
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(p) = ctx.partner(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for rec in live(&p.relationships) {
            let rel = &rec.relationship;
            let awaiting_customer = rel.status == RelationshipStatus::ApprovalPending;
            let consent_pending = rel.is_partner_consent_pending == Some(true);
            if !awaiting_customer && !consent_pending {
                continue;
            }
            let since = rel.created_date_time.or(rel.last_modified_date_time);
            let age = since.map(|s| days_between(s, ctx.now).max(0));
            let roles = rel.access_details.role_ids();
            let age_text = match (age, since) {
                (Some(a), Some(s)) => format!(
                    "for {} (since {})",
                    plural(usize::try_from(a).unwrap_or(usize::MAX), "day", "days"),
                    date(s)
                ),
                _ => "(creation date unknown)".to_owned(),
            };
            let msg = if awaiting_customer {
                format!(
                    "{} offered to {} has been waiting for the customer's approval {age_text}; offers expire after 90 days. It requests {}.",
                    relationship_label(rel),
                    customer_label(rel),
                    if roles.is_empty() {
                        "no roles".to_owned()
                    } else {
                        role_names(&ctx.roles, &roles)
                    }
                )
            } else {
                format!(
                    "{} with {}, created by indirect provider {}, has not been reviewed by you yet (isPartnerConsentPending); it has been waiting {age_text}. It requests {}.",
                    relationship_label(rel),
                    customer_label(rel),
                    rel.indirect_provider_tenant_id
                        .as_deref()
                        .unwrap_or("(unknown)"),
                    if roles.is_empty() {
                        "no roles".to_owned()
                    } else {
                        role_names(&ctx.roles, &roles)
                    }
                )
            };
            out.push(
                finding(self.meta(), relationship_subject(rel), msg)
                    .partner(Some(&snap.tenant_id))
                    .customer(rel.customer_tenant_id())
                    .ev("relationship_id", json!(rel.id))
                    .ev("status", json!(rel.status.as_str()))
                    .ev("customer_tenant_id", json!(rel.customer_tenant_id()))
                    .ev("customer_name", json!(rel.customer_name()))
                    .ev("partner_consent_pending", json!(consent_pending))
                    .ev("created_date_time", opt_ts(rel.created_date_time))
                    .ev("age_days", json!(age))
                    .ev(
                        "expires_in_days",
                        json!(
                            age.filter(|_| awaiting_customer)
                                .map(|a| 90i64.saturating_sub(a).max(0))
                        ),
                    )
                    .ev("roles", roles_json(&ctx.roles, &roles)),
            );
        }
        out
    }
}

pub struct NewPartnerAccess;

impl NewPartnerAccess {
    fn customer_side(&self, snap: &Snapshot, ctx: &Ctx, c: &CustomerData) -> Vec<Finding> {
        let previous = ctx
            .history
            .previous
            .as_ref()
            .filter(|p| p.partners_collected);
        let mut out = Vec::new();
        for sp in partner_service_providers(snap, c) {
            let absent = previous.filter(|p| previous_service_provider(p, &sp.tenant_id).is_none());
            let events: Vec<&DirectoryAudit> = if snap.has(Source::DirectoryAudits) {
                partner_added_events(c, &sp.tenant_id)
                    .filter(|e| is_recent(ctx, e.activity_date_time))
                    .collect()
            } else {
                Vec::new()
            };
            if absent.is_none() && events.is_empty() {
                continue;
            }
            let mut why = Vec::new();
            if let Some(p) = absent {
                why.push(format!(
                    "it was not a partner at the previous audit on {}",
                    date(p.at)
                ));
            }
            if let Some(e) = events.iter().max_by_key(|e| e.activity_date_time) {
                why.push(format!(
                    "it was added to cross-tenant access settings on {}",
                    date(e.activity_date_time)
                ));
            }
            let roles = partner_roles(c, &sp.tenant_id);
            let roles_text = if roles.is_empty() {
                "no known roles yet".to_owned()
            } else {
                format!("roles {}", role_names(&ctx.roles, &roles))
            };
            let msg = format!(
                "The {} is a new service-provider partner with delegated admin access to this tenant ({}), with {roles_text}. Confirm it matches an engagement you approved.",
                partner_label(Some(c), ctx, &sp.tenant_id),
                join_names(&why)
            );
            out.push(
                partner_finding(self.meta(), snap, ctx, c, &sp.tenant_id, msg)
                    .ev("absent_from_previous_run", json!(absent.is_some()))
                    .ev("previous_run_at", opt_ts(absent.map(|p| p.at)))
                    .ev(
                        "audit_events",
                        Value::Array(events.iter().map(|e| audit_json(e)).collect()),
                    )
                    .ev("roles", roles_json(&ctx.roles, &roles)),
            );
        }
        out
    }
}

impl Rule for NewPartnerAccess {
    fn meta(&self) -> &'static RuleMeta {
        &NEW_PARTNER_ACCESS
    }

    fn notes(&self, _snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        if ctx.history.is_first_run() {
            vec![Note::Warning(format!(
                "new-partner-access: first run (no history), so only access created or added within the last {} days is reported as new",
                ctx.config.thresholds.new_within_days
            ))]
        } else {
            Vec::new()
        }
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(p) = ctx.partner(snap) {
            let previous = ctx
                .history
                .previous
                .as_ref()
                .filter(|p| p.relationships_collected);
            for rec in live(&p.relationships) {
                let rel = &rec.relationship;
                let created_recently = rel.created_date_time.filter(|c| is_recent(ctx, *c));
                let absent = previous.filter(|p| !p.relationships.contains_key(&rel.id));
                if created_recently.is_none() && absent.is_none() {
                    continue;
                }
                let mut why = Vec::new();
                if let Some(c) = created_recently {
                    why.push(format!("created on {}", date(c)));
                }
                if let Some(p) = absent {
                    why.push(format!(
                        "not present at the previous audit on {}",
                        date(p.at)
                    ));
                }
                let roles = rel.access_details.role_ids();
                let msg = format!(
                    "{} with {} is new ({}), status {}, with {}.",
                    relationship_label(rel),
                    customer_label(rel),
                    join_names(&why),
                    rel.status.as_str(),
                    if roles.is_empty() {
                        "no roles".to_owned()
                    } else {
                        format!("roles {}", role_names(&ctx.roles, &roles))
                    }
                );
                out.push(
                    finding(self.meta(), relationship_subject(rel), msg)
                        .partner(Some(&snap.tenant_id))
                        .customer(rel.customer_tenant_id())
                        .ev("relationship_id", json!(rel.id))
                        .ev("status", json!(rel.status.as_str()))
                        .ev("customer_tenant_id", json!(rel.customer_tenant_id()))
                        .ev("customer_name", json!(rel.customer_name()))
                        .ev("created_date_time", opt_ts(rel.created_date_time))
                        .ev("absent_from_previous_run", json!(absent.is_some()))
                        .ev("roles", roles_json(&ctx.roles, &roles)),
                );
            }
        }
        if let Some(p) = ctx.partner(snap)
            && let Some(azure) = p
                .azure
                .as_ref()
                .filter(|_| snap.has(Source::AzureDelegatedSubscriptions))
        {
            let recent = super::azure::recent_delegations(
                azure,
                Perspective::Partner,
                |t| is_recent(ctx, t),
                |id| absent_delegation(ctx, id),
            );
            for (tenant, (delegations, phrases, name)) in recent {
                let label = match &name {
                    Some(n) => format!("{n} ({tenant})"),
                    None => tenant.clone(),
                };
                let msg = format!(
                    "New Azure Lighthouse access to the customer {label}: {}.",
                    join_names(&phrases)
                );
                out.push(
                    finding(
                        self.meta(),
                        subject(SubjectKind::Tenant, &tenant, name),
                        msg,
                    )
                    .partner(Some(&snap.tenant_id))
                    .customer(Some(&tenant))
                    .ev("customer_tenant_id", json!(tenant))
                    .ev("lighthouse_delegations", Value::Array(delegations)),
                );
            }
        }
        if let Some(c) = ctx.customer(snap) {
            out.extend(self.customer_side(snap, ctx, c));
            if let Some(azure) = c
                .azure
                .as_ref()
                .filter(|_| snap.has(Source::AzureLighthouse))
            {
                let recent = super::azure::recent_delegations(
                    azure,
                    Perspective::Customer,
                    |t| is_recent(ctx, t),
                    |id| absent_delegation(ctx, id),
                );
                for (tenant, (delegations, phrases, name)) in recent {
                    // One finding per partner: a partner new both ways gets its delegations as evidence.
                    if let Some(f) = out
                        .iter_mut()
                        .find(|f| f.partner_tenant_id.as_deref() == Some(tenant.as_str()))
                    {
                        f.evidence
                            .insert("lighthouse_delegations", Value::Array(delegations));
                        f.message.push_str(&format!(
                            " Also new in Azure Lighthouse: {}.",
                            join_names(&phrases)
                        ));
                        continue;
                    }
                    let label = match partner_name(Some(c), ctx, &tenant).or(name) {
                        Some(n) => format!("managing tenant {n} ({tenant})"),
                        None => format!("managing tenant {tenant}"),
                    };
                    let msg = format!(
                        "Azure resources of this tenant were newly delegated through Azure Lighthouse to the {label}: {}. Confirm it matches an engagement you approved.",
                        join_names(&phrases)
                    );
                    out.push(
                        partner_finding(self.meta(), snap, ctx, c, &tenant, msg)
                            .ev("lighthouse_delegations", Value::Array(delegations)),
                    );
                }
            }
        }
        out
    }
}

pub struct RolesAdded;

/// "Add allowed assignable roles" (also "Adding ...") constraint events naming `tenant` (normalised;
/// target ids are normalised for the comparison, see [`partner_added_events`]).
fn roles_allowed_events<'a>(
    c: &'a CustomerData,
    tenant: &'a str,
) -> impl Iterator<Item = &'a DirectoryAudit> {
    c.audits.events.iter().filter(move |e| {
        let a = e.activity_display_name.trim().to_ascii_lowercase();
        (a.starts_with("add allowed assignable roles")
            || a.starts_with("adding allowed assignable roles"))
            && !e
                .result
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("failure"))
            && e.target_resources.iter().any(|t| {
                t.id.as_deref()
                    .is_some_and(|id| tenant_id::normalise(id) == tenant)
            })
    })
}

/// A Lighthouse delegation the previous run (which read delegations) did not have.
fn absent_delegation(ctx: &Ctx, id: &str) -> bool {
    ctx.history
        .previous
        .as_ref()
        .is_some_and(|p| p.delegations_collected && !p.delegations.contains_key(id))
}

impl Rule for RolesAdded {
    fn meta(&self) -> &'static RuleMeta {
        &ROLES_ADDED
    }

    fn notes(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        let mut notes = Vec::new();
        let previous = ctx.history.previous.as_ref();
        if ctx.sides.partner && !previous.is_some_and(|p| p.relationships_collected) {
            notes.push(Note::NotEvaluated(
                "no previous run with relationships to compare with (first run); role changes are detected from the next run on"
                    .to_owned(),
            ));
        }
        if let (Some(c), Some(prev)) = (
            ctx.customer(snap),
            previous.filter(|p| p.partners_collected),
        ) {
            let incomplete: Vec<String> = service_providers(snap, c)
                .into_iter()
                .filter(|sp| {
                    previous_service_provider(prev, &sp.tenant_id)
                        .is_some_and(|p| !p.roles_complete)
                })
                .map(|sp| partner_short(Some(c), ctx, &sp.tenant_id))
                .collect();
            if !incomplete.is_empty() {
                notes.push(Note::NotEvaluated(format!(
                    "the previous run could not read the full role set of {} ({}); not evaluated for them",
                    plural(incomplete.len(), "partner", "partners"),
                    some_names(&incomplete, 5)
                )));
            }
        }
        if ctx.sides.customer && !previous.is_some_and(|p| p.partners_collected) {
            notes.push(Note::Warning(format!(
                "roles-added: no previous run with partners to compare with (first run); only \"Add allowed assignable roles\" audit events from the last {} days were checked",
                ctx.config.thresholds.new_within_days
            )));
        }
        notes
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let mut out = Vec::new();
        let previous = ctx.history.previous.as_ref();
        if let (Some(p), Some(prev)) = (
            ctx.partner(snap),
            previous.filter(|p| p.relationships_collected),
        ) {
            for rec in live(&p.relationships) {
                let rel = &rec.relationship;
                let Some(before) = prev.relationships.get(&rel.id) else {
                    continue;
                };
                let before: BTreeSet<String> = before
                    .roles
                    .iter()
                    .map(|r| r.to_ascii_lowercase())
                    .collect();
                let now: BTreeSet<String> = rel.access_details.role_ids().into_iter().collect();
                let added: BTreeSet<String> = now.difference(&before).cloned().collect();
                if added.is_empty() {
                    continue;
                }
                let msg = format!(
                    "{} with {} gained {} since the previous audit on {}: {}.",
                    relationship_label(rel),
                    customer_label(rel),
                    plural(added.len(), "role", "roles"),
                    date(prev.at),
                    role_names(&ctx.roles, &added)
                );
                out.push(
                    finding(self.meta(), relationship_subject(rel), msg)
                        .partner(Some(&snap.tenant_id))
                        .customer(rel.customer_tenant_id())
                        .ev("relationship_id", json!(rel.id))
                        .ev("customer_tenant_id", json!(rel.customer_tenant_id()))
                        .ev("customer_name", json!(rel.customer_name()))
                        .ev("added_roles", roles_json(&ctx.roles, &added))
                        .ev("previous_roles", roles_json(&ctx.roles, &before))
                        .ev("previous_run_at", ts(prev.at)),
                );
            }
        }
        if let Some(c) = ctx.customer(snap) {
            let prev = previous.filter(|p| p.partners_collected);
            for sp in service_providers(snap, c) {
                let now = partner_roles(c, &sp.tenant_id);
                let label = partner_label(Some(c), ctx, &sp.tenant_id);
                let base =
                    |msg: String| partner_finding(self.meta(), snap, ctx, c, &sp.tenant_id, msg);
                match prev {
                    Some(prev) => {
                        // A partner absent from the previous run is new-partner-access, not roles-added.
                        // An incomplete previous role set cannot tell what was added (notes()).
                        let Some(before) = previous_service_provider(prev, &sp.tenant_id) else {
                            continue;
                        };
                        if !before.roles_complete {
                            continue;
                        }
                        let before: BTreeSet<String> = before
                            .roles
                            .iter()
                            .map(|r| r.to_ascii_lowercase())
                            .collect();
                        let added: BTreeSet<String> = now.difference(&before).cloned().collect();
                        if added.is_empty() {
                            continue;
                        }
                        let msg = format!(
                            "The {label} gained {} in this tenant since the previous audit on {}: {}.",
                            plural(added.len(), "role", "roles"),
                            date(prev.at),
                            role_names(&ctx.roles, &added)
                        );
                        out.push(
                            base(msg)
                                .ev("added_roles", roles_json(&ctx.roles, &added))
                                .ev("previous_roles", roles_json(&ctx.roles, &before))
                                .ev("previous_run_at", ts(prev.at)),
                        );
                    }
                    None => {
                        if !snap.has(Source::DirectoryAudits) {
                            continue;
                        }
                        let events: Vec<&DirectoryAudit> = roles_allowed_events(c, &sp.tenant_id)
                            .filter(|e| is_recent(ctx, e.activity_date_time))
                            .collect();
                        let Some(last) = events.iter().map(|e| e.activity_date_time).max() else {
                            continue;
                        };
                        let msg = format!(
                            "Roles were added to the service-provider constraints of the {label} on {} (audit event \"Add allowed assignable roles\"); it can now hold {}.",
                            date(last),
                            if now.is_empty() {
                                "no known roles".to_owned()
                            } else {
                                role_names(&ctx.roles, &now)
                            }
                        );
                        out.push(
                            base(msg)
                                .ev(
                                    "audit_events",
                                    Value::Array(events.iter().map(|e| audit_json(e)).collect()),
                                )
                                .ev("roles", roles_json(&ctx.roles, &now)),
                        );
                    }
                }
            }
        }
        out.extend(super::azure::delegation_roles_added(snap, ctx, self.meta()));
        out
    }
}
