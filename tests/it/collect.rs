//! The collectors through the real client against the loopback fake Graph: happy paths on both sides,
//! every failure path ending up as coverage, lenient parsing, filter fallback, and bounded log
//! aggregates.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use fake_graph::{FakeTenant, Fault, FaultKind, SignInGenerator};
use gdap_audit::collect::{self, CollectOptions, PerspectiveMode, ProgressEvent};
use gdap_audit::graph::error::NON_PREMIUM_CODE;
use gdap_audit::snapshot::{CoverageStatus, Perspective, Snapshot, Source};
use serde_json::json;

use crate::common::*;

const PARTNER: &str = "8777b240-c6f0-4469-9e98-a3205431b836";
const CUSTOMER: &str = "52eaad04-13a2-4a2f-9ce8-93a294fadf36";
const B2B: &str = "123f4846-ba00-4fd7-ba43-dac1f8f63013";
const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
const REL_CONTOSO: &str =
    "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836";
const REL_RESELLER: &str =
    "4b227261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836";
const REL_EXPIRED: &str =
    "a1f0c2d3-6e5b-4a79-9c8d-2b1e0f3a4c5d-8777b240-c6f0-4469-9e98-a3205431b836";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn as_of() -> DateTime<Utc> {
    at("2026-08-20T00:00:00Z")
}

fn options(tenant: &str, perspective: PerspectiveMode) -> CollectOptions {
    let mut o = CollectOptions::new(tenant, as_of(), at("2026-08-20T00:00:05Z"));
    o.perspective = perspective;
    o
}

fn partner_tenant() -> FakeTenant {
    tenant_dir("fixtures/test/collect-partner")
}

fn customer_tenant() -> FakeTenant {
    tenant_dir("fixtures/test/collect-customer")
}

fn status(snap: &Snapshot, source: Source) -> CoverageStatus {
    snap.coverage_of(source)
        .unwrap_or_else(|| panic!("no coverage for {source}: {:#?}", snap.coverage))
        .status
}

fn detail(snap: &Snapshot, source: Source) -> String {
    snap.coverage_of(source)
        .and_then(|c| c.detail.clone())
        .unwrap_or_default()
}

fn graph_error(status: u16, code: &str, message: &str) -> FaultKind {
    FaultKind::Status {
        status,
        code: code.into(),
        message: message.into(),
    }
}

fn denied() -> FaultKind {
    graph_error(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

// ----------------------------------------------------------------------------------------------------
// Happy paths

#[tokio::test]
async fn partner_happy_path() {
    let fake = fake(vec![partner_tenant()]).await;
    let c = client(&fake, PARTNER);
    let snap = collect::collect(&c, &options(PARTNER, PerspectiveMode::Partner)).await;

    assert_eq!(snap.perspectives, vec![Perspective::Partner]);
    assert!(snap.customer.is_none());
    assert_eq!(snap.tenant_name.as_deref(), Some("Northwind CSP (test)"));
    assert_eq!(snap.collected_at, at("2026-08-20T00:00:05Z"));
    assert_eq!(snap.window.until, as_of());
    assert_eq!(snap.window.since, at("2026-07-21T00:00:00Z"));
    for source in [
        Source::GdapRelationships,
        Source::GdapAccessAssignments,
        Source::GdapCustomers,
        Source::Contracts,
        Source::RoleDefinitions,
    ] {
        assert_eq!(
            status(&snap, source),
            CoverageStatus::Collected,
            "{source}: {:#?}",
            snap.coverage
        );
    }
    // No rule uses a relationship's requests or operations: not read, and said so.
    for source in [Source::GdapRequests, Source::GdapOperations] {
        assert_eq!(status(&snap, source), CoverageStatus::Skipped, "{source}");
        assert!(detail(&snap, source).contains("no rule uses"), "{source}");
    }
    assert!(
        !fake.requests().iter().any(|r| {
            let path = r.path();
            path.ends_with("/requests") || path.ends_with("/operations")
        }),
        "requests and operations are never asked for"
    );
    // Lighthouse refuses app-only tokens: expected, not an error.
    let lh = snap.coverage_of(Source::LighthouseMyRoles).unwrap();
    assert_eq!(lh.status, CoverageStatus::Skipped);
    assert_eq!(
        lh.detail.as_deref(),
        Some(
            "Lighthouse myRoles needs a delegated sign-in (ManagedTenants.Read.All); app-only tokens are refused"
        )
    );
    // The organization is read for every perspective.
    assert!(
        snap.coverage
            .iter()
            .filter(|c| c.source != Source::Organization)
            .all(|c| c.source.perspective() == Perspective::Partner),
        "{:#?}",
        snap.coverage
    );
    assert_eq!(
        status(&snap, Source::Organization),
        CoverageStatus::Collected
    );

    let p = snap.partner.as_ref().unwrap();
    assert_eq!(p.relationships.len(), 5);
    let rel = |id: &str| {
        p.relationships
            .iter()
            .find(|r| r.relationship.id == id)
            .unwrap()
    };
    let contoso = rel(REL_CONTOSO);
    assert_eq!(contoso.access_assignments.as_ref().unwrap().len(), 2);
    assert!(contoso.requests.is_none() && contoso.operations.is_none());
    assert_eq!(
        contoso.relationship.access_details.role_ids(),
        vec![GLOBAL_ADMIN.to_owned(), HELPDESK.to_owned()]
    );
    let reseller = rel(REL_RESELLER);
    assert!(reseller.relationship.is_reseller());
    assert_eq!(reseller.relationship.is_partner_consent_pending, Some(true));
    assert_eq!(reseller.access_assignments.as_deref(), Some(&[][..]));
    // An ended relationship's sub-collections answer 404: nothing there, not a failure.
    let expired = rel(REL_EXPIRED);
    assert_eq!(expired.access_assignments.as_deref(), Some(&[][..]));
    assert_eq!(p.customers.len(), 2);
    assert_eq!(p.contracts.len(), 2);
    assert!(p.lighthouse_roles.is_empty());
    assert_eq!(p.role_definitions.len(), 3);
    assert_eq!(p.role_definitions[0].is_privileged, Some(true));

    // Assignments went through $batch (5 inner requests, one per relationship), never one by one.
    let reqs = fake.requests();
    let batches = reqs
        .iter()
        .filter(|r| r.method == "POST" && r.path() == "/v1.0/$batch")
        .count();
    assert_eq!(batches, 1, "5 inner requests fit one batch of 20");
    let inner: Vec<_> = reqs.iter().filter(|r| r.in_batch).collect();
    assert_eq!(inner.len(), 5);
    assert!(
        inner
            .iter()
            .all(|r| r.query_param("$top").as_deref() == Some("300"))
    );
    assert!(
        !reqs
            .iter()
            .any(|r| !r.in_batch && r.path().ends_with("/accessAssignments")),
        "assignments must be read through $batch"
    );
    let list = reqs
        .iter()
        .find(|r| r.path() == "/v1.0/tenantRelationships/delegatedAdminRelationships")
        .unwrap();
    assert_eq!(list.query_param("$top").as_deref(), Some("300"));

    // The snapshot round-trips through its file format.
    let back = Snapshot::from_slice(snap.to_json().as_bytes(), "mem").unwrap();
    assert_eq!(back, snap);
}

#[tokio::test]
async fn customer_happy_path_with_progress() {
    let fake = fake(vec![customer_tenant()]).await;
    let c = client(&fake, CUSTOMER);
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut opts = options(CUSTOMER, PerspectiveMode::Customer);
    let sink = events.clone();
    opts.progress = Some(Arc::new(move |e: ProgressEvent| {
        sink.lock().unwrap().push(e)
    }));
    let snap = collect::collect(&c, &opts).await;

    assert_eq!(snap.perspectives, vec![Perspective::Customer]);
    assert!(snap.partner.is_none());
    assert_eq!(snap.tenant_name.as_deref(), Some("Contoso Inc (test)"));
    for cov in &snap.coverage {
        assert_eq!(cov.status, CoverageStatus::Collected, "{cov:#?}");
    }
    let expected: BTreeSet<Source> = [
        Source::RoleDefinitions,
        Source::XtapPartners,
        Source::XtapDefault,
        Source::XtapServiceProviderConstraints,
        Source::TenantInformation,
        Source::RoleAssignments,
        Source::Organization,
        Source::ServicePrincipals,
        Source::AppRoleAssignments,
        Source::SignIns,
        Source::DirectoryAudits,
        Source::ConditionalAccess,
    ]
    .into_iter()
    .collect();
    assert_eq!(
        snap.coverage
            .iter()
            .map(|c| c.source)
            .collect::<BTreeSet<_>>(),
        expected
    );
    // Beta role definitions refused: v1.0 used, and the coverage says so.
    assert!(
        detail(&snap, Source::RoleDefinitions).contains("v1.0"),
        "{}",
        detail(&snap, Source::RoleDefinitions)
    );

    let cd = snap.customer.as_ref().unwrap();
    assert_eq!(cd.role_definitions.len(), 2);
    assert_eq!(cd.partners.len(), 2);
    let northwind = cd.partner(PARTNER).unwrap();
    assert!(northwind.is_service_provider);
    assert_eq!(northwind.display_name.as_deref(), Some("Northwind CSP"));
    assert_eq!(
        northwind.default_domain_name.as_deref(),
        Some("northwindcsp.onmicrosoft.com")
    );
    assert_eq!(
        northwind.allowed_roles,
        Some(vec![
            HELPDESK.to_owned(),
            "f2ef992c-3afb-46b9-b7cf-a126ee74c451".to_owned()
        ])
    );
    assert_eq!(
        northwind.constraints_modified,
        Some(at("2026-01-15T10:00:00Z"))
    );
    assert_eq!(
        northwind.inbound_trust.as_ref().unwrap().is_mfa_accepted,
        Some(true)
    );
    let b2b = cd.partner(B2B).unwrap();
    assert!(!b2b.is_service_provider);
    assert_eq!(b2b.display_name.as_deref(), Some("Fourth Coffee"));
    assert_eq!(
        cd.default_policy
            .as_ref()
            .unwrap()
            .inbound_trust
            .as_ref()
            .unwrap()
            .is_mfa_accepted,
        Some(false)
    );

    // The role holder came back without its principal; getByIds resolved it as a partner reference.
    assert_eq!(cd.foreign_role_assignments.len(), 1);
    let f = &cd.foreign_role_assignments[0];
    assert_eq!(f.home_tenant_id, PARTNER);
    assert_eq!(f.role_id, HELPDESK);
    assert_eq!(f.principal_type, "directoryObjectPartnerReference");
    assert_eq!(f.principal_name.as_deref(), Some("HelpdeskAgents"));

    // Two first-party GDAP apps and one Northwind-owned app; Microsoft Graph (Microsoft-owned) is not kept.
    let names: Vec<&str> = cd
        .service_principals
        .iter()
        .filter_map(|s| s.service_principal.display_name.as_deref())
        .collect();
    assert_eq!(cd.service_principals.len(), 3, "{names:?}");
    let app = cd
        .service_principals
        .iter()
        .find(|s| s.service_principal.app_owner_organization_id.as_deref() == Some(PARTNER))
        .unwrap();
    let grants = app.app_roles.as_ref().unwrap();
    let perms: Vec<&str> = grants.iter().map(|g| g.permission.as_str()).collect();
    assert_eq!(perms, vec!["Directory.Read.All", "Directory.ReadWrite.All"]);
    assert!(grants.iter().all(|g| g.resource == "Microsoft Graph"
        && g.resource_app_id.as_deref() == Some("00000003-0000-0000-c000-000000000000")));
    // The resource was fetched once for both grants.
    let resource_reads = fake
        .requests()
        .iter()
        .filter(|r| r.path() == "/v1.0/servicePrincipals/e3c1a0b2-0000-4000-8000-00000000a0a0")
        .count();
    assert_eq!(resource_reads, 1);

    assert_eq!(cd.conditional_access.len(), 2);

    // Sign-ins: four by Northwind (one failure, one single-factor success), one local, one B2B guest.
    let si = &cd.sign_ins;
    assert_eq!(si.scanned, 6);
    assert_eq!(si.watermark, Some(at("2026-08-19T12:00:00Z")));
    assert_eq!(si.partners.keys().collect::<Vec<_>>(), vec![PARTNER]);
    let nw = &si.partners[PARTNER];
    assert_eq!(
        (
            nw.total,
            nw.successes,
            nw.failures,
            nw.successes_without_mfa
        ),
        (4, 3, 1, 1)
    );
    assert_eq!(nw.last_success, Some(at("2026-08-18T08:02:10Z")));
    assert_eq!(nw.first_success, Some(at("2026-08-10T22:40:05Z")));
    assert_eq!(nw.single_factor_examples.len(), 1);
    assert_eq!(nw.examples.len(), 3);
    let signin_req = fake
        .requests()
        .into_iter()
        .find(|r| r.path() == "/beta/auditLogs/signIns")
        .unwrap();
    let filter = signin_req.query_param("$filter").unwrap();
    assert_eq!(
        filter,
        "createdDateTime ge 2026-07-21T00:00:00Z and createdDateTime le 2026-08-20T00:00:00Z and \
         (signInEventTypes/any(t: t eq 'interactiveUser') or signInEventTypes/any(t: t eq 'nonInteractiveUser'))"
    );
    assert_eq!(signin_req.query_param("$top").as_deref(), Some("1000"));

    // Audits: the XTAP change, the partner-initiated role change and the legacy partnership event.
    assert_eq!(cd.audits.scanned, 3);
    assert_eq!(cd.audits.events.len(), 3);
    assert_eq!(cd.audits.dropped, 0);
    assert_eq!(cd.audits.watermark, Some(at("2026-08-14T10:03:02.12Z")));

    // Progress: every source started and finished once; pages were reported.
    let events = events.lock().unwrap();
    let finished: Vec<Source> = events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::SourceFinished { source, .. } => Some(*source),
            _ => None,
        })
        .collect();
    assert_eq!(finished.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert_eq!(finished.len(), expected.len());
    for s in &expected {
        assert!(
            events.contains(&ProgressEvent::SourceStarted { source: *s }),
            "{s} never started"
        );
    }
    assert!(events.iter().any(|e| matches!(
        e,
        ProgressEvent::PageRead {
            source: Source::SignIns,
            items: 6,
            ..
        }
    )));
}

#[tokio::test]
async fn auto_on_a_customer_tenant_skips_the_partner_side() {
    let fake = fake(vec![customer_tenant()]).await;
    let c = client(&fake, CUSTOMER);
    let snap = collect::collect(&c, &options(CUSTOMER, PerspectiveMode::Auto)).await;
    assert_eq!(snap.perspectives, vec![Perspective::Customer]);
    assert!(snap.partner.is_none());
    assert!(snap.customer.is_some());
    assert_eq!(
        status(&snap, Source::GdapRelationships),
        CoverageStatus::Skipped
    );
    assert!(
        detail(&snap, Source::GdapRelationships).contains("2832473f-ec63-45fb-976f-5d45a7d4bb91")
    );
    for s in [
        Source::GdapAccessAssignments,
        Source::GdapCustomers,
        Source::Contracts,
        Source::LighthouseMyRoles,
    ] {
        assert_eq!(status(&snap, s), CoverageStatus::Skipped, "{s}");
    }
    assert_eq!(status(&snap, Source::SignIns), CoverageStatus::Collected);
}

#[tokio::test]
async fn auto_on_a_partner_tenant_reads_both_sides() {
    let fake = fake(vec![partner_tenant()]).await;
    let c = client(&fake, PARTNER);
    let snap = collect::collect(&c, &options(PARTNER, PerspectiveMode::Auto)).await;
    assert_eq!(
        snap.perspectives,
        vec![Perspective::Partner, Perspective::Customer]
    );
    assert_eq!(snap.partner.as_ref().unwrap().relationships.len(), 5);
    assert_eq!(
        status(&snap, Source::GdapRelationships),
        CoverageStatus::Collected
    );
    // The partner fixture has no customer-side routes: each is an honest not_found, nothing crashes.
    assert_eq!(
        status(&snap, Source::XtapPartners),
        CoverageStatus::NotFound
    );
    assert_eq!(
        status(&snap, Source::XtapServiceProviderConstraints),
        CoverageStatus::Skipped
    );
    assert_eq!(status(&snap, Source::SignIns), CoverageStatus::NotFound);
}

// ----------------------------------------------------------------------------------------------------
// Failure paths

#[tokio::test]
async fn refused_relationships_name_the_permission_and_the_service_principal() {
    let fake = fake(vec![partner_tenant()]).await;
    fake.push_fault(Fault::new("delegatedAdminRelationships?", 1, denied()));
    let c = client(&fake, PARTNER);
    let snap = collect::collect(&c, &options(PARTNER, PerspectiveMode::Partner)).await;

    assert_eq!(snap.perspectives, vec![Perspective::Partner]);
    let cov = snap.coverage_of(Source::GdapRelationships).unwrap();
    assert_eq!(cov.status, CoverageStatus::Denied);
    let d = cov.detail.as_deref().unwrap();
    assert!(d.contains("DelegatedAdminRelationship.Read.All"), "{d}");
    assert!(
        d.contains("2832473f-ec63-45fb-976f-5d45a7d4bb91")
            && d.contains("Partner Customer Delegated Administration"),
        "{d}"
    );
    assert_eq!(
        cov.graph_code.as_deref(),
        Some("Authorization_RequestDenied")
    );
    assert!(cov.request_id.is_some());
    assert_eq!(
        cov.permission.as_deref(),
        Some("DelegatedAdminRelationship.Read.All")
    );
    for s in [
        Source::GdapAccessAssignments,
        Source::GdapRequests,
        Source::GdapOperations,
    ] {
        assert_eq!(status(&snap, s), CoverageStatus::Skipped, "{s}");
    }
    // The other partner sources are independent and still read.
    assert_eq!(status(&snap, Source::Contracts), CoverageStatus::Collected);
    assert_eq!(snap.partner.as_ref().unwrap().customers.len(), 2);
    assert!(snap.partner.as_ref().unwrap().relationships.is_empty());
}

#[tokio::test]
async fn refused_customer_sources_are_denied_with_the_permission_to_grant() {
    let fake = fake(vec![customer_tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/policies/crossTenantAccessPolicy/partners",
        1,
        denied(),
    ));
    fake.push_fault(Fault::new(
        "/v1.0/identity/conditionalAccess/policies",
        1,
        denied(),
    ));
    let c = client(&fake, CUSTOMER);
    let snap = collect::collect(&c, &options(CUSTOMER, PerspectiveMode::Customer)).await;

    let xtap = snap.coverage_of(Source::XtapPartners).unwrap();
    assert_eq!(xtap.status, CoverageStatus::Denied);
    assert!(
        xtap.detail.as_deref().unwrap().contains("Policy.Read.All"),
        "{xtap:?}"
    );
    assert_eq!(xtap.permission.as_deref(), Some("Policy.Read.All"));
    assert_eq!(
        status(&snap, Source::ConditionalAccess),
        CoverageStatus::Denied
    );
    assert_eq!(
        status(&snap, Source::XtapServiceProviderConstraints),
        CoverageStatus::Skipped
    );
    assert_eq!(
        status(&snap, Source::TenantInformation),
        CoverageStatus::Skipped
    );
    let cd = snap.customer.as_ref().unwrap();
    assert!(cd.partners.is_empty());
    // Without the partner list, sign-ins still recognise partners by their access type, but those
    // attributed by home tenant may be missing (#1): not `collected`, and the detail says why.
    assert_eq!(cd.sign_ins.partners[PARTNER].total, 4);
    assert_eq!(status(&snap, Source::SignIns), CoverageStatus::Failed);
    assert!(
        detail(&snap, Source::SignIns).contains("xtap.partners"),
        "{}",
        detail(&snap, Source::SignIns)
    );
    // #1: partner-owned apps are found through the partner list: not collected either.
    assert_eq!(
        status(&snap, Source::ServicePrincipals),
        CoverageStatus::Failed
    );
    assert!(detail(&snap, Source::ServicePrincipals).contains("xtap.partners"));
    assert_ne!(
        status(&snap, Source::AppRoleAssignments),
        CoverageStatus::Collected
    );
}

#[tokio::test]
async fn sign_ins_without_a_premium_licence_are_unlicensed() {
    for http_status in [403u16, 401] {
        let fake = fake(vec![customer_tenant()]).await;
        fake.push_fault(Fault::new(
            "/beta/auditLogs/signIns",
            1,
            graph_error(
                http_status,
                NON_PREMIUM_CODE,
                "Neither tenant is B2C or tenant doesn't have premium license",
            ),
        ));
        let c = client(&fake, CUSTOMER);
        let snap = collect::collect(&c, &options(CUSTOMER, PerspectiveMode::Customer)).await;
        let cov = snap.coverage_of(Source::SignIns).unwrap();
        assert_eq!(
            cov.status,
            CoverageStatus::Unlicensed,
            "HTTP {http_status}: {cov:?}"
        );
        let d = cov.detail.as_deref().unwrap();
        assert!(d.contains("Entra ID P1 or P2"), "{d}");
        assert_eq!(cov.graph_code.as_deref(), Some(NON_PREMIUM_CODE));
        assert!(snap.customer.as_ref().unwrap().sign_ins.partners.is_empty());
        // Nothing else suffers.
        assert_eq!(
            status(&snap, Source::DirectoryAudits),
            CoverageStatus::Collected
        );
        // No fallback and no token refresh loop on a licence answer.
        let signin_requests = fake
            .requests()
            .iter()
            .filter(|r| r.path() == "/beta/auditLogs/signIns")
            .count();
        assert_eq!(signin_requests, 1, "HTTP {http_status}");
    }
}

#[tokio::test]
async fn service_provider_constraints_404_means_none() {
    let other_sp = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let tenant = FakeTenant::new(CUSTOMER)
        .with_route(
            "/v1.0/policies/crossTenantAccessPolicy/partners",
            json!({"value": [
                {"tenantId": PARTNER, "isServiceProvider": true},
                {"tenantId": other_sp.to_uppercase(), "isServiceProvider": true},
                {"tenantId": B2B, "isServiceProvider": false}
            ]}),
        )
        .with_route(
            format!("/v1.0/policies/crossTenantAccessPolicy/partners/{PARTNER}/serviceProviderConstraints"),
            json!({"allowedRoleTemplateIds": [GLOBAL_ADMIN.to_uppercase()], "lastModifiedDateTime": "2026-01-15T10:00:00Z"}),
        );
    let fake = fake(vec![tenant]).await;
    let c = client(&fake, CUSTOMER);
    let snap = collect::collect(&c, &options(CUSTOMER, PerspectiveMode::Customer)).await;
    let cd = snap.customer.as_ref().unwrap();
    assert_eq!(
        cd.partner(PARTNER).unwrap().allowed_roles,
        Some(vec![GLOBAL_ADMIN.to_owned()])
    );
    // 404: the partner has no constraints (none), which is not an error.
    let other = cd.partner(other_sp).unwrap();
    assert_eq!(other.tenant_id, other_sp, "tenant ids are lower-cased");
    assert_eq!(other.allowed_roles, Some(vec![]));
    assert_eq!(
        cd.partner(B2B).unwrap().allowed_roles,
        None,
        "not a service provider: not read"
    );
    let cov = snap
        .coverage_of(Source::XtapServiceProviderConstraints)
        .unwrap();
    assert_eq!(cov.status, CoverageStatus::Collected, "{cov:?}");
    assert!(cov.detail.as_deref().unwrap().contains("no constraints"));
    // Only service providers were asked.
    let asked = fake
        .requests()
        .iter()
        .filter(|r| r.path().ends_with("/serviceProviderConstraints"))
        .count();
    assert_eq!(asked, 2);
    // Unnamed partners (no tenant information route): names unknown, coverage says so.
    assert_eq!(
        status(&snap, Source::TenantInformation),
        CoverageStatus::NotFound
    );
    assert!(cd.partners.iter().all(|p| p.display_name.is_none()));
}

#[tokio::test]
async fn throttled_requests_are_retried_and_collected() {
    let fake = fake(vec![partner_tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        1,
        FaultKind::TooManyRequests {
            retry_after: Some("1".into()),
        },
    ));
    // Inside $batch too: one relationship's assignments are throttled once.
    fake.push_fault(Fault::new(
        format!("{REL_CONTOSO}/accessAssignments"),
        1,
        FaultKind::TooManyRequests {
            retry_after: Some("1".into()),
        },
    ));
    let c = client(&fake, PARTNER);
    let started = std::time::Instant::now();
    let snap = collect::collect(&c, &options(PARTNER, PerspectiveMode::Partner)).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(status(&snap, Source::Contracts), CoverageStatus::Collected);
    assert_eq!(
        status(&snap, Source::GdapAccessAssignments),
        CoverageStatus::Collected
    );
    let p = snap.partner.as_ref().unwrap();
    assert_eq!(p.contracts.len(), 2);
    let contoso = p
        .relationships
        .iter()
        .find(|r| r.relationship.id == REL_CONTOSO)
        .unwrap();
    assert_eq!(contoso.access_assignments.as_ref().unwrap().len(), 2);
    let reqs = fake.requests();
    assert_eq!(
        reqs.iter()
            .filter(|r| r.path() == "/v1.0/contracts")
            .count(),
        2
    );
    assert_eq!(
        reqs.iter()
            .filter(|r| r
                .path()
                .ends_with(&format!("{REL_CONTOSO}/accessAssignments")))
            .count(),
        2
    );
}

#[tokio::test]
async fn exhausted_server_errors_fail_only_their_source() {
    let fake = fake(vec![partner_tenant()]).await;
    fake.push_fault(Fault::new(
        "/v1.0/contracts",
        10,
        FaultKind::ServiceUnavailable { retry_after: None },
    ));
    fake.push_fault(Fault::new(
        format!("{REL_CONTOSO}/accessAssignments"),
        10,
        FaultKind::GatewayTimeout,
    ));
    let c = client(&fake, PARTNER);
    let snap = collect::collect(&c, &options(PARTNER, PerspectiveMode::Partner)).await;

    let contracts = snap.coverage_of(Source::Contracts).unwrap();
    assert_eq!(contracts.status, CoverageStatus::Failed);
    let d = contracts.detail.as_deref().unwrap();
    assert!(
        d.contains("HTTP 503") && d.contains("after 4 attempts"),
        "{d}"
    );
    assert!(contracts.request_id.is_some());

    let aa = snap.coverage_of(Source::GdapAccessAssignments).unwrap();
    assert_eq!(aa.status, CoverageStatus::Failed);
    let d = aa.detail.as_deref().unwrap();
    assert!(
        d.starts_with("accessAssignments could not be read for 1 of 5 relationships"),
        "{d}"
    );
    assert!(d.contains(REL_CONTOSO) && d.contains("504"), "{d}");
    let p = snap.partner.as_ref().unwrap();
    let contoso = p
        .relationships
        .iter()
        .find(|r| r.relationship.id == REL_CONTOSO)
        .unwrap();
    assert!(
        contoso.access_assignments.is_none(),
        "not collected is None, never an empty list"
    );
    assert_eq!(
        status(&snap, Source::GdapRelationships),
        CoverageStatus::Collected
    );
    assert!(p.contracts.is_empty());
}

// ----------------------------------------------------------------------------------------------------
// Lenient input

#[tokio::test]
async fn unknown_members_types_and_missing_fields_are_kept() {
    let rel_new = "00000000-1111-4222-8333-444444444444-8777b240-c6f0-4469-9e98-a3205431b836";
    let rel_bare = "bare-relationship";
    let base = "/v1.0/tenantRelationships/delegatedAdminRelationships";
    let partner = FakeTenant::new(PARTNER)
        .with_route(
            base,
            json!({"value": [
                {"@odata.type": "#microsoft.graph.futureDelegatedAdminRelationship", "id": rel_new,
                 "displayName": "From the future", "status": "somethingNew", "duration": "P2Y",
                 "autoExtendDuration": "P180D", "customer": {"tenantId": CUSTOMER},
                 "accessDetails": {"unifiedRoles": [{"roleDefinitionId": GLOBAL_ADMIN}]},
                 "newProperty": {"nested": [1, 2, 3]}},
                {"id": rel_bare}
            ]}),
        )
        .with_route(
            format!("{base}/{rel_new}/accessAssignments"),
            json!({"value": [{"id": "aa1", "status": "unknownFutureValue",
                              "accessContainer": {"accessContainerId": "g1", "accessContainerType": "somethingElse"}}]}),
        )
        .with_route(format!("{base}/{rel_new}/requests"), json!({"value": [{"id": "rq1", "action": "reject", "status": "running"}]}))
        .with_route(
            format!("{base}/{rel_new}/operations"),
            json!({"value": [{"id": "op1", "operationType": "delegatedAdminRelationshipUpdate", "status": "succeeded", "data": "{}"}]}),
        )
        .with_route(format!("{base}/{rel_bare}/accessAssignments"), json!({"value": []}))
        .with_route(format!("{base}/{rel_bare}/requests"), json!({"value": []}))
        .with_route(format!("{base}/{rel_bare}/operations"), json!({"value": []}))
        .with_route(
            "/beta/tenantRelationships/managedTenants/myRoles",
            json!({"value": [{"tenantId": CUSTOMER, "assignments": [
                {"assignmentType": "delegatedAccessPrivelege", "roles": null},
                {"assignmentType": "brandNewKind", "roles": [{"templateId": GLOBAL_ADMIN}]}]}]}),
        );
    let customer = FakeTenant::new(CUSTOMER)
        .with_route(
            "/v1.0/roleManagement/directory/roleAssignments",
            json!({"value": [{"id": "ra1", "principalId": "x1", "roleDefinitionId": GLOBAL_ADMIN,
                              "principalOrganizationId": PARTNER,
                              "principal": {"@odata.type": "#microsoft.graph.agentIdentity", "id": "x1", "displayName": "Agent"}}]}),
        )
        .with_route(
            "/beta/auditLogs/signIns",
            json!({"value": [{"id": "s1", "createdDateTime": "2026-08-19T00:00:00.1234567Z",
                              "crossTenantAccessType": "serviceProvider,passthrough", "homeTenantId": PARTNER,
                              "status": {"errorCode": 0}, "signInEventTypes": null, "location": null,
                              "futureField": true}]}),
        )
        .with_route(
            "/v1.0/identity/conditionalAccess/policies",
            json!({"value": [{"id": "ca1", "displayName": "Future", "state": "enabledForSomethingNew",
                              "conditions": {"users": {"includeGuestsOrExternalUsers": {
                                  "guestOrExternalUserTypes": "serviceProvider,someNewType",
                                  "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"}}}},
                              "grantControls": {"operator": "OR", "builtInControls": ["mfa", "newControl"]}}]}),
        );
    let fake = fake(vec![partner, customer]).await;

    let snap = collect::collect(
        &client(&fake, PARTNER),
        &options(PARTNER, PerspectiveMode::Partner),
    )
    .await;
    assert_eq!(
        status(&snap, Source::GdapRelationships),
        CoverageStatus::Collected,
        "{:#?}",
        snap.coverage
    );
    let p = snap.partner.as_ref().unwrap();
    assert_eq!(p.relationships.len(), 2);
    let future = &p.relationships[0];
    assert_eq!(future.relationship.status.as_str(), "somethingNew");
    assert_eq!(
        future.relationship.odata_type.as_deref(),
        Some("#microsoft.graph.futureDelegatedAdminRelationship")
    );
    assert_eq!(
        future.access_assignments.as_ref().unwrap()[0].status,
        "unknownFutureValue"
    );
    let bare = &p.relationships[1];
    assert_eq!(bare.relationship.id, rel_bare);
    assert!(bare.relationship.customer.is_none() && bare.relationship.duration.is_none());
    assert_eq!(p.lighthouse_roles.len(), 1);
    assert!(p.lighthouse_roles[0].assignments[0].is_dap());
    assert_eq!(
        status(&snap, Source::LighthouseMyRoles),
        CoverageStatus::Collected
    );

    let snap = collect::collect(
        &client(&fake, CUSTOMER),
        &options(CUSTOMER, PerspectiveMode::Customer),
    )
    .await;
    let cd = snap.customer.as_ref().unwrap();
    assert_eq!(cd.foreign_role_assignments.len(), 1);
    assert_eq!(
        cd.foreign_role_assignments[0].principal_type,
        "agentIdentity"
    );
    assert_eq!(cd.foreign_role_assignments[0].home_tenant_id, PARTNER);
    let nw = &cd.sign_ins.partners[PARTNER];
    assert_eq!(nw.access_types.get("passthrough"), Some(&1));
    assert_eq!(nw.countries.get("unknown"), Some(&1));
    assert_eq!(cd.conditional_access.len(), 1);
    assert_eq!(cd.conditional_access[0].state, "enabledForSomethingNew");
    assert_eq!(
        status(&snap, Source::ConditionalAccess),
        CoverageStatus::Collected
    );
    // This tenant serves no cross-tenant access partners (404): sign-ins cannot all be attributed (#1).
    assert_eq!(status(&snap, Source::SignIns), CoverageStatus::Failed);
}

#[tokio::test]
async fn one_unreadable_item_does_not_lose_the_others() {
    let tenant = FakeTenant::new(PARTNER).with_route(
        "/v1.0/contracts",
        json!({"value": [
            {"id": "c1", "customerId": CUSTOMER},
            {"id": "c2", "customerId": {"not": "a string"}},
            {"id": "c3", "customerId": B2B}
        ]}),
    );
    let fake = fake(vec![tenant]).await;
    let snap = collect::collect(
        &client(&fake, PARTNER),
        &options(PARTNER, PerspectiveMode::Partner),
    )
    .await;
    let p = snap.partner.as_ref().unwrap();
    assert_eq!(
        p.contracts
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        vec!["c1", "c3"]
    );
    let cov = snap.coverage_of(Source::Contracts).unwrap();
    assert_eq!(cov.status, CoverageStatus::Failed);
    assert!(
        cov.detail
            .as_deref()
            .unwrap()
            .starts_with("1 of 3 contracts could not be decoded"),
        "{cov:?}"
    );
}

// ----------------------------------------------------------------------------------------------------
// Logs: filter fallback, incremental reads, bounded aggregates

fn sign_in_requests(fake: &fake_graph::FakeGraph) -> Vec<Option<String>> {
    fake.requests()
        .iter()
        .filter(|r| r.path() == "/beta/auditLogs/signIns")
        .map(|r| r.query_param("$filter"))
        .collect()
}

#[tokio::test]
async fn a_refused_sign_in_filter_falls_back_to_the_date_filter() {
    let fake = fake(vec![customer_tenant()]).await;
    fake.push_fault(Fault::new(
        "/beta/auditLogs/signIns",
        1,
        graph_error(400, "BadRequest", "Invalid filter clause"),
    ));
    let snap = collect::collect(
        &client(&fake, CUSTOMER),
        &options(CUSTOMER, PerspectiveMode::Customer),
    )
    .await;
    let cov = snap.coverage_of(Source::SignIns).unwrap();
    assert_eq!(cov.status, CoverageStatus::Collected);
    let d = cov.detail.as_deref().unwrap();
    assert!(
        d.contains("refused") && d.contains("date filter only"),
        "{d}"
    );
    let filters = sign_in_requests(&fake);
    assert_eq!(filters.len(), 2);
    assert!(filters[0].as_deref().unwrap().contains("signInEventTypes"));
    assert_eq!(
        filters[1].as_deref(),
        Some("createdDateTime ge 2026-07-21T00:00:00Z and createdDateTime le 2026-08-20T00:00:00Z")
    );
    assert_eq!(
        snap.customer.as_ref().unwrap().sign_ins.partners[PARTNER].total,
        4
    );
}

#[tokio::test]
async fn without_any_filter_sign_ins_are_filtered_client_side() {
    let fake = fake(vec![customer_tenant()]).await;
    fake.push_fault(Fault::new(
        "/beta/auditLogs/signIns",
        2,
        graph_error(400, "BadRequest", "Invalid filter clause"),
    ));
    // A window ending before two of the records: they must be left out by the client.
    let mut opts = options(CUSTOMER, PerspectiveMode::Customer);
    opts.as_of = at("2026-08-16T00:00:00Z");
    let snap = collect::collect(&client(&fake, CUSTOMER), &opts).await;
    let cov = snap.coverage_of(Source::SignIns).unwrap();
    assert_eq!(cov.status, CoverageStatus::Collected);
    assert!(
        cov.detail.as_deref().unwrap().contains("client-side"),
        "{cov:?}"
    );
    assert_eq!(sign_in_requests(&fake), vec![
        Some(
            "createdDateTime ge 2026-07-17T00:00:00Z and createdDateTime le 2026-08-16T00:00:00Z and \
             (signInEventTypes/any(t: t eq 'interactiveUser') or signInEventTypes/any(t: t eq 'nonInteractiveUser'))"
                .to_owned()
        ),
        Some("createdDateTime ge 2026-07-17T00:00:00Z and createdDateTime le 2026-08-16T00:00:00Z".to_owned()),
        None,
    ]);
    let si = &snap.customer.as_ref().unwrap().sign_ins;
    assert_eq!(si.scanned, 6, "every record read is counted");
    let nw = &si.partners[PARTNER];
    assert_eq!(nw.total, 3, "the 2026-08-18 sign-in is after the window");
    assert_eq!(si.watermark, Some(at("2026-08-15T19:15:41Z")));
}

#[tokio::test]
async fn incremental_reads_start_at_the_watermark_minus_ten_minutes() {
    let fake = fake(vec![customer_tenant()]).await;
    let mut opts = options(CUSTOMER, PerspectiveMode::Customer);
    opts.sign_in_watermark = Some(at("2026-08-18T08:12:10Z"));
    opts.audit_watermark = Some(at("2026-08-14T10:05:00Z"));
    let snap = collect::collect(&client(&fake, CUSTOMER), &opts).await;
    let filters = sign_in_requests(&fake);
    assert!(
        filters[0]
            .as_deref()
            .unwrap()
            .starts_with("createdDateTime ge 2026-08-18T08:02:10Z and"),
        "{filters:?}"
    );
    assert!(detail(&snap, Source::SignIns).contains("Incremental"));
    let cd = snap.customer.as_ref().unwrap();
    assert_eq!(cd.sign_ins.partners[PARTNER].total, 1);
    assert_eq!(cd.sign_ins.scanned, 2);
    // Audits since 10:05 - 10 min: the XTAP change at 10:01 and the role change at 10:03.
    assert_eq!(cd.audits.events.len(), 2);
    assert!(detail(&snap, Source::DirectoryAudits).contains("Incremental"));
    // A watermark older than the window does not widen it.
    let fake2 = crate::common::fake(vec![customer_tenant()]).await;
    let mut opts = options(CUSTOMER, PerspectiveMode::Customer);
    opts.sign_in_watermark = Some(as_of() - Duration::days(365));
    let snap = collect::collect(&client(&fake2, CUSTOMER), &opts).await;
    assert!(
        sign_in_requests(&fake2)[0]
            .as_deref()
            .unwrap()
            .starts_with("createdDateTime ge 2026-07-21T00:00:00Z")
    );
    assert!(!detail(&snap, Source::SignIns).contains("Incremental"));
}

const P2: &str = "a0a0a0a0-1111-4222-8333-444444444444";
const P3: &str = "b0b0b0b0-1111-4222-8333-444444444444";

async fn generated_snapshot(count: u64) -> Snapshot {
    let generator = SignInGenerator {
        count,
        start: at("2026-07-25T00:00:00Z"),
        step_secs: 10,
        partner_tenant_ids: vec![PARTNER.into(), P2.into(), P3.into()],
        resource_tenant_id: CUSTOMER.into(),
        local_percent: None,
    };
    let newest = generator.newest();
    let tenant = FakeTenant {
        generated_sign_ins: Some(generator),
        ..FakeTenant::new(CUSTOMER).with_route(
            "/v1.0/policies/crossTenantAccessPolicy/partners",
            json!({"value": [{"tenantId": PARTNER, "isServiceProvider": true}, {"tenantId": P2, "isServiceProvider": true}]}),
        )
    };
    let fake = fake(vec![tenant]).await;
    let mut opts = options(CUSTOMER, PerspectiveMode::Customer);
    opts.as_of = newest + Duration::seconds(1);
    opts.since_days = 30;
    let snap = collect::collect(&client(&fake, CUSTOMER), &opts).await;
    assert_eq!(
        status(&snap, Source::SignIns),
        CoverageStatus::Collected,
        "{:#?}",
        snap.coverage
    );
    let si = &snap.customer.as_ref().unwrap().sign_ins;
    assert_eq!(si.scanned, count);
    assert_eq!(si.watermark, Some(newest));
    assert_eq!(si.partners.len(), 3);
    let partner_total: u64 = si.partners.values().map(|p| p.total).sum();
    // About 5 % of generated records are local (crossTenantAccessType none): not partner sign-ins.
    assert!(
        partner_total < count && partner_total > count * 9 / 10,
        "{partner_total} of {count}"
    );
    for p in si.partners.values() {
        assert_eq!(p.successes + p.failures, p.total);
        assert_eq!(p.countries.values().sum::<u64>(), p.successes);
        assert_eq!(p.apps.values().sum::<u64>(), p.successes);
        assert!(p.successes_without_mfa > 0 && p.successes_without_mfa < p.successes);
        assert_eq!(p.examples.len(), collect::MAX_EXAMPLES);
        assert_eq!(p.single_factor_examples.len(), collect::MAX_EXAMPLES);
        assert!(p.country_examples.len() <= p.countries.len());
        assert!(p.last_attempt >= p.examples.first().map(|e| e.at));
    }
    snap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_sign_in_log_reduces_to_bounded_aggregates() {
    let small = generated_snapshot(20_000).await;
    let large = generated_snapshot(200_000).await;
    let (a, b) = (small.to_json().len(), large.to_json().len());
    // Only the digits of the counters may grow.
    assert!(
        b.abs_diff(a) < 512,
        "snapshot size must not grow with the log: {a} vs {b} bytes"
    );
}

// ----------------------------------------------------------------------------------------------------
// Trustworthy under bad input and dead endpoints

/// A fixture tenant in which every collection item is served twice (as Graph can while the data
/// changes under a paged read), `$batch` sub-collections included.
fn doubled(dir: &str) -> FakeTenant {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(repo(dir)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if let Some(routes) = v.get_mut("routes").and_then(|r| r.as_object_mut()) {
            for body in routes.values_mut() {
                if let Some(items) = body.get_mut("value").and_then(|v| v.as_array_mut()) {
                    let copy = items.clone();
                    items.extend(copy);
                }
            }
        }
        sources.push((name, v.to_string()));
    }
    let borrowed: Vec<(&str, &str)> = sources
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    FakeTenant::from_sources(&borrowed).unwrap()
}

/// #11: an item served twice is counted once in every collection (relationships, access assignments
/// through `$batch`, requests, operations, customers, contracts, partners, role assignments, service
/// principals, app-role grants, Conditional Access, sign-ins, directory audits): the snapshot holds
/// exactly what a clean read holds, and coverage notes the duplicates ignored.
#[tokio::test]
async fn items_served_twice_are_counted_once() {
    for (dir, tenant, perspective, sources) in [
        (
            "fixtures/test/collect-partner",
            PARTNER,
            PerspectiveMode::Partner,
            vec![
                Source::GdapRelationships,
                Source::GdapAccessAssignments,
                Source::GdapCustomers,
                Source::Contracts,
            ],
        ),
        (
            "fixtures/test/collect-customer",
            CUSTOMER,
            PerspectiveMode::Customer,
            vec![
                Source::XtapPartners,
                Source::RoleAssignments,
                Source::ServicePrincipals,
                Source::ConditionalAccess,
                Source::SignIns,
                Source::DirectoryAudits,
            ],
        ),
    ] {
        let clean_fake = fake(vec![tenant_dir(dir)]).await;
        let clean =
            collect::collect(&client(&clean_fake, tenant), &options(tenant, perspective)).await;
        let twice_fake = fake(vec![doubled(dir)]).await;
        let twice =
            collect::collect(&client(&twice_fake, tenant), &options(tenant, perspective)).await;
        assert_eq!(twice.partner, clean.partner, "{dir}");
        // Logs remember only the ids of what their aggregates count (memory must not follow the log):
        // the tenant's own records served twice are read twice, and only the count of records read says so.
        let mut twice_customer = twice.customer.clone();
        if let (Some(t), Some(c)) = (twice_customer.as_mut(), clean.customer.as_ref()) {
            assert!(t.sign_ins.scanned >= c.sign_ins.scanned);
            assert!(t.audits.scanned >= c.audits.scanned);
            t.sign_ins.scanned = c.sign_ins.scanned;
            t.audits.scanned = c.audits.scanned;
        }
        assert_eq!(twice_customer, clean.customer, "{dir}");
        for c in &clean.coverage {
            let t = twice.coverage_of(c.source).unwrap();
            assert_eq!(t.status, c.status, "{}: {t:?}", c.source);
            if matches!(c.source, Source::SignIns | Source::DirectoryAudits) {
                assert!(t.items >= c.items, "{}: {t:?}", c.source);
            } else {
                assert_eq!(t.items, c.items, "{}: {t:?}", c.source);
            }
        }
        for source in sources {
            assert!(
                detail(&twice, source).contains("duplicate"),
                "{source}: {}",
                detail(&twice, source)
            );
            assert!(!detail(&clean, source).contains("duplicate"), "{source}");
        }
    }
}

/// #11: a sign-in repeated on the next page (same id) is counted once, so ratios stay right; the dedupe
/// spans pages.
#[tokio::test]
async fn a_sign_in_repeated_on_the_next_page_counts_once() {
    let record = |i: usize, requirement: &str| {
        json!({"id": format!("si-{i}"), "createdDateTime": "2026-08-10T10:00:00Z",
               "crossTenantAccessType": "serviceProvider", "homeTenantId": PARTNER,
               "signInEventTypes": ["interactiveUser"], "status": {"errorCode": 0},
               "authenticationRequirement": requirement, "appDisplayName": "Portal",
               "location": {"countryOrRegion": "US"}})
    };
    // 1,000 records fill the first page; the second page repeats the first single-factor one.
    let mut value: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            record(
                i,
                if i == 0 {
                    "singleFactorAuthentication"
                } else {
                    "multiFactorAuthentication"
                },
            )
        })
        .collect();
    value.push(record(0, "singleFactorAuthentication"));
    let tenant = customer_tenant().with_route("/beta/auditLogs/signIns", json!({"value": value}));
    let fake = fake(vec![tenant]).await;
    let snap = collect::collect(
        &client(&fake, CUSTOMER),
        &options(CUSTOMER, PerspectiveMode::Customer),
    )
    .await;
    let p = &snap.customer.as_ref().unwrap().sign_ins.partners[PARTNER];
    assert_eq!((p.total, p.successes_without_mfa), (1000, 1));
    assert_eq!(status(&snap, Source::SignIns), CoverageStatus::Collected);
    assert!(
        detail(&snap, Source::SignIns).contains("1 duplicate record ignored"),
        "{}",
        detail(&snap, Source::SignIns)
    );
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.path().ends_with("/auditLogs/signIns"))
            .count()
            >= 2,
        "the duplicate must come from another page"
    );
}

/// #1 and #14: with a dead Graph nothing is `collected`: not the app-role grants of service principals
/// that could not be listed (they were reported collected, having nothing to ask), and not the
/// organization (whose failure left the tenant name null without a trace).
#[tokio::test]
async fn a_dead_graph_collects_nothing() {
    let fake = fake(vec![customer_tenant(), partner_tenant()]).await;
    for path in ["/v1.0/", "/beta/"] {
        fake.push_fault(Fault::new(path, 100_000, FaultKind::GatewayTimeout));
    }
    for (tenant, perspective) in [
        (CUSTOMER, PerspectiveMode::Customer),
        (PARTNER, PerspectiveMode::Auto),
    ] {
        let snap = collect::collect(&client(&fake, tenant), &options(tenant, perspective)).await;
        let collected: Vec<Source> = snap
            .coverage
            .iter()
            .filter(|c| c.status == CoverageStatus::Collected)
            .map(|c| c.source)
            .collect();
        assert!(collected.is_empty(), "{collected:?}: {:#?}", snap.coverage);
        assert_eq!(snap.tenant_name, None);
        assert_eq!(status(&snap, Source::Organization), CoverageStatus::Failed);
        assert!(
            detail(&snap, Source::Organization).contains("tenant name"),
            "{}",
            detail(&snap, Source::Organization)
        );
        if perspective == PerspectiveMode::Customer {
            assert_eq!(
                status(&snap, Source::AppRoleAssignments),
                CoverageStatus::Skipped
            );
            assert!(
                detail(&snap, Source::AppRoleAssignments).contains("service principals"),
                "{}",
                detail(&snap, Source::AppRoleAssignments)
            );
        }
    }
}

/// #1: service principals refused: their app-role grants are `skipped` naming what they depend on, not
/// `collected` with nothing.
#[tokio::test]
async fn app_role_grants_of_unlisted_service_principals_are_not_collected() {
    let fake = fake(vec![customer_tenant()]).await;
    fake.push_fault(Fault::new("/v1.0/servicePrincipals", 1000, denied()));
    let snap = collect::collect(
        &client(&fake, CUSTOMER),
        &options(CUSTOMER, PerspectiveMode::Customer),
    )
    .await;
    assert_eq!(
        status(&snap, Source::ServicePrincipals),
        CoverageStatus::Denied
    );
    assert_eq!(
        status(&snap, Source::AppRoleAssignments),
        CoverageStatus::Skipped
    );
    assert!(detail(&snap, Source::AppRoleAssignments).contains("service_principals"));
}

/// #14: a refused `/organization` is a coverage entry naming the permission, and the audit's coverage
/// is incomplete.
#[tokio::test]
async fn a_refused_organization_read_is_visible() {
    let fake = fake(vec![customer_tenant()]).await;
    fake.push_fault(Fault::new("/v1.0/organization", 10, denied()));
    let snap = collect::collect(
        &client(&fake, CUSTOMER),
        &options(CUSTOMER, PerspectiveMode::Customer),
    )
    .await;
    let org = snap.coverage_of(Source::Organization).unwrap();
    assert_eq!(org.status, CoverageStatus::Denied);
    assert_eq!(org.permission.as_deref(), Some("Organization.Read.All"));
    assert!(
        org.detail
            .as_deref()
            .unwrap()
            .contains("Organization.Read.All"),
        "{org:?}"
    );
    assert_eq!(snap.tenant_name, None);
}

fn evaluate(snap: &Snapshot) -> gdap_audit::evaluate::Evaluation {
    gdap_audit::evaluate::evaluate(
        snap,
        &gdap_audit::config::Config::default(),
        &gdap_audit::rules::HistoryView::default(),
        as_of(),
    )
}

fn partner_owned_app_not_evaluated(snap: &Snapshot) {
    let ev = evaluate(snap);
    assert!(
        ev.findings.iter().all(|f| f.rule_id != "partner-owned-app"),
        "{:#?}",
        ev.findings
    );
    assert!(
        ev.coverage.iter().any(|c| c
            .rules_not_evaluated
            .iter()
            .any(|r| r == "partner-owned-app")),
        "{:#?}",
        ev.coverage
    );
}

/// The source failed because an item could not be decoded, and says so.
fn assert_undecodable(snap: &Snapshot, source: Source) {
    assert_eq!(status(snap, source), CoverageStatus::Failed, "{source}");
    assert!(
        detail(snap, source).contains("could not be decoded"),
        "{source}: {}",
        detail(snap, source)
    );
}

/// #12: one service principal Graph sends in a shape we cannot read (it may be the partner's app) fails
/// the source, and `partner-owned-app` is not evaluated instead of silently missing the app.
#[tokio::test]
async fn an_undecodable_service_principal_fails_its_source() {
    let mut tenant = customer_tenant();
    let path = "/v1.0/servicePrincipals";
    let body: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("fixtures/test/collect-customer/directory.json")).unwrap(),
    )
    .unwrap();
    let mut sps = body["routes"][path].clone();
    sps["value"].as_array_mut().unwrap().push(
        json!({"id": 42, "appId": "x", "appOwnerOrganizationId": PARTNER, "displayName": ["odd"]}),
    );
    tenant = tenant.with_route(path, sps);
    let fake = fake(vec![tenant]).await;
    let snap = collect::collect(
        &client(&fake, CUSTOMER),
        &options(CUSTOMER, PerspectiveMode::Customer),
    )
    .await;
    assert_undecodable(&snap, Source::ServicePrincipals);
    assert_ne!(
        status(&snap, Source::AppRoleAssignments),
        CoverageStatus::Collected
    );
    partner_owned_app_not_evaluated(&snap);
}

/// #12: one undecodable app-role grant fails the source and leaves that app's grants unknown (`None`),
/// so `partner-owned-app` is not evaluated instead of a medium "holds no application permissions".
#[tokio::test]
async fn an_undecodable_app_role_grant_fails_its_source() {
    let rmm = "9d4a0c1e-5b6f-4e2a-8c3d-7f1e2a3b4c5d";
    let path = format!("/v1.0/servicePrincipals/{rmm}/appRoleAssignments");
    let tenant = customer_tenant().with_route(
        path.clone(),
        json!({"value": [{"id": "g1", "appRoleId": 7, "resourceId": ["not", "an", "id"]}]}),
    );
    let fake = fake(vec![tenant]).await;
    let snap = collect::collect(
        &client(&fake, CUSTOMER),
        &options(CUSTOMER, PerspectiveMode::Customer),
    )
    .await;
    assert_undecodable(&snap, Source::AppRoleAssignments);
    let rec = snap
        .customer
        .as_ref()
        .unwrap()
        .service_principals
        .iter()
        .find(|r| r.service_principal.id == rmm)
        .unwrap();
    assert_eq!(rec.app_roles, None);
    partner_owned_app_not_evaluated(&snap);
}

/// #1: a cross-tenant access partner list that was only partly decoded leaves every source derived from
/// it (constraints, names, partner-owned apps, sign-in attribution) incomplete, naming xtap.partners.
#[tokio::test]
async fn sources_derived_from_a_partly_decoded_partner_list_are_not_collected() {
    let path = "/v1.0/policies/crossTenantAccessPolicy/partners";
    let body: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("fixtures/test/collect-customer/xtap.json")).unwrap(),
    )
    .unwrap();
    let mut partners = body["routes"][path].clone();
    partners["value"]
        .as_array_mut()
        .unwrap()
        .push(json!({"tenantId": {"unexpected": true}, "isServiceProvider": true}));
    let fake = fake(vec![customer_tenant().with_route(path, partners)]).await;
    let snap = collect::collect(
        &client(&fake, CUSTOMER),
        &options(CUSTOMER, PerspectiveMode::Customer),
    )
    .await;
    assert_eq!(status(&snap, Source::XtapPartners), CoverageStatus::Failed);
    for source in [
        Source::XtapServiceProviderConstraints,
        Source::TenantInformation,
        Source::ServicePrincipals,
        Source::SignIns,
    ] {
        assert_eq!(status(&snap, source), CoverageStatus::Failed, "{source}");
        assert!(
            detail(&snap, source).contains("xtap.partners"),
            "{source}: {}",
            detail(&snap, source)
        );
    }
    // What could be read is kept.
    assert!(!snap.customer.as_ref().unwrap().partners.is_empty());
}

/// #1: a relationship that could not be decoded had its access assignments, requests and operations
/// never asked for: those sources are not `collected`.
#[tokio::test]
async fn sub_collections_of_an_undecodable_relationship_are_not_collected() {
    let base = "/v1.0/tenantRelationships/delegatedAdminRelationships";
    let body: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("fixtures/test/collect-partner/relationships.json")).unwrap(),
    )
    .unwrap();
    let mut rels = body["routes"][base].clone();
    rels["value"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "broken", "status": ["not", "a", "status"], "displayName": 5}));
    let fake = fake(vec![partner_tenant().with_route(base, rels)]).await;
    let snap = collect::collect(
        &client(&fake, PARTNER),
        &options(PARTNER, PerspectiveMode::Partner),
    )
    .await;
    assert_eq!(
        status(&snap, Source::GdapRelationships),
        CoverageStatus::Failed
    );
    let source = Source::GdapAccessAssignments;
    assert_eq!(status(&snap, source), CoverageStatus::Failed, "{source}");
    assert!(
        detail(&snap, source).contains("gdap.relationships"),
        "{source}: {}",
        detail(&snap, source)
    );
}
