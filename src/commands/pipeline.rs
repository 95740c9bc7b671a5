//! The steps every auditing command shares: clock, configuration, credentials, client, evaluation,
//! history, report, exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{CommandError, EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE};
use crate::auth::{self, AuthSettings, TokenProvider};
use crate::cli::{ConnectionArgs, EvalArgs, FailOn};
use crate::collect::{AzureAccess, SignInSpool};
use crate::config::Config;
use crate::evaluate::{Evaluation, evaluate};
use crate::files;
use crate::graph::{ClientSettings, Endpoints, GraphClient, RetryPolicy};
use crate::history::{HistoryError, HistoryStore, Recorded};
use crate::printer::Printer;
use crate::report::{self, Format, ReportHeader, ReportV1, Style};
use crate::rules::{HistoryView, Severity};
use crate::snapshot::Snapshot;

/// What a finished audit produced, for callers that need more than the exit code (the demo).
#[derive(Debug)]
pub struct Outcome {
    pub report: ReportV1,
    pub exit_code: u8,
}

/// `--as-of`, or now.
pub fn as_of(raw: Option<&str>) -> Result<DateTime<Utc>, CommandError> {
    match raw {
        None => Ok(Utc::now()),
        Some(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| {
                CommandError::Usage(format!(
                    "--as-of {s:?} is not an RFC 3339 date-time ({e}); e.g. 2026-11-23T12:00:00Z"
                ))
            }),
    }
}

/// `--config FILE`, else `./gdap-audit.toml` when it exists, else the defaults.
pub fn load_config(path: Option<&Path>, printer: &Printer) -> Result<Config, CommandError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("gdap-audit.toml");
            if !default.exists() {
                return Ok(Config::default());
            }
            printer.info(format!("using configuration {}", default.display()));
            default
        }
    };
    Config::load(&path).map_err(|e| CommandError::Config(e.to_string()))
}

fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(SecretString::from)
}

/// Credentials from flags and the environment. Secrets only ever come from the environment.
pub fn auth_settings(
    conn: &ConnectionArgs,
    endpoints: &Endpoints,
) -> Result<AuthSettings, CommandError> {
    let tenant = conn
        .tenant
        .clone()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            CommandError::Usage(
                "--tenant (or AZURE_TENANT_ID) is required: the tenant id or a verified domain"
                    .into(),
            )
        })?;
    let mut s = AuthSettings::new(tenant.trim(), endpoints.clone());
    s.client_id = conn.client_id.clone().filter(|c| !c.trim().is_empty());
    s.client_secret = env_secret("AZURE_CLIENT_SECRET");
    s.access_token = env_secret("GRAPH_ACCESS_TOKEN");
    s.certificate = conn.certificate.clone();
    s.assertion_alg = conn.assertion_alg;
    s.federated_token_file = conn.federated_token_file.clone();
    s.device_code = conn.device_code;
    // `AuthSettings::new` shows the device-code prompt on stderr even with -q: without it the
    // sign-in cannot complete.
    Ok(s)
}

/// A Graph client for the audited tenant, and its id: the login endpoint and Graph proved reachable,
/// the credentials proved to work and to belong to the tenant ([`super::tenant::identify`]). Any failure
/// stops here with exit 2 and nothing is reported as audited.
pub async fn connect(
    conn: &ConnectionArgs,
    printer: &Printer,
) -> Result<(GraphClient, String), CommandError> {
    let endpoints = Endpoints::resolve(
        conn.cloud,
        conn.graph_url.as_deref(),
        conn.login_url.as_deref(),
    )
    .map_err(CommandError::Usage)?;
    let settings = auth_settings(conn, &endpoints)?;
    let tenant = settings.tenant.clone();
    let tokens = auth::provider(settings, reqwest::Client::new())
        .map_err(|e| CommandError::Auth(e.to_string()))?;
    let client = client_for(
        endpoints.clone(),
        tokens.clone(),
        conn.max_in_flight as usize,
    )?;
    let probe = probe_client(endpoints, tokens.clone())?;
    let tenant_id = super::tenant::identify(tokens.as_ref(), &probe, &tenant, printer).await?;
    Ok((client, tenant_id))
}

/// How this run reaches Azure Resource Manager: `None` when Azure is not audited (`--graph-url` without
/// `--arm-url`: the run must not send the credential to the real ARM), `Unavailable` with the reason when
/// the credential cannot give an ARM token (the Azure sources are then `skipped` with it), else a client
/// rooted at ARM with tokens for `{arm}/.default` from the same credential (or AZURE_ARM_ACCESS_TOKEN).
pub fn azure_access(conn: &ConnectionArgs) -> Result<Option<AzureAccess>, CommandError> {
    let arm_root = Endpoints::resolve_arm(
        conn.cloud,
        conn.graph_url.as_deref(),
        conn.arm_url.as_deref(),
    )
    .map_err(CommandError::Usage)?;
    let Some(arm_root) = arm_root else {
        // Said in --help and docs/azure.md; on stderr it would only add noise to every test run.
        tracing::debug!("Azure not audited: --graph-url is set without --arm-url");
        return Ok(None);
    };
    let endpoints = Endpoints::resolve(
        conn.cloud,
        conn.graph_url.as_deref(),
        conn.login_url.as_deref(),
    )
    .map_err(CommandError::Usage)?;
    let settings = auth_settings(conn, &endpoints)?;
    let access =
        match auth::arm::arm_tokens(&settings, &arm_root, env_secret("AZURE_ARM_ACCESS_TOKEN")) {
            Ok(auth::arm::ArmTokens::Provider(tokens)) => AzureAccess::Client(client_for(
                endpoints.for_resource(&arm_root),
                tokens,
                conn.max_in_flight as usize,
            )?),
            Ok(auth::arm::ArmTokens::Unavailable(why)) => AzureAccess::Unavailable(why),
            Err(e) => AzureAccess::Unavailable(format!(
                "Azure was not audited: no token for Azure Resource Manager ({e})"
            )),
        };
    Ok(Some(access))
}

/// A client for the one reachability request before collecting: a dead endpoint fails in seconds
/// instead of after the collection's full retry budget.
pub fn probe_client(
    endpoints: Endpoints,
    tokens: Arc<dyn TokenProvider>,
) -> Result<GraphClient, CommandError> {
    let mut cs = ClientSettings::new(endpoints);
    cs.retry = RetryPolicy {
        max_attempts: 2,
        max_total: Duration::from_secs(15),
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(5),
    };
    GraphClient::new(cs, tokens).map_err(|e| CommandError::Usage(e.to_string()))
}

pub fn client_for(
    endpoints: Endpoints,
    tokens: Arc<dyn TokenProvider>,
    max_in_flight: usize,
) -> Result<GraphClient, CommandError> {
    let mut cs = ClientSettings::new(endpoints);
    cs.max_in_flight = max_in_flight.max(1);
    GraphClient::new(cs, tokens).map_err(|e| CommandError::Usage(e.to_string()))
}

/// The history of an auditing command. The database is opened when it exists (the previous runs feed
/// the rules and the incremental log plan) and created only when a run is recorded, after its report was
/// written: a command that fails before that leaves no history behind.
pub struct History {
    path: PathBuf,
    store: Option<HistoryStore>,
}

impl History {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open database, when the file exists.
    pub fn store(&self) -> Option<&HistoryStore> {
        self.store.as_ref()
    }

    /// Record the run, creating the database if needed.
    fn record(
        &mut self,
        snap: &Snapshot,
        evaluation: &Evaluation,
        partner_sign_ins: Option<&mut SignInSpool>,
    ) -> Result<Recorded, HistoryError> {
        let store = match self.store.take() {
            Some(s) => s,
            None => open_store(&self.path)?,
        };
        let store = self.store.insert(store);
        store.record_evaluated(snap, evaluation, snap.collected_at, partner_sign_ins)
    }
}

/// How long a run waits for another gdap-audit writing the same history: long enough for a normal
/// commit, short enough that a stuck writer is reported in seconds.
const HISTORY_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn open_store(path: &Path) -> Result<HistoryStore, HistoryError> {
    let store = HistoryStore::open(path)?;
    store.set_busy_timeout(HISTORY_BUSY_TIMEOUT)?;
    Ok(store)
}

fn history_hint(e: impl std::fmt::Display) -> CommandError {
    CommandError::History(format!(
        "{e}\n  hint: choose another file with --history PATH, or run without history with --no-history \
         (staleness beyond the log retention and \"what changed\" need history)"
    ))
}

/// The history for `--history` / the default path, or `None` with `--no-history`. A history that cannot
/// be written (read-only file or directory) is refused now, before any collecting, and nothing is
/// created.
pub fn open_history(args: &EvalArgs, default_on: bool) -> Result<Option<History>, CommandError> {
    if args.no_history {
        return Ok(None);
    }
    let path = match &args.history {
        Some(p) => p.clone(),
        None if default_on => match HistoryStore::default_path() {
            Some(p) => p,
            None => return Ok(None),
        },
        None => return Ok(None),
    };
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
    Ok(Some(History { path, store }))
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

pub fn history_view(
    history: Option<&History>,
    snap: &Snapshot,
) -> Result<HistoryView, CommandError> {
    match history {
        None => Ok(HistoryView::default()),
        // History on, but no run recorded yet: the rules know it is a first run.
        Some(History { store: None, .. }) => Ok(HistoryView {
            tracked: true,
            ..HistoryView::default()
        }),
        Some(History { store: Some(s), .. }) => s
            .view(&snap.tenant_id, &snap.perspectives, snap.as_of)
            .map_err(|e| CommandError::History(e.to_string())),
    }
}

/// Evaluate, render and write the report, then record the run; the exit code.
pub fn finish(
    snap: &Snapshot,
    args: &EvalArgs,
    config: &Config,
    history: Option<&mut History>,
    printer: &Printer,
    default_fail_on: FailOn,
) -> Result<Outcome, CommandError> {
    finish_with_logs(snap, args, config, history, None, printer, default_fail_on)
}

/// [`finish`]; with `partner_sign_ins` (the collector's sink), the run also keeps its partner sign-ins
/// and directory audit events in the history, for the next run's incremental logs.
///
/// The run is recorded only after the report was written: a run whose report was lost must not become
/// the "previous run" the next audit compares against. A history that cannot be written then does not
/// lose the report: the failure is said on stderr, and the exit code is the audit's own when findings
/// fail it (1), else 3 (the run is incomplete: it was not recorded).
pub fn finish_with_logs(
    snap: &Snapshot,
    args: &EvalArgs,
    config: &Config,
    history: Option<&mut History>,
    partner_sign_ins: Option<&mut SignInSpool>,
    printer: &Printer,
    default_fail_on: FailOn,
) -> Result<Outcome, CommandError> {
    let view = history_view(history.as_deref(), snap)?;
    let evaluation = evaluate(snap, config, &view, snap.as_of);
    if let Some(e) = partner_sign_ins.as_ref().and_then(|spool| spool.error()) {
        printer.warn(format!(
            "{e}; this run's partner sign-ins are not kept, so the next run reads its whole window"
        ));
    }
    // Human and JSON formats carry the warnings; line-oriented ones have no place for them.
    if matches!(args.format, Format::Jsonl | Format::Csv | Format::Sarif) {
        for w in &evaluation.warnings {
            printer.warn(w);
        }
    }
    let fail_on = args.fail_on.unwrap_or(default_fail_on);
    let header =
        ReportHeader::from_snapshot(snap).with_settings(config, fail_on.into(), &snap.window);
    let report = report::build(&header, &evaluation, snap.collected_at);
    emit(&report, args.format, args.output.as_deref(), printer)?;
    let mut exit_code = exit_code(&evaluation, &report, fail_on);
    if let Some(history) = history {
        match history.record(snap, &evaluation, partner_sign_ins) {
            Ok(Recorded::New(id)) => tracing::debug!(run = id, "run recorded"),
            Ok(Recorded::AlreadyRecorded(id)) => printer.info(format!(
                "this snapshot is already recorded as run {id} in {}; not recorded again",
                history.path().display()
            )),
            Err(e) => {
                printer.error(format!(
                    "the report was written, but the run was not recorded in the history: {e}\n  \
                     hint: the next run compares against the last recorded one; fix the history (or use \
                     --history PATH) and run again"
                ));
                if exit_code == EXIT_CLEAN {
                    exit_code = EXIT_INCOMPLETE;
                }
            }
        }
    }
    Ok(Outcome { report, exit_code })
}

/// Write the rendered report to `--output` (atomically) or stdout.
pub fn emit(
    report: &ReportV1,
    format: Format,
    output: Option<&Path>,
    printer: &Printer,
) -> Result<(), CommandError> {
    let to_stdout = output.is_none_or(files::is_stdout);
    let terminal = to_stdout && std::io::stdout().is_terminal();
    let style = Style {
        color: terminal && std::env::var_os("NO_COLOR").is_none(),
        unicode: terminal,
        width: Some(terminal_width(terminal).unwrap_or(DEFAULT_WIDTH)),
    };
    let text = report::render(report, format, style);
    match output.filter(|p| !files::is_stdout(p)) {
        Some(path) => {
            files::write_atomic(path, &text)
                .map_err(|e| CommandError::Io(format!("cannot write {}: {e}", path.display())))?;
            printer.info(format!("report written to {}", path.display()));
        }
        None => write_stdout(&text)?,
    }
    Ok(())
}

/// stdout, where a closed pipe (`| head`) is not an error.
pub fn write_stdout(text: &str) -> Result<(), CommandError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CommandError::Io(format!("cannot write to stdout: {e}"))),
    }
}

/// Table width when neither the terminal nor `COLUMNS` says otherwise (pipes, files, CI logs).
const DEFAULT_WIDTH: u16 = 120;

fn terminal_width(terminal: bool) -> Option<u16> {
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    // comfy-table asks the terminal for its size when there is one.
    let detected = || {
        if terminal {
            comfy_table::Table::new().width()
        } else {
            None
        }
    };
    columns.or_else(detected).filter(|w: &u16| *w >= 40)
}

impl From<FailOn> for report::v1::FailOnV1 {
    fn from(f: FailOn) -> Self {
        use report::v1::FailOnV1;
        match f {
            FailOn::Critical => FailOnV1::Critical,
            FailOn::High => FailOnV1::High,
            FailOn::Medium => FailOnV1::Medium,
            FailOn::Low => FailOnV1::Low,
            FailOn::Info => FailOnV1::Info,
            FailOn::Never => FailOnV1::Never,
        }
    }
}

fn threshold(fail_on: FailOn) -> Option<Severity> {
    match fail_on {
        FailOn::Critical => Some(Severity::Critical),
        FailOn::High => Some(Severity::High),
        FailOn::Medium => Some(Severity::Medium),
        FailOn::Low => Some(Severity::Low),
        FailOn::Info => Some(Severity::Info),
        FailOn::Never => None,
    }
}

/// 1 when a finding reaches the threshold; else 3 when a source could not be read; else 0.
pub fn exit_code(evaluation: &Evaluation, report: &ReportV1, fail_on: FailOn) -> u8 {
    let failing =
        threshold(fail_on).is_some_and(|t| evaluation.findings.iter().any(|f| f.severity >= t));
    if failing {
        EXIT_FINDINGS
    } else if !report.coverage_complete() {
        EXIT_INCOMPLETE
    } else {
        EXIT_CLEAN
    }
}

/// Write a snapshot file (private, atomically; `-` for stdout).
pub fn save_snapshot(snap: &Snapshot, path: &Path, printer: &Printer) -> Result<(), CommandError> {
    if files::is_stdout(path) {
        return write_stdout(&snap.to_json());
    }
    files::write_atomic(path, &snap.to_json())
        .map_err(|e| CommandError::Io(format!("cannot write snapshot {}: {e}", path.display())))?;
    printer.info(format!("snapshot written to {}", path.display()));
    Ok(())
}
