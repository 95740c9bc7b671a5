//! The report: the v1 DTO, every renderer (insta snapshots), the schema file, atomic writes.
//!
//! The findings here are hand-made: these tests pin the output contract, not the rules.
//! Accept intended snapshot changes with `INSTA_UPDATE=always cargo test --test it report`, then review
//! the `.snap` files. Regenerate docs/report.schema.json with `UPDATE_DOCS=1 cargo test --test it report`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use gdap_audit::evaluate::{CoverageOutcome, Evaluation, NotEvaluated, SuppressedFinding};
use gdap_audit::report::{self, Format, ReportHeader, ReportV1, Style};
use gdap_audit::rules::{Finding, Severity, Subject, SubjectKind};
use gdap_audit::snapshot::{Coverage, CoverageStatus, Perspective, Source};
use serde_json::{Value, json};

const TENANT: &str = "11111111-1111-4111-8111-111111111111";
const PARTNER: &str = "22222222-2222-4222-8222-222222222222";
const OTHER_PARTNER: &str = "33333333-3333-4333-8333-333333333333";

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn finding(
    rule_id: &str,
    severity: Severity,
    title: &str,
    message: &str,
    kind: SubjectKind,
    id: &str,
    name: Option<&str>,
    partner: Option<&str>,
    evidence: Value,
    fingerprint: &str,
    first_seen: Option<DateTime<Utc>>,
) -> Finding {
    let evidence: BTreeMap<String, Value> = match evidence {
        Value::Object(m) => m.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    Finding {
        rule_id: rule_id.into(),
        severity,
        title: title.to_owned().into(),
        message: message.into(),
        subject: Subject {
            kind,
            id: id.into(),
            display_name: name.map(Into::into),
        },
        partner_tenant_id: partner.map(Into::into),
        customer_tenant_id: Some(TENANT.into()),
        evidence: evidence.into(),
        remediation: format!(
            "Fix {rule_id}: review the partner's access in the Entra admin centre."
        )
        .into(),
        references: vec![
            "https://attack.mitre.org/techniques/T1199/".into(),
            "MITRE ATT&CK T1199 Trusted Relationship".into(),
        ],
        fingerprint: fingerprint.into(),
        first_seen,
    }
}

fn coverage(source: Source, status: CoverageStatus) -> Coverage {
    Coverage {
        source,
        status,
        detail: None,
        graph_code: None,
        request_id: None,
        permission: None,
        items: None,
    }
}

fn outcome(coverage: Coverage, rules: &[&str]) -> CoverageOutcome {
    CoverageOutcome {
        coverage,
        rules_not_evaluated: rules.iter().map(|r| r.to_string()).collect(),
    }
}

fn header() -> ReportHeader {
    ReportHeader {
        tenant_id: TENANT.into(),
        tenant_name: Some("Contoso Ltd".into()),
        as_of: at(2026, 3, 1, 12),
        // Unsorted and duplicated on purpose: the report sorts and de-duplicates.
        perspectives: vec![
            Perspective::Customer,
            Perspective::Partner,
            Perspective::Customer,
        ],
        settings: None,
        context: None,
    }
}

/// A representative evaluation: every severity, every subject kind that matters, a suppression, coverage
/// gaps of several kinds, a rule not evaluated and a warning.
fn evaluation() -> Evaluation {
    let findings = vec![
        finding(
            "global-admin-granted",
            Severity::Critical,
            "Partner holds Global Administrator",
            "Fabrikam MSP can act as Global Administrator in this tenant through GDAP.",
            SubjectKind::Partner,
            PARTNER,
            Some("Fabrikam MSP"),
            Some(PARTNER),
            json!({"roles": ["Global Administrator"], "via": "serviceProviderConstraints"}),
            "fp-0001",
            Some(at(2026, 1, 15, 8)),
        ),
        finding(
            "mfa-not-enforced-for-partners",
            Severity::High,
            "MFA is not enforced for partner users",
            "No enabled Conditional Access policy requires MFA for service-provider users.",
            SubjectKind::Tenant,
            TENANT,
            Some("Contoso Ltd"),
            None,
            json!({"policies_checked": 4}),
            "fp-0002",
            None,
        ),
        finding(
            "privileged-role-granted",
            Severity::High,
            "Partner holds privileged roles",
            "Northwind, \"Support\" Ltd holds 2 privileged roles: Exchange Administrator, Security Administrator.",
            SubjectKind::Partner,
            OTHER_PARTNER,
            Some("Northwind, \"Support\" Ltd"),
            Some(OTHER_PARTNER),
            json!({"roles": ["Exchange Administrator", "Security Administrator"]}),
            "fp-0003",
            None,
        ),
        finding(
            "partner-owned-app",
            Severity::Medium,
            "Application owned by a partner tenant",
            "=HYPERLINK(\"https://evil.example\") is owned by partner tenant Fabrikam MSP.",
            SubjectKind::ServicePrincipal,
            "44444444-4444-4444-8444-444444444444",
            Some("=HYPERLINK(\"https://evil.example\")"),
            Some(PARTNER),
            json!({"app_roles": ["Microsoft Graph: User.Read.All"]}),
            "fp-0004",
            None,
        ),
        finding(
            "expiring-soon",
            Severity::Low,
            "GDAP relationship expires soon",
            "Relationship Contoso_Default ends on 2026-03-20 and does not auto-extend.\nRenew it or let it lapse.",
            SubjectKind::Relationship,
            "rel-55555555",
            Some("Contoso_Default"),
            Some(PARTNER),
            json!({"end": "2026-03-20T00:00:00Z", "days_left": 19}),
            "fp-0005",
            Some(at(2026, 2, 20, 0)),
        ),
        finding(
            "partner-mfa-trusted",
            Severity::Info,
            "Partner MFA is trusted",
            "The tenant accepts MFA performed in Fabrikam MSP's tenant.",
            SubjectKind::Partner,
            PARTNER,
            Some("Fabrikam MSP"),
            Some(PARTNER),
            json!({"isMfaAccepted": true}),
            "fp-0006",
            None,
        ),
    ];
    let suppressed = vec![SuppressedFinding {
        finding: finding(
            "orphaned-partner-entry",
            Severity::Low,
            "Leftover partner entry",
            "Old Reseller has no roles, assignments or sign-ins.",
            SubjectKind::Partner,
            "66666666-6666-4666-8666-666666666666",
            Some("Old Reseller"),
            Some("66666666-6666-4666-8666-666666666666"),
            json!({}),
            "fp-0007",
            None,
        ),
        reason: "Contract ends in April; removal scheduled (TICKET-42).".into(),
        expires: Some(at(2026, 4, 30, 0)),
    }];
    let mut cov = Vec::new();
    for &source in Source::ALL {
        let c = match source {
            Source::SignIns => outcome(
                Coverage {
                    detail: Some(
                        "Sign-in logs need Entra ID P1 or P2 in the audited tenant.".into(),
                    ),
                    graph_code: Some(
                        "Authentication_RequestFromNonPremiumTenantOrB2CTenant".into(),
                    ),
                    ..coverage(source, CoverageStatus::Unlicensed)
                },
                &[
                    "partner-signin-without-mfa",
                    "partner-signin-unexpected-location",
                    "stale-partner-access",
                ],
            ),
            Source::DirectoryAudits => outcome(
                Coverage {
                    detail: Some("Graph answered 403 Forbidden.".into()),
                    graph_code: Some("Authorization_RequestDenied".into()),
                    request_id: Some("0e5e1a2b-0000-4000-8000-000000000000".into()),
                    permission: Some(source.permission().into()),
                    ..coverage(source, CoverageStatus::Denied)
                },
                &["partner-privileged-change"],
            ),
            Source::LighthouseMyRoles => outcome(
                Coverage {
                    detail: Some("Needs a delegated sign-in.".into()),
                    ..coverage(source, CoverageStatus::Skipped)
                },
                &[],
            ),
            _ => outcome(
                Coverage {
                    items: Some(3),
                    ..coverage(source, CoverageStatus::Collected)
                },
                &[],
            ),
        };
        cov.push(c);
    }
    Evaluation {
        findings,
        suppressed,
        coverage: cov,
        not_evaluated: vec![NotEvaluated {
            rule_id: "roles-exceed-approved".into(),
            reason: "No approved role set is configured ([approved_roles]).".into(),
        }],
        warnings: vec![
            "Unknown crossTenantAccessType value \"passthrough\" kept as a string.".into(),
        ],
        evaluated: vec![
            "global-admin-granted".into(),
            "roles-exceed-approved".into(),
        ],
    }
}

fn clean_evaluation() -> Evaluation {
    Evaluation {
        findings: vec![],
        suppressed: vec![],
        coverage: Source::ALL
            .iter()
            .map(|&s| outcome(coverage(s, CoverageStatus::Collected), &[]))
            .collect(),
        not_evaluated: vec![],
        warnings: vec![],
        evaluated: gdap_audit::rules::all_rules()
            .map(|r| r.id.to_owned())
            .collect(),
    }
}

/// The representative report, with a fixed tool version so that snapshots survive version bumps.
fn sample() -> ReportV1 {
    let mut r = report::build(&header(), &evaluation(), at(2026, 3, 1, 12));
    r.tool.version = "0.0.0-test".into();
    r
}

fn clean() -> ReportV1 {
    let mut r = report::build(&header(), &clean_evaluation(), at(2026, 3, 1, 12));
    r.tool.version = "0.0.0-test".into();
    r
}

fn plain(width: u16) -> Style {
    Style {
        color: false,
        unicode: false,
        width: Some(width),
    }
}

#[test]
fn build_fills_the_header_summary_and_keeps_order() {
    let r = report::build(&header(), &evaluation(), at(2026, 3, 1, 12));
    assert_eq!(r.schema_version, "1");
    assert_eq!(r.tool.name, "gdap-audit");
    assert_eq!(r.tool.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(r.tenant_id, TENANT);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["perspectives"], json!(["partner", "customer"]));
    assert_eq!(
        v["summary"],
        json!({"critical": 1, "high": 2, "medium": 1, "low": 1, "info": 1, "suppressed": 1})
    );
    let ids: Vec<&str> = r.findings.iter().map(|f| f.fingerprint.as_str()).collect();
    assert_eq!(
        ids,
        [
            "fp-0001", "fp-0002", "fp-0003", "fp-0004", "fp-0005", "fp-0006"
        ]
    );
    assert_eq!(r.coverage.len(), Source::ALL.len());
    assert!(
        !r.coverage_complete(),
        "sign_ins and directory_audits are gaps"
    );
    assert!(clean().coverage_complete());
    // A skipped source is a gap only when a rule of an audited perspective needed it.
    let mut e = clean_evaluation();
    e.coverage[0].coverage.status = CoverageStatus::Skipped;
    assert!(
        report::build(&header(), &e, at(2026, 3, 1, 12)).coverage_complete(),
        "not applicable"
    );
    e.coverage[0].rules_not_evaluated = vec!["pending-approval".into()];
    let r2 = report::build(&header(), &e, at(2026, 3, 1, 12));
    assert!(!r2.coverage_complete(), "a rule needed it");
    assert_eq!(r2.coverage_gaps().count(), 1);
    // A suppressed entry is the finding object plus reason and expires, flat.
    let s = &v["suppressed"][0];
    assert_eq!(s["rule_id"], "orphaned-partner-entry");
    assert_eq!(
        s["reason"],
        "Contract ends in April; removal scheduled (TICKET-42)."
    );
    assert_eq!(s["expires"], "2026-04-30T00:00:00Z");
    // The JSON round-trips into the DTO.
    let back: ReportV1 = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

#[test]
fn json_is_byte_identical_for_the_same_input() {
    let a = report::render(
        &report::build(&header(), &evaluation(), at(2026, 3, 1, 12)),
        Format::Json,
        Style::plain(),
    );
    let b = report::render(
        &report::build(&header(), &evaluation(), at(2026, 3, 1, 12)),
        Format::Json,
        Style::plain(),
    );
    assert_eq!(a.as_bytes(), b.as_bytes());
    for format in [
        Format::Jsonl,
        Format::Sarif,
        Format::Csv,
        Format::Markdown,
        Format::Html,
        Format::Table,
    ] {
        assert_eq!(
            report::render(&sample(), format, plain(100)),
            report::render(&sample(), format, plain(100)),
            "{format} is deterministic"
        );
    }
}

#[test]
fn json_snapshot() {
    let out = report::render(&sample(), Format::Json, Style::plain());
    assert!(out.ends_with("}\n"));
    insta::assert_snapshot!("json", out);
}

#[test]
fn jsonl_is_one_finding_object_per_line() {
    let r = sample();
    let out = report::render(&r, Format::Jsonl, Style::plain());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), r.findings.len());
    let full = serde_json::to_value(&r).unwrap();
    for (i, line) in lines.iter().enumerate() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        // Each line is a ticket on its own: the audited tenant and the evaluation time come with it.
        let line = v.as_object_mut().unwrap();
        assert_eq!(line.remove("tenant_id").unwrap(), full["tenant_id"]);
        assert_eq!(
            line.remove("tenant_name").unwrap(),
            full.get("tenant_name").cloned().unwrap_or(Value::Null)
        );
        assert_eq!(line.remove("as_of").unwrap(), full["as_of"]);
        assert_eq!(
            v, full["findings"][i],
            "line {i} is the json finding object plus the tenant and as_of"
        );
    }
    assert_eq!(report::render(&clean(), Format::Jsonl, Style::plain()), "");
    insta::assert_snapshot!("jsonl", out);
}

#[test]
fn table_ascii_snapshot() {
    let out = report::render(&sample(), Format::Table, plain(110));
    assert!(out.is_ascii(), "unicode=false is plain ASCII");
    assert!(!out.contains('\x1b'), "color=false has no escape codes");
    assert!(
        out.lines().all(|l| l.chars().count() <= 110),
        "fits the width"
    );
    insta::assert_snapshot!("table_ascii", out);
}

#[test]
fn table_unicode_snapshot() {
    let out = report::render(
        &sample(),
        Format::Table,
        Style {
            color: false,
            unicode: true,
            width: Some(110),
        },
    );
    assert!(out.contains('┆'));
    assert!(!out.contains('\x1b'));
    insta::assert_snapshot!("table_unicode", out);
}

#[test]
fn table_colour_only_when_asked() {
    let colored = report::render(
        &sample(),
        Format::Table,
        Style {
            color: true,
            unicode: true,
            width: Some(110),
        },
    );
    assert!(colored.contains("\x1b["));
    let plain_out = report::render(
        &sample(),
        Format::Table,
        Style {
            color: false,
            unicode: true,
            width: None,
        },
    );
    assert!(!plain_out.contains('\x1b'));
}

#[test]
fn table_without_findings_says_so() {
    let out = report::render(&clean(), Format::Table, plain(100));
    assert!(
        out.contains("No findings at or above info. 23 sources collected."),
        "{out}"
    );
    insta::assert_snapshot!("table_clean", out);
}

#[test]
fn table_strips_control_characters_from_graph_text() {
    let mut eval = evaluation();
    eval.findings[0].subject.display_name = Some("Evil\x1b[2J\x1b]0;pwned\x07 MSP".into());
    let r = report::build(&header(), &eval, at(2026, 3, 1, 12));
    let out = report::render(&r, Format::Table, Style::plain());
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    let md = report::render(&r, Format::Markdown, Style::plain());
    assert!(!md.contains('\x1b'));
}

#[test]
fn csv_snapshot_quotes_and_neutralises_formulas() {
    let out = report::render(&sample(), Format::Csv, Style::plain());
    let mut lines = out.split('\n');
    assert_eq!(
        lines.next().unwrap(),
        "severity,rule_id,subject_kind,subject_id,subject_name,partner_tenant_id,customer_tenant_id,message,fingerprint,first_seen,title,remediation,references,tenant_id,tenant_name"
    );
    // A comma and quotes: quoted, quotes doubled.
    assert!(out.contains(r#","Northwind, ""Support"" Ltd","#), "{out}");
    // A formula: neutralised with a leading quote, then quoted because of the quotes inside.
    assert!(
        out.contains(r#","'=HYPERLINK(""https://evil.example"")","#),
        "{out}"
    );
    assert!(
        out.contains(r#","'=HYPERLINK(""https://evil.example"") is owned by"#),
        "{out}"
    );
    // A newline inside a cell stays inside the quoted cell.
    assert!(out.contains("\"Relationship Contoso_Default ends on 2026-03-20 and does not auto-extend.\nRenew it or let it lapse.\""));
    assert!(out.ends_with('\n'));
    insta::assert_snapshot!("csv", out);
}

#[test]
fn csv_neutralises_every_formula_prefix() {
    let mut eval = clean_evaluation();
    for (i, name) in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "plain", " spaced "]
        .iter()
        .enumerate()
    {
        eval.findings.push(finding(
            "partner-owned-app",
            Severity::Medium,
            "t",
            "m",
            SubjectKind::ServicePrincipal,
            &format!("sp-{i}"),
            Some(name),
            None,
            json!({}),
            &format!("fp-{i}"),
            None,
        ));
    }
    let out = report::render(
        &report::build(&header(), &eval, at(2026, 3, 1, 12)),
        Format::Csv,
        Style::plain(),
    );
    let names: Vec<String> = parse_csv(&out)
        .iter()
        .skip(1)
        .map(|row| row[4].clone())
        .collect();
    assert!(
        out.contains(",\" spaced \","),
        "edge spaces are quoted: {out}"
    );
    assert_eq!(
        names,
        [
            "'=1+1",
            "'+1",
            "'-2",
            "'@SUM(A1)",
            "'\tx",
            "plain",
            " spaced "
        ]
    );
}

#[test]
fn sarif_snapshot_levels_and_fingerprints() {
    let r = sample();
    let out = report::render(&r, Format::Sarif, Style::plain());
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["tool"]["driver"]["name"], "gdap-audit");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        rule_ids,
        [
            "global-admin-granted",
            "mfa-not-enforced-for-partners",
            "privileged-role-granted",
            "partner-owned-app",
            "expiring-soon",
            "partner-mfa-trusted"
        ],
        "one descriptor per rule id that appears, suppressed ones excluded"
    );
    assert_eq!(
        rules[0]["helpUri"],
        "https://attack.mitre.org/techniques/T1199/"
    );
    assert_eq!(
        rules[0]["shortDescription"]["text"],
        "Partner holds Global Administrator"
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), r.findings.len());
    for (res, f) in results.iter().zip(&r.findings) {
        let expected = match f.severity {
            report::v1::Severity::Critical | report::v1::Severity::High => "error",
            report::v1::Severity::Medium => "warning",
            report::v1::Severity::Low | report::v1::Severity::Info => "note",
        };
        assert_eq!(res["level"], expected, "{}", f.rule_id);
        assert_eq!(
            res["partialFingerprints"]["gdapAuditFingerprint/v1"],
            f.fingerprint.as_str()
        );
        assert_eq!(
            rules[res["ruleIndex"].as_u64().unwrap() as usize]["id"],
            res["ruleId"]
        );
        let loc = &res["locations"][0]["logicalLocations"][0];
        assert_eq!(
            loc["fullyQualifiedName"],
            format!(
                "tenant/{TENANT}/{}/{}",
                f.subject.kind.as_str(),
                f.subject.id
            )
            .as_str()
        );
        assert_eq!(loc["kind"], "resource");
    }
    insta::assert_snapshot!("sarif", out);
}

#[test]
fn markdown_snapshot() {
    let out = report::render(&sample(), Format::Markdown, Style::plain());
    assert!(out.starts_with(
        "# Partner access audit: Contoso Ltd (`11111111-1111-4111-8111-111111111111`), 2026-03-01\n"
    ));
    assert!(out.contains("## What could not be checked"));
    assert!(out.ends_with('\n') && !out.ends_with("\n\n"));
    insta::assert_snapshot!("markdown", out);
}

#[test]
fn markdown_escapes_markup_in_graph_text() {
    let mut eval = clean_evaluation();
    eval.findings.push(finding(
        "partner-owned-app",
        Severity::Medium,
        "t",
        "# [click](https://evil.example) <img src=x> *bold* | pipe",
        SubjectKind::ServicePrincipal,
        "sp-1",
        Some("![x](https://evil.example/x.png)"),
        None,
        json!({}),
        "fp-1",
        None,
    ));
    let out = report::render(
        &report::build(&header(), &eval, at(2026, 3, 1, 12)),
        Format::Markdown,
        Style::plain(),
    );
    assert!(
        out.contains(r"\# \[click\](https://evil.example) \<img src=x\> \*bold\* \| pipe"),
        "{out}"
    );
    assert!(out.contains(r"!\[x\](https://evil.example/x.png)"), "{out}");
    assert!(!out.contains(" <img"), "{out}");
}

#[test]
fn schema_file_is_in_sync() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let expected = report::report_schema_string();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "docs/report.schema.json is out of date with ReportV1; regenerate it with \
         `UPDATE_DOCS=1 cargo test --test it report` and review the diff (a change other than an added \
         optional field needs schema_version 2)"
    );
}

#[test]
fn schema_describes_the_report() {
    let schema = report::report_schema();
    let v = serde_json::to_value(sample()).unwrap();
    let obj = v.as_object().unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in obj.keys() {
        assert!(props.contains_key(key), "{key} is in the schema");
    }
    for key in schema["required"].as_array().unwrap() {
        assert!(obj.contains_key(key.as_str().unwrap()), "{key} is written");
    }
    // A report without a tenant name omits the key, which the schema allows.
    assert!(
        !schema["required"]
            .as_array()
            .unwrap()
            .contains(&json!("tenant_name"))
    );
    let finding = &schema["$defs"]["FindingV1"];
    let required: Vec<&str> = finding["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for key in [
        "rule_id",
        "severity",
        "title",
        "message",
        "subject",
        "partner_tenant_id",
        "customer_tenant_id",
        "evidence",
        "remediation",
        "references",
        "fingerprint",
        "first_seen",
    ] {
        assert!(required.contains(&key), "finding.{key} is always written");
    }
}

#[test]
fn write_atomic_replaces_the_file_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    gdap_audit::files::write_atomic(&path, "first\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
    gdap_audit::files::write_atomic(&path, "second\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.json"]);

    let missing = dir.path().join("no-such-dir").join("report.json");
    assert!(gdap_audit::files::write_atomic(&missing, "x").is_err());
    assert!(!missing.exists());
}

// ---------------------------------------------------------------------------------------------------
// Hostile and huge Graph text (#17, #18)

/// A report whose first finding carries `name` as display name, in its message and in its evidence.
fn report_with_name(name: &str) -> ReportV1 {
    let mut eval = evaluation();
    let f = &mut eval.findings[0];
    f.subject.display_name = Some(name.to_owned());
    f.message = format!("{name} can act as Global Administrator in this tenant.");
    f.evidence.insert("partner_name", json!([name]));
    eval.warnings.push(format!("Odd name {name}"));
    report::build(&header(), &eval, at(2026, 3, 1, 12))
}

fn every_format_and_style() -> Vec<(Format, Style)> {
    let mut all = vec![];
    for format in [
        Format::Table,
        Format::Json,
        Format::Jsonl,
        Format::Sarif,
        Format::Csv,
        Format::Markdown,
        Format::Html,
    ] {
        all.push((format, Style::plain()));
        all.push((
            format,
            Style {
                color: true,
                unicode: true,
                width: Some(100),
            },
        ));
    }
    all
}

/// #17: a 200 KB and a 5 MB unbroken display name are cut in the report and in every format, which
/// says so, and the output stays small (the table renderer was quadratic in an unbroken word: 200 KB
/// took 34 s, 5 MB would not finish).
#[test]
fn huge_display_names_are_cut_in_every_format() {
    for size in [200 * 1024, 5 * 1024 * 1024] {
        let name = "N".repeat(size);
        let r = report_with_name(&name);
        let dto = &r
            .findings
            .iter()
            .find(|f| f.fingerprint == "fp-0001")
            .unwrap();
        let shown = dto.subject.display_name.as_deref().unwrap();
        assert!(shown.len() <= gdap_audit::text::MAX_NAME, "{}", shown.len());
        assert!(shown.ends_with(&format!("… [truncated, {size} bytes]")));
        assert!(dto.message.len() <= gdap_audit::text::MAX_TEXT);
        assert!(
            dto.evidence.map()["partner_name"][0]
                .as_str()
                .unwrap()
                .len()
                <= gdap_audit::text::MAX_TEXT
        );
        for (format, style) in every_format_and_style() {
            let out = report::render(&r, format, style);
            // Uncut, the name alone appears three times (name, message, warning): 600 KB.
            assert!(out.len() < 192 * 1024, "{format}: {} bytes", out.len());
            assert!(
                out.contains("truncated"),
                "{format} does not say the name was cut"
            );
        }
    }
}

/// #17: the renderers cap on their own, so a report not made by `build` (e.g. read back from JSON)
/// still renders in linear time and bounded size in the human formats and CSV.
#[test]
fn renderers_cap_text_of_a_report_not_made_by_build() {
    let mut r = sample();
    let name = "N".repeat(200 * 1024);
    r.findings[0].subject.display_name = Some(name.clone());
    r.findings[0].message = name.clone();
    r.warnings.push(name);
    for (format, style) in every_format_and_style() {
        if matches!(format, Format::Json | Format::Jsonl | Format::Sarif) {
            continue; // exact data formats: serialized as given, linear in it
        }
        let out = report::render(&r, format, style);
        assert!(out.len() < 192 * 1024, "{format}: {} bytes", out.len());
        assert!(out.contains("truncated"), "{format}");
    }
}

const HOSTILE: &str =
    "Evil\x1b]0;pwned\x07\x1b[2J\u{9b}31m MSP\r\u{202e}gnp.exe\u{2066}\u{200b}\u{e0041}\x7f";

/// #18: CSV passed ESC, BEL, OSC, C1 controls and bidi overrides through: `cat report.csv` cleared the
/// terminal. Every cell is sanitised and the CSV stays valid.
#[test]
fn csv_cells_carry_no_terminal_control_or_bidi_characters() {
    let out = report::render(&report_with_name(HOSTILE), Format::Csv, Style::plain());
    for bad in [
        '\x1b',
        '\x07',
        '\u{9b}',
        '\r',
        '\u{202e}',
        '\u{2066}',
        '\u{200b}',
        '\u{e0041}',
        '\x7f',
    ] {
        assert!(!out.contains(bad), "{bad:?} in {out:?}");
    }
    assert!(
        out.contains("Evil ]0;pwned  [2J 31m MSP\ngnp.exe"),
        "{out:?}"
    );
    let rows = parse_csv(&out);
    assert!(rows.iter().all(|r| r.len() == 15), "{rows:?}");
}

/// #18: a formula behind leading whitespace is neutralised too.
#[test]
fn csv_neutralises_formulas_behind_whitespace() {
    let out = report::render(
        &report_with_name(" =cmd|' /C calc'!A0"),
        Format::Csv,
        Style::plain(),
    );
    assert!(out.contains(",' =cmd|' /C calc'!A0,"), "{out}");
}

/// #18: every other renderer is clean too: the human formats drop the characters, the JSON formats
/// escape them (the data stays exact).
#[test]
fn no_format_passes_terminal_control_or_bidi_characters() {
    let r = report_with_name(HOSTILE);
    for (format, style) in every_format_and_style() {
        let out = report::render(&r, format, style);
        // The table's own colours are the only escape sequences allowed.
        let out = if style.color {
            out.replace("\x1b[0m", "")
                .replace("\x1b[1m", "")
                .replace("\x1b[22m", "")
                .replace("\x1b[39m", "")
                .replace("\x1b[32m", "")
                .replace("\x1b[33m", "")
                .replace("\x1b[38;5;9m", "")
                .replace("\x1b[38;5;11m", "")
                .replace("\x1b[38;5;14m", "")
                .replace("\x1b[38;5;12m", "")
        } else {
            out
        };
        let bad: Vec<char> = out
            .chars()
            .filter(|&c| {
                (c.is_control() && c != '\n' && c != '\t') || gdap_audit::text::is_hidden(c)
            })
            .collect();
        assert!(bad.is_empty(), "{format} {style:?}: {bad:?}");
    }
    let json = report::render(&r, Format::Json, Style::plain());
    let back: ReportV1 = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r, "escaping changed the data");
}

/// A minimal RFC 4180 reader (`\n` line ends), to check that CSV output parses back.
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted cell");
    assert!(cell.is_empty() && row.is_empty(), "no final line end");
    rows
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn unicode() -> impl Strategy<Value = String> {
        let nasty = prop_oneof![
            Just('\x1b'),
            Just('\x07'),
            Just('\u{9b}'),
            Just('\n'),
            Just('\r'),
            Just('"'),
            Just(','),
            Just('='),
            Just('|'),
            Just('`'),
            Just('\u{202e}'),
            Just('\u{e0041}'),
            Just(' '),
        ];
        proptest::collection::vec(prop_oneof![any::<char>(), nasty], 0..24)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// #17/#18: every renderer takes any strings without panicking; CSV parses back, one row per
        /// finding plus the header, fifteen cells each; JSON parses back to the same report.
        #[test]
        fn every_renderer_takes_any_strings(
            name in unicode(),
            id in unicode(),
            message in unicode(),
            detail in unicode(),
            warning in unicode(),
            tenant_name in unicode(),
        ) {
            let mut eval = evaluation();
            for f in &mut eval.findings {
                f.subject.display_name = Some(name.clone());
                f.subject.id = id.clone();
                f.message = message.clone();
                f.evidence.insert("x", json!({"k": name.clone()}));
            }
            eval.coverage[0].coverage.detail = Some(detail.clone());
            eval.warnings.push(warning);
            let mut h = header();
            h.tenant_name = Some(tenant_name);
            let r = report::build(&h, &eval, at(2026, 3, 1, 12));
            for (format, style) in every_format_and_style() {
                let out = report::render(&r, format, style);
                match format {
                    Format::Csv => {
                        let rows = parse_csv(&out);
                        prop_assert_eq!(rows.len(), r.findings.len() + 1);
                        prop_assert!(rows.iter().all(|row| row.len() == 15));
                    }
                    Format::Json => {
                        let back: ReportV1 = serde_json::from_str(&out).unwrap();
                        prop_assert_eq!(&back, &r);
                    }
                    Format::Sarif | Format::Jsonl => {
                        for line in out.lines().filter(|_| format == Format::Jsonl) {
                            serde_json::from_str::<Value>(line).unwrap();
                        }
                        if format == Format::Sarif {
                            // #10: valid SARIF that GitHub accepts, whatever the strings.
                            let sarif = serde_json::from_str::<Value>(&out).unwrap();
                            let problems = crate::outputs::sarif_problems(&sarif);
                            prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
                        }
                    }
                    Format::Html => {
                        // #11: Graph text never becomes markup: the page's own script is the only one.
                        prop_assert_eq!(out.matches("<script").count(), 1);
                        prop_assert!(!out.contains('\u{202e}'), "bidi override in html");
                    }
                    Format::Table | Format::Markdown => {}
                }
            }
        }
    }
}

/// #17: comfy-table is quadratic in an unbroken word it has to wrap (it re-measures the remainder at
/// every split: 200 findings with a 4 KB word took 13 s); a wrapping table cuts such a word first and
/// says so, so its size (and time) stays linear in the findings. Without wrapping nothing is cut.
#[test]
fn wrapping_table_cuts_unbroken_words_first() {
    let mut eval = clean_evaluation();
    for i in 0..50 {
        eval.findings.push(finding(
            "partner-owned-app",
            Severity::Medium,
            "t",
            &format!("Owned by {} today.", "M".repeat(4000)),
            SubjectKind::ServicePrincipal,
            &format!("sp-{i}"),
            Some(&"N".repeat(1000)),
            None,
            json!({}),
            &format!("fp-{i}"),
            None,
        ));
    }
    let r = report::build(&header(), &eval, at(2026, 3, 1, 12));
    let out = report::render(&r, Format::Table, plain(100));
    assert!(out.contains("[truncated, 4000 bytes]"), "{out}");
    assert!(
        out.contains("today."),
        "the words after the cut one are kept"
    );
    assert!(out.len() < 50 * 3 * 1024, "{} bytes", out.len());
    let unwrapped = report::render(&r, Format::Table, Style::plain());
    assert!(unwrapped.contains(&"M".repeat(4000)));
}

/// #11: the markdown report is an MSP checklist: one section per customer by name (partner side), a
/// `- [ ]` item per finding with its fix, coverage gaps as items with the permission to grant, and
/// nothing a ticket system that does not render markdown would show as noise (no tables, no HTML).
#[test]
fn markdown_is_a_checklist_by_customer_or_partner() {
    let out = report::render(&sample(), Format::Markdown, Style::plain());
    assert!(
        out.contains("## Checklist by customer or partner\n"),
        "{out}"
    );
    assert!(out.contains(
        "### Fabrikam MSP (`22222222-2222-4222-8222-222222222222`): 1 critical, 1 medium, 1 low, 1 info\n"
    ));
    assert!(out.contains(
        "### Northwind, \"Support\" Ltd (`33333333-3333-4333-8333-333333333333`): 1 high\n"
    ));
    assert_eq!(out.matches("\n- [ ] **").count(), sample().findings.len());
    assert_eq!(out.matches("\n  - Fix: ").count(), sample().findings.len());
    assert!(out.contains(
        "- [ ] `directory_audits` (denied): grant AuditLog.Read.All and Directory.Read.All\n"
    ));
    assert!(!out.contains("|---") && !out.contains("<br>"), "{out}");
}

/// GUIDs (8-4-4-4-12 hex) in a text.
fn guids(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|w| {
            w.len() == 36 && w.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        })
        .map(str::to_owned)
        .collect()
}

/// #11: at 80 columns the terminal table wraps between words: no rule id or GUID is split across lines
/// (comfy-table broke `partner-signin-unexpected-location` and tenant ids mid-word to fit its column).
#[test]
fn table_at_80_columns_keeps_rule_ids_and_guids_whole() {
    let dir = tempfile::tempdir().unwrap();
    for tenant in ["partner", "customer"] {
        let json = crate::html::demo(dir.path(), tenant, "json");
        let r: ReportV1 = serde_json::from_str(&json).unwrap();
        for unicode in [false, true] {
            let style = Style {
                color: false,
                unicode,
                width: Some(80),
            };
            let out = report::render(&r, Format::Table, style);
            for line in out.lines() {
                assert!(line.chars().count() <= 80, "wider than 80: {line}");
            }
            for f in &r.findings {
                assert!(
                    out.contains(&f.rule_id),
                    "{tenant}: {} split\n{out}",
                    f.rule_id
                );
                for g in guids(f.subject.label()).iter().chain(&guids(&f.message)) {
                    assert!(out.contains(g.as_str()), "{tenant}: {g} split\n{out}");
                }
            }
        }
    }
}

/// A report of thousands of findings is written in slices of rows: it still reads as one table, with one
/// header, one top and one bottom border, every row the same width (within the terminal's), and every
/// finding in severity order. `json` streams the bytes the whole document serializes to.
#[test]
fn a_large_table_is_written_in_slices_that_read_as_one_table() {
    let mut ev = evaluation();
    let template = ev.findings.clone();
    ev.findings = (0..1_100)
        .map(|i| {
            let mut f = template[i % template.len()].clone();
            f.subject.id = format!("subject-{i:05}");
            f.subject.display_name = Some(format!("Subject number {i} {}", "x".repeat(i % 70)));
            f.message = format!("m{i:05} {} {}", f.message, "word ".repeat(i % 40));
            f
        })
        .collect();
    let r = report::build(&header(), &ev, at(2026, 3, 1, 12));
    for style in [
        plain(120),
        plain(72),
        Style {
            color: false,
            unicode: true,
            width: Some(100),
        },
        Style::plain(),
    ] {
        let out = report::render(&r, Format::Table, style);
        let table: Vec<&str> = out
            .lines()
            .skip_while(|l| !(l.starts_with('+') || l.starts_with('┌')))
            .take_while(|l| !l.is_empty())
            .collect();
        let widths: std::collections::BTreeSet<usize> =
            table.iter().map(|l| l.chars().count()).collect();
        assert_eq!(
            widths.len(),
            1,
            "{style:?}: rows of several widths {widths:?}"
        );
        if let Some(w) = style.width {
            assert!(widths.iter().all(|x| *x <= usize::from(w)), "{style:?}");
        }
        assert_eq!(
            table.iter().filter(|l| l.contains("SEVERITY")).count(),
            1,
            "{style:?}: one header"
        );
        let borders = table
            .iter()
            .filter(|l| l.starts_with("+-") || l.starts_with('┌') || l.starts_with('└'))
            .count();
        // The top and the bottom border (the rule below the header is `+=` or `╞`).
        assert_eq!(borders, 2, "{style:?}");
        for i in [0, 1, 499, 1_099] {
            assert!(out.contains(&format!("m{i:05}")), "{style:?}: {i} lost");
        }
        // Highest severity first, across slice boundaries.
        let order: Vec<usize> = ["critical", "high", "medium", "low", "info"]
            .iter()
            .filter_map(|s| table.iter().position(|l| l.contains(&format!(" {s} "))))
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{style:?}: {order:?}"
        );
    }
    let mut streamed = Vec::new();
    report::write(&r, Format::Json, Style::plain(), &mut streamed).unwrap();
    let whole =
        gdap_audit::text::json_escape_hidden(serde_json::to_string_pretty(&r).unwrap() + "\n");
    assert!(String::from_utf8(streamed).unwrap() == whole);
    let jsonl = report::render(&r, Format::Jsonl, Style::plain());
    assert_eq!(jsonl.lines().count(), 1_100);
    let csv = report::render(&r, Format::Csv, Style::plain());
    assert!(csv.contains("m01099"));
}
