//! Incremental log reads, the audit's side of the kept logs: whether a run may read its sign-ins and
//! directory audits only after the previous watermark ([`plan`]), and rebuilding the whole window's
//! aggregates from the history's kept records and the new ones ([`merge`]). The history only stores and
//! returns records (`history/logs.rs`); the decisions are here.
//!
//! Why the merge equals a full read:
//! * A run that keeps its records ([`HistoryStore::record_run_and_logs`], [`super::finish`]) stores every
//!   sign-in it attributed to a partner inside its window, and every directory audit event it kept. Rows
//!   are keyed by record id, so a record read twice (the overlap) is stored once.
//! * Incremental reading is allowed only when the runs that kept records form an unbroken chain (each
//!   read its log in full, their windows join up) reaching back to the start of the requested window,
//!   the previous run's watermark exists and is inside the window, and the read would actually start
//!   after the window's start ([`plan`]). By induction, the history then holds every partner record of
//!   `[window start, previous watermark]`, and the new read covers
//!   `[previous watermark - overlap, window end]`.
//! * [`merge`] feeds the stored records of the window and the new ones, once per id, newest first, to a
//!   fresh [`SignInAggregator`] (or [`AuditCollector`]): the same code, the same order as a full read.
//! * Which sign-ins are partner sign-ins depends on the tenants flagged `isServiceProvider` at the time
//!   they were read. When the current set names a tenant the previous run did not have, the kept
//!   records cannot stand for a full read: the merge refuses ([`LogMerge::NeedsFullRead`]) and the
//!   caller reads the sign-ins again over the whole window.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::collect::logs::{dropped_note, incremental_note};
use crate::collect::spool::SignInSpool;
use crate::collect::{
    AuditCollector, SignInAggregator, WATERMARK_OVERLAP_MINUTES, service_providers,
};
use crate::history::{HistoryError, HistoryStore, audit_key};
use crate::model::tenant_id;
use crate::snapshot::{CoverageStatus, Snapshot, Source, Window};

/// Where an incremental read starts: the watermark minus the overlap (or the calendar's start).
fn overlap_start(watermark: DateTime<Utc>) -> DateTime<Utc> {
    watermark
        .checked_sub_signed(Duration::minutes(WATERMARK_OVERLAP_MINUTES))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Which logs a run may read incrementally, and from which watermark (the collector starts
/// [`WATERMARK_OVERLAP_MINUTES`] before it). The default reads everything in full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncrementalPlan {
    pub sign_in_watermark: Option<DateTime<Utc>>,
    pub audit_watermark: Option<DateTime<Utc>>,
    /// The service-provider tenants the previous run attributed sign-ins with.
    previous_service_providers: BTreeSet<String>,
}

impl IncrementalPlan {
    pub fn is_incremental(&self) -> bool {
        self.sign_in_watermark.is_some() || self.audit_watermark.is_some()
    }
}

/// What [`merge`] did with one log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LogMerge {
    /// The log was read in full (or not planned incremental): nothing to merge.
    #[default]
    Full,
    /// The incremental read (`read` records) was merged with `from_history` kept records.
    Merged { read: u64, from_history: u64 },
    /// The incremental read did not complete (denied, failed, ...): left as it is, never merged into
    /// a result that would look complete.
    NotCollected,
    /// The kept records cannot stand for a full read (`reason`); the source's coverage was marked
    /// `failed`. Read the log again over the whole window.
    NeedsFullRead { reason: String },
}

/// The outcome of [`merge`] per log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    pub sign_ins: LogMerge,
    pub audits: LogMerge,
}

/// Rewrites a source's coverage detail: `remove` sentences out, `lead` first, `tail` last.
fn rewrite_detail(
    snap: &mut Snapshot,
    source: Source,
    remove: &[String],
    lead: &str,
    tail: Option<String>,
) {
    let Some(c) = snap.coverage.iter_mut().find(|c| c.source == source) else {
        return;
    };
    let mut rest = c.detail.take().unwrap_or_default();
    for r in remove.iter().filter(|r| !r.is_empty()) {
        rest = rest.replace(r.as_str(), "");
    }
    let rest = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    let parts: Vec<String> = [Some(lead.to_owned()), Some(rest), tail]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect();
    c.detail = (!parts.is_empty()).then(|| parts.join(" "));
}

/// Whether an incremental read really starts after the window's start (else it was a full read).
fn reads_incrementally(watermark: DateTime<Utc>, window: Window) -> bool {
    overlap_start(watermark) > window.since && watermark <= window.until
}

/// The logs a run of `tenant` over `window` may read incrementally: those whose kept records cover the
/// window from its start ([`HistoryStore::kept_logs`] since at or before `window.since`) up to the
/// previous run's watermark, when that watermark lies inside the window and late enough for the read to
/// start after the window's start. Everything else is read in full.
pub fn plan(
    store: &HistoryStore,
    tenant_id: &str,
    window: Window,
) -> Result<IncrementalPlan, HistoryError> {
    let kept = store.kept_logs(tenant_id)?;
    let mut plan = IncrementalPlan::default();
    if let Some(k) = kept.sign_ins
        && k.since <= window.since
        && let Some(w) = k.watermark
        && reads_incrementally(w, window)
    {
        plan.previous_service_providers =
            k.service_providers.ok_or_else(|| HistoryError::Corrupt {
                path: store.path().to_owned(),
                detail: "unreadable stored value: the service providers of the kept sign-ins"
                    .to_owned(),
            })?;
        plan.sign_in_watermark = Some(w);
    }
    if let Some(k) = kept.audits
        && k.since <= window.since
        && let Some(w) = k.watermark
        && reads_incrementally(w, window)
    {
        plan.audit_watermark = Some(w);
    }
    Ok(plan)
}

/// After an incremental collection planned by [`plan`], rebuilds the
/// snapshot's log aggregates over its whole window from the kept records and the new ones, as a
/// full read would have built them:
///
/// * sign-ins: `customer.sign_ins.partners` is rebuilt by a fresh [`SignInAggregator`] fed the kept
///   partner sign-ins of the window and `new_partner_sign_ins` (what the collector's sink received),
///   once per id, newest first; `scanned` stays the records read by this run, the watermark is the
///   newer of the previous one and this run's;
/// * directory audits: the kept events of the window and the new ones, once per id, the
///   [`MAX_AUDIT_EVENTS`](crate::collect::MAX_AUDIT_EVENTS) most recent kept.
///
/// Only a log that was planned incremental and collected in this run is merged; its coverage detail
/// then says so. A log whose read did not complete stays as read ([`LogMerge::NotCollected`]).
pub fn merge(
    store: &HistoryStore,
    snap: &mut Snapshot,
    plan: &IncrementalPlan,
    new_partner_sign_ins: &mut SignInSpool,
) -> Result<MergeOutcome, HistoryError> {
    let mut outcome = MergeOutcome::default();
    if snap.customer.is_none() {
        return Ok(outcome);
    }
    let tenant = tenant_id::normalise(&snap.tenant_id);
    let window = snap.window;

    if let Some(w) = plan
        .sign_in_watermark
        .filter(|w| reads_incrementally(*w, window))
    {
        outcome.sign_ins = if !snap.has(Source::SignIns) {
            LogMerge::NotCollected
        } else {
            let providers = service_providers(snap);
            let new: Vec<&String> = providers
                .difference(&plan.previous_service_providers)
                .collect();
            if new.is_empty() {
                let mut agg = SignInAggregator::new();
                let from_history =
                    store.kept_sign_ins(&tenant, window, new_partner_sign_ins, |s| {
                        agg.add_in_window(&s, window, &tenant, &providers)
                    })?;
                let partners = agg.finish().partners;
                let Some(customer) = snap.customer.as_mut() else {
                    return Ok(outcome);
                };
                let si = &mut customer.sign_ins;
                si.partners = partners;
                si.watermark = si.watermark.max(Some(w));
                let read = si.scanned;
                let lead = format!(
                    "Incremental since {}: {read} new records read, merged with {from_history} partner sign-ins from history.",
                    since_text(w)
                );
                rewrite_detail(snap, Source::SignIns, &[incremental_note(w)], &lead, None);
                LogMerge::Merged { read, from_history }
            } else {
                let names: Vec<&str> = new.iter().map(|s| s.as_str()).collect();
                let reason = format!(
                    "service-provider partner tenants {} were not service providers when the earlier sign-ins were kept",
                    names.join(", ")
                );
                if let Some(c) = snap
                    .coverage
                    .iter_mut()
                    .find(|c| c.source == Source::SignIns)
                {
                    c.status = CoverageStatus::Failed;
                    c.detail = Some(format!(
                        "Sign-ins were read incrementally (since {}), but the {reason}: the history cannot stand for the earlier part of the window, which must be read again in full.",
                        since_text(w)
                    ));
                }
                LogMerge::NeedsFullRead { reason }
            }
        };
    }

    if let Some(w) = plan
        .audit_watermark
        .filter(|w| reads_incrementally(*w, window))
    {
        outcome.audits = if !snap.has(Source::DirectoryAudits) {
            LogMerge::NotCollected
        } else {
            let stored = store.kept_audits(&tenant, window)?;
            let Some(customer) = snap.customer.as_mut() else {
                return Ok(outcome);
            };
            let audits = &mut customer.audits;
            let fresh: HashSet<String> = audits.events.iter().map(audit_key).collect();
            let from_history = stored
                .iter()
                .filter(|a| !fresh.contains(&audit_key(a)))
                .count() as u64;
            let old_dropped = audits.dropped;
            let new_events = std::mem::take(&mut audits.events);
            let (events, dropped) =
                AuditCollector::rebuild(new_events.into_iter().chain(stored), window, &tenant);
            audits.events = events;
            // Relevant events this run read but did not keep are older than the ones it kept.
            audits.dropped = dropped + old_dropped;
            audits.watermark = audits.watermark.max(Some(w));
            let read = audits.scanned;
            let new_dropped = audits.dropped;
            let lead = format!(
                "Incremental since {}: {read} new records read, merged with {from_history} audit events from history.",
                since_text(w)
            );
            let remove = [
                incremental_note(w),
                if old_dropped > 0 {
                    dropped_note(old_dropped)
                } else {
                    String::new()
                },
            ];
            let tail = (new_dropped > 0).then(|| dropped_note(new_dropped));
            rewrite_detail(snap, Source::DirectoryAudits, &remove, &lead, tail);
            LogMerge::Merged { read, from_history }
        };
    }
    Ok(outcome)
}

fn since_text(watermark: DateTime<Utc>) -> String {
    crate::collect::odata_time(overlap_start(watermark))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Coverage;

    /// Dates at the edge of the calendar (a crafted snapshot, an extreme `--as-of`) never overflow.
    #[test]
    fn cutoffs_at_the_edge_of_the_calendar_do_not_overflow() {
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(overlap_start(min), min);
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(
            overlap_start(max),
            max - Duration::minutes(WATERMARK_OVERLAP_MINUTES)
        );
        assert!(!reads_incrementally(
            min,
            Window {
                since: min,
                until: max
            }
        ));
    }

    #[test]
    fn details_are_rewritten_sentence_by_sentence() {
        let mut snap = Snapshot {
            snapshot_version: crate::snapshot::SNAPSHOT_VERSION,
            tool_version: String::new(),
            tenant_id: "c1".into(),
            tenant_name: None,
            collected_at: Utc::now(),
            as_of: Utc::now(),
            window: Window {
                since: Utc::now(),
                until: Utc::now(),
            },
            perspectives: Vec::new(),
            partner: None,
            customer: None,
            fleet: None,
            coverage: vec![Coverage {
                source: Source::DirectoryAudits,
                status: CoverageStatus::Collected,
                detail: Some("A. Incremental read: x. 3 dropped.".into()),
                graph_code: None,
                request_id: None,
                permission: None,
                items: Some(1),
            }],
        };
        rewrite_detail(
            &mut snap,
            Source::DirectoryAudits,
            &["Incremental read: x.".into(), "3 dropped.".into()],
            "Lead.",
            Some("5 dropped.".into()),
        );
        assert_eq!(
            snap.coverage[0].detail.as_deref(),
            Some("Lead. A. 5 dropped.")
        );
    }
}
