//! Periodic audits through the history store: what is new, what grew, and who went quiet beyond the
//! log retention. Runs are recorded exactly as `scan` records them (view → evaluate → record).

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use gdap_audit::config::Config;
use gdap_audit::evaluate::{Evaluation, evaluate};
use gdap_audit::history::HistoryStore;
use gdap_audit::model::gdap::UnifiedRole;
use gdap_audit::snapshot::{PartnerSignIns, Snapshot, Window};

const NORTHWIND: &str = "8777b240-c6f0-4469-9e98-a3205431b836";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";

fn t0() -> DateTime<Utc> {
    "2026-09-01T00:00:00Z".parse().unwrap()
}

fn load(name: &str) -> Snapshot {
    Snapshot::read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/snapshots/{name}.json")),
    )
    .unwrap()
}

/// Move a snapshot's clock: as-of and collection at `at`, log window of `since_days` before it.
fn at(mut s: Snapshot, at: DateTime<Utc>, since_days: i64) -> Snapshot {
    s.as_of = at;
    s.collected_at = at;
    s.window = Window {
        since: at - Duration::days(since_days),
        until: at,
    };
    s
}

/// One periodic audit, as `scan` does it.
fn audit(store: &HistoryStore, snap: &Snapshot) -> Evaluation {
    let view = store
        .view(&snap.tenant_id, &snap.perspectives, snap.as_of)
        .unwrap();
    let ev = evaluate(snap, &Config::default(), &view, snap.as_of);
    store
        .record_run(snap, &ev.findings, snap.collected_at)
        .unwrap();
    ev
}

fn subjects(ev: &Evaluation, rule: &str) -> Vec<String> {
    ev.findings
        .iter()
        .filter(|f| f.rule_id == rule)
        .map(|f| f.subject.id.clone())
        .collect()
}

#[test]
fn a_role_and_a_relationship_added_between_runs_are_reported_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path().join("h.sqlite3")).unwrap();

    let first = at(load("partner"), t0(), 30);
    let ev1 = audit(&store, &first);
    assert!(
        subjects(&ev1, "roles-added").is_empty(),
        "first run: no history, no roles-added"
    );

    let mut second = at(first.clone(), t0() + Duration::days(7), 30);
    let p = second.partner.as_mut().unwrap();
    let grown = p
        .relationships
        .iter_mut()
        .find(|r| r.relationship.id == "rel-fabrikam-support")
        .unwrap();
    grown
        .relationship
        .access_details
        .unified_roles
        .push(UnifiedRole {
            role_definition_id: USER_ADMIN.into(),
        });
    let mut added = p
        .relationships
        .iter()
        .find(|r| r.relationship.id == "rel-contoso-admin")
        .unwrap()
        .clone();
    added.relationship.id = "rel-added-between-runs".into();
    added.relationship.display_name = "Added between runs".into();
    // Created long ago (e.g. approved by the customer only now): only history can tell it is new.
    added.relationship.created_date_time = Some(t0() - Duration::days(200));
    p.relationships.push(added);

    let ev2 = audit(&store, &second);
    assert_eq!(
        subjects(&ev2, "roles-added"),
        vec!["rel-fabrikam-support".to_owned()]
    );
    let new = subjects(&ev2, "new-partner-access");
    assert_eq!(
        new,
        vec!["rel-added-between-runs".to_owned()],
        "only the relationship absent from the last run"
    );
    let f = ev2
        .findings
        .iter()
        .find(|f| f.rule_id == "roles-added")
        .unwrap();
    assert!(f.message.contains("User Administrator"), "{}", f.message);
    assert_eq!(f.first_seen, Some(second.as_of), "first seen in this run");

    // The next run sees the same state: nothing is new any more.
    let third = at(second.clone(), t0() + Duration::days(14), 30);
    let ev3 = audit(&store, &third);
    assert!(subjects(&ev3, "roles-added").is_empty());
    assert!(
        subjects(&ev3, "new-partner-access").is_empty(),
        "{:?}",
        subjects(&ev3, "new-partner-access")
    );
    // Findings that persist keep their first-seen date.
    let ga = ev3
        .findings
        .iter()
        .find(|f| f.rule_id == "global-admin-granted" && f.subject.id == "rel-contoso-admin")
        .unwrap();
    assert_eq!(ga.first_seen, Some(t0()));
}

fn set_last_success(s: &mut Snapshot, partner: &str, when: Option<DateTime<Utc>>) {
    let c = s.customer.as_mut().unwrap();
    c.sign_ins.partners.clear();
    if let Some(when) = when {
        c.sign_ins.partners.insert(
            partner.to_owned(),
            PartnerSignIns {
                total: 1,
                successes: 1,
                last_success: Some(when),
                first_success: Some(when),
                ..Default::default()
            },
        );
    }
}

#[test]
fn a_first_run_never_reports_staleness_even_with_a_long_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path().join("h.sqlite3")).unwrap();
    let mut run = at(load("customer"), t0(), 120);
    set_last_success(&mut run, NORTHWIND, Some(t0() - Duration::days(2)));
    let ev = audit(&store, &run);
    assert!(subjects(&ev, "stale-partner-access").is_empty());
    assert!(
        ev.not_evaluated
            .iter()
            .any(|n| n.rule_id == "stale-partner-access"),
        "{:?}",
        ev.not_evaluated
    );
}

#[test]
fn staleness_needs_evidence_beyond_log_retention_and_then_names_only_quiet_partners() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path().join("h.sqlite3")).unwrap();
    let base = load("customer");
    let service_providers: BTreeSet<String> = base
        .customer
        .as_ref()
        .unwrap()
        .service_providers()
        .map(|p| p.tenant_id.clone())
        .collect();
    assert!(service_providers.len() >= 3);

    // Run 1: the usual 30-day window.
    let mut run1 = at(base.clone(), t0(), 30);
    set_last_success(&mut run1, NORTHWIND, Some(t0() - Duration::days(2)));
    assert!(subjects(&audit(&store, &run1), "stale-partner-access").is_empty());

    // Run 2, 20 days later: Northwind signed in on day 15. Evidence covers 50 days: not yet 90.
    let mut run2 = at(base.clone(), t0() + Duration::days(20), 30);
    set_last_success(&mut run2, NORTHWIND, Some(t0() + Duration::days(15)));
    let ev2 = audit(&store, &run2);
    assert!(subjects(&ev2, "stale-partner-access").is_empty());
    assert!(
        ev2.not_evaluated
            .iter()
            .any(|n| n.rule_id == "stale-partner-access")
    );

    // Run 3, 100 days after the first, no partner sign-ins at all; its window joins the last one, so
    // the evidence now covers 130 days.
    let mut run3 = at(base.clone(), t0() + Duration::days(100), 80);
    set_last_success(&mut run3, NORTHWIND, None);
    let ev3 = audit(&store, &run3);
    let stale: BTreeSet<String> = subjects(&ev3, "stale-partner-access").into_iter().collect();
    let expected: BTreeSet<String> = service_providers
        .iter()
        .filter(|t| *t != NORTHWIND)
        .cloned()
        .collect();
    assert_eq!(
        stale, expected,
        "every service provider but Northwind (last seen 85 days ago, from history)"
    );
}

#[test]
fn a_gap_in_the_runs_means_staleness_is_not_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path().join("h.sqlite3")).unwrap();
    let base = load("customer");
    let mut run1 = at(base.clone(), t0(), 30);
    set_last_success(&mut run1, NORTHWIND, Some(t0() - Duration::days(2)));
    audit(&store, &run1);
    // 100 days later with only the usual 30-day window: days 0..70 were never read, so a partner may
    // have signed in then. No "stale" without evidence.
    let mut run2 = at(base, t0() + Duration::days(100), 30);
    set_last_success(&mut run2, NORTHWIND, None);
    let ev = audit(&store, &run2);
    assert!(subjects(&ev, "stale-partner-access").is_empty());
    assert!(
        ev.not_evaluated
            .iter()
            .any(|n| n.rule_id == "stale-partner-access")
    );
}

#[test]
fn corrupt_or_newer_history_exits_two_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let snap_path = dir.path().join("snap.json");
    std::fs::write(&snap_path, at(load("customer"), t0(), 30).to_json()).unwrap();

    let corrupt = dir.path().join("corrupt.sqlite3");
    std::fs::write(
        &corrupt,
        b"this is not a database, just bytes that look like nothing at all",
    )
    .unwrap();
    let newer = dir.path().join("newer.sqlite3");
    {
        let c = rusqlite::Connection::open(&newer).unwrap();
        c.execute_batch("CREATE TABLE x(a); PRAGMA user_version = 99;")
            .unwrap();
    }
    for db in [&corrupt, &newer] {
        let before = std::fs::read(db).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gdap-audit"))
            .args(["evaluate", "--history"])
            .arg(db)
            .arg(&snap_path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&db.display().to_string()),
            "the error names the file: {stderr}"
        );
        assert!(out.stdout.is_empty(), "nothing audited");
        assert_eq!(
            std::fs::read(db).unwrap(),
            before,
            "{} was modified",
            db.display()
        );
    }
}
