//! SARIF 2.1.0, hand-rolled minimal model: one run, one reporting descriptor per rule id that appears,
//! one result per (unsuppressed) finding located logically at `tenant/<tenant>/<kind>/<id>`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::v1::{FindingV1, ReportV1, Severity};

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const SARIF_VERSION: &str = "2.1.0";
/// The key of our fingerprint in `partialFingerprints`; bump the `/v1` if its computation changes.
pub const FINGERPRINT_KEY: &str = "gdapAuditFingerprint/v1";

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
    results: Vec<SarifResult<'a>>,
    properties: RunProperties<'a>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<Message<'a>>,
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
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Message<'a>,
    locations: [Location<'a>; 1],
    partial_fingerprints: BTreeMap<&'static str, &'a str>,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    logical_locations: [LogicalLocation<'a>; 1],
}

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

#[expect(
    clippy::expect_used,
    reason = "serializing the project's own types cannot fail: string keys, no fallible Serialize impl"
)]
pub(super) fn render(report: &ReportV1) -> String {
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
            short_description: Message { text: &f.title },
            help: (!f.remediation.is_empty()).then_some(Message {
                text: &f.remediation,
            }),
            help_uri: f
                .references
                .iter()
                .find(|r| r.starts_with("https://") || r.starts_with("http://"))
                .map(String::as_str),
            default_configuration: Configuration { level: level(max) },
            properties: RuleProperties {
                security_severity: security_severity(max),
                tags: ["security"],
            },
        })
        .collect();

    let results = report
        .findings
        .iter()
        .map(|f| SarifResult {
            rule_id: &f.rule_id,
            // Every finding's rule was indexed in the loop above.
            rule_index: index.get(f.rule_id.as_str()).copied().unwrap_or_default(),
            level: level(f.severity),
            message: Message { text: &f.message },
            locations: [Location {
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
            partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, f.fingerprint.as_str())]),
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
        })
        .collect();

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
            },
        }],
    };
    let mut s = serde_json::to_string_pretty(&log).expect("SARIF always serializes");
    s.push('\n');
    s
}

/// The project's home page, from Cargo.toml (`homepage`, else `repository`); omitted when neither is set.
fn information_uri() -> Option<&'static str> {
    [env!("CARGO_PKG_HOMEPAGE"), env!("CARGO_PKG_REPOSITORY")]
        .into_iter()
        .find(|u| !u.is_empty())
}
