//! `scan` (collect + evaluate) and `collect` (collect only).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::CommandError;
use super::pipeline::{self, History, Outcome};
use crate::cli::{CollectArgs, CollectionArgs, FailOn, PerspectiveArg, ScanArgs};
use crate::collect::{
    self, AzureAccess, CollectOptions, PerspectiveMode, ProgressEvent, SignInSink, SignInSpool,
};
use crate::graph::GraphClient;
use crate::history::{IncrementalPlan, LogMerge};
use crate::printer::Printer;
use crate::snapshot::Snapshot;

pub async fn scan(args: ScanArgs, printer: &Printer) -> Result<u8, CommandError> {
    let as_of = pipeline::as_of(args.eval.as_of.as_deref())?;
    let config = pipeline::load_config(args.eval.config.as_deref(), printer)?;
    let mut history = pipeline::open_history(&args.eval, true)?;
    // Checked before connecting: a bad --arm-url is a usage error, whatever the network.
    let azure = pipeline::azure_access(&args.connection)?;
    let (client, tenant_id) = pipeline::connect(&args.connection, printer).await?;
    let (snap, mut partner_sign_ins) = run_collection_with_logs(
        &client,
        &tenant_id,
        &args.collection,
        as_of,
        Utc::now(),
        history.as_ref(),
        printer,
        azure,
    )
    .await?;
    if let Some(path) = &args.save_snapshot {
        pipeline::save_snapshot(&snap, path, printer)?;
    }
    let Outcome { exit_code, .. } = pipeline::finish_with_logs(
        &snap,
        &args.eval,
        &config,
        history.as_mut(),
        partner_sign_ins.as_mut(),
        printer,
        FailOn::High,
    )?;
    Ok(exit_code)
}

pub async fn collect(args: CollectArgs, printer: &Printer) -> Result<u8, CommandError> {
    let as_of = pipeline::as_of(args.as_of.as_deref())?;
    // Checked before connecting: a bad --arm-url is a usage error, whatever the network.
    let azure = pipeline::azure_access(&args.connection)?;
    let (client, tenant_id) = pipeline::connect(&args.connection, printer).await?;
    let snap = run_collection(
        &client,
        &tenant_id,
        &args.collection,
        as_of,
        Utc::now(),
        None,
        printer,
        azure,
    )
    .await?;
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

/// Collect the tenant `tenant_id` (established by [`pipeline::connect`]) with progress. Shared by scan,
/// collect and demo. `azure`: how to reach Azure Resource Manager (`None`: Azure is not audited).
/// [`run_collection_with_logs`] without the partner sign-ins: a run recorded without them keeps no log
/// records, so the next run reads its logs in full.
#[expect(
    clippy::too_many_arguments,
    reason = "each input of a collection is distinct and named at every call site"
)]
pub async fn run_collection(
    client: &GraphClient,
    tenant_id: &str,
    collection: &CollectionArgs,
    as_of: DateTime<Utc>,
    collected_at: DateTime<Utc>,
    history: Option<&History>,
    printer: &Printer,
    azure: Option<AzureAccess>,
) -> Result<Snapshot, CommandError> {
    run_collection_with_logs(
        client,
        tenant_id,
        collection,
        as_of,
        collected_at,
        history,
        printer,
        azure,
    )
    .await
    .map(|(snap, _)| snap)
}

/// [`run_collection`], with incremental logs when there is a history: the sign-ins and directory audits
/// are read only after the previous run's watermark (minus the overlap) when the history's kept records
/// cover the rest of the window ([`crate::history::HistoryStore::incremental_plan`]), then merged with them
/// ([`crate::history::HistoryStore::merge_logs`]) so the snapshot holds the whole window's aggregates. Returns the partner
/// sign-ins read (with a history, spooled on disk), for [`pipeline::finish_with_logs`] to keep.
#[expect(
    clippy::too_many_arguments,
    reason = "each input of a collection is distinct and named at every call site"
)]
pub async fn run_collection_with_logs(
    client: &GraphClient,
    tenant_id: &str,
    collection: &CollectionArgs,
    as_of: DateTime<Utc>,
    collected_at: DateTime<Utc>,
    history: Option<&History>,
    printer: &Printer,
    azure: Option<AzureAccess>,
) -> Result<(Snapshot, Option<SignInSpool>), CommandError> {
    let spinner = printer.spinner("collecting");
    let mut opts = CollectOptions::new(tenant_id.to_owned(), as_of, collected_at);
    opts.azure = azure;
    opts.perspective = match collection.perspective {
        PerspectiveArg::Partner => PerspectiveMode::Partner,
        PerspectiveArg::Customer => PerspectiveMode::Customer,
        PerspectiveArg::Auto => PerspectiveMode::Auto,
    };
    opts.since_days = collection.since;
    let history_err = |e: crate::history::HistoryError| CommandError::History(e.to_string());
    let mut plan = IncrementalPlan::default();
    // With history on, the partner sign-ins are kept for the next run even when this is the first one
    // (the database is created when the run is recorded); only an existing history can plan a read.
    let sink: Option<SignInSink> = history.map(|_| SignInSink::default());
    let store = history.and_then(History::store);
    if let Some(sink) = &sink {
        opts.partner_sign_ins = Some(sink.clone());
    }
    if let Some(store) = store {
        plan = store
            .incremental_plan(tenant_id, opts.window())
            .map_err(history_err)?;
        opts.sign_in_watermark = plan.sign_in_watermark;
        opts.audit_watermark = plan.audit_watermark;
    }
    let progress = spinner.clone();
    opts.progress = Some(Arc::new(move |event: ProgressEvent| match event {
        ProgressEvent::SourceStarted { source } => progress.set(format!("reading {source}")),
        ProgressEvent::PageRead {
            source,
            pages,
            items,
        } => progress.set(format!("reading {source}: {items} records, page {pages}")),
        ProgressEvent::SourceFinished { .. } => {}
    }));
    let mut snap = collect::collect(client, &opts).await;
    if let (Some(store), Some(sink)) = (store, &sink)
        && plan.is_incremental()
    {
        let outcome = {
            let mut spool = sink.lock().unwrap_or_else(|e| e.into_inner());
            store.merge_logs(&mut snap, &plan, &mut spool)
        }
        .map_err(history_err)?;
        tracing::debug!(?outcome, "incremental logs merged");
        if let LogMerge::NeedsFullRead { reason } = &outcome.sign_ins {
            let note = format!("Read in full: the {reason}.");
            collect::reread_sign_ins(client, &opts, &mut snap, Some(&note)).await;
        }
    }
    spinner.finish();
    let stats = client.stats();
    tracing::debug!(
        requests = stats.requests,
        retries = stats.retries,
        throttled = stats.throttled,
        "collection done"
    );
    drop(opts);
    let spool = sink.map(|sink| match Arc::try_unwrap(sink) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(shared) => std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner())),
    });
    Ok((snap, spool))
}
