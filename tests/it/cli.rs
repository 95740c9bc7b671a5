//! The binary end to end: every format and exit code, the demo, and that no secret ever leaks.

use std::path::Path;
use std::process::{Command, Output};

use fake_graph::{
    FakeApp, FakeCertificate, FakeGraph, FakeGraphConfig, FakeTenant, Fault, FaultKind,
};
use serde_json::{Value, json};

use crate::common::*;

pub(crate) const CLEAN: &str = "c1ea0000-0000-4000-8000-00000000c1ea";

/// The binary with no ambient credentials, a private HOME and plain output.
pub(crate) fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gdap-audit"));
    for v in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "GRAPH_ACCESS_TOKEN",
        "AZURE_ARM_ACCESS_TOKEN",
        "COLUMNS",
        "RUST_LOG",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        // First in the credential chain, and a real webhook would be called: never from the caller.
        "GDAP_AUDIT_REFRESH_TOKEN",
        "GDAP_AUDIT_WEBHOOK_URL",
    ] {
        c.env_remove(v);
    }
    // Tests never probe the real IMDS: a closed loopback port refuses at once.
    c.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .current_dir(dir);
    c
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) async fn run(cmd: Command) -> Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output().expect("binary runs"))
        .await
        .unwrap()
}

pub(crate) fn run_sync(mut cmd: Command) -> Output {
    cmd.output().expect("binary runs")
}

/// A customer tenant with nothing wrong: one service-provider partner with least-privilege
/// constraints, a Conditional Access policy requiring MFA for service-provider users, MFA sign-ins.
pub(crate) fn clean_tenant() -> FakeTenant {
    let partner = "0a0a0a0a-0000-4000-8000-00000000000a";
    FakeTenant::new(CLEAN)
        .with_route("/v1.0/organization", json!({"value": [{"id": CLEAN, "displayName": "Clean Corp"}]}))
        .with_route(
            "/v1.0/policies/crossTenantAccessPolicy/partners",
            json!({"value": [{"tenantId": partner, "isServiceProvider": true, "inboundTrust": {"isMfaAccepted": false}}]}),
        )
        .with_route(
            format!("/v1.0/policies/crossTenantAccessPolicy/partners/{partner}/serviceProviderConstraints"),
            json!({"allowedRoleTemplateIds": ["f023fd81-a637-4b56-95fd-791ac0226033"]}),
        )
        .with_route("/v1.0/policies/crossTenantAccessPolicy/default", json!({"inboundTrust": {"isMfaAccepted": false}}))
        .with_route(
            format!("/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{partner}')"),
            json!({"tenantId": partner, "displayName": "Careful Partner Ltd"}),
        )
        .with_route("/v1.0/roleManagement/directory/roleAssignments", json!({"value": []}))
        .with_route("/beta/roleManagement/directory/roleDefinitions", json!({"value": []}))
        .with_route("/v1.0/servicePrincipals", json!({"value": []}))
        .with_route(
            "/beta/auditLogs/signIns",
            json!({"value": [{
                "id": "s1", "createdDateTime": "2026-11-20T10:00:00Z", "userPrincipalName": "tech@careful.example",
                "crossTenantAccessType": "serviceProvider", "homeTenantId": partner, "resourceTenantId": CLEAN,
                "authenticationRequirement": "multiFactorAuthentication", "status": {"errorCode": 0},
                "location": {"countryOrRegion": "GB"}, "appDisplayName": "Azure Portal"
            }]}),
        )
        .with_route("/v1.0/auditLogs/directoryAudits", json!({"value": []}))
        .with_route(
            "/v1.0/identity/conditionalAccess/policies",
            json!({"value": [{
                "id": "p1", "displayName": "MFA for service providers", "state": "enabled",
                "conditions": {"users": {"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "serviceProvider", "externalTenants": {"membershipKind": "all"}}}},
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}
            }]}),
        )
}

pub(crate) fn scan_args(cmd: &mut Command, fake: &FakeGraph, tenant: &str) {
    cmd.args([
        "scan",
        "--perspective",
        "customer",
        "--no-history",
        "--as-of",
        "2026-11-23T12:00:00Z",
    ])
    .args([
        "--tenant",
        tenant,
        "--client-id",
        CLIENT_ID,
        "--graph-url",
        &fake.url(),
        "--login-url",
        &fake.url(),
    ]);
}

fn redact(s: &str) -> String {
    let v = env!("CARGO_PKG_VERSION");
    let mut s = s
        .replace(&format!("gdap-audit {v}"), "gdap-audit [VERSION]")
        .replace(
            &format!("\"version\": \"{v}\""),
            "\"version\": \"[VERSION]\"",
        );
    // The demo configuration's digest changes with every edit of it; `report_settings_*` checks it.
    let key = "\"config_digest\": \"";
    if let Some(start) = s.find(key).map(|i| i + key.len())
        && let Some(len) = s[start..].find('"')
    {
        s.replace_range(start..start + len, "[DIGEST]");
    }
    s
}

#[test]
fn demo_prints_both_perspectives_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["demo", "--no-progress"]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("== partner perspective: Northwind Managed Services =="),
        "{stdout}"
    );
    assert!(stdout.contains("== customer perspective: Contoso Pharmaceuticals =="));
    // Findings from every rule family.
    for rule in [
        "global-admin-granted",
        "expiring-soon",
        "orphaned-partner-entry",
        "pending-approval",
        "new-partner-access",
        "mfa-not-enforced-for-partners",
        "partner-signin-without-mfa",
        "suppression-unused",
    ] {
        assert!(stdout.contains(rule), "demo output lacks {rule}");
    }
    assert!(
        text(&out.stderr).contains("127.0.0.1"),
        "the fake listens on loopback"
    );
    assert!(
        !dir.path().join("data").exists(),
        "the demo must not create a history in the user's data directory"
    );
    insta::assert_snapshot!("demo_table", redact(&stdout));
}

#[test]
fn demo_formats() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["json", "jsonl", "sarif", "csv", "markdown"] {
        let out = run_sync({
            let mut c = bin(dir.path());
            c.args(["demo", "--tenant", "customer", "--format", format, "-q"]);
            c
        });
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            text(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{format}: -q keeps stderr empty: {}",
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        match format {
            "json" | "sarif" => {
                serde_json::from_str::<Value>(&stdout).unwrap_or_else(|e| panic!("{format}: {e}"));
            }
            "jsonl" => {
                for line in stdout.lines() {
                    serde_json::from_str::<Value>(line).unwrap();
                }
            }
            _ => {}
        }
        insta::assert_snapshot!(format!("demo_customer_{format}"), redact(&stdout));
    }
}

#[test]
fn json_output_is_byte_identical_for_the_same_input() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.json");
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args([
            "demo",
            "--tenant",
            "partner",
            "--format",
            "json",
            "-q",
            "--save-snapshot",
        ])
        .arg(&snap);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let evaluate = || {
        run_sync({
            let mut c = bin(dir.path());
            c.args([
                "evaluate",
                "--format",
                "json",
                "--fail-on",
                "never",
                "--config",
            ])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/gdap-audit.toml"))
            .arg(&snap);
            c
        })
    };
    let (a, b) = (evaluate(), evaluate());
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    // collect then evaluate gives the same report as the scan itself.
    assert_eq!(text(&a.stdout), text(&out.stdout));
}

/// Issue 11 (settings): the JSON report says what the audit was run with: every threshold, `--fail-on`,
/// the log window in days, and the SHA-256 of the configuration file's bytes (null with the defaults;
/// never the path).
#[test]
fn report_settings_record_the_run() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.json");
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["demo", "--tenant", "customer", "-q", "--save-snapshot"])
            .arg(&snap);
        c
    });
    assert!(
        matches!(out.status.code(), Some(0..=1)),
        "{}",
        text(&out.stderr)
    );
    let config = dir.path().join("private-name.toml");
    std::fs::write(&config, "[thresholds]\nstale_after_days = 45\n").unwrap();
    let evaluate = |config: Option<&Path>| -> Value {
        let out = run_sync({
            let mut c = bin(dir.path());
            c.args(["evaluate", "--format", "json", "--fail-on", "high"]);
            if let Some(config) = config {
                c.arg("--config").arg(config);
            }
            c.arg(&snap);
            c
        });
        assert!(
            matches!(out.status.code(), Some(0..=1)),
            "{}",
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        assert!(
            !stdout.contains("private-name"),
            "the config path is not reported"
        );
        serde_json::from_str(&stdout).unwrap()
    };
    let with = evaluate(Some(&config));
    let settings = &with["settings"];
    let digest: String = Sha256::digest(std::fs::read(&config).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(settings["config_digest"], Value::String(digest));
    assert_eq!(settings["fail_on"], "high");
    assert_eq!(settings["since_days"], 30);
    assert_eq!(
        settings["thresholds"],
        serde_json::json!({
            "stale_after_days": 45,
            "expiring_within_days": 30,
            "new_within_days": 7,
            "max_duration_days": 365
        })
    );
    // No --config and no ./gdap-audit.toml: the defaults, said as a null digest.
    let without = evaluate(None);
    assert_eq!(without["settings"]["config_digest"], Value::Null);
    assert_eq!(without["settings"]["thresholds"]["stale_after_days"], 90);
}

#[test]
fn demo_refuses_machine_formats_for_two_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["demo", "--format", "json"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--tenant partner"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn fail_on_decides_exit_code_one() {
    let dir = tempfile::tempdir().unwrap();
    let code = |fail_on: &str| {
        let out = run_sync({
            let mut c = bin(dir.path());
            c.args([
                "demo",
                "--tenant",
                "partner",
                "-q",
                "--format",
                "jsonl",
                "--fail-on",
                fail_on,
            ]);
            c
        });
        out.status.code()
    };
    assert_eq!(code("high"), Some(1));
    assert_eq!(code("critical"), Some(1));
    assert_eq!(code("never"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_zero_for_a_clean_tenant_and_three_when_a_source_is_unlicensed() {
    let fake = fake(vec![clean_tenant()]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin(dir.path());
    scan_args(&mut cmd, &fake, CLEAN);
    cmd.env("AZURE_CLIENT_SECRET", SECRET)
        .args(["--format", "json", "-q"]);
    let out = run(cmd).await;
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    assert_eq!(
        out.status.code(),
        Some(0),
        "findings: {:#}\n{}",
        report["findings"],
        text(&out.stderr)
    );
    assert_eq!(report["summary"]["high"], 0);

    fake.push_fault(Fault::new(
        "/beta/auditLogs/signIns",
        5,
        FaultKind::Status {
            status: 403,
            code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant".into(),
            message: "Neither tenant is B2C or tenant doesn't have premium license".into(),
        },
    ));
    let mut cmd = bin(dir.path());
    scan_args(&mut cmd, &fake, CLEAN);
    cmd.env("AZURE_CLIENT_SECRET", SECRET)
        .args(["--format", "json", "-q"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let signins = report["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == "sign_ins")
        .unwrap();
    assert_eq!(signins["status"], "unlicensed");
    assert!(
        !signins["rules_not_evaluated"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{signins:#}"
    );

    // The same in the table a tenant admin reads.
    let mut cmd = bin(dir.path());
    scan_args(&mut cmd, &fake, CLEAN);
    cmd.env("AZURE_CLIENT_SECRET", SECRET)
        .args(["--format", "table", "-q"]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(3));
    insta::with_settings!({filters => vec![
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[GUID]"),
        (r"gdap-audit \d+\.\d+\.\d+", "gdap-audit [VERSION]"),
    ]}, {
        insta::assert_snapshot!("exit3_unlicensed_table", text(&out.stdout));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_two_for_a_wrong_secret_with_the_aadsts_code_and_no_secret() {
    let fake = fake(vec![clean_tenant()]).await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = "definitely-not-the-right-secret-42";
    let mut cmd = bin(dir.path());
    scan_args(&mut cmd, &fake, CLEAN);
    cmd.env("AZURE_CLIENT_SECRET", wrong);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(
        !stderr.contains(wrong) && !text(&out.stdout).contains(wrong),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing audited, nothing reported");
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]")]}, {
        insta::assert_snapshot!("exit2_wrong_secret_stderr", stderr);
    });
}

#[test]
fn exit_two_for_usage_and_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["scan", "--no-history"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--tenant"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[thresholds]\nstale_after_days = 90\nstale_days = 3\n",
    )
    .unwrap();
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["demo", "--config", "bad.toml"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.toml:3"),
        "points at the line: {stderr}"
    );
    assert!(stderr.contains("stale_days"), "{stderr}");
    insta::assert_snapshot!("exit2_config_error_stderr", stderr);

    let out = run_sync({
        let mut c = bin(dir.path());
        c.args([
            "scan",
            "--tenant",
            "t",
            "--graph-url",
            "http://graph.example.com",
        ]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("plain http"),
        "{}",
        text(&out.stderr)
    );

    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["evaluate", "missing.json"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.json"));
}

#[test]
fn help_never_shows_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin(dir.path());
    c.env("AZURE_CLIENT_SECRET", SECRET)
        .env("AZURE_CLIENT_ID", "visible-client-id")
        .args(["scan", "--help"]);
    let out = run_sync(c);
    let help = text(&out.stdout);
    assert!(help.contains("--tenant"));
    assert!(!help.contains(SECRET));
    assert!(
        !help.to_lowercase().contains("--client-secret"),
        "secrets have no flag"
    );
}

/// Every output of a verbose scan with a secret, then with a certificate: no secret, token or
/// assertion anywhere (stdout, stderr, snapshot, report file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_token_or_assertion_leaks_at_any_verbosity() {
    let cert = FakeCertificate {
        cert_pem: std::fs::read_to_string(repo("fixtures/certs/test-cert.pem")).unwrap(),
        public_key_pem: std::fs::read_to_string(repo("fixtures/certs/test-pubkey.pem")).unwrap(),
    };
    let app = FakeApp {
        certificate: Some(cert),
        ..FakeApp::with_secret(CLIENT_ID, SECRET)
    };
    let fake = FakeGraph::start(FakeGraphConfig::new(vec![clean_tenant()], app))
        .await
        .unwrap();
    fake.revoke_tokens();
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (i, verbosity) in ["-q", "-v", "-vv", "-vvv"].iter().enumerate() {
        for use_cert in [false, true] {
            let snap = dir.path().join(format!("snap-{i}-{use_cert}.json"));
            let report = dir.path().join(format!("report-{i}-{use_cert}.json"));
            let mut cmd = bin(dir.path());
            scan_args(&mut cmd, &fake, CLEAN);
            cmd.arg(verbosity)
                .args(["--format", "json", "--output"])
                .arg(&report)
                .arg("--save-snapshot")
                .arg(&snap);
            if use_cert {
                cmd.arg("--certificate")
                    .arg(repo("fixtures/certs/test-combined.pem"));
            } else {
                cmd.env("AZURE_CLIENT_SECRET", SECRET);
            }
            // A revoked token mid-run exercises the refresh path's logging too.
            fake.push_fault(Fault::new(
                "/v1.0/policies/crossTenantAccessPolicy/default",
                1,
                FaultKind::TokenRevoked,
            ));
            let out = run(cmd).await;
            assert_eq!(
                out.status.code(),
                Some(0),
                "{verbosity} cert={use_cert}: {}",
                text(&out.stderr)
            );
            outputs.push(text(&out.stdout));
            outputs.push(text(&out.stderr));
            outputs.push(std::fs::read_to_string(&snap).unwrap());
            outputs.push(std::fs::read_to_string(&report).unwrap());
        }
    }
    assert!(
        outputs.iter().any(|o| o.contains("graph")),
        "verbose output was produced"
    );
    let mut secrets = vec![SECRET.to_owned()];
    secrets.extend(fake.issued_token_values());
    for form in fake.token_requests() {
        if let Some(a) = form.get("client_assertion") {
            secrets.push(a.clone());
            // The signature alone is secret-bearing too.
            secrets.push(a.rsplit('.').next().unwrap().to_owned());
        }
    }
    assert!(
        secrets.len() > 10,
        "tokens and assertions were issued: {}",
        secrets.len()
    );
    for s in &secrets {
        for o in &outputs {
            assert!(
                !o.contains(s.as_str()),
                "a secret leaked: {}…",
                &s[..8.min(s.len())]
            );
        }
    }
}

/// `gdap-audit schema` and `schema --config` print what is committed under docs/.
#[test]
fn published_schemas_match_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    for (args, file) in [
        (&["schema"][..], "docs/report.schema.json"),
        (&["schema", "--config"][..], "docs/config.schema.json"),
        (&["schema", "--fleet"][..], "docs/fleet.schema.json"),
    ] {
        let out = run_sync({
            let mut c = bin(dir.path());
            c.args(args);
            c
        });
        assert_eq!(out.status.code(), Some(0));
        let path = repo(file);
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &out.stdout).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text(&out.stdout),
            committed,
            "{file} is stale: regenerate with UPDATE_DOCS=1 cargo test --test it cli"
        );
    }
}

#[test]
fn truncated_or_newer_snapshots_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.json");
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args([
            "demo",
            "--tenant",
            "partner",
            "-q",
            "--format",
            "jsonl",
            "--save-snapshot",
        ])
        .arg(&snap);
        c
    });
    assert_eq!(out.status.code(), Some(0));
    let full = std::fs::read(&snap).unwrap();
    std::fs::write(dir.path().join("cut.json"), &full[..full.len() / 2]).unwrap();
    std::fs::write(dir.path().join("newer.json"), r#"{"snapshot_version": 99}"#).unwrap();
    for (file, expect) in [
        ("cut.json", "not a gdap-audit snapshot"),
        ("newer.json", "upgrade gdap-audit"),
    ] {
        let out = run_sync({
            let mut c = bin(dir.path());
            c.args(["evaluate", file]);
            c
        });
        assert_eq!(out.status.code(), Some(2), "{file}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(file) && stderr.contains(expect), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn history_list_and_show_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite3");
    for as_of in ["2026-11-23T12:00:00Z", "2026-11-30T12:00:00Z"] {
        let out = run_sync({
            let mut c = bin(dir.path());
            c.args([
                "demo",
                "--tenant",
                "customer",
                "-q",
                "--format",
                "jsonl",
                "--as-of",
                as_of,
                "--history",
            ])
            .arg(&db);
            c
        });
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let list = run_sync({
        let mut c = bin(dir.path());
        c.args(["history", "list", "--format", "json", "--history"])
            .arg(&db);
        c
    });
    let runs: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    let show = run_sync({
        let mut c = bin(dir.path());
        c.args(["history", "show", "1", "--format", "json", "--history"])
            .arg(&db);
        c
    });
    let detail: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(detail["summary"]["id"], 1);
    assert_eq!(detail["summary"]["tenant_name"], "Contoso Pharmaceuticals");
    assert!(detail["findings"].as_array().unwrap().len() > 5);
}

#[test]
fn rules_list_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sync({
        let mut c = bin(dir.path());
        c.arg("rules");
        c
    });
    assert_eq!(out.status.code(), Some(0));
    // Adding, renaming or re-grading a rule is a visible diff.
    insta::assert_snapshot!("rules_list", text(&out.stdout));

    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["rules", "explain", "privileged-role-granted"]);
        c
    });
    assert_eq!(out.status.code(), Some(0));
    let explain = text(&out.stdout);
    for part in [
        "Why it matters",
        "Remediation",
        "References",
        "attack.mitre.org/techniques/T1199",
        "Privileged Role Administrator (e8611ab8",
    ] {
        assert!(explain.contains(part), "missing {part}: {explain}");
    }

    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["rules", "explain", "no-such-rule"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("known rules: global-admin-granted"));

    // A near miss names the rule meant.
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["rules", "explain", "global-admin"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `global-admin-granted`?"),
        "{}",
        text(&out.stderr)
    );

    // The JSON catalogue carries what a ticket needs: the fix and the references.
    let out = run_sync({
        let mut c = bin(dir.path());
        c.args(["rules", "--format", "json"]);
        c
    });
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), gdap_audit::rules::all_rules().count());
    for r in list {
        for key in ["remediation", "rationale", "fires_when"] {
            assert!(r[key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {r}");
        }
        assert!(r["references"].is_array(), "{r}");
    }
    let legacy = list.iter().find(|r| r["id"] == "legacy-dap").unwrap();
    assert!(
        legacy["references"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().is_some_and(|u| u.starts_with("https://")))
    );
}
