//! Azure Resource Manager: the subscriptions the identity can read, their Azure Lighthouse delegations
//! and the role assignments held by principals of other tenants (DAP-era foreign principals).
//!
//! One `GET /subscriptions` serves both sides: the tenant's own subscriptions (customer side) and the
//! subscriptions of other tenants delegated to it through Lighthouse (partner side). The ARM client is
//! the same [`GraphClient`] (retry, Retry-After, request ids, paging over ARM's `nextLink`) rooted at the
//! ARM endpoint with an ARM token.

use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::{Ctx, ItemKey, PartialFailures, collected, coverage_from_error, skipped};
use crate::graph::{GraphClient, GraphError};
use crate::model::azure::{ArmRoleAssignment, RegistrationAssignment, Subscription};
use crate::snapshot::{AzureData, AzureSubscriptionRecord, Coverage, CoverageStatus, Source};

pub const SUBSCRIPTIONS_API: &str = "2022-12-01";
pub const MANAGED_SERVICES_API: &str = "2022-10-01";
pub const AUTHORIZATION_API: &str = "2022-04-01";

/// Subscriptions read at once (each costs two requests; the client's in-flight limit applies too).
const CONCURRENCY: usize = 4;

/// How the collector reaches Azure Resource Manager.
#[derive(Clone)]
pub enum AzureAccess {
    /// A client rooted at the ARM endpoint, with ARM tokens.
    Client(GraphClient),
    /// Azure cannot be audited with these credentials: every Azure source is `skipped` with this reason.
    Unavailable(String),
}

impl std::fmt::Debug for AzureAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AzureAccess::Client(c) => write!(f, "Client({})", c.endpoints().graph),
            AzureAccess::Unavailable(why) => write!(f, "Unavailable({why:?})"),
        }
    }
}

const CUSTOMER_SOURCES: [Source; 3] = [
    Source::AzureSubscriptions,
    Source::AzureLighthouse,
    Source::AzureRoleAssignments,
];

impl ItemKey for Subscription {
    fn item_key(&self) -> Option<String> {
        let k = self.subscription_id.trim();
        (!k.is_empty()).then(|| k.to_ascii_lowercase())
    }
}

impl ItemKey for RegistrationAssignment {
    fn item_key(&self) -> Option<String> {
        let k = self.id.trim();
        (!k.is_empty()).then(|| k.to_ascii_lowercase())
    }
}

impl ItemKey for ArmRoleAssignment {
    fn item_key(&self) -> Option<String> {
        let k = self.id.trim();
        (!k.is_empty()).then(|| k.to_ascii_lowercase())
    }
}

/// What the Azure collection produced for each side (`None`: that side was not collected).
pub(crate) struct AzureSides {
    pub customer: Option<AzureData>,
    pub partner: Option<AzureData>,
}

/// Reads Azure for the sides asked. Never fails: every outcome is a coverage entry. Nothing at all is
/// recorded when the options carry no Azure access (Azure not audited in this run).
pub(crate) async fn collect_azure(ctx: &Ctx<'_>, customer: bool, partner: bool) -> AzureSides {
    let none = AzureSides {
        customer: None,
        partner: None,
    };
    let mut sources: Vec<Source> = Vec::new();
    if customer {
        sources.extend(CUSTOMER_SOURCES);
    }
    if partner {
        sources.push(Source::AzureDelegatedSubscriptions);
    }
    let arm = match &ctx.opts.azure {
        None => return none,
        Some(AzureAccess::Unavailable(why)) => {
            for s in sources {
                ctx.record(skipped(s, why.clone()));
            }
            return none;
        }
        Some(AzureAccess::Client(c)) => c,
    };
    if sources.is_empty() {
        return none;
    }

    for s in &sources {
        ctx.started(*s);
    }
    let path = format!("/subscriptions?api-version={SUBSCRIPTIONS_API}");
    let subs = match ctx
        .read_all_with::<Subscription>(arm, Source::AzureSubscriptions, &path)
        .await
    {
        Ok(items) => items,
        Err(e) => {
            for s in sources {
                ctx.record(azure_error(s, "The Azure subscriptions list", &e));
            }
            return none;
        }
    };
    if let Some(e) = subs.decode_error(&path) {
        // A subscription we cannot decode could be the one with the foreign Owner: not "collected".
        for s in sources {
            ctx.record(azure_error(s, "The Azure subscriptions list", &e));
        }
        return none;
    }
    let (own, delegated): (Vec<Subscription>, Vec<Subscription>) = subs
        .values
        .into_iter()
        .partition(|s| s.tenant_id.as_deref().is_none_or(|t| t == ctx.tenant));

    let customer_data = if customer {
        Some(customer_side(ctx, arm, own).await)
    } else {
        None
    };
    let partner_data = if partner {
        Some(partner_side(ctx, arm, delegated).await)
    } else {
        None
    };
    AzureSides {
        customer: customer_data,
        partner: partner_data,
    }
}

async fn customer_side(ctx: &Ctx<'_>, arm: &GraphClient, own: Vec<Subscription>) -> AzureData {
    if own.is_empty() {
        ctx.record(Coverage {
            permission: Some(Source::AzureSubscriptions.permission().to_owned()),
            ..skipped(
                Source::AzureSubscriptions,
                "No Azure subscription of this tenant is readable: the tenant has none, or the identity has no Azure role on them. Assign it the Reader role on the subscriptions, or on a management group above them (the tenant root group covers all), then run again.",
            )
        });
        for s in [Source::AzureLighthouse, Source::AzureRoleAssignments] {
            ctx.record(skipped(
                s,
                "Not read: no Azure subscription of this tenant is readable (see azure.subscriptions).",
            ));
        }
        return AzureData::default();
    }
    ctx.record(collected(
        Source::AzureSubscriptions,
        own.len() as u64,
        None,
    ));

    let total = own.len();
    let results: Vec<_> = futures::stream::iter(own.into_iter().map(|sub| async move {
        let id = sub.subscription_id.trim().to_owned();
        let lighthouse = read_all::<RegistrationAssignment>(
            ctx,
            arm,
            Source::AzureLighthouse,
            &assignments_path(&id),
        )
        .await
        .and_then(check_expanded);
        let roles = read_all::<ArmRoleAssignment>(
            ctx,
            arm,
            Source::AzureRoleAssignments,
            &format!(
                "/subscriptions/{}/providers/Microsoft.Authorization/roleAssignments?api-version={AUTHORIZATION_API}&$filter=atScope()",
                super::encode(&id)
            ),
        )
        .await
        .map(|all| all.into_iter().filter(ArmRoleAssignment::is_foreign).collect::<Vec<_>>());
        (sub, lighthouse, roles)
    }))
    .buffered(CONCURRENCY)
    .collect()
    .await;

    let mut lh = PartialFailures::new(Source::AzureLighthouse);
    let mut ra = PartialFailures::new(Source::AzureRoleAssignments);
    let (mut n_lh, mut n_ra) = (0u64, 0u64);
    let mut subscriptions = Vec::with_capacity(total);
    for (sub, lighthouse, roles) in results {
        let label = subscription_label(&sub);
        let delegations = match lighthouse {
            Ok(v) => {
                lh.ok();
                n_lh += v.len() as u64;
                Some(v)
            }
            Err(e) => {
                lh.fail(&label, &e);
                None
            }
        };
        let foreign = match roles {
            Ok(v) => {
                ra.ok();
                n_ra += v.len() as u64;
                Some(v)
            }
            Err(e) => {
                ra.fail(&label, &e);
                None
            }
        };
        subscriptions.push(AzureSubscriptionRecord {
            subscription: sub,
            delegations,
            foreign_role_assignments: foreign,
        });
    }
    ctx.record(azure_partial(lh.coverage(
        "Azure Lighthouse delegations",
        "subscriptions",
        n_lh,
        None,
    )));
    ctx.record(azure_partial(ra.coverage(
        "Azure role assignments",
        "subscriptions",
        n_ra,
        Some("Only assignments at the subscription scope and above (management groups) are read; resource-group and resource scopes are not.".to_owned()),
    )));
    AzureData { subscriptions }
}

async fn partner_side(ctx: &Ctx<'_>, arm: &GraphClient, delegated: Vec<Subscription>) -> AzureData {
    let source = Source::AzureDelegatedSubscriptions;
    if delegated.is_empty() {
        ctx.record(collected(
            source,
            0,
            Some("No customer subscription delegated through Azure Lighthouse is visible to this identity: there is none, or the delegations do not authorize it (only principals named in a delegation's authorizations see the customer's subscriptions).".to_owned()),
        ));
        return AzureData::default();
    }
    let me = ctx.tenant.clone();
    let results: Vec<_> = futures::stream::iter(delegated.into_iter().map(|sub| {
        let me = me.clone();
        async move {
            let id = sub.subscription_id.trim().to_owned();
            let read = read_all::<RegistrationAssignment>(ctx, arm, source, &assignments_path(&id))
                .await
                .and_then(check_expanded)
                .map(|all| {
                    all.into_iter()
                        .filter(|a| a.managed_by().as_deref() == Some(me.as_str()))
                        .collect::<Vec<_>>()
                });
            (sub, read)
        }
    }))
    .buffered(CONCURRENCY)
    .collect()
    .await;
    let mut pf = PartialFailures::new(source);
    let mut n = 0u64;
    let mut subscriptions = Vec::with_capacity(results.len());
    for (sub, read) in results {
        let delegations = match read {
            Ok(v) => {
                pf.ok();
                n += v.len() as u64;
                Some(v)
            }
            Err(e) => {
                pf.fail(&subscription_label(&sub), &e);
                None
            }
        };
        subscriptions.push(AzureSubscriptionRecord {
            subscription: sub,
            delegations,
            foreign_role_assignments: None,
        });
    }
    ctx.record(azure_partial(pf.coverage(
        "Azure Lighthouse delegations",
        "delegated subscriptions",
        n,
        None,
    )));
    AzureData { subscriptions }
}

fn assignments_path(subscription: &str) -> String {
    format!(
        "/subscriptions/{}/providers/Microsoft.ManagedServices/registrationAssignments?api-version={MANAGED_SERVICES_API}&$expandRegistrationDefinition=true",
        super::encode(subscription)
    )
}

fn subscription_label(s: &Subscription) -> String {
    match s.display_name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(n) => format!("subscription {n} ({})", s.subscription_id),
        None => format!("subscription {}", s.subscription_id),
    }
}

/// Without the expanded definition a delegation's managing tenant and roles are unknown: that read is
/// incomplete, not clean.
fn check_expanded(
    v: Vec<RegistrationAssignment>,
) -> Result<Vec<RegistrationAssignment>, GraphError> {
    match v.iter().find(|a| a.managed_by().is_none()) {
        None => Ok(v),
        Some(a) => Err(GraphError::Decode {
            url: a.id.clone(),
            detail: "the registration assignment came without its registration definition (managing tenant and authorizations unknown)".to_owned(),
            request_id: None,
        }),
    }
}

/// Every item of an ARM collection, decoded one by one; any undecodable item fails the read.
async fn read_all<T: DeserializeOwned + ItemKey + Send + 'static>(
    ctx: &Ctx<'_>,
    arm: &GraphClient,
    source: Source,
    path: &str,
) -> Result<Vec<T>, GraphError> {
    let items = ctx.read_all_with::<T>(arm, source, path).await?;
    match items.decode_error(path) {
        Some(e) => Err(e),
        None => Ok(items.values),
    }
}

/// Azure wording for a source that failed as a whole: the fix is an Azure role, not a Graph permission.
fn azure_error(source: Source, what: &str, err: &GraphError) -> Coverage {
    let mut c = coverage_from_error(source, what, err);
    if c.status == CoverageStatus::Denied {
        c.detail = Some(format!(
            "{what} could not be read ({}); assign the identity the Azure role {}.",
            super::describe(err),
            source.permission()
        ));
    }
    c
}

fn azure_partial(mut c: Coverage) -> Coverage {
    if let Some(d) = c.detail.as_mut() {
        *d = d.replace(
            &format!("; grant {} (with admin consent)", c.source.permission()),
            &format!(
                "; assign the identity the Azure role {}",
                c.source.permission()
            ),
        );
    }
    c
}
