//! Helpers shared by the rule families: building findings, naming things, role sets, partner tests.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::context::Ctx;
use super::finding::{Evidence, Finding, Severity, Subject, SubjectKind};
use super::meta::RuleMeta;
use crate::model::gdap::DelegatedAdminRelationship;
use crate::model::roles::{GLOBAL_ADMIN, RoleCatalog};
use crate::snapshot::{CustomerData, PartnerSignIns, RelationshipRecord, SignInExample, Snapshot};

/// The tenant that owns Microsoft's first-party applications.
pub use crate::model::customer::MICROSOFT_TENANT;
/// Microsoft Graph's application id.
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// A finding with the rule's title, default severity, remediation and references. The evaluator fills
/// `fingerprint` and `first_seen`.
pub fn finding(meta: &'static RuleMeta, subject: Subject, message: String) -> Finding {
    Finding {
        rule_id: meta.id.to_owned(),
        severity: meta.default_severity,
        title: meta.title.into(),
        message,
        subject,
        partner_tenant_id: None,
        customer_tenant_id: None,
        evidence: Evidence::default(),
        remediation: meta.remediation.into(),
        references: meta.references.iter().map(|r| (*r).into()).collect(),
        fingerprint: String::new(),
        first_seen: None,
    }
}

/// Chainable setters used by the rules.
pub trait FindingExt: Sized {
    fn severity(self, s: Severity) -> Self;
    fn partner(self, tenant: Option<&str>) -> Self;
    fn customer(self, tenant: Option<&str>) -> Self;
    fn ev(self, key: &str, value: Value) -> Self;
}

impl FindingExt for Finding {
    fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
    fn partner(mut self, tenant: Option<&str>) -> Self {
        self.partner_tenant_id = tenant.filter(|t| !t.is_empty()).map(str::to_owned);
        self
    }
    fn customer(mut self, tenant: Option<&str>) -> Self {
        self.customer_tenant_id = tenant.filter(|t| !t.is_empty()).map(str::to_owned);
        self
    }
    fn ev(mut self, key: &str, value: Value) -> Self {
        self.evidence.insert(key, value);
        self
    }
}

pub fn subject(kind: SubjectKind, id: &str, name: Option<String>) -> Subject {
    Subject {
        kind,
        id: id.to_owned(),
        display_name: name.filter(|n| !n.is_empty()),
    }
}

pub fn relationship_subject(rel: &DelegatedAdminRelationship) -> Subject {
    subject(
        SubjectKind::Relationship,
        &rel.id,
        Some(rel.display_name.clone()),
    )
}

/// "customer Contoso Ltd", or "customer tenant <id>" when the name is unknown.
pub fn customer_label(rel: &DelegatedAdminRelationship) -> String {
    match (
        rel.customer_name().filter(|n| !n.is_empty()),
        rel.customer_tenant_id(),
    ) {
        (Some(n), _) => format!("customer {n}"),
        (None, Some(t)) => format!("customer tenant {t}"),
        (None, None) => "an unidentified customer".to_owned(),
    }
}

/// `GDAP relationship "Name"` (or its id when it has no name).
pub fn relationship_label(rel: &DelegatedAdminRelationship) -> String {
    let kind = if rel.is_reseller() {
        "Reseller GDAP relationship"
    } else {
        "GDAP relationship"
    };
    if rel.display_name.is_empty() {
        format!("{kind} {}", rel.id)
    } else {
        format!("{kind} \"{}\"", rel.display_name)
    }
}

/// The partner's display name: Graph's, then the configured one, then its domain, then its tenant id.
pub fn partner_name(c: Option<&CustomerData>, ctx: &Ctx, tenant: &str) -> Option<String> {
    let rec = c.and_then(|c| c.partner(tenant));
    rec.and_then(|p| p.display_name.clone())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            ctx.config
                .partner(tenant)
                .and_then(|p| p.name.clone())
                .filter(|n| !n.is_empty())
        })
        .or_else(|| {
            rec.and_then(|p| p.default_domain_name.clone())
                .filter(|n| !n.is_empty())
        })
        .or_else(|| {
            rec.filter(|p| p.is_microsoft_support())
                .map(|_| "Microsoft Support (support case access)".to_owned())
        })
}

/// "partner Northwind CSP", or "partner tenant <id>".
pub fn partner_label(c: Option<&CustomerData>, ctx: &Ctx, tenant: &str) -> String {
    match partner_name(c, ctx, tenant) {
        Some(n) => format!("partner {n}"),
        None => format!("partner tenant {tenant}"),
    }
}

/// The partner's name, or its tenant id (for lists).
pub fn partner_short(c: Option<&CustomerData>, ctx: &Ctx, tenant: &str) -> String {
    partner_name(c, ctx, tenant).unwrap_or_else(|| tenant.to_owned())
}

pub fn partner_subject(c: Option<&CustomerData>, ctx: &Ctx, tenant: &str) -> Subject {
    subject(SubjectKind::Partner, tenant, partner_name(c, ctx, tenant))
}

/// A customer-side finding about a partner tenant: the partner as subject, both tenant ids, and the
/// partner's id and name as evidence.
pub fn partner_finding(
    meta: &'static RuleMeta,
    snap: &Snapshot,
    ctx: &Ctx,
    c: &CustomerData,
    tenant: &str,
    message: String,
) -> Finding {
    finding(meta, partner_subject(Some(c), ctx, tenant), message)
        .partner(Some(tenant))
        .customer(Some(&snap.tenant_id))
        .ev("partner_tenant_id", json!(tenant))
        .ev("partner_name", json!(partner_name(Some(c), ctx, tenant)))
}

/// Role ids and names for evidence: `[{"id": ..., "name": ...}]`.
pub fn roles_json<'a>(roles: &RoleCatalog, ids: impl IntoIterator<Item = &'a String>) -> Value {
    Value::Array(
        ids.into_iter()
            .map(|id| json!({"id": id, "name": roles.name(id)}))
            .collect(),
    )
}

/// "Global Administrator, Helpdesk Administrator" (sorted by name).
pub fn role_names<'a>(roles: &RoleCatalog, ids: impl IntoIterator<Item = &'a String>) -> String {
    let mut names: Vec<String> = ids.into_iter().map(|id| roles.name(id)).collect();
    names.sort();
    names.dedup();
    join_names(&names)
}

/// "A", "A and B", "A, B and C".
pub fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Up to `max` names, then "and N more".
pub fn some_names(names: &[String], max: usize) -> String {
    if names.len() <= max {
        join_names(names)
    } else {
        let shown: Vec<&str> = names.iter().take(max).map(String::as_str).collect();
        format!(
            "{} and {} more",
            shown.join(", "),
            names.len().saturating_sub(max)
        )
    }
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

pub fn ts(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

pub fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
    t.map(ts).unwrap_or(Value::Null)
}

/// `n` days, or `None` when that many days do not fit a duration (thresholds come from configuration
/// and can be any number: never a panic).
pub fn days(n: u32) -> Option<Duration> {
    Duration::try_days(i64::from(n))
}

/// The instant `n` days before `now`, or `None` when it is before the earliest date that can be
/// represented (a threshold of billions of days).
pub fn days_before(now: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(days(n)?)
}

/// The reason a rule is not evaluated when its day threshold `key` = `n` reaches beyond representable dates.
pub fn threshold_out_of_range(key: &str, n: u32) -> String {
    format!(
        "{key} = {n} days reaches beyond the dates gdap-audit can represent; set a realistic number of days"
    )
}

/// Whole days from `from` to `to` (rounded down).
pub fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_days()
}

/// Live relationship records (terminal and unknown statuses excluded).
pub fn live(records: &[RelationshipRecord]) -> impl Iterator<Item = &RelationshipRecord> {
    records.iter().filter(|r| r.relationship.status.is_live())
}

pub fn is_ga(id: &str) -> bool {
    id.eq_ignore_ascii_case(GLOBAL_ADMIN)
}

/// The resolved `allowed_privileged_roles`.
pub fn allowed_privileged(ctx: &Ctx) -> BTreeSet<String> {
    resolve_all(&ctx.roles, &ctx.config.allowed_privileged_roles)
}

/// Role names or ids to template ids (lower-case); unresolvable entries are dropped (config validation
/// rejects them at load time).
pub fn resolve_all(roles: &RoleCatalog, names: &[String]) -> BTreeSet<String> {
    names
        .iter()
        .filter_map(|n| roles.resolve(n))
        .map(|id| id.to_ascii_lowercase())
        .collect()
}

/// Privileged roles other than Global Administrator that are not allowed by configuration.
pub fn unapproved_privileged(ctx: &Ctx, ids: &BTreeSet<String>) -> BTreeSet<String> {
    let allowed = allowed_privileged(ctx);
    ids.iter()
        .filter(|id| !is_ga(id) && ctx.roles.is_privileged(id) && !allowed.contains(*id))
        .cloned()
        .collect()
}

/// The audited tenant (normalised when decoded, as every tenant id in the snapshot).
pub fn audited(snap: &Snapshot) -> String {
    snap.tenant_id.clone()
}

/// Service-provider partners (XTAP `isServiceProvider: true`), other than the audited tenant itself.
pub fn service_providers<'a>(
    snap: &Snapshot,
    c: &'a CustomerData,
) -> Vec<&'a crate::snapshot::PartnerRecord> {
    let me = audited(snap);
    c.service_providers()
        .filter(|p| p.tenant_id != me)
        .collect()
}

/// Service providers that are partners (CSPs, MSPs): without Microsoft Support's support-case entry,
/// which Microsoft adds and removes with each case, so it is neither new nor stale nor a leftover.
pub fn partner_service_providers<'a>(
    snap: &Snapshot,
    c: &'a CustomerData,
) -> Vec<&'a crate::snapshot::PartnerRecord> {
    service_providers(snap, c)
        .into_iter()
        .filter(|p| !p.is_microsoft_support())
        .collect()
}

pub fn is_service_provider(snap: &Snapshot, c: &CustomerData, tenant: &str) -> bool {
    tenant != snap.tenant_id && c.partner(tenant).is_some_and(|p| p.is_service_provider)
}

/// The sign-in summary saw `serviceProvider` access from this tenant (`crossTenantAccessType` is a
/// flags value, so keys may be comma-joined).
pub fn has_service_provider_signins(ps: &PartnerSignIns) -> bool {
    ps.access_types.iter().any(|(k, n)| {
        *n > 0
            && k.split(',')
                .any(|m| m.trim().eq_ignore_ascii_case("serviceProvider"))
    })
}

/// Partner tenants for the sign-in and audit rules: service-provider partners, plus tenants whose
/// sign-ins were of the `serviceProvider` type, never the audited tenant.
pub fn signin_partner(snap: &Snapshot, c: &CustomerData, tenant: &str) -> bool {
    if tenant == snap.tenant_id || tenant.is_empty() {
        return false;
    }
    is_service_provider(snap, c, tenant)
        || c.sign_ins
            .partners
            .get(tenant)
            .is_some_and(has_service_provider_signins)
}

/// The roles a partner may hold or holds in this tenant: its service-provider constraints plus the roles
/// assigned to principals of its tenant.
pub fn partner_roles(c: &CustomerData, tenant: &str) -> BTreeSet<String> {
    let mut roles: BTreeSet<String> = c
        .partner(tenant)
        .and_then(|p| p.allowed_roles.as_ref())
        .map(|r| r.iter().map(|r| r.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    for a in &c.foreign_role_assignments {
        if a.home_tenant_id == tenant {
            roles.insert(a.role_id.to_ascii_lowercase());
        }
    }
    roles
}

/// Roles allowed by the partner's constraints (lower-case).
pub fn constraint_roles(c: &CustomerData, tenant: &str) -> BTreeSet<String> {
    c.partner(tenant)
        .and_then(|p| p.allowed_roles.as_ref())
        .map(|r| r.iter().map(|r| r.to_ascii_lowercase()).collect())
        .unwrap_or_default()
}

/// Role assignments held by principals of the tenant.
pub fn assignments_of<'a>(
    c: &'a CustomerData,
    tenant: &str,
) -> Vec<&'a crate::snapshot::ForeignRoleAssignment> {
    c.foreign_role_assignments
        .iter()
        .filter(|a| a.home_tenant_id == tenant)
        .collect()
}

/// Evidence for a role assignment.
pub fn assignment_json(roles: &RoleCatalog, a: &crate::snapshot::ForeignRoleAssignment) -> Value {
    json!({
        "assignment_id": a.assignment_id,
        "role_id": a.role_id.to_ascii_lowercase(),
        "role_name": roles.name(&a.role_id),
        "principal_id": a.principal_id,
        "principal_type": a.principal_type,
        "principal_name": a.principal_name,
        "directory_scope_id": a.directory_scope_id,
    })
}

/// Evidence for a sign-in example.
pub fn signin_json(s: &SignInExample) -> Value {
    json!({
        "id": s.id,
        "at": ts(s.at),
        "user": s.user,
        "app": s.app,
        "ip": s.ip,
        "country": s.country,
        "authentication_requirement": s.authentication_requirement,
    })
}

/// "alex@northwind.example on 2026-08-14 from 131.107.159.37 (US) to Azure Portal".
pub fn signin_sentence(s: &SignInExample) -> String {
    let mut out = s
        .user
        .clone()
        .unwrap_or_else(|| "a partner user".to_owned());
    out.push_str(&format!(" on {}", date(s.at)));
    match (&s.ip, &s.country) {
        (Some(ip), Some(c)) => out.push_str(&format!(" from {ip} ({c})")),
        (Some(ip), None) => out.push_str(&format!(" from {ip}")),
        (None, Some(c)) => out.push_str(&format!(" from {c}")),
        (None, None) => {}
    }
    if let Some(app) = &s.app {
        out.push_str(&format!(" to {app}"));
    }
    out
}

/// A sign-in example that is a success (failed attempts are never evidence of access).
pub fn successful(s: &SignInExample) -> bool {
    s.error_code.unwrap_or(0) == 0
}

/// The previous run's record of `tenant` as a service-provider partner (a tenant known then only through
/// role assignments of its principals was not a partner yet).
pub fn previous_service_provider<'a>(
    prev: &'a super::context::PreviousRun,
    tenant: &str,
) -> Option<&'a super::context::PreviousPartner> {
    prev.partners.get(tenant).filter(|v| v.is_service_provider)
}
