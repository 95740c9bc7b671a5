//! The partner side: GDAP relationships (reseller relationships included) with their access
//! assignments, requests and operations (through `$batch`), GDAP customers, `/contracts` (legacy DAP)
//! and Lighthouse `myRoles`.

use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    Ctx, ItemKey, Items, PartialFailures, coverage_from_error, depends_on, describe,
    duplicates_note, encode, skipped,
};
use crate::graph::{BatchRequest, GraphError, Lenient};
use crate::model::gdap::{Contract, DelegatedAdminCustomer, DelegatedAdminRelationship, MyRole};
use crate::snapshot::{Coverage, CoverageStatus, PartnerData, RelationshipRecord, Source};

/// The first-party app every app-only GDAP caller needs in the partner tenant.
pub const PARTNER_DELEGATED_ADMIN_APP_ID: &str = "2832473f-ec63-45fb-976f-5d45a7d4bb91";

const RELATIONSHIPS: &str = "/v1.0/tenantRelationships/delegatedAdminRelationships?$top=300";
const CUSTOMERS: &str = "/v1.0/tenantRelationships/delegatedAdminCustomers?$top=300";
const CONTRACTS: &str = "/v1.0/contracts?$top=999";
const MY_ROLES: &str = "/beta/tenantRelationships/managedTenants/myRoles";

/// Batches of sub-collection requests run at once (each batch holds up to 20 requests).
const BATCHES_IN_FLIGHT: usize = 2;

/// Sub-sources under every relationship.
const SUB_SOURCES: [Source; 3] = [
    Source::GdapAccessAssignments,
    Source::GdapRequests,
    Source::GdapOperations,
];

/// Reads the partner side. `may_skip`: in auto mode on a tenant not known to be a partner, a 403/404 on
/// the relationships means "not a partner tenant": every partner source is recorded as `skipped` and
/// `None` is returned (the partner perspective is not reported).
pub(crate) async fn collect_partner(ctx: &Ctx<'_>, may_skip: bool) -> Option<PartnerData> {
    ctx.started(Source::GdapRelationships);
    let relationships = ctx
        .read_all::<DelegatedAdminRelationship>(Source::GdapRelationships, RELATIONSHIPS)
        .await;

    let mut data = PartnerData::default();
    match relationships {
        Err(e) if may_skip && (e.is_forbidden() || e.is_not_found() || e.status() == Some(401)) => {
            let why = describe(&e);
            ctx.record(Coverage {
                graph_code: e.code().map(str::to_owned),
                request_id: e.request_id().map(str::to_owned),
                ..skipped(
                    Source::GdapRelationships,
                    format!(
                        "Partner perspective skipped: listing GDAP relationships was refused ({why}) and the tenant is not recorded as a partner tenant. If it is one, grant DelegatedAdminRelationship.Read.All and, for app-only access, create the service principal of \"Partner Customer Delegated Administration\" (appId {PARTNER_DELEGATED_ADMIN_APP_ID}) in the partner tenant, then run with --perspective partner."
                    ),
                )
            });
            for source in [
                Source::GdapAccessAssignments,
                Source::GdapRequests,
                Source::GdapOperations,
                Source::GdapCustomers,
                Source::Contracts,
                Source::LighthouseMyRoles,
            ] {
                ctx.record(skipped(source, "Not read: the tenant does not appear to be a partner tenant (GDAP relationships were refused)."));
            }
            return None;
        }
        Err(e) => {
            ctx.record(relationships_error(&e));
            for source in SUB_SOURCES {
                ctx.record(skipped(
                    source,
                    "Not read: the GDAP relationships could not be listed.",
                ));
            }
        }
        Ok(items) => {
            let coverage = items.coverage(Source::GdapRelationships, "GDAP relationships");
            ctx.record(coverage);
            let unlisted = items.undecodable;
            data.relationships = sub_collections(ctx, items.values, unlisted).await;
        }
    }

    let (customers, contracts, my_roles) =
        futures::join!(customers(ctx), contracts(ctx), my_roles(ctx));
    data.customers = customers;
    data.contracts = contracts;
    data.lighthouse_roles = my_roles;
    Some(data)
}

/// Relationships refused or failed: the detail names the permission and the first-party service
/// principal app-only callers need.
fn relationships_error(e: &GraphError) -> Coverage {
    let mut c = coverage_from_error(Source::GdapRelationships, "GDAP relationships", e);
    if matches!(c.status, CoverageStatus::Denied | CoverageStatus::NotFound)
        || e.status() == Some(401)
    {
        c.detail = Some(format!(
            "GDAP relationships could not be read ({}); grant DelegatedAdminRelationship.Read.All (with admin consent) and, for app-only access, create the service principal of \"Partner Customer Delegated Administration\" (appId {PARTNER_DELEGATED_ADMIN_APP_ID}) in the partner tenant (POST /servicePrincipals with that appId).",
            describe(e)
        ));
        c.permission = Some(Source::GdapRelationships.permission().to_owned());
    }
    c
}

/// One relationship's three sub-collections through `$batch`, 20 requests per batch. `unlisted`:
/// relationships that could not be decoded, whose sub-collections were therefore never asked for.
async fn sub_collections(
    ctx: &Ctx<'_>,
    relationships: Vec<DelegatedAdminRelationship>,
    unlisted: u64,
) -> Vec<RelationshipRecord> {
    for source in SUB_SOURCES {
        ctx.started(source);
    }
    let mut requests = Vec::with_capacity(relationships.len() * 3);
    for (i, rel) in relationships.iter().enumerate() {
        let base = format!(
            "/tenantRelationships/delegatedAdminRelationships/{}",
            encode(&rel.id)
        );
        requests.push(BatchRequest {
            id: format!("{i}.a"),
            url: format!("{base}/accessAssignments?$top=300"),
        });
        requests.push(BatchRequest {
            id: format!("{i}.r"),
            url: format!("{base}/requests?$top=300"),
        });
        requests.push(BatchRequest {
            id: format!("{i}.o"),
            url: format!("{base}/operations?$top=300"),
        });
    }
    let chunks: Vec<Vec<BatchRequest>> = requests
        .chunks(crate::graph::batch::MAX_BATCH)
        .map(<[_]>::to_vec)
        .collect();
    let answers: Vec<(String, Result<Value, GraphError>)> = futures::stream::iter(chunks)
        .map(|chunk| ctx.client.batch("v1.0", chunk))
        .buffer_unordered(BATCHES_IN_FLIGHT)
        .flat_map(futures::stream::iter)
        .collect()
        .await;

    let mut records: Vec<RelationshipRecord> = relationships
        .into_iter()
        .map(|relationship| RelationshipRecord {
            relationship,
            ..RelationshipRecord::default()
        })
        .collect();
    let mut assignments = SubSource::new(Source::GdapAccessAssignments);
    let mut reqs = SubSource::new(Source::GdapRequests);
    let mut ops = SubSource::new(Source::GdapOperations);

    // Follow inner nextLinks a few at a time.
    let resolved: Vec<(usize, char, Result<Vec<Value>, GraphError>)> =
        futures::stream::iter(answers)
            .map(|(id, result)| async move {
                let (index, kind) = parse_id(&id);
                let items = match result {
                    Ok(body) => follow(ctx, body).await,
                    Err(e) => Err(e),
                };
                (index, kind, items)
            })
            .buffer_unordered(4)
            .collect()
            .await;

    for (index, kind, items) in resolved {
        let Some(record) = records.get_mut(index) else {
            continue;
        };
        let subject = format!("relationship {}", record.relationship.id);
        let terminal = record.relationship.status.is_terminal();
        match kind {
            'a' => record.access_assignments = assignments.settle(items, terminal, &subject),
            'r' => record.requests = reqs.settle(items, terminal, &subject),
            _ => record.operations = ops.settle(items, terminal, &subject),
        }
    }
    ctx.record(assignments.coverage("accessAssignments", unlisted));
    ctx.record(reqs.coverage("requests", unlisted));
    ctx.record(ops.coverage("operations", unlisted));
    records
}

/// The outcome of one sub-collection over every relationship.
struct SubSource {
    failures: PartialFailures,
    items: u64,
    duplicates: u64,
}

impl SubSource {
    fn new(source: Source) -> Self {
        SubSource {
            failures: PartialFailures::new(source),
            items: 0,
            duplicates: 0,
        }
    }

    /// One relationship's sub-collection: the decoded items (each id once), or `None` with the failure
    /// counted. A 404 under a relationship that has ended (expired, terminated) means nothing is left
    /// to read there: none.
    fn settle<T: DeserializeOwned + ItemKey>(
        &mut self,
        items: Result<Vec<Value>, GraphError>,
        terminal: bool,
        subject: &str,
    ) -> Option<Vec<T>> {
        match decode_all::<T>(items) {
            Ok((v, duplicates)) => {
                self.failures.ok();
                self.items += v.len() as u64;
                self.duplicates += duplicates;
                Some(v)
            }
            Err(e) if terminal && e.is_not_found() => {
                self.failures.ok();
                Some(Vec::new())
            }
            Err(e) => {
                self.failures.fail(subject, &e);
                None
            }
        }
    }

    /// Coverage; `unlisted` relationships could not be decoded, so theirs were never read: not
    /// `collected` then, whatever the others gave.
    fn coverage(&self, what: &str, unlisted: u64) -> Coverage {
        let mut c = self.failures.coverage(
            what,
            "relationships",
            self.items,
            duplicates_note(self.duplicates),
        );
        if unlisted > 0 {
            depends_on(
                &mut c,
                &format!(
                    "Not read for {unlisted} relationship(s) that could not be decoded (see gdap.relationships)."
                ),
            );
        }
        c
    }
}

/// `"12.a"` -> `(12, 'a')`.
fn parse_id(id: &str) -> (usize, char) {
    let (index, kind) = id.split_once('.').unwrap_or((id, "?"));
    (
        index.parse().unwrap_or(usize::MAX),
        kind.chars().next().unwrap_or('?'),
    )
}

/// The items of a `$batch` inner page, following its `@odata.nextLink` (on the Graph host only).
async fn follow(ctx: &Ctx<'_>, body: Value) -> Result<Vec<Value>, GraphError> {
    let page: crate::graph::Page<Value> =
        serde_json::from_value(body).map_err(|e| GraphError::Decode {
            url: "$batch response".into(),
            detail: e.to_string(),
            request_id: None,
        })?;
    let mut items = page.value;
    // The client refuses a link off the Graph endpoint.
    if let Some(link) = page.next_link {
        let mut pages = std::pin::pin!(ctx.client.pages::<Value>(&link));
        while let Some(more) = pages.try_next().await? {
            items.extend(more);
        }
    }
    Ok(items)
}

/// Decodes every item, each id once (with the number of duplicates ignored); one undecodable item
/// makes the whole sub-collection unreadable (and `None`).
fn decode_all<T: DeserializeOwned + ItemKey>(
    items: Result<Vec<Value>, GraphError>,
) -> Result<(Vec<T>, u64), GraphError> {
    let items = items?;
    let mut out = Items::<T>::default();
    for v in items {
        out.push(Lenient::from_value(v));
    }
    if let Some(e) = out.decode_error("$batch response") {
        return Err(e);
    }
    Ok((out.values, out.duplicates))
}

async fn customers(ctx: &Ctx<'_>) -> Vec<DelegatedAdminCustomer> {
    let source = Source::GdapCustomers;
    ctx.started(source);
    match ctx
        .read_all::<DelegatedAdminCustomer>(source, CUSTOMERS)
        .await
    {
        Ok(items) => {
            ctx.record(items.coverage(source, "GDAP customers"));
            items.values
        }
        Err(e) => {
            ctx.record(coverage_from_error(source, "GDAP customers", &e));
            Vec::new()
        }
    }
}

async fn contracts(ctx: &Ctx<'_>) -> Vec<Contract> {
    let source = Source::Contracts;
    ctx.started(source);
    match ctx.read_all::<Contract>(source, CONTRACTS).await {
        Ok(items) => {
            ctx.record(items.coverage(source, "contracts"));
            items.values
        }
        Err(e) => {
            ctx.record(coverage_from_error(
                source,
                "Partner contracts (/contracts)",
                &e,
            ));
            Vec::new()
        }
    }
}

/// Lighthouse `myRoles`: app-only tokens are refused (403), which is expected, not an error.
async fn my_roles(ctx: &Ctx<'_>) -> Vec<MyRole> {
    let source = Source::LighthouseMyRoles;
    ctx.started(source);
    match ctx.read_all::<MyRole>(source, MY_ROLES).await {
        Ok(items) => {
            ctx.record(items.coverage(source, "Lighthouse roles"));
            items.values
        }
        Err(e) if e.is_forbidden() => {
            ctx.record(Coverage {
                graph_code: e.code().map(str::to_owned),
                request_id: e.request_id().map(str::to_owned),
                permission: Some(source.permission().to_owned()),
                ..skipped(
                    source,
                    "Lighthouse myRoles needs a delegated sign-in (ManagedTenants.Read.All); app-only tokens are refused",
                )
            });
            Vec::new()
        }
        Err(e) => {
            ctx.record(coverage_from_error(source, "Lighthouse myRoles", &e));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_round_trip() {
        assert_eq!(parse_id("12.a"), (12, 'a'));
        assert_eq!(parse_id("0.o"), (0, 'o'));
        assert_eq!(parse_id("x"), (usize::MAX, '?'));
    }

    #[test]
    fn relationship_denial_names_the_service_principal() {
        let e = GraphError::Status {
            method: "GET",
            url: "u".into(),
            status: 403,
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges".into(),
            request_id: None,
        };
        let c = relationships_error(&e);
        assert_eq!(c.status, CoverageStatus::Denied);
        let d = c.detail.unwrap();
        assert!(
            d.contains(PARTNER_DELEGATED_ADMIN_APP_ID)
                && d.contains("DelegatedAdminRelationship.Read.All"),
            "{d}"
        );
        assert!(d.contains("Partner Customer Delegated Administration"));
    }
}
