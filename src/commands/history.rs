//! `gdap-audit history list|show|prune`: inspect or trim the run history.

use std::io::IsTerminal;

use super::CommandError;
use super::diff::{history_error, history_path, write_stdout};
use crate::cli::{HistoryAction, HistoryArgs, ListFormat};
use crate::history::HistoryStore;
use crate::printer::Printer;
use crate::report;

pub fn run(args: HistoryArgs, printer: &Printer) -> Result<u8, CommandError> {
    let path = history_path(args.history.as_deref())?;
    let store = HistoryStore::open_existing(&path).map_err(history_error)?;
    let text = match args.action {
        HistoryAction::List { tenant } => {
            let runs = store.list(tenant.as_deref()).map_err(history_error)?;
            if runs.is_empty() {
                match tenant {
                    Some(t) => printer.info(format!("no runs of tenant {t} in {}", path.display())),
                    None => printer.info(format!("no runs in {}", path.display())),
                }
                return Ok(0);
            }
            match args.format {
                ListFormat::Table => report::history::list_table(&runs, terminal_width()),
                ListFormat::Json => json(&runs),
            }
        }
        HistoryAction::Show { run } => {
            let detail = store.show(run).map_err(history_error)?;
            match args.format {
                ListFormat::Table => report::history::show_text(&detail, terminal_width()),
                ListFormat::Json => json(&detail),
            }
        }
        HistoryAction::Prune { keep } => {
            if keep == 0 {
                return Err(CommandError::Usage(
                    "--keep must be at least 1 (first-seen dates and partner activity are kept whatever the value)".into(),
                ));
            }
            let pruned = store.prune(keep).map_err(history_error)?;
            format!(
                "pruned {pruned} run(s) from {}; kept the newest {keep} of each tenant and perspective\n",
                path.display()
            )
        }
    };
    write_stdout(&text)?;
    Ok(0)
}

#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
fn json(value: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("history records serialize");
    s.push('\n');
    s
}

/// Wrap tables to the terminal (`COLUMNS`, else 120); piped output is not wrapped.
fn terminal_width() -> Option<u16> {
    std::io::stdout().is_terminal().then(|| {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(120)
    })
}
