//! The human format: findings grouped by severity, a summary line, what could not be checked, warnings.

use comfy_table::{
    Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, TableStyle, Width, presets,
};

use super::v1::{CoverageStatus, ReportV1, Severity, Status};
use super::{Style, one_line, perspective_phrase};

pub(super) fn render(report: &ReportV1, style: Style) -> String {
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
        let mut table = new_table(style);
        let whole = longest_word(report);
        // Narrow: the rule id, subject and message share one column, wide enough for any rule id or
        // GUID; wide: rule id above subject in a column that holds its longest word, the message gets
        // the rest (at least `MIN_MESSAGE`).
        let narrow = style
            .width
            .is_some_and(|w| usize::from(w) < whole + 2 + FIXED_COLUMNS + MIN_MESSAGE);
        if narrow {
            table.set_header(header_row(style, &["SEVERITY", "RULE / SUBJECT / FINDING"]));
        } else {
            table.set_header(header_row(
                style,
                &["SEVERITY", "RULE / SUBJECT", "FINDING"],
            ));
        }
        for severity in Severity::ALL_DESC {
            for f in report.findings.iter().filter(|f| f.severity == severity) {
                let mut rule_subject =
                    format!("{}\n{}", one_line(&f.rule_id), one_line(f.subject.label()));
                if let Some(s) = f.status.filter(|s| *s != Status::Open) {
                    rule_subject.push_str(&format!(" [{}]", s.as_str()));
                }
                let mut message = one_line(&f.message);
                if let Some(note) = f.note.as_deref() {
                    message.push_str(&format!(" ({})", one_line(note)));
                }
                let row = if narrow {
                    vec![
                        severity_cell(style, severity),
                        text_cell(style, format!("{rule_subject}\n{message}")),
                    ]
                } else {
                    vec![
                        severity_cell(style, severity),
                        text_cell(style, rule_subject),
                        text_cell(style, message),
                    ]
                };
                table.add_row(row);
            }
        }
        out.push('\n');
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
        out.push_str(&table.to_string());
        out.push('\n');
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
    out
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
