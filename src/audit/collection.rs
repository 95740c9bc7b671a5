//! Collecting one tenant, with incremental logs when there is a history.

use std::sync::Arc;

use super::incremental::{self, IncrementalPlan, LogMerge};
use super::{AuditError, Collected, History, TenantAudit};
use crate::collect::{self, CollectOptions, SignInSink};
use crate::graph::GraphClient;
use crate::history::HistoryError;

/// Collect the tenant. With a history, the sign-ins and directory audits are read only after the
/// previous run's watermark (minus the overlap) when the history's kept records cover the rest of the
/// window ([`incremental::plan`]), then merged with them ([`incremental::merge`]) so the snapshot holds the whole window's aggregates;
/// the partner sign-ins read are spooled on disk for [`super::finish`] to keep.
pub async fn collect(
    client: &GraphClient,
    audit: &TenantAudit,
    history: Option<&History>,
) -> Result<Collected, AuditError> {
    let tenant_id = audit.tenant_id.to_string();
    let mut opts = CollectOptions::new(tenant_id.clone(), audit.as_of, audit.collected_at);
    opts.perspective = audit.perspective;
    opts.since_days = audit.since_days;
    opts.progress = audit.progress.clone();
    opts.organization = audit.organization.clone();
    opts.delegated_via_gdap = audit.delegated_via_gdap;
    opts.azure = audit.azure.clone();
    let history_err = |e: HistoryError| AuditError::History(e.to_string());
    // With history on, the partner sign-ins are kept for the next run even when this is the first one
    // (the database is created when the run is recorded); only an existing history can plan a read.
    let sink: Option<SignInSink> = history.map(|_| SignInSink::default());
    if let Some(sink) = &sink {
        opts.partner_sign_ins = Some(sink.clone());
    }
    let mut plan = IncrementalPlan::default();
    if let Some(history) = history {
        let window = opts.window();
        let tenant = tenant_id.clone();
        plan = history
            .with(move |store| match store {
                Some(s) => incremental::plan(s, &tenant, window),
                None => Ok(IncrementalPlan::default()),
            })
            .await?
            .map_err(history_err)?;
        opts.sign_in_watermark = plan.sign_in_watermark;
        opts.audit_watermark = plan.audit_watermark;
    }
    let mut snap = collect::collect(client, &opts).await;
    snap.fleet = audit.fleet.clone();
    if let (Some(history), Some(sink)) = (history, &sink)
        && plan.is_incremental()
    {
        let sink = sink.clone();
        let merge_plan = plan.clone();
        let (merged, outcome) = history
            .with(move |store| {
                let Some(store) = store else {
                    return (snap, Ok(None));
                };
                let mut spool = sink.lock().unwrap_or_else(|e| e.into_inner());
                let outcome = incremental::merge(store, &mut snap, &merge_plan, &mut spool);
                (snap, outcome.map(Some))
            })
            .await?;
        snap = merged;
        let outcome = outcome.map_err(history_err)?;
        tracing::debug!(?outcome, "incremental logs merged");
        if let Some(LogMerge::NeedsFullRead { reason }) = outcome.as_ref().map(|o| &o.sign_ins) {
            let note = format!("Read in full: the {reason}.");
            collect::reread_sign_ins(client, &opts, &mut snap, Some(&note)).await;
        }
    }
    let stats = client.stats();
    tracing::debug!(
        tenant = %tenant_id,
        requests = stats.requests,
        retries = stats.retries,
        throttled = stats.throttled,
        "collection done"
    );
    drop(opts);
    let partner_sign_ins = sink.map(|sink| match Arc::try_unwrap(sink) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(shared) => std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner())),
    });
    Ok(Collected {
        snapshot: snap,
        partner_sign_ins,
    })
}
