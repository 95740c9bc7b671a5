//! Collectors: Graph -> [`Snapshot`] + [`Coverage`].
//!
//! [`collect`] never fails as a whole. Every source it reads ends up as exactly one coverage entry:
//! `collected`, or `denied` (HTTP 403: a permission or role is missing), `unlicensed` (the tenant lacks
//! Entra ID P1/P2), `not_found` (404), `failed` (anything else: retries exhausted, 5xx, undecodable
//! answers, a sub-collection that could not be read for some relationships), or `skipped` (not
//! attempted, not applicable). The detail says what happened and what to grant.
//!
//! * [`partner`]: the partner tenant's GDAP relationships and what hangs off them, customers, contracts,
//!   Lighthouse roles.
//! * [`customer`]: what the audited (customer) tenant shows about its partners: cross-tenant access
//!   partners and constraints, foreign role holders, partner-owned apps, Conditional Access.
//! * [`logs`]: sign-ins and directory audits, streamed page by page and reduced to bounded aggregates
//!   ([`SignInAggregator`], [`AuditCollector`]).
//!
//! Collectors never print: progress goes through [`CollectOptions::progress`].

pub mod azure;
pub mod customer;
pub mod logs;
pub mod partner;
pub mod spool;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::graph::{GraphClient, GraphError, Lenient};
use crate::model::roles::RoleDefinition;
use crate::model::tenant_id;
use crate::snapshot::{
    Coverage, CoverageStatus, Perspective, SNAPSHOT_VERSION, SignInSummary, Snapshot, Source,
    Window,
};

pub use azure::AzureAccess;
pub use logs::{AuditCollector, MAX_APPS, MAX_AUDIT_EVENTS, MAX_EXAMPLES, SignInAggregator};
pub use spool::SignInSpool;

/// Which side(s) of the partner relationship to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PerspectiveMode {
    /// Only the partner side (`/tenantRelationships`).
    Partner,
    /// Only the customer side.
    Customer,
    /// Both sides, partner first; when the tenant turns out not to be a partner (relationships answer
    /// 403/404 and the organization is not a partner tenant), the partner sources are recorded as
    /// `skipped` and only the customer side is reported.
    #[default]
    Auto,
}

impl From<Perspective> for PerspectiveMode {
    fn from(p: Perspective) -> Self {
        match p {
            Perspective::Partner => PerspectiveMode::Partner,
            Perspective::Customer => PerspectiveMode::Customer,
        }
    }
}

/// A progress report; collectors never print, the caller decides what to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A source is about to be read.
    SourceStarted { source: Source },
    /// Another page of a source was read; `items` counts the items read so far for this request.
    PageRead {
        source: Source,
        pages: u64,
        items: u64,
    },
    /// A source's outcome is known.
    SourceFinished {
        source: Source,
        status: CoverageStatus,
        items: Option<u64>,
    },
}

/// Receives [`ProgressEvent`]s; called from collector tasks, must not block.
pub type ProgressFn = Arc<dyn Fn(ProgressEvent) + Send + Sync>;

/// Receives the sign-in records the collector attributed to a partner (see
/// [`CollectOptions::partner_sign_ins`]); spooled to disk, so memory does not follow partner activity.
pub type SignInSink = Arc<Mutex<SignInSpool>>;

/// What to collect and for which window.
#[derive(Clone)]
pub struct CollectOptions {
    /// The audited tenant (GUID).
    pub tenant_id: String,
    pub perspective: PerspectiveMode,
    /// The evaluation clock: the log window ends here.
    pub as_of: DateTime<Utc>,
    /// Wall-clock time of the collection (the caller passes `Utc::now()`): recorded, never used by rules.
    pub collected_at: DateTime<Utc>,
    /// Log lookback: the window is `[as_of - since_days, as_of]`.
    pub since_days: u32,
    /// Incremental sign-ins: only read records after this (minus a 10-minute overlap).
    pub sign_in_watermark: Option<DateTime<Utc>>,
    /// Incremental directory audits: only read events after this (minus a 10-minute overlap).
    pub audit_watermark: Option<DateTime<Utc>>,
    /// When set, every sign-in record inside the window that is attributed to a partner is also spooled
    /// here (only partner sign-ins, and on disk: memory follows neither log volume nor partner activity). The history keeps
    /// them so a later incremental run can rebuild the full-window aggregates.
    pub partner_sign_ins: Option<SignInSink>,
    pub progress: Option<ProgressFn>,
    /// The answer of [`ORGANIZATION_PATH`] when the caller already read it (signing in reads it to
    /// establish the tenant): used instead of asking again.
    pub organization: Option<serde_json::Value>,
    /// The reads go through a partner's GDAP access to this customer (a fleet audit): a denied
    /// source's coverage detail then names the GDAP roles that would allow it ([`Source::gdap_roles`]).
    pub delegated_via_gdap: bool,
    /// Azure Resource Manager (Lighthouse delegations, foreign-principal role assignments). `None`: Azure
    /// is not audited in this run and no Azure source is recorded.
    pub azure: Option<AzureAccess>,
}

impl CollectOptions {
    /// Auto perspective, 30 days, no watermarks, no progress.
    pub fn new(
        tenant_id: impl Into<String>,
        as_of: DateTime<Utc>,
        collected_at: DateTime<Utc>,
    ) -> Self {
        CollectOptions {
            tenant_id: tenant_id.into(),
            perspective: PerspectiveMode::Auto,
            as_of,
            collected_at,
            since_days: 30,
            sign_in_watermark: None,
            audit_watermark: None,
            partner_sign_ins: None,
            progress: None,
            organization: None,
            delegated_via_gdap: false,
            azure: None,
        }
    }

    /// The log window `[as_of - since_days, as_of]`. The start is checked: a lookback reaching before
    /// the Unix epoch (no log is older; `since_days` can be any number) starts at the epoch.
    pub fn window(&self) -> Window {
        let floor = DateTime::<Utc>::UNIX_EPOCH.min(self.as_of);
        let since = Duration::try_days(i64::from(self.since_days))
            .and_then(|d| self.as_of.checked_sub_signed(d))
            .map_or(floor, |s| s.max(floor));
        Window {
            since,
            until: self.as_of,
        }
    }
}

impl fmt::Debug for CollectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectOptions")
            .field("tenant_id", &self.tenant_id)
            .field("perspective", &self.perspective)
            .field("as_of", &self.as_of)
            .field("collected_at", &self.collected_at)
            .field("since_days", &self.since_days)
            .field("sign_in_watermark", &self.sign_in_watermark)
            .field("audit_watermark", &self.audit_watermark)
            .field(
                "partner_sign_ins",
                &self.partner_sign_ins.as_ref().map(|_| "sink"),
            )
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .field("azure", &self.azure)
            .finish()
    }
}

/// Incremental reads start this long before the previous watermark (late-arriving log records).
pub const WATERMARK_OVERLAP_MINUTES: i64 = 10;

/// Collect everything the options ask for. Never fails: what could not be read is in `coverage`.
pub async fn collect(client: &GraphClient, opts: &CollectOptions) -> Snapshot {
    let ctx = Ctx::new(client, opts);
    let org = ctx.organization().await;

    let want_partner = matches!(
        opts.perspective,
        PerspectiveMode::Partner | PerspectiveMode::Auto
    );
    let want_customer = matches!(
        opts.perspective,
        PerspectiveMode::Customer | PerspectiveMode::Auto
    );
    let auto = opts.perspective == PerspectiveMode::Auto;
    let known_partner = org.as_ref().is_some_and(Organization::is_partner_tenant);

    let partner_side = async {
        if want_partner {
            partner::collect_partner(&ctx, auto && !known_partner).await
        } else {
            None
        }
    };
    let customer_side = async {
        if want_customer {
            Some(customer::collect_customer(&ctx).await)
        } else {
            None
        }
    };
    // Role definitions serve both perspectives: read once, while the perspectives are read.
    let (role_definitions, partner, customer) =
        futures::join!(ctx.role_definitions(), partner_side, customer_side);
    let azure = azure::collect_azure(&ctx, customer.is_some(), partner.is_some()).await;

    let partner = partner.map(|mut p| {
        p.role_definitions = role_definitions.clone();
        p.azure = azure.partner;
        p
    });
    let customer = customer.map(|mut c| {
        c.role_definitions = role_definitions.clone();
        c.azure = azure.customer;
        c
    });
    let mut perspectives = Vec::new();
    if partner.is_some() {
        perspectives.push(Perspective::Partner);
    }
    if customer.is_some() {
        perspectives.push(Perspective::Customer);
    }

    Snapshot {
        snapshot_version: SNAPSHOT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        tenant_id: tenant_id::normalise(&opts.tenant_id),
        tenant_name: org.and_then(|o| o.display_name).filter(|n| !n.is_empty()),
        collected_at: opts.collected_at,
        as_of: opts.as_of,
        window: opts.window(),
        perspectives,
        partner,
        customer,
        coverage: ctx.into_coverage(),
        fleet: None,
    }
}

/// The tenants sign-ins are attributed with: the snapshot's cross-tenant access partners flagged
/// `isServiceProvider`, as [`collect`] computes them.
pub fn service_providers(snap: &Snapshot) -> std::collections::BTreeSet<String> {
    snap.customer
        .iter()
        .flat_map(|c| &c.partners)
        .filter(|p| p.is_service_provider)
        .map(|p| p.tenant_id.clone())
        .collect()
}

/// Reads the sign-in log again over the whole window (the options' sign-in watermark is ignored),
/// attributed with the snapshot's [`service_providers`], and replaces the snapshot's sign-in summary and
/// coverage; `note` (why) leads the coverage detail. The options' sink is emptied first and receives the
/// partner sign-ins of the new read. For a caller whose incremental read could not be merged. Nothing
/// happens without the customer perspective.
pub async fn reread_sign_ins(
    client: &GraphClient,
    opts: &CollectOptions,
    snap: &mut Snapshot,
    note: Option<&str>,
) {
    if snap.customer.is_none() {
        return;
    }
    if let Some(sink) = &opts.partner_sign_ins {
        sink.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
    let providers = service_providers(snap);
    let mut full = opts.clone();
    full.sign_in_watermark = None;
    let ctx = Ctx::new(client, &full);
    let summary: SignInSummary =
        logs::sign_ins(&ctx, &providers, snap.has(Source::XtapPartners)).await;
    let mut coverage = ctx
        .into_coverage()
        .into_iter()
        .find(|c| c.source == Source::SignIns)
        .unwrap_or_else(|| skipped(Source::SignIns, "Sign-in logs were not read."));
    if let Some(note) = note {
        coverage.detail = Some(match coverage.detail.take() {
            Some(d) => format!("{note} {d}"),
            None => note.to_owned(),
        });
    }
    if let Some(c) = snap.customer.as_mut() {
        c.sign_ins = summary;
    }
    match snap
        .coverage
        .iter_mut()
        .find(|c| c.source == Source::SignIns)
    {
        Some(c) => *c = coverage,
        None => snap.coverage.push(coverage),
    }
}

/// The audited tenant's `/organization`, as the collector reads it.
pub const ORGANIZATION_PATH: &str = "/v1.0/organization?$select=id,displayName,partnerTenantType";

/// `/organization`: the tenant's name, and whether it is itself a partner tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Organization {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub partner_tenant_type: Option<String>,
}

impl Organization {
    /// `partnerTenantType` names a partner kind (not Microsoft Support, not a sentinel).
    fn is_partner_tenant(&self) -> bool {
        self.partner_tenant_type.as_deref().is_some_and(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case("microsoftSupport")
                && !t.eq_ignore_ascii_case("unknownFutureValue")
        })
    }
}

// ----------------------------------------------------------------------------------------------------
// The collection context: client, options, window, and the coverage being recorded.

pub(crate) struct Ctx<'a> {
    pub client: &'a GraphClient,
    pub opts: &'a CollectOptions,
    pub window: Window,
    /// The audited tenant, normalised ([`tenant_id::normalise`]) as the tenant ids it meets are.
    pub tenant: String,
    coverage: Mutex<BTreeMap<Source, Coverage>>,
}

impl<'a> Ctx<'a> {
    fn new(client: &'a GraphClient, opts: &'a CollectOptions) -> Self {
        Ctx {
            client,
            opts,
            window: opts.window(),
            tenant: tenant_id::normalise(&opts.tenant_id),
            coverage: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn emit(&self, event: ProgressEvent) {
        if let Some(p) = &self.opts.progress {
            p(event);
        }
    }

    pub fn started(&self, source: Source) {
        self.emit(ProgressEvent::SourceStarted { source });
    }

    /// Records a source's outcome (the last record of a source wins) and reports it.
    pub fn record(&self, mut coverage: Coverage) {
        if self.opts.delegated_via_gdap && coverage.status == CoverageStatus::Denied {
            gdap_role_hint(&mut coverage);
        }
        self.emit(ProgressEvent::SourceFinished {
            source: coverage.source,
            status: coverage.status,
            items: coverage.items,
        });
        let mut map = self.coverage.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(coverage.source, coverage);
    }

    fn into_coverage(self) -> Vec<Coverage> {
        let map = self
            .coverage
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        map.into_values().collect()
    }

    /// The audited tenant's `/organization`: its name and partner type. A failure is its own coverage
    /// entry: the report's tenant name is then unknown, and in auto mode the partner side is tried
    /// anyway (see [`PerspectiveMode::Auto`]).
    async fn organization(&self) -> Option<Organization> {
        const CONSEQUENCE: &str = "The tenant name is unknown in the report, and whether the tenant is itself a partner tenant (partnerTenantType) could not be checked.";
        let source = Source::Organization;
        self.started(source);
        let known = self.opts.organization.clone().and_then(|v| {
            serde_json::from_value::<crate::graph::Page<Lenient<Organization>>>(v).ok()
        });
        let page: Result<crate::graph::Page<Lenient<Organization>>, GraphError> = match known {
            Some(page) => Ok(page),
            None => self.client.get(ORGANIZATION_PATH).await,
        };
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let mut c = coverage_from_error(source, "The organization (/organization)", &e);
                add_note(&mut c, Some(CONSEQUENCE.to_owned()));
                self.record(c);
                return None;
            }
        };
        match page.value.into_iter().next() {
            Some(Lenient::Item(org)) => {
                self.record(collected(source, 1, None));
                Some(org)
            }
            Some(Lenient::Invalid(e)) => {
                self.record(Coverage {
                    status: CoverageStatus::Failed,
                    detail: Some(format!(
                        "The organization (/organization) could not be decoded ({e}). {CONSEQUENCE}"
                    )),
                    ..collected(source, 0, None)
                });
                None
            }
            None => {
                self.record(Coverage {
                    status: CoverageStatus::Failed,
                    detail: Some(format!(
                        "The organization (/organization) answered with no organization. {CONSEQUENCE}"
                    )),
                    ..collected(source, 0, None)
                });
                None
            }
        }
    }

    /// Every item of a (small) collection, decoded item by item: one item Graph sends in a shape we
    /// cannot read does not lose the others. Pages are reported through the progress callback.
    pub async fn read_all<T: DeserializeOwned + ItemKey + Send + 'static>(
        &self,
        source: Source,
        path: &str,
    ) -> Result<Items<T>, GraphError> {
        self.read_all_with(self.client, source, path).await
    }

    /// [`Ctx::read_all`] through another client (Azure Resource Manager's).
    pub async fn read_all_with<T: DeserializeOwned + ItemKey + Send + 'static>(
        &self,
        client: &GraphClient,
        source: Source,
        path: &str,
    ) -> Result<Items<T>, GraphError> {
        let mut items = Items::default();
        let mut pages = std::pin::pin!(client.pages::<Lenient<T>>(path));
        let mut n = 0u64;
        while let Some(page) = pages.try_next().await? {
            n += 1;
            for v in page {
                items.push(v);
            }
            self.emit(ProgressEvent::PageRead {
                source,
                pages: n,
                items: items.read,
            });
        }
        Ok(items)
    }

    /// Role definitions: beta (with `isPrivileged`), else v1.0 (without), else none (the built-in table
    /// is used). One coverage entry says which.
    async fn role_definitions(&self) -> Vec<RoleDefinition> {
        let source = Source::RoleDefinitions;
        self.started(source);
        let beta = self
            .read_all::<RoleDefinition>(
                source,
                "/beta/roleManagement/directory/roleDefinitions?$select=id,displayName,templateId,isBuiltIn,isPrivileged",
            )
            .await;
        let beta_err = match beta {
            Ok(items) => {
                let cov = items.coverage(source, "role definitions (beta, with isPrivileged)");
                self.record(cov);
                return items.values;
            }
            Err(e) => e,
        };
        let v1 = self
            .read_all::<RoleDefinition>(
                source,
                "/v1.0/roleManagement/directory/roleDefinitions?$select=id,displayName,templateId,isBuiltIn",
            )
            .await;
        match v1 {
            Ok(items) => {
                let mut cov = items.coverage(source, "role definitions (v1.0)");
                let note = format!(
                    "beta role definitions were refused ({}), so they were read from v1.0, which has no isPrivileged: the built-in list of privileged roles is used",
                    describe(&beta_err)
                );
                cov.detail = Some(match cov.detail.take() {
                    Some(d) => format!("{note}; {d}"),
                    None => format!("{note}."),
                });
                self.record(cov);
                items.values
            }
            Err(e) => {
                let mut cov = coverage_from_error(source, "Role definitions (beta and v1.0)", &e);
                cov.detail = cov.detail.map(|d| {
                    format!("{d} Role names and the privileged flag come from the built-in table.")
                });
                self.record(cov);
                Vec::new()
            }
        }
    }
}

/// What identifies an item of a collection: an item Graph serves twice (a page repeated while the data
/// changes under a paged read, a duplicated `$batch` answer) is kept once. `None` (no id): always kept.
pub(crate) trait ItemKey {
    fn item_key(&self) -> Option<String>;
}

/// Implements [`ItemKey`] from a string field (ids are GUIDs or opaque strings; compared trimmed and
/// without case, as Graph compares them).
macro_rules! item_key {
    ($($t:ty => $field:ident,)+) => {
        $(impl ItemKey for $t {
            fn item_key(&self) -> Option<String> {
                let k = self.$field.trim();
                (!k.is_empty()).then(|| k.to_ascii_lowercase())
            }
        })+
    };
}

item_key! {
    crate::model::roles::RoleDefinition => id,
    crate::model::customer::CrossTenantPartner => tenant_id,
    crate::model::customer::RoleAssignment => id,
    crate::model::customer::ServicePrincipal => id,
    crate::model::customer::AppRoleAssignment => id,
    crate::model::customer::ConditionalAccessPolicy => id,
    crate::model::gdap::DelegatedAdminRelationship => id,
    crate::model::gdap::AccessAssignment => id,
    crate::model::gdap::RelationshipRequest => id,
    crate::model::gdap::RelationshipOperation => id,
    crate::model::gdap::DelegatedAdminCustomer => tenant_id,
    crate::model::gdap::Contract => id,
    crate::model::gdap::MyRole => tenant_id,
}

/// Items of a collection, decoded one by one, each id once.
#[derive(Debug)]
pub(crate) struct Items<T> {
    pub values: Vec<T>,
    /// Items read (decoded or not, duplicates included).
    pub read: u64,
    pub undecodable: u64,
    pub first_error: Option<String>,
    /// Items whose id was already read: ignored, never counted twice.
    pub duplicates: u64,
    seen: HashSet<String>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items {
            values: Vec::new(),
            read: 0,
            undecodable: 0,
            first_error: None,
            duplicates: 0,
            seen: HashSet::new(),
        }
    }
}

impl<T: ItemKey> Items<T> {
    pub fn push(&mut self, item: Lenient<T>) {
        self.read += 1;
        match item {
            Lenient::Item(t) => {
                if let Some(key) = t.item_key()
                    && !self.seen.insert(key)
                {
                    self.duplicates += 1;
                    return;
                }
                self.values.push(t);
            }
            Lenient::Invalid(e) => {
                self.undecodable += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

impl<T> Items<T> {
    /// The error that makes this collection unreadable when some items could not be decoded: a source
    /// missing items is `failed`, never `collected` with less.
    pub fn decode_error(&self, url: &str) -> Option<GraphError> {
        (self.undecodable > 0).then(|| GraphError::Decode {
            url: url.to_owned(),
            detail: format!(
                "{} of {} items could not be decoded (first error: {})",
                self.undecodable,
                self.read,
                self.first_error.as_deref().unwrap_or("unknown")
            ),
            request_id: None,
        })
    }

    /// `collected` (noting ignored duplicates), or `failed` when some items could not be decoded.
    pub fn coverage(&self, source: Source, what: &str) -> Coverage {
        let dups = duplicates_note(self.duplicates);
        if self.undecodable == 0 {
            return collected(source, self.values.len() as u64, dups);
        }
        let mut detail = format!(
            "{} of {} {what} could not be decoded and were left out (first error: {}).",
            self.undecodable,
            self.read,
            self.first_error.as_deref().unwrap_or("unknown")
        );
        if let Some(d) = dups {
            detail.push(' ');
            detail.push_str(&d);
        }
        Coverage {
            status: CoverageStatus::Failed,
            detail: Some(detail),
            ..collected(source, self.values.len() as u64, None)
        }
    }
}

/// The coverage note about items Graph served more than once.
pub(crate) fn duplicates_note(duplicates: u64) -> Option<String> {
    (duplicates > 0).then(|| {
        format!(
            "{duplicates} duplicate {} ignored (Graph served the same id more than once).",
            if duplicates == 1 { "item" } else { "items" }
        )
    })
}

/// Marks a coverage entry incomplete because an input it depends on was not fully read: `failed` (when
/// it was otherwise `collected`), with `why` leading the detail.
pub(crate) fn depends_on(c: &mut Coverage, why: &str) {
    if c.status.is_complete() {
        c.status = CoverageStatus::Failed;
        c.permission = None;
    }
    c.detail = Some(match c.detail.take() {
        Some(d) => format!("{why} {d}"),
        None => why.to_owned(),
    });
}

/// Appends `note` to a coverage entry's detail.
pub(crate) fn add_note(c: &mut Coverage, note: Option<String>) {
    if let Some(note) = note {
        c.detail = Some(match c.detail.take() {
            Some(d) => format!("{d} {note}"),
            None => note,
        });
    }
}

// ----------------------------------------------------------------------------------------------------
// Coverage helpers

pub(crate) fn collected(source: Source, items: u64, detail: Option<String>) -> Coverage {
    Coverage {
        source,
        status: CoverageStatus::Collected,
        detail,
        graph_code: None,
        request_id: None,
        permission: None,
        items: Some(items),
    }
}

pub(crate) fn skipped(source: Source, detail: impl Into<String>) -> Coverage {
    Coverage {
        source,
        status: CoverageStatus::Skipped,
        detail: Some(detail.into()),
        graph_code: None,
        request_id: None,
        permission: None,
        items: None,
    }
}

/// The coverage status a Graph error means.
pub fn status_of(err: &GraphError) -> CoverageStatus {
    if err.is_unlicensed() {
        CoverageStatus::Unlicensed
    } else if err.is_forbidden() {
        CoverageStatus::Denied
    } else if err.is_not_found() {
        CoverageStatus::NotFound
    } else {
        CoverageStatus::Failed
    }
}

/// A short description of an error: `HTTP 403 Authorization_RequestDenied: Insufficient privileges`.
pub fn describe(err: &GraphError) -> String {
    let attempts = match err {
        GraphError::RetriesExhausted { attempts, .. } => format!(" after {attempts} attempts"),
        _ => String::new(),
    };
    match err.root() {
        GraphError::Status {
            status,
            code,
            message,
            ..
        } => {
            let code = if code.is_empty() {
                String::new()
            } else {
                format!(" {code}")
            };
            let message = message.trim().trim_end_matches('.');
            format!("HTTP {status}{code}{attempts}: {message}")
        }
        GraphError::Transport { detail, .. } => format!("connection failed{attempts}: {detail}"),
        GraphError::Decode { detail, .. } => format!("unreadable answer: {detail}"),
        GraphError::Auth(e) => format!(
            "no token: {}",
            e.to_string().lines().next().unwrap_or_default()
        ),
        GraphError::Invalid(m) => m.clone(),
        GraphError::RetriesExhausted { .. } => err.to_string(),
    }
}

/// The coverage entry for a source that failed as a whole. `what` names it for the sentence
/// ("GDAP relationships"); the detail names the permission to grant when the call was refused.
pub fn coverage_from_error(source: Source, what: &str, err: &GraphError) -> Coverage {
    let status = status_of(err);
    let why = describe(err);
    let detail = match status {
        CoverageStatus::Denied => format!(
            "{what} could not be read ({why}); grant the application permission {} (with admin consent), or sign in with a role that can read it.",
            source.permission()
        ),
        CoverageStatus::Unlicensed => format!(
            "{what} could not be read ({why}): the tenant needs a Microsoft Entra ID P1 or P2 licence for this API."
        ),
        CoverageStatus::NotFound => format!("{what} answered 404 Not Found ({why})."),
        _ => format!("{what} could not be read ({why})."),
    };
    Coverage {
        source,
        status,
        detail: Some(detail),
        graph_code: err.code().map(str::to_owned),
        request_id: err.request_id().map(str::to_owned),
        permission: matches!(status, CoverageStatus::Denied)
            .then(|| source.permission().to_owned()),
        items: None,
    }
}

/// Adds to a denied source's detail which GDAP roles would let the partner read it.
fn gdap_role_hint(coverage: &mut Coverage) {
    let roles = coverage.source.gdap_roles();
    let Some((last, first)) = roles.split_last() else {
        return;
    };
    let list = if first.is_empty() {
        (*last).to_owned()
    } else {
        format!("{} or {last}", first.join(", "))
    };
    let hint = format!(
        "Through GDAP, the partner's relationship with this customer must grant {list} to a security group of the signed-in admin (or, app-only, the app needs the permission consented in the customer)."
    );
    coverage.detail = Some(match coverage.detail.take() {
        Some(d) if !d.is_empty() => format!("{d} {hint}"),
        _ => hint,
    });
}

/// Failures of one source over many sub-requests (per relationship, per partner, ...): `collected` when
/// none failed; otherwise the error's status when every request failed the same way, else `failed`,
/// with the count in the detail, e.g. "accessAssignments could not be read for 2 of 14 relationships".
pub(crate) struct PartialFailures {
    pub source: Source,
    pub total: u64,
    pub failed: u64,
    first: Option<(CoverageStatus, String, Option<String>, Option<String>)>,
    uniform: bool,
}

impl PartialFailures {
    pub fn new(source: Source) -> Self {
        PartialFailures {
            source,
            total: 0,
            failed: 0,
            first: None,
            uniform: true,
        }
    }

    pub fn ok(&mut self) {
        self.total += 1;
    }

    pub fn fail(&mut self, subject: &str, err: &GraphError) {
        self.total += 1;
        self.failed += 1;
        let status = status_of(err);
        match &self.first {
            None => {
                self.first = Some((
                    status,
                    format!("{subject}: {}", describe(err)),
                    err.code().map(str::to_owned),
                    err.request_id().map(str::to_owned),
                ))
            }
            Some((s, ..)) if *s != status => self.uniform = false,
            Some(_) => {}
        }
    }

    /// `what` is a phrase like "accessAssignments", `of` the plural of what the total counts.
    pub fn coverage(&self, what: &str, of: &str, items: u64, extra: Option<String>) -> Coverage {
        let Some((status, first, code, request_id)) = &self.first else {
            return collected(self.source, items, extra);
        };
        let status = if self.failed == self.total && self.uniform {
            *status
        } else {
            CoverageStatus::Failed
        };
        let mut detail = format!(
            "{what} could not be read for {} of {} {of} (first: {first})",
            self.failed, self.total
        );
        match status {
            CoverageStatus::Denied => {
                detail.push_str(&format!(
                    "; grant {} (with admin consent)",
                    self.source.permission()
                ));
            }
            CoverageStatus::Unlicensed => {
                detail.push_str("; the tenant needs Microsoft Entra ID P1 or P2")
            }
            _ => {}
        }
        detail.push('.');
        if let Some(e) = extra {
            detail.push(' ');
            detail.push_str(&e);
        }
        Coverage {
            source: self.source,
            status,
            detail: Some(detail),
            graph_code: code.clone(),
            request_id: request_id.clone(),
            permission: matches!(status, CoverageStatus::Denied)
                .then(|| self.source.permission().to_owned()),
            items: Some(items),
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// URL helpers

/// Percent-encodes everything but RFC 3986 unreserved characters (for path segments and query values).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An OData date-time literal (`2026-08-01T00:00:00Z`).
pub fn odata_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_error(status: u16, code: &str) -> GraphError {
        GraphError::Status {
            method: "GET",
            url: "https://graph.microsoft.com/v1.0/x".into(),
            status,
            code: code.into(),
            message: "Insufficient privileges to complete the operation.".into(),
            request_id: Some("rid-1".into()),
        }
    }

    #[test]
    fn errors_map_to_coverage_statuses() {
        let denied = coverage_from_error(
            Source::Contracts,
            "Contracts",
            &status_error(403, "Authorization_RequestDenied"),
        );
        assert_eq!(denied.status, CoverageStatus::Denied);
        assert!(
            denied
                .detail
                .as_deref()
                .unwrap()
                .contains("Directory.Read.All"),
            "{denied:?}"
        );
        assert_eq!(
            denied.graph_code.as_deref(),
            Some("Authorization_RequestDenied")
        );
        assert_eq!(denied.request_id.as_deref(), Some("rid-1"));
        assert_eq!(denied.permission.as_deref(), Some("Directory.Read.All"));

        let lic = coverage_from_error(
            Source::SignIns,
            "Sign-ins",
            &status_error(401, crate::graph::error::NON_PREMIUM_CODE),
        );
        assert_eq!(lic.status, CoverageStatus::Unlicensed);
        assert!(lic.detail.unwrap().contains("P1 or P2"));

        assert_eq!(
            status_of(&status_error(404, "Request_ResourceNotFound")),
            CoverageStatus::NotFound
        );
        let exhausted = GraphError::RetriesExhausted {
            attempts: 6,
            last: Box::new(status_error(503, "")),
        };
        assert_eq!(status_of(&exhausted), CoverageStatus::Failed);
        assert!(
            describe(&exhausted).contains("after 6 attempts"),
            "{}",
            describe(&exhausted)
        );
    }

    #[test]
    fn partial_failures_count() {
        let mut p = PartialFailures::new(Source::GdapAccessAssignments);
        p.ok();
        p.fail("rel-1", &status_error(403, "Authorization_RequestDenied"));
        let c = p.coverage("accessAssignments", "relationships", 1, None);
        assert_eq!(c.status, CoverageStatus::Failed);
        assert!(
            c.detail
                .unwrap()
                .starts_with("accessAssignments could not be read for 1 of 2 relationships")
        );

        let mut all = PartialFailures::new(Source::GdapAccessAssignments);
        all.fail("rel-1", &status_error(403, "x"));
        all.fail("rel-2", &status_error(403, "x"));
        assert_eq!(
            all.coverage("a", "b", 0, None).status,
            CoverageStatus::Denied
        );
        assert_eq!(
            PartialFailures::new(Source::Contracts)
                .coverage("a", "b", 3, None)
                .status,
            CoverageStatus::Collected
        );
    }

    /// #3: a lookback of billions of days (`--since` is any number) starts the window at the Unix epoch
    /// instead of overflowing the date arithmetic.
    #[test]
    fn huge_lookbacks_start_at_the_epoch() {
        let as_of = DateTime::parse_from_rfc3339("2026-08-20T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut o = CollectOptions::new("t", as_of, as_of);
        for days in [u32::MAX, 4_000_000_000, 100_000] {
            o.since_days = days;
            assert_eq!(o.window().since, DateTime::<Utc>::UNIX_EPOCH, "{days}");
            assert_eq!(o.window().until, as_of);
        }
        o.since_days = 30;
        assert_eq!((o.window().until - o.window().since).num_days(), 30);
    }

    /// #11: an id served twice is kept once and counted as a duplicate in the coverage detail.
    #[test]
    fn items_keep_each_id_once() {
        let mut items = Items::<crate::model::gdap::Contract>::default();
        for id in ["c1", "C1 ", "c2", ""] {
            items.push(Lenient::Item(crate::model::gdap::Contract {
                id: id.into(),
                ..Default::default()
            }));
        }
        items.push(Lenient::Item(crate::model::gdap::Contract::default()));
        assert_eq!(items.values.len(), 4);
        assert_eq!((items.read, items.duplicates), (5, 1));
        let c = items.coverage(Source::Contracts, "contracts");
        assert_eq!(c.status, CoverageStatus::Collected);
        assert_eq!(c.items, Some(4));
        assert!(c.detail.unwrap().starts_with("1 duplicate item ignored"));
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("a b'c/d"), "a%20b%27c%2Fd");
        assert_eq!(encode("5d027261-d21f.x_~"), "5d027261-d21f.x_~");
        let t = DateTime::parse_from_rfc3339("2026-08-01T00:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(odata_time(t), "2026-08-01T00:00:00Z");
    }
}
