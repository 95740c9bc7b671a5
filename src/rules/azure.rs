//! Azure: partner access to Azure subscriptions through DAP-era foreign principals and Azure Lighthouse.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::common::*;
use super::context::Ctx;
use super::finding::{Finding, Severity, SubjectKind};
use super::meta::{Note, Rule, RuleMeta, refs};
use crate::model::azure::{RegistrationAssignment, role_guid, roles, scope_kind};
use crate::model::tenant_id;
use crate::snapshot::{
    AzureData, AzureSubscriptionRecord, CustomerData, Perspective, Snapshot, Source,
};

const BOTH: &[Perspective] = &[Perspective::Partner, Perspective::Customer];

const LIGHTHOUSE_ROLES: &str =
    "https://learn.microsoft.com/en-us/azure/lighthouse/concepts/tenants-users-roles";
const LIGHTHOUSE_ELIGIBLE: &str =
    "https://learn.microsoft.com/en-us/azure/lighthouse/how-to/create-eligible-authorizations";
const LIGHTHOUSE_VIEW_REMOVE: &str =
    "https://learn.microsoft.com/en-us/azure/lighthouse/how-to/view-manage-service-providers";
const DAP_AZURE_FOREIGN: &str =
    "https://learn.microsoft.com/en-us/partner-center/customers/azure-plan-manage-access";

pub static AZURE_LEGACY_DAP_OWNER: RuleMeta = RuleMeta {
    id: "azure-legacy-dap-owner",
    title: "Foreign principal holds Owner-level Azure access",
    default_severity: Severity::Critical,
    perspectives: &[Perspective::Customer],
    fires_when: "An Azure role assignment of Owner, Contributor, User Access Administrator or Role Based \
        Access Control Administrator at subscription, management-group or root scope is held by a \
        principal of another tenant (principalType ForeignGroup: the DAP-era Admin Agents group). The \
        partner tenant is named when the same principal also holds a directory role (role_assignments).",
    rationale: "Legacy DAP made the partner's Admin Agents group Owner of the customer's Azure \
        subscriptions. Removing DAP in the Microsoft 365 admin center does not remove it: the partner's \
        whole agent group keeps full control of the subscriptions, unscoped and without expiry (MITRE T1199; \
        the access NOBELIUM abused).",
    remediation: "In the Azure portal, open the subscription's Access control (IAM), find the \"Foreign \
        principal\" role assignment and remove it; if the partner still needs Azure access, give it an \
        Azure Lighthouse delegation with least-privileged, eligible (just-in-time) roles.",
    sources: &[Source::AzureSubscriptions, Source::AzureRoleAssignments],
    optional_sources: &[Source::RoleAssignments],
    config_keys: &[],
    references: &[
        refs::MITRE_T1199,
        refs::NOBELIUM_DAP,
        DAP_AZURE_FOREIGN,
        refs::DAP_FAQ,
    ],
    from_evaluator: false,
};

pub static LIGHTHOUSE_PRIVILEGED_DELEGATION: RuleMeta = RuleMeta {
    id: "lighthouse-privileged-delegation",
    title: "Lighthouse delegation with standing privileged access",
    default_severity: Severity::High,
    perspectives: BOTH,
    fires_when: "An Azure Lighthouse delegation authorizes the managing tenant permanently (authorizations, \
        not eligibleAuthorizations) with Contributor or above (Owner, Contributor, User Access \
        Administrator, Role Based Access Control Administrator): high. When such roles are only eligible, \
        the finding is medium if every activation requires MFA and approval, high otherwise. Customer \
        side: one finding per managing tenant; partner side: one per customer tenant.",
    rationale: "A permanent Contributor or User Access Administrator authorization lets every member of \
        the partner's group change, or grant access to, everything in the delegated scope at any time: a \
        compromised partner account becomes a compromised subscription (MITRE T1199). Eligible \
        authorizations with MFA and approval limit that to deliberate, audited activations.",
    remediation: "Replace permanent privileged authorizations with Reader (or a narrower role) plus \
        eligible authorizations that require MFA and approval, by deploying an updated delegation \
        template; remove delegations that are no longer needed (Azure portal > Service providers).",
    sources: &[
        Source::AzureSubscriptions,
        Source::AzureLighthouse,
        Source::AzureDelegatedSubscriptions,
    ],
    optional_sources: &[],
    config_keys: &[],
    references: &[
        refs::MITRE_T1199,
        refs::MITRE_M1018_ACCOUNTS,
        LIGHTHOUSE_ROLES,
        LIGHTHOUSE_ELIGIBLE,
    ],
    from_evaluator: false,
};

pub static LIGHTHOUSE_DELEGATION_TO_UNKNOWN_TENANT: RuleMeta = RuleMeta {
    id: "lighthouse-delegation-to-unknown-tenant",
    title: "Lighthouse delegation to an unapproved tenant",
    default_severity: Severity::High,
    perspectives: &[Perspective::Customer],
    fires_when: "A subscription or resource group is delegated through Azure Lighthouse to a managing \
        tenant that is not listed in the configuration ([partners.\"<tenant id>\"] or \
        [approved_roles.partners.\"<tenant id>\"]). Not evaluated when the configuration lists no partner \
        at all.",
    rationale: "Anyone with Owner on a subscription can onboard it to Azure Lighthouse, giving an outside \
        tenant standing access that no Entra ID partner view shows (MITRE T1199; CISA AA22-131A asks \
        customers to know and monitor every provider's access).",
    remediation: "Confirm the managing tenant is a provider you contract with; if so add it to the \
        configuration, otherwise remove the delegation (Azure portal > Service providers > Delegations) and \
        find out who onboarded it (Activity log, Microsoft.ManagedServices/registrationAssignments/write).",
    sources: &[Source::AzureSubscriptions, Source::AzureLighthouse],
    optional_sources: &[],
    config_keys: &["partners", "approved_roles.partners"],
    references: &[
        refs::MITRE_T1199,
        refs::CISA_AA22_131A,
        LIGHTHOUSE_VIEW_REMOVE,
    ],
    from_evaluator: false,
};

pub static METAS: &[&RuleMeta] = &[
    &AZURE_LEGACY_DAP_OWNER,
    &LIGHTHOUSE_PRIVILEGED_DELEGATION,
    &LIGHTHOUSE_DELEGATION_TO_UNKNOWN_TENANT,
];

fn role_label(id: &str) -> String {
    let id = role_guid(id);
    roles::name(&id).map_or(id, str::to_owned)
}

fn role_json(id: &str) -> Value {
    let id = role_guid(id);
    json!({"id": id, "name": roles::name(&id)})
}

fn subscription_json(r: &AzureSubscriptionRecord) -> Value {
    json!({
        "id": r.subscription.subscription_id,
        "name": r.subscription.display_name,
        "state": r.subscription.state,
    })
}

/// Subscriptions whose `part` could not be read: a note for the rules that needed it.
fn unread_note(
    azure: Option<&AzureData>,
    part: fn(&AzureSubscriptionRecord) -> bool,
    what: &str,
) -> Option<Note> {
    let unread: Vec<String> = azure?
        .subscriptions
        .iter()
        .filter(|r| !part(r))
        .map(|r| {
            r.subscription
                .display_name
                .clone()
                .unwrap_or_else(|| r.subscription.subscription_id.clone())
        })
        .collect();
    (!unread.is_empty()).then(|| {
        Note::NotEvaluated(format!(
            "{what} could not be read for {} ({}); not evaluated there",
            plural(unread.len(), "subscription", "subscriptions"),
            some_names(&unread, 5)
        ))
    })
}

// ----------------------------------------------------------------------------------------------------

pub struct AzureLegacyDapOwner;

impl Rule for AzureLegacyDapOwner {
    fn meta(&self) -> &'static RuleMeta {
        &AZURE_LEGACY_DAP_OWNER
    }

    fn notes(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        let azure = ctx.customer(snap).and_then(|c| c.azure.as_ref());
        unread_note(
            azure,
            |r| r.foreign_role_assignments.is_some(),
            "Azure role assignments",
        )
        .into_iter()
        .collect()
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let Some(azure) = &c.azure else {
            return Vec::new();
        };
        // Grouped by the partner tenant when the principal also holds a directory role (which names its
        // home tenant), else by the foreign principal itself.
        let mut by_owner: BTreeMap<(bool, String), Vec<Value>> = BTreeMap::new();
        let mut phrases: BTreeMap<(bool, String), Vec<String>> = BTreeMap::new();
        let mut principals: BTreeMap<(bool, String), Vec<String>> = BTreeMap::new();
        // An assignment at a management group (or the root) is read again under every subscription
        // below it: counted once.
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for rec in &azure.subscriptions {
            for a in rec.foreign_role_assignments.iter().flatten() {
                let role = a.role_id();
                let scope = a.scope();
                let kind = scope_kind(&scope);
                if !roles::is_privileged(&role)
                    || !matches!(kind, "subscription" | "management group" | "root")
                    || (!a.id.is_empty() && !seen.insert(a.id.to_ascii_lowercase()))
                {
                    continue;
                }
                let principal = a.properties.principal_id.trim().to_ascii_lowercase();
                let home = home_tenant(c, &principal);
                let key = match &home {
                    Some(t) => (true, t.clone()),
                    None => (false, principal.clone()),
                };
                phrases.entry(key.clone()).or_default().push(format!(
                    "{} on {kind} {}",
                    role_label(&role),
                    rec.subscription
                        .display_name
                        .as_deref()
                        .filter(|_| kind == "subscription")
                        .unwrap_or(&scope)
                ));
                by_owner.entry(key.clone()).or_default().push(json!({
                    "assignment_id": a.id,
                    "subscription": subscription_json(rec),
                    "scope": scope,
                    "scope_kind": kind,
                    "role": role_json(&role),
                    "principal_id": principal,
                    "principal_type": a.properties.principal_type,
                    "created_on": opt_ts(a.properties.created_on),
                }));
                let p = principals.entry(key).or_default();
                if !p.contains(&principal) {
                    p.push(principal);
                }
            }
        }
        let mut out = Vec::new();
        for ((known, id), assignments) in by_owner {
            let n = assignments.len();
            let what = phrases
                .get(&(known, id.clone()))
                .cloned()
                .unwrap_or_default();
            let f = if known {
                let msg = format!(
                    "A foreign principal of the {} (the DAP-era Admin Agents pattern) holds {} in this tenant's Azure: {}. Removing DAP does not remove these role assignments.",
                    partner_label(Some(c), ctx, &id),
                    plural(
                        n,
                        "privileged Azure role assignment",
                        "privileged Azure role assignments"
                    ),
                    some_names(&what, 5)
                );
                partner_finding(self.meta(), snap, ctx, c, &id, msg)
            } else {
                let msg = format!(
                    "The foreign principal {id} (a group of another tenant, the DAP-era Admin Agents pattern) holds {} in this tenant's Azure: {}. Its home tenant is not known from the directory; Azure shows it as \"Foreign principal\" in Access control (IAM).",
                    plural(
                        n,
                        "privileged Azure role assignment",
                        "privileged Azure role assignments"
                    ),
                    some_names(&what, 5)
                );
                finding(
                    self.meta(),
                    subject(
                        SubjectKind::Partner,
                        &id,
                        Some("Foreign principal".to_owned()),
                    ),
                    msg,
                )
                .customer(Some(&snap.tenant_id))
                .ev("partner_tenant_id", Value::Null)
            };
            out.push(
                f.ev(
                    "principal_ids",
                    json!(
                        principals
                            .get(&(known, id.clone()))
                            .cloned()
                            .unwrap_or_default()
                    ),
                )
                .ev("assignments", Value::Array(assignments)),
            );
        }
        out
    }
}

/// The home tenant of a foreign principal, from the directory roles it also holds.
fn home_tenant(c: &CustomerData, principal: &str) -> Option<String> {
    c.foreign_role_assignments
        .iter()
        .find(|f| f.principal_id.trim().eq_ignore_ascii_case(principal))
        .map(|f| f.home_tenant_id.clone())
        .filter(|t| !t.is_empty())
}

// ----------------------------------------------------------------------------------------------------

/// How privileged one delegation is.
struct Assessment {
    severity: Option<Severity>,
    permanent: Vec<Value>,
    eligible: Vec<Value>,
    /// Human phrases for the message.
    phrases: Vec<String>,
}

fn assess(a: &RegistrationAssignment) -> Assessment {
    let mut out = Assessment {
        severity: None,
        permanent: Vec::new(),
        eligible: Vec::new(),
        phrases: Vec::new(),
    };
    let Some(d) = a.definition() else {
        return out;
    };
    let mut weak_eligible = false;
    for auth in &d.authorizations {
        if !roles::is_privileged(&role_guid(&auth.role_definition_id)) {
            continue;
        }
        out.permanent.push(json!({
            "principal_id": auth.principal_id,
            "principal_name": auth.principal_id_display_name,
            "role": role_json(&auth.role_definition_id),
            "delegated_roles": auth.delegated_role_definition_ids.iter().map(|r| role_json(r)).collect::<Vec<_>>(),
        }));
        out.phrases.push(format!(
            "permanent {} for {}",
            role_label(&auth.role_definition_id),
            auth.principal_id_display_name
                .clone()
                .unwrap_or_else(|| auth.principal_id.clone())
        ));
    }
    for e in &d.eligible_authorizations {
        if !roles::is_privileged(&role_guid(&e.role_definition_id)) {
            continue;
        }
        let policy = e.just_in_time_access_policy.clone().unwrap_or_default();
        let (mfa, approval) = (policy.requires_mfa(), policy.requires_approval());
        weak_eligible |= !(mfa && approval);
        out.eligible.push(json!({
            "principal_id": e.principal_id,
            "principal_name": e.principal_id_display_name,
            "role": role_json(&e.role_definition_id),
            "mfa_required": mfa,
            "approval_required": approval,
            "maximum_activation_duration": policy.maximum_activation_duration,
        }));
        let mut controls = Vec::new();
        if !mfa {
            controls.push("no MFA");
        }
        if !approval {
            controls.push("no approval");
        }
        out.phrases.push(format!(
            "eligible {} for {}{}",
            role_label(&e.role_definition_id),
            e.principal_id_display_name
                .clone()
                .unwrap_or_else(|| e.principal_id.clone()),
            if controls.is_empty() {
                " (MFA and approval required)".to_owned()
            } else {
                format!(" ({} on activation)", controls.join(", "))
            }
        ));
    }
    out.severity = if !out.permanent.is_empty() || (!out.eligible.is_empty() && weak_eligible) {
        Some(Severity::High)
    } else if !out.eligible.is_empty() {
        Some(Severity::Medium)
    } else {
        None
    };
    out
}

fn delegation_json(rec: &AzureSubscriptionRecord, a: &RegistrationAssignment) -> Value {
    let d = a.definition();
    let scope = a.scope();
    json!({
        "assignment_id": a.id,
        "subscription": subscription_json(rec),
        "scope": scope,
        "scope_kind": scope_kind(&scope),
        "definition_name": d.and_then(|d| d.registration_definition_name.clone()),
        "managing_tenant_id": a.managed_by(),
        "managing_tenant_name": d.and_then(|d| d.managed_by_tenant_name.clone()),
        "created_at": opt_ts(a.properties.registration_definition.as_ref().and_then(|x| x.system_data.as_ref()).and_then(|s| s.created_at)),
    })
}

pub struct LighthousePrivilegedDelegation;

/// The privileged delegations of one tenant (managing tenant on the customer side, customer on the
/// partner side).
struct Group {
    severity: Severity,
    delegations: Vec<Value>,
    phrases: Vec<String>,
    name: Option<String>,
}

impl Rule for LighthousePrivilegedDelegation {
    fn meta(&self) -> &'static RuleMeta {
        &LIGHTHOUSE_PRIVILEGED_DELEGATION
    }

    fn notes(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        let mut notes = Vec::new();
        let has = |r: &AzureSubscriptionRecord| r.delegations.is_some();
        if let Some(n) = unread_note(
            ctx.customer(snap).and_then(|c| c.azure.as_ref()),
            has,
            "Azure Lighthouse delegations",
        ) {
            notes.push(n);
        }
        if let Some(n) = unread_note(
            ctx.partner(snap).and_then(|p| p.azure.as_ref()),
            has,
            "Azure Lighthouse delegations of delegated customer subscriptions",
        ) {
            notes.push(n);
        }
        notes
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let mut out = Vec::new();
        // Customer side: per managing tenant. Partner side: per customer tenant.
        let sides = [
            ctx.customer(snap)
                .and_then(|c| c.azure.as_ref())
                .map(|a| (Perspective::Customer, a)),
            ctx.partner(snap)
                .and_then(|p| p.azure.as_ref())
                .map(|a| (Perspective::Partner, a)),
        ];
        for (side, azure) in sides.into_iter().flatten() {
            let mut groups: BTreeMap<String, Group> = BTreeMap::new();
            for rec in &azure.subscriptions {
                for a in rec.delegations.iter().flatten() {
                    let assessment = assess(a);
                    let Some(sev) = assessment.severity else {
                        continue;
                    };
                    let (key, name) = rec.counterpart(a, side);
                    let entry = groups.entry(key).or_insert_with(|| Group {
                        severity: sev,
                        delegations: Vec::new(),
                        phrases: Vec::new(),
                        name: name.clone(),
                    });
                    entry.severity = entry.severity.max(sev);
                    let mut ev = delegation_json(rec, a);
                    if let Some(o) = ev.as_object_mut() {
                        o.insert("permanent".into(), Value::Array(assessment.permanent));
                        o.insert("eligible".into(), Value::Array(assessment.eligible));
                    }
                    entry.delegations.push(ev);
                    let where_ = rec
                        .subscription
                        .display_name
                        .clone()
                        .unwrap_or_else(|| rec.subscription.subscription_id.clone());
                    entry
                        .phrases
                        .push(format!("{where_}: {}", join_names(&assessment.phrases)));
                    if entry.name.is_none() {
                        entry.name = name;
                    }
                }
            }
            for (
                tenant,
                Group {
                    severity: sev,
                    delegations,
                    phrases,
                    name,
                },
            ) in groups
            {
                let n = delegations.len();
                let f = match side {
                    Perspective::Customer => {
                        let c = ctx.customer(snap);
                        let label = match partner_name(c, ctx, &tenant).or(name) {
                            Some(n) => format!("managing tenant {n} ({tenant})"),
                            None => format!("managing tenant {tenant}"),
                        };
                        let msg = format!(
                            "Azure Lighthouse gives the {label} privileged access through {}: {}.",
                            plural(n, "delegation", "delegations"),
                            some_names(&phrases, 5)
                        );
                        match c {
                            Some(c) => partner_finding(self.meta(), snap, ctx, c, &tenant, msg),
                            None => continue,
                        }
                    }
                    Perspective::Partner => {
                        let label = match &name {
                            Some(n) => format!("customer {n} ({tenant})"),
                            None => format!("customer tenant {tenant}"),
                        };
                        let msg = format!(
                            "This tenant holds privileged Azure Lighthouse access to the {label} through {}: {}.",
                            plural(n, "delegation", "delegations"),
                            some_names(&phrases, 5)
                        );
                        finding(
                            self.meta(),
                            subject(SubjectKind::Tenant, &tenant, name),
                            msg,
                        )
                        .partner(Some(&snap.tenant_id))
                        .customer(Some(&tenant))
                        .ev("customer_tenant_id", json!(tenant))
                    }
                };
                out.push(f.severity(sev).ev("delegations", Value::Array(delegations)));
            }
        }
        out
    }
}

// ----------------------------------------------------------------------------------------------------

pub struct LighthouseDelegationToUnknownTenant;

fn approved(ctx: &Ctx, tenant: &str) -> bool {
    ctx.config.partner(tenant).is_some()
        || ctx
            .config
            .approved_roles
            .partners
            .keys()
            .any(|k| tenant_id::normalise(k) == tenant)
}

impl Rule for LighthouseDelegationToUnknownTenant {
    fn meta(&self) -> &'static RuleMeta {
        &LIGHTHOUSE_DELEGATION_TO_UNKNOWN_TENANT
    }

    fn skip_reason(&self, _snap: &Snapshot, ctx: &Ctx) -> Option<String> {
        (ctx.config.partners.is_empty() && ctx.config.approved_roles.partners.is_empty()).then(|| {
            "no partner is listed in the configuration ([partners.\"<tenant id>\"] or [approved_roles.partners.\"<tenant id>\"]), so no managing tenant can be told approved".to_owned()
        })
    }

    fn notes(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        unread_note(
            ctx.customer(snap).and_then(|c| c.azure.as_ref()),
            |r| r.delegations.is_some(),
            "Azure Lighthouse delegations",
        )
        .into_iter()
        .collect()
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let Some(azure) = &c.azure else {
            return Vec::new();
        };
        let mut groups: BTreeMap<String, (Vec<Value>, Vec<String>)> = BTreeMap::new();
        for rec in &azure.subscriptions {
            for a in rec.delegations.iter().flatten() {
                let Some(tenant) = a.managed_by() else {
                    continue;
                };
                if approved(ctx, &tenant) {
                    continue;
                }
                let entry = groups.entry(tenant).or_default();
                entry.0.push(delegation_json(rec, a));
                let roles: Vec<String> =
                    a.definition()
                        .map(|d| {
                            d.authorizations
                                .iter()
                                .map(|x| role_label(&x.role_definition_id))
                                .chain(d.eligible_authorizations.iter().map(|x| {
                                    format!("eligible {}", role_label(&x.role_definition_id))
                                }))
                                .collect()
                        })
                        .unwrap_or_default();
                entry.1.push(format!(
                    "{} ({})",
                    rec.subscription
                        .display_name
                        .clone()
                        .unwrap_or_else(|| rec.subscription.subscription_id.clone()),
                    if roles.is_empty() {
                        "no roles".to_owned()
                    } else {
                        join_names(&roles)
                    }
                ));
            }
        }
        let mut out = Vec::new();
        for (tenant, (delegations, phrases)) in groups {
            let name = delegations.iter().find_map(|d| {
                d.get("managing_tenant_name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            let label = match partner_name(Some(c), ctx, &tenant).or(name) {
                Some(n) => format!("{n} ({tenant})"),
                None => tenant.clone(),
            };
            let msg = format!(
                "Azure resources of this tenant are delegated through Azure Lighthouse to the managing tenant {label}, which is not an approved partner in the configuration: {}.",
                some_names(&phrases, 5)
            );
            out.push(
                partner_finding(self.meta(), snap, ctx, c, &tenant, msg)
                    .ev("delegations", Value::Array(delegations)),
            );
        }
        out
    }
}

// ----------------------------------------------------------------------------------------------------
// New delegations, for `new-partner-access` (changes.rs).

/// Per tenant: evidence of its delegations, a phrase per delegation, its name when ARM gave one.
pub(crate) type RecentDelegations = BTreeMap<String, (Vec<Value>, Vec<String>, Option<String>)>;

/// Lighthouse delegations whose definition was created when `recent` says, grouped by the other tenant:
/// the managing tenant on the customer side, the customer tenant on the partner side. Each entry: the
/// delegations' evidence, a short phrase per delegation, and a name for the tenant when ARM gave one.
/// `new_since_previous` says, by registration assignment id (lower-case), which delegations the previous
/// run (with delegations read) did not have: those are new whatever their creation date says.
pub(crate) fn recent_delegations(
    azure: &AzureData,
    side: Perspective,
    recent: impl Fn(chrono::DateTime<chrono::Utc>) -> bool,
    new_since_previous: impl Fn(&str) -> bool,
) -> RecentDelegations {
    let mut out = RecentDelegations::new();
    for rec in &azure.subscriptions {
        for a in rec.delegations.iter().flatten() {
            let created = a
                .properties
                .registration_definition
                .as_ref()
                .and_then(|d| d.system_data.as_ref())
                .and_then(|s| s.created_at);
            let recently_created = created.filter(|c| recent(*c));
            let absent_before = new_since_previous(&a.id.trim().to_ascii_lowercase());
            if recently_created.is_none() && !absent_before {
                continue;
            }
            let d = a.definition();
            let (tenant, name) = rec.counterpart(a, side);
            if tenant.is_empty() {
                continue;
            }
            let roles: Vec<String> = d
                .map(|d| {
                    d.authorizations
                        .iter()
                        .map(|x| role_label(&x.role_definition_id))
                        .chain(
                            d.eligible_authorizations
                                .iter()
                                .map(|x| format!("eligible {}", role_label(&x.role_definition_id))),
                        )
                        .collect()
                })
                .unwrap_or_default();
            let entry = out.entry(tenant).or_default();
            entry.0.push(delegation_json(rec, a));
            entry.1.push(format!(
                "{} delegated {} ({})",
                rec.subscription
                    .display_name
                    .clone()
                    .unwrap_or_else(|| rec.subscription.subscription_id.clone()),
                match recently_created {
                    Some(c) => format!("on {}", date(c)),
                    None => "since the previous audit".to_owned(),
                },
                if roles.is_empty() {
                    "no roles".to_owned()
                } else {
                    join_names(&roles)
                }
            ));
            if entry.2.is_none() {
                entry.2 = name;
            }
        }
    }
    out
}

/// `roles-added` for Azure Lighthouse: a delegation the previous run (with delegations read) also saw,
/// whose authorizations grew. One finding per delegation, subject the registration assignment.
pub(crate) fn delegation_roles_added(
    snap: &Snapshot,
    ctx: &Ctx,
    meta: &'static RuleMeta,
) -> Vec<Finding> {
    let Some(prev) = ctx
        .history
        .previous
        .as_ref()
        .filter(|p| p.delegations_collected)
    else {
        return Vec::new();
    };
    let sides = [
        (
            ctx.customer(snap)
                .and_then(|c| c.azure.as_ref())
                .filter(|_| snap.has(Source::AzureLighthouse)),
            Perspective::Customer,
        ),
        (
            ctx.partner(snap)
                .and_then(|p| p.azure.as_ref())
                .filter(|_| snap.has(Source::AzureDelegatedSubscriptions)),
            Perspective::Partner,
        ),
    ];
    let mut out = Vec::new();
    for (azure, side) in sides {
        let Some(azure) = azure else { continue };
        for rec in &azure.subscriptions {
            for a in rec.delegations.iter().flatten() {
                let id = a.id.trim().to_ascii_lowercase();
                let Some(before) = prev.delegations.get(&id) else {
                    continue;
                };
                let now = crate::diff::DelegationState::roles_of(a);
                let added: Vec<String> = now
                    .iter()
                    .filter(|r| !before.roles.contains(r))
                    .map(|r| match r.strip_prefix("eligible:") {
                        Some(g) => format!("eligible {}", role_label(g)),
                        None => role_label(r),
                    })
                    .collect();
                if added.is_empty() {
                    continue;
                }
                let d = a.definition();
                let (mut other, _) = rec.counterpart(a, side);
                if other.is_empty() {
                    other.clone_from(&before.tenant_id);
                }
                let (partner, customer) = match side {
                    Perspective::Customer => (other.clone(), snap.tenant_id.clone()),
                    Perspective::Partner => (snap.tenant_id.clone(), other.clone()),
                };
                let sub = rec
                    .subscription
                    .display_name
                    .clone()
                    .unwrap_or_else(|| rec.subscription.subscription_id.clone());
                let msg = format!(
                    "The Azure Lighthouse delegation of {sub} ({}) {} tenant {other} gained {} since the previous audit on {}: {}.",
                    a.scope(),
                    match side {
                        Perspective::Customer => "to the managing",
                        Perspective::Partner => "from the customer",
                    },
                    plural(added.len(), "role", "roles"),
                    date(prev.at),
                    join_names(&added)
                );
                out.push(
                    finding(
                        meta,
                        subject(
                            SubjectKind::Relationship,
                            &id,
                            d.and_then(|d| d.registration_definition_name.clone()),
                        ),
                        msg,
                    )
                    .partner(Some(&partner))
                    .customer(Some(&customer))
                    .ev("lighthouse_delegation", delegation_json(rec, a))
                    .ev("added_roles", json!(added))
                    .ev("previous_run_at", ts(prev.at)),
                );
            }
        }
    }
    out
}
