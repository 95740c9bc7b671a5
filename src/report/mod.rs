//! The report: a frozen output DTO (`v1::ReportV1`) built from an evaluation, and its renderers
//! (table, json, jsonl, sarif, csv, markdown, html). Nothing here reads the network or the clock.

mod csv;
pub mod diff;
pub mod fleet;
mod group;
pub(crate) mod history;
mod html;
mod markdown;
mod sarif;
mod table;
pub mod v1;

use std::io::Write;

use crate::text::JsonEscapeHidden;

pub use v1::{ReportHeader, ReportV1, build};

/// A `jsonl` line: the finding object of the JSON report, plus the audited tenant and the evaluation
/// time, so that each line is a ticket on its own (DESIGN.md's v1 contract).
#[derive(serde::Serialize)]
struct JsonlLine<'a> {
    #[serde(flatten)]
    finding: &'a v1::FindingV1,
    tenant_id: &'a str,
    tenant_name: Option<&'a str>,
    as_of: chrono::DateTime<chrono::Utc>,
}

/// An output format (`--format`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Human-readable table grouped by severity, with a summary and the coverage gaps.
    #[default]
    Table,
    /// The JSON report v1 (docs/report.schema.json), pretty-printed.
    Json,
    /// One finding object per line.
    Jsonl,
    /// SARIF 2.1.0 (code-scanning dashboards).
    Sarif,
    /// One row per finding, for spreadsheets.
    Csv,
    /// A checklist per customer or partner, for tickets.
    Markdown,
    /// One self-contained HTML page (no network at view time) with charts, filters and a print layout.
    Html,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Sarif => "sarif",
            Format::Csv => "csv",
            Format::Markdown => "markdown",
            Format::Html => "html",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the human formats look. Only `table` uses it; the machine formats ignore it.
/// `Style::default()` is plain: no colour, ASCII borders, no width limit (what a pipe or a file gets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours (a terminal that wants them; never for `--output` files or `NO_COLOR`).
    pub color: bool,
    /// UTF-8 box drawing; ASCII otherwise.
    pub unicode: bool,
    /// Wrap the table to this many columns; `None`: do not wrap.
    pub width: Option<u16>,
}

impl Style {
    /// No colour, ASCII, no wrapping.
    pub fn plain() -> Self {
        Style::default()
    }
}

/// Renders the report in a format (see [`write`]).
#[expect(
    clippy::expect_used,
    reason = "writing to memory cannot fail, and every renderer writes text"
)]
pub fn render(report: &ReportV1, format: Format, style: Style) -> String {
    let mut out = Vec::new();
    write(report, format, style, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("UTF-8")
}

/// Writes the report in a format. `json`, `jsonl` and `csv` stream finding by finding, so a report of
/// thousands of findings is never held as text as well. Every format ends with a newline, except
/// `jsonl` and `csv` with no findings, which are empty and header-only respectively. No format lets
/// Graph text drive a terminal: the human formats and CSV drop control and hidden characters, the JSON
/// formats escape them.
pub fn write(
    report: &ReportV1,
    format: Format,
    style: Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        Format::Table => table::write(report, style, out),
        Format::Json => {
            let mut out = JsonEscapeHidden::new(out);
            serde_json::to_writer_pretty(&mut out, report)?;
            out.write_all(b"\n")?;
            out.flush()
        }
        Format::Jsonl => {
            let mut out = JsonEscapeHidden::new(out);
            // With --changes-only, the resolved findings follow (status "resolved"): a ticket to close.
            let resolved = report
                .resolved
                .iter()
                .flatten()
                .filter(|_| report.changes_only);
            for f in report.findings.iter().chain(resolved) {
                let line = JsonlLine {
                    finding: f,
                    tenant_id: &report.tenant_id,
                    tenant_name: report.tenant_name.as_deref(),
                    as_of: report.as_of,
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
            out.flush()
        }
        Format::Sarif => {
            let mut out = JsonEscapeHidden::new(out);
            sarif::write(report, &mut out)?;
            out.write_all(b"\n")?;
            out.flush()
        }
        Format::Csv => csv::write(report, out),
        Format::Markdown => markdown::write(report, out),
        Format::Html => html::write(report, out),
    }
}

/// The JSON Schema (draft 2020-12) of `ReportV1` as it is *written* (fields always present are
/// required). Committed as `docs/report.schema.json`; `gdap-audit schema` prints it.
#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
pub fn report_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let schema = generator.into_root_schema_for::<ReportV1>();
    serde_json::to_value(schema).expect("the schema always serializes")
}

/// `report_schema()` pretty-printed with a trailing newline, as committed in `docs/report.schema.json`.
#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
pub fn report_schema_string() -> String {
    let mut s =
        serde_json::to_string_pretty(&report_schema()).expect("the schema always serializes");
    s.push('\n');
    s
}

/// Graph text for a human format: capped at `text::MAX_TEXT` bytes first (so every renderer stays
/// linear and bounded even on a report that was not made by `build`), then on one line without control
/// or hidden characters.
pub(crate) fn one_line(s: &str) -> String {
    crate::text::one_line(&crate::text::cap(s, crate::text::MAX_TEXT))
}

/// Joins words as "a, b and c".
/// "customer perspective", "customer and partner perspectives", or None.
pub(crate) fn perspective_phrase(report: &ReportV1) -> Option<String> {
    let names: Vec<String> = report
        .perspectives
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    match names.len() {
        0 => None,
        1 => names.first().map(|n| format!("{n} perspective")),
        _ => Some(format!("{} perspectives", join_list(&names))),
    }
}

pub(crate) fn join_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {}", rest.join(", "), last),
    }
}
