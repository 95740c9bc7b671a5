//! `completions SHELL` and `man`: generated from the command-line definitions, so they never drift
//! from `--help`.

use clap::CommandFactory;

use super::pipeline::write_stdout;
use super::{CommandError, EXIT_CLEAN};
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::printer::Printer;

const BIN: &str = "gdap-audit";

pub fn completions(args: CompletionsArgs) -> Result<u8, CommandError> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), BIN, &mut out);
    write_stdout(&String::from_utf8_lossy(&out))?;
    Ok(EXIT_CLEAN)
}

pub fn man(args: ManArgs, printer: &Printer) -> Result<u8, CommandError> {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => {
            clap_mangen::generate_to(cmd, &dir).map_err(|e| {
                CommandError::Io(format!(
                    "cannot write the man pages into {}: {e}\n  hint: create the directory first",
                    dir.display()
                ))
            })?;
            printer.info(format!("man pages written to {}", dir.display()));
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| CommandError::Io(format!("cannot render the man page: {e}")))?;
            write_stdout(&String::from_utf8_lossy(&out))?;
        }
    }
    Ok(EXIT_CLEAN)
}
