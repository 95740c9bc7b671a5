//! Azure Resource Manager through the real client against the fake's ARM root: every ARM source on both
//! sides, paging over `nextLink`, 429 with Retry-After, 403, unknown fields, the ARM token audience, the
//! coverage of a run that cannot or does not audit Azure, and the Azure rules on what was read.

use chrono::{DateTime, Utc};
use fake_graph::{FakeGraph, FakeTenant, Fault, FaultKind};
use gdap_audit::auth;
use gdap_audit::collect::{self, AzureAccess, CollectOptions, PerspectiveMode};
use gdap_audit::config::Config;
use gdap_audit::evaluate::{Evaluation, evaluate};
use gdap_audit::graph::{ClientSettings, GraphClient};
use gdap_audit::rules::HistoryView;
use gdap_audit::snapshot::{CoverageStatus, Perspective, Snapshot, Source};
use serde_json::json;

use crate::common::*;

const CONTOSO: &str = "d633cdca-b6b0-402c-829f-db278bdc2179";
const NORTHWIND: &str = "5c9b1e7a-913b-4929-bad8-c37a2dbcdfb5";
const ADATUM: &str = "923df93c-0a5e-4a3f-8bff-97448edfee22";
const PROD: &str = "6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b";

fn as_of() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A client rooted at the fake's ARM root with tokens asked for `{arm}/.default`.
fn arm_client(fake: &FakeGraph, tenant: &str) -> GraphClient {
    let endpoints = endpoints(fake).for_resource(&fake.arm_url());
    let mut s = secret_settings(fake, tenant);
    s.endpoints = endpoints.clone();
    let tokens = auth::provider(s, reqwest::Client::new()).unwrap();
    let mut settings = ClientSettings::new(endpoints);
    settings.retry = quick_retry();
    GraphClient::new(settings, tokens).unwrap()
}

fn options(
    tenant: &str,
    perspective: PerspectiveMode,
    azure: Option<AzureAccess>,
) -> CollectOptions {
    let mut o = CollectOptions::new(tenant, as_of(), as_of());
    o.perspective = perspective;
    o.azure = azure;
    o
}

async fn customer_scan(fake: &FakeGraph, tenant: &str) -> Snapshot {
    let opts = options(
        tenant,
        PerspectiveMode::Customer,
        Some(AzureAccess::Client(arm_client(fake, tenant))),
    );
    collect::collect(&client(fake, tenant), &opts).await
}

fn cov(snap: &Snapshot, s: Source) -> gdap_audit::snapshot::Coverage {
    snap.coverage_of(s)
        .unwrap_or_else(|| panic!("no coverage for {s}: {:#?}", snap.coverage))
        .clone()
}

fn eval(snap: &Snapshot) -> Evaluation {
    let config = Config::from_toml_str(
        &std::fs::read_to_string(repo("fixtures/demo/gdap-audit.toml")).unwrap(),
        "demo",
    )
    .unwrap();
    evaluate(snap, &config, &HistoryView::default(), as_of())
}

fn rule_findings<'a>(e: &'a Evaluation, id: &str) -> Vec<&'a gdap_audit::rules::Finding> {
    e.findings.iter().filter(|f| f.rule_id == id).collect()
}

#[tokio::test]
async fn customer_side_reads_subscriptions_delegations_and_foreign_principals() {
    let fake = fake(vec![tenant_dir("fixtures/demo/customer")]).await;
    let snap = customer_scan(&fake, CONTOSO).await;
    for s in [
        Source::AzureSubscriptions,
        Source::AzureLighthouse,
        Source::AzureRoleAssignments,
    ] {
        assert_eq!(cov(&snap, s).status, CoverageStatus::Collected, "{s}");
    }
    assert!(
        snap.coverage_of(Source::AzureDelegatedSubscriptions)
            .is_none()
    );
    assert_eq!(cov(&snap, Source::AzureSubscriptions).items, Some(2));
    let azure = snap.customer.as_ref().unwrap().azure.as_ref().unwrap();
    let prod = azure
        .subscriptions
        .iter()
        .find(|s| s.subscription.subscription_id == PROD)
        .unwrap();
    let delegation = &prod.delegations.as_ref().unwrap()[0];
    assert_eq!(delegation.managed_by().as_deref(), Some(NORTHWIND));
    // Only the foreign principal is kept: the User and Group assignments are the tenant's own.
    let foreign = prod.foreign_role_assignments.as_ref().unwrap();
    assert_eq!(foreign.len(), 1);
    assert_eq!(
        foreign[0].properties.principal_type.as_deref(),
        Some("ForeignGroup")
    );

    // The subscriptions list is paged (one per page) and followed over ARM's plain nextLink; every
    // request carries its api-version, Lighthouse asks for the expanded definition, role assignments
    // for the scope and above only.
    let reqs: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path().starts_with("/arm/"))
        .collect();
    let subs: Vec<_> = reqs
        .iter()
        .filter(|r| r.path() == "/arm/subscriptions")
        .collect();
    assert_eq!(subs.len(), 2, "two pages: {subs:#?}");
    assert_eq!(subs[1].query_param("$skiptoken").as_deref(), Some("1"));
    assert!(reqs.iter().all(|r| r.query_param("api-version").is_some()));
    let lh: Vec<_> = reqs
        .iter()
        .filter(|r| r.path().ends_with("/registrationAssignments"))
        .collect();
    assert_eq!(lh.len(), 2);
    assert!(lh.iter().all(|r| {
        r.query_param("$expandRegistrationDefinition").as_deref() == Some("true")
            && r.query_param("api-version").as_deref() == Some("2022-10-01")
    }));
    assert!(
        reqs.iter()
            .filter(|r| r.path().ends_with("/roleAssignments"))
            .all(|r| r.query_param("$filter").as_deref() == Some("atScope()"))
    );

    // The rules on what was read: the DAP-era Owner attributed to A. Datum through its directory roles,
    // the permanent Contributor of Northwind's delegation; Northwind is an approved partner in the config.
    let e = eval(&snap);
    let dap = rule_findings(&e, "azure-legacy-dap-owner");
    assert_eq!(dap.len(), 1, "{:#?}", e.findings);
    assert_eq!(dap[0].partner_tenant_id.as_deref(), Some(ADATUM));
    assert!(
        dap[0]
            .message
            .contains("Owner on subscription Contoso-Production")
    );
    let lh = rule_findings(&e, "lighthouse-privileged-delegation");
    assert_eq!(lh.len(), 1);
    assert_eq!(lh[0].partner_tenant_id.as_deref(), Some(NORTHWIND));
    assert_eq!(lh[0].severity.as_str(), "high");
    assert!(
        lh[0].message.contains("permanent Contributor"),
        "{}",
        lh[0].message
    );
    assert!(rule_findings(&e, "lighthouse-delegation-to-unknown-tenant").is_empty());
    assert!(e.coverage.iter().all(|c| !c.is_gap()), "{:#?}", e.coverage);
}

#[tokio::test]
async fn partner_side_sees_the_customer_subscriptions_delegated_to_it() {
    let fake = fake(vec![tenant_dir("fixtures/demo/partner")]).await;
    let opts = options(
        NORTHWIND,
        PerspectiveMode::Partner,
        Some(AzureAccess::Client(arm_client(&fake, NORTHWIND))),
    );
    let snap = collect::collect(&client(&fake, NORTHWIND), &opts).await;
    let c = cov(&snap, Source::AzureDelegatedSubscriptions);
    assert_eq!(c.status, CoverageStatus::Collected);
    assert_eq!(c.items, Some(1));
    assert!(snap.coverage_of(Source::AzureSubscriptions).is_none());
    let azure = snap.partner.as_ref().unwrap().azure.as_ref().unwrap();
    // Its own subscription is not a delegation; Contoso's is.
    assert_eq!(azure.subscriptions.len(), 1);
    assert_eq!(
        azure.subscriptions[0].subscription.tenant_id.as_deref(),
        Some(CONTOSO)
    );
    let e = eval(&snap);
    let lh = rule_findings(&e, "lighthouse-privileged-delegation");
    assert_eq!(lh.len(), 1, "{:#?}", e.findings);
    assert_eq!(lh[0].customer_tenant_id.as_deref(), Some(CONTOSO));
    assert_eq!(lh[0].subject.id, CONTOSO);
}

#[tokio::test]
async fn throttling_429_is_retried_after_retry_after() {
    let fake = fake(vec![tenant_dir("fixtures/demo/customer")]).await;
    fake.push_fault(Fault::new(
        "/subscriptions?api-version",
        1,
        FaultKind::TooManyRequests {
            retry_after: Some("1".into()),
        },
    ));
    fake.push_fault(Fault::new(
        "/providers/Microsoft.ManagedServices/registrationAssignments",
        1,
        FaultKind::TooManyRequests {
            retry_after: Some("1".into()),
        },
    ));
    let arm = arm_client(&fake, CONTOSO);
    let opts = options(
        CONTOSO,
        PerspectiveMode::Customer,
        Some(AzureAccess::Client(arm.clone())),
    );
    let started = std::time::Instant::now();
    let snap = collect::collect(&client(&fake, CONTOSO), &opts).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    for s in [Source::AzureSubscriptions, Source::AzureLighthouse] {
        assert_eq!(cov(&snap, s).status, CoverageStatus::Collected, "{s}");
    }
    assert_eq!(arm.stats().throttled, 2);
}

#[tokio::test]
async fn forbidden_role_assignments_are_denied_with_the_azure_role_to_grant() {
    let fake = fake(vec![tenant_dir("fixtures/demo/customer")]).await;
    fake.push_fault(Fault::new(
        "/providers/Microsoft.Authorization/roleAssignments",
        2,
        FaultKind::Status {
            status: 403,
            code: "AuthorizationFailed".into(),
            message: "The client does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/read'.".into(),
        },
    ));
    let snap = customer_scan(&fake, CONTOSO).await;
    let c = cov(&snap, Source::AzureRoleAssignments);
    assert_eq!(c.status, CoverageStatus::Denied);
    assert_eq!(c.graph_code.as_deref(), Some("AuthorizationFailed"));
    assert!(c.request_id.is_some(), "ARM's x-ms-request-id is kept");
    let d = c.detail.unwrap();
    assert!(d.contains("Reader") && d.contains("Azure role"), "{d}");
    assert!(!d.contains("admin consent"), "{d}");
    // The other ARM sources are unaffected; the rule that needed the denied one is not evaluated.
    assert_eq!(
        cov(&snap, Source::AzureLighthouse).status,
        CoverageStatus::Collected
    );
    let e = eval(&snap);
    assert!(rule_findings(&e, "azure-legacy-dap-owner").is_empty());
    let gap = e
        .coverage
        .iter()
        .find(|c| c.coverage.source == Source::AzureRoleAssignments)
        .unwrap();
    assert!(gap.is_gap());
    assert!(
        gap.rules_not_evaluated
            .contains(&"azure-legacy-dap-owner".to_owned())
    );
    assert_eq!(
        rule_findings(&e, "lighthouse-privileged-delegation").len(),
        1
    );
}

#[tokio::test]
async fn a_refused_subscriptions_list_fails_every_azure_source() {
    let fake = fake(vec![tenant_dir("fixtures/demo/customer")]).await;
    fake.push_fault(Fault::new(
        "/subscriptions?api-version",
        1,
        FaultKind::Status {
            status: 403,
            code: "AuthorizationFailed".into(),
            message: "no".into(),
        },
    ));
    let snap = customer_scan(&fake, CONTOSO).await;
    for s in [
        Source::AzureSubscriptions,
        Source::AzureLighthouse,
        Source::AzureRoleAssignments,
    ] {
        assert_eq!(cov(&snap, s).status, CoverageStatus::Denied, "{s}");
    }
    // Graph sources are untouched.
    assert_eq!(
        cov(&snap, Source::XtapPartners).status,
        CoverageStatus::Collected
    );
}

#[tokio::test]
async fn unknown_fields_and_values_are_read_leniently() {
    let sub = "11111111-0000-4000-8000-000000000001";
    let other = "99999999-0000-4000-8000-000000000009";
    let tenant = FakeTenant::new(CONTOSO)
        .with_route(
            "/subscriptions",
            json!({"value": [{"subscriptionId": sub, "tenantId": CONTOSO, "displayName": "S",
                "state": "SomeFutureState", "brandNewField": {"nested": [1, 2]}, "managedByTenants": null}],
                "count": {"type": "Total", "value": 1}}),
        )
        .with_route(
            format!("/subscriptions/{sub}/providers/Microsoft.ManagedServices/registrationAssignments"),
            json!({"value": [{"id": format!("/subscriptions/{sub}/providers/Microsoft.ManagedServices/registrationAssignments/a1"),
                "properties": {"provisioningState": "SomethingNew", "futureProperty": true,
                    "registrationDefinition": {"properties": {"managedByTenantId": other,
                        "authorizations": [{"principalId": "p", "roleDefinitionId": "b24988ac-6180-42a0-ab88-20f7382dd24c", "newKnob": 3}],
                        "eligibleAuthorizations": null}}}}]}),
        )
        .with_route(
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments"),
            json!({"value": [{"id": "/providers/Microsoft.Authorization/roleAssignments/r1",
                "properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                    "principalId": "fp", "principalType": "ForeignGroup", "conditionVersion": "9.9"}}]}),
        );
    let fake = fake(vec![tenant]).await;
    let snap = customer_scan(&fake, CONTOSO).await;
    for s in [
        Source::AzureSubscriptions,
        Source::AzureLighthouse,
        Source::AzureRoleAssignments,
    ] {
        assert_eq!(cov(&snap, s).status, CoverageStatus::Collected, "{s}");
    }
    let e = eval(&snap);
    // A root-scope Owner of an unattributed foreign principal, and a delegation to a tenant the
    // configuration does not list.
    let dap = rule_findings(&e, "azure-legacy-dap-owner");
    assert_eq!(dap.len(), 1);
    assert_eq!(dap[0].subject.id, "fp");
    assert!(dap[0].message.contains("root"), "{}", dap[0].message);
    let unknown = rule_findings(&e, "lighthouse-delegation-to-unknown-tenant");
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].partner_tenant_id.as_deref(), Some(other));
}

/// An assignment made at the root (or a management group) is returned under every subscription below it:
/// one assignment in the finding, not one per subscription.
#[tokio::test]
async fn an_inherited_assignment_counts_once() {
    let subs = [
        "11111111-0000-4000-8000-000000000001",
        "11111111-0000-4000-8000-000000000002",
    ];
    let owner = json!({"value": [{"id": "/providers/Microsoft.Authorization/roleAssignments/r1",
        "properties": {"roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            "principalId": "fp", "principalType": "ForeignGroup", "scope": "/"}}]});
    let mut tenant = FakeTenant::new(CONTOSO).with_route(
        "/subscriptions",
        json!({"value": subs.iter().map(|s| json!({"subscriptionId": s, "tenantId": CONTOSO})).collect::<Vec<_>>()}),
    );
    for s in subs {
        tenant = tenant
            .with_route(
                format!(
                    "/subscriptions/{s}/providers/Microsoft.ManagedServices/registrationAssignments"
                ),
                json!({"value": []}),
            )
            .with_route(
                format!("/subscriptions/{s}/providers/Microsoft.Authorization/roleAssignments"),
                owner.clone(),
            );
    }
    let fake = fake(vec![tenant]).await;
    let e = eval(&customer_scan(&fake, CONTOSO).await);
    let dap = rule_findings(&e, "azure-legacy-dap-owner");
    assert_eq!(dap.len(), 1, "{dap:#?}");
    let assignments = dap[0].evidence.get("assignments").unwrap();
    assert_eq!(assignments.as_array().unwrap().len(), 1, "{assignments}");
}

#[tokio::test]
async fn an_undecodable_item_fails_the_source_instead_of_dropping_it() {
    let sub = "11111111-0000-4000-8000-000000000001";
    let tenant = FakeTenant::new(CONTOSO)
        .with_route(
            "/subscriptions",
            json!({"value": [{"subscriptionId": sub, "tenantId": CONTOSO}]}),
        )
        .with_route(
            format!(
                "/subscriptions/{sub}/providers/Microsoft.ManagedServices/registrationAssignments"
            ),
            json!({"value": [[1, 2]]}),
        )
        .with_route(
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments"),
            json!({"value": []}),
        );
    let fake = fake(vec![tenant]).await;
    let snap = customer_scan(&fake, CONTOSO).await;
    let c = cov(&snap, Source::AzureLighthouse);
    assert_eq!(c.status, CoverageStatus::Failed, "{c:#?}");
    let e = eval(&snap);
    let entry = e
        .coverage
        .iter()
        .find(|c| c.coverage.source == Source::AzureLighthouse)
        .unwrap();
    assert!(entry.is_gap());
    assert!(
        entry
            .rules_not_evaluated
            .contains(&"lighthouse-privileged-delegation".to_owned())
    );
}

#[tokio::test]
async fn no_readable_subscription_is_a_gap_naming_the_reader_role() {
    let tenant = FakeTenant::new(CONTOSO).with_route("/subscriptions", json!({"value": []}));
    let fake = fake(vec![tenant]).await;
    let snap = customer_scan(&fake, CONTOSO).await;
    let c = cov(&snap, Source::AzureSubscriptions);
    assert_eq!(c.status, CoverageStatus::Skipped);
    assert!(c.detail.unwrap().contains("Reader"));
    let e = eval(&snap);
    let gap = e
        .coverage
        .iter()
        .find(|c| c.coverage.source == Source::AzureSubscriptions)
        .unwrap();
    assert!(gap.is_gap(), "never clean: {gap:#?}");
}

#[tokio::test]
async fn arm_and_graph_tokens_do_not_cross() {
    let fake = fake(vec![tenant_dir("fixtures/demo/customer")]).await;
    // A client rooted at ARM but holding a Graph-audience token is refused by ARM.
    let graph_tokens =
        auth::provider(secret_settings(&fake, CONTOSO), reqwest::Client::new()).unwrap();
    let mut settings = ClientSettings::new(endpoints(&fake).for_resource(&fake.arm_url()));
    settings.retry = quick_retry();
    let wrong = GraphClient::new(settings, graph_tokens).unwrap();
    let opts = options(
        CONTOSO,
        PerspectiveMode::Customer,
        Some(AzureAccess::Client(wrong)),
    );
    let snap = collect::collect(&client(&fake, CONTOSO), &opts).await;
    let c = cov(&snap, Source::AzureSubscriptions);
    assert_eq!(c.status, CoverageStatus::Failed, "{c:#?}");
    assert!(c.detail.unwrap().contains("401"));
    // The ARM token was asked with the ARM scope.
    let arm = arm_client(&fake, CONTOSO);
    let _ = customer_scan_with(&fake, arm).await;
    assert!(
        fake.token_requests()
            .iter()
            .any(|r| r.get("scope") == Some(&format!("{}/.default", fake.arm_url())))
    );
}

async fn customer_scan_with(fake: &FakeGraph, arm: GraphClient) -> Snapshot {
    let opts = options(
        CONTOSO,
        PerspectiveMode::Customer,
        Some(AzureAccess::Client(arm)),
    );
    collect::collect(&client(fake, CONTOSO), &opts).await
}

#[tokio::test]
async fn azure_unavailable_is_skipped_with_the_reason_and_not_audited_records_nothing() {
    let fake = fake(vec![tenant_dir("fixtures/demo/customer")]).await;
    let why = "Azure was not audited: set AZURE_ARM_ACCESS_TOKEN";
    let opts = options(
        CONTOSO,
        PerspectiveMode::Customer,
        Some(AzureAccess::Unavailable(why.into())),
    );
    let snap = collect::collect(&client(&fake, CONTOSO), &opts).await;
    let c = cov(&snap, Source::AzureLighthouse);
    assert_eq!(c.status, CoverageStatus::Skipped);
    assert_eq!(c.detail.as_deref(), Some(why));
    assert!(eval(&snap).coverage.iter().any(|c| c.is_gap()));

    // No ARM at all (e.g. --graph-url without --arm-url, or a snapshot from before Azure support): no
    // Azure coverage, and the Azure rules are not applicable rather than a gap.
    let opts = options(CONTOSO, PerspectiveMode::Customer, None);
    let snap = collect::collect(&client(&fake, CONTOSO), &opts).await;
    assert!(snap.coverage.iter().all(|c| !c.source.is_azure()));
    let e = eval(&snap);
    assert!(e.coverage.iter().all(|c| !c.coverage.source.is_azure()));
    assert!(e.coverage.iter().all(|c| !c.is_gap()), "{:#?}", e.coverage);
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.path().starts_with("/arm/"))
    );
}

#[tokio::test]
async fn scan_with_arm_url_audits_azure_end_to_end() {
    use crate::cli::{bin, run, scan_args, text};
    let fake = fake(vec![tenant_dir("fixtures/demo/customer")]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo("fixtures/demo/gdap-audit.toml"),
        dir.path().join("gdap-audit.toml"),
    )
    .unwrap();
    let mut c = bin(dir.path());
    scan_args(&mut c, &fake, CONTOSO);
    c.args(["--arm-url", &fake.arm_url(), "--format", "json"])
        .env("AZURE_CLIENT_SECRET", SECRET);
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    assert!(ids.contains(&"azure-legacy-dap-owner"), "{ids:?}");
    assert!(ids.contains(&"lighthouse-privileged-delegation"), "{ids:?}");
    assert!(
        report["coverage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["source"] == "azure.role_assignments" && c["status"] == "collected")
    );
    // The ARM token went only to the ARM root, and no secret or token leaks.
    for t in fake.issued_token_values() {
        assert!(!stdout.contains(&t) && !text(&out.stderr).contains(&t));
    }
    assert!(!stdout.contains(SECRET));

    // A ready Graph token cannot serve ARM: the Azure sources are skipped with what to set.
    use secrecy::ExposeSecret;
    let graph_token = auth::provider(secret_settings(&fake, CONTOSO), reqwest::Client::new())
        .unwrap()
        .token(None)
        .await
        .unwrap();
    let mut c = bin(dir.path());
    c.args([
        "scan",
        "--perspective",
        "customer",
        "--no-history",
        "--as-of",
        "2026-11-23T12:00:00Z",
        "--tenant",
        CONTOSO,
        "--graph-url",
        &fake.url(),
        "--login-url",
        &fake.url(),
        "--arm-url",
        &fake.arm_url(),
        "--format",
        "json",
        "--fail-on",
        "never",
    ])
    .env("GRAPH_ACCESS_TOKEN", graph_token.secret.expose_secret());
    let out = run(c).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let skipped = report["coverage"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["source"] == "azure.subscriptions")
        .cloned()
        .unwrap_or_default();
    assert_eq!(skipped["status"], "skipped", "{}", text(&out.stderr));
    assert!(
        skipped["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("AZURE_ARM_ACCESS_TOKEN")
    );
    assert_eq!(out.status.code(), Some(3), "Azure not read is a gap");
}

#[tokio::test]
async fn arm_url_is_checked_and_rules_explain_documents_the_azure_rules() {
    use crate::cli::{bin, run, text};
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin(dir.path());
    c.args([
        "scan",
        "--tenant",
        "t",
        "--client-id",
        "c",
        "--arm-url",
        "http://arm.example.com",
    ])
    .env("AZURE_CLIENT_SECRET", "x");
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--arm-url") && err.contains("plain http"),
        "{err}"
    );

    for id in [
        "azure-legacy-dap-owner",
        "lighthouse-privileged-delegation",
        "lighthouse-delegation-to-unknown-tenant",
    ] {
        let mut c = bin(dir.path());
        c.args(["rules", "explain", id]);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(0));
        let t = text(&out.stdout);
        assert!(t.contains(id) && t.contains("azure."), "{t}");
        assert!(t.contains("Remediation") && t.contains("T1199"), "{t}");
    }
}

/// A Lighthouse delegation of `sub` (home tenant `home`) to `manager`, created at `created`.
fn delegation(sub: &str, home: &str, manager: &str, created: &str) -> serde_json::Value {
    json!({"value": [{"id": format!("/subscriptions/{sub}/providers/Microsoft.ManagedServices/registrationAssignments/n1"),
        "properties": {"registrationDefinition": {
            "properties": {"managedByTenantId": manager, "managedByTenantName": "Newcomer MSP",
                "manageeTenantId": home, "manageeTenantName": "Home Co",
                "authorizations": [{"principalId": "p", "roleDefinitionId": "acdd72a7-3385-48ef-bd42-f606fba81ae7"}]},
            "systemData": {"createdAt": created}}}}]})
}

/// A customer `home` whose subscription `sub` is delegated to `manager` (created at `created`), and the
/// managing partner's view of the same delegation, with every id inside the answers spelled as given.
fn lighthouse_pair(
    sub: &str,
    home: &str,
    manager: &str,
    created: &str,
) -> (FakeTenant, FakeTenant) {
    let assignments =
        format!("/subscriptions/{sub}/providers/Microsoft.ManagedServices/registrationAssignments");
    let customer = FakeTenant::new(home.to_lowercase())
        .with_route(
            "/v1.0/policies/crossTenantAccessPolicy/partners",
            json!({"value": []}),
        )
        .with_route(
            "/subscriptions",
            json!({"value": [{"subscriptionId": sub, "tenantId": home}]}),
        )
        .with_route(assignments.clone(), delegation(sub, home, manager, created))
        .with_route(
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments"),
            json!({"value": []}),
        );
    let partner = FakeTenant::new(manager.to_lowercase())
        .with_route(
            "/v1.0/tenantRelationships/delegatedAdminRelationships",
            json!({"value": []}),
        )
        .with_route(
            "/subscriptions",
            json!({"value": [{"subscriptionId": sub, "tenantId": home, "managedByTenants": [{"tenantId": manager}]}]}),
        )
        .with_route(assignments.clone(), delegation(sub, home, manager, created));
    (customer, partner)
}

#[tokio::test]
async fn a_recent_delegation_is_new_partner_access_on_both_sides() {
    let sub = "22222222-0000-4000-8000-000000000002";
    let newcomer = "77777777-0000-4000-8000-000000000007";
    // new-partner-access needs the cross-tenant access partners (customer) and the relationships
    // (partner) to run at all: none of either here.
    let (customer, partner) = lighthouse_pair(sub, CONTOSO, newcomer, "2026-11-21T08:00:00Z");
    let fake = fake(vec![customer, partner]).await;

    let snap = customer_scan(&fake, CONTOSO).await;
    let e = eval(&snap);
    let new = rule_findings(&e, "new-partner-access");
    let f = new
        .iter()
        .find(|f| f.partner_tenant_id.as_deref() == Some(newcomer))
        .unwrap_or_else(|| panic!("{:#?}", e.findings));
    assert!(f.message.contains("2026-11-21"), "{}", f.message);
    assert!(f.evidence.contains_key("lighthouse_delegations"));
    // Reader only: not privileged; an unlisted managing tenant.
    assert!(rule_findings(&e, "lighthouse-privileged-delegation").is_empty());
    assert_eq!(
        rule_findings(&e, "lighthouse-delegation-to-unknown-tenant").len(),
        1
    );

    let opts = options(
        newcomer,
        PerspectiveMode::Partner,
        Some(AzureAccess::Client(arm_client(&fake, newcomer))),
    );
    let snap = collect::collect(&client(&fake, newcomer), &opts).await;
    let e = eval(&snap);
    let new = rule_findings(&e, "new-partner-access");
    assert!(
        new.iter()
            .any(|f| f.subject.id == CONTOSO && f.evidence.contains_key("lighthouse_delegations")),
        "{:#?}",
        e.findings
    );

    // Older than new_within_days (7): not new.
    let (old, _) = lighthouse_pair(sub, CONTOSO, newcomer, "2026-10-01T08:00:00Z");
    let fake = crate::common::fake(vec![old]).await;
    let e = eval(&customer_scan(&fake, CONTOSO).await);
    assert!(
        !rule_findings(&e, "new-partner-access")
            .iter()
            .any(|f| f.partner_tenant_id.as_deref() == Some(newcomer))
    );
}

/// Registration assignments `(name, manager, roles)` of `sub`, all created long before the audit.
fn delegations(sub: &str, items: &[(&str, &str, &[&str])]) -> serde_json::Value {
    let value: Vec<serde_json::Value> = items
        .iter()
        .map(|(name, manager, roles)| {
            json!({"id": format!("/subscriptions/{sub}/providers/Microsoft.ManagedServices/registrationAssignments/{name}"),
                "properties": {"registrationDefinition": {
                    "properties": {"managedByTenantId": manager, "managedByTenantName": format!("MSP {name}"),
                        "manageeTenantId": CONTOSO,
                        "authorizations": roles.iter().map(|r| json!({"principalId": "p", "roleDefinitionId": r})).collect::<Vec<_>>()},
                    "systemData": {"createdAt": "2026-09-01T08:00:00Z"}}}})
        })
        .collect();
    json!({ "value": value })
}

fn lighthouse_customer(sub: &str, items: &[(&str, &str, &[&str])]) -> FakeTenant {
    FakeTenant::new(CONTOSO)
        .with_route(
            "/v1.0/policies/crossTenantAccessPolicy/partners",
            json!({"value": []}),
        )
        // roles-added runs on the customer side once its Entra sources are read.
        .with_route(
            "/v1.0/roleManagement/directory/roleAssignments",
            json!({"value": []}),
        )
        .with_route(
            "/subscriptions",
            json!({"value": [{"subscriptionId": sub, "tenantId": CONTOSO}]}),
        )
        .with_route(
            format!(
                "/subscriptions/{sub}/providers/Microsoft.ManagedServices/registrationAssignments"
            ),
            delegations(sub, items),
        )
        .with_route(
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments"),
            json!({"value": []}),
        )
}

/// History-based Lighthouse changes: a delegation absent from the previous run is new-partner-access
/// whatever its creation date, and a delegation whose authorizations grew is roles-added; an old
/// delegation on a first run is neither.
#[tokio::test]
async fn delegations_new_or_grown_since_the_previous_run_are_reported() {
    const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    let sub = "33333333-0000-4000-8000-000000000003";
    let first_msp = "88888888-0000-4000-8000-000000000008";
    let second_msp = "99999999-0000-4000-8000-000000000009";
    let dir = tempfile::tempdir().unwrap();
    let store = gdap_audit::history::HistoryStore::open(dir.path().join("h.sqlite3")).unwrap();

    let fake1 = fake(vec![lighthouse_customer(
        sub,
        &[("a1", first_msp, &[READER])],
    )])
    .await;
    let snap1 = customer_scan(&fake1, CONTOSO).await;
    let view = store
        .view(CONTOSO, &snap1.perspectives, snap1.as_of)
        .unwrap();
    let e1 = evaluate(&snap1, &Config::default(), &view, snap1.as_of);
    assert!(
        rule_findings(&e1, "new-partner-access").is_empty(),
        "{:#?}",
        e1.findings
    );
    assert!(rule_findings(&e1, "roles-added").is_empty());
    store
        .record_evaluated(&snap1, &e1, None, snap1.collected_at, None)
        .unwrap();

    let fake2 = fake(vec![lighthouse_customer(
        sub,
        &[
            ("a1", first_msp, &[READER, CONTRIBUTOR]),
            ("a2", second_msp, &[READER]),
        ],
    )])
    .await;
    let mut snap2 = customer_scan(&fake2, CONTOSO).await;
    snap2.as_of += chrono::Duration::days(1);
    snap2.collected_at += chrono::Duration::days(1);
    let view = store
        .view(CONTOSO, &snap2.perspectives, snap2.as_of)
        .unwrap();
    assert!(view.previous.as_ref().unwrap().delegations_collected);
    let e2 = evaluate(&snap2, &Config::default(), &view, snap2.as_of);
    let new = rule_findings(&e2, "new-partner-access");
    let f = new
        .iter()
        .find(|f| f.partner_tenant_id.as_deref() == Some(second_msp))
        .unwrap_or_else(|| panic!("{:#?}", e2.findings));
    assert!(
        f.message.contains("since the previous audit"),
        "{}",
        f.message
    );
    assert!(
        !new.iter()
            .any(|f| f.partner_tenant_id.as_deref() == Some(first_msp)),
        "a delegation seen before is not new"
    );
    let grown = rule_findings(&e2, "roles-added");
    assert_eq!(grown.len(), 1, "{grown:#?}");
    assert!(grown[0].subject.id.ends_with("/registrationassignments/a1"));
    assert_eq!(grown[0].partner_tenant_id.as_deref(), Some(first_msp));
    assert!(
        grown[0].message.contains("Contributor"),
        "{}",
        grown[0].message
    );
}

/// ARM spells tenant ids in upper case in places: a delegation's managing tenant and a delegated
/// subscription's home tenant, whatever their case, match the configuration's and Graph's ids, and
/// findings name them in the one lower-case form.
#[tokio::test]
async fn lighthouse_tenant_ids_match_in_any_case() {
    let sub = "22222222-0000-4000-8000-000000000002";
    let manager = "7a7a7a7a-0000-4000-8000-00000000007a";
    let (customer, partner) = lighthouse_pair(
        sub,
        &CONTOSO.to_uppercase(),
        &manager.to_uppercase(),
        "2026-11-21T08:00:00Z",
    );
    let fake = fake(vec![customer, partner]).await;

    // Customer side: the managing tenant is the counterpart, normalised.
    let snap = customer_scan(&fake, CONTOSO).await;
    let rec = &snap
        .customer
        .as_ref()
        .unwrap()
        .azure
        .as_ref()
        .unwrap()
        .subscriptions[0];
    let a = &rec.delegations.as_ref().unwrap()[0];
    assert_eq!(rec.counterpart(a, Perspective::Customer).0, manager);
    let with = |partner: &str| {
        let config = Config::from_toml_str(
            &format!("[partners.\"{partner}\"]\nname = \"Managing MSP\"\n"),
            "test",
        )
        .unwrap();
        evaluate(&snap, &config, &HistoryView::default(), as_of())
    };
    // Approved in the configuration (typed in upper case): not an unknown managing tenant.
    let e = with(&manager.to_uppercase());
    assert!(rule_findings(&e, "lighthouse-delegation-to-unknown-tenant").is_empty());
    let new = rule_findings(&e, "new-partner-access");
    assert!(
        new.iter()
            .any(|f| f.partner_tenant_id.as_deref() == Some(manager)
                && f.customer_tenant_id.as_deref() == Some(CONTOSO)
                && f.subject.display_name.as_deref() == Some("Managing MSP")),
        "{new:#?}"
    );
    // Another partner approved: this managing tenant is unknown, named in lower case.
    let e = with(NORTHWIND);
    let unknown = rule_findings(&e, "lighthouse-delegation-to-unknown-tenant");
    assert_eq!(unknown.len(), 1, "{unknown:#?}");
    assert_eq!(unknown[0].partner_tenant_id.as_deref(), Some(manager));
    assert_eq!(unknown[0].subject.id, manager);

    // Partner side: the customer tenant is the counterpart, normalised.
    let opts = options(
        manager,
        PerspectiveMode::Partner,
        Some(AzureAccess::Client(arm_client(&fake, manager))),
    );
    let snap = collect::collect(&client(&fake, manager), &opts).await;
    let rec = &snap
        .partner
        .as_ref()
        .unwrap()
        .azure
        .as_ref()
        .unwrap()
        .subscriptions[0];
    let a = &rec.delegations.as_ref().unwrap()[0];
    assert_eq!(rec.counterpart(a, Perspective::Partner).0, CONTOSO);
    let e = eval(&snap);
    assert!(
        rule_findings(&e, "new-partner-access")
            .iter()
            .any(|f| f.subject.id == CONTOSO && f.customer_tenant_id.as_deref() == Some(CONTOSO)),
        "{:#?}",
        e.findings
    );
}
