//! `fleet`: from the partner tenant, the partner-side audit, then the customer-side audit of every GDAP
//! customer with a token for that customer tenant, in one run and one report.
//!
//! Tenants run concurrently (`--max-tenants`), each with its own client (its own in-flight limit and
//! 429 pause: one throttled tenant never pauses the others) and one app-wide budget shared by all of
//! them for the audit logs (Graph's 122 requests / 10 s per app across tenants). A customer that cannot
//! be audited (no consent, a token error, Graph unreachable) becomes that customer's coverage, never a
//! stop. Each tenant's report is rendered as soon as it is done and spooled to disk
//! ([`FleetSpool`]); its snapshot and findings are dropped then, so memory does not follow the fleet.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::StreamExt as _;

use super::pipeline;
use super::{CommandError, EXIT_INCOMPLETE};
use crate::audit::{self, Audited, Delivery, History, TenantAudit};
use crate::auth::{AuthSettings, CustomerTokenRoute, CustomerTokens, TokenProvider};
use crate::cli::{FailOn, FleetArgs};
use crate::collect::PerspectiveMode;
use crate::config::Config;
use crate::evaluate::evaluate;
use crate::files;
use crate::graph::pace::APP_WIDE_LOG_RATE;
use crate::graph::{ClientSettings, Endpoints, GraphClient, Pacer};
use crate::model::TenantId;
use crate::model::roles::GLOBAL_ADMIN;
use crate::printer::{Printer, Progress};
use crate::report::fleet::{
    FLEET_FORMATS, FleetHead, FleetRole, FleetSpool, GlobalAdminPartner, TenantRow, TenantState,
    worst_exit,
};
use crate::report::{self, ReportHeader};
use crate::rules::HistoryView;
use crate::snapshot::{
    Coverage, CoverageStatus, FleetRelationship, FleetView, Perspective, SNAPSHOT_VERSION,
    Snapshot, Source, Window,
};

/// A customer to audit: its tenant, its name as the partner knows it, and the partner's live
/// relationships with it (empty when listed by hand without one).
struct Target {
    tenant_id: TenantId,
    name: Option<String>,
    relationships: Vec<FleetRelationship>,
}

/// What every customer's audit shares.
struct Shared<'a> {
    args: &'a FleetArgs,
    config: &'a Config,
    history: Option<&'a History>,
    printer: &'a Printer,
    endpoints: Endpoints,
    tokens: CustomerTokens,
    route: CustomerTokenRoute,
    pacer: Arc<Pacer>,
    spool: Mutex<FleetSpool>,
    as_of: DateTime<Utc>,
    fail_on: FailOn,
    partner: TenantId,
    partner_name: Option<String>,
    status: Mutex<Status>,
    progress: Progress,
}

/// Progress on stderr: tenants done / total, the ones in flight, throttling pauses.
#[derive(Default)]
struct Status {
    done: usize,
    total: usize,
    running: BTreeMap<String, String>,
    throttled: u64,
}

pub async fn run(args: FleetArgs, printer: &Printer) -> Result<u8, CommandError> {
    let endpoints = Endpoints::resolve(
        args.connection.cloud,
        args.connection.graph_url.as_deref(),
        args.connection.login_url.as_deref(),
    )
    .map_err(CommandError::Usage)?;
    let base = pipeline::auth_settings(&args.connection, &endpoints)?;
    run_with(args, base, printer).await
}

/// The fleet run with the partner's credentials in hand (`demo --fleet` brings its own).
pub async fn run_with(
    args: FleetArgs,
    base: AuthSettings,
    printer: &Printer,
) -> Result<u8, CommandError> {
    let format = args.eval.format;
    if !FLEET_FORMATS.contains(&format) {
        return Err(CommandError::Usage(format!(
            "fleet writes table, json, jsonl, markdown or csv, not {format}; audit one tenant with `scan` for the other formats"
        )));
    }
    if !args.eval.reports.is_empty() {
        return Err(CommandError::Usage(
            "fleet writes one report (--format, --output); --report is for scan, evaluate and demo"
                .into(),
        ));
    }
    // Before any tenant is audited (and recorded): an --output in a missing directory.
    super::outputs::check(&args.eval)?;
    let as_of = pipeline::as_of(args.eval.as_of.as_deref())?;
    let config = pipeline::load_config(args.eval.config.as_deref(), printer)?;
    let history = pipeline::open_history(&args.eval, true)?;
    let listed = listed_customers(&args, &config)?;
    let endpoints = base.endpoints.clone();
    // Checked before signing in: the route needs the app's own credential or a refresh token (a
    // `--device-code` sign-in fills the store as the partner signs in).
    let route = CustomerTokenRoute::from_settings(&base);
    let tokens =
        CustomerTokens::new(&base, route).map_err(|e| CommandError::Usage(e.to_string()))?;
    let (partner_client, partner_identity) = pipeline::connect_with(
        base.clone(),
        usize::from(args.connection.max_in_flight),
        printer,
    )
    .await?;
    let partner = partner_identity.tenant_id.clone();
    let pacer = Arc::new(Pacer::new(APP_WIDE_LOG_RATE.0, APP_WIDE_LOG_RATE.1));
    let style = pipeline::output_style(args.eval.output.as_deref());
    let spool = FleetSpool::new(format, style).map_err(|e| {
        CommandError::Io(format!("cannot create the fleet report's spool file: {e}"))
    })?;
    let fail_on = args.eval.fail_on.unwrap_or(FailOn::High);
    let progress = printer.spinner("fleet: partner side");
    let mut shared = Shared {
        args: &args,
        config: &config,
        history: history.as_ref(),
        printer,
        endpoints,
        tokens,
        route,
        pacer,
        spool: Mutex::new(spool),
        as_of,
        fail_on,
        partner: partner.clone(),
        partner_name: None,
        status: Mutex::new(Status::default()),
        progress,
    };

    // The partner side first: its relationships say which customers to audit, and with which roles.
    let (partner_exit, partner_name, gdap_customers) =
        audit_partner(&shared, &partner_client, partner_identity).await?;
    shared.partner_name = partner_name;
    let targets = targets(gdap_customers, listed, &config, &partner);
    if targets.is_empty() {
        printer.warn("no customer to audit: no live GDAP relationship was read and none was listed (--customers or [fleet] include)");
    }
    lock(&shared.status).total = targets.len();
    let max = usize::from(args.max_tenants).max(1);
    let shared_ref = &shared;
    let exits: Vec<u8> = futures::stream::iter(targets)
        .map(|t| audit_customer(shared_ref, t))
        .buffer_unordered(max)
        .collect()
        .await;
    shared.progress.finish();
    let throttled = lock(&shared.status).throttled;
    if throttled > 0 {
        printer.info(format!(
            "Graph throttled {throttled} request(s) over the fleet; each was retried after the pause Graph asked for"
        ));
    }

    let head = FleetHead {
        generated_at: Utc::now(),
        as_of,
        partner_tenant_id: partner.to_string(),
        partner_tenant_name: shared.partner_name.clone(),
    };
    let spool = shared.spool.into_inner().unwrap_or_else(|e| e.into_inner());
    write_report(spool, head, args.eval.output.as_deref(), printer)?;
    Ok(worst_exit(std::iter::once(partner_exit).chain(exits)))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `--customers`, else `[fleet] include`; `None` for "every GDAP customer".
fn listed_customers(
    args: &FleetArgs,
    config: &Config,
) -> Result<Option<Vec<TenantId>>, CommandError> {
    let raw: &[String] = if args.customers.is_empty() {
        &config.fleet.include
    } else {
        &args.customers
    };
    if raw.is_empty() {
        return Ok(None);
    }
    raw.iter()
        .map(|t| {
            TenantId::parse(t).ok_or_else(|| {
                CommandError::Usage(format!(
                    "customer {t:?} is not a tenant id (a GUID); list customers by tenant id"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The customers to audit: the listed ones (with the relationships known for them), else every
/// customer with a live relationship; minus `[fleet] exclude` and the partner itself.
fn targets(
    gdap: BTreeMap<TenantId, (Option<String>, Vec<FleetRelationship>)>,
    listed: Option<Vec<TenantId>>,
    config: &Config,
    partner: &TenantId,
) -> Vec<Target> {
    let excluded: Vec<TenantId> = config
        .fleet
        .exclude
        .iter()
        .filter_map(|t| TenantId::parse(t))
        .collect();
    let mut gdap = gdap;
    let chosen: Vec<(TenantId, Option<String>, Vec<FleetRelationship>)> = match listed {
        Some(list) => {
            let mut list = list;
            list.sort();
            list.dedup();
            list.into_iter()
                .map(|t| {
                    let (name, rels) = gdap.remove(&t).unwrap_or_default();
                    (t, name, rels)
                })
                .collect()
        }
        None => gdap.into_iter().map(|(t, (n, r))| (t, n, r)).collect(),
    };
    chosen
        .into_iter()
        .filter(|(t, _, _)| !excluded.contains(t) && t != partner)
        .map(|(tenant_id, name, relationships)| Target {
            tenant_id,
            name,
            relationships,
        })
        .collect()
}

/// The partner-side audit: recorded and reported like `scan --perspective partner`. Returns its exit
/// code, the partner's name and its live relationships by customer.
async fn audit_partner(
    shared: &Shared<'_>,
    client: &GraphClient,
    partner: audit::Identity,
) -> Result<
    (
        u8,
        Option<String>,
        BTreeMap<TenantId, (Option<String>, Vec<FleetRelationship>)>,
    ),
    CommandError,
> {
    let mut plan = TenantAudit::identified(partner, shared.as_of, Utc::now());
    plan.perspective = PerspectiveMode::Partner;
    plan.since_days = shared.args.since;
    let outcome = audit::run(client, &plan, shared.config, shared.history, |audited| {
        let customers = live_customers(&audited.snapshot);
        let (row, record) = deliver(shared, audited, FleetRole::Partner, Vec::new())?;
        Ok::<_, CommandError>(Delivery {
            value: (
                row.exit_code,
                audited.snapshot.tenant_name.clone(),
                customers,
            ),
            record,
        })
    })
    .await?;
    let exit = recorded_exit(
        &outcome.recording,
        outcome.delivered.0,
        shared.printer,
        "partner",
    );
    let (_, name, customers) = outcome.delivered;
    Ok((exit, name, customers))
}

/// Every customer with a live relationship, its name and the relationships' roles.
fn live_customers(snap: &Snapshot) -> BTreeMap<TenantId, (Option<String>, Vec<FleetRelationship>)> {
    let mut out: BTreeMap<TenantId, (Option<String>, Vec<FleetRelationship>)> = BTreeMap::new();
    let Some(p) = &snap.partner else {
        return out;
    };
    for rec in crate::rules::common::live(&p.relationships) {
        let rel = &rec.relationship;
        let Some(customer) = &rel.customer else {
            continue;
        };
        let Some(tenant) = TenantId::parse(&customer.tenant_id) else {
            continue;
        };
        let entry = out.entry(tenant).or_default();
        if entry.0.is_none() {
            entry.0 = customer
                .display_name
                .clone()
                .filter(|n| !n.trim().is_empty());
        }
        entry.1.push(FleetRelationship {
            id: rel.id.clone(),
            display_name: Some(rel.display_name.clone()).filter(|n| !n.is_empty()),
            roles: rel.access_details.role_ids(),
        });
    }
    out
}

/// Build the tenant's report (with its findings' lifecycle), spool its rendering, send its changes to
/// the webhook when one is configured; its overview row, and whether the run may be recorded.
fn deliver(
    shared: &Shared<'_>,
    audited: &Audited,
    role: FleetRole,
    ga_partners: Vec<GlobalAdminPartner>,
) -> Result<(TenantRow, bool), CommandError> {
    let Audited {
        snapshot: snap,
        evaluation,
        lifecycle,
        spool_error,
    } = audited;
    if let Some(e) = spool_error {
        shared.printer.warn(format!(
            "{}: {e}; this run's partner sign-ins are not kept, so the next run reads its whole window",
            snap.tenant_id
        ));
    }
    let report = pipeline::tenant_report(
        audited,
        shared.config,
        shared.fail_on,
        shared.args.eval.changes_only,
    );
    let mut exit_code = pipeline::exit_code(evaluation, &report, shared.fail_on);
    // As `scan`: changes that could not be delivered keep the run unrecorded, to be sent next time.
    let record = pipeline::notify(
        &report,
        lifecycle.is_some(),
        &mut exit_code,
        shared.printer,
        Some(&snap.tenant_id),
    );
    let gaps = report.coverage_gaps().count();
    let row = TenantRow {
        tenant_id: report.tenant_id.clone(),
        tenant_name: report.tenant_name.clone(),
        role,
        state: if gaps == 0 {
            TenantState::Complete
        } else {
            TenantState::Incomplete
        },
        coverage_gaps: gaps,
        summary: report.summary,
        partners_with_global_admin: ga_partners,
        error: None,
        exit_code,
    };
    lock(&shared.spool).add(row.clone(), &report).map_err(|e| {
        CommandError::Io(format!("cannot write the fleet report's spool file: {e}"))
    })?;
    Ok((row, record))
}

/// A customer's audit, start to end; every failure ends as that customer's row. Returns its exit code.
async fn audit_customer(shared: &Shared<'_>, target: Target) -> u8 {
    let label = target
        .name
        .clone()
        .unwrap_or_else(|| target.tenant_id.to_string());
    {
        let mut st = lock(&shared.status);
        st.running
            .insert(target.tenant_id.to_string(), label.clone());
        show(&shared.progress, &st);
    }
    let (exit, throttled) = match audit_customer_inner(shared, &target).await {
        Ok(done) => done,
        Err(reason) => (failed(shared, &target, reason), 0),
    };
    let mut st = lock(&shared.status);
    st.running.remove(target.tenant_id.as_str());
    st.done += 1;
    st.throttled = st.throttled.saturating_add(throttled);
    show(&shared.progress, &st);
    exit
}

fn show(progress: &Progress, st: &Status) {
    let names: Vec<&str> = st.running.values().map(String::as_str).take(4).collect();
    let more = st.running.len().saturating_sub(names.len());
    progress.set(format!(
        "fleet: {}/{} customers done; auditing {}{}{}",
        st.done,
        st.total,
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if st.throttled > 0 {
            format!("; {} throttling pause(s)", st.throttled)
        } else {
            String::new()
        }
    ));
}

/// `Err` carries why the customer could not be audited (with a hint).
async fn audit_customer_inner(shared: &Shared<'_>, target: &Target) -> Result<(u8, u64), String> {
    let tokens = customer_tokens(shared, &target.tenant_id)?;
    let client = customer_client(shared, tokens.clone())?;
    let probe =
        audit::probe_client(shared.endpoints.clone(), tokens.clone()).map_err(|e| e.to_string())?;
    let identity = audit::identify(tokens.as_ref(), &probe, target.tenant_id.as_str())
        .await
        .map_err(|e| e.to_string())?;
    let mut plan = TenantAudit::identified(identity, shared.as_of, Utc::now());
    plan.perspective = PerspectiveMode::Customer;
    plan.since_days = shared.args.since;
    plan.delegated_via_gdap = shared.route == CustomerTokenRoute::RefreshToken;
    plan.fleet = Some(FleetView {
        partner_tenant_id: shared.partner.to_string(),
        partner_name: shared.partner_name.clone(),
        relationships: target.relationships.clone(),
    });
    let outcome = audit::run(&client, &plan, shared.config, shared.history, |audited| {
        let ga = global_admin_partners(&audited.snapshot, &shared.partner);
        let (row, record) = deliver(shared, audited, FleetRole::Customer, ga)?;
        Ok::<_, CommandError>(Delivery {
            value: row.exit_code,
            record,
        })
    })
    .await
    .map_err(|e| e.to_string())?;
    let exit = recorded_exit(
        &outcome.recording,
        outcome.delivered,
        shared.printer,
        target.tenant_id.as_str(),
    );
    Ok((exit, client.stats().throttled))
}

/// A token provider for the customer tenant: the app's credentials (app-only; the app must be consented
/// there) or the partner admin's refresh token (GDAP), against the customer's token endpoint.
fn customer_tokens(
    shared: &Shared<'_>,
    tenant: &TenantId,
) -> Result<Arc<dyn TokenProvider>, String> {
    shared
        .tokens
        .provider(tenant.as_str())
        .map_err(|e| e.to_string())
}

fn customer_client(
    shared: &Shared<'_>,
    tokens: Arc<dyn TokenProvider>,
) -> Result<GraphClient, String> {
    let mut cs = ClientSettings::new(shared.endpoints.clone());
    cs.max_in_flight = usize::from(shared.args.connection.max_in_flight).max(1);
    cs.app_log_pacer = Some(shared.pacer.clone());
    GraphClient::new(cs, tokens).map_err(|e| e.to_string())
}

/// The history's say on the tenant's exit code: a run that could not be recorded is incomplete.
fn recorded_exit(recording: &audit::Recording, exit: u8, printer: &Printer, who: &str) -> u8 {
    match recording {
        audit::Recording::Failed(e) => {
            printer.error(format!(
                "{who}: the report was written, but the run was not recorded in the history: {e}"
            ));
            if exit == super::EXIT_CLEAN {
                EXIT_INCOMPLETE
            } else {
                exit
            }
        }
        _ => exit,
    }
}

/// Partners the customer side shows with Global Administrator (constraints or role assignments),
/// Microsoft Support excluded.
fn global_admin_partners(snap: &Snapshot, auditing: &TenantId) -> Vec<GlobalAdminPartner> {
    let Some(c) = &snap.customer else {
        return Vec::new();
    };
    let mut tenants: Vec<String> = c
        .partners
        .iter()
        .filter(|p| !p.is_microsoft_support())
        .map(|p| p.tenant_id.clone())
        .chain(
            c.foreign_role_assignments
                .iter()
                .map(|a| a.home_tenant_id.clone()),
        )
        .collect();
    tenants.sort();
    tenants.dedup();
    tenants
        .into_iter()
        .filter(|t| {
            crate::rules::common::partner_roles(c, t)
                .iter()
                .any(|r| r.eq_ignore_ascii_case(GLOBAL_ADMIN))
        })
        .map(|t| GlobalAdminPartner {
            name: c.partner(&t).and_then(|p| p.display_name.clone()),
            auditing_partner: auditing.as_str() == t,
            tenant_id: t,
        })
        .collect()
}

/// A customer that could not be audited: its report is every customer-side source as a gap with the
/// reason, so each rule is listed as not evaluated, never clean. Not recorded in the history (it is
/// not a run of that tenant). Exit 3.
fn failed(shared: &Shared<'_>, target: &Target, reason: String) -> u8 {
    let now = Utc::now();
    let detail = format!("The customer could not be audited: {reason}");
    let snap = Snapshot {
        snapshot_version: SNAPSHOT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        tenant_id: target.tenant_id.to_string(),
        tenant_name: target.name.clone(),
        collected_at: now,
        as_of: shared.as_of,
        window: Window {
            since: shared.as_of,
            until: shared.as_of,
        },
        perspectives: vec![Perspective::Customer],
        partner: None,
        customer: None,
        // The customer sources a fleet reads: Azure is not audited in a fleet (see docs/fleet.md), so it
        // is not a gap here either.
        coverage: Source::ALL
            .iter()
            .filter(|s| s.perspective() == Perspective::Customer && !s.is_azure())
            .map(|s| Coverage {
                source: *s,
                status: CoverageStatus::Failed,
                detail: Some(detail.clone()),
                graph_code: None,
                request_id: None,
                permission: None,
                items: None,
            })
            .collect(),
        fleet: None,
    };
    let evaluation = evaluate(&snap, shared.config, &HistoryView::default(), shared.as_of);
    let header = ReportHeader::from_snapshot(&snap).with_settings(
        shared.config,
        shared.fail_on.into(),
        &snap.window,
    );
    let mut report = report::build(&header, &evaluation, now);
    report.warnings.insert(0, detail);
    let row = TenantRow {
        tenant_id: report.tenant_id.clone(),
        tenant_name: report.tenant_name.clone(),
        role: FleetRole::Customer,
        state: TenantState::Failed,
        coverage_gaps: report.coverage_gaps().count(),
        summary: report.summary,
        partners_with_global_admin: Vec::new(),
        error: Some(reason.clone()),
        exit_code: EXIT_INCOMPLETE,
    };
    shared.printer.warn(format!(
        "customer {} ({}) not audited: {reason}",
        target.name.as_deref().unwrap_or("(unnamed)"),
        target.tenant_id
    ));
    if let Err(e) = lock(&shared.spool).add(row, &report) {
        shared
            .printer
            .error(format!("cannot write the fleet report's spool file: {e}"));
    }
    EXIT_INCOMPLETE
}

fn write_report(
    spool: FleetSpool,
    head: FleetHead,
    output: Option<&std::path::Path>,
    printer: &Printer,
) -> Result<(), CommandError> {
    match output.filter(|p| !files::is_stdout(p)) {
        Some(path) => {
            files::write_atomic_with(path, |w| spool.finish(head, w).map(|_| ()))
                .map_err(|e| CommandError::Io(format!("cannot write {}: {e}", path.display())))?;
            printer.info(format!("fleet report written to {}", path.display()));
            Ok(())
        }
        None => pipeline::write_stdout_with(|out| spool.finish(head, out).map(|_| ())),
    }
}
