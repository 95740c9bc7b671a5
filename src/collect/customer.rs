//! The customer side: what the audited tenant shows about the partners that can administer it.
//!
//! There is no Graph view of GDAP relationships from the customer side (research §2), so partner access
//! is inferred from cross-tenant access partners (`isServiceProvider`, `serviceProviderConstraints`),
//! directory roles held by principals of other tenants, apps owned by partner tenants, Conditional
//! Access, and the logs (see [`super::logs`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::json;

use super::{
    Ctx, Items, PartialFailures, collected, coverage_from_error, depends_on, describe,
    duplicates_note, encode, logs, skipped,
};
use crate::graph::{GraphError, Page};
use crate::model::customer::{
    AppRoleAssignment, ConditionalAccessPolicy, CrossTenantDefault, CrossTenantPartner,
    DirectoryObject, RoleAssignment, ServicePrincipal, ServiceProviderConstraints,
    TenantInformation,
};
use crate::snapshot::{
    AppRoleGrant, CustomerData, ForeignRoleAssignment, PartnerRecord, ServicePrincipalRecord,
    Source,
};

/// The GDAP first-party apps Microsoft creates in a customer tenant (research §2.3).
pub const GDAP_FIRST_PARTY_APP_IDS: [&str; 3] = [
    "2832473f-ec63-45fb-976f-5d45a7d4bb91", // Partner Customer Delegated Administration
    "a3475900-ccec-4a69-98f5-a65cd5dc5306", // Partner Customer Delegated Admin Offline Processor
    "b39d63e7-7fa3-4b2b-94ea-ee256fdb8c2f", // Partner Center Delegated Admin Migrate
];

/// The tenant that owns Microsoft's first-party apps: never a "partner-owned" app.
pub use crate::model::customer::MICROSOFT_TENANT as MICROSOFT_OWNER_TENANT;

/// Per-partner calls in flight at once: as many as the client lets through (`--max-in-flight`), which
/// also bounds the requests themselves.
fn per_partner_concurrency(ctx: &Ctx<'_>) -> usize {
    ctx.client.max_in_flight()
}

/// Principals that came back without their expanded object are resolved with `getByIds`, at most this
/// many (`getByIds` takes 1,000 ids per call).
const MAX_RESOLVE: usize = 2000;
const GET_BY_IDS_CHUNK: usize = 1000;

/// A service-principal query's owner (None: the first-party query), its path and its answer.
type OwnerQueryResult = (
    Option<String>,
    String,
    Result<Items<ServicePrincipal>, GraphError>,
);

const SP_SELECT: &str =
    "id,appId,displayName,appOwnerOrganizationId,accountEnabled,servicePrincipalType";

/// Said of every source that depends on a partner list that was only partly decoded.
const PARTNERS_PARTIAL: &str = "Read only for the cross-tenant access partners that could be decoded (xtap.partners is incomplete).";

pub(crate) async fn collect_customer(ctx: &Ctx<'_>) -> CustomerData {
    let partners = xtap_partners(ctx).await;
    let partners_read = partners.is_some();
    // Every partner decoded: sources derived from the list are complete only then.
    let partners_complete = partners.as_ref().is_some_and(|(_, complete)| *complete);
    let partners = partners.map(|(p, _)| p).unwrap_or_default();

    let service_providers: BTreeSet<String> = partners
        .iter()
        .filter(|p| p.is_service_provider == Some(true))
        .map(|p| p.tenant_id.clone())
        .collect();
    let partner_ids: Vec<String> = {
        let mut ids: Vec<String> = partners
            .iter()
            .map(|p| p.tenant_id.clone())
            .filter(|t| !t.is_empty())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let sp_ids: Vec<String> = service_providers.iter().cloned().collect();

    let (constraints, names, default_policy, foreign, apps, ca, sign_ins, audits) = futures::join!(
        constraints(ctx, &sp_ids, partners_read, partners_complete),
        tenant_names(ctx, &partner_ids, partners_read, partners_complete),
        default_policy(ctx),
        role_assignments(ctx),
        service_principals(ctx, &partner_ids, partners_read, partners_complete),
        conditional_access(ctx),
        logs::sign_ins(ctx, &service_providers, partners_complete),
        logs::directory_audits(ctx),
    );

    let records = partners
        .into_iter()
        .map(|p| {
            let is_sp = p.is_service_provider == Some(true);
            let (allowed_roles, constraints_modified) = match constraints.get(&p.tenant_id) {
                Some(Some((roles, modified))) if is_sp => (Some(roles.clone()), *modified),
                _ => (None, None),
            };
            let info = names.get(&p.tenant_id);
            PartnerRecord {
                display_name: info
                    .and_then(|i| i.display_name.clone())
                    .filter(|n| !n.is_empty()),
                default_domain_name: info
                    .and_then(|i| i.default_domain_name.clone())
                    .filter(|n| !n.is_empty()),
                is_service_provider: is_sp,
                inbound_trust: p.inbound_trust,
                allowed_roles,
                constraints_modified,
                tenant_id: p.tenant_id,
            }
        })
        .collect();

    CustomerData {
        partners: records,
        default_policy,
        foreign_role_assignments: foreign,
        service_principals: apps,
        sign_ins,
        audits,
        conditional_access: ca,
        role_definitions: Vec::new(),
        azure: None,
    }
}

/// Cross-tenant access partners, tenant ids lower-cased, and whether every entry could be decoded.
/// `None` when they could not be read.
async fn xtap_partners(ctx: &Ctx<'_>) -> Option<(Vec<CrossTenantPartner>, bool)> {
    let source = Source::XtapPartners;
    ctx.started(source);
    match ctx
        .read_all::<CrossTenantPartner>(source, "/v1.0/policies/crossTenantAccessPolicy/partners")
        .await
    {
        Ok(items) => {
            ctx.record(items.coverage(source, "cross-tenant access partners"));
            let complete = items.undecodable == 0;
            Some((items.values, complete))
        }
        Err(e) => {
            ctx.record(coverage_from_error(
                source,
                "Cross-tenant access partners",
                &e,
            ));
            None
        }
    }
}

type Constraint = Option<(Vec<String>, Option<DateTime<Utc>>)>;

/// `serviceProviderConstraints` per service-provider partner: 404 means none (`Some(vec![])`), any other
/// failure leaves it unknown (`None`).
async fn constraints(
    ctx: &Ctx<'_>,
    sp_ids: &[String],
    partners_read: bool,
    partners_complete: bool,
) -> BTreeMap<String, Constraint> {
    let source = Source::XtapServiceProviderConstraints;
    if !partners_read {
        ctx.record(skipped(
            source,
            "Not read: the cross-tenant access partners could not be listed.",
        ));
        return BTreeMap::new();
    }
    ctx.started(source);
    let results: Vec<(
        String,
        Result<Option<ServiceProviderConstraints>, GraphError>,
    )> = futures::stream::iter(sp_ids.iter().cloned())
        .map(|tid| async move {
            let path = format!(
                "/v1.0/policies/crossTenantAccessPolicy/partners/{}/serviceProviderConstraints",
                encode(&tid)
            );
            let r = match ctx.client.get::<ServiceProviderConstraints>(&path).await {
                Ok(c) => Ok(Some(c)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            };
            (tid, r)
        })
        .buffer_unordered(per_partner_concurrency(ctx))
        .collect()
        .await;
    let mut failures = PartialFailures::new(source);
    let mut out = BTreeMap::new();
    let mut none = 0u64;
    for (tid, r) in results {
        match r {
            Ok(Some(c)) => {
                failures.ok();
                let mut roles: Vec<String> = c
                    .allowed_role_template_ids
                    .iter()
                    .map(|r| r.to_ascii_lowercase())
                    .collect();
                roles.sort();
                roles.dedup();
                out.insert(
                    tid,
                    Some((roles, c.last_modified_date_time.or(c.created_date_time))),
                );
            }
            Ok(None) => {
                failures.ok();
                none += 1;
                out.insert(tid, Some((Vec::new(), None)));
            }
            Err(e) => {
                failures.fail(&format!("partner {tid}"), &e);
                out.insert(tid, None);
            }
        }
    }
    let note = (none > 0)
        .then(|| format!("{none} service-provider partner(s) have no constraints (404)."));
    let mut coverage = failures.coverage(
        "serviceProviderConstraints",
        "service-provider partners",
        sp_ids.len() as u64,
        note,
    );
    if !partners_complete {
        depends_on(&mut coverage, PARTNERS_PARTIAL);
    }
    ctx.record(coverage);
    out
}

/// Partner names through `findTenantInformationByTenantId`.
async fn tenant_names(
    ctx: &Ctx<'_>,
    partner_ids: &[String],
    partners_read: bool,
    partners_complete: bool,
) -> HashMap<String, TenantInformation> {
    let source = Source::TenantInformation;
    if !partners_read {
        ctx.record(skipped(
            source,
            "Not read: the cross-tenant access partners could not be listed.",
        ));
        return HashMap::new();
    }
    ctx.started(source);
    let results: Vec<(String, Result<TenantInformation, GraphError>)> =
        futures::stream::iter(partner_ids.iter().cloned())
            .map(|tid| async move {
                let path = format!(
                    "/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId=%27{}%27)",
                    encode(&tid)
                );
                let r = ctx.client.get::<TenantInformation>(&path).await;
                (tid, r)
            })
            .buffer_unordered(per_partner_concurrency(ctx))
            .collect()
            .await;
    let mut failures = PartialFailures::new(source);
    let mut out = HashMap::new();
    for (tid, r) in results {
        match r {
            Ok(info) => {
                failures.ok();
                out.insert(tid, info);
            }
            Err(e) => failures.fail(&format!("tenant {tid}"), &e),
        }
    }
    let mut coverage = failures.coverage("tenant names", "partners", out.len() as u64, None);
    if !partners_complete {
        depends_on(&mut coverage, PARTNERS_PARTIAL);
    }
    ctx.record(coverage);
    out
}

async fn default_policy(ctx: &Ctx<'_>) -> Option<CrossTenantDefault> {
    let source = Source::XtapDefault;
    ctx.started(source);
    match ctx
        .client
        .get::<CrossTenantDefault>("/v1.0/policies/crossTenantAccessPolicy/default")
        .await
    {
        Ok(d) => {
            ctx.record(collected(source, 1, None));
            Some(d)
        }
        Err(e) => {
            ctx.record(coverage_from_error(
                source,
                "The default cross-tenant access policy",
                &e,
            ));
            None
        }
    }
}

async fn conditional_access(ctx: &Ctx<'_>) -> Vec<ConditionalAccessPolicy> {
    let source = Source::ConditionalAccess;
    ctx.started(source);
    match ctx
        .read_all::<ConditionalAccessPolicy>(source, "/v1.0/identity/conditionalAccess/policies")
        .await
    {
        Ok(items) => {
            ctx.record(items.coverage(source, "Conditional Access policies"));
            items.values
        }
        Err(e) => {
            ctx.record(coverage_from_error(
                source,
                "Conditional Access policies",
                &e,
            ));
            Vec::new()
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Directory roles held by principals of other tenants

async fn role_assignments(ctx: &Ctx<'_>) -> Vec<ForeignRoleAssignment> {
    let source = Source::RoleAssignments;
    ctx.started(source);
    let items = match ctx
        .read_all::<RoleAssignment>(
            source,
            "/v1.0/roleManagement/directory/roleAssignments?$expand=principal",
        )
        .await
    {
        Ok(items) => items,
        Err(e) => {
            ctx.record(coverage_from_error(
                source,
                "Directory role assignments",
                &e,
            ));
            return Vec::new();
        }
    };
    let mut coverage = items.coverage(source, "role assignments");

    // Principals the expand did not return: ask getByIds, partner references included (bounded).
    let mut missing: Vec<String> = items
        .values
        .iter()
        .filter(|a| a.principal.is_none() && !a.principal_id.is_empty())
        .map(|a| a.principal_id.clone())
        .collect();
    missing.sort();
    missing.dedup();
    let mut resolved: HashMap<String, DirectoryObject> = HashMap::new();
    let mut notes = Vec::new();
    if missing.len() > MAX_RESOLVE {
        notes.push(format!(
            "{} principals without an expanded object; only {MAX_RESOLVE} were resolved.",
            missing.len()
        ));
        missing.truncate(MAX_RESOLVE);
    }
    for chunk in missing.chunks(GET_BY_IDS_CHUNK) {
        let body = json!({
            "ids": chunk,
            "types": ["user", "group", "servicePrincipal", "device", "directoryObjectPartnerReference"],
        });
        match ctx
            .client
            .post::<Page<DirectoryObject>>("/v1.0/directoryObjects/getByIds", &body)
            .await
        {
            Ok(page) => {
                for o in page.value {
                    resolved.insert(o.id.clone(), o);
                }
            }
            Err(e) => {
                notes.push(format!(
                    "principals missing from the expand could not be resolved with getByIds ({}); they are kept by principalOrganizationId with type unknown.",
                    describe(&e)
                ));
                break;
            }
        }
    }

    let foreign: Vec<ForeignRoleAssignment> = items
        .values
        .iter()
        .filter_map(|a| foreign_assignment(a, resolved.get(&a.principal_id), &ctx.tenant))
        .collect();
    if !notes.is_empty() {
        let joined = notes.join(" ");
        coverage.detail = Some(match coverage.detail.take() {
            Some(d) => format!("{d} {joined}"),
            None => joined,
        });
    }
    coverage.items = Some(items.values.len() as u64);
    ctx.record(coverage);
    foreign
}

/// The assignment when its principal belongs to another tenant, attributed to that tenant: a
/// `directoryObjectPartnerReference` (home = `externalPartnerTenantId`), or a `principalOrganizationId`
/// other than the audited tenant. A principal Graph did not return is kept with type `unknown`.
pub fn foreign_assignment(
    a: &RoleAssignment,
    resolved: Option<&DirectoryObject>,
    audited_tenant: &str,
) -> Option<ForeignRoleAssignment> {
    let principal = a.principal.as_ref().or(resolved);
    let org = a
        .principal_organization_id
        .clone()
        .filter(|o| !o.is_empty());
    let kind = principal.map(DirectoryObject::kind).unwrap_or("unknown");
    let home = if kind.eq_ignore_ascii_case("directoryObjectPartnerReference") {
        principal
            .and_then(|p| p.external_partner_tenant_id.clone())
            .filter(|t| !t.is_empty())
            .or(org)
            .unwrap_or_else(|| "unknown".to_owned())
    } else {
        org?
    };
    if home == audited_tenant {
        return None;
    }
    Some(ForeignRoleAssignment {
        assignment_id: a.id.clone(),
        role_id: a.role_definition_id.to_ascii_lowercase(),
        principal_id: a.principal_id.clone(),
        principal_type: kind.to_owned(),
        principal_name: principal
            .and_then(|p| {
                p.display_name
                    .clone()
                    .or_else(|| p.user_principal_name.clone())
            })
            .filter(|n| !n.is_empty()),
        home_tenant_id: home,
        directory_scope_id: a.directory_scope_id.clone(),
    })
}

// ----------------------------------------------------------------------------------------------------
// Service principals: GDAP first-party apps and apps owned by partner tenants

async fn service_principals(
    ctx: &Ctx<'_>,
    partner_ids: &[String],
    partners_read: bool,
    partners_complete: bool,
) -> Vec<ServicePrincipalRecord> {
    let source = Source::ServicePrincipals;
    ctx.started(source);
    let owners: Vec<String> = partner_ids
        .iter()
        .filter(|t| t.as_str() != MICROSOFT_OWNER_TENANT && **t != ctx.tenant)
        .cloned()
        .collect();

    // Query 0: the first-party apps; then one per partner tenant. Graph filters; we filter again.
    let first_party_filter = format!(
        "appId in ({})",
        GDAP_FIRST_PARTY_APP_IDS
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut queries: Vec<(Option<String>, String)> = vec![(
        None,
        format!(
            "/v1.0/servicePrincipals?$filter={}&$select={SP_SELECT}",
            encode(&first_party_filter)
        ),
    )];
    for owner in &owners {
        let filter = format!("appOwnerOrganizationId eq {owner}");
        queries.push((
            Some(owner.clone()),
            format!(
                "/v1.0/servicePrincipals?$filter={}&$select={SP_SELECT}",
                encode(&filter)
            ),
        ));
    }
    let results: Vec<OwnerQueryResult> = futures::stream::iter(queries)
        .map(|(owner, path)| async move {
            let r = ctx.read_all::<ServicePrincipal>(source, &path).await;
            (owner, path, r)
        })
        .buffer_unordered(per_partner_concurrency(ctx))
        .collect()
        .await;

    let mut failures = PartialFailures::new(source);
    let mut duplicates = 0u64;
    let mut by_id: BTreeMap<String, ServicePrincipal> = BTreeMap::new();
    for (owner, path, r) in results {
        let subject = match &owner {
            Some(o) => format!("apps owned by {o}"),
            None => "GDAP first-party apps".to_owned(),
        };
        let items = match r {
            Ok(items) => items,
            Err(e) => {
                failures.fail(&subject, &e);
                continue;
            }
        };
        // An undecodable service principal may be exactly the partner's app: the query failed.
        match items.decode_error(&path) {
            Some(e) => failures.fail(&subject, &e),
            None => failures.ok(),
        }
        duplicates += items.duplicates;
        for sp in items.values {
            let keep = match &owner {
                None => GDAP_FIRST_PARTY_APP_IDS
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&sp.app_id)),
                Some(o) => sp
                    .app_owner_organization_id
                    .as_deref()
                    .is_some_and(|x| x == o),
            };
            if keep && !sp.id.is_empty() {
                by_id.insert(sp.id.to_ascii_lowercase(), sp);
            }
        }
    }
    let mut coverage = failures.coverage(
        "service principals",
        &format!("queries ({} partner tenants)", owners.len()),
        by_id.len() as u64,
        duplicates_note(duplicates),
    );
    if !partners_read {
        // Only the first-party query could be asked: partner-owned apps were never looked for.
        depends_on(
            &mut coverage,
            "Apps owned by partner tenants were not looked for: they are found by the cross-tenant access partners (xtap.partners), which could not be listed; only the GDAP first-party apps were read.",
        );
    } else if !partners_complete {
        depends_on(&mut coverage, PARTNERS_PARTIAL);
    }
    let listed = coverage.status.is_complete();
    ctx.record(coverage);

    app_roles(ctx, by_id.into_values().collect(), listed).await
}

/// The app roles each service principal holds, resolved to permission names through the resource
/// service principal's `appRoles` (read once per resource). `listed`: the service principals were all
/// listed; otherwise this source is incomplete too, whatever it reads.
async fn app_roles(
    ctx: &Ctx<'_>,
    sps: Vec<ServicePrincipal>,
    listed: bool,
) -> Vec<ServicePrincipalRecord> {
    let source = Source::AppRoleAssignments;
    if !listed && sps.is_empty() {
        ctx.record(skipped(
            source,
            "Not read: the service principals they belong to could not be listed (see service_principals).",
        ));
        return Vec::new();
    }
    ctx.started(source);
    let assignments: Vec<(usize, Result<Vec<AppRoleAssignment>, GraphError>)> =
        futures::stream::iter(sps.iter().enumerate())
            .map(|(i, sp)| async move {
                let path = format!(
                    "/v1.0/servicePrincipals/{}/appRoleAssignments",
                    encode(&sp.id)
                );
                // One undecodable grant may be the sensitive one: the whole list is unknown then.
                let r = ctx
                    .read_all::<AppRoleAssignment>(source, &path)
                    .await
                    .and_then(|items| match items.decode_error(&path) {
                        Some(e) => Err(e),
                        None => Ok(items.values),
                    });
                (i, r)
            })
            .buffer_unordered(per_partner_concurrency(ctx))
            .collect()
            .await;
    let mut by_index: BTreeMap<usize, Result<Vec<AppRoleAssignment>, GraphError>> =
        assignments.into_iter().collect();

    // Resource applications, once each.
    let resource_ids: BTreeSet<String> = by_index
        .values()
        .filter_map(|r| r.as_ref().ok())
        .flatten()
        .map(|a| a.resource_id.clone())
        .filter(|r| !r.is_empty())
        .collect();
    let resources: Vec<(String, Result<ServicePrincipal, GraphError>)> =
        futures::stream::iter(resource_ids.iter().cloned())
            .map(|rid| async move {
                let path = format!(
                    "/v1.0/servicePrincipals/{}?$select=id,appId,displayName,appRoles",
                    encode(&rid)
                );
                let r = ctx.client.get::<ServicePrincipal>(&path).await;
                (rid, r)
            })
            .buffer_unordered(per_partner_concurrency(ctx))
            .collect()
            .await;
    let mut resource_failures = PartialFailures::new(source);
    let mut resource_by_id: HashMap<String, ServicePrincipal> = HashMap::new();
    for (rid, r) in resources {
        match r {
            Ok(sp) => {
                resource_failures.ok();
                resource_by_id.insert(rid, sp);
            }
            Err(e) => resource_failures.fail(&format!("resource {rid}"), &e),
        }
    }

    let mut failures = PartialFailures::new(source);
    let mut grants_total = 0u64;
    let mut records = Vec::with_capacity(sps.len());
    for (i, sp) in sps.into_iter().enumerate() {
        let app_roles = match by_index.remove(&i) {
            Some(Ok(list)) => {
                failures.ok();
                let mut grants: Vec<AppRoleGrant> = list
                    .iter()
                    .map(|a| grant(a, resource_by_id.get(&a.resource_id)))
                    .collect();
                grants.sort();
                grants.dedup();
                grants_total += grants.len() as u64;
                Some(grants)
            }
            Some(Err(e)) => {
                failures.fail(&format!("service principal {}", sp.id), &e);
                None
            }
            None => None,
        };
        records.push(ServicePrincipalRecord {
            service_principal: sp,
            app_roles,
        });
    }
    let mut coverage = failures.coverage(
        "app role assignments",
        "service principals",
        grants_total,
        None,
    );
    if resource_failures.failed > 0 && coverage.status.is_complete() {
        let c = resource_failures.coverage(
            "app roles of resource applications",
            "resources",
            grants_total,
            Some("Their grants are listed by app role id.".to_owned()),
        );
        coverage = c;
    }
    if !listed {
        depends_on(
            &mut coverage,
            "Read only for the service principals that could be listed: service_principals is incomplete, so app roles of the others are unknown.",
        );
    }
    ctx.record(coverage);
    records
}

fn grant(a: &AppRoleAssignment, resource: Option<&ServicePrincipal>) -> AppRoleGrant {
    let name = resource
        .and_then(|r| r.display_name.clone())
        .or_else(|| a.resource_display_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| a.resource_id.clone());
    let permission = resource
        .and_then(|r| {
            r.app_roles
                .iter()
                .find(|role| role.id.eq_ignore_ascii_case(&a.app_role_id))
        })
        .and_then(|role| role.value.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            if a.app_role_id == "00000000-0000-0000-0000-000000000000" {
                "(default access)".to_owned()
            } else {
                a.app_role_id.clone()
            }
        });
    AppRoleGrant {
        resource: name,
        resource_app_id: resource.map(|r| r.app_id.clone()).filter(|a| !a.is_empty()),
        permission,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: &str = "52eaad04-13a2-4a2f-9ce8-93a294fadf36";
    const PARTNER: &str = "8777b240-c6f0-4469-9e98-a3205431b836";

    fn assignment(json: serde_json::Value) -> RoleAssignment {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn foreign_principals_are_attributed_to_their_home_tenant() {
        let partner_ref = assignment(json!({
            "id": "a1", "principalId": "p1", "roleDefinitionId": "62E90394-69F5-4237-9190-012177145E10",
            "principal": {"@odata.type": "#microsoft.graph.directoryObjectPartnerReference", "id": "p1",
                          "displayName": "AdminAgents", "externalPartnerTenantId": PARTNER.to_uppercase()}
        }));
        let f = foreign_assignment(&partner_ref, None, US).unwrap();
        assert_eq!(f.home_tenant_id, PARTNER);
        assert_eq!(f.principal_type, "directoryObjectPartnerReference");
        assert_eq!(f.role_id, "62e90394-69f5-4237-9190-012177145e10");
        assert_eq!(f.principal_name.as_deref(), Some("AdminAgents"));

        let by_org = assignment(
            json!({"id": "a2", "principalId": "p2", "roleDefinitionId": "r",
            "principalOrganizationId": PARTNER, "principal": null}),
        );
        let f = foreign_assignment(&by_org, None, US).unwrap();
        assert_eq!(
            (f.principal_type.as_str(), f.home_tenant_id.as_str()),
            ("unknown", PARTNER)
        );

        // Resolved later through getByIds.
        let resolved: DirectoryObject = serde_json::from_value(json!({
            "@odata.type": "#microsoft.graph.directoryObjectPartnerReference", "id": "p2", "externalPartnerTenantId": PARTNER
        }))
        .unwrap();
        let f = foreign_assignment(&by_org, Some(&resolved), US).unwrap();
        assert_eq!(f.principal_type, "directoryObjectPartnerReference");

        let local = assignment(
            json!({"id": "a3", "principalId": "p3", "roleDefinitionId": "r",
            "principalOrganizationId": US.to_uppercase(), "principal": {"@odata.type": "#microsoft.graph.user", "id": "p3"}}),
        );
        assert!(foreign_assignment(&local, None, US).is_none());
        let no_org = assignment(json!({"id": "a4", "principalId": "p4", "roleDefinitionId": "r"}));
        assert!(foreign_assignment(&no_org, None, US).is_none());

        let odd = assignment(
            json!({"id": "a5", "principalId": "p5", "roleDefinitionId": "r",
            "principalOrganizationId": PARTNER, "principal": {"@odata.type": "#microsoft.graph.somethingNew", "id": "p5"}}),
        );
        assert_eq!(
            foreign_assignment(&odd, None, US).unwrap().principal_type,
            "somethingNew"
        );
    }

    #[test]
    fn grants_resolve_permission_names() {
        let resource: ServicePrincipal = serde_json::from_value(json!({
            "id": "res", "appId": "00000003-0000-0000-c000-000000000000", "displayName": "Microsoft Graph",
            "appRoles": [{"id": "19dbc75e-c2e2-444c-a770-ec69d8559fc7", "value": "Directory.ReadWrite.All"}]
        }))
        .unwrap();
        let a: AppRoleAssignment = serde_json::from_value(json!({
            "id": "x", "appRoleId": "19DBC75E-C2E2-444C-A770-EC69D8559FC7", "resourceId": "res", "principalId": "sp"
        }))
        .unwrap();
        let g = grant(&a, Some(&resource));
        assert_eq!(g.permission, "Directory.ReadWrite.All");
        assert_eq!(g.resource, "Microsoft Graph");
        assert_eq!(
            g.resource_app_id.as_deref(),
            Some("00000003-0000-0000-c000-000000000000")
        );
        let unresolved = grant(&a, None);
        assert_eq!(
            unresolved.permission,
            "19DBC75E-C2E2-444C-A770-EC69D8559FC7"
        );
        assert_eq!(unresolved.resource, "res");
    }
}
