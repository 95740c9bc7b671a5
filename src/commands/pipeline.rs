//! The steps every auditing command shares: clock, configuration, credentials, client, evaluation,
//! history, report, exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{CommandError, EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE};
use crate::audit::{
    self, AuditError, Audited, Collected, Delivery, History, Identity, Recording, TenantAudit,
};
use crate::auth::{self, AuthSettings, TokenProvider};
use crate::cli::{CollectionArgs, ConnectionArgs, EvalArgs, FailOn, PerspectiveArg};
use crate::collect::{AzureAccess, PerspectiveMode, ProgressEvent};
use crate::config::Config;
use crate::evaluate::Evaluation;
use crate::files;
use crate::graph::{Endpoints, GraphClient};
use crate::history::Recorded;
use crate::printer::{Printer, Progress};
use crate::report::{self, Format, ReportHeader, ReportV1, Style};
use crate::rules::Severity;
use crate::snapshot::Snapshot;

impl From<AuditError> for CommandError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Auth(m) => CommandError::Auth(m),
            AuditError::History(m) => CommandError::History(m),
            AuditError::Usage(m) => CommandError::Usage(m),
        }
    }
}

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
    s.credential = conn.credential;
    // GitHub Actions, App Service, IMDS, `az` on PATH, the certificate password.
    auth::chain::apply_environment(
        &mut s,
        |name| std::env::var(name).ok(),
        std::env::var_os("PATH").as_deref(),
    );
    s.refresh_token = refresh_token_store(conn)?;
    // `AuthSettings::new` shows the device-code prompt on stderr even with -q: without it the
    // sign-in cannot complete.
    Ok(s)
}

/// The refresh-token route's store: `--refresh-token-file` (saved to with `--device-code`, read
/// otherwise), else `GDAP_AUDIT_REFRESH_TOKEN`; with `--device-code` and no file, an in-memory store
/// that receives the sign-in's refresh token (a fleet run reaches its customers with it).
fn refresh_token_store(
    conn: &ConnectionArgs,
) -> Result<Option<Arc<auth::RefreshTokenStore>>, CommandError> {
    let store = match (&conn.refresh_token_file, conn.device_code) {
        (Some(path), true) => Some(auth::RefreshTokenStore::save_to(path)),
        (Some(path), false) => Some(auth::RefreshTokenStore::load(path)),
        (None, false) => {
            env_secret(auth::REFRESH_TOKEN_ENV).map(|t| Ok(auth::RefreshTokenStore::in_memory(t)))
        }
        (None, true) => Some(Ok(auth::RefreshTokenStore::empty())),
    };
    store
        .transpose()
        .map_err(|e| CommandError::Auth(e.to_string()))
}

/// A Graph client for the audited tenant, and its id: the login endpoint and Graph proved reachable,
/// the credentials proved to work and to belong to the tenant ([`audit::identify`]). Any failure
/// stops here with exit 2 and nothing is reported as audited.
pub async fn connect(
    conn: &ConnectionArgs,
    printer: &Printer,
) -> Result<(GraphClient, Identity), CommandError> {
    let endpoints = Endpoints::resolve(
        conn.cloud,
        conn.graph_url.as_deref(),
        conn.login_url.as_deref(),
    )
    .map_err(CommandError::Usage)?;
    let settings = auth_settings(conn, &endpoints)?;
    connect_with(settings, usize::from(conn.max_in_flight), printer).await
}

/// [`connect`] with credentials already in hand.
pub async fn connect_with(
    settings: AuthSettings,
    max_in_flight: usize,
    printer: &Printer,
) -> Result<(GraphClient, Identity), CommandError> {
    let endpoints = settings.endpoints.clone();
    let tenant = settings.tenant.clone();
    let tokens = auth::provider(settings, reqwest::Client::new())
        .map_err(|e| CommandError::Auth(e.to_string()))?;
    let client = audit::client_for(endpoints.clone(), tokens.clone(), max_in_flight)?;
    let probe = audit::probe_client(endpoints, tokens.clone())?;
    let identity = identify(tokens.as_ref(), &probe, &tenant, printer).await?;
    Ok((client, identity))
}

/// [`audit::identify`] behind a "signing in" spinner.
pub async fn identify(
    tokens: &dyn TokenProvider,
    probe: &GraphClient,
    tenant: &str,
    printer: &Printer,
) -> Result<Identity, CommandError> {
    let spinner = printer.spinner("signing in");
    let result = audit::identify(tokens, probe, tenant).await;
    spinner.finish();
    Ok(result?)
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
            Ok(auth::arm::ArmTokens::Provider(tokens)) => AzureAccess::Client(audit::client_for(
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

/// The history for `--history` / the default path, or `None` with `--no-history`. A history that cannot
/// be written (read-only file or directory) is refused now, before any collecting, and nothing is
/// created.
pub fn open_history(args: &EvalArgs, default_on: bool) -> Result<Option<History>, CommandError> {
    let history = open_history_inner(args, default_on)?;
    check_changes_only(args, history.is_some())?;
    Ok(history)
}

/// `--changes-only` and the webhook compare with the previous run: both need history and, for the
/// former, a format that can show resolved findings.
fn check_changes_only(args: &EvalArgs, with_history: bool) -> Result<(), CommandError> {
    // Every output, `--report`s included: a SARIF of the changes only would close every alert still
    // open in code scanning.
    if args.changes_only
        && let Some(t) = super::outputs::targets(args).into_iter().find(|t| {
            !matches!(
                t.format,
                Format::Json | Format::Jsonl | Format::Markdown | Format::Table
            )
        })
    {
        return Err(CommandError::Usage(format!(
            "--changes-only works with json, jsonl, markdown or table reports, not {} ({})",
            t.format,
            t.destination()
        )));
    }
    let webhook = crate::webhook::Webhook::from_env()
        .map_err(|e| CommandError::Usage(e.to_string()))?
        .is_some();
    if (args.changes_only || webhook) && !with_history {
        let what = if args.changes_only {
            "--changes-only"
        } else {
            "the webhook (GDAP_AUDIT_WEBHOOK_URL)"
        };
        return Err(CommandError::Usage(format!(
            "{what} reports what changed since the previous run, which needs history\n  hint: \
             remove --no-history, or pass --history PATH (the same file on every run)"
        )));
    }
    Ok(())
}

fn open_history_inner(args: &EvalArgs, default_on: bool) -> Result<Option<History>, CommandError> {
    if args.no_history {
        return Ok(None);
    }
    let path = match &args.history {
        Some(p) => p.clone(),
        None if default_on => match History::default_path() {
            Some(p) => p,
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    Ok(Some(History::open(path)?))
}

/// What to collect from the tenant, with a progress spinner fed by the collector.
pub fn tenant_audit(
    identity: Identity,
    collection: &CollectionArgs,
    as_of: DateTime<Utc>,
    collected_at: DateTime<Utc>,
    spinner: &Progress,
) -> TenantAudit {
    let mut audit = TenantAudit::identified(identity, as_of, collected_at);
    audit.perspective = match collection.perspective {
        PerspectiveArg::Partner => PerspectiveMode::Partner,
        PerspectiveArg::Customer => PerspectiveMode::Customer,
        PerspectiveArg::Auto => PerspectiveMode::Auto,
    };
    audit.since_days = collection.since;
    let progress = spinner.clone();
    audit.progress = Some(Arc::new(move |event: ProgressEvent| match event {
        ProgressEvent::SourceStarted { source } => progress.set(format!("reading {source}")),
        ProgressEvent::PageRead {
            source,
            pages,
            items,
        } => progress.set(format!("reading {source}: {items} records, page {pages}")),
        ProgressEvent::SourceFinished { .. } => {}
    }));
    audit
}

/// The caller's half of an audit: render the report for `args`, write it, and compute the exit code.
pub fn deliver<'a>(
    args: &'a EvalArgs,
    config: &'a Config,
    printer: &'a Printer,
    default_fail_on: FailOn,
) -> impl FnOnce(&Audited) -> Result<Delivery<Outcome>, CommandError> + 'a {
    move |audited| {
        let Audited {
            evaluation,
            lifecycle,
            spool_error,
            ..
        } = audited;
        if let Some(e) = spool_error {
            printer.warn(format!(
                "{e}; this run's partner sign-ins are not kept, so the next run reads its whole window"
            ));
        }
        // Human and JSON formats carry the warnings; line-oriented ones have no place for them.
        if !super::outputs::shows_warnings(args) {
            for w in &evaluation.warnings {
                printer.warn(w);
            }
        }
        let fail_on = args.fail_on.unwrap_or(default_fail_on);
        let report = tenant_report(audited, config, fail_on, args.changes_only);
        super::outputs::write_all(&report, args, printer)?;
        let mut exit_code = exit_code(evaluation, &report, fail_on);
        let record = notify(&report, lifecycle.is_some(), &mut exit_code, printer, None);
        Ok(Delivery {
            value: Outcome { report, exit_code },
            record,
        })
    }
}

/// An audited tenant's report: its findings' lifecycle applied when there is history, and only the
/// changes with `--changes-only`.
pub fn tenant_report(
    audited: &Audited,
    config: &Config,
    fail_on: FailOn,
    changes_only: bool,
) -> ReportV1 {
    let snap = &audited.snapshot;
    let header =
        ReportHeader::from_snapshot(snap).with_settings(config, fail_on.into(), &snap.window);
    let mut report = report::build(&header, &audited.evaluation, snap.collected_at);
    if let Some(lc) = &audited.lifecycle {
        report = report.with_lifecycle(lc);
    }
    if changes_only {
        report = report.changes_only();
    }
    report
}

/// Send the report's changes to the webhook, when one is configured and there is history to tell
/// changes from. The changes go out before the run is recorded: when they cannot be delivered, the
/// failure is said on stderr (prefixed with `who` in a fleet), the run becomes incomplete (3, unless
/// findings already fail it) and is not recorded, so the next run computes and sends them again.
/// Returns whether the run may be recorded.
pub fn notify(
    report: &ReportV1,
    with_history: bool,
    exit_code: &mut u8,
    printer: &Printer,
    who: Option<&str>,
) -> bool {
    if !with_history {
        return true;
    }
    match crate::webhook::send_changes(report) {
        Ok(()) => true,
        Err(e) => {
            printer.error(match who {
                Some(who) => format!("{who}: {e}"),
                None => e.to_string(),
            });
            if *exit_code == EXIT_CLEAN {
                *exit_code = EXIT_INCOMPLETE;
            }
            false
        }
    }
}

/// Say what the history made of the run. A history that could not be written does not lose the
/// report: the failure is said on stderr, and the exit code is the audit's own when findings fail it
/// (1), else 3 (the run is incomplete: it was not recorded).
pub fn recorded(
    outcome: audit::Outcome<Outcome>,
    history: Option<&History>,
    printer: &Printer,
) -> Outcome {
    let audit::Outcome {
        delivered: mut outcome,
        recording,
    } = outcome;
    let path = history
        .map(|h| h.path().display().to_string())
        .unwrap_or_default();
    match recording {
        // Off: no history; Withheld: `deliver` said why (the webhook) and set the exit code.
        Recording::Off | Recording::Withheld => {}
        Recording::Recorded(Recorded::New(id)) => tracing::debug!(run = id, "run recorded"),
        Recording::Recorded(Recorded::AlreadyRecorded(id)) => printer.info(format!(
            "this snapshot is already recorded as run {id} in {path}; not recorded again"
        )),
        Recording::Failed(e) => {
            printer.error(format!(
                "the report was written, but the run was not recorded in the history: {e}\n  \
                 hint: the next run compares against the last recorded one; fix the history (or use \
                 --history PATH) and run again"
            ));
            if outcome.exit_code == EXIT_CLEAN {
                outcome.exit_code = EXIT_INCOMPLETE;
            }
        }
    }
    outcome
}

/// Evaluate a collected snapshot, write the report, then record the run; the outcome.
pub async fn finish(
    collected: Collected,
    args: &EvalArgs,
    config: &Config,
    history: Option<&History>,
    printer: &Printer,
    default_fail_on: FailOn,
) -> Result<Outcome, CommandError> {
    let outcome = audit::finish(
        collected,
        config,
        history,
        deliver(args, config, printer, default_fail_on),
    )
    .await?;
    Ok(recorded(outcome, history, printer))
}

/// Colour, box drawing and width for a report going to `output` (stdout when `None` or `-`): only a
/// terminal gets colour and Unicode.
pub fn output_style(output: Option<&Path>) -> Style {
    let to_stdout = output.is_none_or(files::is_stdout);
    let terminal = to_stdout && std::io::stdout().is_terminal();
    Style {
        color: terminal && std::env::var_os("NO_COLOR").is_none(),
        unicode: terminal,
        width: Some(terminal_width(terminal).unwrap_or(DEFAULT_WIDTH)),
    }
}

/// stdout, where a closed pipe (`| head`) is not an error.
pub fn write_stdout(text: &str) -> Result<(), CommandError> {
    write_stdout_with(|out| out.write_all(text.as_bytes()))
}

/// [`write_stdout`] for output produced piece by piece.
pub fn write_stdout_with(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), CommandError> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut out).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CommandError::Io(format!("cannot write to stdout: {e}"))),
    }
}

/// Table width when neither the terminal nor `COLUMNS` says otherwise (pipes, files, CI logs).
pub(super) const DEFAULT_WIDTH: u16 = 120;

pub(super) fn terminal_width(terminal: bool) -> Option<u16> {
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
        return write_stdout_with(|out| snap.write_json(out));
    }
    files::write_atomic_with(path, |out| snap.write_json(out))
        .map_err(|e| CommandError::Io(format!("cannot write snapshot {}: {e}", path.display())))?;
    printer.info(format!("snapshot written to {}", path.display()));
    Ok(())
}
