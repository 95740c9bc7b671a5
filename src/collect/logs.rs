//! Sign-ins (beta) and directory audits: streamed page by page and reduced at once to bounded
//! aggregates. Memory does not grow with the log: a page is reduced before the next one is fetched, and
//! every aggregate has a fixed cap.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;

use super::{
    Ctx, ProgressEvent, WATERMARK_OVERLAP_MINUTES, coverage_from_error, describe, encode,
    odata_time,
};
use crate::graph::{GraphError, Lenient};
use crate::model::logs::{DirectoryAudit, SignIn};
use crate::snapshot::{
    AuditSummary, Coverage, CoverageStatus, PartnerSignIns, SignInExample, SignInSummary, Source,
    Window,
};
use serde::de::DeserializeOwned;

/// Applications counted by name per partner; the rest are counted under [`OTHER_APPS`].
pub const MAX_APPS: usize = 50;
/// The bucket of applications beyond [`MAX_APPS`].
pub const OTHER_APPS: &str = "(other)";
/// Examples kept per partner (most recent first), for each kind of example.
pub const MAX_EXAMPLES: usize = 5;
/// Directory audit events kept (most recent first); the rest are counted in `dropped`.
pub const MAX_AUDIT_EVENTS: usize = 500;

/// Directory audit categories kept whoever initiated them.
pub const AUDIT_CATEGORIES: [&str; 2] = [
    "CrossTenantAccessSettings",
    "DelegatedAdminServiceProviderConstraints",
];
/// Directory audit activities kept whoever initiated them (legacy DAP partnerships).
pub const AUDIT_ACTIVITIES: [&str; 2] = ["Add partner to company", "Remove partner from company"];

const SIGN_INS: &str = "/beta/auditLogs/signIns";
const DIRECTORY_AUDITS: &str = "/v1.0/auditLogs/directoryAudits";

// ----------------------------------------------------------------------------------------------------
// Sign-in aggregation (pure)

/// Reduces sign-in records, one at a time, to per-partner aggregates of bounded size.
#[derive(Debug, Clone, Default)]
pub struct SignInAggregator {
    summary: SignInSummary,
}

impl SignInAggregator {
    pub fn new() -> Self {
        SignInAggregator::default()
    }

    /// The partner tenant a sign-in belongs to: `crossTenantAccessType` contains `serviceProvider`, or
    /// the home tenant is a service-provider partner other than the audited tenant. Tenant ids are
    /// compared as decoded (normalised, [`crate::model::tenant_id::normalise`]): `audited_tenant` and
    /// `service_providers` must be too.
    pub fn partner_of(
        s: &SignIn,
        audited_tenant: &str,
        service_providers: &BTreeSet<String>,
    ) -> Option<String> {
        let home = s.home_tenant_id.clone().filter(|h| !h.is_empty());
        if s.is_service_provider_access() {
            return Some(home.unwrap_or_else(|| "unknown".to_owned()));
        }
        let home = home?;
        (service_providers.contains(&home) && home != audited_tenant).then_some(home)
    }

    /// Adds one record. Every record counts in `scanned` and the watermark; partner sign-ins are
    /// aggregated under their home tenant. Returns whether the record was a partner sign-in.
    pub fn add(
        &mut self,
        s: &SignIn,
        audited_tenant: &str,
        service_providers: &BTreeSet<String>,
    ) -> bool {
        let partner = Self::partner_of(s, audited_tenant, service_providers);
        self.add_attributed(s, partner)
    }

    /// [`SignInAggregator::add`] for a record whose partner ([`SignInAggregator::partner_of`]) the
    /// caller already worked out.
    pub fn add_attributed(&mut self, s: &SignIn, partner: Option<String>) -> bool {
        self.summary.scanned += 1;
        let at = s.created_date_time;
        if self.summary.watermark.is_none_or(|w| at > w) {
            self.summary.watermark = Some(at);
        }
        let Some(key) = partner else {
            return false;
        };
        let p = self.summary.partners.entry(key).or_default();
        add_to_partner(p, s);
        true
    }

    /// The per-partner aggregates a full read of `window` would build from `records`: records outside
    /// the window or not user sign-ins are left out, a record seen twice (same id; the first one wins)
    /// counts once, and records are added newest first (Graph's order), so even the capped application
    /// list comes out the same. Used to merge the partner sign-ins kept in the history with an
    /// incremental read.
    /// Adds a record read back from the history: one outside `window` or not a user sign-in counts
    /// nowhere (a full read of the window would not have aggregated it). Callers feed records once per
    /// id, newest first, as [`SignInAggregator::rebuild`] orders them.
    pub fn add_in_window(
        &mut self,
        s: &SignIn,
        window: Window,
        audited_tenant: &str,
        service_providers: &BTreeSet<String>,
    ) {
        let at = s.created_date_time;
        if at >= window.since && at <= window.until && is_user_sign_in(s) {
            self.add(s, audited_tenant, service_providers);
        }
    }

    pub fn rebuild<'a>(
        records: impl IntoIterator<Item = &'a SignIn>,
        window: Window,
        audited_tenant: &str,
        service_providers: &BTreeSet<String>,
    ) -> BTreeMap<String, PartnerSignIns> {
        let mut seen = HashSet::new();
        let mut kept: Vec<&SignIn> = records
            .into_iter()
            .filter(|s| {
                let at = s.created_date_time;
                at >= window.since && at <= window.until && is_user_sign_in(s)
            })
            .filter(|s| seen.insert(sign_in_key(s)))
            .collect();
        kept.sort_by(|a, b| {
            b.created_date_time
                .cmp(&a.created_date_time)
                .then_with(|| a.id.cmp(&b.id))
        });
        let mut agg = SignInAggregator::new();
        for s in kept {
            agg.add(s, audited_tenant, service_providers);
        }
        agg.finish().partners
    }

    /// Counts a record that was read but is outside the window or not a user sign-in.
    pub fn skip(&mut self) {
        self.summary.scanned += 1;
    }

    pub fn scanned(&self) -> u64 {
        self.summary.scanned
    }

    pub fn finish(self) -> SignInSummary {
        self.summary
    }
}

/// What identifies a sign-in record across reads: its id (a record without one: its whole content).
pub fn sign_in_key(s: &SignIn) -> String {
    if s.id.is_empty() {
        format!("json:{}", serde_json::to_string(s).unwrap_or_default())
    } else {
        s.id.clone()
    }
}

fn add_to_partner(p: &mut PartnerSignIns, s: &SignIn) {
    let at = s.created_date_time;
    p.total += 1;
    if p.last_attempt.is_none_or(|t| at > t) {
        p.last_attempt = Some(at);
    }
    let mut any = false;
    for member in s
        .cross_tenant_access_type
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        any = true;
        bump(&mut p.access_types, member);
    }
    if !any {
        bump(&mut p.access_types, "unknown");
    }
    if !s.succeeded() {
        p.failures += 1;
        return;
    }
    p.successes += 1;
    if p.first_success.is_none_or(|t| at < t) {
        p.first_success = Some(at);
    }
    if p.last_success.is_none_or(|t| at > t) {
        p.last_success = Some(at);
    }
    let country = s.country().unwrap_or("unknown");
    bump(&mut p.countries, country);
    let app = s
        .app_display_name
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or("unknown");
    if p.apps.contains_key(app) || p.apps.len() < MAX_APPS - 1 {
        bump(&mut p.apps, app);
    } else {
        bump(&mut p.apps, OTHER_APPS);
    }
    let example = || example_of(s);
    if s.single_factor() {
        p.successes_without_mfa += 1;
        keep_recent(&mut p.single_factor_examples, example);
    }
    keep_recent(&mut p.examples, example);
    let newer = p
        .country_examples
        .get(country)
        .is_none_or(|e| newer_than(at, &s.id, e));
    if newer {
        p.country_examples.insert(country.to_owned(), example());
    }
}

fn bump(map: &mut std::collections::BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// Order of examples: most recent first, ties by id (so the result does not depend on arrival order).
fn newer_than(at: DateTime<Utc>, id: &str, other: &SignInExample) -> bool {
    at > other.at || (at == other.at && id < other.id.as_str())
}

/// Keeps the `MAX_EXAMPLES` most recent examples, most recent first.
fn keep_recent(list: &mut Vec<SignInExample>, make: impl Fn() -> SignInExample) {
    if list.len() >= MAX_EXAMPLES {
        let candidate = make();
        if list
            .last()
            .is_some_and(|last| !newer_than(candidate.at, &candidate.id, last))
        {
            return;
        }
        list.pop();
        insert_sorted(list, candidate);
    } else {
        insert_sorted(list, make());
    }
}

fn insert_sorted(list: &mut Vec<SignInExample>, e: SignInExample) {
    let pos = list
        .iter()
        .position(|x| newer_than(e.at, &e.id, x))
        .unwrap_or(list.len());
    list.insert(pos, e);
}

fn example_of(s: &SignIn) -> SignInExample {
    SignInExample {
        id: s.id.clone(),
        at: s.created_date_time,
        user: s.user_principal_name.clone(),
        app: s.app_display_name.clone(),
        ip: s.ip_address.clone(),
        country: s.country().map(str::to_owned),
        error_code: s.status.as_ref().and_then(|st| st.error_code),
        authentication_requirement: s.authentication_requirement.clone(),
    }
}

/// A user sign-in (interactive or not): records that only list other event types (service principal,
/// managed identity) are not partner user activity.
fn is_user_sign_in(s: &SignIn) -> bool {
    s.sign_in_event_types.is_empty()
        || s.sign_in_event_types.iter().any(|t| {
            t.eq_ignore_ascii_case("interactiveUser")
                || t.eq_ignore_ascii_case("nonInteractiveUser")
        })
}

// ----------------------------------------------------------------------------------------------------
// Log records served twice

/// The log records already counted, by a 64-bit hash of their id (SipHash with fixed keys, so the same in
/// every run): a record Graph serves twice (a page repeated while the log grows under a paged read) is
/// counted once. Only records the aggregates count go in (partner sign-ins, kept audit events), not the
/// whole log. Memory is 8 bytes per record plus the table's control bytes and spare capacity: about
/// 2 MiB for 100,000 partner sign-ins. Two distinct ids collide with probability about n²/2⁶⁵
/// (3·10⁻¹⁰ for 100,000); the worst case is one record left out.
#[derive(Debug, Default)]
pub struct SeenIds {
    seen: HashSet<u64>,
    duplicates: u64,
}

impl SeenIds {
    pub fn new() -> Self {
        SeenIds::default()
    }

    /// Whether `id` is new (and remember it). An empty id cannot be compared: always new.
    pub fn first_time(&mut self, id: &str) -> bool {
        let id = id.trim();
        if id.is_empty() {
            return true;
        }
        let mut h = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&id.to_ascii_lowercase(), &mut h);
        let fresh = self.seen.insert(std::hash::Hasher::finish(&h));
        if !fresh {
            self.duplicates += 1;
        }
        fresh
    }

    /// Records ignored as already read.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

/// The coverage note about log records served more than once.
fn duplicate_records_note(duplicates: u64) -> Option<String> {
    (duplicates > 0).then(|| {
        format!(
            "{duplicates} duplicate {} ignored (Graph served the same id more than once).",
            if duplicates == 1 { "record" } else { "records" }
        )
    })
}

// ----------------------------------------------------------------------------------------------------
// Directory audit selection (pure)

/// Keeps the directory audit events that matter for partner access, at most `cap` (most recent).
#[derive(Debug, Clone)]
pub struct AuditCollector {
    cap: usize,
    scanned: u64,
    /// Relevant events seen.
    kept_total: u64,
    events: Vec<DirectoryAudit>,
    watermark: Option<DateTime<Utc>>,
}

impl Default for AuditCollector {
    fn default() -> Self {
        AuditCollector::with_cap(MAX_AUDIT_EVENTS)
    }
}

impl AuditCollector {
    pub fn new() -> Self {
        AuditCollector::default()
    }

    pub fn with_cap(cap: usize) -> Self {
        AuditCollector {
            cap: cap.max(1),
            scanned: 0,
            kept_total: 0,
            events: Vec::new(),
            watermark: None,
        }
    }

    /// Initiated by a user of another tenant, or about cross-tenant access settings, service-provider
    /// constraints, or legacy partnerships.
    pub fn is_relevant(a: &DirectoryAudit, audited_tenant: &str) -> bool {
        a.initiator_home_tenant()
            .is_some_and(|h| h != audited_tenant)
            || AUDIT_CATEGORIES
                .iter()
                .any(|c| c.eq_ignore_ascii_case(a.category.trim()))
            || AUDIT_ACTIVITIES
                .iter()
                .any(|c| c.eq_ignore_ascii_case(a.activity_display_name.trim()))
    }

    pub fn add(&mut self, a: DirectoryAudit, audited_tenant: &str) {
        self.scanned += 1;
        let at = a.activity_date_time;
        if self.watermark.is_none_or(|w| at > w) {
            self.watermark = Some(at);
        }
        if !Self::is_relevant(&a, audited_tenant) {
            return;
        }
        self.kept_total += 1;
        self.events.push(a);
        if self.events.len() >= self.cap * 2 {
            self.compact();
        }
    }

    /// Counts an event that was read but is outside the window.
    pub fn skip(&mut self) {
        self.scanned += 1;
    }

    /// The events a full read of `window` would keep from `events`: relevant ones inside the window,
    /// once per id (the first one wins), the `MAX_AUDIT_EVENTS` most recent. Returns them with the
    /// number of distinct relevant events left out beyond the cap. Used to merge the events kept in the
    /// history with an incremental read.
    pub fn rebuild(
        events: impl IntoIterator<Item = DirectoryAudit>,
        window: Window,
        audited_tenant: &str,
    ) -> (Vec<DirectoryAudit>, u64) {
        let mut seen = HashSet::new();
        let mut c = AuditCollector::new();
        for a in events {
            let at = a.activity_date_time;
            if at < window.since || at > window.until {
                continue;
            }
            if !a.id.is_empty() && !seen.insert(a.id.clone()) {
                continue;
            }
            c.add(a, audited_tenant);
        }
        let summary = c.finish();
        (summary.events, summary.dropped)
    }

    fn compact(&mut self) {
        self.events.sort_by(|a, b| {
            b.activity_date_time
                .cmp(&a.activity_date_time)
                .then_with(|| a.id.cmp(&b.id))
        });
        self.events.truncate(self.cap);
    }

    pub fn finish(mut self) -> AuditSummary {
        self.compact();
        AuditSummary {
            scanned: self.scanned,
            dropped: self.kept_total.saturating_sub(self.events.len() as u64),
            events: self.events,
            watermark: self.watermark,
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Streaming with filter fallback

/// One way of asking for a log: the path, and what to say when it was needed because Graph refused the
/// previous (narrower) filter.
struct Attempt {
    path: String,
    fallback_note: &'static str,
    /// Whether Graph filters dates for us (otherwise the client-side date check also ends the read early).
    server_dates: bool,
}

struct StreamError {
    error: GraphError,
    pages: u64,
}

/// Streams the first attempt Graph accepts; a 400 on the first page moves to the next attempt.
/// `on_page` reduces a page and returns whether to keep reading. Returns the notes on refused filters.
async fn stream_log<T: DeserializeOwned + Send + 'static>(
    ctx: &Ctx<'_>,
    source: Source,
    attempts: &[Attempt],
    mut on_page: impl FnMut(Vec<Lenient<T>>, &Attempt) -> bool,
) -> Result<Vec<String>, (StreamError, Vec<String>)> {
    let mut notes = Vec::new();
    for (i, attempt) in attempts.iter().enumerate() {
        if i > 0 {
            notes.push(attempt.fallback_note.to_owned());
        }
        let mut pages = std::pin::pin!(ctx.client.pages::<Lenient<T>>(&attempt.path));
        let mut n = 0u64;
        let mut items = 0u64;
        loop {
            match pages.try_next().await {
                Ok(Some(page)) => {
                    n += 1;
                    items += page.len() as u64;
                    let more = on_page(page, attempt);
                    ctx.emit(ProgressEvent::PageRead {
                        source,
                        pages: n,
                        items,
                    });
                    if !more {
                        return Ok(notes);
                    }
                }
                Ok(None) => return Ok(notes),
                Err(e) if n == 0 && e.status() == Some(400) && i + 1 < attempts.len() => {
                    notes.push(format!("Graph refused the query ({}).", describe(&e)));
                    break;
                }
                Err(error) => return Err((StreamError { error, pages: n }, notes)),
            }
        }
    }
    // Unreachable in practice (the last attempt never breaks out), but stay total.
    Ok(notes)
}

/// `[since, until]` for a log: the window, or after the previous watermark (minus an overlap).
fn log_range(
    ctx: &Ctx<'_>,
    watermark: Option<DateTime<Utc>>,
) -> (DateTime<Utc>, DateTime<Utc>, Option<String>) {
    let window = ctx.window;
    let mut since = window.since;
    let mut note = None;
    if let Some(w) = watermark {
        let from = overlap_start(w);
        if from > since {
            since = from;
            note = Some(incremental_note(w));
        }
    }
    (since, window.until, note)
}

/// The watermark minus the overlap; a watermark at the earliest representable instant (history is
/// outside input) stays where it is instead of overflowing.
fn overlap_start(w: DateTime<Utc>) -> DateTime<Utc> {
    w.checked_sub_signed(Duration::minutes(WATERMARK_OVERLAP_MINUTES))
        .unwrap_or(w)
}

/// The coverage note of a read that started at the watermark `w` minus the overlap.
pub(crate) fn incremental_note(w: DateTime<Utc>) -> String {
    format!(
        "Incremental read: records since {} (the previous watermark {} minus {WATERMARK_OVERLAP_MINUTES} minutes).",
        odata_time(overlap_start(w)),
        odata_time(w)
    )
}

/// The coverage note about relevant audit events counted but not kept.
pub(crate) fn dropped_note(dropped: u64) -> String {
    format!(
        "{dropped} relevant events beyond the {MAX_AUDIT_EVENTS} most recent were counted but not kept."
    )
}

/// The upper bound rounded up to a whole second (OData literals here carry no fraction).
fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    if t.timestamp_subsec_nanos() == 0 {
        t
    } else {
        DateTime::from_timestamp(t.timestamp() + 1, 0).unwrap_or(t)
    }
}

fn join_notes(notes: &[String]) -> Option<String> {
    (!notes.is_empty()).then(|| notes.join(" "))
}

/// Decoding failures: tolerated (and reported) when rare, `failed` when more than 1 in 1,000.
fn decode_note(undecodable: u64, read: u64, first: &Option<String>) -> Option<(bool, String)> {
    (undecodable > 0).then(|| {
        let severe = undecodable.saturating_mul(1000) > read;
        (
            severe,
            format!(
                "{undecodable} of {read} records could not be decoded and were left out (first error: {}).",
                first.as_deref().unwrap_or("unknown")
            ),
        )
    })
}

/// Beta sign-ins in the window, reduced to per-partner aggregates, each record once. `providers_known`:
/// every cross-tenant access partner was read; otherwise sign-ins attributed by home tenant may be
/// missing and the source is `failed`.
pub(crate) async fn sign_ins(
    ctx: &Ctx<'_>,
    service_providers: &BTreeSet<String>,
    providers_known: bool,
) -> SignInSummary {
    let source = Source::SignIns;
    ctx.started(source);
    let (since, until, incremental) = log_range(ctx, ctx.opts.sign_in_watermark);
    let dates = format!(
        "createdDateTime ge {} and createdDateTime le {}",
        odata_time(since),
        odata_time(ceil_second(until))
    );
    let full = format!(
        "{dates} and (signInEventTypes/any(t: t eq 'interactiveUser') or signInEventTypes/any(t: t eq 'nonInteractiveUser'))"
    );
    let attempts = [
        Attempt {
            path: format!("{SIGN_INS}?$filter={}&$top=1000", encode(&full)),
            fallback_note: "",
            server_dates: true,
        },
        Attempt {
            path: format!("{SIGN_INS}?$filter={}&$top=1000", encode(&dates)),
            fallback_note: "Read with a date filter only: beta then returns interactive sign-ins only, so non-interactive partner sign-ins may be missing.",
            server_dates: true,
        },
        Attempt {
            path: format!("{SIGN_INS}?$top=1000"),
            fallback_note: "Read without any filter and filtered client-side (dates, user sign-ins); interactive sign-ins only.",
            server_dates: false,
        },
    ];

    let mut agg = SignInAggregator::new();
    let mut seen = SeenIds::new();
    let (mut undecodable, mut first_error) = (0u64, None::<String>);
    let sink = ctx.opts.partner_sign_ins.as_ref();
    let outcome = stream_log(ctx, source, &attempts, |page, attempt| {
        let mut any_recent = page.is_empty();
        let mut partner_records = Vec::new();
        for v in page {
            let s: SignIn = match v {
                Lenient::Item(s) => s,
                Lenient::Invalid(e) => {
                    undecodable += 1;
                    first_error.get_or_insert(e);
                    agg.skip();
                    continue;
                }
            };
            let at = s.created_date_time;
            if at >= since {
                any_recent = true;
            }
            if at < since || at > until || !is_user_sign_in(&s) {
                agg.skip();
                continue;
            }
            // Only what the aggregates count needs remembering: a partner sign-in served twice counts
            // once, while the tenant's own records (the bulk of a log) cost no memory.
            let partner = SignInAggregator::partner_of(&s, &ctx.tenant, service_providers);
            if partner.is_some() && !seen.first_time(&s.id) {
                continue;
            }
            if agg.add_attributed(&s, partner) && sink.is_some() {
                partner_records.push(s);
            }
        }
        if let Some(sink) = sink.filter(|_| !partner_records.is_empty()) {
            let mut spool = sink.lock().unwrap_or_else(|e| e.into_inner());
            for s in partner_records.drain(..) {
                spool.push(&s);
            }
        }
        // Newest first: once a whole page is older than the window, the rest is too.
        attempt.server_dates || any_recent
    })
    .await;

    let scanned = agg.scanned();
    let summary = agg.finish();
    let mut notes: Vec<String> = incremental.into_iter().collect();
    notes.extend(duplicate_records_note(seen.duplicates()));
    let coverage = match outcome {
        Ok(more) => {
            notes.extend(more);
            let mut status = CoverageStatus::Collected;
            if let Some((severe, note)) = decode_note(undecodable, scanned, &first_error) {
                notes.push(note);
                if severe {
                    status = CoverageStatus::Failed;
                }
            }
            if !providers_known {
                notes.insert(0, "Partner sign-ins are recognised by crossTenantAccessType only: the cross-tenant access partners (xtap.partners) were not all read, so sign-ins attributed by home tenant may be missing.".to_owned());
                status = CoverageStatus::Failed;
            }
            Coverage {
                status,
                ..super::collected(source, scanned, join_notes(&notes))
            }
        }
        Err((e, more)) => {
            let mut c = if e.error.is_unlicensed() {
                let mut c = coverage_from_error(source, "Sign-in logs", &e.error);
                c.detail = Some(format!(
                    "Sign-in logs need a Microsoft Entra ID P1 or P2 licence in the audited tenant ({}); partner sign-in activity and MFA cannot be checked.",
                    describe(&e.error)
                ));
                c
            } else {
                coverage_from_error(source, "Sign-in logs (beta)", &e.error)
            };
            notes.extend(more);
            if e.pages > 0 {
                notes.push(format!(
                    "The read stopped after {} pages ({scanned} records).",
                    e.pages
                ));
            }
            if let Some(n) = join_notes(&notes) {
                c.detail = Some(format!("{} {n}", c.detail.unwrap_or_default()));
            }
            c.items = Some(scanned);
            c
        }
    };
    ctx.record(coverage);
    summary
}

/// Directory audits in the window: partner-initiated events and partner-related categories.
pub(crate) async fn directory_audits(ctx: &Ctx<'_>) -> AuditSummary {
    let source = Source::DirectoryAudits;
    ctx.started(source);
    let (since, until, incremental) = log_range(ctx, ctx.opts.audit_watermark);
    let dates = format!(
        "activityDateTime ge {} and activityDateTime le {}",
        odata_time(since),
        odata_time(ceil_second(until))
    );
    let attempts = [
        Attempt {
            path: format!("{DIRECTORY_AUDITS}?$filter={}&$top=1000", encode(&dates)),
            fallback_note: "",
            server_dates: true,
        },
        Attempt {
            path: format!("{DIRECTORY_AUDITS}?$top=1000"),
            fallback_note: "Read without a filter and filtered client-side by date.",
            server_dates: false,
        },
    ];
    let mut collector = AuditCollector::new();
    let mut seen = SeenIds::new();
    let (mut undecodable, mut first_error) = (0u64, None::<String>);
    let mut read = 0u64;
    let outcome = stream_log(ctx, source, &attempts, |page, attempt| {
        let mut any_recent = page.is_empty();
        for v in page {
            read += 1;
            let a: DirectoryAudit = match v {
                Lenient::Item(a) => a,
                Lenient::Invalid(e) => {
                    undecodable += 1;
                    first_error.get_or_insert(e);
                    collector.skip();
                    continue;
                }
            };
            let at = a.activity_date_time;
            if at >= since {
                any_recent = true;
            }
            if at < since || at > until {
                collector.skip();
                continue;
            }
            // Only events the collector keeps need remembering: one served twice is kept once.
            if AuditCollector::is_relevant(&a, &ctx.tenant) && !seen.first_time(&a.id) {
                read = read.saturating_sub(1);
                continue;
            }
            collector.add(a, &ctx.tenant);
        }
        attempt.server_dates || any_recent
    })
    .await;
    let summary = collector.finish();
    let mut notes: Vec<String> = incremental.into_iter().collect();
    notes.extend(duplicate_records_note(seen.duplicates()));
    let coverage = match outcome {
        Ok(more) => {
            notes.extend(more);
            let mut status = CoverageStatus::Collected;
            if let Some((severe, note)) = decode_note(undecodable, read, &first_error) {
                notes.push(note);
                if severe {
                    status = CoverageStatus::Failed;
                }
            }
            if summary.dropped > 0 {
                notes.push(dropped_note(summary.dropped));
            }
            Coverage {
                status,
                ..super::collected(source, read, join_notes(&notes))
            }
        }
        Err((e, more)) => {
            let mut c = coverage_from_error(source, "Directory audit logs", &e.error);
            notes.extend(more);
            if e.pages > 0 {
                notes.push(format!(
                    "The read stopped after {} pages ({read} events).",
                    e.pages
                ));
            }
            if let Some(n) = join_notes(&notes) {
                c.detail = Some(format!("{} {n}", c.detail.unwrap_or_default()));
            }
            c.items = Some(read);
            c
        }
    };
    ctx.record(coverage);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const US: &str = "52eaad04-13a2-4a2f-9ce8-93a294fadf36";
    const P1: &str = "8777b240-c6f0-4469-9e98-a3205431b836";
    const P2: &str = "123f4846-ba00-4fd7-ba43-dac1f8f63013";

    #[allow(clippy::too_many_arguments)]
    fn sign_in(
        id: &str,
        at: &str,
        access: Option<&str>,
        home: &str,
        error: i64,
        requirement: &str,
        country: &str,
        app: &str,
    ) -> SignIn {
        serde_json::from_value(json!({
            "id": id, "createdDateTime": at, "crossTenantAccessType": access, "homeTenantId": home,
            "status": {"errorCode": error}, "authenticationRequirement": requirement,
            "location": {"countryOrRegion": country}, "appDisplayName": app, "userPrincipalName": "tech@partner.example"
        }))
        .unwrap()
    }

    fn sps() -> BTreeSet<String> {
        [P1.to_owned()].into_iter().collect()
    }

    #[test]
    fn partner_sign_ins_are_recognised() {
        let sp = sps();
        let by_type = sign_in(
            "1",
            "2026-08-01T00:00:00Z",
            Some("b2bCollaboration,serviceProvider"),
            &P2.to_uppercase(),
            0,
            "x",
            "US",
            "A",
        );
        assert_eq!(
            SignInAggregator::partner_of(&by_type, US, &sp).as_deref(),
            Some(P2)
        );
        let by_home = sign_in(
            "2",
            "2026-08-01T00:00:00Z",
            Some("none"),
            P1,
            0,
            "x",
            "US",
            "A",
        );
        assert_eq!(
            SignInAggregator::partner_of(&by_home, US, &sp).as_deref(),
            Some(P1)
        );
        let local = sign_in(
            "3",
            "2026-08-01T00:00:00Z",
            Some("none"),
            US,
            0,
            "x",
            "US",
            "A",
        );
        assert_eq!(SignInAggregator::partner_of(&local, US, &sp), None);
        let support = sign_in(
            "4",
            "2026-08-01T00:00:00Z",
            Some("microsoftSupport"),
            P2,
            0,
            "x",
            "US",
            "A",
        );
        assert_eq!(SignInAggregator::partner_of(&support, US, &sp), None);
        let no_home = sign_in(
            "5",
            "2026-08-01T00:00:00Z",
            Some("serviceProvider"),
            "",
            0,
            "x",
            "US",
            "A",
        );
        assert_eq!(
            SignInAggregator::partner_of(&no_home, US, &sp).as_deref(),
            Some("unknown")
        );
    }

    #[test]
    fn aggregates_counts_examples_and_watermark() {
        let sp = sps();
        let mut agg = SignInAggregator::new();
        let mut records = Vec::new();
        for i in 0..20u32 {
            let at = format!("2026-08-{:02}T10:00:00Z", i + 1);
            let error = if i % 4 == 0 { 50126 } else { 0 };
            let req = if i.is_multiple_of(3) {
                "singleFactorAuthentication"
            } else {
                "multiFactorAuthentication"
            };
            let country = if i % 2 == 0 { "US" } else { "NL" };
            let access = if i == 7 {
                "serviceProvider,passthrough"
            } else {
                "serviceProvider"
            };
            records.push(sign_in(
                &format!("id{i:02}"),
                &at,
                Some(access),
                P1,
                error,
                req,
                country,
                &format!("App {}", i % 2),
            ));
        }
        records.push(sign_in(
            "local",
            "2026-08-25T00:00:00Z",
            Some("none"),
            US,
            0,
            "x",
            "US",
            "A",
        ));
        // Arrival order must not matter.
        records.reverse();
        for r in &records {
            agg.add(r, US, &sp);
        }
        let s = agg.finish();
        assert_eq!(s.scanned, 21);
        assert_eq!(
            s.watermark.unwrap().to_rfc3339(),
            "2026-08-25T00:00:00+00:00"
        );
        let p = &s.partners[P1];
        assert_eq!(p.total, 20);
        assert_eq!(p.failures, 5);
        assert_eq!(p.successes, 15);
        assert_eq!(p.countries.values().sum::<u64>(), 15);
        assert_eq!(p.apps.values().sum::<u64>(), 15);
        assert_eq!(p.access_types["serviceProvider"], 20);
        assert_eq!(p.access_types["passthrough"], 1);
        // Successes with i % 3 == 0 and i % 4 != 0: 3, 6, 9, 15, 18.
        assert_eq!(p.successes_without_mfa, 5);
        assert_eq!(
            p.first_success.unwrap().to_rfc3339(),
            "2026-08-02T10:00:00+00:00"
        );
        assert_eq!(
            p.last_success.unwrap().to_rfc3339(),
            "2026-08-20T10:00:00+00:00"
        );
        assert_eq!(
            p.last_attempt.unwrap().to_rfc3339(),
            "2026-08-20T10:00:00+00:00"
        );
        let ids: Vec<&str> = p.examples.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["id19", "id18", "id17", "id15", "id14"]);
        let sf: Vec<&str> = p
            .single_factor_examples
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(sf, ["id18", "id15", "id09", "id06", "id03"]);
        assert_eq!(p.country_examples["NL"].id, "id19");
        assert_eq!(p.country_examples["US"].id, "id18");
    }

    #[test]
    fn apps_are_capped() {
        let sp = sps();
        let mut agg = SignInAggregator::new();
        for i in 0..200u32 {
            let s = sign_in(
                &format!("{i}"),
                "2026-08-01T00:00:00Z",
                Some("serviceProvider"),
                P1,
                0,
                "x",
                "",
                &format!("App {i}"),
            );
            agg.add(&s, US, &sp);
        }
        let p = &agg.finish().partners[P1];
        assert_eq!(p.apps.len(), MAX_APPS);
        assert_eq!(p.apps[OTHER_APPS], 200 - (MAX_APPS as u64 - 1));
        assert_eq!(p.countries["unknown"], 200);
        assert_eq!(p.examples.len(), MAX_EXAMPLES);
    }

    fn audit(
        id: &str,
        at: &str,
        category: &str,
        activity: &str,
        home: Option<&str>,
    ) -> DirectoryAudit {
        serde_json::from_value(json!({
            "id": id, "activityDateTime": at, "category": category, "activityDisplayName": activity,
            "initiatedBy": {"user": home.map(|h| json!({"id": "u", "homeTenantId": h})), "app": null}
        }))
        .unwrap()
    }

    #[test]
    fn audits_keep_partner_events_bounded() {
        let mut c = AuditCollector::with_cap(3);
        c.add(
            audit(
                "a",
                "2026-08-01T00:00:00Z",
                "RoleManagement",
                "Add member to role",
                Some(P1),
            ),
            US,
        );
        c.add(
            audit(
                "b",
                "2026-08-02T00:00:00Z",
                "RoleManagement",
                "Add member to role",
                Some(US),
            ),
            US,
        );
        c.add(
            audit(
                "c",
                "2026-08-03T00:00:00Z",
                "CrossTenantAccessSettings",
                "Add a partner to cross-tenant access setting",
                None,
            ),
            US,
        );
        c.add(
            audit(
                "d",
                "2026-08-04T00:00:00Z",
                "DirectoryManagement",
                "Add partner to company",
                None,
            ),
            US,
        );
        c.add(
            audit(
                "e",
                "2026-08-05T00:00:00Z",
                "DelegatedAdminServiceProviderConstraints",
                "Add allowed assignable roles",
                None,
            ),
            US,
        );
        c.add(
            audit(
                "f",
                "2026-08-06T00:00:00Z",
                "UserManagement",
                "Update user",
                None,
            ),
            US,
        );
        let s = c.finish();
        assert_eq!(s.scanned, 6);
        assert_eq!(s.dropped, 1);
        let ids: Vec<&str> = s.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e", "d", "c"]);
        assert_eq!(
            s.watermark.unwrap().to_rfc3339(),
            "2026-08-06T00:00:00+00:00"
        );
    }

    #[test]
    fn upper_bound_rounds_up() {
        let t = DateTime::parse_from_rfc3339("2026-08-01T00:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(odata_time(ceil_second(t)), "2026-08-01T00:00:01Z");
        let t = DateTime::parse_from_rfc3339("2026-08-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ceil_second(t), t);
    }

    /// #11: ids are compared trimmed and without case; an empty id is never a duplicate.
    #[test]
    fn seen_ids_count_repeats_once() {
        let mut seen = SeenIds::new();
        assert!(seen.first_time("A-1"));
        assert!(!seen.first_time(" a-1 "));
        assert!(seen.first_time("a-2"));
        assert!(seen.first_time(""));
        assert!(seen.first_time(""));
        assert_eq!(seen.duplicates(), 1);
    }

    /// #3: a watermark at the earliest instant chrono represents does not overflow the overlap.
    #[test]
    fn overlap_of_an_extreme_watermark_does_not_overflow() {
        assert_eq!(
            overlap_start(DateTime::<Utc>::MIN_UTC),
            DateTime::<Utc>::MIN_UTC
        );
        let _ = incremental_note(DateTime::<Utc>::MIN_UTC);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            /// #11: a stream where records repeat (any order, any number of times) aggregates exactly
            /// like the stream of its distinct records.
            #[test]
            fn repeated_sign_ins_aggregate_once(
                picks in proptest::collection::vec((0usize..12, 0usize..4), 0..60)
            ) {
                let sp = sps();
                let record = |i: usize| {
                    let requirement = if i.is_multiple_of(3) { "singleFactorAuthentication" } else { "multiFactorAuthentication" };
                    sign_in(
                        &format!("id-{i}"),
                        &format!("2026-08-{:02}T10:00:00Z", i + 1),
                        Some("serviceProvider"),
                        if i.is_multiple_of(2) { P1 } else { P2 },
                        if i.is_multiple_of(5) { 50126 } else { 0 },
                        requirement,
                        "US",
                        "App",
                    )
                };
                let mut seen = SeenIds::new();
                let mut with_repeats = SignInAggregator::new();
                let mut distinct = Vec::new();
                for (i, times) in &picks {
                    for _ in 0..=*times {
                        let s = record(*i);
                        if seen.first_time(&s.id) {
                            with_repeats.add(&s, US, &sp);
                            distinct.push(*i);
                        }
                    }
                }
                let mut once = SignInAggregator::new();
                for i in &distinct {
                    once.add(&record(*i), US, &sp);
                }
                prop_assert_eq!(with_repeats.finish(), once.finish());
                let repeats: u64 = picks.iter().map(|(_, t)| *t as u64 + 1).sum::<u64>()
                    - distinct.len() as u64;
                prop_assert_eq!(seen.duplicates(), repeats);
            }
        }
    }
}
