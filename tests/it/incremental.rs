//! Incremental logs end to end: `scan --history` reads only the sign-ins and directory audits after the
//! previous watermark (minus 10 minutes), merges them with the records the history kept, and the result
//! equals a full `--no-history` read of the same data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Duration, Utc};
use fake_graph::{FakeGraph, FakeTenant, Fault, FaultKind};
use gdap_audit::audit::incremental;
use gdap_audit::history::HistoryStore;
use gdap_audit::snapshot::{CoverageStatus, CustomerData, Snapshot, Source};
use serde_json::{Value, json};

use crate::common::*;

const CUSTOMER: &str = "c0c0c0c0-0000-4000-8000-0000000000c0";
const P1: &str = "0a0a0a0a-0000-4000-8000-00000000000a";
const P2: &str = "0b0b0b0b-0000-4000-8000-00000000000b";

const SIGN_INS: &str = "/beta/auditLogs/signIns";
const AUDITS: &str = "/v1.0/auditLogs/directoryAudits";

fn d1() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn rfc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn min(n: i64) -> Duration {
    Duration::minutes(n)
}

// ------------------------------------------------------------------------------------------------
// Data

#[derive(Clone)]
struct Rec {
    id: String,
    at: DateTime<Utc>,
    home: &'static str,
    access: &'static str,
    error: i64,
    single_factor: bool,
    country: &'static str,
    app: &'static str,
}

impl Rec {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "createdDateTime": rfc(self.at),
            "userPrincipalName": format!("user-{}@example.com", &self.home[..4]),
            "userId": "u-1",
            "appDisplayName": self.app,
            "ipAddress": "203.0.113.7",
            "location": {"city": "X", "countryOrRegion": self.country},
            "status": {"errorCode": self.error, "failureReason": if self.error == 0 { "" } else { "failed" }},
            "crossTenantAccessType": self.access,
            "homeTenantId": self.home,
            "resourceTenantId": CUSTOMER,
            "authenticationRequirement": if self.single_factor { "singleFactorAuthentication" } else { "multiFactorAuthentication" },
            "isInteractive": true,
            "signInEventTypes": ["interactiveUser"],
        })
    }
}

fn partner(id: &str, at: DateTime<Utc>, i: usize) -> Rec {
    Rec {
        id: id.to_owned(),
        at,
        home: P1,
        access: if i.is_multiple_of(5) {
            "b2bCollaboration,serviceProvider"
        } else {
            "serviceProvider"
        },
        error: if i.is_multiple_of(4) { 50126 } else { 0 },
        single_factor: i.is_multiple_of(3),
        country: ["GB", "US", "NL"][i % 3],
        app: ["Azure Portal", "Microsoft Admin Center", "Exchange Admin"][i % 3],
    }
}

fn local(id: String, at: DateTime<Utc>) -> Rec {
    Rec {
        id,
        at,
        home: CUSTOMER,
        access: "none",
        error: 0,
        single_factor: true,
        country: "DE",
        app: "Office",
    }
}

/// Day 1 (as of `d1`): 2,400 local sign-ins every 18 minutes over the 30-day window (three pages of
/// 1,000), 40 partner sign-ins, one old partner sign-in that the day-2 window no longer holds, and three
/// partner sign-ins in the last ten minutes (the day-2 read reads them again). The newest record, the
/// watermark, is at `d1 - 2 min`.
fn day1_sign_ins() -> Vec<Rec> {
    let d1 = d1();
    let mut v = Vec::new();
    for k in 0..2400 {
        v.push(local(
            format!("local-{k:04}"),
            d1 - Duration::days(30) + min(1) + min(18) * k,
        ));
    }
    for i in 0..40 {
        v.push(partner(
            &format!("p1-{i:02}"),
            d1 - Duration::days(29) + Duration::hours(17) * i as i32,
            i,
        ));
    }
    let mut old = partner("p1-old", d1 - Duration::days(29) - Duration::hours(12), 1);
    old.country = "FR";
    old.single_factor = true;
    v.push(old);
    v.push(partner("p1-w9", d1 - min(9), 1));
    v.push(partner("p1-w5", d1 - min(5), 2));
    v.push(partner("p1-w2", d1 - min(2), 3));
    v
}

/// Day 2: everything of day 1, a partner sign-in that arrived late (created at `d1 - 6 min`, inside the
/// overlap), 10 new partner sign-ins and 80 new local ones.
fn day2_sign_ins() -> Vec<Rec> {
    let d1 = d1();
    let mut v = day1_sign_ins();
    v.push(partner("p1-late", d1 - min(6), 4));
    for i in 0..10 {
        v.push(partner(
            &format!("p1-new-{i}"),
            d1 + Duration::hours(1) + Duration::hours(2) * i as i32,
            i + 5,
        ));
    }
    for k in 0..80 {
        v.push(local(
            format!("local-new-{k:02}"),
            d1 + min(3) + min(18) * k,
        ));
    }
    v
}

fn audit(id: &str, at: DateTime<Utc>, relevant: bool) -> Value {
    if relevant {
        json!({
            "id": id, "activityDateTime": rfc(at), "category": "RoleManagement",
            "activityDisplayName": "Add member to role", "result": "success",
            "initiatedBy": {"user": {"id": "pu", "userPrincipalName": "tech@partner.example", "homeTenantId": P1}},
            "targetResources": [{"id": "t1", "displayName": "Global Administrator", "type": "Role"}]
        })
    } else {
        json!({
            "id": id, "activityDateTime": rfc(at), "category": "UserManagement",
            "activityDisplayName": "Update user", "result": "success",
            "initiatedBy": {"user": {"id": "lu", "homeTenantId": CUSTOMER}},
            "targetResources": []
        })
    }
}

fn day1_audits() -> Vec<Value> {
    let d1 = d1();
    let mut v = vec![audit(
        "a-old",
        d1 - Duration::days(29) - Duration::hours(12),
        true,
    )];
    for i in 0..5 {
        v.push(audit(
            &format!("a{i}"),
            d1 - Duration::days(20) + Duration::days(i),
            true,
        ));
    }
    for i in 0..20 {
        v.push(audit(
            &format!("x{i}"),
            d1 - Duration::days(25) + Duration::days(i),
            false,
        ));
    }
    v.push(audit("a-w", d1 - min(3), true));
    v
}

fn day2_audits() -> Vec<Value> {
    let d1 = d1();
    let mut v = day1_audits();
    v.push(audit("a-late", d1 - min(8), true));
    v.push(audit("a-new-1", d1 + Duration::hours(2), true));
    v.push(audit("a-new-2", d1 + Duration::hours(5), true));
    v.push(audit("x-new", d1 + Duration::hours(6), false));
    v
}

fn tenant(sign_ins: &[Rec], audits: Vec<Value>, p2_is_service_provider: bool) -> FakeTenant {
    FakeTenant::new(CUSTOMER)
        .with_route(
            "/v1.0/organization",
            json!({"value": [{"id": CUSTOMER, "displayName": "Incremental Corp"}]}),
        )
        .with_route(
            "/v1.0/policies/crossTenantAccessPolicy/partners",
            json!({"value": [
                {"tenantId": P1, "isServiceProvider": true},
                {"tenantId": P2, "isServiceProvider": p2_is_service_provider}
            ]}),
        )
        .with_route(
            format!(
                "/v1.0/policies/crossTenantAccessPolicy/partners/{P1}/serviceProviderConstraints"
            ),
            json!({"allowedRoleTemplateIds": ["f023fd81-a637-4b56-95fd-791ac0226033"]}),
        )
        .with_route(
            format!(
                "/v1.0/policies/crossTenantAccessPolicy/partners/{P2}/serviceProviderConstraints"
            ),
            json!({"allowedRoleTemplateIds": ["f023fd81-a637-4b56-95fd-791ac0226033"]}),
        )
        .with_route(
            "/v1.0/policies/crossTenantAccessPolicy/default",
            json!({"inboundTrust": {"isMfaAccepted": false}}),
        )
        .with_route(
            "/v1.0/roleManagement/directory/roleAssignments",
            json!({"value": []}),
        )
        .with_route(
            "/beta/roleManagement/directory/roleDefinitions",
            json!({"value": []}),
        )
        .with_route("/v1.0/servicePrincipals", json!({"value": []}))
        .with_route(
            "/v1.0/identity/conditionalAccess/policies",
            json!({"value": []}),
        )
        .with_route(
            SIGN_INS,
            json!({"value": sign_ins.iter().map(Rec::json).collect::<Vec<_>>()}),
        )
        .with_route(AUDITS, json!({ "value": audits }))
}

// ------------------------------------------------------------------------------------------------
// Running `scan`

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gdap-audit"));
    for v in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "GRAPH_ACCESS_TOKEN",
        "RUST_LOG",
    ] {
        c.env_remove(v);
    }
    c.env("AZURE_CLIENT_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .current_dir(dir);
    c
}

/// `scan` as of `as_of`, with the history at `history` (or `--no-history`); the saved snapshot.
async fn scan(
    fake: &FakeGraph,
    dir: &Path,
    history: Option<&Path>,
    as_of: DateTime<Utc>,
    name: &str,
) -> Snapshot {
    let snapshot: PathBuf = dir.join(format!("{name}.json"));
    let mut cmd = bin(dir);
    cmd.args(["scan", "--perspective", "customer", "--as-of", &rfc(as_of)])
        .args(["--tenant", CUSTOMER, "--client-id", CLIENT_ID])
        .args(["--graph-url", &fake.url(), "--login-url", &fake.url()])
        .args([
            "--fail-on",
            "never",
            "--format",
            "json",
            "-q",
            "--no-progress",
        ])
        .arg("--output")
        .arg(dir.join(format!("{name}.report.json")))
        .arg("--save-snapshot")
        .arg(&snapshot);
    match history {
        Some(h) => cmd.arg("--history").arg(h),
        None => cmd.arg("--no-history"),
    };
    let out: Output = tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
        .await
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{name}: exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    Snapshot::read(&snapshot).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sign_in_filters(fake: &FakeGraph) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.path() == SIGN_INS)
        .map(|r| r.query_param("$filter").unwrap_or_default())
        .collect()
}

fn audit_filters(fake: &FakeGraph) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.path() == AUDITS)
        .map(|r| r.query_param("$filter").unwrap_or_default())
        .collect()
}

fn customer(snap: &Snapshot) -> &CustomerData {
    snap.customer.as_ref().expect("customer perspective")
}

fn detail(snap: &Snapshot, source: Source) -> String {
    snap.coverage_of(source)
        .and_then(|c| c.detail.clone())
        .unwrap_or_default()
}

fn items(snap: &Snapshot, source: Source) -> u64 {
    snap.coverage_of(source).and_then(|c| c.items).unwrap()
}

/// The merged aggregates equal the full read's: partners (counts, MFA, countries, first/last success,
/// examples, apps, access types), watermark, and the kept audit events.
fn assert_same_logs(merged: &Snapshot, full: &Snapshot) {
    let (m, f) = (customer(merged), customer(full));
    assert_eq!(
        serde_json::to_value(&m.sign_ins.partners).unwrap(),
        serde_json::to_value(&f.sign_ins.partners).unwrap(),
        "merged partner sign-ins differ from a full read"
    );
    assert_eq!(m.sign_ins.watermark, f.sign_ins.watermark);
    assert_eq!(m.audits.events, f.audits.events);
    assert_eq!(m.audits.dropped, f.audits.dropped);
    assert_eq!(m.audits.watermark, f.audits.watermark);
    for source in [Source::SignIns, Source::DirectoryAudits] {
        assert_eq!(
            merged.coverage_of(source).unwrap().status,
            CoverageStatus::Collected,
            "{source:?}: {}",
            detail(merged, source)
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_scan_reads_only_new_records_and_merges_them_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.sqlite3");
    let d1 = d1();
    let d2 = d1 + Duration::days(1);

    // Day 1: the first run with history reads the whole window.
    let fake = crate::common::fake(vec![tenant(&day1_sign_ins(), day1_audits(), false)]).await;
    let first = scan(&fake, dir.path(), Some(&history), d1, "day1").await;
    let filters = sign_in_filters(&fake);
    assert_eq!(filters.len(), 3, "2,444 records: three pages of 1,000");
    assert!(
        filters[0].starts_with(&format!(
            "createdDateTime ge {} and",
            rfc(d1 - Duration::days(30))
        )),
        "{filters:?}"
    );
    assert!(!detail(&first, Source::SignIns).contains("ncremental"));
    let w = customer(&first).sign_ins.watermark.unwrap();
    assert_eq!(w, d1 - min(2));
    fake.shutdown();

    // Day 2 with history: only what is new since the watermark minus 10 minutes.
    let fake = crate::common::fake(vec![tenant(&day2_sign_ins(), day2_audits(), false)]).await;
    let merged = scan(&fake, dir.path(), Some(&history), d2, "day2").await;
    let incremental_filters = sign_in_filters(&fake);
    assert_eq!(incremental_filters.len(), 1, "{incremental_filters:?}");
    assert!(
        incremental_filters[0].starts_with(&format!(
            "createdDateTime ge {} and createdDateTime le {}",
            rfc(w - min(10)),
            rfc(d2)
        )),
        "{incremental_filters:?}"
    );
    let audit_filter = audit_filters(&fake);
    assert_eq!(audit_filter.len(), 1);
    assert!(
        audit_filter[0].starts_with(&format!(
            "activityDateTime ge {}",
            rfc(d1 - min(3) - min(10))
        )),
        "{audit_filter:?}"
    );
    let incremental_requests = fake.requests().len();

    // The same day-2 data, read in full without history.
    fake.clear_requests();
    let full = scan(&fake, dir.path(), None, d2, "day2-full").await;
    let full_filters = sign_in_filters(&fake);
    assert_eq!(full_filters.len(), 3);
    assert!(full_filters[0].starts_with(&format!(
        "createdDateTime ge {} and",
        rfc(d2 - Duration::days(30))
    )));
    assert!(
        incremental_requests + 2 <= fake.requests().len(),
        "incremental {incremental_requests} requests, full {}",
        fake.requests().len()
    );

    // Fewer records read: the 9 + 4 partner and 80 local records after `w - 10 min`, not the window.
    assert_eq!(items(&merged, Source::SignIns), 94);
    assert_eq!(customer(&merged).sign_ins.scanned, 94);
    assert!(items(&full, Source::SignIns) > 2400);
    assert_eq!(items(&merged, Source::DirectoryAudits), 5);

    // Merged == full.
    assert_same_logs(&merged, &full);

    // And both are right: 40 + 3 overlap + 1 late + 10 new partner sign-ins, each counted once; the one
    // older than the day-2 window is gone.
    let p = &customer(&merged).sign_ins.partners[P1];
    let expected: Vec<Rec> = day2_sign_ins()
        .into_iter()
        .filter(|r| r.home == P1 && r.at >= d2 - Duration::days(30))
        .collect();
    assert_eq!(expected.len(), 54);
    assert_eq!(p.total, 54);
    assert_eq!(
        p.successes,
        expected.iter().filter(|r| r.error == 0).count() as u64
    );
    assert_eq!(
        p.successes_without_mfa,
        expected
            .iter()
            .filter(|r| r.error == 0 && r.single_factor)
            .count() as u64
    );
    assert!(!p.countries.contains_key("FR"), "{:?}", p.countries);
    assert!(p.examples.iter().all(|e| e.id != "p1-old"));
    assert!(p.first_success.unwrap() >= d2 - Duration::days(30));
    assert_eq!(
        p.last_success,
        expected.iter().filter(|r| r.error == 0).map(|r| r.at).max()
    );
    assert_eq!(
        customer(&merged).sign_ins.watermark,
        Some(d1 + min(3) + min(18) * 79)
    );
    let ids: Vec<&str> = customer(&merged)
        .audits
        .events
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "a-new-2", "a-new-1", "a-w", "a-late", "a4", "a3", "a2", "a1", "a0"
        ]
    );

    // 43 kept partner sign-ins in the day-2 window, 3 of them read again in the overlap.
    let d = detail(&merged, Source::SignIns);
    assert_eq!(
        d,
        format!(
            "Incremental since {}: 94 new records read, merged with 40 partner sign-ins from history.",
            rfc(w - min(10))
        )
    );
    // 6 kept events in the window, `a-w` read again.
    let d = detail(&merged, Source::DirectoryAudits);
    assert_eq!(
        d,
        format!(
            "Incremental since {}: 5 new records read, merged with 5 audit events from history.",
            rfc(d1 - min(3) - min(10))
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_chain_or_no_history_reads_the_full_window() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.sqlite3");
    let d1 = d1();
    let d2 = d1 + Duration::days(1);
    let d3 = d1 + Duration::days(2);

    let fake = crate::common::fake(vec![tenant(&day1_sign_ins(), day1_audits(), false)]).await;
    scan(&fake, dir.path(), Some(&history), d1, "day1").await;
    fake.shutdown();

    // Without history: the full window, although a history exists elsewhere.
    let fake = crate::common::fake(vec![tenant(&day2_sign_ins(), day2_audits(), false)]).await;
    scan(&fake, dir.path(), None, d2, "day2-no-history").await;
    assert!(sign_in_filters(&fake)[0].starts_with(&format!(
        "createdDateTime ge {} and",
        rfc(d2 - Duration::days(30))
    )));

    // Day 2 with history, but the sign-in log is refused: nothing merged into a false "complete".
    fake.clear_requests();
    fake.push_fault(Fault::new(
        SIGN_INS,
        10,
        FaultKind::Status {
            status: 403,
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges to complete the operation.".into(),
        },
    ));
    let denied = scan(&fake, dir.path(), Some(&history), d2, "day2-denied").await;
    assert_eq!(
        denied.coverage_of(Source::SignIns).unwrap().status,
        CoverageStatus::Denied
    );
    assert!(!detail(&denied, Source::SignIns).contains("merged"));
    assert!(
        sign_in_filters(&fake)[0].starts_with(&format!("createdDateTime ge {}", rfc(d1 - min(12)))),
        "the read was planned incremental"
    );
    fake.shutdown();

    let store = HistoryStore::open_existing(&history).unwrap();
    let coverage = store.log_coverage_start(CUSTOMER).unwrap();
    assert_eq!(
        coverage.sign_ins, None,
        "the refused run breaks the sign-in chain"
    );
    assert_eq!(coverage.audits, Some(d1 - Duration::days(30)));
    drop(store);

    // Day 3: sign-ins are read over the whole window again; audits (unbroken) stay incremental.
    let fake = crate::common::fake(vec![tenant(&day2_sign_ins(), day2_audits(), false)]).await;
    let third = scan(&fake, dir.path(), Some(&history), d3, "day3").await;
    let filters = sign_in_filters(&fake);
    assert!(
        filters[0].starts_with(&format!(
            "createdDateTime ge {} and",
            rfc(d3 - Duration::days(30))
        )),
        "{filters:?}"
    );
    assert!(!detail(&third, Source::SignIns).contains("ncremental"));
    assert!(
        audit_filters(&fake)[0].starts_with(&format!(
            "activityDateTime ge {}",
            rfc(d1 + Duration::hours(6) - min(10))
        )),
        "{:?}",
        audit_filters(&fake)
    );
    fake.clear_requests();
    let full = scan(&fake, dir.path(), None, d3, "day3-full").await;
    assert_same_logs(&third, &full);

    // A wider window than the history covers (`--since` 60 on day 3 would start before day 1's window)
    // is read in full: checked on the plan directly.
    let store = HistoryStore::open_existing(&history).unwrap();
    let wide = gdap_audit::snapshot::Window {
        since: d3 - Duration::days(60),
        until: d3,
    };
    let plan = incremental::plan(&store, CUSTOMER, wide).unwrap();
    assert!(!plan.is_incremental(), "{plan:?}");
    let narrow = gdap_audit::snapshot::Window {
        since: d3 - Duration::days(30),
        until: d3 + Duration::hours(1),
    };
    let plan = incremental::plan(&store, CUSTOMER, narrow).unwrap();
    assert!(plan.sign_in_watermark.is_some() && plan.audit_watermark.is_some());

    // A run recorded without its log records (as `evaluate` does) breaks both chains.
    let mut evaluated = third.clone();
    evaluated.as_of = d3 + Duration::hours(1);
    evaluated.window = narrow;
    store.record_run(&evaluated, &[], d3).unwrap();
    assert_eq!(
        store.log_coverage_start(CUSTOMER).unwrap(),
        gdap_audit::history::LogCoverage::default()
    );
    assert!(
        !incremental::plan(&store, CUSTOMER, narrow)
            .unwrap()
            .is_incremental()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_provider_makes_the_sign_ins_be_read_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.sqlite3");
    let d1 = d1();
    let d2 = d1 + Duration::days(1);

    // P2's users sign in as B2B guests (not service-provider access): partner sign-ins only once P2 is
    // a service provider.
    let mut records = day1_sign_ins();
    for i in 0..6 {
        records.push(Rec {
            id: format!("p2-{i}"),
            at: d1 - Duration::days(10) + Duration::days(i),
            home: P2,
            access: "b2bCollaboration",
            error: 0,
            single_factor: i % 2 == 0,
            country: "IE",
            app: "Teams",
        });
    }
    let fake = crate::common::fake(vec![tenant(&records, day1_audits(), false)]).await;
    let first = scan(&fake, dir.path(), Some(&history), d1, "day1").await;
    assert!(!customer(&first).sign_ins.partners.contains_key(P2));
    fake.shutdown();

    let mut day2 = records.clone();
    day2.extend(day2_sign_ins().into_iter().skip(day1_sign_ins().len()));
    let fake = crate::common::fake(vec![tenant(&day2, day2_audits(), true)]).await;
    let merged = scan(&fake, dir.path(), Some(&history), d2, "day2").await;
    let filters = sign_in_filters(&fake);
    assert_eq!(
        filters.len(),
        4,
        "one incremental page, then the full window: {filters:?}"
    );
    assert!(filters[0].starts_with(&format!("createdDateTime ge {}", rfc(d1 - min(12)))));
    assert!(filters[1].starts_with(&format!(
        "createdDateTime ge {} and",
        rfc(d2 - Duration::days(30))
    )));
    let d = detail(&merged, Source::SignIns);
    assert!(d.starts_with("Read in full:") && d.contains(P2), "{d}");

    fake.clear_requests();
    let full = scan(&fake, dir.path(), None, d2, "day2-full").await;
    assert_same_logs(&merged, &full);
    assert_eq!(customer(&merged).sign_ins.partners[P2].total, 6);
    fake.shutdown();

    // The next day is incremental again, and still exact.
    let d3 = d2 + Duration::days(1);
    let fake = crate::common::fake(vec![tenant(&day2, day2_audits(), true)]).await;
    let third = scan(&fake, dir.path(), Some(&history), d3, "day3").await;
    assert_eq!(sign_in_filters(&fake).len(), 1);
    assert!(detail(&third, Source::SignIns).starts_with("Incremental since"));
    fake.clear_requests();
    let full = scan(&fake, dir.path(), None, d3, "day3-full").await;
    assert_same_logs(&third, &full);
}
