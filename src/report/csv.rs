//! CSV: a header and one row per finding (RFC 4180 quoting, `\n` line ends). Every cell is capped and
//! sanitised (`text::multi_line`: line breaks and tabs stay inside the quoted cell, other control
//! characters become spaces, hidden and bidirectional characters are dropped) so that `cat report.csv`
//! cannot drive the terminal, and
//! spreadsheet formula injection is neutralised: a cell starting with `=`, `+`, `-`, `@`, tab or
//! carriage return gets a leading `'` so that a display name chosen by a third party cannot run as a
//! formula.
//!
//! Each row is a ticket on its own: besides the finding it carries the rule's title, the remediation,
//! the references (one per line inside the cell) and the audited tenant. New columns are appended, so
//! scripts that read columns by position keep working.

use super::v1::ReportV1;
use crate::text;

const HEADER: [&str; 15] = [
    "severity",
    "rule_id",
    "subject_kind",
    "subject_id",
    "subject_name",
    "partner_tenant_id",
    "customer_tenant_id",
    "message",
    "fingerprint",
    "first_seen",
    "title",
    "remediation",
    "references",
    "tenant_id",
    "tenant_name",
];

/// The header row (with its newline): the fleet report writes it once for all tenants.
pub(super) fn header_line() -> String {
    let mut out = String::new();
    push_row(&mut out, HEADER.iter().map(|h| h.to_string()));
    out
}

/// The header and a row per finding, written row by row.
pub(super) fn write(report: &ReportV1, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    out.write_all(header_line().as_bytes())?;
    let mut row = String::new();
    for f in &report.findings {
        row.clear();
        push_row(
            &mut row,
            [
                f.severity.as_str().to_owned(),
                f.rule_id.clone(),
                f.subject.kind.as_str().to_owned(),
                f.subject.id.clone(),
                f.subject.display_name.clone().unwrap_or_default(),
                f.partner_tenant_id.clone().unwrap_or_default(),
                f.customer_tenant_id.clone().unwrap_or_default(),
                f.message.clone(),
                f.fingerprint.clone(),
                f.first_seen
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                    .unwrap_or_default(),
                f.title.to_string(),
                f.remediation.to_string(),
                f.references.join("\n"),
                report.tenant_id.clone(),
                report.tenant_name.clone().unwrap_or_default(),
            ]
            .into_iter(),
        );
        out.write_all(row.as_bytes())?;
    }
    Ok(())
}

fn push_row(out: &mut String, cells: impl Iterator<Item = String>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cell_text(&cell));
    }
    out.push('\n');
}

/// One cell, sanitised, neutralised and quoted when needed.
pub(super) fn cell_text(value: &str) -> String {
    let clean = text::multi_line(&text::cap(value, text::MAX_TEXT));
    // Spreadsheets skip leading whitespace before a formula. (`multi_line` leaves no carriage return.)
    let value = if clean.starts_with('\t') || clean.trim_start().starts_with(['=', '+', '-', '@']) {
        format!("'{clean}")
    } else {
        clean
    };
    if value.contains([',', '"', '\n', '\r']) || value.starts_with(' ') || value.ends_with(' ') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}
