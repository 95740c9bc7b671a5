//! `evaluate FILE`: re-run an audit offline from a saved snapshot.

use super::CommandError;
use super::pipeline::{self, Outcome};
use crate::audit::Collected;
use crate::cli::{EvaluateArgs, FailOn};
use crate::printer::Printer;
use crate::snapshot::Snapshot;

pub async fn run(args: EvaluateArgs, printer: &Printer) -> Result<u8, CommandError> {
    super::outputs::check(&args.eval)?;
    let mut snap =
        Snapshot::read(&args.snapshot).map_err(|e| CommandError::Usage(e.to_string()))?;
    if let Some(raw) = args.eval.as_of.as_deref() {
        snap.as_of = pipeline::as_of(Some(raw))?;
    }
    let config = pipeline::load_config(args.eval.config.as_deref(), printer)?;
    // Offline re-evaluation only touches history when asked to (`--history`): the run was recorded
    // when it was scanned.
    let history = pipeline::open_history(&args.eval, false)?;
    let collected = Collected {
        snapshot: snap,
        partner_sign_ins: None,
    };
    let Outcome { exit_code, .. } = pipeline::finish(
        collected,
        &args.eval,
        &config,
        history.as_ref(),
        printer,
        FailOn::High,
    )
    .await?;
    Ok(exit_code)
}
