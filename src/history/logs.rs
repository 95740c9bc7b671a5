//! Incremental logs: the partner sign-ins and directory audit events runs read are kept, so a later run
//! can ask Graph only for the records after the previous watermark and still report the aggregates of
//! its whole window, exactly as a full read would have built them.
//!
//! Why the merge equals a full read:
//! * A run that keeps its records ([`HistoryStore::record_run_and_logs`]) stores every sign-in it
//!   attributed to a partner inside its window, and every directory audit event it kept. Rows are keyed
//!   by record id, so a record read twice (the overlap) is stored once.
//! * Incremental reading is allowed only when the runs that kept records form an unbroken chain (each
//!   read its log in full, their windows join up) reaching back to the start of the requested window,
//!   the previous run's watermark exists and is inside the window, and the read would actually start
//!   after the window's start ([`HistoryStore::incremental_plan`]). By induction, the history then
//!   holds every partner record of `[window start, previous watermark]`, and the new read covers
//!   `[previous watermark - overlap, window end]`.
//! * [`HistoryStore::merge_logs`] feeds the stored records of the window and the new ones, once per
//!   id, newest first, to a fresh [`SignInAggregator`] (or [`AuditCollector`]): the same code, the same
//!   order as a full read.
//! * Which sign-ins are partner sign-ins depends on the tenants flagged `isServiceProvider` at the time
//!   they were read. When the current set names a tenant the previous run did not have, the kept
//!   records cannot stand for a full read: the merge refuses ([`LogMerge::NeedsFullRead`]) and the
//!   caller reads the sign-ins again over the whole window.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::HistoryError;
use super::chain::{WindowRow, evidence_chain};
use super::sql::{conversion, get_opt_ts, get_ts, tenant_key, ts};
use super::store::HistoryStore;
use crate::collect::logs::{dropped_note, incremental_note, sign_in_key};
use crate::collect::spool::SignInSpool;
use crate::collect::{
    AuditCollector, SignInAggregator, WATERMARK_OVERLAP_MINUTES, service_providers,
};
use crate::model::logs::{DirectoryAudit, SignIn};
use crate::snapshot::{CoverageStatus, Snapshot, Source, Window};

/// Kept log records older than this many days before the newest recorded run's `as_of` are deleted.
/// A window reaching further back (`--since` above 400) is always read in full.
pub const LOG_RETENTION_DAYS: i64 = 400;

type Result<T> = std::result::Result<T, HistoryError>;

/// Kept records older than this are deleted. Dates come from snapshots and the command line: at the
/// edge of the calendar the cutoff stops there instead of overflowing.
fn retention_cutoff(as_of: DateTime<Utc>) -> DateTime<Utc> {
    as_of
        .checked_sub_signed(Duration::days(LOG_RETENTION_DAYS))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Where an incremental read starts: the watermark minus the overlap (or the calendar's start).
fn overlap_start(watermark: DateTime<Utc>) -> DateTime<Utc> {
    watermark
        .checked_sub_signed(Duration::minutes(WATERMARK_OVERLAP_MINUTES))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Since when the history holds every kept log record without a gap (see
/// [`HistoryStore::log_coverage_start`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCoverage {
    pub sign_ins: Option<DateTime<Utc>>,
    pub audits: Option<DateTime<Utc>>,
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

/// What [`HistoryStore::merge_logs`] did with one log.
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

/// The outcome of [`HistoryStore::merge_logs`] per log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    pub sign_ins: LogMerge,
    pub audits: LogMerge,
}

/// One `sign_in_windows` row, as the incremental logic reads it.
struct LogWindow {
    run_id: Option<i64>,
    as_of: DateTime<Utc>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    /// Sign-ins read in full and kept.
    sign_ins: bool,
    service_providers: Option<String>,
    /// Directory audits read in full and kept.
    audits: bool,
}

fn load_log_windows(tx: &Transaction<'_>, tenant: &str) -> rusqlite::Result<Vec<LogWindow>> {
    let mut stmt = tx.prepare(
        "SELECT run_id, as_of, since, until, collected AND sign_in_records, service_providers,
                audits_collected AND audit_records
         FROM sign_in_windows WHERE tenant_id = ?1 ORDER BY as_of, id",
    )?;
    stmt.query_map([tenant], |r| {
        Ok(LogWindow {
            run_id: r.get(0)?,
            as_of: get_ts(r, 1)?,
            since: get_ts(r, 2)?,
            until: get_ts(r, 3)?,
            sign_ins: r.get(4)?,
            service_providers: r.get(5)?,
            audits: r.get(6)?,
        })
    })?
    .collect()
}

/// The start of the newest unbroken chain of rows where `kept` holds (never before the retention
/// cutoff), and its newest row.
fn kept_chain(
    rows: &[LogWindow],
    kept: impl Fn(&LogWindow) -> bool,
) -> Option<(DateTime<Utc>, &LogWindow)> {
    let windows: Vec<WindowRow> = rows
        .iter()
        .map(|r| WindowRow {
            since: r.since,
            until: r.until,
            collected: kept(r),
        })
        .collect();
    let chain = evidence_chain(&windows)?;
    let newest = rows.last()?;
    let cutoff = retention_cutoff(rows.iter().map(|r| r.as_of).max()?);
    Some((chain.since.max(cutoff), newest))
}

fn audit_key(a: &DirectoryAudit) -> String {
    if a.id.is_empty() {
        format!("json:{}", serde_json::to_string(a).unwrap_or_default())
    } else {
        a.id.clone()
    }
}

fn to_sql_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

/// Stores a run's partner sign-ins (read back one at a time from the collector's spool, already in the
/// compact form) and kept audit events (a newer read of a record replaces the older one) and deletes
/// records beyond the retention. Called inside the run's transaction.
pub(super) fn write_logs(
    tx: &Transaction<'_>,
    tenant: &str,
    snap: &Snapshot,
    partner_sign_ins: &mut SignInSpool,
) -> rusqlite::Result<()> {
    let providers = service_providers(snap);
    {
        let mut stmt = tx.prepare(
            "INSERT INTO partner_sign_ins (tenant_id, id, created_at, partner_tenant_id, record)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tenant_id, id) DO UPDATE SET
                 created_at = excluded.created_at,
                 partner_tenant_id = excluded.partner_tenant_id,
                 record = excluded.record",
        )?;
        partner_sign_ins
            .for_each(|s, record| {
                let partner = SignInAggregator::partner_of(&s, tenant, &providers)
                    .unwrap_or_else(|| "unknown".to_owned());
                stmt.execute(params![
                    tenant,
                    sign_in_key(&s),
                    ts(s.created_date_time),
                    partner,
                    record
                ])
                .map(|_| ())
                .map_err(SpoolError::Sql)
            })
            .map_err(SpoolError::into_sql)?;
    }
    if let Some(customer) = &snap.customer {
        let mut stmt = tx.prepare(
            "INSERT INTO audit_events (tenant_id, id, activity_at, record) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant_id, id) DO UPDATE SET
                 activity_at = excluded.activity_at,
                 record = excluded.record",
        )?;
        for a in &customer.audits.events {
            let record = serde_json::to_string(a).map_err(to_sql_err)?;
            stmt.execute(params![
                tenant,
                audit_key(a),
                ts(a.activity_date_time),
                record
            ])?;
        }
    }
    let cutoff = ts(retention_cutoff(snap.as_of));
    tx.execute(
        "DELETE FROM partner_sign_ins WHERE tenant_id = ?1 AND created_at < ?2",
        params![tenant, cutoff],
    )?;
    tx.execute(
        "DELETE FROM audit_events WHERE tenant_id = ?1 AND activity_at < ?2",
        params![tenant, cutoff],
    )?;
    Ok(())
}

/// An error while streaming spooled records into SQLite: the spool's (I/O) or the database's.
enum SpoolError {
    Io(std::io::Error),
    Sql(rusqlite::Error),
}

impl From<std::io::Error> for SpoolError {
    fn from(e: std::io::Error) -> Self {
        SpoolError::Io(e)
    }
}

impl SpoolError {
    fn into_sql(self) -> rusqlite::Error {
        match self {
            SpoolError::Sql(e) => e,
            SpoolError::Io(e) => rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        }
    }
}

/// The partner sign-ins of `window`: this run's (the spool, loaded into a temporary table) and the kept
/// ones it did not read again, once per id, newest first (ties by id), fed one at a time to `each`;
/// SQLite sorts on disk, so nothing here grows with partner activity. Returns how many came from the
/// history.
fn merged_sign_ins(
    tx: &Transaction<'_>,
    tenant: &str,
    window: Window,
    fresh: &mut SignInSpool,
    mut each: impl FnMut(SignIn),
) -> std::result::Result<u64, SpoolError> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS fresh_sign_ins (
             id TEXT PRIMARY KEY, created_at TEXT NOT NULL, record TEXT NOT NULL);
         DELETE FROM temp.fresh_sign_ins;",
    )
    .map_err(SpoolError::Sql)?;
    {
        let mut insert = tx
            .prepare(
                "INSERT OR REPLACE INTO temp.fresh_sign_ins (id, created_at, record) VALUES (?1, ?2, ?3)",
            )
            .map_err(SpoolError::Sql)?;
        fresh.for_each(|s, record| {
            insert
                .execute(params![sign_in_key(&s), ts(s.created_date_time), record])
                .map(|_| ())
                .map_err(SpoolError::Sql)
        })?;
    }
    let mut stmt = tx
        .prepare(
            "SELECT created_at, id, record, 0 FROM temp.fresh_sign_ins
             WHERE created_at >= ?2 AND created_at <= ?3
             UNION ALL
             SELECT k.created_at, k.id, k.record, 1 FROM main.partner_sign_ins k
             WHERE k.tenant_id = ?1 AND k.created_at >= ?2 AND k.created_at <= ?3
               AND NOT EXISTS (SELECT 1 FROM temp.fresh_sign_ins f WHERE f.id = k.id)
             ORDER BY 1 DESC, 2",
        )
        .map_err(SpoolError::Sql)?;
    let mut rows = stmt
        .query(params![tenant, ts(window.since), ts(window.until)])
        .map_err(SpoolError::Sql)?;
    let mut from_history = 0u64;
    while let Some(row) = rows.next().map_err(SpoolError::Sql)? {
        let text: String = row.get(2).map_err(SpoolError::Sql)?;
        let kept: bool = row.get(3).map_err(SpoolError::Sql)?;
        let s: SignIn =
            serde_json::from_str(&text).map_err(|e| SpoolError::Sql(conversion(2, e)))?;
        from_history = from_history.saturating_add(u64::from(kept));
        each(s);
    }
    drop(rows);
    drop(stmt);
    tx.execute("DELETE FROM temp.fresh_sign_ins", [])
        .map_err(SpoolError::Sql)?;
    Ok(from_history)
}

fn stored_audits(
    tx: &Transaction<'_>,
    tenant: &str,
    window: Window,
) -> rusqlite::Result<Vec<DirectoryAudit>> {
    let mut stmt = tx.prepare(
        "SELECT record FROM audit_events
         WHERE tenant_id = ?1 AND activity_at >= ?2 AND activity_at <= ?3 ORDER BY activity_at DESC, id",
    )?;
    stmt.query_map(params![tenant, ts(window.since), ts(window.until)], |r| {
        let text: String = r.get(0)?;
        serde_json::from_str(&text).map_err(|e| conversion(0, e))
    })?
    .collect()
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

impl HistoryStore {
    /// Since when the history holds, without a gap, the partner sign-ins (and the kept directory audit
    /// events) of `tenant`: the start of the newest unbroken chain of runs that read the log in full and
    /// kept its records (as for the evidence chain: it breaks at a run that did not, or where windows
    /// leave a gap), never before the retention cutoff. `None` when the newest such run did not.
    pub fn log_coverage_start(&self, tenant_id: &str) -> Result<LogCoverage> {
        let tenant = tenant_key(tenant_id);
        let tx = self.read_tx()?;
        let rows = load_log_windows(&tx, &tenant).map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(LogCoverage {
            sign_ins: kept_chain(&rows, |r| r.sign_ins).map(|(start, _)| start),
            audits: kept_chain(&rows, |r| r.audits).map(|(start, _)| start),
        })
    }

    /// The logs a run of `tenant` over `window` may read incrementally: those whose kept records cover
    /// the window from its start ([`HistoryStore::log_coverage_start`] at or before `window.since`) up to
    /// the previous run's watermark, when that watermark lies inside the window and late enough for the
    /// read to start after the window's start. Everything else is read in full.
    pub fn incremental_plan(&self, tenant_id: &str, window: Window) -> Result<IncrementalPlan> {
        let tenant = tenant_key(tenant_id);
        let tx = self.read_tx()?;
        let plan = (|| -> rusqlite::Result<IncrementalPlan> {
            let rows = load_log_windows(&tx, &tenant)?;
            let mut plan = IncrementalPlan::default();
            let watermark =
                |run: Option<i64>, column: &str| -> rusqlite::Result<Option<DateTime<Utc>>> {
                    let Some(run) = run else { return Ok(None) };
                    let sql = format!("SELECT {column} FROM runs WHERE id = ?1");
                    Ok(tx
                        .query_row(&sql, [run], |r| get_opt_ts(r, 0))
                        .optional()?
                        .flatten())
                };
            if let Some((start, newest)) = kept_chain(&rows, |r| r.sign_ins)
                && start <= window.since
                && let Some(w) = watermark(newest.run_id, "sign_ins_watermark")?
                && reads_incrementally(w, window)
            {
                let providers: Vec<String> = match &newest.service_providers {
                    Some(text) => serde_json::from_str(text).map_err(|e| conversion(0, e))?,
                    None => Vec::new(),
                };
                plan.sign_in_watermark = Some(w);
                plan.previous_service_providers = providers.into_iter().collect();
            }
            if let Some((start, newest)) = kept_chain(&rows, |r| r.audits)
                && start <= window.since
                && let Some(w) = watermark(newest.run_id, "audits_watermark")?
                && reads_incrementally(w, window)
            {
                plan.audit_watermark = Some(w);
            }
            Ok(plan)
        })()
        .map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(plan)
    }

    /// After an incremental collection planned by [`HistoryStore::incremental_plan`], rebuilds the
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
    pub fn merge_logs(
        &self,
        snap: &mut Snapshot,
        plan: &IncrementalPlan,
        new_partner_sign_ins: &mut SignInSpool,
    ) -> Result<MergeOutcome> {
        let mut outcome = MergeOutcome::default();
        if snap.customer.is_none() {
            return Ok(outcome);
        }
        let tenant = tenant_key(&snap.tenant_id);
        let window = snap.window;
        let tx = self.read_tx()?;

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
                        merged_sign_ins(&tx, &tenant, window, new_partner_sign_ins, |s| {
                            agg.add_in_window(&s, window, &tenant, &providers)
                        })
                        .map_err(|e| self.err(e.into_sql()))?;
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
                let stored = stored_audits(&tx, &tenant, window).map_err(|e| self.err(e))?;
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
        tx.finish().map_err(|e| self.err(e))?;
        Ok(outcome)
    }
}

fn since_text(watermark: DateTime<Utc>) -> String {
    crate::collect::odata_time(overlap_start(watermark))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Coverage;

    #[test]
    fn compact_sign_ins_keep_what_the_aggregates_read() {
        let s: SignIn = serde_json::from_value(serde_json::json!({
            "id": "s1", "createdDateTime": "2026-08-01T10:00:00.1234567Z", "userPrincipalName": "tech@p.example",
            "userId": "u1", "appDisplayName": "Azure Portal", "ipAddress": "203.0.113.7",
            "location": {"city": "Leeds", "countryOrRegion": "GB"},
            "status": {"errorCode": 0, "failureReason": "Other."}, "crossTenantAccessType": "serviceProvider",
            "homeTenantId": "p1", "resourceTenantId": "c1", "authenticationRequirement": "singleFactorAuthentication",
            "isInteractive": true, "signInEventTypes": ["interactiveUser"]
        }))
        .unwrap();
        let text = crate::collect::spool::compact_sign_in(&s);
        assert!(
            !text.contains("null") && !text.contains("Leeds") && !text.contains("u1"),
            "{text}"
        );
        let back: SignIn = serde_json::from_str(&text).unwrap();
        let window = Window {
            since: s.created_date_time - Duration::days(1),
            until: s.created_date_time + Duration::days(1),
        };
        let providers = BTreeSet::new();
        assert_eq!(
            SignInAggregator::rebuild([&s], window, "c1", &providers),
            SignInAggregator::rebuild([&back], window, "c1", &providers)
        );
        assert_eq!(back.created_date_time, s.created_date_time);
    }

    /// Dates at the edge of the calendar (a crafted snapshot, an extreme `--as-of`) never overflow.
    #[test]
    fn cutoffs_at_the_edge_of_the_calendar_do_not_overflow() {
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(retention_cutoff(min), min);
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
