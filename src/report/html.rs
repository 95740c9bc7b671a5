//! HTML: one self-contained page to look at and hand over (header, severity tiles, coverage, findings by
//! customer or partner, pictures as inline SVG). Rendered by askama, which escapes every `{{ }}` by
//! default; Graph text is additionally capped and stripped of control and hidden characters (`one_line`).
//! Nothing is loaded at view time: a Content-Security-Policy forbids every fetch and lets only the one
//! inline script (by its hash) run, so even markup that slipped through could not execute.

use askama::Template;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::group::{self, GroupBy};
use super::v1::{CoverageStatus, FindingV1, ReportV1, Severity};
use super::{one_line, perspective_phrase};

mod charts;

/// The page's only script: filtering and sorting. Kept outside the template so its CSP hash is exact.
const SCRIPT: &str = include_str!("../../templates/report.js");

/// The page, rendered straight into `out` (a report of thousands of findings is tens of MB of HTML),
/// ending with a newline.
pub(super) fn write(report: &ReportV1, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let page = Page::new(report);
    use std::io::Write;
    let mut out = LastByte {
        inner: out,
        last: None,
    };
    // askama fails only when `out` does, or a Display impl (ours are plain strings and numbers).
    page.write_into(&mut out)?;
    if out.last != Some(b'\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Remembers the last byte written (whether the page already ends with a newline).
struct LastByte<'a> {
    inner: &'a mut dyn std::io::Write,
    last: Option<u8>,
}

impl std::io::Write for LastByte<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(b) = buf.get(..n).and_then(|b| b.last()) {
            self.last = Some(*b);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    report: &'a ReportV1,
    csp: String,
    script: &'static str,
    title: String,
    tenant_name: Option<String>,
    tenant_id: String,
    perspective: String,
    as_of: String,
    generated_at: String,
    tool: String,
    settings: Vec<(String, String)>,
    tiles: Vec<Tile>,
    total: u64,
    suppressed_count: u64,
    collected: usize,
    gaps: Vec<GapRow>,
    not_evaluated: Vec<(String, String)>,
    skipped: Vec<String>,
    group_noun: &'static str,
    groups: Vec<GroupView<'a>>,
    rules: Vec<String>,
    timeline: charts::Timeline,
    activity: charts::Activity,
    fleet: Option<charts::Fleet>,
    suppressed: Vec<SuppressedView>,
    warnings: Vec<String>,
}

struct Tile {
    severity: &'static str,
    label: String,
    count: u64,
}

struct GapRow {
    source: String,
    status: &'static str,
    detail: String,
    permission: Option<String>,
    request_id: Option<String>,
    rules: Vec<String>,
}

/// A group's findings are borrowed: each one's view is built as the page is written (`Page::view`), so
/// a report of thousands of findings is not held a second time as HTML-ready text.
struct GroupView<'a> {
    name: String,
    id: Option<String>,
    counts: Vec<(&'static str, usize)>,
    findings: Vec<&'a FindingV1>,
}

struct FindingView {
    severity: &'static str,
    rank: u8,
    rule_id: String,
    title: String,
    subject: String,
    subject_kind: &'static str,
    subject_id: String,
    message: String,
    remediation: String,
    evidence: Vec<(String, String)>,
    references: Vec<Reference>,
    first_seen: Option<String>,
    status: Option<&'static str>,
    fingerprint: String,
}

struct Reference {
    text: String,
    /// Only `https://` URLs become links (never `javascript:` or `data:`).
    href: Option<String>,
}

struct SuppressedView {
    severity: &'static str,
    rule_id: String,
    subject: String,
    reason: String,
    expires: Option<String>,
}

/// The most bytes of one evidence value shown (the JSON report has it all).
const MAX_EVIDENCE: usize = 600;

impl<'a> Page<'a> {
    /// One finding as the template shows it.
    fn view(&self, f: &FindingV1) -> FindingView {
        finding(self.report, f)
    }

    fn new(report: &'a ReportV1) -> Page<'a> {
        let (by, groups) = group::groups(report);
        let tenant_name = report
            .tenant_name
            .as_deref()
            .map(one_line)
            .filter(|n| !n.trim().is_empty());
        let tenant_id = one_line(&report.tenant_id);
        let title = format!(
            "Partner access audit: {}, {}",
            tenant_name.as_deref().unwrap_or(&tenant_id),
            report.as_of.format("%Y-%m-%d")
        );
        let mut rules: Vec<String> = report
            .findings
            .iter()
            .map(|f| one_line(&f.rule_id))
            .collect();
        rules.sort();
        rules.dedup();
        Page {
            report,
            csp: csp(),
            script: SCRIPT,
            title,
            tenant_name,
            tenant_id,
            perspective: perspective_phrase(report).unwrap_or_else(|| "no perspective".to_owned()),
            as_of: day_time(report.as_of),
            generated_at: day_time(report.generated_at),
            tool: format!(
                "{} {}",
                one_line(&report.tool.name),
                one_line(&report.tool.version)
            ),
            settings: settings(report),
            tiles: Severity::ALL_DESC
                .iter()
                .map(|s| Tile {
                    severity: s.as_str(),
                    label: capitalize(s.as_str()),
                    count: report.summary.count(*s),
                })
                .collect(),
            total: report.summary.total(),
            suppressed_count: report.summary.suppressed,
            collected: report.collected_sources(),
            gaps: report
                .coverage_gaps()
                .map(|c| GapRow {
                    source: one_line(&c.source),
                    status: c.status.as_str(),
                    detail: c.detail.as_deref().map(one_line).unwrap_or_default(),
                    permission: c
                        .permission
                        .as_deref()
                        .filter(|_| c.status == CoverageStatus::Denied)
                        .map(one_line),
                    request_id: c.request_id.as_deref().map(one_line),
                    rules: c.rules_not_evaluated.iter().map(|r| one_line(r)).collect(),
                })
                .collect(),
            not_evaluated: report
                .not_evaluated
                .iter()
                .map(|n| (one_line(&n.rule_id), one_line(&n.reason)))
                .collect(),
            skipped: report
                .not_applicable()
                .map(|c| one_line(&c.source))
                .collect(),
            group_noun: by.noun(),
            groups: groups
                .iter()
                .map(|g| GroupView {
                    name: g.name.clone(),
                    id: g.id.as_deref().map(one_line),
                    counts: Severity::ALL_DESC
                        .iter()
                        .map(|s| (s.as_str(), g.count(*s)))
                        .filter(|(_, n)| *n > 0)
                        .collect(),
                    findings: g.findings.clone(),
                })
                .collect(),
            rules,
            timeline: charts::timeline(report),
            activity: charts::activity(report),
            fleet: (by == GroupBy::Customer).then(|| charts::fleet(&groups)),
            suppressed: report
                .suppressed
                .iter()
                .map(|s| SuppressedView {
                    severity: s.finding.severity.as_str(),
                    rule_id: one_line(&s.finding.rule_id),
                    subject: one_line(s.finding.subject.label()),
                    reason: one_line(&s.reason),
                    expires: s.expires.map(|t| t.format("%Y-%m-%d").to_string()),
                })
                .collect(),
            warnings: report.warnings.iter().map(|w| one_line(w)).collect(),
        }
    }
}

fn finding(report: &ReportV1, f: &FindingV1) -> FindingView {
    FindingView {
        severity: f.severity.as_str(),
        rank: match f.severity {
            Severity::Critical => 0,
            Severity::High => 1,
            Severity::Medium => 2,
            Severity::Low => 3,
            Severity::Info => 4,
        },
        rule_id: one_line(&f.rule_id),
        title: one_line(&f.title),
        subject: one_line(f.subject.label()),
        subject_kind: f.subject.kind.as_str(),
        subject_id: one_line(&f.subject.id),
        message: one_line(&f.message),
        remediation: one_line(&f.remediation),
        evidence: f
            .evidence
            .map()
            .iter()
            .map(|(k, v)| (one_line(k), evidence_value(v)))
            .collect(),
        references: f
            .references
            .iter()
            .map(|r| {
                let text = one_line(r);
                let href = (text.starts_with("https://")
                    && !text.contains([' ', '"', '\'', '<', '>', '`']))
                .then(|| text.clone());
                Reference { text, href }
            })
            .collect(),
        first_seen: f.first_seen.map(|t| t.format("%Y-%m-%d").to_string()),
        status: lifecycle(report, f),
        fingerprint: one_line(&f.fingerprint),
    }
}

/// "new" when history first saw the finding in this run (first seen at the evaluation clock, `as_of`),
/// "open" when an earlier run did; nothing without history.
fn lifecycle(report: &ReportV1, f: &FindingV1) -> Option<&'static str> {
    let first = f.first_seen?;
    Some(if first >= report.as_of { "new" } else { "open" })
}

/// An evidence value on one line: strings as they are, anything else as compact JSON; capped.
fn evidence_value(v: &serde_json::Value) -> String {
    let text = match v {
        serde_json::Value::String(s) => crate::text::cap(s, MAX_EVIDENCE).into_owned(),
        serde_json::Value::Null => "none".to_owned(),
        other => {
            let json = other.to_string();
            crate::text::cap(&json, MAX_EVIDENCE).into_owned()
        }
    };
    one_line(&text)
}

/// What the audit was run with (`settings`): every threshold, `--fail-on`, the log window and the
/// configuration's digest.
fn settings(report: &ReportV1) -> Vec<(String, String)> {
    let Some(s) = &report.settings else {
        return Vec::new();
    };
    let t = &s.thresholds;
    vec![
        (
            "stale_after_days".to_owned(),
            format!("{} days", t.stale_after_days),
        ),
        (
            "expiring_within_days".to_owned(),
            format!("{} days", t.expiring_within_days),
        ),
        (
            "new_within_days".to_owned(),
            format!("{} days", t.new_within_days),
        ),
        (
            "max_duration_days".to_owned(),
            format!("{} days", t.max_duration_days),
        ),
        ("fail_on".to_owned(), s.fail_on.as_str().to_owned()),
        ("since".to_owned(), format!("{} days", s.since_days)),
        (
            "config".to_owned(),
            s.config_digest.as_deref().map_or_else(
                || "defaults".to_owned(),
                |d| format!("sha256:{}", one_line(d)),
            ),
        ),
    ]
}

/// The page's policy: nothing is fetched (no network at view time), styles are inline, and only the
/// page's own script runs.
fn csp() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{hash}'; \
         base-uri 'none'; form-action 'none'"
    )
}

fn day_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
