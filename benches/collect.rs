//! Throughput and memory of the sign-in pipeline: a generated log streamed through the loopback fake
//! Graph, the real client and the collector, reduced to per-partner aggregates.
//!
//! `cargo bench --bench collect` (optionally `-- 50000 500000` for other sizes). Reports records/s,
//! requests, and the process's peak resident memory after each size: with streaming, the peak must not
//! grow with the log.
//!
//! `cargo bench --bench collect -- history [1000000]`: the scan's path with a history instead, on a log
//! where about one record in ten is a partner sign-in: a full read whose partner sign-ins are spooled and kept,
//! then the next day's incremental read merged with them, each recorded. Run on its own (the peak is
//! the process's): the bound is 64 MiB for 1,000,000 records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a panic in a test or benchmark is its failure"
)]

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use fake_graph::{FakeApp, FakeGraph, FakeGraphConfig, FakeTenant, SignInGenerator};
use gdap_audit::auth::{self, AuthSettings};
use gdap_audit::collect::{self, CollectOptions, PerspectiveMode, SignInAggregator};
use gdap_audit::graph::{ClientSettings, Endpoints, GraphClient};
use gdap_audit::model::logs::SignIn;
use secrecy::SecretString;
use serde_json::json;

const CUSTOMER: &str = "52eaad04-13a2-4a2f-9ce8-93a294fadf36";
const PARTNERS: [&str; 3] = [
    "8777b240-c6f0-4469-9e98-a3205431b836",
    "a0a0a0a0-1111-4222-8333-444444444444",
    "b0b0b0b0-1111-4222-8333-444444444444",
];

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A generated log of `count` sign-ins (`local_percent` of them the tenant's own) behind a fake Graph,
/// and a client for it. The fake must outlive the client's requests.
async fn serve(count: u64, local_percent: Option<u8>) -> (FakeGraph, GraphClient, DateTime<Utc>) {
    let generator = SignInGenerator {
        count,
        start: "2026-07-25T00:00:00Z".parse().unwrap(),
        step_secs: 1,
        partner_tenant_ids: PARTNERS.iter().map(|s| s.to_string()).collect(),
        resource_tenant_id: CUSTOMER.into(),
        local_percent,
    };
    let newest = generator.newest();
    let tenant = FakeTenant {
        generated_sign_ins: Some(generator),
        ..FakeTenant::new(CUSTOMER).with_route(
            "/v1.0/policies/crossTenantAccessPolicy/partners",
            json!({"value": PARTNERS.iter().map(|p| json!({"tenantId": p, "isServiceProvider": true})).collect::<Vec<_>>()}),
        )
    };
    let fake = FakeGraph::start(FakeGraphConfig::new(
        vec![tenant],
        FakeApp::with_secret("bench", "bench-secret"),
    ))
    .await
    .expect("fake graph");
    let endpoints =
        Endpoints::resolve(Default::default(), Some(&fake.url()), Some(&fake.url())).unwrap();
    let mut settings = AuthSettings::new(CUSTOMER, endpoints.clone());
    settings.client_id = Some("bench".into());
    settings.client_secret = Some(SecretString::from("bench-secret"));
    let tokens = auth::provider(settings, reqwest::Client::new()).unwrap();
    // Our own throughput: without the pacing that keeps real tenants under Graph's 5 log requests per 10 s.
    let mut settings = ClientSettings::new(endpoints);
    settings.log_rate = None;
    let client = GraphClient::new(settings, tokens).unwrap();
    (fake, client, newest)
}

async fn through_the_client(count: u64) {
    let (_fake, client, newest) = serve(count, None).await;
    let mut opts = CollectOptions::new(CUSTOMER, newest + Duration::seconds(1), Utc::now());
    opts.perspective = PerspectiveMode::Customer;
    opts.since_days = 3650;

    let started = Instant::now();
    let snap = collect::collect(&client, &opts).await;
    let elapsed = started.elapsed();
    let summary = &snap.customer.as_ref().expect("customer data").sign_ins;
    assert_eq!(summary.scanned, count, "every record read");
    let stats = client.stats();
    println!(
        "client+collector  {count:>8} sign-ins  {:>7.2} s  {:>9.0} records/s  {:>4} requests  snapshot {:>6} bytes  peak RSS {:>6.1} MiB",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        stats.requests,
        snap.to_json().len(),
        peak_rss_mib(),
    );
}

/// The aggregator alone: the per-record cost once a page is decoded.
fn aggregator_only(count: u64) {
    let base: DateTime<Utc> = "2026-07-25T00:00:00Z".parse().unwrap();
    let providers = PARTNERS.iter().map(|s| s.to_string()).collect();
    const COUNTRIES: [&str; 4] = ["US", "GB", "DE", "FR"];
    let records: Vec<SignIn> = (0..1000)
        .map(|i| {
            let country = COUNTRIES[i as usize % 4];
            serde_json::from_value(json!({
                "id": format!("id-{i}"),
                "createdDateTime": base + Duration::seconds(i),
                "crossTenantAccessType": if i % 20 == 0 { "b2bCollaboration,serviceProvider" } else { "serviceProvider" },
                "homeTenantId": PARTNERS[i as usize % 3],
                "authenticationRequirement": if i % 8 == 0 { "singleFactorAuthentication" } else { "multiFactorAuthentication" },
                "status": {"errorCode": if i % 5 == 0 { 50126 } else { 0 }},
                "location": {"countryOrRegion": country},
                "appDisplayName": format!("App {}", i % 12),
                "userPrincipalName": format!("tech{}@partner.example", i % 7),
            }))
            .unwrap()
        })
        .collect();
    let started = Instant::now();
    let mut agg = SignInAggregator::new();
    for i in 0..count {
        agg.add(&records[(i % 1000) as usize], CUSTOMER, &providers);
    }
    let summary = agg.finish();
    let elapsed = started.elapsed();
    assert_eq!(summary.scanned, count);
    println!(
        "aggregator only   {count:>8} sign-ins  {:>7.3} s  {:>9.0} records/s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

/// Two daily scans with history over a log of `count` records, 10 % of them partner sign-ins.
async fn with_history(count: u64) {
    use gdap_audit::collect::SignInSpool;
    use gdap_audit::history::HistoryStore;
    use std::sync::{Arc, Mutex};

    let dir = std::env::temp_dir().join(format!("gdap-audit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = HistoryStore::open(dir.join("history.db")).unwrap();
    // Day 1: the whole log; day 2: one more hour of records, read incrementally.
    for (day, n) in [(1, count), (2, count + 3600)] {
        let (_fake, client, newest) = serve(n, Some(89)).await;
        let as_of = newest + Duration::seconds(1);
        let mut opts = CollectOptions::new(CUSTOMER, as_of, Utc::now());
        opts.perspective = PerspectiveMode::Customer;
        opts.since_days = 30;
        let plan = gdap_audit::audit::incremental::plan(&store, CUSTOMER, opts.window()).unwrap();
        opts.sign_in_watermark = plan.sign_in_watermark;
        opts.audit_watermark = plan.audit_watermark;
        let sink = Arc::new(Mutex::new(SignInSpool::new()));
        opts.partner_sign_ins = Some(sink.clone());

        let started = Instant::now();
        let mut snap = collect::collect(&client, &opts).await;
        let mut spool = std::mem::take(&mut *sink.lock().unwrap());
        let merge =
            gdap_audit::audit::incremental::merge(&store, &mut snap, &plan, &mut spool).unwrap();
        store
            .record_run_and_logs(&snap, &[], snap.collected_at, &mut spool)
            .unwrap();
        let elapsed = started.elapsed();
        let summary = &snap.customer.as_ref().expect("customer data").sign_ins;
        let partner_total: u64 = summary.partners.values().map(|p| p.total).sum();
        println!(
            "history day {day}     {:>8} read  {:>7} spooled  {:>7} partner sign-ins in the window  {:?}  {:>7.2} s  peak RSS {:>6.1} MiB",
            summary.scanned,
            spool.len(),
            partner_total,
            merge.sign_ins,
            elapsed.as_secs_f64(),
            peak_rss_mib(),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "history") {
        let count = args
            .iter()
            .find_map(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(with_history(count));
        return;
    }
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![20_000, 200_000]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for &n in &sizes {
        aggregator_only(n * 10);
    }
    for &n in &sizes {
        runtime.block_on(through_the_client(n));
    }
}
