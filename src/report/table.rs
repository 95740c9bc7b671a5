//! The human format: findings grouped by severity, a summary line, what could not be checked, warnings.

use comfy_table::{
    Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, TableStyle, Width, presets,
};

use super::v1::{CoverageStatus, FindingV1, ReportV1, Severity, Status};
use super::{Style, one_line, perspective_phrase};

/// The report as a table, written piece by piece: a large report's findings table is laid out and
/// written `CHUNK_ROWS` rows at a time (see `write_findings`), so its text is never held whole.
pub(super) fn write(
    report: &ReportV1,
    style: Style,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut out = String::new();
    out.push_str(&wrap(&heading(report), style.width, "  "));
    out.push('\n');
    if report.changes_only {
        out.push_str(&wrap(&changes_line(report), style.width, "  "));
        out.push('\n');
    }

    if report.findings.is_empty() {
        out.push('\n');
        let text = if report.changes_only {
            "No new or reopened findings.".to_owned()
        } else {
            format!(
                "No findings at or above info. {} collected.",
                plural(report.collected_sources(), "source")
            )
        };
        out.push_str(&paint(style, GREEN, &wrap(&text, style.width, "")));
        out.push('\n');
    } else {
        out.push('\n');
        w.write_all(out.as_bytes())?;
        out.clear();
        write_findings(report, style, w)?;
    }

    if let Some(resolved) = report.resolved.as_ref().filter(|r| !r.is_empty()) {
        out.push('\n');
        out.push_str(&paint(style, GREEN, "Resolved since the previous run:"));
        out.push('\n');
        for f in resolved {
            let text = format!(
                "  - {} {} {}: {}",
                f.resolution.map_or("resolved", |r| r.as_str()),
                one_line(&f.rule_id),
                one_line(f.subject.label()),
                one_line(&f.title)
            );
            out.push_str(&wrap(&text, style.width, "    "));
            out.push('\n');
        }
    }

    out.push('\n');
    let summary = wrap(&summary_line(report), style.width, "  ");
    if report.coverage_complete() {
        out.push_str(&summary);
    } else {
        out.push_str(&paint(style, YELLOW, &summary));
    }
    out.push('\n');

    let gaps: Vec<_> = report.coverage_gaps().collect();
    if !gaps.is_empty() {
        out.push('\n');
        out.push_str(&paint(style, YELLOW, "Could not be checked:"));
        out.push('\n');
        let mut table = new_table(style);
        table.set_header(header_row(
            style,
            &["SOURCE", "STATUS", "DETAIL", "RULES NOT EVALUATED"],
        ));
        for c in gaps {
            let mut detail = c.detail.as_deref().map(one_line).unwrap_or_default();
            if let Some(p) = c.permission.as_deref()
                && c.status == CoverageStatus::Denied
                && !detail.contains(p)
            {
                if !detail.is_empty() {
                    detail.push(' ');
                }
                detail.push_str(&format!("Needs {}.", one_line(p)));
            }
            let rules = if c.rules_not_evaluated.is_empty() {
                "-".to_owned()
            } else {
                one_line(&c.rules_not_evaluated.join(", "))
            };
            table.add_row(vec![
                text_cell(style, one_line(&c.source)),
                Cell::new(c.status.as_str()),
                text_cell(style, detail),
                text_cell(style, rules),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
    }

    let skipped: Vec<String> = report
        .not_applicable()
        .map(|c| one_line(&c.source))
        .collect();
    if !skipped.is_empty() {
        out.push('\n');
        let text = format!("Skipped (not applicable): {}.", skipped.join(", "));
        out.push_str(&wrap(&text, style.width, "  "));
        out.push('\n');
    }

    if !report.not_evaluated.is_empty() {
        out.push('\n');
        out.push_str("Rules not evaluated:");
        out.push('\n');
        for n in &report.not_evaluated {
            let text = format!("  - {}: {}", one_line(&n.rule_id), one_line(&n.reason));
            out.push_str(&wrap(&text, style.width, "    "));
            out.push('\n');
        }
    }

    if !report.warnings.is_empty() {
        out.push('\n');
        out.push_str(&paint(style, YELLOW, "Warnings:"));
        out.push('\n');
        for w in &report.warnings {
            out.push_str(&wrap(&format!("  - {}", one_line(w)), style.width, "    "));
            out.push('\n');
        }
    }
    w.write_all(out.as_bytes())
}

/// Findings tables up to this many rows are laid out by comfy-table over all their rows at once; a
/// larger one is written in slices of this many rows, every slice with the same column widths.
const CHUNK_ROWS: usize = 256;

/// The findings table, highest severity first. Narrow: the rule id, subject and message share one
/// column, wide enough for any rule id or GUID; wide: rule id above subject in a column that holds its
/// longest word, the message gets the rest (at least `MIN_MESSAGE`).
///
/// comfy-table lays out a table from all of its formatted rows, and holds every formatted line until
/// the end: for thousands of findings that is several times the text. A table of more than
/// `CHUNK_ROWS` rows is therefore measured first (each column's widest line, slice by slice), given
/// fixed column widths from that, and written slice by slice, the slices joined at their borders so
/// that they read as one table.
fn write_findings(
    report: &ReportV1,
    style: Style,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let whole = longest_word(report);
    let narrow = style
        .width
        .is_some_and(|w| usize::from(w) < whole + 2 + FIXED_COLUMNS + MIN_MESSAGE);
    let rows: Vec<&FindingV1> = Severity::ALL_DESC
        .iter()
        .flat_map(|s| report.findings.iter().filter(move |f| f.severity == *s))
        .collect();
    let header: &[&str] = if narrow {
        &["SEVERITY", "RULE / SUBJECT / FINDING"]
    } else {
        &["SEVERITY", "RULE / SUBJECT", "FINDING"]
    };
    let table_of = |slice: &[&FindingV1], with_header: bool| {
        let mut table = new_table(style);
        if with_header {
            table.set_header(header_row(style, header));
        }
        for f in slice {
            table.add_row(finding_row(style, narrow, f));
        }
        table
    };
    if rows.len() <= CHUNK_ROWS {
        let mut table = table_of(&rows, true);
        if let Some(w) = style.width
            && !narrow
            && let Some(col) = table.column_mut(1)
        {
            // A long display name wraps within its column rather than squeezing the message, but the
            // column always holds its longest word (a rule id, a GUID) whole.
            let lower = u16::try_from(whole + 2).unwrap_or(u16::MAX);
            let upper = (u32::from(w) * 32 / 100) as u16;
            col.set_constraint(ColumnConstraint::Boundaries {
                lower: Width::Fixed(lower),
                upper: Width::Fixed(upper.max(lower)),
            });
        }
        return w.write_all(format!("{table}\n").as_bytes());
    }

    // Each column's widest line (the header's included), slice by slice.
    let mut content = table_of(&[], true).column_max_content_widths();
    for slice in rows.chunks(CHUNK_ROWS) {
        for (c, m) in content
            .iter_mut()
            .zip(table_of(slice, false).column_max_content_widths())
        {
            *c = (*c).max(m);
        }
    }
    let widths = column_widths(&content, style.width, narrow, whole);
    let last = rows.len().div_ceil(CHUNK_ROWS).saturating_sub(1);
    for (i, slice) in rows.chunks(CHUNK_ROWS).enumerate() {
        let mut table = table_of(slice, i == 0);
        table.set_constraints(
            widths
                .iter()
                .map(|w| ColumnConstraint::Absolute(Width::Fixed(*w))),
        );
        let text = table.to_string();
        let mut lines: Vec<&str> = text.lines().collect();
        // Joined at the borders: a slice after the first loses its top border, one before the last
        // its bottom border.
        if i < last {
            lines.pop();
        }
        let start = usize::from(i > 0);
        for line in lines.iter().skip(start) {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// Fixed column widths (padding included) for a sliced findings table, from each column's widest line
/// (`content`, padding excluded), in the spirit of the unsliced layout: without a width every column
/// fits its content; with one the severity column fits its content, the rule/subject column is held
/// between its longest word and 32% of the width, and the message column gets what is left (or less,
/// when its lines are shorter).
fn column_widths(content: &[u16], width: Option<u16>, narrow: bool, whole: usize) -> Vec<u16> {
    let padded: Vec<u16> = content.iter().map(|c| c.saturating_add(2)).collect();
    let Some(width) = width else {
        return padded;
    };
    let borders = u16::try_from(padded.len() + 1).unwrap_or(u16::MAX);
    let severity = padded.first().copied().unwrap_or(10);
    let rest = width.saturating_sub(borders).saturating_sub(severity);
    if narrow {
        let text = padded.get(1).copied().unwrap_or(rest).min(rest).max(3);
        return vec![severity, text];
    }
    let lower = u16::try_from(whole + 2).unwrap_or(u16::MAX);
    let upper = ((u32::from(width) * 32 / 100) as u16).max(lower);
    let rule = padded.get(1).copied().unwrap_or(lower).clamp(lower, upper);
    let message = padded
        .get(2)
        .copied()
        .unwrap_or(0)
        .min(rest.saturating_sub(rule))
        .max(3);
    vec![severity, rule, message]
}

/// One finding's row: severity, then rule id above the subject (and its status), then the message
/// (and its note); narrow, the last two share a cell.
fn finding_row(style: Style, narrow: bool, f: &FindingV1) -> Vec<Cell> {
    let mut rule_subject = format!("{}\n{}", one_line(&f.rule_id), one_line(f.subject.label()));
    if let Some(s) = f.status.filter(|s| *s != Status::Open) {
        rule_subject.push_str(&format!(" [{}]", s.as_str()));
    }
    let mut message = one_line(&f.message);
    if let Some(note) = f.note.as_deref() {
        message.push_str(&format!(" ({})", one_line(note)));
    }
    if narrow {
        vec![
            severity_cell(style, f.severity),
            text_cell(style, format!("{rule_subject}\n{message}")),
        ]
    } else {
        vec![
            severity_cell(style, f.severity),
            text_cell(style, rule_subject),
            text_cell(style, message),
        ]
    }
}

/// "Tenant Contoso (id), customer perspective, as of 2024-05-01 12:00 UTC".
fn heading(report: &ReportV1) -> String {
    let tenant = match report.tenant_name.as_deref().map(one_line) {
        Some(name) if !name.is_empty() => format!("{} ({})", name, one_line(&report.tenant_id)),
        _ => one_line(&report.tenant_id),
    };
    let perspective = perspective_phrase(report)
        .map(|p| format!(", {p}"))
        .unwrap_or_default();
    format!(
        "gdap-audit {}: tenant {}{}, as of {}",
        one_line(&report.tool.version),
        tenant,
        perspective,
        report.as_of.format("%Y-%m-%d %H:%M UTC")
    )
}

/// "Changes since the previous run: 1 new, 0 reopened, 2 resolved (--changes-only; the summary below
/// counts every finding)".
fn changes_line(report: &ReportV1) -> String {
    let count = |s: Status| {
        report
            .findings
            .iter()
            .filter(|f| f.status == Some(s))
            .count()
    };
    format!(
        "Changes since the previous run: {} new, {} reopened, {} resolved (--changes-only; the summary \
         below counts every finding).",
        count(Status::New),
        count(Status::Reopened),
        report.resolved.as_ref().map_or(0, Vec::len)
    )
}

/// "3 critical, 5 high, 0 medium, 0 low, 1 info; 2 suppressed; coverage incomplete: sign_ins unlicensed".
fn summary_line(report: &ReportV1) -> String {
    let s = &report.summary;
    let counts: Vec<String> = Severity::ALL_DESC
        .iter()
        .map(|&sev| format!("{} {}", s.count(sev), sev))
        .collect();
    let mut line = counts.join(", ");
    line.push_str(&format!("; {} suppressed", s.suppressed));
    let gaps: Vec<String> = report
        .coverage_gaps()
        .map(|c| format!("{} {}", one_line(&c.source), c.status.as_str()))
        .collect();
    if gaps.is_empty() {
        line.push_str(&format!(
            "; coverage complete ({} collected)",
            plural(report.collected_sources(), "source")
        ));
        line
    } else {
        line.push_str(&format!("; coverage incomplete: {}", gaps.join(", ")));
        line
    }
}

pub(crate) fn new_table(style: Style) -> Table {
    let mut table = Table::new();
    // Never look at the terminal from here: the caller decides colour and width.
    table.force_no_tty();
    if style.color {
        table.enforce_styling();
    }
    let preset: TableStyle = if style.unicode {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_FULL_CONDENSED
    };
    table.load_style(preset);
    if !style.unicode {
        table.set_truncation_indicator("...");
    }
    match style.width {
        Some(w) => {
            table
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(w);
        }
        None => {
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    table
}

/// The longest word (in bytes) a wrapping table is given. comfy-table splits a word longer than its
/// column by re-measuring the whole remainder at every split, which is quadratic in the word's length
/// (an unbroken 100 KB display name took seconds); a longer word is cut here first, with the
/// `text::cap` marker. Entra display names are at most 256 characters, so only hostile or broken text
/// is cut. Without wrapping nothing is split and nothing is cut.
const MAX_WORD: usize = 256;

/// Borders (4) and the severity column ("critical" and its padding) of the findings table.
const FIXED_COLUMNS: usize = 14;
/// The narrowest message column worth a third column: a GUID and its padding, with room to spare.
const MIN_MESSAGE: usize = 38;
/// The longest word the findings table keeps whole; anything longer (hostile or broken text) wraps.
const MAX_WHOLE: usize = 44;

/// The longest word of the rule ids and subject labels (rule ids, GUIDs, relationship names), at most
/// `MAX_WHOLE` characters.
fn longest_word(report: &ReportV1) -> usize {
    report
        .findings
        .iter()
        .flat_map(|f| [one_line(&f.rule_id), one_line(f.subject.label())])
        .filter_map(|s| s.split(' ').map(|w| w.chars().count()).max())
        .max()
        .unwrap_or(0)
        .min(MAX_WHOLE)
}

/// A cell of sanitised text (`one_line` already applied; `\n` separates lines of the cell).
pub(crate) fn text_cell(style: Style, text: String) -> Cell {
    if style.width.is_none() || !text.split(['\n', ' ']).any(|w| w.len() > MAX_WORD) {
        return Cell::new(text);
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            line.split(' ')
                .map(|w| crate::text::cap(w, MAX_WORD))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    Cell::new(lines.join("\n"))
}

fn header_row(style: Style, names: &[&str]) -> Vec<Cell> {
    names
        .iter()
        .map(|n| {
            let c = Cell::new(*n);
            if style.color {
                c.add_attribute(Attribute::Bold)
            } else {
                c
            }
        })
        .collect()
}

fn severity_cell(style: Style, severity: Severity) -> Cell {
    let cell = Cell::new(severity.as_str());
    if !style.color {
        return cell;
    }
    match severity {
        Severity::Critical => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Severity::High => cell.fg(Color::Red),
        Severity::Medium => cell.fg(Color::Yellow),
        Severity::Low => cell.fg(Color::Cyan),
        Severity::Info => cell.fg(Color::Blue),
    }
}

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";

fn paint(style: Style, color: &str, text: &str) -> String {
    if style.color {
        format!("{color}{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Greedy word wrap to `width` columns (no wrapping without a width); continuation lines start with
/// `indent`. A word longer than the line is kept whole.
fn wrap(text: &str, width: Option<u16>, indent: &str) -> String {
    let Some(width) = width.map(usize::from) else {
        return text.to_owned();
    };
    let body = text.trim_start_matches(' ');
    let lead = &text[..text.len() - body.len()];
    let mut out = String::from(lead);
    let mut line_len = lead.len();
    let mut first = true;
    for word in body.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if !first {
            if line_len + 1 + len > width {
                out.push('\n');
                out.push_str(indent);
                line_len = indent.chars().count();
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(word);
        line_len += len;
        first = false;
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
