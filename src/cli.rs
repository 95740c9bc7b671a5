//! Command-line definitions (clap). Secrets never have flags: they come from the environment only, and
//! `--help` never prints environment values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::{AssertionAlg, CredentialKind};
use crate::graph::Cloud;
use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "gdap-audit",
    version,
    about = "Audit Microsoft 365 / Entra ID partner delegated-admin access (GDAP, legacy DAP)",
    long_about = "Audit Microsoft 365 / Entra ID partner delegated-admin access: GDAP relationships, legacy DAP, \
and everything a CSP/MSP can do in a customer tenant (MITRE ATT&CK T1199, Trusted Relationship).\n\n\
Run it from the partner tenant (an MSP reviewing its relationships) or from a customer tenant \
(an admin reviewing who can administer it). Try `gdap-audit demo` first: it needs no credentials.",
    after_help = "Exit codes: 0 nothing at or above --fail-on and coverage complete; 1 findings at or above --fail-on; \
2 usage, configuration or authentication error, Graph unreachable (nothing audited), or a report that could not be \
written; 3 audited, nothing at or above --fail-on, but some sources could not be read, the run could not be recorded \
in the history, or the changes webhook failed."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print only the report and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr (-v: requests and retries; -vv: everything). Secrets are never printed.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars, even on a terminal.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect from Graph and evaluate (the main job).
    Scan(ScanArgs),
    /// Collect only; write a snapshot file for `evaluate` or `diff`.
    Collect(CollectArgs),
    /// Evaluate a saved snapshot offline.
    Evaluate(EvaluateArgs),
    /// Compare two snapshots, or the last two runs in history.
    Diff(DiffArgs),
    /// List the rules, or explain one.
    Rules(RulesArgs),
    /// From the partner tenant: the partner-side audit and the customer-side audit of every GDAP
    /// customer, in one run and one report.
    Fleet(FleetArgs),
    /// Run a scan against the built-in fake Graph loaded with demo tenants (no credentials, no network).
    Demo(DemoArgs),
    /// Print the JSON Schema of the report (or of the configuration file with --config).
    Schema(SchemaArgs),
    /// Inspect or prune the audit history.
    History(HistoryArgs),
    /// Print a shell completion script, e.g. `gdap-audit completions bash > /etc/bash_completion.d/gdap-audit`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a directory with --dir.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write gdap-audit.1 and one page per subcommand (gdap-audit-scan.1, ...) into DIR instead of
    /// printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// One more report of the same run (`--report FORMAT=PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTarget {
    pub format: Format,
    /// `-` for stdout.
    pub path: PathBuf,
}

/// Parses `FORMAT=PATH`; the error says what is wrong with this one argument.
pub fn parse_report_target(raw: &str) -> Result<ReportTarget, String> {
    let formats = || {
        Format::value_variants()
            .iter()
            .filter_map(|f| f.to_possible_value())
            .map(|v| v.get_name().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((format, path)) = raw.split_once('=') else {
        return Err(format!(
            "expected FORMAT=PATH, e.g. json=report.json or sarif=- (formats: {})",
            formats()
        ));
    };
    let format = Format::from_str(format.trim(), true).map_err(|_| {
        format!(
            "unknown format {:?} before '=' (formats: {})",
            format.trim(),
            formats()
        )
    })?;
    if path.is_empty() {
        return Err(format!(
            "no PATH after '{format}=': give a file, e.g. {format}=report.{format}, or - for stdout"
        ));
    }
    Ok(ReportTarget {
        format,
        path: PathBuf::from(path),
    })
}

/// Which side to audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PerspectiveArg {
    /// The MSP/CSP tenant: its GDAP relationships with customers.
    Partner,
    /// The audited customer tenant: which partners can act in it.
    Customer,
    /// Both where the credentials allow; what cannot be read is recorded in coverage.
    #[default]
    Auto,
}

/// The evaluation threshold for exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    High,
    Medium,
    Low,
    Info,
    Never,
}

#[derive(Debug, Args, Clone)]
pub struct ConnectionArgs {
    /// Tenant to audit: id or verified domain.
    #[arg(long, env = "AZURE_TENANT_ID", hide_env_values = true)]
    pub tenant: Option<String>,
    /// App (client) id of the app registration.
    #[arg(long, env = "AZURE_CLIENT_ID", hide_env_values = true)]
    pub client_id: Option<String>,
    /// Certificate file for the client assertion: PEM with the private key and the certificate, or
    /// PFX/PKCS#12; an encrypted one opens with AZURE_CLIENT_CERTIFICATE_PASSWORD.
    #[arg(
        long,
        env = "AZURE_CLIENT_CERTIFICATE_PATH",
        hide_env_values = true,
        value_name = "PEM|PFX"
    )]
    pub certificate: Option<PathBuf>,
    /// Signature of the certificate assertion: ps256 (x5t#S256) or the older rs256 (x5t).
    #[arg(long, value_enum, default_value_t = AssertionAlg::Ps256)]
    pub assertion_alg: AssertionAlg,
    /// File holding a federated (workload identity) token to use as the client assertion.
    #[arg(
        long,
        env = "AZURE_FEDERATED_TOKEN_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub federated_token_file: Option<PathBuf>,
    /// Sign in interactively with a device code (delegated); the code is shown on stderr.
    #[arg(long)]
    pub device_code: bool,
    /// Use only this credential instead of the default chain (refresh token, access token, certificate,
    /// secret, federated, github, managed identity, Azure CLI; docs/credentials.md). `-v` shows the
    /// choice.
    #[arg(long, value_enum, value_name = "NAME")]
    pub credential: Option<CredentialKind>,
    /// A partner admin's refresh token (Secure Application Model) is read from FILE, which must be
    /// readable by its owner only (chmod 600), instead of GDAP_AUDIT_REFRESH_TOKEN; newer tokens are
    /// written back. With --device-code, the sign-in's refresh token is saved to FILE.
    #[arg(long, value_name = "FILE")]
    pub refresh_token_file: Option<PathBuf>,
    /// Microsoft cloud.
    #[arg(long, value_enum, default_value_t = Cloud::Global)]
    pub cloud: Cloud,
    /// Override the Graph root (requests go to URL/v1.0 and URL/beta; scope URL/.default). http only for loopback.
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,
    /// Override the login root (tokens from URL/{tenant}/oauth2/v2.0/token). http only for loopback.
    #[arg(long, value_name = "URL")]
    pub login_url: Option<String>,
    /// Override the Azure Resource Manager root (Azure Lighthouse and Azure role assignments; scope
    /// URL/.default). http only for loopback. With --graph-url but without this, Azure is not audited.
    #[arg(long, value_name = "URL")]
    pub arm_url: Option<String>,
    /// Graph requests in flight at once for the tenant.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub max_in_flight: u16,
}

#[derive(Debug, Args, Clone)]
pub struct CollectionArgs {
    /// Which side to audit.
    #[arg(long, value_enum, default_value_t = PerspectiveArg::Auto)]
    pub perspective: PerspectiveArg,
    /// Log lookback in days, relative to --as-of.
    #[arg(long, default_value_t = 30, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub since: u32,
}

#[derive(Debug, Args, Clone)]
pub struct EvalArgs {
    /// Configuration file (default: ./gdap-audit.toml when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to FILE (created private, replaced atomically; `-` for stdout) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the report in FORMAT to PATH (repeatable), besides --format/--output: e.g.
    /// `--report json=out.json --report sarif=out.sarif`. Files are private and replaced atomically;
    /// `-` is stdout, once per run (only when --output names a file).
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report_target)]
    pub reports: Vec<ReportTarget>,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// The evaluation clock (RFC 3339), default now.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// History database (default: in the user's data directory; `demo`: none).
    #[arg(long, value_name = "PATH", conflicts_with = "no_history")]
    pub history: Option<PathBuf>,
    /// Do not read or write history.
    #[arg(long)]
    pub no_history: bool,
    /// Report only what changed since the previous run in the history: new, reopened and resolved
    /// findings (json, jsonl, markdown, table). Needs history. A webhook (GDAP_AUDIT_WEBHOOK_URL) always
    /// gets only the changes.
    #[arg(long)]
    pub changes_only: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub collection: CollectionArgs,
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Also write the collected snapshot to FILE.
    #[arg(long, value_name = "FILE")]
    pub save_snapshot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The partner tenant's connection. Customers are reached with a partner admin's refresh token
    /// (GDAP_AUDIT_REFRESH_TOKEN, --refresh-token-file or --device-code) when one is given, else with
    /// the credentials of a multi-tenant app consented in each customer (docs/fleet.md).
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Log lookback in days, relative to --as-of.
    #[arg(long, default_value_t = 30, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub since: u32,
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Audit only these customers (tenant ids; repeat or separate with commas) instead of every customer
    /// with a live GDAP relationship. Replaces `[fleet] include` in the configuration.
    #[arg(long, value_delimiter = ',', value_name = "TENANT_ID")]
    pub customers: Vec<String>,
    /// Customer tenants audited at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_tenants: u16,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub collection: CollectionArgs,
    /// Where to write the snapshot.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The collection clock (RFC 3339), default now.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Snapshot written by `collect` or `scan --save-snapshot`.
    pub snapshot: PathBuf,
    #[command(flatten)]
    pub eval: EvalArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Older snapshot (omit both to compare the last two runs in history).
    #[arg(requires = "new")]
    pub old: Option<PathBuf>,
    /// Newer snapshot.
    pub new: Option<PathBuf>,
    /// Output format: table, json or markdown.
    #[arg(long, value_enum, default_value = "table")]
    pub format: DiffFormat,
    /// History database (when comparing runs).
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Tenant whose runs to compare (required when the history holds several).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Configuration both snapshot files are evaluated with, to compare their findings (default:
    /// ./gdap-audit.toml when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The clock both snapshot files are evaluated at (RFC 3339), default the newer snapshot's as-of.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub action: Option<RulesAction>,
    /// Output format for the list.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

/// Table for people, JSON for scripts (`rules`, `history list`, `history show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// List every rule (the default).
    List,
    /// Print a rule's full metadata: rationale, remediation, sources, config keys, references.
    Explain {
        /// Rule id, e.g. global-admin-granted.
        id: String,
    },
}

/// Which demo tenant to audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DemoTenant {
    /// Northwind Managed Services, an MSP with customers (partner perspective).
    Partner,
    /// Contoso Pharmaceuticals, a customer with several partners (customer perspective).
    Customer,
    /// Both, one report after the other (human formats only).
    #[default]
    Both,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Which demo tenant to audit.
    #[arg(long, value_enum, default_value_t = DemoTenant::Both)]
    pub tenant: DemoTenant,
    /// Run `fleet` instead: the demo partner and a fleet of made-up customers (some consented, one
    /// not, one unlicensed, one where another partner holds Global Administrator, one throttling hard).
    #[arg(long, conflicts_with_all = ["tenant", "save_snapshot"])]
    pub fleet: bool,
    /// How many customers the `--fleet` demo has.
    #[arg(long, default_value_t = 12, requires = "fleet", value_parser = clap::value_parser!(u16).range(1..=2000))]
    pub customers: u16,
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Also write the collected snapshot to FILE (single tenant only).
    #[arg(long, value_name = "FILE")]
    pub save_snapshot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print the configuration file's schema instead of the report's.
    #[arg(long, conflicts_with = "fleet")]
    pub config: bool,
    /// Print the schema of `fleet --format json`'s document instead of the report's.
    #[arg(long)]
    pub fleet: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub action: HistoryAction,
    /// History database (default: in the user's data directory).
    #[arg(long, value_name = "PATH", global = true)]
    pub history: Option<PathBuf>,
    /// Output format of `list` and `show`.
    #[arg(long, value_enum, default_value_t = ListFormat::Table, global = true)]
    pub format: ListFormat,
}

#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// List recorded runs, newest first.
    List {
        /// Only this tenant's runs.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show one run: relationships, partners, coverage, findings.
    Show {
        /// Run id from `history list`.
        run: i64,
    },
    /// Delete all but the newest N runs of each tenant and perspective.
    Prune {
        #[arg(long)]
        keep: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
