//! One module per subcommand, wiring the pipeline (being wired up).

use crate::cli::Cli;
use crate::printer::Printer;

pub async fn run(_cli: Cli, printer: &Printer) -> u8 {
    printer.error("not wired yet");
    2
}
