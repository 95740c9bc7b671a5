//! The partner side's speed: `$batch` fan-out sized to the in-flight limit, assignments asked for while
//! later relationship pages are still being read, the other partner sources read meanwhile.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fake_graph::{FakeApp, FakeGraph, FakeGraphConfig, FakeTenant, Fault, FaultKind};
use gdap_audit::collect::{self, CollectOptions, PerspectiveMode};
use gdap_audit::snapshot::{CoverageStatus, Source};
use serde_json::json;

use crate::common::*;

const PARTNER: &str = "8777b240-c6f0-4469-9e98-a3205431b836";
const RELATIONSHIPS: &str = "/v1.0/tenantRelationships/delegatedAdminRelationships";

/// A partner with `n` relationships, each with one access assignment, and as many customers.
fn partner(n: usize) -> FakeTenant {
    let customer = |i: usize| format!("c0000000-0000-4000-8000-{i:012}");
    let mut t = FakeTenant::new(PARTNER)
        .with_route(
            "/v1.0/organization",
            json!({"value": [{"id": PARTNER, "displayName": "Big Partner", "partnerTenantType": "resellerPartnerDelegatedAdmin"}]}),
        )
        .with_route(
            RELATIONSHIPS,
            json!({"value": (0..n).map(|i| json!({
                "id": format!("rel-{i}"),
                "displayName": format!("Relationship {i}"),
                "status": "active",
                "duration": "P365D",
                "customer": {"tenantId": customer(i), "displayName": format!("Customer {i}")},
                "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "f023fd81-a637-4b56-95fd-791ac0226033"}]},
            })).collect::<Vec<_>>()}),
        )
        .with_route(
            "/v1.0/tenantRelationships/delegatedAdminCustomers",
            json!({"value": (0..n).map(|i| json!({"id": customer(i), "tenantId": customer(i), "displayName": format!("Customer {i}")})).collect::<Vec<_>>()}),
        )
        .with_route("/v1.0/contracts", json!({"value": []}))
        .with_route(
            "/beta/tenantRelationships/managedTenants/myRoles",
            json!({"@fake.status": 403, "error": {"code": "Forbidden", "message": "app-only"}}),
        )
        .with_route("/beta/roleManagement/directory/roleDefinitions", json!({"value": []}));
    for i in 0..n {
        t = t.with_route(
            format!("{RELATIONSHIPS}/rel-{i}/accessAssignments"),
            json!({"value": [{"id": format!("aa-{i}"), "status": "active",
                "accessContainer": {"accessContainerId": format!("g-{i}"), "accessContainerType": "securityGroup"},
                "accessDetails": {"unifiedRoles": [{"roleDefinitionId": "f023fd81-a637-4b56-95fd-791ac0226033"}]}}]}),
        );
    }
    t
}

fn options() -> CollectOptions {
    let at: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
    let mut o = CollectOptions::new(PARTNER, at, at);
    o.perspective = PerspectiveMode::Partner;
    o
}

async fn slow_fake(tenant: FakeTenant, latency: Duration) -> FakeGraph {
    let mut config = FakeGraphConfig::new(vec![tenant], FakeApp::with_secret(CLIENT_ID, SECRET));
    config.latency = Some(latency);
    FakeGraph::start(config).await.unwrap()
}

#[tokio::test]
async fn batches_use_every_permit_of_the_in_flight_limit() {
    // 200 relationships: one page, 10 batches of 20.
    let fake = slow_fake(partner(200), Duration::from_millis(100)).await;
    let c = client_with(&fake, PARTNER, |s| s.max_in_flight = 8);
    let started = Instant::now();
    let snap = collect::collect(&c, &options()).await;
    let took = started.elapsed();
    let p = snap.partner.as_ref().unwrap();
    assert_eq!(p.relationships.len(), 200);
    assert!(
        p.relationships
            .iter()
            .all(|r| r.access_assignments.as_ref().is_some_and(|a| a.len() == 1))
    );
    assert_eq!(
        snap.coverage_of(Source::GdapAccessAssignments)
            .unwrap()
            .status,
        CoverageStatus::Collected
    );

    let reqs = fake.requests();
    let mut batches: Vec<Instant> = reqs
        .iter()
        .filter(|r| r.path() == "/v1.0/$batch")
        .map(|r| r.received_at)
        .collect();
    batches.sort();
    assert_eq!(batches.len(), 10);
    // Eight went out together (two in flight was the old fixed fan-out), the last two after a round trip.
    let together = batches
        .iter()
        .filter(|t| t.duration_since(batches[0]) < Duration::from_millis(80))
        .count();
    assert!(
        (5..=8).contains(&together),
        "{together} batches sent at once"
    );
    // 8 + 2 batches, one relationships page, the other reads alongside: a few round trips.
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn assignments_and_other_sources_do_not_wait_for_the_last_relationship_page() {
    // 400 relationships: two pages of 300 and 100; the second is slow.
    let fake = slow_fake(partner(400), Duration::from_millis(20)).await;
    fake.push_fault(Fault::new(
        "delegatedAdminRelationships?$top=300&$skiptoken",
        1,
        FaultKind::Delay(Duration::from_millis(1500)),
    ));
    let c = client(&fake, PARTNER);
    let snap = collect::collect(&c, &options()).await;
    assert_eq!(snap.partner.as_ref().unwrap().relationships.len(), 400);

    let reqs = fake.requests();
    let second_page = reqs
        .iter()
        .find(|r| r.path() == RELATIONSHIPS && r.query_param("$skiptoken").is_some())
        .expect("a second page")
        .received_at;
    let answered_by = second_page + Duration::from_millis(1400);
    // The first page's 15 batches were all sent while the second page was still on its way.
    let early_batches = reqs
        .iter()
        .filter(|r| r.path() == "/v1.0/$batch" && r.received_at < answered_by)
        .count();
    assert!(
        early_batches >= 15,
        "{early_batches} batches before the second page arrived"
    );
    for path in [
        "/v1.0/tenantRelationships/delegatedAdminCustomers",
        "/v1.0/contracts",
    ] {
        let at = reqs.iter().find(|r| r.path() == path).unwrap().received_at;
        assert!(at < answered_by, "{path} waited for the relationships");
    }
    // And the last 100 relationships' assignments were read too.
    let inner = reqs.iter().filter(|r| r.in_batch).count();
    assert_eq!(inner, 400);
}
