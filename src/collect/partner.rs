//! The partner side: GDAP relationships (reseller relationships included) with their access
//! assignments (through `$batch`), GDAP customers, `/contracts` (legacy DAP) and Lighthouse `myRoles`.
//!
//! Speed: the access assignments of each page of relationships are asked for as soon as the page is
//! read, in `$batch`es of 20, as many at once as the client allows (`--max-in-flight`); customers,
//! contracts and `myRoles` are read meanwhile. Memory: each `$batch` answer is decoded straight into
//! the model, and nothing else of it is kept.
//!
//! A relationship's `requests` and `operations` are not read: no rule uses them, and they were two
//! thirds of the partner side's requests. Their sources are recorded as `skipped`, saying so.

use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{
    Ctx, ItemKey, Items, PartialFailures, ProgressEvent, coverage_from_error, depends_on, describe,
    duplicates_note, encode, skipped,
};
use crate::graph::{BatchRequest, GraphError, Lenient, Page};
use crate::model::gdap::{
    AccessAssignment, Contract, DelegatedAdminCustomer, DelegatedAdminRelationship, MyRole,
};
use crate::snapshot::{Coverage, CoverageStatus, PartnerData, RelationshipRecord, Source};

/// The first-party app every app-only GDAP caller needs in the partner tenant.
pub const PARTNER_DELEGATED_ADMIN_APP_ID: &str = "2832473f-ec63-45fb-976f-5d45a7d4bb91";

const RELATIONSHIPS: &str = "/v1.0/tenantRelationships/delegatedAdminRelationships?$top=300";
const CUSTOMERS: &str = "/v1.0/tenantRelationships/delegatedAdminCustomers?$top=300";
const CONTRACTS: &str = "/v1.0/contracts?$top=999";
const MY_ROLES: &str = "/beta/tenantRelationships/managedTenants/myRoles";

/// Sub-collections of a relationship that are deliberately not read, and why.
const UNREAD: [Source; 2] = [Source::GdapRequests, Source::GdapOperations];
const UNREAD_DETAIL: &str = "Not read: no rule uses a relationship's requests or operations, and reading them would triple the partner side's $batch requests.";

/// Reads the partner side. `may_skip`: in auto mode on a tenant not known to be a partner, a 403/404 on
/// the relationships means "not a partner tenant": every partner source is recorded as `skipped` and
/// `None` is returned (the partner perspective is not reported).
pub(crate) async fn collect_partner(ctx: &Ctx<'_>, may_skip: bool) -> Option<PartnerData> {
    ctx.started(Source::GdapRelationships);
    let mut pages = std::pin::pin!(
        ctx.client
            .pages::<Lenient<DelegatedAdminRelationship>>(RELATIONSHIPS)
    );
    // Whether this is a partner tenant at all is known from the first page: only then may the other
    // partner sources be read.
    let first = if may_skip {
        match pages.try_next().await {
            Err(e) if e.is_forbidden() || e.is_not_found() || e.status() == Some(401) => {
                not_a_partner(ctx, &e);
                return None;
            }
            first => Some(first),
        }
    } else {
        None
    };
    for source in UNREAD {
        ctx.record(skipped(source, UNREAD_DETAIL));
    }
    let (relationships, customers, contracts, my_roles) = futures::join!(
        relationships_and_assignments(ctx, first, pages),
        customers(ctx),
        contracts(ctx),
        my_roles(ctx)
    );
    Some(PartnerData {
        relationships,
        customers,
        contracts,
        lighthouse_roles: my_roles,
        ..PartnerData::default()
    })
}

/// Auto mode on a tenant whose relationships were refused: every partner source is `skipped`.
fn not_a_partner(ctx: &Ctx<'_>, e: &GraphError) {
    let why = describe(e);
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

/// One relationship's access assignments, read or not.
type Assignments = Result<Vec<Lenient<AccessAssignment>>, GraphError>;

/// Every relationship, page by page, and the access assignments of each through `$batch` (20 per
/// batch), batches sent while later pages are still being read. `first`: the first page when the
/// caller already read it. A relationship page that fails makes the relationships unreadable: the
/// assignments are then not reported either (whatever was read of them is dropped).
async fn relationships_and_assignments<S>(
    ctx: &Ctx<'_>,
    first: Option<Result<Option<Vec<Lenient<DelegatedAdminRelationship>>>, GraphError>>,
    mut pages: std::pin::Pin<&mut S>,
) -> Vec<RelationshipRecord>
where
    S: futures::Stream<Item = Result<Vec<Lenient<DelegatedAdminRelationship>>, GraphError>>,
{
    let source = Source::GdapRelationships;
    ctx.started(Source::GdapAccessAssignments);
    let in_flight_max = ctx.client.max_in_flight();
    let mut items = Items::<DelegatedAdminRelationship>::default();
    // By relationship index (the batch request id): its access assignments once answered.
    let mut answered: Vec<Option<Vec<AccessAssignment>>> = Vec::new();
    let mut assignments = SubSource::new(Source::GdapAccessAssignments);
    let mut queued: Vec<BatchRequest> = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut pages_read = 0u64;
    let mut listing: Result<(), GraphError> = Ok(());
    let mut listed = false;
    let mut first = first;

    loop {
        // Full batches go out at once; the last, partial one once every relationship is listed.
        while in_flight.len() < in_flight_max
            && (queued.len() >= crate::graph::batch::MAX_BATCH || (listed && !queued.is_empty()))
        {
            let rest = queued.split_off(queued.len().min(crate::graph::batch::MAX_BATCH));
            let chunk = std::mem::replace(&mut queued, rest);
            in_flight.push(assignments_batch(ctx, chunk));
        }
        if listed && in_flight.is_empty() {
            break;
        }
        let page = if let Some(page) = first.take() {
            Some(page)
        } else if listed {
            None
        } else if in_flight.is_empty() {
            Some(pages.try_next().await)
        } else {
            tokio::select! {
                page = pages.try_next() => Some(page),
                answers = in_flight.next() => {
                    let answers = answers.unwrap_or_default();
                    settle_batch(&items.values, &mut answered, &mut assignments, answers);
                    None
                }
            }
        };
        match page {
            None => {
                if listed && let Some(answers) = in_flight.next().await {
                    settle_batch(&items.values, &mut answered, &mut assignments, answers);
                }
            }
            Some(Ok(Some(page))) => {
                pages_read += 1;
                for item in page {
                    let before = items.values.len();
                    items.push(item);
                    let Some(rel) = items.values.get(before) else {
                        continue;
                    };
                    queued.push(BatchRequest {
                        id: before.to_string(),
                        url: format!(
                            "/tenantRelationships/delegatedAdminRelationships/{}/accessAssignments?$top=300",
                            encode(&rel.id)
                        ),
                    });
                }
                ctx.emit(ProgressEvent::PageRead {
                    source,
                    pages: pages_read,
                    items: items.read,
                });
            }
            Some(Ok(None)) => listed = true,
            Some(Err(e)) => {
                listing = Err(e);
                break;
            }
        }
    }

    if let Err(e) = listing {
        ctx.record(relationships_error(&e));
        ctx.record(skipped(
            Source::GdapAccessAssignments,
            "Not read: the GDAP relationships could not be listed.",
        ));
        return Vec::new();
    }
    ctx.record(items.coverage(source, "GDAP relationships"));
    ctx.record(assignments.coverage("accessAssignments", items.undecodable));
    answered.resize_with(items.values.len(), || None);
    items
        .values
        .into_iter()
        .zip(answered)
        .map(|(relationship, access_assignments)| RelationshipRecord {
            relationship,
            access_assignments,
            ..RelationshipRecord::default()
        })
        .collect()
}

/// One `$batch` of access-assignment reads: each answer decoded straight into the model (inner
/// nextLinks followed), keyed by the relationship's index.
async fn assignments_batch(ctx: &Ctx<'_>, chunk: Vec<BatchRequest>) -> Vec<(usize, Assignments)> {
    let answers = ctx.client.batch_raw("v1.0", chunk).await;
    let mut out = Vec::with_capacity(answers.len());
    for (id, answer) in answers {
        let index = id.parse().unwrap_or(usize::MAX);
        let items = match answer {
            Ok(body) => follow(ctx, &body).await,
            Err(e) => Err(e),
        };
        out.push((index, items));
    }
    out
}

/// Settles one batch's answers: `answered[i]` for relationship `relationships[i]`.
fn settle_batch(
    relationships: &[DelegatedAdminRelationship],
    answered: &mut Vec<Option<Vec<AccessAssignment>>>,
    assignments: &mut SubSource,
    answers: Vec<(usize, Assignments)>,
) {
    for (index, items) in answers {
        let Some(rel) = relationships.get(index) else {
            continue;
        };
        let subject = format!("relationship {}", rel.id);
        let settled = assignments.settle(items, rel.status.is_terminal(), &subject);
        if answered.len() <= index {
            answered.resize_with(index.saturating_add(1), || None);
        }
        if let Some(slot) = answered.get_mut(index) {
            *slot = settled;
        }
    }
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
    fn settle<T: ItemKey>(
        &mut self,
        items: Result<Vec<Lenient<T>>, GraphError>,
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

/// The items of a `$batch` inner page, decoded straight from its text, following its
/// `@odata.nextLink` (on the Graph host only).
async fn follow<T>(ctx: &Ctx<'_>, body: &RawValue) -> Result<Vec<Lenient<T>>, GraphError>
where
    T: DeserializeOwned + Send + 'static,
{
    let page: Page<Lenient<T>> =
        crate::graph::lenient::from_str(body.get()).map_err(|e| GraphError::Decode {
            url: "$batch response".into(),
            detail: e.to_string(),
            request_id: None,
        })?;
    let mut items = page.value;
    // The client refuses a link off the Graph endpoint.
    if let Some(link) = page.next_link {
        let mut pages = std::pin::pin!(ctx.client.pages::<Lenient<T>>(&link));
        while let Some(more) = pages.try_next().await? {
            items.extend(more);
        }
    }
    Ok(items)
}

/// Decodes every item, each id once (with the number of duplicates ignored); one undecodable item
/// makes the whole sub-collection unreadable (and `None`).
fn decode_all<T: ItemKey>(
    items: Result<Vec<Lenient<T>>, GraphError>,
) -> Result<(Vec<T>, u64), GraphError> {
    let items = items?;
    let mut out = Items::<T>::default();
    for v in items {
        out.push(v);
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
