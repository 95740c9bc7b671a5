//! Partner access controls, customer side: Conditional Access MFA for service-provider users, partner
//! sign-ins without MFA or from unexpected countries, trusted partner MFA, partner-made sensitive changes.

use serde_json::{Value, json};

use super::common::*;
use super::context::Ctx;
use super::finding::{Finding, Severity, SubjectKind};
use super::meta::{Note, Rule, RuleMeta, refs};
use crate::model::customer::ConditionalAccessPolicy;
use crate::model::logs::DirectoryAudit;
use crate::snapshot::{CustomerData, PartnerSignIns, Perspective, Snapshot, Source};

const CUSTOMER: &[Perspective] = &[Perspective::Customer];

pub static MFA_NOT_ENFORCED_FOR_PARTNERS: RuleMeta = RuleMeta {
    id: "mfa-not-enforced-for-partners",
    title: "Conditional Access does not enforce MFA for partner users",
    default_severity: Severity::High,
    perspectives: CUSTOMER,
    fires_when: "The tenant has service-provider partners and no enabled Conditional Access policy \
        requires MFA (grant control mfa or an authentication strength) for their users (users included \
        through includeGuestsOrExternalUsers with serviceProvider, or all users) without excluding them; or \
        an enabled policy excludes service-provider users or a partner tenant. Report-only policies do not \
        count as enforcing.",
    rationale: "Partner technicians sign in to this tenant with their home tenant's credentials; without a \
        policy here, this tenant does not require MFA from them. MFA on MSP accounts is the first mitigation \
        of MITRE T1199 (M1032) and a CISA AA22-131A requirement; the GDAP FAQ recommends targeting the \
        \"Service provider users\" user type.",
    remediation: "Create (or fix) a Conditional Access policy that targets Guest or external users > \
        Service provider users, for all cloud apps, granting access only with MFA or a phishing-resistant \
        authentication strength, and remove exclusions of service-provider users or partner tenants from \
        enabled policies.",
    sources: &[Source::XtapPartners, Source::ConditionalAccess],
    optional_sources: &[],
    config_keys: &[],
    references: &[
        refs::MITRE_T1199,
        refs::MITRE_M1032_MFA,
        refs::CISA_AA22_131A,
        refs::GRAPH_CA_EXTERNAL_USERS,
        refs::NOBELIUM_DAP,
    ],
    from_evaluator: false,
};

pub static PARTNER_SIGNIN_WITHOUT_MFA: RuleMeta = RuleMeta {
    id: "partner-signin-without-mfa",
    title: "Partner sign-ins without MFA",
    default_severity: Severity::High,
    perspectives: CUSTOMER,
    fires_when: "Successful partner sign-ins (crossTenantAccessType serviceProvider, or from a \
        service-provider partner's tenant) in the log window had authenticationRequirement \
        singleFactorAuthentication. Failed sign-ins do not count. Evidence: count and the latest examples.",
    rationale: "A partner administrator who signs in with a password alone is one phished or sprayed \
        password away from admin access to this tenant; password spray against service providers was part \
        of NOBELIUM's campaign.",
    remediation: "Require MFA for service-provider users with Conditional Access (see \
        mfa-not-enforced-for-partners) and ask the partner to enforce phishing-resistant MFA for its \
        technicians.",
    sources: &[Source::XtapPartners, Source::SignIns],
    optional_sources: &[],
    config_keys: &[],
    references: &[
        refs::MITRE_T1199,
        refs::MITRE_M1032_MFA,
        refs::CISA_AA22_131A,
        refs::NOBELIUM_DAP,
        refs::ENTRA_SIGNINS,
    ],
    from_evaluator: false,
};

pub static PARTNER_SIGNIN_UNEXPECTED_LOCATION: RuleMeta = RuleMeta {
    id: "partner-signin-unexpected-location",
    title: "Partner sign-ins from unexpected countries",
    default_severity: Severity::Medium,
    perspectives: CUSTOMER,
    fires_when: "Successful partner sign-ins came from countries outside the partner's \
        partners.\"<tenant-id>\".allowed_countries. Not evaluated when no partner has allowed_countries \
        (and, for each partner, when it has none). Sign-ins without a location are not counted.",
    rationale: "Partner technicians normally work from known countries; sign-ins from elsewhere can be a \
        stolen session or credentials. Mandiant's guidance after NOBELIUM is to restrict partner access by \
        location.",
    remediation: "Check the sign-ins with the partner; if they are not theirs, revoke the sessions and \
        have the partner reset the account. Restrict service-provider users to named locations with \
        Conditional Access, or add the country to allowed_countries if it is expected.",
    sources: &[Source::XtapPartners, Source::SignIns],
    optional_sources: &[],
    config_keys: &["partners.<tenant-id>.allowed_countries"],
    references: &[
        refs::MITRE_T1199,
        refs::DART_TRUST_CHAINS,
        refs::NOBELIUM_DAP,
        refs::ENTRA_SIGNINS,
    ],
    from_evaluator: false,
};

pub static PARTNER_MFA_TRUSTED: RuleMeta = RuleMeta {
    id: "partner-mfa-trusted",
    title: "Tenant trusts the partner's MFA",
    default_severity: Severity::Info,
    perspectives: CUSTOMER,
    fires_when: "A service-provider partner's inbound trust accepts MFA from the partner tenant \
        (inboundTrust.isMfaAccepted true, set on the partner or inherited from the default cross-tenant \
        policy).",
    rationale: "With MFA trust, the partner's MFA satisfies this tenant's MFA requirements: the strength of \
        MFA protecting admin access here depends on the partner's own controls, which this tenant cannot \
        see.",
    remediation: "Keep it only if the partner's MFA policy is known and strong (phishing-resistant for \
        administrators); otherwise turn off \"Trust multifactor authentication from Microsoft Entra \
        tenants\" for the partner in cross-tenant access settings.",
    sources: &[Source::XtapPartners, Source::XtapDefault],
    optional_sources: &[],
    config_keys: &[],
    references: &[refs::GRAPH_XTAP_PARTNER, refs::CISA_AA22_131A],
    from_evaluator: false,
};

pub static PARTNER_PRIVILEGED_CHANGE: RuleMeta = RuleMeta {
    id: "partner-privileged-change",
    title: "Sensitive change made by a partner user",
    default_severity: Severity::High,
    perspectives: CUSTOMER,
    fires_when: "A directory audit event initiated by a partner user (initiatedBy.user.homeTenantId is a \
        service-provider partner's tenant) is in a sensitive category: role management, applications and \
        consent, policies, Conditional Access, cross-tenant access settings, service-provider constraints. \
        Failed operations are ignored. One finding per event.",
    rationale: "Changes to roles, apps, consent and policies are how an intruder with partner access \
        entrenches itself (new admins, app credentials, weakened Conditional Access); MITRE T1199 detection \
        is to monitor activity by second and third parties.",
    remediation: "Confirm each change with the partner (ticket, technician, reason). Revert changes nobody \
        can account for and investigate the partner account that made them.",
    sources: &[Source::XtapPartners, Source::DirectoryAudits],
    optional_sources: &[],
    config_keys: &[],
    references: &[
        refs::MITRE_T1199,
        refs::DART_TRUST_CHAINS,
        refs::ENTRA_AUDIT_ACTIVITIES,
        refs::CISA_AA22_131A,
    ],
    from_evaluator: false,
};

pub static METAS: &[&RuleMeta] = &[
    &MFA_NOT_ENFORCED_FOR_PARTNERS,
    &PARTNER_SIGNIN_WITHOUT_MFA,
    &PARTNER_SIGNIN_UNEXPECTED_LOCATION,
    &PARTNER_MFA_TRUSTED,
    &PARTNER_PRIVILEGED_CHANGE,
];

/// Whether an enabled policy applies to the service-provider users of `tenant`.
fn includes(policy: &ConditionalAccessPolicy, tenant: &str) -> bool {
    let Some(users) = policy.users() else {
        return false;
    };
    users
        .include_users
        .iter()
        .any(|u| u.eq_ignore_ascii_case("All") || u.eq_ignore_ascii_case("GuestsOrExternalUsers"))
        || users
            .include_guests_or_external_users
            .as_ref()
            .is_some_and(|g| g.includes_service_providers() && g.covers_tenant(tenant))
}

fn excludes(policy: &ConditionalAccessPolicy, tenant: &str) -> bool {
    policy
        .users()
        .and_then(|u| u.exclude_guests_or_external_users.as_ref())
        .is_some_and(|g| g.includes_service_providers() && g.covers_tenant(tenant))
}

fn requires_mfa(policy: &ConditionalAccessPolicy) -> bool {
    policy
        .grant_controls
        .as_ref()
        .is_some_and(|g| g.requires_mfa())
}

fn policy_json(p: &ConditionalAccessPolicy) -> Value {
    json!({"id": p.id, "name": p.display_name, "state": p.state})
}

pub struct MfaNotEnforcedForPartners;

impl Rule for MfaNotEnforcedForPartners {
    fn meta(&self) -> &'static RuleMeta {
        &MFA_NOT_ENFORCED_FOR_PARTNERS
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let partners = service_providers(snap, c);
        if partners.is_empty() {
            return Vec::new();
        }
        let enabled: Vec<&ConditionalAccessPolicy> = c
            .conditional_access
            .iter()
            .filter(|p| p.is_enabled())
            .collect();
        let enforcing_for = |tenant: &str| -> Vec<&ConditionalAccessPolicy> {
            enabled
                .iter()
                .copied()
                .filter(|p| requires_mfa(p) && includes(p, tenant) && !excludes(p, tenant))
                .collect()
        };
        let uncovered: Vec<&str> = partners
            .iter()
            .map(|p| p.tenant_id.as_str())
            .filter(|t| enforcing_for(t).is_empty())
            .collect();
        // Enabled policies that exclude service-provider users (all of them or some partner tenants).
        let excluding: Vec<(&ConditionalAccessPolicy, Value)> = enabled
            .iter()
            .copied()
            .filter_map(|p| {
                let g = p.users()?.exclude_guests_or_external_users.as_ref()?;
                if !g.includes_service_providers() {
                    return None;
                }
                let scope = match &g.external_tenants {
                    Some(t)
                        if !t
                            .membership_kind
                            .as_deref()
                            .is_none_or(|k| k.eq_ignore_ascii_case("all")) =>
                    {
                        json!(t.members)
                    }
                    _ => json!("all service-provider users"),
                };
                Some((p, scope))
            })
            .collect();
        let report_only: Vec<&ConditionalAccessPolicy> = c
            .conditional_access
            .iter()
            .filter(|p| {
                p.state
                    .eq_ignore_ascii_case("enabledForReportingButNotEnforced")
            })
            .filter(|p| requires_mfa(p) && partners.iter().any(|sp| includes(p, &sp.tenant_id)))
            .collect();
        if uncovered.is_empty() && excluding.is_empty() {
            return Vec::new();
        }
        let mut parts = Vec::new();
        if uncovered.len() == partners.len() {
            parts.push(format!(
                "No enabled Conditional Access policy requires MFA for service-provider (partner) users, so the administrators of {} ({}) sign in here with whatever their home tenant requires.",
                plural(partners.len(), "partner", "partners"),
                some_names(&uncovered.iter().map(|t| partner_name(Some(c), ctx, t).unwrap_or_else(|| (*t).to_owned())).collect::<Vec<_>>(), 5)
            ));
        } else if !uncovered.is_empty() {
            parts.push(format!(
                "Conditional Access does not require MFA for the users of {} of {} service-provider partners ({}).",
                uncovered.len(),
                partners.len(),
                some_names(&uncovered.iter().map(|t| partner_name(Some(c), ctx, t).unwrap_or_else(|| (*t).to_owned())).collect::<Vec<_>>(), 5)
            ));
        }
        for (p, scope) in &excluding {
            let who = match scope {
                Value::Array(tenants) => {
                    let names: Vec<String> = tenants
                        .iter()
                        .filter_map(|t| t.as_str())
                        .map(|t| partner_name(Some(c), ctx, t).unwrap_or_else(|| t.to_owned()))
                        .collect();
                    format!("the users of partner {}", join_names(&names))
                }
                _ => "all service-provider users".to_owned(),
            };
            parts.push(format!(
                "Enabled policy \"{}\" excludes {who}.",
                p.display_name
            ));
        }
        if !report_only.is_empty() {
            parts.push(format!(
                "{} requiring MFA for them {} in report-only mode, which enforces nothing.",
                plural(report_only.len(), "policy", "policies"),
                if report_only.len() == 1 { "is" } else { "are" }
            ));
        }
        let uncovered_json: Vec<Value> = uncovered
            .iter()
            .map(|t| json!({"tenant_id": t, "name": partner_name(Some(c), ctx, t)}))
            .collect();
        vec![
            finding(
                self.meta(),
                subject(
                    SubjectKind::Tenant,
                    &audited(snap),
                    snap.tenant_name.clone(),
                ),
                parts.join(" "),
            )
            .customer(Some(&snap.tenant_id))
            .ev("service_provider_partners", json!(partners.len()))
            .ev("partners_without_mfa_policy", Value::Array(uncovered_json))
            .ev(
                "excluding_policies",
                Value::Array(
                    excluding
                        .iter()
                        .map(|(p, scope)| {
                            json!({
                                "id": p.id,
                                "name": p.display_name,
                                "state": p.state,
                                "excludes": scope,
                            })
                        })
                        .collect(),
                ),
            )
            .ev(
                "report_only_policies",
                Value::Array(report_only.iter().map(|p| policy_json(p)).collect()),
            )
            .ev("enabled_policies", json!(enabled.len())),
        ]
    }
}

/// Sign-in summaries of partner tenants (see `signin_partner`).
fn partner_signins<'a>(snap: &Snapshot, c: &'a CustomerData) -> Vec<(String, &'a PartnerSignIns)> {
    c.sign_ins
        .partners
        .iter()
        .filter(|(t, _)| signin_partner(snap, c, t))
        .map(|(t, ps)| (t.clone(), ps))
        .collect()
}

fn signin_finding(
    meta: &'static RuleMeta,
    snap: &Snapshot,
    ctx: &Ctx,
    c: &CustomerData,
    tenant: &str,
    msg: String,
) -> Finding {
    partner_finding(meta, snap, ctx, c, tenant, msg)
        .ev("window_since", ts(snap.window.since))
        .ev("window_until", ts(snap.window.until))
}

pub struct PartnerSigninWithoutMfa;

impl Rule for PartnerSigninWithoutMfa {
    fn meta(&self) -> &'static RuleMeta {
        &PARTNER_SIGNIN_WITHOUT_MFA
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (tenant, ps) in partner_signins(snap, c) {
            if ps.successes_without_mfa == 0 {
                continue;
            }
            let examples: Vec<_> = ps
                .single_factor_examples
                .iter()
                .filter(|e| successful(e))
                .take(5)
                .collect();
            let example = examples
                .first()
                .map(|e| format!(", e.g. {}", signin_sentence(e)))
                .unwrap_or_default();
            let were = if ps.successes_without_mfa == 1 {
                "was"
            } else {
                "were"
            };
            let msg = format!(
                "{} of {} successful sign-ins by users of the {} since {} {were} single-factor (no MFA){example}.",
                ps.successes_without_mfa,
                ps.successes,
                partner_label(Some(c), ctx, &tenant),
                date(snap.window.since)
            );
            out.push(
                signin_finding(self.meta(), snap, ctx, c, &tenant, msg)
                    .ev("single_factor_successes", json!(ps.successes_without_mfa))
                    .ev("successes", json!(ps.successes))
                    .ev(
                        "examples",
                        Value::Array(examples.iter().map(|e| signin_json(e)).collect()),
                    ),
            );
        }
        out
    }
}

pub struct PartnerSigninUnexpectedLocation;

impl Rule for PartnerSigninUnexpectedLocation {
    fn meta(&self) -> &'static RuleMeta {
        &PARTNER_SIGNIN_UNEXPECTED_LOCATION
    }

    fn skip_reason(&self, _snap: &Snapshot, ctx: &Ctx) -> Option<String> {
        (!ctx.config.has_allowed_countries())
            .then(|| "no partner has allowed_countries configured ([partners.\"<tenant-id>\"] allowed_countries)".to_owned())
    }

    fn notes(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        if !ctx.config.has_allowed_countries() {
            return Vec::new();
        }
        let missing: Vec<String> = partner_signins(snap, c)
            .into_iter()
            .filter(|(t, ps)| ps.successes > 0 && ctx.config.allowed_countries(t).is_none())
            .map(|(t, _)| partner_short(Some(c), ctx, &t))
            .collect();
        if missing.is_empty() {
            Vec::new()
        } else {
            vec![Note::NotEvaluated(format!(
                "{} with sign-ins have no allowed_countries configured ({}); not evaluated for them",
                plural(missing.len(), "partner", "partners"),
                some_names(&missing, 5)
            ))]
        }
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (tenant, ps) in partner_signins(snap, c) {
            let Some(allowed) = ctx.config.allowed_countries(&tenant) else {
                continue;
            };
            let unexpected: Vec<(&String, &u64)> = ps
                .countries
                .iter()
                .filter(|(country, n)| {
                    **n > 0
                        && !country.eq_ignore_ascii_case("unknown")
                        && !country.is_empty()
                        && !allowed
                            .iter()
                            .any(|a| a.trim().eq_ignore_ascii_case(country.trim()))
                })
                .collect();
            if unexpected.is_empty() {
                continue;
            }
            // Counts come from a snapshot (outside input): saturate, never overflow.
            let count: u64 = unexpected
                .iter()
                .fold(0u64, |acc, (_, n)| acc.saturating_add(**n));
            let listed: Vec<String> = unexpected
                .iter()
                .map(|(c, n)| format!("{c} ({n})"))
                .collect();
            let examples: Vec<Value> = unexpected
                .iter()
                .filter_map(|(country, _)| ps.country_examples.get(*country))
                .filter(|e| successful(e))
                .map(signin_json)
                .collect();
            let first = unexpected
                .iter()
                .filter_map(|(country, _)| ps.country_examples.get(*country))
                .find(|e| successful(e))
                .map(|e| format!(", e.g. {}", signin_sentence(e)))
                .unwrap_or_default();
            let msg = format!(
                "{} by users of the {} since {} came from outside its allowed countries ({}): {}{first}.",
                plural(
                    usize::try_from(count).unwrap_or(usize::MAX),
                    "successful sign-in",
                    "successful sign-ins"
                ),
                partner_label(Some(c), ctx, &tenant),
                date(snap.window.since),
                allowed.join(", "),
                listed.join(", ")
            );
            out.push(
                signin_finding(self.meta(), snap, ctx, c, &tenant, msg)
                    .ev("allowed_countries", json!(allowed))
                    .ev(
                        "unexpected_countries",
                        Value::Object(
                            unexpected
                                .iter()
                                .map(|(c, n)| ((*c).clone(), json!(n)))
                                .collect(),
                        ),
                    )
                    .ev("unexpected_sign_ins", json!(count))
                    .ev(
                        "unknown_location_sign_ins",
                        json!(ps.countries.get("unknown").copied().unwrap_or(0)),
                    )
                    .ev("examples", Value::Array(examples)),
            );
        }
        out
    }
}

pub struct PartnerMfaTrusted;

impl Rule for PartnerMfaTrusted {
    fn meta(&self) -> &'static RuleMeta {
        &PARTNER_MFA_TRUSTED
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let default = c
            .default_policy
            .as_ref()
            .and_then(|d| d.inbound_trust.as_ref())
            .and_then(|t| t.is_mfa_accepted);
        let mut out = Vec::new();
        for sp in service_providers(snap, c) {
            let own = sp.inbound_trust.as_ref().and_then(|t| t.is_mfa_accepted);
            let (trusted, inherited) = match own {
                Some(v) => (v, false),
                None => (default.unwrap_or(false), true),
            };
            if !trusted {
                continue;
            }
            let msg = format!(
                "This tenant accepts MFA performed in the tenant of the {} (inbound trust isMfaAccepted{}): its users satisfy MFA requirements here with their home tenant's MFA, whose strength this tenant cannot see.",
                partner_label(Some(c), ctx, &sp.tenant_id),
                if inherited {
                    ", inherited from the default cross-tenant access policy"
                } else {
                    ""
                }
            );
            out.push(
                partner_finding(self.meta(), snap, ctx, c, &sp.tenant_id, msg)
                    .ev("is_mfa_accepted", json!(true))
                    .ev("inherited_from_default", json!(inherited)),
            );
        }
        out
    }
}

/// Directory audit categories (and activity keywords) that count as sensitive.
fn is_sensitive(e: &DirectoryAudit) -> bool {
    let cat = e.category.trim().to_ascii_lowercase();
    let act = e.activity_display_name.to_ascii_lowercase();
    matches!(
        cat.as_str(),
        "rolemanagement"
            | "applicationmanagement"
            | "policy"
            | "conditionalaccess"
            | "crosstenantaccesssettings"
            | "delegatedadminserviceproviderconstraints"
            | "authorizationpolicy"
            | "permissiongrantpolicy"
    ) || act.contains("conditional access")
        || act.contains("consent to application")
        || act.contains("cross-tenant access")
}

pub struct PartnerPrivilegedChange;

impl Rule for PartnerPrivilegedChange {
    fn meta(&self) -> &'static RuleMeta {
        &PARTNER_PRIVILEGED_CHANGE
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in &c.audits.events {
            let Some(tenant) = e.initiator_home_tenant() else {
                continue;
            };
            if !is_service_provider(snap, c, tenant)
                || !is_sensitive(e)
                || e.result
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case("failure"))
            {
                continue;
            }
            let user = e.initiated_by.as_ref().and_then(|i| i.user.as_ref());
            let who = user
                .and_then(|u| {
                    u.user_principal_name
                        .clone()
                        .or_else(|| u.display_name.clone())
                        .or_else(|| u.id.clone())
                })
                .unwrap_or_else(|| "a user".to_owned());
            let targets: Vec<String> = e
                .target_resources
                .iter()
                .filter_map(|t| {
                    t.display_name
                        .clone()
                        .or_else(|| t.user_principal_name.clone())
                        .or_else(|| t.id.clone())
                })
                .collect();
            let on = if targets.is_empty() {
                String::new()
            } else {
                format!(" on {}", some_names(&targets, 3))
            };
            let msg = format!(
                "{who}, a user of the {}, made a sensitive change in this tenant on {}: \"{}\" ({}){on}.",
                partner_label(Some(c), ctx, tenant),
                date(e.activity_date_time),
                e.activity_display_name,
                e.category
            );
            let name = format!(
                "{} on {}",
                e.activity_display_name,
                date(e.activity_date_time)
            );
            out.push(
                finding(self.meta(), subject(SubjectKind::AuditEvent, &e.id, Some(name)), msg)
                    .partner(Some(tenant))
                    .customer(Some(&snap.tenant_id))
                    .ev("partner_tenant_id", json!(tenant))
                    .ev("partner_name", json!(partner_name(Some(c), ctx, tenant)))
                    .ev("audit_event_id", json!(e.id))
                    .ev("activity", json!(e.activity_display_name))
                    .ev("category", json!(e.category))
                    .ev("at", ts(e.activity_date_time))
                    .ev("result", json!(e.result))
                    .ev("initiated_by", json!(who))
                    .ev("ip_address", json!(user.and_then(|u| u.ip_address.clone())))
                    .ev(
                        "targets",
                        Value::Array(
                            e.target_resources
                                .iter()
                                .map(|t| json!({"id": t.id, "name": t.display_name, "type": t.kind, "upn": t.user_principal_name}))
                                .collect(),
                        ),
                    ),
            );
        }
        out
    }
}
