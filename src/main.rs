use std::process::ExitCode;

use clap::Parser;
use gdap_audit::cli::Cli;
use gdap_audit::commands;
use gdap_audit::printer::Printer;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(cli.global.quiet, cli.global.verbose, cli.global.no_progress);
    printer.init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.error(format!("cannot start the async runtime: {e}"));
            return ExitCode::from(2);
        }
    };
    ExitCode::from(runtime.block_on(commands::run(cli, &printer)))
}
