//! Command-line definitions (clap). Secrets never have flags: they come from the environment only, and
//! `--help` never prints environment values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::AssertionAlg;
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
2 usage, configuration or authentication error, or Graph unreachable (nothing audited); 3 audited, nothing at or \
above --fail-on, but some sources could not be read or the run could not be recorded in the history."
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
    /// Run a scan against the built-in fake Graph loaded with demo tenants (no credentials, no network).
    Demo(DemoArgs),
    /// Print the JSON Schema of the report (or of the configuration file with --config).
    Schema(SchemaArgs),
    /// Inspect or prune the audit history.
    History(HistoryArgs),
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
    /// PEM file holding the certificate's private key and the certificate (client assertion).
    #[arg(
        long,
        env = "AZURE_CLIENT_CERTIFICATE_PATH",
        hide_env_values = true,
        value_name = "PEM"
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
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// The evaluation clock (RFC 3339), default now.
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// History database (default: in the user's data directory).
    #[arg(long, value_name = "PATH", conflicts_with = "no_history")]
    pub history: Option<PathBuf>,
    /// Do not read or write history.
    #[arg(long)]
    pub no_history: bool,
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
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Also write the collected snapshot to FILE (single tenant only).
    #[arg(long, value_name = "FILE")]
    pub save_snapshot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print the configuration file's schema instead of the report's.
    #[arg(long)]
    pub config: bool,
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
