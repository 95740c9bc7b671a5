//! The fleet report: one section per audited tenant (the partner first, then the customers by name)
//! and a fleet summary.
//!
//! Sections are rendered as each tenant finishes and spooled to an unnamed temporary file; only a small
//! row per tenant stays in memory ([`TenantRow`]), so memory does not grow with the fleet. [`FleetSpool::
//! finish`] writes the summary and then the sections in order.
//!
//! * `json`: a v1-compatible document: `schema_version` "1", `kind` "fleet", the partner tenant, a
//!   `summary`, an `overview` row per tenant, and `tenants`: one full report v1 per tenant.
//! * `jsonl`: one finding per line, each with the audited tenant's id and name (as `scan` writes them).
//! * `table` / `markdown`: the per-tenant overview, then each tenant's report.
//! * `csv`: one header, then every tenant's rows.

use std::io::{Read, Seek, SeekFrom, Write};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::v1::{ReportV1, Summary, Tool};
use super::{Format, Style};

/// The formats a fleet report can be written in.
pub const FLEET_FORMATS: &[Format] = &[
    Format::Table,
    Format::Json,
    Format::Jsonl,
    Format::Markdown,
    Format::Csv,
];

/// Which side a tenant was audited from in the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FleetRole {
    Partner,
    Customer,
}

/// How complete a tenant's audit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantState {
    /// Every source read.
    Complete,
    /// Audited, with coverage gaps.
    Incomplete,
    /// Not audited: no token, or the tenant could not be identified (see its coverage).
    Failed,
}

/// A partner holding Global Administrator in a customer, as the customer side shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct GlobalAdminPartner {
    pub tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it is the partner running the fleet audit (false: another partner).
    pub auditing_partner: bool,
}

/// One tenant's line in the fleet overview.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TenantRow {
    pub tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,
    pub role: FleetRole,
    pub state: TenantState,
    /// Coverage entries that are gaps.
    pub coverage_gaps: usize,
    pub summary: Summary,
    /// Customer side: the partners holding Global Administrator there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners_with_global_admin: Vec<GlobalAdminPartner>,
    /// Why the tenant could not be audited, with a hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The tenant's exit code under `--fail-on`: 0, 1 or 3.
    pub exit_code: u8,
}

impl TenantRow {
    /// Partner first, then customers by name (then id).
    fn sort_key(&self) -> (FleetRole, String, String) {
        (
            self.role,
            self.tenant_name
                .as_deref()
                .unwrap_or(&self.tenant_id)
                .to_lowercase(),
            self.tenant_id.clone(),
        )
    }
}

/// Totals over the fleet.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct FleetSummary {
    /// Tenants in the report (the partner included).
    pub tenants: usize,
    pub complete: usize,
    pub incomplete: usize,
    pub failed: usize,
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub info: u64,
    pub suppressed: u64,
}

/// The fleet document's head (JSON), written before the tenants.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FleetHeader {
    pub schema_version: String,
    /// Always "fleet": a single-tenant report has no `kind`.
    pub kind: String,
    pub tool: Tool,
    pub generated_at: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub partner_tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_tenant_name: Option<String>,
    pub summary: FleetSummary,
    pub overview: Vec<TenantRow>,
}

/// The whole fleet JSON document as `finish` writes it: the head, then `tenants`, one report v1 per
/// tenant in overview order. Only its schema is used (`gdap-audit schema --fleet`,
/// `docs/fleet.schema.json`); the document itself is streamed.
#[derive(JsonSchema)]
#[schemars(
    title = "gdap-audit fleet report v1",
    description = "One `gdap-audit fleet` run: the partner, a summary over the fleet, an overview row per tenant, and `tenants`: one report v1 (report.schema.json) per tenant, the partner first, then the customers by name."
)]
#[expect(dead_code, reason = "a schema description: never built")]
struct FleetDocument {
    #[serde(flatten)]
    head: FleetHeader,
    tenants: Vec<ReportV1>,
}

/// The JSON Schema (draft 2020-12) of the fleet `json` document, as it is written.
#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
pub fn fleet_schema_string() -> String {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let schema = generator.into_root_schema_for::<FleetDocument>();
    let mut s = serde_json::to_string_pretty(&schema).expect("the schema always serializes");
    s.push('\n');
    s
}

/// Rendered sections on disk, and the overview rows in memory.
pub struct FleetSpool {
    format: Format,
    style: Style,
    file: std::fs::File,
    /// (row, offset, length) per tenant.
    sections: Vec<(TenantRow, u64, u64)>,
    written: u64,
}

impl FleetSpool {
    pub fn new(format: Format, style: Style) -> std::io::Result<FleetSpool> {
        Ok(FleetSpool {
            format,
            style,
            file: tempfile::tempfile()?,
            sections: Vec::new(),
            written: 0,
        })
    }

    /// Add one tenant's report. Its rendering goes to disk; the report can be dropped afterwards.
    pub fn add(&mut self, row: TenantRow, report: &ReportV1) -> std::io::Result<()> {
        let text = self.section(&row, report);
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            // A section written in part would shift every later one: cut it off again.
            self.file.set_len(self.written)?;
            self.file.seek(SeekFrom::Start(self.written))?;
            return Err(e);
        }
        let len = u64::try_from(text.len()).unwrap_or(u64::MAX);
        self.sections.push((row, self.written, len));
        self.written = self.written.saturating_add(len);
        Ok(())
    }

    pub fn rows(&self) -> impl Iterator<Item = &TenantRow> {
        self.sections.iter().map(|(r, _, _)| r)
    }

    fn section(&self, row: &TenantRow, report: &ReportV1) -> String {
        match self.format {
            Format::Json => {
                #[expect(
                    clippy::expect_used,
                    reason = "the report is plain data; serializing it cannot fail"
                )]
                let json = serde_json::to_string_pretty(report).expect("the report serializes");
                crate::text::json_escape_hidden(indent(&json, "    "))
            }
            Format::Csv => {
                let csv = super::render(report, Format::Csv, self.style);
                // Every tenant's rows under the one header `finish` writes.
                csv.split_once('\n')
                    .map(|(_, rows)| rows.to_owned())
                    .unwrap_or_default()
            }
            Format::Table => format!(
                "\n== {} {}: {} ==\n{}",
                row.role_label(),
                row.tenant_name.as_deref().unwrap_or("(unnamed)"),
                row.tenant_id,
                super::render(report, Format::Table, self.style)
            ),
            Format::Markdown => {
                let mut md = super::render(report, Format::Markdown, self.style);
                // Each tenant's checklist one heading level down, under the fleet's title.
                md = md
                    .lines()
                    .map(|l| {
                        if l.starts_with('#') {
                            format!("#{l}")
                        } else {
                            l.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                format!("\n{md}\n")
            }
            other => super::render(report, other, self.style),
        }
    }

    /// Write the whole report: summary first, then the sections in order (partner, customers by name).
    pub fn finish(mut self, head: FleetHead, out: &mut dyn Write) -> std::io::Result<FleetSummary> {
        self.sections.sort_by_key(|(r, _, _)| r.sort_key());
        let summary = summarise(self.rows());
        let overview: Vec<TenantRow> = self.rows().cloned().collect();
        match self.format {
            Format::Json => {
                let header = FleetHeader {
                    schema_version: "1".into(),
                    kind: "fleet".into(),
                    tool: Tool {
                        name: "gdap-audit".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                    },
                    generated_at: head.generated_at,
                    as_of: head.as_of,
                    partner_tenant_id: head.partner_tenant_id.clone(),
                    partner_tenant_name: head.partner_tenant_name.clone(),
                    summary: summary.clone(),
                    overview,
                };
                let text = serde_json::to_string_pretty(&header).map_err(std::io::Error::other)?;
                // Open the object again to append `tenants`.
                let text = text.trim_end().trim_end_matches('}').trim_end();
                out.write_all(crate::text::json_escape_hidden(text.to_owned()).as_bytes())?;
                out.write_all(b",\n  \"tenants\": [\n")?;
                let n = self.sections.len();
                for i in 0..n {
                    self.copy_section(i, out)?;
                    out.write_all(if i + 1 < n { b",\n" } else { b"\n" })?;
                }
                out.write_all(b"  ]\n}\n")?;
            }
            Format::Jsonl => {
                for i in 0..self.sections.len() {
                    self.copy_section(i, out)?;
                }
            }
            Format::Csv => {
                out.write_all(super::csv::header_line().as_bytes())?;
                for i in 0..self.sections.len() {
                    self.copy_section(i, out)?;
                }
            }
            Format::Markdown => {
                out.write_all(overview_markdown(&head, &summary, &overview).as_bytes())?;
                for i in 0..self.sections.len() {
                    self.copy_section(i, out)?;
                }
            }
            _ => {
                out.write_all(overview_table(&head, &summary, &overview, self.style).as_bytes())?;
                for i in 0..self.sections.len() {
                    self.copy_section(i, out)?;
                }
            }
        }
        out.flush()?;
        Ok(summary)
    }

    fn copy_section(&mut self, i: usize, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(&(_, offset, len)) = self.sections.get(i) else {
            return Ok(());
        };
        self.file.seek(SeekFrom::Start(offset))?;
        let copied = std::io::copy(&mut (&mut self.file).take(len), out)?;
        if copied != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the fleet report's spool file was cut short",
            ));
        }
        Ok(())
    }
}

/// What the report says of the run as a whole.
#[derive(Debug, Clone)]
pub struct FleetHead {
    pub generated_at: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub partner_tenant_id: String,
    pub partner_tenant_name: Option<String>,
}

impl TenantRow {
    fn role_label(&self) -> &'static str {
        match self.role {
            FleetRole::Partner => "partner",
            FleetRole::Customer => "customer",
        }
    }
}

fn summarise<'a>(rows: impl Iterator<Item = &'a TenantRow>) -> FleetSummary {
    let mut s = FleetSummary::default();
    for r in rows {
        s.tenants += 1;
        match r.state {
            TenantState::Complete => s.complete += 1,
            TenantState::Incomplete => s.incomplete += 1,
            TenantState::Failed => s.failed += 1,
        }
        s.critical = s.critical.saturating_add(r.summary.critical);
        s.high = s.high.saturating_add(r.summary.high);
        s.medium = s.medium.saturating_add(r.summary.medium);
        s.low = s.low.saturating_add(r.summary.low);
        s.info = s.info.saturating_add(r.summary.info);
        s.suppressed = s.suppressed.saturating_add(r.summary.suppressed);
    }
    s
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn state_label(r: &TenantRow) -> String {
    match r.state {
        TenantState::Complete => "complete".into(),
        TenantState::Incomplete => format!(
            "incomplete ({} gap{})",
            r.coverage_gaps,
            if r.coverage_gaps == 1 { "" } else { "s" }
        ),
        TenantState::Failed => "not audited".into(),
    }
}

fn ga_label(r: &TenantRow) -> String {
    r.partners_with_global_admin
        .iter()
        .map(|p| {
            let name = p.name.clone().unwrap_or_else(|| p.tenant_id.clone());
            if p.auditing_partner {
                format!("{name} (this partner)")
            } else {
                format!("{name} (OTHER partner)")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn counts(s: &Summary) -> [u64; 5] {
    [s.critical, s.high, s.medium, s.low, s.info]
}

fn overview_table(
    head: &FleetHead,
    summary: &FleetSummary,
    rows: &[TenantRow],
    style: Style,
) -> String {
    let mut table = super::table::new_table(style);
    table.set_header(vec![
        "tenant",
        "side",
        "critical",
        "high",
        "medium",
        "low",
        "info",
        "coverage",
        "partners with Global Administrator",
    ]);
    for r in rows {
        // The name only: ids are in each tenant's section and in the JSON.
        let name = r.tenant_name.as_deref().unwrap_or(&r.tenant_id);
        let mut cells = vec![
            crate::text::cap(name, 60).into_owned(),
            r.role_label().to_owned(),
        ];
        cells.extend(counts(&r.summary).iter().map(u64::to_string));
        cells.push(state_label(r));
        cells.push(crate::text::cap(&ga_label(r), 200).into_owned());
        table.add_row(cells);
    }
    format!(
        "Fleet audit from partner {} ({}), as of {}\n{} tenants: {} complete, {} incomplete, {} not audited; \
         findings: {} critical, {} high, {} medium, {} low, {} info ({} suppressed)\n{table}\n",
        head.partner_tenant_name.as_deref().unwrap_or("(unnamed)"),
        head.partner_tenant_id,
        head.as_of.format("%Y-%m-%d %H:%M UTC"),
        summary.tenants,
        summary.complete,
        summary.incomplete,
        summary.failed,
        summary.critical,
        summary.high,
        summary.medium,
        summary.low,
        summary.info,
        summary.suppressed,
    )
}

fn overview_markdown(head: &FleetHead, summary: &FleetSummary, rows: &[TenantRow]) -> String {
    let esc = super::markdown::md;
    let mut out = format!(
        "# Fleet audit: {} ({})\n\nAs of {}. {} tenants: {} complete, {} incomplete, {} not audited.\n\n\
         | Tenant | Side | Critical | High | Medium | Low | Info | Coverage | Partners with Global Administrator |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        esc(head.partner_tenant_name.as_deref().unwrap_or("(unnamed)")),
        head.partner_tenant_id,
        head.as_of.format("%Y-%m-%d %H:%M UTC"),
        summary.tenants,
        summary.complete,
        summary.incomplete,
        summary.failed,
    );
    for r in rows {
        let [c, h, m, l, i] = counts(&r.summary);
        out.push_str(&format!(
            "| {} (`{}`) | {} | {c} | {h} | {m} | {l} | {i} | {} | {} |\n",
            esc(r.tenant_name.as_deref().unwrap_or("(unnamed)")),
            r.tenant_id,
            r.role_label(),
            state_label(r),
            esc(&ga_label(r)),
        ));
    }
    out
}

/// The worst exit code: 1 (findings) outranks 3 (incomplete) outranks 0.
pub fn worst_exit(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |c: u8| match c {
        1 => 2,
        3 => 1,
        _ => 0,
    };
    codes.into_iter().max_by_key(|c| rank(*c)).unwrap_or(0)
}
