//! `gdap-audit diff [OLD NEW]`: compare two snapshot files, or the last two runs in the history.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::CommandError;
use crate::cli::{DiffArgs, DiffFormat};
use crate::diff::{self, Diff, Inventory};
use crate::evaluate::evaluate;
use crate::history::{HistoryError, HistoryStore};
use crate::model::tenant_id;
use crate::printer::Printer;
use crate::report::diff as render;
use crate::rules::HistoryView;
use crate::snapshot::Snapshot;

pub fn run(args: DiffArgs, printer: &Printer) -> Result<u8, CommandError> {
    let d = match (&args.old, &args.new) {
        (Some(old), Some(new)) => from_files(old, new, &args, printer)?,
        (None, None) => from_history(args.history.as_deref(), args.tenant.as_deref(), printer)?,
        _ => return Err(CommandError::Usage(
            "give two snapshot files (OLD NEW), or none to compare the last two runs in history"
                .into(),
        )),
    };
    let text = match args.format {
        DiffFormat::Table => {
            let width = if std::io::stdout().is_terminal() {
                std::env::var("COLUMNS")
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .or(Some(120))
            } else {
                None
            };
            render::render_table(&d, width)
        }
        DiffFormat::Json => render::render_json(&d),
        DiffFormat::Markdown => render::render_markdown(&d),
    };
    write_stdout(&text)?;
    Ok(0)
}

/// The command's output on stdout, where a closed pipe (`| head`) is not an error.
pub(super) fn write_stdout(text: &str) -> Result<(), CommandError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CommandError::Io(format!("cannot write to stdout: {e}"))),
    }
}

fn read_snapshot(path: &Path) -> Result<Snapshot, CommandError> {
    // The snapshot error names the path.
    Snapshot::read(path).map_err(|e| CommandError::Usage(e.to_string()))
}

fn from_files(
    old: &Path,
    new: &Path,
    args: &DiffArgs,
    printer: &Printer,
) -> Result<Diff, CommandError> {
    let old_snap = read_snapshot(old)?;
    let new_snap = read_snapshot(new)?;
    // Every relationship and partner of one tenant would look added or removed against another's:
    // nothing to compare.
    if old_snap.tenant_id != new_snap.tenant_id {
        return Err(CommandError::Usage(format!(
            "{} is a snapshot of tenant {} and {} of tenant {}: a diff compares two snapshots of the same tenant",
            old.display(),
            old_snap.tenant_id,
            new.display(),
            new_snap.tenant_id
        )));
    }
    // The findings of both, evaluated with the same configuration and clock (no history): what differs
    // comes from the data, not from the time of each audit.
    let config = super::pipeline::load_config(args.config.as_deref(), printer)?;
    let now = match args.as_of.as_deref() {
        Some(raw) => super::pipeline::as_of(Some(raw))?,
        None => new_snap.as_of,
    };
    let findings = |s: &Snapshot| evaluate(s, &config, &HistoryView::default(), now).findings;
    let mut d = diff::diff(
        &Inventory::from_snapshot(&old_snap),
        &Inventory::from_snapshot(&new_snap),
    )
    .with_findings(&findings(&old_snap), &findings(&new_snap));
    d.old.label = Some(old.display().to_string());
    d.new.label = Some(new.display().to_string());
    Ok(d)
}

pub(super) fn history_path(explicit: Option<&Path>) -> Result<PathBuf, CommandError> {
    match explicit {
        Some(p) => Ok(p.to_path_buf()),
        None => HistoryStore::default_path().ok_or_else(|| {
            CommandError::History(
                "no data directory for the default history database: pass --history PATH".into(),
            )
        }),
    }
}

pub(super) fn history_error(e: HistoryError) -> CommandError {
    CommandError::History(e.to_string())
}

fn from_history(
    path: Option<&Path>,
    tenant: Option<&str>,
    printer: &Printer,
) -> Result<Diff, CommandError> {
    let path = history_path(path)?;
    let store = HistoryStore::open_existing(&path).map_err(history_error)?;
    let tenants = store.tenants().map_err(history_error)?;
    let chosen = match tenant.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => tenants
            .iter()
            .find(|s| {
                s.tenant_id == tenant_id::normalise(t)
                    || s.tenant_name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(t))
            })
            .ok_or_else(|| {
                CommandError::History(format!("no runs of tenant {t} in {}", path.display()))
            })?,
        None => match tenants.as_slice() {
            [] => {
                return Err(CommandError::History(format!(
                    "the history {} holds no runs yet",
                    path.display()
                )));
            }
            [only] => only,
            several => {
                let list: Vec<String> = several
                    .iter()
                    .map(|t| {
                        let runs = if t.runs == 1 {
                            "1 run".to_owned()
                        } else {
                            format!("{} runs", t.runs)
                        };
                        match &t.tenant_name {
                            Some(n) => {
                                format!("{} ({}, {runs})", t.tenant_id, crate::text::one_line(n))
                            }
                            None => format!("{} ({runs})", t.tenant_id),
                        }
                    })
                    .collect();
                return Err(CommandError::Usage(format!(
                    "the history holds several tenants; choose one with --tenant: {}",
                    list.join(", ")
                )));
            }
        },
    };
    // The newest run, and the newest earlier one that audited one of the same perspectives (a partner-only
    // run and a customer-only run of the same tenant have nothing to compare).
    let runs = store.list(Some(&chosen.tenant_id)).map_err(history_error)?;
    let pair = runs.split_first().and_then(|(newest, older)| {
        older
            .iter()
            .find(|o| {
                o.perspectives
                    .iter()
                    .any(|p| newest.perspectives.contains(p))
            })
            .map(|o| (o.id, newest.id))
    });
    let Some((old_id, new_id)) = pair else {
        return Err(CommandError::History(format!(
            "tenant {} has {} in {}: a diff needs two runs of the same perspective (or give two snapshot files)",
            chosen.tenant_id,
            match runs.len() {
                1 => "1 run".to_owned(),
                n => format!("{n} runs"),
            },
            path.display()
        )));
    };
    printer.info(format!(
        "comparing runs {old_id} and {new_id} of tenant {} from {}",
        chosen.tenant_id,
        path.display()
    ));
    let old = store.inventory(old_id).map_err(history_error)?;
    let new = store.inventory(new_id).map_err(history_error)?;
    let old_findings = store.run_findings(old_id).map_err(history_error)?;
    let new_findings = store.run_findings(new_id).map_err(history_error)?;
    let mut d = diff::diff(&old, &new).with_findings(&old_findings, &new_findings);
    d.old.label = Some(format!("run {old_id}"));
    d.new.label = Some(format!("run {new_id}"));
    Ok(d)
}
