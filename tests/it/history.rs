//! The history store (SQLite), the inventory diff, and the `history` / `diff` commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use gdap_audit::diff::{self, Inventory};
use gdap_audit::history::{HistoryError, HistoryStore, SCHEMA_VERSION};
use gdap_audit::model::gdap::{
    AccessDetails, CustomerParticipant, DelegatedAdminRelationship, RelationshipStatus, UnifiedRole,
};
use gdap_audit::report::diff as render;
use gdap_audit::rules::{Finding, Severity, Subject, SubjectKind};
use gdap_audit::snapshot::{
    Coverage, CoverageStatus, CustomerData, ForeignRoleAssignment, PartnerData, PartnerRecord,
    PartnerSignIns, Perspective, RelationshipRecord, SNAPSHOT_VERSION, SignInSummary, Snapshot,
    Source, Window,
};

const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const MSP: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const CUSTOMER: &str = "cccccccc-0000-0000-0000-000000000001";
const PARTNER_A: &str = "0a0a0a0a-0000-0000-0000-00000000000a";
const PARTNER_B: &str = "0b0b0b0b-0000-0000-0000-00000000000b";

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Duration::days(n)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn collected(sources: &[Source]) -> Vec<Coverage> {
    sources
        .iter()
        .map(|s| Coverage {
            source: *s,
            status: CoverageStatus::Collected,
            detail: None,
            graph_code: None,
            request_id: None,
            permission: None,
            items: None,
        })
        .collect()
}

fn set_status(snap: &mut Snapshot, source: Source, status: CoverageStatus) {
    for c in &mut snap.coverage {
        if c.source == source {
            c.status = status;
        }
    }
}

fn base(
    tenant: &str,
    as_of: DateTime<Utc>,
    window_days: i64,
    perspectives: Vec<Perspective>,
    coverage: Vec<Coverage>,
) -> Snapshot {
    Snapshot {
        snapshot_version: SNAPSHOT_VERSION,
        tool_version: "0.1.0-test".into(),
        tenant_id: tenant.into(),
        tenant_name: Some(format!("Tenant {}", &tenant[..4])),
        collected_at: as_of,
        as_of,
        window: Window {
            since: as_of - Duration::days(window_days),
            until: as_of,
        },
        perspectives,
        partner: None,
        customer: None,
        fleet: None,
        coverage,
    }
}

fn relationship(id: &str, status: &str, roles: &[&str]) -> RelationshipRecord {
    RelationshipRecord {
        relationship: DelegatedAdminRelationship {
            id: id.into(),
            display_name: format!("{id} display"),
            customer: Some(CustomerParticipant {
                tenant_id: CUSTOMER.into(),
                display_name: Some("Contoso".into()),
            }),
            access_details: AccessDetails {
                unified_roles: roles
                    .iter()
                    .map(|r| UnifiedRole {
                        role_definition_id: r.to_uppercase(),
                    })
                    .collect(),
            },
            status: RelationshipStatus::from(status.to_owned()),
            end_date_time: Some(day(365)),
            ..DelegatedAdminRelationship::default()
        },
        ..RelationshipRecord::default()
    }
}

/// The MSP's view: its relationships.
fn partner_snapshot(as_of: DateTime<Utc>, relationships: Vec<RelationshipRecord>) -> Snapshot {
    let mut s = base(
        MSP,
        as_of,
        30,
        vec![Perspective::Partner],
        collected(&[Source::GdapRelationships, Source::GdapAccessAssignments]),
    );
    s.partner = Some(PartnerData {
        relationships,
        ..PartnerData::default()
    });
    s
}

fn partner_record(tenant: &str, sp: bool, allowed: Option<&[&str]>) -> PartnerRecord {
    PartnerRecord {
        tenant_id: tenant.to_uppercase(),
        display_name: Some(format!("Partner {}", &tenant[..2])),
        is_service_provider: sp,
        allowed_roles: allowed.map(|a| a.iter().map(|r| r.to_string()).collect()),
        ..PartnerRecord::default()
    }
}

/// The customer's view: partners, foreign role assignments and partner sign-ins.
fn customer_snapshot(
    tenant: &str,
    as_of: DateTime<Utc>,
    window_days: i64,
    partners: Vec<PartnerRecord>,
    last_success: &[(&str, DateTime<Utc>)],
) -> Snapshot {
    let mut s = base(
        tenant,
        as_of,
        window_days,
        vec![Perspective::Customer],
        collected(&[
            Source::XtapPartners,
            Source::XtapServiceProviderConstraints,
            Source::RoleAssignments,
            Source::SignIns,
            Source::DirectoryAudits,
        ]),
    );
    let mut sign_ins = SignInSummary {
        scanned: 100,
        watermark: Some(as_of - Duration::minutes(5)),
        ..SignInSummary::default()
    };
    for (partner, at) in last_success {
        sign_ins.partners.insert(
            partner.to_string(),
            PartnerSignIns {
                total: 1,
                successes: 1,
                last_success: Some(*at),
                ..PartnerSignIns::default()
            },
        );
    }
    s.customer = Some(CustomerData {
        partners,
        foreign_role_assignments: vec![ForeignRoleAssignment {
            assignment_id: "as1".into(),
            role_id: USER_ADMIN.into(),
            principal_id: "p1".into(),
            principal_type: "user".into(),
            home_tenant_id: PARTNER_A.to_uppercase(),
            ..ForeignRoleAssignment::default()
        }],
        sign_ins,
        ..CustomerData::default()
    });
    s
}

fn finding(rule: &str, subject: &str, tenant: &str) -> Finding {
    Finding {
        rule_id: rule.into(),
        severity: Severity::High,
        title: format!("{rule} title").into(),
        message: "message".into(),
        subject: Subject {
            kind: SubjectKind::Relationship,
            id: subject.into(),
            display_name: Some(format!("{subject} name")),
        },
        partner_tenant_id: None,
        customer_tenant_id: None,
        evidence: Default::default(),
        remediation: "fix it".into(),
        references: vec![],
        fingerprint: format!("fp-{rule}-{tenant}-{subject}"),
        first_seen: None,
    }
}

fn store_at(dir: &Path) -> (PathBuf, HistoryStore) {
    let path = dir.join("history.sqlite3");
    let store = HistoryStore::open(&path).expect("history opens");
    (path, store)
}

fn quick_check(path: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let ok: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

// ---------------------------------------------------------------------------------------------------------
// record and view

#[test]
fn view_returns_the_previous_run_and_first_seen() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());

    let run1 = partner_snapshot(day(0), vec![relationship("r1", "active", &[HELPDESK])]);
    let run2 = partner_snapshot(
        day(7),
        vec![
            relationship("r1", "active", &[HELPDESK, GA]),
            relationship("r2", "approvalPending", &[USER_ADMIN]),
        ],
    );
    let id1 = store
        .record_run(&run1, &[finding("a", "r1", MSP)], day(0))
        .unwrap();
    let id2 = store
        .record_run(
            &run2,
            &[finding("a", "r1", MSP), finding("b", "r2", MSP)],
            day(7),
        )
        .unwrap();
    assert!(id2 > id1);

    let first = store.view(MSP, &[Perspective::Partner], day(0)).unwrap();
    assert!(first.is_first_run(), "a run never compares with itself");
    assert!(
        first.first_seen.contains_key(&format!("fp-a-{MSP}-r1")),
        "first_seen at or before now is known"
    );

    let mid = store.view(MSP, &[Perspective::Partner], day(3)).unwrap();
    let prev = mid.previous.expect("run 1 precedes day 3");
    assert_eq!(prev.at, day(0));
    assert!(prev.relationships_collected);
    assert_eq!(prev.relationships["r1"].roles, vec![HELPDESK.to_string()]);
    assert!(
        !mid.first_seen.contains_key(&format!("fp-b-{MSP}-r2")),
        "not seen yet on day 3"
    );

    let view = store
        .view(&MSP.to_uppercase(), &[Perspective::Partner], day(8))
        .unwrap();
    let prev = view.previous.expect("a previous run");
    assert_eq!(prev.at, day(7));
    assert_eq!(prev.relationships.len(), 2);
    let r1 = &prev.relationships["r1"];
    assert_eq!(
        r1.roles,
        vec![GA.to_string(), HELPDESK.to_string()],
        "lower-case, sorted"
    );
    assert_eq!(r1.status, "active");
    assert_eq!(r1.end, Some(day(365)));
    assert_eq!(prev.relationships["r2"].status, "approvalPending");
    assert!(!prev.partners_collected);
    assert_eq!(
        view.first_seen[&format!("fp-a-{MSP}-r1")],
        day(0),
        "first_seen kept across runs"
    );
    assert_eq!(view.first_seen[&format!("fp-b-{MSP}-r2")], day(7));
    assert_eq!(
        view.evidence_since, None,
        "partner-only runs read no sign-ins"
    );

    // Re-evaluating run 2's snapshot at its own as_of compares with run 1, not with itself.
    assert_eq!(
        store
            .view(MSP, &[Perspective::Partner], day(7))
            .unwrap()
            .previous
            .unwrap()
            .at,
        day(0)
    );
    // A customer-perspective audit of the same tenant has no partner-perspective previous run.
    assert!(
        store
            .view(MSP, &[Perspective::Customer], day(8))
            .unwrap()
            .previous
            .is_none()
    );
}

#[test]
fn a_source_that_failed_is_not_an_empty_inventory() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());
    let mut snap = partner_snapshot(day(0), vec![]);
    set_status(&mut snap, Source::GdapRelationships, CoverageStatus::Denied);
    store.record_run(&snap, &[], day(0)).unwrap();
    let prev = store
        .view(MSP, &[Perspective::Partner], day(1))
        .unwrap()
        .previous
        .unwrap();
    assert!(!prev.relationships_collected);
    assert!(prev.relationships.is_empty());
}

#[test]
fn partners_activity_and_roles_are_remembered() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());

    let partners = || {
        vec![
            partner_record(PARTNER_A, true, Some(&[HELPDESK])),
            partner_record(PARTNER_B, true, None),
        ]
    };
    store
        .record_run(
            &customer_snapshot(
                CUSTOMER,
                day(30),
                30,
                partners(),
                &[(PARTNER_A, day(20)), (PARTNER_B, day(25))],
            ),
            &[],
            day(30),
        )
        .unwrap();
    // No partner A sign-in in this window: the older one is kept.
    store
        .record_run(
            &customer_snapshot(CUSTOMER, day(60), 30, partners(), &[(PARTNER_B, day(55))]),
            &[],
            day(60),
        )
        .unwrap();
    // An older snapshot evaluated later (earlier activity) never lowers the maximum.
    store
        .record_run(
            &customer_snapshot(CUSTOMER, day(10), 30, partners(), &[(PARTNER_A, day(5))]),
            &[],
            day(61),
        )
        .unwrap();

    let view = store
        .view(CUSTOMER, &[Perspective::Customer], day(61))
        .unwrap();
    assert_eq!(view.last_partner_activity[PARTNER_A], day(20));
    assert_eq!(view.last_partner_activity[PARTNER_B], day(55));

    let prev = view.previous.expect("previous run");
    assert_eq!(
        prev.at,
        day(60),
        "the previous run is the latest as_of, whatever the recording order"
    );
    assert!(prev.partners_collected);
    let a = &prev.partners[PARTNER_A];
    assert!(a.is_service_provider);
    assert_eq!(
        a.roles,
        vec![HELPDESK.to_string(), USER_ADMIN.to_string()],
        "allowed and assigned roles, lower-case"
    );
    assert!(a.roles_complete);
    let b = &prev.partners[PARTNER_B];
    assert!(!b.roles_complete, "partner B's allowed roles were not read");

    // As of day 40, only the day-30 and day-10 runs exist: partner B's day-55 sign-in is in the future.
    let earlier = store
        .view(CUSTOMER, &[Perspective::Customer], day(40))
        .unwrap();
    assert_eq!(earlier.previous.unwrap().at, day(30));
    assert_eq!(
        earlier.last_partner_activity.get(PARTNER_B),
        Some(&day(25)),
        "the newest sign-in seen before day 40"
    );
    assert_eq!(earlier.last_partner_activity.get(PARTNER_A), Some(&day(20)));
}

#[test]
fn evidence_since_follows_the_unbroken_chain() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());
    let rec = |as_of: i64, window: i64, status: CoverageStatus| {
        let mut s = customer_snapshot(CUSTOMER, day(as_of), window, vec![], &[]);
        set_status(&mut s, Source::SignIns, status);
        store.record_run(&s, &[], day(as_of)).unwrap();
    };
    rec(30, 30, CoverageStatus::Collected); // [0, 30]
    rec(50, 30, CoverageStatus::Collected); // [20, 50]
    let v = store
        .view(CUSTOMER, &[Perspective::Customer], day(60))
        .unwrap();
    assert_eq!(
        (v.evidence_since, v.evidence_until),
        (Some(day(0)), Some(day(50)))
    );

    rec(100, 30, CoverageStatus::Collected); // [70, 100]: a gap after day 50
    let v = store
        .view(CUSTOMER, &[Perspective::Customer], day(101))
        .unwrap();
    assert_eq!(
        (v.evidence_since, v.evidence_until),
        (Some(day(70)), Some(day(100)))
    );
    // Earlier clocks still see the earlier chain.
    assert_eq!(
        store
            .view(CUSTOMER, &[Perspective::Customer], day(60))
            .unwrap()
            .evidence_since,
        Some(day(0))
    );

    rec(110, 30, CoverageStatus::Unlicensed); // sign-ins not read: the chain breaks
    let v = store
        .view(CUSTOMER, &[Perspective::Customer], day(111))
        .unwrap();
    assert_eq!((v.evidence_since, v.evidence_until), (None, None));

    rec(120, 30, CoverageStatus::Collected); // [90, 120], but the day-110 run broke the chain
    let v = store
        .view(CUSTOMER, &[Perspective::Customer], day(121))
        .unwrap();
    assert_eq!(v.evidence_since, Some(day(90)));

    // A partner-perspective run of the same tenant reads no sign-ins and does not break the chain.
    let mut p = partner_snapshot(day(125), vec![]);
    p.tenant_id = CUSTOMER.into();
    store.record_run(&p, &[], day(125)).unwrap();
    assert_eq!(
        store
            .view(CUSTOMER, &[Perspective::Customer], day(126))
            .unwrap()
            .evidence_since,
        Some(day(90))
    );
}

#[test]
fn watermarks_come_from_the_last_run_that_collected_them() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());
    assert_eq!(store.watermarks(CUSTOMER).unwrap(), Default::default());
    store
        .record_run(
            &customer_snapshot(CUSTOMER, day(10), 7, vec![], &[]),
            &[],
            day(10),
        )
        .unwrap();
    let mut failed = customer_snapshot(CUSTOMER, day(20), 7, vec![], &[]);
    set_status(&mut failed, Source::SignIns, CoverageStatus::Failed);
    store.record_run(&failed, &[], day(20)).unwrap();
    let w = store.watermarks(&CUSTOMER.to_uppercase()).unwrap();
    assert_eq!(
        w.sign_ins,
        Some(day(10) - Duration::minutes(5)),
        "the failed day-20 read does not move it"
    );
    assert_eq!(w.audits, None, "the fixture has no audit watermark");
}

#[test]
fn two_tenants_never_mix() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());
    let other = "dddddddd-0000-0000-0000-000000000002";
    store
        .record_run(
            &customer_snapshot(
                CUSTOMER,
                day(10),
                30,
                vec![partner_record(PARTNER_A, true, Some(&[]))],
                &[(PARTNER_A, day(9))],
            ),
            &[finding("x", "s", CUSTOMER)],
            day(10),
        )
        .unwrap();
    store
        .record_run(
            &customer_snapshot(
                other,
                day(20),
                30,
                vec![partner_record(PARTNER_B, true, Some(&[GA]))],
                &[(PARTNER_B, day(19))],
            ),
            &[finding("y", "s", other)],
            day(20),
        )
        .unwrap();

    let v = store
        .view(CUSTOMER, &[Perspective::Customer], day(30))
        .unwrap();
    assert_eq!(v.previous.as_ref().unwrap().at, day(10));
    assert!(
        v.previous
            .as_ref()
            .unwrap()
            .partners
            .contains_key(PARTNER_A)
    );
    assert!(
        !v.previous
            .as_ref()
            .unwrap()
            .partners
            .contains_key(PARTNER_B)
    );
    assert_eq!(
        v.first_seen.keys().collect::<Vec<_>>(),
        vec![&format!("fp-x-{CUSTOMER}-s")]
    );
    assert_eq!(
        v.last_partner_activity.keys().collect::<Vec<_>>(),
        vec![PARTNER_A]
    );
    assert_eq!(v.evidence_since, Some(day(10) - Duration::days(30)));

    assert_eq!(store.list(Some(other)).unwrap().len(), 1);
    assert_eq!(store.list(None).unwrap().len(), 2);
    let tenants = store.tenants().unwrap();
    assert_eq!(
        tenants
            .iter()
            .map(|t| t.tenant_id.as_str())
            .collect::<Vec<_>>(),
        vec![CUSTOMER, other]
    );
}

#[test]
fn inventory_round_trips_through_the_store() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());
    let p = partner_snapshot(
        day(1),
        vec![
            relationship("r1", "active", &[GA, HELPDESK]),
            relationship("r2", "expired", &[]),
        ],
    );
    let c = customer_snapshot(
        CUSTOMER,
        day(2),
        30,
        vec![
            partner_record(PARTNER_A, true, Some(&[GA])),
            partner_record(PARTNER_B, false, None),
        ],
        &[],
    );
    let pid = store.record_run(&p, &[], day(1)).unwrap();
    let cid = store.record_run(&c, &[], day(2)).unwrap();
    assert_eq!(store.inventory(pid).unwrap(), Inventory::from_snapshot(&p));
    assert_eq!(store.inventory(cid).unwrap(), Inventory::from_snapshot(&c));
    assert!(matches!(
        store.inventory(999),
        Err(HistoryError::NoSuchRun { run: 999, .. })
    ));

    let detail = store.show(cid).unwrap();
    assert_eq!(detail.summary.partners, 2);
    assert_eq!(detail.summary.perspectives, vec![Perspective::Customer]);
    assert_eq!(detail.coverage, c.coverage);
    assert!(detail.sign_ins_collected);
}

#[test]
fn show_lists_the_run_findings_with_first_seen() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());
    store
        .record_run(
            &partner_snapshot(day(1), vec![]),
            &[finding("a", "r1", MSP)],
            day(1),
        )
        .unwrap();
    let id = store
        .record_run(
            &partner_snapshot(day(2), vec![]),
            &[finding("a", "r1", MSP), finding("b", "r1", MSP)],
            day(2),
        )
        .unwrap();
    let d = store.show(id).unwrap();
    assert_eq!(d.findings.len(), 2);
    assert_eq!(d.findings[0].rule_id, "a");
    assert_eq!(d.findings[0].first_seen, Some(day(1)));
    assert_eq!(d.findings[1].first_seen, Some(day(2)));
    assert_eq!(d.summary.findings, 2);
}

// ---------------------------------------------------------------------------------------------------------
// prune

#[test]
fn prune_keeps_the_newest_runs_and_the_long_memory() {
    let dir = tmp();
    let (_, store) = store_at(dir.path());
    for i in 0..5 {
        let as_of = day(30 + 20 * i);
        let partner_a = if i == 0 {
            vec![(PARTNER_A, day(29))]
        } else {
            vec![]
        };
        store
            .record_run(
                &customer_snapshot(
                    CUSTOMER,
                    as_of,
                    30,
                    vec![partner_record(PARTNER_A, true, Some(&[]))],
                    &partner_a,
                ),
                &[finding("old", "s", CUSTOMER)],
                as_of,
            )
            .unwrap();
    }
    // A second tenant with one run is untouched.
    store
        .record_run(&partner_snapshot(day(5), vec![]), &[], day(5))
        .unwrap();
    let before = store
        .view(CUSTOMER, &[Perspective::Customer], day(200))
        .unwrap();
    assert_eq!(before.evidence_since, Some(day(0)));

    assert_eq!(store.prune(2).unwrap(), 3);
    let runs = store.list(Some(CUSTOMER)).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.as_of).collect::<Vec<_>>(),
        vec![day(110), day(90)]
    );
    assert_eq!(store.list(Some(MSP)).unwrap().len(), 1);

    let after = store
        .view(CUSTOMER, &[Perspective::Customer], day(200))
        .unwrap();
    assert_eq!(
        after.first_seen[&format!("fp-old-{CUSTOMER}-s")],
        day(30),
        "first_seen survives the prune"
    );
    assert_eq!(
        after.last_partner_activity[PARTNER_A],
        day(29),
        "partner activity survives the prune"
    );
    assert_eq!(
        after.evidence_since,
        Some(day(0)),
        "the evidence chain survives the prune"
    );
    assert_eq!(after.previous.unwrap().at, day(110));
    assert_eq!(store.prune(2).unwrap(), 0, "idempotent");
}

// ---------------------------------------------------------------------------------------------------------
// refusing files

fn pseudo_random(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        })
        .collect()
}

#[test]
fn random_bytes_are_corrupt_and_left_untouched() {
    let dir = tmp();
    let path = dir.path().join("history.sqlite3");
    let bytes = pseudo_random(8192, 7);
    std::fs::write(&path, &bytes).unwrap();
    let err = HistoryStore::open(&path).unwrap_err();
    assert!(matches!(err, HistoryError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("left untouched"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_damaged_database_is_corrupt_and_left_untouched() {
    let dir = tmp();
    let path = dir.path().join("history.sqlite3");
    {
        let store = HistoryStore::open(&path).unwrap();
        for i in 0..20 {
            let rels = (0..50)
                .map(|j| relationship(&format!("r{i}-{j}"), "active", &[GA]))
                .collect();
            store
                .record_run(&partner_snapshot(day(i), rels), &[], day(i))
                .unwrap();
        }
    } // closed: the WAL is checkpointed into the file
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 4096 * 4);
    let garbage = pseudo_random(4096, 11);
    bytes[4096..8192].copy_from_slice(&garbage); // page 2
    std::fs::write(&path, &bytes).unwrap();
    let err = HistoryStore::open(&path).unwrap_err();
    assert!(matches!(err, HistoryError::Corrupt { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tmp();
    let path = dir.path().join("history.sqlite3");
    {
        let store = HistoryStore::open(&path).unwrap();
        store
            .record_run(&partner_snapshot(day(1), vec![]), &[], day(1))
            .unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let err = HistoryStore::open(&path).unwrap_err();
    match &err {
        HistoryError::TooNew { found, known, .. } => {
            assert_eq!((*found, *known), (99, SCHEMA_VERSION))
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("not modified"), "{err}");
    assert!(matches!(
        HistoryStore::open_existing(&path),
        Err(HistoryError::TooNew { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tmp();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me');").unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    assert!(matches!(
        HistoryStore::open(&path),
        Err(HistoryError::NotHistory { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn open_existing_does_not_create() {
    let dir = tmp();
    let path = dir.path().join("nope.sqlite3");
    assert!(matches!(
        HistoryStore::open_existing(&path),
        Err(HistoryError::Missing { .. })
    ));
    assert!(!path.exists());
}

#[test]
fn open_creates_private_directories_and_file() {
    let dir = tmp();
    let path = dir.path().join("a").join("b").join("history.sqlite3");
    let store = HistoryStore::open(&path).unwrap();
    store
        .record_run(&partner_snapshot(day(1), vec![]), &[], day(1))
        .unwrap();
    drop(store);
    // Reopening an existing, current database works and keeps the data.
    assert_eq!(
        HistoryStore::open(&path).unwrap().list(None).unwrap().len(),
        1
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(path.parent().unwrap().parent().unwrap()), 0o700);
    }
    assert!(HistoryStore::default_path().is_none_or(|p| p.ends_with("gdap-audit/history.sqlite3")));
}

// ---------------------------------------------------------------------------------------------------------
// concurrency and crashes

#[test]
fn concurrent_writers_both_succeed_and_the_database_stays_consistent() {
    let dir = tmp();
    let path = dir.path().join("history.sqlite3");
    HistoryStore::open(&path).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = HistoryStore::open(&path).expect("opens while the other thread writes");
                for i in 0..15 {
                    let rels = (0..20)
                        .map(|j| relationship(&format!("t{t}-r{i}-{j}"), "active", &[HELPDESK]))
                        .collect();
                    store
                        .record_run(
                            &partner_snapshot(day(i), rels),
                            &[finding("f", &format!("t{t}"), MSP)],
                            day(i),
                        )
                        .expect("recorded");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = HistoryStore::open(&path).unwrap();
    let runs = store.list(None).unwrap();
    assert_eq!(runs.len(), 30);
    assert!(runs.iter().all(|r| r.relationships == 20));
    quick_check(&path);
}

#[test]
fn a_writer_that_waits_too_long_fails_clearly() {
    let dir = tmp();
    let (path, store) = store_at(dir.path());
    store
        .set_busy_timeout(std::time::Duration::from_millis(200))
        .unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store
        .record_run(&partner_snapshot(day(1), vec![]), &[], day(1))
        .unwrap_err();
    assert!(matches!(err, HistoryError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("in use by another gdap-audit run"),
        "{err}"
    );
    // Readers are not blocked by the writer (WAL).
    assert!(store.list(None).unwrap().is_empty());
    other.execute_batch("ROLLBACK").unwrap();
    store
        .record_run(&partner_snapshot(day(1), vec![]), &[], day(1))
        .unwrap();
    assert_eq!(store.list(None).unwrap().len(), 1);
}

const CRASH_ENV: &str = "GDAP_AUDIT_TEST_CRASH_DB";

/// Run by `a_run_killed_mid_transaction_leaves_the_previous_state`, in a child process: records a big run
/// and aborts the process inside the transaction, before the commit.
#[test]
#[ignore = "helper: run in a child process by a_run_killed_mid_transaction_leaves_the_previous_state"]
fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let store = HistoryStore::open(PathBuf::from(path)).unwrap();
    // Big enough that SQLite spills uncommitted pages into the WAL before the commit.
    let rels = (0..20_000)
        .map(|j| relationship(&format!("crash-{j}"), "active", &[GA, HELPDESK]))
        .collect();
    let snap = partner_snapshot(day(10), rels);
    store
        .record_run_with(&snap, &[finding("crash", "r", MSP)], day(10), &|| {
            use std::io::Write;
            println!("IN-TRANSACTION");
            std::io::stdout().flush().unwrap();
            std::process::abort();
        })
        .unwrap();
    unreachable!("the process aborted before the commit");
}

#[test]
fn a_run_killed_mid_transaction_leaves_the_previous_state() {
    let dir = tmp();
    let (path, store) = store_at(dir.path());
    let first = partner_snapshot(day(1), vec![relationship("r1", "active", &[HELPDESK])]);
    store
        .record_run(&first, &[finding("a", "r1", MSP)], day(1))
        .unwrap();

    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "history::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the child must die: {stdout}");
    assert!(
        stdout.contains("IN-TRANSACTION"),
        "the child reached the transaction: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The store opened before the crash, and a fresh one, both see exactly the first run.
    for store in [store, HistoryStore::open(&path).unwrap()] {
        let runs = store.list(None).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(
            store.inventory(runs[0].id).unwrap(),
            Inventory::from_snapshot(&first)
        );
        let view = store.view(MSP, &[Perspective::Partner], day(20)).unwrap();
        assert_eq!(view.previous.unwrap().at, day(1));
        assert!(!view.first_seen.contains_key(&format!("fp-crash-{MSP}-r")));
    }
    quick_check(&path);
}

// ---------------------------------------------------------------------------------------------------------
// diff

fn diffed() -> diff::Diff {
    let old = partner_snapshot(
        day(1),
        vec![
            relationship("r1", "active", &[HELPDESK]),
            relationship("r2", "active", &[]),
            relationship("r3", "active", &[GA]),
        ],
    );
    let new = partner_snapshot(
        day(8),
        vec![
            relationship("r1", "active", &[HELPDESK, GA]),
            relationship("r3", "expired", &[GA]),
            relationship("r4", "approvalPending", &[USER_ADMIN]),
        ],
    );
    diff::diff(
        &Inventory::from_snapshot(&old),
        &Inventory::from_snapshot(&new),
    )
}

#[test]
fn diff_reports_added_removed_and_changed_relationships() {
    let d = diffed();
    assert_eq!(
        d.relationships_added
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        vec!["r4"]
    );
    assert_eq!(
        d.relationships_removed
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        vec!["r2"]
    );
    assert_eq!(d.relationships_changed.len(), 2);
    let r1 = &d.relationships_changed[0];
    assert_eq!(r1.id, "r1");
    assert_eq!(r1.roles_added.len(), 1);
    assert_eq!(r1.roles_added[0].id, GA);
    assert_eq!(r1.roles_added[0].name, "Global Administrator");
    assert!(r1.roles_removed.is_empty() && r1.status.is_none());
    let r3 = &d.relationships_changed[1];
    assert_eq!(
        r3.status.as_ref().map(|s| (s.from.as_str(), s.to.as_str())),
        Some(("active", "expired"))
    );
    assert!(d.partners_added.is_empty() && d.notes.is_empty());
}

#[test]
fn diff_reports_partner_changes() {
    let old = customer_snapshot(
        CUSTOMER,
        day(1),
        30,
        vec![partner_record(PARTNER_A, true, Some(&[HELPDESK]))],
        &[],
    );
    let new = customer_snapshot(
        CUSTOMER,
        day(8),
        30,
        vec![
            partner_record(PARTNER_A, true, Some(&[HELPDESK, GA])),
            partner_record(PARTNER_B, true, Some(&[])),
        ],
        &[],
    );
    let d = diff::diff(
        &Inventory::from_snapshot(&old),
        &Inventory::from_snapshot(&new),
    );
    assert_eq!(
        d.partners_added
            .iter()
            .map(|p| p.tenant_id.as_str())
            .collect::<Vec<_>>(),
        vec![PARTNER_B]
    );
    assert_eq!(d.partners_changed.len(), 1);
    assert_eq!(d.partners_changed[0].allowed_roles_added[0].id, GA);
    assert!(d.relationships_added.is_empty());
}

#[test]
fn diff_renderers() {
    let d = diffed();
    let table = render::render_table(&d, None);
    assert!(table.contains("Global Administrator"), "{table}");
    assert!(table.contains("status active -> expired"), "{table}");
    assert!(
        table.contains(
            "1 relationship(s) added, 1 relationship(s) removed, 2 relationship(s) changed."
        ),
        "{table}"
    );

    let json: serde_json::Value = serde_json::from_str(&render::render_json(&d)).unwrap();
    assert_eq!(json["diff_version"], "1");
    assert_eq!(json["relationships_added"][0]["id"], "r4");
    assert_eq!(json["relationships_removed"][0]["id"], "r2");
    assert_eq!(
        json["relationships_changed"][0]["roles_added"][0]["name"],
        "Global Administrator"
    );
    assert_eq!(json["relationships_changed"][1]["status"]["from"], "active");
    assert_eq!(json["relationships_changed"][1]["status"]["to"], "expired");
    for key in [
        "old",
        "new",
        "partners_added",
        "partners_removed",
        "partners_changed",
        "notes",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }

    let md = render::render_markdown(&d);
    assert!(md.starts_with("## GDAP access changes"), "{md}");
    assert!(
        md.contains("| added | relationship | r4 display (r4), customer Contoso |"),
        "{md}"
    );

    let empty = diff::diff(&Inventory::default(), &Inventory::default());
    assert!(render::render_table(&empty, None).contains("No changes."));
}

#[test]
fn diff_renderers_neutralise_hostile_names() {
    let mut snap = partner_snapshot(day(1), vec![relationship("r1", "active", &[])]);
    snap.partner.as_mut().unwrap().relationships[0]
        .relationship
        .display_name = "evil\u{1b}]0;pwned\u{7}\n| x |\u{202e}".into();
    let d = diff::diff(
        &Inventory::from_snapshot(&partner_snapshot(day(0), vec![])),
        &Inventory::from_snapshot(&snap),
    );
    for text in [
        render::render_table(&d, Some(100)),
        render::render_markdown(&d),
    ] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
    }
    assert!(render::render_markdown(&d).contains("\\| x \\|"));
}

// ---------------------------------------------------------------------------------------------------------
// the commands

fn gdap_audit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gdap-audit"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn cli_diff_of_two_snapshot_files() {
    let dir = tmp();
    let old = dir.path().join("old.json");
    let new = dir.path().join("new.json");
    std::fs::write(
        &old,
        partner_snapshot(day(1), vec![relationship("r1", "active", &[HELPDESK])]).to_json(),
    )
    .unwrap();
    std::fs::write(
        &new,
        partner_snapshot(day(2), vec![relationship("r1", "active", &[HELPDESK, GA])]).to_json(),
    )
    .unwrap();
    let out = gdap_audit(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["relationships_changed"][0]["roles_added"][0]["id"], GA);

    let missing = dir.path().join("missing.json");
    let out = gdap_audit(&["diff", old.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.json"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn cli_history_list_show_prune_and_diff() {
    let dir = tmp();
    let (path, store) = store_at(dir.path());
    let db = path.to_str().unwrap();

    // Fewer than two runs: a clear error.
    store
        .record_run(
            &partner_snapshot(day(1), vec![relationship("r1", "active", &[HELPDESK])]),
            &[],
            day(1),
        )
        .unwrap();
    let out = gdap_audit(&["diff", "--history", db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs two"),
        "{}",
        text(&out.stderr)
    );

    let id2 = store
        .record_run(
            &partner_snapshot(day(2), vec![relationship("r1", "active", &[HELPDESK, GA])]),
            &[finding("a", "r1", MSP)],
            day(2),
        )
        .unwrap();
    let out = gdap_audit(&["diff", "--history", db, "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("roles added: Global Administrator"),
        "{}",
        text(&out.stdout)
    );

    let out = gdap_audit(&["history", "list", "--history", db]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("RELATIONSHIPS") && listing.contains(MSP),
        "{listing}"
    );

    let out = gdap_audit(&["history", "show", &id2.to_string(), "--history", db]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("Global Administrator") && shown.contains("relationship r1 name (r1)"),
        "{shown}"
    );

    let out = gdap_audit(&["history", "show", "999", "--history", db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no run 999"),
        "{}",
        text(&out.stderr)
    );

    // A second tenant: diff without --tenant lists them.
    store
        .record_run(
            &customer_snapshot(CUSTOMER, day(3), 30, vec![], &[]),
            &[],
            day(3),
        )
        .unwrap();
    let out = gdap_audit(&["diff", "--history", db]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--tenant") && err.contains(MSP) && err.contains(CUSTOMER),
        "{err}"
    );
    let out = gdap_audit(&["diff", "--history", db, "--tenant", &MSP.to_uppercase()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = gdap_audit(&["history", "prune", "--keep", "1", "--history", db]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("pruned 1 run(s)"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(store.list(Some(MSP)).unwrap().len(), 1);
}

#[test]
fn cli_refuses_a_newer_or_missing_history() {
    let dir = tmp();
    let path = dir.path().join("h.sqlite3");
    let missing = gdap_audit(&["history", "list", "--history", path.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("no history database"),
        "{}",
        text(&missing.stderr)
    );
    assert!(!path.exists(), "listing does not create a database");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let out = gdap_audit(&["history", "list", "--history", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("newer than this gdap-audit"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// Property tests: a history whose rows hold arbitrary or hostile values (written with rusqlite directly,
/// as a damaged file or another tool could) is read back by the store without a panic: every read either
/// succeeds or returns a clear [`HistoryError`] naming the file.
mod hostile_rows {
    use super::*;
    use proptest::prelude::*;
    use rusqlite::types::{ToSql, ToSqlOutput, Value};

    #[derive(Debug, Clone)]
    enum V {
        Null,
        Int(i64),
        Real(f64),
        Text(String),
        Blob(Vec<u8>),
    }

    impl ToSql for V {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::Owned(match self {
                V::Null => Value::Null,
                V::Int(i) => Value::Integer(*i),
                V::Real(f) => Value::Real(*f),
                V::Text(s) => Value::Text(s.clone()),
                V::Blob(b) => Value::Blob(b.clone()),
            }))
        }
    }

    /// Values near what the store writes (timestamps, JSON arrays, perspectives, tenant ids, booleans)
    /// and far from it.
    fn value() -> impl Strategy<Value = V> {
        prop_oneof![
            Just(V::Null),
            any::<i64>().prop_map(V::Int),
            (-2i64..3).prop_map(V::Int),
            any::<f64>().prop_map(V::Real),
            "20[0-9]{2}-1[0-2]-[0-3][0-9]T[0-2][0-9]:00:00.000000Z".prop_map(V::Text),
            "[+-]?[0-9]{1,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?"
                .prop_map(V::Text),
            "\\[(\"[a-z0-9-]{0,8}\",?){0,3}\\]".prop_map(V::Text),
            "\\[[0-9,\\[\\]{}:\"a]{0,12}".prop_map(V::Text),
            prop_oneof![
                Just("partner"),
                Just("customer,partner"),
                Just(",,x"),
                Just(MSP),
                Just(CUSTOMER),
                Just("critical"),
                Just("{\"source\":\"sign_ins\"}"),
            ]
            .prop_map(|s| V::Text(s.to_owned())),
            ".{0,24}".prop_map(V::Text),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(V::Blob),
        ]
    }

    const TABLES: &[(&str, &[&str])] = &[
        (
            "runs",
            &[
                "id",
                "tenant_id",
                "tenant_name",
                "started_at",
                "collected_at",
                "as_of",
                "recorded_at",
                "perspectives",
                "tool_version",
                "snapshot_version",
                "coverage",
                "window_since",
                "window_until",
                "relationships_collected",
                "partners_collected",
                "role_assignments_collected",
                "sign_ins_collected",
                "audits_collected",
                "sign_ins_watermark",
                "audits_watermark",
                "finding_count",
                "coverage_gaps",
                "snapshot_digest",
            ],
        ),
        (
            "run_relationships",
            &[
                "run_id",
                "relationship_id",
                "display_name",
                "customer_tenant_id",
                "customer_name",
                "status",
                "roles",
                "end_date",
            ],
        ),
        (
            "run_partners",
            &[
                "run_id",
                "partner_tenant_id",
                "name",
                "is_service_provider",
                "allowed_roles",
                "assigned_roles",
                "last_success",
            ],
        ),
        (
            "run_findings",
            &[
                "run_id",
                "fingerprint",
                "rule_id",
                "severity",
                "subject_kind",
                "subject_id",
                "subject_name",
            ],
        ),
        (
            "findings",
            &[
                "tenant_id",
                "fingerprint",
                "rule_id",
                "subject_id",
                "first_seen",
                "last_seen",
            ],
        ),
        (
            "partner_activity",
            &["tenant_id", "partner_tenant_id", "last_success"],
        ),
        (
            "sign_in_windows",
            &[
                "tenant_id",
                "run_id",
                "as_of",
                "since",
                "until",
                "collected",
                "sign_in_records",
                "service_providers",
                "audits_collected",
                "audit_records",
            ],
        ),
        (
            "partner_sign_ins",
            &[
                "tenant_id",
                "id",
                "created_at",
                "partner_tenant_id",
                "record",
            ],
        ),
        (
            "audit_events",
            &["tenant_id", "id", "activity_at", "record"],
        ),
    ];

    /// Row `i` of a table: its values; run ids and tenant ids are drawn from small sets so the rows
    /// meet in joins.
    fn rows() -> impl Strategy<Value = Vec<(usize, Vec<V>)>> {
        let row = (0..TABLES.len()).prop_flat_map(|t| {
            let n = TABLES[t].1.len();
            let cell = prop_oneof![
                3 => value(),
                1 => (1i64..4).prop_map(V::Int),
                1 => prop_oneof![Just(MSP), Just(CUSTOMER)].prop_map(|s| V::Text(s.to_owned())),
            ];
            (Just(t), proptest::collection::vec(cell, n..=n))
        });
        proptest::collection::vec(row, 0..24)
    }

    fn assert_clear(path: &Path, r: Result<impl std::fmt::Debug, HistoryError>) {
        if let Err(e) = r {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "an error names the file: {msg}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn hostile_rows_are_read_without_panic(rows in rows()) {
            let dir = tmp();
            let path = dir.path().join("h.sqlite3");
            drop(HistoryStore::open(&path).unwrap());
            {
                let conn = rusqlite::Connection::open(&path).unwrap();
                // Some hostile values break NOT NULL or type constraints: such rows are just not there.
                for (t, values) in &rows {
                    let (table, cols) = TABLES[*t];
                    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
                    let sql = format!(
                        "INSERT OR REPLACE INTO {table} ({}) VALUES ({})",
                        cols.join(", "),
                        marks.join(", ")
                    );
                    let params: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
                    let _ = conn.execute(&sql, params.as_slice());
                }
            }
            let store = HistoryStore::open(&path).unwrap();
            assert_clear(&path, store.list(None));
            assert_clear(&path, store.tenants());
            for tenant in [MSP, CUSTOMER] {
                assert_clear(&path, store.list(Some(tenant)));
                assert_clear(&path, store.watermarks(tenant));
                assert_clear(&path, store.log_coverage_start(tenant));
                assert_clear(&path, store.view(tenant, &[Perspective::Partner, Perspective::Customer], day(30)));
                assert_clear(
                    &path,
                    gdap_audit::audit::incremental::plan(&store, tenant, Window { since: day(0), until: day(30) }),
                );
            }
            for run in 0..5 {
                assert_clear(&path, store.show(run));
                assert_clear(&path, store.inventory(run));
            }
            // Recording on top of them works or fails clearly, and so does pruning.
            assert_clear(&path, store.record_run(&partner_snapshot(day(40), vec![]), &[], day(40)));
            assert_clear(
                &path,
                store.record_run(&customer_snapshot(CUSTOMER, day(41), 30, vec![], &[]), &[], day(41)),
            );
            assert_clear(&path, store.prune(1));
        }
    }
}

/// #11: the diff table is the report's table (one setup): an unbroken 1,000-character name is cut before
/// wrapping, as in the findings table, instead of being split over dozens of lines (and quadratic time).
#[test]
fn diff_table_uses_the_report_table_setup() {
    let mut snap = partner_snapshot(day(1), vec![relationship("r1", "active", &[])]);
    snap.partner.as_mut().unwrap().relationships[0]
        .relationship
        .display_name = "N".repeat(1000);
    let d = diff::diff(
        &Inventory::from_snapshot(&partner_snapshot(day(0), vec![])),
        &Inventory::from_snapshot(&snap),
    );
    let table = render::render_table(&d, Some(100));
    assert!(table.contains("truncated"), "{table}");
    assert!(table.lines().count() < 20, "{table}");
    // Unwrapped (a pipe), nothing is cut.
    assert!(render::render_table(&d, None).contains(&"N".repeat(1000)));
}
