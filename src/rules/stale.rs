//! Stale access: partners that no longer sign in, relationships about to end, leftover partner entries.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::common::*;
use super::context::Ctx;
use super::finding::{Finding, Severity};
use super::meta::{Note, Rule, RuleMeta, refs};
use crate::model::logs::DirectoryAudit;
use crate::model::tenant_id;
use crate::snapshot::{CustomerData, Perspective, Snapshot, Source};

pub static STALE_PARTNER_ACCESS: RuleMeta = RuleMeta {
    id: "stale-partner-access",
    title: "Partner access unused",
    default_severity: Severity::Medium,
    perspectives: &[Perspective::Customer],
    fires_when: "No successful partner sign-in from a service-provider partner's tenant for more than \
        thresholds.stale_after_days (90), counting the last activity recorded in history. Only raised when \
        the evidence (sign-ins read without a gap in history, plus this run's log window) covers the whole \
        threshold; otherwise the partner is listed as not evaluable yet. Failed sign-ins are not activity. \
        Microsoft Support's support-case entry is left out.",
    rationale: "Access nobody uses is pure risk: it can only be used by an attacker. Microsoft's DAP \
        guidance is to remove partner access inactive for 90 days; CISA AA22-131A asks to identify and \
        disable accounts no longer in use (MITRE M1018).",
    remediation: "Ask the partner whether the access is still needed; if not, end the relationship under \
        Settings > Partner relationships in the Microsoft 365 admin center and remove the partner from \
        cross-tenant access settings.",
    sources: &[Source::XtapPartners, Source::SignIns],
    // The evidence lists the roles the stale partner can still hold: constraints and assignments.
    optional_sources: &[
        Source::DirectoryAudits,
        Source::XtapServiceProviderConstraints,
        Source::RoleAssignments,
    ],
    config_keys: &["thresholds.stale_after_days"],
    references: &[
        refs::DAP_FAQ,
        refs::DAP_INACTIVE_CUSTOMERS,
        refs::CISA_AA22_131A,
        refs::MITRE_M1018_ACCOUNTS,
        refs::ENTRA_SIGNINS,
    ],
    from_evaluator: false,
};

pub static EXPIRING_SOON: RuleMeta = RuleMeta {
    id: "expiring-soon",
    title: "Relationship expiring soon",
    default_severity: Severity::Low,
    perspectives: &[Perspective::Partner],
    fires_when: "A live relationship ends in fewer than thresholds.expiring_within_days (30) days and does \
        not auto-extend (info when it will auto-extend).",
    rationale: "When a relationship expires, the partner's access to the customer stops; when it \
        auto-extends, access continues without a review. Either way someone should decide in time.",
    remediation: "Decide whether the access is still needed: request a new relationship with the \
        least-privileged roles before it ends, or let it expire deliberately.",
    sources: &[Source::GdapRelationships],
    optional_sources: &[],
    config_keys: &["thresholds.expiring_within_days"],
    references: &[refs::GDAP_AUTO_EXTEND, refs::GRAPH_RELATIONSHIP],
    from_evaluator: false,
};

pub static ORPHANED_PARTNER_ENTRY: RuleMeta = RuleMeta {
    id: "orphaned-partner-entry",
    title: "Leftover service-provider partner entry",
    default_severity: Severity::Low,
    perspectives: &[Perspective::Customer],
    fires_when: "A service-provider partner in cross-tenant access settings has no allowed roles, no role \
        assignments and no successful sign-in in the log window. Microsoft Support's support-case entry \
        (allowed the Microsoft 365 Support Engineer role) is left out: Microsoft removes it itself.",
    rationale: "A service-provider entry that grants nothing and is not used is a leftover of an ended \
        relationship; it keeps the partner's tenant trusted for nothing and clutters access reviews.",
    remediation: "Confirm the partner no longer works for you, then remove its entry from cross-tenant \
        access settings (Entra ID > External Identities > Cross-tenant access settings).",
    sources: &[
        Source::XtapPartners,
        Source::XtapServiceProviderConstraints,
        Source::RoleAssignments,
        Source::SignIns,
    ],
    optional_sources: &[],
    config_keys: &[],
    references: &[refs::DART_TRUST_CHAINS, refs::GRAPH_XTAP_PARTNER],
    from_evaluator: false,
};

pub static METAS: &[&RuleMeta] = &[
    &STALE_PARTNER_ACCESS,
    &EXPIRING_SOON,
    &ORPHANED_PARTNER_ENTRY,
];

/// "Add a partner to cross-tenant access setting" events naming `tenant` (normalised) as a target. A
/// target id is any object's id, not declared a tenant id: it is normalised here, for the comparison.
pub fn partner_added_events<'a>(
    c: &'a CustomerData,
    tenant: &'a str,
) -> impl Iterator<Item = &'a DirectoryAudit> {
    c.audits.events.iter().filter(move |e| {
        e.activity_display_name
            .trim()
            .eq_ignore_ascii_case("Add a partner to cross-tenant access setting")
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

pub struct StalePartnerAccess;

/// What the stale rule can say about one partner.
enum Staleness {
    Active,
    Stale {
        last: Option<DateTime<Utc>>,
    },
    /// Not evaluable: the partner is newer than the threshold.
    TooNew,
}

impl StalePartnerAccess {
    /// Since when sign-ins are known without a gap: the history's chain joined to this run's window when
    /// the window starts at or before the chain's end, else this run's window alone.
    fn evidence_since(snap: &Snapshot, ctx: &Ctx) -> DateTime<Utc> {
        let window = snap.window.since;
        match (ctx.history.evidence_since, ctx.history.evidence_until) {
            (Some(since), Some(until)) if window <= until => since.min(window),
            (Some(since), None) => since.min(window),
            _ => window,
        }
    }

    /// RULES.md: a first run never reports staleness, however long its log window.
    fn covered(snap: &Snapshot, ctx: &Ctx) -> bool {
        !ctx.history.is_first_run()
            && days_before(ctx.now, ctx.config.thresholds.stale_after_days)
                .is_some_and(|t| Self::evidence_since(snap, ctx) <= t)
    }

    fn last_activity(c: &CustomerData, ctx: &Ctx, tenant: &str) -> Option<DateTime<Utc>> {
        let from_history = ctx.history.last_partner_activity.get(tenant).copied();
        let this_run = c
            .sign_ins
            .partners
            .get(tenant)
            .and_then(|ps| ps.last_success.filter(|_| ps.successes > 0));
        from_history.max(this_run)
    }

    fn judge(snap: &Snapshot, ctx: &Ctx, c: &CustomerData, tenant: &str) -> Staleness {
        // None: the threshold reaches before any representable date, so any sign-in is recent enough.
        let threshold = days_before(ctx.now, ctx.config.thresholds.stale_after_days);
        let last = Self::last_activity(c, ctx, tenant);
        if last.is_some_and(|l| threshold.is_none_or(|t| l >= t)) {
            return Staleness::Active;
        }
        // A partner added within the threshold cannot be stale yet, whatever the evidence window.
        let absent_before = ctx.history.previous.as_ref().is_some_and(|p| {
            p.partners_collected && previous_service_provider(p, tenant).is_none()
        });
        let added_recently = snap.has(Source::DirectoryAudits)
            && partner_added_events(c, tenant)
                .any(|e| threshold.is_none_or(|t| e.activity_date_time > t));
        if absent_before || added_recently {
            return Staleness::TooNew;
        }
        Staleness::Stale { last }
    }
}

impl Rule for StalePartnerAccess {
    fn meta(&self) -> &'static RuleMeta {
        &STALE_PARTNER_ACCESS
    }

    fn skip_reason(&self, _snap: &Snapshot, ctx: &Ctx) -> Option<String> {
        let n = ctx.config.thresholds.stale_after_days;
        days_before(ctx.now, n)
            .is_none()
            .then(|| threshold_out_of_range("thresholds.stale_after_days", n))
    }

    fn notes(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Note> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let n = ctx.config.thresholds.stale_after_days;
        let partners = partner_service_providers(snap, c);
        if !Self::covered(snap, ctx) {
            let idle: Vec<String> = partners
                .iter()
                .filter(|p| !matches!(Self::judge(snap, ctx, c, &p.tenant_id), Staleness::Active))
                .map(|p| partner_short(Some(c), ctx, &p.tenant_id))
                .collect();
            if idle.is_empty() {
                return Vec::new();
            }
            let covered = days_between(Self::evidence_since(snap, ctx), ctx.now).max(0);
            return vec![Note::NotEvaluated(format!(
                "sign-in evidence covers {covered} of {n} days for {} without a recent sign-in ({}); not evaluated yet (history accumulates across runs)",
                plural(idle.len(), "partner", "partners"),
                some_names(&idle, 5)
            ))];
        }
        let new: Vec<String> = partners
            .iter()
            .filter(|p| matches!(Self::judge(snap, ctx, c, &p.tenant_id), Staleness::TooNew))
            .map(|p| partner_short(Some(c), ctx, &p.tenant_id))
            .collect();
        if new.is_empty() {
            Vec::new()
        } else {
            vec![Note::NotEvaluated(format!(
                "{} added less than {n} days ago without a sign-in yet ({}); not evaluated yet",
                plural(new.len(), "partner", "partners"),
                some_names(&new, 5)
            ))]
        }
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        if !Self::covered(snap, ctx) {
            return Vec::new();
        }
        let n = ctx.config.thresholds.stale_after_days;
        let since = Self::evidence_since(snap, ctx);
        let mut out = Vec::new();
        for sp in partner_service_providers(snap, c) {
            let Staleness::Stale { last } = Self::judge(snap, ctx, c, &sp.tenant_id) else {
                continue;
            };
            let label = partner_label(Some(c), ctx, &sp.tenant_id);
            let roles = partner_roles(c, &sp.tenant_id);
            let failures = c
                .sign_ins
                .partners
                .get(&sp.tenant_id)
                .map_or(0, |ps| ps.failures);
            let when = match last {
                Some(l) => format!(
                    "its last successful sign-in was on {} ({} days ago)",
                    date(l),
                    days_between(l, ctx.now)
                ),
                None => format!(
                    "no successful sign-in is on record since {} (as far back as the evidence goes)",
                    date(since)
                ),
            };
            let roles_text = if roles.is_empty() {
                String::new()
            } else {
                format!(" It can still hold {}.", role_names(&ctx.roles, &roles))
            };
            let msg = format!(
                "The {label} has not used its access to this tenant for more than {n} days: {when}.{roles_text}"
            );
            out.push(
                partner_finding(self.meta(), snap, ctx, c, &sp.tenant_id, msg)
                    .ev("last_successful_sign_in", opt_ts(last))
                    .ev("evidence_since", ts(since))
                    .ev("stale_after_days", json!(n))
                    .ev("failed_sign_ins_in_window", json!(failures))
                    .ev("roles", roles_json(&ctx.roles, &roles)),
            );
        }
        out
    }
}

pub struct ExpiringSoon;

impl Rule for ExpiringSoon {
    fn meta(&self) -> &'static RuleMeta {
        &EXPIRING_SOON
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(p) = ctx.partner(snap) else {
            return Vec::new();
        };
        // None: a window beyond any representable date, so every end date falls inside it.
        let window = days(ctx.config.thresholds.expiring_within_days);
        let mut out = Vec::new();
        for rec in live(&p.relationships) {
            let rel = &rec.relationship;
            let Some(end) = rel.end_date_time else {
                continue;
            };
            if window.is_some_and(|w| end.signed_duration_since(ctx.now) >= w) {
                continue;
            }
            let left = days_between(ctx.now, end);
            let when = if end <= ctx.now {
                format!("reached its end date on {}", date(end))
            } else {
                format!("ends on {} (in {} days)", date(end), left)
            };
            let (severity, consequence) = if rel.auto_extends() {
                (
                    Severity::Info,
                    format!(
                        "it will auto-extend by {}, so the access continues without a review",
                        rel.auto_extend_duration.as_deref().unwrap_or("P180D")
                    ),
                )
            } else {
                (
                    Severity::Low,
                    "it does not auto-extend, so the partner's access to this customer will stop"
                        .to_owned(),
                )
            };
            let msg = format!(
                "{} with {} {when}; {consequence}.",
                relationship_label(rel),
                customer_label(rel)
            );
            let roles = rel.access_details.role_ids();
            out.push(
                finding(self.meta(), relationship_subject(rel), msg)
                    .severity(severity)
                    .partner(Some(&snap.tenant_id))
                    .customer(rel.customer_tenant_id())
                    .ev("relationship_id", json!(rel.id))
                    .ev("status", json!(rel.status.as_str()))
                    .ev("customer_tenant_id", json!(rel.customer_tenant_id()))
                    .ev("customer_name", json!(rel.customer_name()))
                    .ev("end_date_time", ts(end))
                    .ev("days_left", json!(left))
                    .ev("auto_extend_duration", json!(rel.auto_extend_duration))
                    .ev("roles", roles_json(&ctx.roles, &roles)),
            );
        }
        out
    }
}

pub struct OrphanedPartnerEntry;

impl Rule for OrphanedPartnerEntry {
    fn meta(&self) -> &'static RuleMeta {
        &ORPHANED_PARTNER_ENTRY
    }

    fn check(&self, snap: &Snapshot, ctx: &Ctx) -> Vec<Finding> {
        let Some(c) = ctx.customer(snap) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for sp in partner_service_providers(snap, c) {
            // Unknown constraints (None) are not "no roles".
            if !sp.allowed_roles.as_ref().is_some_and(|r| r.is_empty())
                || !assignments_of(c, &sp.tenant_id).is_empty()
            {
                continue;
            }
            let successes = c
                .sign_ins
                .partners
                .get(&sp.tenant_id)
                .map_or(0, |ps| ps.successes);
            if successes > 0 {
                continue;
            }
            let msg = format!(
                "The {} is still listed as a service provider in cross-tenant access settings, but it is allowed no roles, holds no role assignments and had no successful sign-in since {}: a leftover entry to remove.",
                partner_label(Some(c), ctx, &sp.tenant_id),
                date(snap.window.since)
            );
            out.push(
                partner_finding(self.meta(), snap, ctx, c, &sp.tenant_id, msg)
                    .ev("window_since", ts(snap.window.since))
                    .ev("constraints_modified", opt_ts(sp.constraints_modified)),
            );
        }
        out
    }
}
