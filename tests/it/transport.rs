//! The Graph transport through the real client against the loopback fake Graph.

use std::time::{Duration, Instant};

use fake_graph::{FakeTenant, Fault, FaultKind};
use futures::TryStreamExt;
use gdap_audit::graph::{BatchRequest, GraphError};
use serde_json::{Value, json};

use crate::common::*;

const TENANT: &str = "aaaaaaaa-0000-4000-8000-000000000001";

fn items(n: usize) -> Value {
    let value: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("item-{i:04}"), "displayName": format!("Item {i}")}))
        .collect();
    json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#contracts", "value": value})
}

fn tenant() -> FakeTenant {
    FakeTenant::new(TENANT)
        .with_route("/v1.0/contracts", items(7))
        .with_route(
            "/v1.0/tenantRelationships/delegatedAdminRelationships",
            items(650),
        )
        .with_route("/v1.0/organization", json!({"value": [{"id": TENANT}]}))
}

#[derive(serde::Deserialize, Debug)]
struct Item {
    id: String,
}

#[tokio::test]
async fn pages_are_followed_verbatim_across_three_or_more_pages() {
    let fake = fake(vec![tenant()]).await;
    let c = client(&fake, TENANT);
    let pages: Vec<Vec<Item>> = c
        .pages("/v1.0/tenantRelationships/delegatedAdminRelationships?$top=300")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![300, 300, 50]
    );
    let ids: Vec<&str> = pages.iter().flatten().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), 650);
    assert_eq!(ids[0], "item-0000");
    assert_eq!(ids[649], "item-0649");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs[1..]
            .iter()
            .all(|r| r.query_param("$skiptoken").is_some()),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .all(|r| r.query_param("$top").as_deref() == Some("300"))
    );
}

#[tokio::test]
async fn every_request_carries_a_fresh_client_request_id_prefer_and_user_agent() {
    let fake = fake(vec![tenant()]).await;
    let c = client(&fake, TENANT);
    let _: Vec<Item> = c.collect_all("/v1.0/contracts?$top=3").await.unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    let ids: std::collections::BTreeSet<_> = reqs
        .iter()
        .map(|r| r.header("client-request-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "client-request-id must be fresh per request");
    for r in &reqs {
        assert_eq!(r.header("prefer"), Some("include-unknown-enum-members"));
        assert!(r.header("user-agent").unwrap().starts_with("gdap-audit/"));
    }
}

#[tokio::test]
async fn a_429_is_retried_only_after_its_retry_after() {
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        1,
        FaultKind::TooManyRequests {
            retry_after: Some("1".into()),
        },
    ));
    let c = client(&fake, TENANT);
    let started = Instant::now();
    let got: Vec<Item> = c.collect_all("/v1.0/contracts").await.unwrap();
    assert_eq!(got.len(), 7);
    let reqs: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/v1.0/contracts")
        .collect();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].received_at.duration_since(reqs[0].received_at);
    assert!(
        gap >= Duration::from_millis(990),
        "retried after {gap:?}, before Retry-After: 1"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(c.stats().throttled, 1);
}

#[tokio::test]
async fn a_429_pauses_the_whole_tenant_not_just_the_request() {
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        1,
        FaultKind::TooManyRequests {
            retry_after: Some("1".into()),
        },
    ));
    let c = client(&fake, TENANT);
    let first = c.get::<Value>("/v1.0/contracts");
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.get::<Value>("/v1.0/organization").await
    };
    let (a, b) = tokio::join!(first, second);
    a.unwrap();
    b.unwrap();
    let reqs = fake.requests();
    let throttled_at = reqs[0].received_at;
    let org = reqs
        .iter()
        .find(|r| r.path() == "/v1.0/organization")
        .unwrap();
    assert!(
        org.received_at.duration_since(throttled_at) >= Duration::from_millis(990),
        "the other request did not wait"
    );
}

#[tokio::test]
async fn a_503_without_retry_after_is_retried_with_backoff_and_504_too() {
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        1,
        FaultKind::ServiceUnavailable { retry_after: None },
    ));
    fake.push_fault(Fault::new("/v1.0/contracts", 1, FaultKind::GatewayTimeout));
    let c = client(&fake, TENANT);
    let got: Vec<Item> = c.collect_all("/v1.0/contracts").await.unwrap();
    assert_eq!(got.len(), 7);
    assert_eq!(c.stats().retries, 2);
}

#[tokio::test]
async fn retries_are_bounded_and_the_error_keeps_status_code_and_request_id() {
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        50,
        FaultKind::ServiceUnavailable {
            retry_after: Some("0".into()),
        },
    ));
    let c = client(&fake, TENANT);
    let err = c.collect_all::<Item>("/v1.0/contracts").await.unwrap_err();
    assert!(
        matches!(err, GraphError::RetriesExhausted { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), Some(503));
    assert!(
        err.request_id().is_some(),
        "request-id kept for support tickets: {err}"
    );
    assert!(err.to_string().contains("/v1.0/contracts"), "{err}");
}

#[tokio::test]
async fn other_4xx_are_not_retried_and_403_and_licence_are_distinguishable() {
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        5,
        FaultKind::Status {
            status: 403,
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges to complete the operation.".into(),
        },
    ));
    let c = client(&fake, TENANT);
    let err = c.get::<Value>("/v1.0/contracts").await.unwrap_err();
    assert!(err.is_forbidden() && !err.is_unlicensed() && !err.is_retryable());
    assert_eq!(err.code(), Some("Authorization_RequestDenied"));
    assert_eq!(fake.requests().len(), 1, "a 403 is not retried");

    fake.clear_faults();
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        1,
        FaultKind::Status {
            status: 403,
            code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant".into(),
            message: "Neither tenant is B2C or tenant doesn't have premium license".into(),
        },
    ));
    let err = c.get::<Value>("/v1.0/contracts").await.unwrap_err();
    assert!(err.is_unlicensed() && !err.is_forbidden());

    let err = c.get::<Value>("/v1.0/nothing/here").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_the_call_completes() {
    let fake = fake(vec![tenant()]).await;
    let c = client(&fake, TENANT);
    let _: Value = c.get("/v1.0/organization").await.unwrap();
    assert_eq!(fake.issued_tokens(), 1);
    fake.revoke_tokens();
    let got: Vec<Item> = c.collect_all("/v1.0/contracts").await.unwrap();
    assert_eq!(got.len(), 7);
    assert_eq!(fake.issued_tokens(), 2);
    assert_eq!(c.stats().token_refreshes, 1);

    // A token revoked on every request: refreshed once, then the 401 is reported, not looped on.
    fake.push_fault(Fault::new(
        "/v1.0/organization",
        10,
        FaultKind::TokenRevoked,
    ));
    let err = c.get::<Value>("/v1.0/organization").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some("InvalidAuthenticationToken"));
}

#[tokio::test]
async fn concurrent_401s_refresh_the_token_once() {
    let fake = fake(vec![tenant()]).await;
    let c = client(&fake, TENANT);
    let _: Value = c.get("/v1.0/organization").await.unwrap();
    fake.revoke_tokens();
    let calls = (0..8).map(|_| c.get::<Value>("/v1.0/organization"));
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(
        fake.issued_tokens(),
        2,
        "one refresh for eight rejected requests"
    );
}

#[tokio::test]
async fn a_truncated_body_is_an_error_naming_the_url_never_fewer_items() {
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new("/v1.0/contracts", 10, FaultKind::TruncatedBody));
    let c = client(&fake, TENANT);
    let err = c.collect_all::<Item>("/v1.0/contracts").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/v1.0/contracts"), "{text}");
    assert!(text.contains("truncated"), "{text}");

    // Truncated once: the retry reads the whole page.
    fake.clear_faults();
    fake.push_fault(Fault::new("/v1.0/contracts", 1, FaultKind::TruncatedBody));
    assert_eq!(
        c.collect_all::<Item>("/v1.0/contracts")
            .await
            .unwrap()
            .len(),
        7
    );
}

#[tokio::test]
async fn hostile_pages_are_rejected_without_a_crash() {
    let fake = fake(vec![tenant()]).await;
    let c = client_with(&fake, TENANT, |s| s.max_body_bytes = 1024 * 1024);
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        1,
        FaultKind::DeeplyNested { depth: 100_000 },
    ));
    let err = c.collect_all::<Value>("/v1.0/contracts").await.unwrap_err();
    assert!(matches!(err, GraphError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("/v1.0/contracts"), "{err}");

    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        1,
        FaultKind::HugeString {
            bytes: 8 * 1024 * 1024,
        },
    ));
    let err = c.collect_all::<Value>("/v1.0/contracts").await.unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");

    // The client is still usable afterwards.
    assert_eq!(
        c.collect_all::<Item>("/v1.0/contracts")
            .await
            .unwrap()
            .len(),
        7
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let next = "https://evil.example.com/v1.0/contracts?$skiptoken=x";
    let t = FakeTenant::new(TENANT).with_route(
        "/v1.0/contracts",
        json!({"value": [{"id": "a"}], "@odata.nextLink": next}),
    );
    let fake = fake(vec![t]).await;
    let c = client(&fake, TENANT);
    let err = c.collect_all::<Item>("/v1.0/contracts").await.unwrap_err();
    assert!(err.to_string().contains("refusing to follow"), "{err}");
}

#[tokio::test]
async fn fan_out_respects_the_in_flight_limit() {
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/organization",
        6,
        FaultKind::Delay(Duration::from_millis(300)),
    ));
    let c = client_with(&fake, TENANT, |s| s.max_in_flight = 2);
    let calls = (0..6).map(|_| c.get::<Value>("/v1.0/organization"));
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let mut at: Vec<Instant> = fake.requests().iter().map(|r| r.received_at).collect();
    at.sort();
    // With two in flight and 300 ms each, the third request cannot start before the first ends.
    assert!(
        at[2].duration_since(at[0]) >= Duration::from_millis(250),
        "{:?}",
        at[2].duration_since(at[0])
    );
    assert!(at[4].duration_since(at[2]) >= Duration::from_millis(250));
}

#[tokio::test]
async fn batch_splits_by_twenty_and_retries_throttled_items() {
    let mut t = tenant();
    for i in 0..25 {
        t = t.with_route(
            format!("/v1.0/things/{i}"),
            json!({"id": format!("thing-{i}")}),
        );
    }
    let fake = fake(vec![t]).await;
    fake.push_fault(Fault::new(
        "/v1.0/things/3",
        1,
        FaultKind::TooManyRequests {
            retry_after: Some("1".into()),
        },
    ));
    let c = client(&fake, TENANT);
    let mut reqs: Vec<BatchRequest> = (0..25)
        .map(|i| BatchRequest {
            id: i.to_string(),
            url: format!("/things/{i}"),
        })
        .collect();
    reqs.push(BatchRequest {
        id: "missing".into(),
        url: "/things/none".into(),
    });
    let out = c.batch("v1.0", reqs).await;
    assert_eq!(out.len(), 26);
    for (id, r) in &out[..25] {
        assert_eq!(r.as_ref().unwrap()["id"], format!("thing-{id}"));
    }
    assert!(out[25].1.as_ref().unwrap_err().is_not_found());
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path() == "/v1.0/$batch")
        .count();
    assert_eq!(
        posts, 3,
        "two batches of <= 20, plus one retry round for the throttled item"
    );
}

#[tokio::test]
async fn a_503_is_retried_over_a_new_connection_while_paging_reuses_one() {
    let fake = fake(vec![tenant()]).await;
    let c = client(&fake, TENANT);
    let pages: Vec<Vec<Item>> = c
        .pages("/v1.0/tenantRelationships/delegatedAdminRelationships?$top=300")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    let ports: Vec<_> = fake
        .requests()
        .iter()
        .map(|r| r.peer_port.unwrap())
        .collect();
    assert!(
        ports.iter().all(|p| *p == ports[0]),
        "pages reuse the connection: {ports:?}"
    );

    fake.clear_requests();
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        1,
        FaultKind::ServiceUnavailable {
            retry_after: Some("0".into()),
        },
    ));
    let _: Vec<Item> = c.collect_all("/v1.0/contracts").await.unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_ne!(
        reqs[0].peer_port, reqs[1].peer_port,
        "Graph asks for a new connection after a 503"
    );
}

#[tokio::test]
async fn audit_log_requests_are_paced_to_the_reports_limit() {
    let t = tenant().with_route("/v1.0/auditLogs/directoryAudits", json!({"value": []}));
    let fake = fake(vec![t]).await;
    let c = client_with(&fake, TENANT, |s| {
        s.log_rate = Some((2, Duration::from_millis(400)))
    });
    for _ in 0..5 {
        let _: Value = c.get("/v1.0/auditLogs/directoryAudits").await.unwrap();
        let _: Value = c.get("/v1.0/organization").await.unwrap();
    }
    let logs: Vec<Instant> = fake
        .requests()
        .iter()
        .filter(|r| r.path().contains("/auditLogs/"))
        .map(|r| r.received_at)
        .collect();
    assert_eq!(logs.len(), 5);
    // The client paces the start of its requests; the fake sees their arrival, which a loaded machine
    // delays by some tens of milliseconds. Unpaced, these gaps would be about a millisecond.
    for i in 2..5 {
        let gap = logs[i].duration_since(logs[i - 2]);
        assert!(
            gap >= Duration::from_millis(300),
            "no more than 2 per 400 ms: {gap:?}"
        );
    }
    let all = logs[4].duration_since(logs[0]);
    assert!(
        all >= Duration::from_millis(700),
        "5 requests span two windows: {all:?}"
    );
    // Other requests are not held back by the log pacing.
    let others = fake
        .requests()
        .iter()
        .filter(|r| r.path() == "/v1.0/organization")
        .count();
    assert_eq!(others, 5);
}

#[tokio::test]
async fn the_token_never_goes_to_a_url_off_the_graph_endpoint() {
    let fake = fake(vec![tenant()]).await;
    let c = client(&fake, TENANT);
    let err = c
        .get::<Value>("https://evil.example.com/v1.0/contracts")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("refusing to send the Graph token"),
        "{err}"
    );
    // A look-alike host that merely starts with the Graph root is refused too.
    let err = c
        .get::<Value>(&format!("{}.evil.example/v1.0/contracts", fake.url()))
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Invalid(_)), "{err:?}");
    assert!(fake.requests().is_empty());
    assert_eq!(
        fake.issued_tokens(),
        0,
        "refused before a token was even fetched"
    );
}

// ---- Trustworthy under dead endpoints and hostile paging ----

/// A port nothing listens on: bind, read the port, drop the listener.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client with a ready token (no token endpoint involved) and the default retry policy.
fn ready_token_client(graph: &str) -> gdap_audit::graph::GraphClient {
    use gdap_audit::auth::{self, AuthSettings};
    use gdap_audit::graph::{ClientSettings, Endpoints, GraphClient};
    let endpoints = Endpoints::resolve(Default::default(), Some(graph), Some(graph)).unwrap();
    let mut s = AuthSettings::new(TENANT, endpoints.clone());
    s.access_token = Some(secrecy::SecretString::from("opaque-ready-token"));
    let tokens = auth::provider(s, reqwest::Client::new()).unwrap();
    GraphClient::new(ClientSettings::new(endpoints), tokens).unwrap()
}

/// #1: a Graph endpoint that refuses connections fails within seconds (not 86 s of backoff), with an
/// error that says so and names the URL; `probe()` reports it the same way.
#[tokio::test]
async fn unreachable_graph_fails_fast_naming_the_url() {
    let graph = format!("http://127.0.0.1:{}", closed_port());
    let c = ready_token_client(&graph);
    let started = Instant::now();
    let err = c
        .get::<Value>("/v1.0/tenantRelationships/delegatedAdminRelationships")
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(err.is_unreachable(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "{graph}/v1.0/tenantRelationships/delegatedAdminRelationships"
        )),
        "{text}"
    );
    assert!(!text.contains("opaque-ready-token"), "{text}");
    assert_eq!(
        err.unreachable_url(),
        Some(format!("{graph}/v1.0/tenantRelationships/delegatedAdminRelationships").as_str())
    );

    let started = Instant::now();
    let err = c.probe().await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// #1: `probe()` succeeds whenever Graph answers, even with an error status; other failures (a 503
/// that stays) are not mistaken for an unreachable endpoint.
#[tokio::test]
async fn probe_passes_when_graph_answers() {
    let fake = fake(vec![tenant()]).await;
    let c = client(&fake, TENANT);
    c.probe().await.unwrap();
    fake.push_fault(Fault::new(
        "/v1.0/organization",
        1,
        FaultKind::Status {
            status: 403,
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges.".into(),
        },
    ));
    c.probe().await.unwrap();
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        10,
        FaultKind::ServiceUnavailable { retry_after: None },
    ));
    let err = c.get::<Value>("/v1.0/contracts").await.unwrap_err();
    assert!(!err.is_unreachable(), "{err:?}");
    assert_eq!(err.status(), Some(503));
}

/// A page of one item whose nextLink is `next` (absolute), served verbatim.
fn linked_page(id: &str, next: Option<String>) -> FaultKind {
    let mut body = json!({"value": [{"id": id}]});
    if let Some(next) = next {
        body["@odata.nextLink"] = json!(next);
    }
    FaultKind::RawBody {
        status: 200,
        body: body.to_string(),
    }
}

/// Reads a collection page by page until the end or the first error, within 20 s: paging that
/// never ends is the defect, so the test fails instead of hanging.
async fn read_until_error(
    c: &gdap_audit::graph::GraphClient,
    path: &str,
) -> (Vec<String>, Option<GraphError>) {
    let read = async {
        let mut pages = std::pin::pin!(c.pages::<Item>(path));
        let mut ids = Vec::new();
        loop {
            match pages.try_next().await {
                Ok(Some(page)) => ids.extend(page.into_iter().map(|i| i.id)),
                Ok(None) => return (ids, None),
                Err(e) => return (ids, Some(e)),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("paging ends")
}

/// #10: two nextLinks pointing at each other (A -> B -> A) end the collection with a clear error
/// after two requests, instead of paging forever.
#[tokio::test]
async fn cyclic_next_links_end_with_an_error() {
    let fake = fake(vec![tenant()]).await;
    let base = fake.url();
    fake.push_fault(Fault::new(
        "/v1.0/loopA",
        u32::MAX,
        linked_page("a", Some(format!("{base}/v1.0/loopB"))),
    ));
    fake.push_fault(Fault::new(
        "/v1.0/loopB",
        u32::MAX,
        linked_page("b", Some(format!("{base}/v1.0/loopA"))),
    ));
    let c = client(&fake, TENANT);
    let started = Instant::now();
    let (ids, err) = read_until_error(&c, "/v1.0/loopA").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(ids, vec!["a", "b"]);
    let err = err.expect("the loop is an error");
    assert!(matches!(err, GraphError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("paging loop"), "{err}");
    assert_eq!(fake.requests().len(), 2);
    // The default page bound is finite.
    assert_eq!(
        gdap_audit::graph::ClientSettings::new(endpoints(&fake)).max_pages,
        100_000
    );
}

/// #10: a chain of ever-new nextLinks stops at `max_pages` with a clear error.
#[tokio::test]
async fn endless_next_links_stop_at_the_page_bound() {
    let fake = fake(vec![tenant()]).await;
    let base = fake.url();
    for i in 0..30 {
        fake.push_fault(Fault::new(
            format!("/v1.0/grow/p{i:03}"),
            1,
            linked_page(
                &format!("p{i:03}"),
                Some(format!("{base}/v1.0/grow/p{:03}", i + 1)),
            ),
        ));
    }
    let c = client_with(&fake, TENANT, |s| s.max_pages = 20);
    let (ids, err) = read_until_error(&c, "/v1.0/grow/p000").await;
    assert_eq!(ids.len(), 20);
    let err = err.expect("the bound is an error");
    assert!(err.to_string().contains("more than 20 pages"), "{err}");
    assert_eq!(fake.requests().len(), 20);
}

/// Microsoft's published beta sign-in example repeats keys (`homeTenantId`, `uniqueTokenIdentifier`,
/// `isTenantRestricted`).
const SIGN_IN_WITH_REPEATED_KEYS: &str = r#"{
  "@odata.context": "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns",
  "value": [
    {
      "id": "66ea54eb-6301-4ee5-be62-ff5a759b0100",
      "createdDateTime": "2026-08-15T19:15:41Z",
      "userPrincipalName": "alex@northwindcsp.onmicrosoft.com",
      "userId": "26be570a-ae82-4189-b4e2-a37c6808512d",
      "appDisplayName": "Azure Portal",
      "ipAddress": "131.107.159.37",
      "isInteractive": true,
      "signInEventTypes": ["interactiveUser"],
      "crossTenantAccessType": "serviceProvider",
      "homeTenantId": "52eaad04-13a2-4a2f-9ce8-93a294fadf36",
      "uniqueTokenIdentifier": "ZTE0OTk3YTQtZjg5Mi00YjBiLWIwNTEtZmI3MTM1ZDhjNzM2",
      "isTenantRestricted": false,
      "homeTenantId": "8777b240-c6f0-4469-9e98-a3205431b836",
      "homeTenantName": "",
      "resourceTenantId": "52eaad04-13a2-4a2f-9ce8-93a294fadf36",
      "uniqueTokenIdentifier": "ZTE0OTk3YTQtZjg5Mi00YjBiLWIwNTEtZmI3MTM1ZDhjNzM2",
      "isTenantRestricted": false,
      "incomingTokenType": "none",
      "authenticationRequirement": "multiFactorAuthentication",
      "status": { "errorCode": 0, "failureReason": "Other.", "additionalDetails": null },
      "location": { "city": "Redmond", "state": "Washington", "countryOrRegion": "US" }
    },
    {
      "id": "second",
      "createdDateTime": "2026-08-15T19:16:41Z",
      "homeTenantId": "8777b240-c6f0-4469-9e98-a3205431b836",
      "resourceTenantId": "52eaad04-13a2-4a2f-9ce8-93a294fadf36"
    }
  ]
}"#;

/// #5: a sign-in repeating keys is kept (last value wins, as in Microsoft's SDKs), not lost as
/// "duplicate field", through the real client and `Lenient`.
#[tokio::test]
async fn sign_ins_with_repeated_keys_are_kept_last_value_wins() {
    use gdap_audit::graph::Lenient;
    use gdap_audit::model::logs::SignIn;
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new(
        "/beta/auditLogs/signIns",
        1,
        FaultKind::RawBody {
            status: 200,
            body: SIGN_IN_WITH_REPEATED_KEYS.into(),
        },
    ));
    let c = client(&fake, TENANT);
    let items: Vec<Lenient<SignIn>> = c.collect_all("/beta/auditLogs/signIns").await.unwrap();
    let signs: Vec<&SignIn> = items
        .iter()
        .map(|l| match l {
            Lenient::Item(s) => s,
            Lenient::Invalid(e) => panic!("record lost: {e}"),
        })
        .collect();
    assert_eq!(signs.len(), 2);
    assert_eq!(
        signs[0].home_tenant_id.as_deref(),
        Some("8777b240-c6f0-4469-9e98-a3205431b836")
    );
    assert_eq!(
        signs[0].cross_tenant_access_type.as_deref(),
        Some("serviceProvider")
    );
    assert_eq!(signs[1].id, "second");
}

/// #5: a plain (non-lenient) decode accepts repeated keys too, last value wins.
#[tokio::test]
async fn single_objects_with_repeated_keys_decode_last_value_wins() {
    let fake = fake(vec![tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/organization",
        1,
        FaultKind::RawBody {
            status: 200,
            body: r#"{"id":"first","id":"last"}"#.into(),
        },
    ));
    let c = client(&fake, TENANT);
    let org: Item = c.get("/v1.0/organization").await.unwrap();
    assert_eq!(org.id, "last");
}

/// The client hands out its token's tenant id (`tid`): `None` for the fake's opaque tokens, the
/// lower-cased GUID for a JWT.
#[tokio::test]
async fn token_tenant_id_through_the_client() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use gdap_audit::auth::{self, AuthSettings};
    use gdap_audit::graph::{ClientSettings, GraphClient};
    let fake = fake(vec![tenant()]).await;
    assert_eq!(client(&fake, TENANT).token_tenant_id().await.unwrap(), None);

    let claims = json!({"tid": "8777B240-C6F0-4469-9E98-A3205431B836", "exp": 4_000_000_000u64});
    let jwt = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut s = AuthSettings::new(TENANT, endpoints(&fake));
    s.access_token = Some(secrecy::SecretString::from(jwt));
    let tokens = auth::provider(s, reqwest::Client::new()).unwrap();
    let c = GraphClient::new(ClientSettings::new(endpoints(&fake)), tokens).unwrap();
    assert_eq!(
        c.token_tenant_id().await.unwrap().as_deref(),
        Some("8777b240-c6f0-4469-9e98-a3205431b836")
    );
}
