//! What every part of the history shares to read and write SQLite: the timestamp text, the tenant key,
//! the conversion of stored values and of rusqlite's errors. It imports no other part of `history/`, so
//! the store, the kept logs and the schema depend on it and not on each other.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{ErrorCode, Row};

use super::HistoryError;
use crate::model::tenant_id;

/// Fixed-width UTC text: comparing the text compares the instants.
pub(super) fn ts(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A stored value that does not convert: the database is damaged ([`map_err`] says so).
pub(super) fn conversion(
    idx: usize,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

/// A timestamp column written by [`ts`].
pub(super) fn get_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(idx)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| conversion(idx, e))
}

pub(super) fn get_opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(&s)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|e| conversion(idx, e)),
    }
}

/// The key a tenant id is stored under. The same text as before [`tenant_id::normalise`] existed (trimmed,
/// lower-cased) for every tenant id runs recorded (hyphenated GUIDs, and any other text), so existing
/// databases keep matching; a GUID in braces or without hyphens now finds its runs too.
pub(super) fn tenant_key(t: &str) -> String {
    tenant_id::normalise(t)
}

/// A rusqlite error, classified: busy → [`HistoryError::Locked`], damaged → [`HistoryError::Corrupt`].
pub(super) fn map_err(path: &Path, busy: Duration, e: rusqlite::Error) -> HistoryError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return HistoryError::Locked {
                    path: path.to_owned(),
                    waited_secs: busy.as_millis().div_ceil(1000) as u64,
                };
            }
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return HistoryError::Corrupt {
                    path: path.to_owned(),
                    detail: e.to_string(),
                };
            }
            _ => {}
        }
    }
    if matches!(
        e,
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..)
    ) {
        return HistoryError::Corrupt {
            path: path.to_owned(),
            detail: format!("unreadable stored value: {e}"),
        };
    }
    HistoryError::Sqlite {
        path: path.to_owned(),
        detail: e.to_string(),
    }
}
