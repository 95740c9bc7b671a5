//! Recording a run: its rows ([`insert_run`], the store) and, when the caller kept them, its partner
//! sign-ins and directory audit events for later incremental runs ([`write_logs`], the kept logs), in one
//! transaction. The one place that uses both, so neither the store nor the kept logs import the other.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::HistoryError;
use super::logs::write_logs;
use super::sql::{tenant_key, ts};
use super::store::{Findings, HistoryStore, Recorded, insert_run};
use crate::collect::SignInSpool;
use crate::evaluate::Evaluation;
use crate::lifecycle::Lifecycle;
use crate::rules::Finding;
use crate::snapshot::{Perspective, Snapshot};

type Result<T> = std::result::Result<T, HistoryError>;

/// SHA-256 of the snapshot's JSON (`Snapshot::to_json`'s bytes), hex. The JSON is streamed into the
/// hash: a large partner's snapshot is tens of MB of text, not worth holding to hash it.
#[expect(
    clippy::expect_used,
    reason = "the snapshot always serializes, and a hash accepts every write"
)]
fn snapshot_digest(snapshot: &Snapshot) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    snapshot
        .write_json(&mut hasher)
        .expect("hashing the snapshot");
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl HistoryStore {
    /// Record one run: the snapshot's inventory, coverage, windows and watermarks, and the findings'
    /// fingerprints (first/last seen at the snapshot's `as_of`). One transaction: all of it or nothing.
    pub fn record_run(
        &self,
        snapshot: &Snapshot,
        findings: &[Finding],
        started_at: DateTime<Utc>,
    ) -> Result<i64> {
        self.record_run_with(snapshot, findings, started_at, &|| {})
    }

    /// [`HistoryStore::record_run`], also keeping the run's log records for later incremental runs (see
    /// [`crate::audit::incremental`]): `partner_sign_ins` (what the collector's
    /// [`partner_sign_ins`](crate::collect::CollectOptions::partner_sign_ins) sink received) and the
    /// snapshot's kept directory audit events. Records older than
    /// [`LOG_RETENTION_DAYS`](super::LOG_RETENTION_DAYS) are deleted. Still one transaction.
    pub fn record_run_and_logs(
        &self,
        snapshot: &Snapshot,
        findings: &[Finding],
        started_at: DateTime<Utc>,
        partner_sign_ins: &mut SignInSpool,
    ) -> Result<i64> {
        self.record(
            snapshot,
            findings,
            started_at,
            Some(partner_sign_ins),
            &|| {},
        )
    }

    /// [`HistoryStore::record_run`] calling `before_commit` inside the transaction, after every row is
    /// written and before the commit. For crash-safety tests.
    #[doc(hidden)]
    pub fn record_run_with(
        &self,
        snapshot: &Snapshot,
        findings: &[Finding],
        started_at: DateTime<Utc>,
        before_commit: &dyn Fn(),
    ) -> Result<i64> {
        self.record(snapshot, findings, started_at, None, before_commit)
    }

    /// Record the run of an evaluated snapshot, as its report showed it: `coverage_gaps` is the report's
    /// count ([`Evaluation::coverage_gaps`]), and the partner sign-ins are kept when given. Recording the
    /// same snapshot again (same tenant, collection time and content) changes nothing and returns
    /// [`Recorded::AlreadyRecorded`]: a second identical run would become the "previous run" the next
    /// audit compares against, and hide its changes.
    ///
    /// With `lifecycle` ([`crate::lifecycle::compute`] against [`HistoryStore::prior`]), the run also keeps
    /// each finding's status, the findings it carried open and those it resolved.
    pub fn record_evaluated(
        &self,
        snapshot: &Snapshot,
        evaluation: &Evaluation,
        lifecycle: Option<&Lifecycle>,
        started_at: DateTime<Utc>,
        partner_sign_ins: Option<&mut SignInSpool>,
    ) -> Result<Recorded> {
        let gaps = evaluation.coverage_gaps() as u64;
        self.record_counted(
            snapshot,
            Findings {
                reported: &evaluation.findings,
                lifecycle,
            },
            started_at,
            partner_sign_ins,
            gaps,
            &|| {},
        )
    }

    fn record(
        &self,
        snapshot: &Snapshot,
        findings: &[Finding],
        started_at: DateTime<Utc>,
        logs: Option<&mut SignInSpool>,
        before_commit: &dyn Fn(),
    ) -> Result<i64> {
        // Without the evaluation, the gaps are those of the default configuration (every rule on).
        let gaps =
            crate::evaluate::coverage_gaps(snapshot, &crate::config::Config::default()) as u64;
        let findings = Findings {
            reported: findings,
            lifecycle: None,
        };
        self.record_counted(snapshot, findings, started_at, logs, gaps, before_commit)
            .map(|r| r.run_id())
    }

    fn record_counted(
        &self,
        snapshot: &Snapshot,
        findings: Findings<'_>,
        started_at: DateTime<Utc>,
        logs: Option<&mut SignInSpool>,
        gaps: u64,
        before_commit: &dyn Fn(),
    ) -> Result<Recorded> {
        let digest = snapshot_digest(snapshot);
        let tx = self.write_tx()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM runs WHERE tenant_id = ?1 AND collected_at = ?2 AND snapshot_digest = ?3
                 ORDER BY id LIMIT 1",
                params![
                    tenant_key(&snapshot.tenant_id),
                    ts(snapshot.collected_at),
                    digest
                ],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(id) = existing {
            tx.finish().map_err(|e| self.err(e))?;
            return Ok(Recorded::AlreadyRecorded(id));
        }
        // A spool that failed to write holds only part of the records: keeping them would make the next
        // run's merge miss the rest, so the run is recorded as one that kept none (next run reads in full).
        let logs = logs.filter(|spool| spool.error().is_none());
        let id = insert_run(
            &tx,
            snapshot,
            findings,
            started_at,
            logs.is_some(),
            gaps,
            &digest,
        )
        .map_err(|e| self.err(e))?;
        if let Some(spool) = logs.filter(|_| snapshot.perspectives.contains(&Perspective::Customer))
        {
            write_logs(&tx, &tenant_key(&snapshot.tenant_id), snapshot, spool)
                .map_err(|e| self.err(e))?;
        }
        before_commit();
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Recorded::New(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streamed, the digest is still that of `to_json`: histories recorded before keep matching.
    #[test]
    fn the_digest_is_that_of_the_snapshot_json() {
        use sha2::{Digest, Sha256};
        let snap = crate::snapshot::Snapshot::from_slice(
            include_bytes!("../../fixtures/snapshots/partner.json"),
            "partner.json",
        )
        .unwrap();
        let whole: String = Sha256::digest(snap.to_json().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(snapshot_digest(&snap), whole);
    }
}
