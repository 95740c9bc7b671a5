//! `demo`: a real scan, through the real client, of two made-up tenants served by the loopback fake
//! Graph. No credentials, no network.

use secrecy::SecretString;

use super::CommandError;
use super::pipeline::{self, Outcome};
use crate::audit;
use crate::auth::{self, AuthSettings};
use crate::cli::{CollectionArgs, DemoArgs, DemoTenant, FailOn, PerspectiveArg};
use crate::collect::AzureAccess;
use crate::graph::{Cloud, Endpoints};
use crate::printer::Printer;
use crate::report::Format;
use crate::report::fleet::worst_exit;
use fake_graph::{FakeApp, FakeGraph, FakeGraphConfig, FakeTenant};

include!(concat!(env!("OUT_DIR"), "/demo_fixtures.rs"));

/// The demo's clock: the fixtures are dated relative to it.
pub const DEMO_AS_OF: &str = "2026-11-23T12:00:00Z";
const DEMO_CLIENT_ID: &str = "d3a0c0de-0000-4000-8000-00000000d3a0";

/// The demo tenants' fixture files (`partner/...`, `customer/...`).
fn tenant(dir: &str) -> Result<FakeTenant, CommandError> {
    let prefix = format!("{dir}/");
    let files: Vec<(&str, &str)> = DEMO_FILES
        .iter()
        .filter_map(|(path, text)| {
            path.strip_prefix(prefix.as_str())
                .filter(|name| name.ends_with(".json"))
                .map(|name| (name, *text))
        })
        .collect();
    FakeTenant::from_sources(&files)
        .map_err(|e| CommandError::Config(format!("fixtures/demo/{dir}: {e}")))
}

fn demo_config() -> Option<&'static str> {
    DEMO_FILES
        .iter()
        .find(|(p, _)| *p == "gdap-audit.toml")
        .map(|(_, t)| *t)
}

pub async fn run(args: DemoArgs, printer: &Printer) -> Result<u8, CommandError> {
    if args.fleet {
        return run_fleet(args, printer).await;
    }
    let machine = matches!(
        args.eval.format,
        Format::Json | Format::Sarif | Format::Csv | Format::Html
    );
    if args.tenant == DemoTenant::Both
        && (machine
            || args.eval.output.is_some()
            || !args.eval.reports.is_empty()
            || args.save_snapshot.is_some())
    {
        return Err(CommandError::Usage(format!(
            "the demo audits two tenants; with --format {}, --output, --report or --save-snapshot pick one with --tenant partner or --tenant customer",
            args.eval.format
        )));
    }
    super::outputs::check(&args.eval)?;
    let as_of = pipeline::as_of(Some(args.eval.as_of.as_deref().unwrap_or(DEMO_AS_OF)))?;
    let config = match &args.eval.config {
        Some(path) => pipeline::load_config(Some(path), printer)?,
        None => match demo_config() {
            Some(text) => {
                crate::config::Config::from_toml_str(text, "fixtures/demo/gdap-audit.toml")
                    .map_err(|e| CommandError::Config(e.to_string()))?
            }
            None => crate::config::Config::default(),
        },
    };
    // The demo keeps no history unless asked (`--history PATH`): it must not touch the user's real one.
    let history = pipeline::open_history(&args.eval, false)?;

    let partner = tenant("partner")?;
    let customer = tenant("customer")?;
    let chosen: Vec<(&str, String)> = match args.tenant {
        DemoTenant::Partner => vec![("partner", partner.tenant_id.clone())],
        DemoTenant::Customer => vec![("customer", customer.tenant_id.clone())],
        DemoTenant::Both => vec![
            ("partner", partner.tenant_id.clone()),
            ("customer", customer.tenant_id.clone()),
        ],
    };
    // A throwaway secret, known only to this process and the fake.
    let secret = uuid::Uuid::new_v4().to_string();
    let fake = FakeGraph::start(FakeGraphConfig::new(
        vec![partner, customer],
        FakeApp::with_secret(DEMO_CLIENT_ID, secret.clone()),
    ))
    .await
    .map_err(|e| {
        CommandError::Io(format!(
            "cannot start the demo's fake Graph on 127.0.0.1: {e}"
        ))
    })?;
    let endpoints = Endpoints::resolve(Cloud::Global, Some(&fake.url()), Some(&fake.url()))
        .map_err(CommandError::Usage)?;
    printer.info(format!(
        "demo: fake Microsoft Graph on {} (loopback only), clock {as_of}",
        fake.url()
    ));

    let fail_on = args.eval.fail_on.unwrap_or(FailOn::Never);
    let mut eval = args.eval.clone();
    eval.fail_on = Some(fail_on);
    let mut worst = super::EXIT_CLEAN;
    for (i, (kind, tenant_id)) in chosen.iter().enumerate() {
        let mut settings = AuthSettings::new(tenant_id.clone(), endpoints.clone());
        settings.client_id = Some(DEMO_CLIENT_ID.into());
        settings.client_secret = Some(SecretString::from(secret.clone()));
        let tokens = auth::provider(settings, reqwest::Client::new())
            .map_err(|e| CommandError::Auth(e.to_string()))?;
        let client = audit::client_for(endpoints.clone(), tokens.clone(), 4)?;
        // Azure Resource Manager is served by the same fake under its own root, with its own scope.
        let arm_endpoints = endpoints.for_resource(&fake.arm_url());
        let mut arm_settings = AuthSettings::new(tenant_id.clone(), arm_endpoints.clone());
        arm_settings.client_id = Some(DEMO_CLIENT_ID.into());
        arm_settings.client_secret = Some(SecretString::from(secret.clone()));
        let arm_tokens = auth::provider(arm_settings, reqwest::Client::new())
            .map_err(|e| CommandError::Auth(e.to_string()))?;
        let azure = AzureAccess::Client(audit::client_for(arm_endpoints, arm_tokens, 4)?);
        let identity = pipeline::identify(tokens.as_ref(), &client, tenant_id, printer).await?;
        let collection = CollectionArgs {
            perspective: if *kind == "partner" {
                PerspectiveArg::Partner
            } else {
                PerspectiveArg::Customer
            },
            since: 30,
        };
        // The demo's collection time is its clock, so its output is reproducible.
        let spinner = printer.spinner("collecting");
        let mut plan = pipeline::tenant_audit(identity, &collection, as_of, as_of, &spinner);
        plan.azure = Some(azure);
        let report = pipeline::deliver(&eval, &config, printer, fail_on);
        let outcome = audit::run(&client, &plan, &config, history.as_ref(), |audited| {
            spinner.finish();
            let snap = &audited.snapshot;
            if let Some(path) = &args.save_snapshot {
                pipeline::save_snapshot(snap, path, printer)?;
            }
            if i > 0 && matches!(eval.format, Format::Table | Format::Markdown) {
                pipeline::write_stdout("\n")?;
            }
            if matches!(eval.format, Format::Table) {
                let title = snap
                    .tenant_name
                    .clone()
                    .unwrap_or_else(|| snap.tenant_id.clone());
                pipeline::write_stdout(&format!("== {} perspective: {} ==\n", kind, title))?;
            }
            report(audited)
        })
        .await?;
        let Outcome { exit_code, .. } = pipeline::recorded(outcome, history.as_ref(), printer);
        worst = worst_exit([worst, exit_code]);
    }
    fake.shutdown();
    Ok(worst)
}

/// 1 outranks 3 outranks 0.
/// `demo --fleet`: the real `fleet` command against the fake fleet (the demo partner and
/// `--customers` made-up customers, see `fake_graph::fleet`).
async fn run_fleet(args: DemoArgs, printer: &Printer) -> Result<u8, CommandError> {
    use crate::cli::{ConnectionArgs, FleetArgs};
    use fake_graph::fleet::{FLEET_CLIENT_ID, FLEET_SECRET, PARTNER_TENANT};

    let spec = fake_graph::FleetSpec {
        customers: usize::from(args.customers),
    };
    let fake = FakeGraph::start(fake_graph::fleet(&spec).into_config())
        .await
        .map_err(|e| {
            CommandError::Io(format!(
                "cannot start the demo's fake Graph on 127.0.0.1: {e}"
            ))
        })?;
    let endpoints = Endpoints::resolve(Cloud::Global, Some(&fake.url()), Some(&fake.url()))
        .map_err(CommandError::Usage)?;
    printer.info(format!(
        "demo: fake Microsoft Graph on {} (loopback only) with a partner and {} customers",
        fake.url(),
        args.customers
    ));
    let mut eval = args.eval;
    eval.as_of = Some(eval.as_of.unwrap_or_else(|| DEMO_AS_OF.to_owned()));
    eval.fail_on = Some(eval.fail_on.unwrap_or(FailOn::Never));
    // The demo keeps no history unless asked (`--history PATH`): it must not touch the user's real one.
    eval.no_history = eval.history.is_none();
    let fleet_args = FleetArgs {
        connection: ConnectionArgs {
            tenant: Some(PARTNER_TENANT.to_owned()),
            client_id: Some(FLEET_CLIENT_ID.to_owned()),
            certificate: None,
            assertion_alg: Default::default(),
            federated_token_file: None,
            device_code: false,
            credential: None,
            refresh_token_file: None,
            cloud: Cloud::Global,
            arm_url: None,
            graph_url: Some(fake.url()),
            login_url: Some(fake.url()),
            max_in_flight: 4,
        },
        since: 30,
        eval,
        customers: Vec::new(),
        max_tenants: 8,
    };
    let mut base = AuthSettings::new(PARTNER_TENANT, endpoints);
    base.client_id = Some(FLEET_CLIENT_ID.into());
    base.client_secret = Some(SecretString::from(FLEET_SECRET));
    let code = super::fleet::run_with(fleet_args, base, printer).await;
    fake.shutdown();
    code
}
