//! The steps every auditing command shares: clock, configuration, credentials, client, evaluation,
//! history, report, exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{CommandError, EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE};
use crate::auth::{self, AuthSettings, TokenProvider};
use crate::cli::{ConnectionArgs, EvalArgs, FailOn};
use crate::collect::SignInSpool;
use crate::config::Config;
use crate::evaluate::{Evaluation, evaluate};
use crate::graph::{ClientSettings, Endpoints, GraphClient};
use crate::history::HistoryStore;
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

/// A Graph client for the tenant, after proving the credentials work: an authentication failure
/// stops here with exit 2 and nothing is reported as audited.
pub async fn connect(conn: &ConnectionArgs) -> Result<(GraphClient, String), CommandError> {
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
    let client = client_for(endpoints, tokens, conn.max_in_flight as usize)?;
    Ok((client, tenant))
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

/// Fetch a token once before collecting: a wrong secret is an error (exit 2), not a report full of gaps.
pub async fn preflight_client(client: &GraphClient) -> Result<(), CommandError> {
    client
        .token_check()
        .await
        .map_err(|e| CommandError::Auth(e.to_string()))
}

/// The history store for `--history` / the default path, or `None` with `--no-history`.
pub fn open_history(
    args: &EvalArgs,
    default_on: bool,
) -> Result<Option<HistoryStore>, CommandError> {
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
    HistoryStore::open(&path).map(Some).map_err(|e| {
        CommandError::History(format!(
            "{e}\n  hint: choose another file with --history PATH, or run without history with --no-history \
             (staleness beyond the log retention and \"what changed\" need history)"
        ))
    })
}

pub fn history_view(
    store: Option<&HistoryStore>,
    snap: &Snapshot,
) -> Result<HistoryView, CommandError> {
    match store {
        None => Ok(HistoryView::default()),
        Some(s) => s
            .view(&snap.tenant_id, &snap.perspectives, snap.as_of)
            .map_err(|e| CommandError::History(e.to_string())),
    }
}

/// Evaluate, record the run, render and write the report; the exit code.
pub fn finish(
    snap: &Snapshot,
    args: &EvalArgs,
    config: &Config,
    store: Option<&HistoryStore>,
    printer: &Printer,
    default_fail_on: FailOn,
) -> Result<Outcome, CommandError> {
    finish_with_logs(snap, args, config, store, None, printer, default_fail_on)
}

/// [`finish`]; with `partner_sign_ins` (the collector's sink), the run also keeps its partner sign-ins
/// and directory audit events in the history, for the next run's incremental logs.
pub fn finish_with_logs(
    snap: &Snapshot,
    args: &EvalArgs,
    config: &Config,
    store: Option<&HistoryStore>,
    partner_sign_ins: Option<&mut SignInSpool>,
    printer: &Printer,
    default_fail_on: FailOn,
) -> Result<Outcome, CommandError> {
    let view = history_view(store, snap)?;
    let evaluation = evaluate(snap, config, &view, snap.as_of);
    if let Some(e) = partner_sign_ins.as_ref().and_then(|spool| spool.error()) {
        printer.warn(format!(
            "{e}; this run's partner sign-ins are not kept, so the next run reads its whole window"
        ));
    }
    if let Some(s) = store {
        match partner_sign_ins {
            Some(logs) => {
                s.record_run_and_logs(snap, &evaluation.findings, snap.collected_at, logs)
            }
            None => s.record_run(snap, &evaluation.findings, snap.collected_at),
        }
        .map_err(|e| CommandError::History(e.to_string()))?;
    }
    // Human and JSON formats carry the warnings; line-oriented ones have no place for them.
    if matches!(args.format, Format::Jsonl | Format::Csv | Format::Sarif) {
        for w in &evaluation.warnings {
            printer.warn(w);
        }
    }
    let report = report::build(
        &ReportHeader::from_snapshot(snap),
        &evaluation,
        snap.collected_at,
    );
    emit(&report, args.format, args.output.as_deref(), printer)?;
    let fail_on = args.fail_on.unwrap_or(default_fail_on);
    let exit_code = exit_code(&evaluation, &report, fail_on);
    Ok(Outcome { report, exit_code })
}

/// Write the rendered report to `--output` (atomically) or stdout.
pub fn emit(
    report: &ReportV1,
    format: Format,
    output: Option<&Path>,
    printer: &Printer,
) -> Result<(), CommandError> {
    let terminal = output.is_none() && std::io::stdout().is_terminal();
    let style = Style {
        color: terminal && std::env::var_os("NO_COLOR").is_none(),
        unicode: terminal,
        width: Some(terminal_width(terminal).unwrap_or(DEFAULT_WIDTH)),
    };
    let text = report::render(report, format, style);
    match output {
        Some(path) => {
            report::write_atomic(path, &text)
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

/// Write a snapshot file atomically.
pub fn save_snapshot(snap: &Snapshot, path: &Path, printer: &Printer) -> Result<(), CommandError> {
    report::write_atomic(path, &snap.to_json())
        .map_err(|e| CommandError::Io(format!("cannot write snapshot {}: {e}", path.display())))?;
    printer.info(format!("snapshot written to {}", path.display()));
    Ok(())
}
