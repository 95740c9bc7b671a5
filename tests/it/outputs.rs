//! Outputs that tools accept: several reports from one run (`--report FORMAT=PATH`), SARIF that the
//! SARIF 2.1.0 schema and GitHub code scanning accept, ticket-ready CSV, shell completions and man pages.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::cli::{CLEAN, bin, clean_tenant, run, run_sync, scan_args, text};
use crate::common::*;

/// The official OASIS schema, committed under tests/schemas (see the README there), compiled once.
fn sarif_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(repo("tests/schemas/sarif-schema-2.1.0.json")).unwrap(),
        )
        .unwrap();
        jsonschema::draft4::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    })
}

/// Every error of `sarif` against the SARIF 2.1.0 schema, then against GitHub code scanning's
/// documented upload requirements ("SARIF support for code scanning": required properties, limits,
/// relative artifact URIs, `primaryLocationLineHash`).
pub(crate) fn sarif_problems(sarif: &Value) -> Vec<String> {
    let validator = sarif_validator();
    let mut problems: Vec<String> = validator
        .iter_errors(sarif)
        .map(|e| format!("schema: {} at {}", e, e.instance_path()))
        .collect();
    let mut bad = |what: String| problems.push(format!("github: {what}"));
    let nonempty = |v: &Value| v.as_str().is_some_and(|s| !s.trim().is_empty());

    if sarif["$schema"].as_str().is_none() || sarif["version"] != "2.1.0" {
        bad("$schema and version 2.1.0 are required".into());
    }
    let runs = sarif["runs"].as_array().cloned().unwrap_or_default();
    if runs.is_empty() || runs.len() > 20 {
        bad(format!("1 to 20 runs, got {}", runs.len()));
    }
    for run in &runs {
        let driver = &run["tool"]["driver"];
        if !nonempty(&driver["name"]) {
            bad("tool.driver.name is required".into());
        }
        let Some(rules) = driver["rules"].as_array() else {
            bad("tool.driver.rules[] is required".into());
            continue;
        };
        if rules.len() > 25_000 {
            bad("more than 25,000 rules".into());
        }
        for rule in rules {
            let id = rule["id"].as_str().unwrap_or("?");
            for field in ["shortDescription", "fullDescription", "help"] {
                if !nonempty(&rule[field]["text"]) {
                    bad(format!("rule {id}: {field}.text is required and not empty"));
                }
            }
            if rule["shortDescription"]["text"]
                .as_str()
                .is_some_and(|t| t.chars().count() > 1024)
            {
                bad(format!("rule {id}: shortDescription over 1024 characters"));
            }
            if rule["name"]
                .as_str()
                .is_some_and(|n| n.chars().count() > 255)
            {
                bad(format!("rule {id}: name over 255 characters"));
            }
            if let Some(level) = rule["defaultConfiguration"]["level"].as_str()
                && !["note", "warning", "error"].contains(&level)
            {
                bad(format!("rule {id}: level {level}"));
            }
            let tags = rule["properties"]["tags"].as_array();
            if tags.is_some_and(|t| t.len() > 20) {
                bad(format!("rule {id}: more than 20 tags"));
            }
            if let Some(s) = rule["properties"]["security-severity"].as_str() {
                let ok = s.parse::<f64>().is_ok_and(|x| x > 0.0 && x <= 10.0);
                let security = tags.is_some_and(|t| t.iter().any(|t| t == "security"));
                if !ok || !security {
                    bad(format!(
                        "rule {id}: security-severity {s:?} must be in (0, 10] on a security-tagged rule"
                    ));
                }
            }
        }
        let Some(results) = run["results"].as_array() else {
            bad("results[] is required".into());
            continue;
        };
        if results.len() > 25_000 {
            bad("more than 25,000 results".into());
        }
        for (i, r) in results.iter().enumerate() {
            let rule_id = r["ruleId"].as_str().unwrap_or("?");
            if !rules.iter().any(|d| d["id"] == r["ruleId"]) {
                bad(format!(
                    "result {i}: ruleId {rule_id} not in tool.driver.rules"
                ));
            }
            if let Some(index) = r["ruleIndex"].as_u64()
                && rules.get(index as usize).map(|d| &d["id"]) != Some(&r["ruleId"])
            {
                bad(format!("result {i}: ruleIndex does not point at {rule_id}"));
            }
            if !nonempty(&r["message"]["text"]) {
                bad(format!("result {i}: message.text is required"));
            }
            if !nonempty(&r["partialFingerprints"]["primaryLocationLineHash"]) {
                bad(format!(
                    "result {i}: partialFingerprints.primaryLocationLineHash"
                ));
            }
            let locations = r["locations"].as_array().cloned().unwrap_or_default();
            if locations.is_empty() || locations.len() > 10 {
                bad(format!(
                    "result {i}: 1 to 10 locations, got {}",
                    locations.len()
                ));
            }
            for loc in &locations {
                let physical = &loc["physicalLocation"];
                let uri = physical["artifactLocation"]["uri"].as_str().unwrap_or("");
                if uri.is_empty() {
                    bad(format!("result {i}: physicalLocation.artifactLocation.uri"));
                }
                // upload-sarif gives the checkout as a file: source root; an absolute URI of another
                // scheme is rejected, so the URI must be relative.
                let scheme = uri
                    .split_once(':')
                    .is_some_and(|(s, _)| !s.is_empty() && !s.contains('/'));
                if scheme || uri.starts_with('/') {
                    bad(format!("result {i}: artifact URI {uri:?} is not relative"));
                }
                for key in ["startLine", "startColumn", "endLine", "endColumn"] {
                    if physical["region"][key].as_u64().is_none_or(|n| n < 1) {
                        bad(format!("result {i}: region.{key} is required"));
                    }
                }
            }
        }
    }
    problems
}

fn demo(dir: &Path, args: &[&str]) -> std::process::Output {
    run_sync({
        let mut c = bin(dir);
        c.arg("demo").args(args);
        c
    })
}

/// #10: the demo's SARIF validates against the official SARIF 2.1.0 schema and meets GitHub code
/// scanning's upload requirements; every result has a stable physical location per tenant and subject,
/// and keeps its logical location and fingerprint.
#[test]
fn demo_sarif_is_valid_sarif_that_github_code_scanning_accepts() {
    let dir = tempfile::tempdir().unwrap();
    for tenant in ["partner", "customer"] {
        let out = demo(dir.path(), &["--tenant", tenant, "--format", "sarif", "-q"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = sarif_problems(&sarif);
        assert!(problems.is_empty(), "{tenant}:\n{}", problems.join("\n"));

        let run = &sarif["runs"][0];
        let tenant_id = run["properties"]["tenantId"].as_str().unwrap();
        let results = run["results"].as_array().unwrap();
        assert!(results.len() > 3, "{tenant}: the demo has findings");
        let mut uris = BTreeSet::new();
        for r in results {
            let loc = &r["locations"][0];
            let logical = loc["logicalLocations"][0]["fullyQualifiedName"]
                .as_str()
                .unwrap();
            let (kind, id) = logical
                .strip_prefix(&format!("tenant/{tenant_id}/"))
                .and_then(|rest| rest.split_once('/'))
                .unwrap_or_else(|| panic!("{logical}"));
            let uri = loc["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap();
            // Graph ids are GUIDs and the like: nothing to encode, the URI reads like the logical one.
            assert_eq!(uri, format!("gdap-audit/tenants/{tenant_id}/{kind}/{id}"));
            uris.insert((uri.to_owned(), r["ruleId"].as_str().unwrap().to_owned()));
            let fingerprint = r["partialFingerprints"]["gdapAuditFingerprint/v1"]
                .as_str()
                .unwrap();
            assert_eq!(
                r["partialFingerprints"]["primaryLocationLineHash"],
                format!("{fingerprint}:1").as_str()
            );
        }
        assert_eq!(
            uris.len(),
            results.len(),
            "{tenant}: one alert per rule and subject (GitHub keys alerts by rule, path and line hash)"
        );
        assert_eq!(
            run["automationDetails"]["id"],
            format!("gdap-audit/{tenant_id}/").as_str(),
            "one code-scanning category per tenant"
        );
    }
}

/// The checker above is not vacuous: it finds what GitHub rejects.
#[test]
fn the_sarif_checker_rejects_what_github_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        &["--tenant", "partner", "--format", "sarif", "-q"],
    );
    let good: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        sarif_problems(&v)
    };
    let only_logical = mutate(&|v| {
        for r in v["runs"][0]["results"].as_array_mut().unwrap() {
            r["locations"][0]
                .as_object_mut()
                .unwrap()
                .remove("physicalLocation");
        }
    });
    assert!(
        only_logical.iter().any(|p| p.contains("artifactLocation")),
        "{only_logical:?}"
    );
    let absolute = mutate(&|v| {
        v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] =
            "gdap-audit://tenant/x".into();
    });
    assert!(
        absolute.iter().any(|p| p.contains("not relative")),
        "{absolute:?}"
    );
    let schema = mutate(&|v| v["runs"][0]["results"][0]["level"] = "fatal".into());
    assert!(
        schema.iter().any(|p| p.starts_with("schema:")),
        "{schema:?}"
    );
    let no_help = mutate(&|v| {
        v["runs"][0]["tool"]["driver"]["rules"][0]
            .as_object_mut()
            .unwrap()
            .remove("help");
    });
    assert!(
        no_help.iter().any(|p| p.contains("help.text")),
        "{no_help:?}"
    );
}

/// #10: one run writes several formats: the main output on stdout, and each `--report` to its file,
/// private and byte-identical to what a single-format run writes.
#[cfg(unix)]
#[test]
fn one_demo_run_writes_every_report_asked_for() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        &[
            "--tenant",
            "customer",
            "--report",
            "json=out.json",
            "--report",
            "markdown=review.md",
            "--report",
            "SARIF=out.sarif",
            "--report",
            "csv=out.csv",
            "--report",
            "html=report.html",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("mfa-not-enforced-for-partners"),
        "the table still goes to stdout: {stdout}"
    );
    let stderr = text(&out.stderr);
    for (format, file) in [
        ("json", "out.json"),
        ("markdown", "review.md"),
        ("sarif", "out.sarif"),
        ("csv", "out.csv"),
        ("html", "report.html"),
    ] {
        let path = dir.path().join(file);
        let written = std::fs::read_to_string(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is private");
        assert!(
            stderr.contains(&format!("{format} report written to {file}")),
            "{stderr}"
        );
        let single = demo(
            dir.path(),
            &["--tenant", "customer", "--format", format, "-q"],
        );
        assert_eq!(
            written,
            text(&single.stdout),
            "{format}: the same bytes as a single-format run"
        );
    }
}

/// `--output FILE` frees stdout for one `--report FORMAT=-`; `evaluate` takes `--report` too.
#[test]
fn evaluate_writes_reports_and_stdout_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        &[
            "--tenant",
            "partner",
            "--format",
            "json",
            "-q",
            "--save-snapshot",
            "snap.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args([
            "evaluate",
            "snap.json",
            "--fail-on",
            "never",
            "--format",
            "json",
            "--output",
            "eval.json",
            "--report",
            "jsonl=-",
            "--report",
            "csv=eval.csv",
        ]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("eval.json")).unwrap())
            .unwrap();
    let findings = report["findings"].as_array().unwrap().len();
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), findings, "jsonl on stdout");
    let csv = std::fs::read_to_string(dir.path().join("eval.csv")).unwrap();
    assert!(csv.starts_with("severity,rule_id,"));
}

/// `scan` takes `--report` too, through the real client against the fake Graph.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_writes_several_reports() {
    let fake = fake(vec![clean_tenant()]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin(dir.path());
    scan_args(&mut cmd, &fake, CLEAN);
    cmd.env("AZURE_CLIENT_SECRET", SECRET).args([
        "--format",
        "json",
        "-q",
        "--report",
        "sarif=out.sarif",
        "--report",
        "markdown=review.md",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tenant_id"], CLEAN);
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.sarif")).unwrap())
            .unwrap();
    assert!(sarif_problems(&sarif).is_empty());
    assert_eq!(sarif["runs"][0]["properties"]["tenantId"], CLEAN);
    let md = std::fs::read_to_string(dir.path().join("review.md")).unwrap();
    assert!(md.contains("Clean Corp"), "{md}");
}

/// Bad `--report` arguments are usage errors (exit 2) that point at the argument, and are found before
/// anything is collected: the Graph URL here does not answer, and the error is still the argument's.
#[test]
fn bad_report_arguments_point_at_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let scan = |extra: &[&str]| {
        run_sync({
            let mut c = bin(dir.path());
            c.args([
                "scan",
                "--no-history",
                "--tenant",
                CLEAN,
                "--client-id",
                CLIENT_ID,
                "--graph-url",
                "http://127.0.0.1:9",
                "--login-url",
                "http://127.0.0.1:9",
            ])
            .env("AZURE_CLIENT_SECRET", SECRET)
            .args(extra);
            c
        })
    };
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["--report", "xml=out.xml"],
            &[
                "--report <FORMAT=PATH>",
                "xml=out.xml",
                "unknown format \"xml\"",
                "sarif",
            ],
        ),
        (
            &["--report", "out.json"],
            &["--report <FORMAT=PATH>", "expected FORMAT=PATH"],
        ),
        (
            &["--report", "json="],
            &["--report <FORMAT=PATH>", "no PATH"],
        ),
        (
            &["--report", "sarif=-"],
            &[
                "--report sarif=-",
                "stdout already receives the table report",
                "--output FILE",
            ],
        ),
        (
            &["--output", "a.json", "--report", "sarif=./a.json"],
            &[
                "--report sarif=./a.json",
                "a.json already receives the table report",
            ],
        ),
        (
            &["--report", "json=missing/dir/out.json"],
            &["--report json=missing/dir/out.json", "create the directory"],
        ),
    ];
    for (args, expected) in cases {
        let out = scan(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for e in expected {
            assert!(stderr.contains(e), "{args:?}: {e:?} not in {stderr}");
        }
        assert!(
            !stderr.contains("127.0.0.1:9"),
            "{args:?}: refused before connecting: {stderr}"
        );
        assert!(!stderr.contains(SECRET));
    }
    assert!(!dir.path().join("a.json").exists(), "nothing written");
}

/// The demo of both tenants would write each file twice: `--report` needs one tenant.
#[test]
fn demo_of_both_tenants_refuses_report_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--report", "json=out.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--report"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("out.json").exists());
}

/// #10: CSV rows are tickets on their own: title, remediation, references and the audited tenant.
#[test]
fn csv_rows_carry_title_remediation_references_and_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let json = demo(
        dir.path(),
        &["--tenant", "customer", "--format", "json", "-q"],
    );
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    let out = demo(
        dir.path(),
        &["--tenant", "customer", "--format", "csv", "-q"],
    );
    let csv = text(&out.stdout);
    let rows = crate::report::parse_csv(&csv);
    let header = &rows[0];
    assert_eq!(
        header[10..],
        [
            "title",
            "remediation",
            "references",
            "tenant_id",
            "tenant_name"
        ]
    );
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(rows.len(), findings.len() + 1);
    for (row, f) in rows[1..].iter().zip(findings) {
        assert_eq!(row.len(), 15);
        assert_eq!(row[1], f["rule_id"].as_str().unwrap());
        assert_eq!(row[10], f["title"].as_str().unwrap());
        assert_eq!(row[11], f["remediation"].as_str().unwrap());
        let refs: Vec<&str> = f["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(row[12], refs.join("\n"));
        assert_eq!(row[13], report["tenant_id"].as_str().unwrap());
        assert_eq!(row[14], "Contoso Pharmaceuticals");
    }
}

/// Completion scripts for every shell clap_complete knows; bash's parses and completes `--report`.
#[test]
fn completions_for_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run_sync({
            let mut c = bin(dir.path());
            c.args(["completions", shell]);
            c
        });
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for word in ["gdap-audit", "scan", "--report", "completions"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
        if shell == "bash" && Path::new("/bin/bash").exists() {
            let path = dir.path().join("gdap-audit.bash");
            std::fs::write(&path, &script).unwrap();
            let check = std::process::Command::new("/bin/bash")
                .arg("-c")
                .arg(format!(
                    "source {} && complete -p gdap-audit",
                    path.display()
                ))
                .output()
                .unwrap();
            assert!(
                check.status.success() && text(&check.stdout).contains("gdap-audit"),
                "bash loads it: {}",
                text(&check.stderr)
            );
        }
    }
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["completions", "tcsh"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bash"), "lists the shells");
}

/// `man` prints the main page; `man --dir` writes one page per command.
#[test]
fn man_pages() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sync({
        let mut c = bin(dir.path());
        c.arg("man")
            .env("AZURE_TENANT_ID", "tenant-from-the-environment");
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.contains(".TH gdap-audit 1"), "{page}");
    assert!(page.contains("Exit codes"), "the after-help is in the page");
    assert!(page.contains("scan"));
    assert!(
        !page.contains("tenant-from-the-environment"),
        "environment values never reach the page"
    );

    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).unwrap();
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["man", "-q", "--dir"]).arg(&pages);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for name in [
        "gdap-audit.1",
        "gdap-audit-scan.1",
        "gdap-audit-history-list.1",
    ] {
        assert!(pages.join(name).exists(), "{name}");
    }
    let scan = std::fs::read_to_string(pages.join("gdap-audit-scan.1")).unwrap();
    assert!(scan.contains("report"), "{scan}");

    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["man", "--dir", "no/such/dir"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no/such/dir"));
}

/// The generated part of docs/permissions.md: per perspective, the permissions to grant, then every
/// source with its permission and the rules that need it (from `Source::permission` and the rule
/// metadata, so the page cannot drift from the code).
fn permissions_tables() -> String {
    use gdap_audit::snapshot::{Perspective, Source};
    // `/organization` (the audited tenant's name and partner type) is read on every run, whichever side.
    let on_side = |s: &Source, p: Perspective| s.perspective() == p || *s == Source::Organization;
    let side = |s: &Source| {
        if *s == Source::Organization {
            "both"
        } else {
            s.perspective().as_str()
        }
    };
    let mut out = String::new();
    for perspective in [Perspective::Partner, Perspective::Customer] {
        let mut grants: Vec<&str> = Vec::new();
        for s in Source::ALL.iter().filter(|s| on_side(s, perspective)) {
            if !grants.contains(&s.permission()) {
                grants.push(s.permission());
            }
        }
        out.push_str(&format!(
            "**{} perspective:** {}.\n\n",
            perspective.as_str(),
            grants
                .iter()
                .map(|g| format!("`{g}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str("| Perspective | Source | Permission | Rules that need it |\n|---|---|---|---|\n");
    for s in Source::ALL {
        let needs: Vec<String> = gdap_audit::rules::all_rules()
            .filter(|r| r.sources.contains(s) || r.optional_sources.contains(s))
            .map(|r| {
                if r.sources.contains(s) {
                    format!("`{}`", r.id)
                } else {
                    format!("`{}` (partly)", r.id)
                }
            })
            .collect();
        out.push_str(&format!(
            "| {} | `{}` | `{}` | {} |\n",
            side(s),
            s.as_str(),
            s.permission(),
            if needs.is_empty() {
                "context only".to_owned()
            } else {
                needs.join(", ")
            }
        ));
    }
    out
}

#[test]
fn docs_permissions_md_is_generated_from_the_sources() {
    const BEGIN: &str = "<!-- generated from Source::permission and the rule metadata; UPDATE_DOCS=1 cargo test --test it outputs::docs_permissions -->\n";
    const END: &str = "<!-- end of generated part -->\n";
    let path = repo("docs/permissions.md");
    let committed = std::fs::read_to_string(&path).unwrap();
    let (start, end) = (
        committed.find(BEGIN).expect("begin marker") + BEGIN.len(),
        committed.find(END).expect("end marker"),
    );
    let generated = permissions_tables();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let mut updated = committed.clone();
        updated.replace_range(start..end, &generated);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        committed[start..end] == generated,
        "docs/permissions.md is out of date with Source::permission or the rules; regenerate it with \
         `UPDATE_DOCS=1 cargo test --test it outputs::docs_permissions` and commit the result"
    );
}

/// GitHub's heading anchor: lower case, punctuation dropped (except `-` and `_`), spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every relative link in the README and docs/*.md names a file that exists, and an anchor that one of
/// its headings makes (the README once linked a docs/permissions.md that did not exist).
#[test]
fn readme_and_docs_links_resolve() {
    let mut pages = vec![repo("README.md")];
    for entry in std::fs::read_dir(repo("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            rest = &rest[end..];
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.contains(' ')
            {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let file = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !file.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if !fragment.is_empty() && file.extension().is_some_and(|e| e == "md") {
                let headings: Vec<String> = std::fs::read_to_string(&file)
                    .unwrap()
                    .lines()
                    .filter_map(|l| l.strip_prefix('#'))
                    .map(|l| anchor(l.trim_start_matches('#')))
                    .collect();
                if !headings.iter().any(|h| h == fragment) {
                    broken.push(format!("{}: {target} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The Dockerfile builds from the lockfile, runs as non-root, and its context keeps everything the
/// build reads (`docker build` itself needs a daemon and the network, so CI does not run it).
#[test]
fn dockerfile_builds_locked_and_runs_as_non_root() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    assert!(dockerfile.contains("cargo build --locked --release"));
    let runtime = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, last)| last)
        .unwrap();
    assert!(runtime.contains("\nUSER nonroot"), "{runtime}");
    assert!(!runtime.contains("USER root"));
    // The build stage's Rust is at least the crate's rust-version.
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let version = |s: &str| -> (u32, u32) {
        let mut parts = s.split('.').map(|p| p.parse::<u32>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .map(|v| version(v.trim_end_matches('"')))
        .unwrap();
    let image = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_VERSION="))
        .map(version)
        .unwrap();
    assert!(
        image >= msrv,
        "Dockerfile Rust {image:?} < rust-version {msrv:?}"
    );

    // No .dockerignore pattern drops a file the build needs.
    let ignore = std::fs::read_to_string(repo(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let ignored = |path: &str| {
        patterns.iter().any(|p| {
            let p = p.trim_start_matches('/').trim_end_matches('/');
            let p = p.strip_prefix("**/").unwrap_or(p);
            let name = path.rsplit('/').next().unwrap();
            match p.strip_prefix('*') {
                Some(suffix) => name.ends_with(suffix) || path.ends_with(suffix),
                None => path == p || path.starts_with(&format!("{p}/")),
            }
        })
    };
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "src/main.rs",
        "crates/fake-graph/Cargo.toml",
        "fixtures/demo/gdap-audit.toml",
        "templates/report.js",
        "benches/collect.rs",
    ] {
        assert!(repo(needed).exists(), "{needed}");
        assert!(!ignored(needed), ".dockerignore drops {needed}");
    }
    assert!(ignored("target/debug/gdap-audit") && ignored(".git/config"));
}

/// A report that cannot be written does not lose the others: they are written, the error names the
/// lost one, the exit code is 2 and the run is not recorded (the next run must not compare against a
/// run whose report was lost).
#[cfg(target_os = "linux")]
#[test]
fn a_failed_report_loses_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        &[
            "--tenant",
            "customer",
            "--history",
            "history.sqlite",
            "--format",
            "json",
            "--output",
            "out.json",
            "--report",
            "csv=/dev/full",
            "--report",
            "markdown=review.md",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write the csv report to /dev/full"),
        "{stderr}"
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    assert_eq!(json["tenant_name"], "Contoso Pharmaceuticals");
    assert!(
        std::fs::read_to_string(dir.path().join("review.md"))
            .unwrap()
            .contains("Contoso Pharmaceuticals")
    );
    assert!(
        !dir.path().join("history.sqlite").exists(),
        "the run is not recorded"
    );
}
