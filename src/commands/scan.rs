//! `scan` (collect + evaluate) and `collect` (collect only).

use chrono::Utc;

use super::CommandError;
use super::pipeline::{self, Outcome};
use crate::audit;
use crate::cli::{CollectArgs, FailOn, ScanArgs};
use crate::printer::Printer;

pub async fn scan(args: ScanArgs, printer: &Printer) -> Result<u8, CommandError> {
    super::outputs::check(&args.eval)?;
    let as_of = pipeline::as_of(args.eval.as_of.as_deref())?;
    let config = pipeline::load_config(args.eval.config.as_deref(), printer)?;
    let history = pipeline::open_history(&args.eval, true)?;
    // Checked before connecting: a bad --arm-url is a usage error, whatever the network.
    let azure = pipeline::azure_access(&args.connection)?;
    let (client, tenant_id) = pipeline::connect(&args.connection, printer).await?;
    let spinner = printer.spinner("collecting");
    let mut plan = pipeline::tenant_audit(tenant_id, &args.collection, as_of, Utc::now(), &spinner);
    plan.azure = azure;
    let report = pipeline::deliver(&args.eval, &config, printer, FailOn::High);
    let outcome = audit::run(&client, &plan, &config, history.as_ref(), |audited| {
        spinner.finish();
        if let Some(path) = &args.save_snapshot {
            pipeline::save_snapshot(&audited.snapshot, path, printer)?;
        }
        report(audited)
    })
    .await?;
    let Outcome { exit_code, .. } = pipeline::recorded(outcome, history.as_ref(), printer);
    Ok(exit_code)
}

pub async fn collect(args: CollectArgs, printer: &Printer) -> Result<u8, CommandError> {
    let as_of = pipeline::as_of(args.as_of.as_deref())?;
    let azure = pipeline::azure_access(&args.connection)?;
    let (client, tenant_id) = pipeline::connect(&args.connection, printer).await?;
    let spinner = printer.spinner("collecting");
    let mut plan = pipeline::tenant_audit(tenant_id, &args.collection, as_of, Utc::now(), &spinner);
    plan.azure = azure;
    let collected = audit::collect(&client, &plan, None).await?;
    spinner.finish();
    let snap = collected.snapshot;
    pipeline::save_snapshot(&snap, &args.out, printer)?;
    // The gaps `evaluate` of this snapshot would report (one definition: `CoverageStatus::is_gap`), with
    // every rule on: `collect` has no configuration.
    let gaps = crate::evaluate::coverage_gaps(&snap, &crate::config::Config::default());
    Ok(if gaps == 0 {
        super::EXIT_CLEAN
    } else {
        super::EXIT_INCOMPLETE
    })
}
