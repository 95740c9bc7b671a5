//! `scan` (collect + evaluate) and `collect` (collect only).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::pipeline::{self, Outcome};
use super::CommandError;
use crate::cli::{CollectArgs, CollectionArgs, FailOn, PerspectiveArg, ScanArgs};
use crate::collect::{self, CollectOptions, PerspectiveMode, ProgressEvent};
use crate::graph::GraphClient;
use crate::history::HistoryStore;
use crate::printer::Printer;
use crate::snapshot::Snapshot;

pub async fn scan(args: ScanArgs, printer: &Printer) -> Result<u8, CommandError> {
    let as_of = pipeline::as_of(args.eval.as_of.as_deref())?;
    let config = pipeline::load_config(args.eval.config.as_deref(), printer)?;
    let store = pipeline::open_history(&args.eval, true)?;
    let (client, tenant) = pipeline::connect(&args.connection, printer).await?;
    let snap = run_collection(&client, &tenant, &args.collection, as_of, Utc::now(), store.as_ref(), printer).await?;
    if let Some(path) = &args.save_snapshot {
        pipeline::save_snapshot(&snap, path, printer)?;
    }
    let Outcome { exit_code, .. } =
        pipeline::finish(&snap, &args.eval, &config, store.as_ref(), printer, FailOn::High)?;
    Ok(exit_code)
}

pub async fn collect(args: CollectArgs, printer: &Printer) -> Result<u8, CommandError> {
    let as_of = pipeline::as_of(args.as_of.as_deref())?;
    let (client, tenant) = pipeline::connect(&args.connection, printer).await?;
    let snap = run_collection(&client, &tenant, &args.collection, as_of, Utc::now(), None, printer).await?;
    pipeline::save_snapshot(&snap, &args.out, printer)?;
    let gaps = snap.coverage.iter().filter(|c| !c.status.is_complete() && c.status != crate::snapshot::CoverageStatus::Skipped).count();
    Ok(if gaps == 0 { super::EXIT_CLEAN } else { super::EXIT_INCOMPLETE })
}

/// Authenticate, resolve the tenant id, collect with progress. Shared by scan, collect and demo.
pub async fn run_collection(
    client: &GraphClient,
    tenant: &str,
    collection: &CollectionArgs,
    as_of: DateTime<Utc>,
    collected_at: DateTime<Utc>,
    store: Option<&HistoryStore>,
    printer: &Printer,
) -> Result<Snapshot, CommandError> {
    let spinner = printer.spinner("signing in");
    pipeline::preflight_client(client).await.inspect_err(|_| spinner.finish())?;
    let tenant_id = resolve_tenant_id(client, tenant).await;
    let mut opts = CollectOptions::new(tenant_id.clone(), as_of, collected_at);
    opts.perspective = match collection.perspective {
        PerspectiveArg::Partner => PerspectiveMode::Partner,
        PerspectiveArg::Customer => PerspectiveMode::Customer,
        PerspectiveArg::Auto => PerspectiveMode::Auto,
    };
    opts.since_days = collection.since;
    if let Some(store) = store {
        let marks = store.watermarks(&tenant_id).map_err(|e| CommandError::History(e.to_string()))?;
        opts.sign_in_watermark = marks.sign_ins;
        opts.audit_watermark = marks.audits;
    }
    let progress = spinner.clone();
    opts.progress = Some(Arc::new(move |event: ProgressEvent| match event {
        ProgressEvent::SourceStarted { source } => progress.set(format!("reading {source}")),
        ProgressEvent::PageRead { source, pages, items } => {
            progress.set(format!("reading {source}: {items} records, page {pages}"))
        }
        ProgressEvent::SourceFinished { .. } => {}
    }));
    let snap = collect::collect(client, &opts).await;
    spinner.finish();
    let stats = client.stats();
    tracing::debug!(requests = stats.requests, retries = stats.retries, throttled = stats.throttled, "collection done");
    Ok(snap)
}

/// `--tenant` may be a domain; history and rules key on the tenant GUID, which `/organization` gives.
async fn resolve_tenant_id(client: &GraphClient, tenant: &str) -> String {
    if uuid::Uuid::parse_str(tenant).is_ok() {
        return tenant.to_ascii_lowercase();
    }
    #[derive(serde::Deserialize)]
    struct Org {
        id: String,
    }
    match client.get::<crate::graph::Page<Org>>("/v1.0/organization?$select=id").await {
        Ok(page) if page.value.len() == 1 => page.value[0].id.to_ascii_lowercase(),
        _ => tenant.to_ascii_lowercase(),
    }
}
