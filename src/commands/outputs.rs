//! Where a run's report goes: the main output (`--format`, `--output`, stdout by default) and every
//! `--report FORMAT=PATH`. They are checked before anything is collected (a typo must not cost a
//! scan), then rendered and written one at a time, so memory holds one rendering at most.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::CommandError;
use crate::cli::EvalArgs;
use crate::files;
use crate::printer::Printer;
use crate::report::{self, Format, ReportV1, Style};

/// One output of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub format: Format,
    /// `None`: stdout.
    pub path: Option<PathBuf>,
}

impl Target {
    pub fn destination(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "stdout".to_owned(),
        }
    }
}

/// The main output, then each `--report` in the order given.
pub fn targets(args: &EvalArgs) -> Vec<Target> {
    let stdout_or = |p: &Path| (!files::is_stdout(p)).then(|| p.to_path_buf());
    let mut all = vec![Target {
        format: args.format,
        path: args.output.as_deref().and_then(stdout_or),
    }];
    all.extend(args.reports.iter().map(|r| Target {
        format: r.format,
        path: stdout_or(&r.path),
    }));
    all
}

/// Refuses, before any work, a set of outputs that would clobber each other: stdout used twice, or one
/// file named twice; and a file whose directory does not exist.
pub fn check(args: &EvalArgs) -> Result<(), CommandError> {
    let all = targets(args);
    let mut seen: Vec<&Target> = Vec::with_capacity(all.len());
    for (i, t) in all.iter().enumerate() {
        let flag = if i == 0 {
            "--output".to_owned()
        } else {
            format!(
                "--report {}={}",
                t.format,
                t.path
                    .as_deref()
                    .map_or_else(|| "-".into(), |p| p.display().to_string())
            )
        };
        if let Some(earlier) = seen.iter().find(|s| same_place(&s.path, &t.path)) {
            let hint = if t.path.is_none() {
                "stdout takes one report: give all but one of them a file (--output FILE moves the main \
                 report off stdout)"
            } else {
                "give each report its own file"
            };
            return Err(CommandError::Usage(format!(
                "{flag}: {} already receives the {} report\n  hint: {hint}",
                earlier.destination(),
                earlier.format
            )));
        }
        if let Some(path) = &t.path {
            directory_exists(path).map_err(|detail| {
                CommandError::Usage(format!(
                    "{flag}: cannot write {}: {detail}\n  hint: name a file in an existing directory (create the directory first)",
                    path.display()
                ))
            })?;
        }
        seen.push(t);
    }
    Ok(())
}

/// Both stdout, or the same file as written (`./a.json` is `a.json`; links are not followed).
fn same_place(a: &Option<PathBuf>, b: &Option<PathBuf>) -> bool {
    let key = |p: &PathBuf| -> Vec<std::ffi::OsString> {
        p.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .map(|c| c.as_os_str().to_owned())
            .collect()
    };
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => key(a) == key(b),
        _ => false,
    }
}

/// The file can be created where it is named: it is not a directory and its directory exists.
fn directory_exists(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("it is a directory".into());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(()),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("{} is not a directory", dir.display())),
        Err(e) => Err(format!("directory {}: {e}", dir.display())),
    }
}

/// Whether some output shows the evaluation's warnings (the line-oriented formats have no place for
/// them; when none does, they go to stderr).
pub fn shows_warnings(args: &EvalArgs) -> bool {
    targets(args)
        .iter()
        .any(|t| !matches!(t.format, Format::Jsonl | Format::Csv | Format::Sarif))
}

/// Renders and writes every output, one after the other. A failed write does not stop the others; the
/// error then lists every output that was lost.
pub fn write_all(
    report: &ReportV1,
    args: &EvalArgs,
    printer: &Printer,
) -> Result<(), CommandError> {
    let mut failed = Vec::new();
    for t in targets(args) {
        if let Err(e) = write_one(report, &t, printer) {
            failed.push(e.to_string());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CommandError::Io(failed.join("\n")))
    }
}

fn write_one(report: &ReportV1, target: &Target, printer: &Printer) -> Result<(), CommandError> {
    let terminal = target.path.is_none() && std::io::stdout().is_terminal();
    let style = Style {
        color: terminal && std::env::var_os("NO_COLOR").is_none(),
        unicode: terminal,
        width: Some(
            super::pipeline::terminal_width(terminal).unwrap_or(super::pipeline::DEFAULT_WIDTH),
        ),
    };
    // Streamed into the file (or stdout): a large report is not held as text as well.
    let write = |out: &mut dyn std::io::Write| report::write(report, target.format, style, out);
    match &target.path {
        Some(path) => {
            files::write_atomic_with(path, write).map_err(|e| {
                CommandError::Io(format!(
                    "cannot write the {} report to {}: {e}",
                    target.format,
                    path.display()
                ))
            })?;
            printer.info(format!(
                "{} report written to {}",
                target.format,
                path.display()
            ));
        }
        None => super::pipeline::write_stdout_with(write)?,
    }
    Ok(())
}
