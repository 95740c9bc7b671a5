//! [`HistoryStore`]: open, record, view, list, show, prune.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params,
};
use serde::Serialize;

use super::HistoryError;
use super::chain::{WindowRow, evidence_chain};
use super::schema;
use super::sql::{conversion, get_opt_ts, get_ts, map_err, tenant_key, ts};
use crate::diff::{DelegationState, Inventory, PartnerState, RelationshipState};
use crate::lifecycle::{Lifecycle, Prior};
use crate::rules::context::{
    HistoryView, PreviousDelegation, PreviousPartner, PreviousRelationship, PreviousRun,
};
use crate::rules::{Finding, Severity, Subject, SubjectKind};
use crate::snapshot::{Coverage, Perspective, Snapshot, Source, Window};

/// How long a run waits for another run's write to finish before giving up with [`HistoryError::Locked`].
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, HistoryError>;

/// The history database. One connection; not shared between threads (open one per thread or process).
#[derive(Debug)]
pub struct HistoryStore {
    pub(super) conn: Connection,
    path: PathBuf,
    busy: Cell<Duration>,
}

/// What [`HistoryStore::record_evaluated`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new run with this id.
    New(i64),
    /// The same snapshot was already recorded as this run; nothing was written.
    AlreadyRecorded(i64),
}

impl Recorded {
    pub fn run_id(self) -> i64 {
        match self {
            Recorded::New(id) | Recorded::AlreadyRecorded(id) => id,
        }
    }
}

/// Incremental-collection starting points: the newest record read by the last run that collected each log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Watermarks {
    pub sign_ins: Option<DateTime<Utc>>,
    pub audits: Option<DateTime<Utc>>,
}

/// A tenant with runs in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantSummary {
    pub tenant_id: String,
    pub tenant_name: Option<String>,
    pub runs: u64,
    pub last_as_of: DateTime<Utc>,
}

/// One line of `history list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub tenant_id: String,
    pub tenant_name: Option<String>,
    pub started_at: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub perspectives: Vec<Perspective>,
    pub relationships_collected: bool,
    pub partners_collected: bool,
    pub relationships: u64,
    pub partners: u64,
    pub findings: u64,
    /// The run's coverage gaps, as its report counted them (see `CoverageStatus::is_gap`).
    pub coverage_gaps: u64,
}

/// A finding a run reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFinding {
    pub fingerprint: String,
    pub rule_id: String,
    pub severity: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub subject_name: Option<String>,
    /// From the long memory (kept across prunes).
    pub first_seen: Option<DateTime<Utc>>,
}

/// `history show RUN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunDetail {
    pub summary: RunSummary,
    pub tool_version: String,
    pub collected_at: DateTime<Utc>,
    pub window: Window,
    pub sign_ins_collected: bool,
    pub audits_collected: bool,
    pub watermarks: Watermarks,
    pub coverage: Vec<Coverage>,
    pub inventory: Inventory,
    /// Last successful sign-in per partner tenant within this run's window.
    pub partner_last_success: BTreeMap<String, DateTime<Utc>>,
    pub findings: Vec<RunFinding>,
}

/// A stored count: a negative one is a damaged value, not a huge number.
fn get_count(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let n: i64 = row.get(idx)?;
    u64::try_from(n).map_err(|e| conversion(idx, e))
}

fn get_roles(row: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| conversion(idx, e))
}

fn get_opt_roles(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Vec<String>>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| conversion(idx, e)),
    }
}

#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
fn roles_json(roles: &[String]) -> String {
    serde_json::to_string(roles).expect("strings serialize")
}

fn perspectives_text(p: &[Perspective]) -> String {
    let set: BTreeSet<&str> = p.iter().map(|p| p.as_str()).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn parse_perspectives(s: &str) -> Vec<Perspective> {
    s.split(',')
        .filter_map(|p| match p.trim() {
            "partner" => Some(Perspective::Partner),
            "customer" => Some(Perspective::Customer),
            _ => None,
        })
        .collect()
}

/// Create the directories leading to a new database, private to the user (0700 on unix).
fn create_parent(path: &Path) -> std::io::Result<()> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(parent)
}

/// Create an empty database file readable by the user only (0600 on unix); SQLite gives its `-wal` and
/// `-shm` files the same mode.
fn create_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl HistoryStore {
    /// `<data dir>/gdap-audit/history.sqlite3` (`~/.local/share` on Linux, `~/Library/Application Support`
    /// on macOS, `%APPDATA%` on Windows). Its directory is created (0700) by [`HistoryStore::open`].
    pub fn default_path() -> Option<PathBuf> {
        dirs::data_dir().map(|d| d.join("gdap-audit").join("history.sqlite3"))
    }

    /// Open the database, creating it (and its directory) when absent and migrating an older schema.
    /// An existing file is first inspected read-only: a newer schema ([`HistoryError::TooNew`]), a file that
    /// is not SQLite or fails `quick_check` ([`HistoryError::Corrupt`]) or another program's database
    /// ([`HistoryError::NotHistory`]) is refused before anything is written.
    pub fn open(path: impl AsRef<Path>) -> Result<HistoryStore> {
        Self::open_inner(path.as_ref(), true)
    }

    /// Open an existing database; [`HistoryError::Missing`] when there is none (for read-only commands,
    /// which should not create an empty history).
    pub fn open_existing(path: impl AsRef<Path>) -> Result<HistoryStore> {
        Self::open_inner(path.as_ref(), false)
    }

    fn open_inner(path: &Path, create: bool) -> Result<HistoryStore> {
        let busy = DEFAULT_BUSY_TIMEOUT;
        let io = |e: std::io::Error| HistoryError::Io {
            path: path.to_owned(),
            detail: e.to_string(),
        };
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(HistoryError::Io {
                    path: path.to_owned(),
                    detail: "it is a directory".into(),
                });
            }
            Ok(_) => schema::inspect(path, busy)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !create {
                    return Err(HistoryError::Missing {
                        path: path.to_owned(),
                    });
                }
                create_parent(path).map_err(io)?;
                create_file(path).map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| map_err(path, busy, e))?;
        conn.busy_timeout(busy)
            .map_err(|e| map_err(path, busy, e))?;
        // WAL: readers never wait for the writer, and a killed writer leaves the last commit intact.
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| map_err(path, busy, e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| map_err(path, busy, e))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(|e| map_err(path, busy, e))?;
        schema::migrate(&conn, path, busy)?;
        Ok(HistoryStore {
            conn,
            path: path.to_owned(),
            busy: Cell::new(busy),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long to wait for another writer (default [`DEFAULT_BUSY_TIMEOUT`]).
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<()> {
        self.conn.busy_timeout(timeout).map_err(|e| self.err(e))?;
        self.busy.set(timeout);
        Ok(())
    }

    pub(super) fn err(&self, e: rusqlite::Error) -> HistoryError {
        map_err(&self.path, self.busy.get(), e)
    }

    pub(super) fn write_tx(&self) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))
    }

    pub(super) fn read_tx(&self) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)
            .map_err(|e| self.err(e))
    }

    /// What the rules may know from earlier runs of `tenant_id`, as of `now` (runs at or after `now` are
    /// ignored, so re-evaluating an older snapshot never compares it with itself or the future).
    pub fn view(
        &self,
        tenant_id: &str,
        perspectives: &[Perspective],
        now: DateTime<Utc>,
    ) -> Result<HistoryView> {
        let tenant = tenant_key(tenant_id);
        let now_s = ts(now);
        let tx = self.read_tx()?;
        let view = build_view(&tx, &tenant, perspectives, &now_s).map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(view)
    }

    /// What the history knew before `now` about `tenant_id`'s findings, for [`crate::lifecycle::compute`]:
    /// the previous run (as [`HistoryStore::view`] picks it) and its open findings, and every fingerprint
    /// reported before.
    pub fn prior(
        &self,
        tenant_id: &str,
        perspectives: &[Perspective],
        now: DateTime<Utc>,
    ) -> Result<Prior> {
        let tenant = tenant_key(tenant_id);
        let tx = self.read_tx()?;
        let prior = load_prior(&tx, &tenant, perspectives, &ts(now)).map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(prior)
    }

    /// The findings open at a run (reported and carried), for `diff`.
    pub fn run_findings(&self, run_id: i64) -> Result<Vec<Finding>> {
        let tx = self.read_tx()?;
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM runs WHERE id = ?1", [run_id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        if exists.is_none() {
            return Err(HistoryError::NoSuchRun {
                path: self.path.clone(),
                run: run_id,
            });
        }
        let findings = load_run_findings(&tx, run_id).map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(findings)
    }

    /// Where incremental collection can start: the watermarks of the latest run (by `as_of`) that collected
    /// sign-ins, and of the latest that collected directory audits. `None` when no run did.
    pub fn watermarks(&self, tenant_id: &str) -> Result<Watermarks> {
        let tenant = tenant_key(tenant_id);
        let one = |column: &str, flag: &str| -> rusqlite::Result<Option<DateTime<Utc>>> {
            let sql = format!(
                "SELECT {column} FROM runs WHERE tenant_id = ?1 AND {flag} = 1 ORDER BY as_of DESC, id DESC LIMIT 1"
            );
            Ok(self
                .conn
                .query_row(&sql, [&tenant], |r| get_opt_ts(r, 0))
                .optional()?
                .flatten())
        };
        Ok(Watermarks {
            sign_ins: one("sign_ins_watermark", "sign_ins_collected").map_err(|e| self.err(e))?,
            audits: one("audits_watermark", "audits_collected").map_err(|e| self.err(e))?,
        })
    }

    /// Every tenant with runs, by tenant id.
    pub fn tenants(&self) -> Result<Vec<TenantSummary>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.tenant_id,
                        (SELECT n.tenant_name FROM runs n WHERE n.tenant_id = r.tenant_id AND n.tenant_name IS NOT NULL
                         ORDER BY n.as_of DESC, n.id DESC LIMIT 1),
                        count(*), max(r.as_of)
                 FROM runs r GROUP BY r.tenant_id ORDER BY r.tenant_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TenantSummary {
                    tenant_id: r.get(0)?,
                    tenant_name: r.get(1)?,
                    runs: get_count(r, 2)?,
                    last_as_of: get_ts(r, 3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Runs, newest (`as_of`) first; only `tenant`'s when given.
    pub fn list(&self, tenant: Option<&str>) -> Result<Vec<RunSummary>> {
        let tenant = tenant.map(tenant_key);
        let sql = format!(
            "{SUMMARY_SELECT} WHERE (?1 IS NULL OR r.tenant_id = ?1) ORDER BY r.as_of DESC, r.id DESC"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([&tenant], summary_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// The comparable state a run recorded (for `diff`).
    pub fn inventory(&self, run_id: i64) -> Result<Inventory> {
        let tx = self.read_tx()?;
        let inv = load_inventory(&tx, run_id).map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        inv.ok_or_else(|| HistoryError::NoSuchRun {
            path: self.path.clone(),
            run: run_id,
        })
    }

    /// Everything recorded about one run.
    pub fn show(&self, run_id: i64) -> Result<RunDetail> {
        let tx = self.read_tx()?;
        let detail = load_detail(&tx, run_id).map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        detail.ok_or_else(|| HistoryError::NoSuchRun {
            path: self.path.clone(),
            run: run_id,
        })
    }

    /// Delete all but the newest `keep` runs of each tenant and perspective set, with their relationships,
    /// partners and findings lists. The long memory stays: first/last seen per finding, last partner
    /// activity, and the sign-in windows the newest evidence chain still needs. Returns the runs deleted.
    pub fn prune(&self, keep: u32) -> Result<usize> {
        let tx = self.write_tx()?;
        let deleted = prune_in(&tx, keep).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(deleted)
    }
}

const SUMMARY_SELECT: &str =
    "SELECT r.id, r.tenant_id, r.tenant_name, r.started_at, r.as_of, r.perspectives,
        r.relationships_collected, r.partners_collected,
        (SELECT count(*) FROM run_relationships x WHERE x.run_id = r.id),
        (SELECT count(*) FROM run_partners x WHERE x.run_id = r.id),
        r.finding_count, r.coverage_gaps
 FROM runs r";

fn summary_row(r: &Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        tenant_name: r.get(2)?,
        started_at: get_ts(r, 3)?,
        as_of: get_ts(r, 4)?,
        perspectives: parse_perspectives(&r.get::<_, String>(5)?),
        relationships_collected: r.get(6)?,
        partners_collected: r.get(7)?,
        relationships: get_count(r, 8)?,
        partners: get_count(r, 9)?,
        findings: get_count(r, 10)?,
        coverage_gaps: get_count(r, 11)?,
    })
}

/// A run's findings as recorded: those it reported, and their lifecycle when computed.
#[derive(Clone, Copy)]
pub(super) struct Findings<'a> {
    pub reported: &'a [Finding],
    pub lifecycle: Option<&'a Lifecycle>,
}

fn finding_json(f: &Finding) -> rusqlite::Result<String> {
    serde_json::to_string(f).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// Writes the rows of one run (not its kept log records: `keeps_logs` says whether the caller writes
/// them in the same transaction, see `record.rs`) and returns its id.
pub(super) fn insert_run(
    tx: &Transaction<'_>,
    snap: &Snapshot,
    findings: Findings<'_>,
    started_at: DateTime<Utc>,
    keeps_logs: bool,
    gaps: u64,
    digest: &str,
) -> rusqlite::Result<i64> {
    let tenant = tenant_key(&snap.tenant_id);
    let inv = Inventory::from_snapshot(snap);
    let customer = snap.perspectives.contains(&Perspective::Customer);
    let sign_ins_collected = customer && snap.has(Source::SignIns);
    let audits_collected = customer && snap.has(Source::DirectoryAudits);
    let sign_in_watermark = snap
        .customer
        .as_ref()
        .and_then(|c| c.sign_ins.watermark)
        .filter(|_| sign_ins_collected);
    let audit_watermark = snap
        .customer
        .as_ref()
        .and_then(|c| c.audits.watermark)
        .filter(|_| audits_collected);
    let as_of = ts(snap.as_of);
    let coverage = serde_json::to_string(&snap.coverage)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;

    tx.execute(
        "INSERT INTO runs (tenant_id, tenant_name, started_at, collected_at, as_of, recorded_at, perspectives, tool_version,
                           snapshot_version, coverage, window_since, window_until, relationships_collected,
                           partners_collected, role_assignments_collected, sign_ins_collected, audits_collected,
                           sign_ins_watermark, audits_watermark, finding_count, coverage_gaps, snapshot_digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
        params![
            tenant,
            snap.tenant_name,
            ts(started_at),
            ts(snap.collected_at),
            as_of,
            ts(Utc::now()),
            perspectives_text(&snap.perspectives),
            snap.tool_version,
            snap.snapshot_version,
            coverage,
            ts(snap.window.since),
            ts(snap.window.until),
            inv.relationships_collected,
            inv.partners_collected,
            customer && snap.has(Source::RoleAssignments),
            sign_ins_collected,
            audits_collected,
            sign_in_watermark.map(ts),
            audit_watermark.map(ts),
            i64::try_from(findings.reported.len()).unwrap_or(i64::MAX),
            i64::try_from(gaps).unwrap_or(i64::MAX),
            digest,
        ],
    )?;
    let run_id = tx.last_insert_rowid();

    {
        let mut stmt = tx.prepare(
            "INSERT INTO run_relationships (run_id, relationship_id, display_name, customer_tenant_id, customer_name, status, roles, end_date)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (id, r) in &inv.relationships {
            stmt.execute(params![
                run_id,
                id,
                r.name,
                r.customer_tenant_id,
                r.customer_name,
                r.status,
                roles_json(&r.roles),
                r.end.map(ts)
            ])?;
        }
    }

    tx.execute(
        "UPDATE runs SET delegations_collected = ?2 WHERE id = ?1",
        params![run_id, inv.delegations_collected],
    )?;
    {
        let mut stmt = tx.prepare(
            "INSERT OR REPLACE INTO run_delegations (run_id, delegation_id, tenant_id, name, roles)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (id, d) in &inv.delegations {
            stmt.execute(params![
                run_id,
                id,
                d.tenant_id,
                d.name,
                roles_json(&d.roles)
            ])?;
        }
    }

    let sign_ins = snap.customer.as_ref().map(|c| &c.sign_ins.partners);
    let last_success = |tenant: &str| -> Option<DateTime<Utc>> {
        sign_ins?
            .iter()
            .find(|(k, _)| tenant_key(k) == tenant)
            .and_then(|(_, s)| s.last_success)
    };
    {
        let mut stmt = tx.prepare(
            "INSERT INTO run_partners (run_id, partner_tenant_id, name, is_service_provider, allowed_roles, assigned_roles, last_success)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (t, p) in &inv.partners {
            stmt.execute(params![
                run_id,
                t,
                p.name,
                p.is_service_provider,
                p.allowed_roles.as_deref().map(roles_json),
                roles_json(&p.assigned_roles),
                last_success(t).map(ts),
            ])?;
        }
    }

    {
        let mut per_run = tx.prepare(
            "INSERT OR IGNORE INTO run_findings (run_id, fingerprint, rule_id, severity, subject_kind, subject_id, subject_name,
                                                 record, status, carried)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut memory = tx.prepare(
            "INSERT INTO findings (tenant_id, fingerprint, rule_id, subject_id, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (tenant_id, fingerprint) DO UPDATE SET
                 rule_id = excluded.rule_id,
                 subject_id = excluded.subject_id,
                 first_seen = min(first_seen, excluded.first_seen),
                 last_seen = max(last_seen, excluded.last_seen)",
        )?;
        let lifecycle = findings.lifecycle;
        for f in findings
            .reported
            .iter()
            .filter(|f| !f.fingerprint.is_empty())
        {
            let status = lifecycle
                .and_then(|l| l.status_of(&f.fingerprint))
                .map(|s| s.as_str());
            per_run.execute(params![
                run_id,
                f.fingerprint,
                f.rule_id,
                f.severity.as_str(),
                f.subject.kind.as_str(),
                f.subject.id,
                f.subject.display_name,
                finding_json(f)?,
                status,
                false,
            ])?;
            memory.execute(params![
                tenant,
                f.fingerprint,
                f.rule_id,
                f.subject.id,
                as_of
            ])?;
        }
    }

    if let Some(lifecycle) = findings.lifecycle {
        let mut carried = tx.prepare(
            "INSERT OR IGNORE INTO run_findings (run_id, fingerprint, rule_id, severity, subject_kind, subject_id, subject_name,
                                                 record, status, carried)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', 1)",
        )?;
        for c in &lifecycle.carried {
            let f = &c.finding;
            carried.execute(params![
                run_id,
                f.fingerprint,
                f.rule_id,
                f.severity.as_str(),
                f.subject.kind.as_str(),
                f.subject.id,
                f.subject.display_name,
                finding_json(f)?,
            ])?;
        }
        let mut resolved = tx.prepare(
            "INSERT OR IGNORE INTO run_resolved (run_id, fingerprint, rule_id, resolution, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for r in &lifecycle.resolved {
            resolved.execute(params![
                run_id,
                r.finding.fingerprint,
                r.finding.rule_id,
                r.resolution.as_str(),
                finding_json(&r.finding)?,
            ])?;
        }
    }

    if let Some(partners) = sign_ins {
        let mut stmt = tx.prepare(
            "INSERT INTO partner_activity (tenant_id, partner_tenant_id, last_success) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id, partner_tenant_id) DO UPDATE SET last_success = max(last_success, excluded.last_success)",
        )?;
        for (partner, s) in partners {
            if let Some(at) = s.last_success {
                stmt.execute(params![tenant, tenant_key(partner), ts(at)])?;
            }
        }
    }

    if customer {
        let kept = keeps_logs;
        let service_providers = kept.then(|| {
            let set: Vec<String> = crate::collect::service_providers(snap)
                .into_iter()
                .collect();
            roles_json(&set)
        });
        tx.execute(
            "INSERT INTO sign_in_windows (tenant_id, run_id, as_of, since, until, collected, sign_in_records,
                                          service_providers, audits_collected, audit_records)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                tenant,
                run_id,
                as_of,
                ts(snap.window.since),
                ts(snap.window.until),
                sign_ins_collected,
                kept && sign_ins_collected,
                service_providers,
                audits_collected,
                kept && audits_collected,
            ],
        )?;
    }
    Ok(run_id)
}

fn build_view(
    tx: &Transaction<'_>,
    tenant: &str,
    perspectives: &[Perspective],
    now: &str,
) -> rusqlite::Result<HistoryView> {
    let mut view = HistoryView {
        tracked: true,
        ..HistoryView::default()
    };

    if let Some(run_id) = previous_run(tx, tenant, perspectives, now)? {
        view.previous = Some(load_previous(tx, run_id)?);
    }

    let mut stmt = tx.prepare(
        "SELECT fingerprint, first_seen FROM findings WHERE tenant_id = ?1 AND first_seen <= ?2",
    )?;
    for row in stmt.query_map(params![tenant, now], |r| {
        Ok((r.get::<_, String>(0)?, get_ts(r, 1)?))
    })? {
        let (fingerprint, at) = row?;
        view.first_seen.insert(fingerprint, at);
    }

    // The kept maximum when it is not after `now`; else (an older snapshot re-evaluated) the best the runs
    // still recorded before `now`.
    let mut stmt = tx.prepare(
        "SELECT partner_tenant_id, max(last_success) FROM (
             SELECT partner_tenant_id, last_success FROM partner_activity WHERE tenant_id = ?1 AND last_success <= ?2
             UNION ALL
             SELECT p.partner_tenant_id, p.last_success FROM run_partners p JOIN runs r ON r.id = p.run_id
             WHERE r.tenant_id = ?1 AND p.last_success IS NOT NULL AND p.last_success <= ?2
         ) GROUP BY partner_tenant_id",
    )?;
    for row in stmt.query_map(params![tenant, now], |r| {
        Ok((r.get::<_, String>(0)?, get_ts(r, 1)?))
    })? {
        let (partner, at) = row?;
        view.last_partner_activity.insert(partner, at);
    }

    let windows = load_windows(tx, tenant, Some(now))?;
    let rows: Vec<WindowRow> = windows.iter().map(|(_, _, w)| *w).collect();
    if let Some(chain) = evidence_chain(&rows) {
        view.evidence_since = Some(chain.since);
        view.evidence_until = Some(chain.until);
    }
    Ok(view)
}

/// The previous run: the newest before `now` that audited one of the same perspectives.
fn previous_run(
    tx: &Transaction<'_>,
    tenant: &str,
    perspectives: &[Perspective],
    now: &str,
) -> rusqlite::Result<Option<i64>> {
    let candidates: Vec<(i64, String)> = {
        let mut stmt =
            tx.prepare("SELECT id, perspectives FROM runs WHERE tenant_id = ?1 AND as_of < ?2 ORDER BY as_of DESC, id DESC")?;
        stmt.query_map(params![tenant, now], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    Ok(candidates
        .into_iter()
        .find(|(_, p)| {
            perspectives.is_empty()
                || parse_perspectives(p)
                    .iter()
                    .any(|p| perspectives.contains(p))
        })
        .map(|(id, _)| id))
}

/// The findings open at a run (reported and carried), in the report's order. A run recorded before
/// schema v3 kept no finding text: its findings are rebuilt from the columns and the rule's metadata.
fn load_run_findings(tx: &Transaction<'_>, run_id: i64) -> rusqlite::Result<Vec<Finding>> {
    let mut stmt = tx.prepare(
        "SELECT f.fingerprint, f.rule_id, f.severity, f.subject_kind, f.subject_id, f.subject_name, f.record,
                m.first_seen
         FROM run_findings f JOIN runs r ON r.id = f.run_id
         LEFT JOIN findings m ON m.tenant_id = r.tenant_id AND m.fingerprint = f.fingerprint
         WHERE f.run_id = ?1",
    )?;
    let mut out = stmt
        .query_map([run_id], |r| {
            let record: Option<String> = r.get(6)?;
            if let Some(f) = record.and_then(|j| serde_json::from_str::<Finding>(&j).ok()) {
                return Ok(f);
            }
            let rule_id: String = r.get(1)?;
            let severity: String = r.get(2)?;
            let kind: String = r.get(3)?;
            let meta = crate::rules::rule(&rule_id);
            Ok(Finding {
                title: meta.map_or_else(|| rule_id.clone().into(), |m| m.title.into()),
                severity: Severity::parse(&severity)
                    .or(meta.map(|m| m.default_severity))
                    .unwrap_or(Severity::Info),
                message: String::new(),
                subject: Subject {
                    kind: serde_json::from_value(serde_json::Value::String(kind))
                        .unwrap_or(SubjectKind::Tenant),
                    id: r.get(4)?,
                    display_name: r.get(5)?,
                },
                partner_tenant_id: None,
                customer_tenant_id: None,
                evidence: Default::default(),
                remediation: meta.map(|m| m.remediation.into()).unwrap_or_default(),
                references: meta
                    .map(|m| m.references.iter().map(|s| (*s).into()).collect())
                    .unwrap_or_default(),
                fingerprint: r.get(0)?,
                first_seen: get_opt_ts(r, 7)?,
                rule_id,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    out.sort_by(|a, b| {
        (std::cmp::Reverse(a.severity), &a.rule_id, &a.subject.id).cmp(&(
            std::cmp::Reverse(b.severity),
            &b.rule_id,
            &b.subject.id,
        ))
    });
    Ok(out)
}

fn load_prior(
    tx: &Transaction<'_>,
    tenant: &str,
    perspectives: &[Perspective],
    now: &str,
) -> rusqlite::Result<Prior> {
    let mut prior = Prior::default();
    if let Some(run_id) = previous_run(tx, tenant, perspectives, now)? {
        prior.as_of = Some(tx.query_row(
            "SELECT as_of FROM runs WHERE id = ?1",
            [run_id],
            |r| get_ts(r, 0),
        )?);
        prior.findings = load_run_findings(tx, run_id)?;
    }
    let mut stmt =
        tx.prepare("SELECT fingerprint FROM findings WHERE tenant_id = ?1 AND first_seen < ?2")?;
    for fp in stmt.query_map(params![tenant, now], |r| r.get::<_, String>(0))? {
        prior.seen_before.insert(fp?);
    }
    Ok(prior)
}

/// `(row id, run id, window)` oldest first; only runs before `before` when given.
fn load_windows(
    tx: &Transaction<'_>,
    tenant: &str,
    before: Option<&str>,
) -> rusqlite::Result<Vec<(i64, Option<i64>, WindowRow)>> {
    let mut stmt = tx.prepare(
        "SELECT id, run_id, since, until, collected FROM sign_in_windows
         WHERE tenant_id = ?1 AND (?2 IS NULL OR as_of < ?2) ORDER BY as_of, id",
    )?;
    stmt.query_map(params![tenant, before], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            WindowRow {
                since: get_ts(r, 2)?,
                until: get_ts(r, 3)?,
                collected: r.get(4)?,
            },
        ))
    })?
    .collect()
}

fn load_previous(tx: &Transaction<'_>, run_id: i64) -> rusqlite::Result<PreviousRun> {
    let (at, relationships_collected, partners_collected, role_assignments_collected) = tx.query_row(
        "SELECT as_of, relationships_collected, partners_collected, role_assignments_collected FROM runs WHERE id = ?1",
        [run_id],
        |r| Ok((get_ts(r, 0)?, r.get::<_, bool>(1)?, r.get::<_, bool>(2)?, r.get::<_, bool>(3)?)),
    )?;
    let mut prev = PreviousRun {
        at,
        relationships_collected,
        partners_collected,
        ..PreviousRun::default()
    };
    let inv = load_inventory(tx, run_id)?.unwrap_or_default();
    for (id, r) in inv.relationships {
        prev.relationships.insert(
            id,
            PreviousRelationship {
                status: r.status,
                roles: r.roles,
                end: r.end,
            },
        );
    }
    prev.delegations_collected = inv.delegations_collected;
    for (id, d) in inv.delegations {
        prev.delegations.insert(
            id,
            PreviousDelegation {
                tenant_id: d.tenant_id,
                roles: d.roles,
            },
        );
    }
    for (tenant, p) in inv.partners {
        let roles_complete =
            (!p.is_service_provider || p.allowed_roles.is_some()) && role_assignments_collected;
        prev.partners.insert(
            tenant,
            PreviousPartner {
                roles: p.all_roles(),
                name: p.name,
                is_service_provider: p.is_service_provider,
                roles_complete,
            },
        );
    }
    Ok(prev)
}

fn load_inventory(tx: &Transaction<'_>, run_id: i64) -> rusqlite::Result<Option<Inventory>> {
    let head = tx
        .query_row(
            "SELECT tenant_id, as_of, relationships_collected, partners_collected FROM runs WHERE id = ?1",
            [run_id],
            |r| Ok((r.get::<_, String>(0)?, get_ts(r, 1)?, r.get::<_, bool>(2)?, r.get::<_, bool>(3)?)),
        )
        .optional()?;
    let Some((tenant_id, as_of, relationships_collected, partners_collected)) = head else {
        return Ok(None);
    };
    let mut inv = Inventory {
        tenant_id,
        as_of: Some(as_of),
        relationships_collected,
        partners_collected,
        ..Inventory::default()
    };
    let mut stmt = tx.prepare(
        "SELECT relationship_id, display_name, customer_tenant_id, customer_name, status, roles, end_date
         FROM run_relationships WHERE run_id = ?1",
    )?;
    for row in stmt.query_map([run_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            RelationshipState {
                name: r.get(1)?,
                customer_tenant_id: r.get(2)?,
                customer_name: r.get(3)?,
                status: r.get(4)?,
                roles: get_roles(r, 5)?,
                end: get_opt_ts(r, 6)?,
            },
        ))
    })? {
        let (id, state) = row?;
        inv.relationships.insert(id, state);
    }
    let mut stmt = tx.prepare(
        "SELECT partner_tenant_id, name, is_service_provider, allowed_roles, assigned_roles FROM run_partners WHERE run_id = ?1",
    )?;
    for row in stmt.query_map([run_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            PartnerState {
                name: r.get(1)?,
                is_service_provider: r.get(2)?,
                allowed_roles: get_opt_roles(r, 3)?,
                assigned_roles: get_roles(r, 4)?,
            },
        ))
    })? {
        let (tenant, state) = row?;
        inv.partners.insert(tenant, state);
    }
    inv.delegations_collected = tx.query_row(
        "SELECT delegations_collected FROM runs WHERE id = ?1",
        [run_id],
        |r| r.get::<_, bool>(0),
    )?;
    let mut stmt = tx.prepare(
        "SELECT delegation_id, tenant_id, name, roles FROM run_delegations WHERE run_id = ?1",
    )?;
    for row in stmt.query_map([run_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            DelegationState {
                tenant_id: r.get(1)?,
                name: r.get(2)?,
                roles: get_roles(r, 3)?,
            },
        ))
    })? {
        let (id, state) = row?;
        inv.delegations.insert(id, state);
    }
    Ok(Some(inv))
}

fn load_detail(tx: &Transaction<'_>, run_id: i64) -> rusqlite::Result<Option<RunDetail>> {
    let sql = format!("{SUMMARY_SELECT} WHERE r.id = ?1");
    let Some(summary) = tx.query_row(&sql, [run_id], summary_row).optional()? else {
        return Ok(None);
    };
    let (tool_version, collected_at, since, until, sign_ins_collected, audits_collected, sign_ins_wm, audits_wm, coverage) = tx
        .query_row(
            "SELECT tool_version, collected_at, window_since, window_until, sign_ins_collected, audits_collected,
                    sign_ins_watermark, audits_watermark, coverage FROM runs WHERE id = ?1",
            [run_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    get_ts(r, 1)?,
                    get_ts(r, 2)?,
                    get_ts(r, 3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, bool>(5)?,
                    get_opt_ts(r, 6)?,
                    get_opt_ts(r, 7)?,
                    r.get::<_, String>(8)?,
                ))
            },
        )?;
    let coverage: Vec<Coverage> = serde_json::from_str(&coverage).map_err(|e| conversion(8, e))?;
    let inventory = load_inventory(tx, run_id)?.unwrap_or_default();

    let mut partner_last_success = BTreeMap::new();
    let mut stmt =
        tx.prepare("SELECT partner_tenant_id, last_success FROM run_partners WHERE run_id = ?1 AND last_success IS NOT NULL")?;
    for row in stmt.query_map([run_id], |r| Ok((r.get::<_, String>(0)?, get_ts(r, 1)?)))? {
        let (t, at) = row?;
        partner_last_success.insert(t, at);
    }

    let mut stmt = tx.prepare(
        "SELECT f.fingerprint, f.rule_id, f.severity, f.subject_kind, f.subject_id, f.subject_name, m.first_seen
         FROM run_findings f JOIN runs r ON r.id = f.run_id
         LEFT JOIN findings m ON m.tenant_id = r.tenant_id AND m.fingerprint = f.fingerprint
         WHERE f.run_id = ?1 AND f.carried = 0
         ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END,
                  f.rule_id, f.subject_id",
    )?;
    let findings = stmt
        .query_map([run_id], |r| {
            Ok(RunFinding {
                fingerprint: r.get(0)?,
                rule_id: r.get(1)?,
                severity: r.get(2)?,
                subject_kind: r.get(3)?,
                subject_id: r.get(4)?,
                subject_name: r.get(5)?,
                first_seen: get_opt_ts(r, 6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    Ok(Some(RunDetail {
        summary,
        tool_version,
        collected_at,
        window: Window { since, until },
        sign_ins_collected,
        audits_collected,
        watermarks: Watermarks {
            sign_ins: sign_ins_wm,
            audits: audits_wm,
        },
        coverage,
        inventory,
        partner_last_success,
        findings,
    }))
}

fn prune_in(tx: &Transaction<'_>, keep: u32) -> rusqlite::Result<usize> {
    let runs: Vec<(i64, String, String)> = {
        let mut stmt = tx.prepare("SELECT id, tenant_id, perspectives FROM runs ORDER BY tenant_id, perspectives, as_of DESC, id DESC")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut seen: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    let mut doomed = Vec::new();
    for (id, tenant, persp) in &runs {
        let n = seen.entry((tenant.as_str(), persp.as_str())).or_insert(0);
        *n += 1;
        if *n > keep {
            doomed.push(*id);
        }
    }
    for id in &doomed {
        for table in [
            "run_relationships",
            "run_partners",
            "run_delegations",
            "run_findings",
            "run_resolved",
        ] {
            tx.execute(&format!("DELETE FROM {table} WHERE run_id = ?1"), [id])?;
        }
        tx.execute("DELETE FROM runs WHERE id = ?1", [id])?;
    }

    // Sign-in windows of deleted runs are kept while the newest evidence chain may still reach them; older
    // ones go. The row where the chain breaks is kept too, so the chain computed later stays the same.
    let live: HashSet<i64> = runs
        .iter()
        .map(|(id, _, _)| *id)
        .filter(|id| !doomed.contains(id))
        .collect();
    let tenants: Vec<String> = {
        let mut stmt = tx.prepare("SELECT DISTINCT tenant_id FROM sign_in_windows")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    for tenant in tenants {
        let windows = load_windows(tx, &tenant, None)?;
        let rows: Vec<WindowRow> = windows.iter().map(|(_, _, w)| *w).collect();
        let sentinel = match evidence_chain(&rows) {
            Some(chain) => chain.oldest.checked_sub(1),
            None => rows.len().checked_sub(1),
        };
        let Some(sentinel) = sentinel else { continue };
        for (row_id, run_id, _) in windows.iter().take(sentinel) {
            if !run_id.is_some_and(|r| live.contains(&r)) {
                tx.execute("DELETE FROM sign_in_windows WHERE id = ?1", [row_id])?;
            }
        }
    }
    Ok(doomed.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        assert_eq!(ts(a), "2024-01-02T03:04:05.000000Z");
        assert!(ts(a) < ts(b));
    }

    #[test]
    fn perspectives_round_trip() {
        let p = [Perspective::Partner, Perspective::Customer];
        assert_eq!(perspectives_text(&p), "customer,partner");
        assert_eq!(
            parse_perspectives("customer,partner"),
            vec![Perspective::Customer, Perspective::Partner]
        );
    }
}
