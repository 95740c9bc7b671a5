//! The database schema and its migrations.
//!
//! The schema version is SQLite's `PRAGMA user_version`. Migrations are hand-written SQL, applied in order
//! inside one `BEGIN IMMEDIATE` transaction together with the new `user_version`: a crash mid-migration
//! leaves the previous version intact. To change the schema, append a [`Migration`] (version 2, ...) to
//! [`MIGRATIONS`]; never edit a released one. A database whose `user_version` is above [`SCHEMA_VERSION`]
//! was written by a newer build and is refused before anything is written to it.
//!
//! Timestamps are stored as fixed-width RFC 3339 UTC text with microseconds
//! (`2024-05-01T12:00:00.000000Z`), so text comparison in SQL is chronological. Tenant ids are lower-case.

use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::HistoryError;
use super::sql::map_err;

/// `PRAGMA application_id` of a gdap-audit history ("GDAP"), so another program's SQLite file is never
/// mistaken for one (and never migrated).
pub const APPLICATION_ID: i64 = 0x4744_4150;

pub(super) struct Migration {
    pub version: i64,
    pub sql: &'static str,
}

/// Every migration, in order. `MIGRATIONS[i].version == i + 1`.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1,
    },
    Migration {
        version: 2,
        sql: V2,
    },
    Migration {
        version: 3,
        sql: V3,
    },
    Migration {
        version: 4,
        sql: V4,
    },
];

/// The newest schema this build reads and writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const V1: &str = r#"
-- One row per recorded run (an evaluation of one snapshot).
CREATE TABLE runs (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id                   TEXT    NOT NULL,            -- audited tenant, lower-case
    tenant_name                 TEXT,
    started_at                  TEXT    NOT NULL,            -- when the run started (collection)
    collected_at                TEXT    NOT NULL,
    as_of                       TEXT    NOT NULL,            -- the evaluation clock
    recorded_at                 TEXT    NOT NULL,            -- when this row was written
    perspectives                TEXT    NOT NULL,            -- comma-separated, sorted: customer,partner
    tool_version                TEXT    NOT NULL,
    snapshot_version            INTEGER NOT NULL,
    coverage                    TEXT    NOT NULL,            -- JSON array of the snapshot's coverage entries
    window_since                TEXT    NOT NULL,            -- log lookback window
    window_until                TEXT    NOT NULL,
    relationships_collected     INTEGER NOT NULL,
    partners_collected          INTEGER NOT NULL,
    role_assignments_collected  INTEGER NOT NULL,
    sign_ins_collected          INTEGER NOT NULL,
    audits_collected            INTEGER NOT NULL,
    sign_ins_watermark          TEXT,                        -- newest sign-in createdDateTime read
    audits_watermark            TEXT,                        -- newest audit activityDateTime read
    finding_count               INTEGER NOT NULL,
    coverage_gaps               INTEGER NOT NULL             -- sources neither collected nor skipped
);
CREATE INDEX runs_by_tenant ON runs (tenant_id, as_of, id);

-- GDAP relationships as a run saw them (partner perspective).
CREATE TABLE run_relationships (
    run_id              INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    relationship_id     TEXT    NOT NULL,
    display_name        TEXT    NOT NULL,
    customer_tenant_id  TEXT,
    customer_name       TEXT,
    status              TEXT    NOT NULL,
    roles               TEXT    NOT NULL,                    -- JSON array of role template ids, sorted
    end_date            TEXT,
    PRIMARY KEY (run_id, relationship_id)
) WITHOUT ROWID;

-- Partner tenants as a run saw them (customer perspective).
CREATE TABLE run_partners (
    run_id               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    partner_tenant_id    TEXT    NOT NULL,                   -- lower-case
    name                 TEXT,
    is_service_provider  INTEGER NOT NULL,
    allowed_roles        TEXT,                               -- JSON array, sorted; NULL when not read
    assigned_roles       TEXT    NOT NULL,                   -- JSON array, sorted (foreign role assignments)
    last_success         TEXT,                               -- last successful partner sign-in in the window
    PRIMARY KEY (run_id, partner_tenant_id)
) WITHOUT ROWID;

-- The findings a run reported (for `history show`).
CREATE TABLE run_findings (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    fingerprint   TEXT    NOT NULL,
    rule_id       TEXT    NOT NULL,
    severity      TEXT    NOT NULL,
    subject_kind  TEXT    NOT NULL,
    subject_id    TEXT    NOT NULL,
    subject_name  TEXT,
    PRIMARY KEY (run_id, fingerprint)
) WITHOUT ROWID;

-- Long memory, never pruned: when each finding was first and last seen.
CREATE TABLE findings (
    tenant_id    TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    rule_id      TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, fingerprint)
) WITHOUT ROWID;

-- Long memory, never pruned: the newest successful sign-in seen from each partner tenant in any run.
CREATE TABLE partner_activity (
    tenant_id          TEXT NOT NULL,
    partner_tenant_id  TEXT NOT NULL,
    last_success       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, partner_tenant_id)
) WITHOUT ROWID;

-- Long memory: the log window of every run where sign-ins applied (customer perspective), collected or
-- not. The evidence chain (how far back sign-ins were read without a gap) is computed from it, and so are
-- the chains of runs whose log records were kept (incremental logs); prune keeps the rows the newest
-- evidence chain still needs even when their runs are deleted.
CREATE TABLE sign_in_windows (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id          TEXT    NOT NULL,
    run_id             INTEGER,                              -- the run (which may have been pruned)
    as_of              TEXT    NOT NULL,
    since              TEXT    NOT NULL,
    until              TEXT    NOT NULL,
    collected          INTEGER NOT NULL,                     -- sign-ins read in full
    sign_in_records    INTEGER NOT NULL DEFAULT 0,           -- its partner sign-ins are in partner_sign_ins
    service_providers  TEXT,                                 -- JSON array: the tenants sign-ins were attributed with
    audits_collected   INTEGER NOT NULL DEFAULT 0,           -- directory audits read in full
    audit_records      INTEGER NOT NULL DEFAULT 0            -- its kept audit events are in audit_events
);
CREATE INDEX sign_in_windows_by_tenant ON sign_in_windows (tenant_id, as_of, id);

-- Incremental logs: the partner sign-ins runs read (only those attributed to a partner), so a run that
-- reads only the records after the previous watermark can rebuild the aggregates of its whole window.
-- Rows older than the retention (LOG_RETENTION_DAYS before the newest run's as_of) are deleted.
CREATE TABLE partner_sign_ins (
    tenant_id          TEXT NOT NULL,                        -- audited tenant, lower-case
    id                 TEXT NOT NULL,                        -- the sign-in's id
    created_at         TEXT NOT NULL,                        -- createdDateTime
    partner_tenant_id  TEXT NOT NULL,                        -- as attributed when stored (re-attributed on merge)
    record             TEXT NOT NULL,                        -- compact JSON of the fields the aggregates read
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX partner_sign_ins_by_time ON partner_sign_ins (tenant_id, created_at);

-- Incremental logs: the directory audit events runs kept (partner-initiated or partner-related).
CREATE TABLE audit_events (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    activity_at  TEXT NOT NULL,                              -- activityDateTime
    record       TEXT NOT NULL,                              -- JSON of the directoryAudit
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX audit_events_by_time ON audit_events (tenant_id, activity_at);
"#;

/// The snapshot's content digest, so recording the same snapshot again is recognised (a no-op) instead
/// of adding an identical run that the next run would compare against.
const V2: &str = r#"
-- From v2 on, runs.coverage_gaps is the count the run's report showed (CoverageStatus::is_gap): a skipped
-- source a rule needed is a gap too.
ALTER TABLE runs ADD COLUMN snapshot_digest TEXT;            -- SHA-256 of the snapshot's JSON; NULL before v2
CREATE INDEX runs_by_digest ON runs (tenant_id, collected_at, snapshot_digest);
"#;

/// The finding lifecycle (`crate::lifecycle`): each run keeps its findings in full, with their status, so
/// the next run can list what was resolved (title, subject, message) and tell reopened from new.
const V3: &str = r#"
ALTER TABLE run_findings ADD COLUMN record TEXT;                       -- JSON of the finding as reported; NULL before v3
ALTER TABLE run_findings ADD COLUMN status TEXT;                       -- new | open | reopened; NULL before v3
ALTER TABLE run_findings ADD COLUMN carried INTEGER NOT NULL DEFAULT 0; -- kept open: its rule could not be re-checked
-- The findings each run resolved (absent although their rule was re-checked), with why.
CREATE TABLE run_resolved (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    fingerprint   TEXT    NOT NULL,
    rule_id       TEXT    NOT NULL,
    resolution    TEXT    NOT NULL,                                    -- fixed | aged_out | suppressed
    record        TEXT    NOT NULL,                                    -- JSON of the finding as last reported
    PRIMARY KEY (run_id, fingerprint)
) WITHOUT ROWID;
"#;

/// Azure Lighthouse delegations per run, for "new since the previous run" and "roles added" on them.
const V4: &str = r#"
ALTER TABLE runs ADD COLUMN delegations_collected INTEGER NOT NULL DEFAULT 0; -- 0 before v4: unknown, never "removed"
CREATE TABLE run_delegations (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    delegation_id TEXT    NOT NULL,                 -- registration assignment id, lower-case
    tenant_id     TEXT    NOT NULL,                 -- the other tenant (managing, or customer), lower-case
    name          TEXT,
    roles         TEXT    NOT NULL,                 -- JSON array: role definition ids, `eligible:<id>`
    PRIMARY KEY (run_id, delegation_id)
) WITHOUT ROWID;
"#;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Look at an existing file without writing to it: it must be an SQLite database (or empty), of a schema
/// version this build knows, a gdap-audit history (or an empty database), and pass `PRAGMA quick_check`.
pub(super) fn inspect(path: &Path, busy: std::time::Duration) -> Result<(), HistoryError> {
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|f| f.take(100).read_to_end(&mut header))
        .map_err(|e| HistoryError::Io {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    if header.is_empty() {
        return Ok(()); // an empty file is an empty database
    }
    if header.len() < 100 || header.get(..16) != Some(&SQLITE_MAGIC[..]) {
        return Err(HistoryError::Corrupt {
            path: path.to_owned(),
            detail: "no SQLite header".into(),
        });
    }
    // The header's user_version (bytes 60..64), before SQLite even opens the file.
    let version_bytes: [u8; 4] = header
        .get(60..64)
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default();
    let header_version = i64::from(u32::from_be_bytes(version_bytes));
    if header_version > SCHEMA_VERSION {
        return Err(HistoryError::TooNew {
            path: path.to_owned(),
            found: header_version,
            known: SCHEMA_VERSION,
        });
    }

    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| map_err(path, busy, e))?;
    conn.busy_timeout(busy)
        .map_err(|e| map_err(path, busy, e))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| map_err(path, busy, e))?;
    if version > SCHEMA_VERSION {
        return Err(HistoryError::TooNew {
            path: path.to_owned(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    check_identity(&conn, path, busy, version)?;
    let problems: Vec<String> = {
        let mut stmt = conn
            .prepare("PRAGMA quick_check(5)")
            .map_err(|e| map_err(path, busy, e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| map_err(path, busy, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| map_err(path, busy, e))?
    };
    if problems.len() != 1 || problems.first().map(String::as_str) != Some("ok") {
        return Err(HistoryError::Corrupt {
            path: path.to_owned(),
            detail: format!("quick_check: {}", problems.join("; ")),
        });
    }
    Ok(())
}

/// Refuse another program's database: a foreign `application_id`, or tables in an unversioned file.
fn check_identity(
    conn: &Connection,
    path: &Path,
    busy: std::time::Duration,
    version: i64,
) -> Result<(), HistoryError> {
    let app_id: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| map_err(path, busy, e))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(HistoryError::NotHistory {
            path: path.to_owned(),
            detail: format!("application_id {app_id:#x}"),
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| map_err(path, busy, e))?;
        if tables > 0 {
            return Err(HistoryError::NotHistory {
                path: path.to_owned(),
                detail: format!("it holds {tables} other tables or indexes"),
            });
        }
    }
    Ok(())
}

/// Bring the schema to [`SCHEMA_VERSION`]; a no-op (no write lock taken) when it already is.
pub(super) fn migrate(
    conn: &Connection,
    path: &Path,
    busy: std::time::Duration,
) -> Result<(), HistoryError> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| map_err(path, busy, e))?;
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    if current > SCHEMA_VERSION {
        return Err(HistoryError::TooNew {
            path: path.to_owned(),
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(|e| map_err(path, busy, e))?;
    // Another process may have migrated (or created) it while this one waited for the lock.
    let current: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| map_err(path, busy, e))?;
    if current > SCHEMA_VERSION {
        return Err(HistoryError::TooNew {
            path: path.to_owned(),
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    check_identity(&tx, path, busy, current)?;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sql)
            .map_err(|e| map_err(path, busy, e))?;
        tx.pragma_update(None, "user_version", m.version)
            .map_err(|e| map_err(path, busy, e))?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(|e| map_err(path, busy, e))?;
    tx.commit().map_err(|e| map_err(path, busy, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
        }
    }

    /// A history written by the previous release (schema v2: findings kept as columns only) upgrades in
    /// place to v3, keeps its runs, and its last run's findings become the previous run of the lifecycle:
    /// the next run tells open from resolved.
    #[test]
    fn a_v2_database_upgrades_and_its_findings_feed_the_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1).unwrap();
            conn.execute_batch(V2).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute_batch(
                "INSERT INTO runs (id, tenant_id, started_at, collected_at, as_of, recorded_at, perspectives,
                                   tool_version, snapshot_version, coverage, window_since, window_until,
                                   relationships_collected, partners_collected, role_assignments_collected,
                                   sign_ins_collected, audits_collected, finding_count, coverage_gaps)
                 VALUES (1, 'c1ea0000-0000-4000-8000-00000000c1ea', '2026-11-01T00:00:00.000000Z',
                         '2026-11-01T00:00:00.000000Z', '2026-11-01T00:00:00.000000Z',
                         '2026-11-01T00:00:00.000000Z', 'partner', '0.1.0', 1, '[]',
                         '2026-10-02T00:00:00.000000Z', '2026-11-01T00:00:00.000000Z', 1, 0, 0, 0, 0, 2, 0);
                 INSERT INTO run_findings VALUES (1, 'fp-ga', 'global-admin-granted', 'critical', 'relationship',
                                                  'rel-1', 'Contoso admin');
                 INSERT INTO run_findings VALUES (1, 'fp-exp', 'expiring-soon', 'low', 'relationship', 'rel-2', NULL);
                 INSERT INTO findings VALUES ('c1ea0000-0000-4000-8000-00000000c1ea', 'fp-ga',
                                              'global-admin-granted', 'rel-1', '2026-10-01T00:00:00.000000Z',
                                              '2026-11-01T00:00:00.000000Z');",
            )
            .unwrap();
        }
        let store = crate::history::HistoryStore::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        assert_eq!(store.list(None).unwrap().len(), 1, "the run is kept");

        let now = "2026-11-08T00:00:00Z".parse().unwrap();
        let prior = store
            .prior(
                "C1EA0000-0000-4000-8000-00000000C1EA",
                &[crate::snapshot::Perspective::Partner],
                now,
            )
            .unwrap();
        assert_eq!(prior.as_of, Some("2026-11-01T00:00:00Z".parse().unwrap()));
        let ga = prior
            .findings
            .iter()
            .find(|f| f.fingerprint == "fp-ga")
            .unwrap();
        // Rebuilt from the columns and the rule's metadata.
        assert_eq!(ga.title, "Partner holds Global Administrator");
        assert_eq!(ga.severity, crate::rules::Severity::Critical);
        assert_eq!(ga.subject.display_name.as_deref(), Some("Contoso admin"));
        assert_eq!(ga.first_seen, Some("2026-10-01T00:00:00Z".parse().unwrap()));
        assert_eq!(prior.findings.len(), 2);
        assert!(prior.seen_before.contains("fp-ga"));
    }

    #[test]
    fn v1_applies_to_an_empty_database() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(
            &conn,
            Path::new(":memory:"),
            std::time::Duration::from_secs(1),
        )
        .unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        // Idempotent.
        migrate(
            &conn,
            Path::new(":memory:"),
            std::time::Duration::from_secs(1),
        )
        .unwrap();
    }
}
