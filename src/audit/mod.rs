//! One tenant's audit as a library call: collect (with the incremental log plan from history) ->
//! snapshot -> evaluate (against history) -> deliver (the caller renders and writes) -> record.
//!
//! `scan`, `demo` and `fleet` all run [`run`]; `evaluate` runs its second half, [`finish`]. Nothing here
//! prints, reads arguments or knows exit codes: callers get typed results ([`Audited`], [`Recording`])
//! and errors ([`AuditError`]) and decide what they mean. History is written only after the caller's
//! `deliver` succeeded, so a run whose report was lost never becomes the "previous run"; all SQLite
//! work runs on the blocking pool ([`History::with`]), so many tenants can be audited at once.

mod collection;
pub mod connect;
mod error;
mod history;
pub mod incremental;

use chrono::{DateTime, Utc};

pub use collection::collect;
pub use connect::{Identity, client_for, identify, probe_client};
pub use error::AuditError;
pub use history::History;

use crate::collect::{AzureAccess, PerspectiveMode, ProgressFn, SignInSpool};
use crate::config::Config;
use crate::evaluate::{Evaluation, evaluate};
use crate::graph::GraphClient;
use crate::history::Recorded;
use crate::lifecycle::{self, Lifecycle, Prior};
use crate::model::TenantId;
use crate::rules::HistoryView;
use crate::snapshot::{FleetView, Snapshot};

/// What to audit in one tenant, and how.
#[derive(Clone)]
pub struct TenantAudit {
    pub tenant_id: TenantId,
    pub perspective: PerspectiveMode,
    /// Log lookback in days.
    pub since_days: u32,
    /// The evaluation clock.
    pub as_of: DateTime<Utc>,
    /// Wall-clock time of the collection: recorded, never used by rules.
    pub collected_at: DateTime<Utc>,
    pub progress: Option<ProgressFn>,
    /// In a fleet run, the auditing partner's side of this customer, kept in the snapshot for the
    /// cross-check rule.
    pub fleet: Option<FleetView>,
    /// `/organization`'s answer when [`identify`] already read it: not asked for twice.
    pub organization: Option<serde_json::Value>,
    /// The reads go through a partner's GDAP access (a fleet run's refresh-token route): a denied
    /// source names the GDAP roles that would allow it.
    pub delegated_via_gdap: bool,
    /// How to reach Azure Resource Manager; `None`: Azure is not audited in this run.
    pub azure: Option<AzureAccess>,
}

impl TenantAudit {
    /// What [`identify`] established: the tenant and its `/organization` answer.
    pub fn identified(
        identity: Identity,
        as_of: DateTime<Utc>,
        collected_at: DateTime<Utc>,
    ) -> Self {
        let mut audit = TenantAudit::new(identity.tenant_id, as_of, collected_at);
        audit.organization = identity.organization;
        audit
    }

    pub fn new(tenant_id: TenantId, as_of: DateTime<Utc>, collected_at: DateTime<Utc>) -> Self {
        TenantAudit {
            tenant_id,
            perspective: PerspectiveMode::Auto,
            since_days: 30,
            as_of,
            collected_at,
            progress: None,
            fleet: None,
            organization: None,
            delegated_via_gdap: false,
            azure: None,
        }
    }
}

/// A collected snapshot and, with history, the partner sign-ins to keep for the next run.
pub struct Collected {
    pub snapshot: Snapshot,
    pub partner_sign_ins: Option<SignInSpool>,
}

/// An evaluated audit, handed to the caller's `deliver` before anything is recorded.
pub struct Audited {
    pub snapshot: Snapshot,
    pub evaluation: Evaluation,
    /// With history: each finding's status against the previous runs, and what was resolved.
    pub lifecycle: Option<Lifecycle>,
    /// Why this run's partner sign-ins cannot be kept (the next run then reads its whole window).
    pub spool_error: Option<String>,
}

/// What the caller's `deliver` produced, and whether the run may be recorded (a caller that could not
/// deliver the changes, say to a webhook, keeps the run unrecorded so the next run sends them again).
pub struct Delivery<T> {
    pub value: T,
    pub record: bool,
}

impl<T> Delivery<T> {
    /// Delivered: record the run.
    pub fn recorded(value: T) -> Self {
        Delivery {
            value,
            record: true,
        }
    }
}

/// What happened to the history after delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recording {
    /// No history for this audit.
    Off,
    /// The caller asked not to record this run (see [`Delivery::record`]).
    Withheld,
    Recorded(Recorded),
    /// The result was delivered, but the run could not be recorded.
    Failed(String),
}

/// The caller's delivered value, and what the history made of the run.
pub struct Outcome<T> {
    pub delivered: T,
    pub recording: Recording,
}

/// Collect, evaluate, deliver, record: one tenant's audit. `deliver` renders and writes the result;
/// when it fails nothing is recorded and its error is returned.
pub async fn run<T, E, F>(
    client: &GraphClient,
    audit: &TenantAudit,
    config: &Config,
    history: Option<&History>,
    deliver: F,
) -> Result<Outcome<T>, E>
where
    E: From<AuditError>,
    F: FnOnce(&Audited) -> Result<Delivery<T>, E>,
{
    let collected = collect(client, audit, history).await?;
    finish(collected, config, history, deliver).await
}

/// The second half of [`run`] for a snapshot already in hand (`evaluate SNAPSHOT`, or after
/// [`collect`]).
pub async fn finish<T, E, F>(
    collected: Collected,
    config: &Config,
    history: Option<&History>,
    deliver: F,
) -> Result<Outcome<T>, E>
where
    E: From<AuditError>,
    F: FnOnce(&Audited) -> Result<Delivery<T>, E>,
{
    let Collected {
        snapshot,
        partner_sign_ins,
    } = collected;
    let view = history_view(history, &snapshot).await?;
    let evaluation = evaluate(&snapshot, config, &view, snapshot.as_of);
    drop(view);
    let lifecycle = lifecycle_of(history, &snapshot, &evaluation, config).await?;
    let audited = Audited {
        spool_error: partner_sign_ins
            .as_ref()
            .and_then(|s| s.error())
            .map(|e| e.to_string()),
        snapshot,
        evaluation,
        lifecycle,
    };
    let Delivery {
        value: delivered,
        record: may_record,
    } = deliver(&audited)?;
    let recording = match history {
        None => Recording::Off,
        Some(_) if !may_record => Recording::Withheld,
        Some(history) => record(history, audited, partner_sign_ins).await,
    };
    Ok(Outcome {
        delivered,
        recording,
    })
}

/// The lifecycle of this run's findings against the history (`None` without history).
async fn lifecycle_of(
    history: Option<&History>,
    snap: &Snapshot,
    evaluation: &Evaluation,
    config: &Config,
) -> Result<Option<Lifecycle>, AuditError> {
    let Some(history) = history else {
        return Ok(None);
    };
    let tenant = snap.tenant_id.clone();
    let perspectives = snap.perspectives.clone();
    let as_of = snap.as_of;
    let prior = history
        .with(move |store| match store {
            None => Ok(Prior::default()),
            Some(s) => s
                .prior(&tenant, &perspectives, as_of)
                .map_err(|e| AuditError::History(e.to_string())),
        })
        .await??;
    Ok(Some(lifecycle::compute(evaluation, config, &prior, as_of)))
}

/// What the history knows of this tenant before this run: empty without history, "first run" when
/// no run was recorded yet.
pub async fn history_view(
    history: Option<&History>,
    snap: &Snapshot,
) -> Result<HistoryView, AuditError> {
    let Some(history) = history else {
        return Ok(HistoryView::default());
    };
    let tenant = snap.tenant_id.clone();
    let perspectives = snap.perspectives.clone();
    let as_of = snap.as_of;
    history
        .with(move |store| match store {
            None => Ok(HistoryView {
                tracked: true,
                ..HistoryView::default()
            }),
            Some(s) => s
                .view(&tenant, &perspectives, as_of)
                .map_err(|e| AuditError::History(e.to_string())),
        })
        .await?
}

async fn record(
    history: &History,
    audited: Audited,
    mut partner_sign_ins: Option<SignInSpool>,
) -> Recording {
    let result = history
        .with_created(move |store| {
            store.record_evaluated(
                &audited.snapshot,
                &audited.evaluation,
                audited.lifecycle.as_ref(),
                audited.snapshot.collected_at,
                partner_sign_ins.as_mut(),
            )
        })
        .await;
    match result {
        Ok(r) => Recording::Recorded(r),
        Err(e) => Recording::Failed(e.to_string()),
    }
}
