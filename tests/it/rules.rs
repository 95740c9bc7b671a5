//! Rule catalogue and evaluator tests, built from the snapshot fixtures in `fixtures/snapshots/`
//! (`partner.json`: Northwind CSP's own tenant; `customer.json`: Contoso, a Northwind customer) with
//! the clock pinned at 2026-09-01T00:00:00Z. Each rule fires where it should and stays silent at its
//! boundaries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use gdap_audit::config::{Config, ConfigError, Suppression};
use gdap_audit::evaluate::{Evaluation, evaluate, fingerprint};
use gdap_audit::model::gdap::{RelationshipStatus, UnifiedRole};
use gdap_audit::rules::context::{PreviousPartner, PreviousRelationship, PreviousRun};
use gdap_audit::rules::{Finding, HistoryView, Severity};
use gdap_audit::snapshot::{CoverageStatus, Snapshot, Source};

const NORTHWIND: &str = "8777b240-c6f0-4469-9e98-a3205431b836";
const CONTOSO_CUSTOMER: &str = "52eaad04-13a2-4a2f-9ce8-93a294fadf36";
const FABRIKAM_PARTNER: &str = "849b3600-7205-4b9f-8fec-6204183c3079";
const OLD_MSP: &str = "0e0e0e0e-0000-4000-8000-00000000000e";
const B2B_PARTNER: &str = "b2b0b2b0-0000-4000-8000-0000000000b2";
const DAP_TENANT: &str = "dddddddd-0000-4000-8000-00000000000d";
const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const SECURITY_ADMIN: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn now() -> DateTime<Utc> {
    "2026-09-01T00:00:00Z".parse().unwrap()
}

fn days_ago(n: i64) -> DateTime<Utc> {
    now() - Duration::days(n)
}

fn load(name: &str) -> Snapshot {
    Snapshot::read(
        &root()
            .join("fixtures/snapshots")
            .join(format!("{name}.json")),
    )
    .expect("fixture snapshot loads")
}

fn partner() -> Snapshot {
    load("partner")
}

fn customer() -> Snapshot {
    load("customer")
}

fn run(snap: &Snapshot, config: &Config, history: &HistoryView) -> Evaluation {
    evaluate(snap, config, history, now())
}

fn first_run(snap: &Snapshot) -> Evaluation {
    run(snap, &Config::default(), &HistoryView::default())
}

fn toml(text: &str) -> Config {
    Config::from_toml_str(text, "gdap-audit.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// (rule id, subject id) of every finding.
fn pairs(ev: &Evaluation) -> BTreeSet<(String, String)> {
    ev.findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.subject.id.clone()))
        .collect()
}

fn of<'a>(ev: &'a Evaluation, rule: &str) -> Vec<&'a Finding> {
    ev.findings.iter().filter(|f| f.rule_id == rule).collect()
}

fn subjects(ev: &Evaluation, rule: &str) -> Vec<String> {
    let mut s: Vec<String> = of(ev, rule).iter().map(|f| f.subject.id.clone()).collect();
    s.sort();
    s
}

fn one<'a>(ev: &'a Evaluation, rule: &str, subject: &str) -> &'a Finding {
    ev.findings
        .iter()
        .find(|f| f.rule_id == rule && f.subject.id == subject)
        .unwrap_or_else(|| {
            panic!(
                "no {rule} finding for {subject}; findings: {:#?}",
                pairs(ev)
            )
        })
}

fn not_evaluated(ev: &Evaluation, rule: &str) -> Vec<String> {
    ev.not_evaluated
        .iter()
        .filter(|n| n.rule_id == rule)
        .map(|n| n.reason.clone())
        .collect()
}

fn rules_not_evaluated(ev: &Evaluation, source: Source) -> Vec<String> {
    ev.coverage
        .iter()
        .find(|c| c.coverage.source == source)
        .map(|c| c.rules_not_evaluated.clone())
        .unwrap_or_default()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn rel_mut<'a>(
    snap: &'a mut Snapshot,
    id: &str,
) -> &'a mut gdap_audit::snapshot::RelationshipRecord {
    snap.partner
        .as_mut()
        .unwrap()
        .relationships
        .iter_mut()
        .find(|r| r.relationship.id == id)
        .unwrap()
}

fn set_coverage(snap: &mut Snapshot, source: Source, status: CoverageStatus) {
    snap.coverage
        .iter_mut()
        .find(|c| c.source == source)
        .unwrap()
        .status = status;
}

/// History where every current relationship and partner was seen before (roles unchanged), sign-ins
/// read since `evidence_since`.
fn history_seen_everything(
    snap: &Snapshot,
    at: DateTime<Utc>,
    evidence_since: Option<DateTime<Utc>>,
) -> HistoryView {
    let mut previous = PreviousRun {
        at,
        relationships_collected: true,
        partners_collected: true,
        ..PreviousRun::default()
    };
    if let Some(p) = &snap.partner {
        for r in &p.relationships {
            previous.relationships.insert(
                r.relationship.id.clone(),
                PreviousRelationship {
                    status: r.relationship.status.as_str().to_owned(),
                    roles: r.relationship.access_details.role_ids(),
                    end: r.relationship.end_date_time,
                },
            );
        }
    }
    if let Some(c) = &snap.customer {
        for p in &c.partners {
            let mut roles: Vec<String> = p.allowed_roles.clone().unwrap_or_default();
            roles.extend(
                c.foreign_role_assignments
                    .iter()
                    .filter(|a| a.home_tenant_id == p.tenant_id)
                    .map(|a| a.role_id.clone()),
            );
            roles.sort();
            roles.dedup();
            previous.partners.insert(
                p.tenant_id.to_lowercase(),
                PreviousPartner {
                    name: p.display_name.clone(),
                    roles,
                    is_service_provider: p.is_service_provider,
                    roles_complete: true,
                },
            );
        }
    }
    HistoryView {
        previous: Some(previous),
        evidence_since,
        evidence_until: evidence_since.map(|_| at),
        ..HistoryView::default()
    }
}

// ---------------------------------------------------------------------------------------------------
// The fixtures as a whole: exactly the expected findings, nothing at the boundaries.

#[test]
fn partner_fixture_raises_exactly_the_expected_findings() {
    let ev = first_run(&partner());
    let expected = set(&[
        ("global-admin-granted", "rel-contoso-admin"),
        ("privileged-role-granted", "rel-contoso-admin"),
        ("privileged-role-granted", "rel-litware-offer"),
        ("auto-extend-privileged", "rel-contoso-admin"),
        ("duration-exceeds-policy", "rel-contoso-admin"),
        ("duration-exceeds-policy", "rel-mlt-adatum"),
        ("unassigned-roles", "rel-contoso-admin"),
        ("assignment-error", "rel-fabrikam-support"),
        ("mlt-default-relationship", "rel-mlt-adatum"),
        ("legacy-dap", "cccccccc-0000-4000-8000-00000000000c"),
        ("legacy-dap", "860c78a9-5e57-4040-8988-6cf20ed62289"),
        ("expiring-soon", "rel-fabrikam-support"),
        ("pending-approval", "rel-litware-offer"),
        ("pending-approval", "rel-wwi-reseller"),
        ("new-partner-access", "rel-litware-offer"),
    ]);
    assert_eq!(
        pairs(&ev),
        expected,
        "{:#?}",
        ev.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
    );
    // Not evaluated without configuration, and said so.
    assert!(!not_evaluated(&ev, "roles-exceed-approved").is_empty());
    assert!(!not_evaluated(&ev, "unapproved-indirect-provider").is_empty());
    assert!(
        !not_evaluated(&ev, "roles-added").is_empty(),
        "first run: roles-added needs history"
    );
    // Customer-only rules are not relevant to a partner snapshot and are not listed anywhere.
    assert!(
        ev.not_evaluated
            .iter()
            .all(|n| n.rule_id != "stale-partner-access")
    );
    assert!(
        ev.coverage.iter().all(|c| c.rules_not_evaluated.is_empty()),
        "{:#?}",
        ev.coverage
    );
}

#[test]
fn customer_fixture_raises_exactly_the_expected_findings() {
    let ev = first_run(&customer());
    let expected = set(&[
        ("global-admin-granted", FABRIKAM_PARTNER),
        ("privileged-role-granted", NORTHWIND),
        ("partner-owned-app", "sp-northwind-rmm"),
        ("partner-owned-app", "sp-northwind-reports"),
        ("legacy-dap", DAP_TENANT),
        ("orphaned-partner-entry", OLD_MSP),
        ("new-partner-access", FABRIKAM_PARTNER),
        ("mfa-not-enforced-for-partners", CONTOSO_CUSTOMER),
        ("partner-signin-without-mfa", NORTHWIND),
        ("partner-mfa-trusted", NORTHWIND),
        ("partner-privileged-change", "audit-northwind-role"),
    ]);
    assert_eq!(
        pairs(&ev),
        expected,
        "{:#?}",
        ev.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
    );
    assert!(!not_evaluated(&ev, "partner-signin-unexpected-location").is_empty());
    assert!(!not_evaluated(&ev, "roles-exceed-approved").is_empty());
    assert!(ev.coverage.iter().all(|c| c.rules_not_evaluated.is_empty()));
}

#[test]
fn messages_name_partners_customers_and_roles() {
    let ev = first_run(&partner());
    let ga = one(&ev, "global-admin-granted", "rel-contoso-admin");
    assert_eq!(ga.severity, Severity::Critical);
    assert!(
        ga.message.contains("\"Contoso-Admin\"") && ga.message.contains("Contoso Ltd"),
        "{}",
        ga.message
    );
    assert!(ga.message.contains("Global Administrator"));
    assert_eq!(
        ga.customer_tenant_id.as_deref(),
        Some("11111111-1111-1111-1111-111111111111")
    );
    assert_eq!(ga.partner_tenant_id.as_deref(), Some(NORTHWIND));
    assert!(
        ga.references
            .iter()
            .any(|r| r == "https://attack.mitre.org/techniques/T1199/")
    );
    assert!(
        ga.evidence.map()["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Global Administrator" && r["id"] == GA)
    );
    let priv_ = one(&ev, "privileged-role-granted", "rel-contoso-admin");
    assert!(
        priv_.message.contains("Helpdesk Administrator")
            && !priv_.message.contains("Global Administrator"),
        "{}",
        priv_.message
    );

    let ev = first_run(&customer());
    let p = one(&ev, "privileged-role-granted", NORTHWIND);
    assert!(p.message.contains("Northwind CSP"), "{}", p.message);
    assert!(
        p.message
            .contains("Helpdesk Administrator and Security Administrator"),
        "{}",
        p.message
    );
    assert_eq!(
        p.evidence.map()["assignments"][0]["principal_name"],
        "Northwind SOC"
    );
    let ga = one(&ev, "global-admin-granted", FABRIKAM_PARTNER);
    assert!(
        ga.message.contains("Fabrikam IT Partners") && ga.message.contains("constraints"),
        "{}",
        ga.message
    );
}

// ---------------------------------------------------------------------------------------------------
// Over-privileged

#[test]
fn terminal_and_unknown_statuses_raise_nothing() {
    let ev = first_run(&partner());
    for id in ["rel-terminated", "rel-unknown-status"] {
        assert!(
            ev.findings.iter().all(|f| f.subject.id != id),
            "{id} raised {:?}",
            pairs(&ev)
        );
    }
    let mut snap = partner();
    for status in ["expired", "terminating", "unknownFutureValue"] {
        rel_mut(&mut snap, "rel-contoso-admin").relationship.status =
            RelationshipStatus::from(status.to_owned());
        let ev = first_run(&snap);
        assert!(
            ev.findings
                .iter()
                .all(|f| f.subject.id != "rel-contoso-admin"),
            "{status}"
        );
    }
}

#[test]
fn allowed_privileged_roles_are_not_reported_but_global_admin_always_is() {
    let config = toml(
        "allowed_privileged_roles = [\"Helpdesk Administrator\", \"fe930be7-5e62-47db-91af-98c3a49a38b1\", \"Global Administrator\"]",
    );
    let ev = run(&partner(), &config, &HistoryView::default());
    assert!(subjects(&ev, "privileged-role-granted").is_empty());
    assert_eq!(
        subjects(&ev, "global-admin-granted"),
        vec!["rel-contoso-admin"]
    );
}

#[test]
fn auto_extend_is_high_with_global_admin_and_medium_with_other_privileged_roles() {
    let ev = first_run(&partner());
    assert_eq!(
        one(&ev, "auto-extend-privileged", "rel-contoso-admin").severity,
        Severity::High
    );

    let mut snap = partner();
    rel_mut(&mut snap, "rel-contoso-admin")
        .relationship
        .access_details
        .unified_roles
        .retain(|r| r.role_definition_id != GA);
    let ev = first_run(&snap);
    let f = one(&ev, "auto-extend-privileged", "rel-contoso-admin");
    assert_eq!(f.severity, Severity::Medium);
    assert!(f.message.contains("Helpdesk Administrator"));

    // Only non-privileged roles: silent. No auto-extend (PT0S): silent.
    let mut snap = partner();
    rel_mut(&mut snap, "rel-mlt-adatum")
        .relationship
        .auto_extend_duration = Some("P180D".into());
    rel_mut(&mut snap, "rel-contoso-admin")
        .relationship
        .auto_extend_duration = Some("PT0S".into());
    assert!(subjects(&first_run(&snap), "auto-extend-privileged").is_empty());
}

#[test]
fn duration_boundary_is_exclusive() {
    // rel-fabrikam-support lasts exactly 365 days: silent (asserted by the fixture test). 366 fires.
    let mut snap = partner();
    rel_mut(&mut snap, "rel-fabrikam-support")
        .relationship
        .duration = Some("P366D".into());
    assert!(
        subjects(&first_run(&snap), "duration-exceeds-policy")
            .contains(&"rel-fabrikam-support".to_owned())
    );
    let config = toml("[thresholds]\nmax_duration_days = 730");
    assert!(
        subjects(
            &run(&snap, &config, &HistoryView::default()),
            "duration-exceeds-policy"
        )
        .is_empty()
    );
}

#[test]
fn unassigned_roles_and_assignment_errors() {
    let ev = first_run(&partner());
    let f = one(&ev, "unassigned-roles", "rel-contoso-admin");
    assert!(
        f.message.contains("Service Support Administrator"),
        "{}",
        f.message
    );
    let e = one(&ev, "assignment-error", "rel-fabrikam-support");
    assert!(
        e.message.contains("1 access assignment in error"),
        "{}",
        e.message
    );
    // Pending for exactly one day (rel-tailspin) is silent; a little more fires.
    let mut snap = partner();
    let a = &mut rel_mut(&mut snap, "rel-tailspin")
        .access_assignments
        .as_mut()
        .unwrap()[1];
    a.last_modified_date_time = Some(now() - Duration::days(1) - Duration::seconds(1));
    let ev = first_run(&snap);
    assert!(
        one(&ev, "assignment-error", "rel-tailspin")
            .message
            .contains("pending for more than a day")
    );
    // No active assignment at all.
    let mut snap = partner();
    rel_mut(&mut snap, "rel-tailspin").access_assignments = Some(vec![]);
    let ev = first_run(&snap);
    assert!(
        one(&ev, "unassigned-roles", "rel-tailspin")
            .message
            .contains("no active access assignment")
    );
}

#[test]
fn roles_exceed_approved_uses_overrides_then_the_default() {
    let config = toml(
        r#"
[approved_roles]
default = ["Directory Readers", "Service Support Administrator", "License Administrator"]
[approved_roles.customers."11111111-1111-1111-1111-111111111111"]
roles = ["Global Administrator", "Helpdesk Administrator", "Service Support Administrator"]
[approved_roles.partners."8777b240-c6f0-4469-9e98-a3205431b836"]
roles = ["Helpdesk Administrator", "Directory Readers"]
"#,
    );
    let ev = run(&partner(), &config, &HistoryView::default());
    // Contoso's override approves its roles; Litware's User Administrator exceeds the default.
    assert_eq!(
        subjects(&ev, "roles-exceed-approved"),
        vec!["rel-litware-offer"]
    );
    assert!(not_evaluated(&ev, "roles-exceed-approved").is_empty());
    let f = one(&ev, "roles-exceed-approved", "rel-litware-offer");
    assert!(
        f.message.contains("User Administrator") && f.message.contains("approved_roles.default"),
        "{}",
        f.message
    );

    let ev = run(&customer(), &config, &HistoryView::default());
    // Northwind: Security Administrator beyond its override; Fabrikam: GA beyond the default.
    assert_eq!(
        subjects(&ev, "roles-exceed-approved"),
        vec![FABRIKAM_PARTNER.to_owned(), NORTHWIND.to_owned()]
    );
    assert!(
        one(&ev, "roles-exceed-approved", NORTHWIND)
            .message
            .contains("Security Administrator")
    );
}

#[test]
fn roles_exceed_approved_without_default_is_partly_not_evaluated() {
    let config = toml(
        "[approved_roles.customers.\"11111111-1111-1111-1111-111111111111\"]\nroles = [\"Helpdesk Administrator\"]",
    );
    let ev = run(&partner(), &config, &HistoryView::default());
    assert_eq!(
        subjects(&ev, "roles-exceed-approved"),
        vec!["rel-contoso-admin"]
    );
    let notes = not_evaluated(&ev, "roles-exceed-approved");
    assert!(
        notes.iter().any(|n| n.contains("no approved role set")),
        "{notes:?}"
    );
}

#[test]
fn unapproved_indirect_provider_needs_its_list() {
    let ev = first_run(&partner());
    assert!(subjects(&ev, "unapproved-indirect-provider").is_empty());
    assert!(
        not_evaluated(&ev, "unapproved-indirect-provider")[0]
            .contains("approved_indirect_providers")
    );
    let ev = run(
        &partner(),
        &toml("approved_indirect_providers = []"),
        &HistoryView::default(),
    );
    assert_eq!(
        subjects(&ev, "unapproved-indirect-provider"),
        vec!["rel-wwi-reseller"]
    );
    let ev = run(
        &partner(),
        &toml("approved_indirect_providers = [\"AAAAAAAA-0000-4000-8000-00000000000A\"]"),
        &HistoryView::default(),
    );
    assert!(subjects(&ev, "unapproved-indirect-provider").is_empty());
    assert!(not_evaluated(&ev, "unapproved-indirect-provider").is_empty());
}

#[test]
fn partner_owned_apps_by_severity_and_never_microsoft() {
    let ev = first_run(&customer());
    let rmm = one(&ev, "partner-owned-app", "sp-northwind-rmm");
    assert_eq!(rmm.severity, Severity::High);
    assert!(
        rmm.message.contains("Directory.ReadWrite.All") && rmm.message.contains("Northwind CSP"),
        "{}",
        rmm.message
    );
    assert_eq!(
        one(&ev, "partner-owned-app", "sp-northwind-reports").severity,
        Severity::Medium
    );
    // Microsoft-owned, even if the Microsoft tenant were a service-provider partner.
    let mut snap = customer();
    snap.customer
        .as_mut()
        .unwrap()
        .partners
        .push(gdap_audit::snapshot::PartnerRecord {
            tenant_id: "f8cdef31-a31e-4b4a-93e4-5f571e91255a".into(),
            is_service_provider: true,
            allowed_roles: Some(vec!["00cf5c54-4693-4f59-a0ac-ab79ef0a974d".into()]),
            ..Default::default()
        });
    let ev = first_run(&snap);
    assert!(!subjects(&ev, "partner-owned-app").contains(&"sp-gdap-first-party".to_owned()));
    // Non-service-provider owner: silent.
    assert!(!subjects(&ev, "partner-owned-app").contains(&"sp-b2b-app".to_owned()));
}

#[test]
fn legacy_dap_on_both_sides() {
    let ev = first_run(&partner());
    let lh = one(&ev, "legacy-dap", "cccccccc-0000-4000-8000-00000000000c");
    assert_eq!(lh.severity, Severity::Critical);
    assert!(
        lh.message.contains("Proseware") && lh.message.contains("Lighthouse"),
        "{}",
        lh.message
    );
    let contract = one(&ev, "legacy-dap", "860c78a9-5e57-4040-8988-6cf20ed62289");
    assert_eq!(contract.severity, Severity::Medium);
    assert!(
        contract.message.contains("Graphic Design Institute"),
        "{}",
        contract.message
    );

    // Lighthouse not readable (delegated only): the contracts part still runs, Lighthouse part listed.
    let mut snap = partner();
    set_coverage(
        &mut snap,
        Source::LighthouseMyRoles,
        CoverageStatus::Skipped,
    );
    let ev = first_run(&snap);
    assert_eq!(
        one(&ev, "legacy-dap", "cccccccc-0000-4000-8000-00000000000c").severity,
        Severity::Medium
    );
    assert_eq!(
        rules_not_evaluated(&ev, Source::LighthouseMyRoles),
        vec!["legacy-dap"]
    );

    let ev = first_run(&customer());
    let c = one(&ev, "legacy-dap", DAP_TENANT);
    assert_eq!(c.severity, Severity::Critical);
    assert!(
        c.message.contains("AdminAgents") && c.message.contains("Global Administrator"),
        "{}",
        c.message
    );
    // Service-provider partners' assignments and Microsoft's are not DAP.
    assert!(
        of(&ev, "legacy-dap")
            .iter()
            .all(|f| f.subject.id != NORTHWIND)
    );
}

// ---------------------------------------------------------------------------------------------------
// Stale

#[test]
fn stale_is_not_raised_on_a_first_run_and_says_why() {
    let ev = first_run(&customer());
    assert!(subjects(&ev, "stale-partner-access").is_empty());
    let why = not_evaluated(&ev, "stale-partner-access");
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].contains("covers 30 of 90 days for 2 partners"),
        "{}",
        why[0]
    );
    assert!(
        why[0].contains("Fabrikam IT Partners") && why[0].contains("Old MSP"),
        "{}",
        why[0]
    );
}

/// The customer fixture without the audit event that adds Fabrikam 3 days ago (a partner added within
/// the threshold is too new to be stale).
fn customer_without_recent_additions() -> Snapshot {
    let mut snap = customer();
    snap.customer
        .as_mut()
        .unwrap()
        .audits
        .events
        .retain(|e| e.id != "audit-add-fabrikam");
    snap
}

#[test]
fn stale_uses_history_and_ignores_failed_sign_ins() {
    let snap = customer_without_recent_additions();
    let mut history = history_seen_everything(&snap, days_ago(10), Some(days_ago(120)));
    history
        .last_partner_activity
        .insert(FABRIKAM_PARTNER.into(), days_ago(91));
    let ev = run(&snap, &Config::default(), &history);
    // Fabrikam: 5 failed sign-ins this run do not count; last success 91 days ago. Old MSP: none ever.
    assert_eq!(
        subjects(&ev, "stale-partner-access"),
        vec![OLD_MSP.to_owned(), FABRIKAM_PARTNER.to_owned()]
    );
    let f = one(&ev, "stale-partner-access", FABRIKAM_PARTNER);
    assert!(
        f.message.contains("2026-06-02") && f.message.contains("Global Administrator"),
        "{}",
        f.message
    );
    assert_eq!(f.evidence.map()["failed_sign_ins_in_window"], 5);
    assert!(not_evaluated(&ev, "stale-partner-access").is_empty());

    // Exactly 90 days: silent.
    history
        .last_partner_activity
        .insert(FABRIKAM_PARTNER.into(), days_ago(90));
    let ev = run(&snap, &Config::default(), &history);
    assert_eq!(
        subjects(&ev, "stale-partner-access"),
        vec![OLD_MSP.to_owned()]
    );
}

#[test]
fn stale_needs_evidence_covering_the_threshold() {
    let snap = customer_without_recent_additions();
    // Evidence exactly 90 days: evaluated.
    let history = history_seen_everything(&snap, days_ago(10), Some(days_ago(90)));
    assert_eq!(
        subjects(
            &run(&snap, &Config::default(), &history),
            "stale-partner-access"
        )
        .len(),
        2
    );
    // 89 days: not evaluated yet.
    let history = history_seen_everything(&snap, days_ago(10), Some(days_ago(89)));
    let ev = run(&snap, &Config::default(), &history);
    assert!(subjects(&ev, "stale-partner-access").is_empty());
    assert!(not_evaluated(&ev, "stale-partner-access")[0].contains("covers 89 of 90 days"));
    // A partner absent from the previous run is too new to be stale.
    let mut history = history_seen_everything(&snap, days_ago(10), Some(days_ago(200)));
    history.previous.as_mut().unwrap().partners.remove(OLD_MSP);
    let ev = run(&snap, &Config::default(), &history);
    assert_eq!(
        subjects(&ev, "stale-partner-access"),
        vec![FABRIKAM_PARTNER.to_owned()]
    );
    assert!(not_evaluated(&ev, "stale-partner-access")[0].contains("Old MSP"));
    // A gap between the history's evidence and this run's window: only this run's 30 days count.
    let mut history = history_seen_everything(&snap, days_ago(40), Some(days_ago(200)));
    history.evidence_until = Some(days_ago(31));
    let ev = run(&snap, &Config::default(), &history);
    assert!(subjects(&ev, "stale-partner-access").is_empty());
    assert!(not_evaluated(&ev, "stale-partner-access")[0].contains("covers 30 of 90 days"));
    // Known before only through role assignments (not a service provider then): too new to be stale.
    let mut history = history_seen_everything(&snap, days_ago(10), Some(days_ago(200)));
    history
        .previous
        .as_mut()
        .unwrap()
        .partners
        .get_mut(OLD_MSP)
        .unwrap()
        .is_service_provider = false;
    let ev = run(&snap, &Config::default(), &history);
    assert_eq!(
        subjects(&ev, "stale-partner-access"),
        vec![FABRIKAM_PARTNER.to_owned()]
    );
}

#[test]
fn expiring_soon_boundaries_and_auto_extend() {
    let ev = first_run(&partner());
    let f = one(&ev, "expiring-soon", "rel-fabrikam-support");
    assert_eq!(f.severity, Severity::Low);
    assert!(
        f.message.contains("in 29 days") && f.message.contains("2026-09-30"),
        "{}",
        f.message
    );
    // rel-tailspin ends in exactly 30 days: silent (fixture test). With auto-extend: info.
    let mut snap = partner();
    rel_mut(&mut snap, "rel-fabrikam-support")
        .relationship
        .auto_extend_duration = Some("P180D".into());
    assert_eq!(
        one(&first_run(&snap), "expiring-soon", "rel-fabrikam-support").severity,
        Severity::Info
    );
    let config = toml("[thresholds]\nexpiring_within_days = 31");
    assert!(
        subjects(
            &run(&partner(), &config, &HistoryView::default()),
            "expiring-soon"
        )
        .contains(&"rel-tailspin".to_owned())
    );
}

#[test]
fn orphaned_entries_need_no_roles_no_assignments_and_no_successful_sign_ins() {
    let mut snap = customer();
    // Unknown constraints are not "no roles".
    snap.customer
        .as_mut()
        .unwrap()
        .partners
        .iter_mut()
        .find(|p| p.tenant_id == OLD_MSP)
        .unwrap()
        .allowed_roles = None;
    assert!(subjects(&first_run(&snap), "orphaned-partner-entry").is_empty());
    // Failed sign-ins only: still orphaned.
    let mut snap = customer();
    let fabrikam_signins =
        snap.customer.as_ref().unwrap().sign_ins.partners[FABRIKAM_PARTNER].clone();
    snap.customer
        .as_mut()
        .unwrap()
        .sign_ins
        .partners
        .insert(OLD_MSP.into(), fabrikam_signins);
    assert_eq!(
        subjects(&first_run(&snap), "orphaned-partner-entry"),
        vec![OLD_MSP]
    );
}

// ---------------------------------------------------------------------------------------------------
// Newly offered / changed

#[test]
fn pending_offers_with_their_age() {
    let ev = first_run(&partner());
    let f = one(&ev, "pending-approval", "rel-litware-offer");
    assert_eq!(f.evidence.map()["age_days"], 3);
    assert_eq!(f.evidence.map()["expires_in_days"], 87);
    assert!(
        f.message.contains("Litware") && f.message.contains("User Administrator"),
        "{}",
        f.message
    );
    let r = one(&ev, "pending-approval", "rel-wwi-reseller");
    assert!(r.message.contains("indirect provider"), "{}", r.message);
}

#[test]
fn new_partner_access_on_a_first_run_uses_dated_signals_only() {
    // Partner side: created 3 days ago fires; exactly 7 days ago does not; nothing else is "new".
    let ev = first_run(&partner());
    assert_eq!(
        subjects(&ev, "new-partner-access"),
        vec!["rel-litware-offer"]
    );
    assert!(ev.warnings.iter().any(|w| w.contains("first run")));
    // Customer side: only the partner named by an "Add a partner" audit event.
    let ev = first_run(&customer());
    assert_eq!(subjects(&ev, "new-partner-access"), vec![FABRIKAM_PARTNER]);
    assert!(
        one(&ev, "new-partner-access", FABRIKAM_PARTNER)
            .message
            .contains("2026-08-29")
    );
    // The event exactly new_within_days old: silent.
    let mut snap = customer();
    snap.customer.as_mut().unwrap().audits.events[0].activity_date_time = days_ago(7);
    assert!(subjects(&first_run(&snap), "new-partner-access").is_empty());
}

#[test]
fn new_partner_access_with_history() {
    let snap = partner();
    let mut history = history_seen_everything(&snap, days_ago(1), None);
    history
        .previous
        .as_mut()
        .unwrap()
        .relationships
        .remove("rel-fabrikam-support");
    history
        .previous
        .as_mut()
        .unwrap()
        .relationships
        .remove("rel-terminated");
    let ev = run(&snap, &Config::default(), &history);
    assert_eq!(
        subjects(&ev, "new-partner-access"),
        vec!["rel-fabrikam-support", "rel-litware-offer"]
    );
    // A previous run that could not read relationships is not a baseline.
    history.previous.as_mut().unwrap().relationships_collected = false;
    let ev = run(&snap, &Config::default(), &history);
    assert_eq!(
        subjects(&ev, "new-partner-access"),
        vec!["rel-litware-offer"]
    );

    let snap = customer();
    let mut history = history_seen_everything(&snap, days_ago(1), None);
    history.previous.as_mut().unwrap().partners.remove(OLD_MSP);
    history
        .previous
        .as_mut()
        .unwrap()
        .partners
        .remove(B2B_PARTNER);
    let ev = run(&snap, &Config::default(), &history);
    // The B2B partner is not a service provider: never "new partner access".
    assert_eq!(
        subjects(&ev, "new-partner-access"),
        vec![OLD_MSP.to_owned(), FABRIKAM_PARTNER.to_owned()]
    );
}

#[test]
fn roles_added_needs_history() {
    assert!(subjects(&first_run(&partner()), "roles-added").is_empty());
    assert!(subjects(&first_run(&customer()), "roles-added").is_empty());

    let snap = partner();
    let mut history = history_seen_everything(&snap, days_ago(5), None);
    history
        .previous
        .as_mut()
        .unwrap()
        .relationships
        .get_mut("rel-contoso-admin")
        .unwrap()
        .roles
        .retain(|r| r != HELPDESK);
    let ev = run(&snap, &Config::default(), &history);
    let f = one(&ev, "roles-added", "rel-contoso-admin");
    assert!(
        f.message.contains("gained 1 role") && f.message.contains("Helpdesk Administrator"),
        "{}",
        f.message
    );
    assert!(not_evaluated(&ev, "roles-added").is_empty());

    let snap = customer();
    let mut history = history_seen_everything(&snap, days_ago(5), None);
    history
        .previous
        .as_mut()
        .unwrap()
        .partners
        .get_mut(NORTHWIND)
        .unwrap()
        .roles
        .retain(|r| r != SECURITY_ADMIN);
    let ev = run(&snap, &Config::default(), &history);
    assert_eq!(subjects(&ev, "roles-added"), vec![NORTHWIND]);
    // A previous role set that was not read in full cannot tell what was added.
    let mut partial = history.clone();
    partial
        .previous
        .as_mut()
        .unwrap()
        .partners
        .get_mut(NORTHWIND)
        .unwrap()
        .roles_complete = false;
    let ev2 = run(&snap, &Config::default(), &partial);
    assert!(subjects(&ev2, "roles-added").is_empty());
    assert!(not_evaluated(&ev2, "roles-added")[0].contains("Northwind CSP"));
    assert!(
        one(&ev, "roles-added", NORTHWIND)
            .message
            .contains("Security Administrator")
    );
}

#[test]
fn roles_added_on_a_first_run_uses_constraint_audit_events() {
    let mut snap = customer();
    let mut e = snap.customer.as_ref().unwrap().audits.events[0].clone();
    e.id = "audit-roles-allowed".into();
    e.category = "DelegatedAdminServiceProviderConstraints".into();
    e.activity_display_name = "Add allowed assignable roles".into();
    e.target_resources[0].id = Some(NORTHWIND.into());
    snap.customer.as_mut().unwrap().audits.events.push(e);
    let ev = first_run(&snap);
    assert_eq!(subjects(&ev, "roles-added"), vec![NORTHWIND]);
}

// ---------------------------------------------------------------------------------------------------
// Partner access controls

#[test]
fn mfa_policy_exclusions_and_report_only_policies() {
    let ev = first_run(&customer());
    let f = one(&ev, "mfa-not-enforced-for-partners", CONTOSO_CUSTOMER);
    assert!(
        f.message
            .contains("1 of 3 service-provider partners (Fabrikam IT Partners)"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains(
            "\"Require MFA for all users\" excludes the users of partner Fabrikam IT Partners"
        ),
        "{}",
        f.message
    );
    assert!(f.message.contains("report-only"), "{}", f.message);

    // Only a report-only policy: not enforcing, fires for every partner.
    let mut snap = customer();
    snap.customer.as_mut().unwrap().conditional_access.remove(1);
    let f = first_run(&snap)
        .findings
        .into_iter()
        .find(|f| f.rule_id == "mfa-not-enforced-for-partners")
        .unwrap();
    assert!(
        f.message
            .starts_with("No enabled Conditional Access policy requires MFA"),
        "{}",
        f.message
    );

    // The same policy enabled (authentication strength instead of mfa): silent.
    let mut snap = customer();
    let c = snap.customer.as_mut().unwrap();
    c.conditional_access.remove(1);
    c.conditional_access[0].state = "enabled".into();
    let grant = c.conditional_access[0].grant_controls.as_mut().unwrap();
    grant.built_in_controls.clear();
    grant.authentication_strength = Some(Default::default());
    assert!(subjects(&first_run(&snap), "mfa-not-enforced-for-partners").is_empty());

    // No service-provider partner at all: nothing to protect.
    let mut snap = customer();
    snap.customer
        .as_mut()
        .unwrap()
        .partners
        .retain(|p| !p.is_service_provider);
    assert!(subjects(&first_run(&snap), "mfa-not-enforced-for-partners").is_empty());
}

#[test]
fn sign_ins_without_mfa_count_successes_of_service_providers_only() {
    let ev = first_run(&customer());
    let f = one(&ev, "partner-signin-without-mfa", NORTHWIND);
    assert!(
        f.message
            .starts_with("2 of 10 successful sign-ins by users of the partner Northwind CSP"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("sam@northwindcsp.onmicrosoft.com"),
        "{}",
        f.message
    );
    assert_eq!(f.evidence.map()["examples"].as_array().unwrap().len(), 1);
    // Fabrikam: failures only. Litware B2B: single-factor but not a partner.
    assert_eq!(subjects(&ev, "partner-signin-without-mfa"), vec![NORTHWIND]);
    // A tenant seen signing in with crossTenantAccessType serviceProvider counts even without an XTAP entry.
    let mut snap = customer();
    let signins = snap.customer.as_mut().unwrap();
    let b2b = signins.sign_ins.partners.get_mut(B2B_PARTNER).unwrap();
    b2b.access_types = BTreeMap::from([("b2bCollaboration,serviceProvider".to_owned(), 4)]);
    assert!(
        subjects(&first_run(&snap), "partner-signin-without-mfa").contains(&B2B_PARTNER.to_owned())
    );
}

#[test]
fn unexpected_locations_need_allowed_countries() {
    let config =
        toml("[partners.\"8777b240-c6f0-4469-9e98-a3205431b836\"]\nallowed_countries = [\"us\"]");
    let ev = run(&customer(), &config, &HistoryView::default());
    let f = one(&ev, "partner-signin-unexpected-location", NORTHWIND);
    assert!(
        f.message.contains("RU (2)") && f.message.contains("95.31.18.119"),
        "{}",
        f.message
    );
    assert!(not_evaluated(&ev, "partner-signin-unexpected-location").is_empty());
    let config = toml(
        "[partners.\"8777b240-c6f0-4469-9e98-a3205431b836\"]\nallowed_countries = [\"US\", \"RU\"]",
    );
    assert!(
        subjects(
            &run(&customer(), &config, &HistoryView::default()),
            "partner-signin-unexpected-location"
        )
        .is_empty()
    );
    // Sign-ins without a location are not "unexpected".
    let mut snap = customer();
    let ps = snap
        .customer
        .as_mut()
        .unwrap()
        .sign_ins
        .partners
        .get_mut(NORTHWIND)
        .unwrap();
    ps.countries = BTreeMap::from([("US".to_owned(), 8), ("unknown".to_owned(), 2)]);
    let config =
        toml("[partners.\"8777b240-c6f0-4469-9e98-a3205431b836\"]\nallowed_countries = [\"US\"]");
    assert!(
        subjects(
            &run(&snap, &config, &HistoryView::default()),
            "partner-signin-unexpected-location"
        )
        .is_empty()
    );
}

#[test]
fn mfa_trust_is_info_and_inherits_from_the_default_policy() {
    let ev = first_run(&customer());
    let f = one(&ev, "partner-mfa-trusted", NORTHWIND);
    assert_eq!(f.severity, Severity::Info);
    let mut snap = customer();
    snap.customer
        .as_mut()
        .unwrap()
        .default_policy
        .as_mut()
        .unwrap()
        .inbound_trust
        .as_mut()
        .unwrap()
        .is_mfa_accepted = Some(true);
    let ev = first_run(&snap);
    // Fabrikam inherits the default; Old MSP too; the B2B partner is not a service provider.
    assert_eq!(
        subjects(&ev, "partner-mfa-trusted"),
        vec![
            OLD_MSP.to_owned(),
            FABRIKAM_PARTNER.to_owned(),
            NORTHWIND.to_owned()
        ]
    );
    assert!(
        one(&ev, "partner-mfa-trusted", FABRIKAM_PARTNER)
            .message
            .contains("inherited")
    );
}

#[test]
fn partner_changes_only_sensitive_successful_and_by_service_providers() {
    let ev = first_run(&customer());
    let f = one(&ev, "partner-privileged-change", "audit-northwind-role");
    assert!(
        f.message.contains("alex@northwindcsp.onmicrosoft.com")
            && f.message.contains("Helpdesk Administrator"),
        "{}",
        f.message
    );
    assert_eq!(
        subjects(&ev, "partner-privileged-change"),
        vec!["audit-northwind-role"]
    );
}

// ---------------------------------------------------------------------------------------------------
// Coverage: a source not collected means "not evaluated", never clean.

#[test]
fn a_missing_source_lists_its_rules_and_raises_nothing_for_them() {
    let mut snap = customer();
    set_coverage(&mut snap, Source::SignIns, CoverageStatus::Unlicensed);
    let ev = first_run(&snap);
    assert_eq!(
        rules_not_evaluated(&ev, Source::SignIns),
        vec![
            "orphaned-partner-entry",
            "partner-signin-unexpected-location",
            "partner-signin-without-mfa",
            "stale-partner-access"
        ]
    );
    for rule in [
        "orphaned-partner-entry",
        "partner-signin-without-mfa",
        "stale-partner-access",
    ] {
        assert!(
            of(&ev, rule).is_empty(),
            "{rule} raised a finding without its source"
        );
    }
    // Other rules still run.
    assert!(!of(&ev, "global-admin-granted").is_empty());

    // A source the snapshot does not mention at all gets a synthesized entry.
    let mut snap = customer();
    snap.coverage
        .retain(|c| c.source != Source::ConditionalAccess);
    let ev = first_run(&snap);
    let entry = ev
        .coverage
        .iter()
        .find(|c| c.coverage.source == Source::ConditionalAccess)
        .unwrap();
    assert_eq!(entry.coverage.status, CoverageStatus::Skipped);
    assert_eq!(
        entry.rules_not_evaluated,
        vec!["mfa-not-enforced-for-partners"]
    );
    assert!(of(&ev, "mfa-not-enforced-for-partners").is_empty());

    // An optional source missing: the rule runs on the rest and is listed.
    let mut snap = customer();
    set_coverage(&mut snap, Source::DirectoryAudits, CoverageStatus::Denied);
    let ev = first_run(&snap);
    assert!(
        rules_not_evaluated(&ev, Source::DirectoryAudits)
            .contains(&"new-partner-access".to_owned())
    );
    assert!(of(&ev, "partner-privileged-change").is_empty());
}

#[test]
fn sides_run_independently_in_a_two_perspective_snapshot() {
    let p = partner();
    let mut snap = customer();
    snap.perspectives
        .push(gdap_audit::snapshot::Perspective::Partner);
    snap.partner = p.partner.clone();
    snap.coverage.extend(p.coverage.iter().cloned());
    set_coverage(&mut snap, Source::RoleAssignments, CoverageStatus::Denied);
    let ev = first_run(&snap);
    // The customer side of global-admin-granted could not run, the partner side did.
    assert_eq!(
        subjects(&ev, "global-admin-granted"),
        vec!["rel-contoso-admin"]
    );
    assert!(
        rules_not_evaluated(&ev, Source::RoleAssignments)
            .contains(&"global-admin-granted".to_owned())
    );
}

// ---------------------------------------------------------------------------------------------------
// Evaluator: overrides, fingerprints, order, suppressions.

#[test]
fn severity_overrides_and_disabled_rules() {
    let config = toml(
        "[rules.global-admin-granted]\nseverity = \"low\"\n[rules.legacy-dap]\nenabled = false",
    );
    let ev = run(&partner(), &config, &HistoryView::default());
    assert_eq!(
        one(&ev, "global-admin-granted", "rel-contoso-admin").severity,
        Severity::Low
    );
    assert!(of(&ev, "legacy-dap").is_empty());
    assert!(ev.not_evaluated.iter().all(|n| n.rule_id != "legacy-dap"));
}

#[test]
fn output_is_deterministic_sorted_and_fingerprinted() {
    let snap = partner();
    let a = first_run(&snap);
    let b = first_run(&snap);
    assert_eq!(a, b);
    let keys: Vec<_> = a
        .findings
        .iter()
        .map(|f| {
            (
                std::cmp::Reverse(f.severity),
                f.rule_id.clone(),
                f.subject.id.clone(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let f = one(&a, "global-admin-granted", "rel-contoso-admin");
    assert_eq!(
        f.fingerprint,
        fingerprint(
            "global-admin-granted",
            &NORTHWIND.to_uppercase(),
            "rel-contoso-admin"
        )
    );
    assert_eq!(f.fingerprint.len(), 32);
    assert!(f.fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
    let fps: BTreeSet<&str> = a.findings.iter().map(|f| f.fingerprint.as_str()).collect();
    assert_eq!(
        fps.len(),
        a.findings.len(),
        "fingerprints are unique within a run"
    );
    assert!(f.first_seen.is_none());
    let history = HistoryView {
        first_seen: BTreeMap::from([(f.fingerprint.clone(), days_ago(40))]),
        ..HistoryView::default()
    };
    let ev = run(&snap, &Config::default(), &history);
    assert_eq!(
        one(&ev, "global-admin-granted", "rel-contoso-admin").first_seen,
        Some(days_ago(40))
    );
}

fn suppression(rule: &str, subject: &str, expires: Option<DateTime<Utc>>) -> Suppression {
    Suppression {
        rule: rule.into(),
        subject: subject.into(),
        reason: "accepted by the CISO".into(),
        expires,
    }
}

#[test]
fn suppressions_matched_unused_and_expired() {
    let mut config = Config {
        suppressions: vec![
            // Matched by the customer tenant id of the finding.
            suppression(
                "global-admin-granted",
                "11111111-1111-1111-1111-111111111111",
                Some(days_ago(-30)),
            ),
            // Matched by subject id, but expired yesterday.
            suppression(
                "mlt-default-relationship",
                "REL-MLT-ADATUM",
                Some(days_ago(1)),
            ),
            // Matches nothing.
            suppression("expiring-soon", "rel-nope", None),
            // Its rule is not evaluated (no configuration): not reported as unused.
            suppression("unapproved-indirect-provider", "rel-nope", None),
            // A customer-only rule in a partner audit: not reported as unused.
            suppression("partner-owned-app", "sp-nope", None),
        ],
        ..Config::default()
    };
    let ev = run(&partner(), &config, &HistoryView::default());
    assert_eq!(ev.suppressed.len(), 1);
    assert_eq!(ev.suppressed[0].finding.rule_id, "global-admin-granted");
    assert_eq!(ev.suppressed[0].reason, "accepted by the CISO");
    assert!(of(&ev, "global-admin-granted").is_empty());
    // Expired: the finding is back, with a suppression-expired finding naming it.
    assert_eq!(
        subjects(&ev, "mlt-default-relationship"),
        vec!["rel-mlt-adatum"]
    );
    let expired = of(&ev, "suppression-expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].severity, Severity::Low);
    assert!(
        expired[0].message.contains("mlt-default-relationship")
            && expired[0].message.contains("2026-08-31"),
        "{}",
        expired[0].message
    );
    let unused = of(&ev, "suppression-unused");
    assert_eq!(unused.len(), 1, "{unused:#?}");
    assert!(unused[0].message.contains("expiring-soon") && unused[0].message.contains("rel-nope"));
    // Suppressed by fingerprint.
    let fp = fingerprint("mlt-default-relationship", NORTHWIND, "rel-mlt-adatum");
    config.suppressions = vec![suppression("mlt-default-relationship", &fp, None)];
    let ev = run(&partner(), &config, &HistoryView::default());
    assert!(of(&ev, "mlt-default-relationship").is_empty() && ev.suppressed.len() == 1);
}

// ---------------------------------------------------------------------------------------------------
// Configuration

fn config_err(text: &str) -> ConfigError {
    match Config::from_toml_str(text, "gdap-audit.toml") {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn config_errors_point_at_the_line() {
    let e = config_err(
        "allowed_privileged_roles = []\n\n[thresholds]\nstale_after_days = 30\nstale_days = 3\n",
    );
    assert_eq!(e.position(), Some((5, 1)));
    let text = e.to_string();
    assert!(
        text.starts_with("gdap-audit.toml:5:1: unknown field `stale_days`, expected one of"),
        "{text}"
    );
    assert!(text.contains("5 | stale_days = 3"), "{text}");

    let e = config_err("[[suppressions]]\nrule = \"legacy-dap\"\nsubject = \"x\"\n");
    assert!(e.message().contains("missing field `reason`"), "{e}");
    assert_eq!(e.position().map(|p| p.0), Some(1), "{e}");

    let e =
        config_err("[[suppressions]]\nrule = \"legacy-dap\"\nsubject = \"x\"\nreason = \"  \"\n");
    assert_eq!(e.position(), Some((4, 10)), "{e}");
    assert!(e.message().contains("reason must not be empty"));

    let e = config_err("[rules.stale-access]\nenabled = false\n");
    assert_eq!(e.position(), Some((1, 8)), "{e}");
    assert!(
        e.message().contains("unknown rule id `stale-access`")
            && e.message().contains("stale-partner-access")
    );

    let e = config_err("[[suppressions]]\nrule = \"nope\"\nsubject = \"x\"\nreason = \"r\"\n");
    assert_eq!(e.position(), Some((2, 8)), "{e}");

    let e =
        config_err("allowed_privileged_roles = [\"Helpdesk Administrator\", \"Helpdesk Admin\"]\n");
    assert_eq!(e.position(), Some((1, 55)), "{e}");
    assert!(e.message().contains("unknown role `Helpdesk Admin`"));

    let e = config_err(
        "[approved_roles]\ndefault = [\"Directory Readers\"]\n[approved_roles.partners.\"8777b240-c6f0-4469-9e98-a3205431b836\"]\nroles = [\"Directory Reader\"]\n",
    );
    assert_eq!(e.position(), Some((4, 10)), "{e}");

    let e = config_err("[rules.legacy-dap]\nseverity = \"severe\"\n");
    assert_eq!(e.position().map(|p| p.0), Some(2), "{e}");
    assert!(e.message().contains("severe"));

    let e = config_err("[partners.\"contoso.com\"]\nallowed_countries = [\"US\"]\n");
    assert_eq!(e.position(), Some((1, 11)), "{e}");
    assert!(e.message().contains("not a tenant id"));

    let e = config_err(
        "[partners.\"8777b240-c6f0-4469-9e98-a3205431b836\"]\nallowed_countries = [\"USA\"]\n",
    );
    assert!(e.message().contains("two-letter"), "{e}");

    let e = config_err(
        "[[suppressions]]\nrule = \"legacy-dap\"\nsubject = \"x\"\nreason = \"r\"\nexpires = \"next year\"\n",
    );
    assert_eq!(e.position().map(|p| p.0), Some(5), "{e}");

    let e = config_err(
        "[[suppressions]]\nrule = \"suppression-unused\"\nsubject = \"x\"\nreason = \"r\"\n",
    );
    assert!(e.message().contains("cannot be suppressed"), "{e}");

    let e = config_err("[thresholds]\nstale_after_days = 0\n");
    assert!(e.message().contains("between 1 and 3650"), "{e}");
}

#[test]
fn config_accepts_dates_in_every_form() {
    let c = toml(
        "[[suppressions]]\nrule = \"legacy-dap\"\nsubject = \"a\"\nreason = \"r\"\nexpires = 2026-12-31\n\
         [[suppressions]]\nrule = \"legacy-dap\"\nsubject = \"b\"\nreason = \"r\"\nexpires = \"2026-12-31\"\n\
         [[suppressions]]\nrule = \"legacy-dap\"\nsubject = \"c\"\nreason = \"r\"\nexpires = 2026-12-31T18:00:00+02:00\n",
    );
    let e: Vec<String> = c
        .suppressions
        .iter()
        .map(|s| s.expires.unwrap().to_rfc3339())
        .collect();
    assert_eq!(
        e,
        vec![
            "2026-12-31T00:00:00+00:00",
            "2026-12-31T00:00:00+00:00",
            "2026-12-31T16:00:00+00:00"
        ]
    );
}

#[test]
fn config_load_reads_files_and_the_committed_examples_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gdap-audit.toml");
    std::fs::write(&path, "[thresholds]\nnew_within_days = 14\n").unwrap();
    assert_eq!(Config::load(&path).unwrap().thresholds.new_within_days, 14);
    let err = Config::load(dir.path().join("missing.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));

    let demo = root().join("fixtures/demo/gdap-audit.toml");
    if demo.exists() {
        Config::load(&demo).unwrap_or_else(|e| panic!("{e}"));
    }
    // Every ```toml block of docs/configuration.md parses and validates.
    let doc = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let mut blocks = 0;
    for block in doc.split("```toml\n").skip(1) {
        let text = block.split("```").next().unwrap();
        Config::from_toml_str(text, "docs/configuration.md")
            .unwrap_or_else(|e| panic!("{e}\n---\n{text}"));
        blocks += 1;
    }
    assert!(blocks > 0);
}

#[test]
fn config_schema_describes_every_top_level_key() {
    let schema = gdap_audit::config::config_schema();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "thresholds",
        "allowed_privileged_roles",
        "approved_roles",
        "approved_indirect_providers",
        "partners",
        "rules",
        "suppressions",
    ] {
        assert!(props.contains_key(key), "{key} missing from the schema");
    }
    assert_eq!(schema["additionalProperties"], false);
}

// ---------------------------------------------------------------------------------------------------
// Metadata and generated docs

#[test]
fn rule_metadata_is_complete() {
    let ids: Vec<&str> = gdap_audit::rules::all_rules().map(|m| m.id).collect();
    for id in [
        "global-admin-granted",
        "privileged-role-granted",
        "roles-exceed-approved",
        "auto-extend-privileged",
        "duration-exceeds-policy",
        "unassigned-roles",
        "assignment-error",
        "mlt-default-relationship",
        "unapproved-indirect-provider",
        "partner-owned-app",
        "legacy-dap",
        "stale-partner-access",
        "expiring-soon",
        "orphaned-partner-entry",
        "pending-approval",
        "new-partner-access",
        "roles-added",
        "mfa-not-enforced-for-partners",
        "partner-signin-without-mfa",
        "partner-signin-unexpected-location",
        "partner-mfa-trusted",
        "partner-privileged-change",
        "suppression-unused",
        "suppression-expired",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
    let explain = gdap_audit::rules::rule("legacy-dap").unwrap().explain();
    for part in [
        "legacy-dap: Legacy delegated admin",
        "Severity:      critical",
        "Remediation",
        "https://attack.mitre.org/techniques/T1199/",
    ] {
        assert!(explain.contains(part), "{explain}");
    }
}

#[test]
fn docs_rules_md_is_generated_from_the_metadata() {
    let path = root().join("docs/rules.md");
    let generated = gdap_audit::rules::rules_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/rules.md is out of date with the rule metadata in src/rules/; regenerate it with \
         `UPDATE_DOCS=1 cargo test --test it rules::docs_rules_md` and commit the result"
    );
}

#[test]
fn unknown_roles_in_relationships_are_named_by_id() {
    let mut snap = partner();
    rel_mut(&mut snap, "rel-tailspin")
        .relationship
        .access_details
        .unified_roles
        .push(UnifiedRole {
            role_definition_id: "00000000-1111-2222-3333-444444444444".into(),
        });
    let config = toml("[approved_roles]\ndefault = [\"Directory Readers\"]");
    let ev = run(&snap, &config, &HistoryView::default());
    assert!(
        one(&ev, "roles-exceed-approved", "rel-tailspin")
            .message
            .contains("00000000-1111-2222-3333-444444444444")
    );
}

#[test]
fn a_perspective_without_data_lists_its_rules_as_not_evaluated() {
    let mut snap = customer();
    snap.customer = None;
    for c in &mut snap.coverage {
        c.status = CoverageStatus::Denied;
    }
    let ev = first_run(&snap);
    assert!(ev.findings.is_empty());
    let listed = rules_not_evaluated(&ev, Source::XtapPartners);
    assert!(
        listed.contains(&"global-admin-granted".to_owned())
            && listed.contains(&"partner-mfa-trusted".to_owned())
    );
}

/// Microsoft Support's support-case entry (allowed the Microsoft 365 Support Engineer role) is named as
/// such and is neither a new partner, nor stale, nor a leftover: Microsoft adds and removes it per case.
#[test]
fn microsoft_support_entry_is_not_an_unknown_csp() {
    let support = "5e5e5e5e-0000-4000-8000-00000000005e";
    let mut snap = customer();
    snap.customer
        .as_mut()
        .unwrap()
        .partners
        .push(gdap_audit::snapshot::PartnerRecord {
            tenant_id: support.into(),
            is_service_provider: true,
            allowed_roles: Some(vec!["00cf5c54-4693-4f59-a0ac-ab79ef0a974d".into()]),
            ..Default::default()
        });
    let previous = PreviousRun {
        at: days_ago(7),
        partners_collected: true,
        ..Default::default()
    };
    let history = HistoryView {
        previous: Some(previous),
        ..Default::default()
    };
    let ev = run(&snap, &Config::default(), &history);
    for rule in [
        "new-partner-access",
        "orphaned-partner-entry",
        "stale-partner-access",
    ] {
        assert!(
            !subjects(&ev, rule).contains(&support.to_owned()),
            "{rule} must not flag Microsoft Support"
        );
    }
    // Another partner absent from the previous run is still new: the exclusion is narrow.
    assert!(!subjects(&ev, "new-partner-access").is_empty());
    let named = ev
        .findings
        .iter()
        .filter(|f| f.subject.id == support)
        .all(|f| {
            f.subject.display_name.as_deref() == Some("Microsoft Support (support case access)")
        });
    assert!(named);
}

// ----------------------------------------------------------------------------------------------------
// Robustness: thresholds and durations from outside never panic

/// #3: `stale_after_days = 4000000000` panicked (unchecked `Duration::days` and `now - days`); every day
/// threshold at `u32::MAX` now evaluates, the stale rule as a clear "not evaluated".
#[test]
fn huge_day_thresholds_never_panic() {
    let customer_snap = customer_without_recent_additions();
    let partner_snap = partner();
    let history = history_seen_everything(&customer_snap, days_ago(10), Some(days_ago(120)));
    for n in [4_000_000_000u32, u32::MAX] {
        let mut config = Config::default();
        config.thresholds.stale_after_days = n;
        config.thresholds.expiring_within_days = n;
        config.thresholds.new_within_days = n;
        config.thresholds.max_duration_days = n;
        let ev = run(&customer_snap, &config, &history);
        assert!(subjects(&ev, "stale-partner-access").is_empty());
        let why = not_evaluated(&ev, "stale-partner-access");
        assert!(
            why.iter()
                .any(|w| w.contains("thresholds.stale_after_days") && w.contains(&n.to_string())),
            "{why:?}"
        );
        let ev = run(&partner_snap, &config, &HistoryView::default());
        // Every live relationship with an end date ends within a window that long.
        assert!(!subjects(&ev, "expiring-soon").is_empty());
        assert!(subjects(&ev, "duration-exceeds-policy").is_empty());
    }
}

/// #3: durations Graph could send out of range (`P99999999999D`, beyond `i64` days) never panic: a huge
/// one is simply longer than the policy, an unreadable one is not judged.
#[test]
fn out_of_range_relationship_durations_never_panic() {
    let mut snap = partner();
    let ids: Vec<String> = snap
        .partner
        .as_ref()
        .unwrap()
        .relationships
        .iter()
        .map(|r| r.relationship.id.clone())
        .collect();
    let durations = [
        "P99999999999D",
        "P99999999999999999999D",
        "P9223372036854775807DT86400S",
        "P-5D",
        "",
    ];
    for (id, d) in ids.iter().zip(durations.iter().cycle()) {
        let rel = &mut rel_mut(&mut snap, id).relationship;
        rel.duration = Some((*d).to_owned());
        rel.auto_extend_duration = Some((*d).to_owned());
        rel.end_date_time = Some(DateTime::<Utc>::MAX_UTC);
        rel.created_date_time = Some(DateTime::<Utc>::MIN_UTC);
    }
    let ev = first_run(&snap);
    let long: Vec<String> = of(&ev, "duration-exceeds-policy")
        .iter()
        .map(|f| {
            f.evidence.map()["duration"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(long.iter().all(|d| d == "P99999999999D"), "{long:?}");
}

/// #6: Microsoft Support is recognised by its documented tenant (Office365ConciergeSupport) as well as by
/// the Microsoft 365 Support Engineer role: never a new, stale or leftover partner. The extra roles its
/// lock-out flow allows are reported with wording that names Microsoft Support, even the one the
/// built-in table does not mark privileged (Authentication Policy Administrator).
#[test]
fn microsoft_support_is_recognised_by_tenant_and_its_lockout_roles_are_reported() {
    const SUPPORT: &str = "b4c546a4-7dac-46a6-a7dd-ed822a11efd3";
    const SUPPORT_ENGINEER: &str = "00cf5c54-4693-4f59-a0ac-ab79ef0a974d";
    const LOCKOUT: [(&str, &str); 4] = [
        (
            "8329153b-31d0-4727-b945-745eb3bc5f31",
            "Domain Name Administrator",
        ),
        (
            "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
            "Privileged Authentication Administrator",
        ),
        (
            "e8611ab8-c189-46e8-94e1-60213ab1f814",
            "Privileged Role Administrator",
        ),
        (
            "0526716b-113d-4c15-b2c8-68e3c22b9f80",
            "Authentication Policy Administrator",
        ),
    ];
    let base = customer_without_recent_additions();
    // The previous run did not list Microsoft Support: it would be "new" if taken for a partner.
    let history = history_seen_everything(&base, days_ago(10), Some(days_ago(120)));
    let quiet = [
        "new-partner-access",
        "stale-partner-access",
        "orphaned-partner-entry",
    ];
    for (roles, lockout) in [
        (Some(vec![]), false),
        (None, false),
        (Some(vec![SUPPORT_ENGINEER.to_owned()]), false),
        (
            Some(
                std::iter::once(SUPPORT_ENGINEER)
                    .chain(LOCKOUT.iter().map(|(id, _)| *id))
                    .map(str::to_owned)
                    .collect(),
            ),
            true,
        ),
    ] {
        let mut snap = base.clone();
        snap.customer
            .as_mut()
            .unwrap()
            .partners
            .push(gdap_audit::snapshot::PartnerRecord {
                tenant_id: SUPPORT.to_owned(),
                is_service_provider: true,
                allowed_roles: roles.clone(),
                ..Default::default()
            });
        let ev = run(&snap, &Config::default(), &history);
        for rule in quiet {
            assert!(
                !subjects(&ev, rule).contains(&SUPPORT.to_owned()),
                "{rule} with roles {roles:?}"
            );
        }
        let privileged = subjects(&ev, "privileged-role-granted").contains(&SUPPORT.to_owned());
        assert_eq!(privileged, lockout, "roles {roles:?}");
        if lockout {
            let f = one(&ev, "privileged-role-granted", SUPPORT);
            assert!(
                f.message
                    .starts_with("Microsoft Support's support-case access")
                    && f.message.contains("lock-out"),
                "{}",
                f.message
            );
            for (_, name) in LOCKOUT {
                assert!(f.message.contains(name), "{name}: {}", f.message);
            }
            assert!(!f.message.contains("Microsoft 365 Support Engineer:"));
        }
    }
}

/// #3: sign-in counts in a snapshot are outside input (`evaluate FILE`): counters at `u64::MAX`, also
/// under two spellings of the same partner, are summed saturating instead of overflowing.
#[test]
fn huge_sign_in_counts_in_a_snapshot_never_panic() {
    let mut snap = customer_without_recent_additions();
    {
        let sign_ins = &mut snap.customer.as_mut().unwrap().sign_ins;
        let copies: Vec<(String, gdap_audit::snapshot::PartnerSignIns)> = sign_ins
            .partners
            .iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
            .collect();
        sign_ins.partners.extend(copies);
        for ps in sign_ins.partners.values_mut() {
            ps.total = u64::MAX;
            ps.failures = u64::MAX;
            ps.successes_without_mfa = ps.successes_without_mfa.max(1).saturating_mul(u64::MAX);
            for n in ps.countries.values_mut() {
                *n = u64::MAX;
            }
        }
    }
    let mut history = history_seen_everything(&snap, days_ago(10), Some(days_ago(120)));
    history
        .last_partner_activity
        .insert(FABRIKAM_PARTNER.into(), days_ago(91));
    let config = toml(&format!(
        "[partners.\"{NORTHWIND}\"]\nallowed_countries = [\"ZZ\"]\n[partners.\"{FABRIKAM_PARTNER}\"]\nallowed_countries = [\"ZZ\"]"
    ));
    let ev = run(&snap, &config, &history);
    let f = one(&ev, "stale-partner-access", FABRIKAM_PARTNER);
    assert_eq!(f.evidence.map()["failed_sign_ins_in_window"], u64::MAX);
    assert!(!subjects(&ev, "partner-signin-unexpected-location").is_empty());
}

/// #12: an app whose grants could not be read (`app_roles: None`) is not evaluated, never reported as a
/// weaker medium finding ("its application permissions could not be read").
#[test]
fn partner_owned_app_with_unreadable_grants_is_not_evaluated() {
    let mut snap = customer();
    for rec in &mut snap.customer.as_mut().unwrap().service_principals {
        if rec.service_principal.id == "sp-northwind-rmm" {
            rec.app_roles = None;
        }
    }
    let ev = first_run(&snap);
    let subjects = subjects(&ev, "partner-owned-app");
    assert!(
        !subjects.contains(&"sp-northwind-rmm".to_owned()),
        "{subjects:?}"
    );
    assert!(subjects.contains(&"sp-northwind-reports".to_owned()));
    let why = not_evaluated(&ev, "partner-owned-app");
    assert!(
        why.iter()
            .any(|w| w.contains("could not be read") && w.contains("1 app")),
        "{why:?}"
    );
}

/// #6: principals of the Microsoft Support tenant holding directory roles without its cross-tenant
/// access entry are reported under their name with support-specific advice, not as a partner's DAP.
#[test]
fn microsoft_support_principals_outside_a_support_entry_are_named() {
    const SUPPORT: &str = "b4c546a4-7dac-46a6-a7dd-ed822a11efd3";
    let mut snap = customer();
    snap.customer
        .as_mut()
        .unwrap()
        .foreign_role_assignments
        .push(gdap_audit::snapshot::ForeignRoleAssignment {
            assignment_id: "ra-support".into(),
            role_id: "e8611ab8-c189-46e8-94e1-60213ab1f814".into(),
            principal_id: "p-support".into(),
            principal_type: "user".into(),
            principal_name: Some("engineer@support.example".into()),
            home_tenant_id: SUPPORT.into(),
            directory_scope_id: Some("/".into()),
        });
    let ev = first_run(&snap);
    let f = one(&ev, "legacy-dap", SUPPORT);
    assert!(
        f.message.contains("Microsoft Support")
            && f.message.contains("support-case entry")
            && !f.message.contains("legacy DAP gave"),
        "{}",
        f.message
    );
}

/// The report lists the rules that ran, so a clean check can be shown as passed; a rule whose source
/// could not be read is not among them, and a disabled rule never is.
#[test]
fn rules_evaluated_lists_exactly_the_rules_that_ran() {
    let mut snap = customer();
    let ev = first_run(&snap);
    assert!(
        ev.evaluated
            .iter()
            .any(|r| r == "mfa-not-enforced-for-partners")
    );
    assert!(
        ev.evaluated
            .iter()
            .any(|r| r == "partner-signin-without-mfa")
    );
    // Partner-side rules have nothing to run on in a customer snapshot.
    assert!(!ev.evaluated.iter().any(|r| r == "expiring-soon"));

    set_coverage(&mut snap, Source::SignIns, CoverageStatus::Denied);
    let ev = first_run(&snap);
    assert!(
        !ev.evaluated
            .iter()
            .any(|r| r == "partner-signin-without-mfa")
    );
    assert!(
        ev.evaluated
            .iter()
            .any(|r| r == "mfa-not-enforced-for-partners")
    );

    let config = toml("[rules.mfa-not-enforced-for-partners]\nenabled = false\n");
    let ev = run(&snap, &config, &HistoryView::default());
    assert!(
        !ev.evaluated
            .iter()
            .any(|r| r == "mfa-not-enforced-for-partners")
    );
}

// ----------------------------------------------------------------------------------------------------
// Tenant ids in any case: Graph sends upper-case GUIDs in places; they are normalised when decoded.

/// Snapshot and Graph field names that hold a tenant id.
const TENANT_ID_KEYS: &[&str] = &[
    "tenant_id",
    "home_tenant_id",
    "partner_tenant_id",
    "tenantId",
    "customerId",
    "homeTenantId",
    "resourceTenantId",
    "indirectProviderTenantId",
    "appOwnerOrganizationId",
    "externalPartnerTenantId",
    "principalOrganizationId",
    "managedByTenantId",
    "manageeTenantId",
];

/// A GUID as Graph may also spell it: upper case, in braces. Other text unchanged.
fn respelled(s: &str) -> Option<String> {
    gdap_audit::model::TenantId::parse(s).map(|_| format!("{{{}}}", s.to_uppercase()))
}

/// `snap` written out and read back with the tenant ids `pick` chooses (by occurrence, from 0)
/// [`respelled`], the keys of the sign-in summary included; and how many were changed.
fn recased(snap: &Snapshot, pick: &dyn Fn(usize) -> bool) -> (Snapshot, usize) {
    use serde_json::Value;
    fn walk(v: &mut Value, pick: &dyn Fn(usize) -> bool, seen: &mut usize, changed: &mut usize) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match x {
                        Value::String(s) if TENANT_ID_KEYS.contains(&k.as_str()) => {
                            if pick(*seen)
                                && let Some(r) = respelled(s)
                            {
                                *s = r;
                                *changed += 1;
                            }
                            *seen += 1;
                        }
                        _ => walk(x, pick, seen, changed),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, pick, seen, changed)),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_str(&snap.to_json()).unwrap();
    let (mut seen, mut changed) = (0, 0);
    walk(&mut v, pick, &mut seen, &mut changed);
    if let Some(Value::Object(partners)) = v.pointer_mut("/customer/sign_ins/partners") {
        let old = std::mem::take(partners);
        for (i, (k, x)) in old.into_iter().enumerate() {
            let k = match respelled(&k) {
                Some(r) if pick(i) => r,
                _ => k,
            };
            partners.insert(k, x);
        }
    }
    let snap = Snapshot::from_slice(v.to_string().as_bytes(), "recased.json").unwrap();
    (snap, changed)
}

fn findings_json(ev: &Evaluation) -> String {
    serde_json::to_string_pretty(&ev.findings).unwrap()
}

/// A snapshot whose tenant ids came in upper or mixed case evaluates exactly as the lower-case one:
/// the same findings, subjects, evidence and fingerprints, on a first run and against history.
#[test]
fn tenant_ids_in_any_case_evaluate_like_lower_case_ones() {
    let config = toml(&format!(
        "approved_indirect_providers = [\"{}\"]\n[partners.\"{}\"]\nallowed_countries = [\"US\"]\n",
        NORTHWIND.to_uppercase(),
        NORTHWIND.to_uppercase()
    ));
    let all: &dyn Fn(usize) -> bool = &|_| true;
    let every_other: &dyn Fn(usize) -> bool = &|i| i % 2 == 0;
    for snap in [partner(), customer(), customer_without_recent_additions()] {
        let history = history_seen_everything(&snap, days_ago(60), Some(days_ago(200)));
        let first = findings_json(&run(&snap, &config, &HistoryView::default()));
        let later = findings_json(&run(&snap, &config, &history));
        for pick in [all, every_other] {
            let (upper, changed) = recased(&snap, pick);
            assert!(changed >= 3, "only {changed} tenant ids changed");
            assert_eq!(upper, snap, "decoding normalises every tenant id");
            assert_eq!(
                findings_json(&run(&upper, &config, &HistoryView::default())),
                first
            );
            assert_eq!(findings_json(&run(&upper, &config, &history)), later);
        }
    }
}

/// The fleet cross-check on the customer side: the auditing partner's entry and role assignments,
/// whatever their case, are this partner's; another partner's are not.
#[test]
fn partner_view_matches_this_partner_in_any_case_and_not_another() {
    use gdap_audit::snapshot::{FleetRelationship, FleetView};
    let view = |partner: &str, roles: Vec<String>| FleetView {
        partner_tenant_id: partner.to_owned(),
        partner_name: None,
        relationships: vec![FleetRelationship {
            id: "rel-1".into(),
            display_name: None,
            roles,
        }],
    };
    let base = customer();
    let c = base.customer.as_ref().unwrap();
    let shown: Vec<String> = gdap_audit::rules::common::partner_roles(c, NORTHWIND)
        .into_iter()
        .collect();
    assert!(!shown.is_empty() && c.partner(NORTHWIND).unwrap().is_service_provider);

    let (mut upper, changed) = recased(&base, &|_| true);
    assert!(changed > 0);
    // Built in code from the fleet's TenantId (lower case); the customer's data came in upper case.
    upper.fleet = Some(view(NORTHWIND, shown.clone()));
    let ev = run(&upper, &Config::default(), &HistoryView::default());
    assert!(
        of(&ev, "partner-view-mismatch").is_empty(),
        "{:#?}",
        ev.findings
    );

    // The same roles granted by another partner: the customer shows it no entry and none of them.
    let mut other = upper.clone();
    other.fleet = Some(view(FABRIKAM_PARTNER, shown));
    let ev = run(&other, &Config::default(), &HistoryView::default());
    let f = one(&ev, "partner-view-mismatch", FABRIKAM_PARTNER);
    assert_eq!(f.partner_tenant_id.as_deref(), Some(FABRIKAM_PARTNER));
    assert_eq!(f.customer_tenant_id.as_deref(), Some(CONTOSO_CUSTOMER));
}

/// A tenant id that is not a GUID (never from Graph; a hand-edited snapshot) is kept as text, trimmed and
/// lower-cased: it still matches itself in any case, and never passes for a tenant GUID.
#[test]
fn non_guid_tenant_ids_are_kept_and_match_in_any_case() {
    let mut v: serde_json::Value = serde_json::from_str(&customer().to_json()).unwrap();
    let text = v
        .to_string()
        .replace(NORTHWIND, " Northwind.OnMicrosoft.COM ");
    v = serde_json::from_str(&text).unwrap();
    // The sign-in summary keys the partner differently again.
    let partners = v
        .pointer_mut("/customer/sign_ins/partners")
        .and_then(|p| p.as_object_mut())
        .unwrap();
    let ps = partners.remove(" Northwind.OnMicrosoft.COM ").unwrap();
    partners.insert("NORTHWIND.onmicrosoft.com".into(), ps);
    let snap = Snapshot::from_slice(v.to_string().as_bytes(), "odd.json").unwrap();
    let c = snap.customer.as_ref().unwrap();
    let odd = "northwind.onmicrosoft.com";
    assert!(c.partner(odd).is_some_and(|p| p.is_service_provider));
    assert!(c.sign_ins.partners.contains_key(odd));
    assert!(gdap_audit::model::TenantId::parse(odd).is_none());

    // Evaluated as Northwind was, under its kept text (fingerprints hash the subject: left out).
    let without_fingerprints = |ev: &Evaluation, from: &str, to: &str| -> Vec<String> {
        let mut out: Vec<String> = ev
            .findings
            .iter()
            .map(|f| {
                let mut x = serde_json::to_value(f).unwrap();
                x.as_object_mut().unwrap().remove("fingerprint");
                x.to_string().replace(from, to)
            })
            .collect();
        out.sort();
        out
    };
    let got = first_run(&snap);
    assert!(got.findings.iter().any(|f| f.subject.id == odd));
    assert_eq!(
        without_fingerprints(&got, "", ""),
        without_fingerprints(&first_run(&customer()), NORTHWIND, odd)
    );
}
