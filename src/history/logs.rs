//! The kept log records: the partner sign-ins and directory audit events runs read are stored, so a later
//! run can ask Graph only for the records after the previous watermark and still report the aggregates of
//! its whole window, exactly as a full read would have built them. This module stores them
//! ([`write_logs`], called by `record.rs`) and reads them back: since when they are held without a gap
//! ([`HistoryStore::kept_logs`], [`HistoryStore::log_coverage_start`]) and the records of a window
//! ([`HistoryStore::kept_sign_ins`], [`HistoryStore::kept_audits`]). Deciding whether a run may read
//! incrementally, and merging, is the audit's ([`crate::audit::incremental`], where the argument that the
//! merge equals a full read is written down).
//!
//! Which sign-ins are partner sign-ins depends on the tenants flagged `isServiceProvider` at the time they
//! were read: each run that kept sign-ins also keeps that set ([`KeptLog::service_providers`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::HistoryError;
use super::chain::{WindowRow, evidence_chain};
use super::sql::{conversion, get_opt_ts, get_ts, tenant_key, ts};
use super::store::HistoryStore;
use crate::collect::logs::sign_in_key;
use crate::collect::spool::SignInSpool;
use crate::collect::{SignInAggregator, service_providers};
use crate::model::logs::{DirectoryAudit, SignIn};
use crate::snapshot::{Snapshot, Window};

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

/// Since when the history holds every kept log record without a gap (see
/// [`HistoryStore::log_coverage_start`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCoverage {
    pub sign_ins: Option<DateTime<Utc>>,
    pub audits: Option<DateTime<Utc>>,
}

/// What the history holds of one log of a tenant (see [`HistoryStore::kept_logs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptLog {
    /// Since when every record is held: the start of the newest unbroken chain of runs that read the
    /// log in full and kept its records, never before the retention cutoff.
    pub since: DateTime<Utc>,
    /// The watermark of that chain's newest run (the newest record it read), when it had one.
    pub watermark: Option<DateTime<Utc>>,
    /// Sign-ins only: the service-provider tenants that run attributed sign-ins with; `None` when the
    /// stored list is damaged (only an incremental read needs it: it is refused then, see
    /// [`crate::audit::incremental::plan`]).
    pub service_providers: Option<BTreeSet<String>>,
}

/// The kept sign-ins and directory audit events of a tenant; `None` for a log whose newest run did not
/// keep its records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptLogs {
    pub sign_ins: Option<KeptLog>,
    pub audits: Option<KeptLog>,
}

/// One `sign_in_windows` row, as the kept-log chains read it.
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

/// The key a directory audit event is kept under: its id, or its JSON when it has none (a record Graph
/// serves twice is kept once).
pub fn audit_key(a: &DirectoryAudit) -> String {
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

    /// What the history holds of `tenant`'s logs, for an incremental read: per log, since when its
    /// records are held without a gap (as [`HistoryStore::log_coverage_start`]), the newest keeping run's
    /// watermark and, for sign-ins, the service-provider tenants it attributed them with.
    pub fn kept_logs(&self, tenant_id: &str) -> Result<KeptLogs> {
        let tenant = tenant_key(tenant_id);
        let tx = self.read_tx()?;
        let kept = (|| -> rusqlite::Result<KeptLogs> {
            let rows = load_log_windows(&tx, &tenant)?;
            let watermark =
                |run: Option<i64>, column: &str| -> rusqlite::Result<Option<DateTime<Utc>>> {
                    let Some(run) = run else { return Ok(None) };
                    let sql = format!("SELECT {column} FROM runs WHERE id = ?1");
                    Ok(tx
                        .query_row(&sql, [run], |r| get_opt_ts(r, 0))
                        .optional()?
                        .flatten())
                };
            let mut kept = KeptLogs::default();
            if let Some((since, newest)) = kept_chain(&rows, |r| r.sign_ins) {
                let providers = match &newest.service_providers {
                    Some(text) => serde_json::from_str::<BTreeSet<String>>(text).ok(),
                    None => Some(BTreeSet::new()),
                };
                kept.sign_ins = Some(KeptLog {
                    since,
                    watermark: watermark(newest.run_id, "sign_ins_watermark")?,
                    service_providers: providers,
                });
            }
            if let Some((since, newest)) = kept_chain(&rows, |r| r.audits) {
                kept.audits = Some(KeptLog {
                    since,
                    watermark: watermark(newest.run_id, "audits_watermark")?,
                    service_providers: Some(BTreeSet::new()),
                });
            }
            Ok(kept)
        })()
        .map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(kept)
    }

    /// The partner sign-ins of `tenant` in `window`: `fresh` (this run's, from the collector's spool)
    /// and the kept ones it did not read again, once per id, newest first (ties by id), fed one at a
    /// time to `each`. Returns how many came from the history. Nothing here grows with partner
    /// activity: SQLite sorts on disk.
    pub fn kept_sign_ins(
        &self,
        tenant_id: &str,
        window: Window,
        fresh: &mut SignInSpool,
        each: impl FnMut(SignIn),
    ) -> Result<u64> {
        let tenant = tenant_key(tenant_id);
        let tx = self.read_tx()?;
        let n = merged_sign_ins(&tx, &tenant, window, fresh, each)
            .map_err(|e| self.err(e.into_sql()))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// The kept directory audit events of `tenant` in `window`, newest first.
    pub fn kept_audits(&self, tenant_id: &str, window: Window) -> Result<Vec<DirectoryAudit>> {
        let tenant = tenant_key(tenant_id);
        let tx = self.read_tx()?;
        let events = stored_audits(&tx, &tenant, window).map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_retention_cutoff_at_the_edge_of_the_calendar_does_not_overflow() {
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(retention_cutoff(min), min);
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(
            retention_cutoff(max),
            max - Duration::days(LOG_RETENTION_DAYS)
        );
    }
}
