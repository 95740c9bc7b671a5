//! One module per subcommand, wiring the pipeline. Nothing below `commands` imports it.

#[cfg(feature = "demo")]
mod demo;
mod diff;
mod evaluate;
pub(crate) mod fleet;
mod history;
mod man;
mod outputs;
mod pipeline;
mod rules;
mod scan;
mod schema;

use crate::cli::{Cli, Command};
use crate::printer::Printer;

pub use pipeline::Outcome;

/// Exit codes (DESIGN.md): 0 clean, 1 findings at or above --fail-on, 2 nothing audited, 3 coverage incomplete.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
pub const EXIT_INCOMPLETE: u8 = 3;

/// Why a command stopped before producing a report. Always exit 2.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    History(String),
}

/// Run a parsed command line; returns the process exit code.
pub async fn run(cli: Cli, printer: &Printer) -> u8 {
    let result = match cli.command {
        Command::Scan(args) => scan::scan(args, printer).await,
        Command::Collect(args) => scan::collect(args, printer).await,
        Command::Evaluate(args) => evaluate::run(args, printer).await,
        Command::Diff(args) => diff::run(args, printer),
        Command::Rules(args) => rules::run(args),
        Command::Fleet(args) => fleet::run(args, printer).await,
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args, printer).await,
        #[cfg(not(feature = "demo"))]
        Command::Demo(_) => Err(CommandError::Usage(
            "this build has no demo: rebuild with the default `demo` feature".to_owned(),
        )),
        Command::Schema(args) => schema::run(args),
        Command::History(args) => history::run(args, printer),
        Command::Completions(args) => man::completions(args),
        Command::Man(args) => man::man(args, printer),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            printer.error(e.to_string());
            EXIT_ERROR
        }
    }
}
