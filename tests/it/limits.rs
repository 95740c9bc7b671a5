//! The fake's emulation of Graph's documented request limits: budgets per tenant and per app,
//! answered 429 with `Retry-After` and counted; inner `$batch` requests counted one by one.

use std::time::{Duration, Instant};

use fake_graph::{Budget, FakeApp, FakeGraph, FakeGraphConfig, FakeTenant, GraphLimits};
use gdap_audit::graph::BatchRequest;
use serde_json::{Value, json};

use crate::common::*;

const A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const AUDITS: &str = "/v1.0/auditLogs/directoryAudits";

fn tenant(id: &str) -> FakeTenant {
    FakeTenant::new(id)
        .with_route(
            AUDITS,
            json!({"value": [{"id": "e1", "activityDateTime": "2026-11-20T10:00:00Z"}]}),
        )
        .with_route("/v1.0/domains", json!({"value": [{"id": "example.com"}]}))
}

async fn limited(tenants: Vec<FakeTenant>, limits: Option<GraphLimits>) -> FakeGraph {
    let mut config = FakeGraphConfig::new(tenants, FakeApp::with_secret(CLIENT_ID, SECRET));
    config.limits = limits;
    FakeGraph::start(config).await.expect("fake graph starts")
}

/// Audit logs: `per_tenant` and `per_app` requests per second; nothing else limited.
fn log_limits(per_tenant: u64, per_app: u64) -> GraphLimits {
    GraphLimits {
        logs_per_tenant: Some(Budget::new(per_tenant, Duration::from_secs(1))),
        logs_per_app: Some(Budget::new(per_app, Duration::from_secs(1))),
        tenant_relationships_per_tenant: None,
        directory_per_tenant: None,
    }
}

#[test]
fn the_documented_limits_are_graphs() {
    let l = GraphLimits::documented();
    assert_eq!(
        l.logs_per_tenant,
        Some(Budget::new(5, Duration::from_secs(10)))
    );
    assert_eq!(
        l.logs_per_app,
        Some(Budget::new(122, Duration::from_secs(10)))
    );
    assert_eq!(
        l.tenant_relationships_per_tenant,
        Some(Budget::new(1000, Duration::from_secs(20)))
    );
}

#[tokio::test]
async fn a_spent_tenant_budget_answers_429_with_retry_after_and_is_counted() {
    let fake = limited(vec![tenant(A)], Some(log_limits(2, 100))).await;
    let c = client(&fake, A);
    let started = Instant::now();
    for _ in 0..3 {
        let page: Value = c
            .get(AUDITS)
            .await
            .expect("read, after waiting when throttled");
        assert_eq!(page["value"][0]["id"], "e1");
    }
    // The third waited for Retry-After (1 s: the window's rest, rounded up) and then went through.
    assert_eq!(fake.throttled_count(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let stats = c.stats();
    assert_eq!((stats.requests, stats.throttled), (4, 1));
    // Other families have budgets of their own.
    let _: Value = c.get("/v1.0/domains").await.unwrap();
    assert_eq!(fake.throttled_count(), 1);
}

#[tokio::test]
async fn the_429_carries_graphs_headers() {
    let fake = limited(vec![tenant(A)], Some(log_limits(1, 100))).await;
    let http = reqwest::Client::new();
    let token = {
        let c = client(&fake, A);
        let _: Value = c.get(AUDITS).await.unwrap();
        fake.issued_token_values().pop().unwrap()
    };
    let r = http
        .get(format!("{}{AUDITS}", fake.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(secs, 1);
    assert!(
        r.headers()["x-ms-throttle-scope"]
            .to_str()
            .unwrap()
            .starts_with("AuditLogs/Tenant/")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(fake.throttled_count(), 1);
}

#[tokio::test]
async fn the_app_wide_log_budget_is_shared_by_every_tenant() {
    let fake = limited(vec![tenant(A), tenant(B)], Some(log_limits(5, 3))).await;
    let (a, b) = (client(&fake, A), client(&fake, B));
    for _ in 0..2 {
        let _: Value = a.get(AUDITS).await.unwrap();
    }
    let _: Value = b.get(AUDITS).await.unwrap();
    assert_eq!(fake.throttled_count(), 0, "3 within the app's 3 per second");
    // Tenant B is far below its own budget, but the app's is spent.
    let _: Value = b.get(AUDITS).await.unwrap();
    assert_eq!(fake.throttled_count(), 1);
}

#[tokio::test]
async fn inner_batch_requests_count_one_by_one() {
    let fake = limited(vec![tenant(A)], Some(log_limits(2, 100))).await;
    let c = client(&fake, A);
    let reqs = (0..3)
        .map(|i| BatchRequest {
            id: i.to_string(),
            url: "/auditLogs/directoryAudits".into(),
        })
        .collect();
    let out = c.batch("v1.0", reqs).await;
    assert!(out.iter().all(|(_, r)| r.is_ok()), "{out:?}");
    // One of the three was over the budget: answered 429 inside the batch, retried after Retry-After.
    assert_eq!(fake.throttled_count(), 1);
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.path() == "/v1.0/$batch")
        .count();
    assert_eq!(posts, 2);
}

#[tokio::test]
async fn directory_requests_spend_resource_units() {
    let limits = GraphLimits {
        directory_per_tenant: Some(Budget::new(4, Duration::from_secs(1))),
        ..log_limits(100, 100)
    };
    let fake = limited(
        vec![tenant(A).with_route("/v1.0/contracts", json!({"value": []}))],
        Some(limits),
    )
    .await;
    let c = client(&fake, A);
    // A contracts read costs 3 units: the second must wait.
    let _: Value = c.get("/v1.0/contracts").await.unwrap();
    let _: Value = c.get("/v1.0/domains").await.unwrap();
    assert_eq!(fake.throttled_count(), 0);
    let _: Value = c.get("/v1.0/contracts").await.unwrap();
    assert_eq!(fake.throttled_count(), 1);
}

#[tokio::test]
async fn without_limits_nothing_is_throttled() {
    let fake = limited(vec![tenant(A)], None).await;
    let c = client(&fake, A);
    for _ in 0..20 {
        let _: Value = c.get(AUDITS).await.unwrap();
    }
    assert_eq!(fake.throttled_count(), 0);
    assert_eq!(c.stats().requests, 20);
}

#[tokio::test]
async fn latency_delays_every_graph_request_once() {
    let mut config = FakeGraphConfig::new(vec![tenant(A)], FakeApp::with_secret(CLIENT_ID, SECRET));
    config.latency = Some(Duration::from_millis(200));
    let fake = FakeGraph::start(config).await.unwrap();
    let c = client(&fake, A);
    c.token_check().await.unwrap();
    let started = Instant::now();
    let _: Value = c.get(AUDITS).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A $batch of ten is one round trip, not ten.
    let reqs = (0..10)
        .map(|i| BatchRequest {
            id: i.to_string(),
            url: "/domains".into(),
        })
        .collect();
    let started = Instant::now();
    let out = c.batch("v1.0", reqs).await;
    let took = started.elapsed();
    assert!(out.iter().all(|(_, r)| r.is_ok()));
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}
