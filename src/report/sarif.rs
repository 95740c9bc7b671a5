//! SARIF 2.1.0, hand-rolled minimal model: one run, one reporting descriptor per rule id that appears,
//! one result per (unsuppressed) finding.
//!
//! GitHub code scanning only shows a result that has a physical location, and only keeps an alert
//! across uploads when its file path and `primaryLocationLineHash` are stable. A finding has no source
//! file, so each result points at a stable virtual path per audited tenant and subject,
//! `gdap-audit/tenants/<tenant>/<subjectKind>/<subjectId>` (relative: upload-sarif rejects absolute URIs
//! whose scheme differs from the checkout's `file:`), line 1, with the finding's fingerprint as the line
//! hash. The logical location `tenant/<tenant>/<kind>/<id>` stays for other SARIF viewers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::v1::{FindingV1, ReportV1, Severity};

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const SARIF_VERSION: &str = "2.1.0";
/// The key of our fingerprint in `partialFingerprints`; bump the `/v1` if its computation changes.
pub const FINGERPRINT_KEY: &str = "gdapAuditFingerprint/v1";
/// The only `partialFingerprints` key GitHub code scanning reads (`<hash>:<occurrence>`); without it
/// upload-sarif tries to hash the (non-existent) file's line.
const GITHUB_LINE_HASH_KEY: &str = "primaryLocationLineHash";
/// GitHub rejects a run with more results than this; the most severe are kept (findings are sorted by
/// severity) and the run says how many were left out.
pub const MAX_RESULTS: usize = 25_000;

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    /// One code-scanning category per audited tenant: uploading one tenant's audit does not close the
    /// alerts of another tenant's audited into the same repository.
    automation_details: AutomationDetails,
    results: Results<'a>,
    properties: RunProperties<'a>,
}

#[derive(Serialize)]
struct AutomationDetails {
    id: String,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'a str,
    version: &'a str,
    semantic_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<&'static str>,
    rules: Vec<ReportingDescriptor<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor<'a> {
    id: &'a str,
    name: &'a str,
    short_description: Message<'a>,
    full_description: Message<'a>,
    help: Message<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<&'a str>,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    /// GitHub code scanning's severity scale (a number as a string, 0.0 to 10.0).
    #[serde(rename = "security-severity", skip_serializing_if = "Option::is_none")]
    security_severity: Option<&'static str>,
    tags: [&'static str; 1],
}

#[derive(Serialize)]
struct Message<'a> {
    text: std::borrow::Cow<'a, str>,
}

impl<'a> Message<'a> {
    fn borrowed(text: &'a str) -> Self {
        Message {
            text: std::borrow::Cow::Borrowed(text),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Message<'a>,
    locations: [Location<'a>; 1],
    partial_fingerprints: BTreeMap<&'static str, String>,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation,
    logical_locations: [LogicalLocation<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

/// GitHub requires a region; a finding is the whole (one-line) virtual artifact.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    start_column: u32,
    end_line: u32,
    end_column: u32,
}

const WHOLE_ARTIFACT: Region = Region {
    start_line: 1,
    start_column: 1,
    end_line: 1,
    end_column: 2,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    name: &'a str,
    fully_qualified_name: String,
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties<'a> {
    severity: &'static str,
    subject_kind: &'static str,
    subject_id: &'a str,
    partner_tenant_id: Option<&'a str>,
    customer_tenant_id: Option<&'a str>,
    first_seen: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunProperties<'a> {
    tenant_id: &'a str,
    as_of: String,
    /// Sources that could not be read, as "source: status".
    coverage_gaps: Vec<String>,
    /// Findings left out to stay within GitHub's results limit ([`MAX_RESULTS`]).
    #[serde(skip_serializing_if = "is_zero")]
    omitted_results: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The virtual artifact a finding is located in: `gdap-audit/tenants/<tenant>/<subjectKind>/<subjectId>`,
/// each segment percent-encoded, so that any id makes one valid, stable relative URI.
pub fn artifact_uri(tenant_id: &str, subject_kind: &str, subject_id: &str) -> String {
    format!(
        "gdap-audit/tenants/{}/{}/{}",
        uri_segment(tenant_id),
        uri_segment(subject_kind),
        uri_segment(subject_id)
    )
}

/// One URI path segment: RFC 3986 unreserved characters, `:` and `@` as they are (ids such as
/// `suppression:legacy-dap:<id>` stay readable), every other byte as `%XX`; a
/// dots-only segment (which URI resolution would drop or climb) is fully encoded, an empty one is `%20`.
fn uri_segment(s: &str) -> String {
    use std::fmt::Write as _;
    if s.is_empty() {
        // No id at all (never from Graph): still one segment, distinct from every real id.
        return "%20".to_owned();
    }
    let dots_only = s.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'~' | b':' | b'@')
            || (b == b'.' && !dots_only);
        if keep {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The SARIF level of a severity.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn security_severity(severity: Severity) -> Option<&'static str> {
    match severity {
        Severity::Critical => Some("9.5"),
        Severity::High => Some("8.0"),
        Severity::Medium => Some("5.5"),
        Severity::Low => Some("2.0"),
        Severity::Info => None,
    }
}

/// The SARIF log, serialized straight into `out` (pretty-printed, no trailing newline).
pub(super) fn write(report: &ReportV1, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    // One descriptor per rule id, in order of first appearance (findings are sorted, so the rule list
    // is deterministic); its level is the highest severity the rule reported.
    let mut rules: Vec<(&FindingV1, Severity)> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &report.findings {
        match index.get(f.rule_id.as_str()) {
            Some(&i) => {
                if let Some(rule) = rules.get_mut(i) {
                    rule.1 = rule.1.max(f.severity);
                }
            }
            None => {
                index.insert(&f.rule_id, rules.len());
                rules.push((f, f.severity));
            }
        }
    }
    let descriptors = rules
        .iter()
        .map(|&(f, max)| ReportingDescriptor {
            id: &f.rule_id,
            name: &f.rule_id,
            // GitHub requires every text below, and refuses empty ones: each falls back to one that is
            // not (the rule id never is).
            short_description: Message::borrowed(first_text(&[&f.title, &f.rule_id])),
            full_description: Message {
                text: match crate::rules::rule(&f.rule_id) {
                    Some(meta) => format!("{} {}", meta.fires_when, meta.rationale).into(),
                    None => first_text(&[&f.title, &f.rule_id]).into(),
                },
            },
            help: Message::borrowed(first_text(&[&f.remediation, &f.title, &f.rule_id])),
            help_uri: f
                .references
                .iter()
                .find(|r| r.starts_with("https://") || r.starts_with("http://"))
                .map(|r| &**r),
            default_configuration: Configuration { level: level(max) },
            properties: RuleProperties {
                security_severity: security_severity(max),
                tags: ["security"],
            },
        })
        .collect();

    let omitted_results = report.findings.len().saturating_sub(MAX_RESULTS);
    let results = Results {
        report,
        index: &index,
    };

    let log = Log {
        schema: SARIF_SCHEMA,
        version: SARIF_VERSION,
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: &report.tool.name,
                    version: &report.tool.version,
                    semantic_version: &report.tool.version,
                    information_uri: information_uri(),
                    rules: descriptors,
                },
            },
            automation_details: AutomationDetails {
                id: format!("gdap-audit/{}/", uri_segment(&report.tenant_id)),
            },
            results,
            properties: RunProperties {
                tenant_id: &report.tenant_id,
                as_of: report
                    .as_of
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                coverage_gaps: report
                    .coverage_gaps()
                    .map(|c| format!("{}: {}", c.source, c.status.as_str()))
                    .collect(),
                omitted_results,
            },
        }],
    };
    serde_json::to_writer_pretty(out, &log)?;
    Ok(())
}

/// One finding's result.
fn result<'a>(
    report: &'a ReportV1,
    index: &BTreeMap<&str, usize>,
    f: &'a FindingV1,
) -> SarifResult<'a> {
    SarifResult {
        rule_id: &f.rule_id,
        // Every finding's rule is in the index (`write` builds it from all findings).
        rule_index: index.get(f.rule_id.as_str()).copied().unwrap_or_default(),
        level: level(f.severity),
        message: Message::borrowed(first_text(&[&f.message, &f.title, &f.rule_id])),
        locations: [Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation {
                    uri: artifact_uri(&report.tenant_id, f.subject.kind.as_str(), &f.subject.id),
                },
                region: WHOLE_ARTIFACT,
            },
            logical_locations: [LogicalLocation {
                name: f.subject.label(),
                fully_qualified_name: format!(
                    "tenant/{}/{}/{}",
                    report.tenant_id,
                    f.subject.kind.as_str(),
                    f.subject.id
                ),
                kind: "resource",
            }],
        }],
        partial_fingerprints: BTreeMap::from([
            (FINGERPRINT_KEY, f.fingerprint.clone()),
            (GITHUB_LINE_HASH_KEY, format!("{}:1", f.fingerprint)),
        ]),
        properties: ResultProperties {
            severity: f.severity.as_str(),
            subject_kind: f.subject.kind.as_str(),
            subject_id: &f.subject.id,
            partner_tenant_id: f.partner_tenant_id.as_deref(),
            customer_tenant_id: f.customer_tenant_id.as_deref(),
            first_seen: f
                .first_seen
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        },
    }
}

/// The results, serialized one by one as the log is written: not held as a list besides the report.
struct Results<'a> {
    report: &'a ReportV1,
    index: &'a BTreeMap<&'a str, usize>,
}

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.report
                .findings
                .iter()
                .take(MAX_RESULTS)
                .map(|f| result(self.report, self.index, f)),
        )
    }
}

/// The first text that is not blank, else the last one.
fn first_text<'a>(candidates: &[&'a str]) -> &'a str {
    candidates
        .iter()
        .copied()
        .find(|t| !t.trim().is_empty())
        .or_else(|| candidates.last().copied())
        .unwrap_or_default()
}

/// The project's home page, from Cargo.toml (`homepage`, else `repository`); omitted when neither is set.
fn information_uri() -> Option<&'static str> {
    [env!("CARGO_PKG_HOMEPAGE"), env!("CARGO_PKG_REPOSITORY")]
        .into_iter()
        .find(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any id makes one relative URI with exactly five segments, and different ids different URIs.
    #[test]
    fn artifact_uris_are_relative_single_segments() {
        let ids = [
            "",
            " ",
            ".",
            "..",
            "a/b",
            "a b",
            "50%",
            "x?y#z",
            "Zoë",
            "suppression:legacy-dap:1",
            "a.b",
        ];
        let uris: Vec<String> = ids
            .iter()
            .map(|id| artifact_uri("t", "partner", id))
            .collect();
        for (id, uri) in ids.iter().zip(&uris) {
            assert!(uri.starts_with("gdap-audit/tenants/t/partner/"), "{uri}");
            assert_eq!(uri.split('/').count(), 5, "{id:?} -> {uri}");
            assert!(
                uri.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"?#[]\\".contains(&b)),
                "{uri}"
            );
        }
        assert_eq!(uris[4], "gdap-audit/tenants/t/partner/a%2Fb");
        assert_eq!(uris[3], "gdap-audit/tenants/t/partner/%2E%2E");
        assert_eq!(
            uris[9],
            "gdap-audit/tenants/t/partner/suppression:legacy-dap:1"
        );
        assert_eq!(uris[10], "gdap-audit/tenants/t/partner/a.b");
        let distinct: std::collections::BTreeSet<_> = uris.iter().skip(1).collect();
        assert_eq!(distinct.len(), ids.len() - 1);
    }
}
