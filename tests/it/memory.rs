//! #9: memory must not grow with partner activity. A run with history keeps its partner sign-ins for the
//! next run's incremental merge; they used to be held in memory (the collector's sink) and loaded back
//! whole (the merge). Measured in a child process (the peak RSS is per process, and other tests run in
//! this one): 100,000 partner sign-ins spooled, kept, and merged with the next run.

use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use gdap_audit::collect::SignInSpool;
use gdap_audit::history::HistoryStore;
use gdap_audit::model::logs::SignIn;
use gdap_audit::snapshot::{
    Coverage, CoverageStatus, CustomerData, PartnerRecord, Perspective, SNAPSHOT_VERSION, Snapshot,
    Source, Window,
};

const CHILD_ENV: &str = "GDAP_AUDIT_TEST_MEMORY_DIR";
const CUSTOMER: &str = "52eaad04-13a2-4a2f-9ce8-93a294fadf36";
const PARTNER: &str = "8777b240-c6f0-4469-9e98-a3205431b836";
const RECORDS: u64 = 100_000;
/// Peak resident memory allowed to the child. Holding 100,000 sign-ins as records (the old sink, or the
/// old merge) takes about 100 MiB; the spool and the ordered SQL merge keep the peak near the
/// test harness's own.
const BOUND_MIB: f64 = 48.0;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn snapshot(as_of: DateTime<Utc>) -> Snapshot {
    let collected = |source| Coverage {
        source,
        status: CoverageStatus::Collected,
        detail: None,
        graph_code: None,
        request_id: None,
        permission: None,
        items: None,
    };
    let mut customer = CustomerData {
        partners: vec![PartnerRecord {
            tenant_id: PARTNER.into(),
            is_service_provider: true,
            ..PartnerRecord::default()
        }],
        ..CustomerData::default()
    };
    customer.sign_ins.scanned = RECORDS;
    customer.sign_ins.watermark = Some(as_of - Duration::seconds(1));
    Snapshot {
        snapshot_version: SNAPSHOT_VERSION,
        tool_version: "test".into(),
        tenant_id: CUSTOMER.into(),
        tenant_name: None,
        collected_at: as_of,
        as_of,
        window: Window {
            since: as_of - Duration::days(30),
            until: as_of,
        },
        perspectives: vec![Perspective::Customer],
        partner: None,
        customer: Some(customer),
        fleet: None,
        coverage: vec![
            collected(Source::XtapPartners),
            collected(Source::SignIns),
            collected(Source::DirectoryAudits),
        ],
    }
}

fn sign_in(k: u64, start: DateTime<Utc>) -> SignIn {
    let seconds = i64::try_from(k).unwrap_or(i64::MAX);
    let app = [
        "Azure Portal",
        "Microsoft Graph PowerShell",
        "Microsoft Azure CLI",
    ][(k % 3) as usize];
    serde_json::from_value(serde_json::json!({
        "id": format!("{k:08x}-6f0c-4b7e-9a53-{k:012x}"),
        "createdDateTime": start + Duration::seconds(seconds),
        "userPrincipalName": format!("tech{}@partner.example", k % 7),
        "userId": format!("{k:032x}"),
        "appDisplayName": app,
        "ipAddress": format!("203.0.113.{}", k % 250),
        "location": {"city": "Amsterdam", "countryOrRegion": "NL"},
        "status": {"errorCode": if k.is_multiple_of(5) { 50126 } else { 0 }, "failureReason": "Other."},
        "crossTenantAccessType": "serviceProvider",
        "homeTenantId": PARTNER,
        "resourceTenantId": CUSTOMER,
        "authenticationRequirement": "multiFactorAuthentication",
        "isInteractive": true,
        "signInEventTypes": ["interactiveUser"],
    }))
    .unwrap()
}

/// Run by `partner_sign_ins_do_not_grow_memory` in a child process.
#[test]
#[ignore = "helper: run in a child process by partner_sign_ins_do_not_grow_memory"]
fn memory_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let start: DateTime<Utc> = "2026-10-01T00:00:00Z".parse().unwrap();
    let day1 = start + Duration::seconds(RECORDS as i64);
    let store = HistoryStore::open(std::path::Path::new(&dir).join("h.db")).unwrap();

    // Day 1: a full read whose partner sign-ins are spooled, then kept.
    let mut spool = SignInSpool::new();
    for k in 0..RECORDS {
        spool.push(&sign_in(k, start));
    }
    let first = snapshot(day1);
    store
        .record_run_and_logs(&first, &[], day1, &mut spool)
        .unwrap();
    drop(spool);

    // Day 2: an incremental read of one more hour, merged with every kept record.
    let day2 = day1 + Duration::hours(1);
    let mut snap = snapshot(day2);
    let plan = gdap_audit::audit::incremental::plan(&store, CUSTOMER, snap.window).unwrap();
    assert!(plan.is_incremental(), "{plan:?}");
    let mut spool = SignInSpool::new();
    for k in RECORDS..RECORDS + 3600 {
        spool.push(&sign_in(k, start));
    }
    let outcome =
        gdap_audit::audit::incremental::merge(&store, &mut snap, &plan, &mut spool).unwrap();
    let total = snap.customer.as_ref().unwrap().sign_ins.partners[PARTNER].total;
    store
        .record_run_and_logs(&snap, &[], day2, &mut spool)
        .unwrap();
    println!(
        "MERGED {outcome:?} TOTAL {total} PEAK_MIB {:.1}",
        peak_rss_mib()
    );
}

#[test]
fn partner_sign_ins_do_not_grow_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "memory::memory_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("MERGED"))
        .unwrap_or_else(|| panic!("the child reports: {stdout}"));
    // Every record of both days is in the window and counted once.
    assert!(
        line.contains(&format!("TOTAL {}", RECORDS + 3600)),
        "{line}"
    );
    let peak: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        peak <= BOUND_MIB,
        "peak RSS {peak} MiB > {BOUND_MIB}: {line}"
    );
}
