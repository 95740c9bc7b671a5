//! The history an audit reads before collecting and records into after its result was delivered.
//!
//! The database is opened when it exists (the previous runs feed the rules and the incremental log plan)
//! and created only when a run is recorded: an audit that fails before that leaves no history behind.
//! SQLite work is blocking, so every access goes through [`History::with`] on tokio's blocking pool,
//! never on an async worker; one connection per history behind a mutex serialises the tenants of a
//! fleet run instead of letting them wait on each other's file locks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::AuditError;
use crate::history::{HistoryError, HistoryStore};

/// How long a run waits for another gdap-audit writing the same history: long enough for a normal
/// commit, short enough that a stuck writer is reported in seconds.
const HISTORY_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A history database, shared by every audit of one command run (cheap to clone).
#[derive(Clone)]
pub struct History {
    path: Arc<PathBuf>,
    store: Arc<Mutex<Option<HistoryStore>>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish()
    }
}

impl History {
    /// The history at `path`. One that cannot be written (read-only file or directory) is refused now,
    /// before any collecting, and nothing is created.
    pub fn open(path: PathBuf) -> Result<History, AuditError> {
        writable(&path).map_err(|detail| {
            history_hint(format!(
                "history database {} cannot be written: {detail}",
                path.display()
            ))
        })?;
        let store = if path.exists() {
            Some(open_store(&path).map_err(history_hint)?)
        } else {
            None
        };
        Ok(History {
            path: Arc::new(path),
            store: Arc::new(Mutex::new(store)),
        })
    }

    /// The default location (the user's data directory), if the platform has one.
    pub fn default_path() -> Option<PathBuf> {
        HistoryStore::default_path()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the open database (`None` when no run was recorded yet) on the blocking pool.
    pub async fn with<T, F>(&self, f: F) -> Result<T, AuditError>
    where
        T: Send + 'static,
        F: FnOnce(Option<&HistoryStore>) -> T + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let guard = store.lock().unwrap_or_else(|e| e.into_inner());
            f(guard.as_ref())
        })
        .await
        .map_err(|e| AuditError::History(format!("history task failed: {e}")))
    }

    /// Run `f` with the database, creating it first when needed, on the blocking pool.
    pub async fn with_created<T, F>(&self, f: F) -> Result<T, HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&HistoryStore) -> Result<T, HistoryError> + Send + 'static,
    {
        let store = self.store.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|e| e.into_inner());
            let store = match guard.take() {
                Some(s) => s,
                None => open_store(&path)?,
            };
            f(guard.insert(store))
        })
        .await
        .map_err(|e| HistoryError::Io {
            path: self.path.to_path_buf(),
            detail: format!("history task failed: {e}"),
        })?
    }

    /// Whether a database exists (a run was recorded before, or during this command).
    pub fn exists(&self) -> bool {
        self.store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

fn open_store(path: &Path) -> Result<HistoryStore, HistoryError> {
    let store = HistoryStore::open(path)?;
    store.set_busy_timeout(HISTORY_BUSY_TIMEOUT)?;
    Ok(store)
}

pub(super) fn history_hint(e: impl std::fmt::Display) -> AuditError {
    AuditError::History(format!(
        "{e}\n  hint: choose another file with --history PATH, or run without history with --no-history \
         (staleness beyond the log retention and \"what changed\" need history)"
    ))
}

/// Whether a run could be recorded at `path`, without creating or changing anything lasting: an existing
/// file is opened for writing (not truncated) and its directory probed; for a new file, the nearest
/// existing ancestor directory is probed (SQLite also writes `-wal` and `-shm` files next to it). The
/// probe creates an empty file with a unique name and removes it at once: permission bits alone do not
/// tell (root, ACLs, read-only mounts).
fn writable(path: &Path) -> Result<(), String> {
    let dir_of = |p: &Path| -> PathBuf {
        match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err("it is a directory".into()),
        Ok(_) => {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| format!("the file is not writable ({e})"))?;
            return probe_dir(&dir_of(path));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.to_string()),
    }
    let mut dir = dir_of(path);
    loop {
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => return probe_dir(&dir),
            Ok(_) => return Err(format!("{} is not a directory", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
                _ => return probe_dir(Path::new(".")),
            },
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
}

fn probe_dir(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(
        ".gdap-audit-probe-{}",
        uuid::Uuid::new_v4().simple()
    ));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("directory {} is not writable ({e})", dir.display())),
    }
}
